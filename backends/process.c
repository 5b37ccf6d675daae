/* process.c: the process an image config and a service spec describe
 * together -- argv, environment, stop signal -- with Docker's semantics
 * (docs/spec-reference.md, Differences from ZLayer, row 4), shared by the backends that run images:
 * oci (config.json's process) and wasm (the module's argv and env). */
#include "backends/process.h"

#include <signal.h>
#include <string.h>

/* ---- small helpers ---- */

struct strvec { /* always NULL-terminated once non-empty */
	char **items;
	size_t count, cap;
};

static void strvec_push_owned(struct strvec *v, char *s)
{
	zl_grow(&v->items, sizeof(char *), &v->cap, v->count + 2);
	v->items[v->count++] = s;
	v->items[v->count] = NULL;
}

static void strvec_steal(struct strvec *v, char ***out, size_t *count)
{
	if (!v->items) /* an empty result is still a valid, NULL-terminated array */
		v->items = zl_xcalloc(1, sizeof(char *));
	*out = v->items;
	*count = v->count;
	*v = (struct strvec){ 0 };
}

void proc_strv_free(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* ---- the image config ---- */

/* Parses the image config; *cfg is its "config" object or NULL. NULL or
 * empty text is an image without config. */
int proc_image_config_parse(const char *text, cJSON **root, const cJSON **cfg,
			      struct zl_err *err)
{
	*root = NULL;
	*cfg = NULL;
	if (!text || !*text)
		return 0;
	*root = cJSON_Parse(text);
	if (!*root)
		return zl_fail(err, "the image config is not valid JSON");
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(*root, "config");
	if (cJSON_IsObject(c))
		*cfg = c;
	return 0;
}

const char *proc_image_string(const cJSON *cfg, const char *key)
{
	const cJSON *s = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, key) : NULL;
	return cJSON_IsString(s) && s->valuestring[0] ? s->valuestring : NULL;
}

/* Appends the image config's string list key (null/absent = empty). */
static int image_strings(const cJSON *cfg, const char *key, struct strvec *out, struct zl_err *err)
{
	const cJSON *arr = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, key) : NULL;
	if (!arr || cJSON_IsNull(arr))
		return 0;
	if (!cJSON_IsArray(arr))
		return zl_fail(err, "the image config's %s is not a list of strings", key);
	const cJSON *it;
	cJSON_ArrayForEach(it, arr) {
		if (!cJSON_IsString(it))
			return zl_fail(err, "the image config's %s is not a list of strings", key);
		strvec_push_owned(out, zl_xstrdup(it->valuestring));
	}
	return 0;
}

/* ---- the stop signal ---- */

int proc_stop_signal(const struct spec_service *svc, const char *image_config_json)
{
	int signo = spec_stop_signal(svc);
	if (signo)
		return signo;
	_cleanup_cjson_ cJSON *image = NULL;
	const cJSON *cfg = NULL;
	struct zl_err err = ZL_ERR_INIT;
	const char *text = proc_image_config_parse(image_config_json, &image, &cfg, &err) == 0
				   ? proc_image_string(cfg, "StopSignal")
				   : NULL;
	if (!text)
		return SIGTERM;
	if (spec_parse_signal(text, &signo, &err) < 0) {
		zl_log(ZL_LOG_WARN, "service %s: the image's StopSignal: %s; using SIGTERM",
		       svc->name, err.msg);
		return SIGTERM;
	}
	return signo;
}

/* ---- argv and environment ---- */

int proc_build_argv(const struct spec_service *svc, const char *image_config_json, char ***argv,
		   size_t *argc, struct zl_err *err)
{
	_cleanup_cjson_ cJSON *root = NULL;
	const cJSON *cfg = NULL;
	*argv = NULL;
	*argc = 0;
	if (proc_image_config_parse(image_config_json, &root, &cfg, err) < 0)
		return -1;
	struct strvec v = { 0 };
	int r = 0;
	if (svc->has_entrypoint) {
		for (size_t i = 0; i < svc->entrypoint.count; i++)
			strvec_push_owned(&v, zl_xstrdup(svc->entrypoint.items[i]));
	} else {
		r = image_strings(cfg, "Entrypoint", &v, err);
	}
	/* An explicit empty entrypoint only clears the image's (Docker's
	 * --entrypoint ""), so the image's Cmd still runs. */
	if (r == 0 && svc->has_args) {
		for (size_t i = 0; i < svc->args.count; i++)
			strvec_push_owned(&v, zl_xstrdup(svc->args.items[i]));
	} else if (r == 0 && (!svc->has_entrypoint || svc->entrypoint.count == 0)) {
		r = image_strings(cfg, "Cmd", &v, err);
	}
	if (r == 0 && v.count == 0)
		r = zl_invalid(err, "no command: the image has no ENTRYPOINT/CMD and the spec gives none");
	if (r == 0 && !v.items[0][0])
		r = zl_invalid(err, "command: the program to run (first argument) is empty");
	if (r < 0) {
		proc_strv_free(v.items, v.count);
		return -1;
	}
	strvec_steal(&v, argv, argc);
	return 0;
}

static size_t env_name_len(const char *entry)
{
	const char *eq = strchr(entry, '=');
	return eq ? (size_t)(eq - entry) : strlen(entry);
}

/* Sets entry ("NAME=value", owned) replacing the same name in place. */
static void env_set(struct strvec *v, char *entry)
{
	size_t len = env_name_len(entry);
	for (size_t i = 0; i < v->count; i++) {
		if (env_name_len(v->items[i]) == len && !strncmp(v->items[i], entry, len)) {
			free(v->items[i]);
			v->items[i] = entry;
			return;
		}
	}
	strvec_push_owned(v, entry);
}

static bool env_has(const struct strvec *v, const char *name)
{
	size_t len = strlen(name);
	for (size_t i = 0; i < v->count; i++)
		if (env_name_len(v->items[i]) == len && !strncmp(v->items[i], name, len))
			return true;
	return false;
}

int proc_build_env(const struct spec_kv *env, size_t n, const char *image_config_json,
		   const char *hostname, const char *default_path, char ***out, size_t *count)
{
	_cleanup_cjson_ cJSON *root = NULL;
	const cJSON *cfg = NULL;
	struct zl_err ignored = ZL_ERR_INIT; /* the caller's argv step reports a bad config */
	*out = NULL;
	*count = 0;
	if (proc_image_config_parse(image_config_json, &root, &cfg, &ignored) < 0)
		return -1;
	struct strvec image = { 0 }, v = { 0 };
	if (image_strings(cfg, "Env", &image, &ignored) < 0) {
		proc_strv_free(image.items, image.count);
		return -1;
	}
	for (size_t i = 0; i < image.count; i++)
		env_set(&v, image.items[i]);
	free(image.items);
	if (hostname)
		env_set(&v, zl_xasprintf("HOSTNAME=%s", hostname));
	for (size_t i = 0; i < n; i++)
		env_set(&v, zl_xasprintf("%s=%s", env[i].key, env[i].value ? env[i].value : ""));
	if (default_path && !env_has(&v, "PATH")) {
		strvec_push_owned(&v, NULL);
		memmove(v.items + 1, v.items, (v.count - 1) * sizeof(char *));
		v.items[0] = zl_xasprintf("PATH=%s", default_path);
	}
	strvec_steal(&v, out, count);
	return 0;
}

