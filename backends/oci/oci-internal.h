/* oci-internal.h: what the files of the OCI backend (backends/oci/) share.
 * Nothing here is visible outside the folder; the public face of the
 * backend is backend_oci_ops in backends/backend.h. */
#ifndef ZL_OCI_INTERNAL_H
#define ZL_OCI_INTERNAL_H

#include "backends/backend.h"
#include "backends/process.h"
#include "common/common.h"
#include "net/net.h"
#include "spec/spec.h"

/* ==== bundle.c: the runtime config (config.json) of one replica ==== */

struct oci_bundle_input {
	const struct backend_replica_spec *rs; /* service spec, resolved env, image config, index */
	const char *rootfs;       /* absolute path of the mounted rootfs */
	const char *hostname;     /* NULL: svc->hostname, else "<service>-rep-<index>" */
	const char *netns_path;   /* NULL: a new network namespace (none with network_mode host) */
	const char *volumes_dir;  /* <root>/volumes/<deployment>: named volumes live below */
	const char *anon_dir;     /* <root>/containers/<id>/anon: anonymous volumes live below */
	const char *cgroups_path; /* e.g. "/zlapply/<id>"; NULL leaves it to the runtime */
	const char *resolv_conf;  /* bound on /etc/resolv.conf when not NULL */
	const char *hosts_file;   /* bound on /etc/hosts when not NULL */
};

/* Builds the config.json text (OCI runtime spec 1.0.2) of in->rs. Creates
 * the directories of named and anonymous volumes. Fails (kind INPUT for spec
 * problems) with a message naming the service and the key, e.g. an unknown
 * user in the image's /etc/passwd, a bind source that does not exist, an
 * impossible resource value. *json is owned by the caller (free()). */
int oci_bundle_config(const struct oci_bundle_input *in, char **json, struct zl_err *err);

/* Resolves "uid[:gid]" or "name[:group]" (names and numbers may be mixed)
 * against rootfs/etc/passwd and rootfs/etc/group, read inside the rootfs
 * (symlinks cannot leave it), never the host's files. NULL or "" means root.
 * Without an explicit group the gid is the user's from /etc/passwd (0 for a
 * numeric uid it lacks) and *extra_gids the groups listing the user in
 * /etc/group, as runc and Docker do. *extra_gids is owned by the caller
 * (free(); NULL when *n_extra is 0). */
int oci_resolve_user(const char *user_spec, const char *rootfs, uint32_t *uid, uint32_t *gid,
		     uint32_t **extra_gids, size_t *n_extra, struct zl_err *err);

/* ==== end of bundle.c ==== */

/* ---- runtime.c ---- */
/* The runtime to use: requested (path or name) if given, else the choice
 * remembered in <root>/runtime, else probed (crun on cgroup v2, runc
 * otherwise) and remembered. Caller frees *runtime. */
int oci_runtime_choose(const char *root, const char *requested, char **runtime, struct zl_err *err);
/* zl_run, failing unless exit 0; the error names the command and quotes its output. */
int oci_run_checked(const char *const argv[], struct zl_err *err);

/* ==== oci.c ==== */

/* The cgroup path create recorded for id (older containers: the default
 * "/zlapply/<id>"); caller frees. */
char *oci_container_cgroup(struct backend *b, const char *id);

/* ==== leftovers.c: what doctor asks of the backend ==== */

int oci_leftovers(struct backend *b, const struct backend_replica_ref *refs, size_t n_refs,
		  struct backend_leftovers *out, struct zl_err *err);
int oci_sweep(struct backend *b, const struct backend_leftover *l, struct zl_err *err);
bool oci_leftover_present(struct backend *b, const struct backend_leftover *l);

/* ==== host.c: the rootfs and network namespace around a container ==== */

/* Their records in the container's directory, written without fsync (whole
 * against a killed process) and made durable with the create's other
 * records in one barrier (oci_create, supervise_sync_records()). */
#define OCI_ROOTFS_MOUNT_FILE "rootfs.mount" /* what the overlay was mounted with */
#define OCI_NETWORK_FILE "network"

/* Mounts <dir>/rootfs: overlayfs over rs's layers (lower) with <dir>/upper
 * and <dir>/work, and records them in <dir>/rootfs.mount for
 * oci_rootfs_restore(). Any number of layers overlayfs takes (500). */
int oci_rootfs_mount(const char *dir, const struct backend_replica_spec *rs, struct zl_err *err);
/* How oci_overlay_mount() mounts: AUTO uses the new mount API, one
 * "lowerdir+" per layer (Linux >= 6.8), and falls back to SHORT_NAMES where
 * the kernel lacks it: mount(2) from a child in dir, the layers named by
 * symlinks <dir>/l/<i>, the options within a page. */
enum oci_overlay_how { OCI_OVERLAY_AUTO, OCI_OVERLAY_SHORT_NAMES };
/* Mounts overlayfs on <dir>/rootfs: lower[0] is the base layer, lower[n-1]
 * the top. Errors name dir, the layer count and the step that failed. */
int oci_overlay_mount(const char *dir, const char *const *lower, size_t n, const char *upper,
		      const char *work, enum oci_overlay_how how, struct zl_err *err);
/* Lazily unmounts <dir>/rootfs; not mounted is fine. */
void oci_rootfs_unmount(const char *dir);
/* Mounts <dir>/rootfs again from <dir>/rootfs.mount when it is not mounted
 * (after a reboot): the recorded layers, or an older version's mount(2)
 * options; mounted already is success. */
int oci_rootfs_restore(const char *dir, struct zl_err *err);
/* Bridge networking for rs (which has a leased address): netns, veth,
 * address, routes, <dir>/resolv.conf and hosts, recorded first in
 * <dir>/network. The bridge is ensured once per *bridge_ready. */
int oci_net_setup(bool *bridge_ready, const char *dir, const struct backend_replica_spec *rs,
		  char **netns_path, struct zl_err *err);
/* <dir>/network: "IP NETNS DEPLOYMENT SERVICE INDEX BRIDGE SUBNET" (records
 * of older versions lack the last two: bridge is then "" and subnet unset). */
struct oci_net_record {
	char ip[64], netns[256], deployment[128], service[128], bridge[64];
	struct net_subnet subnet; /* parsed here; prefix 0 when the record has none */
	int index;
};
/* The one reader of the record. -1 when there is none (the replica has no
 * bridge networking) or it is unreadable. */
int oci_net_read(const char *dir, struct oci_net_record *rec);
/* Removes the recorded netns, veth and address; no record, nothing to do. */
int oci_net_teardown(const char *dir, struct zl_err *err);
/* Makes the recorded network namespace again when it is gone (after a
 * reboot), keeping resolv.conf and hosts; present already is success. */
int oci_net_restore(bool *bridge_ready, const char *dir, struct zl_err *err);

#endif
