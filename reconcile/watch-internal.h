/* watch-internal.h: what watch.c shares with watch_metrics.c (private to
 * reconcile/). The watcher owns the loop; the metrics endpoint only adds its
 * sockets to the loop's poll set and renders what the watcher last saw. */
#ifndef ZL_RECONCILE_WATCH_INTERNAL_H
#define ZL_RECONCILE_WATCH_INTERNAL_H

#include <poll.h>

#include "reconcile-internal.h"

/* What /metrics shows: borrowed from the watcher for one render. */
struct watch_snapshot {
	const struct spec_set *set;         /* last good set; NULL before the first */
	const struct state_replicas *rows;  /* the latest observation (all deployments) */
	int64_t last_apply_ms;              /* duration of the last apply; -1 none yet */
	uint64_t applies_ok, applies_failed;
	bool spec_valid;                    /* did the last load of the files succeed? */
	uint64_t drift_total;               /* drifted replicas reported (watch.c: drift) */
};

/* Prometheus text format 0.0.4 of s into out. */
void watch_metrics_render(const struct watch_snapshot *s, struct zl_buf *out);

struct watch_metrics; /* the listening socket and its clients */

/* Binds addr ("HOST:PORT", "[V6]:PORT"; port 0 = any free one) and
 * listens. bound gets the address really bound ("127.0.0.1:9464").
 * A malformed addr is kind INPUT; a bind failure kind FAIL. Caller frees
 * with watch_metrics_close(). */
int watch_metrics_open(const char *addr, struct watch_metrics **out, char *bound,
		       size_t bound_size, struct zl_err *err);
void watch_metrics_close(struct watch_metrics *m);

/* Adds the listening socket and every client to fds (at most max entries);
 * returns how many. *deadline_ms (monotonic) is lowered to the earliest
 * client deadline. */
size_t watch_metrics_pollfds(struct watch_metrics *m, struct pollfd *fds, size_t max,
			     int64_t *deadline_ms);
/* Accepts, reads and answers what poll reported in fds[0..n), and drops
 * clients past their deadline. s is rendered only when a request is
 * complete. Never blocks for long: a client gets at most a second to take
 * its answer. */
void watch_metrics_handle(struct watch_metrics *m, const struct pollfd *fds, size_t n,
			  int64_t now_ms, const struct watch_snapshot *s);

#endif
