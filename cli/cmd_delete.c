/* cmd_delete.c: `zlapply delete -f FILE | -d NAME`: remove every replica and
 * record of the named deployments. Names come from -d and from the
 * deployments the -f specs declare. */
#include "cli.h"

int cmd_delete(const struct cli_opts *o)
{
	struct spec_set set = { 0 };
	const char **names = NULL;
	size_t count = 0;
	int code = 0;
	struct output_plan jplan = { 0 };

	if (o->file_count > 0 &&
	    reconcile_spec_load(o->files, o->file_count, false, false, stderr, &set, NULL) < 0) {
		fprintf(stderr, "zlapply: error: the spec has problems; nothing was deleted\n");
		code = 2;
		goto out;
	}
	names = zl_xcalloc(o->name_count + set.count + 1, sizeof(*names));
	for (size_t i = 0; i < o->name_count; i++)
		names[count++] = o->names[i];
	for (size_t i = 0; i < set.count; i++)
		names[count++] = set.deployments[i].name;

	struct reconcile_opts ropts;
	cli_base_opts(o, &ropts);
	ropts.dry_run = o->dry_run;
	/* shell: -o json prints the removals (planned or done), --color colours them */
	bool json = o->output == CLI_OUTPUT_JSON;
	ropts.plan_out = json ? NULL : stdout;
	ropts.plan_color = cli_color(o, stdout);
	if (json) {
		output_plan_init(&jplan);
		ropts.on_action = output_plan_action;
		ropts.action_ctx = &jplan;
	}
	struct reconcile_result res = { 0 };
	struct zl_err err = ZL_ERR_INIT;
	int deleted = reconcile_delete(&ropts, names, count, &res, &err);
	if (json && (deleted == 0 || res.actions_failed > 0))
		output_plan_print(stdout, &jplan, o->dry_run, &res);
	if (deleted < 0) {
		if (res.actions_failed > 0) {
			fprintf(stderr, "zlapply: %zu of %zu removals failed\n", res.actions_failed,
				res.actions_planned);
			code = 1;
		} else {
			code = cli_fail(&err);
		}
		goto out;
	}
	if (!o->quiet && !o->dry_run)
		fprintf(stderr, "zlapply: deleted %zu replica%s\n", res.actions_done,
			res.actions_done == 1 ? "" : "s");
out:
	output_plan_release(&jplan);
	free(names);
	reconcile_spec_free(&set);
	return code;
}
