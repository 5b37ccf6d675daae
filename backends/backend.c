/* backend.c: the table of known backends, opening and closing an instance,
 * and the names every backend shares (replica ids, status names).
 */
#include "backends/backend.h"

#include <string.h>

/* One line per backend. ops == NULL: the name is reserved but not built yet,
 * so asking for it says so instead of "unknown backend". */
static const struct {
	const char *name;
	const struct backend_ops *ops;
} backend_table[] = {
	{ "mock", &backend_mock_ops },
	{ "oci", &backend_oci_ops },
};

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

int backend_open(const char *name, const char *root, struct backend **out, struct zl_err *err)
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
		b->ctx = NULL;
		if (b->ops->init && b->ops->init(b, err) < 0) {
			free(b->root);
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

void backend_close(struct backend *b)
{
	if (!b)
		return;
	if (b->ops && b->ops->destroy)
		b->ops->destroy(b);
	free(b->root);
	free(b);
}
