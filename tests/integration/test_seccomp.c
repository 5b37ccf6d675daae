/* test_seccomp.c: the seccomp filter of real containers (runc, under the
 * real zlapply binary). A small static program, zlsc, compiled at test time
 * with gcc -static and bound into each replica at /probe, makes one system
 * call and says how it went ("keyctl: errno 1 (Operation not permitted)",
 * exiting with the errno), so each test sees what a program in the replica
 * sees:
 *   - Docker's default profile: keyctl (also from the replica's own
 *     process, before any exec), personality with a persona the profile does
 *     not list, socket(AF_VSOCK) and unshare fail with EPERM; clone3 with
 *     ENOSYS; an ordinary socket and mkdir work; /proc/1/status says
 *     "Seccomp: 2"; mseal, newer than Debian 12's libseccomp, gets the
 *     kernel's answer or ENOSYS (libc's cue to fall back), never EPERM. A replica
 *     given CAP_SYS_ADMIN may unshare and clone3.
 *   - seccomp=unconfined and privileged: no filter ("Seccomp: 0") and the
 *     same calls go through.
 *   - seccomp=PATH: a profile that refuses mkdir makes `mkdir` fail with
 *     EPERM and leaves the rest alone; a malformed profile fails the
 *     replica's create with the file and the field named.
 *
 * Safety: the replicas of the first test sit on this run's bridge
 * "zls<pid%1000>" with the subnet 10.217.<pid%250>.0/24 (outside zlapply's
 * default 10.213.0.0/16 and the 10.214-10.216 subnets of the other tests);
 * the others use network_mode none. Each test has its own state root and
 * deployment and deletes it in its teardown, also after a failure; the
 * group teardown removes the bridge and the rules naming it and restores
 * ip_forward.
 *
 * Needs root, runc, umoci, gcc with a static libc and /bin/busybox (exit
 * 77, "skipped", otherwise). ZL_TEST_FILTER=glob runs only some tests. */
#include "oci-helpers.h"

#define WAIT_MS 30000

static struct {
	char dir[PATH_MAX];    /* /tmp/zlsec-XXXXXX: image, probe, profiles */
	char image[PATH_MAX];  /* dir/img: the example image (OCI layout) */
	char probe[PATH_MAX];  /* dir/bin: zlsc, bound at /probe */
	char bridge[16];
	char subnet[NET_CIDR_STRLEN];
	char subnet_prefix[NET_CIDR_STRLEN]; /* "10.217.N." */
	char ip_forward[8];
	bool net_ready;
	int seq;
} g;

struct tcase {
	struct cli_tmp t;
	char dep[64]; /* sc<pid>-<seq> */
};

/* The probe: one system call named by argv[1]. */
static const char probe_source[] =
	"#define _GNU_SOURCE\n"
	"#include <errno.h>\n"
	"#include <sched.h>\n"
	"#include <signal.h>\n"
	"#include <stdio.h>\n"
	"#include <string.h>\n"
	"#include <sys/personality.h>\n"
	"#include <sys/socket.h>\n"
	"#include <sys/syscall.h>\n"
	"#include <sys/wait.h>\n"
	"#include <unistd.h>\n"
	"#include <linux/sched.h>\n"
	"int main(int argc, char **argv)\n"
	"{\n"
	"	const char *what = argc > 1 ? argv[1] : \"\";\n"
	"	long r;\n"
	"	if (!strcmp(what, \"personality\")) /* a persona Docker's profile does not list */\n"
	"		r = personality(ADDR_NO_RANDOMIZE);\n"
	"	else if (!strcmp(what, \"keyctl\")) /* KEYCTL_GET_KEYRING_ID of the session keyring */\n"
	"		r = syscall(SYS_keyctl, 0, -3, 0);\n"
	"	else if (!strcmp(what, \"vsock\"))\n"
	"		r = socket(40 /* AF_VSOCK */, SOCK_STREAM, 0);\n"
	"	else if (!strcmp(what, \"inet\"))\n"
	"		r = socket(AF_INET, SOCK_STREAM, 0);\n"
	"	else if (!strcmp(what, \"mseal\")) /* Linux 6.10; libseccomp 2.6 */\n"
	"		r = syscall(462 /* x86-64 */, 0, 0, 0);\n"
	"	else if (!strcmp(what, \"unshare\"))\n"
	"		r = unshare(CLONE_NEWUTS);\n"
	"	else if (!strcmp(what, \"clone3\")) {\n"
	"		struct clone_args a = { .exit_signal = SIGCHLD };\n"
	"		r = syscall(SYS_clone3, &a, sizeof(a));\n"
	"		if (r == 0)\n"
	"			_exit(0);\n"
	"		if (r > 0)\n"
	"			waitpid((pid_t)r, NULL, 0);\n"
	"	} else {\n"
	"		fprintf(stderr, \"zlsc: unknown call %s\\n\", what);\n"
	"		return 126;\n"
	"	}\n"
	"	if (r >= 0) {\n"
	"		printf(\"%s: ok\\n\", what);\n"
	"		return 0;\n"
	"	}\n"
	"	int e = errno;\n"
	"	printf(\"%s: errno %d (%s)\\n\", what, e, strerror(e));\n"
	"	return e > 125 ? 125 : e;\n"
	"}\n";

/* ---- running zlapply ---- */

static int run_zl(const struct tcase *c, bool net_flags, char **out, char **err,
		  const char *const *args)
{
	struct oci_test_flags f = { .root = c->t.root, .bridge = net_flags ? g.bridge : NULL,
				    .subnet = g.subnet };
	return oci_test_run(OCI_FLAGS_FIRST, &f, NULL, args, out, err);
}
#define ZL(c, out, err, ...) run_zl((c), true, (out), (err), (const char *const[]){ __VA_ARGS__, NULL })
#define ZLQ(c, out, err, ...) run_zl((c), false, (out), (err), (const char *const[]){ __VA_ARGS__, NULL })

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	char *s = NULL;
	if (vasprintf(&s, f, ap) < 0)
		abort();
	va_end(ap);
	return s;
}

/* A service of the example image with the probe at /probe; extra is more
 * of its keys (4-space indented). Its command records what `boot` (a
 * probe argument, or NULL) says at start, then waits for SIGTERM. */
static char *service(const char *name, const char *boot, const char *extra)
{
	char *first = boot ? fmt("/probe/zlsc %s > /tmp/boot.txt; ", boot) : fmt("%s", "");
	char *s = fmt("  %s:\n"
		      "    image: {name: \"oci:%s:1.0\", pull_policy: if_not_present}\n"
		      "    command: [\"/bin/sh\", \"-c\", \"%strap 'exit 0' TERM; while true; do sleep 0.2; done\"]\n"
		      "    stop_grace_period: 5s\n"
		      "    storage:\n"
		      "      - {type: bind, source: %s, target: /probe, readonly: true}\n"
		      "%s",
		      name, g.image, first, g.probe, extra ? extra : "");
	free(first);
	return s;
}

/* Writes services (freed here) as this test's spec and applies it; returns
 * apply's exit code, *out its stdout and stderr. */
static int apply(struct tcase *c, char *services, char **out)
{
	char *text = fmt("version: v1\ndeployment: %s\nservices:\n%s", c->dep, services);
	char path[PATH_MAX];
	cli_write_file(cli_path(&c->t, "spec.yaml", path), text);
	free(text);
	free(services);
	char *o = NULL, *e = NULL;
	int code = ZL(c, &o, &e, "apply", "-f", path);
	*out = fmt("%s%s", o, e);
	free(o);
	free(e);
	return code;
}

static void apply_ok(struct tcase *c, char *services)
{
	char *out = NULL;
	int code = apply(c, services, &out);
	if (code != 0)
		fail_msg("apply: exit %d:\n%s", code, out);
	free(out);
}

static cJSON *status_of(const void *ctx)
{
	const struct tcase *c = ctx;
	return oci_test_status_json(OCI_FLAGS_FIRST, &(struct oci_test_flags){ .root = c->t.root },
				    c->dep);
}

static struct oci_test_replica wait_running(struct tcase *c, const char *service_name)
{
	return oci_test_wait_state(status_of, c, c->dep, service_name, 1, "running", true, WAIT_MS,
				   100);
}

/* `zlapply exec NAME-rep-1 -- /bin/sh -c cmd`: its exit code, *out what it
 * printed (stdout and stderr). */
static int exec_in(struct tcase *c, const char *service_name, const char *cmd, char **out)
{
	char rep[128];
	snprintf(rep, sizeof(rep), "%s-rep-1", service_name);
	char *o = NULL, *e = NULL;
	int code = ZLQ(c, &o, &e, "exec", rep, "-d", c->dep, "--", "/bin/sh", "-c", cmd);
	*out = fmt("%s%s", o, e);
	free(o);
	free(e);
	return code;
}

/* The probe's call in service_name: exits want_code and prints want. */
static void expect_call(struct tcase *c, const char *service_name, const char *call, int want_code,
			const char *want)
{
	char *cmd = fmt("/probe/zlsc %s", call), *out = NULL;
	int code = exec_in(c, service_name, cmd, &out);
	if (code != want_code || !strstr(out, want))
		fail_msg("%s: zlsc %s: exit %d, \"%s\"; want exit %d and \"%s\"", service_name, call,
			 code, out, want_code, want);
	print_message("%s: %s", service_name, out);
	free(out);
	free(cmd);
}

/* "Seccomp:\t<mode>" of the replica's first process (2: a filter). */
static void expect_seccomp_mode(struct tcase *c, const char *service_name, int mode)
{
	char *out = NULL, want[32];
	int code = exec_in(c, service_name, "grep '^Seccomp:' /proc/1/status", &out);
	snprintf(want, sizeof(want), "Seccomp:\t%d\n", mode);
	if (code != 0 || strcmp(out, want))
		fail_msg("%s: /proc/1/status says \"%s\" (exit %d), want \"%s\"", service_name, out,
			 code, want);
	free(out);
}

/* ---- fixtures ---- */

static int group_setup(void **state)
{
	(void)state;
	int pid = (int)getpid();
	snprintf(g.bridge, sizeof(g.bridge), "zls%d", pid % 1000);
	snprintf(g.subnet, sizeof(g.subnet), "10.217.%d.0/24", pid % 250);
	snprintf(g.subnet_prefix, sizeof(g.subnet_prefix), "10.217.%d.", pid % 250);
	oci_test_ip_forward_save(g.ip_forward, sizeof(g.ip_forward));
	g.net_ready = true;
	snprintf(g.dir, sizeof(g.dir), "/tmp/zlsec-XXXXXX");
	if (!mkdtemp(g.dir))
		return -1;
	cli_pathf(g.image, "%s/img", g.dir);
	cli_pathf(g.probe, "%s/bin", g.dir);
	if (oci_test_build_example_image(g.image) < 0 || mkdir(g.probe, 0755) < 0)
		return -1;
	char src[PATH_MAX];
	cli_write_file(cli_pathf(src, "%s/zlsc.c", g.dir), probe_source);
	if (oci_test_sh_quiet("gcc -static -O2 -o '%s/zlsc' '%s'", g.probe, src) != 0) {
		fprintf(stderr, "gcc -static could not build the probe (libc6-dev missing?)\n");
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (g.net_ready) {
		oci_test_bridge_rules_delete(g.bridge, g.subnet);
		for (int t = 0; t < 2; t++) {
			const char *table = t ? "filter" : "nat";
			char cmd[256];
			snprintf(cmd, sizeof(cmd),
				 "iptables -w -t %s -S 2>/dev/null | grep -F -e ' %s ' -e ' %s' || true",
				 table, g.bridge, g.subnet_prefix);
			FILE *p = popen(cmd, "r");
			char line[1024];
			while (p && fgets(line, sizeof(line), p)) {
				line[strcspn(line, "\n")] = '\0';
				if (strncmp(line, "-A ", 3) == 0) {
					fprintf(stderr, "cleanup: iptables -t %s %s\n", table, line);
					oci_test_sh_quiet("iptables -w -t %s -D %s", table, line + 3);
				}
			}
			if (p)
				pclose(p);
		}
		oci_test_bridge_delete(g.bridge);
		oci_test_ip_forward_restore(g.ip_forward);
	}
	if (g.dir[0] && !getenv("ZL_KEEP_TMP"))
		cli_rm_rf(g.dir);
	return 0;
}

static int case_setup(void **state)
{
	struct tcase *c = calloc(1, sizeof(*c));
	if (!c || oci_test_case_open(&c->t, "/tmp/zlsec-case-XXXXXX", c->dep, sizeof(c->dep), "sc",
				     ++g.seq) < 0) {
		free(c);
		return -1;
	}
	*state = c;
	return 0;
}

static int case_teardown(void **state)
{
	struct tcase *c = *state;
	oci_test_delete_and_fix(OCI_FLAGS_FIRST,
				&(struct oci_test_flags){ .root = c->t.root, .bridge = g.bridge,
							  .subnet = g.subnet },
				c->dep);
	/* Containers of ours runc still knows (a failed delete). */
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "runc list -q 2>/dev/null | grep '^zl-%s-' || true", c->dep);
	FILE *p = popen(cmd, "r");
	char id[256];
	while (p && fgets(id, sizeof(id), p)) {
		id[strcspn(id, "\n")] = '\0';
		fprintf(stderr, "cleanup: runc delete --force %s\n", id);
		oci_test_sh_quiet("runc delete --force '%s'", id);
	}
	if (p)
		pclose(p);
	oci_test_unmount_left(c->t.dir);
	if (getenv("ZL_KEEP_TMP"))
		fprintf(stderr, "kept %s\n", c->t.dir);
	else
		cli_tmp_remove(&c->t);
	free(c);
	return 0;
}

/* ---- the tests ---- */

/* Docker's default profile, on the test bridge; CAP_SYS_ADMIN unlocks its group. */
static void test_default_profile(void **state)
{
	struct tcase *c = *state;
	char *dflt = service("dflt", "keyctl", NULL);
	char *admin = service("admin", NULL, "    capabilities: [SYS_ADMIN]\n");
	apply_ok(c, fmt("%s%s", dflt, admin));
	free(dflt);
	free(admin);
	cJSON *doc = status_of(c);
	cJSON *rep = cli_json_replica(doc, c->dep, "dflt", 1);
	const char *ip = rep ? cli_json_str(rep, "ip") : NULL;
	if (!ip || strncmp(ip, g.subnet_prefix, strlen(g.subnet_prefix)))
		fail_msg("dflt-rep-1 has no address in %s: %s", g.subnet, ip ? ip : "(none)");
	cJSON_Delete(doc);
	wait_running(c, "dflt");
	wait_running(c, "admin");

	/* The replica's own process ran under the filter from its start. */
	char *out = NULL;
	int code = exec_in(c, "dflt", "cat /tmp/boot.txt", &out);
	if (code != 0 || strcmp(out, "keyctl: errno 1 (Operation not permitted)\n"))
		fail_msg("dflt-rep-1 at boot: exit %d: \"%s\"", code, out);
	free(out);
	expect_seccomp_mode(c, "dflt", 2);

	/* Blocked by the profile, not by capabilities: EPERM; clone3: ENOSYS. */
	expect_call(c, "dflt", "keyctl", 1, "keyctl: errno 1 (Operation not permitted)");
	expect_call(c, "dflt", "personality", 1, "personality: errno 1 (Operation not permitted)");
	expect_call(c, "dflt", "vsock", 1, "vsock: errno 1 (Operation not permitted)");
	expect_call(c, "dflt", "unshare", 1, "unshare: errno 1 (Operation not permitted)");
	expect_call(c, "dflt", "clone3", 38, "clone3: errno 38 (Function not implemented)");
	/* What programs do every day still works. */
	expect_call(c, "dflt", "inet", 0, "inet: ok");
#if defined(__x86_64__)
	/* A call the profile allows but the runtime's libseccomp may not know
	 * (Debian 12's 2.5.4 does not): the kernel's answer, or ENOSYS from
	 * runc, libc's cue to fall back; never EPERM. */
	code = exec_in(c, "dflt", "/probe/zlsc mseal", &out);
	if (code == 1 || strstr(out, "Operation not permitted"))
		fail_msg("mseal under the default profile: exit %d: \"%s\"", code, out);
	print_message("dflt: %s", out);
	free(out);
#endif
	code = exec_in(c, "dflt", "busybox mkdir /tmp/d && busybox rmdir /tmp/d && echo fine", &out);
	if (code != 0 || strcmp(out, "fine\n"))
		fail_msg("mkdir under the default profile: exit %d: \"%s\"", code, out);
	free(out);

	/* cap_add SYS_ADMIN: unshare and clone3 are allowed; keyctl still is not. */
	expect_seccomp_mode(c, "admin", 2);
	expect_call(c, "admin", "unshare", 0, "unshare: ok");
	expect_call(c, "admin", "clone3", 0, "clone3: ok");
	expect_call(c, "admin", "keyctl", 1, "keyctl: errno 1 (Operation not permitted)");
}

/* seccomp=unconfined and privileged: no filter. */
static void test_unconfined_and_privileged(void **state)
{
	struct tcase *c = *state;
	char *unc = service("unc", "keyctl", "    network_mode: none\n    security_opt: [\"seccomp=unconfined\"]\n");
	char *priv = service("priv", NULL, "    network_mode: none\n    privileged: true\n");
	apply_ok(c, fmt("%s%s", unc, priv));
	free(unc);
	free(priv);
	wait_running(c, "unc");
	wait_running(c, "priv");
	for (int i = 0; i < 2; i++) {
		const char *s = i ? "priv" : "unc";
		expect_seccomp_mode(c, s, 0);
		expect_call(c, s, "personality", 0, "personality: ok");
		expect_call(c, s, "clone3", 0, "clone3: ok");
		/* No EPERM from a filter; the kernel may still say why not. */
		char *out = NULL;
		int code = exec_in(c, s, "/probe/zlsc keyctl; /probe/zlsc vsock", &out);
		if (strstr(out, "Operation not permitted"))
			fail_msg("%s: exit %d: %s", s, code, out);
		print_message("%s: %s", s, out);
		free(out);
	}
	char *out = NULL;
	int code = exec_in(c, "unc", "cat /tmp/boot.txt", &out);
	if (code != 0 || strstr(out, "Operation not permitted") || !strstr(out, "keyctl: "))
		fail_msg("unc-rep-1 at boot: exit %d: \"%s\"", code, out);
	free(out);
}

/* seccomp=PATH: the profile's rules; a malformed one fails the create. */
static void test_custom_profile(void **state)
{
	struct tcase *c = *state;
	char good[PATH_MAX], bad[PATH_MAX];
	cli_write_file(cli_path(&c->t, "no-mkdir.json", good),
		       "{\n"
		       "  \"defaultAction\": \"SCMP_ACT_ALLOW\",\n"
		       "  \"syscalls\": [\n"
		       "    {\"names\": [\"mkdir\", \"mkdirat\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 1}\n"
		       "  ]\n"
		       "}\n");
	char *extra = fmt("    network_mode: none\n    security_opt: [\"seccomp=%s\"]\n", good);
	char *cust = service("cust", NULL, extra);
	free(extra);
	apply_ok(c, cust);
	wait_running(c, "cust");
	expect_seccomp_mode(c, "cust", 2);
	char *out = NULL;
	int code = exec_in(c, "cust", "busybox mkdir /tmp/x", &out);
	if (code == 0 || !strstr(out, "mkdir: can't create directory '/tmp/x': Operation not permitted"))
		fail_msg("mkdir under the custom profile: exit %d: \"%s\"", code, out);
	free(out);
	code = exec_in(c, "cust", "busybox touch /tmp/y && ls /tmp/y", &out);
	if (code != 0 || strcmp(out, "/tmp/y\n"))
		fail_msg("touch under the custom profile: exit %d: \"%s\"", code, out);
	free(out);
	/* Its default is SCMP_ACT_ALLOW: what Docker's profile refuses goes through. */
	expect_call(c, "cust", "personality", 0, "personality: ok");
	expect_call(c, "cust", "clone3", 0, "clone3: ok");

	/* A profile with a mistake: the replica fails, naming the file and the field. */
	cli_write_file(cli_path(&c->t, "bad.json", bad),
		       "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [\n"
		       "  {\"names\": [\"mkdir\"], \"action\": \"SCMP_ACT_ERRNO\",\n"
		       "   \"args\": [{\"index\": 0, \"value\": 1, \"op\": \"SCMP_CMP_EQUAL\"}]}]}\n");
	extra = fmt("    network_mode: none\n    security_opt: [\"seccomp=%s\"]\n", bad);
	char *broken = service("broken", NULL, extra);
	free(extra);
	extra = fmt("    network_mode: none\n    security_opt: [\"seccomp=%s\"]\n", good);
	char *cust_again = service("cust", NULL, extra);
	free(extra);
	code = apply(c, fmt("%s%s", cust_again, broken), &out);
	free(cust_again);
	free(broken);
	char *want = fmt("security_opt: seccomp profile %s: syscalls[0].args[0].op: unknown operator \"SCMP_CMP_EQUAL\"", bad);
	if (code == 0 || !strstr(out, "create broken-rep-1") || !strstr(out, want) ||
	    strstr(out, "cust-rep-1"))
		fail_msg("apply with a malformed profile: exit %d:\n%s\n(want \"%s\", and cust-rep-1 untouched)",
			 code, out, want);
	free(out);
	cJSON *doc = status_of(c);
	struct oci_test_replica r = oci_test_replica_of(doc, c->dep, "broken", 1);
	cJSON_Delete(doc);
	if (!strstr(r.error, want))
		fail_msg("broken-rep-1's error: %s", r.json);
	free(want);
	/* The good one was not touched. */
	wait_running(c, "cust");
}

int main(void)
{
	if (geteuid() != 0 || !oci_test_have("runc") || !oci_test_have("umoci") ||
	    !oci_test_have("gcc") || access("/bin/busybox", X_OK) != 0) {
		fprintf(stderr, "test_seccomp: needs root, runc, umoci, gcc and /bin/busybox; skipped\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_default_profile, case_setup, case_teardown),
		cmocka_unit_test_setup_teardown(test_unconfined_and_privileged, case_setup, case_teardown),
		cmocka_unit_test_setup_teardown(test_custom_profile, case_setup, case_teardown),
	};
	const char *filter = getenv("ZL_TEST_FILTER");
	if (filter && *filter)
		cmocka_set_test_filter(filter);
	int64_t t0 = cli_mono_ms();
	int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
	fprintf(stderr, "test_seccomp: %lld ms\n", (long long)(cli_mono_ms() - t0));
	return rc;
}
