/* launch.c: the launcher's configuration of one replica (<dir>/wasi.json,
 * read by zlwasi.mjs at every start), from the service spec, the resolved
 * environment and the image config.
 *
 * A WASI module sees no host paths but the directories it is given
 * (preopens): storage becomes preopens -- bind and named volumes as they
 * are, read-only kept; anonymous and tmpfs storage as per-replica
 * directories under <dir> that go with the replica -- and so do
 * wasm.preopens. argv: command.entrypoint (else the image's Entrypoint),
 * else the service's name as the program name, then command.args (else
 * the image's Cmd). env: the image's Env, then the spec's. */
#include "wasm-internal.h"

#include <cjson/cJSON.h>
#include <string.h>
#include <sys/stat.h>

#include "backends/process.h"
#include "backends/supervise.h"

static void add_preopen(cJSON *list, const char *guest, const char *host, bool readonly)
{
	cJSON *p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "guest", guest);
	cJSON_AddStringToObject(p, "host", host);
	cJSON_AddBoolToObject(p, "readonly", readonly);
	cJSON_AddItemToArray(list, p);
}

/* Is guest given twice (a storage target and a preopen, say)? */
static bool guest_taken(const cJSON *list, const char *guest)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, list) {
		const cJSON *g = cJSON_GetObjectItemCaseSensitive(it, "guest");
		if (cJSON_IsString(g) && strcmp(g->valuestring, guest) == 0)
			return true;
	}
	return false;
}

static int storage_preopens(const struct wasm_launch_input *in, cJSON *list, struct zl_err *err)
{
	const struct spec_service *svc = in->rs->service;
	for (size_t i = 0; i < svc->storage_count; i++) {
		const struct spec_storage *st = &svc->storage[i];
		_cleanup_free_ char *host = NULL;
		switch (st->type) {
		case SPEC_STORAGE_BIND: {
			struct stat sb;
			if (!st->source || stat(st->source, &sb) < 0 || !S_ISDIR(sb.st_mode))
				return zl_invalid(err, "service %s: storage[%zu]: the bind source %s is not a directory (a WASM module is given directories only)",
						  svc->name, i, st->source ? st->source : "(none)");
			host = zl_xstrdup(st->source);
			break;
		}
		case SPEC_STORAGE_NAMED:
			host = zl_xasprintf("%s/%s", in->volumes_dir, st->name);
			break;
		case SPEC_STORAGE_ANONYMOUS:
		case SPEC_STORAGE_TMPFS:
			/* Per replica, removed with it (tmpfs: a directory, not RAM:
			 * the module's files count against the disk). */
			host = zl_xasprintf("%s/storage/%zu", in->dir, i);
			break;
		case SPEC_STORAGE_S3:
			return zl_invalid(err, "service %s: storage[%zu]: s3 storage is not available to WASM replicas",
					  svc->name, i);
		}
		if (st->type != SPEC_STORAGE_BIND && zl_mkdir_p(host, 0755, err) < 0)
			return -1;
		if (guest_taken(list, st->target))
			return zl_invalid(err, "service %s: storage[%zu]: %s is given twice", svc->name, i,
					  st->target);
		add_preopen(list, st->target, host, st->readonly);
	}
	for (size_t i = 0; i < svc->wasm.preopen_count; i++) {
		const struct spec_wasm_preopen *p = &svc->wasm.preopens[i];
		struct stat sb;
		if (stat(p->source, &sb) < 0 || !S_ISDIR(sb.st_mode))
			return zl_invalid(err, "service %s: wasm.preopens[%zu]: %s is not a directory",
					  svc->name, i, p->source);
		if (guest_taken(list, p->target))
			return zl_invalid(err, "service %s: wasm.preopens[%zu]: %s is given twice",
					  svc->name, i, p->target);
		add_preopen(list, p->target, p->source, p->readonly);
	}
	if (cJSON_GetArraySize(list) > 0 && !svc->wasm.filesystem)
		return zl_invalid(err, "service %s: storage or wasm.preopens given, but the module may not see directories (wasm.capabilities.filesystem is false, the default of service_type %s)",
				  svc->name, spec_service_type_name(svc->service_type));
	return 0;
}

static void add_strings(cJSON *arr, const cJSON *list)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, list)
		if (cJSON_IsString(it))
			cJSON_AddItemToArray(arr, cJSON_CreateString(it->valuestring));
}

static void add_strv(cJSON *arr, const struct spec_strv *v)
{
	for (size_t i = 0; i < v->count; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(v->items[i]));
}

static int build_argv(const struct spec_service *svc, const cJSON *cfg, cJSON *argv)
{
	const cJSON *image_ep = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, "Entrypoint") : NULL;
	const cJSON *image_cmd = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, "Cmd") : NULL;
	if (svc->has_entrypoint && svc->entrypoint.count)
		add_strv(argv, &svc->entrypoint);
	else if (!svc->has_entrypoint && cJSON_GetArraySize(image_ep) > 0)
		add_strings(argv, image_ep);
	else
		cJSON_AddItemToArray(argv, cJSON_CreateString(svc->name));
	if (svc->has_args)
		add_strv(argv, &svc->args);
	else if (!(svc->has_entrypoint && svc->entrypoint.count))
		add_strings(argv, image_cmd);
	return 0;
}

int wasm_launch_write(const struct wasm_launch_input *in, struct zl_err *err)
{
	const struct backend_replica_spec *rs = in->rs;
	const struct spec_service *svc = rs->service;
	_cleanup_cjson_ cJSON *image = NULL;
	const cJSON *cfg = NULL;
	if (proc_image_config_parse(rs->image_config, &image, &cfg, err) < 0)
		return zl_err_prefix(err, "service %s", svc->name);
	char **env = NULL;
	size_t envc = 0;
	if (proc_build_env(rs->env, rs->env_count, rs->image_config, NULL, NULL, &env, &envc) < 0)
		return zl_fail(err, "service %s: the image config's Env is not a list of strings",
			       svc->name);
	_cleanup_cjson_ cJSON *root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "module", rs->module_path);
	cJSON *argv = cJSON_AddArrayToObject(root, "args");
	build_argv(svc, cfg, argv);
	cJSON *env_json = cJSON_AddArrayToObject(root, "env");
	for (size_t i = 0; i < envc; i++)
		cJSON_AddItemToArray(env_json, cJSON_CreateString(env[i]));
	proc_strv_free(env, envc);
	cJSON *preopens = cJSON_AddArrayToObject(root, "preopens");
	if (storage_preopens(in, preopens, err) < 0)
		return -1;
	if (svc->wasm.max_memory > 0)
		cJSON_AddItemToObject(root, "max_memory", cJSON_CreateNumber((double)svc->wasm.max_memory));
	else
		cJSON_AddNullToObject(root, "max_memory");
	const char *workdir = svc->workdir && *svc->workdir ? svc->workdir : proc_image_string(cfg, "WorkingDir");
	if (workdir)
		cJSON_AddStringToObject(root, "workdir", workdir);
	else
		cJSON_AddNullToObject(root, "workdir");
	_cleanup_free_ char *record = zl_xasprintf("%s/" SUPERVISE_DETAIL_FILE, in->dir);
	cJSON_AddStringToObject(root, "exit_record", record);
	char *text = cJSON_PrintUnformatted(root);
	if (!text)
		return zl_fail(err, "out of memory");
	_cleanup_free_ char *path = zl_xasprintf("%s/" WASM_LAUNCH_FILE, in->dir);
	int r = zl_write_file_atomic(path, text, strlen(text), 0600, err);
	free(text);
	return r;
}
