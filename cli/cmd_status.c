/* cmd_status.c: `zlapply status` (alias ps): every recorded replica, refreshed
 * from its backend without writing anything. */
#include "cli.h"

#include "reconcile/reconcile.h"

int cmd_status(const struct cli_opts *o)
{
	struct state_replicas rows = { 0 };
	struct zl_err err = ZL_ERR_INIT;
	const char *deployment = o->name_count ? o->names[0] : NULL;
	if (reconcile_status(o->root, deployment, &rows, &err) < 0)
		return cli_fail(&err);
	if (o->output == CLI_OUTPUT_JSON) {
		char *json = output_status_json(&rows);
		printf("%s\n", json);
		free(json);
	} else {
		output_status_table(stdout, &rows, zl_now_ms());
	}
	state_replicas_free(&rows);
	return 0;
}
