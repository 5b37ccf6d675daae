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
#include "backends/supervise.h"
#include "net/net.h"


struct oci_ctx {
	bool bridge_ready;  /* net_bridge_ensure done in this run */
	char *runtime;      /* chosen at probe */
	char *zlmon;        /* path of the monitor binary */
	char *containers;   /* <root>/containers */
	char boot_id[40];   /* this boot's id, read once ("" until then) */
	struct zl_owner me; /* this state root's identity (me.id "" until known) */
};

static struct oci_ctx *ctx_of(struct backend *b)
{
	return b->ctx;
}

/* The replica id's process under zlmon (backends/supervise.h). */
static struct supervised supervised_of(struct backend *b, const char *id, const char *dir)
{
	struct oci_ctx *c = ctx_of(b);
	if (!c->boot_id[0])
		supervise_boot_id(c->boot_id);
	return (struct supervised){ .id = id, .dir = dir, .boot = c->boot_id };
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
#define CLAIM_KIND SUPERVISE_CLAIM_KIND

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
	return me ? supervise_claim(me, id, err) : -1;
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
#define RUNTIME_FILE "runtime" /* the runtime create chose: start, exec and delete use it */

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
	return supervise_cgroup_path(NULL, id);
}

/* The runtime create recorded for the replica in dir (a VM replica's is
 * zlvm, a container's crun or runc, whatever --runtime says today); this
 * instance's own for replicas made before the record existed. NULL when
 * neither is known. Caller frees. */
static char *replica_runtime(struct backend *b, const char *dir)
{
	_cleanup_free_ char *path = zl_xasprintf("%s/" RUNTIME_FILE, dir);
	char *text = NULL;
	size_t len = 0;
	if (zl_read_file(path, &text, &len, NULL) == 0 && len > 1 && text[0] == '/') {
		text[strcspn(text, "\n")] = '\0';
		return text;
	}
	free(text);
	struct oci_ctx *c = ctx_of(b);
	return c->runtime ? zl_xstrdup(c->runtime) : NULL;
}

static int oci_probe(struct backend *b, struct zl_err *err)
{
	struct oci_ctx *c = ctx_of(b);
	if (!c->runtime && oci_runtime_choose(b->root, b->runtime, &c->runtime, err) < 0)
		return -1;
	if (!c->zlmon)
		c->zlmon = supervise_find_zlmon();
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
	_cleanup_free_ char *cgroup = supervise_cgroup_path(rs->service, rs->backend_id);
	_cleanup_free_ char *cgroup_record = zl_xasprintf("%s/%s", dir, CGROUP_FILE);
	if (zl_write_file_atomic_nosync(cgroup_record, cgroup, strlen(cgroup), 0600, err) < 0)
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
	int r = zl_write_file_atomic_nosync(config_path, config, strlen(config), 0600, err);
	free(config);
	return r;
}

static int oci_create(struct backend *b, const struct backend_replica_spec *rs, struct zl_err *err)
{
	const char *id = rs->backend_id;
	if (backend_check_id(id, err) < 0)
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
	/* The directory's parents exist (probe made containers/): its
	 * subdirectories are one mkdir each, not a walk from / each. */
	if (zl_mkdir_p(dir, 0700, err) < 0)
		goto out;
	const char *subdirs[] = { "upper", "work", "rootfs", "anon" };
	for (size_t i = 0; i < 4; i++) {
		_cleanup_free_ char *p = zl_xasprintf("%s/%s", dir, subdirs[i]);
		if (mkdir(p, 0700) < 0 && errno != EEXIST) {
			zl_fail_errno(err, "mkdir %s", p);
			goto out;
		}
	}
	if (oci_rootfs_mount(dir, rs, err) < 0 || write_config(b, dir, rs, err) < 0)
		goto out;
	{
		const char *runtime = ctx_of(b)->runtime;
		_cleanup_free_ char *path = zl_xasprintf("%s/" RUNTIME_FILE, dir);
		if (runtime && zl_write_file_atomic_nosync(path, runtime, strlen(runtime), 0600, err) < 0)
			goto out;
	}
	{
		/* Who this is, for adoption by a database that lost it; the stop
		 * settings, so a replica whose service left the spec still stops
		 * the way its spec asked. */
		struct supervised sv = supervised_of(b, id, dir);
		const struct spec_service *svc = rs->service;
		if (supervise_write_replica(&sv, rs, err) < 0 ||
		    supervise_write_stop(&sv, proc_stop_signal(svc, rs->image_config), svc->stop_grace_ms,
					 err) < 0)
			goto out;
		/* A start after a power loss mounts, networks and runs the replica
		 * from these records: one barrier makes them all durable, where an
		 * fsync each cost a journal commit each. */
		const char *records[] = { OCI_ROOTFS_MOUNT_FILE, OCI_NETWORK_FILE, CGROUP_FILE,
					  "config.json", RUNTIME_FILE, NULL };
		if (supervise_sync_records(&sv, records, err) < 0)
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
static int oci_start(struct backend *b, const char *id, struct zl_err *err)
{
	if (backend_check_id(id, err) < 0)
		return -1;
	_cleanup_free_ char *dir = container_dir(b, id);
	if (access(dir, F_OK) < 0)
		return zl_fail(err, "no such container %s", id);
	struct supervised sv = supervised_of(b, id, dir);
	supervise_prepare_start(&sv);
	/* Claims end with the boot: a start after a reboot claims again. */
	if (claim_replica(b, id, err) < 0)
		return -1;
	if (oci_rootfs_restore(dir, err) < 0 ||
	    oci_net_restore(&ctx_of(b)->bridge_ready, dir, err) < 0)
		return zl_err_prefix(err, "container %s", id);
	struct oci_ctx *c = ctx_of(b);
	_cleanup_free_ char *cgroup = oci_container_cgroup(b, id);
	_cleanup_free_ char *runtime = replica_runtime(b, dir);
	if (!runtime)
		return zl_fail(err, "container %s: no OCI runtime chosen", id);
	const char *args[] = { "--id", id, "--bundle", dir, "--runtime", runtime,
			       "--dir", dir, "--cgroup", cgroup, NULL };
	return supervise_start(&sv, c->zlmon, args, err);
}

/* ---- observe ---- */
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
	if (backend_check_id(id, err) < 0)
		return -1;
	_cleanup_free_ char *dir = container_dir(b, id);
	struct supervised sv = supervised_of(b, id, dir);
	supervise_observe(&sv, st);
	if (st->status == BACKEND_STATUS_MISSING)
		return 0;
	struct oci_net_record local, *net = net_out ? net_out : &local;
	if (oci_net_read(dir, net) == 0) {
		snprintf(st->ip, sizeof(st->ip), "%s", net->ip);
		snprintf(st->netns, sizeof(st->netns), "%s", net->netns);
	}
	return 0;
}

/* ---- stop, kill, wait ---- */
static int oci_kill(struct backend *b, const char *id, int signo, struct zl_err *err)
{
	if (backend_check_id(id, err) < 0)
		return -1;
	_cleanup_free_ char *dir = container_dir(b, id);
	struct supervised sv = supervised_of(b, id, dir);
	return supervise_signal(&sv, signo, err);
}

static int oci_stop_begin(struct backend *b, const char *id, int signo, struct zl_err *err)
{
	if (backend_check_id(id, err) < 0)
		return -1;
	_cleanup_free_ char *dir = container_dir(b, id);
	struct supervised sv = supervised_of(b, id, dir);
	return supervise_stop_begin(&sv, signo, err);
}

static int oci_stop(struct backend *b, const char *id, int signo, int64_t timeout_ms,
		    struct zl_err *err)
{
	if (backend_check_id(id, err) < 0)
		return -1;
	_cleanup_free_ char *dir = container_dir(b, id);
	struct supervised sv = supervised_of(b, id, dir);
	return supervise_stop(&sv, signo, timeout_ms, err);
}

static int oci_wait(struct backend *b, const char *id, int64_t timeout_ms, struct zl_err *err)
{
	if (backend_check_id(id, err) < 0)
		return -1;
	_cleanup_free_ char *dir = container_dir(b, id);
	struct supervised sv = supervised_of(b, id, dir);
	return supervise_wait(&sv, timeout_ms, err);
}

/* ---- remove ---- */
static int oci_remove(struct backend *b, const char *id, struct zl_err *err)
{
	if (backend_check_id(id, err) < 0)
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
	struct supervised sv = supervised_of(b, id, dir);
	supervise_settle(&sv, observed && st.status == BACKEND_STATUS_CREATED);
	bool ours = replica_is_ours(b, id);
	if (!ours)
		zl_log(ZL_LOG_WARN, "remove %s: another state root holds the name now; its container and network are left alone",
		       id);
	_cleanup_free_ char *runtime = replica_runtime(b, dir);
	if (ours && runtime) {
		/* zlmon deletes the runtime's record after the exit; this covers
		 * a monitor that died first. Failure means there was none. */
		const char *argv[] = { runtime, "delete", "--force", id, NULL };
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
	if (backend_check_id(id, err) < 0)
		return -1;
	_cleanup_free_ char *dir = container_dir(b, id);
	struct supervised sv = supervised_of(b, id, dir);
	return supervise_logs(&sv, o, out, err);
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
	char proc_root[64], proc_mnt[64];
	snprintf(proc_root, sizeof(proc_root), "/proc/%lld/root", (long long)pid);
	snprintf(proc_mnt, sizeof(proc_mnt), "/proc/%lld/ns/mnt", (long long)pid);
	/* A process in our own mount namespace is no container's init but a
	 * runtime's stand-in (a VM replica's zlvm): its files are the
	 * bundle's rootfs, not its root. */
	struct stat theirs, ours;
	_cleanup_free_ char *rootfs = zl_xasprintf("%s/rootfs", dir);
	bool same_ns = stat(proc_mnt, &theirs) == 0 && stat("/proc/self/ns/mnt", &ours) == 0 &&
		       theirs.st_ino == ours.st_ino && theirs.st_dev == ours.st_dev;
	_cleanup_close_ int root_fd = open(same_ns ? rootfs : proc_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
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
	_cleanup_free_ char *runtime = replica_runtime(b, dir);
	if (!runtime)
		return zl_fail(err, "container %s: no OCI runtime chosen", id);
	full[0] = runtime;
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

static int oci_stats(struct backend *b, const char *id, struct backend_stats *st, struct zl_err *err)
{
	if (backend_check_id(id, err) < 0)
		return -1;
	_cleanup_free_ char *cgroup = oci_container_cgroup(b, id);
	supervise_cgroup_stats(cgroup, st);
	return 0;
}

static int oci_archive_logs(struct backend *b, const char *id, const char *dest_path,
			    struct zl_err *err)
{
	if (backend_check_id(id, err) < 0)
		return -1;
	_cleanup_free_ char *dir = container_dir(b, id);
	struct supervised sv = supervised_of(b, id, dir);
	return supervise_archive_logs(&sv, dest_path, err);
}

/* ---- inspect ---- */

/* Copies key of from (when there) into to. */
static void copy_item(cJSON *to, const cJSON *from, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(from, key);
	if (v)
		cJSON_AddItemToObject(to, key, cJSON_Duplicate(v, true));
}

/* The process of config.json: argv, cwd, user, terminal, the names of its
 * environment variables (values may be secrets), capabilities counted. */
static cJSON *process_summary(const cJSON *proc)
{
	cJSON *p = cJSON_CreateObject();
	copy_item(p, proc, "args");
	copy_item(p, proc, "cwd");
	copy_item(p, proc, "user");
	copy_item(p, proc, "terminal");
	copy_item(p, proc, "noNewPrivileges");
	cJSON *names = cJSON_AddArrayToObject(p, "env_names");
	const cJSON *e;
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(proc, "env"))
		if (cJSON_IsString(e)) {
			_cleanup_free_ char *name = zl_xstrndup(e->valuestring, strcspn(e->valuestring, "="));
			cJSON_AddItemToArray(names, cJSON_CreateString(name));
		}
	copy_item(p, proc, "capabilities");
	return p;
}

static int oci_inspect(struct backend *b, const char *id, char **json, struct zl_err *err)
{
	*json = NULL;
	if (backend_check_id(id, err) < 0)
		return -1;
	_cleanup_free_ char *dir = container_dir(b, id);
	_cleanup_free_ char *path = zl_xasprintf("%s/config.json", dir);
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	if (zl_read_file(path, &text, &len, err) < 0)
		return zl_err_prefix(err, "inspect %s", id);
	cJSON *config = cJSON_Parse(text);
	if (!config)
		return zl_fail(err, "inspect %s: %s is not JSON", id, path);
	cJSON *out = cJSON_CreateObject();
	_cleanup_free_ char *runtime = replica_runtime(b, dir);
	_cleanup_free_ char *cgroup = oci_container_cgroup(b, id);
	cJSON_AddItemToObject(out, "runtime", runtime ? cJSON_CreateString(runtime) : cJSON_CreateNull());
	cJSON_AddStringToObject(out, "bundle", dir);
	cJSON_AddStringToObject(out, "cgroup", cgroup);
	copy_item(out, config, "ociVersion");
	copy_item(out, config, "hostname");
	copy_item(out, config, "root");
	cJSON_AddItemToObject(out, "process",
			      process_summary(cJSON_GetObjectItemCaseSensitive(config, "process")));
	copy_item(out, config, "mounts");
	const cJSON *linux_ = cJSON_GetObjectItemCaseSensitive(config, "linux");
	copy_item(out, linux_, "namespaces");
	copy_item(out, linux_, "resources");
	copy_item(out, linux_, "readonlyPaths");
	cJSON_Delete(config);
	*json = cJSON_PrintUnformatted(out);
	cJSON_Delete(out);
	return 0;
}

/* ---- service names ---- */

static int oci_set_names(struct backend *b, const char *id, const char *names, struct zl_err *err)
{
	if (backend_check_id(id, err) < 0)
		return -1;
	_cleanup_free_ char *dir = container_dir(b, id);
	_cleanup_free_ char *hosts = zl_xasprintf("%s/hosts", dir);
	struct zl_err e = ZL_ERR_INIT;
	if (net_hosts_set_names(hosts, names, NULL, &e) == 0)
		return 0;
	if (e.sys_errno == ENOENT)
		return 0; /* no bridge network, or not made yet: create writes them */
	*err = e;
	return -1;
}

/* ---- adoption ---- */

/* What <dir>/replica says of the replica (the network record names
 * deployment, service and index of replicas made before it existed). */
static int read_held(void *ctx, const struct supervised *s, struct backend_held *h)
{
	(void)ctx;
	if (supervise_read_replica(s, h) == 0)
		return 0;
	struct oci_net_record rec;
	if (oci_net_read(s->dir, &rec) == 0) {
		*h = (struct backend_held){ .backend_id = zl_xstrdup(s->id),
					    .deployment = zl_xstrdup(rec.deployment),
					    .service = zl_xstrdup(rec.service),
					    .index = rec.index };
		return 0;
	}
	return -1; /* nothing says whose it is: doctor's to judge */
}

static int oci_held(struct backend *b, backend_known_fn known, void *ctx, struct backend_held **out,
		    size_t *n, struct zl_err *err)
{
	struct oci_ctx *c = ctx_of(b);
	if (!c->boot_id[0])
		supervise_boot_id(c->boot_id);
	return supervise_held(c->containers, c->boot_id, known, ctx, read_held, NULL, out, n, err);
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
	.inspect = oci_inspect,
	.wait = oci_wait,
	.archive_logs = oci_archive_logs,
	.held = oci_held,
	.leftovers = oci_leftovers,
	.sweep = oci_sweep,
	.leftover_present = oci_leftover_present,
	.set_names = oci_set_names,
	.destroy = oci_destroy,
};
