/* cmd_images.c: `zlapply pull IMAGE...`, `zlapply images` and `zlapply prune`.
 * pull and prune change the store, so they hold the apply lock
 * (reconcile_store_open()). */
#include "cli.h"

#include <cjson/cJSON.h>

void cli_images_opts(const struct cli_opts *o, struct images_opts *out)
{
	*out = (struct images_opts){
		.ca_file = o->ca_file,
		.insecure_hosts = o->insecure,
		.insecure_count = o->insecure_count,
		.auth_file = o->auth_file,
		.platform = o->platform,
		.quiet = o->quiet,
		.keep_layer_blobs = o->keep_layer_blobs,
	};
}

static int list_images(const struct cli_opts *o)
{
	struct state_images images = { 0 };
	struct zl_err err = ZL_ERR_INIT;
	if (reconcile_images_list(o->root, &images, &err) < 0)
		return cli_fail(&err);
	if (o->output == CLI_OUTPUT_JSON) {
		cJSON *root = cJSON_CreateObject();
		cJSON *arr = cJSON_AddArrayToObject(root, "images");
		for (size_t i = 0; i < images.count; i++) {
			const struct state_image *im = &images.items[i];
			cJSON *j = cJSON_CreateObject();
			char pulled[32], used[32];
			zl_format_time(im->pulled_at, pulled);
			zl_format_time(im->last_used, used);
			cJSON_AddStringToObject(j, "reference", im->reference);
			cJSON_AddStringToObject(j, "digest", im->manifest_digest);
			cJSON_AddStringToObject(j, "config_digest", im->config_digest);
			cJSON_AddNumberToObject(j, "size", (double)im->size);
			cJSON_AddNumberToObject(j, "disk_size", (double)reconcile_image_disk_size(o->root, im));
			cJSON_AddStringToObject(j, "pulled_at", pulled);
			cJSON_AddStringToObject(j, "last_used", used);
			cJSON_AddItemToArray(arr, j);
		}
		char *text = cJSON_Print(root);
		printf("%s\n", text);
		free(text);
		cJSON_Delete(root);
	} else if (images.count == 0) {
		printf("no images stored\n");
	} else {
		printf("%-50s  %-19s  %-10s  %-10s  %s\n", "REFERENCE", "DIGEST", "SIZE", "ON DISK", "LAST USED");
		for (size_t i = 0; i < images.count; i++) {
			const struct state_image *im = &images.items[i];
			char size[32], disk[32], used[32];
			zl_format_size(im->size, size);
			zl_format_size(reconcile_image_disk_size(o->root, im), disk);
			zl_format_time(im->last_used, used);
			printf("%-50s  %.19s  %-10s  %-10s  %s\n", im->reference, im->manifest_digest, size, disk, used);
		}
	}
	reconcile_images_free(&images);
	return 0;
}

int cmd_images(const struct cli_opts *o)
{
	if (o->verb == CLI_IMAGES)
		return list_images(o);

	struct reconcile_opts ropts;
	cli_base_opts(o, &ropts);
	struct reconcile_store *store = NULL;
	struct zl_err err = ZL_ERR_INIT;
	int code = 0;
	if (reconcile_store_open(&ropts, &store, &err) < 0) {
		code = cli_fail(&err);
		goto out;
	}
	if (o->verb == CLI_PRUNE) {
		int64_t freed = 0;
		size_t removed = 0;
		if (reconcile_prune(store, &freed, &removed, &err) < 0) {
			code = cli_fail(&err);
			goto out;
		}
		if (o->output == CLI_OUTPUT_JSON) { /* shell */
			output_prune_json(stdout, removed, freed);
			goto out;
		}
		char size[32];
		zl_format_size(freed, size);
		printf("removed %zu image%s, freed %s (%lld bytes)\n", removed, removed == 1 ? "" : "s",
		       size, (long long)freed);
		goto out;
	}
	cJSON *pulled = o->output == CLI_OUTPUT_JSON ? output_pull_json_new() : NULL; /* shell */
	for (size_t i = 0; i < o->arg_count; i++) {
		char *reference = NULL, *digest = NULL;
		if (reconcile_pull(store, o->args[i], &reference, &digest, &err) < 0) {
			if (pulled)
				output_pull_json_add(pulled, o->args[i], NULL, NULL, err.msg);
			code = cli_fail(&err);
			zl_err_clear(&err);
			continue; /* pull the others all the same */
		}
		if (pulled)
			output_pull_json_add(pulled, o->args[i], reference, digest, NULL);
		else
			printf("%s %s\n", reference, digest);
		free(reference);
		free(digest);
	}
	if (pulled)
		output_json_print(stdout, pulled);
out:
	reconcile_store_close(store);
	return code;
}
