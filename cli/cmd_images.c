/* cmd_images.c: `zlapply pull IMAGE...`, `zlapply images` and `zlapply prune`.
 * pull and prune change the store, so they hold the apply lock. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <string.h>

#include "reconcile/reconcile.h"

void cli_images_opts(const struct cli_opts *o, struct images_opts *out)
{
	*out = (struct images_opts){
		.ca_file = o->ca_file,
		.insecure_hosts = o->insecure,
		.insecure_count = o->insecure_count,
		.auth_file = o->auth_file,
		.platform = o->platform,
		.quiet = o->quiet,
	};
}

static int list_images(const struct cli_opts *o)
{
	struct state_db *db = NULL;
	struct state_images images = { 0 };
	struct zl_err err = ZL_ERR_INIT;
	if (state_open(o->root, true, &db, &err) < 0 && err.sys_errno != ENOENT)
		return cli_fail(&err);
	if (db && state_images_load(db, &images, &err) < 0) {
		state_close(db);
		return cli_fail(&err);
	}
	state_close(db);
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
		printf("%-50s  %-19s  %-10s  %s\n", "REFERENCE", "DIGEST", "SIZE", "LAST USED");
		for (size_t i = 0; i < images.count; i++) {
			const struct state_image *im = &images.items[i];
			char size[32], used[32];
			zl_format_size(im->size, size);
			zl_format_time(im->last_used, used);
			printf("%-50s  %.19s  %-10s  %s\n", im->reference, im->manifest_digest, size, used);
		}
	}
	state_images_free(&images);
	return 0;
}

int cmd_images(const struct cli_opts *o)
{
	if (o->verb == CLI_IMAGES)
		return list_images(o);

	struct state_lock lock = { .fd = -1 };
	struct state_db *db = NULL;
	struct images_ctx *ctx = NULL;
	struct zl_err err = ZL_ERR_INIT;
	int code = 0;
	if (state_lock_acquire(o->root, o->lock_timeout_ms, &lock, &err) < 0 ||
	    state_open(o->root, false, &db, &err) < 0) {
		code = cli_fail(&err);
		goto out;
	}
	struct images_opts io;
	cli_images_opts(o, &io);
	ctx = images_ctx_new(o->root, &io, db);
	if (o->verb == CLI_PRUNE) {
		int64_t freed = 0;
		size_t removed = 0;
		if (images_prune(ctx, &freed, &removed, &err) < 0) {
			code = cli_fail(&err);
			goto out;
		}
		char size[32];
		zl_format_size(freed, size);
		printf("removed %zu image%s, freed %s (%lld bytes)\n", removed, removed == 1 ? "" : "s",
		       size, (long long)freed);
		goto out;
	}
	for (size_t i = 0; i < o->arg_count; i++) {
		struct images_ready ready;
		if (images_pull(ctx, o->args[i], &ready, &err) < 0) {
			code = cli_fail(&err);
			continue; /* pull the others all the same */
		}
		printf("%s %s\n", ready.reference, ready.manifest_digest);
		images_ready_clear(&ready);
	}
out:
	images_ctx_free(ctx);
	state_close(db);
	state_lock_release(&lock);
	return code;
}
