/* oci.c: the OCI backend. Each replica is a bundle under
 * <root>/containers/<id>/ (config.json, an overlayfs rootfs over the image's
 * shared layers with a per-replica upper/work dir) run by an OCI runtime
 * (crun or runc) under zlmon, the per-replica monitor that outlives zlapply.
 *
 * Observation never spawns a process: a replica is running when the PID
 * zlmon reported is alive with the same start time (/proc/<pid>/stat field
 * 22); exited when zlmon's exit record exists; unknown when neither holds
 * and its monitor is gone. */
#include "oci-internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "backends/monitor/monitor.h"
#include "net/net.h"

#define READY_TIMEOUT_MS 60000

struct oci_ctx {
	bool bridge_ready;  /* net_bridge_ensure done in this run */
	char *runtime;      /* chosen at probe */
	char *zlmon;        /* path of the monitor binary */
	char *containers;   /* <root>/containers */
	char boot_id[40];   /* this boot's id, read once ("" until then) */
	struct zl_owner me; /* this state root's identity (me.id "" until known) */
};

/* The kernel's id of this boot: a container started under another one was
 * ended by the reboot, whatever its records say. "" when unreadable. */
static const char *boot_id(struct oci_ctx *c)
{
	if (c->boot_id[0])
		return c->boot_id;
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return "";
	ssize_t n = read(fd, c->boot_id, sizeof(c->boot_id) - 1);
	close(fd);
	c->boot_id[n > 0 ? n : 0] = '\0';
	c->boot_id[strcspn(c->boot_id, "\n")] = '\0';
	return c->boot_id;
}

static struct oci_ctx *ctx_of(struct backend *b)
{
	return b->ctx;
}

/* ---- ownership (common/owner.c) ----
 * A replica's id names host-wide things: the runtime's container, its
 * network namespace, its veth (net/ derives both from the same deployment,
 * service and index) and its cgroup. The id is claimed ("replica" claims)
 * before any of them is made and released after all of them are gone; a
 * create that finds the id claimed by another live state root, or the
 * runtime's container or the namespace there without a claim, fails naming
 * the holder and touches nothing, and remove leaves alone what another
 * root holds. */
#define CLAIM_KIND "replica"

static const struct zl_owner *me_of(struct backend *b, struct zl_err *err)
{
	struct oci_ctx *c = ctx_of(b);
	if (!c->me.id[0] && zl_owner_of_root(b->root, true, &c->me, err) < 0)
		return NULL;
	return &c->me;
}

/* Does anything of the host already answer to id (made by a root that
 * predates claims, or by hand)? The runtimes keep state under /run. */
static const char *unclaimed_trace(const char *id)
{
	static const char *const runtime_dirs[] = { "/run/runc", "/run/crun" };
	for (size_t i = 0; i < 2; i++) {
		_cleanup_free_ char *p = zl_xasprintf("%s/%s", runtime_dirs[i], id);
		if (access(p, F_OK) == 0)
			return "a runtime container";
	}
	return net_netns_exists(id) ? "a network namespace" : NULL;
}

/* Claims id for this root before create makes anything. */
static int claim_replica(struct backend *b, const char *id, struct zl_err *err)
{
	const struct zl_owner *me = me_of(b, err);
	if (!me)
		return -1;
	struct zl_owner holder;
	int r = zl_claim(CLAIM_KIND, id, me, &holder, err);
	if (r < 0)
		return -1;
	if (r > 0)
		return zl_fail(err, "%s belongs to the state root %s (another zlapply root runs a deployment of this name): nothing was touched; pick another deployment name, or run it from that root",
			       id, holder.root);
	return 0;
}

/* 1 when id is this root's to tear down (its claim, or no claim at all
 * for a directory this root has: replicas made before claims), 0 when
 * another root holds it. */
static int replica_is_ours(struct backend *b, const char *id)
{
	struct zl_err ignored = ZL_ERR_INIT;
	const struct zl_owner *me = me_of(b, &ignored);
	if (!me)
		return 0; /* cannot tell: touch nothing host-wide */
	return zl_claim_is_ours(CLAIM_KIND, id, me) != 0;
}

static char *container_dir(struct backend *b, const char *id)
{
	return zl_xasprintf("%s/%s", ctx_of(b)->containers, id);
}

#define CGROUP_FILE "cgroup" /* the replica's cgroup path, chosen at create */
#define REPLICA_FILE "replica" /* "DEPLOYMENT\tSERVICE\tINDEX\tSPEC_HASH\tIMAGE_DIGEST" */

/* "/zlapply/<id>", or "<cgroup_parent>/<id>" (Docker's --cgroup-parent). */
static char *replica_cgroup(const struct spec_service *svc, const char *id)
{
	const char *parent = svc && svc->cgroup_parent ? svc->cgroup_parent : "/zlapply";
	while (*parent == '/')
		parent++;
	size_t len = strlen(parent);
	while (len > 0 && parent[len - 1] == '/')
		len--;
	return len ? zl_xasprintf("/%.*s/%s", (int)len, parent, id) : zl_xasprintf("/%s", id);
}

char *oci_container_cgroup(struct backend *b, const char *id)
{
	_cleanup_free_ char *dir = container_dir(b, id);
	_cleanup_free_ char *path = zl_xasprintf("%s/%s", dir, CGROUP_FILE);
	char *text = NULL;
	size_t len = 0;
	struct zl_err ignored = ZL_ERR_INIT;
	if (zl_read_file(path, &text, &len, &ignored) == 0 && len > 1 && text[0] == '/')
		return text;
	free(text);
	return replica_cgroup(NULL, id);
}

/* Backend ids are generated by zlapply, but they end up in paths: refuse
 * anything that could leave the containers directory. */
static int check_id(const char *id, struct zl_err *err)
{
	if (!id || !*id || id[0] == '.' || strchr(id, '/') || strlen(id) > 200)
		return zl_invalid(err, "invalid container id \"%s\"", id ? id : "");
	return 0;
}

static char *find_zlmon(void)
{
	const char *env = getenv("ZLMON_BIN");
	if (env && *env)
		return zl_xstrdup(env);
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			/* Installed side by side, or the build tree (cli/ next to backends/). */
			const char *candidates[] = { "zlmon", "../backends/monitor/zlmon",
						     "../libexec/zlapply/zlmon" };
			for (size_t i = 0; i < 3; i++) {
				char *p = zl_xasprintf("%s/%s", self, candidates[i]);
				if (access(p, X_OK) == 0)
					return p;
				free(p);
			}
		}
	}
	return oci_which("zlmon");
}

static int oci_probe(struct backend *b, struct zl_err *err)
{
	struct oci_ctx *c = ctx_of(b);
	if (!c->runtime && oci_runtime_choose(b->root, b->runtime, &c->runtime, err) < 0)
		return -1;
	if (!c->zlmon)
		c->zlmon = find_zlmon();
	if (!c->zlmon)
		return zl_fail(err, "zlmon (the container monitor) not found next to zlapply; set ZLMON_BIN");
	if (geteuid() != 0)
		return zl_fail(err, "the oci backend needs root (mounts, namespaces, cgroups)");
	return zl_mkdir_p(c->containers, 0700, err);
}

static bool oci_wants_network(struct backend *b)
{
	(void)b;
	return true;
}

static bool oci_needs_images(struct backend *b)
{
	(void)b;
	return true;
}

/* ---- create: rootfs + config.json ---- */
#define STOPPING_FILE "stopping"         /* stop_begin: "SENT_MS PID_START_TIME" */

static int oci_remove(struct backend *b, const char *id, struct zl_err *err);

/* Writes <dir>/config.json for the replica. */
static int write_config(struct backend *b, const char *dir, const struct backend_replica_spec *rs,
			struct zl_err *err)
{
	_cleanup_free_ char *netns = NULL;
	_cleanup_free_ char *resolv = NULL, *hosts = NULL;
	if (rs->ip) {
		if (oci_net_setup(&ctx_of(b)->bridge_ready, dir, rs, &netns, err) < 0)
			return -1;
		resolv = zl_xasprintf("%s/resolv.conf", dir);
		hosts = zl_xasprintf("%s/hosts", dir);
	}
	_cleanup_free_ char *rootfs = zl_xasprintf("%s/rootfs", dir);
	_cleanup_free_ char *anon = zl_xasprintf("%s/anon", dir);
	_cleanup_free_ char *volumes = zl_xasprintf("%s/volumes/%s", b->root, rs->deployment);
	_cleanup_free_ char *cgroup = replica_cgroup(rs->service, rs->backend_id);
	_cleanup_free_ char *cgroup_record = zl_xasprintf("%s/%s", dir, CGROUP_FILE);
	if (zl_write_file_atomic(cgroup_record, cgroup, strlen(cgroup), 0600, err) < 0)
		return -1;
	_cleanup_free_ char *config_path = zl_xasprintf("%s/config.json", dir);
	struct oci_bundle_input in = {
		.rs = rs,
		.rootfs = rootfs,
		.volumes_dir = volumes,
		.anon_dir = anon,
		.cgroups_path = cgroup,
		.netns_path = netns,
		.resolv_conf = resolv,
		.hosts_file = hosts,
	};
	char *config = NULL;
	if (oci_bundle_config(&in, &config, err) < 0)
		return -1;
	int r = zl_write_file_atomic(config_path, config, strlen(config), 0600, err);
	free(config);
	return r;
}

static int oci_create(struct backend *b, const struct backend_replica_spec *rs, struct zl_err *err)
{
	const char *id = rs->backend_id;
	if (check_id(id, err) < 0)
		return -1;
	char *dir = container_dir(b, id);
	int ret = -1;
	if (access(dir, F_OK) == 0) {
		zl_fail(err, "container %s already exists", id);
		free(dir);
		return -1;
	}
	/* Before anything is made: the name must be free or this root's. */
	int unclaimed = zl_claim_holder(CLAIM_KIND, id, &(struct zl_owner){ 0 });
	const char *trace = unclaimed < 0 ? unclaimed_trace(id) : NULL;
	if (trace) {
		zl_fail(err, "%s: %s of that name exists and no state root claims it (made by hand, or by an older zlapply from another root): nothing was touched",
			id, trace);
		free(dir);
		return -1;
	}
	if (claim_replica(b, id, err) < 0) {
		free(dir);
		return -1;
	}
	const char *subdirs[] = { "upper", "work", "rootfs", "anon" };
	for (size_t i = 0; i < 4; i++) {
		char *p = zl_xasprintf("%s/%s", dir, subdirs[i]);
		int r = zl_mkdir_p(p, 0700, err);
		free(p);
		if (r < 0)
			goto out;
	}
	if (oci_rootfs_mount(dir, rs, err) < 0 || write_config(b, dir, rs, err) < 0)
		goto out;
	{
		/* Who this is, for adoption by a database that lost it. */
		_cleanup_free_ char *who = zl_xasprintf("%s\t%s\t%d\t%s\t%s\n", rs->deployment, rs->service->name,
							rs->index, rs->spec_hash ? rs->spec_hash : "-",
							rs->image_digest ? rs->image_digest : "-");
		_cleanup_free_ char *who_path = zl_xasprintf("%s/" REPLICA_FILE, dir);
		if (zl_write_file_atomic(who_path, who, strlen(who), 0600, err) < 0)
			goto out;
	}
	{
		/* Remembered so a replica whose service left the spec still stops
		 * the way its spec asked. */
		const struct spec_service *svc = rs->service;
		_cleanup_free_ char *stop = zl_xasprintf("%d %lld\n", oci_stop_signal(svc, rs->image_config),
							 (long long)(svc->stop_grace_ms >= 0 ? svc->stop_grace_ms : 10000));
		_cleanup_free_ char *path = zl_xasprintf("%s/stop", dir);
		if (zl_write_file_atomic(path, stop, strlen(stop), 0600, err) < 0)
			goto out;
	}
	ret = 0;
out:
	if (ret < 0) {
		/* Nothing half-made stays behind: no mount, no directory. */
		struct zl_err ignored = ZL_ERR_INIT;
		oci_remove(b, id, &ignored);
	}
	free(dir);
	return ret;
}

/* ---- start: zlmon, detached ---- */
static int spawn_monitor(struct backend *b, const char *id, const char *dir, int *ready_fd,
			 struct zl_err *err)
{
	struct oci_ctx *c = ctx_of(b);
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return zl_fail_errno(err, "pipe");
	_cleanup_free_ char *cgroup = oci_container_cgroup(b, id);
	char fdbuf[16];
	snprintf(fdbuf, sizeof(fdbuf), "%d", p[1]);
	pid_t child = fork();
	if (child < 0) {
		close(p[0]);
		close(p[1]);
		return zl_fail_errno(err, "fork");
	}
	if (child == 0) {
		/* Detach: a new session, then a grandchild that no one waits for
		 * in zlapply; the monitor must outlive this run. */
		setsid();
		pid_t grandchild = fork();
		if (grandchild != 0)
			_exit(grandchild < 0 ? 1 : 0);
		int devnull = open("/dev/null", O_RDWR);
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
		fcntl(p[1], F_SETFD, 0); /* the ready fd survives exec */
		const char *argv[] = { c->zlmon, "--id", id, "--bundle", dir, "--runtime", c->runtime,
				       "--dir", dir, "--ready-fd", fdbuf, "--cgroup", cgroup, NULL };
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	int st;
	while (waitpid(child, &st, 0) < 0 && errno == EINTR)
		;
	*ready_fd = p[0];
	return 0;
}

/* Reads zlmon's one ready line: "ok PID STARTTIME" or "error MESSAGE". */
static int read_ready(int fd, int64_t *pid, int64_t *start_time, struct zl_err *err)
{
	struct zl_buf line = { 0 };
	int64_t deadline = zl_monotonic_ms() + READY_TIMEOUT_MS;
	int ret = -1;
	for (;;) {
		int64_t left = deadline - zl_monotonic_ms();
		if (left <= 0) {
			zl_fail(err, "zlmon did not report within %d s", READY_TIMEOUT_MS / 1000);
			goto out;
		}
		struct pollfd pfd = { fd, POLLIN, 0 };
		int r = poll(&pfd, 1, (int)left);
		if (r == 0 || (r < 0 && errno == EINTR))
			continue; /* the deadline is checked above */
		char buf[4096];
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		zl_buf_append(&line, buf, (size_t)n);
	}
	if (!line.data) {
		zl_fail(err, "zlmon exited without reporting (see its zlmon.log)");
		goto out;
	}
	line.data[strcspn(line.data, "\n")] = '\0';
	long long p = 0, t = 0;
	if (sscanf(line.data, "ok %lld %lld", &p, &t) == 2 && p > 0) {
		*pid = p;
		*start_time = t;
		ret = 0;
	} else if (strncmp(line.data, "error ", 6) == 0) {
		zl_fail(err, "%s", line.data + 6);
	} else {
		zl_fail(err, "zlmon: unexpected report \"%s\"", line.data);
	}
out:
	zl_buf_free(&line);
	return ret;
}

static void settle_monitor(struct backend *b, const char *id, const char *dir, bool scan);

static int oci_start(struct backend *b, const char *id, struct zl_err *err)
{
	if (check_id(id, err) < 0)
		return -1;
	_cleanup_free_ char *dir = container_dir(b, id);
	if (access(dir, F_OK) < 0)
		return zl_fail(err, "no such container %s", id);
	/* One monitor per directory: an earlier start's (of a run killed
	 * while it started) finishes first, or two would create the id. A
	 * restart (a record of an earlier monitor is there) also looks for
	 * one that did not write its record yet. */
	_cleanup_free_ char *mon_record = zl_xasprintf("%s/%s", dir, MONITOR_FILE);
	settle_monitor(b, id, dir, access(mon_record, F_OK) == 0);
	/* A restart: the previous run's records go first. */
	const char *stale[] = { MONITOR_EXIT_FILE, "started", MONITOR_PID_FILE, STOPPING_FILE };
	for (size_t i = 0; i < sizeof(stale) / sizeof(stale[0]); i++) {
		_cleanup_free_ char *p = zl_xasprintf("%s/%s", dir, stale[i]);
		unlink(p);
	}
	/* Claims end with the boot: a start after a reboot claims again. */
	if (claim_replica(b, id, err) < 0)
		return -1;
	if (oci_rootfs_restore(dir, err) < 0 ||
	    oci_net_restore(&ctx_of(b)->bridge_ready, dir, err) < 0)
		return zl_err_prefix(err, "container %s", id);
	int fd = -1;
	if (spawn_monitor(b, id, dir, &fd, err) < 0)
		return -1;
	int64_t pid = 0, start_time = 0;
	int r = read_ready(fd, &pid, &start_time, err);
	close(fd);
	if (r < 0)
		return -1;
	_cleanup_free_ char *started = zl_xasprintf("%s/started", dir);
	_cleanup_free_ char *text = zl_xasprintf("%lld %lld %lld %s\n", (long long)pid,
						 (long long)start_time, (long long)zl_now_ms(),
						 boot_id(ctx_of(b)));
	return zl_write_file_atomic(started, text, strlen(text), 0600, err);
}

/* ---- observe ---- */
static void fill_exit(struct backend_state *st, const struct monitor_exit *ex)
{
	st->status = BACKEND_STATUS_EXITED;
	st->exit_code = ex->exit_code;
	st->exit_signal = ex->signal;
	snprintf(st->exit_reason, sizeof(st->exit_reason), "%s", ex->reason);
	st->finished_at = ex->finished_at_ms;
	st->pid = -1;
	st->pid_start_time = -1;
}

/* Fills st from zlmon's exit record; false when there is none (yet). */
static bool take_exit(const char *dir, struct backend_state *st)
{
	struct monitor_exit ex;
	if (monitor_exit_read(dir, &ex) < 0)
		return false;
	fill_exit(st, &ex);
	return true;
}

/* <dir>/started: "PID STARTTIME STARTED_MS [BOOT_ID]"; boot "" if absent. */
static int read_started(const char *dir, int64_t *pid, int64_t *start_time, int64_t *started_ms,
			char boot[40])
{
	_cleanup_free_ char *path = zl_xasprintf("%s/started", dir);
	char *text = NULL;
	size_t len = 0;
	struct zl_err ignored = ZL_ERR_INIT;
	if (zl_read_file(path, &text, &len, &ignored) < 0)
		return -1;
	long long a, t, s;
	boot[0] = '\0';
	int n = sscanf(text, "%lld %lld %lld %39s", &a, &t, &s, boot);
	free(text);
	if (n < 3)
		return -1;
	*pid = a;
	*start_time = t;
	*started_ms = s;
	return 0;
}

static int observe_state(struct backend *b, const char *id, struct backend_state *st,
			 struct oci_net_record *net, struct zl_err *err);

/* A running replica with bridge networking needs its namespace and the
 * host end of its veth; either deleted by hand leaves it cut off while it
 * still shows running. Two stats, no subprocess (a no-op apply looks at
 * every replica). */
static void check_network(const struct oci_net_record *rec, struct backend_state *st)
{
	const char *ns = strrchr(rec->netns, '/') ? strrchr(rec->netns, '/') + 1 : rec->netns;
	char veth[NET_IFNAME_MAX + 1];
	net_ifname("zlh", rec->deployment, rec->service, rec->index, veth);
	_cleanup_free_ char *sys = zl_xasprintf("/sys/class/net/%s", veth);
	if (!net_netns_exists(ns))
		snprintf(st->fault_detail, sizeof(st->fault_detail), "its network namespace %s is gone", ns);
	else if (access(sys, F_OK) < 0)
		snprintf(st->fault_detail, sizeof(st->fault_detail), "the host end %s of its veth is gone", veth);
	else
		return;
	snprintf(st->fault, sizeof(st->fault), "network_lost");
}

static int oci_state(struct backend *b, const char *id, struct backend_state *st, struct zl_err *err)
{
	struct oci_net_record net;
	if (observe_state(b, id, st, &net, err) < 0)
		return -1;
	if (st->status == BACKEND_STATUS_RUNNING && st->netns[0])
		check_network(&net, st); /* the record observe_state read */
	return 0;
}

static int observe_state(struct backend *b, const char *id, struct backend_state *st,
			 struct oci_net_record *net_out, struct zl_err *err)
{
	memset(st, 0, sizeof(*st));
	st->pid = st->pid_start_time = -1;
	st->exit_code = -1;
	if (check_id(id, err) < 0)
		return -1;
	_cleanup_free_ char *dir = container_dir(b, id);
	struct stat sb;
	if (stat(dir, &sb) < 0) {
		st->status = BACKEND_STATUS_MISSING;
		return 0;
	}
	struct oci_net_record local, *net = net_out ? net_out : &local;
	if (oci_net_read(dir, net) == 0) {
		snprintf(st->ip, sizeof(st->ip), "%s", net->ip);
		snprintf(st->netns, sizeof(st->netns), "%s", net->netns);
	} else {
		st->ip[0] = st->netns[0] = '\0';
	}
	int64_t pid = -1, start_time = -1, started_ms = 0;
	char boot[40];
	bool started = read_started(dir, &pid, &start_time, &started_ms, boot) == 0;
	if (started) {
		st->started_at = started_ms;
		st->pid = pid;
		st->pid_start_time = start_time;
	}
	if (take_exit(dir, st))
		return 0;
	if (!started) {
		/* zlapply may have died between zlmon's start and recording it:
		 * the runtime's pid file tells whether the container runs. */
		_cleanup_free_ char *pid_path = zl_xasprintf("%s/%s", dir, MONITOR_PID_FILE);
		char buf[32];
		int fd = open(pid_path, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
		if (fd >= 0)
			close(fd);
		int64_t ctr = n > 0 ? (buf[n] = '\0', strtoll(buf, NULL, 10)) : -1;
		int64_t t = ctr > 0 ? monitor_proc_start_time(ctr) : -1;
		if (t >= 0 && monitor_alive(dir)) {
			st->status = BACKEND_STATUS_RUNNING;
			st->pid = ctr;
			st->pid_start_time = t;
			/* Recorded now, as start would have (the runtime wrote its
			 * pid file at the start): a reboot is then told from a
			 * monitor that died, and a temporary file the killed run
			 * left of this record goes with the write. */
			struct stat ps;
			if (fstatat(AT_FDCWD, pid_path, &ps, 0) == 0) {
				int64_t at = (int64_t)ps.st_mtim.tv_sec * 1000 + ps.st_mtim.tv_nsec / 1000000;
				_cleanup_free_ char *path = zl_xasprintf("%s/started", dir);
				_cleanup_free_ char *text = zl_xasprintf("%lld %lld %lld %s\n", (long long)ctr,
									 (long long)t, (long long)at,
									 boot_id(ctx_of(b)));
				struct zl_err werr = ZL_ERR_INIT;
				if (zl_write_file_atomic(path, text, strlen(text), 0600, &werr) == 0)
					st->started_at = at;
				else
					zl_log(ZL_LOG_DEBUG, "%s", werr.msg);
			}
			return 0;
		}
		if (take_exit(dir, st)) /* zlmon finished since the first look */
			return 0;
		st->status = BACKEND_STATUS_CREATED;
		return 0;
	}
	if (monitor_proc_start_time(pid) == start_time) {
		st->status = BACKEND_STATUS_RUNNING;
		return 0;
	}
	/* The process is gone and no exit record: either zlmon is writing it
	 * right now, or zlmon died (reboot, OOM, kill). */
	if (monitor_alive(dir)) {
		st->status = BACKEND_STATUS_RUNNING;
		return 0;
	}
	/* zlmon renames exit.json into place before it exits: a second look
	 * after seeing it gone is decisive. */
	if (take_exit(dir, st))
		return 0;
	const char *now_boot = boot_id(ctx_of(b));
	if (boot[0] && now_boot[0] && strcmp(boot, now_boot) != 0) {
		/* The reboot killed it: an exit like any other, so the restart
		 * policy decides, and a restart keeps its files and address. The
		 * record zlmon could not write is written now, so every later look
		 * sees the same exit (finished when this boot began). */
		struct timespec up;
		clock_gettime(CLOCK_BOOTTIME, &up);
		struct monitor_exit ex = {
			.exit_code = 128 + SIGKILL,
			.signal = SIGKILL,
			.reason = "host_rebooted",
			.finished_at_ms = zl_now_ms() - ((int64_t)up.tv_sec * 1000 + up.tv_nsec / 1000000),
			.pid = pid,
		};
		char *text = monitor_exit_encode(&ex);
		_cleanup_free_ char *path = zl_xasprintf("%s/%s", dir, MONITOR_EXIT_FILE);
		struct zl_err werr = ZL_ERR_INIT;
		if (zl_write_file_atomic(path, text, strlen(text), 0644, &werr) < 0)
			zl_log(ZL_LOG_DEBUG, "%s", werr.msg); /* the next look computes it again */
		free(text);
		fill_exit(st, &ex);
		return 0;
	}
	st->status = BACKEND_STATUS_UNKNOWN;
	snprintf(st->exit_reason, sizeof(st->exit_reason), "monitor_gone");
	return 0;
}

/* ---- stop, kill, wait ---- */
static int wait_exit(struct backend *b, const char *id, int64_t timeout_ms)
{
	_cleanup_free_ char *dir = container_dir(b, id);
	int64_t deadline = zl_monotonic_ms() + timeout_ms;
	for (;;) {
		struct backend_state st;
		struct zl_err ignored = ZL_ERR_INIT;
		if (observe_state(b, id, &st, NULL, &ignored) == 0 && st.status != BACKEND_STATUS_RUNNING)
			return 0;
		if (zl_monotonic_ms() >= deadline)
			return -1;
		struct timespec ts = { 0, 20 * 1000000 };
		nanosleep(&ts, NULL);
	}
}

static int signal_container(struct backend *b, const char *id, int signo, struct zl_err *err)
{
	struct backend_state st;
	if (observe_state(b, id, &st, NULL, err) < 0)
		return -1;
	if (st.status != BACKEND_STATUS_RUNNING || st.pid <= 0)
		return zl_fail(err, "container %s is not running", id);
	/* Exited, its monitor still finishing up: the pid may already be
	 * another process's. */
	if (monitor_proc_start_time(st.pid) != st.pid_start_time)
		return 0;
	if (kill((pid_t)st.pid, signo) < 0 && errno != ESRCH)
		return zl_fail_errno(err, "kill %s (pid %lld)", id, (long long)st.pid);
	return 0;
}

static int oci_kill(struct backend *b, const char *id, int signo, struct zl_err *err)
{
	return signal_container(b, id, signo, err);
}

/* The stop settings written at create: "SIGNO GRACE_MS". */
static void read_stop_settings(struct backend *b, const char *id, int *signo, int64_t *grace_ms)
{
	_cleanup_free_ char *dir = container_dir(b, id);
	_cleanup_free_ char *path = zl_xasprintf("%s/stop", dir);
	char *text = NULL;
	size_t len = 0;
	struct zl_err ignored = ZL_ERR_INIT;
	int s = SIGTERM;
	long long g = 10000;
	if (zl_read_file(path, &text, &len, &ignored) == 0) {
		if (sscanf(text, "%d %lld", &s, &g) != 2)
			s = SIGTERM, g = 10000;
		free(text);
	}
	if (*signo == 0)
		*signo = s;
	if (*grace_ms < 0)
		*grace_ms = g;
}

static int oci_stop_begin(struct backend *b, const char *id, int signo, struct zl_err *err)
{
	int64_t grace = -1;
	if (signo == 0)
		read_stop_settings(b, id, &signo, &grace);
	struct backend_state st;
	if (observe_state(b, id, &st, NULL, err) < 0)
		return -1;
	if (st.status != BACKEND_STATUS_RUNNING)
		return 0;
	_cleanup_free_ char *dir = container_dir(b, id);
	_cleanup_free_ char *path = zl_xasprintf("%s/%s", dir, STOPPING_FILE);
	_cleanup_free_ char *text = zl_xasprintf("%lld %lld\n", (long long)zl_monotonic_ms(),
						 (long long)st.pid_start_time);
	if (zl_write_file_atomic(path, text, strlen(text), 0600, err) < 0)
		return -1;
	if (signal_container(b, id, signo ? signo : SIGTERM, err) < 0) {
		unlink(path); /* not signalled: stop() must send it itself */
		return -1;
	}
	return 0;
}

/* How long ago stop_begin signalled this run of id (by its pid start time),
 * or -1 when it did not (or too long ago to count). */
#define STOPPING_FRESH_MS (5 * 60 * 1000)
static int64_t stop_begun_ago(struct backend *b, const char *id, int64_t pid_start_time,
			      int64_t timeout_ms)
{
	_cleanup_free_ char *dir = container_dir(b, id);
	_cleanup_free_ char *path = zl_xasprintf("%s/%s", dir, STOPPING_FILE);
	char *text = NULL;
	size_t len = 0;
	struct zl_err ignored = ZL_ERR_INIT;
	if (zl_read_file(path, &text, &len, &ignored) < 0)
		return -1;
	long long sent = 0, start = 0;
	int n = sscanf(text, "%lld %lld", &sent, &start);
	free(text);
	int64_t ago = zl_monotonic_ms() - sent;
	/* Stale after a while: a replica whose removal failed long ago gets
	 * its stop signal again before anything harder. */
	if (n != 2 || start != pid_start_time || ago < 0 || ago > timeout_ms + STOPPING_FRESH_MS)
		return -1;
	return ago;
}

static int oci_stop(struct backend *b, const char *id, int signo, int64_t timeout_ms,
		    struct zl_err *err)
{
	if (signo == 0 || timeout_ms < 0)
		read_stop_settings(b, id, &signo, &timeout_ms);
	struct backend_state st;
	if (observe_state(b, id, &st, NULL, err) < 0)
		return -1;
	if (st.status != BACKEND_STATUS_RUNNING)
		return 0;
	struct zl_err ignored = ZL_ERR_INIT;
	int64_t ago = stop_begun_ago(b, id, st.pid_start_time, timeout_ms);
	if (ago >= 0) /* signalled already, with its siblings */
		timeout_ms = ago < timeout_ms ? timeout_ms - ago : 0;
	else
		signal_container(b, id, signo ? signo : SIGTERM, &ignored);
	if (wait_exit(b, id, timeout_ms) == 0)
		return 0;
	/* The grace period is over. */
	signal_container(b, id, SIGKILL, &ignored);
	if (wait_exit(b, id, 10000) < 0)
		return zl_fail(err, "container %s did not exit after SIGKILL", id);
	return 0;
}

static int oci_wait(struct backend *b, const char *id, int64_t timeout_ms, struct zl_err *err)
{
	if (wait_exit(b, id, timeout_ms) < 0)
		return zl_err_set(err, ZL_ERR_TIMEOUT, 0, "container %s still running after %lld ms", id,
				  (long long)timeout_ms);
	return 0;
}

/* ---- the monitor of a directory ----
 * zlmon is detached: it outlives a zlapply killed while it was inside the
 * runtime's create or start, and goes on writing into the container's
 * directory and creating the runtime's container under the replica's id.
 * Removing the directory (an interrupted create undone) or starting a
 * second monitor there (a restart finished at recovery) while it works
 * would have it create into a directory made again, or collide with the
 * next create of the id. So both wait for it first. */
#define MONITOR_SETTLE_MS 100000 /* zlmon's own bounds: create 45 s, start 10 s, delete 30 s */

/* Is pid a zlmon monitoring dir (its command line: zlmon ... --dir dir)? */
static bool is_monitor_of(int64_t pid, const char *dir)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%lld/cmdline", (long long)pid);
	char *text = NULL;
	size_t len = 0;
	if (zl_read_file(path, &text, &len, NULL) < 0)
		return false;
	bool zlmon = false, dir_match = false;
	size_t i = 0;
	for (const char *arg = text, *prev = NULL; arg < text + len; prev = arg, arg += strlen(arg) + 1, i++) {
		const char *base = strrchr(arg, '/') ? strrchr(arg, '/') + 1 : arg;
		if (i == 0)
			zlmon = strcmp(base, "zlmon") == 0;
		else if (prev && strcmp(prev, "--dir") == 0 && strcmp(arg, dir) == 0)
			dir_match = true;
	}
	free(text);
	return zlmon && dir_match;
}

/* The pid of dir's monitor while it runs, proven to be it: the pid its
 * record in dir names, alive with the recorded start time, whose command
 * line is zlmon's with --dir dir. A monitor just started (a run killed
 * right after spawning it) has no record yet: with scan, the processes
 * are looked through for a zlmon whose command line names dir. 0 when
 * there is none. */
static pid_t live_monitor(const char *dir, bool scan)
{
	int64_t pid = 0, start = 0;
	if (monitor_read_self(dir, &pid, &start) == 0 && pid > 1 &&
	    monitor_proc_start_time(pid) == start && is_monitor_of(pid, dir))
		return (pid_t)pid;
	if (!scan)
		return 0;
	DIR *d = opendir("/proc");
	struct dirent *de;
	pid_t found = 0;
	while (d && !found && (de = readdir(d))) {
		char *end;
		long p = strtol(de->d_name, &end, 10);
		if (*end == '\0' && p > 1 && p != getpid() && monitor_proc_start_time(p) >= 0 &&
		    is_monitor_of(p, dir))
			found = (pid_t)p;
	}
	if (d)
		closedir(d);
	return found;
}

/* Waits until dir's monitor is gone. A container it got running is ended
 * (SIGKILL: it is on its way out, or about to be replaced), so the monitor
 * records the exit, deletes the runtime's container and exits; a monitor
 * still busy after zlmon's own time limits is killed. scan: see
 * live_monitor(). */
static void settle_monitor(struct backend *b, const char *id, const char *dir, bool scan)
{
	int64_t start = zl_monotonic_ms();
	bool announced = false;
	pid_t mon;
	while ((mon = live_monitor(dir, scan)) > 0) {
		struct backend_state st;
		struct zl_err ignored = ZL_ERR_INIT;
		if (observe_state(b, id, &st, NULL, &ignored) == 0 && st.status == BACKEND_STATUS_RUNNING)
			signal_container(b, id, SIGKILL, &ignored);
		int64_t waited = zl_monotonic_ms() - start;
		if (waited >= MONITOR_SETTLE_MS) {
			zl_log(ZL_LOG_WARN, "%s: its monitor (pid %d) is still at work after %d s: killed",
			       id, (int)mon, MONITOR_SETTLE_MS / 1000);
			kill(mon, SIGKILL);
			for (int i = 0; i < 100 && live_monitor(dir, scan) == mon; i++) {
				struct timespec ts = { 0, 20 * 1000000 };
				nanosleep(&ts, NULL);
			}
			return;
		}
		if (!announced && waited >= 1000) {
			zl_log(ZL_LOG_INFO, "%s: waiting for its monitor (pid %d), still starting it", id,
			       (int)mon);
			announced = true;
		}
		struct timespec ts = { 0, 20 * 1000000 };
		nanosleep(&ts, NULL);
	}
}

/* ---- remove ---- */
static int oci_remove(struct backend *b, const char *id, struct zl_err *err)
{
	struct oci_ctx *c = ctx_of(b);
	if (check_id(id, err) < 0)
		return -1;
	_cleanup_free_ char *dir = container_dir(b, id);
	if (access(dir, F_OK) < 0) {
		/* Nothing was made (a create that failed right after claiming):
		 * the claim alone is left, and only this root's is dropped. */
		struct zl_err ignored = ZL_ERR_INIT;
		const struct zl_owner *me = me_of(b, &ignored);
		if (me)
			(void)zl_claim_release(CLAIM_KIND, id, me);
		return 0;
	}
	struct backend_state st;
	struct zl_err ignored = ZL_ERR_INIT;
	/* The process this root started (its pid and start time are in this
	 * directory's records) is this root's to stop whatever else holds the
	 * name now; the runtime's container and the network go by the name, so
	 * they are torn down only while the name is this root's. */
	bool observed = observe_state(b, id, &st, NULL, &ignored) == 0;
	if (observed && st.status == BACKEND_STATUS_RUNNING)
		oci_stop(b, id, SIGKILL, 0, &ignored);
	/* Nothing is torn down under a monitor still at work (a create that
	 * a killed run left to it): it would create into what comes next.
	 * One that never got as far as its record can only be behind a
	 * replica that never started. */
	settle_monitor(b, id, dir, observed && st.status == BACKEND_STATUS_CREATED);
	bool ours = replica_is_ours(b, id);
	if (!ours)
		zl_log(ZL_LOG_WARN, "remove %s: another state root holds the name now; its container and network are left alone",
		       id);
	if (ours && c->runtime) {
		/* zlmon deletes the runtime's record after the exit; this covers
		 * a monitor that died first. Failure means there was none. */
		const char *argv[] = { c->runtime, "delete", "--force", id, NULL };
		struct zl_buf out = { 0 };
		int status;
		zl_run(argv, -1, &out, &status, &ignored);
		zl_buf_free(&out);
	}
	oci_rootfs_unmount(dir);
	/* Keep the directory (and its network record) when the network is
	 * still there: without the record nothing could tell whose it is. */
	if (ours && oci_net_teardown(dir, err) < 0)
		return zl_err_prefix(err, "remove container %s", id);
	if (zl_rm_rf(dir, err) < 0)
		return zl_err_prefix(err, "remove container %s", id);
	if (ours && zl_claim_release(CLAIM_KIND, id, &ctx_of(b)->me) < 0)
		zl_log(ZL_LOG_WARN, "remove %s: release its claim: %s", id, strerror(errno));
	return 0;
}

/* ---- logs, exec, stats ---- */
static int oci_logs(struct backend *b, const char *id, const struct backend_log_opts *o,
		    FILE *out, struct zl_err *err)
{
	if (check_id(id, err) < 0)
		return -1;
	_cleanup_free_ char *dir = container_dir(b, id);
	if (access(dir, F_OK) < 0)
		return zl_fail(err, "no such container %s", id);
	return monitor_logs_print(dir, o->tail, o->follow, o->timestamps, out, err);
}

/* The container's PATH as its process got it (config.json), else Docker's. */
static char *container_path_env(const char *dir)
{
	_cleanup_free_ char *path = zl_xasprintf("%s/config.json", dir);
	char *text = NULL;
	size_t len = 0;
	struct zl_err ignored = ZL_ERR_INIT;
	char *found = NULL;
	if (zl_read_file(path, &text, &len, &ignored) == 0) {
		cJSON *root = cJSON_Parse(text);
		const cJSON *env = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(root, "process"), "env");
		const cJSON *it;
		cJSON_ArrayForEach(it, env)
			if (cJSON_IsString(it) && !strncmp(it->valuestring, "PATH=", 5) && !found)
				found = zl_xstrdup(it->valuestring + 5);
		cJSON_Delete(root);
	}
	free(text);
	return found ? found : zl_xstrdup("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
}

/* What can be run as cmd, seen from the container's root (pid's, with its
 * mounts): 0 a regular file with an execute bit, else the Docker-style
 * exit code 127 (not there) or 126 (there, but not runnable). */
static int runnable_at(int root_fd, const char *path)
{
	while (*path == '/')
		path++;
	struct open_how how = { .flags = O_PATH | O_CLOEXEC,
				.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	int fd = (int)syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR ? 127 : 126;
	struct stat sb;
	int r = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && (sb.st_mode & 0111) ? 0 : 126;
	close(fd);
	return r;
}

/* Docker's answer for a command that cannot start, before the runtime
 * mixes its own error into the command's stderr: 127 and "executable file
 * not found in $PATH", or 126 and "permission denied". */
static int check_command(const char *dir, int64_t pid, const char *cmd, int *exit_code,
			 struct zl_err *err)
{
	char proc_root[64];
	snprintf(proc_root, sizeof(proc_root), "/proc/%lld/root", (long long)pid);
	_cleanup_close_ int root_fd = open(proc_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0)
		return 0; /* gone meanwhile: the runtime says what happened */
	int code = 127;
	if (strchr(cmd, '/')) {
		code = cmd[0] == '/' ? runnable_at(root_fd, cmd) : 0; /* relative: the runtime's cwd rules */
	} else {
		_cleanup_free_ char *path_env = container_path_env(dir);
		char *save = NULL;
		/* As runc's lookup: the first runnable one; none is "not found". */
		for (char *d = strtok_r(path_env, ":", &save); d && code; d = strtok_r(NULL, ":", &save)) {
			_cleanup_free_ char *candidate = zl_xasprintf("%s/%s", *d ? d : ".", cmd);
			if (runnable_at(root_fd, candidate) == 0)
				code = 0;
		}
	}
	if (code == 0)
		return 0;
	*exit_code = code;
	if (code == 127)
		return zl_fail(err, "exec: \"%s\": %s", cmd,
			       strchr(cmd, '/') ? "no such file or directory" : "executable file not found in $PATH");
	return zl_fail(err, "exec: \"%s\": permission denied", cmd);
}

static int oci_exec(struct backend *b, const char *id, char *const argv[], int *exit_code,
		    struct zl_err *err)
{
	struct oci_ctx *c = ctx_of(b);
	struct backend_state st;
	if (observe_state(b, id, &st, NULL, err) < 0)
		return -1;
	if (st.status != BACKEND_STATUS_RUNNING)
		return zl_fail(err, "container %s is not running", id);
	if (!argv[0])
		return zl_invalid(err, "exec: no command");
	_cleanup_free_ char *dir = container_dir(b, id);
	if (check_command(dir, st.pid, argv[0], exit_code, err) < 0)
		return -1;
	size_t n = 0;
	while (argv[n])
		n++;
	const char **full = zl_xcalloc(n + 5, sizeof(char *));
	full[0] = c->runtime;
	full[1] = "exec";
	full[2] = id;
	for (size_t i = 0; i < n; i++)
		full[3 + i] = argv[i];
	pid_t pid = fork();
	if (pid < 0) {
		free(full);
		return zl_fail_errno(err, "fork");
	}
	if (pid == 0) {
		execv(full[0], (char *const *)full);
		_exit(127);
	}
	free(full);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	*exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	return 0;
}

static int64_t read_int_file(const char *path)
{
	char buf[64];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return strtoll(buf, NULL, 10);
}

static int oci_stats(struct backend *b, const char *id, struct backend_stats *st, struct zl_err *err)
{
	if (check_id(id, err) < 0)
		return -1;
	st->cpu_usage_ns = st->memory_bytes = -1;
	char path[4096];
	_cleanup_free_ char *cgroup = oci_container_cgroup(b, id);
	if (oci_cgroup2_unified()) {
		snprintf(path, sizeof(path), "/sys/fs/cgroup%s/memory.current", cgroup);
		st->memory_bytes = read_int_file(path);
		snprintf(path, sizeof(path), "/sys/fs/cgroup%s/cpu.stat", cgroup);
		FILE *f = fopen(path, "re");
		if (f) {
			char key[64];
			long long v;
			while (fscanf(f, "%63s %lld", key, &v) == 2)
				if (strcmp(key, "usage_usec") == 0)
					st->cpu_usage_ns = v * 1000;
			fclose(f);
		}
	} else {
		snprintf(path, sizeof(path), "/sys/fs/cgroup/memory%s/memory.usage_in_bytes", cgroup);
		st->memory_bytes = read_int_file(path);
		snprintf(path, sizeof(path), "/sys/fs/cgroup/cpuacct%s/cpuacct.usage", cgroup);
		st->cpu_usage_ns = read_int_file(path);
	}
	return 0;
}

/* A finished run's output (ctr.log and its rotated parts ctr.log.N, oldest
 * first) becomes one file at dest_path; the next start begins a new ctr.log. */
static int oci_archive_logs(struct backend *b, const char *id, const char *dest_path,
			    struct zl_err *err)
{
	if (check_id(id, err) < 0)
		return -1;
	_cleanup_free_ char *dir = container_dir(b, id);
	_cleanup_free_ char *log = zl_xasprintf("%s/" MONITOR_LOG_FILE, dir);
	_cleanup_free_ char *rotated1 = zl_xasprintf("%s.1", log);
	if (access(rotated1, F_OK) < 0) {
		if (rename(log, dest_path) < 0 && errno != ENOENT)
			return zl_fail_errno(err, "move %s to %s", log, dest_path);
		return 0;
	}
	struct zl_buf all = { 0 };
	int ret = 0;
	for (int k = 16; k >= 0 && ret == 0; k--) {
		_cleanup_free_ char *part = k ? zl_xasprintf("%s.%d", log, k) : zl_xstrdup(log);
		char *data = NULL;
		size_t len = 0;
		struct zl_err rerr = ZL_ERR_INIT;
		if (access(part, F_OK) < 0)
			continue;
		if (zl_read_file(part, &data, &len, &rerr) < 0) {
			*err = rerr;
			ret = -1;
			break;
		}
		zl_buf_append(&all, data, len);
		free(data);
	}
	if (ret == 0 && zl_write_file_atomic(dest_path, all.data ? all.data : "", all.len, 0600,
					     err) < 0)
		ret = -1;
	zl_buf_free(&all);
	if (ret < 0)
		return zl_err_prefix(err, "archive the log of %s", id);
	for (int k = 0; k <= 16; k++) {
		_cleanup_free_ char *part = k ? zl_xasprintf("%s.%d", log, k) : zl_xstrdup(log);
		unlink(part); /* gone already is fine: the archive holds it */
	}
	return 0;
}

/* ---- adoption ---- */

/* What <dir>/replica says of the replica (the network record names
 * deployment, service and index of replicas made before it existed). */
static int read_held(const char *dir, const char *id, struct backend_held *h)
{
	_cleanup_free_ char *path = zl_xasprintf("%s/" REPLICA_FILE, dir);
	char *text = NULL;
	size_t len = 0;
	*h = (struct backend_held){ .backend_id = zl_xstrdup(id) };
	if (zl_read_file(path, &text, &len, NULL) == 0) {
		char dep[256], svc[256], hash[128], digest[128];
		int index;
		int n = sscanf(text, "%255[^\t]\t%255[^\t]\t%d\t%127[^\t]\t%127[^\t\n]", dep, svc,
			       &index, hash, digest);
		free(text);
		if (n == 5) {
			h->deployment = zl_xstrdup(dep);
			h->service = zl_xstrdup(svc);
			h->index = index;
			h->spec_hash = strcmp(hash, "-") ? zl_xstrdup(hash) : NULL;
			h->image_digest = strcmp(digest, "-") ? zl_xstrdup(digest) : NULL;
			return 0;
		}
	}
	struct oci_net_record rec;
	if (oci_net_read(dir, &rec) == 0) {
		h->deployment = zl_xstrdup(rec.deployment);
		h->service = zl_xstrdup(rec.service);
		h->index = rec.index;
		return 0;
	}
	free(h->backend_id);
	h->backend_id = NULL;
	return -1; /* nothing says whose it is: doctor's to judge */
}

static int oci_held(struct backend *b, backend_known_fn known, void *ctx, struct backend_held **out,
		    size_t *n, struct zl_err *err)
{
	struct oci_ctx *c = ctx_of(b);
	*out = NULL;
	*n = 0;
	DIR *dh = opendir(c->containers);
	if (!dh)
		return errno == ENOENT ? 0 : zl_fail_errno(err, "open %s", c->containers);
	size_t cap = 0;
	struct dirent *de;
	while ((de = readdir(dh))) {
		struct zl_err ignored = ZL_ERR_INIT;
		if (de->d_name[0] == '.' || check_id(de->d_name, &ignored) < 0 || known(ctx, de->d_name))
			continue;
		_cleanup_free_ char *dir = container_dir(b, de->d_name);
		struct backend_held h;
		if (read_held(dir, de->d_name, &h) < 0)
			continue;
		zl_grow(out, sizeof(**out), &cap, *n + 1);
		(*out)[(*n)++] = h;
	}
	closedir(dh);
	return 0;
}

static void oci_destroy(struct backend *b)
{
	struct oci_ctx *c = ctx_of(b);
	if (!c)
		return;
	free(c->runtime);
	free(c->zlmon);
	free(c->containers);
	free(c);
	b->ctx = NULL;
}

static int oci_init(struct backend *b, struct zl_err *err)
{
	(void)err;
	struct oci_ctx *c = zl_xcalloc(1, sizeof(*c));
	c->containers = zl_xasprintf("%s/containers", b->root);
	b->ctx = c;
	return 0;
}

const struct backend_ops backend_oci_ops = {
	.name = "oci",
	.init = oci_init,
	.needs_images = oci_needs_images,
	.wants_network = oci_wants_network,
	.probe = oci_probe,
	.create = oci_create,
	.start = oci_start,
	.stop = oci_stop,
	.kill = oci_kill,
	.stop_begin = oci_stop_begin,
	.remove = oci_remove,
	.state = oci_state,
	.logs = oci_logs,
	.exec = oci_exec,
	.stats = oci_stats,
	.wait = oci_wait,
	.archive_logs = oci_archive_logs,
	.held = oci_held,
	.leftovers = oci_leftovers,
	.sweep = oci_sweep,
	.leftover_present = oci_leftover_present,
	.destroy = oci_destroy,
};
