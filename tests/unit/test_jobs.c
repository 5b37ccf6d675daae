/* test_jobs.c: restarts with back-off, jobs (runs, attempts, kept runs), cron
 * (schedules) and `zlapply run`, against a real SQLite state, the mock backend
 * and an injected clock. Each test has its own state root and removes it. */
#include "execute-fixture.h"

/* ---- restarts with back-off, jobs and cron ---- */

/* A crash loop with an injected clock: each exit is noted with a deadline
 * of its exit time + 0, 10, 20, 40, 80, 160, 300, 300 s; 1 ms before the
 * deadline nothing happens, at the deadline the replica restarts. */
static void test_crash_loop_backs_off(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	clock_fixture = f;
	set_clock(zl_now_ms());
	char *yaml = demo_yaml(DEP, 1, "a", 0, "    restart_policy:\n      kind: always\n");
	apply_ok(f, yaml);
	free(take_lines(f));
	static const int64_t delays[] = { 0, 10000, 20000, 40000, 80000, 160000, 300000, 300000 };
	for (int k = 0; k < 8; k++) {
		assert_ok(backend_mock_set_exit(f->root, "zl-demo-web-1", 1, 0, &err), err);
		/* observed a moment after the exit (the mock stamps real time) */
		int64_t real = zl_now_ms();
		set_clock(real > test_now ? real : test_now);
		apply_ok(f, yaml);
		int64_t finished = sql_int(f, "SELECT finished_at FROM replicas");
		int64_t until = sql_int(f, "SELECT backoff_until FROM replicas");
		if (k == 0) {
			/* the first restart is immediate: its deadline was the exit */
			assert_lines(f, "> restart web-rep-1 (exited 1)\n");
			assert_int_equal(finished, 0); /* running again */
			assert_true(until > 0 && until <= test_now);
			continue;
		}
		assert_lines(f, "");
		if (until - finished != delays[k])
			fail_msg("exit %d: back-off %lld ms, expected %lld", k + 1,
				 (long long)(until - finished), (long long)delays[k]);
		assert_sql(f, "SELECT state FROM replicas", "exited\n");
		set_clock(until - 1);
		apply_ok(f, yaml);
		assert_lines(f, "");
		set_clock(until);
		apply_ok(f, yaml);
		assert_lines(f, "> restart web-rep-1 (exited 1)\n");
		assert_int_equal(sql_int(f, "SELECT restarts FROM replicas"), k + 1);
	}
	/* the back-off is in the database: a new process (a later cron run)
	 * continues it rather than restarting at once */
	assert_ok(backend_mock_set_exit(f->root, "zl-demo-web-1", 1, 0, &err), err);
	set_clock(zl_now_ms() > test_now ? zl_now_ms() : test_now);
	apply_ok(f, yaml);
	assert_lines(f, "");
	int64_t until = sql_int(f, "SELECT backoff_until FROM replicas");
	assert_int_equal(until - sql_int(f, "SELECT finished_at FROM replicas"), 300000);
	f->opts.clock_ms = NULL; /* the real clock: before the deadline */
	apply_ok(f, yaml);
	assert_lines(f, "");
	free(yaml);
}

/* A one-service job spec; extra is appended to the job's keys. */
static char *job_yaml(const char *mode, const char *extra)
{
	return zl_xasprintf("version: v1\n"
			    "deployment: demo\n"
			    "services:\n"
			    "  migrate:\n"
			    "    rtype: job\n"
			    "    image:\n"
			    "      name: busybox:1.36\n"
			    "    env:\n"
			    "      MODE: \"%s\"\n"
			    "%s",
			    mode, extra ? extra : "");
}

static void test_job_runs_to_completion_with_retries(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	clock_fixture = f;
	char *yaml = job_yaml("a", NULL);
	apply_ok(f, yaml);
	assert_lines(f, "+ create migrate-rep-1\n");
	assert_sql(f, "SELECT run_no, idx, cause, finished_at, exit_code FROM runs",
		   "1|1|created|0|-1\n");
	assert_sql(f, "SELECT rtype FROM services", "job\n");

	/* exit 3: recorded in the run, retried at once (default: 3 attempts) */
	assert_ok(backend_mock_set_exit(f->root, "zl-demo-migrate-1", 3, 0, &err), err);
	set_clock(zl_now_ms() + 1);
	apply_ok(f, yaml);
	assert_lines(f, "> restart migrate-rep-1 (exited 3)\n");
	assert_sql(f, "SELECT run_no, cause, exit_code, exit_signal, reason FROM runs ORDER BY run_no",
		   "1|created|3|0|exited\n2|exited 3|-1|0|NULL\n");
	/* run 1's output was archived; run 2 writes a fresh log */
	char *log1 = sql_text(f, "SELECT log_path FROM runs WHERE run_no = 1");
	char want[256];
	snprintf(want, sizeof(want), "%s/runs/demo/migrate/1.log\n", f->root);
	assert_string_equal(log1, want);
	free(log1);
	char *text = NULL;
	size_t len = 0;
	snprintf(want, sizeof(want), "%s/runs/demo/migrate/1.log", f->root);
	assert_ok(zl_read_file(want, &text, &len, &err), err);
	assert_contains(text, "exited with code 3");
	free(text);
	snprintf(want, sizeof(want), "%s/mock/zl-demo-migrate-1.log", f->root);
	assert_ok(zl_read_file(want, &text, &len, &err), err);
	if (strstr(text, "exited with code 3"))
		fail_msg("the new run's log still holds the old run: %s", text);
	free(text);

	/* exit 0: done; nothing more, run after run */
	assert_ok(backend_mock_set_exit(f->root, "zl-demo-migrate-1", 0, 0, &err), err);
	set_clock(zl_now_ms() + 1);
	apply_ok(f, yaml);
	assert_lines(f, "");
	assert_sql(f, "SELECT run_no, exit_code, reason FROM runs ORDER BY run_no",
		   "1|3|exited\n2|0|exited\n");
	char *before = dump_db(f);
	set_clock(zl_now_ms() + 3600000);
	apply_ok(f, yaml);
	assert_lines(f, "");
	char *after = dump_db(f);
	assert_string_equal(after, before);
	free(before);
	free(after);
	assert_sql(f, "SELECT state, exit_code, restarts FROM replicas", "exited|0|1\n");

	/* a changed spec runs it again, as a new run */
	free(yaml);
	yaml = job_yaml("b", NULL);
	apply_ok(f, yaml);
	assert_lines(f, "~ recreate migrate-rep-1 (env changed)\n");
	assert_sql(f, "SELECT run_no, cause FROM runs WHERE run_no = 3", "3|env changed\n");
	assert_sql(f, "SELECT restarts, state FROM replicas", "0|running\n");
	/* the replaced run 2 kept its log */
	assert_sql(f, "SELECT count(*) FROM runs WHERE log_path IS NOT NULL", "2\n");
	free(yaml);
}

static void test_job_max_attempts(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	clock_fixture = f;
	set_clock(zl_now_ms());
	char *yaml = job_yaml("a", "    restart_policy:\n      kind: on_failure\n"
				   "      max_attempts: 2\n      delay: 1s\n");
	apply_ok(f, yaml);
	free(take_lines(f));
	for (int attempt = 0; attempt < 3; attempt++) {
		assert_ok(backend_mock_set_exit(f->root, "zl-demo-migrate-1", 1, 0, &err), err);
		set_clock(zl_now_ms() > test_now ? zl_now_ms() : test_now);
		apply_ok(f, yaml);
		int64_t until = sql_int(f, "SELECT backoff_until FROM replicas");
		int64_t finished = sql_int(f, "SELECT finished_at FROM replicas");
		if (attempt == 0) {
			assert_lines(f, "> restart migrate-rep-1 (exited 1)\n");
			continue;
		}
		assert_lines(f, "");
		if (attempt == 2) {
			/* two retries used: no deadline, never again */
			assert_int_equal(until, 0);
			set_clock(test_now + 3600000);
			apply_ok(f, yaml);
			assert_lines(f, "");
			break;
		}
		assert_int_equal(until - finished, 1000); /* delay: 1s replaces the 10 s base */
		set_clock(until);
		apply_ok(f, yaml);
		assert_lines(f, "> restart migrate-rep-1 (exited 1)\n");
	}
	assert_sql(f, "SELECT state, exit_code, restarts FROM replicas", "exited|1|2\n");
	assert_sql(f, "SELECT run_no, exit_code FROM runs ORDER BY run_no", "1|1\n2|1\n3|1\n");
	free(yaml);
}

/* Only the last STATE_RUNS_KEPT runs stay, rows and log files. */
static void test_job_keeps_the_last_runs(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	for (int i = 0; i < 8; i++) {
		char mode[8];
		snprintf(mode, sizeof(mode), "m%d", i);
		char *yaml = job_yaml(mode, NULL);
		apply_ok(f, yaml);
		free(yaml);
		assert_ok(backend_mock_set_exit(f->root, "zl-demo-migrate-1", i, 0, &err), err);
	}
	free(take_lines(f));
	assert_sql(f, "SELECT run_no, exit_code FROM runs ORDER BY run_no",
		   "4|3\n5|4\n6|5\n7|6\n8|-1\n");
	for (int n = 1; n <= 8; n++) {
		char rel[64];
		snprintf(rel, sizeof(rel), "runs/demo/migrate/%d.log", n);
		/* runs 4..7 were archived when replaced; 8's log is still the replica's */
		assert_int_equal(path_exists(f->root, rel), n >= 4 && n <= 7);
	}
	/* the job leaves the spec: its runs and their logs go */
	apply_web(f, 1, "a");
	free(take_lines(f));
	assert_sql(f, "SELECT count(*) FROM runs", "0\n");
	assert_false(path_exists(f->root, "runs/demo/migrate"));
}

static char *cron_yaml(const char *schedule, const char *extra)
{
	return zl_xasprintf("version: v1\n"
			    "deployment: demo\n"
			    "services:\n"
			    "  backup:\n"
			    "    rtype: cron\n"
			    "    schedule: \"%s\"\n"
			    "    image:\n"
			    "      name: busybox:1.36\n"
			    "%s",
			    schedule, extra ? extra : "");
}

/* 2026-01-01T00:00:00Z */
#define CRON_T0 1767225600000LL

static void test_cron_runs_on_schedule(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	clock_fixture = f;
	char *yaml = cron_yaml("0 */5 * * * *", NULL); /* every 5 minutes, 6-field form */
	set_clock(CRON_T0 + 10000);
	apply_ok(f, yaml);
	assert_lines(f, "");
	assert_sql(f, "SELECT service, last_scheduled_s, next_s FROM schedules",
		   "backup|1767225610|1767225900\n");
	assert_sql(f, "SELECT count(*) FROM replicas", "0\n");

	set_clock(CRON_T0 + 299999);
	apply_ok(f, yaml);
	assert_lines(f, "");
	set_clock(CRON_T0 + 300000);
	apply_ok(f, yaml);
	assert_lines(f, "+ create backup-rep-1 (scheduled 2026-01-01T00:05:00Z)\n");
	assert_sql(f, "SELECT last_scheduled_s, next_s FROM schedules", "1767225900|1767226200\n");
	assert_sql(f, "SELECT run_no, cause, scheduled_s FROM runs",
		   "1|scheduled 2026-01-01T00:05:00Z|1767225900\n");

	/* still running at the next time: no overlap, that time is skipped */
	set_clock(CRON_T0 + 600000);
	apply_ok(f, yaml);
	assert_lines(f, "");
	assert_sql(f, "SELECT last_scheduled_s, next_s FROM schedules", "1767226200|1767226500\n");
	assert_sql(f, "SELECT kind, message FROM events WHERE kind = 'skipped'",
		   "skipped|skipped the run scheduled for 2026-01-01T00:10:00Z\n");
	assert_sql(f, "SELECT count(*) FROM runs", "1\n");

	/* it ends; the exit is kept until the next run */
	assert_ok(backend_mock_set_exit(f->root, "zl-demo-backup-1", 4, 0, &err), err);
	set_clock(CRON_T0 + 601000);
	apply_ok(f, yaml);
	assert_lines(f, "");
	assert_sql(f, "SELECT state, exit_code FROM replicas", "exited|4\n");
	assert_sql(f, "SELECT run_no, exit_code FROM runs", "1|4\n");

	/* three times missed (15, 20, 25 min): one run, for the latest */
	set_clock(CRON_T0 + 27 * 60000);
	apply_ok(f, yaml);
	assert_lines(f, "~ recreate backup-rep-1 (scheduled 2026-01-01T00:25:00Z)\n");
	assert_sql(f, "SELECT last_scheduled_s, next_s FROM schedules", "1767227100|1767227400\n");
	assert_sql(f, "SELECT run_no, exit_code, log_path IS NOT NULL FROM runs ORDER BY run_no",
		   "1|4|1\n2|-1|0\n");
	/* nothing more until 00:30 */
	char *before = dump_db(f);
	set_clock(CRON_T0 + 29 * 60000);
	apply_ok(f, yaml);
	assert_lines(f, "");
	char *after = dump_db(f);
	assert_string_equal(after, before);
	free(before);
	free(after);

	/* a changed schedule: its next time is recorded at once */
	free(yaml);
	yaml = cron_yaml("0 0 * * * *", NULL);
	apply_ok(f, yaml);
	assert_lines(f, "");
	assert_sql(f, "SELECT last_scheduled_s, next_s FROM schedules", "1767227100|1767229200\n");
	free(yaml);

	/* the service leaves the spec: its schedule goes with it */
	apply_web(f, 1, "a");
	free(take_lines(f));
	assert_sql(f, "SELECT count(*) FROM schedules", "0\n");
}

/* `zlapply run` (reconcile_opts.run_service): a new run of a job now, and
 * nothing else of the deployment is touched. */
static void test_run_forces_a_new_run(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	char *yaml = zl_xasprintf("version: v1\n"
				  "deployment: demo\n"
				  "services:\n"
				  "  migrate:\n"
				  "    rtype: job\n"
				  "    image: {name: \"busybox:1.36\"}\n"
				  "  web:\n"
				  "    image: {name: \"nginx:1.25\"}\n"
				  "    restart_policy: {kind: \"no\"}\n");
	apply_ok(f, yaml);
	free(take_lines(f));
	assert_ok(backend_mock_set_exit(f->root, "zl-demo-migrate-1", 0, 0, &err), err);
	assert_ok(backend_mock_set_exit(f->root, "zl-demo-web-1", 1, 0, &err), err);
	sleep_ms(2);
	f->opts.run_deployment = "demo";
	f->opts.run_service = "migrate";
	apply_ok(f, yaml);
	assert_lines(f, "~ recreate migrate-rep-1 (run requested)\n");
	assert_sql(f, "SELECT run_no, cause FROM runs ORDER BY run_no",
		   "1|created\n2|run requested\n");
	assert_sql(f, "SELECT service, state FROM replicas ORDER BY service",
		   "migrate|running\nweb|exited\n");
	f->opts.run_service = NULL;
	free(yaml);
}

int main(void)
{
	zl_log_set_level(ZL_LOG_ERROR); /* recovery notes and injected failures are expected */
	const struct CMUnitTest tests[] = {
		T(test_crash_loop_backs_off),
		T(test_job_runs_to_completion_with_retries),
		T(test_job_max_attempts),
		T(test_job_keeps_the_last_runs),
		T(test_cron_runs_on_schedule),
		T(test_run_forces_a_new_run),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
