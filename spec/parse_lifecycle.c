/* parse_lifecycle.c: the service blocks about starting and stopping
 * (depends, init steps, errors, restart_policy) and the security lists
 * (devices, ulimits). */
#include "spec-internal.h"

#include <string.h>

#define SVC(obj) ((struct spec_service *)(obj))

static const char *const on_timeout_names[] = { "fail", "warn", "continue", NULL };

static size_t seq_len(yaml_node_t *n)
{
	return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

/* ---- depends ---- */
#define DEP(obj) ((struct spec_depend *)(obj))

static void d_service(struct pctx *c, yaml_node_t *n, void *obj)
{
	if (get_str(c, n, &DEP(obj)->service)) {
		DEP(obj)->line = node_line(n);
		DEP(obj)->col = node_col(n);
	}
}

static void d_condition(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const char *const names[] = { "healthy", "started", "ready", NULL };
	int v;
	if (get_enum(c, n, names, &v))
		DEP(obj)->condition = (enum spec_condition)v;
}

static void d_timeout(struct pctx *c, yaml_node_t *n, void *obj) { get_duration(c, n, &DEP(obj)->timeout_ms); }

static void d_on_timeout(struct pctx *c, yaml_node_t *n, void *obj)
{
	int v;
	if (get_enum(c, n, on_timeout_names, &v))
		DEP(obj)->on_timeout = (enum spec_on_timeout)v;
}

void f_depends(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "service", d_service }, { "condition", d_condition },
		{ "timeout", d_timeout }, { "on_timeout", d_on_timeout },
	};
	struct spec_service *svc = obj;
	if (!expect_seq(c, n))
		return;
	size_t count = seq_len(n);
	svc->depends = zl_xcalloc(count + 1, sizeof(*svc->depends));
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *item = ynode(c, n->data.sequence.items.start[i]);
		size_t old = path_push_index(c, i);
		struct spec_depend d = { .timeout_ms = 300000, .line = node_line(item), .col = node_col(item) };
		if (WALK(c, item, fields, NULL, &d) && !map_get(c, item, "service"))
			missing_key(c, item, "service", NULL);
		/* Only entries naming a service enter the model: validate.c
		 * resolves each of them. */
		if (d.service)
			svc->depends[svc->depend_count++] = d;
		path_pop(c, old);
	}
}

/* ---- init steps ---- */
#define STEP(obj) ((struct spec_init_step *)(obj))

static const char *const uses_names[] = { "init.wait_tcp", "init.wait_http", "init.run", NULL };

static void i_id(struct pctx *c, yaml_node_t *n, void *obj) { get_str(c, n, &STEP(obj)->id); }
static void i_uses(struct pctx *c, yaml_node_t *n, void *obj)
{
	int v;
	if (get_enum(c, n, uses_names, &v))
		get_str(c, n, &STEP(obj)->uses);
}
static void i_retry(struct pctx *c, yaml_node_t *n, void *obj) { get_int32(c, n, 0, 1000, &STEP(obj)->retry); }
static void i_timeout(struct pctx *c, yaml_node_t *n, void *obj) { get_duration(c, n, &STEP(obj)->timeout_ms); }
static void i_on_failure(struct pctx *c, yaml_node_t *n, void *obj)
{
	int v;
	if (get_enum(c, n, on_timeout_names, &v))
		STEP(obj)->on_failure = (enum spec_on_timeout)v;
}

static void w_port(struct pctx *c, yaml_node_t *n, void *obj) { int p; get_int32(c, n, 1, 65535, &p); }
static void w_status(struct pctx *c, yaml_node_t *n, void *obj) { int s; get_int32(c, n, 100, 599, &s); }
static void w_text(struct pctx *c, yaml_node_t *n, void *obj) { const char *s; get_text(c, n, &s); }
static void w_duration(struct pctx *c, yaml_node_t *n, void *obj) { int64_t ms; get_duration(c, n, &ms); }
static void w_command(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct spec_strv v = { 0 };
	const char *s;
	if (n->type == YAML_SEQUENCE_NODE)
		get_strv(c, n, &v);
	else
		get_text(c, n, &s);
	spec_strv_free(&v);
}

/* Checks "with" against the action, then keeps it as key -> text (lists and
 * mappings as JSON) for the executor. */
static void i_with(struct pctx *c, yaml_node_t *item, yaml_node_t *n, struct spec_init_step *st)
{
	static const struct field tcp[] = { { "host", w_text }, { "port", w_port }, { "timeout", w_duration } };
	static const struct field http[] = { { "url", w_text }, { "expect_status", w_status }, { "timeout", w_duration } };
	static const struct field run[] = { { "command", w_command }, { "timeout", w_duration } };
	static const char *const required[][2] = { { "host", "port" }, { "url", NULL }, { "command", NULL } };
	int action = -1;
	for (int i = 0; st->uses && uses_names[i]; i++)
		if (!strcmp(st->uses, uses_names[i]))
			action = i;
	size_t old = path_push_key(c, "with");
	if (n && n->type != YAML_MAPPING_NODE) {
		perr(c, n, "expected a mapping, got %s", node_kind(n));
		path_pop(c, old);
		return;
	}
	if (n && action >= 0) {
		if (action == 0)
			WALK(c, n, tcp, NULL, st);
		else if (action == 1)
			WALK(c, n, http, NULL, st);
		else
			WALK(c, n, run, NULL, st);
	}
	if (action >= 0) {
		for (int r = 0; r < 2; r++)
			if (required[action][r] && !map_get(c, n, required[action][r]))
				missing_key(c, n ? n : item, required[action][r], NULL);
	}
	path_pop(c, old);
	if (!n || n->type != YAML_MAPPING_NODE)
		return;
	size_t count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	st->with = zl_xcalloc(count + 1, sizeof(*st->with));
	struct str_index added = { 0 };
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		const char *k = node_scalar(ynode(c, p->key));
		yaml_node_t *v = ynode(c, p->value);
		if (!k || !v || node_is_null(v))
			continue;
		if (str_index_first(&added, k, 0) != SIZE_MAX)
			continue; /* a duplicate: reported by the walk */
		char *value = v->type == YAML_SCALAR_NODE ? zl_xstrdup(node_scalar(v)) : node_to_json(c, v);
		st->with[st->with_count++] = (struct spec_kv){ zl_xstrdup(k), value };
	}
	str_index_free(&added);
	spec_kv_sort(st->with, st->with_count);
}

static void i_steps(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "id", i_id }, { "uses", i_uses }, { "with", NULL }, { "retry", i_retry },
		{ "timeout", i_timeout }, { "on_failure", i_on_failure },
	};
	struct spec_service *svc = obj;
	if (!expect_seq(c, n))
		return;
	size_t count = seq_len(n);
	svc->init_steps = zl_xcalloc(count + 1, sizeof(*svc->init_steps));
	struct str_index ids = { 0 };
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *item = ynode(c, n->data.sequence.items.start[i]);
		size_t old = path_push_index(c, i);
		struct spec_init_step *st = &svc->init_steps[svc->init_step_count++];
		st->timeout_ms = 300000;
		if (WALK(c, item, fields, NULL, st)) {
			yaml_node_t *id = map_get(c, item, "id");
			if (!id)
				missing_key(c, item, "id", NULL);
			if (!map_get(c, item, "uses"))
				missing_key(c, item, "uses", "(init.wait_tcp|init.wait_http|init.run)");
			i_with(c, item, map_get(c, item, "with"), st);
			size_t j = st->id ? str_index_first(&ids, st->id, i) : SIZE_MAX;
			if (j != SIZE_MAX) {
				size_t o2 = path_push_key(c, "id");
				perr(c, id, "duplicate init step id \"%s\" (also steps[%zu])", st->id, j);
				path_pop(c, o2);
			}
		}
		path_pop(c, old);
	}
	str_index_free(&ids);
}

void f_init(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = { { "steps", i_steps } };
	WALK(c, n, fields, NULL, obj);
}

/* ---- errors and restart_policy ---- */

static void on_init_action(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const char *const names[] = { "fail", "restart", "backoff", NULL };
	int v;
	if (get_enum(c, n, names, &v))
		SVC(obj)->on_init_failure = (enum spec_init_failure_action)v;
}

static void on_panic_action(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const char *const names[] = { "restart", "shutdown", "isolate", NULL };
	int v;
	if (get_enum(c, n, names, &v))
		SVC(obj)->on_panic = (enum spec_panic_action)v;
}

static void e_on_init_failure(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = { { "action", on_init_action } };
	WALK(c, n, fields, NULL, obj);
}

static void e_on_panic(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = { { "action", on_panic_action } };
	WALK(c, n, fields, NULL, obj);
}

void f_errors(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "on_init_failure", e_on_init_failure }, { "on_panic", e_on_panic },
	};
	WALK(c, n, fields, NULL, obj);
}

static void rp_kind(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const char *const names[] = { "no", "always", "unless_stopped", "on_failure", NULL };
	int v;
	if (get_enum(c, n, names, &v))
		SVC(obj)->restart_kind = (enum spec_restart_kind)(v + 1);
}
static void rp_max(struct pctx *c, yaml_node_t *n, void *obj) { get_int32(c, n, 0, 1000000, &SVC(obj)->restart_max_attempts); }
static void rp_delay(struct pctx *c, yaml_node_t *n, void *obj) { get_duration(c, n, &SVC(obj)->restart_delay_ms); }

void f_restart_policy(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "kind", rp_kind }, { "max_attempts", rp_max }, { "delay", rp_delay },
	};
	if (WALK(c, n, fields, NULL, obj) && !map_get(c, n, "kind"))
		missing_key(c, n, "kind", "(no|always|unless_stopped|on_failure)");
}

/* ---- devices and ulimits ---- */
#define DEV(obj) ((struct spec_device *)(obj))

static void dv_path(struct pctx *c, yaml_node_t *n, void *obj)
{
	const char *why;
	if (get_str(c, n, &DEV(obj)->path) && (why = spec_device_path_problem(DEV(obj)->path)))
		perr(c, n, "%s, got \"%s\"", why, DEV(obj)->path);
}
static void dv_read(struct pctx *c, yaml_node_t *n, void *obj) { get_bool(c, n, &DEV(obj)->read); }
static void dv_write(struct pctx *c, yaml_node_t *n, void *obj) { get_bool(c, n, &DEV(obj)->write); }
static void dv_mknod(struct pctx *c, yaml_node_t *n, void *obj) { get_bool(c, n, &DEV(obj)->mknod); }

void f_devices(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = {
		{ "path", dv_path }, { "read", dv_read }, { "write", dv_write }, { "mknod", dv_mknod },
	};
	struct spec_service *svc = obj;
	if (!expect_seq(c, n))
		return;
	size_t count = seq_len(n);
	svc->devices = zl_xcalloc(count + 1, sizeof(*svc->devices));
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *item = ynode(c, n->data.sequence.items.start[i]);
		size_t old = path_push_index(c, i);
		/* Docker's default device permissions are "rwm". */
		struct spec_device *d = &svc->devices[svc->device_count++];
		*d = (struct spec_device){ .read = true, .write = true, .mknod = true };
		if (WALK(c, item, fields, NULL, d) && !map_get(c, item, "path"))
			missing_key(c, item, "path", NULL);
		path_pop(c, old);
	}
}

static const char *const ulimit_names[] = {
	"cpu", "fsize", "data", "stack", "core", "rss", "nproc", "nofile", "memlock", "as",
	"locks", "sigpending", "msgqueue", "nice", "rtprio", "rttime", NULL,
};

int spec_ulimit_resource(const char *name)
{
	for (int j = 0; ulimit_names[j]; j++)
		if (!strcmp(ulimit_names[j], name))
			return j;
	return -1;
}

#define UL(obj) ((struct spec_ulimit *)(obj))
static void ul_soft(struct pctx *c, yaml_node_t *n, void *obj) { get_int(c, n, -1, INT64_MAX, &UL(obj)->soft); }
static void ul_hard(struct pctx *c, yaml_node_t *n, void *obj) { get_int(c, n, -1, INT64_MAX, &UL(obj)->hard); }

void f_ulimits(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const struct field fields[] = { { "soft", ul_soft }, { "hard", ul_hard } };
	struct spec_service *svc = obj;
	if (n->type != YAML_MAPPING_NODE) {
		perr(c, n, "expected a mapping {name: {soft, hard}}, got %s", node_kind(n));
		return;
	}
	bool *skip = map_skips(c, n);
	size_t count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	svc->ulimits = zl_xcalloc(count + 1, sizeof(*svc->ulimits));
	for (size_t i = 0; i < count; i++) {
		yaml_node_pair_t *p = &n->data.mapping.pairs.start[i];
		yaml_node_t *k = ynode(c, p->key), *v = ynode(c, p->value);
		if (skip[i])
			continue;
		const char *name = node_scalar(k);
		size_t old = path_push_key(c, name);
		bool known = spec_ulimit_resource(name) >= 0;
		struct spec_ulimit u = { .soft = -2, .hard = -2 };
		if (!known) {
			perr(c, k, "unknown ulimit \"%s\" (expected cpu, fsize, data, stack, core, rss, nproc, nofile, memlock, as, locks, sigpending, msgqueue, nice, rtprio or rttime)",
			     name);
		} else if (v && v->type == YAML_SCALAR_NODE && !node_is_null(v)) {
			/* "nofile: 1024" sets both limits. */
			if (get_int(c, v, -1, INT64_MAX, &u.soft))
				u.hard = u.soft;
		} else if (WALK(c, v, fields, NULL, &u)) {
			if (u.soft == -2 && u.hard == -2)
				perr(c, v, "expected soft and/or hard");
			else if (u.soft == -2)
				u.soft = u.hard;
			else if (u.hard == -2)
				u.hard = u.soft;
			/* -1 is unlimited: above any finite hard limit. */
			if (u.hard != -1 && (u.soft == -1 || u.soft > u.hard))
				perr(c, v, "soft limit %lld is above hard limit %lld", (long long)u.soft, (long long)u.hard);
		}
		if (known && u.soft != -2 && u.hard != -2)
			svc->ulimits[svc->ulimit_count++] = (struct spec_ulimit){ zl_xstrdup(name), u.soft, u.hard };
		path_pop(c, old);
	}
	free(skip);
}
