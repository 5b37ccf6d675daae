/* test_names.c: service names end to end (docs/networking.md, "Service
 * names") with the oci backend and real containers: Debian's nginx (glibc,
 * its workers run as www-data; tests/infra/build-debian-images.sh, cached)
 * and the busybox example image (scripts/build-example-image), both read as
 * OCI layouts on disk. Names are looked up inside replicas through the libc
 * (`getent ahostsv4` in nginx, busybox's nc):
 *   - `web`, `web.<dep>`, `web-rep-<n>` resolve to web's replicas; a scale
 *     up and down is seen by a replica that keeps running (same pid);
 *   - a replica failing its health check leaves the service name (and
 *     comes back once healthy), the resolving replica untouched;
 *   - `<service>.<other deployment>` resolves for a service with an
 *     endpoint, not for one without, and follows that deployment's scale
 *     and delete;
 *   - a recreated replica (same address, new interface) answers TCP from
 *     the host at once: its MAC comes with its address, so the host's
 *     neighbour entry is never stale.
 *
 * Safety: the replicas sit on this run's bridge "zln<pid%1000>" with the
 * subnet 10.218.<pid%250>.0/24 (outside zlapply's default 10.213.0.0/16);
 * traffic goes only to addresses of that subnet. Each test has its own
 * state root and deletes its deployments in its teardown, also after a
 * failure; the group teardown removes the bridge and the rules naming it
 * and restores ip_forward.
 *
 * Needs root, runc, umoci and debootstrap (exit 77, "skipped", otherwise).
 * ZL_TEST_FILTER=glob runs only some tests. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "oci-helpers.h"
#include "../infra/registry-fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define WAIT_MS 30000

static struct {
	char bridge[16];
	char subnet[NET_CIDR_STRLEN];
	struct net_subnet net;
	char ip_forward[8];
	char dir[PATH_MAX];    /* /tmp/zlnames-img-XXXXXX: the example image */
	char busybox[PATH_MAX + 32]; /* oci:DIR:1.0 */
	char nginx[PATH_MAX + 32];   /* oci:CACHE/nginx:1.0 */
	bool net_ready;
	int seq;
} g;

struct tcase {
	struct cli_tmp t;
	char dep[64];   /* the test's deployment */
	char other[72]; /* a second one (across deployments): "<dep>-b" */
};

/* ---- running zlapply ---- */

/* --root ROOT --backend oci after the verb; the test bridge for the verbs
 * that take it (exec and status refuse it). */
static int run_zl(const struct tcase *c, char **out, char **err, const char *const *args)
{
	bool net = strcmp(args[0], "apply") == 0 || strcmp(args[0], "delete") == 0 ||
		   strcmp(args[0], "doctor") == 0;
	struct oci_test_flags f = { .root = c->t.root, .bridge = net ? g.bridge : NULL,
				    .subnet = g.subnet };
	return oci_test_run(OCI_FLAGS_AFTER_VERB, &f, NULL, args, out, err);
}
#define ZL(c, out, err, ...) run_zl((c), (out), (err), (const char *const[]){ __VA_ARGS__, NULL })

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

/* Writes deployment's spec (services: YAML under `services:`) and applies
 * it; fails the test unless the exit is want. */
static void apply(struct tcase *c, const char *deployment, const char *services, int want)
{
	char path[PATH_MAX];
	char *name = fmt("%s.yaml", deployment);
	char *text = fmt("version: v1\ndeployment: %s\nservices:\n%s", deployment, services);
	cli_write_file(cli_path(&c->t, name, path), text);
	char *out = NULL, *err = NULL;
	int code = ZL(c, &out, &err, "apply", "-f", path);
	if (code != want)
		fail_msg("apply %s: expected exit %d, got %d\n--- spec:\n%s\n--- stdout:\n%s--- stderr:\n%s",
			 deployment, want, code, text, out, err);
	free(out);
	free(err);
	free(text);
	free(name);
}

/* nginx with an http endpoint (it publishes nothing on the host: the
 * names are what is tested). */
static char *web_service(const char *name, int replicas, const char *extra)
{
	return fmt("  %s:\n"
		   "    image: { name: \"%s\" }\n"
		   "    endpoints:\n"
		   "      - { name: http, protocol: http, port: 80, expose: internal }\n"
		   "%s"
		   "    scale: { mode: fixed, replicas: %d }\n",
		   name, g.nginx, extra ? extra : "", replicas);
}

/* A replica that only resolves (nginx: glibc and getent). */
static char *peer_service(const char *name, const char *image)
{
	return fmt("  %s:\n"
		   "    image: { name: \"%s\" }\n"
		   "    scale: { mode: fixed, replicas: 1 }\n",
		   name, image);
}

/* Runs argv in deployment's replica; its exit code, stdout into *out and
 * stderr into *err (caller frees both). */
static int exec_in(struct tcase *c, const char *deployment, const char *replica_name, char **out,
		   char **err, const char *const *argv)
{
	const char *args[16] = { "exec", replica_name, "-d", deployment, "--" };
	size_t n = 5;
	for (size_t i = 0; argv[i] && n < 15; i++)
		args[n++] = argv[i];
	return run_zl(c, out, err, args);
}
#define EXEC(c, dep, rep, out, err, ...) \
	exec_in((c), (dep), (rep), (out), (err), (const char *const[]){ __VA_ARGS__, NULL })

/* Fails the test unless argv exits 0 in the replica. */
#define EXEC_OK(c, dep, rep, ...)                                              \
	do {                                                                   \
		char *o_ = NULL, *e_ = NULL;                                   \
		assert_exit(EXEC((c), (dep), (rep), &o_, &e_, __VA_ARGS__), 0, o_, e_); \
		free(o_);                                                      \
		free(e_);                                                      \
	} while (0)

/* busybox's nc in box-rep-1 (static glibc: the same hosts file) gets
 * nginx's answer from name. */
static void assert_busybox_reaches(struct tcase *c, const char *name)
{
	char *cmd = fmt("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 %s 80", name);
	char *out = NULL, *err = NULL;
	int code = EXEC(c, c->dep, "box-rep-1", &out, &err, "sh", "-c", cmd);
	assert_exit(code, 0, out, err);
	assert_contains(out, "HTTP/1.1 200");
	free(out);
	free(err);
	free(cmd);
}

/* ---- replicas ---- */

static struct oci_test_replica replica(struct tcase *c, const char *deployment, const char *service,
				       int index)
{
	cJSON *doc = oci_test_status_json(OCI_FLAGS_AFTER_VERB,
					  &(struct oci_test_flags){ .root = c->t.root }, deployment);
	struct oci_test_replica r = oci_test_replica_of(doc, deployment, service, index);
	cJSON_Delete(doc);
	if (!r.found)
		fail_msg("%s/%s-rep-%d is not in status", deployment, service, index);
	return r;
}

/* The replica's address as status shows it, into ip. */
static void replica_ip(struct tcase *c, const char *deployment, const char *service, int index,
		       char ip[NET_IPV4_STRLEN])
{
	cJSON *doc = oci_test_status_json(OCI_FLAGS_AFTER_VERB,
					  &(struct oci_test_flags){ .root = c->t.root }, deployment);
	cJSON *o = cli_json_replica(doc, deployment, service, index);
	const char *v = o ? cli_json_str(o, "ip") : NULL;
	if (!v || !*v)
		fail_msg("%s/%s-rep-%d has no address in status", deployment, service, index);
	snprintf(ip, NET_IPV4_STRLEN, "%s", v);
	uint32_t addr;
	assert_int_equal(net_ipv4_parse(ip, &addr, NULL), 0);
	assert_true(net_subnet_contains(&g.net, addr)); /* ours: safe to talk to */
	cJSON_Delete(doc);
}

/* The n strings sorted and space-separated; frees them. Caller frees. */
static char *join_sorted(char **items, size_t n)
{
	qsort(items, n, sizeof(*items), cli_cmp_str);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "%s%s", i ? " " : "", items[i]);
		free(items[i]);
	}
	fclose(f);
	return buf;
}

/* What `getent ahostsv4 NAME` prints inside the replica: its addresses,
 * sorted and space-separated ("" when the name does not resolve: getent's
 * exit 2). Caller frees. */
static char *resolve(struct tcase *c, const char *deployment, const char *replica_name,
		     const char *name)
{
	char *out = NULL, *err = NULL;
	int code = EXEC(c, deployment, replica_name, &out, &err, "getent", "ahostsv4", name);
	if (code != 0 && code != 2)
		fail_msg("getent ahostsv4 %s in %s: exit %d: %s%s", name, replica_name, code, out, err);
	char *ips[64];
	size_t n = 0;
	for (char *save = NULL, *line = strtok_r(out, "\n", &save); line && n < 64;
	     line = strtok_r(NULL, "\n", &save)) {
		char ip[64], kind[16];
		if (sscanf(line, "%63s %15s", ip, kind) == 2 && strcmp(kind, "STREAM") == 0)
			ips[n++] = strdup(ip);
	}
	free(out);
	free(err);
	return join_sorted(ips, n);
}

static void assert_resolves(struct tcase *c, const char *deployment, const char *in,
			    const char *name, const char *want)
{
	char *got = resolve(c, deployment, in, name);
	if (strcmp(got, want) != 0)
		fail_msg("in %s/%s, %s resolves to \"%s\", expected \"%s\"", deployment, in, name,
			 got, want);
	free(got);
}

/* "a b ..." of the addresses of service's replicas 1..n, sorted. */
static char *ips_of(struct tcase *c, const char *deployment, const char *service, int n)
{
	char *ips[16];
	for (int i = 0; i < n; i++) {
		char ip[NET_IPV4_STRLEN];
		replica_ip(c, deployment, service, i + 1, ip);
		ips[i] = strdup(ip);
	}
	return join_sorted(ips, (size_t)n);
}

/* ---- HTTP to a replica's address (of the test's subnet only) ---- */

/* The HTTP status of GET / from ip:80, -1 with why; waits at most
 * timeout_ms for each step. */
static int http_status(const char *ip, int64_t timeout_ms, char reason[128])
{
	reason[0] = '\0';
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(80) };
	if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1 ||
	    !net_subnet_contains(&g.net, ntohl(sa.sin_addr.s_addr))) {
		snprintf(reason, 128, "%s is not of the test subnet", ip);
		return -1;
	}
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(reason, 128, "connect: %s", errno == EINPROGRESS ? "no answer" : strerror(errno));
		close(fd);
		return -1;
	}
	const char *req = "GET / HTTP/1.0\r\n\r\n";
	char buf[256] = "";
	ssize_t r = -1;
	if (write(fd, req, strlen(req)) == (ssize_t)strlen(req))
		r = read(fd, buf, sizeof(buf) - 1);
	if (r < 0)
		snprintf(reason, 128, "request: %s", strerror(errno));
	close(fd);
	int status = -1;
	if (r > 0 && sscanf(buf, "HTTP/%*d.%*d %d", &status) != 1)
		snprintf(reason, 128, "no HTTP status in \"%.60s\"", buf);
	return status;
}

/* Does ip:80 answer 200 within ms? A refused connection (nginx not
 * listening yet: the address answered) is tried again; why gets the last
 * failure. */
static bool answers_within(const char *ip, int64_t ms, char why[128])
{
	int64_t deadline = cli_mono_ms() + ms;
	for (;;) {
		int64_t left = deadline - cli_mono_ms();
		if (left <= 0)
			return false;
		if (http_status(ip, left, why) == 200)
			return true;
		cli_sleep_ms(50);
	}
}

/* ---- fixtures ---- */

static int group_setup(void **state)
{
	(void)state;
	int pid = (int)getpid();
	snprintf(g.bridge, sizeof(g.bridge), "zln%d", pid % 1000);
	snprintf(g.subnet, sizeof(g.subnet), "10.218.%d.0/24", pid % 250);
	if (net_subnet_parse(g.subnet, &g.net, NULL) < 0)
		return -1;
	oci_test_ip_forward_save(g.ip_forward, sizeof(g.ip_forward));
	g.net_ready = true;

	char cache[PATH_MAX], script[PATH_MAX], layout[PATH_MAX];
	const char *env = getenv("ZLAPPLY_TEST_CACHE");
	if (env && *env)
		rf_fmt(cache, sizeof(cache), "%s", env);
	else
		rf_fmt(cache, sizeof(cache), "%s/.test-cache", rf_source_root());
	if (rf_sh("%s %s >&2", rf_infra("build-debian-images.sh", script), cache) != 0) {
		fprintf(stderr, "build-debian-images.sh failed\n");
		return -1;
	}
	rf_fmt(g.nginx, sizeof(g.nginx), "oci:%s/nginx:1.0", cache);
	rf_fmt(g.dir, sizeof(g.dir), "/tmp/zlnames-img-XXXXXX");
	if (!mkdtemp(g.dir) ||
	    oci_test_build_example_image(cli_pathf(layout, "%s/image", g.dir)) < 0)
		return -1;
	rf_fmt(g.busybox, sizeof(g.busybox), "oci:%s:1.0", layout);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (g.dir[0] && !getenv("ZL_KEEP_TMP"))
		cli_rm_rf(g.dir);
	if (!g.net_ready)
		return 0;
	oci_test_bridge_rules_delete(g.bridge, g.subnet);
	oci_test_bridge_delete(g.bridge);
	oci_test_ip_forward_restore(g.ip_forward);
	return 0;
}

static int case_setup(void **state)
{
	struct tcase *c = calloc(1, sizeof(*c));
	if (!c || oci_test_case_open(&c->t, "/tmp/zlnames-XXXXXX", c->dep, sizeof(c->dep), "nm",
				     ++g.seq) < 0) {
		free(c);
		return -1;
	}
	snprintf(c->other, sizeof(c->other), "%s-b", c->dep);
	*state = c;
	return 0;
}

static int case_teardown(void **state)
{
	struct tcase *c = *state;
	struct oci_test_flags f = { .root = c->t.root, .bridge = g.bridge, .subnet = g.subnet };
	oci_test_delete_and_fix(OCI_FLAGS_AFTER_VERB, &f, c->other);
	oci_test_delete_and_fix(OCI_FLAGS_AFTER_VERB, &f, c->dep);
	oci_test_unmount_left(c->t.dir);
	if (getenv("ZL_KEEP_TMP"))
		fprintf(stderr, "kept %s\n", c->t.dir);
	else
		cli_tmp_remove(&c->t);
	free(c);
	return 0;
}

/* ---- the tests ---- */

static char *scale_spec(int web_replicas)
{
	char *web = web_service("web", web_replicas, NULL);
	char *box = peer_service("box", g.busybox);
	char *spec = fmt("%s%s", web, box);
	free(web);
	free(box);
	return spec;
}

/* Names from inside a replica before and after a scale up and down; the
 * resolving replicas keep running through it. */
static void test_names_follow_a_scale(void **state)
{
	struct tcase *c = *state;
	char *spec = scale_spec(2);
	apply(c, c->dep, spec, 0);
	free(spec);
	long long web1 = replica(c, c->dep, "web", 1).pid, box1 = replica(c, c->dep, "box", 1).pid;
	assert_true(web1 > 0 && box1 > 0);

	char *two = ips_of(c, c->dep, "web", 2);
	char *web_dep = fmt("web.%s", c->dep), *box_dep = fmt("box.%s", c->dep);
	char box_ip[NET_IPV4_STRLEN], web2_ip[NET_IPV4_STRLEN];
	replica_ip(c, c->dep, "box", 1, box_ip);
	replica_ip(c, c->dep, "web", 2, web2_ip);
	assert_resolves(c, c->dep, "web-rep-1", "web", two);
	assert_resolves(c, c->dep, "web-rep-1", web_dep, two);
	assert_resolves(c, c->dep, "web-rep-1", "web-rep-2", web2_ip);
	assert_resolves(c, c->dep, "web-rep-1", box_dep, box_ip);
	assert_resolves(c, c->dep, "web-rep-1", "box-rep-1", box_ip);
	assert_busybox_reaches(c, "web-rep-2");

	spec = scale_spec(3);
	apply(c, c->dep, spec, 0);
	free(spec);
	char *three = ips_of(c, c->dep, "web", 3);
	assert_resolves(c, c->dep, "web-rep-1", "web", three);
	assert_resolves(c, c->dep, "web-rep-1", web_dep, three);
	char web3_ip[NET_IPV4_STRLEN];
	replica_ip(c, c->dep, "web", 3, web3_ip);
	assert_resolves(c, c->dep, "web-rep-1", "web-rep-3", web3_ip);
	assert_busybox_reaches(c, "web-rep-3");

	spec = scale_spec(1);
	apply(c, c->dep, spec, 0);
	free(spec);
	char *one = ips_of(c, c->dep, "web", 1);
	assert_resolves(c, c->dep, "web-rep-1", "web", one);
	assert_resolves(c, c->dep, "web-rep-1", "web-rep-2", "");
	assert_resolves(c, c->dep, "web-rep-1", "web-rep-3", "");
	char *out = NULL, *err = NULL;
	int code = EXEC(c, c->dep, "box-rep-1", &out, &err, "sh", "-c",
			"nc -w 2 web-rep-3 80 </dev/null");
	assert_int_not_equal(code, 0);
	assert_contains(err, "bad address");
	free(out);
	free(err);

	/* Nobody was restarted to see the changes. */
	assert_true(replica(c, c->dep, "web", 1).pid == web1);
	assert_true(replica(c, c->dep, "box", 1).pid == box1);
	free(two);
	free(three);
	free(one);
	free(web_dep);
	free(box_dep);
}

/* A replica whose health check fails leaves the service name (its own
 * name stays while it runs) and comes back once it passes again. */
static void test_failed_health_check_leaves_the_name(void **state)
{
	struct tcase *c = *state;
	char *web = web_service("web", 2,
				"    health:\n"
				"      check: { type: command, command: \"test ! -e /tmp/sick\" }\n"
				"      start_grace: 1s\n"
				"      interval: 1s\n"
				"      timeout: 5s\n"
				"      retries: 1\n");
	char *peer = peer_service("peer", g.nginx);
	char *spec = fmt("%s%s", web, peer);
	apply(c, c->dep, spec, 0);
	long long peer1 = replica(c, c->dep, "peer", 1).pid;
	char *two = ips_of(c, c->dep, "web", 2);
	char web1_ip[NET_IPV4_STRLEN], web2_ip[NET_IPV4_STRLEN];
	replica_ip(c, c->dep, "web", 1, web1_ip);
	replica_ip(c, c->dep, "web", 2, web2_ip);
	assert_resolves(c, c->dep, "peer-rep-1", "web", two);

	EXEC_OK(c, c->dep, "web-rep-2", "touch", "/tmp/sick");
	/* Applies (cron's way) until a probe outside start_grace failed. */
	int64_t deadline = cli_mono_ms() + WAIT_MS;
	while (replica(c, c->dep, "web", 2).restarts < 1) {
		if (cli_mono_ms() > deadline)
			fail_msg("web-rep-2 was never found unhealthy: %s",
				 replica(c, c->dep, "web", 2).json);
		cli_sleep_ms(500);
		apply(c, c->dep, spec, 0);
	}
	assert_resolves(c, c->dep, "peer-rep-1", "web", web1_ip);
	assert_resolves(c, c->dep, "peer-rep-1", "web-rep-2", web2_ip);

	EXEC_OK(c, c->dep, "web-rep-2", "rm", "/tmp/sick");
	deadline = cli_mono_ms() + WAIT_MS;
	for (;;) {
		cli_sleep_ms(500);
		apply(c, c->dep, spec, 0);
		char *now = resolve(c, c->dep, "peer-rep-1", "web");
		bool back = strcmp(now, two) == 0;
		free(now);
		if (back)
			break;
		if (cli_mono_ms() > deadline)
			fail_msg("web-rep-2 never came back to the name web: %s",
				 replica(c, c->dep, "web", 2).json);
	}
	assert_true(replica(c, c->dep, "peer", 1).pid == peer1);
	free(two);
	free(spec);
	free(web);
	free(peer);
}

/* <service>.<deployment> from another deployment: only for a service with
 * an endpoint; it follows that deployment's scale and delete. */
static void test_names_across_deployments(void **state)
{
	struct tcase *c = *state;
	char *api = web_service("api", 1, NULL);
	char *hidden = peer_service("hidden", g.busybox);
	char *a_spec = fmt("%s%s", api, hidden);
	apply(c, c->dep, a_spec, 0);
	char *cli = peer_service("cli", g.nginx);
	apply(c, c->other, cli, 0);
	long long cli1 = replica(c, c->other, "cli", 1).pid;

	char *api_a = fmt("api.%s", c->dep), *hidden_a = fmt("hidden.%s", c->dep);
	char *cli_b = fmt("cli.%s", c->other);
	char *one = ips_of(c, c->dep, "api", 1);
	assert_resolves(c, c->other, "cli-rep-1", api_a, one);
	assert_resolves(c, c->other, "cli-rep-1", hidden_a, ""); /* no endpoint */
	assert_resolves(c, c->other, "cli-rep-1", "api", "");    /* short names: own only */
	assert_resolves(c, c->dep, "api-rep-1", cli_b, "");      /* cli has no endpoint */

	free(api);
	api = web_service("api", 2, NULL);
	free(a_spec);
	a_spec = fmt("%s%s", api, hidden);
	apply(c, c->dep, a_spec, 0);
	char *two = ips_of(c, c->dep, "api", 2);
	assert_resolves(c, c->other, "cli-rep-1", api_a, two);

	/* The records are what the replicas get: one removed by hand is
	 * noticed by the next apply of either deployment. */
	char record[PATH_MAX];
	cli_pathf(record, "%s/names/%s.exports", c->t.root, c->dep);
	assert_int_equal(unlink(record), 0);
	apply(c, c->other, cli, 0);
	assert_resolves(c, c->other, "cli-rep-1", api_a, "");
	apply(c, c->dep, a_spec, 0);
	assert_resolves(c, c->other, "cli-rep-1", api_a, two);

	char *out = NULL, *err = NULL;
	int code = ZL(c, &out, &err, "delete", "-q", "-d", c->dep);
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	assert_resolves(c, c->other, "cli-rep-1", api_a, "");

	/* A record of a deployment that is not recorded (say, a lost
	 * state.db) is doctor's to remove; the next apply drops its names. */
	cli_pathf(record, "%s/names/ghost.exports", c->t.root);
	char *ghost = fmt("%s\tapi.ghost\n", one);
	cli_write_file(record, ghost);
	apply(c, c->other, cli, 0);
	assert_resolves(c, c->other, "cli-rep-1", "api.ghost", one);
	code = ZL(c, &out, &err, "doctor");
	assert_exit(code, 1, out, err);
	assert_contains(out, record);
	free(out);
	free(err);
	code = ZL(c, &out, &err, "doctor", "--fix");
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	apply(c, c->other, cli, 0);
	assert_resolves(c, c->other, "cli-rep-1", "api.ghost", "");
	free(ghost);
	assert_true(replica(c, c->other, "cli", 1).pid == cli1);
	free(one);
	free(two);
	free(api_a);
	free(hidden_a);
	free(cli_b);
	free(cli);
	free(a_spec);
	free(api);
	free(hidden);
}

/* web (ROUND: round) and box: box keeps the bridge's carrier up while web
 * is recreated (a bridge that loses its last port flushes its neighbour
 * entries, which would hide a stale one). */
static char *recreate_spec(const char *round)
{
	char *env = fmt("    env: { ROUND: \"%s\" }\n", round);
	char *web = web_service("web", 1, env);
	char *box = peer_service("box", g.busybox);
	char *spec = fmt("%s%s", web, box);
	free(env);
	free(web);
	free(box);
	return spec;
}

/* A recreate gives the replica a new interface with its old address; it
 * answers from the host right after the apply: no stale neighbour entry
 * to wait out (30 s and more with a new MAC), and still resolves by name.
 * No health check: the apply returns right after the start, and the host
 * talks to it first. */
static void test_recreated_replica_answers_at_once(void **state)
{
	struct tcase *c = *state;
	char *spec = recreate_spec("1");
	apply(c, c->dep, spec, 0);
	free(spec);
	char ip[NET_IPV4_STRLEN], why[128];
	replica_ip(c, c->dep, "web", 1, ip);
	/* the host's neighbour entry for ip: learnt now */
	if (!answers_within(ip, WAIT_MS, why))
		fail_msg("web-rep-1 (%s) never answered: %s", ip, why);
	long long pid1 = replica(c, c->dep, "web", 1).pid;

	spec = recreate_spec("2");
	apply(c, c->dep, spec, 0);
	free(spec);
	char again[NET_IPV4_STRLEN];
	replica_ip(c, c->dep, "web", 1, again);
	assert_string_equal(again, ip);
	assert_true(replica(c, c->dep, "web", 1).pid != pid1); /* it was recreated */
	if (!answers_within(ip, 5000, why))
		fail_msg("the recreated web-rep-1 (%s) did not answer at once: %s", ip, why);
	assert_resolves(c, c->dep, "web-rep-1", "web", ip);
}

int main(void)
{
	if (geteuid() != 0 || !oci_test_have("runc") || !oci_test_have("umoci")) {
		fprintf(stderr, "test_names: needs root, runc and umoci; skipped\n");
		return 77;
	}
	if (!oci_test_have("debootstrap")) {
		fprintf(stderr, "test_names: debootstrap missing (scripts/setup); skipped\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_names_follow_a_scale, case_setup, case_teardown),
		cmocka_unit_test_setup_teardown(test_failed_health_check_leaves_the_name, case_setup,
						case_teardown),
		cmocka_unit_test_setup_teardown(test_names_across_deployments, case_setup,
						case_teardown),
		cmocka_unit_test_setup_teardown(test_recreated_replica_answers_at_once, case_setup,
						case_teardown),
	};
	const char *filter = getenv("ZL_TEST_FILTER");
	if (filter && *filter)
		cmocka_set_test_filter(filter);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
