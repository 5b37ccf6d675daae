/* test_health.c: health probes, `depends`, init steps and `apply --wait`,
 * end to end with the real zlapply binary.
 *
 * The first group runs against the mock backend: its replicas have no
 * network namespace, so tcp/http probes fail with "no network namespace",
 * while command probes go through the mock's exec (0 while running). With
 * network_mode host the probes and init waits run in the host's namespace
 * against listeners this test opens on 127.0.0.1 only.
 *
 * The second group runs real containers (--backend oci) from the offline
 * busybox image (scripts/build-example-image), on a bridge and subnet of
 * their own (zlh<pid%1000>, 10.216.<100+pid%50>.0/24, outside the default
 * 10.213.0.0/16); probes connect only
 * inside the replicas' namespaces. Everything is deleted afterwards: the
 * deployment, the bridge and its masquerading rule. Skipped without root,
 * crun/runc or umoci.
 */
#include "oci-helpers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "common/common.h"

static char *write_spec(const struct cli_tmp *t, const char *name, const char *text,
			char path[PATH_MAX])
{
	cli_path(t, name, path);
	cli_write_file(path, text);
	return path;
}

/* Row field of one replica as text (malloc'd) / integer. */
static char *replica_text(const char *root, const char *column, const char *service, int index)
{
	char sql[256];
	snprintf(sql, sizeof(sql), "SELECT %s FROM replicas WHERE service = ?1 AND idx = %d", column,
		 index);
	return cli_db_text(root, sql, service);
}

static int64_t replica_int(const char *root, const char *column, const char *service, int index)
{
	char sql[256];
	snprintf(sql, sizeof(sql), "SELECT %s FROM replicas WHERE service = ?1 AND idx = %d", column,
		 index);
	return cli_db_int(root, sql, service);
}

static int64_t count_events(const char *root, const char *service, const char *kind)
{
	char sql[256];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM events WHERE service = ?1 AND kind = '%s'",
		 kind);
	return cli_db_int(root, sql, service);
}

/* A TCP listener on 127.0.0.1 that accepts (the kernel's backlog) but never
 * answers: a connect succeeds, an HTTP request hangs. *port gets its port. */
static int listen_loopback(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 16), 0);
	socklen_t len = sizeof(a);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/* A loopback port nothing listens on (bound, then closed). */
static int free_port(void)
{
	int port;
	int fd = listen_loopback(&port);
	close(fd);
	return port;
}

/* ---- depends (mock) ---- */

static const char deps_healthy[] =
	"version: v1\n"
	"deployment: deps\n"
	"services:\n"
	"  api:\n" /* listed first: the order comes from depends */
	"    image: {name: \"nginx:1.25\"}\n"
	"    depends:\n"
	"      - service: db\n"
	"        condition: healthy\n"
	"        timeout: 10s\n"
	"  db:\n"
	"    image: {name: \"nginx:1.25\"}\n"
	"    health:\n"
	"      check: {type: command, command: \"true\"}\n"
	"      interval: 1s\n";

static void test_depends_order_waits_for_healthy(void **state)
{
	struct cli_tmp *t = *state;
	char spec[PATH_MAX], *out = NULL, *err = NULL;
	write_spec(t, "deps.yaml", deps_healthy, spec);
	int code = run_zlapply(t->root, NULL, &out, &err, "apply", "-f", spec);
	assert_exit(code, 0, out, err);
	long db = cli_line_index(out, "+ create db-rep-1"), api = cli_line_index(out, "+ create api-rep-1");
	if (db < 0 || api < 0 || db > api)
		fail_msg("db must be created before api:\n%s", out);
	/* api started only after db's probe passed. */
	int64_t healthy_id = cli_db_int(t->root,
					"SELECT min(id) FROM events WHERE service = 'db' AND kind = 'healthy'", NULL);
	int64_t api_id = cli_db_int(t->root,
				    "SELECT min(id) FROM events WHERE service = 'api' AND kind = 'started'", NULL);
	assert_true(healthy_id > 0);
	assert_true(api_id > healthy_id);
	char *health = replica_text(t->root, "health", "db", 1);
	assert_string_equal(health, "healthy");
	free(health);
	char *st = replica_text(t->root, "state", "api", 1);
	assert_string_equal(st, "running");
	free(st);
	free(out);
	free(err);
}

/* db's tcp probe can never pass on the mock (no network namespace). */
static void write_blocked_spec(const char *path, const char *condition, const char *on_timeout)
{
	char text[1024];
	snprintf(text, sizeof(text),
		 "version: v1\n"
		 "deployment: blocked\n"
		 "services:\n"
		 "  db:\n"
		 "    image: {name: \"nginx:1.25\"}\n"
		 "    health:\n"
		 "      check: {type: tcp, port: 5432}\n"
		 "      start_grace: 60s\n"
		 "      interval: 1s\n"
		 "  api:\n"
		 "    image: {name: \"nginx:1.25\"}\n"
		 "    depends:\n"
		 "      - service: db\n"
		 "        condition: %s\n"
		 "        timeout: 1s\n"
		 "        on_timeout: %s\n",
		 condition, on_timeout);
	cli_write_file(path, text);
}

static void test_depends_timeout_fail(void **state)
{
	struct cli_tmp *t = *state;
	char spec[PATH_MAX], *out = NULL, *err = NULL;
	cli_path(t, "blocked.yaml", spec);
	write_blocked_spec(spec, "healthy", "fail");
	int64_t t0 = cli_mono_ms();
	int code = run_zlapply(t->root, NULL, &out, &err, "apply", "-f", spec);
	int64_t took = cli_mono_ms() - t0;
	assert_exit(code, 1, out, err);
	assert_true(took >= 900 && took < 10000);
	assert_contains(err, "create api-rep-1: depends: db is not healthy after 1s");
	assert_contains(err, "no network namespace");
	/* The dependent is recorded as failed, with the reason, and not created. */
	char *st = replica_text(t->root, "state", "api", 1), *why = replica_text(t->root, "error", "api", 1);
	assert_string_equal(st, "failed");
	assert_contains(why, "depends: db is not healthy");
	assert_true(count_events(t->root, "api", "started") == 0);
	char **names;
	size_t n = cli_mock_names(t->root, true, &names);
	assert_int_equal(n, 1);
	assert_string_equal(names[0], "zl-blocked-db-1");
	cli_names_free(names);
	free(st);
	free(why);
	free(out);
	free(err);
}

/* --wait --timeout bounds the whole apply: a depends wait of 60s (even with
 * on_timeout warn) ends when the 2s run out, exit 3. */
static void test_depends_wait_bounded_by_timeout(void **state)
{
	struct cli_tmp *t = *state;
	char spec[PATH_MAX], *out = NULL, *err = NULL;
	write_spec(t, "slowdep.yaml",
		   "version: v1\n"
		   "deployment: slowdep\n"
		   "services:\n"
		   "  db:\n"
		   "    image: {name: \"nginx:1.25\"}\n"
		   "    health: {check: {type: tcp, port: 5432}, start_grace: 60s, interval: 1s}\n"
		   "  api:\n"
		   "    image: {name: \"nginx:1.25\"}\n"
		   "    depends: [{service: db, condition: healthy, timeout: 60s, on_timeout: warn}]\n",
		   spec);
	int64_t t0 = cli_mono_ms();
	int code = run_zlapply(t->root, NULL, &out, &err, "apply", "-f", spec, "--wait", "--timeout",
			       "2s");
	int64_t took = cli_mono_ms() - t0;
	assert_exit(code, 3, out, err);
	assert_true(took < 15000); /* a correctness bound: the depends timeout is 60 s */
	assert_contains(err, "depends: db is not healthy when --timeout ran out");
	free(out);
	free(err);
}

static void test_depends_timeout_warn_and_continue(void **state)
{
	struct cli_tmp *t = *state;
	static const char *const modes[] = { "warn", "continue" };
	for (size_t m = 0; m < 2; m++) {
		char spec[PATH_MAX], root[PATH_MAX], *out = NULL, *err = NULL;
		cli_pathf(spec, "%s/%s.yaml", t->dir, modes[m]);
		cli_pathf(root, "%s/root-%s", t->dir, modes[m]);
		write_blocked_spec(spec, "ready", modes[m]);
		int code = run_zlapply(root, NULL, &out, &err, "apply", "-f", spec);
		assert_exit(code, 0, out, err);
		char *st = replica_text(root, "state", "api", 1);
		assert_string_equal(st, "running");
		free(st);
		if (m == 0)
			assert_contains(err, "going on (on_timeout: warn)");
		else if (strstr(err, "going on"))
			fail_msg("on_timeout continue must be silent:\n%s", err);
		free(out);
		free(err);
	}
}

static void test_depends_started_does_not_wait_for_health(void **state)
{
	struct cli_tmp *t = *state;
	char spec[PATH_MAX], *out = NULL, *err = NULL;
	cli_path(t, "started.yaml", spec);
	write_blocked_spec(spec, "started", "fail");
	int64_t t0 = cli_mono_ms();
	int code = run_zlapply(t->root, NULL, &out, &err, "apply", "-f", spec);
	assert_exit(code, 0, out, err);
	assert_true(cli_mono_ms() - t0 < 900); /* never waited for the 1s timeout */
	char *st = replica_text(t->root, "state", "api", 1);
	assert_string_equal(st, "running");
	free(st);
	free(out);
	free(err);
}

/* ---- --wait (mock) ---- */

static const char wait_unready[] =
	"version: v1\n"
	"deployment: waitd\n"
	"services:\n"
	"  web:\n"
	"    image: {name: \"nginx:1.25\"}\n"
	"    health:\n"
	"      check: {type: tcp, port: 8080}\n"
	"      start_grace: 60s\n"
	"      interval: 1s\n"
	"      timeout: 1s\n";

static void test_wait_timeout_exit_3(void **state)
{
	struct cli_tmp *t = *state;
	char spec[PATH_MAX], *out = NULL, *err = NULL;
	write_spec(t, "wait.yaml", wait_unready, spec);
	int64_t t0 = cli_mono_ms();
	int code = run_zlapply(t->root, NULL, &out, &err, "apply", "-f", spec, "--wait", "--timeout",
			       "2s");
	int64_t took = cli_mono_ms() - t0;
	assert_exit(code, 3, out, err);
	assert_true(took >= 1900 && took < 15000);
	assert_contains(err, "not ready after");
	assert_contains(err, "waitd/web-rep-1: running, health starting: no network namespace");
	assert_contains(err, "last log lines:");
	assert_contains(err, "| mock: zl-waitd-web-1 started");
	free(out);
	free(err);
}

static void test_wait_ready_exit_0(void **state)
{
	struct cli_tmp *t = *state;
	char spec[PATH_MAX], *out = NULL, *err = NULL;
	write_spec(t, "deps.yaml", deps_healthy, spec);
	int code = run_zlapply(t->root, NULL, &out, &err, "apply", "-f", spec, "--wait", "--timeout",
			       "10s");
	assert_exit(code, 0, out, err);
	assert_contains(err, "every replica is ready");
	free(out);
	free(err);
	/* Usage errors. */
	code = run_zlapply(t->root, NULL, &out, &err, "apply", "-f", spec, "--timeout", "10s");
	assert_exit(code, 2, out, err);
	assert_contains(err, "--timeout goes with --wait");
	free(out);
	free(err);
}

/* ---- probes on the host network (mock, network_mode host) ---- */

static void test_hanging_http_probe_is_bounded(void **state)
{
	struct cli_tmp *t = *state;
	int port;
	int fd = listen_loopback(&port); /* accepts, never answers */
	char text[1024], spec[PATH_MAX], *out = NULL, *err = NULL;
	snprintf(text, sizeof(text),
		 "version: v1\n"
		 "deployment: hang\n"
		 "services:\n"
		 "  web:\n"
		 "    image: {name: \"nginx:1.25\"}\n"
		 "    network_mode: host\n"
		 "    health:\n"
		 "      check: {type: http, url: \"http://127.0.0.1:%d/health\"}\n"
		 "      start_grace: 0s\n"
		 "      interval: 1s\n"
		 "      timeout: 1s\n"
		 "      retries: 1\n",
		 port);
	write_spec(t, "hang.yaml", text, spec);
	int64_t t0 = cli_mono_ms();
	int code = run_zlapply(t->root, NULL, &out, &err, "apply", "-f", spec);
	int64_t took = cli_mono_ms() - t0;
	close(fd);
	/* The apply did its work; the liveness restart is not a failure. */
	assert_exit(code, 0, out, err);
	assert_true(took < 8000);
	assert_true(count_events(t->root, "web", "unhealthy") == 1);
	assert_int_equal(replica_int(t->root, "restarts", "web", 1), 1);
	char *msg = cli_db_text(t->root, "SELECT message FROM events WHERE kind = 'unhealthy'", NULL);
	if (!strstr(msg, "timed out") && !strstr(msg, "Timeout"))
		fail_msg("unhealthy event does not say the probe timed out: %s", msg);
	free(msg);
	free(out);
	free(err);
}

static void test_rollout_stops_at_a_replica_that_is_not_ready(void **state)
{
	struct cli_tmp *t = *state;
	char spec[PATH_MAX], *out = NULL, *err = NULL;
	const char *v1 = "version: v1\n"
			 "deployment: roll\n"
			 "services:\n"
			 "  web:\n"
			 "    image: {name: \"nginx:1.25\"}\n"
			 "    scale: {mode: fixed, replicas: 2}\n";
	write_spec(t, "roll.yaml", v1, spec);
	int code = run_zlapply(t->root, NULL, &out, &err, "apply", "-f", spec);
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	char *old2 = replica_text(t->root, "spec_hash", "web", 2);

	/* v2 adds a probe that cannot pass: replica 1 is replaced, never gets
	 * ready, and replica 2 keeps the old spec. */
	char v2[1024];
	snprintf(v2, sizeof(v2),
		 "%s    health:\n"
		 "      check: {type: tcp, port: 8080}\n"
		 "      start_grace: 0s\n"
		 "      interval: 1s\n"
		 "      timeout: 1s\n"
		 "      retries: 2\n",
		 v1);
	write_spec(t, "roll.yaml", v2, spec);
	int64_t t0 = cli_mono_ms();
	/* --no-rollback: it stops there (exit 5; test_rollback.c has the rest) */
	code = run_zlapply(t->root, NULL, &out, &err, "apply", "-f", spec, "--no-rollback");
	assert_exit(code, 5, out, err);
	assert_true(cli_mono_ms() - t0 < 15000);
	assert_true(cli_action_index(out, "~ recreate web-rep-1") >= 0);
	assert_true(cli_action_index(out, "~ recreate web-rep-2") < 0);
	assert_contains(err, "web-rep-1 is not ready after");
	assert_contains(err, "rollout of web stop");
	char *new2 = replica_text(t->root, "spec_hash", "web", 2);
	assert_string_equal(old2, new2);
	free(old2);
	free(new2);
	free(out);
	free(err);
}

/* ---- init steps (mock) ---- */

static void test_init_run_with_env_and_failure_policies(void **state)
{
	struct cli_tmp *t = *state;
	char text[PATH_MAX + 2048], spec[PATH_MAX], marker[PATH_MAX], *out = NULL, *err = NULL;
	cli_path(t, "marker", marker);
	snprintf(text, sizeof(text),
		 "version: v1\n"
		 "deployment: init\n"
		 "services:\n"
		 "  web:\n"
		 "    image: {name: \"nginx:1.25\"}\n"
		 "    env: {GREETING: hi}\n"
		 "    init:\n"
		 "      steps:\n"
		 "        - id: note\n"
		 "          uses: init.run\n"
		 "          with: {command: \"echo $GREETING > %s\"}\n"
		 "        - id: optional\n"
		 "          uses: init.run\n"
		 "          with: {command: \"exit 4\"}\n"
		 "          on_failure: warn\n"
		 "  broken:\n"
		 "    image: {name: \"nginx:1.25\"}\n"
		 "    init:\n"
		 "      steps:\n"
		 "        - id: migrate\n"
		 "          uses: init.run\n"
		 "          with: {command: \"echo no database; exit 3\", timeout: 5s}\n",
		 marker);
	write_spec(t, "init.yaml", text, spec);
	int code = run_zlapply(t->root, NULL, &out, &err, "apply", "-f", spec);
	assert_exit(code, 1, out, err);
	char *greeting = cli_read_file(marker);
	assert_non_null(greeting);
	assert_string_equal(greeting, "hi\n");
	free(greeting);
	assert_contains(err, "init step optional (init.run): exit code 4");
	char *st = replica_text(t->root, "state", "web", 1);
	assert_string_equal(st, "running");
	free(st);
	st = replica_text(t->root, "state", "broken", 1);
	char *why = replica_text(t->root, "error", "broken", 1);
	assert_string_equal(st, "failed");
	assert_contains(why, "init: step migrate (init.run): exit code 3: no database");
	free(st);
	free(why);
	free(out);
	free(err);

	/* errors.on_init_failure fail (the default): not tried again with the same spec. */
	code = run_zlapply(t->root, NULL, &out, &err, "apply", "-f", spec);
	assert_exit(code, 1, out, err);
	assert_contains(err, "recreate broken-rep-1: stays failed (errors.on_init_failure: fail");
	assert_int_equal(count_events(t->root, "broken", "failed"), 1);
	free(out);
	free(err);
}

static void test_init_backoff(void **state)
{
	struct cli_tmp *t = *state;
	char spec[PATH_MAX], *out = NULL, *err = NULL;
	write_spec(t, "backoff.yaml",
		   "version: v1\n"
		   "deployment: backoff\n"
		   "services:\n"
		   "  web:\n"
		   "    image: {name: \"nginx:1.25\"}\n"
		   "    errors: {on_init_failure: {action: backoff}}\n"
		   "    init:\n"
		   "      steps:\n"
		   "        - id: fails\n"
		   "          uses: init.run\n"
		   "          with: {command: \"exit 1\"}\n",
		   spec);
	int code = run_zlapply(t->root, NULL, &out, &err, "apply", "-f", spec);
	assert_exit(code, 1, out, err);
	free(out);
	free(err);
	int64_t delay1 = replica_int(t->root, "backoff_until - updated_at", "web", 1);
	assert_true(delay1 >= 900 && delay1 <= 1100);

	/* Within the back-off: nothing is tried. */
	code = run_zlapply(t->root, NULL, &out, &err, "apply", "-f", spec);
	assert_exit(code, 0, out, err);
	assert_int_equal(count_events(t->root, "web", "failed"), 1);
	free(out);
	free(err);

	/* After it: tried again, and the next wait doubles. */
	cli_sleep_ms(1200);
	code = run_zlapply(t->root, NULL, &out, &err, "apply", "-f", spec);
	assert_exit(code, 1, out, err);
	assert_int_equal(count_events(t->root, "web", "failed"), 2);
	int64_t delay2 = replica_int(t->root, "backoff_until - updated_at", "web", 1);
	assert_true(delay2 >= 1900 && delay2 <= 2100);
	free(out);
	free(err);
}

static void test_init_wait_tcp(void **state)
{
	struct cli_tmp *t = *state;
	int port;
	int fd = listen_loopback(&port);
	int closed = free_port();
	char text[1536], spec[PATH_MAX], *out = NULL, *err = NULL;
	snprintf(text, sizeof(text),
		 "version: v1\n"
		 "deployment: waittcp\n"
		 "services:\n"
		 "  up:\n"
		 "    image: {name: \"nginx:1.25\"}\n"
		 "    network_mode: host\n"
		 "    init:\n"
		 "      steps:\n"
		 "        - {id: db, uses: init.wait_tcp, with: {host: 127.0.0.1, port: %d, timeout: 5s}}\n"
		 "  down:\n"
		 "    image: {name: \"nginx:1.25\"}\n"
		 "    network_mode: host\n"
		 "    init:\n"
		 "      steps:\n"
		 "        - {id: db, uses: init.wait_tcp, with: {host: 127.0.0.1, port: %d, timeout: 1s}}\n",
		 port, closed);
	write_spec(t, "waittcp.yaml", text, spec);
	int64_t t0 = cli_mono_ms();
	int code = run_zlapply(t->root, NULL, &out, &err, "apply", "-f", spec);
	int64_t took = cli_mono_ms() - t0;
	close(fd);
	assert_exit(code, 1, out, err);
	assert_true(took >= 900 && took < 8000);
	char *st = replica_text(t->root, "state", "up", 1);
	assert_string_equal(st, "running");
	free(st);
	char *why = replica_text(t->root, "error", "down", 1);
	assert_contains(why, "init: step db (init.wait_tcp): still failing after 1s: connect 127.0.0.1:");
	assert_contains(why, "Connection refused");
	free(why);
	free(out);
	free(err);
}

/* ---- real containers (oci) ---- */

static struct {
	bool usable;
	char skip_why[256];
	char dir[PATH_MAX];   /* scratch: image, specs */
	char image[PATH_MAX]; /* dir/image */
	char bridge[16];
	char cidr[32];
} oci;

static int oci_group_setup(void **state)
{
	(void)state;
	int pid = (int)getpid();
	snprintf(oci.bridge, sizeof(oci.bridge), "zlh%d", pid % 1000);
	snprintf(oci.cidr, sizeof(oci.cidr), "10.216.%d.0/24", 100 + pid % 50);
	if (geteuid() != 0) {
		snprintf(oci.skip_why, sizeof(oci.skip_why), "needs root");
		return 0;
	}
	if (!oci_test_have("crun") && !oci_test_have("runc")) {
		snprintf(oci.skip_why, sizeof(oci.skip_why), "no crun or runc");
		return 0;
	}
	if (!oci_test_have("umoci")) {
		snprintf(oci.skip_why, sizeof(oci.skip_why), "no umoci to build the image");
		return 0;
	}
	snprintf(oci.dir, sizeof(oci.dir), "/tmp/zlhealth-XXXXXX");
	if (!mkdtemp(oci.dir))
		return -1;
	cli_pathf(oci.image, "%s/image", oci.dir);
	if (oci_test_build_example_image(oci.image) < 0) {
		snprintf(oci.skip_why, sizeof(oci.skip_why), "build-example-image failed");
		return 0;
	}
	oci.usable = true;
	fprintf(stderr, "# oci: bridge %s, subnet %s\n", oci.bridge, oci.cidr);
	return 0;
}

static int oci_group_teardown(void **state)
{
	(void)state;
	if (oci.dir[0])
		cli_rm_rf(oci.dir);
	return 0;
}

#define run_oci(state_root, out, err, ...)                                                    \
	oci_test_run(OCI_FLAGS_LAST,                                                           \
		     &(struct oci_test_flags){ .root = (state_root), .bridge = oci.bridge,     \
					       .subnet = oci.cidr },                           \
		     NULL, (const char *const[]){ __VA_ARGS__, NULL }, (out), (err))

/* Deletes the deployment, then the bridge and its masquerading rule. */
static void oci_cleanup(const char *root, const char *deployment)
{
	char *out = NULL, *err = NULL;
	int code = run_oci(root, &out, &err, "delete", "-d", deployment);
	if (code != 0)
		print_message("cleanup: delete %s: exit %d: %s\n", deployment, code, err);
	free(out);
	free(err);
	oci_test_bridge_delete(oci.bridge);
	char cmd[512];
	snprintf(cmd, sizeof(cmd),
		 "iptables -w -t nat -D POSTROUTING -s %s ! -o %s -m comment --comment zlapply "
		 "-j MASQUERADE >/dev/null 2>&1",
		 oci.cidr, oci.bridge);
	if (system(cmd) != 0)
		print_message("cleanup: no masquerading rule for %s\n", oci.cidr);
}

/* A busybox replica that traps TERM (so stops are quick) and runs `main`. */
static void oci_service(struct zl_buf *b, const char *name, const char *main_cmd,
			const char *health)
{
	zl_buf_printf(b,
		      "  %s:\n"
		      "    image: {name: \"oci:%s:1.0\"}\n"
		      "    command:\n"
		      "      args: [\"/bin/sh\", \"-c\", \"echo %s says hello; trap 'exit 0' TERM; %s & wait\"]\n"
		      "    stop_grace_period: 2s\n"
		      "    health:\n%s",
		      name, oci.image, name, main_cmd, health);
}

static void test_oci_failing_tcp_probe_restarts_replica(void **state)
{
	struct cli_tmp *t = *state;
	if (!oci.usable)
		skip();
	struct zl_buf b = { 0 };
	zl_buf_puts(&b, "version: v1\ndeployment: hlive\nservices:\n");
	oci_service(&b, "bad", "while true; do sleep 1; done",
		    "      check: {type: tcp, port: 9}\n"
		    "      start_grace: 0s\n"
		    "      interval: 1s\n"
		    "      timeout: 1s\n"
		    "      retries: 2\n");
	char spec[PATH_MAX], *out = NULL, *err = NULL;
	write_spec(t, "live.yaml", b.data, spec);
	zl_buf_free(&b);
	int64_t t0 = cli_mono_ms();
	int code = run_oci(t->root, &out, &err, "apply", "-f", spec, "--wait", "--timeout", "6s");
	int64_t took = cli_mono_ms() - t0;
	int64_t restarts = replica_int(t->root, "restarts", "bad", 1);
	int64_t unhealthy = count_events(t->root, "bad", "unhealthy");
	char *msg = cli_db_text(t->root, "SELECT message FROM events WHERE kind = 'unhealthy'", NULL);
	oci_cleanup(t->root, "hlive");
	assert_exit(code, 3, out, err);
	assert_true(took < 30000);
	assert_true(restarts >= 1);
	assert_true(unhealthy >= 1);
	assert_contains(msg, "connect 127.0.0.1:9: Connection refused");
	assert_contains(err, "hlive/bad-rep-1: running");
	assert_contains(err, "| bad says hello");
	free(msg);
	free(out);
	free(err);
}

static void test_oci_http_probe_healthy_and_wait(void **state)
{
	struct cli_tmp *t = *state;
	if (!oci.usable)
		skip();
	struct zl_buf b = { 0 };
	zl_buf_puts(&b, "version: v1\ndeployment: hhttp\nservices:\n");
	oci_service(&b, "web",
		    "mkdir -p /www; echo ok > /www/index.html; busybox httpd -f -p 8080 -h /www",
		    "      check: {type: http, url: \"http://localhost:8080/\", expect_status: 200}\n"
		    "      start_grace: 5s\n"
		    "      interval: 1s\n"
		    "      timeout: 2s\n");
	char spec[PATH_MAX], *out = NULL, *err = NULL;
	write_spec(t, "http.yaml", b.data, spec);
	zl_buf_free(&b);
	int code = run_oci(t->root, &out, &err, "apply", "-f", spec, "--wait", "--timeout", "30s");
	char *health = replica_text(t->root, "health", "web", 1);
	int64_t restarts = replica_int(t->root, "restarts", "web", 1);
	oci_cleanup(t->root, "hhttp");
	assert_exit(code, 0, out, err);
	assert_contains(err, "every replica is ready");
	assert_non_null(health);
	assert_string_equal(health, "healthy");
	assert_int_equal(restarts, 0);
	free(health);
	free(out);
	free(err);
}

static void test_oci_command_probes_fail_and_hang(void **state)
{
	struct cli_tmp *t = *state;
	if (!oci.usable)
		skip();
	struct zl_buf b = { 0 };
	zl_buf_puts(&b, "version: v1\ndeployment: hcmd\nservices:\n");
	oci_service(&b, "fails", "while true; do sleep 1; done",
		    "      check: {type: command, command: \"echo not today; exit 1\"}\n"
		    "      start_grace: 0s\n"
		    "      interval: 1s\n"
		    "      timeout: 2s\n"
		    "      retries: 2\n");
	oci_service(&b, "hangs", "while true; do sleep 1; done",
		    "      check: {type: command, command: \"sleep 600\"}\n"
		    "      start_grace: 0s\n"
		    "      interval: 1s\n"
		    "      timeout: 1s\n"
		    "      retries: 5\n");
	char spec[PATH_MAX], *out = NULL, *err = NULL;
	write_spec(t, "cmd.yaml", b.data, spec);
	zl_buf_free(&b);
	int64_t t0 = cli_mono_ms();
	int code = run_oci(t->root, &out, &err, "apply", "-f", spec, "--wait", "--timeout", "5s");
	int64_t took = cli_mono_ms() - t0;
	char *msg = cli_db_text(t->root,
				"SELECT message FROM events WHERE kind = 'unhealthy' AND service = 'fails'", NULL);
	oci_cleanup(t->root, "hcmd");
	assert_exit(code, 3, out, err);
	assert_true(took < 30000); /* the 600 s probe cost its 1 s timeout each time */
	assert_non_null(msg);
	assert_contains(msg, "exit code 1: not today");
	assert_contains(err, "hcmd/hangs-rep-1: running, health starting:");
	assert_contains(err, "timed out after 1.0s");
	free(msg);
	free(out);
	free(err);
}

int main(void)
{
	const struct CMUnitTest mock_tests[] = {
		cmocka_unit_test_setup_teardown(test_depends_order_waits_for_healthy, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_depends_timeout_fail, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_depends_timeout_warn_and_continue, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_depends_wait_bounded_by_timeout, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_depends_started_does_not_wait_for_health, cli_tmp_setup,
						cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_wait_timeout_exit_3, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_wait_ready_exit_0, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_hanging_http_probe_is_bounded, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_rollout_stops_at_a_replica_that_is_not_ready, cli_tmp_setup,
						cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_init_run_with_env_and_failure_policies, cli_tmp_setup,
						cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_init_backoff, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_init_wait_tcp, cli_tmp_setup, cli_tmp_teardown),
	};
	const struct CMUnitTest oci_tests[] = {
		cmocka_unit_test_setup_teardown(test_oci_failing_tcp_probe_restarts_replica, cli_tmp_setup,
						cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_oci_http_probe_healthy_and_wait, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_oci_command_probes_fail_and_hang, cli_tmp_setup, cli_tmp_teardown),
	};
	int failed = cmocka_run_group_tests_name("health (mock)", mock_tests, NULL, NULL);
	failed += cmocka_run_group_tests_name("health (oci)", oci_tests, oci_group_setup,
					      oci_group_teardown);
	if (!oci.usable && oci.skip_why[0])
		fprintf(stderr, "# oci tests skipped: %s\n", oci.skip_why);
	return failed;
}
