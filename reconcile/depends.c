/* depends.c: `depends` gates. Services come out of spec/ in topological
 * order, so a dependency's replicas were created (or kept) earlier in the
 * same apply; before the first replica of a dependent service is created,
 * each dependency must meet its condition:
 *   started  every desired replica runs (a job may also have finished);
 *   healthy  every desired replica is ready: running and, with a health
 *   ready    block, passing its probe (zlapply treats the two alike).
 * Each wait is bounded by the edge's timeout and ends early when it cannot
 * succeed in this run (a replica failed, exited or ran out of retries). On a
 * miss, on_timeout decides: fail (the dependent's creates fail, recorded as
 * failed with the reason), warn (logged, go on) or continue (go on). */
#include "health-internal.h"

#include <string.h>

#define POLL_MS 200

static const char *condition_name(enum spec_condition c)
{
	switch (c) {
	case SPEC_COND_STARTED: return "started";
	case SPEC_COND_HEALTHY: return "healthy";
	case SPEC_COND_READY: return "ready";
	}
	return "?";
}

/* The rows of one service, refreshed from the backend in memory. Only that
 * service's: a gate costs what its dependency has, not what the deployment
 * has, so an apply of a long chain (2,000 services, each depending on the
 * one before) stays linear (docs/benchmarks.md). */
static int load_service_rows(struct state_db *db, struct backend *b, const char *deployment,
			     const char *service, struct state_replicas *rows, int64_t now_ms,
			     struct zl_err *err)
{
	if (state_replicas_load_service(db, deployment, service, rows, err) < 0)
		return -1;
	observe_refresh(b, rows, now_ms);
	return 0;
}

static bool replica_started(const struct spec_service *svc, const struct state_replica *r)
{
	if (r->state == STATE_REPLICA_RUNNING)
		return true;
	return svc->rtype == SPEC_RTYPE_JOB && r->state == STATE_REPLICA_EXITED;
}

/* Does service `target` meet cond? When not, *why says which replica and
 * why; *hopeless when it cannot change before the next apply. */
static bool condition_met(const struct spec_service *target, enum spec_condition cond, int want,
			  struct state_replicas *view, const struct health_memory *mem,
			  struct zl_buf *why, bool *hopeless)
{
	*hopeless = false;
	for (int n = 1; n <= want; n++) {
		struct state_replica *r = health_find_row(view, target->name, n);
		if (!r) {
			zl_buf_printf(why, "%s-rep-%d does not exist", target->name, n);
			*hopeless = true;
			return false;
		}
		bool ok = cond == SPEC_COND_STARTED ? replica_started(target, r)
						    : health_replica_ready(target, r);
		if (ok)
			continue;
		zl_buf_printf(why, "%s-rep-%d is %s", target->name, n, state_replica_state_name(r->state));
		if (r->state == STATE_REPLICA_RUNNING) {
			const char *e = health_memory_error(mem, r->deployment, r->service, r->index);
			zl_buf_printf(why, ", health %s%s%s", r->health ? r->health : "not probed yet",
				      e ? ": " : "", e ? e : "");
			struct health_status h;
			health_parse(r->health, &h);
			*hopeless = h.word == HEALTH_UNHEALTHY;
		} else {
			if (r->state == STATE_REPLICA_EXITED)
				zl_buf_printf(why, " (exit code %d)", r->exit_code);
			if (r->error)
				zl_buf_printf(why, ": %s", r->error);
			/* Only another apply brings it back. */
			*hopeless = r->state != STATE_REPLICA_CREATED && r->state != STATE_REPLICA_CREATING;
		}
		return false;
	}
	return true;
}

/* Waits for one edge; 0 met, -1 with err when not (whatever on_timeout says). */
static int wait_edge(struct state_db *db, struct backend *b, const struct spec_deployment *dep,
		     const struct state_services *current, const struct spec_service *svc,
		     const struct spec_depend *d,
		     struct health_memory *mem, int64_t (*clock_ms)(void), int64_t run_deadline,
		     struct zl_err *err)
{
	const struct spec_service *target = spec_deployment_find(dep, d->service);
	if (!target)
		return zl_fail(err, "depends: unknown service %s", d->service);
	int want = target->rtype == SPEC_RTYPE_CRON ? 0 : spec_service_desired_replicas(target);
	int64_t start = zl_monotonic_ms(), deadline = start + d->timeout_ms;
	/* --wait --timeout bounds the whole apply, this wait included. */
	bool run_out = run_deadline > 0 && run_deadline < deadline;
	if (run_out)
		deadline = run_deadline;
	bool logged = false, first = true;
	for (;;) {
		int64_t now = clock_ms ? clock_ms() : zl_now_ms();
		struct state_replicas view = { 0 };
		if (load_service_rows(db, b, dep->name, target->name, &view, now, err) < 0)
			return -1;
		size_t *bad = NULL, n_bad = 0;
		int r = 0;
		if (d->condition != SPEC_COND_STARTED)
			r = health_probe_rows(db, b, dep, current, &view, mem, first, now, &bad, &n_bad,
					      err);
		free(bad);
		first = false;
		struct zl_buf why = { 0 };
		bool hopeless = false;
		bool met = r == 0 && condition_met(target, d->condition, want, &view, mem, &why, &hopeless);
		state_replicas_free(&view);
		if (r < 0) {
			zl_buf_free(&why);
			return -1;
		}
		if (met) {
			zl_buf_free(&why);
			if (logged)
				zl_log(ZL_LOG_INFO, "%s: dependency %s is %s", svc->name, d->service,
				       condition_name(d->condition));
			return 0;
		}
		int64_t left = deadline - zl_monotonic_ms();
		if (!hopeless && left <= 0 && run_out) {
			zl_err_set(err, ZL_ERR_TIMEOUT, 0, "depends: %s is not %s when --timeout ran out: %s",
				   d->service, condition_name(d->condition),
				   why.data ? why.data : "no replicas");
			zl_buf_free(&why);
			return -1;
		}
		if (hopeless || left <= 0) {
			double waited = (zl_monotonic_ms() - start) / 1000.0;
			zl_fail(err, "depends: %s is not %s after %.0fs (timeout %.0fs): %s", d->service,
				condition_name(d->condition), waited, d->timeout_ms / 1000.0,
				why.data ? why.data : "no replicas");
			zl_buf_free(&why);
			return -1;
		}
		if (!logged && zl_monotonic_ms() - start >= 1000) {
			zl_log(ZL_LOG_INFO, "%s: waiting up to %.0fs for %s to be %s (%s)", svc->name,
			       d->timeout_ms / 1000.0, d->service, condition_name(d->condition), why.data);
			logged = true;
		}
		zl_buf_free(&why);
		health_sleep_ms(left < POLL_MS ? left : POLL_MS);
	}
}

int depends_wait(struct state_db *db, struct backend *b, const struct spec_deployment *dep,
		 const struct state_services *current, const struct spec_service *svc,
		 struct health_memory *mem, int64_t (*clock_ms)(void), int64_t run_deadline,
		 struct zl_err *err)
{
	for (size_t i = 0; i < svc->depend_count; i++) {
		const struct spec_depend *d = &svc->depends[i];
		struct zl_err derr = ZL_ERR_INIT;
		if (wait_edge(db, b, dep, current, svc, d, mem, clock_ms, run_deadline, &derr) == 0)
			continue;
		if (derr.kind == ZL_ERR_TIMEOUT) { /* the run's time is up, whatever on_timeout says */
			*err = derr;
			return -1;
		}
		switch (d->on_timeout) {
		case SPEC_ON_TIMEOUT_FAIL:
			*err = derr;
			return -1;
		case SPEC_ON_TIMEOUT_WARN:
			zl_log(ZL_LOG_WARN, "%s: %s; going on (on_timeout: warn)", svc->name, derr.msg);
			break;
		case SPEC_ON_TIMEOUT_CONTINUE:
			zl_log(ZL_LOG_DEBUG, "%s: %s; going on (on_timeout: continue)", svc->name, derr.msg);
			break;
		}
	}
	return 0;
}
