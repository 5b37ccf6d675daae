/* test_oci_bundle.c: the OCI runtime config of a replica (backends/oci/bundle.c).
 * argv and env merging with the image config (decision 4), users and groups
 * from a fake rootfs (never the host's files), capabilities, resources,
 * mounts per storage type, namespaces per network mode, Docker's security
 * defaults (the seccomp filter among them), and errors that name the service and the key. Each test builds
 * its own fixture under a fresh temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "backends/oci/oci-internal.h"

#define HEAD "version: v1\ndeployment: demo\nservices:\n  web:\n    image: {name: \"nginx:1\"}\n"

#define NGINX_CONFIG \
	"{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{" \
	"\"Env\":[\"PATH=/usr/local/sbin:/usr/bin\",\"NGINX_VERSION=1.25\",\"LANG=C\"]," \
	"\"Entrypoint\":[\"/docker-entrypoint.sh\"],\"Cmd\":[\"nginx\",\"-g\",\"daemon off;\"]," \
	"\"WorkingDir\":\"/srv\"}}"

static char tmp[64];       /* the test's own directory */
static char rootfs[128];   /* fake image rootfs with /etc/passwd and /etc/group */
static char volumes[128];
static char anon[128];
static char bindsrc[128];  /* an existing bind source */

static void write_file(const char *dir, const char *rel, const char *text)
{
	char *path = zl_xasprintf("%s/%s", dir, rel);
	struct zl_err err = ZL_ERR_INIT;
	char *slash = strrchr(path, '/');
	*slash = '\0';
	assert_int_equal(zl_mkdir_p(path, 0755, &err), 0);
	*slash = '/';
	if (zl_write_file_atomic(path, text, strlen(text), 0644, &err) != 0)
		fail_msg("%s", err.msg);
	free(path);
}

static int setup(void **state)
{
	snprintf(tmp, sizeof(tmp), "/tmp/test_oci_bundle.XXXXXX");
	if (!mkdtemp(tmp))
		return -1;
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", tmp);
	snprintf(volumes, sizeof(volumes), "%s/volumes/demo", tmp);
	snprintf(anon, sizeof(anon), "%s/anon", tmp);
	snprintf(bindsrc, sizeof(bindsrc), "%s/bind-src", tmp);
	write_file(rootfs, "etc/passwd",
		   "root:x:0:0:root:/root:/bin/sh\n"
		   "# a comment\n"
		   "www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n"
		   "app:x:1000:1000::/home/app:/bin/sh\n");
	write_file(rootfs, "etc/group",
		   "root:x:0:root\n"
		   "www-data:x:33:\n"
		   "staff:x:50:www-data,app\n"
		   "audio:x:29:app\n"
		   "app:x:1000:\n");
	return mkdir(bindsrc, 0755);
}

static int teardown(void **state)
{
	struct zl_err err = ZL_ERR_INIT;
	return zl_rm_rf(tmp, &err);
}

/* ---- helpers ---- */

struct loaded {
	struct spec_set set;
	struct spec_service *svc;
};

/* Loads HEAD + extra (more keys of service "web", 4-space indented). */
static void load(struct loaded *l, const char *extra)
{
	char *text = zl_xasprintf("%s%s", HEAD, extra);
	struct spec_diags diags = { 0 };
	memset(l, 0, sizeof(*l));
	if (spec_load_text("t.yaml", text, strlen(text), &l->set, &diags) != 0) {
		spec_diags_print(&diags, stderr);
		fail_msg("load failed:\n%s", text);
	}
	spec_diags_free(&diags);
	free(text);
	l->svc = l->set.deployments[0].services;
}

struct opts {
	const char *image_config; /* NULL: NGINX_CONFIG; "" none */
	const char *netns_path;
	const char *resolv_conf, *hosts_file;
};

/* Builds the config of replica 2; returns its JSON or NULL with *err. */
static cJSON *build(const struct spec_service *svc, const struct opts *o, struct zl_err *err)
{
	struct opts none = { 0 };
	if (!o)
		o = &none;
	struct backend_replica_spec rs = {
		.deployment = "demo", .service = svc, .index = 2, .backend_id = "zl-demo-web-2",
		.env = svc->env, .env_count = svc->env_count,
		.image_config = o->image_config ? (*o->image_config ? o->image_config : NULL) : NGINX_CONFIG,
	};
	struct oci_bundle_input in = {
		.rs = &rs, .rootfs = rootfs, .netns_path = o->netns_path, .volumes_dir = volumes,
		.anon_dir = anon, .cgroups_path = "/zlapply/zl-demo-web-2",
		.resolv_conf = o->resolv_conf, .hosts_file = o->hosts_file,
	};
	char *json = NULL;
	if (oci_bundle_config(&in, &json, err) != 0) {
		assert_null(json);
		return NULL;
	}
	cJSON *root = cJSON_Parse(json);
	if (!root)
		fail_msg("config.json does not parse:\n%s", json);
	free(json);
	return root;
}

static cJSON *build_ok(const char *extra, const struct opts *o, struct loaded *l)
{
	load(l, extra);
	struct zl_err err = ZL_ERR_INIT;
	cJSON *root = build(l->svc, o, &err);
	if (!root)
		fail_msg("build failed: %s", err.msg);
	return root;
}

/* Expects a build error containing want (and "service web"). */
static void build_fails(const char *extra, const struct opts *o, const char *want)
{
	struct loaded l;
	load(&l, extra);
	struct zl_err err = ZL_ERR_INIT;
	cJSON *root = build(l.svc, o, &err);
	if (root)
		fail_msg("accepted:\n%s", extra);
	if (!strstr(err.msg, want) || strncmp(err.msg, "service web: ", 13))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, want);
	spec_set_free(&l.set);
}

/* Expects validate to refuse extra (the rule moved there from the backend,
 * so apply refuses the spec before any replica is made), with a diagnostic
 * containing want. */
static void refused(const char *extra, const char *want)
{
	char *text = zl_xasprintf("%s%s", HEAD, extra);
	struct spec_diags diags = { 0 };
	struct spec_set set = { 0 };
	if (spec_load_text("t.yaml", text, strlen(text), &set, &diags) == 0)
		fail_msg("validate accepted:\n%s", extra);
	bool found = false;
	for (size_t i = 0; i < diags.count; i++)
		found |= strstr(diags.items[i].msg, want) != NULL;
	if (!found) {
		spec_diags_print(&diags, stderr);
		fail_msg("no diagnostic has \"%s\"", want);
	}
	spec_diags_free(&diags);
	spec_set_free(&set);
	free(text);
}

/* Object at a dotted path ("process.user.uid"). */
static const cJSON *at(const cJSON *root, const char *path)
{
	char *copy = zl_xstrdup(path), *save = NULL;
	const cJSON *cur = root;
	for (char *k = strtok_r(copy, ".", &save); k && cur; k = strtok_r(NULL, ".", &save))
		cur = cJSON_GetObjectItemCaseSensitive(cur, k);
	free(copy);
	return cur;
}

static double num_at(const cJSON *root, const char *path)
{
	const cJSON *n = at(root, path);
	if (!cJSON_IsNumber(n))
		fail_msg("%s is not a number", path);
	return n->valuedouble;
}

/* A string array joined with '|'. */
static char *joined(const cJSON *arr)
{
	struct zl_buf b = { 0 };
	const cJSON *it;
	cJSON_ArrayForEach(it, arr) zl_buf_printf(&b, "%s%s", b.len ? "|" : "", it->valuestring);
	return zl_buf_steal(&b);
}

static bool has_string(const cJSON *arr, const char *s)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, arr) if (cJSON_IsString(it) && !strcmp(it->valuestring, s)) return true;
	return false;
}

static const cJSON *mount_at(const cJSON *root, const char *dest)
{
	const cJSON *m;
	cJSON_ArrayForEach(m, at(root, "mounts")) {
		if (!strcmp(cJSON_GetObjectItem(m, "destination")->valuestring, dest))
			return m;
	}
	return NULL;
}

static const cJSON *namespace_of(const cJSON *root, const char *type)
{
	const cJSON *ns;
	cJSON_ArrayForEach(ns, at(root, "linux.namespaces")) {
		if (!strcmp(cJSON_GetObjectItem(ns, "type")->valuestring, type))
			return ns;
	}
	return NULL;
}

static void done(cJSON *root, struct loaded *l)
{
	cJSON_Delete(root);
	spec_set_free(&l->set);
}

/* ---- argv (decision 4) ---- */

#define SV(...) ((const char *const[]){ __VA_ARGS__, NULL })

static struct spec_strv strv(const char *const *items)
{
	struct spec_strv v = { (char **)items, 0 };
	while (items && items[v.count])
		v.count++;
	return v;
}

static void test_argv(void **state)
{
	/* not static: the lists are compound literals */
	const struct {
		const char *name;
		const char *const *entrypoint, *const *args; /* NULL = not given */
		const char *image;
		const char *want; /* argv joined by '|', or "!" + error part */
	} cases[] = {
		{ "image entrypoint + cmd", NULL, NULL, NGINX_CONFIG,
		  "/docker-entrypoint.sh|nginx|-g|daemon off;" },
		{ "spec args replace the image cmd only", NULL, SV("nginx", "-T"), NGINX_CONFIG,
		  "/docker-entrypoint.sh|nginx|-T" },
		{ "spec entrypoint drops the image cmd", SV("/bin/sh", "-c", "echo hi"), NULL, NGINX_CONFIG,
		  "/bin/sh|-c|echo hi" },
		{ "spec entrypoint + args", SV("/bin/echo"), SV("a", "b"), NGINX_CONFIG, "/bin/echo|a|b" },
		{ "empty entrypoint clears it, keeps cmd", (const char *const[]){ NULL }, NULL, NGINX_CONFIG,
		  "nginx|-g|daemon off;" },
		{ "cmd-only image + args", NULL, SV("sh"), "{\"config\":{\"Cmd\":[\"bash\"],\"Entrypoint\":null}}",
		  "sh" },
		{ "no image config + args", NULL, SV("/app"), "", "/app" },
		{ "nothing anywhere", NULL, NULL, "{\"config\":{\"Env\":[]}}",
		  "!no command: the image has no ENTRYPOINT/CMD and the spec gives none" },
		{ "no image config, no spec", NULL, NULL, "", "!no command" },
		{ "bad image config", NULL, SV("x"), "{nope", "!not valid JSON" },
		{ "empty program", NULL, SV(""), "", "!first argument) is empty" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct spec_service svc = { .name = "web" };
		if (cases[i].entrypoint) {
			svc.has_entrypoint = true;
			svc.entrypoint = strv(cases[i].entrypoint);
		}
		if (cases[i].args) {
			svc.has_args = true;
			svc.args = strv(cases[i].args);
		}
		struct zl_err err = ZL_ERR_INIT;
		char **argv = NULL;
		size_t argc = 0;
		int rc = proc_build_argv(&svc, *cases[i].image ? cases[i].image : NULL, &argv, &argc, &err);
		if (cases[i].want[0] == '!') {
			if (rc == 0)
				fail_msg("%s: accepted", cases[i].name);
			if (!strstr(err.msg, cases[i].want + 1))
				fail_msg("%s: message \"%s\" lacks \"%s\"", cases[i].name, err.msg, cases[i].want + 1);
			assert_null(argv);
			continue;
		}
		if (rc != 0)
			fail_msg("%s: %s", cases[i].name, err.msg);
		struct zl_buf b = { 0 };
		for (size_t j = 0; j < argc; j++)
			zl_buf_printf(&b, "%s%s", j ? "|" : "", argv[j]);
		assert_null(argv[argc]);
		if (strcmp(b.data, cases[i].want))
			fail_msg("%s: got \"%s\", want \"%s\"", cases[i].name, b.data, cases[i].want);
		zl_buf_free(&b);
		proc_strv_free(argv, argc);
	}
}

/* ---- environment ---- */

static void test_env(void **state)
{
	struct spec_kv spec_env[] = { { "LANG", "C.UTF-8" }, { "MODE", "prod" } };
	static const struct {
		const char *name, *image, *hostname;
		size_t n_spec;
		const char *want;
	} cases[] = {
		{ "image first, spec overrides in place, new ones after", NGINX_CONFIG, "web-rep-2", 2,
		  "PATH=/usr/local/sbin:/usr/bin|NGINX_VERSION=1.25|LANG=C.UTF-8|HOSTNAME=web-rep-2|MODE=prod" },
		{ "PATH default when nobody sets it", "{\"config\":{\"Env\":[\"A=1\"]}}", NULL, 0,
		  "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|A=1" },
		{ "no image config", NULL, "h", 1,
		  "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|HOSTNAME=h|LANG=C.UTF-8" },
		{ "image HOSTNAME replaced", "{\"config\":{\"Env\":[\"HOSTNAME=img\",\"PATH=/p\"]}}", "h", 0,
		  "HOSTNAME=h|PATH=/p" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char **env;
		size_t n;
		assert_int_equal(proc_build_env(spec_env, cases[i].n_spec, cases[i].image, cases[i].hostname, "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", &env, &n), 0);
		struct zl_buf b = { 0 };
		for (size_t j = 0; j < n; j++)
			zl_buf_printf(&b, "%s%s", j ? "|" : "", env[j]);
		if (strcmp(b.data, cases[i].want))
			fail_msg("%s: got \"%s\", want \"%s\"", cases[i].name, b.data, cases[i].want);
		zl_buf_free(&b);
		proc_strv_free(env, n);
	}
	/* The spec can set PATH and HOSTNAME itself. */
	struct spec_kv own[] = { { "HOSTNAME", "mine" }, { "PATH", "/opt/bin" } };
	char **env;
	size_t n;
	assert_int_equal(proc_build_env(own, 2, NGINX_CONFIG, "web-rep-2", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", &env, &n), 0);
	assert_int_equal(n, 4);
	assert_string_equal(env[0], "PATH=/opt/bin");
	assert_string_equal(env[3], "HOSTNAME=mine");
	proc_strv_free(env, n);
	assert_int_equal(proc_build_env(NULL, 0, "[1,", NULL, "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", &env, &n), -1);
}

/* ---- users ---- */

static void test_user(void **state)
{
	static const struct {
		const char *spec;
		uint32_t uid, gid;
		const char *extra; /* additional gids, "," separated */
		const char *err;   /* non-NULL: expected error part */
	} cases[] = {
		{ NULL, 0, 0, "", NULL },
		{ "app", 1000, 1000, "50,29", NULL },
		{ "1000", 1000, 1000, "50,29", NULL },
		{ "www-data", 33, 33, "50", NULL },
		{ "1000:50", 1000, 50, "", NULL },
		{ "app:staff", 1000, 50, "", NULL },
		{ "33:audio", 33, 29, "", NULL },
		{ "4242", 4242, 0, "", NULL },
		{ "4242:4243", 4242, 4243, "", NULL },
		{ "nobody", 0, 0, NULL, "no user \"nobody\" in the image's /etc/passwd" },
		{ "app:wheel", 0, 0, NULL, "no group \"wheel\" in the image's /etc/group" },
		{ ":50", 0, 0, NULL, "expected uid[:gid] or name[:group]" },
		{ "app:", 0, 0, NULL, "expected uid[:gid]" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct zl_err err = ZL_ERR_INIT;
		uint32_t uid = 99, gid = 99, *extra = NULL;
		size_t n = 0;
		int rc = oci_resolve_user(cases[i].spec, rootfs, &uid, &gid, &extra, &n, &err);
		const char *name = cases[i].spec ? cases[i].spec : "(default)";
		if (cases[i].err) {
			if (rc == 0)
				fail_msg("%s: accepted", name);
			if (!strstr(err.msg, cases[i].err) || !strstr(err.msg, cases[i].spec))
				fail_msg("%s: message \"%s\" lacks \"%s\"", name, err.msg, cases[i].err);
			continue;
		}
		if (rc != 0)
			fail_msg("%s: %s", name, err.msg);
		struct zl_buf b = { 0 };
		for (size_t j = 0; j < n; j++)
			zl_buf_printf(&b, "%s%u", j ? "," : "", extra[j]);
		if (uid != cases[i].uid || gid != cases[i].gid || strcmp(b.data ? b.data : "", cases[i].extra))
			fail_msg("%s: got %u:%u [%s], want %u:%u [%s]", name, uid, gid, b.data ? b.data : "",
				 cases[i].uid, cases[i].gid, cases[i].extra);
		zl_buf_free(&b);
		free(extra);
	}
}

/* A symlinked /etc/passwd resolves inside the rootfs, not on the host. */
static void test_user_symlink_stays_in_rootfs(void **state)
{
	char *root2 = zl_xasprintf("%s/rootfs2", tmp);
	write_file(root2, "data/passwd", "inside:x:777:778::/:/bin/sh\n");
	char *etc = zl_xasprintf("%s/etc", root2);
	char *link = zl_xasprintf("%s/etc/passwd", root2);
	assert_int_equal(mkdir(etc, 0755), 0);
	assert_int_equal(symlink("/data/passwd", link), 0);
	struct zl_err err = ZL_ERR_INIT;
	uint32_t uid, gid, *extra;
	size_t n;
	if (oci_resolve_user("inside", root2, &uid, &gid, &extra, &n, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(uid, 777);
	assert_int_equal(gid, 778);
	/* No /etc/group at all: a group name cannot resolve, a number can. */
	assert_int_equal(oci_resolve_user("inside:778", root2, &uid, &gid, &extra, &n, &err), 0);
	assert_int_equal(oci_resolve_user("inside:wheel", root2, &uid, &gid, &extra, &n, &err), -1);
	assert_non_null(strstr(err.msg, "(the image has none)"));
	free(root2);
	free(etc);
	free(link);
}

static void test_user_in_config(void **state)
{
	struct loaded l;
	/* The image's USER applies when the spec has none. */
	cJSON *root = build_ok("", &(struct opts){ .image_config = "{\"config\":{\"User\":\"app\",\"Cmd\":[\"x\"]}}" }, &l);
	assert_int_equal((int)num_at(root, "process.user.uid"), 1000);
	assert_int_equal((int)num_at(root, "process.user.gid"), 1000);
	assert_int_equal(cJSON_GetArraySize(at(root, "process.user.additionalGids")), 2);
	done(root, &l);
	/* The spec's user wins; extra_groups add to it. */
	root = build_ok("    user: \"www-data\"\n    extra_groups: [audio, \"4000\"]\n",
			&(struct opts){ .image_config = "{\"config\":{\"User\":\"app\",\"Cmd\":[\"x\"]}}" }, &l);
	assert_int_equal((int)num_at(root, "process.user.uid"), 33);
	char *gids = cJSON_PrintUnformatted(at(root, "process.user.additionalGids"));
	assert_string_equal(gids, "[50,29,4000]");
	free(gids);
	done(root, &l);
	build_fails("    user: nobody\n", NULL, "user \"nobody\": no user \"nobody\" in the image's /etc/passwd");
	build_fails("    extra_groups: [wheel]\n", NULL, "extra_groups: no group \"wheel\"");
}

/* ---- capabilities ---- */

static void test_capabilities(void **state)
{
	static const char *const docker_default =
		"CAP_CHOWN|CAP_DAC_OVERRIDE|CAP_FOWNER|CAP_FSETID|CAP_KILL|CAP_SETGID|CAP_SETUID|"
		"CAP_SETPCAP|CAP_NET_BIND_SERVICE|CAP_NET_RAW|CAP_SYS_CHROOT|CAP_MKNOD|CAP_AUDIT_WRITE|CAP_SETFCAP";
	static const struct {
		const char *yaml, *want;
	} cases[] = {
		{ "", NULL /* docker_default */ },
		{ "    capabilities: [NET_ADMIN]\n",
		  "CAP_CHOWN|CAP_DAC_OVERRIDE|CAP_FOWNER|CAP_FSETID|CAP_KILL|CAP_SETGID|CAP_SETUID|"
		  "CAP_SETPCAP|CAP_NET_BIND_SERVICE|CAP_NET_ADMIN|CAP_NET_RAW|CAP_SYS_CHROOT|CAP_MKNOD|"
		  "CAP_AUDIT_WRITE|CAP_SETFCAP" },
		{ "    cap_drop: [ALL]\n    capabilities: [chown]\n", "CAP_CHOWN" },
		{ "    cap_drop: [all]\n", "" },
		{ "    cap_drop: [CAP_NET_RAW, mknod, Setfcap, KILL, AUDIT_WRITE, SETPCAP, SYS_CHROOT]\n",
		  "CAP_CHOWN|CAP_DAC_OVERRIDE|CAP_FOWNER|CAP_FSETID|CAP_SETGID|CAP_SETUID|CAP_NET_BIND_SERVICE" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct loaded l;
		cJSON *root = build_ok(cases[i].yaml, NULL, &l);
		const char *want = cases[i].want ? cases[i].want : docker_default;
		for (const char *set = "bounding"; set; set = !strcmp(set, "bounding") ? "effective" :
					 !strcmp(set, "effective") ? "permitted" : NULL) {
			char *path = zl_xasprintf("process.capabilities.%s", set);
			char *got = joined(at(root, path));
			if (strcmp(got, want))
				fail_msg("case %zu %s: got %s, want %s", i, set, got, want);
			free(got);
			free(path);
		}
		done(root, &l);
	}
	/* cap_add ALL = every capability of this kernel except the dropped. */
	struct loaded l;
	cJSON *root = build_ok("    capabilities: [ALL]\n    cap_drop: [SYS_ADMIN]\n", NULL, &l);
	const cJSON *b = at(root, "process.capabilities.bounding");
	assert_true(has_string(b, "CAP_SYS_MODULE"));
	assert_false(has_string(b, "CAP_SYS_ADMIN"));
	done(root, &l);
	refused("    capabilities: [NET_FOO]\n", "unknown capability \"NET_FOO\"");
	refused("    cap_drop: [CAP_BOGUS]\n", "unknown capability \"CAP_BOGUS\"");
}

/* Capabilities this process cannot hand out (a sandbox that dropped some)
 * fail by name when asked for, and never break privileged or defaults. */
static void test_capabilities_beyond_host(void **state)
{
	unsigned long long bnd = 0;
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "CapBnd: %llx", &bnd) == 1)
			break;
	if (f)
		fclose(f);
	struct loaded l;
	cJSON *root = build_ok("    privileged: true\n", NULL, &l);
	const cJSON *b = at(root, "process.capabilities.bounding");
	bool sys_resource = bnd & (1ULL << 24);
	assert_int_equal(has_string(b, "CAP_SYS_RESOURCE"), sys_resource);
	done(root, &l);
	if (sys_resource)
		skip(); /* nothing else to see where zlapply has every capability */
	build_fails("    capabilities: [SYS_RESOURCE]\n", NULL,
		    "capabilities: CAP_SYS_RESOURCE is not available to zlapply on this host");
}

/* ---- privileged, read-only root, security options ---- */

static void test_security_defaults(void **state)
{
	struct loaded l;
	cJSON *root = build_ok("", NULL, &l);
	const cJSON *masked = at(root, "linux.maskedPaths");
	assert_true(has_string(masked, "/proc/kcore"));
	assert_true(has_string(masked, "/sys/firmware"));
	assert_int_equal(cJSON_GetArraySize(masked), 11);
	assert_true(has_string(at(root, "linux.readonlyPaths"), "/proc/sysrq-trigger"));
	assert_true(cJSON_IsFalse(at(root, "root.readonly")));
	assert_null(at(root, "process.noNewPrivileges"));
	assert_null(at(root, "process.oomScoreAdj")); /* inherited, not forced to 0 */
	assert_true(has_string(cJSON_GetObjectItem(mount_at(root, "/sys"), "options"), "ro"));
	/* deny all, then the standard devices */
	const cJSON *rules = at(root, "linux.resources.devices");
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(cJSON_GetArrayItem(rules, 0), "allow")));
	assert_true(cJSON_GetArraySize(rules) >= 10);
	done(root, &l);

	root = build_ok("    privileged: true\n    read_only_root_fs: true\n"
			"    security_opt: [\"no-new-privileges:true\"]\n", NULL, &l);
	assert_null(at(root, "linux.maskedPaths"));
	assert_null(at(root, "linux.readonlyPaths"));
	assert_true(cJSON_IsTrue(at(root, "root.readonly")));
	assert_true(cJSON_IsTrue(at(root, "process.noNewPrivileges")));
	assert_true(has_string(at(root, "process.capabilities.bounding"), "CAP_SYS_ADMIN"));
	rules = at(root, "linux.resources.devices");
	assert_int_equal(cJSON_GetArraySize(rules), 1);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(rules, 0), "allow")));
	assert_true(has_string(cJSON_GetObjectItem(mount_at(root, "/sys"), "options"), "rw"));
	done(root, &l);

	root = build_ok("    security_opt: [no-new-privileges]\n", NULL, &l);
	assert_true(cJSON_IsTrue(at(root, "process.noNewPrivileges")));
	done(root, &l);
	refused("    security_opt: [\"no-new-privileges:maybe\"]\n", "expected no-new-privileges");
	refused("    security_opt: [\"bogus=1\"]\n", "unknown option (expected no-new-privileges");
}

/* ---- seccomp (backends/oci/seccomp.c) ---- */

/* Whether a rule of linux.seccomp allows name (with or without conditions). */
static bool seccomp_allows(const cJSON *sc, const char *name)
{
	const cJSON *r;
	cJSON_ArrayForEach(r, cJSON_GetObjectItem(sc, "syscalls"))
		if (!strcmp(cJSON_GetObjectItem(r, "action")->valuestring, "SCMP_ACT_ALLOW") &&
		    has_string(cJSON_GetObjectItem(r, "names"), name))
			return true;
	return false;
}

static void test_seccomp(void **state)
{
	/* Docker's default profile, for Docker's default capabilities. */
	struct loaded l;
	cJSON *root = build_ok("", NULL, &l);
	const cJSON *sc = at(root, "linux.seccomp");
	assert_non_null(sc);
	assert_string_equal(at(sc, "defaultAction")->valuestring, "SCMP_ACT_ERRNO");
	assert_int_equal((int)num_at(sc, "defaultErrnoRet"), 1);
#if defined(__x86_64__)
	char *archs = joined(at(sc, "architectures"));
	assert_string_equal(archs, "SCMP_ARCH_X86_64|SCMP_ARCH_X86|SCMP_ARCH_X32");
	free(archs);
#endif
	assert_true(seccomp_allows(sc, "read"));
	assert_true(seccomp_allows(sc, "chroot")); /* CAP_SYS_CHROOT is a default one */
	assert_false(seccomp_allows(sc, "mount"));
	assert_false(seccomp_allows(sc, "keyctl"));
	done(root, &l);

	/* Capabilities added or dropped change the groups. */
	root = build_ok("    capabilities: [SYS_ADMIN]\n    cap_drop: [SYS_CHROOT]\n", NULL, &l);
	sc = at(root, "linux.seccomp");
	assert_true(seccomp_allows(sc, "mount"));
	assert_true(seccomp_allows(sc, "unshare"));
	assert_false(seccomp_allows(sc, "chroot"));
	done(root, &l);

	/* No filter: seccomp=unconfined, or privileged. */
	root = build_ok("    security_opt: [\"seccomp=unconfined\"]\n", NULL, &l);
	assert_null(at(root, "linux.seccomp"));
	assert_non_null(at(root, "linux.maskedPaths")); /* the rest stays confined */
	done(root, &l);
	root = build_ok("    security_opt: [\"seccomp:unconfined\", \"no-new-privileges\"]\n", NULL, &l);
	assert_null(at(root, "linux.seccomp"));
	assert_true(cJSON_IsTrue(at(root, "process.noNewPrivileges")));
	done(root, &l);
	root = build_ok("    privileged: true\n", NULL, &l);
	assert_null(at(root, "linux.seccomp"));
	done(root, &l);
	/* The last seccomp= counts; builtin is the default even when privileged. */
	root = build_ok("    security_opt: [\"seccomp=unconfined\", \"seccomp=builtin\"]\n", NULL, &l);
	assert_non_null(at(root, "linux.seccomp"));
	done(root, &l);
	root = build_ok("    privileged: true\n    security_opt: [\"seccomp=builtin\"]\n", NULL, &l);
	sc = at(root, "linux.seccomp");
	assert_non_null(sc);
	assert_int_equal(seccomp_allows(sc, "mount"),
			 has_string(at(root, "process.capabilities.bounding"), "CAP_SYS_ADMIN"));
	done(root, &l);

	/* A profile file, privileged or not. */
	write_file(tmp, "no-mkdir.json",
		   "{\"defaultAction\": \"SCMP_ACT_ALLOW\",\n"
		   " \"syscalls\": [{\"names\": [\"mkdir\", \"mkdirat\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 1},\n"
		   "              {\"names\": [\"mount\"], \"action\": \"SCMP_ACT_ERRNO\", \"excludes\": {\"caps\": [\"CAP_SYS_ADMIN\"]}}]}\n");
	for (int privileged = 0; privileged < 2; privileged++) {
		char *yaml = zl_xasprintf("%s    security_opt: [\"seccomp=%s/no-mkdir.json\"]\n",
					  privileged ? "    privileged: true\n" : "", tmp);
		root = build_ok(yaml, NULL, &l);
		sc = at(root, "linux.seccomp");
		assert_string_equal(at(sc, "defaultAction")->valuestring, "SCMP_ACT_ALLOW");
		const cJSON *first = cJSON_GetArrayItem(at(sc, "syscalls"), 0);
		char *names = joined(cJSON_GetObjectItem(first, "names"));
		assert_string_equal(names, "mkdir|mkdirat");
		free(names);
		assert_int_equal((int)num_at(first, "errnoRet"), 1);
		/* privileged has CAP_SYS_ADMIN (where zlapply has it): no mount rule */
		bool admin = has_string(at(root, "process.capabilities.bounding"), "CAP_SYS_ADMIN");
		assert_int_equal(cJSON_GetArraySize(at(sc, "syscalls")), admin ? 1 : 2);
		done(root, &l);
		free(yaml);
	}

	/* What cannot be applied fails the replica, naming the file and the field. */
	refused("    security_opt: [seccomp]\n",
		"expected seccomp=unconfined, seccomp=builtin or seccomp=/absolute/path/to/profile.json");
	refused("    security_opt: [\"seccomp=no-mkdir.json\"]\n", "got \"seccomp=no-mkdir.json\"");
	write_file(tmp, "bad.json", "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"ALLOW\"}]}");
	char *yaml = zl_xasprintf("    security_opt: [\"seccomp=%s/bad.json\"]\n", tmp);
	char *want = zl_xasprintf("security_opt: seccomp profile %s/bad.json: syscalls[0].action: unknown action \"ALLOW\"", tmp);
	build_fails(yaml, NULL, want);
	free(yaml);
	free(want);
	yaml = zl_xasprintf("    security_opt: [\"seccomp=%s/none.json\"]\n", tmp);
	want = zl_xasprintf("security_opt: seccomp profile %s/none.json: No such file or directory", tmp);
	build_fails(yaml, NULL, want);
	free(yaml);
	free(want);
	/* LSM options are still accepted (and not applied). */
	root = build_ok("    security_opt: [\"apparmor=unconfined\", \"label=disable\"]\n", NULL, &l);
	assert_non_null(at(root, "linux.seccomp"));
	done(root, &l);
}

/* ---- resources ---- */

static void test_resources(void **state)
{
	struct loaded l;
	cJSON *root = build_ok("    resources: {cpu: 0.5, memory: 64Mi, pids_limit: 100, cpu_shares: 512,"
			       " cpuset: \"0-1\", memory_swappiness: 10, blkio_weight: 300, memory_reservation: 32Mi}\n",
			       NULL, &l);
	assert_int_equal((int64_t)num_at(root, "linux.resources.cpu.quota"), 50000);
	assert_int_equal((int64_t)num_at(root, "linux.resources.cpu.period"), 100000);
	assert_int_equal((int64_t)num_at(root, "linux.resources.cpu.shares"), 512);
	assert_string_equal(at(root, "linux.resources.cpu.cpus")->valuestring, "0-1");
	assert_int_equal((int64_t)num_at(root, "linux.resources.memory.limit"), 67108864);
	assert_int_equal((int64_t)num_at(root, "linux.resources.memory.reservation"), 33554432);
	assert_int_equal((int64_t)num_at(root, "linux.resources.memory.swappiness"), 10);
	assert_int_equal((int64_t)num_at(root, "linux.resources.pids.limit"), 100);
	assert_int_equal((int64_t)num_at(root, "linux.resources.blockIO.weight"), 300);
	assert_string_equal(at(root, "linux.cgroupsPath")->valuestring, "/zlapply/zl-demo-web-2");
	done(root, &l);

	/* 2 cores: a quota of two periods; unset values stay out. */
	root = build_ok("    resources: {cpu: 2}\n", NULL, &l);
	assert_int_equal((int64_t)num_at(root, "linux.resources.cpu.quota"), 200000);
	assert_null(at(root, "linux.resources.memory.limit"));
	assert_null(at(root, "linux.resources.pids"));
	done(root, &l);

	refused("    resources: {memory: 4Mi}\n", "4Mi is below the 6Mi a container needs");
	refused("    resources: {memory: 64Mi, memory_reservation: 128Mi}\n",
		"128Mi is above the memory limit 64Mi");
	/* Values the parser may let through but the kernel would refuse. */
	static const struct { const char *field; const char *want; } bad[] = {
		{ "pids", "resources.pids_limit: -5 is below 1" },
		{ "swap", "resources.memory_swap: 32Mi is below resources.memory 64Mi" },
		{ "shares", "resources.cpu_shares: 1 is outside 2..262144" },
		{ "oom", "resources.oom_score_adj: 2000 is outside -1000..1000" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		load(&l, "    resources: {memory: 64Mi}\n");
		struct spec_resources *r = &l.svc->resources;
		if (!strcmp(bad[i].field, "pids"))
			r->pids_limit = -5;
		else if (!strcmp(bad[i].field, "swap"))
			r->memory_swap = 32 << 20;
		else if (!strcmp(bad[i].field, "shares"))
			r->cpu_shares = 1;
		else
			r->oom_score_adj = 2000;
		struct zl_err err = ZL_ERR_INIT;
		assert_null(build(l.svc, NULL, &err));
		if (!strstr(err.msg, bad[i].want))
			fail_msg("message \"%s\" lacks \"%s\"", err.msg, bad[i].want);
		spec_set_free(&l.set);
	}
	/* Unlimited swap is -1; the OOM killer switch and score pass through. */
	load(&l, "    resources: {memory: 64Mi}\n");
	l.svc->resources.memory_swap = -1;
	l.svc->resources.oom_kill_disable = true;
	l.svc->resources.oom_score_adj = 500;
	struct zl_err err = ZL_ERR_INIT;
	root = build(l.svc, NULL, &err);
	assert_non_null(root);
	assert_int_equal((int64_t)num_at(root, "linux.resources.memory.swap"), -1);
	assert_true(cJSON_IsTrue(at(root, "linux.resources.memory.disableOOMKiller")));
	assert_int_equal((int)num_at(root, "process.oomScoreAdj"), 500);
	done(root, &l);
}

/* ---- rlimits ---- */

static void test_rlimits(void **state)
{
	struct loaded l;
	cJSON *root = build_ok("", NULL, &l);
	const cJSON *r = cJSON_GetArrayItem(at(root, "process.rlimits"), 0);
	assert_string_equal(cJSON_GetObjectItem(r, "type")->valuestring, "RLIMIT_NOFILE");
	/* Docker's 1048576, or less where zlapply cannot raise its own hard
	 * limit (no CAP_SYS_RESOURCE): then exactly that limit. */
	struct rlimit rl;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	int64_t soft = (int64_t)cJSON_GetObjectItem(r, "soft")->valuedouble;
	assert_int_equal((int64_t)cJSON_GetObjectItem(r, "hard")->valuedouble, soft);
	if (soft != 1048576)
		assert_int_equal(soft, (int64_t)rl.rlim_max);
	done(root, &l);

	/* core: -1 is unlimited: fine when the hard core limit is, as usual. */
	assert_int_equal(getrlimit(RLIMIT_CORE, &rl), 0);
	bool core_unlimited = rl.rlim_max == RLIM_INFINITY;
	load(&l, core_unlimited ? "    ulimits: {nofile: {soft: 1024, hard: 4096}, core: -1}\n"
				: "    ulimits: {nofile: {soft: 1024, hard: 4096}, core: 0}\n");
	struct backend_replica_spec rs = { .deployment = "demo", .service = l.svc, .index = 0,
					   .image_config = NGINX_CONFIG };
	struct oci_bundle_input in = { .rs = &rs, .rootfs = rootfs, .volumes_dir = volumes, .anon_dir = anon };
	struct zl_err err = ZL_ERR_INIT;
	char *json;
	assert_int_equal(oci_bundle_config(&in, &json, &err), 0);
	/* Unlimited is RLIM_INFINITY written exactly, not as a rounded double. */
	if (core_unlimited)
		assert_non_null(strstr(json, "18446744073709551615"));
	root = cJSON_Parse(json);
	free(json);
	char *types = NULL;
	struct zl_buf b = { 0 };
	const cJSON *it;
	cJSON_ArrayForEach(it, at(root, "process.rlimits")) {
		zl_buf_printf(&b, "%s=%.0f/%.0f ", cJSON_GetObjectItem(it, "type")->valuestring,
			      cJSON_GetObjectItem(it, "soft")->valuedouble, cJSON_GetObjectItem(it, "hard")->valuedouble);
	}
	types = zl_buf_steal(&b);
	assert_non_null(strstr(types, "RLIMIT_NOFILE=1024/4096"));
	assert_non_null(strstr(types, "RLIMIT_CORE="));
	assert_null(strstr(types, "1048576")); /* the default gave way */
	free(types);
	done(root, &l);

	/* A hard limit above what the runtime could set fails here, by name,
	 * instead of as a bare EPERM at start. Only where raising is denied. */
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct rlimit up = { rl.rlim_max + 1, rl.rlim_max + 1 };
		_exit(rl.rlim_max != RLIM_INFINITY && setrlimit(RLIMIT_NOFILE, &up) < 0 ? 1 : 0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WEXITSTATUS(status) == 1) {
		char *yaml = zl_xasprintf("    ulimits: {nofile: %llu}\n", (unsigned long long)rl.rlim_max + 1);
		build_fails(yaml, NULL, "ulimits.nofile: hard limit");
		free(yaml);
	}
}

/* ---- mounts ---- */

static void test_standard_mounts(void **state)
{
	struct loaded l;
	cJSON *root = build_ok("", &(struct opts){ .resolv_conf = "/run/zl/resolv.conf",
						   .hosts_file = "/run/zl/hosts" }, &l);
	static const char *const dests[] = { "/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue",
					     "/sys", "/sys/fs/cgroup", "/etc/resolv.conf", "/etc/hosts" };
	const cJSON *mounts = at(root, "mounts");
	assert_int_equal(cJSON_GetArraySize(mounts), 9);
	for (size_t i = 0; i < 9; i++)
		assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(mounts, (int)i), "destination")->valuestring, dests[i]);
	char *pts = joined(cJSON_GetObjectItem(mount_at(root, "/dev/pts"), "options"));
	assert_string_equal(pts, "nosuid|noexec|newinstance|ptmxmode=0666|mode=0620|gid=5");
	free(pts);
	char *shm = joined(cJSON_GetObjectItem(mount_at(root, "/dev/shm"), "options"));
	assert_string_equal(shm, "nosuid|noexec|nodev|mode=1777|size=65536k");
	free(shm);
	assert_string_equal(cJSON_GetObjectItem(mount_at(root, "/etc/hosts"), "source")->valuestring, "/run/zl/hosts");
	done(root, &l);
}

static void test_storage_mounts(void **state)
{
	char *yaml = zl_xasprintf(
		"    storage:\n"
		"      - {type: tmpfs, target: /run/cache, size: 64Mi, mode: 1777}\n"
		"      - {type: named, name: pgdata, target: /var/lib/pg/data}\n"
		"      - {type: bind, source: \"%s\", target: /srv, readonly: true}\n"
		"      - {type: anonymous, target: /var/my_cache}\n"
		"      - {type: named, name: pgconf, target: /var, readonly: true}\n",
		bindsrc);
	struct loaded l;
	cJSON *root = build_ok(yaml, NULL, &l);
	free(yaml);

	const cJSON *bind = mount_at(root, "/srv");
	assert_string_equal(cJSON_GetObjectItem(bind, "type")->valuestring, "bind");
	assert_string_equal(cJSON_GetObjectItem(bind, "source")->valuestring, bindsrc);
	char *opts = joined(cJSON_GetObjectItem(bind, "options"));
	assert_string_equal(opts, "rbind|rprivate|ro");
	free(opts);

	char *named_dir = zl_xasprintf("%s/pgdata", volumes);
	struct stat st;
	assert_int_equal(stat(named_dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0755);
	assert_string_equal(cJSON_GetObjectItem(mount_at(root, "/var/lib/pg/data"), "source")->valuestring, named_dir);
	opts = joined(cJSON_GetObjectItem(mount_at(root, "/var/lib/pg/data"), "options"));
	assert_string_equal(opts, "rbind|rprivate");
	free(opts);
	free(named_dir);

	const char *anon_src = cJSON_GetObjectItem(mount_at(root, "/var/my_cache"), "source")->valuestring;
	assert_int_equal(strncmp(anon_src, anon, strlen(anon)), 0);
	assert_null(strchr(anon_src + strlen(anon) + 1, '/')); /* one directory directly below */
	assert_int_equal(stat(anon_src, &st), 0);
	assert_true(S_ISDIR(st.st_mode));

	const cJSON *tmpfs = mount_at(root, "/run/cache");
	assert_string_equal(cJSON_GetObjectItem(tmpfs, "type")->valuestring, "tmpfs");
	opts = joined(cJSON_GetObjectItem(tmpfs, "options"));
	assert_string_equal(opts, "nosuid|nodev|size=65536k|mode=01777");
	free(opts);

	/* parents before children: /var before /var/lib/pg/data and /var/my_cache */
	int var = -1, child = -1, i = 0;
	const cJSON *m;
	cJSON_ArrayForEach(m, at(root, "mounts")) {
		const char *d = cJSON_GetObjectItem(m, "destination")->valuestring;
		if (!strcmp(d, "/var"))
			var = i;
		if (!strcmp(d, "/var/lib/pg/data"))
			child = i;
		i++;
	}
	assert_true(var >= 0 && child > var);
	done(root, &l);

	/* Distinct targets get distinct anonymous directories. */
	root = build_ok("    storage:\n      - {type: anonymous, target: /a/b}\n      - {type: anonymous, target: /a_b}\n",
			NULL, &l);
	assert_string_not_equal(cJSON_GetObjectItem(mount_at(root, "/a/b"), "source")->valuestring,
				cJSON_GetObjectItem(mount_at(root, "/a_b"), "source")->valuestring);
	done(root, &l);

	build_fails("    storage:\n      - {type: bind, source: /nonexistent/zl-src, target: /x}\n", NULL,
		    "storage[0]: bind source /nonexistent/zl-src does not exist");
	refused("    storage:\n      - {type: s3, bucket: b, target: /x}\n", "storage type s3 is not supported");
	/* The parser rejects these too; the builder must not rely on it, as
	 * both end up in host paths. */
	static const struct { const char *yaml, *name, *target, *want; } escapes[] = {
		{ "    storage:\n      - {type: named, name: ok, target: /x}\n", "../../etc", NULL,
		  "storage[0].name: expected a volume name" },
		{ "    storage:\n      - {type: anonymous, target: /x}\n", NULL, "/x/../..",
		  "storage[0].target: expected an absolute path without . or .. components" },
		{ "    storage:\n      - {type: anonymous, target: /x}\n", NULL, "x",
		  "storage[0].target: expected an absolute path" },
	};
	for (size_t k = 0; k < sizeof(escapes) / sizeof(escapes[0]); k++) {
		load(&l, escapes[k].yaml);
		struct spec_storage *sto = &l.svc->storage[0];
		if (escapes[k].name) {
			free(sto->name);
			sto->name = zl_xstrdup(escapes[k].name);
		} else {
			free(sto->target);
			sto->target = zl_xstrdup(escapes[k].target);
		}
		struct zl_err err = ZL_ERR_INIT;
		assert_null(build(l.svc, NULL, &err));
		if (!strstr(err.msg, escapes[k].want))
			fail_msg("message \"%s\" lacks \"%s\"", err.msg, escapes[k].want);
		spec_set_free(&l.set);
	}
}

/* ---- namespaces and hostname ---- */

static void test_namespaces(void **state)
{
	static const struct {
		const char *yaml, *netns;
		bool has_net;
		const char *net_path; /* expected path, NULL none */
	} cases[] = {
		{ "", NULL, true, NULL },
		{ "", "/run/netns/zl-demo-web-2", true, "/run/netns/zl-demo-web-2" },
		{ "    network_mode: bridge\n", "/run/netns/x", true, "/run/netns/x" },
		{ "    network_mode: host\n", "/run/netns/x", false, NULL },
		{ "    host_network: true\n", NULL, false, NULL },
		{ "    network_mode: none\n", "/run/netns/x", true, NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct loaded l;
		cJSON *root = build_ok(cases[i].yaml, &(struct opts){ .netns_path = cases[i].netns }, &l);
		for (const char *const *t = SV("pid", "ipc", "uts", "mount", "cgroup"); *t; t++)
			if (!namespace_of(root, *t))
				fail_msg("case %zu: no %s namespace", i, *t);
		const cJSON *net = namespace_of(root, "network");
		if (!cases[i].has_net) {
			assert_null(net);
		} else {
			assert_non_null(net);
			const cJSON *path = cJSON_GetObjectItem(net, "path");
			if (cases[i].net_path)
				assert_string_equal(path->valuestring, cases[i].net_path);
			else
				assert_null(path);
		}
		done(root, &l);
	}
	struct loaded l;
	cJSON *root = build_ok("    pid_mode: host\n    ipc_mode: host\n", NULL, &l);
	assert_null(namespace_of(root, "pid"));
	assert_null(namespace_of(root, "ipc"));
	done(root, &l);
	build_fails("    network_mode: \"container:db\"\n", NULL, "network_mode: container:db needs");
}

static void test_hostname_cwd_labels(void **state)
{
	struct loaded l;
	cJSON *root = build_ok("    labels: {team: core}\n    sysctls: {net.ipv4.ip_forward: \"1\"}\n", NULL, &l);
	assert_string_equal(at(root, "hostname")->valuestring, "web-rep-2");
	assert_true(has_string(at(root, "process.env"), "HOSTNAME=web-rep-2"));
	assert_string_equal(at(root, "process.cwd")->valuestring, "/srv"); /* image WorkingDir */
	assert_string_equal(at(root, "annotations.team")->valuestring, "core");
	assert_string_equal(cJSON_GetObjectItem(at(root, "linux.sysctl"), "net.ipv4.ip_forward")->valuestring, "1");
	assert_true(cJSON_IsFalse(at(root, "process.terminal")));
	done(root, &l);

	root = build_ok("    hostname: api\n    tty: true\n    command: {workdir: /work}\n", NULL, &l);
	assert_string_equal(at(root, "hostname")->valuestring, "api");
	assert_string_equal(at(root, "process.cwd")->valuestring, "/work");
	assert_true(cJSON_IsTrue(at(root, "process.terminal")));
	assert_true(has_string(at(root, "process.env"), "TERM=xterm"));
	done(root, &l);

	root = build_ok("", &(struct opts){ .image_config = "{\"config\":{\"Cmd\":[\"x\"]}}" }, &l);
	assert_string_equal(at(root, "process.cwd")->valuestring, "/");
	done(root, &l);
}

static void test_devices(void **state)
{
	struct loaded l;
	cJSON *root = build_ok("    devices:\n      - {path: /dev/null, write: false, mknod: false}\n", NULL, &l);
	const cJSON *node = cJSON_GetArrayItem(at(root, "linux.devices"), 0);
	assert_string_equal(cJSON_GetObjectItem(node, "path")->valuestring, "/dev/null");
	assert_string_equal(cJSON_GetObjectItem(node, "type")->valuestring, "c");
	assert_int_equal((int)cJSON_GetObjectItem(node, "major")->valuedouble, 1);
	assert_int_equal((int)cJSON_GetObjectItem(node, "minor")->valuedouble, 3);
	const cJSON *rules = at(root, "linux.resources.devices");
	const cJSON *last = cJSON_GetArrayItem(rules, cJSON_GetArraySize(rules) - 1);
	assert_string_equal(cJSON_GetObjectItem(last, "access")->valuestring, "r");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(last, "allow")));
	done(root, &l);
	build_fails("    devices:\n      - {path: /dev/zl-no-such-device}\n", NULL,
		    "devices[0]: device /dev/zl-no-such-device: No such file or directory");
}

/* The whole document: what a runtime needs first. */
static void test_config_document(void **state)
{
	struct loaded l;
	cJSON *root = build_ok("    command: {args: [nginx, -T]}\n    env: {MODE: prod}\n", NULL, &l);
	assert_string_equal(at(root, "ociVersion")->valuestring, "1.0.2");
	assert_string_equal(at(root, "root.path")->valuestring, rootfs);
	char *args = joined(at(root, "process.args"));
	assert_string_equal(args, "/docker-entrypoint.sh|nginx|-T");
	free(args);
	assert_true(has_string(at(root, "process.env"), "MODE=prod"));
	assert_true(has_string(at(root, "process.env"), "NGINX_VERSION=1.25"));
	assert_int_equal((int)num_at(root, "process.user.uid"), 0);
	done(root, &l);
	/* An image without any command and a spec without one. */
	build_fails("", &(struct opts){ .image_config = "{\"config\":{}}" },
		    "no command: the image has no ENTRYPOINT/CMD and the spec gives none");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_argv),
		cmocka_unit_test(test_env),
		cmocka_unit_test(test_user),
		cmocka_unit_test(test_user_symlink_stays_in_rootfs),
		cmocka_unit_test(test_user_in_config),
		cmocka_unit_test(test_capabilities),
		cmocka_unit_test(test_capabilities_beyond_host),
		cmocka_unit_test(test_security_defaults),
		cmocka_unit_test(test_seccomp),
		cmocka_unit_test(test_resources),
		cmocka_unit_test(test_rlimits),
		cmocka_unit_test(test_standard_mounts),
		cmocka_unit_test(test_storage_mounts),
		cmocka_unit_test(test_namespaces),
		cmocka_unit_test(test_hostname_cwd_labels),
		cmocka_unit_test(test_devices),
		cmocka_unit_test(test_config_document),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
