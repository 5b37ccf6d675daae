/* zlmon.c: the per-replica container monitor (see monitor.h for the
 * protocol): options, the lifecycle (create, start, report, pump output,
 * exit record) and its diagnostics. One zlmon per running replica, detached
 * from zlapply: it is the child subreaper of the container, so it alone
 * learns the exit status; it copies the container's output into ctr.log; it
 * leaves exit.json behind.
 *
 * It must stay small (it runs once per replica, for the replica's whole
 * life): single-threaded, one poll() loop, no busy waiting, libc only
 * (linked statically; its JSON is monitor-json.c's, nothing from common/
 * that would pull in libcrypto). */
#include "backends/monitor/zlmon-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#define CREATE_TIMEOUT_MS 45000
#define START_TIMEOUT_MS 10000
#define DRAIN_MS 1000          /* after the exit, wait this long at most for EOF */

/* ---- diagnostics ---- */
void zlmon_log(struct zlmon *m, const char *fmt, ...)
{
	if (m->log_fd < 0)
		return;
	char when[32], line[4096];
	monitor_format_time(monitor_now_ms(), when);
	int n = snprintf(line, sizeof(line), "%s zlmon[%d] %s: ", when, (int)getpid(),
			 m->o.id ? m->o.id : "?");
	va_list ap;
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < sizeof(line))
		n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* Diagnostics are best effort: a full disk must not stop the monitor. */
	if (write(m->log_fd, line, (size_t)n) < 0)
		return;
}

int zlmon_write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, data, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		data += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Sends the one ready line and closes the pipe. */
void zlmon_report(struct zlmon *m, const char *fmt, ...)
{
	if (m->ready_fd < 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	char *text = NULL;
	int n = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	if (zlmon_write_all(m->ready_fd, text, (size_t)n) < 0)
		zlmon_log(m, "ready report not delivered (%s): %s", strerror(errno), text);
	free(text);
	close(m->ready_fd);
	m->ready_fd = -1;
}

/* ---- cgroup OOM counter ---- */
struct cgroup_paths {
	char *v1_memory; /* path inside the v1 memory hierarchy */
	char *v2;        /* path inside the unified hierarchy */
};

static void cgroup_paths_find(int64_t pid, const char *fallback, struct cgroup_paths *cg)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%lld/cgroup", (long long)pid);
	char *data = NULL;
	size_t len = 0;
	if (zl_read_file(path, &data, &len, NULL) == 0) {
		char *save = NULL;
		for (char *line = strtok_r(data, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			/* "ID:CONTROLLERS:PATH" */
			char *c1 = strchr(line, ':');
			char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
			if (!c2)
				continue;
			*c2 = '\0';
			const char *controllers = c1 + 1;
			if (strncmp(line, "0:", 2) == 0 && !*controllers && !cg->v2) {
				cg->v2 = zl_xstrdup(c2 + 1);
				continue;
			}
			_cleanup_free_ char *list = zl_xasprintf(",%s,", controllers);
			if (strstr(list, ",memory,") && !cg->v1_memory)
				cg->v1_memory = zl_xstrdup(c2 + 1);
		}
		free(data);
	}
	if (fallback && fallback[0] == '/') {
		if (!cg->v1_memory)
			cg->v1_memory = zl_xstrdup(fallback);
		if (!cg->v2)
			cg->v2 = zl_xstrdup(fallback);
	}
}

/* The value of "key N" in a flat-keyed cgroup file; -1 when absent. */
static int64_t keyed_value(const char *path, const char *key)
{
	char *data = NULL;
	size_t len = 0;
	if (zl_read_file(path, &data, &len, NULL) < 0)
		return -1;
	int64_t value = -1;
	size_t klen = strlen(key);
	char *save = NULL;
	for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ' ') {
			value = strtoll(line + klen + 1, NULL, 10);
			break;
		}
	}
	free(data);
	return value;
}

static int64_t oom_kill_count(const struct cgroup_paths *cg)
{
	int64_t v = -1;
	if (cg->v1_memory) {
		_cleanup_free_ char *p =
			zl_xasprintf("/sys/fs/cgroup/memory%s/memory.oom_control", cg->v1_memory);
		v = keyed_value(p, "oom_kill");
	}
	if (v < 0 && cg->v2) {
		const char *mounts[] = { "/sys/fs/cgroup", "/sys/fs/cgroup/unified" };
		for (size_t i = 0; i < 2 && v < 0; i++) {
			_cleanup_free_ char *p = zl_xasprintf("%s%s/memory.events", mounts[i], cg->v2);
			v = keyed_value(p, "oom_kill");
		}
	}
	return v;
}

/* ---- setup ---- */
static void usage_error(struct zlmon *m, const char *what)
{
	zlmon_report(m, "error zlmon: %s (usage: zlmon --id ID --bundle DIR --runtime PATH --dir DIR "
		  "--ready-fd FD [--runtime-root DIR] [--cgroup PATH] [--log-max-bytes N] "
		  "[--log-max-files K], or zlmon --exec --id ID --dir DIR --ready-fd FD "
		  "[--cgroup PATH] [--join FILE]... [--log-max-...] /PATH/COMMAND [ARGS...])\n",
	       what);
}

static int parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || !*s || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* 0, or -1 after reporting a usage error (when the ready fd is known). */
static int parse_opts(struct zlmon *m, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "id", required_argument, NULL, 'i' },
		{ "bundle", required_argument, NULL, 'b' },
		{ "runtime", required_argument, NULL, 'r' },
		{ "dir", required_argument, NULL, 'd' },
		{ "ready-fd", required_argument, NULL, 'f' },
		{ "runtime-root", required_argument, NULL, 'R' },
		{ "cgroup", required_argument, NULL, 'c' },
		{ "log-max-bytes", required_argument, NULL, 'B' },
		{ "log-max-files", required_argument, NULL, 'K' },
		{ "exec", no_argument, NULL, 'x' },
		{ "join", required_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts *o = &m->o;
	const char *bundle = NULL, *dir = NULL, *bad = NULL;
	int opt;
	int64_t v;
	opterr = 0;
	/* "+": options end at the first non-option (--exec's command). */
	while ((opt = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (opt) {
		case 'i': o->id = optarg; break;
		case 'b': bundle = optarg; break;
		case 'r': o->runtime = optarg; break;
		case 'd': dir = optarg; break;
		case 'R': o->runtime_root = optarg; break;
		case 'c': o->cgroup = optarg; break;
		case 'x': o->exec = true; break;
		case 'j':
			if (o->join_count < sizeof(o->join) / sizeof(o->join[0]))
				o->join[o->join_count++] = optarg;
			else
				bad = "at most 4 --join";
			break;
		case 'f':
			if (parse_int(optarg, 0, INT_MAX, &v) < 0)
				return -1; /* nowhere to report */
			o->ready_fd = (int)v;
			m->ready_fd = (int)v;
			break;
		case 'B':
			if (parse_int(optarg, 1, INT64_MAX, &o->log_max_bytes) < 0)
				bad = "--log-max-bytes wants a positive number";
			break;
		case 'K':
			if (parse_int(optarg, 0, MONITOR_MAX_LOG_FILES, &v) < 0)
				bad = "--log-max-files wants a number from 0 to 64";
			else
				o->log_max_files = (int)v;
			break;
		default: bad = "unknown option or missing value"; break;
		}
	}
	if (m->ready_fd < 0 || fcntl(m->ready_fd, F_SETFD, FD_CLOEXEC) < 0) {
		m->ready_fd = -1;
		return -1;
	}
	if (o->exec) {
		o->exec_argv = argv + optind;
		if (!bad && (optind >= argc || argv[optind][0] != '/'))
			bad = "--exec wants the command's absolute path after the options";
		if (!bad && (!o->id || !dir))
			bad = "--id, --dir and --ready-fd are required";
		bundle = bundle ? bundle : dir; /* unused */
	} else {
		if (!bad && optind < argc)
			bad = "unexpected arguments";
		if (!bad && (!o->id || !bundle || !o->runtime || !dir))
			bad = "--id, --bundle, --runtime, --dir and --ready-fd are required";
	}
	if (!bad && (!*o->id || strchr(o->id, '/') || o->id[0] == '-'))
		bad = "invalid --id";
	if (!bad && !(o->dir = realpath(dir, NULL)))
		bad = "--dir does not exist";
	if (!bad && !(o->bundle = realpath(bundle, NULL)))
		bad = "--bundle does not exist";
	if (bad) {
		usage_error(m, bad);
		return -1;
	}
	return 0;
}

/* Descriptors 0-2 must be taken before pipes are made (so dup2 onto them
 * always moves a descriptor); anything else inherited is not ours. */
static void tidy_fds(int keep)
{
	int fd;
	while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= 2)
		;
	if (fd > 2)
		close(fd);
	if (keep > 3)
		close_range(3, (unsigned)keep - 1, 0);
	close_range(keep >= 3 ? (unsigned)keep + 1 : 3, ~0U, 0);
}

static int setup_signals(struct zlmon *m)
{
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	/* An ignored SIGCHLD survives exec and would reap the container
	 * before zlmon could learn how it exited. */
	signal(SIGCHLD, SIG_DFL);
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -1;
	m->sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	return m->sig_fd < 0 ? -1 : 0;
}

/* No fsync for the monitor's records (this file, --exec's pid file): they
 * name processes of this boot, which a power loss ends whatever the disk
 * keeps, and a record lost or left empty reads as no monitor, the answer
 * after a reboot. The rename keeps them whole against kill -9, the case
 * they are read for. exit.json, which outlives the boot, keeps its fsync. */
static int write_monitor_file(struct zlmon *m, struct zl_err *err)
{
	int64_t start = monitor_proc_start_time(getpid());
	char text[64];
	snprintf(text, sizeof(text), "%d %lld\n", (int)getpid(), (long long)start);
	_cleanup_free_ char *path = zl_xasprintf("%s/%s", m->o.dir, MONITOR_FILE);
	return zl_write_file_atomic_nosync(path, text, strlen(text), 0644, err);
}

static int64_t read_pid_file(const char *dir)
{
	_cleanup_free_ char *path = zl_xasprintf("%s/%s", dir, MONITOR_PID_FILE);
	char *data = NULL;
	size_t len = 0;
	if (zl_read_file(path, &data, &len, NULL) < 0)
		return -1;
	char *end;
	long long pid = strtoll(data, &end, 10);
	bool ok = end != data && pid > 0 && pid <= INT_MAX;
	free(data);
	return ok ? pid : -1;
}

static void unlink_in(const char *dir, const char *name)
{
	_cleanup_free_ char *path = zl_xasprintf("%s/%s", dir, name);
	/* A leftover of an earlier run, or nothing. */
	(void)unlink(path);
}

/* ---- the lifecycle ---- */
/* Reports the failure, removes what the runtime holds for us, exits 1. */
static int fail(struct zlmon *m, const char *what)
{
	zlmon_log(m, "start failed: %s", what);
	zlmon_report(m, "error %s\n", what);
	if (m->created)
		zlmon_runtime_delete(m);
	return 1;
}

/* exit.json, atomically; false (logged) when it could not be written. */
static bool write_exit(struct zlmon *m, const struct monitor_exit *ex)
{
	char *text = monitor_exit_encode(ex);
	_cleanup_free_ char *path = zl_xasprintf("%s/%s", m->o.dir, MONITOR_EXIT_FILE);
	struct zl_err err = ZL_ERR_INIT;
	bool ok = zl_write_file_atomic(path, text, strlen(text), 0644, &err) == 0;
	if (!ok)
		zlmon_log(m, "%s", err.msg);
	zlmon_log(m, "container %d ended: %.*s", (int)ex->pid, (int)strlen(text) - 1, text);
	free(text);
	return ok;
}

/* The runtime's create refused the command (not found, not executable):
 * not a failure to start the replica but a command that exited at once, as
 * a shell's does: exit.json says exec_failed with 127 or 126 and why, the
 * why is the container's stderr in ctr.log, and the report is "ok" with
 * zlmon's own pid (no process of the container ever ran; exit.json, written
 * first, is what every later look finds). */
static int exec_failed_at_create(struct zlmon *m, int code, const char *why, const char *failure)
{
	zlmon_log(m, "the command cannot be executed (%s): %s", why, failure);
	_cleanup_free_ char *line = zl_xasprintf("%s\n", why);
	zlmon_output_line(m, MONITOR_STDERR, line);
	struct monitor_exit ex = { .exit_code = code, .pid = -1, .finished_at_ms = monitor_now_ms() };
	snprintf(ex.reason, sizeof(ex.reason), "exec_failed");
	snprintf(ex.error, sizeof(ex.error), "%s", why);
	if (!write_exit(m, &ex))
		return fail(m, failure);
	zlmon_report(m, "ok %d %lld\n", (int)getpid(), (long long)monitor_proc_start_time(getpid()));
	return 0;
}

/* The start is over: the heap's free pages (paths, the runtime's captured
 * output) would stay resident for the replica's whole life unless given
 * back. */
static void release_startup_memory(void)
{
	malloc_trim(0);
}

/* Until the container exits and its pipes reached EOF (or DRAIN_MS passed). */
static void pump(struct zlmon *m)
{
	int64_t drain_deadline = -1;
	zlmon_reap(m);
	for (;;) {
		if (m->ctr_exited && drain_deadline < 0)
			drain_deadline = monitor_monotonic_ms() + DRAIN_MS;
		bool open_streams = m->streams[0].fd >= 0 || m->streams[1].fd >= 0;
		if (m->ctr_exited && !open_streams)
			return;
		int timeout = -1;
		if (drain_deadline >= 0) {
			int64_t left = drain_deadline - monitor_monotonic_ms();
			if (left <= 0)
				return;
			timeout = (int)left;
		}
		struct pollfd p[3] = { { m->sig_fd, POLLIN, 0 } };
		struct stream *owner[3] = { NULL };
		nfds_t n = 1;
		for (int i = 0; i < 2; i++) {
			if (m->streams[i].fd < 0)
				continue;
			owner[n] = &m->streams[i];
			p[n++] = (struct pollfd){ m->streams[i].fd, POLLIN, 0 };
		}
		if (poll(p, n, timeout) < 0) {
			if (errno == EINTR)
				continue;
			zlmon_log(m, "poll: %s", strerror(errno));
			struct timespec ts = { 0, 100 * 1000000 }; /* never spin */
			nanosleep(&ts, NULL);
			continue;
		}
		for (nfds_t k = 1; k < n; k++)
			if (p[k].revents)
				zlmon_stream_read(m, owner[k]);
		if (p[0].revents)
			zlmon_reap(m);
	}
}

static void finish(struct zlmon *m, const struct cgroup_paths *cg, int64_t oom_before)
{
	for (int i = 0; i < 2; i++) {
		struct stream *s = &m->streams[i];
		if (s->fd >= 0) {
			/* Still open after the drain: a process outside the container's
			 * PID namespace holds it. What is buffered is kept. */
			zlmon_stream_read(m, s);
			if (s->fd >= 0) {
				zlmon_stream_chunk(m, s, s->carry, s->carry_len, true);
				s->carry_len = 0;
				close(s->fd);
				s->fd = -1;
			}
		}
	}
	struct monitor_exit ex = { .pid = m->ctr_pid, .finished_at_ms = monitor_now_ms() };
	int st = m->ctr_status;
	if (WIFSIGNALED(st)) {
		ex.signal = WTERMSIG(st);
		ex.exit_code = 128 + ex.signal;
	} else {
		ex.exit_code = WEXITSTATUS(st);
	}
	int64_t oom_after = oom_kill_count(cg);
	ex.oom_killed = (oom_before >= 0 && oom_after > oom_before) ||
			(oom_before < 0 && oom_after > 0) || (ex.signal == SIGKILL && oom_after > 0);
	snprintf(ex.reason, sizeof(ex.reason), "%s",
		 ex.oom_killed ? "oom_killed" : ex.signal ? "signal" : "exited");
	/* Exited still under the runtime's name: its exec of the command failed
	 * after start (runc: argument list too long), and its last word on
	 * stderr says why. */
	if (!ex.signal && ex.exit_code != 0 && m->ctr_comm[0] &&
	    strcmp(m->ctr_comm, m->exit_comm) == 0) {
		struct zl_buf why = { 0 };
		int code = monitor_exec_failure(m->last_stderr, &why);
		if (!code) {
			size_t n = strcspn(m->last_stderr, "\n");
			zl_buf_printf(&why, "%.*s", (int)n, m->last_stderr);
			if (!why.len)
				zl_buf_puts(&why, "the command was never executed");
		}
		ex.exit_code = code ? code : 126;
		snprintf(ex.reason, sizeof(ex.reason), "exec_failed");
		snprintf(ex.error, sizeof(ex.error), "%s", why.data);
		zl_buf_free(&why);
	}
	/* Delete before the record: once exit.json exists, the id is free. */
	if (!m->o.exec)
		zlmon_runtime_delete(m);
	write_exit(m, &ex);
}

/* The pid file, as a runtime writes it: a zlapply that died before
 * recording the start finds the process by it. */
static int write_pid_file(struct zlmon *m, pid_t pid, struct zl_err *err)
{
	char text[32];
	snprintf(text, sizeof(text), "%d", (int)pid);
	_cleanup_free_ char *path = zl_xasprintf("%s/%s", m->o.dir, MONITOR_PID_FILE);
	return zl_write_file_atomic_nosync(path, text, strlen(text), 0644, err);
}

/* --exec: the command is the replica's process (zlmon-exec.c). */
static int run_exec(struct zlmon *m, int out_w, int err_w)
{
	pid_t pid = 0;
	int64_t start = -1;
	char *failure = NULL;
	int r = zlmon_exec_start(m, out_w, err_w, &pid, &start, &failure);
	close(out_w);
	close(err_w);
	if (r < 0) {
		r = fail(m, failure);
		free(failure);
		return r;
	}
	struct zl_err err = ZL_ERR_INIT;
	if (write_pid_file(m, pid, &err) < 0)
		zlmon_log(m, "%s", err.msg); /* only a crashed zlapply needs it */
	struct cgroup_paths cg = { NULL, NULL };
	cgroup_paths_find(pid, m->o.cgroup, &cg);
	int64_t oom_before = oom_kill_count(&cg);
	zlmon_log(m, "process %d started (start time %lld)", (int)pid, (long long)start);
	zlmon_report(m, "ok %d %lld\n", (int)pid, (long long)start);
	release_startup_memory();
	pump(m);
	finish(m, &cg, oom_before);
	free(cg.v1_memory);
	free(cg.v2);
	return 0;
}

static int run(struct zlmon *m)
{
	struct opts *o = &m->o;
	if (chdir("/") < 0)
		return fail(m, "zlmon: chdir /: failed");
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0 || setup_signals(m) < 0) {
		_cleanup_free_ char *msg = zl_xasprintf("zlmon: setup: %s", strerror(errno));
		return fail(m, msg);
	}
	_cleanup_free_ char *self_log = zl_xasprintf("%s/%s", o->dir, MONITOR_SELF_LOG_FILE);
	m->log_fd = open(self_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (o->exec)
		zlmon_log(m, "monitoring %s (command %s)", o->id, o->exec_argv[0]);
	else
		zlmon_log(m, "monitoring %s (bundle %s, runtime %s)", o->id, o->bundle, o->runtime);
	struct zl_err err = ZL_ERR_INIT;
	if (write_monitor_file(m, &err) < 0)
		return fail(m, err.msg);
	unlink_in(o->dir, MONITOR_PID_FILE);
	unlink_in(o->dir, MONITOR_EXIT_FILE);
	unlink_in(o->dir, MONITOR_RUNTIME_LOG_FILE);
	m->log.path = zl_xasprintf("%s/%s", o->dir, MONITOR_LOG_FILE);
	m->log.max_bytes = o->log_max_bytes;
	m->log.max_files = o->log_max_files;
	if (zlmon_output_open(&m->log) < 0) {
		_cleanup_free_ char *msg = zl_xasprintf("zlmon: open %s: %s", m->log.path,
							strerror(errno));
		return fail(m, msg);
	}

	/* create: the container's stdout/stderr are our pipes. */
	int out[2], errp[2];
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0)
		return fail(m, "zlmon: pipe failed");
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	fcntl(errp[0], F_SETFL, O_NONBLOCK);
	m->streams[0] = (struct stream){ .fd = out[0], .kind = MONITOR_STDOUT };
	m->streams[1] = (struct stream){ .fd = errp[0], .kind = MONITOR_STDERR };
	if (o->exec)
		return run_exec(m, out[1], errp[1]);
	_cleanup_free_ char *pid_file = zl_xasprintf("%s/%s", o->dir, MONITOR_PID_FILE);
	_cleanup_free_ char *runtime_log = zl_xasprintf("%s/%s", o->dir, MONITOR_RUNTIME_LOG_FILE);
	const char *create_args[] = { "--bundle", o->bundle, "--pid-file", pid_file, o->id, NULL };
	const char **argv = zlmon_runtime_argv(m, runtime_log, "create", create_args);
	pid_t pid = zlmon_spawn(argv, out[1], errp[1]);
	close(out[1]);
	close(errp[1]);
	if (pid < 0) {
		free(argv);
		return fail(m, "zlmon: fork failed");
	}
	/* Until create exits the container's process waits for start: what
	 * comes out of the pipes now is the runtime speaking. */
	struct zl_buf said = { 0 };
	int fds[2] = { out[0], errp[0] };
	int status = 0;
	bool timed_out = zlmon_wait_cmd(m, pid, fds, &said, CREATE_TIMEOUT_MS, &status) < 0;
	m->created = timed_out || (WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (timed_out || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char *failure = zlmon_describe_failure(argv, status, timed_out, &said, runtime_log);
		char *text = zlmon_failure_text(&said, runtime_log);
		struct zl_buf why = { 0 };
		int code = m->created ? 0 : monitor_exec_failure(text, &why);
		zl_buf_free(&said);
		free(argv);
		int r = code ? exec_failed_at_create(m, code, why.data, failure) : fail(m, failure);
		zl_buf_free(&why);
		free(text);
		free(failure);
		return r;
	}
	if (said.len)
		zlmon_log(m, "%s create said: %.*s", o->runtime, (int)said.len, said.data);
	zl_buf_free(&said);
	free(argv);

	/* The container's init is known before it runs: a quick exit cannot
	 * be missed. */
	int64_t ctr_pid = read_pid_file(o->dir);
	int64_t ctr_start = monitor_proc_start_time(ctr_pid);
	if (ctr_pid <= 0 || ctr_start < 0) {
		_cleanup_free_ char *msg = zl_xasprintf(
			"zlmon: %s create exited 0 but %s names no live process", o->runtime, pid_file);
		return fail(m, msg);
	}
	m->ctr_pid = (pid_t)ctr_pid;
	zlmon_proc_comm(m->ctr_pid, m->ctr_comm);
	for (size_t i = 0; i < RECENT_REAPED; i++) {
		if (m->recent_pid[i] == m->ctr_pid) {
			m->ctr_exited = true;
			m->ctr_status = m->recent_status[i];
		}
	}
	struct cgroup_paths cg = { NULL, NULL };
	cgroup_paths_find(ctr_pid, o->cgroup, &cg);
	int64_t oom_before = oom_kill_count(&cg);

	const char *start_args[] = { o->id, NULL };
	char *failure = NULL;
	if (zlmon_run_runtime(m, "start", start_args, true, START_TIMEOUT_MS, &failure) < 0) {
		int r = fail(m, failure);
		free(failure);
		free(cg.v1_memory);
		free(cg.v2);
		return r;
	}
	zlmon_log(m, "container %lld started (start time %lld, memory cgroup %s)", (long long)ctr_pid,
	     (long long)ctr_start, cg.v1_memory ? cg.v1_memory : cg.v2 ? cg.v2 : "unknown");
	zlmon_report(m, "ok %lld %lld\n", (long long)ctr_pid, (long long)ctr_start);

	release_startup_memory();
	pump(m);
	finish(m, &cg, oom_before);
	free(cg.v1_memory);
	free(cg.v2);
	return 0;
}

int main(int argc, char **argv)
{
	struct zlmon m = {
		.log_fd = -1,
		.sig_fd = -1,
		.ready_fd = -1,
		.o = { .ready_fd = -1,
		       .log_max_bytes = MONITOR_DEFAULT_LOG_MAX_BYTES,
		       .log_max_files = MONITOR_DEFAULT_LOG_MAX_FILES },
		.streams = { { .fd = -1 }, { .fd = -1 } },
		.log = { .fd = -1 },
	};
	if (parse_opts(&m, argc, argv) < 0) {
		free(m.o.dir);
		free(m.o.bundle);
		return 2;
	}
	tidy_fds(m.ready_fd);
	int r = run(&m);
	for (int i = 0; i < 2; i++)
		if (m.streams[i].fd >= 0)
			close(m.streams[i].fd);
	if (m.log.fd >= 0)
		close(m.log.fd);
	if (m.log_fd >= 0)
		close(m.log_fd);
	if (m.sig_fd >= 0)
		close(m.sig_fd);
	if (m.ready_fd >= 0)
		close(m.ready_fd);
	free(m.log.path);
	free(m.o.dir);
	free(m.o.bundle);
	return r;
}
