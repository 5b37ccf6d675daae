/* rollout.c: carry out a deployment's plan, wave by wave.
 *
 * plan_waves() cuts the plan into waves of actions that wait for nothing in
 * the same wave. Each wave goes:
 *   1. in plan order: skip what a stopped rollout leaves, refuse taken ports,
 *      the health/depends/init gates before an action, the action's line;
 *   2. the replicas it stops leave the published ports and service names
 *      (one settle pause for all), then get their stop signal together;
 *   3. its actions run, up to opts->parallel at once (parallel.c);
 *   4. in plan order again: each action's output, the readiness gate of a
 *      rolling recreate, the result, ports and names following.
 * So a rolling update replaces spec_rollout_batch() replicas at a time, and
 * the lines and errors come in plan order whatever finished first. */
#include "reconcile-internal.h"
#include "publish-internal.h" /* networking: published ports */
#include "health-internal.h"  /* health_sleep_ms() */
#include "names-internal.h"   /* networking: service names */

#include <string.h>

void rollout_print_line(const struct reconcile_opts *o, const struct plan_action *a)
{
	if (!o->plan_out)
		return;
	/* create green, recreate yellow, restart cyan, remove red */
	static const char *const colors[] = { [PLAN_CREATE] = "32", [PLAN_RECREATE] = "33",
					      [PLAN_RESTART] = "36", [PLAN_REMOVE] = "31" };
	struct zl_buf line = { 0 };
	plan_action_format(a, &line);
	if (o->plan_color)
		fprintf(o->plan_out, "\033[%sm%s\033[0m\n", colors[a->kind], line.data);
	else
		fprintf(o->plan_out, "%s\n", line.data);
	fflush(o->plan_out);
	zl_buf_free(&line);
}

const char *reconcile_action_result_name(enum reconcile_action_result r)
{
	switch (r) {
	case RECONCILE_ACTION_PLANNED: return "planned";
	case RECONCILE_ACTION_DONE: return "done";
	case RECONCILE_ACTION_FAILED: return "failed";
	case RECONCILE_ACTION_SKIPPED: return "skipped";
	}
	return "?";
}

void rollout_report(const struct reconcile_opts *o, const struct plan_action *a,
		    const struct state_replica *row, enum reconcile_action_result result,
		    const char *error)
{
	if (!o->on_action)
		return;
	struct reconcile_action info = {
		.deployment = a->deployment,
		.service = a->service,
		.index = a->index,
		.kind = plan_action_name(a->kind),
		.reason = a->reason,
		.old_spec_hash = row && row->spec_hash && *row->spec_hash ? row->spec_hash : NULL,
		.new_spec_hash = a->kind != PLAN_REMOVE && a->desired ? a->desired->spec_hash : NULL,
		.result = result,
		.error = error,
	};
	o->on_action(&info, o->action_ctx);
}

const struct state_replica *rollout_row_for(const struct state_replicas *rows,
					    const struct plan_action *a)
{
	/* Rows are sorted by service, index: binary search. */
	size_t lo = 0, hi = rows->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct state_replica *r = &rows->items[mid];
		int c = strcmp(r->service, a->service);
		if (c == 0)
			c = r->index < a->index ? -1 : r->index > a->index;
		if (c == 0)
			return r;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* How long a replica taken out of its published ports keeps running before
 * its stop signal, so the connections it accepted just before finish: a
 * rolling update loses no request (docs/networking.md). */
#define DRAIN_SETTLE_MS 500

/* The running replica action i of plan[start, end) stops, when it goes in
 * this wave (go[]) and was not stopped with the plan's removes (a journal
 * entry already); NULL otherwise. */
static const struct state_replica *stopping(struct rollout *x, const struct plan *plan,
					    size_t start, size_t i, const bool *go)
{
	const struct plan_action *a = &plan->items[i];
	const struct state_replica *r = rollout_row_for(x->rows, a);
	if (!go[i - start] || (a->kind != PLAN_REMOVE && a->kind != PLAN_RECREATE) ||
	    a->journal_id != 0 || !r || r->state != STATE_REPLICA_RUNNING)
		return NULL;
	return r;
}

/* stopping(), with an address drain() takes out of ports and names. */
static const struct state_replica *draining(struct rollout *x, const struct plan *plan,
					    size_t start, size_t i, const bool *go)
{
	const struct state_replica *r = stopping(x, plan, start, i, go);
	return r && r->ip && *r->ip ? r : NULL;
}

/* Takes the replicas about to stop (draining()) out of their services'
 * published ports and out of the service names, with one update per
 * service (one per replica would put those drained before back in): new
 * connections go to the others while they finish their own. True when one
 * of them served published ports. */
static bool drain(struct rollout *x, const struct plan *plan, size_t start, size_t end,
		  const bool *go)
{
	size_t n = end - start;
	const char **ips = zl_xcalloc(n + 1, sizeof(*ips));
	const char **svc_ips = zl_xcalloc(n + 1, sizeof(*svc_ips));
	bool *done = zl_xcalloc(n + 1, sizeof(*done));
	size_t n_ips = 0;
	bool published = false;
	for (size_t i = start; i < end; i++) {
		const struct plan_action *a = &plan->items[i];
		const struct state_replica *r = draining(x, plan, start, i, go);
		if (!r || done[i - start])
			continue;
		/* a service's actions are consecutive in the plan */
		size_t n_svc = 0;
		for (size_t k = i; k < end && strcmp(plan->items[k].service, a->service) == 0; k++) {
			const struct state_replica *rk = draining(x, plan, start, k, go);
			if (rk) {
				svc_ips[n_svc++] = rk->ip;
				ips[n_ips++] = rk->ip;
				done[k - start] = true;
			}
		}
		struct zl_err err = ZL_ERR_INIT;
		const struct spec_service *svc = a->desired ? a->desired->svc : NULL;
		if (publish_update(x->pub, x->run->db, a->service, svc_ips, n_svc, &err) < 0)
			zl_log(ZL_LOG_WARN, "%s: %s", a->service, err.msg);
		else if (x->pub && svc && (svc->endpoint_count > 0 || svc->port_mapping_count > 0))
			published = true;
	}
	struct zl_err err = ZL_ERR_INIT;
	if (n_ips > 0 && names_update(x->names, x->run->db, ips, n_ips, &err) < 0)
		zl_log(ZL_LOG_WARN, "%s: %s", x->deployment, err.msg);
	free(done);
	free(svc_ips);
	free(ips);
	return published;
}

/* Replicas on their way out together (a scale-down, a dropped service, a
 * delete, the batch of a rolling update) get their stop signal together, so
 * stopping N of them takes one grace period, not N; each remove then waits
 * only for what is left (backend stop_begin). Each remove is journaled
 * before its signal: a run that dies now leaves pending removes, which the
 * next run's recovery completes. Only actions with go[i] set are stopped;
 * one alone stops as part of its action. */
static void stop_together(struct rollout *x, struct plan *plan, size_t start, size_t end,
			  const bool *go)
{
	struct backend *b = x->run->b;
	if (!b || !b->ops->stop_begin)
		return;
	size_t n = 0;
	for (size_t i = start; i < end; i++)
		n += stopping(x, plan, start, i, go) != NULL;
	if (n < 2)
		return;
	for (size_t i = start; i < end; i++) {
		struct plan_action *a = &plan->items[i];
		const struct state_replica *r = stopping(x, plan, start, i, go);
		if (!r || !r->backend_id)
			continue;
		struct zl_err err = ZL_ERR_INIT;
		if (execute_journal_remove(x->run->db, a, r, &x->env, &a->journal_id, &err) < 0) {
			zl_log(ZL_LOG_DEBUG, "journal remove of %s: %s", r->backend_id, err.msg);
			a->journal_id = 0; /* the remove journals itself, and stops alone */
			continue;
		}
		if (b->ops->stop_begin(b, r->backend_id, a->desired ? spec_stop_signal(a->desired->svc) : 0,
				       &err) < 0)
			zl_log(ZL_LOG_DEBUG, "stop %s: %s", r->backend_id, err.msg);
	}
}

/* A failed action: counted, logged, remembered as the run's first error,
 * and (a rolling recreate of a running replica) it stops the rollout. */
static void action_failed(struct rollout *x, const struct plan_action *a, struct zl_err *aerr)
{
	struct apply_run *run = x->run;
	const struct state_replica *was = rollout_row_for(x->rows, a);
	rollout_report(run->opts, a, was, RECONCILE_ACTION_FAILED, aerr->msg);
	run->res->actions_failed++;
	zl_log(ZL_LOG_ERROR, "%s: %s", x->deployment, aerr->msg);
	/* history: why the rollout stopped, for its revision (a replica that
	 * did not run was no rollout's to stop) */
	if (a->kind == PLAN_RECREATE && !x->halted && was && was->state == STATE_REPLICA_RUNNING) {
		free(run->halted_why);
		run->halted_why = zl_xstrdup(aerr->msg);
		run->halted_timeout = aerr->kind == ZL_ERR_TIMEOUT;
	}
	if (a->kind == PLAN_RECREATE)
		x->halted = a->service;
	if (x->ret == 0)
		x->first_err = *aerr;
	x->ret = -1;
}

static void action_done(struct rollout *x, const struct plan_action *a)
{
	struct apply_run *run = x->run;
	rollout_report(run->opts, a, rollout_row_for(x->rows, a), RECONCILE_ACTION_DONE, NULL);
	run->res->actions_done++;
	/* A replaced replica takes connections again once it is ready (new
	 * ones join at the end of the apply, all in one update). */
	struct zl_err uerr = ZL_ERR_INIT;
	if ((a->kind == PLAN_RECREATE || a->kind == PLAN_RESTART) &&
	    publish_update(x->pub, run->db, a->service, NULL, 0, &uerr) < 0)
		zl_log(ZL_LOG_WARN, "%s: %s", x->deployment, uerr.msg);
	/* Names follow each change at once (a later service may need this
	 * one's name when it starts); names_finish retries. */
	struct zl_err nerr = ZL_ERR_INIT;
	if (names_update(x->names, run->db, NULL, 0, &nerr) < 0)
		zl_log(ZL_LOG_WARN, "%s: %s", x->deployment, nerr.msg);
}

/* Step 1 for action a: 1 = it runs in this wave, 0 = it does not (skipped
 * or failed, reported). */
static int admit(struct rollout *x, const struct plan_action *a)
{
	const struct reconcile_opts *o = x->run->opts;
	const struct state_replica *row = rollout_row_for(x->rows, a);
	/* A rollout stops at its first failed batch: the others keep running
	 * the old spec instead of all going down (decision 2). */
	if (a->kind == PLAN_RECREATE && x->halted && strcmp(x->halted, a->service) == 0) {
		zl_log(ZL_LOG_WARN, "%s: rollout of %s stopped; %s-rep-%d keeps its old spec",
		       x->deployment, a->service, a->service, a->index);
		rollout_report(o, a, row, RECONCILE_ACTION_SKIPPED,
			       "the rollout stopped at a failed replica");
		return 0;
	}
	struct zl_err aerr = ZL_ERR_INIT;
	if (publish_refuse(x->pub, a, &aerr) < 0) { /* networking: a taken port */
		rollout_report(o, a, row, RECONCILE_ACTION_FAILED, aerr.msg);
		x->run->res->actions_failed++;
		if (x->ret == 0)
			x->first_err = aerr;
		x->ret = -1;
		return 0;
	}
	/* health/depends/init: 1 = skip (init back-off); -1 fails the action */
	int gated = health_gate_before(x->gate, a, row, &aerr);
	if (gated > 0) {
		rollout_report(o, a, row, RECONCILE_ACTION_SKIPPED, "init back-off");
		return 0;
	}
	if (gated < 0) {
		action_failed(x, a, &aerr);
		return 0;
	}
	if (!o->quiet)
		rollout_print_line(o, a);
	return 1;
}

static int run_wave(struct rollout *x, struct plan *plan, size_t start, size_t end)
{
	size_t n = end - start;
	bool *go = zl_xcalloc(n + 1, sizeof(*go));
	struct exec_job *jobs = zl_xcalloc(n + 1, sizeof(*jobs));
	size_t n_jobs = 0;
	for (size_t i = start; i < end; i++)
		go[i - start] = admit(x, &plan->items[i]) == 1;
	/* (an action with a journal_id was drained and signalled with the
	 * plan's removes) */
	if (drain(x, plan, start, end, go))
		health_sleep_ms(DRAIN_SETTLE_MS);
	stop_together(x, plan, start, end, go);
	_cleanup_free_ char *names_now = names_text(x->names);
	for (size_t i = start; i < end; i++) {
		if (!go[i - start])
			continue;
		struct exec_job *j = &jobs[n_jobs++];
		j->a = &plan->items[i];
		j->row = rollout_row_for(x->rows, j->a);
		j->env = x->env;
		j->env.names = names_now;
	}
	struct zl_err perr = ZL_ERR_INIT;
	int ret = execute_jobs(x->run->db, x->run->b, jobs, n_jobs, x->parallel, &perr);
	for (size_t k = 0; k < n_jobs; k++) {
		struct exec_job *j = &jobs[k];
		if (j->output && *j->output) {
			fputs(j->output, stderr);
			fflush(stderr);
		}
		if (j->rc == 0 && health_gate_after(x->gate, j->a, &j->err) < 0)
			j->rc = -1;
		if (j->rc < 0)
			action_failed(x, j->a, &j->err);
		else
			action_done(x, j->a);
		free(j->output);
	}
	free(jobs);
	free(go);
	if (ret < 0) { /* this run lost its database: nothing more can be recorded */
		x->first_err = perr;
		x->ret = -1;
	}
	return ret;
}

int rollout_execute(struct rollout *x, struct plan *plan)
{
	/* Replicas leaving in this plan stop together, whatever wave removes
	 * them; out of ports and names first, with no pause each. */
	bool *leaving = zl_xcalloc(plan->count + 1, sizeof(*leaving));
	size_t n_leaving = 0;
	for (size_t i = 0; i < plan->count; i++)
		n_leaving += leaving[i] = plan->items[i].kind == PLAN_REMOVE;
	if (n_leaving > 1) {
		(void)drain(x, plan, 0, plan->count, leaving);
		stop_together(x, plan, 0, plan->count, leaving);
	}
	free(leaving);
	size_t *ends = NULL;
	size_t n_waves = plan_waves(plan, &ends);
	for (size_t w = 0, start = 0; w < n_waves; start = ends[w++])
		if (run_wave(x, plan, start, ends[w]) < 0)
			break;
	free(ends);
	return x->ret;
}
