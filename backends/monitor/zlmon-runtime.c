/* zlmon-runtime.c: zlmon's children: running the OCI runtime's commands
 * with their output captured and a deadline, reaping everything that exits
 * (zlmon is a subreaper: orphans of the container end up here too), and
 * turning a failed command into the one-line error zlapply shows. */
#include "backends/monitor/zlmon-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>

#define DELETE_TIMEOUT_MS 30000
#define CAPTURE_MAX 16384      /* runtime output kept for an error message */
#define ERROR_TEXT_MAX 1500    /* one-line error reports stay readable */

static void remember_reaped(struct zlmon *m, pid_t pid, int status)
{
	m->recent_pid[m->recent_next] = pid;
	m->recent_status[m->recent_next] = status;
	m->recent_next = (m->recent_next + 1) % RECENT_REAPED;
}

void zlmon_proc_comm(pid_t pid, char out[32])
{
	out[0] = '\0';
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, out, 31);
	close(fd);
	if (n <= 0)
		n = 0;
	out[n] = '\0';
	out[strcspn(out, "\n")] = '\0';
}

/* Reaps every child that has exited: no zombies, whoever they are
 * (runtime helpers, orphans of the container reparented to us). The
 * container's init is looked at before it is reaped: its name tells
 * whether it ever became the container's command. */
void zlmon_reap(struct zlmon *m)
{
	struct signalfd_siginfo si[8];
	while (read(m->sig_fd, si, sizeof(si)) > 0)
		;
	for (;;) {
		siginfo_t info;
		memset(&info, 0, sizeof(info));
		if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (info.si_pid <= 0)
			return;
		if (info.si_pid == m->ctr_pid)
			zlmon_proc_comm(m->ctr_pid, m->exit_comm);
		int status;
		pid_t pid = waitpid(info.si_pid, &status, WNOHANG);
		if (pid < 0 && errno == EINTR)
			continue;
		if (pid <= 0)
			return;
		if (pid == m->cmd_pid) {
			m->cmd_done = true;
			m->cmd_status = status;
		} else if (pid == m->ctr_pid) {
			m->ctr_exited = true;
			m->ctr_status = status;
		} else {
			remember_reaped(m, pid, status);
		}
	}
}

/* Forks and execs argv with stdin /dev/null and stdout/stderr on out/err.
 * The child gets default signal handling back: ignored signals (ours, or
 * inherited from whoever started zlapply) and the signal mask would
 * otherwise pass through the runtime into the container. */
pid_t zlmon_spawn(const char *const argv[], int out_fd, int err_fd)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	int null_fd = open("/dev/null", O_RDWR);
	if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
		_exit(126);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL); /* fails harmlessly for KILL, STOP, libc's own */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execvp(argv[0], (char *const *)argv);
	dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

static void capture(struct zl_buf *text, const char *data, size_t n)
{
	if (text && text->len < CAPTURE_MAX)
		zl_buf_append(text, data, n < CAPTURE_MAX - text->len ? n : CAPTURE_MAX - text->len);
}

/* Reads what fd has now (non-blocking) into text; returns false at EOF. */
static bool read_available(int fd, struct zl_buf *text)
{
	char buf[4096];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN;
		if (n == 0)
			return false;
		capture(text, buf, (size_t)n);
	}
}

/* Kills the runtime command and reaps it (its status kept for the log). */
static void kill_cmd(struct zlmon *m, pid_t pid)
{
	kill(pid, SIGKILL);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	m->cmd_status = st;
}

/* Waits for the command pid, reading fds (non-blocking; may be -1) into
 * text meanwhile. Returns 0 with its wait status, or -1 after timeout_ms
 * (it is killed and reaped then). */
int zlmon_wait_cmd(struct zlmon *m, pid_t pid, const int fds_in[2], struct zl_buf *text,
		    int64_t timeout_ms, int *status)
{
	int fds[2] = { fds_in[0], fds_in[1] };
	m->cmd_pid = pid;
	m->cmd_done = false;
	int64_t deadline = monitor_monotonic_ms() + timeout_ms;
	int ret = 0;
	zlmon_reap(m);
	while (!m->cmd_done) {
		int64_t left = deadline - monitor_monotonic_ms();
		if (left <= 0) {
			kill_cmd(m, pid);
			ret = -1;
			break;
		}
		struct pollfd p[3] = { { m->sig_fd, POLLIN, 0 } };
		nfds_t n = 1;
		for (int i = 0; i < 2; i++)
			if (fds[i] >= 0)
				p[n++] = (struct pollfd){ fds[i], POLLIN, 0 };
		if (poll(p, n, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			zlmon_log(m, "poll: %s", strerror(errno));
			/* As on timeout: the command must not finish behind our back. */
			kill_cmd(m, pid);
			ret = -1;
			break;
		}
		if (p[0].revents)
			zlmon_reap(m);
		for (nfds_t k = 1; k < n; k++) {
			if (!p[k].revents)
				continue;
			if (!read_available(p[k].fd, text))
				for (int i = 0; i < 2; i++)
					if (fds[i] == p[k].fd)
						fds[i] = -1; /* EOF: only stop polling it */
		}
	}
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			read_available(fds[i], text);
	m->cmd_pid = 0;
	*status = m->cmd_status;
	return ret;
}

/* ---- runtime commands ---- */
/* "RUNTIME [--root DIR] [--log ... --log-format json] VERB" plus args. */
const char **zlmon_runtime_argv(struct zlmon *m, const char *runtime_log, const char *verb,
				 const char *const args[])
{
	const char **argv = zl_xcalloc(16, sizeof(char *));
	size_t n = 0;
	argv[n++] = m->o.runtime;
	if (m->o.runtime_root) {
		argv[n++] = "--root";
		argv[n++] = m->o.runtime_root;
	}
	if (runtime_log) {
		argv[n++] = "--log";
		argv[n++] = runtime_log;
		argv[n++] = "--log-format";
		argv[n++] = "json";
	}
	argv[n++] = verb;
	for (size_t i = 0; args[i] && n < 15; i++)
		argv[n++] = args[i];
	return argv;
}

/* Folds text into one line: whitespace runs become one space, ends trimmed. */
static void one_line(struct zl_buf *out, const char *text, size_t len)
{
	bool space = out->len > 0;
	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		if (c == '\n' || c == '\r' || c == '\t' || c == ' ' || c == '\0') {
			space = out->len > 0;
			continue;
		}
		if (space)
			zl_buf_append(out, " ", 1);
		space = false;
		zl_buf_append(out, &c, 1);
	}
}

/* The error messages of a runtime's JSON log ({"level":"error","msg":...});
 * lines that are not a JSON object are taken as they are. */
static void runtime_log_errors(const char *path, struct zl_buf *out)
{
	char *data = NULL;
	size_t len = 0;
	if (zl_read_file(path, &data, &len, NULL) < 0)
		return;
	struct zl_buf level = { 0 }, msg = { 0 };
	char *save = NULL;
	for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		level.len = msg.len = 0;
		size_t n = strlen(line);
		int is_object = monitor_json_find_string(line, n, "level", &level);
		const char *text = NULL;
		if (is_object < 0)
			text = line;
		else if (is_object > 0 && monitor_json_find_string(line, n, "msg", &msg) > 0 &&
			 (strcmp(level.data, "error") == 0 || strcmp(level.data, "fatal") == 0 ||
			  strcmp(level.data, "panic") == 0))
			text = msg.data;
		if (text) {
			if (out->len)
				zl_buf_append(out, ";", 1);
			one_line(out, text, strlen(text));
		}
	}
	zl_buf_free(&level);
	zl_buf_free(&msg);
	free(data);
}

char *zlmon_failure_text(const struct zl_buf *output, const char *runtime_log)
{
	struct zl_buf text = { 0 };
	if (output && output->len)
		one_line(&text, output->data, output->len);
	if (!text.len && runtime_log)
		runtime_log_errors(runtime_log, &text);
	return zl_buf_steal(&text);
}

/* "CMDLINE: exit N: TEXT" on one line, at most ERROR_TEXT_MAX bytes. */
char *zlmon_describe_failure(const char *const argv[], int status, bool timed_out,
			      const struct zl_buf *output, const char *runtime_log)
{
	struct zl_buf msg = { 0 };
	for (size_t i = 0; argv[i]; i++)
		zl_buf_printf(&msg, "%s%s", i ? " " : "", argv[i]);
	if (timed_out) {
		zl_buf_puts(&msg, ": timed out");
	} else if (WIFEXITED(status)) {
		zl_buf_printf(&msg, ": exit %d", WEXITSTATUS(status));
	} else if (WIFSIGNALED(status)) {
		char name[16];
		monitor_signal_name(WTERMSIG(status), name);
		zl_buf_printf(&msg, ": killed by %s", name);
	}
	char *text = zlmon_failure_text(output, runtime_log);
	if (*text)
		zl_buf_printf(&msg, ": %s", text);
	else
		zl_buf_puts(&msg, ": (no output)");
	free(text);
	if (msg.len > ERROR_TEXT_MAX) {
		size_t cut = ERROR_TEXT_MAX;
		while (cut > 0 && ((unsigned char)msg.data[cut] & 0xC0) == 0x80)
			cut--; /* not inside a UTF-8 character */
		msg.len = cut;
		msg.data[cut] = '\0';
		zl_buf_puts(&msg, "...");
	}
	return zl_buf_steal(&msg);
}

/* Runs a runtime verb with its output captured. Returns 0 when it exited 0;
 * else -1 with *failure set (caller frees) when failure is not NULL. */
int zlmon_run_runtime(struct zlmon *m, const char *verb, const char *const args[],
		       bool with_log, int64_t timeout_ms, char **failure)
{
	_cleanup_free_ char *runtime_log =
		with_log ? zl_xasprintf("%s/%s", m->o.dir, MONITOR_RUNTIME_LOG_FILE) : NULL;
	const char **argv = zlmon_runtime_argv(m, runtime_log, verb, args);
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		if (failure)
			*failure = zl_xasprintf("%s %s: pipe: %s", m->o.runtime, verb, strerror(errno));
		free(argv);
		return -1;
	}
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	pid_t pid = zlmon_spawn(argv, p[1], p[1]);
	close(p[1]);
	struct zl_buf out = { 0 };
	int status = 0, ret = -1;
	if (pid < 0) {
		if (failure)
			*failure = zl_xasprintf("%s %s: fork: %s", m->o.runtime, verb, strerror(errno));
	} else {
		int fds[2] = { p[0], -1 };
		bool timed_out = zlmon_wait_cmd(m, pid, fds, &out, timeout_ms, &status) < 0;
		if (!timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			ret = 0;
			if (out.len)
				zlmon_log(m, "%s %s said: %.*s", m->o.runtime, verb, (int)out.len, out.data);
		} else if (failure) {
			*failure = zlmon_describe_failure(argv, status, timed_out, &out, runtime_log);
		}
	}
	close(p[0]);
	zl_buf_free(&out);
	free(argv);
	return ret;
}

void zlmon_runtime_delete(struct zlmon *m)
{
	const char *args[] = { "--force", m->o.id, NULL };
	char *failure = NULL;
	if (zlmon_run_runtime(m, "delete", args, false, DELETE_TIMEOUT_MS, &failure) < 0)
		zlmon_log(m, "%s", failure);
	free(failure);
}
