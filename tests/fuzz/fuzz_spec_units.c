/* fuzz_spec_units.c: the scalar parsers of spec/spec.h on one string each
 * input: spec_parse_duration, spec_parse_memory, spec_parse_cpu (plain and
 * quoted), spec_parse_signal and spec_parse_cron, plus spec_cron_next from a
 * few fixed instants for every cron that parses. One corpus serves all of
 * them: every string is tried by every parser.
 *
 * Properties: an accepted duration, memory size or cpu is not negative; an
 * accepted signal is 1..NSIG-1; an error fills err; spec_cron_next is -1 or
 * strictly after its start. */
#include "tests/fuzz/fuzz.h"

#include <signal.h>

#include "spec/spec.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

static void check_err(int r, const struct zl_err *err, const char *what, const char *s)
{
	if (r < 0 && err->msg[0] == '\0')
		fuzz_fail("%s(\"%s\") failed without a message", what, s);
	if (r != 0 && r != -1)
		fuzz_fail("%s(\"%s\") returned %d", what, s, r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	struct zl_err err = ZL_ERR_INIT;

	int64_t v = 0;
	int r = spec_parse_duration(s, &v, &err);
	check_err(r, &err, "spec_parse_duration", s);
	if (r == 0 && v < 0)
		fuzz_fail("spec_parse_duration(\"%s\") = %lld ms", s, (long long)v);

	zl_err_clear(&err);
	r = spec_parse_memory(s, &v, &err);
	check_err(r, &err, "spec_parse_memory", s);
	if (r == 0 && v <= 0)
		fuzz_fail("spec_parse_memory(\"%s\") = %lld bytes", s, (long long)v);

	for (int quoted = 0; quoted < 2; quoted++) {
		zl_err_clear(&err);
		r = spec_parse_cpu(s, quoted, &v, &err);
		check_err(r, &err, "spec_parse_cpu", s);
		if (r == 0 && v < 0)
			fuzz_fail("spec_parse_cpu(\"%s\") = %lld millicores", s, (long long)v);
	}

	zl_err_clear(&err);
	int signo = 0;
	r = spec_parse_signal(s, &signo, &err);
	check_err(r, &err, "spec_parse_signal", s);
	if (r == 0 && (signo <= 0 || signo >= NSIG))
		fuzz_fail("spec_parse_signal(\"%s\") = %d", s, signo);
	if (r == 0)
		(void)spec_signal_name(signo);

	zl_err_clear(&err);
	struct spec_cron cron;
	memset(&cron, 0, sizeof(cron));
	r = spec_parse_cron(s, &cron, &err);
	check_err(r, &err, "spec_parse_cron", s);
	if (r == 0) {
		/* 1970, 2026-11-22, the last second of 2099. */
		static const int64_t starts[] = { 0, 1795341600, 4102444799 };
		for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
			int64_t next = spec_cron_next(&cron, starts[i]);
			if (next != -1 && next <= starts[i])
				fuzz_fail("spec_cron_next(\"%s\", %lld) = %lld, not after it", s,
					  (long long)starts[i], (long long)next);
		}
	}
	free(s);
	return 0;
}
