/* fuzz.h: what the libFuzzer targets of tests/fuzz share: quiet logging,
 * NUL-terminated copies of an input, scratch directories, and a failure
 * that libFuzzer records as a crash (with the input saved as an artifact).
 *
 * Every target is one file tests/fuzz/fuzz_NAME.c defining
 * LLVMFuzzerTestOneInput (and LLVMFuzzerInitialize when it needs set-up);
 * its seeds are tests/fuzz/corpus/NAME/, the inputs that once crashed it
 * tests/fuzz/regressions/NAME/ (see tests/fuzz/README.md). */
#ifndef ZL_FUZZ_H
#define ZL_FUZZ_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A property the code under test broke: printed, then abort(), which
 * libFuzzer reports as a crash (deadly signal) and saves the input. */
__attribute__((format(printf, 1, 2), noreturn)) static inline void fuzz_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("fuzz: property violated: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

static void fuzz_log_sink(enum zl_log_level level, const char *msg)
{
	(void)level;
	(void)msg;
}

/* zl_log() lines (warnings from the code under test) would flood the
 * fuzzer's output: dropped. */
static inline void fuzz_quiet(void)
{
	zl_log_set_level(ZL_LOG_ERROR);
	zl_log_set_sink(fuzz_log_sink);
}

/* The input as a C string in a buffer of exactly size + 1 bytes, so an
 * overread past the terminator is an ASan report. What the code's real
 * callers pass (files and HTTP bodies are read NUL-terminated). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		abort();
	if (size)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* $TMPDIR (else /tmp) /zlfuzz-WHAT-PID-XXXXXX, created; the caller frees
 * the path (and removes the directory). Aborts when it cannot be made. The
 * pid lets tests/fuzz/run.sh remove what a crashed run left, and only that. */
static inline char *fuzz_mkdtemp(const char *what)
{
	const char *tmp = getenv("TMPDIR");
	char *path = zl_xasprintf("%s/zlfuzz-%s-%ld-XXXXXX", tmp && *tmp ? tmp : "/tmp", what,
				  (long)getpid());
	if (!mkdtemp(path)) {
		fprintf(stderr, "fuzz: mkdtemp %s: %s\n", path, strerror(errno));
		abort();
	}
	return path;
}

/* Writes size bytes to path (created or truncated, mode 0644); aborts on
 * failure: the harness, not the code under test, failed. */
static inline void fuzz_write_file(const char *path, const void *data, size_t size)
{
	FILE *f = fopen(path, "wb");
	if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
		fprintf(stderr, "fuzz: write %s: %s\n", path, strerror(errno));
		abort();
	}
}

/* Removes a scratch directory (no symlink followed); aborts when it cannot,
 * since the next input would then see a dirty tree. */
static inline void fuzz_rm_rf(const char *path)
{
	struct zl_err err = ZL_ERR_INIT;
	if (zl_rm_rf(path, &err) < 0) {
		fprintf(stderr, "fuzz: cleanup: %s\n", err.msg);
		abort();
	}
}

#endif
