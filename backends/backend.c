/* backend.c: the table of known backends, opening and closing an instance,
 * and the names every backend shares (replica ids, status names).
 */
#include "backends/backend.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The table of compiled-in backends, one per folder under backends/. */
#include "backend-table.h"

#define BACKEND_TABLE_LEN (sizeof(backend_table) / sizeof(backend_table[0]))

const char *backend_status_name(enum backend_status s)
{
	switch (s) {
	case BACKEND_STATUS_MISSING:
		return "missing";
	case BACKEND_STATUS_CREATED:
		return "created";
	case BACKEND_STATUS_RUNNING:
		return "running";
	case BACKEND_STATUS_EXITED:
		return "exited";
	case BACKEND_STATUS_UNKNOWN:
		return "unknown";
	}
	return "unknown";
}

char *backend_replica_id(const char *deployment, const char *service, int index)
{
	return zl_xasprintf("zl-%s-%s-%d", deployment, service, index);
}

int backend_check_id(const char *id, struct zl_err *err)
{
	if (!id || !*id || id[0] == '.' || strchr(id, '/') || strlen(id) > 200)
		return zl_invalid(err, "invalid replica id \"%s\"", id ? id : "");
	return 0;
}

int backend_open(const char *name, const char *root, const struct backend_options *opts,
		 struct backend **out, struct zl_err *err)
{
	*out = NULL;
	if (!name || !*name)
		return zl_invalid(err, "backend: no name given");
	if (!root || !*root)
		return zl_invalid(err, "backend %s: no state root given", name);

	for (size_t i = 0; i < BACKEND_TABLE_LEN; i++) {
		if (strcmp(backend_table[i].name, name) != 0)
			continue;
		if (!backend_table[i].ops)
			return zl_fail(err, "backend %s: not available in this build yet", name);
		struct backend *b = zl_xcalloc(1, sizeof(*b));
		b->ops = backend_table[i].ops;
		b->root = zl_xstrdup(root);
		b->runtime = opts && opts->runtime && *opts->runtime ? zl_xstrdup(opts->runtime) : NULL;
		b->wasm_engine = opts && opts->wasm_engine && *opts->wasm_engine
					 ? zl_xstrdup(opts->wasm_engine) : NULL;
		b->ctx = NULL;
		if (b->ops->init && b->ops->init(b, err) < 0) {
			free(b->root);
			free(b->runtime);
			free(b->wasm_engine);
			free(b);
			return -1;
		}
		*out = b;
		return 0;
	}

	struct zl_buf known = { 0 };
	for (size_t i = 0; i < BACKEND_TABLE_LEN; i++)
		zl_buf_printf(&known, "%s%s", i ? ", " : "", backend_table[i].name);
	zl_invalid(err, "unknown backend \"%s\" (known: %s)", name, known.data);
	zl_buf_free(&known);
	return -1;
}

size_t backend_count(void)
{
	return BACKEND_TABLE_LEN;
}

const char *backend_name_at(size_t i)
{
	return i < BACKEND_TABLE_LEN ? backend_table[i].name : NULL;
}

void backend_leftovers_add(struct backend_leftovers *l, const char *kind, const char *name,
			   const char *key, const char *fmt, ...)
{
	zl_grow(&l->items, sizeof(*l->items), &l->cap, l->count + 1);
	va_list ap;
	va_start(ap, fmt);
	char *detail = zl_xvasprintf(fmt, ap);
	va_end(ap);
	l->items[l->count++] = (struct backend_leftover){
		.kind = zl_xstrdup(kind), .name = zl_xstrdup(name), .key = zl_xstrdup(key),
		.detail = detail,
	};
}

void backend_held_free(struct backend_held *h, size_t n)
{
	for (size_t i = 0; h && i < n; i++) {
		free(h[i].backend_id);
		free(h[i].deployment);
		free(h[i].service);
		free(h[i].spec_hash);
		free(h[i].image_digest);
		free(h[i].backend);
	}
	free(h);
}

void backend_leftovers_free(struct backend_leftovers *l)
{
	for (size_t i = 0; i < l->count; i++) {
		free(l->items[i].kind);
		free(l->items[i].name);
		free(l->items[i].detail);
		free(l->items[i].key);
	}
	free(l->items);
	memset(l, 0, sizeof(*l));
}

int backend_root_check(const char *root, struct zl_err *err)
{
	struct stat st;
	_cleanup_free_ char *db = zl_xasprintf("%s/state.db", root ? root : "");
	if (!root || root[0] != '/' || stat(db, &st) < 0 || !S_ISREG(st.st_mode))
		return zl_invalid(err, "%s is not a zlapply state root (no state.db): nothing is looked at or removed there",
				  root ? root : "(none)");
	return 0;
}

void backend_close(struct backend *b)
{
	if (!b)
		return;
	if (b->ops && b->ops->destroy)
		b->ops->destroy(b);
	free(b->root);
	free(b->runtime);
	free(b->wasm_engine);
	free(b);
}
