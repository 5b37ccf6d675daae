/* reconcile.h: observe -> plan -> execute (DESIGN.md "Data flow of one apply").
 *
 * plan_compute() is a pure function: desired services + observed replica rows
 * + the time -> ordered actions. No I/O, no clock. Everything with effects
 * lives in observe.c (refresh rows from the backend), execute.c (journal, act,
 * record), recover.c (finish or undo what a crashed run left pending) and
 * apply.c (the whole apply / delete under the lock).
 */
#ifndef ZL_RECONCILE_H
#define ZL_RECONCILE_H

#include "backends/backend.h"
#include "common/common.h"
#include "spec/spec.h"
#include "state/state.h"

/* ---- the plan ---- */
struct images_ready {
	char *reference;      /* canonical */
	char *manifest_digest;
	char *config;         /* image config JSON */
	char **layer_dirs;    /* base first */
	size_t layer_count;
};

struct plan_desired_service {
	const struct spec_service *svc; /* borrowed from the spec set */
	char spec_hash[65]; /* covers the image digest once the image is resolved */
	char *sections; /* owned; see spec_service_hash() */
	int replicas;   /* desired replica count */
	struct images_ready image; /* owned; empty when the backend runs no images */
	char *image_error; /* owned; why the image is not available (creates fail with it) */
	/* ---- jobs and cron (filled by execute_prepare_desired) ---- */
	bool force_run;      /* `zlapply run`: a new run of this job/cron service now */
	bool has_schedule;   /* cron: a schedule row is recorded */
	int64_t cron_last_s; /* cron: last scheduled time run, or when first applied (unix s) */
	int64_t cron_next_s; /* cron: the recorded next time (-1 never) */
};

struct plan_desired {
	const char *deployment; /* borrowed */
	bool deleting;          /* the whole deployment goes (zlapply delete) */
	struct plan_desired_service *services; /* dependencies first */
	size_t count;
	const char *only_service; /* `zlapply run`: plan this service's actions only */
};
void plan_desired_free(struct plan_desired *d);

enum plan_action_kind {
	PLAN_CREATE = 0, /* create + start replica n */
	PLAN_RECREATE,   /* remove old n, then create + start new n */
	PLAN_RESTART,    /* start an exited replica again */
	PLAN_REMOVE,     /* stop + remove replica n */
};
const char *plan_action_name(enum plan_action_kind k);

struct plan_action {
	enum plan_action_kind kind;
	char *deployment;
	char *service;
	int index;
	char *reason; /* "env changed", "exited 1", ...; NULL when obvious */
	/* The desired service; NULL only when removing a service that left the spec. */
	const struct plan_desired_service *desired;
	/* A cron run: the scheduled time it runs for and the one after (unix s;
	 * execute records both with the run). 0 otherwise. */
	int64_t scheduled_s, next_s;
	/* A remove journaled ahead of time (execute_journal_remove); 0 otherwise. */
	int64_t journal_id;
};

/* Bookkeeping of a cron schedule that comes with no action: the first
 * apply's anchor, a run skipped because the previous one is still active,
 * a changed schedule's next time, or (remove) a service no longer cron. */
struct plan_schedule {
	const struct plan_desired_service *desired;
	bool remove;
	int64_t last_scheduled_s, next_s;
	char *note; /* owned; for the events table, NULL = none */
};

struct plan {
	struct plan_action *items;
	size_t count, cap;
	struct plan_schedule *schedules;
	size_t schedule_count, schedule_cap;
};
void plan_free(struct plan *p);

/* Computes the ordered actions that take `actual` (replica rows; rows of other
 * deployments are ignored) to `desired` at time now_ms. Order: removals of
 * services dropped from the spec (highest index first), then per service in
 * dependency order: scale-down removals (highest index first), recreates /
 * restarts / creates by ascending index. Rolling: recreates are separate
 * actions executed one at a time. A converged deployment plans nothing.
 * Jobs run to completion (exit 0 is done); a cron service gets a run (a
 * create or recreate of replica 1 with scheduled_s set) when a scheduled
 * time passed since desired's cron_last_s, and out->schedules gets the
 * schedule bookkeeping that comes without an action. With only_service
 * set, nothing else is planned. */
void plan_compute(const struct plan_desired *desired, const struct state_replicas *actual,
		  int64_t now_ms, struct plan *out);

/* "+ create web-rep-3", "~ recreate api-rep-1 (env changed)", "- remove old-rep-1". */
void plan_action_format(const struct plan_action *a, struct zl_buf *out);

/* ---- restarts, jobs and cron (pure; plan.c) ----
 * Crash loops back off: the first restart after an exit is immediate, the
 * next ones wait 10s, 20s, 40s ... (restart_policy.delay replaces the 10s
 * base) up to 5 minutes (or delay, if longer). A service replica that ran
 * PLAN_BACKOFF_RESET_MS before it exited starts counting from 0 again. */
#define PLAN_BACKOFF_BASE_MS 10000
#define PLAN_BACKOFF_CAP_MS 300000
#define PLAN_BACKOFF_RESET_MS 600000
/* Jobs without a restart_policy retry a failure this many times. */
#define PLAN_JOB_DEFAULT_ATTEMPTS 3
/* The wait before the restart that follows `restarts` earlier ones. */
int64_t plan_backoff_delay_ms(const struct spec_service *svc, int restarts);
/* Would the policy start this exited (or stopped) replica again, back-off aside? */
bool plan_restart_wanted(const struct spec_service *svc, const struct state_replica *r);
/* After observe: for every row of a desired service that exited since
 * `before` (rows[i] and before[i] are the same replica), resets restarts
 * when a service replica had run PLAN_BACKOFF_RESET_MS, and sets
 * backoff_until = finished_at (now when unknown or later) + the delay when
 * the policy restarts it, 0 when it does not. */
void plan_note_exits(const struct plan_desired *desired, const struct state_replicas *before,
		     struct state_replicas *rows, int64_t now_ms);
/* The latest time cron fires in (after_s, now_s], or -1 when it does not. */
int64_t plan_cron_latest_due(const struct spec_cron *cron, int64_t after_s, int64_t now_s);

/* ---- apply ---- */
/* How images are fetched (CLI flags: --ca-file, --insecure-registry, ...). */
struct images_opts {
	const char *ca_file;
	const char *const *insecure_hosts;
	size_t insecure_count;
	const char *auth_file;
	const char *platform;
	bool quiet;
};

struct reconcile_opts {
	const char *root;         /* state root */
	struct images_opts images;
	const char *bridge;       /* NULL = NET_DEFAULT_BRIDGE */
	const char *subnet;       /* NULL = NET_DEFAULT_SUBNET */
	const char *backend_name; /* "mock", "oci", ... */
	int64_t lock_timeout_ms;
	bool dry_run;             /* plan and print only */
	bool quiet;               /* no progress lines on stderr */
	FILE *plan_out;           /* where plan / action lines go (stdout) */
	int64_t (*clock_ms)(void); /* NULL = zl_now_ms; tests inject */
	/* `zlapply run`: only this deployment's service run_service is acted
	 * on, and it gets a new run now. NULL = a normal apply. */
	const char *run_deployment, *run_service;
};

struct reconcile_result {
	size_t actions_planned;
	size_t actions_done;
	size_t actions_failed;
};

/* Applies every deployment of set. Returns 0 when all actions succeeded; -1
 * with err (kind INPUT for bad input found before any change, FAIL when an
 * action failed; the run still carries out the other actions). */
int reconcile_apply(const struct reconcile_opts *opts, const struct spec_set *set,
		    struct reconcile_result *res, struct zl_err *err);

/* Removes every replica and record of the named deployments. */
int reconcile_delete(const struct reconcile_opts *opts, const char *const *deployments,
		     size_t count, struct reconcile_result *res, struct zl_err *err);

/* Loads replica rows (deployment NULL = all) and refreshes them from their
 * backends in memory (nothing written): what `status` shows. A missing
 * database yields an empty list. */
int reconcile_status(const char *root, const char *deployment, struct state_replicas *out,
		     struct zl_err *err);

/* ---- images (images.c) ---- */
struct images_ctx; /* lazily created registry client + the store's database */
struct images_ctx *images_ctx_new(const char *root, const struct images_opts *o,
				  struct state_db *db);
void images_ctx_free(struct images_ctx *ctx);

/* struct images_ready (above): an image ready to run. */
void images_ready_clear(struct images_ready *r);

/* Applies the pull policy to image: if_not_present (pull when absent),
 * always (pull every time), newer (ask the registry for the digest, pull
 * and report when it moved), never (local store only; a clear error when
 * absent). Records the image in the state database. */
int images_ensure(struct images_ctx *ctx, const char *image, enum spec_pull_policy policy,
		  struct images_ready *out, struct zl_err *err);
/* Pulls image unconditionally (zlapply pull). */
int images_pull(struct images_ctx *ctx, const char *image, struct images_ready *out,
		struct zl_err *err);
/* Removes images no replica row uses, then blobs and layers no image uses,
 * and leftover partial downloads. *freed gets the bytes freed. */
int images_prune(struct images_ctx *ctx, int64_t *freed, size_t *images_removed,
		 struct zl_err *err);

/* ---- pieces used by apply (exposed for tests) ---- */
/* Refreshes rows from backend b: running / exited / lost. Pure on rows: the
 * caller writes changed ones. Returns the number of rows changed. */
size_t observe_refresh(struct backend *b, struct state_replicas *rows, int64_t now_ms);
/* Do two versions of a row differ in what observation records? */
bool observe_row_changed(const struct state_replica *a, const struct state_replica *b);

/* Finishes or undoes journal entries a crashed run left pending. */
int recover_pending(struct state_db *db, struct backend *b, const char *deployment,
		    int64_t now_ms, struct zl_err *err);

/* Carries out one action, journaled before it acts and marked after, so a
 * crash in between is settled by recover_pending(). current is the replica's
 * row (NULL for create). Updates rows and events in db. */
struct execute_env {
	const char *secrets_dir;
	int64_t (*clock_ms)(void);
	const char *bridge; /* bridge networking for backends that want it */
	const char *subnet;
};
int execute_action(struct state_db *db, struct backend *b, const struct plan_action *a,
		   const struct state_replica *current, const struct execute_env *env,
		   struct zl_err *err);
/* Journals the remove a (row marked removing) before execute_action runs
 * it, so replicas on their way out can be signalled together and a run that
 * dies meanwhile leaves removes that recovery completes. */
int execute_journal_remove(struct state_db *db, const struct plan_action *a,
			   const struct state_replica *current, const struct execute_env *env,
			   int64_t *journal_id, struct zl_err *err);

/* ---- restarts, jobs and cron: the apply steps around the planner (execute.c) ---- */
/* Before planning: cron schedules from db (NULL = none recorded) and the
 * run request of opts (run_deployment/run_service) into desired. */
int execute_prepare_desired(struct state_db *db, const struct reconcile_opts *opts,
			    struct plan_desired *desired, struct zl_err *err);
/* The row of a replica started again: running, restarts + 1, the last exit
 * and health forgotten, started now. */
void execute_mark_restarted(struct state_replica *row, int64_t now_ms);
/* After observe, inside the caller's transaction (the one recording the
 * exits): completes the open run of every job/cron row that exited since
 * before (same indexes). */
int execute_record_exits(struct state_db *db, const struct state_replicas *before,
			 const struct state_replicas *rows, struct zl_err *err);
/* After the actions: writes the plan's schedule bookkeeping and removes the
 * archived run logs (<root>/runs/<deployment>/<service>/) of services that
 * left the spec. */
int execute_finish_plan(struct state_db *db, const char *root, const struct plan_desired *desired,
			const struct plan *p, int64_t now_ms, struct zl_err *err);
/* For status: the kept runs of jobs and cron services and the cron
 * schedules (deployment NULL = all). A missing database yields empty lists. */
int reconcile_status_runs(const char *root, const char *deployment, struct state_runs *runs,
			  struct state_schedules *schedules, struct zl_err *err);
/* `zlapply run --timeout`: records the replicas of service that the caller
 * stopped as stopped on purpose (a job is then not retried; its run ends
 * with reason "timeout"), under the lock. */
int reconcile_run_stopped(const struct reconcile_opts *opts, const char *deployment,
			  const char *service, struct zl_err *err);
/* <root>/runs/<deployment>/<service>/<run_no>.log; caller frees. */
char *execute_run_log_path(const char *root, const char *deployment, const char *service,
			   int64_t run_no);

/* ---- watch (watch.c, watch_metrics.c): zlapply watch ----
 * The long-running mode (DESIGN.md "Processes"): apply at start, then again
 * when the watched files change (inotify, debounced), every interval, on
 * SIGHUP, and soon after a replica exits (a cheap reconcile_status() every
 * half second; replicas in back-off are left to the planner and re-checked
 * when their back-off ends). A spec that stops loading is reported and the
 * last good one stays in force: nothing is ever removed because a file got a
 * syntax error mid-edit. SIGTERM or SIGINT ends the loop after the apply in
 * progress; containers keep running. Log lines on stderr are logfmt
 * (time=... level=info msg="applied" actions=3 duration_ms=42). */
struct watch_opts {
	/* How each apply runs (root, backend, images, network); the watcher
	 * sets plan_out, quiet, dry_run and lock_timeout_ms itself. */
	struct reconcile_opts apply;
	const char *const *paths; /* files or directories ("-" is refused) */
	size_t path_count;
	int64_t interval_ms;      /* resync; 0 = WATCH_DEFAULT_INTERVAL_MS */
	const char *metrics_addr; /* "HOST:PORT" for GET /metrics; NULL = none */
};
#define WATCH_DEFAULT_INTERVAL_MS 30000

/* Runs until SIGTERM/SIGINT; returns 0 then. Returns -1 with err when it
 * cannot start: a path that is missing or "-", or a malformed --metrics
 * (kind INPUT), an address that cannot be bound, inotify unavailable (FAIL). */
int reconcile_watch(const struct watch_opts *opts, struct zl_err *err);

/* ==== health, depends, init steps and --wait (health.c, depends.c, init.c,
 * wait.c, probe.c; private helpers in health-internal.h) ==== */

/* The gates one apply of a deployment passes its actions through: created
 * by apply_deployment() for a real (not dry) run of a deployment that is not
 * being deleted; NULL otherwise, and every function accepts NULL. */
struct health_gate;
struct health_gate *health_gate_new(struct state_db *db, struct backend *b,
				    const struct spec_deployment *dep,
				    const struct plan_desired *desired, const struct execute_env *env);
void health_gate_free(struct health_gate *g);
/* Before an action: for (re)creates, the init-failure policy of a replica
 * that failed its init steps, and the service's `depends` (waited for once
 * per service and apply, each edge bounded by its timeout). Returns 0 to go
 * on, 1 to skip the action quietly (init back-off), -1 with err when the
 * action fails (recorded as failed; a running replica is left alone). */
int health_gate_before(struct health_gate *g, const struct plan_action *a,
		       const struct state_replica *current, struct zl_err *err);
/* After a successful recreate of a service with a health block: waits
 * until the new replica is ready, at most start_grace + retries x interval
 * + timeout. -1 with err when it is not (the rollout stops). */
int health_gate_after(struct health_gate *g, const struct plan_action *a, struct zl_err *err);
/* After all actions: probes every running replica with a health block once
 * (in parallel, bounded by the timeouts), records health per replica, and
 * restarts replicas that failed `retries` probes in a row (event
 * "unhealthy"). A failed restart counts in res->actions_failed. */
int health_gate_finish(struct health_gate *g, struct reconcile_result *res, struct zl_err *err);

/* init.c: runs the service's init steps for a created, not yet started
 * replica (execute.c calls it between the backend's create and start).
 * env: the replica's resolved environment. -1 with err ("init: step ID
 * (ACTION): why") when a step with on_failure fail fails. */
int init_run_steps(struct backend *b, const struct plan_action *a, const char *backend_id,
		   const struct spec_kv *env, size_t env_count, struct zl_err *err);
/* Does a replica error say its init steps failed? */
bool init_failed(const char *error);
/* backoff_until for a replica whose init just failed: 0 unless
 * errors.on_init_failure is backoff, else now + 1s x 2^n (capped at 60s),
 * n = its init failures in a row before this one. */
int64_t init_backoff_until(struct state_db *db, const struct plan_action *a, int64_t now_ms);

/* wait.c: --wait. Polls (taking the lock per poll) until every desired
 * replica of set is ready, probing and restarting unhealthy replicas as an
 * apply does. On timeout prints to report each replica that is not ready,
 * why and its last log lines, and fails with kind ZL_ERR_TIMEOUT. */
int reconcile_wait(const struct reconcile_opts *opts, const struct spec_set *set,
		   int64_t timeout_ms, FILE *report, struct zl_err *err);
/* ==== end health, depends, init steps and --wait ==== */

/* ==== networking: zlapply doctor (doctor.c) ==== */
/* One thing of zlapply's that no replica of the state root owns. */
struct doctor_finding {
	char *kind;   /* netns veth lease mount dir monitor rules ports */
	char *name;   /* what to show: a name, path, address or "pid N" */
	char *detail; /* why it is an orphan */
	char *key;    /* what the fix works on */
	bool fixed;   /* --fix removed it */
	char *fix_error; /* --fix failed: why */
};
struct doctor_report {
	struct doctor_finding *items;
	size_t count, cap;
	/* zl-* namespaces and zlh* links this root has no trace of (another
	 * --root's); never reported as findings, never touched. */
	size_t foreign;
};
/* Lists (and with fix removes) netns, host veths, leases, rootfs mounts,
 * container directories, zlmon monitors, published-port rules and port
 * records of opts->root that no replica row owns. Takes the lock. */
int reconcile_doctor(const struct reconcile_opts *opts, bool fix, struct doctor_report *out,
		     struct zl_err *err);
void doctor_report_free(struct doctor_report *r);
/* ==== end networking: doctor ==== */

#endif
