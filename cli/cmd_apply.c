/* cmd_apply.c: apply (the default verb), diff and validate. All three load
 * and validate the specs first; bad input stops them with exit 2 before the
 * state is touched. */
#include "cli.h"

/* Loads o->files; prints diagnostics. Returns 0 or an exit code. */
static int load_specs(const struct cli_opts *o, struct spec_set *set, bool print_notes)
{
	size_t errors = 0;
	if (reconcile_spec_load(o->files, o->file_count, print_notes, !o->spec_only, stderr, set, &errors) < 0) {
		fprintf(stderr, "zlapply: error: %zu problem%s in the spec; nothing was changed\n",
			errors, errors == 1 ? "" : "s");
		return 2;
	}
	return 0;
}

/* validate -o json: the problems as JSON on stdout (exit 2 when there is
 * an error), nothing on stderr. */
static int validate_json(const struct cli_opts *o)
{
	struct spec_set set = { 0 };
	struct spec_diags diags;
	bool valid = reconcile_spec_load_diags(o->files, o->file_count, !o->spec_only, &set, &diags) == 0;
	output_validate_json(stdout, &set, &diags, valid);
	reconcile_spec_diags_free(&diags);
	reconcile_spec_free(&set);
	return valid ? 0 : 2;
}

static int cmd_validate(const struct cli_opts *o, const struct spec_set *set)
{
	size_t services = 0;
	for (size_t i = 0; i < set->count; i++)
		services += set->deployments[i].service_count;
	if (!o->quiet)
		printf("valid: %zu deployment%s, %zu service%s\n", set->count,
		       set->count == 1 ? "" : "s", services, services == 1 ? "" : "s");
	return 0;
}

void cli_base_opts(const struct cli_opts *o, struct reconcile_opts *out)
{
	*out = (struct reconcile_opts){
		.root = o->root,
		.backend_name = o->backend,
		.runtime = o->runtime,
		.wasm_engine = o->wasm_engine,
		.lock_timeout_ms = o->lock_timeout_ms,
		.parallel = o->parallel,
		.quiet = o->quiet,
		.bridge = o->bridge && *o->bridge ? o->bridge : NULL,
		.subnet = o->subnet && *o->subnet ? o->subnet : NULL,
	};
	cli_images_opts(o, &out->images);
}

int cli_reconcile_opts(const struct cli_opts *o, struct reconcile_opts *out, struct zl_err *err)
{
	cli_base_opts(o, out);
	/* A bad --subnet is bad input: refuse it before anything is touched. */
	return reconcile_opts_check(out, err);
}

/* What is left of --timeout after the apply (at least 1 ms: the wait then
 * reports what is not ready). */
static int64_t wait_left_ms(int64_t deadline_mono_ms)
{
	int64_t left = deadline_mono_ms - zl_monotonic_ms();
	return left > 0 ? left : 1;
}

int cmd_apply(const struct cli_opts *o)
{
	bool json = o->output == CLI_OUTPUT_JSON;
	if (o->verb == CLI_VALIDATE && json)
		return validate_json(o);
	struct spec_set set = { 0 };
	struct output_plan jplan = { 0 };
	int code = load_specs(o, &set, o->verb == CLI_VALIDATE);
	if (code != 0)
		goto out;
	if (o->verb == CLI_VALIDATE) {
		code = cmd_validate(o, &set);
		goto out;
	}

	struct reconcile_opts ropts;
	struct zl_err err = ZL_ERR_INIT;
	if (cli_reconcile_opts(o, &ropts, &err) < 0) {
		code = cli_fail(&err);
		goto out;
	}
	bool plan_only = o->verb == CLI_DIFF || o->dry_run;
	ropts.dry_run = plan_only;
	ropts.plan_out = json ? NULL : stdout;
	ropts.plan_color = cli_color(o, stdout);
	if (json) { /* shell: -o json prints the plan or what was done */
		output_plan_init(&jplan);
		ropts.on_action = output_plan_action;
		ropts.action_ctx = &jplan;
	}
	/* history and rollback: --no-rollback; --timeout bounds every wait of
	 * the apply (a rollout's) and the --wait after it together */
	ropts.no_rollback = o->no_rollback;
	int64_t wait_ms = o->wait_timeout_ms > 0 ? o->wait_timeout_ms : 300000;
	if (o->wait && !plan_only)
		ropts.deadline_mono_ms = zl_monotonic_ms() + wait_ms;
	struct reconcile_result res = { 0 };
	int applied = reconcile_apply(&ropts, &set, &res, &err);
	if (json && (applied == 0 || res.actions_failed > 0))
		output_plan_print(stdout, &jplan, plan_only, &res);
	if (applied < 0) {
		/* Each failed action was reported as it failed; add the count. */
		if (res.actions_failed > 0) {
			fprintf(stderr, "zlapply: %zu of %zu action%s failed\n", res.actions_failed,
				res.actions_planned, res.actions_planned == 1 ? "" : "s");
			/* Some actions ran: that is a failure (1), not bad input (2),
			 * unless a --wait ran out of time (3). */
			code = cli_exit_code(&err) == 3 ? 3 : 1;
		} else {
			code = cli_fail(&err);
		}
		/* history and rollback: a rollout that stopped (5) or was rolled
		 * back (6), unless the timeout came first (3) */
		if (code == 1 && res.rollouts_rolled_back > 0) {
			if (res.actions_failed > 0) /* not printed above */
				fprintf(stderr, "zlapply: error: %s\n", err.msg);
			code = CLI_EXIT_ROLLED_BACK;
		} else if (code == 1 && res.rollouts_stopped > 0) {
			code = CLI_EXIT_ROLLOUT_STOPPED;
		}
		goto out;
	}
	if (!o->quiet && !plan_only) {
		if (res.actions_planned == 0)
			fprintf(stderr, "zlapply: up to date, nothing to do\n");
		else
			fprintf(stderr, "zlapply: %zu action%s done\n", res.actions_done,
				res.actions_done == 1 ? "" : "s");
	}
	if (plan_only && res.actions_planned == 0 && !o->quiet)
		fprintf(stderr, "zlapply: up to date, nothing to do\n");
	/* health: --wait until every replica is ready (reconcile/wait.c); exit 3 on timeout */
	if (o->wait && !plan_only &&
	    reconcile_wait(&ropts, &set, wait_left_ms(ropts.deadline_mono_ms), stderr, &err) < 0) {
		code = cli_fail(&err);
		goto out;
	}
	/* shell: diff --exit-code says whether anything would change */
	code = o->exit_code && res.actions_planned > 0 ? CLI_EXIT_CHANGES : 0;
out:
	output_plan_release(&jplan);
	reconcile_spec_free(&set);
	return code;
}
