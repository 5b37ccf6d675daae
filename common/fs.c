/* fs.c: small filesystem helpers with zl_err reporting. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>

int zl_mkdir_p(const char *path, unsigned mode, struct zl_err *err)
{
	_cleanup_free_ char *copy = zl_xstrdup(path);
	for (char *p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, mode) < 0 && errno != EEXIST)
			return zl_fail_errno(err, "mkdir %s", copy);
		*p = '/';
	}
	if (mkdir(copy, mode) < 0 && errno != EEXIST)
		return zl_fail_errno(err, "mkdir %s", copy);
	return 0;
}

int zl_read_file(const char *path, char **data, size_t *len, struct zl_err *err)
{
	bool is_stdin = strcmp(path, "-") == 0;
	FILE *f = is_stdin ? stdin : fopen(path, "re");
	if (!f)
		return zl_err_set(err, ZL_ERR_INPUT, errno, "cannot read %s", path);
	struct zl_buf buf = { 0 };
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		zl_buf_append(&buf, chunk, n);
	int failed = ferror(f);
	int saved_errno = errno;
	if (!is_stdin)
		fclose(f);
	if (failed) {
		zl_buf_free(&buf);
		return zl_err_set(err, ZL_ERR_INPUT, saved_errno ? saved_errno : EIO,
				  "cannot read %s", path);
	}
	*len = buf.len;
	*data = zl_buf_steal(&buf);
	return 0;
}

const char *zl_file_kind(unsigned mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return "a regular file";
	case S_IFDIR: return "a directory";
	case S_IFIFO: return "a FIFO (named pipe)";
	case S_IFCHR: return "a character device";
	case S_IFBLK: return "a block device";
	case S_IFSOCK: return "a socket";
	case S_IFLNK: return "a symbolic link";
	default: return "of an unknown file type";
	}
}

static int not_regular(unsigned st_mode, unsigned *mode, struct zl_err *err)
{
	if (mode)
		*mode = st_mode;
	return zl_invalid(err, "not a regular file but %s", zl_file_kind(st_mode));
}

int zl_open_regular(const char *path, bool nofollow, unsigned *mode, struct zl_err *err)
{
	struct stat before, after;
	if ((nofollow ? lstat(path, &before) : stat(path, &before)) < 0)
		return zl_err_set(err, ZL_ERR_INPUT, errno, "cannot open %s", path);
	if (!S_ISREG(before.st_mode))
		return not_regular(before.st_mode, mode, err);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | (nofollow ? O_NOFOLLOW : 0));
	if (fd < 0)
		return zl_err_set(err, ZL_ERR_INPUT, errno, "cannot open %s", path);
	if (fstat(fd, &after) < 0) {
		int saved = errno;
		close(fd);
		return zl_err_set(err, ZL_ERR_INPUT, saved, "cannot open %s", path);
	}
	if (!S_ISREG(after.st_mode) || after.st_dev != before.st_dev || after.st_ino != before.st_ino) {
		/* Replaced between the stat and the open: whatever it is now was
		 * opened without blocking and is not read. */
		close(fd);
		if (!S_ISREG(after.st_mode))
			return not_regular(after.st_mode, mode, err);
		return zl_err_set(err, ZL_ERR_INPUT, EAGAIN, "%s changed while it was opened", path);
	}
	return fd;
}

int zl_read_fd_max(int fd, size_t max, char **data, size_t *len, struct zl_err *err)
{
	struct zl_buf buf = { 0 };
	char chunk[65536];
	while (buf.len < max) {
		size_t want = max - buf.len < sizeof(chunk) ? max - buf.len : sizeof(chunk);
		ssize_t n = read(fd, chunk, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			if (poll(&p, 1, -1) < 0 && errno != EINTR) {
				int saved = errno;
				zl_buf_free(&buf);
				return zl_err_set(err, ZL_ERR_INPUT, saved, "poll");
			}
			continue;
		}
		if (n < 0) {
			int saved = errno;
			zl_buf_free(&buf);
			return zl_err_set(err, ZL_ERR_INPUT, saved, "read");
		}
		if (n == 0)
			break;
		zl_buf_append(&buf, chunk, (size_t)n);
	}
	*len = buf.len;
	*data = zl_buf_steal(&buf);
	return 0;
}

/* Temporary files of zl_write_file_atomic() are "<name>.tmp.<pid>". One
 * whose writer is gone (killed between its create and its rename) is left
 * over: nothing else would ever remove it, and it keeps its directory from
 * being removed. */
static bool stale_temp(const char *name)
{
	const char *tmp = NULL;
	for (const char *p = strstr(name, ".tmp."); p; p = strstr(p + 1, ".tmp."))
		tmp = p;
	if (!tmp || tmp == name)
		return false;
	char *end;
	errno = 0;
	long pid = strtol(tmp + 5, &end, 10);
	if (tmp[5] < '1' || tmp[5] > '9' || errno || *end || pid > INT32_MAX)
		return false;
	return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

size_t zl_remove_stale_temps(const char *dir)
{
	DIR *d = opendir(*dir ? dir : "/");
	if (!d)
		return 0;
	size_t removed = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_type == DT_DIR || !stale_temp(de->d_name))
			continue;
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    !S_ISDIR(st.st_mode) && unlinkat(dirfd(d), de->d_name, 0) == 0)
			removed++;
	}
	closedir(d);
	return removed;
}

/* Removes the stale temporary files beside path. No logging here: zlmon
 * links this file, and zl_log would pull libcrypto into the monitor. */
static void remove_stale_temps(const char *path)
{
	const char *slash = strrchr(path, '/');
	_cleanup_free_ char *dir = slash ? zl_xstrndup(path, (size_t)(slash - path)) : zl_xstrdup(".");
	(void)zl_remove_stale_temps(dir);
}

static int write_file_atomic(const char *path, const void *data, size_t len, unsigned mode,
			     bool sync, struct zl_err *err)
{
	_cleanup_free_ char *tmp = zl_xasprintf("%s.tmp.%d", path, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return zl_fail_errno(err, "create %s", tmp);
	const char *p = data;
	size_t left = len;
	while (left > 0) {
		ssize_t w = write(fd, p, left);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			zl_fail_errno(err, "write %s", tmp);
			goto fail;
		}
		p += w;
		left -= (size_t)w;
	}
	if (sync && fsync(fd) < 0) {
		zl_fail_errno(err, "fsync %s", tmp);
		goto fail;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		zl_fail_errno(err, "rename %s", path);
		unlink(tmp);
		return -1;
	}
	/* The writer that owns this directory cleans what a killed one left. */
	remove_stale_temps(path);
	return 0;
fail:
	close(fd);
	unlink(tmp);
	return -1;
}

int zl_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode,
			 struct zl_err *err)
{
	return write_file_atomic(path, data, len, mode, true, err);
}

int zl_write_file_atomic_nosync(const char *path, const void *data, size_t len, unsigned mode,
				struct zl_err *err)
{
	return write_file_atomic(path, data, len, mode, false, err);
}

#define SYNC_FILES_MAX 16

int zl_sync_files(const char *dir, const char *const names[], struct zl_err *err)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return zl_fail_errno(err, "open %s", dir);
	int fds[SYNC_FILES_MAX];
	const char *which[SYNC_FILES_MAX];
	size_t n = 0;
	int ret = 0;
	for (size_t i = 0; names[i] && ret == 0; i++) {
		if (n == SYNC_FILES_MAX) {
			ret = zl_fail(err, "sync %s: more than %d files", dir, SYNC_FILES_MAX);
			break;
		}
		int fd = openat(dfd, names[i], O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0 && errno == ENOENT)
			continue;
		if (fd < 0) {
			ret = zl_fail_errno(err, "open %s/%s", dir, names[i]);
			break;
		}
		/* Start its writeback; the wait is below, after all have started. */
		(void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
		which[n] = names[i];
		fds[n++] = fd;
	}
	for (size_t i = 0; i < n; i++) {
		if (ret == 0 && fdatasync(fds[i]) < 0)
			ret = zl_fail_errno(err, "fsync %s/%s", dir, which[i]);
		close(fds[i]);
	}
	/* The renames that put them there. */
	if (ret == 0 && fsync(dfd) < 0)
		ret = zl_fail_errno(err, "fsync %s", dir);
	close(dfd);
	return ret;
}

/* nftw has no user pointer: the walk's running total, per thread. */
static _Thread_local int64_t du_total;

static int du_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)path;
	(void)type;
	(void)ftw;
	/* A file with n links is counted 1/n per link: exact when every
	 * link is inside the tree, as in an unpacked layer. */
	int64_t bytes = (int64_t)st->st_blocks * 512;
	du_total += st->st_nlink > 1 && !S_ISDIR(st->st_mode) ? bytes / (int64_t)st->st_nlink : bytes;
	return 0;
}

int zl_disk_usage(const char *path, int64_t *bytes, struct zl_err *err)
{
	*bytes = 0;
	du_total = 0;
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : zl_fail_errno(err, "stat %s", path);
	if (nftw(path, du_one, 32, FTW_PHYS) < 0)
		return zl_fail_errno(err, "walk %s", path);
	*bytes = du_total;
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	int r = type == FTW_DP ? rmdir(path) : unlink(path);
	return r < 0 && errno != ENOENT ? -1 : 0;
}

int zl_rm_rf(const char *path, struct zl_err *err)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : zl_fail_errno(err, "stat %s", path);
	if (nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS) < 0)
		return zl_fail_errno(err, "remove %s", path);
	return 0;
}
