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
	char *tag;      /* "latest" unless a digest alone was given; may be NULL;
			 * for oci: NULL when DIR had no ":TAG" (the layout's only image) */
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
 * paths through symlinks, hardlinks to outside the layer. Character and
 * block device nodes are skipped (and counted in *report) unless
 * allow_devices: a container's /dev comes from the runtime, and a device
 * node from an image would give its processes the host's device. Modes,
 * ownership, xattrs, hardlinks and times are kept.
 * On error dest_dir may hold a partial tree: the caller removes it. */
struct registry_unpack_report {
	size_t devices_skipped;
	char first_device[256]; /* the first skipped node's path in the layer */
};
struct registry_unpack_opts {
	bool allow_devices; /* privileged unpack may create device nodes */
	const char *image_ref; /* for messages */
	struct registry_unpack_report *report; /* optional: what was skipped */
};
int registry_unpack_layer(const char *blob_path, const char *dest_dir, const char *diff_id,
			  const struct registry_unpack_opts *opts, struct zl_err *err);

/* ---- the distribution client ---- */
enum registry_progress {
	REGISTRY_PROGRESS_AUTO = 0, /* bars on a TTY, plain lines otherwise */
	REGISTRY_PROGRESS_NONE,     /* -q */
	REGISTRY_PROGRESS_PLAIN,
	REGISTRY_PROGRESS_BARS,
};

struct registry_opts {
	const char *root;     /* state root: blobs/ and layers/ live under it */
	const char *ca_file;  /* extra CA bundle for TLS; NULL = system store */
	const char *const *insecure_hosts; /* plain HTTP allowed ("host[:port]");
					     127.0.0.1 and localhost always are */
	size_t insecure_count;
	const char *auth_file; /* NULL = $REGISTRY_AUTH_FILE, else ~/.docker/config.json */
	const char *platform;  /* "os/arch[/variant]"; NULL = this host */
	int max_parallel;      /* layers downloaded at once; 0 = 3 */
	long timeout_s;        /* a transfer slower than 1 KiB/s for this long fails; 0 = 30 */
	int max_attempts;      /* per request, for 429, 5xx and timeouts; 0 = 5 */
	int64_t retry_base_ms; /* first back-off; doubles each time; 0 = 500 */
	enum registry_progress progress;
};

struct registry_client; /* opaque: connection pool, token cache, credentials */
int registry_client_new(const struct registry_opts *opts, struct registry_client **out,
			struct zl_err *err);
void registry_client_free(struct registry_client *c);

struct registry_layer {
	char *digest;     /* compressed blob, "sha256:<hex>" */
	char *diff_id;    /* uncompressed tar, from the config's rootfs.diff_ids */
	char *media_type;
	int64_t size;
};

struct registry_image {
	char *reference;       /* canonical reference */
	char *manifest_digest; /* of the platform's image manifest */
	char *config_digest;
	int64_t config_size;   /* from the manifest's descriptor; -1 unknown */
	char *config_json;     /* the image config text */
	struct registry_layer *layers; /* base first */
	size_t layer_count;
	int64_t size;          /* config + compressed layers */
};
void registry_image_clear(struct registry_image *img);

/* The digest of ref's image manifest for the selected platform, asking the
 * registry (no blob download). Used by pull_policy newer. Caller frees. */
int registry_resolve(struct registry_client *c, const char *ref, char **digest,
		     struct zl_err *err);
/* Pulls ref: manifest (negotiated: OCI index/manifest, Docker list/v2),
 * platform selection, config and layers into the verified store (in
 * parallel, resuming partial downloads), then unpacks every layer not yet
 * unpacked. Errors name the image and the step. */
int registry_pull(struct registry_client *c, const char *ref, struct registry_image *img,
		  struct zl_err *err);

/* Store layout under a state root. Callers free. */
char *registry_blob_dir(const char *root);                 /* <root>/blobs/sha256 */
char *registry_blob_path(const char *root, const char *digest); /* .../<hex> */
char *registry_layer_dir(const char *root, const char *diff_id); /* <root>/layers/<hex> */
/* True for "sha256:<64 lowercase hex>". */
bool registry_digest_valid(const char *digest);

#endif
