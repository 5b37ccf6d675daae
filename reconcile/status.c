/* status.c: what `zlapply status` shows: the replica rows refreshed from
 * their backends (nothing written), the kept runs and cron schedules, and
 * with -o json each running replica's cpu and memory; why a replica's
 * command could not be executed; an unknown `-d NAME` is an error. */
#include "reconcile-internal.h"

#include <string.h>

/* The backend called name, reusing *cur when it is that one (rows come
 * sorted, so usually one open per backend); NULL when it cannot be opened. */
static struct backend *backend_for(const struct reconcile_opts *opts, const char *name,
				   struct backend **cur)
{
	if (*cur && strcmp((*cur)->ops->name, name) == 0)
		return *cur;
	backend_close(*cur);
	*cur = NULL;
	struct zl_err err = ZL_ERR_INIT;
	if (reconcile_backend_open(opts, name, cur, &err) < 0)
		return NULL;
	return *cur;
}

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
		struct zl_err err = ZL_ERR_INIT;
		if (!backend_for(opts, r->backend, &b))
			continue;
		struct backend_stats st = BACKEND_STATS_UNKNOWN;
		if (b->ops->stats(b, r->backend_id, &st, &err) == 0) {
			stats[i].cpu_usage_ns = st.cpu_usage_ns;
			stats[i].memory_bytes = st.memory_bytes;
		}
	}
	backend_close(b);
	return stats;
}

/* A replica whose command could not be executed (exit_reason exec_failed:
 * not found, not executable) shows why as its error: the backend puts the
 * words (`exec: "NAME": executable file not found in $PATH`) last in the
 * replica's output, where `zlapply logs` shows them too. Files only. */
static void explain_exec_failures(const struct reconcile_opts *opts, struct state_replicas *rows)
{
	struct backend *b = NULL;
	for (size_t i = 0; i < rows->count; i++) {
		struct state_replica *r = &rows->items[i];
		if (r->state != STATE_REPLICA_EXITED || r->error || !r->exit_reason ||
		    strcmp(r->exit_reason, "exec_failed") != 0 || !r->backend || !r->backend_id)
			continue;
		if (!backend_for(opts, r->backend, &b))
			continue;
		struct zl_err err = ZL_ERR_INIT;
		char *text = NULL;
		size_t len = 0;
		FILE *out = open_memstream(&text, &len);
		if (!out)
			continue;
		struct backend_log_opts lo = { .tail = 1 };
		int ret = b->ops->logs(b, r->backend_id, &lo, out, &err);
		fclose(out);
		len = strcspn(text, "\n");
		if (ret == 0 && len > 0)
			r->error = zl_xstrndup(text, len);
		free(text);
	}
	backend_close(b);
}

/* -d NAME with nothing to show: a deployment this root records (scaled to
 * zero, say) is an empty table; a name it has never heard of (a typo) is an
 * error, not an empty table that reads as "nothing runs". */
static int check_deployment_known(const char *root, const char *name, struct zl_err *err)
{
	struct state_db *db = NULL;
	struct zl_err oerr = ZL_ERR_INIT;
	bool known = false;
	if (state_open(root, true, &db, &oerr) < 0) {
		if (oerr.sys_errno != ENOENT) {
			*err = oerr;
			return -1;
		}
	} else {
		char **names = NULL;
		size_t n = 0;
		int r = state_deployments_list(db, &names, &n, err);
		state_close(db);
		if (r < 0)
			return -1;
		for (size_t i = 0; i < n && !known; i++)
			known = strcmp(names[i], name) == 0;
		state_names_free(names, n);
	}
	if (!known)
		return zl_fail(err, "no deployment %s is recorded under %s (see 'zlapply status')",
			       name, root);
	return 0;
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
	if (deployment && out->replicas.count == 0 && out->runs.count == 0 &&
	    out->schedules.count == 0 && check_deployment_known(opts->root, deployment, err) < 0)
		return -1;
	explain_exec_failures(opts, &out->replicas);
	out->source = watch_git_source_recorded(opts->root);
	if (with_stats)
		out->stats = collect_stats(opts, &out->replicas);
	/* Each backend named by a row once, in the order they appear. */
	for (size_t i = 0; i < out->replicas.count; i++) {
		const char *name = out->replicas.items[i].backend;
		bool seen = !name;
		for (size_t k = 0; k < i && !seen; k++)
			seen = out->replicas.items[k].backend &&
			       strcmp(out->replicas.items[k].backend, name) == 0;
		if (!seen)
			reconcile_backend_note(opts, name, &out->notes, &out->note_count);
	}
	return 0;
}

void reconcile_backend_note(const struct reconcile_opts *opts, const char *name, char ***notes,
			    size_t *n)
{
	struct backend *b = NULL;
	struct zl_err ignored = ZL_ERR_INIT;
	if (reconcile_backend_open(opts, name, &b, &ignored) < 0)
		return;
	char *line = b->ops->describe ? b->ops->describe(b) : NULL;
	backend_close(b);
	if (!line)
		return;
	*notes = zl_xrealloc(*notes, (*n + 1) * sizeof(char *));
	(*notes)[(*n)++] = line;
}

void reconcile_status_report_free(struct reconcile_status_report *r)
{
	if (!r)
		return;
	state_replicas_free(&r->replicas);
	state_runs_free(&r->runs);
	state_schedules_free(&r->schedules);
	free(r->stats);
	for (size_t i = 0; i < r->note_count; i++)
		free(r->notes[i]);
	free(r->notes);
	free(r->source);
	memset(r, 0, sizeof(*r));
}

void reconcile_doctor_report_free(struct doctor_report *r)
{
	doctor_report_free(r);
}

int reconcile_deployment_names(const char *root, char ***names, size_t *count, struct zl_err *err)
{
	*names = NULL;
	*count = 0;
	struct state_db *db = NULL;
	int opened = root_open_read(root, &db, err);
	if (opened != 0)
		return opened < 0 ? -1 : 0; /* 1: nothing recorded yet */
	int r = state_deployments_list(db, names, count, err);
	state_close(db);
	return r;
}

void reconcile_names_free(char **names, size_t count)
{
	state_names_free(names, count);
}
