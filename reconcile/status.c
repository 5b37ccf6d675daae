/* status.c: what `zlapply status` shows: the replica rows refreshed from
 * their backends (nothing written), the kept runs and cron schedules, and
 * with -o json each running replica's cpu and memory. */
#include "reconcile-internal.h"

#include <string.h>

/* cpu and memory of running replicas, read from cgroups by the backend
 * (files only, no subprocess). Unknown stays -1. */
static struct reconcile_replica_stats *collect_stats(const struct reconcile_opts *opts,
						     const struct state_replicas *rows)
{
	struct reconcile_replica_stats *stats = zl_xcalloc(rows->count + 1, sizeof(*stats));
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
		if (!b && reconcile_backend_open(opts, r->backend, &b, &err) < 0)
			continue;
		struct backend_stats st = { .cpu_usage_ns = -1, .memory_bytes = -1 };
		if (b->ops->stats(b, r->backend_id, &st, &err) == 0) {
			stats[i].cpu_usage_ns = st.cpu_usage_ns;
			stats[i].memory_bytes = st.memory_bytes;
		}
	}
	backend_close(b);
	return stats;
}

int reconcile_status_report(const struct reconcile_opts *opts, const char *deployment,
			    bool with_stats, struct reconcile_status_report *out, struct zl_err *err)
{
	memset(out, 0, sizeof(*out));
	if (reconcile_status(opts->root, deployment, &out->replicas, err) < 0)
		return -1;
	/* jobs/cron: kept runs and cron schedules */
	if (reconcile_status_runs(opts->root, deployment, &out->runs, &out->schedules, err) < 0)
		return -1;
	if (with_stats)
		out->stats = collect_stats(opts, &out->replicas);
	return 0;
}

void reconcile_status_report_free(struct reconcile_status_report *r)
{
	if (!r)
		return;
	state_replicas_free(&r->replicas);
	state_runs_free(&r->runs);
	state_schedules_free(&r->schedules);
	free(r->stats);
	memset(r, 0, sizeof(*r));
}

void reconcile_doctor_report_free(struct doctor_report *r)
{
	doctor_report_free(r);
}
