/* fs.c: small filesystem helpers with zl_err reporting. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
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

int zl_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode,
			 struct zl_err *err)
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
	if (fsync(fd) < 0) {
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
