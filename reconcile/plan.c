/* plan.c: the pure planner. desired + observed rows + now -> ordered actions.
 * No I/O and no clock reads, so it is tested exhaustively with tables. */
#include "reconcile.h"

#include <string.h>

const char *plan_action_name(enum plan_action_kind k)
{
	switch (k) {
	case PLAN_CREATE: return "create";
	case PLAN_RECREATE: return "recreate";
	case PLAN_RESTART: return "restart";
	case PLAN_REMOVE: return "remove";
	}
	return "?";
}

void plan_free(struct plan *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->count; i++) {
		free(p->items[i].deployment);
		free(p->items[i].service);
		free(p->items[i].reason);
	}
	free(p->items);
	memset(p, 0, sizeof(*p));
}

void plan_desired_free(struct plan_desired *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->count; i++) {
		free(d->services[i].sections);
		free(d->services[i].image_error);
		images_ready_clear(&d->services[i].image);
	}
	free(d->services);
	memset(d, 0, sizeof(*d));
}

static void add_action(struct plan *p, enum plan_action_kind kind, const char *deployment,
		       const char *service, int index, char *reason,
		       const struct plan_desired_service *desired)
{
	zl_grow(&p->items, sizeof(*p->items), &p->cap, p->count + 1);
	p->items[p->count++] = (struct plan_action){
		.kind = kind,
		.deployment = zl_xstrdup(deployment),
		.service = zl_xstrdup(service),
		.index = index,
		.reason = reason,
		.desired = desired,
	};
}

/* Row range [first, last) of one desired service in the sorted rows. */
struct row_range {
	size_t first, last;
};

static int cmp_desired_name(const void *a, const void *b)
{
	const struct plan_desired_service *const *x = a, *const *y = b;
	return strcmp((*x)->svc->name, (*y)->svc->name);
}

/* Index of service in the name-sorted desired pointers, or -1. */
static long find_sorted(const struct plan_desired_service **sorted, size_t count, const char *name)
{
	size_t lo = 0, hi = count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(sorted[mid]->svc->name, name);
		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* Why an exited replica should (or should not) be started again.
 * Returns a reason when it should, NULL otherwise. */
static char *restart_reason(const struct spec_service *svc, const struct state_replica *r,
			    int64_t now_ms)
{
	if (svc->rtype != SPEC_RTYPE_SERVICE)
		return NULL; /* jobs run to completion; cron runs are scheduled */
	if (r->backoff_until > now_ms)
		return NULL; /* still backing off: a later run restarts it */
	bool failed = r->exit_code != 0 || r->exit_signal != 0;
	switch (svc->restart_kind) {
	case SPEC_RESTART_NO:
		return NULL;
	case SPEC_RESTART_ON_FAILURE:
		if (!failed)
			return NULL;
		if (svc->restart_max_attempts > 0 && r->restarts >= svc->restart_max_attempts)
			return NULL;
		break;
	case SPEC_RESTART_ALWAYS:
	case SPEC_RESTART_UNLESS_STOPPED:
		break;
	case SPEC_RESTART_UNSET:
		if (svc->on_panic != SPEC_PANIC_RESTART)
			return NULL;
		break;
	}
	if (r->state == STATE_REPLICA_STOPPED && svc->restart_kind == SPEC_RESTART_UNLESS_STOPPED)
		return NULL;
	if (r->exit_signal != 0) {
		const char *name = spec_signal_name(r->exit_signal);
		return name ? zl_xasprintf("killed by %s", name)
			    : zl_xasprintf("killed by signal %d", r->exit_signal);
	}
	if (r->exit_reason && strcmp(r->exit_reason, "oom_killed") == 0)
		return zl_xstrdup("oom killed");
	return zl_xasprintf("exited %d", r->exit_code);
}

/* The action replica r needs to match desired service ds, or none. */
static void plan_existing(const struct plan_desired_service *ds, const char *deployment,
			  const struct state_replica *r, int64_t now_ms, struct plan *out)
{
	/* Without its image a replica cannot be replaced: keep the one that runs. */
	if (ds->image_error && r->state == STATE_REPLICA_RUNNING)
		return;
	if (!r->spec_hash || strcmp(r->spec_hash, ds->spec_hash) != 0) {
		_cleanup_free_ char *what = spec_sections_diff(r->spec_sections, ds->sections);
		add_action(out, PLAN_RECREATE, deployment, r->service, r->index,
			   zl_xasprintf("%s changed", what), ds);
		return;
	}
	switch (r->state) {
	case STATE_REPLICA_RUNNING:
		return;
	case STATE_REPLICA_CREATED:
		add_action(out, PLAN_RESTART, deployment, r->service, r->index,
			   zl_xstrdup("created but not started"), ds);
		return;
	case STATE_REPLICA_EXITED:
	case STATE_REPLICA_STOPPED: {
		char *why = restart_reason(ds->svc, r, now_ms);
		if (why)
			add_action(out, PLAN_RESTART, deployment, r->service, r->index, why, ds);
		return;
	}
	case STATE_REPLICA_FAILED:
		add_action(out, PLAN_RECREATE, deployment, r->service, r->index,
			   zl_xstrdup("failed before"), ds);
		return;
	case STATE_REPLICA_UNKNOWN:
		add_action(out, PLAN_RECREATE, deployment, r->service, r->index,
			   zl_xstrdup("lost by the backend"), ds);
		return;
	case STATE_REPLICA_CREATING:
	case STATE_REPLICA_REMOVING:
		/* Recovery settles these before planning; if one is left, replace it. */
		add_action(out, PLAN_RECREATE, deployment, r->service, r->index,
			   zl_xstrdup("interrupted"), ds);
		return;
	}
}

void plan_compute(const struct plan_desired *desired, const struct state_replicas *actual,
		  int64_t now_ms, struct plan *out)
{
	memset(out, 0, sizeof(*out));
	const char *dep = desired->deployment;
	size_t n_desired = desired->count;

	/* Map each row of this deployment to its desired service in one pass
	 * (binary search over names): O(rows log services), so a no-op plan of
	 * thousands of replicas stays cheap. Rows are sorted by service, index. */
	const struct plan_desired_service **sorted = zl_xcalloc(n_desired + 1, sizeof(*sorted));
	for (size_t i = 0; i < n_desired; i++)
		sorted[i] = &desired->services[i];
	qsort(sorted, n_desired, sizeof(*sorted), cmp_desired_name);
	struct row_range *ranges = zl_xcalloc(n_desired + 1, sizeof(*ranges));

	/* 1. Services no longer in the spec: remove, highest index first. */
	for (size_t i = actual->count; i-- > 0;) {
		const struct state_replica *r = &actual->items[i];
		if (strcmp(r->deployment, dep) != 0)
			continue;
		long k = find_sorted(sorted, n_desired, r->service);
		if (k < 0) {
			add_action(out, PLAN_REMOVE, dep, r->service, r->index,
				   zl_xstrdup(desired->deleting ? "deployment deleted"
								: "service removed from the spec"),
				   NULL);
			continue;
		}
		size_t d = (size_t)(sorted[k] - desired->services);
		if (ranges[d].last == 0)
			ranges[d].last = i + 1;
		ranges[d].first = i;
	}

	/* 2. Per service, dependencies first. */
	for (size_t s = 0; s < n_desired; s++) {
		const struct plan_desired_service *ds = &desired->services[s];
		const char *name = ds->svc->name;
		int want = ds->replicas;
		size_t first = ranges[s].first, last = ranges[s].last;

		/* Scale down: highest index first. */
		for (size_t i = last; i-- > first;)
			if (actual->items[i].index > want)
				add_action(out, PLAN_REMOVE, dep, name, actual->items[i].index,
					   zl_xasprintf("scale to %d", want), ds);

		/* Replicas 1..want in order; rows in [first, last) ascend by index. */
		size_t cursor = first;
		for (int n = 1; n <= want; n++) {
			while (cursor < last && actual->items[cursor].index < n)
				cursor++;
			if (cursor < last && actual->items[cursor].index == n)
				plan_existing(ds, dep, &actual->items[cursor], now_ms, out);
			else
				add_action(out, PLAN_CREATE, dep, name, n, NULL, ds);
		}
	}
	free(ranges);
	free(sorted);
}

void plan_action_format(const struct plan_action *a, struct zl_buf *out)
{
	static const char marks[] = { [PLAN_CREATE] = '+', [PLAN_RECREATE] = '~',
				      [PLAN_RESTART] = '>', [PLAN_REMOVE] = '-' };
	zl_buf_printf(out, "%c %s %s-rep-%d", marks[a->kind], plan_action_name(a->kind), a->service,
		      a->index);
	if (a->reason)
		zl_buf_printf(out, " (%s)", a->reason);
}
