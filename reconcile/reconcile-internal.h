/* reconcile-internal.h: what the files of reconcile/ share beyond the
 * public face (reconcile.h) and the planner (plan.h): the image context,
 * observe, recovery, journaled execution, jobs and cron around the planner,
 * health gates and init steps. Unit tests of these pieces include it too. */
#ifndef ZL_RECONCILE_INTERNAL_H
#define ZL_RECONCILE_INTERNAL_H

#include "reconcile.h"
#include "plan.h"

#include "backends/backend.h"
#include "net/net.h"

/* Opens backend name (NULL: opts->backend_name) with the options of opts
 * (its runtime) under opts->root. */
int reconcile_backend_open(const struct reconcile_opts *opts, const char *name,
			   struct backend **out, struct zl_err *err);
/* Appends to *notes the describe() line of the backend called name (none
 * when it has nothing to say or cannot be opened). */
void reconcile_backend_note(const struct reconcile_opts *opts, const char *name, char ***notes,
			    size_t *n);
/* [cli layers] doctor.c's name for reconcile_doctor_report_free() (status.c). */
void doctor_report_free(struct doctor_report *r);

/* ---- images (images.c) ---- */
struct images_ctx; /* lazily created registry client + the store's database */
struct images_ctx *images_ctx_new(const char *root, const struct images_opts *o,
				  struct state_db *db);
void images_ctx_free(struct images_ctx *ctx);


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


/* A replica's spec hash: the spec's (spec_service_hash()) mixed with the
 * image's manifest digest in place, so a new image under the same tag
 * makes a new hash (apply.c). */
void apply_hash_with_digest(char hash[65], const char *digest);

/* ---- replica names (replica.c) ---- */
/* Splits "web-rep-3" into (*service "web", *index 3); plain "web" gives
 * index 0 (every replica). -1 (kind INPUT) for an empty name. Caller frees
 * *service. */
int replica_parse_target(const char *target, char **service, int *index, struct zl_err *err);

/* ---- stats (stats.c) ---- */
/* Sums the byte counters of /proc/<pid>/net/dev text over every interface
 * but lo; -1 (and *rx, *tx -1) when it names none. */
int stats_net_dev_parse(const char *text, int64_t *rx, int64_t *tx);
/* One usage per row of rows (unknown for rows not running), read now
 * through the rows' backends opened with opts. Caller frees the array. */
struct reconcile_usage *stats_read_rows(const struct reconcile_opts *opts,
					const struct state_replicas *rows);

/* ---- events (events.c) ---- */
struct cJSON;
/* Records an event with data, a JSON object of its facts (consumed; NULL
 * none). */
int events_record(struct state_db *db, int64_t now_ms, const char *deployment,
		  const char *service, int index, const char *kind, const char *message,
		  struct cJSON *data, struct zl_err *err);
/* The "exited" event of row r (just observed exited): code or signal, the
 * reason, and the back-off before its next start (r->backoff_until). */
int events_record_exit(struct state_db *db, int64_t now_ms, const struct state_replica *r,
		       struct zl_err *err);
/* The facts of a create (consumed by events_record) and its *message
 * (caller frees): image, backend, id, address. backend_name: the backend's
 * when rs names none. */
struct cJSON *events_create_data(const struct backend_replica_spec *rs, const char *backend_name,
				 char **message);
/* The facts of a restart (JSON; caller frees) and its *message (caller
 * frees): reason, the restart count after it, and the back-off it waited
 * (from before's exit to its back-off deadline). */
char *events_restart_data(const struct state_replica *before, int restarts, const char *reason,
			  char **message);

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
	/* Bridge networking for backends that want it; NULL: the defaults. */
	const char *bridge;
	const struct net_subnet *subnet;
	/* --wait --timeout: no wait of the run (a rollout's readiness gate)
	 * lasts past this zl_monotonic_ms() time; 0 = none. */
	int64_t deadline_mono_ms;
	/* Service names a created replica starts with (names.c); NULL none. */
	const char *names;
};
/* adopt.c: rows for the replicas the backend holds that neither a row nor a
 * pending journal entry knows (a lost or reset state.db); *adopted counts
 * them. Writes rows, leases and events. */
int adopt_held(struct state_db *db, struct backend *b, int64_t now_ms, size_t *adopted,
	       struct zl_err *err);

/* root.c: the network a root's replicas use, as a run settles it. */
struct root_network {
	char bridge[NET_IFNAME_MAX + 1];
	struct net_subnet subnet;
};
/* Opens root's state.db for writing. A corrupt one fails with the
 * documented way out, or with repair (delete, doctor: they must work on) is
 * moved aside (state.db.corrupt-<ms>) and a new one opened, for adopt_held()
 * to fill. */
int root_open_state(const char *root, bool repair, struct state_db **db, struct zl_err *err);
/* Opens root's state.db read-only: 0 with *db, 1 when there is none (nothing
 * recorded yet; *db NULL), -1 with err. */
int root_open_read(const char *root, struct state_db **db, struct zl_err *err);
/* Checks the root's identity against db (a database copied from another
 * root is refused, kind INPUT) and settles its network: --bridge/--subnet
 * when given, else what the root stored, else the defaults; a change while
 * addresses are leased is refused (kind INPUT) with the reason. With write,
 * stores what it settled. db NULL (no database yet): flags or defaults. */
int root_settle(struct state_db *db, const struct reconcile_opts *opts, bool write,
		struct root_network *net, struct zl_err *err);

/* 1 when the bridge the root stored is unused (*net says which): it leases
 * no address, no other live root holds the bridge, no veth hangs on it
 * (also when the bridge is gone but this root's claim on it is left);
 * 0 when in use or there is none; -1 on error. */
int root_bridge_unused(struct state_db *db, const char *root, struct root_network *net,
		       struct zl_err *err);
/* Removes that bridge with its masquerading and forward rules, and drops
 * this root's claim on it. */
int root_bridge_teardown(const char *root, const struct root_network *net, struct zl_err *err);

/* The subnet opts ask for (--subnet; NET_DEFAULT_SUBNET when none), parsed
 * here once where it enters; kind INPUT naming --subnet when malformed. */
int reconcile_subnet(const struct reconcile_opts *opts, struct net_subnet *out, struct zl_err *err);
int execute_action(struct state_db *db, struct backend *b, const struct plan_action *a,
		   const struct state_replica *current, const struct execute_env *env,
		   struct zl_err *err);
/* ---- parallel.c: a wave of actions at once, in worker processes ---- */
struct exec_job {
	const struct plan_action *a;
	const struct state_replica *row; /* the replica's row before the action; NULL none */
	struct execute_env env;
	/* results */
	int rc;             /* execute_action()'s */
	struct zl_err err;  /* why it failed */
	char *output;       /* what a worker wrote to stderr (owned; NULL in-process) */
};
/* --parallel's default: twice the number of online CPUs. */
unsigned execute_parallel_default(void);
/* Runs every job, up to `parallel` at once (one at a time in this process
 * when parallel <= 1 or there is one job). -1 with err only when db could
 * not be opened again after the workers: the jobs' results stand. */
int execute_jobs(struct state_db *db, struct backend *b, struct exec_job *jobs, size_t n,
		 unsigned parallel, struct zl_err *err);

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
/* <root>/runs/<deployment>/<service>/<run_no>.log; caller frees. */
char *execute_run_log_path(const char *root, const char *deployment, const char *service,
			   int64_t run_no);

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

/* ==== end health, depends, init steps and --wait ==== */

/* ---- history and rollback (rollback.c) ---- */
/* A revision's status (state_revision.status). */
#define REVISION_APPLYING "applying"
#define REVISION_APPLIED "applied"
#define REVISION_ROLLED_BACK "rolled back"
#define REVISION_STOPPED "stopped"
#define REVISION_FAILED "failed"
/* Where an apply comes from when it is not a plain apply of files. */
struct revision_origin {
	const char *cause;  /* "rollback", "automatic rollback"; NULL = "apply" */
	const char *source; /* recorded as the revision's source; NULL = the file */
	int64_t restores;   /* the revision this apply puts back; 0 = none */
	int64_t number;     /* > 0: finish this recorded revision (no new one) */
};
/* What an apply of one deployment records of its revision. */
struct revision_run {
	int64_t number;     /* this apply's revision; 0 = none (nothing changed) */
	int64_t restore_to; /* what a failed rollout goes back to; 0 = nothing */
};
/* The hash a revision is known by: every service's spec hash, replica
 * count, type and schedule, sorted by service. */
void revision_hash(const struct plan_desired *desired, char out[65]);
bool revision_applied(const struct state_revision *r);
/* Pure: the newest revision before current (a number in list) applied in
 * full whose hash differs from current's; 0 when there is none. */
int64_t revision_restore_target(const struct state_revisions *list, int64_t current);
/* Records the revision of an apply about to act (status "applying"), unless
 * it asks for what the newest applied revision asks (nothing new: out->number
 * 0). The same spec as a newest revision that stopped or failed is that
 * revision again. */
int revision_begin(struct state_db *db, const struct spec_deployment *dep,
		   const struct plan_desired *desired, const struct revision_origin *origin,
		   const char *source,
		   int64_t now_ms, struct revision_run *out, struct zl_err *err);
/* -1 with err naming the first service of desired whose image could not be
 * had (a rollback to a revision whose image is gone changes nothing). */
int revision_images_missing(const struct plan_desired *desired, int64_t number,
			    struct zl_err *err);
/* Loads a stored revision's spec into *set (caller frees with
 * spec_set_free(), also after a failure). */
int revision_spec_load(const struct state_revision *rev, struct spec_set *set, struct zl_err *err);
/* gitops: "git URL@COMMIT" that `watch --git` applied last under root
 * (watch_git.c); NULL when none. Caller frees. */
char *watch_git_source_recorded(const char *root);

/* ---- apply.c: one apply, and rollout.c: carrying out its plan ---- */
/* What one apply (or delete) holds from start to end. */
struct apply_run {
	const struct reconcile_opts *opts;
	struct reconcile_result *res;
	struct state_db *db;
	struct backend *b;
	struct images_ctx *images;
	char *secrets_dir;
	struct root_network net;      /* the bridge and subnet, settled once for the run */
	struct reconcile_opts settled; /* the caller's opts with that network */
	bool repair_corrupt;           /* delete: a corrupt state.db is moved aside */
	bool apply_in_progress;        /* a dry run while another run holds the lock */
	/* history and rollback (rollback.c): what the last apply_deployment()
	 * recorded and whether a rollout of it stopped, and why */
	struct revision_run rev;
	char *halted_why;              /* owned; NULL when no rollout stopped */
	bool halted_timeout;           /* it stopped because --timeout ran out */
};

struct publish;
struct names;
struct health_gate;
/* A deployment's plan being carried out (rollout.c). */
struct rollout {
	struct apply_run *run;
	const char *deployment;
	const struct state_replicas *rows; /* before the plan, sorted by service, index */
	struct publish *pub;               /* networking: published ports */
	struct names *names;               /* networking: service names */
	struct health_gate *gate;          /* health/depends/init */
	struct execute_env env;            /* the actions' (names are filled per wave) */
	unsigned parallel;                 /* actions at once, >= 1 */
	/* the outcome */
	const char *halted;                /* the service whose rollout stopped; NULL none */
	int ret;                           /* -1 once an action failed */
	struct zl_err first_err;           /* the first failure */
};
/* Carries out plan (not a dry run) in waves (plan_waves()): 0, or -1 with
 * x->first_err; every action is reported (opts->on_action) and counted. */
int rollout_execute(struct rollout *x, struct plan *plan);
/* "+ create web-rep-3" on opts->plan_out (coloured when asked). */
void rollout_print_line(const struct reconcile_opts *o, const struct plan_action *a);
/* Tells opts->on_action what became of an action; row is the replica's
 * row before the action (NULL when it has none). */
void rollout_report(const struct reconcile_opts *o, const struct plan_action *a,
		    const struct state_replica *row, enum reconcile_action_result result,
		    const char *error);
/* The row of a's replica in rows (sorted by service, index); NULL none. */
const struct state_replica *rollout_row_for(const struct state_replicas *rows,
					    const struct plan_action *a);

#endif
