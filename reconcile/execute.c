/* execute.c: carry out one planned action against the backend.
 *
 * Every action is journaled (state_journal_begin) in the same transaction
 * that marks the replica row as in flight, before the backend is touched,
 * and finished in the same transaction that records the result. A crash in
 * between leaves a pending entry that recover.c settles at the next run. */
#include "reconcile.h"

#include <signal.h>
#include <string.h>

#include "net/net.h"

#define DEFAULT_STOP_GRACE_MS 10000

struct exec_ctx {
	struct state_db *db;
	struct backend *b;
	const struct plan_action *a;
	const char *secrets_dir;
	int64_t (*clock_ms)(void);
	const char *bridge, *subnet; /* for backends that want networking */
	char *backend_id; /* owned */
};

static int64_t now(const struct exec_ctx *x)
{
	return x->clock_ms ? x->clock_ms() : zl_now_ms();
}

/* Records row, finishes the journal entry and adds an event, atomically.
 * row NULL deletes the replica's row instead. */
static int record_result(const struct exec_ctx *x, int64_t journal_id,
			 enum state_journal_status status, const struct state_replica *row,
			 const char *event_kind, const char *message, struct zl_err *err)
{
	const struct plan_action *a = x->a;
	int64_t t = now(x);
	if (state_begin(x->db, err) < 0)
		return -1;
	int r = row ? state_replica_upsert(x->db, row, err)
		    : state_replica_delete(x->db, a->deployment, a->service, a->index, err);
	/* A removed replica's address goes back to the pool with its row. */
	if (r == 0 && !row)
		r = state_lease_delete(x->db, a->deployment, a->service, a->index, err);
	if (r == 0)
		r = state_journal_finish(x->db, journal_id, status, message, t, err);
	if (r == 0)
		r = state_event_add(x->db, t, a->deployment, a->service, a->index, event_kind,
				    message, err);
	if (r == 0)
		r = state_commit(x->db, err);
	if (r < 0)
		state_rollback(x->db);
	return r;
}

/* Journals action `name` and writes row (the in-flight state) atomically,
 * with the replica's address lease when row->ip is a new lease. */
static int journal_start(const struct exec_ctx *x, const char *name, const char *spec_hash,
			 const struct state_replica *row, bool lease, int64_t *journal_id,
			 struct zl_err *err)
{
	const struct plan_action *a = x->a;
	if (state_begin(x->db, err) < 0)
		return -1;
	int r = state_journal_begin(x->db, a->deployment, a->service, a->index, name, spec_hash,
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

/* Bridge networking: the backend gives it and the service wants it. */
static bool wants_bridge(const struct exec_ctx *x, const struct spec_service *svc)
{
	if (!x->b->ops->wants_network || !x->b->ops->wants_network(x->b))
		return false;
	const char *mode = svc->network_mode;
	return !mode || strcmp(mode, "default") == 0 || strcmp(mode, "bridge") == 0 ||
	       strncmp(mode, "bridge:", 7) == 0;
}

/* The lowest free address of the subnet (the apply lock makes this safe). */
static int pick_address(const struct exec_ctx *x, char **ip, struct zl_err *err)
{
	struct net_subnet subnet;
	if (net_subnet_parse(x->subnet ? x->subnet : NET_DEFAULT_SUBNET, &subnet, err) < 0)
		return -1;
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
	int r = net_ipam_pick(&subnet, used, n_used, &pick, err);
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
		.backend = zl_xstrdup(x->b->ops->name),
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
	bool lease = false;
	if (wants_bridge(x, ds->svc)) {
		if (pick_address(x, &row.ip, err) < 0)
			goto out;
		lease = true;
	}
	if (journal_start(x, "create", ds->spec_hash, &row, lease, &journal_id, err) < 0)
		goto out;

	struct zl_err act = ZL_ERR_INIT;
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
			.ip = row.ip,
			.bridge = x->bridge ? x->bridge : NET_DEFAULT_BRIDGE,
			.subnet = x->subnet ? x->subnet : NET_DEFAULT_SUBNET,
		};
		r = x->b->ops->create(x->b, &rs, &act);
		if (r == 0 && (r = x->b->ops->start(x->b, x->backend_id, &act)) < 0)
			zl_err_prefix(&act, "start");
		else if (r < 0)
			zl_err_prefix(&act, "create");
	}
	if (r < 0) {
		/* Leave nothing behind in the backend; the row records the failure. */
		struct zl_err ignored = ZL_ERR_INIT;
		if (x->b->ops->remove(x->b, x->backend_id, &ignored) < 0)
			zl_log(ZL_LOG_WARN, "cleanup %s: %s", x->backend_id, ignored.msg);
		row.state = STATE_REPLICA_FAILED;
		row.error = zl_xstrdup(act.msg);
		row.updated_at = now(x);
		record_result(x, journal_id, STATE_JOURNAL_FAILED, &row, "failed", act.msg, err);
		*err = act;
		goto out;
	}

	row.state = STATE_REPLICA_RUNNING;
	row.started_at = now(x);
	take_backend_state(x, &row);
	row.updated_at = now(x);
	ret = record_result(x, journal_id, STATE_JOURNAL_DONE, &row, "started", "created and started",
			    err);
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

static int do_remove(const struct exec_ctx *x, const struct state_replica *current,
		     struct zl_err *err)
{
	const struct plan_action *a = x->a;
	int64_t journal_id = 0;
	struct state_replica row;
	state_replica_copy(&row, current);
	row.state = STATE_REPLICA_REMOVING;
	row.updated_at = now(x);
	int ret = journal_start(x, "remove", current->spec_hash, &row, false, &journal_id, err);
	state_replica_clear(&row);
	if (ret < 0)
		return -1;

	int signo = a->desired ? a->desired->svc->stop_signal : SIGTERM;
	int64_t grace = a->desired ? a->desired->svc->stop_grace_ms : DEFAULT_STOP_GRACE_MS;
	struct backend_state st;
	struct zl_err act = ZL_ERR_INIT;
	int r = x->b->ops->state(x->b, x->backend_id, &st, &act);
	if (r == 0 && st.status == BACKEND_STATUS_RUNNING &&
	    (r = x->b->ops->stop(x->b, x->backend_id, signo ? signo : SIGTERM, grace, &act)) < 0)
		zl_err_prefix(&act, "stop");
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
		record_result(x, journal_id, STATE_JOURNAL_FAILED, &row, "failed", act.msg, err);
		state_replica_clear(&row);
		*err = act;
		return -1;
	}
	return record_result(x, journal_id, STATE_JOURNAL_DONE, NULL, "removed",
			     a->reason ? a->reason : "removed", err);
}

static int do_restart(const struct exec_ctx *x, const struct state_replica *current,
		      struct zl_err *err)
{
	int64_t journal_id = 0;
	if (journal_start(x, "restart", current->spec_hash, NULL, false, &journal_id, err) < 0)
		return -1;
	struct state_replica row;
	state_replica_copy(&row, current);
	struct zl_err act = ZL_ERR_INIT;
	int ret;
	if (x->b->ops->start(x->b, x->backend_id, &act) < 0) {
		zl_err_prefix(&act, "start");
		row.state = STATE_REPLICA_FAILED;
		free(row.error);
		row.error = zl_xstrdup(act.msg);
		row.updated_at = now(x);
		record_result(x, journal_id, STATE_JOURNAL_FAILED, &row, "failed", act.msg, err);
		*err = act;
		ret = -1;
	} else {
		row.state = STATE_REPLICA_RUNNING;
		row.restarts++;
		row.exit_code = -1;
		row.exit_signal = 0;
		free(row.exit_reason);
		row.exit_reason = NULL;
		row.finished_at = 0;
		row.started_at = now(x);
		take_backend_state(x, &row);
		row.updated_at = now(x);
		ret = record_result(x, journal_id, STATE_JOURNAL_DONE, &row, "restarted",
				    x->a->reason ? x->a->reason : "restarted", err);
	}
	state_replica_clear(&row);
	return ret;
}

int execute_action(struct state_db *db, struct backend *b, const struct plan_action *a,
		   const struct state_replica *current, const struct execute_env *env,
		   struct zl_err *err)
{
	struct exec_ctx x = {
		.db = db,
		.b = b,
		.a = a,
		.secrets_dir = env ? env->secrets_dir : NULL,
		.clock_ms = env ? env->clock_ms : NULL,
		.bridge = env ? env->bridge : NULL,
		.subnet = env ? env->subnet : NULL,
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
