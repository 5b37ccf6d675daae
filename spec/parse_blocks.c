/* parse_blocks.c: the nested blocks of a service (resources, scale,
 * endpoints, port_mappings, storage, health, depends, init, errors,
 * restart_policy, devices, ulimits). Each handler fills its part of struct
 * spec_service with defaults already applied (spec_service_init) and checks
 * the rules of docs/spec-reference.md that concern the block alone. */
#include "spec-internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <string.h>

#define SVC(obj) ((struct spec_service *)(obj))

static size_t seq_len(yaml_node_t *n)
{
	return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

static bool abs_path(struct pctx *c, yaml_node_t *n, char **out)
{
	if (!get_str(c, n, out))
		return false;
	if ((*out)[0] != '/') {
		perr(c, n, "expected an absolute path, got \"%s\"", *out);
		return false;
	}
	return true;
}

/* ---- resources ---- */
#define RES(obj) ((struct spec_resources *)(obj))

static void r_cpu(struct pctx *c, yaml_node_t *n, void *obj)
{
	const char *s;
	struct zl_err err = ZL_ERR_INIT;
	if (get_text(c, n, &s) && spec_parse_cpu(s, !node_is_plain(n), &RES(obj)->cpu_millicores, &err) < 0)
		perr(c, n, "%s", err.msg);
}

static void r_memory(struct pctx *c, yaml_node_t *n, void *obj) { get_memory(c, n, &RES(obj)->memory_bytes); }
static void r_memory_reservation(struct pctx *c, yaml_node_t *n, void *obj)
{
	get_memory(c, n, &RES(obj)->memory_reservation);
}

static void r_memory_swap(struct pctx *c, yaml_node_t *n, void *obj)
{
	/* -1 is Docker's "unlimited swap"; anything else is a memory size. */
	if (node_is_plain(n) && !strcmp(node_scalar(n), "-1"))
		RES(obj)->memory_swap = -1;
	else
		get_memory(c, n, &RES(obj)->memory_swap);
}

static void r_pids_limit(struct pctx *c, yaml_node_t *n, void *obj)
{
	int64_t v;
	if (!get_int(c, n, -1, INT_MAX, &v))
		return;
	if (v == 0)
		perr(c, n, "expected a positive limit or -1 (unlimited), got 0");
	else
		RES(obj)->pids_limit = v;
}

static void r_cpuset(struct pctx *c, yaml_node_t *n, void *obj)
{
	char **cpuset = &RES(obj)->cpuset;
	if (!get_str(c, n, cpuset))
		return;
	const char *s = *cpuset;
	bool ok = *s && strspn(s, "0123456789,-") == strlen(s) && s[0] != ',' && s[0] != '-' &&
		  !strstr(s, ",,") && !strstr(s, "--") && !strchr(",-", s[strlen(s) - 1]);
	if (!ok)
		perr(c, n, "expected a cpu list such as \"0-3,6\", got \"%s\"", s);
}

static void r_cpu_shares(struct pctx *c, yaml_node_t *n, void *obj) { get_int(c, n, 2, 262144, &RES(obj)->cpu_shares); }
static void r_swappiness(struct pctx *c, yaml_node_t *n, void *obj) { get_int32(c, n, 0, 100, &RES(obj)->memory_swappiness); }
static void r_oom_score_adj(struct pctx *c, yaml_node_t *n, void *obj) { get_int32(c, n, -1000, 1000, &RES(obj)->oom_score_adj); }
static void r_oom_kill_disable(struct pctx *c, yaml_node_t *n, void *obj) { get_bool(c, n, &RES(obj)->oom_kill_disable); }
static void r_blkio_weight(struct pctx *c, yaml_node_t *n, void *obj) { get_int32(c, n, 10, 1000, &RES(obj)->blkio_weight); }
static void g_count(struct pctx *c, yaml_node_t *n, void *obj) { get_int32(c, n, 0, 1024, &RES(obj)->gpu_count); }
static void g_vendor(struct pctx *c, yaml_node_t *n, void *obj) { get_str(c, n, &RES(obj)->gpu_vendor); }

static void r_gpu(struct pctx *c, yaml_node_t *n, void *obj)
{
	if (n->type != YAML_MAPPING_NODE) {
		perr(c, n, "expected a mapping {count, vendor, ...}, got %s", node_kind(n));
		return;
	}
	/* Only count and vendor matter here; other GPU keys (mode, ...) are
	 * scheduler hints of ZLayer and are accepted as they are. */
	bool *skip = map_skips(c, n);
	size_t i = 0;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++, i++) {
		yaml_node_t *v = ynode(c, p->value);
		const char *key = node_scalar(ynode(c, p->key));
		if (skip[i] || node_is_null(v))
			continue;
		size_t old = path_push_key(c, key);
		if (!strcmp(key, "count"))
			g_count(c, v, obj);
		else if (!strcmp(key, "vendor"))
			g_vendor(c, v, obj);
		else
			check_any(c, v, 0);
		path_pop(c, old);
	}
	free(skip);
}

void f_resources(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "cpu", r_cpu },
		{ "memory", r_memory },
		{ "pids_limit", r_pids_limit },
		{ "cpuset", r_cpuset },
		{ "cpu_shares", r_cpu_shares },
		{ "memory_swap", r_memory_swap },
		{ "memory_reservation", r_memory_reservation },
		{ "memory_swappiness", r_swappiness },
		{ "oom_score_adj", r_oom_score_adj },
		{ "oom_kill_disable", r_oom_kill_disable },
		{ "blkio_weight", r_blkio_weight },
		{ "gpu", r_gpu },
	};
	WALK(c, n, fields, NULL, &SVC(obj)->resources);
}

/* ---- scale ---- */
#define SCALE(obj) ((struct spec_scale *)(obj))

static void s_mode(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const char *const names[] = { "adaptive", "fixed", "manual", NULL };
	int v;
	if (get_enum(c, n, names, &v))
		SCALE(obj)->mode = (enum spec_scale_mode)v;
}

static void s_replicas(struct pctx *c, yaml_node_t *n, void *obj) { get_int32(c, n, 0, 100000, &SCALE(obj)->replicas); }
static void s_min(struct pctx *c, yaml_node_t *n, void *obj) { get_int32(c, n, 0, 100000, &SCALE(obj)->min); }
static void s_max(struct pctx *c, yaml_node_t *n, void *obj) { get_int32(c, n, 1, 100000, &SCALE(obj)->max); }
static void s_cooldown(struct pctx *c, yaml_node_t *n, void *obj) { get_duration(c, n, &SCALE(obj)->cooldown_ms); }

static void t_percent(struct pctx *c, yaml_node_t *n, void *obj)
{
	int v;
	get_int32(c, n, 1, 100, &v);
}

static void t_rps(struct pctx *c, yaml_node_t *n, void *obj)
{
	int64_t v;
	get_int(c, n, 1, INT64_MAX, &v);
}

static void s_targets(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "cpu", t_percent }, { "memory", t_percent }, { "rps", t_rps },
	};
	WALK(c, n, fields, NULL, obj);
}

void f_scale(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "mode", s_mode }, { "replicas", s_replicas }, { "min", s_min },
		{ "max", s_max }, { "cooldown", s_cooldown }, { "targets", s_targets },
	};
	static const char *const fixed_keys[] = { "mode", "replicas", NULL };
	static const char *const adaptive_keys[] = { "mode", "min", "max", "cooldown", "targets", NULL };
	static const char *const manual_keys[] = { "mode", NULL };
	struct spec_scale *scale = &SVC(obj)->scale;
	if (!WALK(c, n, fields, NULL, scale))
		return;
	if (!map_get(c, n, "mode")) {
		missing_key(c, n, "mode", "(fixed, adaptive or manual)");
		return;
	}
	switch (scale->mode) {
	case SPEC_SCALE_FIXED:
		reject_keys(c, n, fixed_keys, "mode fixed");
		if (!map_get(c, n, "replicas"))
			missing_key(c, n, "replicas", "(mode is fixed)");
		break;
	case SPEC_SCALE_ADAPTIVE:
		reject_keys(c, n, adaptive_keys, "mode adaptive");
		if (scale->min > scale->max)
			perr(c, map_get(c, n, "min") ? map_get(c, n, "min") : n,
			     "min (%d) is greater than max (%d)", scale->min, scale->max);
		break;
	case SPEC_SCALE_MANUAL:
		reject_keys(c, n, manual_keys, "mode manual");
		break;
	}
}

/* ---- endpoints and port mappings ---- */
#define EP(obj) ((struct spec_endpoint *)(obj))

static void e_name(struct pctx *c, yaml_node_t *n, void *obj) { get_str(c, n, &EP(obj)->name); }
static void e_protocol(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const char *const names[] = { "http", "https", "tcp", "udp", "websocket", NULL };
	int v;
	if (get_enum(c, n, names, &v))
		get_str(c, n, &EP(obj)->protocol);
}
static void e_port(struct pctx *c, yaml_node_t *n, void *obj) { get_int32(c, n, 1, 65535, &EP(obj)->port); }
static void e_target_port(struct pctx *c, yaml_node_t *n, void *obj) { get_int32(c, n, 1, 65535, &EP(obj)->target_port); }
static void e_path(struct pctx *c, yaml_node_t *n, void *obj) { get_str(c, n, &EP(obj)->path); }
static void e_host(struct pctx *c, yaml_node_t *n, void *obj) { get_str(c, n, &EP(obj)->host); }
static void e_expose(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const char *const names[] = { "internal", "public", NULL };
	int v;
	if (get_enum(c, n, names, &v))
		EP(obj)->expose = (enum spec_expose)v;
}
static void e_any(struct pctx *c, yaml_node_t *n, void *obj) { check_any(c, n, 0); }

void f_endpoints(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "name", e_name }, { "protocol", e_protocol }, { "port", e_port },
		{ "target_port", e_target_port }, { "path", e_path }, { "host", e_host },
		{ "expose", e_expose }, { "stream", e_any }, { "target_role", e_any },
		{ "tunnel", e_any },
	};
	struct spec_service *svc = obj;
	if (!expect_seq(c, n))
		return;
	size_t count = seq_len(n);
	svc->endpoints = zl_xcalloc(count + 1, sizeof(*svc->endpoints));
	struct str_index names = { 0 };
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *item = ynode(c, n->data.sequence.items.start[i]);
		size_t old = path_push_index(c, i);
		struct spec_endpoint *e = &svc->endpoints[svc->endpoint_count++];
		if (WALK(c, item, fields, NULL, e)) {
			yaml_node_t *name = map_get(c, item, "name");
			if (!name)
				missing_key(c, item, "name", NULL);
			if (!map_get(c, item, "protocol"))
				missing_key(c, item, "protocol", "(http|https|tcp|udp|websocket)");
			if (!map_get(c, item, "port"))
				missing_key(c, item, "port", NULL);
			if (e->name && !e->name[0]) {
				size_t o2 = path_push_key(c, "name");
				perr(c, name, "endpoint name is empty");
				path_pop(c, o2);
			}
			size_t j = e->name && e->name[0] ? str_index_first(&names, e->name, i) : SIZE_MAX;
			if (j != SIZE_MAX) {
				size_t o2 = path_push_key(c, "name");
				perr(c, name, "duplicate endpoint name \"%s\" (also endpoints[%zu])", e->name, j);
				path_pop(c, o2);
			}
		}
		if (!e->target_port)
			e->target_port = e->port;
		path_pop(c, old);
	}
	str_index_free(&names);
}

#define PM(obj) ((struct spec_port_mapping *)(obj))
static void pm_host_port(struct pctx *c, yaml_node_t *n, void *obj) { get_int32(c, n, 0, 65535, &PM(obj)->host_port); }
static void pm_container_port(struct pctx *c, yaml_node_t *n, void *obj) { get_int32(c, n, 1, 65535, &PM(obj)->container_port); }
static void pm_protocol(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const char *const names[] = { "tcp", "udp", NULL };
	int v;
	if (get_enum(c, n, names, &v))
		get_str(c, n, &PM(obj)->protocol);
}
static void pm_host_ip(struct pctx *c, yaml_node_t *n, void *obj)
{
	unsigned char addr[16];
	if (!get_str(c, n, &PM(obj)->host_ip))
		return;
	if (inet_pton(AF_INET, PM(obj)->host_ip, addr) != 1 && inet_pton(AF_INET6, PM(obj)->host_ip, addr) != 1)
		perr(c, n, "expected an IP address, got \"%s\"", PM(obj)->host_ip);
}

void f_port_mappings(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "host_port", pm_host_port }, { "container_port", pm_container_port },
		{ "protocol", pm_protocol }, { "host_ip", pm_host_ip },
	};
	struct spec_service *svc = obj;
	if (!expect_seq(c, n))
		return;
	size_t count = seq_len(n);
	svc->port_mappings = zl_xcalloc(count + 1, sizeof(*svc->port_mappings));
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *item = ynode(c, n->data.sequence.items.start[i]);
		size_t old = path_push_index(c, i);
		struct spec_port_mapping *pm = &svc->port_mappings[svc->port_mapping_count++];
		if (WALK(c, item, fields, NULL, pm) && !map_get(c, item, "container_port"))
			missing_key(c, item, "container_port", NULL);
		if (!pm->protocol)
			pm->protocol = zl_xstrdup("tcp");
		if (!pm->host_ip)
			pm->host_ip = zl_xstrdup("0.0.0.0");
		path_pop(c, old);
	}
}

/* ---- storage ---- */
#define ST(obj) ((struct spec_storage *)(obj))

static void st_type(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const char *const names[] = { "bind", "named", "anonymous", "tmpfs", "s3", NULL };
	int v;
	if (get_enum(c, n, names, &v))
		ST(obj)->type = (enum spec_storage_type)v;
}
static void st_source(struct pctx *c, yaml_node_t *n, void *obj) { get_str(c, n, &ST(obj)->source); }
static void st_name(struct pctx *c, yaml_node_t *n, void *obj)
{
	char **name = &ST(obj)->name;
	if (!get_str(c, n, name))
		return;
	/* The name becomes a directory under the deployment's volumes. */
	const char *s = *name;
	if (!*s || s[0] == '.' || strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != strlen(s))
		perr(c, n, "expected a volume name of [A-Za-z0-9_.-] not starting with '.', got \"%s\"", s);
}
static void st_target(struct pctx *c, yaml_node_t *n, void *obj)
{
	if (abs_path(c, n, &ST(obj)->target) && !spec_container_path_ok(ST(obj)->target))
		perr(c, n, "expected an absolute path other than / without . or .. components, got \"%s\"",
		     ST(obj)->target);
}
static void st_readonly(struct pctx *c, yaml_node_t *n, void *obj) { get_bool(c, n, &ST(obj)->readonly); }
static void st_nocopy(struct pctx *c, yaml_node_t *n, void *obj) { get_bool(c, n, &ST(obj)->nocopy); }
static void st_tier(struct pctx *c, yaml_node_t *n, void *obj) { get_str(c, n, &ST(obj)->tier); }
static void st_size(struct pctx *c, yaml_node_t *n, void *obj) { get_memory(c, n, &ST(obj)->size_bytes); }
static void st_bucket(struct pctx *c, yaml_node_t *n, void *obj) { get_str(c, n, &ST(obj)->bucket); }
static void st_prefix(struct pctx *c, yaml_node_t *n, void *obj) { get_str(c, n, &ST(obj)->prefix); }
static void st_endpoint(struct pctx *c, yaml_node_t *n, void *obj) { get_str(c, n, &ST(obj)->endpoint); }
static void st_credentials(struct pctx *c, yaml_node_t *n, void *obj) { check_any(c, n, 0); }

static void st_mode(struct pctx *c, yaml_node_t *n, void *obj)
{
	/* File modes are octal whatever way YAML wrote them: 1777, 01777, 0o1777. */
	const char *s;
	if (!get_text(c, n, &s))
		return;
	const char *digits = !strncmp(s, "0o", 2) ? s + 2 : s;
	if (!*digits || strlen(digits) > 5 || strspn(digits, "01234567") != strlen(digits) ||
	    strtol(digits, NULL, 8) > 07777) {
		perr(c, n, "expected an octal file mode such as 1777, got \"%s\"", s);
		return;
	}
	ST(obj)->mode = (int)strtol(digits, NULL, 8);
}

void f_storage(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "type", st_type }, { "source", st_source }, { "name", st_name },
		{ "target", st_target }, { "readonly", st_readonly }, { "tier", st_tier },
		{ "size", st_size }, { "mode", st_mode }, { "bucket", st_bucket },
		{ "prefix", st_prefix }, { "endpoint", st_endpoint }, { "credentials", st_credentials },
		{ "nocopy", st_nocopy },
	};
	static const struct key_hint hints[] = {
		{ "path", "use \"target\"" },
		{ "read_only", "use \"readonly\"" },
		{ NULL, NULL },
	};
	static const char *const allowed[][8] = {
		[SPEC_STORAGE_BIND] = { "type", "source", "target", "readonly", NULL },
		[SPEC_STORAGE_NAMED] = { "type", "name", "target", "readonly", "tier", "size", "nocopy", NULL },
		[SPEC_STORAGE_ANONYMOUS] = { "type", "target", "tier", "nocopy", NULL },
		[SPEC_STORAGE_TMPFS] = { "type", "target", "size", "mode", NULL },
		[SPEC_STORAGE_S3] = { "type", "bucket", "prefix", "target", "readonly", "endpoint", "credentials", NULL },
	};
	static const char *const required[][3] = {
		[SPEC_STORAGE_BIND] = { "source", "target", NULL },
		[SPEC_STORAGE_NAMED] = { "name", "target", NULL },
		[SPEC_STORAGE_ANONYMOUS] = { "target", NULL, NULL },
		[SPEC_STORAGE_TMPFS] = { "target", NULL, NULL },
		[SPEC_STORAGE_S3] = { "bucket", "target", NULL },
	};
	static const char *const type_names[] = { "type bind", "type named", "type anonymous", "type tmpfs", "type s3" };
	struct spec_service *svc = obj;
	if (!expect_seq(c, n))
		return;
	size_t count = seq_len(n);
	svc->storage = zl_xcalloc(count + 1, sizeof(*svc->storage));
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *item = ynode(c, n->data.sequence.items.start[i]);
		size_t old = path_push_index(c, i);
		struct spec_storage *st = &svc->storage[svc->storage_count++];
		st->mode = -1;
		if (WALK(c, item, fields, hints, st)) {
			if (!map_get(c, item, "type")) {
				missing_key(c, item, "type", "(bind|named|anonymous|tmpfs|s3)");
			} else {
				reject_keys(c, item, allowed[st->type], type_names[st->type]);
				for (const char *const *r = required[st->type]; *r; r++)
					if (!map_get(c, item, *r))
						missing_key(c, item, *r, NULL);
			}
		}
		path_pop(c, old);
	}
}

/* ---- health ---- */
#define HL(obj) ((struct spec_health *)(obj))

static void h_type(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const char *const names[] = { "tcp", "http", "command", NULL };
	int v;
	if (get_enum(c, n, names, &v))
		HL(obj)->check = (enum spec_check_type)(v + 1);
}
static void h_port(struct pctx *c, yaml_node_t *n, void *obj) { get_int32(c, n, 1, 65535, &HL(obj)->port); }
static void h_url(struct pctx *c, yaml_node_t *n, void *obj)
{
	if (get_str(c, n, &HL(obj)->url) && strncmp(HL(obj)->url, "http://", 7) && strncmp(HL(obj)->url, "https://", 8))
		perr(c, n, "expected an http:// or https:// URL, got \"%s\"", HL(obj)->url);
}
static void h_expect_status(struct pctx *c, yaml_node_t *n, void *obj) { get_int32(c, n, 100, 599, &HL(obj)->expect_status); }

/* A string command runs through the shell, like Docker's HEALTHCHECK CMD-SHELL. */
static void shell_or_list(struct pctx *c, yaml_node_t *n, struct spec_strv *out)
{
	if (n->type == YAML_SEQUENCE_NODE) {
		if (get_strv(c, n, out) && out->count == 0)
			perr(c, n, "expected a non-empty command");
		return;
	}
	const char *s;
	if (!get_text(c, n, &s))
		return;
	spec_strv_free(out);
	out->items = zl_xcalloc(4, sizeof(char *));
	out->items[0] = zl_xstrdup("/bin/sh");
	out->items[1] = zl_xstrdup("-c");
	out->items[2] = zl_xstrdup(s);
	out->count = 3;
}

static void h_command(struct pctx *c, yaml_node_t *n, void *obj) { shell_or_list(c, n, &HL(obj)->command); }

static void h_check(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "type", h_type }, { "port", h_port }, { "url", h_url },
		{ "expect_status", h_expect_status }, { "command", h_command },
	};
	static const char *const tcp_keys[] = { "type", "port", NULL };
	static const char *const http_keys[] = { "type", "url", "expect_status", NULL };
	static const char *const command_keys[] = { "type", "command", NULL };
	struct spec_health *h = obj;
	if (!WALK(c, n, fields, NULL, h))
		return;
	if (!map_get(c, n, "type")) {
		missing_key(c, n, "type", "(tcp|http|command)");
		return;
	}
	switch (h->check) {
	case SPEC_CHECK_TCP:
		reject_keys(c, n, tcp_keys, "type tcp");
		if (!map_get(c, n, "port"))
			missing_key(c, n, "port", "(type is tcp)");
		break;
	case SPEC_CHECK_HTTP:
		reject_keys(c, n, http_keys, "type http");
		if (!map_get(c, n, "url"))
			missing_key(c, n, "url", "(type is http)");
		break;
	case SPEC_CHECK_COMMAND:
		reject_keys(c, n, command_keys, "type command");
		if (!map_get(c, n, "command"))
			missing_key(c, n, "command", "(type is command)");
		break;
	case SPEC_CHECK_NONE:
		break; /* the bad type was reported */
	}
}

static void h_start_grace(struct pctx *c, yaml_node_t *n, void *obj) { get_duration(c, n, &HL(obj)->start_grace_ms); }
static void h_interval(struct pctx *c, yaml_node_t *n, void *obj) { get_duration(c, n, &HL(obj)->interval_ms); }
static void h_timeout(struct pctx *c, yaml_node_t *n, void *obj) { get_duration(c, n, &HL(obj)->timeout_ms); }
static void h_retries(struct pctx *c, yaml_node_t *n, void *obj) { get_int32(c, n, 1, 1000, &HL(obj)->retries); }
static void h_rollout_deadline(struct pctx *c, yaml_node_t *n, void *obj)
{
	get_duration(c, n, &HL(obj)->rollout_deadline_ms);
	if (HL(obj)->rollout_deadline_ms <= 0)
		perr(c, n, "rollout_deadline must be greater than 0");
}

/* max_unavailable: 3 or "25%" (a string or a plain scalar). */
static void r_max_unavailable(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct spec_rollout *r = obj;
	const char *s = node_scalar(n);
	size_t len = s ? strlen(s) : 0;
	if (len > 1 && s[len - 1] == '%') {
		char *end = NULL;
		errno = 0;
		long v = strtol(s, &end, 10);
		if (end != s + len - 1 || errno || v < 1 || v > 100 || !isdigit((unsigned char)s[0]))
			perr(c, n, "expected a count of replicas (1 or more) or a percentage from 1%% to 100%%, got \"%s\"",
			     s);
		else
			r->max_unavailable_percent = (int)v;
		return;
	}
	get_int32(c, n, 1, 1000000, &r->max_unavailable);
}

void f_rollout(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = { { "max_unavailable", r_max_unavailable } };
	WALK(c, n, fields, NULL, &SVC(obj)->rollout);
}

void f_health(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "check", h_check }, { "start_grace", h_start_grace }, { "interval", h_interval },
		{ "timeout", h_timeout }, { "retries", h_retries },
		{ "rollout_deadline", h_rollout_deadline }, /* zlapply's own key */
	};
	struct spec_health *h = &SVC(obj)->health;
	if (!WALK(c, n, fields, NULL, h))
		return;
	h->present = true;
	if (!map_get(c, n, "check"))
		missing_key(c, n, "check", "(a health block needs {type: tcp|http|command, ...})");
	if (h->interval_ms <= 0 || h->timeout_ms <= 0)
		perr(c, n, "interval and timeout must be greater than 0");
}
