/* test_wasm_units.c: the wasm backend's parts that need no engine
 * (backends/wasm/module.c, launch.c) and backend sets (backends/set.c).
 * Modules are assembled here byte by byte, so each case is exactly the
 * binary it names: a WASI command, a reactor without _start, a component,
 * a truncated file. The launcher's configuration is read back as JSON and
 * checked key by key: argv, env, preopens, the memory cap. A set of mock
 * and wasm sends a create to the member its replica spec names and every
 * later call to the member holding the id. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/supervise.h"
#include "backends/wasm/wasm-internal.h"

static char tmp[64];

static int setup(void **state)
{
	(void)state;
	snprintf(tmp, sizeof(tmp), "/tmp/zl-wasm-units-XXXXXX");
	assert_non_null(mkdtemp(tmp));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(zl_rm_rf(tmp, &err), 0);
	return 0;
}

/* Writes len bytes as tmp/name; returns the path (caller frees). */
static char *put(const char *name, const void *bytes, size_t len)
{
	char *path = zl_xasprintf("%s/%s", tmp, name);
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(zl_write_file_atomic(path, bytes, len, 0644, &err), 0);
	return path;
}

#define PREAMBLE 0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00
/* type ()->(); one function; export "NAME" func 0; body: end. */
#define MODULE_EXPORTING(...)                                                              \
	PREAMBLE, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, /* type section */                   \
	0x03, 0x02, 0x01, 0x00,                        /* function section */               \
	__VA_ARGS__,                                   /* export section */                 \
	0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b             /* code section */

static int inspect(const char *name, const unsigned char *bytes, size_t len,
		   enum wasm_module_kind *kind, struct zl_err *err)
{
	_cleanup_free_ char *path = put(name, bytes, len);
	return wasm_module_inspect(path, kind, err);
}

static void test_module_command(void **state)
{
	(void)state;
	static const unsigned char cmd[] = { MODULE_EXPORTING(0x07, 0x0a, 0x01, 0x06, '_', 's',
							      't', 'a', 'r', 't', 0x00, 0x00) };
	enum wasm_module_kind kind = WASM_KIND_COMPONENT;
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(inspect("cmd.wasm", cmd, sizeof(cmd), &kind, &err), 0);
	assert_int_equal(kind, WASM_KIND_MODULE);
}

static void test_module_reactor_refused(void **state)
{
	(void)state;
	/* exports "_initialize", not "_start"; and "_start" as a global */
	static const unsigned char reactor[] = { MODULE_EXPORTING(
		0x07, 0x0f, 0x01, 0x0b, '_', 'i', 'n', 'i', 't', 'i', 'a', 'l', 'i', 'z', 'e', 0x00,
		0x00) };
	static const unsigned char start_global[] = { MODULE_EXPORTING(
		0x07, 0x0a, 0x01, 0x06, '_', 's', 't', 'a', 'r', 't', 0x03, 0x00) };
	enum wasm_module_kind kind;
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(inspect("reactor.wasm", reactor, sizeof(reactor), &kind, &err), -1);
	assert_int_equal(err.kind, ZL_ERR_INPUT);
	assert_non_null(strstr(err.msg, "exports no _start"));
	assert_non_null(strstr(err.msg, "build it as a command"));
	struct zl_err err2 = ZL_ERR_INIT;
	assert_int_equal(inspect("global.wasm", start_global, sizeof(start_global), &kind, &err2), -1);
	assert_non_null(strstr(err2.msg, "exports no _start"));
}

static void test_module_component_truncated_garbage(void **state)
{
	(void)state;
	static const unsigned char component[] = { 0x00, 'a', 's', 'm', 0x0d, 0x00, 0x01, 0x00 };
	static const unsigned char cmd[] = { MODULE_EXPORTING(0x07, 0x0a, 0x01, 0x06, '_', 's',
							      't', 'a', 'r', 't', 0x00, 0x00) };
	static const unsigned char text[] = "#!/bin/sh\necho not wasm\n";
	static const unsigned char future[] = { 0x00, 'a', 's', 'm', 0x02, 0x00, 0x00, 0x00 };
	enum wasm_module_kind kind = WASM_KIND_MODULE;
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(inspect("c.wasm", component, sizeof(component), &kind, &err), 0);
	assert_int_equal(kind, WASM_KIND_COMPONENT);

	struct zl_err e1 = ZL_ERR_INIT, e2 = ZL_ERR_INIT, e3 = ZL_ERR_INIT, e4 = ZL_ERR_INIT;
	assert_int_equal(inspect("t.wasm", cmd, sizeof(cmd) - 3, &kind, &e1), -1);
	assert_non_null(strstr(e1.msg, "truncated"));
	assert_int_equal(inspect("x.wasm", text, sizeof(text) - 1, &kind, &e2), -1);
	assert_non_null(strstr(e2.msg, "not a WebAssembly binary"));
	assert_int_equal(inspect("f.wasm", future, sizeof(future), &kind, &e3), -1);
	assert_non_null(strstr(e3.msg, "unsupported WebAssembly version 2"));
	assert_int_equal(inspect("e.wasm", cmd, 0, &kind, &e4), -1);
}

/* ---- the launcher's configuration ---- */

struct launch_case {
	struct spec_service svc;
	struct spec_kv env[2];
	struct spec_storage storage[4];
	struct spec_wasm_preopen preopens[1];
	char dir[128], volumes[128], bind[128];
};

static void launch_case_init(struct launch_case *c)
{
	memset(c, 0, sizeof(*c));
	c->svc.name = "greeter";
	c->svc.image = "file:/x.wasm";
	c->svc.wasm.max_memory = -1;
	c->svc.wasm.filesystem = true;
	c->svc.stop_grace_ms = -1;
	snprintf(c->dir, sizeof(c->dir), "%s/replica", tmp);
	snprintf(c->volumes, sizeof(c->volumes), "%s/volumes/dep", tmp);
	snprintf(c->bind, sizeof(c->bind), "%s/bind", tmp);
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(zl_mkdir_p(c->dir, 0700, &err), 0);
	assert_int_equal(zl_mkdir_p(c->bind, 0755, &err), 0);
}

/* Writes wasi.json for c and returns it parsed (NULL with *err on failure). */
static cJSON *launch(struct launch_case *c, const char *image_config, struct zl_err *err)
{
	struct backend_replica_spec rs = {
		.deployment = "dep", .service = &c->svc, .index = 1, .backend_id = "zl-dep-greeter-1",
		.env = c->env, .env_count = c->env[0].key ? (c->env[1].key ? 2 : 1) : 0,
		.image_config = image_config, .module_path = "/store/blob",
	};
	struct wasm_launch_input in = { .rs = &rs, .dir = c->dir, .volumes_dir = c->volumes };
	if (wasm_launch_write(&in, err) < 0)
		return NULL;
	_cleanup_free_ char *path = zl_xasprintf("%s/" WASM_LAUNCH_FILE, c->dir);
	char *text = NULL;
	size_t len = 0;
	assert_int_equal(zl_read_file(path, &text, &len, err), 0);
	cJSON *json = cJSON_Parse(text);
	free(text);
	assert_non_null(json);
	return json;
}

/* The JSON string list key of obj joined with spaces. */
static char *joined(const cJSON *obj, const char *key)
{
	struct zl_buf b = { 0 };
	const cJSON *it;
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(obj, key))
		zl_buf_printf(&b, "%s%s", b.len ? " " : "", it->valuestring);
	return b.data ? zl_buf_steal(&b) : zl_xstrdup("");
}

static void check_args(struct launch_case *c, const char *image_config, const char *want)
{
	struct zl_err err = ZL_ERR_INIT;
	cJSON *json = launch(c, image_config, &err);
	assert_non_null(json);
	_cleanup_free_ char *args = joined(json, "args");
	assert_string_equal(args, want);
	cJSON_Delete(json);
}

static void test_launch_argv(void **state)
{
	(void)state;
	struct launch_case c;
	launch_case_init(&c);
	/* nothing given: the service's name is argv[0] */
	check_args(&c, "{}", "greeter");
	/* the image's Entrypoint and Cmd, Docker's rules */
	check_args(&c, "{\"config\":{\"Entrypoint\":[\"app.wasm\"],\"Cmd\":[\"-v\"]}}", "app.wasm -v");
	check_args(&c, "{\"config\":{\"Cmd\":[\"serve\"]}}", "greeter serve");
	char *args[] = { "from", "zlapply" };
	c.svc.args = (struct spec_strv){ .items = args, .count = 2 };
	c.svc.has_args = true;
	check_args(&c, "{\"config\":{\"Cmd\":[\"serve\"]}}", "greeter from zlapply");
	char *ep[] = { "hello" };
	c.svc.entrypoint = (struct spec_strv){ .items = ep, .count = 1 };
	c.svc.has_entrypoint = true;
	check_args(&c, "{\"config\":{\"Entrypoint\":[\"app.wasm\"],\"Cmd\":[\"-v\"]}}",
		   "hello from zlapply");
}

static void test_launch_env_memory_workdir(void **state)
{
	(void)state;
	struct launch_case c;
	launch_case_init(&c);
	c.env[0] = (struct spec_kv){ .key = "GREETING", .value = "hi" };
	c.env[1] = (struct spec_kv){ .key = "MODE", .value = "spec" };
	c.svc.wasm.max_memory = 16 * 1024 * 1024;
	struct zl_err err = ZL_ERR_INIT;
	cJSON *json = launch(&c, "{\"config\":{\"Env\":[\"MODE=image\",\"ONLY=image\"],\"WorkingDir\":\"/data\"}}",
			     &err);
	assert_non_null(json);
	_cleanup_free_ char *env = joined(json, "env");
	/* the image's first, the spec's replacing in place; no PATH added */
	assert_string_equal(env, "MODE=spec ONLY=image GREETING=hi");
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(json, "max_memory")->valuedouble, 16777216);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(json, "workdir")->valuestring, "/data");
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(json, "module")->valuestring, "/store/blob");
	_cleanup_free_ char *record = zl_xasprintf("%s/" SUPERVISE_DETAIL_FILE, c.dir);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(json, "exit_record")->valuestring, record);
	cJSON_Delete(json);

	c.svc.wasm.max_memory = -1;
	json = launch(&c, NULL, &err);
	assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(json, "max_memory")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(json, "workdir")));
	cJSON_Delete(json);
}

static void test_launch_preopens(void **state)
{
	(void)state;
	struct launch_case c;
	launch_case_init(&c);
	c.storage[0] = (struct spec_storage){ .type = SPEC_STORAGE_BIND, .source = c.bind,
					      .target = "/etc/app", .readonly = true };
	c.storage[1] = (struct spec_storage){ .type = SPEC_STORAGE_NAMED, .name = "data", .target = "/data" };
	c.storage[2] = (struct spec_storage){ .type = SPEC_STORAGE_TMPFS, .target = "/tmp" };
	c.storage[3] = (struct spec_storage){ .type = SPEC_STORAGE_ANONYMOUS, .target = "/cache" };
	c.svc.storage = c.storage;
	c.svc.storage_count = 4;
	c.preopens[0] = (struct spec_wasm_preopen){ .source = c.bind, .target = "/more", .readonly = false };
	c.svc.wasm.preopens = c.preopens;
	c.svc.wasm.preopen_count = 1;
	struct zl_err err = ZL_ERR_INIT;
	cJSON *json = launch(&c, "{}", &err);
	assert_non_null(json);
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(json, "preopens");
	assert_int_equal(cJSON_GetArraySize(list), 5);
	_cleanup_free_ char *named = zl_xasprintf("%s/data", c.volumes);
	_cleanup_free_ char *tmpfs = zl_xasprintf("%s/storage/2", c.dir);
	_cleanup_free_ char *anon = zl_xasprintf("%s/storage/3", c.dir);
	const char *want[][3] = {
		{ "/etc/app", c.bind, "ro" }, { "/data", named, "rw" }, { "/tmp", tmpfs, "rw" },
		{ "/cache", anon, "rw" }, { "/more", c.bind, "rw" },
	};
	for (int i = 0; i < 5; i++) {
		const cJSON *p = cJSON_GetArrayItem(list, i);
		assert_string_equal(cJSON_GetObjectItemCaseSensitive(p, "guest")->valuestring, want[i][0]);
		assert_string_equal(cJSON_GetObjectItemCaseSensitive(p, "host")->valuestring, want[i][1]);
		assert_int_equal(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "readonly")),
				 strcmp(want[i][2], "ro") == 0);
	}
	/* the per-replica and named directories exist */
	struct stat sb;
	assert_int_equal(stat(named, &sb), 0);
	assert_int_equal(stat(tmpfs, &sb), 0);
	assert_int_equal(stat(anon, &sb), 0);
	cJSON_Delete(json);
}

static void test_launch_refusals(void **state)
{
	(void)state;
	struct launch_case c;
	launch_case_init(&c);
	struct zl_err err = ZL_ERR_INIT;
	/* a bind source that is not a directory */
	c.storage[0] = (struct spec_storage){ .type = SPEC_STORAGE_BIND, .source = "/etc/hostname",
					      .target = "/h" };
	c.svc.storage = c.storage;
	c.svc.storage_count = 1;
	assert_null(launch(&c, "{}", &err));
	assert_non_null(strstr(err.msg, "storage[0]: the bind source /etc/hostname is not a directory"));
	/* s3 */
	c.storage[0] = (struct spec_storage){ .type = SPEC_STORAGE_S3, .target = "/s3" };
	struct zl_err e2 = ZL_ERR_INIT;
	assert_null(launch(&c, "{}", &e2));
	assert_non_null(strstr(e2.msg, "s3 storage is not available to WASM replicas"));
	/* one guest path twice */
	c.storage[0] = (struct spec_storage){ .type = SPEC_STORAGE_TMPFS, .target = "/data" };
	c.storage[1] = (struct spec_storage){ .type = SPEC_STORAGE_ANONYMOUS, .target = "/data" };
	c.svc.storage_count = 2;
	struct zl_err e3 = ZL_ERR_INIT;
	assert_null(launch(&c, "{}", &e3));
	assert_non_null(strstr(e3.msg, "/data is given twice"));
	/* the module may not see directories */
	c.svc.storage_count = 1;
	c.svc.wasm.filesystem = false;
	c.svc.service_type = SPEC_SERVICE_TYPE_WASM_HTTP;
	struct zl_err e4 = ZL_ERR_INIT;
	assert_null(launch(&c, "{}", &e4));
	assert_non_null(strstr(e4.msg, "capabilities.filesystem is false"));
	/* an image config that is not JSON */
	c.svc.storage_count = 0;
	struct zl_err e5 = ZL_ERR_INIT;
	assert_null(launch(&c, "[1,", &e5));
	assert_non_null(strstr(e5.msg, "service greeter"));
}

/* ---- a set of backends ---- */

static void test_set_routes_by_spec_and_id(void **state)
{
	(void)state;
	/* A state root with a database: the mock keeps its state under it. */
	_cleanup_free_ char *root = zl_xasprintf("%s/root", tmp);
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(zl_mkdir_p(root, 0700, &err), 0);
	const char *names[] = { "mock", "wasm" };
	struct backend *set = NULL;
	assert_int_equal(backend_open_set(names, 2, root, NULL, &set, &err), 0);
	assert_string_equal(set->ops->name, "mock");
	assert_ptr_equal(backend_member(set, NULL), set);
	struct backend *mock = backend_member(set, "mock");
	struct backend *wasm = backend_member(set, "wasm");
	assert_non_null(mock);
	assert_non_null(wasm);
	assert_string_equal(wasm->ops->name, "wasm");
	assert_null(backend_member(set, "oci"));
	assert_ptr_equal(backend_member(mock, "mock"), mock);
	assert_null(backend_member(mock, "wasm"));
	assert_int_equal(set->ops->probe(set, &err), 0);

	/* no backend named: the first member makes it, and the set finds it */
	struct spec_service svc = { .name = "web", .stop_grace_ms = -1 };
	struct backend_replica_spec rs = { .deployment = "d", .service = &svc, .index = 1,
					   .backend_id = "zl-d-web-1", .spec_hash = "h" };
	assert_int_equal(set->ops->create(set, &rs, &err), 0);
	struct backend_state st;
	assert_int_equal(set->ops->state(set, "zl-d-web-1", &st, &err), 0);
	assert_int_equal(st.status, BACKEND_STATUS_CREATED);
	assert_int_equal(mock->ops->state(mock, "zl-d-web-1", &st, &err), 0);
	assert_int_equal(st.status, BACKEND_STATUS_CREATED);
	assert_int_equal(wasm->ops->state(wasm, "zl-d-web-1", &st, &err), 0);
	assert_int_equal(st.status, BACKEND_STATUS_MISSING);
	assert_int_equal(set->ops->start(set, "zl-d-web-1", &err), 0);
	assert_int_equal(mock->ops->state(mock, "zl-d-web-1", &st, &err), 0);
	assert_int_equal(st.status, BACKEND_STATUS_RUNNING);
	assert_int_equal(set->ops->remove(set, "zl-d-web-1", &err), 0);
	assert_int_equal(set->ops->state(set, "zl-d-web-1", &st, &err), 0);
	assert_int_equal(st.status, BACKEND_STATUS_MISSING);

	/* a member the set lacks */
	rs.backend = "vm";
	struct zl_err e2 = ZL_ERR_INIT;
	assert_int_equal(set->ops->create(set, &rs, &e2), -1);
	assert_non_null(strstr(e2.msg, "backend vm is not available"));
	/* the wasm member refuses a container image, naming the service */
	rs.backend = "wasm";
	svc.image = "busybox";
	struct zl_err e3 = ZL_ERR_INIT;
	assert_int_equal(set->ops->create(set, &rs, &e3), -1);
	/* (probing wasm needs root and a Node.js: without them the set says
	 * the member is not usable, which refuses it too) */
	assert_true(strstr(e3.msg, "its image busybox is not WebAssembly") ||
		    strstr(e3.msg, "backend wasm is not usable here"));
	backend_close(set);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_module_command, setup, teardown),
		cmocka_unit_test_setup_teardown(test_module_reactor_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_module_component_truncated_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_launch_argv, setup, teardown),
		cmocka_unit_test_setup_teardown(test_launch_env_memory_workdir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_launch_preopens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_launch_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_routes_by_spec_and_id, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
