/* run.c: running a helper program (runc, iptables, ...) and collecting
 * what it prints. The one place zlapply forks and execs a command and waits
 * for it; callers decide what an exit code means.
 *
 * A helper dies with zlapply (PR_SET_PDEATHSIG, SIGKILL): one that outlived
 * a killed run would act after the next run took over, e.g. a `runc delete
 * --force ID` of the killed run removing the container the next run just
 * created under the same id. It inherits no descriptor of ours either (every
 * open is O_CLOEXEC), so it never holds the apply lock. */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>

int zl_run(const char *const argv[], int stdin_fd, struct zl_buf *out, int *exit_code,
	   struct zl_err *err)
{
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return zl_fail_errno(err, "pipe for %s", argv[0]);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		return zl_fail_errno(err, "fork for %s", argv[0]);
	}
	if (pid == 0) {
		/* Killed when zlapply dies (kept across exec); a parent that died
		 * before the prctl would go unnoticed, so it is checked after. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(127);
		int in = stdin_fd >= 0 ? stdin_fd : open("/dev/null", O_RDONLY);
		dup2(in, STDIN_FILENO);
		dup2(pipefd[1], STDOUT_FILENO);
		dup2(pipefd[1], STDERR_FILENO);
		/* The child starts with default signal handling, whatever ours is. */
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execv(argv[0], (char *const *)argv);
		dprintf(pipefd[1], "exec %s: %s", argv[0], strerror(errno));
		_exit(127);
	}
	close(pipefd[1]);
	char buf[4096];
	ssize_t n;
	while ((n = read(pipefd[0], buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		/* Output is for messages: keep at most 64 KiB of it. */
		if (out && out->len < 65536)
			zl_buf_append(out, buf, (size_t)n);
	}
	close(pipefd[0]);
	int st = 0;
	pid_t w;
	while ((w = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
		;
	if (w < 0) /* e.g. SIGCHLD ignored: the exit status is lost, not 0 */
		return zl_fail_errno(err, "wait for %s", argv[0]);
	*exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return 0;
}
