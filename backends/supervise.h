/* supervise.h: one replica process under zlmon (backends/monitor), for
 * the backends that run a process per replica: oci (the runtime's
 * container) and wasm (the WASI engine). What is common to them lives
 * here once: starting the monitor detached and reading its report, telling
 * running from exited from a reboot from a lost monitor without spawning
 * anything, stop with the recorded signal and grace, waiting for a monitor
 * still at work, logs, archived logs, cgroup stats, and the records kept
 * for adoption.
 *
 * A replica directory holds zlmon's files (monitor.h) and these records:
 *   started   "PID STARTTIME STARTED_MS BOOT_ID" (written when zlmon reported)
 *   stop      "SIGNO GRACE_MS" (the replica's stop settings, from create)
 *   stopping  "SENT_MS PID_START_TIME" (stop_begin signalled this run)
 *   replica   "DEPLOYMENT\tSERVICE\tINDEX\tSPEC_HASH\tIMAGE_DIGEST[\tBACKEND]"
 *             (BACKEND: rs->backend, the backend of a set that made it)
 *   exit-detail.json  {"reason": R, "detail": D}: written by the replica's
 *             process itself (the wasm launcher, zlvm) when it ends in a way
 *             zlmon cannot tell from an exit code: a trap, a memory limit, a
 *             guest kernel panic. R replaces zlmon's "exited" or "signal".
 */
#ifndef ZL_SUPERVISE_H
#define ZL_SUPERVISE_H

#include "backends/backend.h"

#define SUPERVISE_DETAIL_FILE "exit-detail.json"

/* One supervised replica: its id (for messages), its directory and the
 * id of this boot (supervise_boot_id()). Borrowed strings. */
struct supervised {
	const char *id;
	const char *dir;
	const char *boot;
};

/* The kernel's id of this boot into buf (read once by the caller and
 * kept): a process started under another boot was ended by the reboot.
 * "" when unreadable. Returns buf. */
const char *supervise_boot_id(char buf[40]);

/* Full path of name in $PATH (or name itself when it has a '/') when it is
 * executable; NULL if none. Caller frees. */
char *supervise_which(const char *name);
/* A helper program or file of zlapply's (zlmon, zlvm, the WASI launcher)
 * beside the running binary: DIR/name (installed side by side),
 * DIR/../backends/build_subdir/name (the build tree: cli/ next to
 * backends/), DIR/../libexec/zlapply/name (installed). mode: X_OK or R_OK.
 * NULL when none. Caller frees. */
char *supervise_find_beside(const char *name, const char *build_subdir, int mode);
/* zlmon: $ZLMON_BIN, else beside the running binary, else in $PATH; NULL
 * when nowhere. Caller frees. */
char *supervise_find_zlmon(void);

/* ---- the replica's id on the host ----
 * A replica's id names host-wide things (a runtime's container, a network
 * namespace, a cgroup): it is claimed for the state root ("replica" claims,
 * common/owner.c) before any of them is made, and released after all of
 * them are gone. */
#define SUPERVISE_CLAIM_KIND "replica"
/* Claims id for me; another live root's claim fails naming that root. */
int supervise_claim(const struct zl_owner *me, const char *id, struct zl_err *err);
/* The replica's cgroup path: "/zlapply/<id>", or "<cgroup_parent>/<id>"
 * (Docker's --cgroup-parent). svc NULL: the default parent. Caller frees. */
char *supervise_cgroup_path(const struct spec_service *svc, const char *id);

/* Before a start: waits for (or ends) a monitor still at work in the
 * directory, then removes the previous run's records. */
void supervise_prepare_start(const struct supervised *s);
/* Starts `ZLMON --ready-fd FD ARGS...` detached (a new session, a
 * grandchild nobody in zlapply waits for), reads its one report and
 * records it in `started`. An "error ..." report fails with its text. */
int supervise_start(const struct supervised *s, const char *zlmon, const char *const args[],
		    struct zl_err *err);

/* Fills st (status, pid, start and exit) from the directory's records:
 * running while the reported process lives with its start time (or its
 * monitor is still writing the exit), exited once exit.json exists
 * (host_rebooted when the boot changed under it), unknown with reason
 * monitor_gone when neither holds. A missing directory is MISSING. No
 * subprocess. ip/netns/fault are left empty for the caller. */
int supervise_observe(const struct supervised *s, struct backend_state *st);

/* Signals the running process (not running: an error). */
int supervise_signal(const struct supervised *s, int signo, struct zl_err *err);
/* The stop settings: written at create, read at stop (signo 0 / grace < 0
 * take the recorded ones; SIGTERM / 10 s when none). */
int supervise_write_stop(const struct supervised *s, int signo, int64_t grace_ms,
			 struct zl_err *err);
int supervise_stop_begin(const struct supervised *s, int signo, struct zl_err *err);
int supervise_stop(const struct supervised *s, int signo, int64_t timeout_ms, struct zl_err *err);
int supervise_wait(const struct supervised *s, int64_t timeout_ms, struct zl_err *err);
/* Waits until the directory's monitor is gone (a running replica is
 * killed so it finishes); scan also looks for one that has not written its
 * record yet. */
void supervise_settle(const struct supervised *s, bool scan);

int supervise_logs(const struct supervised *s, const struct backend_log_opts *o, FILE *out,
		   struct zl_err *err);
int supervise_archive_logs(const struct supervised *s, const char *dest_path, struct zl_err *err);
/* cgroup_stats.c: the usage of a cgroup ("/zlapply/<id>") on this host,
 * v2 or v1 (what is unknown stays -1). */
void supervise_cgroup_stats(const char *cgroup, struct backend_stats *st);
/* The same under base (a cgroup mount: "/sys/fs/cgroup", or a fixture
 * tree in tests): v2 reads base<cgroup>/{cpu.stat, memory.current,
 * memory.max, memory.stat, pids.current, io.stat}; v1 reads
 * base/<controller><cgroup>/ of cpuacct, memory, pids and blkio. */
void supervise_cgroup_stats_at(const char *base, bool v2, const char *cgroup,
			       struct backend_stats *st);

/* The `replica` record: who this is, for adoption by a database that lost it. */
int supervise_write_replica(const struct supervised *s, const struct backend_replica_spec *rs,
			    struct zl_err *err);
/* `replica` and `stop` (supervise_write_replica(), supervise_write_stop())
 * are written without fsync, whole against a killed process; a create makes
 * them durable at its end, with the backend's own records written the same
 * way (extra: names in s->dir, NULL-terminated, may be NULL), in one
 * zl_sync_files() barrier: a start after a power loss needs them. */
int supervise_sync_records(const struct supervised *s, const char *const extra[],
			   struct zl_err *err);
/* -1 when the directory has no (readable) record. h is the caller's. */
int supervise_read_replica(const struct supervised *s, struct backend_held *h);

/* A backend's reader of what one replica directory says of its replica
 * (s->id, s->dir); -1 when nothing does. */
typedef int (*supervise_held_fn)(void *ctx, const struct supervised *s, struct backend_held *h);
/* backend_ops.held for a backend keeping one directory per replica id
 * under replicas_dir: every id known() does not know, read by read (NULL:
 * supervise_read_replica). */
int supervise_held(const char *replicas_dir, const char *boot, backend_known_fn known, void *kctx,
		   supervise_held_fn read, void *rctx, struct backend_held **out, size_t *n,
		   struct zl_err *err);

#endif
