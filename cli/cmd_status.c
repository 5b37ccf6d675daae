/* cmd_status.c: `zlapply status` (alias ps): every recorded replica, refreshed
 * from its backend without writing anything. */
#include "cli.h"

#include <string.h>

#include "reconcile/reconcile.h"

/* cpu and memory of running replicas, read from cgroups by the backend
 * (files only, no subprocess). Unknown stays -1. */
static struct backend_stats *collect_stats(const struct cli_opts *o,
					   const struct state_replicas *rows)
{
	struct backend_stats *stats = zl_xcalloc(rows->count + 1, sizeof(*stats));
	struct backend *b = NULL;
	for (size_t i = 0; i < rows->count; i++) {
		const struct state_replica *r = &rows->items[i];
		stats[i].cpu_usage_ns = stats[i].memory_bytes = -1;
		if (r->state != STATE_REPLICA_RUNNING || !r->backend || !r->backend_id)
			continue;
		if (b && strcmp(b->ops->name, r->backend) != 0) {
			backend_close(b);
			b = NULL;
		}
		struct zl_err err = ZL_ERR_INIT;
		if (!b && backend_open(r->backend, o->root, &b, &err) < 0)
			continue;
		if (b->ops->stats(b, r->backend_id, &stats[i], &err) < 0)
			stats[i].cpu_usage_ns = stats[i].memory_bytes = -1;
	}
	backend_close(b);
	return stats;
}

int cmd_status(const struct cli_opts *o)
{
	struct state_replicas rows = { 0 };
	struct zl_err err = ZL_ERR_INIT;
	const char *deployment = o->name_count ? o->names[0] : NULL;
	if (reconcile_status(o->root, deployment, &rows, &err) < 0)
		return cli_fail(&err);
	/* jobs/cron: kept runs and cron schedules */
	struct state_runs runs = { 0 };
	struct state_schedules schedules = { 0 };
	if (reconcile_status_runs(o->root, deployment, &runs, &schedules, &err) < 0) {
		state_replicas_free(&rows);
		return cli_fail(&err);
	}
	struct output_runs extra = { .runs = &runs, .schedules = &schedules };
	int64_t now = zl_now_ms();
	if (o->output == CLI_OUTPUT_JSON) {
		struct backend_stats *stats = collect_stats(o, &rows);
		char *json = output_status_json(&rows, stats, &extra, now);
		free(stats);
		printf("%s\n", json);
		free(json);
	} else {
		output_status_table(stdout, &rows, &extra, now);
	}
	state_runs_free(&runs);
	state_schedules_free(&schedules);
	state_replicas_free(&rows);
	return 0;
}
