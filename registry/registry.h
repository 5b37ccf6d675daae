/* registry.h: images. References, the distribution client (libcurl), the
 * verified content store <root>/blobs/sha256/<hex>, and layer unpacking
 * (libarchive) into <root>/layers/<id>/ with OCI whiteouts converted for
 * overlayfs. */
#ifndef ZL_REGISTRY_H
#define ZL_REGISTRY_H

#include "common/common.h"

/* ---- references ---- */
/* "[host[:port]/]path[:tag][@sha256:<64 hex>]" with Docker's defaults
 * (busybox = docker.io/library/busybox:latest, served at registry-1.docker.io),
 * or "oci:DIR[:TAG]" for an OCI image layout on disk. */
struct registry_ref {
	bool is_oci_layout;
	char *domain;   /* "docker.io", "127.0.0.1:5000", ...; NULL for oci: */
	char *endpoint; /* host to connect to: "registry-1.docker.io" for docker.io */
	char *path;     /* "library/busybox"; for oci: the directory */
	char *tag;      /* "latest" unless a digest alone was given; may be NULL */
	char *digest;   /* "sha256:<hex>" or NULL */
};
/* Parses text; errors (kind INPUT) name the reference and the problem. */
int registry_ref_parse(const char *text, struct registry_ref *ref, struct zl_err *err);
/* Canonical form: "docker.io/library/busybox:latest", "oci:/dir:tag". Caller frees. */
char *registry_ref_format(const struct registry_ref *ref);
void registry_ref_clear(struct registry_ref *ref);

/* ---- unpacking ---- */
/* Unpacks one layer blob (gzip, zstd or plain tar, detected from content)
 * into dest_dir, which must exist and be empty. Verifies the uncompressed
 * stream's sha256 against diff_id ("sha256:<hex>", NULL = don't check).
 * OCI whiteouts become overlayfs whiteouts: ".wh.NAME" -> a 0:0 character
 * device NAME; ".wh..wh..opq" -> xattr trusted.overlay.opaque=y on the dir.
 * Refused with a clear error (naming the entry): absolute paths, "..",
 * paths through symlinks, hardlinks to outside the layer, device nodes when
 * !allow_devices. Modes, ownership, xattrs, hardlinks and times are kept.
 * On error dest_dir may hold a partial tree: the caller removes it. */
struct registry_unpack_opts {
	bool allow_devices; /* privileged unpack may create device nodes */
	const char *image_ref; /* for messages */
};
int registry_unpack_layer(const char *blob_path, const char *dest_dir, const char *diff_id,
			  const struct registry_unpack_opts *opts, struct zl_err *err);

/* The content store directory under a state root ("<root>/blobs/sha256"). Caller frees. */
char *registry_blob_dir(const char *root);

#endif
