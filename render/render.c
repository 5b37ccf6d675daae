/* render.c: what both targets share, and the driver. For each deployment
 * it makes a context (where the deployment's keys stand, the warnings so
 * far), lets the target add its objects, then writes them: one YAML stream
 * on stdout, or one file per object under --output-dir. Under strict,
 * nothing is written once a warning was counted. */
#include "render/render-internal.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

/* ---- warnings ---- */

static const struct render_pos *find_pos(const struct render_ctx *c, const char *path)
{
	char *p = zl_xstrdup(path);
	const struct render_pos *pos = NULL;
	/* The key itself, else its nearest written ancestor (a default that
	 * does not map is reported at its block or service). */
	for (;;) {
		pos = render_doc_find(c->doc, p);
		if (pos)
			break;
		char *dot = strrchr(p, '.'), *br = strrchr(p, '[');
		char *cut = dot > br ? dot : br;
		if (!cut)
			break;
		*cut = '\0';
	}
	free(p);
	return pos;
}

static char *svc_path(const struct spec_service *svc, const char *key)
{
	if (!svc)
		return zl_xstrdup(key);
	return *key ? zl_xasprintf("services.%s.%s", svc->name, key) : zl_xasprintf("services.%s", svc->name);
}

void render_warn(struct render_ctx *c, const struct spec_service *svc, const char *key,
		 const char *fmt, ...)
{
	_cleanup_free_ char *path = svc_path(svc, key);
	const struct render_pos *pos = find_pos(c, path);
	int line = pos ? pos->line : svc ? svc->line : c->dep->line;
	int col = pos ? pos->col : svc ? svc->col : 1;
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *msg = zl_xvasprintf(fmt, ap);
	va_end(ap);
	fprintf(c->opts->diag, "%s:%d:%d: %s: %s: %s\n", c->dep->file, line, col,
		c->opts->strict ? "error" : "warning", path, msg);
	c->warnings++;
}

const char *render_value(const struct render_ctx *c, const struct spec_service *svc, const char *key)
{
	_cleanup_free_ char *path = svc_path(svc, key);
	const struct render_pos *pos = render_doc_find(c->doc, path);
	return pos ? pos->value : NULL;
}

void render_object(struct render_ctx *c, struct rnode *obj)
{
	zl_grow(&c->objects, sizeof(*c->objects), &c->object_cap, c->object_count + 1);
	c->objects[c->object_count++] = obj;
}

/* ---- names ---- */

static const char *const rule_texts[] = {
	[RENDER_DNS1123] = "a DNS-1123 label: at most 63 of a-z, 0-9 and '-', starting and ending "
			   "alphanumeric",
	[RENDER_DNS1035] = "a DNS-1035 label: at most 63 of a-z, 0-9 and '-', starting with a "
			   "letter, ending alphanumeric",
	[RENDER_IANA_SVC] = "an IANA service name: at most 15 of a-z, 0-9 and '-', with a letter, "
			    "no '--', not starting or ending with '-'",
};

const char *render_name_rule_text(enum render_name_rule rule)
{
	return rule_texts[rule];
}

char *render_name(const char *in, enum render_name_rule rule, bool *changed)
{
	size_t max = rule == RENDER_IANA_SVC ? 15 : 63;
	struct zl_buf b = { 0 };
	if (rule == RENDER_DNS1035 && !isalpha((unsigned char)in[0]))
		zl_buf_puts(&b, "x-");
	for (const char *p = in; *p; p++) {
		char ch = (char)tolower((unsigned char)*p);
		if (!isalnum((unsigned char)ch))
			ch = '-';
		/* No leading '-', no "--" (IANA), no run of separators. */
		if (ch == '-' && (b.len == 0 || b.data[b.len - 1] == '-'))
			continue;
		zl_buf_append(&b, &ch, 1);
	}
	while (b.len > 0 && b.data[b.len - 1] == '-')
		b.data[--b.len] = '\0';
	if (b.len == 0)
		zl_buf_puts(&b, rule == RENDER_IANA_SVC ? "port" : "x");
	if (rule == RENDER_IANA_SVC && strspn(b.data, "0123456789-") == b.len)
		zl_buf_puts(&b, "-p");
	if (b.len > max) {
		/* Cut, and keep names apart that share their start: a short hash
		 * of the whole input ends the name. */
		char hash[65];
		zl_sha256_hex(in, strlen(in), hash);
		size_t keep = max - 7;
		while (keep > 0 && b.data[keep - 1] == '-')
			keep--;
		b.len = keep;
		b.data[b.len] = '\0';
		zl_buf_printf(&b, "-%.6s", hash);
	}
	char *out = zl_buf_steal(&b);
	*changed = strcmp(out, in) != 0;
	return out;
}

char *render_name_checked(struct render_ctx *c, const struct spec_service *svc, const char *key,
			  const char *in, enum render_name_rule rule)
{
	bool changed = false;
	char *out = render_name(in, rule, &changed);
	if (changed)
		render_warn(c, svc, key, "\"%s\" is not %s: rendered as \"%s\"", in,
			    render_name_rule_text(rule), out);
	return out;
}

/* ---- units ---- */

static char *binary_units(int64_t bytes, const char *const units[4])
{
	static const int shifts[] = { 40, 30, 20, 10 };
	for (int i = 0; i < 4; i++)
		if (bytes > 0 && bytes % ((int64_t)1 << shifts[i]) == 0)
			return zl_xasprintf("%lld%s", (long long)(bytes >> shifts[i]), units[i]);
	return NULL;
}

char *render_k8s_memory(int64_t bytes)
{
	static const char *const units[] = { "Ti", "Gi", "Mi", "Ki" };
	char *s = binary_units(bytes, units);
	return s ? s : zl_xasprintf("%lld", (long long)bytes);
}

char *render_docker_memory(int64_t bytes)
{
	static const char *const units[] = { "T", "G", "M", "K" };
	char *s = binary_units(bytes, units);
	return s ? s : zl_xasprintf("%lldb", (long long)bytes);
}

char *render_k8s_cpu(int64_t millicores)
{
	if (millicores % 1000 == 0)
		return zl_xasprintf("%lld", (long long)(millicores / 1000));
	return zl_xasprintf("%lldm", (long long)millicores);
}

char *render_docker_cpu(int64_t millicores)
{
	char *s = zl_xasprintf("%lld.%03lld", (long long)(millicores / 1000),
			       (long long)(millicores % 1000));
	/* "0.250" -> "0.25", "2.000" -> "2" */
	size_t n = strlen(s);
	while (s[n - 1] == '0')
		s[--n] = '\0';
	if (s[n - 1] == '.')
		s[--n] = '\0';
	return s;
}

char *render_docker_duration(int64_t ms)
{
	if (ms % 1000 == 0)
		return zl_xasprintf("%llds", (long long)(ms / 1000));
	return zl_xasprintf("%lldms", (long long)ms);
}

int64_t render_seconds(int64_t ms, int64_t min_s)
{
	int64_t s = (ms + 999) / 1000;
	return s < min_s ? min_s : s;
}

/* ---- what both targets read the same way ---- */

void render_put_strv(struct rnode *map, const char *key, const struct spec_strv *v)
{
	struct rnode *seq = rn_put(map, key, rn_seq());
	for (size_t i = 0; i < v->count; i++)
		rn_add(seq, rn_str(v->items[i]));
}

char *render_image(struct render_ctx *c, const struct spec_service *svc)
{
	const char *img = svc->image;
	if (strncmp(img, "file:", 5) == 0) {
		render_warn(c, svc, "image.name",
			    "a WASM module on disk (%s) has no counterpart in a cluster: the service "
			    "is not rendered", img);
		return NULL;
	}
	if (strncmp(img, "oci:", 4) != 0)
		return zl_xstrdup(img);
	/* oci:DIR[:TAG]: the layout's directory name and tag, which is what
	 * `skopeo copy oci:DIR:TAG docker-archive:...:NAME:TAG` loads. */
	const char *dir = img + 4, *slash = strrchr(dir, '/');
	const char *base = slash ? slash + 1 : dir;
	const char *colon = strchr(base, ':');
	char *name = colon ? zl_xstrndup(base, (size_t)(colon - base)) : zl_xstrdup(base);
	bool changed = false;
	char *clean = render_name(name, RENDER_DNS1123, &changed);
	char *out = zl_xasprintf("%s:%s", clean, colon ? colon + 1 : "latest");
	render_warn(c, svc, "image.name",
		    "an OCI layout on this host (%s) is not reachable from a cluster: rendered as "
		    "\"%s\"; load or push the image under that name", img, out);
	free(name);
	free(clean);
	return out;
}

int render_env_ref(const char *value, const char **name)
{
	if (strncmp(value, "$E:", 3) == 0) {
		*name = value + 3;
		return 1;
	}
	if (strncmp(value, "$S:", 3) == 0) {
		*name = value + 3;
		return 2;
	}
	if (strncmp(value, "$secret://", 10) == 0) {
		*name = value + 10;
		return 2;
	}
	return 0;
}

int render_env_value(struct render_ctx *c, const struct spec_service *svc, const char *key,
		     const char **ret, struct zl_err *err)
{
	if (c->env_svc != svc) {
		spec_kv_free(c->env, c->env_count);
		c->env = NULL;
		c->env_count = 0;
		c->env_svc = NULL;
		if (spec_service_resolve_env(svc, c->opts->secrets_dir, &c->env, &c->env_count, err) < 0)
			return zl_err_prefix(err, "--include-values");
		c->env_svc = svc;
	}
	for (size_t i = 0; i < c->env_count; i++)
		if (strcmp(c->env[i].key, key) == 0) {
			*ret = c->env[i].value;
			return 0;
		}
	return zl_fail(err, "service %s: env %s: not resolved", svc->name, key);
}

bool render_spec_hash(const struct spec_deployment *dep, const struct spec_service *svc,
		      char hash[65])
{
	const char *name;
	for (size_t i = 0; i < svc->env_count; i++)
		if (render_env_ref(svc->env[i].value, &name))
			return false;
	char *sections = NULL;
	struct zl_err err = ZL_ERR_INIT;
	/* Plain env needs no environment and no secrets: the hash is the one
	 * zlapply records for the service's replicas. */
	int r = spec_service_hash(dep, svc, NULL, hash, &sections, &err);
	free(sections);
	return r == 0;
}

bool render_numeric_user(const char *user, int64_t *uid, int64_t *gid)
{
	char *end = NULL;
	*uid = *gid = -1;
	if (!isdigit((unsigned char)user[0]))
		return false;
	long long u = strtoll(user, &end, 10);
	if (*end == ':') {
		const char *g = end + 1;
		if (!isdigit((unsigned char)g[0]))
			return false;
		long long gg = strtoll(g, &end, 10);
		if (*end)
			return false;
		*gid = gg;
	} else if (*end) {
		return false;
	}
	*uid = u;
	return true;
}

/* Keys of the cluster block (docs/spec-reference.md) that zlapply accepts
 * and the model does not keep: say they are not rendered. */
static void cluster_key_warnings(struct render_ctx *c, const struct spec_service *svc)
{
	static const char *const keys[] = { "network", "overlay", "node_mode", "node_selector",
					    "affinity", "platform", "replica_groups", "localhost_reachability",
					    "expose", "logs" };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		_cleanup_free_ char *path = zl_xasprintf("services.%s.%s", svc->name, keys[i]);
		if (render_doc_find(c->doc, path))
			render_warn(c, svc, keys[i], "ZLayer's cluster setting has no rendering yet: "
				    "not rendered");
	}
}

void render_warn_top(struct render_ctx *c)
{
	static const char *const top[] = { "externals", "tunnels", "api" };
	for (size_t i = 0; i < 3; i++)
		if (render_doc_find(c->doc, top[i]))
			render_warn(c, NULL, top[i], "ZLayer's %s have no rendering: not rendered", top[i]);
}

void render_warn_common(struct render_ctx *c, const struct spec_service *svc)
{
	const struct spec_resources *r = &svc->resources;
	const struct {
		bool set;
		const char *key;
	} unmapped[] = {
		{ r->cpuset != NULL, "resources.cpuset" },
		{ r->cpu_shares != 0, "resources.cpu_shares" },
		{ r->memory_swap != 0, "resources.memory_swap" },
		{ r->memory_swappiness >= 0, "resources.memory_swappiness" },
		{ r->oom_score_adj != 0, "resources.oom_score_adj" },
		{ r->oom_kill_disable, "resources.oom_kill_disable" },
		{ r->blkio_weight != 0, "resources.blkio_weight" },
		{ svc->userns_mode != NULL, "userns_mode" },
	};
	for (size_t i = 0; i < sizeof(unmapped) / sizeof(unmapped[0]); i++)
		if (unmapped[i].set)
			render_warn(c, svc, unmapped[i].key, "neither Kubernetes nor Swarm sets it per "
				    "container: not rendered");
	if (svc->cgroup_parent)
		render_warn(c, svc, "cgroup_parent", "a cluster places containers in its own cgroups: not rendered");
	if (svc->device_count)
		render_warn(c, svc, "devices", "devices need a device plugin (Kubernetes) or are not "
			    "supported by Swarm services: not rendered");
	if (spec_service_type_is_wasm(svc->service_type) || svc->wasm.present)
		render_warn(c, svc, svc->wasm.present ? "wasm" : "service_type",
			    "a WebAssembly service needs a WASM runtime in the cluster (a Kubernetes "
			    "RuntimeClass such as a containerd wasm shim; Swarm has none): rendered as a "
			    "container of the image");
	if (svc->isolation == SPEC_ISOLATION_VM)
		render_warn(c, svc, "isolation", "isolation: vm needs a VM runtime class (Kata) the "
			    "cluster may not have: rendered as a container");
	if (svc->on_init_failure != SPEC_INIT_FAIL)
		render_warn(c, svc, "errors.on_init_failure", "the engine's own restart policy "
			    "decides what follows a failed init: not rendered");
	if (svc->on_panic == SPEC_PANIC_ISOLATE)
		render_warn(c, svc, "errors.on_panic", "isolate has no counterpart: the engine "
			    "restarts a crashed replica");
	if (svc->delete_on_exit)
		render_warn(c, svc, "lifecycle.delete_on_exit", "no counterpart: not rendered");
	for (size_t i = 0; i < svc->storage_count; i++)
		if (svc->storage[i].type == SPEC_STORAGE_S3) {
			char key[64];
			snprintf(key, sizeof(key), "storage[%zu]", i);
			render_warn(c, svc, key, "s3 storage has no volume counterpart: not rendered");
		}
	cluster_key_warnings(c, svc);
	if (svc->pull_policy == SPEC_PULL_NEWER)
		render_warn(c, svc, "image.pull_policy", "newer (pull when the remote digest moved) is "
			    "rendered as always");
}

/* ---- the driver ---- */

static int write_out(const char *dir, const char *name, const char *text, size_t len,
		     struct zl_err *err)
{
	_cleanup_free_ char *path = zl_xasprintf("%s/%s", dir, name);
	if (zl_write_file_atomic(path, text, len, 0644, err) < 0)
		return zl_err_prefix(err, "write %s", path);
	return 0;
}

/* The file of object i of c under --output-dir: kubernetes, one file per
 * object numbered in apply order (the Namespace first) in a directory per
 * deployment; compose, one file per deployment. */
static char *object_file(const struct render_ctx *c, size_t i)
{
	const struct rnode *obj = c->objects[i];
	if (c->opts->target == RENDER_COMPOSE)
		return zl_xasprintf("%s.compose.yaml", c->dep->name);
	const struct rnode *kind = rn_get(obj, "kind");
	const struct rnode *name = rn_get(rn_get(obj, "metadata"), "name");
	char *k = zl_xstrdup(kind ? kind->text : "object");
	for (char *p = k; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	char *f = zl_xasprintf("%s/%03zu-%s-%s.yaml", c->dep->name, i + 1, k,
			       name ? name->text : "unnamed");
	free(k);
	return f;
}

static int flush_objects(const struct render_ctx *c, struct zl_buf *stream, bool *first,
			 struct zl_err *err)
{
	const struct render_opts *o = c->opts;
	if (o->output_dir && o->target == RENDER_KUBERNETES) {
		_cleanup_free_ char *sub = zl_xasprintf("%s/%s", o->output_dir, c->dep->name);
		if (zl_mkdir_p(sub, 0755, err) < 0)
			return -1;
	}
	for (size_t i = 0; i < c->object_count; i++) {
		if (!o->output_dir) {
			if (rn_emit(c->objects[i], !*first, stream, err) < 0)
				return -1;
			*first = false;
			continue;
		}
		struct zl_buf b = { 0 };
		_cleanup_free_ char *name = object_file(c, i);
		int r = rn_emit(c->objects[i], false, &b, err);
		if (r == 0)
			r = write_out(o->output_dir, name, b.data, b.len, err);
		zl_buf_free(&b);
		if (r < 0)
			return -1;
	}
	return 0;
}

static void ctx_release(struct render_ctx *c)
{
	for (size_t i = 0; i < c->object_count; i++)
		rn_free(c->objects[i]);
	free(c->objects);
	c->objects = NULL;
	c->object_count = c->object_cap = 0;
	spec_kv_free(c->env, c->env_count);
	c->env = NULL;
	c->env_count = 0;
	c->env_svc = NULL;
}

int render_parse_target(const char *text, enum render_target *ret, struct zl_err *err)
{
	if (strcmp(text, "kubernetes") == 0 || strcmp(text, "k8s") == 0)
		*ret = RENDER_KUBERNETES;
	else if (strcmp(text, "compose") == 0 || strcmp(text, "swarm") == 0)
		*ret = RENDER_COMPOSE;
	else
		return zl_invalid(err, "--to: expected kubernetes|compose, got \"%s\"", text);
	return 0;
}

int render_parse_public(const char *text, enum render_public *ret, struct zl_err *err)
{
	if (strcmp(text, "loadbalancer") == 0)
		*ret = RENDER_PUBLIC_LOADBALANCER;
	else if (strcmp(text, "nodeport") == 0)
		*ret = RENDER_PUBLIC_NODEPORT;
	else
		return zl_invalid(err, "--public-service: expected loadbalancer|nodeport, got \"%s\"", text);
	return 0;
}

int render_parse_publish(const char *text, enum render_publish *ret, struct zl_err *err)
{
	if (strcmp(text, "ingress") == 0)
		*ret = RENDER_PUBLISH_INGRESS;
	else if (strcmp(text, "host") == 0)
		*ret = RENDER_PUBLISH_HOST;
	else
		return zl_invalid(err, "--publish-mode: expected ingress|host, got \"%s\"", text);
	return 0;
}

int render_set(const struct spec_set *set, const struct render_opts *o, size_t *ret_warnings,
	       struct zl_err *err)
{
	struct render_sources sources = { 0 };
	struct zl_buf stream = { 0 };
	struct render_ctx *ctxs = zl_xcalloc(set->count ? set->count : 1, sizeof(*ctxs));
	size_t warnings = 0;
	bool first = true;
	int ret = -1;
	for (size_t i = 0; i < set->count; i++)
		render_sources_add_file(&sources, set->deployments[i].file);
	/* First every deployment (counting warnings), then, when strict
	 * allows, the output: a strict render that fails writes nothing. */
	for (size_t i = 0; i < set->count; i++) {
		ctxs[i] = (struct render_ctx){ .opts = o, .dep = &set->deployments[i] };
		ctxs[i].doc = render_sources_doc(&sources, ctxs[i].dep->file, ctxs[i].dep->name);
		int r = o->target == RENDER_KUBERNETES ? render_kubernetes(&ctxs[i], err)
							: render_compose(&ctxs[i], err);
		warnings += ctxs[i].warnings;
		if (r < 0)
			goto out;
	}
	if (o->strict && warnings > 0) {
		zl_invalid(err, "%zu key%s cannot map (--strict); nothing was written", warnings,
			   warnings == 1 ? "" : "s");
		goto out;
	}
	if (o->output_dir && zl_mkdir_p(o->output_dir, 0755, err) < 0)
		goto out;
	for (size_t i = 0; i < set->count; i++)
		if (flush_objects(&ctxs[i], &stream, &first, err) < 0)
			goto out;
	if (!o->output_dir && stream.len && fwrite(stream.data, 1, stream.len, o->out) != stream.len) {
		zl_fail_errno(err, "write the rendered objects");
		goto out;
	}
	*ret_warnings = warnings;
	ret = 0;
out:
	for (size_t i = 0; i < set->count; i++)
		ctx_release(&ctxs[i]);
	free(ctxs);
	zl_buf_free(&stream);
	render_sources_free(&sources);
	return ret;
}
