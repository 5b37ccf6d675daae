/* test_spec_units.c: the scalar formats of docs/spec-reference.md: duration,
 * memory, cpu and signal names, valid and invalid forms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <string.h>

#include "spec/spec.h"

static void test_duration_valid(void **state)
{
	static const struct { const char *in; int64_t ms; } cases[] = {
		{ "30s", 30000 }, { "1h30m", 5400000 }, { "1h 30m", 5400000 }, { "250ms", 250 },
		{ "2m", 120000 }, { "1d", 86400000 }, { "1w", 604800000 }, { "0s", 0 },
		{ "1ns", 1 }, { "1500us", 2 }, { "10sec", 10000 }, { "5min", 300000 },
		{ "2hours", 7200000 }, { "1hour", 3600000 }, { "3days", 259200000 }, { "1day", 86400000 },
		{ "2weeks", 1209600000 }, { "1m30s", 90000 }, { "300s", 300000 }, { "1h1m1s1ms", 3661001 },
		{ "10 s", 10000 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct zl_err err = ZL_ERR_INIT;
		int64_t ms = -1;
		if (spec_parse_duration(cases[i].in, &ms, &err) != 0)
			fail_msg("%s: %s", cases[i].in, err.msg);
		assert_int_equal(ms, cases[i].ms);
	}
}

static void test_duration_invalid(void **state)
{
	static const struct { const char *in; const char *msg_part; } cases[] = {
		{ "30", "time unit needed" }, { "", "expected a duration" }, { "s", "expected a duration" },
		{ "5x", "unknown time unit \"x\"" }, { "1.5h", "unknown time unit" }, { "-5s", "expected a duration" },
		{ "10 ", "time unit needed" }, { "99999999999999999999s", "too large" },
		{ "1h30", "time unit needed" }, { "30S", "unknown time unit" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct zl_err err = ZL_ERR_INIT;
		int64_t ms = 0;
		if (spec_parse_duration(cases[i].in, &ms, &err) == 0)
			fail_msg("\"%s\" was accepted", cases[i].in);
		assert_int_equal(err.kind, ZL_ERR_INPUT);
		if (!strstr(err.msg, cases[i].msg_part))
			fail_msg("\"%s\": message \"%s\" lacks \"%s\"", cases[i].in, err.msg, cases[i].msg_part);
	}
}

static void test_memory(void **state)
{
	static const struct { const char *in; int64_t bytes; } ok[] = {
		{ "512Mi", 512LL << 20 }, { "1Gi", 1LL << 30 }, { "1024Mi", 1LL << 30 }, { "64Ki", 65536 },
		{ "2Ti", 2LL << 40 }, { "1Ki", 1024 },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct zl_err err = ZL_ERR_INIT;
		int64_t b = 0;
		if (spec_parse_memory(ok[i].in, &b, &err) != 0)
			fail_msg("%s: %s", ok[i].in, err.msg);
		assert_int_equal(b, ok[i].bytes);
	}
	static const char *const bad[] = {
		"512M", "1GB", "512", "0Mi", "12.5Mi", "", "Mi", "-1Mi", "1 Gi", "1gi", "1Pi", "1Gi ",
		"99999999999999Ti",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct zl_err err = ZL_ERR_INIT;
		int64_t b = 0;
		if (spec_parse_memory(bad[i], &b, &err) == 0)
			fail_msg("\"%s\" was accepted", bad[i]);
		assert_int_equal(err.kind, ZL_ERR_INPUT);
	}
	struct zl_err err = ZL_ERR_INIT;
	int64_t b;
	spec_parse_memory("512M", &b, &err);
	assert_string_equal(err.msg, "expected <n>Ki|Mi|Gi|Ti, got \"512M\"");
}

static void test_cpu(void **state)
{
	static const struct { const char *in; int64_t m; } ok[] = {
		{ "0.25", 250 }, { "1", 1000 }, { "1.0", 1000 }, { "4.0", 4000 }, { "0.5", 500 },
		{ "2", 2000 }, { "0.001", 1 }, { "1.2345", 1235 }, { "1e1", 10000 },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct zl_err err = ZL_ERR_INIT;
		int64_t m = 0;
		if (spec_parse_cpu(ok[i].in, false, &m, &err) != 0)
			fail_msg("%s: %s", ok[i].in, err.msg);
		assert_int_equal(m, ok[i].m);
	}
	static const char *const bad[] = { "0", "-1", "0.0", "abc", "", "1.0.0", "inf", "nan", "0x10", "0.0001" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct zl_err err = ZL_ERR_INIT;
		int64_t m = 0;
		if (spec_parse_cpu(bad[i], false, &m, &err) == 0)
			fail_msg("\"%s\" was accepted", bad[i]);
	}
	/* A quoted "1.0" is a string, not a number. */
	struct zl_err err = ZL_ERR_INIT;
	int64_t m = 0;
	assert_int_equal(spec_parse_cpu("1.0", true, &m, &err), -1);
	assert_non_null(strstr(err.msg, "string"));
}

static void test_signal(void **state)
{
	static const struct { const char *in; int signo; } ok[] = {
		{ "SIGTERM", SIGTERM }, { "TERM", SIGTERM }, { "term", SIGTERM }, { "sigterm", SIGTERM },
		{ "15", 15 }, { "SIGKILL", SIGKILL }, { "SIGINT", SIGINT }, { "QUIT", SIGQUIT },
		{ "SIGUSR1", SIGUSR1 }, { "SIGHUP", SIGHUP }, { "WINCH", SIGWINCH },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct zl_err err = ZL_ERR_INIT;
		int s = 0;
		if (spec_parse_signal(ok[i].in, &s, &err) != 0)
			fail_msg("%s: %s", ok[i].in, err.msg);
		assert_int_equal(s, ok[i].signo);
	}
	static const char *const bad[] = { "SIGFOO", "", "0", "65", "SIG", "TERM1", "1000" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct zl_err err = ZL_ERR_INIT;
		int s = 0;
		if (spec_parse_signal(bad[i], &s, &err) == 0)
			fail_msg("\"%s\" was accepted", bad[i]);
	}
	assert_string_equal(spec_signal_name(SIGTERM), "SIGTERM");
	assert_string_equal(spec_signal_name(SIGKILL), "SIGKILL");
	assert_null(spec_signal_name(0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration_valid),
		cmocka_unit_test(test_duration_invalid),
		cmocka_unit_test(test_memory),
		cmocka_unit_test(test_cpu),
		cmocka_unit_test(test_signal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
