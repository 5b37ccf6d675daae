/* doctor.c: `zlapply doctor [--fix]`: what zlapply made on this host that
 * no replica of this state root owns any more. Two kinds of owner answer:
 *   - every compiled-in backend, through its leftovers()/sweep() (its
 *     directories, mounts, monitors, network namespaces, veths...): doctor
 *     names no backend and knows none of their files;
 *   - reconcile/ itself for what it keeps: address leases (state/),
 *     published-port rules and port records (publish.c).
 *
 * Ownership is decided against the replica rows; nothing a recorded replica
 * uses is touched. Replicas this root only has a trace of (a pending
 * journal entry or an event) are passed to the backends as traced, so they
 * can tell this root's host-wide objects from another root's; those are
 * counted in report->foreign and left alone. The lock is held throughout,
 * so an apply never runs in the middle. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "reconcile-internal.h"
#include "publish-internal.h"
#include "names-internal.h"

#include <stdarg.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "net/net.h"

struct known { /* a replica this root made at some point */
	char *deployment, *service;
	int index;
	char *id; /* zl-<d>-<s>-<n> */
};

struct doctor {
	const char *root;
	struct state_replicas rows;
	struct known *known;
	size_t n_known, cap_known;
	struct doctor_report *out;
};

void doctor_report_free(struct doctor_report *r)
{
	for (size_t i = 0; i < r->count; i++) {
		free(r->items[i].backend);
		free(r->items[i].kind);
		free(r->items[i].name);
		free(r->items[i].detail);
		free(r->items[i].fix_error);
		free(r->items[i].key);
	}
	free(r->items);
	for (size_t i = 0; i < r->note_count; i++)
		free(r->notes[i]);
	free(r->notes);
	memset(r, 0, sizeof(*r));
}

static void add_finding(struct doctor *d, const char *kind, const char *name, const char *key,
			const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void add_finding(struct doctor *d, const char *kind, const char *name, const char *key,
			const char *fmt, ...)
{
	struct doctor_report *r = d->out;
	zl_grow(&r->items, sizeof(*r->items), &r->cap, r->count + 1);
	va_list ap;
	va_start(ap, fmt);
	char *detail = zl_xvasprintf(fmt, ap);
	va_end(ap);
	r->items[r->count++] = (struct doctor_finding){
		.kind = zl_xstrdup(kind), .name = zl_xstrdup(name), .detail = detail,
		.key = zl_xstrdup(key),
	};
}

static void known_add(struct doctor *d, const char *dep, const char *svc, int index)
{
	char *id = backend_replica_id(dep, svc, index);
	for (size_t i = 0; i < d->n_known; i++)
		if (strcmp(d->known[i].id, id) == 0) {
			free(id);
			return;
		}
	zl_grow(&d->known, sizeof(*d->known), &d->cap_known, d->n_known + 1);
	d->known[d->n_known++] = (struct known){ .deployment = zl_xstrdup(dep),
						 .service = zl_xstrdup(svc), .index = index, .id = id };
}

/* ---- the scans ---- */

static void scan_leases(struct doctor *d, struct state_db *db)
{
	char **ips = NULL;
	size_t n = 0;
	struct zl_err err = ZL_ERR_INIT;
	if (state_leases_ips(db, &ips, &n, &err) < 0) {
		zl_log(ZL_LOG_WARN, "doctor: %s", err.msg);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		bool owned = false;
		for (size_t k = 0; !owned && k < d->rows.count; k++)
			owned = d->rows.items[k].ip && strcmp(d->rows.items[k].ip, ips[i]) == 0;
		if (!owned)
			add_finding(d, "lease", ips[i], ips[i], "address lease, no replica");
	}
	state_names_free(ips, n);
}

static bool service_has_rows(const struct doctor *d, const char *dep, const char *svc)
{
	for (size_t i = 0; i < d->rows.count; i++)
		if (strcmp(d->rows.items[i].deployment, dep) == 0 &&
		    strcmp(d->rows.items[i].service, svc) == 0)
			return true;
	return false;
}

static void scan_rules(struct doctor *d)
{
	struct net_ports_owner *owners = NULL;
	size_t n = 0;
	struct zl_err err = ZL_ERR_INIT;
	if (net_ports_list(&owners, &n, &err) < 0) {
		zl_log(ZL_LOG_WARN, "doctor: published-port rules not checked: %s", err.msg);
		return;
	}
	_cleanup_free_ char *scope = publish_scope(d->root);
	for (size_t i = 0; i < n; i++) {
		char chain[NET_CHAIN_MAX];
		net_ports_chain(scope, owners[i].deployment, owners[i].service, chain);
		if (strcmp(chain, owners[i].chain) != 0)
			continue; /* another state root's */
		if (service_has_rows(d, owners[i].deployment, owners[i].service))
			continue;
		_cleanup_free_ char *name =
			zl_xasprintf("zlapply:%s/%s", owners[i].deployment, owners[i].service);
		_cleanup_free_ char *key =
			zl_xasprintf("%s/%s", owners[i].deployment, owners[i].service);
		add_finding(d, "rules", name, key, "published-port rules (chain %s), service has no replicas",
			    chain);
	}
	net_ports_owners_free(owners, n);
}

/* Port records (<root>/ports/<dep>/<svc>.json|.rules) of services that are
 * neither recorded nor have replicas. */
static void scan_port_records(struct doctor *d, struct state_db *db)
{
	_cleanup_free_ char *top = publish_dir(d->root);
	DIR *dh = opendir(top);
	if (!dh)
		return;
	struct dirent *de;
	while ((de = readdir(dh))) {
		if (de->d_name[0] == '.')
			continue;
		struct state_services svcs = { 0 };
		struct zl_err err = ZL_ERR_INIT;
		if (state_services_load(db, de->d_name, &svcs, &err) < 0)
			zl_log(ZL_LOG_WARN, "doctor: %s", err.msg);
		_cleanup_free_ char *sub = zl_xasprintf("%s/%s", top, de->d_name);
		DIR *sd = opendir(sub);
		struct dirent *fe;
		while (sd && (fe = readdir(sd))) {
			const char *ext = strrchr(fe->d_name, '.');
			if (fe->d_name[0] == '.' || !ext || (strcmp(ext, ".json") && strcmp(ext, ".rules")))
				continue;
			_cleanup_free_ char *svc = zl_xstrndup(fe->d_name, (size_t)(ext - fe->d_name));
			bool recorded = service_has_rows(d, de->d_name, svc);
			for (size_t i = 0; !recorded && i < svcs.count; i++)
				recorded = strcmp(svcs.items[i].name, svc) == 0;
			if (recorded)
				continue;
			_cleanup_free_ char *path = zl_xasprintf("%s/%s", sub, fe->d_name);
			add_finding(d, "ports", path, path, "port record of %s/%s, service not recorded",
				    de->d_name, svc);
		}
		if (sd)
			closedir(sd);
		state_services_free(&svcs);
	}
	closedir(dh);
}

/* Service-name records (<root>/names/<dep>.*) of deployments that are
 * neither recorded nor have replicas: they would give other deployments'
 * replicas names of nothing. Once removed, each deployment's next apply
 * gives its replicas the names without them. */
static void scan_names_records(struct doctor *d, struct state_db *db)
{
	_cleanup_free_ char *top = names_dir(d->root);
	DIR *dh = opendir(top);
	if (!dh)
		return;
	char **deps = NULL;
	size_t n_deps = 0;
	struct zl_err err = ZL_ERR_INIT;
	if (state_deployments_list(db, &deps, &n_deps, &err) < 0) {
		zl_log(ZL_LOG_WARN, "doctor: service-name records not checked: %s", err.msg);
		closedir(dh);
		return;
	}
	struct dirent *de;
	while ((de = readdir(dh))) {
		_cleanup_free_ char *dep = NULL;
		if (!names_is_record(de->d_name, &dep))
			continue;
		bool recorded = false;
		for (size_t i = 0; !recorded && i < n_deps; i++)
			recorded = strcmp(deps[i], dep) == 0;
		for (size_t i = 0; !recorded && i < d->rows.count; i++)
			recorded = strcmp(d->rows.items[i].deployment, dep) == 0;
		if (recorded)
			continue;
		_cleanup_free_ char *path = zl_xasprintf("%s/%s", top, de->d_name);
		add_finding(d, "names", path, path, "service-name record of %s, deployment not recorded",
			    dep);
	}
	closedir(dh);
	state_names_free(deps, n_deps);
}

/* The bridge this root stored, with its masquerading and forward rules,
 * when no replica of any root uses it any more (root_bridge_unused). A
 * delete of the last deployment removes it itself; this finds one a crash
 * or an older version left. */
static void scan_bridge(struct doctor *d, struct state_db *db)
{
	struct root_network net;
	struct zl_err err = ZL_ERR_INIT;
	if (root_bridge_unused(db, d->root, &net, &err) <= 0)
		return;
	char cidr[NET_CIDR_STRLEN];
	net_subnet_format(&net.subnet, cidr);
	_cleanup_free_ char *key = zl_xasprintf("%s %s", net.bridge, cidr);
	add_finding(d, "bridge", net.bridge, key,
		    "bridge %s (%s) with its masquerading and forward rules, no replica of any root uses it",
		    net.bridge, cidr);
}

/* Everything this root has a trace of: rows, pending journal entries, events. */
static int load_known(struct doctor *d, struct state_db *db, struct zl_err *err)
{
	for (size_t i = 0; i < d->rows.count; i++)
		known_add(d, d->rows.items[i].deployment, d->rows.items[i].service,
			  d->rows.items[i].index);
	struct state_journal pending = { 0 };
	if (state_journal_pending(db, NULL, &pending, err) < 0)
		return -1;
	for (size_t i = 0; i < pending.count; i++)
		known_add(d, pending.items[i].deployment, pending.items[i].service,
			  pending.items[i].index);
	state_journal_free(&pending);
	struct state_events events = { 0 };
	if (state_events_load(db, NULL, 0, &events, err) < 0)
		return -1;
	for (size_t i = 0; i < events.count; i++)
		if (events.items[i].index > 0 && events.items[i].service)
			known_add(d, events.items[i].deployment, events.items[i].service,
				  events.items[i].index);
	state_events_free(&events);
	return 0;
}

/* ---- --fix ---- */

/* The fixes of what reconcile/ keeps itself. */
static int fix_one(struct doctor *d, struct state_db *db, const struct doctor_finding *f,
		   struct zl_err *err)
{
	const char *kind = f->kind;
	if (strcmp(kind, "bridge") == 0) {
		struct root_network net;
		char cidr[NET_CIDR_STRLEN + 1];
		if (sscanf(f->key, "%15s %19s", net.bridge, cidr) != 2 ||
		    net_subnet_parse(cidr, &net.subnet, err) < 0)
			return zl_fail(err, "bridge finding \"%s\" is malformed", f->key);
		return root_bridge_teardown(d->root, &net, err);
	}
	if (strcmp(kind, "lease") == 0) {
		size_t n = 0;
		return state_leases_reclaim(db, &n, err);
	}
	if (strcmp(kind, "rules") == 0) {
		_cleanup_free_ char *dep = zl_xstrndup(f->key, strcspn(f->key, "/"));
		const char *svc = strchr(f->key, '/') + 1;
		_cleanup_free_ char *scope = publish_scope(d->root);
		return net_ports_remove(scope, dep, svc, err);
	}
	if (strcmp(kind, "ports") == 0 || strcmp(kind, "names") == 0) {
		if (unlink(f->key) < 0 && errno != ENOENT)
			return zl_fail_errno(err, "remove %s", f->key);
		_cleanup_free_ char *parent = zl_xstrdup(f->key);
		*strrchr(parent, '/') = '\0';
		(void)rmdir(parent); /* only when empty; others may still be there */
		return 0;
	}
	return zl_fail(err, "no fix for %s", kind);
}

/* Still there after the fixes so far? Kinds not checkable here say yes. */
static bool still_there(const struct doctor_finding *f)
{
	struct stat st;
	if (strcmp(f->kind, "ports") == 0 || strcmp(f->kind, "names") == 0)
		return stat(f->key, &st) == 0;
	if (strcmp(f->kind, "bridge") == 0)
		return net_link_exists(f->name);
	return true;
}

/* ---- the backends' leftovers ---- */

/* Asks every compiled-in backend for what it left; their findings come
 * first, in each backend's sweep order. A backend that cannot be opened
 * here has nothing of this root's to report. */
static int ask_backends(struct doctor *d, struct backend **opened, struct zl_err *err)
{
	size_t n_refs = d->rows.count + d->n_known;
	struct backend_replica_ref *refs = zl_xcalloc(n_refs + 1, sizeof(*refs));
	size_t n = 0;
	for (size_t i = 0; i < d->rows.count; i++) {
		const struct state_replica *r = &d->rows.items[i];
		refs[n++] = (struct backend_replica_ref){ r->deployment, r->service, r->index,
							  r->backend_id, true };
	}
	for (size_t i = 0; i < d->n_known; i++)
		refs[n++] = (struct backend_replica_ref){ d->known[i].deployment, d->known[i].service,
							  d->known[i].index, d->known[i].id, false };
	int ret = 0;
	for (size_t i = 0; ret == 0 && i < backend_count(); i++) {
		struct backend *b = NULL;
		struct zl_err berr = ZL_ERR_INIT;
		if (backend_open(backend_name_at(i), d->root, NULL, &b, &berr) < 0) {
			zl_log(ZL_LOG_DEBUG, "doctor: backend %s: %s", backend_name_at(i), berr.msg);
			continue;
		}
		opened[i] = b;
		if (!b->ops->leftovers)
			continue;
		struct backend_leftovers l = { 0 };
		if (b->ops->leftovers(b, refs, n, &l, err) < 0) {
			backend_leftovers_free(&l);
			ret = -1;
			break;
		}
		d->out->foreign += l.foreign;
		for (size_t k = 0; k < l.count; k++) {
			add_finding(d, l.items[k].kind, l.items[k].name, l.items[k].key, "%s",
				    l.items[k].detail);
			d->out->items[d->out->count - 1].backend = zl_xstrdup(b->ops->name);
		}
		backend_leftovers_free(&l);
	}
	free(refs);
	return ret;
}

/* The backend that listed f among the opened ones, or NULL. */
static struct backend *owner_of(struct backend **opened, const struct doctor_finding *f)
{
	for (size_t i = 0; f->backend && i < backend_count(); i++)
		if (opened[i] && strcmp(opened[i]->ops->name, f->backend) == 0)
			return opened[i];
	return NULL;
}

static int fix_finding(struct doctor *d, struct backend **opened, struct state_db *db,
		       struct doctor_finding *f, struct zl_err *err)
{
	struct backend *b = owner_of(opened, f);
	if (!f->backend)
		return fix_one(d, db, f, err);
	if (!b || !b->ops->sweep)
		return zl_fail(err, "backend %s cannot remove a %s", f->backend, f->kind);
	struct backend_leftover l = { .kind = f->kind, .name = f->name, .detail = f->detail,
				      .key = f->key };
	return b->ops->sweep(b, &l, err);
}

static bool finding_present(struct backend **opened, const struct doctor_finding *f)
{
	if (!f->backend)
		return still_there(f);
	struct backend *b = owner_of(opened, f);
	struct backend_leftover l = { .kind = f->kind, .name = f->name, .detail = f->detail,
				      .key = f->key };
	return !b || !b->ops->leftover_present || b->ops->leftover_present(b, &l);
}

int reconcile_doctor(const struct reconcile_opts *opts, bool fix, struct doctor_report *out,
		     struct zl_err *err)
{
	memset(out, 0, sizeof(*out));
	struct doctor d = { .root = opts->root, .out = out };
	struct state_lock lock = { .fd = -1 };
	struct state_db *db = NULL;
	struct backend **opened = zl_xcalloc(backend_count() + 1, sizeof(*opened));
	int ret = -1;
	struct stat st;
	if (stat(opts->root, &st) < 0) {
		/* No state root: zlapply never ran with it; nothing can be its. */
		free(opened);
		return 0;
	}
	if (state_lock_acquire(opts->root, opts->lock_timeout_ms, &lock, err) < 0)
		goto out;
	if (root_open_state(opts->root, true, &db, err) < 0)
		goto out;
	for (size_t i = 0; i < backend_count(); i++)
		reconcile_backend_note(opts, backend_name_at(i), &out->notes, &out->note_count);
	/* A lost or reset database: rows for what every backend holds, so
	 * that doctor never calls a live replica a leftover. */
	for (size_t i = 0; i < backend_count(); i++) {
		struct backend *ab = NULL;
		size_t adopted = 0;
		struct zl_err aerr = ZL_ERR_INIT;
		if (reconcile_backend_open(opts, backend_name_at(i), &ab, &aerr) == 0 &&
		    adopt_held(db, ab, zl_now_ms(), &adopted, &aerr) < 0)
			zl_log(ZL_LOG_WARN, "doctor: %s", aerr.msg);
		backend_close(ab);
	}
	if (state_replicas_load(db, NULL, &d.rows, err) < 0 || load_known(&d, db, err) < 0)
		goto out;

	if (ask_backends(&d, opened, err) < 0)
		goto out;
	scan_leases(&d, db);
	scan_rules(&d);
	scan_port_records(&d, db);
	scan_names_records(&d, db);
	scan_bridge(&d, db); /* last: after the leases and rules that use it */

	/* In the order listed: each backend's own order (a directory before
	 * the mounts and network it takes along), then leases, rules, ports. */
	for (size_t i = 0; fix && i < out->count; i++) {
		struct doctor_finding *f = &out->items[i];
		if (!finding_present(opened, f)) {
			f->fixed = true;
			continue;
		}
		struct zl_err ferr = ZL_ERR_INIT;
		if (fix_finding(&d, opened, db, f, &ferr) < 0)
			f->fix_error = zl_xstrdup(ferr.msg);
		else
			f->fixed = true;
	}
	ret = 0;
out:
	for (size_t i = 0; i < backend_count(); i++)
		backend_close(opened[i]);
	free(opened);
	for (size_t i = 0; i < d.n_known; i++) {
		free(d.known[i].deployment);
		free(d.known[i].service);
		free(d.known[i].id);
	}
	free(d.known);
	state_replicas_free(&d.rows);
	state_close(db);
	state_lock_release(&lock);
	if (ret < 0)
		zl_err_prefix(err, "doctor");
	return ret;
}
