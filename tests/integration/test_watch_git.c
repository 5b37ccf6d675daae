/* test_watch_git.c: `zlapply watch --git` end to end, against real git and
 * the mock backend (issue 18, items 2 and 6).
 *
 * Each test makes a bare repository in its temporary directory and a work
 * tree that pushes to it, serves the bare one on loopback with `git daemon`
 * (or reads it by file://), and commits what a user would: a spec that
 * scales, changes env, breaks, is fixed; a force-push to an older commit; a
 * symlink out of the tree. It checks what a user sees: `status` (replicas
 * and its "source: git URL@COMMIT" line), the watcher's log lines, events,
 * GET /metrics, and the webhook's answers to good and bad signatures. */
#include "git-helpers.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

/* The daemon of the test in progress, stopped by teardown when it fails. */
static pid_t running_daemon;

/* Serves the bare repository's directory on 127.0.0.1 (git://). */
static void daemon_start(struct wt *w, struct repo *r)
{
	char base[PATH_MAX], port_arg[32], base_arg[PATH_MAX + 16];
	cli_pathf(base, "%s/srv", w->t.dir);
	if (!r->port)
		r->port = free_port();
	snprintf(port_arg, sizeof(port_arg), "--port=%d", r->port);
	snprintf(base_arg, sizeof(base_arg), "--base-path=%s", base);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 1);
		dup2(null, 2);
		execl("/usr/bin/git", "git", "daemon", "--reuseaddr", "--export-all", "--listen=127.0.0.1",
		      port_arg, base_arg, base, (char *)NULL);
		_exit(127);
	}
	r->daemon = running_daemon = pid;
	wait_listening(r->port, "git daemon", &running_daemon, NULL);
}

static void daemon_stop(struct repo *r)
{
	if (!r->daemon)
		return;
	kill(r->daemon, SIGTERM);
	waitpid(r->daemon, NULL, 0);
	r->daemon = running_daemon = 0;
}

static int git_teardown(void **state)
{
	if (running_daemon > 0) {
		kill(running_daemon, SIGTERM);
		waitpid(running_daemon, NULL, 0);
		running_daemon = 0;
	}
	return teardown(state);
}

static double metric_now(int port, const char *series)
{
	char *resp = http_get(port, "/metrics");
	const char *body = strstr(resp, "\r\n\r\n");
	assert_non_null(body);
	double v = metric_value(body + 4, series);
	free(resp);
	return v;
}

/* ---- the webhook ---- */

/* POSTs body with extra header lines; returns the status code. */
static int post(int port, const char *headers, const char *body, size_t len)
{
	int fd = connect_local(port);
	char head[1024];
	int n = snprintf(head, sizeof(head),
			 "POST /hook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\n%s\r\n", len, headers);
	assert_int_equal(write(fd, head, (size_t)n), n);
	if (len <= (1u << 20))
		assert_int_equal(write(fd, body, len), (ssize_t)len);
	else
		(void)!write(fd, body, strlen(body)); /* the rest is never sent */
	char resp[512] = "";
	ssize_t r = read(fd, resp, sizeof(resp) - 1);
	close(fd);
	if (r < 12)
		fail_msg("no answer from the webhook (%zd bytes)", r);
	return atoi(resp + 9);
}

static void sign(const char *secret, const char *body, char hex[65])
{
	unsigned char mac[32];
	unsigned int len = 0;
	HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, strlen(body), mac,
	     &len);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
}

/* ---- tests ---- */

/* git://: scale, env, a broken commit (the last good stays), its fix, the
 * daemon gone and back, a force-push to an older commit. */
static void test_git_daemon_follows_the_branch(void **state)
{
	struct wt *w = *state;
	struct repo r;
	repo_make(w, &r);
	char *c1 = commit_spec(&r, 2, NULL, NULL, "two");
	daemon_start(w, &r);
	char url[128];
	snprintf(url, sizeof(url), "git://127.0.0.1:%d/app.git", r.port);
	start_watch(w, "--git", url, "--path", "deploy", "--interval", "1s", "--metrics", "127.0.0.1:0");
	wait_running(w, 2, 10000);
	wait_source(w, url, c1);
	int port = metrics_port(w);
	char series[512];
	snprintf(series, sizeof(series), "zlapply_git_commit_info{url=\"%s\",commit=\"%s\"}", url, c1);
	assert_true(metric_now(port, series) == 1);
	assert_true(metric_now(port, "zlapply_git_last_error") == 0);

	char *c2 = commit_spec(&r, 3, NULL, NULL, "three");
	wait_running(w, 3, 10000);
	wait_source(w, url, c2);
	/* Each revision the watcher applied names its commit. */
	{
		char *out = NULL, *err = NULL, want[PATH_MAX + 64];
		int code = run_zlapply(w->t.root, NULL, &out, &err, "history", "-d", "demo");
		assert_exit(code, 0, out, err);
		snprintf(want, sizeof(want), "git %s@%s", url, c1);
		assert_non_null(strstr(out, want));
		snprintf(want, sizeof(want), "git %s@%s", url, c2);
		assert_non_null(strstr(out, want));
		free(out);
		free(err);
	}

	char *c3 = commit_spec(&r, 3, "hello", NULL, "env");
	wait_source(w, url, c3);
	wait_log(w, 5000, "msg=\"action\"", "web-rep-1", "env");

	/* A commit that does not validate: refused, the last good one stays. */
	char *c4 = commit_spec(&r, 0, NULL,
			       "version: v1\ndeployment: demo\nservices:\n  web:\n    image: {name: \"nginx:1.25\"}\n"
			       "    scale: {mode: fixd, replicas: 1}\n",
			       "broken");
	wait_log(w, 10000, "level=error", "msg=\"commit refused; the commit in force stays\"", c4);
	cli_sleep_ms(2500);
	assert_int_equal(running_count(w->t.root), 3);
	wait_source(w, url, c3);
	assert_true(metric_now(port, "zlapply_git_last_error") == 1);
	assert_true(metric_now(port, "zlapply_git_errors_total") >= 1);
	char *refused = events_of_kind(w->t.root, "git_refused");
	if (!strstr(refused, c4))
		fail_msg("no git_refused event for %s:\n%s", c4, refused);
	free(refused);
	/* Reported once, not at every fetch. */
	char *log = watch_log(w);
	size_t reports = 0;
	for (const char *p = log; (p = strstr(p, "level=error msg=\"commit refused")); p++)
		reports++;
	assert_int_equal(reports, 1);
	free(log);

	/* Fixed. */
	char *c5 = commit_spec(&r, 1, NULL, NULL, "fixed");
	wait_running(w, 1, 10000);
	wait_source(w, url, c5);
	assert_true(metric_now(port, "zlapply_git_last_error") == 0);

	/* The remote goes away: reported, nothing changes; back: fine again. */
	daemon_stop(&r);
	wait_log(w, 10000, "level=error", "msg=\"git fetch failed; the commit in force stays\"", url);
	assert_int_equal(running_count(w->t.root), 1);
	/* Restarted while the remote is down: the commit fetched before. */
	free(stop_watch(w));
	cli_spawn(w->t.root, NULL, NULL,
		  (const char *const[]){ "watch", "--git", url, "--path", "deploy", "--interval", "1s", NULL },
		  &w->p);
	w->running = true;
	wait_log(w, 10000, "level=error", "msg=\"git fetch failed; applying the commit fetched before\"");
	wait_log(w, 10000, "msg=\"git commit\"", c5);
	assert_int_equal(running_count(w->t.root), 1);
	daemon_start(w, &r);
	wait_log(w, 10000, "msg=\"git fetch works again\"");

	/* A force-push to an older commit is the new desired state. */
	free(git(r.work, "push", "-q", "-f", "origin", "HEAD~3:main"));
	wait_running(w, 3, 10000);
	wait_source(w, url, c2);
	char *applied = events_of_kind(w->t.root, "git");
	if (!strstr(applied, c1) || !strstr(applied, c5))
		fail_msg("git events:\n%s", applied);
	free(applied);

	free(stop_watch(w));
	assert_int_equal(running_count(w->t.root), 3);
	daemon_stop(&r);
	free(c1), free(c2), free(c3), free(c4), free(c5);
}

/* file://, --interval 1h: only the webhook explains a fetch. */
static void test_git_webhook(void **state)
{
	struct wt *w = *state;
	struct repo r;
	repo_make(w, &r);
	char *c1 = commit_spec(&r, 1, NULL, NULL, "one");
	char url[PATH_MAX + 8], secret_file[PATH_MAX];
	snprintf(url, sizeof(url), "file://%s", r.bare);
	cli_pathf(secret_file, "%s/hook-secret", w->t.dir);
	cli_write_file(secret_file, "s3cret\n");
	start_watch(w, "--git", url, "--path", "deploy", "--interval", "1h", "--webhook", "127.0.0.1:0",
		    "--webhook-secret-file", secret_file);
	wait_running(w, 1, 10000);
	int port = listen_port(w, "webhook");

	char *c2 = commit_spec(&r, 2, NULL, NULL, "two");
	const char body[] = "{\"ref\":\"refs/heads/main\"}";
	char hex[65], hdr[256];
	/* A wrong signature (another secret) fetches nothing. */
	sign("other", body, hex);
	snprintf(hdr, sizeof(hdr), "X-Hub-Signature-256: sha256=%s\r\n", hex);
	assert_int_equal(post(port, hdr, body, strlen(body)), 401);
	assert_int_equal(post(port, "", body, strlen(body)), 401);
	wait_log(w, 5000, "level=warn", "webhook refused", "signature does not match");
	cli_sleep_ms(1000);
	assert_int_equal(running_count(w->t.root), 1);

	/* GitHub's signature. */
	sign("s3cret", body, hex);
	snprintf(hdr, sizeof(hdr), "X-Hub-Signature-256: sha256=%s\r\n", hex);
	assert_int_equal(post(port, hdr, body, strlen(body)), 202);
	wait_running(w, 2, 10000);
	wait_source(w, url, c2);
	wait_log(w, 1000, "msg=\"applied\"", "trigger=webhook");

	/* Gitea's. */
	char *c3 = commit_spec(&r, 3, NULL, NULL, "three");
	snprintf(hdr, sizeof(hdr), "X-Gitea-Signature: %s\r\n", hex);
	assert_int_equal(post(port, hdr, body, strlen(body)), 202);
	wait_running(w, 3, 10000);
	wait_source(w, url, c3);

	/* 100 MB: refused before it is read. Only POST. */
	assert_int_equal(post(port, hdr, "{", (size_t)100 << 20), 413);
	char *resp = http_get(port, "/");
	assert_int_equal(atoi(resp + 9), 405);
	free(resp);
	free(stop_watch(w));
	free(c1), free(c2), free(c3);
}

/* Symlinks in the tree: inside it they are followed, out of it the commit
 * is refused; a --path that the commit lacks likewise. */
static void test_git_refuses_paths_out_of_the_tree(void **state)
{
	struct wt *w = *state;
	struct repo r;
	repo_make(w, &r);
	char *c1 = commit_spec(&r, 1, NULL, NULL, "one");
	char url[PATH_MAX + 8], link[PATH_MAX], other[PATH_MAX];
	snprintf(url, sizeof(url), "file://%s", r.bare);
	start_watch(w, "--git", url, "--path", "deploy", "--interval", "1s");
	wait_running(w, 1, 10000);

	/* Inside: deploy/extra.yaml -> ../shared/extra.yaml. */
	char shared[PATH_MAX];
	cli_pathf(shared, "%s/shared", r.work);
	assert_int_equal(mkdir(shared, 0755), 0);
	cli_pathf(other, "%s/shared/extra.yaml", r.work);
	cli_write_web_spec(other, "extra", 1, NULL);
	cli_pathf(link, "%s/deploy/extra.yaml", r.work);
	assert_int_equal(symlink("../shared/extra.yaml", link), 0);
	char *c2 = commit_spec(&r, 1, NULL, NULL, "link inside");
	wait_source(w, url, c2);

	/* Out of it: refused, nothing of it applied. */
	char evil[PATH_MAX], secret[PATH_MAX];
	cli_pathf(secret, "%s/outside.yaml", w->t.dir);
	cli_write_web_spec(secret, "outside", 1, NULL);
	cli_pathf(evil, "%s/deploy/evil.yaml", r.work);
	assert_int_equal(symlink(secret, evil), 0);
	char *c3 = commit_spec(&r, 2, NULL, NULL, "link outside");
	wait_log(w, 10000, "msg=\"commit refused; the commit in force stays\"", c3, "out of the repository");
	unlink(evil);
	assert_int_equal(symlink("../../outside.yaml", evil), 0);
	char *c4 = commit_spec(&r, 2, NULL, NULL, "relative link outside");
	wait_log(w, 10000, "msg=\"commit refused; the commit in force stays\"", c4, "out of the repository");
	cli_sleep_ms(1500);
	assert_int_equal(running_count(w->t.root), 1);
	wait_source(w, url, c2);
	char *out = status_text(w);
	assert_null(strstr(out, "outside"));
	free(out);
	unlink(evil);
	char *c5 = commit_spec(&r, 1, NULL, NULL, "no link outside");
	wait_source(w, url, c5);
	free(stop_watch(w));

	/* Started again with another --path: that directory's specs, not the
	 * ones written out for the same commit before. */
	cli_spawn(w->t.root, NULL, NULL,
		  (const char *const[]){ "watch", "--git", url, "--path", "shared", "--interval", "1h", NULL },
		  &w->p);
	w->running = true;
	wait_log(w, 10000, "msg=\"git commit\"", c5);
	wait_log(w, 1000, "msg=\"spec loaded\"", "deployments=1");
	free(stop_watch(w));
	free(c1), free(c2), free(c3), free(c4), free(c5);
}

/* An unreachable repository, a branch that does not exist, a corrupt
 * clone, flags that do not go together. */
static void test_git_bad_input(void **state)
{
	struct wt *w = *state;
	struct repo r;
	repo_make(w, &r);
	char *c1 = commit_spec(&r, 1, NULL, NULL, "one");
	char url[PATH_MAX + 8];
	snprintf(url, sizeof(url), "file://%s", r.bare);

	/* Unreachable: reported, nothing applied, the watcher keeps trying. */
	char unreachable[64];
	snprintf(unreachable, sizeof(unreachable), "git://127.0.0.1:%d/none.git", free_port());
	cli_spawn(w->t.root, NULL, NULL,
		  (const char *const[]){ "watch", "--git", unreachable, "--interval", "1s", NULL }, &w->p);
	w->running = true;
	wait_log(w, 10000, "level=error", "msg=\"git fetch failed; the commit in force stays\"",
		 unreachable);
	free(stop_watch(w));
	assert_int_equal(cli_mock_names(w->t.root, true, NULL), 0);

	/* A branch that does not exist. */
	cli_spawn(w->t.root, NULL, NULL,
		  (const char *const[]){ "watch", "--git", url, "--branch", "nope", "--interval", "1s", NULL },
		  &w->p);
	w->running = true;
	wait_log(w, 10000, "level=error", "branch nope not found in");
	free(stop_watch(w));
	assert_int_equal(cli_mock_names(w->t.root, true, NULL), 0);

	/* A corrupt clone (every object file overwritten) is set aside and
	 * made anew. */
	start_watch(w, "--git", url, "--path", "deploy", "--interval", "1h");
	wait_running(w, 1, 10000);
	free(stop_watch(w));
	char cmd[PATH_MAX * 2];
	snprintf(cmd, sizeof(cmd),
		 "find %s/git/*/repo.git/objects -type f -exec sh -c 'chmod u+w \"$1\"; echo garbage > \"$1\"' sh {} \\;",
		 w->t.root);
	assert_int_equal(system(cmd), 0);
	cli_spawn(w->t.root, NULL, NULL,
		  (const char *const[]){ "watch", "--git", url, "--path", "deploy", "--interval", "1h", NULL },
		  &w->p);
	w->running = true;
	wait_log(w, 10000, "level=warn", "cannot be read", "cloning anew");
	wait_log(w, 10000, "msg=\"git commit\"", c1);
	wait_source(w, url, c1);
	char *c2 = commit_spec(&r, 2, NULL, NULL, "two");
	assert_int_equal(kill(w->p.pid, SIGHUP), 0); /* fetch now */
	wait_running(w, 2, 10000);
	wait_source(w, url, c2);
	free(stop_watch(w));
	free(c2);

	static const struct {
		const char *args[10];
		const char *says;
	} cases[] = {
		{ { "watch", "-f", "SPECS", "--git", "URL" }, "not both" },
		{ { "watch", "--git", "URL", "--path", "../up" }, "leads out of the repository" },
		{ { "watch", "--git", "URL", "--path", "/etc" }, "leads out of the repository" },
		{ { "watch", "--git", "URL", "--branch", "a..b" }, "not a valid branch name" },
		{ { "watch", "--git", "URL", "--webhook", "127.0.0.1:0" }, "--webhook-secret-file" },
		{ { "watch", "--git", "URL", "--git-token-file", "/nonexistent/token" }, "--git-token-file" },
		{ { "watch", "--git", "URL", "--git-host-key", "abc" }, "SHA256:" },
		{ { "watch", "--git", "URL", "--git-ca-file", "/nonexistent/ca.pem" }, "--git-ca-file" },
		{ { "watch", "-f", "SPECS", "--git-ca-file", "SECRET" }, "--git-ca-file goes with --git" },
		{ { "watch", "-f", "SPECS", "--branch", "main" }, "--branch goes with --git" },
		{ { "watch", "--git", "URL", "--webhook", "nowhere", "--webhook-secret-file", "SECRET" }, "HOST:PORT" },
		{ { "watch", "--git", "URL", "--webhook", "127.0.0.1:0", "--webhook-secret-file", "EMPTY" }, "expected a secret" },
	};
	char secret[PATH_MAX], empty[PATH_MAX];
	cli_pathf(secret, "%s/secret", w->t.dir);
	cli_write_file(secret, "s3cret\n");
	cli_pathf(empty, "%s/empty", w->t.dir);
	cli_write_file(empty, "\n");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *args[11] = { 0 };
		for (size_t k = 0; cases[i].args[k]; k++) {
			const char *a = cases[i].args[k];
			args[k] = strcmp(a, "URL") == 0 ? url : strcmp(a, "SPECS") == 0 ? w->specs
				: strcmp(a, "SECRET") == 0 ? secret : strcmp(a, "EMPTY") == 0 ? empty : a;
		}
		char *out = NULL, *err = NULL;
		int code = cli_run(w->t.root, NULL, NULL, args, &out, &err);
		assert_exit(code, 2, out, err);
		if (!strstr(err, cases[i].says))
			fail_msg("case %zu: \"%s\" not in:\n%s", i, cases[i].says, err);
		free(out);
		free(err);
	}
	assert_int_equal(running_count(w->t.root), 2);
	free(c1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_git_daemon_follows_the_branch, setup, git_teardown),
		cmocka_unit_test_setup_teardown(test_git_webhook, setup, git_teardown),
		cmocka_unit_test_setup_teardown(test_git_refuses_paths_out_of_the_tree, setup, git_teardown),
		cmocka_unit_test_setup_teardown(test_git_bad_input, setup, git_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
