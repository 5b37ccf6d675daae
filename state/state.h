/* state.h: zlapply's SQLite store and the apply lock.
 *
 * The database (<root>/state.db, WAL, busy_timeout) is the truth for what
 * zlapply created. Schema has a version (PRAGMA user_version) and forward
 * migrations run at open. Tables: deployments, services, replicas, journal
 * (the action journal that makes a crash mid-apply recoverable), events,
 * images, leases, runs (of jobs and cron services) and schedules (cron).
 *
 * One writer at a time: state_lock_acquire() takes flock(<root>/lock) and is
 * held for the whole apply. Readers (status) never need the lock.
 */
#ifndef ZL_STATE_H
#define ZL_STATE_H

#include <errno.h>

#include "common/common.h"

struct state_db; /* opaque */

/* ---- the lock ---- */
struct state_lock {
	int fd;
};
/* Waits up to timeout_ms (0 = don't wait) for the exclusive lock on
 * <root>/lock (creating root, mode 0700, if needed); on timeout fails with
 * kind ZL_ERR_BUSY (exit 4), sys_errno EWOULDBLOCK and a message naming the pid that
 * holds it when known:
 * "another zlapply (pid N) holds <root>/lock; gave up after 60s (raise
 * --lock-timeout)". lock->fd is -1 on failure. Logs once (info) when the
 * wait passes a second. */
int state_lock_acquire(const char *root, int64_t timeout_ms, struct state_lock *lock,
		       struct zl_err *err);
/* Accepts NULL and a lock that was never taken; leaves fd -1. */
void state_lock_release(struct state_lock *lock);

/* ---- open / close ---- */
/* Creates root (mode 0700) if needed, opens <root>/state.db, sets WAL and
 * busy_timeout, runs pending migrations. read_only: open without creating
 * or migrating (fails clearly when the database does not exist yet; the
 * caller may treat that as "nothing recorded"). That failure, and a file
 * with no schema yet, has kind ZL_ERR_FAIL and err->sys_errno == ENOENT.
 * A database with a newer schema than this binary knows is refused. */
int state_open(const char *root, bool read_only, struct state_db **db, struct zl_err *err);
void state_close(struct state_db *db);
/* Around fork(): SQLite forbids using a connection in a child of the
 * process that opened it, and even a new connection there would share the
 * parent's in-memory view of the file locks. So before forking workers
 * (reconcile/parallel.c) the parent detaches (closes the connection, db
 * stays valid), each worker attaches a connection of its own, and the
 * parent attaches again once they are done. A worker's connection does not
 * checkpoint when it closes (worker = true): the checkpoint's fsyncs would
 * be paid once per replica instead of once in a while. */
void state_detach(struct state_db *db);
int state_attach(struct state_db *db, bool worker, struct zl_err *err);
int state_schema_version(struct state_db *db);
#define STATE_SCHEMA_VERSION 10
/* state_open() of a database SQLite finds corrupt (or not a database at
 * all) fails with err->sys_errno == STATE_CORRUPT_ERRNO. */
#define STATE_CORRUPT_ERRNO EBADMSG

/* Transactions (BEGIN IMMEDIATE / COMMIT / ROLLBACK). */
int state_begin(struct state_db *db, struct zl_err *err);
int state_commit(struct state_db *db, struct zl_err *err);
void state_rollback(struct state_db *db);
/* sqlite3_total_changes(): rows changed through this connection (tests). */
int64_t state_total_changes(struct state_db *db);

/* ---- replicas ---- */
enum state_replica_state {
	STATE_REPLICA_CREATING = 0, /* journaled, backend create not confirmed */
	STATE_REPLICA_CREATED,
	STATE_REPLICA_RUNNING,
	STATE_REPLICA_EXITED,
	STATE_REPLICA_STOPPED,      /* stopped on purpose */
	STATE_REPLICA_FAILED,       /* could not be created/started */
	STATE_REPLICA_REMOVING,
	STATE_REPLICA_UNKNOWN,      /* backend lost it (monitor gone, ...) */
};
const char *state_replica_state_name(enum state_replica_state s);
int state_replica_state_parse(const char *name, enum state_replica_state *s);

/* Every field recorded for a replica (what status shows). Strings are owned by the struct
 * (free with state_replica_clear / state_replicas_free); NULL = unknown.
 * Integers use -1 for unknown unless noted. Times are ms since the epoch, 0 = unknown. */
struct state_replica {
	char *deployment;
	char *service;
	int index;            /* 1-based */
	char *backend;        /* "mock", "oci", ... */
	char *backend_id;     /* zl-<d>-<s>-<n> */
	enum state_replica_state state;
	int64_t pid;          /* -1 unknown */
	int64_t pid_start_time; /* /proc/<pid>/stat field 22; -1 unknown */
	char *ip;
	char *netns;          /* netns path or name */
	char *netns_state;    /* "created", "removed", ... */
	int exit_code;        /* -1 unknown */
	int exit_signal;      /* 0 none */
	char *exit_reason;    /* exited | signal | oom_killed | runtime_error */
	int restarts;         /* >= 0 */
	int64_t backoff_until; /* 0 none */
	char *health;         /* NULL unknown; "healthy", "unhealthy", "starting" */
	char *spec_hash;
	char *spec_sections;  /* JSON object, see spec_service_hash() */
	char *image_digest;
	char *error;          /* last error message (failed state) */
	int64_t created_at, started_at, finished_at, updated_at;
};
/* Sets every field to "unknown": NULL strings, pid, pid_start_time and
 * exit_code -1, other numbers 0, state CREATING. */
void state_replica_init(struct state_replica *r);
/* Frees the strings and zeroes the struct; accepts NULL. */
void state_replica_clear(struct state_replica *r);
/* Deep copy; dst is overwritten (not freed first). */
void state_replica_copy(struct state_replica *dst, const struct state_replica *src);

struct state_replicas {
	struct state_replica *items;
	size_t count, cap;
};
void state_replicas_free(struct state_replicas *list);

/* Loads replicas ordered by deployment, service, index. deployment NULL = all. */
int state_replicas_load(struct state_db *db, const char *deployment, struct state_replicas *out,
			struct zl_err *err);
/* One service's replicas, by index (the primary key's index: as cheap in a
 * deployment of thousands of services as in one of two). */
int state_replicas_load_service(struct state_db *db, const char *deployment, const char *service,
				struct state_replicas *out, struct zl_err *err);
/* Every replica's backend id, sorted (strcmp order); caller frees with
 * state_names_free(). Cheap: the ids alone, not the rows. */
int state_replica_ids(struct state_db *db, char ***ids, size_t *count, struct zl_err *err);
/* Inserts or replaces the row (deployment, service, index). updated_at is
 * set by the caller. Writes nothing when the stored row is identical; a
 * different updated_at alone does not count as a difference. */
int state_replica_upsert(struct state_db *db, const struct state_replica *r, struct zl_err *err);
int state_replica_delete(struct state_db *db, const char *deployment, const char *service,
			 int index, struct zl_err *err);
/* *owner = "DEPLOYMENT/SERVICE-rep-N" of a replica other than (deployment,
 * service, index) whose backend id is backend_id, else NULL. Ids join names
 * that may themselves hold '-', so two replicas can map to one id. */
int state_replica_id_owner(struct state_db *db, const char *backend_id, const char *deployment,
			   const char *service, int index, char **owner, struct zl_err *err);

/* ---- deployments and services ---- */
struct state_service {
	char *deployment;
	char *name;
	char *rtype;
	int desired_replicas;
	char *spec_hash;
};
struct state_services {
	struct state_service *items;
	size_t count, cap;
};
void state_services_free(struct state_services *list);

/* Records that a deployment exists (source = file it came from). No write
 * when the row already holds the same source. */
int state_deployment_upsert(struct state_db *db, const char *name, const char *source,
			    int64_t now_ms, struct zl_err *err);
/* Deletes the deployment and its services (not its replicas: those are
 * real containers the reconciler removes and deletes one by one). */
int state_deployment_delete(struct state_db *db, const char *name, struct zl_err *err);
/* The source a deployment was last applied from (a file, or "-" for stdin);
 * *source NULL when the deployment is not recorded. Caller frees. */
int state_deployment_source(struct state_db *db, const char *name, char **source,
			    struct zl_err *err);
/* Names of recorded deployments, sorted. Caller frees with zl's free of each + array. */
int state_deployments_list(struct state_db *db, char ***names, size_t *count, struct zl_err *err);
void state_names_free(char **names, size_t count);

int state_services_load(struct state_db *db, const char *deployment, struct state_services *out,
			struct zl_err *err);
/* Insert or replace; no write when identical (now_ms alone is no change). */
int state_service_upsert(struct state_db *db, const struct state_service *s, int64_t now_ms,
			 struct zl_err *err);
int state_service_delete(struct state_db *db, const char *deployment, const char *name,
			 struct zl_err *err);

/* ---- the action journal ---- */
enum state_journal_status { STATE_JOURNAL_PENDING = 0, STATE_JOURNAL_DONE, STATE_JOURNAL_UNDONE,
			    STATE_JOURNAL_FAILED };
/* Stored by name: "pending", "done", "undone", "failed". */
const char *state_journal_status_name(enum state_journal_status s);
int state_journal_status_parse(const char *name, enum state_journal_status *s);
struct state_journal_entry {
	int64_t id;
	char *deployment, *service;
	int index;
	char *action;   /* "create", "remove", "restart", ... */
	char *spec_hash;
	enum state_journal_status status;
	char *detail;
	int64_t created_at, finished_at;
};
struct state_journal {
	struct state_journal_entry *items;
	size_t count, cap;
};
void state_journal_free(struct state_journal *j);

/* Appends a pending entry; *id receives its id. */
int state_journal_begin(struct state_db *db, const char *deployment, const char *service,
			int index, const char *action, const char *spec_hash, int64_t now_ms,
			int64_t *id, struct zl_err *err);
/* Marks an entry done / undone / failed (detail may be NULL). Fails when no
 * entry has that id. */
int state_journal_finish(struct state_db *db, int64_t id, enum state_journal_status status,
			 const char *detail, int64_t now_ms, struct zl_err *err);
/* Pending entries, oldest first. deployment NULL = all. */
int state_journal_pending(struct state_db *db, const char *deployment, struct state_journal *out,
			  struct zl_err *err);

/* ---- events ---- */
struct state_event {
	int64_t id;
	int64_t time;
	char *deployment, *service; /* NULL: not about one deployment (a pull) */
	int index; /* 0 = not about one replica */
	char *kind;    /* "created", "started", "exited", "removed", "failed", ... */
	char *message;
	char *data;    /* a JSON object of the event's facts, or NULL */
};
struct state_events {
	struct state_event *items;
	size_t count, cap;
};
void state_events_free(struct state_events *e);
/* How many events the table keeps: each add drops those older than the
 * newest STATE_EVENTS_KEPT (by id: one range delete on the primary key). */
#define STATE_EVENTS_KEPT 10000
int state_event_add(struct state_db *db, int64_t now_ms, const char *deployment,
		    const char *service, int index, const char *kind, const char *message,
		    struct zl_err *err);
/* state_event_add() with data, a JSON object of the event's facts (NULL = none). */
int state_event_add_data(struct state_db *db, int64_t now_ms, const char *deployment,
			 const char *service, int index, const char *kind, const char *message,
			 const char *data, struct zl_err *err);
/* The last `limit` events (0 = all), oldest first / newest last.
 * deployment NULL = all. */
int state_events_load(struct state_db *db, const char *deployment, size_t limit,
		      struct state_events *out, struct zl_err *err);
/* Events with id > after_id and time >= since_ms (0 = any), of deployment
 * (NULL = all), oldest first; at most limit (0 = no limit). Cheap on the
 * primary key: `events -f` polls with after_id = the last id seen. */
struct state_events_query {
	const char *deployment;
	int64_t after_id;
	int64_t since_ms;
	size_t limit;
};
int state_events_query(struct state_db *db, const struct state_events_query *q,
		       struct state_events *out, struct zl_err *err);

/* ---- images ---- */
/* A pulled image as the store holds it. reference is canonical
 * ("docker.io/library/busybox:latest", "oci:/dir:tag"). layers is a JSON
 * array of {digest, diff_id, media_type, size}, base first. */
struct state_image {
	char *reference;
	char *manifest_digest;
	char *config_digest;
	char *config;  /* image config JSON */
	char *layers;
	int64_t size;  /* config + compressed layers, bytes */
	int64_t pulled_at, last_used;
};
void state_image_clear(struct state_image *img);
struct state_images {
	struct state_image *items;
	size_t count, cap;
};
void state_images_free(struct state_images *list);
/* *found false (and *out zeroed) when no row. */
int state_image_get(struct state_db *db, const char *reference, struct state_image *out,
		    bool *found, struct zl_err *err);
/* Insert or replace; writes nothing when the row is identical. */
int state_image_upsert(struct state_db *db, const struct state_image *img, struct zl_err *err);
int state_image_touch(struct state_db *db, const char *reference, int64_t now_ms,
		      struct zl_err *err);
int state_image_delete(struct state_db *db, const char *reference, struct zl_err *err);
/* Ordered by reference. */
int state_images_load(struct state_db *db, struct state_images *out, struct zl_err *err);

/* ---- facts about the root (meta.c) ----
 * Keys: "root_id" (the root's identity, common/owner.c), "bridge" and
 * "subnet" (what its replicas' addresses are leased on). */
/* *value is NULL when key is not set; caller frees. */
int state_meta_get(struct state_db *db, const char *key, char **value, struct zl_err *err);
int state_meta_put(struct state_db *db, const char *key, const char *value, struct zl_err *err);

/* ---- IP leases ---- */
/* The address leased to a replica ("10.213.0.5"), or *ip NULL when none.
 * Caller frees *ip. */
int state_lease_get(struct state_db *db, const char *deployment, const char *service, int index,
		    char **ip, struct zl_err *err);
/* Every leased address (caller frees each and the array). */
int state_leases_ips(struct state_db *db, char ***ips, size_t *count, struct zl_err *err);
/* Records ip for the replica; fails when the address or the replica already has one. */
int state_lease_put(struct state_db *db, const char *ip, const char *deployment,
		    const char *service, int index, int64_t now_ms, struct zl_err *err);
/* Releases the replica's lease; none is fine. */
int state_lease_delete(struct state_db *db, const char *deployment, const char *service,
		       int index, struct zl_err *err);
/* Releases leases whose replica row no longer exists; *reclaimed counts them. */
int state_leases_reclaim(struct state_db *db, size_t *reclaimed, struct zl_err *err);

/* ---- runs of jobs and cron services ---- */
/* One run of a job or cron replica: written when it starts, completed when
 * its exit is observed (or when it is replaced). Times in ms; finished_at 0
 * = not finished (or not observed yet). */
struct state_run {
	char *deployment, *service;
	int64_t run_no;        /* 1, 2, ... per service */
	int index;             /* replica */
	char *spec_hash;
	char *cause;           /* why it ran: "created", "spec changed", "scheduled ...", "run requested", "exited 1" */
	int64_t scheduled_s;   /* cron: the scheduled time it ran for (unix s); 0 otherwise */
	int64_t started_at, finished_at;
	int exit_code;         /* -1 unknown */
	int exit_signal;       /* 0 none */
	char *reason;          /* exited | signal | oom_killed | timeout | replaced | ... */
	char *log_path;        /* the archived output; NULL while the replica still holds it */
};
void state_run_clear(struct state_run *r);
struct state_runs {
	struct state_run *items;
	size_t count, cap;
};
void state_runs_free(struct state_runs *list);

/* How many finished runs of a service are kept (rows and log files). */
#define STATE_RUNS_KEPT 5

/* Records a new run (run->run_no is assigned: one more than the service's
 * highest), then drops the service's runs beyond the last STATE_RUNS_KEPT.
 * *pruned_logs (may be NULL) gets the log paths of dropped runs (the caller
 * unlinks them after committing; free with state_names_free). Call inside
 * a transaction. */
int state_run_start(struct state_db *db, struct state_run *run, char ***pruned_logs,
		    size_t *pruned_count, struct zl_err *err);
/* Completes the open run (finished_at 0) of replica index: finished_at,
 * exit code, signal and reason. No open run is fine (nothing written). */
int state_run_finish(struct state_db *db, const char *deployment, const char *service, int index,
		     int64_t finished_at, int exit_code, int exit_signal, const char *reason,
		     struct zl_err *err);
/* Sets the archived log of a run. */
int state_run_set_log(struct state_db *db, const char *deployment, const char *service,
		      int64_t run_no, const char *log_path, struct zl_err *err);
/* The newest run of replica index; *found false when none. */
int state_run_latest(struct state_db *db, const char *deployment, const char *service, int index,
		     struct state_run *out, bool *found, struct zl_err *err);
/* Runs ordered by deployment, service, run_no. deployment NULL = all. */
int state_runs_load(struct state_db *db, const char *deployment, struct state_runs *out,
		    struct zl_err *err);

/* ---- revisions (revisions.c): a deployment's history ---- */
struct state_revision {
	char *deployment;
	int64_t number;     /* 1, 2, ... per deployment (assigned by state_revision_add) */
	char *hash;         /* what the revision asks for (reconcile/revision.c) */
	char *spec;         /* the deployment's YAML document as applied; NULL if unknown */
	char *source;       /* where it came from: a file path, "stdin", free text */
	char *cause;        /* "apply", "rollback", "automatic rollback" */
	int64_t restores;   /* a rollback: the revision it restored; 0 otherwise */
	char *status;       /* applying | applied | rolled back | stopped | failed */
	char *reason;       /* why it ended as it did; NULL when applied */
	int64_t created_at; /* ms */
};
void state_revision_clear(struct state_revision *r);
struct state_revisions {
	struct state_revision *items;
	size_t count, cap;
};
void state_revisions_free(struct state_revisions *list);

/* How many revisions of a deployment are kept. */
#define STATE_REVISIONS_KEPT 10

/* Records a new revision (status NULL = "applying"); rev->number gets its
 * number, one more than the deployment's highest. Then drops the
 * deployment's revisions beyond the last STATE_REVISIONS_KEPT. */
int state_revision_add(struct state_db *db, struct state_revision *rev, struct zl_err *err);
int state_revision_set_status(struct state_db *db, const char *deployment, int64_t number,
			      const char *status, const char *reason, struct zl_err *err);
/* *found false (and *out zeroed) when there is no such revision. */
int state_revision_get(struct state_db *db, const char *deployment, int64_t number,
		       struct state_revision *out, bool *found, struct zl_err *err);
int state_revision_latest(struct state_db *db, const char *deployment, struct state_revision *out,
			  bool *found, struct zl_err *err);
/* Oldest first. */
int state_revisions_load(struct state_db *db, const char *deployment, struct state_revisions *out,
			 struct zl_err *err);
/* The same without their specs (spec NULL): what deciding on a new revision
 * needs. An apply reads this every time; the specs are up to
 * STATE_REVISIONS_KEPT copies of the whole file. */
int state_revisions_load_brief(struct state_db *db, const char *deployment,
			       struct state_revisions *out, struct zl_err *err);

/* ---- cron schedules ---- */
struct state_schedule {
	char *deployment, *service;
	int64_t last_scheduled_s; /* the last scheduled time run (or the time first applied) */
	int64_t next_s;           /* the next scheduled time; -1 never */
};
struct state_schedules {
	struct state_schedule *items;
	size_t count, cap;
};
void state_schedules_free(struct state_schedules *list);
/* Ordered by deployment, service. deployment NULL = all. */
int state_schedules_load(struct state_db *db, const char *deployment, struct state_schedules *out,
			 struct zl_err *err);
/* Insert or replace; no write when identical. */
int state_schedule_put(struct state_db *db, const char *deployment, const char *service,
		       int64_t last_scheduled_s, int64_t next_s, struct zl_err *err);
int state_schedule_delete(struct state_db *db, const char *deployment, const char *service,
			  struct zl_err *err);

#endif
