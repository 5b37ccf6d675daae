/* bundle-internal.h: what the parts of a replica's runtime config share:
 * bundle.c (the config, process, namespaces, resources), user.c (users and
 * groups from the image), security.c (capabilities, rlimits, security_opt,
 * confinement) and mounts.c (mounts and volumes). Private to backends/oci/. */
#ifndef ZL_OCI_BUNDLE_INTERNAL_H
#define ZL_OCI_BUNDLE_INTERNAL_H

#include "oci-internal.h"

#include <inttypes.h>
#include <stdio.h>

#include <cjson/cJSON.h>


/* Integers as exact JSON text (see the file comment). */
static inline cJSON *jint(int64_t v)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return cJSON_CreateRaw(buf);
}

static inline cJSON *juint(uint64_t v)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return cJSON_CreateRaw(buf);
}

static inline cJSON *jstrings(char *const *items, size_t n)
{
	cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(items[i]));
	return arr;
}

/* ---- user.c ---- */

/* Opens rel (e.g. "etc/passwd") inside rootfs: symlinks resolve as if rootfs
 * were "/" (openat2 RESOLVE_IN_ROOT). *f is NULL when the file does not
 * exist; anything but a regular file is an error. */
int oci_open_in_root(const char *rootfs, const char *rel, FILE **f, struct zl_err *err);
/* Adds the groups names lists (numbers or names from the image's /etc/group)
 * to *gids, leaving out primary. */
int oci_resolve_extra_groups(const struct spec_strv *names, const char *rootfs, uint32_t primary,
			     uint32_t **gids, size_t *n, struct zl_err *err);

/* ---- security.c ---- */

/* security_opt entries that the OCI config can express; the others are
 * LSM settings this host does not apply. */
struct security {
	bool no_new_privileges;
	bool unconfined_paths; /* systempaths=unconfined: no masked/read-only paths */
};
/* Parses svc's security_opt into *sec (kind INPUT for unknown options). */
int oci_security_parse(const struct spec_service *svc, struct security *sec, struct zl_err *err);
/* Whether zlapply holds CAP_SYS_RESOURCE (some sandboxes drop it for root). */
bool oci_have_cap_sys_resource(void);
/* The capability set Docker's rules give svc on this host. */
int oci_compute_caps(const struct spec_service *svc, uint64_t *caps, struct zl_err *err);
cJSON *oci_caps_json(uint64_t caps);
/* process.rlimits: the spec's ulimits, and a default nofile. */
int oci_rlimits_json(const struct spec_service *svc, cJSON **out, struct zl_err *err);
/* process.oomScoreAdj when adj is not 0. */
int oci_oom_score_adj_json(int adj, cJSON *process, struct zl_err *err);
/* linux.maskedPaths and linux.readonlyPaths. */
void oci_confinement_json(cJSON *lx);

/* ---- copyup.c ---- */

/* Makes volume_dir (a named or anonymous volume; volume names it in
 * messages) ready to be mounted on target: creates it when missing and,
 * when copy_up and it is empty, copies the image's files at target (seen in
 * the mounted rootfs) into it with their owners and modes. Content already
 * there is never touched; a copy that fails (no space) leaves nothing
 * behind. A target that is not a directory in the image is an INPUT error. */
int oci_volume_populate(const char *rootfs, const char *target, const char *volume_dir,
			const char *volume, bool copy_up, struct zl_err *err);

/* ---- mounts.c ---- */

/* The container's mounts: the standard ones, then the spec's storage
 * (parents first), then resolv.conf and hosts. Makes the directories of
 * named and anonymous volumes, so it runs after every other check. */
int oci_mounts_json(const struct oci_bundle_input *in, cJSON *mounts, struct zl_err *err);

#endif
