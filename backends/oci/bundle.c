/* bundle.c: the OCI runtime config (config.json, runtime spec 1.0.2) of one
 * replica, built with cJSON from the service spec and the image config.
 *
 * The defaults are Docker's, so an image behaves here as under `docker run`:
 * its capability set, masked and read-only /proc and /sys paths, standard
 * mounts and device cgroup rules; command and environment merge with the
 * image's as decision 4 of SPEC-REFERENCE.md says. Users and groups are
 * looked up in the image's own /etc/passwd and /etc/group, opened inside the
 * rootfs so a symlink in the image cannot make us read the host's files.
 *
 * Everything the runtime would reject later (a missing bind source or
 * device, an unknown capability or user, memory below what a container
 * needs) is rejected here, naming the service and the key. Integers are
 * written as raw JSON text: doubles would round limits above 2^53 (and
 * RLIM_INFINITY), which Go runtimes then refuse to decode. */
#include "oci-internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include <cjson/cJSON.h>

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define MIN_MEMORY (6LL * 1024 * 1024) /* runc refuses less */
#define CPU_PERIOD 100000
#define DEFAULT_NOFILE 1048576

static inline void cjson_deletep(cJSON **j) { cJSON_Delete(*j); }
#define _cleanup_cjson_ __attribute__((cleanup(cjson_deletep)))

/* ---- small helpers ---- */

struct strvec { /* always NULL-terminated once non-empty */
	char **items;
	size_t count, cap;
};

static void strvec_push_owned(struct strvec *v, char *s)
{
	zl_grow(&v->items, sizeof(char *), &v->cap, v->count + 2);
	v->items[v->count++] = s;
	v->items[v->count] = NULL;
}

static void strvec_steal(struct strvec *v, char ***out, size_t *count)
{
	if (!v->items) /* an empty result is still a valid, NULL-terminated array */
		v->items = zl_xcalloc(1, sizeof(char *));
	*out = v->items;
	*count = v->count;
	*v = (struct strvec){ 0 };
}

void oci_strv_free(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Integers as exact JSON text (see the file comment). */
static cJSON *jint(int64_t v)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return cJSON_CreateRaw(buf);
}

static cJSON *juint(uint64_t v)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return cJSON_CreateRaw(buf);
}

static cJSON *jstrings(char *const *items, size_t n)
{
	cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(items[i]));
	return arr;
}

/* "64Mi" when exact, else bytes: messages echo what the user wrote. */
static void format_memory(int64_t bytes, char out[32])
{
	static const char *const units[] = { "Ti", "Gi", "Mi", "Ki" };
	for (int i = 0; i < 4; i++) {
		int64_t unit = 1LL << (10 * (4 - i));
		if (bytes >= unit && bytes % unit == 0) {
			snprintf(out, 32, "%" PRId64 "%s", bytes / unit, units[i]);
			return;
		}
	}
	snprintf(out, 32, "%" PRId64 " bytes", bytes);
}

/* ---- the image config ---- */

/* Parses the image config; *cfg is its "config" object or NULL. NULL or
 * empty text is an image without config. */
static int image_config_parse(const char *text, cJSON **root, const cJSON **cfg,
			      struct zl_err *err)
{
	*root = NULL;
	*cfg = NULL;
	if (!text || !*text)
		return 0;
	*root = cJSON_Parse(text);
	if (!*root)
		return zl_fail(err, "the image config is not valid JSON");
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(*root, "config");
	if (cJSON_IsObject(c))
		*cfg = c;
	return 0;
}

static const char *image_string(const cJSON *cfg, const char *key)
{
	const cJSON *s = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, key) : NULL;
	return cJSON_IsString(s) && s->valuestring[0] ? s->valuestring : NULL;
}

/* Appends the image config's string list key (null/absent = empty). */
static int image_strings(const cJSON *cfg, const char *key, struct strvec *out, struct zl_err *err)
{
	const cJSON *arr = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, key) : NULL;
	if (!arr || cJSON_IsNull(arr))
		return 0;
	if (!cJSON_IsArray(arr))
		return zl_fail(err, "the image config's %s is not a list of strings", key);
	const cJSON *it;
	cJSON_ArrayForEach(it, arr) {
		if (!cJSON_IsString(it))
			return zl_fail(err, "the image config's %s is not a list of strings", key);
		strvec_push_owned(out, zl_xstrdup(it->valuestring));
	}
	return 0;
}

/* ---- argv and environment ---- */

int oci_build_argv(const struct spec_service *svc, const char *image_config_json, char ***argv,
		   size_t *argc, struct zl_err *err)
{
	_cleanup_cjson_ cJSON *root = NULL;
	const cJSON *cfg = NULL;
	*argv = NULL;
	*argc = 0;
	if (image_config_parse(image_config_json, &root, &cfg, err) < 0)
		return -1;
	struct strvec v = { 0 };
	int r = 0;
	if (svc->has_entrypoint) {
		for (size_t i = 0; i < svc->entrypoint.count; i++)
			strvec_push_owned(&v, zl_xstrdup(svc->entrypoint.items[i]));
	} else {
		r = image_strings(cfg, "Entrypoint", &v, err);
	}
	/* An explicit empty entrypoint only clears the image's (Docker's
	 * --entrypoint ""), so the image's Cmd still runs. */
	if (r == 0 && svc->has_args) {
		for (size_t i = 0; i < svc->args.count; i++)
			strvec_push_owned(&v, zl_xstrdup(svc->args.items[i]));
	} else if (r == 0 && (!svc->has_entrypoint || svc->entrypoint.count == 0)) {
		r = image_strings(cfg, "Cmd", &v, err);
	}
	if (r == 0 && v.count == 0)
		r = zl_invalid(err, "no command: the image has no ENTRYPOINT/CMD and the spec gives none");
	if (r == 0 && !v.items[0][0])
		r = zl_invalid(err, "command: the program to run (first argument) is empty");
	if (r < 0) {
		oci_strv_free(v.items, v.count);
		return -1;
	}
	strvec_steal(&v, argv, argc);
	return 0;
}

static size_t env_name_len(const char *entry)
{
	const char *eq = strchr(entry, '=');
	return eq ? (size_t)(eq - entry) : strlen(entry);
}

/* Sets entry ("NAME=value", owned) replacing the same name in place. */
static void env_set(struct strvec *v, char *entry)
{
	size_t len = env_name_len(entry);
	for (size_t i = 0; i < v->count; i++) {
		if (env_name_len(v->items[i]) == len && !strncmp(v->items[i], entry, len)) {
			free(v->items[i]);
			v->items[i] = entry;
			return;
		}
	}
	strvec_push_owned(v, entry);
}

static bool env_has(const struct strvec *v, const char *name)
{
	size_t len = strlen(name);
	for (size_t i = 0; i < v->count; i++)
		if (env_name_len(v->items[i]) == len && !strncmp(v->items[i], name, len))
			return true;
	return false;
}

int oci_build_env(const struct spec_kv *env, size_t n, const char *image_config_json,
		  const char *hostname, char ***out, size_t *count)
{
	_cleanup_cjson_ cJSON *root = NULL;
	const cJSON *cfg = NULL;
	struct zl_err ignored = ZL_ERR_INIT; /* the caller's argv step reports a bad config */
	*out = NULL;
	*count = 0;
	if (image_config_parse(image_config_json, &root, &cfg, &ignored) < 0)
		return -1;
	struct strvec image = { 0 }, v = { 0 };
	if (image_strings(cfg, "Env", &image, &ignored) < 0) {
		oci_strv_free(image.items, image.count);
		return -1;
	}
	for (size_t i = 0; i < image.count; i++)
		env_set(&v, image.items[i]);
	free(image.items);
	if (hostname)
		env_set(&v, zl_xasprintf("HOSTNAME=%s", hostname));
	for (size_t i = 0; i < n; i++)
		env_set(&v, zl_xasprintf("%s=%s", env[i].key, env[i].value ? env[i].value : ""));
	if (!env_has(&v, "PATH")) {
		strvec_push_owned(&v, NULL);
		memmove(v.items + 1, v.items, (v.count - 1) * sizeof(char *));
		v.items[0] = zl_xstrdup("PATH=" DEFAULT_PATH);
	}
	strvec_steal(&v, out, count);
	return 0;
}

/* ---- users and groups, from the image ---- */

/* Opens rel (e.g. "etc/passwd") inside rootfs: symlinks resolve as if rootfs
 * were "/" (openat2 RESOLVE_IN_ROOT). Where openat2 is missing no symlink is
 * followed at all. *f is NULL when the file does not exist. */
static int open_in_root(const char *rootfs, const char *rel, FILE **f, struct zl_err *err)
{
	*f = NULL;
	_cleanup_close_ int dirfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return zl_fail_errno(err, "open rootfs %s", rootfs);
	/* O_NONBLOCK: a FIFO planted in the image must not hang us. */
	int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK;
	struct open_how how = { .flags = (uint64_t)flags,
				.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	int fd = (int)syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
	if (fd < 0 && (errno == ENOSYS || errno == EPERM)) {
		_cleanup_free_ char *copy = zl_xstrdup(rel);
		char *save = NULL, *part = strtok_r(copy, "/", &save);
		int cur = dup(dirfd);
		while (cur >= 0 && part) {
			char *next = strtok_r(NULL, "/", &save);
			int nfd = openat(cur, part, (next ? O_PATH | O_DIRECTORY : flags) | O_NOFOLLOW);
			int saved = errno;
			close(cur);
			errno = saved;
			cur = nfd;
			part = next;
		}
		fd = cur;
	}
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return zl_fail_errno(err, "open /%s in the image", rel);
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return zl_fail(err, "/%s in the image is not a regular file", rel);
	}
	*f = fdopen(fd, "r");
	if (!*f) {
		close(fd);
		return zl_fail_errno(err, "fdopen");
	}
	return 0;
}

static bool parse_id(const char *s, uint32_t *out)
{
	if (!*s)
		return false;
	uint64_t v = 0;
	for (const char *p = s; *p; p++) {
		if (!isdigit((unsigned char)*p))
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
		if (v >= UINT32_MAX) /* (uid_t)-1 means "no id" to the kernel */
			return false;
	}
	*out = (uint32_t)v;
	return true;
}

/* Splits a passwd/group line into at most max ':'-separated fields (in
 * place); returns how many. Comments and NIS "+"/"-" lines have none. */
static size_t split_fields(char *line, char **fields, size_t max)
{
	line[strcspn(line, "\n")] = '\0';
	if (!*line || line[0] == '#' || line[0] == '+' || line[0] == '-')
		return 0;
	size_t n = 0;
	char *p = line;
	while (p && n < max)
		fields[n++] = strsep(&p, ":");
	return n;
}

struct passwd_entry {
	bool found;
	char *name;
	uint32_t uid, gid;
};

/* Finds the first /etc/passwd line whose name (or uid, when by_uid) matches. */
static void passwd_lookup(FILE *f, const char *name, bool by_uid, uint32_t uid,
			  struct passwd_entry *out)
{
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, f) > 0) {
		char *fld[7];
		uint32_t u, g;
		if (split_fields(line, fld, 7) < 4 || !parse_id(fld[2], &u) || !parse_id(fld[3], &g))
			continue;
		if (by_uid ? u == uid : !strcmp(fld[0], name)) {
			*out = (struct passwd_entry){ true, zl_xstrdup(fld[0]), u, g };
			return;
		}
	}
}

/* Finds a group by name; *found tells. */
static bool group_lookup(FILE *f, const char *name, uint32_t *gid)
{
	rewind(f);
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, f) > 0) {
		char *fld[4];
		if (split_fields(line, fld, 4) >= 3 && !strcmp(fld[0], name) && parse_id(fld[2], gid))
			return true;
	}
	return false;
}

static void gid_add(uint32_t **gids, size_t *n, size_t *cap, uint32_t gid)
{
	for (size_t i = 0; i < *n; i++)
		if ((*gids)[i] == gid)
			return;
	zl_grow(gids, sizeof(uint32_t), cap, *n + 1);
	(*gids)[(*n)++] = gid;
}

/* The groups that list user as a member, except primary. */
static void group_members(FILE *f, const char *user, uint32_t primary, uint32_t **gids, size_t *n)
{
	rewind(f);
	_cleanup_free_ char *line = NULL;
	size_t cap = 0, gcap = 0;
	while (getline(&line, &cap, f) > 0) {
		char *fld[4];
		uint32_t gid;
		if (split_fields(line, fld, 4) < 4 || !parse_id(fld[2], &gid) || gid == primary)
			continue;
		for (char *p = fld[3], *m; (m = strsep(&p, ","));) {
			if (!strcmp(m, user)) {
				gid_add(gids, n, &gcap, gid);
				break;
			}
		}
	}
}

int oci_resolve_user(const char *user_spec, const char *rootfs, uint32_t *uid, uint32_t *gid,
		     uint32_t **extra_gids, size_t *n_extra, struct zl_err *err)
{
	*uid = *gid = 0;
	*extra_gids = NULL;
	*n_extra = 0;
	if (!user_spec || !*user_spec)
		user_spec = "0"; /* root, still with root's groups from the image */
	_cleanup_free_ char *copy = zl_xstrdup(user_spec);
	char *group = strchr(copy, ':');
	if (group)
		*group++ = '\0';
	const char *user = copy;
	if (!*user || (group && !*group))
		return zl_invalid(err, "user \"%s\": expected uid[:gid] or name[:group]", user_spec);

	_cleanup_fclose_ FILE *passwd = NULL;
	_cleanup_fclose_ FILE *groups = NULL;
	if (open_in_root(rootfs, "etc/passwd", &passwd, err) < 0 ||
	    open_in_root(rootfs, "etc/group", &groups, err) < 0)
		return zl_err_prefix(err, "user \"%s\"", user_spec);

	struct passwd_entry pw = { 0 };
	uint32_t numeric = 0;
	bool user_numeric = parse_id(user, &numeric);
	if (passwd)
		passwd_lookup(passwd, user, user_numeric, numeric, &pw);
	_cleanup_free_ char *pw_name = pw.name;
	if (!user_numeric && !pw.found)
		return zl_invalid(err, "user \"%s\": no user \"%s\" in the image's /etc/passwd%s",
				  user_spec, user, passwd ? "" : " (the image has none)");
	*uid = user_numeric ? numeric : pw.uid;
	*gid = pw.found ? pw.gid : 0;

	if (group) {
		if (parse_id(group, gid))
			return 0;
		if (!groups || !group_lookup(groups, group, gid))
			return zl_invalid(err, "user \"%s\": no group \"%s\" in the image's /etc/group%s",
					  user_spec, group, groups ? "" : " (the image has none)");
		return 0;
	}
	/* Only without an explicit group, like runc: supplementary groups. */
	if (pw.found && groups)
		group_members(groups, pw.name, *gid, extra_gids, n_extra);
	return 0;
}

/* Adds extra_groups (numbers or names from the image's /etc/group). */
static int resolve_extra_groups(const struct spec_strv *names, const char *rootfs, uint32_t primary,
				uint32_t **gids, size_t *n, struct zl_err *err)
{
	if (names->count == 0)
		return 0;
	_cleanup_fclose_ FILE *groups = NULL;
	if (open_in_root(rootfs, "etc/group", &groups, err) < 0)
		return -1;
	size_t cap = *n;
	for (size_t i = 0; i < names->count; i++) {
		uint32_t gid;
		if (!parse_id(names->items[i], &gid) &&
		    (!groups || !group_lookup(groups, names->items[i], &gid)))
			return zl_invalid(err, "extra_groups: no group \"%s\" in the image's /etc/group",
					  names->items[i]);
		if (gid != primary)
			gid_add(gids, n, &cap, gid);
	}
	return 0;
}

/* ---- capabilities ---- */

/* Indexed by capability number (linux/capability.h). */
static const char *const cap_names[] = {
	"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
	"SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST",
	"NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO",
	"SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
	"SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE",
	"AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
	"BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
};
#define CAP_COUNT (sizeof(cap_names) / sizeof(cap_names[0]))

/* Docker's default set. */
static const char *const default_caps[] = {
	"CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
	"SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
};

/* The capabilities zlapply can hand out: those of its bounding set (a
 * container never gets more than its creator, and runtimes fail the start
 * when asked to), limited to this kernel's and to the names we know. */
static uint64_t host_caps(void)
{
	uint64_t known = CAP_COUNT >= 64 ? UINT64_MAX : (UINT64_C(1) << CAP_COUNT) - 1;
	_cleanup_fclose_ FILE *f = fopen("/proc/self/status", "re");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	while (f && getline(&line, &cap, f) > 0) {
		unsigned long long bnd;
		if (sscanf(line, "CapBnd: %llx", &bnd) == 1)
			return known & bnd;
	}
	_cleanup_fclose_ FILE *last_f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	unsigned last;
	if (last_f && fscanf(last_f, "%u", &last) == 1 && last < 63)
		known &= (UINT64_C(1) << (last + 1)) - 1;
	return known;
}

/* Index of a capability name ("net_admin", "CAP_NET_ADMIN"), -1 for
 * unknown, -2 for ALL. */
static int cap_index(const char *name)
{
	if (!strncasecmp(name, "CAP_", 4))
		name += 4;
	if (!strcasecmp(name, "ALL"))
		return -2;
	for (size_t i = 0; i < CAP_COUNT; i++)
		if (!strcasecmp(name, cap_names[i]))
			return (int)i;
	return -1;
}

/* Parses a cap_add/cap_drop list into a mask; *all tells whether it has ALL. */
static int cap_list(const struct spec_strv *list, const char *key, uint64_t *mask, bool *all,
		    struct zl_err *err)
{
	*mask = 0;
	*all = false;
	for (size_t i = 0; i < list->count; i++) {
		int idx = cap_index(list->items[i]);
		if (idx == -1)
			return zl_invalid(err, "%s: unknown capability \"%s\"", key, list->items[i]);
		if (idx == -2)
			*all = true;
		else
			*mask |= UINT64_C(1) << idx;
	}
	return 0;
}

/* Docker's rules: cap_add ALL = everything but cap_drop; cap_drop ALL = only
 * cap_add; otherwise the default set minus cap_drop plus cap_add. "All"
 * (and privileged) means what this host can give; a capability added by
 * name that it cannot give is an error, a default one is left out. */
static int compute_caps(const struct spec_service *svc, uint64_t *caps, struct zl_err *err)
{
	uint64_t add, drop, host = host_caps();
	bool add_all, drop_all;
	if (cap_list(&svc->cap_add, "capabilities", &add, &add_all, err) < 0 ||
	    cap_list(&svc->cap_drop, "cap_drop", &drop, &drop_all, err) < 0)
		return -1;
	if (svc->privileged) {
		*caps = host;
		return 0;
	}
	for (size_t i = 0; i < CAP_COUNT; i++)
		if ((add & ~host) & (UINT64_C(1) << i))
			return zl_invalid(err, "capabilities: CAP_%s is not available to zlapply on this host (not in its bounding set)",
					  cap_names[i]);
	uint64_t base = 0;
	for (size_t i = 0; i < sizeof(default_caps) / sizeof(default_caps[0]); i++)
		base |= UINT64_C(1) << cap_index(default_caps[i]);
	if (add_all)
		*caps = host & ~drop;
	else if (drop_all)
		*caps = add;
	else
		*caps = ((base & host) & ~drop) | add;
	return 0;
}

static cJSON *caps_json(uint64_t caps)
{
	cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; i < CAP_COUNT; i++) {
		if (caps & (UINT64_C(1) << i)) {
			char name[64];
			snprintf(name, sizeof(name), "CAP_%s", cap_names[i]);
			cJSON_AddItemToArray(arr, cJSON_CreateString(name));
		}
	}
	return arr;
}

/* ---- process ---- */

static const struct {
	const char *name, *type;
	int resource;
} rlimit_types[] = {
	{ "cpu", "RLIMIT_CPU", RLIMIT_CPU }, { "fsize", "RLIMIT_FSIZE", RLIMIT_FSIZE },
	{ "data", "RLIMIT_DATA", RLIMIT_DATA }, { "stack", "RLIMIT_STACK", RLIMIT_STACK },
	{ "core", "RLIMIT_CORE", RLIMIT_CORE }, { "rss", "RLIMIT_RSS", RLIMIT_RSS },
	{ "nproc", "RLIMIT_NPROC", RLIMIT_NPROC }, { "nofile", "RLIMIT_NOFILE", RLIMIT_NOFILE },
	{ "memlock", "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK }, { "as", "RLIMIT_AS", RLIMIT_AS },
	{ "locks", "RLIMIT_LOCKS", RLIMIT_LOCKS }, { "sigpending", "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING },
	{ "msgqueue", "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE }, { "nice", "RLIMIT_NICE", RLIMIT_NICE },
	{ "rtprio", "RLIMIT_RTPRIO", RLIMIT_RTPRIO }, { "rttime", "RLIMIT_RTTIME", RLIMIT_RTTIME },
};

/* Without CAP_SYS_RESOURCE (some sandboxes drop it even for root) the
 * runtime cannot raise a hard limit above ours: it fails the start with a
 * bare EPERM. Knowing it here gives a clear error, and a default that fits. */
static bool have_cap_sys_resource(void)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/status", "re");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	while (f && getline(&line, &cap, f) > 0) {
		unsigned long long eff;
		if (sscanf(line, "CapEff: %llx", &eff) == 1)
			return eff & (1ULL << 24 /* CAP_SYS_RESOURCE */);
	}
	return true; /* unknown: let the runtime decide */
}

/* The hard limit the runtime can grant for resource (UINT64_MAX = any). */
static uint64_t grantable_hard(int resource)
{
	struct rlimit rl;
	if (have_cap_sys_resource() || getrlimit(resource, &rl) < 0 || rl.rlim_max == RLIM_INFINITY)
		return UINT64_MAX;
	return rl.rlim_max;
}

static void add_rlimit(cJSON *arr, const char *type, int64_t soft, int64_t hard)
{
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "type", type);
	/* -1 is "unlimited": RLIM_INFINITY, all bits set. */
	cJSON_AddItemToObject(r, "hard", juint((uint64_t)hard));
	cJSON_AddItemToObject(r, "soft", juint((uint64_t)soft));
	cJSON_AddItemToArray(arr, r);
}

static int rlimits_json(const struct spec_service *svc, cJSON **out, struct zl_err *err)
{
	cJSON *arr = cJSON_CreateArray();
	bool nofile = false;
	for (size_t i = 0; i < svc->ulimit_count; i++) {
		const struct spec_ulimit *u = &svc->ulimits[i];
		const char *type = NULL;
		int resource = 0;
		for (size_t j = 0; j < sizeof(rlimit_types) / sizeof(rlimit_types[0]); j++) {
			if (!strcmp(u->name, rlimit_types[j].name)) {
				type = rlimit_types[j].type;
				resource = rlimit_types[j].resource;
			}
		}
		if (!type) {
			cJSON_Delete(arr);
			return zl_invalid(err, "ulimits: unknown limit \"%s\"", u->name);
		}
		if (u->soft != -1 && (u->hard != -1 && u->soft > u->hard)) {
			cJSON_Delete(arr);
			return zl_invalid(err, "ulimits.%s: soft limit %" PRId64 " is above hard limit %" PRId64,
					  u->name, u->soft, u->hard);
		}
		uint64_t room = grantable_hard(resource);
		if ((uint64_t)u->hard > room) {
			char hard[32] = "unlimited";
			if (u->hard != -1)
				snprintf(hard, sizeof(hard), "%" PRId64, u->hard);
			cJSON_Delete(arr);
			return zl_invalid(err, "ulimits.%s: hard limit %s is above %" PRIu64 ", the most this host lets zlapply grant (no CAP_SYS_RESOURCE)",
					  u->name, hard, room);
		}
		nofile |= !strcmp(u->name, "nofile");
		add_rlimit(arr, type, u->soft, u->hard);
	}
	if (!nofile) {
		uint64_t n = grantable_hard(RLIMIT_NOFILE);
		if (n > DEFAULT_NOFILE)
			n = DEFAULT_NOFILE;
		add_rlimit(arr, "RLIMIT_NOFILE", (int64_t)n, (int64_t)n);
	}
	*out = arr;
	return 0;
}

/* security_opt entries that the OCI config can express; the others are
 * LSM settings this host does not apply. */
struct security {
	bool no_new_privileges;
	bool unconfined_paths; /* systempaths=unconfined: no masked/read-only paths */
};

static int parse_security_opt(const struct spec_service *svc, struct security *sec,
			      struct zl_err *err)
{
	*sec = (struct security){ 0 };
	for (size_t i = 0; i < svc->security_opt.count; i++) {
		const char *opt = svc->security_opt.items[i];
		size_t klen = strcspn(opt, ":=");
		const char *val = opt[klen] ? opt + klen + 1 : NULL;
		if (klen == 17 && !strncmp(opt, "no-new-privileges", klen)) {
			if (!val || !strcmp(val, "true"))
				sec->no_new_privileges = true;
			else if (!strcmp(val, "false"))
				sec->no_new_privileges = false;
			else
				return zl_invalid(err, "security_opt: expected no-new-privileges[:true|false], got \"%s\"", opt);
		} else if (klen == 11 && !strncmp(opt, "systempaths", klen) && val &&
			   !strcmp(val, "unconfined")) {
			sec->unconfined_paths = true;
		} else if ((klen == 7 && !strncmp(opt, "seccomp", klen)) ||
			   (klen == 8 && !strncmp(opt, "apparmor", klen)) ||
			   (klen == 5 && !strncmp(opt, "label", klen))) {
			/* No seccomp profile or LSM label is applied here: "unconfined"
			 * is already true and anything else cannot be honoured. */
			if (!val || strcmp(val, "unconfined"))
				zl_log(ZL_LOG_WARN, "service %s: security_opt \"%s\" is ignored on this host",
				       svc->name, opt);
		} else {
			return zl_invalid(err, "security_opt: unknown option \"%s\" (expected no-new-privileges, systempaths=unconfined, seccomp=, apparmor= or label=)", opt);
		}
	}
	return 0;
}

/* 0 inherits zlapply's own score. Going below it needs CAP_SYS_RESOURCE,
 * without which the runtime fails the start with a bare EPERM. */
static int oom_score_adj_json(int adj, cJSON *process, struct zl_err *err)
{
	if (adj < -1000 || adj > 1000)
		return zl_invalid(err, "resources.oom_score_adj: %d is outside -1000..1000", adj);
	if (adj == 0)
		return 0;
	int own = 0;
	FILE *f = fopen("/proc/self/oom_score_adj", "re");
	if (f) {
		if (fscanf(f, "%d", &own) != 1)
			own = 0;
		fclose(f);
	}
	if (adj < own && !have_cap_sys_resource())
		return zl_invalid(err, "resources.oom_score_adj: %d is below zlapply's own %d, which needs CAP_SYS_RESOURCE", adj, own);
	cJSON_AddItemToObject(process, "oomScoreAdj", jint(adj));
	return 0;
}

static int process_json(const struct oci_bundle_input *in, const char *hostname,
			const cJSON *cfg, const struct security *sec, cJSON **out, struct zl_err *err)
{
	const struct backend_replica_spec *rs = in->rs;
	const struct spec_service *svc = rs->service;
	_cleanup_cjson_ cJSON *p = cJSON_CreateObject();
	cJSON_AddBoolToObject(p, "terminal", svc->tty);

	/* user: the spec's, else the image's USER, else root */
	const char *user_spec = svc->user && *svc->user ? svc->user : image_string(cfg, "User");
	uint32_t uid = 0, gid = 0;
	_cleanup_free_ uint32_t *gids = NULL;
	size_t n_gids = 0;
	if (oci_resolve_user(user_spec, in->rootfs, &uid, &gid, &gids, &n_gids, err) < 0 ||
	    resolve_extra_groups(&svc->extra_groups, in->rootfs, gid, &gids, &n_gids, err) < 0)
		return -1;
	cJSON *user = cJSON_AddObjectToObject(p, "user");
	cJSON_AddItemToObject(user, "uid", juint(uid));
	cJSON_AddItemToObject(user, "gid", juint(gid));
	if (n_gids) {
		cJSON *arr = cJSON_AddArrayToObject(user, "additionalGids");
		for (size_t i = 0; i < n_gids; i++)
			cJSON_AddItemToArray(arr, juint(gids[i]));
	}

	char **argv = NULL;
	size_t argc = 0;
	if (oci_build_argv(svc, rs->image_config, &argv, &argc, err) < 0)
		return -1;
	cJSON_AddItemToObject(p, "args", jstrings(argv, argc));
	oci_strv_free(argv, argc);

	char **env = NULL;
	size_t envc = 0;
	if (oci_build_env(rs->env, rs->env_count, rs->image_config, hostname, &env, &envc) < 0)
		return zl_fail(err, "the image config's Env is not a list of strings");
	cJSON *env_arr = jstrings(env, envc);
	bool has_term = false;
	for (size_t i = 0; i < envc; i++)
		has_term |= !strncmp(env[i], "TERM=", 5);
	if (svc->tty && !has_term) /* as Docker does for -t */
		cJSON_AddItemToArray(env_arr, cJSON_CreateString("TERM=xterm"));
	cJSON_AddItemToObject(p, "env", env_arr);
	oci_strv_free(env, envc);

	const char *cwd = svc->workdir && *svc->workdir ? svc->workdir : image_string(cfg, "WorkingDir");
	if (!cwd)
		cwd = "/";
	if (cwd[0] == '/') {
		cJSON_AddStringToObject(p, "cwd", cwd);
	} else { /* Docker takes a relative WORKDIR from "/" */
		_cleanup_free_ char *abs = zl_xasprintf("/%s", cwd);
		cJSON_AddStringToObject(p, "cwd", abs);
	}

	uint64_t caps = 0;
	if (compute_caps(svc, &caps, err) < 0)
		return -1;
	cJSON *c = cJSON_AddObjectToObject(p, "capabilities");
	cJSON_AddItemToObject(c, "bounding", caps_json(caps));
	cJSON_AddItemToObject(c, "effective", caps_json(caps));
	cJSON_AddItemToObject(c, "permitted", caps_json(caps));

	cJSON *rlimits = NULL;
	if (rlimits_json(svc, &rlimits, err) < 0)
		return -1;
	cJSON_AddItemToObject(p, "rlimits", rlimits);
	if (sec->no_new_privileges)
		cJSON_AddBoolToObject(p, "noNewPrivileges", true);
	if (oom_score_adj_json(svc->resources.oom_score_adj, p, err) < 0)
		return -1;
	*out = p;
	p = NULL;
	return 0;
}

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

/* A container path is absolute and has no "." or ".." component (which
 * would also let an anonymous volume's directory leave anon_dir). */
static bool target_ok(const char *t)
{
	if (!t || t[0] != '/' || !t[1])
		return false;
	for (const char *p = t; *p;) {
		while (*p == '/')
			p++;
		size_t len = strcspn(p, "/");
		if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		p += len;
	}
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
	if (!target_ok(st->target))
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
		if (zl_mkdir_p(dir, 0755, err) < 0)
			return zl_err_prefix(err, "storage[%zu]: named volume %s", i, st->name);
		add_bind(mounts, st->target, dir, st->readonly);
		return 0;
	}
	case SPEC_STORAGE_ANONYMOUS: {
		if (!in->anon_dir)
			return zl_fail(err, "storage[%zu]: no directory for anonymous volumes", i);
		_cleanup_free_ char *name = anon_name(st->target);
		_cleanup_free_ char *dir = zl_xasprintf("%s/%s", in->anon_dir, name);
		if (zl_mkdir_p(dir, 0755, err) < 0)
			return zl_err_prefix(err, "storage[%zu]: anonymous volume %s", i, st->target);
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

static int mounts_json(const struct oci_bundle_input *in, cJSON *mounts, struct zl_err *err)
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

/* ---- linux: namespaces, resources, devices, sysctls ---- */

static void add_ns(cJSON *arr, const char *type, const char *path)
{
	cJSON *ns = cJSON_CreateObject();
	cJSON_AddStringToObject(ns, "type", type);
	if (path)
		cJSON_AddStringToObject(ns, "path", path);
	cJSON_AddItemToArray(arr, ns);
}

static bool mode_is(const char *mode, const char *value)
{
	return mode && !strcmp(mode, value);
}

static int namespaces_json(const struct oci_bundle_input *in, cJSON *arr, struct zl_err *err)
{
	const struct spec_service *svc = in->rs->service;
	if (!mode_is(svc->pid_mode, "host")) {
		if (svc->pid_mode && *svc->pid_mode && strcmp(svc->pid_mode, "private"))
			return zl_invalid(err, "pid_mode: \"%s\" is not supported (expected host or private)", svc->pid_mode);
		add_ns(arr, "pid", NULL);
	}
	if (!mode_is(svc->ipc_mode, "host")) {
		if (svc->ipc_mode && *svc->ipc_mode && strcmp(svc->ipc_mode, "private") &&
		    strcmp(svc->ipc_mode, "shareable"))
			return zl_invalid(err, "ipc_mode: \"%s\" is not supported (expected host, private or shareable)", svc->ipc_mode);
		add_ns(arr, "ipc", NULL);
	}
	if (svc->userns_mode && *svc->userns_mode && strcmp(svc->userns_mode, "host"))
		return zl_invalid(err, "userns_mode: \"%s\" is not supported (containers share the host's user namespace)", svc->userns_mode);
	add_ns(arr, "uts", NULL);
	add_ns(arr, "mount", NULL);
	const char *net = svc->network_mode ? svc->network_mode : "default";
	if (!strcmp(net, "none")) {
		add_ns(arr, "network", NULL); /* only lo, never configured */
	} else if (strcmp(net, "host")) {
		if (!strncmp(net, "container:", 10) && !in->netns_path)
			return zl_fail(err, "network_mode: %s needs that container's network namespace", net);
		add_ns(arr, "network", in->netns_path);
	}
	add_ns(arr, "cgroup", NULL);
	return 0;
}

static int resources_json(const struct spec_service *svc, cJSON *res, struct zl_err *err)
{
	const struct spec_resources *r = &svc->resources;
	char a[32], b[32];

	cJSON *mem = cJSON_CreateObject();
	cJSON_AddItemToObject(res, "memory", mem);
	if (r->memory_bytes < 0 || (r->memory_bytes > 0 && r->memory_bytes < MIN_MEMORY)) {
		format_memory(r->memory_bytes, a);
		format_memory(MIN_MEMORY, b);
		return zl_invalid(err, "resources.memory: %s is below the %s a container needs", a, b);
	}
	if (r->memory_bytes > 0)
		cJSON_AddItemToObject(mem, "limit", jint(r->memory_bytes));
	if (r->memory_reservation < 0)
		return zl_invalid(err, "resources.memory_reservation: must be positive");
	if (r->memory_reservation > 0) {
		if (r->memory_bytes > 0 && r->memory_reservation > r->memory_bytes) {
			format_memory(r->memory_reservation, a);
			format_memory(r->memory_bytes, b);
			return zl_invalid(err, "resources.memory_reservation: %s is above the memory limit %s", a, b);
		}
		cJSON_AddItemToObject(mem, "reservation", jint(r->memory_reservation));
	}
	if (r->memory_swap == -1) {
		cJSON_AddItemToObject(mem, "swap", jint(-1));
	} else if (r->memory_swap != 0) {
		/* Like Docker, memory_swap is memory + swap, so it needs a memory
		 * limit at or below it. */
		if (r->memory_bytes <= 0)
			return zl_invalid(err, "resources.memory_swap: needs resources.memory as well (it is memory + swap)");
		if (r->memory_swap < r->memory_bytes) {
			format_memory(r->memory_swap, a);
			format_memory(r->memory_bytes, b);
			return zl_invalid(err, "resources.memory_swap: %s is below resources.memory %s (it is memory + swap)", a, b);
		}
		cJSON_AddItemToObject(mem, "swap", jint(r->memory_swap));
	}
	if (r->memory_swappiness >= 0) {
		if (r->memory_swappiness > 100)
			return zl_invalid(err, "resources.memory_swappiness: %d is outside 0..100", r->memory_swappiness);
		cJSON_AddItemToObject(mem, "swappiness", juint((uint64_t)r->memory_swappiness));
	}
	if (r->oom_kill_disable)
		cJSON_AddBoolToObject(mem, "disableOOMKiller", true);

	cJSON *cpu = cJSON_CreateObject();
	cJSON_AddItemToObject(res, "cpu", cpu);
	if (r->cpu_millicores < 0)
		return zl_invalid(err, "resources.cpu: must be above 0");
	if (r->cpu_millicores > 0) {
		/* A quota above the host's cpus * period is fine: cgroups cap it. */
		int64_t quota = r->cpu_millicores * (CPU_PERIOD / 1000);
		if (quota < 1000) /* the kernel's minimum quota is 1 ms */
			return zl_invalid(err, "resources.cpu: %.3f is below the minimum 0.01", (double)r->cpu_millicores / 1000);
		cJSON_AddItemToObject(cpu, "quota", jint(quota));
		cJSON_AddItemToObject(cpu, "period", juint(CPU_PERIOD));
	}
	if (r->cpu_shares) {
		if (r->cpu_shares < 2 || r->cpu_shares > 262144)
			return zl_invalid(err, "resources.cpu_shares: %" PRId64 " is outside 2..262144", r->cpu_shares);
		cJSON_AddItemToObject(cpu, "shares", juint((uint64_t)r->cpu_shares));
	}
	if (r->cpuset && *r->cpuset) {
		if (strspn(r->cpuset, "0123456789,-") != strlen(r->cpuset))
			return zl_invalid(err, "resources.cpuset: expected a cpu list such as 0-3,6, got \"%s\"", r->cpuset);
		cJSON_AddStringToObject(cpu, "cpus", r->cpuset);
	}

	/* -1 (and 0, unset) mean unlimited: no pids entry at all. */
	if (r->pids_limit < -1)
		return zl_invalid(err, "resources.pids_limit: %" PRId64 " is below 1", r->pids_limit);
	if (r->pids_limit > 0) {
		cJSON *pids = cJSON_AddObjectToObject(res, "pids");
		cJSON_AddItemToObject(pids, "limit", jint(r->pids_limit));
	}
	if (r->blkio_weight) {
		if (r->blkio_weight < 10 || r->blkio_weight > 1000)
			return zl_invalid(err, "resources.blkio_weight: %d is outside 10..1000", r->blkio_weight);
		cJSON *bio = cJSON_AddObjectToObject(res, "blockIO");
		cJSON_AddItemToObject(bio, "weight", juint((uint64_t)r->blkio_weight));
	}
	return 0;
}

/* A device cgroup rule; major/minor -1 = any. */
static void add_dev_rule(cJSON *arr, bool allow, const char *type, int64_t major, int64_t minor,
			 const char *access)
{
	cJSON *d = cJSON_CreateObject();
	cJSON_AddBoolToObject(d, "allow", allow);
	if (type)
		cJSON_AddStringToObject(d, "type", type);
	if (major >= 0)
		cJSON_AddItemToObject(d, "major", jint(major));
	if (minor >= 0)
		cJSON_AddItemToObject(d, "minor", jint(minor));
	cJSON_AddStringToObject(d, "access", access);
	cJSON_AddItemToArray(arr, d);
}

/* Docker's device cgroup: deny all, let mknod happen, allow the standard
 * character devices (the runtime creates their nodes), then the spec's. */
static int devices_json(const struct spec_service *svc, cJSON *linux_obj, cJSON *res,
			struct zl_err *err)
{
	cJSON *rules = cJSON_AddArrayToObject(res, "devices");
	if (svc->privileged) {
		add_dev_rule(rules, true, NULL, -1, -1, "rwm");
	} else {
		static const struct { int major, minor; } std[] = {
			{ 1, 3 } /* null */, { 1, 5 } /* zero */, { 1, 7 } /* full */,
			{ 1, 8 } /* random */, { 1, 9 } /* urandom */, { 5, 0 } /* tty */,
			{ 5, 1 } /* console */, { 5, 2 } /* ptmx */, { 136, -1 } /* pts */,
		};
		add_dev_rule(rules, false, NULL, -1, -1, "rwm");
		add_dev_rule(rules, true, "c", -1, -1, "m");
		add_dev_rule(rules, true, "b", -1, -1, "m");
		for (size_t i = 0; i < sizeof(std) / sizeof(std[0]); i++)
			add_dev_rule(rules, true, "c", std[i].major, std[i].minor, "rwm");
	}
	if (svc->device_count == 0)
		return 0;
	cJSON *nodes = cJSON_AddArrayToObject(linux_obj, "devices");
	for (size_t i = 0; i < svc->device_count; i++) {
		const struct spec_device *d = &svc->devices[i];
		struct stat sb;
		if (!d->path || stat(d->path, &sb) < 0)
			return zl_err_set(err, ZL_ERR_INPUT, d->path ? errno : 0, "devices[%zu]: device %s", i,
					  d->path ? d->path : "(no path)");
		if (!S_ISCHR(sb.st_mode) && !S_ISBLK(sb.st_mode))
			return zl_invalid(err, "devices[%zu]: %s is not a device", i, d->path);
		char access[4];
		size_t n = 0;
		if (d->read)
			access[n++] = 'r';
		if (d->write)
			access[n++] = 'w';
		if (d->mknod)
			access[n++] = 'm';
		access[n] = '\0';
		if (!n)
			return zl_invalid(err, "devices[%zu]: %s allows nothing (set read, write or mknod)", i, d->path);
		const char *type = S_ISCHR(sb.st_mode) ? "c" : "b";
		cJSON *node = cJSON_CreateObject();
		cJSON_AddStringToObject(node, "path", d->path);
		cJSON_AddStringToObject(node, "type", type);
		cJSON_AddItemToObject(node, "major", jint(major(sb.st_rdev)));
		cJSON_AddItemToObject(node, "minor", jint(minor(sb.st_rdev)));
		cJSON_AddItemToObject(node, "fileMode", juint(sb.st_mode & 07777));
		cJSON_AddItemToObject(node, "uid", juint(sb.st_uid));
		cJSON_AddItemToObject(node, "gid", juint(sb.st_gid));
		cJSON_AddItemToArray(nodes, node);
		add_dev_rule(rules, true, type, major(sb.st_rdev), minor(sb.st_rdev), access);
	}
	return 0;
}

/* Only namespaced sysctls can be set (Docker's list); net.* needs the
 * container's own network namespace and IPC ones its own IPC namespace. */
static int sysctls_json(const struct spec_service *svc, cJSON *linux_obj, struct zl_err *err)
{
	static const char *const ipc[] = {
		"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
		"kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
	};
	if (svc->sysctl_count == 0)
		return 0;
	bool host_net = mode_is(svc->network_mode, "host");
	bool host_ipc = mode_is(svc->ipc_mode, "host");
	cJSON *obj = cJSON_AddObjectToObject(linux_obj, "sysctl");
	for (size_t i = 0; i < svc->sysctl_count; i++) {
		const char *k = svc->sysctls[i].key;
		bool is_ipc = !strncmp(k, "fs.mqueue.", 10);
		for (size_t j = 0; j < sizeof(ipc) / sizeof(ipc[0]); j++)
			is_ipc |= !strcmp(k, ipc[j]);
		bool is_net = !strncmp(k, "net.", 4);
		if (!is_ipc && !is_net)
			return zl_invalid(err, "sysctls.%s: not a namespaced sysctl; a container cannot set it", k);
		if (is_net && host_net)
			return zl_invalid(err, "sysctls.%s: cannot be set with network_mode host", k);
		if (is_ipc && host_ipc)
			return zl_invalid(err, "sysctls.%s: cannot be set with ipc_mode host", k);
		cJSON_AddStringToObject(obj, k, svc->sysctls[i].value ? svc->sysctls[i].value : "");
	}
	return 0;
}

static int linux_json(const struct oci_bundle_input *in, const struct security *sec, cJSON *lx,
		      struct zl_err *err)
{
	const struct spec_service *svc = in->rs->service;
	if (namespaces_json(in, cJSON_AddArrayToObject(lx, "namespaces"), err) < 0)
		return -1;
	if (in->cgroups_path)
		cJSON_AddStringToObject(lx, "cgroupsPath", in->cgroups_path);
	cJSON *res = cJSON_AddObjectToObject(lx, "resources");
	if (resources_json(svc, res, err) < 0 || devices_json(svc, lx, res, err) < 0 ||
	    sysctls_json(svc, lx, err) < 0)
		return -1;
	if (svc->privileged || sec->unconfined_paths)
		return 0;
	static const char *const masked[] = {
		"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
		"/sys/firmware", "/sys/devices/virtual/powercap",
	};
	static const char *const readonly[] = {
		"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
	};
	cJSON_AddItemToObject(lx, "maskedPaths",
			      jstrings((char *const *)masked, sizeof(masked) / sizeof(masked[0])));
	cJSON_AddItemToObject(lx, "readonlyPaths",
			      jstrings((char *const *)readonly, sizeof(readonly) / sizeof(readonly[0])));
	return 0;
}

/* ---- the config ---- */

/* in->hostname, else the spec's, else "<service>-rep-<index>" cut to the
 * kernel's 64 bytes by shortening the service part. */
static int pick_hostname(const struct oci_bundle_input *in, char **out, struct zl_err *err)
{
	const struct spec_service *svc = in->rs->service;
	const char *given = in->hostname ? in->hostname : svc->hostname;
	if (given) {
		if (!*given || strlen(given) > 64)
			return zl_invalid(err, "hostname: expected 1..64 characters, got \"%s\"", given);
		*out = zl_xstrdup(given);
		return 0;
	}
	char suffix[32];
	snprintf(suffix, sizeof(suffix), "-rep-%d", in->rs->index);
	size_t room = 63 - strlen(suffix);
	size_t len = strlen(svc->name);
	*out = zl_xasprintf("%.*s%s", (int)(len < room ? len : room), svc->name, suffix);
	return 0;
}

static int build_config(const struct oci_bundle_input *in, cJSON *root, struct zl_err *err)
{
	const struct backend_replica_spec *rs = in->rs;
	const struct spec_service *svc = rs->service;
	if (!in->rootfs || in->rootfs[0] != '/')
		return zl_fail(err, "the rootfs path must be absolute");
	_cleanup_cjson_ cJSON *image = NULL;
	const cJSON *cfg = NULL;
	if (image_config_parse(rs->image_config, &image, &cfg, err) < 0)
		return -1;
	_cleanup_free_ char *hostname = NULL;
	struct security sec = { 0 };
	if (pick_hostname(in, &hostname, err) < 0 || parse_security_opt(svc, &sec, err) < 0)
		return -1;

	cJSON_AddStringToObject(root, "ociVersion", "1.0.2");
	cJSON *process = NULL;
	if (process_json(in, hostname, cfg, &sec, &process, err) < 0)
		return -1;
	cJSON_AddItemToObject(root, "process", process);
	cJSON *r = cJSON_AddObjectToObject(root, "root");
	cJSON_AddStringToObject(r, "path", in->rootfs);
	cJSON_AddBoolToObject(r, "readonly", svc->read_only_root_fs);
	cJSON_AddStringToObject(root, "hostname", hostname);
	/* mounts_json creates named volume directories, so everything that can
	 * still refuse the replica (resources, devices, sysctls) goes first. */
	cJSON *mounts = cJSON_AddArrayToObject(root, "mounts");
	if (linux_json(in, &sec, cJSON_AddObjectToObject(root, "linux"), err) < 0)
		return -1;
	if (mounts_json(in, mounts, err) < 0)
		return -1;
	if (svc->label_count) {
		cJSON *ann = cJSON_AddObjectToObject(root, "annotations");
		for (size_t i = 0; i < svc->label_count; i++)
			cJSON_AddStringToObject(ann, svc->labels[i].key,
						svc->labels[i].value ? svc->labels[i].value : "");
	}
	if (svc->resources.gpu_count > 0) /* accepted by the spec; no passthrough here yet */
		zl_log(ZL_LOG_WARN, "service %s: resources.gpu is ignored by the OCI backend", svc->name);
	return 0;
}

int oci_bundle_config(const struct oci_bundle_input *in, char **json, struct zl_err *err)
{
	*json = NULL;
	_cleanup_cjson_ cJSON *root = cJSON_CreateObject();
	if (build_config(in, root, err) < 0)
		return zl_err_prefix(err, "service %s", in->rs->service->name);
	*json = cJSON_Print(root);
	if (!*json)
		return zl_fail(err, "service %s: cannot print config.json", in->rs->service->name);
	return 0;
}
