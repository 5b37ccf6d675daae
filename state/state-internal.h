/* state-internal.h: what the files of state/ share and nobody else sees:
 * the connection struct, the one way state/ runs SQL (sql.c) and small
 * helpers for binding nullable text and reading columns into owned strings.
 *
 * Every statement has an id below. It is prepared on first use
 * (SQLITE_PREPARE_PERSISTENT), kept in the connection's cache and reused
 * until state_close() finalizes it, so loading thousands of rows or
 * upserting them in a loop costs no parsing. A use of a statement:
 *
 *	_cleanup_stmt_reset_ sqlite3_stmt *st = state_stmt(db, STMT_X, sql_x, err);
 *	if (!st)
 *		return -1;
 *	state_bind_text(st, 1, name);                      (sqlite3_bind_* for numbers)
 *	return state_step_done(db, st, err, "save %s", name);  (or a state_step_row loop)
 *
 * One error convention: helpers return 0 (or a row flag) / -1 and set err to
 * "state: <purpose>: <SQLite message>". The purpose of a failed prepare is
 * the statement's (the table below); a failed step names what the caller was
 * doing (with the row it was about). */
#ifndef ZL_STATE_INTERNAL_H
#define ZL_STATE_INTERNAL_H

#include <sqlite3.h>

#include "state/state.h"

/* X(id, purpose): every statement state/ runs. */
#define STATE_STATEMENTS(X)                                                                    \
	/* db.c: connection set-up, schema version, transactions */                            \
	X(FOREIGN_KEYS, "enable foreign keys")                                                 \
	X(JOURNAL_MODE_WAL, "enable WAL")                                                      \
	X(SYNCHRONOUS, "set synchronous")                                                      \
	X(USER_VERSION, "read schema version")                                                 \
	X(SET_USER_VERSION, "migrate")                                                         \
	X(BEGIN, "begin transaction")                                                          \
	X(COMMIT, "commit")                                                                    \
	X(ROLLBACK, "rollback")                                                                \
	/* replicas.c */                                                                       \
	X(REPLICAS_LOAD_ALL, "load replicas")                                                  \
	X(REPLICAS_LOAD_DEPLOYMENT, "load replicas")                                           \
	X(REPLICAS_LOAD_SERVICE, "load replicas")                                              \
	X(REPLICA_UPSERT, "save replica")                                                      \
	X(REPLICA_DELETE, "delete replica")                                                    \
	X(REPLICA_ID_OWNER, "look up replica id")                                              \
	X(REPLICA_IDS, "list replica ids")                                                     \
	/* deployments.c */                                                                    \
	X(DEPLOYMENT_UPSERT, "save deployment")                                                \
	X(DEPLOYMENT_DELETE, "delete deployment")                                              \
	X(DEPLOYMENT_SOURCE, "load deployment")                                                \
	X(DEPLOYMENTS_LIST, "list deployments")                                                \
	X(SERVICES_LOAD_ALL, "load services")                                                  \
	X(SERVICES_LOAD_DEPLOYMENT, "load services")                                           \
	X(SERVICE_UPSERT, "save service")                                                      \
	X(SERVICE_DELETE, "delete service")                                                    \
	/* journal.c */                                                                        \
	X(JOURNAL_BEGIN, "journal")                                                            \
	X(JOURNAL_FINISH, "finish journal entry")                                              \
	X(JOURNAL_PENDING_ALL, "load pending journal entries")                                 \
	X(JOURNAL_PENDING_DEPLOYMENT, "load pending journal entries")                          \
	/* events.c */                                                                         \
	X(EVENT_ADD, "record event")                                                           \
	X(EVENTS_LOAD_ALL, "load events")                                                      \
	X(EVENTS_LOAD_DEPLOYMENT, "load events")                                               \
	X(EVENTS_QUERY, "load events")                                                         \
	X(EVENTS_PRUNE, "drop old events")                                                     \
	/* images.c */                                                                         \
	X(IMAGE_GET, "load image")                                                             \
	X(IMAGE_UPSERT, "record image")                                                        \
	X(IMAGE_TOUCH, "mark image used")                                                      \
	X(IMAGE_DELETE, "delete image")                                                        \
	X(IMAGES_LOAD, "load images")                                                          \
	/* leases.c */                                                                         \
	X(LEASE_GET, "load lease")                                                             \
	X(LEASES_IPS, "load leases")                                                           \
	X(LEASE_PUT, "lease address")                                                          \
	X(LEASE_DELETE, "release lease")                                                       \
	X(LEASES_RECLAIM, "reclaim leases")                                                    \
	/* meta.c */                                                                           \
	X(META_GET, "load a root fact")                                                        \
	X(META_PUT, "save a root fact")                                                        \
	/* runs.c */                                                                           \
	X(RUN_NEXT_NO, "number a run")                                                         \
	X(RUN_INSERT, "record run")                                                            \
	X(RUNS_PRUNE_LIST, "list old runs")                                                    \
	X(RUNS_PRUNE_DELETE, "drop old runs")                                                  \
	X(RUN_FINISH, "finish run")                                                            \
	X(RUN_SET_LOG, "record run log")                                                       \
	X(RUN_LATEST, "load run")                                                              \
	X(RUNS_LOAD_ALL, "load runs")                                                          \
	X(RUNS_LOAD_DEPLOYMENT, "load runs")                                                   \
	X(SCHEDULES_LOAD_ALL, "load schedules")                                                \
	X(SCHEDULES_LOAD_DEPLOYMENT, "load schedules")                                         \
	X(SCHEDULE_PUT, "save schedule")                                                       \
	X(SCHEDULE_DELETE, "delete schedule")                                                 \
	/* revisions.c */                                                                      \
	X(REVISION_INSERT, "record revision")                                                  \
	X(REVISIONS_PRUNE, "drop old revisions")                                               \
	X(REVISION_SET_STATUS, "mark revision")                                                \
	X(REVISION_GET, "load revision")                                                       \
	X(REVISION_LATEST, "load revision")                                                    \
	X(REVISIONS_LOAD, "load revisions")                                                    \
	X(REVISIONS_LOAD_BRIEF, "load revisions without their specs")

enum state_stmt_id {
#define STATE_STMT_ENUM(id, purpose) STMT_##id,
	STATE_STATEMENTS(STATE_STMT_ENUM)
#undef STATE_STMT_ENUM
	STMT__COUNT,
};

struct state_db {
	sqlite3 *sql;
	char *path; /* <root>/state.db, for messages */
	bool read_only;
	int schema_version;
	sqlite3_stmt *stmts[STMT__COUNT]; /* the statement cache, by id */
	const char *stmt_sql[STMT__COUNT]; /* the text each was prepared from */
};

/* ---- sql.c: the one way to run SQL ---- */

/* The cached statement id, prepared from sql on its first use on this
 * connection; NULL with err "state: <purpose of id>: <SQLite message>".
 * An id always goes with the same sql (the named constant next to its user).
 * The caller resets it after use (_cleanup_stmt_reset_). */
sqlite3_stmt *state_stmt(struct state_db *db, enum state_stmt_id id, const char *sql,
			 struct zl_err *err);

/* Steps a statement that returns no rows: 0 on SQLITE_DONE, else -1 with err
 * "state: <purpose>: <SQLite message>", purpose formatted from fmt. */
int state_step_done(struct state_db *db, sqlite3_stmt *st, struct zl_err *err, const char *fmt,
		    ...) __attribute__((format(printf, 4, 5)));

/* Steps a query: 1 with a row to read, 0 when done, -1 with err as above. */
int state_step_row(struct state_db *db, sqlite3_stmt *st, struct zl_err *err, const char *fmt,
		   ...) __attribute__((format(printf, 4, 5)));

/* Runs a cached statement without values or rows (transaction control,
 * pragmas that set): prepare on first use, step, reset. Errors as above. */
int state_sql_run(struct state_db *db, enum state_stmt_id id, const char *sql, struct zl_err *err,
		  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Runs a schema script of several statements (a migration), each prepared,
 * stepped and finalized in turn: a script runs once in the life of a
 * database, so nothing of it is cached. Errors as above. */
int state_sql_script(struct state_db *db, const char *script, struct zl_err *err,
		     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Finalizes every cached statement (state_close). */
void state_stmts_finalize(struct state_db *db);

/* zl_fail(err, "state: <purpose>: <SQLite message>") with purpose formatted
 * from fmt; returns -1. */
int state_sql_fail(struct state_db *db, struct zl_err *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Cleanup attribute: resets a cached statement and clears its bindings so
 * the next user starts clean and no read transaction stays open. */
static inline void state_stmt_resetp(sqlite3_stmt **st)
{
	if (*st) {
		sqlite3_reset(*st);
		sqlite3_clear_bindings(*st);
	}
}
#define _cleanup_stmt_reset_ __attribute__((cleanup(state_stmt_resetp)))

/* Binds s as TEXT, or NULL when s is NULL. The string must outlive the step. */
static inline int state_bind_text(sqlite3_stmt *st, int col, const char *s)
{
	return s ? sqlite3_bind_text(st, col, s, -1, SQLITE_STATIC) : sqlite3_bind_null(st, col);
}

/* The column as a new string (caller frees), NULL for SQL NULL. */
static inline char *state_column_strdup(sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);
	return s ? zl_xstrdup((const char *)s) : NULL;
}

#endif
