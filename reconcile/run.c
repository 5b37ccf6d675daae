/* run.c: `zlapply run JOB`: a new run of a job (or cron service) now,
 * whatever its spec hash or schedule, journaled like any apply action; then
 * waiting for it to end, stopping it when --timeout runs out (its
 * stop_signal, then SIGKILL after stop_grace_period), and how each replica
 * ended.
 *
 * The spec comes from -f, or else from the file the deployment was last
 * applied from (recorded by apply). Only that deployment is touched, and of
 * it only JOB. */
#include "reconcile-internal.h"

#include <errno.h>
#include <string.h>

int reconcile_run_recorded(const char *root, const char *job, const char *deployment,
			   char **deployment_out, char **source, struct zl_err *err)
{
	*deployment_out = *source = NULL;
	struct state_db *db = NULL;
	struct zl_err oerr = ZL_ERR_INIT;
	if (state_open(root, true, &db, &oerr) < 0) {
		if (oerr.sys_errno != ENOENT) {
			*err = oerr;
			return -1;
		}
		return zl_invalid(err, "no deployment is recorded under %s: give the spec with -f FILE",
				  root);
	}
	struct state_services services = { 0 };
	int r = state_services_load(db, deployment, &services, err);
	for (size_t i = 0; r == 0 && i < services.count; i++) {
		if (strcmp(services.items[i].name, job) != 0)
			continue;
		if (*deployment_out) {
			r = zl_invalid(err, "%s exists in deployments %s and %s: pick one with -d NAME",
				       job, *deployment_out, services.items[i].deployment);
			break;
		}
		*deployment_out = zl_xstrdup(services.items[i].deployment);
	}
	if (r == 0 && !*deployment_out)
		r = zl_invalid(err, "no service %s%s%s is recorded (apply it first, or give -f FILE)",
			       job, deployment ? " in deployment " : "", deployment ? deployment : "");
	if (r == 0)
		r = state_deployment_source(db, *deployment_out, source, err);
	if (r == 0 && (!*source || strcmp(*source, "-") == 0))
		r = zl_invalid(err, "deployment %s was applied from stdin: give the spec with -f FILE",
			       *deployment_out);
	state_services_free(&services);
	state_close(db);
	if (r < 0) {
		free(*deployment_out);
		free(*source);
		*deployment_out = *source = NULL;
	}
	return r;
}

int reconcile_run_start(const struct reconcile_opts *opts, const struct spec_set *set,
			const char *job, const char *deployment, const char *what,
			struct reconcile_run *out, struct zl_err *err)
{
	memset(out, 0, sizeof(*out));
	/* The deployment holding JOB (-d or the recorded one narrow it down). */
	const struct spec_deployment *dep = NULL;
	const struct spec_service *svc = NULL;
	for (size_t i = 0; i < set->count; i++) {
		const struct spec_deployment *d = &set->deployments[i];
		const struct spec_service *s = spec_deployment_find(d, job);
		if (!s || (deployment && strcmp(deployment, d->name) != 0))
			continue;
		if (dep)
			return zl_invalid(err, "%s exists in deployments %s and %s: pick one with -d NAME",
					  job, dep->name, d->name);
		dep = d;
		svc = s;
	}
	if (!svc)
		return zl_invalid(err, "no service %s in %s%s%s", job, what,
				  deployment ? " for deployment " : "", deployment ? deployment : "");
	if (svc->rtype == SPEC_RTYPE_SERVICE)
		return zl_invalid(err, "%s is a long-running service: only jobs (rtype: job) and cron "
				       "services (rtype: cron) run on demand",
				  job);

	struct reconcile_opts ropts = *opts;
	ropts.run_deployment = dep->name;
	ropts.run_service = svc->name;
	struct spec_set one = { .deployments = (struct spec_deployment *)dep, .count = 1 };
	struct reconcile_result res;
	if (reconcile_apply(&ropts, &one, &res, err) < 0)
		return -1;
	out->deployment = dep;
	out->service = svc;
	return 0;
}

static bool of_run(const struct state_replica *r, const struct reconcile_run *run)
{
	return strcmp(r->deployment, run->deployment->name) == 0 &&
	       strcmp(r->service, run->service->name) == 0 && r->backend_id;
}

/* Waits for every replica of the run to end (until deadline_ms on the
 * monotonic clock; 0 = no limit). Returns 0 when all ended, 1 on timeout. */
static int wait_replicas(struct backend *b, const struct state_replicas *rows,
			 const struct reconcile_run *run, int64_t deadline_ms)
{
	for (size_t i = 0; i < rows->count; i++) {
		const struct state_replica *r = &rows->items[i];
		if (!of_run(r, run))
			continue;
		for (;;) {
			int64_t slice = 1000;
			if (deadline_ms) {
				int64_t left = deadline_ms - zl_monotonic_ms();
				if (left <= 0)
					return 1;
				if (left < slice)
					slice = left;
			}
			struct zl_err werr = ZL_ERR_INIT;
			if (b->ops->wait(b, r->backend_id, slice, &werr) == 0)
				break;
			if (werr.kind != ZL_ERR_TIMEOUT) {
				/* Gone or unreadable: nothing left to wait for. */
				zl_log(ZL_LOG_WARN, "%s-rep-%d: %s", r->service, r->index, werr.msg);
				break;
			}
		}
	}
	return 0;
}

/* How replica r ended. With stop (a timeout), a replica still running is
 * stopped first. */
static void ended(struct backend *b, const struct state_replica *r,
		  const struct spec_service *svc, bool stop, struct reconcile_run_end *end)
{
	end->replica = zl_xasprintf("%s-rep-%d", r->service, r->index);
	end->exit_code = -1;
	end->duration_ms = -1;
	struct backend_state st;
	struct zl_err e = ZL_ERR_INIT;
	if (b->ops->state(b, r->backend_id, &st, &e) < 0) {
		end->error = zl_xstrdup(e.msg);
		return;
	}
	if (stop && st.status == BACKEND_STATUS_RUNNING) {
		end->stop_tried = true;
		if (b->ops->stop(b, r->backend_id, spec_stop_signal(svc), svc->stop_grace_ms, &e) < 0)
			end->stop_error = zl_xstrdup(e.msg);
		if (b->ops->state(b, r->backend_id, &st, &e) < 0)
			st.status = BACKEND_STATUS_UNKNOWN;
	}
	if (st.status != BACKEND_STATUS_EXITED) {
		end->status = backend_status_name(st.status);
		return;
	}
	end->exit_code = st.exit_code;
	end->exit_signal = st.exit_signal;
	if (st.started_at > 0 && st.finished_at >= st.started_at)
		end->duration_ms = st.finished_at - st.started_at;
}

int reconcile_run_wait(const struct reconcile_opts *opts, const struct reconcile_run *run,
		       int64_t timeout_ms, struct reconcile_run_ends *out, struct zl_err *err)
{
	memset(out, 0, sizeof(*out));
	/* Wait without the lock: other applies may go on meanwhile. */
	int64_t deadline = timeout_ms > 0 ? zl_monotonic_ms() + timeout_ms : 0;
	struct state_replicas rows = { 0 };
	struct backend *b = NULL;
	int ret = -1;
	if (reconcile_status(opts->root, run->deployment->name, &rows, err) < 0 ||
	    reconcile_backend_open(opts, NULL, &b, err) < 0)
		goto out;
	out->timed_out = wait_replicas(b, &rows, run, deadline) != 0;
	out->items = zl_xcalloc(rows.count + 1, sizeof(*out->items));
	for (size_t i = 0; i < rows.count; i++)
		if (of_run(&rows.items[i], run))
			ended(b, &rows.items[i], run->service, out->timed_out,
			      &out->items[out->count++]);
	ret = 0;
out:
	backend_close(b);
	state_replicas_free(&rows);
	return ret;
}

void reconcile_run_ends_free(struct reconcile_run_ends *ends)
{
	if (!ends)
		return;
	for (size_t i = 0; i < ends->count; i++) {
		free(ends->items[i].replica);
		free(ends->items[i].error);
		free(ends->items[i].stop_error);
	}
	free(ends->items);
	memset(ends, 0, sizeof(*ends));
}
