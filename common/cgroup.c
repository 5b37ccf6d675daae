/* cgroup.c: a cgroup zlapply makes for a replica's process itself (a WASM
 * engine, a VM's QEMU: crun and runc make a container's). v2: one
 * directory, the controllers enabled down the way; v1: one directory in
 * each of the memory, cpu, cpuacct and pids hierarchies, the layout runc
 * makes, so zlmon's OOM counter and the stats read it the same way. */
#include "common/common.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#define CG_ROOT "/sys/fs/cgroup"
static const char *const v1_hierarchies[] = { "memory", "cpu", "cpuacct", "pids" };
#define N_V1 (sizeof(v1_hierarchies) / sizeof(v1_hierarchies[0]))

bool zl_cgroup2(void)
{
	struct statfs fs;
	return statfs(CG_ROOT, &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
}

static int cg_write(const char *dir, const char *file, const char *value, struct zl_err *err)
{
	_cleanup_free_ char *path = zl_xasprintf("%s/%s", dir, file);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return zl_fail_errno(err, "cgroup: open %s", path);
	ssize_t w = write(fd, value, strlen(value));
	int saved = errno;
	close(fd);
	if (w < 0) {
		errno = saved;
		return zl_fail_errno(err, "cgroup: write \"%s\" to %s", value, path);
	}
	return 0;
}

/* The directory of path in hierarchy (v1) or in the unified tree (v2). */
static char *cg_dir(const char *path, const char *hierarchy)
{
	return zl_cgroup2() ? zl_xasprintf(CG_ROOT "%s", path)
			    : zl_xasprintf(CG_ROOT "/%s%s", hierarchy, path);
}

/* The existing directories of path, one per hierarchy (v1 hierarchies
 * mounted together, such as cpu,cpuacct, counted once); caller frees. */
static size_t cg_dirs(const char *path, char *dirs[N_V1])
{
	if (zl_cgroup2()) {
		dirs[0] = cg_dir(path, "");
		if (access(dirs[0], F_OK) == 0)
			return 1;
		free(dirs[0]);
		return 0;
	}
	size_t n = 0;
	char seen[N_V1][PATH_MAX];
	for (size_t i = 0; i < N_V1; i++) {
		_cleanup_free_ char *mount = zl_xasprintf(CG_ROOT "/%s", v1_hierarchies[i]);
		char real[PATH_MAX];
		if (!realpath(mount, real))
			continue;
		bool dup = false;
		for (size_t k = 0; k < n && !dup; k++)
			dup = strcmp(seen[k], real) == 0;
		_cleanup_free_ char *dir = zl_xasprintf("%s%s", real, path);
		if (dup || access(dir, F_OK) < 0)
			continue;
		snprintf(seen[n], PATH_MAX, "%s", real);
		dirs[n++] = zl_xstrdup(dir);
	}
	return n;
}

static int make_dirs(const char *path, struct zl_err *err)
{
	if (!zl_cgroup2()) {
		for (size_t i = 0; i < N_V1; i++) {
			_cleanup_free_ char *mount = zl_xasprintf(CG_ROOT "/%s", v1_hierarchies[i]);
			_cleanup_free_ char *dir = cg_dir(path, v1_hierarchies[i]);
			if (access(mount, F_OK) == 0 && zl_mkdir_p(dir, 0755, err) < 0)
				return zl_err_prefix(err, "cgroup");
		}
		return 0;
	}
	/* Every ancestor hands memory, cpu and pids down (best effort: a
	 * controller the kernel lacks is simply absent). */
	_cleanup_free_ char *walk = zl_xstrdup(path);
	char *dir = zl_xstrdup(CG_ROOT);
	struct zl_err ignored = ZL_ERR_INIT;
	char *save = NULL;
	int ret = 0;
	for (char *part = strtok_r(walk, "/", &save); part && ret == 0;
	     part = strtok_r(NULL, "/", &save)) {
		cg_write(dir, "cgroup.subtree_control", "+memory +cpu +pids", &ignored);
		char *next = zl_xasprintf("%s/%s", dir, part);
		free(dir);
		dir = next;
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			ret = zl_fail_errno(err, "cgroup: mkdir %s", dir);
	}
	free(dir);
	return ret;
}

static int set_limits(const char *path, const struct zl_cgroup_limits *l, struct zl_err *err)
{
	bool v2 = zl_cgroup2();
	char value[64];
	if (l->memory > 0) {
		_cleanup_free_ char *dir = cg_dir(path, "memory");
		snprintf(value, sizeof(value), "%lld", (long long)l->memory);
		if (cg_write(dir, v2 ? "memory.max" : "memory.limit_in_bytes", value, err) < 0)
			return -1;
	}
	_cleanup_free_ char *cpu = cg_dir(path, "cpu");
	if (l->cpu_quota > 0 && v2) {
		snprintf(value, sizeof(value), "%lld %lld", (long long)l->cpu_quota,
			 (long long)l->cpu_period);
		if (cg_write(cpu, "cpu.max", value, err) < 0)
			return -1;
	} else if (l->cpu_quota > 0) {
		snprintf(value, sizeof(value), "%lld", (long long)l->cpu_period);
		if (cg_write(cpu, "cpu.cfs_period_us", value, err) < 0)
			return -1;
		snprintf(value, sizeof(value), "%lld", (long long)l->cpu_quota);
		if (cg_write(cpu, "cpu.cfs_quota_us", value, err) < 0)
			return -1;
	}
	if (l->cpu_shares > 0) {
		if (v2) /* runc's conversion of shares to weight */
			snprintf(value, sizeof(value), "%lld",
				 (long long)(1 + ((l->cpu_shares - 2) * 9999) / 262142));
		else
			snprintf(value, sizeof(value), "%lld", (long long)l->cpu_shares);
		if (cg_write(cpu, v2 ? "cpu.weight" : "cpu.shares", value, err) < 0)
			return -1;
	}
	if (l->pids > 0) {
		_cleanup_free_ char *dir = cg_dir(path, "pids");
		snprintf(value, sizeof(value), "%lld", (long long)l->pids);
		if (cg_write(dir, "pids.max", value, err) < 0)
			return -1;
	}
	return 0;
}

int zl_cgroup_make(const char *path, const struct zl_cgroup_limits *l, struct zl_err *err)
{
	if (make_dirs(path, err) < 0 || set_limits(path, l, err) < 0) {
		zl_cgroup_remove(path);
		return -1;
	}
	return 0;
}

void zl_cgroup_procs_files(const char *path, char ***files, size_t *n)
{
	char *dirs[N_V1];
	*n = cg_dirs(path, dirs);
	*files = *n ? zl_xcalloc(*n, sizeof(char *)) : NULL;
	for (size_t i = 0; i < *n; i++) {
		(*files)[i] = zl_xasprintf("%s/cgroup.procs", dirs[i]);
		free(dirs[i]);
	}
}

int zl_cgroup_join(const char *path, pid_t pid, struct zl_err *err)
{
	char *dirs[N_V1];
	size_t n = cg_dirs(path, dirs);
	char value[32];
	snprintf(value, sizeof(value), "%d", (int)pid);
	int ret = 0;
	for (size_t i = 0; i < n; i++) {
		if (ret == 0 && cg_write(dirs[i], "cgroup.procs", value, err) < 0)
			ret = -1;
		free(dirs[i]);
	}
	return ret;
}

/* rmdir, waiting while busy: a process killed a moment ago is a zombie
 * whose threads are still leaving the cgroup (EBUSY for a few ms), and a
 * cgroup left now would stay for good. Absent is fine; busy after 5 s is
 * left alone (something else joined it). */
static void rmdir_settled(const char *dir)
{
	for (int i = 0; i < 250; i++) {
		if (rmdir(dir) == 0 || errno != EBUSY)
			return;
		struct timespec ts = { 0, 20 * 1000000 };
		nanosleep(&ts, NULL);
	}
}

void zl_cgroup_remove(const char *path)
{
	if (zl_cgroup2()) {
		_cleanup_free_ char *dir = cg_dir(path, "");
		rmdir_settled(dir);
		return;
	}
	for (size_t i = 0; i < N_V1; i++) {
		_cleanup_free_ char *dir = cg_dir(path, v1_hierarchies[i]);
		rmdir_settled(dir);
	}
}
