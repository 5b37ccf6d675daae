/* hash.c: the canonical spec hash of a replica.
 *
 * Every field that shapes a running replica goes into a JSON object with
 * defaults already applied (the model holds them) and units normalised
 * (bytes, ms, millicores); maps are sorted by key, lists keep spec order.
 * Written unformatted (canon.c), that text hashes the same whatever the
 * YAML's key order, comments or spelling ("1024Mi" = "1Gi"). Scale,
 * depends, schedule, restart/panic policy and cluster keys are left out:
 * changing them must not recreate replicas.
 *
 * The object is written once, section after section, into one buffer: each
 * section's digest is taken of its stretch of the buffer and the hash of
 * the whole, so nothing is printed twice. */
#include "spec-internal.h"

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>

/* zl_sha256_hex looks SHA-256 up in OpenSSL's provider table on every call
 * (about 1.5 us); 13 digests per service times 1000 services made that a
 * third of a no-op apply, so the algorithm is fetched once here, and one
 * digest context serves all the digests of a service. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static void sha256_fetch(void) { sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL); }

static void hex_of(const unsigned char md[32], char out[65])
{
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

/* ctx: NULL when none could be had (zl_sha256_hex, the slow path, works). */
static void sha256_hex(EVP_MD_CTX *ctx, const char *data, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int md_len = 0;
	if (!ctx || EVP_DigestInit_ex2(ctx, sha256_md, NULL) != 1 ||
	    EVP_DigestUpdate(ctx, data, len) != 1 || EVP_DigestFinal_ex(ctx, md, &md_len) != 1 ||
	    md_len != 32) {
		zl_sha256_hex(data, len, out);
		return;
	}
	hex_of(md, out);
}

static void k_str(struct canon *w, const char *key, const char *s)
{
	canon_key(w, key);
	canon_str_or_null(w, s);
}

static void k_num(struct canon *w, const char *key, int64_t v)
{
	canon_key(w, key);
	canon_num(w, v);
}

static void k_bool(struct canon *w, const char *key, bool v)
{
	canon_key(w, key);
	canon_bool(w, v);
}

/* A list of strings. A NULL item is left out, as cJSON left it out (it
 * made no item of it). */
static void strv_json(struct canon *w, const struct spec_strv *v)
{
	canon_begin(w, '[');
	for (size_t i = 0; i < v->count; i++)
		if (v->items[i])
			canon_str(w, v->items[i]);
	canon_end(w, ']');
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A set of capability names: order, case and a CAP_ prefix carry no
 * meaning, so the canonical form is the sorted, deduplicated upper-case
 * names without the prefix. */
static void name_set_json(struct canon *w, const struct spec_strv *v)
{
	char **names = zl_xcalloc(v->count + 1, sizeof(char *));
	for (size_t i = 0; i < v->count; i++) {
		const char *n = strncasecmp(v->items[i], "CAP_", 4) == 0 ? v->items[i] + 4 : v->items[i];
		names[i] = zl_xstrdup(n);
		for (char *p = names[i]; *p; p++)
			*p = (char)toupper((unsigned char)*p);
	}
	qsort(names, v->count, sizeof(char *), cmp_str);
	canon_begin(w, '[');
	for (size_t i = 0; i < v->count; i++)
		if (i == 0 || strcmp(names[i], names[i - 1]) != 0)
			canon_str(w, names[i]);
	canon_end(w, ']');
	for (size_t i = 0; i < v->count; i++)
		free(names[i]);
	free(names);
}

/* A map, sorted by key when parsed. An entry without key or value is left
 * out, as cJSON left it out. */
static void kv_json(struct canon *w, const struct spec_kv *kv, size_t count)
{
	canon_begin(w, '{');
	for (size_t i = 0; i < count; i++)
		if (kv[i].key && kv[i].value)
			k_str(w, kv[i].key, kv[i].value);
	canon_end(w, '}');
}

/* What a section is written from: the service, and env as given (resolved
 * for the hash, as written for inspect). */
struct hash_input {
	const struct spec_service *svc;
	const struct spec_kv *env;
	size_t env_count;
};

static void image_json(struct canon *w, const struct hash_input *in)
{
	canon_begin(w, '{');
	k_str(w, "name", in->svc->image);
	canon_end(w, '}');
}

/* A list that may be absent ("the image's"): null then. */
static void strv_or_null(struct canon *w, const char *key, bool has, const struct spec_strv *v)
{
	canon_key(w, key);
	if (has)
		strv_json(w, v);
	else
		canon_literal(w, "null");
}

static void command_json(struct canon *w, const struct hash_input *in)
{
	const struct spec_service *svc = in->svc;
	canon_begin(w, '{');
	strv_or_null(w, "entrypoint", svc->has_entrypoint, &svc->entrypoint);
	strv_or_null(w, "args", svc->has_args, &svc->args);
	k_str(w, "workdir", svc->workdir);
	canon_end(w, '}');
}

static void env_json(struct canon *w, const struct hash_input *in)
{
	kv_json(w, in->env, in->env_count);
}

static void resources_json(struct canon *w, const struct hash_input *in)
{
	const struct spec_resources *r = &in->svc->resources;
	canon_begin(w, '{');
	k_num(w, "cpu_millicores", r->cpu_millicores);
	k_num(w, "memory_bytes", r->memory_bytes);
	k_num(w, "pids_limit", r->pids_limit);
	k_str(w, "cpuset", r->cpuset);
	k_num(w, "cpu_shares", r->cpu_shares);
	k_num(w, "memory_swap", r->memory_swap);
	k_num(w, "memory_reservation", r->memory_reservation);
	k_num(w, "memory_swappiness", r->memory_swappiness);
	k_num(w, "oom_score_adj", r->oom_score_adj);
	k_bool(w, "oom_kill_disable", r->oom_kill_disable);
	k_num(w, "blkio_weight", r->blkio_weight);
	k_num(w, "gpu_count", r->gpu_count);
	k_str(w, "gpu_vendor", r->gpu_vendor);
	canon_end(w, '}');
}

static void storage_json(struct canon *w, const struct hash_input *in)
{
	static const char *const types[] = { "bind", "named", "anonymous", "tmpfs", "s3" };
	const struct spec_service *svc = in->svc;
	canon_begin(w, '[');
	for (size_t i = 0; i < svc->storage_count; i++) {
		const struct spec_storage *st = &svc->storage[i];
		canon_begin(w, '{');
		k_str(w, "type", types[st->type]);
		k_str(w, "source", st->source);
		k_str(w, "name", st->name);
		k_str(w, "target", st->target);
		k_bool(w, "readonly", st->readonly);
		k_str(w, "tier", st->tier);
		if (st->nocopy) /* only when set: older hashes stay what they were */
			k_bool(w, "nocopy", true);
		k_num(w, "size_bytes", st->size_bytes);
		k_num(w, "mode", st->mode);
		k_str(w, "bucket", st->bucket);
		k_str(w, "prefix", st->prefix);
		k_str(w, "endpoint", st->endpoint);
		canon_end(w, '}');
	}
	canon_end(w, ']');
}

static void ports_json(struct canon *w, const struct hash_input *in)
{
	const struct spec_service *svc = in->svc;
	canon_begin(w, '{');
	canon_key(w, "endpoints");
	canon_begin(w, '[');
	for (size_t i = 0; i < svc->endpoint_count; i++) {
		const struct spec_endpoint *e = &svc->endpoints[i];
		canon_begin(w, '{');
		k_str(w, "name", e->name);
		k_str(w, "protocol", e->protocol);
		k_num(w, "port", e->port);
		k_num(w, "target_port", e->target_port);
		k_str(w, "expose", e->expose == SPEC_EXPOSE_PUBLIC ? "public" : "internal");
		canon_end(w, '}');
	}
	canon_end(w, ']');
	canon_key(w, "port_mappings");
	canon_begin(w, '[');
	for (size_t i = 0; i < svc->port_mapping_count; i++) {
		const struct spec_port_mapping *pm = &svc->port_mappings[i];
		canon_begin(w, '{');
		k_num(w, "host_port", pm->host_port);
		k_num(w, "container_port", pm->container_port);
		k_str(w, "protocol", pm->protocol);
		k_str(w, "host_ip", pm->host_ip);
		canon_end(w, '}');
	}
	canon_end(w, ']');
	canon_end(w, '}');
}

static void health_json(struct canon *w, const struct hash_input *in)
{
	static const char *const checks[] = { "none", "tcp", "http", "command" };
	const struct spec_health *h = &in->svc->health;
	if (!h->present) {
		canon_literal(w, "null");
		return;
	}
	canon_begin(w, '{');
	k_str(w, "check", checks[h->check]);
	k_num(w, "port", h->port);
	k_str(w, "url", h->url);
	k_num(w, "expect_status", h->check == SPEC_CHECK_HTTP ? h->expect_status : 0);
	canon_key(w, "command");
	strv_json(w, &h->command);
	k_num(w, "start_grace_ms", h->start_grace_ms);
	k_num(w, "interval_ms", h->interval_ms);
	k_num(w, "timeout_ms", h->timeout_ms);
	k_num(w, "retries", h->retries);
	canon_end(w, '}');
}

/* ulimits, keyed by name: sorted by it (insertion sort; few entries). */
static void ulimits_json(struct canon *w, const struct spec_service *svc)
{
	const struct spec_ulimit **sorted = zl_xcalloc(svc->ulimit_count + 1, sizeof(*sorted));
	for (size_t i = 0; i < svc->ulimit_count; i++) {
		size_t j = i;
		while (j > 0 && strcmp(sorted[j - 1]->name, svc->ulimits[i].name) > 0) {
			sorted[j] = sorted[j - 1];
			j--;
		}
		sorted[j] = &svc->ulimits[i];
	}
	canon_begin(w, '{');
	for (size_t i = 0; i < svc->ulimit_count; i++) {
		canon_key(w, sorted[i]->name);
		canon_begin(w, '{');
		k_num(w, "soft", sorted[i]->soft);
		k_num(w, "hard", sorted[i]->hard);
		canon_end(w, '}');
	}
	canon_end(w, '}');
	free(sorted);
}

static void security_json(struct canon *w, const struct hash_input *in)
{
	const struct spec_service *svc = in->svc;
	canon_begin(w, '{');
	k_str(w, "user", svc->user);
	k_bool(w, "privileged", svc->privileged);
	k_bool(w, "read_only_root_fs", svc->read_only_root_fs);
	canon_key(w, "cap_add");
	name_set_json(w, &svc->cap_add);
	canon_key(w, "cap_drop");
	name_set_json(w, &svc->cap_drop);
	canon_key(w, "devices");
	canon_begin(w, '[');
	for (size_t i = 0; i < svc->device_count; i++) {
		const struct spec_device *d = &svc->devices[i];
		canon_begin(w, '{');
		k_str(w, "path", d->path);
		k_bool(w, "read", d->read);
		k_bool(w, "write", d->write);
		k_bool(w, "mknod", d->mknod);
		canon_end(w, '}');
	}
	canon_end(w, ']');
	canon_key(w, "sysctls");
	kv_json(w, svc->sysctls, svc->sysctl_count);
	canon_key(w, "ulimits");
	ulimits_json(w, svc);
	canon_key(w, "security_opt");
	strv_json(w, &svc->security_opt);
	canon_key(w, "extra_groups");
	strv_json(w, &svc->extra_groups);
	k_str(w, "pid_mode", svc->pid_mode);
	k_str(w, "ipc_mode", svc->ipc_mode);
	k_str(w, "userns_mode", svc->userns_mode);
	canon_end(w, '}');
}

static void network_json(struct canon *w, const struct hash_input *in)
{
	const struct spec_service *svc = in->svc;
	canon_begin(w, '{');
	k_str(w, "network_mode", svc->network_mode);
	k_str(w, "hostname", svc->hostname);
	canon_key(w, "dns");
	strv_json(w, &svc->dns);
	canon_key(w, "extra_hosts");
	strv_json(w, &svc->extra_hosts);
	canon_end(w, '}');
}

static void lifecycle_json(struct canon *w, const struct hash_input *in)
{
	const struct spec_service *svc = in->svc;
	const char *sig = spec_signal_name(svc->stop_signal);
	canon_begin(w, '{');
	canon_key(w, "stop_signal");
	if (sig)
		canon_str(w, sig);
	else
		canon_num(w, svc->stop_signal);
	k_num(w, "stop_grace_ms", svc->stop_grace_ms);
	k_bool(w, "delete_on_exit", svc->delete_on_exit);
	canon_end(w, '}');
}

static void init_json(struct canon *w, const struct hash_input *in)
{
	static const char *const on_failure[] = { "fail", "warn", "continue" };
	const struct spec_service *svc = in->svc;
	canon_begin(w, '[');
	for (size_t i = 0; i < svc->init_step_count; i++) {
		const struct spec_init_step *st = &svc->init_steps[i];
		canon_begin(w, '{');
		k_str(w, "id", st->id);
		k_str(w, "uses", st->uses);
		canon_key(w, "with");
		kv_json(w, st->with, st->with_count);
		k_num(w, "retry", st->retry);
		k_num(w, "timeout_ms", st->timeout_ms);
		k_str(w, "on_failure", on_failure[st->on_failure]);
		canon_end(w, '}');
	}
	canon_end(w, ']');
}

static void runtime_json(struct canon *w, const struct hash_input *in)
{
	static const char *const rtypes[] = { "service", "job", "cron" };
	const struct spec_service *svc = in->svc;
	canon_begin(w, '{');
	k_str(w, "rtype", rtypes[svc->rtype]);
	k_bool(w, "tty", svc->tty);
	k_bool(w, "stdin_open", svc->stdin_open);
	k_bool(w, "init_container", svc->init_container);
	canon_key(w, "labels");
	kv_json(w, svc->labels, svc->label_count);
	k_str(w, "cgroup_parent", svc->cgroup_parent);
	canon_end(w, '}');
}

/* The "wasm" section, only for a service with a wasm: block or a wasm_*
 * service_type: every other service keeps the hash (and the sections) it
 * had before these keys were read, so an upgrade recreates nothing. The
 * defaults are filled in, so "wasm: {}" next to a wasm_* service_type
 * hashes as no block at all. The keys accepted with no effect are left
 * out, like the cluster keys; the refused ones never get here. */
static bool wasm_present(const struct spec_service *svc)
{
	return svc->wasm.present || spec_service_type_is_wasm(svc->service_type);
}

static void wasm_json(struct canon *w, const struct hash_input *in)
{
	const struct spec_service *svc = in->svc;
	const struct spec_wasm *m = &svc->wasm;
	canon_begin(w, '{');
	k_str(w, "service_type", spec_service_type_is_wasm(svc->service_type)
					 ? spec_service_type_name(svc->service_type)
					 : NULL);
	k_num(w, "max_memory", m->max_memory);
	k_bool(w, "filesystem", m->filesystem);
	canon_key(w, "preopens");
	canon_begin(w, '[');
	for (size_t i = 0; i < m->preopen_count; i++) {
		canon_begin(w, '{');
		k_str(w, "source", m->preopens[i].source);
		k_str(w, "target", m->preopens[i].target);
		k_bool(w, "readonly", m->preopens[i].readonly);
		canon_end(w, '}');
	}
	canon_end(w, ']');
	canon_end(w, '}');
}

/* The "isolation" section, only for a VM replica: a container's hash
 * stays what it was before the key was read. */
static bool isolation_present(const struct spec_service *svc)
{
	return svc->isolation == SPEC_ISOLATION_VM;
}

static void isolation_json(struct canon *w, const struct hash_input *in)
{
	canon_str(w, "vm");
}

/* The canonical sections, in hashing order. */
static const struct section {
	const char *name;
	bool (*present)(const struct spec_service *svc); /* NULL: always there */
	void (*write)(struct canon *w, const struct hash_input *in);
} sections[] = {
	{ "image", NULL, image_json },
	{ "command", NULL, command_json },
	{ "env", NULL, env_json },
	{ "resources", NULL, resources_json },
	{ "storage", NULL, storage_json },
	{ "ports", NULL, ports_json },
	{ "health", NULL, health_json },
	{ "security", NULL, security_json },
	{ "network", NULL, network_json },
	{ "lifecycle", NULL, lifecycle_json },
	{ "init", NULL, init_json },
	{ "runtime", NULL, runtime_json },
	{ "wasm", wasm_present, wasm_json },                /* most services: left out */
	{ "isolation", isolation_present, isolation_json }, /* but for isolation: vm */
};

/* Writes the canonical object of in into b: {"image":...,"command":...}.
 * With digests, also each section's SHA-256 into it as
 * {"image":"<hex>",...}, using ctx. */
static void write_canonical(struct zl_buf *b, const struct hash_input *in, EVP_MD_CTX *ctx,
			    struct zl_buf *digests)
{
	struct canon w = { .b = b };
	struct canon d = { .b = digests };
	canon_begin(&w, '{');
	if (digests)
		canon_begin(&d, '{');
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		const struct section *s = &sections[i];
		if (s->present && !s->present(in->svc))
			continue;
		canon_key(&w, s->name);
		size_t from = b->len;
		s->write(&w, in);
		if (!digests)
			continue;
		/* hex needs no escaping: written as it is, quotes around */
		char sha[67];
		sha256_hex(ctx, b->data + from, b->len - from, sha + 1);
		sha[0] = sha[65] = '"';
		sha[66] = '\0';
		canon_key(&d, s->name);
		canon_literal(&d, sha);
	}
	canon_end(&w, '}');
	if (digests)
		canon_end(&d, '}');
}

char *spec_service_describe(const struct spec_service *svc)
{
	struct hash_input in = { .svc = svc, .env = svc->env, .env_count = svc->env_count };
	struct zl_buf text = { 0 };
	write_canonical(&text, &in, NULL, NULL);
	return zl_buf_steal(&text);
}

int spec_service_hash(const struct spec_deployment *dep, const struct spec_service *svc,
		      const char *secrets_dir, char hash[65], char **sections_out, struct zl_err *err)
{
	struct spec_kv *env = NULL;
	size_t env_count = 0;
	if (spec_service_resolve_env(svc, secrets_dir, &env, &env_count, err) < 0)
		return -1;
	pthread_once(&sha256_once, sha256_fetch);
	EVP_MD_CTX *ctx = sha256_md ? EVP_MD_CTX_new() : NULL;
	struct hash_input in = { .svc = svc, .env = env, .env_count = env_count };
	struct zl_buf text = { 0 }, digests = { 0 };
	/* room for a usual service at once, not eight doublings */
	zl_grow(&text.data, 1, &text.cap, 2048);
	zl_grow(&digests.data, 1, &digests.cap, 1024);
	write_canonical(&text, &in, ctx, &digests);
	spec_kv_free(env, env_count);
	sha256_hex(ctx, text.data, text.len, hash);
	EVP_MD_CTX_free(ctx);
	/* The text may hold secret values: wipe it before freeing. */
	explicit_bzero(text.data, text.len);
	zl_buf_free(&text);
	if (sections_out)
		*sections_out = zl_buf_steal(&digests);
	else
		zl_buf_free(&digests);
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
