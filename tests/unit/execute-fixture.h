/* execute-fixture.h: what test_execute.c, test_recover.c and test_jobs.c share:
 * a state root of its own per test, the mock backend, specs, a look at the
 * state database on a separate connection, an injected clock, and the state
 * and backend a test drives directly. Included by exactly one source of each
 * test program, so the helpers are static inline and the clock is per program. */
#ifndef ZLAPPLY_TESTS_EXECUTE_FIXTURE_H
#define ZLAPPLY_TESTS_EXECUTE_FIXTURE_H

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

#include "backends/mock/mock.h"
#include "reconcile/reconcile-internal.h"

#define DEP "demo"

struct fixture {
	char root[64];
	FILE *out; /* plan lines */
	struct reconcile_opts opts;
};

static inline void clear_faults(void)
{
	unsetenv("ZLAPPLY_MOCK_FAIL");
	unsetenv("ZLAPPLY_MOCK_DELAY_MS");
	unsetenv("ZLAPPLY_MOCK_PULL"); /* the mock then needs no images */
}

static inline int setup(void **state)
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
		/* One action at a time: these tests read the journal and events
		 * in order. test_parallel.c runs them at once. */
		.parallel = 1,
		.quiet = false,
		.plan_out = f->out,
	};
	clear_faults();
	*state = f;
	return 0;
}

static inline int teardown(void **state)
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

static inline void assert_contains(const char *haystack, const char *needle)
{
	if (!haystack || !strstr(haystack, needle))
		fail_msg("expected \"%s\" in \"%s\"", needle, haystack ? haystack : "(null)");
}

static inline void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* ---- specs ---- */

/* One deployment with service web (replicas, env MODE=mode) and optionally
 * a worker service. extra is appended to web's keys (indented 4). */
static inline char *demo_yaml(const char *dep, int replicas, const char *mode, int workers,
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

static inline void load_spec(const char *yaml, struct spec_set *set)
{
	struct spec_diags diags = { 0 };
	memset(set, 0, sizeof(*set));
	if (spec_load_text("demo.yaml", yaml, strlen(yaml), set, &diags) < 0) {
		spec_diags_print(&diags, stderr);
		fail_msg("spec did not load:\n%s", yaml);
	}
	spec_diags_free(&diags);
}

static inline int apply_text(struct fixture *f, const char *yaml, struct reconcile_result *res,
		      struct zl_err *err)
{
	struct spec_set set;
	load_spec(yaml, &set);
	int r = reconcile_apply(&f->opts, &set, res, err);
	spec_set_free(&set);
	return r;
}

/* Applies and expects success. */
static inline struct reconcile_result apply_ok(struct fixture *f, const char *yaml)
{
	struct reconcile_result res;
	struct zl_err err = ZL_ERR_INIT;
	assert_ok(apply_text(f, yaml, &res, &err), err);
	assert_int_equal(res.actions_failed, 0);
	assert_int_equal(res.actions_done, res.actions_planned);
	return res;
}

static inline struct reconcile_result apply_web(struct fixture *f, int replicas, const char *mode)
{
	char *yaml = demo_yaml(DEP, replicas, mode, 0, NULL);
	struct reconcile_result res = apply_ok(f, yaml);
	free(yaml);
	return res;
}

/* The plan lines printed since the last call. */
static inline char *take_lines(struct fixture *f)
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

static inline void assert_lines(struct fixture *f, const char *expect)
{
	char *got = take_lines(f);
	if (strcmp(got, expect) != 0)
		fail_msg("plan lines:\n--- expected\n%s--- got\n%s", expect, got);
	free(got);
}

/* ---- looking at the state database (a separate connection) ---- */

static inline sqlite3 *db_conn(struct fixture *f)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/state.db", f->root);
	sqlite3 *c = NULL;
	assert_int_equal(sqlite3_open_v2(path, &c, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	return c;
}

/* Every row of the query as "a|b|c\n" lines. */
static inline char *sql_text_on(sqlite3 *c, const char *sql)
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

static inline char *sql_text(struct fixture *f, const char *sql)
{
	sqlite3 *c = db_conn(f);
	char *s = sql_text_on(c, sql);
	sqlite3_close(c);
	return s;
}

static inline void assert_sql(struct fixture *f, const char *sql, const char *expect)
{
	char *got = sql_text(f, sql);
	if (strcmp(got, expect) != 0)
		fail_msg("%s\n--- expected\n%s--- got\n%s", sql, expect, got);
	free(got);
}

static inline int64_t sql_int(struct fixture *f, const char *sql)
{
	char *s = sql_text(f, sql);
	int64_t v = strtoll(s, NULL, 10);
	free(s);
	return v;
}

/* Everything zlapply recorded, for before/after comparisons. */
static inline char *dump_db(struct fixture *f)
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

static inline void load_rows(struct fixture *f, const char *dep, struct state_replicas *rows)
{
	struct state_db *db = NULL;
	struct zl_err err = ZL_ERR_INIT;
	assert_ok(state_open(f->root, true, &db, &err), err);
	assert_ok(state_replicas_load(db, dep, rows, &err), err);
	state_close(db);
}

static inline bool path_exists(const char *root, const char *rel)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	struct stat st;
	return stat(path, &st) == 0;
}

/* ---- looking at the mock backend ---- */

static inline struct backend_state mock_state(struct fixture *f, const char *id)
{
	struct backend *b = NULL;
	struct zl_err err = ZL_ERR_INIT;
	assert_ok(backend_open("mock", f->root, NULL, &b, &err), err);
	struct backend_state st;
	assert_ok(b->ops->state(b, id, &st, &err), err);
	backend_close(b);
	return st;
}

static inline enum backend_status mock_status(struct fixture *f, const char *id)
{
	return mock_state(f, id).status;
}

/* ---- an injected clock (reconcile_opts.clock_ms) ---- */

static int64_t test_now;
static struct fixture *clock_fixture; /* the test's fixture, set by the test */

static inline int64_t test_clock(void)
{
	return test_now;
}

/* From now on every apply of clock_fixture reads time ms. */
static inline void set_clock(int64_t ms)
{
	test_now = ms;
	clock_fixture->opts.clock_ms = test_clock;
}

/* ---- the state and the backend, opened directly ---- */

struct crash_env {
	struct state_db *db;
	struct backend *b;
};

static inline void crash_open(struct fixture *f, struct crash_env *c)
{
	struct zl_err err = ZL_ERR_INIT;
	assert_ok(state_open(f->root, false, &c->db, &err), err);
	assert_ok(backend_open("mock", f->root, NULL, &c->b, &err), err);
}

static inline void crash_close(struct crash_env *c)
{
	state_close(c->db);
	backend_close(c->b);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

#endif
