/* plan.c: the pure planner. desired + observed rows + now -> ordered actions.
 * No I/O and no clock reads, so it is tested exhaustively with tables. */
#include "plan.h"

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
	for (size_t i = 0; i < p->schedule_count; i++)
		free(p->schedules[i].note);
	free(p->schedules);
	memset(p, 0, sizeof(*p));
}

void images_ready_clear(struct images_ready *r)
{
	if (!r)
		return;
	free(r->reference);
	free(r->manifest_digest);
	free(r->config);
	for (size_t i = 0; i < r->layer_count; i++)
		free(r->layer_dirs[i]);
	free(r->layer_dirs);
	free(r->module_path);
	memset(r, 0, sizeof(*r));
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

static struct plan_action *add_action(struct plan *p, enum plan_action_kind kind,
				      const char *deployment, const char *service, int index,
				      char *reason, const struct plan_desired_service *desired)
{
	zl_grow(&p->items, sizeof(*p->items), &p->cap, p->count + 1);
	p->items[p->count] = (struct plan_action){
		.kind = kind,
		.deployment = zl_xstrdup(deployment),
		.service = zl_xstrdup(service),
		.index = index,
		.reason = reason,
		.desired = desired,
	};
	return &p->items[p->count++];
}

static void add_schedule(struct plan *p, const struct plan_desired_service *ds, bool remove,
			 int64_t last_s, int64_t next_s, char *note)
{
	zl_grow(&p->schedules, sizeof(*p->schedules), &p->schedule_cap, p->schedule_count + 1);
	p->schedules[p->schedule_count++] = (struct plan_schedule){
		.desired = ds,
		.remove = remove,
		.last_scheduled_s = last_s,
		.next_s = next_s,
		.note = note,
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

int64_t plan_backoff_delay_ms(const struct spec_service *svc, int restarts)
{
	if (restarts <= 0)
		return 0; /* the first restart after a crash is immediate */
	int64_t base = svc->restart_delay_ms > 0 ? svc->restart_delay_ms : PLAN_BACKOFF_BASE_MS;
	int64_t cap = base > PLAN_BACKOFF_CAP_MS ? base : PLAN_BACKOFF_CAP_MS;
	int64_t delay = base;
	for (int i = 1; i < restarts && delay < cap; i++)
		delay *= 2;
	return delay < cap ? delay : cap;
}

bool plan_restart_wanted(const struct spec_service *svc, const struct state_replica *r)
{
	bool failed = r->exit_code != 0 || r->exit_signal != 0;
	if (r->state == STATE_REPLICA_STOPPED && svc->restart_kind == SPEC_RESTART_UNLESS_STOPPED)
		return false;
	if (svc->rtype != SPEC_RTYPE_SERVICE) {
		/* Jobs and cron runs: success is done; a failure is retried by
		 * the policy. Without one, a job retries a few times (unless
		 * errors.on_panic says otherwise) and a cron run waits for its
		 * next scheduled time. */
		if (!failed || r->state == STATE_REPLICA_STOPPED)
			return false; /* done, or stopped on purpose (run --timeout) */
		int max = svc->restart_max_attempts;
		switch (svc->restart_kind) {
		case SPEC_RESTART_NO:
			return false;
		case SPEC_RESTART_UNSET:
			if (svc->rtype == SPEC_RTYPE_CRON || svc->on_panic != SPEC_PANIC_RESTART)
				return false;
			max = PLAN_JOB_DEFAULT_ATTEMPTS;
			break;
		case SPEC_RESTART_ON_FAILURE:
		case SPEC_RESTART_ALWAYS:
		case SPEC_RESTART_UNLESS_STOPPED:
			break;
		}
		return max <= 0 || r->restarts < max;
	}
	switch (svc->restart_kind) {
	case SPEC_RESTART_NO:
		return false;
	case SPEC_RESTART_ON_FAILURE:
		if (!failed)
			return false;
		if (svc->restart_max_attempts > 0 && r->restarts >= svc->restart_max_attempts)
			return false;
		return true;
	case SPEC_RESTART_ALWAYS:
	case SPEC_RESTART_UNLESS_STOPPED:
		return true;
	case SPEC_RESTART_UNSET:
		return svc->on_panic == SPEC_PANIC_RESTART;
	}
	return false;
}

/* Why an exited replica should (or should not) be started again.
 * Returns a reason when it should, NULL otherwise. */
static char *restart_reason(const struct spec_service *svc, const struct state_replica *r,
			    int64_t now_ms)
{
	if (r->backoff_until > now_ms)
		return NULL; /* still backing off: a later run restarts it */
	if (!plan_restart_wanted(svc, r))
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

static const struct plan_desired_service *find_desired(const struct plan_desired *d,
							const char *deployment, const char *service)
{
	if (strcmp(deployment, d->deployment) != 0)
		return NULL;
	for (size_t i = 0; i < d->count; i++)
		if (strcmp(d->services[i].svc->name, service) == 0)
			return &d->services[i];
	return NULL;
}

void plan_note_exits(const struct plan_desired *desired, const struct state_replicas *before,
		     struct state_replicas *rows, int64_t now_ms)
{
	for (size_t i = 0; i < rows->count && i < before->count; i++) {
		struct state_replica *r = &rows->items[i];
		const struct state_replica *old = &before->items[i];
		if (r->state != STATE_REPLICA_EXITED)
			continue;
		if (old->state == STATE_REPLICA_EXITED && old->finished_at == r->finished_at)
			continue; /* an exit already noted */
		const struct plan_desired_service *ds = find_desired(desired, r->deployment, r->service);
		if (!ds)
			continue;
		const struct spec_service *svc = ds->svc;
		/* The mock and zlmon stamp exits with the wall clock; an injected
		 * or skewed clock never puts a deadline before the exit itself. */
		int64_t at = r->finished_at > 0 && r->finished_at <= now_ms ? r->finished_at : now_ms;
		if (svc->rtype == SPEC_RTYPE_SERVICE && r->started_at > 0 &&
		    at - r->started_at >= PLAN_BACKOFF_RESET_MS)
			r->restarts = 0; /* it ran well for a while: not a crash loop */
		r->backoff_until =
			plan_restart_wanted(svc, r) ? at + plan_backoff_delay_ms(svc, r->restarts) : 0;
	}
}

int64_t plan_cron_latest_due(const struct spec_cron *cron, int64_t after_s, int64_t now_s)
{
	int64_t t = spec_cron_next(cron, after_s);
	if (t < 0 || t > now_s)
		return -1;
	/* Missed runs collapse into one: jump close to now first, so a
	 * per-second schedule last run months ago costs a few steps, not
	 * millions. */
	static const int64_t windows[] = { 60, 3600, 86400, 31 * 86400, 366 * 86400 };
	for (size_t i = 0; i < sizeof(windows) / sizeof(windows[0]); i++) {
		int64_t from = now_s - windows[i];
		if (from <= t)
			break;
		int64_t u = spec_cron_next(cron, from);
		if (u >= 0 && u <= now_s) {
			t = u;
			break;
		}
	}
	for (int steps = 0; steps < 100000; steps++) {
		int64_t n = spec_cron_next(cron, t);
		if (n < 0 || n > now_s)
			break;
		t = n;
	}
	return t;
}

static char *time_reason(const char *what, int64_t s)
{
	char when[32];
	zl_format_time(s * 1000, when);
	return zl_xasprintf("%s %s", what, when);
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
			   r->exit_reason && !strcmp(r->exit_reason, "network_lost")
				   ? zl_xstrdup("its network was lost")
				   : zl_xstrdup("lost by the backend"),
			   ds);
		return;
	case STATE_REPLICA_CREATING:
	case STATE_REPLICA_REMOVING:
		/* Recovery settles these before planning; if one is left, replace it. */
		add_action(out, PLAN_RECREATE, deployment, r->service, r->index,
			   zl_xstrdup("interrupted"), ds);
		return;
	}
}

/* A cron service: at most replica 1, (re)created for each scheduled time
 * that passed since the last one (missed times collapse into one run),
 * never while the previous run is still active. rows are the service's
 * rows [first, last). */
static void plan_cron(const struct plan_desired_service *ds, const char *deployment,
		      const struct state_replicas *rows, size_t first, size_t last, int64_t now_ms,
		      struct plan *out)
{
	const struct spec_service *svc = ds->svc;
	const struct state_replica *r = NULL;
	for (size_t i = last; i-- > first;) {
		if (rows->items[i].index == 1)
			r = &rows->items[i];
		else
			add_action(out, PLAN_REMOVE, deployment, svc->name, rows->items[i].index,
				   zl_xstrdup("a cron service runs one replica"), ds);
	}
	if (ds->force_run) {
		add_action(out, r ? PLAN_RECREATE : PLAN_CREATE, deployment, svc->name, 1,
			   zl_xstrdup("run requested"), ds);
		return;
	}
	int64_t now_s = now_ms / 1000;
	if (!ds->has_schedule) {
		/* First apply: the schedule starts now; nothing has been missed. */
		add_schedule(out, ds, false, now_s, spec_cron_next(&svc->cron, now_s), NULL);
		return;
	}
	int64_t due = plan_cron_latest_due(&svc->cron, ds->cron_last_s, now_s);
	if (due >= 0) {
		int64_t next = spec_cron_next(&svc->cron, now_s);
		if (r && r->state == STATE_REPLICA_RUNNING) {
			/* Runs never overlap: this time is skipped, not queued. */
			add_schedule(out, ds, false, due, next,
				     time_reason("skipped the run scheduled for", due));
			return;
		}
		struct plan_action *a = add_action(out, r ? PLAN_RECREATE : PLAN_CREATE, deployment,
						   svc->name, 1, time_reason("scheduled", due), ds);
		a->scheduled_s = due;
		a->next_s = next;
		return;
	}
	int64_t next = spec_cron_next(&svc->cron, ds->cron_last_s);
	if (next != ds->cron_next_s) /* the schedule changed */
		add_schedule(out, ds, false, ds->cron_last_s, next, NULL);
	/* Between scheduled times a failed run is retried only by an explicit
	 * restart_policy, with the same back-off as any restart. */
	if (r && (r->state == STATE_REPLICA_EXITED || r->state == STATE_REPLICA_STOPPED) &&
	    r->spec_hash && strcmp(r->spec_hash, ds->spec_hash) == 0) {
		char *why = restart_reason(svc, r, now_ms);
		if (why)
			add_action(out, PLAN_RESTART, deployment, svc->name, 1, why, ds);
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
		if (k < 0 && desired->only_service)
			continue;
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
		if (desired->only_service && strcmp(desired->only_service, name) != 0)
			continue;
		if (ds->svc->rtype == SPEC_RTYPE_CRON) {
			plan_cron(ds, dep, actual, first, last, now_ms, out);
			continue;
		}
		if (ds->has_schedule) /* no longer a cron service */
			add_schedule(out, ds, true, 0, 0, NULL);

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
			bool exists = cursor < last && actual->items[cursor].index == n;
			if (ds->force_run) /* `zlapply run`: a new run, whatever the hash */
				add_action(out, exists ? PLAN_RECREATE : PLAN_CREATE, dep, name, n,
					   zl_xstrdup("run requested"), ds);
			else if (exists)
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

/* ---- waves (plan_waves) ---- */

/* The wave being cut: linear in the plan (a cold apply of 10,000 replicas
 * is one wave). A service's actions are consecutive in the plan, so the
 * rolling count is the current service's; deps look up the wave's services. */
struct wave {
	const char **services; /* distinct, in the order they joined */
	size_t n_services;
	bool dropped, kept;    /* holds removes of services gone / of services that stay */
	const char *recreating; /* the service whose recreates are counted */
	size_t recreates;
};

static bool wave_has_service(const struct wave *w, const char *name)
{
	for (size_t i = 0; i < w->n_services; i++)
		if (strcmp(w->services[i], name) == 0)
			return true;
	return false;
}

static bool waits_for(const struct wave *w, const struct plan_action *a)
{
	if (a->desired ? w->dropped : w->kept)
		return true; /* a service that left the spec, and one that stays */
	const struct spec_service *svc = a->desired ? a->desired->svc : NULL;
	for (size_t d = 0; svc && d < svc->depend_count; d++)
		if (strcmp(svc->depends[d].service, a->service) != 0 &&
		    wave_has_service(w, svc->depends[d].service))
			return true;
	return a->kind == PLAN_RECREATE && svc && w->recreating &&
	       strcmp(w->recreating, a->service) == 0 &&
	       w->recreates >= (size_t)spec_rollout_batch(svc, a->desired->replicas);
}

static void wave_add(struct wave *w, const struct plan_action *a)
{
	if (w->n_services == 0 || strcmp(w->services[w->n_services - 1], a->service) != 0)
		w->services[w->n_services++] = a->service;
	if (a->desired)
		w->kept = true;
	else
		w->dropped = true;
	if (a->kind != PLAN_RECREATE)
		return;
	if (!w->recreating || strcmp(w->recreating, a->service) != 0) {
		w->recreating = a->service;
		w->recreates = 0;
	}
	w->recreates++;
}

size_t plan_waves(const struct plan *p, size_t **ends)
{
	*ends = zl_xcalloc(p->count + 1, sizeof(**ends));
	struct wave w = { .services = zl_xcalloc(p->count + 1, sizeof(*w.services)) };
	size_t n = 0;
	for (size_t i = 0; i < p->count; i++) {
		if (i > 0 && waits_for(&w, &p->items[i])) {
			(*ends)[n++] = i;
			w = (struct wave){ .services = w.services };
		}
		wave_add(&w, &p->items[i]);
	}
	if (p->count > 0)
		(*ends)[n++] = p->count;
	free(w.services);
	return n;
}
