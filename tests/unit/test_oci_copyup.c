/* test_oci_copyup.c: volume copy-up (backends/oci/copyup.c). A fake image
 * rootfs under a temporary directory; each test populates a volume from it
 * and checks what Docker users expect: the image's files with owners,
 * modes, symlinks and hardlinks; the mount point's owner and mode on the
 * volume root; content never touched; nocopy; a target that is a file; a
 * crash at each step; no space left (a small tmpfs, root only); symlinks in
 * the image resolved inside the rootfs, never on the host. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backends/oci/bundle-internal.h"

static char tmp[64];
static char rootfs[128];
static char volumes[128];

/* dir/rel; caller frees. */
static char *join(const char *dir, const char *rel)
{
	return zl_xasprintf("%s/%s", dir, rel);
}

static void write_at(const char *path, const char *text, mode_t mode, uid_t uid, gid_t gid)
{
	struct zl_err err = ZL_ERR_INIT;
	_cleanup_free_ char *dir = zl_xstrdup(path);
	*strrchr(dir, '/') = '\0';
	assert_int_equal(zl_mkdir_p(dir, 0755, &err), 0);
	if (zl_write_file_atomic(path, text, strlen(text), mode, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(chown(path, uid, gid), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static char *read_text(const char *path)
{
	char *data = NULL;
	size_t len = 0;
	struct zl_err err = ZL_ERR_INIT;
	if (zl_read_file(path, &data, &len, &err) < 0)
		fail_msg("%s", err.msg);
	return data;
}

static struct stat lstat_ok(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		fail_msg("lstat %s: %s", path, strerror(errno));
	return st;
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

static size_t entries(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

static int setup(void **state)
{
	(void)state;
	if (geteuid() != 0)
		return 0; /* each test skips */
	snprintf(tmp, sizeof(tmp), "/tmp/test_oci_copyup.XXXXXX");
	if (!mkdtemp(tmp))
		return -1;
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", tmp);
	snprintf(volumes, sizeof(volumes), "%s/volumes/demo", tmp);
	/* /var/lib/db: the image's data directory, owned by its user 999. */
	char p[256];
	snprintf(p, sizeof(p), "%s/var/lib/db/PG_VERSION", rootfs);
	write_at(p, "15\n", 0600, 999, 999);
	snprintf(p, sizeof(p), "%s/var/lib/db/conf/main.conf", rootfs);
	write_at(p, "port = 5432\n", 0640, 999, 5);
	snprintf(p, sizeof(p), "%s/var/lib/db/conf", rootfs);
	assert_int_equal(chown(p, 999, 999), 0);
	assert_int_equal(chmod(p, 02750), 0);
	snprintf(p, sizeof(p), "%s/var/lib/db/conf/link", rootfs);
	assert_int_equal(symlink("main.conf", p), 0);
	assert_int_equal(lchown(p, 999, 999), 0);
	char a[256];
	snprintf(a, sizeof(a), "%s/var/lib/db/PG_VERSION", rootfs);
	snprintf(p, sizeof(p), "%s/var/lib/db/conf/hard", rootfs);
	assert_int_equal(link(a, p), 0);
	snprintf(p, sizeof(p), "%s/var/lib/db/fifo", rootfs);
	assert_int_equal(mkfifo(p, 0620), 0);
	snprintf(p, sizeof(p), "%s/var/lib/db", rootfs);
	assert_int_equal(chown(p, 999, 999), 0);
	assert_int_equal(chmod(p, 0700), 0);
	/* /etc/hostname: a file, not a mount point for a volume. */
	snprintf(p, sizeof(p), "%s/etc/hostname", rootfs);
	write_at(p, "img\n", 0644, 0, 0);
	/* /data -> /var/lib/db: an absolute symlink, resolved in the rootfs. */
	snprintf(p, sizeof(p), "%s/data", rootfs);
	assert_int_equal(symlink("/var/lib/db", p), 0);
	/* /hostetc -> /etc: must give the image's /etc, never the host's. */
	snprintf(p, sizeof(p), "%s/hostetc", rootfs);
	assert_int_equal(symlink("/etc", p), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (geteuid() != 0)
		return 0;
	struct zl_err err = ZL_ERR_INIT;
	_cleanup_free_ char *vols = join(tmp, "volumes/demo");
	umount2(vols, MNT_DETACH); /* the no-space test's tmpfs, if left */
	return zl_rm_rf(tmp, &err);
}

#define NEED_ROOT()                                                  \
	do {                                                         \
		if (geteuid() != 0) {                                \
			print_message("needs root (chown)\n");      \
			skip();                                      \
		}                                                    \
	} while (0)

static int populate(const char *target, const char *name, bool copy_up, struct zl_err *err)
{
	_cleanup_free_ char *dir = zl_xasprintf("%s/%s", volumes, name);
	_cleanup_free_ char *what = zl_xasprintf("named volume %s", name);
	zl_err_clear(err);
	return oci_volume_populate(rootfs, target, dir, what, copy_up, err);
}

static void populate_ok(const char *target, const char *name, bool copy_up)
{
	struct zl_err err = ZL_ERR_INIT;
	if (populate(target, name, copy_up, &err) < 0)
		fail_msg("populate %s: %s", target, err.msg);
}

/* What a copy of /var/lib/db must hold. */
static void check_db_copy(const char *vol)
{
	struct stat root = lstat_ok(vol);
	assert_int_equal(root.st_uid, 999);
	assert_int_equal(root.st_gid, 999);
	assert_int_equal(root.st_mode & 07777, 0700);

	_cleanup_free_ char *ver = join(vol, "PG_VERSION");
	_cleanup_free_ char *text = read_text(ver);
	assert_string_equal(text, "15\n");
	struct stat v = lstat_ok(ver);
	assert_int_equal(v.st_uid, 999);
	assert_int_equal(v.st_mode & 07777, 0600);

	_cleanup_free_ char *conf = join(vol, "conf");
	struct stat c = lstat_ok(conf);
	assert_true(S_ISDIR(c.st_mode));
	assert_int_equal(c.st_mode & 07777, 02750); /* set-gid survives the chown */

	_cleanup_free_ char *main_conf = join(vol, "conf/main.conf");
	struct stat m = lstat_ok(main_conf);
	assert_int_equal(m.st_uid, 999);
	assert_int_equal(m.st_gid, 5);
	assert_int_equal(m.st_mode & 07777, 0640);

	_cleanup_free_ char *link = join(vol, "conf/link");
	struct stat l = lstat_ok(link);
	assert_true(S_ISLNK(l.st_mode));
	assert_int_equal(l.st_uid, 999);
	char target[64];
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	assert_true(n > 0);
	target[n] = '\0';
	assert_string_equal(target, "main.conf");

	_cleanup_free_ char *hard = join(vol, "conf/hard");
	assert_int_equal(lstat_ok(hard).st_ino, v.st_ino); /* one file, two names */

	_cleanup_free_ char *fifo = join(vol, "fifo");
	assert_true(S_ISFIFO(lstat_ok(fifo).st_mode));
}

/* The replicas of one wave are created at once and share a named volume:
 * four processes populate it together; each succeeds, the volume holds one
 * whole copy, and nothing of the machinery is left beside it. */
static void test_concurrent_populates(void **state)
{
	(void)state;
	NEED_ROOT();
	pid_t pids[4];
	fflush(NULL);
	for (int i = 0; i < 4; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct zl_err err = ZL_ERR_INIT;
			int r = populate("/var/lib/db", "pgdata", true, &err);
			if (r < 0)
				fprintf(stderr, "populate: %s\n", err.msg);
			_exit(r < 0 ? 1 : 0);
		}
	}
	for (int i = 0; i < 4; i++) {
		int st;
		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	_cleanup_free_ char *vol = join(volumes, "pgdata");
	check_db_copy(vol);
	assert_int_equal(entries(volumes), 1);
}

static void test_new_volume_gets_the_image_files(void **state)
{
	(void)state;
	NEED_ROOT();
	populate_ok("/var/lib/db", "pgdata", true);
	_cleanup_free_ char *vol = join(volumes, "pgdata");
	check_db_copy(vol);
	/* Nothing of the copy's machinery is left beside it. */
	assert_int_equal(entries(volumes), 1);
}

static void test_symlinks_resolve_inside_the_rootfs(void **state)
{
	(void)state;
	NEED_ROOT();
	populate_ok("/data", "viasymlink", true);
	_cleanup_free_ char *vol = join(volumes, "viasymlink");
	check_db_copy(vol);
	/* /hostetc -> /etc is the image's /etc: only its hostname file. */
	populate_ok("/hostetc", "etc", true);
	_cleanup_free_ char *etc = join(volumes, "etc");
	assert_int_equal(entries(etc), 1);
	_cleanup_free_ char *passwd = join(volumes, "etc/passwd");
	assert_false(exists(passwd));
}

static void test_content_is_never_touched(void **state)
{
	(void)state;
	NEED_ROOT();
	_cleanup_free_ char *vol = join(volumes, "used");
	_cleanup_free_ char *mine = join(volumes, "used/mine");
	write_at(mine, "user data\n", 0600, 1234, 1234);
	assert_int_equal(chmod(vol, 0711), 0);
	populate_ok("/var/lib/db", "used", true);
	assert_int_equal(entries(vol), 1);
	_cleanup_free_ char *text = read_text(mine);
	assert_string_equal(text, "user data\n");
	struct stat st = lstat_ok(vol);
	assert_int_equal(st.st_mode & 07777, 0711);
	assert_int_equal(st.st_uid, 0);
}

static void test_nocopy_and_missing_target(void **state)
{
	(void)state;
	NEED_ROOT();
	populate_ok("/var/lib/db", "plain", false);
	_cleanup_free_ char *plain = join(volumes, "plain");
	struct stat st = lstat_ok(plain);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_uid, 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(entries(plain), 0);

	populate_ok("/not/in/the/image", "fresh", true);
	_cleanup_free_ char *fresh = join(volumes, "fresh");
	assert_int_equal(entries(fresh), 0);
	assert_int_equal(lstat_ok(fresh).st_mode & 07777, 0755);
}

static void test_target_that_is_a_file(void **state)
{
	(void)state;
	NEED_ROOT();
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(populate("/etc/hostname", "onfile", true, &err), -1);
	assert_int_equal(err.kind, ZL_ERR_INPUT);
	assert_non_null(strstr(err.msg, "named volume onfile"));
	assert_non_null(strstr(err.msg, "/etc/hostname is not a directory in the image"));
	/* also with nocopy: the mount could not work either way */
	assert_int_equal(populate("/etc/hostname", "onfile", false, &err), -1);
}

/* A crash while copying: the unfinished copy (no .done) is thrown away. */
static void test_crash_while_copying(void **state)
{
	(void)state;
	NEED_ROOT();
	_cleanup_free_ char *partial = join(volumes, ".copyup~crashed/half");
	write_at(partial, "half\n", 0644, 0, 0);
	populate_ok("/var/lib/db", "crashed", true);
	_cleanup_free_ char *vol = join(volumes, "crashed");
	check_db_copy(vol);
	_cleanup_free_ char *half = join(volumes, "crashed/half");
	assert_false(exists(half));
	assert_int_equal(entries(volumes), 1);
}

/* A crash while moving a finished copy in: the next populate finishes it. */
static void test_crash_while_moving(void **state)
{
	(void)state;
	NEED_ROOT();
	populate_ok("/var/lib/db", "whole", true);
	/* Rebuild the state of a crash after PG_VERSION was moved in. */
	char cmd[512];
	snprintf(cmd, sizeof(cmd),
		 "cd %s && mkdir .copyup~moving && cp -a whole/. .copyup~moving/ && "
		 "mkdir moving && mv .copyup~moving/PG_VERSION moving/ && touch .copyup~moving.done",
		 volumes);
	assert_int_equal(system(cmd), 0);
	populate_ok("/var/lib/db", "moving", true);
	_cleanup_free_ char *vol = join(volumes, "moving");
	_cleanup_free_ char *conf = join(volumes, "moving/conf/main.conf");
	assert_true(exists(conf));
	_cleanup_free_ char *ver = join(volumes, "moving/PG_VERSION");
	assert_true(exists(ver));
	struct stat st = lstat_ok(vol);
	assert_int_equal(st.st_uid, 999);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(entries(volumes), 2); /* whole and moving, nothing else */
}

/* No space: the error names the volume, nothing half-copied stays, and a
 * populate with room afterwards copies everything. */
static void test_no_space(void **state)
{
	(void)state;
	NEED_ROOT();
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(zl_mkdir_p(volumes, 0755, &err), 0);
	if (mount("tmpfs", volumes, "tmpfs", 0, "size=64k") < 0)
		skip();
	_cleanup_free_ char *big = join(rootfs, "var/lib/db/big");
	_cleanup_free_ char *text = zl_xmalloc(256 * 1024 + 1);
	memset(text, 'x', 256 * 1024);
	text[256 * 1024] = '\0';
	write_at(big, text, 0644, 999, 999);
	int r = populate("/var/lib/db", "full", true, &err);
	_cleanup_free_ char *listing = zl_xasprintf("%zu", entries(volumes));
	_cleanup_free_ char *vol = join(volumes, "full");
	size_t left = entries(vol);
	size_t beside = entries(volumes);
	umount2(volumes, MNT_DETACH);
	assert_int_equal(r, -1);
	assert_non_null(strstr(err.msg, "named volume full"));
	assert_non_null(strstr(err.msg, "No space left on device"));
	assert_int_equal(left, 0);
	assert_int_equal(beside, 1); /* the empty volume, no copy */
	populate_ok("/var/lib/db", "full", true);
	check_db_copy(vol);
	unlink(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_new_volume_gets_the_image_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_populates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlinks_resolve_inside_the_rootfs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_content_is_never_touched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nocopy_and_missing_target, setup, teardown),
		cmocka_unit_test_setup_teardown(test_target_that_is_a_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_while_copying, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_while_moving, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_space, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
