/* test_spec_cron.c: cron syntax (5, 6 and 7 fields, names, ranges, steps)
 * and spec_cron_next in UTC, including the day-of-month/day-of-week OR rule
 * and expressions that never fire. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "spec/spec.h"

#define T2026 1767225600LL /* 2026-01-01T00:00:00Z, a Thursday */

static void test_cron_next_table(void **state)
{
	static const struct { const char *expr; int64_t after, next; } cases[] = {
		{ "0 3 * * *", T2026, 1767236400 },                 /* classic 5 fields: 03:00 */
		{ "0 3 * * *", 1767236400, 1767322800 },            /* strictly after */
		{ "0 0 3 * * *", T2026, 1767236400 },               /* 6 fields, seconds first */
		{ "*/15 * * * * *", T2026, T2026 + 15 },
		{ "0 0,30 * * * *", T2026, T2026 + 1800 },
		{ "0 10-20/5 * * * *", T2026, T2026 + 600 },
		{ "0 0 9 * * MON-FRI", T2026, 1767258000 },         /* Thursday the 1st */
		{ "0 0 9 * * MON-FRI", 1767258000, 1767344400 },     /* then Friday */
		{ "0 0 9 * * MON-WED", T2026, 1767603600 },         /* Monday the 5th */
		{ "0 0 12 * * SAT", T2026, 1767441600 },
		{ "0 0 0 * * SUN", T2026, 1767484800 },
		{ "0 0 0 * * 7", T2026, 1767484800 },               /* 7 is Sunday too */
		{ "0 0 0 * * 0", T2026, 1767484800 },
		{ "0 30 8 1 * *", T2026, 1767256200 },
		{ "0 0 0 15 * *", T2026, 1768435200 },              /* dom only */
		{ "0 0 0 15 * MON", T2026, 1767571200 },            /* dom OR dow: Monday 5th first */
		{ "0 0 0 ? * MON", T2026, 1767571200 },
		{ "0 0 0 1 1 * 2027", T2026, 1798761600 },          /* 7 fields with a year */
		{ "0 0 0 1 FEB *", T2026, 1769904000 },
		{ "0 0 0 1 jan-mar *", T2026 + 1, 1769904000 },
		{ "0 0 0 29 2 *", T2026, 1835395200 },              /* next leap day */
		{ "* * * * * *", 1798761599, 1798761600 },          /* year rollover */
		{ "@daily", T2026, 1767312000 },
		{ "@hourly", T2026, T2026 + 3600 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct spec_cron cron;
		struct zl_err err = ZL_ERR_INIT;
		if (spec_parse_cron(cases[i].expr, &cron, &err) != 0)
			fail_msg("%s: %s", cases[i].expr, err.msg);
		int64_t next = spec_cron_next(&cron, cases[i].after);
		if (next != cases[i].next)
			fail_msg("%s after %lld: got %lld, want %lld", cases[i].expr, (long long)cases[i].after,
				 (long long)next, (long long)cases[i].next);
	}
}

static void test_cron_never_fires_quickly(void **state)
{
	static const char *const never[] = {
		"0 0 0 30 2 *",       /* February 30th */
		"0 0 0 31 4,6,9,11 *", /* 31st of a 30-day month */
		"0 0 0 1 1 * 2020",   /* a year in the past */
	};
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
		struct spec_cron cron;
		struct zl_err err = ZL_ERR_INIT;
		assert_int_equal(spec_parse_cron(never[i], &cron, &err), 0);
		int64_t t0 = zl_monotonic_ms();
		assert_int_equal(spec_cron_next(&cron, T2026), -1);
		assert_true(zl_monotonic_ms() - t0 < 100);
	}
}

static void test_cron_every_second_for_a_day(void **state)
{
	/* Steps through a whole day second by second: every answer is the
	 * next second, across minute, hour and day boundaries. */
	struct spec_cron cron;
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(spec_parse_cron("* * * * * *", &cron, &err), 0);
	for (int64_t t = T2026 - 10; t < T2026 + 86400; t += 7)
		assert_int_equal(spec_cron_next(&cron, t), t + 1);
}

static void test_cron_invalid(void **state)
{
	static const char *const bad[] = {
		"", "* * * *", "* * * * * * * *", "60 * * * * *", "* 60 * * * *", "* * 24 * * *",
		"* * * 0 * *", "* * * 32 * *", "* * * * 13 *", "* * * * * 8", "*/0 * * * * *",
		"5-1 * * * * *", "a * * * * *", "* * * * FOO *", "* * * L * *", "* * * * * MON#2",
		"1,,2 * * * * *", "0 0 0 1 1 * 1999", "0 0 0 1 1 * 2300", "? * * * * *", "1- * * * * *",
		"*/ * * * * *", "0 3 * * MONDAY",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct spec_cron cron;
		struct zl_err err = ZL_ERR_INIT;
		if (spec_parse_cron(bad[i], &cron, &err) == 0)
			fail_msg("\"%s\" was accepted", bad[i]);
		assert_int_equal(err.kind, ZL_ERR_INPUT);
		assert_true(strlen(err.msg) > 0);
	}
	struct spec_cron cron;
	struct zl_err err = ZL_ERR_INIT;
	spec_parse_cron("* * * *", &cron, &err);
	assert_non_null(strstr(err.msg, "got 4"));
}

static void test_cron_fields(void **state)
{
	struct spec_cron cron;
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(spec_parse_cron("0 3 * * *", &cron, &err), 0);
	assert_int_equal(cron.seconds, 1); /* 5 fields: second 0 */
	assert_int_equal(cron.minutes, 1);
	assert_int_equal(cron.hours, 1u << 3);
	assert_true(cron.mday_star && cron.wday_star && cron.any_year);
	assert_int_equal(spec_parse_cron("0 0 0 * * MON-FRI", &cron, &err), 0);
	assert_int_equal(cron.wdays, 0x3e);
	assert_false(cron.wday_star);
	assert_int_equal(spec_parse_cron("0 0 0 * * FRI-SUN", &cron, &err), 0);
	assert_int_equal(cron.wdays, (1 << 5) | (1 << 6) | 1);
	assert_int_equal(spec_parse_cron("0 0 0 * JAN,jun,DEC *", &cron, &err), 0);
	assert_int_equal(cron.months, (1 << 1) | (1 << 6) | (1 << 12));
	assert_int_equal(spec_parse_cron("0 0 0 * * * 2030-2032", &cron, &err), 0);
	assert_false(cron.any_year);
	assert_int_equal(cron.year_min, 2030);
	assert_int_equal(cron.year_max, 2032);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cron_next_table),
		cmocka_unit_test(test_cron_never_fires_quickly),
		cmocka_unit_test(test_cron_every_second_for_a_day),
		cmocka_unit_test(test_cron_invalid),
		cmocka_unit_test(test_cron_fields),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
