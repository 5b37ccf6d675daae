/* zlvm-host.c: what a VM replica takes from the host: its cgroup, the
 * bridge and tap in its network namespace, the choice of KVM or TCG, and
 * QEMU's command line. */
#include "backends/vm/zlvm-internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "backends/monitor/monitor.h"

void vm_strv_free(char **v)
{
	if (!v)
		return;
	for (size_t i = 0; v[i]; i++)
		free(v[i]);
	free(v);
}

char *vm_find_exe(const char *name)
{
	if (strchr(name, '/'))
		return access(name, X_OK) == 0 ? zl_xstrdup(name) : NULL;
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	/* root's usual directories too: zlmon runs us with a minimal PATH */
	_cleanup_free_ char *copy = zl_xasprintf("%s:/usr/sbin:/usr/bin:/sbin:/bin", path);
	char *save = NULL;
	for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		char *full = zl_xasprintf("%s/%s", dir, name);
		struct stat sb;
		if (stat(full, &sb) == 0 && S_ISREG(sb.st_mode) && access(full, X_OK) == 0)
			return full;
		free(full);
	}
	return NULL;
}

char *vm_guest_kernel(const char *guest)
{
	char *elf = zl_xasprintf("%s/vmlinux", guest);
	if (access(elf, R_OK) == 0)
		return elf;
	free(elf);
	return zl_xasprintf("%s/vmlinuz", guest);
}

/* ---- the network namespace ----
 * zlapply gave the namespace eth0 (a veth to the host's bridge) with the
 * replica's address and a default route. A VM takes them over: a tap for
 * QEMU and a bridge zlbr0 join eth0, eth0 loses its address and gets a new
 * MAC, and the guest gets eth0's address, gateway and MAC (zlapply derives
 * the MAC from the address; neighbours' ARP caches stay right). iproute2's
 * `ip` does the work, run inside the namespace (this process enters it:
 * it is single-threaded). */
static int ip_run(const char *const args[], int stdin_fd, struct zl_buf *out, struct zl_err *err)
{
	_cleanup_free_ char *ip = vm_find_exe("ip");
	if (!ip)
		return zl_fail(err, "network: ip (iproute2) not found");
	const char *argv[16] = { ip };
	size_t n = 1;
	for (size_t i = 0; args[i] && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	struct zl_buf local = { 0 };
	struct zl_buf *o = out ? out : &local;
	int code = 0;
	int r = zl_run(argv, stdin_fd, o, &code, err);
	if (r == 0 && code != 0) {
		struct zl_buf cmd = { 0 };
		for (size_t i = 1; argv[i]; i++)
			zl_buf_printf(&cmd, "%s%s", i > 1 ? " " : "", argv[i]);
		while (o->len && (o->data[o->len - 1] == '\n' || o->data[o->len - 1] == ' '))
			o->data[--o->len] = '\0';
		r = zl_fail(err, "network: ip %s: exit %d: %s", cmd.data, code, o->len ? o->data : "(no output)");
		zl_buf_free(&cmd);
	}
	zl_buf_free(&local);
	return r;
}

/* Runs the lines of cmds with `ip -batch -`; force goes on past errors. */
static int ip_batch(const char *cmds, bool force, struct zl_err *err)
{
	int fd = memfd_create("zlvm-ip", MFD_CLOEXEC);
	if (fd < 0)
		return zl_fail_errno(err, "network: memfd");
	if (zlvm_write_all(fd, cmds, strlen(cmds)) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
		close(fd);
		return zl_fail_errno(err, "network: memfd");
	}
	const char *args_force[] = { "-force", "-batch", "-", NULL };
	const char *args[] = { "-batch", "-", NULL };
	int r = ip_run(force ? args_force : args, fd, NULL, err);
	close(fd);
	return r;
}

static int netns_enter(const char *path, int *saved, struct zl_err *err)
{
	int target = open(path, O_RDONLY | O_CLOEXEC);
	if (target < 0)
		return zl_fail_errno(err, "network namespace %s", path);
	*saved = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (*saved < 0 || setns(target, CLONE_NEWNET) < 0) {
		int e = errno;
		close(target);
		if (*saved >= 0)
			close(*saved);
		errno = e;
		return zl_fail_errno(err, "enter network namespace %s", path);
	}
	close(target);
	return 0;
}

static void netns_leave(int saved)
{
	if (setns(saved, CLONE_NEWNET) < 0)
		abort(); /* never: going on in the replica's namespace would be worse */
	close(saved);
}

/* eth0's IPv4 address, prefix, MAC and MTU, and the default gateway. */
static int read_eth0(struct vm_net *n, struct zl_err *err)
{
	struct zl_buf out = { 0 };
	const char *addr_args[] = { "-j", "addr", "show", "dev", "eth0", NULL };
	if (ip_run(addr_args, -1, &out, err) < 0) {
		zl_buf_free(&out);
		return zl_err_prefix(err, "the network namespace has no eth0");
	}
	cJSON *arr = cJSON_Parse(out.data);
	zl_buf_free(&out);
	const cJSON *link = cJSON_GetArrayItem(arr, 0);
	const cJSON *mac = cJSON_GetObjectItemCaseSensitive(link, "address");
	const cJSON *mtu = cJSON_GetObjectItemCaseSensitive(link, "mtu");
	const cJSON *a;
	cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(link, "addr_info")) {
		const cJSON *fam = cJSON_GetObjectItemCaseSensitive(a, "family");
		const cJSON *local = cJSON_GetObjectItemCaseSensitive(a, "local");
		const cJSON *plen = cJSON_GetObjectItemCaseSensitive(a, "prefixlen");
		if (cJSON_IsString(fam) && strcmp(fam->valuestring, "inet") == 0 &&
		    cJSON_IsString(local) && cJSON_IsNumber(plen) && !n->addr[0]) {
			snprintf(n->addr, sizeof(n->addr), "%s", local->valuestring);
			n->prefix = plen->valueint;
		}
	}
	if (cJSON_IsString(mac))
		snprintf(n->mac, sizeof(n->mac), "%s", mac->valuestring);
	n->mtu = cJSON_IsNumber(mtu) ? mtu->valueint : 1500;
	cJSON_Delete(arr);
	if (!n->addr[0])
		return zl_fail(err, "network: eth0 in %s has no IPv4 address", n->netns);
	if (strlen(n->mac) != 17)
		return zl_fail(err, "network: eth0 in %s has no MAC address", n->netns);
	const char *route_args[] = { "-j", "-4", "route", "show", "default", NULL };
	if (ip_run(route_args, -1, &out, err) < 0) {
		zl_buf_free(&out);
		return -1;
	}
	arr = cJSON_Parse(out.data);
	zl_buf_free(&out);
	const cJSON *gw = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(arr, 0), "gateway");
	if (cJSON_IsString(gw))
		snprintf(n->gw, sizeof(n->gw), "%s", gw->valuestring);
	cJSON_Delete(arr);
	return 0;
}

static char *net_record(const struct vm_net *n)
{
	return zl_xasprintf("netns %s\naddr %s/%d\ngw %s\nmac %s\nmtu %d\n", n->netns, n->addr,
			    n->prefix, n->gw[0] ? n->gw : "-", n->mac, n->mtu);
}

static int net_record_read(const char *path, struct vm_net *n)
{
	memset(n, 0, sizeof(*n));
	char *text = NULL;
	size_t len = 0;
	if (zl_read_file(path, &text, &len, NULL) < 0)
		return -1;
	int got = 0;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "netns ", 6))
			got += snprintf(n->netns, sizeof(n->netns), "%s", line + 6) > 0;
		else if (!strncmp(line, "addr ", 5))
			got += sscanf(line + 5, "%15[0-9.]/%d", n->addr, &n->prefix) == 2;
		else if (!strncmp(line, "gw ", 3))
			got += snprintf(n->gw, sizeof(n->gw), "%s", strcmp(line + 3, "-") ? line + 3 : "") >= 0;
		else if (!strncmp(line, "mac ", 4))
			got += snprintf(n->mac, sizeof(n->mac), "%s", line + 4) == 17;
		else if (!strncmp(line, "mtu ", 4))
			n->mtu = atoi(line + 4);
	}
	free(text);
	return got == 4 ? 0 : -1;
}

static bool link_exists(const char *name)
{
	const char *args[] = { "link", "show", "dev", name, NULL };
	struct zl_err ignored = ZL_ERR_INIT;
	return ip_run(args, -1, NULL, &ignored) == 0;
}

/* In the namespace: bridge and tap gone, eth0 as zlapply made it. */
static int restore_in_netns(const struct vm_net *n, struct zl_err *err)
{
	struct zl_buf cmds = { 0 };
	if (link_exists(VM_BRIDGE))
		zl_buf_printf(&cmds, "link del " VM_BRIDGE "\n");
	if (link_exists(VM_TAP))
		zl_buf_printf(&cmds, "link del " VM_TAP "\n");
	zl_buf_printf(&cmds, "link set eth0 down\nlink set eth0 address %s\nlink set eth0 up\n"
			     "addr replace %s/%d dev eth0\n", n->mac, n->addr, n->prefix);
	if (n->gw[0])
		zl_buf_printf(&cmds, "route replace default via %s dev eth0\n", n->gw);
	int r = ip_batch(cmds.data, true, err);
	zl_buf_free(&cmds);
	/* -force went past errors: what counts is what eth0 looks like now. */
	struct vm_net now = { 0 };
	snprintf(now.netns, sizeof(now.netns), "%s", n->netns);
	struct zl_err rerr = ZL_ERR_INIT;
	if (read_eth0(&now, &rerr) < 0 || strcmp(now.addr, n->addr) != 0 ||
	    strcasecmp(now.mac, n->mac) != 0) {
		if (r == 0)
			zl_fail(err, "network: eth0 in %s was not restored (%s)", n->netns,
				rerr.msg[0] ? rerr.msg : "address or MAC differ");
		return -1;
	}
	return 0;
}

int vm_net_teardown(const char *record_path, struct zl_err *err)
{
	struct vm_net n;
	if (net_record_read(record_path, &n) < 0) {
		if (access(record_path, F_OK) == 0)
			return zl_fail(err, "network: %s is not a network record", record_path);
		return 0;
	}
	if (access(n.netns, F_OK) < 0) {
		unlink(record_path); /* zlapply removed the namespace: nothing left */
		return 0;
	}
	int saved;
	if (netns_enter(n.netns, &saved, err) < 0)
		return -1;
	int r = restore_in_netns(&n, err);
	netns_leave(saved);
	if (r == 0)
		unlink(record_path);
	return r;
}

static void random_mac(char out[18])
{
	unsigned char b[6] = { 0 };
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, b, sizeof(b)) != (ssize_t)sizeof(b)) {
		pid_t p = getpid();
		memcpy(b + 2, &p, 4);
		b[1] = (unsigned char)monitor_monotonic_ms();
	}
	if (fd >= 0)
		close(fd);
	b[0] = (unsigned char)((b[0] & 0xfc) | 0x02); /* locally administered, unicast */
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
}

static int open_tap(int *fd_out, struct zl_err *err)
{
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return zl_fail_errno(err, "network: open /dev/net/tun");
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", VM_TAP);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return zl_fail_errno(err, "network: create tap %s", VM_TAP);
	}
	*fd_out = fd;
	return 0;
}

static void disable_ipv6(const char *dev)
{
	_cleanup_free_ char *path = zl_xasprintf("/proc/sys/net/ipv6/conf/%s/disable_ipv6", dev);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	/* Best effort: the bridge and tap need no address of their own. */
	if (write(fd, "1", 1) < 0)
		errno = 0;
	close(fd);
}

int vm_net_setup(const char *netns, const char *state_dir, const char *bundle, struct vm_net *n,
		 int *tap_fd, struct zl_err *err)
{
	memset(n, 0, sizeof(*n));
	*tap_fd = -1;
	snprintf(n->netns, sizeof(n->netns), "%s", netns);
	_cleanup_free_ char *record = zl_xasprintf("%s/net", state_dir);
	_cleanup_free_ char *bundle_record = zl_xasprintf("%s/vm-net", bundle);
	_cleanup_free_ char *text = NULL;
	int saved;
	if (netns_enter(netns, &saved, err) < 0)
		return -1;
	int ret = -1;
	/* A bridge of an earlier run that was never torn down (its state
	 * directory is gone): restore eth0 from the bundle's copy first. */
	if (link_exists(VM_BRIDGE)) {
		struct vm_net old;
		if (net_record_read(bundle_record, &old) < 0 || strcmp(old.netns, netns) != 0) {
			zl_fail(err, "network: %s in %s is left from an earlier VM and nothing records eth0's address",
				VM_BRIDGE, netns);
			goto out;
		}
		if (restore_in_netns(&old, err) < 0)
			goto out;
	}
	if (read_eth0(n, err) < 0)
		goto out;
	text = net_record(n);
	if (zl_write_file_atomic(record, text, strlen(text), 0600, err) < 0 ||
	    zl_write_file_atomic(bundle_record, text, strlen(text), 0600, err) < 0)
		goto out;
	if (open_tap(tap_fd, err) < 0)
		goto undo;
	char newmac[18];
	do
		random_mac(newmac);
	while (strcasecmp(newmac, n->mac) == 0);
	struct zl_buf cmds = { 0 };
	zl_buf_printf(&cmds,
		      "link add " VM_BRIDGE " type bridge\n"
		      "addr flush dev eth0\n"
		      "link set eth0 down\n"
		      "link set eth0 address %s\n"
		      "link set eth0 master " VM_BRIDGE "\n"
		      "link set " VM_TAP " mtu %d\n"
		      "link set " VM_TAP " master " VM_BRIDGE "\n"
		      "link set eth0 up\n"
		      "link set " VM_TAP " up\n"
		      "link set " VM_BRIDGE " up\n",
		      newmac, n->mtu);
	int r = ip_batch(cmds.data, false, err);
	zl_buf_free(&cmds);
	if (r < 0)
		goto undo;
	disable_ipv6(VM_BRIDGE);
	disable_ipv6(VM_TAP);
	ret = 0;
	goto out;
undo:
	if (*tap_fd >= 0) {
		close(*tap_fd);
		*tap_fd = -1;
	}
	{
		struct zl_err ignored = ZL_ERR_INIT;
		if (restore_in_netns(n, &ignored) == 0)
			unlink(record);
	}
out:
	netns_leave(saved);
	return ret;
}

/* ---- QEMU's command line ---- */
static void push(char ***v, size_t *n, char *s)
{
	*v = zl_xrealloc(*v, (*n + 2) * sizeof(char *));
	(*v)[(*n)++] = s;
	(*v)[*n] = NULL;
}

/* A value inside QEMU's key=value,... options: commas doubled. */
static char *opt_escape(const char *s)
{
	struct zl_buf b = { 0 };
	zl_buf_puts(&b, "");
	for (; *s; s++) {
		if (*s == ',')
			zl_buf_puts(&b, ",,");
		else
			zl_buf_append(&b, s, 1);
	}
	return zl_buf_steal(&b);
}

static void push_share(char ***v, size_t *n, const char *tag, const char *path, bool ro, bool remap)
{
	_cleanup_free_ char *p = opt_escape(path);
	push(v, n, zl_xstrdup("-fsdev"));
	push(v, n, zl_xasprintf("local,id=%s,path=%s,security_model=passthrough%s%s", tag, p,
				remap ? ",multidevs=remap" : "", ro ? ",readonly=on" : ""));
	push(v, n, zl_xstrdup("-device"));
	push(v, n, zl_xasprintf("virtio-9p-pci,fsdev=%s,mount_tag=%s", tag, tag));
}

char **vm_qemu_argv(const struct vm_launch *l)
{
	char **v = NULL;
	size_t n = 0;
	bool kvm = strcmp(l->accel, "kvm") == 0;
	_cleanup_free_ char *dir = opt_escape(l->state_dir);
	push(&v, &n, zl_xstrdup(l->qemu));
	push(&v, &n, zl_xstrdup("-machine"));
	push(&v, &n, zl_xasprintf("q35,accel=%s", kvm ? "kvm" : "tcg"));
	push(&v, &n, zl_xstrdup("-cpu"));
	push(&v, &n, zl_xstrdup(kvm ? "host" : "max"));
	push(&v, &n, zl_xstrdup("-m"));
	push(&v, &n, zl_xasprintf("%lldM", (long long)l->size->mem_mib));
	push(&v, &n, zl_xstrdup("-smp"));
	push(&v, &n, zl_xasprintf("%d", l->size->vcpus));
	const char *fixed[] = { "-nographic", "-nodefaults", "-no-user-config", "-no-reboot", NULL };
	for (size_t i = 0; fixed[i]; i++)
		push(&v, &n, zl_xstrdup(fixed[i]));
	/* The kernel console: a socket the shim reads into vm-console.log,
	 * capped (a file chardev would grow without end). */
	push(&v, &n, zl_xstrdup("-chardev"));
	push(&v, &n, zl_xasprintf("socket,id=con,path=%s/console.sock,server=on,wait=off", dir));
	push(&v, &n, zl_xstrdup("-serial"));
	push(&v, &n, zl_xstrdup("chardev:con"));
	push(&v, &n, zl_xstrdup("-kernel"));
	push(&v, &n, zl_xstrdup(l->kernel));
	push(&v, &n, zl_xstrdup("-initrd"));
	push(&v, &n, zl_xstrdup(l->initrd));
	struct zl_buf append = { 0 };
	zl_buf_puts(&append, "console=ttyS0 quiet panic=-1");
	if (l->net)
		zl_buf_printf(&append, " zl.ip=%s/%d%s%s", l->net->addr, l->net->prefix,
			      l->net->gw[0] ? " zl.gw=" : "", l->net->gw);
	if (l->extra_append)
		zl_buf_printf(&append, " %s", l->extra_append);
	push(&v, &n, zl_xstrdup("-append"));
	push(&v, &n, zl_buf_steal(&append));
	if (l->cfg) {
		push_share(&v, &n, ZLVM_ROOT_TAG, l->cfg->rootfs, l->cfg->root_ro, true);
		push_share(&v, &n, ZLVM_META_TAG, l->meta_dir, true, false);
		for (size_t i = 0; i < l->cfg->n_shares; i++) {
			const struct vm_share *sh = &l->cfg->shares[i];
			push_share(&v, &n, sh->tag, sh->name ? sh->dir : sh->source, sh->ro, true);
		}
	}
	push(&v, &n, zl_xstrdup("-device"));
	push(&v, &n, zl_xstrdup("virtio-serial-pci"));
	push(&v, &n, zl_xstrdup("-chardev"));
	push(&v, &n, zl_xasprintf("socket,id=ctl,path=%s/ctl.sock,server=on,wait=off", dir));
	push(&v, &n, zl_xstrdup("-device"));
	push(&v, &n, zl_xstrdup("virtserialport,chardev=ctl,name=" ZLVM_PORT_NAME));
	if (l->net && l->tap_fd >= 0) {
		push(&v, &n, zl_xstrdup("-netdev"));
		push(&v, &n, zl_xasprintf("tap,id=n0,fd=%d", l->tap_fd));
		push(&v, &n, zl_xstrdup("-device"));
		if (l->net->mtu > 0 && l->net->mtu != 1500)
			push(&v, &n, zl_xasprintf("virtio-net-pci,netdev=n0,mac=%s,host_mtu=%d",
						  l->net->mac, l->net->mtu));
		else
			push(&v, &n, zl_xasprintf("virtio-net-pci,netdev=n0,mac=%s", l->net->mac));
	} else {
		push(&v, &n, zl_xstrdup("-nic"));
		push(&v, &n, zl_xstrdup("none"));
	}
	return v;
}

/* ---- KVM or TCG ----
 * /dev/kvm can be there and still never run a guest (nested setups whose
 * vCPU spins; `-cpu host` failing "failed to set MSR"): only a real boot
 * proves it. The guest's init, on zl.probe=1, says READY and powers off;
 * any frame at all within PROBE_MS is proof enough. The answer is kept in
 * ROOT/accel with the boot id, so the probe runs once per boot. */
#define PROBE_MS 5000

static void boot_id(char out[40])
{
	out[0] = '\0';
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, out, 39);
	close(fd);
	out[n > 0 ? n : 0] = '\0';
	out[strcspn(out, "\n")] = '\0';
}

static bool read_cached(const char *path, const char *boot, char accel[8], char *why, size_t why_len)
{
	char *text = NULL;
	size_t len = 0;
	if (zl_read_file(path, &text, &len, NULL) < 0)
		return false;
	char b[40] = "", a[8] = "";
	int off = 0;
	bool ok = sscanf(text, "%39s %7s %n", b, a, &off) == 2 && strcmp(b, boot) == 0 &&
		  (strcmp(a, "kvm") == 0 || strcmp(a, "tcg") == 0);
	if (ok) {
		snprintf(accel, 8, "%s", a);
		snprintf(why, why_len, "%s", text + off);
		why[strcspn(why, "\n")] = '\0';
	}
	free(text);
	return ok;
}

/* Boots the guest under KVM once: true when it spoke within PROBE_MS. */
static bool kvm_boots(const struct zlvm_opts *o, const char *qemu, char *why, size_t why_len)
{
	_cleanup_free_ char *dir = zl_xasprintf("%s/.probe.%d", o->root, (int)getpid());
	_cleanup_free_ char *kernel = vm_guest_kernel(o->guest);
	_cleanup_free_ char *initrd = zl_xasprintf("%s/initramfs.img", o->guest);
	struct zl_err ignored = ZL_ERR_INIT;
	zl_rm_rf(dir, &ignored);
	if (zl_mkdir_p(dir, 0700, &ignored) < 0) {
		snprintf(why, why_len, "KVM not probed (%s)", ignored.msg);
		return false;
	}
	struct vm_size size = { .mem_mib = 128, .vcpus = 1 };
	struct vm_launch l = { .qemu = qemu, .kernel = kernel, .initrd = initrd, .accel = "kvm",
			       .state_dir = dir, .size = &size, .tap_fd = -1,
			       .extra_append = "zl.probe=1" };
	char **argv = vm_qemu_argv(&l);
	int errp[2];
	if (pipe2(errp, O_CLOEXEC) < 0) {
		vm_strv_free(argv);
		snprintf(why, why_len, "KVM not probed (pipe: %s)", strerror(errno));
		zl_rm_rf(dir, &ignored);
		return false;
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(127);
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(errp[1], 1);
		dup2(errp[1], 2);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execv(argv[0], argv);
		dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(errp[1]);
	vm_strv_free(argv);
	bool ok = false;
	struct zl_buf said = { 0 };
	if (pid < 0) {
		snprintf(why, why_len, "KVM not probed (fork: %s)", strerror(errno));
		close(errp[0]);
		zl_rm_rf(dir, &ignored);
		return false;
	}
	fcntl(errp[0], F_SETFL, O_NONBLOCK);
	_cleanup_free_ char *sock = zl_xasprintf("%s/ctl.sock", dir);
	int ctl = -1;
	int64_t start = monitor_monotonic_ms(), deadline = start + PROBE_MS;
	bool exited = false;
	int status = 0;
	while (!ok && !exited) {
		int64_t left = deadline - monitor_monotonic_ms();
		if (left <= 0)
			break;
		if (ctl < 0) {
			struct sockaddr_un sa = { .sun_family = AF_UNIX };
			snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
			int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (s >= 0 && connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0)
				ctl = s;
			else if (s >= 0)
				close(s);
		}
		struct pollfd p[2] = { { errp[0], POLLIN, 0 }, { ctl, POLLIN, 0 } };
		/* Until QEMU listens, look again every 20 ms. */
		int r = poll(p, 2, ctl < 0 ? 20 : (int)left);
		if (r < 0 && errno != EINTR)
			break;
		char buf[512];
		if (p[0].revents) {
			ssize_t got = read(errp[0], buf, sizeof(buf));
			if (got > 0 && said.len < 4096)
				zl_buf_append(&said, buf, (size_t)got);
		}
		if (ctl >= 0 && p[1].revents) {
			ssize_t got = read(ctl, buf, sizeof(buf));
			if (got > 0)
				ok = true; /* the guest ran far enough to speak */
			else if (got == 0) {
				close(ctl);
				ctl = -1;
			}
		}
		if (waitpid(pid, &status, WNOHANG) == pid)
			exited = true;
	}
	int64_t took = monitor_monotonic_ms() - start;
	if (!exited) {
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	if (ctl >= 0)
		close(ctl);
	char buf[512];
	ssize_t got;
	while ((got = read(errp[0], buf, sizeof(buf))) > 0 && said.len < 4096)
		zl_buf_append(&said, buf, (size_t)got);
	close(errp[0]);
	zl_rm_rf(dir, &ignored);
	if (ok) {
		snprintf(why, why_len, "a KVM guest booted in %lld ms", (long long)took);
	} else {
		/* QEMU's last line says why, if it said anything. */
		char *text = said.data ? said.data : "";
		while (said.len && (text[said.len - 1] == '\n' || text[said.len - 1] == '\r'))
			text[--said.len] = '\0';
		char *last = strrchr(text, '\n');
		last = last ? last + 1 : text;
		if (*last)
			snprintf(why, why_len, "a KVM guest did not boot (QEMU: %.300s)", last);
		else
			snprintf(why, why_len, "a KVM guest did not speak within %d ms (its vCPU does not run here)",
				 PROBE_MS);
	}
	zl_buf_free(&said);
	return ok;
}

int vm_accel(const struct zlvm_opts *o, bool probe, char accel[8], char *why, size_t why_len,
	     struct zl_err *err)
{
	char boot[40];
	boot_id(boot);
	_cleanup_free_ char *path = zl_xasprintf("%s/accel", o->root);
	if (!probe && read_cached(path, boot, accel, why, why_len))
		return 0;
	if (zl_mkdir_p(o->root, 0711, err) < 0)
		return -1;
	/* One probe at a time: concurrent creates wait for its answer. */
	_cleanup_free_ char *lock_path = zl_xasprintf("%s/accel.lock", o->root);
	int lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock < 0 || flock(lock, LOCK_EX) < 0) {
		if (lock >= 0)
			close(lock);
		return zl_fail_errno(err, "lock %s", lock_path);
	}
	int ret = 0;
	_cleanup_free_ char *qemu = vm_find_exe(o->qemu ? o->qemu : "qemu-system-x86_64");
	_cleanup_free_ char *kernel = vm_guest_kernel(o->guest);
	_cleanup_free_ char *initrd = zl_xasprintf("%s/initramfs.img", o->guest);
	_cleanup_free_ char *text = NULL;
	if (!probe && read_cached(path, boot, accel, why, why_len))
		goto out;
	snprintf(accel, 8, "tcg");
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		snprintf(why, why_len, "/dev/kvm: %s", strerror(errno));
	} else {
		int version = ioctl(kvm, KVM_GET_API_VERSION, 0);
		close(kvm);
		if (version != KVM_API_VERSION) {
			snprintf(why, why_len, "/dev/kvm answers API version %d, not %d", version,
				 KVM_API_VERSION);
		} else if (!qemu || access(kernel, R_OK) < 0 || access(initrd, R_OK) < 0) {
			/* Not remembered: the answer may change once they are installed. */
			ret = zl_fail(err, "KVM cannot be probed without %s",
				      qemu ? "the VM guest (scripts/build-vm-guest)" : "qemu-system-x86_64");
			goto out;
		} else if (kvm_boots(o, qemu, why, why_len)) {
			snprintf(accel, 8, "kvm");
		}
	}
	text = zl_xasprintf("%s %s %s\n", boot, accel, why);
	struct zl_err ignored = ZL_ERR_INIT;
	zl_write_file_atomic(path, text, strlen(text), 0644, &ignored); /* a memo only */
out:
	close(lock);
	return ret;
}
