/* test_common.c: the error convention, the string buffer, sha256 and the
 * filesystem helpers every module relies on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "common/common.h"

static void test_err_prefix_reads_like_a_sentence(void **state)
{
	(void)state;
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(zl_fail(&err, "exit %d", 1), -1);
	zl_err_prefix(&err, "runc start");
	zl_err_prefix(&err, "apply %s", "web-rep-2");
	assert_string_equal(err.msg, "apply web-rep-2: runc start: exit 1");
	assert_int_equal(err.kind, ZL_ERR_FAIL);
}

static void test_err_errno_and_kind(void **state)
{
	(void)state;
	struct zl_err err = ZL_ERR_INIT;
	zl_err_set(&err, ZL_ERR_INPUT, ENOENT, "cannot read %s", "x.yaml");
	assert_string_equal(err.msg, "cannot read x.yaml: No such file or directory");
	assert_int_equal(err.kind, ZL_ERR_INPUT);
	assert_int_equal(err.sys_errno, ENOENT);
	zl_err_clear(&err);
	assert_int_equal(err.kind, ZL_ERR_NONE);
	assert_string_equal(err.msg, "");
}

static void test_err_prefix_truncates_safely(void **state)
{
	(void)state;
	struct zl_err err = ZL_ERR_INIT;
	char big[4000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	zl_fail(&err, "%s", big);
	zl_err_prefix(&err, "ctx");
	assert_int_equal(strlen(err.msg), sizeof(err.msg) - 1);
	assert_memory_equal(err.msg, "ctx: xxx", 8);
}

static void test_buf_and_sha256(void **state)
{
	(void)state;
	struct zl_buf b = { 0 };
	zl_buf_puts(&b, "ab");
	zl_buf_printf(&b, "%d", 12);
	assert_string_equal(b.data, "ab12");
	char *s = zl_buf_steal(&b);
	assert_string_equal(s, "ab12");
	assert_null(b.data);
	free(s);

	char hex[65];
	zl_sha256_hex("abc", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_edit_distance(void **state)
{
	(void)state;
	assert_int_equal(zl_edit_distance("imgae", "image"), 2);
	assert_int_equal(zl_edit_distance("", "abc"), 3);
	assert_int_equal(zl_edit_distance("scale", "scale"), 0);
}

static void test_fs_helpers(void **state)
{
	(void)state;
	char tmpl[] = "/tmp/zl-common-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	struct zl_err err = ZL_ERR_INIT;
	char *dir = zl_xasprintf("%s/a/b/c", tmpl);
	assert_int_equal(zl_mkdir_p(dir, 0700, &err), 0);
	char *file = zl_xasprintf("%s/f", dir);
	assert_int_equal(zl_write_file_atomic(file, "hello", 5, 0600, &err), 0);
	char *data = NULL;
	size_t len = 0;
	assert_int_equal(zl_read_file(file, &data, &len, &err), 0);
	assert_int_equal(len, 5);
	assert_string_equal(data, "hello");
	free(data);
	struct stat st;
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	assert_int_equal(zl_read_file("/nonexistent/x.yaml", &data, &len, &err), -1);
	assert_int_equal(err.kind, ZL_ERR_INPUT);
	assert_non_null(strstr(err.msg, "/nonexistent/x.yaml"));

	assert_int_equal(zl_rm_rf(tmpl, &err), 0);
	assert_int_equal(stat(tmpl, &st), -1);
	assert_int_equal(zl_rm_rf(tmpl, &err), 0); /* missing is fine */
	free(dir);
	free(file);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_err_prefix_reads_like_a_sentence),
		cmocka_unit_test(test_err_errno_and_kind),
		cmocka_unit_test(test_err_prefix_truncates_safely),
		cmocka_unit_test(test_buf_and_sha256),
		cmocka_unit_test(test_edit_distance),
		cmocka_unit_test(test_fs_helpers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
