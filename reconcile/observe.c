/* observe.c: refresh recorded replica rows from what the backend reports.
 * Cheap by contract: backend state() reads /proc and the monitor's exit
 * record (or the mock's file); no subprocess per replica. */
#include "reconcile-internal.h"

#include <string.h>

static bool same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* Sets *dst to a copy of value; true when that changed it. */
static bool set_str(char **dst, const char *value)
{
	if (same_str(*dst, value))
		return false;
	free(*dst);
	*dst = zl_xstrdup(value);
	return true;
}

/* What observe sets, but for the strings. */
static bool scalars_changed(const struct state_replica *a, const struct state_replica *b)
{
	return a->state != b->state || a->pid != b->pid || a->pid_start_time != b->pid_start_time ||
	       a->exit_code != b->exit_code || a->exit_signal != b->exit_signal ||
	       a->started_at != b->started_at || a->finished_at != b->finished_at;
}

bool observe_row_changed(const struct state_replica *a, const struct state_replica *b)
{
	return scalars_changed(a, b) || !same_str(a->ip, b->ip) || !same_str(a->netns, b->netns) ||
	       !same_str(a->exit_reason, b->exit_reason);
}

/* Applies one backend observation to row r; returns true when r changed
 * (what observe_row_changed compares). The scalars are kept aside and the
 * strings (ip, netns, exit_reason) report their own change: a deep copy of
 * the row per replica (its spec_sections alone ~1 KB) was an eighth of
 * the instructions of observing 10,000. */
static bool apply_observation(struct state_replica *r, const struct backend_state *st,
			      int64_t now_ms)
{
	const struct state_replica was = {
		.state = r->state, .pid = r->pid, .pid_start_time = r->pid_start_time,
		.exit_code = r->exit_code, .exit_signal = r->exit_signal,
		.started_at = r->started_at, .finished_at = r->finished_at,
	};
	bool strings = false;

	switch (st->status) {
	case BACKEND_STATUS_RUNNING:
		if (st->fault[0]) {
			/* Running but cut off (its network deleted by hand): lost,
			 * so the next apply replaces it; status says why. */
			r->state = STATE_REPLICA_UNKNOWN;
			strings |= set_str(&r->exit_reason, st->fault);
			r->pid = st->pid;
			r->pid_start_time = st->pid_start_time;
			break;
		}
		r->state = STATE_REPLICA_RUNNING;
		r->pid = st->pid;
		r->pid_start_time = st->pid_start_time;
		if (st->started_at)
			r->started_at = st->started_at;
		break;
	case BACKEND_STATUS_CREATED:
		r->state = STATE_REPLICA_CREATED;
		break;
	case BACKEND_STATUS_EXITED:
		r->state = r->state == STATE_REPLICA_STOPPED ? STATE_REPLICA_STOPPED
							     : STATE_REPLICA_EXITED;
		r->exit_code = st->exit_code;
		r->exit_signal = st->exit_signal;
		strings |= set_str(&r->exit_reason, st->exit_reason[0] ? st->exit_reason : NULL);
		if (st->finished_at)
			r->finished_at = st->finished_at;
		r->pid = -1;
		r->pid_start_time = -1;
		break;
	case BACKEND_STATUS_MISSING:
	case BACKEND_STATUS_UNKNOWN:
		r->state = STATE_REPLICA_UNKNOWN;
		r->pid = -1;
		r->pid_start_time = -1;
		break;
	}
	if (st->ip[0])
		strings |= set_str(&r->ip, st->ip);
	if (st->netns[0])
		strings |= set_str(&r->netns, st->netns);

	bool changed = strings || scalars_changed(&was, r);
	if (changed)
		r->updated_at = now_ms;
	return changed;
}

size_t observe_refresh(struct backend *b, struct state_replicas *rows, int64_t now_ms)
{
	size_t changed = 0;
	for (size_t i = 0; i < rows->count; i++) {
		struct state_replica *r = &rows->items[i];
		/* In-flight rows belong to recovery; failed ones have nothing to ask. */
		if (r->state == STATE_REPLICA_CREATING || r->state == STATE_REPLICA_REMOVING ||
		    r->state == STATE_REPLICA_FAILED || !r->backend_id)
			continue;
		struct backend_state st;
		struct zl_err err = ZL_ERR_INIT;
		if (b->ops->state(b, r->backend_id, &st, &err) < 0) {
			zl_log(ZL_LOG_WARN, "observe %s-rep-%d: %s", r->service, r->index, err.msg);
			continue;
		}
		if (st.fault[0] && r->state == STATE_REPLICA_RUNNING)
			zl_log(ZL_LOG_WARN, "%s-rep-%d: %s: %s; the next apply replaces it", r->service,
			       r->index, st.fault, st.fault_detail);
		if (apply_observation(r, &st, now_ms))
			changed++;
	}
	return changed;
}
