/* recover.c: settle what a crashed (SIGKILLed, power-cut) run left pending.
 *
 * Each pending journal entry is finished when the backend shows the action
 * took effect and undone otherwise, so the planner afterwards sees a clean
 * picture: no orphan containers, no duplicate replicas. */
#include "reconcile-internal.h"
#include "publish-internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct state_replica *find_row(const struct state_replicas *rows, const char *service,
					    int index)
{
	for (size_t i = 0; i < rows->count; i++)
		if (rows->items[i].index == index && strcmp(rows->items[i].service, service) == 0)
			return &rows->items[i];
	return NULL;
}

/* Is service (as the last apply recorded it) a job or a cron service? */
static bool keeps_runs(const struct state_services *services, const char *service)
{
	for (size_t i = 0; i < services->count; i++)
		if (strcmp(services->items[i].name, service) == 0)
			return services->items[i].rtype &&
			       strcmp(services->items[i].rtype, "service") != 0;
	return false;
}

static const char restart_done[] = "restart interrupted; completed at recovery";

/* A pending restart of a service replica (st: what the backend shows).
 * Which run of the container is this? One that began before the restart
 * was journaled is the old one: still in its stop grace, or stopped and
 * never started again. Finish the restart (true; *note says how it went),
 * or the stop would count as an exit of the replica's own. A run that began
 * after it is the restarted one (false): the next observe records it, and
 * its own exit. Job and cron runs are left to the planner, which records
 * runs. */
static bool finish_restart(struct state_db *db, struct backend *b,
			   const struct state_journal_entry *e, const struct state_replica *row,
			   const char *id, struct backend_state *st, int64_t now_ms,
			   const char **note, struct zl_err *err)
{
	bool old_run = st->started_at <= e->created_at;
	bool stopping = st->status == BACKEND_STATUS_RUNNING && st->started_at > 0 && old_run;
	bool stopped = (st->status == BACKEND_STATUS_EXITED && old_run) ||
		       st->status == BACKEND_STATUS_CREATED;
	if (!stopping && !stopped)
		return false;
	struct zl_err berr = ZL_ERR_INIT;
	if (stopping && b->ops->stop(b, id, 0, -1, &berr) < 0) {
		zl_log(ZL_LOG_WARN, "recover %s: stop: %s", id, berr.msg);
		*note = "restart interrupted; stop failed, state re-observed";
		return true;
	}
	if (b->ops->start(b, id, &berr) < 0) {
		zl_log(ZL_LOG_WARN, "recover %s: start: %s", id, berr.msg);
		*note = "restart interrupted; start failed, state re-observed";
		return true;
	}
	struct state_replica done;
	state_replica_copy(&done, row);
	execute_mark_restarted(&done, now_ms);
	if (b->ops->state(b, id, st, &berr) == 0 && st->status == BACKEND_STATUS_RUNNING) {
		done.pid = st->pid;
		done.pid_start_time = st->pid_start_time;
	}
	done.updated_at = now_ms;
	int r = state_replica_upsert(db, &done, err);
	state_replica_clear(&done);
	*note = r < 0 ? "restart interrupted; started, not recorded" : restart_done;
	return true;
}

/* Settles one entry inside the caller's transaction. Returns the status.
 * An adopted job/cron replica gets the run its interrupted create did not
 * record; log files of runs that fall out of the kept ones go to *pruned. */
static enum state_journal_status settle(struct state_db *db, struct backend *b,
					const struct state_journal_entry *e,
					const struct state_replica *row,
					const struct state_services *services, int64_t now_ms,
					const char **note, char ***pruned, size_t *pruned_count,
					struct zl_err *err)
{
	_cleanup_free_ char *id = row && row->backend_id
					  ? zl_xstrdup(row->backend_id)
					  : backend_replica_id(e->deployment, e->service, e->index);
	struct backend_state st = { .status = BACKEND_STATUS_MISSING };
	struct zl_err berr = ZL_ERR_INIT;
	if (b->ops->state(b, id, &st, &berr) < 0)
		st.status = BACKEND_STATUS_UNKNOWN;

	if (strcmp(e->action, "remove") == 0) {
		/* Finish the removal: the replica was on its way out, stopped
		 * the way its create recorded (its stop signal and grace). */
		if (st.status == BACKEND_STATUS_RUNNING &&
		    b->ops->stop(b, id, 0, -1, &berr) < 0)
			zl_log(ZL_LOG_WARN, "recover %s: stop: %s", id, berr.msg);
		if (b->ops->remove(b, id, &berr) < 0) {
			zl_log(ZL_LOG_WARN, "recover %s: remove: %s", id, berr.msg);
			*note = "remove interrupted; removal failed again";
			return STATE_JOURNAL_FAILED;
		}
		if (state_replica_delete(db, e->deployment, e->service, e->index, err) < 0)
			return STATE_JOURNAL_FAILED;
		*note = "remove interrupted; completed at recovery";
		return STATE_JOURNAL_DONE;
	}

	if (strcmp(e->action, "create") == 0) {
		if (row && st.status == BACKEND_STATUS_RUNNING && row->spec_hash && e->spec_hash &&
		    strcmp(row->spec_hash, e->spec_hash) == 0) {
			/* It did start: adopt it rather than replace a running replica. */
			struct state_replica done;
			state_replica_copy(&done, row);
			done.state = STATE_REPLICA_RUNNING;
			done.pid = st.pid;
			done.pid_start_time = st.pid_start_time;
			done.started_at = st.started_at ? st.started_at : now_ms;
			done.updated_at = now_ms;
			int r = state_replica_upsert(db, &done, err);
			if (r == 0 && keeps_runs(services, e->service)) {
				struct state_run run = {
					.deployment = e->deployment,
					.service = e->service,
					.index = e->index,
					.spec_hash = done.spec_hash,
					.cause = "adopted at recovery",
					.started_at = done.started_at,
					.exit_code = -1,
				};
				r = state_run_start(db, &run, pruned, pruned_count, err);
			}
			state_replica_clear(&done);
			*note = "create interrupted; replica was running, adopted";
			return r < 0 ? STATE_JOURNAL_FAILED : STATE_JOURNAL_DONE;
		}
		/* Undo: whatever half-made container exists goes, and so does the row. */
		if (st.status != BACKEND_STATUS_MISSING && b->ops->remove(b, id, &berr) < 0) {
			zl_log(ZL_LOG_WARN, "recover %s: remove: %s", id, berr.msg);
			*note = "create interrupted; undo failed";
			return STATE_JOURNAL_FAILED;
		}
		if (state_replica_delete(db, e->deployment, e->service, e->index, err) < 0)
			return STATE_JOURNAL_FAILED;
		*note = "create interrupted; undone";
		return STATE_JOURNAL_UNDONE;
	}

	if (strcmp(e->action, "restart") == 0 && row && !keeps_runs(services, e->service) &&
	    finish_restart(db, b, e, row, id, &st, now_ms, note, err))
		return *note == restart_done ? STATE_JOURNAL_DONE : STATE_JOURNAL_FAILED;

	/* anything else: the row was never changed before the backend acted,
	 * so the next observe records whatever really happened. */
	*note = "interrupted; state re-observed";
	return STATE_JOURNAL_UNDONE;
}

/* A run killed inside zl_write_file_atomic() leaves its temporary file,
 * "<name>.tmp.<pid>", behind. The next atomic write into that directory
 * removes it, but the port records' directory of a deployment that is being
 * deleted is never written again, only rmdir'd (publish.c), and the file
 * would keep it forever. So each run, for the deployment it applies or
 * deletes, removes those whose writer is dead: in <root>/ports/<deployment>
 * and in <root> itself (the runtime memo). */
static void sweep_temps(const char *dir)
{
	size_t n = zl_remove_stale_temps(dir);
	if (n)
		zl_log(ZL_LOG_INFO, "removed %zu temporary file%s in %s, left by a run that was killed", n,
		       n == 1 ? "" : "s", dir);
}

int recover_pending(struct state_db *db, struct backend *b, const char *deployment,
		    int64_t now_ms, struct zl_err *err)
{
	if (b && b->root) {
		_cleanup_free_ char *ports = publish_dir(b->root);
		_cleanup_free_ char *mine = zl_xasprintf("%s/%s", ports, deployment);
		sweep_temps(mine);
		sweep_temps(b->root);
	}
	struct state_journal pending = { 0 };
	struct state_replicas rows = { 0 };
	struct state_services services = { 0 };
	int ret = -1;
	if (state_journal_pending(db, deployment, &pending, err) < 0)
		goto out;
	if (pending.count == 0) {
		ret = 0;
		goto out;
	}
	if (state_replicas_load(db, deployment, &rows, err) < 0 ||
	    state_services_load(db, deployment, &services, err) < 0)
		goto out;
	for (size_t i = 0; i < pending.count; i++) {
		const struct state_journal_entry *e = &pending.items[i];
		const struct state_replica *row = find_row(&rows, e->service, e->index);
		const char *note = "";
		char **pruned = NULL;
		size_t pruned_count = 0;
		if (state_begin(db, err) < 0)
			goto out;
		enum state_journal_status status =
			settle(db, b, e, row, &services, now_ms, &note, &pruned, &pruned_count, err);
		if (state_journal_finish(db, e->id, status, note, now_ms, err) < 0 ||
		    state_event_add(db, now_ms, e->deployment, e->service, e->index, "recovered",
				    note, err) < 0 ||
		    state_commit(db, err) < 0) {
			state_rollback(db);
			state_names_free(pruned, pruned_count);
			goto out;
		}
		for (size_t k = 0; k < pruned_count; k++)
			if (pruned[k] && unlink(pruned[k]) < 0 && errno != ENOENT)
				zl_log(ZL_LOG_WARN, "remove old run log %s: %s", pruned[k],
				       strerror(errno));
		state_names_free(pruned, pruned_count);
		zl_log(ZL_LOG_INFO, "recovered %s %s-rep-%d: %s", e->action, e->service, e->index,
		       note);
	}
	ret = 0;
out:
	state_journal_free(&pending);
	state_replicas_free(&rows);
	state_services_free(&services);
	if (ret < 0)
		zl_err_prefix(err, "recover interrupted actions");
	return ret;
}
