/* test_execute.c: observe -> plan -> execute against a real SQLite state and
 * the mock backend: what a user sees after `zlapply -f`, `status` and
 * `delete`, each action journaled. Recovery after a crash is in
 * test_recover.c, restarts with back-off, jobs and cron in test_jobs.c.
 * Each test has its own state root and removes it. */
#include "execute-fixture.h"

/* ---- looking at the state database ---- */

static int64_t data_version(sqlite3 *c)
{
	char *s = sql_text_on(c, "PRAGMA data_version");
	int64_t v = strtoll(s, NULL, 10);
	free(s);
	return v;
}

/* ---- apply ---- */

static void test_apply_creates_running_replicas(void **state)
{
	struct fixture *f = *state;
	struct reconcile_result res = apply_web(f, 3, "a");
	assert_int_equal(res.actions_planned, 3);
	assert_int_equal(res.actions_done, 3);
	assert_lines(f, "+ create web-rep-1\n+ create web-rep-2\n+ create web-rep-3\n");

	struct state_replicas rows = { 0 };
	load_rows(f, DEP, &rows);
	assert_int_equal(rows.count, 3);
	for (size_t i = 0; i < rows.count; i++) {
		const struct state_replica *r = &rows.items[i];
		char id[64];
		snprintf(id, sizeof(id), "zl-demo-web-%zu", i + 1);
		assert_string_equal(r->deployment, DEP);
		assert_string_equal(r->service, "web");
		assert_int_equal(r->index, (int)i + 1);
		assert_int_equal(r->state, STATE_REPLICA_RUNNING);
		assert_string_equal(r->backend, "mock");
		assert_string_equal(r->backend_id, id);
		assert_true(r->pid > 0);
		assert_non_null(r->spec_hash);
		assert_int_equal(strlen(r->spec_hash), 64);
		assert_string_equal(r->spec_hash, rows.items[0].spec_hash);
		assert_non_null(r->spec_sections);
		assert_null(r->error);
		assert_int_equal(r->restarts, 0);
		assert_true(r->created_at > 0 && r->started_at > 0);
		/* the backend agrees */
		struct backend_state st = mock_state(f, id);
		assert_int_equal(st.status, BACKEND_STATUS_RUNNING);
		assert_int_equal(st.pid, r->pid);
		for (size_t j = 0; j < i; j++)
			assert_true(rows.items[j].pid != r->pid);
	}
	state_replicas_free(&rows);

	assert_sql(f, "SELECT action, idx, status FROM journal ORDER BY id",
		   "create|1|done\ncreate|2|done\ncreate|3|done\n");
	assert_sql(f, "SELECT idx, kind FROM events ORDER BY id",
		   "1|created\n1|started\n2|created\n2|started\n3|created\n3|started\n");
	assert_sql(f, "SELECT deployment, name, rtype, desired_replicas FROM services",
		   "demo|web|service|3\n");
	assert_sql(f, "SELECT name, source FROM deployments", "demo|demo.yaml\n");
}

static void test_second_apply_changes_nothing(void **state)
{
	struct fixture *f = *state;
	apply_web(f, 3, "a");
	free(take_lines(f));
	char *before = dump_db(f);
	struct backend_state st_before = mock_state(f, "zl-demo-web-2");
	sqlite3 *watch = db_conn(f);
	int64_t version = data_version(watch);
	sleep_ms(5); /* any rewrite would carry a new timestamp */

	struct reconcile_result res = apply_web(f, 3, "a");
	assert_int_equal(res.actions_planned, 0);
	assert_int_equal(res.actions_done, 0);
	assert_lines(f, "");

	/* No transaction of the apply changed the file: no row, journal entry or event. */
	assert_int_equal(data_version(watch), version);
	sqlite3_close(watch);
	char *after = dump_db(f);
	assert_string_equal(after, before);
	struct backend_state st_after = mock_state(f, "zl-demo-web-2");
	assert_int_equal(st_after.status, BACKEND_STATUS_RUNNING);
	assert_int_equal(st_after.pid, st_before.pid);
	free(before);
	free(after);
}

static void test_env_change_rolls_replicas_one_at_a_time(void **state)
{
	struct fixture *f = *state;
	apply_web(f, 3, "a");
	free(take_lines(f));
	struct state_replicas old = { 0 };
	load_rows(f, DEP, &old);

	struct reconcile_result res = apply_web(f, 3, "b");
	assert_int_equal(res.actions_planned, 3);
	assert_lines(f, "~ recreate web-rep-1 (env changed)\n"
			"~ recreate web-rep-2 (env changed)\n"
			"~ recreate web-rep-3 (env changed)\n");

	struct state_replicas rows = { 0 };
	load_rows(f, DEP, &rows);
	assert_int_equal(rows.count, 3);
	for (size_t i = 0; i < rows.count; i++) {
		const struct state_replica *r = &rows.items[i];
		assert_int_equal(r->state, STATE_REPLICA_RUNNING);
		assert_string_not_equal(r->spec_hash, old.items[i].spec_hash);
		assert_string_equal(r->spec_hash, rows.items[0].spec_hash);
		assert_true(r->pid > 0);
		assert_true(r->pid != old.items[i].pid);
		char id[64];
		snprintf(id, sizeof(id), "zl-demo-web-%zu", i + 1);
		assert_int_equal(mock_state(f, id).pid, r->pid);
	}
	state_replicas_free(&rows);
	state_replicas_free(&old);

	/* Rolling: each replica is removed and re-created before the next one is touched. */
	assert_sql(f, "SELECT action, idx, status FROM journal WHERE id > 3 ORDER BY id",
		   "remove|1|done\ncreate|1|done\n"
		   "remove|2|done\ncreate|2|done\n"
		   "remove|3|done\ncreate|3|done\n");
	assert_sql(f, "SELECT idx, kind FROM events WHERE id > 6 ORDER BY id",
		   "1|stopped\n1|removed\n1|created\n1|started\n2|stopped\n2|removed\n2|created\n"
		   "2|started\n3|stopped\n3|removed\n3|created\n3|started\n");

	/* and then it is converged */
	res = apply_web(f, 3, "b");
	assert_int_equal(res.actions_planned, 0);
}

static void test_secret_change_recreates(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	char dir[128], path[160];
	snprintf(dir, sizeof(dir), "%s/secrets", f->root);
	snprintf(path, sizeof(path), "%s/token", dir);
	assert_ok(zl_mkdir_p(dir, 0700, &err), err);
	assert_ok(zl_write_file_atomic(path, "one\n", 4, 0600, &err), err);
	char *yaml = demo_yaml(DEP, 1, "a", 0, NULL);
	/* env TOKEN comes from the secret */
	char *with_secret = NULL;
	{
		const char *at = strstr(yaml, "      MODE:");
		assert_non_null(at);
		struct zl_buf b = { 0 };
		zl_buf_append(&b, yaml, (size_t)(at - yaml));
		zl_buf_puts(&b, "      TOKEN: \"$S:token\"\n");
		zl_buf_puts(&b, at);
		with_secret = zl_buf_steal(&b);
	}
	apply_ok(f, with_secret);
	free(take_lines(f));
	assert_int_equal(apply_ok(f, with_secret).actions_planned, 0);

	assert_ok(zl_write_file_atomic(path, "two\n", 4, 0600, &err), err);
	apply_ok(f, with_secret);
	assert_lines(f, "~ recreate web-rep-1 (env changed)\n");
	/* the secret's value is never shown */
	assert_sql(f, "SELECT count(*) FROM events WHERE message LIKE '%two%' OR message LIKE '%one%'",
		   "0\n");
	free(with_secret);
	free(yaml);
}

static void test_scale_down_removes_highest_first(void **state)
{
	struct fixture *f = *state;
	apply_web(f, 4, "a");
	free(take_lines(f));
	struct reconcile_result res = apply_web(f, 2, "a");
	assert_int_equal(res.actions_planned, 2);
	assert_lines(f, "- remove web-rep-4 (scale to 2)\n- remove web-rep-3 (scale to 2)\n");
	assert_sql(f, "SELECT action, idx, status FROM journal WHERE id > 4 ORDER BY id",
		   "remove|4|done\nremove|3|done\n");
	assert_sql(f, "SELECT idx, state FROM replicas ORDER BY idx", "1|running\n2|running\n");
	assert_sql(f, "SELECT desired_replicas FROM services WHERE name = 'web'", "2\n");
	assert_int_equal(mock_status(f, "zl-demo-web-1"), BACKEND_STATUS_RUNNING);
	assert_int_equal(mock_status(f, "zl-demo-web-2"), BACKEND_STATUS_RUNNING);
	assert_int_equal(mock_status(f, "zl-demo-web-3"), BACKEND_STATUS_MISSING);
	assert_int_equal(mock_status(f, "zl-demo-web-4"), BACKEND_STATUS_MISSING);
	assert_false(path_exists(f->root, "mock/zl-demo-web-4.log"));
}

static void test_service_dropped_from_spec_is_removed(void **state)
{
	struct fixture *f = *state;
	char *both = demo_yaml(DEP, 1, "a", 2, NULL);
	apply_ok(f, both);
	free(take_lines(f));
	assert_sql(f, "SELECT name FROM services ORDER BY name", "web\nworker\n");

	apply_web(f, 1, "a");
	assert_lines(f, "- remove worker-rep-2 (service removed from the spec)\n"
			"- remove worker-rep-1 (service removed from the spec)\n");
	assert_sql(f, "SELECT service, idx FROM replicas ORDER BY 1, 2", "web|1\n");
	assert_sql(f, "SELECT name FROM services ORDER BY name", "web\n");
	assert_int_equal(mock_status(f, "zl-demo-worker-1"), BACKEND_STATUS_MISSING);
	assert_int_equal(mock_status(f, "zl-demo-worker-2"), BACKEND_STATUS_MISSING);
	assert_int_equal(mock_status(f, "zl-demo-web-1"), BACKEND_STATUS_RUNNING);
	free(both);
}

static void test_deployments_do_not_touch_each_other(void **state)
{
	struct fixture *f = *state;
	char *demo = demo_yaml(DEP, 2, "a", 0, NULL);
	char *other = demo_yaml("other", 2, "a", 0, NULL);
	struct zl_buf both = { 0 };
	zl_buf_printf(&both, "%s---\n%s", demo, other);
	apply_ok(f, both.data);
	free(take_lines(f));
	assert_sql(f, "SELECT deployment, service, idx, state FROM replicas ORDER BY 1, 2, 3",
		   "demo|web|1|running\ndemo|web|2|running\n"
		   "other|web|1|running\nother|web|2|running\n");
	char *other_rows = sql_text(f, "SELECT * FROM replicas WHERE deployment = 'other'");

	/* Applying demo alone (scaled to 1, new env) leaves "other" as it was. */
	apply_web(f, 1, "b");
	assert_lines(f, "- remove web-rep-2 (scale to 1)\n~ recreate web-rep-1 (env changed)\n");
	char *other_after = sql_text(f, "SELECT * FROM replicas WHERE deployment = 'other'");
	assert_string_equal(other_after, other_rows);
	assert_int_equal(mock_status(f, "zl-other-web-1"), BACKEND_STATUS_RUNNING);
	assert_int_equal(mock_status(f, "zl-other-web-2"), BACKEND_STATUS_RUNNING);
	assert_int_equal(mock_status(f, "zl-demo-web-2"), BACKEND_STATUS_MISSING);
	assert_sql(f, "SELECT deployment, name FROM services ORDER BY 1, 2",
		   "demo|web\nother|web\n");
	free(other_rows);
	free(other_after);
	free(demo);
	free(other);
	zl_buf_free(&both);
}

static void test_create_failure_is_recorded_and_retried(void **state)
{
	struct fixture *f = *state;
	char *yaml = demo_yaml(DEP, 3, "a", 0, NULL);
	setenv("ZLAPPLY_MOCK_FAIL", "start:zl-demo-web-2", 1);
	struct reconcile_result res;
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(apply_text(f, yaml, &res, &err), -1);
	unsetenv("ZLAPPLY_MOCK_FAIL");
	assert_int_equal(err.kind, ZL_ERR_FAIL);
	assert_string_equal(err.msg,
			    "create web-rep-2: start: mock: injected failure of start for zl-demo-web-2");
	assert_int_equal(res.actions_planned, 3);
	assert_int_equal(res.actions_done, 2);
	assert_int_equal(res.actions_failed, 1);
	/* the other replicas were still created */
	assert_lines(f, "+ create web-rep-1\n+ create web-rep-2\n+ create web-rep-3\n");

	struct state_replicas rows = { 0 };
	load_rows(f, DEP, &rows);
	assert_int_equal(rows.count, 3);
	assert_int_equal(rows.items[0].state, STATE_REPLICA_RUNNING);
	assert_int_equal(rows.items[1].state, STATE_REPLICA_FAILED);
	assert_contains(rows.items[1].error, "injected failure of start for zl-demo-web-2");
	assert_int_equal(rows.items[2].state, STATE_REPLICA_RUNNING);
	state_replicas_free(&rows);
	/* nothing half-made is left in the backend */
	assert_int_equal(mock_status(f, "zl-demo-web-2"), BACKEND_STATUS_MISSING);
	assert_int_equal(mock_status(f, "zl-demo-web-1"), BACKEND_STATUS_RUNNING);
	assert_int_equal(mock_status(f, "zl-demo-web-3"), BACKEND_STATUS_RUNNING);
	assert_sql(f, "SELECT action, idx, status FROM journal ORDER BY id",
		   "create|1|done\ncreate|2|failed\ncreate|3|done\n");
	assert_sql(f, "SELECT kind FROM events WHERE idx = 2", "created\nfailed\n");
	/* the spec was accepted even though an action failed */
	assert_sql(f, "SELECT name, desired_replicas FROM services", "web|3\n");

	/* The next run, without the fault, brings it up. */
	res = apply_ok(f, yaml);
	assert_int_equal(res.actions_planned, 1);
	assert_lines(f, "~ recreate web-rep-2 (failed before)\n");
	load_rows(f, DEP, &rows);
	assert_int_equal(rows.count, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(rows.items[i].state, STATE_REPLICA_RUNNING);
		assert_null(rows.items[i].error);
	}
	assert_int_equal(mock_state(f, "zl-demo-web-2").pid, rows.items[1].pid);
	state_replicas_free(&rows);
	assert_int_equal(apply_ok(f, yaml).actions_planned, 0);
	free(yaml);
}

/* A rolling update whose new replicas fail to start must stop at the first
 * failure: the replicas not yet replaced keep serving the old spec. Fails
 * today: apply_deployment() carries on with the remaining recreates after one
 * failed, so a broken spec takes down every replica of the service. */
static void test_failed_rollout_keeps_the_old_replicas(void **state)
{
	struct fixture *f = *state;
	apply_web(f, 3, "a");
	free(take_lines(f));
	char *old_hash = sql_text(f, "SELECT spec_hash FROM replicas WHERE idx = 3");

	char *yaml = demo_yaml(DEP, 3, "b", 0, NULL);
	setenv("ZLAPPLY_MOCK_FAIL", "start:*", 1);
	struct reconcile_result res;
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(apply_text(f, yaml, &res, &err), -1);
	unsetenv("ZLAPPLY_MOCK_FAIL");
	assert_contains(err.msg, "web-rep-1");
	assert_sql(f, "SELECT idx, state FROM replicas ORDER BY idx",
		   "1|failed\n2|running\n3|running\n");
	char *hash3 = sql_text(f, "SELECT spec_hash FROM replicas WHERE idx = 3");
	assert_string_equal(hash3, old_hash);
	assert_int_equal(mock_status(f, "zl-demo-web-2"), BACKEND_STATUS_RUNNING);
	assert_int_equal(mock_status(f, "zl-demo-web-3"), BACKEND_STATUS_RUNNING);
	free(hash3);
	free(old_hash);
	free(yaml);
}

static void test_remove_failure_keeps_the_replica(void **state)
{
	struct fixture *f = *state;
	apply_web(f, 2, "a");
	free(take_lines(f));
	char *yaml = demo_yaml(DEP, 1, "a", 0, NULL);
	setenv("ZLAPPLY_MOCK_FAIL", "remove:zl-demo-web-2", 1);
	struct reconcile_result res;
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(apply_text(f, yaml, &res, &err), -1);
	unsetenv("ZLAPPLY_MOCK_FAIL");
	assert_string_equal(err.msg,
			    "remove web-rep-2: remove: mock: injected failure of remove for zl-demo-web-2");
	assert_int_equal(res.actions_failed, 1);
	/* still recorded, marked failed: zlapply knows it has a container to clean up */
	assert_sql(f, "SELECT idx, state FROM replicas ORDER BY idx", "1|running\n2|failed\n");
	assert_true(mock_status(f, "zl-demo-web-2") != BACKEND_STATUS_MISSING);
	free(take_lines(f));

	apply_ok(f, yaml);
	assert_lines(f, "- remove web-rep-2 (scale to 1)\n");
	assert_sql(f, "SELECT idx, state FROM replicas ORDER BY idx", "1|running\n");
	assert_int_equal(mock_status(f, "zl-demo-web-2"), BACKEND_STATUS_MISSING);
	free(yaml);
}

static void test_bad_input_changes_nothing(void **state)
{
	struct fixture *f = *state;
	unsetenv("ZL_TEST_NO_SUCH_VAR");
	char *bad = demo_yaml(DEP, 2, "$E:ZL_TEST_NO_SUCH_VAR", 0, NULL);
	struct reconcile_result res;
	struct zl_err err = ZL_ERR_INIT;

	/* on a fresh root: not even a database is created */
	assert_int_equal(apply_text(f, bad, &res, &err), -1);
	assert_int_equal(err.kind, ZL_ERR_INPUT);
	assert_contains(err.msg, "ZL_TEST_NO_SUCH_VAR");
	assert_false(path_exists(f->root, "state.db"));
	assert_false(path_exists(f->root, "mock/zl-demo-web-1"));

	/* on a deployed root: nothing recorded changes */
	apply_web(f, 2, "a");
	free(take_lines(f));
	char *before = dump_db(f);
	err = (struct zl_err)ZL_ERR_INIT;
	assert_int_equal(apply_text(f, bad, &res, &err), -1);
	assert_int_equal(err.kind, ZL_ERR_INPUT);
	char *after = dump_db(f);
	assert_string_equal(after, before);
	assert_lines(f, "");
	free(before);
	free(after);
	free(bad);
}

static void test_dry_run_only_prints(void **state)
{
	struct fixture *f = *state;
	f->opts.dry_run = true;
	struct reconcile_result res = { 0 };
	struct zl_err err = ZL_ERR_INIT;
	char *yaml3 = demo_yaml(DEP, 3, "a", 0, NULL);
	assert_ok(apply_text(f, yaml3, &res, &err), err);
	assert_int_equal(res.actions_planned, 3);
	assert_int_equal(res.actions_done, 0);
	assert_lines(f, "+ create web-rep-1\n+ create web-rep-2\n+ create web-rep-3\n");
	assert_false(path_exists(f->root, "mock/zl-demo-web-1"));

	f->opts.dry_run = false;
	apply_web(f, 1, "a");
	free(take_lines(f));
	char *before = dump_db(f);
	f->opts.dry_run = true;
	assert_ok(apply_text(f, yaml3, &res, &err), err);
	assert_lines(f, "+ create web-rep-2\n+ create web-rep-3\n");
	char *after = dump_db(f);
	assert_string_equal(after, before);
	assert_int_equal(mock_status(f, "zl-demo-web-2"), BACKEND_STATUS_MISSING);
	free(before);
	free(after);
	free(yaml3);
}

/* ---- observe: exits are noticed, recorded and acted on ---- */

static void test_exited_replica_is_restarted(void **state)
{
	struct fixture *f = *state;
	clock_fixture = f;
	struct zl_err err = ZL_ERR_INIT;
	apply_web(f, 2, "a");
	free(take_lines(f));
	int64_t events_before = sql_int(f, "SELECT max(id) FROM events");
	assert_ok(backend_mock_set_exit(f->root, "zl-demo-web-1", 3, 0, &err), err);
	sleep_ms(2); /* see test_exit_is_recorded_within_the_same_millisecond */

	struct reconcile_result res = apply_web(f, 2, "a");
	assert_int_equal(res.actions_planned, 1);
	assert_lines(f, "> restart web-rep-1 (exited 3)\n");

	struct state_replicas rows = { 0 };
	load_rows(f, DEP, &rows);
	assert_int_equal(rows.items[0].state, STATE_REPLICA_RUNNING);
	assert_int_equal(rows.items[0].restarts, 1);
	assert_int_equal(rows.items[0].exit_code, -1);
	assert_int_equal(mock_state(f, "zl-demo-web-1").pid, rows.items[0].pid);
	assert_int_equal(rows.items[1].restarts, 0);
	state_replicas_free(&rows);

	char q[128];
	snprintf(q, sizeof(q), "SELECT idx, kind, message FROM events WHERE id > %lld ORDER BY id",
		 (long long)events_before);
	assert_sql(f, q, "1|exited|exited with code 3\n1|restarted|exited 3: restart 1\n");
	assert_sql(f, "SELECT action, idx, status FROM journal WHERE action = 'restart'",
		   "restart|1|done\n");

	/* a second crash counts on, after 10 s of back-off (the first restart
	 * after a crash is immediate, the next ones back off) */
	assert_ok(backend_mock_set_exit(f->root, "zl-demo-web-1", 0, 9, &err), err);
	sleep_ms(2);
	apply_web(f, 2, "a");
	assert_lines(f, "");
	int64_t finished = sql_int(f, "SELECT finished_at FROM replicas WHERE idx = 1");
	assert_int_equal(sql_int(f, "SELECT backoff_until FROM replicas WHERE idx = 1"),
			 finished + 10000);
	/* events: the exit says when the next start comes; the restart, the
	 * back-off it waited */
	assert_sql(f, "SELECT message, data FROM events WHERE kind = 'exited' ORDER BY id DESC LIMIT 1",
		   "killed by SIGKILL; next start in 10s (back-off after 1 restart)|"
		   "{\"exit_code\":0,\"signal\":9,\"signal_name\":\"SIGKILL\",\"reason\":\"signal\","
		   "\"restarts\":1,\"backoff_ms\":10000}\n");
	set_clock(finished + 10000);
	apply_web(f, 2, "a");
	assert_lines(f, "> restart web-rep-1 (killed by SIGKILL)\n");
	assert_int_equal(sql_int(f, "SELECT restarts FROM replicas WHERE idx = 1"), 2);
	assert_sql(f, "SELECT message, data FROM events WHERE kind = 'restarted' ORDER BY id DESC LIMIT 1",
		   "killed by SIGKILL: restart 2 after 10s back-off|"
		   "{\"reason\":\"killed by SIGKILL\",\"restarts\":2,\"backoff_ms\":10000}\n");
}

static void test_exit_is_recorded_when_policy_says_no(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	char *yaml = demo_yaml(DEP, 1, "a", 0, "    restart_policy:\n      kind: \"no\"\n");
	apply_ok(f, yaml);
	free(take_lines(f));
	assert_ok(backend_mock_set_exit(f->root, "zl-demo-web-1", 4, 0, &err), err);
	sleep_ms(2);

	struct reconcile_result res = apply_ok(f, yaml);
	assert_int_equal(res.actions_planned, 0);
	assert_lines(f, "");
	assert_sql(f, "SELECT state, exit_code, exit_reason, pid FROM replicas",
		   "exited|4|exited|-1\n");
	assert_sql(f, "SELECT kind, message FROM events WHERE kind = 'exited'",
		   "exited|exited with code 4\n");
	/* recorded once: the next run has nothing to write */
	char *before = dump_db(f);
	sleep_ms(2);
	apply_ok(f, yaml);
	char *after = dump_db(f);
	assert_string_equal(after, before);
	free(before);
	free(after);
	free(yaml);
}

static int64_t fixed_clock(void)
{
	return 1700000000000;
}

/* A run whose clock reads the same millisecond as the rows' last update
 * (an injected clock, or a fast `watch` re-apply) must still record what
 * observe found. Fails today: apply.c's record_observed() detects changed
 * rows by comparing updated_at, which observe_refresh() sets to now_ms, so a
 * change observed in the same millisecond is never written (and its
 * "exited" event is lost). */
static void test_exit_is_recorded_within_the_same_millisecond(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	f->opts.clock_ms = fixed_clock;
	char *yaml = demo_yaml(DEP, 1, "a", 0, "    restart_policy:\n      kind: \"no\"\n");
	apply_ok(f, yaml);
	assert_ok(backend_mock_set_exit(f->root, "zl-demo-web-1", 4, 0, &err), err);
	apply_ok(f, yaml);
	assert_sql(f, "SELECT state, exit_code FROM replicas", "exited|4\n");
	assert_sql(f, "SELECT count(*) FROM events WHERE kind = 'exited'", "1\n");
	free(yaml);
}

static void test_lost_replica_is_recreated(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	apply_web(f, 2, "a");
	free(take_lines(f));
	/* the backend forgets replica 2 behind zlapply's back */
	struct backend *b = NULL;
	assert_ok(backend_open("mock", f->root, NULL, &b, &err), err);
	assert_ok(b->ops->remove(b, "zl-demo-web-2", &err), err);
	backend_close(b);
	sleep_ms(2);

	apply_web(f, 2, "a");
	assert_lines(f, "~ recreate web-rep-2 (lost by the backend)\n");
	assert_sql(f, "SELECT kind FROM events WHERE idx = 2 AND kind = 'lost'", "lost\n");
	assert_sql(f, "SELECT idx, state FROM replicas ORDER BY idx", "1|running\n2|running\n");
	assert_int_equal(mock_status(f, "zl-demo-web-2"), BACKEND_STATUS_RUNNING);
}

static void test_observe_refresh(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	apply_web(f, 3, "a");
	struct state_replicas rows = { 0 };
	load_rows(f, DEP, &rows);
	struct backend *b = NULL;
	assert_ok(backend_open("mock", f->root, NULL, &b, &err), err);

	/* nothing happened: nothing changes, not even updated_at */
	int64_t updated = rows.items[0].updated_at;
	assert_int_equal(observe_refresh(b, &rows, updated + 1000), 0);
	assert_int_equal(rows.items[0].updated_at, updated);

	assert_ok(backend_mock_set_exit(f->root, "zl-demo-web-1", 3, 0, &err), err);
	assert_ok(b->ops->remove(b, "zl-demo-web-3", &err), err);
	assert_int_equal(observe_refresh(b, &rows, updated + 2000), 2);
	assert_int_equal(rows.items[0].state, STATE_REPLICA_EXITED);
	assert_int_equal(rows.items[0].exit_code, 3);
	assert_int_equal(rows.items[0].pid, -1);
	assert_string_equal(rows.items[0].exit_reason, "exited");
	assert_true(rows.items[0].finished_at > 0);
	assert_int_equal(rows.items[0].updated_at, updated + 2000);
	assert_int_equal(rows.items[1].state, STATE_REPLICA_RUNNING);
	assert_int_equal(rows.items[2].state, STATE_REPLICA_UNKNOWN);

	/* pure on rows: the database still says running */
	assert_sql(f, "SELECT state FROM replicas ORDER BY idx", "running\nrunning\nrunning\n");
	backend_close(b);
	state_replicas_free(&rows);
}

/* ---- replica ids ---- */

/* Ids join names that may hold '-': demo-x's web-db and demo's x-web-db
 * are both zl-demo-x-web-db-1. The second must not touch the first. */
static void test_colliding_replica_id_is_refused(void **state)
{
	struct fixture *f = *state;
	static const char first[] = "version: v1\ndeployment: demo-x\nservices:\n"
				    "  web-db:\n    image: { name: nginx:1.25 }\n";
	static const char second[] = "version: v1\ndeployment: demo\nservices:\n"
				     "  x-web-db:\n    image: { name: nginx:1.25 }\n";
	apply_ok(f, first);
	int64_t pid = mock_state(f, "zl-demo-x-web-db-1").pid;
	free(take_lines(f));

	struct reconcile_result res;
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(apply_text(f, second, &res, &err), -1);
	assert_int_equal(res.actions_failed, 1);
	assert_string_equal(err.msg, "create x-web-db-rep-1: demo/x-web-db-rep-1: its id "
				     "zl-demo-x-web-db-1 is already demo-x/web-db-rep-1's; rename "
				     "the deployment or the service");
	/* the first deployment's replica is untouched */
	struct backend_state st = mock_state(f, "zl-demo-x-web-db-1");
	assert_int_equal(st.status, BACKEND_STATUS_RUNNING);
	assert_int_equal(st.pid, pid);
	assert_sql(f, "SELECT deployment, service, state FROM replicas",
		   "demo-x|web-db|running\n");
}

/* ---- execute_action directly ---- */

static void test_execute_action_create_failure_message(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	char *yaml = demo_yaml(DEP, 1, "a", 0, NULL);
	struct spec_set set;
	load_spec(yaml, &set);
	struct plan_desired_service ds = { .svc = spec_deployment_find(&set.deployments[0], "web"),
					   .replicas = 1 };
	char secrets[128];
	snprintf(secrets, sizeof(secrets), "%s/secrets", f->root);
	assert_ok(spec_service_hash(&set.deployments[0], ds.svc, secrets, ds.spec_hash,
				    &ds.sections, &err),
		  err);
	struct plan_action a = { .kind = PLAN_CREATE, .deployment = DEP, .service = "web",
				 .index = 1, .desired = &ds };
	struct crash_env c;
	crash_open(f, &c);

	setenv("ZLAPPLY_MOCK_FAIL", "create:*", 1);
	assert_int_equal(execute_action(c.db, c.b, &a, NULL, &(struct execute_env){ .secrets_dir = secrets }, &err), -1);
	unsetenv("ZLAPPLY_MOCK_FAIL");
	assert_string_equal(err.msg,
			    "create web-rep-1: create: mock: injected failure of create for zl-demo-web-1");
	assert_sql(f, "SELECT state, error FROM replicas",
		   "failed|create: mock: injected failure of create for zl-demo-web-1\n");
	assert_sql(f, "SELECT action, status FROM journal", "create|failed\n");

	/* and succeeds once the backend does */
	struct state_replicas rows = { 0 };
	load_rows(f, DEP, &rows);
	a.kind = PLAN_RECREATE;
	err = (struct zl_err)ZL_ERR_INIT;
	assert_ok(execute_action(c.db, c.b, &a, &rows.items[0], &(struct execute_env){ .secrets_dir = secrets }, &err), err);
	state_replicas_free(&rows);
	char want[128];
	snprintf(want, sizeof(want), "running|NULL|%s\n", ds.spec_hash);
	assert_sql(f, "SELECT state, error, spec_hash FROM replicas", want);
	assert_int_equal(mock_status(f, "zl-demo-web-1"), BACKEND_STATUS_RUNNING);
	crash_close(&c);
	free(ds.sections);
	spec_set_free(&set);
	free(yaml);
}

/* ---- delete and status ---- */

static void test_delete_removes_everything_of_the_deployment(void **state)
{
	struct fixture *f = *state;
	char *demo = demo_yaml(DEP, 2, "a", 1, NULL);
	char *other = demo_yaml("other", 1, "a", 0, NULL);
	struct zl_buf both = { 0 };
	zl_buf_printf(&both, "%s---\n%s", demo, other);
	apply_ok(f, both.data);
	free(take_lines(f));

	const char *names[] = { DEP };
	struct reconcile_result res;
	struct zl_err err = ZL_ERR_INIT;
	assert_ok(reconcile_delete(&f->opts, names, 1, &res, &err), err);
	assert_int_equal(res.actions_planned, 3);
	assert_int_equal(res.actions_done, 3);
	assert_sql(f, "SELECT deployment, service, idx FROM replicas", "other|web|1\n");
	assert_sql(f, "SELECT deployment, name FROM services", "other|web\n");
	assert_sql(f, "SELECT name FROM deployments", "other\n");
	assert_int_equal(mock_status(f, "zl-demo-web-1"), BACKEND_STATUS_MISSING);
	assert_int_equal(mock_status(f, "zl-demo-web-2"), BACKEND_STATUS_MISSING);
	assert_int_equal(mock_status(f, "zl-demo-worker-1"), BACKEND_STATUS_MISSING);
	assert_int_equal(mock_status(f, "zl-other-web-1"), BACKEND_STATUS_RUNNING);
	assert_sql(f, "SELECT count(*) FROM journal WHERE action = 'remove' AND status = 'done'",
		   "3\n");

	/* deleting it again (or something never deployed) is fine and does nothing */
	const char *again[] = { DEP, "never" };
	assert_ok(reconcile_delete(&f->opts, again, 2, &res, &err), err);
	assert_int_equal(res.actions_planned, 0);
	free(demo);
	free(other);
	zl_buf_free(&both);
}

static void test_status_refreshes_without_writing(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	struct state_replicas rows = { 0 };

	/* nothing deployed yet: an empty list, and no database appears */
	assert_ok(reconcile_status(f->root, NULL, &rows, &err), err);
	assert_int_equal(rows.count, 0);
	assert_false(path_exists(f->root, "state.db"));
	state_replicas_free(&rows);

	apply_web(f, 2, "a");
	assert_ok(backend_mock_set_exit(f->root, "zl-demo-web-1", 3, 0, &err), err);
	char *before = dump_db(f);
	assert_ok(reconcile_status(f->root, DEP, &rows, &err), err);
	assert_int_equal(rows.count, 2);
	assert_int_equal(rows.items[0].state, STATE_REPLICA_EXITED);
	assert_int_equal(rows.items[0].exit_code, 3);
	assert_int_equal(rows.items[1].state, STATE_REPLICA_RUNNING);
	state_replicas_free(&rows);
	char *after = dump_db(f);
	assert_string_equal(after, before);

	assert_ok(reconcile_status(f->root, "other", &rows, &err), err);
	assert_int_equal(rows.count, 0);
	state_replicas_free(&rows);
	free(before);
	free(after);
}

int main(void)
{
	zl_log_set_level(ZL_LOG_ERROR); /* recovery notes and injected failures are expected */
	const struct CMUnitTest tests[] = {
		T(test_apply_creates_running_replicas),
		T(test_second_apply_changes_nothing),
		T(test_env_change_rolls_replicas_one_at_a_time),
		T(test_secret_change_recreates),
		T(test_scale_down_removes_highest_first),
		T(test_service_dropped_from_spec_is_removed),
		T(test_deployments_do_not_touch_each_other),
		T(test_create_failure_is_recorded_and_retried),
		T(test_failed_rollout_keeps_the_old_replicas),
		T(test_remove_failure_keeps_the_replica),
		T(test_bad_input_changes_nothing),
		T(test_dry_run_only_prints),
		T(test_exited_replica_is_restarted),
		T(test_exit_is_recorded_when_policy_says_no),
		T(test_exit_is_recorded_within_the_same_millisecond),
		T(test_lost_replica_is_recreated),
		T(test_observe_refresh),
		T(test_colliding_replica_id_is_refused),
		T(test_execute_action_create_failure_message),
		T(test_delete_removes_everything_of_the_deployment),
		T(test_status_refreshes_without_writing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
