/* process.h: the process an image config and a service spec describe
 * together (backends/process.c): argv, environment and stop signal with
 * Docker's semantics, for every backend that runs images. */
#ifndef ZL_BACKEND_PROCESS_H
#define ZL_BACKEND_PROCESS_H

#include <cjson/cJSON.h>

#include "common/common.h"
#include "spec/spec.h"

static inline void cjson_deletep(cJSON **j) { cJSON_Delete(*j); }
#define _cleanup_cjson_ __attribute__((cleanup(cjson_deletep)))

/* The process argv (docs/spec-reference.md, Differences from ZLayer, row 4, Docker/Kubernetes semantics):
 * entrypoint = command.entrypoint when given, else the image's Entrypoint;
 * cmd = command.args when given, else the image's Cmd unless a non-empty
 * entrypoint was given (overriding the entrypoint drops the image's Cmd, as
 * Docker's --entrypoint and Kubernetes' command do); argv = entrypoint + cmd.
 * image_config_json may be NULL. *argv is NULL-terminated, *argc excludes the
 * NULL; free with proc_strv_free(). */
int proc_build_argv(const struct spec_service *svc, const char *image_config_json, char ***argv,
		   size_t *argc, struct zl_err *err);

/* The process environment as "NAME=value": the image's Env first, then
 * HOSTNAME=hostname (when hostname is not NULL), then env (resolved values),
 * a later entry replacing an earlier one of the same name in place; PATH gets
 * default_path (Docker's, for containers; NULL: none) when nobody set it. -1 only when image_config_json is not
 * a valid image config. *out is NULL-terminated; free with proc_strv_free(). */
int proc_build_env(const struct spec_kv *env, size_t n, const char *image_config_json,
		   const char *hostname, const char *default_path, char ***out, size_t *count);

/* The signal that stops a replica of svc (Docker's precedence): the spec's
 * stop_signal, else the image config's StopSignal ("SIGINT", "INT", "2"),
 * else SIGTERM. An image signal that is not a signal is warned about and
 * SIGTERM used. */
int proc_stop_signal(const struct spec_service *svc, const char *image_config_json);

/* Frees n strings and the array (NULL allowed). */
void proc_strv_free(char **v, size_t n);

/* Parses an image config; *cfg is its "config" object or NULL (*root the
 * caller's, cJSON_Delete). NULL or empty text is an image without config. */
int proc_image_config_parse(const char *text, cJSON **root, const cJSON **cfg,
			    struct zl_err *err);
/* The non-empty string cfg[key], else NULL. */
const char *proc_image_string(const cJSON *cfg, const char *key);

#endif
