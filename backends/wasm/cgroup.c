/* cgroup.c: the cgroup of a WASM replica's engine process, where
 * resources.cpu and resources.memory hold (as runc makes one for a
 * container). Same path as a container's: /zlapply/<id> or the service's
 * cgroup_parent. cgroup v2: one directory, controllers enabled down the
 * way; v1: one directory in each of the memory, cpu, cpuacct and pids
 * hierarchies. The process enters it before its exec (zlmon --join). */
#include "wasm-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backends/supervise.h"

#define CG_ROOT "/sys/fs/cgroup"
#define CPU_PERIOD_US 100000
static const char *const v1_hierarchies[] = { "memory", "cpu", "cpuacct", "pids" };
#define N_V1 (sizeof(v1_hierarchies) / sizeof(v1_hierarchies[0]))

static int write_value(const char *dir, const char *file, const char *value, struct zl_err *err)
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

/* v2: every ancestor below the root hands memory, cpu and pids down. */
static void enable_controllers(const char *cgroup)
{
	_cleanup_free_ char *walk = zl_xstrdup(cgroup);
	struct zl_err ignored = ZL_ERR_INIT;
	_cleanup_free_ char *dir = zl_xstrdup(CG_ROOT);
	for (char *save = NULL, *part = strtok_r(walk, "/", &save); part;
	     part = strtok_r(NULL, "/", &save)) {
		/* Best effort: a controller the kernel lacks is simply absent. */
		write_value(dir, "cgroup.subtree_control", "+memory +cpu +pids", &ignored);
		char *next = zl_xasprintf("%s/%s", dir, part);
		free(dir);
		dir = next;
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return;
	}
}

static void push(char ***procs, size_t *n, char *path)
{
	*procs = zl_xrealloc(*procs, (*n + 1) * sizeof(char *));
	(*procs)[(*n)++] = path;
}

void wasm_cgroup_procs_free(char **procs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(procs[i]);
	free(procs);
}

void wasm_cgroup_procs(const char *cgroup, char ***procs, size_t *n)
{
	*procs = NULL;
	*n = 0;
	if (supervise_cgroup2_unified()) {
		_cleanup_free_ char *dir = zl_xasprintf(CG_ROOT "%s", cgroup);
		if (access(dir, F_OK) == 0)
			push(procs, n, zl_xasprintf("%s/cgroup.procs", dir));
		return;
	}
	char seen[N_V1][PATH_MAX];
	size_t n_seen = 0;
	for (size_t i = 0; i < N_V1; i++) {
		/* cpu and cpuacct are often one hierarchy under two names. */
		_cleanup_free_ char *mount = zl_xasprintf(CG_ROOT "/%s", v1_hierarchies[i]);
		char real[PATH_MAX];
		if (!realpath(mount, real))
			continue;
		bool dup = false;
		for (size_t k = 0; k < n_seen; k++)
			dup = dup || strcmp(seen[k], real) == 0;
		if (dup)
			continue;
		snprintf(seen[n_seen++], PATH_MAX, "%s", real);
		_cleanup_free_ char *dir = zl_xasprintf("%s%s", real, cgroup);
		if (access(dir, F_OK) == 0)
			push(procs, n, zl_xasprintf("%s/cgroup.procs", dir));
	}
}

/* The directory holding file in this host's layout (v2: the cgroup; v1:
 * the hierarchy's). */
static char *dir_for(const char *cgroup, const char *hierarchy)
{
	return supervise_cgroup2_unified() ? zl_xasprintf(CG_ROOT "%s", cgroup)
					   : zl_xasprintf(CG_ROOT "/%s%s", hierarchy, cgroup);
}

static int make_dirs(const char *cgroup, struct zl_err *err)
{
	if (supervise_cgroup2_unified()) {
		enable_controllers(cgroup);
		_cleanup_free_ char *dir = dir_for(cgroup, "");
		return zl_mkdir_p(dir, 0755, err);
	}
	for (size_t i = 0; i < N_V1; i++) {
		_cleanup_free_ char *mount = zl_xasprintf(CG_ROOT "/%s", v1_hierarchies[i]);
		if (access(mount, F_OK) < 0)
			continue;
		_cleanup_free_ char *dir = dir_for(cgroup, v1_hierarchies[i]);
		if (zl_mkdir_p(dir, 0755, err) < 0)
			return -1;
	}
	return 0;
}

static int set_limits(const char *cgroup, const struct spec_resources *r, struct zl_err *err)
{
	bool v2 = supervise_cgroup2_unified();
	if (r->memory_bytes > 0) {
		_cleanup_free_ char *dir = dir_for(cgroup, "memory");
		_cleanup_free_ char *value = zl_xasprintf("%lld", (long long)r->memory_bytes);
		if (write_value(dir, v2 ? "memory.max" : "memory.limit_in_bytes", value, err) < 0)
			return -1;
	}
	if (r->cpu_millicores > 0) {
		_cleanup_free_ char *dir = dir_for(cgroup, "cpu");
		long long quota = r->cpu_millicores * CPU_PERIOD_US / 1000;
		if (v2) {
			_cleanup_free_ char *value = zl_xasprintf("%lld %d", quota, CPU_PERIOD_US);
			return write_value(dir, "cpu.max", value, err);
		}
		_cleanup_free_ char *period = zl_xasprintf("%d", CPU_PERIOD_US);
		_cleanup_free_ char *value = zl_xasprintf("%lld", quota);
		if (write_value(dir, "cpu.cfs_period_us", period, err) < 0 ||
		    write_value(dir, "cpu.cfs_quota_us", value, err) < 0)
			return -1;
	}
	if (r->pids_limit > 0) {
		_cleanup_free_ char *dir = dir_for(cgroup, "pids");
		_cleanup_free_ char *value = zl_xasprintf("%lld", (long long)r->pids_limit);
		if (write_value(dir, "pids.max", value, err) < 0)
			return -1;
	}
	return 0;
}

int wasm_cgroup_create(const char *cgroup, const struct spec_resources *r, char ***procs,
		       size_t *n, struct zl_err *err)
{
	*procs = NULL;
	*n = 0;
	bool limits = r->memory_bytes > 0 || r->cpu_millicores > 0 || r->pids_limit > 0;
	struct zl_err cerr = ZL_ERR_INIT;
	if (make_dirs(cgroup, &cerr) < 0 || set_limits(cgroup, r, &cerr) < 0) {
		wasm_cgroup_remove(cgroup);
		if (limits) {
			*err = cerr;
			return zl_err_prefix(err, "resources");
		}
		zl_log(ZL_LOG_WARN, "%s (no cgroup: stats will be unknown)", cerr.msg);
		return 0;
	}
	wasm_cgroup_procs(cgroup, procs, n);
	if (*n == 0 && limits)
		return zl_fail(err, "resources: cgroup %s was not made", cgroup);
	return 0;
}

/* rmdir, waiting while busy: an engine killed a moment ago is a zombie
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

void wasm_cgroup_remove(const char *cgroup)
{
	if (supervise_cgroup2_unified()) {
		_cleanup_free_ char *dir = dir_for(cgroup, "");
		rmdir_settled(dir);
		return;
	}
	for (size_t i = 0; i < N_V1; i++) {
		_cleanup_free_ char *dir = dir_for(cgroup, v1_hierarchies[i]);
		rmdir_settled(dir);
	}
}

