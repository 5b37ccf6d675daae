/* test_registry.c: the distribution client against real registries on
 * 127.0.0.1 (Debian's docker-registry): anonymous, Basic, Bearer token and
 * TLS variants, an image index, whiteouts, and faults injected by tampering
 * with the registry's storage or by tests/infra/fault-proxy.py (truncated
 * bodies, 429/500, a server slower than the low-speed limit).
 * WebAssembly artifacts (tests/infra/build-wasm.py, pushed with skopeo): one
 * per media-type signal, an index for platform wasip1/wasm, oci: layouts,
 * file: paths, bad modules and a manifest that is neither image nor WASM;
 * then the images table, pull policies and prune on top (reconcile/).
 *
 * Registries and images are set up once for the program (the first test
 * does it); each test pulls into its own state root. A registry that cannot
 * start fails the tests: there is no skipping.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "tests/infra/registry-fixture.h"

#include <sys/mount.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/xattr.h>

#include "reconcile/reconcile-internal.h"
#include "registry/registry.h"
#include "state/state.h"

/* ---- the environment shared by all tests ---- */

enum { REG_PLAIN, REG_BASIC, REG_TOKEN, REG_TLS, REG_COUNT };
static const char *const variants[REG_COUNT] = { "plain", "basic", "token", "tls" };

static struct {
	bool tried, ok;
	char base[PATH_MAX];   /* /tmp/zlreg-XXXXXX */
	char images[PATH_MAX]; /* base/images: OCI layouts + NAME.json */
	struct rf_registry reg[REG_COUNT];
	cJSON *busybox, *multi, *multiarch;
	char wasm[PATH_MAX];   /* base/wasm: build-wasm.py's layouts and files/ */
	cJSON *wasm_info;      /* its wasm.json */
} env;

/* The WASM layouts build-wasm.py writes, pushed as test/NAME:1.0. */
static const char *const wasm_layouts[] = {
	"wasm-type-component", "wasm-type-module", "wasm-config", "wasm-layer",
	"wasm-index", "wasm-truncated", "wasm-not-wasm", "not-an-image",
};

static int env_setup(void)
{
	rf_fmt(env.base, sizeof(env.base), "/tmp/zlreg-XXXXXX");
	if (!mkdtemp(env.base)) {
		fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
		return -1;
	}
	rf_fmt(env.images, sizeof(env.images), "%s/images", env.base);
	if (rf_build_images(env.images) < 0)
		return -1;
	env.busybox = rf_image_info(env.images, "busybox");
	env.multi = rf_image_info(env.images, "multi");
	env.multiarch = rf_image_info(env.images, "multiarch");
	if (!env.busybox || !env.multi || !env.multiarch)
		return -1;
	char script[PATH_MAX];
	rf_fmt(env.wasm, sizeof(env.wasm), "%s/wasm", env.base);
	if (rf_sh("python3 %s %s >&2", rf_infra("build-wasm.py", script), env.wasm) != 0 ||
	    !(env.wasm_info = rf_image_info(env.wasm, "wasm")))
		return -1;
	for (int i = 0; i < REG_COUNT; i++) {
		char dir[PATH_MAX];
		rf_fmt(dir, sizeof(dir), "%s/reg-%s", env.base, variants[i]);
		if (rf_registry_start(&env.reg[i], variants[i], dir) < 0) {
			fprintf(stderr, "cannot start the %s registry (see %s/registry.log)\n", variants[i], dir);
			return -1;
		}
	}
	struct rf_registry *plain = &env.reg[REG_PLAIN];
	if (rf_push(plain, env.images, "busybox", "test/busybox:1.0") < 0 ||
	    rf_push(plain, env.images, "multi", "test/multi:1.0") < 0 ||
	    rf_push(plain, env.images, "multiarch", "test/multiarch:1.0") < 0 ||
	    rf_push_flags(plain, env.images, "busybox", "test/docker:1.0", "--format v2s2") < 0 ||
	    rf_push_flags(plain, env.images, "multiarch", "test/dockerlist:1.0", "--format v2s2") < 0 ||
	    rf_push(&env.reg[REG_BASIC], env.images, "busybox", "test/busybox:1.0") < 0 ||
	    rf_push(&env.reg[REG_TOKEN], env.images, "multi", "test/private:1.0") < 0 ||
	    rf_push(&env.reg[REG_TOKEN], env.images, "busybox", "test/public:1.0") < 0 ||
	    rf_push(&env.reg[REG_TLS], env.images, "busybox", "test/busybox:1.0") < 0)
		return -1;
	for (size_t i = 0; i < sizeof(wasm_layouts) / sizeof(wasm_layouts[0]); i++) {
		char repo[128];
		rf_fmt(repo, sizeof(repo), "test/%s:1.0", wasm_layouts[i]);
		if (rf_push(plain, env.wasm, wasm_layouts[i], repo) < 0)
			return -1;
	}
	return 0;
}

/* Every test starts with this: the shared setup, done once. */
static void need_env(void)
{
	if (!env.tried) {
		env.tried = true;
		env.ok = env_setup() == 0;
	}
	if (!env.ok)
		fail_msg("test environment (registries on 127.0.0.1, images) could not be set up; "
			 "run scripts/setup (docker-registry, skopeo, umoci, busybox-static, "
			 "apache2-utils, openssl, python3)");
}

static int group_teardown(void **state)
{
	(void)state;
	for (int i = 0; i < REG_COUNT; i++)
		rf_registry_stop(&env.reg[i]);
	cJSON_Delete(env.busybox);
	cJSON_Delete(env.multi);
	cJSON_Delete(env.multiarch);
	cJSON_Delete(env.wasm_info);
	if (env.base[0] && !getenv("ZL_KEEP_TMP"))
		rf_rm_rf(env.base);
	return 0;
}

/* ---- per test: a state root, a scratch dir, maybe a proxy ---- */

struct t {
	char dir[PATH_MAX];  /* /tmp/zlregt-XXXXXX */
	char root[PATH_MAX]; /* dir/root */
	char no_auth[PATH_MAX]; /* an auth file that does not exist: no ~/.docker */
	struct rf_proxy proxy;
	struct rf_registry own; /* a registry only this test uses */
};

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));
	rf_fmt(t->dir, sizeof(t->dir), "/tmp/zlregt-XXXXXX");
	if (!t || !mkdtemp(t->dir))
		return -1;
	rf_fmt(t->root, sizeof(t->root), "%s/root", t->dir);
	rf_fmt(t->no_auth, sizeof(t->no_auth), "%s/no-auth.json", t->dir);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;
	rf_proxy_stop(&t->proxy);
	rf_registry_stop(&t->own);
	if (!getenv("ZL_KEEP_TMP"))
		rf_rm_rf(t->dir);
	free(t);
	return 0;
}

/* Client options for the suite: small timeouts, quick back-off, quiet. */
static struct registry_opts opts_for(const struct t *t)
{
	return (struct registry_opts){
		.root = t->root,
		.auth_file = t->no_auth,
		.timeout_s = 2,
		.max_attempts = 3,
		.retry_base_ms = 50,
		.progress = REGISTRY_PROGRESS_NONE,
	};
}

/* Pulls ref with o into img; returns registry_pull's result, err filled. */
static int pull_with(const struct registry_opts *o, const char *ref, struct registry_image *img,
		     struct zl_err *err)
{
	struct registry_client *c = NULL;
	if (registry_client_new(o, &c, err) < 0)
		return -1;
	int r = registry_pull(c, ref, img, err);
	registry_client_free(c);
	return r;
}

/* Pull that must succeed. */
static void must_pull(const struct registry_opts *o, const char *ref, struct registry_image *img)
{
	struct zl_err err = ZL_ERR_INIT;
	if (pull_with(o, ref, img, &err) < 0)
		fail_msg("pull %s failed: %s", ref, err.msg);
}

/* Pull that must fail with a message containing every needle. */
#define must_fail_pull(o, ref, ...) must_fail_pull_((o), (ref), (const char *const[]){ __VA_ARGS__, NULL })
static void must_fail_pull_(const struct registry_opts *o, const char *ref, const char *const *needles)
{
	struct zl_err err = ZL_ERR_INIT;
	struct registry_image img;
	int r = pull_with(o, ref, &img, &err);
	if (r == 0) {
		registry_image_clear(&img);
		fail_msg("pull %s succeeded; expected an error", ref);
	}
	fprintf(stderr, "  expected error: %s\n", err.msg);
	for (size_t i = 0; needles[i]; i++)
		if (!strcasestr(err.msg, needles[i]))
			fail_msg("pull %s: error does not mention \"%s\":\n%s", ref, needles[i], err.msg);
}

static void assert_blob(const char *root, const char *digest)
{
	char path[PATH_MAX];
	rf_blob_path(root, digest, path);
	if (!rf_exists(path))
		fail_msg("blob %s is not in the store (%s)", digest, path);
}

static void assert_no_blob(const char *root, const char *digest)
{
	char path[PATH_MAX], partial[PATH_MAX + 16];
	rf_blob_path(root, digest, path);
	rf_fmt(partial, sizeof(partial), "%s.partial", path);
	if (rf_exists(path))
		fail_msg("blob %s is in the store but should not be", digest);
	if (rf_exists(partial))
		fail_msg("a partial download of %s was left: %s", digest, partial);
}

static size_t store_blob_count(const char *root)
{
	char dir[PATH_MAX];
	rf_fmt(dir, sizeof(dir), "%s/blobs/sha256", root);
	return rf_count_entries(dir, NULL);
}

static void assert_store_empty(const char *root)
{
	char dir[PATH_MAX];
	rf_fmt(dir, sizeof(dir), "%s/blobs/sha256", root);
	size_t n = rf_count_entries(dir, NULL);
	if (n != 0) {
		char *ls = rf_sh_out("ls -la %s", dir);
		fail_msg("the store holds %zu entries, expected none:\n%s", n, ls ? ls : "");
	}
	rf_fmt(dir, sizeof(dir), "%s/layers", root);
	assert_int_equal(rf_count_entries(dir, NULL), 0);
}

/* The busybox image is complete in root: manifest and config blobs, the
 * layer unpacked with an executable /bin/busybox and its compressed blob
 * gone (registry_opts.keep_layer_blobs is off). */
static void assert_busybox_stored(const char *root, const struct registry_image *img)
{
	assert_string_equal(img->manifest_digest, rf_info_str(env.busybox, "manifest"));
	assert_string_equal(img->config_digest, rf_info_str(env.busybox, "config"));
	assert_int_equal(img->layer_count, 1);
	assert_string_equal(img->layers[0].digest, rf_info_at(env.busybox, "layers", 0));
	assert_string_equal(img->layers[0].diff_id, rf_info_at(env.busybox, "diff_ids", 0));
	assert_non_null(img->config_json);
	assert_non_null(strstr(img->config_json, "\"architecture\""));
	assert_blob(root, img->manifest_digest);
	assert_blob(root, img->config_digest);
	assert_no_blob(root, img->layers[0].digest);
	char dir[PATH_MAX];
	rf_fmt(dir, sizeof(dir), "%s/blobs/sha256", root);
	assert_int_equal(rf_count_entries(dir, ".partial"), 0);

	char path[PATH_MAX];
	rf_layer_path(root, img->layers[0].diff_id, "bin/busybox", path);
	struct stat st;
	if (stat(path, &st) < 0)
		fail_msg("%s: %s", path, strerror(errno));
	assert_true(S_ISREG(st.st_mode));
	assert_true(st.st_mode & S_IXUSR);
	assert_true(st.st_size > 100000);
	rf_layer_path(root, img->layers[0].diff_id, "bin/sh", path);
	char target[64] = "";
	assert_true(readlink(path, target, sizeof(target) - 1) > 0);
	assert_string_equal(target, "busybox");
}

/* ---- plain registry ---- */

static void test_anonymous_pull(void **state)
{
	need_env();
	struct t *t = *state;
	struct registry_opts o = opts_for(t);
	char ref[256];
	rf_ref(ref, env.reg[REG_PLAIN].port, "test/busybox:1.0");
	struct registry_image img;
	must_pull(&o, ref, &img);
	assert_busybox_stored(t->root, &img);
	assert_string_equal(img.reference, ref);
	assert_true(img.size > 1000000); /* config + the ~1 MB layer */

	/* resolve asks for the same digest and downloads nothing. */
	size_t before = store_blob_count(t->root);
	struct registry_client *c = NULL;
	struct zl_err err = ZL_ERR_INIT;
	char *digest = NULL;
	assert_int_equal(registry_client_new(&o, &c, &err), 0);
	if (registry_resolve(c, ref, &digest, &err) < 0)
		fail_msg("resolve: %s", err.msg);
	assert_string_equal(digest, img.manifest_digest);
	free(digest);
	registry_client_free(c);
	assert_int_equal(store_blob_count(t->root), before);
	registry_image_clear(&img);
}

static void test_manifest_not_found(void **state)
{
	need_env();
	struct t *t = *state;
	struct registry_opts o = opts_for(t);
	char ref[256];
	must_fail_pull(&o, rf_ref(ref, env.reg[REG_PLAIN].port, "test/busybox:nosuchtag"), "not found",
		       "test/busybox:nosuchtag");
	must_fail_pull(&o, rf_ref(ref, env.reg[REG_PLAIN].port, "test/nosuchimage:1.0"), "not found");
	assert_store_empty(t->root);
}

static void test_oci_layout(void **state)
{
	need_env();
	struct t *t = *state;
	struct registry_opts o = opts_for(t);
	char ref[PATH_MAX + 16];
	rf_fmt(ref, sizeof(ref), "oci:%s/busybox:1.0", env.images);
	struct registry_image img;
	must_pull(&o, ref, &img);
	assert_busybox_stored(t->root, &img);
	registry_image_clear(&img);
	/* An unknown tag of the layout is a clear error. */
	rf_fmt(ref, sizeof(ref), "oci:%s/busybox:nosuchtag", env.images);
	must_fail_pull(&o, ref, "nosuchtag");
}

static void test_docker_media_types(void **state)
{
	need_env();
	struct t *t = *state;
	struct registry_opts o = opts_for(t);
	char ref[256];
	/* Docker v2 schema 2 manifest: same layer and config, another manifest. */
	struct registry_image img;
	must_pull(&o, rf_ref(ref, env.reg[REG_PLAIN].port, "test/docker:1.0"), &img);
	assert_string_not_equal(img.manifest_digest, rf_info_str(env.busybox, "manifest"));
	assert_string_equal(img.layers[0].media_type, "application/vnd.docker.image.rootfs.diff.tar.gzip");
	assert_string_equal(img.layers[0].digest, rf_info_at(env.busybox, "layers", 0));
	assert_string_equal(img.layers[0].diff_id, rf_info_at(env.busybox, "diff_ids", 0));
	char path[PATH_MAX];
	rf_layer_path(t->root, img.layers[0].diff_id, "bin/busybox", path);
	assert_true(rf_exists(path));
	assert_blob(t->root, img.manifest_digest);
	registry_image_clear(&img);

	/* Docker manifest list: the platform is picked as from an OCI index. */
	o.platform = "linux/arm64";
	must_pull(&o, rf_ref(ref, env.reg[REG_PLAIN].port, "test/dockerlist:1.0"), &img);
	assert_non_null(strstr(img.config_json, "\"arm64\""));
	registry_image_clear(&img);
}

/* ---- authentication ---- */

static void test_basic_auth_ok(void **state)
{
	need_env();
	struct t *t = *state;
	char host[64], auth[PATH_MAX], ref[256];
	rf_fmt(host, sizeof(host), "127.0.0.1:%d", env.reg[REG_BASIC].port);
	rf_fmt(auth, sizeof(auth), "%s/auth.json", t->dir);
	assert_int_equal(rf_write_auth_file(auth, host, "user:pass"), 0);
	struct registry_opts o = opts_for(t);
	o.auth_file = auth;
	struct registry_image img;
	must_pull(&o, rf_ref(ref, env.reg[REG_BASIC].port, "test/busybox:1.0"), &img);
	assert_busybox_stored(t->root, &img);
	registry_image_clear(&img);
}

static void test_basic_auth_wrong_password(void **state)
{
	need_env();
	struct t *t = *state;
	char host[64], auth[PATH_MAX], ref[256];
	rf_fmt(host, sizeof(host), "127.0.0.1:%d", env.reg[REG_BASIC].port);
	rf_fmt(auth, sizeof(auth), "%s/auth.json", t->dir);
	assert_int_equal(rf_write_auth_file(auth, host, "user:wrong"), 0);
	struct registry_opts o = opts_for(t);
	o.auth_file = auth;
	rf_ref(ref, env.reg[REG_BASIC].port, "test/busybox:1.0");
	must_fail_pull(&o, ref, "authentication", "401");
	assert_store_empty(t->root);

	/* No credentials at all: says that some are needed. */
	o.auth_file = t->no_auth;
	must_fail_pull(&o, ref, "requires");
	assert_store_empty(t->root);
}

static size_t token_requests(void)
{
	char path[PATH_MAX];
	rf_fmt(path, sizeof(path), "%s/token.log", env.reg[REG_TOKEN].dir);
	char *log = rf_read_file(path);
	size_t n = rf_count_lines_with(log ? log : "", "token ");
	free(log);
	return n;
}

static void test_token_auth(void **state)
{
	need_env();
	struct t *t = *state;
	char host[64], auth[PATH_MAX], ref[256];
	int port = env.reg[REG_TOKEN].port;
	rf_fmt(host, sizeof(host), "127.0.0.1:%d", port);
	rf_fmt(auth, sizeof(auth), "%s/auth.json", t->dir);
	assert_int_equal(rf_write_auth_file(auth, host, "user:pass"), 0);
	struct registry_opts o = opts_for(t);
	o.auth_file = auth;

	/* The private repository holds the 3-layer image: a manifest, a config
	 * and three layers, all with one token. */
	size_t before = token_requests();
	struct registry_image img;
	must_pull(&o, rf_ref(ref, port, "test/private:1.0"), &img);
	assert_string_equal(img.manifest_digest, rf_info_str(env.multi, "manifest"));
	assert_int_equal(img.layer_count, 3);
	for (size_t i = 0; i < 3; i++) {
		char ldir[PATH_MAX];
		rf_layer_path(t->root, img.layers[i].diff_id, NULL, ldir);
		assert_true(rf_exists(ldir));
	}
	registry_image_clear(&img);
	size_t used = token_requests() - before;
	if (used != 1)
		fail_msg("one pull of 5 documents asked the token server %zu times; expected once (cached)", used);
}

static void test_token_auth_refused(void **state)
{
	need_env();
	struct t *t = *state;
	char host[64], auth[PATH_MAX], ref[256];
	int port = env.reg[REG_TOKEN].port;
	struct registry_opts o = opts_for(t);

	/* Anonymous: the public repository is fine, the private one is not. */
	struct registry_image img;
	must_pull(&o, rf_ref(ref, port, "test/public:1.0"), &img);
	assert_busybox_stored(t->root, &img);
	registry_image_clear(&img);
	struct registry_opts o2 = o;
	char root2[PATH_MAX];
	rf_fmt(root2, sizeof(root2), "%s/root2", t->dir);
	o2.root = root2;
	must_fail_pull(&o2, rf_ref(ref, port, "test/private:1.0"), "authentication");
	assert_store_empty(root2);

	/* A wrong password: the token server refuses it. */
	rf_fmt(host, sizeof(host), "127.0.0.1:%d", port);
	rf_fmt(auth, sizeof(auth), "%s/auth.json", t->dir);
	assert_int_equal(rf_write_auth_file(auth, host, "user:wrong"), 0);
	o2.auth_file = auth;
	must_fail_pull(&o2, ref, "wrong username or password");
	assert_store_empty(root2);
}

/* ---- TLS ---- */

static void test_tls_with_ca(void **state)
{
	need_env();
	struct t *t = *state;
	struct registry_opts o = opts_for(t);
	o.ca_file = env.reg[REG_TLS].ca;
	char ref[256];
	struct registry_image img;
	must_pull(&o, rf_ref(ref, env.reg[REG_TLS].port, "test/busybox:1.0"), &img);
	assert_busybox_stored(t->root, &img);
	registry_image_clear(&img);
}

static void test_tls_unknown_ca_refused(void **state)
{
	need_env();
	struct t *t = *state;
	struct registry_opts o = opts_for(t);
	char ref[256];
	rf_ref(ref, env.reg[REG_TLS].port, "test/busybox:1.0");
	struct zl_err err = ZL_ERR_INIT;
	struct registry_image img;
	int64_t t0 = rf_mono_ms();
	assert_int_equal(pull_with(&o, ref, &img, &err), -1);
	fprintf(stderr, "  expected error: %s\n", err.msg);
	/* A certificate error, not a plain-http fallback (which would end in
	 * "HTTP 400: client sent an HTTP request to an HTTPS server"). */
	if (!strcasestr(err.msg, "certificate") || strstr(err.msg, "HTTP 400") || strstr(err.msg, "http://"))
		fail_msg("expected a certificate error without a fallback to http:\n%s", err.msg);
	assert_true(rf_mono_ms() - t0 < 10000); /* not retried as if transient */
	assert_store_empty(t->root);
}

/* ---- image index ---- */

static const char *host_arch(void)
{
	struct utsname u;
	uname(&u);
	return strcmp(u.machine, "aarch64") == 0 ? "linux/arm64" : "linux/amd64";
}

static const char *platform_digest(const char *platform)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(env.multiarch, "platforms");
	return rf_info_str(p, platform);
}

static void test_index_platforms(void **state)
{
	need_env();
	struct t *t = *state;
	char ref[256];
	rf_ref(ref, env.reg[REG_PLAIN].port, "test/multiarch:1.0");
	const char *amd64 = platform_digest("linux/amd64"), *arm64 = platform_digest("linux/arm64");
	assert_true(registry_digest_valid(amd64) && registry_digest_valid(arm64));
	assert_string_not_equal(amd64, arm64);

	/* Default: this host's platform. */
	struct registry_opts o = opts_for(t);
	struct registry_image img;
	must_pull(&o, ref, &img);
	assert_string_equal(img.manifest_digest, platform_digest(host_arch()));
	registry_image_clear(&img);

	/* Explicit arm64: the other manifest and its config. */
	o.platform = "linux/arm64";
	must_pull(&o, ref, &img);
	assert_string_equal(img.manifest_digest, arm64);
	assert_non_null(strstr(img.config_json, "\"arm64\""));
	registry_image_clear(&img);
	o.platform = "linux/amd64";
	must_pull(&o, ref, &img);
	assert_string_equal(img.manifest_digest, amd64);
	assert_non_null(strstr(img.config_json, "\"amd64\""));
	registry_image_clear(&img);

	/* resolve follows the platform too. */
	struct registry_client *c = NULL;
	struct zl_err err = ZL_ERR_INIT;
	char *digest = NULL;
	o.platform = "linux/arm64";
	assert_int_equal(registry_client_new(&o, &c, &err), 0);
	if (registry_resolve(c, ref, &digest, &err) < 0)
		fail_msg("resolve: %s", err.msg);
	assert_string_equal(digest, arm64);
	free(digest);
	registry_client_free(c);
}

static void test_index_missing_platform(void **state)
{
	need_env();
	struct t *t = *state;
	char ref[256];
	struct registry_opts o = opts_for(t);
	o.platform = "linux/s390x";
	must_fail_pull(&o, rf_ref(ref, env.reg[REG_PLAIN].port, "test/multiarch:1.0"), "linux/s390x",
		       "linux/amd64", "linux/arm64");
	/* Nothing but (at most) the index itself was stored. */
	assert_true(store_blob_count(t->root) <= 1);
}

/* ---- layers and whiteouts ---- */

/* Does rel exist in the overlay of layers (top last) as overlayfs would
 * show it? A 0:0 char device hides the path below; an opaque directory
 * (trusted.overlay.opaque=y) hides everything below it. */
static bool merged_exists(char layer_dirs[][PATH_MAX], int n, const char *rel)
{
	for (int i = n - 1; i >= 0; i--) {
		char path[PATH_MAX * 2];
		rf_fmt(path, sizeof(path), "%s/%s", layer_dirs[i], rel);
		struct stat st;
		if (lstat(path, &st) == 0)
			return !(S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0));
		/* Is a parent directory opaque in this layer? */
		char parent[PATH_MAX * 2];
		rf_fmt(parent, sizeof(parent), "%s", path);
		for (char *slash = strrchr(parent, '/'); slash && slash > parent + strlen(layer_dirs[i]);
		     slash = strrchr(parent, '/')) {
			*slash = '\0';
			char v[8] = "";
			if (lgetxattr(parent, "trusted.overlay.opaque", v, sizeof(v) - 1) > 0 && v[0] == 'y')
				return false;
		}
	}
	return false;
}

static void test_whiteouts(void **state)
{
	need_env();
	struct t *t = *state;
	struct registry_opts o = opts_for(t);
	char ref[256];
	struct registry_image img;
	must_pull(&o, rf_ref(ref, env.reg[REG_PLAIN].port, "test/multi:1.0"), &img);
	assert_int_equal(img.layer_count, 3);
	char l[3][PATH_MAX];
	for (int i = 0; i < 3; i++) {
		assert_string_equal(img.layers[i].diff_id, rf_info_at(env.multi, "diff_ids", i));
		rf_layer_path(t->root, img.layers[i].diff_id, NULL, l[i]);
	}

	/* Layer 2: a/.wh.gone became the overlayfs whiteout a/gone (0:0 char
	 * device); no .wh. file is left anywhere. */
	char path[PATH_MAX * 2];
	struct stat st;
	rf_fmt(path, sizeof(path), "%s/a/gone", l[1]);
	if (lstat(path, &st) < 0)
		fail_msg("layer 2 has no whiteout for a/gone: %s", strerror(errno));
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(major(st.st_rdev), 0);
	assert_int_equal(minor(st.st_rdev), 0);
	rf_fmt(path, sizeof(path), "%s/a/.wh.gone", l[1]);
	assert_false(rf_exists(path));
	/* Layer 3: d/.wh..wh..opq became the opaque xattr on d. */
	rf_fmt(path, sizeof(path), "%s/d", l[2]);
	char v[8] = "";
	if (lgetxattr(path, "trusted.overlay.opaque", v, sizeof(v) - 1) != 1 || v[0] != 'y')
		fail_msg("layer 3's d/ is not marked opaque (trusted.overlay.opaque): %s", strerror(errno));
	rf_fmt(path, sizeof(path), "%s/d/.wh..wh..opq", l[2]);
	assert_false(rf_exists(path));

	/* Stacked (emulated): what a container would see. */
	assert_true(merged_exists(l, 3, "a/keep"));
	assert_true(merged_exists(l, 3, "a/l2"));
	assert_false(merged_exists(l, 3, "a/gone"));
	assert_false(merged_exists(l, 3, "d/old1"));
	assert_false(merged_exists(l, 3, "d/old2"));
	assert_true(merged_exists(l, 3, "d/new"));

	/* Stacked for real with overlayfs (root only). */
	if (geteuid() == 0) {
		char mnt[PATH_MAX], opts[PATH_MAX * 4];
		rf_fmt(mnt, sizeof(mnt), "%s/mnt", t->dir);
		assert_int_equal(mkdir(mnt, 0755), 0);
		rf_fmt(opts, sizeof(opts), "lowerdir=%s:%s:%s", l[2], l[1], l[0]);
		if (mount("overlay", mnt, "overlay", MS_RDONLY, opts) < 0)
			fail_msg("mount overlay (%s): %s", opts, strerror(errno));
		struct {
			const char *rel;
			bool present;
		} want[] = {
			{ "a/keep", true }, { "a/l2", true }, { "a/gone", false },
			{ "d/old1", false }, { "d/old2", false }, { "d/new", true },
		};
		char failed[512] = "";
		for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
			rf_fmt(path, sizeof(path), "%s/%s", mnt, want[i].rel);
			if (rf_exists(path) != want[i].present)
				rf_fmt(failed + strlen(failed), sizeof(failed) - strlen(failed), " %s(%s)",
					 want[i].rel, want[i].present ? "missing" : "not hidden");
		}
		rf_fmt(path, sizeof(path), "%s/layer", mnt);
		char *top = rf_read_file(path);
		umount2(mnt, MNT_DETACH);
		if (failed[0])
			fail_msg("overlay of the three layers is wrong:%s", failed);
		assert_non_null(top);
		assert_string_equal(top, "layer3\n");
		free(top);
	}
	registry_image_clear(&img);
}

/* ---- faults ---- */

static void test_tampered_blob(void **state)
{
	need_env();
	struct t *t = *state;
	char dir[PATH_MAX];
	rf_fmt(dir, sizeof(dir), "%s/reg", t->dir);
	if (rf_registry_start(&t->own, "plain", dir) < 0 ||
	    rf_push(&t->own, env.images, "busybox", "test/tamper:1.0") < 0)
		fail_msg("cannot start or fill a registry for this test (see %s)", dir);
	/* Change one byte in the middle of the layer as the registry stores it;
	 * the size stays the same. */
	const char *layer = rf_info_at(env.busybox, "layers", 0);
	char data[PATH_MAX];
	rf_registry_blob_path(&t->own, layer, data);
	int fd = open(data, O_RDWR);
	if (fd < 0)
		fail_msg("open %s: %s", data, strerror(errno));
	off_t mid = lseek(fd, 0, SEEK_END) / 2;
	unsigned char b;
	assert_int_equal(pread(fd, &b, 1, mid), 1);
	b ^= 0xff;
	assert_int_equal(pwrite(fd, &b, 1, mid), 1);
	close(fd);

	struct registry_opts o = opts_for(t);
	char ref[256];
	must_fail_pull(&o, rf_ref(ref, t->own.port, "test/tamper:1.0"), "tampered or corrupt", layer);
	assert_no_blob(t->root, layer);
	char blobs[PATH_MAX];
	rf_fmt(blobs, sizeof(blobs), "%s/blobs/sha256", t->root);
	assert_int_equal(rf_count_entries(blobs, ".partial"), 0);
	char ldir[PATH_MAX];
	rf_layer_path(t->root, rf_info_at(env.busybox, "diff_ids", 0), NULL, ldir);
	assert_false(rf_exists(ldir));
}

/* A proxy in front of the plain registry. */
static void start_proxy(struct t *t, const char *mode)
{
	char dir[PATH_MAX];
	rf_fmt(dir, sizeof(dir), "%s/proxy", t->dir);
	if (rf_proxy_start(&t->proxy, dir, env.reg[REG_PLAIN].port, mode) < 0)
		fail_msg("cannot start tests/infra/fault-proxy.py");
}

/* Disk: a layer's blob goes once the layer is unpacked and verified
 * (assert_busybox_stored; test_second_pull_downloads_nothing shows a
 * re-pull still fetches nothing); keep_layer_blobs keeps them. */
static void test_keep_layer_blobs(void **state)
{
	need_env();
	struct t *t = *state;
	struct registry_opts o = opts_for(t);
	o.keep_layer_blobs = true;
	char ref[256];
	struct registry_image img;
	must_pull(&o, rf_ref(ref, env.reg[REG_PLAIN].port, "test/busybox:1.0"), &img);
	assert_blob(t->root, img.layers[0].digest);
	char path[PATH_MAX];
	rf_layer_path(t->root, img.layers[0].diff_id, "bin/busybox", path);
	assert_true(rf_exists(path));
	registry_image_clear(&img);
}

static void test_truncated_body_retried_with_range(void **state)
{
	need_env();
	struct t *t = *state;
	start_proxy(t, "truncate:1");
	struct registry_opts o = opts_for(t);
	char ref[256];
	struct registry_image img;
	must_pull(&o, rf_ref(ref, t->proxy.port, "test/busybox:1.0"), &img);
	assert_busybox_stored(t->root, &img);
	registry_image_clear(&img);

	/* The cut answer, then a Range request for the rest (206). */
	char *log = rf_proxy_log(&t->proxy);
	const char *layer = rf_info_at(env.busybox, "layers", 0);
	if (rf_count_lines_with2(log, layer, "fault=truncate") != 1 ||
	    rf_count_lines_with2(log, layer, "range=bytes=") != 1 ||
	    rf_count_lines_with2(log, layer, "status=206") != 1)
		fail_msg("expected one truncated answer and one resumed Range request for the layer:\n%s", log);
	free(log);
}

static void test_truncated_every_time_then_next_pull_resumes(void **state)
{
	need_env();
	struct t *t = *state;
	start_proxy(t, "truncate");
	struct registry_opts o = opts_for(t);
	o.max_attempts = 2;
	char ref[256];
	rf_ref(ref, t->proxy.port, "test/busybox:1.0");
	const char *layer = rf_info_at(env.busybox, "layers", 0);
	must_fail_pull(&o, ref, layer);

	/* The partial download is kept: more than the first half of the blob. */
	char partial[PATH_MAX + 16], path[PATH_MAX];
	rf_blob_path(t->root, layer, path);
	rf_fmt(partial, sizeof(partial), "%s.partial", path);
	struct stat st;
	if (stat(partial, &st) < 0)
		fail_msg("no partial download kept at %s", partial);
	int64_t size = (int64_t)cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(env.busybox, "layer_sizes"), 0)->valuedouble;
	assert_true(st.st_size >= size / 2 && st.st_size < size);
	assert_false(rf_exists(path));

	/* The next pull continues from there. */
	rf_proxy_mode(&t->proxy, "pass");
	rf_proxy_log_clear(&t->proxy);
	struct registry_image img;
	must_pull(&o, ref, &img);
	assert_busybox_stored(t->root, &img);
	registry_image_clear(&img);
	char *log = rf_proxy_log(&t->proxy);
	char range[64];
	rf_fmt(range, sizeof(range), "range=bytes=%lld-", (long long)st.st_size);
	if (rf_count_lines_with2(log, layer, range) != 1 || rf_count_lines_with2(log, layer, "status=206") != 1)
		fail_msg("the second pull did not resume with \"%s\":\n%s", range, log);
	free(log);
}

static void test_resume_when_registry_ignores_range(void **state)
{
	need_env();
	struct t *t = *state;
	/* The retry's Range header never reaches the registry: it answers 200
	 * with the whole blob, and the client must start the file over. */
	start_proxy(t, "truncate:1+norange");
	struct registry_opts o = opts_for(t);
	char ref[256];
	struct registry_image img;
	must_pull(&o, rf_ref(ref, t->proxy.port, "test/busybox:1.0"), &img);
	assert_busybox_stored(t->root, &img);
	registry_image_clear(&img);
	char *log = rf_proxy_log(&t->proxy);
	const char *layer = rf_info_at(env.busybox, "layers", 0);
	if (rf_count_lines_with2(log, layer, "range=bytes=") != 1 ||
	    rf_count_lines_with2(log, layer, "status=200") != 2)
		fail_msg("expected a Range request answered 200 after the cut:\n%s", log);
	free(log);
}

static void test_complete_partial_is_verified_not_downloaded(void **state)
{
	need_env();
	struct t *t = *state;
	/* A run that died between the last byte and the rename left a complete
	 * .partial: the next pull verifies and keeps it. */
	const char *layer = rf_info_at(env.busybox, "layers", 0);
	char src[PATH_MAX], dst[PATH_MAX], partial[PATH_MAX + 16];
	rf_fmt(src, sizeof(src), "%s/busybox/blobs/sha256/%s", env.images, layer + 7);
	rf_blob_path(t->root, layer, dst);
	rf_fmt(partial, sizeof(partial), "%s.partial", dst);
	if (rf_sh("mkdir -p %s/blobs/sha256 && cp %s %s", t->root, src, partial) != 0)
		fail_msg("cannot place the partial file");
	start_proxy(t, "pass");
	struct registry_opts o = opts_for(t);
	char ref[256];
	struct registry_image img;
	must_pull(&o, rf_ref(ref, t->proxy.port, "test/busybox:1.0"), &img);
	assert_busybox_stored(t->root, &img);
	registry_image_clear(&img);
	assert_false(rf_exists(partial));
	char *log = rf_proxy_log(&t->proxy);
	if (rf_count_lines_with(log, layer) != 0)
		fail_msg("the complete partial download was fetched again:\n%s", log);
	free(log);
}

static void test_429_then_success(void **state)
{
	need_env();
	struct t *t = *state;
	start_proxy(t, "status:429:2");
	struct registry_opts o = opts_for(t);
	o.max_attempts = 4;
	char ref[256];
	struct registry_image img;
	int64_t t0 = rf_mono_ms();
	must_pull(&o, rf_ref(ref, t->proxy.port, "test/busybox:1.0"), &img);
	int64_t took = rf_mono_ms() - t0;
	assert_busybox_stored(t->root, &img);
	registry_image_clear(&img);
	char *log = rf_proxy_log(&t->proxy);
	if (rf_count_lines_with(log, "status=429") != 2)
		fail_msg("expected two 429 answers:\n%s", log);
	free(log);
	/* Retry-After: 1 was honoured (not the 50 ms back-off). */
	if (took < 1900)
		fail_msg("two 429s with Retry-After: 1 took only %lld ms", (long long)took);
}

static void test_500_then_success(void **state)
{
	need_env();
	struct t *t = *state;
	start_proxy(t, "status:500:2");
	struct registry_opts o = opts_for(t);
	o.max_attempts = 4;
	char ref[256];
	struct registry_image img;
	must_pull(&o, rf_ref(ref, t->proxy.port, "test/busybox:1.0"), &img);
	assert_busybox_stored(t->root, &img);
	registry_image_clear(&img);
	char *log = rf_proxy_log(&t->proxy);
	if (rf_count_lines_with(log, "status=500") != 2)
		fail_msg("expected two 500 answers:\n%s", log);
	free(log);
}

static void test_500_until_attempts_run_out(void **state)
{
	need_env();
	struct t *t = *state;
	start_proxy(t, "status:500");
	struct registry_opts o = opts_for(t);
	o.max_attempts = 3;
	char ref[256];
	must_fail_pull(&o, rf_ref(ref, t->proxy.port, "test/busybox:1.0"), "HTTP 500");
	char *log = rf_proxy_log(&t->proxy);
	if (rf_count_lines_with(log, "status=500") != 3)
		fail_msg("expected exactly max_attempts (3) requests:\n%s", log);
	free(log);
	assert_store_empty(t->root);
}

static void test_slow_server_times_out(void **state)
{
	need_env();
	struct t *t = *state;
	start_proxy(t, "slow:200");
	struct registry_opts o = opts_for(t);
	o.timeout_s = 1;
	o.max_attempts = 2;
	char ref[256];
	int64_t t0 = rf_mono_ms();
	must_fail_pull(&o, rf_ref(ref, t->proxy.port, "test/busybox:1.0"), "timeout");
	int64_t took = rf_mono_ms() - t0;
	/* Two attempts of about a second each, not the full trickle (~90 min). */
	if (took > 15000)
		fail_msg("the slow server held the pull for %lld ms", (long long)took);
	assert_true(took >= 1000);
}

static void test_second_pull_downloads_nothing(void **state)
{
	need_env();
	struct t *t = *state;
	start_proxy(t, "pass");
	struct registry_opts o = opts_for(t);
	char ref[256];
	rf_ref(ref, t->proxy.port, "test/multi:1.0");
	struct registry_image img;
	must_pull(&o, ref, &img);
	registry_image_clear(&img);
	char *log = rf_proxy_log(&t->proxy);
	assert_int_equal(rf_count_lines_with(log, "/blobs/"), 4); /* config + 3 layers */
	free(log);

	char layer_dir[PATH_MAX];
	rf_layer_path(t->root, rf_info_at(env.multi, "diff_ids", 0), NULL, layer_dir);
	struct stat before, after;
	assert_int_equal(stat(layer_dir, &before), 0);
	rf_proxy_log_clear(&t->proxy);
	must_pull(&o, ref, &img); /* a new client: nothing cached in memory */
	assert_string_equal(img.manifest_digest, rf_info_str(env.multi, "manifest"));
	registry_image_clear(&img);
	log = rf_proxy_log(&t->proxy);
	if (rf_count_lines_with(log, "/blobs/") != 0)
		fail_msg("the second pull downloaded blobs again:\n%s", log);
	free(log);
	/* Nor unpacked anything again. */
	assert_int_equal(stat(layer_dir, &after), 0);
	assert_int_equal(before.st_ino, after.st_ino);
}

/* ---- WebAssembly artifacts ---- */

static const cJSON *wasm_info(const char *name)
{
	const cJSON *i = cJSON_GetObjectItemCaseSensitive(env.wasm_info, name);
	if (!i)
		fail_msg("wasm.json has no \"%s\"", name);
	return i;
}

static int64_t info_int(const cJSON *info, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(info, key);
	assert_true(cJSON_IsNumber(v));
	return (int64_t)v->valuedouble;
}

/* env.wasm/files/NAME into out. */
static char *wasm_file(const char *name, char out[PATH_MAX])
{
	rf_fmt(out, PATH_MAX, "%s/files/%s", env.wasm, name);
	return out;
}

static size_t layer_dir_count(const char *root)
{
	char dir[PATH_MAX];
	rf_fmt(dir, sizeof(dir), "%s/layers", root);
	return rf_count_entries(dir, NULL);
}

/* img is the WASM artifact of wasm.json's name: its kind, its manifest,
 * config and module blobs in the store, the module as the image's one
 * layer (no diff_id: never unpacked), its path and size. */
static void assert_wasm_image(const char *root, const struct registry_image *img, const char *name)
{
	const cJSON *info = wasm_info(name);
	assert_string_equal(registry_image_kind_name(img->kind), rf_info_str(info, "kind"));
	assert_true(registry_kind_is_wasm(img->kind));
	assert_string_equal(img->manifest_digest, rf_info_str(info, "manifest"));
	assert_string_equal(img->config_digest, rf_info_str(info, "config"));
	assert_non_null(img->wasm_digest);
	assert_string_equal(img->wasm_digest, rf_info_str(info, "wasm"));
	int64_t size = info_int(info, "wasm_size");
	assert_int_equal(img->size, size);
	assert_int_equal(img->layer_count, 1);
	assert_string_equal(img->layers[0].digest, img->wasm_digest);
	assert_null(img->layers[0].diff_id);
	char path[PATH_MAX];
	rf_blob_path(root, img->wasm_digest, path);
	assert_non_null(img->wasm_path);
	assert_string_equal(img->wasm_path, path);
	struct stat st;
	if (stat(path, &st) < 0)
		fail_msg("module blob %s: %s", path, strerror(errno));
	assert_int_equal(st.st_size, size);
	assert_blob(root, img->manifest_digest);
	assert_blob(root, img->config_digest);
	cJSON *cfg = cJSON_Parse(img->config_json);
	assert_true(cJSON_IsObject(cfg));
	cJSON_Delete(cfg);
	assert_int_equal(layer_dir_count(root), 0);
}

/* Each media-type signal alone makes a WASM artifact: pulled, the right
 * kind, stored once (a second pull downloads nothing and adds no blob). */
static void test_wasm_signals(void **state)
{
	need_env();
	struct t *t = *state;
	start_proxy(t, "pass");
	struct registry_opts o = opts_for(t);
	static const char *const names[] = { "wasm-type-component", "wasm-type-module", "wasm-config",
					     "wasm-layer" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char repo[128], ref[256];
		rf_fmt(repo, sizeof(repo), "test/%s:1.0", names[i]);
		rf_ref(ref, t->proxy.port, repo);
		struct registry_image img;
		rf_proxy_log_clear(&t->proxy);
		must_pull(&o, ref, &img);
		assert_wasm_image(t->root, &img, names[i]);
		assert_string_equal(img.reference, ref);
		char *log = rf_proxy_log(&t->proxy);
		if (rf_count_lines_with(log, rf_info_str(wasm_info(names[i]), "wasm")) != 1)
			fail_msg("%s: expected one download of the module:\n%s", names[i], log);
		free(log);
		registry_image_clear(&img);

		/* Again, with a new client: one blob, nothing downloaded. */
		size_t blobs = store_blob_count(t->root);
		char path[PATH_MAX];
		rf_blob_path(t->root, rf_info_str(wasm_info(names[i]), "wasm"), path);
		struct stat before, after;
		assert_int_equal(stat(path, &before), 0);
		rf_proxy_log_clear(&t->proxy);
		must_pull(&o, ref, &img);
		assert_wasm_image(t->root, &img, names[i]);
		registry_image_clear(&img);
		log = rf_proxy_log(&t->proxy);
		if (rf_count_lines_with(log, "/blobs/") != 0)
			fail_msg("%s: the second pull downloaded blobs:\n%s", names[i], log);
		free(log);
		assert_int_equal(store_blob_count(t->root), blobs);
		assert_int_equal(stat(path, &after), 0);
		assert_int_equal(before.st_ino, after.st_ino);

		/* resolve agrees with the pull. */
		struct registry_client *c = NULL;
		struct zl_err err = ZL_ERR_INIT;
		char *digest = NULL;
		assert_int_equal(registry_client_new(&o, &c, &err), 0);
		if (registry_resolve(c, ref, &digest, &err) < 0)
			fail_msg("resolve %s: %s", ref, err.msg);
		assert_string_equal(digest, rf_info_str(wasm_info(names[i]), "manifest"));
		free(digest);
		registry_client_free(c);
	}
	/* What each config carries: the image config of the layer-signal
	 * artifact keeps its Env; the empty config is "{}". */
	struct registry_image img;
	char ref[256];
	must_pull(&o, rf_ref(ref, t->proxy.port, "test/wasm-layer:1.0"), &img);
	assert_non_null(strstr(img.config_json, "GREETING=hello"));
	registry_image_clear(&img);
	must_pull(&o, rf_ref(ref, t->proxy.port, "test/wasm-type-component:1.0"), &img);
	assert_string_equal(img.config_json, "{}");
	registry_image_clear(&img);
	must_pull(&o, rf_ref(ref, t->proxy.port, "test/wasm-config:1.0"), &img);
	assert_non_null(strstr(img.config_json, "layerDigests"));
	registry_image_clear(&img);
	/* Three WASM kinds side by side with a container image: busybox still
	 * unpacks. */
	must_pull(&o, rf_ref(ref, t->proxy.port, "test/busybox:1.0"), &img);
	assert_int_equal(img.kind, REGISTRY_IMAGE_CONTAINER);
	assert_null(img.wasm_path);
	assert_busybox_stored(t->root, &img);
	registry_image_clear(&img);
}

/* An index whose only entry is for platform wasip1/wasm: taken on any host. */
static void test_wasm_index(void **state)
{
	need_env();
	struct t *t = *state;
	struct registry_opts o = opts_for(t);
	char ref[256];
	struct registry_image img;
	must_pull(&o, rf_ref(ref, env.reg[REG_PLAIN].port, "test/wasm-index:1.0"), &img);
	assert_wasm_image(t->root, &img, "wasm-index");
	assert_blob(t->root, rf_info_str(wasm_info("wasm-index"), "index"));
	registry_image_clear(&img);
}

/* oci: layouts holding WASM artifacts work as registries do. */
static void test_wasm_oci_layout(void **state)
{
	need_env();
	struct t *t = *state;
	struct registry_opts o = opts_for(t);
	static const char *const names[] = { "wasm-type-component", "wasm-config", "wasm-layer" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char ref[PATH_MAX + 16];
		rf_fmt(ref, sizeof(ref), "oci:%s/%s:1.0", env.wasm, names[i]);
		struct registry_image img;
		must_pull(&o, ref, &img);
		assert_wasm_image(t->root, &img, names[i]);
		size_t blobs = store_blob_count(t->root);
		registry_image_clear(&img);
		must_pull(&o, ref, &img);
		assert_int_equal(store_blob_count(t->root), blobs);
		registry_image_clear(&img);
	}
	char ref[PATH_MAX + 16];
	rf_fmt(ref, sizeof(ref), "oci:%s/wasm-truncated:1.0", env.wasm);
	must_fail_pull(&o, ref, "truncated WebAssembly binary", ref);
}

/* file:PATH: copied into the store under its digest, checked, described by
 * a manifest that depends on the bytes only. */
static void test_wasm_file(void **state)
{
	need_env();
	struct t *t = *state;
	struct registry_opts o = opts_for(t);
	const cJSON *files = cJSON_GetObjectItemCaseSensitive(env.wasm_info, "files");
	const cJSON *hello = cJSON_GetObjectItemCaseSensitive(files, "hello.wasm");
	const cJSON *comp = cJSON_GetObjectItemCaseSensitive(files, "component.wasm");
	char src[PATH_MAX], app[PATH_MAX], ref[PATH_MAX + 16];
	rf_fmt(app, sizeof(app), "%s/app.wasm", t->dir);
	if (rf_sh("cp %s %s", wasm_file("hello.wasm", src), app) != 0)
		fail_msg("cannot copy the module");
	rf_fmt(ref, sizeof(ref), "file:%s", app);

	struct registry_image img;
	must_pull(&o, ref, &img);
	assert_string_equal(img.reference, ref);
	assert_int_equal(img.kind, REGISTRY_IMAGE_WASM_MODULE);
	assert_string_equal(img.wasm_digest, rf_info_str(hello, "digest"));
	assert_int_equal(img.size, info_int(hello, "size"));
	assert_int_equal(img.layer_count, 1);
	assert_null(img.layers[0].diff_id);
	assert_string_equal(img.config_json, "{}");
	assert_blob(t->root, img.manifest_digest);
	assert_blob(t->root, img.config_digest);
	assert_blob(t->root, img.wasm_digest);
	assert_int_equal(store_blob_count(t->root), 3); /* manifest, "{}", module */
	assert_int_equal(layer_dir_count(t->root), 0);
	char *stored = rf_read_file(img.wasm_path), *orig = rf_read_file(app);
	assert_non_null(stored);
	assert_int_equal(memcmp(stored, orig, (size_t)img.size), 0);
	free(stored);
	free(orig);
	char *manifest_digest = strdup(img.manifest_digest);
	registry_image_clear(&img);

	/* resolve computes the same manifest digest and stores nothing. */
	struct registry_client *c = NULL;
	struct zl_err err = ZL_ERR_INIT;
	char *digest = NULL;
	assert_int_equal(registry_client_new(&o, &c, &err), 0);
	if (registry_resolve(c, ref, &digest, &err) < 0)
		fail_msg("resolve %s: %s", ref, err.msg);
	assert_string_equal(digest, manifest_digest);
	free(digest);

	/* Pulled twice: one blob. The same bytes elsewhere: the same manifest. */
	must_pull(&o, ref, &img);
	assert_string_equal(img.manifest_digest, manifest_digest);
	registry_image_clear(&img);
	rf_fmt(ref, sizeof(ref), "file:%s", src);
	must_pull(&o, ref, &img);
	assert_string_equal(img.manifest_digest, manifest_digest);
	registry_image_clear(&img);
	assert_int_equal(store_blob_count(t->root), 3);
	char dir[PATH_MAX];
	rf_fmt(dir, sizeof(dir), "%s/blobs/sha256", t->root);
	assert_int_equal(rf_count_entries(dir, ".partial"), 0);

	/* A changed file is a new digest (here a component); the old blob stays
	 * and needs no file. */
	rf_fmt(ref, sizeof(ref), "file:%s", app);
	if (rf_sh("cp %s %s", wasm_file("component.wasm", src), app) != 0)
		fail_msg("cannot copy the component");
	if (registry_resolve(c, ref, &digest, &err) < 0)
		fail_msg("resolve %s: %s", ref, err.msg);
	assert_string_not_equal(digest, manifest_digest);
	must_pull(&o, ref, &img);
	assert_string_equal(img.manifest_digest, digest);
	assert_int_equal(img.kind, REGISTRY_IMAGE_WASM_COMPONENT);
	assert_string_equal(img.wasm_digest, rf_info_str(comp, "digest"));
	registry_image_clear(&img);
	free(digest);
	registry_client_free(c);
	assert_int_equal(unlink(app), 0);
	assert_blob(t->root, rf_info_str(hello, "digest"));
	assert_blob(t->root, manifest_digest);
	free(manifest_digest);

	/* A relative path is resolved against the current directory. */
	char old[PATH_MAX], files_dir[PATH_MAX], want[PATH_MAX + 16];
	assert_non_null(getcwd(old, sizeof(old)));
	rf_fmt(files_dir, sizeof(files_dir), "%s/files", env.wasm);
	assert_int_equal(chdir(files_dir), 0);
	must_pull(&o, "file:./hello.wasm", &img);
	assert_int_equal(chdir(old), 0);
	rf_fmt(want, sizeof(want), "file:%s/hello.wasm", files_dir);
	assert_string_equal(img.reference, want);
	assert_string_equal(img.wasm_digest, rf_info_str(hello, "digest"));
	registry_image_clear(&img);
}

/* Bad input: clear errors that name the reference; nothing stored from a
 * file that is refused. */
static void test_wasm_bad_input(void **state)
{
	need_env();
	struct t *t = *state;
	struct registry_opts o = opts_for(t);
	char ref[256];
	int port = env.reg[REG_PLAIN].port;
	must_fail_pull(&o, rf_ref(ref, port, "test/wasm-truncated:1.0"), ref,
		       "truncated WebAssembly binary", "declares",
		       rf_info_str(wasm_info("wasm-truncated"), "wasm"));
	must_fail_pull(&o, rf_ref(ref, port, "test/wasm-not-wasm:1.0"), ref,
		       "not a WebAssembly binary", "(a script)", "layer media type application/wasm");
	must_fail_pull(&o, rf_ref(ref, port, "test/not-an-image:1.0"), ref,
		       "neither a container image nor a WASM artifact",
		       "application/vnd.example.config.v1+json", "application/vnd.example.data.v1");

	char root2[PATH_MAX];
	rf_fmt(root2, sizeof(root2), "%s/root2", t->dir);
	o.root = root2;
	static const struct {
		const char *file, *error;
	} bad[] = {
		{ "truncated.wasm", "truncated WebAssembly binary: section 6 (id 10)" },
		{ "short.wasm", "less than its 8-byte header" },
		{ "not-wasm.txt", "not a WebAssembly binary" },
		{ "future.wasm", "unsupported WebAssembly binary version 2" },
		{ "missing.wasm", "no such file" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char path[PATH_MAX], fref[PATH_MAX + 16];
		rf_fmt(fref, sizeof(fref), "file:%s", wasm_file(bad[i].file, path));
		struct zl_err err = ZL_ERR_INIT;
		struct registry_image img;
		assert_int_equal(pull_with(&o, fref, &img, &err), -1);
		fprintf(stderr, "  expected error: %s\n", err.msg);
		assert_int_equal(err.kind, ZL_ERR_INPUT);
		char want[PATH_MAX + 32];
		rf_fmt(want, sizeof(want), "pull %s: ", fref);
		if (strncmp(err.msg, want, strlen(want)) != 0 || !strstr(err.msg, bad[i].error))
			fail_msg("pull %s: expected \"%s...%s\", got:\n%s", fref, want, bad[i].error, err.msg);
	}
	char fref[PATH_MAX + 16];
	rf_fmt(fref, sizeof(fref), "file:%s/files", env.wasm);
	must_fail_pull(&o, fref, fref, "is not a regular file");
	/* Nothing stored, no temporary file left. */
	char dir[PATH_MAX];
	rf_fmt(dir, sizeof(dir), "%s/blobs/sha256", root2);
	assert_int_equal(rf_count_entries(dir, NULL), 0);
}

/* On top: the images table records a WASM image (size = the module's),
 * pull policies find it in the store without the file, prune removes it. */
static void test_wasm_images_policies_prune(void **state)
{
	need_env();
	struct t *t = *state;
	char app[PATH_MAX], src[PATH_MAX], ref[PATH_MAX + 16];
	rf_fmt(app, sizeof(app), "%s/app.wasm", t->dir);
	if (rf_sh("cp %s %s", wasm_file("hello.wasm", src), app) != 0)
		fail_msg("cannot copy the module");
	rf_fmt(ref, sizeof(ref), "file:%s", app);
	const cJSON *hello =
		cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(env.wasm_info, "files"),
						 "hello.wasm");
	struct zl_err err = ZL_ERR_INIT;
	if (zl_mkdir_p(t->root, 0700, &err) < 0)
		fail_msg("%s", err.msg);
	struct state_db *db = NULL;
	if (state_open(t->root, false, &db, &err) < 0)
		fail_msg("state_open: %s", err.msg);
	struct images_opts io = { .auth_file = t->no_auth, .quiet = true };
	struct images_ctx *ctx = images_ctx_new(t->root, &io, db);
	struct images_ready ready;

	/* never: not there yet. */
	assert_int_equal(images_ensure(ctx, ref, SPEC_PULL_NEVER, &ready, &err), -1);
	assert_non_null(strstr(err.msg, "not in the local store"));
	/* if_not_present pulls; the WASM image has no layer directories. */
	if (images_ensure(ctx, ref, SPEC_PULL_IF_NOT_PRESENT, &ready, &err) < 0)
		fail_msg("if_not_present: %s", err.msg);
	assert_string_equal(ready.reference, ref);
	assert_int_equal(ready.layer_count, 0);
	char *digest = strdup(ready.manifest_digest);
	images_ready_clear(&ready);
	images_ctx_free(ctx);

	/* The row: size = the module's, its layer the module without diff_id. */
	struct state_image row;
	bool found = false;
	assert_int_equal(state_image_get(db, ref, &row, &found, &err), 0);
	assert_true(found);
	assert_int_equal(row.size, info_int(hello, "size"));
	assert_non_null(strstr(row.layers, rf_info_str(hello, "digest")));
	assert_null(strstr(row.layers, "diff_id"));
	state_image_clear(&row);

	/* The file is gone: never and if_not_present use the stored copy. */
	assert_int_equal(unlink(app), 0);
	ctx = images_ctx_new(t->root, &io, db);
	if (images_ensure(ctx, ref, SPEC_PULL_NEVER, &ready, &err) < 0)
		fail_msg("never after a pull: %s", err.msg);
	assert_string_equal(ready.manifest_digest, digest);
	images_ready_clear(&ready);
	images_ctx_free(ctx);
	ctx = images_ctx_new(t->root, &io, db);
	if (images_ensure(ctx, ref, SPEC_PULL_IF_NOT_PRESENT, &ready, &err) < 0)
		fail_msg("if_not_present after a pull: %s", err.msg);
	images_ready_clear(&ready);
	images_ctx_free(ctx);

	/* The module blob lost: never says so, if_not_present would pull. */
	char blob[PATH_MAX];
	rf_blob_path(t->root, rf_info_str(hello, "digest"), blob);
	char saved[PATH_MAX + 8];
	rf_fmt(saved, sizeof(saved), "%s.keep", t->dir);
	assert_int_equal(rename(blob, saved), 0);
	ctx = images_ctx_new(t->root, &io, db);
	assert_int_equal(images_ensure(ctx, ref, SPEC_PULL_NEVER, &ready, &err), -1);
	images_ctx_free(ctx);
	assert_int_equal(rename(saved, blob), 0);

	/* prune: no replica uses it; image, manifest, config and module go. */
	ctx = images_ctx_new(t->root, &io, db);
	int64_t freed = 0;
	size_t removed = 0;
	if (images_prune(ctx, &freed, &removed, &err) < 0)
		fail_msg("prune: %s", err.msg);
	images_ctx_free(ctx);
	assert_int_equal(removed, 1);
	assert_true(freed > 0);
	assert_false(rf_exists(blob));
	assert_int_equal(store_blob_count(t->root), 0);
	free(digest);
	state_close(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_anonymous_pull),
		T(test_manifest_not_found),
		T(test_oci_layout),
		T(test_docker_media_types),
		T(test_basic_auth_ok),
		T(test_basic_auth_wrong_password),
		T(test_token_auth),
		T(test_token_auth_refused),
		T(test_tls_with_ca),
		T(test_tls_unknown_ca_refused),
		T(test_index_platforms),
		T(test_index_missing_platform),
		T(test_whiteouts),
		T(test_tampered_blob),
		T(test_keep_layer_blobs),
		T(test_truncated_body_retried_with_range),
		T(test_truncated_every_time_then_next_pull_resumes),
		T(test_resume_when_registry_ignores_range),
		T(test_complete_partial_is_verified_not_downloaded),
		T(test_429_then_success),
		T(test_500_then_success),
		T(test_500_until_attempts_run_out),
		T(test_slow_server_times_out),
		T(test_second_pull_downloads_nothing),
		T(test_wasm_signals),
		T(test_wasm_index),
		T(test_wasm_oci_layout),
		T(test_wasm_file),
		T(test_wasm_bad_input),
		T(test_wasm_images_policies_prune),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, group_teardown);
}
