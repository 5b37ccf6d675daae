/* test_render_units.c: render's tables (render/render-internal.h): names
 * made valid for Kubernetes, units written for Kubernetes and Docker, and
 * the emitter's quoting of strings a YAML reader would take for another
 * type. The objects themselves are tested end to end (test_render.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "render/render-internal.h"

static void test_names(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		enum render_name_rule rule;
		const char *out;
		bool changed;
	} cases[] = {
		{ "web", RENDER_DNS1123, "web", false },
		{ "Shop-EU", RENDER_DNS1123, "shop-eu", true },
		{ "a_b.c", RENDER_DNS1123, "a-b-c", true },
		{ "--x--", RENDER_DNS1123, "x", true },
		{ "___", RENDER_DNS1123, "x", true },
		{ "1api", RENDER_DNS1123, "1api", false },
		{ "1api", RENDER_DNS1035, "x-1api", true },
		{ "api", RENDER_DNS1035, "api", false },
		{ "http", RENDER_IANA_SVC, "http", false },
		{ "Web_Main", RENDER_IANA_SVC, "web-main", true },
		{ "a--b", RENDER_IANA_SVC, "a-b", true },
		{ "8080", RENDER_IANA_SVC, "8080-p", true },
		{ "", RENDER_IANA_SVC, "port", true },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool changed = !cases[i].changed;
		char *out = render_name(cases[i].in, cases[i].rule, &changed);
		assert_string_equal(out, cases[i].out);
		assert_int_equal(changed, cases[i].changed);
		free(out);
	}
}

/* A name past its length: cut, and ended by a hash of the whole input, so
 * two long names that share their start stay apart. */
static void test_long_names_stay_apart(void **state)
{
	(void)state;
	char a[100], b[100];
	memset(a, 'a', 80);
	a[80] = '\0';
	memcpy(b, a, 81);
	b[79] = 'b';
	bool changed = false;
	char *na = render_name(a, RENDER_DNS1123, &changed), *nb = render_name(b, RENDER_DNS1123, &changed);
	assert_true(changed);
	assert_int_equal(strlen(na), 63);
	assert_int_equal(strlen(nb), 63);
	assert_string_not_equal(na, nb);
	char *ia = render_name("averyveryverylongportname", RENDER_IANA_SVC, &changed);
	assert_int_equal(strlen(ia), 15);
	assert_true(strncmp(ia, "averyvery", 8) == 0);
	free(na);
	free(nb);
	free(ia);
}

static void test_units(void **state)
{
	(void)state;
	static const struct {
		int64_t bytes;
		const char *k8s, *docker;
	} mem[] = {
		{ 16 << 20, "16Mi", "16M" },
		{ (int64_t)1 << 30, "1Gi", "1G" },
		{ 1536 << 10, "1536Ki", "1536K" },
		{ (int64_t)3 << 40, "3Ti", "3T" },
		{ 1000, "1000", "1000b" },
	};
	for (size_t i = 0; i < sizeof(mem) / sizeof(mem[0]); i++) {
		char *k = render_k8s_memory(mem[i].bytes), *d = render_docker_memory(mem[i].bytes);
		assert_string_equal(k, mem[i].k8s);
		assert_string_equal(d, mem[i].docker);
		free(k);
		free(d);
	}
	static const struct {
		int64_t millicores;
		const char *k8s, *docker;
	} cpu[] = {
		{ 100, "100m", "0.1" }, { 250, "250m", "0.25" }, { 1000, "1", "1" },
		{ 1500, "1500m", "1.5" }, { 2005, "2005m", "2.005" },
	};
	for (size_t i = 0; i < sizeof(cpu) / sizeof(cpu[0]); i++) {
		char *k = render_k8s_cpu(cpu[i].millicores), *d = render_docker_cpu(cpu[i].millicores);
		assert_string_equal(k, cpu[i].k8s);
		assert_string_equal(d, cpu[i].docker);
		free(k);
		free(d);
	}
	char *d = render_docker_duration(30000);
	assert_string_equal(d, "30s");
	free(d);
	d = render_docker_duration(2500);
	assert_string_equal(d, "2500ms");
	free(d);
	assert_int_equal(render_seconds(2500, 0), 3);
	assert_int_equal(render_seconds(0, 1), 1);
	assert_int_equal(render_seconds(0, 0), 0);
}

/* Strings that a reader would type otherwise come out quoted; others plain. */
static void test_emit_quotes_typed_strings(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		bool quoted;
	} cases[] = {
		{ "8080", true }, { "true", true }, { "no", true }, { "ON", true }, { "null", true },
		{ "~", true }, { "", true }, { "1.5", true }, { "1e3", true }, { "0x1F", true },
		{ "1_000", true }, { "1:30", true }, { "-.5", true }, { ".inf", true },
		{ "web", false }, { "16Mi", false }, { "250m", false }, { "1.1.1.1x", false },
		{ "175aed8d", false }, { "v1", false }, { "yes-please", false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rnode *m = rn_map();
		rn_put(m, "k", rn_str(cases[i].in));
		struct zl_buf b = { 0 };
		struct zl_err err = ZL_ERR_INIT;
		assert_int_equal(rn_emit(m, false, &b, &err), 0);
		char want[64];
		snprintf(want, sizeof(want), cases[i].quoted ? "k: \"%s\"\n" : "k: %s\n", cases[i].in);
		if (strcmp(b.data, want) != 0)
			fail_msg("\"%s\": emitted %s, want %s", cases[i].in, b.data, want);
		zl_buf_free(&b);
		rn_free(m);
	}
	/* Numbers and bools as such stay plain. */
	struct rnode *m = rn_map();
	rn_put(m, "count", rn_int(3));
	rn_put(m, "b", rn_bool(false));
	rn_put(m, "count", rn_int(4)); /* a second put replaces */
	rn_put(m, "y", rn_str("keys too")); /* y is a YAML 1.1 bool */
	struct zl_buf b = { 0 };
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(rn_emit(m, true, &b, &err), 0);
	assert_string_equal(b.data, "---\ncount: 4\nb: false\n\"y\": keys too\n");
	zl_buf_free(&b);
	rn_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_long_names_stay_apart),
		cmocka_unit_test(test_units),
		cmocka_unit_test(test_emit_quotes_typed_strings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
