/* mock.c: the fake backend the reconciler's tests drive.
 *
 * A fake replica is one small file <root>/mock/<id> of "key=value" lines, so
 * separate zlapply runs see the same replicas; its log is <root>/mock/<id>.log.
 * observe calls state() for every replica on every apply, so state() is one
 * open + read + close and nothing else (no directory scan, no allocation).
 *
 * Records are replaced atomically (write a temporary file, then rename; for
 * create, link so an existing id is never overwritten). There is no fsync: the
 * crash the tests simulate is SIGKILL of zlapply, which the page cache
 * survives, and an fsync per create/start would make scale tests slow.
 *
 * Faults are read from the environment on every call (see backend.h), so a
 * test can change them between two operations.
 */
#include "mock.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#define MOCK_DIR "mock"
#define MOCK_RECORD_MAX 4096
#define MOCK_ID_MAX 200
#define MOCK_FIRST_PID 100000
#define MOCK_POLL_MS 10

struct mock_record {
	enum backend_status status;
	int64_t pid;
	int64_t started_at, finished_at;
	int exit_code, exit_signal;
	char exit_reason[32];
	char spec_hash[128];
	char deployment[256];
	char service[256];
	int index;
};

/* ---- paths ---- */

/* Ids become file names: refuse anything that could leave <root>/mock or
 * collide with the record's companions (".<id>.tmp.*", "<id>.log"). */
static int mock_check_id(const char *id, struct zl_err *err)
{
	if (!id || !*id)
		return zl_invalid(err, "mock: empty backend id");
	size_t len = strlen(id);
	if (len > MOCK_ID_MAX)
		return zl_invalid(err, "mock: backend id longer than %d bytes", MOCK_ID_MAX);
	if (id[0] == '.' || strpbrk(id, "/\n\r") || zl_str_has_suffix(id, ".log"))
		return zl_invalid(err, "mock: invalid backend id \"%s\"", id);
	return 0;
}

/* "<root>/mock/<prefix><id><suffix>" into out. */
static int mock_path(char out[PATH_MAX], const char *root, const char *prefix, const char *id,
		     const char *suffix, struct zl_err *err)
{
	int n = snprintf(out, PATH_MAX, "%s/%s/%s%s%s", root, MOCK_DIR, prefix, id, suffix);
	if (n < 0 || n >= PATH_MAX)
		return zl_fail(err, "mock: path for %s too long", id);
	return 0;
}

static int mock_ensure_dir(const char *root, struct zl_err *err)
{
	char dir[PATH_MAX];
	int n = snprintf(dir, sizeof(dir), "%s/%s", root, MOCK_DIR);
	if (n < 0 || (size_t)n >= sizeof(dir))
		return zl_fail(err, "mock: state root path too long");
	return zl_mkdir_p(dir, 0700, err);
}

/* ---- faults ---- */

static void mock_sleep_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		; /* keep sleeping the remainder */
}

static int mock_delay(struct zl_err *err)
{
	const char *v = getenv("ZLAPPLY_MOCK_DELAY_MS");
	if (!v || !*v)
		return 0;
	char *end;
	errno = 0;
	long long ms = strtoll(v, &end, 10);
	if (errno || *end || ms < 0)
		return zl_invalid(err, "mock: ZLAPPLY_MOCK_DELAY_MS: expected milliseconds, got \"%s\"", v);
	if (ms > 0)
		mock_sleep_ms(ms);
	return 0;
}

/* ZLAPPLY_MOCK_FAIL="op:id[,op:id...]", id a backend id or "*". */
static int mock_injected(const char *op, const char *id, struct zl_err *err)
{
	const char *v = getenv("ZLAPPLY_MOCK_FAIL");
	if (!v || !*v)
		return 0;
	size_t op_len = strlen(op);
	const char *p = v;
	while (*p) {
		const char *item_end = strchr(p, ',');
		if (!item_end)
			item_end = p + strlen(p);
		while (p < item_end && *p == ' ')
			p++;
		const char *e = item_end;
		while (e > p && e[-1] == ' ')
			e--;
		const char *colon = memchr(p, ':', (size_t)(e - p));
		if (colon && (size_t)(colon - p) == op_len && memcmp(p, op, op_len) == 0) {
			const char *want = colon + 1;
			size_t want_len = (size_t)(e - want);
			if ((want_len == 1 && *want == '*') ||
			    (want_len == strlen(id) && memcmp(want, id, want_len) == 0))
				return zl_fail(err, "mock: injected failure of %s for %s", op, id);
		}
		p = *item_end ? item_end + 1 : item_end;
	}
	return 0;
}

/* ---- records ---- */

static void mock_record_init(struct mock_record *r)
{
	memset(r, 0, sizeof(*r));
	r->status = BACKEND_STATUS_MISSING;
	r->pid = -1;
	r->exit_code = -1;
}

static enum backend_status mock_status_parse(const char *s)
{
	if (strcmp(s, "created") == 0)
		return BACKEND_STATUS_CREATED;
	if (strcmp(s, "running") == 0)
		return BACKEND_STATUS_RUNNING;
	if (strcmp(s, "exited") == 0)
		return BACKEND_STATUS_EXITED;
	return BACKEND_STATUS_UNKNOWN;
}

static void mock_copy(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src ? src : ""); /* truncation is fine for a fake */
	for (char *p = dst; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
}

static void mock_record_set(struct mock_record *r, const char *key, const char *value)
{
	if (strcmp(key, "status") == 0)
		r->status = mock_status_parse(value);
	else if (strcmp(key, "pid") == 0)
		r->pid = strtoll(value, NULL, 10);
	else if (strcmp(key, "started_at") == 0)
		r->started_at = strtoll(value, NULL, 10);
	else if (strcmp(key, "finished_at") == 0)
		r->finished_at = strtoll(value, NULL, 10);
	else if (strcmp(key, "exit_code") == 0)
		r->exit_code = (int)strtol(value, NULL, 10);
	else if (strcmp(key, "exit_signal") == 0)
		r->exit_signal = (int)strtol(value, NULL, 10);
	else if (strcmp(key, "exit_reason") == 0)
		mock_copy(r->exit_reason, sizeof(r->exit_reason), value);
	else if (strcmp(key, "spec_hash") == 0)
		mock_copy(r->spec_hash, sizeof(r->spec_hash), value);
	else if (strcmp(key, "deployment") == 0)
		mock_copy(r->deployment, sizeof(r->deployment), value);
	else if (strcmp(key, "service") == 0)
		mock_copy(r->service, sizeof(r->service), value);
	else if (strcmp(key, "index") == 0)
		r->index = (int)strtol(value, NULL, 10);
	/* unknown keys: written by a newer mock; ignore */
}

/* Loads id's record; a missing file is status MISSING, not an error. */
static int mock_load(const char *root, const char *id, struct mock_record *r, struct zl_err *err)
{
	mock_record_init(r);
	if (mock_check_id(id, err) < 0)
		return -1;
	char path[PATH_MAX];
	if (mock_path(path, root, "", id, "", err) < 0)
		return -1;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return zl_fail_errno(err, "mock: open %s", path);
	}
	char buf[MOCK_RECORD_MAX];
	size_t len = 0;
	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return zl_fail_errno(err, "mock: read %s", path);
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == sizeof(buf) - 1)
			return zl_fail(err, "mock: %s: record larger than %d bytes", path,
				       MOCK_RECORD_MAX - 1);
	}
	buf[len] = '\0';

	r->status = BACKEND_STATUS_UNKNOWN; /* a file without a status line */
	char *save = NULL;
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');
		if (!eq)
			continue;
		*eq = '\0';
		mock_record_set(r, line, eq + 1);
	}
	return 0;
}

/* Writes r as id's record. exclusive: fail with EEXIST-style error when the
 * id already has one (create). */
static int mock_store(const char *root, const char *id, const struct mock_record *r,
		      bool exclusive, struct zl_err *err)
{
	char buf[MOCK_RECORD_MAX];
	int len = snprintf(buf, sizeof(buf),
			   "status=%s\npid=%" PRId64 "\nstarted_at=%" PRId64
			   "\nfinished_at=%" PRId64 "\nexit_code=%d\nexit_signal=%d\n"
			   "exit_reason=%s\nspec_hash=%s\ndeployment=%s\nservice=%s\nindex=%d\n",
			   backend_status_name(r->status), r->pid, r->started_at, r->finished_at,
			   r->exit_code, r->exit_signal, r->exit_reason, r->spec_hash,
			   r->deployment, r->service, r->index);
	if (len < 0 || (size_t)len >= sizeof(buf))
		return zl_fail(err, "mock: record of %s too large", id);

	char path[PATH_MAX], tmp[PATH_MAX];
	char suffix[32];
	snprintf(suffix, sizeof(suffix), ".tmp.%d", (int)getpid());
	if (mock_path(path, root, "", id, "", err) < 0 ||
	    mock_path(tmp, root, ".", id, suffix, err) < 0)
		return -1;

	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return zl_fail_errno(err, "mock: create %s", tmp);
	const char *p = buf;
	size_t left = (size_t)len;
	while (left > 0) {
		ssize_t w = write(fd, p, left);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			zl_fail_errno(err, "mock: write %s", tmp);
			close(fd);
			unlink(tmp);
			return -1;
		}
		p += w;
		left -= (size_t)w;
	}
	if (close(fd) < 0) {
		zl_fail_errno(err, "mock: write %s", tmp);
		unlink(tmp);
		return -1;
	}

	if (exclusive) {
		int r_link = link(tmp, path);
		int saved = errno;
		unlink(tmp); /* the record lives on under path, or not at all */
		if (r_link < 0 && saved == EEXIST)
			return zl_fail(err, "mock: container %s already exists", id);
		if (r_link < 0)
			return zl_err_set(err, ZL_ERR_FAIL, saved, "mock: link %s", path);
		return 0;
	}
	if (rename(tmp, path) < 0) {
		zl_fail_errno(err, "mock: rename %s", path);
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* Loads a record that must exist. */
static int mock_load_existing(const char *root, const char *id, struct mock_record *r,
			      struct zl_err *err)
{
	if (mock_load(root, id, r, err) < 0)
		return -1;
	if (r->status == BACKEND_STATUS_MISSING)
		return zl_fail(err, "mock: no such container %s", id);
	return 0;
}

/* A fake but plausible pid, unique within the state root: a counter in
 * <root>/mock/.next-pid, locked so concurrent processes never share one. */
static int mock_next_pid(const char *root, int64_t *pid, struct zl_err *err)
{
	char path[PATH_MAX];
	if (mock_path(path, root, "", ".next-pid", "", err) < 0)
		return -1;
	_cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return zl_fail_errno(err, "mock: open %s", path);
	if (flock(fd, LOCK_EX) < 0)
		return zl_fail_errno(err, "mock: lock %s", path);
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n < 0)
		return zl_fail_errno(err, "mock: read %s", path);
	buf[n] = '\0';
	int64_t next = n > 0 ? strtoll(buf, NULL, 10) : 0;
	if (next < MOCK_FIRST_PID || next >= 4000000)
		next = MOCK_FIRST_PID; /* stay below the kernel's pid_max limit */
	*pid = next;
	int len = snprintf(buf, sizeof(buf), "%" PRId64 "\n", next + 1);
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)len, 0) != len)
		return zl_fail_errno(err, "mock: write %s", path);
	return 0; /* closing fd drops the lock */
}

static int mock_log(const char *root, const char *id, struct zl_err *err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int mock_log(const char *root, const char *id, struct zl_err *err, const char *fmt, ...)
{
	char path[PATH_MAX];
	if (mock_path(path, root, "", id, ".log", err) < 0)
		return -1;
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return zl_fail(err, "mock: format log line");
	if ((size_t)n >= sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	_cleanup_close_ int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return zl_fail_errno(err, "mock: open %s", path);
	if (write(fd, line, (size_t)n) != n)
		return zl_fail_errno(err, "mock: write %s", path);
	return 0;
}

/* running (or created) -> exited; the log says why. */
static int mock_exit(const char *root, const char *id, struct mock_record *r, int exit_code,
		     int exit_signal, struct zl_err *err)
{
	r->status = BACKEND_STATUS_EXITED;
	r->pid = -1;
	r->finished_at = zl_now_ms();
	r->exit_code = exit_code;
	r->exit_signal = exit_signal;
	mock_copy(r->exit_reason, sizeof(r->exit_reason), exit_signal ? "signal" : "exited");
	if (mock_store(root, id, r, false, err) < 0)
		return -1;
	if (exit_signal)
		return mock_log(root, id, err, "mock: %s stopped by signal %d", id, exit_signal);
	return mock_log(root, id, err, "mock: %s exited with code %d", id, exit_code);
}

static int mock_check_signal(const char *id, int signo, struct zl_err *err)
{
	if (signo < 0 || signo > 64)
		return zl_invalid(err, "mock: signal %d for %s out of range", signo, id);
	return 0;
}

/* ---- operations ---- */

static int mock_probe(struct backend *b, struct zl_err *err)
{
	return mock_ensure_dir(b->root, err);
}

static int mock_create(struct backend *b, const struct backend_replica_spec *spec,
		       struct zl_err *err)
{
	const char *id = spec->backend_id;
	if (mock_check_id(id, err) < 0)
		return -1;
	if (mock_delay(err) < 0 || mock_injected("create", id, err) < 0)
		return -1;
	if (mock_ensure_dir(b->root, err) < 0)
		return -1;

	struct mock_record r;
	mock_record_init(&r);
	r.status = BACKEND_STATUS_CREATED;
	mock_copy(r.spec_hash, sizeof(r.spec_hash), spec->spec_hash);
	mock_copy(r.deployment, sizeof(r.deployment), spec->deployment);
	mock_copy(r.service, sizeof(r.service), spec->service ? spec->service->name : NULL);
	r.index = spec->index;
	if (mock_store(b->root, id, &r, true, err) < 0)
		return -1;
	return mock_log(b->root, id, err, "mock: %s created", id);
}

static int mock_start(struct backend *b, const char *id, struct zl_err *err)
{
	if (mock_check_id(id, err) < 0)
		return -1;
	if (mock_delay(err) < 0 || mock_injected("start", id, err) < 0)
		return -1;
	struct mock_record r;
	if (mock_load_existing(b->root, id, &r, err) < 0)
		return -1;
	if (r.status != BACKEND_STATUS_CREATED && r.status != BACKEND_STATUS_EXITED)
		return zl_fail(err, "mock: container %s is %s, expected created or exited", id,
			       backend_status_name(r.status));
	if (mock_next_pid(b->root, &r.pid, err) < 0)
		return -1;
	r.status = BACKEND_STATUS_RUNNING;
	r.started_at = zl_now_ms();
	r.finished_at = 0;
	r.exit_code = -1;
	r.exit_signal = 0;
	r.exit_reason[0] = '\0';
	if (mock_store(b->root, id, &r, false, err) < 0)
		return -1;
	return mock_log(b->root, id, err, "mock: %s started (pid %" PRId64 ")", id, r.pid);
}

/* The fake process obeys any signal at once, so stop never needs the
 * timeout's SIGKILL. Stopping an exited replica is a no-op, like docker stop. */
static int mock_stop(struct backend *b, const char *id, int signo, int64_t timeout_ms,
		     struct zl_err *err)
{
	if (mock_check_id(id, err) < 0 || mock_check_signal(id, signo, err) < 0)
		return -1;
	if (mock_injected("stop", id, err) < 0)
		return -1;
	if (signo == 0)
		signo = SIGTERM;
	struct mock_record r;
	if (mock_load_existing(b->root, id, &r, err) < 0)
		return -1;
	if (r.status == BACKEND_STATUS_EXITED)
		return 0;
	return mock_exit(b->root, id, &r, 128 + signo, signo, err);
}

/* Like a runtime's kill: the replica must be alive; signal 0 only checks. */
static int mock_kill(struct backend *b, const char *id, int signo, struct zl_err *err)
{
	if (mock_check_id(id, err) < 0 || mock_check_signal(id, signo, err) < 0)
		return -1;
	if (mock_injected("kill", id, err) < 0)
		return -1;
	struct mock_record r;
	if (mock_load_existing(b->root, id, &r, err) < 0)
		return -1;
	if (r.status != BACKEND_STATUS_RUNNING && r.status != BACKEND_STATUS_CREATED)
		return zl_fail(err, "mock: container %s is not running (%s)", id,
			       backend_status_name(r.status));
	if (signo == 0)
		return 0;
	return mock_exit(b->root, id, &r, 128 + signo, signo, err);
}

static int mock_remove(struct backend *b, const char *id, struct zl_err *err)
{
	if (mock_check_id(id, err) < 0)
		return -1;
	if (mock_injected("remove", id, err) < 0)
		return -1;
	char path[PATH_MAX], log_path[PATH_MAX];
	if (mock_path(path, b->root, "", id, "", err) < 0 ||
	    mock_path(log_path, b->root, "", id, ".log", err) < 0)
		return -1;
	if (unlink(path) < 0 && errno != ENOENT)
		return zl_fail_errno(err, "mock: remove %s", path);
	if (unlink(log_path) < 0 && errno != ENOENT)
		return zl_fail_errno(err, "mock: remove %s", log_path);
	return 0;
}

static int mock_state(struct backend *b, const char *id, struct backend_state *st,
		      struct zl_err *err)
{
	struct mock_record r;
	memset(st, 0, sizeof(*st));
	st->pid = -1;
	st->pid_start_time = -1;
	st->exit_code = -1;
	if (mock_load(b->root, id, &r, err) < 0)
		return -1;
	st->status = r.status;
	if (r.status == BACKEND_STATUS_MISSING)
		return 0;
	st->pid = r.status == BACKEND_STATUS_RUNNING ? r.pid : -1;
	/* The fake process "starts" when start() runs: its start time is started_at. */
	st->pid_start_time = r.status == BACKEND_STATUS_RUNNING ? r.started_at : -1;
	st->exit_code = r.exit_code;
	st->exit_signal = r.exit_signal;
	snprintf(st->exit_reason, sizeof(st->exit_reason), "%s", r.exit_reason);
	st->started_at = r.started_at;
	st->finished_at = r.finished_at;
	return 0;
}

/* Writes log bytes [from, end) of id's log to out; *from advances. */
static int mock_log_copy(const char *path, off_t *from, size_t tail, FILE *out,
			 struct zl_err *err)
{
	char *data = NULL;
	size_t len = 0;
	struct zl_err read_err = ZL_ERR_INIT;
	if (access(path, F_OK) < 0 && errno == ENOENT)
		return 0; /* nothing logged yet */
	if (zl_read_file(path, &data, &len, &read_err) < 0)
		return zl_fail(err, "mock: %s", read_err.msg);
	size_t start = (size_t)*from <= len ? (size_t)*from : 0;
	if (tail == BACKEND_LOG_TAIL_NONE) {
		start = len; /* only what is written from now on */
	} else if (tail > 0) {
		size_t lines = 0, i = len;
		if (i > start && data[i - 1] == '\n')
			i--;
		while (i > start) {
			if (data[i - 1] == '\n' && ++lines == tail)
				break;
			i--;
		}
		start = i;
	}
	if (len > start && fwrite(data + start, 1, len - start, out) != len - start) {
		free(data);
		return zl_fail_errno(err, "mock: write logs");
	}
	fflush(out);
	*from = (off_t)len;
	free(data);
	return 0;
}

static int mock_logs(struct backend *b, const char *id, const struct backend_log_opts *o,
		     FILE *out, struct zl_err *err)
{
	size_t tail = o->tail;
	bool follow = o->follow;
	struct mock_record r;
	if (mock_load_existing(b->root, id, &r, err) < 0)
		return -1;
	char path[PATH_MAX];
	if (mock_path(path, b->root, "", id, ".log", err) < 0)
		return -1;
	off_t pos = 0;
	if (mock_log_copy(path, &pos, tail, out, err) < 0)
		return -1;
	while (follow) {
		if (mock_load(b->root, id, &r, err) < 0)
			return -1;
		bool alive = r.status == BACKEND_STATUS_RUNNING || r.status == BACKEND_STATUS_CREATED;
		if (r.status != BACKEND_STATUS_MISSING && mock_log_copy(path, &pos, 0, out, err) < 0)
			return -1;
		if (!alive)
			break;
		mock_sleep_ms(MOCK_POLL_MS * 5);
	}
	return 0;
}

static int mock_exec(struct backend *b, const char *id, char *const argv[], int *exit_code,
		     struct zl_err *err)
{
	struct mock_record r;
	if (mock_load_existing(b->root, id, &r, err) < 0)
		return -1;
	if (!argv || !argv[0])
		return zl_invalid(err, "mock: exec in %s: no command", id);
	if (r.status != BACKEND_STATUS_RUNNING)
		return zl_fail(err, "mock: container %s is not running (%s)", id,
			       backend_status_name(r.status));
	*exit_code = 0;
	return 0;
}

static int mock_stats(struct backend *b, const char *id, struct backend_stats *st,
		      struct zl_err *err)
{
	struct mock_record r;
	*st = BACKEND_STATS_UNKNOWN;
	return mock_load_existing(b->root, id, &r, err);
}

/* Polls the record; timeout_ms < 0 waits without limit. */
static int mock_wait(struct backend *b, const char *id, int64_t timeout_ms, struct zl_err *err)
{
	int64_t deadline = timeout_ms < 0 ? -1 : zl_monotonic_ms() + timeout_ms;
	for (;;) {
		struct mock_record r;
		if (mock_load_existing(b->root, id, &r, err) < 0)
			return -1;
		if (r.status == BACKEND_STATUS_EXITED)
			return 0;
		int64_t now = zl_monotonic_ms();
		if (deadline >= 0 && now >= deadline)
			return zl_err_set(err, ZL_ERR_TIMEOUT, 0,
					  "mock: %s still %s after %" PRId64 " ms", id,
					  backend_status_name(r.status), timeout_ms);
		int64_t nap = MOCK_POLL_MS;
		if (deadline >= 0 && deadline - now < nap)
			nap = deadline - now;
		mock_sleep_ms(nap);
	}
}

/* The fake run's log moves to dest_path; the next start writes a new one. */
static int mock_archive_logs(struct backend *b, const char *id, const char *dest_path,
			     struct zl_err *err)
{
	if (mock_check_id(id, err) < 0)
		return -1;
	char path[PATH_MAX];
	if (mock_path(path, b->root, "", id, ".log", err) < 0)
		return -1;
	if (rename(path, dest_path) < 0 && errno != ENOENT)
		return zl_fail_errno(err, "mock: move %s to %s", path, dest_path);
	return 0;
}

/* Fake replicas (<root>/mock/<id>) no recorded replica owns: the mock's
 * leftovers, so doctor's contract is tested without real containers. */
static int mock_leftovers(struct backend *b, const struct backend_replica_ref *refs, size_t n_refs,
			  struct backend_leftovers *out, struct zl_err *err)
{
	if (backend_root_check(b->root, err) < 0)
		return zl_err_prefix(err, "mock backend");
	_cleanup_free_ char *dir = zl_xasprintf("%s/%s", b->root, MOCK_DIR);
	DIR *dh = opendir(dir);
	if (!dh)
		return 0;
	struct dirent *de;
	while ((de = readdir(dh))) {
		struct zl_err ignored = ZL_ERR_INIT;
		if (mock_check_id(de->d_name, &ignored) < 0)
			continue; /* ".next-pid", "<id>.log", temporary files */
		bool recorded = false;
		for (size_t i = 0; i < n_refs && !recorded; i++)
			recorded = refs[i].recorded && refs[i].backend_id &&
				   strcmp(refs[i].backend_id, de->d_name) == 0;
		if (recorded)
			continue;
		_cleanup_free_ char *path = zl_xasprintf("%s/%s", dir, de->d_name);
		backend_leftovers_add(out, "fake", path, de->d_name, "fake replica, no replica row");
	}
	closedir(dh);
	return 0;
}

static int mock_held(struct backend *b, backend_known_fn known, void *ctx, struct backend_held **out,
		     size_t *n, struct zl_err *err)
{
	*out = NULL;
	*n = 0;
	_cleanup_free_ char *dir = zl_xasprintf("%s/%s", b->root, MOCK_DIR);
	DIR *dh = opendir(dir);
	if (!dh)
		return 0;
	size_t cap = 0;
	struct dirent *de;
	while ((de = readdir(dh))) {
		struct zl_err ignored = ZL_ERR_INIT;
		struct mock_record r;
		if (mock_check_id(de->d_name, &ignored) < 0 || known(ctx, de->d_name) ||
		    mock_load(b->root, de->d_name, &r, &ignored) < 0 || !r.deployment[0] || !r.service[0])
			continue;
		zl_grow(out, sizeof(**out), &cap, *n + 1);
		(*out)[(*n)++] = (struct backend_held){
			.backend_id = zl_xstrdup(de->d_name),
			.deployment = zl_xstrdup(r.deployment),
			.service = zl_xstrdup(r.service),
			.index = r.index,
			.spec_hash = r.spec_hash[0] ? zl_xstrdup(r.spec_hash) : NULL,
		};
	}
	closedir(dh);
	(void)err;
	return 0;
}

static int mock_sweep(struct backend *b, const struct backend_leftover *l, struct zl_err *err)
{
	if (backend_root_check(b->root, err) < 0)
		return zl_err_prefix(err, "mock backend");
	if (strcmp(l->kind, "fake") != 0)
		return zl_fail(err, "mock: no sweep for %s", l->kind);
	return mock_remove(b, l->key, err);
}

static void mock_destroy(struct backend *b)
{
	(void)b; /* the mock keeps no context: everything is on disk */
}

static bool mock_needs_images(struct backend *b)
{
	(void)b;
	const char *v = getenv("ZLAPPLY_MOCK_PULL");
	return v && strcmp(v, "1") == 0;
}

const struct backend_ops backend_mock_ops = {
	.name = "mock",
	.needs_images = mock_needs_images,
	.probe = mock_probe,
	.create = mock_create,
	.start = mock_start,
	.stop = mock_stop,
	.kill = mock_kill,
	.remove = mock_remove,
	.state = mock_state,
	.logs = mock_logs,
	.exec = mock_exec,
	.stats = mock_stats,
	.wait = mock_wait,
	.archive_logs = mock_archive_logs,
	.held = mock_held,
	.leftovers = mock_leftovers,
	.sweep = mock_sweep,
	.destroy = mock_destroy,
};

int backend_mock_set_exit(const char *root, const char *id, int exit_code, int exit_signal,
			  struct zl_err *err)
{
	if (mock_check_id(id, err) < 0 || mock_check_signal(id, exit_signal, err) < 0)
		return -1;
	struct mock_record r;
	if (mock_load_existing(root, id, &r, err) < 0)
		return -1;
	if (r.status != BACKEND_STATUS_RUNNING)
		return zl_fail(err, "mock: container %s is %s, expected running", id,
			       backend_status_name(r.status));
	return mock_exit(root, id, &r, exit_code, exit_signal, err);
}
