/* test_rollback.c: revisions, history and rollback end to end with real
 * containers (--backend oci, runc or crun; busybox from
 * scripts/build-example-image) serving HTTP through a port published on
 * 127.0.0.1, while a client polls that port every 20 ms:
 *   - a good rolling update (2 replicas, tcp health check): exit 0, no
 *     failed request;
 *   - a bad one (the new command never listens): rolled back automatically,
 *     exit 6, no failed request, the old spec serving, a "rollback" event;
 *   - history (text and -o json), rollback --to N, --to 999 (exit 2);
 *   - --no-rollback: the rollout stops (exit 5);
 *   - --wait --timeout 8s on a never-ready recreate: exit 3, well before the
 *     rollout deadline;
 *   - kill -9 in the middle of a rollback: the next apply finishes it.
 *
 * Safety: the replicas sit on this run's bridge "zlrb<pid%1000>" with the
 * subnet 10.220.<pid%250>.0/24; the only traffic goes to 127.0.0.1. The
 * deployment, the bridge and its rules are removed afterwards, also after a
 * failure. Skipped without root, a runtime or umoci. */
#include "oci-helpers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

static struct {
	bool usable;
	char skip_why[128];
	char bridge[16];
	char subnet[32];
	char dir[PATH_MAX];       /* the image */
	char image[PATH_MAX + 16]; /* oci:DIR/image:1.0 */
	char ip_forward[8];
	int port;
} g;

struct tcase {
	struct cli_tmp t;
	char deployment[32];
};

#define FLAGS(c) (&(struct oci_test_flags){ .root = (c)->t.root, .bridge = g.bridge, .subnet = g.subnet })
#define ZL(c, out, err, ...) \
	oci_test_run(OCI_FLAGS_AFTER_VERB, FLAGS(c), NULL, (const char *const[]){ __VA_ARGS__, NULL }, (out), (err))
/* history takes no --bridge/--subnet */
#define ZL_ROOT(c, out, err, ...)                                                                  \
	oci_test_run(OCI_FLAGS_AFTER_VERB, &(struct oci_test_flags){ .root = (c)->t.root }, NULL, \
		     (const char *const[]){ __VA_ARGS__, NULL }, (out), (err))

/* ---- the client: GET / on 127.0.0.1:port every 20 ms ---- */

/* The body's first line (malloc'd), NULL when the request failed. */
static char *http_get(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { 3, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	const char *req = "GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n";
	char buf[4096];
	size_t len = 0;
	ssize_t r;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
		close(fd);
		return NULL;
	}
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

struct poller {
	pid_t pid;
	int fd; /* reads "OK FAILED\n" when the poller ends */
};

static volatile sig_atomic_t poll_stop;
static void on_usr1(int sig)
{
	(void)sig;
	poll_stop = 1;
}

static void poller_start(struct poller *p)
{
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	fflush(stdout);
	fflush(stderr);
	p->pid = fork();
	assert_true(p->pid >= 0);
	if (p->pid == 0) {
		close(fds[0]);
		signal(SIGUSR1, on_usr1);
		long ok = 0, failed = 0;
		while (!poll_stop) {
			char *body = http_get(g.port);
			/* SIGUSR1 cuts the request in flight short (a socket
			 * with a timeout is not restarted after a handler:
			 * EINTR), so that last one is not the server's doing
			 * and is not counted. */
			if (body)
				ok++;
			else if (!poll_stop)
				failed++;
			free(body);
			usleep(20000);
		}
		dprintf(fds[1], "%ld %ld\n", ok, failed);
		_exit(0);
	}
	close(fds[1]);
	p->fd = fds[0];
}

static void poller_stop(struct poller *p, long *ok, long *failed)
{
	kill(p->pid, SIGUSR1);
	char buf[64] = "";
	ssize_t n = read(p->fd, buf, sizeof(buf) - 1);
	close(p->fd);
	int st;
	waitpid(p->pid, &st, 0);
	*ok = *failed = -1;
	if (n > 0 && sscanf(buf, "%ld %ld", ok, failed) != 2)
		*ok = *failed = -1;
}

/* ---- specs ---- */

/* web: two busybox httpd replicas serving `text`, or (listen false) a
 * process that never listens; health: tcp 8080 with the given start_grace
 * and rollout_deadline. */
static void write_spec_full(struct tcase *c, const char *image, const char *name, const char *text,
			    bool listen, const char *grace, const char *deadline, int replicas,
			    int max_unavailable, char path[PATH_MAX])
{
	char main_cmd[256];
	if (listen)
		snprintf(main_cmd, sizeof(main_cmd),
			 "mkdir -p /www; echo %s > /www/index.html; busybox httpd -f -p 8080 -h /www",
			 text);
	else
		snprintf(main_cmd, sizeof(main_cmd), "echo %s never listens; while true; do sleep 1; done",
			 text);
	char spec[8192];
	snprintf(spec, sizeof(spec),
		 "version: v1\n"
		 "deployment: %s\n"
		 "services:\n"
		 "  web:\n"
		 "    image: {name: \"%s\"}\n"
		 "    scale: {mode: fixed, replicas: %d}\n"
		 "    rollout: {max_unavailable: %d}\n"
		 "    command:\n"
		 "      args: [\"/bin/sh\", \"-c\", \"trap 'exit 0' TERM; %s & wait\"]\n"
		 "    stop_grace_period: 2s\n"
		 "    endpoints:\n"
		 "      - { name: http, protocol: http, port: %d, target_port: 8080 }\n"
		 "    health:\n"
		 "      check: {type: tcp, port: 8080}\n"
		 "      start_grace: %s\n"
		 "      interval: 1s\n"
		 "      timeout: 1s\n"
		 "      retries: 2\n"
		 "      rollout_deadline: %s\n",
		 c->deployment, image, replicas, max_unavailable, main_cmd, g.port, grace, deadline);
	cli_write_file(cli_path(&c->t, name, path), spec);
}
/* Two replicas, replaced one at a time. */
#define write_spec_of(c, image, name, text, listen, grace, deadline, path) \
	write_spec_full((c), (image), (name), (text), (listen), (grace), (deadline), 2, 1, (path))
#define write_spec(c, ...) write_spec_of((c), g.image, __VA_ARGS__)

/* Both replicas answer `want` on the published port (tries a while: the
 * rules follow the replicas). */
static void assert_serves(const char *want)
{
	int64_t end = cli_mono_ms() + 10000;
	int seen = 0;
	while (seen < 6) {
		char *body = http_get(g.port);
		if (body && strcmp(body, want) == 0)
			seen++;
		else if (cli_mono_ms() > end)
			fail_msg("127.0.0.1:%d answers \"%s\", want \"%s\"", g.port, body ? body : "(failed)",
				 want);
		free(body);
	}
}

/* `apply -f spec` while the client polls the published port; asserts
 * that it got answers and that no request failed. The apply's exit code. */
static int apply_polled(struct tcase *c, const char *what, const char *spec, char **out,
			char **err)
{
	struct poller p;
	long ok, failed;
	poller_start(&p);
	cli_sleep_ms(300);
	int code = ZL(c, out, err, "apply", "-f", spec);
	cli_sleep_ms(300);
	poller_stop(&p, &ok, &failed);
	print_message("%s: %ld requests answered, %ld failed\n", what, ok, failed);
	if (ok < 5 || failed != 0)
		fail_msg("%s: %ld requests answered, %ld failed (exit %d)\n%s", what, ok, failed, code,
			 *err);
	return code;
}

static int64_t db_int(struct tcase *c, const char *sql)
{
	return cli_db_int(c->t.root, sql, c->deployment);
}

/* ---- the tests ---- */

static void test_updates_rollback_and_history(void **state)
{
	struct tcase *c = *state;
	if (!g.usable)
		skip();
	char v1[PATH_MAX], v2[PATH_MAX], bad[PATH_MAX], *out = NULL, *err = NULL;
	write_spec(c, "v1.yaml", "v1", true, "1s", "20s", v1);
	write_spec(c, "v2.yaml", "v2", true, "1s", "20s", v2);
	write_spec(c, "bad.yaml", "v3", false, "1s", "20s", bad);

	int code = ZL(c, &out, &err, "apply", "-f", v1, "--wait", "--timeout", "60s");
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	assert_serves("v1");

	/* A good rolling update: no request fails. */
	code = apply_polled(c, "good update", v2, &out, &err);
	assert_exit(code, 0, out, err);
	assert_true(cli_action_index(out, "~ recreate web-rep-1") >= 0);
	assert_true(cli_action_index(out, "~ recreate web-rep-2") >= 0);
	free(out);
	free(err);
	assert_serves("v2");

	/* A bad one: rolled back automatically (exit 6), no request fails. */
	code = apply_polled(c, "bad update", bad, &out, &err);
	assert_exit(code, 6, out, err);
	assert_contains(err, "rolled back to revision 2");
	free(out);
	free(err);
	assert_serves("v2");
	assert_int_equal(db_int(c, "SELECT count(*) FROM events WHERE deployment = ?1 AND kind = 'rollback'"), 2);
	assert_int_equal(db_int(c, "SELECT count(*) FROM revisions WHERE deployment = ?1 AND number = 3 AND status = 'rolled back'"), 1);
	assert_int_equal(db_int(c, "SELECT restores FROM revisions WHERE deployment = ?1 AND number = 4 AND cause = 'automatic rollback' AND status = 'applied'"), 2);
	/* The same bad spec again (as cron would): rolled back again, and no
	 * new revisions. */
	code = ZL(c, &out, &err, "apply", "-q", "-f", bad);
	assert_exit(code, 6, out, err);
	free(out);
	free(err);
	assert_int_equal(db_int(c, "SELECT count(*) FROM revisions WHERE deployment = ?1"), 4);
	assert_serves("v2");

	/* history: text and JSON. */
	code = ZL_ROOT(c, &out, &err, "history", "-d", c->deployment);
	assert_exit(code, 0, out, err);
	assert_contains(out, "rolled back");
	assert_contains(out, "automatic rollback of 2");
	assert_contains(out, v1);
	free(out);
	free(err);
	code = ZL_ROOT(c, &out, &err, "history", "-d", c->deployment, "-o", "json");
	assert_exit(code, 0, out, err);
	cJSON *doc = cJSON_Parse(out);
	assert_non_null(doc);
	cJSON *revs = cJSON_GetObjectItem(doc, "revisions");
	assert_int_equal(cJSON_GetArraySize(revs), 4);
	cJSON *first = cJSON_GetArrayItem(revs, 0);
	assert_string_equal(cJSON_GetObjectItem(first, "source")->valuestring, v1);
	assert_contains(cJSON_GetObjectItem(first, "spec")->valuestring, "echo v1 >");
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(revs, 2), "status")->valuestring,
			    "rolled back");
	cJSON_Delete(doc);
	free(out);
	free(err);

	/* rollback --to 1, and to a revision that does not exist. */
	code = ZL(c, &out, &err, "rollback", "-d", c->deployment, "--to", "1");
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	assert_serves("v1");
	assert_int_equal(db_int(c, "SELECT restores FROM revisions WHERE deployment = ?1 AND number = 5 AND cause = 'rollback'"), 1);
	code = ZL(c, &out, &err, "rollback", "-d", c->deployment, "--to", "999");
	assert_exit(code, 2, out, err);
	assert_contains(err, "has no revision 999");
	free(out);
	free(err);

	/* --no-rollback: the rollout stops where it failed (exit 5). */
	code = ZL(c, &out, &err, "apply", "-f", bad, "--no-rollback");
	assert_exit(code, 5, out, err);
	assert_contains(err, "the rollout of web stops here");
	free(out);
	free(err);
	assert_int_equal(db_int(c, "SELECT count(*) FROM revisions WHERE deployment = ?1 AND number = 6 AND status = 'stopped'"), 1);
	assert_serves("v1"); /* replica 2 still serves the old spec */
}

/* A tag that does not exist: the new revision's rollout cannot begin, the
 * old replicas keep serving, and it is rolled back (exit 6). */
/* A rolling update in batches (4 replicas, rollout.max_unavailable 2): the
 * batch's replicas are replaced together, each keeps its address, and the
 * client polling the published port sees no failed request. */
static void test_rolling_batches_keep_serving(void **state)
{
	struct tcase *c = *state;
	if (!g.usable)
		skip();
	char v1[PATH_MAX], v2[PATH_MAX], *out = NULL, *err = NULL;
	write_spec_full(c, g.image, "v1.yaml", "v1", true, "1s", "20s", 4, 2, v1);
	write_spec_full(c, g.image, "v2.yaml", "v2", true, "1s", "20s", 4, 2, v2);
	int code = ZL(c, &out, &err, "apply", "-q", "-f", v1, "--wait", "--timeout", "60s");
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	assert_serves("v1");
	const char *ips_sql = "SELECT group_concat(idx || '=' || ip, ' ') FROM (SELECT idx, ip FROM replicas WHERE deployment = ?1 ORDER BY idx)";
	char *before = cli_db_text(c->t.root, ips_sql, c->deployment);
	code = apply_polled(c, "batched update", v2, &out, &err);
	assert_exit(code, 0, out, err);
	for (int i = 1; i <= 4; i++) {
		char line[64];
		snprintf(line, sizeof(line), "~ recreate web-rep-%d", i);
		assert_true(cli_action_index(out, line) >= 0);
	}
	free(out);
	free(err);
	assert_serves("v2");
	char *after = cli_db_text(c->t.root, ips_sql, c->deployment);
	assert_string_equal(before, after);
	free(before);
	free(after);
	/* replicas 1 and 2 went together (2's remove began before 1's new
	 * create was done), 3 and 4 only after both were back */
#define SPANS                                                                                      \
	"SELECT (SELECT created_at FROM journal WHERE deployment = ?1 AND action = 'remove' AND idx = %d)" \
	" < (SELECT max(finished_at) FROM journal WHERE deployment = ?1 AND action = 'create' AND idx = %d)"
	char sql[512];
	snprintf(sql, sizeof(sql), SPANS, 2, 1);
	assert_int_equal(db_int(c, sql), 1);
	for (int later = 3; later <= 4; later++)
		for (int first = 1; first <= 2; first++) {
			snprintf(sql, sizeof(sql), SPANS, later, first);
			if (db_int(c, sql) != 0)
				fail_msg("web-rep-%d was replaced before web-rep-%d was back", later, first);
		}
#undef SPANS
	assert_int_equal(db_int(c, "SELECT count(*) FROM replicas WHERE deployment = ?1 AND state = 'running'"), 4);
}

static void test_bad_image_tag_rolled_back(void **state)
{
	struct tcase *c = *state;
	if (!g.usable)
		skip();
	char v1[PATH_MAX], bad_tag[PATH_MAX + 16], badtag[PATH_MAX], *out = NULL, *err = NULL;
	write_spec(c, "v1.yaml", "v1", true, "1s", "20s", v1);
	snprintf(bad_tag, sizeof(bad_tag), "%.*s:no-such-tag", (int)(strlen(g.image) - 4), g.image);
	write_spec_of(c, bad_tag, "badtag.yaml", "v9", true, "1s", "20s", badtag);
	int code = ZL(c, &out, &err, "apply", "-q", "-f", v1, "--wait", "--timeout", "60s");
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	assert_serves("v1");
	code = apply_polled(c, "bad tag", badtag, &out, &err);
	assert_exit(code, 6, out, err);
	assert_contains(err, "no-such-tag cannot be had");
	assert_contains(err, "rolled back to revision 1");
	free(out);
	free(err);
	assert_serves("v1");
	assert_int_equal(db_int(c, "SELECT count(*) FROM revisions WHERE deployment = ?1 AND number = 2 AND status = 'rolled back'"), 1);
	assert_int_equal(db_int(c, "SELECT restores FROM revisions WHERE deployment = ?1 AND number = 3 AND cause = 'automatic rollback'"), 1);
}

static void test_wait_timeout_bounds_the_rollout(void **state)
{
	struct tcase *c = *state;
	if (!g.usable)
		skip();
	char v1[PATH_MAX], slow[PATH_MAX], *out = NULL, *err = NULL;
	write_spec(c, "v1.yaml", "v1", true, "1s", "20s", v1);
	/* Failures within start_grace do not count: only a deadline ends it. */
	write_spec(c, "slow.yaml", "slow", false, "60s", "60s", slow);
	int code = ZL(c, &out, &err, "apply", "-f", v1, "--wait", "--timeout", "60s");
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	int64_t t0 = cli_mono_ms();
	code = ZL(c, &out, &err, "apply", "-f", slow, "--wait", "--timeout", "8s");
	int64_t took = cli_mono_ms() - t0;
	print_message("--wait --timeout 8s returned after %lld ms\n", (long long)took);
	assert_exit(code, 3, out, err);
	assert_contains(err, "when --timeout ran out");
	assert_true(took < 20000); /* a correctness bound: the rollout deadline is 60 s */
	free(out);
	free(err);
	assert_serves("v1");
}

static void test_kill9_during_rollback(void **state)
{
	struct tcase *c = *state;
	if (!g.usable)
		skip();
	char v1[PATH_MAX], v2[PATH_MAX], *out = NULL, *err = NULL;
	write_spec(c, "v1.yaml", "v1", true, "1s", "20s", v1);
	write_spec(c, "v2.yaml", "v2", true, "1s", "20s", v2);
	int code = ZL(c, &out, &err, "apply", "-f", v1, "--wait", "--timeout", "60s");
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	code = ZL(c, &out, &err, "apply", "-f", v2);
	assert_exit(code, 0, out, err);
	free(out);
	free(err);

	/* Kill the rollback once its first replica is being replaced. */
	struct cli_proc p;
	oci_test_spawn(OCI_FLAGS_AFTER_VERB, FLAGS(c), NULL,
		       (const char *const[]){ "rollback", "-d", c->deployment, NULL }, &p);
	int64_t end = cli_mono_ms() + 30000;
	while (db_int(c, "SELECT count(*) FROM journal WHERE deployment = ?1 AND action = 'create' "
			 "AND created_at >= (SELECT created_at FROM revisions WHERE deployment = ?1 AND number = 3)") == 0) {
		if (cli_mono_ms() > end)
			fail_msg("the rollback never started a recreate");
		cli_sleep_ms(20);
	}
	kill(p.pid, SIGKILL);
	code = cli_wait(&p, &out, &err);
	assert_int_equal(code, 128 + SIGKILL);
	free(out);
	free(err);
	assert_int_equal(db_int(c, "SELECT count(*) FROM revisions WHERE deployment = ?1 AND number = 3 AND status = 'applying'"), 1);

	/* The next apply finishes the rollback first. */
	code = ZL(c, &out, &err, "apply", "-f", v1);
	assert_exit(code, 0, out, err);
	assert_contains(err, "finishing the interrupted rollback to revision 1");
	free(out);
	free(err);
	assert_int_equal(db_int(c, "SELECT count(*) FROM revisions WHERE deployment = ?1 AND number = 3 AND status = 'applied'"), 1);
	assert_int_equal(db_int(c, "SELECT count(*) FROM revisions WHERE deployment = ?1"), 3);
	assert_int_equal(db_int(c, "SELECT count(*) FROM journal WHERE deployment = ?1 AND status = 'pending'"), 0);
	assert_int_equal(db_int(c, "SELECT count(*) FROM replicas WHERE deployment = ?1 AND state = 'running'"), 2);
	assert_serves("v1");
}

static void test_rollback_to_a_gone_image(void **state)
{
	struct tcase *c = *state;
	if (!g.usable)
		skip();
	/* Revision 1 runs a copy of the image that is then deleted and pruned. */
	char copy[PATH_MAX], old_image[PATH_MAX + 16];
	cli_pathf(copy, "%s/image-%s", g.dir, c->deployment);
	/* Another config, so another digest than the image revision 2 runs. */
	assert_int_equal(oci_test_sh_quiet("cp -a '%s/image' '%s' && umoci config --image '%s:1.0' "
					   "--config.env REVISION=one",
					   g.dir, copy, copy),
			 0);
	snprintf(old_image, sizeof(old_image), "oci:%s:1.0", copy);
	char v1[PATH_MAX], v2[PATH_MAX], *out = NULL, *err = NULL;
	write_spec_of(c, old_image, "v1.yaml", "v1", true, "1s", "20s", v1);
	write_spec(c, "v2.yaml", "v2", true, "1s", "20s", v2);
	int code = ZL(c, &out, &err, "apply", "-q", "-f", v1, "--wait", "--timeout", "60s");
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	code = ZL(c, &out, &err, "apply", "-q", "-f", v2);
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	cli_rm_rf(copy);
	code = ZL_ROOT(c, &out, &err, "prune");
	assert_exit(code, 0, out, err);
	free(out);
	free(err);

	code = ZL(c, &out, &err, "rollback", "-d", c->deployment, "--to", "1");
	assert_exit(code, 1, out, err);
	assert_contains(err, "revision 1: service web: image");
	assert_contains(err, "cannot be had");
	assert_contains(err, "nothing was changed");
	free(out);
	free(err);
	assert_int_equal(db_int(c, "SELECT count(*) FROM revisions WHERE deployment = ?1"), 2);
	assert_serves("v2");
}

/* ---- set-up ---- */

static int group_setup(void **state)
{
	(void)state;
	int pid = (int)getpid();
	snprintf(g.bridge, sizeof(g.bridge), "zlrb%d", pid % 1000);
	snprintf(g.subnet, sizeof(g.subnet), "10.220.%d.0/24", pid % 250);
	g.port = 21000 + pid % 1000;
	if (geteuid() != 0) {
		snprintf(g.skip_why, sizeof(g.skip_why), "needs root");
		return 0;
	}
	if (!oci_test_have("runc") && !oci_test_have("crun")) {
		snprintf(g.skip_why, sizeof(g.skip_why), "no runc or crun");
		return 0;
	}
	if (!oci_test_have("umoci")) {
		snprintf(g.skip_why, sizeof(g.skip_why), "no umoci to build the image");
		return 0;
	}
	snprintf(g.dir, sizeof(g.dir), "/tmp/zlrollback-XXXXXX");
	if (!mkdtemp(g.dir))
		return -1;
	char layout[PATH_MAX];
	if (oci_test_build_example_image(cli_pathf(layout, "%s/image", g.dir)) < 0)
		return -1;
	snprintf(g.image, sizeof(g.image), "oci:%s:1.0", layout);
	oci_test_ip_forward_save(g.ip_forward, sizeof(g.ip_forward));
	g.usable = true;
	fprintf(stderr, "# bridge %s, subnet %s, port 127.0.0.1:%d\n", g.bridge, g.subnet, g.port);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (!g.usable)
		return 0;
	oci_test_bridge_rules_delete(g.bridge, g.subnet);
	oci_test_bridge_delete(g.bridge);
	oci_test_ip_forward_restore(g.ip_forward);
	cli_rm_rf(g.dir);
	return 0;
}

static int case_setup(void **state)
{
	struct tcase *c = calloc(1, sizeof(*c));
	if (!c)
		return -1;
	cli_tmp_make(&c->t);
	static int seq;
	snprintf(c->deployment, sizeof(c->deployment), "rb%d-%d", (int)getpid(), ++seq);
	*state = c;
	return 0;
}

static int case_teardown(void **state)
{
	struct tcase *c = *state;
	if (g.usable)
		oci_test_delete_and_fix(OCI_FLAGS_FIRST, FLAGS(c), c->deployment);
	cli_tmp_remove(&c->t);
	free(c);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_updates_rollback_and_history, case_setup,
						case_teardown),
		cmocka_unit_test_setup_teardown(test_rolling_batches_keep_serving, case_setup,
						case_teardown),
		cmocka_unit_test_setup_teardown(test_bad_image_tag_rolled_back, case_setup,
						case_teardown),
		cmocka_unit_test_setup_teardown(test_wait_timeout_bounds_the_rollout, case_setup,
						case_teardown),
		cmocka_unit_test_setup_teardown(test_kill9_during_rollback, case_setup, case_teardown),
		cmocka_unit_test_setup_teardown(test_rollback_to_a_gone_image, case_setup,
						case_teardown),
	};
	int failed = cmocka_run_group_tests(tests, group_setup, group_teardown);
	if (!g.usable && g.skip_why[0])
		fprintf(stderr, "# skipped: %s\n", g.skip_why);
	return failed;
}
