/* test_state.c: the SQLite store and the apply lock.
 *
 * Each test gets its own temporary root (mkdtemp) and removes it after. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "state/state.h"

struct fixture {
	char tmp[64];   /* the mkdtemp directory */
	char root[128]; /* tmp/root, created by state_open */
	struct state_db *db;
};

static int setup_root(void **state)
{
	struct fixture *f = zl_xcalloc(1, sizeof(*f));
	snprintf(f->tmp, sizeof(f->tmp), "/tmp/zl-test-state-XXXXXX");
	if (!mkdtemp(f->tmp)) {
		free(f);
		return -1;
	}
	snprintf(f->root, sizeof(f->root), "%s/root", f->tmp);
	*state = f;
	return 0;
}

static int setup_db(void **state)
{
	if (setup_root(state) < 0)
		return -1;
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	if (state_open(f->root, false, &f->db, &err) < 0) {
		fprintf(stderr, "state_open: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	state_close(f->db);
	struct zl_err err = ZL_ERR_INIT;
	int r = zl_rm_rf(f->tmp, &err);
	free(f);
	return r;
}

#define assert_ok(call, err)                                                                   \
	do {                                                                                   \
		if ((call) < 0)                                                                \
			fail_msg("%s: %s", #call, (err).msg);                                  \
	} while (0)

static void assert_str_eq_null(const char *a, const char *b)
{
	if (!a || !b)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

/* Runs a SQL query on state.db through a separate connection and returns
 * its first column as an integer (-1 when there is no row). */
static int64_t query_int(const char *root, const char *sql)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/state.db", root);
	sqlite3 *c = NULL;
	assert_int_equal(sqlite3_open_v2(path, &c, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(c, sql, -1, &st, NULL), SQLITE_OK);
	int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_finalize(st);
	sqlite3_close(c);
	return v;
}

/* ---- open / schema ---- */

static void test_open_creates_schema(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(state_schema_version(f->db), STATE_SCHEMA_VERSION);

	struct stat st;
	assert_int_equal(stat(f->root, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);

	assert_int_equal(query_int(f->root, "PRAGMA user_version"), STATE_SCHEMA_VERSION);
	assert_int_equal(query_int(f->root, "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
					    "AND name IN ('deployments', 'services', 'replicas', "
					    "'journal', 'events')"),
			 5);
	assert_int_equal(query_int(f->root, "SELECT count(*) FROM sqlite_master WHERE type = 'index' "
					    "AND name IN ('journal_status', 'events_deployment')"),
			 2);

	char path[256];
	snprintf(path, sizeof(path), "%s/state.db", f->root);
	sqlite3 *c = NULL;
	assert_int_equal(sqlite3_open(path, &c), SQLITE_OK);
	sqlite3_stmt *q = NULL;
	assert_int_equal(sqlite3_prepare_v2(c, "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(q, 0), "wal");
	sqlite3_finalize(q);
	sqlite3_close(c);
}

static void test_reopen_is_idempotent(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	assert_ok(state_deployment_upsert(f->db, "web", "/etc/zlapply/web.yaml", 1000, &err), err);
	state_close(f->db);
	f->db = NULL;

	for (int i = 0; i < 2; i++) {
		assert_ok(state_open(f->root, false, &f->db, &err), err);
		assert_int_equal(state_schema_version(f->db), STATE_SCHEMA_VERSION);
		/* Opening an up-to-date database writes nothing. */
		assert_int_equal(state_total_changes(f->db), 0);
		char **names = NULL;
		size_t n = 0;
		assert_ok(state_deployments_list(f->db, &names, &n, &err), err);
		assert_int_equal(n, 1);
		assert_string_equal(names[0], "web");
		state_names_free(names, n);
		state_close(f->db);
		f->db = NULL;
	}
}

static void test_future_version_refused(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(mkdir(f->root, 0700), 0);
	char path[256];
	snprintf(path, sizeof(path), "%s/state.db", f->root);
	sqlite3 *c = NULL;
	assert_int_equal(sqlite3_open(path, &c), SQLITE_OK);
	char sql[64];
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", STATE_SCHEMA_VERSION + 1);
	assert_int_equal(sqlite3_exec(c, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(c);

	char want[128];
	snprintf(want, sizeof(want), "has schema version %d, this zlapply knows up to %d",
		 STATE_SCHEMA_VERSION + 1, STATE_SCHEMA_VERSION);
	for (int ro = 0; ro <= 1; ro++) {
		zl_err_clear(&err);
		struct state_db *db = (struct state_db *)&err; /* must be reset to NULL */
		assert_int_equal(state_open(f->root, ro, &db, &err), -1);
		assert_null(db);
		assert_int_equal(err.kind, ZL_ERR_FAIL);
		assert_non_null(strstr(err.msg, want));
		assert_non_null(strstr(err.msg, "upgrade zlapply"));
	}
	/* Nothing was touched. */
	assert_int_equal(query_int(f->root, "PRAGMA user_version"), STATE_SCHEMA_VERSION + 1);
	assert_int_equal(query_int(f->root, "SELECT count(*) FROM sqlite_master"), 0);
}

static void test_read_only_missing_db(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	struct state_db *db = NULL;
	assert_int_equal(state_open(f->root, true, &db, &err), -1);
	assert_null(db);
	assert_int_equal(err.kind, ZL_ERR_FAIL);
	assert_int_equal(err.sys_errno, ENOENT);
	assert_non_null(strstr(err.msg, "state.db"));
	/* A read-only open creates nothing. */
	struct stat st;
	assert_int_equal(stat(f->root, &st), -1);
}

static void test_read_only_empty_file(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(mkdir(f->root, 0700), 0);
	char path[256];
	snprintf(path, sizeof(path), "%s/state.db", f->root);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fclose(fp);
	/* A file without a schema holds nothing: same answer as no file. */
	struct state_db *db = NULL;
	assert_int_equal(state_open(f->root, true, &db, &err), -1);
	assert_int_equal(err.sys_errno, ENOENT);
	/* A read-write open gives it the schema. */
	assert_ok(state_open(f->root, false, &db, &err), err);
	state_close(db);
	assert_ok(state_open(f->root, true, &db, &err), err);
	state_close(db);
}

static void test_read_only_open_reads_not_writes(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	assert_ok(state_event_add(f->db, 5, "web", "api", 1, "created", "hello", &err), err);

	struct state_db *ro = NULL;
	assert_ok(state_open(f->root, true, &ro, &err), err);
	assert_int_equal(state_schema_version(ro), STATE_SCHEMA_VERSION);
	struct state_events ev;
	assert_ok(state_events_load(ro, NULL, 0, &ev, &err), err);
	assert_int_equal(ev.count, 1);
	assert_string_equal(ev.items[0].message, "hello");
	state_events_free(&ev);

	assert_int_equal(state_event_add(ro, 6, "web", NULL, 0, "x", NULL, &err), -1);
	assert_non_null(strstr(err.msg, "state: record event x: "));
	state_close(ro);
}

/* ---- replicas ---- */

static void full_replica(struct state_replica *r, const char *service, int index)
{
	state_replica_init(r);
	r->deployment = zl_xstrdup("shop");
	r->service = zl_xstrdup(service);
	r->index = index;
	r->backend = zl_xstrdup("oci");
	r->backend_id = zl_xasprintf("zl-shop-%s-%d", service, index);
	r->state = STATE_REPLICA_RUNNING;
	r->pid = 4242 + index;
	r->pid_start_time = 987654321012LL;
	r->ip = zl_xstrdup("10.88.0.7");
	r->netns = zl_xstrdup("/run/netns/zl-shop-api-1");
	r->netns_state = zl_xstrdup("created");
	r->exit_code = 137;
	r->exit_signal = 9;
	r->exit_reason = zl_xstrdup("oom_killed");
	r->restarts = 3;
	r->backoff_until = 1700000005000LL;
	r->health = zl_xstrdup("healthy");
	r->spec_hash = zl_xstrdup("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	r->spec_sections = zl_xstrdup("{\"image\":\"aa\",\"env\":\"bb\"}");
	r->image_digest = zl_xstrdup("sha256:feedface");
	r->error = zl_xstrdup("runc start: exit 1: \"quoted\" 'text' ; DROP TABLE replicas;");
	r->created_at = 1700000000001LL;
	r->started_at = 1700000000002LL;
	r->finished_at = 1700000000003LL;
	r->updated_at = 1700000000004LL;
}

static void assert_replica_equal(const struct state_replica *a, const struct state_replica *b)
{
	assert_str_eq_null(a->deployment, b->deployment);
	assert_str_eq_null(a->service, b->service);
	assert_int_equal(a->index, b->index);
	assert_str_eq_null(a->backend, b->backend);
	assert_str_eq_null(a->backend_id, b->backend_id);
	assert_int_equal(a->state, b->state);
	assert_int_equal(a->pid, b->pid);
	assert_int_equal(a->pid_start_time, b->pid_start_time);
	assert_str_eq_null(a->ip, b->ip);
	assert_str_eq_null(a->netns, b->netns);
	assert_str_eq_null(a->netns_state, b->netns_state);
	assert_int_equal(a->exit_code, b->exit_code);
	assert_int_equal(a->exit_signal, b->exit_signal);
	assert_str_eq_null(a->exit_reason, b->exit_reason);
	assert_int_equal(a->restarts, b->restarts);
	assert_int_equal(a->backoff_until, b->backoff_until);
	assert_str_eq_null(a->health, b->health);
	assert_str_eq_null(a->spec_hash, b->spec_hash);
	assert_str_eq_null(a->spec_sections, b->spec_sections);
	assert_str_eq_null(a->image_digest, b->image_digest);
	assert_str_eq_null(a->error, b->error);
	assert_int_equal(a->created_at, b->created_at);
	assert_int_equal(a->started_at, b->started_at);
	assert_int_equal(a->finished_at, b->finished_at);
	assert_int_equal(a->updated_at, b->updated_at);
}

static void load_one(struct state_db *db, struct state_replica *out)
{
	struct zl_err err = ZL_ERR_INIT;
	struct state_replicas list;
	assert_ok(state_replicas_load(db, "shop", &list, &err), err);
	assert_int_equal(list.count, 1);
	*out = list.items[0];
	list.count = 0; /* moved out */
	state_replicas_free(&list);
}

static void test_replica_round_trip(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;

	/* Every field set. */
	struct state_replica r, got;
	full_replica(&r, "api", 1);
	assert_ok(state_replica_upsert(f->db, &r, &err), err);
	load_one(f->db, &got);
	assert_replica_equal(&got, &r);
	state_replica_clear(&got);
	state_replica_clear(&r);

	/* Every field unknown: NULL strings, -1 and 0 numbers. */
	struct zl_err err2 = ZL_ERR_INIT;
	assert_ok(state_replica_delete(f->db, "shop", "api", 1, &err2), err2);
	state_replica_init(&r);
	r.deployment = zl_xstrdup("shop");
	r.service = zl_xstrdup("api");
	r.index = 2;
	r.state = STATE_REPLICA_UNKNOWN;
	assert_ok(state_replica_upsert(f->db, &r, &err), err);
	load_one(f->db, &got);
	assert_replica_equal(&got, &r);
	assert_null(got.backend);
	assert_int_equal(got.pid, -1);
	assert_int_equal(got.pid_start_time, -1);
	assert_int_equal(got.exit_code, -1);
	state_replica_clear(&got);
	state_replica_clear(&r);

	/* States are stored by name. */
	assert_int_equal(query_int(f->root, "SELECT count(*) FROM replicas WHERE state = 'unknown'"),
			 1);
}

static void test_replica_unknown_state_in_db(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	struct state_replica r;
	full_replica(&r, "api", 1);
	assert_ok(state_replica_upsert(f->db, &r, &err), err);
	state_replica_clear(&r);

	char path[256];
	snprintf(path, sizeof(path), "%s/state.db", f->root);
	sqlite3 *c = NULL;
	assert_int_equal(sqlite3_open(path, &c), SQLITE_OK);
	assert_int_equal(sqlite3_exec(c, "UPDATE replicas SET state = 'zombie'", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(c);

	struct state_replicas list;
	assert_int_equal(state_replicas_load(f->db, NULL, &list, &err), -1);
	assert_int_equal(list.count, 0);
	assert_non_null(strstr(err.msg, "shop/api-rep-1: unknown state \"zombie\""));
	state_replicas_free(&list);
}

static void test_replica_copy(void **state)
{
	struct state_replica r, c;
	full_replica(&r, "api", 1);
	state_replica_copy(&c, &r);
	assert_replica_equal(&c, &r);
	assert_ptr_not_equal(c.error, r.error);
	state_replica_clear(&r);
	state_replica_clear(&c);
	state_replica_clear(NULL);
}

static void test_replica_identical_upsert_writes_nothing(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	struct state_replica r;
	full_replica(&r, "api", 1);
	assert_ok(state_replica_upsert(f->db, &r, &err), err);
	struct state_replica n;
	state_replica_init(&n);
	n.deployment = zl_xstrdup("shop");
	n.service = zl_xstrdup("db");
	n.index = 1;
	assert_ok(state_replica_upsert(f->db, &n, &err), err);

	char wal[256];
	snprintf(wal, sizeof(wal), "%s/state.db-wal", f->root);
	struct stat st_before, st_after;
	assert_int_equal(stat(wal, &st_before), 0);
	int64_t before = state_total_changes(f->db);
	assert_ok(state_replica_upsert(f->db, &r, &err), err);
	assert_ok(state_replica_upsert(f->db, &n, &err), err);
	/* A new updated_at alone is no change either. */
	r.updated_at += 60000;
	assert_ok(state_replica_upsert(f->db, &r, &err), err);
	assert_int_equal(state_total_changes(f->db), before);
	/* Not a byte was written to the database. */
	assert_int_equal(stat(wal, &st_after), 0);
	assert_int_equal(st_after.st_size, st_before.st_size);
	state_replica_clear(&r);
	state_replica_clear(&n);
}

/* One mutation per field: each must be seen as a change and stored. */
static void mutate(struct state_replica *r, int field)
{
	switch (field) {
	case 0: free(r->backend); r->backend = zl_xstrdup("process"); break;
	case 1: free(r->backend_id); r->backend_id = NULL; break;
	case 2: r->state = STATE_REPLICA_EXITED; break;
	case 3: r->pid = -1; break;
	case 4: r->pid_start_time += 1; break;
	case 5: free(r->ip); r->ip = zl_xstrdup("10.88.0.8"); break;
	case 6: free(r->netns); r->netns = NULL; break;
	case 7: free(r->netns_state); r->netns_state = zl_xstrdup("removed"); break;
	case 8: r->exit_code = 0; break;
	case 9: r->exit_signal = 0; break;
	case 10: free(r->exit_reason); r->exit_reason = zl_xstrdup("exited"); break;
	case 11: r->restarts += 1; break;
	case 12: r->backoff_until = 0; break;
	case 13: free(r->health); r->health = zl_xstrdup("unhealthy"); break;
	case 14: r->spec_hash[0] = 'f'; break;
	case 15: free(r->spec_sections); r->spec_sections = zl_xstrdup("{}"); break;
	case 16: free(r->image_digest); r->image_digest = NULL; break;
	case 17: free(r->error); r->error = zl_xstrdup(""); break; /* "" differs from NULL */
	case 18: r->created_at += 1; break;
	case 19: r->started_at = 0; break;
	case 20: r->finished_at = 0; break;
	default: fail();
	}
}

static void test_replica_changed_field_updates(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	for (int field = 0; field <= 20; field++) {
		struct state_replica r, got;
		full_replica(&r, "api", 1);
		assert_ok(state_replica_upsert(f->db, &r, &err), err);
		int64_t before = state_total_changes(f->db);
		mutate(&r, field);
		r.updated_at += 1000;
		assert_ok(state_replica_upsert(f->db, &r, &err), err);
		if (state_total_changes(f->db) != before + 1)
			fail_msg("field %d: change not written", field);
		load_one(f->db, &got);
		assert_replica_equal(&got, &r);
		state_replica_clear(&got);
		state_replica_clear(&r);
	}
}

static void test_replica_delete_and_order(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	const char *services[] = { "web", "api", "web", "api", "web" };
	int indexes[] = { 2, 1, 10, 2, 1 };
	for (size_t i = 0; i < 5; i++) {
		struct state_replica r;
		full_replica(&r, services[i], indexes[i]);
		assert_ok(state_replica_upsert(f->db, &r, &err), err);
		state_replica_clear(&r);
	}
	struct state_replica other;
	full_replica(&other, "web", 1);
	free(other.deployment);
	other.deployment = zl_xstrdup("blog");
	assert_ok(state_replica_upsert(f->db, &other, &err), err);
	state_replica_clear(&other);

	assert_ok(state_replica_delete(f->db, "shop", "web", 2, &err), err);
	/* Deleting what is gone already is not an error. */
	assert_ok(state_replica_delete(f->db, "shop", "web", 2, &err), err);

	struct state_replicas list;
	assert_ok(state_replicas_load(f->db, "shop", &list, &err), err);
	assert_int_equal(list.count, 4);
	const char *want_s[] = { "api", "api", "web", "web" };
	int want_i[] = { 1, 2, 1, 10 };
	for (size_t i = 0; i < 4; i++) {
		assert_string_equal(list.items[i].service, want_s[i]);
		assert_int_equal(list.items[i].index, want_i[i]);
	}
	state_replicas_free(&list);
	state_replicas_free(&list); /* twice is fine */
	state_replicas_free(NULL);

	assert_ok(state_replicas_load(f->db, NULL, &list, &err), err);
	assert_int_equal(list.count, 5);
	assert_string_equal(list.items[0].deployment, "blog");
	state_replicas_free(&list);

	assert_ok(state_replicas_load(f->db, "nope", &list, &err), err);
	assert_int_equal(list.count, 0);
	state_replicas_free(&list);
}

static void test_replica_upsert_rejects_bad_input(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	struct state_replica r;
	state_replica_init(&r);
	r.deployment = zl_xstrdup("shop");
	r.service = zl_xstrdup("api");
	r.index = 0;
	assert_int_equal(state_replica_upsert(f->db, &r, &err), -1);
	assert_int_equal(err.kind, ZL_ERR_INPUT);
	r.index = 1;
	r.state = (enum state_replica_state)99;
	assert_int_equal(state_replica_upsert(f->db, &r, &err), -1);
	state_replica_clear(&r);
}

static void test_replica_state_names(void **state)
{
	for (int s = STATE_REPLICA_CREATING; s <= STATE_REPLICA_UNKNOWN; s++) {
		enum state_replica_state back;
		const char *name = state_replica_state_name((enum state_replica_state)s);
		assert_int_equal(state_replica_state_parse(name, &back), 0);
		assert_int_equal(back, s);
	}
	enum state_replica_state x;
	assert_int_equal(state_replica_state_parse("bogus", &x), -1);
	assert_int_equal(state_replica_state_parse(NULL, &x), -1);
	assert_string_equal(state_replica_state_name(STATE_REPLICA_RUNNING), "running");
}

/* ---- deployments and services ---- */

static void test_deployments_crud(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	assert_ok(state_deployment_upsert(f->db, "web", "/a.yaml", 1000, &err), err);
	assert_ok(state_deployment_upsert(f->db, "api", NULL, 1000, &err), err);

	int64_t before = state_total_changes(f->db);
	assert_ok(state_deployment_upsert(f->db, "web", "/a.yaml", 2000, &err), err);
	assert_ok(state_deployment_upsert(f->db, "api", NULL, 2000, &err), err);
	assert_int_equal(state_total_changes(f->db), before);

	assert_ok(state_deployment_upsert(f->db, "web", "/b.yaml", 3000, &err), err);
	assert_int_equal(state_total_changes(f->db), before + 1);
	assert_int_equal(query_int(f->root, "SELECT created_at FROM deployments WHERE name = 'web'"),
			 1000);
	assert_int_equal(query_int(f->root, "SELECT updated_at FROM deployments WHERE name = 'web'"),
			 3000);

	char **names = NULL;
	size_t n = 0;
	assert_ok(state_deployments_list(f->db, &names, &n, &err), err);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "api");
	assert_string_equal(names[1], "web");
	state_names_free(names, n);
	state_names_free(NULL, 0);

	assert_ok(state_deployment_delete(f->db, "api", &err), err);
	assert_ok(state_deployments_list(f->db, &names, &n, &err), err);
	assert_int_equal(n, 1);
	assert_string_equal(names[0], "web");
	state_names_free(names, n);
}

static void test_services_crud(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	assert_ok(state_deployment_upsert(f->db, "shop", "/s.yaml", 1, &err), err);
	assert_ok(state_deployment_upsert(f->db, "blog", "/b.yaml", 1, &err), err);
	struct state_service svc[] = {
		{ "shop", "web", "service", 3, "h1" },
		{ "shop", "api", "job", 1, NULL },
		{ "blog", "web", NULL, 0, "h3" },
	};
	for (size_t i = 0; i < 3; i++)
		assert_ok(state_service_upsert(f->db, &svc[i], 1000, &err), err);

	int64_t before = state_total_changes(f->db);
	for (size_t i = 0; i < 3; i++)
		assert_ok(state_service_upsert(f->db, &svc[i], 2000, &err), err);
	assert_int_equal(state_total_changes(f->db), before);

	struct state_service changed = { "shop", "web", "service", 5, "h1" };
	assert_ok(state_service_upsert(f->db, &changed, 3000, &err), err);
	assert_int_equal(state_total_changes(f->db), before + 1);

	struct state_services list;
	assert_ok(state_services_load(f->db, "shop", &list, &err), err);
	assert_int_equal(list.count, 2);
	assert_string_equal(list.items[0].name, "api");
	assert_string_equal(list.items[0].rtype, "job");
	assert_null(list.items[0].spec_hash);
	assert_string_equal(list.items[1].name, "web");
	assert_int_equal(list.items[1].desired_replicas, 5);
	assert_string_equal(list.items[1].spec_hash, "h1");
	state_services_free(&list);

	assert_ok(state_services_load(f->db, NULL, &list, &err), err);
	assert_int_equal(list.count, 3);
	assert_string_equal(list.items[0].deployment, "blog");
	assert_null(list.items[0].rtype);
	state_services_free(&list);
	state_services_free(NULL);

	assert_ok(state_service_delete(f->db, "shop", "api", &err), err);
	assert_ok(state_services_load(f->db, "shop", &list, &err), err);
	assert_int_equal(list.count, 1);
	state_services_free(&list);

	/* A deleted deployment takes its services along, and nobody else's. */
	assert_ok(state_deployment_delete(f->db, "shop", &err), err);
	assert_ok(state_services_load(f->db, NULL, &list, &err), err);
	assert_int_equal(list.count, 1);
	assert_string_equal(list.items[0].deployment, "blog");
	state_services_free(&list);
}

/* ---- journal ---- */

static void test_journal(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	int64_t ids[4];
	assert_ok(state_journal_begin(f->db, "shop", "web", 1, "create", "h1", 100, &ids[0], &err),
		  err);
	assert_ok(state_journal_begin(f->db, "blog", "web", 1, "start", NULL, 101, &ids[1], &err),
		  err);
	assert_ok(state_journal_begin(f->db, "shop", "web", 2, "remove", "h2", 102, &ids[2], &err),
		  err);
	assert_ok(state_journal_begin(f->db, "shop", "api", 1, "recreate", "h3", 103, &ids[3], &err),
		  err);
	assert_true(ids[0] < ids[1] && ids[1] < ids[2] && ids[2] < ids[3]);

	struct state_journal j;
	assert_ok(state_journal_pending(f->db, NULL, &j, &err), err);
	assert_int_equal(j.count, 4);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(j.items[i].id, ids[i]);
		assert_int_equal(j.items[i].status, STATE_JOURNAL_PENDING);
		assert_int_equal(j.items[i].finished_at, 0);
	}
	assert_string_equal(j.items[0].action, "create");
	assert_string_equal(j.items[0].spec_hash, "h1");
	assert_int_equal(j.items[0].created_at, 100);
	assert_null(j.items[1].spec_hash);
	state_journal_free(&j);

	assert_ok(state_journal_finish(f->db, ids[0], STATE_JOURNAL_DONE, NULL, 200, &err), err);
	assert_ok(state_journal_finish(f->db, ids[2], STATE_JOURNAL_FAILED, "runc: boom", 201, &err),
		  err);
	assert_ok(state_journal_pending(f->db, "shop", &j, &err), err);
	assert_int_equal(j.count, 1);
	assert_int_equal(j.items[0].id, ids[3]);
	assert_string_equal(j.items[0].service, "api");
	state_journal_free(&j);
	state_journal_free(NULL);

	assert_int_equal(query_int(f->root, "SELECT count(*) FROM journal WHERE status = 'failed' "
					    "AND detail = 'runc: boom' AND finished_at = 201"),
			 1);

	assert_int_equal(state_journal_finish(f->db, 999999, STATE_JOURNAL_DONE, NULL, 1, &err), -1);
	assert_non_null(strstr(err.msg, "999999"));
	assert_int_equal(state_journal_finish(f->db, ids[1], STATE_JOURNAL_PENDING, NULL, 1, &err),
			 -1);

	enum state_journal_status s;
	assert_int_equal(state_journal_status_parse("undone", &s), 0);
	assert_int_equal(s, STATE_JOURNAL_UNDONE);
	assert_string_equal(state_journal_status_name(STATE_JOURNAL_DONE), "done");
}

/* ---- events ---- */

static void test_events_limit_order(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	for (int i = 1; i <= 10; i++) {
		char msg[32];
		snprintf(msg, sizeof(msg), "event %d", i);
		const char *dep = i % 2 ? "shop" : "blog";
		assert_ok(state_event_add(f->db, 1000 + i, dep, "web", i, "started", msg, &err), err);
	}
	assert_ok(state_event_add(f->db, 2000, NULL, NULL, 0, "pruned", NULL, &err), err);

	struct state_events ev;
	assert_ok(state_events_load(f->db, NULL, 3, &ev, &err), err);
	assert_int_equal(ev.count, 3);
	assert_string_equal(ev.items[0].message, "event 9");
	assert_string_equal(ev.items[1].message, "event 10");
	assert_null(ev.items[2].message);
	assert_null(ev.items[2].deployment);
	assert_string_equal(ev.items[2].kind, "pruned");
	assert_int_equal(ev.items[2].time, 2000);
	state_events_free(&ev);

	assert_ok(state_events_load(f->db, "shop", 2, &ev, &err), err);
	assert_int_equal(ev.count, 2);
	assert_string_equal(ev.items[0].message, "event 7");
	assert_string_equal(ev.items[1].message, "event 9");
	assert_int_equal(ev.items[1].index, 9);
	assert_true(ev.items[0].id < ev.items[1].id);
	state_events_free(&ev);

	assert_ok(state_events_load(f->db, NULL, 0, &ev, &err), err);
	assert_int_equal(ev.count, 11);
	assert_string_equal(ev.items[0].message, "event 1");
	state_events_free(&ev);
	state_events_free(NULL);

	assert_ok(state_events_load(f->db, "blog", 100, &ev, &err), err);
	assert_int_equal(ev.count, 5);
	state_events_free(&ev);
}

/* ---- transactions ---- */

static void test_rollback_leaves_nothing(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	assert_ok(state_begin(f->db, &err), err);
	struct state_replica r;
	full_replica(&r, "api", 1);
	assert_ok(state_replica_upsert(f->db, &r, &err), err);
	assert_ok(state_deployment_upsert(f->db, "shop", "/s.yaml", 1, &err), err);
	assert_ok(state_event_add(f->db, 1, "shop", "api", 1, "created", NULL, &err), err);
	int64_t id;
	assert_ok(state_journal_begin(f->db, "shop", "api", 1, "create", NULL, 1, &id, &err), err);
	state_rollback(f->db);
	state_rollback(f->db); /* no transaction open: harmless */
	state_replica_clear(&r);

	struct state_replicas list;
	assert_ok(state_replicas_load(f->db, NULL, &list, &err), err);
	assert_int_equal(list.count, 0);
	state_replicas_free(&list);
	assert_int_equal(query_int(f->root, "SELECT (SELECT count(*) FROM deployments) + "
					    "(SELECT count(*) FROM events) + "
					    "(SELECT count(*) FROM journal)"),
			 0);

	/* And a committed transaction keeps everything. */
	assert_ok(state_begin(f->db, &err), err);
	assert_ok(state_deployment_upsert(f->db, "shop", "/s.yaml", 1, &err), err);
	assert_ok(state_commit(f->db, &err), err);
	assert_int_equal(query_int(f->root, "SELECT count(*) FROM deployments"), 1);
}

/* ---- the lock ---- */

static void test_lock_in_process(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	struct state_lock a, b;
	assert_ok(state_lock_acquire(f->root, 0, &a, &err), err);
	assert_true(a.fd >= 0);

	/* A second open file description conflicts, even in the same process. */
	int64_t t0 = zl_monotonic_ms();
	assert_int_equal(state_lock_acquire(f->root, 100, &b, &err), -1);
	int64_t waited = zl_monotonic_ms() - t0;
	assert_true(waited >= 100 && waited < 2000);
	assert_int_equal(b.fd, -1);
	assert_int_equal(err.kind, ZL_ERR_BUSY);
	assert_int_equal(err.sys_errno, EWOULDBLOCK);
	char want[64];
	snprintf(want, sizeof(want), "another zlapply (pid %ld) holds ", (long)getpid());
	assert_non_null(strstr(err.msg, want));
	assert_non_null(strstr(err.msg, "gave up after 100ms (raise --lock-timeout)"));

	/* timeout 0 does not wait. */
	assert_int_equal(state_lock_acquire(f->root, 0, &b, &err), -1);

	state_lock_release(&a);
	assert_int_equal(a.fd, -1);
	state_lock_release(&a); /* twice is fine */
	state_lock_release(NULL);

	assert_ok(state_lock_acquire(f->root, 0, &b, &err), err);
	state_lock_release(&b);
}

static void test_lock_held_by_other_process(void **state)
{
	struct fixture *f = *state;
	int ready[2], done[2];
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(done), 0);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		close(ready[0]);
		close(done[1]);
		struct zl_err cerr = ZL_ERR_INIT;
		struct state_lock l;
		char c = state_lock_acquire(f->root, 0, &l, &cerr) == 0 ? 'y' : 'n';
		if (write(ready[1], &c, 1) != 1)
			_exit(2);
		/* Hold the lock until the parent closes its end. */
		if (read(done[0], &c, 1) < 0)
			_exit(3);
		state_lock_release(&l);
		_exit(0);
	}
	close(ready[1]);
	close(done[0]);
	char c = 0;
	assert_int_equal(read(ready[0], &c, 1), 1);
	assert_int_equal(c, 'y');

	struct zl_err err = ZL_ERR_INIT;
	struct state_lock l;
	assert_int_equal(state_lock_acquire(f->root, 100, &l, &err), -1);
	char want[256];
	snprintf(want, sizeof(want), "(pid %ld) holds %s/lock;", (long)child, f->root);
	if (!strstr(err.msg, want))
		fail_msg("expected \"%s\" in \"%s\"", want, err.msg);

	/* The child releases; a waiting acquire then gets the lock. */
	close(done[1]);
	assert_ok(state_lock_acquire(f->root, 5000, &l, &err), err);
	int status;
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(ready[0]);

	/* The lock file names the current holder. */
	char path[256], buf[32] = "";
	snprintf(path, sizeof(path), "%s/lock", f->root);
	FILE *fp = fopen(path, "r");
	assert_non_null(fp);
	assert_non_null(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	assert_int_equal(atol(buf), (long)getpid());
	state_lock_release(&l);
}

/* ---- images and the v1 -> v2 migration ---- */

static void test_images_crud(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	struct state_image img = {
		.reference = "docker.io/library/busybox:1.0",
		.manifest_digest = "sha256:aa",
		.config_digest = "sha256:bb",
		.config = "{}",
		.layers = "[]",
		.size = 1234,
		.pulled_at = 10,
		.last_used = 10,
	};
	assert_ok(state_image_upsert(f->db, &img, &err), err);
	int64_t before = state_total_changes(f->db);
	assert_ok(state_image_upsert(f->db, &img, &err), err);
	assert_int_equal(state_total_changes(f->db), before); /* identical: no write */

	struct state_image got;
	bool found = false;
	assert_ok(state_image_get(f->db, img.reference, &got, &found, &err), err);
	assert_true(found);
	assert_string_equal(got.manifest_digest, "sha256:aa");
	assert_int_equal(got.size, 1234);
	state_image_clear(&got);

	assert_ok(state_image_touch(f->db, img.reference, 99, &err), err);
	struct state_images all;
	assert_ok(state_images_load(f->db, &all, &err), err);
	assert_int_equal(all.count, 1);
	assert_int_equal(all.items[0].last_used, 99);
	state_images_free(&all);

	assert_ok(state_image_delete(f->db, img.reference, &err), err);
	assert_ok(state_image_get(f->db, img.reference, &got, &found, &err), err);
	assert_false(found);
}

static void test_leases(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	assert_ok(state_lease_put(f->db, "10.213.0.2", "shop", "web", 1, 1, &err), err);
	/* One address, one replica: both directions are refused. */
	assert_int_equal(state_lease_put(f->db, "10.213.0.2", "shop", "web", 2, 1, &err), -1);
	assert_int_equal(state_lease_put(f->db, "10.213.0.3", "shop", "web", 1, 1, &err), -1);
	char *ip = NULL;
	assert_ok(state_lease_get(f->db, "shop", "web", 1, &ip, &err), err);
	assert_string_equal(ip, "10.213.0.2");
	free(ip);

	/* A lease whose replica row does not exist is reclaimed. */
	struct state_replica r;
	state_replica_init(&r);
	r.deployment = zl_xstrdup("shop");
	r.service = zl_xstrdup("web");
	r.index = 2;
	r.state = STATE_REPLICA_RUNNING;
	assert_ok(state_replica_upsert(f->db, &r, &err), err);
	state_replica_clear(&r);
	assert_ok(state_lease_put(f->db, "10.213.0.3", "shop", "web", 2, 1, &err), err);
	size_t reclaimed = 0;
	assert_ok(state_leases_reclaim(f->db, &reclaimed, &err), err);
	assert_int_equal(reclaimed, 1);
	char **ips = NULL;
	size_t n = 0;
	assert_ok(state_leases_ips(f->db, &ips, &n, &err), err);
	assert_int_equal(n, 1);
	assert_string_equal(ips[0], "10.213.0.3");
	state_names_free(ips, n);
	assert_ok(state_lease_delete(f->db, "shop", "web", 2, &err), err);
	assert_ok(state_lease_delete(f->db, "shop", "web", 2, &err), err); /* none is fine */
}

/* Closes f's store and opens state.db directly, to make it what an older
 * zlapply left. Caller closes. */
static sqlite3 *raw_db(struct fixture *f)
{
	state_close(f->db);
	f->db = NULL;
	char path[256];
	snprintf(path, sizeof(path), "%s/state.db", f->root);
	sqlite3 *c = NULL;
	assert_int_equal(sqlite3_open(path, &c), SQLITE_OK);
	return c;
}

/* A database written by a version-1 zlapply (no images table) is migrated
 * forward on open, keeping its rows. */
static void test_migrates_v1_forward(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	assert_ok(state_deployment_upsert(f->db, "web", "a.yaml", 1, &err), err);
	sqlite3 *c = raw_db(f);
	assert_int_equal(sqlite3_exec(c, "DROP TABLE images; DROP TABLE leases; DROP TRIGGER services_delete_runs; "
					 "DROP TABLE runs; DROP TABLE schedules; DROP INDEX replicas_backend_id; DROP TABLE meta; "
					 "ALTER TABLE events DROP COLUMN data; DROP TABLE revisions; "
					 "PRAGMA user_version = 1", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(c);

	assert_ok(state_open(f->root, false, &f->db, &err), err);
	assert_int_equal(state_schema_version(f->db), STATE_SCHEMA_VERSION);
	assert_int_equal(query_int(f->root, "SELECT count(*) FROM sqlite_master WHERE name = 'images'"), 1);
	assert_int_equal(query_int(f->root, "SELECT count(*) FROM sqlite_master WHERE name IN "
					    "('runs', 'schedules', 'services_delete_runs', 'replicas_backend_id', 'revisions')"),
			 5);
	assert_int_equal(query_int(f->root, "SELECT count(*) FROM deployments WHERE name = 'web'"), 1);
}

/* ---- revisions (history and rollback) ---- */

static int64_t add_revision(struct state_db *db, const char *dep, const char *hash,
			    int64_t restores, int64_t when)
{
	struct zl_err err = ZL_ERR_INIT;
	struct state_revision rev = { .deployment = (char *)dep, .hash = (char *)hash,
				      .spec = (char *)"version: v1\n", .source = (char *)"a.yaml",
				      .cause = (char *)"apply", .restores = restores,
				      .created_at = when };
	assert_ok(state_begin(db, &err), err);
	assert_ok(state_revision_add(db, &rev, &err), err);
	assert_ok(state_commit(db, &err), err);
	return rev.number;
}

static void test_revisions(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	/* Numbered per deployment, from 1; status "applying" until set. */
	assert_int_equal(add_revision(f->db, "shop", "h1", 0, 10), 1);
	assert_int_equal(add_revision(f->db, "blog", "b1", 0, 11), 1);
	assert_int_equal(add_revision(f->db, "shop", "h2", 0, 12), 2);
	struct state_revision r;
	bool found = false;
	assert_ok(state_revision_latest(f->db, "shop", &r, &found, &err), err);
	assert_true(found);
	assert_int_equal(r.number, 2);
	assert_string_equal(r.hash, "h2");
	assert_string_equal(r.status, "applying");
	assert_string_equal(r.source, "a.yaml");
	assert_string_equal(r.spec, "version: v1\n");
	assert_null(r.reason);
	state_revision_clear(&r);
	assert_ok(state_revision_set_status(f->db, "shop", 2, "rolled back", "not ready", &err), err);
	assert_ok(state_revision_get(f->db, "shop", 2, &r, &found, &err), err);
	assert_true(found);
	assert_string_equal(r.status, "rolled back");
	assert_string_equal(r.reason, "not ready");
	state_revision_clear(&r);
	assert_ok(state_revision_get(f->db, "shop", 999, &r, &found, &err), err);
	assert_false(found);
	assert_ok(state_revision_latest(f->db, "nobody", &r, &found, &err), err);
	assert_false(found);

	/* A rollback points at what it restored. */
	assert_int_equal(add_revision(f->db, "shop", "h1", 1, 13), 3);
	assert_ok(state_revision_get(f->db, "shop", 3, &r, &found, &err), err);
	assert_int_equal(r.restores, 1);
	state_revision_clear(&r);

	/* Only the last STATE_REVISIONS_KEPT stay; numbers keep growing. */
	for (int i = 0; i < STATE_REVISIONS_KEPT + 2; i++)
		add_revision(f->db, "shop", "hx", 0, 20 + i);
	struct state_revisions list = { 0 };
	assert_ok(state_revisions_load(f->db, "shop", &list, &err), err);
	assert_int_equal(list.count, STATE_REVISIONS_KEPT);
	assert_int_equal(list.items[0].number, 3 + 2 + 1);
	assert_int_equal(list.items[list.count - 1].number, 3 + STATE_REVISIONS_KEPT + 2);
	/* The brief list is the same list without the specs. */
	struct state_revisions brief = { 0 };
	assert_ok(state_revisions_load_brief(f->db, "shop", &brief, &err), err);
	assert_int_equal(brief.count, list.count);
	for (size_t i = 0; i < list.count; i++) {
		const struct state_revision *x = &list.items[i], *y = &brief.items[i];
		assert_non_null(x->spec);
		assert_null(y->spec);
		assert_int_equal(x->number, y->number);
		assert_string_equal(x->deployment, y->deployment);
		assert_string_equal(x->hash, y->hash);
		assert_str_eq_null(x->source, y->source);
		assert_str_eq_null(x->cause, y->cause);
		assert_int_equal(x->restores, y->restores);
		assert_string_equal(x->status, y->status);
		assert_str_eq_null(x->reason, y->reason);
		assert_int_equal(x->created_at, y->created_at);
	}
	state_revisions_free(&brief);
	state_revisions_free(&list);
	/* The other deployment keeps its own. */
	assert_ok(state_revisions_load(f->db, "blog", &list, &err), err);
	assert_int_equal(list.count, 1);
	state_revisions_free(&list);
	/* A revision needs a hash. */
	struct state_revision bad = { .deployment = (char *)"shop" };
	assert_int_equal(state_revision_add(f->db, &bad, &err), -1);
	zl_err_clear(&err);
}

/* Makes table (with its current columns) a WITHOUT ROWID table, as
 * versions before 9 (replicas) and 10 (revisions) kept it. */
static void without_rowid(sqlite3 *c, const char *table)
{
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(c, "SELECT sql FROM sqlite_master WHERE name = ?1", -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	const char *columns = strchr((const char *)sqlite3_column_text(st, 0), '(');
	assert_non_null(columns);
	char *sql = zl_xasprintf("CREATE TABLE old_%s %s WITHOUT ROWID; INSERT INTO old_%s SELECT * FROM %s; "
				 "DROP TABLE %s; ALTER TABLE old_%s RENAME TO %s",
				 table, columns, table, table, table, table, table);
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_exec(c, sql, NULL, NULL, NULL), SQLITE_OK);
	free(sql);
}

/* Rows too large for a WITHOUT ROWID page (a replica's spec_sections, a
 * revision's spec) spilled into overflow pages and, for revisions, were
 * read whole to compare keys: versions 9 and 10 make those tables rowid
 * tables. Everything the rows held, their keys and the backend id index
 * survive. */
static void test_migrates_big_rows_to_rowid_tables(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	struct state_replica a, b;
	full_replica(&a, "api", 1);
	state_replica_init(&b);
	b.deployment = zl_xstrdup("shop");
	b.service = zl_xstrdup("web");
	b.index = 2;
	b.state = STATE_REPLICA_UNKNOWN;
	assert_ok(state_replica_upsert(f->db, &a, &err), err);
	assert_ok(state_replica_upsert(f->db, &b, &err), err);
	add_revision(f->db, "shop", "h1", 0, 10);
	add_revision(f->db, "shop", "h2", 1, 11);
	sqlite3 *c = raw_db(f);
	without_rowid(c, "replicas");
	without_rowid(c, "revisions");
	assert_int_equal(sqlite3_exec(c, "CREATE INDEX replicas_backend_id ON replicas (backend_id); "
					 "PRAGMA user_version = 8", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(c);
	assert_int_equal(query_int(f->root, "SELECT count(*) FROM sqlite_master WHERE name IN ('replicas', 'revisions') "
					    "AND sql LIKE '%WITHOUT ROWID%'"),
			 2);

	assert_ok(state_open(f->root, false, &f->db, &err), err);
	assert_int_equal(state_schema_version(f->db), STATE_SCHEMA_VERSION);
	assert_int_equal(query_int(f->root, "SELECT count(*) FROM sqlite_master WHERE name IN ('replicas', 'revisions') "
					    "AND sql NOT LIKE '%WITHOUT ROWID%'"),
			 2);
	assert_int_equal(query_int(f->root, "SELECT count(*) FROM sqlite_master WHERE name = 'replicas_backend_id'"), 1);
	struct state_replicas list;
	assert_ok(state_replicas_load(f->db, "shop", &list, &err), err);
	assert_int_equal(list.count, 2);
	assert_replica_equal(&list.items[0], &a);
	assert_replica_equal(&list.items[1], &b);
	state_replicas_free(&list);
	/* The key still holds: the same replica again is an update, not a row. */
	assert_ok(state_replica_upsert(f->db, &b, &err), err);
	assert_int_equal(query_int(f->root, "SELECT count(*) FROM replicas"), 2);
	state_replica_clear(&a);
	state_replica_clear(&b);
	struct state_revisions revs;
	assert_ok(state_revisions_load(f->db, "shop", &revs, &err), err);
	assert_int_equal(revs.count, 2);
	assert_string_equal(revs.items[1].hash, "h2");
	assert_string_equal(revs.items[1].spec, "version: v1\n");
	assert_string_equal(revs.items[1].source, "a.yaml");
	assert_int_equal(revs.items[1].restores, 1);
	assert_int_equal(revs.items[1].created_at, 11);
	state_revisions_free(&revs);
	/* Numbering goes on after the copied ones. */
	assert_int_equal(add_revision(f->db, "shop", "h3", 0, 12), 3);
}

/* ---- runs and schedules (jobs and cron) ---- */

static void test_runs_and_schedules(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	/* runs are numbered per service; beyond STATE_RUNS_KEPT the oldest go,
	 * and their log paths come back for the caller to unlink */
	for (int i = 1; i <= STATE_RUNS_KEPT + 2; i++) {
		char **pruned = NULL;
		size_t n = 0;
		struct state_run run = { .deployment = "shop", .service = "migrate", .index = 1,
					 .cause = "created", .started_at = 1000 * i, .exit_code = -1 };
		assert_ok(state_begin(f->db, &err), err);
		assert_ok(state_run_start(f->db, &run, &pruned, &n, &err), err);
		assert_ok(state_commit(f->db, &err), err);
		assert_int_equal(run.run_no, i);
		assert_int_equal(n, i > STATE_RUNS_KEPT ? 1 : 0);
		if (n)
			assert_string_equal(pruned[0], i == STATE_RUNS_KEPT + 1 ? "/logs/1" : "/logs/2");
		state_names_free(pruned, n);
		/* the run ends; its output is archived */
		assert_ok(state_run_finish(f->db, "shop", "migrate", 1, 1000 * i + 500, i % 3, 0,
					   "exited", &err),
			  err);
		char log[32];
		snprintf(log, sizeof(log), "/logs/%d", i);
		assert_ok(state_run_set_log(f->db, "shop", "migrate", run.run_no, log, &err), err);
	}
	/* another service numbers its own runs */
	struct state_run other = { .deployment = "shop", .service = "backup", .index = 1,
				   .scheduled_s = 1767225600, .exit_code = -1, .started_at = 5 };
	assert_ok(state_run_start(f->db, &other, NULL, NULL, &err), err);
	assert_int_equal(other.run_no, 1);
	/* finishing with no open run writes nothing */
	int64_t changes = state_total_changes(f->db);
	assert_ok(state_run_finish(f->db, "shop", "migrate", 1, 9, 0, 0, "exited", &err), err);
	assert_int_equal(state_total_changes(f->db), changes);

	struct state_runs runs = { 0 };
	assert_ok(state_runs_load(f->db, "shop", &runs, &err), err);
	assert_int_equal(runs.count, STATE_RUNS_KEPT + 1);
	assert_string_equal(runs.items[0].service, "backup");
	assert_int_equal(runs.items[0].scheduled_s, 1767225600);
	assert_int_equal(runs.items[0].finished_at, 0);
	assert_null(runs.items[0].log_path);
	const struct state_run *r = &runs.items[1];
	assert_int_equal(r->run_no, 3);
	assert_string_equal(r->cause, "created");
	assert_int_equal(r->started_at, 3000);
	assert_int_equal(r->finished_at, 3500);
	assert_int_equal(r->exit_code, 0);
	assert_string_equal(r->reason, "exited");
	assert_string_equal(r->log_path, "/logs/3");
	state_runs_free(&runs);
	struct state_run latest;
	bool found = false;
	assert_ok(state_run_latest(f->db, "shop", "migrate", 1, &latest, &found, &err), err);
	assert_true(found);
	assert_int_equal(latest.run_no, STATE_RUNS_KEPT + 2);
	state_run_clear(&latest);
	assert_ok(state_run_latest(f->db, "shop", "migrate", 2, &latest, &found, &err), err);
	assert_false(found);

	/* schedules: an identical put writes nothing */
	assert_ok(state_schedule_put(f->db, "shop", "backup", 100, 200, &err), err);
	changes = state_total_changes(f->db);
	assert_ok(state_schedule_put(f->db, "shop", "backup", 100, 200, &err), err);
	assert_int_equal(state_total_changes(f->db), changes);
	assert_ok(state_schedule_put(f->db, "shop", "backup", 200, -1, &err), err);
	struct state_schedules sched = { 0 };
	assert_ok(state_schedules_load(f->db, NULL, &sched, &err), err);
	assert_int_equal(sched.count, 1);
	assert_int_equal(sched.items[0].last_scheduled_s, 200);
	assert_int_equal(sched.items[0].next_s, -1);
	state_schedules_free(&sched);

	/* a service that goes takes its runs and schedule with it */
	struct state_service svc = { .deployment = "shop", .name = "backup", .rtype = "cron" };
	assert_ok(state_service_upsert(f->db, &svc, 1, &err), err);
	assert_ok(state_service_delete(f->db, "shop", "backup", &err), err);
	assert_int_equal(query_int(f->root, "SELECT count(*) FROM runs WHERE service = 'backup'"), 0);
	assert_int_equal(query_int(f->root, "SELECT count(*) FROM schedules"), 0);
	assert_int_equal(query_int(f->root, "SELECT count(*) FROM runs"), STATE_RUNS_KEPT);
	assert_ok(state_schedule_delete(f->db, "shop", "backup", &err), err); /* none is fine */

	/* the deployment's source, for `zlapply run` */
	char *source = NULL;
	assert_ok(state_deployment_source(f->db, "shop", &source, &err), err);
	assert_null(source);
	assert_ok(state_deployment_upsert(f->db, "shop", "/etc/zlapply/shop.yaml", 1, &err), err);
	assert_ok(state_deployment_source(f->db, "shop", &source, &err), err);
	assert_string_equal(source, "/etc/zlapply/shop.yaml");
	free(source);
}

/* ---- many rows ---- */

/* 2,000 replicas round-trip and a no-op upsert of all of them changes
 * nothing. Speed is measured in bench/, not asserted here. */
static void test_many_rows_noop_upsert(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	assert_ok(state_begin(f->db, &err), err);
	for (int i = 0; i < 2000; i++) {
		struct state_replica r;
		char svc[32];
		snprintf(svc, sizeof(svc), "svc%03d", i / 2);
		full_replica(&r, svc, i % 2 + 1);
		assert_ok(state_replica_upsert(f->db, &r, &err), err);
		state_replica_clear(&r);
	}
	for (int i = 0; i < 1000; i++) {
		char name[32];
		snprintf(name, sizeof(name), "svc%03d", i);
		struct state_service s = { "shop", name, "service", 2, "hash" };
		assert_ok(state_service_upsert(f->db, &s, 1, &err), err);
	}
	assert_ok(state_commit(f->db, &err), err);

	struct state_replicas reps;
	struct state_services svcs;
	assert_ok(state_replicas_load(f->db, "shop", &reps, &err), err);
	assert_ok(state_services_load(f->db, "shop", &svcs, &err), err);
	assert_int_equal(reps.count, 2000);
	assert_int_equal(svcs.count, 1000);

	/* The no-op apply: the same rows again change nothing. */
	int64_t before = state_total_changes(f->db);
	assert_ok(state_begin(f->db, &err), err);
	for (size_t i = 0; i < reps.count; i++)
		assert_ok(state_replica_upsert(f->db, &reps.items[i], &err), err);
	assert_ok(state_commit(f->db, &err), err);
	assert_int_equal(state_total_changes(f->db), before);
	state_replicas_free(&reps);
	state_services_free(&svcs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_creates_schema, setup_db, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_is_idempotent, setup_db, teardown),
		cmocka_unit_test_setup_teardown(test_future_version_refused, setup_root, teardown),
		cmocka_unit_test_setup_teardown(test_read_only_missing_db, setup_root, teardown),
		cmocka_unit_test_setup_teardown(test_read_only_empty_file, setup_root, teardown),
		cmocka_unit_test_setup_teardown(test_read_only_open_reads_not_writes, setup_db,
						teardown),
		cmocka_unit_test_setup_teardown(test_replica_round_trip, setup_db, teardown),
		cmocka_unit_test_setup_teardown(test_replica_unknown_state_in_db, setup_db, teardown),
		cmocka_unit_test(test_replica_copy),
		cmocka_unit_test_setup_teardown(test_replica_identical_upsert_writes_nothing,
						setup_db, teardown),
		cmocka_unit_test_setup_teardown(test_replica_changed_field_updates, setup_db,
						teardown),
		cmocka_unit_test_setup_teardown(test_replica_delete_and_order, setup_db, teardown),
		cmocka_unit_test_setup_teardown(test_replica_upsert_rejects_bad_input, setup_db,
						teardown),
		cmocka_unit_test(test_replica_state_names),
		cmocka_unit_test_setup_teardown(test_deployments_crud, setup_db, teardown),
		cmocka_unit_test_setup_teardown(test_services_crud, setup_db, teardown),
		cmocka_unit_test_setup_teardown(test_journal, setup_db, teardown),
		cmocka_unit_test_setup_teardown(test_events_limit_order, setup_db, teardown),
		cmocka_unit_test_setup_teardown(test_rollback_leaves_nothing, setup_db, teardown),
		cmocka_unit_test_setup_teardown(test_lock_in_process, setup_root, teardown),
		cmocka_unit_test_setup_teardown(test_lock_held_by_other_process, setup_root,
						teardown),
		cmocka_unit_test_setup_teardown(test_many_rows_noop_upsert, setup_db, teardown),
		cmocka_unit_test_setup_teardown(test_images_crud, setup_db, teardown),
		cmocka_unit_test_setup_teardown(test_leases, setup_db, teardown),
		cmocka_unit_test_setup_teardown(test_migrates_v1_forward, setup_db, teardown),
		cmocka_unit_test_setup_teardown(test_migrates_big_rows_to_rowid_tables, setup_db, teardown),
		cmocka_unit_test_setup_teardown(test_runs_and_schedules, setup_db, teardown),
		cmocka_unit_test_setup_teardown(test_revisions, setup_db, teardown),
	};
	return cmocka_run_group_tests_name("state", tests, NULL, NULL);
}
