/* backend.h: the vtable every container backend implements (DESIGN.md).
 *
 * The reconciler drives replicas only through struct backend_ops and never
 * knows which backend is behind it. A backend instance is the ops table plus
 * its own context (struct backend). Identity: backend ids are
 * "zl-<deployment>-<service>-<index>" (backend_replica_id()).
 */
#ifndef ZL_BACKEND_H
#define ZL_BACKEND_H

#include "common/common.h"
#include "spec/spec.h"

enum backend_status {
	BACKEND_STATUS_MISSING = 0, /* backend knows nothing of this id */
	BACKEND_STATUS_CREATED,
	BACKEND_STATUS_RUNNING,
	BACKEND_STATUS_EXITED,
	BACKEND_STATUS_UNKNOWN,     /* e.g. its monitor is gone */
};
const char *backend_status_name(enum backend_status s);

struct backend_state {
	enum backend_status status;
	int64_t pid;            /* -1 unknown */
	int64_t pid_start_time; /* -1 unknown */
	int exit_code;          /* -1 unknown */
	int exit_signal;        /* 0 none */
	char exit_reason[32];   /* exited | signal | oom_killed | runtime_error | host_rebooted | monitor_gone | "" */
	int64_t started_at, finished_at; /* ms since epoch, 0 unknown */
	char ip[64];            /* "" unknown */
	char netns[256];        /* "" none */
};

/* What a backend needs to create one replica. */
struct backend_replica_spec {
	const char *deployment;
	const struct spec_service *service;
	int index;
	const char *backend_id;
	const char *spec_hash;
	const struct spec_kv *env; /* resolved environment */
	size_t env_count;
	const char *image_digest;  /* manifest digest; NULL when the backend needs no image */
	const char *image_config;  /* image config JSON; NULL likewise */
	const char *const *layer_dirs; /* unpacked layers, base first */
	size_t layer_count;
	/* Network: ip leased for the replica on bridge/subnet; NULL ip = no
	 * bridge networking (network_mode host or none, or a backend without). */
	const char *ip;
	const char *bridge;
	const char *subnet; /* CIDR */
};

struct backend_stats {
	int64_t cpu_usage_ns;  /* -1 unknown */
	int64_t memory_bytes;  /* -1 unknown */
};

struct backend_log_opts {
	size_t tail;     /* last N lines; 0 = all */
	bool follow;     /* keep printing until the replica exits */
	bool timestamps; /* prefix each line with its time */
};

struct backend;

struct backend_ops {
	const char *name;
	/* Optional: sets up b->ctx when the backend is opened. */
	int (*init)(struct backend *b, struct zl_err *err);
	/* Does this backend give replicas bridge networking (so apply leases
	 * addresses for them)? NULL = no. */
	bool (*wants_network)(struct backend *b);
	/* Does this backend run images (so apply must pull them first)? */
	bool (*needs_images)(struct backend *b);
	/* Is the backend usable here? On failure err says why not. */
	int (*probe)(struct backend *b, struct zl_err *err);
	int (*create)(struct backend *b, const struct backend_replica_spec *spec,
		      struct zl_err *err);
	int (*start)(struct backend *b, const char *id, struct zl_err *err);
	/* Sends signo, waits up to timeout_ms for the exit, then SIGKILL.
	 * signo 0 / timeout_ms < 0: the replica's own stop_signal and
	 * stop_grace_period as recorded at create (SIGTERM / 10 s if none). */
	int (*stop)(struct backend *b, const char *id, int signo, int64_t timeout_ms,
		    struct zl_err *err);
	int (*kill)(struct backend *b, const char *id, int signo, struct zl_err *err);
	/* Optional: sends the stop signal now (signo 0: as recorded at create)
	 * without waiting; a stop() of id soon after does not send it again
	 * and waits only what is left of the grace period. Lets an apply stop
	 * many replicas in one grace period instead of one after another. */
	int (*stop_begin)(struct backend *b, const char *id, int signo, struct zl_err *err);
	/* Removes everything the backend holds for id; missing is not an error. */
	int (*remove)(struct backend *b, const char *id, struct zl_err *err);
	/* Cheap: no subprocess. Fills *st; an unknown id is status MISSING. */
	int (*state)(struct backend *b, const char *id, struct backend_state *st,
		     struct zl_err *err);
	/* Writes the replica's output to out (see struct backend_log_opts). */
	int (*logs)(struct backend *b, const char *id, const struct backend_log_opts *o, FILE *out,
		    struct zl_err *err);
	/* Runs argv inside the replica; *exit_code gets its exit code. A
	 * command that cannot start fails with *exit_code 127 (not found) or
	 * 126 (not runnable) and err in Docker's words. */
	int (*exec)(struct backend *b, const char *id, char *const argv[], int *exit_code,
		    struct zl_err *err);
	int (*stats)(struct backend *b, const char *id, struct backend_stats *st,
		     struct zl_err *err);
	/* Waits up to timeout_ms for id to exit; 0 when it exited. */
	int (*wait)(struct backend *b, const char *id, int64_t timeout_ms, struct zl_err *err);
	/* Optional: moves the output of id's finished run to dest_path (whose
	 * directory exists), so its next start begins a fresh log. No log is
	 * not an error (dest_path is then not created). NULL = nothing to keep. */
	int (*archive_logs)(struct backend *b, const char *id, const char *dest_path,
			    struct zl_err *err);
	void (*destroy)(struct backend *b);
};

struct backend {
	const struct backend_ops *ops;
	char *root; /* zlapply state root */
	void *ctx;  /* the backend's own */
};

/* Opens the backend called name ("mock", ...) under the state root. Unknown
 * names fail with kind INPUT and list the known ones. */
int backend_open(const char *name, const char *root, struct backend **out, struct zl_err *err);
void backend_close(struct backend *b);

/* "zl-<deployment>-<service>-<index>"; caller frees. */
char *backend_replica_id(const char *deployment, const char *service, int index);

/* ---- the mock backend (tests of the reconciler only) ----
 * Fake containers persist as files under <root>/mock/<id> so separate zlapply
 * runs see them. Faults for tests:
 *   - env ZLAPPLY_MOCK_DELAY_MS=N: every create and start sleeps N ms first;
 *   - env ZLAPPLY_MOCK_FAIL="op:id[,op:id...]" (op create|start|stop|remove,
 *     id a backend id or "*"): that operation fails;
 *   - backend_mock_set_exit(): a running fake replica exits with a code;
 *   - env ZLAPPLY_MOCK_PULL=1: the mock asks for images like a real backend,
 *     so apply's pull path can be tested without running containers. */
int backend_mock_set_exit(const char *root, const char *id, int exit_code, int exit_signal,
			  struct zl_err *err);
extern const struct backend_ops backend_mock_ops;
/* The OCI backend (backends/oci/): real containers via crun/runc under zlmon.
 * env ZLAPPLY_RUNTIME=PATH (the CLI's --runtime) picks the runtime. */
extern const struct backend_ops backend_oci_ops;

#endif
