/* parse_wasm.c: service_type and the wasm: block (ZLayer's WasmConfig, also
 * read under its older name wasm_http:). Every ZLayer key is read with its
 * type checked; what zlapply cannot honour with node:wasi is recorded in
 * struct spec_wasm and refused by validate_service_wasm() (validate.c),
 * which also holds the rules that need more than one key. */
#include "spec-internal.h"

#include <stdint.h>
#include <string.h>

#define SVC(obj) ((struct spec_service *)(obj))
#define WASM(obj) ((struct spec_wasm *)(obj))

void f_service_type(struct pctx *c, yaml_node_t *n, void *obj)
{
	/* Same order as enum spec_service_type, after UNSET. */
	static const char *const names[] = {
		"standard", "wasm_http", "wasm_plugin", "wasm_transformer", "wasm_authenticator",
		"wasm_rate_limiter", "wasm_middleware", "wasm_router", "job", NULL,
	};
	int v;
	if (get_enum(c, n, names, &v))
		SVC(obj)->service_type = (enum spec_service_type)(v + 1);
}

/* ---- keys kept ---- */

static void w_max_memory(struct pctx *c, yaml_node_t *n, void *obj) { get_memory(c, n, &WASM(obj)->max_memory); }

static void w_max_fuel(struct pctx *c, yaml_node_t *n, void *obj)
{
	int64_t v;
	if (get_int(c, n, 0, INT64_MAX, &v))
		WASM(obj)->has_max_fuel = v > 0; /* 0 is ZLayer's "unlimited" */
}

static void w_epoch_interval(struct pctx *c, yaml_node_t *n, void *obj)
{
	int64_t ms;
	if (get_duration(c, n, &ms))
		WASM(obj)->has_epoch_interval = true;
}

static void w_request_timeout(struct pctx *c, yaml_node_t *n, void *obj)
{
	int64_t ms;
	if (get_duration(c, n, &ms))
		WASM(obj)->has_request_timeout = true;
}

static void w_idle_timeout(struct pctx *c, yaml_node_t *n, void *obj)
{
	int64_t ms;
	if (get_duration(c, n, &ms))
		WASM(obj)->has_idle_timeout = true;
}

static void w_min_instances(struct pctx *c, yaml_node_t *n, void *obj)
{
	int64_t v;
	if (get_int(c, n, 0, UINT32_MAX, &v))
		WASM(obj)->has_min_instances = true;
}

static void w_max_instances(struct pctx *c, yaml_node_t *n, void *obj)
{
	int64_t v;
	if (get_int(c, n, 0, UINT32_MAX, &v))
		WASM(obj)->has_max_instances = true;
}

static void w_allow_tcp(struct pctx *c, yaml_node_t *n, void *obj) { get_bool(c, n, &WASM(obj)->allow_tcp); }
static void w_allow_udp(struct pctx *c, yaml_node_t *n, void *obj) { get_bool(c, n, &WASM(obj)->allow_udp); }

/* ---- keys accepted with no effect: only their type is checked ---- */

static void w_bool(struct pctx *c, yaml_node_t *n, void *obj)
{
	bool b;
	get_bool(c, n, &b);
}

static void w_text(struct pctx *c, yaml_node_t *n, void *obj)
{
	const char *s;
	get_text(c, n, &s);
}

static void w_size(struct pctx *c, yaml_node_t *n, void *obj)
{
	int64_t v;
	get_int(c, n, 0, INT64_MAX, &v);
}

static void w_strv(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct spec_strv v = { 0 };
	get_strv(c, n, &v);
	spec_strv_free(&v);
}

/* ---- capabilities ---- */

static void cap_filesystem(struct pctx *c, yaml_node_t *n, void *obj) { get_bool(c, n, &WASM(obj)->cap_filesystem); }
static void cap_sockets(struct pctx *c, yaml_node_t *n, void *obj) { get_bool(c, n, &WASM(obj)->cap_sockets); }
static void cap_http_client(struct pctx *c, yaml_node_t *n, void *obj) { get_bool(c, n, &WASM(obj)->cap_http_client); }

static void w_capabilities(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "config", w_bool }, { "keyvalue", w_bool }, { "logging", w_bool },
		{ "secrets", w_bool }, { "metrics", w_bool }, { "http_client", cap_http_client },
		{ "cli", w_bool }, { "filesystem", cap_filesystem }, { "sockets", cap_sockets },
	};
	if (n->type != YAML_MAPPING_NODE) {
		/* ZLayer's older docs wrote a list of WASI interfaces here. */
		perr(c, n, "expected a mapping of capability names to true|false (config, keyvalue, logging, "
			   "secrets, metrics, http_client, cli, filesystem, sockets), got %s", node_kind(n));
		return;
	}
	if (WALK(c, n, fields, NULL, obj))
		WASM(obj)->has_capabilities = true;
}

/* ---- preopens ---- */
#define PRE(obj) ((struct spec_wasm_preopen *)(obj))

static void p_source(struct pctx *c, yaml_node_t *n, void *obj) { get_str(c, n, &PRE(obj)->source); }
static void p_target(struct pctx *c, yaml_node_t *n, void *obj) { get_str(c, n, &PRE(obj)->target); }
static void p_readonly(struct pctx *c, yaml_node_t *n, void *obj) { get_bool(c, n, &PRE(obj)->readonly); }

static void w_preopens(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "source", p_source }, { "target", p_target }, { "readonly", p_readonly },
	};
	static const struct key_hint hints[] = {
		{ "host", "use \"source\" (the host directory)" },
		{ "guest", "use \"target\" (the path the module sees)" },
		{ "path", "use \"target\" (the path the module sees)" },
		{ "read_only", "use \"readonly\"" },
		{ NULL, NULL },
	};
	struct spec_wasm *w = obj;
	if (!expect_seq(c, n))
		return;
	size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	/* One entry per item, broken or not: validation finds item i's node
	 * at index i. */
	w->preopens = zl_xcalloc(count + 1, sizeof(*w->preopens));
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *item = ynode(c, n->data.sequence.items.start[i]);
		size_t old = path_push_index(c, i);
		struct spec_wasm_preopen *p = &w->preopens[w->preopen_count++];
		const char *s = node_scalar(item);
		if (s && !node_is_null(item)) {
			const char *colon = strchr(s, ':');
			if (colon)
				perr(c, item, "expected a mapping {source, target, readonly}, got the string \"%s\" "
					      "(write {source: %.*s, target: %s})", s, (int)(colon - s), s, colon + 1);
			else
				perr(c, item, "expected a mapping {source, target, readonly}, got the string \"%s\"", s);
		} else if (WALK(c, item, fields, hints, p)) {
			if (!map_get(c, item, "source"))
				missing_key(c, item, "source", "(the host directory)");
			if (!map_get(c, item, "target"))
				missing_key(c, item, "target", "(the path the module sees)");
		}
		path_pop(c, old);
	}
}

/* ---- the block ---- */

void f_wasm(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "min_instances", w_min_instances },
		{ "max_instances", w_max_instances },
		{ "idle_timeout", w_idle_timeout },
		{ "request_timeout", w_request_timeout },
		{ "max_memory", w_max_memory },
		{ "max_fuel", w_max_fuel },
		{ "epoch_interval", w_epoch_interval },
		{ "capabilities", w_capabilities },
		{ "allow_http_outgoing", w_bool },
		{ "allowed_hosts", w_strv },
		{ "allow_tcp", w_allow_tcp },
		{ "allow_udp", w_allow_udp },
		{ "preopens", w_preopens },
		{ "kv_enabled", w_bool },
		{ "kv_namespace", w_text },
		{ "kv_max_value_size", w_size },
		{ "secrets", w_strv },
		{ "precompile", w_bool },
	};
	static const struct key_hint hints[] = {
		{ "memory", "use \"max_memory\" (e.g. 64Mi)" },
		{ "fuel", "use \"max_fuel\"" },
		{ "mounts", "use \"preopens\": a list of {source, target, readonly}" },
		{ "volumes", "use \"preopens\": a list of {source, target, readonly}" },
		{ "dirs", "use \"preopens\": a list of {source, target, readonly}" },
		{ "env", "a module's environment is the service's \"env\"" },
		{ "args", "a module's arguments are the service's \"command\"" },
		{ "type", "the kind of WASM service is the service's \"service_type\" (wasm_http, wasm_plugin, ...)" },
		{ NULL, NULL },
	};
	struct spec_service *svc = obj;
	if (svc->wasm.present) {
		/* serde reads wasm_http as an alias: both at once is a duplicate. */
		perr(c, n, "\"wasm\" and \"wasm_http\" are the same block (wasm_http is its older name): give only one");
		return;
	}
	if (WALK(c, n, fields, hints, &svc->wasm))
		svc->wasm.present = true;
}
