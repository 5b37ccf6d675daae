/* test_zlayer_examples.c: ZLayer's own example specs (a directory with
 * valid/ and invalid/), an optional extra that lives outside the
 * repository: `ZLAPPLY_EXAMPLES=DIR meson test zlayer_examples`. Without
 * them the test exits 77, which meson reports as SKIP. The repository's own
 * fixtures (tests/fixtures/spec, test_spec_parse and test_cli) cover the
 * same ground; these check that ZLayer's real files load as expected. */
#include "cli-helpers.h"
#include "tests/unit/spec-helpers.h"

#include <dirent.h>

/* The examples' directory, set by main before the tests run. */
static const char *examples;

static void test_valid_examples_parse_clean(void **state)
{
	(void)state;
	char *dir = zl_xasprintf("%s/valid", examples);
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct dirent *de;
	int files = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char *path = zl_xasprintf("%s/%s", dir, de->d_name);
		const char *paths[] = { path };
		struct spec_set set = { 0 };
		struct spec_diags diags = { 0 };
		int rc = spec_load_paths(paths, 1, &set, &diags);
		if (rc != 0 || diags.errors != 0) {
			char *all = diags_text(&diags);
			fail_msg("%s:\n%s", path, all);
		}
		assert_int_equal(set.count, 1);
		assert_true(set.deployments[0].service_count >= 1);
		spec_set_free(&set);
		spec_diags_free(&diags);
		free(path);
		files++;
	}
	closedir(d);
	free(dir);
	assert_true(files >= 11);
}

static void test_invalid_examples_name_each_key(void **state)
{
	(void)state;
	static const struct {
		const char *file;
		const char *paths[8]; /* exactly the error paths expected */
	} cases[] = {
		{ "examples__containers__multi-service__deployment.yaml",
		  { "services.web.volumes", "services.api.init.steps[1].uses", "services.database.volumes",
		    "services.database.health.check.type", "services.cache.health.check.type" } },
		{ "examples__containers__postgres-db__deployment.yaml",
		  { "services.database.volumes", "services.database.health.check.type" } },
		{ "examples__containers__redis-cache__deployment.yaml",
		  { "services.cache.health.check.type" } },
		{ "examples__full-service.yaml", { "services.cleanup.schedule" } },
		/* Only problem for ZLayer: the list-form command, which we accept. */
		{ "examples__python__hello.zlayer.yaml", { NULL } },
		{ "examples__wasm__deployment.yaml", { "services.rust-hello.runtime", "services.go-hello.runtime" } },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *path = zl_xasprintf("%s/invalid/%s", examples, cases[i].file);
		const char *paths[] = { path };
		struct spec_set set = { 0 };
		struct spec_diags diags = { 0 };
		int rc = spec_load_paths(paths, 1, &set, &diags);
		char *all = diags_text(&diags);
		size_t want = 0;
		while (want < 8 && cases[i].paths[want])
			want++;
		if ((rc != 0) != (want != 0) || diags.errors != want)
			fail_msg("%s: want %zu errors, got:\n%s", path, want, all ? all : "");
		for (size_t j = 0; j < want; j++)
			if (!find_diag(&diags, cases[i].paths[j], NULL))
				fail_msg("%s: no error at %s; got:\n%s", path, cases[i].paths[j], all);
		for (size_t j = 0; j < diags.count; j++) {
			assert_true(diags.items[j].line > 0);
			assert_true(diags.items[j].col > 0);
		}
		free(all);
		spec_set_free(&set);
		spec_diags_free(&diags);
		free(path);
	}
}

static void test_invalid_example_messages(void **state)
{
	(void)state;
	char *path = zl_xasprintf("%s/invalid/examples__containers__multi-service__deployment.yaml", examples);
	const char *paths[] = { path };
	struct spec_set set = { 0 };
	struct spec_diags diags = { 0 };
	spec_load_paths(paths, 1, &set, &diags);
	const struct spec_diag *d = find_diag(&diags, "services.database.health.check.type", NULL);
	assert_non_null(d);
	assert_string_equal(d->msg, "expected tcp|http|command, got \"exec\"");
	assert_int_equal(d->line, 208);
	assert_int_equal(d->col, 15);
	d = find_diag(&diags, "services.web.volumes", NULL);
	assert_non_null(d);
	assert_non_null(strstr(d->msg, "\"storage\""));
	/* Dependencies first, ties in file order. */
	const struct spec_deployment *dep = &set.deployments[0];
	const char *order[] = { "database", "cache", "api", "web", "worker", "cleanup" };
	assert_int_equal(dep->service_count, 6);
	for (size_t i = 0; i < 6; i++)
		assert_string_equal(dep->services[i].name, order[i]);
	/* An embedded "$E:" is literal text, kept as written. */
	const struct spec_service *api = spec_deployment_find(dep, "api");
	bool found = false;
	for (size_t i = 0; i < api->env_count; i++)
		if (!strcmp(api->env[i].key, "DATABASE_URL")) {
			assert_string_equal(api->env[i].value, "postgresql://appuser:$E:POSTGRES_PASSWORD@database.service:5432/appdb");
			found = true;
		}
	assert_true(found);
	/* "0 3 * * *" (classic 5 fields) is accepted. */
	assert_string_equal(spec_deployment_find(dep, "cleanup")->schedule, "0 3 * * *");
	spec_set_free(&set);
	spec_diags_free(&diags);
	free(path);
}

/* Through the binary: valid ones validate, invalid ones exit 2 with a
 * message at a line of the file. */
static void test_validate_examples(void **state)
{
	(void)state;
	const char *sets[] = { "valid", "invalid" };
	for (int s = 0; s < 2; s++) {
		char dir[PATH_MAX];
		cli_pathf(dir, "%s/%s", examples, sets[s]);
		DIR *d = opendir(dir);
		if (!d)
			fail_msg("examples: %s: %s", dir, strerror(errno));
		int checked = 0;
		struct dirent *de;
		while ((de = readdir(d))) {
			if (!cli_has_yaml_suffix(de->d_name))
				continue;
			/* ZLayer rejects this one, zlapply accepts it on purpose:
			 * `command:` as a list is shorthand for args (Decision 4). */
			bool accepted = s == 1 && strcmp(de->d_name, "examples__python__hello.zlayer.yaml") == 0;
			char path[PATH_MAX], *out = NULL, *err = NULL;
			cli_pathf(path, "%s/%s", dir, de->d_name);
			/* --spec-only: the examples name host paths this machine lacks. */
			int code = run_zlapply(NULL, NULL, &out, &err, "validate", "--spec-only", "-f", path);
			if ((s == 0 || accepted) && code != 0)
				fail_msg("%s: exit %d, expected 0\n%s", path, code, err);
			if (s == 1 && !accepted) {
				if (code != 2)
					fail_msg("%s: exit %d, expected 2\n%s%s", path, code, out, err);
				if (!cli_has_location(err, path, 0))
					fail_msg("%s: no \"%s:LINE:COL:\" message on stderr:\n%s", path,
						 path, err);
			}
			free(out);
			free(err);
			checked++;
		}
		closedir(d);
		assert_true(checked >= (s == 0 ? 5 : 3));
	}
}

int main(void)
{
	examples = cli_examples_dir();
	if (!examples) {
		printf("skipped: ZLayer's examples not found (set ZLAPPLY_EXAMPLES to their directory)\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_examples_parse_clean),
		cmocka_unit_test(test_invalid_examples_name_each_key),
		cmocka_unit_test(test_invalid_example_messages),
		cmocka_unit_test(test_validate_examples),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
