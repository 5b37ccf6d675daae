/* adopt.c: state lost, replicas kept. When state.db is missing, reset or
 * restored from an older copy while replicas run, the backend still holds
 * them, with the records it wrote at create (deployment, service, index,
 * spec hash, image). A run rebuilds the rows it can prove from those
 * records and adopts the replicas, instead of planning creates that would
 * collide with them (and whose clean-up once killed them). The planner
 * then treats them like any replica: a matching spec hash is left alone, a
 * different one is replaced with the rolling rules. Replicas no record
 * names are left for `zlapply doctor`; a pending journal entry for the
 * replica is recovery's to settle, not adoption's.
 *
 * Cheap on the no-op path: the backend skips every id a row already names
 * without reading anything of it. */
#include "reconcile-internal.h"

#include <stdlib.h>
#include <string.h>

/* The ids rows and pending journal entries know, sorted for bsearch: the
 * no-op path asks once per replica the backend holds. */
struct known_ids {
	char **ids;
	size_t count;
};

static int cmp_id(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Takes over ids (sorted by the database) and adds the pending entries'. */
static void known_ids_build(struct known_ids *k, char **ids, size_t n,
			    const struct state_journal *pending)
{
	k->ids = zl_xcalloc(n + pending->count + 1, sizeof(*k->ids));
	if (n) /* memcpy's source may not be NULL, even for 0 bytes */
		memcpy(k->ids, ids, n * sizeof(*ids));
	free(ids);
	k->count = n;
	for (size_t i = 0; i < pending->count; i++) {
		const struct state_journal_entry *e = &pending->items[i];
		k->ids[k->count++] = backend_replica_id(e->deployment, e->service, e->index);
	}
	if (pending->count) /* the ids came sorted; the entries did not */
		qsort(k->ids, k->count, sizeof(*k->ids), cmp_id);
}

static void known_ids_free(struct known_ids *k)
{
	for (size_t i = 0; i < k->count; i++)
		free(k->ids[i]);
	free(k->ids);
}

static bool id_known(void *ctx, const char *backend_id)
{
	const struct known_ids *k = ctx;
	return bsearch(&backend_id, k->ids, k->count, sizeof(*k->ids), cmp_id) != NULL;
}

/* The backend whose records all the held replicas came from; NULL when
 * they came from several. */
static const char *adopted_from(const struct backend_held *held, size_t n, const char *plain)
{
	const char *first = NULL;
	for (size_t i = 0; i < n; i++) {
		const char *name = held[i].backend ? held[i].backend : plain;
		if (!first)
			first = name;
		else if (strcmp(first, name) != 0)
			return NULL;
	}
	return first;
}

/* One held replica as a row, refreshed from the backend; -1 when the
 * backend cannot say what state it is in (left for doctor). */
static int row_of(struct backend *b, const struct backend_held *h, int64_t now_ms,
		  struct state_replica *r)
{
	struct backend_state st;
	struct zl_err ignored = ZL_ERR_INIT;
	if (b->ops->state(b, h->backend_id, &st, &ignored) < 0 || st.status == BACKEND_STATUS_MISSING)
		return -1;
	state_replica_init(r);
	r->deployment = zl_xstrdup(h->deployment);
	r->service = zl_xstrdup(h->service);
	r->index = h->index;
	r->backend = zl_xstrdup(h->backend ? h->backend : b->ops->name);
	r->backend_id = zl_xstrdup(h->backend_id);
	r->spec_hash = h->spec_hash ? zl_xstrdup(h->spec_hash) : NULL;
	r->image_digest = h->image_digest ? zl_xstrdup(h->image_digest) : NULL;
	r->ip = st.ip[0] ? zl_xstrdup(st.ip) : NULL;
	r->netns = st.netns[0] ? zl_xstrdup(st.netns) : NULL;
	r->created_at = r->updated_at = now_ms;
	r->started_at = st.started_at;
	switch (st.status) {
	case BACKEND_STATUS_RUNNING:
		r->state = st.fault[0] ? STATE_REPLICA_UNKNOWN : STATE_REPLICA_RUNNING;
		r->pid = st.pid;
		r->pid_start_time = st.pid_start_time;
		if (st.fault[0])
			r->exit_reason = zl_xstrdup(st.fault);
		break;
	case BACKEND_STATUS_CREATED:
		r->state = STATE_REPLICA_CREATED;
		break;
	case BACKEND_STATUS_EXITED:
		r->state = STATE_REPLICA_EXITED;
		r->exit_code = st.exit_code;
		r->exit_signal = st.exit_signal;
		r->exit_reason = st.exit_reason[0] ? zl_xstrdup(st.exit_reason) : NULL;
		r->finished_at = st.finished_at;
		break;
	default:
		r->state = STATE_REPLICA_UNKNOWN;
		break;
	}
	return 0;
}

/* Records r with its lease and an event, in one transaction. A row another
 * replica's lease or id collides with is not adopted (logged). */
static int record(struct state_db *db, const struct state_replica *r, int64_t now_ms,
		  struct zl_err *err)
{
	if (state_begin(db, err) < 0)
		return -1;
	int rc = state_replica_upsert(db, r, err);
	if (rc == 0 && r->ip)
		rc = state_lease_put(db, r->ip, r->deployment, r->service, r->index, now_ms, err);
	if (rc == 0)
		rc = state_event_add(db, now_ms, r->deployment, r->service, r->index, "adopted",
				     "the state database did not know it; adopted from the backend's records",
				     err);
	if (rc == 0)
		return state_commit(db, err);
	state_rollback(db);
	return -1;
}

int adopt_held(struct state_db *db, struct backend *b, int64_t now_ms, size_t *adopted,
	       struct zl_err *err)
{
	*adopted = 0;
	if (!b || !b->ops->held)
		return 0;
	struct state_journal pending = { 0 };
	struct backend_held *held = NULL;
	char **ids = NULL;
	size_t n = 0, n_ids = 0;
	int ret = -1;
	/* The ids alone: a no-op apply must not load every row twice. */
	if (state_replica_ids(db, &ids, &n_ids, err) < 0 ||
	    state_journal_pending(db, NULL, &pending, err) < 0) {
		state_names_free(ids, n_ids);
		goto out;
	}
	struct known_ids k;
	known_ids_build(&k, ids, n_ids, &pending);
	int hr = b->ops->held(b, id_known, &k, &held, &n, err);
	known_ids_free(&k);
	if (hr < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct state_replica r;
		if (row_of(b, &held[i], now_ms, &r) < 0)
			continue;
		struct zl_err rerr = ZL_ERR_INIT;
		if (record(db, &r, now_ms, &rerr) < 0)
			zl_log(ZL_LOG_WARN, "adopt %s-rep-%d of %s: %s", r.service, r.index, r.deployment,
			       rerr.msg);
		else
			++*adopted;
		state_replica_clear(&r);
	}
	const char *from = adopted_from(held, n, b->ops->name);
	if (*adopted)
		zl_log(ZL_LOG_WARN, "adopted %zu replica%s the state database did not know (from the %s%s records)",
		       *adopted, *adopted == 1 ? "" : "s", from ? from : "backends'",
		       from ? " backend's" : "");
	ret = 0;
out:
	backend_held_free(held, n);
	state_journal_free(&pending);
	return ret;
}
