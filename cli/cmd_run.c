/* cmd_run.c: `zlapply run JOB`: a new run of a job (or cron service) now
 * (reconcile/run.c); then wait for it to end and exit with its result (0
 * when every replica exited 0, 1 otherwise), or return at once with
 * --detach. --timeout D stops a run still going after D and exits 3.
 *
 * The spec comes from -f, or else from the file the deployment was last
 * applied from (recorded by apply). Only that deployment is touched, and of
 * it only JOB. */
#include "cli.h"

/* Prints how each replica of the run ended; 0 when all exited 0. */
static int report(const struct cli_opts *o, const struct reconcile_run_ends *ends)
{
	int code = 0;
	for (size_t i = 0; i < ends->count; i++) {
		const struct reconcile_run_end *e = &ends->items[i];
		if (e->error) {
			fprintf(stderr, "zlapply: %s: %s\n", e->replica, e->error);
			code = 1;
			continue;
		}
		if (e->stop_tried && e->stop_error)
			fprintf(stderr, "zlapply: %s: stop: %s\n", e->replica, e->stop_error);
		else if (e->stop_tried)
			fprintf(stderr, "zlapply: %s still running after --timeout: stopped\n",
				e->replica);
		if (e->status) {
			fprintf(stderr, "zlapply: %s: %s\n", e->replica, e->status);
			code = 1;
			continue;
		}
		char took[32] = "";
		if (e->duration_ms >= 0)
			snprintf(took, sizeof(took), " after %.1fs", (double)e->duration_ms / 1000.0);
		const char *sig = e->exit_signal ? reconcile_signal_name(e->exit_signal) : NULL;
		if (!o->quiet && o->output != CLI_OUTPUT_JSON) {
			if (e->exit_signal)
				printf("%s killed by %s%s\n", e->replica, sig ? sig : "a signal", took);
			else
				printf("%s exited %d%s\n", e->replica, e->exit_code, took);
		}
		if (e->exit_code != 0 || e->exit_signal != 0)
			code = 1;
	}
	return code;
}

int cmd_run(const struct cli_opts *o)
{
	const char *job = o->args[0];
	struct spec_set set = { 0 };
	struct reconcile_run_ends ends = { 0 };
	struct zl_err err = ZL_ERR_INIT;
	char *recorded_dep = NULL, *source = NULL;
	int code = 0;

	const char *const *files = o->files;
	size_t file_count = o->file_count;
	if (file_count == 0) {
		if (reconcile_run_recorded(o->root, job, o->name_count ? o->names[0] : NULL,
					   &recorded_dep, &source, &err) < 0) {
			code = cli_fail(&err);
			goto out;
		}
		files = (const char *const *)&source;
		file_count = 1;
	}
	if (reconcile_spec_load(files, file_count, false, true, stderr, &set, NULL) < 0) {
		fprintf(stderr, "zlapply: error: the spec has problems; nothing was run\n");
		code = 2;
		goto out;
	}

	struct reconcile_opts ropts;
	cli_base_opts(o, &ropts);
	bool json = o->output == CLI_OUTPUT_JSON; /* shell: -o json */
	ropts.plan_out = json ? NULL : stdout;
	/* The deployment holding JOB (-d or the recorded one narrow it down). */
	struct reconcile_run run;
	if (reconcile_run_start(&ropts, &set, job, o->name_count ? o->names[0] : recorded_dep,
				file_count == 1 ? files[0] : "the spec", &run, &err) < 0) {
		code = cli_fail(&err);
		goto out;
	}
	if (o->detach) {
		if (json)
			output_run_json(stdout, job, run.deployment->name, true, &ends);
		goto out;
	}

	if (reconcile_run_wait(&ropts, &run, o->wait_timeout_ms, &ends, &err) < 0) {
		code = cli_fail(&err);
		goto out;
	}
	code = report(o, &ends);
	if (json)
		output_run_json(stdout, job, run.deployment->name, false, &ends);
	/* A run stopped by --timeout is not retried by the next apply. */
	if (ends.timed_out &&
	    reconcile_run_stopped(&ropts, run.deployment->name, job, &err) < 0)
		cli_fail(&err);
	if (ends.timed_out) {
		zl_err_set(&err, ZL_ERR_TIMEOUT, 0, "%s did not end within --timeout", job);
		code = cli_fail(&err);
	}
out:
	reconcile_run_ends_free(&ends);
	reconcile_spec_free(&set);
	free(recorded_dep);
	free(source);
	return code;
}
