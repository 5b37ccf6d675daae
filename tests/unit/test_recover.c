/* test_recover.c: recovery (reconcile/recover.c) against a real SQLite state
 * and the mock backend: the journal entries a crashed run left are finished
 * or undone, and the next apply adopts rather than duplicates. Each test has
 * its own state root and removes it. */
#include "execute-fixture.h"

/* ---- crash recovery ---- */

/* What a run killed mid-create leaves: a pending journal entry and a
 * CREATING row (and, depending on when it died, a container). */
static int64_t crash_mid_action_at(struct state_db *db, const char *dep, int index,
				   const char *action, enum state_replica_state row_state,
				   const char *hash, const char *sections, int64_t when)
{
	struct zl_err err = ZL_ERR_INIT;
	int64_t id = 0;
	char *bid = backend_replica_id(dep, "web", index);
	assert_ok(state_begin(db, &err), err);
	assert_ok(state_journal_begin(db, dep, "web", index, action, hash, when, &id, &err), err);
	struct state_replica r;
	state_replica_init(&r);
	r.deployment = zl_xstrdup(dep);
	r.service = zl_xstrdup("web");
	r.index = index;
	r.backend = zl_xstrdup("mock");
	r.backend_id = bid;
	r.state = row_state;
	r.spec_hash = zl_xstrdup(hash);
	r.spec_sections = zl_xstrdup(sections);
	r.created_at = r.updated_at = 1000;
	assert_ok(state_replica_upsert(db, &r, &err), err);
	assert_ok(state_commit(db, &err), err);
	state_replica_clear(&r);
	return id;
}

static int64_t crash_mid_action(struct state_db *db, const char *dep, int index,
				const char *action, enum state_replica_state row_state,
				const char *hash, const char *sections)
{
	return crash_mid_action_at(db, dep, index, action, row_state, hash, sections, 1000);
}

static void mock_make(struct backend *b, const char *dep, int index, const char *hash,
		      bool start)
{
	struct zl_err err = ZL_ERR_INIT;
	struct spec_service web = { .name = "web" };
	char *id = backend_replica_id(dep, "web", index);
	struct backend_replica_spec rs = {
		.deployment = dep, .service = &web, .index = index, .backend_id = id,
		.spec_hash = hash,
	};
	assert_ok(b->ops->create(b, &rs, &err), err);
	if (start)
		assert_ok(b->ops->start(b, id, &err), err);
	free(id);
}

static char *journal_status(struct fixture *f, int64_t id)
{
	char q[96];
	snprintf(q, sizeof(q), "SELECT status FROM journal WHERE id = %lld", (long long)id);
	return sql_text(f, q);
}

static void assert_journal(struct fixture *f, int64_t id, const char *status)
{
	char *s = journal_status(f, id);
	char want[32];
	snprintf(want, sizeof(want), "%s\n", status);
	assert_string_equal(s, want);
	free(s);
}

static int64_t recover(struct crash_env *c, const char *dep)
{
	struct zl_err err = ZL_ERR_INIT;
	int64_t before = state_total_changes(c->db);
	assert_ok(recover_pending(c->db, c->b, dep, 5000, &err), err);
	return state_total_changes(c->db) - before;
}

static void test_recover_adopts_a_running_replica(void **state)
{
	struct fixture *f = *state;
	struct crash_env c;
	crash_open(f, &c);
	int64_t j = crash_mid_action(c.db, DEP, 1, "create", STATE_REPLICA_CREATING, "h1", "{}");
	mock_make(c.b, DEP, 1, "h1", true); /* it died after start */
	int64_t pid = mock_state(f, "zl-demo-web-1").pid;

	recover(&c, DEP);
	assert_journal(f, j, "done");
	char want[96];
	snprintf(want, sizeof(want), "running|%lld|h1\n", (long long)pid);
	assert_sql(f, "SELECT state, pid, spec_hash FROM replicas", want);
	/* adopted, not replaced */
	struct backend_state st = mock_state(f, "zl-demo-web-1");
	assert_int_equal(st.status, BACKEND_STATUS_RUNNING);
	assert_int_equal(st.pid, pid);
	assert_sql(f, "SELECT idx, kind, message FROM events",
		   "1|recovered|create interrupted; replica was running, adopted\n");

	/* settled once: nothing is pending for the next run */
	assert_int_equal(recover(&c, DEP), 0);
	crash_close(&c);
}

/* state.db lost while replicas run: the next apply adopts them from the
 * backend's records (same pids, nothing planned) instead of creating
 * replicas that collide with them; a changed spec then replaces them. */
static void test_lost_database_adopts_instead_of_colliding(void **state)
{
	struct fixture *f = *state;
	apply_web(f, 2, "fixed");
	free(take_lines(f));
	int64_t pid1 = mock_state(f, "zl-demo-web-1").pid, pid2 = mock_state(f, "zl-demo-web-2").pid;
	char path[4096];
	const char *files[] = { "state.db", "state.db-wal", "state.db-shm" };
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", f->root, files[i]);
		unlink(path);
	}

	struct reconcile_result res = apply_web(f, 2, "fixed");
	assert_int_equal(res.actions_planned, 0);
	assert_lines(f, "");
	char want[128];
	snprintf(want, sizeof(want), "1|running|%lld\n2|running|%lld\n", (long long)pid1, (long long)pid2);
	assert_sql(f, "SELECT idx, state, pid FROM replicas ORDER BY idx", want);
	assert_sql(f, "SELECT count(*) FROM events WHERE kind = 'adopted'", "2\n");
	assert_int_equal(mock_state(f, "zl-demo-web-1").pid, pid1);

	/* Adopted rows are rows like any other: a third replica is created,
	 * and a delete removes all three. */
	apply_web(f, 3, "fixed");
	assert_lines(f, "+ create web-rep-3\n");
	const char *names[] = { DEP };
	struct zl_err err = ZL_ERR_INIT;
	assert_ok(reconcile_delete(&f->opts, names, 1, &res, &err), err);
	assert_int_equal(mock_status(f, "zl-demo-web-1"), BACKEND_STATUS_MISSING);
	assert_int_equal(mock_status(f, "zl-demo-web-3"), BACKEND_STATUS_MISSING);
}

/* A diff while another run holds the lock: a replica that run is creating
 * is under way, not "interrupted"; without the lock held nobody works on
 * it, and the plan says why it must be replaced. */
static void test_diff_during_an_apply_says_so(void **state)
{
	struct fixture *f = *state;
	apply_web(f, 1, "fixed");
	free(take_lines(f));
	struct crash_env c;
	crash_open(f, &c);
	crash_mid_action(c.db, DEP, 2, "create", STATE_REPLICA_CREATING, "h1", "{}");
	crash_close(&c);
	struct state_lock lock = { .fd = -1 };
	struct zl_err err = ZL_ERR_INIT;
	assert_ok(state_lock_acquire(f->root, 0, &lock, &err), err);
	f->opts.dry_run = true;
	struct reconcile_result res;
	char *yaml = demo_yaml(DEP, 2, "fixed", 0, NULL);
	assert_ok(apply_text(f, yaml, &res, &err), err);
	char *lines = take_lines(f);
	assert_contains(lines, "web-rep-2 (an apply is in progress)");
	free(lines);
	state_lock_release(&lock);
	assert_ok(apply_text(f, yaml, &res, &err), err);
	lines = take_lines(f);
	assert_contains(lines, "web-rep-2");
	assert_null(strstr(lines, "in progress"));
	free(lines);
	free(yaml);
	f->opts.dry_run = false;
}

static void test_recover_undoes_a_create_that_never_ran(void **state)
{
	struct fixture *f = *state;
	struct crash_env c;
	crash_open(f, &c);
	/* died before the backend was asked */
	int64_t j1 = crash_mid_action(c.db, DEP, 1, "create", STATE_REPLICA_CREATING, "h1", "{}");
	/* died between create and start: a half-made container */
	int64_t j2 = crash_mid_action(c.db, DEP, 2, "create", STATE_REPLICA_CREATING, "h1", "{}");
	mock_make(c.b, DEP, 2, "h1", false);

	recover(&c, DEP);
	assert_journal(f, j1, "undone");
	assert_journal(f, j2, "undone");
	assert_sql(f, "SELECT count(*) FROM replicas", "0\n");
	assert_int_equal(mock_status(f, "zl-demo-web-1"), BACKEND_STATUS_MISSING);
	assert_int_equal(mock_status(f, "zl-demo-web-2"), BACKEND_STATUS_MISSING);
	assert_sql(f, "SELECT idx, kind FROM events ORDER BY id", "1|recovered\n2|recovered\n");
	crash_close(&c);
}

static void test_recover_completes_a_pending_remove(void **state)
{
	struct fixture *f = *state;
	struct crash_env c;
	crash_open(f, &c);
	int64_t j = crash_mid_action(c.db, DEP, 1, "remove", STATE_REPLICA_REMOVING, "h1", "{}");
	mock_make(c.b, DEP, 1, "h1", true);

	recover(&c, DEP);
	assert_journal(f, j, "done");
	assert_sql(f, "SELECT count(*) FROM replicas", "0\n");
	assert_int_equal(mock_status(f, "zl-demo-web-1"), BACKEND_STATUS_MISSING);
	crash_close(&c);
}

static void test_recover_leaves_other_deployments(void **state)
{
	struct fixture *f = *state;
	struct crash_env c;
	crash_open(f, &c);
	int64_t mine = crash_mid_action(c.db, DEP, 1, "create", STATE_REPLICA_CREATING, "h1", "{}");
	int64_t theirs =
		crash_mid_action(c.db, "other", 1, "create", STATE_REPLICA_CREATING, "h1", "{}");
	mock_make(c.b, "other", 1, "h1", false);

	recover(&c, DEP);
	assert_journal(f, mine, "undone");
	assert_journal(f, theirs, "pending");
	assert_sql(f, "SELECT deployment, state FROM replicas", "other|creating\n");
	assert_int_equal(mock_status(f, "zl-other-web-1"), BACKEND_STATUS_CREATED);
	crash_close(&c);
}

static void test_recover_completes_a_pending_restart(void **state)
{
	struct fixture *f = *state;
	struct crash_env c;
	crash_open(f, &c);
	struct zl_err err = ZL_ERR_INIT;
	/* 1: a liveness restart journaled, stopped the replica, and died. */
	mock_make(c.b, DEP, 1, "h1", true);
	assert_ok(c.b->ops->stop(c.b, "zl-demo-web-1", SIGTERM, 1000, &err), err);
	/* 2: ... died during the stop grace: the old run still runs. */
	mock_make(c.b, DEP, 2, "h1", true);
	int64_t old2 = mock_state(f, "zl-demo-web-2").pid;
	/* 3: ... died after the start: the restarted run exited on its own. */
	int64_t t = zl_now_ms() + 1;
	int64_t j1 = crash_mid_action_at(c.db, DEP, 1, "restart", STATE_REPLICA_RUNNING, "h1", "{}", t);
	int64_t j2 = crash_mid_action_at(c.db, DEP, 2, "restart", STATE_REPLICA_RUNNING, "h1", "{}", t);
	int64_t j3 = crash_mid_action_at(c.db, DEP, 3, "restart", STATE_REPLICA_RUNNING, "h1", "{}", t);
	struct timespec pause = { 0, 5 * 1000000 };
	nanosleep(&pause, NULL);
	mock_make(c.b, DEP, 3, "h1", true);
	assert_ok(c.b->ops->stop(c.b, "zl-demo-web-3", SIGTERM, 1000, &err), err);

	recover(&c, DEP);
	assert_journal(f, j1, "done");
	assert_journal(f, j2, "done");
	assert_journal(f, j3, "undone");
	assert_int_equal(mock_status(f, "zl-demo-web-1"), BACKEND_STATUS_RUNNING);
	assert_int_equal(mock_status(f, "zl-demo-web-2"), BACKEND_STATUS_RUNNING);
	assert_true(mock_state(f, "zl-demo-web-2").pid != old2);
	/* the restarted run's own exit is left for observe and the policy */
	assert_int_equal(mock_status(f, "zl-demo-web-3"), BACKEND_STATUS_EXITED);
	char want[160];
	snprintf(want, sizeof(want), "1|running|%lld|1\n2|running|%lld|1\n3|running|-1|0\n",
		 (long long)mock_state(f, "zl-demo-web-1").pid,
		 (long long)mock_state(f, "zl-demo-web-2").pid);
	assert_sql(f, "SELECT idx, state, pid, restarts FROM replicas ORDER BY idx", want);
	assert_sql(f, "SELECT idx, message FROM events ORDER BY idx",
		   "1|restart interrupted; completed at recovery\n"
		   "2|restart interrupted; completed at recovery\n"
		   "3|interrupted; state re-observed\n");
	crash_close(&c);
}

/* The spec hash and sections apply would record for demo's web. */
static void desired_hash(struct fixture *f, const char *yaml, char hash[65], char **sections)
{
	struct spec_set set;
	struct zl_err err = ZL_ERR_INIT;
	char secrets[128];
	snprintf(secrets, sizeof(secrets), "%s/secrets", f->root);
	load_spec(yaml, &set);
	const struct spec_deployment *d = &set.deployments[0];
	assert_ok(spec_service_hash(d, spec_deployment_find(d, "web"), secrets, hash, sections,
				    &err),
		  err);
	spec_set_free(&set);
}

static void test_apply_after_crash_adopts_and_never_duplicates(void **state)
{
	struct fixture *f = *state;
	char *yaml = demo_yaml(DEP, 2, "a", 0, NULL);
	char hash[65];
	char *sections = NULL;
	desired_hash(f, yaml, hash, &sections);

	struct crash_env c;
	crash_open(f, &c);
	/* replica 1 was started, replica 2 only journaled when the run died */
	crash_mid_action(c.db, DEP, 1, "create", STATE_REPLICA_CREATING, hash, sections);
	mock_make(c.b, DEP, 1, hash, true);
	crash_mid_action(c.db, DEP, 2, "create", STATE_REPLICA_CREATING, hash, sections);
	crash_close(&c);
	int64_t pid1 = mock_state(f, "zl-demo-web-1").pid;

	struct reconcile_result res = apply_ok(f, yaml);
	assert_int_equal(res.actions_planned, 1);
	assert_lines(f, "+ create web-rep-2\n");
	assert_int_equal(sql_int(f, "SELECT pid FROM replicas WHERE idx = 1"), pid1);
	assert_sql(f, "SELECT idx, state FROM replicas ORDER BY idx", "1|running\n2|running\n");
	assert_sql(f, "SELECT count(*) FROM journal WHERE status = 'pending'", "0\n");
	assert_int_equal(apply_ok(f, yaml).actions_planned, 0);
	free(sections);
	free(yaml);
}

/* A job's create adopted at recovery gets the run it did not record. */
static void test_recover_records_an_adopted_job_run(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	struct crash_env c;
	crash_open(f, &c);
	struct state_service svc = { .deployment = DEP, .name = "web", .rtype = "job" };
	assert_ok(state_service_upsert(c.db, &svc, 1, &err), err);
	crash_mid_action(c.db, DEP, 1, "create", STATE_REPLICA_CREATING, "h1", "{}");
	mock_make(c.b, DEP, 1, "h1", true);
	recover(&c, DEP);
	crash_close(&c);
	assert_sql(f, "SELECT run_no, idx, cause, finished_at FROM runs",
		   "1|1|adopted at recovery|0\n");
}

int main(void)
{
	zl_log_set_level(ZL_LOG_ERROR); /* recovery notes and injected failures are expected */
	const struct CMUnitTest tests[] = {
		T(test_recover_adopts_a_running_replica),
		T(test_lost_database_adopts_instead_of_colliding),
		T(test_diff_during_an_apply_says_so),
		T(test_recover_undoes_a_create_that_never_ran),
		T(test_recover_completes_a_pending_remove),
		T(test_recover_leaves_other_deployments),
		T(test_recover_completes_a_pending_restart),
		T(test_apply_after_crash_adopts_and_never_duplicates),
		T(test_recover_records_an_adopted_job_run),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
