/* images_verbs.c: `zlapply pull IMAGE...`, `zlapply images` and `zlapply
 * prune` on top of images.c. pull and prune change the store, so they hold
 * the apply lock (struct reconcile_store); images only reads. */
#include "reconcile-internal.h"

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
