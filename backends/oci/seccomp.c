/* seccomp.c: the system calls a replica may make (the config's
 * linux.seccomp).
 *
 * Docker's default profile is the table below, in groups: what every
 * container may call, what only some architectures have, and what a
 * capability unlocks (CAP_SYS_ADMIN: mount, unshare, setns, clone with
 * namespace flags; CAP_SYS_PTRACE: kcmp, pidfd_getfd, ...). Anything else
 * fails with EPERM; clone3 without CAP_SYS_ADMIN fails with ENOSYS so that
 * libc falls back to clone, whose namespace flags an argument filter
 * refuses. It is the profile of moby/profiles/seccomp v0.2.3 (May 2026);
 * docs/containers.md shows the groups, and tests/unit/test_oci_seccomp.c
 * checks that page against this table.
 *
 * A profile in Docker's JSON format (security_opt seccomp=PATH) is read
 * into the same structure, with its includes and excludes, and both are
 * written out the same way: a rule is kept when the container's capability
 * set, this machine's architecture and its kernel meet its conditions, as
 * dockerd decides. Numbers in a profile are read exactly (64-bit masks
 * included): they are turned into strings before cJSON sees them. */
#include "bundle-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#define MAX_PROFILE_SIZE (1024 * 1024)
#define MAX_ERRNO 4095

/* ---- architectures ---- */

/* Docker's names for architectures (what "arches" in includes and
 * excludes say, Go's GOARCH as libseccomp spells it) and the runtime
 * spec's. Indexes are the bits of oci_seccomp_rule.arches. */
enum {
	SC_AMD64, SC_X86, SC_X32, SC_ARM64, SC_ARM, SC_PPC64LE, SC_PPC64, SC_PPC, SC_S390X,
	SC_S390, SC_RISCV64, SC_LOONGARCH64, SC_MIPS64, SC_MIPS64N32, SC_MIPSEL64,
	SC_MIPSEL64N32, SC_MIPS, SC_MIPSEL, SC_ARCH_COUNT
};

static const struct {
	const char *name, *scmp;
} arches[SC_ARCH_COUNT] = {
	[SC_AMD64] = { "amd64", "SCMP_ARCH_X86_64" },
	[SC_X86] = { "x86", "SCMP_ARCH_X86" },
	[SC_X32] = { "x32", "SCMP_ARCH_X32" },
	[SC_ARM64] = { "arm64", "SCMP_ARCH_AARCH64" },
	[SC_ARM] = { "arm", "SCMP_ARCH_ARM" },
	[SC_PPC64LE] = { "ppc64le", "SCMP_ARCH_PPC64LE" },
	[SC_PPC64] = { "ppc64", "SCMP_ARCH_PPC64" },
	[SC_PPC] = { "ppc", "SCMP_ARCH_PPC" },
	[SC_S390X] = { "s390x", "SCMP_ARCH_S390X" },
	[SC_S390] = { "s390", "SCMP_ARCH_S390" },
	[SC_RISCV64] = { "riscv64", "SCMP_ARCH_RISCV64" },
	[SC_LOONGARCH64] = { "loongarch64", "SCMP_ARCH_LOONGARCH64" },
	[SC_MIPS64] = { "mips64", "SCMP_ARCH_MIPS64" },
	[SC_MIPS64N32] = { "mips64n32", "SCMP_ARCH_MIPS64N32" },
	[SC_MIPSEL64] = { "mipsel64", "SCMP_ARCH_MIPSEL64" },
	[SC_MIPSEL64N32] = { "mipsel64n32", "SCMP_ARCH_MIPSEL64N32" },
	[SC_MIPS] = { "mips", "SCMP_ARCH_MIPS" },
	[SC_MIPSEL] = { "mipsel", "SCMP_ARCH_MIPSEL" },
};

const char *oci_seccomp_arch_name(unsigned i)
{
	return i < SC_ARCH_COUNT ? arches[i].name : NULL;
}

static int arch_index(const char *name)
{
	for (int i = 0; name && i < SC_ARCH_COUNT; i++)
		if (!strcmp(name, arches[i].name))
			return i;
	return -1;
}

static bool scmp_arch_known(const char *scmp)
{
	for (int i = 0; i < SC_ARCH_COUNT; i++)
		if (!strcmp(scmp, arches[i].scmp))
			return true;
	return false;
}

void oci_seccomp_this_host(struct oci_seccomp_host *h)
{
	/* What dockerd compares "arches" with: the architecture it was built for. */
#if defined(__x86_64__)
	h->arch = "amd64";
#elif defined(__i386__)
	h->arch = "x86";
#elif defined(__aarch64__)
	h->arch = "arm64";
#elif defined(__arm__)
	h->arch = "arm";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	h->arch = "ppc64le";
#elif defined(__powerpc64__)
	h->arch = "ppc64";
#elif defined(__s390x__)
	h->arch = "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
	h->arch = "riscv64";
#elif defined(__loongarch64)
	h->arch = "loongarch64";
#else
	h->arch = NULL; /* no architectures entry; arch-specific rules are left out */
#endif
	h->kernel[0] = h->kernel[1] = 0;
	struct utsname u;
	if (uname(&u) == 0 && sscanf(u.release, "%u.%u", &h->kernel[0], &h->kernel[1]) != 2)
		h->kernel[0] = h->kernel[1] = 0;
}

/* ---- Docker's default profile ---- */

#define NAMES(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define CAP(c) (UINT64_C(1) << CAP_##c)
#define ARCH(a) (UINT32_C(1) << SC_##a)
#define ARG(i, v, o) .args = (const struct oci_seccomp_arg[]){ { i, v, 0, "SCMP_CMP_" #o } }, .n_args = 1
#define ALLOW "SCMP_ACT_ALLOW"

/* clone(2)'s flags that make namespaces. */
#define CLONE_NS_FLAGS \
	(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | \
	 CLONE_NEWCGROUP)

/* socket(2): every family but AF_ALG (38) and AF_VSOCK (40), in three rules
 * that rely on the two being two apart. */
_Static_assert(AF_ALG == 38 && AF_VSOCK == 40, "AF_ALG and AF_VSOCK moved");

static const struct oci_seccomp_rule default_rules[] = {
	/* Always allowed. */
	{ .title = "files and directories", .action = ALLOW,
	  .names = NAMES("access", "cachestat", "chdir", "chmod", "chown", "chown32", "close",
			 "close_range", "creat", "dup", "dup2", "dup3", "faccessat", "faccessat2",
			 "fadvise64", "fadvise64_64", "fallocate", "fchdir", "fchmod", "fchmodat",
			 "fchmodat2", "fchown", "fchown32", "fchownat", "fcntl", "fcntl64",
			 "fdatasync", "flock", "fstat", "fstat64", "fstatat64", "fstatfs",
			 "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futimesat", "getcwd",
			 "getdents", "getdents64", "lchown", "lchown32", "link", "linkat",
			 "listmount", "_llseek", "lseek", "lstat", "lstat64", "mkdir", "mkdirat",
			 "mknod", "mknodat", "name_to_handle_at", "newfstatat", "open", "openat",
			 "openat2", "readlink", "readlinkat", "rename", "renameat", "renameat2",
			 "rmdir", "stat", "stat64", "statfs", "statfs64", "statmount", "statx",
			 "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "truncate",
			 "truncate64", "umask", "unlink", "unlinkat", "utime", "utimensat",
			 "utimensat_time64", "utimes") },
	{ .title = "extended attributes", .action = ALLOW,
	  .names = NAMES("fgetxattr", "flistxattr", "fremovexattr", "fsetxattr", "getxattr",
			 "getxattrat", "lgetxattr", "listxattr", "listxattrat", "llistxattr",
			 "lremovexattr", "lsetxattr", "removexattr", "removexattrat", "setxattr",
			 "setxattrat") },
	{ .title = "reading, writing, waiting for I/O (io_uring is not among them)", .action = ALLOW,
	  .names = NAMES("copy_file_range", "epoll_create", "epoll_create1", "epoll_ctl",
			 "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait",
			 "epoll_wait_old", "eventfd", "eventfd2", "fanotify_mark",
			 "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch",
			 "io_cancel", "io_destroy", "io_getevents", "io_pgetevents",
			 "io_pgetevents_time64", "io_setup", "io_submit", "ioctl", "ioprio_get",
			 "ioprio_set", "_newselect", "pipe", "pipe2", "poll", "ppoll",
			 "ppoll_time64", "pread64", "preadv", "preadv2", "pselect6",
			 "pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read", "readahead",
			 "readv", "select", "sendfile", "sendfile64", "splice", "tee", "vmsplice",
			 "write", "writev") },
	{ .title = "memory", .action = ALLOW,
	  .names = NAMES("brk", "madvise", "map_shadow_stack", "membarrier", "memfd_create",
			 "memfd_secret", "mincore", "mlock", "mlock2", "mlockall", "mmap", "mmap2",
			 "mprotect", "mremap", "mseal", "msync", "munlock", "munlockall", "munmap",
			 "pkey_alloc", "pkey_free", "pkey_mprotect", "remap_file_pages") },
	{ .title = "processes, threads and scheduling", .action = ALLOW,
	  .names = NAMES("execve", "execveat", "exit", "exit_group", "fork", "futex",
			 "futex_requeue", "futex_time64", "futex_wait", "futex_waitv", "futex_wake",
			 "get_robust_list", "get_thread_area", "getcpu", "getpgid", "getpgrp",
			 "getpid", "getppid", "getpriority", "getsid", "gettid",
			 "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self",
			 "pidfd_open", "pidfd_send_signal", "prctl", "process_mrelease",
			 "restart_syscall", "riscv_hwprobe", "rseq", "sched_get_priority_max",
			 "sched_get_priority_min", "sched_getaffinity", "sched_getattr",
			 "sched_getparam", "sched_getscheduler", "sched_rr_get_interval",
			 "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr",
			 "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp",
			 "set_robust_list", "set_thread_area", "set_tid_address", "setpgid",
			 "setpriority", "setsid", "uretprobe", "vfork", "wait4", "waitid",
			 "waitpid") },
	{ .title = "users, groups, capabilities and limits", .action = ALLOW,
	  .names = NAMES("capget", "capset", "getegid", "getegid32", "geteuid", "geteuid32",
			 "getgid", "getgid32", "getgroups", "getgroups32", "getresgid",
			 "getresgid32", "getresuid", "getresuid32", "getrlimit", "getrusage",
			 "getuid", "getuid32", "prlimit64", "setfsgid", "setfsgid32", "setfsuid",
			 "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setregid",
			 "setregid32", "setresgid", "setresgid32", "setresuid", "setresuid32",
			 "setreuid", "setreuid32", "setrlimit", "setuid", "setuid32",
			 "ugetrlimit") },
	{ .title = "signals", .action = ALLOW,
	  .names = NAMES("alarm", "kill", "pause", "rt_sigaction", "rt_sigpending",
			 "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend",
			 "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo",
			 "sigaltstack", "signalfd", "signalfd4", "sigprocmask", "sigreturn",
			 "tgkill", "tkill") },
	{ .title = "clocks and timers (reading; setting the clock needs CAP_SYS_TIME)", .action = ALLOW,
	  .names = NAMES("adjtimex", "clock_adjtime", "clock_adjtime64", "clock_getres",
			 "clock_getres_time64", "clock_gettime", "clock_gettime64",
			 "clock_nanosleep", "clock_nanosleep_time64", "getitimer", "gettimeofday",
			 "nanosleep", "setitimer", "time", "timer_create", "timer_delete",
			 "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime",
			 "timer_settime64", "timerfd_create", "timerfd_gettime",
			 "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times") },
	{ .title = "sockets (socket itself: below)", .action = ALLOW,
	  .names = NAMES("accept", "accept4", "bind", "connect", "getpeername", "getsockname",
			 "getsockopt", "listen", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64",
			 "recvmsg", "send", "sendmmsg", "sendmsg", "sendto", "setsockopt",
			 "shutdown", "socketcall", "socketpair") },
	{ .title = "System V and POSIX IPC", .action = ALLOW,
	  .names = NAMES("ipc", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive",
			 "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64",
			 "mq_unlink", "msgctl", "msgget", "msgrcv", "msgsnd", "semctl", "semget",
			 "semop", "semtimedop", "semtimedop_time64", "shmat", "shmctl", "shmdt",
			 "shmget") },
	{ .title = "system information", .action = ALLOW,
	  .names = NAMES("getrandom", "sysinfo", "uname") },

	/* Allowed with conditions on the arguments or the kernel. */
	{ .title = "tracing other processes, on kernels from 4.8 (which check seccomp after ptrace)",
	  .action = ALLOW, .names = NAMES("process_vm_readv", "process_vm_writev", "ptrace"),
	  .min_kernel = { 4, 8 } },
	{ .title = "sockets of families below AF_ALG (38)", .action = ALLOW, .names = NAMES("socket"),
	  ARG(0, AF_ALG, LT) },
	{ .title = "sockets of family 39 (between AF_ALG and AF_VSOCK)", .action = ALLOW,
	  .names = NAMES("socket"), ARG(0, AF_ALG + 1, EQ) },
	{ .title = "sockets of families above AF_VSOCK (40)", .action = ALLOW, .names = NAMES("socket"),
	  ARG(0, AF_VSOCK, GT) },
	{ .title = "personality: Linux", .action = ALLOW, .names = NAMES("personality"),
	  ARG(0, PER_LINUX, EQ) },
	{ .title = "personality: 32-bit Linux", .action = ALLOW, .names = NAMES("personality"),
	  ARG(0, PER_LINUX32, EQ) },
	{ .title = "personality: UNAME26", .action = ALLOW, .names = NAMES("personality"),
	  ARG(0, UNAME26, EQ) },
	{ .title = "personality: 32-bit Linux with UNAME26", .action = ALLOW,
	  .names = NAMES("personality"), ARG(0, PER_LINUX32 | UNAME26, EQ) },
	{ .title = "personality: asking for the current one", .action = ALLOW,
	  .names = NAMES("personality"), ARG(0, 0xffffffff, EQ) },

	/* Only on some architectures. */
	{ .title = "ppc64le's own", .action = ALLOW, .names = NAMES("swapcontext", "sync_file_range2"),
	  .arches = ARCH(PPC64LE) },
	{ .title = "ARM's own", .action = ALLOW,
	  .names = NAMES("arm_fadvise64_64", "arm_sync_file_range", "breakpoint", "cacheflush",
			 "set_tls", "sync_file_range2"),
	  .arches = ARCH(ARM) | ARCH(ARM64) },
	{ .title = "x86-64's own", .action = ALLOW, .names = NAMES("arch_prctl"),
	  .arches = ARCH(AMD64) | ARCH(X32) },
	{ .title = "x86's local descriptor table", .action = ALLOW, .names = NAMES("modify_ldt"),
	  .arches = ARCH(AMD64) | ARCH(X32) | ARCH(X86) },
	{ .title = "s390's own", .action = ALLOW,
	  .names = NAMES("s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"),
	  .arches = ARCH(S390) | ARCH(S390X) },
	{ .title = "RISC-V's own", .action = ALLOW, .names = NAMES("riscv_flush_icache"),
	  .arches = ARCH(RISCV64) },

	/* Unlocked by a capability. */
	{ .title = "opening files by handle", .action = ALLOW, .names = NAMES("open_by_handle_at"),
	  .caps_all = CAP(DAC_READ_SEARCH) },
	{ .title = "mounts, namespaces, host and domain names, BPF, perf, quotas, fanotify, LSM attributes",
	  .action = ALLOW,
	  .names = NAMES("bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen",
			 "fspick", "lookup_dcookie", "lsm_get_self_attr", "lsm_list_modules",
			 "lsm_set_self_attr", "mount", "mount_setattr", "move_mount", "open_tree",
			 "perf_event_open", "quotactl", "quotactl_fd", "setdomainname",
			 "sethostname", "setns", "syslog", "umount", "umount2", "unshare"),
	  .caps_all = CAP(SYS_ADMIN) },
	{ .title = "clone without namespace flags", .action = ALLOW, .names = NAMES("clone"),
	  ARG(0, CLONE_NS_FLAGS, MASKED_EQ), .caps_none = CAP(SYS_ADMIN),
	  .not_arches = ARCH(S390) | ARCH(S390X) },
	{ .title = "clone without namespace flags (s390 passes the flags second)", .action = ALLOW,
	  .names = NAMES("clone"), ARG(1, CLONE_NS_FLAGS, MASKED_EQ), .caps_none = CAP(SYS_ADMIN),
	  .arches = ARCH(S390) | ARCH(S390X) },
	{ .title = "clone3 fails with ENOSYS (its flags are out of a filter's reach): libc falls back to clone",
	  .action = "SCMP_ACT_ERRNO", .has_errno = true, .errno_ret = ENOSYS,
	  .names = NAMES("clone3"), .caps_none = CAP(SYS_ADMIN) },
	{ .title = "rebooting", .action = ALLOW, .names = NAMES("reboot"), .caps_all = CAP(SYS_BOOT) },
	{ .title = "chroot", .action = ALLOW, .names = NAMES("chroot"), .caps_all = CAP(SYS_CHROOT) },
	{ .title = "kernel modules", .action = ALLOW,
	  .names = NAMES("delete_module", "finit_module", "init_module"),
	  .caps_all = CAP(SYS_MODULE) },
	{ .title = "process accounting", .action = ALLOW, .names = NAMES("acct"),
	  .caps_all = CAP(SYS_PACCT) },
	{ .title = "tracing and inspecting other processes", .action = ALLOW,
	  .names = NAMES("kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv",
			 "process_vm_writev", "ptrace"),
	  .caps_all = CAP(SYS_PTRACE) },
	{ .title = "I/O ports", .action = ALLOW, .names = NAMES("ioperm", "iopl"),
	  .caps_all = CAP(SYS_RAWIO) },
	{ .title = "setting the clock", .action = ALLOW,
	  .names = NAMES("clock_settime", "clock_settime64", "settimeofday", "stime"),
	  .caps_all = CAP(SYS_TIME) },
	{ .title = "hanging up the terminal", .action = ALLOW, .names = NAMES("vhangup"),
	  .caps_all = CAP(SYS_TTY_CONFIG) },
	{ .title = "NUMA memory policy", .action = ALLOW,
	  .names = NAMES("get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"),
	  .caps_all = CAP(SYS_NICE) },
	{ .title = "the kernel log", .action = ALLOW, .names = NAMES("syslog"),
	  .caps_all = CAP(SYSLOG) },
	{ .title = "BPF", .action = ALLOW, .names = NAMES("bpf"), .caps_all = CAP(BPF) },
	{ .title = "perf events", .action = ALLOW, .names = NAMES("perf_event_open"),
	  .caps_all = CAP(PERFMON) },
};

static const struct oci_seccomp_archmap default_archmap[] = {
	{ "SCMP_ARCH_X86_64", NAMES("SCMP_ARCH_X86", "SCMP_ARCH_X32") },
	{ "SCMP_ARCH_AARCH64", NAMES("SCMP_ARCH_ARM") },
	{ "SCMP_ARCH_MIPS64", NAMES("SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32") },
	{ "SCMP_ARCH_MIPS64N32", NAMES("SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64") },
	{ "SCMP_ARCH_MIPSEL64", NAMES("SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32") },
	{ "SCMP_ARCH_MIPSEL64N32", NAMES("SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64") },
	{ "SCMP_ARCH_S390X", NAMES("SCMP_ARCH_S390") },
	{ "SCMP_ARCH_RISCV64", NULL },
	{ "SCMP_ARCH_LOONGARCH64", NULL },
};

const struct oci_seccomp_profile oci_seccomp_default = {
	.default_action = "SCMP_ACT_ERRNO",
	.has_default_errno = true,
	.default_errno = EPERM,
	.archmap = default_archmap,
	.n_archmap = sizeof(default_archmap) / sizeof(default_archmap[0]),
	.rules = default_rules,
	.n_rules = sizeof(default_rules) / sizeof(default_rules[0]),
};

/* ---- deciding a profile for a container ---- */

static bool kernel_at_least(const unsigned have[2], const unsigned want[2])
{
	return have[0] > want[0] || (have[0] == want[0] && have[1] >= want[1]);
}

bool oci_seccomp_rule_applies(const struct oci_seccomp_rule *r, uint64_t caps,
			      const struct oci_seccomp_host *host)
{
	int arch = arch_index(host->arch);
	uint32_t bit = arch >= 0 ? UINT32_C(1) << arch : 0;
	if ((r->not_arches & bit) || (r->caps_none & caps))
		return false;
	if ((r->below_kernel[0] || r->below_kernel[1]) && kernel_at_least(host->kernel, r->below_kernel))
		return false;
	if (r->arches && !(r->arches & bit))
		return false;
	if ((r->caps_all & caps) != r->caps_all)
		return false;
	if ((r->min_kernel[0] || r->min_kernel[1]) && !kernel_at_least(host->kernel, r->min_kernel))
		return false;
	return true;
}

static void add_strings(cJSON *arr, const char *const *v)
{
	for (size_t i = 0; v && v[i]; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(v[i]));
}

cJSON *oci_seccomp_json(const struct oci_seccomp_profile *p, uint64_t caps,
			const struct oci_seccomp_host *host)
{
	cJSON *sc = cJSON_CreateObject();
	cJSON_AddStringToObject(sc, "defaultAction", p->default_action);
	if (p->has_default_errno)
		cJSON_AddItemToObject(sc, "defaultErrnoRet", juint(p->default_errno));
	/* archMap: this machine's entry and its sub-architectures (none when
	 * the map has no entry for it: the runtime takes the native one). */
	cJSON *archs = cJSON_CreateArray();
	int arch = arch_index(host->arch);
	for (size_t i = 0; arch >= 0 && i < p->n_archmap; i++) {
		if (!strcmp(p->archmap[i].arch, arches[arch].scmp)) {
			cJSON_AddItemToArray(archs, cJSON_CreateString(p->archmap[i].arch));
			add_strings(archs, p->archmap[i].sub);
			break;
		}
	}
	add_strings(archs, p->architectures);
	if (cJSON_GetArraySize(archs))
		cJSON_AddItemToObject(sc, "architectures", archs);
	else
		cJSON_Delete(archs);
	if (p->flags && p->flags[0])
		add_strings(cJSON_AddArrayToObject(sc, "flags"), p->flags);
	cJSON *calls = cJSON_AddArrayToObject(sc, "syscalls");
	for (size_t i = 0; i < p->n_rules; i++) {
		const struct oci_seccomp_rule *r = &p->rules[i];
		if (!oci_seccomp_rule_applies(r, caps, host))
			continue;
		cJSON *call = cJSON_CreateObject();
		add_strings(cJSON_AddArrayToObject(call, "names"), r->names);
		cJSON_AddStringToObject(call, "action", r->action);
		if (r->has_errno)
			cJSON_AddItemToObject(call, "errnoRet", juint(r->errno_ret));
		if (r->n_args) {
			cJSON *args = cJSON_AddArrayToObject(call, "args");
			for (size_t j = 0; j < r->n_args; j++) {
				cJSON *a = cJSON_CreateObject();
				cJSON_AddItemToObject(a, "index", juint(r->args[j].index));
				cJSON_AddItemToObject(a, "value", juint(r->args[j].value));
				if (r->args[j].value_two)
					cJSON_AddItemToObject(a, "valueTwo", juint(r->args[j].value_two));
				cJSON_AddStringToObject(a, "op", r->args[j].op);
				cJSON_AddItemToArray(args, a);
			}
		}
		cJSON_AddItemToArray(calls, call);
	}
	return sc;
}

/* ---- profiles in Docker's JSON format ---- */

/* A profile read from a file: the public part first, and what owns the
 * strings and arrays it points to. */
struct loaded_profile {
	struct oci_seccomp_profile p;
	cJSON *doc;
	void **owned;
	size_t n_owned, cap_owned;
};

static void *own(struct loaded_profile *l, size_t count, size_t size)
{
	void *mem = zl_xcalloc(count ? count : 1, size);
	zl_grow(&l->owned, sizeof(*l->owned), &l->cap_owned, l->n_owned + 1);
	l->owned[l->n_owned++] = mem;
	return mem;
}

void oci_seccomp_profile_free(struct oci_seccomp_profile *p)
{
	if (!p)
		return;
	struct loaded_profile *l = (struct loaded_profile *)p;
	for (size_t i = 0; i < l->n_owned; i++)
		free(l->owned[i]);
	free(l->owned);
	cJSON_Delete(l->doc);
	free(l);
}

/* The file's text with every number turned into a string "\u0001<digits>",
 * so that the readers below see its exact digits (cJSON keeps doubles).
 * Strings are copied as they are. */
static char *numbers_as_strings(const char *text, size_t len)
{
	struct zl_buf b = { 0 };
	for (size_t i = 0; i < len;) {
		char c = text[i];
		if (c == '"') {
			size_t j = i + 1;
			while (j < len && text[j] != '"')
				j += text[j] == '\\' ? 2 : 1;
			j = j < len ? j + 1 : len;
			zl_buf_append(&b, text + i, j - i);
			i = j;
		} else if (c == '-' || (c >= '0' && c <= '9')) {
			size_t j = i;
			while (j < len && strchr("+-.0123456789eE", text[j]))
				j++;
			zl_buf_puts(&b, "\"\\u0001");
			zl_buf_append(&b, text + i, j - i);
			zl_buf_puts(&b, "\"");
			i = j;
		} else {
			zl_buf_append(&b, &c, 1);
			i++;
		}
	}
	return zl_buf_steal(&b);
}

/* Reading one profile: the file, where in it we are, the error. */
struct reader {
	const char *path;
	struct loaded_profile *l;
	struct zl_err *err;
};

/* A field's path ("syscalls[3].args[0].op") into where; cut (never
 * overflowing) at FIELD_MAX. */
#define FIELD_MAX 256
static void fld(char where[FIELD_MAX], const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fld(char where[FIELD_MAX], const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(where, FIELD_MAX, fmt, ap);
	va_end(ap);
}

static int bad(struct reader *rd, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int bad(struct reader *rd, const char *field, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *what = zl_xvasprintf(fmt, ap);
	va_end(ap);
	return zl_invalid(rd->err, "seccomp profile %s: %s: %s", rd->path, field, what);
}

static bool is_number(const cJSON *v)
{
	return cJSON_IsString(v) && v->valuestring[0] == '\x01';
}

static bool is_text(const cJSON *v)
{
	return cJSON_IsString(v) && v->valuestring[0] != '\x01';
}

static int read_u64(struct reader *rd, const cJSON *v, const char *field, uint64_t max,
		    uint64_t *out)
{
	const char *digits = is_number(v) ? v->valuestring + 1 : NULL;
	if (!digits || !*digits || strspn(digits, "0123456789") != strlen(digits))
		return bad(rd, field, "expected an integer from 0 to %" PRIu64, max);
	uint64_t n = 0;
	for (const char *d = digits; *d; d++) {
		unsigned digit = (unsigned)(*d - '0');
		if (digit > max || n > (max - digit) / 10)
			return bad(rd, field, "%s is above %" PRIu64, digits, max);
		n = n * 10 + digit;
	}
	*out = n;
	return 0;
}

static int read_string(struct reader *rd, const cJSON *v, const char *field, const char **out)
{
	if (!is_text(v) || !*v->valuestring)
		return bad(rd, field, "expected a non-empty string");
	*out = v->valuestring;
	return 0;
}

/* A list of strings (null or absent: none) into a NULL-terminated array
 * owned by the profile; check, when not NULL, refuses a bad item. */
static int read_strings(struct reader *rd, const cJSON *v, const char *field,
			int (*check)(struct reader *, const char *, const char *),
			const char *const **out, size_t *count)
{
	*out = NULL;
	if (count)
		*count = 0;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsArray(v))
		return bad(rd, field, "expected a list of strings");
	size_t n = (size_t)cJSON_GetArraySize(v), i = 0;
	const char **arr = own(rd->l, n + 1, sizeof(*arr));
	const cJSON *it;
	cJSON_ArrayForEach(it, v) {
		char where[FIELD_MAX];
		fld(where, "%s[%zu]", field, i);
		if (read_string(rd, it, where, &arr[i]) < 0 || (check && check(rd, where, arr[i]) < 0))
			return -1;
		i++;
	}
	*out = arr;
	if (count)
		*count = n;
	return 0;
}

/* Every member of obj is one of keys (NULL-terminated) and none is there twice. */
static int known_keys(struct reader *rd, const cJSON *obj, const char *field,
		      const char *const *keys)
{
	if (!cJSON_IsObject(obj))
		return bad(rd, field, "expected an object");
	const cJSON *it;
	cJSON_ArrayForEach(it, obj) {
		size_t i = 0;
		while (keys[i] && strcmp(keys[i], it->string))
			i++;
		char where[FIELD_MAX];
		fld(where, "%s%s%s", field, *field ? "." : "", it->string);
		if (!keys[i]) {
			struct zl_buf list = { 0 };
			for (size_t k = 0; keys[k]; k++)
				zl_buf_printf(&list, "%s%s", k ? ", " : "", keys[k]);
			int ret = bad(rd, where, "unknown field (expected %s)", list.data);
			zl_buf_free(&list);
			return ret;
		}
		for (const cJSON *prev = obj->child; prev != it; prev = prev->next)
			if (!strcmp(prev->string, it->string))
				return bad(rd, where, "given twice");
	}
	return 0;
}

static const char *const actions[] = {
	"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
	"SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP", NULL,
};
static const char *const operators[] = {
	"SCMP_CMP_EQ", "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_GT", "SCMP_CMP_GE",
	"SCMP_CMP_MASKED_EQ", NULL,
};
static const char *const filter_flags[] = {
	"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
	"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", NULL,
};

static int one_of(struct reader *rd, const char *field, const char *value,
		  const char *const *allowed, const char *what)
{
	for (size_t i = 0; allowed[i]; i++)
		if (!strcmp(value, allowed[i]))
			return 0;
	struct zl_buf list = { 0 };
	for (size_t i = 0; allowed[i]; i++)
		zl_buf_printf(&list, "%s%s", i ? ", " : "", allowed[i]);
	int ret = bad(rd, field, "unknown %s \"%s\" (expected %s)", what, value, list.data);
	zl_buf_free(&list);
	return ret;
}

static int read_action(struct reader *rd, const cJSON *v, const char *field, const char **out)
{
	if (read_string(rd, v, field, out) < 0)
		return -1;
	if (!strcmp(*out, "SCMP_ACT_NOTIFY"))
		return bad(rd, field, "SCMP_ACT_NOTIFY needs a seccomp agent, which zlapply does not run");
	return one_of(rd, field, *out, actions, "action");
}

/* errnoRet goes with an action that returns an error. */
static int read_errno(struct reader *rd, const cJSON *v, const char *field, const char *action,
		      bool *has, uint64_t *out)
{
	*has = false;
	if (!v)
		return 0;
	if (read_u64(rd, v, field, MAX_ERRNO, out) < 0)
		return -1;
	if (strcmp(action, "SCMP_ACT_ERRNO") && strcmp(action, "SCMP_ACT_TRACE"))
		return bad(rd, field, "only SCMP_ACT_ERRNO and SCMP_ACT_TRACE return an error number, not %s", action);
	*has = true;
	return 0;
}

static int check_scmp_arch(struct reader *rd, const char *field, const char *name)
{
	if (scmp_arch_known(name))
		return 0;
	struct zl_buf list = { 0 };
	for (int i = 0; i < SC_ARCH_COUNT; i++)
		zl_buf_printf(&list, "%s%s", i ? ", " : "", arches[i].scmp);
	int ret = bad(rd, field, "unknown architecture \"%s\" (expected %s)", name, list.data);
	zl_buf_free(&list);
	return ret;
}

static int check_flag(struct reader *rd, const char *field, const char *name)
{
	return one_of(rd, field, name, filter_flags, "flag");
}

static int check_syscall_name(struct reader *rd, const char *field, const char *name)
{
	if (strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(name))
		return bad(rd, field, "\"%s\" is not a system call name", name);
	return 0;
}

/* includes / excludes: {caps, arches, minKernel}. */
static int read_filter(struct reader *rd, const cJSON *v, const char *field, uint64_t *caps,
		       uint32_t *arch_bits, unsigned kernel[2])
{
	*caps = 0;
	*arch_bits = 0;
	kernel[0] = kernel[1] = 0;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (known_keys(rd, v, field, NAMES("caps", "arches", "minKernel")) < 0)
		return -1;
	char where[FIELD_MAX];
	const char *const *names;
	size_t n;
	fld(where, "%s.caps", field);
	if (read_strings(rd, cJSON_GetObjectItemCaseSensitive(v, "caps"), where, NULL, &names, &n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int idx = oci_cap_from_name(names[i]);
		if (idx < 0) {
			fld(where, "%s.caps[%zu]", field, i);
			return bad(rd, where, "unknown capability \"%s\"", names[i]);
		}
		*caps |= UINT64_C(1) << idx;
	}
	fld(where, "%s.arches", field);
	if (read_strings(rd, cJSON_GetObjectItemCaseSensitive(v, "arches"), where, NULL, &names, &n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int idx = arch_index(names[i]);
		if (idx < 0) {
			struct zl_buf list = { 0 };
			for (int a = 0; a < SC_ARCH_COUNT; a++)
				zl_buf_printf(&list, "%s%s", a ? ", " : "", arches[a].name);
			fld(where, "%s.arches[%zu]", field, i);
			int ret = bad(rd, where, "unknown architecture \"%s\" (expected Docker's names: %s)",
				      names[i], list.data);
			zl_buf_free(&list);
			return ret;
		}
		*arch_bits |= UINT32_C(1) << idx;
	}
	const cJSON *mk = cJSON_GetObjectItemCaseSensitive(v, "minKernel");
	fld(where, "%s.minKernel", field);
	if (mk && !cJSON_IsNull(mk) && !(is_text(mk) && !*mk->valuestring)) {
		char tail;
		if (!is_text(mk) || sscanf(mk->valuestring, "%u.%u%c", &kernel[0], &kernel[1], &tail) != 2 ||
		    strspn(mk->valuestring, "0123456789.") != strlen(mk->valuestring) ||
		    kernel[0] > 255 || kernel[1] > 255 || (!kernel[0] && !kernel[1]))
			return bad(rd, where, "expected a kernel version \"MAJOR.MINOR\" such as \"4.8\"");
	}
	return 0;
}

static int read_arg(struct reader *rd, const cJSON *v, const char *field, struct oci_seccomp_arg *a)
{
	if (known_keys(rd, v, field, NAMES("index", "value", "valueTwo", "op")) < 0)
		return -1;
	char where[FIELD_MAX];
	uint64_t index = 0;
	const cJSON *idx = cJSON_GetObjectItemCaseSensitive(v, "index");
	fld(where, "%s.index", field);
	if (!idx)
		return bad(rd, where, "missing (the argument's position, 0 to 5)");
	if (read_u64(rd, idx, where, 5, &index) < 0)
		return -1;
	a->index = (unsigned)index;
	const cJSON *val = cJSON_GetObjectItemCaseSensitive(v, "value");
	fld(where, "%s.value", field);
	if (val && read_u64(rd, val, where, UINT64_MAX, &a->value) < 0)
		return -1;
	const cJSON *two = cJSON_GetObjectItemCaseSensitive(v, "valueTwo");
	fld(where, "%s.valueTwo", field);
	if (two && read_u64(rd, two, where, UINT64_MAX, &a->value_two) < 0)
		return -1;
	fld(where, "%s.op", field);
	const cJSON *op = cJSON_GetObjectItemCaseSensitive(v, "op");
	if (!op)
		return bad(rd, where, "missing (SCMP_CMP_EQ, SCMP_CMP_MASKED_EQ, ...)");
	if (read_string(rd, op, where, &a->op) < 0 || one_of(rd, where, a->op, operators, "operator") < 0)
		return -1;
	return 0;
}

static int read_rule(struct reader *rd, const cJSON *v, const char *field,
		     struct oci_seccomp_rule *r)
{
	if (known_keys(rd, v, field,
		       NAMES("names", "name", "action", "errnoRet", "args", "comment", "includes",
			     "excludes")) < 0)
		return -1;
	char where[FIELD_MAX];
	const cJSON *names = cJSON_GetObjectItemCaseSensitive(v, "names");
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(v, "name");
	if (names && name) {
		fld(where, "%s.name", field);
		return bad(rd, where, "give either names or the older name, not both");
	}
	size_t n = 0;
	if (name) {
		fld(where, "%s.name", field);
		const char **one = own(rd->l, 2, sizeof(*one));
		if (read_string(rd, name, where, &one[0]) < 0 || check_syscall_name(rd, where, one[0]) < 0)
			return -1;
		r->names = one;
		n = 1;
	} else {
		fld(where, "%s.names", field);
		if (read_strings(rd, names, where, check_syscall_name, &r->names, &n) < 0)
			return -1;
	}
	if (!n) {
		fld(where, "%s.names", field);
		return bad(rd, where, "missing: a rule names at least one system call");
	}
	fld(where, "%s.action", field);
	const cJSON *action = cJSON_GetObjectItemCaseSensitive(v, "action");
	if (!action)
		return bad(rd, where, "missing (SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, ...)");
	if (read_action(rd, action, where, &r->action) < 0)
		return -1;
	fld(where, "%s.errnoRet", field);
	if (read_errno(rd, cJSON_GetObjectItemCaseSensitive(v, "errnoRet"), where, r->action,
		       &r->has_errno, &r->errno_ret) < 0)
		return -1;
	const cJSON *args = cJSON_GetObjectItemCaseSensitive(v, "args");
	if (args && !cJSON_IsNull(args)) {
		fld(where, "%s.args", field);
		if (!cJSON_IsArray(args))
			return bad(rd, where, "expected a list of {index, value, valueTwo, op}");
		size_t count = (size_t)cJSON_GetArraySize(args);
		if (count > 6)
			return bad(rd, where, "%zu conditions; a system call has 6 arguments", count);
		struct oci_seccomp_arg *arr = own(rd->l, count, sizeof(*arr));
		const cJSON *it;
		size_t i = 0;
		cJSON_ArrayForEach(it, args) {
			fld(where, "%s.args[%zu]", field, i);
			if (read_arg(rd, it, where, &arr[i]) < 0)
				return -1;
			i++;
		}
		r->args = arr;
		r->n_args = count;
	}
	const cJSON *comment = cJSON_GetObjectItemCaseSensitive(v, "comment");
	fld(where, "%s.comment", field);
	if (comment && !is_text(comment))
		return bad(rd, where, "expected a string");
	fld(where, "%s.includes", field);
	if (read_filter(rd, cJSON_GetObjectItemCaseSensitive(v, "includes"), where, &r->caps_all,
			&r->arches, r->min_kernel) < 0)
		return -1;
	fld(where, "%s.excludes", field);
	if (read_filter(rd, cJSON_GetObjectItemCaseSensitive(v, "excludes"), where, &r->caps_none,
			&r->not_arches, r->below_kernel) < 0)
		return -1;
	return 0;
}

static int read_archmap(struct reader *rd, const cJSON *v, struct loaded_profile *l)
{
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsArray(v))
		return bad(rd, "archMap", "expected a list of {architecture, subArchitectures}");
	size_t n = (size_t)cJSON_GetArraySize(v), i = 0;
	struct oci_seccomp_archmap *map = own(l, n, sizeof(*map));
	const cJSON *it;
	cJSON_ArrayForEach(it, v) {
		char where[FIELD_MAX];
		fld(where, "archMap[%zu]", i);
		if (known_keys(rd, it, where, NAMES("architecture", "subArchitectures")) < 0)
			return -1;
		fld(where, "archMap[%zu].architecture", i);
		const cJSON *a = cJSON_GetObjectItemCaseSensitive(it, "architecture");
		if (!a)
			return bad(rd, where, "missing");
		if (read_string(rd, a, where, &map[i].arch) < 0 || check_scmp_arch(rd, where, map[i].arch) < 0)
			return -1;
		fld(where, "archMap[%zu].subArchitectures", i);
		if (read_strings(rd, cJSON_GetObjectItemCaseSensitive(it, "subArchitectures"), where,
				 check_scmp_arch, &map[i].sub, NULL) < 0)
			return -1;
		i++;
	}
	l->p.archmap = map;
	l->p.n_archmap = n;
	return 0;
}

static int read_profile(struct reader *rd, const cJSON *doc)
{
	struct loaded_profile *l = rd->l;
	if (!cJSON_IsObject(doc))
		return zl_invalid(rd->err, "seccomp profile %s: expected a JSON object", rd->path);
	if (cJSON_GetObjectItemCaseSensitive(doc, "listenerPath") ||
	    cJSON_GetObjectItemCaseSensitive(doc, "listenerMetadata"))
		return bad(rd, cJSON_GetObjectItemCaseSensitive(doc, "listenerPath") ? "listenerPath" : "listenerMetadata",
			   "not supported: zlapply runs no seccomp agent");
	if (known_keys(rd, doc, "",
		       NAMES("defaultAction", "defaultErrnoRet", "architectures", "archMap", "flags",
			     "syscalls")) < 0)
		return -1;
	const cJSON *action = cJSON_GetObjectItemCaseSensitive(doc, "defaultAction");
	if (!action)
		return bad(rd, "defaultAction", "missing (SCMP_ACT_ERRNO to refuse what the rules do not allow)");
	if (read_action(rd, action, "defaultAction", &l->p.default_action) < 0 ||
	    read_errno(rd, cJSON_GetObjectItemCaseSensitive(doc, "defaultErrnoRet"), "defaultErrnoRet",
		       l->p.default_action, &l->p.has_default_errno, &l->p.default_errno) < 0)
		return -1;
	const cJSON *archs = cJSON_GetObjectItemCaseSensitive(doc, "architectures");
	const cJSON *map = cJSON_GetObjectItemCaseSensitive(doc, "archMap");
	if (cJSON_GetArraySize(archs) > 0 && cJSON_GetArraySize(map) > 0)
		return bad(rd, "archMap", "give either architectures or archMap, not both");
	if (read_strings(rd, archs, "architectures", check_scmp_arch, &l->p.architectures, NULL) < 0 ||
	    read_archmap(rd, map, l) < 0 ||
	    read_strings(rd, cJSON_GetObjectItemCaseSensitive(doc, "flags"), "flags", check_flag,
			 &l->p.flags, NULL) < 0)
		return -1;
	const cJSON *calls = cJSON_GetObjectItemCaseSensitive(doc, "syscalls");
	if (calls && !cJSON_IsNull(calls)) {
		if (!cJSON_IsArray(calls))
			return bad(rd, "syscalls", "expected a list of rules");
		size_t n = (size_t)cJSON_GetArraySize(calls), i = 0;
		struct oci_seccomp_rule *rules = own(l, n, sizeof(*rules));
		const cJSON *it;
		cJSON_ArrayForEach(it, calls) {
			char where[FIELD_MAX];
			fld(where, "syscalls[%zu]", i);
			if (read_rule(rd, it, where, &rules[i]) < 0)
				return -1;
			i++;
		}
		l->p.rules = rules;
		l->p.n_rules = n;
	}
	return 0;
}

/* line:col of pos in text (both from 1). */
static void position(const char *text, const char *pos, int *line, int *col)
{
	*line = 1;
	*col = 1;
	for (const char *p = text; p < pos; p++) {
		if (*p == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

int oci_seccomp_parse(const char *path, const char *text, size_t len,
		      struct oci_seccomp_profile **out, struct zl_err *err)
{
	*out = NULL;
	const char *end = NULL;
	cJSON *check = cJSON_ParseWithLengthOpts(text, len, &end, false);
	if (!check) {
		int line, col;
		position(text, end && end >= text && end <= text + len ? end : text + len, &line, &col);
		return zl_invalid(err, "seccomp profile %s:%d:%d: not valid JSON", path, line, col);
	}
	cJSON_Delete(check);
	while (end < text + len && strchr(" \t\r\n", *end))
		end++;
	if (end < text + len) {
		int line, col;
		position(text, end, &line, &col);
		return zl_invalid(err, "seccomp profile %s:%d:%d: more after the JSON object", path, line, col);
	}
	_cleanup_free_ char *exact = numbers_as_strings(text, len);
	struct loaded_profile *l = zl_xcalloc(1, sizeof(*l));
	l->doc = cJSON_Parse(exact);
	struct reader rd = { .path = path, .l = l, .err = err };
	if (!l->doc) {
		oci_seccomp_profile_free(&l->p);
		return zl_fail(err, "seccomp profile %s: cannot read its numbers", path);
	}
	if (read_profile(&rd, l->doc) < 0) {
		oci_seccomp_profile_free(&l->p);
		return -1;
	}
	*out = &l->p;
	return 0;
}

int oci_seccomp_load(const char *path, struct oci_seccomp_profile **out, struct zl_err *err)
{
	*out = NULL;
	/* O_NONBLOCK: a FIFO given as the profile must not hang the apply. */
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return zl_err_set(err, ZL_ERR_INPUT, errno, "seccomp profile %s", path);
	if (!S_ISREG(st.st_mode))
		return zl_invalid(err, "seccomp profile %s: not a regular file", path);
	if (st.st_size > MAX_PROFILE_SIZE)
		return zl_invalid(err, "seccomp profile %s: %lld bytes, more than the %d a profile may have",
				  path, (long long)st.st_size, MAX_PROFILE_SIZE);
	_cleanup_free_ char *text = zl_xmalloc((size_t)st.st_size + 1);
	size_t len = 0;
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, text + len, (size_t)st.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return zl_err_set(err, ZL_ERR_INPUT, errno, "seccomp profile %s", path);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	text[len] = '\0';
	return oci_seccomp_parse(path, text, len, out, err);
}

/* ---- a replica's filter ---- */

int oci_seccomp_config(const struct security *sec, bool privileged, uint64_t caps, cJSON *lx,
		       struct zl_err *err)
{
	/* Docker: unconfined, or privileged without a profile of its own, has no filter. */
	if (sec->seccomp == OCI_SECCOMP_UNCONFINED ||
	    (privileged && sec->seccomp == OCI_SECCOMP_DEFAULT))
		return 0;
	struct oci_seccomp_host host;
	oci_seccomp_this_host(&host);
	if (sec->seccomp != OCI_SECCOMP_FILE) {
		cJSON_AddItemToObject(lx, "seccomp", oci_seccomp_json(&oci_seccomp_default, caps, &host));
		return 0;
	}
	struct oci_seccomp_profile *p = NULL;
	if (oci_seccomp_load(sec->seccomp_profile, &p, err) < 0)
		return zl_err_prefix(err, "security_opt");
	cJSON_AddItemToObject(lx, "seccomp", oci_seccomp_json(p, caps, &host));
	oci_seccomp_profile_free(p);
	return 0;
}
