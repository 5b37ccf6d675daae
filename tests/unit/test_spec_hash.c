/* test_spec_hash.c: the canonical spec hash. The same replica written
 * differently (key order, comments, flow style, 1024Mi vs 1Gi, explicit
 * defaults) hashes the same; any replica-affecting change hashes
 * differently and spec_sections_diff names the section; scale, depends and
 * schedule do not count. Also env resolution ($E:, $S:, $secret://), and
 * the wasm section: present only with a wasm block or a wasm_* service_type,
 * so a service without them keeps the hash it had before those keys.
 * The canonical text is written without cJSON (spec/canon.c) but must be
 * the bytes cJSON printed, which every recorded hash was taken of: checked
 * against cJSON for edge-case values, and pinned for every service of the
 * valid fixtures (which use every key). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "spec/spec.h"
#include "spec/spec-internal.h"
#include "tests/unit/spec-helpers.h"

#define HEAD "version: v1\ndeployment: hash-app\nservices:\n"

static char secrets_dir[64];

static int setup(void **state)
{
	snprintf(secrets_dir, sizeof(secrets_dir), "/tmp/test_spec_hash.XXXXXX");
	if (!mkdtemp(secrets_dir))
		return -1;
	struct zl_err err = ZL_ERR_INIT;
	char *path = zl_xasprintf("%s/db-pass", secrets_dir);
	int rc = zl_write_file_atomic(path, "hunter2\n", 8, 0600, &err);
	free(path);
	return rc;
}

static int teardown(void **state)
{
	struct zl_err err = ZL_ERR_INIT;
	return zl_rm_rf(secrets_dir, &err);
}

/* Hash of service "web" in text; sections optional. Fails the test on a
 * load or hash error. */
static void hash_of(const char *text, char hash[65], char **sections)
{
	struct spec_set set = { 0 };
	struct spec_diags diags = { 0 };
	if (spec_load_text("h.yaml", text, strlen(text), &set, &diags) != 0) {
		spec_diags_print(&diags, stderr);
		fail_msg("load failed:\n%s", text);
	}
	const struct spec_deployment *dep = &set.deployments[0];
	const struct spec_service *svc = spec_deployment_find(dep, "web");
	assert_non_null(svc);
	struct zl_err err = ZL_ERR_INIT;
	if (spec_service_hash(dep, svc, secrets_dir, hash, sections, &err) != 0)
		fail_msg("hash: %s", err.msg);
	assert_int_equal(strlen(hash), 64);
	assert_int_equal(strspn(hash, "0123456789abcdef"), 64);
	spec_set_free(&set);
	spec_diags_free(&diags);
}

static const char *const base =
	HEAD "  web:\n"
	"    image:\n      name: nginx:1.25\n"
	"    resources:\n      cpu: 1\n      memory: 1Gi\n"
	"    env:\n      A: one\n      B: two\n"
	"    endpoints:\n      - name: http\n        protocol: http\n        port: 80\n"
	"    health:\n      check:\n        type: tcp\n        port: 80\n"
	"    scale:\n      mode: fixed\n      replicas: 2\n"
	"  db:\n    image: { name: postgres }\n";

static void test_same_replica_same_hash(void **state)
{
	static const char *const variants[] = {
		/* key order, comments, flow style */
		HEAD "  db:\n    image: { name: postgres }\n"
		"  web:  # the web tier\n"
		"    scale: { replicas: 2, mode: fixed }\n"
		"    health: { check: { port: 80, type: tcp } }\n"
		"    endpoints: [{ port: 80, protocol: http, name: http }]\n"
		"    env: { B: two, A: one }\n"
		"    resources: { memory: 1024Mi, cpu: 1.0 }\n"
		"    image: { name: \"nginx:1.25\" }\n",
		/* every default written out */
		HEAD "  web:\n"
		"    rtype: service\n"
		"    image: { name: nginx:1.25, pull_policy: if_not_present }\n"
		"    resources: { cpu: 1, memory: 1048576Ki }\n"
		"    env: { A: one, B: two }\n"
		"    endpoints: [{ name: http, protocol: http, port: 80, target_port: 80, expose: internal }]\n"
		"    health: { start_grace: 5s, interval: 10s, timeout: 5000ms, retries: 3, check: { type: tcp, port: 80 } }\n"
		"    stop_signal: TERM\n    stop_grace_period: 10s\n"
		"    network_mode: default\n"
		"    scale: { mode: fixed, replicas: 2 }\n"
		"  db:\n    image: { name: postgres }\n",
		/* scale, depends and cluster keys do not affect a replica */
		HEAD "  web:\n"
		"    image: { name: nginx:1.25 }\n"
		"    resources: { cpu: 1, memory: 1Gi }\n"
		"    env: { A: one, B: two }\n"
		"    endpoints: [{ name: http, protocol: http, port: 80 }]\n"
		"    health: { check: { type: tcp, port: 80 } }\n"
		"    scale: { mode: adaptive, min: 3, max: 7 }\n"
		"    depends: [{ service: db }]\n"
		"    affinity: spread\n    node_mode: dedicated\n"
		"    errors: { on_panic: { action: shutdown } }\n"
		"  db:\n    image: { name: postgres }\n",
	};
	char want[65], got[65];
	hash_of(base, want, NULL);
	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		hash_of(variants[i], got, NULL);
		if (strcmp(want, got))
			fail_msg("variant %zu hashes differently:\n%s", i, variants[i]);
	}
}

/* Capabilities are a set: the order of the keys or of the items, their case
 * and a CAP_ prefix do not change the hash. */
static void test_capabilities_are_a_set(void **state)
{
	(void)state;
	char a[65], b[65], c[65];
	char *sa = NULL, *sb = NULL, *sc = NULL;
	hash_of(HEAD "  web:\n    image: { name: nginx }\n"
		"    capabilities: [NET_ADMIN]\n    cap_add: [SYS_TIME]\n", a, &sa);
	hash_of(HEAD "  web:\n    image: { name: nginx }\n"
		"    cap_add: [cap_sys_time]\n    capabilities: [NET_ADMIN]\n", b, &sb);
	hash_of(HEAD "  web:\n    image: { name: nginx }\n"
		"    cap_add: [NET_ADMIN, SYS_TIME, NET_ADMIN]\n", c, &sc);
	assert_string_equal(a, b);
	assert_string_equal(a, c);
	free(sa);
	free(sb);
	free(sc);
}

static void test_changes_name_their_section(void **state)
{
	static const struct { const char *from, *to, *section; } cases[] = {
		{ "A: one", "A: uno", "env" },
		{ "name: nginx:1.25", "name: nginx:1.26", "image" },
		{ "memory: 1Gi", "memory: 2Gi", "resources" },
		{ "cpu: 1\n", "cpu: 2\n", "resources" },
		{ "port: 80\n    health", "port: 81\n    health", "ports" },
		{ "    health:\n", "    health:\n      interval: 3s\n", "health" },
		{ "    scale:", "    command: [\"--fast\"]\n    scale:", "command" },
		{ "    scale:", "    user: \"1000\"\n    scale:", "security" },
		{ "    scale:", "    network_mode: host\n    scale:", "network" },
		{ "    scale:", "    stop_signal: SIGINT\n    scale:", "lifecycle" },
		{ "    scale:", "    labels: { a: b }\n    scale:", "runtime" },
		{ "    scale:", "    storage: [{ type: anonymous, target: /x }]\n    scale:", "storage" },
		{ "    scale:", "    init: { steps: [{ id: a, uses: init.run, with: { command: x } }] }\n    scale:", "init" },
	};
	char h0[65], h1[65];
	char *s0 = NULL, *s1 = NULL;
	hash_of(base, h0, &s0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *at = strstr(base, cases[i].from);
		assert_non_null(at);
		char *text = zl_xasprintf("%.*s%s%s", (int)(at - base), base, cases[i].to, at + strlen(cases[i].from));
		hash_of(text, h1, &s1);
		if (!strcmp(h0, h1))
			fail_msg("change %zu (%s) kept the hash", i, cases[i].to);
		char *diff = spec_sections_diff(s0, s1);
		if (strcmp(diff, cases[i].section))
			fail_msg("change %zu: sections \"%s\", want \"%s\"", i, diff, cases[i].section);
		free(diff);
		free(s1);
		free(text);
	}
	/* scale alone: same hash, no section */
	const char *at = strstr(base, "replicas: 2");
	char *text = zl_xasprintf("%.*sreplicas: 5%s", (int)(at - base), base, at + strlen("replicas: 2"));
	hash_of(text, h1, &s1);
	assert_string_equal(h0, h1);
	char *diff = spec_sections_diff(s0, s1);
	assert_string_equal(diff, "");
	free(diff);
	free(s1);
	free(text);
	free(s0);
}

static void test_sections_diff(void **state)
{
	char *d = spec_sections_diff("{\"image\":\"a\",\"env\":\"b\"}", "{\"image\":\"a\",\"env\":\"c\"}");
	assert_string_equal(d, "env");
	free(d);
	d = spec_sections_diff("{\"image\":\"a\",\"env\":\"b\"}", "{\"image\":\"x\",\"env\":\"c\"}");
	assert_string_equal(d, "image, env");
	free(d);
	d = spec_sections_diff("not json", "{}");
	assert_string_equal(d, "spec");
	free(d);
	d = spec_sections_diff(NULL, "{}");
	assert_string_equal(d, "spec");
	free(d);
	d = spec_sections_diff("{\"image\":\"a\",\"old\":\"b\"}", "{\"image\":\"a\"}");
	assert_string_equal(d, "old");
	free(d);
}

static void test_sections_json_shape(void **state)
{
	static const char *const names[] = { "image", "command", "env", "resources", "storage", "ports",
					     "health", "security", "network", "lifecycle", "init", "runtime" };
	char h[65];
	char *s = NULL;
	hash_of(base, h, &s);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char *key = zl_xasprintf("\"%s\":\"", names[i]);
		assert_non_null(strstr(s, key));
		free(key);
	}
	free(s);
}

static int resolve(const char *env_yaml, struct spec_kv **kv, size_t *count, struct zl_err *err, const char *dir)
{
	char *text = zl_xasprintf(HEAD "  web:\n    image: { name: nginx }\n    env:\n%s", env_yaml);
	struct spec_set set = { 0 };
	struct spec_diags diags = { 0 };
	assert_int_equal(spec_load_text("e.yaml", text, strlen(text), &set, &diags), 0);
	int rc = spec_service_resolve_env(&set.deployments[0].services[0], dir, kv, count, err);
	spec_set_free(&set);
	spec_diags_free(&diags);
	free(text);
	return rc;
}

static void test_resolve_env(void **state)
{
	struct spec_kv *kv = NULL;
	size_t n = 0;
	struct zl_err err = ZL_ERR_INIT;
	setenv("ZL_TEST_VAR", "from-env", 1);
	unsetenv("ZL_TEST_MISSING");
	assert_int_equal(resolve("      Z: \"$E:ZL_TEST_VAR\"\n      S: \"$S:db-pass\"\n      T: \"$secret://db-pass\"\n"
				 "      L: \"x$E:ZL_TEST_VAR\"\n      N: 5\n", &kv, &n, &err, secrets_dir), 0);
	assert_int_equal(n, 5);
	assert_string_equal(kv[0].key, "L");
	assert_string_equal(kv[0].value, "x$E:ZL_TEST_VAR"); /* embedded: literal */
	assert_string_equal(kv[1].value, "5");
	assert_string_equal(kv[2].value, "hunter2"); /* trailing newline stripped */
	assert_string_equal(kv[3].value, "hunter2");
	assert_string_equal(kv[4].key, "Z");
	assert_string_equal(kv[4].value, "from-env");
	spec_kv_free(kv, n);

	assert_int_equal(resolve("      DB: \"$E:ZL_TEST_MISSING\"\n", &kv, &n, &err, secrets_dir), -1);
	assert_non_null(strstr(err.msg, "web"));
	assert_non_null(strstr(err.msg, "DB"));
	assert_non_null(strstr(err.msg, "ZL_TEST_MISSING"));

	zl_err_clear(&err);
	assert_int_equal(resolve("      PASS: \"$S:nope\"\n", &kv, &n, &err, secrets_dir), -1);
	assert_non_null(strstr(err.msg, "web"));
	assert_non_null(strstr(err.msg, "PASS"));
	assert_non_null(strstr(err.msg, "nope"));

	zl_err_clear(&err);
	assert_int_equal(resolve("      PASS: \"$S:db-pass\"\n", &kv, &n, &err, NULL), -1);
	assert_null(strstr(err.msg, "hunter2"));
}

static void test_secret_changes_hash_but_never_shows(void **state)
{
	char h0[65], h1[65];
	char *s0 = NULL, *s1 = NULL;
	const char *text = HEAD "  web:\n    image: { name: nginx }\n    env: { PASS: \"$S:db-pass\" }\n";
	hash_of(text, h0, &s0);
	assert_null(strstr(s0, "hunter2"));
	struct zl_err err = ZL_ERR_INIT;
	char *path = zl_xasprintf("%s/db-pass", secrets_dir);
	assert_int_equal(zl_write_file_atomic(path, "hunter3", 7, 0600, &err), 0);
	hash_of(text, h1, &s1);
	assert_string_not_equal(h0, h1);
	char *diff = spec_sections_diff(s0, s1);
	assert_string_equal(diff, "env");
	free(diff);
	assert_int_equal(zl_write_file_atomic(path, "hunter2\n", 8, 0600, &err), 0);
	free(path);
	free(s0);
	free(s1);

	/* A missing secret fails the hash with the service and key named. */
	struct spec_set set = { 0 };
	struct spec_diags diags = { 0 };
	const char *t2 = HEAD "  web:\n    image: { name: nginx }\n    env: { PASS: \"$S:absent\" }\n";
	assert_int_equal(spec_load_text("x.yaml", t2, strlen(t2), &set, &diags), 0);
	char h[65];
	char *sections = NULL;
	assert_int_equal(spec_service_hash(&set.deployments[0], &set.deployments[0].services[0], secrets_dir, h,
					   &sections, &err), -1);
	assert_null(sections);
	assert_non_null(strstr(err.msg, "service web: env PASS"));
	spec_set_free(&set);
	spec_diags_free(&diags);
}

/* service_type and the wasm block came later than the hash: a service
 * without them must keep, bit for bit, the hash the code before them gave
 * (these values were computed by that code), or an upgrade would recreate
 * every replica. service_type standard is its default, and the file:
 * service has no wasm keys: both keep their hash too. */
static void test_hash_without_wasm_keys_unchanged(void **state)
{
	(void)state;
	static const struct { const char *text, *hash; } golden[] = {
		{ NULL /* base */, "4abf3d279545c354c6990ed5b353ce99adfa65538a98e90fa094fec2357e02ed" },
		{ HEAD "  web:\n    image: \"file:/srv/app.wasm\"\n    command: [\"--verbose\"]\n    env: { MODE: fast }\n"
		  "    storage: [{ type: bind, source: /srv/data, target: /data, readonly: true }]\n",
		  "3ee2e63327276ed632b77121c8c878888bf97dbcc87fce56f58a5d1c11ab4d64" },
		{ HEAD "  web:\n    image: { name: nginx }\n    user: \"1000\"\n    cap_drop: [ALL]\n    labels: { a: b }\n"
		  "    service_type: standard\n    network: { x: 1 }\n",
		  "46bb6a593b5e4d6d1dc9b4b90258cea528259b6bbeeded8c0bab7d5dcd439989" },
		{ HEAD "  web:\n    image: { name: nginx }\n    user: \"1000\"\n    cap_drop: [ALL]\n    labels: { a: b }\n",
		  "46bb6a593b5e4d6d1dc9b4b90258cea528259b6bbeeded8c0bab7d5dcd439989" },
	};
	for (size_t i = 0; i < sizeof(golden) / sizeof(golden[0]); i++) {
		char h[65];
		char *sections = NULL;
		hash_of(golden[i].text ? golden[i].text : base, h, &sections);
		if (strcmp(h, golden[i].hash))
			fail_msg("case %zu: hash %s, the code before the wasm keys gave %s", i, h, golden[i].hash);
		assert_null(strstr(sections, "\"wasm\""));
		free(sections);
	}
}

#define WASM_BASE HEAD "  web:\n    image: \"file:/srv/app.wasm\"\n    command: [\"--verbose\"]\n"

/* Hash and sections of WASM_BASE with more service keys. */
static void wasm_hash(const char *more, char hash[65], char **sections)
{
	char *text = zl_xasprintf(WASM_BASE "%s", more);
	hash_of(text, hash, sections);
	free(text);
}

/* isolation: vm recreates a container as a VM (diff names "isolation");
 * isolation: process is the container it was, hash unchanged. */
static void test_isolation_changes_hash(void **state)
{
	(void)state;
	char h0[65], hp[65], hv[65], hh[65];
	char *s0 = NULL, *sp = NULL, *sv = NULL, *sh = NULL;
	hash_of(HEAD "  web:\n    image: nginx:1\n", h0, &s0);
	hash_of(HEAD "  web:\n    image: nginx:1\n    isolation: process\n", hp, &sp);
	hash_of(HEAD "  web:\n    image: nginx:1\n    isolation: vm\n", hv, &sv);
	hash_of(HEAD "  web:\n    image: nginx:1\n    isolation: hyperv\n", hh, &sh);
	assert_string_equal(h0, hp);
	assert_string_not_equal(h0, hv);
	assert_string_equal(hv, hh);
	char *diff = spec_sections_diff(s0, sv);
	assert_string_equal(diff, "isolation");
	free(diff);
	free(s0);
	free(sp);
	free(sv);
	free(sh);
}

static void test_wasm_changes_hash(void **state)
{
	(void)state;
	char h0[65], h1[65];
	char *s0 = NULL, *s1 = NULL;
	const char *start = "    service_type: wasm_plugin\n    wasm:\n      max_memory: 64Mi\n"
			    "      preopens: [{ source: /srv/d, target: /d }]\n";
	wasm_hash(start, h0, &s0);
	assert_non_null(strstr(s0, "\"wasm\":\""));
	/* Each change recreates, and diff names the wasm section. */
	static const char *const changed[] = {
		"    service_type: wasm_router\n    wasm:\n      capabilities: { filesystem: true }\n      max_memory: 64Mi\n"
		"      preopens: [{ source: /srv/d, target: /d }]\n",
		"    service_type: wasm_plugin\n    wasm:\n      max_memory: 128Mi\n"
		"      preopens: [{ source: /srv/d, target: /d }]\n",
		"    service_type: wasm_plugin\n    wasm:\n      preopens: [{ source: /srv/d, target: /d }]\n",
		"    service_type: wasm_plugin\n    wasm:\n      max_memory: 64Mi\n"
		"      preopens: [{ source: /srv/e, target: /d }]\n",
		"    service_type: wasm_plugin\n    wasm:\n      max_memory: 64Mi\n"
		"      preopens: [{ source: /srv/d, target: /e }]\n",
		"    service_type: wasm_plugin\n    wasm:\n      max_memory: 64Mi\n"
		"      preopens: [{ source: /srv/d, target: /d, readonly: true }]\n",
		"    service_type: wasm_plugin\n    wasm:\n      max_memory: 64Mi\n",
		"    service_type: wasm_plugin\n    wasm:\n      max_memory: 64Mi\n      capabilities: { filesystem: false }\n",
	};
	for (size_t i = 0; i < sizeof(changed) / sizeof(changed[0]); i++) {
		wasm_hash(changed[i], h1, &s1);
		if (!strcmp(h0, h1))
			fail_msg("change %zu kept the hash:\n%s", i, changed[i]);
		char *diff = spec_sections_diff(s0, s1);
		if (strcmp(diff, "wasm"))
			fail_msg("change %zu: sections \"%s\", want \"wasm\"", i, diff);
		free(diff);
		free(s1);
	}
	/* Adding the keys to a service that had none recreates it, and diff
	 * names the section that appeared. */
	char hn[65];
	char *sn = NULL;
	wasm_hash("", hn, &sn);
	static const char *const added[] = { "    service_type: wasm_http\n", "    wasm: {}\n", "    wasm_http: {}\n" };
	for (size_t i = 0; i < sizeof(added) / sizeof(added[0]); i++) {
		wasm_hash(added[i], h1, &s1);
		assert_string_not_equal(hn, h1);
		char *diff = spec_sections_diff(sn, s1);
		assert_string_equal(diff, "wasm");
		free(diff);
		free(s1);
	}
	free(sn);
	/* Same replica, other spelling: units, key order, the old block name,
	 * explicit defaults, and the keys accepted with no effect. */
	static const char *const same[] = {
		"    wasm:\n      preopens: [{ target: /d, source: /srv/d, readonly: false }]\n      max_memory: 65536Ki\n"
		"    service_type: wasm_plugin\n",
		"    service_type: wasm_plugin\n    wasm_http:\n      max_memory: 64Mi\n"
		"      preopens: [{ source: /srv/d, target: /d }]\n",
		"    service_type: wasm_plugin\n    wasm:\n      max_memory: 64Mi\n      max_fuel: 0\n"
		"      capabilities: { filesystem: true, cli: true, config: false }\n      precompile: false\n"
		"      kv_namespace: other\n      allowed_hosts: [x.example]\n      secrets: [k]\n      allow_tcp: false\n"
		"      preopens: [{ source: /srv/d, target: /d }]\n",
		"    service_type: wasm_plugin\n    scale: { mode: fixed, replicas: 3 }\n    wasm:\n      max_memory: 64Mi\n"
		"      preopens: [{ source: /srv/d, target: /d }]\n",
	};
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		wasm_hash(same[i], h1, NULL);
		if (strcmp(h0, h1))
			fail_msg("variant %zu hashes differently:\n%s", i, same[i]);
	}
	/* A wasm_* service_type without a block is the same as with an empty
	 * one (the block's defaults); standard is the same as no service_type. */
	char a[65], b[65];
	wasm_hash("    service_type: wasm_http\n", a, NULL);
	wasm_hash("    service_type: wasm_http\n    wasm: {}\n", b, NULL);
	assert_string_equal(a, b);
	wasm_hash("", a, NULL);
	wasm_hash("    service_type: standard\n", b, NULL);
	assert_string_equal(a, b);
	free(s0);
}

/* cJSON_PrintUnformatted of item, freed; the item too. */
static char *cjson_text(cJSON *item)
{
	char *printed = cJSON_PrintUnformatted(item);
	char *text = zl_xstrdup(printed);
	cJSON_free(printed);
	cJSON_Delete(item);
	return text;
}

static void expect_same(struct zl_buf *b, cJSON *item, const char *what)
{
	char *want = cjson_text(item);
	if (strcmp(b->data, want))
		fail_msg("%s: canon wrote %s, cJSON printed %s", what, b->data, want);
	free(want);
	zl_buf_free(b);
}

/* The numbers where cJSON's printing changes form (int range, 15 and 17
 * significant digits, exponents, doubles that round an int64), then a
 * sweep of every magnitude; and strings with every byte that is escaped. */
static void test_canon_prints_what_cjson_prints(void **state)
{
	static const int64_t edges[] = {
		0, 1, -1, 9, 10, 42, -42, INT_MAX, (int64_t)INT_MAX + 1, INT_MIN, (int64_t)INT_MIN - 1,
		3LL << 30, 17592186044416LL, 999999999999999LL, 1000000000000000LL,
		1000000000000001LL, 123456789012345678LL, (1LL << 53) + 1, -(1LL << 53) - 1,
		INT64_MAX, INT64_MIN, INT64_MAX - 1, INT64_MIN + 1,
	};
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]) + 4000; i++) {
		int64_t v;
		if (i < sizeof(edges) / sizeof(edges[0])) {
			v = edges[i];
		} else {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			v = (int64_t)(x >> (x % 64));
			if (x & 1)
				v = -v;
		}
		struct zl_buf b = { 0 };
		struct canon w = { .b = &b };
		canon_num(&w, v);
		char what[32];
		snprintf(what, sizeof(what), "%lld", (long long)v);
		expect_same(&b, cJSON_CreateNumber((double)v), what);
	}
	char all[256];
	for (int c = 1; c < 256; c++)
		all[c - 1] = (char)c;
	all[255] = '\0';
	static const char *const strings[] = { "", "plain", "a \"quoted\" \\ path/", "tab\there\r\n",
					       "caf\xc3\xa9 \xff\xfe", "\x01\x1f\x7f\b\f" };
	for (size_t i = 0; i <= sizeof(strings) / sizeof(strings[0]); i++) {
		const char *str = i < sizeof(strings) / sizeof(strings[0]) ? strings[i] : all;
		struct zl_buf b = { 0 };
		struct canon w = { .b = &b };
		canon_str(&w, str);
		expect_same(&b, cJSON_CreateString(str), str);
	}
	/* Structure: keys (escaped too), nesting, empty containers, literals. */
	struct zl_buf b = { 0 };
	struct canon w = { .b = &b };
	canon_begin(&w, '{');
	canon_key(&w, "a\"b");
	canon_begin(&w, '[');
	canon_begin(&w, '{');
	canon_end(&w, '}');
	canon_begin(&w, '[');
	canon_end(&w, ']');
	canon_str_or_null(&w, NULL);
	canon_bool(&w, true);
	canon_num(&w, -7);
	canon_end(&w, ']');
	canon_key(&w, "f");
	canon_bool(&w, false);
	canon_end(&w, '}');
	cJSON *o = cJSON_CreateObject(), *arr = cJSON_CreateArray();
	cJSON_AddItemToArray(arr, cJSON_CreateObject());
	cJSON_AddItemToArray(arr, cJSON_CreateArray());
	cJSON_AddItemToArray(arr, cJSON_CreateNull());
	cJSON_AddItemToArray(arr, cJSON_CreateTrue());
	cJSON_AddItemToArray(arr, cJSON_CreateNumber(-7));
	cJSON_AddItemToObject(o, "a\"b", arr);
	cJSON_AddItemToObject(o, "f", cJSON_CreateFalse());
	expect_same(&b, o, "structure");
}

/* Every service of the valid fixtures, which together use every key: its
 * hash, sections and inspect text, digested per file. These digests were
 * computed by the code before spec/canon.c (a cJSON tree printed per
 * section). A changed digest means the fixture was edited (then review
 * and update it here) or the code changed what every recorded replica of
 * such a service was hashed with: an upgrade would recreate them all. */
static void test_fixture_hashes_pinned(void **state)
{
	static const struct { const char *name, *digest; } pinned[] = {
		{ "cluster", "8a4618effccfad6eaacdd91eec99ba9f39598334da664e516ee101c79470dc71" },
		{ "documents", "0348c3e5d1d501ce4b5d79244ab88bb9655be7b29e77e0c25e54ac7d55efb4a0" },
		{ "jobs", "6b3e5c42f77453d14b171c1137aadcf2a39653d51462251f846dc8e4fdc9fbf4" },
		{ "minimal", "37586ce7a2ef3317e50603571b188ea0c54d9dd9c9a3d6358e535ff6710a259a" },
		{ "network", "0700c55fd7efaa214a3bc5881d6b9ca6d3d62f32dd69dea722cb2e1fef99ab62" },
		{ "security", "dc6f421dd45c7a7853a93611a7e7a989754bba1eab27f69e6f08ad3460351291" },
		{ "shop", "6afd128d53986f7dfd1cfb1565a4323a0e6b10601b3897dd8236fab21cee0a1c" },
		{ "storage", "fb4cdd64c20abcb04df9384bf62c7f7222e58f8e80e587091529f94ae0624d2b" },
		{ "wasm", "004cb46d952ef1a573dba1cedda44ff527ec049942d474e5180e729ce8f779ba" },
		{ "yaml-forms", "1520f87d2990569a98f8ca7aab244e50618c5bfc5c1ea753b01db3384e7e13ee" },
	};
	/* shop.yaml reads $E:SHOP_LOG_LEVEL and secrets: its hashes fail
	 * ("-" in the digest) the same way every time */
	unsetenv("SHOP_LOG_LEVEL");
	for (size_t i = 0; i < sizeof(pinned) / sizeof(pinned[0]); i++) {
		char *path = zl_xasprintf("%s/tests/fixtures/spec/valid/%s.yaml", spec_source_root(),
					  pinned[i].name);
		struct spec_set set = { 0 };
		struct spec_diags diags = { 0 };
		const char *paths[] = { path };
		assert_int_equal(spec_load_paths(paths, 1, &set, &diags), 0);
		struct zl_buf all = { 0 };
		for (size_t d = 0; d < set.count; d++) {
			const struct spec_deployment *dep = &set.deployments[d];
			for (size_t k = 0; k < dep->service_count; k++) {
				const struct spec_service *svc = &dep->services[k];
				char hash[65];
				char *sections = NULL;
				struct zl_err err = ZL_ERR_INIT;
				bool ok = spec_service_hash(dep, svc, "/nonexistent", hash, &sections, &err) == 0;
				char *desc = spec_service_describe(svc);
				zl_buf_printf(&all, "%s\t%s\t%s\t%s\n", svc->name, ok ? hash : "-",
					      ok ? sections : "-", desc);
				free(sections);
				free(desc);
			}
		}
		char got[65];
		zl_sha256_hex(all.data, all.len, got);
		if (strcmp(got, pinned[i].digest))
			fail_msg("valid/%s.yaml: hashes, sections or inspect text changed (digest %s, pinned %s)",
				 pinned[i].name, got, pinned[i].digest);
		zl_buf_free(&all);
		spec_set_free(&set);
		spec_diags_free(&diags);
		free(path);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_replica_same_hash),
		cmocka_unit_test(test_capabilities_are_a_set),
		cmocka_unit_test(test_changes_name_their_section),
		cmocka_unit_test(test_sections_diff),
		cmocka_unit_test(test_sections_json_shape),
		cmocka_unit_test(test_resolve_env),
		cmocka_unit_test(test_secret_changes_hash_but_never_shows),
		cmocka_unit_test(test_hash_without_wasm_keys_unchanged),
		cmocka_unit_test(test_wasm_changes_hash),
		cmocka_unit_test(test_isolation_changes_hash),
		cmocka_unit_test(test_canon_prints_what_cjson_prints),
		cmocka_unit_test(test_fixture_hashes_pinned),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
