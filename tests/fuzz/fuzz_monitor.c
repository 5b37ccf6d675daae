/* fuzz_monitor.c: zlmon's records as zlapply reads them
 * (backends/monitor/monitor.h). The input is written, in a scratch state
 * directory made once per process, as exit.json (monitor_exit_read), as
 * ctr.log (monitor_logs_tail: all records, then the last 3) and as the
 * monitor file (monitor_read_self); each of its lines goes through
 * monitor_log_parse; as text it goes through monitor_exec_failure (the
 * runtime's error words) and monitor_utf8_sanitize (whole, and cut in two
 * chunks as zlmon reads a pipe).
 *
 * Properties: an exit record read back from monitor_exit_encode() is the
 * same record (exit code, signal, reason, OOM flag, pid, time, error); a
 * log line made by monitor_log_encode() from the input parses back to the
 * sanitized text; sanitized text holds no NUL and sanitizing it again
 * changes nothing; sanitizing in two chunks gives what one pass gives;
 * monitor_exec_failure returns 0, 126 or 127 and writes a message exactly
 * when not 0. */
#include "tests/fuzz/fuzz.h"

#include "backends/monitor/monitor.h"

static char *dir;
static char *exit_path, *log_path, *self_path;

static void cleanup(void)
{
	if (dir)
		fuzz_rm_rf(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	dir = fuzz_mkdtemp("monitor");
	exit_path = zl_xasprintf("%s/%s", dir, MONITOR_EXIT_FILE);
	log_path = zl_xasprintf("%s/%s", dir, MONITOR_LOG_FILE);
	self_path = zl_xasprintf("%s/%s", dir, MONITOR_FILE);
	atexit(cleanup);
	return 0;
}

static void exit_record(const uint8_t *data, size_t size)
{
	fuzz_write_file(exit_path, data, size);
	struct monitor_exit ex;
	if (monitor_exit_read(dir, &ex) < 0)
		return;
	/* Written by zlmon from what it read: the same record comes back. */
	char *text = monitor_exit_encode(&ex);
	fuzz_write_file(exit_path, text, strlen(text));
	struct monitor_exit back;
	if (monitor_exit_read(dir, &back) < 0)
		fuzz_fail("monitor_exit_encode wrote a record monitor_exit_read refuses: %s", text);
	if (back.exit_code != ex.exit_code || back.signal != ex.signal ||
	    strcmp(back.reason, ex.reason) != 0 || back.oom_killed != ex.oom_killed ||
	    back.pid != ex.pid || back.finished_at_ms != ex.finished_at_ms ||
	    strcmp(back.error, ex.error) != 0)
		fuzz_fail("exit record changed through encode and read: %s", text);
	free(text);
}

static void log_file(const uint8_t *data, size_t size)
{
	fuzz_write_file(log_path, data, size);
	for (size_t tail = 0; tail < 4; tail += 3) {
		struct monitor_log_record *recs = NULL;
		size_t count = 0;
		struct zl_err err = ZL_ERR_INIT;
		if (monitor_logs_tail(dir, tail, &recs, &count, &err) == 0) {
			if (tail && count > tail)
				fuzz_fail("monitor_logs_tail(%zu) gave %zu records", tail, count);
			for (size_t i = 0; i < count; i++)
				if (!recs[i].text || strlen(recs[i].text) != recs[i].text_len)
					fuzz_fail("record %zu: text_len does not match its text", i);
		}
		monitor_log_records_free(recs, count);
	}
	fuzz_write_file(self_path, data, size);
	int64_t pid = 0, start = 0;
	if (monitor_read_self(dir, &pid, &start) == 0 && pid <= 0)
		fuzz_fail("monitor_read_self accepted pid %lld", (long long)pid);
}

static void log_lines(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		struct monitor_log_record rec;
		if (monitor_log_parse(p, len, &rec) == 0) {
			if (!rec.text || strlen(rec.text) != rec.text_len)
				fuzz_fail("parsed record: text_len does not match its text");
			monitor_log_record_clear(&rec);
		}
		p += len;
	}
}

static void sanitize(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct zl_buf whole = { 0 };
	if (monitor_utf8_sanitize(text, size, true, &whole) != 0)
		fuzz_fail("monitor_utf8_sanitize(at_end) left bytes over");
	if (whole.len && memchr(whole.data, '\0', whole.len))
		fuzz_fail("sanitized text holds a NUL");
	struct zl_buf again = { 0 };
	monitor_utf8_sanitize(whole.data ? whole.data : "", whole.len, true, &again);
	if (again.len != whole.len || (whole.len && memcmp(again.data, whole.data, whole.len)))
		fuzz_fail("sanitizing sanitized text changed it");
	zl_buf_free(&again);

	/* Two chunks, cut where the first byte says, the carry prepended to
	 * the second as zlmon does. */
	size_t cut = size ? data[0] % (size + 1) : 0;
	struct zl_buf chunked = { 0 };
	size_t left = monitor_utf8_sanitize(text, cut, false, &chunked);
	if (left > 3 || left > cut)
		fuzz_fail("monitor_utf8_sanitize kept %zu bytes of a %zu-byte chunk", left, cut);
	monitor_utf8_sanitize(text + cut - left, size - cut + left, true, &chunked);
	if (chunked.len != whole.len || (whole.len && memcmp(chunked.data, whole.data, whole.len)))
		fuzz_fail("sanitizing in two chunks (cut at %zu) differs from one pass", cut);
	zl_buf_free(&chunked);

	/* A log line of the input parses back to the sanitized text. */
	char *line = monitor_log_encode(1795341600123, MONITOR_STDERR, text, size);
	struct monitor_log_record rec;
	if (monitor_log_parse(line, strlen(line), &rec) < 0)
		fuzz_fail("monitor_log_encode wrote a line monitor_log_parse refuses: %s", line);
	if (rec.stream != MONITOR_STDERR || rec.text_len != whole.len ||
	    (whole.len && memcmp(rec.text, whole.data, whole.len)))
		fuzz_fail("log line does not parse back to its text: %s", line);
	monitor_log_record_clear(&rec);
	free(line);
	zl_buf_free(&whole);
}

static void exec_failure(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstr(data, size);
	struct zl_buf msg = { 0 };
	int code = monitor_exec_failure(text, &msg);
	if (code != 0 && code != 126 && code != 127)
		fuzz_fail("monitor_exec_failure returned %d", code);
	if ((code != 0) != (msg.len != 0))
		fuzz_fail("monitor_exec_failure returned %d with a %zu-byte message", code, msg.len);
	zl_buf_free(&msg);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	exit_record(data, size);
	log_file(data, size);
	log_lines(data, size);
	sanitize(data, size);
	exec_failure(data, size);
	return 0;
}
