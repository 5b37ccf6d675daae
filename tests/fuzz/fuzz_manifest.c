/* fuzz_manifest.c: what a registry (or an OCI layout on disk) serves as a
 * manifest, an index or an image config, through registry/'s parsers
 * (registry-internal.h): manifest_is_index, manifest_select_platform (for
 * linux/amd64, linux/arm64/v8 and linux/arm/v7), manifest_parse_image,
 * and manifest_config_diff_ids on the same text as an image config (for
 * as many layers as its rootfs.diff_ids holds, so valid configs reach the
 * success path). The input is passed with its length and no terminator,
 * as cJSON_ParseWithLength() allows.
 *
 * Properties: an error has a message; a parsed image has a valid config
 * digest, layer_count layers each with a valid digest, a media type and a
 * size >= 0, and a WASM kind exactly when it has one layer; a selected
 * platform's digest is valid. */
#include "tests/fuzz/fuzz.h"

#include <cjson/cJSON.h>

#include "registry/registry-internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

static void check_image(const struct registry_image *img)
{
	if (!registry_digest_valid(img->config_digest))
		fuzz_fail("parsed manifest: config digest \"%s\"",
			  img->config_digest ? img->config_digest : "(null)");
	for (size_t i = 0; i < img->layer_count; i++) {
		const struct registry_layer *l = &img->layers[i];
		if (!registry_digest_valid(l->digest) || !l->media_type || l->size < 0)
			fuzz_fail("parsed manifest: layer %zu is incomplete", i);
	}
	if (registry_kind_is_wasm(img->kind) && img->layer_count != 1)
		fuzz_fail("parsed WASM manifest with %zu layers", img->layer_count);
}

/* How many rootfs.diff_ids the text holds, if it is JSON; -1 otherwise. */
static int diff_id_count(const uint8_t *data, size_t size)
{
	cJSON *j = cJSON_ParseWithLength((const char *)data, size);
	const cJSON *ids = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(j, "rootfs"), "diff_ids");
	int n = cJSON_IsArray(ids) ? cJSON_GetArraySize(ids) : -1;
	cJSON_Delete(j);
	return n > 4096 ? -1 : n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *json = (const char *)data;
	struct zl_err err = ZL_ERR_INIT;

	(void)manifest_is_index(NULL, json, size);
	(void)manifest_is_index(MT_OCI_MANIFEST, json, size);

	static const char *const platforms[][3] = {
		{ "linux", "amd64", NULL }, { "linux", "arm64", "v8" }, { "linux", "arm", "v7" },
	};
	for (size_t i = 0; i < sizeof(platforms) / sizeof(platforms[0]); i++) {
		char *digest = NULL, *media_type = NULL;
		zl_err_clear(&err);
		if (manifest_select_platform(json, size, platforms[i][0], platforms[i][1],
					     platforms[i][2], &digest, &media_type, &err) == 0) {
			if (!registry_digest_valid(digest))
				fuzz_fail("selected platform digest \"%s\"", digest ? digest : "(null)");
		} else if (!err.msg[0]) {
			fuzz_fail("manifest_select_platform failed without a message");
		}
		free(digest);
		free(media_type);
	}

	struct registry_image img;
	memset(&img, 0, sizeof(img));
	struct manifest_info info;
	zl_err_clear(&err);
	if (manifest_parse_image(json, size, &img, &info, &err) == 0)
		check_image(&img);
	else if (!err.msg[0])
		fuzz_fail("manifest_parse_image failed without a message");
	registry_image_clear(&img);

	int n = diff_id_count(data, size);
	memset(&img, 0, sizeof(img));
	img.layer_count = n > 0 ? (size_t)n : 0;
	img.layers = zl_xcalloc(img.layer_count + 1, sizeof(*img.layers));
	zl_err_clear(&err);
	if (manifest_config_diff_ids(json, size, &img, &err) == 0) {
		for (size_t i = 0; i < img.layer_count; i++)
			if (!registry_digest_valid(img.layers[i].diff_id))
				fuzz_fail("config diff_id %zu not valid", i);
	} else if (!err.msg[0]) {
		fuzz_fail("manifest_config_diff_ids failed without a message");
	}
	registry_image_clear(&img);
	return 0;
}
