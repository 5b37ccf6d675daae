/* render.h: a deployment spec rendered for a cluster engine.
 *
 * render_set() turns every deployment of a loaded spec set into
 * Kubernetes manifests or a Compose file for `docker stack deploy`
 * (docs/scale-out.md has the mapping table). What a target cannot express
 * is never dropped silently: each such key gets a warning naming
 * FILE:LINE:COL and the key path; with strict they are errors and nothing
 * is written.
 */
#ifndef ZL_RENDER_H
#define ZL_RENDER_H

#include "common/common.h"
#include "spec/spec.h"

enum render_target { RENDER_KUBERNETES = 0, RENDER_COMPOSE };
/* The Service type of endpoints with expose: public (Kubernetes). */
enum render_public { RENDER_PUBLIC_LOADBALANCER = 0, RENDER_PUBLIC_NODEPORT };

/* How Swarm publishes public endpoints: ingress (the routing mesh, any
 * node answers; needs IPVS in the kernel) or host (the node running the
 * task binds the port: at most one task per node for a port). */
enum render_publish { RENDER_PUBLISH_INGRESS = 0, RENDER_PUBLISH_HOST };

struct render_opts {
	enum render_target target;
	enum render_public public_type;
	enum render_publish publish_mode; /* compose */
	bool strict;            /* a warning is an error: nothing is written */
	/* $E:/$S: env references: false (the default) renders references only
	 * (ConfigMap/Secret keys, ${VAR}, external secrets); true resolves them
	 * as apply does (zlapply's environment, secrets_dir/<name>) and puts
	 * the values in the output: Kubernetes a ConfigMap and a Secret,
	 * Compose literal values and secrets read from their files. */
	bool include_values;
	const char *secrets_dir; /* for $S: with include_values; may be NULL */
	const char *output_dir; /* NULL: one YAML stream on out */
	FILE *out;              /* the stream when output_dir is NULL */
	FILE *diag;             /* warnings and errors, FILE:LINE:COL: ... */
};

/* Parses "kubernetes"/"k8s" or "compose"/"swarm"; -1 with err (INPUT). */
int render_parse_target(const char *text, enum render_target *ret, struct zl_err *err);
/* Parses "loadbalancer" or "nodeport"; -1 with err (INPUT). */
int render_parse_public(const char *text, enum render_public *ret, struct zl_err *err);

/* Parses "ingress" or "host"; -1 with err (INPUT). */
int render_parse_publish(const char *text, enum render_publish *ret, struct zl_err *err);

/* Renders every deployment of set. Returns 0 (warnings, if any, printed on
 * o->diag and counted in *ret_warnings), or -1 with err: kind INPUT when
 * strict and something cannot map (each problem printed on o->diag), FAIL
 * when the output cannot be written. */
int render_set(const struct spec_set *set, const struct render_opts *o, size_t *ret_warnings,
	       struct zl_err *err);

#endif
