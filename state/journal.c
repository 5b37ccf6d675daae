/* journal.c: the action journal. reconcile/execute writes a pending entry
 * before it acts and finishes it after, so the next run can see what a
 * crashed apply was doing and finish or undo it. */
#include "state/state-internal.h"

#include <string.h>

static const char *const journal_status_names[] = {
	[STATE_JOURNAL_PENDING] = "pending",
	[STATE_JOURNAL_DONE] = "done",
	[STATE_JOURNAL_UNDONE] = "undone",
	[STATE_JOURNAL_FAILED] = "failed",
};
#define N_JOURNAL_STATUSES (sizeof(journal_status_names) / sizeof(journal_status_names[0]))

#define JOURNAL_COLUMNS                                                                        \
	"id, deployment, service, idx, action, spec_hash, status, detail, created_at, "        \
	"finished_at"

static const char sql_begin[] =
	"INSERT INTO journal (deployment, service, idx, action, spec_hash, status, created_at) "
	"VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6)";
static const char sql_finish[] =
	"UPDATE journal SET status = ?2, detail = ?3, finished_at = ?4 WHERE id = ?1";
static const char sql_pending_all[] =
	"SELECT " JOURNAL_COLUMNS " FROM journal WHERE status = 'pending' ORDER BY id";
static const char sql_pending_deployment[] =
	"SELECT " JOURNAL_COLUMNS " FROM journal WHERE status = 'pending' AND deployment = ?1 "
	"ORDER BY id";

const char *state_journal_status_name(enum state_journal_status s)
{
	if ((unsigned)s >= N_JOURNAL_STATUSES)
		return "invalid";
	return journal_status_names[s];
}

int state_journal_status_parse(const char *name, enum state_journal_status *s)
{
	for (size_t i = 0; name && i < N_JOURNAL_STATUSES; i++) {
		if (strcmp(name, journal_status_names[i]) == 0) {
			*s = (enum state_journal_status)i;
			return 0;
		}
	}
	return -1;
}

static void entry_clear(struct state_journal_entry *e)
{
	free(e->deployment);
	free(e->service);
	free(e->action);
	free(e->spec_hash);
	free(e->detail);
}

void state_journal_free(struct state_journal *j)
{
	if (!j)
		return;
	for (size_t i = 0; i < j->count; i++)
		entry_clear(&j->items[i]);
	free(j->items);
	j->items = NULL;
	j->count = j->cap = 0;
}

int state_journal_begin(struct state_db *db, const char *deployment, const char *service,
			int index, const char *action, const char *spec_hash, int64_t now_ms,
			int64_t *id, struct zl_err *err)
{
	if (!action)
		return zl_invalid(err, "state: journal entry needs an action");
	_cleanup_stmt_reset_ sqlite3_stmt *st = state_stmt(db, STMT_JOURNAL_BEGIN, sql_begin, err);
	if (!st)
		return -1;
	state_bind_text(st, 1, deployment);
	state_bind_text(st, 2, service);
	sqlite3_bind_int(st, 3, index);
	state_bind_text(st, 4, action);
	state_bind_text(st, 5, spec_hash);
	sqlite3_bind_int64(st, 6, now_ms);
	if (state_step_done(db, st, err, "journal %s %s/%s-rep-%d", action,
			    deployment ? deployment : "-", service ? service : "-", index) < 0)
		return -1;
	if (id)
		*id = sqlite3_last_insert_rowid(db->sql);
	return 0;
}

int state_journal_finish(struct state_db *db, int64_t id, enum state_journal_status status,
			 const char *detail, int64_t now_ms, struct zl_err *err)
{
	if (status == STATE_JOURNAL_PENDING || (unsigned)status >= N_JOURNAL_STATUSES)
		return zl_invalid(err, "state: journal entry %lld: cannot finish as %s",
				  (long long)id, state_journal_status_name(status));
	_cleanup_stmt_reset_ sqlite3_stmt *st = state_stmt(db, STMT_JOURNAL_FINISH, sql_finish, err);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	state_bind_text(st, 2, journal_status_names[status]);
	state_bind_text(st, 3, detail);
	sqlite3_bind_int64(st, 4, now_ms);
	if (state_step_done(db, st, err, "finish journal entry %lld", (long long)id) < 0)
		return -1;
	if (sqlite3_changes(db->sql) == 0)
		return zl_fail(err, "state: finish journal entry %lld: no such entry", (long long)id);
	return 0;
}

int state_journal_pending(struct state_db *db, const char *deployment, struct state_journal *out,
			  struct zl_err *err)
{
	*out = (struct state_journal){ 0 };
	_cleanup_stmt_reset_ sqlite3_stmt *st =
		deployment ? state_stmt(db, STMT_JOURNAL_PENDING_DEPLOYMENT, sql_pending_deployment,
					err)
			   : state_stmt(db, STMT_JOURNAL_PENDING_ALL, sql_pending_all, err);
	if (!st)
		return -1;
	if (deployment)
		state_bind_text(st, 1, deployment);
	int rc;
	while ((rc = state_step_row(db, st, err, "load pending journal entries")) > 0) {
		zl_grow(&out->items, sizeof(out->items[0]), &out->cap, out->count + 1);
		struct state_journal_entry *e = &out->items[out->count++];
		memset(e, 0, sizeof(*e));
		e->id = sqlite3_column_int64(st, 0);
		e->deployment = state_column_strdup(st, 1);
		e->service = state_column_strdup(st, 2);
		e->index = sqlite3_column_int(st, 3);
		e->action = state_column_strdup(st, 4);
		e->spec_hash = state_column_strdup(st, 5);
		const char *status = (const char *)sqlite3_column_text(st, 6);
		if (state_journal_status_parse(status, &e->status) < 0) {
			zl_fail(err, "state: journal entry %lld: unknown status \"%s\" in %s",
				(long long)e->id, status ? status : "(null)", db->path);
			state_journal_free(out);
			return -1;
		}
		e->detail = state_column_strdup(st, 7);
		e->created_at = sqlite3_column_int64(st, 8);
		e->finished_at = sqlite3_column_int64(st, 9);
	}
	if (rc < 0) {
		state_journal_free(out);
		return -1;
	}
	return 0;
}
