/* cmd_status.c: `zlapply status` (alias ps): every recorded replica, refreshed
 * from its backend without writing anything, then the kept runs of jobs and
 * the cron schedules; -o json adds each running replica's cpu and memory. */
#include "cli.h"

int cmd_status(const struct cli_opts *o)
{
	struct reconcile_opts ropts;
	cli_base_opts(o, &ropts);
	struct reconcile_status_report rep;
	struct zl_err err = ZL_ERR_INIT;
	bool json = o->output == CLI_OUTPUT_JSON;
	if (reconcile_status_report(&ropts, o->name_count ? o->names[0] : NULL, json, &rep,
				    &err) < 0) {
		reconcile_status_report_free(&rep);
		return cli_fail(&err);
	}
	struct output_runs extra = { .runs = &rep.runs, .schedules = &rep.schedules,
				     .notes = rep.notes, .note_count = rep.note_count,
				     .source = rep.source };
	int64_t now = zl_now_ms();
	if (json) {
		char *text = output_status_json(&rep.replicas, rep.stats, &extra, now);
		printf("%s\n", text);
		free(text);
	} else {
		output_status_table(stdout, &rep.replicas, &extra, now, cli_color(o, stdout));
	}
	reconcile_status_report_free(&rep);
	return 0;
}
