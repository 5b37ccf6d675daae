/* names.c: service names in an apply; see names-internal.h for the calls,
 * the lines and the records.
 *
 * The names a replica of deployment D sees are D's own lines followed by
 * what every other deployment offers (sorted by deployment name), so a
 * change of D's own lines touches D's replicas only, and a change of what
 * D offers touches every other deployment's replicas. A record is written
 * only after every replica it concerns got its lines: a failure leaves the
 * old record, and the next run pushes again. */
#include "names-internal.h"
#include "health-internal.h" /* readiness */

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#define OWN_EXT ".own"
#define EXPORTS_EXT ".exports"
#define GIVEN_EXT ".given"

struct offer {
	char *deployment;
	char *exports; /* NULL: none recorded */
};

struct names {
	struct backend *b;
	char *dir;              /* <root>/names */
	const struct plan_desired *desired;
	const char *deployment;
	char *own, *exports;          /* the deployment's lines now (NULL: unknown) */
	char *own_rec, *exports_rec;  /* as recorded (NULL: no record) */
	/* What its replicas were last given, all of them (NULL: unknown); a
	 * change of another deployment's offer that did not reach them (a
	 * failure, a record removed by hand) differs from it and is given at
	 * this deployment's next apply. */
	char *given, *given_rec;
	bool gone;                    /* no replica left and none desired (delete) */
	struct offer *offers;         /* every other deployment's record, by name */
	size_t n_offers;
};

/* ---- rendering ---- */

static const struct spec_service *desired_service(const struct plan_desired *desired,
						  const char *service)
{
	for (size_t i = 0; desired && i < desired->count; i++)
		if (strcmp(desired->services[i].svc->name, service) == 0)
			return desired->services[i].svc;
	return NULL;
}

static bool has_address(const struct state_replica *r)
{
	return r->state == STATE_REPLICA_RUNNING && r->ip && *r->ip;
}

static bool ready(const struct spec_service *svc, const struct state_replica *r)
{
	return svc && has_address(r) && health_replica_ready(svc, r);
}

char *names_render_own(const struct plan_desired *desired, const struct state_replicas *rows)
{
	struct zl_buf out = { 0 };
	zl_buf_puts(&out, "");
	for (size_t i = 0; i < rows->count; i++) {
		const struct state_replica *r = &rows->items[i];
		if (!has_address(r))
			continue;
		const char *s = r->service, *d = r->deployment;
		zl_buf_printf(&out, "%s\t", r->ip);
		if (ready(desired_service(desired, s), r))
			zl_buf_printf(&out, "%s %s.%s ", s, s, d);
		zl_buf_printf(&out, "%s-rep-%d %s-rep-%d.%s\n", s, r->index, s, r->index, d);
	}
	return zl_buf_steal(&out);
}

char *names_render_exports(const struct plan_desired *desired, const struct state_replicas *rows)
{
	struct zl_buf out = { 0 };
	zl_buf_puts(&out, "");
	for (size_t i = 0; i < rows->count; i++) {
		const struct state_replica *r = &rows->items[i];
		const struct spec_service *svc = desired_service(desired, r->service);
		if (svc && svc->endpoint_count > 0 && ready(svc, r))
			zl_buf_printf(&out, "%s\t%s.%s\n", r->ip, r->service, r->deployment);
	}
	return zl_buf_steal(&out);
}

/* ---- records ---- */

char *names_dir(const char *root)
{
	return zl_xasprintf("%s/names", root);
}

bool names_is_record(const char *file, char **deployment)
{
	static const char *const exts[] = { OWN_EXT, EXPORTS_EXT, GIVEN_EXT };
	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++)
		if (file[0] != '.' && zl_str_has_suffix(file, exts[i])) {
			*deployment = zl_xstrndup(file, strlen(file) - strlen(exts[i]));
			return true;
		}
	return false;
}

static char *record_path(const struct names *n, const char *deployment, const char *ext)
{
	return zl_xasprintf("%s/%s%s", n->dir, deployment, ext);
}

/* The record's text; NULL when there is none (or it cannot be read: the
 * next write replaces it). */
static char *record_read(const struct names *n, const char *deployment, const char *ext)
{
	_cleanup_free_ char *path = record_path(n, deployment, ext);
	char *text = NULL;
	size_t len = 0;
	if (zl_read_file(path, &text, &len, NULL) < 0)
		return NULL;
	return text;
}

/* Writes text as the record (removes it when text is ""), unless it says
 * that already. */
static int record_write(const struct names *n, const char *ext, const char *text,
			const char *recorded, struct zl_err *err)
{
	if (recorded && strcmp(recorded, text) == 0)
		return 0;
	_cleanup_free_ char *path = record_path(n, n->deployment, ext);
	if (!*text) {
		if (unlink(path) < 0 && errno != ENOENT)
			return zl_fail_errno(err, "remove %s", path);
		return 0;
	}
	if (zl_mkdir_p(n->dir, 0700, err) < 0)
		return -1;
	return zl_write_file_atomic(path, text, strlen(text), 0600, err);
}

static int offer_cmp(const void *a, const void *b)
{
	return strcmp(((const struct offer *)a)->deployment, ((const struct offer *)b)->deployment);
}

/* What the other deployments offer, from their records. */
static void offers_load(struct names *n)
{
	DIR *d = opendir(n->dir);
	struct dirent *de;
	size_t cap = 0;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.' || !zl_str_has_suffix(de->d_name, EXPORTS_EXT))
			continue;
		_cleanup_free_ char *dep =
			zl_xstrndup(de->d_name, strlen(de->d_name) - strlen(EXPORTS_EXT));
		if (strcmp(dep, n->deployment) == 0)
			continue;
		zl_grow(&n->offers, sizeof(*n->offers), &cap, n->n_offers + 1);
		n->offers[n->n_offers++] = (struct offer){ .deployment = zl_xstrdup(dep),
							   .exports = record_read(n, dep, EXPORTS_EXT) };
	}
	if (d)
		closedir(d);
	if (n->n_offers)
		qsort(n->offers, n->n_offers, sizeof(*n->offers), offer_cmp);
}

/* ---- the text a replica gets ---- */

/* own, then what every deployment but `deployment` offers, by name. */
static char *text_for(const struct names *n, const char *deployment, const char *own)
{
	struct zl_buf out = { 0 };
	zl_buf_puts(&out, own ? own : "");
	bool mine_done = strcmp(deployment, n->deployment) == 0;
	for (size_t i = 0; i <= n->n_offers; i++) {
		const struct offer *o = i < n->n_offers ? &n->offers[i] : NULL;
		/* This deployment's offer, at its place in the order. */
		if (!mine_done && (!o || strcmp(n->deployment, o->deployment) < 0)) {
			zl_buf_puts(&out, n->exports ? n->exports : "");
			mine_done = true;
		}
		if (o && strcmp(o->deployment, deployment) != 0 && o->exports)
			zl_buf_puts(&out, o->exports);
	}
	return zl_buf_steal(&out);
}

char *names_text(const struct names *n)
{
	return n ? text_for(n, n->deployment, n->own) : NULL;
}

/* Gives text to the replicas of deployment in rows; the first failure goes
 * to err, the others to the log. */
static int push(const struct names *n, const struct state_replicas *rows, const char *deployment,
		const char *text, struct zl_err *err)
{
	int ret = 0;
	for (size_t i = 0; i < rows->count; i++) {
		const struct state_replica *r = &rows->items[i];
		if (strcmp(r->deployment, deployment) != 0 || !r->ip || !*r->ip || !r->backend_id)
			continue;
		struct zl_err e = ZL_ERR_INIT;
		if (n->b->ops->set_names(n->b, r->backend_id, text, &e) < 0) {
			zl_log(ZL_LOG_ERROR, "%s: %s-rep-%d: service names: %s", deployment, r->service,
			       r->index, e.msg);
			if (ret == 0) {
				*err = e;
				zl_err_prefix(err, "service names of %s/%s-rep-%d", deployment, r->service,
					      r->index);
			}
			ret = -1;
		}
	}
	return ret;
}

/* ---- the calls of an apply ---- */

struct names *names_begin(struct backend *b, const struct reconcile_opts *o,
			  const struct plan_desired *desired)
{
	if (!b || o->dry_run || !b->ops->set_names)
		return NULL;
	struct names *n = zl_xcalloc(1, sizeof(*n));
	n->b = b;
	n->dir = names_dir(o->root);
	n->desired = desired;
	n->deployment = desired->deployment;
	n->own_rec = record_read(n, n->deployment, OWN_EXT);
	n->exports_rec = record_read(n, n->deployment, EXPORTS_EXT);
	n->given_rec = record_read(n, n->deployment, GIVEN_EXT);
	n->own = zl_xstrdup(n->own_rec);
	n->exports = zl_xstrdup(n->exports_rec);
	n->given = zl_xstrdup(n->given_rec);
	offers_load(n);
	return n;
}

static bool same(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

int names_update(struct names *n, struct state_db *db, const char *const *leaving_ips,
		 size_t n_leaving, struct zl_err *err)
{
	if (!n)
		return 0;
	struct state_replicas rows = { 0 };
	if (state_replicas_load(db, n->deployment, &rows, err) < 0)
		return zl_err_prefix(err, "service names");
	/* Replicas about to stop are out of every name from now on. */
	for (size_t i = 0; i < rows.count; i++)
		for (size_t k = 0; rows.items[i].ip && k < n_leaving; k++)
			if (strcmp(rows.items[i].ip, leaving_ips[k]) == 0)
				rows.items[i].state = STATE_REPLICA_REMOVING;
	free(n->own);
	free(n->exports);
	n->own = names_render_own(n->desired, &rows);
	n->exports = names_render_exports(n->desired, &rows);
	n->gone = rows.count == 0 && n->desired->count == 0;
	int r = 0;
	char *text = names_text(n);
	if (!same(text, n->given)) {
		r = push(n, &rows, n->deployment, text, err);
		if (r == 0) { /* else the next call tries again */
			free(n->given);
			n->given = text;
			text = NULL;
		}
	}
	free(text);
	state_replicas_free(&rows);
	return r;
}

/* Every other deployment's replicas get what this one offers now. */
static int push_others(struct names *n, struct state_db *db, struct zl_err *err)
{
	struct state_replicas all = { 0 };
	if (state_replicas_load(db, NULL, &all, err) < 0)
		return -1;
	int ret = 0;
	for (size_t i = 0; i < all.count;) {
		const char *dep = all.items[i].deployment;
		size_t end = i;
		while (end < all.count && strcmp(all.items[end].deployment, dep) == 0)
			end++;
		if (strcmp(dep, n->deployment) != 0) {
			_cleanup_free_ char *own = record_read(n, dep, OWN_EXT);
			_cleanup_free_ char *text = text_for(n, dep, own);
			struct zl_err e = ZL_ERR_INIT;
			if (push(n, &all, dep, text, &e) < 0 && ret == 0) {
				*err = e;
				ret = -1;
			}
		}
		i = end;
	}
	state_replicas_free(&all);
	return ret;
}

int names_finish(struct names *n, struct state_db *db, struct zl_err *err)
{
	if (!n)
		return 0;
	if (names_update(n, db, NULL, 0, err) < 0)
		return -1;
	if (!same(n->exports, n->exports_rec) && !(n->exports_rec == NULL && !*n->exports)) {
		if (push_others(n, db, err) < 0)
			return zl_err_prefix(err, "service names");
		if (record_write(n, EXPORTS_EXT, n->exports, n->exports_rec, err) < 0)
			return zl_err_prefix(err, "service names");
	}
	if (record_write(n, OWN_EXT, n->own, n->own_rec, err) < 0 ||
	    record_write(n, GIVEN_EXT, n->gone ? "" : n->given, n->given_rec, err) < 0)
		return zl_err_prefix(err, "service names");
	/* The last deployment gone: the directory goes too. */
	if (n->gone && rmdir(n->dir) < 0 && errno != ENOENT && errno != ENOTEMPTY)
		zl_log(ZL_LOG_WARN, "remove %s: %s", n->dir, strerror(errno));
	return 0;
}

int names_refresh(struct backend *b, const struct reconcile_opts *o,
		  const struct spec_deployment *dep, struct state_db *db, struct zl_err *err)
{
	struct plan_desired_service *ds = zl_xcalloc(dep->service_count + 1, sizeof(*ds));
	for (size_t i = 0; i < dep->service_count; i++)
		ds[i].svc = &dep->services[i];
	struct plan_desired desired = { .deployment = dep->name, .services = ds,
					.count = dep->service_count };
	struct names *n = names_begin(b, o, &desired);
	int r = names_finish(n, db, err);
	names_free(n);
	free(ds);
	return r;
}

void names_free(struct names *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n_offers; i++) {
		free(n->offers[i].deployment);
		free(n->offers[i].exports);
	}
	free(n->offers);
	free(n->own);
	free(n->exports);
	free(n->own_rec);
	free(n->exports_rec);
	free(n->given);
	free(n->given_rec);
	free(n->dir);
	free(n);
}
