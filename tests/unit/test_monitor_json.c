/* test_monitor_json.c: zlmon's JSON without a library
 * (backends/monitor/monitor-json.c) against cJSON, which zlapply reads the
 * records with: strings print byte for byte as cJSON_PrintUnformatted
 * prints them (control characters, quotes, backslashes, UTF-8, DEL), the
 * ctr.log and exit.json records parse back with cJSON (monitor_log_parse,
 * monitor_exit_read), and the reader of the runtime's log lines finds
 * string members as cJSON does (escapes, surrogate pairs, nested values,
 * the first of two members of a name) and refuses what is not an object. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/monitor/monitor.h"

/* cJSON's printing of s as a string value, quotes included; caller frees. */
static char *cjson_string(const char *s)
{
	cJSON *str = cJSON_CreateString(s);
	char *text = cJSON_PrintUnformatted(str);
	cJSON_Delete(str);
	return text;
}

static void test_strings_print_as_cjson_prints_them(void **state)
{
	(void)state;
	const char *cases[] = {
		"",
		"hello\n",
		"quote \" backslash \\ slash /",
		"\b\f\n\r\t",
		"\x01\x02\x1f end",
		"\x7f del",
		"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
		"\xef\xbf\xbd replacement",
		"</script>",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct zl_buf mine = { 0 };
		monitor_json_string(&mine, cases[i]);
		char *theirs = cjson_string(cases[i]);
		assert_string_equal(mine.data, theirs);
		cJSON_free(theirs);
		zl_buf_free(&mine);
	}
	/* Every single byte from 1 to 255, alone. */
	for (int c = 1; c < 256; c++) {
		char s[2] = { (char)c, '\0' };
		struct zl_buf mine = { 0 };
		monitor_json_string(&mine, s);
		char *theirs = cjson_string(s);
		assert_string_equal(mine.data, theirs);
		cJSON_free(theirs);
		zl_buf_free(&mine);
	}
}

static void test_log_record_reads_back(void **state)
{
	(void)state;
	const char text[] = "tab\there \"quoted\" \\ \x01 caf\xc3\xa9 nul\0after\n";
	char *line = monitor_log_encode(1795341601234, MONITOR_STDERR, text, sizeof(text) - 1);
	assert_string_equal(line, "{\"time\":\"2026-11-22T10:00:01.234Z\",\"stream\":\"stderr\","
				  "\"text\":\"tab\\there \\\"quoted\\\" \\\\ \\u0001 caf\xc3\xa9 nul"
				  "\xef\xbf\xbd" "after\\n\"}\n");
	struct monitor_log_record rec;
	assert_int_equal(monitor_log_parse(line, strlen(line), &rec), 0);
	assert_string_equal(rec.time, "2026-11-22T10:00:01.234Z");
	assert_int_equal(rec.stream, MONITOR_STDERR);
	assert_string_equal(rec.text, "tab\there \"quoted\" \\ \x01 caf\xc3\xa9 nul\xef\xbf\xbd" "after\n");
	monitor_log_record_clear(&rec);
	free(line);
}

static void test_exit_record_reads_back(void **state)
{
	(void)state;
	char dir[] = "/tmp/zlapply-monitor-json.XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct monitor_exit ex = { .exit_code = 137, .signal = 9, .oom_killed = true,
				   .finished_at_ms = 1795341601234, .pid = 4242 };
	snprintf(ex.reason, sizeof(ex.reason), "oom_killed");
	char *text = monitor_exit_encode(&ex);
	assert_string_equal(text, "{\"exit_code\":137,\"signal\":\"SIGKILL\",\"reason\":\"oom_killed\","
				  "\"oom_killed\":true,\"finished_at\":\"2026-11-22T10:00:01.234Z\","
				  "\"finished_at_ms\":1795341601234,\"pid\":4242}\n");
	free(text);
	struct monitor_exit plain = { .exit_code = 127, .pid = -1, .finished_at_ms = 5 };
	snprintf(plain.reason, sizeof(plain.reason), "exec_failed");
	snprintf(plain.error, sizeof(plain.error), "exec: \"/bin/nosuch\": no such file or directory");
	text = monitor_exit_encode(&plain);
	assert_string_equal(text, "{\"exit_code\":127,\"signal\":null,\"reason\":\"exec_failed\","
				  "\"oom_killed\":false,\"finished_at\":\"1970-01-01T00:00:00.005Z\","
				  "\"finished_at_ms\":5,\"pid\":-1,"
				  "\"error\":\"exec: \\\"/bin/nosuch\\\": no such file or directory\"}\n");
	_cleanup_free_ char *path = zl_xasprintf("%s/%s", dir, MONITOR_EXIT_FILE);
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(zl_write_file_atomic(path, text, strlen(text), 0644, &err), 0);
	free(text);
	struct monitor_exit back;
	assert_int_equal(monitor_exit_read(dir, &back), 0);
	assert_int_equal(back.exit_code, 127);
	assert_int_equal(back.signal, 0);
	assert_string_equal(back.reason, "exec_failed");
	assert_false(back.oom_killed);
	assert_int_equal(back.finished_at_ms, 5);
	assert_int_equal(back.pid, -1);
	assert_string_equal(back.error, "exec: \"/bin/nosuch\": no such file or directory");
	unlink(path);
	rmdir(dir);
}

/* monitor_json_find_string's answer and value for line. */
static int find(const char *line, const char *key, char out[256])
{
	struct zl_buf value = { 0 };
	int r = monitor_json_find_string(line, strlen(line), key, &value);
	snprintf(out, 256, "%s", value.data ? value.data : "");
	zl_buf_free(&value);
	return r;
}

static void test_find_string(void **state)
{
	(void)state;
	char v[256];
	const char *runc = "{\"level\":\"error\",\"msg\":\"runc create failed: exec: \\\"/bin/x\\\": "
			   "stat /bin/x: no such file\",\"time\":\"2026-11-22T10:00:00Z\"}";
	assert_int_equal(find(runc, "level", v), 1);
	assert_string_equal(v, "error");
	assert_int_equal(find(runc, "msg", v), 1);
	assert_string_equal(v, "runc create failed: exec: \"/bin/x\": stat /bin/x: no such file");
	assert_int_equal(find(runc, "nosuch", v), 0);
	/* Other kinds of values are stepped over; a member that is not a
	 * string is not found. */
	const char *mixed = " { \"n\" : -1.5e3, \"t\": true, \"z\": null, \"o\": {\"msg\": \"inner\", "
			    "\"a\": [1, \"]\", {}]}, \"e\": [], \"msg\" : \"outer\" } ";
	assert_int_equal(find(mixed, "msg", v), 1);
	assert_string_equal(v, "outer");
	assert_int_equal(find(mixed, "n", v), 0);
	/* Escapes, a surrogate pair, a lone half. */
	assert_int_equal(find("{\"m\":\"a\\u00e9\\ud83d\\ude00\\/\\t\\ud800x\"}", "m", v), 1);
	assert_string_equal(v, "a\xc3\xa9\xf0\x9f\x98\x80/\t\xef\xbf\xbdx");
	/* The first of two members of a name, as cJSON answers. */
	assert_int_equal(find("{\"level\":\"info\",\"level\":\"error\"}", "level", v), 1);
	assert_string_equal(v, "info");
	assert_int_equal(find("{}", "level", v), 0);
	/* Not an object: the caller takes the line as it is. */
	const char *bad[] = { "", "plain text from the runtime", "[\"level\"]", "{\"level\":\"error\"",
			      "{\"level\" \"error\"}", "{\"level\":\"bad \\q escape\"}",
			      "{\"level\":\"error\",}", "{\"a\":[1,2}" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(find(bad[i], "level", v), -1);
		assert_string_equal(v, "");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strings_print_as_cjson_prints_them),
		cmocka_unit_test(test_log_record_reads_back),
		cmocka_unit_test(test_exit_record_reads_back),
		cmocka_unit_test(test_find_string),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
