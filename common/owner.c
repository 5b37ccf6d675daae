/* owner.c: which state root a host object belongs to.
 *
 * Runtime container ids, network namespaces, veths and bridges are
 * host-wide names, while a state root (--root) is only one of possibly
 * several on the host (a test root beside the real one, two
 * installations). So every root has an identity, and every host-wide name
 * a root makes is claimed first:
 *   - <root>/root-id: 32 random hex digits, made once (O_EXCL) and kept;
 *   - ZL_CLAIMS_DIR/<kind>/<name>: "ID ROOT\n", made with O_EXCL before the
 *     object exists, removed after the object is gone.
 * A claim whose root no longer carries its id (the root was deleted, or
 * reset with a new identity) is stale and may be taken over; any other
 * claim is another root's, and that root's objects are never touched.
 * ZL_CLAIMS_DIR is on /run (tmpfs): claims end with the boot, as the
 * objects they cover do; a replica restarted after a reboot claims its
 * names again. */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ROOT_ID_FILE "root-id"

static bool hex_id(const char *s)
{
	size_t n = strspn(s, "0123456789abcdef");
	return n == ZL_OWNER_ID_LEN && (s[n] == '\0' || s[n] == '\n' || s[n] == ' ');
}

/* The id recorded in root, or -1 when it has none (or an unreadable one). */
static int read_root_id(const char *root, char id[ZL_OWNER_ID_LEN + 1])
{
	_cleanup_free_ char *path = zl_xasprintf("%s/" ROOT_ID_FILE, root);
	char *text = NULL;
	size_t len = 0;
	if (zl_read_file(path, &text, &len, NULL) < 0)
		return -1;
	int r = -1;
	if (hex_id(text)) {
		memcpy(id, text, ZL_OWNER_ID_LEN);
		id[ZL_OWNER_ID_LEN] = '\0';
		r = 0;
	}
	free(text);
	return r;
}

/* Writes text to the new file tmp (fsynced when sync), to be linked into
 * place whole; on failure tmp is gone. */
static int write_aside(const char *tmp, const char *text, bool sync, struct zl_err *err)
{
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return zl_fail_errno(err, "create %s", tmp);
	ssize_t n = write(fd, text, strlen(text));
	int saved = errno;
	if (n != (ssize_t)strlen(text) || (sync && fsync(fd) < 0)) {
		close(fd);
		unlink(tmp);
		errno = n < 0 ? saved : EIO;
		return zl_fail_errno(err, "write %s", tmp);
	}
	close(fd);
	return 0;
}

/* Makes <real>/root-id hold id unless it exists already (then its id wins).
 * Written whole to a temporary file, then linked into place: a kill at any
 * point leaves either no root-id or a complete one, never an empty file
 * that every later run would refuse. */
static int write_root_id(const char *real, const char *id, struct zl_owner *out, struct zl_err *err)
{
	_cleanup_free_ char *path = zl_xasprintf("%s/" ROOT_ID_FILE, real);
	_cleanup_free_ char *tmp = zl_xasprintf("%s/" ROOT_ID_FILE ".tmp.%d", real, (int)getpid());
	_cleanup_free_ char *text = zl_xasprintf("%s\n", id);
	if (write_aside(tmp, text, true, err) < 0)
		return -1;
	int r = link(tmp, path);
	int saved = errno;
	unlink(tmp);
	if (r < 0 && saved == EEXIST) /* made meanwhile by another run: take that */
		return read_root_id(real, out->id) == 0
			       ? 0
			       : zl_fail(err, "state root %s: %s is not an identity", real, path);
	if (r < 0) {
		errno = saved;
		return zl_fail_errno(err, "create %s", path);
	}
	snprintf(out->id, sizeof(out->id), "%s", id);
	return 0;
}

int zl_owner_of_root(const char *root, bool create, struct zl_owner *out, struct zl_err *err)
{
	memset(out, 0, sizeof(*out));
	char real[PATH_MAX];
	if (!realpath(root, real))
		return zl_fail_errno(err, "state root %s", root);
	snprintf(out->root, sizeof(out->root), "%s", real);
	if (read_root_id(real, out->id) == 0)
		return 0;
	if (!create)
		return zl_fail(err, "state root %s has no identity (%s/" ROOT_ID_FILE ")", real, real);
	unsigned char raw[ZL_OWNER_ID_LEN / 2];
	_cleanup_close_ int rnd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (rnd < 0 || read(rnd, raw, sizeof(raw)) != (ssize_t)sizeof(raw))
		return zl_fail_errno(err, "read /dev/urandom");
	char id[ZL_OWNER_ID_LEN + 1];
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(id + 2 * i, 3, "%02x", raw[i]);
	return write_root_id(real, id, out, err);
}

int zl_owner_set_id(const char *root, const char *id, struct zl_owner *out, struct zl_err *err)
{
	memset(out, 0, sizeof(*out));
	char real[PATH_MAX];
	if (!realpath(root, real))
		return zl_fail_errno(err, "state root %s", root);
	snprintf(out->root, sizeof(out->root), "%s", real);
	if (!hex_id(id))
		return zl_invalid(err, "state root %s: \"%s\" is not an identity", real, id);
	if (read_root_id(real, out->id) == 0)
		return 0;
	return write_root_id(real, id, out, err);
}

bool zl_owner_same(const struct zl_owner *a, const struct zl_owner *b)
{
	return strcmp(a->id, b->id) == 0;
}

/* ---- claims ---- */

static const char *claims_dir(void)
{
	return ZL_CLAIMS_DIR;
}

static char *claim_path(const char *kind, const char *name)
{
	return zl_xasprintf("%s/%s/%s", claims_dir(), kind, name);
}

static int check_claim_name(const char *kind, const char *name, struct zl_err *err)
{
	if (!*kind || strchr(kind, '/') || !*name || strchr(name, '/') || name[0] == '.')
		return zl_invalid(err, "claim %s/%s: not a name", kind, name);
	return 0;
}

/* Parses "ID ROOT\n". */
static int parse_claim(const char *text, struct zl_owner *out)
{
	memset(out, 0, sizeof(*out));
	if (!hex_id(text) || text[ZL_OWNER_ID_LEN] != ' ')
		return -1;
	memcpy(out->id, text, ZL_OWNER_ID_LEN);
	const char *root = text + ZL_OWNER_ID_LEN + 1;
	size_t len = strcspn(root, "\n");
	if (len == 0 || len >= sizeof(out->root))
		return -1;
	memcpy(out->root, root, len);
	out->root[len] = '\0';
	return 0;
}

int zl_claim_holder(const char *kind, const char *name, struct zl_owner *holder)
{
	_cleanup_free_ char *path = claim_path(kind, name);
	char *text = NULL;
	size_t len = 0;
	if (zl_read_file(path, &text, &len, NULL) < 0)
		return -1;
	int r = parse_claim(text, holder);
	free(text);
	return r;
}

/* A holder whose root no longer carries its id is gone. */
static bool holder_alive(const struct zl_owner *holder)
{
	char id[ZL_OWNER_ID_LEN + 1];
	return read_root_id(holder->root, id) == 0 && strcmp(id, holder->id) == 0;
}

/* zl_claim()'s attempts to link the written claim tmp into place. */
static int claim_link(const char *kind, const char *name, const char *path, const char *tmp,
		      const struct zl_owner *me, struct zl_owner *holder, struct zl_err *err)
{
	for (int attempt = 0; attempt < 3; attempt++) {
		if (link(tmp, path) == 0)
			return 0;
		if (errno != EEXIST)
			return zl_fail_errno(err, "create %s", path);
		struct zl_owner found;
		if (zl_claim_holder(kind, name, &found) < 0) {
			/* Garbage (a claim is never half-written): look again. */
			struct timespec ts = { 0, 5 * 1000000 };
			nanosleep(&ts, NULL);
			if (attempt == 2 && unlink(path) < 0 && errno != ENOENT)
				return zl_fail_errno(err, "remove the unreadable claim %s", path);
			continue;
		}
		if (zl_owner_same(&found, me))
			return 0; /* ours already */
		if (holder_alive(&found)) {
			if (holder)
				*holder = found;
			return 1;
		}
		/* Stale: its root is gone. Take it over, unless another run
		 * did so in between (then the next link sees theirs). */
		if (unlink(path) < 0 && errno != ENOENT)
			return zl_fail_errno(err, "remove the stale claim %s", path);
	}
	return zl_fail(err, "claim %s/%s: contended", kind, name);
}

int zl_claim(const char *kind, const char *name, const struct zl_owner *me,
	     struct zl_owner *holder, struct zl_err *err)
{
	if (check_claim_name(kind, name, err) < 0)
		return -1;
	_cleanup_free_ char *dir = zl_xasprintf("%s/%s", claims_dir(), kind);
	if (zl_mkdir_p(dir, 0755, err) < 0)
		return -1;
	_cleanup_free_ char *path = claim_path(kind, name);
	_cleanup_free_ char *text = zl_xasprintf("%s %s\n", me->id, me->root);
	/* The claim appears whole (written aside, then linked into place, which
	 * fails when it exists): the workers of a parallel apply claim at the
	 * same time and must never read a half-written claim as garbage. The
	 * temporary is named as zl_write_file_atomic()'s are, so the sweep of
	 * a killed run's leftovers knows it; a plain write (no second
	 * temporary, no fsync: claims live on tmpfs and end with the boot). */
	_cleanup_free_ char *tmp = zl_xasprintf("%s.tmp.%d", path, (int)getpid());
	if (write_aside(tmp, text, false, err) < 0)
		return -1;
	int r = claim_link(kind, name, path, tmp, me, holder, err);
	unlink(tmp);
	return r;
}

int zl_claim_release(const char *kind, const char *name, const struct zl_owner *me)
{
	struct zl_owner found;
	if (zl_claim_holder(kind, name, &found) < 0 || !zl_owner_same(&found, me))
		return 0; /* none, or not ours: nothing to release */
	_cleanup_free_ char *path = claim_path(kind, name);
	if (unlink(path) < 0 && errno != ENOENT)
		return -1;
	return 0;
}

int zl_claim_is_ours(const char *kind, const char *name, const struct zl_owner *me)
{
	struct zl_owner found;
	if (zl_claim_holder(kind, name, &found) < 0)
		return -1; /* unclaimed */
	return zl_owner_same(&found, me) ? 1 : 0;
}
