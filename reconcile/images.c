/* images.c: images for an apply: pull policies on top of the registry
 * client and the images table, and pruning of what nothing uses. */
#include "reconcile-internal.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <ftw.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry/registry.h"

struct images_ctx {
	char *root;
	struct images_opts opts;
	struct state_db *db;
	struct registry_client *client; /* created on first need */
	struct images_cache {
		char *image; /* as written in the spec */
		struct images_ready ready;
	} *cache;
	size_t cache_count;
};

struct images_ctx *images_ctx_new(const char *root, const struct images_opts *o,
				  struct state_db *db)
{
	struct images_ctx *ctx = zl_xcalloc(1, sizeof(*ctx));
	ctx->root = zl_xstrdup(root);
	if (o)
		ctx->opts = *o;
	ctx->db = db;
	return ctx;
}

void images_ctx_free(struct images_ctx *ctx)
{
	if (!ctx)
		return;
	registry_client_free(ctx->client);
	for (size_t i = 0; i < ctx->cache_count; i++) {
		free(ctx->cache[i].image);
		images_ready_clear(&ctx->cache[i].ready);
	}
	free(ctx->cache);
	free(ctx->root);
	free(ctx);
}

static int client_get(struct images_ctx *ctx, struct registry_client **out, struct zl_err *err)
{
	if (!ctx->client) {
		struct registry_opts ro = {
			.root = ctx->root,
			.ca_file = ctx->opts.ca_file,
			.insecure_hosts = ctx->opts.insecure_hosts,
			.insecure_count = ctx->opts.insecure_count,
			.auth_file = ctx->opts.auth_file,
			.platform = ctx->opts.platform,
			.keep_layer_blobs = ctx->opts.keep_layer_blobs,
			.progress = ctx->opts.quiet ? REGISTRY_PROGRESS_NONE : REGISTRY_PROGRESS_AUTO,
		};
		if (registry_client_new(&ro, &ctx->client, err) < 0)
			return -1;
	}
	*out = ctx->client;
	return 0;
}

/* layers JSON of the images table <-> registry_image layers. */
static char *layers_to_json(const struct registry_image *img)
{
	cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; i < img->layer_count; i++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "digest", img->layers[i].digest);
		cJSON_AddStringToObject(o, "diff_id", img->layers[i].diff_id);
		cJSON_AddStringToObject(o, "media_type", img->layers[i].media_type);
		cJSON_AddNumberToObject(o, "size", (double)img->layers[i].size);
		cJSON_AddItemToArray(arr, o);
	}
	char *text = cJSON_PrintUnformatted(arr);
	cJSON_Delete(arr);
	return text;
}

/* Fills out from an images row; false when the store lacks a piece of it
 * (config blob or an unpacked layer), i.e. the image must be pulled again. */
static bool ready_from_row(const char *root, const struct state_image *row,
			   struct images_ready *out)
{
	memset(out, 0, sizeof(*out));
	_cleanup_free_ char *config_blob = registry_blob_path(root, row->config_digest);
	if (access(config_blob, F_OK) < 0)
		return false;
	cJSON *arr = cJSON_Parse(row->layers);
	if (!cJSON_IsArray(arr)) {
		cJSON_Delete(arr);
		return false;
	}
	size_t n = (size_t)cJSON_GetArraySize(arr);
	out->layer_dirs = zl_xcalloc(n + 1, sizeof(char *));
	const cJSON *l;
	bool ok = true;
	cJSON_ArrayForEach(l, arr) {
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(l, "diff_id");
		const cJSON *d = cJSON_GetObjectItemCaseSensitive(l, "digest");
		if (!id && cJSON_IsString(d) && registry_digest_valid(d->valuestring)) {
			/* A WASM module: not unpacked, its blob is the content. */
			char *blob = registry_blob_path(root, d->valuestring);
			ok = ok && access(blob, F_OK) == 0;
			free(out->module_path);
			out->module_path = blob;
			continue;
		}
		if (!cJSON_IsString(id)) {
			ok = false;
			break;
		}
		char *dir = registry_layer_dir(root, id->valuestring);
		out->layer_dirs[out->layer_count++] = dir;
		if (access(dir, F_OK) < 0)
			ok = false;
	}
	cJSON_Delete(arr);
	if (!ok) {
		images_ready_clear(out);
		return false;
	}
	out->reference = zl_xstrdup(row->reference);
	out->manifest_digest = zl_xstrdup(row->manifest_digest);
	out->config = zl_xstrdup(row->config);
	return true;
}

static int pull_and_record(struct images_ctx *ctx, const char *image, struct images_ready *out,
			   struct zl_err *err)
{
	struct registry_client *c;
	struct registry_image img;
	if (client_get(ctx, &c, err) < 0 || registry_pull(c, image, &img, err) < 0)
		return -1;
	int64_t now = zl_now_ms();
	struct state_image row = {
		.reference = img.reference,
		.manifest_digest = img.manifest_digest,
		.config_digest = img.config_digest,
		.config = img.config_json,
		.layers = layers_to_json(&img),
		.size = img.size,
		.pulled_at = now,
		.last_used = now,
	};
	int r = ctx->db ? state_image_upsert(ctx->db, &row, err) : 0;
	if (r == 0 && ctx->db) { /* events: a pull is about no one deployment */
		_cleanup_free_ char *msg = zl_xasprintf("pulled %s (%s, %lld bytes)", img.reference,
							img.manifest_digest, (long long)img.size);
		cJSON *data = cJSON_CreateObject();
		cJSON_AddStringToObject(data, "image", img.reference);
		cJSON_AddStringToObject(data, "digest", img.manifest_digest);
		cJSON_AddNumberToObject(data, "size", (double)img.size);
		r = events_record(ctx->db, now, NULL, NULL, 0, "pulled", msg, data, err);
	}
	if (r == 0 && !ready_from_row(ctx->root, &row, out))
		r = zl_fail(err, "image %s: pulled but incomplete in the store", image);
	free(row.layers);
	registry_image_clear(&img);
	return r;
}

static struct images_ready *cached(struct images_ctx *ctx, const char *image)
{
	for (size_t i = 0; i < ctx->cache_count; i++)
		if (strcmp(ctx->cache[i].image, image) == 0)
			return &ctx->cache[i].ready;
	return NULL;
}

static void ready_copy(struct images_ready *dst, const struct images_ready *src)
{
	dst->reference = zl_xstrdup(src->reference);
	dst->manifest_digest = zl_xstrdup(src->manifest_digest);
	dst->config = zl_xstrdup(src->config);
	dst->layer_dirs = zl_xcalloc(src->layer_count + 1, sizeof(char *));
	for (size_t i = 0; i < src->layer_count; i++)
		dst->layer_dirs[i] = zl_xstrdup(src->layer_dirs[i]);
	dst->layer_count = src->layer_count;
	dst->module_path = src->module_path ? zl_xstrdup(src->module_path) : NULL;
}

static void remember(struct images_ctx *ctx, const char *image, const struct images_ready *r)
{
	ctx->cache = zl_xrealloc(ctx->cache, (ctx->cache_count + 1) * sizeof(*ctx->cache));
	struct images_cache *slot = &ctx->cache[ctx->cache_count++];
	slot->image = zl_xstrdup(image);
	memset(&slot->ready, 0, sizeof(slot->ready));
	ready_copy(&slot->ready, r);
}

int images_pull(struct images_ctx *ctx, const char *image, struct images_ready *out,
		struct zl_err *err)
{
	return pull_and_record(ctx, image, out, err);
}

int images_ensure(struct images_ctx *ctx, const char *image, enum spec_pull_policy policy,
		  struct images_ready *out, struct zl_err *err)
{
	memset(out, 0, sizeof(*out));
	const struct images_ready *hit = cached(ctx, image);
	if (hit) {
		ready_copy(out, hit);
		return 0;
	}
	struct registry_ref ref;
	if (registry_ref_parse(image, &ref, err) < 0)
		return -1;
	_cleanup_free_ char *canonical = registry_ref_format(&ref);
	registry_ref_clear(&ref);

	struct state_image row;
	bool found = false;
	if (ctx->db && state_image_get(ctx->db, canonical, &row, &found, err) < 0)
		return -1;
	bool local = found && ready_from_row(ctx->root, &row, out);
	int r = 0;
	switch (policy) {
	case SPEC_PULL_NEVER:
		if (!local)
			r = zl_fail(err, "image %s is not in the local store and pull_policy is never (run 'zlapply pull %s')",
				    image, image);
		break;
	case SPEC_PULL_IF_NOT_PRESENT:
		if (!local)
			r = pull_and_record(ctx, image, out, err);
		break;
	case SPEC_PULL_ALWAYS: {
		struct images_ready fresh;
		r = pull_and_record(ctx, image, &fresh, err);
		if (r == 0) {
			images_ready_clear(out);
			*out = fresh;
		} else if (local) {
			/* The registry is unreachable: keep running what we have. */
			zl_log(ZL_LOG_WARN, "image %s: %s; using the stored copy", image, err->msg);
			r = 0;
		}
		break;
	}
	case SPEC_PULL_NEWER: {
		struct registry_client *c;
		char *remote = NULL;
		if (client_get(ctx, &c, err) < 0 || registry_resolve(c, image, &remote, err) < 0) {
			if (local) {
				zl_log(ZL_LOG_WARN, "image %s: %s; using the stored copy", image, err->msg);
				break;
			}
			r = -1;
			break;
		}
		if (!local || strcmp(remote, row.manifest_digest) != 0) {
			if (local)
				zl_log(ZL_LOG_INFO, "image %s moved: %s -> %s", image, row.manifest_digest, remote);
			images_ready_clear(out);
			r = pull_and_record(ctx, image, out, err);
		}
		free(remote);
		break;
	}
	}
	if (found)
		state_image_clear(&row);
	if (r < 0) {
		images_ready_clear(out);
		return -1;
	}
	remember(ctx, image, out);
	return 0;
}

/* ---- prune ---- */
static int64_t tree_bytes;
static int add_size(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)path;
	(void)type;
	(void)ftw;
	tree_bytes += (int64_t)st->st_blocks * 512;
	return 0;
}

/* Disk usage of a tree (nftw keeps no context pointer, hence the static;
 * prune runs under the apply lock, one at a time). */
static int64_t du(const char *path)
{
	tree_bytes = 0;
	nftw(path, add_size, 32, FTW_PHYS);
	return tree_bytes;
}

static bool in_list(char **list, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], s) == 0)
			return true;
	return false;
}

/* Removes every entry of dir whose name (minus ".partial") is not in keep. */
static int64_t sweep(const char *dir, char **keep, size_t keep_count, bool partial_ok)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	int64_t freed = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		bool is_partial = zl_str_has_suffix(e->d_name, ".partial") || e->d_name[0] == '.';
		if (!is_partial && in_list(keep, keep_count, e->d_name))
			continue;
		if (is_partial && partial_ok)
			continue;
		_cleanup_free_ char *path = zl_xasprintf("%s/%s", dir, e->d_name);
		freed += du(path);
		struct zl_err ignored = ZL_ERR_INIT;
		if (zl_rm_rf(path, &ignored) < 0)
			zl_log(ZL_LOG_WARN, "prune: %s", ignored.msg);
	}
	closedir(d);
	return freed;
}

int images_prune(struct images_ctx *ctx, int64_t *freed, size_t *images_removed,
		 struct zl_err *err)
{
	struct state_images images = { 0 };
	struct state_replicas rows = { 0 };
	char **keep_blobs = NULL, **keep_layers = NULL;
	size_t nb = 0, nl = 0;
	int ret = -1;
	*freed = 0;
	*images_removed = 0;
	if (state_images_load(ctx->db, &images, err) < 0 ||
	    state_replicas_load(ctx->db, NULL, &rows, err) < 0)
		goto out;
	for (size_t i = 0; i < images.count; i++) {
		struct state_image *img = &images.items[i];
		bool used = false;
		for (size_t k = 0; k < rows.count && !used; k++)
			used = rows.items[k].image_digest &&
			       strcmp(rows.items[k].image_digest, img->manifest_digest) == 0;
		if (!used) {
			if (state_image_delete(ctx->db, img->reference, err) < 0)
				goto out;
			(*images_removed)++;
			continue;
		}
		keep_blobs = zl_xrealloc(keep_blobs, (nb + 2) * sizeof(char *));
		keep_blobs[nb++] = zl_xstrdup(img->manifest_digest + 7);
		keep_blobs[nb++] = zl_xstrdup(img->config_digest + 7);
		cJSON *arr = cJSON_Parse(img->layers);
		const cJSON *l;
		cJSON_ArrayForEach(l, arr) {
			const cJSON *d = cJSON_GetObjectItemCaseSensitive(l, "digest");
			const cJSON *id = cJSON_GetObjectItemCaseSensitive(l, "diff_id");
			if (cJSON_IsString(d) && strlen(d->valuestring) > 7) {
				keep_blobs = zl_xrealloc(keep_blobs, (nb + 1) * sizeof(char *));
				keep_blobs[nb++] = zl_xstrdup(d->valuestring + 7);
			}
			if (cJSON_IsString(id) && strlen(id->valuestring) > 7) {
				keep_layers = zl_xrealloc(keep_layers, (nl + 1) * sizeof(char *));
				keep_layers[nl++] = zl_xstrdup(id->valuestring + 7);
			}
		}
		cJSON_Delete(arr);
	}
	{
		_cleanup_free_ char *blobs = registry_blob_dir(ctx->root);
		_cleanup_free_ char *layers = zl_xasprintf("%s/layers", ctx->root);
		*freed += sweep(blobs, keep_blobs, nb, false);
		*freed += sweep(layers, keep_layers, nl, false);
	}
	ret = 0;
out:
	for (size_t i = 0; i < nb; i++)
		free(keep_blobs[i]);
	for (size_t i = 0; i < nl; i++)
		free(keep_layers[i]);
	free(keep_blobs);
	free(keep_layers);
	state_images_free(&images);
	state_replicas_free(&rows);
	return ret;
}
