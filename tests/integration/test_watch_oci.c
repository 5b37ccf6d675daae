/* test_watch_oci.c: `zlapply watch` keeps time with a real container (issue
 * 18, item 3). Under `watch --interval 60s`, a runc container that keeps
 * crashing is started again when its restart back-off ends, not at the next
 * resync: before, a replica whose back-off had ended waited for the
 * interval (seen: exited at :14, still exited at :29).
 *
 * The example image (scripts/build-example-image), network_mode none (no
 * bridge), the test's own state root; the watcher is stopped and the
 * deployment deleted by teardown. */
#include "oci-helpers.h"

static struct {
	char dir[PATH_MAX];   /* /tmp/zlwo-img-XXXXXX */
	char image[PATH_MAX]; /* dir/img: the OCI layout */
} g;

struct wo {
	struct cli_tmp tmp;
	char dep[64];
	struct cli_proc p;
	bool running; /* the watcher we started, not reaped yet */
};

static const struct oci_test_flags *flags_of(const struct wo *t)
{
	static struct oci_test_flags f;
	f = (struct oci_test_flags){ .root = t->tmp.root };
	return &f;
}

static int group_setup(void **state)
{
	(void)state;
	snprintf(g.dir, sizeof(g.dir), "/tmp/zlwo-img-XXXXXX");
	if (!mkdtemp(g.dir))
		return -1;
	cli_pathf(g.image, "%s/img", g.dir);
	return oci_test_build_example_image(g.image);
}

static int group_teardown(void **state)
{
	(void)state;
	cli_rm_rf(g.dir);
	return 0;
}

static int setup(void **state)
{
	struct wo *t = calloc(1, sizeof(*t));
	if (!t || oci_test_case_open(&t->tmp, "/tmp/zlwo-XXXXXX", t->dep, sizeof(t->dep), "zw", 1) < 0) {
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

static void watcher_stop(struct wo *t)
{
	if (!t->running)
		return;
	kill(t->p.pid, SIGTERM);
	waitpid(t->p.pid, NULL, 0);
	t->running = false;
	unlink(t->p.out_path);
	unlink(t->p.err_path);
}

static int teardown(void **state)
{
	struct wo *t = *state;
	watcher_stop(t); /* first: it would start the replica again */
	oci_test_delete_and_fix(OCI_FLAGS_AFTER_VERB, flags_of(t), t->dep);
	cli_tmp_remove(&t->tmp);
	free(t);
	return 0;
}

/* crash-rep-1 as status shows it (found false until the watcher's first
 * apply recorded the deployment). */
static struct oci_test_replica replica_now(struct wo *t)
{
	char *out = NULL, *err = NULL;
	int code = oci_test_run(OCI_FLAGS_AFTER_VERB, flags_of(t), NULL,
				(const char *const[]){ "status", "-o", "json", "-d", t->dep, NULL }, &out,
				&err);
	cJSON *doc = code == 0 ? cJSON_Parse(out) : NULL;
	struct oci_test_replica r = { .restarts = -1 };
	if (doc)
		r = oci_test_replica_of(doc, t->dep, "crash", 1);
	cJSON_Delete(doc);
	free(out);
	free(err);
	return r;
}

static void test_crash_restarted_when_its_backoff_ends(void **state)
{
	struct wo *t = *state;
	char spec[PATH_MAX], text[PATH_MAX + 1024];
	cli_path(&t->tmp, "crash.yaml", spec);
	snprintf(text, sizeof(text),
		 "version: v1\n"
		 "deployment: %s\n"
		 "services:\n"
		 "  crash:\n"
		 "    image: {name: \"oci:%s:1.0\", pull_policy: if_not_present}\n"
		 "    network_mode: none\n"
		 "    command: {args: [\"/bin/sh\", \"-c\", \"sleep 1; exit 3\"]}\n"
		 "    restart_policy: {kind: always, delay: 2s}\n",
		 t->dep, g.image);
	cli_write_file(spec, text);
	oci_test_spawn(OCI_FLAGS_AFTER_VERB, flags_of(t), NULL,
		       (const char *const[]){ "watch", "-f", spec, "--interval", "60s", NULL }, &t->p);
	t->running = true;

	/* The first restart after a crash is immediate; after the second
	 * exit (restarts 1) the back-off is 2 s. */
	int64_t exited_at = 0, end = cli_mono_ms() + 40000;
	for (;;) {
		struct oci_test_replica r = replica_now(t);
		int64_t now = cli_mono_ms();
		if (r.restarts == 1 && strcmp(r.state, "exited") == 0 && !exited_at) {
			assert_int_equal(r.exit_code, 3);
			exited_at = now;
		}
		if (exited_at && r.restarts >= 2) {
			int64_t ms = now - exited_at;
			print_message("crash-rep-1 ran again %lld ms after its second exit (back-off 2 s)\n",
				      (long long)ms);
			if (ms < 1500 || ms > 2000 + 1000)
				fail_msg("crash-rep-1 ran again %lld ms after its exit; its back-off ended "
					 "2000 ms after it", (long long)ms);
			break;
		}
		if (now > end) {
			char *log = cli_read_file(t->p.err_path);
			fail_msg("crash-rep-1: %s restarts %d after 40 s:\n%s\nlog:\n%s", r.state,
				 r.restarts, r.json, log ? log : "");
		}
		cli_sleep_ms(50);
	}
	char *log = cli_read_file(t->p.err_path);
	if (!cli_has_line_with(log, "msg=\"applied\"", "trigger=\"back-off over\""))
		fail_msg("no apply for the back-off's end:\n%s", log);
	free(log);
	watcher_stop(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_crash_restarted_when_its_backoff_ends, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
