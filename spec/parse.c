/* parse.c: a deployment document and its services' top-level keys.
 * The nested blocks (resources, scale, endpoints, storage, health, ...) are
 * in parse_blocks.c. Cross-service checks (depends) are in validate.c. */
#include "spec-internal.h"

#include <string.h>
#include <time.h>

#define SVC(obj) ((struct spec_service *)(obj))

static void f_rtype(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const char *const names[] = { "service", "job", "cron", NULL };
	int v;
	if (get_enum(c, n, names, &v))
		SVC(obj)->rtype = (enum spec_rtype)v;
}

static void f_schedule(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct spec_service *svc = obj;
	if (!get_str(c, n, &svc->schedule))
		return;
	struct zl_err err = ZL_ERR_INIT;
	if (spec_parse_cron(svc->schedule, &svc->cron, &err) < 0)
		perr(c, n, "%s", err.msg);
	else if (spec_cron_next(&svc->cron, (int64_t)time(NULL)) < 0)
		perr(c, n, "schedule \"%s\" never fires (no such date in the next years)", svc->schedule);
}

static void image_name(struct pctx *c, yaml_node_t *n, struct spec_service *svc)
{
	if (!get_str(c, n, &svc->image))
		return;
	const char *why = image_ref_problem(svc->image);
	if (why)
		perr(c, n, "invalid image reference \"%s\": %s", svc->image, why);
}

static void f_image_name(struct pctx *c, yaml_node_t *n, void *obj) { image_name(c, n, obj); }

static void f_pull_policy(struct pctx *c, yaml_node_t *n, void *obj)
{
	/* Same order as enum spec_pull_policy. */
	static const char *const names[] = { "if_not_present", "always", "newer", "never", NULL };
	int v;
	if (get_enum(c, n, names, &v))
		SVC(obj)->pull_policy = (enum spec_pull_policy)v;
}

static void f_source_policy(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const char *const names[] = { "local_first", "s3_first", "remote_only", "local_only", NULL };
	int v;
	if (get_enum(c, n, names, &v))
		get_str(c, n, &SVC(obj)->source_policy);
}

static void f_image(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "name", f_image_name },
		{ "pull_policy", f_pull_policy },
		{ "source_policy", f_source_policy },
	};
	/* "image: nginx:1.25" is accepted as shorthand for image.name. */
	if (n->type == YAML_SCALAR_NODE) {
		image_name(c, n, obj);
		return;
	}
	if (WALK(c, n, fields, NULL, obj) && !map_get(c, n, "name"))
		missing_key(c, n, "name", NULL);
}

static void f_entrypoint(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct spec_service *svc = obj;
	svc->has_entrypoint = get_strv(c, n, &svc->entrypoint);
}

static void f_args(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct spec_service *svc = obj;
	svc->has_args = get_strv(c, n, &svc->args);
}

static void f_workdir(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct spec_service *svc = obj;
	if (get_str(c, n, &svc->workdir) && svc->workdir[0] != '/')
		perr(c, n, "expected an absolute path, got \"%s\"", svc->workdir);
}

static void f_command(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "entrypoint", f_entrypoint },
		{ "args", f_args },
		{ "workdir", f_workdir },
	};
	/* Decision 4: a list is shorthand for command.args. */
	if (n->type == YAML_SEQUENCE_NODE) {
		f_args(c, n, obj);
		return;
	}
	if (n->type != YAML_MAPPING_NODE) {
		perr(c, n, "expected a list (the args) or a mapping {entrypoint, args, workdir}, got %s",
		     node_kind(n));
		return;
	}
	WALK(c, n, fields, NULL, obj);
}

/* The pair of key in env mapping n (its first occurrence), through an index
 * built on first use: a mapping of many bad entries stays linear. */
static yaml_node_pair_t *env_pair(struct pctx *c, yaml_node_t *n, struct str_index *keys, const char *key)
{
	yaml_node_pair_t *pairs = n->data.mapping.pairs.start;
	if (!keys->count)
		for (size_t i = 0; pairs + i < n->data.mapping.pairs.top; i++) {
			const char *k = node_scalar(ynode(c, pairs[i].key));
			if (k)
				str_index_first(keys, k, i);
		}
	size_t i = str_index_get(keys, key);
	return i == SIZE_MAX ? NULL : &pairs[i];
}

/* "$E:VAR", "$S:name", "$secret://name" must name something; a secret name
 * is a file name under the secrets directory, so no '/' and no dot-files. */
static void check_env_ref(struct pctx *c, yaml_node_t *map, struct str_index *keys, const struct spec_kv *kv)
{
	const char *v = kv->value, *name = NULL, *what = NULL;
	if (!strncmp(v, "$E:", 3))
		name = v + 3, what = "environment variable";
	else if (!strncmp(v, "$S:", 3))
		name = v + 3, what = "secret";
	else if (!strncmp(v, "$secret://", 10))
		name = v + 10, what = "secret";
	if (!name)
		return;
	bool bad = !*name || strchr(name, ' ');
	if (what[0] == 's')
		bad = bad || strchr(name, '/') || name[0] == '.';
	if (!bad)
		return;
	size_t old = path_push_key(c, kv->key);
	yaml_node_pair_t *p = env_pair(c, map, keys, kv->key);
	yaml_node_t *k = p ? ynode(c, p->value) : NULL;
	perr(c, k ? k : map, "invalid %s name \"%s\"", what, name);
	path_pop(c, old);
}

static void f_env(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct spec_service *svc = obj;
	if (!get_kv_map(c, n, &svc->env, &svc->env_count))
		return;
	struct str_index keys = { 0 };
	for (size_t i = 0; i < svc->env_count; i++) {
		if (strchr(svc->env[i].key, '=')) {
			size_t old = path_push_key(c, svc->env[i].key);
			yaml_node_pair_t *p = env_pair(c, n, &keys, svc->env[i].key);
			perr(c, p ? ynode(c, p->key) : NULL, "environment variable names cannot contain '='");
			path_pop(c, old);
		}
		check_env_ref(c, n, &keys, &svc->env[i]);
	}
	str_index_free(&keys);
}

static void f_stop_signal(struct pctx *c, yaml_node_t *n, void *obj)
{
	const char *s;
	struct zl_err err = ZL_ERR_INIT;
	if (!get_text(c, n, &s))
		return;
	if (spec_parse_signal(s, &SVC(obj)->stop_signal, &err) < 0)
		perr(c, n, "%s", err.msg);
	else
		SVC(obj)->stop_signal_set = true;
}

static void f_stop_grace(struct pctx *c, yaml_node_t *n, void *obj)
{
	get_duration(c, n, &SVC(obj)->stop_grace_ms);
}

static void f_delete_on_exit(struct pctx *c, yaml_node_t *n, void *obj)
{
	get_bool(c, n, &SVC(obj)->delete_on_exit);
}

static void f_lifecycle(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = { { "delete_on_exit", f_delete_on_exit } };
	WALK(c, n, fields, NULL, obj);
}

static void f_network_mode(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct spec_service *svc = obj;
	const char *s;
	if (!get_text(c, n, &s))
		return;
	bool ok = !strcmp(s, "default") || !strcmp(s, "host") || !strcmp(s, "none") ||
		  !strcmp(s, "bridge") || (!strncmp(s, "bridge:", 7) && s[7]) ||
		  (!strncmp(s, "container:", 10) && s[10]);
	if (!ok) {
		perr(c, n, "expected default|host|none|bridge|bridge:<name>|container:<id>, got \"%s\"", s);
		return;
	}
	free(svc->network_mode);
	svc->network_mode = zl_xstrdup(s);
}

static void f_isolation(struct pctx *c, yaml_node_t *n, void *obj)
{
	const char *s;
	if (!get_text(c, n, &s))
		return;
	if (!strcmp(s, "process") || !strcmp(s, "default"))
		SVC(obj)->isolation = SPEC_ISOLATION_PROCESS;
	else if (!strcmp(s, "vm") || !strcmp(s, "hyperv"))
		SVC(obj)->isolation = SPEC_ISOLATION_VM;
	else
		perr(c, n, "expected process|vm (hyperv, ZLayer's Windows word, means vm), got \"%s\"", s);
}

static void f_host_network(struct pctx *c, yaml_node_t *n, void *obj)
{
	bool on = false;
	/* A conflicting network_mode is reported by parse_service. */
	if (get_bool(c, n, &on) && on) {
		free(SVC(obj)->network_mode);
		SVC(obj)->network_mode = zl_xstrdup("host");
	}
}

#define STR_FIELD(fn, member) \
	static void fn(struct pctx *c, yaml_node_t *n, void *obj) { get_str(c, n, &SVC(obj)->member); }
#define BOOL_FIELD(fn, member) \
	static void fn(struct pctx *c, yaml_node_t *n, void *obj) { get_bool(c, n, &SVC(obj)->member); }
#define STRV_FIELD(fn, member) \
	static void fn(struct pctx *c, yaml_node_t *n, void *obj) { get_strv(c, n, &SVC(obj)->member); }

static void f_hostname(struct pctx *c, yaml_node_t *n, void *obj)
{
	const char *why;
	if (get_str(c, n, &SVC(obj)->hostname) && (why = spec_hostname_problem(SVC(obj)->hostname)))
		perr(c, n, "%s, got \"%s\"", why, SVC(obj)->hostname);
}

static void f_user(struct pctx *c, yaml_node_t *n, void *obj)
{
	const char *why;
	if (get_str(c, n, &SVC(obj)->user) && (why = spec_user_problem(SVC(obj)->user)))
		perr(c, n, "%s, got \"%s\"", why, SVC(obj)->user);
}

#define MODE_FIELD(fn, member) \
	static void fn(struct pctx *c, yaml_node_t *n, void *obj) \
	{ \
		const char *why; \
		if (get_str(c, n, &SVC(obj)->member) && (why = spec_ns_mode_problem(#member, SVC(obj)->member))) \
			perr(c, n, "\"%s\" is %s", SVC(obj)->member, why); \
	}
MODE_FIELD(f_pid_mode, pid_mode)
MODE_FIELD(f_ipc_mode, ipc_mode)
MODE_FIELD(f_userns_mode, userns_mode)
BOOL_FIELD(f_privileged, privileged)
BOOL_FIELD(f_read_only_root_fs, read_only_root_fs)
BOOL_FIELD(f_tty, tty)
BOOL_FIELD(f_stdin_open, stdin_open)
BOOL_FIELD(f_init_container, init_container)
STRV_FIELD(f_dns, dns)
STRV_FIELD(f_cap_drop, cap_drop)
STRV_FIELD(f_security_opt, security_opt)
STRV_FIELD(f_extra_groups, extra_groups)

static void f_extra_hosts(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct spec_service *svc = obj;
	if (!get_strv(c, n, &svc->extra_hosts))
		return;
	for (size_t i = 0; i < svc->extra_hosts.count; i++) {
		const char *colon = strchr(svc->extra_hosts.items[i], ':');
		if (!colon || colon == svc->extra_hosts.items[i] || !colon[1]) {
			size_t old = path_push_index(c, i);
			perr(c, ynode(c, n->data.sequence.items.start[i]),
			     "expected \"host:ip\", got \"%s\"", svc->extra_hosts.items[i]);
			path_pop(c, old);
		}
	}
}

/* A cgroupfs path the replica's cgroup goes under (Docker's
 * --cgroup-parent with the cgroupfs driver): "/parent/child" or
 * "parent/child", each part [A-Za-z0-9_.-] and not "." or "..". */
static void f_cgroup_parent(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct spec_service *svc = obj;
	if (!get_str(c, n, &svc->cgroup_parent))
		return;
	const char *p = svc->cgroup_parent;
	bool ok = *p != '\0';
	while (ok && *p) {
		while (*p == '/')
			p++;
		size_t len = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-");
		if (p[len] != '/' && p[len] != '\0')
			ok = false;
		else if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
			ok = false;
		p += len;
	}
	if (ok && strstr(svc->cgroup_parent, ".slice"))
		ok = false; /* a systemd slice: only the cgroupfs form is supported */
	if (!ok)
		perr(c, n, "expected a cgroup path like \"/apps/shop\" (parts of [A-Za-z0-9_.-], "
			   "no \"..\", no systemd .slice), got \"%s\"", svc->cgroup_parent);
}

/* capabilities and cap_add are aliases: both lists are kept. */
static void f_cap_add(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct spec_service *svc = obj;
	struct spec_strv more = { 0 };
	if (get_strv(c, n, &more)) {
		svc->cap_add.items = zl_xrealloc(svc->cap_add.items,
						 (svc->cap_add.count + more.count + 1) * sizeof(char *));
		for (size_t i = 0; i < more.count; i++)
			svc->cap_add.items[svc->cap_add.count++] = more.items[i];
		svc->cap_add.items[svc->cap_add.count] = NULL;
		more.count = 0;
	}
	spec_strv_free(&more);
}

static void f_sysctls(struct pctx *c, yaml_node_t *n, void *obj)
{
	get_kv_map(c, n, &SVC(obj)->sysctls, &SVC(obj)->sysctl_count);
}

static void f_labels(struct pctx *c, yaml_node_t *n, void *obj)
{
	get_kv_map(c, n, &SVC(obj)->labels, &SVC(obj)->label_count);
}

/* Cluster keys: one host ignores them, so only their YAML shape is
 * checked, loosely (their inner keys are not ours to judge). */
static void f_any(struct pctx *c, yaml_node_t *n, void *obj) { check_any(c, n, 0); }

static void f_any_map(struct pctx *c, yaml_node_t *n, void *obj)
{
	if (n->type != YAML_MAPPING_NODE)
		perr(c, n, "expected a mapping, got %s", node_kind(n));
	else
		check_any(c, n, 0);
}

static void f_any_scalar(struct pctx *c, yaml_node_t *n, void *obj)
{
	const char *s;
	get_text(c, n, &s);
}

static const struct field service_fields[] = {
	{ "rtype", f_rtype },
	{ "schedule", f_schedule },
	{ "image", f_image },
	{ "command", f_command },
	{ "env", f_env },
	{ "resources", f_resources },
	{ "scale", f_scale },
	{ "endpoints", f_endpoints },
	{ "port_mappings", f_port_mappings },
	{ "storage", f_storage },
	{ "health", f_health },
	{ "rollout", f_rollout }, /* zlapply's own block */
	{ "depends", f_depends },
	{ "init", f_init },
	{ "errors", f_errors },
	{ "restart_policy", f_restart_policy },
	{ "stop_signal", f_stop_signal },
	{ "stop_grace_period", f_stop_grace },
	{ "lifecycle", f_lifecycle },
	{ "network_mode", f_network_mode },
	{ "host_network", f_host_network },
	{ "hostname", f_hostname },
	{ "dns", f_dns },
	{ "extra_hosts", f_extra_hosts },
	{ "user", f_user },
	{ "privileged", f_privileged },
	{ "capabilities", f_cap_add },
	{ "cap_add", f_cap_add },
	{ "cap_drop", f_cap_drop },
	{ "devices", f_devices },
	{ "read_only_root_fs", f_read_only_root_fs },
	{ "sysctls", f_sysctls },
	{ "ulimits", f_ulimits },
	{ "labels", f_labels },
	{ "tty", f_tty },
	{ "security_opt", f_security_opt },
	{ "cgroup_parent", f_cgroup_parent },
	{ "init_container", f_init_container },
	{ "stdin_open", f_stdin_open },
	{ "pid_mode", f_pid_mode },
	{ "ipc_mode", f_ipc_mode },
	{ "userns_mode", f_userns_mode },
	{ "extra_groups", f_extra_groups },
	{ "network", f_any_map },
	{ "overlay", f_any },
	{ "node_mode", f_any_scalar },
	{ "node_selector", f_any_map },
	{ "affinity", f_any },
	{ "platform", f_any },
	{ "replica_groups", f_any },
	{ "service_type", f_service_type },
	{ "wasm", f_wasm },
	{ "wasm_http", f_wasm }, /* ZLayer's older name of the wasm block */
	{ "logs", f_any_map },
	{ "isolation", f_isolation },
	{ "localhost_reachability", f_any },
	{ "expose", f_any },
};

/* Keys of other formats (Compose, Kubernetes, older ZLayer) people bring. */
static const struct key_hint service_hints[] = {
	{ "volumes", "use \"storage\": a list of {type: bind|named|anonymous|tmpfs|s3, target, ...}" },
	{ "depends_on", "the key is \"depends\": a list of {service, condition, timeout, on_timeout}" },
	{ "runtime", "WASM settings go under \"wasm\"; the runtime follows from the image" },
	{ "ports", "use \"endpoints\" or \"port_mappings\"" },
	{ "environment", "use \"env\"" },
	{ "healthcheck", "use \"health\"" },
	{ "restart", "use \"restart_policy: {kind: ...}\"" },
	{ "entrypoint", "use \"command: {entrypoint: [...]}\"" },
	{ "replicas", "use \"scale: {mode: fixed, replicas: N}\"" },
	{ "working_dir", "use \"command: {workdir: ...}\"" },
	{ "networks", "use \"network_mode\"" },
	{ NULL, NULL },
};

void parse_service(struct pctx *c, yaml_node_t *n, struct spec_service *svc)
{
	if (!WALK(c, n, service_fields, service_hints, svc))
		return;
	if (!map_get(c, n, "image"))
		missing_key(c, n, "image", NULL);
	yaml_node_t *sched = map_get(c, n, "schedule");
	if (svc->rtype == SPEC_RTYPE_CRON && !sched) {
		missing_key(c, n, "schedule", "(rtype is cron)");
	} else if (svc->rtype != SPEC_RTYPE_CRON && sched) {
		size_t old = path_push_key(c, "schedule");
		perr(c, sched, "schedule only applies to rtype: cron (rtype is %s)",
		     svc->rtype == SPEC_RTYPE_JOB ? "job" : "service");
		path_pop(c, old);
	}
	yaml_node_t *mode = map_get(c, n, "network_mode");
	yaml_node_t *hn = map_get(c, n, "host_network");
	const char *mode_text = node_scalar(mode);
	if (hn && mode_text && node_is_plain(hn) && (node_scalar(hn)[0] | 0x20) == 't' &&
	    strcmp(mode_text, "host")) {
		size_t old = path_push_key(c, "host_network");
		perr(c, hn, "host_network: true conflicts with network_mode \"%s\"", mode_text);
		path_pop(c, old);
	}
	validate_service_wasm(c, n, svc);
	validate_service_isolation(c, n, svc);
	validate_service_rules(c, n, svc);
}

static void f_version(struct pctx *c, yaml_node_t *n, void *obj)
{
	const char *s;
	if (get_text(c, n, &s) && strcmp(s, "v1"))
		perr(c, n, "expected \"v1\", got \"%s\"", s);
}

static void f_deployment(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct spec_deployment *dep = obj;
	if (!get_str(c, n, &dep->name))
		return;
	if (!deployment_name_ok(dep->name))
		perr(c, n, "expected 3..63 characters of [A-Za-z0-9-] starting with a letter or digit, got \"%s\"",
		     dep->name);
}

static void f_services(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct spec_deployment *dep = obj;
	if (n->type != YAML_MAPPING_NODE) {
		perr(c, n, "expected a mapping of service names to services, got %s", node_kind(n));
		return;
	}
	size_t count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	dep->services = zl_xcalloc(count + 1, sizeof(*dep->services));
	/* Duplicate and non-string keys are reported here and skipped. */
	bool *seen_dup = map_skips(c, n);
	for (size_t i = 0; i < count; i++) {
		if (seen_dup[i])
			continue;
		yaml_node_pair_t *p = &n->data.mapping.pairs.start[i];
		yaml_node_t *k = ynode(c, p->key), *v = ynode(c, p->value);
		const char *name = node_scalar(k);
		size_t old = path_push_key(c, name);
		if (!service_name_ok(name))
			perr(c, k, "invalid service name \"%s\": expected 1..63 characters of [a-z0-9-], starting and ending with a letter or digit",
			     name);
		struct spec_service *svc = &dep->services[dep->service_count++];
		spec_service_init(svc);
		svc->name = zl_xstrdup(name);
		svc->line = node_line(k);
		svc->col = node_col(k);
		if (!v || node_is_null(v))
			perr(c, v ? v : k, "expected a service mapping (at least \"image\"), got null");
		else
			parse_service(c, v, svc);
		path_pop(c, old);
	}
	free(seen_dup);
}

static void f_ignored(struct pctx *c, yaml_node_t *n, void *obj)
{
	if (n->type != YAML_MAPPING_NODE) {
		perr(c, n, "expected a mapping, got %s", node_kind(n));
		return;
	}
	pnote(c, n, "ignored: a cluster setting with no meaning on a single host");
	check_any(c, n, 0);
}

void parse_deployment(struct pctx *c, yaml_node_t *root, struct spec_deployment *dep)
{
	static const struct field fields[] = {
		{ "version", f_version },
		{ "deployment", f_deployment },
		{ "services", f_services },
		{ "externals", f_ignored },
		{ "tunnels", f_ignored },
		{ "api", f_ignored },
	};
	static const struct key_hint hints[] = {
		{ "name", "the deployment's name goes in \"deployment\"" },
		{ NULL, NULL },
	};
	if (root->type != YAML_MAPPING_NODE) {
		perr(c, root, "expected a deployment (a mapping with version, deployment and services), got %s",
		     node_kind(root));
		return;
	}
	WALK(c, root, fields, hints, dep);
	if (!map_get(c, root, "version"))
		missing_key(c, root, "version", "(expected \"v1\")");
	if (!map_get(c, root, "deployment"))
		missing_key(c, root, "deployment", NULL);
}
