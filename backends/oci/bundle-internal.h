/* bundle-internal.h: what the parts of a replica's runtime config share:
 * bundle.c (the config, process, namespaces, resources), user.c (users and
 * groups from the image), security.c (capabilities, rlimits, security_opt,
 * confinement), seccomp.c (the seccomp filter) and mounts.c (mounts and
 * volumes). Private to backends/oci/. */
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

/* seccomp= of security_opt (the last one given counts, as in Docker). */
enum oci_seccomp_choice {
	OCI_SECCOMP_DEFAULT,    /* not given: Docker's default profile, none when privileged */
	OCI_SECCOMP_BUILTIN,    /* seccomp=builtin: the default profile, privileged or not */
	OCI_SECCOMP_UNCONFINED, /* seccomp=unconfined: no filter */
	OCI_SECCOMP_FILE,       /* seccomp=/path: a profile in Docker's JSON format */
};

/* security_opt entries that the OCI config can express; the others are
 * LSM settings this host does not apply. */
struct security {
	bool no_new_privileges;
	bool unconfined_paths; /* systempaths=unconfined: no masked/read-only paths */
	enum oci_seccomp_choice seccomp;
	const char *seccomp_profile; /* OCI_SECCOMP_FILE: the path (points into the spec) */
};
/* Parses svc's security_opt into *sec (kind INPUT for unknown options). */
int oci_security_parse(const struct spec_service *svc, struct security *sec, struct zl_err *err);
/* A capability's number from its name ("net_admin", "CAP_NET_ADMIN"); -1
 * for an unknown name (and for ALL). */
int oci_cap_from_name(const char *name);
/* The capability set Docker's rules give svc on this host. */
int oci_compute_caps(const struct spec_service *svc, uint64_t *caps, struct zl_err *err);
cJSON *oci_caps_json(uint64_t caps);
/* process.rlimits: the spec's ulimits, and a default nofile. */
int oci_rlimits_json(const struct spec_service *svc, cJSON **out, struct zl_err *err);
/* process.oomScoreAdj when adj is not 0. */
int oci_oom_score_adj_json(int adj, cJSON *process, struct zl_err *err);
/* linux.maskedPaths and linux.readonlyPaths. */
void oci_confinement_json(cJSON *lx);

/* ---- seccomp.c ---- */

/* One argument condition of a rule: the runtime spec's {index, value,
 * valueTwo, op}. */
struct oci_seccomp_arg {
	unsigned index;       /* 0..5 */
	uint64_t value, value_two;
	const char *op;       /* "SCMP_CMP_EQ", "SCMP_CMP_MASKED_EQ", ... */
};

/* A rule of a profile: Docker's syscalls[] entry. Its conditions (Docker's
 * includes and excludes) decide whether a container gets it. */
struct oci_seccomp_rule {
	const char *title;                  /* what the group is (the default profile; docs) */
	const char *const *names;           /* NULL-terminated */
	const char *action;                 /* "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", ... */
	bool has_errno;
	uint64_t errno_ret;                 /* errnoRet when has_errno */
	const struct oci_seccomp_arg *args; /* all of them must hold */
	size_t n_args;
	uint64_t caps_all;        /* includes.caps: the container has every one of these */
	uint64_t caps_none;       /* excludes.caps: ... and none of these */
	uint32_t arches;          /* includes.arches: this machine is one of these (0: any) */
	uint32_t not_arches;      /* excludes.arches: ... and none of these */
	unsigned min_kernel[2];   /* includes.minKernel: the kernel is at least this ({0,0}: any) */
	unsigned below_kernel[2]; /* excludes.minKernel: ... and below this */
};
/* Bit i of arches and not_arches: Docker's name for architecture i
 * ("amd64", "arm64", ...); NULL past the last. */
const char *oci_seccomp_arch_name(unsigned i);

struct oci_seccomp_archmap {
	const char *arch;        /* "SCMP_ARCH_X86_64" */
	const char *const *sub;  /* NULL-terminated, or NULL: its sub-architectures */
};

/* A profile in Docker's form. */
struct oci_seccomp_profile {
	const char *default_action;
	bool has_default_errno;
	uint64_t default_errno;
	const struct oci_seccomp_archmap *archmap; /* the entry of this machine's architecture counts */
	size_t n_archmap;
	const char *const *architectures;          /* or a plain list (NULL-terminated, or NULL) */
	const char *const *flags;                  /* NULL-terminated, or NULL */
	const struct oci_seccomp_rule *rules;
	size_t n_rules;
};

/* Docker's default profile (moby/profiles seccomp v0.2.3), the one table. */
extern const struct oci_seccomp_profile oci_seccomp_default;

/* What a profile is decided for besides the capabilities. */
struct oci_seccomp_host {
	const char *arch;    /* Docker's name ("amd64", "arm64"); NULL: unknown */
	unsigned kernel[2];  /* major, minor */
};
/* This machine: the architecture zlapply was built for and the running kernel. */
void oci_seccomp_this_host(struct oci_seccomp_host *h);
/* Whether r is part of the filter of a container with capability set caps on host. */
bool oci_seccomp_rule_applies(const struct oci_seccomp_rule *r, uint64_t caps,
			      const struct oci_seccomp_host *host);
/* linux.seccomp (runtime spec) of p for a container with capability set
 * caps on host: the architectures of host's archMap entry, and the rules
 * whose conditions hold. */
cJSON *oci_seccomp_json(const struct oci_seccomp_profile *p, uint64_t caps,
			const struct oci_seccomp_host *host);

/* A profile in Docker's JSON format (text, from path). Errors (kind INPUT)
 * name the file and the field: "seccomp profile /p.json:
 * syscalls[2].args[0].op: unknown operator ...", or line:col for JSON that
 * does not parse. Free *out with oci_seccomp_profile_free(). */
int oci_seccomp_parse(const char *path, const char *text, size_t len,
		      struct oci_seccomp_profile **out, struct zl_err *err);
/* The same from the file at path (a regular file of at most 1 MiB). */
int oci_seccomp_load(const char *path, struct oci_seccomp_profile **out, struct zl_err *err);
void oci_seccomp_profile_free(struct oci_seccomp_profile *p);

/* Adds linux.seccomp to lx for a replica whose capability set is caps, as
 * Docker does: the default profile, none for seccomp=unconfined or a
 * privileged service that names no profile, the seccomp=PATH file's. */
int oci_seccomp_config(const struct security *sec, bool privileged, uint64_t caps, cJSON *lx,
		       struct zl_err *err);

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
