/* registry.h: images. References, the distribution client (libcurl), the
 * verified content store <root>/blobs/sha256/<hex>, and layer unpacking
 * (libarchive) into <root>/layers/<id>/ with OCI whiteouts converted for
 * overlayfs. WebAssembly artifacts (OCI artifacts and plain .wasm files)
 * are pulled through the same store and never unpacked: the module or
 * component blob is what runs. */
#ifndef ZL_REGISTRY_H
#define ZL_REGISTRY_H

#include "common/common.h"

/* ---- references ---- */
/* "[host[:port]/]path[:tag][@sha256:<64 hex>]" with Docker's defaults
 * (busybox = docker.io/library/busybox:latest, served at registry-1.docker.io),
 * "oci:DIR[:TAG]" for an OCI image layout on disk, or "file:PATH" for a
 * WebAssembly binary on disk (a relative PATH is made absolute against the
 * current directory and cleaned lexically, like Go's filepath.Abs). */
struct registry_ref {
	bool is_oci_layout;
	bool is_file;   /* file:PATH */
	char *domain;   /* "docker.io", "127.0.0.1:5000", ...; NULL for oci: and file: */
	char *endpoint; /* host to connect to: "registry-1.docker.io" for docker.io */
	char *path;     /* "library/busybox"; for oci: the directory; for file:
			 * the absolute, clean path */
	char *tag;      /* "latest" unless a digest alone was given; may be NULL;
			 * for oci: NULL when DIR had no ":TAG" (the layout's only image) */
	char *digest;   /* "sha256:<hex>" or NULL */
};
/* Parses text; errors (kind INPUT) name the reference and the problem. */
int registry_ref_parse(const char *text, struct registry_ref *ref, struct zl_err *err);
/* Canonical form: "docker.io/library/busybox:latest", "oci:/dir:tag",
 * "file:/abs/app.wasm". Caller frees. */
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
	/* Keep a layer's compressed blob once it is unpacked and its diff_id
	 * verified (default: removed, so an image takes its unpacked size on
	 * disk and not twice that; a re-pull of unpacked layers fetches
	 * nothing either way). Manifests, configs and WASM modules are kept. */
	bool keep_layer_blobs;
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

/* What an image is. A manifest is a WASM artifact, as ZLayer decides it,
 * when its artifactType is application/vnd.wasm.component.v1+wasm or
 * application/vnd.wasm.content.layer.v1+wasm, else when its config media type
 * is application/vnd.wasm.config.v0+json, else when a layer has media type
 * application/wasm. Module or component is then read from the blob's
 * preamble (the binary is the authority; a disagreeing artifactType is
 * logged). */
enum registry_image_kind {
	REGISTRY_IMAGE_CONTAINER = 0,
	REGISTRY_IMAGE_WASM_MODULE,    /* core module (version 1): WASI preview 1 */
	REGISTRY_IMAGE_WASM_COMPONENT, /* component (version 0x0d, layer 1): WASI preview 2 */
};
/* "container", "wasm_module", "wasm_component". */
const char *registry_image_kind_name(enum registry_image_kind kind);
static inline bool registry_kind_is_wasm(enum registry_image_kind kind)
{
	return kind == REGISTRY_IMAGE_WASM_MODULE || kind == REGISTRY_IMAGE_WASM_COMPONENT;
}

struct registry_image {
	char *reference;       /* canonical reference */
	char *manifest_digest; /* of the platform's image manifest; for file: of a
				* manifest synthesized from the file's digest */
	char *config_digest;
	int64_t config_size;   /* from the manifest's descriptor; -1 unknown */
	char *config_json;     /* the image config text; "{}" for a WASM artifact
				* whose config is not a JSON object */
	struct registry_layer *layers; /* base first. A WASM image has one: the
					* module blob, diff_id NULL (not unpacked) */
	size_t layer_count;
	int64_t size;          /* config + compressed layers; WASM: the blob's size */
	enum registry_image_kind kind;
	char *wasm_digest;     /* WASM: the module/component blob ("sha256:<hex>") */
	char *wasm_path;       /* WASM: that blob in the store, registry_blob_path():
				* verified, stored once, shared by every replica */
};
void registry_image_clear(struct registry_image *img);

/* ---- WebAssembly binaries ---- */
/* Checks a WebAssembly binary: the preamble ("\0asm", then version 1 = core
 * module, or version 0x0d with layer 1 = component) and that every section
 * (id, LEB128 size) fits in the bytes, which catches a truncated file. Sets
 * *kind. Errors (kind INPUT) say what is wrong: empty, truncated (with the
 * offset), not WebAssembly (what it starts with), an unsupported version. */
int registry_wasm_check(const void *data, size_t len, enum registry_image_kind *kind,
			struct zl_err *err);
int registry_wasm_check_file(const char *path, enum registry_image_kind *kind,
			     struct zl_err *err);

/* The digest of ref's image manifest for the selected platform, asking the
 * registry (no blob download). Used by pull_policy newer. For file: the
 * digest of the manifest a pull would synthesize (the file is read, hashed
 * and checked, not stored). Caller frees. */
int registry_resolve(struct registry_client *c, const char *ref, char **digest,
		     struct zl_err *err);
/* Pulls ref: manifest (negotiated: OCI index/manifest, Docker list/v2),
 * platform selection, config and layers into the verified store (in
 * parallel, resuming partial downloads), then unpacks every layer not yet
 * unpacked. Errors name the image and the step.
 * A WASM artifact (see enum registry_image_kind): config and the module
 * blob into the store, the blob's binary checked, nothing unpacked; an index
 * without an entry for this platform falls back to an entry for
 * architecture "wasm" (os wasip1, wasip2, wasi). A file:PATH reference: the
 * file is copied into the store under its sha256 (checked first; later runs
 * do not need the file) and described by a manifest synthesized from that
 * digest (artifactType by kind, empty config, one application/wasm layer),
 * stored too, so the same bytes always give the same manifest digest. */
int registry_pull(struct registry_client *c, const char *ref, struct registry_image *img,
		  struct zl_err *err);

/* Store layout under a state root. Callers free. */
char *registry_blob_dir(const char *root);                 /* <root>/blobs/sha256 */
char *registry_blob_path(const char *root, const char *digest); /* .../<hex> */
char *registry_layer_dir(const char *root, const char *diff_id); /* <root>/layers/<hex> */
/* True for "sha256:<64 lowercase hex>". */
bool registry_digest_valid(const char *digest);

#endif
