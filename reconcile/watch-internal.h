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
	/* stats: opens the replicas' backends to read their usage when
	 * rendered (cgroup files only); NULL = no usage metrics */
	const struct reconcile_opts *opts;
	uint64_t drift_total;               /* drifted replicas reported (watch.c: drift) */
	/* watch --git: NULL git_url without --git */
	const char *git_url, *git_commit;   /* the commit in force; NULL none yet */
	const char *git_error;              /* the last fetch or commit error; NULL none */
	uint64_t git_errors;
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

/* ---- watch --git (watch_git.c) ---- */
struct watch_git; /* the clone, the commit in force, the webhook secret */

/* Checks the flags (kind INPUT), reads the webhook secret and opens the
 * clone under root (git/git.h); *note (caller frees, may be NULL) says
 * what the clone needed (one found corrupt and made anew). cancel stops a
 * fetch in progress. Caller frees with watch_git_close(). */
int watch_git_open(const struct watch_git_opts *opts, const char *root,
		   const volatile sig_atomic_t *cancel, struct watch_git **out, char **note,
		   struct zl_err *err);
void watch_git_close(struct watch_git *g);
const char *watch_git_url(const struct watch_git *g);
const char *watch_git_commit(const struct watch_git *g); /* in force; NULL none */
const char *watch_git_error(const struct watch_git *g);  /* last error; NULL none */

/* Fetches. Returns 1 with commit and *dir (its specs written out; caller
 * frees) when the branch's head is a commit neither in force nor refused,
 * 0 when it is one of those, -1 with err when the fetch or the checkout
 * failed (watch_git_error() keeps it). With use_local and no commit in
 * force yet, a failed fetch falls back to the head fetched before (a
 * start while the remote is down): then 1 and watch_git_error() set. */
int watch_git_next(struct watch_git *g, bool use_local, char commit[41], char **dir,
		   struct zl_err *err);
/* commit was applied: it is in force; recorded (meta "git_source" =
 * "git URL@COMMIT", an event "git" per deployment of set). */
void watch_git_applied(struct watch_git *g, const char *root, const struct spec_set *set,
		       const char *commit);
/* commit is not applied (why): reported once, event "git_refused". */
void watch_git_refused(struct watch_git *g, const char *root, const struct spec_set *set,
		       const char *commit, const char *why);
/* A webhook request's signature (git/git.h gitsrc_webhook_verify). */
int watch_git_verify(const struct watch_git *g, const void *body, size_t len,
		     const char *github_sig, const char *gitea_sig, struct zl_err *err);

/* The webhook listener: the metrics server taking signed POSTs instead
 * (--webhook HOST:PORT); errors as watch_metrics_open(). */
int watch_webhook_open(const char *addr, const struct watch_git *g, struct watch_metrics **out,
		       char *bound, size_t bound_size, struct zl_err *err);
/* Whether a signed POST came since the last call. */
bool watch_webhook_take(struct watch_metrics *m);

#endif
