/* wasm.c: the wasm backend. Each replica is a directory under
 * <root>/wasm/<id>/ holding the launcher's configuration (wasi.json), its
 * per-replica storage and the records of backends/supervise.h; its process
 * is the WASI engine (Node.js running zlwasi.mjs) under zlmon --exec, in a
 * cgroup of its own. The module itself stays in the content store, one
 * copy for every replica.
 *
 * Everything after the start is the shared supervision: observation reads
 * records and /proc only, logs are zlmon's JSON lines, stop sends the
 * service's signal then SIGKILL after the grace. What this file adds is
 * the exit the launcher records when the module trapped or ran into
 * wasm.max_memory: the reason zlmon cannot know ("wasm_trap: unreachable",
 * "memory_limit"). WASI preview 1 has no sockets: replicas get no address. */
#include "wasm-internal.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/monitor/monitor.h"
#include "backends/process.h"
#include "backends/supervise.h"

#define CLAIM_KIND SUPERVISE_CLAIM_KIND /* the id names a cgroup: claimed as oci's are */
#define CGROUP_FILE "cgroup"  /* the replica's cgroup path, chosen at create */
#define LIMITS_FILE "limits"  /* "MEMORY_BYTES CPU_MILLICORES PIDS" (0: none), from create */
/* The engine takes about 45 MiB before the module runs. */
#define MIN_MEMORY (64LL * 1024 * 1024)

struct wasm_ctx {
	char *replicas;      /* <root>/wasm */
	char *zlmon;
	struct wasm_engine engine; /* chosen at probe (path NULL until then) */
	char boot_id[40];
	struct zl_owner me;  /* this state root's identity (me.id "" until known) */
};

static struct wasm_ctx *ctx_of(struct backend *b)
{
	return b->ctx;
}

static char *replica_dir(struct backend *b, const char *id)
{
	return zl_xasprintf("%s/%s", ctx_of(b)->replicas, id);
}

static struct supervised supervised_of(struct backend *b, const char *id, const char *dir)
{
	struct wasm_ctx *c = ctx_of(b);
	if (!c->boot_id[0])
		supervise_boot_id(c->boot_id);
	return (struct supervised){ .id = id, .dir = dir, .boot = c->boot_id };
}

static const struct zl_owner *me_of(struct backend *b, struct zl_err *err)
{
	struct wasm_ctx *c = ctx_of(b);
	if (!c->me.id[0] && zl_owner_of_root(b->root, true, &c->me, err) < 0)
		return NULL;
	return &c->me;
}

static int claim_replica(struct backend *b, const char *id, struct zl_err *err)
{
	const struct zl_owner *me = me_of(b, err);
	return me ? supervise_claim(me, id, err) : -1;
}

static char *recorded_cgroup(const char *dir, const char *id)
{
	_cleanup_free_ char *path = zl_xasprintf("%s/" CGROUP_FILE, dir);
	char *text = NULL;
	size_t len = 0;
	if (zl_read_file(path, &text, &len, NULL) == 0 && len > 1 && text[0] == '/')
		return text;
	free(text);
	return supervise_cgroup_path(NULL, id);
}

/* The limits create recorded, for a start that finds the cgroup gone (a
 * reboot empties the cgroup file system). */
static int write_limits(const char *dir, const struct spec_resources *r, struct zl_err *err)
{
	_cleanup_free_ char *path = zl_xasprintf("%s/" LIMITS_FILE, dir);
	_cleanup_free_ char *text = zl_xasprintf("%lld %lld %lld\n", (long long)r->memory_bytes,
						 (long long)r->cpu_millicores, (long long)r->pids_limit);
	return zl_write_file_atomic(path, text, strlen(text), 0600, err);
}

static void read_limits(const char *dir, struct spec_resources *r)
{
	_cleanup_free_ char *path = zl_xasprintf("%s/" LIMITS_FILE, dir);
	char *text = NULL;
	size_t len = 0;
	long long mem = 0, cpu = 0, pids = 0;
	if (zl_read_file(path, &text, &len, NULL) == 0 &&
	    sscanf(text, "%lld %lld %lld", &mem, &cpu, &pids) != 3)
		mem = cpu = pids = 0;
	free(text);
	*r = (struct spec_resources){ .memory_bytes = mem, .cpu_millicores = cpu, .pids_limit = pids };
}

/* ---- probe ---- */
static int wasm_probe(struct backend *b, struct zl_err *err)
{
	struct wasm_ctx *c = ctx_of(b);
	if (!c->engine.path && wasm_engine_choose(b->root, b->wasm_engine, &c->engine, err) < 0)
		return -1;
	if (!c->zlmon)
		c->zlmon = supervise_find_zlmon();
	if (!c->zlmon)
		return zl_fail(err, "zlmon (the replica monitor) not found next to zlapply; set ZLMON_BIN");
	if (geteuid() != 0)
		return zl_fail(err, "the wasm backend needs root (cgroups)");
	return zl_mkdir_p(c->replicas, 0700, err);
}

static bool wasm_needs_images(struct backend *b)
{
	(void)b;
	return true;
}

/* ---- create ---- */
static int wasm_remove(struct backend *b, const char *id, struct zl_err *err);

static int check_spec(const struct backend_replica_spec *rs, struct zl_err *err)
{
	const struct spec_service *svc = rs->service;
	if (!rs->module_path)
		return zl_invalid(err, "service %s: its image %s is not WebAssembly (the wasm backend runs WASI modules)",
				  svc->name, svc->image);
	enum wasm_module_kind kind;
	if (wasm_module_inspect(rs->module_path, &kind, err) < 0)
		return zl_err_prefix(err, "service %s", svc->name);
	if (kind == WASM_KIND_COMPONENT)
		return zl_invalid(err, "service %s: the image is a WASI preview 2 component; Node.js's node:wasi runs preview 1 modules only: run it with wasmtime (`wasmtime run`), or build the program for wasm32-wasi (preview 1)",
				  svc->name);
	if (svc->resources.memory_bytes > 0 && svc->resources.memory_bytes < MIN_MEMORY)
		return zl_invalid(err, "service %s: resources.memory must be at least 64Mi for a WASM replica: the engine (Node.js) takes about 45 MiB of its own; cap the module with wasm.max_memory",
				  svc->name);
	return 0;
}

static int wasm_create(struct backend *b, const struct backend_replica_spec *rs, struct zl_err *err)
{
	const char *id = rs->backend_id;
	if (backend_check_id(id, err) < 0 || check_spec(rs, err) < 0)
		return -1;
	_cleanup_free_ char *dir = replica_dir(b, id);
	if (access(dir, F_OK) == 0)
		return zl_fail(err, "replica %s already exists", id);
	if (claim_replica(b, id, err) < 0)
		return -1;
	int ret = -1;
	_cleanup_free_ char *volumes = zl_xasprintf("%s/volumes/%s", b->root, rs->deployment);
	_cleanup_free_ char *cgroup = supervise_cgroup_path(rs->service, id);
	_cleanup_free_ char *cgroup_record = zl_xasprintf("%s/" CGROUP_FILE, dir);
	struct supervised sv = supervised_of(b, id, dir);
	struct wasm_launch_input in = { .rs = rs, .dir = dir, .volumes_dir = volumes };
	char **procs = NULL;
	size_t n_procs = 0;
	if (zl_mkdir_p(dir, 0700, err) < 0 ||
	    zl_write_file_atomic(cgroup_record, cgroup, strlen(cgroup), 0600, err) < 0 ||
	    write_limits(dir, &rs->service->resources, err) < 0 ||
	    wasm_launch_write(&in, err) < 0 ||
	    wasm_cgroup_create(cgroup, &rs->service->resources, &procs, &n_procs, err) < 0 ||
	    supervise_write_replica(&sv, rs, err) < 0 ||
	    supervise_write_stop(&sv, proc_stop_signal(rs->service, rs->image_config),
				 rs->service->stop_grace_ms, err) < 0 ||
	    supervise_sync_records(&sv, NULL, err) < 0)
		goto out;
	ret = 0;
out:
	wasm_cgroup_procs_free(procs, n_procs);
	if (ret < 0) {
		/* Nothing half-made stays behind. */
		struct zl_err ignored = ZL_ERR_INIT;
		wasm_remove(b, id, &ignored);
	}
	return ret;
}

/* ---- start ---- */
static int wasm_start(struct backend *b, const char *id, struct zl_err *err)
{
	struct wasm_ctx *c = ctx_of(b);
	if (backend_check_id(id, err) < 0)
		return -1;
	if (!c->engine.path && wasm_probe(b, err) < 0)
		return -1;
	_cleanup_free_ char *dir = replica_dir(b, id);
	if (access(dir, F_OK) < 0)
		return zl_fail(err, "no such replica %s", id);
	struct supervised sv = supervised_of(b, id, dir);
	supervise_prepare_start(&sv);
	/* Claims end with the boot: a start after a reboot claims again. */
	if (claim_replica(b, id, err) < 0)
		return -1;
	_cleanup_free_ char *cgroup = recorded_cgroup(dir, id);
	char **procs = NULL;
	size_t n_procs = 0;
	zl_cgroup_procs_files(cgroup, &procs, &n_procs);
	if (n_procs == 0) {
		/* Gone with a reboot (or never made): again, with its limits. */
		struct spec_resources limits;
		read_limits(dir, &limits);
		if (wasm_cgroup_create(cgroup, &limits, &procs, &n_procs, err) < 0)
			return zl_err_prefix(err, "replica %s", id);
	}
	_cleanup_free_ char *config = zl_xasprintf("%s/" WASM_LAUNCH_FILE, dir);
	const char *args[24];
	size_t n = 0;
	args[n++] = "--exec";
	args[n++] = "--id";
	args[n++] = id;
	args[n++] = "--dir";
	args[n++] = dir;
	args[n++] = "--cgroup";
	args[n++] = cgroup;
	for (size_t i = 0; i < n_procs && i < 4; i++) {
		args[n++] = "--join";
		args[n++] = procs[i];
	}
	args[n++] = c->engine.path;
	args[n++] = "--no-warnings";
	if (c->engine.flag)
		args[n++] = c->engine.flag;
	args[n++] = c->engine.launcher;
	args[n++] = config;
	args[n] = NULL;
	int r = supervise_start(&sv, c->zlmon, args, err);
	wasm_cgroup_procs_free(procs, n_procs);
	return r;
}

/* ---- observe ---- */
static int wasm_state(struct backend *b, const char *id, struct backend_state *st,
		      struct zl_err *err)
{
	if (backend_check_id(id, err) < 0)
		return -1;
	_cleanup_free_ char *dir = replica_dir(b, id);
	struct supervised sv = supervised_of(b, id, dir);
	return supervise_observe(&sv, st);
}

/* ---- stop, kill, wait, logs, stats ---- */
#define WITH_SUPERVISED(b, id, err, call)                                  \
	do {                                                                \
		if (backend_check_id(id, err) < 0)                                  \
			return -1;                                          \
		_cleanup_free_ char *dir_ = replica_dir(b, id);             \
		struct supervised sv = supervised_of(b, id, dir_);          \
		return call;                                                \
	} while (0)

static int wasm_kill(struct backend *b, const char *id, int signo, struct zl_err *err)
{
	WITH_SUPERVISED(b, id, err, supervise_signal(&sv, signo, err));
}

static int wasm_stop_begin(struct backend *b, const char *id, int signo, struct zl_err *err)
{
	WITH_SUPERVISED(b, id, err, supervise_stop_begin(&sv, signo, err));
}

static int wasm_stop(struct backend *b, const char *id, int signo, int64_t timeout_ms,
		     struct zl_err *err)
{
	WITH_SUPERVISED(b, id, err, supervise_stop(&sv, signo, timeout_ms, err));
}

static int wasm_wait(struct backend *b, const char *id, int64_t timeout_ms, struct zl_err *err)
{
	WITH_SUPERVISED(b, id, err, supervise_wait(&sv, timeout_ms, err));
}

static int wasm_logs(struct backend *b, const char *id, const struct backend_log_opts *o,
		     FILE *out, struct zl_err *err)
{
	WITH_SUPERVISED(b, id, err, supervise_logs(&sv, o, out, err));
}

static int wasm_archive_logs(struct backend *b, const char *id, const char *dest_path,
			     struct zl_err *err)
{
	WITH_SUPERVISED(b, id, err, supervise_archive_logs(&sv, dest_path, err));
}

static int wasm_stats(struct backend *b, const char *id, struct backend_stats *st,
		      struct zl_err *err)
{
	if (backend_check_id(id, err) < 0)
		return -1;
	_cleanup_free_ char *dir = replica_dir(b, id);
	_cleanup_free_ char *cgroup = recorded_cgroup(dir, id);
	supervise_cgroup_stats(cgroup, st);
	return 0;
}

static int wasm_exec(struct backend *b, const char *id, char *const argv[], int *exit_code,
		     struct zl_err *err)
{
	(void)b;
	(void)argv;
	*exit_code = 126;
	return zl_fail(err, "exec: %s is a WASM replica: a module has no processes or shell to run a command in",
		       id);
}

/* ---- remove ---- */
static int wasm_remove(struct backend *b, const char *id, struct zl_err *err)
{
	if (backend_check_id(id, err) < 0)
		return -1;
	struct zl_err ignored = ZL_ERR_INIT;
	const struct zl_owner *me = me_of(b, &ignored);
	_cleanup_free_ char *dir = replica_dir(b, id);
	if (access(dir, F_OK) < 0) {
		/* Nothing was made (a create that failed right after claiming). */
		if (me)
			(void)zl_claim_release(CLAIM_KIND, id, me);
		return 0;
	}
	struct supervised sv = supervised_of(b, id, dir);
	struct backend_state st;
	supervise_observe(&sv, &st);
	if (st.status == BACKEND_STATUS_RUNNING)
		supervise_stop(&sv, SIGKILL, 0, &ignored);
	supervise_settle(&sv, st.status == BACKEND_STATUS_CREATED);
	/* The cgroup goes by the name: only while the name is this root's. */
	bool ours = me && zl_claim_is_ours(CLAIM_KIND, id, me) != 0;
	if (ours) {
		_cleanup_free_ char *cgroup = recorded_cgroup(dir, id);
		zl_cgroup_remove(cgroup);
	} else {
		zl_log(ZL_LOG_WARN, "remove %s: another state root holds the name now; its cgroup is left alone", id);
	}
	if (zl_rm_rf(dir, err) < 0)
		return zl_err_prefix(err, "remove replica %s", id);
	if (ours && zl_claim_release(CLAIM_KIND, id, me) < 0)
		zl_log(ZL_LOG_WARN, "remove %s: release its claim: %s", id, strerror(errno));
	return 0;
}

/* ---- adoption and leftovers ---- */
static int wasm_held(struct backend *b, backend_known_fn known, void *ctx, struct backend_held **out,
		     size_t *n, struct zl_err *err)
{
	struct wasm_ctx *c = ctx_of(b);
	if (!c->boot_id[0])
		supervise_boot_id(c->boot_id);
	return supervise_held(c->replicas, c->boot_id, known, ctx, NULL, NULL, out, n, err);
}

static bool recorded(const struct backend_replica_ref *refs, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (refs[i].recorded && strcmp(refs[i].backend_id, id) == 0)
			return true;
	return false;
}

static int wasm_leftovers(struct backend *b, const struct backend_replica_ref *refs, size_t n_refs,
			  struct backend_leftovers *out, struct zl_err *err)
{
	if (backend_root_check(b->root, err) < 0)
		return -1;
	struct wasm_ctx *c = ctx_of(b);
	DIR *dh = opendir(c->replicas);
	if (!dh)
		return errno == ENOENT ? 0 : zl_fail_errno(err, "open %s", c->replicas);
	struct dirent *de;
	while ((de = readdir(dh))) {
		struct zl_err ignored = ZL_ERR_INIT;
		if (de->d_name[0] == '.' || backend_check_id(de->d_name, &ignored) < 0 ||
		    recorded(refs, n_refs, de->d_name))
			continue;
		_cleanup_free_ char *dir = replica_dir(b, de->d_name);
		backend_leftovers_add(out, "dir", dir, de->d_name,
				      "a WASM replica's directory (with its monitor and cgroup) that no recorded replica owns");
	}
	closedir(dh);
	return 0;
}

static int wasm_sweep(struct backend *b, const struct backend_leftover *l, struct zl_err *err)
{
	if (backend_root_check(b->root, err) < 0)
		return -1;
	return wasm_remove(b, l->key, err);
}

static bool wasm_leftover_present(struct backend *b, const struct backend_leftover *l)
{
	_cleanup_free_ char *dir = replica_dir(b, l->key);
	return access(dir, F_OK) == 0;
}

/* ---- lifetime ---- */
static int wasm_init(struct backend *b, struct zl_err *err)
{
	(void)err;
	struct wasm_ctx *c = zl_xcalloc(1, sizeof(*c));
	c->replicas = zl_xasprintf("%s/wasm", b->root);
	b->ctx = c;
	return 0;
}

static void wasm_destroy(struct backend *b)
{
	struct wasm_ctx *c = ctx_of(b);
	if (!c)
		return;
	wasm_engine_clear(&c->engine);
	free(c->zlmon);
	free(c->replicas);
	free(c);
	b->ctx = NULL;
}

const struct backend_ops backend_wasm_ops = {
	.name = "wasm",
	.init = wasm_init,
	.needs_images = wasm_needs_images,
	.probe = wasm_probe,
	.create = wasm_create,
	.start = wasm_start,
	.stop = wasm_stop,
	.kill = wasm_kill,
	.stop_begin = wasm_stop_begin,
	.remove = wasm_remove,
	.state = wasm_state,
	.logs = wasm_logs,
	.exec = wasm_exec,
	.stats = wasm_stats,
	.wait = wasm_wait,
	.archive_logs = wasm_archive_logs,
	.held = wasm_held,
	.leftovers = wasm_leftovers,
	.sweep = wasm_sweep,
	.leftover_present = wasm_leftover_present,
	.destroy = wasm_destroy,
};
