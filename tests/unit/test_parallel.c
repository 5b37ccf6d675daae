/* test_parallel.c: actions carried out at once (reconcile/parallel.c,
 * rollout.c) against a real SQLite state and the mock backend, whose
 * creates and starts take ZLAPPLY_MOCK_DELAY_MS each:
 *   - independent creates overlap, never more than --parallel of them;
 *   - the plan lines come in plan order whatever finishes first;
 *   - a failing action in a wave: its siblings finish, the error names it,
 *     nothing stays pending;
 *   - a rolling update replaces rollout.max_unavailable replicas at a time
 *     (default 25%), each batch after the one before;
 *   - zlapply killed in the middle of a wave (its workers die with it): the next
 *     apply settles every journal entry and converges.
 * Overlap is read from the journal (each action's begin and end), so no
 * assertion depends on how fast this machine is. Each test has its own
 * state root. */
#include "execute-fixture.h"

#include <signal.h>
#include <sys/wait.h>

/* The journal's actions as intervals [created_at, finished_at). */
struct span {
	int64_t begin, end;
	int idx;
	char action[16];
};

static size_t load_spans(struct fixture *f, const char *where, struct span *out, size_t cap)
{
	char sql[256];
	snprintf(sql, sizeof(sql),
		 "SELECT created_at, finished_at, idx, action FROM journal %s ORDER BY id", where);
	char *text = sql_text(f, sql);
	size_t n = 0;
	for (char *line = strtok(text, "\n"); line && n < cap; line = strtok(NULL, "\n")) {
		struct span *s = &out[n];
		long long b, e;
		if (sscanf(line, "%lld|%lld|%d|%15s", &b, &e, &s->idx, s->action) == 4) {
			s->begin = b;
			s->end = e;
			n++;
		}
	}
	free(text);
	return n;
}

/* The most spans open at one time. */
static int max_overlap(const struct span *s, size_t n)
{
	int best = 0;
	for (size_t i = 0; i < n; i++) {
		int open = 0;
		for (size_t k = 0; k < n; k++)
			open += s[k].begin <= s[i].begin && s[i].begin < s[k].end;
		if (open > best)
			best = open;
	}
	return best;
}

static void test_creates_overlap_up_to_the_bound(void **state)
{
	struct fixture *f = *state;
	setenv("ZLAPPLY_MOCK_DELAY_MS", "150", 1);
	f->opts.parallel = 2;
	struct reconcile_result res = apply_web(f, 6, "a");
	assert_int_equal(res.actions_done, 6);
	struct span s[16];
	size_t n = load_spans(f, "", s, 16);
	assert_int_equal(n, 6);
	/* 300 ms each, 6 of them, 2 workers: they overlap, but never 3 */
	assert_int_equal(max_overlap(s, n), 2);
	assert_sql(f, "SELECT count(*) FROM journal WHERE status = 'done'", "6\n");
	assert_sql(f, "SELECT count(*) FROM replicas WHERE state = 'running'", "6\n");
	/* every replica its own pid */
	assert_sql(f, "SELECT count(DISTINCT pid) FROM replicas", "6\n");
}

static void test_lines_in_plan_order(void **state)
{
	struct fixture *f = *state;
	setenv("ZLAPPLY_MOCK_DELAY_MS", "20", 1);
	f->opts.parallel = 4;
	char *yaml = demo_yaml(DEP, 5, "a", 3, NULL);
	apply_ok(f, yaml);
	free(yaml);
	assert_lines(f, "+ create web-rep-1\n+ create web-rep-2\n+ create web-rep-3\n"
			"+ create web-rep-4\n+ create web-rep-5\n+ create worker-rep-1\n"
			"+ create worker-rep-2\n+ create worker-rep-3\n");
}

static void test_a_failure_leaves_its_siblings_done(void **state)
{
	struct fixture *f = *state;
	setenv("ZLAPPLY_MOCK_DELAY_MS", "50", 1);
	setenv("ZLAPPLY_MOCK_FAIL", "start:zl-demo-web-2", 1);
	f->opts.parallel = 3;
	char *yaml = demo_yaml(DEP, 4, "a", 0, NULL);
	struct reconcile_result res;
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(apply_text(f, yaml, &res, &err), -1);
	assert_contains(err.msg, "create web-rep-2");
	assert_contains(err.msg, "injected failure of start");
	assert_int_equal(res.actions_done, 3);
	assert_int_equal(res.actions_failed, 1);
	/* each finished as its journal entry says: none pending */
	assert_sql(f, "SELECT idx, status FROM journal ORDER BY idx",
		   "1|done\n2|failed\n3|done\n4|done\n");
	assert_sql(f, "SELECT idx, state FROM replicas ORDER BY idx",
		   "1|running\n2|failed\n3|running\n4|running\n");
	/* the failed one left nothing in the backend */
	assert_int_equal(mock_status(f, "zl-demo-web-2"), BACKEND_STATUS_MISSING);
	clear_faults();
	/* the next apply retries it */
	res = apply_ok(f, yaml);
	assert_int_equal(res.actions_done, 1);
	free(yaml);
}

/* 8 web replicas (extra: lines of the web service), then their env changed
 * with 8 workers: the spans of that second apply's journal entries (and
 * `also`, an SQL condition) in s. */
static size_t roll_eight(struct fixture *f, const char *extra, const char *also, struct span *s,
			 size_t cap)
{
	setenv("ZLAPPLY_MOCK_DELAY_MS", "60", 1);
	f->opts.parallel = 8;
	char *v1 = demo_yaml(DEP, 8, "a", 0, extra);
	char *v2 = demo_yaml(DEP, 8, "b", 0, extra);
	apply_ok(f, v1);
	int64_t first = sql_int(f, "SELECT max(id) FROM journal");
	struct reconcile_result res = apply_ok(f, v2);
	assert_int_equal(res.actions_done, 8);
	char where[128];
	snprintf(where, sizeof(where), "WHERE id > %lld %s", (long long)first, also);
	free(v1);
	free(v2);
	return load_spans(f, where, s, cap);
}

static void test_rolling_update_in_batches(void **state)
{
	struct fixture *f = *state;
	struct span s[64];
	size_t n = roll_eight(f, "    rollout:\n      max_unavailable: 3\n", "", s, 64);
	/* a recreate journals its remove, then its create */
	assert_int_equal(n, 16);
	/* the replica's whole replacement: from its remove to its create's end */
	int64_t begin[9] = { 0 }, end[9] = { 0 };
	for (size_t i = 0; i < n; i++) {
		assert_true(s[i].idx >= 1 && s[i].idx <= 8);
		if (strcmp(s[i].action, "remove") == 0)
			begin[s[i].idx] = s[i].begin;
		else
			end[s[i].idx] = s[i].end;
	}
	/* batches 1-3, 4-6, 7-8: each starts after the one before ended */
	const int batch_of[9] = { 0, 0, 0, 0, 1, 1, 1, 2, 2 };
	for (int a = 1; a <= 8; a++)
		for (int b = 1; b <= 8; b++)
			if (batch_of[b] == batch_of[a] + 1 && begin[b] < end[a])
				fail_msg("web-rep-%d (batch %d) began before web-rep-%d (batch %d) was done",
					 b, batch_of[b] + 1, a, batch_of[a] + 1);
	/* within a batch, they are replaced together */
	struct span whole[3] = { 0 };
	for (int i = 1; i <= 3; i++)
		whole[i - 1] = (struct span){ .begin = begin[i], .end = end[i], .idx = i };
	assert_int_equal(max_overlap(whole, 3), 3);
	assert_sql(f, "SELECT count(*) FROM replicas WHERE state = 'running'", "8\n");
}

/* The default batch: 25% of 8 replicas is 2. */
static void test_default_batch_is_a_quarter(void **state)
{
	struct fixture *f = *state;
	struct span s[32];
	size_t n = roll_eight(f, NULL, "AND action = 'create'", s, 32);
	assert_int_equal(n, 8);
	assert_int_equal(max_overlap(s, n), 2);
}

/* zlapply killed in the middle of a wave (its workers die with it); the
 * next apply settles what they left and converges. */
static void test_killed_mid_wave_is_recovered(void **state)
{
	struct fixture *f = *state;
	setenv("ZLAPPLY_MOCK_DELAY_MS", "300", 1);
	f->opts.parallel = 3;
	char *yaml = demo_yaml(DEP, 6, "a", 0, NULL);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setpgid(0, 0);
		struct reconcile_result res;
		struct zl_err err = ZL_ERR_INIT;
		_exit(apply_text(f, yaml, &res, &err) == 0 ? 0 : 1);
	}
	setpgid(pid, pid);
	sleep_ms(450); /* the first wave is between its creates and starts */
	kill(pid, SIGKILL);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	clear_faults();
	/* its workers get SIGKILL as it dies; the lock is free once they are gone */
	f->opts.lock_timeout_ms = 10000;
	/* apply_ok: every planned action done, none failed */
	struct reconcile_result res = apply_ok(f, yaml);
	assert_sql(f, "SELECT count(*) FROM journal WHERE status = 'pending'", "0\n");
	assert_sql(f, "SELECT count(*) FROM replicas WHERE state = 'running'", "6\n");
	/* converged: nothing more to do */
	res = apply_ok(f, yaml);
	assert_int_equal(res.actions_planned, 0);
	free(yaml);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_creates_overlap_up_to_the_bound),
		T(test_lines_in_plan_order),
		T(test_a_failure_leaves_its_siblings_done),
		T(test_rolling_update_in_batches),
		T(test_default_batch_is_a_quarter),
		T(test_killed_mid_wave_is_recovered),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
