/* test_execute.c: observe -> plan -> execute against a real SQLite state and
 * the mock backend: what a user sees after `zlapply -f`, a crash, `status`
 * and `delete`. Each test has its own state root and removes it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <sqlite3.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "reconcile/reconcile.h"

#define DEP "demo"

struct fixture {
	char root[64];
	FILE *out; /* plan lines */
	struct reconcile_opts opts;
};

static void clear_faults(void)
{
	unsetenv("ZLAPPLY_MOCK_FAIL");
	unsetenv("ZLAPPLY_MOCK_DELAY_MS");
	unsetenv("ZLAPPLY_MOCK_PULL"); /* the mock then needs no images */
}

static int setup(void **state)
{
	struct fixture *f = zl_xcalloc(1, sizeof(*f));
	snprintf(f->root, sizeof(f->root), "/tmp/zl-exec-test-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	f->out = tmpfile();
	assert_non_null(f->out);
	f->opts = (struct reconcile_opts){
		.root = f->root,
		.backend_name = "mock",
		.lock_timeout_ms = 1000,
		.quiet = false,
		.plan_out = f->out,
	};
	clear_faults();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	clear_faults();
	fclose(f->out);
	assert_int_equal(zl_rm_rf(f->root, &err), 0);
	free(f);
	return 0;
}

#define assert_ok(call, err)                                                                   \
	do {                                                                                   \
		if ((call) < 0)                                                                \
			fail_msg("%s: %s", #call, (err).msg);                                  \
	} while (0)

static void assert_contains(const char *haystack, const char *needle)
{
	if (!haystack || !strstr(haystack, needle))
		fail_msg("expected \"%s\" in \"%s\"", needle, haystack ? haystack : "(null)");
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* ---- specs ---- */

/* One deployment with service web (replicas, env MODE=mode) and optionally
 * a worker service. extra is appended to web's keys (indented 4). */
static char *demo_yaml(const char *dep, int replicas, const char *mode, int workers,
		       const char *extra)
{
	struct zl_buf b = { 0 };
	zl_buf_printf(&b,
		      "version: v1\n"
		      "deployment: %s\n"
		      "services:\n"
		      "  web:\n"
		      "    image:\n"
		      "      name: nginx:1.25\n"
		      "    env:\n"
		      "      MODE: \"%s\"\n"
		      "    scale:\n"
		      "      mode: fixed\n"
		      "      replicas: %d\n"
		      "%s",
		      dep, mode, replicas, extra ? extra : "");
	if (workers > 0)
		zl_buf_printf(&b,
			      "  worker:\n"
			      "    image:\n"
			      "      name: busybox:1.36\n"
			      "    scale:\n"
			      "      mode: fixed\n"
			      "      replicas: %d\n",
			      workers);
	return zl_buf_steal(&b);
}

static void load_spec(const char *yaml, struct spec_set *set)
{
	struct spec_diags diags = { 0 };
	memset(set, 0, sizeof(*set));
	if (spec_load_text("demo.yaml", yaml, strlen(yaml), set, &diags) < 0) {
		spec_diags_print(&diags, stderr);
		fail_msg("spec did not load:\n%s", yaml);
	}
	spec_diags_free(&diags);
}

static int apply_text(struct fixture *f, const char *yaml, struct reconcile_result *res,
		      struct zl_err *err)
{
	struct spec_set set;
	load_spec(yaml, &set);
	int r = reconcile_apply(&f->opts, &set, res, err);
	spec_set_free(&set);
	return r;
}

/* Applies and expects success. */
static struct reconcile_result apply_ok(struct fixture *f, const char *yaml)
{
	struct reconcile_result res;
	struct zl_err err = ZL_ERR_INIT;
	assert_ok(apply_text(f, yaml, &res, &err), err);
	assert_int_equal(res.actions_failed, 0);
	assert_int_equal(res.actions_done, res.actions_planned);
	return res;
}

static struct reconcile_result apply_web(struct fixture *f, int replicas, const char *mode)
{
	char *yaml = demo_yaml(DEP, replicas, mode, 0, NULL);
	struct reconcile_result res = apply_ok(f, yaml);
	free(yaml);
	return res;
}

/* The plan lines printed since the last call. */
static char *take_lines(struct fixture *f)
{
	fflush(f->out);
	long len = ftell(f->out);
	assert_true(len >= 0);
	char *text = zl_xcalloc((size_t)len + 1, 1);
	rewind(f->out);
	assert_int_equal(fread(text, 1, (size_t)len, f->out), (size_t)len);
	rewind(f->out);
	assert_int_equal(ftruncate(fileno(f->out), 0), 0);
	return text;
}

static void assert_lines(struct fixture *f, const char *expect)
{
	char *got = take_lines(f);
	if (strcmp(got, expect) != 0)
		fail_msg("plan lines:\n--- expected\n%s--- got\n%s", expect, got);
	free(got);
}

/* ---- looking at the state database (a separate connection) ---- */

static sqlite3 *db_conn(struct fixture *f)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/state.db", f->root);
	sqlite3 *c = NULL;
	assert_int_equal(sqlite3_open_v2(path, &c, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	return c;
}

/* Every row of the query as "a|b|c\n" lines. */
static char *sql_text_on(sqlite3 *c, const char *sql)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(c, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(c));
	struct zl_buf b = { 0 };
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int i = 0; i < sqlite3_column_count(st); i++) {
			const unsigned char *v = sqlite3_column_text(st, i);
			zl_buf_printf(&b, "%s%s", i ? "|" : "", v ? (const char *)v : "NULL");
		}
		zl_buf_puts(&b, "\n");
	}
	assert_int_equal(rc, SQLITE_DONE);
	sqlite3_finalize(st);
	return zl_buf_steal(&b);
}

static char *sql_text(struct fixture *f, const char *sql)
{
	sqlite3 *c = db_conn(f);
	char *s = sql_text_on(c, sql);
	sqlite3_close(c);
	return s;
}

static void assert_sql(struct fixture *f, const char *sql, const char *expect)
{
	char *got = sql_text(f, sql);
	if (strcmp(got, expect) != 0)
		fail_msg("%s\n--- expected\n%s--- got\n%s", sql, expect, got);
	free(got);
}

static int64_t sql_int(struct fixture *f, const char *sql)
{
	char *s = sql_text(f, sql);
	int64_t v = strtoll(s, NULL, 10);
	free(s);
	return v;
}

/* Everything zlapply recorded, for before/after comparisons. */
static char *dump_db(struct fixture *f)
{
	static const char *const tables[] = {
		"SELECT * FROM deployments ORDER BY 1",
		"SELECT * FROM services ORDER BY 1, 2",
		"SELECT * FROM replicas ORDER BY 1, 2, 3",
		"SELECT * FROM journal ORDER BY id",
		"SELECT * FROM events ORDER BY id",
	};
	struct zl_buf b = { 0 };
	sqlite3 *c = db_conn(f);
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		char *t = sql_text_on(c, tables[i]);
		zl_buf_printf(&b, "-- %s\n%s", tables[i], t);
		free(t);
	}
	sqlite3_close(c);
	return zl_buf_steal(&b);
}

static int64_t data_version(sqlite3 *c)
{
	char *s = sql_text_on(c, "PRAGMA data_version");
	int64_t v = strtoll(s, NULL, 10);
	free(s);
	return v;
}

static void load_rows(struct fixture *f, const char *dep, struct state_replicas *rows)
{
	struct state_db *db = NULL;
	struct zl_err err = ZL_ERR_INIT;
	assert_ok(state_open(f->root, true, &db, &err), err);
	assert_ok(state_replicas_load(db, dep, rows, &err), err);
	state_close(db);
}

static bool path_exists(const char *root, const char *rel)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	struct stat st;
	return stat(path, &st) == 0;
}

/* ---- looking at the mock backend ---- */

static struct backend_state mock_state(struct fixture *f, const char *id)
{
	struct backend *b = NULL;
	struct zl_err err = ZL_ERR_INIT;
	assert_ok(backend_open("mock", f->root, &b, &err), err);
	struct backend_state st;
	assert_ok(b->ops->state(b, id, &st, &err), err);
	backend_close(b);
	return st;
}

static enum backend_status mock_status(struct fixture *f, const char *id)
{
	return mock_state(f, id).status;
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
	assert_sql(f, "SELECT idx, kind FROM events ORDER BY id", "1|started\n2|started\n3|started\n");
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
	assert_sql(f, "SELECT idx, kind FROM events WHERE id > 3 ORDER BY id",
		   "1|removed\n1|started\n2|removed\n2|started\n3|removed\n3|started\n");

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
	assert_sql(f, "SELECT kind FROM events WHERE idx = 2", "failed\n");
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

/* ---- an injected clock (reconcile_opts.clock_ms) ---- */

static int64_t test_now;
static struct fixture *clock_fixture; /* the test's fixture, set by the test */

static int64_t test_clock(void)
{
	return test_now;
}

/* From now on every apply of clock_fixture reads time ms. */
static void set_clock(int64_t ms)
{
	test_now = ms;
	clock_fixture->opts.clock_ms = test_clock;
}

/* ---- observe: exits are noticed, recorded and acted on ---- */

static void test_exited_replica_is_restarted(void **state)
{
	struct fixture *f = *state;
	clock_fixture = f;
	struct zl_err err = ZL_ERR_INIT;
	apply_web(f, 2, "a");
	free(take_lines(f));
	int64_t events_before = sql_int(f, "SELECT count(*) FROM events");
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
	assert_sql(f, q, "1|exited|exited with code 3\n1|restarted|exited 3\n");
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
	set_clock(finished + 10000);
	apply_web(f, 2, "a");
	assert_lines(f, "> restart web-rep-1 (killed by SIGKILL)\n");
	assert_int_equal(sql_int(f, "SELECT restarts FROM replicas WHERE idx = 1"), 2);
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
	assert_ok(backend_open("mock", f->root, &b, &err), err);
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
	assert_ok(backend_open("mock", f->root, &b, &err), err);

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

struct crash_env {
	struct state_db *db;
	struct backend *b;
};

static void crash_open(struct fixture *f, struct crash_env *c)
{
	struct zl_err err = ZL_ERR_INIT;
	assert_ok(state_open(f->root, false, &c->db, &err), err);
	assert_ok(backend_open("mock", f->root, &c->b, &err), err);
}

static void crash_close(struct crash_env *c)
{
	state_close(c->db);
	backend_close(c->b);
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

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

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
		T(test_recover_adopts_a_running_replica),
		T(test_recover_undoes_a_create_that_never_ran),
		T(test_recover_completes_a_pending_remove),
		T(test_recover_leaves_other_deployments),
		T(test_recover_completes_a_pending_restart),
		T(test_colliding_replica_id_is_refused),
		T(test_apply_after_crash_adopts_and_never_duplicates),
		T(test_execute_action_create_failure_message),
		T(test_delete_removes_everything_of_the_deployment),
		T(test_status_refreshes_without_writing),
		T(test_crash_loop_backs_off),
		T(test_job_runs_to_completion_with_retries),
		T(test_job_max_attempts),
		T(test_job_keeps_the_last_runs),
		T(test_cron_runs_on_schedule),
		T(test_run_forces_a_new_run),
		T(test_recover_records_an_adopted_job_run),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
