/* meta.c: facts about the state root itself (key -> value), such as its
 * identity and the bridge and subnet its replicas use. */
#include "state/state-internal.h"

static const char sql_get[] = "SELECT value FROM meta WHERE key = ?1";
static const char sql_put[] =
	"INSERT INTO meta (key, value) VALUES (?1, ?2) "
	"ON CONFLICT (key) DO UPDATE SET value = excluded.value WHERE value <> excluded.value";

int state_meta_get(struct state_db *db, const char *key, char **value, struct zl_err *err)
{
	*value = NULL;
	_cleanup_stmt_reset_ sqlite3_stmt *st = state_stmt(db, STMT_META_GET, sql_get, err);
	if (!st)
		return -1;
	state_bind_text(st, 1, key);
	int rc = state_step_row(db, st, err, "load a root fact");
	if (rc > 0)
		*value = state_column_strdup(st, 0);
	return rc < 0 ? -1 : 0;
}

int state_meta_put(struct state_db *db, const char *key, const char *value, struct zl_err *err)
{
	_cleanup_stmt_reset_ sqlite3_stmt *st = state_stmt(db, STMT_META_PUT, sql_put, err);
	if (!st)
		return -1;
	state_bind_text(st, 1, key);
	state_bind_text(st, 2, value);
	return state_step_done(db, st, err, "save a root fact");
}
