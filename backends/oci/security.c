/* security.c: what confines a replica's process, with Docker's defaults:
 * capabilities, rlimits, the oom score, security_opt and the masked and
 * read-only /proc and /sys paths (the seccomp filter: seccomp.c). */
#include "bundle-internal.h"

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>

#define DEFAULT_NOFILE 1048576

/* ---- capabilities ---- */

#define CAP_COUNT SPEC_CAP_COUNT /* spec/capability.c names them */

/* Docker's default set. */
static const char *const default_caps[] = {
	"CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
	"SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
};

/* The capabilities zlapply can hand out: those of its bounding set (a
 * container never gets more than its creator, and runtimes fail the start
 * when asked to), limited to this kernel's and to the names we know. */
static uint64_t host_caps(void)
{
	uint64_t known = CAP_COUNT >= 64 ? UINT64_MAX : (UINT64_C(1) << CAP_COUNT) - 1;
	uint64_t bnd;
	if (zl_own_caps("CapBnd", &bnd))
		return known & bnd;
	_cleanup_fclose_ FILE *last_f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	unsigned last;
	if (last_f && fscanf(last_f, "%u", &last) == 1 && last < 63)
		known &= (UINT64_C(1) << (last + 1)) - 1;
	return known;
}

int oci_cap_from_name(const char *name)
{
	int idx = spec_capability_index(name);
	return idx < 0 ? -1 : idx;
}

/* Parses a cap_add/cap_drop list into a mask; *all tells whether it has ALL. */
static int cap_list(const struct spec_strv *list, const char *key, uint64_t *mask, bool *all,
		    struct zl_err *err)
{
	*mask = 0;
	*all = false;
	for (size_t i = 0; i < list->count; i++) {
		int idx = spec_capability_index(list->items[i]);
		if (idx == -1)
			return zl_invalid(err, "%s: unknown capability \"%s\"", key, list->items[i]);
		if (idx == SPEC_CAP_ALL)
			*all = true;
		else
			*mask |= UINT64_C(1) << idx;
	}
	return 0;
}

/* Docker's rules: cap_add ALL = everything but cap_drop; cap_drop ALL = only
 * cap_add; otherwise the default set minus cap_drop plus cap_add. "All"
 * (and privileged) means what this host can give; a capability added by
 * name that it cannot give is an error, a default one is left out. */
int oci_compute_caps(const struct spec_service *svc, uint64_t *caps, struct zl_err *err)
{
	uint64_t add, drop, host = host_caps();
	bool add_all, drop_all;
	if (cap_list(&svc->cap_add, "capabilities", &add, &add_all, err) < 0 ||
	    cap_list(&svc->cap_drop, "cap_drop", &drop, &drop_all, err) < 0)
		return -1;
	if (svc->privileged) {
		*caps = host;
		return 0;
	}
	for (size_t i = 0; i < CAP_COUNT; i++)
		if ((add & ~host) & (UINT64_C(1) << i))
			return zl_invalid(err, "capabilities: CAP_%s is not available to zlapply on this host (not in its bounding set)",
					  spec_capability_name((int)i));
	uint64_t base = 0;
	for (size_t i = 0; i < sizeof(default_caps) / sizeof(default_caps[0]); i++)
		base |= UINT64_C(1) << spec_capability_index(default_caps[i]);
	if (add_all)
		*caps = host & ~drop;
	else if (drop_all)
		*caps = add;
	else
		*caps = ((base & host) & ~drop) | add;
	return 0;
}

cJSON *oci_caps_json(uint64_t caps)
{
	cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; i < CAP_COUNT; i++) {
		if (caps & (UINT64_C(1) << i)) {
			char name[64];
			snprintf(name, sizeof(name), "CAP_%s", spec_capability_name((int)i));
			cJSON_AddItemToArray(arr, cJSON_CreateString(name));
		}
	}
	return arr;
}

/* ---- process ---- */

static const struct {
	const char *name, *type;
	int resource;
} rlimit_types[] = {
	{ "cpu", "RLIMIT_CPU", RLIMIT_CPU }, { "fsize", "RLIMIT_FSIZE", RLIMIT_FSIZE },
	{ "data", "RLIMIT_DATA", RLIMIT_DATA }, { "stack", "RLIMIT_STACK", RLIMIT_STACK },
	{ "core", "RLIMIT_CORE", RLIMIT_CORE }, { "rss", "RLIMIT_RSS", RLIMIT_RSS },
	{ "nproc", "RLIMIT_NPROC", RLIMIT_NPROC }, { "nofile", "RLIMIT_NOFILE", RLIMIT_NOFILE },
	{ "memlock", "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK }, { "as", "RLIMIT_AS", RLIMIT_AS },
	{ "locks", "RLIMIT_LOCKS", RLIMIT_LOCKS }, { "sigpending", "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING },
	{ "msgqueue", "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE }, { "nice", "RLIMIT_NICE", RLIMIT_NICE },
	{ "rtprio", "RLIMIT_RTPRIO", RLIMIT_RTPRIO }, { "rttime", "RLIMIT_RTTIME", RLIMIT_RTTIME },
};

static void add_rlimit(cJSON *arr, const char *type, int64_t soft, int64_t hard)
{
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "type", type);
	/* -1 is "unlimited": RLIM_INFINITY, all bits set. */
	cJSON_AddItemToObject(r, "hard", juint((uint64_t)hard));
	cJSON_AddItemToObject(r, "soft", juint((uint64_t)soft));
	cJSON_AddItemToArray(arr, r);
}

int oci_rlimits_json(const struct spec_service *svc, cJSON **out, struct zl_err *err)
{
	cJSON *arr = cJSON_CreateArray();
	bool nofile = false;
	for (size_t i = 0; i < svc->ulimit_count; i++) {
		const struct spec_ulimit *u = &svc->ulimits[i];
		const char *type = NULL;
		int resource = 0;
		for (size_t j = 0; j < sizeof(rlimit_types) / sizeof(rlimit_types[0]); j++) {
			if (!strcmp(u->name, rlimit_types[j].name)) {
				type = rlimit_types[j].type;
				resource = rlimit_types[j].resource;
			}
		}
		if (!type) {
			cJSON_Delete(arr);
			return zl_invalid(err, "ulimits: unknown limit \"%s\"", u->name);
		}
		if (u->soft != -1 && (u->hard != -1 && u->soft > u->hard)) {
			cJSON_Delete(arr);
			return zl_invalid(err, "ulimits.%s: soft limit %" PRId64 " is above hard limit %" PRId64,
					  u->name, u->soft, u->hard);
		}
		uint64_t room = zl_rlimit_grantable(resource);
		if ((uint64_t)u->hard > room) {
			char hard[32] = "unlimited";
			if (u->hard != -1)
				snprintf(hard, sizeof(hard), "%" PRId64, u->hard);
			cJSON_Delete(arr);
			return zl_invalid(err, "ulimits.%s: hard limit %s is above %" PRIu64 ", the most this host lets zlapply grant (no CAP_SYS_RESOURCE)",
					  u->name, hard, room);
		}
		nofile |= !strcmp(u->name, "nofile");
		add_rlimit(arr, type, u->soft, u->hard);
	}
	if (!nofile) {
		uint64_t n = zl_rlimit_grantable(RLIMIT_NOFILE);
		if (n > DEFAULT_NOFILE)
			n = DEFAULT_NOFILE;
		add_rlimit(arr, "RLIMIT_NOFILE", (int64_t)n, (int64_t)n);
	}
	*out = arr;
	return 0;
}


int oci_security_parse(const struct spec_service *svc, struct security *sec,
			      struct zl_err *err)
{
	*sec = (struct security){ 0 };
	for (size_t i = 0; i < svc->security_opt.count; i++) {
		const char *opt = svc->security_opt.items[i];
		const char *why = spec_security_opt_problem(opt); /* validate's rule */
		if (why)
			return zl_invalid(err, "security_opt: %s, got \"%s\"", why, opt);
		size_t klen = strcspn(opt, ":=");
		const char *val = opt[klen] ? opt + klen + 1 : NULL;
		if (klen == 17 && !strncmp(opt, "no-new-privileges", klen)) {
			sec->no_new_privileges = !val || !strcmp(val, "true");
		} else if (klen == 11 && !strncmp(opt, "systempaths", klen)) {
			sec->unconfined_paths = true;
		} else if (klen == 7 && !strncmp(opt, "seccomp", klen)) {
			/* seccomp.c applies it; Docker's values, the last one counting. */
			sec->seccomp_profile = NULL;
			if (!strcmp(val, "unconfined")) {
				sec->seccomp = OCI_SECCOMP_UNCONFINED;
			} else if (!strcmp(val, "builtin")) {
				sec->seccomp = OCI_SECCOMP_BUILTIN;
			} else {
				sec->seccomp = OCI_SECCOMP_FILE;
				sec->seccomp_profile = val;
			}
		} else if (!val || strcmp(val, "unconfined")) {
			/* apparmor= or label=: no LSM label is applied here, so
			 * "unconfined" is already true and anything else cannot
			 * be honoured. */
			zl_log(ZL_LOG_WARN, "service %s: security_opt \"%s\" is ignored on this host",
			       svc->name, opt);
		}
	}
	return 0;
}

/* 0 inherits zlapply's own score. Going below it needs CAP_SYS_RESOURCE,
 * without which the runtime fails the start with a bare EPERM. */
int oci_oom_score_adj_json(int adj, cJSON *process, struct zl_err *err)
{
	if (adj < -1000 || adj > 1000)
		return zl_invalid(err, "resources.oom_score_adj: %d is outside -1000..1000", adj);
	if (adj == 0)
		return 0;
	int own = zl_own_oom_score_adj();
	if (adj < own && !zl_have_cap_sys_resource())
		return zl_invalid(err, "resources.oom_score_adj: %d is below zlapply's own %d, which needs CAP_SYS_RESOURCE", adj, own);
	cJSON_AddItemToObject(process, "oomScoreAdj", jint(adj));
	return 0;
}

/* ---- confinement: masked and read-only paths (Docker's lists) ---- */

void oci_confinement_json(cJSON *lx)
{
	static const char *const masked[] = {
		"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
		"/sys/firmware", "/sys/devices/virtual/powercap",
	};
	static const char *const readonly[] = {
		"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
	};
	cJSON_AddItemToObject(lx, "maskedPaths",
			      jstrings((char *const *)masked, sizeof(masked) / sizeof(masked[0])));
	cJSON_AddItemToObject(lx, "readonlyPaths",
			      jstrings((char *const *)readonly, sizeof(readonly) / sizeof(readonly[0])));
}
