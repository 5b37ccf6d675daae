/* health-internal.h: what health.c, depends.c, init.c and wait.c share
 * (private to reconcile/; the public entry points are at the end of
 * reconcile.h).
 *
 * probe.c runs work that must never hang zlapply in child processes: TCP
 * connects and HTTP GETs (libcurl) from inside a replica's network namespace,
 * commands inside the replica (backend exec) or in its namespace on the host.
 * Each child is its own process group with a hard deadline; past it the whole
 * group gets SIGKILL. probe_batch() runs up to 64 at once, so probing N
 * replicas costs about one timeout, not N. */
#ifndef ZL_RECONCILE_HEALTH_INTERNAL_H
#define ZL_RECONCILE_HEALTH_INTERNAL_H

#include "reconcile-internal.h"

enum probe_kind {
	PROBE_TCP = 0, /* connect to host:port */
	PROBE_HTTP,    /* GET url, compare the status */
	PROBE_EXEC,    /* argv inside the replica through the backend's exec */
	PROBE_SHELL,   /* argv on the host, in netns, with envp */
};

struct probe_task {
	/* in */
	enum probe_kind kind;
	const char *what;     /* for messages: "web-rep-1" */
	const char *netns;    /* namespace path to enter; NULL = the host's */
	const char *no_netns; /* set: tcp/http cannot run, this says why */
	const char *host;     /* tcp; NULL = 127.0.0.1 */
	int port;             /* tcp */
	const char *url;      /* http */
	int expect_status;    /* http; 0 = any 2xx */
	char *const *argv;    /* exec / shell */
	char *const *envp;    /* shell; NULL = a minimal PATH only */
	struct backend *b;    /* exec */
	const char *backend_id;
	int64_t attempt_ms;   /* bound of one attempt (connect, request) */
	int64_t wait_ms;      /* > 0: retry every 500 ms until this much time passed (init waits) */
	/* out */
	bool ok;
	char *message; /* owned; why it failed (or the command's output tail) */
	/* private to probe.c */
	pid_t pid;
	int fd;
	int64_t deadline;
	struct zl_buf out;
	bool done;
};

/* Runs every task to completion or its deadline (attempt_ms or wait_ms, plus
 * one second of grace for the child to say why); fills ok and message.
 * Never blocks longer than the largest deadline. */
void probe_batch(struct probe_task *tasks, size_t n);
void probe_task_clear(struct probe_task *t);

/* Where a replica's network probes run: its netns path, the host (NULL, for
 * network_mode host), or *why_not set when it has none to reach. */
const char *probe_netns_of(const struct spec_service *svc, const struct state_replica *r,
			   const char **why_not);

/* ---- health text (state_replica.health) ----
 * "starting", "healthy" or "unhealthy", followed by ":N" while N > 0
 * probes in a row have failed ("healthy:1": healthy, one failure so far).
 * NULL: never probed. */
enum health_word { HEALTH_UNKNOWN = 0, HEALTH_STARTING, HEALTH_HEALTHY, HEALTH_UNHEALTHY };
struct health_status {
	enum health_word word;
	int failures;
};
void health_parse(const char *text, struct health_status *out);
char *health_format(const struct health_status *h); /* caller frees */

/* Is replica r of svc ready (running; healthy when svc has a health block)?
 * Jobs that exited 0 are ready: they did their work. */
bool health_replica_ready(const struct spec_service *svc, const struct state_replica *r);

/* What a run remembers about its probes: when each replica was last probed
 * (paces probes at the health interval) and the last failure message. */
struct health_memory;
struct health_memory *health_memory_new(void);
void health_memory_free(struct health_memory *m);
/* The last probe failure of the replica in this run, or NULL. */
const char *health_memory_error(const struct health_memory *m, const char *deployment,
				const char *service, int index);

/* Probes the running replicas among rows whose service (looked up in dep)
 * has a health block and whose interval has passed since their last probe
 * in this run (force: probe regardless); records the new health text.
 * current (may be NULL): the services' spec hashes; a replica still on
 * another spec (a halted rollout) is not probed with the new spec's check.
 * Replicas whose failures reached `retries` are listed in *unhealthy (row
 * indexes into rows; caller frees). rows are updated in memory too. */
int health_probe_rows(struct state_db *db, struct backend *b, const struct spec_deployment *dep,
		      const struct state_services *current, struct state_replicas *rows,
		      struct health_memory *mem, bool force, int64_t now_ms, size_t **unhealthy,
		      size_t *n_unhealthy, struct zl_err *err);

/* Liveness (decision 7): records an "unhealthy" event, stops the replica and
 * starts it again (a journaled restart). */
int health_restart(struct state_db *db, struct backend *b, const struct spec_service *svc,
		   const struct state_replica *r, const char *why, const struct execute_env *env,
		   struct zl_err *err);

/* Loads the deployment's rows and refreshes them from the backend, in memory. */
int health_load_rows(struct state_db *db, struct backend *b, const char *deployment,
		     struct state_replicas *rows, int64_t now_ms, struct zl_err *err);

/* A row of rows, or NULL. */
struct state_replica *health_find_row(struct state_replicas *rows, const char *service, int index);

/* Sleeps ms (signals do not cut it short). */
void health_sleep_ms(int64_t ms);

/* ---- depends.c ---- */
/* Waits until every dependency of service svc satisfies its condition, each
 * bounded by its timeout and by run_deadline (a zl_monotonic_ms() time, the
 * end of --wait --timeout; 0 none). Returns 0 when all are met (or a miss is
 * warn / continue), -1 with err naming the dependency, the condition and why
 * it is not met when one with on_timeout fail is not, or (kind TIMEOUT, any
 * on_timeout) when run_deadline came first. */
int depends_wait(struct state_db *db, struct backend *b, const struct spec_deployment *dep,
		 const struct state_services *current, const struct spec_service *svc,
		 struct health_memory *mem, int64_t (*clock_ms)(void), int64_t run_deadline,
		 struct zl_err *err);

/* ---- init.c ---- */
/* Should the planned (re)create of a failed replica wait (init failure
 * policies backoff and fail)? Returns 0 go, 1 skip quietly (backing off), -1
 * with err (policy fail: stays failed until the spec changes). */
int init_gate(const struct plan_action *a, const struct state_replica *current, int64_t now_ms,
	      struct zl_err *err);

#endif
