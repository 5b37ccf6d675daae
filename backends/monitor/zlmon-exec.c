/* zlmon-exec.c: zlmon's --exec mode, for backends whose replica process is
 * a plain command rather than an OCI runtime's container (the wasm
 * backend's engine). The process is forked here, so zlmon is its parent
 * (and subreaper) exactly as for a container, and everything after the
 * start (output into ctr.log, the exit record, reaping) is shared.
 *
 * The child waits for a go from the parent before it does anything, so
 * its pid and start time are known even for a command that exits at
 * once; it then enters the --join cgroups (limits hold from its first
 * instruction) and execs with a fixed environment: the operator's (say a
 * NODE_OPTIONS) must not change how a replica runs. What fails before the
 * exec comes back on a close-on-exec pipe: EOF there means the exec
 * happened. */
#include "backends/monitor/zlmon-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

static const char *const exec_env[] = {
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	NULL,
};

/* In the child: reports why on fd and exits. */
_Noreturn static void child_fail(int fd, int code, const char *what, const char *arg)
{
	dprintf(fd, "%s %s: %s", what, arg, strerror(errno));
	_exit(code);
}

_Noreturn static void child_run(const struct opts *o, int out_fd, int err_fd, int go_fd,
				int why_fd)
{
	char go;
	while (read(go_fd, &go, 1) < 0 && errno == EINTR)
		;
	int null_fd = open("/dev/null", O_RDWR);
	if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
		child_fail(why_fd, 126, "zlmon: set up the output of", o->exec_argv[0]);
	for (size_t i = 0; i < o->join_count; i++) {
		int fd = open(o->join[i], O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, "0\n", 2) != 2)
			child_fail(why_fd, 126, "zlmon: enter the cgroup", o->join[i]);
		close(fd);
	}
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL); /* fails harmlessly for KILL, STOP, libc's own */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execve(o->exec_argv[0], o->exec_argv, (char *const *)exec_env);
	child_fail(why_fd, errno == ENOENT ? 127 : 126, "zlmon: exec", o->exec_argv[0]);
}

int zlmon_exec_start(struct zlmon *m, int out_fd, int err_fd, pid_t *pid, int64_t *start_time,
		     char **failure)
{
	int go[2], why[2];
	if (pipe2(go, O_CLOEXEC) < 0)
		goto pipe_failed;
	if (pipe2(why, O_CLOEXEC) < 0) {
		close(go[0]);
		close(go[1]);
		goto pipe_failed;
	}
	pid_t child = fork();
	if (child == 0) {
		close(go[1]);
		close(why[0]);
		child_run(&m->o, out_fd, err_fd, go[0], why[1]);
	}
	close(go[0]);
	close(why[1]);
	if (child < 0) {
		close(go[1]);
		close(why[0]);
		*failure = zl_xasprintf("zlmon: fork: %s", strerror(errno));
		return -1;
	}
	/* Alive and waiting for the go: its start time cannot be missed. */
	m->ctr_pid = child;
	*pid = child;
	*start_time = monitor_proc_start_time(child);
	if (write(go[1], "g", 1) < 0)
		zlmon_log(m, "go to %d: %s", (int)child, strerror(errno));
	close(go[1]);
	struct zl_buf said = { 0 };
	char buf[512];
	ssize_t n;
	while ((n = read(why[0], buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		zl_buf_append(&said, buf, (size_t)n);
	}
	close(why[0]);
	if (!said.len)
		return 0; /* EOF: the exec closed the pipe */
	/* It exits: reap it here, it is no replica that ran. */
	int st;
	while (waitpid(child, &st, 0) < 0 && errno == EINTR)
		;
	m->ctr_pid = 0;
	*failure = zl_buf_steal(&said);
	return -1;
pipe_failed:
	*failure = zl_xasprintf("zlmon: pipe: %s", strerror(errno));
	return -1;
}
