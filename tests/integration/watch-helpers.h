/* watch-helpers.h: running `zlapply watch` in the background for a test and
 * looking at it the way a user would (its logfmt lines, `status`, the mock
 * backend's containers, GET on its HTTP endpoints). Shared by test_watch.c
 * and test_watch_git.c. */
#ifndef ZL_TEST_WATCH_HELPERS_H
#define ZL_TEST_WATCH_HELPERS_H

#include "cli-helpers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>

#include "backends/backend.h"
#include "backends/mock/mock.h"
#include "state/state.h"

struct wt {
	struct cli_tmp t;
	struct cli_proc p;
	bool running; /* a watcher we started that has not been reaped */
	char specs[PATH_MAX]; /* t.dir/specs */
};

static inline int setup(void **state)
{
	struct wt *w = calloc(1, sizeof(*w));
	if (!w)
		return -1;
	cli_tmp_make(&w->t);
	cli_pathf(w->specs, "%s/specs", w->t.dir);
	if (mkdir(w->specs, 0755) < 0)
		return -1;
	*state = w;
	return 0;
}

static inline int teardown(void **state)
{
	struct wt *w = *state;
	if (w->running) {
		/* A test failed with the watcher still up: stop it (ours, by pid). */
		kill(w->p.pid, SIGKILL);
		waitpid(w->p.pid, NULL, 0);
		unlink(w->p.out_path);
		unlink(w->p.err_path);
	}
	cli_tmp_remove(&w->t);
	free(w);
	return 0;
}

/* ---- the watcher ---- */

#define start_watch(w, ...) \
	start_watch_((w), (const char *const[]){ "watch", __VA_ARGS__, NULL })
static inline void wait_log_(struct wt *w, int64_t timeout_ms, const char *const *needles);

/* Starts the watcher and waits for its first apply: `status` must not race
 * the run that creates (and migrates) the database. */
static inline void start_watch_(struct wt *w, const char *const *args)
{
	cli_spawn(w->t.root, NULL, NULL, args, &w->p);
	w->running = true;
	wait_log_(w, 10000, (const char *const[]){ "msg=\"applied\"", "trigger=start", NULL });
}

/* What the watcher wrote to stderr so far. Caller frees. */
static inline char *watch_log(struct wt *w)
{
	char *text = cli_read_file(w->p.err_path);
	assert_non_null(text);
	return text;
}

/* Fails the test unless the watcher is still running. */
static inline void assert_watching(struct wt *w)
{
	int status;
	if (waitpid(w->p.pid, &status, WNOHANG) == w->p.pid) {
		w->running = false;
		char *log = cli_read_file(w->p.err_path);
		fail_msg("the watcher exited (status %d):\n%s", status, log ? log : "");
	}
}

/* Waits for a log line with every needle. */
#define wait_log(w, timeout_ms, ...) \
	wait_log_((w), (timeout_ms), (const char *const[]){ __VA_ARGS__, NULL })
static inline void wait_log_(struct wt *w, int64_t timeout_ms, const char *const *needles)
{
	int64_t end = cli_mono_ms() + timeout_ms;
	for (;;) {
		char *log = watch_log(w);
		char *line = cli_find_line(log, needles);
		if (line) {
			free(line);
			free(log);
			return;
		}
		if (cli_mono_ms() > end) {
			fail_msg("no log line with \"%s\"%s%s after %lld ms:\n%s", needles[0],
				 needles[1] ? " and \"" : "", needles[1] ? needles[1] : "",
				 (long long)timeout_ms, log);
		}
		free(log);
		assert_watching(w);
		cli_sleep_ms(100);
	}
}

/* SIGTERM; asserts exit 0 within 3 s. Returns the log (caller frees). */
static inline char *stop_watch(struct wt *w)
{
	int64_t t0 = cli_mono_ms();
	assert_int_equal(kill(w->p.pid, SIGTERM), 0);
	int status = 0;
	pid_t r;
	while ((r = waitpid(w->p.pid, &status, WNOHANG)) == 0 && cli_mono_ms() - t0 < 3000)
		cli_sleep_ms(20);
	if (r != w->p.pid) {
		char *log = watch_log(w);
		fail_msg("the watcher did not stop within 3 s of SIGTERM:\n%s", log);
	}
	w->running = false;
	char *log = cli_read_file(w->p.err_path);
	unlink(w->p.out_path);
	unlink(w->p.err_path);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("the watcher ended with status 0x%x after SIGTERM:\n%s", status, log);
	return log;
}

/* ---- what is running ---- */

static inline int running_count(const char *root)
{
	cJSON *doc = cli_status_json(root, "demo");
	int n = 0;
	cJSON *r;
	cJSON_ArrayForEach(r, cli_json_replicas(doc))
	{
		const char *st = cli_json_str(r, "state");
		if (st && strcmp(st, "running") == 0)
			n++;
	}
	cJSON_Delete(doc);
	return n;
}

/* Waits until exactly want replicas of demo run (and no others are listed). */
static inline void wait_running(struct wt *w, int want, int64_t timeout_ms)
{
	int64_t end = cli_mono_ms() + timeout_ms;
	for (;;) {
		cJSON *doc = cli_status_json(w->t.root, "demo");
		int total = cli_json_count(doc, "demo");
		cJSON_Delete(doc);
		int n = running_count(w->t.root);
		if (n == want && total == want)
			return;
		if (cli_mono_ms() > end) {
			char *log = watch_log(w);
			fail_msg("%d of %d replicas running after %lld ms, expected %d:\n%s", n, total,
				 (long long)timeout_ms, want, log);
		}
		assert_watching(w);
		cli_sleep_ms(100);
	}
}

/* State and restart count of demo's web-rep-N. */
static inline void replica_state(const char *root, int index, char *state, size_t size, int *restarts)
{
	cJSON *doc = cli_status_json(root, "demo");
	cJSON *r = cli_json_replica(doc, "demo", "web", index);
	const char *st = r ? cli_json_str(r, "state") : NULL;
	snprintf(state, size, "%s", st ? st : "(none)");
	cJSON *n = r ? cJSON_GetObjectItemCaseSensitive(r, "restarts") : NULL;
	*restarts = cJSON_IsNumber(n) ? n->valueint : -1;
	cJSON_Delete(doc);
}

/* Kills web-rep-N behind zlapply's back and waits until it runs again with
 * one more restart. Returns how long that took (ms). */
static inline int64_t kill_and_wait_restart(struct wt *w, int index, int64_t timeout_ms)
{
	char state[32], id[64];
	int before, after;
	replica_state(w->t.root, index, state, sizeof(state), &before);
	assert_string_equal(state, "running");
	snprintf(id, sizeof(id), "zl-demo-web-%d", index);
	struct zl_err zerr = ZL_ERR_INIT;
	int64_t t0 = cli_mono_ms();
	if (backend_mock_set_exit(w->t.root, id, 1, 0, &zerr) < 0)
		fail_msg("backend_mock_set_exit: %s", zerr.msg);
	for (;;) {
		replica_state(w->t.root, index, state, sizeof(state), &after);
		if (strcmp(state, "running") == 0 && after > before)
			return cli_mono_ms() - t0;
		if (cli_mono_ms() - t0 > timeout_ms) {
			char *log = watch_log(w);
			fail_msg("web-rep-%d is %s (restarts %d) %lld ms after it was killed:\n%s", index,
				 state, after, (long long)timeout_ms, log);
		}
		assert_watching(w);
		cli_sleep_ms(50);
	}
}

/* ---- HTTP ---- */

/* The port the watcher's "watching" line gives for key ("metrics",
 * "webhook"), bound on 127.0.0.1. */
static inline int listen_port(struct wt *w, const char *key)
{
	char needle[64];
	snprintf(needle, sizeof(needle), "%s=127.0.0.1:", key);
	wait_log(w, 5000, "msg=\"watching\"", needle);
	char *log = watch_log(w);
	char *at = strstr(log, needle);
	int port = atoi(at + strlen(needle));
	free(log);
	assert_true(port > 0 && port < 65536);
	return port;
}

static inline int metrics_port(struct wt *w)
{
	return listen_port(w, "metrics");
}

/* The events of kind recorded under root (all deployments), as
 * "SERVICE-rep-N: MESSAGE" lines. Caller frees. */
static inline char *events_of_kind(const char *root, const char *kind)
{
	struct state_db *db = NULL;
	struct zl_err err = ZL_ERR_INIT;
	struct state_events ev = { 0 };
	if (state_open(root, true, &db, &err) < 0 || state_events_load(db, NULL, 0, &ev, &err) < 0)
		fail_msg("events: %s", err.msg);
	struct zl_buf b = { 0 };
	for (size_t i = 0; i < ev.count; i++)
		if (strcmp(ev.items[i].kind, kind) == 0)
			zl_buf_printf(&b, "%s-rep-%d: %s\n", ev.items[i].service ? ev.items[i].service : "",
				      ev.items[i].index, ev.items[i].message ? ev.items[i].message : "");
	state_events_free(&ev);
	state_close(db);
	return zl_buf_steal(&b);
}

static inline int connect_local(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		fail_msg("connect 127.0.0.1:%d: %s", port, strerror(errno));
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* GET path; returns the whole response (status line, headers, body). */
static inline char *http_get(int port, const char *path)
{
	int fd = connect_local(port);
	char req[512];
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: test\r\n\r\n",
			 path);
	assert_int_equal(write(fd, req, (size_t)n), n);
	char *buf = calloc(1, 1 << 16);
	size_t len = 0;
	ssize_t r;
	while (len < (1 << 16) - 1 && (r = read(fd, buf + len, (1 << 16) - 1 - len)) > 0)
		len += (size_t)r;
	close(fd);
	return buf;
}

/* The value of the sample line that starts with `series ` (name + labels). */
static inline double metric_value(const char *body, const char *series)
{
	size_t len = strlen(series);
	for (const char *p = body; p && *p;) {
		if (strncmp(p, series, len) == 0 && p[len] == ' ')
			return strtod(p + len + 1, NULL);
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	fail_msg("no sample %s in:\n%s", series, body);
	return -1;
}

/* ---- specs ---- */

static inline void spec_path(struct wt *w, char out[PATH_MAX])
{
	cli_pathf(out, "%s/demo.yaml", w->specs);
}

/* Saves like an editor: a temporary file, then rename over the spec. */
static inline void save_by_rename(struct wt *w, int replicas)
{
	char tmp[PATH_MAX], spec[PATH_MAX];
	cli_pathf(tmp, "%s/.demo.yaml.swp", w->specs);
	spec_path(w, spec);
	cli_write_web_spec(tmp, "demo", replicas, NULL);
	if (rename(tmp, spec) < 0)
		fail_msg("rename: %s", strerror(errno));
}

#endif
