/* pull.c: the client object and a whole pull: manifest negotiation and
 * platform selection, config, layers into the verified store, unpacking
 * each layer once. Sources: a registry (the distribution API), an OCI
 * image layout on disk (oci:DIR[:TAG]) or a WebAssembly file (file:PATH).
 * A WASM artifact's module blob is stored and checked, never unpacked. */
#include "registry-internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#define MANIFEST_ACCEPT \
	MT_OCI_INDEX ", " MT_OCI_MANIFEST ", " MT_DOCKER_LIST ", " MT_DOCKER_MANIFEST
#define MAX_MANIFEST_BYTES (4 * 1024 * 1024)

/* ---- the client ---- */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access a, void *ud)
{
	(void)h;
	(void)a;
	struct registry_client *c = ud;
	pthread_mutex_lock(&c->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ud)
{
	(void)h;
	struct registry_client *c = ud;
	pthread_mutex_unlock(&c->share_locks[data]);
}

static int parse_platform(struct registry_client *c, const char *platform, struct zl_err *err)
{
	if (platform) {
		char *copy = zl_xstrdup(platform);
		char *os = strtok(copy, "/"), *arch = strtok(NULL, "/"), *variant = strtok(NULL, "/");
		if (!os || !arch || strtok(NULL, "/")) {
			free(copy);
			return zl_invalid(err, "platform \"%s\": expected os/arch[/variant]", platform);
		}
		c->os = zl_xstrdup(os);
		c->arch = zl_xstrdup(arch);
		c->variant = zl_xstrdup(variant);
		free(copy);
		return 0;
	}
	struct utsname u;
	uname(&u);
	static const struct {
		const char *machine, *arch, *variant;
	} map[] = {
		{ "x86_64", "amd64", NULL }, { "aarch64", "arm64", NULL }, { "armv7l", "arm", "v7" },
		{ "armv6l", "arm", "v6" },   { "i686", "386", NULL },      { "ppc64le", "ppc64le", NULL },
		{ "s390x", "s390x", NULL },  { "riscv64", "riscv64", NULL },
	};
	c->os = zl_xstrdup("linux");
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(u.machine, map[i].machine) == 0) {
			c->arch = zl_xstrdup(map[i].arch);
			c->variant = zl_xstrdup(map[i].variant);
		}
	if (!c->arch)
		c->arch = zl_xstrdup(u.machine);
	return 0;
}

int registry_client_new(const struct registry_opts *opts, struct registry_client **out,
			struct zl_err *err)
{
	pthread_once(&curl_once, curl_init_once);
	struct registry_client *c = zl_xcalloc(1, sizeof(*c));
	c->opts = *opts;
	c->root = zl_xstrdup(opts->root);
	c->ca_file = zl_xstrdup(opts->ca_file);
	c->opts.root = c->root;
	c->opts.ca_file = c->ca_file;
	c->insecure = zl_xcalloc(opts->insecure_count + 1, sizeof(char *));
	for (size_t i = 0; i < opts->insecure_count; i++)
		c->insecure[i] = zl_xstrdup(opts->insecure_hosts[i]);
	c->insecure_count = opts->insecure_count;
	c->opts.insecure_hosts = NULL;
	if (c->opts.max_parallel <= 0)
		c->opts.max_parallel = 3;
	if (c->opts.timeout_s <= 0)
		c->opts.timeout_s = 30;
	if (c->opts.max_attempts <= 0)
		c->opts.max_attempts = 5;
	if (c->opts.retry_base_ms <= 0)
		c->opts.retry_base_ms = 500;
	c->progress_mode = opts->progress;
	if (c->progress_mode == REGISTRY_PROGRESS_AUTO)
		c->progress_mode = isatty(STDERR_FILENO) ? REGISTRY_PROGRESS_BARS : REGISTRY_PROGRESS_PLAIN;
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&c->share_locks[i], NULL);
	pthread_mutex_init(&c->scheme_lock, NULL);
	c->share = curl_share_init();
	curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	auth_state_init(&c->auth, opts->auth_file);
	*out = c;
	if (parse_platform(c, opts->platform, err) < 0) {
		registry_client_free(c);
		*out = NULL;
		return -1;
	}
	return 0;
}

void registry_client_free(struct registry_client *c)
{
	if (!c)
		return;
	if (c->share)
		curl_share_cleanup(c->share);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&c->share_locks[i]);
	pthread_mutex_destroy(&c->scheme_lock);
	auth_state_free(&c->auth);
	for (size_t i = 0; i < c->scheme_count; i++)
		free(c->schemes[i].endpoint);
	free(c->schemes);
	for (size_t i = 0; i < c->insecure_count; i++)
		free(c->insecure[i]);
	free(c->insecure);
	free(c->root);
	free(c->ca_file);
	free(c->os);
	free(c->arch);
	free(c->variant);
	free(c);
}

void registry_image_clear(struct registry_image *img)
{
	if (!img)
		return;
	free(img->reference);
	free(img->manifest_digest);
	free(img->config_digest);
	free(img->config_json);
	for (size_t i = 0; i < img->layer_count; i++) {
		free(img->layers[i].digest);
		free(img->layers[i].diff_id);
		free(img->layers[i].media_type);
	}
	free(img->layers);
	free(img->wasm_digest);
	free(img->wasm_path);
	memset(img, 0, sizeof(*img));
}

static char *digest_of(const void *data, size_t len)
{
	char hex[65];
	zl_sha256_hex(data, len, hex);
	return zl_xasprintf("sha256:%s", hex);
}

/* ---- sources: a registry or an OCI layout ---- */
struct source {
	struct registry_client *c;
	const struct registry_ref *ref;
	const char *label; /* the reference as the user wrote it */
};

/* Reads a small JSON document (manifest, index, config) by digest or tag.
 * Verifies it against digest when one is known. */
static int source_get_doc(const struct source *s, const char *tag_or_digest, const char *want,
			  char **data, size_t *len, char **media_type, struct zl_err *err)
{
	const struct registry_ref *ref = s->ref;
	if (ref->is_oci_layout) {
		if (!registry_digest_valid(tag_or_digest))
			return zl_fail(err, "oci layout: %s is not a digest", tag_or_digest);
		_cleanup_free_ char *path = zl_xasprintf("%s/blobs/sha256/%s", ref->path, tag_or_digest + 7);
		if (zl_read_file(path, data, len, err) < 0)
			return zl_err_prefix(err, "oci layout");
		if (media_type)
			*media_type = NULL;
	} else {
		_cleanup_free_ char *path = zl_xasprintf("%s/manifests/%s", ref->path, tag_or_digest);
		_cleanup_free_ char *what = zl_xasprintf("manifest %s", s->label);
		struct http_request req = { .method = "GET", .ref = ref, .path = path,
					    .accept = MANIFEST_ACCEPT, .what = what };
		struct http_response resp = { .content_length = -1 };
		if (http_request(s->c, &req, &resp, err) < 0) {
			http_response_clear(&resp);
			return -1;
		}
		if (resp.status == 404) {
			http_response_clear(&resp);
			return zl_fail(err, "manifest %s: not found (HTTP 404): no such image or tag", s->label);
		}
		if (resp.status != 200) {
			zl_fail(err, "manifest %s: HTTP %ld", s->label, resp.status);
			http_response_clear(&resp);
			return -1;
		}
		if (resp.body.len > MAX_MANIFEST_BYTES) {
			http_response_clear(&resp);
			return zl_fail(err, "manifest %s: larger than 4 MiB", s->label);
		}
		*len = resp.body.len;
		*data = zl_buf_steal(&resp.body);
		if (media_type)
			*media_type = zl_xstrdup(resp.content_type);
		http_response_clear(&resp);
	}
	if (want) {
		_cleanup_free_ char *got = digest_of(*data, *len);
		if (strcmp(got, want) != 0) {
			free(*data);
			*data = NULL;
			if (media_type) {
				free(*media_type);
				*media_type = NULL;
			}
			return zl_fail(err, "%s: content has digest %s, expected %s (tampered or corrupt)",
				       tag_or_digest, got, want);
		}
	}
	return 0;
}

/* The top-level manifest digest an OCI layout's index.json names for tag. */
static int layout_lookup(const struct registry_ref *ref, char **digest, struct zl_err *err)
{
	_cleanup_free_ char *path = zl_xasprintf("%s/index.json", ref->path);
	char *text = NULL;
	size_t len = 0;
	if (zl_read_file(path, &text, &len, err) < 0)
		return zl_err_prefix(err, "oci layout %s", ref->path);
	cJSON *j = cJSON_ParseWithLength(text, len);
	free(text);
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "manifests");
	const cJSON *m, *found = NULL;
	size_t count = 0;
	cJSON_ArrayForEach(m, list) {
		count++;
		const cJSON *ann = cJSON_GetObjectItemCaseSensitive(m, "annotations");
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(ann, "org.opencontainers.image.ref.name");
		if (ref->tag && cJSON_IsString(name) && strcmp(name->valuestring, ref->tag) == 0)
			found = m;
	}
	if (!found && !ref->tag && count == 1)
		found = cJSON_GetArrayItem(list, 0);
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(found, "digest");
	int ret = 0;
	if (!cJSON_IsArray(list))
		ret = zl_fail(err, "oci layout %s: index.json has no manifests", ref->path);
	else if (!found)
		ret = zl_fail(err, "oci layout %s: no image tagged \"%s\"", ref->path,
			      ref->tag ? ref->tag : "(none given, and more than one image)");
	else if (!cJSON_IsString(d) || !registry_digest_valid(d->valuestring))
		ret = zl_fail(err, "oci layout %s: bad digest in index.json", ref->path);
	else
		*digest = zl_xstrdup(d->valuestring);
	cJSON_Delete(j);
	return ret;
}

/* Copies in to out (when out >= 0) and hashes: *digest "sha256:<hex>",
 * *size the bytes read. src and dst name the files in messages. */
static int copy_hashing(int in, int out, const char *src, const char *dst, char digest[72],
			int64_t *size, struct zl_err *err)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_DigestInit_ex(md, zl_sha256_evp(), NULL);
	char buf[1 << 16];
	ssize_t n;
	int ret = -1;
	*size = 0;
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		EVP_DigestUpdate(md, buf, (size_t)n);
		*size += n;
		if (out >= 0 && write(out, buf, (size_t)n) != n) {
			zl_fail_errno(err, "write %s", dst);
			goto out;
		}
	}
	if (n < 0) {
		zl_fail_errno(err, "read %s", src);
		goto out;
	}
	unsigned char mdv[32];
	unsigned int mdlen = 0;
	EVP_DigestFinal_ex(md, mdv, &mdlen);
	memcpy(digest, "sha256:", 8);
	for (unsigned i = 0; i < 32; i++)
		snprintf(digest + 7 + 2 * i, 3, "%02x", mdv[i]);
	ret = 0;
out:
	EVP_MD_CTX_free(md);
	return ret;
}

/* Copies a blob from an OCI layout into the store, hashing as it goes. */
static int layout_copy_blob(const struct source *s, const char *digest, struct zl_err *err)
{
	const char *root = s->c->root;
	if (store_has_blob(root, digest))
		return 0;
	_cleanup_free_ char *src = zl_xasprintf("%s/blobs/sha256/%s", s->ref->path, digest + 7);
	_cleanup_free_ char *dst = registry_blob_path(root, digest);
	_cleanup_free_ char *tmp = zl_xasprintf("%s.partial", dst);
	_cleanup_free_ char *dir = registry_blob_dir(root);
	if (zl_mkdir_p(dir, 0700, err) < 0)
		return -1;
	_cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return zl_fail_errno(err, "oci layout: blob %s", src);
	_cleanup_close_ int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0)
		return zl_fail_errno(err, "create %s", tmp);
	char got[72];
	int64_t size;
	int ret = -1;
	if (copy_hashing(in, out, src, tmp, got, &size, err) < 0)
		goto out;
	if (strcmp(got, digest) != 0) {
		zl_fail(err, "oci layout blob %s: content has digest %s (tampered or corrupt)", digest, got);
		goto out;
	}
	if (fsync(out) < 0 || rename(tmp, dst) < 0) {
		zl_fail_errno(err, "store %s", dst);
		goto out;
	}
	ret = 0;
out:
	if (ret < 0)
		unlink(tmp);
	return ret;
}

/* ---- file:PATH ---- */

/* The manifest a file: reference stands for: a function of the blob's
 * digest, size and kind only, so the same bytes give the same digest. */
static char *file_manifest(const char *wasm_digest, int64_t size, enum registry_image_kind kind)
{
	return zl_xasprintf("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"artifactType\":\"%s\","
			    "\"config\":{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":2},"
			    "\"layers\":[{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%lld}]}",
			    MT_OCI_MANIFEST,
			    kind == REGISTRY_IMAGE_WASM_COMPONENT ? MT_WASM_ARTIFACT_COMPONENT
								  : MT_WASM_ARTIFACT_MODULE,
			    MT_OCI_EMPTY, DIGEST_OCI_EMPTY, MT_WASM_LAYER, wasm_digest, (long long)size);
}

/* Reads the file of a file: reference, checks it is WebAssembly and, with
 * store, copies it into the store under its digest (written to a temporary
 * file while hashing, checked there, then renamed: what is checked is what
 * is stored). Gives the synthesized manifest and its digest; with store the
 * manifest and the empty config are stored too. */
static int file_import(struct registry_client *c, const struct registry_ref *ref, bool store,
		       char **manifest, size_t *manifest_len, char **manifest_digest,
		       struct zl_err *err)
{
	const char *path = ref->path;
	_cleanup_close_ int in = registry_open_file(path, err);
	if (in < 0)
		return -1;
	enum registry_image_kind kind = REGISTRY_IMAGE_CONTAINER;
	char digest[72];
	int64_t size = 0;
	if (!store) {
		if (wasm_check_fd(in, path, &kind, err) < 0 ||
		    copy_hashing(in, -1, path, NULL, digest, &size, err) < 0)
			return -1;
	} else {
		_cleanup_free_ char *dir = registry_blob_dir(c->root);
		if (zl_mkdir_p(dir, 0700, err) < 0)
			return -1;
		_cleanup_free_ char *tmp = zl_xasprintf("%s/.import-XXXXXX", dir);
		_cleanup_close_ int out = mkostemp(tmp, O_CLOEXEC);
		if (out < 0)
			return zl_fail_errno(err, "create %s", tmp);
		int r = copy_hashing(in, out, path, tmp, digest, &size, err);
		if (r == 0 && lseek(out, 0, SEEK_SET) < 0)
			r = zl_fail_errno(err, "seek %s", tmp);
		if (r == 0)
			r = wasm_check_fd(out, path, &kind, err);
		if (r == 0 && !store_has_blob(c->root, digest)) {
			_cleanup_free_ char *dst = registry_blob_path(c->root, digest);
			if (fchmod(out, 0644) < 0 || fsync(out) < 0 || rename(tmp, dst) < 0)
				r = zl_fail_errno(err, "store %s", dst);
		}
		unlink(tmp); /* gone after the rename; else not wanted */
		if (r < 0)
			return -1;
	}
	char *text = file_manifest(digest, size, kind);
	char hex[65];
	zl_sha256_hex(text, strlen(text), hex);
	char *mdigest = zl_xasprintf("sha256:%s", hex);
	if (store && (store_put_blob(c->root, mdigest, text, strlen(text), err) < 0 ||
		      store_put_blob(c->root, DIGEST_OCI_EMPTY, "{}", 2, err) < 0)) {
		free(text);
		free(mdigest);
		return -1;
	}
	*manifest_len = strlen(text);
	*manifest = text;
	*manifest_digest = mdigest;
	return 0;
}

/* Resolves the reference to the platform's image manifest: its digest and
 * text (verified). */
static int resolve_manifest(const struct source *s, char **digest, char **json, size_t *len,
			    struct zl_err *err)
{
	struct registry_client *c = s->c;
	const struct registry_ref *ref = s->ref;
	_cleanup_free_ char *top_digest = NULL;
	char *data = NULL, *mt = NULL;
	size_t n = 0;
	int ret = -1;

	if (ref->is_oci_layout) {
		if (ref->digest)
			top_digest = zl_xstrdup(ref->digest);
		else if (layout_lookup(ref, &top_digest, err) < 0)
			return -1;
		if (source_get_doc(s, top_digest, top_digest, &data, &n, &mt, err) < 0)
			return -1;
	} else {
		const char *what = ref->digest ? ref->digest : ref->tag;
		if (source_get_doc(s, what, ref->digest, &data, &n, &mt, err) < 0)
			return -1;
		top_digest = digest_of(data, n);
	}
	if (manifest_is_index(mt, data, n)) {
		if (store_put_blob(c->root, top_digest, data, n, err) < 0)
			goto out;
		char *sub = NULL, *sub_mt = NULL;
		if (manifest_select_platform(data, n, c->os, c->arch, c->variant, &sub, &sub_mt, err) < 0)
			goto out;
		free(data);
		free(mt);
		data = mt = NULL;
		free(sub_mt);
		int r = source_get_doc(s, sub, sub, &data, &n, &mt, err);
		if (r < 0) {
			free(sub);
			goto out;
		}
		if (manifest_is_index(mt, data, n)) {
			free(sub);
			zl_fail(err, "nested image indexes are not supported");
			goto out;
		}
		*digest = sub;
	} else {
		*digest = zl_xstrdup(top_digest);
	}
	*json = data;
	*len = n;
	data = NULL;
	ret = 0;
out:
	free(data);
	free(mt);
	return ret;
}

int registry_resolve(struct registry_client *c, const char *text, char **digest,
		     struct zl_err *err)
{
	struct registry_ref ref;
	if (registry_ref_parse(text, &ref, err) < 0)
		return -1;
	struct source s = { c, &ref, text };
	char *json = NULL;
	size_t len = 0;
	int r = ref.is_file ? file_import(c, &ref, false, &json, &len, digest, err)
			    : resolve_manifest(&s, digest, &json, &len, err);
	free(json);
	registry_ref_clear(&ref);
	if (r < 0)
		zl_err_prefix(err, "resolve %s", text);
	return r;
}

static bool layer_unpacked(const char *root, const struct registry_layer *l)
{
	_cleanup_free_ char *dir = registry_layer_dir(root, l->diff_id);
	return access(dir, F_OK) == 0;
}

/* A layer's compressed blob once its directory holds it: the unpacked tree
 * is what replicas use and what a re-pull checks, so the blob would only
 * double the image's size on disk (registry_opts.keep_layer_blobs keeps
 * it). A failure leaves a blob prune removes later: only a warning. */
static void drop_layer_blob(struct registry_client *c, const struct registry_layer *l)
{
	if (c->opts.keep_layer_blobs)
		return;
	_cleanup_free_ char *blob = registry_blob_path(c->root, l->digest);
	if (unlink(blob) < 0 && errno != ENOENT)
		zl_log(ZL_LOG_WARN, "remove layer blob %s: %s", blob, strerror(errno));
}

/* Unpacks every layer of img not yet unpacked, each into a temporary
 * directory renamed into place, so a layer directory is always complete. */
static int unpack_layers(struct registry_client *c, const struct registry_image *img,
			 struct zl_err *err)
{
	_cleanup_free_ char *layers = zl_xasprintf("%s/layers", c->root);
	if (zl_mkdir_p(layers, 0700, err) < 0)
		return -1;
	for (size_t i = 0; i < img->layer_count; i++) {
		const struct registry_layer *l = &img->layers[i];
		_cleanup_free_ char *dir = registry_layer_dir(c->root, l->diff_id);
		if (access(dir, F_OK) == 0) {
			drop_layer_blob(c, l); /* shared with an image pulled before */
			continue;
		}
		_cleanup_free_ char *tmp = zl_xasprintf("%s/.unpack-%s-%d", layers, l->diff_id + 7, (int)getpid());
		_cleanup_free_ char *blob = registry_blob_path(c->root, l->digest);
		struct zl_err ignored = ZL_ERR_INIT;
		zl_rm_rf(tmp, &ignored); /* a leftover of a crashed run */
		/* 0755 whatever the umask: the layer root is the container's "/"
		 * unless the layer itself says otherwise ("./"). */
		if (mkdir(tmp, 0755) < 0 || chmod(tmp, 0755) < 0)
			return zl_fail_errno(err, "mkdir %s", tmp);
		struct registry_unpack_report report = { 0 };
		struct registry_unpack_opts uo = { .allow_devices = false, .image_ref = img->reference,
						   .report = &report };
		if (registry_unpack_layer(blob, tmp, l->diff_id, &uo, err) < 0) {
			zl_rm_rf(tmp, &ignored);
			return zl_err_prefix(err, "unpack layer %zu (%s)", i + 1, l->digest);
		}
		if (report.devices_skipped)
			zl_log(ZL_LOG_WARN,
			       "image %s: layer %zu: skipped %zu device node%s (first: /%s); a container's /dev comes from the runtime",
			       img->reference, i + 1, report.devices_skipped,
			       report.devices_skipped == 1 ? "" : "s", report.first_device);
		if (rename(tmp, dir) < 0 && errno != ENOTEMPTY && errno != EEXIST) {
			zl_fail_errno(err, "rename %s", dir);
			zl_rm_rf(tmp, &ignored);
			return -1;
		}
		zl_rm_rf(tmp, &ignored); /* lost a race to a concurrent unpack: fine */
		drop_layer_blob(c, l);
	}
	return 0;
}

/* Puts an image's config blob into the store. The empty descriptor's "{}"
 * (OCI artifacts) needs no download. */
static int fetch_config(struct registry_client *c, const struct source *s,
			const struct registry_image *img, struct zl_err *err)
{
	if (strcmp(img->config_digest, DIGEST_OCI_EMPTY) == 0)
		return store_has_blob(c->root, DIGEST_OCI_EMPTY)
			       ? 0
			       : store_put_blob(c->root, DIGEST_OCI_EMPTY, "{}", 2, err);
	if (s->ref->is_oci_layout)
		return layout_copy_blob(s, img->config_digest, err);
	struct store_fetch cf = { img->config_digest, img->config_size, "config" };
	return store_fetch_blobs(c, s->ref, &cf, 1, err);
}

/* The rest of a WASM artifact's pull: the module blob into the store (a
 * file: import put it there already), its binary checked, nothing
 * unpacked. */
static int pull_wasm(struct registry_client *c, const struct source *s, struct registry_image *img,
		     const struct manifest_info *info, struct zl_err *err)
{
	struct registry_layer *l = &img->layers[0];
	if (s->ref->is_oci_layout) {
		if (layout_copy_blob(s, l->digest, err) < 0)
			return -1;
	} else if (!s->ref->is_file) {
		struct store_fetch f = { l->digest, l->size, "module" };
		if (store_fetch_blobs(c, s->ref, &f, 1, err) < 0)
			return -1;
	}
	char *path = registry_blob_path(c->root, l->digest);
	enum registry_image_kind kind = REGISTRY_IMAGE_CONTAINER;
	struct stat st;
	if (stat(path, &st) < 0) {
		zl_fail_errno(err, "blob %s", l->digest);
		free(path);
		return -1;
	}
	if (registry_wasm_check_file(path, &kind, err) < 0) {
		free(path);
		return zl_err_prefix(err, "blob %s (%s)", l->digest, info->signal);
	}
	if (info->declared != REGISTRY_IMAGE_CONTAINER && info->declared != kind)
		zl_log(ZL_LOG_WARN, "image %s: the %s says %s, but the binary is a %s: taken as a %s",
		       img->reference, info->signal, registry_image_kind_name(info->declared),
		       registry_image_kind_name(kind), registry_image_kind_name(kind));
	img->kind = kind;
	img->wasm_digest = zl_xstrdup(l->digest);
	img->wasm_path = path;
	img->size = (int64_t)st.st_size;
	return 0;
}

/* A WASM artifact's config, as the image config: JSON objects as they are
 * (an image config's Env and Cmd stay usable), anything else "{}". */
static char *wasm_config_json(const char *text, size_t len)
{
	cJSON *j = cJSON_ParseWithLength(text, len);
	bool object = cJSON_IsObject(j);
	cJSON_Delete(j);
	return object ? zl_xstrndup(text, len) : zl_xstrdup("{}");
}

int registry_pull(struct registry_client *c, const char *text, struct registry_image *img,
		  struct zl_err *err)
{
	struct registry_ref ref;
	memset(img, 0, sizeof(*img));
	if (registry_ref_parse(text, &ref, err) < 0)
		return -1;
	struct source s = { c, &ref, text };
	char *manifest = NULL, *config = NULL;
	size_t manifest_len = 0, config_len = 0;
	struct store_fetch *fetch = NULL;
	char *config_path = NULL;
	struct manifest_info info;
	int ret = -1;
	const char *step = "manifest";

	img->reference = registry_ref_format(&ref);
	if (ref.is_file) {
		step = NULL; /* the file's problem is the message */
		if (file_import(c, &ref, true, &manifest, &manifest_len, &img->manifest_digest, err) < 0)
			goto out;
		step = "manifest";
	} else if (resolve_manifest(&s, &img->manifest_digest, &manifest, &manifest_len, err) < 0) {
		goto out;
	}
	if (store_put_blob(c->root, img->manifest_digest, manifest, manifest_len, err) < 0 ||
	    manifest_parse_image(manifest, manifest_len, img, &info, err) < 0)
		goto out;

	step = "config";
	if (fetch_config(c, &s, img, err) < 0)
		goto out;
	config_path = registry_blob_path(c->root, img->config_digest);
	if (zl_read_file(config_path, &config, &config_len, err) < 0)
		goto out;
	if (registry_kind_is_wasm(img->kind)) {
		img->config_json = wasm_config_json(config, config_len);
		step = "WASM module";
		if (pull_wasm(c, &s, img, &info, err) < 0)
			goto out;
		ret = 0;
		goto out;
	}
	if (manifest_config_diff_ids(config, config_len, img, err) < 0)
		goto out;
	img->config_json = config;
	config = NULL;
	img->size = (int64_t)config_len;

	step = "layers";
	/* A layer already unpacked (and its diff_id verified then) needs no
	 * blob: a re-pull, or an image sharing it, fetches nothing for it. */
	fetch = zl_xcalloc(img->layer_count + 1, sizeof(*fetch));
	size_t fetch_count = 0;
	for (size_t i = 0; i < img->layer_count; i++) {
		img->size += img->layers[i].size;
		if (layer_unpacked(c->root, &img->layers[i]))
			continue;
		fetch[fetch_count++] = (struct store_fetch){ img->layers[i].digest, img->layers[i].size,
							     img->layers[i].digest + 7 };
	}
	if (ref.is_oci_layout) {
		for (size_t i = 0; i < fetch_count; i++)
			if (layout_copy_blob(&s, fetch[i].digest, err) < 0)
				goto out;
	} else if (store_fetch_blobs(c, &ref, fetch, fetch_count, err) < 0) {
		goto out;
	}

	step = "unpack";
	if (unpack_layers(c, img, err) < 0)
		goto out;
	ret = 0;
out:
	if (ret < 0) {
		if (step)
			zl_err_prefix(err, "pull %s: %s", text, step);
		else
			zl_err_prefix(err, "pull %s", text);
		registry_image_clear(img);
	}
	free(manifest);
	free(config);
	free(config_path);
	free(fetch);
	registry_ref_clear(&ref);
	return ret;
}
