/* monitor-read.c: zlapply's side of zlmon's files: the exit record, the
 * monitor's liveness, and ctr.log with its rotated predecessors (tail and
 * follow). Nothing here spawns a process: observation stays cheap. */
#include "backends/monitor/monitor.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* ---- exit record ---- */
int monitor_exit_read(const char *dir, struct monitor_exit *ex)
{
	memset(ex, 0, sizeof(*ex));
	ex->pid = -1;
	_cleanup_free_ char *path = zl_xasprintf("%s/%s", dir, MONITOR_EXIT_FILE);
	char *data = NULL;
	size_t len = 0;
	if (zl_read_file(path, &data, &len, NULL) < 0) {
		if (errno != ENOENT)
			errno = EINVAL;
		return -1;
	}
	cJSON *obj = cJSON_ParseWithLength(data, len);
	free(data);
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(obj, "exit_code");
	const cJSON *sig = cJSON_GetObjectItemCaseSensitive(obj, "signal");
	const cJSON *reason = cJSON_GetObjectItemCaseSensitive(obj, "reason");
	const cJSON *oom = cJSON_GetObjectItemCaseSensitive(obj, "oom_killed");
	const cJSON *ms = cJSON_GetObjectItemCaseSensitive(obj, "finished_at_ms");
	const cJSON *pid = cJSON_GetObjectItemCaseSensitive(obj, "pid");
	const cJSON *error = cJSON_GetObjectItemCaseSensitive(obj, "error");
	int ret = -1;
	if (cJSON_IsNumber(code) && cJSON_IsString(reason)) {
		ex->exit_code = code->valueint;
		ex->signal = cJSON_IsString(sig) ? monitor_signal_number(sig->valuestring) : 0;
		snprintf(ex->reason, sizeof(ex->reason), "%s", reason->valuestring);
		ex->oom_killed = cJSON_IsTrue(oom);
		/* Numbers beyond an int64 (a record edited or damaged) are
		 * unknown, never cast. */
		bool ms_ok = cJSON_IsNumber(ms) && ms->valuedouble >= 0 && ms->valuedouble < 0x1p63;
		bool pid_ok = cJSON_IsNumber(pid) && pid->valuedouble >= -1 &&
			      pid->valuedouble <= 0x7fffffff;
		ex->finished_at_ms = ms_ok ? (int64_t)ms->valuedouble : 0;
		ex->pid = pid_ok ? (int64_t)pid->valuedouble : -1;
		if (cJSON_IsString(error))
			snprintf(ex->error, sizeof(ex->error), "%s", error->valuestring);
		ret = 0;
	} else {
		errno = EINVAL;
	}
	cJSON_Delete(obj);
	return ret;
}

/* ---- log lines ---- */
int monitor_log_parse(const char *line, size_t len, struct monitor_log_record *rec)
{
	memset(rec, 0, sizeof(*rec));
	cJSON *obj = cJSON_ParseWithLength(line, len);
	if (!obj)
		return -1;
	const cJSON *when = cJSON_GetObjectItemCaseSensitive(obj, "time");
	const cJSON *stream = cJSON_GetObjectItemCaseSensitive(obj, "stream");
	const cJSON *text = cJSON_GetObjectItemCaseSensitive(obj, "text");
	int ret = -1;
	if (cJSON_IsString(when) && cJSON_IsString(stream) && cJSON_IsString(text)) {
		snprintf(rec->time, sizeof(rec->time), "%s", when->valuestring);
		rec->stream = strcmp(stream->valuestring, "stderr") == 0 ? MONITOR_STDERR
									 : MONITOR_STDOUT;
		rec->text = zl_xstrdup(text->valuestring);
		rec->text_len = strlen(rec->text);
		ret = 0;
	}
	cJSON_Delete(obj);
	return ret;
}

void monitor_log_record_clear(struct monitor_log_record *rec)
{
	if (!rec)
		return;
	free(rec->text);
	rec->text = NULL;
	rec->text_len = 0;
}

/* ---- liveness ---- */
int monitor_read_self(const char *dir, int64_t *pid, int64_t *start_time)
{
	_cleanup_free_ char *path = zl_xasprintf("%s/%s", dir, MONITOR_FILE);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	char buf[64];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	long long p, t;
	if (sscanf(buf, "%lld %lld", &p, &t) != 2 || p <= 0)
		return -1;
	*pid = p;
	*start_time = t;
	return 0;
}

bool monitor_alive(const char *dir)
{
	int64_t pid, start_time;
	if (monitor_read_self(dir, &pid, &start_time) < 0)
		return false;
	return monitor_proc_start_time(pid) == start_time;
}

/* ---- logs ---- */
typedef int (*record_fn)(const struct monitor_log_record *rec, void *ctx);

/* Open descriptors of ctr.log.N ... ctr.log.1, ctr.log: oldest first, so a
 * rotation while we read cannot pull a file away from under us. */
struct log_files {
	int fds[MONITOR_MAX_LOG_FILES + 1];
	size_t n;
};

static void log_files_close(struct log_files *lf)
{
	for (size_t i = 0; i < lf->n; i++)
		if (lf->fds[i] >= 0)
			close(lf->fds[i]);
	lf->n = 0;
}

static char *log_path(const char *dir, size_t index)
{
	if (index == 0)
		return zl_xasprintf("%s/%s", dir, MONITOR_LOG_FILE);
	return zl_xasprintf("%s/%s.%zu", dir, MONITOR_LOG_FILE, index);
}

/* Opens the newest file first, then older ones; an inode seen twice (a
 * rotation happened meanwhile) is skipped. */
static void log_files_open(const char *dir, struct log_files *lf)
{
	int newest_first[MONITOR_MAX_LOG_FILES + 1];
	ino_t inodes[MONITOR_MAX_LOG_FILES + 1];
	size_t n = 0;
	for (size_t i = 0; i <= MONITOR_MAX_LOG_FILES; i++) {
		_cleanup_free_ char *path = log_path(dir, i);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			if (i == 0)
				continue; /* no current file (yet): older ones may exist */
			break;
		}
		struct stat st;
		bool dup = fstat(fd, &st) < 0;
		for (size_t k = 0; k < n && !dup; k++)
			dup = inodes[k] == st.st_ino;
		if (dup) {
			close(fd);
			continue;
		}
		inodes[n] = st.st_ino;
		newest_first[n++] = fd;
	}
	lf->n = n;
	for (size_t i = 0; i < n; i++)
		lf->fds[i] = newest_first[n - 1 - i];
}

/* Finds where the last `need` complete lines of fd start. Returns how many
 * complete lines it found (<= need); *offset is where they start. */
static size_t scan_back(int fd, size_t need, off_t *offset)
{
	struct stat st;
	*offset = 0;
	if (fstat(fd, &st) < 0 || st.st_size == 0)
		return 0;
	char buf[65536];
	off_t pos = st.st_size;
	bool seen_end = false; /* passed the '\n' that ends the last complete line */
	size_t newlines = 0;
	while (pos > 0) {
		size_t chunk = pos > (off_t)sizeof(buf) ? sizeof(buf) : (size_t)pos;
		pos -= (off_t)chunk;
		ssize_t got = pread(fd, buf, chunk, pos);
		if (got != (ssize_t)chunk)
			return newlines; /* shrank or failed: take what we have */
		for (size_t k = chunk; k-- > 0;) {
			if (buf[k] != '\n')
				continue;
			if (!seen_end) {
				seen_end = true; /* bytes after it are a line still being written */
				continue;
			}
			if (++newlines == need) {
				*offset = pos + (off_t)k + 1;
				return newlines;
			}
		}
	}
	return seen_end ? newlines + 1 : 0;
}

/* Where fd's last complete line ends (just after its '\n'); 0 when it has
 * none. A line still being written after it is read by the follower. */
static off_t complete_end(int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return 0;
	char buf[65536];
	off_t pos = st.st_size;
	while (pos > 0) {
		size_t chunk = pos > (off_t)sizeof(buf) ? sizeof(buf) : (size_t)pos;
		pos -= (off_t)chunk;
		ssize_t got = pread(fd, buf, chunk, pos);
		if (got != (ssize_t)chunk)
			return 0;
		for (size_t k = chunk; k-- > 0;)
			if (buf[k] == '\n')
				return pos + (off_t)k + 1;
	}
	return 0;
}

/* Splits buf into lines, hands complete ones to fn, keeps the rest. */
static int feed_lines(struct zl_buf *pending, record_fn fn, void *ctx)
{
	size_t start = 0;
	int ret = 0;
	for (size_t i = 0; i < pending->len && ret == 0; i++) {
		if (pending->data[i] != '\n')
			continue;
		struct monitor_log_record rec;
		if (monitor_log_parse(pending->data + start, i - start, &rec) == 0) {
			ret = fn(&rec, ctx);
			monitor_log_record_clear(&rec);
		}
		start = i + 1;
	}
	if (start > 0) {
		memmove(pending->data, pending->data + start, pending->len - start);
		pending->len -= start;
		pending->data[pending->len] = '\0';
	}
	return ret;
}

/* Reads fd to its current end, feeding lines. */
static int drain_fd(int fd, struct zl_buf *pending, record_fn fn, void *ctx, struct zl_err *err)
{
	char buf[65536];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return zl_fail_errno(err, "read container log");
		if (n == 0)
			return 0;
		zl_buf_append(pending, buf, (size_t)n);
		if (feed_lines(pending, fn, ctx) < 0)
			return zl_fail(err, "write container log");
	}
}

static bool same_file(int fd, const char *path)
{
	struct stat a, b;
	if (fstat(fd, &a) < 0 || stat(path, &b) < 0)
		return true; /* no new file yet: keep the one we have */
	return a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

static bool file_exists(const char *dir, const char *name)
{
	_cleanup_free_ char *path = zl_xasprintf("%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

/* Follows ctr.log (fd, or none yet) until the exit record appears or the
 * monitor is gone; reopens it after each rotation. Takes fd. */
static int follow(const char *dir, int fd, struct zl_buf *pending, record_fn fn, void *ctx,
		  FILE *flush, struct zl_err *err)
{
	_cleanup_free_ char *path = log_path(dir, 0);
	int ret = 0;
	bool last_round = false;
	for (;;) {
		if (fd >= 0 && (ret = drain_fd(fd, pending, fn, ctx, err)) < 0)
			break;
		if (flush)
			fflush(flush);
		if (fd >= 0 && !same_file(fd, path)) {
			/* Rotated: what the old file still held was read above. */
			close(fd);
			fd = -1;
			pending->len = 0;
		}
		if (fd < 0) {
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd >= 0)
				continue;
		}
		if (last_round)
			break;
		/* exit.json comes after zlmon's last write: one more pass reads all. */
		last_round = file_exists(dir, MONITOR_EXIT_FILE) || !monitor_alive(dir);
		if (!last_round) {
			struct timespec ts = { 0, 100 * 1000000 };
			nanosleep(&ts, NULL);
		}
	}
	if (fd >= 0)
		close(fd);
	return ret;
}

static int walk_logs(const char *dir, size_t tail, bool follow_mode, record_fn fn, void *ctx,
		     FILE *flush, struct zl_err *err)
{
	struct log_files lf = { .n = 0 };
	log_files_open(dir, &lf);
	size_t first = 0;
	off_t offset = 0;
	bool none = tail == MONITOR_LOG_TAIL_NONE;
	if (none) {
		first = lf.n; /* nothing written so far */
	} else if (tail > 0) {
		size_t need = tail;
		first = lf.n;
		for (size_t i = lf.n; i-- > 0;) {
			off_t off;
			size_t got = scan_back(lf.fds[i], need, &off);
			first = i;
			offset = off;
			if (got >= need)
				break;
			need -= got;
		}
	}
	struct zl_buf pending = { 0 };
	int ret = 0;
	for (size_t i = first; i < lf.n && ret == 0; i++) {
		if (lseek(lf.fds[i], i == first ? offset : 0, SEEK_SET) < 0) {
			ret = zl_fail_errno(err, "seek container log");
			break;
		}
		ret = drain_fd(lf.fds[i], &pending, fn, ctx, err);
		if (i + 1 < lf.n)
			pending.len = 0; /* an older file never ends mid-line */
	}
	if (ret == 0 && follow_mode) {
		/* Hand over ctr.log's descriptor, if the newest file is ctr.log. */
		_cleanup_free_ char *path = log_path(dir, 0);
		int fd = -1;
		if (lf.n > 0 && same_file(lf.fds[lf.n - 1], path) && access(path, F_OK) == 0) {
			fd = lf.fds[lf.n - 1];
			lf.fds[lf.n - 1] = -1;
			/* --tail 0: from the end of what is there now. */
			if (none && lseek(fd, complete_end(fd), SEEK_SET) < 0)
				ret = zl_fail_errno(err, "seek container log");
		} else {
			pending.len = 0;
		}
		if (ret == 0)
			ret = follow(dir, fd, &pending, fn, ctx, flush, err);
		else if (fd >= 0)
			close(fd);
	}
	zl_buf_free(&pending);
	log_files_close(&lf);
	return ret;
}

/* ---- tail into records ---- */
struct collect {
	struct monitor_log_record *recs;
	size_t count, cap;
};

static int collect_record(const struct monitor_log_record *rec, void *ctx)
{
	struct collect *c = ctx;
	zl_grow(&c->recs, sizeof(*c->recs), &c->cap, c->count + 1);
	struct monitor_log_record *dst = &c->recs[c->count++];
	*dst = *rec;
	dst->text = zl_xstrdup(rec->text);
	return 0;
}

void monitor_log_records_free(struct monitor_log_record *recs, size_t count)
{
	for (size_t i = 0; i < count; i++)
		monitor_log_record_clear(&recs[i]);
	free(recs);
}

int monitor_logs_tail(const char *dir, size_t tail, struct monitor_log_record **recs,
		      size_t *count, struct zl_err *err)
{
	struct collect c = { NULL, 0, 0 };
	if (walk_logs(dir, tail, false, collect_record, &c, NULL, err) < 0) {
		monitor_log_records_free(c.recs, c.count);
		*recs = NULL;
		*count = 0;
		return -1;
	}
	*recs = c.recs;
	*count = c.count;
	return 0;
}

/* ---- printing ---- */
struct printer {
	FILE *out;
	bool timestamps;
	bool mid_line[2]; /* per stream: the last text did not end a line */
};

static int print_record(const struct monitor_log_record *rec, void *ctx)
{
	struct printer *p = ctx;
	if (p->timestamps && !p->mid_line[rec->stream])
		fprintf(p->out, "%s ", rec->time);
	fwrite(rec->text, 1, rec->text_len, p->out);
	p->mid_line[rec->stream] = rec->text_len > 0 && rec->text[rec->text_len - 1] != '\n';
	return ferror(p->out) ? -1 : 0;
}

int monitor_logs_print(const char *dir, size_t tail, bool follow_mode, bool timestamps, FILE *out,
		       struct zl_err *err)
{
	struct printer p = { out, timestamps, { false, false } };
	if (walk_logs(dir, tail, follow_mode, print_record, &p, out, err) < 0)
		return -1;
	if (fflush(out) != 0 || ferror(out))
		return zl_fail_errno(err, "write logs");
	return 0;
}
