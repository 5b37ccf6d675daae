/* probe.c: bounded work in child processes for health probes and init steps
 * (see health-internal.h).
 *
 * A child enters the replica's network namespace with setns(), so a probe
 * of "http://localhost:8080/health" reaches the replica's own loopback, as
 * written in the spec, and never anything on the host's. It reports through
 * a pipe (its stdout and stderr) and its exit status: 0 means success. The
 * parent reads all pipes with poll() and SIGKILLs a child's process group
 * when its deadline passes, so a probe that hangs costs its timeout and no
 * more. */
#include "health-internal.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RETRY_PAUSE_MS 500
#define GRACE_MS 1000      /* for a child to report its own timeout */
#define OUTPUT_KEEP 2048   /* bytes of a child's output kept for messages */
#define MAX_PARALLEL 64    /* children at once */

void health_sleep_ms(int64_t ms)
{
	if (ms <= 0)
		return;
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

const char *probe_netns_of(const struct spec_service *svc, const struct state_replica *r,
			   const char **why_not)
{
	*why_not = NULL;
	if (r->netns && *r->netns)
		return r->netns;
	const char *mode = svc->network_mode;
	if (mode && strcmp(mode, "host") == 0)
		return NULL;
	if (mode && strcmp(mode, "none") == 0)
		*why_not = "network_mode none: the replica has no network to probe";
	else
		*why_not = "no network namespace (the backend gives this replica no network)";
	return NULL;
}

/* ---- the child's side: print why on stdout, exit 0 on success ---- */

static void child_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void child_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vdprintf(1, fmt, ap);
	va_end(ap);
	_exit(1);
}

/* One non-blocking connect bounded by ms; 0 or -1 with msg. */
static int connect_once(const char *host, int port, int64_t ms, char *msg, size_t cap)
{
	char service[16];
	snprintf(service, sizeof(service), "%d", port);
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	int gai = getaddrinfo(host, service, &hints, &res);
	if (gai != 0) {
		snprintf(msg, cap, "resolve %s: %s", host, gai_strerror(gai));
		return -1;
	}
	int ret = -1;
	for (struct addrinfo *ai = res; ai && ret < 0; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			snprintf(msg, cap, "socket: %s", strerror(errno));
			continue;
		}
		int r = connect(fd, ai->ai_addr, ai->ai_addrlen);
		if (r < 0 && errno == EINPROGRESS) {
			struct pollfd p = { fd, POLLOUT, 0 };
			int pr = poll(&p, 1, (int)ms);
			if (pr == 0) {
				errno = ETIMEDOUT;
			} else if (pr > 0) {
				int soerr = 0;
				socklen_t len = sizeof(soerr);
				getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
				errno = soerr;
				r = soerr ? -1 : 0;
			}
		}
		if (r == 0)
			ret = 0;
		else
			snprintf(msg, cap, "connect %s:%d: %s", host, port, strerror(errno));
		close(fd);
	}
	freeaddrinfo(res);
	return ret;
}

static size_t discard_body(void *data, size_t size, size_t n, void *user)
{
	(void)data;
	(void)user;
	return size * n;
}

/* One GET bounded by ms; 0 when the status is the expected one. */
static int http_once(const char *url, int expect, int64_t ms, char *msg, size_t cap)
{
	CURL *h = curl_easy_init();
	if (!h) {
		snprintf(msg, cap, "GET %s: cannot set up libcurl", url);
		return -1;
	}
	char curl_err[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_err);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)ms);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	/* A probe talks to the replica itself, never through a proxy. */
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "zlapply-probe");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_body);
	CURLcode rc = curl_easy_perform(h);
	long status = 0;
	int ret = -1;
	if (rc != CURLE_OK) {
		snprintf(msg, cap, "GET %s: %s", url, curl_err[0] ? curl_err : curl_easy_strerror(rc));
	} else {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		bool good = expect ? status == expect : status >= 200 && status < 300;
		if (good)
			ret = 0;
		else if (expect)
			snprintf(msg, cap, "GET %s: status %ld, expected %d", url, status, expect);
		else
			snprintf(msg, cap, "GET %s: status %ld, expected 2xx", url, status);
	}
	curl_easy_cleanup(h);
	return ret;
}

/* tcp / http: one attempt, or attempts until wait_ms passed. */
static void child_network(const struct probe_task *t)
{
	char msg[1024] = "";
	int64_t until = zl_monotonic_ms() + t->wait_ms;
	if (t->kind == PROBE_HTTP && curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		child_fail("GET %s: cannot set up libcurl", t->url);
	for (;;) {
		int64_t left = t->wait_ms > 0 ? until - zl_monotonic_ms() : t->attempt_ms;
		int64_t ms = left < t->attempt_ms ? left : t->attempt_ms;
		if (ms < 1)
			ms = 1;
		int r = t->kind == PROBE_TCP
				? connect_once(t->host ? t->host : "127.0.0.1", t->port, ms, msg, sizeof(msg))
				: http_once(t->url, t->expect_status, ms, msg, sizeof(msg));
		if (r == 0)
			_exit(0);
		int64_t rest = until - zl_monotonic_ms();
		if (t->wait_ms <= 0 || rest <= 0)
			break;
		health_sleep_ms(rest < RETRY_PAUSE_MS ? rest : RETRY_PAUSE_MS);
	}
	if (t->wait_ms > 0)
		child_fail("still failing after %llds: %s", (long long)(t->wait_ms / 1000), msg);
	child_fail("%s", msg);
}

static void child_exec(const struct probe_task *t)
{
	struct zl_err err = ZL_ERR_INIT;
	int code = 0;
	if (t->b->ops->exec(t->b, t->backend_id, t->argv, &code, &err) < 0)
		child_fail("exec in the replica: %s", err.msg);
	_exit(code > 255 ? 255 : code);
}

static void child_shell(const struct probe_task *t)
{
	static char *const fallback[] = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
					  NULL };
	int devnull = open("/dev/null", O_RDONLY);
	if (devnull >= 0)
		dup2(devnull, 0);
	execve(t->argv[0], t->argv, t->envp ? t->envp : fallback);
	child_fail("exec %s: %s", t->argv[0], strerror(errno));
}

static void child_main(const struct probe_task *t, int out_fd, pid_t parent)
{
	setpgid(0, 0);
	/* A probe must not outlive zlapply: in its own process group Ctrl-C
	 * misses it, and an inherited descriptor of <root>/lock would keep the
	 * apply lock held by a process nobody waits for. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	dup2(out_fd, 1);
	dup2(out_fd, 2);
	close_range(3, ~0U, 0);
	signal(SIGPIPE, SIG_DFL);
	if ((t->kind == PROBE_TCP || t->kind == PROBE_HTTP) && t->no_netns)
		child_fail("%s", t->no_netns);
	if (t->netns) {
		int fd = open(t->netns, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			child_fail("open network namespace %s: %s", t->netns, strerror(errno));
		if (setns(fd, CLONE_NEWNET) < 0)
			child_fail("enter network namespace %s: %s", t->netns, strerror(errno));
		close(fd);
	}
	switch (t->kind) {
	case PROBE_TCP:
	case PROBE_HTTP:
		child_network(t);
		break;
	case PROBE_EXEC:
		child_exec(t);
		break;
	case PROBE_SHELL:
		child_shell(t);
		break;
	}
	_exit(1);
}

/* ---- the parent's side ---- */

static void keep_output(struct probe_task *t, const char *data, size_t n)
{
	zl_buf_append(&t->out, data, n);
	if (t->out.len > 2 * OUTPUT_KEEP) {
		size_t drop = t->out.len - OUTPUT_KEEP;
		memmove(t->out.data, t->out.data + drop, t->out.len - drop + 1);
		t->out.len -= drop;
	}
}

/* Reads what is there; at end of file closes the pipe (fd -1). */
static void drain(struct probe_task *t)
{
	char buf[1024];
	while (t->fd >= 0) {
		ssize_t n = read(t->fd, buf, sizeof(buf));
		if (n > 0) {
			keep_output(t, buf, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0) {
			close(t->fd);
			t->fd = -1;
		}
		return;
	}
}

/* Output tail as one line: trimmed, newlines as " | ". */
static char *output_line(const struct zl_buf *out)
{
	if (!out->data)
		return zl_xstrdup("");
	const char *s = out->data;
	size_t len = out->len;
	while (len && (s[len - 1] == '\n' || s[len - 1] == ' ' || s[len - 1] == '\r'))
		len--;
	if (len > 400) {
		s += len - 400;
		len = 400;
	}
	struct zl_buf line = { 0 };
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\n')
			zl_buf_puts(&line, " | ");
		else if (s[i] != '\r')
			zl_buf_append(&line, &s[i], 1);
	}
	return zl_buf_steal(&line);
}

static void finish(struct probe_task *t, int status, bool timed_out)
{
	drain(t);
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	t->done = true;
	_cleanup_free_ char *out = output_line(&t->out);
	int64_t limit = t->wait_ms > 0 ? t->wait_ms : t->attempt_ms;
	if (timed_out) {
		t->ok = false;
		t->message = *out ? zl_xasprintf("timed out after %.1fs (%s)", limit / 1000.0, out)
				  : zl_xasprintf("timed out after %.1fs", limit / 1000.0);
		return;
	}
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	t->ok = code == 0;
	if (t->kind == PROBE_EXEC || t->kind == PROBE_SHELL) {
		if (t->ok)
			t->message = zl_xstrdup(out);
		else if (strncmp(out, "exec ", 5) == 0)
			t->message = zl_xstrdup(out);
		else
			t->message = *out ? zl_xasprintf("exit code %d: %s", code, out)
					  : zl_xasprintf("exit code %d", code);
	} else {
		t->message = t->ok ? NULL : zl_xstrdup(*out ? out : "failed");
	}
}

static void start(struct probe_task *t)
{
	int p[2];
	t->fd = -1;
	t->done = false;
	t->ok = false;
	int64_t limit = t->wait_ms > 0 ? t->wait_ms : t->attempt_ms;
	t->deadline = zl_monotonic_ms() + limit + GRACE_MS;
	if (pipe2(p, O_CLOEXEC) < 0) {
		t->done = true;
		t->message = zl_xasprintf("pipe: %s", strerror(errno));
		return;
	}
	fflush(stdout);
	fflush(stderr);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		t->done = true;
		t->message = zl_xasprintf("fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		close(p[0]);
		child_main(t, p[1], parent);
	}
	/* Also from here: whichever of parent and child runs first, the group
	 * exists before anyone signals it. */
	setpgid(pid, pid);
	close(p[1]);
	fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK);
	t->pid = pid;
	t->fd = p[0];
}

static void run_chunk(struct probe_task *tasks, size_t n)
{
	for (size_t i = 0; i < n; i++)
		start(&tasks[i]);
	struct pollfd *fds = zl_xcalloc(n + 1, sizeof(*fds));
	for (;;) {
		size_t waiting = 0;
		int64_t now = zl_monotonic_ms();
		for (size_t i = 0; i < n; i++) {
			struct probe_task *t = &tasks[i];
			fds[i] = (struct pollfd){ .fd = -1 };
			if (t->done)
				continue;
			int status;
			pid_t r = waitpid(t->pid, &status, WNOHANG);
			if (r == t->pid) {
				/* Grandchildren (the runtime's exec) may hold the
				 * pipe; the exit decides. */
				finish(t, status, false);
				continue;
			}
			if (now >= t->deadline) {
				kill(-t->pid, SIGKILL);
				kill(t->pid, SIGKILL);
				while (waitpid(t->pid, &status, 0) < 0 && errno == EINTR)
					;
				finish(t, status, true);
				continue;
			}
			if (t->fd >= 0)
				fds[i] = (struct pollfd){ .fd = t->fd, .events = POLLIN };
			waiting++;
		}
		if (waiting == 0)
			break;
		/* Short polls: a child's exit shows in waitpid, not always in
		 * the pipe (a grandchild may keep it open). */
		if (poll(fds, n, 20) > 0)
			for (size_t i = 0; i < n; i++)
				if (fds[i].fd >= 0 && (fds[i].revents & (POLLIN | POLLHUP)))
					drain(&tasks[i]);
	}
	free(fds);
}

void probe_batch(struct probe_task *tasks, size_t n)
{
	/* Bounded parallelism: a deployment of thousands of replicas must not
	 * fork thousands of children at once. */
	for (size_t i = 0; i < n; i += MAX_PARALLEL)
		run_chunk(tasks + i, n - i < MAX_PARALLEL ? n - i : MAX_PARALLEL);
}

void probe_task_clear(struct probe_task *t)
{
	if (!t)
		return;
	free(t->message);
	zl_buf_free(&t->out);
	t->message = NULL;
}
