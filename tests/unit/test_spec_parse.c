/* test_spec_parse.c: loading deployment specs: ZLayer's own examples, every
 * validation rule of SPEC-REFERENCE.md with its key path, the decisions
 * where zlapply differs, defaults, depends order, multi-document files,
 * directories, stdin, robustness against garbage and the 1000-service
 * load time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <signal.h>
#include <string.h>

#include "spec/spec.h"

#define HEAD "version: v1\ndeployment: test-app\nservices:\n"

struct loaded {
	struct spec_set set;
	struct spec_diags diags;
	int rc;
};

static void load(struct loaded *l, const char *text)
{
	memset(l, 0, sizeof(*l));
	l->rc = spec_load_text("t.yaml", text, strlen(text), &l->set, &l->diags);
}

static void unload(struct loaded *l)
{
	spec_set_free(&l->set);
	spec_diags_free(&l->diags);
}

static char *diags_text(const struct spec_diags *d)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	spec_diags_print(d, f);
	fclose(f);
	return buf;
}

static const struct spec_diag *find_diag(const struct spec_diags *d, const char *path, const char *part)
{
	for (size_t i = 0; i < d->count; i++)
		if (!d->items[i].is_note && !strcmp(d->items[i].path, path) &&
		    (!part || strstr(d->items[i].msg, part)))
			return &d->items[i];
	return NULL;
}

/* The text must fail with an error at path whose message contains part. */
static void expect_error(const char *text, const char *path, const char *part)
{
	struct loaded l;
	load(&l, text);
	if (l.rc == 0 || !find_diag(&l.diags, path, part)) {
		char *all = diags_text(&l.diags);
		fail_msg("want error at %s containing \"%s\"; got:\n%s--- in:\n%s", path, part ? part : "",
			 all ? all : "", text);
	}
	unload(&l);
}

static void expect_clean(struct loaded *l, const char *text)
{
	load(l, text);
	if (l->rc != 0 || l->diags.errors) {
		char *all = diags_text(&l->diags);
		fail_msg("want no error; got:\n%s--- in:\n%s", all ? all : "", text);
	}
	assert_int_equal(l->set.count, 1);
}

static const char *examples_dir(void)
{
	const char *e = getenv("ZLAPPLY_EXAMPLES");
	return e && *e ? e : "/work/shared/zlayer-examples";
}

static const char *source_root(void)
{
	const char *e = getenv("ZLAPPLY_SOURCE_ROOT");
	return e && *e ? e : "/work/main";
}

/* ---- ZLayer's examples ---- */

static void test_valid_examples_parse_clean(void **state)
{
	char *dir = zl_xasprintf("%s/valid", examples_dir());
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct dirent *de;
	int files = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char *path = zl_xasprintf("%s/%s", dir, de->d_name);
		const char *paths[] = { path };
		struct spec_set set = { 0 };
		struct spec_diags diags = { 0 };
		int rc = spec_load_paths(paths, 1, &set, &diags);
		if (rc != 0 || diags.errors != 0) {
			char *all = diags_text(&diags);
			fail_msg("%s:\n%s", path, all);
		}
		assert_int_equal(set.count, 1);
		assert_true(set.deployments[0].service_count >= 1);
		spec_set_free(&set);
		spec_diags_free(&diags);
		free(path);
		files++;
	}
	closedir(d);
	free(dir);
	assert_true(files >= 11);
}

static void test_invalid_examples_name_each_key(void **state)
{
	static const struct {
		const char *file;
		const char *paths[8]; /* exactly the error paths expected */
	} cases[] = {
		{ "examples__containers__multi-service__deployment.yaml",
		  { "services.web.volumes", "services.api.init.steps[1].uses", "services.database.volumes",
		    "services.database.health.check.type", "services.cache.health.check.type" } },
		{ "examples__containers__postgres-db__deployment.yaml",
		  { "services.database.volumes", "services.database.health.check.type" } },
		{ "examples__containers__redis-cache__deployment.yaml",
		  { "services.cache.health.check.type" } },
		{ "examples__full-service.yaml", { "services.cleanup.schedule" } },
		/* Only problem for ZLayer: the list-form command, which we accept. */
		{ "examples__python__hello.zlayer.yaml", { NULL } },
		{ "examples__wasm__deployment.yaml", { "services.rust-hello.runtime", "services.go-hello.runtime" } },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *path = zl_xasprintf("%s/invalid/%s", examples_dir(), cases[i].file);
		const char *paths[] = { path };
		struct spec_set set = { 0 };
		struct spec_diags diags = { 0 };
		int rc = spec_load_paths(paths, 1, &set, &diags);
		char *all = diags_text(&diags);
		size_t want = 0;
		while (want < 8 && cases[i].paths[want])
			want++;
		if ((rc != 0) != (want != 0) || diags.errors != want)
			fail_msg("%s: want %zu errors, got:\n%s", path, want, all ? all : "");
		for (size_t j = 0; j < want; j++)
			if (!find_diag(&diags, cases[i].paths[j], NULL))
				fail_msg("%s: no error at %s; got:\n%s", path, cases[i].paths[j], all);
		for (size_t j = 0; j < diags.count; j++) {
			assert_true(diags.items[j].line > 0);
			assert_true(diags.items[j].col > 0);
		}
		free(all);
		spec_set_free(&set);
		spec_diags_free(&diags);
		free(path);
	}
}

static void test_invalid_example_messages(void **state)
{
	char *path = zl_xasprintf("%s/invalid/examples__containers__multi-service__deployment.yaml", examples_dir());
	const char *paths[] = { path };
	struct spec_set set = { 0 };
	struct spec_diags diags = { 0 };
	spec_load_paths(paths, 1, &set, &diags);
	const struct spec_diag *d = find_diag(&diags, "services.database.health.check.type", NULL);
	assert_non_null(d);
	assert_string_equal(d->msg, "expected tcp|http|command, got \"exec\"");
	assert_int_equal(d->line, 208);
	assert_int_equal(d->col, 15);
	d = find_diag(&diags, "services.web.volumes", NULL);
	assert_non_null(strstr(d->msg, "\"storage\""));
	/* Dependencies first, ties in file order. */
	const struct spec_deployment *dep = &set.deployments[0];
	const char *order[] = { "database", "cache", "api", "web", "worker", "cleanup" };
	assert_int_equal(dep->service_count, 6);
	for (size_t i = 0; i < 6; i++)
		assert_string_equal(dep->services[i].name, order[i]);
	/* An embedded "$E:" is literal text, kept as written. */
	const struct spec_service *api = spec_deployment_find(dep, "api");
	bool found = false;
	for (size_t i = 0; i < api->env_count; i++)
		if (!strcmp(api->env[i].key, "DATABASE_URL")) {
			assert_string_equal(api->env[i].value, "postgresql://appuser:$E:POSTGRES_PASSWORD@database.service:5432/appdb");
			found = true;
		}
	assert_true(found);
	/* "0 3 * * *" (classic 5 fields) is accepted. */
	assert_string_equal(spec_deployment_find(dep, "cleanup")->schedule, "0 3 * * *");
	spec_set_free(&set);
	spec_diags_free(&diags);
	free(path);
}

/* ---- diagnostics ---- */

static void test_diag_format(void **state)
{
	struct loaded l;
	load(&l, HEAD "  api:\n    image:\n      name: nginx\n    resources:\n      memory: 512M\n");
	char *text = diags_text(&l.diags);
	assert_string_equal(text, "t.yaml:8:15: services.api.resources.memory: expected <n>Ki|Mi|Gi|Ti, got \"512M\"\n");
	free(text);
	unload(&l);
}

static void test_unknown_keys_suggest(void **state)
{
	expect_error(HEAD "  api:\n    imgae:\n      name: nginx\n", "services.api.imgae",
		     "unknown key \"imgae\" (did you mean \"image\"?)");
	expect_error(HEAD "  api:\n    image: { name: nginx, pull_polcy: always }\n",
		     "services.api.image.pull_polcy", "did you mean \"pull_policy\"?");
	expect_error("version: v1\ndeployment: test-app\nservces: {}\n", "servces", "did you mean \"services\"?");
	expect_error(HEAD "  api:\n    image: { name: nginx }\n    resources: { memroy: 1Gi }\n",
		     "services.api.resources.memroy", "did you mean \"memory\"?");
	expect_error(HEAD "  api:\n    image: { name: nginx }\n    depends_on: [db]\n", "services.api.depends_on",
		     "\"depends\"");
	expect_error(HEAD "  api:\n    image: { name: nginx }\n    runtime: { type: wasm }\n", "services.api.runtime",
		     "wasm");
	expect_error(HEAD "  api:\n    image: { name: nginx }\n    volumes: []\n", "services.api.volumes", "storage");
	expect_error(HEAD "  api:\n    image: { name: nginx }\n    health: { check: { type: tcp, port: 1, bogus: 1 } }\n",
		     "services.api.health.check.bogus", "unknown key");
	expect_error(HEAD "  api:\n    image: { name: nginx }\n    endpoints: [{ name: a, protocol: tcp, port: 1, prot: 2 }]\n",
		     "services.api.endpoints[0].prot", "did you mean \"port\"?");
	expect_error(HEAD "  api:\n    image: { name: nginx }\n    init: { steps: [{ id: a, uses: init.run, with: { command: x, cmd: y } }] }\n",
		     "services.api.init.steps[0].with.cmd", "unknown key");
}

static void test_wrong_types(void **state)
{
	expect_error(HEAD "  api:\n    image: { name: { a: b } }\n", "services.api.image.name",
		     "expected a string, got a mapping");
	expect_error(HEAD "  api:\n    image: { name: nginx }\n    env: { A: { b: c } }\n", "services.api.env.A",
		     "expected a string, got a mapping");
	expect_error(HEAD "  api:\n    image: { name: nginx }\n    env: [A]\n", "services.api.env", "got a list");
	expect_error(HEAD "  api:\n    image: { name: nginx }\n    privileged: yes\n", "services.api.privileged",
		     "expected true or false");
	expect_error(HEAD "  api:\n    image: { name: nginx }\n    endpoints: { name: a }\n", "services.api.endpoints",
		     "expected a list, got a mapping");
	expect_error(HEAD "  api:\n    image: { name: nginx }\n    endpoints: [{ name: a, protocol: tcp, port: \"80\" }]\n",
		     "services.api.endpoints[0].port", "expected an integer, got the string \"80\"");
	expect_error(HEAD "  api:\n    image: { name: nginx }\n    command: \"sleep 1\"\n", "services.api.command",
		     "expected a list");
	expect_error("version: v1\ndeployment: test-app\nservices: [a]\n", "services", "got a list");
	expect_error("- a\n- b\n", "", "expected a deployment");
	expect_error("hello\n", "", "expected a deployment");
}

static void test_limits_and_schedules(void **state)
{
	(void)state;
	/* An unlimited soft limit is above any finite hard one. */
	expect_error(HEAD "  api:\n    image: { name: nginx }\n    ulimits: { nofile: { soft: -1, hard: 1024 } }\n",
		     "services.api.ulimits.nofile", "above hard limit");
	/* 30 February never comes. */
	expect_error(HEAD "  api:\n    rtype: cron\n    schedule: \"0 0 0 30 2 *\"\n    image: { name: nginx }\n",
		     "services.api.schedule", "never fires");
}

static void test_duplicate_keys(void **state)
{
	struct loaded l;
	load(&l, HEAD "  api:\n    image: { name: nginx }\n    env: { A: x }\n    env: { B: y }\n");
	const struct spec_diag *d = find_diag(&l.diags, "services.api.env", "duplicate key \"env\" (first defined at line 6)");
	assert_non_null(d);
	assert_int_equal(d->line, 7);
	unload(&l);
	expect_error(HEAD "  api:\n    image: { name: nginx }\n  api:\n    image: { name: nginx }\n", "services.api",
		     "duplicate key \"api\" (first defined at line 4)");
	expect_error(HEAD "  api:\n    image: { name: nginx }\n    env: { A: x, A: y }\n", "services.api.env.A",
		     "duplicate key");
}

static void test_yaml_syntax_error(void **state)
{
	struct loaded l;
	load(&l, HEAD "  api:\n    image: { name: nginx\n    env: x: y\n");
	assert_int_equal(l.rc, -1);
	assert_int_equal(l.diags.errors, 1);
	assert_true(l.diags.items[0].line >= 5);
	assert_non_null(strstr(l.diags.items[0].msg, "invalid YAML"));
	unload(&l);
	load(&l, "version: v1\ndeployment: x\n\tservices: {}\n");
	assert_int_equal(l.rc, -1);
	assert_int_equal(l.diags.items[0].line, 3);
	unload(&l);
}

static void test_unreadable_file(void **state)
{
	const char *paths[] = { "/nonexistent/spec.yaml" };
	struct spec_set set = { 0 };
	struct spec_diags diags = { 0 };
	assert_int_equal(spec_load_paths(paths, 1, &set, &diags), -1);
	assert_int_equal(diags.errors, 1);
	assert_string_equal(diags.items[0].file, "/nonexistent/spec.yaml");
	assert_non_null(strstr(diags.items[0].msg, "No such file"));
	spec_set_free(&set);
	spec_diags_free(&diags);
}

/* ---- validation rules ---- */

static void test_validation_table(void **state)
{
	static const struct { const char *svc; const char *path; const char *part; } cases[] = {
		{ "    image: { name: nginx }\n    resources: { cpu: \"1.0\" }\n", "services.api.resources.cpu", "string" },
		{ "    image: { name: nginx }\n    resources: { cpu: 0 }\n", "services.api.resources.cpu", "> 0" },
		{ "    image: { name: nginx }\n    resources: { cpu: -1 }\n", "services.api.resources.cpu", "> 0" },
		{ "    image: { name: nginx }\n    resources: { memory: 1GB }\n", "services.api.resources.memory", "Ki|Mi|Gi|Ti" },
		{ "    image: { name: nginx }\n    resources: { memory: 512 }\n", "services.api.resources.memory", "Ki|Mi|Gi|Ti" },
		{ "    image: { name: nginx }\n    resources: { memory: 0Mi }\n", "services.api.resources.memory", "n > 0" },
		{ "    image: { name: nginx }\n    resources: { memory: 12.5Mi }\n", "services.api.resources.memory", "Ki|Mi|Gi|Ti" },
		{ "    image: { name: nginx }\n    resources: { memory_swappiness: 101 }\n", "services.api.resources.memory_swappiness", "0..100" },
		{ "    image: { name: nginx }\n    resources: { blkio_weight: 5 }\n", "services.api.resources.blkio_weight", "10..1000" },
		{ "    image: { name: nginx }\n    endpoints: [{ name: \"\", protocol: tcp, port: 1 }]\n", "services.api.endpoints[0].name", "empty" },
		{ "    image: { name: nginx }\n    endpoints: [{ name: a, protocol: tcp, port: 1 }, { name: a, protocol: tcp, port: 2 }]\n", "services.api.endpoints[1].name", "duplicate endpoint name" },
		{ "    image: { name: nginx }\n    endpoints: [{ name: a, protocol: tcp, port: 0 }]\n", "services.api.endpoints[0].port", "1..65535" },
		{ "    image: { name: nginx }\n    endpoints: [{ name: a, protocol: tcp, port: 70000 }]\n", "services.api.endpoints[0].port", "1..65535" },
		{ "    image: { name: nginx }\n    endpoints: [{ name: a, protocol: ftp, port: 1 }]\n", "services.api.endpoints[0].protocol", "http|https|tcp|udp|websocket" },
		{ "    image: { name: nginx }\n    endpoints: [{ name: a, protocol: tcp, port: 1, expose: world }]\n", "services.api.endpoints[0].expose", "internal|public" },
		{ "    image: { name: nginx }\n    endpoints: [{ protocol: tcp, port: 1 }]\n", "services.api.endpoints[0].name", "required" },
		{ "    image: { name: nginx }\n    scale: { mode: adaptive, min: 5, max: 2 }\n", "services.api.scale", "min (5) is greater than max (2)" },
		{ "    image: { name: nginx }\n    scale: { mode: elastic }\n", "services.api.scale.mode", "adaptive|fixed|manual" },
		{ "    image: { name: nginx }\n    scale: { mode: fixed }\n", "services.api.scale.replicas", "required" },
		{ "    image: { name: nginx }\n    scale: { mode: fixed, replicas: 1, min: 1 }\n", "services.api.scale.min", "does not apply" },
		{ "    image: { name: nginx }\n    rtype: cron\n    schedule: \"0 0 25 * * *\"\n", "services.api.schedule", "hour" },
		{ "    image: { name: nginx }\n    schedule: \"0 0 3 * * *\"\n", "services.api.schedule", "only applies to rtype: cron" },
		{ "    image: { name: nginx }\n    rtype: cron\n", "services.api.schedule", "required" },
		{ "    image: { name: nginx }\n    rtype: daemon\n", "services.api.rtype", "service|job|cron" },
		{ "    image: { name: nginx }\n    cgroup_parent: \"/apps/../etc\"\n", "services.api.cgroup_parent", "no \"..\"" },
		{ "    image: { name: nginx }\n    cgroup_parent: system.slice\n", "services.api.cgroup_parent", "no systemd .slice" },
		{ "    image: { name: nginx }\n    cgroup_parent: \"/a b\"\n", "services.api.cgroup_parent", "[A-Za-z0-9_.-]" },
		{ "    image: { name: nginx, pull_policy: sometimes }\n", "services.api.image.pull_policy", "if_not_present|always|newer|never" },
		{ "    image: { name: nginx, source_policy: cloud }\n", "services.api.image.source_policy", "local_first" },
		{ "    image: { pull_policy: always }\n", "services.api.image.name", "required" },
		{ "    rtype: service\n", "services.api.image", "required" },
		{ "    image: { name: Nginx }\n", "services.api.image.name", "lowercase" },
		{ "    image: { name: \"nginx:\" }\n", "services.api.image.name", "tag" },
		{ "    image: { name: \"nginx:-bad\" }\n", "services.api.image.name", "tag" },
		{ "    image: { name: \"nginx@sha256:abc\" }\n", "services.api.image.name", "digest" },
		{ "    image: { name: \"exa mple/x\" }\n", "services.api.image.name", "invalid image reference" },
		{ "    image: { name: \"ghcr.io/\" }\n", "services.api.image.name", "invalid image reference" },
		{ "    image: { name: nginx }\n    storage: [{ type: nfs, target: /x }]\n", "services.api.storage[0].type", "bind|named|anonymous|tmpfs|s3" },
		{ "    image: { name: nginx }\n    storage: [{ type: bind, target: /x }]\n", "services.api.storage[0].source", "required" },
		{ "    image: { name: nginx }\n    storage: [{ type: bind, source: /a, target: x }]\n", "services.api.storage[0].target", "absolute" },
		{ "    image: { name: nginx }\n    storage: [{ type: tmpfs, target: /x, name: n }]\n", "services.api.storage[0].name", "does not apply to type tmpfs" },
		{ "    image: { name: nginx }\n    storage: [{ type: tmpfs, target: /x, mode: 999 }]\n", "services.api.storage[0].mode", "octal" },
		{ "    image: { name: nginx }\n    storage: [{ name: n, path: /x }]\n", "services.api.storage[0].path", "target" },
		{ "    image: { name: nginx }\n    health: { interval: 5s }\n", "services.api.health.check", "required" },
		{ "    image: { name: nginx }\n    health: { check: { type: exec, command: [x] } }\n", "services.api.health.check.type", "tcp|http|command" },
		{ "    image: { name: nginx }\n    health: { check: { type: tcp } }\n", "services.api.health.check.port", "required" },
		{ "    image: { name: nginx }\n    health: { check: { type: tcp, port: 1, url: \"http://x\" } }\n", "services.api.health.check.url", "does not apply to type tcp" },
		{ "    image: { name: nginx }\n    health: { check: { type: http, url: \"ftp://x\" } }\n", "services.api.health.check.url", "http://" },
		{ "    image: { name: nginx }\n    health: { interval: 10, check: { type: tcp, port: 1 } }\n", "services.api.health.interval", "time unit needed" },
		{ "    image: { name: nginx }\n    depends: [{ service: api, condition: alive }]\n", "services.api.depends[0].condition", "healthy|started|ready" },
		{ "    image: { name: nginx }\n    depends: [{ service: api, on_timeout: explode }]\n", "services.api.depends[0].on_timeout", "fail|warn|continue" },
		{ "    image: { name: nginx }\n    depends: [{ condition: started }]\n", "services.api.depends[0].service", "required" },
		{ "    image: { name: nginx }\n    restart_policy: { kind: sometimes }\n", "services.api.restart_policy.kind", "no|always|unless_stopped|on_failure" },
		{ "    image: { name: nginx }\n    errors: { on_panic: { action: panic } }\n", "services.api.errors.on_panic.action", "restart|shutdown|isolate" },
		{ "    image: { name: nginx }\n    errors: { on_init_failure: { action: retry } }\n", "services.api.errors.on_init_failure.action", "fail|restart|backoff" },
		{ "    image: { name: nginx }\n    init: { steps: [{ id: a, uses: init.exec }] }\n", "services.api.init.steps[0].uses", "init.wait_tcp|init.wait_http|init.run" },
		{ "    image: { name: nginx }\n    init: { steps: [{ id: a, uses: init.wait_tcp, with: { host: x } }] }\n", "services.api.init.steps[0].with.port", "required" },
		{ "    image: { name: nginx }\n    init: { steps: [{ uses: init.run, with: { command: x } }] }\n", "services.api.init.steps[0].id", "required" },
		{ "    image: { name: nginx }\n    ulimits: { files: { soft: 1, hard: 2 } }\n", "services.api.ulimits.files", "unknown ulimit" },
		{ "    image: { name: nginx }\n    ulimits: { nofile: { soft: 10, hard: 2 } }\n", "services.api.ulimits.nofile", "above hard" },
		{ "    image: { name: nginx }\n    stop_signal: SIGFOO\n", "services.api.stop_signal", "unknown signal" },
		{ "    image: { name: nginx }\n    stop_grace_period: 10\n", "services.api.stop_grace_period", "time unit needed" },
		{ "    image: { name: nginx }\n    network_mode: overlay\n", "services.api.network_mode", "default|host|none" },
		{ "    image: { name: nginx }\n    network_mode: none\n    host_network: true\n", "services.api.host_network", "conflicts" },
		{ "    image: { name: nginx }\n    port_mappings: [{ host_port: 80 }]\n", "services.api.port_mappings[0].container_port", "required" },
		{ "    image: { name: nginx }\n    port_mappings: [{ container_port: 80, protocol: sctp }]\n", "services.api.port_mappings[0].protocol", "tcp|udp" },
		{ "    image: { name: nginx }\n    port_mappings: [{ container_port: 80, host_ip: localhost }]\n", "services.api.port_mappings[0].host_ip", "IP address" },
		{ "    image: { name: nginx }\n    env: { A: \"$S:../etc/passwd\" }\n", "services.api.env.A", "invalid secret name" },
		{ "    image: { name: nginx }\n    env: { A: \"$E:\" }\n", "services.api.env.A", "invalid environment variable name" },
		{ "    image: { name: nginx }\n    devices: [{ path: /etc/passwd }]\n", "services.api.devices[0].path", "/dev/" },
		{ "    image: { name: nginx }\n    node_selector: spread\n", "services.api.node_selector", "expected a mapping" },
		{ "    image: { name: nginx }\n    command: { args: [a, [b]] }\n", "services.api.command.args[1]", "expected a string" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text = zl_xasprintf(HEAD "  api:\n%s", cases[i].svc);
		expect_error(text, cases[i].path, cases[i].part);
		free(text);
	}
}

static void test_top_level_rules(void **state)
{
	expect_error("version: v2\ndeployment: test-app\n", "version", "expected \"v1\", got \"v2\"");
	expect_error("deployment: test-app\n", "version", "required");
	expect_error("version: v1\nservices: {}\n", "deployment", "required");
	expect_error("version: v1\ndeployment: ab\n", "deployment", "3..63");
	expect_error("version: v1\ndeployment: -abc\n", "deployment", "3..63");
	expect_error("version: v1\ndeployment: my_app\n", "deployment", "3..63");
	expect_error(HEAD "  Web:\n    image: { name: nginx }\n", "services.Web", "invalid service name");
	expect_error(HEAD "  web-:\n    image: { name: nginx }\n", "services.web-", "invalid service name");
	expect_error(HEAD "  web:\n", "services.web", "got null");
	/* Cluster-only top-level blocks are notes, not errors. */
	struct loaded l;
	expect_clean(&l, HEAD "  web:\n    image: { name: nginx }\nexternals: { a: 1 }\ntunnels: {}\napi: { bind: x }\n");
	assert_int_equal(l.diags.count, 3);
	for (size_t i = 0; i < 3; i++)
		assert_true(l.diags.items[i].is_note);
	char *text = diags_text(&l.diags);
	assert_non_null(strstr(text, "t.yaml:6:12: note: externals: ignored"));
	free(text);
	unload(&l);
}

static void test_depends_rules(void **state)
{
	expect_error(HEAD "  a:\n    image: { name: x }\n    depends: [{ service: b }]\n", "services.a.depends[0].service",
		     "unknown service \"b\"");
	expect_error(HEAD "  web:\n    image: { name: x }\n  api:\n    image: { name: x }\n    depends: [{ service: wbe }]\n",
		     "services.api.depends[0].service", "did you mean \"web\"?");
	expect_error(HEAD "  a:\n    image: { name: x }\n    depends: [{ service: a }]\n", "services.a.depends[0].service",
		     "cannot depend on itself");
	struct loaded l;
	load(&l, HEAD "  a:\n    image: { name: x }\n    depends: [{ service: b }]\n"
		      "  b:\n    image: { name: x }\n    depends: [{ service: c }]\n"
		      "  c:\n    image: { name: x }\n    depends: [{ service: a }]\n"
		      "  d:\n    image: { name: x }\n    depends: [{ service: a }]\n");
	assert_int_equal(l.diags.errors, 1);
	assert_string_equal(l.diags.items[0].msg, "dependency cycle: a -> b -> c -> a");
	assert_string_equal(l.diags.items[0].path, "services.a.depends[0].service");
	assert_int_equal(l.diags.items[0].line, 6);
	assert_int_equal(l.set.deployments[0].service_count, 4); /* all kept */
	unload(&l);
}

static void test_topological_order(void **state)
{
	struct loaded l;
	expect_clean(&l, HEAD "  web:\n    image: { name: x }\n    depends: [{ service: api }, { service: cache }]\n"
			      "  api:\n    image: { name: x }\n    depends: [{ service: db }]\n"
			      "  zz:\n    image: { name: x }\n"
			      "  cache:\n    image: { name: x }\n"
			      "  db:\n    image: { name: x }\n");
	const char *order[] = { "zz", "cache", "db", "api", "web" };
	const struct spec_deployment *dep = &l.set.deployments[0];
	for (size_t i = 0; i < 5; i++)
		assert_string_equal(dep->services[i].name, order[i]);
	unload(&l);
}

/* ---- decisions and defaults ---- */

static void test_defaults(void **state)
{
	struct loaded l;
	expect_clean(&l, HEAD "  web:\n    image: { name: nginx }\n    endpoints: [{ name: h, protocol: http, port: 80 }]\n"
			      "    port_mappings: [{ container_port: 80 }]\n    storage: [{ type: tmpfs, target: /t }]\n"
			      "    health: { check: { type: tcp, port: 80 } }\n"
			      "    depends: [{ service: db }]\n    init: { steps: [{ id: w, uses: init.wait_tcp, with: { host: db, port: 1 } }] }\n"
			      "  db:\n    image: { name: postgres }\n");
	const struct spec_service *s = spec_deployment_find(&l.set.deployments[0], "web");
	assert_int_equal(s->pull_policy, SPEC_PULL_IF_NOT_PRESENT);
	assert_int_equal(s->scale.mode, SPEC_SCALE_ADAPTIVE);
	assert_int_equal(s->scale.min, 1);
	assert_int_equal(s->scale.max, 10);
	assert_int_equal(spec_service_desired_replicas(s), 1);
	assert_int_equal(s->stop_signal, SIGTERM);
	assert_int_equal(s->stop_grace_ms, 10000);
	assert_true(s->health.present);
	assert_int_equal(s->health.start_grace_ms, 5000);
	assert_int_equal(s->health.interval_ms, 10000);
	assert_int_equal(s->health.timeout_ms, 5000);
	assert_int_equal(s->health.retries, 3);
	assert_int_equal(s->depends[0].condition, SPEC_COND_HEALTHY);
	assert_int_equal(s->depends[0].timeout_ms, 300000);
	assert_int_equal(s->depends[0].on_timeout, SPEC_ON_TIMEOUT_FAIL);
	assert_int_equal(s->init_steps[0].timeout_ms, 300000);
	assert_int_equal(s->endpoints[0].target_port, 80);
	assert_int_equal(s->endpoints[0].expose, SPEC_EXPOSE_INTERNAL);
	assert_string_equal(s->port_mappings[0].protocol, "tcp");
	assert_string_equal(s->port_mappings[0].host_ip, "0.0.0.0");
	assert_int_equal(s->port_mappings[0].host_port, 0);
	assert_int_equal(s->resources.memory_swappiness, -1);
	assert_int_equal(s->storage[0].mode, -1);
	assert_string_equal(s->network_mode, "default");
	assert_int_equal(s->restart_kind, SPEC_RESTART_UNSET);
	assert_int_equal(s->on_panic, SPEC_PANIC_RESTART);
	assert_int_equal(s->rtype, SPEC_RTYPE_SERVICE);
	assert_false(s->has_args);
	assert_false(s->has_entrypoint);
	const struct spec_service *db = spec_deployment_find(&l.set.deployments[0], "db");
	assert_false(db->health.present);
	assert_null(spec_deployment_find(&l.set.deployments[0], "nope"));
	unload(&l);
}

static void test_full_fixture(void **state)
{
	char *path = zl_xasprintf("%s/tests/fixtures/spec/full.yaml", source_root());
	const char *paths[] = { path };
	struct spec_set set = { 0 };
	struct spec_diags diags = { 0 };
	int rc = spec_load_paths(paths, 1, &set, &diags);
	if (rc != 0) {
		char *all = diags_text(&diags);
		fail_msg("%s", all);
	}
	assert_int_equal(diags.count, 1); /* the note about externals */
	const struct spec_deployment *dep = &set.deployments[0];
	assert_string_equal(dep->name, "full-app");
	assert_string_equal(dep->services[0].name, "db");
	const struct spec_service *s = spec_deployment_find(dep, "api");
	assert_string_equal(s->image, "registry.example.com:5000/team/api:1.2.3");
	assert_int_equal(s->pull_policy, SPEC_PULL_NEWER);
	assert_true(s->has_entrypoint && s->has_args);
	assert_string_equal(s->args.items[1], "8080");
	assert_string_equal(s->workdir, "/srv");
	/* env sorted by key; numbers and bools as their text */
	assert_int_equal(s->env_count, 4);
	assert_string_equal(s->env[0].key, "A_VAR");
	assert_string_equal(s->env[0].value, "$E:HOME");
	assert_string_equal(s->env[1].key, "B_VAR");
	assert_string_equal(s->env[2].value, "true");
	assert_string_equal(s->env[3].value, "42");
	assert_int_equal(s->resources.cpu_millicores, 1500);
	assert_int_equal(s->resources.memory_bytes, 1LL << 30);
	assert_int_equal(s->resources.memory_swap, -1);
	assert_int_equal(s->resources.memory_reservation, 256LL << 20);
	assert_int_equal(s->resources.gpu_count, 1);
	assert_string_equal(s->resources.gpu_vendor, "nvidia");
	assert_int_equal(s->scale.min, 2);
	assert_int_equal(s->scale.cooldown_ms, 30000);
	assert_int_equal(s->endpoints[1].target_port, 9001);
	assert_int_equal(s->endpoints[0].expose, SPEC_EXPOSE_PUBLIC);
	assert_string_equal(s->port_mappings[1].protocol, "udp");
	assert_int_equal(s->storage_count, 4);
	assert_int_equal(s->storage[1].size_bytes, 1LL << 30);
	assert_int_equal(s->storage[3].mode, 01777);
	assert_int_equal(s->health.check, SPEC_CHECK_HTTP);
	assert_int_equal(s->health.expect_status, 204);
	assert_int_equal(s->depends[0].timeout_ms, 60000);
	assert_int_equal(s->depends[0].on_timeout, SPEC_ON_TIMEOUT_WARN);
	assert_int_equal(s->init_step_count, 3);
	assert_string_equal(s->init_steps[1].with[0].key, "command");
	assert_string_equal(s->init_steps[1].with[0].value, "[\"./migrate\",\"up\"]");
	assert_string_equal(s->init_steps[0].with[1].key, "port");
	assert_string_equal(s->init_steps[0].with[1].value, "5432");
	assert_int_equal(s->init_steps[1].on_failure, SPEC_ON_TIMEOUT_CONTINUE);
	assert_int_equal(s->on_init_failure, SPEC_INIT_BACKOFF);
	assert_int_equal(s->on_panic, SPEC_PANIC_ISOLATE);
	assert_int_equal(s->restart_kind, SPEC_RESTART_ON_FAILURE);
	assert_int_equal(s->restart_max_attempts, 5);
	assert_int_equal(s->stop_signal, SIGINT);
	assert_int_equal(s->stop_grace_ms, 30000);
	assert_true(s->delete_on_exit);
	assert_string_equal(s->network_mode, "bridge");
	/* capabilities is an alias of cap_add: both lists are kept */
	assert_int_equal(s->cap_add.count, 2);
	assert_string_equal(s->cap_add.items[0], "NET_ADMIN");
	assert_string_equal(s->cap_add.items[1], "SYS_TIME");
	assert_true(s->devices[0].read && s->devices[0].write && !s->devices[0].mknod);
	assert_int_equal(s->ulimit_count, 2);
	assert_int_equal(s->ulimits[0].hard, 4096);
	assert_int_equal(s->ulimits[1].soft, 512);
	assert_int_equal(s->ulimits[1].hard, 512);
	const struct spec_service *n = spec_deployment_find(dep, "nightly");
	assert_int_equal(n->rtype, SPEC_RTYPE_CRON);
	assert_true(spec_cron_next(&n->cron, 1767225600) > 0);
	assert_true(n->has_args);
	assert_int_equal(n->args.count, 3);
	assert_string_equal(n->network_mode, "host");
	assert_int_equal(n->health.command.count, 3);
	assert_string_equal(n->health.command.items[0], "/bin/sh");
	assert_string_equal(n->health.command.items[2], "pg_isready -q");
	spec_set_free(&set);
	spec_diags_free(&diags);
	free(path);
}

/* ---- documents, directories, stdin ---- */

static void test_multi_document(void **state)
{
	struct loaded l;
	load(&l, "version: v1\ndeployment: one\nservices: {}\n---\nversion: v1\ndeployment: two\n---\n---\n# only a comment\n");
	assert_int_equal(l.rc, 0);
	assert_int_equal(l.set.count, 2);
	assert_string_equal(l.set.deployments[1].name, "two");
	assert_int_equal(l.set.deployments[1].line, 5);
	unload(&l);
	load(&l, "version: v1\ndeployment: one\n---\nversion: v1\ndeployment: one\n");
	assert_int_equal(l.rc, -1);
	assert_non_null(find_diag(&l.diags, "deployment", "already declared at t.yaml:1"));
	unload(&l);
	/* Errors of later documents are reported too. */
	load(&l, "version: v2\ndeployment: one\n---\nversion: v3\ndeployment: two\n");
	assert_int_equal(l.diags.errors, 2);
	assert_int_equal(l.diags.items[1].line, 4);
	unload(&l);
}

static void test_directory_and_stdin(void **state)
{
	char *dir = zl_xasprintf("%s/tests/fixtures/spec/dir", source_root());
	const char *paths[] = { dir };
	struct spec_set set = { 0 };
	struct spec_diags diags = { 0 };
	assert_int_equal(spec_load_paths(paths, 1, &set, &diags), 0);
	assert_int_equal(set.count, 2);
	assert_string_equal(set.deployments[0].name, "dir-db");
	assert_string_equal(set.deployments[1].name, "dir-web");
	assert_true(zl_str_has_suffix(set.deployments[1].file, "/20-web.yaml"));
	spec_set_free(&set);
	spec_diags_free(&diags);

	char tmpl[] = "/tmp/test_spec_stdin.XXXXXX";
	int fd = mkstemp(tmpl);
	assert_true(fd >= 0);
	const char *text = HEAD "  web:\n    image: { name: nginx }\n";
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_non_null(freopen(tmpl, "r", stdin));
	const char *dash[] = { "-" };
	assert_int_equal(spec_load_paths(dash, 1, &set, &diags), 0);
	assert_int_equal(set.count, 1);
	assert_string_equal(set.deployments[0].file, "-");
	spec_set_free(&set);
	spec_diags_free(&diags);
	unlink(tmpl);
	free(dir);
}

/* ---- robustness and speed ---- */

static void test_garbage_does_not_crash(void **state)
{
	static const char *const inputs[] = {
		"", "---\n", "...\n", "hello", "42", "[1, 2]", "{", "}", "a: [", "\"unterminated",
		"a: &x [*x]\n", "version: &v v1\ndeployment: *v\n", "*undefined\n",
		"version: v1\ndeployment: abc\nservices: &s { a: { image: { name: x } }, b: *s }\n",
		"version: v1\ndeployment: abc\nservices:\n  a: &a\n    image: { name: x }\n    env: *a\n",
		"version: v1\ndeployment: abc\nservices:\n  a:\n    image: { name: x }\n    network: &n { x: [*n, *n] }\n",
		"version: v1\ndeployment: abc\nservices:\n  a:\n    <<: { image: { name: x } }\n",
		"version: v1\ndeployment: \xc3\x28\n", "version: v1\x01\n", "\t\t\t", "a:\tb",
		"version: v1\ndeployment: abc\nservices:\n  a:\n    image: { name: x }\n    resources: { pids_limit: 99999999999999999999999 }\n",
		"? [a]\n: b\n", "{[a]: b}\n", "!!binary aGVsbG8=\n", "%YAML 1.1\n---\na: b\n",
		"version: v1\ndeployment: abc\nservices: { a: { image: { name: x }, init: { steps: [{ id: s, uses: init.run, with: { command: { a: [1, { b: c }] } } }] } } }\n",
	};
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		struct spec_set set = { 0 };
		struct spec_diags diags = { 0 };
		spec_load_text("g.yaml", inputs[i], strlen(inputs[i]), &set, &diags);
		for (size_t j = 0; j < diags.count; j++)
			assert_non_null(diags.items[j].msg);
		spec_set_free(&set);
		spec_diags_free(&diags);
	}
	/* Bytes that are not UTF-8 at all, with a NUL inside. */
	struct spec_set set = { 0 };
	struct spec_diags diags = { 0 };
	assert_int_equal(spec_load_text("bin.yaml", "\xff\xfe\x00\x01", 4, &set, &diags), -1);
	assert_true(diags.errors >= 1);
	spec_set_free(&set);
	spec_diags_free(&diags);
	/* Deep nesting: libyaml's loader is iterative and our walk is bounded. */
	struct zl_buf deep = { 0 };
	zl_buf_puts(&deep, "version: v1\ndeployment: abc\nservices:\n  a:\n    image: { name: x }\n    wasm: { x: ");
	for (int i = 0; i < 20000; i++)
		zl_buf_puts(&deep, "[");
	for (int i = 0; i < 20000; i++)
		zl_buf_puts(&deep, "]");
	zl_buf_puts(&deep, " }\n");
	spec_load_text("deep.yaml", deep.data, deep.len, &set, &diags);
	spec_set_free(&set);
	spec_diags_free(&diags);
	zl_buf_free(&deep);
	/* A billion laughs: aliases make an exponential tree in a few lines. */
	struct zl_buf laughs = { 0 };
	zl_buf_puts(&laughs, "version: v1\ndeployment: abc\nservices:\n  a:\n    image: { name: x }\n    wasm:\n      l0: &l0 [a, a, a, a, a, a, a, a, a, a]\n");
	for (int i = 1; i < 10; i++)
		zl_buf_printf(&laughs, "      l%d: &l%d [*l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d]\n",
			      i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
	int64_t t0 = zl_monotonic_ms();
	spec_load_text("laughs.yaml", laughs.data, laughs.len, &set, &diags);
	assert_true(zl_monotonic_ms() - t0 < 2000);
	assert_int_equal(diags.errors, 0);
	spec_set_free(&set);
	spec_diags_free(&diags);
	zl_buf_free(&laughs);
}

static void test_thousand_services_load_fast(void **state)
{
	/* Each service depends on the next one, so the order is the reverse of
	 * the file: the topological sort does real work. */
	struct zl_buf b = { 0 };
	zl_buf_puts(&b, HEAD);
	for (int i = 0; i < 1000; i++) {
		zl_buf_printf(&b, "  svc-%d:\n    image: { name: \"ghcr.io/org/app-%d:1.0\" }\n"
				  "    resources: { cpu: 0.5, memory: 256Mi }\n"
				  "    env: { A: \"1\", B: \"2\" }\n"
				  "    endpoints: [{ name: http, protocol: http, port: %d }]\n"
				  "    health: { interval: 5s, check: { type: tcp, port: 80 } }\n",
			      i, i, 1000 + i);
		if (i < 999)
			zl_buf_printf(&b, "    depends: [{ service: svc-%d }]\n", i + 1);
	}
	struct spec_set set = { 0 };
	struct spec_diags diags = { 0 };
	int64_t t0 = zl_monotonic_ms();
	assert_int_equal(spec_load_text("big.yaml", b.data, b.len, &set, &diags), 0);
	int64_t elapsed = zl_monotonic_ms() - t0;
	assert_int_equal(set.deployments[0].service_count, 1000);
	assert_string_equal(set.deployments[0].services[0].name, "svc-999");
	assert_string_equal(set.deployments[0].services[999].name, "svc-0");
	/* Tens of ms in a normal build; the bound leaves room for sanitizers. */
	if (elapsed > 1000)
		fail_msg("1000 services took %lld ms", (long long)elapsed);
	spec_set_free(&set);
	spec_diags_free(&diags);
	zl_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_examples_parse_clean),
		cmocka_unit_test(test_invalid_examples_name_each_key),
		cmocka_unit_test(test_invalid_example_messages),
		cmocka_unit_test(test_diag_format),
		cmocka_unit_test(test_unknown_keys_suggest),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_limits_and_schedules),
		cmocka_unit_test(test_yaml_syntax_error),
		cmocka_unit_test(test_unreadable_file),
		cmocka_unit_test(test_validation_table),
		cmocka_unit_test(test_top_level_rules),
		cmocka_unit_test(test_depends_rules),
		cmocka_unit_test(test_topological_order),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_full_fixture),
		cmocka_unit_test(test_multi_document),
		cmocka_unit_test(test_directory_and_stdin),
		cmocka_unit_test(test_garbage_does_not_crash),
		cmocka_unit_test(test_thousand_services_load_fast),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
