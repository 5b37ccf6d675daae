/* zlvm-config.c: what a VM replica gets from its OCI bundle (config.json,
 * as the OCI backend writes it for a container): the process, the shares,
 * the network namespace, the limits and the cgroup; the VM's size; and the
 * zlmeta share the guest's init reads (vm-proto.h).
 *
 * A container's standard mounts (/proc, /dev, /sys, ...) are the guest's
 * own; resolv.conf is copied into zlmeta and hosts bound there (the
 * service names in it change while the replica runs); bind mounts of
 * directories become 9p shares. What a VM cannot have (bind mounts of
 * single files, other mount types, a terminal) is left out and noted, not
 * refused: the replica still runs, and vm.log says what differs. */
#include "backends/vm/zlvm-internal.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#define DEFAULT_GUEST_MEMORY (256 * MIB)
#define MIN_GUEST_MEMORY (128 * MIB)
#define QEMU_OVERHEAD (256 * MIB) /* QEMU's own memory, beyond the guest's */
#define HOST_RESERVE (256 * MIB)  /* what the host keeps for itself at least */

static void note(struct vm_config *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct vm_config *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *text = zl_xvasprintf(fmt, ap);
	va_end(ap);
	zl_buf_printf(&c->notes, "%s\n", text);
	free(text);
}

static const cJSON *item(const cJSON *obj, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(obj, key);
}

/* A non-negative integer member; def when absent. */
static int get_int(const cJSON *obj, const char *key, const char *where, int64_t def, int64_t *out,
		   struct zl_err *err)
{
	const cJSON *v = item(obj, key);
	if (!v || cJSON_IsNull(v)) {
		*out = def;
		return 0;
	}
	if (!cJSON_IsNumber(v) || v->valuedouble < -1 || v->valuedouble > 9.0e15)
		return zl_invalid(err, "config.json: %s.%s: expected a number", where, key);
	*out = (int64_t)v->valuedouble;
	return 0;
}

/* A string list without newlines (the process file is line-based before
 * its NUL-separated lists; NULs cannot be in JSON strings we keep). */
static int get_strings(const cJSON *arr, const char *what, char ***out, size_t *n,
		       struct zl_err *err)
{
	*out = NULL;
	*n = 0;
	if (!arr || cJSON_IsNull(arr))
		return 0;
	if (!cJSON_IsArray(arr))
		return zl_invalid(err, "config.json: %s: expected a list of strings", what);
	size_t count = (size_t)cJSON_GetArraySize(arr);
	char **v = zl_xcalloc(count + 1, sizeof(char *));
	size_t i = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, arr) {
		if (!cJSON_IsString(it)) {
			vm_strv_free(v);
			return zl_invalid(err, "config.json: %s[%zu]: expected a string", what, i);
		}
		v[i++] = zl_xstrdup(it->valuestring);
	}
	*out = v;
	*n = i;
	return 0;
}

static bool has_option(const cJSON *m, const char *opt)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, item(m, "options"))
		if (cJSON_IsString(it) && strcmp(it->valuestring, opt) == 0)
			return true;
	return false;
}

static bool line_safe(const char *s)
{
	return !strpbrk(s, "\n\t\r");
}

/* The mounts every container gets: the guest has its own. */
static bool standard_mount(const char *dest)
{
	static const char *const std[] = { "/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue",
					   "/sys", "/sys/fs/cgroup" };
	for (size_t i = 0; i < sizeof(std) / sizeof(std[0]); i++)
		if (strcmp(dest, std[i]) == 0)
			return true;
	return false;
}

static int load_mount(struct vm_config *c, const cJSON *m, size_t i, struct zl_err *err)
{
	const cJSON *dest = item(m, "destination"), *type = item(m, "type"), *src = item(m, "source");
	if (!cJSON_IsString(dest) || dest->valuestring[0] != '/')
		return zl_invalid(err, "config.json: mounts[%zu].destination: expected an absolute path", i);
	const char *d = dest->valuestring;
	const char *t = cJSON_IsString(type) ? type->valuestring : "";
	bool bind = strcmp(t, "bind") == 0 || has_option(m, "bind") || has_option(m, "rbind");
	if (standard_mount(d) && !bind)
		return 0;
	if (!bind) {
		if (strcmp(t, "tmpfs") == 0 && strcmp(d, "/tmp") == 0)
			return 0; /* the guest's /tmp is a tmpfs anyway */
		note(c, "mount %s (type %s) is not available in a VM: left out", d, *t ? t : "none");
		return 0;
	}
	if (!cJSON_IsString(src) || src->valuestring[0] != '/')
		return zl_invalid(err, "config.json: mounts[%zu].source: expected an absolute host path", i);
	const char *s = src->valuestring;
	struct stat sb;
	if (stat(s, &sb) < 0)
		return zl_err_set(err, ZL_ERR_INPUT, errno, "config.json: mounts[%zu]: bind source %s", i, s);
	if (strcmp(d, "/etc/resolv.conf") == 0 || strcmp(d, "/etc/hosts") == 0) {
		if (!S_ISREG(sb.st_mode))
			return zl_invalid(err, "config.json: mounts[%zu]: %s is not a file", i, s);
		char **slot = d[5] == 'r' ? &c->resolv : &c->hosts;
		free(*slot);
		*slot = zl_xstrdup(s);
		return 0;
	}
	if (strcmp(d, "/etc/hostname") == 0)
		return 0; /* the guest sets its hostname from the process file */
	if (!S_ISDIR(sb.st_mode) && !S_ISREG(sb.st_mode)) {
		note(c, "bind mount of %s at %s: neither a directory nor a file; left out", s, d);
		return 0;
	}
	if (!line_safe(d))
		return zl_invalid(err, "config.json: mounts[%zu].destination: a tab or newline in %s", i, d);
	const char *base = strrchr(d, '/') + 1;
	if (S_ISREG(sb.st_mode) && (!*base || !strcmp(base, ".") || !strcmp(base, "..")))
		return zl_invalid(err, "config.json: mounts[%zu].destination: %s names no file", i, d);
	if (c->n_shares >= ZLVM_MAX_VOLUMES)
		return zl_invalid(err, "config.json: more than %d directory mounts: a VM has a PCI device per share", ZLVM_MAX_VOLUMES);
	c->shares = zl_xrealloc(c->shares, (c->n_shares + 1) * sizeof(*c->shares));
	c->shares[c->n_shares] = (struct vm_share){
		.tag = zl_xasprintf("zlvol%zu", c->n_shares),
		.source = zl_xstrdup(s),
		.dest = zl_xstrdup(d),
		.ro = has_option(m, "ro"),
		.name = S_ISREG(sb.st_mode) ? zl_xstrdup(base) : NULL,
	};
	c->n_shares++;
	return 0;
}

static int load_process(struct vm_config *c, const cJSON *p, struct zl_err *err)
{
	if (!cJSON_IsObject(p))
		return zl_invalid(err, "config.json: process: missing");
	if (get_strings(item(p, "args"), "process.args", &c->args, &c->argc, err) < 0 ||
	    get_strings(item(p, "env"), "process.env", &c->env, &c->envc, err) < 0)
		return -1;
	if (c->argc == 0)
		return zl_invalid(err, "config.json: process.args: no command");
	if (!c->env)
		c->env = zl_xcalloc(1, sizeof(char *));
	const cJSON *cwd = item(p, "cwd");
	c->cwd = zl_xstrdup(cJSON_IsString(cwd) && cwd->valuestring[0] ? cwd->valuestring : "/");
	if (c->cwd[0] != '/' || !line_safe(c->cwd))
		return zl_invalid(err, "config.json: process.cwd: expected an absolute path on one line");
	const cJSON *user = item(p, "user");
	int64_t uid, gid;
	if (get_int(user, "uid", "process.user", 0, &uid, err) < 0 ||
	    get_int(user, "gid", "process.user", 0, &gid, err) < 0)
		return -1;
	if (uid < 0 || uid > UINT32_MAX - 1 || gid < 0 || gid > UINT32_MAX - 1)
		return zl_invalid(err, "config.json: process.user: uid/gid out of range");
	c->uid = (uint32_t)uid;
	c->gid = (uint32_t)gid;
	struct zl_buf gids = { 0 };
	zl_buf_puts(&gids, "");
	const cJSON *it;
	cJSON_ArrayForEach(it, item(user, "additionalGids")) {
		if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble > UINT32_MAX - 1) {
			zl_buf_free(&gids);
			return zl_invalid(err, "config.json: process.user.additionalGids: expected numbers");
		}
		zl_buf_printf(&gids, "%s%u", gids.len ? "," : "", (unsigned)it->valuedouble);
	}
	c->gids = zl_buf_steal(&gids);
	if (cJSON_IsTrue(item(p, "terminal")))
		note(c, "process.terminal: a VM replica has no terminal; its output goes through pipes");
	return 0;
}

static int load_linux(struct vm_config *c, const cJSON *lx, struct zl_err *err)
{
	const cJSON *ns;
	cJSON_ArrayForEach(ns, item(lx, "namespaces")) {
		const cJSON *type = item(ns, "type"), *path = item(ns, "path");
		if (!cJSON_IsString(type) || strcmp(type->valuestring, "network") != 0)
			continue;
		c->has_netns = true;
		if (cJSON_IsString(path) && path->valuestring[0]) {
			if (path->valuestring[0] != '/')
				return zl_invalid(err, "config.json: linux.namespaces: network path %s is not absolute", path->valuestring);
			free(c->netns);
			c->netns = zl_xstrdup(path->valuestring);
		}
	}
	if (!c->has_netns)
		note(c, "no network namespace in config.json (network_mode host?): a VM cannot share the host's network; it gets none");
	const cJSON *res = item(lx, "resources");
	if (get_int(item(res, "memory"), "limit", "linux.resources.memory", 0, &c->mem_limit, err) < 0 ||
	    get_int(item(res, "cpu"), "quota", "linux.resources.cpu", 0, &c->cpu_quota, err) < 0 ||
	    get_int(item(res, "cpu"), "period", "linux.resources.cpu", 100000, &c->cpu_period, err) < 0 ||
	    get_int(item(res, "cpu"), "shares", "linux.resources.cpu", 0, &c->cpu_shares, err) < 0 ||
	    get_int(item(res, "pids"), "limit", "linux.resources.pids", 0, &c->pids_limit, err) < 0)
		return -1;
	if (c->mem_limit < 0)
		c->mem_limit = 0;
	if (c->cpu_quota < 0)
		c->cpu_quota = 0;
	if (c->cpu_period <= 0)
		c->cpu_period = 100000;
	if (c->pids_limit > 0)
		note(c, "linux.resources.pids.limit %lld: not applied (it would count QEMU's threads, not the guest's processes)",
		     (long long)c->pids_limit);
	const cJSON *cg = item(lx, "cgroupsPath");
	if (cJSON_IsString(cg) && cg->valuestring[0]) {
		size_t n = strlen(cg->valuestring);
		if (cg->valuestring[0] != '/' || strstr(cg->valuestring, "/../") ||
		    (n >= 3 && strcmp(cg->valuestring + n - 3, "/..") == 0))
			return zl_invalid(err, "config.json: linux.cgroupsPath %s: expected an absolute path (systemd slices are not supported)",
					  cg->valuestring);
		c->cgroup = zl_xstrdup(cg->valuestring);
	}
	return 0;
}

int vm_config_load(const char *bundle, struct vm_config *c, struct zl_err *err)
{
	memset(c, 0, sizeof(*c));
	c->bundle = realpath(bundle, NULL);
	if (!c->bundle)
		return zl_err_set(err, ZL_ERR_INPUT, errno, "bundle %s", bundle);
	_cleanup_free_ char *path = zl_xasprintf("%s/config.json", c->bundle);
	char *text = NULL;
	size_t len = 0;
	if (zl_read_file(path, &text, &len, err) < 0)
		return -1;
	cJSON *root = cJSON_Parse(text);
	free(text);
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return zl_invalid(err, "%s: not a JSON object", path);
	}
	int ret = -1;
	const cJSON *r = item(root, "root"), *rp = item(r, "path");
	if (!cJSON_IsString(rp) || !rp->valuestring[0]) {
		zl_invalid(err, "config.json: root.path: missing");
		goto out;
	}
	c->rootfs = rp->valuestring[0] == '/' ? zl_xstrdup(rp->valuestring)
					       : zl_xasprintf("%s/%s", c->bundle, rp->valuestring);
	c->root_ro = cJSON_IsTrue(item(r, "readonly"));
	struct stat sb;
	if (stat(c->rootfs, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		zl_err_set(err, ZL_ERR_INPUT, errno ? errno : ENOTDIR, "config.json: root.path %s", c->rootfs);
		goto out;
	}
	const cJSON *hn = item(root, "hostname");
	c->hostname = zl_xstrdup(cJSON_IsString(hn) ? hn->valuestring : "");
	if (!line_safe(c->hostname)) {
		zl_invalid(err, "config.json: hostname: a tab or newline in it");
		goto out;
	}
	if (load_process(c, item(root, "process"), err) < 0 || load_linux(c, item(root, "linux"), err) < 0)
		goto out;
	const cJSON *m;
	size_t i = 0;
	cJSON_ArrayForEach(m, item(root, "mounts"))
		if (load_mount(c, m, i++, err) < 0)
			goto out;
	ret = 0;
out:
	cJSON_Delete(root);
	return ret;
}

void vm_config_free(struct vm_config *c)
{
	free(c->bundle);
	free(c->rootfs);
	vm_strv_free(c->args);
	vm_strv_free(c->env);
	free(c->cwd);
	free(c->gids);
	free(c->hostname);
	free(c->netns);
	free(c->resolv);
	free(c->hosts);
	for (size_t i = 0; i < c->n_shares; i++) {
		free(c->shares[i].tag);
		free(c->shares[i].source);
		free(c->shares[i].dest);
		free(c->shares[i].name);
		free(c->shares[i].dir);
	}
	free(c->shares);
	free(c->cgroup);
	zl_buf_free(&c->notes);
	memset(c, 0, sizeof(*c));
}

/* ---- the VM's size ---- */
int vm_size_compute(struct vm_config *c, struct vm_size *s, struct zl_err *err)
{
	int64_t total = zlvm_mem_total();
	char a[32], b[32];
	if (total > 0 && c->mem_limit > total) {
		zlvm_format_memory(c->mem_limit, a);
		zlvm_format_size(total, b);
		return zl_invalid(err, "resources.memory %s is more than this host has (MemTotal %s): lower resources.memory, or run the service as a container (isolation: container)",
				  a, b);
	}
	int64_t want = c->mem_limit > 0 ? c->mem_limit : DEFAULT_GUEST_MEMORY;
	int64_t mem = want;
	int64_t max = total > 0 ? total - HOST_RESERVE : mem;
	if (max < MIN_GUEST_MEMORY)
		max = MIN_GUEST_MEMORY;
	if (mem < MIN_GUEST_MEMORY)
		mem = MIN_GUEST_MEMORY;
	if (mem > max)
		mem = max;
	mem = mem / MIB * MIB;
	if (mem != want) {
		zlvm_format_memory(want, a);
		zlvm_format_memory(mem, b);
		note(c, "guest memory %s instead of %s (a VM gets %lld MiB to MemTotal - %lld MiB, in whole MiB)",
		     b, a, MIN_GUEST_MEMORY / MIB, HOST_RESERVE / MIB);
	}
	s->mem_mib = mem / MIB;
	s->cg_memory = mem + QEMU_OVERHEAD;

	int host = zlvm_host_cpus();
	int64_t vcpus = 1;
	if (c->cpu_quota > 0)
		vcpus = (c->cpu_quota + c->cpu_period - 1) / c->cpu_period;
	int64_t want_cpus = vcpus;
	if (vcpus > host)
		vcpus = host;
	if (vcpus < 1)
		vcpus = 1;
	if (vcpus != want_cpus)
		note(c, "%lld vCPUs instead of %lld (the host has %d)", (long long)vcpus,
		     (long long)want_cpus, host);
	s->vcpus = (int)vcpus;
	s->cg_period = c->cpu_period;
	s->cg_quota = c->cpu_quota > 0 ? vcpus * c->cpu_period : 0;
	return 0;
}

/* ---- zlmeta ---- */

/* Binds the file from onto a new empty file to. The hosts file is bound,
 * not copied: zlapply rewrites it in place when the service names change,
 * and the guest reads zlmeta over 9p with cache=none, so every lookup sees
 * the file as it is now. vm_binds_remove() undoes it. */
static int bind_file(const char *from, const char *to, struct zl_err *err)
{
	int fd = open(to, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return zl_fail_errno(err, "create %s", to);
	close(fd);
	if (mount(from, to, NULL, MS_BIND, NULL) < 0)
		return zl_fail_errno(err, "bind %s onto %s", from, to);
	return 0;
}

/* Detaches every mount on path. */
static void unbind(const char *path)
{
	while (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
		;
}
static int copy_file(const char *from, const char *to, struct zl_err *err)
{
	char *data = NULL;
	size_t len = 0;
	if (zl_read_file(from, &data, &len, err) < 0)
		return -1;
	int r = zl_write_file_atomic(to, data, len, 0644, err);
	free(data);
	return r;
}

int vm_meta_write(const struct vm_config *c, const char *dir, struct zl_err *err)
{
	if (zl_mkdir_p(dir, 0755, err) < 0)
		return -1;
	struct zl_buf p = { 0 };
	zl_buf_printf(&p, "%u\n%u\n%s\n%s\n%s\n%zu\n%zu\n", c->uid, c->gid, c->gids, c->cwd,
		      c->hostname, c->argc, c->envc);
	for (size_t i = 0; i < c->argc; i++)
		zl_buf_append(&p, c->args[i], strlen(c->args[i]) + 1);
	for (size_t i = 0; i < c->envc; i++)
		zl_buf_append(&p, c->env[i], strlen(c->env[i]) + 1);
	_cleanup_free_ char *process = zl_xasprintf("%s/%s", dir, ZLVM_PROCESS);
	int r = zl_write_file_atomic(process, p.data, p.len, 0644, err);
	zl_buf_free(&p);
	if (r < 0)
		return -1;
	struct zl_buf m = { 0 };
	zl_buf_puts(&m, "");
	for (size_t i = 0; i < c->n_shares; i++) {
		const struct vm_share *sh = &c->shares[i];
		zl_buf_printf(&m, "%s\t%s\t%s", sh->tag, sh->dest, sh->ro ? "ro" : "rw");
		if (sh->name)
			zl_buf_printf(&m, "\t%s", sh->name);
		zl_buf_puts(&m, "\n");
	}
	_cleanup_free_ char *mounts = zl_xasprintf("%s/%s", dir, ZLVM_MOUNTS);
	r = zl_write_file_atomic(mounts, m.data, m.len, 0644, err);
	zl_buf_free(&m);
	if (r < 0)
		return -1;
	_cleanup_free_ char *resolv = zl_xasprintf("%s/resolv.conf", dir);
	_cleanup_free_ char *hosts = zl_xasprintf("%s/hosts", dir);
	if (c->resolv && copy_file(c->resolv, resolv, err) < 0)
		return -1;
	if (c->hosts && bind_file(c->hosts, hosts, err) < 0)
		return zl_err_prefix(err, "zlmeta hosts");
	return 0;
}

/* ---- file volumes ----
 * QEMU's 9p shares directories only. A bind mount of one file gets a
 * directory of its own, ROOT/ID/files/TAG, holding an empty file onto which
 * the source is bind-mounted (read-only when the volume is): the guest sees
 * that one file and its writes reach the source, as in a container. */
int vm_file_shares_setup(struct vm_config *c, const char *state_dir, struct zl_err *err)
{
	for (size_t i = 0; i < c->n_shares; i++) {
		struct vm_share *sh = &c->shares[i];
		if (!sh->name)
			continue;
		sh->dir = zl_xasprintf("%s/files/%s", state_dir, sh->tag);
		if (zl_mkdir_p(sh->dir, 0755, err) < 0)
			return -1;
		_cleanup_free_ char *target = zl_xasprintf("%s/%s", sh->dir, sh->name);
		int fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0)
			return zl_fail_errno(err, "file volume %s: create %s", sh->dest, target);
		close(fd);
		if (mount(sh->source, target, NULL, MS_BIND, NULL) < 0)
			return zl_fail_errno(err, "file volume %s: bind %s", sh->dest, sh->source);
		if (sh->ro && mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
			return zl_fail_errno(err, "file volume %s: read-only %s", sh->dest, sh->source);
	}
	return 0;
}

void vm_binds_remove(const char *state_dir)
{
	_cleanup_free_ char *hosts = zl_xasprintf("%s/meta/hosts", state_dir);
	unbind(hosts);
	_cleanup_free_ char *files = zl_xasprintf("%s/files", state_dir);
	DIR *d = opendir(files);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		_cleanup_free_ char *dir = zl_xasprintf("%s/%s", files, e->d_name);
		DIR *inner = opendir(dir);
		struct dirent *f;
		while (inner && (f = readdir(inner))) {
			if (!strcmp(f->d_name, ".") || !strcmp(f->d_name, ".."))
				continue;
			_cleanup_free_ char *path = zl_xasprintf("%s/%s", dir, f->d_name);
			/* Detached: nothing of the source may go with the state dir. */
			unbind(path);
		}
		if (inner)
			closedir(inner);
	}
	closedir(d);
}
