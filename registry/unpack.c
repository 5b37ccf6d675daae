/* unpack.c: one layer blob (gzip, zstd or plain tar) into a directory, for
 * use as an overlayfs lower layer.
 *
 * Reading. Two libarchive objects in a chain, one pass over the blob:
 *   blob -> [raw: gzip/zstd/none filters + "raw" format] -> uncompressed tar
 *        -> sha256 (the diff_id) and -> [tar: tar formats, no filter] -> entries
 * The diff_id is the digest of the *uncompressed* stream, which libarchive
 * never hands out once it parses tar. Reading the blob twice (once to hash,
 * once to unpack) doubles the I/O and decompression and opens a window where
 * the file could change between the passes; decompressing by hand duplicates
 * what libarchive already does well. So the first object only decompresses
 * (format "raw" yields the filtered stream as one entry's data), and the
 * second object's read callback pulls those bytes, hashes them and passes
 * them on. After the tar end marker the rest (padding) is drained into the
 * digest too, so it covers the whole stream.
 *
 * Writing. Never through archive_write_disk: every entry is created by this
 * file relative to a directory fd that was reached from the layer root
 * without following a symlink (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS,
 * or, before Linux 5.6, one O_NOFOLLOW|O_DIRECTORY openat per component).
 * Paths are checked first (no absolute paths, no ".."), leaves are created
 * with O_EXCL/O_NOFOLLOW after removing what was there (later entries win,
 * like tar), hardlink targets go through the same resolution, device nodes
 * are skipped (counted in the report) without allow_devices. Symlinks are stored, never followed.
 *
 * Whiteouts become what overlayfs understands: ".wh.NAME" -> a 0:0
 * character device NAME, ".wh..wh..opq" -> trusted.overlay.opaque=y on the
 * directory. Overlay xattrs carried by the layer itself are dropped: they
 * would let an image redirect or hide lower layers. */
#include "registry.h"
#include "unpack-internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <openssl/evp.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#define STREAM_CHUNK (128 * 1024)
#define OPAQUE_XATTR "trusted.overlay.opaque"

/* ---- openat2 availability ---- */

static atomic_bool openat2_missing;     /* ENOSYS (or a seccomp EPERM) seen */
static atomic_bool force_walk;

void unpack_force_walk_resolution(bool on)
{
	atomic_store(&force_walk, on);
}

/* ---- the decompressing, hashing stream ---- */

struct stream {
	struct archive *raw;   /* blob -> uncompressed bytes */
	EVP_MD_CTX *sha;
	char *buf;
	bool failed; /* decompression failed: its message is the one to show */
};

/* Pulls the next uncompressed bytes into s->buf and hashes them.
 * Returns the count, 0 at the end, -1 on a decompression error. */
static ssize_t stream_pull(struct stream *s)
{
	la_ssize_t n = archive_read_data(s->raw, s->buf, STREAM_CHUNK);
	/* EVP_DigestUpdate fails only on allocation failure inside OpenSSL. */
	if (n > 0 && EVP_DigestUpdate(s->sha, s->buf, (size_t)n) != 1) {
		fprintf(stderr, "zlapply: sha256 failed\n");
		abort();
	}
	return n < 0 ? -1 : n;
}

static const char *stream_error(const struct stream *s)
{
	const char *msg = archive_error_string(s->raw);
	return msg ? msg : "decompression failed";
}

/* The tar object's read callback. */
static la_ssize_t stream_read(struct archive *tar, void *ud, const void **out)
{
	struct stream *s = ud;
	ssize_t n = stream_pull(s);
	if (n < 0) {
		s->failed = true;
		archive_set_error(tar, archive_errno(s->raw) > 0 ? archive_errno(s->raw) : EIO,
				  "%s", stream_error(s));
		return -1;
	}
	*out = s->buf;
	return n;
}

/* Hashes what the tar reader did not need (the zero padding after the end
 * marker) so the digest covers the whole uncompressed stream. */
static int stream_drain(struct stream *s, struct zl_err *err)
{
	for (;;) {
		ssize_t n = stream_pull(s);
		if (n == 0)
			return 0;
		if (n < 0)
			return zl_fail(err, "after the tar end: %s", stream_error(s));
	}
}

/* ---- paths ---- */

/* Normalizes a tar member name: drops "." components and repeated or
 * trailing '/'; "" is the layer root. Refuses absolute names and "..".
 * Returns the clean path (caller frees) or NULL with *why. */
static char *clean_path(const char *name, const char **why)
{
	if (!name) {
		*why = "entry without a name";
		return NULL;
	}
	if (name[0] == '/') {
		*why = "absolute path";
		return NULL;
	}
	struct zl_buf b = { 0 };
	const char *p = name;
	while (*p) {
		const char *end = strchrnul(p, '/');
		size_t len = (size_t)(end - p);
		if (len == 2 && p[0] == '.' && p[1] == '.') {
			zl_buf_free(&b);
			*why = "path contains \"..\"";
			return NULL;
		}
		if (len > 0 && !(len == 1 && p[0] == '.')) {
			if (b.len)
				zl_buf_append(&b, "/", 1);
			zl_buf_append(&b, p, len);
		}
		p = *end ? end + 1 : end;
	}
	return zl_buf_steal(&b);
}

/* Splits "a/b/c" into parent "a/b" (caller frees) and leaf "c" (inside path). */
static char *split_parent(const char *path, const char **leaf)
{
	const char *slash = strrchr(path, '/');
	if (!slash) {
		*leaf = path;
		return zl_xstrdup("");
	}
	*leaf = slash + 1;
	return zl_xstrndup(path, (size_t)(slash - path));
}

static void close_keep_errno(int fd)
{
	int saved = errno;
	if (fd >= 0)
		close(fd);
	errno = saved;
}

/* Walks rel under root_fd one component at a time, never following a
 * symlink, creating missing directories (0755) when create. */
static int walk_beneath(int root_fd, const char *rel, bool create, struct zl_err *err)
{
	int cur = openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cur < 0)
		return zl_fail_errno(err, "cannot open the layer directory");
	_cleanup_free_ char *copy = zl_xstrdup(rel);
	char *save = NULL;
	for (char *comp = strtok_r(copy, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
		int next = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && create) {
			if (mkdirat(cur, comp, 0755) < 0 && errno != EEXIST) {
				zl_fail_errno(err, "cannot create directory \"%s\"", comp);
				close_keep_errno(cur);
				return -1;
			}
			next = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			/* Implicit parents are 0755 whatever the umask; ignoring a
			 * failure only leaves the umask's mode. */
			if (next >= 0)
				(void)fchmod(next, 0755);
		}
		if (next < 0) {
			int e = errno;
			struct stat st;
			/* The partial path for the message: copy is cut at comp's end. */
			size_t upto = (size_t)(comp - copy) + strlen(comp);
			if ((e == ELOOP || e == ENOTDIR) &&
			    fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW) == 0) {
				close(cur);
				if (S_ISLNK(st.st_mode))
					return zl_fail(err, "path goes through the symlink \"%.*s\"",
						       (int)upto, rel);
				return zl_fail(err, "\"%.*s\" is not a directory", (int)upto, rel);
			}
			close(cur);
			return zl_err_set(err, ZL_ERR_FAIL, e, "cannot open \"%.*s\"", (int)upto,
					  rel);
		}
		close(cur);
		cur = next;
	}
	return cur;
}

/* Opens the directory rel ("" = the root) beneath root_fd without
 * following symlinks, creating missing directories when create. Returns an
 * fd, or -1 with err naming the component at fault. */
static int open_dir_beneath(int root_fd, const char *rel, bool create, struct zl_err *err)
{
	if (*rel && !atomic_load(&force_walk) && !atomic_load(&openat2_missing)) {
		struct open_how how = {
			.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
			.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
		};
		long fd = syscall(SYS_openat2, root_fd, rel, &how, sizeof(how));
		if (fd >= 0)
			return (int)fd;
		if (errno == ENOSYS || errno == EPERM)
			atomic_store(&openat2_missing, true);
		else if (errno != ENOENT && errno != ELOOP && errno != ENOTDIR &&
			 errno != EXDEV && errno != EAGAIN)
			return zl_fail_errno(err, "cannot open \"%s\"", rel);
		/* The walk creates what is missing and names the component at fault. */
	}
	return walk_beneath(root_fd, rel, create, err);
}

/* Removes name in dir_fd and, for a directory, everything under it,
 * without following symlinks. A missing name is not an error. */
static int remove_at(int dir_fd, const char *name, struct zl_err *err)
{
	struct stat st;
	if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : zl_fail_errno(err, "cannot stat \"%s\"", name);
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(dir_fd, name, 0) < 0 && errno != ENOENT)
			return zl_fail_errno(err, "cannot remove \"%s\"", name);
		return 0;
	}
	int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return zl_fail_errno(err, "cannot open \"%s\"", name);
	DIR *d = fdopendir(fd);
	if (!d) {
		close_keep_errno(fd);
		return zl_fail_errno(err, "cannot read \"%s\"", name);
	}
	int r = 0;
	struct dirent *de;
	while (r == 0 && (errno = 0, de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		r = remove_at(dirfd(d), de->d_name, err);
	}
	if (r == 0 && errno != 0)
		r = zl_fail_errno(err, "cannot read \"%s\"", name);
	closedir(d);
	if (r < 0)
		return zl_err_prefix(err, "%s", name);
	if (unlinkat(dir_fd, name, AT_REMOVEDIR) < 0)
		return zl_fail_errno(err, "cannot remove directory \"%s\"", name);
	return 0;
}

/* ---- metadata ---- */

struct dir_fixup {
	char *path;
	mode_t mode;
	bool has_times;
	struct timespec times[2];
};

struct unpacker {
	int root_fd;
	bool allow_devices;
	bool is_root;
	struct registry_unpack_report *report; /* NULL: nobody asked */
	struct archive *tar;
	struct dir_fixup *dirs;
	size_t dir_count, dir_cap;
};

static bool entry_times(struct archive_entry *e, struct timespec ts[2])
{
	if (!archive_entry_mtime_is_set(e))
		return false;
	ts[1].tv_sec = archive_entry_mtime(e);
	ts[1].tv_nsec = archive_entry_mtime_nsec(e);
	if (archive_entry_atime_is_set(e)) {
		ts[0].tv_sec = archive_entry_atime(e);
		ts[0].tv_nsec = archive_entry_atime_nsec(e);
	} else {
		ts[0] = ts[1];
	}
	return true;
}

/* Ownership by fd, or by (dir_fd, leaf) without following a symlink.
 * EPERM is tolerated only when not running as root (rootless unpack keeps
 * the caller's ids). */
static int set_owner(struct unpacker *u, struct archive_entry *e, int fd, int dir_fd,
		     const char *leaf, struct zl_err *err)
{
	uid_t uid = (uid_t)archive_entry_uid(e);
	gid_t gid = (gid_t)archive_entry_gid(e);
	int r = fd >= 0 ? fchown(fd, uid, gid)
			: fchownat(dir_fd, leaf, uid, gid, AT_SYMLINK_NOFOLLOW);
	if (r < 0 && !(errno == EPERM && !u->is_root))
		return zl_fail_errno(err, "cannot set owner %u:%u", (unsigned)uid, (unsigned)gid);
	return 0;
}

static bool xattr_is_overlay(const char *name)
{
	return strncmp(name, "trusted.overlay.", 16) == 0 ||
	       strncmp(name, "user.overlay.", 13) == 0;
}

/* Sets the entry's xattrs on fd, or on (dir_fd, leaf) itself when fd < 0
 * (symlinks and nodes, through /proc/self/fd since there is no
 * lsetxattrat). Skips overlay xattrs; tolerates a filesystem without xattr
 * support and, when not root, namespaces it may not write. */
static int set_xattrs(struct unpacker *u, struct archive_entry *e, int fd, int dir_fd,
		      const char *leaf, bool is_symlink, struct zl_err *err)
{
	if (archive_entry_xattr_reset(e) == 0)
		return 0;
	_cleanup_free_ char *proc_path = fd < 0 ? zl_xasprintf("/proc/self/fd/%d/%s", dir_fd, leaf)
						: NULL;
	const char *name;
	const void *value;
	size_t size;
	/* pax headers may carry an xattr twice (SCHILY.xattr and
	 * LIBARCHIVE.xattr): warn once. */
	struct zl_buf dropped = { 0 };
	while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
		if (!name || !*name)
			continue;
		if (xattr_is_overlay(name)) {
			_cleanup_free_ char *key = zl_xasprintf("\n%s\n", name);
			if (!dropped.data || !strstr(dropped.data, key))
				zl_log(ZL_LOG_WARN, "entry \"%s\": dropping xattr %s: overlay "
				       "xattrs may not come from a layer",
				       archive_entry_pathname(e), name);
			zl_buf_puts(&dropped, key);
			continue;
		}
		int r = fd >= 0 ? fsetxattr(fd, name, value, size, 0)
				: lsetxattr(proc_path, name, value, size, 0);
		if (r == 0)
			continue;
		/* Not fatal: the filesystem has no xattrs, user.* is not allowed on
		 * symlinks, or an unprivileged unpack may not write this namespace. */
		if (errno == ENOTSUP || (errno == EPERM && (is_symlink || !u->is_root))) {
			zl_log(ZL_LOG_WARN, "entry \"%s\": xattr %s not kept: %s",
			       archive_entry_pathname(e), name, strerror(errno));
			continue;
		}
		zl_buf_free(&dropped);
		return zl_fail_errno(err, "cannot set xattr %s", name);
	}
	zl_buf_free(&dropped);
	return 0;
}

/* ---- entries ---- */

/* Makes room for a new non-directory leaf: whatever is there goes. */
static int clear_leaf(int dir_fd, const char *leaf, struct zl_err *err)
{
	return remove_at(dir_fd, leaf, err);
}

static int write_data(struct unpacker *u, struct archive_entry *e, int fd, struct zl_err *err)
{
	int64_t end = 0;
	for (;;) {
		const void *block;
		size_t size;
		la_int64_t offset;
		int r = archive_read_data_block(u->tar, &block, &size, &offset);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN)
			return zl_fail(err, "reading data: %s", archive_error_string(u->tar));
		/* Holes of sparse entries are offsets we skip: pwrite leaves them
		 * unallocated. */
		const char *p = block;
		size_t left = size;
		off_t at = (off_t)offset;
		while (left > 0) {
			ssize_t n = pwrite(fd, p, left, at);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				return zl_fail_errno(err, "cannot write");
			}
			p += n;
			left -= (size_t)n;
			at += n;
		}
		if (offset + (int64_t)size > end)
			end = offset + (int64_t)size;
	}
	int64_t size = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
	if (size < end)
		size = end;
	/* A trailing hole: extend without writing. */
	if (ftruncate(fd, (off_t)size) < 0)
		return zl_fail_errno(err, "cannot set size %lld", (long long)size);
	return 0;
}

static int extract_file(struct unpacker *u, struct archive_entry *e, int dir_fd,
			const char *leaf, struct zl_err *err)
{
	if (clear_leaf(dir_fd, leaf, err) < 0)
		return -1;
	_cleanup_close_ int fd = openat(dir_fd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
					O_CLOEXEC, 0600);
	if (fd < 0)
		return zl_fail_errno(err, "cannot create file");
	if (write_data(u, e, fd, err) < 0)
		return -1;
	/* chown before chmod (it clears setuid) and before xattrs (it clears
	 * security.capability). */
	if (set_owner(u, e, fd, -1, NULL, err) < 0)
		return -1;
	if (fchmod(fd, archive_entry_perm(e) & 07777) < 0)
		return zl_fail_errno(err, "cannot set mode %04o", archive_entry_perm(e) & 07777);
	if (set_xattrs(u, e, fd, -1, NULL, false, err) < 0)
		return -1;
	struct timespec ts[2];
	if (entry_times(e, ts) && futimens(fd, ts) < 0)
		return zl_fail_errno(err, "cannot set times");
	return 0;
}

static void add_dir_fixup(struct unpacker *u, const char *path, struct archive_entry *e)
{
	zl_grow(&u->dirs, sizeof(*u->dirs), &u->dir_cap, u->dir_count + 1);
	struct dir_fixup *f = &u->dirs[u->dir_count++];
	f->path = zl_xstrdup(path);
	f->mode = archive_entry_perm(e) & 07777;
	f->has_times = entry_times(e, f->times);
}

/* Directories get owner and xattrs now; mode and times once every entry is
 * in (a read-only mode would block children, children change mtimes). */
static int extract_dir(struct unpacker *u, struct archive_entry *e, const char *path,
		       int dir_fd, const char *leaf, struct zl_err *err)
{
	_cleanup_close_ int fd = -1;
	if (!*path) {
		fd = openat(u->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else {
		struct stat st;
		if (fstatat(dir_fd, leaf, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode) &&
		    unlinkat(dir_fd, leaf, 0) < 0)
			return zl_fail_errno(err, "cannot remove the non-directory in the way");
		if (mkdirat(dir_fd, leaf, 0700) < 0 && errno != EEXIST)
			return zl_fail_errno(err, "cannot create directory");
		fd = openat(dir_fd, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0)
		return zl_fail_errno(err, "cannot open directory");
	if (set_owner(u, e, fd, -1, NULL, err) < 0 || set_xattrs(u, e, fd, -1, NULL, false, err) < 0)
		return -1;
	add_dir_fixup(u, path, e);
	return 0;
}

static int node_metadata(struct unpacker *u, struct archive_entry *e, int dir_fd,
			 const char *leaf, bool is_symlink, struct zl_err *err)
{
	if (set_owner(u, e, -1, dir_fd, leaf, err) < 0)
		return -1;
	/* Symlinks have no mode of their own on Linux. The node was just
	 * created by us and is not a symlink, so following is moot. */
	if (!is_symlink && fchmodat(dir_fd, leaf, archive_entry_perm(e) & 07777, 0) < 0)
		return zl_fail_errno(err, "cannot set mode %04o", archive_entry_perm(e) & 07777);
	if (set_xattrs(u, e, -1, dir_fd, leaf, is_symlink, err) < 0)
		return -1;
	struct timespec ts[2];
	if (entry_times(e, ts) && utimensat(dir_fd, leaf, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return zl_fail_errno(err, "cannot set times");
	return 0;
}

static int extract_symlink(struct unpacker *u, struct archive_entry *e, int dir_fd,
			   const char *leaf, struct zl_err *err)
{
	const char *target = archive_entry_symlink(e);
	if (!target)
		return zl_fail(err, "symlink without a target");
	if (clear_leaf(dir_fd, leaf, err) < 0)
		return -1;
	if (symlinkat(target, dir_fd, leaf) < 0)
		return zl_fail_errno(err, "cannot create symlink");
	return node_metadata(u, e, dir_fd, leaf, true, err);
}

static int extract_node(struct unpacker *u, struct archive_entry *e, const char *path,
			int dir_fd, const char *leaf, struct zl_err *err)
{
	mode_t type = archive_entry_filetype(e);
	dev_t dev = 0;
	if (type == AE_IFCHR || type == AE_IFBLK) {
		if (!u->allow_devices) {
			/* A plain debootstrap tree carries /dev/console and friends;
			 * the runtime makes /dev, so skipping loses nothing. */
			if (u->report && u->report->devices_skipped++ == 0)
				snprintf(u->report->first_device, sizeof(u->report->first_device), "%s", path);
			return 0;
		}
		dev = makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
	}
	if (clear_leaf(dir_fd, leaf, err) < 0)
		return -1;
	if (mknodat(dir_fd, leaf, type | 0600, dev) < 0)
		return zl_fail_errno(err, "cannot create %s", type == AE_IFIFO ? "fifo" : "device node");
	return node_metadata(u, e, dir_fd, leaf, false, err);
}

static int extract_hardlink(struct unpacker *u, const char *path, const char *target_raw,
			    int dir_fd, const char *leaf, struct zl_err *err)
{
	const char *why = NULL;
	_cleanup_free_ char *target = clean_path(target_raw, &why);
	if (!target)
		return zl_fail(err, "hardlink target \"%s\" is outside the layer: %s", target_raw,
			       why);
	if (!*target)
		return zl_fail(err, "hardlink to the layer root");
	if (strcmp(target, path) == 0)
		return 0; /* a link to itself: already there */
	const char *target_leaf;
	_cleanup_free_ char *target_parent = split_parent(target, &target_leaf);
	_cleanup_close_ int target_dir = open_dir_beneath(u->root_fd, target_parent, false, err);
	if (target_dir < 0)
		return zl_err_prefix(err, "hardlink target \"%s\"", target_raw);
	struct stat st;
	if (fstatat(target_dir, target_leaf, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return zl_fail(err, "hardlink target \"%s\" is not in the layer", target_raw);
		return zl_fail_errno(err, "hardlink target \"%s\"", target_raw);
	}
	if (S_ISDIR(st.st_mode))
		return zl_fail(err, "hardlink target \"%s\" is a directory", target_raw);
	if (clear_leaf(dir_fd, leaf, err) < 0)
		return -1;
	/* flags 0: a symlink target is linked itself, never followed. */
	if (linkat(target_dir, target_leaf, dir_fd, leaf, 0) < 0)
		return zl_fail_errno(err, "cannot link to \"%s\"", target_raw);
	return 0;
}

static int extract_whiteout(const char *hidden, int dir_fd, struct zl_err *err)
{
	if (!*hidden || strcmp(hidden, ".") == 0 || strcmp(hidden, "..") == 0)
		return zl_fail(err, "whiteout of \"%s\" is not a name", hidden);
	if (remove_at(dir_fd, hidden, err) < 0)
		return -1;
	if (mknodat(dir_fd, hidden, S_IFCHR | 0000, makedev(0, 0)) < 0)
		return zl_fail_errno(err, "cannot create the whiteout device for \"%s\"", hidden);
	/* Whiteouts are 0:0 devices owned by root, whatever the tar header says. */
	if (fchownat(dir_fd, hidden, 0, 0, AT_SYMLINK_NOFOLLOW) < 0 && geteuid() == 0)
		return zl_fail_errno(err, "cannot chown the whiteout for \"%s\"", hidden);
	return 0;
}

static int extract_entry(struct unpacker *u, struct archive_entry *e, struct zl_err *err)
{
	const char *why = NULL;
	_cleanup_free_ char *path = clean_path(archive_entry_pathname(e), &why);
	if (!path)
		return zl_fail(err, "%s", why);
	const char *hardlink = archive_entry_hardlink(e);
	mode_t type = archive_entry_filetype(e);

	if (!*path) {
		if (hardlink || type != AE_IFDIR)
			return zl_fail(err, "the layer root must be a directory");
		return extract_dir(u, e, path, u->root_fd, NULL, err);
	}
	const char *leaf;
	_cleanup_free_ char *parent = split_parent(path, &leaf);
	_cleanup_close_ int dir_fd = open_dir_beneath(u->root_fd, parent, true, err);
	if (dir_fd < 0)
		return -1;

	if (strncmp(leaf, ".wh.", 4) == 0) {
		if (strcmp(leaf, ".wh..wh..opq") == 0) {
			if (fsetxattr(dir_fd, OPAQUE_XATTR, "y", 1, 0) < 0)
				return zl_fail_errno(err, "cannot mark \"%s\" opaque (%s)",
						     *parent ? parent : ".", OPAQUE_XATTR);
			return 0;
		}
		if (strncmp(leaf, ".wh..wh.", 8) == 0)
			return 0; /* other AUFS metadata: meaningless to overlayfs */
		return extract_whiteout(leaf + 4, dir_fd, err);
	}

	if (hardlink)
		return extract_hardlink(u, path, hardlink, dir_fd, leaf, err);
	switch (type) {
	case AE_IFREG:
		return extract_file(u, e, dir_fd, leaf, err);
	case AE_IFDIR:
		return extract_dir(u, e, path, dir_fd, leaf, err);
	case AE_IFLNK:
		return extract_symlink(u, e, dir_fd, leaf, err);
	case AE_IFCHR:
	case AE_IFBLK:
	case AE_IFIFO:
		return extract_node(u, e, path, dir_fd, leaf, err);
	default:
		return zl_fail(err, "unsupported entry type 0%o", (unsigned)type);
	}
}

/* Directory modes and times, after every entry; a directory removed or
 * replaced by a later entry is skipped. */
static int apply_dir_fixups(struct unpacker *u, struct zl_err *err)
{
	for (size_t i = 0; i < u->dir_count; i++) {
		const struct dir_fixup *f = &u->dirs[i];
		struct zl_err ignored = ZL_ERR_INIT;
		int fd = *f->path ? open_dir_beneath(u->root_fd, f->path, false, &ignored)
				  : openat(u->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			continue; /* gone or no longer a directory: a later entry won */
		int r = 0;
		if (fchmod(fd, f->mode) < 0)
			r = zl_fail_errno(err, "entry \"%s\": cannot set mode %04o",
					  *f->path ? f->path : ".", f->mode);
		else if (f->has_times && futimens(fd, f->times) < 0)
			r = zl_fail_errno(err, "entry \"%s\": cannot set times",
					  *f->path ? f->path : ".");
		close(fd);
		if (r < 0)
			return -1;
	}
	return 0;
}

static int check_empty_dir(int fd, const char *dest_dir, struct zl_err *err)
{
	int dup_fd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dup_fd < 0 ? NULL : fdopendir(dup_fd);
	if (!d) {
		close_keep_errno(dup_fd);
		return zl_fail_errno(err, "cannot read %s", dest_dir);
	}
	struct dirent *de;
	bool empty = true;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			empty = false;
	closedir(d);
	if (!empty)
		return zl_fail(err, "%s is not empty", dest_dir);
	return 0;
}

/* A failure of the tar reader: a decompression error it passed on, or
 * content that is not tar. */
static int tar_error(const struct stream *s, struct archive *tar, const char *blob_path,
		     struct zl_err *err)
{
	if (s->failed)
		return zl_fail(err, "cannot decompress %s: %s", blob_path, stream_error(s));
	return zl_fail(err, "not a valid tar stream (gzip, zstd or plain tar expected): %s",
		       archive_error_string(tar));
}

static int unpack_stream(struct unpacker *u, struct stream *s, const char *blob_path,
			 struct zl_err *err)
{
	struct archive *raw = s->raw;
	archive_read_support_filter_gzip(raw);
	archive_read_support_filter_zstd(raw);
	archive_read_support_filter_none(raw);
	archive_read_support_format_raw(raw);
	_cleanup_close_ int blob_fd = open(blob_path, O_RDONLY | O_CLOEXEC);
	if (blob_fd < 0)
		return zl_fail_errno(err, "cannot open %s", blob_path);
	/* Opening already reads: the filters are chosen by content. */
	if (archive_read_open_fd(raw, blob_fd, STREAM_CHUNK) != ARCHIVE_OK)
		return zl_fail(err, "cannot decompress %s: %s", blob_path, stream_error(s));
	struct archive_entry *raw_entry;
	int r = archive_read_next_header(raw, &raw_entry);
	if (r == ARCHIVE_EOF)
		return zl_fail(err, "%s is empty", blob_path);
	if (r < ARCHIVE_WARN)
		return zl_fail(err, "cannot decompress %s: %s", blob_path, stream_error(s));

	struct archive *tar = u->tar;
	archive_read_support_filter_none(tar);
	archive_read_support_format_tar(tar); /* ustar, pax and GNU tar */
	/* archive_read_open already reads, to detect the format. */
	if (archive_read_open(tar, s, NULL, stream_read, NULL) < ARCHIVE_WARN)
		return tar_error(s, tar, blob_path, err);
	for (;;) {
		struct archive_entry *e;
		r = archive_read_next_header(tar, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN)
			return tar_error(s, tar, blob_path, err);
		if (extract_entry(u, e, err) < 0)
			return zl_err_prefix(err, "entry \"%s\"", archive_entry_pathname(e)
							     ? archive_entry_pathname(e) : "");
	}
	return stream_drain(s, err);
}

static int digest_check(struct stream *s, const char *diff_id, struct zl_err *err)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned md_len = 0;
	char hex[65];
	if (EVP_DigestFinal_ex(s->sha, md, &md_len) != 1 || md_len != 32)
		return zl_fail(err, "sha256 failed");
	for (unsigned i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	if (strcmp(diff_id + 7, hex) != 0)
		return zl_fail(err, "uncompressed digest mismatch: got sha256:%s", hex);
	return 0;
}

static int unpack_into(int root_fd, const char *blob_path, const char *diff_id,
		       const struct registry_unpack_opts *opts, struct zl_err *err)
{
	struct unpacker u = {
		.root_fd = root_fd,
		.allow_devices = opts->allow_devices,
		.report = opts->report,
		.is_root = geteuid() == 0,
		.tar = archive_read_new(),
	};
	struct stream s = {
		.raw = archive_read_new(),
		.sha = EVP_MD_CTX_new(),
		.buf = zl_xmalloc(STREAM_CHUNK),
	};
	if (!u.tar || !s.raw || !s.sha || EVP_DigestInit_ex(s.sha, zl_sha256_evp(), NULL) != 1) {
		fprintf(stderr, "zlapply: out of memory\n");
		abort();
	}
	int r = unpack_stream(&u, &s, blob_path, err);
	if (r == 0)
		r = apply_dir_fixups(&u, err);
	if (r == 0 && diff_id)
		r = digest_check(&s, diff_id, err);
	archive_read_free(u.tar);
	archive_read_free(s.raw);
	EVP_MD_CTX_free(s.sha);
	free(s.buf);
	for (size_t i = 0; i < u.dir_count; i++)
		free(u.dirs[i].path);
	free(u.dirs);
	return r;
}

int registry_unpack_layer(const char *blob_path, const char *dest_dir, const char *diff_id,
			  const struct registry_unpack_opts *opts, struct zl_err *err)
{
	static const struct registry_unpack_opts no_opts = { 0 };
	if (!opts)
		opts = &no_opts;
	int r;
	if (diff_id && !registry_digest_valid(diff_id)) {
		r = zl_invalid(err, "diff_id is not \"sha256:<64 lowercase hex>\"");
	} else {
		_cleanup_close_ int root_fd = open(dest_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (root_fd < 0)
			r = zl_fail_errno(err, "cannot open %s", dest_dir);
		else if ((r = check_empty_dir(root_fd, dest_dir, err)) == 0)
			r = unpack_into(root_fd, blob_path, diff_id, opts, err);
	}
	if (r == 0)
		return 0;
	zl_err_prefix(err, "layer %s", diff_id ? diff_id : blob_path);
	if (opts->image_ref)
		zl_err_prefix(err, "%s", opts->image_ref);
	return -1;
}
