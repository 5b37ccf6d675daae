/* manifest.c: image manifests and indexes (OCI image spec, Docker v2
 * schema 2 and manifest lists) parsed with cJSON, platform selection, and
 * the config's diff_ids. */
#include "registry-internal.h"

#include <cjson/cJSON.h>
#include <string.h>

static const char *json_string(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

bool manifest_is_index(const char *media_type, const char *json, size_t len)
{
	if (media_type && (strncmp(media_type, MT_OCI_INDEX, strlen(MT_OCI_INDEX)) == 0 ||
			   strncmp(media_type, MT_DOCKER_LIST, strlen(MT_DOCKER_LIST)) == 0))
		return true;
	cJSON *j = cJSON_ParseWithLength(json, len);
	const char *mt = json_string(j, "mediaType");
	bool yes = (mt && (strcmp(mt, MT_OCI_INDEX) == 0 || strcmp(mt, MT_DOCKER_LIST) == 0)) ||
		   (!mt && cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "manifests")));
	cJSON_Delete(j);
	return yes;
}

static bool layer_type_supported(const char *mt)
{
	static const char *const ok[] = {
		"application/vnd.oci.image.layer.v1.tar",
		"application/vnd.oci.image.layer.v1.tar+gzip",
		"application/vnd.oci.image.layer.v1.tar+zstd",
		"application/vnd.docker.image.rootfs.diff.tar.gzip",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
		"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strcmp(mt, ok[i]) == 0)
			return true;
	return false;
}

/* The media types of a manifest's layers, for a message: "a", "b". */
static void layer_types(const cJSON *layers, struct zl_buf *out)
{
	const cJSON *layer;
	size_t n = 0;
	cJSON_ArrayForEach(layer, layers) {
		const char *lmt = json_string(layer, "mediaType");
		if (n++ == 4) {
			zl_buf_puts(out, ", ...");
			break;
		}
		zl_buf_printf(out, "%s\"%s\"", n > 1 ? ", " : "", lmt ? lmt : "");
	}
	if (n == 0)
		zl_buf_puts(out, "none");
}

/* A descriptor's size; -1 when missing, negative, or beyond what an
 * int64 holds (a registry's number; 1e300 must not reach the cast). */
static int64_t descriptor_size(const cJSON *desc)
{
	const cJSON *size = cJSON_GetObjectItemCaseSensitive(desc, "size");
	return cJSON_IsNumber(size) && size->valuedouble >= 0 && size->valuedouble < 0x1p63
		       ? (int64_t)size->valuedouble
		       : -1;
}

/* Is the manifest a WASM artifact? Fills info (signal, declared kind). */
static bool detect_wasm(const cJSON *j, const char *cmt, const cJSON *layers,
			struct manifest_info *info)
{
	const char *at = json_string(j, "artifactType");
	enum registry_image_kind declared = wasm_artifact_type_kind(at);
	if (declared != REGISTRY_IMAGE_CONTAINER) {
		info->declared = declared;
		snprintf(info->signal, sizeof(info->signal), "artifactType %s", at);
		return true;
	}
	if (wasm_config_type(cmt)) {
		snprintf(info->signal, sizeof(info->signal), "config media type %s", cmt);
		return true;
	}
	const cJSON *layer;
	cJSON_ArrayForEach(layer, layers) {
		const char *lmt = json_string(layer, "mediaType");
		if (wasm_layer_type(lmt)) {
			snprintf(info->signal, sizeof(info->signal), "layer media type %s", lmt);
			return true;
		}
	}
	return false;
}

/* The module of a WASM artifact: the first layer of a WASM media type, else
 * the only layer. */
static int wasm_layer(const cJSON *layers, struct registry_image *img,
		      const struct manifest_info *info, struct zl_err *err)
{
	const cJSON *layer, *pick = NULL;
	cJSON_ArrayForEach(layer, layers) {
		if (wasm_layer_type(json_string(layer, "mediaType"))) {
			pick = layer;
			break;
		}
	}
	int n = cJSON_GetArraySize(layers);
	if (!pick && n == 1)
		pick = cJSON_GetArrayItem(layers, 0);
	if (!pick) {
		struct zl_buf types = { 0 };
		layer_types(layers, &types);
		zl_fail(err, "WASM artifact (%s) with %d layers, none of media type %s (layers: %s): "
			"which one is the module?", info->signal, n, MT_WASM_LAYER, types.data);
		zl_buf_free(&types);
		return -1;
	}
	const char *d = json_string(pick, "digest");
	const char *lmt = json_string(pick, "mediaType");
	int64_t size = descriptor_size(pick);
	if (!registry_digest_valid(d))
		return zl_fail(err, "WASM module layer: digest missing or not sha256:<64 hex>");
	if (size < 0)
		return zl_fail(err, "WASM module layer (%s): size missing", d);
	img->layers = zl_xcalloc(2, sizeof(*img->layers));
	img->layers[0].digest = zl_xstrdup(d);
	img->layers[0].media_type = zl_xstrdup(lmt ? lmt : MT_WASM_LAYER);
	img->layers[0].size = size;
	img->layer_count = 1;
	img->kind = info->declared != REGISTRY_IMAGE_CONTAINER ? info->declared
							       : REGISTRY_IMAGE_WASM_MODULE;
	return 0;
}

int manifest_parse_image(const char *json, size_t len, struct registry_image *img,
			 struct manifest_info *info, struct zl_err *err)
{
	struct manifest_info local;
	if (!info)
		info = &local;
	memset(info, 0, sizeof(*info));
	cJSON *j = cJSON_ParseWithLength(json, len);
	int ret = -1;
	if (!cJSON_IsObject(j)) {
		zl_fail(err, "manifest is not a JSON object");
		goto out;
	}
	const cJSON *version = cJSON_GetObjectItemCaseSensitive(j, "schemaVersion");
	if (!cJSON_IsNumber(version) || version->valueint != 2) {
		zl_fail(err, "manifest schemaVersion must be 2 (schema 1 manifests are not supported)");
		goto out;
	}
	const char *mt = json_string(j, "mediaType");
	if (mt && strcmp(mt, MT_OCI_MANIFEST) != 0 && strcmp(mt, MT_DOCKER_MANIFEST) != 0) {
		zl_fail(err, "unsupported manifest media type \"%s\"", mt);
		goto out;
	}
	const cJSON *config = cJSON_GetObjectItemCaseSensitive(j, "config");
	const char *cdigest = json_string(config, "digest");
	const char *cmt = json_string(config, "mediaType");
	if (!registry_digest_valid(cdigest)) {
		zl_fail(err, "manifest config digest missing or not sha256:<64 hex>");
		goto out;
	}
	const cJSON *layers = cJSON_GetObjectItemCaseSensitive(j, "layers");
	if (!cJSON_IsArray(layers)) {
		zl_fail(err, "manifest has no layers array");
		goto out;
	}
	img->kind = REGISTRY_IMAGE_CONTAINER;
	if (detect_wasm(j, cmt, layers, info)) {
		if (wasm_layer(layers, img, info, err) < 0)
			goto out;
		img->config_digest = zl_xstrdup(cdigest);
		img->config_size = descriptor_size(config);
		ret = 0;
		goto out;
	}
	if (cmt && strcmp(cmt, MT_OCI_CONFIG) != 0 && strcmp(cmt, MT_DOCKER_CONFIG) != 0) {
		struct zl_buf types = { 0 };
		layer_types(layers, &types);
		zl_fail(err, "neither a container image nor a WASM artifact: config media type \"%s\", "
			"layer media types %s%s%s", cmt, types.data,
			json_string(j, "artifactType") ? ", artifactType " : "",
			json_string(j, "artifactType") ? json_string(j, "artifactType") : "");
		zl_buf_free(&types);
		goto out;
	}
	img->config_digest = zl_xstrdup(cdigest);
	img->config_size = descriptor_size(config);
	size_t n = (size_t)cJSON_GetArraySize(layers);
	img->layers = zl_xcalloc(n + 1, sizeof(*img->layers));
	const cJSON *layer;
	cJSON_ArrayForEach(layer, layers) {
		const char *d = json_string(layer, "digest");
		const char *lmt = json_string(layer, "mediaType");
		int64_t size = descriptor_size(layer);
		size_t i = img->layer_count;
		if (!registry_digest_valid(d)) {
			zl_fail(err, "layer %zu: digest missing or not sha256:<64 hex>", i);
			goto out;
		}
		if (!lmt || !layer_type_supported(lmt)) {
			zl_fail(err, "layer %zu (%s): unsupported media type \"%s\"", i, d, lmt ? lmt : "");
			goto out;
		}
		if (size < 0) {
			zl_fail(err, "layer %zu (%s): size missing", i, d);
			goto out;
		}
		img->layers[i].digest = zl_xstrdup(d);
		img->layers[i].media_type = zl_xstrdup(lmt);
		img->layers[i].size = size;
		img->layer_count++;
	}
	ret = 0;
out:
	cJSON_Delete(j);
	return ret;
}

int manifest_select_platform(const char *json, size_t len, const char *os, const char *arch,
			     const char *variant, char **digest, char **media_type,
			     struct zl_err *err)
{
	cJSON *j = cJSON_ParseWithLength(json, len);
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "manifests");
	int ret = -1;
	if (!cJSON_IsArray(list)) {
		zl_fail(err, "image index has no manifests array");
		goto out;
	}
	const cJSON *m, *best = NULL, *wasm = NULL;
	struct zl_buf seen = { 0 };
	cJSON_ArrayForEach(m, list) {
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(m, "platform");
		const char *mos = json_string(p, "os"), *march = json_string(p, "architecture");
		const char *mvar = json_string(p, "variant");
		if (!mos || !march)
			continue; /* attestations and other non-image entries */
		zl_buf_printf(&seen, "%s%s/%s%s%s", seen.len ? ", " : "", mos, march, mvar ? "/" : "",
			      mvar ? mvar : "");
		if (!wasm && strcmp(march, "wasm") == 0)
			wasm = m; /* wasip1/wasm, wasip2/wasm, wasi/wasm: runs anywhere */
		if (strcmp(mos, os) != 0 || strcmp(march, arch) != 0)
			continue;
		/* An exact variant wins; a missing variant on either side is a match. */
		if (variant && mvar && strcmp(variant, mvar) != 0)
			continue;
		if (!best || (variant && mvar))
			best = m;
	}
	if (!best)
		best = wasm;
	if (!best) {
		zl_fail(err, "no image for platform %s/%s%s%s in the index (it has: %s)", os, arch,
			variant ? "/" : "", variant ? variant : "", seen.len ? seen.data : "none");
		zl_buf_free(&seen);
		goto out;
	}
	zl_buf_free(&seen);
	const char *d = json_string(best, "digest");
	if (!registry_digest_valid(d)) {
		zl_fail(err, "index entry for %s/%s has no valid digest", os, arch);
		goto out;
	}
	*digest = zl_xstrdup(d);
	*media_type = zl_xstrdup(json_string(best, "mediaType"));
	ret = 0;
out:
	cJSON_Delete(j);
	return ret;
}

int manifest_config_diff_ids(const char *config_json, size_t len, struct registry_image *img,
			     struct zl_err *err)
{
	cJSON *j = cJSON_ParseWithLength(config_json, len);
	int ret = -1;
	const cJSON *rootfs = cJSON_GetObjectItemCaseSensitive(j, "rootfs");
	const cJSON *ids = cJSON_GetObjectItemCaseSensitive(rootfs, "diff_ids");
	if (!cJSON_IsObject(j)) {
		zl_fail(err, "image config is not a JSON object");
		goto out;
	}
	if (!cJSON_IsArray(ids)) {
		zl_fail(err, "image config has no rootfs.diff_ids");
		goto out;
	}
	if ((size_t)cJSON_GetArraySize(ids) != img->layer_count) {
		zl_fail(err, "image config lists %d diff_ids for %zu layers", cJSON_GetArraySize(ids),
			img->layer_count);
		goto out;
	}
	size_t i = 0;
	const cJSON *id;
	cJSON_ArrayForEach(id, ids) {
		if (!cJSON_IsString(id) || !registry_digest_valid(id->valuestring)) {
			zl_fail(err, "image config diff_ids[%zu] is not sha256:<64 hex>", i);
			goto out;
		}
		img->layers[i++].diff_id = zl_xstrdup(id->valuestring);
	}
	ret = 0;
out:
	cJSON_Delete(j);
	return ret;
}
