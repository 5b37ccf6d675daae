/* images.c: the images table: what was pulled, its digests, config and
 * layers, and when it was last used (for `zlapply images` and `prune`). */
#include "state/state-internal.h"

#include <string.h>

#define IMAGE_COLUMNS \
	"reference, manifest_digest, config_digest, config, layers, size, pulled_at, last_used"

static const char sql_get[] = "SELECT " IMAGE_COLUMNS " FROM images WHERE reference = ?1";
static const char sql_upsert[] =
	"INSERT INTO images (" IMAGE_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
	"ON CONFLICT (reference) DO UPDATE SET manifest_digest = ?2, config_digest = ?3, "
	"config = ?4, layers = ?5, size = ?6, pulled_at = ?7, last_used = ?8 "
	"WHERE manifest_digest IS NOT ?2 OR config_digest IS NOT ?3 OR config IS NOT ?4 "
	"OR layers IS NOT ?5 OR size IS NOT ?6 OR pulled_at IS NOT ?7 OR last_used IS NOT ?8";
static const char sql_touch[] = "UPDATE images SET last_used = ?2 WHERE reference = ?1";
static const char sql_delete[] = "DELETE FROM images WHERE reference = ?1";
static const char sql_load[] = "SELECT " IMAGE_COLUMNS " FROM images ORDER BY reference";

void state_image_clear(struct state_image *img)
{
	if (!img)
		return;
	free(img->reference);
	free(img->manifest_digest);
	free(img->config_digest);
	free(img->config);
	free(img->layers);
	memset(img, 0, sizeof(*img));
}

void state_images_free(struct state_images *list)
{
	if (!list)
		return;
	for (size_t i = 0; i < list->count; i++)
		state_image_clear(&list->items[i]);
	free(list->items);
	memset(list, 0, sizeof(*list));
}

static void read_row(sqlite3_stmt *st, struct state_image *img)
{
	img->reference = state_column_strdup(st, 0);
	img->manifest_digest = state_column_strdup(st, 1);
	img->config_digest = state_column_strdup(st, 2);
	img->config = state_column_strdup(st, 3);
	img->layers = state_column_strdup(st, 4);
	img->size = sqlite3_column_int64(st, 5);
	img->pulled_at = sqlite3_column_int64(st, 6);
	img->last_used = sqlite3_column_int64(st, 7);
}

int state_image_get(struct state_db *db, const char *reference, struct state_image *out,
		    bool *found, struct zl_err *err)
{
	memset(out, 0, sizeof(*out));
	*found = false;
	_cleanup_stmt_reset_ sqlite3_stmt *st = state_stmt(db, STMT_IMAGE_GET, sql_get, err);
	if (!st)
		return -1;
	state_bind_text(st, 1, reference);
	int rc = state_step_row(db, st, err, "load image %s", reference);
	if (rc > 0) {
		read_row(st, out);
		*found = true;
	}
	return rc < 0 ? -1 : 0;
}

int state_image_upsert(struct state_db *db, const struct state_image *img, struct zl_err *err)
{
	if (db->read_only)
		return zl_fail(err, "state: database opened read-only");
	_cleanup_stmt_reset_ sqlite3_stmt *st = state_stmt(db, STMT_IMAGE_UPSERT, sql_upsert, err);
	if (!st)
		return -1;
	state_bind_text(st, 1, img->reference);
	state_bind_text(st, 2, img->manifest_digest);
	state_bind_text(st, 3, img->config_digest);
	state_bind_text(st, 4, img->config);
	state_bind_text(st, 5, img->layers);
	sqlite3_bind_int64(st, 6, img->size);
	sqlite3_bind_int64(st, 7, img->pulled_at);
	sqlite3_bind_int64(st, 8, img->last_used);
	return state_step_done(db, st, err, "record image %s", img->reference);
}

int state_image_touch(struct state_db *db, const char *reference, int64_t now_ms,
		      struct zl_err *err)
{
	_cleanup_stmt_reset_ sqlite3_stmt *st = state_stmt(db, STMT_IMAGE_TOUCH, sql_touch, err);
	if (!st)
		return -1;
	state_bind_text(st, 1, reference);
	sqlite3_bind_int64(st, 2, now_ms);
	return state_step_done(db, st, err, "mark image %s used", reference);
}

int state_image_delete(struct state_db *db, const char *reference, struct zl_err *err)
{
	_cleanup_stmt_reset_ sqlite3_stmt *st = state_stmt(db, STMT_IMAGE_DELETE, sql_delete, err);
	if (!st)
		return -1;
	state_bind_text(st, 1, reference);
	return state_step_done(db, st, err, "delete image %s", reference);
}

int state_images_load(struct state_db *db, struct state_images *out, struct zl_err *err)
{
	memset(out, 0, sizeof(*out));
	_cleanup_stmt_reset_ sqlite3_stmt *st = state_stmt(db, STMT_IMAGES_LOAD, sql_load, err);
	if (!st)
		return -1;
	int rc;
	while ((rc = state_step_row(db, st, err, "load images")) > 0) {
		zl_grow(&out->items, sizeof(*out->items), &out->cap, out->count + 1);
		read_row(st, &out->items[out->count++]);
	}
	if (rc < 0) {
		state_images_free(out);
		return -1;
	}
	return 0;
}
