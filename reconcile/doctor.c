/* doctor.c: `zlapply doctor [--fix]`: what zlapply made on this host that
 * no replica of this state root owns any more: network namespaces, host
 * veth ends, address leases, rootfs mounts, container directories, zlmon
 * monitors, published-port rules and port records.
 *
 * Ownership is decided against the replica rows only; nothing a recorded
 * replica uses is touched. Namespaces and links are host-wide and other
 * state roots (tests, a second installation) make them too, so they count
 * as this root's only when this root has a trace of that replica: its
 * container directory, a pending journal entry or an event. Others are
 * counted in report->foreign and left alone. The lock is held throughout,
 * so an apply never runs in the middle. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "reconcile.h"
#include "publish-internal.h"

#include <stdarg.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "backends/monitor/monitor.h"
#include "net/net.h"

struct known { /* a replica this root made at some point */
	char *deployment, *service;
	int index;
	char *id;                         /* zl-<d>-<s>-<n> */
	char ifname[NET_IFNAME_MAX + 1];  /* its host veth */
};

struct doctor {
	const char *root;
	char real_root[PATH_MAX];
	struct state_replicas rows;
	struct known *known;
	size_t n_known, cap_known;
	struct doctor_report *out;
};

void doctor_report_free(struct doctor_report *r)
{
	for (size_t i = 0; i < r->count; i++) {
		free(r->items[i].kind);
		free(r->items[i].name);
		free(r->items[i].detail);
		free(r->items[i].fix_error);
		free(r->items[i].key);
	}
	free(r->items);
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
	char *detail = NULL;
	if (vasprintf(&detail, fmt, ap) < 0)
		abort();
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
	struct known *k = &d->known[d->n_known++];
	*k = (struct known){ .deployment = zl_xstrdup(dep), .service = zl_xstrdup(svc),
			     .index = index, .id = id };
	net_ifname("zlh", dep, svc, index, k->ifname);
}

static const struct known *known_by_id(const struct doctor *d, const char *id)
{
	for (size_t i = 0; i < d->n_known; i++)
		if (strcmp(d->known[i].id, id) == 0)
			return &d->known[i];
	return NULL;
}

static const struct known *known_by_ifname(const struct doctor *d, const char *ifname)
{
	for (size_t i = 0; i < d->n_known; i++)
		if (strcmp(d->known[i].ifname, ifname) == 0)
			return &d->known[i];
	return NULL;
}

/* Does a replica row own this backend id / netns name? */
static bool row_owns_id(const struct doctor *d, const char *id)
{
	for (size_t i = 0; i < d->rows.count; i++) {
		const struct state_replica *r = &d->rows.items[i];
		if (r->backend_id && strcmp(r->backend_id, id) == 0)
			return true;
		const char *ns = r->netns ? strrchr(r->netns, '/') : NULL;
		if (ns && strcmp(ns + 1, id) == 0)
			return true;
	}
	return false;
}

static bool row_owns_ifname(const struct doctor *d, const char *ifname)
{
	for (size_t i = 0; i < d->rows.count; i++) {
		const struct state_replica *r = &d->rows.items[i];
		char name[NET_IFNAME_MAX + 1];
		net_ifname("zlh", r->deployment, r->service, r->index, name);
		if (strcmp(name, ifname) == 0)
			return true;
	}
	return false;
}

static bool container_dir_exists(const struct doctor *d, const char *id)
{
	char path[PATH_MAX];
	struct stat st;
	snprintf(path, sizeof(path), "%s/containers/%s", d->root, id);
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The container id of a path under <root>/containers/, or NULL. */
static char *id_under_containers(const struct doctor *d, const char *path)
{
	const char *roots[] = { d->real_root, d->root };
	for (size_t i = 0; i < 2; i++) {
		_cleanup_free_ char *prefix = zl_xasprintf("%s/containers/", roots[i]);
		size_t len = strlen(prefix);
		if (strncmp(path, prefix, len) == 0 && path[len])
			return zl_xstrndup(path + len, strcspn(path + len, "/"));
	}
	return NULL;
}

/* ---- the scans ---- */

static void scan_dirs(struct doctor *d)
{
	_cleanup_free_ char *dir = zl_xasprintf("%s/containers", d->root);
	DIR *dh = opendir(dir);
	if (!dh)
		return;
	struct dirent *de;
	while ((de = readdir(dh))) {
		if (de->d_name[0] == '.' || row_owns_id(d, de->d_name))
			continue;
		_cleanup_free_ char *path = zl_xasprintf("%s/%s", dir, de->d_name);
		add_finding(d, "dir", path, de->d_name, "container directory, no replica");
	}
	closedir(dh);
}

static void scan_monitors(struct doctor *d)
{
	DIR *proc = opendir("/proc");
	if (!proc)
		return;
	struct dirent *de;
	while ((de = readdir(proc))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		if (*end || pid <= 0)
			continue;
		char path[64];
		snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
		char *text = NULL;
		size_t len = 0;
		if (zl_read_file(path, &text, &len, NULL) < 0)
			continue;
		const char *argv0 = text, *base = strrchr(argv0, '/');
		base = base ? base + 1 : argv0;
		_cleanup_free_ char *id = NULL;
		if (strcmp(base, "zlmon") == 0) {
			for (size_t off = 0; off < len;) {
				const char *arg = text + off;
				size_t l = strlen(arg);
				if (strcmp(arg, "--dir") == 0 && off + l + 1 < len) {
					id = id_under_containers(d, arg + l + 1);
					break;
				}
				off += l + 1;
			}
		}
		free(text);
		if (!id || row_owns_id(d, id))
			continue;
		char name[96];
		snprintf(name, sizeof(name), "pid %ld", pid);
		char key[32];
		snprintf(key, sizeof(key), "%ld", pid);
		add_finding(d, "monitor", name, key, "zlmon of %s, no replica", id);
	}
	closedir(proc);
}

/* Undoes the octal escapes of /proc/self/mountinfo (\040 = space). */
static void unescape(char *s)
{
	char *w = s;
	for (char *r = s; *r;) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '7' && r[2] && r[3]) {
			*w++ = (char)(((r[1] - '0') << 6) | ((r[2] - '0') << 3) | (r[3] - '0'));
			r += 4;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
}

static void scan_mounts(struct doctor *d)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return;
	char line[8192];
	while (fgets(line, sizeof(line), f)) {
		char point[4096];
		if (sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1)
			continue;
		unescape(point);
		_cleanup_free_ char *id = id_under_containers(d, point);
		if (!id || row_owns_id(d, id))
			continue;
		add_finding(d, "mount", point, point, "mount in the directory of %s, no replica", id);
	}
	fclose(f);
}

static void scan_netns(struct doctor *d)
{
	char **names = NULL;
	size_t n = 0;
	struct zl_err err = ZL_ERR_INIT;
	if (net_netns_list(&names, &n, &err) < 0) {
		zl_log(ZL_LOG_WARN, "doctor: %s", err.msg);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (strncmp(names[i], "zl-", 3) != 0 || row_owns_id(d, names[i]))
			continue;
		if (!known_by_id(d, names[i]) && !container_dir_exists(d, names[i])) {
			d->out->foreign++;
			continue;
		}
		add_finding(d, "netns", names[i], names[i], "network namespace, no replica");
	}
	net_names_free(names, n);
}

static void scan_veths(struct doctor *d)
{
	char **names = NULL;
	size_t n = 0;
	struct zl_err err = ZL_ERR_INIT;
	if (net_links_list("zlh", &names, &n, &err) < 0) {
		zl_log(ZL_LOG_WARN, "doctor: %s", err.msg);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		/* Host veth ends are "zlh" + 10 hex digits; bridges are never ours here. */
		char bridge_dir[PATH_MAX];
		struct stat st;
		snprintf(bridge_dir, sizeof(bridge_dir), "/sys/class/net/%s/bridge", names[i]);
		if (strlen(names[i]) != 13 || stat(bridge_dir, &st) == 0 || row_owns_ifname(d, names[i]))
			continue;
		const struct known *k = known_by_ifname(d, names[i]);
		if (!k) {
			d->out->foreign++;
			continue;
		}
		add_finding(d, "veth", names[i], names[i], "host end of %s's veth, no replica", k->id);
	}
	net_names_free(names, n);
}

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

static void kill_cgroup(const char *id)
{
	/* cgroup v2 kills every process of the container at once. */
	_cleanup_free_ char *path = zl_xasprintf("/sys/fs/cgroup/zlapply/%s/cgroup.kill", id);
	FILE *f = fopen(path, "we");
	if (f) {
		fputs("1", f);
		fclose(f);
	}
}

/* A container directory without a row: the backend removes it with what
 * it holds (container, mount, network, files); by hand when it cannot. */
static int fix_dir(struct doctor *d, struct backend **b, const char *id, const char *path,
		   struct zl_err *err)
{
	if (!*b) {
		struct zl_err berr = ZL_ERR_INIT;
		if (backend_open("oci", d->root, b, &berr) < 0 || (*b)->ops->probe(*b, &berr) < 0) {
			zl_log(ZL_LOG_DEBUG, "doctor: oci backend: %s; removing by hand", berr.msg);
			backend_close(*b);
			*b = NULL;
		}
	}
	if (*b)
		return (*b)->ops->remove(*b, id, err);
	kill_cgroup(id);
	_cleanup_free_ char *rootfs = zl_xasprintf("%s/rootfs", path);
	if (umount2(rootfs, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
		return zl_fail_errno(err, "umount %s", rootfs);
	/* The network record: "IP NETNS DEPLOYMENT SERVICE INDEX". */
	_cleanup_free_ char *record = zl_xasprintf("%s/network", path);
	char *text = NULL;
	size_t len = 0;
	if (zl_read_file(record, &text, &len, NULL) == 0) {
		char dep[128], svc[128];
		int index;
		if (sscanf(text, "%*s %*s %127s %127s %d", dep, svc, &index) == 3 &&
		    net_replica_teardown(dep, svc, index, err) < 0) {
			free(text);
			return -1;
		}
		free(text);
	}
	return zl_rm_rf(path, err);
}

static int fix_one(struct doctor *d, struct backend **b, struct state_db *db,
		   const struct doctor_finding *f, struct zl_err *err)
{
	const char *kind = f->kind;
	if (strcmp(kind, "dir") == 0)
		return fix_dir(d, b, f->key, f->name, err);
	if (strcmp(kind, "monitor") == 0) {
		pid_t pid = (pid_t)strtol(f->key, NULL, 10);
		if (kill(pid, SIGKILL) < 0 && errno != ESRCH)
			return zl_fail_errno(err, "kill zlmon pid %d", (int)pid);
		return 0;
	}
	if (strcmp(kind, "mount") == 0) {
		if (umount2(f->key, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
			return zl_fail_errno(err, "umount %s", f->key);
		return 0;
	}
	if (strcmp(kind, "netns") == 0) {
		const struct known *k = known_by_id(d, f->key);
		if (k)
			return net_replica_teardown(k->deployment, k->service, k->index, err);
		return net_netns_delete(f->key, err);
	}
	if (strcmp(kind, "veth") == 0)
		return net_link_delete(f->key, err);
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
	if (strcmp(kind, "ports") == 0) {
		if (unlink(f->key) < 0 && errno != ENOENT)
			return zl_fail_errno(err, "remove %s", f->key);
		_cleanup_free_ char *parent = zl_xstrdup(f->key);
		*strrchr(parent, '/') = '\0';
		(void)rmdir(parent); /* only when empty; others may still be there */
		return 0;
	}
	return zl_fail(err, "no fix for %s", kind);
}

/* Still there after the fixes so far? (a directory's removal takes its
 * monitor and network with it). Kinds not checkable here say yes. */
static bool still_there(const struct doctor_finding *f)
{
	struct stat st;
	if (strcmp(f->kind, "dir") == 0)
		return stat(f->name, &st) == 0;
	if (strcmp(f->kind, "ports") == 0)
		return stat(f->key, &st) == 0;
	if (strcmp(f->kind, "monitor") == 0) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%s", f->key);
		return stat(path, &st) == 0;
	}
	if (strcmp(f->kind, "netns") == 0)
		return net_netns_exists(f->key);
	if (strcmp(f->kind, "veth") == 0)
		return net_link_exists(f->key);
	return true;
}

int reconcile_doctor(const struct reconcile_opts *opts, bool fix, struct doctor_report *out,
		     struct zl_err *err)
{
	memset(out, 0, sizeof(*out));
	struct doctor d = { .root = opts->root, .out = out };
	if (!realpath(opts->root, d.real_root))
		snprintf(d.real_root, sizeof(d.real_root), "%s", opts->root);
	struct state_lock lock = { .fd = -1 };
	struct state_db *db = NULL;
	struct backend *b = NULL;
	int ret = -1;
	struct stat st;
	if (stat(opts->root, &st) < 0) {
		/* No state root: zlapply never ran with it; nothing can be its. */
		return 0;
	}
	if (state_lock_acquire(opts->root, opts->lock_timeout_ms, &lock, err) < 0)
		goto out;
	if (state_open(opts->root, false, &db, err) < 0)
		goto out;
	if (state_replicas_load(db, NULL, &d.rows, err) < 0 || load_known(&d, db, err) < 0)
		goto out;

	scan_dirs(&d);
	scan_monitors(&d);
	scan_mounts(&d);
	scan_netns(&d);
	scan_veths(&d);
	scan_leases(&d, db);
	scan_rules(&d);
	scan_port_records(&d, db);

	if (fix) {
		/* Directories first: their removal takes mounts, monitors'
		 * containers and the network with it. */
		static const char *const order[] = { "dir",   "monitor", "mount", "netns",
						     "veth",  "lease",   "rules", "ports" };
		for (size_t o = 0; o < sizeof(order) / sizeof(order[0]); o++)
			for (size_t i = 0; i < out->count; i++) {
				struct doctor_finding *f = &out->items[i];
				if (strcmp(f->kind, order[o]) != 0)
					continue;
				if (!still_there(f)) {
					f->fixed = true;
					continue;
				}
				struct zl_err ferr = ZL_ERR_INIT;
				if (fix_one(&d, &b, db, f, &ferr) < 0)
					f->fix_error = zl_xstrdup(ferr.msg);
				else
					f->fixed = true;
			}
	}
	ret = 0;
out:
	backend_close(b);
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
