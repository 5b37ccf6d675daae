/* leftovers.c: what the OCI backend left on the host that no replica of
 * the state root owns any more (`zlapply doctor` asks; backend.h has the
 * contract): container directories under <root>/containers/, zlmon
 * monitors running for them, mounts inside them, and the network
 * namespaces and host veth ends it made for replicas.
 *
 * Ownership: a recorded replica owns its id, its directory, its netns and
 * its veth; nothing of it is ever listed. A directory under this root's
 * containers/ is this root's by its place. Namespaces and links are
 * host-wide and other state roots make them too, so they count as this
 * root's only when this root has a trace of that replica (a ref that is not
 * recorded: a pending journal entry or an event) or its directory; the
 * rest are counted as foreign and left alone. Sweeping re-checks what it
 * removes: a monitor is signalled only while /proc still shows it as a
 * zlmon of this root's containers. */
#include "oci-internal.h"
#include "backends/supervise.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

struct scan {
	struct backend *b;
	struct zl_owner me; /* this root; me.id "" when it has no identity yet */
	const struct backend_replica_ref *refs;
	size_t n_refs;
	char containers[PATH_MAX];      /* <root>/containers */
	char real_containers[PATH_MAX]; /* the same, symlinks resolved */
	struct backend_leftovers *out;
};

/* ---- whose is it ---- */

static bool ref_has_id(const struct backend_replica_ref *r, const char *id)
{
	if (r->backend_id && strcmp(r->backend_id, id) == 0)
		return true;
	_cleanup_free_ char *ns = net_netns_name(r->deployment, r->service, r->index);
	return strcmp(ns, id) == 0;
}

/* The ref naming id (a backend id or a netns name); recorded ones first. */
static const struct backend_replica_ref *ref_by_id(const struct scan *s, const char *id,
						   bool recorded)
{
	for (size_t i = 0; i < s->n_refs; i++)
		if (s->refs[i].recorded == recorded && ref_has_id(&s->refs[i], id))
			return &s->refs[i];
	return NULL;
}

static const struct backend_replica_ref *ref_by_ifname(const struct scan *s, const char *ifname,
						       bool recorded)
{
	for (size_t i = 0; i < s->n_refs; i++) {
		const struct backend_replica_ref *r = &s->refs[i];
		char name[NET_IFNAME_MAX + 1];
		net_ifname("zlh", r->deployment, r->service, r->index, name);
		if (r->recorded == recorded && strcmp(name, ifname) == 0)
			return r;
	}
	return NULL;
}

/* Does another live state root hold the replica name id (common/owner.c)? */
static bool held_elsewhere(const struct scan *s, const char *id)
{
	return s->me.id[0] && zl_claim_is_ours("replica", id, &s->me) == 0;
}

static bool has_dir(const struct scan *s, const char *id)
{
	_cleanup_free_ char *path = zl_xasprintf("%s/%s", s->containers, id);
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The container id of a path under this root's containers/, or NULL. */
static char *id_under_containers(const struct scan *s, const char *path)
{
	const char *dirs[] = { s->real_containers, s->containers };
	for (size_t i = 0; i < 2; i++) {
		size_t len = strlen(dirs[i]);
		if (len && strncmp(path, dirs[i], len) == 0 && path[len] == '/' && path[len + 1])
			return zl_xstrndup(path + len + 1, strcspn(path + len + 1, "/"));
	}
	return NULL;
}

/* ---- the scans ---- */

static void scan_dirs(struct scan *s)
{
	DIR *dh = opendir(s->containers);
	if (!dh)
		return;
	struct dirent *de;
	while ((de = readdir(dh))) {
		if (de->d_name[0] == '.' || ref_by_id(s, de->d_name, true))
			continue;
		_cleanup_free_ char *path = zl_xasprintf("%s/%s", s->containers, de->d_name);
		backend_leftovers_add(s->out, "dir", path, de->d_name, "container directory, no replica");
	}
	closedir(dh);
}

/* The container id a zlmon process (pid) runs for, when it is one of this
 * root's; NULL otherwise. */
static char *monitor_id(const struct scan *s, long pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
	char *text = NULL;
	size_t len = 0;
	if (zl_read_file(path, &text, &len, NULL) < 0)
		return NULL;
	const char *base = strrchr(text, '/');
	base = base ? base + 1 : text;
	char *id = NULL;
	if (strcmp(base, "zlmon") == 0) {
		for (size_t off = 0; off < len;) {
			const char *arg = text + off;
			size_t l = strlen(arg);
			if (strcmp(arg, "--dir") == 0 && off + l + 1 < len) {
				id = id_under_containers(s, arg + l + 1);
				break;
			}
			off += l + 1;
		}
	}
	free(text);
	return id;
}

static void scan_monitors(struct scan *s)
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
		_cleanup_free_ char *id = monitor_id(s, pid);
		if (!id || ref_by_id(s, id, true))
			continue;
		char name[32], key[32];
		snprintf(name, sizeof(name), "pid %ld", pid);
		snprintf(key, sizeof(key), "%ld", pid);
		backend_leftovers_add(s->out, "monitor", name, key, "zlmon of %s, no replica", id);
	}
	closedir(proc);
}

/* Undoes the octal escapes of /proc/self/mountinfo (\040 = space). */
static void unescape(char *str)
{
	char *w = str;
	for (char *r = str; *r;) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '7' && r[2] && r[3]) {
			*w++ = (char)(((r[1] - '0') << 6) | ((r[2] - '0') << 3) | (r[3] - '0'));
			r += 4;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
}

/* Calls fn for every mount point under this root's containers/. */
static void each_mount(struct scan *s, void (*fn)(struct scan *s, const char *point, const char *id))
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return;
	/* getline: an overlay of many layers makes lines of tens of KiB. */
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, f) > 0) {
		char point[4096];
		if (sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1)
			continue;
		unescape(point);
		_cleanup_free_ char *id = id_under_containers(s, point);
		if (id)
			fn(s, point, id);
	}
	fclose(f);
}

static void add_mount(struct scan *s, const char *point, const char *id)
{
	if (!ref_by_id(s, id, true))
		backend_leftovers_add(s->out, "mount", point, point,
				      "mount in the directory of %s, no replica", id);
}

static void scan_netns(struct scan *s)
{
	char **names = NULL;
	size_t n = 0;
	struct zl_err err = ZL_ERR_INIT;
	if (net_netns_list(&names, &n, &err) < 0) {
		zl_log(ZL_LOG_WARN, "doctor: %s", err.msg);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (strncmp(names[i], "zl-", 3) != 0 || ref_by_id(s, names[i], true))
			continue;
		/* The namespace is named like the replica id it was claimed by. */
		if (held_elsewhere(s, names[i]) ||
		    (!ref_by_id(s, names[i], false) && !has_dir(s, names[i]))) {
			s->out->foreign++;
			continue;
		}
		backend_leftovers_add(s->out, "netns", names[i], names[i], "network namespace, no replica");
	}
	net_names_free(names, n);
}

static void scan_veths(struct scan *s)
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
		if (strlen(names[i]) != 13 || stat(bridge_dir, &st) == 0 ||
		    ref_by_ifname(s, names[i], true))
			continue;
		const struct backend_replica_ref *r = ref_by_ifname(s, names[i], false);
		_cleanup_free_ char *rid = r ? backend_replica_id(r->deployment, r->service, r->index) : NULL;
		if (!r || held_elsewhere(s, rid)) {
			s->out->foreign++;
			continue;
		}
		backend_leftovers_add(s->out, "veth", names[i], names[i],
				      "host end of %s's veth, no replica", rid);
	}
	net_names_free(names, n);
}

static int scan_init(struct scan *s, struct backend *b, const struct backend_replica_ref *refs,
		     size_t n_refs, struct backend_leftovers *out, struct zl_err *err)
{
	if (backend_root_check(b->root, err) < 0)
		return zl_err_prefix(err, "oci backend");
	*s = (struct scan){ .b = b, .refs = refs, .n_refs = n_refs, .out = out };
	struct zl_err ignored = ZL_ERR_INIT;
	if (zl_owner_of_root(b->root, false, &s->me, &ignored) < 0)
		s->me.id[0] = '\0'; /* no identity yet: nothing it made was claimed */
	snprintf(s->containers, sizeof(s->containers), "%s/containers", b->root);
	if (!realpath(s->containers, s->real_containers))
		snprintf(s->real_containers, sizeof(s->real_containers), "%s", s->containers);
	return 0;
}

int oci_leftovers(struct backend *b, const struct backend_replica_ref *refs, size_t n_refs,
		  struct backend_leftovers *out, struct zl_err *err)
{
	struct scan s;
	if (scan_init(&s, b, refs, n_refs, out, err) < 0)
		return -1;
	/* Directories first: removing one takes its mounts, its monitor's
	 * container and its network with it. */
	scan_dirs(&s);
	scan_monitors(&s);
	each_mount(&s, add_mount);
	scan_netns(&s);
	scan_veths(&s);
	return 0;
}

/* ---- sweeping ---- */

/* Kills what still runs in a container's cgroup (as recorded at create,
 * cgroup_parent included): cgroup.kill on cgroup v2, else every pid of the
 * pids (or memory) controller's copy. Only processes of that cgroup, which
 * only the container's own processes join. */
static void kill_cgroup(struct backend *b, const char *id)
{
	_cleanup_free_ char *cg = oci_container_cgroup(b, id);
	if (zl_cgroup2()) {
		_cleanup_free_ char *path = zl_xasprintf("/sys/fs/cgroup%s/cgroup.kill", cg);
		FILE *f = fopen(path, "we");
		if (f) { /* no such cgroup: nothing runs */
			fputs("1", f);
			fclose(f);
		}
		return;
	}
	const char *controllers[] = { "pids", "memory" };
	for (size_t i = 0; i < 2; i++) {
		_cleanup_free_ char *path = zl_xasprintf("/sys/fs/cgroup/%s%s/cgroup.procs", controllers[i], cg);
		FILE *f = fopen(path, "re");
		if (!f)
			continue;
		long pid;
		while (fscanf(f, "%ld", &pid) == 1)
			if (pid > 1)
				(void)kill((pid_t)pid, SIGKILL); /* gone meanwhile is fine */
		fclose(f);
		return;
	}
}

/* A directory without a row: the backend's remove takes what it holds
 * (container, mount, network, files); by hand when no runtime is usable. */
static int sweep_dir(struct backend *b, const char *id, const char *path, struct zl_err *err)
{
	struct zl_err perr = ZL_ERR_INIT;
	if (b->ops->probe(b, &perr) == 0)
		return b->ops->remove(b, id, err);
	zl_log(ZL_LOG_DEBUG, "doctor: oci backend: %s; removing %s by hand", perr.msg, id);
	kill_cgroup(b, id);
	oci_rootfs_unmount(path);
	if (oci_net_teardown(path, err) < 0)
		return -1;
	return zl_rm_rf(path, err);
}

int oci_sweep(struct backend *b, const struct backend_leftover *l, struct zl_err *err)
{
	if (backend_root_check(b->root, err) < 0)
		return zl_err_prefix(err, "oci backend");
	struct scan s;
	if (scan_init(&s, b, NULL, 0, &(struct backend_leftovers){ 0 }, err) < 0)
		return -1;
	if (strcmp(l->kind, "dir") == 0) {
		_cleanup_free_ char *id = id_under_containers(&s, l->name);
		if (!id || strcmp(id, l->key) != 0)
			return zl_invalid(err, "%s is not a container directory of %s", l->name, b->root);
		return sweep_dir(b, l->key, l->name, err);
	}
	if (strcmp(l->kind, "monitor") == 0) {
		long pid = strtol(l->key, NULL, 10);
		_cleanup_free_ char *id = pid > 0 ? monitor_id(&s, pid) : NULL;
		if (!id)
			return 0; /* exited, or the pid is no zlmon of ours any more */
		if (kill((pid_t)pid, SIGKILL) < 0 && errno != ESRCH)
			return zl_fail_errno(err, "kill zlmon pid %ld", pid);
		return 0;
	}
	if (strcmp(l->kind, "mount") == 0) {
		_cleanup_free_ char *id = id_under_containers(&s, l->key);
		if (!id)
			return zl_invalid(err, "%s is not under %s", l->key, s.containers);
		if (umount2(l->key, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
			return zl_fail_errno(err, "umount %s", l->key);
		return 0;
	}
	if (strcmp(l->kind, "netns") == 0) {
		/* The record in its directory names the veth too; else the name. */
		_cleanup_free_ char *dir = zl_xasprintf("%s/%s", s.containers, l->key);
		struct oci_net_record rec;
		if (oci_net_read(dir, &rec) == 0)
			return net_replica_teardown(rec.deployment, rec.service, rec.index, err);
		return net_netns_delete(l->key, err);
	}
	if (strcmp(l->kind, "veth") == 0)
		return net_link_delete(l->key, err);
	return zl_fail(err, "oci backend: no sweep for %s", l->kind);
}

bool oci_leftover_present(struct backend *b, const struct backend_leftover *l)
{
	(void)b;
	struct stat st;
	if (strcmp(l->kind, "dir") == 0)
		return stat(l->name, &st) == 0;
	if (strcmp(l->kind, "monitor") == 0) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%s", l->key);
		return stat(path, &st) == 0;
	}
	if (strcmp(l->kind, "netns") == 0)
		return net_netns_exists(l->key);
	if (strcmp(l->kind, "veth") == 0)
		return net_link_exists(l->key);
	return true;
}
