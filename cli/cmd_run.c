/* cmd_run.c: `zlapply run JOB`: a new run of a job (or cron service) now,
 * whatever its spec hash or schedule, journaled like any apply action; then
 * wait for it to end and exit with its result (0 when every replica exited
 * 0, 1 otherwise), or return at once with --detach. --timeout D stops a run
 * still going after D (its stop_signal, then SIGKILL after
 * stop_grace_period) and exits 3.
 *
 * The spec comes from -f, or else from the file the deployment was last
 * applied from (recorded by apply). Only that deployment is touched, and of
 * it only JOB. */
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

#include "net/net.h"
#include "reconcile/reconcile.h"

/* The deployment that has service `job`: -d NAME, or the only one recorded
 * with it. *source gets the file it was applied from. */
static int find_recorded(const struct cli_opts *o, const char *job, char **deployment,
			 char **source, struct zl_err *err)
{
	*deployment = *source = NULL;
	struct state_db *db = NULL;
	struct zl_err oerr = ZL_ERR_INIT;
	if (state_open(o->root, true, &db, &oerr) < 0) {
		if (oerr.sys_errno != ENOENT) {
			*err = oerr;
			return -1;
		}
		return zl_invalid(err, "no deployment is recorded under %s: give the spec with -f FILE",
				  o->root);
	}
	struct state_services services = { 0 };
	int r = state_services_load(db, o->name_count ? o->names[0] : NULL, &services, err);
	for (size_t i = 0; r == 0 && i < services.count; i++) {
		if (strcmp(services.items[i].name, job) != 0)
			continue;
		if (*deployment) {
			r = zl_invalid(err, "%s exists in deployments %s and %s: pick one with -d NAME",
				       job, *deployment, services.items[i].deployment);
			break;
		}
		*deployment = zl_xstrdup(services.items[i].deployment);
	}
	if (r == 0 && !*deployment)
		r = zl_invalid(err, "no service %s%s%s is recorded (apply it first, or give -f FILE)",
			       job, o->name_count ? " in deployment " : "",
			       o->name_count ? o->names[0] : "");
	if (r == 0)
		r = state_deployment_source(db, *deployment, source, err);
	if (r == 0 && (!*source || strcmp(*source, "-") == 0))
		r = zl_invalid(err, "deployment %s was applied from stdin: give the spec with -f FILE",
			       *deployment);
	state_services_free(&services);
	state_close(db);
	if (r < 0) {
		free(*deployment);
		free(*source);
		*deployment = *source = NULL;
	}
	return r;
}

/* Waits for every replica of the run to end (until deadline_ms on the
 * monotonic clock; 0 = no limit). Returns 0 when all ended, 1 on timeout. */
static int wait_replicas(struct backend *b, const struct state_replicas *rows,
			 const char *deployment, const char *job, int64_t deadline_ms)
{
	for (size_t i = 0; i < rows->count; i++) {
		const struct state_replica *r = &rows->items[i];
		if (strcmp(r->deployment, deployment) != 0 || strcmp(r->service, job) != 0 ||
		    !r->backend_id)
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

/* Reports how each replica of the run ended; 0 when all exited 0. With
 * stop (a timeout), replicas still running are stopped first. */
static int report(const struct cli_opts *o, struct backend *b, const struct state_replicas *rows,
		  const char *deployment, const struct spec_service *svc, bool stop)
{
	int code = 0;
	for (size_t i = 0; i < rows->count; i++) {
		const struct state_replica *r = &rows->items[i];
		if (strcmp(r->deployment, deployment) != 0 || strcmp(r->service, svc->name) != 0 ||
		    !r->backend_id)
			continue;
		struct backend_state st;
		struct zl_err e = ZL_ERR_INIT;
		if (b->ops->state(b, r->backend_id, &st, &e) < 0) {
			fprintf(stderr, "zlapply: %s-rep-%d: %s\n", r->service, r->index, e.msg);
			code = 1;
			continue;
		}
		if (stop && st.status == BACKEND_STATUS_RUNNING) {
			if (b->ops->stop(b, r->backend_id, spec_stop_signal(svc),
					 svc->stop_grace_ms, &e) < 0)
				fprintf(stderr, "zlapply: %s-rep-%d: stop: %s\n", r->service, r->index,
					e.msg);
			else
				fprintf(stderr, "zlapply: %s-rep-%d still running after --timeout: stopped\n",
					r->service, r->index);
			if (b->ops->state(b, r->backend_id, &st, &e) < 0)
				st.status = BACKEND_STATUS_UNKNOWN;
		}
		if (st.status != BACKEND_STATUS_EXITED) {
			fprintf(stderr, "zlapply: %s-rep-%d: %s\n", r->service, r->index,
				backend_status_name(st.status));
			code = 1;
			continue;
		}
		char took[32] = "";
		if (st.started_at > 0 && st.finished_at >= st.started_at)
			snprintf(took, sizeof(took), " after %.1fs",
				 (double)(st.finished_at - st.started_at) / 1000.0);
		const char *sig = st.exit_signal ? spec_signal_name(st.exit_signal) : NULL;
		if (!o->quiet) {
			if (st.exit_signal)
				printf("%s-rep-%d killed by %s%s\n", r->service, r->index,
				       sig ? sig : "a signal", took);
			else
				printf("%s-rep-%d exited %d%s\n", r->service, r->index, st.exit_code, took);
		}
		if (st.exit_code != 0 || st.exit_signal != 0)
			code = 1;
	}
	return code;
}

int cmd_run(const struct cli_opts *o)
{
	const char *job = o->args[0];
	struct spec_set set = { 0 };
	struct spec_diags diags = { 0 };
	struct state_replicas rows = { 0 };
	struct backend *b = NULL;
	struct zl_err err = ZL_ERR_INIT;
	char *recorded_dep = NULL, *source = NULL;
	int code = 0;

	const char *const *files = o->files;
	size_t file_count = o->file_count;
	if (file_count == 0) {
		if (find_recorded(o, job, &recorded_dep, &source, &err) < 0) {
			code = cli_fail(&err);
			goto out;
		}
		files = (const char *const *)&source;
		file_count = 1;
	}
	if (spec_load_paths(files, file_count, &set, &diags) < 0 || diags.errors > 0) {
		spec_diags_print(&diags, stderr);
		fprintf(stderr, "zlapply: error: the spec has problems; nothing was run\n");
		code = 2;
		goto out;
	}

	/* The deployment holding JOB (-d or the recorded one narrow it down). */
	const char *want_dep = o->name_count ? o->names[0] : recorded_dep;
	const struct spec_deployment *dep = NULL;
	const struct spec_service *svc = NULL;
	for (size_t i = 0; i < set.count; i++) {
		const struct spec_deployment *d = &set.deployments[i];
		const struct spec_service *s = spec_deployment_find(d, job);
		if (!s || (want_dep && strcmp(want_dep, d->name) != 0))
			continue;
		if (dep) {
			zl_invalid(&err, "%s exists in deployments %s and %s: pick one with -d NAME", job,
				   dep->name, d->name);
			code = cli_fail(&err);
			goto out;
		}
		dep = d;
		svc = s;
	}
	if (!svc) {
		zl_invalid(&err, "no service %s in %s%s%s", job, file_count == 1 ? files[0] : "the spec",
			   want_dep ? " for deployment " : "", want_dep ? want_dep : "");
		code = cli_fail(&err);
		goto out;
	}
	if (svc->rtype == SPEC_RTYPE_SERVICE) {
		zl_invalid(&err, "%s is a long-running service: only jobs (rtype: job) and cron "
				 "services (rtype: cron) run on demand",
			   job);
		code = cli_fail(&err);
		goto out;
	}

	struct reconcile_opts ropts = {
		.root = o->root,
		.backend_name = o->backend,
		.lock_timeout_ms = o->lock_timeout_ms,
		.quiet = o->quiet,
		.plan_out = stdout,
		.bridge = o->bridge && *o->bridge ? o->bridge : NULL,
		.subnet = o->subnet && *o->subnet ? o->subnet : NULL,
		.run_deployment = dep->name,
		.run_service = job,
	};
	cli_images_opts(o, &ropts.images);
	struct spec_set one = { .deployments = (struct spec_deployment *)dep, .count = 1 };
	struct reconcile_result res;
	if (reconcile_apply(&ropts, &one, &res, &err) < 0) {
		code = cli_fail(&err);
		goto out;
	}
	if (o->detach)
		goto out;

	/* Wait without the lock: other applies may go on meanwhile. */
	int64_t deadline = o->wait_timeout_ms > 0 ? zl_monotonic_ms() + o->wait_timeout_ms : 0;
	if (reconcile_status(o->root, dep->name, &rows, &err) < 0 ||
	    backend_open(o->backend, o->root, &b, &err) < 0) {
		code = cli_fail(&err);
		goto out;
	}
	int timed_out = wait_replicas(b, &rows, dep->name, job, deadline);
	code = report(o, b, &rows, dep->name, svc, timed_out);
	/* A run stopped by --timeout is not retried by the next apply. */
	if (timed_out && reconcile_run_stopped(&ropts, dep->name, job, &err) < 0)
		cli_fail(&err);
	if (timed_out) {
		zl_err_set(&err, ZL_ERR_TIMEOUT, 0, "%s did not end within --timeout", job);
		code = cli_fail(&err);
	}
out:
	backend_close(b);
	state_replicas_free(&rows);
	spec_diags_free(&diags);
	spec_set_free(&set);
	free(recorded_dep);
	free(source);
	return code;
}
