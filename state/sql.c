/* sql.c: the one way state/ runs SQL: a cache of prepared statements per
 * connection, keyed by statement id (state-internal.h), and the helpers that
 * step them with one error convention ("state: <purpose>: <SQLite message>",
 * return -1). */
#include "state/state-internal.h"

#include <assert.h>
#include <stdarg.h>

static const char *const stmt_purposes[STMT__COUNT] = {
#define STATE_STMT_PURPOSE(id, purpose) [STMT_##id] = purpose,
	STATE_STATEMENTS(STATE_STMT_PURPOSE)
#undef STATE_STMT_PURPOSE
};

static int sql_vfail(struct state_db *db, struct zl_err *err, const char *fmt, va_list ap)
{
	char what[512];
	vsnprintf(what, sizeof(what), fmt, ap);
	return zl_fail(err, "state: %s: %s", what, sqlite3_errmsg(db->sql));
}

int state_sql_fail(struct state_db *db, struct zl_err *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	sql_vfail(db, err, fmt, ap);
	va_end(ap);
	return -1;
}

sqlite3_stmt *state_stmt(struct state_db *db, enum state_stmt_id id, const char *sql,
			 struct zl_err *err)
{
	if (db->stmts[id]) {
		assert(db->stmt_sql[id] == sql && "one statement id, one SQL text");
		return db->stmts[id];
	}
	if (!db->sql) { /* detached (state_detach) and not attached again */
		zl_fail(err, "state: %s: %s is not open", stmt_purposes[id], db->path);
		return NULL;
	}
	if (sqlite3_prepare_v3(db->sql, sql, -1, SQLITE_PREPARE_PERSISTENT, &db->stmts[id],
			       NULL) != SQLITE_OK) {
		state_sql_fail(db, err, "%s", stmt_purposes[id]);
		sqlite3_finalize(db->stmts[id]);
		db->stmts[id] = NULL;
		return NULL;
	}
	db->stmt_sql[id] = sql;
	return db->stmts[id];
}

int state_step_done(struct state_db *db, sqlite3_stmt *st, struct zl_err *err, const char *fmt,
		    ...)
{
	if (sqlite3_step(st) == SQLITE_DONE)
		return 0;
	va_list ap;
	va_start(ap, fmt);
	sql_vfail(db, err, fmt, ap);
	va_end(ap);
	return -1;
}

int state_step_row(struct state_db *db, sqlite3_stmt *st, struct zl_err *err, const char *fmt,
		   ...)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	va_list ap;
	va_start(ap, fmt);
	sql_vfail(db, err, fmt, ap);
	va_end(ap);
	return -1;
}

int state_sql_run(struct state_db *db, enum state_stmt_id id, const char *sql, struct zl_err *err,
		  const char *fmt, ...)
{
	_cleanup_stmt_reset_ sqlite3_stmt *st = state_stmt(db, id, sql, err);
	if (!st)
		return -1;
	if (sqlite3_step(st) == SQLITE_DONE)
		return 0;
	va_list ap;
	va_start(ap, fmt);
	sql_vfail(db, err, fmt, ap);
	va_end(ap);
	return -1;
}

int state_sql_script(struct state_db *db, const char *script, struct zl_err *err,
		     const char *fmt, ...)
{
	const char *next = script;
	sqlite3_stmt *st = NULL;
	int rc = SQLITE_OK;
	while (*next) {
		rc = sqlite3_prepare_v2(db->sql, next, -1, &st, &next);
		if (rc != SQLITE_OK || !st) /* an error, or only blanks and comments left */
			break;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			;
		if (rc != SQLITE_DONE)
			break;
		rc = SQLITE_OK;
		sqlite3_finalize(st);
		st = NULL;
	}
	if (rc == SQLITE_OK)
		return 0;
	/* The message is read before finalize. */
	va_list ap;
	va_start(ap, fmt);
	sql_vfail(db, err, fmt, ap);
	va_end(ap);
	sqlite3_finalize(st);
	return -1;
}

void state_stmts_finalize(struct state_db *db)
{
	for (size_t i = 0; i < STMT__COUNT; i++) {
		sqlite3_finalize(db->stmts[i]);
		db->stmts[i] = NULL;
	}
}
