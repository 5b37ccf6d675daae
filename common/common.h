/* common.h: what every zlapply module shares.
 *
 * - struct zl_err: the one error convention (STYLE.md). A failing function
 *   returns a negative int and fills *err; callers add context with
 *   zl_err_prefix() on the way up, so the final message reads like a sentence.
 * - allocation that aborts on out-of-memory (zl_x*), cleanup attributes,
 * - a growable string buffer, logging, clock and filesystem helpers,
 *   sha256 through OpenSSL's libcrypto.
 */
#ifndef ZL_COMMON_H
#define ZL_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Error kinds double as the CLI's exit codes. */
enum zl_err_kind {
	ZL_ERR_NONE = 0,
	ZL_ERR_FAIL = 1,    /* an operation failed */
	ZL_ERR_INPUT = 2,   /* invalid input or usage */
	ZL_ERR_TIMEOUT = 3, /* not done before a deadline */
	ZL_ERR_BUSY = 4,    /* another zlapply held the lock past --lock-timeout */
};

struct zl_err {
	enum zl_err_kind kind;
	int sys_errno; /* errno the OS gave, 0 if none */
	char msg[2048];
};

#define ZL_ERR_INIT { ZL_ERR_NONE, 0, "" }

/* Sets *err (when err is not NULL) and returns -1. sys_errno != 0 appends
 * ": strerror(sys_errno)". */
int zl_err_set(struct zl_err *err, enum zl_err_kind kind, int sys_errno,
	       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Shorthands: zl_fail (ZL_ERR_FAIL, no errno), zl_fail_errno (ZL_ERR_FAIL,
 * current errno), zl_invalid (ZL_ERR_INPUT). All return -1. */
#define zl_fail(err, ...) zl_err_set((err), ZL_ERR_FAIL, 0, __VA_ARGS__)
#define zl_fail_errno(err, ...) zl_err_set((err), ZL_ERR_FAIL, errno, __VA_ARGS__)
#define zl_invalid(err, ...) zl_err_set((err), ZL_ERR_INPUT, 0, __VA_ARGS__)
/* Prepends "<context>: " to the message; keeps kind and errno. Returns -1. */
int zl_err_prefix(struct zl_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void zl_err_clear(struct zl_err *err);

/* Allocation: abort with a message on out-of-memory. */
void *zl_xmalloc(size_t n);
void *zl_xcalloc(size_t count, size_t size);
void *zl_xrealloc(void *p, size_t n);
char *zl_xstrdup(const char *s);          /* NULL in, NULL out */
char *zl_xstrndup(const char *s, size_t n);
char *zl_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *zl_xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
/* Grows *items (of item_size each) so it holds at least need items. */
void zl_grow(void *items_ptr, size_t item_size, size_t *cap, size_t need);

/* Cleanup attributes (systemd style). */
static inline void zl_freep(void *p) { free(*(void **)p); }
static inline void zl_closep(int *fd) { if (*fd >= 0) close(*fd); }
static inline void zl_fclosep(FILE **f) { if (*f) fclose(*f); }
#define _cleanup_free_ __attribute__((cleanup(zl_freep)))
#define _cleanup_close_ __attribute__((cleanup(zl_closep)))
#define _cleanup_fclose_ __attribute__((cleanup(zl_fclosep)))

/* Growable NUL-terminated byte buffer. data may be NULL while len == 0. */
struct zl_buf {
	char *data;
	size_t len;
	size_t cap;
};
void zl_buf_append(struct zl_buf *b, const void *data, size_t n);
void zl_buf_puts(struct zl_buf *b, const char *s);
void zl_buf_printf(struct zl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Returns the string and leaves b empty; caller frees. Never NULL. */
char *zl_buf_steal(struct zl_buf *b);
void zl_buf_free(struct zl_buf *b);

/* Logging to stderr. */
enum zl_log_level { ZL_LOG_ERROR = 0, ZL_LOG_WARN, ZL_LOG_INFO, ZL_LOG_DEBUG };
void zl_log_set_level(enum zl_log_level level);
enum zl_log_level zl_log_get_level(void);
void zl_log(enum zl_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Where zl_log() lines go instead of "zlapply: ..." on stderr (NULL: back to
 * stderr). zlapply watch sets one so every line it writes is logfmt. The
 * sink sees only lines at or below the level; msg is the formatted text. */
typedef void (*zl_log_sink_fn)(enum zl_log_level level, const char *msg);
void zl_log_set_sink(zl_log_sink_fn sink);

/* Clocks. */
int64_t zl_now_ms(void);       /* wall clock, ms since the epoch */
int64_t zl_monotonic_ms(void); /* monotonic clock */
/* Formats ms since the epoch as RFC 3339 UTC ("2026-11-22T10:00:00Z"). */
void zl_format_time(int64_t ms, char out[32]);
/* Formats a byte count for people: "512 B", "1.5 KiB", "200.0 MiB"; a
 * negative (unknown) size is "unknown size". */
void zl_format_size(int64_t bytes, char out[32]);

/* sha256 of data as 64 lowercase hex digits + NUL. */
void zl_sha256_hex(const void *data, size_t len, char out[65]);
/* OpenSSL's SHA-256 (an EVP_MD), fetched once, for EVP_DigestInit_ex. */
struct evp_md_st;
const struct evp_md_st *zl_sha256_evp(void);

/* This process's powers over the replicas it makes (host.c). */
/* One of its capability sets ("CapBnd", "CapEff") from /proc/self/status;
 * false when it cannot be read. */
bool zl_own_caps(const char *set, uint64_t *mask);
/* Whether it holds CAP_SYS_RESOURCE (some sandboxes drop it even for root):
 * without it no hard rlimit goes above its own and no oom_score_adj below
 * its own. True when unknown (the runtime decides). */
bool zl_have_cap_sys_resource(void);
/* The hard limit of an RLIMIT_* it can grant (UINT64_MAX: any). */
uint64_t zl_rlimit_grantable(int resource);
/* Its own oom_score_adj (0 when unreadable). */
int zl_own_oom_score_adj(void);

/* Filesystem. */
int zl_mkdir_p(const char *path, unsigned mode, struct zl_err *err);
/* Reads a whole file (or "-" for stdin); *data is NUL-terminated, caller frees. */
int zl_read_file(const char *path, char **data, size_t *len, struct zl_err *err);
/* What a st_mode names, for messages: "a regular file", "a directory",
 * "a FIFO (named pipe)", "a character device", "a block device", "a
 * socket", "a symbolic link". */
const char *zl_file_kind(unsigned mode);
/* Opens path read-only when it is a regular file, and only then: the type
 * is looked at with stat (lstat when nofollow) before the open, so a FIFO
 * is never opened (it would block) and a device never opened (opening
 * some has effects); the open adds O_NONBLOCK and O_NOCTTY (and
 * O_NOFOLLOW when nofollow) and fstat checks that the file opened is the
 * regular file looked at. Returns the fd (O_CLOEXEC), or -1: a file that is
 * not regular is kind INPUT with sys_errno 0, the message "not a regular
 * file but <kind>" and its st_mode in *mode (when mode is not NULL); an
 * open or stat failure keeps its errno. */
int zl_open_regular(const char *path, bool nofollow, unsigned *mode, struct zl_err *err);
/* Reads fd to its end but at most max bytes (a caller passing its limit + 1
 * learns whether there was more). *data is NUL-terminated; caller frees.
 * Waits on a non-blocking fd instead of failing with EAGAIN. */
int zl_read_fd_max(int fd, size_t max, char **data, size_t *len, struct zl_err *err);
/* Writes data to path via a temporary file, fsync and rename. */
int zl_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode,
			 struct zl_err *err);
/* The same without the fsync: a process killed at any point leaves the old
 * file or the new one whole (the rename), but a power loss may leave it
 * empty or gone. For records that mean nothing after a reboot, and for a
 * batch of records made durable at its end by one zl_sync_files(). */
int zl_write_file_atomic_nosync(const char *path, const void *data, size_t len, unsigned mode,
				struct zl_err *err);
/* Makes the files names (NULL-terminated; missing ones are skipped, at
 * most 16) of dir and their entries in dir durable: the barrier of a batch
 * written with zl_write_file_atomic_nosync(). Every file's writeback starts
 * before the first is waited for, so on a journaling filesystem the first
 * commit carries them all, instead of one commit per file. */
int zl_sync_files(const char *dir, const char *const names[], struct zl_err *err);
/* Removes the temporary files zl_write_file_atomic() left in dir
 * ("<name>.tmp.<pid>") whose writer is dead (killed between its create and
 * its rename); returns how many. zl_write_file_atomic() does it for its own
 * directory; owners of a directory that is only ever removed call it. */
size_t zl_remove_stale_temps(const char *dir);
/* Removes path and everything under it; a missing path is not an error. */
int zl_rm_rf(const char *path, struct zl_err *err);
/* The disk space path takes (a file, or a tree walked without following
 * symlinks), as du counts it: allocated blocks. A missing path is 0. */
int zl_disk_usage(const char *path, int64_t *bytes, struct zl_err *err);

/* Processes. */
/* Runs argv (argv[0] a path) with stdin from stdin_fd (-1: /dev/null),
 * collecting stdout and stderr into out (may be NULL; at most 64 KiB kept).
 * *exit_code is the exit status, or 128 + signal. -1 only when it could not
 * be run at all. */
int zl_run(const char *const argv[], int stdin_fd, struct zl_buf *out, int *exit_code,
	   struct zl_err *err);

/* A cgroup zlapply makes for a process itself (cgroup.c): path like
 * "/zlapply/<id>", v2 or v1 (memory, cpu, cpuacct, pids) as runc lays it
 * out. Limits of 0 are unset. */
struct zl_cgroup_limits {
	int64_t memory;                 /* bytes */
	int64_t cpu_quota, cpu_period;  /* microseconds */
	int64_t cpu_shares;
	int64_t pids;
};
bool zl_cgroup2(void); /* a pure cgroup v2 host */
/* Makes path (and its ancestors) with the limits; on failure nothing stays. */
int zl_cgroup_make(const char *path, const struct zl_cgroup_limits *l, struct zl_err *err);
/* The cgroup.procs files of path's existing directories (one per
 * hierarchy); *files the caller's (each string and the array). */
void zl_cgroup_procs_files(const char *path, char ***files, size_t *n);
/* Moves pid into path (every hierarchy). */
int zl_cgroup_join(const char *path, pid_t pid, struct zl_err *err);
/* Removes path's directories, waiting while a just-killed process leaves. */
void zl_cgroup_remove(const char *path);

/* Ownership of host objects (owner.c): the identity of a state root, and
 * claims on host-wide names (runtime ids, network namespaces, veths,
 * bridges) so that a root never touches another root's objects. */
#define ZL_OWNER_ID_LEN 32
#define ZL_CLAIMS_DIR "/run/zlapply/claims"
struct zl_owner {
	char id[ZL_OWNER_ID_LEN + 1]; /* hex; <root>/root-id */
	char root[4096];              /* the root's real path, for messages */
};
/* The identity of the state root root (made and kept in <root>/root-id
 * when create and it has none). */
int zl_owner_of_root(const char *root, bool create, struct zl_owner *out, struct zl_err *err);
bool zl_owner_same(const struct zl_owner *a, const struct zl_owner *b);
/* Writes id (ZL_OWNER_ID_LEN hex) as root's identity when it has none (a
 * lost root-id file, restored from the database); *out gets the result. */
int zl_owner_set_id(const char *root, const char *id, struct zl_owner *out, struct zl_err *err);
/* Claims kind/name ("replica", "zl-web-api-1") for me: 0 when claimed (or
 * mine already; a stale claim of a root that is gone is taken over), 1
 * when another live root holds it (*holder, may be NULL, says which), -1
 * on error. */
int zl_claim(const char *kind, const char *name, const struct zl_owner *me,
	     struct zl_owner *holder, struct zl_err *err);
/* Who holds kind/name: 0 and *holder, or -1 when nobody does. */
int zl_claim_holder(const char *kind, const char *name, struct zl_owner *holder);
/* 1 mine, 0 another root's, -1 unclaimed. */
int zl_claim_is_ours(const char *kind, const char *name, const struct zl_owner *me);
/* Drops my claim on kind/name; another root's is left alone. */
int zl_claim_release(const char *kind, const char *name, const struct zl_owner *me);

/* Strings. */
bool zl_str_has_suffix(const char *s, const char *suffix);
/* Levenshtein distance, used to suggest the nearest known key. */
size_t zl_edit_distance(const char *a, const char *b);

#endif
