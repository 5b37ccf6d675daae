/* spec-internal.h: what the files of spec/ share and nobody else sees.
 *
 * struct pctx walks one YAML document (libyaml's document API) while keeping
 * the key path of the node being read ("services.api.resources.memory"), so
 * every diagnostic can say where it is. The get_* helpers read one node,
 * report a diag on mismatch and return false; they never stop the walk. */
#ifndef ZL_SPEC_INTERNAL_H
#define ZL_SPEC_INTERNAL_H

#include <yaml.h>

#include "spec.h"

struct pctx {
	const char *file;
	struct spec_diags *diags;
	yaml_document_t *doc;
	struct zl_buf path;
	size_t budget; /* nodes left for free-form walks (aliases can explode) */
	/* Edit-distance cells left for "did you mean" suggestions, so a file
	 * of thousands of unknown keys or names stays linear to check. */
	size_t suggest_cells;
};

/* ---- compose.c: YAML text -> document, within the limits of spec.h ---- */
/* What the documents of one file add up to, every alias expanded. */
struct compose_totals {
	size_t nodes, bytes;
};
/* Reads parser's next document into doc. Returns 1 with a document (caller
 * deletes it), 0 at the end of the stream, -1 after a problem (reported in
 * diags; reading the file stops there). text/len: what parser reads, for
 * the place of a reader error; totals: of the file so far. */
int compose_document(yaml_parser_t *parser, const char *file, const char *text, size_t len,
		     struct compose_totals *totals, yaml_document_t *doc, struct spec_diags *diags);
/* libyaml's error in parser as a diag. */
void yaml_error(const char *file, const char *text, size_t len, yaml_parser_t *parser,
		struct spec_diags *diags);
/* 1-based line and column of byte offset off in text. */
void text_position(const char *text, size_t off, int *line, int *col);
/* Has the interrupt flag (spec_set_interrupt_flag) been raised? */
bool spec_interrupted(void);

/* ---- canon.c: the canonical JSON text of the spec hash ---- */
/* Writes into b the bytes cJSON_PrintUnformatted prints for the same tree
 * (so recorded hashes stay valid). A key is followed by exactly one value
 * or begin..end; numbers are int64 as the hash holds them. */
struct canon {
	struct zl_buf *b;
	bool comma; /* a value was just written: the next one needs a ',' */
};
void canon_begin(struct canon *w, char bracket); /* '{' or '[' */
void canon_end(struct canon *w, char bracket);   /* '}' or ']' */
void canon_key(struct canon *w, const char *key);
void canon_str(struct canon *w, const char *s); /* s not NULL */
void canon_str_or_null(struct canon *w, const char *s);
void canon_num(struct canon *w, int64_t v);
void canon_bool(struct canon *w, bool v);
void canon_literal(struct canon *w, const char *text); /* "null", as is */

/* ---- yaml.c: node access and diagnostics ---- */
int node_line(const yaml_node_t *n);
int node_col(const yaml_node_t *n);
/* An error (or note) at node n for the current path. */
void perr(struct pctx *c, const yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void pnote(struct pctx *c, const yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Path stack: push returns the length to pass to path_pop. */
size_t path_push_key(struct pctx *c, const char *key);
size_t path_push_index(struct pctx *c, size_t i);
void path_pop(struct pctx *c, size_t old_len);

yaml_node_t *ynode(struct pctx *c, int index);
bool node_is_null(const yaml_node_t *n);
const char *node_scalar(const yaml_node_t *n); /* NULL unless a scalar */
bool node_is_plain(const yaml_node_t *n);
const char *node_kind(const yaml_node_t *n); /* "a mapping", "a list", "a string", ... */

/* Strings seen so far (borrowed: they must outlive the index), for finding
 * repeats in linear time. */
struct str_index {
	const char **keys;
	size_t *vals;
	size_t count, cap;
};
/* The index given with the first s added, or SIZE_MAX when s is new (then
 * s is added with i). */
size_t str_index_first(struct str_index *x, const char *s, size_t i);
/* The index given with s, or SIZE_MAX; adds nothing. */
size_t str_index_get(const struct str_index *x, const char *s);
void str_index_free(struct str_index *x);

/* One known key of a mapping and the handler that reads its value. */
typedef void (*field_fn)(struct pctx *c, yaml_node_t *value, void *obj);
struct field {
	const char *key;
	field_fn fn; /* NULL: accepted, value ignored */
};
struct key_hint {
	const char *key;
	const char *hint;
};
/* Walks a mapping: for each key calls its handler with the path extended by
 * the key; reports unknown keys (with the nearest known one or a hint),
 * duplicate keys and non-mapping values. Null values count as absent.
 * Returns false when n is not a mapping. */
bool walk_map(struct pctx *c, yaml_node_t *n, const struct field *fields, size_t nfields,
	      const struct key_hint *hints, void *obj);
#define WALK(c, n, fields, hints, obj) \
	walk_map((c), (n), (fields), sizeof(fields) / sizeof((fields)[0]), (hints), (obj))
/* Reports non-string and duplicate keys of mapping n; returns one flag per
 * pair (true: skip it), NULL for an empty mapping. Caller frees. */
bool *map_skips(struct pctx *c, yaml_node_t *n);
/* Checks n is a mapping with scalar keys and reports duplicates. */
bool check_map(struct pctx *c, yaml_node_t *n);
/* The value of key in mapping n, NULL when absent or null. */
yaml_node_t *map_get(struct pctx *c, yaml_node_t *n, const char *key);
yaml_node_t *map_get_key(struct pctx *c, yaml_node_t *n, const char *key);
/* A required key missing: error at the mapping with the key's path. */
void missing_key(struct pctx *c, yaml_node_t *map, const char *key, const char *why);
/* A key that a variant does not take ("url" under type tcp). */
void reject_keys(struct pctx *c, yaml_node_t *map, const char *const *allowed, const char *variant);

bool expect_seq(struct pctx *c, yaml_node_t *n);
bool get_text(struct pctx *c, yaml_node_t *n, const char **out); /* any scalar */
bool get_str(struct pctx *c, yaml_node_t *n, char **out);        /* dup; replaces *out */
bool get_int(struct pctx *c, yaml_node_t *n, int64_t min, int64_t max, int64_t *out);
bool get_int32(struct pctx *c, yaml_node_t *n, int min, int max, int *out);
bool get_bool(struct pctx *c, yaml_node_t *n, bool *out);
bool get_duration(struct pctx *c, yaml_node_t *n, int64_t *ms);
bool get_memory(struct pctx *c, yaml_node_t *n, int64_t *bytes);
/* names[] NULL-terminated; *out = index. */
bool get_enum(struct pctx *c, yaml_node_t *n, const char *const *names, int *out);
bool get_strv(struct pctx *c, yaml_node_t *n, struct spec_strv *out);
/* A string->scalar mapping (env, labels, sysctls), sorted by key. */
bool get_kv_map(struct pctx *c, yaml_node_t *n, struct spec_kv **out, size_t *count);
/* Any node as compact JSON text (for init step "with" values); depth-limited
 * because aliases can make the graph cyclic. */
char *node_to_json(struct pctx *c, yaml_node_t *n);
/* Loose shape check of a free-form block: bounded walk, reports duplicate keys. */
void check_any(struct pctx *c, yaml_node_t *n, int depth);

/* ---- parse.c / parse_blocks.c / parse_wasm.c ---- */
/* Parses one document's root mapping into dep (not yet validated). */
void parse_deployment(struct pctx *c, yaml_node_t *root, struct spec_deployment *dep);
void parse_service(struct pctx *c, yaml_node_t *n, struct spec_service *svc);
/* Block handlers used by the service field table (parse_blocks.c). */
void f_resources(struct pctx *c, yaml_node_t *n, void *obj);
void f_scale(struct pctx *c, yaml_node_t *n, void *obj);
void f_endpoints(struct pctx *c, yaml_node_t *n, void *obj);
void f_port_mappings(struct pctx *c, yaml_node_t *n, void *obj);
void f_storage(struct pctx *c, yaml_node_t *n, void *obj);
void f_health(struct pctx *c, yaml_node_t *n, void *obj);
void f_rollout(struct pctx *c, yaml_node_t *n, void *obj);
void f_depends(struct pctx *c, yaml_node_t *n, void *obj);
void f_init(struct pctx *c, yaml_node_t *n, void *obj);
void f_errors(struct pctx *c, yaml_node_t *n, void *obj);
void f_restart_policy(struct pctx *c, yaml_node_t *n, void *obj);
void f_devices(struct pctx *c, yaml_node_t *n, void *obj);
void f_ulimits(struct pctx *c, yaml_node_t *n, void *obj);
/* parse_wasm.c */
void f_service_type(struct pctx *c, yaml_node_t *n, void *obj);
void f_wasm(struct pctx *c, yaml_node_t *n, void *obj); /* also under "wasm_http" */

/* ---- validate.c ---- */
/* NULL when ref is a valid image reference, else why not (static text). */
const char *image_ref_problem(const char *ref);
/* What the backends would refuse and the spec (or a bind source's
 * existence) decides: command, devices, sysctls, ports, memory. */
void validate_service_rules(struct pctx *c, yaml_node_t *n, struct spec_service *svc);
bool deployment_name_ok(const char *name);
bool service_name_ok(const char *name);
/* Checks depends (unknown, self, cycles) and reorders dep->services
 * topologically (dependencies first, ties in file order). */
void validate_deployment(struct pctx *c, struct spec_deployment *dep);
/* The wasm block's keys zlapply refuses, preopen paths, and what a service
 * the spec declares WebAssembly cannot have (endpoints, published ports,
 * network probes); sets svc->wasm.filesystem. n is the service's mapping,
 * the current path the service's. */
void validate_service_wasm(struct pctx *c, yaml_node_t *n, struct spec_service *svc);
void validate_service_isolation(struct pctx *c, yaml_node_t *n, struct spec_service *svc);

/* ---- load.c: frees ---- */
void spec_service_init(struct spec_service *svc);
void spec_service_free(struct spec_service *svc);
void spec_deployment_free(struct spec_deployment *dep);
void spec_strv_free(struct spec_strv *v);
void spec_kv_sort(struct spec_kv *kv, size_t count);

#endif
