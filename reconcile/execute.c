/* execute.c: carry out one planned action against the backend.
 *
 * Every action is journaled (state_journal_begin) in the same transaction
 * that marks the replica row as in flight, before the backend is touched,
 * and finished in the same transaction that records the result. A crash in
 * between leaves a pending entry that recover.c settles at the next run.
 *
 * Jobs and cron services (rtype job/cron) also keep their runs: each start
 * records a run (with its cron schedule, in the same transaction), and
 * before a finished run's container is started again or removed its output
 * is archived to <root>/runs/<deployment>/<service>/<run_no>.log. */
#include "reconcile-internal.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "net/net.h"

#define DEFAULT_STOP_GRACE_MS 10000

struct exec_ctx {
	struct state_db *db;
	struct backend *b;
	const struct plan_action *a;
	const char *secrets_dir;
	int64_t (*clock_ms)(void);
	const char *bridge;             /* for backends that want networking */
	const struct net_subnet *subnet; /* never NULL */
	const char *names;              /* service names a created replica starts with */
	/* A recreate: the replica's address before, which it keeps when it is
	 * still free (NULL none). */
	const char *prefer_ip;
	char *backend_id; /* owned */
};

static int64_t now(const struct exec_ctx *x)
{
	return x->clock_ms ? x->clock_ms() : zl_now_ms();
}

/* Does the action's service keep runs (a job or a cron service)? */
static bool keeps_runs(const struct plan_action *a)
{
	return a->desired && a->desired->svc->rtype != SPEC_RTYPE_SERVICE;
}

char *execute_run_log_path(const char *root, const char *deployment, const char *service,
			   int64_t run_no)
{
	return zl_xasprintf("%s/runs/%s/%s/%lld.log", root, deployment, service, (long long)run_no);
}

/* A new run of the action's job/cron replica started (row): recorded with
 * the row. Log files of runs that fall out of the kept ones go to *pruned. */
static int record_run_start(const struct exec_ctx *x, const struct state_replica *row,
			    char ***pruned, size_t *pruned_count, struct zl_err *err)
{
	const struct plan_action *a = x->a;
	struct state_run run = {
		.deployment = a->deployment,
		.service = a->service,
		.index = a->index,
		.spec_hash = row->spec_hash,
		.cause = a->reason ? a->reason : (char *)"created",
		.scheduled_s = a->scheduled_s,
		.started_at = row->started_at,
		.exit_code = -1,
	};
	return state_run_start(x->db, &run, pruned, pruned_count, err);
}

/* Records row, finishes the journal entry and adds an event, atomically.
 * row NULL deletes the replica's row instead. started: the action started
 * the replica's container (a job/cron replica then begins a run). A cron
 * run's schedule is recorded with it, started or not: a failed attempt
 * waits for the next scheduled time like a run would. */
static int record_result_data(const struct exec_ctx *x, int64_t journal_id,
			      enum state_journal_status status, const struct state_replica *row,
			      bool started, const char *event_kind, const char *message,
			      const char *event_data, struct zl_err *err)
{
	const struct plan_action *a = x->a;
	int64_t t = now(x);
	char **pruned = NULL;
	size_t pruned_count = 0;
	if (state_begin(x->db, err) < 0)
		return -1;
	int r = row ? state_replica_upsert(x->db, row, err)
		    : state_replica_delete(x->db, a->deployment, a->service, a->index, err);
	if (r == 0 && started && row && keeps_runs(a))
		r = record_run_start(x, row, &pruned, &pruned_count, err);
	if (r == 0 && a->scheduled_s > 0)
		r = state_schedule_put(x->db, a->deployment, a->service, a->scheduled_s, a->next_s,
				       err);
	/* A removed replica's address goes back to the pool with its row, and
	 * so does a failed create's (do_create clears its ip). */
	if (r == 0 && (!row || (row->state == STATE_REPLICA_FAILED && !row->ip)))
		r = state_lease_delete(x->db, a->deployment, a->service, a->index, err);
	if (r == 0)
		r = state_journal_finish(x->db, journal_id, status, message, t, err);
	if (r == 0)
		r = state_event_add_data(x->db, t, a->deployment, a->service, a->index, event_kind,
					 message, event_data, err);
	if (r == 0)
		r = state_commit(x->db, err);
	if (r < 0)
		state_rollback(x->db);
	/* Dropped runs take their logs with them; a leftover file is harmless. */
	for (size_t i = 0; r == 0 && i < pruned_count; i++)
		if (pruned[i] && unlink(pruned[i]) < 0 && errno != ENOENT)
			zl_log(ZL_LOG_WARN, "remove old run log %s: %s", pruned[i], strerror(errno));
	state_names_free(pruned, pruned_count);
	return r;
}

/* record_result_data() without facts beyond the message. */
static int record_result(const struct exec_ctx *x, int64_t journal_id,
			 enum state_journal_status status, const struct state_replica *row,
			 bool started, const char *event_kind, const char *message,
			 struct zl_err *err)
{
	return record_result_data(x, journal_id, status, row, started, event_kind, message, NULL,
				  err);
}

/* events: an event outside record_result's transaction (a step of an
 * action: created, stopped); losing it is logged, never fails the action. */
static void note_event(const struct exec_ctx *x, const char *kind, const char *message,
		       struct cJSON *data)
{
	const struct plan_action *a = x->a;
	struct zl_err e = ZL_ERR_INIT;
	if (events_record(x->db, now(x), a->deployment, a->service, a->index, kind, message, data,
			  &e) < 0)
		zl_log(ZL_LOG_WARN, "%s-rep-%d: record event %s: %s", a->service, a->index, kind,
		       e.msg);
}

/* Moves the output of run run_no to its archive and records where. */
static int archive_run_log(const struct exec_ctx *x, int64_t run_no, struct zl_err *e)
{
	const struct plan_action *a = x->a;
	if (!x->b->ops->archive_logs)
		return 0;
	_cleanup_free_ char *path =
		execute_run_log_path(x->b->root, a->deployment, a->service, run_no);
	_cleanup_free_ char *dir =
		zl_xasprintf("%s/runs/%s/%s", x->b->root, a->deployment, a->service);
	if (zl_mkdir_p(dir, 0700, e) < 0 || x->b->ops->archive_logs(x->b, x->backend_id, path, e) < 0)
		return -1;
	if (access(path, F_OK) < 0)
		return 0; /* the run wrote nothing */
	return state_run_set_log(x->db, a->deployment, a->service, run_no, path, e);
}

/* Before a job/cron replica's container starts again or goes: its last run
 * gets its exit when observe has not recorded it yet (st: the backend's
 * view now; NULL = unknown), and its output is archived. Failures here are
 * logged, never fail the action: the run's record matters less than the
 * run itself. */
static void close_run(const struct exec_ctx *x, const struct backend_state *st)
{
	const struct plan_action *a = x->a;
	struct state_run run;
	bool found = false;
	struct zl_err e = ZL_ERR_INIT;
	int r = state_run_latest(x->db, a->deployment, a->service, a->index, &run, &found, &e);
	if (r == 0 && found && run.finished_at == 0) {
		bool exited = st && st->status == BACKEND_STATUS_EXITED;
		const char *reason = exited ? (st->exit_reason[0] ? st->exit_reason : "exited")
					    : "lost";
		r = state_run_finish(x->db, a->deployment, a->service, a->index,
				     exited && st->finished_at ? st->finished_at : now(x),
				     exited ? st->exit_code : -1, exited ? st->exit_signal : 0, reason,
				     &e);
	}
	if (r == 0 && found && !run.log_path)
		r = archive_run_log(x, run.run_no, &e);
	if (r < 0)
		zl_log(ZL_LOG_WARN, "%s-rep-%d: keep the finished run: %s", a->service, a->index, e.msg);
	state_run_clear(&run);
}

/* The lowest free address of the subnet, in journal_start()'s transaction:
 * the workers of a parallel apply create at the same time, and BEGIN
 * IMMEDIATE makes one pick-and-lease wait for another. */
static int pick_address(const struct exec_ctx *x, char **ip, struct zl_err *err);

/* Journals action `name` and writes row (the in-flight state) atomically;
 * lease: row gets a new address from the pool, leased in the same
 * transaction. */
static int journal_start(const struct exec_ctx *x, const char *name, const char *spec_hash,
			 struct state_replica *row, bool lease, int64_t *journal_id,
			 struct zl_err *err)
{
	const struct plan_action *a = x->a;
	if (state_begin(x->db, err) < 0)
		return -1;
	int r = lease ? pick_address(x, &row->ip, err) : 0;
	if (r == 0)
		r = state_journal_begin(x->db, a->deployment, a->service, a->index, name, spec_hash,
					now(x), journal_id, err);
	if (r == 0 && row)
		r = state_replica_upsert(x->db, row, err);
	if (r == 0 && lease)
		r = state_lease_put(x->db, row->ip, a->deployment, a->service, a->index, now(x), err);
	if (r == 0)
		r = state_commit(x->db, err);
	if (r < 0)
		state_rollback(x->db);
	return r;
}

/* Copies what the backend reports about a started replica into row. */
static void take_backend_state(const struct exec_ctx *x, struct state_replica *row)
{
	struct backend_state st;
	struct zl_err ignored = ZL_ERR_INIT;
	/* A failed state read leaves the row as "running, pid unknown"; the
	 * next observe corrects it. */
	if (x->b->ops->state(x->b, x->backend_id, &st, &ignored) < 0)
		return;
	row->pid = st.pid;
	row->pid_start_time = st.pid_start_time;
	if (st.started_at)
		row->started_at = st.started_at;
	if (st.status == BACKEND_STATUS_EXITED) {
		row->state = STATE_REPLICA_EXITED;
		row->exit_code = st.exit_code;
		row->exit_signal = st.exit_signal;
		free(row->exit_reason);
		row->exit_reason = st.exit_reason[0] ? zl_xstrdup(st.exit_reason) : NULL;
	}
	if (st.ip[0]) {
		free(row->ip);
		row->ip = zl_xstrdup(st.ip);
	}
	if (st.netns[0]) {
		free(row->netns);
		row->netns = zl_xstrdup(st.netns);
	}
}

/* Bridge networking: the service's backend gives it and the service wants
 * it (WASM replicas have none: WASI preview 1 has no sockets). */
static bool wants_bridge(const struct exec_ctx *x, const struct plan_desired_service *ds)
{
	struct backend *m = backend_member(x->b, ds->backend);
	if (!m || !m->ops->wants_network || !m->ops->wants_network(m))
		return false;
	const char *mode = ds->svc->network_mode;
	return !mode || strcmp(mode, "default") == 0 || strcmp(mode, "bridge") == 0 ||
	       strncmp(mode, "bridge:", 7) == 0;
}

/* Leases live per state root, addresses on a bridge are host-wide: two
 * roots on one bridge would hand out the same address twice. So a root
 * claims the bridge (common/owner.c) before its first lease there, and one
 * that another live root holds is refused, naming it. The claim ends with
 * the boot or when the holding root is gone. */
static int claim_bridge(const struct exec_ctx *x, struct zl_err *err)
{
	const char *bridge = x->bridge ? x->bridge : NET_DEFAULT_BRIDGE;
	struct zl_owner me, holder;
	if (zl_owner_of_root(x->b->root, true, &me, err) < 0)
		return -1;
	int r = zl_claim("bridge", bridge, &me, &holder, err);
	if (r < 0)
		return -1;
	if (r > 0)
		return zl_err_set(err, ZL_ERR_INPUT, 0,
				  "bridge %s is used by the state root %s: two roots on one bridge would hand out the same addresses; give this root a bridge and subnet of its own (--bridge NAME --subnet CIDR)",
				  bridge, holder.root);
	return 0;
}

static int pick_address(const struct exec_ctx *x, char **ip, struct zl_err *err)
{
	char **leased = NULL;
	size_t n = 0;
	if (state_leases_ips(x->db, &leased, &n, err) < 0)
		return -1;
	uint32_t *used = zl_xcalloc(n + 1, sizeof(*used));
	size_t n_used = 0;
	for (size_t i = 0; i < n; i++) {
		struct zl_err ignored = ZL_ERR_INIT;
		if (net_ipv4_parse(leased[i], &used[n_used], &ignored) == 0)
			n_used++;
	}
	state_names_free(leased, n);
	uint32_t pick = 0;
	int r = 0;
	struct zl_err ignored = ZL_ERR_INIT;
	bool keep = x->prefer_ip && net_ipv4_parse(x->prefer_ip, &pick, &ignored) == 0 &&
		    net_subnet_is_host(x->subnet, pick);
	for (size_t i = 0; keep && i < n_used; i++)
		keep = used[i] != pick;
	if (!keep)
		r = net_ipam_pick(x->subnet, used, n_used, &pick, err);
	free(used);
	if (r < 0)
		return -1;
	char text[NET_IPV4_STRLEN];
	net_ipv4_format(pick, text);
	free(*ip);
	*ip = zl_xstrdup(text);
	return 0;
}

static int do_create(const struct exec_ctx *x, struct zl_err *err)
{
	const struct plan_action *a = x->a;
	const struct plan_desired_service *ds = a->desired;
	struct spec_kv *env = NULL;
	size_t env_count = 0;
	int64_t journal_id = 0;
	int ret = -1;

	struct state_replica row = {
		.deployment = zl_xstrdup(a->deployment),
		.service = zl_xstrdup(a->service),
		.index = a->index,
		.backend = zl_xstrdup(ds->backend ? ds->backend : x->b->ops->name),
		.backend_id = zl_xstrdup(x->backend_id),
		.state = STATE_REPLICA_CREATING,
		.pid = -1,
		.pid_start_time = -1,
		.exit_code = -1,
		.spec_hash = zl_xstrdup(ds->spec_hash),
		.spec_sections = zl_xstrdup(ds->sections),
		.image_digest = zl_xstrdup(ds->image.manifest_digest),
		.created_at = now(x),
		.updated_at = now(x),
	};
	/* Another replica with this id would be this one's container, netns and
	 * veth: creating (and cleaning up after a failed create) would destroy it. */
	_cleanup_free_ char *owner = NULL;
	if (state_replica_id_owner(x->db, x->backend_id, a->deployment, a->service, a->index,
				   &owner, err) < 0)
		goto out;
	if (owner) {
		zl_fail(err, "%s/%s-rep-%d: its id %s is already %s's; rename the deployment or "
				"the service",
			   a->deployment, a->service, a->index, x->backend_id, owner);
		goto out;
	}
	bool lease = wants_bridge(x, ds);
	if (lease && claim_bridge(x, err) < 0)
		goto out;
	if (journal_start(x, "create", ds->spec_hash, &row, lease, &journal_id, err) < 0)
		goto out;

	struct zl_err act = ZL_ERR_INIT;
	bool init_fail = false; /* init steps failed (reconcile/init.c) */
	int r = ds->image_error ? zl_fail(&act, "image: %s", ds->image_error) : 0;
	if (r == 0)
		r = spec_service_resolve_env(ds->svc, x->secrets_dir, &env, &env_count, &act);
	if (r == 0) {
		struct backend_replica_spec rs = {
			.deployment = a->deployment,
			.service = ds->svc,
			.index = a->index,
			.backend_id = x->backend_id,
			.spec_hash = ds->spec_hash,
			.env = env,
			.env_count = env_count,
			.image_digest = ds->image.manifest_digest,
			.image_config = ds->image.config,
			.layer_dirs = (const char *const *)ds->image.layer_dirs,
			.layer_count = ds->image.layer_count,
			.module_path = ds->image.module_path,
			.backend = ds->backend,
			.ip = row.ip,
			.bridge = x->bridge ? x->bridge : NET_DEFAULT_BRIDGE,
			.subnet = x->subnet,
			.names = x->names,
		};
		r = x->b->ops->create(x->b, &rs, &act);
		if (r < 0)
			zl_err_prefix(&act, "create");
		if (r == 0) { /* events: the container exists before init steps and start */
			_cleanup_free_ char *msg = NULL;
			struct cJSON *data = events_create_data(&rs, x->b->ops->name, &msg);
			note_event(x, "created", msg, data);
		}
		/* init steps run after create, before start (reconcile/init.c) */
		if (r == 0 && (r = init_run_steps(x->b, a, x->backend_id, env, env_count, &act)) < 0)
			init_fail = true;
		if (r == 0 && (r = x->b->ops->start(x->b, x->backend_id, &act)) < 0)
			zl_err_prefix(&act, "start");
	}
	if (r < 0) {
		/* Leave nothing behind in the backend; the row records the failure. */
		struct zl_err ignored = ZL_ERR_INIT;
		if (x->b->ops->remove(x->b, x->backend_id, &ignored) < 0)
			zl_log(ZL_LOG_WARN, "cleanup %s: %s", x->backend_id, ignored.msg);
		row.state = STATE_REPLICA_FAILED;
		row.error = zl_xstrdup(act.msg);
		row.updated_at = now(x);
		/* Nothing runs: the address goes back to the pool (record_result). */
		free(row.ip);
		row.ip = NULL;
		if (init_fail) /* errors.on_init_failure: backoff (reconcile/init.c) */
			row.backoff_until = init_backoff_until(x->db, a, now(x));
		record_result(x, journal_id, STATE_JOURNAL_FAILED, &row, false, "failed", act.msg,
			      err);
		*err = act;
		goto out;
	}

	row.state = STATE_REPLICA_RUNNING;
	row.started_at = now(x);
	take_backend_state(x, &row);
	row.updated_at = now(x);
	char started[48]; /* events: the facts of a start */
	snprintf(started, sizeof(started), "{\"pid\":%lld}", (long long)row.pid);
	ret = record_result_data(x, journal_id, STATE_JOURNAL_DONE, &row, true, "started",
				 "created and started", row.pid > 0 ? started : NULL, err);
	/* Last use feeds `zlapply images`; losing it is harmless. */
	struct zl_err ignored = ZL_ERR_INIT;
	if (ret == 0 && ds->image.reference &&
	    state_image_touch(x->db, ds->image.reference, now(x), &ignored) < 0)
		zl_log(ZL_LOG_DEBUG, "%s", ignored.msg);
out:
	spec_kv_free(env, env_count);
	state_replica_clear(&row);
	return ret;
}

static int journal_remove(const struct exec_ctx *x, const struct state_replica *current,
			  int64_t *journal_id, struct zl_err *err)
{
	struct state_replica row;
	state_replica_copy(&row, current);
	row.state = STATE_REPLICA_REMOVING;
	row.updated_at = now(x);
	int ret = journal_start(x, "remove", current->spec_hash, &row, false, journal_id, err);
	state_replica_clear(&row);
	return ret;
}

int execute_journal_remove(struct state_db *db, const struct plan_action *a,
			   const struct state_replica *current, const struct execute_env *env,
			   int64_t *journal_id, struct zl_err *err)
{
	struct exec_ctx x = { .db = db, .a = a, .clock_ms = env ? env->clock_ms : NULL };
	return journal_remove(&x, current, journal_id, err);
}

static int do_remove(const struct exec_ctx *x, const struct state_replica *current,
		     struct zl_err *err)
{
	const struct plan_action *a = x->a;
	int64_t journal_id = a->journal_id;
	struct state_replica row;
	if (journal_id == 0 && journal_remove(x, current, &journal_id, err) < 0)
		return -1;

	/* A service gone from the spec: 0 / -1 ask the backend for the stop
	 * settings recorded when the replica was created. */
	int signo = a->desired ? spec_stop_signal(a->desired->svc) : 0;
	int64_t grace = a->desired ? a->desired->svc->stop_grace_ms : -1;
	struct backend_state st;
	struct zl_err act = ZL_ERR_INIT;
	int r = x->b->ops->state(x->b, x->backend_id, &st, &act);
	if (r == 0 && st.status == BACKEND_STATUS_RUNNING &&
	    (r = x->b->ops->stop(x->b, x->backend_id, signo, grace, &act)) < 0)
		zl_err_prefix(&act, "stop");
	else if (r == 0 && st.status == BACKEND_STATUS_RUNNING) /* events */
		note_event(x, "stopped", a->reason ? a->reason : "stopped", NULL);
	if (r == 0 && keeps_runs(a)) {
		struct zl_err ignored = ZL_ERR_INIT;
		bool known = x->b->ops->state(x->b, x->backend_id, &st, &ignored) == 0;
		close_run(x, known ? &st : NULL);
	}
	if (r == 0 && (r = x->b->ops->remove(x->b, x->backend_id, &act)) < 0)
		zl_err_prefix(&act, "remove");
	if (r < 0) {
		/* The row stays, marked failed, so the next run tries again; it
		 * keeps a PID only while the process really runs. */
		state_replica_copy(&row, current);
		row.state = STATE_REPLICA_FAILED;
		struct zl_err ignored = ZL_ERR_INIT;
		if (x->b->ops->state(x->b, x->backend_id, &st, &ignored) < 0 ||
		    st.status != BACKEND_STATUS_RUNNING) {
			row.pid = -1;
			row.pid_start_time = -1;
		}
		free(row.error);
		row.error = zl_xstrdup(act.msg);
		row.updated_at = now(x);
		record_result(x, journal_id, STATE_JOURNAL_FAILED, &row, false, "failed", act.msg,
			      err);
		state_replica_clear(&row);
		*err = act;
		return -1;
	}
	return record_result(x, journal_id, STATE_JOURNAL_DONE, NULL, false, "removed",
			     a->reason ? a->reason : "removed", err);
}

void execute_mark_restarted(struct state_replica *row, int64_t now_ms)
{
	row->state = STATE_REPLICA_RUNNING;
	row->restarts++;
	row->exit_code = -1;
	row->exit_signal = 0;
	free(row->exit_reason);
	row->exit_reason = NULL;
	row->finished_at = 0;
	free(row->health); /* health.c: a restarted replica's probes start afresh */
	row->health = NULL;
	row->started_at = now_ms;
}

/* Restarts an exited replica, or a running one (a liveness restart): the
 * journal entry comes first, so a run killed during the stop grace leaves a
 * pending restart that recovery completes (reconcile/recover.c). */
static int do_restart(const struct exec_ctx *x, const struct state_replica *current,
		      struct zl_err *err)
{
	int64_t journal_id = 0;
	if (journal_start(x, "restart", current->spec_hash, NULL, false, &journal_id, err) < 0)
		return -1;
	struct state_replica row;
	state_replica_copy(&row, current);
	struct zl_err act = ZL_ERR_INIT;
	struct backend_state st;
	struct zl_err ignored = ZL_ERR_INIT;
	bool known = x->b->ops->state(x->b, x->backend_id, &st, &ignored) == 0;
	int r = 0;
	if (known && st.status == BACKEND_STATUS_RUNNING) {
		const struct spec_service *svc = x->a->desired ? x->a->desired->svc : NULL;
		r = x->b->ops->stop(x->b, x->backend_id, spec_stop_signal(svc),
				    svc ? svc->stop_grace_ms : -1, &act);
		if (r < 0)
			zl_err_prefix(&act, "stop");
		else
			known = x->b->ops->state(x->b, x->backend_id, &st, &ignored) == 0;
	}
	if (r == 0 && keeps_runs(x->a))
		close_run(x, known ? &st : NULL);
	if (r == 0 && (r = x->b->ops->start(x->b, x->backend_id, &act)) < 0) {
		zl_err_prefix(&act, "start");
		row.state = STATE_REPLICA_FAILED;
		row.pid = row.pid_start_time = -1;
	}
	int ret;
	if (r < 0) {
		free(row.error);
		row.error = zl_xstrdup(act.msg);
		row.updated_at = now(x);
		record_result(x, journal_id, STATE_JOURNAL_FAILED, &row, false, "failed", act.msg,
			      err);
		*err = act;
		ret = -1;
	} else {
		execute_mark_restarted(&row, now(x));
		take_backend_state(x, &row);
		row.updated_at = now(x);
		/* events: the restart count and the back-off it waited */
		_cleanup_free_ char *msg = NULL;
		_cleanup_free_ char *data = events_restart_data(
			current, row.restarts, x->a->reason ? x->a->reason : "restarted", &msg);
		ret = record_result_data(x, journal_id, STATE_JOURNAL_DONE, &row, true, "restarted",
					 msg, data, err);
	}
	state_replica_clear(&row);
	return ret;
}

int execute_action(struct state_db *db, struct backend *b, const struct plan_action *a,
		   const struct state_replica *current, const struct execute_env *env,
		   struct zl_err *err)
{
	static const struct net_subnet default_subnet = NET_DEFAULT_SUBNET_VALUE;
	struct exec_ctx x = {
		.db = db,
		.b = b,
		.a = a,
		.secrets_dir = env ? env->secrets_dir : NULL,
		.clock_ms = env ? env->clock_ms : NULL,
		.bridge = env ? env->bridge : NULL,
		.subnet = env && env->subnet ? env->subnet : &default_subnet,
		.names = env ? env->names : NULL,
		.backend_id = current && current->backend_id
				      ? zl_xstrdup(current->backend_id)
				      : backend_replica_id(a->deployment, a->service, a->index),
	};
	int r = -1;
	switch (a->kind) {
	case PLAN_CREATE:
		r = do_create(&x, err);
		break;
	case PLAN_REMOVE:
		r = current ? do_remove(&x, current, err) : 0;
		break;
	case PLAN_RECREATE:
		r = current ? do_remove(&x, current, err) : 0;
		if (r == 0) {
			/* the workers of a rolling batch free and take addresses at
			 * the same time: each replica keeps its own */
			x.prefer_ip = current ? current->ip : NULL;
			free(x.backend_id);
			x.backend_id = backend_replica_id(a->deployment, a->service, a->index);
			r = do_create(&x, err);
		}
		break;
	case PLAN_RESTART:
		r = current ? do_restart(&x, current, err) : do_create(&x, err);
		break;
	}
	free(x.backend_id);
	if (r < 0)
		zl_err_prefix(err, "%s %s-rep-%d", plan_action_name(a->kind), a->service, a->index);
	return r;
}

/* ---- restarts, jobs and cron: the steps around the planner ---- */

int execute_prepare_desired(struct state_db *db, const struct reconcile_opts *opts,
			    struct plan_desired *desired, struct zl_err *err)
{
	if (opts && opts->run_service) {
		desired->only_service = opts->run_service;
		bool here = !opts->run_deployment ||
			    strcmp(opts->run_deployment, desired->deployment) == 0;
		for (size_t i = 0; here && i < desired->count; i++)
			if (strcmp(desired->services[i].svc->name, opts->run_service) == 0)
				desired->services[i].force_run = true;
	}
	if (!db)
		return 0;
	struct state_schedules sched = { 0 };
	if (state_schedules_load(db, desired->deployment, &sched, err) < 0)
		return -1;
	for (size_t i = 0; i < sched.count; i++)
		for (size_t k = 0; k < desired->count; k++) {
			struct plan_desired_service *ds = &desired->services[k];
			if (strcmp(ds->svc->name, sched.items[i].service) != 0)
				continue;
			ds->has_schedule = true;
			ds->cron_last_s = sched.items[i].last_scheduled_s;
			ds->cron_next_s = sched.items[i].next_s;
		}
	state_schedules_free(&sched);
	return 0;
}

int execute_record_exits(struct state_db *db, const struct state_replicas *before,
			 const struct state_replicas *rows, struct zl_err *err)
{
	for (size_t i = 0; i < rows->count && i < before->count; i++) {
		const struct state_replica *n = &rows->items[i], *o = &before->items[i];
		if (n->state != STATE_REPLICA_EXITED ||
		    (o->state == STATE_REPLICA_EXITED && o->finished_at == n->finished_at))
			continue;
		if (state_run_finish(db, n->deployment, n->service, n->index, n->finished_at,
				     n->exit_code, n->exit_signal, n->exit_reason, err) < 0)
			return -1;
	}
	return 0;
}

/* Archived run logs of services no longer in the spec go with them. */
static void prune_run_dirs(const char *root, const struct plan_desired *desired)
{
	_cleanup_free_ char *dir = zl_xasprintf("%s/runs/%s", root, desired->deployment);
	DIR *d = opendir(dir);
	if (!d)
		return; /* no runs kept for this deployment */
	struct dirent *de;
	size_t left = 0;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		bool keep = false;
		for (size_t i = 0; !keep && i < desired->count; i++)
			keep = desired->services[i].svc->rtype != SPEC_RTYPE_SERVICE &&
			       strcmp(desired->services[i].svc->name, de->d_name) == 0;
		if (keep) {
			left++;
			continue;
		}
		_cleanup_free_ char *path = zl_xasprintf("%s/%s", dir, de->d_name);
		struct zl_err e = ZL_ERR_INIT;
		if (zl_rm_rf(path, &e) < 0)
			zl_log(ZL_LOG_WARN, "remove old run logs: %s", e.msg);
	}
	closedir(d);
	if (left == 0 && rmdir(dir) < 0 && errno != ENOENT && errno != ENOTEMPTY)
		zl_log(ZL_LOG_DEBUG, "remove %s: %s", dir, strerror(errno));
}

int execute_finish_plan(struct state_db *db, const char *root, const struct plan_desired *desired,
			const struct plan *p, int64_t now_ms, struct zl_err *err)
{
	if (root)
		prune_run_dirs(root, desired);
	if (!db || p->schedule_count == 0)
		return 0;
	int r = state_begin(db, err);
	for (size_t i = 0; r == 0 && i < p->schedule_count; i++) {
		const struct plan_schedule *s = &p->schedules[i];
		const char *service = s->desired->svc->name;
		r = s->remove ? state_schedule_delete(db, desired->deployment, service, err)
			      : state_schedule_put(db, desired->deployment, service,
						   s->last_scheduled_s, s->next_s, err);
		if (r == 0 && s->note)
			r = state_event_add(db, now_ms, desired->deployment, service, 0, "skipped",
					    s->note, err);
		if (r == 0 && s->note)
			zl_log(ZL_LOG_INFO, "%s: %s: %s", desired->deployment, service, s->note);
	}
	if (r == 0)
		r = state_commit(db, err);
	if (r < 0) {
		state_rollback(db);
		zl_err_prefix(err, "record schedules");
	}
	return r;
}

int reconcile_status_runs(const char *root, const char *deployment, struct state_runs *runs,
			  struct state_schedules *schedules, struct zl_err *err)
{
	memset(runs, 0, sizeof(*runs));
	memset(schedules, 0, sizeof(*schedules));
	struct state_db *db = NULL;
	int opened = root_open_read(root, &db, err);
	if (opened != 0)
		return opened < 0 ? -1 : 0; /* 1: nothing recorded yet */
	int r = state_runs_load(db, deployment, runs, err);
	if (r == 0)
		r = state_schedules_load(db, deployment, schedules, err);
	state_close(db);
	if (r < 0) {
		state_runs_free(runs);
		state_schedules_free(schedules);
	}
	return r;
}

int reconcile_run_stopped(const struct reconcile_opts *opts, const char *deployment,
			  const char *service, struct zl_err *err)
{
	struct state_lock lock = { .fd = -1 };
	struct state_db *db = NULL;
	struct backend *b = NULL;
	struct state_replicas rows = { 0 };
	int64_t t = opts->clock_ms ? opts->clock_ms() : zl_now_ms();
	int r = state_lock_acquire(opts->root, opts->lock_timeout_ms, &lock, err);
	if (r == 0)
		r = state_open(opts->root, false, &db, err);
	if (r == 0)
		r = reconcile_backend_open(opts, NULL, &b, err);
	if (r == 0)
		r = state_replicas_load(db, deployment, &rows, err);
	if (r == 0)
		r = state_begin(db, err);
	for (size_t i = 0; r == 0 && i < rows.count; i++) {
		struct state_replica *row = &rows.items[i];
		struct backend_state st;
		struct zl_err ignored = ZL_ERR_INIT;
		if (strcmp(row->service, service) != 0 || !row->backend_id ||
		    b->ops->state(b, row->backend_id, &st, &ignored) < 0 ||
		    st.status != BACKEND_STATUS_EXITED)
			continue;
		row->state = STATE_REPLICA_STOPPED;
		row->exit_code = st.exit_code;
		row->exit_signal = st.exit_signal;
		free(row->exit_reason);
		row->exit_reason = zl_xstrdup(st.exit_reason[0] ? st.exit_reason : "exited");
		row->finished_at = st.finished_at ? st.finished_at : t;
		row->pid = row->pid_start_time = -1;
		row->backoff_until = 0;
		row->updated_at = t;
		r = state_replica_upsert(db, row, err);
		if (r == 0)
			r = state_run_finish(db, deployment, service, row->index, row->finished_at,
					     st.exit_code, st.exit_signal, "timeout", err);
		if (r == 0)
			r = state_event_add(db, t, deployment, service, row->index, "stopped",
					    "run --timeout ran out", err);
	}
	if (r == 0)
		r = state_commit(db, err);
	else if (db)
		state_rollback(db);
	state_replicas_free(&rows);
	backend_close(b);
	state_close(db);
	state_lock_release(&lock);
	if (r < 0)
		zl_err_prefix(err, "record the stopped run of %s", service);
	return r;
}
