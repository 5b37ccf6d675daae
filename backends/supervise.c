/* supervise.c: a replica process under zlmon (see supervise.h): start,
 * observe, signal, stop, wait, settle, logs and the records around them,
 * shared by the backends that run a process per replica.
 *
 * Observation never spawns a process: a replica is running when the PID
 * zlmon reported is alive with the same start time (/proc/<pid>/stat field
 * 22); exited when zlmon's exit record exists; unknown when neither holds
 * and its monitor is gone. */
#include "backends/supervise.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "backends/monitor/monitor.h"

#define READY_TIMEOUT_MS 60000
#define STARTED_FILE "started"
#define STOP_FILE "stop"
#define STOPPING_FILE "stopping"
#define REPLICA_FILE "replica"
#define DEFAULT_GRACE_MS 10000

const char *supervise_boot_id(char buf[40])
{
	buf[0] = '\0';
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return buf;
	ssize_t n = read(fd, buf, 39);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

char *supervise_which(const char *name)
{
	if (strchr(name, '/'))
		return access(name, X_OK) == 0 ? zl_xstrdup(name) : NULL;
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	_cleanup_free_ char *copy = zl_xstrdup(path);
	char *save = NULL;
	for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		char *full = zl_xasprintf("%s/%s", dir, name);
		if (access(full, X_OK) == 0)
			return full;
		free(full);
	}
	return NULL;
}

char *supervise_find_beside(const char *name, const char *build_subdir, int mode)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return NULL;
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	char *candidates[] = {
		zl_xasprintf("%s/%s", self, name),
		zl_xasprintf("%s/../backends/%s/%s", self, build_subdir, name),
		zl_xasprintf("%s/../libexec/zlapply/%s", self, name),
	};
	char *found = NULL;
	for (size_t i = 0; i < 3; i++) {
		if (!found && access(candidates[i], mode) == 0)
			found = candidates[i];
		else
			free(candidates[i]);
	}
	return found;
}

char *supervise_find_zlmon(void)
{
	const char *env = getenv("ZLMON_BIN");
	if (env && *env)
		return zl_xstrdup(env);
	char *beside = supervise_find_beside("zlmon", "monitor", X_OK);
	return beside ? beside : supervise_which("zlmon");
}

int supervise_claim(const struct zl_owner *me, const char *id, struct zl_err *err)
{
	struct zl_owner holder;
	int r = zl_claim(SUPERVISE_CLAIM_KIND, id, me, &holder, err);
	if (r < 0)
		return -1;
	if (r > 0)
		return zl_fail(err, "%s belongs to the state root %s (another zlapply root runs a deployment of this name): nothing was touched; pick another deployment name, or run it from that root",
			       id, holder.root);
	return 0;
}

char *supervise_cgroup_path(const struct spec_service *svc, const char *id)
{
	const char *parent = svc && svc->cgroup_parent ? svc->cgroup_parent : "/zlapply";
	while (*parent == '/')
		parent++;
	size_t len = strlen(parent);
	while (len > 0 && parent[len - 1] == '/')
		len--;
	return len ? zl_xasprintf("/%.*s/%s", (int)len, parent, id) : zl_xasprintf("/%s", id);
}

static char *path_in(const struct supervised *s, const char *name)
{
	return zl_xasprintf("%s/%s", s->dir, name);
}

/* ---- start ---- */
/* Forks the monitor detached; *ready_fd gets the read end of its report. */
static int spawn_monitor(const char *zlmon, const char *const args[], int *ready_fd,
			 struct zl_err *err)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return zl_fail_errno(err, "pipe");
	size_t n_args = 0;
	while (args[n_args])
		n_args++;
	char fdbuf[16];
	snprintf(fdbuf, sizeof(fdbuf), "%d", p[1]);
	const char **argv = zl_xcalloc(n_args + 4, sizeof(char *));
	argv[0] = zlmon;
	argv[1] = "--ready-fd";
	argv[2] = fdbuf;
	for (size_t i = 0; i < n_args; i++)
		argv[3 + i] = args[i];
	pid_t child = fork();
	if (child < 0) {
		free(argv);
		close(p[0]);
		close(p[1]);
		return zl_fail_errno(err, "fork");
	}
	if (child == 0) {
		/* Detach: a new session, then a grandchild that no one waits for
		 * in zlapply; the monitor must outlive this run. The grandchild
		 * is posix_spawn's (a vfork): no second copy of zlapply's page
		 * tables to make and tear down again at the exec. */
		setsid();
		int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		fcntl(p[1], F_SETFD, 0); /* the ready fd survives exec */
		posix_spawn_file_actions_t fa;
		pid_t grandchild;
		if (devnull < 0 || posix_spawn_file_actions_init(&fa) != 0)
			_exit(1);
		for (int fd = 0; fd <= 2; fd++)
			posix_spawn_file_actions_adddup2(&fa, devnull, fd);
		int r = posix_spawn(&grandchild, argv[0], &fa, NULL, (char *const *)argv, environ);
		posix_spawn_file_actions_destroy(&fa);
		_exit(r == 0 ? 0 : 1); /* a failure shows as no report */
	}
	free(argv);
	close(p[1]);
	int st;
	while (waitpid(child, &st, 0) < 0 && errno == EINTR)
		;
	*ready_fd = p[0];
	return 0;
}

/* Reads zlmon's one ready line: "ok PID STARTTIME" or "error MESSAGE". */
static int read_ready(int fd, int64_t *pid, int64_t *start_time, struct zl_err *err)
{
	struct zl_buf line = { 0 };
	int64_t deadline = zl_monotonic_ms() + READY_TIMEOUT_MS;
	int ret = -1;
	for (;;) {
		int64_t left = deadline - zl_monotonic_ms();
		if (left <= 0) {
			zl_fail(err, "zlmon did not report within %d s", READY_TIMEOUT_MS / 1000);
			goto out;
		}
		struct pollfd pfd = { fd, POLLIN, 0 };
		int r = poll(&pfd, 1, (int)left);
		if (r == 0 || (r < 0 && errno == EINTR))
			continue; /* the deadline is checked above */
		char buf[4096];
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		zl_buf_append(&line, buf, (size_t)n);
	}
	if (!line.data) {
		zl_fail(err, "zlmon exited without reporting (see its zlmon.log)");
		goto out;
	}
	line.data[strcspn(line.data, "\n")] = '\0';
	long long p = 0, t = 0;
	if (sscanf(line.data, "ok %lld %lld", &p, &t) == 2 && p > 0) {
		*pid = p;
		*start_time = t;
		ret = 0;
	} else if (strncmp(line.data, "error ", 6) == 0) {
		zl_fail(err, "%s", line.data + 6);
	} else {
		zl_fail(err, "zlmon: unexpected report \"%s\"", line.data);
	}
out:
	zl_buf_free(&line);
	return ret;
}

void supervise_prepare_start(const struct supervised *s)
{
	/* One monitor per directory: an earlier start's (of a run killed
	 * while it started) finishes first, or two would run the replica. A
	 * restart (a record of an earlier monitor is there) also looks for
	 * one that did not write its record yet. */
	_cleanup_free_ char *mon_record = path_in(s, MONITOR_FILE);
	supervise_settle(s, access(mon_record, F_OK) == 0);
	/* A restart: the previous run's records go first. */
	const char *stale[] = { MONITOR_EXIT_FILE, STARTED_FILE, MONITOR_PID_FILE, STOPPING_FILE,
				SUPERVISE_DETAIL_FILE };
	for (size_t i = 0; i < sizeof(stale) / sizeof(stale[0]); i++) {
		_cleanup_free_ char *p = path_in(s, stale[i]);
		unlink(p);
	}
}

/* No fsync: `started` speaks of a process of this boot only. After a power
 * loss that process is gone whatever the record says, and a record lost or
 * left empty reads as "not started" (observe: created), the same answer a
 * reboot gives, so the replica is started again. The rename keeps it whole
 * against a killed zlapply, the case recovery reads it for. */
static int write_started(const struct supervised *s, int64_t pid, int64_t start_time,
			 int64_t at_ms, struct zl_err *err)
{
	_cleanup_free_ char *path = path_in(s, STARTED_FILE);
	_cleanup_free_ char *text = zl_xasprintf("%lld %lld %lld %s\n", (long long)pid,
						 (long long)start_time, (long long)at_ms, s->boot);
	return zl_write_file_atomic_nosync(path, text, strlen(text), 0600, err);
}

int supervise_start(const struct supervised *s, const char *zlmon, const char *const args[],
		    struct zl_err *err)
{
	int fd = -1;
	if (spawn_monitor(zlmon, args, &fd, err) < 0)
		return -1;
	int64_t pid = 0, start_time = 0;
	int r = read_ready(fd, &pid, &start_time, err);
	close(fd);
	if (r < 0)
		return -1;
	return write_started(s, pid, start_time, zl_now_ms(), err);
}

/* ---- observe ---- */
static void fill_exit(struct backend_state *st, const struct monitor_exit *ex)
{
	st->status = BACKEND_STATUS_EXITED;
	st->exit_code = ex->exit_code;
	st->exit_signal = ex->signal;
	snprintf(st->exit_reason, sizeof(st->exit_reason), "%s", ex->reason);
	st->finished_at = ex->finished_at_ms;
	st->pid = -1;
	st->pid_start_time = -1;
}

/* Fills st from zlmon's exit record; false when there is none (yet). */
static bool take_exit(const char *dir, struct backend_state *st)
{
	struct monitor_exit ex;
	if (monitor_exit_read(dir, &ex) < 0)
		return false;
	fill_exit(st, &ex);
	return true;
}

/* `started`: "PID STARTTIME STARTED_MS [BOOT_ID]"; boot "" if absent. */
static int read_started(const struct supervised *s, int64_t *pid, int64_t *start_time,
			int64_t *started_ms, char boot[40])
{
	_cleanup_free_ char *path = path_in(s, STARTED_FILE);
	char *text = NULL;
	size_t len = 0;
	struct zl_err ignored = ZL_ERR_INIT;
	if (zl_read_file(path, &text, &len, &ignored) < 0)
		return -1;
	long long a, t, st;
	boot[0] = '\0';
	int n = sscanf(text, "%lld %lld %lld %39s", &a, &t, &st, boot);
	free(text);
	if (n < 3)
		return -1;
	*pid = a;
	*start_time = t;
	*started_ms = st;
	return 0;
}

/* zlapply may have died between zlmon's start and recording it: the pid
 * file zlmon wrote tells whether the process runs. True (st filled) when
 * it does. */
static bool running_unrecorded(const struct supervised *s, struct backend_state *st)
{
	_cleanup_free_ char *pid_path = path_in(s, MONITOR_PID_FILE);
	char buf[32];
	int fd = open(pid_path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	int64_t pid = n > 0 ? (buf[n] = '\0', strtoll(buf, NULL, 10)) : -1;
	int64_t t = pid > 0 ? monitor_proc_start_time(pid) : -1;
	if (t < 0 || !monitor_alive(s->dir))
		return false;
	st->status = BACKEND_STATUS_RUNNING;
	st->pid = pid;
	st->pid_start_time = t;
	/* Recorded now, as start would have (the pid file was written at the
	 * start): a reboot is then told from a monitor that died, and a
	 * temporary file the killed run left of this record goes with the
	 * write. */
	struct stat ps;
	if (stat(pid_path, &ps) == 0) {
		int64_t at = (int64_t)ps.st_mtim.tv_sec * 1000 + ps.st_mtim.tv_nsec / 1000000;
		struct zl_err werr = ZL_ERR_INIT;
		if (write_started(s, pid, t, at, &werr) == 0)
			st->started_at = at;
		else
			zl_log(ZL_LOG_DEBUG, "%s", werr.msg);
	}
	return true;
}

/* The reboot ended the process: an exit like any other, so the restart
 * policy decides, and a restart keeps its files. The record zlmon could
 * not write is written now, so every later look sees the same exit
 * (finished when this boot began). */
static void record_reboot(const struct supervised *s, int64_t pid, struct backend_state *st)
{
	struct timespec up;
	clock_gettime(CLOCK_BOOTTIME, &up);
	struct monitor_exit ex = {
		.exit_code = 128 + SIGKILL,
		.signal = SIGKILL,
		.reason = "host_rebooted",
		.finished_at_ms = zl_now_ms() - ((int64_t)up.tv_sec * 1000 + up.tv_nsec / 1000000),
		.pid = pid,
	};
	char *text = monitor_exit_encode(&ex);
	_cleanup_free_ char *path = path_in(s, MONITOR_EXIT_FILE);
	struct zl_err werr = ZL_ERR_INIT;
	if (zl_write_file_atomic(path, text, strlen(text), 0644, &werr) < 0)
		zl_log(ZL_LOG_DEBUG, "%s", werr.msg); /* the next look computes it again */
	free(text);
	fill_exit(st, &ex);
}

/* The process's own word on how it ended (SUPERVISE_DETAIL_FILE), when
 * zlmon's record says only that it exited or died of a signal. */
static void take_detail(const struct supervised *s, struct backend_state *st)
{
	if (strcmp(st->exit_reason, "exited") != 0 && strcmp(st->exit_reason, "signal") != 0)
		return;
	_cleanup_free_ char *path = path_in(s, SUPERVISE_DETAIL_FILE);
	char *text = NULL;
	size_t len = 0;
	if (zl_read_file(path, &text, &len, NULL) < 0)
		return;
	cJSON *rec = cJSON_Parse(text);
	const cJSON *reason = cJSON_GetObjectItemCaseSensitive(rec, "reason");
	if (cJSON_IsString(reason) && reason->valuestring[0])
		snprintf(st->exit_reason, sizeof(st->exit_reason), "%s", reason->valuestring);
	cJSON_Delete(rec);
	free(text);
}

static void observe(const struct supervised *s, struct backend_state *st);

int supervise_observe(const struct supervised *s, struct backend_state *st)
{
	observe(s, st);
	if (st->status == BACKEND_STATUS_EXITED)
		take_detail(s, st);
	return 0;
}

static void observe(const struct supervised *s, struct backend_state *st)
{
	memset(st, 0, sizeof(*st));
	st->pid = st->pid_start_time = -1;
	st->exit_code = -1;
	struct stat sb;
	if (stat(s->dir, &sb) < 0) {
		st->status = BACKEND_STATUS_MISSING;
		return;
	}
	int64_t pid = -1, start_time = -1, started_ms = 0;
	char boot[40];
	bool started = read_started(s, &pid, &start_time, &started_ms, boot) == 0;
	if (started) {
		st->started_at = started_ms;
		st->pid = pid;
		st->pid_start_time = start_time;
	}
	if (take_exit(s->dir, st))
		return;
	if (!started) {
		if (running_unrecorded(s, st) || take_exit(s->dir, st))
			return; /* (or zlmon finished since the first look) */
		st->status = BACKEND_STATUS_CREATED;
		return;
	}
	if (monitor_proc_start_time(pid) == start_time) {
		st->status = BACKEND_STATUS_RUNNING;
		return;
	}
	/* The process is gone and no exit record: either zlmon is writing it
	 * right now, or zlmon died (reboot, OOM, kill). */
	if (monitor_alive(s->dir)) {
		st->status = BACKEND_STATUS_RUNNING;
		return;
	}
	/* zlmon renames exit.json into place before it exits: a second look
	 * after seeing it gone is decisive. */
	if (take_exit(s->dir, st))
		return;
	if (boot[0] && s->boot[0] && strcmp(boot, s->boot) != 0) {
		record_reboot(s, pid, st);
		return;
	}
	st->status = BACKEND_STATUS_UNKNOWN;
	snprintf(st->exit_reason, sizeof(st->exit_reason), "monitor_gone");
	return;
}

/* ---- stop, kill, wait ---- */
static int wait_exit(const struct supervised *s, int64_t timeout_ms)
{
	int64_t deadline = zl_monotonic_ms() + timeout_ms;
	for (;;) {
		struct backend_state st;
		if (supervise_observe(s, &st) == 0 && st.status != BACKEND_STATUS_RUNNING)
			return 0;
		if (zl_monotonic_ms() >= deadline)
			return -1;
		struct timespec ts = { 0, 20 * 1000000 };
		nanosleep(&ts, NULL);
	}
}

int supervise_signal(const struct supervised *s, int signo, struct zl_err *err)
{
	struct backend_state st;
	if (supervise_observe(s, &st) < 0)
		return -1;
	if (st.status != BACKEND_STATUS_RUNNING || st.pid <= 0)
		return zl_fail(err, "replica %s is not running", s->id);
	/* Exited, its monitor still finishing up: the pid may already be
	 * another process's. */
	if (monitor_proc_start_time(st.pid) != st.pid_start_time)
		return 0;
	if (kill((pid_t)st.pid, signo) < 0 && errno != ESRCH)
		return zl_fail_errno(err, "kill %s (pid %lld)", s->id, (long long)st.pid);
	return 0;
}

int supervise_write_stop(const struct supervised *s, int signo, int64_t grace_ms,
			 struct zl_err *err)
{
	_cleanup_free_ char *text = zl_xasprintf("%d %lld\n", signo > 0 ? signo : SIGTERM,
						 (long long)(grace_ms >= 0 ? grace_ms : DEFAULT_GRACE_MS));
	_cleanup_free_ char *path = path_in(s, STOP_FILE);
	return zl_write_file_atomic_nosync(path, text, strlen(text), 0600, err);
}

int supervise_sync_records(const struct supervised *s, const char *const extra[],
			   struct zl_err *err)
{
	const char *names[16] = { REPLICA_FILE, STOP_FILE };
	size_t n = 2;
	for (size_t i = 0; extra && extra[i] && n + 1 < sizeof(names) / sizeof(names[0]); i++)
		names[n++] = extra[i];
	names[n] = NULL;
	return zl_sync_files(s->dir, names, err);
}

/* The stop settings written at create fill what the caller left open. */
static void read_stop_settings(const struct supervised *s, int *signo, int64_t *grace_ms)
{
	_cleanup_free_ char *path = path_in(s, STOP_FILE);
	char *text = NULL;
	size_t len = 0;
	struct zl_err ignored = ZL_ERR_INIT;
	int sig = SIGTERM;
	long long g = DEFAULT_GRACE_MS;
	if (zl_read_file(path, &text, &len, &ignored) == 0) {
		if (sscanf(text, "%d %lld", &sig, &g) != 2)
			sig = SIGTERM, g = DEFAULT_GRACE_MS;
		free(text);
	}
	if (*signo == 0)
		*signo = sig;
	if (*grace_ms < 0)
		*grace_ms = g;
}

int supervise_stop_begin(const struct supervised *s, int signo, struct zl_err *err)
{
	int64_t grace = -1;
	if (signo == 0)
		read_stop_settings(s, &signo, &grace);
	struct backend_state st;
	if (supervise_observe(s, &st) < 0)
		return -1;
	if (st.status != BACKEND_STATUS_RUNNING)
		return 0;
	_cleanup_free_ char *path = path_in(s, STOPPING_FILE);
	_cleanup_free_ char *text = zl_xasprintf("%lld %lld\n", (long long)zl_monotonic_ms(),
						 (long long)st.pid_start_time);
	/* No fsync: a monotonic time and a process of this boot, meaningless
	 * after a power loss (which ends the process it would stop). */
	if (zl_write_file_atomic_nosync(path, text, strlen(text), 0600, err) < 0)
		return -1;
	if (supervise_signal(s, signo ? signo : SIGTERM, err) < 0) {
		unlink(path); /* not signalled: stop() must send it itself */
		return -1;
	}
	return 0;
}

/* How long ago stop_begin signalled this run (by its pid start time), or
 * -1 when it did not (or too long ago to count). */
#define STOPPING_FRESH_MS (5 * 60 * 1000)
static int64_t stop_begun_ago(const struct supervised *s, int64_t pid_start_time,
			      int64_t timeout_ms)
{
	_cleanup_free_ char *path = path_in(s, STOPPING_FILE);
	char *text = NULL;
	size_t len = 0;
	struct zl_err ignored = ZL_ERR_INIT;
	if (zl_read_file(path, &text, &len, &ignored) < 0)
		return -1;
	long long sent = 0, start = 0;
	int n = sscanf(text, "%lld %lld", &sent, &start);
	free(text);
	int64_t ago = zl_monotonic_ms() - sent;
	/* Stale after a while: a replica whose removal failed long ago gets
	 * its stop signal again before anything harder. */
	if (n != 2 || start != pid_start_time || ago < 0 || ago > timeout_ms + STOPPING_FRESH_MS)
		return -1;
	return ago;
}

int supervise_stop(const struct supervised *s, int signo, int64_t timeout_ms, struct zl_err *err)
{
	if (signo == 0 || timeout_ms < 0)
		read_stop_settings(s, &signo, &timeout_ms);
	struct backend_state st;
	if (supervise_observe(s, &st) < 0)
		return -1;
	if (st.status != BACKEND_STATUS_RUNNING)
		return 0;
	struct zl_err ignored = ZL_ERR_INIT;
	int64_t ago = stop_begun_ago(s, st.pid_start_time, timeout_ms);
	if (ago >= 0) /* signalled already, with its siblings */
		timeout_ms = ago < timeout_ms ? timeout_ms - ago : 0;
	else
		supervise_signal(s, signo ? signo : SIGTERM, &ignored);
	if (wait_exit(s, timeout_ms) == 0)
		return 0;
	/* The grace period is over. */
	supervise_signal(s, SIGKILL, &ignored);
	if (wait_exit(s, 10000) < 0)
		return zl_fail(err, "replica %s did not exit after SIGKILL", s->id);
	return 0;
}

int supervise_wait(const struct supervised *s, int64_t timeout_ms, struct zl_err *err)
{
	if (wait_exit(s, timeout_ms) < 0)
		return zl_err_set(err, ZL_ERR_TIMEOUT, 0, "replica %s still running after %lld ms", s->id,
				  (long long)timeout_ms);
	return 0;
}

/* ---- the monitor of a directory ----
 * zlmon is detached: it outlives a zlapply killed while it was starting
 * the replica, and goes on writing into the replica's directory (and, for
 * oci, creating the runtime's container under the replica's id). Removing
 * the directory (an interrupted create undone) or starting a second
 * monitor there (a restart finished at recovery) while it works would
 * have it write into a directory made again, or collide with the next
 * start of the id. So both wait for it first. */
#define MONITOR_SETTLE_MS 100000 /* zlmon's own bounds: create 45 s, start 10 s, delete 30 s */

/* Is pid a zlmon monitoring dir (its command line: zlmon ... --dir dir)? */
static bool is_monitor_of(int64_t pid, const char *dir)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%lld/cmdline", (long long)pid);
	char *text = NULL;
	size_t len = 0;
	if (zl_read_file(path, &text, &len, NULL) < 0)
		return false;
	bool zlmon = false, dir_match = false;
	size_t i = 0;
	for (const char *arg = text, *prev = NULL; arg < text + len; prev = arg, arg += strlen(arg) + 1, i++) {
		const char *base = strrchr(arg, '/') ? strrchr(arg, '/') + 1 : arg;
		if (i == 0)
			zlmon = strcmp(base, "zlmon") == 0;
		else if (prev && strcmp(prev, "--dir") == 0 && strcmp(arg, dir) == 0)
			dir_match = true;
	}
	free(text);
	return zlmon && dir_match;
}

/* The pid of dir's monitor while it runs, proven to be it: the pid its
 * record in dir names, alive with the recorded start time, whose command
 * line is zlmon's with --dir dir. A monitor just started (a run killed
 * right after spawning it) has no record yet: with scan, the processes
 * are looked through for a zlmon whose command line names dir. 0 when
 * there is none. */
static pid_t live_monitor(const char *dir, bool scan)
{
	int64_t pid = 0, start = 0;
	if (monitor_read_self(dir, &pid, &start) == 0 && pid > 1 &&
	    monitor_proc_start_time(pid) == start && is_monitor_of(pid, dir))
		return (pid_t)pid;
	if (!scan)
		return 0;
	DIR *d = opendir("/proc");
	struct dirent *de;
	pid_t found = 0;
	while (d && !found && (de = readdir(d))) {
		char *end;
		long p = strtol(de->d_name, &end, 10);
		if (*end == '\0' && p > 1 && p != getpid() && monitor_proc_start_time(p) >= 0 &&
		    is_monitor_of(p, dir))
			found = (pid_t)p;
	}
	if (d)
		closedir(d);
	return found;
}

void supervise_settle(const struct supervised *s, bool scan)
{
	int64_t start = zl_monotonic_ms();
	bool announced = false;
	pid_t mon;
	while ((mon = live_monitor(s->dir, scan)) > 0) {
		struct backend_state st;
		struct zl_err ignored = ZL_ERR_INIT;
		if (supervise_observe(s, &st) == 0 && st.status == BACKEND_STATUS_RUNNING)
			supervise_signal(s, SIGKILL, &ignored);
		int64_t waited = zl_monotonic_ms() - start;
		if (waited >= MONITOR_SETTLE_MS) {
			zl_log(ZL_LOG_WARN, "%s: its monitor (pid %d) is still at work after %d s: killed",
			       s->id, (int)mon, MONITOR_SETTLE_MS / 1000);
			kill(mon, SIGKILL);
			for (int i = 0; i < 100 && live_monitor(s->dir, scan) == mon; i++) {
				struct timespec ts = { 0, 20 * 1000000 };
				nanosleep(&ts, NULL);
			}
			return;
		}
		if (!announced && waited >= 1000) {
			zl_log(ZL_LOG_INFO, "%s: waiting for its monitor (pid %d), still starting it", s->id,
			       (int)mon);
			announced = true;
		}
		struct timespec ts = { 0, 20 * 1000000 };
		nanosleep(&ts, NULL);
	}
}

/* ---- logs, stats ---- */
int supervise_logs(const struct supervised *s, const struct backend_log_opts *o, FILE *out,
		   struct zl_err *err)
{
	if (access(s->dir, F_OK) < 0)
		return zl_fail(err, "no such replica %s", s->id);
	return monitor_logs_print(s->dir, o->tail, o->follow, o->timestamps, out, err);
}

/* A finished run's output (ctr.log and its rotated parts ctr.log.N, oldest
 * first) becomes one file at dest_path; the next start begins a new ctr.log. */
int supervise_archive_logs(const struct supervised *s, const char *dest_path, struct zl_err *err)
{
	_cleanup_free_ char *log = path_in(s, MONITOR_LOG_FILE);
	_cleanup_free_ char *rotated1 = zl_xasprintf("%s.1", log);
	if (access(rotated1, F_OK) < 0) {
		if (rename(log, dest_path) < 0 && errno != ENOENT)
			return zl_fail_errno(err, "move %s to %s", log, dest_path);
		return 0;
	}
	struct zl_buf all = { 0 };
	int ret = 0;
	for (int k = 16; k >= 0 && ret == 0; k--) {
		_cleanup_free_ char *part = k ? zl_xasprintf("%s.%d", log, k) : zl_xstrdup(log);
		char *data = NULL;
		size_t len = 0;
		struct zl_err rerr = ZL_ERR_INIT;
		if (access(part, F_OK) < 0)
			continue;
		if (zl_read_file(part, &data, &len, &rerr) < 0) {
			*err = rerr;
			ret = -1;
			break;
		}
		zl_buf_append(&all, data, len);
		free(data);
	}
	if (ret == 0 && zl_write_file_atomic(dest_path, all.data ? all.data : "", all.len, 0600,
					     err) < 0)
		ret = -1;
	zl_buf_free(&all);
	if (ret < 0)
		return zl_err_prefix(err, "archive the log of %s", s->id);
	for (int k = 0; k <= 16; k++) {
		_cleanup_free_ char *part = k ? zl_xasprintf("%s.%d", log, k) : zl_xstrdup(log);
		unlink(part); /* gone already is fine: the archive holds it */
	}
	return 0;
}

/* ---- the replica record (adoption) ---- */
int supervise_write_replica(const struct supervised *s, const struct backend_replica_spec *rs,
			    struct zl_err *err)
{
	_cleanup_free_ char *who = zl_xasprintf("%s\t%s\t%d\t%s\t%s%s%s\n", rs->deployment,
						rs->service->name, rs->index,
						rs->spec_hash ? rs->spec_hash : "-",
						rs->image_digest ? rs->image_digest : "-",
						rs->backend ? "\t" : "", rs->backend ? rs->backend : "");
	_cleanup_free_ char *path = path_in(s, REPLICA_FILE);
	return zl_write_file_atomic_nosync(path, who, strlen(who), 0600, err);
}

int supervise_held(const char *replicas_dir, const char *boot, backend_known_fn known, void *kctx,
		   supervise_held_fn read, void *rctx, struct backend_held **out, size_t *n,
		   struct zl_err *err)
{
	*out = NULL;
	*n = 0;
	DIR *dh = opendir(replicas_dir);
	if (!dh)
		return errno == ENOENT ? 0 : zl_fail_errno(err, "open %s", replicas_dir);
	size_t cap = 0;
	struct dirent *de;
	while ((de = readdir(dh))) {
		struct zl_err ignored = ZL_ERR_INIT;
		if (de->d_name[0] == '.' || backend_check_id(de->d_name, &ignored) < 0 ||
		    known(kctx, de->d_name))
			continue;
		_cleanup_free_ char *dir = zl_xasprintf("%s/%s", replicas_dir, de->d_name);
		struct supervised s = { .id = de->d_name, .dir = dir, .boot = boot };
		struct backend_held h;
		if ((read ? read(rctx, &s, &h) : supervise_read_replica(&s, &h)) < 0)
			continue;
		zl_grow(out, sizeof(**out), &cap, *n + 1);
		(*out)[(*n)++] = h;
	}
	closedir(dh);
	return 0;
}

int supervise_read_replica(const struct supervised *s, struct backend_held *h)
{
	_cleanup_free_ char *path = path_in(s, REPLICA_FILE);
	char *text = NULL;
	size_t len = 0;
	*h = (struct backend_held){ 0 };
	if (zl_read_file(path, &text, &len, NULL) < 0)
		return -1;
	char dep[256], svc[256], hash[128], digest[128], backend[32] = "";
	int index;
	int n = sscanf(text, "%255[^\t]\t%255[^\t]\t%d\t%127[^\t]\t%127[^\t\n]\t%31[^\t\n]", dep, svc,
		       &index, hash, digest, backend);
	free(text);
	if (n < 5)
		return -1;
	h->backend = backend[0] ? zl_xstrdup(backend) : NULL;
	h->backend_id = zl_xstrdup(s->id);
	h->deployment = zl_xstrdup(dep);
	h->service = zl_xstrdup(svc);
	h->index = index;
	h->spec_hash = strcmp(hash, "-") ? zl_xstrdup(hash) : NULL;
	h->image_digest = strcmp(digest, "-") ? zl_xstrdup(digest) : NULL;
	return 0;
}
