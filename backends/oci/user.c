/* user.c: users and groups of a replica, looked up in the image's own
 * /etc/passwd and /etc/group, opened inside the rootfs so a symlink in the
 * image cannot make us read the host's files. */
#include "bundle-internal.h"

#include <errno.h>
#include <string.h>
#include <ctype.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- users and groups, from the image ---- */

/* Opens rel (e.g. "etc/passwd") inside rootfs: symlinks resolve as if rootfs
 * were "/" (openat2 RESOLVE_IN_ROOT). Where openat2 is missing no symlink is
 * followed at all. *f is NULL when the file does not exist. */
int oci_open_in_root(const char *rootfs, const char *rel, FILE **f, struct zl_err *err)
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
	const char *why = spec_user_problem(user_spec);
	if (why)
		return zl_invalid(err, "user \"%s\": %s", user_spec, why);
	_cleanup_free_ char *copy = zl_xstrdup(user_spec);
	char *group = strchr(copy, ':');
	if (group)
		*group++ = '\0';
	const char *user = copy;
	if (!*user || (group && !*group))
		return zl_invalid(err, "user \"%s\": expected uid[:gid] or name[:group]", user_spec);

	_cleanup_fclose_ FILE *passwd = NULL;
	_cleanup_fclose_ FILE *groups = NULL;
	if (oci_open_in_root(rootfs, "etc/passwd", &passwd, err) < 0 ||
	    oci_open_in_root(rootfs, "etc/group", &groups, err) < 0)
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
int oci_resolve_extra_groups(const struct spec_strv *names, const char *rootfs, uint32_t primary,
				uint32_t **gids, size_t *n, struct zl_err *err)
{
	if (names->count == 0)
		return 0;
	_cleanup_fclose_ FILE *groups = NULL;
	if (oci_open_in_root(rootfs, "etc/group", &groups, err) < 0)
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
