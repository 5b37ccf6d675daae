/* test_render.c: zlapply render end to end (issue 17, docs/scale-out.md).
 *
 * Runs the real binary from the source root (so file names in messages are
 * the relative ones the golden files hold) and checks:
 *   - the golden files: the Kubernetes and Compose renderings, and the
 *     warnings, of the example deployments and of every mapping fixture
 *     (ZLAPPLY_UPDATE_GOLDEN=1 rewrites them after a deliberate change);
 *   - every spec under tests/fixtures and examples/ that validates renders
 *     for both targets without error;
 *   - --strict: keys that cannot map are errors with file:line:col, exit 2,
 *     nothing written; --output-dir writes one file per object;
 *   - the round trip of meaning: for the example deployments, the rendered
 *     replicas, env, ports, probes, restart policy and spec hash equal what
 *     `zlapply diff` plans and `apply` records on one host (mock backend).
 * The objects' schemas are checked by tests/render/k8s-schema.sh, and the
 * Compose file by a real Swarm in tests/render/swarm-e2e.sh.
 */
#include "cli-helpers.h"

#include "spec/spec.h"

#include <glob.h>
#include <yaml.h>

#define GOLDEN_DIR "tests/fixtures/render/golden"

/* ---- YAML -> cJSON (every scalar a string), for looking things up ---- */

static cJSON *yaml_node(yaml_parser_t *p, yaml_event_t *first)
{
	cJSON *out = NULL;
	if (first->type == YAML_SCALAR_EVENT)
		return cJSON_CreateString((const char *)first->data.scalar.value);
	bool map = first->type == YAML_MAPPING_START_EVENT;
	out = map ? cJSON_CreateObject() : cJSON_CreateArray();
	for (;;) {
		yaml_event_t ev;
		if (!yaml_parser_parse(p, &ev))
			fail_msg("rendered YAML does not parse: %s", p->problem);
		if (ev.type == YAML_MAPPING_END_EVENT || ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			return out;
		}
		if (map) {
			char *key = strdup((const char *)ev.data.scalar.value);
			yaml_event_delete(&ev);
			if (!yaml_parser_parse(p, &ev))
				fail_msg("rendered YAML does not parse: %s", p->problem);
			cJSON_AddItemToObject(out, key, yaml_node(p, &ev));
			free(key);
		} else {
			cJSON_AddItemToArray(out, yaml_node(p, &ev));
		}
		yaml_event_delete(&ev);
	}
}

/* Every document of text, as an array. */
static cJSON *yaml_docs(const char *text)
{
	yaml_parser_t p;
	yaml_event_t ev;
	cJSON *docs = cJSON_CreateArray();
	assert_true(yaml_parser_initialize(&p));
	yaml_parser_set_input_string(&p, (const unsigned char *)text, strlen(text));
	for (;;) {
		if (!yaml_parser_parse(&p, &ev))
			fail_msg("rendered YAML does not parse: %s\n%s", p.problem, text);
		yaml_event_type_t type = ev.type;
		if (type == YAML_SCALAR_EVENT || type == YAML_MAPPING_START_EVENT ||
		    type == YAML_SEQUENCE_START_EVENT)
			cJSON_AddItemToArray(docs, yaml_node(&p, &ev));
		yaml_event_delete(&ev);
		if (type == YAML_STREAM_END_EVENT)
			break;
	}
	yaml_parser_delete(&p);
	return docs;
}

/* obj at "a.b.c" through objects; "[n]" indexes arrays. */
static const cJSON *jget(const cJSON *obj, const char *path)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", path);
	const cJSON *cur = obj;
	for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok && cur;
	     tok = strtok_r(NULL, ".", &save))
		cur = tok[0] == '[' ? cJSON_GetArrayItem(cur, atoi(tok + 1))
				    : cJSON_GetObjectItemCaseSensitive(cur, tok);
	return cur;
}

static const char *jstr(const cJSON *obj, const char *path)
{
	const cJSON *n = jget(obj, path);
	return cJSON_IsString(n) ? n->valuestring : NULL;
}

static const cJSON *find_object(const cJSON *docs, const char *kind, const char *name)
{
	const cJSON *d;
	cJSON_ArrayForEach(d, docs) {
		const char *k = jstr(d, "kind"), *n = jstr(d, "metadata.name");
		if (k && n && strcmp(k, kind) == 0 && strcmp(n, name) == 0)
			return d;
	}
	return NULL;
}

static void assert_has(const char *text, const char *needle)
{
	if (!strstr(text, needle))
		fail_msg("\"%s\" not found in:\n%s", needle, text);
}

/* ---- goldens ---- */

static const char *const golden_specs[] = {
	"examples/deployments/hello.yaml",
	"examples/deployments/web.yaml",
	"examples/deployments/vm.yaml",
	"examples/deployments/wasm.yaml",
	"tests/fixtures/render/mapping.yaml",
	"tests/fixtures/render/unmappable.yaml",
	"tests/fixtures/render/swarm.yaml",
	"tests/fixtures/spec/full.yaml",
	"tests/fixtures/spec/valid/cluster.yaml",
	"tests/fixtures/spec/valid/documents.yaml",
	"tests/fixtures/spec/valid/jobs.yaml",
	"tests/fixtures/spec/valid/minimal.yaml",
	"tests/fixtures/spec/valid/network.yaml",
	"tests/fixtures/spec/valid/security.yaml",
	"tests/fixtures/spec/valid/shop.yaml",
	"tests/fixtures/spec/valid/storage.yaml",
	"tests/fixtures/spec/valid/wasm.yaml",
	"tests/fixtures/spec/valid/yaml-forms.yaml",
};

static void check_golden(const char *path, const char *got)
{
	const char *update = getenv("ZLAPPLY_UPDATE_GOLDEN");
	if (update && strcmp(update, "1") == 0) {
		cli_write_file(path, got);
		return;
	}
	char *want = cli_read_file(path);
	if (!want)
		fail_msg("no golden file %s (ZLAPPLY_UPDATE_GOLDEN=1 writes it)", path);
	if (strcmp(want, got) != 0) {
		/* Show where they part. */
		size_t i = 0;
		while (want[i] && want[i] == got[i])
			i++;
		size_t from = i > 200 ? i - 200 : 0;
		fail_msg("%s differs at byte %zu:\n--- golden:\n%.400s\n--- rendered:\n%.400s", path, i,
			 want + from, got + from);
	}
	free(want);
}

static void test_goldens(void **state)
{
	(void)state;
	static const char *const targets[] = { "kubernetes", "compose" };
	for (size_t i = 0; i < sizeof(golden_specs) / sizeof(golden_specs[0]); i++) {
		const char *spec = golden_specs[i], *slash = strrchr(spec, '/');
		char base[128];
		snprintf(base, sizeof(base), "%.*s", (int)(strcspn(slash + 1, ".")), slash + 1);
		const char *dir = strstr(spec, "fixtures/spec/valid") ? "valid-" :
				  strncmp(spec, "examples/", 9) == 0 ? "example-" : "";
		for (size_t t = 0; t < 2; t++) {
			char *out = NULL, *err = NULL, path[PATH_MAX];
			int code = run_zlapply(NULL, NULL, &out, &err, "render", "--to", targets[t], "-f", spec);
			assert_exit(code, 0, out, err);
			cli_pathf(path, GOLDEN_DIR "/%s%s.%s.yaml", dir, base, t ? "compose" : "k8s");
			check_golden(path, out);
			cli_pathf(path, GOLDEN_DIR "/%s%s.%s.stderr", dir, base, t ? "compose" : "k8s");
			check_golden(path, err);
			free(out);
			free(err);
		}
	}
}

/* ---- every spec that validates renders ---- */

static size_t fixture_count;
static char *fixtures[512];

static int collect(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_F && fixture_count < 512 && cli_has_yaml_suffix(path))
		fixtures[fixture_count++] = strdup(path);
	return 0;
}

static void test_every_valid_spec_renders(void **state)
{
	(void)state;
	fixture_count = 0;
	assert_int_equal(nftw("tests/fixtures", collect, 16, FTW_PHYS), 0);
	assert_int_equal(nftw("examples/deployments", collect, 16, FTW_PHYS), 0);
	size_t rendered = 0;
	for (size_t i = 0; i < fixture_count; i++) {
		char *out = NULL, *err = NULL;
		int code = run_zlapply(NULL, NULL, &out, &err, "validate", "-q", "-f", fixtures[i]);
		free(out);
		free(err);
		if (code != 0)
			continue; /* an invalid-input fixture */
		for (int t = 0; t < 2; t++) {
			code = run_zlapply(NULL, NULL, &out, &err, "render", "--to", t ? "compose" : "kubernetes",
					   "-f", fixtures[i]);
			if (code != 0 || !*out)
				fail_msg("%s: render --to %s: exit %d\n%s", fixtures[i],
					 t ? "compose" : "kubernetes", code, err);
			free(out);
			free(err);
		}
		rendered++;
	}
	for (size_t i = 0; i < fixture_count; i++)
		free(fixtures[i]);
	/* The examples, the render fixtures and tests/fixtures/spec/valid at least. */
	assert_true(rendered >= 15);
}

/* ---- strict, names, output dir, usage ---- */

static void test_strict_refuses_and_writes_nothing(void **state)
{
	struct cli_tmp *t = *state;
	char out_dir[PATH_MAX], *out = NULL, *err = NULL;
	cli_path(t, "out", out_dir);
	int code = run_zlapply(NULL, NULL, &out, &err, "render", "--to", "kubernetes", "--strict",
			       "--output-dir", out_dir, "-f", "tests/fixtures/render/unmappable.yaml");
	assert_exit(code, 2, out, err);
	/* The cron expression Kubernetes cannot express, at its line. */
	assert_has(err, "tests/fixtures/render/unmappable.yaml:8:5: error: services.ticker.schedule: "
			"\"*/30 * * * * *\": a seconds field other than 0 cannot be expressed");
	assert_has(err, "unmappable.yaml:14:5: error: services.box.user:");
	assert_has(err, "nothing was written");
	struct stat st;
	assert_int_equal(stat(out_dir, &st), -1);
	assert_string_equal(out, "");
	free(out);
	free(err);

	/* Without --strict: warnings, the rest rendered, no CronJob. */
	code = run_zlapply(NULL, NULL, &out, &err, "render", "--to", "kubernetes", "-f",
			   "tests/fixtures/render/unmappable.yaml");
	assert_exit(code, 0, out, err);
	assert_has(err, "unmappable.yaml:8:5: warning: services.ticker.schedule:");
	assert_has(out, "kind: Deployment");
	assert_null(strstr(out, "kind: CronJob"));
	free(out);
	free(err);

	/* Compose: a cron service is no Swarm service. */
	code = run_zlapply(NULL, NULL, &out, &err, "render", "--to", "compose", "--strict", "-f",
			   "tests/fixtures/render/unmappable.yaml");
	assert_exit(code, 2, out, err);
	assert_has(err, "unmappable.yaml:7:5: error: services.ticker.rtype: Swarm services run continuously");
	free(out);
	free(err);
}

static void test_names_made_valid_and_said(void **state)
{
	(void)state;
	char *out = NULL, *err = NULL;
	int code = run_zlapply(NULL, NULL, &out, &err, "render", "--to", "kubernetes", "-f",
			       "tests/fixtures/render/mapping.yaml");
	assert_exit(code, 0, out, err);
	cJSON *docs = yaml_docs(out);
	assert_non_null(find_object(docs, "Namespace", "shop-eu"));
	assert_non_null(find_object(docs, "Service", "x-1api"));
	assert_non_null(find_object(docs, "Service", "x-1api-public"));
	assert_has(err, "mapping.yaml:7:3: warning: services.1api: \"1api\" is not a DNS-1035 label");
	assert_has(err, "rendered as \"x-1api\"");
	assert_has(err, "mapping.yaml:4:1: warning: deployment: \"Shop-EU\" is not a DNS-1123 label");
	const cJSON *api = find_object(docs, "Deployment", "1api");
	assert_non_null(api);
	assert_string_equal(jstr(api, "spec.template.spec.containers.[0].ports.[0].name"), "web-main");
	/* $E:/$S: values are references, never values. */
	assert_string_equal(jstr(api, "spec.template.spec.containers.[0].env.[1].valueFrom.configMapKeyRef.key"),
			    "SHOP_DB_URL");
	assert_string_equal(jstr(api, "spec.template.spec.containers.[0].env.[0].valueFrom.secretKeyRef.key"),
			    "api-key");
	/* depends: an init container waits for db's Service. */
	assert_has(jstr(api, "spec.template.spec.initContainers.[0].command.[2]"), "nc -w 2 db 5432");
	/* ZLayer's 6-field cron, seconds 0: Kubernetes' 5 fields. */
	assert_string_equal(jstr(find_object(docs, "CronJob", "nightly"), "spec.schedule"), "30 2 * * MON-FRI");
	cJSON_Delete(docs);
	free(out);
	free(err);

	/* NodePort instead of LoadBalancer. */
	code = run_zlapply(NULL, NULL, &out, &err, "render", "--to", "kubernetes", "--public-service",
			   "nodeport", "-f", "tests/fixtures/render/mapping.yaml");
	assert_exit(code, 0, out, err);
	docs = yaml_docs(out);
	assert_string_equal(jstr(find_object(docs, "Service", "x-1api-public"), "spec.type"), "NodePort");
	assert_string_equal(jstr(find_object(docs, "Service", "x-1api"), "spec.type"), "ClusterIP");
	cJSON_Delete(docs);
	free(out);
	free(err);
}

static void test_output_dir_one_file_per_object(void **state)
{
	struct cli_tmp *t = *state;
	char dir[PATH_MAX], *out = NULL, *err = NULL;
	cli_path(t, "k8s", dir);
	int code = run_zlapply(NULL, NULL, &out, &err, "render", "--to", "kubernetes", "-f",
			       "tests/fixtures/render/mapping.yaml");
	assert_exit(code, 0, out, err);
	cJSON *docs = yaml_docs(out);
	int objects = cJSON_GetArraySize(docs);
	cJSON_Delete(docs);
	free(out);
	free(err);
	code = run_zlapply(NULL, NULL, &out, &err, "render", "--to", "kubernetes", "--output-dir", dir,
			   "-f", "tests/fixtures/render/mapping.yaml");
	assert_exit(code, 0, out, err);
	assert_string_equal(out, "");
	free(out);
	free(err);
	char pattern[PATH_MAX];
	glob_t g;
	cli_pathf(pattern, "%s/Shop-EU/*.yaml", dir);
	assert_int_equal(glob(pattern, 0, NULL, &g), 0);
	assert_int_equal((int)g.gl_pathc, objects);
	/* Numbered in apply order: the Namespace first. */
	assert_non_null(strstr(g.gl_pathv[0], "/001-namespace-shop-eu.yaml"));
	for (size_t i = 0; i < g.gl_pathc; i++) {
		char *text = cli_read_file(g.gl_pathv[i]);
		cJSON *one = yaml_docs(text);
		assert_int_equal(cJSON_GetArraySize(one), 1);
		cJSON_Delete(one);
		free(text);
	}
	globfree(&g);

	cli_path(t, "compose", dir);
	code = run_zlapply(NULL, NULL, &out, &err, "render", "--to", "compose", "--output-dir", dir,
			   "-f", "examples/deployments/web.yaml");
	assert_exit(code, 0, out, err);
	cli_pathf(pattern, "%s/web-demo.compose.yaml", dir);
	char *text = cli_read_file(pattern);
	assert_non_null(text);
	assert_has(text, "version: \"3.8\"");
	free(text);
	free(out);
	free(err);
}

static void test_values_only_when_asked(void **state)
{
	struct cli_tmp *t = *state;
	char secrets[PATH_MAX], key[PATH_MAX], *out = NULL, *err = NULL;
	cli_path(t, "secrets", secrets);
	assert_int_equal(mkdir(secrets, 0700), 0);
	cli_pathf(key, "%s/api-key", secrets);
	cli_write_file(key, "s3cr3t-value\n");
	const char *const env[] = { "SHOP_DB_URL=postgres://db.internal/shop", NULL };

	/* By default: references only, whatever the environment holds. */
	int code = cli_run(NULL, NULL, env, (const char *const[]){ "render", "--to", "kubernetes", "-f",
		"tests/fixtures/render/mapping.yaml", NULL }, &out, &err);
	assert_exit(code, 0, out, err);
	assert_null(strstr(out, "postgres://db.internal/shop"));
	assert_null(strstr(out, "kind: ConfigMap"));
	free(out);
	free(err);

	/* Asked: a ConfigMap and a Secret with the values apply would use. */
	code = cli_run(NULL, NULL, env, (const char *const[]){ "render", "--to", "kubernetes",
		"--include-values", "--secrets-dir", secrets, "-f", "tests/fixtures/render/mapping.yaml", NULL },
		&out, &err);
	assert_exit(code, 0, out, err);
	cJSON *docs = yaml_docs(out);
	const cJSON *cm = find_object(docs, "ConfigMap", "zlapply-env");
	assert_non_null(cm);
	assert_string_equal(jstr(cm, "data.SHOP_DB_URL"), "postgres://db.internal/shop");
	/* Applied before the pods that need it: right after the Namespace. */
	assert_ptr_equal(cm, cJSON_GetArrayItem(docs, 1));
	assert_string_equal(jstr(find_object(docs, "Secret", "zlapply-secrets"), "stringData.api-key"),
			    "s3cr3t-value");
	cJSON_Delete(docs);
	free(out);
	free(err);

	/* Compose: the variable's value; the secret from its file, by path. */
	code = cli_run(NULL, NULL, env, (const char *const[]){ "render", "--to", "compose",
		"--include-values", "--secrets-dir", secrets, "-f", "tests/fixtures/render/mapping.yaml", NULL },
		&out, &err);
	assert_exit(code, 0, out, err);
	assert_has(out, "DB_URL: postgres://db.internal/shop");
	assert_has(out, key);
	assert_null(strstr(out, "s3cr3t-value"));
	free(out);
	free(err);

	/* A missing secret: the error apply gives, exit 2. */
	code = run_zlapply(NULL, NULL, &out, &err, "render", "--to", "kubernetes", "--include-values",
			   "-f", "tests/fixtures/render/mapping.yaml");
	assert_exit(code, 2, out, err);
	assert_has(err, "--include-values: service 1api: env");
	free(out);
	free(err);
}

static void test_usage_errors(void **state)
{
	(void)state;
	char *out = NULL, *err = NULL;
	int code = run_zlapply(NULL, NULL, &out, &err, "render", "-f", "examples/deployments/hello.yaml");
	assert_exit(code, 2, out, err);
	assert_has(err, "render needs --to kubernetes|compose");
	free(out);
	free(err);
	code = run_zlapply(NULL, NULL, &out, &err, "render", "--to", "nomad", "-f", "examples/deployments/hello.yaml");
	assert_exit(code, 2, out, err);
	assert_has(err, "--to: expected kubernetes|compose, got \"nomad\"");
	free(out);
	free(err);
	code = run_zlapply(NULL, NULL, &out, &err, "render", "--to", "compose", "--public-service", "nodeport",
			   "-f", "examples/deployments/hello.yaml");
	assert_exit(code, 2, out, err);
	assert_has(err, "--public-service goes with --to kubernetes");
	free(out);
	free(err);
	/* Bad input stays bad input: exit 2 with the spec's own diagnostics. */
	code = run_zlapply(NULL, NULL, &out, &err, "render", "--to", "kubernetes", "-f",
			   "tests/fixtures/cli/bad-memory.yaml");
	assert_exit(code, 2, out, err);
	assert_has(err, "tests/fixtures/cli/bad-memory.yaml:");
	assert_has(err, "nothing was rendered");
	free(out);
	free(err);
}

/* ---- the round trip of meaning ---- */

static int count_creates(const char *plan, const char *service)
{
	char prefix[160];
	snprintf(prefix, sizeof(prefix), "+ create %s-rep-", service);
	int n = 0;
	for (const char *p = plan; (p = strstr(p, prefix)); p += strlen(prefix))
		if (p == plan || p[-1] == '\n')
			n++;
	return n;
}

/* The spec hash apply recorded for the service's first replica; when the
 * mock backend could not start it (a dependency's health check needs a
 * network the mock gives no replica), the hash apply computes for it. */
static char *recorded_hash(const char *root, const struct spec_deployment *dep,
			   const struct spec_service *svc)
{
	cJSON *doc = cli_status_json(root, dep->name);
	cJSON *rep = cli_json_replica(doc, dep->name, svc->name, 1);
	char *hash = NULL;
	if (rep) {
		hash = strdup(cli_json_str(rep, "spec_hash"));
	} else {
		char buf[65], *sections = NULL;
		struct zl_err err = ZL_ERR_INIT;
		assert_int_equal(spec_service_hash(dep, svc, NULL, buf, &sections, &err), 0);
		free(sections);
		hash = strdup(buf);
	}
	cJSON_Delete(doc);
	return hash;
}

static void check_k8s_service(const cJSON *docs, const struct spec_service *svc, int creates,
			      const char *hash)
{
	const cJSON *w = find_object(docs, "Deployment", svc->name);
	if (!w)
		w = find_object(docs, "StatefulSet", svc->name);
	assert_non_null(w);
	char want[64];
	snprintf(want, sizeof(want), "%d", creates);
	assert_string_equal(jstr(w, "spec.replicas"), want);
	/* The key has dots: looked up directly, not through a path. */
	const cJSON *ann = cJSON_GetObjectItemCaseSensitive(jget(w, "spec.template.metadata.annotations"),
							    "zlapply.dev/spec-hash");
	assert_non_null(ann);
	assert_string_equal(ann->valuestring, hash);
	const cJSON *ctr = jget(w, "spec.template.spec.containers.[0]");
	assert_non_null(ctr);
	assert_int_equal(cJSON_GetArraySize(jget(ctr, "env")), (int)svc->env_count);
	for (size_t i = 0; i < svc->env_count; i++) {
		char path[64];
		snprintf(path, sizeof(path), "env.[%zu].name", i);
		assert_string_equal(jstr(ctr, path), svc->env[i].key);
		snprintf(path, sizeof(path), "env.[%zu].value", i);
		assert_string_equal(jstr(ctr, path), svc->env[i].value);
	}
	for (size_t i = 0; i < svc->endpoint_count; i++) {
		char path[64];
		snprintf(path, sizeof(path), "ports.[%zu].containerPort", i);
		snprintf(want, sizeof(want), "%d", svc->endpoints[i].target_port);
		assert_string_equal(jstr(ctr, path), want);
	}
	/* zlapply restarts long-running replicas: Always. */
	assert_string_equal(jstr(w, "spec.template.spec.restartPolicy"), "Always");
	if (!svc->health.present) {
		assert_null(jget(ctr, "readinessProbe"));
		return;
	}
	const char *probes[] = { "readinessProbe", "livenessProbe" };
	for (int p = 0; p < 2; p++) {
		const cJSON *pr = jget(ctr, probes[p]);
		assert_non_null(pr);
		snprintf(want, sizeof(want), "%lld", (long long)(svc->health.interval_ms / 1000));
		assert_string_equal(jstr(pr, "periodSeconds"), want);
		snprintf(want, sizeof(want), "%lld", (long long)(svc->health.timeout_ms / 1000));
		assert_string_equal(jstr(pr, "timeoutSeconds"), want);
		snprintf(want, sizeof(want), "%d", svc->health.retries);
		assert_string_equal(jstr(pr, "failureThreshold"), want);
		if (svc->health.check == SPEC_CHECK_TCP) {
			snprintf(want, sizeof(want), "%d", svc->health.port);
			assert_string_equal(jstr(pr, "tcpSocket.port"), want);
		}
	}
}

static void check_compose_service(const cJSON *doc, const struct spec_service *svc, int creates,
				  const char *hash)
{
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(jget(doc, "services"), svc->name);
	assert_non_null(s);
	char want[64];
	snprintf(want, sizeof(want), "%d", creates);
	assert_string_equal(jstr(s, "deploy.replicas"), want);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(jget(s, "deploy.labels"),
							     "zlapply.dev/spec-hash")->valuestring, hash);
	for (size_t i = 0; i < svc->env_count; i++)
		assert_string_equal(cJSON_GetObjectItemCaseSensitive(jget(s, "environment"),
								     svc->env[i].key)->valuestring,
				    svc->env[i].value);
	for (size_t i = 0, pub = 0; i < svc->endpoint_count; i++) {
		if (svc->endpoints[i].expose != SPEC_EXPOSE_PUBLIC)
			continue;
		char path[64];
		snprintf(path, sizeof(path), "ports.[%zu].published", pub++);
		snprintf(want, sizeof(want), "%d", svc->endpoints[i].port);
		assert_string_equal(jstr(s, path), want);
	}
	assert_string_equal(jstr(s, "deploy.restart_policy.condition"), "any");
	if (svc->health.present) {
		snprintf(want, sizeof(want), "%d", svc->health.retries);
		assert_string_equal(jstr(s, "healthcheck.retries"), want);
		char *iv = NULL;
		assert_true(asprintf(&iv, "%llds", (long long)(svc->health.interval_ms / 1000)) > 0);
		assert_string_equal(jstr(s, "healthcheck.interval"), iv);
		free(iv);
	}
}

static void test_round_trip_examples(void **state)
{
	struct cli_tmp *t = *state;
	static const char *const examples[] = { "examples/deployments/hello.yaml",
						"examples/deployments/web.yaml",
						"examples/deployments/vm.yaml" };
	for (size_t e = 0; e < sizeof(examples) / sizeof(examples[0]); e++) {
		struct spec_set set = { 0 };
		struct spec_diags diags = { 0 };
		const char *paths[] = { examples[e] };
		assert_int_equal(spec_load_paths(paths, 1, &set, &diags), 0);
		spec_diags_free(&diags);
		const struct spec_deployment *dep = &set.deployments[0];

		char root[PATH_MAX], *plan = NULL, *err = NULL, *k8s = NULL, *compose = NULL;
		cli_pathf(root, "%s/root-%zu", t->dir, e);
		int code = run_zlapply(root, NULL, &plan, &err, "diff", "-f", examples[e]);
		assert_exit(code, 0, plan, err);
		free(err);
		/* The replicas and the hash they record (see recorded_hash()). */
		code = run_zlapply(root, NULL, NULL, &err, "apply", "-q", "-f", examples[e]);
		free(err);
		code = run_zlapply(NULL, NULL, &k8s, &err, "render", "--to", "kubernetes", "-f", examples[e]);
		assert_exit(code, 0, k8s, err);
		free(err);
		code = run_zlapply(NULL, NULL, &compose, &err, "render", "--to", "compose", "-f", examples[e]);
		assert_exit(code, 0, compose, err);
		free(err);
		cJSON *k8s_docs = yaml_docs(k8s), *compose_docs = yaml_docs(compose);
		for (size_t i = 0; i < dep->service_count; i++) {
			const struct spec_service *svc = &dep->services[i];
			int creates = count_creates(plan, svc->name);
			assert_int_equal(creates, spec_service_desired_replicas(svc));
			assert_true(creates > 0);
			char *hash = recorded_hash(root, dep, svc);
			check_k8s_service(k8s_docs, svc, creates, hash);
			check_compose_service(cJSON_GetArrayItem(compose_docs, 0), svc, creates, hash);
			free(hash);
		}
		cJSON_Delete(k8s_docs);
		cJSON_Delete(compose_docs);
		free(plan);
		free(k8s);
		free(compose);
		spec_set_free(&set);
	}
}

int main(void)
{
	/* File names in messages and goldens are relative to the tree. */
	if (chdir(ZL_TEST_SOURCE_ROOT) < 0) {
		perror("chdir " ZL_TEST_SOURCE_ROOT);
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_goldens, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_every_valid_spec_renders, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_strict_refuses_and_writes_nothing, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_names_made_valid_and_said, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_output_dir_one_file_per_object, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_values_only_when_asked, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_usage_errors, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_round_trip_examples, cli_tmp_setup, cli_tmp_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
