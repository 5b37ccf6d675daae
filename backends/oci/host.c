/* host.c: what a container of the OCI backend needs around it on the host:
 * its overlay rootfs and its network namespace. Both are made at create,
 * recorded in the container's directory (rootfs.mount, network) so remove
 * and recovery know them without the database, made again when a replica
 * starts after a reboot (mounts and /run are gone, the directory stays),
 * and removed with the replica. */
#include "oci-internal.h"

#include <errno.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/net.h"

#define ROOTFS_MOUNT_FILE "rootfs.mount" /* the overlay's mount options */

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

int oci_rootfs_mount(const char *dir, const struct backend_replica_spec *rs, struct zl_err *err)
{
	if (rs->layer_count == 0)
		return zl_fail(err, "image %s has no layers", rs->image_digest ? rs->image_digest : "?");
	if (upper_like_image_root(dir, rs->layer_dirs[rs->layer_count - 1], err) < 0)
		return -1;
	struct zl_buf lower = { 0 };
	/* overlayfs wants the top layer first. */
	for (size_t i = rs->layer_count; i-- > 0;)
		zl_buf_printf(&lower, "%s%s", lower.len ? ":" : "", rs->layer_dirs[i]);
	_cleanup_free_ char *opts = zl_xasprintf("lowerdir=%s,upperdir=%s/upper,workdir=%s/work",
						 lower.data, dir, dir);
	zl_buf_free(&lower);
	_cleanup_free_ char *rootfs = zl_xasprintf("%s/rootfs", dir);
	if (mount("overlay", rootfs, "overlay", 0, opts) < 0)
		return zl_fail_errno(err, "mount overlay on %s", rootfs);
	/* Kept so a start after a reboot (mounts are gone, the directories
	 * stay) can mount the same rootfs again. */
	_cleanup_free_ char *saved = zl_xasprintf("%s/%s", dir, ROOTFS_MOUNT_FILE);
	return zl_write_file_atomic(saved, opts, strlen(opts), 0600, err);
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
	struct net_subnet subnet;
	uint32_t ip;
	if (net_subnet_parse(rs->subnet, &subnet, err) < 0 || net_ipv4_parse(rs->ip, &ip, err) < 0)
		return zl_err_prefix(err, "network");
	if (ensure_bridge(bridge_ready, rs->bridge, &subnet, err) < 0)
		return -1;
	_cleanup_free_ char *hostname = svc->hostname ? zl_xstrdup(svc->hostname)
					: zl_xasprintf("%s-rep-%d", svc->name, rs->index);
	struct net_replica nr = {
		.deployment = rs->deployment,
		.service = svc->name,
		.index = rs->index,
		.bridge = rs->bridge,
		.subnet = subnet,
		.ip = ip,
		.dns = (const char *const *)svc->dns.items,
		.n_dns = svc->dns.count,
		.extra_hosts = (const char *const *)svc->extra_hosts.items,
		.n_extra_hosts = svc->extra_hosts.count,
		.hostname = hostname,
		.run_dir = dir,
	};
	/* networking: the record goes first, so a crash (SIGKILL) in the middle
	 * of the setup still leaves remove/recovery the names to tear down. */
	_cleanup_free_ char *ns = net_netns_name(rs->deployment, svc->name, rs->index);
	_cleanup_free_ char *record = zl_xasprintf("%s %s/%s %s %s %d %s %s\n", rs->ip, NET_NETNS_DIR,
						   ns, rs->deployment, svc->name, rs->index,
						   rs->bridge, rs->subnet);
	_cleanup_free_ char *path = zl_xasprintf("%s/network", dir);
	if (zl_write_file_atomic(path, record, strlen(record), 0600, err) < 0)
		return zl_err_prefix(err, "network");
	if (net_replica_setup(&nr, netns_path, err) < 0)
		return zl_err_prefix(err, "network");
	return 0;
}

int oci_net_read(const char *dir, struct oci_net_record *rec)
{
	memset(rec, 0, sizeof(*rec));
	_cleanup_free_ char *path = zl_xasprintf("%s/network", dir);
	char *text = NULL;
	size_t len = 0;
	struct zl_err ignored = ZL_ERR_INIT;
	if (zl_read_file(path, &text, &len, &ignored) < 0)
		return -1;
	int n = sscanf(text, "%63s %255s %127s %127s %d %63s %63s", rec->ip, rec->netns,
		       rec->deployment, rec->service, &rec->index, rec->bridge, rec->subnet);
	free(text);
	if (n == 5)
		rec->bridge[0] = rec->subnet[0] = '\0';
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
	_cleanup_free_ char *saved = zl_xasprintf("%s/%s", dir, ROOTFS_MOUNT_FILE);
	char *opts = NULL;
	size_t len = 0;
	if (zl_read_file(saved, &opts, &len, err) < 0)
		return zl_err_prefix(err, "rootfs %s is not mounted", rootfs);
	int r = 0;
	if (mount("overlay", rootfs, "overlay", 0, opts) < 0)
		r = zl_fail_errno(err, "mount overlay on %s again", rootfs);
	free(opts);
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
	struct net_subnet subnet;
	uint32_t addr;
	if (net_subnet_parse(rec.subnet, &subnet, err) < 0 || net_ipv4_parse(rec.ip, &addr, err) < 0)
		return zl_err_prefix(err, "network record of %s", dir);
	if (ensure_bridge(bridge_ready, rec.bridge, &subnet, err) < 0)
		return -1;
	struct net_replica nr = {
		.deployment = rec.deployment,
		.service = rec.service,
		.index = rec.index,
		.bridge = rec.bridge,
		.subnet = subnet,
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
