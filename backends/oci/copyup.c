/* copyup.c: a new volume gets the image's files at its mount point, as
 * Docker does ("copy-up"): content, owners, modes, times, xattrs, symlinks
 * and hardlinks, and the mount point's own owner and mode on the volume's
 * root, so an image that runs as its own user (postgres, redis) finds its
 * data directory as the image made it.
 *
 * A volume with anything in it is never touched. The copy goes to a
 * directory of its own beside the volume (".copyup~NAME": '~' is in no
 * volume or anonymous-volume name) and is moved in only when complete:
 *   1. copy the tree into .copyup~NAME (may fail: no space, I/O): on
 *      failure remove it; the volume stays empty;
 *   2. create .copyup~NAME.done: from here the copy is whole;
 *   3. rename each top-level entry into the volume, then give the volume
 *      root the mount point's owner and mode;
 *   4. remove .copyup~NAME and .copyup~NAME.done.
 * A crash in 1 leaves a copy without its .done: the next populate removes
 * it and starts again. A crash in 3 or 4 leaves .done: the next populate
 * finishes the moves. The volume directory itself is never replaced, so a
 * replica that has it mounted already keeps seeing the same directory. */
#include "bundle-internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#define OVERLAY_XATTR_PREFIX "trusted.overlay."

struct hardlink {
	dev_t dev;
	ino_t ino;
	char *rel; /* the first copy's path below the copy's root */
};

struct copy {
	int dst_root;             /* the copy's root directory */
	struct hardlink *links;   /* files with more than one link, seen once */
	size_t link_count, link_cap;
	size_t skipped;           /* devices and sockets: nothing to copy */
};

static void copy_release(struct copy *c)
{
	for (size_t i = 0; i < c->link_count; i++)
		free(c->links[i].rel);
	free(c->links);
}

/* Extended attributes of src_fd onto dst_fd, but overlayfs' own. */
static int copy_xattrs(int src_fd, int dst_fd, const char *rel, struct zl_err *err)
{
	ssize_t len = flistxattr(src_fd, NULL, 0);
	if (len <= 0)
		return 0; /* none, or a filesystem without them */
	_cleanup_free_ char *names = zl_xmalloc((size_t)len);
	len = flistxattr(src_fd, names, (size_t)len);
	for (ssize_t off = 0; len > 0 && off < len; off += (ssize_t)strlen(names + off) + 1) {
		const char *name = names + off;
		if (!strncmp(name, OVERLAY_XATTR_PREFIX, strlen(OVERLAY_XATTR_PREFIX)))
			continue;
		ssize_t vlen = fgetxattr(src_fd, name, NULL, 0);
		if (vlen < 0)
			continue;
		_cleanup_free_ char *value = zl_xmalloc((size_t)vlen + 1);
		vlen = fgetxattr(src_fd, name, value, (size_t)vlen);
		if (vlen >= 0 && fsetxattr(dst_fd, name, value, (size_t)vlen, 0) < 0 &&
		    errno != ENOTSUP && errno != EPERM)
			return zl_fail_errno(err, "%s: extended attribute %s", rel, name);
	}
	return 0;
}

/* Owner, then mode (chown clears set-id bits), xattrs and times. */
static int copy_metadata(int src_fd, int dst_fd, const struct stat *st, const char *rel,
			 struct zl_err *err)
{
	if (fchown(dst_fd, st->st_uid, st->st_gid) < 0 || fchmod(dst_fd, st->st_mode & 07777) < 0)
		return zl_fail_errno(err, "%s: owner and mode", rel);
	if (copy_xattrs(src_fd, dst_fd, rel, err) < 0)
		return -1;
	struct timespec times[2] = { st->st_atim, st->st_mtim };
	if (futimens(dst_fd, times) < 0)
		return zl_fail_errno(err, "%s: times", rel);
	return 0;
}

static int copy_data(int src_fd, int dst_fd, const char *rel, struct zl_err *err)
{
	for (;;) {
		ssize_t n = copy_file_range(src_fd, NULL, dst_fd, NULL, 1 << 30, 0);
		if (n == 0)
			return 0;
		if (n > 0)
			continue;
		if (errno == EINTR)
			continue;
		if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
			return zl_fail_errno(err, "%s", rel);
		break; /* not between these filesystems: plain reads and writes */
	}
	char buf[65536];
	for (;;) {
		ssize_t n = read(src_fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return zl_fail_errno(err, "%s: read", rel);
		if (n == 0)
			return 0;
		for (ssize_t done = 0; done < n;) {
			ssize_t w = write(dst_fd, buf + done, (size_t)(n - done));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return zl_fail_errno(err, "%s", rel);
			done += w;
		}
	}
}

/* A second name of a file copied already becomes a hardlink to the copy. */
static const char *link_seen(struct copy *c, const struct stat *st)
{
	for (size_t i = 0; i < c->link_count; i++)
		if (c->links[i].dev == st->st_dev && c->links[i].ino == st->st_ino)
			return c->links[i].rel;
	return NULL;
}

static int copy_file(struct copy *c, int src_dir, int dst_dir, const char *name,
		     const struct stat *st, const char *rel, struct zl_err *err)
{
	if (st->st_nlink > 1) {
		const char *first = link_seen(c, st);
		if (first) {
			if (linkat(c->dst_root, first, dst_dir, name, 0) < 0)
				return zl_fail_errno(err, "%s: link to %s", rel, first);
			return 0;
		}
		zl_grow(&c->links, sizeof(*c->links), &c->link_cap, c->link_count + 1);
		c->links[c->link_count++] = (struct hardlink){ st->st_dev, st->st_ino, zl_xstrdup(rel) };
	}
	_cleanup_close_ int src = openat(src_dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (src < 0)
		return zl_fail_errno(err, "%s", rel);
	_cleanup_close_ int dst = openat(dst_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
					 0600);
	if (dst < 0)
		return zl_fail_errno(err, "%s", rel);
	if (copy_data(src, dst, rel, err) < 0)
		return -1;
	return copy_metadata(src, dst, st, rel, err);
}

static int copy_symlink(int src_dir, int dst_dir, const char *name, const struct stat *st,
			const char *rel, struct zl_err *err)
{
	char target[4096];
	ssize_t n = readlinkat(src_dir, name, target, sizeof(target) - 1);
	if (n < 0)
		return zl_fail_errno(err, "%s", rel);
	target[n] = '\0';
	if (symlinkat(target, dst_dir, name) < 0 ||
	    fchownat(dst_dir, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0)
		return zl_fail_errno(err, "%s", rel);
	struct timespec times[2] = { st->st_atim, st->st_mtim };
	(void)utimensat(dst_dir, name, times, AT_SYMLINK_NOFOLLOW); /* cosmetic */
	return 0;
}

static int copy_fifo(int dst_dir, const char *name, const struct stat *st, const char *rel,
		     struct zl_err *err)
{
	if (mknodat(dst_dir, name, S_IFIFO | 0600, 0) < 0 ||
	    fchownat(dst_dir, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0 ||
	    fchmodat(dst_dir, name, st->st_mode & 07777, 0) < 0)
		return zl_fail_errno(err, "%s", rel);
	return 0;
}

static int copy_dir(struct copy *c, int src_dir, int dst_dir, const char *rel, struct zl_err *err);

static int copy_entry(struct copy *c, int src_dir, int dst_dir, const char *name,
		      const char *rel, struct zl_err *err)
{
	struct stat st;
	if (fstatat(src_dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return zl_fail_errno(err, "%s", rel);
	switch (st.st_mode & S_IFMT) {
	case S_IFREG:
		return copy_file(c, src_dir, dst_dir, name, &st, rel, err);
	case S_IFLNK:
		return copy_symlink(src_dir, dst_dir, name, &st, rel, err);
	case S_IFIFO:
		return copy_fifo(dst_dir, name, &st, rel, err);
	case S_IFDIR: {
		if (mkdirat(dst_dir, name, 0700) < 0)
			return zl_fail_errno(err, "%s", rel);
		_cleanup_close_ int src = openat(src_dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		_cleanup_close_ int dst = openat(dst_dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (src < 0 || dst < 0)
			return zl_fail_errno(err, "%s", rel);
		if (copy_dir(c, src, dst, rel, err) < 0)
			return -1;
		/* Mode last: a read-only directory must still take its entries. */
		return copy_metadata(src, dst, &st, rel, err);
	}
	default: /* devices and sockets: the runtime's /dev, a server's socket */
		c->skipped++;
		return 0;
	}
}

/* A directory stream of its own over dir_fd (which stays open). */
static DIR *dir_stream(int dir_fd)
{
	int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d && fd >= 0) {
		int saved = errno;
		close(fd);
		errno = saved;
	}
	return d;
}

static int copy_dir(struct copy *c, int src_dir, int dst_dir, const char *rel, struct zl_err *err)
{
	DIR *d = dir_stream(src_dir);
	if (!d)
		return zl_fail_errno(err, "%s", *rel ? rel : ".");
	int ret = 0;
	struct dirent *e;
	while (ret == 0 && (errno = 0, e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		_cleanup_free_ char *child = *rel ? zl_xasprintf("%s/%s", rel, e->d_name)
						  : zl_xstrdup(e->d_name);
		ret = copy_entry(c, src_dir, dst_dir, e->d_name, child, err);
	}
	if (ret == 0 && errno)
		ret = zl_fail_errno(err, "%s: read directory", rel);
	closedir(d);
	return ret;
}

/* ---- the volume side ---- */

/* 1 when dir has no entries, 0 when it has some, -1 on error. */
static int dir_is_empty(int dir_fd)
{
	DIR *d = dir_stream(dir_fd);
	if (!d)
		return -1;
	int empty = 1;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			empty = 0;
			break;
		}
	closedir(d);
	return empty;
}

/* Step 3 and 4: moves what .copyup~NAME holds into the volume (entries
 * there already were moved by an interrupted run), then the root's owner
 * and mode, then removes the copy and its .done. */
static int finish_moves(int parent_fd, const char *copy_name, const char *done_name, int vol_fd,
			const char *volume, struct zl_err *err)
{
	_cleanup_close_ int copy_fd = openat(parent_fd, copy_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (copy_fd < 0)
		return zl_fail_errno(err, "%s: open its copy", volume);
	DIR *d = dir_stream(copy_fd);
	if (!d)
		return zl_fail_errno(err, "%s: read its copy", volume);
	int ret = 0;
	struct dirent *e;
	while (ret == 0 && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (renameat2(copy_fd, e->d_name, vol_fd, e->d_name, RENAME_NOREPLACE) < 0 &&
		    errno != EEXIST)
			ret = zl_fail_errno(err, "%s: move %s into it", volume, e->d_name);
	}
	closedir(d);
	if (ret < 0)
		return -1;
	struct stat st;
	if (fstat(copy_fd, &st) < 0 || fchown(vol_fd, st.st_uid, st.st_gid) < 0 ||
	    fchmod(vol_fd, st.st_mode & 07777) < 0)
		return zl_fail_errno(err, "%s: owner and mode", volume);
	if (unlinkat(parent_fd, copy_name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return zl_fail_errno(err, "%s: remove its emptied copy %s", volume, copy_name);
	if (unlinkat(parent_fd, done_name, 0) < 0 && errno != ENOENT)
		return zl_fail_errno(err, "%s: remove %s", volume, done_name);
	return 0;
}

/* Opens path inside rootfs as the container would see it: symlinks
 * resolve within the rootfs. -1 with errno. */
static int open_in_rootfs(const char *rootfs, const char *path)
{
	_cleanup_close_ int root = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return -1;
	while (*path == '/')
		path++;
	struct open_how how = { .flags = O_PATH | O_CLOEXEC,
				.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	return (int)syscall(SYS_openat2, root, *path ? path : ".", &how, sizeof(how));
}

int oci_volume_populate(const char *rootfs, const char *target, const char *volume_dir,
			const char *volume, bool copy_up, struct zl_err *err)
{
	const char *slash = strrchr(volume_dir, '/');
	if (!slash || !slash[1])
		return zl_fail(err, "%s: bad directory %s", volume, volume_dir);
	_cleanup_free_ char *parent = zl_xstrndup(volume_dir, (size_t)(slash - volume_dir));
	const char *leaf = slash + 1;
	if (zl_mkdir_p(parent, 0755, err) < 0)
		return zl_err_prefix(err, "%s", volume);
	_cleanup_close_ int parent_fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (parent_fd < 0)
		return zl_fail_errno(err, "%s: open %s", volume, parent);
	/* The replicas of one wave are created at once (reconcile/parallel.c)
	 * and share a named volume: one of them fills it, the others wait and
	 * then find it filled. The lock is the deployment's volumes directory
	 * itself (an flock on its descriptor, released when it closes), so no
	 * lock file is left beside the volumes. */
	while (flock(parent_fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return zl_fail_errno(err, "%s: lock %s", volume, parent);
	if (mkdirat(parent_fd, leaf, 0755) < 0 && errno != EEXIST)
		return zl_fail_errno(err, "%s: create %s", volume, volume_dir);
	_cleanup_close_ int vol_fd = openat(parent_fd, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (vol_fd < 0)
		return zl_fail_errno(err, "%s: open %s", volume, volume_dir);

	_cleanup_free_ char *copy_name = zl_xasprintf(".copyup~%s", leaf);
	_cleanup_free_ char *done_name = zl_xasprintf(".copyup~%s.done", leaf);
	if (faccessat(parent_fd, done_name, F_OK, AT_SYMLINK_NOFOLLOW) == 0) /* crashed in step 3 */
		return finish_moves(parent_fd, copy_name, done_name, vol_fd, volume, err);
	struct zl_err ignored = ZL_ERR_INIT;
	_cleanup_free_ char *copy_path = zl_xasprintf("%s/%s", parent, copy_name);
	if (zl_rm_rf(copy_path, &ignored) < 0) /* a crash in step 1: start again */
		return zl_fail(err, "%s: remove the unfinished copy %s: %s", volume, copy_path, ignored.msg);

	int empty = dir_is_empty(vol_fd);
	if (empty < 0)
		return zl_fail_errno(err, "%s: read %s", volume, volume_dir);

	_cleanup_close_ int src = open_in_rootfs(rootfs, target);
	if (src < 0 && errno != ENOENT)
		return zl_fail_errno(err, "%s: %s in the image", volume, target);
	if (src >= 0) {
		struct stat st;
		if (fstat(src, &st) < 0)
			return zl_fail_errno(err, "%s: %s in the image", volume, target);
		if (!S_ISDIR(st.st_mode))
			return zl_invalid(err, "%s: %s is not a directory in the image; a volume can only be mounted on a directory",
					  volume, target);
	}
	if (!copy_up || !empty || src < 0)
		return 0; /* never touch content; nothing in the image to copy */

	_cleanup_close_ int src_dir = openat(src, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (src_dir < 0)
		return zl_fail_errno(err, "%s: %s in the image", volume, target);
	struct stat root_st;
	if (fstat(src_dir, &root_st) < 0 || mkdirat(parent_fd, copy_name, 0700) < 0)
		return zl_fail_errno(err, "%s: create %s", volume, copy_path);
	struct copy c = { .dst_root = openat(parent_fd, copy_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) };
	int r = c.dst_root < 0 ? zl_fail_errno(err, "open %s", copy_path)
			       : copy_dir(&c, src_dir, c.dst_root, "", err);
	if (r == 0)
		r = copy_metadata(src_dir, c.dst_root, &root_st, ".", err);
	if (c.dst_root >= 0)
		close(c.dst_root);
	size_t skipped = c.skipped;
	copy_release(&c);
	if (r == 0) {
		int done = openat(parent_fd, done_name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (done < 0 || fsync(done) < 0)
			r = zl_fail_errno(err, "create %s/%s", parent, done_name);
		if (done >= 0)
			close(done);
	}
	if (r < 0) {
		zl_rm_rf(copy_path, &ignored); /* nothing half-copied stays */
		return zl_err_prefix(err, "%s: copy the image's %s into it", volume, target);
	}
	if (skipped)
		zl_log(ZL_LOG_DEBUG, "%s: copy-up of %s skipped %zu devices or sockets", volume, target,
		       skipped);
	return finish_moves(parent_fd, copy_name, done_name, vol_fd, volume, err);
}
