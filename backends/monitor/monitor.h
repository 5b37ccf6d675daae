/* monitor.h: zlmon, the per-replica container monitor, and what the OCI
 * backend shares with it: file names, the log-line and exit-record formats,
 * and readers for them (libzlmonitor: monitor-format.c and monitor-json.c,
 * which zlmon links too, and monitor-read.c, zlapply's side, with cJSON).
 *
 * ---- The protocol ----
 *   zlmon --id ID --bundle BUNDLE_DIR --runtime RUNTIME --dir STATE_DIR
 *         --ready-fd FD [--runtime-root DIR] [--cgroup CGROUPS_PATH]
 *         [--log-max-bytes N (default 10 MiB)] [--log-max-files K (default 3)]
 *
 * The caller forks; the child calls setsid() and forks again; the grandchild
 * execs zlmon with stdin/stdout/stderr on /dev/null and FD, the write end of
 * a pipe the caller reads, left open across exec. zlmon then:
 *   1. makes itself the child subreaper, ignores SIGHUP and SIGPIPE, closes
 *      every other inherited descriptor, chdir("/") (relative paths are made
 *      absolute first), appends its own diagnostics to STATE_DIR/zlmon.log;
 *   2. writes STATE_DIR/monitor = "PID STARTTIME\n" atomically (STARTTIME is
 *      field 22 of /proc/self/stat), so anyone can tell it is alive
 *      (monitor_alive()); removes a previous run's pid, exit.json and
 *      runtime.log (ctr.log is appended to: restarts keep their history);
 *   3. runs `RUNTIME [--root DIR] --log STATE_DIR/runtime.log --log-format json
 *      create --bundle BUNDLE --pid-file STATE_DIR/pid ID` with stdin on
 *      /dev/null and stdout/stderr on two pipes zlmon reads: in detached,
 *      non-terminal mode runc and crun hand these descriptors to the
 *      container. Whatever arrives on them before `create` exits is the
 *      runtime's own output, never the container's (its process is still
 *      waiting for `start`): it is kept for the error message, and on
 *      success goes to zlmon.log. runtime.log (JSON lines) is read too when
 *      the runtime said nothing on stderr (podman/conmon do the same with
 *      their --log file);
 *   4. reads STATE_DIR/pid (the container's init) and its start time before
 *      `start`, so even a container that exits at once is known;
 *   5. runs `RUNTIME [--root DIR] --log ... start ID` (its output captured
 *      separately);
 *   6. writes "ok PID STARTTIME\n" to FD and closes it. On any failure in
 *      1-5 it writes "error MESSAGE\n" instead, MESSAGE one line naming the
 *      command that failed, how it ended and what it said, e.g.
 *      `/usr/sbin/runc --root R --log ... create --bundle B --pid-file P ID:
 *      exit 1: runc create failed: ...: exec: "/bin/nosuch": stat /bin/nosuch:
 *      no such file or directory`, runs `RUNTIME [--root DIR] delete --force
 *      ID` when its own create succeeded (or timed out) -- never after a
 *      failed create, which may mean the id belongs to a running container --
 *      and exits 1 (usage errors: exit 2). Except a create that refused the
 *      command itself (not found, not executable: monitor_exec_failure()):
 *      that is the command exiting at once, as under a shell, not a failure
 *      to start. zlmon writes Docker's words as a stderr record in ctr.log,
 *      then exit.json (reason "exec_failed", exit_code 127 or 126, "pid" -1,
 *      "error" the words), then reports "ok PID STARTTIME" with its own pid
 *      (no process of the container ran) and exits 0;
 *   7. copies the container's stdout/stderr into STATE_DIR/ctr.log, one JSON
 *      line per line of output (a chunk without a newline at the end of a
 *      read becomes a record of its own; printers join them):
 *        {"time":"2026-11-22T10:00:00.123Z","stream":"stdout","text":"hello\n"}
 *      invalid UTF-8 and NUL bytes become U+FFFD. Before a line would make
 *      ctr.log exceed --log-max-bytes, ctr.log.(K-1) -> ctr.log.K, ...,
 *      ctr.log -> ctr.log.1 and a new ctr.log starts: at most K rotated files
 *      (a single record larger than N still gets written, alone in its file);
 *   8. reaps every child (signalfd SIGCHLD, waitpid(-1, WNOHANG)); when the
 *      container's init exits it drains the pipes (to EOF, at most ~1 s),
 *      reads the memory cgroup's oom_kill counter (v2 memory.events, v1
 *      memory.oom_control; cgroup from /proc/PID/cgroup, --cgroup as the
 *      fallback) and compares it with the value read before `start`;
 *   9. runs `RUNTIME [--root DIR] delete --force ID` FIRST, and only then
 *      writes STATE_DIR/exit.json atomically (tmp, fsync, rename):
 *        {"exit_code":137,"signal":"SIGKILL","reason":"oom_killed",
 *         "oom_killed":true,"finished_at":"2026-11-22T10:00:01.234Z",
 *         "finished_at_ms":1795341601234,"pid":4242}
 *      exit_code = WEXITSTATUS, or 128+signal; signal null unless killed;
 *      reason "exited", "signal", or "oom_killed" (the counter rose, or the
 *      process died of SIGKILL with a non-zero counter), or "exec_failed"
 *      (127/126, with "error") when the init exited non-zero still under the
 *      name it had before `start` (/proc/PID/comm, read before it is reaped,
 *      e.g. runc:[2:INIT]): it never became the command, its exec failed
 *      after start (argument list too long), and its last stderr line says
 *      why. Deleting first means
 *      that once exit.json exists the id is free for a new `create` and
 *      ctr.log is complete. Then zlmon exits 0.
 *
 * --exec mode (the wasm backend's engine; no OCI runtime):
 *   zlmon --exec --id ID --dir STATE_DIR --ready-fd FD [--cgroup PATH]
 *         [--join CGROUP_PROCS_FILE]... [--log-max-...] /PATH/COMMAND [ARGS...]
 * Steps 3-5 become: fork the command (stdin /dev/null, stdout/stderr on the
 * pipes), read its pid and start time while it waits for a go, let it
 * enter the --join cgroups (writing "0" to each cgroup.procs file) and
 * execve with only a default PATH in its environment, and write
 * STATE_DIR/pid. A failure before the exec (the cgroup refused it, no such
 * command) is reported "error ..." like a failed create. Everything from
 * step 6 on is the same, minus the runtime's delete.
 *
 * Files in STATE_DIR: monitor, pid (the runtime's), runtime.log, zlmon.log,
 * ctr.log[.N], exit.json.
 */
#ifndef ZL_MONITOR_H
#define ZL_MONITOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/common.h"

#define MONITOR_FILE "monitor"
#define MONITOR_PID_FILE "pid"
#define MONITOR_EXIT_FILE "exit.json"
#define MONITOR_LOG_FILE "ctr.log"
#define MONITOR_RUNTIME_LOG_FILE "runtime.log"
#define MONITOR_SELF_LOG_FILE "zlmon.log"
#define MONITOR_DEFAULT_LOG_MAX_BYTES (10 * 1024 * 1024)
#define MONITOR_DEFAULT_LOG_MAX_FILES 3
/* Upper bound on rotated files a reader looks at. */
#define MONITOR_MAX_LOG_FILES 64

/* ---- clocks, processes, signals (monitor-format.c) ---- */
int64_t monitor_now_ms(void);       /* wall clock, ms since the epoch */
int64_t monitor_monotonic_ms(void);
/* "2026-11-22T10:00:00.123Z" (RFC 3339, UTC, milliseconds). */
void monitor_format_time(int64_t ms, char out[32]);
/* Start time (field 22 of /proc/<pid>/stat) of a live process; -1 when the
 * process is gone or a zombie. */
int64_t monitor_proc_start_time(int64_t pid);
/* "SIGKILL" for 9; "SIG<n>" for signals without a name. */
void monitor_signal_name(int sig, char out[16]);
/* 9 for "SIGKILL" (or "KILL"); 0 when unknown. */
int monitor_signal_number(const char *name);

/* ---- the exit record ---- */
struct monitor_exit {
	int exit_code;          /* WEXITSTATUS, or 128 + signal; 127/126 exec_failed */
	int signal;             /* 0 when not killed by a signal */
	char reason[32];        /* exited | signal | oom_killed | exec_failed */
	bool oom_killed;
	int64_t finished_at_ms; /* ms since the epoch */
	int64_t pid;            /* the container's init; -1 when none ran */
	char error[512];        /* exec_failed: why, one line; "" otherwise */
};
/* The exit.json text (with a final newline) for ex; caller frees. */
char *monitor_exit_encode(const struct monitor_exit *ex);
/* Reads STATE_DIR/exit.json. 0 on success; -1 when it is missing (errno
 * ENOENT) or unreadable or malformed (errno EINVAL). */
int monitor_exit_read(const char *dir, struct monitor_exit *ex);
/* Does text (a runtime's error, or the last line the container's init wrote
 * before it died) say the container's command could not be executed? Knows
 * runc's words (`exec: "NAME": executable file not found in $PATH` from
 * create; `exec NAME: argument list too long` from the init after start)
 * and crun's (`executable file `NAME` not found in $PATH`, `the path `NAME`
 * exists but it is not executable`, `exec container process `NAME`: ...`).
 * Returns 127 (not found: no such file or directory, not in $PATH) or 126
 * (found but not executable: permission denied, a directory, argument list
 * too long, exec format error), the shell's and Docker's codes, and appends
 * Docker's one-line form `exec: "NAME": REASON` to msg; 0 (msg untouched)
 * when text says nothing of the kind. */
int monitor_exec_failure(const char *text, struct zl_buf *msg);

/* ---- the monitor's liveness ---- */
/* Reads STATE_DIR/monitor ("PID STARTTIME"). 0 on success, -1 if absent or bad. */
int monitor_read_self(const char *dir, int64_t *pid, int64_t *start_time);
/* True when the zlmon that wrote STATE_DIR/monitor still runs (same PID and
 * start time, not a zombie). */
bool monitor_alive(const char *dir);

/* ---- log lines ---- */
enum monitor_stream { MONITOR_STDOUT = 0, MONITOR_STDERR = 1 };
const char *monitor_stream_name(enum monitor_stream s); /* "stdout" | "stderr" */

struct monitor_log_record {
	char time[40];               /* as written: "2026-11-22T10:00:00.123Z" */
	enum monitor_stream stream;
	char *text;                  /* owned; NUL-terminated, holds no NUL */
	size_t text_len;
};
/* One ctr.log line for text (any bytes; invalid UTF-8 and NUL become
 * U+FFFD), ending in '\n'; caller frees. */
char *monitor_log_encode(int64_t time_ms, enum monitor_stream stream, const char *text,
			 size_t len);
/* Parses one line (with or without its '\n'). 0 on success, -1 when it is
 * not a log record. On success the caller frees with monitor_log_record_clear(). */
int monitor_log_parse(const char *line, size_t len, struct monitor_log_record *rec);
void monitor_log_record_clear(struct monitor_log_record *rec);
/* Copies invalid UTF-8 sequences and NUL bytes of text as U+FFFD into out
 * (appended). Returns how many trailing bytes of text were NOT consumed
 * because they start a multibyte character that may continue in the next
 * chunk (0..3); with at_end they are replaced instead and 0 is returned. */
size_t monitor_utf8_sanitize(const char *text, size_t len, bool at_end, struct zl_buf *out);

/* ---- JSON without a library (monitor-json.c): zlmon's side ---- */
/* Appends s (NUL-terminated) as a JSON string, escaped as cJSON prints it. */
void monitor_json_string(struct zl_buf *out, const char *s);
/* Appends "key": to an object being written into out (a comma first unless
 * out ends in its opening brace). */
void monitor_json_key(struct zl_buf *out, const char *key);
/* The string member key of the JSON object text[0..len) (the first of that
 * name), unescaped, appended to out: 1 found, 0 no such string member, -1
 * (out untouched) when text is not one well-formed JSON object. */
int monitor_json_find_string(const char *text, size_t len, const char *key, struct zl_buf *out);

/* ---- reading logs (monitor-read.c) ---- */
/* The last tail records (all when tail == 0) across ctr.log.N ... ctr.log,
 * oldest first. Caller frees with monitor_log_records_free(). A missing log
 * is no records, not an error. */
int monitor_logs_tail(const char *dir, size_t tail, struct monitor_log_record **recs,
		      size_t *count, struct zl_err *err);
void monitor_log_records_free(struct monitor_log_record *recs, size_t count);
/* tail: no record written so far (the value of backend.h's
 * BACKEND_LOG_TAIL_NONE, which the OCI backend passes through). */
#define MONITOR_LOG_TAIL_NONE SIZE_MAX
/* Prints the last tail records (all when 0, none with MONITOR_LOG_TAIL_NONE)
 * as the container wrote them; timestamps puts "TIME " before each line.
 * With follow it keeps printing new output (across rotations) until
 * exit.json appears or the monitor is gone: with MONITOR_LOG_TAIL_NONE only
 * what is written from now on (`logs -f --tail 0`). stdout and stderr both
 * go to out. */
int monitor_logs_print(const char *dir, size_t tail, bool follow, bool timestamps, FILE *out,
		       struct zl_err *err);

#endif
