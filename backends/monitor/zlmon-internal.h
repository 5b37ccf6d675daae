/* zlmon-internal.h: the monitor's state and its parts, shared by zlmon.c
 * (options, lifecycle), zlmon-runtime.c (children and runtime commands) and
 * zlmon-log.c (container output into ctr.log). Not for zlapply: its side is
 * monitor.h. */
#ifndef ZL_ZLMON_INTERNAL_H
#define ZL_ZLMON_INTERNAL_H

#include <sys/types.h>

#include "backends/monitor/monitor.h"

#define RECENT_REAPED 16

struct opts {
	const char *id;
	char *bundle;       /* absolute */
	const char *runtime;
	char *dir;          /* absolute */
	const char *runtime_root;
	const char *cgroup;
	int ready_fd;
	int64_t log_max_bytes;
	int log_max_files;
	/* --exec: no runtime; the command after the options is the replica's
	 * process, run directly (the wasm backend's engine). */
	bool exec;
	char **exec_argv;        /* NULL-terminated, borrowed from main's argv */
	const char *join[4];     /* --join: cgroup.procs files the process enters before exec */
	size_t join_count;
};

/* One of the container's output pipes. */
struct stream {
	int fd; /* read end; -1 after EOF */
	enum monitor_stream kind;
	char carry[4]; /* the start of a UTF-8 character cut by the last read */
	size_t carry_len;
};

struct log_writer {
	char *path; /* STATE_DIR/ctr.log */
	int fd;
	int64_t size;
	int64_t max_bytes;
	int max_files;
	bool failed; /* a write failed: reported once, output dropped */
};

struct zlmon {
	struct opts o;
	int log_fd;   /* zlmon.log */
	int sig_fd;   /* SIGCHLD */
	int ready_fd; /* -1 once reported */
	/* The runtime command being waited for. */
	pid_t cmd_pid;
	bool cmd_done;
	int cmd_status;
	/* The container's init. */
	pid_t ctr_pid;
	bool ctr_exited;
	int ctr_status;
	/* Its name (/proc/PID/comm) before start, the runtime's ("runc:[2:INIT]"),
	 * and when it exited: the same name means it never became the
	 * container's command (its exec failed). */
	char ctr_comm[32];
	char exit_comm[32];
	/* The last record the container wrote to stderr (where a runtime's
	 * init says why its exec failed). */
	char last_stderr[1024];
	/* Children reaped before we knew who they were. */
	pid_t recent_pid[RECENT_REAPED];
	int recent_status[RECENT_REAPED];
	size_t recent_next;
	/* The runtime holds a container of ours (create succeeded or timed
	 * out): only then may a failure delete it. A create that failed, e.g.
	 * because the id exists, must not take down someone else's container. */
	bool created;
	struct stream streams[2];
	struct log_writer log;
};

/* ---- zlmon.c ---- */
/* Appends one line to zlmon.log (best effort). */
void zlmon_log(struct zlmon *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sends the one ready line and closes the ready pipe; later calls do nothing. */
void zlmon_report(struct zlmon *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* write() until done; -1 with errno on failure. */
int zlmon_write_all(int fd, const char *data, size_t len);

/* ---- zlmon-runtime.c ---- */
/* Reaps every exited child, recording the command's and the container's status. */
void zlmon_reap(struct zlmon *m);
/* Forks and execs argv: stdin /dev/null, stdout/stderr on out_fd/err_fd. */
pid_t zlmon_spawn(const char *const argv[], int out_fd, int err_fd);
/* Waits for pid, reading fds (non-blocking, -1 for none) into text; 0 with
 * *status, or -1 after timeout_ms (pid killed and reaped). */
int zlmon_wait_cmd(struct zlmon *m, pid_t pid, const int fds[2], struct zl_buf *text,
		   int64_t timeout_ms, int *status);
/* "RUNTIME [--root DIR] [--log LOG --log-format json] VERB ARGS..."; caller
 * frees the array (not the strings). */
const char **zlmon_runtime_argv(struct zlmon *m, const char *runtime_log, const char *verb,
				const char *const args[]);
/* "CMDLINE: exit N: OUTPUT-or-LOG-ERRORS" on one line; caller frees. */
char *zlmon_describe_failure(const char *const argv[], int status, bool timed_out,
			     const struct zl_buf *output, const char *runtime_log);
/* What the runtime said (output, else its log's errors) on one line; "" for
 * nothing. Caller frees. */
char *zlmon_failure_text(const struct zl_buf *output, const char *runtime_log);
/* Reads /proc/PID/comm (also of a zombie) into out; "" when gone. */
void zlmon_proc_comm(pid_t pid, char out[32]);
/* Runs a runtime verb; 0 when it exited 0, else -1 and *failure (caller frees). */
int zlmon_run_runtime(struct zlmon *m, const char *verb, const char *const args[], bool with_log,
		      int64_t timeout_ms, char **failure);
/* RUNTIME delete --force ID; failures go to zlmon.log. */
void zlmon_runtime_delete(struct zlmon *m);

/* ---- zlmon-exec.c ---- */
/* --exec: forks the command with stdout/stderr on out_fd/err_fd, in the
 * --join cgroups, with a clean environment; *pid and *start_time get it
 * before it can exit. -1 with *failure (caller frees) when it could not
 * be started (the cgroup refused it, exec failed). */
int zlmon_exec_start(struct zlmon *m, int out_fd, int err_fd, pid_t *pid, int64_t *start_time,
		     char **failure);

/* ---- zlmon-log.c ---- */
/* Opens (appends to) ctr.log. */
int zlmon_output_open(struct log_writer *w);
/* Writes data as records; keeps a cut UTF-8 character for the next chunk
 * unless at_end. */
void zlmon_stream_chunk(struct zlmon *m, struct stream *s, const char *data, size_t len,
			bool at_end);
/* Reads what the stream's pipe holds now; at EOF closes it (fd = -1). */
void zlmon_stream_read(struct zlmon *m, struct stream *s);
/* One record of zlmon's own in ctr.log, as if the container wrote text. */
void zlmon_output_line(struct zlmon *m, enum monitor_stream kind, const char *text);

#endif
