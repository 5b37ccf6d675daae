/* backend.h: the vtable every container backend implements (docs/architecture.md).
 *
 * The reconciler drives replicas only through struct backend_ops and never
 * knows which backend is behind it. A backend instance is the ops table plus
 * its own context (struct backend). Identity: backend ids are
 * "zl-<deployment>-<service>-<index>" (backend_replica_id()).
 */
#ifndef ZL_BACKEND_H
#define ZL_BACKEND_H

#include "common/common.h"
#include "net/net.h"
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
	/* exited | signal | oom_killed | exec_failed | runtime_error |
	 * host_rebooted | monitor_gone | "" ; wasm: "wasm_trap: NAME",
	 * memory_limit, wasm_invalid, wasm_component */
	char exit_reason[48];
	int64_t started_at, finished_at; /* ms since epoch, 0 unknown */
	char ip[64];            /* "" unknown */
	char netns[256];        /* "" none */
	/* Running, but something it needs is gone (its network namespace or
	 * host veth deleted by hand): "network_lost"; "" none. */
	char fault[32];
	char fault_detail[320]; /* what exactly, for messages */
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
	/* A WebAssembly image: its module (or component) in the content
	 * store, shared by every replica; NULL for a container image. */
	const char *module_path;
	/* Which backend of a set (backend_open_set()) runs it: "wasm" for a
	 * WebAssembly image; NULL the set's first (the run's --backend). */
	const char *backend;
	/* Network: ip leased for the replica on bridge/subnet; NULL ip = no
	 * bridge networking (network_mode host or none, or a backend without). */
	const char *ip;
	const char *bridge;
	const struct net_subnet *subnet; /* the bridge's */
	/* Service names: hosts lines the replica's hosts file carries from
	 * the start (see set_names); NULL: none yet. */
	const char *names;
};

/* A replica's usage, from its cgroup; -1 unknown. Counters (cpu, block
 * i/o) grow for the life of the cgroup. */
struct backend_stats {
	int64_t cpu_usage_ns;
	int64_t memory_bytes;       /* usage, page cache included */
	int64_t memory_cache_bytes; /* of which inactive file cache (reclaimable) */
	int64_t memory_limit_bytes; /* -1 also when unlimited */
	int64_t pids;
	int64_t blkio_read_bytes, blkio_write_bytes;
};
/* Every field -1. */
#define BACKEND_STATS_UNKNOWN                                                              \
	((struct backend_stats){ -1, -1, -1, -1, -1, -1, -1 })

struct backend_log_opts {
	size_t tail;     /* last N lines; 0 = all; BACKEND_LOG_TAIL_NONE = none */
	bool follow;     /* keep printing until the replica exits */
	bool timestamps; /* prefix each line with its time */
};
/* tail: no line written so far, only what comes after (--tail 0 -f, as
 * docker's); without follow, nothing. */
#define BACKEND_LOG_TAIL_NONE SIZE_MAX

/* ---- what a backend left behind (zlapply doctor) ---- */

/* A replica the state root knows: recorded (a row owns it: nothing of it is
 * a leftover) or only traced (a pending journal entry or an event names it:
 * what the backend finds of it is this root's to sweep). */
struct backend_replica_ref {
	const char *deployment, *service;
	int index;
	const char *backend_id;
	bool recorded;
};

/* One thing a backend made that no recorded replica owns. */
struct backend_leftover {
	char *kind;   /* the backend's word: "dir", "mount", "netns", "veth", ... */
	char *name;   /* what to show: a path, a name, "pid N" */
	char *detail; /* why it is a leftover */
	char *key;    /* what sweep() works on */
};

struct backend_leftovers {
	struct backend_leftover *items; /* in the order sweep() should take them */
	size_t count, cap;
	/* Host-wide things that look like zlapply's but that this root has no
	 * trace of (another --root's): counted, never listed, never touched. */
	size_t foreign;
};
/* Appends a leftover (the strings are copied; fmt gives the detail). */
void backend_leftovers_add(struct backend_leftovers *l, const char *kind, const char *name,
			   const char *key, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void backend_leftovers_free(struct backend_leftovers *l);
/* Is root a zlapply state root (it holds state.db)? A backend refuses to
 * look for, or sweep, leftovers of a directory that is not one. */
int backend_root_check(const char *root, struct zl_err *err);

/* ---- what a backend holds (adoption after a lost database) ---- */

/* What the backend recorded at create of a replica it holds. */
struct backend_held {
	char *backend_id, *deployment, *service;
	/* Which backend made it, when the record says (a VM replica is held by
	 * oci but is vm's) or a set knows (the member holding it); NULL: the
	 * backend asked. */
	char *backend;
	int index;
	char *spec_hash;    /* NULL unknown */
	char *image_digest; /* NULL unknown */
};
void backend_held_free(struct backend_held *h, size_t n);
/* Asked by held() for each id: true when the caller knows it already. */
typedef bool (*backend_known_fn)(void *ctx, const char *backend_id);

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
	/* Optional (inspect): *json, a JSON object summing up how the backend
	 * runs id (runtime, process, mounts, namespaces, cgroup, limits; no
	 * environment values); caller frees. NULL op = nothing to say. */
	int (*inspect)(struct backend *b, const char *id, char **json, struct zl_err *err);
	/* Optional: moves the output of id's finished run to dest_path (whose
	 * directory exists), so its next start begins a fresh log. No log is
	 * not an error (dest_path is then not created). NULL = nothing to keep. */
	int (*archive_logs)(struct backend *b, const char *id, const char *dest_path,
			    struct zl_err *err);
	/* Optional: what the backend left on the host and under the root that
	 * no recorded replica of refs owns (its directories, mounts, monitors,
	 * cgroups, network namespaces...), appended to out in the order to
	 * sweep them. Needs no probe. Refuses a root backend_root_check()
	 * does not accept, listing nothing. */
	int (*leftovers)(struct backend *b, const struct backend_replica_ref *refs, size_t n_refs,
			 struct backend_leftovers *out, struct zl_err *err);
	/* Optional with leftovers: removes one leftover it listed; gone
	 * already is success. */
	int (*sweep)(struct backend *b, const struct backend_leftover *l, struct zl_err *err);
	/* Optional with leftovers: is it still there (a sweep of an earlier
	 * one may have taken it along)? NULL = assume so. */
	bool (*leftover_present)(struct backend *b, const struct backend_leftover *l);
	/* Optional: the replicas the backend holds under this root that known()
	 * does not know, with what it recorded of each at create, so that a
	 * lost or reset database can adopt them instead of colliding with
	 * them. Cheap for known ids (a no-op apply calls it): no record is read
	 * for them. *out is the caller's (backend_held_free). */
	int (*held)(struct backend *b, backend_known_fn known, void *ctx, struct backend_held **out,
		    size_t *n, struct zl_err *err);
	/* Optional: one line on how this backend runs replicas on this host
	 * (say, the hypervisor's acceleration), for status and doctor; NULL
	 * when there is nothing to say. Caller frees. */
	char *(*describe)(struct backend *b);
	/* Optional: makes names (hosts lines: the service names of
	 * docs/networking.md) the names section of id's /etc/hosts, in place,
	 * without restarting it, and only when they differ. A replica without
	 * a hosts file (no bridge network, not created yet) is success with
	 * nothing done. NULL: this backend's replicas have no hosts file. */
	int (*set_names)(struct backend *b, const char *id, const char *names, struct zl_err *err);
	void (*destroy)(struct backend *b);
};

/* What the caller chooses for a backend (flags and config, never the
 * environment). Every field may be NULL: the backend's own default. */
struct backend_options {
	/* The OCI runtime (path or name) oci runs containers with (--runtime). */
	const char *runtime;
	/* The WASI engine (path or name) wasm runs modules with (--wasm-engine). */
	const char *wasm_engine;
};

struct backend {
	const struct backend_ops *ops;
	char *root;    /* zlapply state root */
	char *runtime; /* backend_options.runtime, NULL = the backend's choice */
	char *wasm_engine; /* backend_options.wasm_engine, likewise */
	void *ctx;     /* the backend's own */
};

/* Opens the backend called name ("mock", ...) under the state root with
 * opts (NULL: defaults). Unknown names fail with kind INPUT and list the
 * known ones. */
int backend_open(const char *name, const char *root, const struct backend_options *opts,
		 struct backend **out, struct zl_err *err);
void backend_close(struct backend *b);

/* Opens the backends names[0..n) as one (backends/set.c): a create goes to
 * the member rs->backend names (NULL: the first), everything else about an
 * id to the member that holds it; its ops->name is the first member's.
 * Members after the first are probed when first needed. */
int backend_open_set(const char *const names[], size_t n, const char *root,
		     const struct backend_options *opts, struct backend **out, struct zl_err *err);
/* The member of a set called name; a plain backend: itself when it is
 * called name; NULL otherwise (b, when name is NULL). */
struct backend *backend_member(struct backend *b, const char *name);

/* Replica ids end up in paths: anything that could leave a directory
 * (empty, ".", "/", too long) is refused, kind INPUT. */
int backend_check_id(const char *id, struct zl_err *err);

/* "zl-<deployment>-<service>-<index>"; caller frees. */
char *backend_replica_id(const char *deployment, const char *service, int index);

/* The compiled-in backends (one per folder under backends/), for those that
 * must ask every one of them (doctor). */
size_t backend_count(void);
const char *backend_name_at(size_t i);

#endif
