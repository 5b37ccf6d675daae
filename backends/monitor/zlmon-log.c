/* zlmon-log.c: the container's stdout/stderr into ctr.log: one JSON record
 * per line (monitor_log_encode), UTF-8 characters cut by a read kept for the
 * next, size-based rotation (ctr.log -> ctr.log.1 ... ctr.log.K). A full
 * disk drops output (reported once in zlmon.log) but never blocks the
 * container: its pipes are always drained. */
#include "backends/monitor/zlmon-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#define READ_CHUNK 16384
#define READ_ROUNDS 16

int zlmon_output_open(struct log_writer *w)
{
	w->fd = open(w->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (w->fd < 0)
		return -1;
	struct stat st;
	w->size = fstat(w->fd, &st) == 0 ? st.st_size : 0;
	return 0;
}

/* ctr.log.(K-1) -> ctr.log.K, ..., ctr.log -> ctr.log.1, new ctr.log. */
static int log_rotate(struct log_writer *w)
{
	close(w->fd);
	w->fd = -1;
	if (w->max_files == 0) {
		if (unlink(w->path) < 0 && errno != ENOENT)
			return -1;
	} else {
		for (int i = w->max_files - 1; i >= 1; i--) {
			_cleanup_free_ char *from = zl_xasprintf("%s.%d", w->path, i);
			_cleanup_free_ char *to = zl_xasprintf("%s.%d", w->path, i + 1);
			if (rename(from, to) < 0 && errno != ENOENT)
				return -1;
		}
		_cleanup_free_ char *first = zl_xasprintf("%s.1", w->path);
		if (rename(w->path, first) < 0 && errno != ENOENT)
			return -1;
	}
	return zlmon_output_open(w);
}

static void log_write(struct zlmon *m, const char *line, size_t len)
{
	struct log_writer *w = &m->log;
	if (w->fd >= 0 && w->size > 0 && w->size + (int64_t)len > w->max_bytes &&
	    log_rotate(w) < 0 && !w->failed) {
		w->failed = true;
		zlmon_log(m, "rotate %s: %s", w->path, strerror(errno));
	}
	if (w->fd < 0 && zlmon_output_open(w) < 0) {
		if (!w->failed)
			zlmon_log(m, "open %s: %s; container output is dropped", w->path, strerror(errno));
		w->failed = true;
		return;
	}
	if (zlmon_write_all(w->fd, line, len) < 0) {
		if (!w->failed)
			zlmon_log(m, "write %s: %s; container output is dropped", w->path, strerror(errno));
		w->failed = true;
		return;
	}
	w->failed = false;
	w->size += (int64_t)len;
}

static void log_record(struct zlmon *m, int64_t now, enum monitor_stream kind, const char *text,
		       size_t len)
{
	if (len == 0)
		return;
	if (kind == MONITOR_STDERR) {
		size_t keep = len < sizeof(m->last_stderr) ? len : sizeof(m->last_stderr) - 1;
		memcpy(m->last_stderr, text, keep);
		m->last_stderr[keep] = '\0';
	}
	char *line = monitor_log_encode(now, kind, text, len);
	log_write(m, line, strlen(line));
	free(line);
}

/* One record per line; a trailing piece without newline becomes a record of
 * its own, minus a UTF-8 character the next read may complete. */
void zlmon_stream_chunk(struct zlmon *m, struct stream *s, const char *data, size_t len,
			 bool at_end)
{
	int64_t now = monitor_now_ms();
	size_t start = 0;
	for (size_t i = 0; i < len; i++) {
		if (data[i] == '\n') {
			log_record(m, now, s->kind, data + start, i + 1 - start);
			start = i + 1;
		}
	}
	size_t rest = len - start;
	if (rest == 0)
		return;
	struct zl_buf scratch = { 0 };
	size_t keep = monitor_utf8_sanitize(data + start, rest, at_end, &scratch);
	zl_buf_free(&scratch);
	log_record(m, now, s->kind, data + start, rest - keep);
	memcpy(s->carry, data + len - keep, keep);
	s->carry_len = keep;
}

void zlmon_output_line(struct zlmon *m, enum monitor_stream kind, const char *text)
{
	log_record(m, monitor_now_ms(), kind, text, strlen(text));
}

/* Reads what the pipe has now (at most READ_ROUNDS chunks, so a flood on
 * one pipe cannot starve the other or the exit); at EOF closes it. */
void zlmon_stream_read(struct zlmon *m, struct stream *s)
{
	char buf[READ_CHUNK + sizeof(s->carry)];
	for (int round = 0; round < READ_ROUNDS; round++) {
		memcpy(buf, s->carry, s->carry_len);
		ssize_t n = read(s->fd, buf + s->carry_len, READ_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			if (n < 0)
				zlmon_log(m, "read container %s: %s", monitor_stream_name(s->kind),
				     strerror(errno));
			zlmon_stream_chunk(m, s, buf, s->carry_len, true);
			s->carry_len = 0;
			close(s->fd);
			s->fd = -1;
			return;
		}
		size_t total = s->carry_len + (size_t)n;
		s->carry_len = 0;
		zlmon_stream_chunk(m, s, buf, total, false);
		if ((size_t)n < READ_CHUNK)
			return; /* drained; poll tells us about more */
	}
}
