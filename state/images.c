/* images.c: the images table: what was pulled, its digests, config and
 * layers, and when it was last used (for `zlapply images` and `prune`).
 * Rare operations: statements are prepared per call. */
#include "state/state-internal.h"

#include <string.h>

#define IMAGE_COLUMNS \
	"reference, manifest_digest, config_digest, config, layers, size, pulled_at, last_used"

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
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db->sql, "SELECT " IMAGE_COLUMNS " FROM images WHERE reference = ?1",
			       -1, &st, NULL) != SQLITE_OK)
		return state_sql_fail(db, err, "load image %s", reference);
	state_bind_text(st, 1, reference);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		read_row(st, out);
		*found = true;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return state_sql_fail(db, err, "load image %s", reference);
	return 0;
}

int state_image_upsert(struct state_db *db, const struct state_image *img, struct zl_err *err)
{
	static const char sql[] =
		"INSERT INTO images (" IMAGE_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
		"ON CONFLICT (reference) DO UPDATE SET manifest_digest = ?2, config_digest = ?3, "
		"config = ?4, layers = ?5, size = ?6, pulled_at = ?7, last_used = ?8 "
		"WHERE manifest_digest IS NOT ?2 OR config_digest IS NOT ?3 OR config IS NOT ?4 "
		"OR layers IS NOT ?5 OR size IS NOT ?6 OR pulled_at IS NOT ?7 OR last_used IS NOT ?8";
	if (db->read_only)
		return zl_fail(err, "state: database opened read-only");
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db->sql, sql, -1, &st, NULL) != SQLITE_OK)
		return state_sql_fail(db, err, "record image %s", img->reference);
	state_bind_text(st, 1, img->reference);
	state_bind_text(st, 2, img->manifest_digest);
	state_bind_text(st, 3, img->config_digest);
	state_bind_text(st, 4, img->config);
	state_bind_text(st, 5, img->layers);
	sqlite3_bind_int64(st, 6, img->size);
	sqlite3_bind_int64(st, 7, img->pulled_at);
	sqlite3_bind_int64(st, 8, img->last_used);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : state_sql_fail(db, err, "record image %s", img->reference);
}

int state_image_touch(struct state_db *db, const char *reference, int64_t now_ms,
		      struct zl_err *err)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db->sql, "UPDATE images SET last_used = ?2 WHERE reference = ?1",
			       -1, &st, NULL) != SQLITE_OK)
		return state_sql_fail(db, err, "mark image %s used", reference);
	state_bind_text(st, 1, reference);
	sqlite3_bind_int64(st, 2, now_ms);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : state_sql_fail(db, err, "mark image %s used", reference);
}

int state_image_delete(struct state_db *db, const char *reference, struct zl_err *err)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db->sql, "DELETE FROM images WHERE reference = ?1", -1, &st,
			       NULL) != SQLITE_OK)
		return state_sql_fail(db, err, "delete image %s", reference);
	state_bind_text(st, 1, reference);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : state_sql_fail(db, err, "delete image %s", reference);
}

int state_images_load(struct state_db *db, struct state_images *out, struct zl_err *err)
{
	memset(out, 0, sizeof(*out));
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db->sql, "SELECT " IMAGE_COLUMNS " FROM images ORDER BY reference",
			       -1, &st, NULL) != SQLITE_OK)
		return state_sql_fail(db, err, "load images");
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		zl_grow(&out->items, sizeof(*out->items), &out->cap, out->count + 1);
		read_row(st, &out->items[out->count++]);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		state_images_free(out);
		return state_sql_fail(db, err, "load images");
	}
	return 0;
}
