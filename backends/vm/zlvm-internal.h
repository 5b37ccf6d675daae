/* zlvm-internal.h: zlvm, the OCI-runtime-compatible command that runs a
 * bundle in a QEMU guest, and its parts: zlvm.c (the command line, the
 * state directory, create/start/delete/kill/state/exec), zlvm-config.c
 * (config.json -> what the VM gets: process, shares, sizes),
 * zlvm-host.c (cgroups, the network namespace's bridge and tap, KVM or
 * TCG, QEMU's command line) and zlvm-shim.c (the process zlmon watches:
 * it runs QEMU and relays the guest's channel). Not for zlapply.
 *
 * State per id under ROOT/ID (ROOT /run/zlvm unless --root):
 *   state.json   id, bundle, shim pid + start time, netns, cgroup, accel
 *   status       "created" | "running QEMU_PID" | "failed WHY" | "stopped"
 *   start.fifo   create's shim waits on it; start writes one byte
 *   exec.sock    the shim's exec socket (zlvm exec)
 *   ctl.sock     QEMU's end of the guest channel (vm-proto.h)
 *   console.sock QEMU's serial port (the kernel console)
 *   qemu         "PID STARTTIME" of QEMU
 *   net          the replica's network as create found it (restored at delete)
 *   meta/        the zlmeta share: process, mounts, resolv.conf, hosts
 *   files/TAG/   a file volume's share: the file bind-mounted in it
 * exec.sock speaks vm-proto.h's frames: the client sends one EXEC frame
 * (argv, each argument NUL-terminated; no id: the shim assigns the guest's),
 * and gets STDOUT/STDERR frames (the command's output), then EXEC_EXIT
 * "CODE", or FAIL "why" when the command could not be sent or the VM
 * stopped. One command per connection; several connections at once.
 * In the bundle: vm.log (QEMU's output and the shim's notes),
 * vm-console.log (the guest's console, capped), vm-net (copy of net) and
 * exit-detail.json (why a VM ended when zlmon cannot know it). */
#ifndef ZL_ZLVM_INTERNAL_H
#define ZL_ZLVM_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/common.h"
#include "backends/vm/vm-proto.h"

#define ZLVM_DEFAULT_ROOT "/run/zlvm"
#define ZLVM_DEFAULT_GUEST "/usr/local/lib/zlapply/guest"
#define ZLVM_SHIM_NAME "zlvm-guest" /* the shim's comm after start */
#define ZLVM_MAX_VOLUMES 16         /* each share is a PCI device */
#define MIB (1024LL * 1024)

/* Global options (before the verb). */
struct zlvm_opts {
	const char *root;  /* state root */
	const char *log;   /* --log FILE, or NULL */
	bool log_json;     /* --log-format json */
	const char *guest; /* directory holding vmlinuz and initramfs.img */
	const char *qemu;  /* --qemu PATH, else qemu-system-x86_64 in PATH */
};

/* ---- messages (zlvm.c) ---- */
/* The one error line: stderr, and the --log file as JSON. */
void zlvm_error(const struct zlvm_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A note (not an error): stderr before start (zlmon keeps it in
 * zlmon.log), and the --log file at level "info". */
void zlvm_note(const struct zlvm_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends "TIME zlvm[PID] TEXT\n" to fd (vm.log). */
void zlvm_vmlog(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int zlvm_write_all(int fd, const void *data, size_t len);
/* "PID STARTTIME" files: 0 and the values, -1 when absent or bad. */
int zlvm_read_pid_file(const char *path, pid_t *pid, int64_t *start);
int zlvm_write_pid_file(const char *path, pid_t pid, struct zl_err *err);
/* Is pid alive (not a zombie) and started at start? */
bool zlvm_pid_matches(pid_t pid, int64_t start);
int64_t zlvm_proc_start_time(pid_t pid);
/* Sets the file at path to text atomically. */
int zlvm_set_file(const char *path, const char *text, struct zl_err *err);
/* "64Gi" when exact, else "1.5 GiB"-style. */
void zlvm_format_memory(int64_t bytes, char out[32]);
/* "7.8 GiB" */
void zlvm_format_size(int64_t bytes, char out[32]);
/* The host's MemTotal in bytes (-1 unknown) and online CPUs. */
int64_t zlvm_mem_total(void);
int zlvm_host_cpus(void);

/* ---- the bundle (zlvm-config.c) ---- */
struct vm_share {
	char *tag;    /* zlvol0, zlvol1, ... */
	char *source; /* host directory, or file */
	char *dest;   /* in the guest */
	bool ro;
	/* A file volume: QEMU shares directories, so the share is
	 * ROOT/ID/files/TAG (dir), holding the source bind-mounted as name. */
	char *name;
	char *dir;
};

struct vm_config {
	char *bundle; /* absolute */
	char *rootfs; /* absolute */
	bool root_ro;
	char **args;
	size_t argc;
	char **env;
	size_t envc;
	char *cwd;
	uint32_t uid, gid;
	char *gids; /* "1,2,3" or "" */
	char *hostname;
	bool has_netns;   /* a network namespace entry */
	char *netns;      /* its path (NULL: a new, empty one: no network) */
	char *resolv;     /* host file bound at /etc/resolv.conf, or NULL */
	char *hosts;      /* at /etc/hosts */
	struct vm_share *shares;
	size_t n_shares;
	int64_t mem_limit;  /* bytes; 0 none */
	int64_t cpu_quota;  /* us; 0 none */
	int64_t cpu_period; /* us */
	int64_t cpu_shares; /* 0 none */
	int64_t pids_limit; /* 0 none */
	char *cgroup;       /* linux.cgroupsPath, absolute; NULL none */
	struct zl_buf notes; /* what was skipped or changed, one line each */
};

struct vm_size {
	int64_t mem_mib;   /* guest memory */
	int vcpus;
	int64_t cg_memory; /* bytes, the cgroup's limit */
	int64_t cg_quota;  /* us per cg_period; 0 none */
	int64_t cg_period;
};

int vm_config_load(const char *bundle, struct vm_config *c, struct zl_err *err);
void vm_config_free(struct vm_config *c);
/* Guest memory and vCPUs from the limits and the host; refuses a memory
 * limit above the host's memory; clamps are added to c->notes. */
int vm_size_compute(struct vm_config *c, struct vm_size *s, struct zl_err *err);
/* Fills dir (the zlmeta share): process, mounts, resolv.conf (a copy),
 * hosts (the bundle's, bound: its service names change in place). */
int vm_meta_write(const struct vm_config *c, const char *dir, struct zl_err *err);
/* The directories of file volumes under state_dir/files (the source bound
 * onto a file in each). */
int vm_file_shares_setup(struct vm_config *c, const char *state_dir, struct zl_err *err);
/* Undoes the binds of state_dir (at delete): the file volumes' and
 * zlmeta's hosts (state_dir/meta). */
void vm_binds_remove(const char *state_dir);
/* ---- the host (zlvm-host.c) ---- */
/* The replica's cgroup: common/cgroup.c (zl_cgroup_*), path linux.cgroupsPath. */

/* The replica's network, as create found it in the namespace. */
struct vm_net {
	char netns[4096];
	char addr[16]; /* dotted quad */
	int prefix;
	char gw[16];   /* "" when there is no default route */
	char mac[18];  /* eth0's own MAC: the guest gets it */
	int mtu;
};
#define VM_TAP "zltap0"
#define VM_BRIDGE "zlbr0"
/* In the namespace at n->netns: reads eth0, makes the tap (*tap_fd) and
 * the bridge, moves eth0 onto it. The record (state dir "net", bundle
 * "vm-net") is written before anything changes. A bridge left by an
 * earlier run is taken down first (from the bundle's record). */
int vm_net_setup(const char *netns, const char *state_dir, const char *bundle, struct vm_net *n,
		 int *tap_fd, struct zl_err *err);
/* Undoes vm_net_setup from the record at record_path (missing: nothing
 * to do); a namespace that is gone is fine. Removes the record. */
int vm_net_teardown(const char *record_path, struct zl_err *err);

/* KVM or TCG: "kvm"/"tcg" and why. The answer is kept in ROOT/accel per
 * boot; probe forces a new probe. */
int vm_accel(const struct zlvm_opts *o, bool probe, char accel[8], char *why, size_t why_len,
	     struct zl_err *err);

/* Where things are, for QEMU's command line. */
struct vm_launch {
	const char *qemu;
	const char *kernel, *initrd;
	const char *accel;
	const char *state_dir; /* ctl.sock, console.sock */
	const char *meta_dir;
	const struct vm_config *cfg;
	const struct vm_size *size;
	const struct vm_net *net; /* NULL: no network */
	int tap_fd;
	const char *extra_append; /* e.g. "zl.probe=1"; NULL none */
};
/* argv for QEMU (NULL-terminated; free with vm_strv_free). */
char **vm_qemu_argv(const struct vm_launch *l);
void vm_strv_free(char **v);
char *vm_find_exe(const char *name); /* PATH lookup; NULL when absent */
/* The guest's kernel: GUEST/vmlinux (uncompressed, booted through its PVH
 * entry: seconds faster under TCG) when build-vm-guest made it, else
 * GUEST/vmlinuz. */
char *vm_guest_kernel(const char *guest);

/* ---- the shim (zlvm-shim.c) ---- */
struct vm_shim_args {
	const struct zlvm_opts *o;
	const char *id;
	const char *state_dir;
	const struct vm_config *cfg;
	const struct vm_size *size;
	const struct vm_net *net; /* NULL: none */
	int tap_fd;
	int fifo_fd;
	char *const *qemu_argv;
	const char *accel;
};
/* How the shim ends: exit(code), or die of signal when signal > 0. */
struct vm_end {
	int code;
	int signal;
};
/* Waits for start on the fifo, then runs the VM to its end. */
struct vm_end vm_shim_run(const struct vm_shim_args *a);

/* Frames (vm-proto.h) over a buffer. */
struct vm_frame {
	int type;
	const unsigned char *data;
	uint32_t len;
};
/* Takes one whole frame off the front of b: 1 (f set, valid until b
 * changes), 0 when incomplete, -1 when longer than ZLVM_FRAME_MAX. */
int vm_frame_next(struct zl_buf *b, size_t *consumed, struct vm_frame *f);
void vm_frame_append(struct zl_buf *b, int type, const void *data, uint32_t len);
void vm_buf_drop(struct zl_buf *b, size_t n);

#endif
