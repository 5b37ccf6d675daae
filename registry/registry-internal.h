/* registry-internal.h: pieces shared inside registry/: the HTTP layer
 * (retries, authentication), manifests, the blob store. */
#ifndef ZL_REGISTRY_INTERNAL_H
#define ZL_REGISTRY_INTERNAL_H

#include <curl/curl.h>
#include <pthread.h>

#include "registry.h"

/* ---- http.c ---- */
struct http_sink {
	/* Before each attempt: returns the byte offset to resume from (0 = all). */
	int (*prepare)(void *ud, int64_t *resume_from, struct zl_err *err);
	/* Body bytes of a 200/206 answer; status tells which. Returns 0 or -1. */
	int (*write)(void *ud, long status, const char *data, size_t n);
	void *ud;
};

struct http_request {
	const char *method;  /* "GET" or "HEAD" */
	const struct registry_ref *ref;
	const char *path;    /* after "/v2/", e.g. "library/busybox/manifests/latest" */
	const char *accept;  /* Accept header or NULL */
	struct http_sink *sink; /* NULL: the body goes to response.body */
	const char *what;    /* for messages: "manifest busybox:latest" */
};

struct http_response {
	long status;
	struct zl_buf body;     /* when no sink, or an error body */
	char *content_type;
	char *docker_digest;    /* Docker-Content-Digest */
	int64_t content_length; /* -1 unknown */
};
void http_response_clear(struct http_response *r);

/* Performs req with authentication (anonymous, then the server's Basic or
 * Bearer challenge), retries with back-off for 429, 5xx and timeouts
 * (honouring Retry-After), https with a fallback to http only for loopback
 * and insecure hosts. Returns 0 with any final HTTP status in resp (callers
 * judge 404 etc.), -1 on transport or auth failure. */
int http_request(struct registry_client *c, const struct http_request *req,
		 struct http_response *resp, struct zl_err *err);

/* ---- auth.c ---- */
struct auth_token {
	char *endpoint;
	char *scope;
	char *token;
	int64_t expires_ms;
};

struct auth_state {
	pthread_mutex_t lock;
	struct auth_token *tokens;
	size_t token_count, token_cap;
	char **basic_endpoints; /* endpoints that asked for Basic */
	size_t basic_count;
	bool creds_loaded;
	char *creds_file;      /* where credentials were read from, for messages */
	struct auth_cred {
		char *host;
		char *user_pass; /* "user:password" */
	} *creds;
	size_t cred_count;
};
/* Opens a file image (file:PATH, a module) read-only when it is a regular
 * file, and only then (a FIFO would block the run forever): the fd, or -1
 * with err naming the path (INPUT for a missing or non-regular file). */
int registry_open_file(const char *path, struct zl_err *err);

void auth_state_init(struct auth_state *a, const char *auth_file);
void auth_state_free(struct auth_state *a);
/* "user:password" for a registry host (domain or endpoint), or NULL. Not a copy. */
const char *auth_credentials(struct auth_state *a, const char *domain, const char *endpoint);
/* Cached bearer token for endpoint+scope, copied; NULL when none or expired. */
char *auth_token_get(struct auth_state *a, const char *endpoint, const char *scope,
		     int64_t now_ms);
void auth_token_put(struct auth_state *a, const char *endpoint, const char *scope,
		    const char *token, int64_t expires_ms);
bool auth_uses_basic(struct auth_state *a, const char *endpoint);
void auth_mark_basic(struct auth_state *a, const char *endpoint);

/* A parsed WWW-Authenticate challenge. */
struct auth_challenge {
	bool bearer; /* else basic */
	char *realm, *service, *scope;
};
int auth_challenge_parse(const char *header, struct auth_challenge *ch);
void auth_challenge_clear(struct auth_challenge *ch);

/* ---- the client ---- */
struct registry_client {
	struct registry_opts opts;
	char *root;
	char *ca_file;
	char **insecure;
	size_t insecure_count;
	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
	struct auth_state auth;
	pthread_mutex_t scheme_lock;
	struct scheme_choice {
		char *endpoint;
		bool plain_http;
	} *schemes;
	size_t scheme_count;
	char *os, *arch, *variant; /* platform to select */
	int progress_mode;         /* resolved enum registry_progress */
};

/* ---- manifest.c ---- */
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define MT_OCI_EMPTY "application/vnd.oci.empty.v1+json"
/* The empty descriptor's blob: "{}". */
#define DIGEST_OCI_EMPTY "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

/* WebAssembly artifacts (wasm.c): ZLayer's three signals. */
#define MT_WASM_ARTIFACT_COMPONENT "application/vnd.wasm.component.v1+wasm" /* WASI p2 */
#define MT_WASM_ARTIFACT_MODULE "application/vnd.wasm.content.layer.v1+wasm" /* WASI p1 */
#define MT_WASM_ARTIFACT_MODULE_ALT "application/vnd.wasm.module.v1+wasm"   /* ZLayer's export */
#define MT_WASM_CONFIG "application/vnd.wasm.config.v0+json"
#define MT_WASM_CONFIG_PREFIX "application/vnd.wasm.config."
#define MT_WASM_LAYER "application/wasm"
#define MT_WASM_CONTENT_LAYER_PREFIX "application/vnd.wasm.content.layer."

/* What manifest_parse_image saw. */
struct manifest_info {
	/* The kind the artifactType declares; CONTAINER when it declares none
	 * (a container image, or WASM by config or layer media type). */
	enum registry_image_kind declared;
	char signal[256]; /* why it is WASM, for messages: "artifactType ..." */
};

/* Parses an image manifest (OCI or Docker v2) into img->layers,
 * img->config_digest and img->kind. A WASM artifact (wasm_* below, in
 * ZLayer's order: artifactType, config media type, a layer's media type)
 * gets img->kind WASM (module until the binary says otherwise) and one
 * layer, the module: the first layer of a WASM media type, else the only
 * layer. A manifest that is neither a container image nor WASM is refused
 * naming its media types. info may be NULL. */
int manifest_parse_image(const char *json, size_t len, struct registry_image *img,
			 struct manifest_info *info, struct zl_err *err);
/* From an index / manifest list, the digest of the manifest for os/arch/variant. */
int manifest_select_platform(const char *json, size_t len, const char *os, const char *arch,
			     const char *variant, char **digest, char **media_type,
			     struct zl_err *err);
/* Fills diff_ids from the config's rootfs.diff_ids (count must match). */
int manifest_config_diff_ids(const char *config_json, size_t len, struct registry_image *img,
			     struct zl_err *err);
/* True when media_type (or the JSON's own mediaType / manifests key) is an index. */
bool manifest_is_index(const char *media_type, const char *json, size_t len);

/* ---- wasm.c ---- */
/* The kind an artifactType declares; CONTAINER when it is not a WASM one. */
enum registry_image_kind wasm_artifact_type_kind(const char *artifact_type);
bool wasm_config_type(const char *media_type);
bool wasm_layer_type(const char *media_type);
/* registry_wasm_check on an open file (path for messages). */
int wasm_check_fd(int fd, const char *path, enum registry_image_kind *kind, struct zl_err *err);

/* ---- store.c ---- */
/* Has the store a verified blob for digest? */
bool store_has_blob(const char *root, const char *digest);
/* Writes bytes whose digest must be `digest` into the store (verify, rename). */
int store_put_blob(const char *root, const char *digest, const void *data, size_t len,
		   struct zl_err *err);
/* Downloads blobs (in parallel, at most max_parallel at once) into the store,
 * resuming partial files and verifying each before it is renamed into place. */
struct store_fetch {
	const char *digest;
	int64_t size;
	const char *label; /* for progress: short digest */
};
int store_fetch_blobs(struct registry_client *c, const struct registry_ref *ref,
		      const struct store_fetch *blobs, size_t count, struct zl_err *err);

#endif
