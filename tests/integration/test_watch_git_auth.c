/* test_watch_git_auth.c: the credentials of `zlapply watch --git` end to end
 * (issue 18: an SSH key and an HTTPS token from files, never on the command
 * line; a pinned SSH host key), with the mock backend.
 *
 * The servers are real and the test's own: /usr/sbin/sshd with a
 * configuration, host key, authorized_keys and pid file in the test's
 * temporary directory (public-key authentication only, for the current
 * user, no PAM), and tests/infra/git-https-server.py (git http-backend
 * behind TLS with a certificate made here, Basic authentication with a
 * token). Both listen on free ports of 127.0.0.1 and are stopped by the test,
 * or by teardown when it fails. The watcher runs with HOME in the temporary
 * directory: the machine's ~/.ssh is never read. A machine that cannot run
 * sshd (no openssh-server, no privilege separation directory or user)
 * reports the SSH test skipped, with the reason. */
#include "git-helpers.h"

#include <ftw.h>
#include <pwd.h>

#define SSHD "/usr/sbin/sshd"

/* The servers of the test in progress, stopped by teardown on a failure. */
static pid_t servers[2];

/* ---- servers ---- */

/* Starts argv with stdout and stderr to log; remembered in servers[slot]. */
static pid_t server_start(int slot, const char *const *argv, const char *log)
{
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd < 0 || null < 0 || dup2(null, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(126);
		execv(argv[0], (char *const *)argv);
		dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	servers[slot] = pid;
	return pid;
}

static void server_stop(int slot)
{
	if (servers[slot] <= 0)
		return;
	kill(servers[slot], SIGTERM);
	waitpid(servers[slot], NULL, 0);
	servers[slot] = 0;
}

static int auth_teardown(void **state)
{
	for (int i = 0; i < 2; i++)
		server_stop(i);
	return teardown(state);
}

/* ---- looking for a secret ---- */

static const char *secret_needle;
static char secret_found[PATH_MAX];

static int file_has_secret(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag != FTW_F)
		return 0;
	char *data = NULL;
	size_t len = 0;
	struct zl_err err = ZL_ERR_INIT;
	if (zl_read_file(path, &data, &len, &err) < 0)
		return 0; /* a file that went away meanwhile */
	bool found = memmem(data, len, secret_needle, strlen(secret_needle)) != NULL;
	free(data);
	if (found)
		snprintf(secret_found, sizeof(secret_found), "%s", path);
	return found;
}

/* Fails the test if secret shows anywhere a user or another user of the
 * machine could look: the watcher's command line (ps) and its log, status,
 * events, history, and every file under the state root (the database, the
 * clone). */
static void assert_secret_nowhere(struct wt *w, const char *secret)
{
	char cmdline_path[64];
	snprintf(cmdline_path, sizeof(cmdline_path), "/proc/%d/cmdline", (int)w->p.pid);
	char *data = NULL;
	size_t len = 0;
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(zl_read_file(cmdline_path, &data, &len, &err), 0);
	if (memmem(data, len, secret, strlen(secret)))
		fail_msg("the secret is on the watcher's command line");
	free(data);
	char *log = watch_log(w);
	if (strstr(log, secret))
		fail_msg("the secret is in the watcher's log:\n%s", log);
	free(log);
	static const char *const verbs[][3] = { { "status" }, { "events" }, { "history", "-d", "demo" } };
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		char *out = NULL, *errs = NULL;
		const char *args[4] = { verbs[i][0], verbs[i][1], verbs[i][2], NULL };
		(void)cli_run(w->t.root, NULL, NULL, args, &out, &errs); /* what they print is looked at */
		if ((out && strstr(out, secret)) || (errs && strstr(errs, secret)))
			fail_msg("the secret is in the output of zlapply %s", verbs[i][0]);
		free(out);
		free(errs);
	}
	secret_needle = secret;
	if (nftw(w->t.root, file_has_secret, 16, FTW_PHYS) > 0)
		fail_msg("the secret is in %s", secret_found);
}

/* ---- the watcher ---- */

/* Starts the watcher with args (after "watch"), HOME in the test's
 * directory and no ssh-agent; returns without waiting. An ssh:// watcher
 * gets the LeakSanitizer suppressions of libgit2's leak at every SSH
 * connect (libgit2-ssh.supp; nothing when not built with ASan). */
static void watch_spawn(struct wt *w, const char *const *args)
{
	static char home[PATH_MAX + 16], lsan[PATH_MAX + 64];
	snprintf(home, sizeof(home), "HOME=%s/home", w->t.dir);
	snprintf(lsan, sizeof(lsan), "LSAN_OPTIONS=suppressions=%s/tests/integration/libgit2-ssh.supp",
		 cli_source_root());
	bool ssh = strncmp(args[2], "ssh://", 6) == 0;
	cli_spawn(w->t.root, NULL, CLI_ENV(home, "SSH_AUTH_SOCK=", ssh ? lsan : NULL), args, &w->p);
	w->running = true;
}

/* The watcher is refused with a log line holding why; nothing was applied. */
static void assert_refused(struct wt *w, const char *const *args, const char *why)
{
	watch_spawn(w, args);
	wait_log(w, 15000, "level=error", "msg=\"git fetch failed; the commit in force stays\"", why);
	free(stop_watch(w));
	assert_int_equal(cli_mock_names(w->t.root, true, NULL), 0);
	char *out = status_text(w);
	assert_null(strstr(out, "source: git"));
	free(out);
}

/* ---- SSH ---- */

struct ssh {
	char dir[PATH_MAX], host_key[PATH_MAX], key[PATH_MAX], other_key[PATH_MAX];
	char config[PATH_MAX], log[PATH_MAX];
	char fingerprint[128]; /* "SHA256:..." of host_key */
	int port;
};

static void keygen(const char *path)
{
	free(run_ok("/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", path));
}

/* The SHA256 fingerprint of a public key, as ssh-keygen -lf prints it. */
static void fingerprint(const char *pub, char out[128])
{
	char *text = run_ok("/usr/bin/ssh-keygen", "-lf", pub);
	const char *fp = strstr(text, "SHA256:");
	assert_non_null(fp);
	snprintf(out, 128, "%.*s", (int)strcspn(fp, " \n"), fp);
	free(text);
}

/* Keys and a configuration in <tmp>/ssh, then sshd; skips the test when
 * this machine cannot run it. */
static void sshd_start(struct wt *w, struct ssh *s)
{
	if (access(SSHD, X_OK) < 0) {
		print_message("no %s (Debian: openssh-server; scripts/setup installs it): skipped\n", SSHD);
		skip();
	}
	memset(s, 0, sizeof(*s));
	cli_pathf(s->dir, "%s/ssh", w->t.dir);
	assert_int_equal(mkdir(s->dir, 0700), 0);
	cli_pathf(s->host_key, "%s/host_key", s->dir);
	cli_pathf(s->key, "%s/client_key", s->dir);
	cli_pathf(s->other_key, "%s/other_key", s->dir);
	cli_pathf(s->config, "%s/sshd_config", s->dir);
	cli_pathf(s->log, "%s/sshd.log", s->dir);
	keygen(s->host_key);
	keygen(s->key);
	keygen(s->other_key);
	char pub[PATH_MAX], authorized[PATH_MAX];
	cli_pathf(pub, "%s.pub", s->host_key);
	fingerprint(pub, s->fingerprint);
	cli_pathf(pub, "%s.pub", s->key);
	cli_pathf(authorized, "%s/authorized_keys", s->dir);
	char *line = cli_read_file(pub);
	cli_write_file(authorized, line);
	free(line);

	struct passwd *pw = getpwuid(geteuid());
	assert_non_null(pw);
	s->port = free_port();
	char config[4 * PATH_MAX];
	snprintf(config, sizeof(config),
		 "ListenAddress 127.0.0.1:%d\n"
		 "HostKey %s\n"
		 "PidFile %s/sshd.pid\n"
		 "AuthorizedKeysFile %s\n"
		 "AllowUsers %s\n"
		 "PermitRootLogin prohibit-password\n"
		 "PubkeyAuthentication yes\n"
		 "PasswordAuthentication no\n"
		 "KbdInteractiveAuthentication no\n"
		 "UsePAM no\n"
		 "StrictModes no\n" /* the temporary directory is under /tmp (mode 1777) */
		 "AllowAgentForwarding no\nAllowTcpForwarding no\nX11Forwarding no\n"
		 "LogLevel VERBOSE\n",
		 s->port, s->host_key, s->dir, authorized, pw->pw_name);
	cli_write_file(s->config, config);

	/* sshd -t checks what this machine must provide (as root: the
	 * privilege separation directory and user). */
	const char *check[] = { SSHD, "-t", "-f", s->config, NULL };
	struct zl_buf out = { 0 };
	struct zl_err err = ZL_ERR_INIT;
	int code = -1;
	if (zl_run(check, -1, &out, &code, &err) < 0)
		fail_msg("%s -t: %s", SSHD, err.msg);
	if (code != 0 && out.data && strstr(out.data, "rivilege separation")) {
		out.data[strcspn(out.data, "\n")] = '\0';
		print_message("sshd cannot run here (%s): skipped\n", out.data);
		zl_buf_free(&out);
		skip();
	}
	if (code != 0)
		fail_msg("%s -t -f %s: exit %d\n%s", SSHD, s->config, code, out.data ? out.data : "");
	zl_buf_free(&out);
	server_start(0, (const char *const[]){ SSHD, "-D", "-e", "-f", s->config, NULL }, s->log);
	wait_listening(s->port, "sshd", &servers[0], s->log);
}

/* ssh://: a pinned host key and a key file; a wrong pin, an unknown host
 * without a pin, a key the server does not accept; known_hosts. */
static void test_git_ssh(void **state)
{
	struct wt *w = *state;
	struct ssh s;
	sshd_start(w, &s);
	struct repo r;
	repo_make(w, &r);
	char *c1 = commit_spec(&r, 2, NULL, NULL, "two");
	struct passwd *pw = getpwuid(geteuid());
	char url[PATH_MAX + 128], wrong_pin[128], pub[PATH_MAX];
	snprintf(url, sizeof(url), "ssh://%s@127.0.0.1:%d%s", pw->pw_name, s.port, r.bare);
	cli_pathf(pub, "%s.pub", s.other_key);
	fingerprint(pub, wrong_pin); /* a real fingerprint, not the server's */

	/* A host key other than the pinned one: refused, nothing applied. */
	char why[320];
	snprintf(why, sizeof(why), "host key %s is not the pinned %s", s.fingerprint, wrong_pin);
	assert_refused(w,
		       (const char *const[]){ "watch", "--git", url, "--path", "deploy", "--git-ssh-key",
					      s.key, "--git-host-key", wrong_pin, "--interval", "1h", NULL },
		       why);
	/* No pin and no known_hosts: libgit2 refuses the unknown host. */
	assert_refused(w,
		       (const char *const[]){ "watch", "--git", url, "--path", "deploy", "--git-ssh-key",
					      s.key, "--interval", "1h", NULL },
		       "unknown remote ssh hostkey (not in ~/.ssh/known_hosts, or another key there: add "
		       "it, or pin it with --git-host-key)");
	/* A key the server does not know. */
	assert_refused(w,
		       (const char *const[]){ "watch", "--git", url, "--path", "deploy", "--git-ssh-key",
					      s.other_key, "--git-host-key", s.fingerprint, "--interval",
					      "1h", NULL },
		       "the server refused the credentials (the key of --git-ssh-key)");

	/* The right key and pin: applied, the commit in force. */
	watch_spawn(w, (const char *const[]){ "watch", "--git", url, "--path", "deploy", "--git-ssh-key",
					      s.key, "--git-host-key", s.fingerprint, "--interval", "1s",
					      NULL });
	wait_log(w, 15000, "msg=\"applied\"", "trigger=start");
	wait_running(w, 2, 15000);
	wait_source(w, url, c1);
	char *c2 = commit_spec(&r, 3, NULL, NULL, "three");
	wait_running(w, 3, 15000);
	wait_source(w, url, c2);
	/* The private key's body (a line of its base64) is nowhere. */
	char *key = cli_read_file(s.key);
	char *body = strchr(key, '\n') + 1;
	body[strcspn(body, "\n")] = '\0';
	assert_true(strlen(body) > 40);
	assert_secret_nowhere(w, body);
	free(key);
	free(stop_watch(w));

	/* Without a pin, the host key in ~/.ssh/known_hosts (of HOME, here in
	 * the test's directory) is accepted: what the docs tell. */
	char ssh_home[PATH_MAX], known[PATH_MAX], line[1024];
	cli_pathf(ssh_home, "%s/home", w->t.dir);
	(void)mkdir(ssh_home, 0700); /* made by no one before */
	cli_pathf(ssh_home, "%s/home/.ssh", w->t.dir);
	assert_int_equal(mkdir(ssh_home, 0700), 0);
	cli_pathf(pub, "%s.pub", s.host_key);
	char *host_pub = cli_read_file(pub);
	host_pub[strcspn(host_pub, "\n")] = '\0';
	snprintf(line, sizeof(line), "[127.0.0.1]:%d %.*s\n", s.port,
		 (int)(strrchr(host_pub, ' ') - host_pub), host_pub); /* without the comment */
	cli_pathf(known, "%s/known_hosts", ssh_home);
	cli_write_file(known, line);
	free(host_pub);
	char *c3 = commit_spec(&r, 1, NULL, NULL, "one");
	watch_spawn(w, (const char *const[]){ "watch", "--git", url, "--path", "deploy", "--git-ssh-key",
					      s.key, "--interval", "1h", NULL });
	wait_log(w, 15000, "msg=\"applied\"", "trigger=start");
	wait_running(w, 1, 15000);
	wait_source(w, url, c3);
	free(stop_watch(w));
	server_stop(0);
	free(c1), free(c2), free(c3);
}

/* ---- HTTPS ---- */

struct https {
	char dir[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], token_file[PATH_MAX], log[PATH_MAX];
	char url[128];
	int port;
};

/* A self-signed certificate for 127.0.0.1 and the server, serving
 * <tmp>/srv, whose token is token. */
static void https_start(struct wt *w, struct https *h, const char *token)
{
	memset(h, 0, sizeof(*h));
	cli_pathf(h->dir, "%s/https", w->t.dir);
	assert_int_equal(mkdir(h->dir, 0700), 0);
	cli_pathf(h->cert, "%s/cert.pem", h->dir);
	cli_pathf(h->key, "%s/key.pem", h->dir);
	cli_pathf(h->token_file, "%s/server-token", h->dir);
	cli_pathf(h->log, "%s/requests.log", h->dir);
	char line[256], srv[PATH_MAX], script[PATH_MAX], port[16];
	snprintf(line, sizeof(line), "%s\n", token);
	cli_write_file(h->token_file, line);
	/* mbedTLS (libgit2's TLS in Debian) matches a host name against the
	 * DNS names of the certificate only, so 127.0.0.1 is one too. */
	free(run_ok("/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", h->key,
		    "-out", h->cert, "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
		    "subjectAltName=DNS:127.0.0.1,IP:127.0.0.1"));
	cli_pathf(srv, "%s/srv", w->t.dir);
	cli_pathf(script, "%s/tests/infra/git-https-server.py", cli_source_root());
	h->port = free_port();
	snprintf(port, sizeof(port), "%d", h->port);
	snprintf(h->url, sizeof(h->url), "https://127.0.0.1:%d/app.git", h->port);
	server_start(1,
		     (const char *const[]){ "/usr/bin/python3", script, port, h->cert, h->key, srv,
					    h->token_file, h->log, NULL },
		     h->log);
	wait_listening(h->port, "git-https-server.py", &servers[1], h->log);
}

/* https://: a token from a file, the server's CA from --git-ca-file; an
 * untrusted certificate, a wrong token, no token. */
static void test_git_https_token(void **state)
{
	struct wt *w = *state;
	struct repo r;
	repo_make(w, &r);
	char *c1 = commit_spec(&r, 2, NULL, NULL, "two");
	const char token[] = "zlt_4f1c9e27b8d3a6055e1d";
	struct https h;
	https_start(w, &h, token);
	char token_file[PATH_MAX], wrong_file[PATH_MAX], line[128];
	cli_pathf(token_file, "%s/git-token", w->t.dir);
	snprintf(line, sizeof(line), "%s\n", token);
	cli_write_file(token_file, line);
	cli_pathf(wrong_file, "%s/wrong-token", w->t.dir);
	cli_write_file(wrong_file, "bot:zlt_0000000000000000000\n");

	/* The server's certificate is not in the system's store. */
	assert_refused(w,
		       (const char *const[]){ "watch", "--git", h.url, "--path", "deploy",
					      "--git-token-file", token_file, "--interval", "1h", NULL },
		       "--git-ca-file");
	/* A wrong token (USER:TOKEN): 401, refused. */
	assert_refused(w,
		       (const char *const[]){ "watch", "--git", h.url, "--path", "deploy", "--git-token-file",
					      wrong_file, "--git-ca-file", h.cert, "--interval", "1h", NULL },
		       "the server refused the credentials (the token of --git-token-file)");
	/* No token at all. */
	assert_refused(w,
		       (const char *const[]){ "watch", "--git", h.url, "--path", "deploy", "--git-ca-file",
					      h.cert, "--interval", "1h", NULL },
		       "the server asks for credentials");
	char *requests = cli_read_file(h.log);
	if (!strstr(requests, "401 auth=Basic") || strstr(requests, " 200 "))
		fail_msg("the server's requests:\n%s", requests);
	free(requests);

	/* The right token: applied. */
	watch_spawn(w, (const char *const[]){ "watch", "--git", h.url, "--path", "deploy", "--git-token-file",
					      token_file, "--git-ca-file", h.cert, "--interval", "1s", NULL });
	wait_log(w, 15000, "msg=\"applied\"", "trigger=start");
	wait_running(w, 2, 15000);
	wait_source(w, h.url, c1);
	char *c2 = commit_spec(&r, 3, NULL, NULL, "three");
	wait_running(w, 3, 15000);
	wait_source(w, h.url, c2);
	requests = cli_read_file(h.log);
	if (!strstr(requests, "POST /app.git/git-upload-pack 200 auth=Basic"))
		fail_msg("the server's requests:\n%s", requests);
	free(requests);
	assert_secret_nowhere(w, token);
	free(stop_watch(w));
	server_stop(1);
	free(c1), free(c2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_git_ssh, setup, auth_teardown),
		cmocka_unit_test_setup_teardown(test_git_https_token, setup, auth_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
