/* zlvm.c: zlvm, an OCI runtime whose containers are QEMU guests (see
 * zlvm-internal.h for the pieces and the state directory). zlmon runs it
 * exactly as it runs runc:
 *
 *   zlvm [--root DIR] [--log FILE] [--log-format json|text] [--guest DIR]
 *        [--qemu PATH] VERB ...
 *     create [--bundle DIR] [--pid-file FILE] ID
 *         checks everything it can (QEMU, the guest, config.json, memory
 *         against the host), prepares the shares, the cgroup and the
 *         network namespace, and leaves the shim waiting for start; its
 *         pid goes to FILE. The shim inherits stdout/stderr.
 *     start ID        releases the shim; exits once QEMU runs
 *     kill ID [SIG]   signals the shim (which sends it to the guest)
 *     delete [--force] ID
 *                     kills shim and QEMU, restores the network namespace,
 *                     removes the cgroup and ROOT/ID; a missing ID is fine
 *     state ID        {"ociVersion","id","pid","status","bundle"}
 *     exec ID CMD [ARG...]
 *                     runs CMD in the guest (the process's env and cwd),
 *                     its output on ours; exits with its code (255: zlvm
 *                     could not run it at all)
 *     accel [--probe] "kvm: why" or "tcg: why"
 * Errors: one line on stderr, a JSON line {"level":"error",...} in the
 * --log file, exit 1 (2 for usage). */
#include "backends/vm/zlvm-internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "backends/monitor/monitor.h"

#define START_TIMEOUT_MS 10000
#define KILL_WAIT_MS 5000

/* ---- messages ---- */
static void log_line(const struct zlvm_opts *o, const char *level, const char *msg)
{
	if (!o || !o->log)
		return;
	int fd = open(o->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	char when[32];
	monitor_format_time(monitor_now_ms(), when);
	char *line;
	if (o->log_json) {
		cJSON *obj = cJSON_CreateObject();
		cJSON_AddStringToObject(obj, "level", level);
		cJSON_AddStringToObject(obj, "msg", msg);
		cJSON_AddStringToObject(obj, "time", when);
		char *text = cJSON_PrintUnformatted(obj);
		cJSON_Delete(obj);
		line = zl_xasprintf("%s\n", text);
		free(text);
	} else {
		line = zl_xasprintf("%s %s %s\n", when, level, msg);
	}
	(void)zlvm_write_all(fd, line, strlen(line));
	free(line);
	close(fd);
}

static void message(const struct zlvm_opts *o, const char *level, const char *fmt, va_list ap)
{
	char *msg = zl_xvasprintf(fmt, ap);
	for (char *p = msg; *p; p++)
		if (*p == '\n')
			*p = ' ';
	char *line = zl_xasprintf("%s\n", msg);
	(void)zlvm_write_all(2, line, strlen(line));
	log_line(o, level, msg);
	free(line);
	free(msg);
}

void zlvm_error(const struct zlvm_opts *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	message(o, "error", fmt, ap);
	va_end(ap);
}

void zlvm_note(const struct zlvm_opts *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	message(o, "info", fmt, ap);
	va_end(ap);
}

void zlvm_vmlog(int fd, const char *fmt, ...)
{
	if (fd < 0)
		return;
	char when[32];
	monitor_format_time(monitor_now_ms(), when);
	va_list ap;
	va_start(ap, fmt);
	char *text = zl_xvasprintf(fmt, ap);
	va_end(ap);
	char *line = zl_xasprintf("%s zlvm[%d] %s\n", when, (int)getpid(), text);
	(void)zlvm_write_all(fd, line, strlen(line));
	free(line);
	free(text);
}

int zlvm_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* ---- small helpers ---- */
int64_t zlvm_proc_start_time(pid_t pid)
{
	return monitor_proc_start_time(pid);
}

bool zlvm_pid_matches(pid_t pid, int64_t start)
{
	if (pid <= 0)
		return false;
	int64_t now = monitor_proc_start_time(pid);
	return now >= 0 && now == start;
}

int zlvm_read_pid_file(const char *path, pid_t *pid, int64_t *start)
{
	char *text = NULL;
	size_t len = 0;
	if (zl_read_file(path, &text, &len, NULL) < 0)
		return -1;
	long long p = 0, s = -1;
	int n = sscanf(text, "%lld %lld", &p, &s);
	free(text);
	if (n < 1 || p <= 0 || p > INT_MAX)
		return -1;
	*pid = (pid_t)p;
	*start = s;
	return 0;
}

int zlvm_write_pid_file(const char *path, pid_t pid, struct zl_err *err)
{
	char text[64];
	snprintf(text, sizeof(text), "%d %lld\n", (int)pid, (long long)monitor_proc_start_time(pid));
	return zl_write_file_atomic(path, text, strlen(text), 0644, err);
}

int zlvm_set_file(const char *path, const char *text, struct zl_err *err)
{
	return zl_write_file_atomic(path, text, strlen(text), 0644, err);
}

void zlvm_format_memory(int64_t bytes, char out[32])
{
	static const char *const units[] = { "Ti", "Gi", "Mi", "Ki" };
	for (int i = 0; i < 4; i++) {
		int64_t unit = 1LL << (10 * (4 - i));
		if (bytes >= unit && bytes % unit == 0) {
			snprintf(out, 32, "%lld%s", (long long)(bytes / unit), units[i]);
			return;
		}
	}
	zlvm_format_size(bytes, out);
}

void zlvm_format_size(int64_t bytes, char out[32])
{
	static const char *const names[] = { "TiB", "GiB", "MiB", "KiB" };
	for (int i = 0; i < 4; i++) {
		int64_t unit = 1LL << (10 * (4 - i));
		if (bytes >= unit) {
			snprintf(out, 32, "%.1f %s", (double)bytes / (double)unit, names[i]);
			return;
		}
	}
	snprintf(out, 32, "%lld bytes", (long long)bytes);
}

int64_t zlvm_mem_total(void)
{
	char *text = NULL;
	size_t len = 0;
	if (zl_read_file("/proc/meminfo", &text, &len, NULL) < 0)
		return -1;
	int64_t total = -1;
	char *p = strstr(text, "MemTotal:");
	long long kb;
	if (p && sscanf(p + 9, "%lld", &kb) == 1)
		total = kb * 1024;
	free(text);
	return total;
}

int zlvm_host_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

static bool id_ok(const char *id)
{
	if (!id || !*id || strlen(id) > 64 || id[0] == '.' || id[0] == '-')
		return false;
	for (const char *p = id; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '_' || *p == '-' || *p == '.'))
			return false;
	return true;
}

static char *state_dir_of(const struct zlvm_opts *o, const char *id)
{
	return zl_xasprintf("%s/%s", o->root, id);
}

/* ---- state.json ---- */
struct vm_state {
	char *bundle;
	char *netns;
	char *cgroup;
	char accel[8];
	pid_t shim;
	int64_t shim_start;
	char created[32];
};

static void state_free(struct vm_state *st)
{
	free(st->bundle);
	free(st->netns);
	free(st->cgroup);
	memset(st, 0, sizeof(*st));
}

static int state_write(const char *dir, const char *id, const struct vm_state *st, struct zl_err *err)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddStringToObject(o, "bundle", st->bundle);
	cJSON_AddNumberToObject(o, "shim_pid", st->shim);
	char start[24];
	snprintf(start, sizeof(start), "%lld", (long long)st->shim_start);
	cJSON_AddRawToObject(o, "shim_start", start);
	if (st->netns)
		cJSON_AddStringToObject(o, "netns", st->netns);
	if (st->cgroup)
		cJSON_AddStringToObject(o, "cgroup", st->cgroup);
	cJSON_AddStringToObject(o, "accel", st->accel);
	cJSON_AddStringToObject(o, "created", st->created);
	char *text = cJSON_Print(o);
	cJSON_Delete(o);
	_cleanup_free_ char *path = zl_xasprintf("%s/state.json", dir);
	int r = zl_write_file_atomic(path, text, strlen(text), 0600, err);
	free(text);
	return r;
}

static int state_read(const char *dir, struct vm_state *st)
{
	memset(st, 0, sizeof(*st));
	_cleanup_free_ char *path = zl_xasprintf("%s/state.json", dir);
	char *text = NULL;
	size_t len = 0;
	if (zl_read_file(path, &text, &len, NULL) < 0)
		return -1;
	cJSON *o = cJSON_Parse(text);
	free(text);
	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		return -1;
	}
	const cJSON *v;
	if (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(o, "bundle")))
		st->bundle = zl_xstrdup(v->valuestring);
	if (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(o, "netns")))
		st->netns = zl_xstrdup(v->valuestring);
	if (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(o, "cgroup")))
		st->cgroup = zl_xstrdup(v->valuestring);
	if (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(o, "accel")))
		snprintf(st->accel, sizeof(st->accel), "%s", v->valuestring);
	if (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(o, "created")))
		snprintf(st->created, sizeof(st->created), "%s", v->valuestring);
	if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(o, "shim_pid")))
		st->shim = (pid_t)v->valuedouble;
	if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(o, "shim_start")))
		st->shim_start = (int64_t)v->valuedouble;
	cJSON_Delete(o);
	return 0;
}

/* "created", "running ...", "failed ...", "stopped"; "" when unknown. */
static char *status_read(const char *dir)
{
	_cleanup_free_ char *path = zl_xasprintf("%s/status", dir);
	char *text = NULL;
	size_t len = 0;
	if (zl_read_file(path, &text, &len, NULL) < 0)
		return zl_xstrdup("");
	text[strcspn(text, "\n")] = '\0';
	return text;
}

static bool shim_alive(const struct vm_state *st)
{
	return zlvm_pid_matches(st->shim, st->shim_start);
}

/* Waits up to ms for pid to exit (any process: a pidfd). */
static void wait_gone(pid_t pid, int ms)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0)
		return; /* gone already */
	struct pollfd p = { fd, POLLIN, 0 };
	while (poll(&p, 1, ms) < 0 && errno == EINTR)
		;
	close(fd);
}

/* ---- create ---- */
struct create_args {
	const char *bundle;
	const char *pid_file;
	const char *id;
};

static void close_fds_except(int a, int b)
{
	int keep[2] = { a < b ? a : b, a < b ? b : a };
	unsigned from = 3;
	for (int i = 0; i < 2; i++) {
		if (keep[i] < 3)
			continue;
		if ((unsigned)keep[i] > from)
			close_range(from, (unsigned)keep[i] - 1, 0);
		from = (unsigned)keep[i] + 1;
	}
	close_range(from, ~0U, 0);
}

/* Removes what a failed create made. */
static void undo_create(const char *dir, const struct vm_config *cfg, bool cgroup_made)
{
	struct zl_err ignored = ZL_ERR_INIT;
	_cleanup_free_ char *net = zl_xasprintf("%s/net", dir);
	vm_net_teardown(net, &ignored);
	if (cgroup_made && cfg->cgroup)
		zl_cgroup_remove(cfg->cgroup);
	vm_binds_remove(dir);
	zl_rm_rf(dir, &ignored);
}

static int do_create(const struct zlvm_opts *o, const struct create_args *ca, struct vm_end *end,
		     bool *is_shim, struct zl_err *err)
{
	*is_shim = false;
	if (!id_ok(ca->id))
		return zl_invalid(err, "invalid container id \"%s\"", ca->id ? ca->id : "");
	_cleanup_free_ char *dir = state_dir_of(o, ca->id);
	if (access(dir, F_OK) == 0)
		return zl_fail(err, "container %s already exists (zlvm delete --force %s removes it)", ca->id, ca->id);
	_cleanup_free_ char *qemu = vm_find_exe(o->qemu ? o->qemu : "qemu-system-x86_64");
	if (!qemu)
		return zl_fail(err, "%s not found: install Debian's qemu-system-x86 (apt-get install qemu-system-x86)",
			       o->qemu ? o->qemu : "qemu-system-x86_64");
	_cleanup_free_ char *kernel = vm_guest_kernel(o->guest);
	_cleanup_free_ char *initrd = zl_xasprintf("%s/initramfs.img", o->guest);
	if (access(kernel, R_OK) < 0 || access(initrd, R_OK) < 0)
		return zl_fail(err, "the VM guest is not installed (%s: %s): run scripts/build-vm-guest",
			       access(kernel, R_OK) < 0 ? kernel : initrd, strerror(errno));
	struct vm_config cfg;
	struct vm_size size = { 0 };
	struct vm_net net;
	/* Declared before the first goto: their cleanup runs at out. */
	_cleanup_free_ char *meta = zl_xasprintf("%s/meta", dir);
	_cleanup_free_ char *fifo_path = zl_xasprintf("%s/start.fifo", dir);
	_cleanup_free_ char *status = zl_xasprintf("%s/status", dir);
	int ret = -1;
	bool cgroup_made = false, dir_made = false;
	int fifo = -1, tap = -1;
	char **qemu_argv = NULL;
	struct vm_state st = { 0 };
	if (vm_config_load(ca->bundle, &cfg, err) < 0 || vm_size_compute(&cfg, &size, err) < 0)
		goto out;
	if (strlen(dir) + strlen("/console.sock") >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		zl_fail(err, "%s is too long for the VM's sockets: use a shorter --root", dir);
		goto out;
	}
	if (cfg.netns) {
		_cleanup_free_ char *ip = vm_find_exe("ip");
		if (!ip) {
			zl_fail(err, "ip (iproute2) not found: the VM's network needs it");
			goto out;
		}
		if (access(cfg.netns, F_OK) < 0) {
			zl_fail_errno(err, "network namespace %s", cfg.netns);
			goto out;
		}
	}
	char accel[8], why[512];
	if (vm_accel(o, false, accel, why, sizeof(why), err) < 0)
		goto out;
	if (zl_mkdir_p(o->root, 0711, err) < 0)
		goto out;
	if (mkdir(dir, 0700) < 0) {
		zl_fail_errno(err, "mkdir %s", dir);
		goto out;
	}
	dir_made = true;
	if (vm_meta_write(&cfg, meta, err) < 0 || vm_file_shares_setup(&cfg, dir, err) < 0)
		goto out;
	if (cfg.cgroup) {
		cgroup_made = true;
		struct zl_cgroup_limits lim = { .memory = size.cg_memory, .cpu_quota = size.cg_quota,
						.cpu_period = size.cg_period,
						.cpu_shares = cfg.cpu_shares };
		if (zl_cgroup_make(cfg.cgroup, &lim, err) < 0)
			goto out;
	}
	if (cfg.netns && vm_net_setup(cfg.netns, dir, cfg.bundle, &net, &tap, err) < 0)
		goto out;
	if (mkfifo(fifo_path, 0600) < 0 || (fifo = open(fifo_path, O_RDWR | O_CLOEXEC)) < 0) {
		zl_fail_errno(err, "fifo %s", fifo_path);
		goto out;
	}
	struct vm_launch l = { .qemu = qemu, .kernel = kernel, .initrd = initrd, .accel = accel,
			       .state_dir = dir, .meta_dir = meta, .cfg = &cfg, .size = &size,
			       .net = cfg.netns ? &net : NULL, .tap_fd = tap };
	qemu_argv = vm_qemu_argv(&l);
	if (zlvm_set_file(status, "created\n", err) < 0)
		goto out;
	pid_t shim = fork();
	if (shim < 0) {
		zl_fail_errno(err, "fork");
		goto out;
	}
	if (shim == 0) {
		/* The shim: it keeps stdout/stderr (the replica's output), the
		 * fifo and the tap; nothing else of create's. */
		*is_shim = true;
		close_fds_except(fifo, tap);
		struct vm_shim_args a = { .o = o, .id = ca->id, .state_dir = dir, .cfg = &cfg,
					  .size = &size, .net = cfg.netns ? &net : NULL, .tap_fd = tap,
					  .fifo_fd = fifo, .qemu_argv = qemu_argv, .accel = accel };
		*end = vm_shim_run(&a);
		fifo = tap = -1; /* the shim closed them */
		ret = 0;
		goto out;
	}
	st.shim = shim;
	st.shim_start = monitor_proc_start_time(shim);
	st.bundle = zl_xstrdup(cfg.bundle);
	st.netns = zl_xstrdup(cfg.netns);
	st.cgroup = zl_xstrdup(cfg.cgroup);
	snprintf(st.accel, sizeof(st.accel), "%s", accel);
	monitor_format_time(monitor_now_ms(), st.created);
	char pid_text[32];
	snprintf(pid_text, sizeof(pid_text), "%d", (int)shim);
	if ((cfg.cgroup && zl_cgroup_join(cfg.cgroup, shim, err) < 0) ||
	    state_write(dir, ca->id, &st, err) < 0 ||
	    (ca->pid_file && zl_write_file_atomic(ca->pid_file, pid_text, strlen(pid_text), 0644, err) < 0)) {
		kill(shim, SIGKILL);
		while (waitpid(shim, NULL, 0) < 0 && errno == EINTR)
			;
		goto out;
	}
	/* Notes go to create's stderr: zlmon keeps them in zlmon.log. */
	zlvm_note(o, "%s: %lld MiB, %d vCPU, %s (%s)%s%s", ca->id, (long long)size.mem_mib, size.vcpus,
		  accel, why, cfg.netns ? ", address " : "", cfg.netns ? net.addr : "");
	char *save = NULL;
	for (char *line = cfg.notes.len ? strtok_r(cfg.notes.data, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save))
		zlvm_note(o, "%s: %s", ca->id, line);
	ret = 0;
out:
	if (ret < 0 && dir_made && !*is_shim)
		undo_create(dir, &cfg, cgroup_made);
	if (fifo >= 0)
		close(fifo);
	if (tap >= 0)
		close(tap);
	vm_strv_free(qemu_argv);
	state_free(&st);
	vm_config_free(&cfg);
	return ret;
}

static int cmd_create(const struct zlvm_opts *o, int argc, char **argv, struct vm_end *end, bool *is_shim)
{
	struct create_args ca = { .bundle = "." };
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if ((!strcmp(a, "--bundle") || !strcmp(a, "-b")) && i + 1 < argc)
			ca.bundle = argv[++i];
		else if (!strncmp(a, "--bundle=", 9))
			ca.bundle = a + 9;
		else if (!strcmp(a, "--pid-file") && i + 1 < argc)
			ca.pid_file = argv[++i];
		else if (!strncmp(a, "--pid-file=", 11))
			ca.pid_file = a + 11;
		else if (!strcmp(a, "--no-pivot") || !strcmp(a, "--no-new-keyring"))
			continue;
		else if (!strcmp(a, "--console-socket") || !strncmp(a, "--console-socket=", 17)) {
			zlvm_error(o, "create: --console-socket: a VM replica has no terminal");
			return 2;
		} else if (a[0] == '-') {
			zlvm_error(o, "create: unknown option %s", a);
			return 2;
		} else if (!ca.id)
			ca.id = a;
		else {
			zlvm_error(o, "create: unexpected argument %s", a);
			return 2;
		}
	}
	if (!ca.id) {
		zlvm_error(o, "create: usage: zlvm create [--bundle DIR] [--pid-file FILE] ID");
		return 2;
	}
	struct zl_err err = ZL_ERR_INIT;
	if (do_create(o, &ca, end, is_shim, &err) < 0) {
		zlvm_error(o, "%s", err.msg);
		return 1;
	}
	return 0;
}

/* ---- start ---- */
static int cmd_start(const struct zlvm_opts *o, const char *id)
{
	_cleanup_free_ char *dir = state_dir_of(o, id);
	struct vm_state st;
	if (!id_ok(id) || state_read(dir, &st) < 0) {
		zlvm_error(o, "container %s does not exist", id);
		return 1;
	}
	int ret = 1;
	_cleanup_free_ char *status = status_read(dir);
	_cleanup_free_ char *fifo_path = zl_xasprintf("%s/start.fifo", dir);
	int ino = -1, pidfd = -1;
	if (!strncmp(status, "running", 7) || !strcmp(status, "stopped")) {
		zlvm_error(o, "cannot start container %s: it was started already (%s)", id, status);
		goto out;
	}
	if (!shim_alive(&st)) {
		zlvm_error(o, "cannot start container %s: its shim (pid %d) is gone", id, (int)st.shim);
		goto out;
	}
	ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	pidfd = (int)syscall(SYS_pidfd_open, st.shim, 0);
	if (ino < 0 || inotify_add_watch(ino, dir, IN_MOVED_TO | IN_CLOSE_WRITE) < 0 || pidfd < 0) {
		zlvm_error(o, "start %s: inotify/pidfd: %s", id, strerror(errno));
		goto out;
	}
	int fifo = open(fifo_path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (fifo < 0 || write(fifo, "s", 1) != 1) {
		zlvm_error(o, "start %s: %s: %s", id, fifo_path, strerror(errno));
		if (fifo >= 0)
			close(fifo);
		goto out;
	}
	close(fifo);
	int64_t deadline = monitor_monotonic_ms() + START_TIMEOUT_MS;
	for (;;) {
		free(status);
		status = status_read(dir);
		if (!strncmp(status, "running", 7)) {
			ret = 0;
			break;
		}
		if (!strncmp(status, "failed ", 7)) {
			zlvm_error(o, "start %s: %s", id, status + 7);
			break;
		}
		int64_t left = deadline - monitor_monotonic_ms();
		if (left <= 0) {
			zlvm_error(o, "start %s: QEMU did not start within %d s (see %s/vm.log)", id,
				   START_TIMEOUT_MS / 1000, st.bundle ? st.bundle : "the bundle");
			break;
		}
		struct pollfd p[2] = { { ino, POLLIN, 0 }, { pidfd, POLLIN, 0 } };
		if (poll(p, 2, (int)left) < 0 && errno != EINTR)
			break;
		char buf[4096];
		while (read(ino, buf, sizeof(buf)) > 0)
			;
		if (p[1].revents) {
			free(status);
			status = status_read(dir);
			if (!strncmp(status, "running", 7)) {
				ret = 0; /* started, and ended already */
				break;
			}
			zlvm_error(o, "start %s: the shim exited before QEMU started (see %s/vm.log)", id,
				   st.bundle ? st.bundle : "the bundle");
			break;
		}
	}
out:
	if (ino >= 0)
		close(ino);
	if (pidfd >= 0)
		close(pidfd);
	state_free(&st);
	return ret;
}

/* ---- delete ---- */
/* Is pid QEMU of this state dir (its command line names our socket)? */
static bool qemu_is_ours(pid_t pid, const char *dir)
{
	_cleanup_free_ char *path = zl_xasprintf("/proc/%d/cmdline", (int)pid);
	char *text = NULL;
	size_t len = 0;
	if (zl_read_file(path, &text, &len, NULL) < 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (text[i] == '\0')
			text[i] = ' ';
	_cleanup_free_ char *needle = zl_xasprintf("path=%s/ctl.sock,", dir);
	bool ours = strstr(text, needle) != NULL;
	free(text);
	return ours;
}

static int cmd_delete(const struct zlvm_opts *o, int argc, char **argv)
{
	bool force = false;
	const char *id = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--force") || !strcmp(argv[i], "-f"))
			force = true;
		else if (argv[i][0] == '-') {
			zlvm_error(o, "delete: unknown option %s", argv[i]);
			return 2;
		} else if (!id)
			id = argv[i];
	}
	if (!id || !id_ok(id)) {
		zlvm_error(o, "delete: usage: zlvm delete [--force] ID");
		return 2;
	}
	_cleanup_free_ char *dir = state_dir_of(o, id);
	if (access(dir, F_OK) < 0)
		return 0; /* nothing to delete */
	struct vm_state st;
	bool have_state = state_read(dir, &st) == 0;
	if (!have_state)
		memset(&st, 0, sizeof(st));
	_cleanup_free_ char *status = status_read(dir);
	if (have_state && shim_alive(&st)) {
		if (!force && strcmp(status, "created") != 0) {
			zlvm_error(o, "cannot delete container %s: it is running (stop it, or use --force)", id);
			state_free(&st);
			return 1;
		}
		kill(st.shim, SIGKILL); /* QEMU follows it (PR_SET_PDEATHSIG) */
		wait_gone(st.shim, KILL_WAIT_MS);
	}
	_cleanup_free_ char *qemu_file = zl_xasprintf("%s/qemu", dir);
	pid_t qpid;
	int64_t qstart;
	if (zlvm_read_pid_file(qemu_file, &qpid, &qstart) == 0 && zlvm_pid_matches(qpid, qstart) &&
	    qemu_is_ours(qpid, dir)) {
		kill(qpid, SIGKILL);
		wait_gone(qpid, KILL_WAIT_MS);
	}
	int ret = 0;
	struct zl_err err = ZL_ERR_INIT;
	_cleanup_free_ char *net = zl_xasprintf("%s/net", dir);
	if (vm_net_teardown(net, &err) < 0) {
		zlvm_error(o, "delete %s: %s", id, err.msg);
		ret = 1;
	} else if (st.bundle) {
		_cleanup_free_ char *copy = zl_xasprintf("%s/vm-net", st.bundle);
		unlink(copy);
	}
	if (st.cgroup)
		zl_cgroup_remove(st.cgroup);
	vm_binds_remove(dir);
	zl_err_clear(&err);
	if (zl_rm_rf(dir, &err) < 0) {
		zlvm_error(o, "delete %s: %s", id, err.msg);
		ret = 1;
	}
	state_free(&st);
	return ret;
}

/* ---- kill, state ---- */
static int parse_signal(const char *s)
{
	char *end;
	long n = strtol(s, &end, 10);
	if (*s && !*end)
		return n > 0 && n < NSIG ? (int)n : 0;
	return monitor_signal_number(s);
}

static int cmd_kill(const struct zlvm_opts *o, int argc, char **argv)
{
	const char *id = NULL, *sig_text = "SIGTERM";
	int pos = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--all") || !strcmp(argv[i], "-a"))
			continue; /* the shim stands for every process of the VM */
		if (pos == 0)
			id = argv[i];
		else if (pos == 1)
			sig_text = argv[i];
		pos++;
	}
	int sig = parse_signal(sig_text);
	if (!id || !id_ok(id) || pos > 2 || sig <= 0) {
		zlvm_error(o, "kill: usage: zlvm kill ID [SIGNAL]");
		return 2;
	}
	_cleanup_free_ char *dir = state_dir_of(o, id);
	struct vm_state st;
	if (state_read(dir, &st) < 0) {
		zlvm_error(o, "container %s does not exist", id);
		return 1;
	}
	int ret = 0;
	if (!shim_alive(&st) || kill(st.shim, sig) < 0) {
		zlvm_error(o, "container %s is not running", id);
		ret = 1;
	}
	state_free(&st);
	return ret;
}

static int cmd_state(const struct zlvm_opts *o, const char *id)
{
	_cleanup_free_ char *dir = state_dir_of(o, id);
	struct vm_state st;
	if (!id_ok(id) || state_read(dir, &st) < 0) {
		zlvm_error(o, "container %s does not exist", id);
		return 1;
	}
	_cleanup_free_ char *status = status_read(dir);
	const char *s = "stopped";
	if (shim_alive(&st))
		s = !strcmp(status, "created") ? "created" : !strncmp(status, "running", 7) ? "running" : "stopped";
	cJSON *obj = cJSON_CreateObject();
	cJSON_AddStringToObject(obj, "ociVersion", "1.0.2");
	cJSON_AddStringToObject(obj, "id", id);
	cJSON_AddNumberToObject(obj, "pid", strcmp(s, "stopped") ? st.shim : 0);
	cJSON_AddStringToObject(obj, "status", s);
	cJSON_AddStringToObject(obj, "bundle", st.bundle ? st.bundle : "");
	cJSON_AddStringToObject(obj, "created", st.created);
	cJSON_AddStringToObject(obj, "accel", st.accel);
	_cleanup_free_ char *qemu_file = zl_xasprintf("%s/qemu", dir);
	pid_t qpid;
	int64_t qstart;
	if (zlvm_read_pid_file(qemu_file, &qpid, &qstart) == 0 && zlvm_pid_matches(qpid, qstart))
		cJSON_AddNumberToObject(obj, "qemu_pid", qpid);
	char *text = cJSON_Print(obj);
	cJSON_Delete(obj);
	printf("%s\n", text);
	free(text);
	state_free(&st);
	return 0;
}

/* ---- exec ---- */
static int cmd_exec(const struct zlvm_opts *o, int argc, char **argv)
{
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		}
		zlvm_error(o, "exec: option %s is not supported by zlvm", argv[i]);
		return 255;
	}
	if (i + 1 >= argc) {
		zlvm_error(o, "exec: usage: zlvm exec ID COMMAND [ARG...]");
		return 255;
	}
	const char *id = argv[i++];
	if (!id_ok(id)) {
		zlvm_error(o, "container %s does not exist", id);
		return 255;
	}
	_cleanup_free_ char *dir = state_dir_of(o, id);
	_cleanup_free_ char *path = zl_xasprintf("%s/exec.sock", dir);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		zlvm_error(o, "exec: %s: path too long", path);
		return 255;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		zlvm_error(o, "container %s is not running (%s: %s)", id, path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 255;
	}
	signal(SIGPIPE, SIG_IGN);
	struct zl_buf b = { 0 };
	struct zl_buf req = { 0 };
	for (; i < argc; i++)
		zl_buf_append(&req, argv[i], strlen(argv[i]) + 1);
	vm_frame_append(&b, ZLVM_EXEC, req.data, (uint32_t)req.len);
	zl_buf_free(&req);
	int ret = 255;
	if (zlvm_write_all(fd, b.data, b.len) < 0) {
		zlvm_error(o, "exec %s: send: %s", id, strerror(errno));
		goto out;
	}
	b.len = 0;
	for (;;) {
		char chunk[65536];
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			zlvm_error(o, "exec %s: the VM stopped before the command ended", id);
			goto out;
		}
		zl_buf_append(&b, chunk, (size_t)n);
		struct vm_frame f;
		size_t used;
		int r;
		while ((r = vm_frame_next(&b, &used, &f)) > 0) {
			if (f.type == ZLVM_STDOUT || f.type == ZLVM_STDERR) {
				(void)zlvm_write_all(f.type == ZLVM_STDOUT ? 1 : 2, f.data, f.len);
			} else if (f.type == ZLVM_EXEC_EXIT) {
				char code[16];
				snprintf(code, sizeof(code), "%.*s", (int)(f.len < 15 ? f.len : 15), (const char *)f.data);
				ret = atoi(code) & 0xff;
				goto out;
			} else if (f.type == ZLVM_FAIL) {
				zlvm_error(o, "exec %s: %.*s", id, (int)f.len, (const char *)f.data);
				goto out;
			}
			vm_buf_drop(&b, used);
		}
		if (r < 0) {
			zlvm_error(o, "exec %s: bad answer from the shim", id);
			goto out;
		}
	}
out:
	zl_buf_free(&b);
	close(fd);
	return ret;
}

static int cmd_accel(const struct zlvm_opts *o, int argc, char **argv)
{
	bool probe = argc > 1 && !strcmp(argv[1], "--probe");
	char accel[8], why[512];
	struct zl_err err = ZL_ERR_INIT;
	if (vm_accel(o, probe, accel, why, sizeof(why), &err) < 0) {
		zlvm_error(o, "%s", err.msg);
		return 1;
	}
	printf("%s: %s\n", accel, why);
	return 0;
}

/* ---- main ---- */
/* Dies of sig as the guest's process did (default action, no core dump
 * of ours). The raw system call: a sanitizer's handler would not let go. */
static void die_of(int sig)
{
	struct rlimit none = { 0, 0 };
	setrlimit(RLIMIT_CORE, &none);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	struct {
		void *handler;
		unsigned long flags;
		void *restorer;
		unsigned long mask;
	} ksa = { 0 }; /* SIG_DFL */
	syscall(SYS_rt_sigaction, sig, &ksa, NULL, sizeof(ksa.mask));
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	kill(getpid(), sig);
	_exit(128 + sig); /* a signal whose default is not to terminate */
}

static void usage(void)
{
	fputs("usage: zlvm [--root DIR] [--log FILE] [--log-format json|text] [--guest DIR] [--qemu PATH] VERB\n"
	      "  create [--bundle DIR] [--pid-file FILE] ID | start ID | kill ID [SIGNAL]\n"
	      "  delete [--force] ID | state ID | exec ID COMMAND [ARG...] | accel [--probe]\n",
	      stderr);
}

int main(int argc, char **argv)
{
	struct zlvm_opts o = { .root = ZLVM_DEFAULT_ROOT, .guest = ZLVM_DEFAULT_GUEST };
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		const char **slot = NULL;
		const char *value = NULL;
		static const char *const names[] = { "--root", "--log", "--log-format", "--guest", "--qemu" };
		const char *format = NULL;
		const char **slots[] = { &o.root, &o.log, &format, &o.guest, &o.qemu };
		for (size_t k = 0; k < 5 && !slot; k++) {
			size_t len = strlen(names[k]);
			if (!strcmp(a, names[k]) && i + 1 < argc) {
				slot = slots[k];
				value = argv[++i];
			} else if (!strncmp(a, names[k], len) && a[len] == '=') {
				slot = slots[k];
				value = a + len + 1;
			}
		}
		if (slot) {
			*slot = value;
			if (format)
				o.log_json = !strcmp(format, "json");
			continue;
		}
		if (!strcmp(a, "--debug") || !strcmp(a, "--systemd-cgroup"))
			continue;
		if (!strcmp(a, "--version") || !strcmp(a, "-v")) {
			printf("zlvm version %s\n", ZLAPPLY_VERSION);
			return 0;
		}
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage();
			return 0;
		}
		zlvm_error(&o, "unknown option %s", a);
		usage();
		return 2;
	}
	if (i >= argc) {
		usage();
		return 2;
	}
	const char *verb = argv[i];
	int vargc = argc - i;
	char **vargv = argv + i;
	if (!strcmp(verb, "create")) {
		struct vm_end end = { 0 };
		bool is_shim = false;
		int r = cmd_create(&o, vargc, vargv, &end, &is_shim);
		if (!is_shim)
			return r;
		if (end.signal > 0)
			die_of(end.signal);
		return end.code;
	}
	if ((!strcmp(verb, "start") || !strcmp(verb, "state")) && vargc != 2) {
		zlvm_error(&o, "%s: usage: zlvm %s ID", verb, verb);
		return 2;
	}
	if (!strcmp(verb, "start"))
		return cmd_start(&o, vargv[1]);
	if (!strcmp(verb, "state"))
		return cmd_state(&o, vargv[1]);
	if (!strcmp(verb, "delete"))
		return cmd_delete(&o, vargc, vargv);
	if (!strcmp(verb, "kill"))
		return cmd_kill(&o, vargc, vargv);
	if (!strcmp(verb, "exec"))
		return cmd_exec(&o, vargc, vargv);
	if (!strcmp(verb, "accel"))
		return cmd_accel(&o, vargc, vargv);
	zlvm_error(&o, "unknown command %s", verb);
	usage();
	return 2;
}
