/* test_cli.c: zlapply end to end, as a user runs it.
 *
 * Every test runs the real binary (ZLAPPLY_BIN) against the mock backend in
 * a state root of its own under /tmp, and checks what a user would see (exit
 * code, the action lines on stdout, messages on stderr, `status`) and what
 * the run left in <root>/state.db, read directly with SQLite.
 */
#include "cli-helpers.h"

#include "backends/backend.h"
#include "backends/mock/mock.h"

#include <glob.h>
#include <sys/mount.h>

/* Applies a web spec (deployment, replicas, greeting) written to t->dir/file
 * and asserts exit 0. Returns the path in out. */
static char *apply_web(const struct cli_tmp *t, const char *file, const char *deployment,
		       int replicas, const char *greeting, char out_path[PATH_MAX])
{
	cli_path(t, file, out_path);
	cli_write_web_spec(out_path, deployment, replicas, greeting);
	char *out = NULL, *err = NULL;
	int code = run_zlapply(t->root, NULL, &out, &err, "apply", "-f", out_path);
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	return out_path;
}

static void assert_line(const char *text, const char *line)
{
	if (cli_line_index(text, line) < 0)
		fail_msg("no line \"%s\" in:\n%s", line, text);
}

static void assert_contains(const char *text, const char *needle)
{
	if (!strstr(text, needle))
		fail_msg("\"%s\" not found in:\n%s", needle, text);
}

static void assert_same_text(const char *before, const char *after, const char *what)
{
	if (strcmp(before, after) != 0)
		fail_msg("%s changed.\n--- before:\n%s\n--- after:\n%s", what, before, after);
}

/* ---- apply and status ---- */

static void check_replica_json(cJSON *r, int index)
{
	static const char *const keys[] = {
		"deployment", "service", "replica", "state", "pid", "ip", "netns", "exit_code",
		"exit_reason", "restarts", "health", "spec_hash", "image_digest", "started_at",
		"finished_at",
	};
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
		if (!cJSON_GetObjectItemCaseSensitive(r, keys[k]))
			fail_msg("replica %d: key \"%s\" missing in %s", index, keys[k],
				 cJSON_PrintUnformatted(r));
	assert_string_equal(cli_json_str(r, "deployment"), "demo");
	assert_string_equal(cli_json_str(r, "service"), "web");
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(r, "replica")->valueint, index);
	assert_string_equal(cli_json_str(r, "state"), "running");
	cJSON *pid = cJSON_GetObjectItemCaseSensitive(r, "pid");
	assert_true(cJSON_IsNumber(pid));
	assert_true(pid->valuedouble > 0);
	cJSON *restarts = cJSON_GetObjectItemCaseSensitive(r, "restarts");
	assert_true(cJSON_IsNumber(restarts));
	assert_int_equal(restarts->valueint, 0);
	/* The mock knows no network, exit, health or image digest: null, not "" or 0. */
	static const char *const nulls[] = { "ip", "netns", "exit_code", "exit_reason", "health",
					     "image_digest", "finished_at" };
	for (size_t k = 0; k < sizeof(nulls) / sizeof(nulls[0]); k++)
		if (!cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r, nulls[k])))
			fail_msg("replica %d: \"%s\" should be null in %s", index, nulls[k],
				 cJSON_PrintUnformatted(r));
	const char *hash = cli_json_str(r, "spec_hash");
	assert_non_null(hash);
	assert_true(strlen(hash) >= 16);
	assert_non_null(cli_json_str(r, "started_at"));
}

static void test_apply_three_replicas(void **state)
{
	struct cli_tmp *t = *state;
	char spec[PATH_MAX], *out = NULL, *err = NULL;
	cli_path(t, "demo.yaml", spec);
	cli_write_web_spec(spec, "demo", 3, NULL);

	int code = run_zlapply(t->root, NULL, &out, &err, "apply", "-f", spec);
	assert_exit(code, 0, out, err);
	assert_line(out, "+ create web-rep-1");
	assert_line(out, "+ create web-rep-2");
	assert_line(out, "+ create web-rep-3");
	assert_int_equal(cli_count_lines(out), 3);
	assert_true(cli_line_index(out, "+ create web-rep-1") <
		    cli_line_index(out, "+ create web-rep-3"));
	free(out);
	free(err);

	/* What the database recorded. */
	assert_int_equal(cli_db_int(t->root, "SELECT COUNT(*) FROM replicas WHERE deployment = ?1",
				    "demo"),
			 3);
	assert_int_equal(cli_db_int(t->root,
				    "SELECT COUNT(*) FROM replicas WHERE state = 'running' AND "
				    "backend = 'mock' AND backend_id = 'zl-demo-web-' || idx",
				    NULL),
			 3);
	assert_int_equal(cli_db_int(t->root, "SELECT COUNT(*) FROM deployments WHERE name = ?1",
				    "demo"),
			 1);
	assert_int_equal(cli_db_int(t->root,
				    "SELECT desired_replicas FROM services WHERE deployment = 'demo' "
				    "AND name = 'web'",
				    NULL),
			 3);
	assert_int_equal(cli_db_int(t->root, "SELECT COUNT(*) FROM journal WHERE status = 'pending'",
				    NULL),
			 0);
	assert_int_equal(cli_mock_names(t->root, true, NULL), 3);

	cJSON *doc = cli_status_json(t->root, NULL);
	assert_int_equal(cJSON_GetArraySize(cli_json_replicas(doc)), 3);
	for (int i = 1; i <= 3; i++) {
		cJSON *r = cli_json_replica(doc, "demo", "web", i);
		if (!r)
			fail_msg("no web-rep-%d in status", i);
		check_replica_json(r, i);
	}
	/* Same spec, same hash; pids differ. */
	cJSON *r1 = cli_json_replica(doc, "demo", "web", 1), *r2 = cli_json_replica(doc, "demo", "web", 2);
	assert_string_equal(cli_json_str(r1, "spec_hash"), cli_json_str(r2, "spec_hash"));
	assert_true(cJSON_GetObjectItemCaseSensitive(r1, "pid")->valuedouble !=
		    cJSON_GetObjectItemCaseSensitive(r2, "pid")->valuedouble);
	cJSON_Delete(doc);

	/* -d filters; an unknown deployment is an error that says so. */
	doc = cli_status_json(t->root, "demo");
	assert_int_equal(cli_json_count(doc, NULL), 3);
	cJSON_Delete(doc);
	code = run_zlapply(t->root, NULL, &out, &err, "status", "-o", "json", "-d", "nothing-here");
	assert_exit(code, 1, out, err);
	assert_contains(err, "no deployment nothing-here is recorded");
	free(out);
	free(err);

	/* The text table and its alias ps. */
	char *st_out = NULL, *ps_out = NULL;
	code = run_zlapply(t->root, NULL, &st_out, &err, "status");
	assert_exit(code, 0, st_out, err);
	free(err);
	code = run_zlapply(t->root, NULL, &ps_out, &err, "ps");
	assert_exit(code, 0, ps_out, err);
	free(err);
	for (const char *text = st_out; text; text = text == st_out ? ps_out : NULL) {
		assert_true(cli_has_line_with(text, "DEPLOYMENT", "REPLICA", "STATE"));
		assert_true(cli_has_line_with(text, "demo", "web-rep-1", "running"));
		assert_true(cli_has_line_with(text, "demo", "web-rep-2", "running"));
		assert_true(cli_has_line_with(text, "demo", "web-rep-3", "running"));
		assert_int_equal(cli_count_lines(text), 4);
	}
	free(st_out);
	free(ps_out);
}

static void test_status_empty_root(void **state)
{
	struct cli_tmp *t = *state;
	char *out = NULL, *err = NULL;
	/* Nothing applied yet: status works and shows nothing. */
	int code = run_zlapply(t->root, NULL, &out, &err, "status");
	assert_exit(code, 0, out, err);
	assert_contains(out, "no replicas");
	free(out);
	free(err);
	cJSON *doc = cli_status_json(t->root, NULL);
	assert_int_equal(cli_json_count(doc, NULL), 0);
	cJSON_Delete(doc);
}

static void test_reapply_changes_nothing(void **state)
{
	struct cli_tmp *t = *state;
	char spec[PATH_MAX], *out = NULL, *err = NULL;
	apply_web(t, "demo.yaml", "demo", 3, "hello", spec);

	char *before = cli_snapshot(t->root);
	for (int round = 0; round < 2; round++) {
		int code = run_zlapply(t->root, NULL, &out, &err, "-f", spec);
		assert_exit(code, 0, out, err);
		if (out[0] != '\0')
			fail_msg("a converged apply printed actions:\n%s", out);
		free(out);
		free(err);
	}
	/* -q: nothing at all on either stream. */
	int code = run_zlapply(t->root, NULL, &out, &err, "apply", "-q", "-f", spec);
	assert_exit(code, 0, out, err);
	assert_string_equal(out, "");
	assert_string_equal(err, "");
	free(out);
	free(err);

	char *after = cli_snapshot(t->root);
	assert_same_text(before, after, "the state of a converged deployment");
	free(before);
	free(after);
}

static void test_scale_up_and_down(void **state)
{
	struct cli_tmp *t = *state;
	char spec[PATH_MAX], *out = NULL, *err = NULL;
	apply_web(t, "demo.yaml", "demo", 3, NULL, spec);
	char *hash_before = cli_db_text(t->root,
					"SELECT spec_hash FROM replicas WHERE idx = 1", NULL);

	cli_write_web_spec(spec, "demo", 5, NULL);
	int code = run_zlapply(t->root, NULL, &out, &err, "-f", spec);
	assert_exit(code, 0, out, err);
	assert_line(out, "+ create web-rep-4");
	assert_line(out, "+ create web-rep-5");
	assert_int_equal(cli_count_lines(out), 2);
	free(out);
	free(err);
	assert_int_equal(cli_db_int(t->root, "SELECT COUNT(*) FROM replicas WHERE state = 'running'",
				    NULL),
			 5);
	/* Scaling is not a spec change of the replicas that stay. */
	char *hash_after = cli_db_text(t->root, "SELECT spec_hash FROM replicas WHERE idx = 1", NULL);
	assert_string_equal(hash_before, hash_after);
	free(hash_after);

	cli_write_web_spec(spec, "demo", 2, NULL);
	code = run_zlapply(t->root, NULL, &out, &err, "-f", spec);
	assert_exit(code, 0, out, err);
	long i5 = cli_action_index(out, "- remove web-rep-5");
	long i4 = cli_action_index(out, "- remove web-rep-4");
	long i3 = cli_action_index(out, "- remove web-rep-3");
	if (i5 != 0 || i4 != 1 || i3 != 2)
		fail_msg("expected removals of web-rep-5, 4, 3 in that order:\n%s", out);
	assert_int_equal(cli_count_lines(out), 3);
	free(out);
	free(err);

	cJSON *doc = cli_status_json(t->root, "demo");
	assert_int_equal(cli_json_count(doc, "demo"), 2);
	assert_non_null(cli_json_replica(doc, "demo", "web", 1));
	assert_non_null(cli_json_replica(doc, "demo", "web", 2));
	cJSON_Delete(doc);
	char **names;
	assert_int_equal(cli_mock_names(t->root, true, &names), 2);
	assert_string_equal(names[0], "zl-demo-web-1");
	assert_string_equal(names[1], "zl-demo-web-2");
	cli_names_free(names);
	hash_after = cli_db_text(t->root, "SELECT spec_hash FROM replicas WHERE idx = 1", NULL);
	assert_string_equal(hash_before, hash_after);
	free(hash_after);
	free(hash_before);

	/* Down to zero is allowed and leaves the deployment recorded. */
	cli_write_web_spec(spec, "demo", 0, NULL);
	code = run_zlapply(t->root, NULL, &out, &err, "-f", spec);
	assert_exit(code, 0, out, err);
	assert_int_equal(cli_count_lines(out), 2);
	free(out);
	free(err);
	assert_int_equal(cli_db_int(t->root, "SELECT COUNT(*) FROM replicas", NULL), 0);
	assert_int_equal(cli_db_int(t->root, "SELECT COUNT(*) FROM deployments", NULL), 1);
	assert_int_equal(cli_mock_names(t->root, true, NULL), 0);
}

static void test_env_change_diff_dry_run_apply(void **state)
{
	struct cli_tmp *t = *state;
	char spec[PATH_MAX], *out = NULL, *err = NULL;
	apply_web(t, "demo.yaml", "demo", 3, "hello", spec);
	char *old_hash = cli_db_text(t->root, "SELECT spec_hash FROM replicas WHERE idx = 1", NULL);
	assert_non_null(old_hash);

	cli_write_web_spec(spec, "demo", 3, "goodbye");
	char *before = cli_snapshot(t->root);

	/* diff and --dry-run print the rollout and change nothing. */
	for (int variant = 0; variant < 3; variant++) {
		int code = variant == 0 ? run_zlapply(t->root, NULL, &out, &err, "diff", "-f", spec)
			 : variant == 1 ? run_zlapply(t->root, NULL, &out, &err, "--dry-run", "-f", spec)
					: run_zlapply(t->root, NULL, &out, &err, "apply", "-f", spec,
						      "--dry-run");
		assert_exit(code, 0, out, err);
		assert_line(out, "~ recreate web-rep-1 (env changed)");
		assert_line(out, "~ recreate web-rep-2 (env changed)");
		assert_line(out, "~ recreate web-rep-3 (env changed)");
		assert_int_equal(cli_count_lines(out), 3);
		free(out);
		free(err);
		char *after = cli_snapshot(t->root);
		assert_same_text(before, after, variant == 0 ? "state after diff" : "state after --dry-run");
		free(after);
	}
	free(before);

	int code = run_zlapply(t->root, NULL, &out, &err, "-f", spec);
	assert_exit(code, 0, out, err);
	assert_int_equal(cli_line_index(out, "~ recreate web-rep-1 (env changed)"), 0);
	assert_int_equal(cli_line_index(out, "~ recreate web-rep-2 (env changed)"), 1);
	assert_int_equal(cli_line_index(out, "~ recreate web-rep-3 (env changed)"), 2);
	assert_int_equal(cli_count_lines(out), 3);
	free(out);
	free(err);

	cJSON *doc = cli_status_json(t->root, "demo");
	assert_int_equal(cli_json_count(doc, "demo"), 3);
	const char *first_hash = NULL;
	for (int i = 1; i <= 3; i++) {
		cJSON *r = cli_json_replica(doc, "demo", "web", i);
		assert_non_null(r);
		assert_string_equal(cli_json_str(r, "state"), "running");
		const char *h = cli_json_str(r, "spec_hash");
		assert_non_null(h);
		assert_string_not_equal(h, old_hash);
		if (first_hash)
			assert_string_equal(h, first_hash);
		first_hash = h;
	}
	/* The service row carries the new hash too. */
	char *svc_hash = cli_db_text(t->root,
				     "SELECT spec_hash FROM services WHERE deployment = 'demo'", NULL);
	assert_non_null(svc_hash);
	assert_string_equal(svc_hash, first_hash);
	free(svc_hash);
	cJSON_Delete(doc);
	free(old_hash);
	assert_int_equal(cli_mock_names(t->root, true, NULL), 3);

	/* And now it is converged. */
	code = run_zlapply(t->root, NULL, &out, &err, "diff", "-f", spec);
	assert_exit(code, 0, out, err);
	assert_string_equal(out, "");
	free(out);
	free(err);
}

static void test_dry_run_on_empty_root(void **state)
{
	struct cli_tmp *t = *state;
	char spec[PATH_MAX], *out = NULL, *err = NULL;
	cli_path(t, "demo.yaml", spec);
	cli_write_web_spec(spec, "demo", 2, NULL);
	int code = run_zlapply(t->root, NULL, &out, &err, "diff", "-f", spec);
	assert_exit(code, 0, out, err);
	assert_line(out, "+ create web-rep-1");
	assert_line(out, "+ create web-rep-2");
	free(out);
	free(err);
	/* A plan on a fresh root creates no database and no containers. */
	char db[PATH_MAX];
	assert_int_not_equal(access(cli_db_path(t->root, db), F_OK), 0);
	assert_int_equal(cli_mock_names(t->root, true, NULL), 0);
}

static void test_dropped_service_and_other_deployment(void **state)
{
	struct cli_tmp *t = *state;
	char demo[PATH_MAX], other[PATH_MAX], *out = NULL, *err = NULL;
	cli_path(t, "demo.yaml", demo);
	cli_write_file(demo, "version: v1\n"
			     "deployment: demo\n"
			     "services:\n"
			     "  web:\n"
			     "    image: {name: \"nginx:1.25\"}\n"
			     "    scale: {mode: fixed, replicas: 2}\n"
			     "  api:\n"
			     "    image: {name: \"nginx:1.25\"}\n"
			     "    scale: {mode: fixed, replicas: 2}\n");
	int code = run_zlapply(t->root, NULL, &out, &err, "-f", demo);
	assert_exit(code, 0, out, err);
	assert_int_equal(cli_count_lines(out), 4);
	free(out);
	free(err);
	/* A second deployment with a service of the same name. */
	apply_web(t, "other.yaml", "other", 2, NULL, other);
	char *other_before = cli_db_dump(t->root, "other");

	cli_write_web_spec(demo, "demo", 2, NULL); /* api is gone */
	code = run_zlapply(t->root, NULL, &out, &err, "-f", demo);
	assert_exit(code, 0, out, err);
	assert_int_equal(cli_action_index(out, "- remove api-rep-2"), 0);
	assert_int_equal(cli_action_index(out, "- remove api-rep-1"), 1);
	assert_int_equal(cli_count_lines(out), 2);
	free(out);
	free(err);

	cJSON *doc = cli_status_json(t->root, NULL);
	assert_int_equal(cli_json_count(doc, "demo"), 2);
	assert_int_equal(cli_json_count(doc, "other"), 2);
	assert_null(cli_json_replica(doc, "demo", "api", 1));
	assert_null(cli_json_replica(doc, "demo", "api", 2));
	assert_non_null(cli_json_replica(doc, "other", "web", 1));
	cJSON_Delete(doc);
	assert_int_equal(cli_db_int(t->root,
				    "SELECT COUNT(*) FROM services WHERE deployment = 'demo' AND "
				    "name = 'api'",
				    NULL),
			 0);
	char **names;
	assert_int_equal(cli_mock_names(t->root, true, &names), 4);
	for (size_t i = 0; names[i]; i++)
		assert_null(strstr(names[i], "api"));
	cli_names_free(names);

	char *other_after = cli_db_dump(t->root, "other");
	assert_same_text(other_before, other_after, "deployment \"other\"");
	free(other_before);
	free(other_after);
}

static void test_delete(void **state)
{
	struct cli_tmp *t = *state;
	char demo[PATH_MAX], other[PATH_MAX], *out = NULL, *err = NULL;
	apply_web(t, "demo.yaml", "demo", 3, NULL, demo);
	apply_web(t, "other.yaml", "other", 2, NULL, other);
	char *other_before = cli_db_dump(t->root, "other");

	/* --dry-run deletes nothing. */
	char *before = cli_snapshot(t->root);
	int code = run_zlapply(t->root, NULL, &out, &err, "delete", "--dry-run", "-f", demo);
	assert_exit(code, 0, out, err);
	assert_int_equal(cli_count_lines(out), 3);
	free(out);
	free(err);
	char *after = cli_snapshot(t->root);
	assert_same_text(before, after, "state after delete --dry-run");
	free(before);
	free(after);

	code = run_zlapply(t->root, NULL, &out, &err, "delete", "-f", demo);
	assert_exit(code, 0, out, err);
	assert_int_equal(cli_action_index(out, "- remove web-rep-3"), 0);
	assert_int_equal(cli_action_index(out, "- remove web-rep-2"), 1);
	assert_int_equal(cli_action_index(out, "- remove web-rep-1"), 2);
	assert_int_equal(cli_count_lines(out), 3);
	free(out);
	free(err);

	cJSON *doc = cli_status_json(t->root, NULL);
	assert_int_equal(cli_json_count(doc, "demo"), 0);
	cJSON_Delete(doc);
	/* Deleted is forgotten: -d demo is a deployment the root no longer knows. */
	code = run_zlapply(t->root, NULL, &out, &err, "status", "-d", "demo");
	assert_exit(code, 1, out, err);
	assert_contains(err, "no deployment demo is recorded");
	free(out);
	free(err);
	assert_int_equal(cli_db_int(t->root, "SELECT COUNT(*) FROM replicas WHERE deployment = ?1",
				    "demo"),
			 0);
	assert_int_equal(cli_db_int(t->root, "SELECT COUNT(*) FROM services WHERE deployment = ?1",
				    "demo"),
			 0);
	assert_int_equal(cli_db_int(t->root, "SELECT COUNT(*) FROM deployments WHERE name = ?1",
				    "demo"),
			 0);
	char *other_after = cli_db_dump(t->root, "other");
	assert_same_text(other_before, other_after, "deployment \"other\" after deleting demo");
	free(other_before);
	free(other_after);
	assert_int_equal(cli_mock_names(t->root, true, NULL), 2);

	code = run_zlapply(t->root, NULL, &out, &err, "delete", "-d", "other");
	assert_exit(code, 0, out, err);
	assert_int_equal(cli_count_lines(out), 2);
	free(out);
	free(err);
	doc = cli_status_json(t->root, NULL);
	assert_int_equal(cli_json_count(doc, NULL), 0);
	cJSON_Delete(doc);
	assert_int_equal(cli_db_int(t->root, "SELECT COUNT(*) FROM replicas", NULL), 0);
	assert_int_equal(cli_db_int(t->root, "SELECT COUNT(*) FROM services", NULL), 0);
	assert_int_equal(cli_db_int(t->root, "SELECT COUNT(*) FROM deployments", NULL), 0);
	assert_int_equal(cli_mock_names(t->root, true, NULL), 0);

	code = run_zlapply(t->root, NULL, &out, &err, "status");
	assert_exit(code, 0, out, err);
	assert_null(strstr(out, "web-rep"));
	free(out);
	free(err);
}

static void test_stdin(void **state)
{
	struct cli_tmp *t = *state;
	char *out = NULL, *err = NULL;
	const char *spec = "version: v1\n"
			   "deployment: from-stdin\n"
			   "services:\n"
			   "  web:\n"
			   "    image: {name: \"nginx:1.25\"}\n"
			   "    scale: {mode: fixed, replicas: 3}\n";
	int code = run_zlapply(t->root, spec, &out, &err, "-f", "-");
	assert_exit(code, 0, out, err);
	assert_line(out, "+ create web-rep-1");
	assert_line(out, "+ create web-rep-3");
	assert_int_equal(cli_count_lines(out), 3);
	free(out);
	free(err);
	cJSON *doc = cli_status_json(t->root, "from-stdin");
	assert_int_equal(cli_json_count(doc, "from-stdin"), 3);
	cJSON_Delete(doc);

	code = run_zlapply(t->root, spec, &out, &err, "diff", "-f", "-");
	assert_exit(code, 0, out, err);
	assert_string_equal(out, "");
	free(out);
	free(err);
	code = run_zlapply(NULL, spec, &out, &err, "validate", "-f", "-");
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	/* Bad input on stdin is reported as "-:LINE:COL". */
	code = run_zlapply(t->root, "version: v1\ndeployment: x\n", &out, &err, "-f", "-");
	assert_exit(code, 2, out, err);
	assert_true(cli_has_location(err, "-", 0));
	free(out);
	free(err);
}

static void test_directory_and_multi_document(void **state)
{
	struct cli_tmp *t = *state;
	char dir[PATH_MAX], multi[PATH_MAX], *out = NULL, *err = NULL;
	cli_fixture(dir, "dir");
	cli_fixture(multi, "multi-doc.yaml");

	int code = run_zlapply(t->root, NULL, &out, &err, "-f", dir);
	assert_exit(code, 0, out, err);
	assert_int_equal(cli_count_lines(out), 3); /* 2 web + 1 api; notes.txt is not read */
	free(out);
	free(err);
	code = run_zlapply(t->root, NULL, &out, &err, "-f", multi);
	assert_exit(code, 0, out, err);
	assert_int_equal(cli_count_lines(out), 5);
	free(out);
	free(err);

	cJSON *doc = cli_status_json(t->root, NULL);
	assert_int_equal(cli_json_count(doc, "dir-alpha"), 2);
	assert_int_equal(cli_json_count(doc, "dir-beta"), 1);
	assert_int_equal(cli_json_count(doc, "multi-one"), 2);
	assert_int_equal(cli_json_count(doc, "multi-two"), 3);
	assert_non_null(cli_json_replica(doc, "multi-two", "worker", 2));
	assert_non_null(cli_json_replica(doc, "dir-beta", "api", 1));
	assert_int_equal(cli_json_count(doc, NULL), 8);
	cJSON_Delete(doc);
	assert_int_equal(cli_db_int(t->root, "SELECT COUNT(*) FROM deployments", NULL), 4);
	assert_int_equal(cli_mock_names(t->root, true, NULL), 8);

	/* Several -f at once, converged: nothing to do. */
	code = run_zlapply(t->root, NULL, &out, &err, "-f", dir, "-f", multi);
	assert_exit(code, 0, out, err);
	assert_string_equal(out, "");
	free(out);
	free(err);
	code = run_zlapply(NULL, NULL, &out, &err, "validate", "-f", dir, "-f", multi);
	assert_exit(code, 0, out, err);
	assert_contains(out, "4 deployments");
	free(out);
	free(err);
}

/* ---- validate ---- */

static void test_validate_fixture(void **state)
{
	(void)state;
	char spec[PATH_MAX], *out = NULL, *err = NULL;
	cli_fixture(spec, "valid.yaml");
	int code = run_zlapply(NULL, NULL, &out, &err, "validate", "-f", spec);
	assert_exit(code, 0, out, err);
	assert_contains(out, "valid");
	assert_contains(out, "1 deployment");
	free(out);
	free(err);
}

/* ---- bad input ---- */

/* Runs apply, diff and validate on path; each must exit 2 with a message
 * located in path (line want_line when > 0) whose line holds every needle.
 * The state must be the same afterwards. Returns stderr of apply. */
static char *check_bad_spec(const struct cli_tmp *t, const char *path, int want_line,
			    const char *const *needles)
{
	char *before = cli_snapshot(t->root), *apply_err = NULL;
	for (int verb = 0; verb < 3; verb++) {
		char *out = NULL, *err = NULL;
		int code = verb == 0 ? run_zlapply(t->root, NULL, &out, &err, "-f", path)
			 : verb == 1 ? run_zlapply(t->root, NULL, &out, &err, "diff", "-f", path)
				     : run_zlapply(NULL, NULL, &out, &err, "validate", "-f", path);
		assert_exit(code, 2, out, err);
		if (out[0] != '\0')
			fail_msg("%s: stdout should be empty on bad input:\n%s", path, out);
		if (!cli_has_location(err, path, want_line))
			fail_msg("%s: no \"%s:%d:COL:\" message:\n%s", path, path, want_line, err);
		if (needles && needles[0]) {
			char *line = cli_find_line(err, needles);
			if (!line)
				fail_msg("%s: no message line with \"%s\"%s%s in:\n%s", path, needles[0],
					 needles[1] ? " and \"" : "", needles[1] ? needles[1] : "", err);
			free(line);
		}
		free(out);
		if (verb == 0)
			apply_err = err;
		else
			free(err);
	}
	char *after = cli_snapshot(t->root);
	assert_same_text(before, after, "state after bad input");
	free(before);
	free(after);
	return apply_err;
}

/* tests/fixtures/spec/SUB into out. */
static void spec_fixture(char out[PATH_MAX], const char *sub)
{
	cli_pathf(out, "%s/tests/fixtures/spec/%s", cli_source_root(), sub);
}

/* Removes every "dir/" from text (in place): messages name files by the
 * path given, the .errors files by their name alone. */
static void strip_prefix(char *text, const char *dir)
{
	size_t dlen = strlen(dir);
	char *w = text;
	for (const char *r = text; *r;) {
		if (!strncmp(r, dir, dlen) && r[dlen] == '/')
			r += dlen + 1;
		else
			*w++ = *r++;
	}
	*w = '\0';
}

/* The repository's spec fixtures through the real binary: every valid file
 * validates (notes only on stderr); every invalid file makes apply, diff and
 * validate exit 2 without touching the state, and stderr is exactly its
 * NAME.errors (with the directory of the path given removed) plus the
 * summary line. The unit test
 * (test_spec_parse.c) pins which fixtures exist. */
static void test_spec_fixtures(void **state)
{
	struct cli_tmp *t = *state;
	char spec[PATH_MAX], dir[PATH_MAX];
	apply_web(t, "demo.yaml", "demo", 2, NULL, spec);

	spec_fixture(dir, "valid");
	DIR *d = opendir(dir);
	if (!d)
		fail_msg("%s: %s", dir, strerror(errno));
	int checked = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!cli_has_yaml_suffix(de->d_name))
			continue;
		char path[PATH_MAX], *out = NULL, *err = NULL;
		cli_pathf(path, "%s/%s", dir, de->d_name);
		/* --spec-only: the fixtures name host paths this machine lacks. */
		int code = run_zlapply(NULL, NULL, &out, &err, "validate", "--spec-only", "-f", path);
		assert_exit(code, 0, out, err);
		if (strncmp(out, "valid: ", 7) != 0)
			fail_msg("%s: stdout is not \"valid: ...\":\n%s", path, out);
		/* Notes only: "PATH:LINE:COL: note: ..." lines. */
		for (char *p = err; *p;) {
			char *nl = strchr(p, '\n');
			char *l = nl ? strndup(p, (size_t)(nl - p)) : strdup(p);
			assert_non_null(l);
			if (!cli_has_location(l, path, 0) || !strstr(l, ": note: "))
				fail_msg("%s: stderr holds more than notes:\n%s", path, err);
			free(l);
			p = nl ? nl + 1 : p + strlen(p);
		}
		free(out);
		free(err);
		checked++;
	}
	closedir(d);
	assert_int_equal(checked, 10);
	/* The directory at once: every document of every file. */
	char *out = NULL, *err = NULL;
	int code = run_zlapply(NULL, NULL, &out, &err, "validate", "--spec-only", "-f", dir);
	assert_exit(code, 0, out, err);
	assert_string_equal(out, "valid: 12 deployments, 40 services\n");
	free(out);
	free(err);

	spec_fixture(dir, "invalid");
	d = opendir(dir);
	if (!d)
		fail_msg("%s: %s", dir, strerror(errno));
	checked = 0;
	while ((de = readdir(d))) {
		if (!cli_has_yaml_suffix(de->d_name))
			continue;
		char path[PATH_MAX], errors[PATH_MAX];
		cli_pathf(path, "%s/%s", dir, de->d_name);
		cli_pathf(errors, "%s/%.*s.errors", dir, (int)(strlen(de->d_name) - 5), de->d_name);
		FILE *f = fopen(errors, "r");
		if (!f)
			fail_msg("%s: %s (each invalid fixture needs its .errors)", errors, strerror(errno));
		char *want = NULL, *line = NULL;
		size_t want_len = 0, cap = 0, problems = 0;
		FILE *w = open_memstream(&want, &want_len);
		assert_non_null(w);
		while (getline(&line, &cap, f) > 0) {
			fputs(line, w);
			problems++;
		}
		fprintf(w, "zlapply: error: %zu problem%s in the spec; nothing was changed\n", problems,
			problems == 1 ? "" : "s");
		fclose(w);
		fclose(f);
		free(line);
		char *got = check_bad_spec(t, path, 0, NULL);
		strip_prefix(got, dir);
		if (strcmp(got, want) != 0)
			fail_msg("%s: stderr differs from %s\n--- want:\n%s--- got:\n%s", path, errors, want, got);
		free(got);
		free(want);
		checked++;
	}
	closedir(d);
	assert_int_equal(checked, 18);
}

static void test_bad_input(void **state)
{
	struct cli_tmp *t = *state;
	char spec[PATH_MAX], path[PATH_MAX];
	apply_web(t, "demo.yaml", "demo", 3, NULL, spec);

	cli_fixture(path, "bad-yaml.yaml");
	free(check_bad_spec(t, path, 0, NULL));

	cli_fixture(path, "unknown-key.yaml");
	char *err = check_bad_spec(t, path, 6, (const char *const[]){ "imgae", NULL });
	/* The message on the typo's line suggests the key that was meant. */
	char *line = cli_find_line(err, (const char *const[]){ "imgae", NULL });
	char *rest = line;
	for (char *p; (p = strstr(rest, "imgae"));)
		rest = p + 5;
	if (!strstr(rest, "image") && !strstr(line, "\"image\"") && !strstr(line, "'image'") &&
	    !strstr(line, "`image`"))
		fail_msg("the unknown key message does not suggest \"image\": %s", line);
	free(line);
	free(err);

	cli_fixture(path, "bad-memory.yaml");
	free(check_bad_spec(t, path, 8,
			    (const char *const[]){ "services.web.resources.memory", "512M", NULL }));

	cli_fixture(path, "unknown-dependency.yaml");
	free(check_bad_spec(t, path, 0, (const char *const[]){ "database", NULL }));

	cli_fixture(path, "dependency-cycle.yaml");
	err = check_bad_spec(t, path, 0, (const char *const[]){ "cycle", NULL });
	line = cli_find_line(err, (const char *const[]){ "cycle", "alpha", "beta", "gamma", NULL });
	if (!line)
		fail_msg("the cycle message does not print the cycle alpha, beta, gamma:\n%s", err);
	free(line);
	free(err);

	cli_fixture(path, "duplicate-key.yaml");
	err = check_bad_spec(t, path, 8, (const char *const[]){ "scale", NULL });
	line = cli_find_line(err, (const char *const[]){ "scale", NULL });
	if (!strcasestr(line, "duplicate"))
		fail_msg("the duplicate key message does not say so: %s", line);
	free(line);
	free(err);

	/* Every problem is reported, not only the first. */
	cli_fixture(path, "many-errors.yaml");
	err = check_bad_spec(t, path, 0, (const char *const[]){ "services.web.resources.memory", NULL });
	assert_true(cli_has_location(err, path, 8));
	assert_true(cli_has_location(err, path, 11));
	assert_true(cli_has_line_with(err, "scael"));
	free(err);

	/* A deployment name breaking the name rule. */
	cli_path(t, "short-name.yaml", path);
	cli_write_web_spec(path, "ab", 1, NULL);
	free(check_bad_spec(t, path, 2, (const char *const[]){ "deployment", NULL }));

	/* One bad file among good ones: nothing is applied. */
	char good[PATH_MAX], bad[PATH_MAX];
	cli_path(t, "new.yaml", good);
	cli_write_web_spec(good, "brand-new", 2, NULL);
	cli_fixture(bad, "bad-memory.yaml");
	char *before = cli_snapshot(t->root), *out = NULL;
	int code = run_zlapply(t->root, NULL, &out, &err, "-f", good, "-f", bad);
	assert_exit(code, 2, out, err);
	free(out);
	free(err);
	char *after = cli_snapshot(t->root);
	assert_same_text(before, after, "state after a good and a bad file");
	free(after);

	/* Unreadable files. */
	cli_path(t, "does-not-exist.yaml", path);
	code = run_zlapply(t->root, NULL, &out, &err, "-f", path);
	assert_exit(code, 2, out, err);
	assert_contains(err, "does-not-exist.yaml");
	free(out);
	free(err);

	cli_path(t, "locked.yaml", path);
	cli_write_web_spec(path, "demo", 3, NULL);
	assert_int_equal(chmod(path, 0), 0);
	struct cli_proc p;
	/* root reads any file: run as nobody then (no state root: the file is
	 * read before the state is touched). */
	cli_spawn_as(NULL, NULL, NULL, (const char *const[]){ "validate", "-f", path, NULL },
		     geteuid() == 0 ? 65534 : -1, &p);
	code = cli_wait(&p, &out, &err);
	assert_exit(code, 2, out, err);
	assert_contains(err, "locked.yaml");
	free(out);
	free(err);

	/* Usage errors. */
	code = run_zlapply(t->root, NULL, &out, &err, "--frobnicate", "-f", spec);
	assert_exit(code, 2, out, err);
	assert_contains(err, "frobnicate");
	free(out);
	free(err);
	code = run_zlapply(t->root, NULL, &out, &err, "frobnicate", "-f", spec);
	assert_exit(code, 2, out, err);
	assert_contains(err, "frobnicate");
	free(out);
	free(err);
	code = run_zlapply(t->root, NULL, &out, &err, "apply");
	assert_exit(code, 2, out, err); /* no -f */
	free(out);
	free(err);
	code = run_zlapply(t->root, NULL, &out, &err, "-f", spec, "--lock-timeout", "soon");
	assert_exit(code, 2, out, err);
	free(out);
	free(err);
	code = run_zlapply(t->root, NULL, &out, &err, "status", "-o", "yaml");
	assert_exit(code, 2, out, err);
	free(out);
	free(err);
	code = run_zlapply(t->root, NULL, &out, &err, "-f", spec, "extra-argument");
	assert_exit(code, 2, out, err);
	free(out);
	free(err);
	code = run_zlapply(NULL, NULL, &out, &err, "help", "frobnicate");
	assert_exit(code, 2, out, err);
	free(out);
	free(err);
	/* An unknown backend is bad input too. */
	code = run_zlapply_env(CLI_ENV("ZLAPPLY_BACKEND=warp"), NULL, NULL, &out,
			       &err, "-f", spec, "--root", t->root);
	assert_exit(code, 2, out, err);
	assert_contains(err, "warp");
	free(out);
	free(err);

	/* --parallel and ZLAPPLY_PARALLEL: 1..1024 actions, else a usage
	 * error before anything is done; the flag wins over the variable,
	 * and a verb that acts on nothing ignores the variable. */
	static const char *const bad_parallel[] = { "0", "-1", "two", "1025", "" };
	for (size_t i = 0; i < sizeof(bad_parallel) / sizeof(bad_parallel[0]); i++) {
		code = run_zlapply(t->root, NULL, &out, &err, "apply", "--parallel", bad_parallel[i],
				   "-f", spec);
		assert_exit(code, 2, out, err);
		assert_contains(err, "--parallel: expected a number of actions from 1 to 1024");
		free(out);
		free(err);
	}
	/* a spec asking for 4 replicas of demo (3 run): refused, 3 still run */
	char four[PATH_MAX];
	cli_write_web_spec(cli_path(t, "four.yaml", four), "demo", 4, NULL);
	code = run_zlapply_env(CLI_ENV("ZLAPPLY_PARALLEL=0"), t->root, NULL, &out, &err, "apply",
			       "-f", four);
	assert_exit(code, 2, out, err);
	assert_contains(err, "ZLAPPLY_PARALLEL: expected a number of actions");
	free(out);
	free(err);
	cJSON *doc = cli_status_json(t->root, "demo");
	assert_int_equal(cli_json_count(doc, "demo"), 3);
	cJSON_Delete(doc);
	code = run_zlapply_env(CLI_ENV("ZLAPPLY_PARALLEL=0"), t->root, NULL, &out, &err, "status");
	assert_exit(code, 0, out, err);
	free(out);
	free(err);

	/* $E:VAR of a variable that is not set: bad input naming service and key. */
	cli_path(t, "env.yaml", path);
	cli_write_file(path, "version: v1\n"
			     "deployment: demo\n"
			     "services:\n"
			     "  web:\n"
			     "    image: {name: \"nginx:1.25\"}\n"
			     "    env: {TOKEN: \"$E:ZLAPPLY_TEST_UNSET_VARIABLE\"}\n"
			     "    scale: {mode: fixed, replicas: 3}\n");
	code = run_zlapply(t->root, NULL, &out, &err, "-f", path);
	assert_exit(code, 2, out, err);
	assert_true(cli_has_line_with(err, "web", "TOKEN", "ZLAPPLY_TEST_UNSET_VARIABLE"));
	free(out);
	free(err);

	after = cli_snapshot(t->root);
	assert_same_text(before, after, "state after usage errors");
	free(before);
	free(after);

	/* With the variable set the same file applies: env changed. */
	code = run_zlapply_env(CLI_ENV("ZLAPPLY_TEST_UNSET_VARIABLE=s3cret"), t->root, NULL, &out,
			       &err, "-f", path);
	assert_exit(code, 0, out, err);
	assert_line(out, "~ recreate web-rep-1 (env changed)");
	assert_null(strstr(out, "s3cret"));
	assert_null(strstr(err, "s3cret"));
	free(out);
	free(err);
}

static void test_root_and_backend_from_environment(void **state)
{
	struct cli_tmp *t = *state;
	char spec[PATH_MAX], *out = NULL, *err = NULL, env_root[PATH_MAX + 16];
	cli_path(t, "demo.yaml", spec);
	cli_write_web_spec(spec, "demo", 2, NULL);
	snprintf(env_root, sizeof(env_root), "ZLAPPLY_ROOT=%s", t->root);
	const char *const *env = CLI_ENV(env_root, "ZLAPPLY_BACKEND=mock");
	int code = run_zlapply_env(env, NULL, NULL, &out, &err, "-v", "-f", spec);
	assert_exit(code, 0, out, err);
	assert_int_equal(cli_count_lines(out), 2);
	free(out);
	free(err);
	/* Visible through --root, and the other way round. */
	cJSON *doc = cli_status_json(t->root, "demo");
	assert_int_equal(cli_json_count(doc, "demo"), 2);
	cJSON_Delete(doc);
	code = run_zlapply_env(env, NULL, NULL, &out, &err, "status");
	assert_exit(code, 0, out, err);
	assert_true(cli_has_line_with(out, "demo", "web-rep-2", "running"));
	free(out);
	free(err);
	/* -v talks more on stderr, never on stdout. */
	code = run_zlapply(t->root, NULL, &out, &err, "-v", "-v", "-f", spec);
	assert_exit(code, 0, out, err);
	assert_string_equal(out, "");
	free(out);
	free(err);
}

/* ---- faults ---- */

static void test_failing_replica(void **state)
{
	struct cli_tmp *t = *state;
	char spec[PATH_MAX], *out = NULL, *err = NULL;
	cli_path(t, "demo.yaml", spec);
	cli_write_web_spec(spec, "demo", 3, NULL);

	int code = run_zlapply_env(CLI_ENV("ZLAPPLY_MOCK_FAIL=start:zl-demo-web-2"),
				   t->root, NULL, &out, &err, "-f", spec);
	assert_exit(code, 1, out, err);
	assert_contains(err, "web-rep-2");
	assert_contains(err, "injected");
	free(out);
	free(err);

	cJSON *doc = cli_status_json(t->root, "demo");
	assert_int_equal(cli_json_count(doc, "demo"), 3);
	assert_string_equal(cli_json_str(cli_json_replica(doc, "demo", "web", 1), "state"), "running");
	assert_string_equal(cli_json_str(cli_json_replica(doc, "demo", "web", 2), "state"), "failed");
	assert_string_equal(cli_json_str(cli_json_replica(doc, "demo", "web", 3), "state"), "running");
	cJSON_Delete(doc);
	code = run_zlapply(t->root, NULL, &out, &err, "status");
	assert_exit(code, 0, out, err);
	assert_true(cli_has_line_with(out, "web-rep-2", "failed"));
	assert_true(cli_has_line_with(out, "error:", "injected"));
	free(out);
	free(err);
	/* Nothing is left behind in the backend for the failed replica. */
	char **names;
	assert_int_equal(cli_mock_names(t->root, true, &names), 2);
	assert_string_equal(names[0], "zl-demo-web-1");
	assert_string_equal(names[1], "zl-demo-web-3");
	cli_names_free(names);
	assert_int_equal(cli_db_int(t->root, "SELECT COUNT(*) FROM journal WHERE status = 'pending'",
				    NULL),
			 0);

	/* Without the fault the next run converges. */
	code = run_zlapply(t->root, NULL, &out, &err, "-f", spec);
	assert_exit(code, 0, out, err);
	assert_int_equal(cli_action_index(out, "~ recreate web-rep-2"), 0);
	assert_int_equal(cli_count_lines(out), 1);
	free(out);
	free(err);
	doc = cli_status_json(t->root, "demo");
	for (int i = 1; i <= 3; i++)
		assert_string_equal(cli_json_str(cli_json_replica(doc, "demo", "web", i), "state"),
				    "running");
	cJSON_Delete(doc);
	assert_int_equal(cli_mock_names(t->root, true, NULL), 3);
	char *before = cli_snapshot(t->root);
	code = run_zlapply(t->root, NULL, &out, &err, "-f", spec);
	assert_exit(code, 0, out, err);
	assert_string_equal(out, "");
	free(out);
	free(err);
	char *after = cli_snapshot(t->root);
	assert_same_text(before, after, "state after converging again");
	free(before);
	free(after);

	/* Every create failing: exit 1, nothing left in the backend. */
	cli_write_web_spec(spec, "demo", 5, NULL);
	code = run_zlapply_env(CLI_ENV("ZLAPPLY_MOCK_FAIL=create:*"), t->root, NULL, &out, &err,
			       "-f", spec);
	assert_exit(code, 1, out, err);
	assert_contains(err, "web-rep-4");
	assert_contains(err, "web-rep-5");
	free(out);
	free(err);
	assert_int_equal(cli_mock_names(t->root, true, NULL), 3);
	assert_int_equal(cli_db_int(t->root, "SELECT COUNT(*) FROM replicas WHERE state = 'failed'",
				    NULL),
			 2);
	code = run_zlapply(t->root, NULL, &out, &err, "-f", spec);
	assert_exit(code, 0, out, err);
	assert_int_equal(cli_count_lines(out), 2);
	free(out);
	free(err);
	assert_int_equal(cli_mock_names(t->root, true, NULL), 5);
}

static void test_exited_replica_restarts(void **state)
{
	struct cli_tmp *t = *state;
	char spec[PATH_MAX], *out = NULL, *err = NULL;
	apply_web(t, "demo.yaml", "demo", 3, NULL, spec);

	struct zl_err zerr = ZL_ERR_INIT;
	if (backend_mock_set_exit(t->root, "zl-demo-web-1", 7, 0, &zerr) < 0)
		fail_msg("backend_mock_set_exit: %s", zerr.msg);

	if (backend_mock_set_exit(t->root, "zl-demo-web-3", 0, SIGKILL, &zerr) < 0)
		fail_msg("backend_mock_set_exit: %s", zerr.msg);
	char *before = cli_snapshot(t->root);

	cJSON *doc = cli_status_json(t->root, "demo");
	cJSON *r = cli_json_replica(doc, "demo", "web", 1);
	assert_non_null(r);
	assert_string_equal(cli_json_str(r, "state"), "exited");
	cJSON *ec = cJSON_GetObjectItemCaseSensitive(r, "exit_code");
	assert_true(cJSON_IsNumber(ec));
	assert_int_equal(ec->valueint, 7);
	assert_string_equal(cli_json_str(r, "exit_reason"), "exited");
	assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r, "pid")));
	assert_non_null(cli_json_str(r, "finished_at"));
	assert_string_equal(cli_json_str(cli_json_replica(doc, "demo", "web", 2), "state"), "running");
	r = cli_json_replica(doc, "demo", "web", 3);
	assert_string_equal(cli_json_str(r, "state"), "exited");
	assert_string_equal(cli_json_str(r, "exit_reason"), "signal");
	assert_string_equal(cli_json_str(r, "exit_signal"), "SIGKILL");
	cJSON_Delete(doc);
	int code = run_zlapply(t->root, NULL, &out, &err, "status");
	assert_exit(code, 0, out, err);
	assert_true(cli_has_line_with(out, "web-rep-1", "exited", " 7 "));
	assert_true(cli_has_line_with(out, "web-rep-3", "exited", "SIGKILL"));
	free(out);
	free(err);

	/* diff shows the restarts. */
	code = run_zlapply(t->root, NULL, &out, &err, "diff", "-f", spec);
	assert_exit(code, 0, out, err);
	assert_line(out, "> restart web-rep-1 (exited 7)");
	assert_line(out, "> restart web-rep-3 (killed by SIGKILL)");
	assert_int_equal(cli_count_lines(out), 2);
	free(out);
	free(err);
	/* status and diff only look. */
	char *after = cli_snapshot(t->root);
	assert_same_text(before, after, "state after status and diff");
	free(before);
	free(after);

	code = run_zlapply(t->root, NULL, &out, &err, "-f", spec);
	assert_exit(code, 0, out, err);
	assert_int_equal(cli_line_index(out, "> restart web-rep-1 (exited 7)"), 0);
	assert_int_equal(cli_line_index(out, "> restart web-rep-3 (killed by SIGKILL)"), 1);
	assert_int_equal(cli_count_lines(out), 2);
	free(out);
	free(err);

	doc = cli_status_json(t->root, "demo");
	r = cli_json_replica(doc, "demo", "web", 1);
	assert_string_equal(cli_json_str(r, "state"), "running");
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(r, "restarts")->valueint, 1);
	assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(r, "pid")));
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(cli_json_replica(doc, "demo", "web", 2),
							  "restarts")->valueint,
			 0);
	cJSON_Delete(doc);
	assert_int_equal(cli_db_int(t->root,
				    "SELECT restarts FROM replicas WHERE deployment = 'demo' AND idx = 1",
				    NULL),
			 1);
	/* The exit is on record as an event. */
	assert_true(cli_db_int(t->root,
			       "SELECT COUNT(*) FROM events WHERE deployment = 'demo' AND idx = 1 "
			       "AND kind = 'exited'",
			       NULL) >= 1);

	before = cli_snapshot(t->root);
	code = run_zlapply(t->root, NULL, &out, &err, "-f", spec);
	assert_exit(code, 0, out, err);
	assert_string_equal(out, "");
	free(out);
	free(err);
	after = cli_snapshot(t->root);
	assert_same_text(before, after, "state after the apply following a restart");
	free(before);
	free(after);
}

/* ---- restarts with back-off, jobs and cron ---- */

static const char jobs_spec[] = "version: v1\n"
				"deployment: demo\n"
				"services:\n"
				"  migrate:\n"
				"    rtype: job\n"
				"    image: {name: \"busybox:1.36\"}\n"
				"  backup:\n"
				"    rtype: cron\n"
				"    schedule: \"0 0 3 * * *\"\n"
				"    image: {name: \"busybox:1.36\"}\n"
				"  web:\n"
				"    image: {name: \"nginx:1.25\"}\n";

static void set_exit(const struct cli_tmp *t, const char *id, int code, int signo)
{
	struct zl_err zerr = ZL_ERR_INIT;
	if (backend_mock_set_exit(t->root, id, code, signo, &zerr) < 0)
		fail_msg("backend_mock_set_exit: %s", zerr.msg);
}

/* A crash loop: the first restart is immediate, the next crash backs off,
 * and status shows it as "backoff Ns" with the exit code. */
static void test_crash_loop_backoff_in_status(void **state)
{
	struct cli_tmp *t = *state;
	char spec[PATH_MAX], *out = NULL, *err = NULL;
	apply_web(t, "demo.yaml", "demo", 1, NULL, spec);
	set_exit(t, "zl-demo-web-1", 7, 0);
	int code = run_zlapply(t->root, NULL, &out, &err, "-f", spec);
	assert_exit(code, 0, out, err);
	assert_line(out, "> restart web-rep-1 (exited 7)");
	free(out);
	free(err);

	set_exit(t, "zl-demo-web-1", 7, 0);
	code = run_zlapply(t->root, NULL, &out, &err, "-f", spec);
	assert_exit(code, 0, out, err);
	assert_string_equal(out, ""); /* backing off: 10 s */
	free(out);
	free(err);
	code = run_zlapply(t->root, NULL, &out, &err, "status");
	assert_exit(code, 0, out, err);
	char *line = cli_find_line(out, (const char *const[]){ "web-rep-1", "backoff ", NULL });
	if (!line)
		fail_msg("no back-off in status:\n%s", out);
	int left = 0;
	if (sscanf(strstr(line, "backoff ") + 8, "%ds", &left) != 1 || left < 1 || left > 10)
		fail_msg("back-off left should be 1..10s: %s", line);
	assert_true(cli_has_line_with(out, "web-rep-1", " 7 ", " 1 "));
	free(line);
	free(out);
	free(err);

	cJSON *doc = cli_status_json(t->root, "demo");
	cJSON *r = cli_json_replica(doc, "demo", "web", 1);
	assert_string_equal(cli_json_str(r, "state"), "exited");
	assert_non_null(cli_json_str(r, "backoff_until"));
	cJSON *secs = cJSON_GetObjectItemCaseSensitive(r, "backoff_seconds");
	assert_true(cJSON_IsNumber(secs) && secs->valueint >= 1 && secs->valueint <= 10);
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(r, "exit_code")->valueint, 7);
	cJSON_Delete(doc);
	assert_true(cli_db_int(t->root, "SELECT backoff_until - finished_at FROM replicas", NULL) ==
		    10000);
}

static void test_jobs_cron_and_run(void **state)
{
	struct cli_tmp *t = *state;
	char spec[PATH_MAX], *out = NULL, *err = NULL;
	cli_path(t, "jobs.yaml", spec);
	cli_write_file(spec, jobs_spec);
	int code = run_zlapply(t->root, NULL, &out, &err, "-f", spec);
	assert_exit(code, 0, out, err);
	/* the cron service waits for 03:00; the job and the service start */
	assert_string_equal(out, "+ create migrate-rep-1\n+ create web-rep-1\n");
	free(out);
	free(err);

	/* the job fails: retried once at once, then backing off */
	set_exit(t, "zl-demo-migrate-1", 5, 0);
	code = run_zlapply(t->root, NULL, &out, &err, "-f", spec);
	assert_exit(code, 0, out, err);
	assert_string_equal(out, "> restart migrate-rep-1 (exited 5)\n");
	free(out);
	free(err);
	set_exit(t, "zl-demo-migrate-1", 0, 0);
	code = run_zlapply(t->root, NULL, &out, &err, "-f", spec);
	assert_exit(code, 0, out, err);
	assert_string_equal(out, ""); /* done */
	free(out);
	free(err);

	/* status: the runs with their exit codes, the cron's next run */
	code = run_zlapply(t->root, NULL, &out, &err, "status");
	assert_exit(code, 0, out, err);
	assert_true(cli_has_line_with(out, "migrate #1", " 5 ", "created"));
	assert_true(cli_has_line_with(out, "migrate #2", " 0 ", "exited 5"));
	assert_true(cli_has_line_with(out, "backup", "T03:00:00Z (in "));
	free(out);
	free(err);
	cJSON *doc = cli_status_json(t->root, "demo");
	cJSON *runs = cJSON_GetObjectItemCaseSensitive(doc, "runs");
	assert_int_equal(cJSON_GetArraySize(runs), 2);
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(runs, 0), "exit_code")
				 ->valueint,
			 5);
	assert_non_null(cli_json_str(cJSON_GetArrayItem(runs, 0), "log"));
	cJSON *sched = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "schedules"), 0);
	assert_string_equal(cli_json_str(sched, "service"), "backup");
	const char *next = cli_json_str(sched, "next_run");
	assert_non_null(next);
	assert_non_null(strstr(next, "T03:00:00Z"));
	cJSON_Delete(doc);

	/* zlapply run JOB waits for the run and exits with its result */
	struct cli_proc p;
	cli_spawn(t->root, NULL, NULL, (const char *const[]){ "run", "migrate", NULL }, &p);
	int64_t until = cli_mono_ms() + 10000;
	while (cli_db_int(t->root, "SELECT count(*) FROM runs WHERE cause = 'run requested'",
			  NULL) == 0) {
		if (cli_mono_ms() > until)
			fail_msg("zlapply run did not start the job");
		cli_sleep_ms(20);
	}
	set_exit(t, "zl-demo-migrate-1", 0, 0);
	code = cli_wait(&p, &out, &err);
	assert_exit(code, 0, out, err);
	assert_line(out, "~ recreate migrate-rep-1 (run requested)");
	assert_contains(out, "migrate-rep-1 exited 0");
	free(out);
	free(err);

	/* a failing run: exit 1 */
	cli_spawn(t->root, NULL, NULL, (const char *const[]){ "run", "migrate", NULL }, &p);
	until = cli_mono_ms() + 10000;
	while (cli_db_int(t->root, "SELECT count(*) FROM runs WHERE cause = 'run requested'",
			  NULL) < 2) {
		if (cli_mono_ms() > until)
			fail_msg("zlapply run did not start the job");
		cli_sleep_ms(20);
	}
	set_exit(t, "zl-demo-migrate-1", 4, 0);
	code = cli_wait(&p, &out, &err);
	assert_exit(code, 1, out, err);
	assert_contains(out, "migrate-rep-1 exited 4");
	free(out);
	free(err);

	/* --timeout: a run that does not end is stopped, exit 3, and not retried */
	code = run_zlapply(t->root, NULL, &out, &err, "run", "migrate", "--timeout", "1s");
	assert_exit(code, 3, out, err);
	assert_contains(err, "did not end within --timeout");
	free(out);
	free(err);
	code = run_zlapply(t->root, NULL, &out, &err, "status");
	assert_exit(code, 0, out, err);
	assert_true(cli_has_line_with(out, "migrate-rep-1", "stopped", "SIGTERM"));
	free(out);
	free(err);
	code = run_zlapply(t->root, NULL, &out, &err, "-f", spec);
	assert_exit(code, 0, out, err);
	assert_string_equal(out, "");
	free(out);
	free(err);
	assert_int_equal(cli_db_int(t->root, "SELECT count(*) FROM runs", NULL), 5);
	assert_int_equal(cli_db_int(t->root, "SELECT reason = 'timeout' FROM runs WHERE run_no = 5",
				    NULL),
			 1);

	/* a cron service runs on demand too, --detach returns at once */
	code = run_zlapply(t->root, NULL, &out, &err, "run", "backup", "--detach");
	assert_exit(code, 0, out, err);
	assert_string_equal(out, "+ create backup-rep-1 (run requested)\n");
	free(out);
	free(err);
	assert_int_equal(cli_db_int(t->root, "SELECT count(*) FROM replicas WHERE service = 'backup' "
					     "AND state = 'running'",
				    NULL),
			 1);

	/* bad requests: exit 2, nothing run */
	code = run_zlapply(t->root, NULL, &out, &err, "run", "web");
	assert_exit(code, 2, out, err);
	assert_contains(err, "only jobs");
	free(out);
	free(err);
	code = run_zlapply(t->root, NULL, &out, &err, "run", "nope");
	assert_exit(code, 2, out, err);
	assert_contains(err, "no service nope");
	free(out);
	free(err);
	code = run_zlapply(t->root, NULL, &out, &err, "run");
	assert_exit(code, 2, out, err);
	free(out);
	free(err);
	code = run_zlapply(t->root, NULL, &out, &err, "run", "migrate", "--detach", "--timeout", "1s");
	assert_exit(code, 2, out, err);
	free(out);
	free(err);
}

/* ---- version and help ---- */

static void test_version_and_help(void **state)
{
	(void)state;
	char *out = NULL, *err = NULL;
	int code = run_zlapply(NULL, NULL, &out, &err, "version");
	assert_exit(code, 0, out, err);
	assert_true(strncmp(out, "zlapply ", 8) == 0);
	free(out);
	free(err);

	static const char *const verbs[] = { "apply", "diff", "validate", "status", "ps",
					     "delete", "version", "help" };
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		code = run_zlapply(NULL, NULL, &out, &err, verbs[i], "--help");
		assert_exit(code, 0, out, err);
		assert_contains(out, "Usage");
		free(out);
		free(err);
		code = run_zlapply(NULL, NULL, &out, &err, "help", verbs[i]);
		assert_exit(code, 0, out, err);
		assert_contains(out, "Usage");
		free(out);
		free(err);
	}
	/* The overview lists every verb. */
	code = run_zlapply(NULL, NULL, &out, &err, "help");
	assert_exit(code, 0, out, err);
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(verbs[i], "ps") != 0)
			assert_true(cli_has_line_with(out, verbs[i]));
	assert_contains(out, "Exit codes");
	free(out);
	free(err);
	/* Without a verb, --help is the overview: every verb is listed. */
	code = run_zlapply(NULL, NULL, &out, &err, "--help");
	assert_exit(code, 0, out, err);
	assert_contains(out, "Usage");
	assert_contains(out, "diff");
	assert_contains(out, "Exit codes");
	free(out);
	free(err);
	code = run_zlapply(NULL, NULL, &out, &err, "-h");
	assert_exit(code, 0, out, err);
	assert_contains(out, "Usage");
	free(out);
	free(err);
	/* Flags are per verb: -o is status's. */
	code = run_zlapply(NULL, NULL, &out, &err, "validate", "-o", "json", "-f", "x.yaml");
	assert_exit(code, 2, out, err);
	free(out);
	free(err);

	code = run_zlapply(NULL, NULL, &out, &err, "");
	assert_exit(code, 2, out, err);
	free(out);
	free(err);
	struct cli_proc p;
	cli_spawn(NULL, NULL, NULL, (const char *const[]){ NULL }, &p);
	code = cli_wait(&p, &out, &err);
	assert_exit(code, 2, out, err);
	assert_contains(err, "Usage");
	free(out);
	free(err);
}

/* ---- two applies at once ---- */

/* Waits until <root>/lock names pid (the apply holds the lock). */
static void wait_lock_holder(const char *root, pid_t pid)
{
	char path[PATH_MAX];
	cli_pathf(path, "%s/lock", root);
	int64_t deadline = cli_mono_ms() + 10000;
	while (cli_mono_ms() < deadline) {
		char *text = cli_read_file(path);
		bool held = text && atol(text) == (long)pid;
		free(text);
		if (held)
			return;
		cli_sleep_ms(10);
	}
	fail_msg("pid %d never took %s", (int)pid, path);
}

static void test_concurrent_applies(void **state)
{
	struct cli_tmp *t = *state;
	char spec[PATH_MAX], *out = NULL, *err = NULL;
	cli_path(t, "demo.yaml", spec);
	cli_write_web_spec(spec, "demo", 5, NULL);

	struct cli_proc slow;
	cli_spawn(t->root, NULL, (const char *const[]){ "ZLAPPLY_MOCK_DELAY_MS=300", NULL },
		  (const char *const[]){ "-f", spec, NULL }, &slow);
	wait_lock_holder(t->root, slow.pid);

	/* A short wait gives up and names who holds the lock. */
	int64_t t0 = cli_mono_ms();
	int code = run_zlapply(t->root, NULL, &out, &err, "-f", spec, "--lock-timeout", "200ms");
	int64_t waited = cli_mono_ms() - t0;
	assert_exit(code, 4, out, err); /* the busy lock's own exit code */
	assert_contains(err, "lock");
	char pid_text[32];
	snprintf(pid_text, sizeof(pid_text), "pid %d", (int)slow.pid);
	assert_contains(err, pid_text);
	assert_string_equal(out, "");
	assert_true(waited >= 150 && waited < 2500);
	free(out);
	free(err);
	assert_int_equal(waitpid(slow.pid, NULL, WNOHANG), 0); /* still applying */

	/* A long wait gets the lock once the first is done, and finds nothing to do. */
	code = run_zlapply(t->root, NULL, &out, &err, "-f", spec, "--lock-timeout", "60s");
	assert_exit(code, 0, out, err);
	assert_string_equal(out, "");
	free(out);
	free(err);

	code = cli_wait(&slow, &out, &err);
	assert_exit(code, 0, out, err);
	assert_int_equal(cli_count_lines(out), 5);
	free(out);
	free(err);

	cJSON *doc = cli_status_json(t->root, NULL);
	assert_int_equal(cli_json_count(doc, "demo"), 5);
	cJSON_Delete(doc);
	assert_int_equal(cli_db_int(t->root, "SELECT COUNT(*) FROM replicas WHERE state = 'running'",
				    NULL),
			 5);
	assert_int_equal(cli_mock_names(t->root, true, NULL), 5);
	assert_int_equal(cli_db_int(t->root, "SELECT COUNT(*) FROM journal WHERE action = 'create'",
				    NULL),
			 5);
}

/* ---- small ones (issue 11, item 8) ---- */

/* status -d NAME of a deployment the root never recorded is an error that
 * says so; a recorded one with no replicas is an empty table. */
static void test_status_unknown_deployment(void **state)
{
	struct cli_tmp *t = *state;
	char *out = NULL, *err = NULL;
	/* No database at all. */
	int code = run_zlapply(t->root, NULL, &out, &err, "status", "-d", "nosuch");
	assert_exit(code, 1, out, err);
	assert_contains(err, "no deployment nosuch is recorded under");
	assert_string_equal(out, "");
	free(out);
	free(err);

	char path[PATH_MAX];
	apply_web(t, "web.yaml", "demo", 2, NULL, path);
	code = run_zlapply(t->root, NULL, &out, &err, "status", "-d", "demo-typo");
	assert_exit(code, 1, out, err);
	assert_contains(err, "no deployment demo-typo is recorded under");
	free(out);
	free(err);
	code = run_zlapply(t->root, NULL, &out, &err, "status", "-d", "demo-typo", "-o", "json");
	assert_exit(code, 1, out, err);
	free(out);
	free(err);

	/* Known, scaled to zero: no rows, no error. */
	apply_web(t, "web.yaml", "demo", 0, NULL, path);
	code = run_zlapply(t->root, NULL, &out, &err, "status", "-d", "demo");
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	cJSON *doc = cli_status_json(t->root, "demo");
	assert_int_equal(cli_json_count(doc, NULL), 0);
	cJSON_Delete(doc);
}

/* Unmounts what a test mounted under its directory, also after a failure. */
static int teardown_mounts(void **state)
{
	struct cli_tmp *t = *state;
	char path[PATH_MAX];
	umount2(cli_pathf(path, "%s/ro", t->dir), MNT_DETACH);
	umount2(cli_pathf(path, "%s/disk", t->dir), MNT_DETACH);
	return cli_tmp_teardown(state);
}

/* status writes nothing: it works on a full disk and on a read-only mount. */
static void test_status_on_full_disk(void **state)
{
	struct cli_tmp *t = *state;
	if (geteuid() != 0)
		skip();
	char disk[PATH_MAX], root[PATH_MAX], fill[PATH_MAX], ro[PATH_MAX], ro_root[PATH_MAX];
	cli_pathf(disk, "%s/disk", t->dir);
	cli_pathf(root, "%s/root", disk);
	cli_pathf(ro, "%s/ro", t->dir);
	cli_pathf(ro_root, "%s/root", ro);
	assert_int_equal(mkdir(disk, 0700), 0);
	assert_int_equal(mkdir(ro, 0700), 0);
	if (mount("zltest", disk, "tmpfs", 0, "size=2m") < 0)
		fail_msg("mount tmpfs on %s: %s", disk, strerror(errno));
	char spec[PATH_MAX];
	cli_path(t, "web.yaml", spec);
	cli_write_web_spec(spec, "demo", 3, NULL);
	char *out = NULL, *err = NULL;
	int code = run_zlapply(root, NULL, &out, &err, "apply", "-f", spec);
	assert_exit(code, 0, out, err);
	free(out);
	free(err);

	/* To the brim. */
	int fd = open(cli_pathf(fill, "%s/fill", disk), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	static const char block[4096];
	while (write(fd, block, sizeof(block)) > 0)
		;
	assert_int_equal(errno, ENOSPC);
	close(fd);
	/* Not even a byte more fits. */
	fd = open(fill, O_WRONLY | O_APPEND | O_CLOEXEC);
	assert_int_equal(write(fd, block, 1), -1);
	close(fd);

	code = run_zlapply(root, NULL, &out, &err, "status");
	assert_exit(code, 0, out, err);
	assert_int_equal(cli_count_lines(out), 4);
	assert_contains(out, "web-rep-3");
	free(out);
	free(err);
	cJSON *doc = cli_status_json(root, "demo");
	assert_int_equal(cli_json_count(doc, "demo"), 3);
	cJSON_Delete(doc);

	/* A read-only mount of the same root, without the -shm/-wal files a
	 * reader may have left. */
	char shm[PATH_MAX], wal[PATH_MAX];
	unlink(cli_pathf(shm, "%s/state.db-shm", root));
	unlink(cli_pathf(wal, "%s/state.db-wal", root));
	if (mount(disk, ro, NULL, MS_BIND, NULL) < 0 ||
	    mount(NULL, ro, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
		fail_msg("read-only bind mount of %s: %s", disk, strerror(errno));
	code = run_zlapply(ro_root, NULL, &out, &err, "status");
	assert_exit(code, 0, out, err);
	assert_int_equal(cli_count_lines(out), 4);
	free(out);
	free(err);
	code = run_zlapply(ro_root, NULL, &out, &err, "status", "-d", "nosuch");
	assert_exit(code, 1, out, err);
	assert_contains(err, "no deployment nosuch");
	free(out);
	free(err);
	assert_int_equal(umount2(ro, 0), 0);

	/* Space again: an apply writes as before. */
	unlink(fill);
	code = run_zlapply(root, NULL, &out, &err, "apply", "-f", spec);
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	assert_int_equal(umount2(disk, 0), 0);
}

/* logs -f --tail 0: nothing written before, what comes after (docker's). */
static void test_logs_follow_tail_0(void **state)
{
	struct cli_tmp *t = *state;
	char path[PATH_MAX], log[PATH_MAX];
	apply_web(t, "web.yaml", "demo", 1, NULL, path);
	cli_pathf(log, "%s/mock/zl-demo-web-1.log", t->root);
	char *before = cli_read_file(log);
	assert_non_null(before);
	assert_true(*before); /* the mock logs the start */

	char *out = NULL, *err = NULL;
	/* Without -f: nothing, at once. */
	int code = run_zlapply(t->root, NULL, &out, &err, "logs", "web-rep-1", "--tail", "0");
	assert_exit(code, 0, out, err);
	assert_string_equal(out, "");
	free(out);
	free(err);

	struct cli_proc p;
	cli_spawn(t->root, NULL, NULL,
		  (const char *const[]){ "logs", "web-rep-1", "-f", "--tail", "0", NULL }, &p);
	/* Lines come until the follower has shown one. */
	bool seen = false;
	for (int i = 0; i < 400 && !seen; i++) {
		FILE *f = fopen(log, "a");
		assert_non_null(f);
		fprintf(f, "tick %d\n", i);
		fclose(f);
		cli_sleep_ms(25);
		char *so_far = cli_read_file(p.out_path);
		seen = so_far && strstr(so_far, "tick");
		free(so_far);
	}
	struct zl_err zerr = ZL_ERR_INIT;
	if (backend_mock_set_exit(t->root, "zl-demo-web-1", 0, 0, &zerr) < 0)
		fail_msg("%s", zerr.msg);
	code = cli_wait(&p, &out, &err);
	assert_exit(code, 0, out, err);
	if (!seen || !strstr(out, "tick"))
		fail_msg("logs -f --tail 0 showed no new line:\n%s", out);
	for (char *line = strtok(before, "\n"); line; line = strtok(NULL, "\n"))
		if (cli_line_index(out, line) >= 0)
			fail_msg("logs -f --tail 0 showed \"%s\", written before it started:\n%s", line,
				 out);
	free(before);
	free(out);
	free(err);
}

/* ---- a long depends chain is linear ---- */

static void write_chain(const char *path, int n)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "version: v1\ndeployment: chain\nservices:\n");
	for (int i = 1; i <= n; i++) {
		fprintf(f, "  s%d:\n    image: {name: \"busybox:1\"}\n"
			   "    scale: {mode: fixed, replicas: 1}\n", i);
		if (i > 1)
			fprintf(f, "    depends:\n      - {service: s%d, condition: started}\n", i - 1);
	}
	assert_int_equal(fclose(f), 0);
}

/* Runs zlapply ARGS (with --root/--backend mock when root) and returns its
 * exit code; *io gets how many read and write system calls it made: its
 * /proc/PID/io, read while it is a zombie. -1 when the kernel keeps no
 * such count. */
static int run_counting_io(const char *root, const char *const *args, long long *io)
{
	struct cli_proc p;
	cli_spawn(root, NULL, NULL, args, &p);
	siginfo_t si;
	while (waitid(P_PID, (id_t)p.pid, &si, WEXITED | WNOWAIT) < 0)
		if (errno != EINTR)
			fail_msg("waitid: %s", strerror(errno));
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/io", (int)p.pid);
	char *text = cli_read_file(path);
	long long r = -1, w = -1;
	const char *s;
	if (text && (s = strstr(text, "syscr: ")))
		r = atoll(s + 7);
	if (text && (s = strstr(text, "syscw: ")))
		w = atoll(s + 7);
	free(text);
	*io = r >= 0 && w >= 0 ? r + w : -1;
	char *out = NULL, *err = NULL;
	int code = cli_wait(&p, &out, &err);
	if (code != 0)
		fail_msg("zlapply %s: exit %d\n%s%s", args[0], code, out, err);
	free(out);
	free(err);
	return code;
}

/* 2,000 services, each depending on the one before: validate, plan (--dry-run),
 * apply and the no-op apply do twice the work of 1,000, not four times.
 * Work is counted, not timed: the read and write system calls of each run.
 * Each dependency gate used to load and refresh every replica of the
 * deployment (4.1x from 1,000 to 2,000). */
static void test_depends_chain_linear(void **state)
{
	struct cli_tmp *t = *state;
	static const char *const steps[] = { "validate", "--dry-run", "apply", "no-op apply" };
	long long work[2][4];
	int sizes[2] = { 1000, 2000 };
	for (int k = 0; k < 2; k++) {
		char spec[PATH_MAX], root[PATH_MAX], name[64];
		snprintf(name, sizeof(name), "chain-%d.yaml", sizes[k]);
		write_chain(cli_path(t, name, spec), sizes[k]);
		cli_pathf(root, "%s/root-%d", t->dir, sizes[k]);
		run_counting_io(NULL, (const char *const[]){ "validate", "-f", spec, NULL }, &work[k][0]);
		run_counting_io(root, (const char *const[]){ "apply", "--dry-run", "-q", "-f", spec, NULL },
				&work[k][1]);
		run_counting_io(root, (const char *const[]){ "apply", "-q", "-f", spec, NULL },
				&work[k][2]);
		run_counting_io(root, (const char *const[]){ "apply", "-q", "-f", spec, NULL },
				&work[k][3]);
		if (work[k][2] < 0)
			skip(); /* no /proc/PID/io */
		char *out = NULL, *err = NULL;
		int code = run_zlapply(root, NULL, &out, &err, "status", "-d", "chain");
		assert_exit(code, 0, out, err);
		assert_int_equal(cli_count_lines(out), (size_t)sizes[k] + 1);
		if (strstr(out, "failed") || strstr(out, "creating"))
			fail_msg("not every replica runs:\n%.2000s", out);
		free(out);
		free(err);
	}
	for (int s = 0; s < 4; s++) {
		double ratio = (double)work[1][s] / (double)(work[0][s] > 0 ? work[0][s] : 1);
		print_message("depends chain, %-11s: %lld system calls for 1000 services, %lld for 2000: "
			      "x%.2f\n",
			      steps[s], work[0][s], work[1][s], ratio);
		if (ratio > 2.5)
			fail_msg("%s of a 2,000-service chain does %.2f times the work of 1,000 "
				 "(%lld vs %lld read/write calls): not linear",
				 steps[s], ratio, work[1][s], work[0][s]);
	}
}

/* ---- hostile input (issue 14): bounded, refused, state untouched ---- */

static void write_bytes(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len || close(fd) < 0)
		fail_msg("write %s: %s", path, strerror(errno));
}

/* Runs zlapply ARGS [--root ROOT --backend mock] with stdin from stdin_path
 * (NULL: /dev/null). One that is still running after deadline_ms is killed
 * and fails the test: it hung (as it did on a FIFO). */
static int run_deadline(const char *root, const char *stdin_path, int64_t deadline_ms, char **out,
			char **err, const char *const *args)
{
	char out_path[] = "/tmp/zlcli-out-XXXXXX", err_path[] = "/tmp/zlcli-err-XXXXXX";
	int out_fd = mkstemp(out_path), err_fd = mkstemp(err_path);
	int in_fd = open(stdin_path ? stdin_path : "/dev/null", O_RDONLY | O_CLOEXEC);
	if (out_fd < 0 || err_fd < 0 || in_fd < 0)
		fail_msg("open: %s", strerror(errno));
	const char *argv[32];
	size_t n = 0;
	argv[n++] = cli_bin();
	for (size_t i = 0; args[i]; i++)
		argv[n++] = args[i];
	if (root) {
		argv[n++] = "--root";
		argv[n++] = root;
		argv[n++] = "--backend";
		argv[n++] = "mock";
	}
	argv[n] = NULL;
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0)
		fail_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
			_exit(126);
		unsetenv("ZLAPPLY_ROOT");
		unsetenv("ZLAPPLY_BACKEND");
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(in_fd);
	close(out_fd);
	close(err_fd);
	int status = 0;
	int64_t end = cli_mono_ms() + deadline_ms;
	pid_t r;
	while ((r = waitpid(pid, &status, WNOHANG)) == 0 && cli_mono_ms() < end)
		cli_sleep_ms(20);
	if (r != pid) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		char *e = cli_read_file(err_path);
		unlink(out_path);
		unlink(err_path);
		fail_msg("zlapply %s %s still ran after %lld ms (it hangs):\n%s", args[0], args[1],
			 (long long)deadline_ms, e ? e : "");
	}
	*out = cli_read_file(out_path);
	*err = cli_read_file(err_path);
	unlink(out_path);
	unlink(err_path);
	assert_non_null(*out);
	assert_non_null(*err);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* `apply -f path` (stdin from stdin_path) is bad input: exit 2 within 20 s
 * with the line want on stderr (and, for a spec problem, the summary), and
 * the state (database rows and mock containers) is what it was. */
static void expect_refused(const struct cli_tmp *t, const char *before, const char *verb,
			   const char *path, const char *stdin_path, const char *want, bool summary)
{
	char *out = NULL, *err = NULL;
	int code = run_deadline(strcmp(verb, "validate") ? t->root : NULL, stdin_path, 20000, &out, &err,
				(const char *const[]){ verb, "-f", path, NULL });
	assert_exit(code, 2, out, err);
	assert_line(err, want);
	if (summary) {
		assert_line(err, "zlapply: error: 1 problem in the spec; nothing was changed");
		assert_int_equal(cli_count_lines(err), 2);
	}
	assert_string_equal(out, "");
	free(out);
	free(err);
	char *after = cli_snapshot(t->root);
	assert_same_text(before, after, want);
	free(after);
}

static void test_hostile_input(void **state)
{
	struct cli_tmp *t = *state;
	char spec[PATH_MAX], path[PATH_MAX], want[3 * PATH_MAX + 512];
	/* A running deployment that each bad spec below would change. */
	apply_web(t, "demo.yaml", "demo", 3, NULL, spec);
	char *before = cli_snapshot(t->root);
	assert_int_equal(cli_db_int(t->root, "SELECT COUNT(*) FROM replicas WHERE state = 'running'", NULL), 3);

	/* A NUL byte in a value cut it where it was: the deployment "demo\0x"
	 * ran as "demo", the env value, command args, the image and a bind
	 * source were cut. Now each is an error at its place. */
	static const struct { const char *name, *svc, *where; } nul[] = {
		{ "nul-name", "", "2:13: deployment" },
		{ "nul-env", "    env: {GREETING: \"hi\\0there\"}\n", "6:21: services.web.env.GREETING" },
		{ "nul-args", "    command: [\"echo\", \"ok\\x00; rm -rf /\"]\n", "6:23: services.web.command[1]" },
		{ "nul-image", "    image: \"nginx:1.25\\u0000evil\"\n", "6:12: services.web.image" },
		{ "nul-bind", "    storage: [{type: bind, source: \"/srv\\0/../etc\", target: /data}]\n",
		  "6:36: services.web.storage[0].source" },
	};
	for (size_t i = 0; i < sizeof(nul) / sizeof(nul[0]); i++) {
		char text[1024];
		snprintf(text, sizeof(text), "version: v1\ndeployment: %s\nservices:\n  web:\n"
			 "    scale: {mode: fixed, replicas: 3}\n%s",
			 i == 0 ? "\"demo\\0x\"" : "demo", nul[i].svc);
		if (i == 0)
			strcat(text, "    image: {name: \"nginx:1.25\"}\n");
		char name[64];
		snprintf(name, sizeof(name), "%s.yaml", nul[i].name);
		cli_path(t, name, path);
		cli_write_file(path, text);
		snprintf(want, sizeof(want), "%s:%s: a NUL byte (\\0) is not allowed in a value", path, nul[i].where);
		expect_refused(t, before, "apply", path, NULL, want, true);
	}
	/* Specs validate called valid and every apply refused, replica by
	 * replica, without a place (and keeping their leases): now validate,
	 * diff and apply refuse them alike, at their place, changing nothing.
	 * The last two depend on this host (validate --spec-only lets them
	 * through). */
	static const struct { const char *svc, *want; bool host; } refused[] = {
		{ "port_mappings: [{host_port: 8080, container_port: 80}, {host_port: 8080, container_port: 81}]",
		  "7:72: services.web.port_mappings[1].host_port: host port 8080/tcp is published twice, to 80 and 81 (also port_mappings[0])", false },
		{ "storage: [{type: anonymous, target: /}]",
		  "7:41: services.web.storage[0].target: expected an absolute path other than / without . or .. components, got \"/\"", false },
		{ "storage: [{type: anonymous, target: /a/../b}]",
		  "7:41: services.web.storage[0].target: expected an absolute path other than / without . or .. components, got \"/a/../b\"", false },
		{ "hostname: \"bad_host!\"",
		  "7:15: services.web.hostname: expected letters, digits, '.', '-' and '_', got \"bad_host!\"", false },
		{ "devices: [{path: /dev/../etc/passwd}]",
		  "7:22: services.web.devices[0].path: expected a device path under /dev/ without . or .. components, got \"/dev/../etc/passwd\"", false },
		{ "user: \"4294967295\"", "7:11: services.web.user: a numeric id must be 0..4294967294, got \"4294967295\"", false },
		{ "command: {entrypoint: [], args: []}",
		  "7:14: services.web.command: no command: entrypoint and args are both empty, which clears the image's too", false },
		{ "resources: {memory: 4Mi}", "7:25: services.web.resources.memory: 4Mi is below the 6Mi a container needs", false },
		{ "resources: {memory: 16Mi, memory_reservation: 32Mi}",
		  "7:51: services.web.resources.memory_reservation: 32Mi is above the memory limit 16Mi", false },
		{ "resources: {cpu: 0.005}", "7:22: services.web.resources.cpu: 0.005 is below the minimum 0.01", false },
		{ "capabilities: [NET_FOO]",
		  "7:20: services.web.capabilities[0]: unknown capability \"NET_FOO\" (expected a name such as NET_ADMIN or CAP_NET_ADMIN, or ALL)", false },
		{ "security_opt: [seccomp=relative.json]",
		  "7:20: services.web.security_opt[0]: expected seccomp=unconfined, seccomp=builtin or seccomp=/absolute/path/to/profile.json (Docker's format), got \"seccomp=relative.json\"", false },
		{ "storage: [{type: s3, bucket: b, target: /b}]",
		  "7:22: services.web.storage[0].type: storage type s3 is not supported: no backend of zlapply mounts buckets (mount it on the host and use type bind)", false },
		{ "storage: [{type: bind, source: /nonexistent/zl-src, target: /d}]",
		  "7:36: services.web.storage[0].source: bind source /nonexistent/zl-src: does not exist on this host", true },
		{ "devices: [{path: /dev/shm}]", "7:22: services.web.devices[0].path: /dev/shm is not a device but a directory", true },
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		char text[1024], name[64];
		snprintf(text, sizeof(text), "version: v1\ndeployment: demo\nservices:\n  web:\n"
			 "    scale: {mode: fixed, replicas: 3}\n    image: {name: \"nginx:1.25\"}\n    %s\n",
			 refused[i].svc);
		snprintf(name, sizeof(name), "refused-%zu.yaml", i);
		cli_path(t, name, path);
		cli_write_file(path, text);
		snprintf(want, sizeof(want), "%s:%s", path, refused[i].want);
		expect_refused(t, before, "validate", path, NULL, want, true);
		expect_refused(t, before, "diff", path, NULL, want, true);
		expect_refused(t, before, "apply", path, NULL, want, true);
		char *out = NULL, *err = NULL;
		int code = run_zlapply(NULL, NULL, &out, &err, "validate", "--spec-only", "-f", path);
		assert_exit(code, refused[i].host ? 0 : 2, out, err);
		free(out);
		free(err);
	}

	/* A raw NUL byte. */
	static const char raw[] = "version: v1\ndeployment: demo\0x\nservices: {}\n";
	cli_path(t, "raw-nul.yaml", path);
	write_bytes(path, raw, sizeof(raw) - 1);
	snprintf(want, sizeof(want), "%s:2:17: a NUL byte (\\0) is not allowed in a spec file", path);
	expect_refused(t, before, "apply", path, NULL, want, true);

	/* 100,000 levels of {a: ...} in 0.5 MB: 54 s to validate before. */
	struct zl_buf b = { 0 };
	zl_buf_puts(&b, "version: v1\ndeployment: demo\nservices: {}\nexternals: {x: ");
	for (int i = 0; i < 100000; i++)
		zl_buf_puts(&b, "{a: ");
	for (int i = 0; i < 100000; i++)
		zl_buf_puts(&b, "}");
	zl_buf_puts(&b, "}\n");
	cli_path(t, "deep.yaml", path);
	write_bytes(path, b.data, b.len);
	zl_buf_free(&b);
	zl_buf_puts(&b, "externals.x");
	for (int i = 0; i < 62; i++)
		zl_buf_puts(&b, ".a");
	snprintf(want, sizeof(want), "%s:4:264: %s: lists and mappings nested deeper than 64 levels, the most "
		 "a spec can have", path, b.data);
	zl_buf_free(&b);
	int64_t t0 = cli_mono_ms();
	expect_refused(t, before, "validate", path, NULL, want, true);
	if (cli_mono_ms() - t0 > 10000)
		fail_msg("the 100k-level file took %lld ms", (long long)(cli_mono_ms() - t0));
	expect_refused(t, before, "apply", path, NULL, want, true);

	/* Past 16 MiB: an error at the first byte past the limit. */
	char *big = malloc((17 << 20) + 1);
	assert_non_null(big);
	for (size_t i = 0; i < (17 << 20); i += 64) {
		memset(big + i, 'x', 63);
		big[i] = '#';
		big[i + 63] = '\n';
	}
	cli_path(t, "big.yaml", path);
	write_bytes(path, big, 17 << 20);
	free(big);
	snprintf(want, sizeof(want), "%s:262145:1: the file goes on past 16 MiB (16777216 bytes), the most a "
		 "spec file can be", path);
	expect_refused(t, before, "apply", path, NULL, want, true);

	/* An endless stream: -f /dev/zero is a device, refused unopened; on
	 * stdin (-f - stays allowed) it is read up to the limit. 400 MB/s of
	 * memory with no end before. */
	expect_refused(t, before, "apply", "/dev/zero", NULL,
		       "/dev/zero: refused: not a regular file but a character device; nothing was read from it "
		       "(a stream goes to -f -, stdin)", true);
	expect_refused(t, before, "apply", "-", "/dev/zero",
		       "-:1:16777217: the input goes on past 16 MiB (16777216 bytes), the most a spec file can be", true);

	/* A FIFO nobody writes to: refused, not waited on; in a directory too. */
	char dir[PATH_MAX];
	cli_path(t, "specs", dir);
	assert_int_equal(mkdir(dir, 0755), 0);
	cli_pathf(path, "%s/b.yaml", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	snprintf(want, sizeof(want), "%s: refused: not a regular file but a FIFO (named pipe); nothing was read "
		 "from it (a stream goes to -f -, stdin)", path);
	expect_refused(t, before, "apply", path, NULL, want, true);
	char good[PATH_MAX];
	cli_pathf(good, "%s/a.yaml", dir);
	cli_write_web_spec(good, "demo", 3, NULL);
	expect_refused(t, before, "apply", dir, NULL, want, true);

	/* A secret that is a FIFO hung diff and apply forever; one with a NUL
	 * was cut there. Both are errors naming the service, key and secret. */
	char secrets[PATH_MAX], secret[PATH_MAX];
	cli_pathf(secrets, "%s/secrets", t->root);
	assert_int_equal(mkdir(secrets, 0700), 0);
	cli_pathf(secret, "%s/tok", secrets);
	assert_int_equal(mkfifo(secret, 0600), 0);
	cli_path(t, "secret.yaml", path);
	cli_write_web_spec(path, "demo", 3, "$S:tok");
	snprintf(want, sizeof(want), "zlapply: error: %s: deployment demo: service web: env GREETING: secret "
		 "\"tok\" (%s) is not a regular file but a FIFO (named pipe): refused without reading it",
		 path, secret);
	expect_refused(t, before, "diff", path, NULL, want, false);
	expect_refused(t, before, "apply", path, NULL, want, false);
	unlink(secret);
	write_bytes(secret, "abc\0def\n", 8);
	snprintf(want, sizeof(want), "zlapply: error: %s: deployment demo: service web: env GREETING: secret "
		 "\"tok\" contains a NUL byte (\\0), which an environment variable cannot hold", path);
	expect_refused(t, before, "diff", path, NULL, want, false);
	expect_refused(t, before, "apply", path, NULL, want, false);

	/* A file: image that is a FIFO hung its import. */
	char module[PATH_MAX], ref[PATH_MAX + 8];
	cli_path(t, "module.wasm", module);
	assert_int_equal(mkfifo(module, 0600), 0);
	snprintf(ref, sizeof(ref), "file:%s", module);
	char *out = NULL, *err = NULL;
	int code = run_deadline(t->root, NULL, 20000, &out, &err, (const char *const[]){ "pull", ref, NULL });
	assert_exit(code, 2, out, err);
	snprintf(want, sizeof(want), "zlapply: error: pull %s: %s is not a regular file but a FIFO (named pipe): "
		 "refused without reading it", ref, module);
	assert_line(err, want);
	free(out);
	free(err);
	char *after = cli_snapshot(t->root);
	assert_same_text(before, after, "state after pulling a FIFO");
	free(after);
	free(before);
}

/* The integration tests (and bench/) never take addresses from zlapply's
 * default subnet 10.213.0.0/16: a live zl0 would lose its routes while they
 * run. Code is checked, comments (lines starting with #, * or //) are not. */
static void test_test_subnets_outside_default(void **state)
{
	(void)state;
	const char *src = cli_source_root();
	static const char *const patterns[] = { "tests/integration/*.c", "tests/integration/*.h",
						"bench/*.sh", "tests/infra/*.sh" };
	static const char inside[] = "10.2" "13."; /* not spelled whole: this file is read too */
	struct zl_buf bad = { 0 };
	size_t files = 0;
	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
		char pat[PATH_MAX];
		glob_t gl;
		if (glob(cli_pathf(pat, "%s/%s", src, patterns[i]), 0, NULL, &gl) != 0)
			continue;
		for (size_t k = 0; k < gl.gl_pathc; k++, files++) {
			char *text = cli_read_file(gl.gl_pathv[k]);
			assert_non_null(text);
			int line = 1;
			bool comment = false;
			for (const char *p = text; *p; p++) {
				if (p == text || p[-1] == '\n') {
					size_t blank = strspn(p, " \t");
					comment = p[blank] == '#' || p[blank] == '*' ||
						  strncmp(p + blank, "//", 2) == 0 ||
						  strncmp(p + blank, "/*", 2) == 0;
				}
				if (*p == '\n')
					line++;
				/* Naming the default itself ("outside 10.213.0.0/16") is fine. */
				if (!comment && strncmp(p, inside, 7) == 0 &&
				    strncmp(p + 7, "0.0/16", 6) != 0)
					zl_buf_printf(&bad, "%s:%d: %.24s\n", gl.gl_pathv[k], line, p);
			}
			free(text);
		}
		globfree(&gl);
	}
	assert_true(files > 10);
	if (bad.len)
		fail_msg("addresses inside the default subnet 10.213.0.0/16:\n%s", bad.data);
	zl_buf_free(&bad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_apply_three_replicas, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_status_empty_root, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_reapply_changes_nothing, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_scale_up_and_down, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_env_change_diff_dry_run_apply, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_dry_run_on_empty_root, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_dropped_service_and_other_deployment, cli_tmp_setup,
						cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_delete, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_stdin, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_directory_and_multi_document, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_validate_fixture, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_spec_fixtures, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_bad_input, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_root_and_backend_from_environment, cli_tmp_setup,
						cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_failing_replica, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_exited_replica_restarts, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_crash_loop_backoff_in_status, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_jobs_cron_and_run, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_version_and_help, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_applies, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_status_unknown_deployment, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_status_on_full_disk, cli_tmp_setup, teardown_mounts),
		cmocka_unit_test_setup_teardown(test_logs_follow_tail_0, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_depends_chain_linear, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_test_subnets_outside_default, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_hostile_input, cli_tmp_setup, cli_tmp_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
