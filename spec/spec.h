/* spec.h: deployment YAML (ZLayer v1, docs/spec-reference.md) -> validated model.
 *
 * spec_load_paths() reads files, directories (*.yaml, *.yml, sorted) or "-"
 * (stdin); every YAML document is one deployment. All problems of all files
 * are collected into a struct spec_diags (file:line:col, key path, message)
 * instead of stopping at the first one.
 *
 * The unit parsers (duration, memory, cpu, cron) are public so they can be
 * unit-tested and reused (e.g. CLI flags such as --lock-timeout).
 *
 * spec_service_hash() computes the canonical spec hash of a replica: it covers
 * every field that affects a running replica (image, command, env after
 * resolution, resources, storage, ports, health, security, ...), with defaults
 * applied and units normalised, and nothing else (not scale, depends, comments,
 * key order or formatting).
 */
#ifndef ZL_SPEC_H
#define ZL_SPEC_H

#include <signal.h>

#include "common/common.h"

/* ---- diagnostics ---- */
struct spec_diag {
	char *file;  /* as given by the user; "-" for stdin */
	int line;    /* 1-based; 0 when not tied to a node */
	int col;     /* 1-based */
	char *path;  /* key path, e.g. "services.api.resources.memory"; may be "" */
	char *msg;   /* e.g. "expected <n>Ki|Mi|Gi|Ti, got \"512M\"" */
	bool is_note; /* a note (e.g. ignored cluster keys), not an error */
};

struct spec_diags {
	struct spec_diag *items;
	size_t count, cap;
	size_t errors; /* number of items with is_note == false */
};

void spec_diags_add(struct spec_diags *d, bool is_note, const char *file, int line, int col,
		    const char *path, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
/* Prints each diag as "FILE:LINE:COL: PATH: MSG" ("note: " before notes). */
void spec_diags_print(const struct spec_diags *d, FILE *out);
void spec_diags_free(struct spec_diags *d);

/* ---- scalar parsers (return 0, or -1 with a message in err; kind INPUT) ---- */
/* "30s", "1h30m", "1h 30m", "250ms", units ns us ms s m h d w, sec(s) min(s)
 * hour(s) day(s) week(s). A bare number is an error ("time unit needed").
 * Result in milliseconds (ns/us round up to 1 ms when non-zero). */
int spec_parse_duration(const char *s, int64_t *ms, struct zl_err *err);
/* "512Mi" -> bytes. Positive integer + Ki|Mi|Gi|Ti only (binary units;
 * no K, M, G, KB, decimals or bare numbers): ZLayer's rule for
 * resources.memory and wasm.max_memory. */
int spec_parse_memory(const char *s, int64_t *bytes, struct zl_err *err);
/* cpu must be a YAML number (plain scalar) > 0; quoted is an error.
 * Returns millicores (0.25 -> 250), rounding to the nearest. */
int spec_parse_cpu(const char *s, bool quoted, int64_t *millicores, struct zl_err *err);
/* Signal name ("SIGTERM", "term", "TERM", "15") -> number. */
int spec_parse_signal(const char *s, int *signo, struct zl_err *err);
const char *spec_signal_name(int signo); /* "SIGTERM"; NULL if unknown */
struct spec_service;
/* The stop signal the spec asks for, or 0 when it names none: then the
 * image's StopSignal applies, else SIGTERM (Docker's precedence), which
 * only the backend that read the image knows. */
int spec_stop_signal(const struct spec_service *svc);

/* Cron: 5 fields (min hour dom mon dow), 6 (sec ...), 7 (... year).
 * Names JAN-DEC and SUN-SAT, ranges, lists, steps, '*', '?'. UTC. */
struct spec_cron {
	uint64_t seconds;  /* bit i set: second i allowed (0..59) */
	uint64_t minutes;  /* 0..59 */
	uint32_t hours;    /* 0..23 */
	uint32_t mdays;    /* bit 1..31 */
	uint16_t months;   /* bit 1..12 */
	uint8_t wdays;     /* bit 0..6, Sunday = 0 (7 accepted as Sunday) */
	bool mday_star, wday_star; /* for the POSIX day-of-month/day-of-week OR rule */
	bool any_year;
	uint16_t year_min, year_max; /* when !any_year: allowed years (inclusive range list collapsed) */
	uint64_t years[3]; /* bit (year - 2000) for 2000..2191 when !any_year */
};
int spec_parse_cron(const char *expr, struct spec_cron *cron, struct zl_err *err);
/* The first fire time strictly after after_s (unix seconds, UTC), or -1 when
 * none within ~5 years (a cron that never fires). */
int64_t spec_cron_next(const struct spec_cron *cron, int64_t after_s);

/* ---- the model ---- */
struct spec_kv { /* ordered by key after parsing */
	char *key;
	char *value;
};

struct spec_strv { /* list of strings */
	char **items;
	size_t count;
};

enum spec_rtype { SPEC_RTYPE_SERVICE = 0, SPEC_RTYPE_JOB, SPEC_RTYPE_CRON };
enum spec_pull_policy {
	SPEC_PULL_IF_NOT_PRESENT = 0, SPEC_PULL_ALWAYS, SPEC_PULL_NEWER, SPEC_PULL_NEVER
};
enum spec_scale_mode { SPEC_SCALE_ADAPTIVE = 0, SPEC_SCALE_FIXED, SPEC_SCALE_MANUAL };
enum spec_expose { SPEC_EXPOSE_INTERNAL = 0, SPEC_EXPOSE_PUBLIC };
enum spec_storage_type {
	SPEC_STORAGE_BIND = 0, SPEC_STORAGE_NAMED, SPEC_STORAGE_ANONYMOUS, SPEC_STORAGE_TMPFS,
	SPEC_STORAGE_S3
};
enum spec_check_type { SPEC_CHECK_NONE = 0, SPEC_CHECK_TCP, SPEC_CHECK_HTTP, SPEC_CHECK_COMMAND };
enum spec_condition { SPEC_COND_HEALTHY = 0, SPEC_COND_STARTED, SPEC_COND_READY };
enum spec_on_timeout { SPEC_ON_TIMEOUT_FAIL = 0, SPEC_ON_TIMEOUT_WARN, SPEC_ON_TIMEOUT_CONTINUE };
enum spec_restart_kind {
	SPEC_RESTART_UNSET = 0, /* no restart_policy: errors.on_panic decides */
	SPEC_RESTART_NO, SPEC_RESTART_ALWAYS, SPEC_RESTART_UNLESS_STOPPED, SPEC_RESTART_ON_FAILURE
};
enum spec_panic_action { SPEC_PANIC_RESTART = 0, SPEC_PANIC_SHUTDOWN, SPEC_PANIC_ISOLATE };
enum spec_init_failure_action { SPEC_INIT_FAIL = 0, SPEC_INIT_RESTART, SPEC_INIT_BACKOFF };

struct spec_endpoint {
	char *name;
	char *protocol; /* http https tcp udp websocket */
	int port;
	int target_port; /* = port when absent */
	char *path, *host;
	enum spec_expose expose;
};

struct spec_port_mapping {
	int host_port; /* 0 = ephemeral */
	int container_port;
	char *protocol; /* tcp | udp */
	char *host_ip;  /* default "0.0.0.0" */
};

struct spec_storage {
	enum spec_storage_type type;
	char *source;  /* bind */
	char *name;    /* named */
	char *target;
	bool readonly;
	bool nocopy;   /* named, anonymous: no copy-up of the image's files */
	char *tier;
	int64_t size_bytes; /* 0 = unset */
	int mode;           /* tmpfs; -1 = unset */
	char *bucket, *prefix, *endpoint; /* s3 */
};

struct spec_health {
	bool present;
	enum spec_check_type check;
	int port;             /* tcp */
	char *url;            /* http */
	int expect_status;    /* http, default 200 */
	struct spec_strv command; /* command: a string becomes ["/bin/sh","-c",s] */
	int64_t start_grace_ms; /* default 5s */
	int64_t interval_ms;    /* default 10s */
	int64_t timeout_ms;     /* default 5s */
	int retries;            /* default 3 */
	/* zlapply's key rollout_deadline: how long a replaced replica of a
	 * rolling update has to become ready; 0 = not given, the default is
	 * spec_rollout_deadline_ms(). Outside the spec hash: it says how to
	 * roll out, not what runs. */
	int64_t rollout_deadline_ms;
};

/* zlapply's own block rollout: how a changed service is replaced (docs/
 * spec-reference.md, rollout). Outside the spec hash, like
 * health.rollout_deadline: it says how to roll out, not what runs. */
struct spec_rollout {
	/* max_unavailable: at most this many replicas of the service are
	 * replaced at once, given as a count (>= 1) or a percentage of the
	 * desired replicas (1..100, rounded down, at least 1); both 0 = not
	 * given, the default is 25%. See spec_rollout_batch(). */
	int max_unavailable;
	int max_unavailable_percent;
};

struct spec_depend {
	char *service;
	enum spec_condition condition;
	int64_t timeout_ms; /* default 300s */
	enum spec_on_timeout on_timeout;
	int line, col;
};

struct spec_init_step {
	char *id;
	char *uses; /* init.wait_tcp | init.wait_http | init.run */
	struct spec_kv *with; /* scalar values; a list value is joined as JSON */
	size_t with_count;
	int retry;          /* 0 = none */
	int64_t timeout_ms; /* default 300s */
	enum spec_on_timeout on_failure;
};

struct spec_device {
	char *path;
	bool read, write, mknod;
};

struct spec_ulimit {
	char *name; /* nofile, nproc, ... */
	int64_t soft, hard;
};

struct spec_resources {
	int64_t cpu_millicores;  /* 0 = unset */
	int64_t memory_bytes;    /* 0 = unset */
	int64_t pids_limit;      /* 0 = unset */
	char *cpuset;
	int64_t cpu_shares;      /* 0 = unset */
	int64_t memory_swap;     /* 0 = unset; -1 unlimited */
	int64_t memory_reservation;
	int memory_swappiness;   /* -1 = unset */
	int oom_score_adj;       /* 0 default */
	bool oom_kill_disable;
	int blkio_weight;        /* 0 = unset */
	int gpu_count;           /* 0 = none */
	char *gpu_vendor;
};

/* service_type: ZLayer's values. Only the wasm_* ones matter on one host
 * (they declare a WebAssembly service); standard and job change nothing. */
enum spec_service_type {
	SPEC_SERVICE_TYPE_UNSET = 0, /* no service_type key (ZLayer's default, standard) */
	SPEC_SERVICE_TYPE_STANDARD,
	SPEC_SERVICE_TYPE_WASM_HTTP,
	SPEC_SERVICE_TYPE_WASM_PLUGIN,
	SPEC_SERVICE_TYPE_WASM_TRANSFORMER,
	SPEC_SERVICE_TYPE_WASM_AUTHENTICATOR,
	SPEC_SERVICE_TYPE_WASM_RATE_LIMITER,
	SPEC_SERVICE_TYPE_WASM_MIDDLEWARE,
	SPEC_SERVICE_TYPE_WASM_ROUTER,
	SPEC_SERVICE_TYPE_JOB,
};

/* isolation: how a replica is separated from the host. process (the
 * default): a container sharing the host kernel; vm (ZLayer's Windows
 * value hyperv means the same): a lightweight VM with its own kernel. */
enum spec_isolation { SPEC_ISOLATION_UNSET = 0, SPEC_ISOLATION_PROCESS, SPEC_ISOLATION_VM };

struct spec_wasm_preopen {
	char *source;  /* absolute host directory */
	char *target;  /* absolute guest path the module sees */
	bool readonly; /* default false */
};

/* The wasm: block (ZLayer's WasmConfig; also read under its old name
 * wasm_http:). Keys zlapply cannot honour with node:wasi are recorded by
 * the parser and refused by validation, so a loaded spec never has them
 * set; they are kept for the record (and for callers that check twice). */
struct spec_wasm {
	bool present;
	int64_t max_memory;     /* bytes; -1 = no cap */
	struct spec_wasm_preopen *preopens;
	size_t preopen_count;
	/* May the module see directories (preopens, storage mounts)? Validation
	 * refuses either one without it. capabilities.filesystem
	 * when a capabilities mapping is given (false when it omits the key),
	 * else the service_type's default (false for the wasm_* types but
	 * wasm_plugin, true otherwise). Set even without a wasm: block. */
	bool filesystem;
	/* Refused (see docs/spec-reference.md#wasm-and-service_type): */
	bool has_max_fuel;        /* max_fuel > 0 (0 is ZLayer's "unlimited", accepted) */
	bool has_epoch_interval;
	bool has_request_timeout;
	bool has_min_instances, has_max_instances, has_idle_timeout; /* request instance pool */
	bool allow_tcp, allow_udp;           /* true is refused */
	bool cap_sockets, cap_http_client;   /* capabilities.*: true is refused */
	bool has_capabilities, cap_filesystem; /* the capabilities mapping, for filesystem above */
	/* Accepted with no effect (ZLayer host interfaces that a preview-1
	 * module cannot import, or settings of ZLayer's engine):
	 * capabilities config, keyvalue, logging, secrets, metrics, cli;
	 * allow_http_outgoing, allowed_hosts, kv_enabled, kv_namespace,
	 * kv_max_value_size, secrets, precompile. Type-checked, not kept. */
};

bool spec_service_type_is_wasm(enum spec_service_type t);
/* "wasm_http", ...; "standard" for UNSET. */
const char *spec_service_type_name(enum spec_service_type t);

struct spec_scale {
	enum spec_scale_mode mode;
	int replicas;       /* fixed */
	int min, max;       /* adaptive */
	int64_t cooldown_ms;
};

struct spec_service {
	char *name;
	int line, col; /* of the service's key */
	enum spec_rtype rtype;
	char *schedule; /* cron text; required iff rtype == CRON */
	struct spec_cron cron;

	char *image;
	enum spec_pull_policy pull_policy;
	char *source_policy;

	struct spec_strv entrypoint; /* command.entrypoint; count 0 = image's */
	struct spec_strv args;       /* command.args or list-form command */
	bool has_entrypoint, has_args;
	char *workdir;

	struct spec_kv *env; /* raw values ("$E:VAR", "$S:name" kept as written) */
	size_t env_count;

	struct spec_resources resources;
	struct spec_scale scale;

	struct spec_endpoint *endpoints;
	size_t endpoint_count;
	struct spec_port_mapping *port_mappings;
	size_t port_mapping_count;
	struct spec_storage *storage;
	size_t storage_count;

	struct spec_health health;
	struct spec_rollout rollout;
	struct spec_depend *depends;
	size_t depend_count;
	struct spec_init_step *init_steps;
	size_t init_step_count;

	enum spec_init_failure_action on_init_failure;
	enum spec_panic_action on_panic;
	enum spec_restart_kind restart_kind;
	int restart_max_attempts; /* 0 = unlimited */
	int64_t restart_delay_ms; /* 0 = default back-off */

	int stop_signal;          /* default SIGTERM (see spec_stop_signal()) */
	bool stop_signal_set;     /* given in the spec: it overrides the image's StopSignal */
	int64_t stop_grace_ms;    /* default 10s */
	bool delete_on_exit;

	char *network_mode; /* "default" unless set; host_network: true -> "host" */
	char *hostname;     /* NULL = "<service>-rep-<n>" */
	struct spec_strv dns, extra_hosts;
	char *user;
	bool privileged, read_only_root_fs, tty, stdin_open, init_container;
	struct spec_strv cap_add, cap_drop, security_opt, extra_groups;
	struct spec_device *devices;
	size_t device_count;
	struct spec_kv *sysctls;
	size_t sysctl_count;
	struct spec_ulimit *ulimits;
	size_t ulimit_count;
	struct spec_kv *labels;
	size_t label_count;
	char *cgroup_parent, *pid_mode, *ipc_mode, *userns_mode;

	enum spec_service_type service_type; /* SPEC_SERVICE_TYPE_UNSET = 0 when the key is absent */
	struct spec_wasm wasm;               /* present == false when there is no wasm: block */
	enum spec_isolation isolation;       /* UNSET when the key is absent (a container) */
};

struct spec_deployment {
	char *name;
	char *file; /* file it came from */
	int line;   /* line of the document start */
	char *text; /* the document as written (it loads on its own); NULL
		     * for a UTF-16 file */
	struct spec_service *services; /* in topological order of depends (dependencies first) */
	size_t service_count;
	/* Indices into services sorted by name, for spec_deployment_find()
	 * (a lookup per replica must not cost a scan per service); NULL in a
	 * deployment not made by the loader: then it scans. */
	size_t *by_name;
};

struct spec_set {
	struct spec_deployment *deployments;
	size_t count;
};

/* ---- limits (docs/spec-reference.md, "Limits") ----
 * What one run reads is bounded, so a hostile or broken file fails fast
 * with an error at its place instead of eating time or memory:
 *   - a file (or stdin) is at most SPEC_MAX_FILE_BYTES; what goes on past
 *     that is not read;
 *   - lists and mappings nest at most SPEC_MAX_DEPTH deep;
 *   - a file has at most SPEC_MAX_NODES nodes and SPEC_MAX_TEXT_BYTES of
 *     scalar text, counting what every alias repeats (so aliases cannot
 *     multiply a small file into a huge tree);
 *   - no scalar (key or value) holds a NUL byte, which C strings would cut;
 *   - a -f path, a file of a -f directory and a secret must be regular
 *     files: a FIFO, device or socket is refused before it is opened for
 *     reading (a FIFO would block the run forever);
 *   - a secret is at most SPEC_MAX_SECRET_BYTES.
 * The parse is linear in the input. */
#define SPEC_MAX_FILE_BYTES ((size_t)16 << 20)
#define SPEC_MAX_DEPTH 64
#define SPEC_MAX_NODES ((size_t)1000000)
#define SPEC_MAX_TEXT_BYTES ((size_t)32 << 20)
#define SPEC_MAX_SECRET_BYTES ((size_t)1 << 20)

/* Loading stops early, with the error "interrupted", once *flag is
 * non-zero: it is checked between files and documents, every few thousand
 * YAML events and in the walk of every mapping. `watch` points it at what
 * its SIGTERM/SIGINT handler sets, so no load can delay its exit. NULL (the
 * default): never interrupted. */
void spec_set_interrupt_flag(const volatile sig_atomic_t *flag);

/* Loads every path (file, directory or "-"). Returns 0 when there is no
 * error diag; -1 otherwise (diags has the details, set is still filled with
 * what parsed and must be freed). */
int spec_load_paths(const char *const *paths, size_t path_count, struct spec_set *set,
		    struct spec_diags *diags);
/* Parses one YAML text (a file's contents); file names the diags. Both
 * add to set, which must be empty ({0}) or filled by them only (they size
 * its array). */
int spec_load_text(const char *file, const char *text, size_t len, struct spec_set *set,
		   struct spec_diags *diags);
void spec_set_free(struct spec_set *set);

const struct spec_service *spec_deployment_find(const struct spec_deployment *d, const char *name);
/* How long a new replica of a rolling update may take to become ready:
 * health.rollout_deadline, else start_grace + retries x interval + timeout
 * (docs/spec-reference.md, health). */
int64_t spec_rollout_deadline_ms(const struct spec_health *h);
/* How many replicas of a rolling update of svc are replaced at once, with
 * `replicas` desired: rollout.max_unavailable, else 25% of them (as
 * Kubernetes' maxUnavailable), rounded down, at least 1. */
#define SPEC_ROLLOUT_DEFAULT_PERCENT 25
int spec_rollout_batch(const struct spec_service *svc, int replicas);
/* rollout.max_unavailable as a percentage when not a count: the given one,
 * else SPEC_ROLLOUT_DEFAULT_PERCENT (0 when it is a count). */
int spec_rollout_percent(const struct spec_service *svc);
/* Desired replica count: fixed -> replicas, adaptive -> min, manual -> 0. */
int spec_service_desired_replicas(const struct spec_service *svc);
/* Does the spec alone say the service runs WebAssembly: service_type
 * wasm_*, a wasm: block, or an image "file:..." (a module on disk)? A
 * registry or oci: image is known to be WASM only after the pull. */
bool spec_service_declares_wasm(const struct spec_service *svc);

/* ---- rules the spec alone decides, shared by validate and the backends ----
 * Each returns NULL when fine, else what is wrong (a static text, without
 * the key: callers name it). */
/* A container path: absolute, not "/", no "." or ".." component. */
bool spec_container_path_ok(const char *path);
/* A replica's hostname: 1..64 of [A-Za-z0-9._-]. */
const char *spec_hostname_problem(const char *name);
/* A device path: under /dev/, no "." or ".." component. */
const char *spec_device_path_problem(const char *path);
/* user: uid[:gid] or name[:group]; a number is 0..4294967294. */
const char *spec_user_problem(const char *user);
/* pid_mode (host|private), ipc_mode (host|private|shareable), userns_mode (host). */
const char *spec_ns_mode_problem(const char *key, const char *mode);
/* sysctls.KEY: namespaced, and not in a namespace shared with the host. */
const char *spec_sysctl_problem(const struct spec_service *svc, const char *key);
/* command: an explicitly empty entrypoint and args, or an empty program. */
const char *spec_command_problem(const struct spec_service *svc);

/* resources: memory at least SPEC_MIN_MEMORY, memory_reservation at most
 * memory, memory_swap (memory + swap, as Docker) with memory and not below
 * it, cpu at least 0.01 (the kernel's 1 ms quota per 100 ms); a WASM
 * service's memory at least SPEC_MIN_WASM_MEMORY. Returns the key under
 * resources that is wrong ("memory_swap") with what is wrong in buf, or NULL
 * when fine. */
#define SPEC_MIN_MEMORY ((int64_t)6 << 20)      /* runc refuses less */
#define SPEC_MIN_WASM_MEMORY ((int64_t)64 << 20) /* the engine's own share */
const char *spec_resources_problem(const struct spec_service *svc, char *buf, size_t len);
/* "64Mi" when exact, else "N bytes": messages echo what the user wrote. */
void spec_format_memory(int64_t bytes, char out[32]);
/* One security_opt entry: no-new-privileges[:true|false],
 * systempaths=unconfined, seccomp=unconfined|builtin|/abs/profile.json,
 * apparmor=..., label=.... */
const char *spec_security_opt_problem(const char *opt);

/* Linux capability names (capability.c): "NET_ADMIN", "cap_net_admin";
 * the index is the capability's number. */
#define SPEC_CAP_COUNT 41
#define SPEC_CAP_ALL (-2)
/* The number of a name, SPEC_CAP_ALL for "ALL", -1 for an unknown name. */
int spec_capability_index(const char *name);
/* The name of a number ("NET_ADMIN", without CAP_), NULL out of range. */
const char *spec_capability_name(int index);

/* The RLIMIT_* number of a ulimits name ("nofile": RLIMIT_NOFILE), -1 for
 * an unknown name. */
int spec_ulimit_resource(const char *name);

/* Checks against this host, made while loading when enabled (reconcile's
 * spec loading enables them for validate and apply; off by default and in
 * the unit tests): capabilities zlapply cannot hand out, ulimits above what
 * it may grant, an oom_score_adj below its own without CAP_SYS_RESOURCE, a
 * bind source or device that does not exist or is of the wrong kind. So a
 * spec this host's backends would refuse is refused, with its file:line:col,
 * before anything changes. */
void spec_set_host_checks(bool enabled);

/* ---- environment ---- */
/* Resolves env values: "$E:VAR" (whole value) from the process environment,
 * "$S:name" and "$secret://name" from secrets_dir/<name> (trailing newline
 * stripped). A missing variable or secret is an error naming the service and
 * key; secret values are never put into messages. *out (sorted by key) is
 * owned by the caller: free with spec_kv_free(). */
int spec_service_resolve_env(const struct spec_service *svc, const char *secrets_dir,
			     struct spec_kv **out, size_t *out_count, struct zl_err *err);
void spec_kv_free(struct spec_kv *kv, size_t count);

/* ---- canonical spec hash ---- */
/* Env is resolved as spec_service_resolve_env() does. Fills *hash (64 hex) and *sections: a JSON object text mapping each section
 * name ("image", "command", "env", "resources", "storage", "ports", "health",
 * "security", "network", "lifecycle", "init", "runtime", and "wasm" only for
 * a service with a wasm: block or a wasm_* service_type) to the sha256 of that
 * section's canonical form, so a planner can say what changed. Caller frees
 * *sections. Errors (missing variable or secret) name the service and key. */
int spec_service_hash(const struct spec_deployment *dep, const struct spec_service *svc,
		      const char *secrets_dir, char hash[65], char **sections,
		      struct zl_err *err);
/* inspect: the canonical sections of svc as spec_service_hash() sees them,
 * but with env values as written ("$S:name" and "$E:VAR" unresolved, so no
 * secret is shown), as one JSON object text. Caller frees. */
char *spec_service_describe(const struct spec_service *svc);
/* Names of sections that differ between two section JSON texts, joined with
 * ", " ("env, resources"); "spec" when either is unparsable. Caller frees. */
char *spec_sections_diff(const char *old_sections, const char *new_sections);

#endif
