/* bundle.c: the OCI runtime config (config.json, runtime spec 1.0.2) of one
 * replica, built with cJSON from the service spec and the image config.
 *
 * The defaults are Docker's, so an image behaves here as under `docker run`:
 * its capability set, seccomp profile, masked and read-only /proc and /sys
 * paths, standard mounts and device cgroup rules; command and environment
 * merge with the image's as row 4 of docs/spec-reference.md's "Differences from ZLayer" says. Users
 * (user.c), security settings (security.c), the seccomp filter (seccomp.c)
 * and mounts (mounts.c) live beside it.
 *
 * Everything the runtime would reject later (a missing bind source or
 * device, an unknown capability or user, memory below what a container
 * needs) is rejected here, naming the service and the key. Integers are
 * written as raw JSON text: doubles would round limits above 2^53 (and
 * RLIM_INFINITY), which Go runtimes then refuse to decode. */
#include "bundle-internal.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define CPU_PERIOD 100000

static int process_json(const struct oci_bundle_input *in, const char *hostname,
			const cJSON *cfg, const struct security *sec, uint64_t caps, cJSON **out,
			struct zl_err *err)
{
	const struct backend_replica_spec *rs = in->rs;
	const struct spec_service *svc = rs->service;
	_cleanup_cjson_ cJSON *p = cJSON_CreateObject();
	cJSON_AddBoolToObject(p, "terminal", svc->tty);

	/* user: the spec's, else the image's USER, else root */
	const char *user_spec = svc->user && *svc->user ? svc->user : proc_image_string(cfg, "User");
	uint32_t uid = 0, gid = 0;
	_cleanup_free_ uint32_t *gids = NULL;
	size_t n_gids = 0;
	if (oci_resolve_user(user_spec, in->rootfs, &uid, &gid, &gids, &n_gids, err) < 0 ||
	    oci_resolve_extra_groups(&svc->extra_groups, in->rootfs, gid, &gids, &n_gids, err) < 0)
		return -1;
	cJSON *user = cJSON_AddObjectToObject(p, "user");
	cJSON_AddItemToObject(user, "uid", juint(uid));
	cJSON_AddItemToObject(user, "gid", juint(gid));
	if (n_gids) {
		cJSON *arr = cJSON_AddArrayToObject(user, "additionalGids");
		for (size_t i = 0; i < n_gids; i++)
			cJSON_AddItemToArray(arr, juint(gids[i]));
	}

	char **argv = NULL;
	size_t argc = 0;
	if (proc_build_argv(svc, rs->image_config, &argv, &argc, err) < 0)
		return -1;
	cJSON_AddItemToObject(p, "args", jstrings(argv, argc));
	proc_strv_free(argv, argc);

	char **env = NULL;
	size_t envc = 0;
	if (proc_build_env(rs->env, rs->env_count, rs->image_config, hostname, DEFAULT_PATH, &env, &envc) < 0)
		return zl_fail(err, "the image config's Env is not a list of strings");
	cJSON *env_arr = jstrings(env, envc);
	bool has_term = false;
	for (size_t i = 0; i < envc; i++)
		has_term |= !strncmp(env[i], "TERM=", 5);
	if (svc->tty && !has_term) /* as Docker does for -t */
		cJSON_AddItemToArray(env_arr, cJSON_CreateString("TERM=xterm"));
	cJSON_AddItemToObject(p, "env", env_arr);
	proc_strv_free(env, envc);

	const char *cwd = svc->workdir && *svc->workdir ? svc->workdir : proc_image_string(cfg, "WorkingDir");
	if (!cwd)
		cwd = "/";
	if (cwd[0] == '/') {
		cJSON_AddStringToObject(p, "cwd", cwd);
	} else { /* Docker takes a relative WORKDIR from "/" */
		_cleanup_free_ char *abs = zl_xasprintf("/%s", cwd);
		cJSON_AddStringToObject(p, "cwd", abs);
	}

	cJSON *c = cJSON_AddObjectToObject(p, "capabilities");
	cJSON_AddItemToObject(c, "bounding", oci_caps_json(caps));
	cJSON_AddItemToObject(c, "effective", oci_caps_json(caps));
	cJSON_AddItemToObject(c, "permitted", oci_caps_json(caps));

	cJSON *rlimits = NULL;
	if (oci_rlimits_json(svc, &rlimits, err) < 0)
		return -1;
	cJSON_AddItemToObject(p, "rlimits", rlimits);
	if (sec->no_new_privileges)
		cJSON_AddBoolToObject(p, "noNewPrivileges", true);
	if (oci_oom_score_adj_json(svc->resources.oom_score_adj, p, err) < 0)
		return -1;
	*out = p;
	p = NULL;
	return 0;
}

/* ---- linux: namespaces, resources, devices, sysctls ---- */

static void add_ns(cJSON *arr, const char *type, const char *path)
{
	cJSON *ns = cJSON_CreateObject();
	cJSON_AddStringToObject(ns, "type", type);
	if (path)
		cJSON_AddStringToObject(ns, "path", path);
	cJSON_AddItemToArray(arr, ns);
}

static bool mode_is(const char *mode, const char *value)
{
	return mode && !strcmp(mode, value);
}

static int namespaces_json(const struct oci_bundle_input *in, cJSON *arr, struct zl_err *err)
{
	const struct spec_service *svc = in->rs->service;
	const char *why;
	if (!mode_is(svc->pid_mode, "host")) {
		if ((why = spec_ns_mode_problem("pid_mode", svc->pid_mode)))
			return zl_invalid(err, "pid_mode: \"%s\" is %s", svc->pid_mode, why);
		add_ns(arr, "pid", NULL);
	}
	if (!mode_is(svc->ipc_mode, "host")) {
		if ((why = spec_ns_mode_problem("ipc_mode", svc->ipc_mode)))
			return zl_invalid(err, "ipc_mode: \"%s\" is %s", svc->ipc_mode, why);
		add_ns(arr, "ipc", NULL);
	}
	if ((why = spec_ns_mode_problem("userns_mode", svc->userns_mode)))
		return zl_invalid(err, "userns_mode: \"%s\" is %s", svc->userns_mode, why);
	add_ns(arr, "uts", NULL);
	add_ns(arr, "mount", NULL);
	const char *net = svc->network_mode ? svc->network_mode : "default";
	if (!strcmp(net, "none")) {
		add_ns(arr, "network", NULL); /* only lo, never configured */
	} else if (strcmp(net, "host")) {
		if (!strncmp(net, "container:", 10) && !in->netns_path)
			return zl_fail(err, "network_mode: %s needs that container's network namespace", net);
		add_ns(arr, "network", in->netns_path);
	}
	add_ns(arr, "cgroup", NULL);
	return 0;
}

static int resources_json(const struct spec_service *svc, cJSON *res, struct zl_err *err)
{
	const struct spec_resources *r = &svc->resources;
	cJSON *mem = cJSON_CreateObject();
	cJSON_AddItemToObject(res, "memory", mem);
	/* The rules are validate's (spec/validate.c), so apply refused the
	 * spec before getting here; checked again for callers that did not
	 * validate. */
	char why[256];
	const char *key = spec_resources_problem(svc, why, sizeof(why));
	if (key)
		return zl_invalid(err, "resources.%s: %s", key, why);
	if (r->memory_bytes > 0)
		cJSON_AddItemToObject(mem, "limit", jint(r->memory_bytes));
	if (r->memory_reservation > 0)
		cJSON_AddItemToObject(mem, "reservation", jint(r->memory_reservation));
	if (r->memory_swap != 0)
		cJSON_AddItemToObject(mem, "swap", jint(r->memory_swap));
	if (r->memory_swappiness >= 0) {
		if (r->memory_swappiness > 100)
			return zl_invalid(err, "resources.memory_swappiness: %d is outside 0..100", r->memory_swappiness);
		cJSON_AddItemToObject(mem, "swappiness", juint((uint64_t)r->memory_swappiness));
	}
	if (r->oom_kill_disable)
		cJSON_AddBoolToObject(mem, "disableOOMKiller", true);

	cJSON *cpu = cJSON_CreateObject();
	cJSON_AddItemToObject(res, "cpu", cpu);
	if (r->cpu_millicores > 0) {
		/* A quota above the host's cpus * period is fine: cgroups cap it. */
		int64_t quota = r->cpu_millicores * (CPU_PERIOD / 1000);
		cJSON_AddItemToObject(cpu, "quota", jint(quota));
		cJSON_AddItemToObject(cpu, "period", juint(CPU_PERIOD));
	}
	if (r->cpu_shares) {
		if (r->cpu_shares < 2 || r->cpu_shares > 262144)
			return zl_invalid(err, "resources.cpu_shares: %" PRId64 " is outside 2..262144", r->cpu_shares);
		cJSON_AddItemToObject(cpu, "shares", juint((uint64_t)r->cpu_shares));
	}
	if (r->cpuset && *r->cpuset) {
		if (strspn(r->cpuset, "0123456789,-") != strlen(r->cpuset))
			return zl_invalid(err, "resources.cpuset: expected a cpu list such as 0-3,6, got \"%s\"", r->cpuset);
		cJSON_AddStringToObject(cpu, "cpus", r->cpuset);
	}

	/* -1 (and 0, unset) mean unlimited: no pids entry at all. */
	if (r->pids_limit < -1)
		return zl_invalid(err, "resources.pids_limit: %" PRId64 " is below 1", r->pids_limit);
	if (r->pids_limit > 0) {
		cJSON *pids = cJSON_AddObjectToObject(res, "pids");
		cJSON_AddItemToObject(pids, "limit", jint(r->pids_limit));
	}
	if (r->blkio_weight) {
		if (r->blkio_weight < 10 || r->blkio_weight > 1000)
			return zl_invalid(err, "resources.blkio_weight: %d is outside 10..1000", r->blkio_weight);
		cJSON *bio = cJSON_AddObjectToObject(res, "blockIO");
		cJSON_AddItemToObject(bio, "weight", juint((uint64_t)r->blkio_weight));
	}
	return 0;
}

/* A device cgroup rule; major/minor -1 = any. */
static void add_dev_rule(cJSON *arr, bool allow, const char *type, int64_t major, int64_t minor,
			 const char *access)
{
	cJSON *d = cJSON_CreateObject();
	cJSON_AddBoolToObject(d, "allow", allow);
	if (type)
		cJSON_AddStringToObject(d, "type", type);
	if (major >= 0)
		cJSON_AddItemToObject(d, "major", jint(major));
	if (minor >= 0)
		cJSON_AddItemToObject(d, "minor", jint(minor));
	cJSON_AddStringToObject(d, "access", access);
	cJSON_AddItemToArray(arr, d);
}

/* Docker's device cgroup: deny all, let mknod happen, allow the standard
 * character devices (the runtime creates their nodes), then the spec's. */
static int devices_json(const struct spec_service *svc, cJSON *linux_obj, cJSON *res,
			struct zl_err *err)
{
	cJSON *rules = cJSON_AddArrayToObject(res, "devices");
	if (svc->privileged) {
		add_dev_rule(rules, true, NULL, -1, -1, "rwm");
	} else {
		static const struct { int major, minor; } std[] = {
			{ 1, 3 } /* null */, { 1, 5 } /* zero */, { 1, 7 } /* full */,
			{ 1, 8 } /* random */, { 1, 9 } /* urandom */, { 5, 0 } /* tty */,
			{ 5, 1 } /* console */, { 5, 2 } /* ptmx */, { 136, -1 } /* pts */,
		};
		add_dev_rule(rules, false, NULL, -1, -1, "rwm");
		add_dev_rule(rules, true, "c", -1, -1, "m");
		add_dev_rule(rules, true, "b", -1, -1, "m");
		for (size_t i = 0; i < sizeof(std) / sizeof(std[0]); i++)
			add_dev_rule(rules, true, "c", std[i].major, std[i].minor, "rwm");
	}
	if (svc->device_count == 0)
		return 0;
	cJSON *nodes = cJSON_AddArrayToObject(linux_obj, "devices");
	for (size_t i = 0; i < svc->device_count; i++) {
		const struct spec_device *d = &svc->devices[i];
		struct stat sb;
		if (!d->path || stat(d->path, &sb) < 0)
			return zl_err_set(err, ZL_ERR_INPUT, d->path ? errno : 0, "devices[%zu]: device %s", i,
					  d->path ? d->path : "(no path)");
		if (!S_ISCHR(sb.st_mode) && !S_ISBLK(sb.st_mode))
			return zl_invalid(err, "devices[%zu]: %s is not a device", i, d->path);
		char access[4];
		size_t n = 0;
		if (d->read)
			access[n++] = 'r';
		if (d->write)
			access[n++] = 'w';
		if (d->mknod)
			access[n++] = 'm';
		access[n] = '\0';
		if (!n)
			return zl_invalid(err, "devices[%zu]: %s allows nothing (set read, write or mknod)", i, d->path);
		const char *type = S_ISCHR(sb.st_mode) ? "c" : "b";
		cJSON *node = cJSON_CreateObject();
		cJSON_AddStringToObject(node, "path", d->path);
		cJSON_AddStringToObject(node, "type", type);
		cJSON_AddItemToObject(node, "major", jint(major(sb.st_rdev)));
		cJSON_AddItemToObject(node, "minor", jint(minor(sb.st_rdev)));
		cJSON_AddItemToObject(node, "fileMode", juint(sb.st_mode & 07777));
		cJSON_AddItemToObject(node, "uid", juint(sb.st_uid));
		cJSON_AddItemToObject(node, "gid", juint(sb.st_gid));
		cJSON_AddItemToArray(nodes, node);
		add_dev_rule(rules, true, type, major(sb.st_rdev), minor(sb.st_rdev), access);
	}
	return 0;
}

/* Only namespaced sysctls can be set (Docker's list); net.* needs the
 * container's own network namespace and IPC ones its own IPC namespace. */
static int sysctls_json(const struct spec_service *svc, cJSON *linux_obj, struct zl_err *err)
{
	if (svc->sysctl_count == 0)
		return 0;
	cJSON *obj = cJSON_AddObjectToObject(linux_obj, "sysctl");
	for (size_t i = 0; i < svc->sysctl_count; i++) {
		const char *k = svc->sysctls[i].key;
		const char *why = spec_sysctl_problem(svc, k);
		if (why)
			return zl_invalid(err, "sysctls.%s: %s", k, why);
		cJSON_AddStringToObject(obj, k, svc->sysctls[i].value ? svc->sysctls[i].value : "");
	}
	return 0;
}

static int linux_json(const struct oci_bundle_input *in, const struct security *sec,
		      uint64_t caps, cJSON *lx, struct zl_err *err)
{
	const struct spec_service *svc = in->rs->service;
	if (namespaces_json(in, cJSON_AddArrayToObject(lx, "namespaces"), err) < 0)
		return -1;
	if (in->cgroups_path)
		cJSON_AddStringToObject(lx, "cgroupsPath", in->cgroups_path);
	cJSON *res = cJSON_AddObjectToObject(lx, "resources");
	if (resources_json(svc, res, err) < 0 || devices_json(svc, lx, res, err) < 0 ||
	    sysctls_json(svc, lx, err) < 0 ||
	    oci_seccomp_config(sec, svc->privileged, caps, lx, err) < 0)
		return -1;
	if (svc->privileged || sec->unconfined_paths)
		return 0;
	oci_confinement_json(lx);
	return 0;
}

/* ---- the config ---- */

/* in->hostname, else the spec's, else "<service>-rep-<index>" cut to the
 * kernel's 64 bytes by shortening the service part. */
static int pick_hostname(const struct oci_bundle_input *in, char **out, struct zl_err *err)
{
	const struct spec_service *svc = in->rs->service;
	const char *given = in->hostname ? in->hostname : svc->hostname;
	if (given) {
		const char *why = spec_hostname_problem(given);
		if (why)
			return zl_invalid(err, "hostname: %s, got \"%s\"", why, given);
		*out = zl_xstrdup(given);
		return 0;
	}
	char suffix[32];
	snprintf(suffix, sizeof(suffix), "-rep-%d", in->rs->index);
	size_t room = 63 - strlen(suffix);
	size_t len = strlen(svc->name);
	*out = zl_xasprintf("%.*s%s", (int)(len < room ? len : room), svc->name, suffix);
	return 0;
}

static int build_config(const struct oci_bundle_input *in, cJSON *root, struct zl_err *err)
{
	const struct backend_replica_spec *rs = in->rs;
	const struct spec_service *svc = rs->service;
	if (!in->rootfs || in->rootfs[0] != '/')
		return zl_fail(err, "the rootfs path must be absolute");
	_cleanup_cjson_ cJSON *image = NULL;
	const cJSON *cfg = NULL;
	if (proc_image_config_parse(rs->image_config, &image, &cfg, err) < 0)
		return -1;
	_cleanup_free_ char *hostname = NULL;
	struct security sec = { 0 };
	uint64_t caps = 0;
	if (pick_hostname(in, &hostname, err) < 0 || oci_security_parse(svc, &sec, err) < 0 ||
	    oci_compute_caps(svc, &caps, err) < 0)
		return -1;

	cJSON_AddStringToObject(root, "ociVersion", "1.0.2");
	cJSON *process = NULL;
	if (process_json(in, hostname, cfg, &sec, caps, &process, err) < 0)
		return -1;
	cJSON_AddItemToObject(root, "process", process);
	cJSON *r = cJSON_AddObjectToObject(root, "root");
	cJSON_AddStringToObject(r, "path", in->rootfs);
	cJSON_AddBoolToObject(r, "readonly", svc->read_only_root_fs);
	cJSON_AddStringToObject(root, "hostname", hostname);
	/* oci_mounts_json creates named volume directories, so everything that can
	 * still refuse the replica (resources, devices, sysctls, the seccomp
	 * profile) goes first. */
	cJSON *mounts = cJSON_AddArrayToObject(root, "mounts");
	if (linux_json(in, &sec, caps, cJSON_AddObjectToObject(root, "linux"), err) < 0)
		return -1;
	if (oci_mounts_json(in, mounts, err) < 0)
		return -1;
	if (svc->label_count) {
		cJSON *ann = cJSON_AddObjectToObject(root, "annotations");
		for (size_t i = 0; i < svc->label_count; i++)
			cJSON_AddStringToObject(ann, svc->labels[i].key,
						svc->labels[i].value ? svc->labels[i].value : "");
	}
	if (svc->resources.gpu_count > 0) /* accepted by the spec; no passthrough here yet */
		zl_log(ZL_LOG_WARN, "service %s: resources.gpu is ignored by the OCI backend", svc->name);
	return 0;
}

int oci_bundle_config(const struct oci_bundle_input *in, char **json, struct zl_err *err)
{
	*json = NULL;
	_cleanup_cjson_ cJSON *root = cJSON_CreateObject();
	if (build_config(in, root, err) < 0)
		return zl_err_prefix(err, "service %s", in->rs->service->name);
	*json = cJSON_Print(root);
	if (!*json)
		return zl_fail(err, "service %s: cannot print config.json", in->rs->service->name);
	return 0;
}
