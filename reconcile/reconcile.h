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
};

struct plan_desired {
	const char *deployment; /* borrowed */
	bool deleting;          /* the whole deployment goes (zlapply delete) */
	struct plan_desired_service *services; /* dependencies first */
	size_t count;
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
};

struct plan {
	struct plan_action *items;
	size_t count, cap;
};
void plan_free(struct plan *p);

/* Computes the ordered actions that take `actual` (replica rows; rows of other
 * deployments are ignored) to `desired` at time now_ms. Order: removals of
 * services dropped from the spec (highest index first), then per service in
 * dependency order: scale-down removals (highest index first), recreates /
 * restarts / creates by ascending index. Rolling: recreates are separate
 * actions executed one at a time. A converged deployment plans nothing. */
void plan_compute(const struct plan_desired *desired, const struct state_replicas *actual,
		  int64_t now_ms, struct plan *out);

/* "+ create web-rep-3", "~ recreate api-rep-1 (env changed)", "- remove old-rep-1". */
void plan_action_format(const struct plan_action *a, struct zl_buf *out);

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

#endif
