/* events.c: what happened, recorded and read back (`zlapply events`).
 *
 * Recording: the kinds whose facts go beyond a sentence (an exit's code,
 * signal and reason and the back-off before the next start; a restart and
 * the back-off it waited; a pull's digest) get a JSON object of those facts
 * beside the message (state/events.c keeps both, bounded).
 *
 * Reading: a read-only view of a root's events that tolerates a root with
 * no database yet (nothing recorded: no events, and `events -f` keeps
 * looking), and --since: a duration back from now or an RFC 3339 time. */
#include "reconcile-internal.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- recording ---- */

int events_record(struct state_db *db, int64_t now_ms, const char *deployment,
		  const char *service, int index, const char *kind, const char *message,
		  cJSON *data, struct zl_err *err)
{
	_cleanup_free_ char *text = data ? cJSON_PrintUnformatted(data) : NULL;
	cJSON_Delete(data);
	return state_event_add_data(db, now_ms, deployment, service, index, kind, message, text,
				    err);
}

/* "SIGKILL" or "signal 42". */
static void signal_text(int signo, char *out, size_t size)
{
	const char *name = spec_signal_name(signo);
	if (name)
		snprintf(out, size, "%s", name);
	else
		snprintf(out, size, "signal %d", signo);
}

static void add_duration(struct zl_buf *b, int64_t ms)
{
	if (ms % 1000 == 0)
		zl_buf_printf(b, "%llds", (long long)(ms / 1000));
	else
		zl_buf_printf(b, "%lldms", (long long)ms);
}

int events_record_exit(struct state_db *db, int64_t now_ms, const struct state_replica *r,
		       struct zl_err *err)
{
	struct zl_buf msg = { 0 };
	char sig[32] = "";
	bool oom = r->exit_reason && strcmp(r->exit_reason, "oom_killed") == 0;
	if (r->exit_signal) {
		signal_text(r->exit_signal, sig, sizeof(sig));
		zl_buf_printf(&msg, "killed by %s", sig);
	} else {
		zl_buf_printf(&msg, "exited with code %d", r->exit_code);
	}
	if (oom)
		zl_buf_printf(&msg, " (out of memory)");
	else if (r->exit_reason && strcmp(r->exit_reason, "exited") != 0 &&
		 strcmp(r->exit_reason, "signal") != 0)
		zl_buf_printf(&msg, " (%s)", r->exit_reason);
	int64_t at = r->finished_at > 0 ? r->finished_at : now_ms;
	int64_t backoff = r->backoff_until > at ? r->backoff_until - at : 0;
	if (backoff > 0) {
		zl_buf_printf(&msg, "; next start in ");
		add_duration(&msg, backoff);
		zl_buf_printf(&msg, " (back-off after %d restart%s)", r->restarts,
			      r->restarts == 1 ? "" : "s");
	}
	cJSON *data = cJSON_CreateObject();
	cJSON_AddNumberToObject(data, "exit_code", r->exit_code);
	cJSON_AddNumberToObject(data, "signal", r->exit_signal);
	if (sig[0])
		cJSON_AddStringToObject(data, "signal_name", sig);
	if (r->exit_reason)
		cJSON_AddStringToObject(data, "reason", r->exit_reason);
	cJSON_AddNumberToObject(data, "restarts", r->restarts);
	cJSON_AddNumberToObject(data, "backoff_ms", (double)backoff);
	int ret = events_record(db, now_ms, r->deployment, r->service, r->index, "exited",
				msg.data, data, err);
	zl_buf_free(&msg);
	return ret;
}

struct cJSON *events_create_data(const struct backend_replica_spec *rs, const char *backend_name,
				 char **message)
{
	const char *backend = rs->backend ? rs->backend : backend_name;
	const char *image = rs->service->image ? rs->service->image : "-";
	*message = zl_xasprintf("created %s from %s on backend %s%s%s", rs->backend_id, image,
				backend, rs->ip ? " at " : "", rs->ip ? rs->ip : "");
	cJSON *data = cJSON_CreateObject();
	cJSON_AddStringToObject(data, "backend", backend);
	cJSON_AddStringToObject(data, "backend_id", rs->backend_id);
	cJSON_AddStringToObject(data, "image", image);
	if (rs->image_digest)
		cJSON_AddStringToObject(data, "image_digest", rs->image_digest);
	if (rs->spec_hash)
		cJSON_AddStringToObject(data, "spec_hash", rs->spec_hash);
	if (rs->ip)
		cJSON_AddStringToObject(data, "ip", rs->ip);
	return data;
}

char *events_restart_data(const struct state_replica *before, int restarts, const char *reason,
			  char **message)
{
	/* The back-off the restart waited: from the exit to the deadline. */
	int64_t backoff = before->backoff_until > 0 && before->finished_at > 0 &&
					  before->backoff_until > before->finished_at
				  ? before->backoff_until - before->finished_at
				  : 0;
	struct zl_buf msg = { 0 };
	zl_buf_printf(&msg, "%s: restart %d", reason, restarts);
	if (backoff > 0) {
		zl_buf_printf(&msg, " after ");
		add_duration(&msg, backoff);
		zl_buf_printf(&msg, " back-off");
	}
	*message = zl_buf_steal(&msg);
	cJSON *data = cJSON_CreateObject();
	cJSON_AddStringToObject(data, "reason", reason);
	cJSON_AddNumberToObject(data, "restarts", restarts);
	cJSON_AddNumberToObject(data, "backoff_ms", (double)backoff);
	char *text = cJSON_PrintUnformatted(data);
	cJSON_Delete(data);
	return text;
}

/* ---- --since ---- */

/* n digits at *p into *v; false when they are not all digits. */
static bool digits(const char **p, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++, (*p)++) {
		if (!isdigit((unsigned char)**p))
			return false;
		*v = *v * 10 + (**p - '0');
	}
	return true;
}

static bool expect(const char **p, const char *set)
{
	if (!**p || !strchr(set, **p))
		return false;
	(*p)++;
	return true;
}

/* RFC 3339 date-time: 2026-12-05T10:00:00Z, with optional fractional
 * seconds and a Z or +hh:mm / -hh:mm offset ('T' may be 't' or a space). */
static bool parse_rfc3339(const char *s, int64_t *ms)
{
	const char *p = s;
	int year, mon, day, hour, min, sec, frac_ms = 0;
	if (!digits(&p, 4, &year) || !expect(&p, "-") || !digits(&p, 2, &mon) || !expect(&p, "-") ||
	    !digits(&p, 2, &day) || !expect(&p, "Tt ") || !digits(&p, 2, &hour) ||
	    !expect(&p, ":") || !digits(&p, 2, &min) || !expect(&p, ":") || !digits(&p, 2, &sec))
		return false;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return false;
		for (int scale = 100; isdigit((unsigned char)*p); p++, scale /= 10)
			frac_ms += (*p - '0') * scale;
	}
	int offset_s = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1, oh, om;
		if (!digits(&p, 2, &oh) || !expect(&p, ":") || !digits(&p, 2, &om) || oh > 23 ||
		    om > 59)
			return false;
		offset_s = sign * (oh * 3600 + om * 60);
	} else {
		return false;
	}
	if (*p || mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60)
		return false;
	struct tm tm = { .tm_year = year - 1900, .tm_mon = mon - 1, .tm_mday = day,
			 .tm_hour = hour, .tm_min = min, .tm_sec = sec };
	time_t t = timegm(&tm);
	/* timegm normalises 31 February into March: a date that moved was no date. */
	if (t == (time_t)-1 || tm.tm_mday != day || tm.tm_mon != mon - 1)
		return false;
	*ms = ((int64_t)t - offset_s) * 1000 + frac_ms;
	return true;
}

int reconcile_parse_since(const char *text, int64_t now_ms, int64_t *since_ms, struct zl_err *err)
{
	int64_t v;
	if (text && parse_rfc3339(text, &v)) {
		*since_ms = v;
		return 0;
	}
	struct zl_err derr = ZL_ERR_INIT;
	if (text && *text && isdigit((unsigned char)*text) && !strchr(text, '-') &&
	    spec_parse_duration(text, &v, &derr) == 0) {
		*since_ms = v >= now_ms ? 0 : now_ms - v;
		return 0;
	}
	return zl_invalid(err, "--since: expected a duration such as \"10m\" or \"1h30m\" or an "
			       "RFC 3339 time such as \"2026-12-05T10:00:00Z\", got \"%s\"",
			  text ? text : "");
}

/* ---- reading ---- */

struct reconcile_events {
	char *root;
	struct state_db *db; /* NULL until the root has a database */
};

/* Opens the database when it exists; a root without one yet is no error. */
static int events_db(struct reconcile_events *ev, struct zl_err *err)
{
	if (ev->db)
		return 0;
	return root_open_read(ev->root, &ev->db, err) < 0 ? -1 : 0;
}

int reconcile_events_open(const char *root, struct reconcile_events **out, struct zl_err *err)
{
	struct reconcile_events *ev = zl_xcalloc(1, sizeof(*ev));
	ev->root = zl_xstrdup(root);
	if (events_db(ev, err) < 0) {
		reconcile_events_close(ev);
		*out = NULL;
		return -1;
	}
	*out = ev;
	return 0;
}

int reconcile_events_read(struct reconcile_events *ev, const struct state_events_query *q,
			  struct state_events *out, struct zl_err *err)
{
	*out = (struct state_events){ 0 };
	if (events_db(ev, err) < 0)
		return -1;
	if (!ev->db)
		return 0;
	return state_events_query(ev->db, q, out, err);
}

void reconcile_events_close(struct reconcile_events *ev)
{
	if (!ev)
		return;
	state_close(ev->db);
	free(ev->root);
	free(ev);
}

void reconcile_events_free(struct state_events *events)
{
	state_events_free(events);
}
