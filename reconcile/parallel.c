/* parallel.c: carry out a wave of independent actions at once.
 *
 * apply.c cuts the plan into waves (execute_waves()): actions that do not
 * wait for one another. A wave's actions run in worker processes, at most
 * `parallel` at a time, each exactly as one action runs alone
 * (execute_action(): journaled before it acts, recorded after), so a kill
 * -9 of zlapply or of a worker at any point leaves pending journal entries
 * that the next run settles as it always has.
 *
 * Why processes, not threads: a worker is a fork of zlapply, so the
 * backends (which change the process's namespace, run helpers, keep
 * per-run caches, write files named by pid) stay as they are, and a crash
 * of one action cannot take the others with it. SQLite connections cannot
 * cross a fork, so the parent detaches its connection for the wave and
 * every worker opens its own (state_detach/state_attach); writes serialise
 * on SQLite's write lock (BEGIN IMMEDIATE and the busy timeout).
 *
 * Output stays in plan order: what a worker writes to stderr goes to a
 * memory file, and the parent copies each action's text in plan order once
 * the wave is done. A worker dies with zlapply (PR_SET_PDEATHSIG): a kill
 * -9 of zlapply ends its actions in progress exactly as when they ran in
 * its own process, and the next apply (which waits for the lock the
 * workers share with it) recovers them from their journal entries. */
#include "reconcile-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* What a worker sends back through its pipe: small enough (< PIPE_BUF) to
 * arrive in one piece. */
struct worker_result {
	int rc;
	struct zl_err err;
};
_Static_assert(sizeof(struct worker_result) <= PIPE_BUF, "one atomic pipe write");

struct worker {
	pid_t pid;
	int result_fd; /* read end; -1 when done */
	int output_fd; /* the memory file the worker's stderr went to */
	struct exec_job *job;
};

/* Twice the cores: an action spends most of its time waiting (runc's
 * namespaces, cgroups and mounts, a veth's RCU grace period, fsync), not
 * computing. On 2 cores, 4 workers made a cold apply of 50 replicas 13%
 * faster than 2, and 50 rolling recreates 17% faster (bench/versus.sh;
 * docs/benchmarks.md). */
unsigned execute_parallel_default(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? 2 * (unsigned)n : 2;
}

/* In the worker: run the action, send the result, never return. */
static _Noreturn void worker_main(struct state_db *db, struct backend *b, struct exec_job *j,
				  pid_t parent, int result_fd, int output_fd)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(125); /* zlapply is gone already (or cannot take us along) */
	if (dup2(output_fd, STDERR_FILENO) < 0)
		_exit(125);
	close(output_fd);
	struct worker_result res = { .rc = -1, .err = ZL_ERR_INIT };
	if (state_attach(db, true, &res.err) == 0)
		res.rc = execute_action(db, b, j->a, j->row, &j->env, &res.err);
	else
		zl_err_prefix(&res.err, "%s %s-rep-%d", plan_action_name(j->a->kind), j->a->service,
			      j->a->index);
	state_detach(db);
	ssize_t w;
	do
		w = write(result_fd, &res, sizeof(res));
	while (w < 0 && errno == EINTR);
	/* _exit: the parent's atexit handlers and stdio buffers are not ours. */
	_exit(w == (ssize_t)sizeof(res) ? 0 : 125);
}

static int worker_start(struct state_db *db, struct backend *b, struct exec_job *j,
			struct worker *w, struct zl_err *err)
{
	int fds[2];
	int out = memfd_create("zlapply-action", MFD_CLOEXEC);
	if (out < 0)
		return zl_fail_errno(err, "memfd for an action's output");
	if (pipe2(fds, O_CLOEXEC) < 0) {
		close(out);
		return zl_fail_errno(err, "pipe for an action's result");
	}
	fflush(NULL); /* nothing buffered is written twice */
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		zl_fail_errno(err, "fork a worker for %s-rep-%d", j->a->service, j->a->index);
		close(out);
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		close(fds[0]);
		worker_main(db, b, j, parent, fds[1], out);
	}
	close(fds[1]);
	*w = (struct worker){ .pid = pid, .result_fd = fds[0], .output_fd = out, .job = j };
	return 0;
}

/* The worker's result fd is readable (or closed): collect it. */
static void worker_finish(struct worker *w)
{
	struct exec_job *j = w->job;
	struct worker_result res;
	ssize_t n;
	do
		n = read(w->result_fd, &res, sizeof(res));
	while (n < 0 && errno == EINTR);
	close(w->result_fd);
	w->result_fd = -1;
	int status = 0;
	while (waitpid(w->pid, &status, 0) < 0 && errno == EINTR)
		;
	if (n == (ssize_t)sizeof(res)) {
		j->rc = res.rc;
		j->err = res.err;
	} else {
		j->rc = -1;
		zl_fail(&j->err, "%s %s-rep-%d: its worker (pid %d) ended without a result (%s %d); the next apply settles the action from its journal",
			plan_action_name(j->a->kind), j->a->service, j->a->index, (int)w->pid,
			WIFSIGNALED(status) ? "signal" : "exit",
			WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	}
	struct zl_buf text = { 0 };
	char buf[4096];
	off_t off = 0;
	while ((n = pread(w->output_fd, buf, sizeof(buf), off)) > 0) {
		zl_buf_append(&text, buf, (size_t)n);
		off += n;
	}
	close(w->output_fd);
	w->output_fd = -1;
	j->output = zl_buf_steal(&text);
}

/* Waits for one of the running workers to end; returns its slot. */
static size_t wait_any(struct worker *running, size_t n)
{
	struct pollfd *p = zl_xcalloc(n, sizeof(*p));
	for (size_t i = 0; i < n; i++)
		p[i] = (struct pollfd){ .fd = running[i].result_fd, .events = POLLIN };
	size_t done = n;
	while (done == n) {
		if (poll(p, n, -1) < 0) {
			/* EINTR: a signal for the parent; the workers go on.
			 * Anything else (ENOMEM) passes: try again shortly. */
			if (errno != EINTR)
				usleep(10000);
			continue;
		}
		for (size_t i = 0; i < n && done == n; i++)
			if (p[i].revents)
				done = i;
	}
	free(p);
	return done;
}

int execute_jobs(struct state_db *db, struct backend *b, struct exec_job *jobs, size_t n,
		 unsigned parallel, struct zl_err *err)
{
	for (size_t i = 0; i < n; i++) {
		jobs[i].rc = -1;
		zl_err_clear(&jobs[i].err);
		jobs[i].output = NULL;
	}
	/* One at a time (or one at all): in this process, as before. */
	if (parallel <= 1 || n <= 1 || !db) {
		for (size_t i = 0; i < n; i++)
			jobs[i].rc = execute_action(db, b, jobs[i].a, jobs[i].row, &jobs[i].env,
						    &jobs[i].err);
		return 0;
	}
	struct worker *running = zl_xcalloc(parallel, sizeof(*running));
	size_t n_running = 0, next = 0;
	state_detach(db);
	while (next < n || n_running > 0) {
		while (next < n && n_running < parallel) {
			struct exec_job *j = &jobs[next];
			if (worker_start(db, b, j, &running[n_running], &j->err) == 0) {
				n_running++;
				next++;
			} else if (n_running > 0) {
				/* No fork now (EAGAIN, ENOMEM): try again when a
				 * worker is done; its replicas were signalled already. */
				zl_err_clear(&j->err);
				break;
			} else {
				next++; /* none runs and none can: j fails with why */
			}
		}
		if (n_running == 0)
			continue;
		size_t done = wait_any(running, n_running);
		worker_finish(&running[done]);
		running[done] = running[--n_running];
	}
	free(running);
	return state_attach(db, false, err);
}
