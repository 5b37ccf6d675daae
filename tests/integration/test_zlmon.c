/* test_zlmon.c: zlmon end to end with the real runc: it is spawned exactly
 * as the OCI backend does (fork, setsid, fork, exec, stdio on /dev/null, a
 * ready pipe), runs busybox containers, and is judged by what a user of
 * zlapply would see: the ready line, ctr.log, exit.json, the runtime's
 * record, the monitor's liveness. monitor.h's readers are exercised on the
 * files zlmon really wrote.
 *
 * Needs root, runc and /bin/busybox (skipped otherwise). zlmon: env
 * ZLMON_BIN, else the build's own backends/monitor/zlmon. When zlmon is
 * built with sanitizers, its reports go to STATE_DIR/asan.* (log_path) and
 * every test checks there are none. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "backends/monitor/monitor.h"

#define WAIT_MS 30000

/* Built once per run: a busybox rootfs and runc's default config. */
static char *g_root;       /* /tmp/zlmon-test-XXXXXX */
static char *g_rootfs;     /* shared, read-only in every container */
static char *g_base_config;
static char *g_runc;
static char *g_zlmon;
static int g_counter;

struct fix {
	char id[64];
	char *dir;       /* per test */
	char *bundle;
	char *state;     /* zlmon's --dir */
	char *runc_root; /* runc --root, so tests never touch /run/runc */
	char ready[4096];
	int64_t pid, start_time;
};

/* ---- small helpers ---- */
static void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

static char *find_in_path(const char *name)
{
	const char *path = getenv("PATH");
	char *copy = zl_xasprintf("%s:/usr/sbin:/sbin", path ? path : "/usr/bin:/bin");
	char *save = NULL, *found = NULL;
	for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
		char *p = zl_xasprintf("%s/%s", d, name);
		if (access(p, X_OK) == 0)
			found = p;
		else
			free(p);
	}
	free(copy);
	return found;
}

/* Runs argv with stdout+stderr to /dev/null (or into out); returns the wait status. */
static int run_quiet(const char *const argv[], char **out)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		int null_fd = open("/dev/null", O_RDWR);
		dup2(null_fd, 0);
		dup2(p[1], 1);
		dup2(p[1], 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	struct zl_buf b = { 0 };
	char buf[4096];
	ssize_t n;
	while ((n = read(p[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
		if (n > 0)
			zl_buf_append(&b, buf, (size_t)n);
	close(p[0]);
	int status = -1;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (out)
		*out = zl_buf_steal(&b);
	zl_buf_free(&b);
	return status;
}

static char *read_text(const char *path)
{
	char *data = NULL;
	size_t len = 0;
	if (zl_read_file(path, &data, &len, NULL) < 0)
		return NULL;
	return data;
}

static bool exists(const char *dir, const char *name)
{
	char *p = zl_xasprintf("%s/%s", dir, name);
	bool r = access(p, F_OK) == 0;
	free(p);
	return r;
}

static off_t file_size(const char *dir, const char *name)
{
	char *p = zl_xasprintf("%s/%s", dir, name);
	struct stat st;
	off_t r = stat(p, &st) == 0 ? st.st_size : -1;
	free(p);
	return r;
}

/* ---- fixture: a bundle and a state dir per test ---- */
static int group_setup(void **state)
{
	(void)state;
	g_runc = find_in_path("runc");
	const char *env = getenv("ZLMON_BIN");
	g_zlmon = zl_xstrdup(env && *env ? env : ZL_TEST_BUILD_ROOT "/backends/monitor/zlmon");
	if (geteuid() != 0 || !g_runc || access("/bin/busybox", X_OK) != 0 ||
	    access(g_zlmon, X_OK) != 0) {
		fprintf(stderr, "test_zlmon: needs root, runc, /bin/busybox and %s; skipping\n",
			g_zlmon);
		return 0;
	}
	char tmpl[] = "/tmp/zlmon-test-XXXXXX";
	if (!mkdtemp(tmpl))
		return -1;
	g_root = zl_xstrdup(tmpl);
	g_rootfs = zl_xasprintf("%s/rootfs", g_root);
	char *bin = zl_xasprintf("%s/bin", g_rootfs);
	struct zl_err err = ZL_ERR_INIT;
	if (zl_mkdir_p(bin, 0755, &err) < 0)
		return -1;
	const char *cp[] = { "/bin/cp", "/bin/busybox", bin, NULL };
	if (run_quiet(cp, NULL) != 0)
		return -1;
	const char *links[] = { "sh", "sleep", "echo", "cat", "printf", "seq", "true" };
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		char *l = zl_xasprintf("%s/%s", bin, links[i]);
		if (symlink("busybox", l) < 0)
			return -1;
		free(l);
	}
	free(bin);
	char *spec_dir = zl_xasprintf("%s/spec", g_root);
	zl_mkdir_p(spec_dir, 0755, &err);
	const char *spec[] = { g_runc, "spec", "--bundle", spec_dir, NULL };
	if (run_quiet(spec, NULL) != 0)
		return -1;
	char *cfg = zl_xasprintf("%s/config.json", spec_dir);
	g_base_config = read_text(cfg);
	free(cfg);
	free(spec_dir);
	return g_base_config ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	if (g_root) {
		struct zl_err err = ZL_ERR_INIT;
		zl_rm_rf(g_root, &err);
	}
	/* The parent cgroup runc made for our cgroupsPath; empty by now. */
	DIR *d = opendir("/sys/fs/cgroup");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char *p = zl_xasprintf("/sys/fs/cgroup/%s/zlapply-test", e->d_name);
		rmdir(p); /* absent or still in use elsewhere: fine */
		free(p);
	}
	if (d)
		closedir(d);
	free(g_root);
	free(g_rootfs);
	free(g_base_config);
	free(g_runc);
	free(g_zlmon);
	return 0;
}

static int setup(void **state)
{
	if (!g_base_config) {
		*state = NULL;
		return 0;
	}
	struct fix *f = zl_xcalloc(1, sizeof(*f));
	snprintf(f->id, sizeof(f->id), "zlmon-t%d-%d", (int)getpid(), ++g_counter);
	f->dir = zl_xasprintf("%s/%s", g_root, f->id);
	f->bundle = zl_xasprintf("%s/bundle", f->dir);
	f->state = zl_xasprintf("%s/state", f->dir);
	f->runc_root = zl_xasprintf("%s/runc", f->dir);
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(zl_mkdir_p(f->bundle, 0700, &err), 0);
	assert_int_equal(zl_mkdir_p(f->state, 0700, &err), 0);
	*state = f;
	return 0;
}

static bool runc_knows(struct fix *f)
{
	const char *argv[] = { g_runc, "--root", f->runc_root, "state", f->id, NULL };
	return run_quiet(argv, NULL) == 0;
}

static void remove_cgroups(const char *id)
{
	DIR *d = opendir("/sys/fs/cgroup");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char *p = zl_xasprintf("/sys/fs/cgroup/%s/zlapply-test/%s", e->d_name, id);
		rmdir(p); /* runc delete removed it already, normally */
		free(p);
	}
	if (d)
		closedir(d);
}

static int teardown(void **state)
{
	struct fix *f = *state;
	if (!f)
		return 0;
	int64_t mpid, mstart;
	if (monitor_read_self(f->state, &mpid, &mstart) == 0 &&
	    monitor_proc_start_time(mpid) == mstart)
		kill((pid_t)mpid, SIGKILL);
	const char *del[] = { g_runc, "--root", f->runc_root, "delete", "--force", f->id, NULL };
	run_quiet(del, NULL);
	remove_cgroups(f->id);
	struct zl_err err = ZL_ERR_INIT;
	zl_rm_rf(f->dir, &err);
	free(f->dir);
	free(f->bundle);
	free(f->state);
	free(f->runc_root);
	free(f);
	return 0;
}

#define NEED_FIXTURE(f)                                        \
	struct fix *f = *state;                                \
	do {                                                   \
		if (!f) {                                      \
			skip();                                \
			return;                                \
		}                                              \
	} while (0)

/* Writes bundle/config.json: runc's default spec running argv (or
 * sh -c script), no terminal, our cgroup, an optional memory limit. */
static void write_config(struct fix *f, const char *script, const char *const *argv,
			 int64_t memory_limit, const char *rootfs)
{
	cJSON *cfg = cJSON_Parse(g_base_config);
	assert_non_null(cfg);
	cJSON *process = cJSON_GetObjectItem(cfg, "process");
	cJSON_ReplaceItemInObject(process, "terminal", cJSON_CreateFalse());
	cJSON *args = cJSON_CreateArray();
	if (argv) {
		for (size_t i = 0; argv[i]; i++)
			cJSON_AddItemToArray(args, cJSON_CreateString(argv[i]));
	} else {
		cJSON_AddItemToArray(args, cJSON_CreateString("/bin/sh"));
		cJSON_AddItemToArray(args, cJSON_CreateString("-c"));
		cJSON_AddItemToArray(args, cJSON_CreateString(script));
	}
	cJSON_ReplaceItemInObject(process, "args", args);
	cJSON *root = cJSON_GetObjectItem(cfg, "root");
	cJSON_ReplaceItemInObject(root, "path", cJSON_CreateString(rootfs ? rootfs : g_rootfs));
	cJSON *linux_ = cJSON_GetObjectItem(cfg, "linux");
	char *cgroup = zl_xasprintf("/zlapply-test/%s", f->id);
	cJSON_DeleteItemFromObject(linux_, "cgroupsPath");
	cJSON_AddStringToObject(linux_, "cgroupsPath", cgroup);
	free(cgroup);
	if (memory_limit > 0) {
		cJSON *res = cJSON_GetObjectItem(linux_, "resources");
		if (!res)
			res = cJSON_AddObjectToObject(linux_, "resources");
		cJSON_DeleteItemFromObject(res, "memory");
		cJSON *mem = cJSON_AddObjectToObject(res, "memory");
		cJSON_AddNumberToObject(mem, "limit", (double)memory_limit);
	}
	char *text = cJSON_Print(cfg);
	cJSON_Delete(cfg);
	char *path = zl_xasprintf("%s/config.json", f->bundle);
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(zl_write_file_atomic(path, text, strlen(text), 0600, &err), 0);
	free(path);
	free(text);
}

/* Starts zlmon like the OCI backend does and reads its ready line into
 * f->ready. extra: more arguments (NULL-terminated) or NULL. Returns true
 * for "ok PID STARTTIME". */
static bool spawn_zlmon(struct fix *f, const char *const *extra)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	char fd_text[16];
	snprintf(fd_text, sizeof(fd_text), "%d", p[1]);
	const char *argv[32] = { g_zlmon,   "--id",    f->id,      "--bundle",     f->bundle,
				 "--runtime", g_runc, "--dir",  f->state, "--ready-fd",
				 fd_text,   "--runtime-root", f->runc_root };
	size_t n = 13;
	for (size_t i = 0; extra && extra[i] && n < 31; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	const char *asan = getenv("ASAN_OPTIONS");
	char *asan_opts = zl_xasprintf("%s%slog_path=%s/asan", asan ? asan : "", asan ? ":" : "",
				       f->state);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		setsid();
		pid_t grandchild = fork();
		if (grandchild != 0)
			_exit(grandchild < 0 ? 1 : 0);
		int null_fd = open("/dev/null", O_RDWR);
		dup2(null_fd, 0);
		dup2(null_fd, 1);
		dup2(null_fd, 2);
		fcntl(p[1], F_SETFD, 0);
		setenv("ASAN_OPTIONS", asan_opts, 1);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	free(asan_opts);
	close(p[1]);
	int st;
	while (waitpid(child, &st, 0) < 0 && errno == EINTR)
		;
	size_t len = 0;
	int64_t deadline = monitor_monotonic_ms() + 60000;
	for (;;) {
		int64_t left = deadline - monitor_monotonic_ms();
		assert_true(left > 0);
		struct pollfd pfd = { p[0], POLLIN, 0 };
		if (poll(&pfd, 1, (int)left) < 0)
			continue;
		ssize_t r = read(p[0], f->ready + len, sizeof(f->ready) - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(p[0]);
	f->ready[len] = '\0';
	long long pid = 0, start = 0;
	if (sscanf(f->ready, "ok %lld %lld", &pid, &start) == 2) {
		f->pid = pid;
		f->start_time = start;
		return true;
	}
	return false;
}

static void wait_exit(struct fix *f, struct monitor_exit *ex)
{
	int64_t deadline = monitor_monotonic_ms() + WAIT_MS;
	while (monitor_exit_read(f->state, ex) < 0) {
		assert_true(monitor_monotonic_ms() < deadline);
		msleep(20);
	}
}

static void wait_monitor_gone(struct fix *f)
{
	int64_t deadline = monitor_monotonic_ms() + WAIT_MS;
	while (monitor_alive(f->state)) {
		assert_true(monitor_monotonic_ms() < deadline);
		msleep(20);
	}
}

/* zlmon has exited and, if it was built with sanitizers, reported nothing. */
static void assert_zlmon_clean(struct fix *f)
{
	wait_monitor_gone(f);
	DIR *d = opendir(f->state);
	assert_non_null(d);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "asan", 4) == 0) {
			char *p = zl_xasprintf("%s/%s", f->state, e->d_name);
			char *text = read_text(p);
			fprintf(stderr, "zlmon sanitizer report %s:\n%s\n", p, text ? text : "");
			free(text);
			free(p);
			closedir(d);
			fail_msg("zlmon left a sanitizer report");
		}
	}
	closedir(d);
}

/* The index of the first record with this stream and text, or -1. */
static ssize_t find_record(const struct monitor_log_record *recs, size_t n,
			   enum monitor_stream stream, const char *text)
{
	for (size_t i = 0; i < n; i++)
		if (recs[i].stream == stream && strcmp(recs[i].text, text) == 0)
			return (ssize_t)i;
	return -1;
}

/* ---- tests ---- */
static void test_hello_exit_0(void **state)
{
	NEED_FIXTURE(f);
	write_config(f, "echo hello", NULL, 0, NULL);
	int64_t before = monitor_now_ms();
	assert_true(spawn_zlmon(f, NULL));
	assert_true(f->pid > 0);
	assert_true(f->start_time > 0);
	struct monitor_exit ex;
	wait_exit(f, &ex);
	assert_int_equal(ex.exit_code, 0);
	assert_int_equal(ex.signal, 0);
	assert_string_equal(ex.reason, "exited");
	assert_false(ex.oom_killed);
	assert_int_equal(ex.pid, f->pid);
	assert_true(ex.finished_at_ms >= before && ex.finished_at_ms <= monitor_now_ms());

	/* The record as written: signal null, RFC 3339 time. */
	char *path = zl_xasprintf("%s/exit.json", f->state);
	char *raw = read_text(path);
	free(path);
	assert_non_null(raw);
	cJSON *obj = cJSON_Parse(raw);
	free(raw);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(obj, "signal")));
	const char *when = cJSON_GetStringValue(cJSON_GetObjectItem(obj, "finished_at"));
	assert_non_null(when);
	assert_int_equal(strlen(when), 24);
	assert_int_equal(when[10], 'T');
	assert_int_equal(when[23], 'Z');
	cJSON_Delete(obj);

	struct monitor_log_record *recs;
	size_t n;
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(monitor_logs_tail(f->state, 0, &recs, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(recs[0].stream, MONITOR_STDOUT);
	assert_string_equal(recs[0].text, "hello\n");
	monitor_log_records_free(recs, n);

	/* The id is free again: the runtime forgot the container. */
	assert_false(runc_knows(f));
	assert_zlmon_clean(f);
	assert_false(monitor_alive(f->state));
}

static void test_exit_code_7(void **state)
{
	NEED_FIXTURE(f);
	write_config(f, "exit 7", NULL, 0, NULL);
	assert_true(spawn_zlmon(f, NULL));
	struct monitor_exit ex;
	wait_exit(f, &ex);
	assert_int_equal(ex.exit_code, 7);
	assert_int_equal(ex.signal, 0);
	assert_string_equal(ex.reason, "exited");
	assert_false(runc_knows(f));
	assert_zlmon_clean(f);
}

static void test_killed_by_sigkill(void **state)
{
	NEED_FIXTURE(f);
	write_config(f, "sleep 100", NULL, 0, NULL);
	assert_true(spawn_zlmon(f, NULL));
	assert_true(monitor_alive(f->state));
	assert_int_equal(monitor_proc_start_time(f->pid), f->start_time);
	assert_true(runc_knows(f));
	struct monitor_exit ex;
	assert_int_equal(monitor_exit_read(f->state, &ex), -1);
	assert_int_equal(errno, ENOENT);

	assert_int_equal(kill((pid_t)f->pid, SIGKILL), 0);
	wait_exit(f, &ex);
	assert_int_equal(ex.exit_code, 137);
	assert_int_equal(ex.signal, SIGKILL);
	assert_string_equal(ex.reason, "signal");
	assert_false(ex.oom_killed);
	char *path = zl_xasprintf("%s/exit.json", f->state);
	char *raw = read_text(path);
	free(path);
	assert_non_null(strstr(raw, "\"signal\":\"SIGKILL\""));
	free(raw);
	assert_false(runc_knows(f));
	assert_zlmon_clean(f);
}

static void test_oom_killed(void **state)
{
	NEED_FIXTURE(f);
	/* The string doubles until the 8 MiB limit is hit. */
	write_config(f, "x=a; while true; do x=$x$x; done", NULL, 8 * 1024 * 1024, NULL);
	assert_true(spawn_zlmon(f, NULL));
	struct monitor_exit ex;
	wait_exit(f, &ex);
	assert_string_equal(ex.reason, "oom_killed");
	assert_true(ex.oom_killed);
	assert_int_equal(ex.signal, SIGKILL);
	assert_int_equal(ex.exit_code, 137);
	assert_false(runc_knows(f));
	assert_zlmon_clean(f);
}

static void test_log_rotation(void **state)
{
	NEED_FIXTURE(f);
	write_config(f, "i=0; while [ $i -lt 500 ]; do echo line-$i; i=$((i+1)); done", NULL, 0,
		     NULL);
	const char *extra[] = { "--log-max-bytes", "4096", "--log-max-files", "2", NULL };
	assert_true(spawn_zlmon(f, extra));
	struct monitor_exit ex;
	wait_exit(f, &ex);
	assert_int_equal(ex.exit_code, 0);
	assert_true(exists(f->state, "ctr.log"));
	assert_true(exists(f->state, "ctr.log.1"));
	assert_true(exists(f->state, "ctr.log.2"));
	assert_false(exists(f->state, "ctr.log.3"));
	assert_true(file_size(f->state, "ctr.log") <= 4096);
	assert_true(file_size(f->state, "ctr.log.1") <= 4096);
	assert_true(file_size(f->state, "ctr.log.2") <= 4096);
	assert_true(file_size(f->state, "ctr.log.1") > 3000); /* rotated when full, not earlier */

	/* tail 100 spans files (about 55 records fit in one) and ends at the end. */
	struct monitor_log_record *recs;
	size_t n;
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(monitor_logs_tail(f->state, 100, &recs, &n, &err), 0);
	assert_int_equal(n, 100);
	for (size_t i = 0; i < n; i++) {
		char want[32];
		snprintf(want, sizeof(want), "line-%zu\n", 400 + i);
		assert_string_equal(recs[i].text, want);
	}
	monitor_log_records_free(recs, n);
	/* Everything kept: consecutive, the oldest ones rotated away. */
	assert_int_equal(monitor_logs_tail(f->state, 0, &recs, &n, &err), 0);
	assert_true(n > 100 && n < 500);
	for (size_t i = 0; i < n; i++) {
		char want[32];
		snprintf(want, sizeof(want), "line-%zu\n", 500 - n + i);
		assert_string_equal(recs[i].text, want);
	}
	monitor_log_records_free(recs, n);
	assert_zlmon_clean(f);
}

static void test_streams_and_utf8(void **state)
{
	NEED_FIXTURE(f);
	write_config(f, "echo out; echo err >&2; printf 'a\\377b\\n'; printf 'caf\\303\\251\\n'; "
			"printf no-newline",
		     NULL, 0, NULL);
	assert_true(spawn_zlmon(f, NULL));
	struct monitor_exit ex;
	wait_exit(f, &ex);
	struct monitor_log_record *recs;
	size_t n;
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(monitor_logs_tail(f->state, 0, &recs, &n, &err), 0);
	assert_true(find_record(recs, n, MONITOR_STDOUT, "out\n") >= 0);
	assert_true(find_record(recs, n, MONITOR_STDERR, "err\n") >= 0);
	assert_true(find_record(recs, n, MONITOR_STDOUT, "err\n") < 0);
	/* An invalid byte becomes U+FFFD; valid UTF-8 stays as it is. */
	assert_true(find_record(recs, n, MONITOR_STDOUT, "a\xEF\xBF\xBD" "b\n") >= 0);
	assert_true(find_record(recs, n, MONITOR_STDOUT, "caf\xC3\xA9\n") >= 0);
	assert_true(find_record(recs, n, MONITOR_STDOUT, "no-newline") >= 0);
	monitor_log_records_free(recs, n);

	/* The file is valid JSON lines with the documented keys. */
	char *path = zl_xasprintf("%s/ctr.log", f->state);
	char *raw = read_text(path);
	free(path);
	char *save = NULL;
	for (char *line = strtok_r(raw, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		cJSON *obj = cJSON_Parse(line);
		assert_non_null(obj);
		assert_non_null(cJSON_GetStringValue(cJSON_GetObjectItem(obj, "time")));
		assert_non_null(cJSON_GetStringValue(cJSON_GetObjectItem(obj, "stream")));
		assert_non_null(cJSON_GetStringValue(cJSON_GetObjectItem(obj, "text")));
		cJSON_Delete(obj);
	}
	free(raw);
	assert_zlmon_clean(f);
}

static void test_logs_print_and_follow(void **state)
{
	NEED_FIXTURE(f);
	write_config(f, "echo one; sleep 1; printf 'tw'; sleep 0.3; echo o", NULL, 0, NULL);
	assert_true(spawn_zlmon(f, NULL));
	/* Started while the container runs; returns once it has exited. */
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	struct zl_err err = ZL_ERR_INIT;
	int64_t t0 = monitor_monotonic_ms();
	assert_int_equal(monitor_logs_print(f->state, 0, true, false, out, &err), 0);
	fclose(out);
	assert_string_equal(text, "one\ntwo\n");
	assert_true(monitor_monotonic_ms() - t0 >= 1000);
	free(text);
	struct monitor_exit ex;
	assert_int_equal(monitor_exit_read(f->state, &ex), 0);

	/* Timestamps start each line, not each record. */
	out = open_memstream(&text, &len);
	assert_int_equal(monitor_logs_print(f->state, 0, false, true, out, &err), 0);
	fclose(out);
	int y, mo, d, h, mi, s, ms;
	char word[8];
	const char *second = strchr(text, '\n') + 1;
	assert_int_equal(sscanf(second, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ %7s", &y, &mo, &d, &h, &mi,
				&s, &ms, word),
			 8);
	assert_string_equal(word, "two");
	/* "TIME two\n": the record "o\n" that ends the line gets no stamp of its own. */
	assert_int_equal(strlen(second), 24 + 1 + 4);
	assert_string_equal(second + 24, " two\n");
	free(text);

	/* tail 1: the last record only. */
	out = open_memstream(&text, &len);
	assert_int_equal(monitor_logs_print(f->state, 1, false, false, out, &err), 0);
	fclose(out);
	assert_string_equal(text, "o\n");
	free(text);
	assert_zlmon_clean(f);
}

/* A command that cannot be executed is not a failure to start: it exits at
 * once, as under a shell, with 127 (not found) or 126 (not executable) and
 * why, in exit.json and on the container's stderr. */
static void assert_exec_failed(struct fix *f, int code, const char *why)
{
	struct monitor_exit ex;
	wait_exit(f, &ex);
	if (ex.exit_code != code || strcmp(ex.reason, "exec_failed") != 0 || ex.signal ||
	    strcmp(ex.error, why) != 0)
		fail_msg("expected exit %d, exec_failed, \"%s\"; got %d, %s, \"%s\"", code, why,
			 ex.exit_code, ex.reason, ex.error);
	struct monitor_log_record *recs;
	size_t n;
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(monitor_logs_tail(f->state, 1, &recs, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(recs[0].stream, MONITOR_STDERR);
	struct zl_buf again = { 0 };
	/* the last line says it too, in the runtime's words or zlmon's */
	assert_int_equal(monitor_exec_failure(recs[0].text, &again), code);
	assert_string_equal(again.data, why);
	zl_buf_free(&again);
	monitor_log_records_free(recs, n);
	assert_false(runc_knows(f));
	assert_zlmon_clean(f);
}

static void test_bad_binary_is_exec_failure(void **state)
{
	NEED_FIXTURE(f);
	const char *argv[] = { "/bin/nosuch", NULL };
	write_config(f, NULL, argv, 0, NULL);
	/* runc's create refuses it; zlmon reports a start and an exit. */
	assert_true(spawn_zlmon(f, NULL));
	assert_exec_failed(f, 127, "exec: \"/bin/nosuch\": stat /bin/nosuch: no such file or directory");
	struct monitor_exit ex;
	assert_int_equal(monitor_exit_read(f->state, &ex), 0);
	assert_int_equal(ex.pid, -1); /* no process of the container ran */
	/* Why, for zlmon.log's reader: the runtime's whole command and answer. */
	char *path = zl_xasprintf("%s/zlmon.log", f->state);
	char *log = read_text(path);
	free(path);
	assert_non_null(strstr(log, " create "));
	free(log);
}

static void test_not_in_path_and_not_executable(void **state)
{
	NEED_FIXTURE(f);
	const char *argv[] = { "nosuch", NULL };
	write_config(f, NULL, argv, 0, NULL);
	assert_true(spawn_zlmon(f, NULL));
	assert_exec_failed(f, 127, "exec: \"nosuch\": executable file not found in $PATH");

	/* A directory: found, cannot be executed. */
	const char *dir[] = { "/bin", NULL };
	write_config(f, NULL, dir, 0, NULL);
	assert_true(spawn_zlmon(f, NULL));
	assert_exec_failed(f, 126, "exec: \"/bin\": permission denied");
}

/* The exec fails after start (runc checks the file, not the arguments):
 * still exec_failed, 126, with the kernel's reason. */
static void test_argument_list_too_long(void **state)
{
	NEED_FIXTURE(f);
	char *big = zl_xcalloc(1, 200 * 1024 + 1);
	memset(big, 'x', 200 * 1024); /* one argument over MAX_ARG_STRLEN (128 KiB) */
	const char *argv[] = { "/bin/echo", big, NULL };
	write_config(f, NULL, argv, 0, NULL);
	free(big);
	assert_true(spawn_zlmon(f, NULL));
	assert_exec_failed(f, 126, "exec: \"/bin/echo\": argument list too long");
	struct monitor_exit ex;
	assert_int_equal(monitor_exit_read(f->state, &ex), 0);
	assert_int_equal(ex.pid, f->pid);
}

/* A command that runs and fails is not an exec failure, whatever it says. */
static void test_command_failing_is_not_exec_failure(void **state)
{
	NEED_FIXTURE(f);
	write_config(f, "echo 'exec /bin/x: permission denied' >&2; exit 126", NULL, 0, NULL);
	assert_true(spawn_zlmon(f, NULL));
	struct monitor_exit ex;
	wait_exit(f, &ex);
	assert_int_equal(ex.exit_code, 126);
	assert_string_equal(ex.reason, "exited");
	assert_string_equal(ex.error, "");
	assert_zlmon_clean(f);
}

/* The words of runc and crun, without running crun (it refuses this
 * hybrid-cgroup host): what each says, the code, Docker's line. */
static void test_exec_failure_words(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		int code;
		const char *msg;
	} cases[] = {
		{ "runc create failed: unable to start container process: exec: \"nosuch\": executable file not found in $PATH",
		  127, "exec: \"nosuch\": executable file not found in $PATH" },
		{ "runc create failed: unable to start container process: exec: \"/etc/passwd\": permission denied",
		  126, "exec: \"/etc/passwd\": permission denied" },
		{ "exec /bin/echo: argument list too long\n", 126,
		  "exec: \"/bin/echo\": argument list too long" },
		{ "exec /app/start.sh: exec format error\n", 126,
		  "exec: \"/app/start.sh\": exec format error" },
		{ "exec /entry.sh: no such file or directory\n", 127,
		  "exec: \"/entry.sh\": no such file or directory" },
		{ "executable file `nosuch` not found in $PATH: No such file or directory", 127,
		  "exec: \"nosuch\": executable file not found in $PATH" },
		{ "executable file `/bin/nosuch` not found: No such file or directory", 127,
		  "exec: \"/bin/nosuch\": no such file or directory" },
		{ "the path `/etc/passwd` exists but it is not executable: Operation not permitted", 126,
		  "exec: \"/etc/passwd\": permission denied" },
		{ "the path `/bin` is not a regular file: Operation not permitted", 126,
		  "exec: \"/bin\": permission denied" },
		{ "exec container process `/bin/echo`: Argument list too long", 126,
		  "exec: \"/bin/echo\": argument list too long" },
		{ "exec container process (missing dynamic library?) `/app`: No such file or directory",
		  127, "exec: \"/app\": no such file or directory" },
		/* not about the command */
		{ "runc create failed: unable to start container process: error during container init: "
		  "error mounting \"proc\" to rootfs at \"/proc\": permission denied", 0, NULL },
		{ "cgroups in hybrid mode not supported, drop all controllers from cgroupv2", 0, NULL },
		{ "hello: exec /bin/x: nothing", 0, NULL },
		{ "", 0, NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct zl_buf msg = { 0 };
		int code = monitor_exec_failure(cases[i].text, &msg);
		if (code != cases[i].code ||
		    (cases[i].msg ? !msg.data || strcmp(msg.data, cases[i].msg) != 0 : msg.len != 0))
			fail_msg("\"%s\": got %d \"%s\", expected %d \"%s\"", cases[i].text, code,
				 msg.data ? msg.data : "", cases[i].code, cases[i].msg ? cases[i].msg : "");
		zl_buf_free(&msg);
	}
}

/* Follow from now (logs -f --tail 0): what was written before the reader
 * started is not shown, what comes after is. */
static void test_logs_follow_from_now(void **state)
{
	NEED_FIXTURE(f);
	char *go = zl_xasprintf("%s/go-%s", g_rootfs, f->id);
	char *script = zl_xasprintf("echo old1; echo old2; while [ ! -e /go-%s ]; do sleep 0.05; "
				    "done; echo new",
				    f->id);
	write_config(f, script, NULL, 0, NULL);
	free(script);
	assert_true(spawn_zlmon(f, NULL));
	char *ctr_log = zl_xasprintf("%s/ctr.log", f->state);
	int64_t deadline = monitor_monotonic_ms() + WAIT_MS;
	for (;;) {
		char *text = read_text(ctr_log);
		bool both = text && strstr(text, "old2");
		free(text);
		if (both)
			break;
		assert_true(monitor_monotonic_ms() < deadline);
		msleep(20);
	}
	/* The reader in a child; the parent lets the container go on once the
	 * child holds ctr.log open (it has looked at what is there). */
	char *out_path = zl_xasprintf("%s/follow.out", f->dir);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		FILE *out = fopen(out_path, "w");
		struct zl_err err = ZL_ERR_INIT;
		int r = out ? monitor_logs_print(f->state, MONITOR_LOG_TAIL_NONE, true, false, out, &err)
			    : -1;
		if (out)
			fclose(out);
		_exit(r == 0 ? 0 : 1);
	}
	char fd_dir[64];
	snprintf(fd_dir, sizeof(fd_dir), "/proc/%d/fd", (int)child);
	for (bool open_now = false; !open_now;) {
		assert_true(monitor_monotonic_ms() < deadline);
		DIR *d = opendir(fd_dir);
		struct dirent *e;
		while (d && (e = readdir(d)) && !open_now) {
			char link[PATH_MAX], *p = zl_xasprintf("%s/%s", fd_dir, e->d_name);
			ssize_t n = readlink(p, link, sizeof(link) - 1);
			free(p);
			if (n > 0) {
				link[n] = '\0';
				open_now = strcmp(link, ctr_log) == 0;
			}
		}
		if (d)
			closedir(d);
		if (!open_now)
			msleep(10);
	}
	FILE *g = fopen(go, "w");
	assert_non_null(g);
	fclose(g);
	int st;
	assert_int_equal(waitpid(child, &st, 0), child);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	char *text = read_text(out_path);
	assert_non_null(text);
	assert_string_equal(text, "new\n");
	free(text);
	/* A finished replica: nothing, at once. */
	FILE *out = fopen(out_path, "w");
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(monitor_logs_print(f->state, MONITOR_LOG_TAIL_NONE, true, false, out, &err), 0);
	fclose(out);
	text = read_text(out_path);
	assert_string_equal(text, "");
	free(text);
	unlink(go);
	free(go);
	free(out_path);
	free(ctr_log);
	assert_zlmon_clean(f);
}

static void test_missing_rootfs_reports_error(void **state)
{
	NEED_FIXTURE(f);
	char *missing = zl_xasprintf("%s/no-rootfs", f->dir);
	write_config(f, "true", NULL, 0, missing);
	free(missing);
	assert_false(spawn_zlmon(f, NULL));
	assert_int_equal(strncmp(f->ready, "error ", 6), 0);
	assert_non_null(strstr(f->ready, " create "));
	assert_non_null(strstr(f->ready, "no-rootfs"));
	assert_false(runc_knows(f));
	assert_zlmon_clean(f);
}

static void test_usage_error(void **state)
{
	NEED_FIXTURE(f);
	const char *extra[] = { "--log-max-bytes", "lots", NULL };
	write_config(f, "true", NULL, 0, NULL);
	assert_false(spawn_zlmon(f, extra));
	assert_int_equal(strncmp(f->ready, "error zlmon: --log-max-bytes", 28), 0);
	assert_false(runc_knows(f));
}

/* A second monitor for an id the runtime already runs fails without
 * touching the running container. */
static void test_existing_id_is_left_alone(void **state)
{
	NEED_FIXTURE(f);
	write_config(f, "sleep 100", NULL, 0, NULL);
	assert_true(spawn_zlmon(f, NULL));
	int64_t pid = f->pid;
	char *other = zl_xasprintf("%s/state2", f->dir);
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(zl_mkdir_p(other, 0700, &err), 0);
	char *first_state = f->state;
	f->state = other;
	assert_false(spawn_zlmon(f, NULL));
	assert_int_equal(strncmp(f->ready, "error ", 6), 0);
	assert_non_null(strstr(f->ready, "create"));
	f->state = first_state;
	free(other);
	msleep(200);
	assert_true(monitor_proc_start_time(pid) > 0);
	assert_true(runc_knows(f));
	assert_true(monitor_alive(f->state));
	kill((pid_t)pid, SIGKILL);
	struct monitor_exit ex;
	wait_exit(f, &ex);
	assert_string_equal(ex.reason, "signal");
	assert_zlmon_clean(f);
}

static void test_monitor_gone_is_detected(void **state)
{
	NEED_FIXTURE(f);
	write_config(f, "sleep 100", NULL, 0, NULL);
	assert_true(spawn_zlmon(f, NULL));
	assert_true(monitor_alive(f->state));
	int64_t mpid, mstart;
	assert_int_equal(monitor_read_self(f->state, &mpid, &mstart), 0);
	assert_int_equal(kill((pid_t)mpid, SIGKILL), 0);
	wait_monitor_gone(f);
	assert_false(monitor_alive(f->state));
	/* The container lives on (teardown removes it); no exit record. */
	assert_int_equal(monitor_proc_start_time(f->pid), f->start_time);
	struct monitor_exit ex;
	assert_int_equal(monitor_exit_read(f->state, &ex), -1);
	/* A follower does not wait forever for a dead monitor. */
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(monitor_logs_print(f->state, 0, true, false, out, &err), 0);
	fclose(out);
	free(text);
}

static long status_kb(int64_t pid, const char *file, const char *key)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%lld/%s", (long long)pid, file);
	char *text = read_text(path);
	if (!text)
		return -1;
	char *p = strstr(text, key);
	long v = p ? strtol(p + strlen(key), NULL, 10) : -1;
	free(text);
	return v;
}

static void test_monitor_is_small(void **state)
{
	NEED_FIXTURE(f);
	write_config(f, "while true; do echo tick; sleep 0.1; done", NULL, 0, NULL);
	assert_true(spawn_zlmon(f, NULL));
	msleep(1000);
	int64_t mpid, mstart;
	assert_int_equal(monitor_read_self(f->state, &mpid, &mstart), 0);
	long rss = status_kb(mpid, "status", "VmRSS:");
	long anon = status_kb(mpid, "status", "RssAnon:");
	long pss = status_kb(mpid, "smaps_rollup", "Pss:");
	long dirty = status_kb(mpid, "smaps_rollup", "Private_Dirty:");
	print_message("zlmon memory: VmRSS %ld kB, RssAnon %ld kB, Pss %ld kB, Private_Dirty %ld kB\n",
		      rss, anon, pss, dirty);
	/* Its own memory; the rest is libc's pages, shared with every process. */
#if !defined(__SANITIZE_ADDRESS__)
	assert_true(anon > 0 && anon < 1024);
	assert_true(pss > 0 && pss < 1024);
#endif
	/* No busy loop: almost no CPU while the container ticks. */
	char path[64];
	snprintf(path, sizeof(path), "/proc/%lld/stat", (long long)mpid);
	char *stat1 = read_text(path);
	msleep(1000);
	char *stat2 = read_text(path);
	unsigned long u1, s1, u2, s2;
	assert_int_equal(sscanf(strrchr(stat1, ')') + 2,
				"%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &u1, &s1),
			 2);
	assert_int_equal(sscanf(strrchr(stat2, ')') + 2,
				"%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &u2, &s2),
			 2);
	free(stat1);
	free(stat2);
	assert_true((u2 + s2) - (u1 + s1) < 10); /* < 0.1 s of CPU per second */
	kill((pid_t)f->pid, SIGKILL);
	struct monitor_exit ex;
	wait_exit(f, &ex);
	assert_zlmon_clean(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hello_exit_0, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exit_code_7, setup, teardown),
		cmocka_unit_test_setup_teardown(test_killed_by_sigkill, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oom_killed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_rotation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_streams_and_utf8, setup, teardown),
		cmocka_unit_test_setup_teardown(test_logs_print_and_follow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_binary_is_exec_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_in_path_and_not_executable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_argument_list_too_long, setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_failing_is_not_exec_failure, setup,
						teardown),
		cmocka_unit_test(test_exec_failure_words),
		cmocka_unit_test_setup_teardown(test_logs_follow_from_now, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_rootfs_reports_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_usage_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_existing_id_is_left_alone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_monitor_gone_is_detected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_monitor_is_small, setup, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
