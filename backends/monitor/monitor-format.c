/* monitor-format.c: what zlmon writes and zlapply reads, defined once:
 * the ctr.log line and exit.json formats, RFC 3339 times with milliseconds,
 * UTF-8 repair, signal names and /proc start times. zlmon links this file
 * too, so nothing here may pull in more than libc and common's error/alloc
 * helpers (zlmon stays small): the records are written with monitor-json.c;
 * reading them back (monitor-read.c) is zlapply's side. */
#include "backends/monitor/monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <time.h>

static int64_t clock_ms(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t monitor_now_ms(void) { return clock_ms(CLOCK_REALTIME); }
int64_t monitor_monotonic_ms(void) { return clock_ms(CLOCK_MONOTONIC); }

void monitor_format_time(int64_t ms, char out[32])
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	char date[24];
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 32, "%s.%03dZ", date, (int)(ms % 1000));
}

int64_t monitor_proc_start_time(int64_t pid)
{
	if (pid <= 0)
		return -1;
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%lld/stat", (long long)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n;
	do
		n = read(fd, buf, sizeof(buf) - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* The command name may hold spaces and parens: fields go on after the
	 * last ')'. Field 3 is the state, field 22 the start time. */
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	char state = 0;
	long long value = -1;
	int field = 2;
	char *save = NULL;
	for (char *tok = strtok_r(p + 1, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		field++;
		if (field == 3)
			state = tok[0];
		if (field == 22) {
			value = strtoll(tok, NULL, 10);
			break;
		}
	}
	if (state == 'Z' || state == 'X')
		return -1; /* it has exited; only the parent's wait is missing */
	return value;
}

void monitor_signal_name(int sig, char out[16])
{
	const char *abbrev = sig > 0 ? sigabbrev_np(sig) : NULL;
	if (abbrev)
		snprintf(out, 16, "SIG%s", abbrev);
	else
		snprintf(out, 16, "SIG%d", sig);
}

int monitor_signal_number(const char *name)
{
	if (!name)
		return 0;
	if (strncmp(name, "SIG", 3) == 0)
		name += 3;
	for (int sig = 1; sig < NSIG; sig++) {
		const char *abbrev = sigabbrev_np(sig);
		if (abbrev && strcmp(abbrev, name) == 0)
			return sig;
	}
	char *end;
	long n = strtol(name, &end, 10);
	return *name && !*end && n > 0 && n < NSIG ? (int)n : 0;
}

/* ---- UTF-8 ---- */
static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */

size_t monitor_utf8_sanitize(const char *text, size_t len, bool at_end, struct zl_buf *out)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0, run = 0; /* run: start of valid bytes not yet copied */
	while (i < len) {
		unsigned char c = s[i];
		if (c >= 0x01 && c < 0x80) {
			i++;
			continue;
		}
		size_t need = 0;
		unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the 2nd byte */
		if (c >= 0xC2 && c <= 0xDF) {
			need = 1;
		} else if (c >= 0xE0 && c <= 0xEF) {
			need = 2;
			if (c == 0xE0)
				lo = 0xA0; /* no overlong forms */
			if (c == 0xED)
				hi = 0x9F; /* no surrogates */
		} else if (c >= 0xF0 && c <= 0xF4) {
			need = 3;
			if (c == 0xF0)
				lo = 0x90;
			if (c == 0xF4)
				hi = 0x8F; /* nothing above U+10FFFF */
		}
		size_t j = 1; /* bytes of this sequence that are valid so far */
		if (need > 0) {
			while (j <= need && i + j < len) {
				unsigned char b = s[i + j];
				bool ok = j == 1 ? b >= lo && b <= hi : b >= 0x80 && b <= 0xBF;
				if (!ok)
					break;
				j++;
			}
			if (j == need + 1) {
				i += j;
				continue;
			}
			if (i + j == len && !at_end) {
				/* Cut by the end of the chunk: maybe complete in the next. */
				zl_buf_append(out, text + run, i - run);
				return len - i;
			}
		}
		/* NUL, a stray byte or a broken sequence: one U+FFFD for its valid prefix. */
		zl_buf_append(out, text + run, i - run);
		zl_buf_append(out, replacement, 3);
		i += j;
		run = i;
	}
	zl_buf_append(out, text + run, len - run);
	return 0;
}

/* ---- log lines ---- */
const char *monitor_stream_name(enum monitor_stream s)
{
	return s == MONITOR_STDERR ? "stderr" : "stdout";
}

char *monitor_log_encode(int64_t time_ms, enum monitor_stream stream, const char *text,
			 size_t len)
{
	struct zl_buf clean = { 0 };
	monitor_utf8_sanitize(text, len, true, &clean);
	char when[32];
	monitor_format_time(time_ms, when);
	struct zl_buf line = { 0 };
	zl_buf_puts(&line, "{");
	monitor_json_key(&line, "time");
	monitor_json_string(&line, when);
	monitor_json_key(&line, "stream");
	monitor_json_string(&line, monitor_stream_name(stream));
	monitor_json_key(&line, "text");
	monitor_json_string(&line, clean.data ? clean.data : "");
	zl_buf_puts(&line, "}\n");
	zl_buf_free(&clean);
	return zl_buf_steal(&line);
}

/* ---- exec failures ---- */
/* How long the line starting at p is, trailing blanks dropped. */
static size_t line_len(const char *p, size_t max)
{
	size_t n = strcspn(p, "\n");
	if (n > max)
		n = max;
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r'))
		n--;
	return n;
}

/* Appends `exec: "NAME": REASON` (REASON starting in lower case, as Go's
 * errors and Docker say it, where strerror() starts with a capital) and
 * returns the code the reason calls for. */
static int exec_message(struct zl_buf *msg, const char *name, size_t name_len,
			const char *reason, size_t reason_len)
{
	struct zl_buf r = { 0 };
	zl_buf_append(&r, reason, reason_len);
	if (r.len && r.data[0] >= 'A' && r.data[0] <= 'Z')
		r.data[0] = (char)(r.data[0] - 'A' + 'a');
	int code = r.data && (strcasestr(r.data, "no such file") || strcasestr(r.data, "not found"))
			   ? 127
			   : 126;
	zl_buf_printf(msg, "exec: \"%.*s\": %s", (int)name_len, name, r.data ? r.data : "failed");
	zl_buf_free(&r);
	return code;
}

/* crun quotes names `NAME`: the name after prefix, up to the closing '`'. */
static const char *backquoted(const char *text, const char *prefix, size_t *name_len)
{
	const char *p = strstr(text, prefix);
	if (!p)
		return NULL;
	p += strlen(prefix);
	const char *end = strchr(p, '`');
	if (!end || memchr(p, '\n', (size_t)(end - p)))
		return NULL;
	*name_len = (size_t)(end - p);
	return p;
}

int monitor_exec_failure(const char *text, struct zl_buf *msg)
{
	const char *name, *p;
	size_t name_len;
	if (!text)
		return 0;
	/* runc, create: exec: "NAME": REASON */
	if ((p = strstr(text, "exec: \""))) {
		name = p + 7;
		const char *q = strstr(name, "\": ");
		if (q && !memchr(name, '\n', (size_t)(q - name)))
			return exec_message(msg, name, (size_t)(q - name), q + 3, line_len(q + 3, 400));
	}
	/* crun: create (not found) and start (the rest) */
	if ((name = backquoted(text, "executable file `", &name_len))) {
		bool in_path = strncmp(name + name_len, "` not found in $PATH", 20) == 0;
		if (!in_path && strncmp(name + name_len, "` not found", 11) != 0)
			return 0;
		const char *reason = in_path ? "executable file not found in $PATH" : "no such file or directory";
		return exec_message(msg, name, name_len, reason, strlen(reason));
	}
	if ((name = backquoted(text, "the path `", &name_len))) {
		if (strncmp(name + name_len, "` exists but it is not executable", 33) != 0 &&
		    strncmp(name + name_len, "` is not a regular file", 23) != 0)
			return 0;
		return exec_message(msg, name, name_len, "permission denied", 17);
	}
	if ((name = backquoted(text, "exec container process (missing dynamic library?) `", &name_len)) ||
	    (name = backquoted(text, "exec container process `", &name_len))) {
		const char *reason = name + name_len + 1;
		if (strncmp(reason, ": ", 2) != 0)
			return 0;
		reason += 2;
		return exec_message(msg, name, name_len, reason, line_len(reason, 400));
	}
	/* runc's init after start, on its stderr: exec NAME: REASON (a line of its own) */
	for (p = text; p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, "exec ", 5) != 0)
			continue;
		size_t len = line_len(p, 4096);
		const char *colon = NULL;
		for (const char *c = p + 5; c + 1 < p + len; c++)
			if (c[0] == ':' && c[1] == ' ')
				colon = c; /* the last one: the reason holds none */
		if (!colon || colon == p + 5)
			continue;
		const char *reason = colon + 2;
		return exec_message(msg, p + 5, (size_t)(colon - p - 5), reason,
				    (size_t)(p + len - reason));
	}
	return 0;
}

/* ---- exit record ---- */
char *monitor_exit_encode(const struct monitor_exit *ex)
{
	char when[32];
	monitor_format_time(ex->finished_at_ms, when);
	struct zl_buf out = { 0 };
	zl_buf_puts(&out, "{");
	monitor_json_key(&out, "exit_code");
	zl_buf_printf(&out, "%d", ex->exit_code);
	monitor_json_key(&out, "signal");
	if (ex->signal > 0) {
		char name[16];
		monitor_signal_name(ex->signal, name);
		monitor_json_string(&out, name);
	} else {
		zl_buf_puts(&out, "null");
	}
	monitor_json_key(&out, "reason");
	monitor_json_string(&out, ex->reason);
	monitor_json_key(&out, "oom_killed");
	zl_buf_puts(&out, ex->oom_killed ? "true" : "false");
	monitor_json_key(&out, "finished_at");
	monitor_json_string(&out, when);
	/* Integers as they are: a double would print 13-digit milliseconds in
	 * e-notation. */
	monitor_json_key(&out, "finished_at_ms");
	zl_buf_printf(&out, "%lld", (long long)ex->finished_at_ms);
	monitor_json_key(&out, "pid");
	zl_buf_printf(&out, "%lld", (long long)ex->pid);
	if (ex->error[0]) {
		monitor_json_key(&out, "error");
		monitor_json_string(&out, ex->error);
	}
	zl_buf_puts(&out, "}\n");
	return zl_buf_steal(&out);
}
