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
#include <unistd.h>

#include "net/net.h"

#define ROOTFS_MOUNT_FILE "rootfs.mount" /* the overlay's mount options */

int oci_rootfs_mount(const char *dir, const struct backend_replica_spec *rs, struct zl_err *err)
{
	if (rs->layer_count == 0)
		return zl_fail(err, "image %s has no layers", rs->image_digest ? rs->image_digest : "?");
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

/* Bridge networking for a replica with a leased address: netns, veth,
 * address, routes, resolv.conf and hosts (net/). What was set up is written
 * to <dir>/network ("IP NETNS DEPLOYMENT SERVICE INDEX") so state and
 * remove know it without the database. */
int oci_net_setup(bool *bridge_ready, const char *dir, const struct backend_replica_spec *rs,
		  char **netns_path, struct zl_err *err)
{
	const struct spec_service *svc = rs->service;
	struct net_subnet subnet;
	uint32_t ip;
	if (net_subnet_parse(rs->subnet, &subnet, err) < 0 || net_ipv4_parse(rs->ip, &ip, err) < 0)
		return zl_err_prefix(err, "network");
	if (!*bridge_ready) {
		if (net_bridge_ensure(rs->bridge, &subnet, err) < 0 ||
		    net_masquerade_ensure(rs->bridge, &subnet, err) < 0)
			return zl_err_prefix(err, "network: bridge %s", rs->bridge);
		*bridge_ready = true;
	}
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

/* Reads <dir>/network ("IP NETNS DEPLOYMENT SERVICE INDEX BRIDGE SUBNET";
 * older records lack the last two); -1 when the replica has no bridge
 * networking. */
int oci_net_read(const char *dir, char ip[64], char netns[256], char dep[128], char svc[128],
		 int *index)
{
	char path[4096], buf[1024];
	snprintf(path, sizeof(path), "%s/network", dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return sscanf(buf, "%63s %255s %127s %127s %d", ip, netns, dep, svc, index) == 5 ? 0 : -1;
}

/* Removes the replica's netns, veth and address; no record, nothing to do. */
int oci_net_teardown(const char *dir, struct zl_err *err)
{
	char ip[64], netns[256], dep[128], svc[128];
	int index = 0;
	if (oci_net_read(dir, ip, netns, dep, svc, &index) < 0)
		return 0;
	if (net_replica_teardown(dep, svc, index, err) < 0)
		return zl_err_prefix(err, "network teardown of %s-rep-%d", svc, index);
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
	char path[4096], buf[1024];
	snprintf(path, sizeof(path), "%s/network", dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0; /* no bridge networking */
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	char ip[64], netns[256], dep[128], svc[128], bridge[64], subnet_text[64];
	int index = 0;
	if (sscanf(buf, "%63s %255s %127s %127s %d %63s %63s", ip, netns, dep, svc, &index, bridge,
		   subnet_text) != 7)
		return 0; /* an older record: recreate instead (the start fails) */
	const char *ns_name = strrchr(netns, '/') ? strrchr(netns, '/') + 1 : netns;
	if (net_netns_exists(ns_name))
		return 0; /* a namespace mount, not just a leftover file */
	struct net_subnet subnet;
	uint32_t addr;
	if (net_subnet_parse(subnet_text, &subnet, err) < 0 || net_ipv4_parse(ip, &addr, err) < 0)
		return zl_err_prefix(err, "network record %s", path);
	if (!*bridge_ready) {
		if (net_bridge_ensure(bridge, &subnet, err) < 0 ||
		    net_masquerade_ensure(bridge, &subnet, err) < 0)
			return zl_err_prefix(err, "network: bridge %s", bridge);
		*bridge_ready = true;
	}
	struct net_replica nr = {
		.deployment = dep,
		.service = svc,
		.index = index,
		.bridge = bridge,
		.subnet = subnet,
		.ip = addr,
		.run_dir = dir,
		.keep_files = true,
	};
	/* A veth left from before (no reboot, only the netns gone) is in the way. */
	if (net_replica_teardown(dep, svc, index, err) < 0 || net_replica_setup(&nr, NULL, err) < 0)
		return zl_err_prefix(err, "network");
	return 0;
}
