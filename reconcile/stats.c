/* stats.c: what running replicas use, sampled for `zlapply stats` and
 * `watch --metrics`: the backend reads the replica's cgroup (v1 or v2:
 * backends/cgroup_stats.c; a WASM replica's engine and a VM's QEMU have
 * theirs), and the network counters come from /proc/<pid>/net/dev of the
 * replica's process, which shows the interfaces of its own network
 * namespace (replicas without one, network_mode host, have none to show).
 * cpu % is docker's: the cpu time used between two samples over the time
 * between them. */
#include "reconcile-internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

struct reconcile_stats_backend {
	char *name;
	struct backend *b; /* NULL when it could not be opened */
};

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int stats_net_dev_parse(const char *text, int64_t *rx, int64_t *tx)
{
	*rx = *tx = -1;
	int64_t r = 0, t = 0;
	bool any = false;
	/* "  eth0: rx_bytes packets errs drop fifo frame compressed multicast
	 *  tx_bytes ..." after two header lines */
	for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		const char *colon = strchr(line, ':');
		const char *eol = strchr(line, '\n');
		if (!colon || (eol && colon > eol))
			continue;
		const char *name = line;
		while (*name == ' ')
			name++;
		if ((size_t)(colon - name) == 2 && strncmp(name, "lo", 2) == 0)
			continue;
		long long f[9];
		if (sscanf(colon + 1, "%lld %lld %lld %lld %lld %lld %lld %lld %lld", &f[0], &f[1],
			   &f[2], &f[3], &f[4], &f[5], &f[6], &f[7], &f[8]) != 9)
			continue;
		r += f[0];
		t += f[8];
		any = true;
	}
	if (!any)
		return -1;
	*rx = r;
	*tx = t;
	return 0;
}

/* The interface counters of pid's network namespace. */
static void read_net(int64_t pid, struct reconcile_usage *u)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%lld/net/dev", (long long)pid);
	char *text = NULL;
	size_t len = 0;
	struct zl_err ignored = ZL_ERR_INIT;
	if (zl_read_file(path, &text, &len, &ignored) == 0)
		(void)stats_net_dev_parse(text, &u->net_rx_bytes, &u->net_tx_bytes); /* -1s stay */
	free(text);
}

static struct backend *backend_of(struct reconcile_stats *s, const char *name)
{
	for (size_t i = 0; i < s->backend_count; i++)
		if (strcmp(s->backends[i].name, name) == 0)
			return s->backends[i].b;
	s->backends = zl_xrealloc(s->backends, (s->backend_count + 1) * sizeof(*s->backends));
	struct reconcile_stats_backend *e = &s->backends[s->backend_count++];
	e->name = zl_xstrdup(name);
	e->b = NULL;
	struct zl_err ignored = ZL_ERR_INIT;
	if (reconcile_backend_open(s->opts, name, &e->b, &ignored) < 0)
		e->b = NULL;
	return e->b;
}

static const struct reconcile_usage unknown = { -1, -1, -1, -1, -1, -1, -1, -1, -1, -1 };

static void sample_one(struct reconcile_stats *s, struct reconcile_stats_item *it)
{
	it->prev = it->cur;
	it->cur = unknown;
	const struct state_replica *r = it->row;
	struct backend *b = r->backend ? backend_of(s, r->backend) : NULL;
	if (!it->running || !b || !r->backend_id)
		return;
	struct backend_state st;
	struct zl_err ignored = ZL_ERR_INIT;
	if (b->ops->state(b, r->backend_id, &st, &ignored) < 0 ||
	    st.status != BACKEND_STATUS_RUNNING) {
		it->running = false;
		return;
	}
	struct backend_stats bs = BACKEND_STATS_UNKNOWN;
	it->cur.at_ns = mono_ns();
	if (b->ops->stats(b, r->backend_id, &bs, &ignored) < 0)
		bs = BACKEND_STATS_UNKNOWN;
	it->cur.cpu_usage_ns = bs.cpu_usage_ns;
	it->cur.memory_usage_bytes = bs.memory_bytes;
	it->cur.memory_bytes = bs.memory_bytes >= 0 && bs.memory_cache_bytes >= 0 &&
					       bs.memory_cache_bytes < bs.memory_bytes
				       ? bs.memory_bytes - bs.memory_cache_bytes
				       : bs.memory_bytes;
	it->cur.memory_limit_bytes = bs.memory_limit_bytes;
	it->cur.pids = bs.pids;
	it->cur.blkio_read_bytes = bs.blkio_read_bytes;
	it->cur.blkio_write_bytes = bs.blkio_write_bytes;
	if (r->netns && *r->netns && st.pid > 0)
		read_net(st.pid, &it->cur);
}

void reconcile_stats_sample(struct reconcile_stats *s)
{
	for (size_t i = 0; i < s->count; i++)
		sample_one(s, &s->items[i]);
}

double reconcile_usage_cpu_percent(const struct reconcile_usage *prev,
				   const struct reconcile_usage *cur)
{
	if (prev->cpu_usage_ns < 0 || cur->cpu_usage_ns < 0 || cur->at_ns <= prev->at_ns)
		return -1;
	int64_t used = cur->cpu_usage_ns - prev->cpu_usage_ns;
	if (used < 0)
		return -1; /* a new cgroup under the same name */
	return (double)used * 100.0 / (double)(cur->at_ns - prev->at_ns);
}

static void add_item(struct reconcile_stats *s, const struct state_replica *r)
{
	for (size_t i = 0; i < s->count; i++)
		if (s->items[i].row == r)
			return; /* named twice */
	s->items[s->count++] = (struct reconcile_stats_item){ .row = r, .running = true,
							      .prev = unknown, .cur = unknown };
}

/* "exited with code 3 at TIME", "killed by SIGKILL at TIME", "stopped", ... */
static char *not_running_why(const struct state_replica *r)
{
	char when[32] = "";
	if (r->finished_at > 0)
		zl_format_time(r->finished_at, when);
	const char *state = state_replica_state_name(r->state);
	if (r->state == STATE_REPLICA_EXITED || r->state == STATE_REPLICA_STOPPED) {
		const char *sig = r->exit_signal ? spec_signal_name(r->exit_signal) : NULL;
		_cleanup_free_ char *how =
			r->exit_signal ? zl_xasprintf("was killed by %s", sig ? sig : "a signal")
				       : zl_xasprintf("exited with code %d", r->exit_code);
		return zl_xasprintf("it %s%s%s", how, when[0] ? " at " : "", when);
	}
	return zl_xasprintf("it is %s", state);
}

/* Adds the replicas name gives; each must be running. */
static int add_named(struct reconcile_stats *s, const char *deployment, const char *name,
		     struct zl_err *err)
{
	_cleanup_free_ char *service = NULL;
	int index = 0;
	if (replica_parse_target(name, &service, &index, err) < 0)
		return -1;
	const char *dep = NULL;
	size_t first = s->count;
	for (size_t i = 0; i < s->rows.count; i++) {
		const struct state_replica *r = &s->rows.items[i];
		if (strcmp(r->service, service) != 0 || (index && r->index != index))
			continue;
		if (dep && strcmp(dep, r->deployment) != 0)
			return zl_invalid(err, "%s exists in deployments %s and %s: pick one with -d NAME",
					  name, dep, r->deployment);
		dep = r->deployment;
		if (r->state != STATE_REPLICA_RUNNING && index) {
			_cleanup_free_ char *why = not_running_why(r);
			return zl_fail(err, "%s is not running (%s): no stats to show; see 'zlapply events -d %s'",
				       name, why, r->deployment);
		}
		if (r->state == STATE_REPLICA_RUNNING)
			add_item(s, r);
	}
	if (!dep)
		return zl_fail(err, "no replica %s%s%s (see 'zlapply status')", name,
			       deployment ? " in deployment " : "", deployment ? deployment : "");
	if (s->count == first)
		return zl_fail(err, "%s has no running replica: no stats to show", name);
	return 0;
}

/* Frees what s holds besides its rows. */
static void release_samplers(struct reconcile_stats *s)
{
	for (size_t i = 0; i < s->backend_count; i++) {
		backend_close(s->backends[i].b);
		free(s->backends[i].name);
	}
	free(s->backends);
	free(s->items);
	s->backends = NULL;
	s->items = NULL;
	s->backend_count = s->count = 0;
}

struct reconcile_usage *stats_read_rows(const struct reconcile_opts *opts,
					const struct state_replicas *rows)
{
	struct reconcile_usage *out = zl_xcalloc(rows->count + 1, sizeof(*out));
	struct reconcile_stats s = { .opts = opts };
	s.items = zl_xcalloc(rows->count + 1, sizeof(*s.items));
	for (size_t i = 0; i < rows->count; i++) {
		out[i] = unknown;
		if (rows->items[i].state == STATE_REPLICA_RUNNING)
			add_item(&s, &rows->items[i]);
	}
	reconcile_stats_sample(&s);
	for (size_t k = 0; k < s.count; k++)
		out[s.items[k].row - rows->items] = s.items[k].cur;
	release_samplers(&s);
	return out;
}

int reconcile_stats_open(const struct reconcile_opts *opts, const char *deployment,
			 const char *const *names, size_t name_count, struct reconcile_stats *out,
			 struct zl_err *err)
{
	memset(out, 0, sizeof(*out));
	out->opts = opts;
	if (reconcile_status(opts->root, deployment, &out->rows, err) < 0)
		return -1;
	out->items = zl_xcalloc(out->rows.count + 1, sizeof(*out->items));
	for (size_t i = 0; i < name_count; i++)
		if (add_named(out, deployment, names[i], err) < 0)
			return -1;
	for (size_t i = 0; name_count == 0 && i < out->rows.count; i++)
		if (out->rows.items[i].state == STATE_REPLICA_RUNNING)
			add_item(out, &out->rows.items[i]);
	return 0;
}

void reconcile_stats_free(struct reconcile_stats *s)
{
	if (!s)
		return;
	release_samplers(s);
	state_replicas_free(&s->rows);
	memset(s, 0, sizeof(*s));
}
