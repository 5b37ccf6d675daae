/* git-helpers.h: a git repository for `zlapply watch --git` tests (a bare
 * one under <tmp>/srv and a work tree that pushes to it), servers on free
 * loopback ports, and `status`'s "source: git URL@COMMIT" line. Shared by
 * test_watch_git.c and test_watch_git_auth.c. */
#ifndef ZL_TEST_GIT_HELPERS_H
#define ZL_TEST_GIT_HELPERS_H

#include "watch-helpers.h"

struct repo {
	char bare[PATH_MAX], work[PATH_MAX];
	pid_t daemon; /* git daemon serving bare's directory; 0 none */
	int port;
};

/* Runs argv (a full path first); fails the test unless it exits 0. Returns
 * its output (caller frees). */
#define run_ok(...) run_ok_((const char *const[]){ __VA_ARGS__, NULL })
static inline char *run_ok_(const char *const *argv)
{
	struct zl_buf out = { 0 };
	struct zl_err err = ZL_ERR_INIT;
	int code = -1;
	if (zl_run(argv, -1, &out, &code, &err) < 0 || code != 0)
		fail_msg("%s %s: exit %d %s\n%s", argv[0], argv[1] ? argv[1] : "", code, err.msg,
			 out.data ? out.data : "");
	return zl_buf_steal(&out);
}

/* Runs git with args in dir; fails the test unless it exits 0. Returns
 * its output (caller frees). */
#define git(dir, ...) git_((dir), (const char *const[]){ __VA_ARGS__, NULL })
static inline char *git_(const char *dir, const char *const *args)
{
	const char *argv[32] = { "/usr/bin/git", "-C", dir, "-c", "user.name=test", "-c",
				 "user.email=test@example.invalid", "-c", "init.defaultBranch=main" };
	size_t n = 9;
	for (size_t i = 0; args[i] && n < 31; i++)
		argv[n++] = args[i];
	return run_ok_(argv);
}

static inline void repo_make(struct wt *w, struct repo *r)
{
	memset(r, 0, sizeof(*r));
	cli_pathf(r->bare, "%s/srv/app.git", w->t.dir);
	cli_pathf(r->work, "%s/work", w->t.dir);
	char srv[PATH_MAX];
	cli_pathf(srv, "%s/srv", w->t.dir);
	assert_int_equal(mkdir(srv, 0755), 0);
	assert_int_equal(mkdir(r->work, 0755), 0);
	free(git(srv, "init", "-q", "--bare", "-b", "main", r->bare));
	free(git(r->work, "init", "-q", "-b", "main"));
	free(git(r->work, "remote", "add", "origin", r->bare));
}

/* Writes deploy/demo.yaml (replicas, greeting) or text when given, commits
 * and pushes. Returns the commit id (caller frees). */
static inline char *commit_spec(struct repo *r, int replicas, const char *greeting, const char *text,
			 const char *message)
{
	char dir[PATH_MAX], path[PATH_MAX];
	cli_pathf(dir, "%s/deploy", r->work);
	mkdir(dir, 0755);
	cli_pathf(path, "%s/demo.yaml", dir);
	if (text)
		cli_write_file(path, text);
	else
		cli_write_web_spec(path, "demo", replicas, greeting);
	free(git(r->work, "add", "-A"));
	free(git(r->work, "commit", "-q", "-m", message));
	free(git(r->work, "push", "-q", "-f", "origin", "HEAD:main"));
	char *id = git(r->work, "rev-parse", "HEAD");
	id[strcspn(id, "\n")] = '\0';
	return id;
}

static inline int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(sa);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

/* Waits until something (what) accepts connections on 127.0.0.1:port. When
 * *pid (the server; NULL none) exits first, fails with log's content (NULL
 * none) and sets *pid to 0: it is reaped. */
static inline void wait_listening(int port, const char *what, pid_t *pid, const char *log)
{
	int64_t end = cli_mono_ms() + 5000;
	for (;;) {
		int status;
		if (pid && *pid > 0 && waitpid(*pid, &status, WNOHANG) == *pid) {
			*pid = 0;
			char *text = log ? cli_read_file(log) : NULL;
			fail_msg("%s exited (status 0x%x) before listening:\n%s", what, status, text ? text : "");
		}
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		int ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
		close(fd);
		if (ok == 0)
			return;
		if (cli_mono_ms() > end)
			fail_msg("%s did not listen on 127.0.0.1:%d", what, port);
		cli_sleep_ms(50);
	}
}

static inline char *status_text(struct wt *w)
{
	char *out = NULL, *err = NULL;
	int code = run_zlapply(w->t.root, NULL, &out, &err, "status");
	assert_exit(code, 0, out, err);
	free(err);
	return out;
}

/* Waits until status says the source is URL@commit. */
static inline void wait_source(struct wt *w, const char *url, const char *commit)
{
	char want[PATH_MAX + 64];
	snprintf(want, sizeof(want), "source: git %s@%s\n", url, commit);
	int64_t end = cli_mono_ms() + 10000;
	for (;;) {
		char *out = status_text(w);
		bool ok = strstr(out, want) != NULL;
		if (ok) {
			free(out);
			return;
		}
		if (cli_mono_ms() > end) {
			char *log = watch_log(w);
			fail_msg("status has no \"%s\":\n%s\nlog:\n%s", want, out, log);
		}
		free(out);
		assert_watching(w);
		cli_sleep_ms(100);
	}
}

#endif
