/* test_mock.c: the mock backend behaves like a small container runtime the
 * reconciler's tests can rely on: lifecycle, persistence across runs, and the
 * faults (injected failures, delays, exits) those tests provoke. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <string.h>
#include <sys/stat.h>

#include "backends/backend.h"
#include "backends/mock/mock.h"

struct fixture {
	char root[64];
	struct backend *b;
	struct spec_service web;
	struct spec_service db;
};

static int setup(void **state)
{
	struct fixture *f = zl_xcalloc(1, sizeof(*f));
	snprintf(f->root, sizeof(f->root), "/tmp/zl-mock-test-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(backend_open("mock", f->root, NULL, &f->b, &err), 0);
	assert_int_equal(f->b->ops->probe(f->b, &err), 0);
	f->web.name = "web";
	f->db.name = "db";
	unsetenv("ZLAPPLY_MOCK_FAIL");
	unsetenv("ZLAPPLY_MOCK_DELAY_MS");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	backend_close(f->b);
	assert_int_equal(zl_rm_rf(f->root, &err), 0);
	unsetenv("ZLAPPLY_MOCK_FAIL");
	unsetenv("ZLAPPLY_MOCK_DELAY_MS");
	free(f);
	return 0;
}

static struct backend_replica_spec replica(struct fixture *f, const struct spec_service *svc,
					   int index, const char *id)
{
	struct backend_replica_spec r = {
		.deployment = "d",
		.service = svc,
		.index = index,
		.backend_id = id,
		.spec_hash = "abc123",
	};
	(void)f;
	return r;
}

static int create(struct fixture *f, const char *id, struct zl_err *err)
{
	struct backend_replica_spec r = replica(f, &f->web, 1, id);
	return f->b->ops->create(f->b, &r, err);
}

static struct backend_state state_of(struct fixture *f, const char *id)
{
	struct backend_state st;
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(f->b->ops->state(f->b, id, &st, &err), 0);
	return st;
}

static char *logs_of(struct fixture *f, const char *id, size_t tail)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	assert_non_null(out);
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(f->b->ops->logs(f->b, id, &(struct backend_log_opts){ .tail = tail }, out, &err), 0);
	fclose(out);
	return text;
}

static void test_lifecycle(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	const char *id = "zl-d-web-1";

	assert_int_equal(create(f, id, &err), 0);
	struct backend_state st = state_of(f, id);
	assert_int_equal(st.status, BACKEND_STATUS_CREATED);
	assert_int_equal(st.pid, -1);

	int64_t before = zl_now_ms();
	assert_int_equal(f->b->ops->start(f->b, id, &err), 0);
	st = state_of(f, id);
	assert_int_equal(st.status, BACKEND_STATUS_RUNNING);
	assert_true(st.pid > 1);
	assert_true(st.started_at >= before);
	assert_int_equal(st.finished_at, 0);
	assert_int_equal(st.exit_code, -1);

	assert_int_equal(f->b->ops->stop(f->b, id, SIGTERM, 1000, &err), 0);
	st = state_of(f, id);
	assert_int_equal(st.status, BACKEND_STATUS_EXITED);
	assert_int_equal(st.exit_code, 128 + SIGTERM);
	assert_int_equal(st.exit_signal, SIGTERM);
	assert_string_equal(st.exit_reason, "signal");
	assert_true(st.finished_at >= st.started_at);
	/* stopping an exited replica changes nothing */
	assert_int_equal(f->b->ops->stop(f->b, id, SIGTERM, 1000, &err), 0);

	_cleanup_free_ char *log = logs_of(f, id, 0);
	assert_non_null(strstr(log, "mock: zl-d-web-1 created\n"));
	assert_non_null(strstr(log, "mock: zl-d-web-1 started"));
	assert_non_null(strstr(log, "stopped by signal 15"));

	assert_int_equal(f->b->ops->remove(f->b, id, &err), 0);
	assert_int_equal(state_of(f, id).status, BACKEND_STATUS_MISSING);
	/* removing what is gone is not an error */
	assert_int_equal(f->b->ops->remove(f->b, id, &err), 0);
	/* and the id can be used again */
	assert_int_equal(create(f, id, &err), 0);
}

static void test_create_twice_fails(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	const char *id = "zl-d-web-1";
	assert_int_equal(create(f, id, &err), 0);
	assert_int_equal(f->b->ops->start(f->b, id, &err), 0);
	int64_t pid = state_of(f, id).pid;

	assert_int_not_equal(create(f, id, &err), 0);
	assert_int_equal(err.kind, ZL_ERR_FAIL);
	assert_non_null(strstr(err.msg, "container zl-d-web-1 already exists"));
	/* the existing replica is untouched */
	struct backend_state st = state_of(f, id);
	assert_int_equal(st.status, BACKEND_STATUS_RUNNING);
	assert_int_equal(st.pid, pid);
}

static void test_unknown_id_is_missing(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	struct backend_state st = state_of(f, "zl-d-nothing-1");
	assert_int_equal(st.status, BACKEND_STATUS_MISSING);
	assert_int_equal(st.pid, -1);
	assert_int_equal(st.exit_code, -1);

	/* operations that need the replica say it is not there */
	assert_int_not_equal(f->b->ops->start(f->b, "zl-d-nothing-1", &err), 0);
	assert_non_null(strstr(err.msg, "no such container zl-d-nothing-1"));
	/* ids never leave the mock directory */
	assert_int_not_equal(f->b->ops->state(f->b, "../escape", &st, &err), 0);
	assert_int_equal(err.kind, ZL_ERR_INPUT);
}

static void test_persists_across_open(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	struct backend_replica_spec r = replica(f, &f->db, 2, "zl-d-db-2");
	assert_int_equal(f->b->ops->create(f->b, &r, &err), 0);
	assert_int_equal(f->b->ops->start(f->b, "zl-d-db-2", &err), 0);
	struct backend_state first = state_of(f, "zl-d-db-2");

	backend_close(f->b);
	f->b = NULL;
	assert_int_equal(backend_open("mock", f->root, NULL, &f->b, &err), 0);
	struct backend_state again = state_of(f, "zl-d-db-2");
	assert_int_equal(again.status, BACKEND_STATUS_RUNNING);
	assert_int_equal(again.pid, first.pid);
	assert_int_equal(again.started_at, first.started_at);

	/* the record also keeps what was created */
	char path[512];
	snprintf(path, sizeof(path), "%s/mock/zl-d-db-2", f->root);
	_cleanup_free_ char *text = NULL;
	size_t len;
	assert_int_equal(zl_read_file(path, &text, &len, &err), 0);
	assert_non_null(strstr(text, "spec_hash=abc123\n"));
	assert_non_null(strstr(text, "deployment=d\n"));
	assert_non_null(strstr(text, "service=db\n"));
	assert_non_null(strstr(text, "index=2\n"));
	struct stat sb;
	snprintf(path, sizeof(path), "%s/mock", f->root);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
}

static void test_injected_failure_by_id(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(create(f, "zl-d-web-1", &err), 0);
	assert_int_equal(create(f, "zl-d-web-2", &err), 0);

	setenv("ZLAPPLY_MOCK_FAIL", "create:zl-d-other-1, start:zl-d-web-2", 1);
	assert_int_equal(f->b->ops->start(f->b, "zl-d-web-1", &err), 0);
	assert_int_not_equal(f->b->ops->start(f->b, "zl-d-web-2", &err), 0);
	assert_string_equal(err.msg, "mock: injected failure of start for zl-d-web-2");
	assert_int_equal(state_of(f, "zl-d-web-2").status, BACKEND_STATUS_CREATED);
	assert_int_not_equal(create(f, "zl-d-other-1", &err), 0);
	assert_string_equal(err.msg, "mock: injected failure of create for zl-d-other-1");
	assert_int_equal(state_of(f, "zl-d-other-1").status, BACKEND_STATUS_MISSING);

	setenv("ZLAPPLY_MOCK_FAIL", "stop:zl-d-web-1,remove:zl-d-web-1", 1);
	assert_int_not_equal(f->b->ops->stop(f->b, "zl-d-web-1", SIGTERM, 100, &err), 0);
	assert_string_equal(err.msg, "mock: injected failure of stop for zl-d-web-1");
	assert_int_equal(state_of(f, "zl-d-web-1").status, BACKEND_STATUS_RUNNING);
	assert_int_not_equal(f->b->ops->remove(f->b, "zl-d-web-1", &err), 0);
	assert_string_equal(err.msg, "mock: injected failure of remove for zl-d-web-1");
	assert_int_equal(state_of(f, "zl-d-web-1").status, BACKEND_STATUS_RUNNING);

	/* the environment is read per call: clearing it heals the backend */
	unsetenv("ZLAPPLY_MOCK_FAIL");
	assert_int_equal(f->b->ops->start(f->b, "zl-d-web-2", &err), 0);
	assert_int_equal(f->b->ops->remove(f->b, "zl-d-web-1", &err), 0);
	assert_int_equal(state_of(f, "zl-d-web-1").status, BACKEND_STATUS_MISSING);
}

static void test_injected_failure_wildcard(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	setenv("ZLAPPLY_MOCK_FAIL", "create:*", 1);
	assert_int_not_equal(create(f, "zl-d-web-1", &err), 0);
	assert_string_equal(err.msg, "mock: injected failure of create for zl-d-web-1");
	assert_int_not_equal(create(f, "zl-x-y-7", &err), 0);
	assert_string_equal(err.msg, "mock: injected failure of create for zl-x-y-7");
	/* other operations are unaffected */
	setenv("ZLAPPLY_MOCK_FAIL", "start:*", 1);
	assert_int_equal(create(f, "zl-d-web-1", &err), 0);
	assert_int_not_equal(f->b->ops->start(f->b, "zl-d-web-1", &err), 0);
	assert_string_equal(err.msg, "mock: injected failure of start for zl-d-web-1");
}

static void test_set_exit(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(create(f, "zl-d-web-1", &err), 0);
	/* only a running replica can exit */
	assert_int_not_equal(backend_mock_set_exit(f->root, "zl-d-web-1", 3, 0, &err), 0);
	assert_non_null(strstr(err.msg, "is created, expected running"));
	assert_int_not_equal(backend_mock_set_exit(f->root, "zl-d-none-1", 3, 0, &err), 0);

	assert_int_equal(f->b->ops->start(f->b, "zl-d-web-1", &err), 0);
	assert_int_equal(backend_mock_set_exit(f->root, "zl-d-web-1", 3, 0, &err), 0);
	struct backend_state st = state_of(f, "zl-d-web-1");
	assert_int_equal(st.status, BACKEND_STATUS_EXITED);
	assert_int_equal(st.exit_code, 3);
	assert_int_equal(st.exit_signal, 0);
	assert_string_equal(st.exit_reason, "exited");
	assert_int_equal(st.pid, -1);
	_cleanup_free_ char *log = logs_of(f, "zl-d-web-1", 1);
	assert_string_equal(log, "mock: zl-d-web-1 exited with code 3\n");

	assert_int_equal(f->b->ops->start(f->b, "zl-d-web-1", &err), 0);
	assert_int_equal(backend_mock_set_exit(f->root, "zl-d-web-1", 137, SIGKILL, &err), 0);
	st = state_of(f, "zl-d-web-1");
	assert_int_equal(st.exit_code, 137);
	assert_int_equal(st.exit_signal, SIGKILL);
	assert_string_equal(st.exit_reason, "signal");
}

static void test_delay(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	setenv("ZLAPPLY_MOCK_DELAY_MS", "120", 1);
	int64_t t0 = zl_monotonic_ms();
	assert_int_equal(create(f, "zl-d-web-1", &err), 0);
	int64_t t1 = zl_monotonic_ms();
	assert_int_equal(f->b->ops->start(f->b, "zl-d-web-1", &err), 0);
	int64_t t2 = zl_monotonic_ms();
	assert_true(t1 - t0 >= 120);
	assert_true(t2 - t1 >= 120);

	setenv("ZLAPPLY_MOCK_DELAY_MS", "soon", 1);
	assert_int_not_equal(create(f, "zl-d-web-2", &err), 0);
	assert_int_equal(err.kind, ZL_ERR_INPUT);
	assert_non_null(strstr(err.msg, "ZLAPPLY_MOCK_DELAY_MS"));
}

static void test_restart_after_exit(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	const char *id = "zl-d-web-1";
	assert_int_equal(create(f, id, &err), 0);
	assert_int_equal(f->b->ops->start(f->b, id, &err), 0);
	int64_t pid1 = state_of(f, id).pid;
	/* starting a running replica is refused */
	assert_int_not_equal(f->b->ops->start(f->b, id, &err), 0);
	assert_non_null(strstr(err.msg, "is running"));

	assert_int_equal(backend_mock_set_exit(f->root, id, 1, 0, &err), 0);
	assert_int_equal(f->b->ops->start(f->b, id, &err), 0);
	struct backend_state st = state_of(f, id);
	assert_int_equal(st.status, BACKEND_STATUS_RUNNING);
	assert_true(st.pid > 1);
	assert_int_not_equal(st.pid, pid1);
	assert_int_equal(st.exit_code, -1);
	assert_int_equal(st.exit_signal, 0);
	assert_string_equal(st.exit_reason, "");
	assert_int_equal(st.finished_at, 0);
}

static void test_kill_exec_stats_wait(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	const char *id = "zl-d-web-1";
	char *argv[] = { "true", NULL };
	int code = -7;
	assert_int_equal(create(f, id, &err), 0);
	assert_int_not_equal(f->b->ops->exec(f->b, id, argv, &code, &err), 0);
	assert_int_equal(f->b->ops->start(f->b, id, &err), 0);
	assert_int_equal(f->b->ops->exec(f->b, id, argv, &code, &err), 0);
	assert_int_equal(code, 0);

	struct backend_stats stats;
	assert_int_equal(f->b->ops->stats(f->b, id, &stats, &err), 0);
	assert_int_equal(stats.cpu_usage_ns, -1);
	assert_int_equal(stats.memory_bytes, -1);

	/* wait times out while it runs */
	assert_int_not_equal(f->b->ops->wait(f->b, id, 30, &err), 0);
	assert_int_equal(err.kind, ZL_ERR_TIMEOUT);

	assert_int_equal(f->b->ops->kill(f->b, id, 0, &err), 0);
	assert_int_equal(state_of(f, id).status, BACKEND_STATUS_RUNNING);
	assert_int_equal(f->b->ops->kill(f->b, id, SIGKILL, &err), 0);
	struct backend_state st = state_of(f, id);
	assert_int_equal(st.status, BACKEND_STATUS_EXITED);
	assert_int_equal(st.exit_code, 128 + SIGKILL);
	assert_int_equal(st.exit_signal, SIGKILL);
	assert_int_equal(f->b->ops->wait(f->b, id, 1000, &err), 0);
	assert_int_not_equal(f->b->ops->kill(f->b, id, SIGKILL, &err), 0);
	assert_non_null(strstr(err.msg, "not running"));
	assert_int_not_equal(f->b->ops->exec(f->b, id, argv, &code, &err), 0);
}

static void test_logs_tail(void **state)
{
	struct fixture *f = *state;
	struct zl_err err = ZL_ERR_INIT;
	const char *id = "zl-d-web-1";
	assert_int_equal(create(f, id, &err), 0);
	assert_int_equal(f->b->ops->start(f->b, id, &err), 0);
	assert_int_equal(f->b->ops->stop(f->b, id, SIGINT, 100, &err), 0);

	_cleanup_free_ char *all = logs_of(f, id, 0);
	_cleanup_free_ char *two = logs_of(f, id, 2);
	_cleanup_free_ char *many = logs_of(f, id, 50);
	assert_non_null(strstr(all, "created\n"));
	assert_null(strstr(two, "created\n"));
	assert_non_null(strstr(two, "started (pid "));
	assert_string_equal(two + strlen(two) - strlen("stopped by signal 2\n"),
			    "stopped by signal 2\n");
	assert_string_equal(many, all);

	/* follow returns once the replica is no longer running */
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	assert_int_equal(f->b->ops->logs(f->b, id, &(struct backend_log_opts){ .tail = 1, .follow = true }, out, &err), 0);
	fclose(out);
	assert_non_null(strstr(text, "stopped by signal 2"));
	free(text);
}

static void test_open_unknown_backend(void **state)
{
	(void)state;
	struct zl_err err = ZL_ERR_INIT;
	struct backend *b = (struct backend *)1;
	assert_int_not_equal(backend_open("dockerish", "/tmp", NULL, &b, &err), 0);
	assert_null(b);
	assert_int_equal(err.kind, ZL_ERR_INPUT);
	assert_non_null(strstr(err.msg, "dockerish"));
	assert_non_null(strstr(err.msg, "mock"));
	assert_non_null(strstr(err.msg, "oci"));
}

/* doctor's contract: every compiled-in backend refuses to look for, or
 * sweep, leftovers of a directory that is not a state root, and removes
 * nothing there; in a state root it lists a fake replica no row owns. */
static void test_leftovers_only_in_a_state_root(void **state)
{
	(void)state;
	char dir[] = "/tmp/zl-mock-notroot-XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct zl_err err = ZL_ERR_INIT;
	for (size_t i = 0; i < backend_count(); i++) {
		struct backend *b = NULL;
		assert_int_equal(backend_open(backend_name_at(i), dir, NULL, &b, &err), 0);
		if (b->ops->leftovers) {
			struct backend_leftovers l = { 0 };
			zl_err_clear(&err);
			assert_int_equal(b->ops->leftovers(b, NULL, 0, &l, &err), -1);
			assert_non_null(strstr(err.msg, "is not a zlapply state root"));
			assert_int_equal(l.count, 0);
			struct backend_leftover fake = { .kind = "dir", .name = dir, .key = "x" };
			zl_err_clear(&err);
			assert_int_equal(b->ops->sweep(b, &fake, &err), -1);
			assert_non_null(strstr(err.msg, "is not a zlapply state root"));
		}
		backend_close(b);
	}
	struct stat st;
	assert_int_equal(stat(dir, &st), 0); /* nothing was removed */

	/* A state root (state.db there): a fake replica without a row is listed. */
	char path[64];
	snprintf(path, sizeof(path), "%s/state.db", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	struct backend *b = NULL;
	assert_int_equal(backend_open("mock", dir, NULL, &b, &err), 0);
	struct spec_service web = { .name = "web" };
	struct backend_replica_spec rs = { .deployment = "d", .service = &web, .index = 1,
					   .backend_id = "zl-d-web-1", .spec_hash = "h" };
	assert_int_equal(b->ops->create(b, &rs, &err), 0);
	struct backend_leftovers l = { 0 };
	assert_int_equal(b->ops->leftovers(b, NULL, 0, &l, &err), 0);
	assert_int_equal(l.count, 1);
	assert_string_equal(l.items[0].key, "zl-d-web-1");
	assert_int_equal(b->ops->sweep(b, &l.items[0], &err), 0);
	backend_leftovers_free(&l);
	struct backend_state bs;
	assert_int_equal(b->ops->state(b, "zl-d-web-1", &bs, &err), 0);
	assert_int_equal(bs.status, BACKEND_STATUS_MISSING);
	backend_close(b);
	assert_int_equal(zl_rm_rf(dir, &err), 0);
}

static void test_names(void **state)
{
	(void)state;
	_cleanup_free_ char *id = backend_replica_id("shop", "api", 3);
	assert_string_equal(id, "zl-shop-api-3");
	assert_string_equal(backend_status_name(BACKEND_STATUS_MISSING), "missing");
	assert_string_equal(backend_status_name(BACKEND_STATUS_CREATED), "created");
	assert_string_equal(backend_status_name(BACKEND_STATUS_RUNNING), "running");
	assert_string_equal(backend_status_name(BACKEND_STATUS_EXITED), "exited");
	assert_string_equal(backend_status_name(BACKEND_STATUS_UNKNOWN), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
		cmocka_unit_test(test_leftovers_only_in_a_state_root),
		cmocka_unit_test_setup_teardown(test_create_twice_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_id_is_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_persists_across_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_injected_failure_by_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_injected_failure_wildcard, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_exit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_after_exit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill_exec_stats_wait, setup, teardown),
		cmocka_unit_test_setup_teardown(test_logs_tail, setup, teardown),
		cmocka_unit_test(test_open_unknown_backend),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
