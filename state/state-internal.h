/* state-internal.h: what the files of state/ share and nobody else sees:
 * the connection struct, the prepared-statement cache and small sqlite
 * helpers (binding nullable text, reading columns into owned strings). */
#ifndef ZL_STATE_INTERNAL_H
#define ZL_STATE_INTERNAL_H

#include <sqlite3.h>

#include "state/state.h"

/* Hot statements are prepared once per connection (SQLITE_PREPARE_PERSISTENT)
 * and reused, so loading thousands of rows or upserting them in a loop costs
 * no parsing. One slot per statement. */
enum state_stmt_id {
	STMT_BEGIN,
	STMT_COMMIT,
	STMT_ROLLBACK,
	STMT_REPLICAS_LOAD_ALL,
	STMT_REPLICAS_LOAD_DEPLOYMENT,
	STMT_REPLICA_UPSERT,
	STMT_REPLICA_DELETE,
	STMT_DEPLOYMENT_UPSERT,
	STMT_DEPLOYMENT_DELETE,
	STMT_DEPLOYMENTS_LIST,
	STMT_SERVICES_LOAD_ALL,
	STMT_SERVICES_LOAD_DEPLOYMENT,
	STMT_SERVICE_UPSERT,
	STMT_SERVICE_DELETE,
	STMT_JOURNAL_BEGIN,
	STMT_JOURNAL_FINISH,
	STMT_JOURNAL_PENDING_ALL,
	STMT_JOURNAL_PENDING_DEPLOYMENT,
	STMT_EVENT_ADD,
	STMT_EVENTS_LOAD_ALL,
	STMT_EVENTS_LOAD_DEPLOYMENT,
	STMT__COUNT,
};

struct state_db {
	sqlite3 *sql;
	char *path; /* <root>/state.db, for messages */
	bool read_only;
	int schema_version;
	sqlite3_stmt *stmts[STMT__COUNT];
};

/* Returns the cached statement for id, preparing sql on first use; NULL with
 * *err set on failure. The caller resets it after use (state_stmt_resetp). */
sqlite3_stmt *state_stmt(struct state_db *db, enum state_stmt_id id, const char *sql,
			 struct zl_err *err);

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

/* zl_fail(err, "state: <what>: <sqlite message>") where what is formatted
 * from fmt; returns -1. */
int state_sql_fail(struct state_db *db, struct zl_err *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

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
