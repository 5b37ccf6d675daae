/* runs.c: the runs table (each run of a job or cron replica: why it ran,
 * when, how it ended, where its output went; the last STATE_RUNS_KEPT per
 * service) and the schedules table (per cron service, the last scheduled
 * time it ran for and the next one). */
#include "state/state-internal.h"

#include <string.h>

#define RUN_COLUMNS                                                                            \
	"deployment, service, run_no, idx, spec_hash, cause, scheduled_s, started_at, "      \
	"finished_at, exit_code, exit_signal, reason, log_path"

static const char sql_next_run_no[] =
	"SELECT coalesce(max(run_no), 0) + 1 FROM runs WHERE deployment = ?1 AND service = ?2";
static const char sql_insert[] =
	"INSERT INTO runs (" RUN_COLUMNS ") VALUES "
	"(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";
/* The runs of a service beyond the newest ?3. */
#define OLD_RUNS                                                                               \
	"WHERE deployment = ?1 AND service = ?2 AND run_no <= "                                \
	"(SELECT coalesce(max(run_no), 0) FROM runs WHERE deployment = ?1 AND service = ?2) - ?3"
static const char sql_prune_list[] =
	"SELECT log_path FROM runs " OLD_RUNS " AND log_path IS NOT NULL";
static const char sql_prune_delete[] = "DELETE FROM runs " OLD_RUNS;
static const char sql_finish[] =
	"UPDATE runs SET finished_at = ?4, exit_code = ?5, exit_signal = ?6, reason = ?7 "
	"WHERE deployment = ?1 AND service = ?2 AND idx = ?3 AND finished_at = 0";
static const char sql_set_log[] =
	"UPDATE runs SET log_path = ?4 WHERE deployment = ?1 AND service = ?2 AND run_no = ?3";
static const char sql_latest[] =
	"SELECT " RUN_COLUMNS " FROM runs WHERE deployment = ?1 AND service = ?2 AND idx = ?3 "
	"ORDER BY run_no DESC LIMIT 1";
static const char sql_load_all[] =
	"SELECT " RUN_COLUMNS " FROM runs ORDER BY deployment, service, run_no";
static const char sql_load_deployment[] =
	"SELECT " RUN_COLUMNS " FROM runs WHERE deployment = ?1 ORDER BY deployment, service, run_no";

#define SCHEDULE_COLUMNS "deployment, service, last_scheduled_s, next_s"
static const char sql_schedules_load_all[] =
	"SELECT " SCHEDULE_COLUMNS " FROM schedules ORDER BY deployment, service";
static const char sql_schedules_load_deployment[] =
	"SELECT " SCHEDULE_COLUMNS " FROM schedules WHERE deployment = ?1 "
	"ORDER BY deployment, service";
static const char sql_schedule_put[] =
	"INSERT INTO schedules (" SCHEDULE_COLUMNS ") VALUES (?1, ?2, ?3, ?4) "
	"ON CONFLICT (deployment, service) DO UPDATE SET "
	"last_scheduled_s = excluded.last_scheduled_s, next_s = excluded.next_s "
	"WHERE last_scheduled_s IS NOT excluded.last_scheduled_s OR next_s IS NOT excluded.next_s";
static const char sql_schedule_delete[] =
	"DELETE FROM schedules WHERE deployment = ?1 AND service = ?2";

void state_run_clear(struct state_run *r)
{
	if (!r)
		return;
	free(r->deployment);
	free(r->service);
	free(r->spec_hash);
	free(r->cause);
	free(r->reason);
	free(r->log_path);
	memset(r, 0, sizeof(*r));
}

void state_runs_free(struct state_runs *list)
{
	if (!list)
		return;
	for (size_t i = 0; i < list->count; i++)
		state_run_clear(&list->items[i]);
	free(list->items);
	memset(list, 0, sizeof(*list));
}

static void run_from_row(sqlite3_stmt *st, struct state_run *r)
{
	r->deployment = state_column_strdup(st, 0);
	r->service = state_column_strdup(st, 1);
	r->run_no = sqlite3_column_int64(st, 2);
	r->index = sqlite3_column_int(st, 3);
	r->spec_hash = state_column_strdup(st, 4);
	r->cause = state_column_strdup(st, 5);
	r->scheduled_s = sqlite3_column_int64(st, 6);
	r->started_at = sqlite3_column_int64(st, 7);
	r->finished_at = sqlite3_column_int64(st, 8);
	r->exit_code = sqlite3_column_int(st, 9);
	r->exit_signal = sqlite3_column_int(st, 10);
	r->reason = state_column_strdup(st, 11);
	r->log_path = state_column_strdup(st, 12);
}

static int64_t next_run_no(struct state_db *db, const char *deployment, const char *service,
			   struct zl_err *err)
{
	_cleanup_stmt_reset_ sqlite3_stmt *st =
		state_stmt(db, STMT_RUN_NEXT_NO, sql_next_run_no, err);
	if (!st)
		return -1;
	state_bind_text(st, 1, deployment);
	state_bind_text(st, 2, service);
	int rc = state_step_row(db, st, err, "number a run");
	if (rc < 0)
		return -1;
	if (rc == 0)
		return state_sql_fail(db, err, "number a run");
	return sqlite3_column_int64(st, 0);
}

/* Drops the runs of a service beyond the newest STATE_RUNS_KEPT. */
static int prune_runs(struct state_db *db, const char *deployment, const char *service,
		      char ***pruned, size_t *pruned_count, struct zl_err *err)
{
	if (pruned) {
		_cleanup_stmt_reset_ sqlite3_stmt *st =
			state_stmt(db, STMT_RUNS_PRUNE_LIST, sql_prune_list, err);
		if (!st)
			return -1;
		state_bind_text(st, 1, deployment);
		state_bind_text(st, 2, service);
		sqlite3_bind_int(st, 3, STATE_RUNS_KEPT);
		size_t cap = 0;
		int rc;
		while ((rc = state_step_row(db, st, err, "list old runs")) > 0) {
			zl_grow(pruned, sizeof(**pruned), &cap, *pruned_count + 1);
			(*pruned)[(*pruned_count)++] = state_column_strdup(st, 0);
		}
		if (rc < 0)
			return -1;
	}
	_cleanup_stmt_reset_ sqlite3_stmt *st =
		state_stmt(db, STMT_RUNS_PRUNE_DELETE, sql_prune_delete, err);
	if (!st)
		return -1;
	state_bind_text(st, 1, deployment);
	state_bind_text(st, 2, service);
	sqlite3_bind_int(st, 3, STATE_RUNS_KEPT);
	return state_step_done(db, st, err, "drop old runs");
}

int state_run_start(struct state_db *db, struct state_run *run, char ***pruned_logs,
		    size_t *pruned_count, struct zl_err *err)
{
	if (pruned_logs) {
		*pruned_logs = NULL;
		*pruned_count = 0;
	}
	if (!run->deployment || !run->service)
		return zl_invalid(err, "state: a run needs a deployment and a service");
	int64_t n = next_run_no(db, run->deployment, run->service, err);
	if (n < 0)
		return -1;
	run->run_no = n;
	{
		_cleanup_stmt_reset_ sqlite3_stmt *st = state_stmt(db, STMT_RUN_INSERT, sql_insert, err);
		if (!st)
			return -1;
		state_bind_text(st, 1, run->deployment);
		state_bind_text(st, 2, run->service);
		sqlite3_bind_int64(st, 3, run->run_no);
		sqlite3_bind_int(st, 4, run->index);
		state_bind_text(st, 5, run->spec_hash);
		state_bind_text(st, 6, run->cause);
		sqlite3_bind_int64(st, 7, run->scheduled_s);
		sqlite3_bind_int64(st, 8, run->started_at);
		sqlite3_bind_int64(st, 9, run->finished_at);
		sqlite3_bind_int(st, 10, run->exit_code);
		sqlite3_bind_int(st, 11, run->exit_signal);
		state_bind_text(st, 12, run->reason);
		state_bind_text(st, 13, run->log_path);
		if (state_step_done(db, st, err, "record run") < 0)
			return -1;
	}
	return prune_runs(db, run->deployment, run->service, pruned_logs, pruned_count, err);
}

int state_run_finish(struct state_db *db, const char *deployment, const char *service, int index,
		     int64_t finished_at, int exit_code, int exit_signal, const char *reason,
		     struct zl_err *err)
{
	_cleanup_stmt_reset_ sqlite3_stmt *st = state_stmt(db, STMT_RUN_FINISH, sql_finish, err);
	if (!st)
		return -1;
	state_bind_text(st, 1, deployment);
	state_bind_text(st, 2, service);
	sqlite3_bind_int(st, 3, index);
	sqlite3_bind_int64(st, 4, finished_at > 0 ? finished_at : 1);
	sqlite3_bind_int(st, 5, exit_code);
	sqlite3_bind_int(st, 6, exit_signal);
	state_bind_text(st, 7, reason);
	return state_step_done(db, st, err, "finish run");
}

int state_run_set_log(struct state_db *db, const char *deployment, const char *service,
		      int64_t run_no, const char *log_path, struct zl_err *err)
{
	_cleanup_stmt_reset_ sqlite3_stmt *st = state_stmt(db, STMT_RUN_SET_LOG, sql_set_log, err);
	if (!st)
		return -1;
	state_bind_text(st, 1, deployment);
	state_bind_text(st, 2, service);
	sqlite3_bind_int64(st, 3, run_no);
	state_bind_text(st, 4, log_path);
	return state_step_done(db, st, err, "record run log");
}

int state_run_latest(struct state_db *db, const char *deployment, const char *service, int index,
		     struct state_run *out, bool *found, struct zl_err *err)
{
	memset(out, 0, sizeof(*out));
	*found = false;
	_cleanup_stmt_reset_ sqlite3_stmt *st = state_stmt(db, STMT_RUN_LATEST, sql_latest, err);
	if (!st)
		return -1;
	state_bind_text(st, 1, deployment);
	state_bind_text(st, 2, service);
	sqlite3_bind_int(st, 3, index);
	int rc = state_step_row(db, st, err, "load run");
	if (rc > 0) {
		run_from_row(st, out);
		*found = true;
	}
	return rc < 0 ? -1 : 0;
}

int state_runs_load(struct state_db *db, const char *deployment, struct state_runs *out,
		    struct zl_err *err)
{
	memset(out, 0, sizeof(*out));
	_cleanup_stmt_reset_ sqlite3_stmt *st =
		deployment ? state_stmt(db, STMT_RUNS_LOAD_DEPLOYMENT, sql_load_deployment, err)
			   : state_stmt(db, STMT_RUNS_LOAD_ALL, sql_load_all, err);
	if (!st)
		return -1;
	if (deployment)
		state_bind_text(st, 1, deployment);
	int rc;
	while ((rc = state_step_row(db, st, err, "load runs")) > 0) {
		zl_grow(&out->items, sizeof(*out->items), &out->cap, out->count + 1);
		run_from_row(st, &out->items[out->count++]);
	}
	if (rc < 0) {
		state_runs_free(out);
		return -1;
	}
	return 0;
}

/* ---- schedules ---- */

void state_schedules_free(struct state_schedules *list)
{
	if (!list)
		return;
	for (size_t i = 0; i < list->count; i++) {
		free(list->items[i].deployment);
		free(list->items[i].service);
	}
	free(list->items);
	memset(list, 0, sizeof(*list));
}

int state_schedules_load(struct state_db *db, const char *deployment, struct state_schedules *out,
			 struct zl_err *err)
{
	memset(out, 0, sizeof(*out));
	_cleanup_stmt_reset_ sqlite3_stmt *st =
		deployment ? state_stmt(db, STMT_SCHEDULES_LOAD_DEPLOYMENT,
					sql_schedules_load_deployment, err)
			   : state_stmt(db, STMT_SCHEDULES_LOAD_ALL, sql_schedules_load_all, err);
	if (!st)
		return -1;
	if (deployment)
		state_bind_text(st, 1, deployment);
	int rc;
	while ((rc = state_step_row(db, st, err, "load schedules")) > 0) {
		zl_grow(&out->items, sizeof(*out->items), &out->cap, out->count + 1);
		struct state_schedule *s = &out->items[out->count++];
		s->deployment = state_column_strdup(st, 0);
		s->service = state_column_strdup(st, 1);
		s->last_scheduled_s = sqlite3_column_int64(st, 2);
		s->next_s = sqlite3_column_int64(st, 3);
	}
	if (rc < 0) {
		state_schedules_free(out);
		return -1;
	}
	return 0;
}

int state_schedule_put(struct state_db *db, const char *deployment, const char *service,
		       int64_t last_scheduled_s, int64_t next_s, struct zl_err *err)
{
	_cleanup_stmt_reset_ sqlite3_stmt *st =
		state_stmt(db, STMT_SCHEDULE_PUT, sql_schedule_put, err);
	if (!st)
		return -1;
	state_bind_text(st, 1, deployment);
	state_bind_text(st, 2, service);
	sqlite3_bind_int64(st, 3, last_scheduled_s);
	sqlite3_bind_int64(st, 4, next_s);
	return state_step_done(db, st, err, "save schedule");
}

int state_schedule_delete(struct state_db *db, const char *deployment, const char *service,
			  struct zl_err *err)
{
	_cleanup_stmt_reset_ sqlite3_stmt *st =
		state_stmt(db, STMT_SCHEDULE_DELETE, sql_schedule_delete, err);
	if (!st)
		return -1;
	state_bind_text(st, 1, deployment);
	state_bind_text(st, 2, service);
	return state_step_done(db, st, err, "delete schedule");
}
