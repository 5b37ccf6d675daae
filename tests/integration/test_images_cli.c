/* test_images_cli.c: `zlapply pull`, `images`, `prune` and apply's image
 * handling (pull policies, with the mock backend asking for images via
 * ZLAPPLY_MOCK_PULL=1), run as the real binary against a real registry on
 * 127.0.0.1. The registry and the test image are set up once (by the first
 * test); each test has its own state root.
 */
#include "tests/infra/registry-fixture.h"
#include "tests/integration/cli-helpers.h"

static struct {
	bool tried, ok;
	char base[PATH_MAX];
	char images[PATH_MAX];
	struct rf_registry reg;
	cJSON *busybox;
	char ref[256];       /* 127.0.0.1:PORT/test/busybox:1.0 */
	const char *digest;  /* its manifest digest */
} env;

static int env_setup(void)
{
	rf_fmt(env.base, sizeof(env.base), "/tmp/zlimgcli-XXXXXX");
	if (!mkdtemp(env.base))
		return -1;
	rf_fmt(env.images, sizeof(env.images), "%s/images", env.base);
	char dir[PATH_MAX];
	rf_fmt(dir, sizeof(dir), "%s/reg", env.base);
	if (rf_build_images(env.images) < 0 || !(env.busybox = rf_image_info(env.images, "busybox")) ||
	    rf_registry_start(&env.reg, "plain", dir) < 0 ||
	    rf_push(&env.reg, env.images, "busybox", "test/busybox:1.0") < 0)
		return -1;
	rf_ref(env.ref, env.reg.port, "test/busybox:1.0");
	env.digest = rf_info_str(env.busybox, "manifest");
	return 0;
}

static void need_env(void)
{
	if (!env.tried) {
		env.tried = true;
		env.ok = env_setup() == 0;
	}
	if (!env.ok)
		fail_msg("test environment (registry on 127.0.0.1, test image) could not be set up; "
			 "run scripts/setup (docker-registry, skopeo, umoci, busybox-static, python3)");
}

static int group_teardown(void **state)
{
	(void)state;
	rf_registry_stop(&env.reg);
	cJSON_Delete(env.busybox);
	if (env.base[0] && !getenv("ZL_KEEP_TMP"))
		rf_rm_rf(env.base);
	return 0;
}

static int setup(void **state)
{
	struct cli_tmp *t = calloc(1, sizeof(*t));
	if (!t)
		return -1;
	cli_tmp_make(t);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct cli_tmp *t = *state;
	if (!getenv("ZL_KEEP_TMP"))
		cli_tmp_remove(t);
	free(t);
	return 0;
}

/* An auth file that does not exist: no ~/.docker/config.json gets read. */
static const char *no_auth(const struct cli_tmp *t, char out[PATH_MAX])
{
	return cli_path(t, "no-auth.json", out);
}

static size_t dir_entries(const char *root, const char *sub)
{
	char dir[PATH_MAX];
	rf_fmt(dir, sizeof(dir), "%s/%s", root, sub);
	return rf_count_entries(dir, NULL);
}

/* `images -o json` parsed; asserts exit 0 and an "images" array. */
static cJSON *images_json(const char *root)
{
	char *out = NULL, *err = NULL;
	int code = run_zlapply(root, NULL, &out, &err, "images", "-o", "json");
	assert_exit(code, 0, out, err);
	cJSON *doc = cJSON_Parse(out);
	if (!doc || !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(doc, "images")))
		fail_msg("images -o json is not {\"images\": [...]}:\n%s", out);
	free(out);
	free(err);
	return doc;
}

static bool rfc3339ish(const char *s)
{
	/* 2026-11-22T10:00:00Z */
	return s && strlen(s) >= 20 && s[4] == '-' && s[7] == '-' && s[10] == 'T' && s[13] == ':';
}

static void test_pull_images_prune(void **state)
{
	need_env();
	struct cli_tmp *t = *state;
	char na[PATH_MAX], *out = NULL, *err = NULL;

	/* pull: exit 0, prints the reference and the manifest digest. */
	int code = run_zlapply(t->root, NULL, &out, &err, "pull", "-q", "--authfile", no_auth(t, na),
			       env.ref);
	assert_exit(code, 0, out, err);
	if (!cli_has_line_with(out, env.ref, env.digest))
		fail_msg("pull did not print \"%s %s\":\n%s", env.ref, env.digest, out);
	free(out);
	free(err);
	/* manifest and config; the layer's blob went once it was unpacked */
	assert_int_equal(dir_entries(t->root, "blobs/sha256"), 2);
	char busybox[PATH_MAX];
	rf_layer_path(t->root, rf_info_at(env.busybox, "diff_ids", 0), "bin/busybox", busybox);
	assert_true(rf_exists(busybox));

	/* images (text): one row with reference, short digest, size, last used. */
	code = run_zlapply(t->root, NULL, &out, &err, "images");
	assert_exit(code, 0, out, err);
	char short_digest[20];
	rf_fmt(short_digest, sizeof(short_digest), "%.19s", env.digest);
	if (!cli_has_line_with(out, "REFERENCE", "DIGEST", "SIZE", "ON DISK", "LAST USED") ||
	    !cli_has_line_with(out, env.ref, short_digest, "MiB"))
		fail_msg("images does not list %s:\n%s", env.ref, out);
	free(out);
	free(err);

	/* images -o json */
	cJSON *doc = images_json(t->root);
	cJSON *arr = cJSON_GetObjectItemCaseSensitive(doc, "images");
	assert_int_equal(cJSON_GetArraySize(arr), 1);
	cJSON *im = cJSON_GetArrayItem(arr, 0);
	assert_string_equal(cli_json_str(im, "reference"), env.ref);
	assert_string_equal(cli_json_str(im, "digest"), env.digest);
	assert_string_equal(cli_json_str(im, "config_digest"), rf_info_str(env.busybox, "config"));
	cJSON *size = cJSON_GetObjectItemCaseSensitive(im, "size");
	assert_true(cJSON_IsNumber(size) && size->valuedouble > 1000000);
	/* On disk: the unpacked tree (busybox is about 2 MB), once; du agrees. */
	cJSON *disk = cJSON_GetObjectItemCaseSensitive(im, "disk_size");
	char ldir[PATH_MAX];
	rf_layer_path(t->root, rf_info_at(env.busybox, "diff_ids", 0), NULL, ldir);
	char *du = rf_sh_out("du -s -B1 %s | cut -f1", ldir);
	long long du_bytes = du ? atoll(du) : 0;
	free(du);
	if (!cJSON_IsNumber(disk) || disk->valuedouble < (double)du_bytes ||
	    disk->valuedouble > (double)du_bytes + 64 * 1024)
		fail_msg("disk_size %.0f is not the layer's %lld bytes (du) plus the small blobs",
			 cJSON_IsNumber(disk) ? disk->valuedouble : -1.0, du_bytes);
	if (!rfc3339ish(cli_json_str(im, "last_used")) || !rfc3339ish(cli_json_str(im, "pulled_at")))
		fail_msg("last_used / pulled_at are not timestamps: %s, %s", cli_json_str(im, "last_used"),
			 cli_json_str(im, "pulled_at"));
	cJSON_Delete(doc);

	/* prune: nothing uses it, so all of it goes. */
	code = run_zlapply(t->root, NULL, &out, &err, "prune");
	assert_exit(code, 0, out, err);
	char *line = cli_find_line(out, (const char *const[]){ "removed 1 image", "freed", NULL });
	if (!line)
		fail_msg("prune did not report one image removed:\n%s", out);
	const char *open = strrchr(line, '(');
	long long freed = open ? atoll(open + 1) : 0;
	if (freed < 1000000)
		fail_msg("prune freed %lld bytes, expected more than the ~1 MB image: %s", freed, line);
	free(line);
	free(out);
	free(err);
	assert_int_equal(dir_entries(t->root, "blobs/sha256"), 0);
	assert_int_equal(dir_entries(t->root, "layers"), 0);
	doc = images_json(t->root);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "images")), 0);
	cJSON_Delete(doc);
	code = run_zlapply(t->root, NULL, &out, &err, "images");
	assert_exit(code, 0, out, err);
	assert_non_null(strstr(out, "no images stored"));
	free(out);
	free(err);

	/* A second prune has nothing to do. */
	code = run_zlapply(t->root, NULL, &out, &err, "prune");
	assert_exit(code, 0, out, err);
	assert_non_null(strstr(out, "removed 0 images"));
	free(out);
	free(err);
}

static void test_pull_bad_references(void **state)
{
	need_env();
	struct cli_tmp *t = *state;
	char na[PATH_MAX], *out = NULL, *err = NULL;

	/* Not a reference at all: an input error naming it, nothing fetched. */
	int code = run_zlapply(t->root, NULL, &out, &err, "pull", "-q", "--authfile", no_auth(t, na),
			       "127.0.0.1:1/Bad Name!:x");
	if (code == 0)
		fail_msg("pull of an invalid reference exited 0:\n%s%s", out, err);
	assert_int_equal(code, 2);
	if (!strstr(err, "Bad Name!"))
		fail_msg("the error does not name the reference:\n%s", err);
	free(out);
	free(err);
	assert_int_equal(dir_entries(t->root, "blobs/sha256"), 0);

	/* Well-formed but absent: a failure saying so. */
	char ref[256];
	rf_ref(ref, env.reg.port, "test/busybox:nosuchtag");
	code = run_zlapply(t->root, NULL, &out, &err, "pull", "-q", "--authfile", na, ref);
	assert_exit(code, 1, out, err);
	if (!strstr(err, "not found") || !strstr(err, "nosuchtag"))
		fail_msg("no clear not-found error:\n%s", err);
	free(out);
	free(err);
}

static void write_spec(const char *path, const char *image, const char *policy)
{
	char text[1024];
	rf_fmt(text, sizeof(text),
	       "version: v1\n"
	       "deployment: imgs\n"
	       "services:\n"
	       "  web:\n"
	       "    image: {name: \"%s\", pull_policy: %s}\n"
	       "    scale: {mode: fixed, replicas: 1}\n",
	       image, policy);
	cli_write_file(path, text);
}

static void test_apply_pulls_if_not_present(void **state)
{
	need_env();
	struct cli_tmp *t = *state;
	/* Through the proxy, to see what the second apply asks the registry. */
	struct rf_proxy proxy;
	char pdir[PATH_MAX], spec[PATH_MAX], na[PATH_MAX], ref[256];
	if (rf_proxy_start(&proxy, cli_path(t, "proxy", pdir), env.reg.port, "pass") < 0)
		fail_msg("cannot start tests/infra/fault-proxy.py");
	rf_ref(ref, proxy.port, "test/busybox:1.0");
	write_spec(cli_path(t, "spec.yaml", spec), ref, "if_not_present");

	char *out = NULL, *err = NULL;
	int code = run_zlapply_env(CLI_ENV("ZLAPPLY_MOCK_PULL=1"), t->root, NULL, &out, &err, "apply",
				   "-q", "--authfile", no_auth(t, na), "-f", spec);
	assert_exit(code, 0, out, err);
	free(out);
	free(err);

	cJSON *doc = cli_status_json(t->root, "imgs");
	cJSON *r = cli_json_replica(doc, "imgs", "web", 1);
	if (!r)
		fail_msg("no replica web-1 in status");
	const char *d = cli_json_str(r, "image_digest");
	if (!d || strcmp(d, env.digest) != 0)
		fail_msg("status shows image_digest %s, expected %s", d ? d : "null", env.digest);
	cJSON_Delete(doc);
	doc = images_json(t->root);
	cJSON *im = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "images"), 0);
	assert_non_null(im);
	assert_string_equal(cli_json_str(im, "digest"), env.digest);
	cJSON_Delete(doc);
	char *log = rf_proxy_log(&proxy);
	assert_true(rf_count_lines_with(log, "/blobs/") >= 2);
	free(log);

	/* Present now: the next apply does not ask the registry at all. */
	rf_proxy_log_clear(&proxy);
	code = run_zlapply_env(CLI_ENV("ZLAPPLY_MOCK_PULL=1"), t->root, NULL, &out, &err, "apply",
			       "-q", "--authfile", na, "-f", spec);
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	log = rf_proxy_log(&proxy);
	if (log[0])
		fail_msg("apply with if_not_present and the image stored went to the registry:\n%s", log);
	free(log);

	/* In use: prune keeps it. */
	code = run_zlapply(t->root, NULL, &out, &err, "prune");
	assert_exit(code, 0, out, err);
	assert_non_null(strstr(out, "removed 0 images"));
	free(out);
	free(err);
	char layer[PATH_MAX];
	rf_layer_path(t->root, rf_info_at(env.busybox, "diff_ids", 0), "bin/busybox", layer);
	assert_true(rf_exists(layer));
	rf_proxy_stop(&proxy);
}

static void test_apply_pull_policy_never_without_image(void **state)
{
	need_env();
	struct cli_tmp *t = *state;
	char spec[PATH_MAX], na[PATH_MAX];
	write_spec(cli_path(t, "spec.yaml", spec), env.ref, "never");
	char *out = NULL, *err = NULL;
	int code = run_zlapply_env(CLI_ENV("ZLAPPLY_MOCK_PULL=1"), t->root, NULL, &out, &err, "apply",
				   "-q", "--authfile", no_auth(t, na), "-f", spec);
	assert_exit(code, 1, out, err);
	if (!strstr(err, env.ref) || !strstr(err, "never"))
		fail_msg("the error does not name the image and the policy:\n%s", err);
	free(out);
	free(err);
	assert_int_equal(dir_entries(t->root, "blobs/sha256"), 0);
	/* No replica runs without its image. */
	cJSON *doc = cli_status_json(t->root, "imgs");
	cJSON *r = cli_json_replica(doc, "imgs", "web", 1);
	if (r) {
		const char *st = cli_json_str(r, "state");
		if (st && strcmp(st, "running") == 0)
			fail_msg("a replica runs although its image is missing");
	}
	cJSON_Delete(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pull_images_prune, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pull_bad_references, setup, teardown),
		cmocka_unit_test_setup_teardown(test_apply_pulls_if_not_present, setup, teardown),
		cmocka_unit_test_setup_teardown(test_apply_pull_policy_never_without_image, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, group_teardown);
}
