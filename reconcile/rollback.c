/* rollback.c: a deployment's revisions as the reconciler keeps them
 * (docs/user-guide.md, "History and rollback"): which apply records one,
 * which revision a failed rollout goes back to, loading a stored revision's
 * spec, and the verbs `history` and `rollback`.
 *
 * A rollback is an ordinary apply of the stored spec (apply.c), journaled
 * like any other, recorded as a new revision that names the one it
 * restored. That revision is written with status "applying" before the
 * first action; one still "applying" when the next apply of its deployment
 * starts was interrupted (a crash, kill -9), and that apply finishes it
 * first (apply.c, finish_interrupted_rollback). */
#include "reconcile-internal.h"

#include <errno.h>
#include <string.h>

/* ---- what a revision asks for ---- */

static int line_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void revision_hash(const struct plan_desired *desired, char out[65])
{
	/* Per service: what makes replicas differ (the spec hash, with the
	 * image digest once resolved) and what the spec hash leaves out but
	 * an apply acts on (replica count, type, schedule). Sorted, so the
	 * order of services in the file does not matter. */
	char **lines = zl_xcalloc(desired->count + 1, sizeof(*lines));
	for (size_t i = 0; i < desired->count; i++) {
		const struct plan_desired_service *ds = &desired->services[i];
		lines[i] = zl_xasprintf("%s\t%d\t%d\t%s\t%s\n", ds->svc->name, (int)ds->svc->rtype,
					ds->replicas, ds->svc->schedule ? ds->svc->schedule : "",
					ds->spec_hash);
	}
	qsort(lines, desired->count, sizeof(*lines), line_cmp);
	struct zl_buf all = { 0 };
	zl_buf_printf(&all, "%s\n", desired->deployment);
	for (size_t i = 0; i < desired->count; i++) {
		zl_buf_puts(&all, lines[i]);
		free(lines[i]);
	}
	free(lines);
	zl_sha256_hex(all.data, all.len, out);
	zl_buf_free(&all);
}

bool revision_applied(const struct state_revision *r)
{
	return r->status && strcmp(r->status, REVISION_APPLIED) == 0;
}

int64_t revision_restore_target(const struct state_revisions *list, int64_t current)
{
	const char *current_hash = NULL;
	for (size_t i = 0; i < list->count; i++)
		if (list->items[i].number == current)
			current_hash = list->items[i].hash;
	/* The newest revision before current that was applied in full and
	 * asks for something else (a rollback revision restoring what current
	 * already is would change nothing). */
	for (size_t i = list->count; i-- > 0;) {
		const struct state_revision *r = &list->items[i];
		if (r->number >= current || !revision_applied(r))
			continue;
		if (current_hash && strcmp(r->hash, current_hash) == 0)
			continue;
		return r->number;
	}
	return 0;
}

/* ---- recording an apply's revision ---- */

int revision_begin(struct state_db *db, const struct spec_deployment *dep,
		   const struct plan_desired *desired, const struct revision_origin *origin,
		   const char *given_source,
		   int64_t now_ms, struct revision_run *out, struct zl_err *err)
{
	memset(out, 0, sizeof(*out));
	struct state_revisions list = { 0 }; /* without their specs: not needed here */
	if (state_revisions_load_brief(db, dep->name, &list, err) < 0)
		return -1;
	int ret = -1;
	char hash[65];
	char *source = NULL;
	revision_hash(desired, hash);
	const struct state_revision *latest = list.count ? &list.items[list.count - 1] : NULL;
	if (origin && origin->number > 0) {
		/* Finishing an interrupted rollback: its revision is recorded. */
		out->number = origin->number;
		ret = 0;
		goto out;
	}
	if (latest && strcmp(latest->hash, hash) == 0) {
		if (revision_applied(latest)) {
			ret = 0; /* nothing new: a no-op apply adds no revision */
			goto out;
		}
		/* The same spec again after it stopped or failed: the same
		 * revision, tried again. */
		out->number = latest->number;
		out->restore_to = revision_restore_target(&list, latest->number);
		ret = state_revision_set_status(db, dep->name, latest->number, REVISION_APPLYING, NULL,
						err);
		goto out;
	}
	/* The spec an automatic rollback just undid, again (from cron or
	 * watch): that revision is tried again, so retries do not push the
	 * good revisions out of the history. */
	const struct state_revision *undone = list.count >= 2 ? &list.items[list.count - 2] : NULL;
	if (!origin && undone && latest->restores > 0 && latest->cause &&
	    strcmp(latest->cause, "automatic rollback") == 0 && strcmp(undone->hash, hash) == 0 &&
	    !revision_applied(undone)) {
		out->number = undone->number;
		out->restore_to = revision_restore_target(&list, undone->number);
		ret = state_revision_set_status(db, dep->name, undone->number, REVISION_APPLYING, NULL,
						err);
		goto out;
	}
	if (origin && origin->source)
		source = zl_xstrdup(origin->source);
	else if (given_source)
		source = zl_xstrdup(given_source);
	else if (strcmp(dep->file, "-") == 0)
		source = zl_xstrdup("stdin");
	else
		source = realpath(dep->file, NULL) ?: zl_xstrdup(dep->file);
	struct state_revision rev = {
		.deployment = dep->name,
		.hash = hash,
		.spec = dep->text,
		.source = source,
		.cause = (char *)(origin && origin->cause ? origin->cause : "apply"),
		.restores = origin ? origin->restores : 0,
		.status = (char *)REVISION_APPLYING,
		.created_at = now_ms,
	};
	if (state_begin(db, err) < 0)
		goto out;
	if (state_revision_add(db, &rev, err) < 0 || state_commit(db, err) < 0) {
		state_rollback(db);
		goto out;
	}
	out->number = rev.number;
	/* The list was read before the new one: its newest applied revision is
	 * what this one would go back to. */
	out->restore_to = latest ? revision_restore_target(&list, rev.number) : 0;
	ret = 0;
out:
	free(source);
	state_revisions_free(&list);
	return ret;
}

int revision_images_missing(const struct plan_desired *desired, int64_t number,
			    struct zl_err *err)
{
	for (size_t i = 0; i < desired->count; i++) {
		const struct plan_desired_service *ds = &desired->services[i];
		if (ds->image_error)
			return zl_fail(err, "revision %lld: service %s: image %s cannot be had (%s); nothing was changed",
				       (long long)number, ds->svc->name, ds->svc->image, ds->image_error);
	}
	return 0;
}

/* ---- a stored revision's spec ---- */

int revision_spec_load(const struct state_revision *rev, struct spec_set *set, struct zl_err *err)
{
	memset(set, 0, sizeof(*set));
	if (!rev->spec)
		return zl_fail(err, "revision %lld of %s has no stored spec", (long long)rev->number,
			       rev->deployment);
	_cleanup_free_ char *name =
		zl_xasprintf("revision %lld of %s", (long long)rev->number, rev->deployment);
	struct spec_diags diags = { 0 };
	int r = spec_load_text(name, rev->spec, strlen(rev->spec), set, &diags);
	if (r < 0 || diags.errors > 0 || set->count != 1 ||
	    strcmp(set->deployments[0].name, rev->deployment) != 0) {
		const struct spec_diag *d = NULL;
		for (size_t i = 0; i < diags.count && !d; i++)
			if (!diags.items[i].is_note)
				d = &diags.items[i];
		if (d)
			zl_fail(err, "%s:%d:%d: %s%s%s", d->file, d->line, d->col, d->path,
				*d->path ? ": " : "", d->msg);
		else
			zl_fail(err, "%s does not hold deployment %s alone", name, rev->deployment);
		spec_diags_free(&diags);
		spec_set_free(set);
		return -1;
	}
	spec_diags_free(&diags);
	return 0;
}

/* ---- the verbs ---- */

int reconcile_history(const char *root, const char *deployment, struct state_revisions *out,
		      struct zl_err *err)
{
	memset(out, 0, sizeof(*out));
	struct state_db *db = NULL;
	if (root_open_read(root, &db, err) < 0)
		return -1;
	int r = db ? state_revisions_load(db, deployment, out, err) : 0;
	state_close(db);
	if (r == 0 && out->count == 0)
		return zl_invalid(err, "no revision of deployment %s is recorded under %s", deployment,
				  root);
	return r;
}

/* The revision rollback restores: to, or the one before the newest. */
static int rollback_pick(const char *root, const char *deployment, int64_t to,
			 struct state_revision *out, struct zl_err *err)
{
	struct state_revisions list = { 0 };
	if (reconcile_history(root, deployment, &list, err) < 0)
		return -1;
	int ret = -1;
	const struct state_revision *latest = &list.items[list.count - 1];
	if (to <= 0) {
		to = revision_restore_target(&list, latest->number);
		if (to == 0) {
			zl_invalid(err, "deployment %s has no earlier revision to roll back to (see 'zlapply history -d %s')",
				   deployment, deployment);
			goto out;
		}
	}
	for (size_t i = 0; i < list.count; i++)
		if (list.items[i].number == to) {
			*out = list.items[i];
			memset(&list.items[i], 0, sizeof(list.items[i]));
			ret = 0;
			goto out;
		}
	zl_invalid(err, "deployment %s has no revision %lld: the kept revisions are %lld to %lld (see 'zlapply history -d %s')",
		   deployment, (long long)to, (long long)list.items[0].number,
		   (long long)latest->number, deployment);
out:
	state_revisions_free(&list);
	return ret;
}

int reconcile_rollback(const struct reconcile_opts *opts, const char *deployment, int64_t to,
		       struct reconcile_result *res, int64_t *restored, struct zl_err *err)
{
	memset(res, 0, sizeof(*res));
	*restored = 0;
	struct state_revision rev = { 0 };
	if (rollback_pick(opts->root, deployment, to, &rev, err) < 0)
		return -1;
	struct spec_set set = { 0 };
	int ret = -1;
	_cleanup_free_ char *source = zl_xasprintf("revision %lld", (long long)rev.number);
	if (revision_spec_load(&rev, &set, err) < 0) {
		zl_err_prefix(err, "rollback of %s", deployment);
		goto out;
	}
	struct revision_origin origin = {
		.cause = "rollback",
		.source = source,
		.restores = rev.number,
	};
	struct reconcile_opts ropts = *opts;
	ropts.origin = &origin;
	ropts.no_rollback = true; /* a rollback that fails stops; it does not roll back again */
	*restored = rev.number;
	ret = reconcile_apply(&ropts, &set, res, err);
out:
	spec_set_free(&set);
	state_revision_clear(&rev);
	return ret;
}

void reconcile_history_free(struct state_revisions *list)
{
	state_revisions_free(list);
}
