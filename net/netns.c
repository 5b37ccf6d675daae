/* netns.c: named network namespaces, made the way `ip netns add` makes
 * them so runc and `ip netns exec` find them: /run/netns is a shared bind
 * mount, and /run/netns/NAME is a file with a network namespace bind-mounted
 * on it. The calling thread enters a new namespace only for the bind mount
 * and then returns to its own. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "net-internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>

static int check_name(const char *name, struct zl_err *err)
{
	size_t len = name ? strlen(name) : 0;
	if (len == 0 || len > 255 || strchr(name, '/') || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return zl_invalid(err, "\"%s\" is not a valid network namespace name",
				  name ? name : "");
	return 0;
}

static char *ns_path(const char *name) { return zl_xasprintf("%s/%s", NET_NETNS_DIR, name); }

static bool is_netns_mount(const char *path)
{
	struct statfs st;
	return statfs(path, &st) == 0 && st.f_type == NSFS_MAGIC;
}

/* Makes /run/netns a shared mount, binding it onto itself first if it is
 * not a mount point yet, so namespaces mounted under it propagate to mount
 * namespaces created later (runc's, for one). */
static int make_run_dir_shared(struct zl_err *err)
{
	if (zl_mkdir_p(NET_NETNS_DIR, 0755, err) < 0)
		return -1;
	bool bound = false;
	while (mount("", NET_NETNS_DIR, "none", MS_SHARED | MS_REC, NULL) < 0) {
		if (errno != EINVAL || bound)
			return zl_fail_errno(err, "make %s a shared mount", NET_NETNS_DIR);
		if (mount(NET_NETNS_DIR, NET_NETNS_DIR, "none", MS_BIND | MS_REC, NULL) < 0)
			return zl_fail_errno(err, "bind-mount %s onto itself", NET_NETNS_DIR);
		bound = true;
	}
	return 0;
}

/* Creates a new network namespace and bind-mounts it onto path. */
static int mount_new_netns(const char *path, struct zl_err *err)
{
	_cleanup_close_ int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return zl_fail_errno(err, "open /proc/thread-self/ns/net");
	if (unshare(CLONE_NEWNET) < 0)
		return zl_fail_errno(err, "unshare network namespace");
	int rc = 0;
	if (mount("/proc/thread-self/ns/net", path, "none", MS_BIND, NULL) < 0)
		rc = zl_fail_errno(err, "bind-mount the new network namespace on %s", path);
	if (setns(self, CLONE_NEWNET) < 0) {
		/* Nothing sensible can follow in the wrong namespace. */
		zl_log(ZL_LOG_ERROR, "cannot return to the original network namespace: %s",
		       strerror(errno));
		abort();
	}
	return rc;
}

int netns_create(const char *name, bool *created, struct zl_err *err)
{
	*created = false;
	if (check_name(name, err) < 0)
		return -1;
	if (make_run_dir_shared(err) < 0)
		return zl_err_prefix(err, "create netns %s", name);
	_cleanup_free_ char *path = ns_path(name);
	int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
	if (fd < 0 && errno != EEXIST)
		return zl_fail_errno(err, "create netns %s: create %s", name, path);
	if (fd >= 0)
		close(fd);
	else if (is_netns_mount(path))
		return 0;
	/* A new file, or one left empty by a crash before its mount. */
	if (mount_new_netns(path, err) < 0) {
		/* Best effort: the error above is what matters. */
		(void)unlink(path);
		return zl_err_prefix(err, "create netns %s", name);
	}
	*created = true;
	return 0;
}

int netns_open(const char *name, struct zl_err *err)
{
	if (check_name(name, err) < 0)
		return -1;
	_cleanup_free_ char *path = ns_path(name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return zl_fail_errno(err, "open netns %s", path);
	if (!is_netns_mount(path)) {
		close(fd);
		return zl_fail(err, "open netns %s: not a network namespace mount", path);
	}
	return fd;
}

char *net_netns_name(const char *deployment, const char *service, int index)
{
	return zl_xasprintf("zl-%s-%s-%d", deployment, service, index);
}

int net_netns_create(const char *name, char **path, struct zl_err *err)
{
	bool created;
	if (netns_create(name, &created, err) < 0)
		return -1;
	if (path)
		*path = ns_path(name);
	return 0;
}

int net_netns_delete(const char *name, struct zl_err *err)
{
	if (check_name(name, err) < 0)
		return -1;
	_cleanup_free_ char *path = ns_path(name);
	/* EINVAL: not a mount point (an empty file left by a crash). */
	if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
		return zl_fail_errno(err, "delete netns %s: unmount %s", name, path);
	if (unlink(path) < 0 && errno != ENOENT)
		return zl_fail_errno(err, "delete netns %s: remove %s", name, path);
	return 0;
}

bool net_netns_exists(const char *name)
{
	if (check_name(name, NULL) < 0)
		return false;
	_cleanup_free_ char *path = ns_path(name);
	return is_netns_mount(path);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void net_names_free(char **names, size_t n)
{
	if (!names)
		return;
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int net_netns_list(char ***names, size_t *n, struct zl_err *err)
{
	*names = NULL;
	*n = 0;
	DIR *dir = opendir(NET_NETNS_DIR);
	if (!dir)
		return errno == ENOENT ? 0 : zl_fail_errno(err, "list %s", NET_NETNS_DIR);
	char **list = NULL;
	size_t count = 0, cap = 0;
	struct dirent *de;
	while ((errno = 0, de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		zl_grow(&list, sizeof(char *), &cap, count + 1);
		list[count++] = zl_xstrdup(de->d_name);
	}
	int saved = errno;
	closedir(dir);
	if (saved != 0) {
		net_names_free(list, count);
		errno = saved;
		return zl_fail_errno(err, "list %s", NET_NETNS_DIR);
	}
	if (count > 1)
		qsort(list, count, sizeof(char *), cmp_str);
	*names = list;
	*n = count;
	return 0;
}
