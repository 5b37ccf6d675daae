/* host.c: what this zlapply process may hand out to the replicas it makes
 * (its capability sets, the rlimits and oom score it can grant). The oci
 * backend builds runtime configs from these, and validate checks a spec
 * against them, so a spec this host would refuse is refused before apply
 * changes anything. */
#include "common/common.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

bool zl_own_caps(const char *set, uint64_t *mask)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/status", "re");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0, len = strlen(set);
	while (f && getline(&line, &cap, f) > 0) {
		unsigned long long v;
		if (!strncmp(line, set, len) && line[len] == ':' && sscanf(line + len + 1, "%llx", &v) == 1) {
			*mask = v;
			return true;
		}
	}
	return false;
}

bool zl_have_cap_sys_resource(void)
{
	uint64_t eff;
	if (zl_own_caps("CapEff", &eff))
		return eff & (UINT64_C(1) << 24 /* CAP_SYS_RESOURCE */);
	return true; /* unknown: let the runtime decide */
}

uint64_t zl_rlimit_grantable(int resource)
{
	struct rlimit rl;
	if (zl_have_cap_sys_resource() || getrlimit(resource, &rl) < 0 || rl.rlim_max == RLIM_INFINITY)
		return UINT64_MAX;
	return rl.rlim_max;
}

int zl_own_oom_score_adj(void)
{
	int own = 0;
	_cleanup_fclose_ FILE *f = fopen("/proc/self/oom_score_adj", "re");
	if (f && fscanf(f, "%d", &own) != 1)
		own = 0;
	return own;
}
