/* zlinit: the /init of a VM replica's guest (the contract: ../vm-proto.h).
 *
 * It mounts what a Linux userland needs, loads the modules the initramfs
 * ships (virtio, 9p, ...), opens the virtio-serial port zl.ctl, sets up the
 * network from the kernel command line, mounts the replica's rootfs and
 * volumes (9p shares) under /newroot, then runs the replica's process
 * chrooted there and relays its output, its exit and the host's signals and
 * execs over the port. When the process ends it powers the guest off.
 *
 * One static binary, one thread, one poll() loop: the guest has one job and
 * nothing here may block it for long (a blocked PID 1 reaps nothing and
 * forwards no signal). Built with gcc -static; links nothing of the project.
 *
 * Failures before the process runs are sent as FAIL (when the port works)
 * and always printed on the console (ttyS0, the host's log of the VM). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../vm-proto.h"

#define NEWROOT "/newroot"
#define META "/.zl"
#define MODULES_ORDER "/lib/zlinit/modules.order"
/* 512000 is the largest msize the 6.1 kernel's virtio transport takes
 * (PAGE_SIZE * (VIRTQUEUE_NUM - 3)); more is clamped with a warning. cache=mmap:
 * no caching of data or metadata (the host's view stays the truth, as for
 * cache=none) but shared writable mmap works, which some programs need. */
#define NINEP_OPTS "trans=virtio,version=9p2000.L,msize=512000,cache=mmap"
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define OUT_HIGH (1024 * 1024)  /* queued output above which pipes are not read */
#define CHUNK (64 * 1024)       /* one read of a process pipe, one frame */

static int port = -1;       /* the zl.ctl port, O_NONBLOCK */
static int debug;           /* zl.debug on the command line: timings on the console */
static struct timespec t0;

/* Frames waiting to be written to the port. */
static struct {
	unsigned char *p;
	size_t off, len, cap;
} out;

/* Frames from the host, being assembled. */
static unsigned char in[ZLVM_HEADER + ZLVM_FRAME_MAX];
static size_t inlen;

/* The process description (ZLVM_PROCESS). */
static struct {
	uid_t uid;
	gid_t gid;
	gid_t *gids;
	size_t ngids;
	char *cwd, *hostname;
	char **argv, **env;
} spec;

/* The main process and the execs, each until it is reaped, its pipes are
 * at EOF and its end has been reported. */
struct proc {
	struct proc *next;
	pid_t pid;
	int main;
	uint32_t id;    /* an exec's id */
	int fd[2];      /* stdout, stderr read ends; -1 once at EOF */
	int reaped, status;
};
static struct proc *procs;

static long ms_since_boot(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long)(t.tv_sec * 1000 + t.tv_nsec / 1000000);
}

static long ms_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long)((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
}

/* The console is the only log a guest has. */
__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "zlinit: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

#define DEBUG(...) do { if (debug) say(__VA_ARGS__); } while (0)

__attribute__((noreturn)) static void power_off(void)
{
	sync();
	reboot(RB_POWER_OFF);
	/* Not PID 1, or no ACPI: exiting panics the kernel, and panic=-1 with
	 * QEMU's -no-reboot ends the VM all the same. */
	_exit(1);
}

static void queue(enum zlvm_frame type, const void *a, size_t alen, const void *b, size_t blen)
{
	size_t need = ZLVM_HEADER + alen + blen;
	if (out.off && out.off == out.len)
		out.off = out.len = 0;
	if (out.len + need > out.cap) {
		if (out.off) {
			memmove(out.p, out.p + out.off, out.len - out.off);
			out.len -= out.off;
			out.off = 0;
		}
		if (out.len + need > out.cap) {
			size_t cap = out.cap ? out.cap : 64 * 1024;
			while (cap < out.len + need)
				cap *= 2;
			unsigned char *p = realloc(out.p, cap);
			if (!p) {
				say("out of memory");
				power_off();
			}
			out.p = p;
			out.cap = cap;
		}
	}
	zlvm_header(out.p + out.len, type, (uint32_t)(alen + blen));
	if (alen)
		memcpy(out.p + out.len + ZLVM_HEADER, a, alen);
	if (blen)
		memcpy(out.p + out.len + ZLVM_HEADER + alen, b, blen);
	out.len += need;
}

static void queue_str(enum zlvm_frame type, const char *s)
{
	queue(type, s, strlen(s), NULL, 0);
}

/* Writes what the port takes now. The port is non-blocking: a blocking write
 * waits while the host is not connected, and PID 1 must not wait. -1 when the
 * host is gone (the caller backs off). */
static int flush_some(void)
{
	while (out.off < out.len) {
		ssize_t w = write(port, out.p + out.off, out.len - out.off);
		if (w > 0) {
			out.off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return 0;
		return -1;
	}
	return 0;
}

/* After EXIT or FAIL: write everything, then wait for the host to close its
 * end (its "I have read it all"; QEMU drops what it still buffers when the VM
 * stops), at most 2 s, then power off. */
__attribute__((noreturn)) static void finish(void)
{
	long start = ms_now(), hup_since = -1;
	while (out.off < out.len) {
		long now = ms_now();
		if (now - start > 30000 || (hup_since >= 0 && now - hup_since > 5000)) {
			say("the host does not read the channel; powering off");
			power_off();
		}
		struct pollfd pf = { .fd = port, .events = POLLOUT };
		if (poll(&pf, 1, 100) < 0 && errno != EINTR)
			break;
		if (pf.revents & POLLOUT) {
			hup_since = -1;
			if (flush_some() == 0)
				continue;
		}
		if (pf.revents & (POLLHUP | POLLERR)) {
			/* Not connected: POLLHUP comes at once, so sleep instead. */
			if (hup_since < 0)
				hup_since = now;
			poll(NULL, 0, 100);
		}
	}
	DEBUG("%ld ms: final frame written", ms_since_boot());
	long deadline = ms_now() + 2000;
	for (;;) {
		long left = deadline - ms_now();
		if (left <= 0)
			break;
		struct pollfd pf = { .fd = port, .events = POLLIN };
		if (poll(&pf, 1, (int)left) < 0 && errno != EINTR)
			break;
		if (pf.revents & POLLIN) {
			char buf[4096];
			ssize_t r = read(port, buf, sizeof buf);
			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
				break;
			continue;
		}
		if (pf.revents & (POLLHUP | POLLERR))
			break;
	}
	DEBUG("%ld ms: power off", ms_since_boot());
	power_off();
}

__attribute__((noreturn, format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
	char why[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	say("%s", why);
	if (port < 0)
		power_off();
	queue_str(ZLVM_FAIL, why);
	finish();
}

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = buf + 1;; p++) {
		if (*p == '/' || !*p) {
			char c = *p;
			*p = 0;
			if (mkdir(buf, mode) < 0 && errno != EEXIST)
				return -1;
			*p = c;
			if (!c)
				return 0;
		}
	}
}

static void must_mount(const char *src, const char *dst, const char *type, unsigned long flags, const char *data)
{
	if (mkdir_p(dst, 0755) < 0)
		fail("mkdir %s: %s", dst, strerror(errno));
	if (mount(src, dst, type, flags, data) < 0)
		fail("mount %s on %s: %s", type ? type : src, dst, strerror(errno));
}

/* A whole small file, NUL-terminated; NULL with errno when it cannot be read. */
static char *slurp(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	size_t cap = 4096, n = 0;
	char *p = malloc(cap);
	for (;;) {
		if (!p)
			break;
		if (n + 1 >= cap) {
			char *q = realloc(p, cap *= 2);
			if (!q) {
				free(p);
				p = NULL;
				break;
			}
			p = q;
		}
		ssize_t r = read(fd, p + n, cap - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			free(p);
			close(fd);
			errno = e;
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (!p) {
		errno = ENOMEM;
		return NULL;
	}
	p[n] = 0;
	if (len)
		*len = n;
	return p;
}

/* ---- early set-up ---- */

static void mount_basics(void)
{
	/* The kernel's built-in initramfs has /dev/console, so fds 0-2 are
	 * normally open; devtmpfs hides that node, so check before mounting. */
	int have_console = fcntl(2, F_GETFD) >= 0;
	mkdir("/proc", 0555);
	mkdir("/sys", 0555);
	mkdir("/dev", 0755);
	mkdir("/run", 0755);
	mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
	if (!have_console) {
		int fd = open("/dev/console", O_RDWR);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
			if (fd > 2)
				close(fd);
		}
	}
	mkdir("/dev/pts", 0755);
	mkdir("/dev/shm", 01777);
	mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "gid=5,mode=0620,ptmxmode=0666");
	mount("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	mount("run", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
	/* Line-buffered console: messages and the kernel's interleave sanely. */
	setvbuf(stderr, NULL, _IOLBF, 0);
}

static char *cmdline_ip, *cmdline_gw;

static void read_cmdline(void)
{
	char *s = slurp("/proc/cmdline", NULL);
	if (!s)
		return;
	for (char *w = strtok(s, " \t\n"); w; w = strtok(NULL, " \t\n")) {
		if (!strncmp(w, "zl.ip=", 6))
			cmdline_ip = w + 6;
		else if (!strncmp(w, "zl.gw=", 6))
			cmdline_gw = w + 6;
		else if (!strcmp(w, "zl.debug"))
			debug = 1;
	}
	/* s is kept: the words point into it. */
}

/* The builder lists the modules in dependency order, one path a line. */
static void load_modules(void)
{
	char *list = slurp(MODULES_ORDER, NULL);
	if (!list)
		return;
	for (char *path = strtok(list, "\n"); path; path = strtok(NULL, "\n")) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			say("module %s: %s", path, strerror(errno));
			continue;
		}
		if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)
			say("module %s: %s", path, strerror(errno));
		close(fd);
		DEBUG("%ld ms: %s", ms_since_boot(), path);
	}
	free(list);
}

/* Without udev there is no /dev/virtio-ports/NAME: the port's name is in
 * sysfs (it arrives from the host after the port itself, asynchronously),
 * the node is /dev/vportNpM. Retry briefly: TCG is slow. */
static void open_port(void)
{
	long deadline = ms_now() + 10000;
	for (;;) {
		DIR *d = opendir("/sys/class/virtio-ports");
		struct dirent *e;
		while (d && (e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			char path[300], name[64] = "";
			snprintf(path, sizeof path, "/sys/class/virtio-ports/%s/name", e->d_name);
			int fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue;
			ssize_t r = read(fd, name, sizeof name - 1);
			close(fd);
			if (r <= 0)
				continue;
			name[r] = 0;
			name[strcspn(name, "\n")] = 0;
			if (strcmp(name, ZLVM_PORT_NAME))
				continue;
			snprintf(path, sizeof path, "/dev/%s", e->d_name);
			port = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
			if (port >= 0) {
				closedir(d);
				return;
			}
		}
		if (d)
			closedir(d);
		if (ms_now() > deadline) {
			say("no virtio-serial port named %s", ZLVM_PORT_NAME);
			power_off();
		}
		poll(NULL, 0, 5);
	}
}

static int set_flags_up(int s, const char *ifname)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return -1;
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	return ioctl(s, SIOCSIFFLAGS, &ifr);
}

static void set_sin(struct sockaddr *sa, in_addr_t a)
{
	struct sockaddr_in sin;
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = a;
	memcpy(sa, &sin, sizeof sin);
}

/* lo up (the kernel gives it 127.0.0.1), and eth0 from zl.ip/zl.gw. Plain
 * ioctls: IPv4 address, netmask, default route, nothing else is needed. */
static void setup_network(void)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		fail("socket: %s", strerror(errno));
	if (set_flags_up(s, "lo") < 0)
		fail("lo up: %s", strerror(errno));
	if (!cmdline_ip) {
		close(s);
		return;
	}
	char addr[64];
	snprintf(addr, sizeof addr, "%s", cmdline_ip);
	char *slash = strchr(addr, '/');
	long prefix = 32;
	if (slash) {
		*slash = 0;
		char *end;
		prefix = strtol(slash + 1, &end, 10);
		if (*end || prefix < 0 || prefix > 32)
			fail("zl.ip=%s: bad prefix", cmdline_ip);
	}
	struct in_addr ip, gw;
	if (inet_pton(AF_INET, addr, &ip) != 1)
		fail("zl.ip=%s: not an IPv4 address", cmdline_ip);
	if (cmdline_gw && inet_pton(AF_INET, cmdline_gw, &gw) != 1)
		fail("zl.gw=%s: not an IPv4 address", cmdline_gw);
	/* virtio_net probes when its module loads; allow a moment all the same. */
	for (int i = 0; !if_nametoindex("eth0"); i++) {
		if (i == 200)
			fail("no eth0 (virtio-net) for zl.ip=%s", cmdline_ip);
		poll(NULL, 0, 10);
	}
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	snprintf(ifr.ifr_name, IFNAMSIZ, "eth0");
	set_sin(&ifr.ifr_addr, ip.s_addr);
	if (ioctl(s, SIOCSIFADDR, &ifr) < 0)
		fail("eth0 address %s: %s", cmdline_ip, strerror(errno));
	set_sin(&ifr.ifr_netmask, prefix ? htonl(~0u << (32 - prefix)) : 0);
	if (ioctl(s, SIOCSIFNETMASK, &ifr) < 0)
		fail("eth0 netmask /%ld: %s", prefix, strerror(errno));
	if (set_flags_up(s, "eth0") < 0)
		fail("eth0 up: %s", strerror(errno));
	if (cmdline_gw) {
		struct rtentry rt;
		memset(&rt, 0, sizeof rt);
		set_sin(&rt.rt_dst, 0);
		set_sin(&rt.rt_genmask, 0);
		set_sin(&rt.rt_gateway, gw.s_addr);
		rt.rt_flags = RTF_UP | RTF_GATEWAY;
		rt.rt_dev = (char *)"eth0";
		if (ioctl(s, SIOCADDRT, &rt) < 0)
			fail("default route via %s: %s", cmdline_gw, strerror(errno));
	}
	close(s);
}

/* ---- the replica's description and file system ---- */

static char *next_line(char **p, char *end, const char *what)
{
	char *nl = memchr(*p, '\n', (size_t)(end - *p));
	if (!nl)
		fail("%s: no %s line", ZLVM_PROCESS, what);
	*nl = 0;
	char *line = *p;
	*p = nl + 1;
	return line;
}

static unsigned long number(const char *s, const char *what)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (!*s || *end || errno || v > UINT32_MAX)
		fail("%s: bad %s \"%s\"", ZLVM_PROCESS, what, s);
	return v;
}

/* count NUL-terminated strings from *p; a NULL-terminated array. */
static char **strings(char **p, char *end, unsigned long count, const char *what)
{
	char **v = calloc(count + 1, sizeof *v);
	if (!v)
		fail("out of memory");
	for (unsigned long i = 0; i < count; i++) {
		char *nul = memchr(*p, 0, (size_t)(end - *p));
		if (!nul || *p >= end)
			fail("%s: %s: %lu strings expected, %lu found", ZLVM_PROCESS, what, count, i);
		v[i] = *p;
		*p = nul + 1;
	}
	return v;
}

static void read_process(void)
{
	size_t len;
	char *s = slurp(META "/" ZLVM_PROCESS, &len);
	if (!s)
		fail("%s/%s: %s", ZLVM_META_TAG, ZLVM_PROCESS, strerror(errno));
	char *p = s, *end = s + len;
	spec.uid = (uid_t)number(next_line(&p, end, "uid"), "uid");
	spec.gid = (gid_t)number(next_line(&p, end, "gid"), "gid");
	char *gids = next_line(&p, end, "gids");
	spec.cwd = next_line(&p, end, "cwd");
	spec.hostname = next_line(&p, end, "hostname");
	unsigned long argc = number(next_line(&p, end, "argc"), "argc");
	unsigned long envc = number(next_line(&p, end, "envc"), "envc");
	if (argc == 0)
		fail("%s: no command", ZLVM_PROCESS);
	if (argc > len || envc > len)
		fail("%s: argc %lu, envc %lu: more than the file holds", ZLVM_PROCESS, argc, envc);
	spec.argv = strings(&p, end, argc, "argv");
	spec.env = strings(&p, end, envc, "env");
	if (*gids) {
		spec.gids = calloc(strlen(gids) / 2 + 1, sizeof *spec.gids);
		if (!spec.gids)
			fail("out of memory");
		for (char *g = strtok(gids, ","); g; g = strtok(NULL, ","))
			spec.gids[spec.ngids++] = (gid_t)number(g, "additional gid");
	}
	if (spec.cwd[0] != '/')
		fail("%s: cwd \"%s\" is not absolute", ZLVM_PROCESS, spec.cwd);
}

/* A container's /dev: a tmpfs with the usual nodes, its own devpts and shm.
 * Called chrooted in /newroot. */
static void make_dev(void)
{
	static const struct { const char *name; unsigned maj, min; } nodes[] = {
		{ "null", 1, 3 }, { "zero", 1, 5 }, { "full", 1, 7 },
		{ "random", 1, 8 }, { "urandom", 1, 9 }, { "tty", 5, 0 },
	};
	static const struct { const char *name, *target; } links[] = {
		{ "ptmx", "pts/ptmx" }, { "fd", "/proc/self/fd" }, { "stdin", "/proc/self/fd/0" },
		{ "stdout", "/proc/self/fd/1" }, { "stderr", "/proc/self/fd/2" }, { "core", "/proc/kcore" },
	};
	must_mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k");
	for (size_t i = 0; i < sizeof nodes / sizeof *nodes; i++) {
		char path[64];
		snprintf(path, sizeof path, "/dev/%s", nodes[i].name);
		if (mknod(path, S_IFCHR | 0666, makedev(nodes[i].maj, nodes[i].min)) < 0)
			fail("mknod %s: %s", path, strerror(errno));
		chmod(path, 0666); /* the umask */
	}
	for (size_t i = 0; i < sizeof links / sizeof *links; i++) {
		char path[64];
		snprintf(path, sizeof path, "/dev/%s", links[i].name);
		if (symlink(links[i].target, path) < 0)
			fail("symlink %s: %s", path, strerror(errno));
	}
	must_mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5");
	must_mount("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k");
	must_mount("mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
}

/* Binds the file open as fd (O_PATH, opened outside the chroot, reached
 * through /proc/self/fd) onto target, inside the chroot. A missing target is
 * made (an empty file); a dangling symlink there fails the mount. */
static int bind_file(int fd, const char *target, int ro)
{
	char src[64], dir[PATH_MAX];
	struct stat st;
	snprintf(src, sizeof src, "/proc/self/fd/%d", fd);
	snprintf(dir, sizeof dir, "%s", target);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		mkdir_p(dir, 0755);
	}
	if (lstat(target, &st) < 0 && errno == ENOENT) {
		int t = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0644);
		if (t >= 0)
			close(t);
	}
	if (mount(src, target, NULL, MS_BIND, NULL) < 0)
		return -1;
	if (ro && mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
		return -1;
	return 0;
}

/* A line of ZLVM_MOUNTS: TAG DEST ro|rw [FILE]. */
struct volume {
	char *tag, *dest, *file;
	int ro;
	int fd;  /* a file volume: the file, O_PATH */
};

static struct volume *read_mounts(size_t *count)
{
	char *text = slurp(META "/" ZLVM_MOUNTS, NULL);
	*count = 0;
	if (!text) {
		if (errno != ENOENT)
			fail("%s/%s: %s", ZLVM_META_TAG, ZLVM_MOUNTS, strerror(errno));
		return NULL;
	}
	size_t n = 1;
	for (char *c = text; *c; c++)
		n += *c == '\n';
	struct volume *v = calloc(n, sizeof *v);
	if (!v)
		fail("out of memory");
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		char *f[5] = { line };
		int nf = 1;
		for (char *c = line; *c && nf < 5; c++)
			if (*c == '\t') {
				*c = 0;
				f[nf++] = c + 1;
			}
		if ((nf != 3 && nf != 4) || !*f[0] || strchr(f[0], '/') || f[1][0] != '/' ||
		    (strcmp(f[2], "ro") && strcmp(f[2], "rw")) ||
		    (nf == 4 && (!*f[3] || strchr(f[3], '/') || !strcmp(f[3], ".") || !strcmp(f[3], ".."))))
			fail("%s: bad line \"%s\"", ZLVM_MOUNTS, line);
		v[*count] = (struct volume){ .tag = f[0], .dest = f[1], .ro = !strcmp(f[2], "ro"),
					     .file = nf == 4 ? f[3] : NULL, .fd = -1 };
		++*count;
	}
	/* text is kept: the volumes point into it. */
	return v;
}

/* The replica's file system under /newroot. The mounts inside it are made
 * chrooted there, so that the image's symlinks (/etc/resolv.conf ->
 * /run/..., a volume's path through a link) resolve inside the image, as a
 * container runtime resolves them; zlinit then returns to its own root. */
static void setup_root(void)
{
	must_mount(ZLVM_META_TAG, META, "9p", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
		   "trans=virtio,version=9p2000.L,cache=none");
	read_process();
	size_t nvol;
	struct volume *vol = read_mounts(&nvol);
	int resolv = open(META "/resolv.conf", O_PATH | O_CLOEXEC);
	int hosts = open(META "/hosts", O_PATH | O_CLOEXEC);
	/* A file volume's share (QEMU shares directories only) is mounted out
	 * of the process's sight; its one file is bound in below. */
	for (size_t i = 0; i < nvol; i++) {
		if (!vol[i].file)
			continue;
		char dir[300], path[600];
		snprintf(dir, sizeof dir, "/.zlvol/%s", vol[i].tag);
		must_mount(vol[i].tag, dir, "9p", vol[i].ro ? MS_RDONLY : 0, NINEP_OPTS);
		snprintf(path, sizeof path, "%s/%s", dir, vol[i].file);
		if ((vol[i].fd = open(path, O_PATH | O_CLOEXEC)) < 0)
			fail("volume %s: %s: %s", vol[i].tag, vol[i].file, strerror(errno));
	}

	must_mount(ZLVM_ROOT_TAG, NEWROOT, "9p", 0, NINEP_OPTS);
	int oldroot = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (oldroot < 0 || chroot(NEWROOT) < 0 || chdir("/") < 0)
		fail("chroot %s: %s", NEWROOT, strerror(errno));

	must_mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	must_mount("sysfs", "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	make_dev();
	/* /tmp a tmpfs, not the rootfs share: a unix socket cannot be bound on
	 * 9p (ENXIO; QEMU refuses special files), and /tmp is where programs
	 * put them. */
	must_mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");

	int covers_resolv = 0, covers_hosts = 0;
	for (size_t i = 0; i < nvol; i++) {
		covers_resolv |= !strcmp(vol[i].dest, "/etc/resolv.conf");
		covers_hosts |= !strcmp(vol[i].dest, "/etc/hosts");
		if (!vol[i].file)
			must_mount(vol[i].tag, vol[i].dest, "9p", vol[i].ro ? MS_RDONLY : 0, NINEP_OPTS);
		else if (bind_file(vol[i].fd, vol[i].dest, vol[i].ro) < 0)
			fail("bind %s/%s on %s: %s", vol[i].tag, vol[i].file, vol[i].dest, strerror(errno));
	}
	/* resolv.conf and hosts as Docker has them: bound read-only, unless a
	 * volume is mounted there. */
	if (resolv >= 0 && !covers_resolv && bind_file(resolv, "/etc/resolv.conf", 1) < 0)
		say("bind /etc/resolv.conf: %s (left as the image has it)", strerror(errno));
	if (hosts >= 0 && !covers_hosts && bind_file(hosts, "/etc/hosts", 1) < 0)
		say("bind /etc/hosts: %s (left as the image has it)", strerror(errno));

	if (fchdir(oldroot) < 0 || chroot(".") < 0 || chdir("/") < 0)
		fail("back to the initramfs root: %s", strerror(errno));
	close(oldroot);
	if (resolv >= 0)
		close(resolv);
	if (hosts >= 0)
		close(hosts);
	for (size_t i = 0; i < nvol; i++)
		if (vol[i].fd >= 0)
			close(vol[i].fd);
	free(vol);
	if (*spec.hostname && sethostname(spec.hostname, strlen(spec.hostname)) < 0)
		fail("sethostname %s: %s", spec.hostname, strerror(errno));
}

/* ---- running the process and the execs ---- */

/* strerror as Go prints it ("no such file or directory"): Docker's words. */
static const char *lower_error(int e, char *buf, size_t n)
{
	snprintf(buf, n, "%s", strerror(e));
	if (buf[0] >= 'A' && buf[0] <= 'Z' && !(buf[1] >= 'A' && buf[1] <= 'Z'))
		buf[0] = (char)(buf[0] - 'A' + 'a');
	return buf;
}

/* Reports to the parent, through the status pipe, why the child could not
 * reach exec (setup, not the command: that is 126/127 on stderr). */
__attribute__((noreturn, format(printf, 2, 3))) static void child_fail(int st, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof buf - 1)
		n = sizeof buf - 1;
	if (write(st, buf, (size_t)n) < 0)
		_exit(126);
	_exit(126);
}

__attribute__((noreturn, format(printf, 2, 3))) static void exec_fail(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vdprintf(2, fmt, ap);
	va_end(ap);
	_exit(code);
}

/* Go's exec.LookPath with the process's PATH (runc and Docker use it), so
 * the messages and codes are Docker's. */
static const char *lookup(const char *name, char *buf, size_t n)
{
	char e[128];
	struct stat st;
	if (strchr(name, '/')) {
		if (stat(name, &st) < 0)
			exec_fail(errno == ENOENT || errno == ENOTDIR ? 127 : 126, "exec: \"%s\": stat %s: %s\n",
				  name, name, lower_error(errno, e, sizeof e));
		if (S_ISDIR(st.st_mode) || !(st.st_mode & 0111))
			exec_fail(126, "exec: \"%s\": permission denied\n", name);
		return name;
	}
	const char *path = NULL;
	for (char **v = spec.env; *v; v++)
		if (!strncmp(*v, "PATH=", 5))
			path = *v + 5;
	if (!path)
		path = DEFAULT_PATH;
	while (*name) {
		size_t len = strcspn(path, ":");
		if (snprintf(buf, n, "%.*s/%s", (int)len, len ? path : ".", name) < (int)n &&
		    stat(buf, &st) == 0 && !S_ISDIR(st.st_mode) && (st.st_mode & 0111))
			return buf;
		if (!path[len])
			break;
		path += len + 1;
	}
	exec_fail(127, "exec: \"%s\": executable file not found in $PATH\n", name);
}

__attribute__((noreturn)) static void child(char *const *argv, int o, int e, int st)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setsid();
	int null = open("/dev/null", O_RDWR);
	if (null < 0 || dup2(null, 0) < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
		child_fail(st, "stdio: %s", strerror(errno));
	if (null > 2)
		close(null);
	if (chroot(NEWROOT) < 0 || chdir("/") < 0)
		child_fail(st, "chroot %s: %s", NEWROOT, strerror(errno));
	/* A missing cwd is made, as runc does. */
	if (chdir(spec.cwd) < 0 && (errno != ENOENT || mkdir_p(spec.cwd, 0755) < 0 || chdir(spec.cwd) < 0))
		child_fail(st, "chdir %s: %s", spec.cwd, strerror(errno));
	if (setgroups(spec.ngids, spec.gids) < 0)
		child_fail(st, "setgroups: %s", strerror(errno));
	if (setgid(spec.gid) < 0)
		child_fail(st, "setgid %u: %s", (unsigned)spec.gid, strerror(errno));
	if (setuid(spec.uid) < 0)
		child_fail(st, "setuid %u: %s", (unsigned)spec.uid, strerror(errno));
	char buf[PATH_MAX], err[128];
	const char *path = lookup(argv[0], buf, sizeof buf);
	execve(path, argv, spec.env);
	exec_fail(errno == ENOENT || errno == ENOTDIR ? 127 : 126, "exec: \"%s\": %s\n", argv[0],
		  lower_error(errno, err, sizeof err));
}

/* Forks argv in the replica's root as its user, output on two pipes.
 * Returns the proc, or NULL with why when it could not get to exec. */
static struct proc *spawn(char *const *argv, char *why, size_t n)
{
	int o[2], e[2], st[2];
	if (pipe2(o, O_CLOEXEC) < 0) {
		snprintf(why, n, "pipe: %s", strerror(errno));
		return NULL;
	}
	if (pipe2(e, O_CLOEXEC) < 0) {
		snprintf(why, n, "pipe: %s", strerror(errno));
		close(o[0]), close(o[1]);
		return NULL;
	}
	if (pipe2(st, O_CLOEXEC) < 0) {
		snprintf(why, n, "pipe: %s", strerror(errno));
		close(o[0]), close(o[1]), close(e[0]), close(e[1]);
		return NULL;
	}
	pid_t pid = fork();
	if (pid == 0)
		child(argv, o[1], e[1], st[1]);
	int fork_errno = errno;
	close(o[1]), close(e[1]), close(st[1]);
	if (pid < 0) {
		snprintf(why, n, "fork: %s", strerror(fork_errno));
		close(o[0]), close(e[0]), close(st[0]);
		return NULL;
	}
	/* The status pipe closes at exec (or _exit): a short wait, the child only
	 * does a few syscalls before it. */
	size_t got = 0;
	for (;;) {
		ssize_t r = read(st[0], why + got, n - 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || (got += (size_t)r) == n - 1)
			break;
	}
	close(st[0]);
	why[got] = 0;
	if (got) {
		close(o[0]), close(e[0]);
		waitpid(pid, NULL, 0);
		return NULL;
	}
	struct proc *p = calloc(1, sizeof *p);
	if (!p) {
		snprintf(why, n, "out of memory");
		kill(pid, SIGKILL);
		close(o[0]), close(e[0]);
		return NULL;
	}
	p->pid = pid;
	p->fd[0] = o[0];
	p->fd[1] = e[0];
	fcntl(o[0], F_SETFL, O_NONBLOCK);
	fcntl(e[0], F_SETFL, O_NONBLOCK);
	p->next = procs;
	procs = p;
	return p;
}

static struct proc *main_proc;
static int main_done;  /* the main process is reaped */

static void exec_exit(uint32_t id, int code)
{
	unsigned char b[4];
	char s[16];
	zlvm_put_u32(b, id);
	snprintf(s, sizeof s, "%d", code);
	queue(ZLVM_EXEC_EXIT, b, 4, s, strlen(s));
}

static void exec_out(uint32_t id, int stream, const void *data, size_t len)
{
	unsigned char b[5];
	zlvm_put_u32(b, id);
	b[4] = (unsigned char)stream;
	queue(ZLVM_EXEC_OUT, b, 5, data, len);
}

static void on_exec(const unsigned char *p, uint32_t len)
{
	if (len < 4) {
		say("EXEC frame of %u bytes", len);
		return;
	}
	uint32_t id = zlvm_get_u32(p);
	char why[512];
	if (main_done) {
		snprintf(why, sizeof why, "the replica's process has exited\n");
		exec_out(id, 2, why, strlen(why));
		exec_exit(id, 126);
		return;
	}
	/* argv: NUL-separated, the last NUL optional. */
	size_t n = len - 4;
	char *buf = malloc(n + 1);
	char **argv = NULL;
	if (!buf)
		goto oom;
	memcpy(buf, p + 4, n);
	buf[n] = 0;
	size_t argc = 0;
	for (size_t i = 0; i < n; i++)
		if (!buf[i])
			argc++;
	if (n && buf[n - 1])
		argc++;
	argv = calloc(argc + 1, sizeof *argv);
	if (!argv)
		goto oom;
	for (size_t i = 0, k = 0; k < argc; k++) {
		argv[k] = buf + i;
		i += strlen(buf + i) + 1;
	}
	struct proc *child = NULL;
	if (!argc || !argv[0][0])
		snprintf(why, sizeof why, "exec: no command");
	else
		child = spawn(argv, why, sizeof why);
	if (child) {
		child->id = id;
	} else {
		size_t l = strlen(why);
		why[l++] = '\n';
		exec_out(id, 2, why, l);
		exec_exit(id, 126);
	}
	free(argv);
	free(buf);
	return;
oom:
	/* Every EXEC gets its EXEC_EXIT: the host waits for it. */
	free(buf);
	exec_out(id, 2, "out of memory\n", 14);
	exec_exit(id, 126);
}

static void on_signal(const unsigned char *p, uint32_t len)
{
	char s[16];
	if (len == 0 || len >= sizeof s)
		return;
	memcpy(s, p, len);
	s[len] = 0;
	char *end;
	long sig = strtol(s, &end, 10);
	if (*end || sig < 1 || sig > 64) {
		say("SIGNAL \"%s\": not a signal number", s);
		return;
	}
	if (main_proc && !main_done)
		kill(-main_proc->pid, (int)sig);
}

/* Reads what the host sent and acts on each whole frame. 0, or -1 when the
 * host is not connected. */
static int read_port(void)
{
	ssize_t r = read(port, in + inlen, sizeof in - inlen);
	if (r < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	if (r == 0)
		return -1;
	inlen += (size_t)r;
	size_t at = 0;
	while (inlen - at >= ZLVM_HEADER) {
		uint32_t len = zlvm_get_u32(in + at + 1);
		if (len > ZLVM_FRAME_MAX) {
			/* No way to find the next frame: stop the replica rather than
			 * run on deaf to its host. */
			say("protocol error: a frame of %u bytes; killing the process", len);
			if (main_proc && !main_done)
				kill(-main_proc->pid, SIGKILL);
			inlen = 0;
			return 0;
		}
		if (inlen - at < ZLVM_HEADER + len)
			break;
		const unsigned char *payload = in + at + ZLVM_HEADER;
		switch (in[at]) {
		case ZLVM_SIGNAL:
			on_signal(payload, len);
			break;
		case ZLVM_EXEC:
			on_exec(payload, len);
			break;
		default:
			say("unknown frame type %u", in[at]);
		}
		at += ZLVM_HEADER + len;
	}
	memmove(in, in + at, inlen - at);
	inlen -= at;
	return 0;
}

/* One read of one pipe, framed. */
static void read_pipe(struct proc *p, int which)
{
	static unsigned char buf[CHUNK];
	ssize_t r = read(p->fd[which], buf, sizeof buf);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		close(p->fd[which]);
		p->fd[which] = -1;
		return;
	}
	if (p->main)
		queue(which ? ZLVM_STDERR : ZLVM_STDOUT, buf, (size_t)r, NULL, 0);
	else
		exec_out(p->id, which + 1, buf, (size_t)r);
}

static void reap(void)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (struct proc *p = procs; p; p = p->next)
			if (p->pid == pid) {
				p->reaped = 1;
				p->status = status;
				if (p->main)
					main_done = 1;
			}
		/* Anything else is an orphan that was reparented to us. */
	}
}

/* Reports and forgets the execs that are over (reaped, pipes at EOF).
 * The main process stays in the list: its EXIT is the last frame. */
static void report_ended(void)
{
	for (struct proc **pp = &procs; *pp;) {
		struct proc *p = *pp;
		if (p->main || !p->reaped || p->fd[0] >= 0 || p->fd[1] >= 0) {
			pp = &p->next;
			continue;
		}
		/* Killed by a signal: 128+N, the shell's and docker exec's code. */
		exec_exit(p->id, WIFEXITED(p->status) ? WEXITSTATUS(p->status) : 128 + WTERMSIG(p->status));
		*pp = p->next;
		free(p);
	}
}

static void run(void)
{
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	int sfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0)
		fail("signalfd: %s", strerror(errno));

	char why[512];
	main_proc = spawn(spec.argv, why, sizeof why);
	if (!main_proc)
		fail("%s", why);
	main_proc->main = 1;
	queue(ZLVM_READY, NULL, 0, NULL, 0);
	DEBUG("%ld ms: READY", ms_since_boot());

	long hup_until = 0, drain_deadline = 0;
	struct pollfd *pf = NULL;
	struct proc **owner = NULL;
	int *which = NULL;
	size_t pf_cap = 0;
	for (;;) {
		reap();
		if (main_done && !drain_deadline) {
			/* What a PID namespace does when its init dies: everything
			 * else goes, so that the pipes reach EOF and nothing writes
			 * to the rootfs while the guest powers off. */
			kill(-1, SIGKILL);
			drain_deadline = ms_now() + 5000;
		}
		report_ended();
		if (main_done && main_proc->fd[0] < 0 && main_proc->fd[1] < 0 && procs == main_proc && !procs->next)
			break;
		long now = ms_now();
		if (drain_deadline && now > drain_deadline) {
			say("pipes still open 5 s after the process exited; stopping anyway");
			break;
		}

		size_t want = 2;
		for (struct proc *p = procs; p; p = p->next)
			want += 2;
		if (want > pf_cap) {
			pf = realloc(pf, want * sizeof *pf);
			owner = realloc(owner, want * sizeof *owner);
			which = realloc(which, want * sizeof *which);
			if (!pf || !owner || !which)
				fail("out of memory");
			pf_cap = want;
		}
		nfds_t n = 0;
		int timeout = -1;
		if (now < hup_until) {
			/* Not connected: the port would report POLLHUP at once. */
			timeout = (int)(hup_until - now);
		} else {
			pf[n] = (struct pollfd){ .fd = port, .events = POLLIN | (out.off < out.len ? POLLOUT : 0) };
			owner[n++] = NULL;
		}
		pf[n] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		owner[n++] = NULL;
		if (out.len - out.off < OUT_HIGH)
			for (struct proc *p = procs; p; p = p->next)
				for (int w = 0; w < 2; w++)
					if (p->fd[w] >= 0) {
						pf[n] = (struct pollfd){ .fd = p->fd[w], .events = POLLIN };
						owner[n] = p;
						which[n++] = w;
					}
		if (drain_deadline) {
			kill(-1, SIGKILL); /* what forked meanwhile */
			int left = (int)(drain_deadline - now);
			timeout = timeout < 0 || timeout > 100 ? 100 : timeout;
			if (left < timeout)
				timeout = left;
		}
		if (poll(pf, n, timeout) < 0) {
			if (errno == EINTR)
				continue;
			fail("poll: %s", strerror(errno));
		}
		for (nfds_t i = 0; i < n; i++) {
			if (!pf[i].revents)
				continue;
			if (pf[i].fd == port) {
				int gone = 0;
				if (pf[i].revents & POLLOUT)
					gone |= flush_some() < 0;
				if (pf[i].revents & POLLIN)
					gone |= read_port() < 0;
				else if (pf[i].revents & (POLLHUP | POLLERR))
					gone = 1;
				if (gone) {
					/* The host went away: drop any half frame (a new
					 * connection starts a new stream), look again soon. */
					inlen = 0;
					hup_until = ms_now() + 100;
				}
			} else if (pf[i].fd == sfd) {
				struct signalfd_siginfo si;
				while (read(sfd, &si, sizeof si) > 0)
					;
			} else {
				read_pipe(owner[i], which[i]);
			}
		}
	}

	int st = main_proc->status;
	char exit_s[32];
	snprintf(exit_s, sizeof exit_s, "%d %d", WIFEXITED(st) ? WEXITSTATUS(st) : 0, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	DEBUG("%ld ms: EXIT %s", ms_since_boot(), exit_s);
	queue_str(ZLVM_EXIT, exit_s);
	finish();
}

int main(void)
{
	clock_gettime(CLOCK_MONOTONIC, &t0);
	mount_basics();
	read_cmdline();
	DEBUG("%ld ms: /init", ms_since_boot());
	/* Reboot or power off at once: the host owns the VM's lifetime. */
	reboot(RB_DISABLE_CAD);
	load_modules();
	DEBUG("%ld ms: modules loaded", ms_since_boot());
	open_port();
	DEBUG("%ld ms: port open", ms_since_boot());
	setup_network();
	setup_root();
	DEBUG("%ld ms: root mounted", ms_since_boot());
	run();
}
