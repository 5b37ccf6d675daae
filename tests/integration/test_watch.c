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
#include "watch-helpers.h"

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

/* A spec whose web service restarts after a back-off of `delay`. */
static void write_backoff_spec(const char *path, const char *delay)
{
	char text[512];
	snprintf(text, sizeof(text),
		 "version: v1\n"
		 "deployment: demo\n"
		 "services:\n"
		 "  web:\n"
		 "    image: {name: \"nginx:1.25\"}\n"
		 "    restart_policy: {kind: always, delay: %s}\n"
		 "    scale: {mode: fixed, replicas: 1}\n",
		 delay);
	cli_write_file(path, text);
}

/* Issue 18, item 3: with --interval 60s, a replica whose back-off ends is
 * started again when it ends, not at the next resync (it waited up to
 * 60 s: the tick lost the deadline once it had passed). */
static void test_watch_restarts_when_backoff_ends(void **state)
{
	struct wt *w = *state;
	char spec[PATH_MAX];
	spec_path(w, spec);
	write_backoff_spec(spec, "3s");
	start_watch(w, "-f", spec, "--interval", "60s");
	wait_running(w, 1, 10000);

	/* The first restart after a crash is immediate; the second waits 3 s. */
	kill_and_wait_restart(w, 1, 5000);
	int64_t ms = kill_and_wait_restart(w, 1, 20000);
	print_message("web-rep-1 restarted %lld ms after its second exit (back-off 3 s)\n",
		      (long long)ms);
	if (ms < 2900 || ms > 3000 + 1000)
		fail_msg("restarted %lld ms after the exit; its back-off ended at 3000 ms", (long long)ms);
	wait_log(w, 1000, "msg=\"applied\"", "trigger=\"back-off over\"", "actions=1");
	free(stop_watch(w));
}

/* Issue 18, item 4: a replica killed or removed behind zlapply's back is
 * drift: a log line, an event, a metric, and (without --no-heal) repaired. */
static void test_watch_reports_and_repairs_drift(void **state)
{
	struct wt *w = *state;
	char spec[PATH_MAX], gone[PATH_MAX];
	spec_path(w, spec);
	cli_write_web_spec(spec, "demo", 2, NULL);
	start_watch(w, "-f", spec, "--interval", "1h", "--metrics", "127.0.0.1:0");
	wait_running(w, 2, 10000);
	int port = metrics_port(w);
	/* The first apply of a spec is not drift. */
	char *log = watch_log(w);
	assert_false(cli_has_line_with(log, "msg=\"drift\""));
	free(log);

	kill_and_wait_restart(w, 1, 10000);
	wait_log(w, 2000, "level=warn", "msg=\"drift\"", "deployment=demo", "replica=web-rep-1",
		 "state=exited", "action=repair");

	/* Removed by hand: the backend no longer knows it. */
	unlink(cli_pathf(gone, "%s/mock/zl-demo-web-2", w->t.root));
	wait_log(w, 5000, "msg=\"drift\"", "replica=web-rep-2", "action=repair");
	wait_running(w, 2, 10000);

	char *resp = http_get(port, "/metrics");
	const char *body = strstr(resp, "\r\n\r\n");
	assert_non_null(body);
	assert_true(metric_value(body + 4, "zlapply_drift_total") == 2);
	free(resp);
	char *events = events_of_kind(w->t.root, "drift");
	if (!strstr(events, "web-rep-1: web-rep-1 exited while the spec did not change; repaired") ||
	    !strstr(events, "web-rep-2: web-rep-2 "))
		fail_msg("drift events:\n%s", events);
	free(events);
	free(stop_watch(w));
}

/* --no-heal: drift is reported and left alone; a spec change still applies
 * (and with it everything the spec says). */
static void test_watch_no_heal(void **state)
{
	struct wt *w = *state;
	char spec[PATH_MAX], st[32], id[64];
	spec_path(w, spec);
	cli_write_web_spec(spec, "demo", 2, NULL);
	start_watch(w, "-f", spec, "--interval", "1s", "--no-heal");
	wait_running(w, 2, 10000);

	struct zl_err zerr = ZL_ERR_INIT;
	snprintf(id, sizeof(id), "zl-demo-web-1");
	if (backend_mock_set_exit(w->t.root, id, 1, 0, &zerr) < 0)
		fail_msg("backend_mock_set_exit: %s", zerr.msg);
	wait_log(w, 5000, "msg=\"drift\"", "replica=web-rep-1", "state=exited",
		 "action=\"reported (--no-heal)\"");
	/* Three resyncs later it is still exited, and reported once. */
	cli_sleep_ms(3000);
	int restarts;
	replica_state(w->t.root, 1, st, sizeof(st), &restarts);
	assert_string_equal(st, "exited");
	char *log = watch_log(w);
	size_t reports = 0;
	for (const char *p = log; (p = strstr(p, "msg=\"drift\"")); p++)
		reports++;
	assert_int_equal(reports, 1);
	free(log);
	char *events = events_of_kind(w->t.root, "drift");
	assert_non_null(strstr(events, "not repaired (--no-heal)"));
	free(events);

	/* A new spec is applied whole. */
	cli_write_web_spec(spec, "demo", 3, NULL);
	wait_running(w, 3, 10000);
	free(stop_watch(w));
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
		cmocka_unit_test_setup_teardown(test_watch_restarts_when_backoff_ends, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watch_reports_and_repairs_drift, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watch_no_heal, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
