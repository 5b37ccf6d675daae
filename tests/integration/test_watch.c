/* test_watch.c: `zlapply watch` end to end, against the mock backend.
 *
 * Each test starts the real binary in the background (`zlapply watch -f
 * PATH --root R --backend mock ...`), changes things behind its back the way
 * a user or a crash would (editing the spec in place and by rename, breaking
 * it, killing a replica, holding the lock) and checks what a user would see:
 * `status`, the mock backend's containers, the watcher's logfmt lines on
 * stderr, GET /metrics, and how it exits on SIGTERM. Bounds are generous:
 * each wait is a deadline, not a sleep.
 */
#include "cli-helpers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>

#include "backends/backend.h"
#include "backends/mock/mock.h"

struct wt {
	struct cli_tmp t;
	struct cli_proc p;
	bool running; /* a watcher we started that has not been reaped */
	char specs[PATH_MAX]; /* t.dir/specs */
};

static int setup(void **state)
{
	struct wt *w = calloc(1, sizeof(*w));
	if (!w)
		return -1;
	cli_tmp_make(&w->t);
	cli_pathf(w->specs, "%s/specs", w->t.dir);
	if (mkdir(w->specs, 0755) < 0)
		return -1;
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct wt *w = *state;
	if (w->running) {
		/* A test failed with the watcher still up: stop it (ours, by pid). */
		kill(w->p.pid, SIGKILL);
		waitpid(w->p.pid, NULL, 0);
		unlink(w->p.out_path);
		unlink(w->p.err_path);
	}
	cli_tmp_remove(&w->t);
	free(w);
	return 0;
}

/* ---- the watcher ---- */

#define start_watch(w, ...) \
	start_watch_((w), (const char *const[]){ "watch", __VA_ARGS__, NULL })
static void wait_log_(struct wt *w, int64_t timeout_ms, const char *const *needles);

/* Starts the watcher and waits for its first apply: `status` must not race
 * the run that creates (and migrates) the database. */
static void start_watch_(struct wt *w, const char *const *args)
{
	cli_spawn(w->t.root, NULL, NULL, args, &w->p);
	w->running = true;
	wait_log_(w, 10000, (const char *const[]){ "msg=\"applied\"", "trigger=start", NULL });
}

/* What the watcher wrote to stderr so far. Caller frees. */
static char *watch_log(struct wt *w)
{
	char *text = cli_read_file(w->p.err_path);
	assert_non_null(text);
	return text;
}

/* Fails the test unless the watcher is still running. */
static void assert_watching(struct wt *w)
{
	int status;
	if (waitpid(w->p.pid, &status, WNOHANG) == w->p.pid) {
		w->running = false;
		char *log = cli_read_file(w->p.err_path);
		fail_msg("the watcher exited (status %d):\n%s", status, log ? log : "");
	}
}

/* Waits for a log line with every needle. */
#define wait_log(w, timeout_ms, ...) \
	wait_log_((w), (timeout_ms), (const char *const[]){ __VA_ARGS__, NULL })
static void wait_log_(struct wt *w, int64_t timeout_ms, const char *const *needles)
{
	int64_t end = cli_mono_ms() + timeout_ms;
	for (;;) {
		char *log = watch_log(w);
		char *line = cli_find_line(log, needles);
		if (line) {
			free(line);
			free(log);
			return;
		}
		if (cli_mono_ms() > end) {
			fail_msg("no log line with \"%s\"%s%s after %lld ms:\n%s", needles[0],
				 needles[1] ? " and \"" : "", needles[1] ? needles[1] : "",
				 (long long)timeout_ms, log);
		}
		free(log);
		assert_watching(w);
		cli_sleep_ms(100);
	}
}

/* SIGTERM; asserts exit 0 within 3 s. Returns the log (caller frees). */
static char *stop_watch(struct wt *w)
{
	int64_t t0 = cli_mono_ms();
	assert_int_equal(kill(w->p.pid, SIGTERM), 0);
	int status = 0;
	pid_t r;
	while ((r = waitpid(w->p.pid, &status, WNOHANG)) == 0 && cli_mono_ms() - t0 < 3000)
		cli_sleep_ms(20);
	if (r != w->p.pid) {
		char *log = watch_log(w);
		fail_msg("the watcher did not stop within 3 s of SIGTERM:\n%s", log);
	}
	w->running = false;
	char *log = cli_read_file(w->p.err_path);
	unlink(w->p.out_path);
	unlink(w->p.err_path);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("the watcher ended with status 0x%x after SIGTERM:\n%s", status, log);
	return log;
}

/* ---- what is running ---- */

static int running_count(const char *root)
{
	cJSON *doc = cli_status_json(root, "demo");
	int n = 0;
	cJSON *r;
	cJSON_ArrayForEach(r, cli_json_replicas(doc))
	{
		const char *st = cli_json_str(r, "state");
		if (st && strcmp(st, "running") == 0)
			n++;
	}
	cJSON_Delete(doc);
	return n;
}

/* Waits until exactly want replicas of demo run (and no others are listed). */
static void wait_running(struct wt *w, int want, int64_t timeout_ms)
{
	int64_t end = cli_mono_ms() + timeout_ms;
	for (;;) {
		cJSON *doc = cli_status_json(w->t.root, "demo");
		int total = cli_json_count(doc, "demo");
		cJSON_Delete(doc);
		int n = running_count(w->t.root);
		if (n == want && total == want)
			return;
		if (cli_mono_ms() > end) {
			char *log = watch_log(w);
			fail_msg("%d of %d replicas running after %lld ms, expected %d:\n%s", n, total,
				 (long long)timeout_ms, want, log);
		}
		assert_watching(w);
		cli_sleep_ms(100);
	}
}

/* State and restart count of demo's web-rep-N. */
static void replica_state(const char *root, int index, char *state, size_t size, int *restarts)
{
	cJSON *doc = cli_status_json(root, "demo");
	cJSON *r = cli_json_replica(doc, "demo", "web", index);
	const char *st = r ? cli_json_str(r, "state") : NULL;
	snprintf(state, size, "%s", st ? st : "(none)");
	cJSON *n = r ? cJSON_GetObjectItemCaseSensitive(r, "restarts") : NULL;
	*restarts = cJSON_IsNumber(n) ? n->valueint : -1;
	cJSON_Delete(doc);
}

/* Kills web-rep-N behind zlapply's back and waits until it runs again with
 * one more restart. Returns how long that took (ms). */
static int64_t kill_and_wait_restart(struct wt *w, int index, int64_t timeout_ms)
{
	char state[32], id[64];
	int before, after;
	replica_state(w->t.root, index, state, sizeof(state), &before);
	assert_string_equal(state, "running");
	snprintf(id, sizeof(id), "zl-demo-web-%d", index);
	struct zl_err zerr = ZL_ERR_INIT;
	int64_t t0 = cli_mono_ms();
	if (backend_mock_set_exit(w->t.root, id, 1, 0, &zerr) < 0)
		fail_msg("backend_mock_set_exit: %s", zerr.msg);
	for (;;) {
		replica_state(w->t.root, index, state, sizeof(state), &after);
		if (strcmp(state, "running") == 0 && after > before)
			return cli_mono_ms() - t0;
		if (cli_mono_ms() - t0 > timeout_ms) {
			char *log = watch_log(w);
			fail_msg("web-rep-%d is %s (restarts %d) %lld ms after it was killed:\n%s", index,
				 state, after, (long long)timeout_ms, log);
		}
		assert_watching(w);
		cli_sleep_ms(50);
	}
}

/* ---- HTTP ---- */

/* The port of the metrics endpoint, from the "watching" line. */
static int metrics_port(struct wt *w)
{
	wait_log(w, 5000, "msg=\"watching\"", "metrics=127.0.0.1:");
	char *log = watch_log(w);
	char *at = strstr(log, "metrics=127.0.0.1:");
	int port = atoi(at + strlen("metrics=127.0.0.1:"));
	free(log);
	assert_true(port > 0 && port < 65536);
	return port;
}

static int connect_local(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		fail_msg("connect 127.0.0.1:%d: %s", port, strerror(errno));
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* GET path; returns the whole response (status line, headers, body). */
static char *http_get(int port, const char *path)
{
	int fd = connect_local(port);
	char req[512];
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: test\r\n\r\n",
			 path);
	assert_int_equal(write(fd, req, (size_t)n), n);
	char *buf = calloc(1, 1 << 16);
	size_t len = 0;
	ssize_t r;
	while (len < (1 << 16) - 1 && (r = read(fd, buf + len, (1 << 16) - 1 - len)) > 0)
		len += (size_t)r;
	close(fd);
	return buf;
}

/* The value of the sample line that starts with `series ` (name + labels). */
static double metric_value(const char *body, const char *series)
{
	size_t len = strlen(series);
	for (const char *p = body; p && *p;) {
		if (strncmp(p, series, len) == 0 && p[len] == ' ')
			return strtod(p + len + 1, NULL);
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	fail_msg("no sample %s in:\n%s", series, body);
	return -1;
}

/* ---- specs ---- */

static void spec_path(struct wt *w, char out[PATH_MAX])
{
	cli_pathf(out, "%s/demo.yaml", w->specs);
}

/* Saves like an editor: a temporary file, then rename over the spec. */
static void save_by_rename(struct wt *w, int replicas)
{
	char tmp[PATH_MAX], spec[PATH_MAX];
	cli_pathf(tmp, "%s/.demo.yaml.swp", w->specs);
	spec_path(w, spec);
	cli_write_web_spec(tmp, "demo", replicas, NULL);
	if (rename(tmp, spec) < 0)
		fail_msg("rename: %s", strerror(errno));
}

/* ---- tests ---- */

/* The interval is an hour: only inotify can explain the re-applies. */
static void test_watch_reapplies_on_file_change(void **state)
{
	struct wt *w = *state;
	char spec[PATH_MAX];
	spec_path(w, spec);
	cli_write_web_spec(spec, "demo", 2, NULL);
	start_watch(w, "-f", w->specs, "--interval", "1h");
	wait_running(w, 2, 10000);
	wait_log(w, 5000, "level=info", "msg=\"applied\"", "trigger=start", "actions=2", "duration_ms=");
	wait_log(w, 5000, "msg=\"action\"", "action=\"+ create web-rep-2\"");

	/* An editor's save (write a temporary file, rename it over). */
	save_by_rename(w, 3);
	wait_running(w, 3, 5000);
	wait_log(w, 5000, "msg=\"applied\"", "trigger=\"file changed\"", "actions=1");
	wait_log(w, 5000, "action=\"+ create web-rep-3\"");

	/* A write in place. */
	cli_write_web_spec(spec, "demo", 4, NULL);
	wait_running(w, 4, 5000);

	/* A file that is no spec (an editor's backup) changes nothing. */
	char junk[PATH_MAX];
	cli_pathf(junk, "%s/demo.yaml~", w->specs);
	cli_write_web_spec(junk, "demo", 1, NULL);
	/* SIGHUP reads the files and applies now. */
	assert_int_equal(kill(w->p.pid, SIGHUP), 0);
	wait_log(w, 5000, "msg=\"spec loaded\"", "trigger=SIGHUP");
	assert_int_equal(running_count(w->t.root), 4);

	char *log = stop_watch(w);
	if (!cli_has_line_with(log, "msg=\"stopping; containers keep running\"", "signal=SIGTERM") ||
	    !cli_has_line_with(log, "msg=\"stopped\""))
		fail_msg("no stop lines in:\n%s", log);
	/* Every line is logfmt. */
	for (const char *p = log; *p;) {
		if (strncmp(p, "time=", 5) != 0 || !strstr(p, " level="))
			fail_msg("not a logfmt line: %.*s", (int)strcspn(p, "\n"), p);
		p += strcspn(p, "\n");
		if (*p)
			p++;
	}
	free(log);
	/* Stopping the watcher stops no container. */
	assert_int_equal(running_count(w->t.root), 4);
	assert_int_equal(cli_mock_names(w->t.root, true, NULL), 4);
}

static void test_watch_keeps_last_good_state_on_invalid_spec(void **state)
{
	struct wt *w = *state;
	char spec[PATH_MAX];
	spec_path(w, spec);
	cli_write_web_spec(spec, "demo", 3, NULL);
	/* A file PATH (not its directory), resyncing every second. */
	start_watch(w, "-f", spec, "--interval", "1s");
	wait_running(w, 3, 10000);

	/* A syntax error mid-edit. */
	cli_write_file(spec, "version: v1\ndeployment: demo\nservices:\n  web: [unclosed\n");
	wait_log(w, 5000, "level=error", "msg=\"invalid spec\"", "demo.yaml", "line=");
	wait_log(w, 5000, "msg=\"spec invalid; the last good state stays in force\"");
	/* Several resyncs later nothing was removed. */
	cli_sleep_ms(2500);
	assert_int_equal(running_count(w->t.root), 3);
	assert_int_equal(cli_mock_names(w->t.root, true, NULL), 3);
	/* The same problem is reported once, not every resync. */
	char *log = watch_log(w);
	size_t reports = 0;
	for (const char *p = log; (p = strstr(p, "msg=\"invalid spec\"")); p++)
		reports++;
	assert_int_equal(reports, 1);
	free(log);

	/* The last good state is kept running: a crash is still repaired. */
	int64_t ms = kill_and_wait_restart(w, 2, 15000);
	print_message("web-rep-2 restarted %lld ms after it exited (spec invalid)\n", (long long)ms);

	/* An emptied file (an editor truncating before writing) removes nothing. */
	cli_write_file(spec, "");
	cli_sleep_ms(1500);
	assert_int_equal(running_count(w->t.root), 3);

	/* Fixed: it applies again. */
	cli_write_web_spec(spec, "demo", 2, NULL);
	wait_log(w, 5000, "msg=\"spec valid again\"");
	wait_running(w, 2, 5000);
	free(stop_watch(w));
}

/* The interval is an hour: only the exit check can explain the restart. */
static void test_watch_restores_killed_replica(void **state)
{
	struct wt *w = *state;
	char spec[PATH_MAX];
	spec_path(w, spec);
	cli_write_web_spec(spec, "demo", 2, NULL);
	start_watch(w, "-f", spec, "--interval", "1h");
	wait_running(w, 2, 10000);

	/* Generous: a restart back-off may delay it; without one it is ~0.5 s. */
	int64_t ms = kill_and_wait_restart(w, 1, 15000);
	print_message("web-rep-1 restarted %lld ms after it exited\n", (long long)ms);
	wait_log(w, 5000, "msg=\"replica changed\"", "replica=web-rep-1", "state=exited", "exit_code=1");
	wait_log(w, 5000, "action=\"> restart web-rep-1 (exited 1)\"");
	assert_int_equal(running_count(w->t.root), 2);

	char *log = stop_watch(w);
	free(log);
	assert_int_equal(running_count(w->t.root), 2);
}

static void test_watch_metrics(void **state)
{
	struct wt *w = *state;
	char spec[PATH_MAX];
	spec_path(w, spec);
	cli_write_web_spec(spec, "demo", 2, NULL);
	start_watch(w, "-f", spec, "--interval", "1h", "--metrics", "127.0.0.1:0");
	wait_running(w, 2, 10000);
	int port = metrics_port(w);

	/* A client that connects and says nothing blocks nobody. */
	int silent = connect_local(port);
	int64_t t0 = cli_mono_ms();
	char *resp = http_get(port, "/metrics");
	assert_true(cli_mono_ms() - t0 < 1500);
	if (strncmp(resp, "HTTP/1.1 200 ", 13) != 0 ||
	    !strstr(resp, "Content-Type: text/plain; version=0.0.4"))
		fail_msg("not a 200 text/plain; version=0.0.4 answer:\n%s", resp);
	const char *body = strstr(resp, "\r\n\r\n") + 4;
	assert_true(strstr(body, "# TYPE zlapply_replicas_desired gauge") != NULL);
	assert_true(strstr(body, "# TYPE zlapply_replica_restarts_total counter") != NULL);
	assert_true(metric_value(body, "zlapply_replicas_desired{deployment=\"demo\",service=\"web\"}") == 2);
	assert_true(metric_value(body, "zlapply_replicas_ready{deployment=\"demo\",service=\"web\"}") == 2);
	assert_true(metric_value(body, "zlapply_replica_restarts_total{deployment=\"demo\","
				       "service=\"web\",replica=\"web-rep-1\"}") == 0);
	double took = metric_value(body, "zlapply_apply_duration_seconds");
	assert_true(took >= 0 && took < 60);
	assert_true(metric_value(body, "zlapply_applies_total{result=\"ok\"}") >= 1);
	assert_true(metric_value(body, "zlapply_applies_total{result=\"failed\"}") == 0);
	assert_true(metric_value(body, "zlapply_spec_valid") == 1);
	free(resp);
	close(silent);

	/* A restart shows up in the counter. */
	kill_and_wait_restart(w, 1, 15000);
	int64_t end = cli_mono_ms() + 3000;
	for (;;) {
		resp = http_get(port, "/metrics");
		body = strstr(resp, "\r\n\r\n");
		if (body && metric_value(body + 4, "zlapply_replica_restarts_total{deployment=\"demo\","
						   "service=\"web\",replica=\"web-rep-1\"}") == 1)
			break;
		if (cli_mono_ms() > end)
			fail_msg("restarts_total of web-rep-1 is not 1:\n%s", resp);
		free(resp);
		cli_sleep_ms(200);
	}
	free(resp);

	/* Other paths: 404. */
	resp = http_get(port, "/");
	assert_true(strncmp(resp, "HTTP/1.1 404 ", 13) == 0);
	free(resp);
	free(stop_watch(w));
}

/* A manual apply holding the lock: the watcher waits its turn. */
static void test_watch_waits_for_the_lock(void **state)
{
	struct wt *w = *state;
	char spec[PATH_MAX], lock_path[PATH_MAX];
	spec_path(w, spec);
	cli_write_web_spec(spec, "demo", 2, NULL);
	start_watch(w, "-f", spec, "--interval", "1h");
	wait_running(w, 2, 10000);

	int fd = open(cli_pathf(lock_path, "%s/lock", w->t.root), O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	cli_write_web_spec(spec, "demo", 3, NULL);
	wait_log(w, 5000, "msg=\"lock busy; will retry\"", "trigger=\"file changed\"");
	cli_sleep_ms(1000);
	assert_int_equal(running_count(w->t.root), 2);
	close(fd);
	wait_running(w, 3, 5000);
	free(stop_watch(w));
}

/* SIGTERM while the watcher reads large files (each near the limits, about
 * half a second to load): the load stops at once, nothing is applied, and
 * the watcher exits within a second (a load could take 54 s before, and
 * the signal waited for it). */
static void test_watch_stops_during_a_long_load(void **state)
{
	struct wt *w = *state;
	char spec[PATH_MAX];
	spec_path(w, spec);
	cli_write_web_spec(spec, "demo", 2, NULL);
	start_watch(w, "-f", w->specs, "--interval", "1h");
	wait_running(w, 2, 10000);

	/* 8 files of 999,989 list items: 1,000,000 nodes each, the most. */
	struct zl_buf b = { 0 };
	for (int f = 0; f < 8; f++) {
		b.len = 0;
		zl_buf_printf(&b, "version: v1\ndeployment: big-%d\nservices: {}\nexternals: {x: [a", f);
		for (int i = 1; i < 999989; i++)
			zl_buf_puts(&b, ",a");
		zl_buf_puts(&b, "]}\n");
		char tmp[PATH_MAX], dst[PATH_MAX];
		cli_pathf(tmp, "%s/big-%d.tmp", w->t.dir, f);
		cli_pathf(dst, "%s/big-%d.yaml", w->specs, f);
		FILE *out = fopen(tmp, "w");
		assert_non_null(out);
		assert_int_equal(fwrite(b.data, 1, b.len, out), b.len);
		assert_int_equal(fclose(out), 0);
		assert_int_equal(rename(tmp, dst), 0);
	}
	zl_buf_free(&b);
	/* The reload starts 300 ms after the last event and runs for seconds. */
	cli_sleep_ms(900);
	int64_t t0 = cli_mono_ms();
	assert_int_equal(kill(w->p.pid, SIGTERM), 0);
	int status = 0;
	pid_t r;
	while ((r = waitpid(w->p.pid, &status, WNOHANG)) == 0 && cli_mono_ms() - t0 < 5000)
		cli_sleep_ms(10);
	int64_t took = cli_mono_ms() - t0;
	fprintf(stderr, "SIGTERM during the load of 8 large files: stopped in %lld ms\n", (long long)took);
	char *log = watch_log(w);
	if (r != w->p.pid)
		fail_msg("the watcher did not stop within 5 s of SIGTERM:\n%s", log);
	w->running = false;
	unlink(w->p.out_path);
	unlink(w->p.err_path);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("the watcher ended with status 0x%x after SIGTERM:\n%s", status, log);
	if (took > 1000)
		fail_msg("the watcher took %lld ms to stop on SIGTERM:\n%s", (long long)took, log);
	if (!cli_has_line_with(log, "msg=\"stopping; containers keep running\"", "signal=SIGTERM"))
		fail_msg("no stop line in:\n%s", log);
	/* The interrupted load was neither reported nor applied. */
	if (cli_has_line_with(log, "big-") || cli_has_line_with(log, "msg=\"spec invalid"))
		fail_msg("the interrupted load left traces:\n%s", log);
	free(log);
	assert_int_equal(running_count(w->t.root), 2);
}

static void test_watch_bad_usage(void **state)
{
	struct wt *w = *state;
	char spec[PATH_MAX], missing[PATH_MAX], busy[32];
	spec_path(w, spec);
	cli_write_web_spec(spec, "demo", 1, NULL);
	cli_path(&w->t, "nothing-here.yaml", missing);

	/* A port someone else listens on. */
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(sa);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	snprintf(busy, sizeof(busy), "127.0.0.1:%d", ntohs(sa.sin_port));

	static const struct {
		const char *args[8];
		int code;
		const char *says;
	} cases[] = {
		{ { "watch" }, 2, "needs -f" },
		{ { "watch", "-f", "-" }, 2, "stdin" },
		{ { "watch", "-f", "MISSING" }, 2, "nothing-here.yaml" },
		{ { "watch", "-f", "SPEC", "--interval", "10ms" }, 2, "--interval" },
		{ { "watch", "-f", "SPEC", "--interval", "soon" }, 2, "--interval" },
		{ { "watch", "-f", "SPEC", "--metrics", "9464" }, 2, "HOST:PORT" },
		{ { "watch", "-f", "SPEC", "--metrics", "127.0.0.1:99999" }, 2, "HOST:PORT" },
		{ { "watch", "-f", "SPEC", "--metrics", "BUSY" }, 1, "listen on" },
		{ { "apply", "-f", "SPEC", "--metrics", "127.0.0.1:1" }, 2, "does not apply" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *args[9] = { 0 };
		for (size_t k = 0; cases[i].args[k]; k++) {
			const char *a = cases[i].args[k];
			args[k] = strcmp(a, "SPEC") == 0 ? spec : strcmp(a, "MISSING") == 0 ? missing
				: strcmp(a, "BUSY") == 0 ? busy : a;
		}
		char *out = NULL, *err = NULL;
		int code = cli_run(w->t.root, NULL, NULL, args, &out, &err);
		assert_exit(code, cases[i].code, out, err);
		if (!strstr(err, cases[i].says))
			fail_msg("case %zu: \"%s\" not in:\n%s", i, cases[i].says, err);
		free(out);
		free(err);
	}
	close(fd);
	/* Nothing was applied by any of them. */
	assert_int_equal(cli_mock_names(w->t.root, true, NULL), 0);

	/* help lists the verb and its flags. */
	char *out = NULL, *err = NULL;
	int code = run_zlapply(NULL, NULL, &out, &err, "watch", "--help");
	assert_exit(code, 0, out, err);
	assert_true(strstr(out, "--interval") && strstr(out, "--metrics"));
	free(out);
	free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_watch_reapplies_on_file_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watch_keeps_last_good_state_on_invalid_spec, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_watch_restores_killed_replica, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watch_metrics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watch_waits_for_the_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watch_bad_usage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watch_stops_during_a_long_load, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
