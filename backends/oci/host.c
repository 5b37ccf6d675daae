/* host.c: what a container of the OCI backend needs around it on the host:
 * its overlay rootfs and its network namespace. Both are made at create,
 * recorded in the container's directory (rootfs.mount, network) so remove
 * and recovery know them without the database, made again when a replica
 * starts after a reboot (mounts and /run are gone, the directory stays),
 * and removed with the replica. */
#include "oci-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/net.h"

/* overlayfs shows the upper directory's owner and mode as the container's
 * "/": it must be the image's (its top layer's root), or a process that is
 * not root cannot even load its libraries. */
static int upper_like_image_root(const char *dir, const char *top_layer, struct zl_err *err)
{
	struct stat st;
	if (stat(top_layer, &st) < 0)
		return zl_fail_errno(err, "layer %s", top_layer);
	_cleanup_free_ char *upper = zl_xasprintf("%s/upper", dir);
	if (chown(upper, st.st_uid, st.st_gid) < 0 || chmod(upper, st.st_mode & 07777) < 0)
		return zl_fail_errno(err, "set the owner and mode of %s", upper);
	return 0;
}

/* ---- the overlay rootfs ---- */
/* The layers go to the kernel one at a time through the new mount API:
 * fsopen("overlay"), one fsconfig "lowerdir+" per layer (Linux >= 6.8),
 * upperdir and workdir, then fsmount and move_mount onto <dir>/rootfs. No
 * option string is built, so no page-size limit applies: the image's layer
 * count is bounded only by overlayfs itself (500 lower layers).
 *
 * Older kernels know no "lowerdir+" (fsconfig says EINVAL; before 5.2 there
 * is no fsopen). There the mount is mount(2)'s, whose option string must fit
 * in one page: ~90 bytes per absolute layer path made it fail from about 44
 * layers on. So the layers get short names, as Docker's overlay2 does it:
 * symlinks <dir>/l/0 (the base) .. l/N-1 (the top), and a child process that
 * chdirs into <dir> mounts "lowerdir=l/N-1:...:l/0,upperdir=upper,workdir=work"
 * (a few bytes a layer: 500 layers fit).
 *
 * <dir>/rootfs.mount records what was mounted, one fsconfig call a line in
 * the kernel's order (top layer first):
 *     lowerdir+=<layer dir>        (one line per layer)
 *     upperdir=<dir>/upper
 *     workdir=<dir>/work
 * A start after a reboot mounts the same rootfs from it. Records of older
 * versions hold mount(2)'s option string ("lowerdir=a:b,upperdir=...,
 * workdir=...") and are mounted with it as before. */

#define SHORT_NAMES_DIR "l" /* in <dir>: the layers' short names */

/* Appends the fs_context's messages ("e overlay: too many lower
 * directories, limit is 500") to msg as " (...; ...)"; false when there
 * were none. */
static bool append_fs_log(int fs, char *msg, size_t size)
{
	struct zl_buf b = { 0 };
	char line[512];
	ssize_t n;
	while ((n = read(fs, line, sizeof(line) - 1)) > 0) {
		line[n] = '\0';
		if (n > 0 && line[n - 1] == '\n')
			line[n - 1] = '\0';
		/* "e ", "w " or "i " in front: error, warning, info */
		const char *text = n > 2 && line[1] == ' ' ? line + 2 : line;
		zl_buf_printf(&b, "%s%s", b.len ? "; " : "", text);
	}
	bool logged = b.len > 0;
	if (logged) {
		size_t used = strlen(msg);
		snprintf(msg + used, size - used, " (%s)", b.data);
	}
	zl_buf_free(&b);
	return logged;
}

/* The new mount API. *fallback is set when the kernel lacks what it needs,
 * so mount(2) with short names may work where this did not: no fsopen
 * (ENOSYS, or EPERM from a seccomp filter); EINVAL for the first
 * "lowerdir+" (Linux 6.5-6.7 reject the key); EINVAL that overlayfs did not
 * explain in the fs_context's log (before 6.5 the key goes through the
 * legacy interface, which collects a page of options and fails at create
 * or when the page is full; a value of 256 bytes or more is refused
 * without a word). Nothing is mounted on failure. */
static int mount_new_api(const char *rootfs, const char *const *lower, size_t n,
			 const char *upper, const char *work, bool *fallback, struct zl_err *err)
{
	*fallback = false;
	_cleanup_close_ int fs = fsopen("overlay", FSOPEN_CLOEXEC);
	if (fs < 0) {
		*fallback = errno == ENOSYS || errno == EPERM;
		return zl_fail_errno(err, "fsopen overlay");
	}
	/* A failing step: errno, then the kernel's own words. */
#define FS_FAIL(first_layer, ...)                                                     \
	do {                                                                          \
		int e_ = errno;                                                       \
		zl_err_set(err, ZL_ERR_FAIL, e_, __VA_ARGS__);                        \
		bool logged_ = append_fs_log(fs, err->msg, sizeof(err->msg));         \
		*fallback = e_ == EINVAL &&                                           \
			    ((first_layer) || !logged_ || strstr(err->msg, "VFS: Legacy")); \
		return -1;                                                            \
	} while (0)
	/* mountinfo's source, as mount(2)'s "overlay" gave it */
	if (fsconfig(fs, FSCONFIG_SET_STRING, "source", "overlay", 0) < 0)
		FS_FAIL(false, "fsconfig source");
	for (size_t i = n; i-- > 0;) /* the top layer first */
		if (fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir+", lower[i], 0) < 0)
			FS_FAIL(i == n - 1, "fsconfig lowerdir+ %s (layer %zu of %zu, from the base)",
				lower[i], i + 1, n);
	if (fsconfig(fs, FSCONFIG_SET_STRING, "upperdir", upper, 0) < 0)
		FS_FAIL(false, "fsconfig upperdir %s", upper);
	if (fsconfig(fs, FSCONFIG_SET_STRING, "workdir", work, 0) < 0)
		FS_FAIL(false, "fsconfig workdir %s", work);
	if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		FS_FAIL(false, "create the overlay");
#undef FS_FAIL
	_cleanup_close_ int mnt = fsmount(fs, FSMOUNT_CLOEXEC, 0);
	if (mnt < 0)
		return zl_fail_errno(err, "fsmount");
	if (move_mount(mnt, "", AT_FDCWD, rootfs, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return zl_fail_errno(err, "move_mount onto %s", rootfs);
	return 0;
}

/* path relative to dir when it is inside it. */
static const char *relative_to(const char *dir, const char *path)
{
	size_t len = strlen(dir);
	return strncmp(path, dir, len) == 0 && path[len] == '/' && path[len + 1] ? path + len + 1 : path;
}

/* mount(2)'s options with short names for n layers, relative to dir.
 * Caller frees. */
static char *short_names_options(size_t n, const char *upper, const char *work)
{
	struct zl_buf b = { 0 };
	zl_buf_puts(&b, "lowerdir=");
	for (size_t i = n; i-- > 0;)
		zl_buf_printf(&b, SHORT_NAMES_DIR "/%zu%s", i, i ? ":" : "");
	zl_buf_printf(&b, ",upperdir=%s,workdir=%s", upper, work);
	return zl_buf_steal(&b);
}

/* mount(2) with the layers' short names (see above). */
static int mount_short_names(const char *dir, const char *rootfs, const char *const *lower,
			     size_t n, const char *upper, const char *work, struct zl_err *err)
{
	const char *u = relative_to(dir, upper), *w = relative_to(dir, work);
	if (strpbrk(u, ",:\\") || strpbrk(w, ",:\\"))
		return zl_fail(err, "%s or %s has a character mount(2)'s overlay options cannot carry "
			       "(',', ':' or '\\')", upper, work);
	long page = sysconf(_SC_PAGESIZE);
	if (page <= 0)
		page = 4096;
	_cleanup_free_ char *opts = short_names_options(n, u, w);
	if (strlen(opts) >= (size_t)page) {
		size_t fit = n;
		while (fit > 0) {
			_cleanup_free_ char *o = short_names_options(--fit, u, w);
			if (strlen(o) < (size_t)page)
				break;
		}
		/* overlayfs stacks at most 500 lower layers (OVL_MAX_STACK) */
		return zl_fail(err,
			       "the image has %zu layers, and mount(2)'s overlay options (one page, "
			       "%ld bytes) hold at most %zu of them%s",
			       n, page, fit,
			       fit < 500 ? "; overlayfs's \"lowerdir+\" (Linux 6.8 or later) takes 500"
					 : " (and overlayfs itself stacks at most 500)");
	}
	_cleanup_free_ char *names = zl_xasprintf("%s/%s", dir, SHORT_NAMES_DIR);
	if (zl_rm_rf(names, err) < 0) /* a previous mount's, maybe of other layers */
		return -1;
	if (mkdir(names, 0700) < 0)
		return zl_fail_errno(err, "mkdir %s", names);
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *link = zl_xasprintf("%s/%zu", names, i);
		if (symlink(lower[i], link) < 0)
			return zl_fail_errno(err, "symlink %s -> %s", link, lower[i]);
	}
	/* Relative names resolve against the working directory: a child's, so
	 * this process's (and its threads') stays where it is. */
	pid_t pid = fork();
	if (pid < 0)
		return zl_fail_errno(err, "fork");
	if (pid == 0) {
		if (chdir(dir) < 0)
			_exit(200);
		if (mount("overlay", rootfs, "overlay", 0, opts) == 0)
			_exit(0);
		_exit(errno > 0 && errno < 199 ? errno + 1 : 199);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return zl_fail_errno(err, "waitpid");
	if (!WIFEXITED(status))
		return zl_fail(err, "the mount(2) child ended by signal %d", WTERMSIG(status));
	int code = WEXITSTATUS(status);
	if (code == 200)
		return zl_fail(err, "chdir %s failed", dir);
	if (code != 0) {
		errno = code - 1;
		return zl_fail_errno(err, "mount(2) with short layer names (%s/0..%zu)", names, n - 1);
	}
	return 0;
}

int oci_overlay_mount(const char *dir, const char *const *lower, size_t n, const char *upper,
		      const char *work, enum oci_overlay_how how, struct zl_err *err)
{
	_cleanup_free_ char *rootfs = zl_xasprintf("%s/rootfs", dir);
	struct zl_err first = ZL_ERR_INIT;
	bool fallback = true;
	if (how == OCI_OVERLAY_AUTO) {
		if (mount_new_api(rootfs, lower, n, upper, work, &fallback, &first) == 0)
			return 0;
		if (!fallback)
			return zl_fail(err, "mount the overlay rootfs of %s (%zu layers): %s", dir, n,
				       first.msg);
	}
	struct zl_err second = ZL_ERR_INIT;
	if (mount_short_names(dir, rootfs, lower, n, upper, work, &second) == 0) {
		if (how == OCI_OVERLAY_AUTO)
			zl_log(ZL_LOG_DEBUG, "%s: mounted by mount(2) with short layer names; the new "
			       "mount API said: %s", rootfs, first.msg);
		return 0;
	}
	if (how == OCI_OVERLAY_AUTO)
		return zl_fail(err, "mount the overlay rootfs of %s (%zu layers): %s; the fallback "
			       "failed too: %s", dir, n, first.msg, second.msg);
	return zl_fail(err, "mount the overlay rootfs of %s (%zu layers): %s", dir, n, second.msg);
}

/* The record's text (see above). */
static char *mount_record(const char *const *lower, size_t n, const char *upper, const char *work)
{
	struct zl_buf b = { 0 };
	for (size_t i = n; i-- > 0;)
		zl_buf_printf(&b, "lowerdir+=%s\n", lower[i]);
	zl_buf_printf(&b, "upperdir=%s\nworkdir=%s\n", upper, work);
	return zl_buf_steal(&b);
}

int oci_rootfs_mount(const char *dir, const struct backend_replica_spec *rs, struct zl_err *err)
{
	size_t n = rs->layer_count;
	if (n == 0)
		return zl_fail(err, "image %s has no layers", rs->image_digest ? rs->image_digest : "?");
	if (upper_like_image_root(dir, rs->layer_dirs[n - 1], err) < 0)
		return -1;
	_cleanup_free_ char *upper = zl_xasprintf("%s/upper", dir);
	_cleanup_free_ char *work = zl_xasprintf("%s/work", dir);
	/* One path a line in the record. */
	for (size_t i = 0; i < n; i++)
		if (strchr(rs->layer_dirs[i], '\n'))
			return zl_fail(err, "layer directory with a newline: %s", rs->layer_dirs[i]);
	if (strchr(dir, '\n'))
		return zl_fail(err, "container directory with a newline: %s", dir);
	if (oci_overlay_mount(dir, rs->layer_dirs, n, upper, work, OCI_OVERLAY_AUTO, err) < 0)
		return -1;
	/* Kept so a start after a reboot (mounts are gone, the directories
	 * stay) can mount the same rootfs again. */
	_cleanup_free_ char *record = mount_record(rs->layer_dirs, n, upper, work);
	_cleanup_free_ char *saved = zl_xasprintf("%s/%s", dir, OCI_ROOTFS_MOUNT_FILE);
	if (zl_write_file_atomic_nosync(saved, record, strlen(record), 0600, err) < 0) {
		oci_rootfs_unmount(dir);
		return zl_err_prefix(err, "record the rootfs of %s", dir);
	}
	return 0;
}

void oci_rootfs_unmount(const char *dir)
{
	_cleanup_free_ char *rootfs = zl_xasprintf("%s/rootfs", dir);
	if (umount2(rootfs, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
		zl_log(ZL_LOG_WARN, "umount %s: %s", rootfs, strerror(errno));
}

/* The bridge and its masquerading, once per backend run (*ready). */
static int ensure_bridge(bool *ready, const char *bridge, const struct net_subnet *subnet,
			 struct zl_err *err)
{
	if (*ready)
		return 0;
	if (net_bridge_ensure(bridge, subnet, err) < 0 ||
	    net_masquerade_ensure(bridge, subnet, err) < 0)
		return zl_err_prefix(err, "network: bridge %s", bridge);
	*ready = true;
	return 0;
}

/* Bridge networking for a replica with a leased address: netns, veth,
 * address, routes, resolv.conf and hosts (net/). What was set up is written
 * to <dir>/network (see oci_net_read()) so state and remove know it
 * without the database. */
int oci_net_setup(bool *bridge_ready, const char *dir, const struct backend_replica_spec *rs,
		  char **netns_path, struct zl_err *err)
{
	const struct spec_service *svc = rs->service;
	uint32_t ip;
	if (net_ipv4_parse(rs->ip, &ip, err) < 0)
		return zl_err_prefix(err, "network");
	if (ensure_bridge(bridge_ready, rs->bridge, rs->subnet, err) < 0)
		return -1;
	_cleanup_free_ char *hostname = svc->hostname ? zl_xstrdup(svc->hostname)
					: zl_xasprintf("%s-rep-%d", svc->name, rs->index);
	struct net_replica nr = {
		.deployment = rs->deployment,
		.service = svc->name,
		.index = rs->index,
		.bridge = rs->bridge,
		.subnet = *rs->subnet,
		.ip = ip,
		.dns = (const char *const *)svc->dns.items,
		.n_dns = svc->dns.count,
		.extra_hosts = (const char *const *)svc->extra_hosts.items,
		.n_extra_hosts = svc->extra_hosts.count,
		.hostname = hostname,
		.run_dir = dir,
		.names = rs->names,
	};
	/* networking: the record goes first, so a crash (SIGKILL) in the middle
	 * of the setup still leaves remove/recovery the names to tear down. */
	_cleanup_free_ char *ns = net_netns_name(rs->deployment, svc->name, rs->index);
	char cidr[NET_CIDR_STRLEN];
	net_subnet_format(rs->subnet, cidr);
	_cleanup_free_ char *record = zl_xasprintf("%s %s/%s %s %s %d %s %s\n", rs->ip, NET_NETNS_DIR,
						   ns, rs->deployment, svc->name, rs->index,
						   rs->bridge, cidr);
	_cleanup_free_ char *path = zl_xasprintf("%s/" OCI_NETWORK_FILE, dir);
	if (zl_write_file_atomic_nosync(path, record, strlen(record), 0600, err) < 0)
		return zl_err_prefix(err, "network");
	if (net_replica_setup(&nr, netns_path, err) < 0)
		return zl_err_prefix(err, "network");
	return 0;
}

int oci_net_read(const char *dir, struct oci_net_record *rec)
{
	memset(rec, 0, sizeof(*rec));
	_cleanup_free_ char *path = zl_xasprintf("%s/" OCI_NETWORK_FILE, dir);
	char *text = NULL;
	size_t len = 0;
	struct zl_err ignored = ZL_ERR_INIT;
	if (zl_read_file(path, &text, &len, &ignored) < 0)
		return -1;
	char cidr[64] = "";
	int n = sscanf(text, "%63s %255s %127s %127s %d %63s %63s", rec->ip, rec->netns,
		       rec->deployment, rec->service, &rec->index, rec->bridge, cidr);
	free(text);
	if (n == 5)
		rec->bridge[0] = '\0';
	if (n == 7 && net_subnet_parse(cidr, &rec->subnet, &ignored) < 0)
		return -1;
	return n == 5 || n == 7 ? 0 : -1;
}

/* Removes the replica's netns, veth and address; no record, nothing to do. */
int oci_net_teardown(const char *dir, struct zl_err *err)
{
	struct oci_net_record rec;
	if (oci_net_read(dir, &rec) < 0)
		return 0;
	if (net_replica_teardown(rec.deployment, rec.service, rec.index, err) < 0)
		return zl_err_prefix(err, "network teardown of %s-rep-%d", rec.service, rec.index);
	return 0;
}

/* ---- after a reboot ---- */
/* A reboot keeps the container's directory but not its overlay mount or its
 * network namespace (/run is a tmpfs). Both are made again from what create
 * recorded, so an exited replica can start where a docker restart would,
 * with its writable layer and its address. */
int oci_rootfs_restore(const char *dir, struct zl_err *err)
{
	_cleanup_free_ char *rootfs = zl_xasprintf("%s/rootfs", dir);
	struct stat root_st, dir_st;
	if (stat(rootfs, &root_st) < 0 || stat(dir, &dir_st) < 0)
		return zl_fail_errno(err, "rootfs %s", rootfs);
	if (root_st.st_dev != dir_st.st_dev)
		return 0; /* mounted */
	_cleanup_free_ char *saved = zl_xasprintf("%s/%s", dir, OCI_ROOTFS_MOUNT_FILE);
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	if (zl_read_file(saved, &text, &len, err) < 0)
		return zl_err_prefix(err, "rootfs %s is not mounted", rootfs);
	if (strncmp(text, "lowerdir=", 9) == 0) {
		/* An older version's record: mount(2)'s options, which fitted. */
		if (mount("overlay", rootfs, "overlay", 0, text) < 0)
			return zl_fail_errno(err, "mount the overlay rootfs of %s again with the options in %s",
					     dir, saved);
		return 0;
	}
	/* One fsconfig call a line, the top layer first. */
	const char **lower = NULL;
	size_t n = 0, cap = 0, line_no = 0;
	const char *upper = NULL, *work = NULL;
	int r = 0;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		line_no++;
		if (strncmp(line, "lowerdir+=", 10) == 0 && line[10]) {
			zl_grow(&lower, sizeof(*lower), &cap, n + 1);
			lower[n++] = line + 10;
		} else if (strncmp(line, "upperdir=", 9) == 0 && line[9]) {
			upper = line + 9;
		} else if (strncmp(line, "workdir=", 8) == 0 && line[8]) {
			work = line + 8;
		} else {
			r = zl_fail(err, "rootfs %s is not mounted, and line %zu of %s is not understood: %.80s",
				    rootfs, line_no, saved, line);
			break;
		}
	}
	if (r == 0 && (n == 0 || !upper || !work))
		r = zl_fail(err, "rootfs %s is not mounted, and %s lacks %s", rootfs, saved,
			    n == 0 ? "the layers (lowerdir+=)" : !upper ? "upperdir=" : "workdir=");
	if (r == 0) {
		/* base first, as oci_overlay_mount() takes them */
		for (size_t i = 0; i < n / 2; i++) {
			const char *t = lower[i];
			lower[i] = lower[n - 1 - i];
			lower[n - 1 - i] = t;
		}
		r = oci_overlay_mount(dir, lower, n, upper, work, OCI_OVERLAY_AUTO, err);
	}
	free(lower);
	return r;
}

int oci_net_restore(bool *bridge_ready, const char *dir, struct zl_err *err)
{
	struct oci_net_record rec;
	if (oci_net_read(dir, &rec) < 0)
		return 0; /* no bridge networking */
	if (!rec.bridge[0])
		return 0; /* an older record: recreate instead (the start fails) */
	const char *ns_name = strrchr(rec.netns, '/') ? strrchr(rec.netns, '/') + 1 : rec.netns;
	if (net_netns_exists(ns_name))
		return 0; /* a namespace mount, not just a leftover file */
	uint32_t addr;
	if (net_ipv4_parse(rec.ip, &addr, err) < 0)
		return zl_err_prefix(err, "network record of %s", dir);
	if (ensure_bridge(bridge_ready, rec.bridge, &rec.subnet, err) < 0)
		return -1;
	struct net_replica nr = {
		.deployment = rec.deployment,
		.service = rec.service,
		.index = rec.index,
		.bridge = rec.bridge,
		.subnet = rec.subnet,
		.ip = addr,
		.run_dir = dir,
		.keep_files = true,
	};
	/* A veth left from before (no reboot, only the netns gone) is in the way. */
	if (net_replica_teardown(rec.deployment, rec.service, rec.index, err) < 0 ||
	    net_replica_setup(&nr, NULL, err) < 0)
		return zl_err_prefix(err, "network");
	return 0;
}
