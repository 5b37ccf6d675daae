/* plan.h: the planner (plan.c), a pure function: desired services +
 * observed replica rows + the time -> ordered actions. No I/O, no clock
 * reads (time is a parameter), so it is tested exhaustively with tables
 * (tests/unit/test_plan.c links only the planner, spec/ and state/'s types).
 * Restart back-off, job retries and cron times are decided here too. */
#ifndef ZL_PLAN_H
#define ZL_PLAN_H

#include "common/common.h"
#include "spec/spec.h"
#include "state/state.h"

struct images_ready {
	char *reference;      /* canonical */
	char *manifest_digest;
	char *config;         /* image config JSON */
	char **layer_dirs;    /* base first */
	size_t layer_count;
	char *module_path;    /* a WebAssembly image: its module in the store; NULL otherwise */
};

struct plan_desired_service {
	const struct spec_service *svc; /* borrowed from the spec set */
	char spec_hash[65]; /* covers the image digest once the image is resolved */
	char *sections; /* owned; see spec_service_hash() */
	int replicas;   /* desired replica count */
	struct images_ready image; /* owned; empty when the backend runs no images */
	/* The backend of a set that runs it: "wasm" for a WebAssembly image,
	 * NULL the run's (static string). */
	const char *backend;
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

/* Cuts p's actions into waves that may run at once (reconcile/parallel.c):
 * a wave is a run of consecutive actions, and the next one starts at an
 * action that
 *   - removes a service gone from the spec while the wave acts on one that
 *     stays, or the other way round (what leaves goes first: its ports and
 *     names are free before others take them);
 *   - belongs to a service that depends on a service with an action in the
 *     wave (it waits for that one to be ready);
 *   - recreates a replica of a service the wave already recreates
 *     spec_rollout_batch() replicas of (a rolling update in batches).
 * *ends gets each wave's end (exclusive), in order; returns the number of
 * waves (0 for an empty plan). */
size_t plan_waves(const struct plan *p, size_t **ends);

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

/* Frees what an image ready to run holds (the struct itself is the caller's). */
void images_ready_clear(struct images_ready *r);

#endif
