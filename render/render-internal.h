/* render-internal.h: what the targets (kubernetes.c, compose.c) share:
 * a small YAML tree and its emitter (emit.c), where each key of a spec
 * file stands (source.c), and the context that names, formats and warns
 * (render.c). Private to render/. */
#ifndef ZL_RENDER_INTERNAL_H
#define ZL_RENDER_INTERNAL_H

#include "render/render.h"

/* ---- a YAML tree (emit.c) ---- */
enum rnode_kind { RN_MAP = 0, RN_SEQ, RN_STR, RN_PLAIN /* number or bool: never quoted */ };

struct rnode {
	enum rnode_kind kind;
	char *text;            /* RN_STR, RN_PLAIN */
	char **keys;           /* RN_MAP: keys[i] -> kids[i] */
	struct rnode **kids;   /* RN_MAP, RN_SEQ */
	size_t count, cap;
};

struct rnode *rn_map(void);
struct rnode *rn_seq(void);
struct rnode *rn_str(const char *s);
struct rnode *rn_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
struct rnode *rn_int(int64_t n);
struct rnode *rn_bool(bool b);
/* Adds key: val to map (replacing an earlier value of key); returns val. */
struct rnode *rn_put(struct rnode *map, const char *key, struct rnode *val);
/* The value of key in map, or NULL. */
struct rnode *rn_get(const struct rnode *map, const char *key);
/* map[key], made an empty map first when absent. */
struct rnode *rn_sub(struct rnode *map, const char *key);
/* map[key], made an empty list first when absent. */
struct rnode *rn_list(struct rnode *map, const char *key);
/* Appends val to seq; returns val. */
struct rnode *rn_add(struct rnode *seq, struct rnode *val);
void rn_free(struct rnode *n);
/* Emits node as one YAML document (with "---" when explicit) into buf. */
int rn_emit(const struct rnode *node, bool explicit_start, struct zl_buf *buf, struct zl_err *err);

/* ---- where keys stand in the spec files (source.c) ---- */
struct render_pos {
	char *path;  /* "services.api.scale.targets.cpu", list items "storage[1]" */
	int line, col;
	char *value; /* a scalar value, else NULL */
};

struct render_doc {
	char *file;
	char *deployment; /* the document's deployment: value */
	struct render_pos *items;
	size_t count, cap;
};

struct render_sources {
	struct render_doc *docs;
	size_t count, cap;
};

/* Indexes the keys of file (unreadable or "-": nothing indexed, no error:
 * messages then fall back to the service's own position). */
void render_sources_add_file(struct render_sources *s, const char *file);
const struct render_doc *render_sources_doc(const struct render_sources *s, const char *file,
					    const char *deployment);
const struct render_pos *render_doc_find(const struct render_doc *doc, const char *path);
void render_sources_free(struct render_sources *s);

/* ---- the context of one render (render.c) ---- */
struct render_ctx {
	const struct render_opts *opts;
	const struct spec_deployment *dep;
	const struct render_doc *doc;     /* may be NULL */
	size_t warnings;
	struct rnode **objects;           /* what the target made for dep */
	size_t object_count, object_cap;
	const struct spec_service *env_svc; /* render_env_value()'s resolved env */
	struct spec_kv *env;
	size_t env_count;
};

/* A key of svc (path relative to the service, "" for the service itself;
 * svc NULL: relative to the document) that does not map: prints
 * "FILE:LINE:COL: warning: PATH: MSG" (error: under strict). */
void render_warn(struct render_ctx *c, const struct spec_service *svc, const char *key,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* A scalar value written in the spec under svc's key path, or NULL. */
const char *render_value(const struct render_ctx *c, const struct spec_service *svc,
			 const char *key);
/* Adds a finished object (owned by c from now on). */
void render_object(struct render_ctx *c, struct rnode *obj);

/* Names: a DNS-1123 label (63: [a-z0-9]([-a-z0-9]*[a-z0-9])?), a DNS-1035
 * label (must start with a letter; Service names) or an IANA service name
 * (15, ports). Returns a new string; *changed says whether it differs. */
enum render_name_rule { RENDER_DNS1123 = 0, RENDER_DNS1035, RENDER_IANA_SVC };
char *render_name(const char *in, enum render_name_rule rule, bool *changed);
const char *render_name_rule_text(enum render_name_rule rule);
/* A name for key under rule; a changed name gets a warning saying so. */
char *render_name_checked(struct render_ctx *c, const struct spec_service *svc, const char *key,
			  const char *in, enum render_name_rule rule);

/* Units: "512Mi"/"1Gi"/"1536" (Kubernetes quantity), "512M" (Docker) for
 * bytes; "250m"/"2" (Kubernetes) and "0.25" (Docker) for millicores;
 * Docker durations "90s"/"250ms"; whole seconds rounded up (at least
 * min_s) for Kubernetes fields. */
char *render_k8s_memory(int64_t bytes);
char *render_docker_memory(int64_t bytes);
char *render_k8s_cpu(int64_t millicores);
char *render_docker_cpu(int64_t millicores);
char *render_docker_duration(int64_t ms);
int64_t render_seconds(int64_t ms, int64_t min_s);

/* The image a cluster pulls for svc: registry references as written;
 * "oci:DIR[:TAG]" becomes "BASENAME:TAG" (with a warning: a cluster pulls
 * from a registry); "file:" (WASM modules) is NULL with a warning. */
char *render_image(struct render_ctx *c, const struct spec_service *svc);
/* The value apply would give env key of svc (include_values only): 0 and
 * *ret (owned by c), or -1 with err (a missing variable or secret, kind
 * INPUT, naming service and key). */
int render_env_value(struct render_ctx *c, const struct spec_service *svc, const char *key,
		     const char **ret, struct zl_err *err);
/* Does the env value name a reference: 1 for "$E:VAR" (*name = VAR), 2 for
 * "$S:name" or "$secret://name", 0 for a plain value. */
int render_env_ref(const char *value, const char **name);
/* The spec hash zlapply records for svc, into hash; false when the env has
 * references (their values are not known at render time). */
bool render_spec_hash(const struct spec_deployment *dep, const struct spec_service *svc,
		      char hash[65]);
/* Warnings shared by both targets for keys neither can express. */
void render_warn_common(struct render_ctx *c, const struct spec_service *svc);
/* map[key]: a list of v's strings. */
void render_put_strv(struct rnode *map, const char *key, const struct spec_strv *v);
/* Warnings for the top-level keys ZLayer uses for clusters (externals,
 * tunnels, api). */
void render_warn_top(struct render_ctx *c);
/* Splits "uid[:gid]": true when numeric, filling uid and gid (-1 unset). */
bool render_numeric_user(const char *user, int64_t *uid, int64_t *gid);

/* The targets: each adds its objects for c->dep to c. */
int render_kubernetes(struct render_ctx *c, struct zl_err *err);
int render_compose(struct render_ctx *c, struct zl_err *err);

#define RENDER_LABEL_NAME "app.kubernetes.io/name"
#define RENDER_LABEL_PART_OF "app.kubernetes.io/part-of"
#define RENDER_LABEL_MANAGED "app.kubernetes.io/managed-by"
#define RENDER_ANN_HASH "zlapply.dev/spec-hash"

#endif
