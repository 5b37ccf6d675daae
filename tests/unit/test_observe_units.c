/* test_observe_units.c: what events, stats and inspect rest on: --since (a
 * duration or an RFC 3339 time), the events table's bounded retention and
 * its query (after an id, since a time, of a deployment), the exit event's
 * sentence and facts; cgroup usage on v2 and v1 (fixture trees in
 * tests/fixtures/cgroup laid out as the kernel does), the interface
 * counters of /proc/<pid>/net/dev and cpu %. Each store test has its own
 * temporary root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "backends/supervise.h"
#include "reconcile/reconcile-internal.h"

#define assert_ok(call, err)                                          \
	do {                                                          \
		if ((call) < 0)                                       \
			fail_msg("%s: %s", #call, (err).msg);         \
	} while (0)

/* ---- --since ---- */

static void test_since_durations_and_times(void **state)
{
	(void)state;
	const int64_t now = 1796436984811; /* 2026-12-05T02:16:24.811Z */
	static const struct {
		const char *text;
		int64_t want;
	} ok[] = {
		{ "10m", 1796436984811 - 600000 },
		{ "1h30m", 1796436984811 - 5400000 },
		{ "250ms", 1796436984811 - 250 },
		{ "2026-12-05T02:00:00Z", 1796436000000 },
		{ "2026-12-05t02:00:00z", 1796436000000 },
		{ "2026-12-05 02:00:00Z", 1796436000000 },
		{ "2026-12-05T02:00:00.5Z", 1796436000500 },
		{ "2026-12-05T03:00:00+01:00", 1796436000000 },
		{ "2026-12-04T21:30:00-04:30", 1796436000000 },
		{ "1970-01-01T00:00:00Z", 0 },
		{ "1000000h", 0 }, /* before the epoch: everything */
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct zl_err err = ZL_ERR_INIT;
		int64_t got = -1;
		assert_ok(reconcile_parse_since(ok[i].text, now, &got, &err), err);
		if (got != ok[i].want)
			fail_msg("--since %s: want %lld, got %lld", ok[i].text, (long long)ok[i].want,
				 (long long)got);
	}
	static const char *const bad[] = {
		"garbage", "", "10", "-5m", "2026-12-05", "2026-12-05T02:00:00",
		"2026-02-31T00:00:00Z", "2026-12-05T25:00:00Z", "2026-12-05T02:00:00+1:00",
		"2026-12-05T02:00:00Zjunk", "2026-12-05T02:00:00.Z", "10m ago",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct zl_err err = ZL_ERR_INIT;
		int64_t got = 42;
		if (reconcile_parse_since(bad[i], now, &got, &err) == 0)
			fail_msg("--since \"%s\" was accepted (%lld)", bad[i], (long long)got);
		assert_int_equal(err.kind, ZL_ERR_INPUT);
		char quoted[96];
		snprintf(quoted, sizeof(quoted), "\"%s\"", bad[i]);
		if (!strstr(err.msg, "--since") || !strstr(err.msg, quoted))
			fail_msg("message does not name the flag and the value: %s", err.msg);
	}
}

/* ---- the events table ---- */

struct store {
	char tmp[64];
	struct state_db *db;
};

static int store_open(void **state)
{
	struct store *s = zl_xcalloc(1, sizeof(*s));
	snprintf(s->tmp, sizeof(s->tmp), "/tmp/zl-test-observe-XXXXXX");
	struct zl_err err = ZL_ERR_INIT;
	if (!mkdtemp(s->tmp) || state_open(s->tmp, false, &s->db, &err) < 0) {
		fprintf(stderr, "store: %s\n", err.msg);
		free(s);
		return -1;
	}
	*state = s;
	return 0;
}

static int store_close(void **state)
{
	struct store *s = *state;
	state_close(s->db);
	struct zl_err err = ZL_ERR_INIT;
	int r = zl_rm_rf(s->tmp, &err);
	free(s);
	return r;
}

/* The table keeps the newest STATE_EVENTS_KEPT events: older ones go as
 * new ones come, oldest first, and what stays reads back in order. */
static void test_events_retention_keeps_the_newest(void **state)
{
	struct store *s = *state;
	struct zl_err err = ZL_ERR_INIT;
	const int extra = 7;
	assert_ok(state_begin(s->db, &err), err);
	for (int i = 1; i <= STATE_EVENTS_KEPT + extra; i++)
		assert_ok(state_event_add(s->db, i, i % 2 ? "odd" : "even", "web", 1, "started",
					  NULL, &err),
			  err);
	assert_ok(state_commit(s->db, &err), err);

	struct state_events all;
	assert_ok(state_events_load(s->db, NULL, 0, &all, &err), err);
	assert_int_equal(all.count, STATE_EVENTS_KEPT);
	assert_int_equal(all.items[0].id, extra + 1);
	assert_int_equal(all.items[0].time, extra + 1);
	assert_int_equal(all.items[all.count - 1].id, STATE_EVENTS_KEPT + extra);
	state_events_free(&all);

	/* one more drops exactly one */
	assert_ok(state_event_add_data(s->db, 1 << 30, "odd", "web", 1, "exited", "x",
				       "{\"exit_code\":1}", &err),
		  err);
	assert_ok(state_events_load(s->db, NULL, 0, &all, &err), err);
	assert_int_equal(all.count, STATE_EVENTS_KEPT);
	assert_int_equal(all.items[0].id, extra + 2);
	assert_string_equal(all.items[all.count - 1].data, "{\"exit_code\":1}");
	assert_null(all.items[0].data);
	state_events_free(&all);
}

static void test_events_query_after_since_deployment(void **state)
{
	struct store *s = *state;
	struct zl_err err = ZL_ERR_INIT;
	static const struct {
		int64_t time;
		const char *dep, *kind;
	} rows[] = {
		{ 1000, "shop", "created" }, { 2000, "shop", "started" }, { 3000, NULL, "pulled" },
		{ 2500, "blog", "started" }, /* a clock that stepped back: ids keep the order */
		{ 4000, "shop", "exited" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_ok(state_event_add(s->db, rows[i].time, rows[i].dep, rows[i].dep ? "web" : NULL,
					  rows[i].dep ? 1 : 0, rows[i].kind, NULL, &err),
			  err);
	static const struct {
		struct state_events_query q;
		const char *want;
	} cases[] = {
		{ { 0 }, "created started pulled started exited" },
		{ { .after_id = 2 }, "pulled started exited" },
		{ { .since_ms = 2500 }, "pulled started exited" },
		{ { .deployment = "shop" }, "created started exited" },
		{ { .deployment = "shop", .since_ms = 1500, .after_id = 2 }, "exited" },
		{ { .limit = 2 }, "created started" },
		{ { .after_id = 5 }, "" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct state_events got;
		assert_ok(state_events_query(s->db, &cases[i].q, &got, &err), err);
		char kinds[256] = "";
		for (size_t k = 0; k < got.count; k++)
			snprintf(kinds + strlen(kinds), sizeof(kinds) - strlen(kinds), "%s%s",
				 k ? " " : "", got.items[k].kind);
		state_events_free(&got);
		if (strcmp(kinds, cases[i].want) != 0)
			fail_msg("case %zu: want \"%s\", got \"%s\"", i, cases[i].want, kinds);
	}
}

/* An exit's event says how it ended, why, and when the next start comes. */
static void test_exit_event_sentence_and_facts(void **state)
{
	struct store *s = *state;
	struct zl_err err = ZL_ERR_INIT;
	struct state_replica r;
	state_replica_init(&r);
	r.deployment = zl_xstrdup("shop");
	r.service = zl_xstrdup("web");
	r.index = 2;
	r.exit_code = 137;
	r.exit_signal = 9;
	r.exit_reason = zl_xstrdup("oom_killed");
	r.restarts = 3;
	r.finished_at = 10000;
	r.backoff_until = 18000;
	assert_ok(events_record_exit(s->db, 10500, &r, &err), err);
	r.exit_signal = 0;
	r.exit_code = 2;
	free(r.exit_reason);
	r.exit_reason = zl_xstrdup("exited");
	r.backoff_until = 0;
	assert_ok(events_record_exit(s->db, 11000, &r, &err), err);
	state_replica_clear(&r);

	struct state_events ev;
	assert_ok(state_events_load(s->db, "shop", 0, &ev, &err), err);
	assert_int_equal(ev.count, 2);
	assert_string_equal(ev.items[0].kind, "exited");
	assert_int_equal(ev.items[0].index, 2);
	assert_string_equal(ev.items[0].message,
			    "killed by SIGKILL (out of memory); next start in 8s (back-off after 3 restarts)");
	assert_string_equal(ev.items[0].data,
			    "{\"exit_code\":137,\"signal\":9,\"signal_name\":\"SIGKILL\","
			    "\"reason\":\"oom_killed\",\"restarts\":3,\"backoff_ms\":8000}");
	assert_string_equal(ev.items[1].message, "exited with code 2");
	state_events_free(&ev);
}

/* ---- cgroup usage (backends/cgroup_stats.c) ---- */

static char *cgroup_fixtures(const char *version)
{
	const char *e = getenv("ZLAPPLY_SOURCE_ROOT");
	return zl_xasprintf("%s/tests/fixtures/cgroup/%s", e && *e ? e : ZL_TEST_SOURCE_ROOT, version);
}

static void assert_stats(const struct backend_stats *got, const struct backend_stats *want)
{
	assert_int_equal(got->cpu_usage_ns, want->cpu_usage_ns);
	assert_int_equal(got->memory_bytes, want->memory_bytes);
	assert_int_equal(got->memory_cache_bytes, want->memory_cache_bytes);
	assert_int_equal(got->memory_limit_bytes, want->memory_limit_bytes);
	assert_int_equal(got->pids, want->pids);
	assert_int_equal(got->blkio_read_bytes, want->blkio_read_bytes);
	assert_int_equal(got->blkio_write_bytes, want->blkio_write_bytes);
}

static void test_cgroup_v2(void **state)
{
	(void)state;
	_cleanup_free_ char *base = cgroup_fixtures("v2");
	struct backend_stats st;
	supervise_cgroup_stats_at(base, true, "/zlapply/zl-shop-web-1", &st);
	assert_stats(&st, &(struct backend_stats){
				   .cpu_usage_ns = 2500000000, /* usage_usec 2500000 */
				   .memory_bytes = 52428800,
				   .memory_cache_bytes = 8388608, /* inactive_file */
				   .memory_limit_bytes = 134217728,
				   .pids = 7,
				   .blkio_read_bytes = 1048576 + 2048, /* two devices */
				   .blkio_write_bytes = 4096 + 8192,
			   });
	/* memory.max "max" is no limit; an empty io.stat did no i/o */
	supervise_cgroup_stats_at(base, true, "/zlapply/zl-shop-idle-1", &st);
	assert_stats(&st, &(struct backend_stats){ 10000, 4096, 0, -1, 1, 0, 0 });
	/* a cgroup that is not there: all unknown */
	supervise_cgroup_stats_at(base, true, "/zlapply/zl-gone-1", &st);
	assert_stats(&st, &BACKEND_STATS_UNKNOWN);
}

static void test_cgroup_v1(void **state)
{
	(void)state;
	_cleanup_free_ char *base = cgroup_fixtures("v1");
	struct backend_stats st;
	supervise_cgroup_stats_at(base, false, "/zlapply/zl-shop-web-1", &st);
	/* blkio from the _recursive file (per device Read/Write; Sync, Async,
	 * Total lines ignored), not the plain one that says 0 */
	assert_stats(&st, &(struct backend_stats){ 3000000000, 62914560, 10485760, 268435456, 3,
						   1048576 + 512, 65536 });
	/* v1's "no limit" is a huge number; without the _recursive file the
	 * plain one counts; hierarchies without the cgroup stay unknown */
	supervise_cgroup_stats_at(base, false, "/zlapply/zl-shop-nolimit-1", &st);
	assert_stats(&st, &(struct backend_stats){ -1, 4096, -1, -1, -1, 100, 200 });
}

static void test_net_dev_and_cpu_percent(void **state)
{
	(void)state;
	static const char net_dev[] =
		"Inter-|   Receive                                                |  Transmit\n"
		" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n"
		"    lo:    1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0\n"
		"  eth0: 2001234    1500    0    0    0     0          0         0    65432     800    0    0    0     0       0          0\n"
		"  eth1:      10       1    0    0    0     0          0         0       20       1    0    0    0     0       0          0\n";
	int64_t rx, tx;
	assert_int_equal(stats_net_dev_parse(net_dev, &rx, &tx), 0);
	assert_int_equal(rx, 2001244);
	assert_int_equal(tx, 65452);
	/* only lo: nothing to say */
	static const char only_lo[] =
		"Inter-|   Receive |  Transmit\n face |bytes|bytes\n"
		"    lo: 5 1 0 0 0 0 0 0 5 1 0 0 0 0 0 0\n";
	assert_int_equal(stats_net_dev_parse(only_lo, &rx, &tx), -1);
	assert_int_equal(rx, -1);

	/* 1.5 s of cpu in 2 s: 75 %; two cpus busy: 200 %; unknown: -1 */
	struct reconcile_usage a = { .at_ns = 1000000000, .cpu_usage_ns = 500000000 };
	struct reconcile_usage b = { .at_ns = 3000000000, .cpu_usage_ns = 2000000000 };
	assert_true(reconcile_usage_cpu_percent(&a, &b) == 75.0);
	b.cpu_usage_ns = 4500000000;
	assert_true(reconcile_usage_cpu_percent(&a, &b) == 200.0);
	a.cpu_usage_ns = -1;
	assert_true(reconcile_usage_cpu_percent(&a, &b) == -1);
	a.cpu_usage_ns = 5000000000; /* the counter went back: a new cgroup */
	assert_true(reconcile_usage_cpu_percent(&a, &b) == -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_since_durations_and_times),
		cmocka_unit_test_setup_teardown(test_events_retention_keeps_the_newest, store_open,
						store_close),
		cmocka_unit_test_setup_teardown(test_events_query_after_since_deployment, store_open,
						store_close),
		cmocka_unit_test_setup_teardown(test_exit_event_sentence_and_facts, store_open,
						store_close),
		cmocka_unit_test(test_cgroup_v2),
		cmocka_unit_test(test_cgroup_v1),
		cmocka_unit_test(test_net_dev_and_cpu_percent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
