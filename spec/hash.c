/* hash.c: the canonical spec hash of a replica.
 *
 * Every field that shapes a running replica goes into a cJSON object with
 * defaults already applied (the model holds them) and units normalised
 * (bytes, ms, millicores); maps are sorted by key, lists keep spec order.
 * Printed unformatted, that text hashes the same whatever the YAML's key
 * order, comments or spelling ("1024Mi" = "1Gi"). Scale, depends, schedule,
 * restart/panic policy and cluster keys are left out: changing them must
 * not recreate replicas. */
#include "spec-internal.h"

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>

/* zl_sha256_hex looks SHA-256 up in OpenSSL's provider table on every call
 * (about 1.5 us); 13 digests per service times 1000 services made that a
 * third of a no-op apply, so the algorithm is fetched once here. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static void sha256_fetch(void) { sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL); }

static void sha256_hex(const char *data, size_t len, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[32];
	unsigned int md_len = 0;
	pthread_once(&sha256_once, sha256_fetch);
	if (!sha256_md || EVP_Digest(data, len, md, &md_len, sha256_md, NULL) != 1 || md_len != 32) {
		zl_sha256_hex(data, len, out); /* the slow path still works */
		return;
	}
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

static cJSON *str_or_null(const char *s) { return s ? cJSON_CreateString(s) : cJSON_CreateNull(); }
static cJSON *num(int64_t v) { return cJSON_CreateNumber((double)v); }

static cJSON *strv_json(const struct spec_strv *v)
{
	cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; i < v->count; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(v->items[i]));
	return arr;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A set of capability names: order, case and a CAP_ prefix carry no
 * meaning, so the canonical form is the sorted, deduplicated upper-case
 * names without the prefix. */
static cJSON *name_set_json(const struct spec_strv *v)
{
	char **names = zl_xcalloc(v->count + 1, sizeof(char *));
	for (size_t i = 0; i < v->count; i++) {
		const char *n = strncasecmp(v->items[i], "CAP_", 4) == 0 ? v->items[i] + 4 : v->items[i];
		names[i] = zl_xstrdup(n);
		for (char *p = names[i]; *p; p++)
			*p = (char)toupper((unsigned char)*p);
	}
	qsort(names, v->count, sizeof(char *), cmp_str);
	cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; i < v->count; i++)
		if (i == 0 || strcmp(names[i], names[i - 1]) != 0)
			cJSON_AddItemToArray(arr, cJSON_CreateString(names[i]));
	for (size_t i = 0; i < v->count; i++)
		free(names[i]);
	free(names);
	return arr;
}

static cJSON *kv_json(const struct spec_kv *kv, size_t count)
{
	cJSON *obj = cJSON_CreateObject();
	for (size_t i = 0; i < count; i++) /* sorted by key when parsed */
		cJSON_AddItemToObject(obj, kv[i].key, cJSON_CreateString(kv[i].value));
	return obj;
}

static cJSON *image_json(const struct spec_service *svc)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "name", str_or_null(svc->image));
	return o;
}

static cJSON *command_json(const struct spec_service *svc)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "entrypoint", svc->has_entrypoint ? strv_json(&svc->entrypoint) : cJSON_CreateNull());
	cJSON_AddItemToObject(o, "args", svc->has_args ? strv_json(&svc->args) : cJSON_CreateNull());
	cJSON_AddItemToObject(o, "workdir", str_or_null(svc->workdir));
	return o;
}

static cJSON *resources_json(const struct spec_resources *r)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "cpu_millicores", num(r->cpu_millicores));
	cJSON_AddItemToObject(o, "memory_bytes", num(r->memory_bytes));
	cJSON_AddItemToObject(o, "pids_limit", num(r->pids_limit));
	cJSON_AddItemToObject(o, "cpuset", str_or_null(r->cpuset));
	cJSON_AddItemToObject(o, "cpu_shares", num(r->cpu_shares));
	cJSON_AddItemToObject(o, "memory_swap", num(r->memory_swap));
	cJSON_AddItemToObject(o, "memory_reservation", num(r->memory_reservation));
	cJSON_AddItemToObject(o, "memory_swappiness", num(r->memory_swappiness));
	cJSON_AddItemToObject(o, "oom_score_adj", num(r->oom_score_adj));
	cJSON_AddItemToObject(o, "oom_kill_disable", cJSON_CreateBool(r->oom_kill_disable));
	cJSON_AddItemToObject(o, "blkio_weight", num(r->blkio_weight));
	cJSON_AddItemToObject(o, "gpu_count", num(r->gpu_count));
	cJSON_AddItemToObject(o, "gpu_vendor", str_or_null(r->gpu_vendor));
	return o;
}

static cJSON *storage_json(const struct spec_service *svc)
{
	static const char *const types[] = { "bind", "named", "anonymous", "tmpfs", "s3" };
	cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; i < svc->storage_count; i++) {
		const struct spec_storage *st = &svc->storage[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddItemToObject(o, "type", cJSON_CreateString(types[st->type]));
		cJSON_AddItemToObject(o, "source", str_or_null(st->source));
		cJSON_AddItemToObject(o, "name", str_or_null(st->name));
		cJSON_AddItemToObject(o, "target", str_or_null(st->target));
		cJSON_AddItemToObject(o, "readonly", cJSON_CreateBool(st->readonly));
		cJSON_AddItemToObject(o, "tier", str_or_null(st->tier));
		if (st->nocopy) /* only when set: older hashes stay what they were */
			cJSON_AddItemToObject(o, "nocopy", cJSON_CreateTrue());
		cJSON_AddItemToObject(o, "size_bytes", num(st->size_bytes));
		cJSON_AddItemToObject(o, "mode", num(st->mode));
		cJSON_AddItemToObject(o, "bucket", str_or_null(st->bucket));
		cJSON_AddItemToObject(o, "prefix", str_or_null(st->prefix));
		cJSON_AddItemToObject(o, "endpoint", str_or_null(st->endpoint));
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

static cJSON *ports_json(const struct spec_service *svc)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *eps = cJSON_CreateArray();
	for (size_t i = 0; i < svc->endpoint_count; i++) {
		const struct spec_endpoint *e = &svc->endpoints[i];
		cJSON *j = cJSON_CreateObject();
		cJSON_AddItemToObject(j, "name", str_or_null(e->name));
		cJSON_AddItemToObject(j, "protocol", str_or_null(e->protocol));
		cJSON_AddItemToObject(j, "port", num(e->port));
		cJSON_AddItemToObject(j, "target_port", num(e->target_port));
		cJSON_AddItemToObject(j, "expose", cJSON_CreateString(e->expose == SPEC_EXPOSE_PUBLIC ? "public" : "internal"));
		cJSON_AddItemToArray(eps, j);
	}
	cJSON_AddItemToObject(o, "endpoints", eps);
	cJSON *pms = cJSON_CreateArray();
	for (size_t i = 0; i < svc->port_mapping_count; i++) {
		const struct spec_port_mapping *pm = &svc->port_mappings[i];
		cJSON *j = cJSON_CreateObject();
		cJSON_AddItemToObject(j, "host_port", num(pm->host_port));
		cJSON_AddItemToObject(j, "container_port", num(pm->container_port));
		cJSON_AddItemToObject(j, "protocol", str_or_null(pm->protocol));
		cJSON_AddItemToObject(j, "host_ip", str_or_null(pm->host_ip));
		cJSON_AddItemToArray(pms, j);
	}
	cJSON_AddItemToObject(o, "port_mappings", pms);
	return o;
}

static cJSON *health_json(const struct spec_health *h)
{
	static const char *const checks[] = { "none", "tcp", "http", "command" };
	if (!h->present)
		return cJSON_CreateNull();
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "check", cJSON_CreateString(checks[h->check]));
	cJSON_AddItemToObject(o, "port", num(h->port));
	cJSON_AddItemToObject(o, "url", str_or_null(h->url));
	cJSON_AddItemToObject(o, "expect_status", num(h->check == SPEC_CHECK_HTTP ? h->expect_status : 0));
	cJSON_AddItemToObject(o, "command", strv_json(&h->command));
	cJSON_AddItemToObject(o, "start_grace_ms", num(h->start_grace_ms));
	cJSON_AddItemToObject(o, "interval_ms", num(h->interval_ms));
	cJSON_AddItemToObject(o, "timeout_ms", num(h->timeout_ms));
	cJSON_AddItemToObject(o, "retries", num(h->retries));
	return o;
}

static cJSON *security_json(const struct spec_service *svc)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "user", str_or_null(svc->user));
	cJSON_AddItemToObject(o, "privileged", cJSON_CreateBool(svc->privileged));
	cJSON_AddItemToObject(o, "read_only_root_fs", cJSON_CreateBool(svc->read_only_root_fs));
	cJSON_AddItemToObject(o, "cap_add", name_set_json(&svc->cap_add));
	cJSON_AddItemToObject(o, "cap_drop", name_set_json(&svc->cap_drop));
	cJSON *devs = cJSON_CreateArray();
	for (size_t i = 0; i < svc->device_count; i++) {
		const struct spec_device *d = &svc->devices[i];
		cJSON *j = cJSON_CreateObject();
		cJSON_AddItemToObject(j, "path", str_or_null(d->path));
		cJSON_AddItemToObject(j, "read", cJSON_CreateBool(d->read));
		cJSON_AddItemToObject(j, "write", cJSON_CreateBool(d->write));
		cJSON_AddItemToObject(j, "mknod", cJSON_CreateBool(d->mknod));
		cJSON_AddItemToArray(devs, j);
	}
	cJSON_AddItemToObject(o, "devices", devs);
	cJSON_AddItemToObject(o, "sysctls", kv_json(svc->sysctls, svc->sysctl_count));
	cJSON *uls = cJSON_CreateObject(); /* keyed by name: sorted below */
	const struct spec_ulimit **sorted = zl_xcalloc(svc->ulimit_count + 1, sizeof(*sorted));
	for (size_t i = 0; i < svc->ulimit_count; i++) {
		size_t j = i;
		while (j > 0 && strcmp(sorted[j - 1]->name, svc->ulimits[i].name) > 0) {
			sorted[j] = sorted[j - 1];
			j--;
		}
		sorted[j] = &svc->ulimits[i];
	}
	for (size_t i = 0; i < svc->ulimit_count; i++) {
		cJSON *j = cJSON_CreateObject();
		cJSON_AddItemToObject(j, "soft", num(sorted[i]->soft));
		cJSON_AddItemToObject(j, "hard", num(sorted[i]->hard));
		cJSON_AddItemToObject(uls, sorted[i]->name, j);
	}
	free(sorted);
	cJSON_AddItemToObject(o, "ulimits", uls);
	cJSON_AddItemToObject(o, "security_opt", strv_json(&svc->security_opt));
	cJSON_AddItemToObject(o, "extra_groups", strv_json(&svc->extra_groups));
	cJSON_AddItemToObject(o, "pid_mode", str_or_null(svc->pid_mode));
	cJSON_AddItemToObject(o, "ipc_mode", str_or_null(svc->ipc_mode));
	cJSON_AddItemToObject(o, "userns_mode", str_or_null(svc->userns_mode));
	return o;
}

static cJSON *network_json(const struct spec_service *svc)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "network_mode", str_or_null(svc->network_mode));
	cJSON_AddItemToObject(o, "hostname", str_or_null(svc->hostname));
	cJSON_AddItemToObject(o, "dns", strv_json(&svc->dns));
	cJSON_AddItemToObject(o, "extra_hosts", strv_json(&svc->extra_hosts));
	return o;
}

static cJSON *lifecycle_json(const struct spec_service *svc)
{
	cJSON *o = cJSON_CreateObject();
	const char *sig = spec_signal_name(svc->stop_signal);
	cJSON_AddItemToObject(o, "stop_signal", sig ? cJSON_CreateString(sig) : num(svc->stop_signal));
	cJSON_AddItemToObject(o, "stop_grace_ms", num(svc->stop_grace_ms));
	cJSON_AddItemToObject(o, "delete_on_exit", cJSON_CreateBool(svc->delete_on_exit));
	return o;
}

static cJSON *init_json(const struct spec_service *svc)
{
	static const char *const on_failure[] = { "fail", "warn", "continue" };
	cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; i < svc->init_step_count; i++) {
		const struct spec_init_step *st = &svc->init_steps[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddItemToObject(o, "id", str_or_null(st->id));
		cJSON_AddItemToObject(o, "uses", str_or_null(st->uses));
		cJSON_AddItemToObject(o, "with", kv_json(st->with, st->with_count));
		cJSON_AddItemToObject(o, "retry", num(st->retry));
		cJSON_AddItemToObject(o, "timeout_ms", num(st->timeout_ms));
		cJSON_AddItemToObject(o, "on_failure", cJSON_CreateString(on_failure[st->on_failure]));
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

static cJSON *runtime_json(const struct spec_service *svc)
{
	static const char *const rtypes[] = { "service", "job", "cron" };
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "rtype", cJSON_CreateString(rtypes[svc->rtype]));
	cJSON_AddItemToObject(o, "tty", cJSON_CreateBool(svc->tty));
	cJSON_AddItemToObject(o, "stdin_open", cJSON_CreateBool(svc->stdin_open));
	cJSON_AddItemToObject(o, "init_container", cJSON_CreateBool(svc->init_container));
	cJSON_AddItemToObject(o, "labels", kv_json(svc->labels, svc->label_count));
	cJSON_AddItemToObject(o, "cgroup_parent", str_or_null(svc->cgroup_parent));
	return o;
}

/* The "wasm" section, only for a service with a wasm: block or a wasm_*
 * service_type: every other service keeps the hash (and the sections) it
 * had before these keys were read, so an upgrade recreates nothing. The
 * defaults are filled in, so "wasm: {}" next to a wasm_* service_type
 * hashes as no block at all. The keys accepted with no effect are left
 * out, like the cluster keys; the refused ones never get here. */
static cJSON *wasm_json(const struct spec_service *svc)
{
	const struct spec_wasm *w = &svc->wasm;
	if (!w->present && !spec_service_type_is_wasm(svc->service_type))
		return NULL;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "service_type", spec_service_type_is_wasm(svc->service_type)
					 ? cJSON_CreateString(spec_service_type_name(svc->service_type))
					 : cJSON_CreateNull());
	cJSON_AddItemToObject(o, "max_memory", num(w->max_memory));
	cJSON_AddItemToObject(o, "filesystem", cJSON_CreateBool(w->filesystem));
	cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; i < w->preopen_count; i++) {
		cJSON *j = cJSON_CreateObject();
		cJSON_AddItemToObject(j, "source", str_or_null(w->preopens[i].source));
		cJSON_AddItemToObject(j, "target", str_or_null(w->preopens[i].target));
		cJSON_AddItemToObject(j, "readonly", cJSON_CreateBool(w->preopens[i].readonly));
		cJSON_AddItemToArray(arr, j);
	}
	cJSON_AddItemToObject(o, "preopens", arr);
	return o;
}

/* The "isolation" section, only for a VM replica: a container's hash
 * stays what it was before the key was read. */
static cJSON *isolation_json(const struct spec_service *svc)
{
	if (svc->isolation != SPEC_ISOLATION_VM)
		return NULL;
	return cJSON_CreateString("vm");
}

static char *print_json(const cJSON *j)
{
	char *text = cJSON_PrintUnformatted(j);
	if (!text) {
		fprintf(stderr, "zlapply: out of memory\n");
		abort();
	}
	char *out = zl_xstrdup(text);
	cJSON_free(text);
	return out;
}

/* The canonical sections of svc, in hashing order, with env as given. */
struct section {
	const char *name;
	cJSON *json; /* NULL: the section is left out */
};
#define SECTION_COUNT 14
static void build_sections(const struct spec_service *svc, const struct spec_kv *env,
			   size_t env_count, struct section parts[SECTION_COUNT])
{
	const struct section all[SECTION_COUNT] = {
		{ "image", image_json(svc) },
		{ "command", command_json(svc) },
		{ "env", kv_json(env, env_count) },
		{ "resources", resources_json(&svc->resources) },
		{ "storage", storage_json(svc) },
		{ "ports", ports_json(svc) },
		{ "health", health_json(&svc->health) },
		{ "security", security_json(svc) },
		{ "network", network_json(svc) },
		{ "lifecycle", lifecycle_json(svc) },
		{ "init", init_json(svc) },
		{ "runtime", runtime_json(svc) },
		{ "wasm", wasm_json(svc) }, /* NULL (left out) for most services */
		{ "isolation", isolation_json(svc) }, /* NULL but for isolation: vm */
	};
	memcpy(parts, all, sizeof(all));
}

char *spec_service_describe(const struct spec_service *svc)
{
	struct section parts[SECTION_COUNT];
	build_sections(svc, svc->env, svc->env_count, parts);
	cJSON *obj = cJSON_CreateObject();
	for (size_t i = 0; i < SECTION_COUNT; i++)
		if (parts[i].json)
			cJSON_AddItemToObject(obj, parts[i].name, parts[i].json);
	char *text = print_json(obj);
	cJSON_Delete(obj);
	return text;
}

int spec_service_hash(const struct spec_deployment *dep, const struct spec_service *svc,
		      const char *secrets_dir, char hash[65], char **sections, struct zl_err *err)
{
	struct spec_kv *env = NULL;
	size_t env_count = 0;
	if (spec_service_resolve_env(svc, secrets_dir, &env, &env_count, err) < 0)
		return -1;
	struct section parts[SECTION_COUNT];
	build_sections(svc, env, env_count, parts);
	spec_kv_free(env, env_count);
	/* The whole object's unformatted text is the sections' texts joined,
	 * so it is assembled from them instead of printed a second time. */
	struct zl_buf all = { 0 };
	cJSON *shas = cJSON_CreateObject();
	for (size_t i = 0; i < SECTION_COUNT; i++) {
		if (!parts[i].json)
			continue;
		char *text = print_json(parts[i].json);
		size_t len = strlen(text);
		char sha[65];
		sha256_hex(text, len, sha);
		cJSON_AddItemToObject(shas, parts[i].name, cJSON_CreateString(sha));
		zl_buf_printf(&all, "%c\"%s\":", all.len ? ',' : '{', parts[i].name);
		zl_buf_append(&all, text, len);
		/* The text may hold secret values: wipe it before freeing. */
		explicit_bzero(text, len);
		free(text);
		cJSON_Delete(parts[i].json);
	}
	zl_buf_puts(&all, "}");
	sha256_hex(all.data, all.len, hash);
	explicit_bzero(all.data, all.len);
	zl_buf_free(&all);
	if (sections)
		*sections = print_json(shas);
	cJSON_Delete(shas);
	return 0;
}

char *spec_sections_diff(const char *old_sections, const char *new_sections)
{
	cJSON *a = old_sections ? cJSON_Parse(old_sections) : NULL;
	cJSON *b = new_sections ? cJSON_Parse(new_sections) : NULL;
	if (!cJSON_IsObject(a) || !cJSON_IsObject(b)) {
		cJSON_Delete(a);
		cJSON_Delete(b);
		return zl_xstrdup("spec");
	}
	struct zl_buf out = { 0 };
	const cJSON *item;
	cJSON_ArrayForEach(item, b) {
		const cJSON *old = cJSON_GetObjectItemCaseSensitive(a, item->string);
		const char *x = cJSON_GetStringValue(old), *y = cJSON_GetStringValue(item);
		if (!x || !y || strcmp(x, y))
			zl_buf_printf(&out, "%s%s", out.len ? ", " : "", item->string);
	}
	cJSON_ArrayForEach(item, a) {
		if (!cJSON_GetObjectItemCaseSensitive(b, item->string))
			zl_buf_printf(&out, "%s%s", out.len ? ", " : "", item->string);
	}
	cJSON_Delete(a);
	cJSON_Delete(b);
	return zl_buf_steal(&out);
}
