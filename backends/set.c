/* set.c: several backends driven as one (backend_open_set()), so that one
 * deployment can hold containers and WASM replicas side by side while the
 * reconciler keeps talking to a single struct backend.
 *
 * A create goes to the member its replica spec names (rs->backend; none:
 * the first member). Every later call about an id goes to the member that
 * holds it: each member's state() is asked in turn (a stat or two each, no
 * subprocess), the first member first, so a set whose replicas are all
 * the first member's costs nothing extra. A member other than the first is
 * probed when it is first needed: a host without a WASI engine runs its
 * containers, and only the WASM services fail, saying why. */
#include "backends/backend.h"

#include <string.h>

#define SET_MAX 8

struct set_ctx {
	struct backend *members[SET_MAX];
	bool probed[SET_MAX];
	size_t count;
	struct backend_ops ops; /* the set's, named after its first member */
};

static struct set_ctx *ctx_of(struct backend *b)
{
	return b->ctx;
}

static int probe_member(struct set_ctx *c, size_t i, struct zl_err *err)
{
	struct backend *m = c->members[i];
	if (c->probed[i] || !m->ops->probe)
		return 0;
	if (m->ops->probe(m, err) < 0)
		return zl_err_prefix(err, "backend %s is not usable here", m->ops->name);
	c->probed[i] = true;
	return 0;
}

/* The member holding id; the first when none does. */
static struct backend *member_of(struct backend *b, const char *id)
{
	struct set_ctx *c = ctx_of(b);
	for (size_t i = 0; i < c->count; i++) {
		struct backend_state st;
		struct zl_err ignored = ZL_ERR_INIT;
		struct backend *m = c->members[i];
		if (m->ops->state(m, id, &st, &ignored) == 0 && st.status != BACKEND_STATUS_MISSING)
			return m;
	}
	return c->members[0];
}

static void set_destroy(struct backend *b);

struct backend *backend_member(struct backend *b, const char *name)
{
	if (!b || !name)
		return b;
	if (b->ops->destroy == set_destroy) {
		struct set_ctx *c = ctx_of(b);
		for (size_t i = 0; i < c->count; i++)
			if (strcmp(c->members[i]->ops->name, name) == 0)
				return c->members[i];
		return NULL;
	}
	return strcmp(b->ops->name, name) == 0 ? b : NULL;
}

static bool set_wants_network(struct backend *b)
{
	struct backend *m = ctx_of(b)->members[0];
	return m->ops->wants_network && m->ops->wants_network(m);
}

static bool set_needs_images(struct backend *b)
{
	struct set_ctx *c = ctx_of(b);
	for (size_t i = 0; i < c->count; i++)
		if (c->members[i]->ops->needs_images && c->members[i]->ops->needs_images(c->members[i]))
			return true;
	return false;
}

static int set_probe(struct backend *b, struct zl_err *err)
{
	return probe_member(ctx_of(b), 0, err);
}

static int set_create(struct backend *b, const struct backend_replica_spec *rs, struct zl_err *err)
{
	struct set_ctx *c = ctx_of(b);
	size_t i = 0;
	if (rs->backend) {
		while (i < c->count && strcmp(c->members[i]->ops->name, rs->backend) != 0)
			i++;
		if (i == c->count)
			return zl_fail(err, "service %s: backend %s is not available in this run",
				       rs->service->name, rs->backend);
	}
	if (probe_member(c, i, err) < 0)
		return -1;
	return c->members[i]->ops->create(c->members[i], rs, err);
}

static int set_start(struct backend *b, const char *id, struct zl_err *err)
{
	struct backend *m = member_of(b, id);
	return m->ops->start(m, id, err);
}

static int set_stop(struct backend *b, const char *id, int signo, int64_t timeout_ms,
		    struct zl_err *err)
{
	struct backend *m = member_of(b, id);
	return m->ops->stop(m, id, signo, timeout_ms, err);
}

static int set_kill(struct backend *b, const char *id, int signo, struct zl_err *err)
{
	struct backend *m = member_of(b, id);
	return m->ops->kill(m, id, signo, err);
}

static int set_stop_begin(struct backend *b, const char *id, int signo, struct zl_err *err)
{
	struct backend *m = member_of(b, id);
	/* Without it the member's stop() sends the signal itself. */
	return m->ops->stop_begin ? m->ops->stop_begin(m, id, signo, err) : 0;
}

static int set_remove(struct backend *b, const char *id, struct zl_err *err)
{
	struct backend *m = member_of(b, id);
	return m->ops->remove(m, id, err);
}

static int set_state(struct backend *b, const char *id, struct backend_state *st,
		     struct zl_err *err)
{
	struct set_ctx *c = ctx_of(b);
	int r = 0;
	for (size_t i = 0; i < c->count; i++) {
		struct backend *m = c->members[i];
		r = m->ops->state(m, id, st, err);
		if (r < 0 || st->status != BACKEND_STATUS_MISSING)
			return r;
	}
	return r;
}

static int set_logs(struct backend *b, const char *id, const struct backend_log_opts *o, FILE *out,
		    struct zl_err *err)
{
	struct backend *m = member_of(b, id);
	return m->ops->logs(m, id, o, out, err);
}

static int set_exec(struct backend *b, const char *id, char *const argv[], int *exit_code,
		    struct zl_err *err)
{
	struct backend *m = member_of(b, id);
	return m->ops->exec(m, id, argv, exit_code, err);
}

static int set_stats(struct backend *b, const char *id, struct backend_stats *st,
		     struct zl_err *err)
{
	struct backend *m = member_of(b, id);
	return m->ops->stats(m, id, st, err);
}

static int set_wait(struct backend *b, const char *id, int64_t timeout_ms, struct zl_err *err)
{
	struct backend *m = member_of(b, id);
	return m->ops->wait(m, id, timeout_ms, err);
}

static int set_archive_logs(struct backend *b, const char *id, const char *dest_path,
			    struct zl_err *err)
{
	struct backend *m = member_of(b, id);
	return m->ops->archive_logs ? m->ops->archive_logs(m, id, dest_path, err) : 0;
}

static int set_set_names(struct backend *b, const char *id, const char *names,
			 struct zl_err *err)
{
	struct backend *m = member_of(b, id);
	return m->ops->set_names ? m->ops->set_names(m, id, names, err) : 0;
}

static int set_held(struct backend *b, backend_known_fn known, void *kctx,
		    struct backend_held **out, size_t *n, struct zl_err *err)
{
	struct set_ctx *c = ctx_of(b);
	*out = NULL;
	*n = 0;
	size_t cap = 0;
	for (size_t i = 0; i < c->count; i++) {
		struct backend *m = c->members[i];
		struct backend_held *part = NULL;
		size_t k = 0;
		if (!m->ops->held)
			continue;
		if (m->ops->held(m, known, kctx, &part, &k, err) < 0) {
			backend_held_free(*out, *n);
			*out = NULL;
			*n = 0;
			return -1;
		}
		for (size_t j = 0; j < k; j++) {
			zl_grow(out, sizeof(**out), &cap, *n + 1);
			if (!part[j].backend)
				part[j].backend = zl_xstrdup(m->ops->name);
			(*out)[(*n)++] = part[j];
		}
		free(part); /* its strings moved into *out */
	}
	return 0;
}

static void set_destroy(struct backend *b)
{
	struct set_ctx *c = ctx_of(b);
	if (!c)
		return;
	for (size_t i = 0; i < c->count; i++)
		backend_close(c->members[i]);
	free(c);
	b->ctx = NULL;
}

static const struct backend_ops set_ops_template = {
	.wants_network = set_wants_network,
	.needs_images = set_needs_images,
	.probe = set_probe,
	.create = set_create,
	.start = set_start,
	.stop = set_stop,
	.kill = set_kill,
	.stop_begin = set_stop_begin,
	.remove = set_remove,
	.state = set_state,
	.logs = set_logs,
	.exec = set_exec,
	.stats = set_stats,
	.wait = set_wait,
	.archive_logs = set_archive_logs,
	.held = set_held,
	.set_names = set_set_names,
	.destroy = set_destroy,
};

int backend_open_set(const char *const names[], size_t n, const char *root,
		     const struct backend_options *opts, struct backend **out, struct zl_err *err)
{
	*out = NULL;
	if (n == 0 || n > SET_MAX)
		return zl_invalid(err, "backend set: between 1 and %d backends", SET_MAX);
	struct set_ctx *c = zl_xcalloc(1, sizeof(*c));
	for (size_t i = 0; i < n; i++) {
		if (backend_open(names[i], root, opts, &c->members[i], err) < 0) {
			for (size_t k = 0; k < i; k++)
				backend_close(c->members[k]);
			free(c);
			return -1;
		}
		c->count++;
	}
	c->ops = set_ops_template;
	c->ops.name = c->members[0]->ops->name;
	struct backend *b = zl_xcalloc(1, sizeof(*b));
	b->ops = &c->ops;
	b->root = zl_xstrdup(root);
	b->runtime = opts && opts->runtime ? zl_xstrdup(opts->runtime) : NULL;
	b->wasm_engine = opts && opts->wasm_engine ? zl_xstrdup(opts->wasm_engine) : NULL;
	b->ctx = c;
	*out = b;
	return 0;
}
