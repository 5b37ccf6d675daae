/* test_cli_crash.c: zlapply killed mid-apply (SIGKILL, no chance to clean
 * up), then run again: the second run must finish what the first left
 * half-done. No duplicate replicas, no orphan containers in the backend, no
 * pending journal entries, every replica running.
 *
 * The mock backend sleeps ZLAPPLY_MOCK_DELAY_MS before every create and
 * start, and two actions run at once (ZLAPPLY_PARALLEL=2, whatever the
 * cores), so a 10-replica apply takes about 2 s and a kill at 150, 450 or
 * 750 ms lands at different points of it (inside the first creates,
 * between waves of workers, in a later start).
 */
#include "cli-helpers.h"

#define REPLICAS 10

/* Everything that must hold after a recovering apply. */
static void check_converged(const char *root)
{
	/* One row per replica, every one running, unique backend ids. */
	assert_int_equal(cli_db_int(root, "SELECT COUNT(*) FROM replicas", NULL), REPLICAS);
	assert_int_equal(cli_db_int(root, "SELECT COUNT(DISTINCT service || '/' || idx) FROM replicas",
				    NULL),
			 REPLICAS);
	assert_int_equal(cli_db_int(root, "SELECT COUNT(DISTINCT backend_id) FROM replicas", NULL),
			 REPLICAS);
	assert_int_equal(cli_db_int(root,
				    "SELECT COUNT(*) FROM replicas WHERE state = 'running' AND "
				    "idx BETWEEN 1 AND 10 AND backend_id = 'zl-crash-web-' || idx",
				    NULL),
			 REPLICAS);
	if (cli_db_int(root, "SELECT COUNT(*) FROM journal WHERE status = 'pending'", NULL) != 0) {
		char *dump = cli_db_dump(root, NULL);
		fail_msg("pending journal entries left after recovery:\n%s", dump);
	}

	/* The backend holds exactly those ten, each running. */
	char **names;
	size_t n = cli_mock_names(root, true, &names);
	if (n != REPLICAS) {
		char list[2048] = "";
		for (size_t i = 0; names[i]; i++) {
			strncat(list, " ", sizeof(list) - strlen(list) - 1);
			strncat(list, names[i], sizeof(list) - strlen(list) - 1);
		}
		fail_msg("%zu containers in %s/mock, expected %d:%s", n, root, REPLICAS, list);
	}
	for (size_t i = 0; names[i]; i++) {
		char path[PATH_MAX];
		cli_pathf(path, "%s/mock/%s", root, names[i]);
		char *rec = cli_read_file(path);
		assert_non_null(rec);
		if (!strstr(rec, "status=running\n"))
			fail_msg("%s is not running:\n%s", names[i], rec);
		free(rec);
		assert_int_equal(cli_db_int(root, "SELECT COUNT(*) FROM replicas WHERE backend_id = ?1",
					    names[i]),
				 1);
	}
	cli_names_free(names);

	/* What the user sees. */
	cJSON *doc = cli_status_json(root, "crash");
	assert_int_equal(cli_json_count(doc, "crash"), REPLICAS);
	for (int i = 1; i <= REPLICAS; i++) {
		cJSON *r = cli_json_replica(doc, "crash", "web", i);
		if (!r)
			fail_msg("web-rep-%d missing from status", i);
		assert_string_equal(cli_json_str(r, "state"), "running");
		assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(r, "pid")));
	}
	cJSON_Delete(doc);
}

static void test_kill_mid_apply(void **state)
{
	struct cli_tmp *t = *state;
	static const int kill_after_ms[] = { 150, 450, 750 };

	for (size_t k = 0; k < sizeof(kill_after_ms) / sizeof(kill_after_ms[0]); k++) {
		char root[PATH_MAX], spec[PATH_MAX], name[32];
		snprintf(name, sizeof(name), "root-%d", kill_after_ms[k]);
		cli_path(t, name, root);
		cli_path(t, "crash.yaml", spec);
		cli_write_web_spec(spec, "crash", REPLICAS, "hello");

		struct cli_proc slow;
		cli_spawn(root, NULL,
			  (const char *const[]){ "ZLAPPLY_MOCK_DELAY_MS=200", "ZLAPPLY_PARALLEL=2", NULL },
			  (const char *const[]){ "-f", spec, NULL }, &slow);
		cli_sleep_ms(kill_after_ms[k]);
		assert_int_equal(kill(slow.pid, SIGKILL), 0);
		char *out = NULL, *err = NULL;
		int code = cli_wait(&slow, &out, &err);
		/* It must really have died mid-apply (10 x 400 ms of backend
		 * work, two at a time). */
		if (code != 128 + SIGKILL)
			fail_msg("kill after %d ms: the apply was not killed (exit %d)\n%s%s",
				 kill_after_ms[k], code, out, err);
		size_t started = cli_count_lines(out);
		free(out);
		free(err);
		size_t in_backend = cli_mock_names(root, true, NULL);
		char db[PATH_MAX];
		int64_t pending = access(cli_db_path(root, db), F_OK) == 0
					  ? cli_db_int(root,
						       "SELECT COUNT(*) FROM journal WHERE status = 'pending'",
						       NULL)
					  : -1;
		print_message("killed after %d ms: %zu actions begun, %zu containers in the backend, "
			      "%lld pending journal entries\n",
			      kill_after_ms[k], started, in_backend, (long long)pending);
		assert_true(in_backend < REPLICAS);

		/* Looking at a crashed state is safe and changes nothing. */
		char *before = cli_snapshot(root);
		code = run_zlapply(root, NULL, &out, &err, "status");
		assert_exit(code, 0, out, err);
		free(out);
		free(err);
		code = run_zlapply(root, NULL, &out, &err, "diff", "-f", spec);
		assert_exit(code, 0, out, err);
		free(out);
		free(err);
		char *after = cli_snapshot(root);
		if (strcmp(before, after) != 0)
			fail_msg("status/diff changed a crashed state:\n--- before:\n%s\n--- after:\n%s",
				 before, after);
		free(before);
		free(after);

		/* The next run, without the delay, recovers and converges. */
		code = run_zlapply(root, NULL, &out, &err, "-f", spec);
		assert_exit(code, 0, out, err);
		free(out);
		free(err);
		check_converged(root);

		/* And then it is a no-op. */
		before = cli_snapshot(root);
		code = run_zlapply(root, NULL, &out, &err, "-f", spec);
		assert_exit(code, 0, out, err);
		assert_string_equal(out, "");
		free(out);
		free(err);
		after = cli_snapshot(root);
		if (strcmp(before, after) != 0)
			fail_msg("the apply after recovery changed state:\n--- before:\n%s\n--- after:\n%s",
				 before, after);
		free(before);
		free(after);
	}
}

/* A crash in the middle of a rolling recreate (env changed) must not leave
 * an old and a new container for the same replica. */
static void test_kill_mid_recreate(void **state)
{
	struct cli_tmp *t = *state;
	char spec[PATH_MAX], *out = NULL, *err = NULL;
	cli_path(t, "crash.yaml", spec);
	cli_write_web_spec(spec, "crash", REPLICAS, "hello");
	int code = run_zlapply(t->root, NULL, &out, &err, "-f", spec);
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	char *old_hash = cli_db_text(t->root, "SELECT spec_hash FROM replicas WHERE idx = 1", NULL);

	cli_write_web_spec(spec, "crash", REPLICAS, "goodbye");
	struct cli_proc slow;
	cli_spawn(t->root, NULL, (const char *const[]){ "ZLAPPLY_MOCK_DELAY_MS=100", NULL },
		  (const char *const[]){ "-f", spec, NULL }, &slow);
	cli_sleep_ms(550);
	assert_int_equal(kill(slow.pid, SIGKILL), 0);
	code = cli_wait(&slow, &out, &err);
	assert_int_equal(code, 128 + SIGKILL);
	free(out);
	free(err);

	code = run_zlapply(t->root, NULL, &out, &err, "-f", spec);
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	check_converged(t->root);
	/* Every replica now runs the new spec. */
	assert_int_equal(cli_db_int(t->root, "SELECT COUNT(*) FROM replicas WHERE spec_hash = ?1",
				    old_hash),
			 0);
	assert_int_equal(cli_db_int(t->root, "SELECT COUNT(DISTINCT spec_hash) FROM replicas", NULL),
			 1);
	char *new_hash = cli_db_text(t->root, "SELECT spec_hash FROM services", NULL);
	assert_non_null(new_hash);
	assert_string_not_equal(new_hash, old_hash);
	assert_int_equal(cli_db_int(t->root, "SELECT COUNT(*) FROM replicas WHERE spec_hash = ?1",
				    new_hash),
			 REPLICAS);
	/* The backend's containers were made from the new spec too. */
	char want[160];
	snprintf(want, sizeof(want), "spec_hash=%s\n", new_hash);
	char **names;
	cli_mock_names(t->root, true, &names);
	for (size_t i = 0; names[i]; i++) {
		char path[PATH_MAX];
		cli_pathf(path, "%s/mock/%s", t->root, names[i]);
		char *rec = cli_read_file(path);
		if (!rec || !strstr(rec, want))
			fail_msg("%s was not recreated from the new spec:\n%s", names[i], rec);
		free(rec);
	}
	cli_names_free(names);
	free(new_hash);
	free(old_hash);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_kill_mid_apply, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_kill_mid_recreate, cli_tmp_setup, cli_tmp_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
