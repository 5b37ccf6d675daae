/* reconcile.h: what the command line needs of zlapply (docs/architecture.md):
 * apply, diff, delete, status, --wait, watch, doctor,
 * the image verbs. The CLI calls this header (and common/) only; everything
 * else of reconcile/ is in reconcile-internal.h, and the planner has its own
 * header, plan.h. */
#ifndef ZL_RECONCILE_H
#define ZL_RECONCILE_H

#include "common/common.h"
#include "spec/spec.h"
#include "state/state.h"

/* ---- apply ---- */
/* How images are fetched (CLI flags: --ca-file, --insecure-registry, ...). */
struct images_opts {
	const char *ca_file;
	const char *const *insecure_hosts;
	size_t insecure_count;
	const char *auth_file;
	const char *platform;
	bool quiet;
	bool keep_layer_blobs; /* registry_opts.keep_layer_blobs */
};

/* One action of an apply or a dry run, as it is reported to
 * reconcile_opts.on_action (what `-o json` prints; docs/user-guide.md,
 * "Output for scripts"). Every pointer is borrowed for the call only. */
enum reconcile_action_result {
	RECONCILE_ACTION_PLANNED = 0, /* a dry run: what would be done */
	RECONCILE_ACTION_DONE,
	RECONCILE_ACTION_FAILED,      /* error says why */
	RECONCILE_ACTION_SKIPPED,     /* left for later (rollout stopped, init back-off) */
};
const char *reconcile_action_result_name(enum reconcile_action_result r);

struct reconcile_action {
	const char *deployment, *service;
	int index;                 /* replica number, from 1 */
	const char *kind;          /* "create", "recreate", "restart", "remove" */
	const char *reason;        /* "env changed", "exited 1", ...; NULL when obvious */
	const char *old_spec_hash; /* the replica's recorded spec hash; NULL when none */
	const char *new_spec_hash; /* the spec hash it gets; NULL for a remove */
	enum reconcile_action_result result;
	const char *error;         /* FAILED or SKIPPED: why; NULL otherwise */
};

struct revision_origin; /* rollback.c */

struct reconcile_opts {
	const char *root;         /* state root */
	struct images_opts images;
	const char *bridge;       /* NULL = NET_DEFAULT_BRIDGE */
	const char *subnet;       /* NULL = NET_DEFAULT_SUBNET */
	const char *backend_name; /* "mock", "oci", ... */
	const char *wasm_engine;  /* --wasm-engine: the WASI engine (Node.js) for WASM replicas; NULL = found */
	const char *runtime;      /* the engine the backend runs replicas with
				   * (--runtime: an OCI runtime for oci); NULL = its choice */
	int64_t lock_timeout_ms;
	bool dry_run;             /* plan and print only */
	/* --parallel: independent actions carried out at once, each in a worker
	 * process (reconcile/parallel.c); 0 = twice the number of cores. */
	unsigned parallel;
	bool quiet;               /* no progress lines on stderr */
	FILE *plan_out;           /* where plan / action lines go (stdout) */
	bool plan_color;          /* colour those lines by kind (ANSI; the CLI decides) */
	/* Called for every action a dry run plans and every action an apply
	 * carries out, fails or leaves for later; NULL = none. */
	void (*on_action)(const struct reconcile_action *a, void *ctx);
	void *action_ctx;
	int64_t (*clock_ms)(void); /* NULL = zl_now_ms; tests inject */
	/* `zlapply run`: only this deployment's service run_service is acted
	 * on, and it gets a new run now. NULL = a normal apply. */
	const char *run_deployment, *run_service;
	/* history and rollback (rollback.c) */
	bool no_rollback;          /* --no-rollback: a failed rollout stops where it failed */
	int64_t deadline_mono_ms;  /* --wait --timeout: no wait of the apply lasts past this
				    * zl_monotonic_ms() time; 0 = none */
	const struct revision_origin *origin; /* NULL: an apply of files (rollback.c sets it) */
	/* Recorded as the source of a revision this apply makes ("git
	 * URL@COMMIT" under watch --git); NULL: the spec's file, or stdin. */
	const char *source;
};

struct reconcile_result {
	size_t actions_planned;
	size_t actions_done;
	size_t actions_failed;
	/* history and rollback: failed rollouts left where they stopped
	 * (--no-rollback, or --timeout ran out) and rolled back */
	size_t rollouts_stopped;
	size_t rollouts_rolled_back;
};

/* Applies every deployment of set. Returns 0 when all actions succeeded; -1
 * with err (kind INPUT for bad input found before any change, FAIL when an
 * action failed; the run still carries out the other actions). */
int reconcile_apply(const struct reconcile_opts *opts, const struct spec_set *set,
		    struct reconcile_result *res, struct zl_err *err);

/* ---- history and rollback (rollback.c; docs/user-guide.md) ---- */
/* The kept revisions of deployment, oldest first (caller frees with
 * state_revisions_free()). -1 with err (kind INPUT) when none is recorded. */
int reconcile_history(const char *root, const char *deployment, struct state_revisions *out,
		      struct zl_err *err);
void reconcile_history_free(struct state_revisions *list);
/* Applies revision to of deployment again (to <= 0: the newest applied
 * revision before the newest one), through the normal apply (journaled),
 * recorded as a new revision that restores it; *restored gets its number.
 * -1 with err: INPUT when there is no such revision, FAIL when its image
 * cannot be had (nothing changed) or an action failed. */
int reconcile_rollback(const struct reconcile_opts *opts, const char *deployment, int64_t to,
		       struct reconcile_result *res, int64_t *restored, struct zl_err *err);

/* Removes every replica and record of the named deployments. */
int reconcile_delete(const struct reconcile_opts *opts, const char *const *deployments,
		     size_t count, struct reconcile_result *res, struct zl_err *err);

/* Loads replica rows (deployment NULL = all) and refreshes them from their
 * backends in memory (nothing written): what `status` shows. A missing
 * database yields an empty list. */
int reconcile_status(const char *root, const char *deployment, struct state_replicas *out,
		     struct zl_err *err);

/* The names of the deployments recorded under root, sorted (shell
 * completion of -d); a missing database yields none. Reads only. Caller
 * frees with reconcile_names_free(). */
int reconcile_deployment_names(const char *root, char ***names, size_t *count, struct zl_err *err);
void reconcile_names_free(char **names, size_t count);

/* For status: the kept runs of jobs and cron services and the cron
 * schedules (deployment NULL = all). A missing database yields empty lists. */
int reconcile_status_runs(const char *root, const char *deployment, struct state_runs *runs,
			  struct state_schedules *schedules, struct zl_err *err);
/* `zlapply run --timeout`: records the replicas of service that the caller
 * stopped as stopped on purpose (a job is then not retried; its run ends
 * with reason "timeout"), under the lock. */
int reconcile_run_stopped(const struct reconcile_opts *opts, const char *deployment,
			  const char *service, struct zl_err *err);

/* ---- watch (watch.c, watch_metrics.c): zlapply watch ----
 * The long-running mode (docs/operations.md): apply at start, then again
 * when the watched files change (inotify, debounced), every interval, on
 * SIGHUP, and soon after a replica exits (a cheap reconcile_status() every
 * half second; replicas in back-off are left to the planner and re-checked
 * when their back-off ends). A spec that stops loading is reported and the
 * last good one stays in force: nothing is ever removed because a file got a
 * syntax error mid-edit. SIGTERM or SIGINT ends the loop after the apply in
 * progress; containers keep running. Log lines on stderr are logfmt
 * (time=... level=info msg="applied" actions=3 duration_ms=42). */
/* watch --git: follow a branch of a git repository instead of files
 * (docs/gitops.md). Credentials come from files only. */
struct watch_git_opts {
	const char *url;     /* NULL = watch files (-f) */
	const char *branch;  /* NULL = "main" */
	const char *path;    /* directory of the specs in the repository; NULL = its top */
	const char *ssh_key_file, *token_file;
	const char *host_key; /* "SHA256:..." pinned SSH host key; NULL = ~/.ssh/known_hosts */
	const char *ca_file;  /* https://: CA certificates trusted besides the system's; NULL none */
	const char *webhook;  /* "HOST:PORT" of the webhook listener; NULL = none */
	const char *webhook_secret_file;
};

struct watch_opts {
	/* How each apply runs (root, backend, images, network); the watcher
	 * sets plan_out, quiet, dry_run and lock_timeout_ms itself. */
	struct reconcile_opts apply;
	const char *const *paths; /* files or directories ("-" is refused) */
	size_t path_count;
	int64_t interval_ms;      /* resync; 0 = WATCH_DEFAULT_INTERVAL_MS */
	const char *metrics_addr; /* "HOST:PORT" for GET /metrics; NULL = none */
	bool no_heal;             /* report drift, apply only when the spec changed */
	struct watch_git_opts git;
};
#define WATCH_DEFAULT_INTERVAL_MS 30000

/* Runs until SIGTERM/SIGINT; returns 0 then. Returns -1 with err when it
 * cannot start: a path that is missing or "-", or a malformed --metrics
 * (kind INPUT), an address that cannot be bound, inotify unavailable (FAIL). */
int reconcile_watch(const struct watch_opts *opts, struct zl_err *err);


/* wait.c: --wait. Polls (taking the lock per poll) until every desired
 * replica of set is ready, probing and restarting unhealthy replicas and
 * applying restart policies as an apply does. On timeout (or a replica that
 * exited for good) prints to report each replica that is not ready, why and
 * its last log lines, and fails with kind ZL_ERR_TIMEOUT. */
int reconcile_wait(const struct reconcile_opts *opts, const struct spec_set *set,
		   int64_t timeout_ms, FILE *report, struct zl_err *err);

/* ==== networking: zlapply doctor (doctor.c) ==== */
/* One thing of zlapply's that no replica of the state root owns. */
struct doctor_finding {
	char *backend; /* the backend that answers for it; NULL: reconcile's own */
	char *kind;   /* the backend's word (oci: dir monitor mount netns veth); lease rules ports */
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
	/* How each backend runs replicas here, for those that say. */
	char **notes;
	size_t note_count;
};
/* Lists (and with fix removes) what no replica row of opts->root owns:
 * every compiled-in backend's leftovers (oci: container directories, zlmon
 * monitors, rootfs mounts, network namespaces, host veths), and address
 * leases, published-port rules and port records. Takes the lock. */
int reconcile_doctor(const struct reconcile_opts *opts, bool fix, struct doctor_report *out,
		     struct zl_err *err);
/* Frees what reconcile_doctor() filled in (also after it failed). */
void reconcile_doctor_report_free(struct doctor_report *r);
/* ==== end networking: doctor ==== */

/* ==== the verbs' own steps (input.c, status.c, replica.c, images_verbs.c,
 * run.c): what cli/ asks of reconcile/ besides apply, delete and watch ==== */

/* ---- input (input.c) ---- */
/* Checks the options that come from flags before anything is touched: a
 * --subnet that is not a usable IPv4 subnet fails with kind INPUT
 * ("--subnet: ..."). Returns 0 or -1 with err. */
int reconcile_opts_check(const struct reconcile_opts *opts, struct zl_err *err);

/* Loads the specs at paths (files, directories of YAML files, "-" for
 * stdin) into *set, which the caller frees with reconcile_spec_free() (also
 * after a failure). Prints the diagnostics (FILE:LINE:COL: PATH: MSG) to
 * diags_out when the spec has problems, and its notes too when print_notes.
 * Returns 0, or -1 when the spec has problems; *problems (may be NULL) gets
 * the number of errors. host_checks adds the checks against this host that
 * the backends would make (spec_set_host_checks), so what apply would refuse
 * is refused before anything changes; delete goes without, so a spec whose
 * bind source is gone can still be deleted. */
int reconcile_spec_load(const char *const *paths, size_t count, bool print_notes,
			bool host_checks, FILE *diags_out, struct spec_set *set, size_t *problems);
void reconcile_spec_free(struct spec_set *set);
/* reconcile_spec_load() that hands the diagnostics (errors and notes) to
 * the caller instead of printing them (validate -o json). The caller frees
 * diags with reconcile_spec_diags_free(), set with reconcile_spec_free(). */
int reconcile_spec_load_diags(const char *const *paths, size_t count, bool host_checks,
			      struct spec_set *set,
			      struct spec_diags *diags);
void reconcile_spec_diags_free(struct spec_diags *diags);

/* A duration flag ("30s", "1h30m", "250ms"; a bare number is an error) in
 * milliseconds. -1 with err (kind INPUT) when it is not one. */
int reconcile_parse_duration(const char *text, int64_t *ms, struct zl_err *err);
/* "SIGTERM" for SIGTERM; NULL for a signal without a name. Static text. */
const char *reconcile_signal_name(int signo);
/* "running", "exited", ... for a replica row's state. Static text. */
const char *reconcile_replica_state_name(enum state_replica_state s);

/* ---- events (events.c) ---- */
/* --since TEXT: a duration back from now_ms ("10m", "1h30m") or an RFC 3339
 * time ("2026-12-05T10:00:00Z", "2026-12-05T11:00:00.5+01:00"), in ms since
 * the epoch. -1 with err (kind INPUT) naming the text otherwise. */
int reconcile_parse_since(const char *text, int64_t now_ms, int64_t *since_ms,
			  struct zl_err *err);
/* A read-only view of a root's events. A root with no database yet has no
 * events (each read looks again, so a follower sees the first ones). */
struct reconcile_events;
int reconcile_events_open(const char *root, struct reconcile_events **out, struct zl_err *err);
/* The events q selects (state_events_query()); caller frees *out with
 * reconcile_events_free(). */
int reconcile_events_read(struct reconcile_events *ev, const struct state_events_query *q,
			  struct state_events *out, struct zl_err *err);
void reconcile_events_close(struct reconcile_events *ev);
void reconcile_events_free(struct state_events *events);

/* ---- stats (stats.c) ---- */
/* What one replica used, read at one moment (cgroup files and the
 * interface counters of its network namespace; no subprocess). -1 unknown. */
struct reconcile_usage {
	int64_t at_ns;              /* monotonic clock when read */
	int64_t cpu_usage_ns;       /* counter */
	int64_t memory_bytes;       /* in use: usage minus inactive file cache (docker's) */
	int64_t memory_usage_bytes; /* the cgroup's usage, cache included */
	int64_t memory_limit_bytes; /* -1 also when unlimited */
	int64_t pids;
	int64_t net_rx_bytes, net_tx_bytes;         /* counters, every interface but lo */
	int64_t blkio_read_bytes, blkio_write_bytes; /* counters */
};
struct reconcile_stats_item {
	const struct state_replica *row; /* points into the set's rows */
	bool running;                    /* false once it was seen gone */
	struct reconcile_usage prev, cur;
};
struct reconcile_stats_backend;
/* The replicas `zlapply stats` samples. */
struct reconcile_stats {
	struct state_replicas rows;
	struct reconcile_stats_item *items;
	size_t count;
	struct reconcile_stats_backend *backends; /* opened once per backend name */
	size_t backend_count;
	const struct reconcile_opts *opts;        /* borrowed */
};
/* Finds the replicas names give ("SERVICE-rep-N" or "SERVICE"; none =
 * every running replica, of deployment when not NULL) and opens their
 * backends. -1 with err: INPUT for an ambiguous or empty name, FAIL for a
 * name no recorded replica has, or one that is not running ("web-rep-1 is
 * not running: it exited with code 3 at TIME"). The caller frees *out with
 * reconcile_stats_free() (also after a failure). */
int reconcile_stats_open(const struct reconcile_opts *opts, const char *deployment,
			 const char *const *names, size_t name_count, struct reconcile_stats *out,
			 struct zl_err *err);
/* Reads every item's usage now: cur moves to prev first. An item whose
 * replica is no longer running turns running = false (cur unknown). */
void reconcile_stats_sample(struct reconcile_stats *s);
/* CPU use between prev and cur in percent of one CPU (docker's: 200 is two
 * CPUs busy); -1 when either sample lacks it. */
double reconcile_usage_cpu_percent(const struct reconcile_usage *prev,
				   const struct reconcile_usage *cur);
void reconcile_stats_free(struct reconcile_stats *s);

/* ---- inspect (inspect.c) ---- */
/* Everything known about the replica target names (SERVICE-rep-N, or a
 * SERVICE with one replica) as one JSON object text (*json; caller frees;
 * shape in docs/operations.md, "Inspect"). -1 with err: INPUT when target
 * is ambiguous, FAIL when no replica has that name. */
int reconcile_inspect(const struct reconcile_opts *opts, const char *target, const char *deployment,
		      char **json, struct zl_err *err);

/* ---- status (status.c) ---- */
/* cpu and memory of one replica (cgroup files, no subprocess); -1 unknown. */
struct reconcile_replica_stats {
	int64_t cpu_usage_ns;
	int64_t memory_bytes;
};
/* What `zlapply status` shows. */
struct reconcile_status_report {
	struct state_replicas replicas;   /* refreshed from their backends, nothing written */
	struct state_runs runs;           /* kept runs of jobs and cron services */
	struct state_schedules schedules; /* cron: next run times */
	struct reconcile_replica_stats *stats; /* with_stats: one per replica (running ones
						* known), else NULL */
	/* How the backends of the listed replicas run them here, one line
	 * each ("vm: QEMU with TCG ..."), for those that say. */
	char **notes;
	size_t note_count;
	/* gitops: what `watch --git` applied last, "git URL@COMMIT"; NULL none */
	char *source;
};
/* reconcile_status() and reconcile_status_runs() of opts->root (deployment
 * NULL = all) in one; with_stats also asks each running replica's backend
 * for its usage (a backend that cannot tell leaves -1). A missing database
 * yields empty lists. The caller frees *out with
 * reconcile_status_report_free() (also after a failure). -1 with err when
 * the store cannot be read, or when deployment names one this root has no
 * record of ("no deployment NAME is recorded under ROOT"). */
int reconcile_status_report(const struct reconcile_opts *opts, const char *deployment,
			    bool with_stats, struct reconcile_status_report *out, struct zl_err *err);
void reconcile_status_report_free(struct reconcile_status_report *r);

/* ---- kill, logs, exec (replica.c) ---- */
struct backend;
/* The replicas a target names: "SERVICE-rep-N" one replica, "SERVICE" every
 * replica of the service (in replica order), of one deployment. */
struct reconcile_target {
	char *name;                   /* the target as given */
	struct state_replicas all;    /* the rows looked at, refreshed */
	struct state_replica **items; /* the named ones (pointing into all) */
	size_t count;                 /* >= 1 */
	struct backend *backend;      /* reconcile's own: the backend of items[0] */
};
/* --signal NAME for kill: KILL, TERM, INT, HUP, USR1 or USR2, with or
 * without SIG, any case; -1 with err (kind INPUT) for anything else. */
int reconcile_kill_signal_parse(const char *name, int *signo, struct zl_err *err);
/* Finds the replicas target names (deployment NULL = whichever has the
 * service; a service in two deployments is bad input) and opens and probes
 * their backend (the row's, else opts->backend_name, with opts->runtime).
 * -1 with err: INPUT for an empty or ambiguous target, FAIL when no replica
 * matches or the backend is not usable. The caller frees *out with
 * reconcile_target_free() (also after a failure). */
int reconcile_target_find(const struct reconcile_opts *opts, const char *target,
			  const char *deployment, struct reconcile_target *out, struct zl_err *err);
void reconcile_target_free(struct reconcile_target *t);
/* Sends signo to t->items[i]; err is prefixed "SERVICE-rep-N". */
int reconcile_kill(struct reconcile_target *t, size_t i, int signo, struct zl_err *err);
struct reconcile_log_opts {
	size_t tail;     /* last N lines; 0 = all; RECONCILE_LOG_TAIL_NONE = none */
	bool follow;     /* keep printing until the replica exits */
	bool timestamps; /* prefix each line with its time */
};
/* tail: none of the output so far: with follow, only what the replica
 * writes from now on (`logs -f --tail 0`). */
#define RECONCILE_LOG_TAIL_NONE SIZE_MAX
/* Writes t->items[i]'s output to out; err is prefixed "logs SERVICE-rep-N". */
int reconcile_logs(struct reconcile_target *t, size_t i, const struct reconcile_log_opts *o,
		   FILE *out, struct zl_err *err);
/* Runs argv (NULL-terminated) in the lowest-numbered running replica of t
 * and returns 0 with *exit_code the command's exit code. -1 with err when
 * there is no running replica ("TARGET: no running replica"; *exit_code
 * -1) or the command could not run (prefixed "exec in SERVICE-rep-N";
 * *exit_code 127 when it was not found, 126 when it could not be run, as
 * docker exec, else -1). */
int reconcile_exec(struct reconcile_target *t, char *const argv[], int *exit_code,
		   struct zl_err *err);

/* ---- pull, images, prune (images_verbs.c) ---- */
/* `zlapply images`: the images stored under root (a missing database: none).
 * The caller frees *out with reconcile_images_free(). */
int reconcile_images_list(const char *root, struct state_images *out, struct zl_err *err);
void reconcile_images_free(struct state_images *list);
/* What an image takes on disk under root: its manifest and config blobs,
 * every unpacked layer and any layer blob kept (a layer shared by two
 * images counts for both). */
int64_t reconcile_image_disk_size(const char *root, const struct state_image *img);
/* The image store held for pull and prune: the apply lock (waiting at most
 * opts->lock_timeout_ms), the state database and a registry client with
 * opts->images. */
struct reconcile_store;
/* -1 with err when the lock or the database cannot be had; *out is NULL then. */
int reconcile_store_open(const struct reconcile_opts *opts, struct reconcile_store **out,
			 struct zl_err *err);
/* Releases everything; NULL is fine. */
void reconcile_store_close(struct reconcile_store *s);
/* Pulls image unconditionally and unpacks it. *reference and *digest
 * (manifest digest) get caller-freed copies. -1 with err otherwise. */
int reconcile_pull(struct reconcile_store *s, const char *image, char **reference, char **digest,
		   struct zl_err *err);
/* Removes images no replica row uses, then blobs and layers no image uses,
 * and leftover partial downloads: *freed bytes, *removed images. */
int reconcile_prune(struct reconcile_store *s, int64_t *freed, size_t *removed,
		    struct zl_err *err);

/* ---- zlapply run JOB (run.c) ---- */
/* Without -f: the deployment that has service job (deployment, or else the
 * only one recorded with it) and the file it was last applied from. Both
 * *deployment_out and *source are caller-freed, NULL after a failure: -1
 * with err, kind INPUT when nothing is recorded, the service is in two
 * deployments or the deployment was applied from stdin. */
int reconcile_run_recorded(const char *root, const char *job, const char *deployment,
			   char **deployment_out, char **source, struct zl_err *err);
/* A run started by reconcile_run_start(); points into its spec set. */
struct reconcile_run {
	const struct spec_deployment *deployment;
	const struct spec_service *service;
};
/* Finds service job in set (deployment NULL = any; what names the spec in
 * the message when there is none) and, when it is a job or a cron service,
 * applies a new run of it now (only it, journaled like any action; opts as
 * for reconcile_apply(), its run_deployment and run_service are set here).
 * -1 with err: INPUT when job is missing, in two deployments or a
 * long-running service, else as reconcile_apply(). */
int reconcile_run_start(const struct reconcile_opts *opts, const struct spec_set *set,
			const char *job, const char *deployment, const char *what,
			struct reconcile_run *out, struct zl_err *err);
/* How one replica of a run ended. */
struct reconcile_run_end {
	char *replica;     /* "SERVICE-rep-N" */
	char *error;       /* its state could not be read: why (nothing else is set) */
	bool stop_tried;   /* the timeout found it running and stopped it */
	char *stop_error;  /* ... and the stop failed: why */
	const char *status; /* not exited: what its backend says ("running", ...); NULL = exited */
	int exit_code;      /* exited: its code (-1 unknown) */
	int exit_signal;    /* exited: the signal that killed it, 0 none */
	int64_t duration_ms; /* exited: how long it ran; -1 unknown */
};
struct reconcile_run_ends {
	struct reconcile_run_end *items; /* replica order */
	size_t count;
	bool timed_out; /* timeout_ms passed before every replica ended */
};
/* Waits, without the lock, for every replica of run to end, at most
 * timeout_ms (0 = no limit); when the time is up, replicas still running
 * are stopped (the service's stop signal, then SIGKILL after its grace
 * period). *out (caller frees with reconcile_run_ends_free(), also after a
 * failure) says how each ended. -1 with err when the replicas or the
 * backend cannot be had. A run stopped so is then recorded with
 * reconcile_run_stopped(). */
int reconcile_run_wait(const struct reconcile_opts *opts, const struct reconcile_run *run,
		       int64_t timeout_ms, struct reconcile_run_ends *out, struct zl_err *err);
void reconcile_run_ends_free(struct reconcile_run_ends *ends);
/* ==== end of the verbs' own steps ==== */

#endif
