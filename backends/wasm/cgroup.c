/* cgroup.c: the cgroup of a WASM replica's engine process, where
 * resources.cpu, resources.memory and resources.pids hold (as runc makes
 * one for a container). Same path as a container's: /zlapply/<id> or the
 * service's cgroup_parent. Made and removed by common/cgroup.c; what is
 * the wasm backend's is the policy: without limits a cgroup that cannot be
 * made only costs the stats, so it is a warning. The process enters it
 * before its exec (zlmon --join). */
#include "wasm-internal.h"

#define CPU_PERIOD_US 100000

int wasm_cgroup_create(const char *cgroup, const struct spec_resources *r, char ***procs,
		       size_t *n, struct zl_err *err)
{
	*procs = NULL;
	*n = 0;
	struct zl_cgroup_limits l = {
		.memory = r->memory_bytes,
		.cpu_quota = r->cpu_millicores > 0 ? r->cpu_millicores * CPU_PERIOD_US / 1000 : 0,
		.cpu_period = CPU_PERIOD_US,
		.pids = r->pids_limit,
	};
	bool limits = l.memory > 0 || l.cpu_quota > 0 || l.pids > 0;
	struct zl_err cerr = ZL_ERR_INIT;
	if (zl_cgroup_make(cgroup, &l, &cerr) < 0) {
		if (limits) {
			*err = cerr;
			return zl_err_prefix(err, "resources");
		}
		zl_log(ZL_LOG_WARN, "%s (no cgroup: stats will be unknown)", cerr.msg);
		return 0;
	}
	zl_cgroup_procs_files(cgroup, procs, n);
	if (*n == 0 && limits)
		return zl_fail(err, "resources: cgroup %s was not made", cgroup);
	return 0;
}

void wasm_cgroup_procs_free(char **procs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(procs[i]);
	free(procs);
}
