/* events.c: the events table, what happened to which replica and when
 * (like `kubectl get events`). Append-only; read back as the last N, or
 * after an id and since a time (`zlapply events [-f] [--since D]`).
 *
 * Retention: every add drops the rows older than the newest
 * STATE_EVENTS_KEPT. Ids grow with insertion (AUTOINCREMENT), so that is
 * one range delete on the primary key, as cheap with nothing to drop as a
 * lookup; the table never holds more than STATE_EVENTS_KEPT rows. */
#include "state/state-internal.h"

#include <string.h>

#define EVENT_COLUMNS "id, time, deployment, service, idx, kind, message, data"

static const char sql_add[] =
	"INSERT INTO events (time, deployment, service, idx, kind, message, data) "
	"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char sql_prune[] = "DELETE FROM events WHERE id <= ?1";
/* The newest `limit` rows (a negative LIMIT means no limit), put back into
 * chronological order. Ids grow with insertion, so they order by time of
 * recording even when the wall clock steps back. */
static const char sql_load_all[] =
	"SELECT * FROM (SELECT " EVENT_COLUMNS " FROM events ORDER BY id DESC LIMIT ?1) "
	"ORDER BY id";
static const char sql_load_deployment[] =
	"SELECT * FROM (SELECT " EVENT_COLUMNS " FROM events WHERE deployment = ?2 "
	"ORDER BY id DESC LIMIT ?1) ORDER BY id";
static const char sql_query[] =
	"SELECT " EVENT_COLUMNS " FROM events WHERE id > ?1 AND time >= ?2 "
	"AND (?3 IS NULL OR deployment = ?3) ORDER BY id LIMIT ?4";

void state_events_free(struct state_events *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->count; i++) {
		free(e->items[i].deployment);
		free(e->items[i].service);
		free(e->items[i].kind);
		free(e->items[i].message);
		free(e->items[i].data);
	}
	free(e->items);
	e->items = NULL;
	e->count = e->cap = 0;
}

static int prune(struct state_db *db, int64_t newest, struct zl_err *err)
{
	if (newest <= STATE_EVENTS_KEPT)
		return 0;
	_cleanup_stmt_reset_ sqlite3_stmt *st = state_stmt(db, STMT_EVENTS_PRUNE, sql_prune, err);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, newest - STATE_EVENTS_KEPT);
	return state_step_done(db, st, err, "drop events before %lld",
			       (long long)(newest - STATE_EVENTS_KEPT));
}

int state_event_add_data(struct state_db *db, int64_t now_ms, const char *deployment,
			 const char *service, int index, const char *kind, const char *message,
			 const char *data, struct zl_err *err)
{
	if (!kind)
		return zl_invalid(err, "state: event needs a kind");
	{
		_cleanup_stmt_reset_ sqlite3_stmt *st = state_stmt(db, STMT_EVENT_ADD, sql_add, err);
		if (!st)
			return -1;
		sqlite3_bind_int64(st, 1, now_ms);
		state_bind_text(st, 2, deployment);
		state_bind_text(st, 3, service);
		sqlite3_bind_int(st, 4, index);
		state_bind_text(st, 5, kind);
		state_bind_text(st, 6, message);
		state_bind_text(st, 7, data);
		if (state_step_done(db, st, err, "record event %s", kind) < 0)
			return -1;
	}
	return prune(db, sqlite3_last_insert_rowid(db->sql), err);
}

int state_event_add(struct state_db *db, int64_t now_ms, const char *deployment,
		    const char *service, int index, const char *kind, const char *message,
		    struct zl_err *err)
{
	return state_event_add_data(db, now_ms, deployment, service, index, kind, message, NULL,
				    err);
}

/* Reads the rows of st (EVENT_COLUMNS) into out. */
static int read_rows(struct state_db *db, sqlite3_stmt *st, struct state_events *out,
		     struct zl_err *err)
{
	int rc;
	while ((rc = state_step_row(db, st, err, "load events")) > 0) {
		zl_grow(&out->items, sizeof(out->items[0]), &out->cap, out->count + 1);
		struct state_event *e = &out->items[out->count++];
		e->id = sqlite3_column_int64(st, 0);
		e->time = sqlite3_column_int64(st, 1);
		e->deployment = state_column_strdup(st, 2);
		e->service = state_column_strdup(st, 3);
		e->index = sqlite3_column_int(st, 4);
		e->kind = state_column_strdup(st, 5);
		e->message = state_column_strdup(st, 6);
		e->data = state_column_strdup(st, 7);
	}
	if (rc < 0) {
		state_events_free(out);
		return -1;
	}
	return 0;
}

static sqlite3_int64 sql_limit(size_t limit)
{
	return limit == 0 || limit > INT64_MAX ? -1 : (sqlite3_int64)limit;
}

int state_events_load(struct state_db *db, const char *deployment, size_t limit,
		      struct state_events *out, struct zl_err *err)
{
	*out = (struct state_events){ 0 };
	_cleanup_stmt_reset_ sqlite3_stmt *st =
		deployment ? state_stmt(db, STMT_EVENTS_LOAD_DEPLOYMENT, sql_load_deployment, err)
			   : state_stmt(db, STMT_EVENTS_LOAD_ALL, sql_load_all, err);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, sql_limit(limit));
	if (deployment)
		state_bind_text(st, 2, deployment);
	return read_rows(db, st, out, err);
}

int state_events_query(struct state_db *db, const struct state_events_query *q,
		       struct state_events *out, struct zl_err *err)
{
	*out = (struct state_events){ 0 };
	_cleanup_stmt_reset_ sqlite3_stmt *st = state_stmt(db, STMT_EVENTS_QUERY, sql_query, err);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, q->after_id);
	sqlite3_bind_int64(st, 2, q->since_ms);
	state_bind_text(st, 3, q->deployment);
	sqlite3_bind_int64(st, 4, sql_limit(q->limit));
	return read_rows(db, st, out, err);
}
