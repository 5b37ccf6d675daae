/* test_net_e2e.c: networking end to end through the CLI with the oci
 * backend and real containers (busybox from scripts/build-example-image):
 * replicas reaching each other, the host reaching a replica's httpd by IP
 * and through a published port on 127.0.0.1 (shared by two replicas), a
 * taken host port refused before anything is made, 100 replicas with 100
 * addresses, SIGKILL of zlapply in the middle of a 100-replica apply and
 * the re-apply after it (doctor finds nothing), an exited replica started
 * again after a (simulated) reboot, network_mode host and none.
 *
 * Safety: every replica sits on this run's bridge "zlt<pid%1000>" with the
 * subnet 10.216.<150 + pid%50>.0/24 (outside the default 10.213.0.0/16, so a
 * live zl0 keeps its routes); traffic goes only to 127.0.0.1 and to
 * addresses of that subnet (checked before each connect). Each test has its
 * own state root and deletes its deployments in its teardown, also when it
 * failed; the group teardown removes the bridge and the iptables rules that
 * name it, and restores ip_forward. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "oci-helpers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#define MANY 100

static struct {
	char bridge[16];
	char subnet[NET_CIDR_STRLEN];
	struct net_subnet net;
	char dir[PATH_MAX];   /* /tmp/zlnete2e-XXXXXX: the image */
	char image[PATH_MAX + 32]; /* oci:DIR:1.0 */
	char ip_forward[8];
	int port; /* the published host port of this run */
} g;

struct tcase {
	struct cli_tmp t;
	char deployment[64];
};

/* ---- running zlapply with the oci backend on the test bridge ---- */

/* zlapply ARGS... --root ROOT --backend oci [--bridge B --subnet S] */
static int run_zl(const char *root, bool net_flags, char **out, char **err,
		  const char *const *args)
{
	struct oci_test_flags f = { .root = root, .bridge = net_flags ? g.bridge : NULL,
				    .subnet = g.subnet };
	return oci_test_run(OCI_FLAGS_FIRST, &f, NULL, args, out, err);
}
#define ZL(root, out, err, ...) run_zl((root), true, (out), (err), (const char *const[]){ __VA_ARGS__, NULL })
#define ZLQ(root, out, err, ...) run_zl((root), false, (out), (err), (const char *const[]){ __VA_ARGS__, NULL })

static void apply_ok(struct tcase *c, const char *spec)
{
	char *out = NULL, *err = NULL;
	int code = ZL(c->t.root, &out, &err, "apply", "-q", "-f", spec);
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
}

/* `zlapply doctor` prints "nothing to clean up" and exits 0. */
static void assert_doctor_clean(struct tcase *c)
{
	char *out = NULL, *err = NULL;
	int code = ZL(c->t.root, &out, &err, "doctor");
	if (code != 0 || !strstr(out, "nothing to clean up"))
		fail_msg("doctor is not clean (exit %d):\n%s%s", code, out, err);
	free(out);
	free(err);
}

static cJSON *status_of(struct tcase *c)
{
	return oci_test_status_json(OCI_FLAGS_FIRST, &(struct oci_test_flags){ .root = c->t.root },
				    c->deployment);
}

/* The IP of service-rep-index from status (copied into ip). */
static void replica_ip(struct tcase *c, const char *service, int index, char ip[NET_IPV4_STRLEN])
{
	cJSON *doc = status_of(c);
	cJSON *r = cli_json_replica(doc, c->deployment, service, index);
	const char *v = r ? cli_json_str(r, "ip") : NULL;
	if (!v)
		fail_msg("%s-rep-%d has no IP in status", service, index);
	snprintf(ip, NET_IPV4_STRLEN, "%s", v);
	cJSON_Delete(doc);
}

/* Our netns (zl-<deployment>-*) still under /run/netns. */
static size_t count_netns(const char *deployment)
{
	char prefix[96];
	snprintf(prefix, sizeof(prefix), "zl-%s-", deployment);
	size_t n = 0;
	DIR *d = opendir("/run/netns");
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			n++;
	if (d)
		closedir(d);
	return n;
}

/* Lines of `iptables -t nat -S` tagged zlapply:<deployment>/. */
static size_t count_rules(const char *deployment)
{
	char cmd[256], tag[96];
	snprintf(cmd, sizeof(cmd), "iptables -w -t nat -S 2>/dev/null");
	snprintf(tag, sizeof(tag), "zlapply:%s/", deployment);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	char line[1024];
	size_t n = 0;
	while (fgets(line, sizeof(line), p))
		if (strstr(line, tag))
			n++;
	pclose(p);
	return n;
}

/* ---- talking to replicas (only 127.0.0.1 and the test subnet) ---- */

static void assert_allowed(const char *ip)
{
	uint32_t a;
	if (net_ipv4_parse(ip, &a, NULL) < 0 ||
	    !(a == 0x7f000001 || net_subnet_is_host(&g.net, a)))
		fail_msg("refusing to send traffic to %s (not loopback, not %s)", ip, g.subnet);
}

/* GET / from ip:port; the body (malloc'd) or NULL when it failed. */
static char *http_get(const char *ip, int port)
{
	assert_allowed(ip);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, ip, &sa.sin_addr);
	struct timeval tv = { 2, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return NULL;
	}
	const char *req = "GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n";
	if (write(fd, req, strlen(req)) < 0) {
		close(fd);
		return NULL;
	}
	char buf[8192];
	size_t len = 0;
	ssize_t r;
	while (len < sizeof(buf) - 1 && (r = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)r;
	close(fd);
	buf[len] = '\0';
	char *body = strstr(buf, "\r\n\r\n");
	if (!strstr(buf, " 200 ") || !body)
		return NULL;
	body = strdup(body + 4);
	body[strcspn(body, "\n")] = '\0';
	return body;
}

/* Retries for up to timeout_ms (httpd may not listen yet). */
static char *http_get_retry(const char *ip, int port, int64_t timeout_ms)
{
	int64_t end = cli_mono_ms() + timeout_ms;
	for (;;) {
		char *body = http_get(ip, port);
		if (body || cli_mono_ms() > end)
			return body;
		cli_sleep_ms(100);
	}
}

/* ---- specs ---- */

static void write_spec(struct tcase *c, const char *name, const char *services)
{
	char path[PATH_MAX], text[8192];
	snprintf(text, sizeof(text), "version: v1\ndeployment: %s\nservices:\n%s", c->deployment,
		 services);
	cli_write_file(cli_path(&c->t, name, path), text);
}

/* A service running busybox httpd on 8080 serving its hostname. */
static char *httpd_service(const char *name, int replicas, const char *extra)
{
	char *s = NULL;
	if (asprintf(&s,
		     "  %s:\n"
		     "    image: { name: \"%s\" }\n"
		     "    command: { args: [\"/bin/sh\", \"-c\", \"mkdir -p /www && hostname > /www/index.html && exec busybox httpd -f -p 8080 -h /www\"] }\n"
		     "    stop_grace_period: 1s\n"
		     "    resources: { memory: 32Mi }\n"
		     "%s"
		     "    scale: { mode: fixed, replicas: %d }\n",
		     name, g.image, extra ? extra : "", replicas) < 0)
		abort();
	return s;
}

static char *sleeper_service(const char *name, int replicas, const char *extra)
{
	char *s = NULL;
	if (asprintf(&s,
		     "  %s:\n"
		     "    image: { name: \"%s\" }\n"
		     "    command: { args: [\"/bin/sh\", \"-c\", \"trap 'exit 0' TERM; sleep 100000 & wait\"] }\n"
		     "    stop_grace_period: 1s\n"
		     "    resources: { memory: 16Mi }\n"
		     "%s"
		     "    scale: { mode: fixed, replicas: %d }\n",
		     name, g.image, extra ? extra : "", replicas) < 0)
		abort();
	return s;
}

/* ---- fixtures ---- */

static int group_setup(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		fprintf(stderr, "test_net_e2e needs root\n");
		return -1;
	}
	int pid = (int)getpid();
	snprintf(g.bridge, sizeof(g.bridge), "zlt%d", pid % 1000);
	snprintf(g.subnet, sizeof(g.subnet), "10.216.%d.0/24", 150 + pid % 50);
	if (net_subnet_parse(g.subnet, &g.net, NULL) < 0)
		return -1;
	g.port = 18000 + pid % 1000;
	snprintf(g.dir, sizeof(g.dir), "/tmp/zlnete2e-XXXXXX");
	if (!mkdtemp(g.dir))
		return -1;
	char layout[PATH_MAX];
	if (oci_test_build_example_image(cli_pathf(layout, "%s/image", g.dir)) < 0)
		return -1;
	snprintf(g.image, sizeof(g.image), "oci:%s:1.0", layout);
	oci_test_ip_forward_save(g.ip_forward, sizeof(g.ip_forward));
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	oci_test_bridge_rules_delete(g.bridge, g.subnet);
	oci_test_bridge_delete(g.bridge);
	oci_test_ip_forward_restore(g.ip_forward);
	cli_rm_rf(g.dir);
	return 0;
}

static int case_setup(void **state)
{
	struct tcase *c = calloc(1, sizeof(*c));
	cli_tmp_make(&c->t);
	static int seq;
	snprintf(c->deployment, sizeof(c->deployment), "ne%d-%d", (int)getpid(), ++seq);
	*state = c;
	return 0;
}

static int case_teardown(void **state)
{
	struct tcase *c = *state;
	/* Removes whatever the test made, also after a failed assertion. */
	oci_test_delete_and_fix(OCI_FLAGS_FIRST,
				&(struct oci_test_flags){ .root = c->t.root, .bridge = g.bridge,
							  .subnet = g.subnet },
				c->deployment);
	cli_tmp_remove(&c->t);
	free(c);
	return 0;
}

/* ---- tests ---- */

static void test_two_replicas_reach_each_other(void **state)
{
	struct tcase *c = *state;
	char *svc = httpd_service("app", 2, NULL);
	write_spec(c, "spec.yaml", svc);
	free(svc);
	char spec[PATH_MAX];
	apply_ok(c, cli_path(&c->t, "spec.yaml", spec));
	char ip1[NET_IPV4_STRLEN], ip2[NET_IPV4_STRLEN];
	replica_ip(c, "app", 1, ip1);
	replica_ip(c, "app", 2, ip2);
	assert_allowed(ip1);
	assert_allowed(ip2);
	assert_string_not_equal(ip1, ip2);

	/* ICMP both ways, from inside each replica. */
	char *out = NULL, *err = NULL;
	int code = ZLQ(c->t.root, &out, &err, "exec", "app-rep-1", "-d", c->deployment, "--",
		       "busybox", "ping", "-c", "1", "-W", "3", ip2);
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	code = ZLQ(c->t.root, &out, &err, "exec", "app-rep-2", "-d", c->deployment, "--", "busybox",
		   "ping", "-c", "1", "-W", "3", ip1);
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	/* And TCP: rep-1 fetches rep-2's page, which names rep-2. */
	char url[64];
	snprintf(url, sizeof(url), "http://%s:8080/index.html", ip2);
	int64_t end = cli_mono_ms() + 5000;
	bool fetched = false;
	while (!fetched) {
		char *o = NULL, *e = NULL;
		code = ZLQ(c->t.root, &o, &e, "exec", "app-rep-1", "-d", c->deployment, "--",
			   "busybox", "wget", "-q", "-O", "-", url);
		fetched = code == 0 && strstr(o, "app-rep-2");
		if (!fetched && cli_mono_ms() > end)
			fail_msg("rep-1 could not fetch %s (exit %d): %s%s", url, code, o, e);
		free(o);
		free(e);
		if (!fetched)
			cli_sleep_ms(100);
	}
	assert_doctor_clean(c);
}

static void test_host_reaches_replica_and_published_port(void **state)
{
	struct tcase *c = *state;
	char extra[256];
	snprintf(extra, sizeof(extra),
		 "    endpoints:\n"
		 "      - { name: http, protocol: http, port: %d, target_port: 8080, expose: internal }\n",
		 g.port);
	char *svc = httpd_service("web", 2, extra);
	write_spec(c, "spec.yaml", svc);
	free(svc);
	char spec[PATH_MAX];
	apply_ok(c, cli_path(&c->t, "spec.yaml", spec));

	/* By the replica's own address. */
	char ip1[NET_IPV4_STRLEN];
	replica_ip(c, "web", 1, ip1);
	char *body = http_get_retry(ip1, 8080, 10000);
	if (!body)
		fail_msg("no answer from httpd at %s:8080", ip1);
	assert_string_equal(body, "web-rep-1");
	free(body);
	char ip2[NET_IPV4_STRLEN];
	replica_ip(c, "web", 2, ip2);
	body = http_get_retry(ip2, 8080, 10000);
	assert_non_null(body);
	free(body);

	/* Through the published port on loopback: both replicas answer. */
	int seen1 = 0, seen2 = 0;
	for (int i = 0; i < 8; i++) {
		body = http_get_retry("127.0.0.1", g.port, 5000);
		if (!body)
			fail_msg("no answer on 127.0.0.1:%d (try %d)", g.port, i);
		seen1 += strcmp(body, "web-rep-1") == 0;
		seen2 += strcmp(body, "web-rep-2") == 0;
		free(body);
	}
	print_message("127.0.0.1:%d: web-rep-1 answered %d, web-rep-2 %d of 8\n", g.port, seen1,
		      seen2);
	assert_true(seen1 > 0 && seen2 > 0);
	assert_true(count_rules(c->deployment) > 0);

	/* A re-apply that changes nothing touches nothing (no iptables). */
	char *out = NULL, *err = NULL;
	int code = ZL(c->t.root, &out, &err, "apply", "-f", spec);
	assert_exit(code, 0, out, err);
	assert_non_null(strstr(err, "up to date"));
	free(out);
	free(err);

	/* Scale to one: the port keeps working and only rep-1 answers. */
	svc = httpd_service("web", 1, extra);
	write_spec(c, "spec.yaml", svc);
	free(svc);
	apply_ok(c, spec);
	for (int i = 0; i < 4; i++) {
		body = http_get_retry("127.0.0.1", g.port, 5000);
		assert_non_null(body);
		assert_string_equal(body, "web-rep-1");
		free(body);
	}
	assert_doctor_clean(c);

	/* Delete: rules, records and namespaces go. */
	code = ZL(c->t.root, &out, &err, "delete", "-q", "-d", c->deployment);
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	assert_int_equal(count_rules(c->deployment), 0);
	assert_int_equal(count_netns(c->deployment), 0);
	assert_null(http_get("127.0.0.1", g.port));
	assert_doctor_clean(c);
}

static void test_taken_port_creates_nothing(void **state)
{
	struct tcase *c = *state;
	int port = g.port + 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0)
		fail_msg("cannot hold 127.0.0.1:%d for the test: %s", port, strerror(errno));

	char extra[256];
	snprintf(extra, sizeof(extra),
		 "    port_mappings:\n"
		 "      - { host_port: %d, container_port: 8080, host_ip: 127.0.0.1 }\n",
		 port);
	char *svc = httpd_service("web", 2, extra);
	write_spec(c, "spec.yaml", svc);
	free(svc);
	char spec[PATH_MAX], want[64];
	cli_path(&c->t, "spec.yaml", spec);
	char *out = NULL, *err = NULL;
	int code = ZL(c->t.root, &out, &err, "apply", "-f", spec);
	close(fd);
	assert_exit(code, 1, out, err);
	snprintf(want, sizeof(want), "port %d/tcp on 127.0.0.1 is already in use", port);
	if (!strstr(err, want) || !strstr(err, "service web"))
		fail_msg("the error does not name the service and the port:\n%s", err);
	/* It can tell who holds it: this test. */
	char pid_text[32];
	snprintf(pid_text, sizeof(pid_text), "by pid %d", (int)getpid());
	assert_non_null(strstr(err, pid_text));
	free(out);
	free(err);
	cJSON *doc = status_of(c);
	assert_int_equal(cli_json_count(doc, c->deployment), 0);
	cJSON_Delete(doc);
	assert_int_equal(count_netns(c->deployment), 0);
	assert_int_equal(count_rules(c->deployment), 0);
	assert_doctor_clean(c);

	/* Freed: the next apply publishes it. */
	apply_ok(c, spec);
	char *body = http_get_retry("127.0.0.1", port, 10000);
	assert_non_null(body);
	free(body);
}

/* Every replica of status has a distinct address of the test subnet;
 * returns how many replicas there are. */
static int distinct_ips(struct tcase *c)
{
	cJSON *doc = status_of(c);
	int n = 0;
	uint32_t *seen = calloc(MANY * 2, sizeof(*seen));
	cJSON *r;
	cJSON_ArrayForEach(r, cli_json_replicas(doc))
	{
		const char *ip = cli_json_str(r, "ip");
		const char *st = cli_json_str(r, "state");
		uint32_t a = 0;
		if (!ip || net_ipv4_parse(ip, &a, NULL) < 0 || !net_subnet_is_host(&g.net, a))
			fail_msg("replica %d: ip %s (state %s) is not an address of %s", n,
				 ip ? ip : "(none)", st ? st : "?", g.subnet);
		for (int i = 0; i < n; i++)
			if (seen[i] == a)
				fail_msg("address %s given twice", ip);
		assert_true(n < MANY * 2);
		seen[n++] = a;
	}
	free(seen);
	cJSON_Delete(doc);
	return n;
}

static void test_hundred_replicas_hundred_addresses(void **state)
{
	struct tcase *c = *state;
	char *svc = sleeper_service("many", MANY, NULL);
	write_spec(c, "spec.yaml", svc);
	free(svc);
	char spec[PATH_MAX];
	int64_t t0 = cli_mono_ms();
	apply_ok(c, cli_path(&c->t, "spec.yaml", spec));
	int64_t t_apply = cli_mono_ms() - t0;
	assert_int_equal(distinct_ips(c), MANY);
	assert_int_equal(count_netns(c->deployment), MANY);
	assert_doctor_clean(c);
	char *out = NULL, *err = NULL;
	t0 = cli_mono_ms();
	int code = ZL(c->t.root, &out, &err, "delete", "-q", "-d", c->deployment);
	int64_t t_delete = cli_mono_ms() - t0;
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	print_message("%d replicas: apply %lld ms, delete %lld ms\n", MANY, (long long)t_apply,
		      (long long)t_delete);
	assert_int_equal(count_netns(c->deployment), 0);
	assert_doctor_clean(c);
}

static void test_sigkill_mid_apply_then_reapply(void **state)
{
	struct tcase *c = *state;
	char *svc = sleeper_service("many", MANY, NULL);
	write_spec(c, "spec.yaml", svc);
	free(svc);
	char spec[PATH_MAX];
	cli_path(&c->t, "spec.yaml", spec);
	/* Kill at a few moments; each later run also recovers what the
	 * previous one left. */
	static const int kill_after_ms[] = { 150, 600, 1300, 40, 250, 900, 1700 };
	for (size_t k = 0; k < sizeof(kill_after_ms) / sizeof(kill_after_ms[0]); k++) {
		const char *argv[] = { "apply", "-q", "-f", spec, "--root", c->t.root, "--backend",
				       "oci", "--bridge", g.bridge, "--subnet", g.subnet, NULL };
		struct cli_proc p;
		cli_spawn(NULL, NULL, NULL, argv, &p);
		cli_sleep_ms(kill_after_ms[k]);
		kill(p.pid, SIGKILL);
		int code = cli_wait(&p, NULL, NULL);
		cJSON *doc = status_of(c);
		print_message("killed after %d ms (exit %d): %d replicas recorded\n", kill_after_ms[k],
			      code, cli_json_count(doc, c->deployment));
		cJSON_Delete(doc);
	}
	apply_ok(c, spec);
	assert_int_equal(distinct_ips(c), MANY);
	assert_int_equal(count_netns(c->deployment), MANY);
	assert_doctor_clean(c);
	char *out = NULL, *err = NULL;
	int code = ZL(c->t.root, &out, &err, "delete", "-q", "-d", c->deployment);
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	assert_int_equal(count_netns(c->deployment), 0);
	assert_doctor_clean(c);
}

/* What a reboot takes from a replica: its processes (the monitor and the
 * container), the runtime's record and the overlay mount (tmpfs /run and
 * mounts are gone), the netns; the directory and the database stay. A
 * running replica's started record gets another boot id. */
static void simulate_reboot(struct tcase *c, const char *id, bool was_running)
{
	char dir[PATH_MAX + 128], path[PATH_MAX + 256];
	snprintf(dir, sizeof(dir), "%s/containers/%s", c->t.root, id);
	if (was_running) {
		long long mon = 0, pid = 0, start = 0, ms = 0;
		snprintf(path, sizeof(path), "%s/monitor", dir);
		char *text = cli_read_file(path);
		assert_int_equal(sscanf(text, "%lld", &mon), 1);
		free(text);
		snprintf(path, sizeof(path), "%s/started", dir);
		text = cli_read_file(path);
		assert_int_equal(sscanf(text, "%lld %lld %lld", &pid, &start, &ms), 3);
		free(text);
		char other[160];
		snprintf(other, sizeof(other), "%lld %lld %lld 00000000-0000-0000-0000-000000000000\n",
			 pid, start, ms);
		cli_write_file(path, other);
		kill((pid_t)mon, SIGKILL);
		kill((pid_t)pid, SIGKILL);
		int64_t end = cli_mono_ms() + 5000;
		while (kill((pid_t)pid, 0) == 0 || kill((pid_t)mon, 0) == 0) {
			if (cli_mono_ms() > end)
				fail_msg("pid %lld or monitor %lld still there", pid, mon);
			cli_sleep_ms(20);
		}
		oci_test_sh_quiet("runc delete --force %s; crun delete --force %s", id, id);
	} else {
		snprintf(path, sizeof(path), "%s/exit.json", dir);
		int64_t end = cli_mono_ms() + 10000;
		while (access(path, F_OK) != 0) {
			if (cli_mono_ms() > end)
				fail_msg("no exit record at %s", path);
			cli_sleep_ms(50);
		}
	}
	snprintf(path, sizeof(path), "%s/rootfs", dir);
	assert_int_equal(umount2(path, MNT_DETACH), 0);
	struct zl_err zerr = ZL_ERR_INIT;
	if (net_netns_delete(id, &zerr) < 0)
		fail_msg("delete netns %s: %s", id, zerr.msg);
	assert_int_equal(count_netns(c->deployment), 0);
}

/* After the reboot the apply restarts the replica (it does not recreate
 * it): the same address, its files, restarts + 1, and it serves again. */
static void assert_restarted_in_place(struct tcase *c, const char *spec, const char *ip)
{
	char *out = NULL, *err = NULL;
	int code = ZLQ(c->t.root, &out, &err, "diff", "-f", spec);
	assert_exit(code, 0, out, err);
	if (!strstr(out, "> restart app-rep-1"))
		fail_msg("after the reboot the plan is not a restart:\n%s", out);
	free(out);
	free(err);
	apply_ok(c, spec);
	cJSON *doc = status_of(c);
	cJSON *r = cli_json_replica(doc, c->deployment, "app", 1);
	assert_non_null(r);
	assert_string_equal(cli_json_str(r, "state"), "running");
	assert_string_equal(cli_json_str(r, "ip"), ip);
	assert_int_equal(cJSON_GetObjectItem(r, "restarts")->valueint, 1);
	cJSON_Delete(doc);
	char *body = http_get_retry(ip, 8080, 5000);
	if (!body || !strstr(body, "app-rep-1"))
		fail_msg("GET http://%s:8080/ after the restart: %s", ip, body ? body : "(nothing)");
	free(body);
	assert_doctor_clean(c);
}

/* A reboot (simulated) with one replica running and, in a second round,
 * one that had exited before it: both start again where they were. */
static void test_restart_after_reboot(void **state)
{
	struct tcase *c = *state;
	char *svc = httpd_service("app", 1, NULL);
	write_spec(c, "spec.yaml", svc);
	free(svc);
	char spec[PATH_MAX];
	apply_ok(c, cli_path(&c->t, "spec.yaml", spec));
	char ip[NET_IPV4_STRLEN], id[128];
	replica_ip(c, "app", 1, ip);
	assert_allowed(ip);
	snprintf(id, sizeof(id), "zl-%s-app-1", c->deployment);

	simulate_reboot(c, id, true);
	cJSON *doc = status_of(c);
	cJSON *r = cli_json_replica(doc, c->deployment, "app", 1);
	assert_string_equal(cli_json_str(r, "state"), "exited");
	assert_string_equal(cli_json_str(r, "exit_reason"), "host_rebooted");
	cJSON_Delete(doc);
	assert_restarted_in_place(c, spec, ip);

	/* Round two: exited before the "reboot" (restarts count from 0 again
	 * only after 10 minutes, so reset the expectation by recreating). */
	char *out = NULL, *err = NULL;
	int code = ZL(c->t.root, &out, &err, "delete", "-q", "-d", c->deployment);
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	apply_ok(c, spec);
	replica_ip(c, "app", 1, ip);
	code = ZLQ(c->t.root, &out, &err, "kill", "app-rep-1", "-d", c->deployment);
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	simulate_reboot(c, id, false);
	assert_restarted_in_place(c, spec, ip);
}

/* A replica whose row is lost leaves everything behind; doctor lists each
 * kind, --fix removes them, and the replica that is still recorded keeps
 * running untouched. */
static void test_doctor_lists_and_fixes_orphans(void **state)
{
	struct tcase *c = *state;
	char extra[256];
	snprintf(extra, sizeof(extra),
		 "    endpoints:\n"
		 "      - { name: http, protocol: http, port: %d, target_port: 8080, expose: internal }\n",
		 g.port + 2);
	char *lost = httpd_service("lost", 1, extra);
	char *kept = httpd_service("kept", 1, NULL);
	char *both = NULL;
	if (asprintf(&both, "%s%s", lost, kept) < 0)
		abort();
	free(lost);
	free(kept);
	write_spec(c, "spec.yaml", both);
	free(both);
	char spec[PATH_MAX];
	apply_ok(c, cli_path(&c->t, "spec.yaml", spec));
	char kept_ip[NET_IPV4_STRLEN];
	replica_ip(c, "kept", 1, kept_ip);
	char *body = http_get_retry(kept_ip, 8080, 10000);
	assert_non_null(body);
	free(body);
	assert_doctor_clean(c);

	/* Forget lost-rep-1 (its row only): the container, its monitor,
	 * mount, netns, veth, lease and port rules are now nobody's. */
	sqlite3 *db = cli_db_open(c->t.root);
	char sql[256];
	snprintf(sql, sizeof(sql), "DELETE FROM replicas WHERE deployment = '%s' AND service = 'lost'",
		 c->deployment);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	char *out = NULL, *err = NULL;
	int code = ZL(c->t.root, &out, &err, "doctor");
	assert_exit(code, 1, out, err);
	static const char *const kinds[] = { "dir ", "monitor ", "mount ", "netns ", "veth ",
					     "lease ", "rules " };
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		bool found = false;
		for (char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
			found = found || strncmp(l, kinds[i], strlen(kinds[i])) == 0;
		if (!found)
			fail_msg("doctor does not list a %s:\n%s", kinds[i], out);
	}
	if (strstr(out, "kept"))
		fail_msg("doctor lists the recorded replica:\n%s", out);
	print_message("doctor:\n%s", out);
	free(out);
	free(err);

	code = ZL(c->t.root, &out, &err, "doctor", "--fix");
	assert_exit(code, 0, out, err);
	assert_non_null(strstr(out, "removed"));
	free(out);
	free(err);
	assert_doctor_clean(c);
	assert_int_equal(count_rules(c->deployment), 0);
	assert_int_equal(count_netns(c->deployment), 1); /* kept's */
	/* kept is untouched. */
	body = http_get_retry(kept_ip, 8080, 3000);
	assert_non_null(body);
	assert_string_equal(body, "kept-rep-1");
	free(body);
}

/* The pid of service-rep-index from status, or -1. */
static long long replica_pid(struct tcase *c, const char *service, int index)
{
	cJSON *doc = status_of(c);
	cJSON *r = cli_json_replica(doc, c->deployment, service, index);
	const cJSON *pid = r ? cJSON_GetObjectItemCaseSensitive(r, "pid") : NULL;
	long long v = cJSON_IsNumber(pid) ? (long long)pid->valuedouble : -1;
	cJSON_Delete(doc);
	return v;
}

static bool pid_alive(long long pid)
{
	return pid > 0 && kill((pid_t)pid, 0) == 0;
}

/* Two state roots on one host (issue: a second root killed the first's
 * containers): the second may neither take the first's replica names nor
 * lease addresses on its bridge, and its doctor --fix touches nothing of
 * the first. Everything it refuses, it refuses before making anything. */
static void test_two_roots_never_touch_each_other(void **state)
{
	struct tcase *c = *state;
	char *svc = sleeper_service("app", 1, NULL);
	write_spec(c, "spec.yaml", svc);
	free(svc);
	char spec[PATH_MAX];
	apply_ok(c, cli_path(&c->t, "spec.yaml", spec));
	long long pid = replica_pid(c, "app", 1);
	assert_true(pid_alive(pid));
	char ns[256];
	snprintf(ns, sizeof(ns), "zl-%s-app-1", c->deployment);
	assert_true(net_netns_exists(ns));

	struct tcase other = { 0 };
	cli_tmp_make(&other.t);
	snprintf(other.deployment, sizeof(other.deployment), "%s", c->deployment);
	/* The same deployment name, without networking: the name is taken. */
	svc = sleeper_service("app", 1, "    network_mode: none\n");
	write_spec(&other, "same.yaml", svc);
	free(svc);
	char *out = NULL, *err = NULL;
	int code = ZL(other.t.root, &out, &err, "apply", "-f", cli_path(&other.t, "same.yaml", spec));
	if (code == 0 || !strstr(err, "belongs to the state root") || !strstr(err, c->t.root))
		fail_msg("a second root took the first's replica name (exit %d):\n%s%s", code, out, err);
	free(out);
	free(err);
	assert_true(pid_alive(pid));
	assert_true(net_netns_exists(ns));

	/* Another name on the first root's bridge: addresses would clash. */
	snprintf(other.deployment, sizeof(other.deployment), "%.60sb", c->deployment);
	svc = sleeper_service("app", 1, NULL);
	write_spec(&other, "other.yaml", svc);
	free(svc);
	code = ZL(other.t.root, &out, &err, "apply", "-f", cli_path(&other.t, "other.yaml", spec));
	char needle[128];
	snprintf(needle, sizeof(needle), "bridge %s is used by the state root", g.bridge);
	if (code == 0 || !strstr(err, needle))
		fail_msg("a second root leased on the first's bridge (exit %d):\n%s%s", code, out, err);
	free(out);
	free(err);

	/* The second root's doctor --fix leaves the first's objects alone. */
	code = ZL(other.t.root, &out, &err, "doctor", "--fix");
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	assert_true(pid_alive(pid));
	assert_true(net_netns_exists(ns));
	assert_doctor_clean(c);
	code = ZL(other.t.root, &out, &err, "delete", "-q", "-d", other.deployment);
	free(out);
	free(err);
	code = ZL(other.t.root, &out, &err, "delete", "-q", "-d", c->deployment);
	free(out);
	free(err);
	assert_true(pid_alive(pid)); /* delete in the second root: still not its */
	cli_tmp_remove(&other.t);
}

/* A replica whose host veth was deleted by hand shows running forever no
 * more: status says its network was lost, the next apply replaces it. */
static void test_lost_network_is_replaced(void **state)
{
	struct tcase *c = *state;
	char *svc = sleeper_service("app", 1, NULL);
	write_spec(c, "spec.yaml", svc);
	free(svc);
	char spec[PATH_MAX];
	apply_ok(c, cli_path(&c->t, "spec.yaml", spec));
	long long pid = replica_pid(c, "app", 1);
	char veth[NET_IFNAME_MAX + 1];
	net_ifname("zlh", c->deployment, "app", 1, veth);
	assert_true(net_link_exists(veth));
	assert_int_equal(oci_test_sh_quiet("ip link del %s", veth), 0);

	cJSON *doc = status_of(c);
	cJSON *r = cli_json_replica(doc, c->deployment, "app", 1);
	const char *st = r ? cli_json_str(r, "state") : NULL;
	const char *why = r ? cli_json_str(r, "exit_reason") : NULL;
	if (!st || strcmp(st, "unknown") || !why || strcmp(why, "network_lost"))
		fail_msg("status does not say the network was lost: state %s, reason %s", st ? st : "-",
			 why ? why : "-");
	cJSON_Delete(doc);

	char *out = NULL, *err = NULL;
	int code = ZL(c->t.root, &out, &err, "apply", "-f", spec);
	assert_exit(code, 0, out, err);
	assert_non_null(strstr(out, "its network was lost"));
	free(out);
	free(err);
	long long now = replica_pid(c, "app", 1);
	assert_true(pid_alive(now));
	assert_true(now != pid);
	assert_false(pid_alive(pid));
	assert_true(net_link_exists(veth));
	assert_doctor_clean(c);
}

/* state.db lost while replicas run: the next apply adopts them (same pids,
 * nothing created); a corrupt one is refused with the way out, and delete
 * still works (it moves the corrupt file aside and adopts first). */
static void test_lost_and_corrupt_state(void **state)
{
	struct tcase *c = *state;
	char *svc = sleeper_service("app", 2, NULL);
	write_spec(c, "spec.yaml", svc);
	free(svc);
	char spec[PATH_MAX], db[PATH_MAX + 64];
	apply_ok(c, cli_path(&c->t, "spec.yaml", spec));
	long long pid1 = replica_pid(c, "app", 1), pid2 = replica_pid(c, "app", 2);
	const char *files[] = { "state.db", "state.db-wal", "state.db-shm" };
	for (size_t i = 0; i < 3; i++) {
		snprintf(db, sizeof(db), "%s/%s", c->t.root, files[i]);
		unlink(db);
	}

	char *out = NULL, *err = NULL;
	int code = ZL(c->t.root, &out, &err, "apply", "-f", spec);
	assert_exit(code, 0, out, err);
	if (strstr(out, "create") || !strstr(err, "adopted 2 replicas"))
		fail_msg("apply after a lost state.db did not adopt the replicas:\n%s%s", out, err);
	free(out);
	free(err);
	assert_int_equal(replica_pid(c, "app", 1), pid1);
	assert_int_equal(replica_pid(c, "app", 2), pid2);
	assert_doctor_clean(c);

	snprintf(db, sizeof(db), "%s/state.db", c->t.root);
	cli_write_file(db, "this is not a database, it was overwritten by accident\n");
	code = ZL(c->t.root, &out, &err, "apply", "-f", spec);
	if (code == 0 || !strstr(err, "is corrupt") || !strstr(err, "docs/operations.md"))
		fail_msg("a corrupt state.db was not refused with the way out (exit %d):\n%s%s", code,
			 out, err);
	free(out);
	free(err);
	assert_true(pid_alive(pid1) && pid_alive(pid2));

	code = ZL(c->t.root, &out, &err, "delete", "-d", c->deployment);
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	assert_false(pid_alive(pid1));
	assert_false(pid_alive(pid2));
	assert_int_equal(count_netns(c->deployment), 0);
	assert_doctor_clean(c);
	/* The last replica on the bridge went: so did the bridge and its NAT. */
	assert_false(net_link_exists(g.bridge));

	/* One left behind (a crash, an older zlapply): doctor lists it and
	 * --fix removes it with its masquerading. */
	struct zl_err e = ZL_ERR_INIT;
	if (net_bridge_ensure(g.bridge, &g.net, &e) < 0 || net_masquerade_ensure(g.bridge, &g.net, &e) < 0)
		fail_msg("%s", e.msg);
	code = ZL(c->t.root, &out, &err, "doctor");
	if (code != 1 || !strstr(out, "bridge "))
		fail_msg("doctor does not list the unused bridge (exit %d):\n%s%s", code, out, err);
	free(out);
	free(err);
	code = ZL(c->t.root, &out, &err, "doctor", "--fix");
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	assert_false(net_link_exists(g.bridge));
	assert_int_not_equal(oci_test_sh_quiet("iptables -w -t nat -C POSTROUTING -s %s ! -o %s -m comment --comment zlapply -j MASQUERADE",
				      g.subnet, g.bridge), 0);
}

/* A first apply none of whose replicas can be made (a user the image does
 * not have: found at create, after the address was leased and the bridge
 * made) gives every address back and takes the bridge down again: nothing
 * of it is left for doctor, and the next apply starts clean. */
static void test_failed_creates_release_leases_and_bridge(void **state)
{
	struct tcase *c = *state;
	assert_false(net_link_exists(g.bridge));
	char *svc = sleeper_service("nouser", 2, "    user: zl-no-such-user\n");
	write_spec(c, "spec.yaml", svc);
	free(svc);
	char spec[PATH_MAX];
	cli_path(&c->t, "spec.yaml", spec);
	char *out = NULL, *err = NULL;
	int code = ZL(c->t.root, &out, &err, "apply", "-f", spec);
	assert_exit(code, 1, out, err);
	if (!strstr(err, "no user \"zl-no-such-user\" in the image's /etc/passwd"))
		fail_msg("the error does not say why:\n%s", err);
	free(out);
	free(err);
	assert_int_equal(cli_db_int(c->t.root, "SELECT COUNT(*) FROM leases", NULL), 0);
	assert_int_equal(cli_db_int(c->t.root, "SELECT COUNT(*) FROM replicas WHERE state = 'failed'", NULL), 2);
	assert_int_equal(count_netns(c->deployment), 0);
	assert_false(net_link_exists(g.bridge));
	assert_doctor_clean(c);
}

static void test_network_modes_host_and_none(void **state)
{
	struct tcase *c = *state;
	char *h = sleeper_service("h", 1, "    network_mode: host\n");
	char *n = sleeper_service("n", 1, "    network_mode: none\n");
	char *both = NULL;
	if (asprintf(&both, "%s%s", h, n) < 0)
		abort();
	free(h);
	free(n);
	write_spec(c, "spec.yaml", both);
	free(both);
	char spec[PATH_MAX];
	apply_ok(c, cli_path(&c->t, "spec.yaml", spec));

	/* host: the host's interfaces (those there before and after the look). */
	char *before = cli_read_file("/proc/net/dev");
	char *out = NULL, *err = NULL;
	int code = ZLQ(c->t.root, &out, &err, "exec", "h-rep-1", "-d", c->deployment, "--", "cat",
		       "/proc/net/dev");
	assert_exit(code, 0, out, err);
	char *after = cli_read_file("/proc/net/dev");
	size_t checked = 0;
	for (char *line = strtok(before, "\n"); line; line = strtok(NULL, "\n")) {
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		while (*line == ' ')
			line++;
		char name[32];
		snprintf(name, sizeof(name), "%.*s:", (int)(colon - line), line);
		char spaced[40];
		snprintf(spaced, sizeof(spaced), " %s", name);
		bool stays = strstr(after, spaced) || strncmp(after, name, strlen(name)) == 0;
		if (!stays)
			continue;
		if (!strstr(out, spaced))
			fail_msg("network_mode host does not see the host's %s:\n%s", name, out);
		checked++;
	}
	assert_true(checked >= 2); /* lo and at least one more */
	free(before);
	free(after);
	free(out);
	free(err);
	/* none: lo and nothing else. */
	code = ZLQ(c->t.root, &out, &err, "exec", "n-rep-1", "-d", c->deployment, "--", "cat",
		   "/proc/net/dev");
	assert_exit(code, 0, out, err);
	size_t ifaces = 0;
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"))
		if (strchr(line, ':')) {
			ifaces++;
			while (*line == ' ')
				line++;
			if (strncmp(line, "lo:", 3) != 0)
				fail_msg("network_mode none has interface %s", line);
		}
	assert_int_equal(ifaces, 1);
	free(out);
	free(err);
	/* Neither got an address or a namespace of ours. */
	cJSON *doc = status_of(c);
	cJSON *r;
	cJSON_ArrayForEach(r, cli_json_replicas(doc))
	assert_null(cli_json_str(r, "ip"));
	cJSON_Delete(doc);
	assert_int_equal(count_netns(c->deployment), 0);
	assert_doctor_clean(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_two_replicas_reach_each_other, case_setup,
						case_teardown),
		cmocka_unit_test_setup_teardown(test_host_reaches_replica_and_published_port,
						case_setup, case_teardown),
		cmocka_unit_test_setup_teardown(test_taken_port_creates_nothing, case_setup,
						case_teardown),
		cmocka_unit_test_setup_teardown(test_hundred_replicas_hundred_addresses, case_setup,
						case_teardown),
		cmocka_unit_test_setup_teardown(test_sigkill_mid_apply_then_reapply, case_setup,
						case_teardown),
		cmocka_unit_test_setup_teardown(test_restart_after_reboot, case_setup, case_teardown),
		cmocka_unit_test_setup_teardown(test_doctor_lists_and_fixes_orphans, case_setup,
						case_teardown),
		cmocka_unit_test_setup_teardown(test_two_roots_never_touch_each_other, case_setup,
						case_teardown),
		cmocka_unit_test_setup_teardown(test_lost_network_is_replaced, case_setup, case_teardown),
		cmocka_unit_test_setup_teardown(test_lost_and_corrupt_state, case_setup, case_teardown),
		cmocka_unit_test_setup_teardown(test_failed_creates_release_leases_and_bridge, case_setup,
						case_teardown),
		cmocka_unit_test_setup_teardown(test_network_modes_host_and_none, case_setup,
						case_teardown),
	};
	/* ZL_TEST_FILTER=test_name (globs) runs only some tests. */
	const char *filter = getenv("ZL_TEST_FILTER");
	if (filter && *filter)
		cmocka_set_test_filter(filter);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
