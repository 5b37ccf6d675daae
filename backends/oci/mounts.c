/* mounts.c: a replica's mounts: the standard ones (/proc, /dev, /sys, ...),
 * the spec's storage (bind, named, anonymous and tmpfs volumes) and the
 * network files zlapply writes (resolv.conf, hosts). */
#include "bundle-internal.h"

#include <errno.h>
#include <string.h>
#include <ctype.h>
#include <sys/stat.h>

/* ---- mounts ---- */

static void add_mount(cJSON *mounts, const char *dest, const char *type, const char *source,
		      const char *const *opts)
{
	cJSON *m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "destination", dest);
	cJSON_AddStringToObject(m, "type", type);
	cJSON_AddStringToObject(m, "source", source);
	cJSON *o = cJSON_AddArrayToObject(m, "options");
	for (; opts && *opts; opts++)
		cJSON_AddItemToArray(o, cJSON_CreateString(*opts));
	cJSON_AddItemToArray(mounts, m);
}

static void add_bind(cJSON *mounts, const char *dest, const char *source, bool readonly)
{
	const char *opts[] = { "rbind", "rprivate", readonly ? "ro" : NULL, NULL };
	add_mount(mounts, dest, "bind", source, opts);
}

/* The mounts every container gets (runc's and Docker's defaults). */
static void standard_mounts(cJSON *mounts, bool privileged)
{
	static const char *const dev[] = { "nosuid", "strictatime", "mode=755", "size=65536k", NULL };
	static const char *const pts[] = { "nosuid", "noexec", "newinstance", "ptmxmode=0666",
					   "mode=0620", "gid=5", NULL };
	static const char *const shm[] = { "nosuid", "noexec", "nodev", "mode=1777", "size=65536k", NULL };
	static const char *const mqueue[] = { "nosuid", "noexec", "nodev", NULL };
	static const char *const sys_ro[] = { "nosuid", "noexec", "nodev", "ro", NULL };
	static const char *const sys_rw[] = { "nosuid", "noexec", "nodev", "rw", NULL };
	static const char *const cg_ro[] = { "nosuid", "noexec", "nodev", "relatime", "ro", NULL };
	static const char *const cg_rw[] = { "nosuid", "noexec", "nodev", "relatime", "rw", NULL };
	add_mount(mounts, "/proc", "proc", "proc", NULL);
	add_mount(mounts, "/dev", "tmpfs", "tmpfs", dev);
	add_mount(mounts, "/dev/pts", "devpts", "devpts", pts);
	add_mount(mounts, "/dev/shm", "tmpfs", "shm", shm);
	add_mount(mounts, "/dev/mqueue", "mqueue", "mqueue", mqueue);
	add_mount(mounts, "/sys", "sysfs", "sysfs", privileged ? sys_rw : sys_ro);
	add_mount(mounts, "/sys/fs/cgroup", "cgroup", "cgroup", privileged ? cg_rw : cg_ro);
}

static bool volume_name_ok(const char *name)
{
	if (!isalnum((unsigned char)name[0]) || strlen(name) > 128)
		return false;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("_.-", *p))
			return false;
	return true;
}


/* One directory name per target, distinct for distinct targets: '/' becomes
 * '_', characters outside [A-Za-z0-9.-] become %XX ("/var/my_db" ->
 * "var_my%5Fdb"); repeated and trailing slashes do not count. */
static char *anon_name(const char *target)
{
	struct zl_buf b = { 0 };
	for (const char *p = target; *p; p++) {
		if (*p == '/') {
			if (b.len && p[1] && p[1] != '/')
				zl_buf_puts(&b, "_");
		} else if (isalnum((unsigned char)*p) || *p == '.' || *p == '-') {
			zl_buf_append(&b, p, 1);
		} else {
			zl_buf_printf(&b, "%%%02X", (unsigned char)*p);
		}
	}
	return zl_buf_steal(&b);
}

static size_t path_depth(const char *p)
{
	size_t n = 0;
	for (; *p; p++)
		if (*p == '/' && p[1] && p[1] != '/')
			n++;
	return n;
}

static int storage_mount(cJSON *mounts, const struct oci_bundle_input *in, size_t i,
			 struct zl_err *err)
{
	const struct spec_service *svc = in->rs->service;
	const struct spec_storage *st = &svc->storage[i];
	if (!spec_container_path_ok(st->target)) /* spec/validate.c: also no "." or "..", which would let an anonymous volume leave anon_dir */
		return zl_invalid(err, "storage[%zu].target: expected an absolute path without . or .. components, got \"%s\"",
				  i, st->target ? st->target : "");
	switch (st->type) {
	case SPEC_STORAGE_BIND: {
		if (!st->source || st->source[0] != '/')
			return zl_invalid(err, "storage[%zu].source: expected an absolute host path, got \"%s\"",
					  i, st->source ? st->source : "");
		struct stat sb;
		if (stat(st->source, &sb) < 0) {
			if (errno == ENOENT)
				return zl_invalid(err, "storage[%zu]: bind source %s does not exist", i, st->source);
			return zl_err_set(err, ZL_ERR_INPUT, errno, "storage[%zu]: bind source %s", i, st->source);
		}
		add_bind(mounts, st->target, st->source, st->readonly);
		return 0;
	}
	case SPEC_STORAGE_NAMED: {
		if (!st->name || !volume_name_ok(st->name))
			return zl_invalid(err, "storage[%zu].name: expected a volume name of [A-Za-z0-9_.-], got \"%s\"",
					  i, st->name ? st->name : "");
		if (!in->volumes_dir)
			return zl_fail(err, "storage[%zu]: no volumes directory for named volume %s", i, st->name);
		_cleanup_free_ char *dir = zl_xasprintf("%s/%s", in->volumes_dir, st->name);
		_cleanup_free_ char *what = zl_xasprintf("storage[%zu]: named volume %s", i, st->name);
		if (oci_volume_populate(in->rootfs, st->target, dir, what, !st->nocopy, err) < 0)
			return -1;
		add_bind(mounts, st->target, dir, st->readonly);
		return 0;
	}
	case SPEC_STORAGE_ANONYMOUS: {
		if (!in->anon_dir)
			return zl_fail(err, "storage[%zu]: no directory for anonymous volumes", i);
		_cleanup_free_ char *name = anon_name(st->target);
		_cleanup_free_ char *dir = zl_xasprintf("%s/%s", in->anon_dir, name);
		_cleanup_free_ char *what = zl_xasprintf("storage[%zu]: anonymous volume %s", i, st->target);
		if (oci_volume_populate(in->rootfs, st->target, dir, what, !st->nocopy, err) < 0)
			return -1;
		add_bind(mounts, st->target, dir, st->readonly);
		return 0;
	}
	case SPEC_STORAGE_TMPFS: {
		char size[40] = "", mode[24] = "";
		if (st->size_bytes < 0)
			return zl_invalid(err, "storage[%zu].size: must be positive", i);
		if (st->size_bytes > 0)
			snprintf(size, sizeof(size), "size=%" PRId64 "k", (st->size_bytes + 1023) / 1024);
		if (st->mode > 07777)
			return zl_invalid(err, "storage[%zu].mode: 0%o is not a file mode", i, (unsigned)st->mode);
		if (st->mode >= 0)
			snprintf(mode, sizeof(mode), "mode=0%o", (unsigned)st->mode);
		const char *opts[5] = { "nosuid", "nodev" };
		size_t n = 2;
		if (*size)
			opts[n++] = size;
		if (*mode)
			opts[n++] = mode;
		add_mount(mounts, st->target, "tmpfs", "tmpfs", opts);
		return 0;
	}
	case SPEC_STORAGE_S3:
		return zl_invalid(err, "storage[%zu]: storage type s3 is not supported on this host", i);
	}
	return zl_fail(err, "storage[%zu]: unknown storage type %d", i, (int)st->type);
}

int oci_mounts_json(const struct oci_bundle_input *in, cJSON *mounts, struct zl_err *err)
{
	const struct spec_service *svc = in->rs->service;
	standard_mounts(mounts, svc->privileged);
	/* Parents before children whatever the spec's order, as Docker sorts
	 * them: /data must not be mounted over /data/cache. */
	size_t n = svc->storage_count;
	_cleanup_free_ size_t *order = zl_xcalloc(n + 1, sizeof(size_t));
	for (size_t i = 0; i < n; i++) {
		size_t j = i;
		size_t d = svc->storage[i].target ? path_depth(svc->storage[i].target) : 0;
		for (; j > 0; j--) {
			const char *t = svc->storage[order[j - 1]].target;
			if ((t ? path_depth(t) : 0) <= d)
				break;
			order[j] = order[j - 1];
		}
		order[j] = i;
	}
	for (size_t k = 0; k < n; k++)
		if (storage_mount(mounts, in, order[k], err) < 0)
			return -1;
	bool ro = svc->read_only_root_fs;
	if (in->resolv_conf)
		add_bind(mounts, "/etc/resolv.conf", in->resolv_conf, ro);
	if (in->hosts_file)
		add_bind(mounts, "/etc/hosts", in->hosts_file, ro);
	return 0;
}
