/* cmd_doctor.c: `zlapply doctor [--fix]`: lists what zlapply made that no
 * replica owns (one line each: kind, name, why) and with --fix removes it.
 * Exit 0 when there is nothing (left) to clean up, 1 when findings remain,
 * so scripts and timers notice. */
#include "cli.h"

int cmd_doctor(const struct cli_opts *o)
{
	struct reconcile_opts ropts;
	cli_base_opts(o, &ropts);
	struct doctor_report rep;
	struct zl_err err = ZL_ERR_INIT;
	if (reconcile_doctor(&ropts, o->fix, &rep, &err) < 0) {
		reconcile_doctor_report_free(&rep);
		return cli_fail(&err);
	}
	size_t left = 0;
	if (o->output == CLI_OUTPUT_JSON) { /* shell: the same exit codes */
		output_doctor_json(stdout, &rep, o->fix);
		for (size_t i = 0; i < rep.count; i++)
			left += !rep.items[i].fixed;
		reconcile_doctor_report_free(&rep);
		return left ? 1 : 0;
	}
	for (size_t i = 0; i < rep.count; i++) {
		const struct doctor_finding *f = &rep.items[i];
		if (!o->fix)
			printf("%-8s %s  (%s)\n", f->kind, f->name, f->detail);
		else if (f->fixed)
			printf("removed  %-8s %s  (%s)\n", f->kind, f->name, f->detail);
		else
			printf("failed   %-8s %s: %s\n", f->kind, f->name,
			       f->fix_error ? f->fix_error : "?");
		if (!f->fixed)
			left++;
	}
	if (rep.count == 0)
		printf("nothing to clean up\n");
	else if (!o->fix)
		fprintf(stderr, "zlapply: %zu thing%s no replica owns; 'zlapply doctor --fix' removes %s\n",
			rep.count, rep.count == 1 ? "" : "s", rep.count == 1 ? "it" : "them");
	else if (left)
		fprintf(stderr, "zlapply: %zu of %zu could not be removed\n", left, rep.count);
	for (size_t i = 0; i < rep.note_count && !o->quiet; i++)
		fprintf(stderr, "zlapply: note: %s\n", rep.notes[i]);
	if (rep.foreign && !o->quiet)
		fprintf(stderr, "zlapply: note: %zu zl-* namespace%s or zlh* link%s belong to no "
				"replica of %s and were never made with it (another --root?); not touched\n",
			rep.foreign, rep.foreign == 1 ? "" : "s", rep.foreign == 1 ? "" : "s", o->root);
	reconcile_doctor_report_free(&rep);
	return left ? 1 : 0;
}
