/* images_verbs.c: `zlapply pull IMAGE...`, `zlapply images` and `zlapply
 * prune` on top of images.c. pull and prune change the store, so they hold
 * the apply lock (struct reconcile_store); images only reads. */
#include "reconcile-internal.h"
#include "registry/registry.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <string.h>

struct reconcile_store {
	struct state_lock lock;
	struct state_db *db;
	struct images_ctx *ctx;
};

int reconcile_images_list(const char *root, struct state_images *out, struct zl_err *err)
{
	struct state_db *db = NULL;
	memset(out, 0, sizeof(*out));
	int opened = root_open_read(root, &db, err);
	if (opened != 0)
		return opened < 0 ? -1 : 0; /* 1: nothing stored yet */
	int r = state_images_load(db, out, err);
	state_close(db);
	return r;
}

int64_t reconcile_image_disk_size(const char *root, const struct state_image *img)
{
	int64_t total = 0, bytes;
	struct zl_err ignored = ZL_ERR_INIT;
	const char *blobs[] = { img->manifest_digest, img->config_digest };
	for (size_t i = 0; i < 2; i++) {
		if (!blobs[i] || !registry_digest_valid(blobs[i]))
			continue;
		_cleanup_free_ char *path = registry_blob_path(root, blobs[i]);
		if (zl_disk_usage(path, &bytes, &ignored) == 0)
			total += bytes;
	}
	cJSON *arr = cJSON_Parse(img->layers);
	const cJSON *l;
	cJSON_ArrayForEach(l, arr) {
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(l, "diff_id");
		const cJSON *d = cJSON_GetObjectItemCaseSensitive(l, "digest");
		/* A kept (or WASM) blob, and the unpacked tree. */
		if (cJSON_IsString(d) && registry_digest_valid(d->valuestring)) {
			_cleanup_free_ char *path = registry_blob_path(root, d->valuestring);
			if (zl_disk_usage(path, &bytes, &ignored) == 0)
				total += bytes;
		}
		if (cJSON_IsString(id) && registry_digest_valid(id->valuestring)) {
			_cleanup_free_ char *dir = registry_layer_dir(root, id->valuestring);
			if (zl_disk_usage(dir, &bytes, &ignored) == 0)
				total += bytes;
		}
	}
	cJSON_Delete(arr);
	return total;
}

void reconcile_images_free(struct state_images *list)
{
	state_images_free(list);
}

int reconcile_store_open(const struct reconcile_opts *opts, struct reconcile_store **out,
			 struct zl_err *err)
{
	struct reconcile_store *s = zl_xcalloc(1, sizeof(*s));
	s->lock.fd = -1;
	*out = NULL;
	if (state_lock_acquire(opts->root, opts->lock_timeout_ms, &s->lock, err) < 0 ||
	    state_open(opts->root, false, &s->db, err) < 0) {
		reconcile_store_close(s);
		return -1;
	}
	s->ctx = images_ctx_new(opts->root, &opts->images, s->db);
	*out = s;
	return 0;
}

void reconcile_store_close(struct reconcile_store *s)
{
	if (!s)
		return;
	images_ctx_free(s->ctx);
	state_close(s->db);
	state_lock_release(&s->lock);
	free(s);
}

int reconcile_pull(struct reconcile_store *s, const char *image, char **reference, char **digest,
		   struct zl_err *err)
{
	struct images_ready ready;
	*reference = *digest = NULL;
	if (images_pull(s->ctx, image, &ready, err) < 0)
		return -1;
	*reference = zl_xstrdup(ready.reference);
	*digest = zl_xstrdup(ready.manifest_digest);
	images_ready_clear(&ready);
	return 0;
}

int reconcile_prune(struct reconcile_store *s, int64_t *freed, size_t *removed,
		    struct zl_err *err)
{
	*freed = 0;
	*removed = 0;
	return images_prune(s->ctx, freed, removed, err);
}
