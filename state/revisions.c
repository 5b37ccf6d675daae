/* revisions.c: the revisions table, the history of a deployment. Every
 * apply that changes a deployment adds a revision: the spec document as
 * applied, where it came from, a hash of what it asks for, the time, and a
 * number per deployment (1, 2, ...). A rollback is a revision too, pointing
 * at the one it restored. The last STATE_REVISIONS_KEPT of each deployment
 * are kept (docs/user-guide.md, "History and rollback").
 *
 * A revision's status follows its apply:
 *   applying     -> written before its first action (state_revision_add)
 *   applied      -> every action done (state_revision_set_status)
 *   rolled back  -> its rollout failed and the previous revision was put back
 *   stopped      -> its rollout failed, --no-rollback left it where it stopped
 *   failed       -> some action failed outside a rollout
 * A rollback revision still "applying" after a crash is finished by the next
 * apply of its deployment (reconcile/rollback.c). */
#include "state/state-internal.h"

#include <string.h>

#define REVISION_COLUMNS                                                                       \
	"deployment, number, hash, spec, source, cause, restores, status, reason, created_at"

static const char sql_insert[] =
	"INSERT INTO revisions (" REVISION_COLUMNS ") VALUES "
	"(?1, (SELECT coalesce(max(number), 0) + 1 FROM revisions WHERE deployment = ?1), "
	"?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING number";
static const char sql_prune[] =
	"DELETE FROM revisions WHERE deployment = ?1 AND number <= "
	"(SELECT max(number) FROM revisions WHERE deployment = ?1) - ?2";
static const char sql_set_status[] =
	"UPDATE revisions SET status = ?3, reason = ?4 WHERE deployment = ?1 AND number = ?2";
static const char sql_get[] =
	"SELECT " REVISION_COLUMNS " FROM revisions WHERE deployment = ?1 AND number = ?2";
static const char sql_latest[] =
	"SELECT " REVISION_COLUMNS " FROM revisions WHERE deployment = ?1 "
	"ORDER BY number DESC LIMIT 1";
static const char sql_load[] =
	"SELECT " REVISION_COLUMNS " FROM revisions WHERE deployment = ?1 ORDER BY number";
/* REVISION_COLUMNS with NULL for spec (the table keeps spec last, so the
 * others are read without it). */
static const char sql_load_brief[] =
	"SELECT deployment, number, hash, NULL, source, cause, restores, status, reason, "
	"created_at FROM revisions WHERE deployment = ?1 ORDER BY number";

void state_revision_clear(struct state_revision *r)
{
	if (!r)
		return;
	free(r->deployment);
	free(r->hash);
	free(r->spec);
	free(r->source);
	free(r->cause);
	free(r->status);
	free(r->reason);
	memset(r, 0, sizeof(*r));
}

void state_revisions_free(struct state_revisions *list)
{
	if (!list)
		return;
	for (size_t i = 0; i < list->count; i++)
		state_revision_clear(&list->items[i]);
	free(list->items);
	memset(list, 0, sizeof(*list));
}

static void revision_from_row(sqlite3_stmt *st, struct state_revision *r)
{
	r->deployment = state_column_strdup(st, 0);
	r->number = sqlite3_column_int64(st, 1);
	r->hash = state_column_strdup(st, 2);
	r->spec = state_column_strdup(st, 3);
	r->source = state_column_strdup(st, 4);
	r->cause = state_column_strdup(st, 5);
	r->restores = sqlite3_column_int64(st, 6);
	r->status = state_column_strdup(st, 7);
	r->reason = state_column_strdup(st, 8);
	r->created_at = sqlite3_column_int64(st, 9);
}

int state_revision_add(struct state_db *db, struct state_revision *rev, struct zl_err *err)
{
	if (!rev->deployment || !rev->hash)
		return zl_invalid(err, "state: a revision needs a deployment and a hash");
	{
		_cleanup_stmt_reset_ sqlite3_stmt *st =
			state_stmt(db, STMT_REVISION_INSERT, sql_insert, err);
		if (!st)
			return -1;
		state_bind_text(st, 1, rev->deployment);
		state_bind_text(st, 2, rev->hash);
		state_bind_text(st, 3, rev->spec);
		state_bind_text(st, 4, rev->source);
		state_bind_text(st, 5, rev->cause);
		sqlite3_bind_int64(st, 6, rev->restores);
		state_bind_text(st, 7, rev->status ? rev->status : "applying");
		state_bind_text(st, 8, rev->reason);
		sqlite3_bind_int64(st, 9, rev->created_at);
		int rc = state_step_row(db, st, err, "record revision of %s", rev->deployment);
		if (rc < 0)
			return -1;
		if (rc == 0)
			return state_sql_fail(db, err, "record revision of %s", rev->deployment);
		rev->number = sqlite3_column_int64(st, 0);
		/* RETURNING: the insert is complete only once stepped to the end. */
		if (state_step_row(db, st, err, "record revision of %s", rev->deployment) < 0)
			return -1;
	}
	_cleanup_stmt_reset_ sqlite3_stmt *st = state_stmt(db, STMT_REVISIONS_PRUNE, sql_prune, err);
	if (!st)
		return -1;
	state_bind_text(st, 1, rev->deployment);
	sqlite3_bind_int(st, 2, STATE_REVISIONS_KEPT);
	return state_step_done(db, st, err, "drop old revisions of %s", rev->deployment);
}

int state_revision_set_status(struct state_db *db, const char *deployment, int64_t number,
			      const char *status, const char *reason, struct zl_err *err)
{
	_cleanup_stmt_reset_ sqlite3_stmt *st =
		state_stmt(db, STMT_REVISION_SET_STATUS, sql_set_status, err);
	if (!st)
		return -1;
	state_bind_text(st, 1, deployment);
	sqlite3_bind_int64(st, 2, number);
	state_bind_text(st, 3, status);
	state_bind_text(st, 4, reason);
	return state_step_done(db, st, err, "mark revision %lld of %s %s", (long long)number,
			       deployment, status);
}

/* One row of a query bound to (deployment[, number]). */
static int revision_one(struct state_db *db, sqlite3_stmt *st, struct state_revision *out,
			bool *found, struct zl_err *err)
{
	memset(out, 0, sizeof(*out));
	*found = false;
	int rc = state_step_row(db, st, err, "load revision");
	if (rc > 0) {
		revision_from_row(st, out);
		*found = true;
	}
	return rc < 0 ? -1 : 0;
}

int state_revision_get(struct state_db *db, const char *deployment, int64_t number,
		       struct state_revision *out, bool *found, struct zl_err *err)
{
	_cleanup_stmt_reset_ sqlite3_stmt *st = state_stmt(db, STMT_REVISION_GET, sql_get, err);
	if (!st)
		return -1;
	state_bind_text(st, 1, deployment);
	sqlite3_bind_int64(st, 2, number);
	return revision_one(db, st, out, found, err);
}

int state_revision_latest(struct state_db *db, const char *deployment, struct state_revision *out,
			  bool *found, struct zl_err *err)
{
	_cleanup_stmt_reset_ sqlite3_stmt *st =
		state_stmt(db, STMT_REVISION_LATEST, sql_latest, err);
	if (!st)
		return -1;
	state_bind_text(st, 1, deployment);
	return revision_one(db, st, out, found, err);
}

static int load_list(struct state_db *db, enum state_stmt_id id, const char *sql,
		     const char *deployment, struct state_revisions *out, struct zl_err *err)
{
	memset(out, 0, sizeof(*out));
	_cleanup_stmt_reset_ sqlite3_stmt *st = state_stmt(db, id, sql, err);
	if (!st)
		return -1;
	state_bind_text(st, 1, deployment);
	int rc;
	while ((rc = state_step_row(db, st, err, "load revisions of %s", deployment)) > 0) {
		zl_grow(&out->items, sizeof(out->items[0]), &out->cap, out->count + 1);
		revision_from_row(st, &out->items[out->count++]);
	}
	if (rc < 0) {
		state_revisions_free(out);
		return -1;
	}
	return 0;
}

int state_revisions_load(struct state_db *db, const char *deployment, struct state_revisions *out,
			 struct zl_err *err)
{
	return load_list(db, STMT_REVISIONS_LOAD, sql_load, deployment, out, err);
}

int state_revisions_load_brief(struct state_db *db, const char *deployment,
			       struct state_revisions *out, struct zl_err *err)
{
	return load_list(db, STMT_REVISIONS_LOAD_BRIEF, sql_load_brief, deployment, out, err);
}
