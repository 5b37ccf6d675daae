/* test_unpack.c: layer unpacking. Every tarball is generated here with
 * libarchive's writer (plain, gzip, zstd) and unpacked into a fresh
 * directory that sits next to a canary directory; hostile layers must fail
 * or be neutralised without changing anything outside the layer directory,
 * with the openat2 resolver and with the component-by-component fallback.
 * Runs as root where it can (chown, mknod, trusted.* xattrs).
 * Also what is never unpacked: WebAssembly blobs (the binary check on bytes
 * and files, module and component, every kind of bad input) and the media
 * types that make a manifest a WASM artifact (ZLayer's three signals), with
 * the index fallback to a wasm platform. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "registry/registry-internal.h"
#include "registry/registry.h"
#include "registry/unpack-internal.h"

enum comp { PLAIN, GZIP, ZSTD };

/* ---- the scratch area: <base>/blobs, <base>/parent/{canary,layer-*} ---- */

struct env {
	char base[64];
	char blobs[128];
	char parent[128];
	char canary[160];
	char layer[192];
	int blob_n;
};

static void must(int ok, const char *what)
{
	if (!ok) {
		print_error("%s: %s\n", what, strerror(errno));
		fail();
	}
}

static void write_text(const char *path, const char *text)
{
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(zl_write_file_atomic(path, text, strlen(text), 0644, &err), 0);
}

static int env_setup(void **state)
{
	struct env *env = zl_xcalloc(1, sizeof(*env));
	snprintf(env->base, sizeof(env->base), "/tmp/zl-unpack-XXXXXX");
	must(mkdtemp(env->base) != NULL, "mkdtemp");
	snprintf(env->blobs, sizeof(env->blobs), "%s/blobs", env->base);
	snprintf(env->parent, sizeof(env->parent), "%s/parent", env->base);
	snprintf(env->canary, sizeof(env->canary), "%s/canary", env->parent);
	must(mkdir(env->blobs, 0700) == 0, "mkdir blobs");
	must(mkdir(env->parent, 0755) == 0, "mkdir parent");
	must(mkdir(env->canary, 0755) == 0, "mkdir canary");
	char path[256];
	snprintf(path, sizeof(path), "%s/keep.txt", env->canary);
	write_text(path, "canary\n");
	snprintf(path, sizeof(path), "%s/sub", env->canary);
	must(mkdir(path, 0755) == 0, "mkdir canary/sub");
	*state = env;
	return 0;
}

static int env_teardown(void **state)
{
	struct env *env = *state;
	struct zl_err err = ZL_ERR_INIT;
	unpack_force_walk_resolution(false);
	if (zl_rm_rf(env->base, &err) < 0)
		print_error("cleanup: %s\n", err.msg);
	free(env);
	return 0;
}

/* A fresh, empty layer directory next to the canary. */
static const char *new_layer(struct env *env)
{
	snprintf(env->layer, sizeof(env->layer), "%s/layer-XXXXXX", env->parent);
	must(mkdtemp(env->layer) != NULL, "mkdtemp layer");
	return env->layer;
}

static char *layer_path(struct env *env, const char *rel)
{
	return zl_xasprintf("%s/%s", env->layer, rel);
}

/* ---- building tarballs ---- */

struct ent {
	const char *name;
	char kind;          /* f file, d dir, l symlink, h hardlink, c/b device, p fifo */
	const char *data;   /* file content, or link target */
	unsigned perm;      /* 0 = 0644 / 0755 */
};

static struct archive *tar_open(const char *path)
{
	struct archive *a = archive_write_new();
	assert_non_null(a);
	assert_int_equal(archive_write_set_format_pax(a), ARCHIVE_OK);
	assert_int_equal(archive_write_add_filter_none(a), ARCHIVE_OK);
	assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
	return a;
}

static void tar_write(struct archive *a, struct archive_entry *e, const void *data, size_t len)
{
	/* WARN: a name not valid in this locale's charset, written as bytes. */
	if (archive_write_header(a, e) < ARCHIVE_WARN) {
		print_error("write_header %s: %s\n", archive_entry_pathname(e),
			    archive_error_string(a));
		fail();
	}
	if (len)
		assert_int_equal(archive_write_data(a, data, len), (ssize_t)len);
}

static struct archive_entry *ent_make(const struct ent *x)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, x->name);
	archive_entry_set_mtime(e, 1700000000, 0);
	switch (x->kind) {
	case 'f':
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, x->perm ? x->perm : 0644);
		archive_entry_set_size(e, x->data ? (la_int64_t)strlen(x->data) : 0);
		break;
	case 'd':
		archive_entry_set_filetype(e, AE_IFDIR);
		archive_entry_set_perm(e, x->perm ? x->perm : 0755);
		break;
	case 'l':
		archive_entry_set_filetype(e, AE_IFLNK);
		archive_entry_set_perm(e, 0777);
		archive_entry_set_symlink(e, x->data);
		break;
	case 'h':
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_hardlink(e, x->data);
		archive_entry_set_size(e, 0);
		break;
	case 'c':
	case 'b':
		archive_entry_set_filetype(e, x->kind == 'c' ? AE_IFCHR : AE_IFBLK);
		archive_entry_set_perm(e, x->perm ? x->perm : 0666);
		archive_entry_set_rdevmajor(e, 1);
		archive_entry_set_rdevminor(e, 3);
		break;
	case 'p':
		archive_entry_set_filetype(e, AE_IFIFO);
		archive_entry_set_perm(e, x->perm ? x->perm : 0644);
		break;
	default:
		fail();
	}
	return e;
}

static void tar_add(struct archive *a, const struct ent *x)
{
	struct archive_entry *e = ent_make(x);
	tar_write(a, e, x->data, x->kind == 'f' && x->data ? strlen(x->data) : 0);
	archive_entry_free(e);
}

static void tar_close(struct archive *a)
{
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

/* Compresses a file with libarchive's writer ("raw" format = no container). */
static void compress_file(const char *in, const char *out, enum comp c)
{
	char *data;
	size_t len;
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(zl_read_file(in, &data, &len, &err), 0);
	struct archive *a = archive_write_new();
	assert_int_equal(c == GZIP ? archive_write_add_filter_gzip(a)
				   : archive_write_add_filter_zstd(a), ARCHIVE_OK);
	assert_int_equal(archive_write_set_format_raw(a), ARCHIVE_OK);
	assert_int_equal(archive_write_set_bytes_in_last_block(a, 1), ARCHIVE_OK);
	assert_int_equal(archive_write_open_filename(a, out), ARCHIVE_OK);
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, "data");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_size(e, (la_int64_t)len);
	tar_write(a, e, data, len);
	archive_entry_free(e);
	tar_close(a);
	free(data);
}

/* "sha256:<hex>" of a file; caller frees. */
static char *file_digest(const char *path)
{
	char *data;
	size_t len;
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(zl_read_file(path, &data, &len, &err), 0);
	char hex[65];
	zl_sha256_hex(data, len, hex);
	free(data);
	return zl_xasprintf("sha256:%s", hex);
}

/* Names the next blob: <blobs>/<n>.tar (plus .gz/.zst). */
static char *next_tar_path(struct env *env)
{
	return zl_xasprintf("%s/%d.tar", env->blobs, env->blob_n++);
}

/* Writes ents as a tar (then compresses it) and returns the blob path;
 * *diff_id (optional) gets the uncompressed digest. Caller frees both. */
static char *build_blob(struct env *env, const struct ent *ents, size_t n, enum comp c,
			char **diff_id)
{
	char *tar = next_tar_path(env);
	struct archive *a = tar_open(tar);
	for (size_t i = 0; i < n; i++)
		tar_add(a, &ents[i]);
	tar_close(a);
	if (diff_id)
		*diff_id = file_digest(tar);
	if (c == PLAIN)
		return tar;
	char *out = zl_xasprintf("%s.%s", tar, c == GZIP ? "gz" : "zst");
	compress_file(tar, out, c);
	free(tar);
	return out;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static int unpack(struct env *env, const char *blob, const char *diff_id, bool devices,
		  struct zl_err *err)
{
	struct registry_unpack_opts opts = { .allow_devices = devices, .image_ref = "test/img" };
	zl_err_clear(err);
	return registry_unpack_layer(blob, new_layer(env), diff_id, &opts, err);
}

static void unpack_ok(struct env *env, const char *blob, const char *diff_id, bool devices)
{
	struct zl_err err = ZL_ERR_INIT;
	int r = unpack(env, blob, diff_id, devices, &err);
	if (r != 0)
		print_error("unpack %s: %s\n", blob, err.msg);
	assert_int_equal(r, 0);
}

static void assert_contains(const char *haystack, const char *needle)
{
	if (!strstr(haystack, needle)) {
		print_error("\"%s\"\n  does not contain \"%s\"\n", haystack, needle);
		fail();
	}
}

static void assert_file_text(const char *path, const char *text)
{
	char *data;
	size_t len;
	struct zl_err err = ZL_ERR_INIT;
	if (zl_read_file(path, &data, &len, &err) < 0) {
		print_error("%s\n", err.msg);
		fail();
	}
	assert_string_equal(data, text);
	free(data);
}

static struct stat lstat_ok(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0) {
		print_error("lstat %s: %s\n", path, strerror(errno));
		fail();
	}
	return st;
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/* ---- snapshots of everything outside the layer ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_tree(const char *dir, const char *rel, const char *skip_prefix, char ***lines,
		      size_t *n, size_t *cap)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (!*rel && strncmp(de->d_name, skip_prefix, strlen(skip_prefix)) == 0)
			continue;
		char *path = zl_xasprintf("%s/%s", dir, de->d_name);
		char *r = *rel ? zl_xasprintf("%s/%s", rel, de->d_name) : zl_xstrdup(de->d_name);
		struct stat st = lstat_ok(path);
		zl_grow(lines, sizeof(**lines), cap, *n + 1);
		(*lines)[(*n)++] = zl_xasprintf("%s mode=%o uid=%u gid=%u size=%lld nlink=%lu "
						"mtime=%lld.%09ld ino=%lu", r, st.st_mode,
						st.st_uid, st.st_gid, (long long)st.st_size,
						(unsigned long)st.st_nlink, (long long)st.st_mtim.tv_sec,
						st.st_mtim.tv_nsec, (unsigned long)st.st_ino);
		if (S_ISDIR(st.st_mode))
			list_tree(path, r, skip_prefix, lines, n, cap);
		free(path);
		free(r);
	}
	closedir(d);
}

/* Everything under the parent except the layer directories (whose
 * creation is also why the parent's own mtime is not compared); caller
 * frees. */
static char *snapshot(struct env *env)
{
	char **lines = NULL;
	size_t n = 0, cap = 0;
	list_tree(env->parent, "", "layer-", &lines, &n, &cap);
	qsort(lines, n, sizeof(*lines), cmp_str);
	struct zl_buf b = { 0 };
	for (size_t i = 0; i < n; i++) {
		zl_buf_printf(&b, "%s\n", lines[i]);
		free(lines[i]);
	}
	free(lines);
	return zl_buf_steal(&b);
}

/* ---- hostile layers ---- */

struct hostile_case {
	const char *what;
	struct ent ents[6];
	size_t count;
	const char *error; /* substring of the error; NULL = neutralised (unpack succeeds) */
	void (*check)(struct env *env);
};

static void check_link_replaced_by_file(struct env *env)
{
	_cleanup_free_ char *p = layer_path(env, "x");
	struct stat st = lstat_ok(p);
	assert_true(S_ISREG(st.st_mode));
	assert_file_text(p, "not through the link\n");
}

static void check_link_replaced_by_dir(struct env *env)
{
	_cleanup_free_ char *p = layer_path(env, "link");
	assert_true(S_ISDIR(lstat_ok(p).st_mode));
	_cleanup_free_ char *f = layer_path(env, "link/evil");
	assert_file_text(f, "inside\n");
}

static void check_symlinks_stored(struct env *env)
{
	_cleanup_free_ char *p = layer_path(env, "abs");
	char target[256];
	ssize_t n = readlink(p, target, sizeof(target) - 1);
	assert_true(n > 0);
	target[n] = '\0';
	assert_string_equal(target, "/etc/passwd");
}

/* Paths of the canary for targets; filled in by the test (the base dir is
 * random). */
static char canary_target[256];
static char keep_target[256];

static void test_hostile_layers(void **state)
{
	struct env *env = *state;
	snprintf(canary_target, sizeof(canary_target), "%s", env->canary);
	snprintf(keep_target, sizeof(keep_target), "%s/keep.txt", env->canary);
	const struct hostile_case cases[] = {
		{ "absolute path", { { "/etc/evil", 'f', "evil\n", 0 } }, 1,
		  "entry \"/etc/evil\": absolute path", NULL },
		{ "absolute path into the canary", { { keep_target, 'f', "evil\n", 0 } }, 1,
		  "absolute path", NULL },
		{ "dot-dot", { { "../evil", 'f', "evil\n", 0 } }, 1,
		  "entry \"../evil\": path contains \"..\"", NULL },
		{ "dot-dot inside", { { "a/", 'd', NULL, 0 }, { "a/../../evil", 'f', "evil\n", 0 } },
		  2, "entry \"a/../../evil\": path contains \"..\"", NULL },
		{ "dot-dot to the canary",
		  { { "../canary/keep.txt", 'f', "evil\n", 0 } }, 1, "path contains \"..\"", NULL },
		{ "symlink to the canary, then a file through it",
		  { { "link", 'l', canary_target, 0 }, { "link/evil", 'f', "evil\n", 0 } }, 2,
		  "entry \"link/evil\": path goes through the symlink \"link\"", NULL },
		{ "symlink to .., then a file through it",
		  { { "link", 'l', "..", 0 }, { "link/evil", 'f', "evil\n", 0 } }, 2,
		  "entry \"link/evil\": path goes through the symlink \"link\"", NULL },
		{ "symlink to .. deeper, then a dir through it",
		  { { "d/", 'd', NULL, 0 }, { "d/up", 'l', "../..", 0 },
		    { "d/up/canary/new/", 'd', NULL, 0 } }, 3,
		  "path goes through the symlink \"d/up\"", NULL },
		{ "symlink chain",
		  { { "c1", 'l', "c2", 0 }, { "c2", 'l', "c3", 0 }, { "c3", 'l', "../canary", 0 },
		    { "c1/sub/evil", 'f', "evil\n", 0 } }, 4,
		  "entry \"c1/sub/evil\": path goes through the symlink \"c1\"", NULL },
		{ "symlink to the canary, then a whiteout through it",
		  { { "link", 'l', canary_target, 0 }, { "link/.wh.keep.txt", 'f', "", 0 } }, 2,
		  "path goes through the symlink \"link\"", NULL },
		{ "symlink to the canary, then an opaque marker through it",
		  { { "link", 'l', canary_target, 0 }, { "link/.wh..wh..opq", 'f', "", 0 } }, 2,
		  "path goes through the symlink \"link\"", NULL },
		{ "hardlink to /etc/passwd", { { "h", 'h', "/etc/passwd", 0 } }, 1,
		  "entry \"h\": hardlink target \"/etc/passwd\" is outside the layer: absolute path",
		  NULL },
		{ "hardlink to ../outside", { { "h", 'h', "../canary/keep.txt", 0 } }, 1,
		  "entry \"h\": hardlink target \"../canary/keep.txt\" is outside the layer: path "
		  "contains \"..\"", NULL },
		{ "hardlink through a symlink",
		  { { "link", 'l', canary_target, 0 }, { "h", 'h', "link/keep.txt", 0 } }, 2,
		  "entry \"h\": hardlink target \"link/keep.txt\": path goes through the symlink "
		  "\"link\"", NULL },
		{ "hardlink to a missing target", { { "h", 'h', "nothing", 0 } }, 1,
		  "hardlink target \"nothing\" is not in the layer", NULL },
		{ "symlink replaced by a file (no write through it)",
		  { { "x", 'l', keep_target, 0 }, { "x", 'f', "not through the link\n", 0 } }, 2,
		  NULL, check_link_replaced_by_file },
		{ "symlink replaced by a directory",
		  { { "link", 'l', canary_target, 0 }, { "link/", 'd', NULL, 0 },
		    { "link/evil", 'f', "inside\n", 0 } }, 3, NULL, check_link_replaced_by_dir },
		{ "symlinks may point anywhere",
		  { { "abs", 'l', "/etc/passwd", 0 }, { "up", 'l', "../../..", 0 } }, 2, NULL,
		  check_symlinks_stored },
	};
	struct stat passwd_before = lstat_ok("/etc/passwd");
	for (int walk = 0; walk < 2; walk++) {
		unpack_force_walk_resolution(walk == 1);
		for (size_t i = 0; i < N(cases); i++) {
			const struct hostile_case *c = &cases[i];
			_cleanup_free_ char *before = snapshot(env);
			_cleanup_free_ char *blob = build_blob(env, c->ents, c->count,
							       i % 3 == 1 ? GZIP : PLAIN, NULL);
			struct zl_err err = ZL_ERR_INIT;
			int r = unpack(env, blob, NULL, false, &err);
			if (c->error) {
				if (r == 0)
					print_error("%s: unpacked but must not\n", c->what);
				assert_int_equal(r, -1);
				assert_contains(err.msg, c->error);
				assert_contains(err.msg, "test/img: layer ");
			} else {
				if (r != 0)
					print_error("%s: %s\n", c->what, err.msg);
				assert_int_equal(r, 0);
				c->check(env);
			}
			_cleanup_free_ char *after = snapshot(env);
			if (strcmp(before, after) != 0)
				print_error("%s (walk=%d) changed the outside:\nbefore:\n%s\nafter:\n%s",
					    c->what, walk, before, after);
			assert_string_equal(before, after);
			assert_false(exists("/etc/evil"));
			_cleanup_free_ char *outside = zl_xasprintf("%s/evil", env->parent);
			assert_false(exists(outside));
		}
	}
	struct stat passwd_after = lstat_ok("/etc/passwd");
	assert_int_equal(passwd_before.st_nlink, passwd_after.st_nlink);
	assert_int_equal(passwd_before.st_mtim.tv_sec, passwd_after.st_mtim.tv_sec);
}

/* ---- replacement rules ---- */

static void test_file_replaced_by_directory(void **state)
{
	struct env *env = *state;
	const struct ent ents[] = {
		{ "a", 'f', "file first\n", 0 },
		{ "a/", 'd', NULL, 0750 },
		{ "a/b", 'f', "child\n", 0 },
	};
	_cleanup_free_ char *blob = build_blob(env, ents, N(ents), PLAIN, NULL);
	_cleanup_free_ char *before = snapshot(env);
	unpack_ok(env, blob, NULL, false);
	_cleanup_free_ char *a = layer_path(env, "a");
	struct stat st = lstat_ok(a);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0750);
	_cleanup_free_ char *b = layer_path(env, "a/b");
	assert_file_text(b, "child\n");
	_cleanup_free_ char *after = snapshot(env);
	assert_string_equal(before, after);
}

static void test_directory_replaced_by_file(void **state)
{
	struct env *env = *state;
	const struct ent ents[] = {
		{ "d/", 'd', NULL, 0 },
		{ "d/x", 'f', "x\n", 0 },
		{ "d/sub/", 'd', NULL, 0 },
		{ "d/sub/y", 'f', "y\n", 0 },
		{ "d", 'f', "now a file\n", 0600 },
	};
	_cleanup_free_ char *blob = build_blob(env, ents, N(ents), GZIP, NULL);
	unpack_ok(env, blob, NULL, false);
	_cleanup_free_ char *d = layer_path(env, "d");
	struct stat st = lstat_ok(d);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_file_text(d, "now a file\n");
}

static void test_later_entry_wins(void **state)
{
	struct env *env = *state;
	const struct ent ents[] = {
		{ "f", 'f', "first\n", 0 },
		{ "g", 'h', "f", 0 },
		{ "f", 'f', "second\n", 0 },
		{ "l", 'l', "f", 0 },
		{ "l", 'l', "g", 0 },
	};
	_cleanup_free_ char *blob = build_blob(env, ents, N(ents), PLAIN, NULL);
	unpack_ok(env, blob, NULL, false);
	_cleanup_free_ char *f = layer_path(env, "f");
	_cleanup_free_ char *g = layer_path(env, "g");
	_cleanup_free_ char *l = layer_path(env, "l");
	assert_file_text(f, "second\n");
	/* The old link keeps the old content: replacing never writes into it. */
	assert_file_text(g, "first\n");
	char target[16];
	ssize_t n = readlink(l, target, sizeof(target) - 1);
	assert_int_equal(n, 1);
	target[n] = '\0';
	assert_string_equal(target, "g");
}

/* ---- sparse files ---- */

static void test_huge_sparse_file(void **state)
{
	struct env *env = *state;
	const int64_t apparent = 8LL << 30;
	const int64_t data_at = 256LL << 20;
	char block[4096];
	memset(block, 'z', sizeof(block));

	_cleanup_free_ char *tar = next_tar_path(env);
	struct archive *a = tar_open(tar);
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, "big");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, apparent);
	archive_entry_sparse_add_entry(e, data_at, sizeof(block));
	archive_entry_sparse_add_entry(e, apparent, 0);
	/* libarchive's pax writer takes the logical content and drops what
	 * falls in holes: write zeros up to the data, never past it. */
	tar_write(a, e, NULL, 0);
	static const char zeros[1 << 20];
	for (int64_t at = 0; at < data_at; at += sizeof(zeros))
		assert_int_equal(archive_write_data(a, zeros, sizeof(zeros)), (ssize_t)sizeof(zeros));
	assert_int_equal(archive_write_data(a, block, sizeof(block)), (ssize_t)sizeof(block));
	archive_entry_free(e);
	tar_close(a);
	struct stat tst = lstat_ok(tar);
	assert_true(tst.st_size < 64 * 1024);
	_cleanup_free_ char *gz = zl_xasprintf("%s.gz", tar);
	compress_file(tar, gz, GZIP);
	_cleanup_free_ char *diff_id = file_digest(tar);

	unpack_ok(env, gz, diff_id, false);
	_cleanup_free_ char *big = layer_path(env, "big");
	struct stat st = lstat_ok(big);
	assert_int_equal(st.st_size, apparent);
	/* One 4 KiB block of data: allow some filesystem slack, far below 8 GiB. */
	assert_true((int64_t)st.st_blocks * 512 < 1024 * 1024);
	int fd = open(big, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	char buf[4096 + 2];
	assert_int_equal(pread(fd, buf, sizeof(buf), data_at - 1), (ssize_t)sizeof(buf));
	assert_int_equal(buf[0], 0);
	assert_int_equal(buf[1], 'z');
	assert_int_equal(buf[4096], 'z');
	assert_int_equal(buf[4097], 0);
	close(fd);
}

/* ---- metadata ---- */

static void test_modes_owners_and_times(void **state)
{
	struct env *env = *state;
	_cleanup_free_ char *tar = next_tar_path(env);
	struct archive *a = tar_open(tar);
	struct {
		const char *name;
		char kind;
		unsigned perm;
		const char *data;
	} specs[] = {
		{ "ro/", 'd', 0555, NULL },
		{ "ro/inside", 'f', 0644, "in a read-only dir\n" },
		{ "suid", 'f', 04755, "#!/bin/sh\n" },
		{ "sgid-dir/", 'd', 02775, NULL },
		{ "private", 'f', 0600, "secret\n" },
		{ "fifo", 'p', 0640, NULL },
		{ "lnk", 'l', 0777, "suid" },
	};
	for (size_t i = 0; i < N(specs); i++) {
		struct ent x = { specs[i].name, specs[i].kind, specs[i].data, specs[i].perm };
		struct archive_entry *e = ent_make(&x);
		archive_entry_set_uid(e, 1000 + i);
		archive_entry_set_gid(e, 2000 + i);
		archive_entry_set_mtime(e, 1600000000 + (time_t)i, 123456789);
		tar_write(a, e, x.data, x.kind == 'f' ? strlen(x.data) : 0);
		archive_entry_free(e);
	}
	tar_close(a);
	unpack_ok(env, tar, NULL, false);
	for (size_t i = 0; i < N(specs); i++) {
		_cleanup_free_ char *p = layer_path(env, specs[i].name);
		struct stat st = lstat_ok(p);
		if (specs[i].kind != 'l')
			assert_int_equal(st.st_mode & 07777, specs[i].perm);
		assert_int_equal(st.st_uid, 1000 + i);
		assert_int_equal(st.st_gid, 2000 + i);
		/* Directory times survive the children created after them. */
		assert_int_equal(st.st_mtim.tv_sec, 1600000000 + (time_t)i);
		assert_int_equal(st.st_mtim.tv_nsec, 123456789);
	}
	_cleanup_free_ char *fifo = layer_path(env, "fifo");
	assert_true(S_ISFIFO(lstat_ok(fifo).st_mode));
	_cleanup_free_ char *inside = layer_path(env, "ro/inside");
	assert_file_text(inside, "in a read-only dir\n");
}

static void test_xattrs(void **state)
{
	struct env *env = *state;
	_cleanup_free_ char *tar = next_tar_path(env);
	struct archive *a = tar_open(tar);
	struct ent d = { "dir/", 'd', NULL, 0 };
	struct archive_entry *e = ent_make(&d);
	archive_entry_xattr_add_entry(e, "user.role", "config", 6);
	archive_entry_xattr_add_entry(e, "trusted.overlay.opaque", "y", 1);
	tar_write(a, e, NULL, 0);
	archive_entry_free(e);
	struct ent f = { "dir/file", 'f', "x", 0 };
	e = ent_make(&f);
	archive_entry_xattr_add_entry(e, "user.greeting", "hello\0world", 11);
	archive_entry_xattr_add_entry(e, "trusted.overlay.redirect", "/etc", 4);
	tar_write(a, e, "x", 1);
	archive_entry_free(e);
	tar_close(a);
	_cleanup_free_ char *zst = zl_xasprintf("%s.zst", tar);
	compress_file(tar, zst, ZSTD);

	unpack_ok(env, zst, NULL, false);
	char buf[64];
	_cleanup_free_ char *dir = layer_path(env, "dir");
	_cleanup_free_ char *file = layer_path(env, "dir/file");
	assert_int_equal(lgetxattr(dir, "user.role", buf, sizeof(buf)), 6);
	assert_memory_equal(buf, "config", 6);
	assert_int_equal(lgetxattr(file, "user.greeting", buf, sizeof(buf)), 11);
	assert_memory_equal(buf, "hello\0world", 11);
	/* Overlay xattrs from the layer itself are dropped. */
	assert_int_equal(lgetxattr(dir, "trusted.overlay.opaque", buf, sizeof(buf)), -1);
	assert_int_equal(errno, ENODATA);
	assert_int_equal(lgetxattr(file, "trusted.overlay.redirect", buf, sizeof(buf)), -1);
	assert_int_equal(errno, ENODATA);
}

static void test_hardlink_inside_shares_inode(void **state)
{
	struct env *env = *state;
	const struct ent ents[] = {
		{ "bin/", 'd', NULL, 0 },
		{ "bin/busybox", 'f', "multi-call\n", 0755 },
		{ "bin/sh", 'h', "bin/busybox", 0 },
		{ "usr/bin/env", 'h', "./bin/busybox", 0 },
	};
	_cleanup_free_ char *blob = build_blob(env, ents, N(ents), ZSTD, NULL);
	unpack_ok(env, blob, NULL, false);
	_cleanup_free_ char *bb = layer_path(env, "bin/busybox");
	_cleanup_free_ char *sh = layer_path(env, "bin/sh");
	_cleanup_free_ char *envp = layer_path(env, "usr/bin/env");
	struct stat a = lstat_ok(bb), b = lstat_ok(sh), c = lstat_ok(envp);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_int_equal(a.st_ino, c.st_ino);
	assert_int_equal(a.st_nlink, 3);
	assert_file_text(sh, "multi-call\n");
}

/* Without allow_devices, device nodes are skipped and reported: a plain
 * debootstrap tree has /dev/console, and the runtime makes /dev anyway. */
static void test_devices_skipped(void **state)
{
	struct env *env = *state;
	const struct ent ents[] = {
		{ "dev/", 'd', NULL, 0755 },
		{ "dev/console", 'c', NULL, 0600 },
		{ "dev/null", 'c', NULL, 0666 },
		{ "sda", 'b', NULL, 0660 },
		{ "dev/fifo", 'p', NULL, 0644 },
		{ "etc/hostname", 'f', "h\n", 0644 },
	};
	_cleanup_free_ char *blob = build_blob(env, ents, N(ents), GZIP, NULL);
	struct registry_unpack_report report = { 0 };
	struct registry_unpack_opts opts = { .image_ref = "test/img", .report = &report };
	struct zl_err err = ZL_ERR_INIT;
	int r = registry_unpack_layer(blob, new_layer(env), NULL, &opts, &err);
	if (r != 0)
		print_error("%s\n", err.msg);
	assert_int_equal(r, 0);
	assert_int_equal(report.devices_skipped, 3);
	assert_string_equal(report.first_device, "dev/console");
	const char *skipped[] = { "dev/console", "dev/null", "sda" };
	for (size_t i = 0; i < N(skipped); i++) {
		_cleanup_free_ char *p = layer_path(env, skipped[i]);
		assert_false(exists(p));
	}
	_cleanup_free_ char *fifo = layer_path(env, "dev/fifo");
	assert_true(S_ISFIFO(lstat_ok(fifo).st_mode));
	_cleanup_free_ char *host = layer_path(env, "etc/hostname");
	assert_file_text(host, "h\n");
	/* Without a report, still skipped. */
	_cleanup_free_ char *blob2 = build_blob(env, ents, N(ents), PLAIN, NULL);
	unpack_ok(env, blob2, NULL, false);
	_cleanup_free_ char *console = layer_path(env, "dev/console");
	assert_false(exists(console));
}

static void test_devices_when_allowed(void **state)
{
	struct env *env = *state;
	const struct ent ents[] = {
		{ "dev/", 'd', NULL, 0 },
		{ "dev/null", 'c', NULL, 0666 },
		{ "dev/blk", 'b', NULL, 0660 },
	};
	_cleanup_free_ char *blob = build_blob(env, ents, N(ents), PLAIN, NULL);
	unpack_ok(env, blob, NULL, true);
	_cleanup_free_ char *null = layer_path(env, "dev/null");
	struct stat st = lstat_ok(null);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(major(st.st_rdev), 1);
	assert_int_equal(minor(st.st_rdev), 3);
	assert_int_equal(st.st_mode & 07777, 0666);
	_cleanup_free_ char *blk = layer_path(env, "dev/blk");
	assert_true(S_ISBLK(lstat_ok(blk).st_mode));
}

/* ---- whiteouts ---- */

static void test_whiteouts(void **state)
{
	struct env *env = *state;
	const struct ent ents[] = {
		{ "./", 'd', NULL, 0755 },
		{ ".wh.foo", 'f', "", 0 },
		{ "etc/", 'd', NULL, 0 },
		{ "etc/.wh.passwd", 'f', "", 0 },
		{ "opt/app/", 'd', NULL, 0 },
		{ "opt/app/.wh..wh..opq", 'f', "", 0 },
		{ "opt/app/new", 'f', "new\n", 0 },
		{ ".wh..wh.plnk", 'd', NULL, 0 },
		{ "var/.wh..wh..opq", 'f', "", 0 },
	};
	_cleanup_free_ char *blob = build_blob(env, ents, N(ents), GZIP, NULL);
	unpack_ok(env, blob, NULL, false);
	const char *whiteouts[] = { "foo", "etc/passwd" };
	for (size_t i = 0; i < N(whiteouts); i++) {
		_cleanup_free_ char *p = layer_path(env, whiteouts[i]);
		struct stat st = lstat_ok(p);
		assert_true(S_ISCHR(st.st_mode));
		assert_int_equal(major(st.st_rdev), 0);
		assert_int_equal(minor(st.st_rdev), 0);
		assert_int_equal(st.st_uid, 0);
	}
	_cleanup_free_ char *wh = layer_path(env, ".wh.foo");
	assert_false(exists(wh));
	_cleanup_free_ char *opq = layer_path(env, "opt/app/.wh..wh..opq");
	assert_false(exists(opq));
	_cleanup_free_ char *plnk = layer_path(env, ".wh..wh.plnk");
	assert_false(exists(plnk));
	char buf[8];
	_cleanup_free_ char *app = layer_path(env, "opt/app");
	assert_int_equal(lgetxattr(app, "trusted.overlay.opaque", buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], 'y');
	/* An opaque marker without its directory entry creates the directory. */
	_cleanup_free_ char *var = layer_path(env, "var");
	assert_int_equal(lgetxattr(var, "trusted.overlay.opaque", buf, sizeof(buf)), 1);
	_cleanup_free_ char *etc = layer_path(env, "etc");
	assert_int_equal(lgetxattr(etc, "trusted.overlay.opaque", buf, sizeof(buf)), -1);
	_cleanup_free_ char *new_file = layer_path(env, "opt/app/new");
	assert_file_text(new_file, "new\n");
}

static void test_whiteout_replaces_earlier_entry(void **state)
{
	struct env *env = *state;
	const struct ent ents[] = {
		{ "gone/", 'd', NULL, 0 },
		{ "gone/file", 'f', "x", 0 },
		{ ".wh.gone", 'f', "", 0 },
	};
	_cleanup_free_ char *blob = build_blob(env, ents, N(ents), PLAIN, NULL);
	unpack_ok(env, blob, NULL, false);
	_cleanup_free_ char *p = layer_path(env, "gone");
	assert_true(S_ISCHR(lstat_ok(p).st_mode));
}

static void test_implicit_parents_and_odd_names(void **state)
{
	struct env *env = *state;
	const struct ent ents[] = {
		{ "a/b/c", 'f', "deep\n", 0 },
		{ "./x//y/./z", 'f', "cleaned\n", 0 },
		{ "caf\xc3\xa9/na\xc3\xafve.txt", 'f', "utf-8\n", 0 },
		{ "raw\xff\xfe.bin", 'f', "bytes\n", 0 },
	};
	_cleanup_free_ char *blob = build_blob(env, ents, N(ents), PLAIN, NULL);
	/* Implicit parents are 0755 whatever the umask. */
	mode_t old = umask(077);
	unpack_ok(env, blob, NULL, false);
	umask(old);
	const char *dirs[] = { "a", "a/b", "x", "x/y" };
	for (size_t i = 0; i < N(dirs); i++) {
		_cleanup_free_ char *p = layer_path(env, dirs[i]);
		struct stat st = lstat_ok(p);
		assert_true(S_ISDIR(st.st_mode));
		assert_int_equal(st.st_mode & 07777, 0755);
	}
	_cleanup_free_ char *z = layer_path(env, "x/y/z");
	assert_file_text(z, "cleaned\n");
	_cleanup_free_ char *u = layer_path(env, "caf\xc3\xa9/na\xc3\xafve.txt");
	assert_file_text(u, "utf-8\n");
	_cleanup_free_ char *r = layer_path(env, "raw\xff\xfe.bin");
	assert_file_text(r, "bytes\n");
}

/* ---- digests and formats ---- */

static const struct ent simple[] = {
	{ "etc/", 'd', NULL, 0 },
	{ "etc/hostname", 'f', "layer\n", 0 },
	{ "bin/", 'd', NULL, 0 },
	{ "bin/tool", 'f', "#!/bin/sh\necho hi\n", 0755 },
};

static void test_formats_detected_and_diff_id_verified(void **state)
{
	struct env *env = *state;
	const enum comp comps[] = { PLAIN, GZIP, ZSTD };
	for (size_t i = 0; i < N(comps); i++) {
		char *diff_id = NULL;
		_cleanup_free_ char *blob = build_blob(env, simple, N(simple), comps[i], &diff_id);
		unpack_ok(env, blob, diff_id, false);
		_cleanup_free_ char *p = layer_path(env, "bin/tool");
		assert_file_text(p, "#!/bin/sh\necho hi\n");
		assert_int_equal(lstat_ok(p).st_mode & 07777, 0755);
		free(diff_id);
	}
}

static void test_diff_id_mismatch(void **state)
{
	struct env *env = *state;
	char *diff_id = NULL;
	_cleanup_free_ char *blob = build_blob(env, simple, N(simple), GZIP, &diff_id);
	/* The compressed blob's own digest is not the diff_id. */
	_cleanup_free_ char *wrong = file_digest(blob);
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(unpack(env, blob, wrong, false, &err), -1);
	_cleanup_free_ char *expected = zl_xasprintf("test/img: layer %s: uncompressed digest "
						     "mismatch: got %s", wrong, diff_id);
	assert_string_equal(err.msg, expected);
	free(diff_id);

	assert_int_equal(unpack(env, blob, "sha256:nothex", false, &err), -1);
	assert_contains(err.msg, "diff_id is not");
	assert_int_equal(err.kind, ZL_ERR_INPUT);
}

static void test_digest_covers_trailing_padding(void **state)
{
	struct env *env = *state;
	/* A tar with lots of zero blocks after the end marker: tar readers stop
	 * at the marker, the digest must not. */
	_cleanup_free_ char *tar = next_tar_path(env);
	struct archive *a = tar_open(tar);
	tar_add(a, &simple[1]);
	tar_close(a);
	int fd = open(tar, O_WRONLY | O_APPEND | O_CLOEXEC);
	assert_true(fd >= 0);
	char zeros[512 * 1024] = { 0 };
	assert_int_equal(write(fd, zeros, sizeof(zeros)), (ssize_t)sizeof(zeros));
	close(fd);
	_cleanup_free_ char *diff_id = file_digest(tar);
	_cleanup_free_ char *zst = zl_xasprintf("%s.zst", tar);
	compress_file(tar, zst, ZSTD);
	unpack_ok(env, zst, diff_id, false);
	unpack_ok(env, tar, diff_id, false);
}

static void test_truncated_gzip(void **state)
{
	struct env *env = *state;
	/* Incompressible content so the cut lands inside the deflate stream. */
	char noise[64 * 1024 + 1];
	uint32_t x = 12345;
	for (size_t i = 0; i < sizeof(noise) - 1; i++) {
		x = x * 1103515245 + 12345;
		noise[i] = (char)('!' + (x >> 16) % 90);
	}
	noise[sizeof(noise) - 1] = '\0';
	const struct ent ents[] = { { "noise", 'f', noise, 0 } };
	_cleanup_free_ char *blob = build_blob(env, ents, N(ents), GZIP, NULL);
	struct stat st = lstat_ok(blob);
	assert_int_equal(truncate(blob, st.st_size / 2), 0);
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(unpack(env, blob, NULL, false, &err), -1);
	assert_contains(err.msg, "test/img: layer ");
	assert_contains(err.msg, "cannot decompress");
	assert_contains(err.msg, "truncated gzip input");

	/* Cut inside the data of a big entry, after the first headers. */
	char *big = zl_xmalloc(4 << 20);
	for (size_t i = 0; i < (4u << 20) - 1; i++) {
		x = x * 1103515245 + 12345;
		big[i] = (char)('!' + (x >> 16) % 90);
	}
	big[(4 << 20) - 1] = '\0';
	const struct ent ents2[] = { { "a", 'f', "first\n", 0 }, { "big", 'f', big, 0 } };
	_cleanup_free_ char *blob2 = build_blob(env, ents2, N(ents2), GZIP, NULL);
	free(big);
	st = lstat_ok(blob2);
	assert_int_equal(truncate(blob2, st.st_size * 3 / 4), 0);
	assert_int_equal(unpack(env, blob2, NULL, false, &err), -1);
	assert_contains(err.msg, "entry \"big\": ");
	assert_contains(err.msg, "truncated gzip input");

	/* zstd too. */
	_cleanup_free_ char *zst = build_blob(env, ents, N(ents), ZSTD, NULL);
	st = lstat_ok(zst);
	assert_int_equal(truncate(zst, st.st_size / 2), 0);
	assert_int_equal(unpack(env, zst, NULL, false, &err), -1);
	assert_contains(err.msg, "cannot decompress");
}

static void test_garbage_is_not_a_layer(void **state)
{
	struct env *env = *state;
	_cleanup_free_ char *path = zl_xasprintf("%s/garbage", env->blobs);
	char junk[4096];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)(i * 7 + 3);
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(zl_write_file_atomic(path, junk, sizeof(junk), 0644, &err), 0);
	assert_int_equal(unpack(env, path, NULL, false, &err), -1);
	assert_contains(err.msg, "not a valid tar stream");

	_cleanup_free_ char *empty = zl_xasprintf("%s/empty", env->blobs);
	assert_int_equal(zl_write_file_atomic(empty, "", 0, 0644, &err), 0);
	assert_int_equal(unpack(env, empty, NULL, false, &err), -1);
	assert_contains(err.msg, "empty");

	_cleanup_free_ char *missing = zl_xasprintf("%s/missing", env->blobs);
	assert_int_equal(unpack(env, missing, NULL, false, &err), -1);
	assert_contains(err.msg, "cannot open");
}

static void test_destination_must_be_empty(void **state)
{
	struct env *env = *state;
	_cleanup_free_ char *blob = build_blob(env, simple, N(simple), PLAIN, NULL);
	const char *dest = new_layer(env);
	_cleanup_free_ char *stray = zl_xasprintf("%s/stray", dest);
	write_text(stray, "x");
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(registry_unpack_layer(blob, dest, NULL, NULL, &err), -1);
	assert_contains(err.msg, "is not empty");
}

/* ---- WebAssembly: never unpacked, checked ---- */

/* (module (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
 *  (memory 1) (export "memory" (memory 0))
 *  (func (export "_start") i32.const 7 call 0)), as tests/infra/build-wasm.py
 * writes it; node:wasi runs it and exits 7. */
static const unsigned char wasm_module[] = {
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
	0x01, 0x08, 0x02, 0x60, 0x01, 0x7f, 0x00, 0x60, 0x00, 0x00,
	0x02, 0x24, 0x01, 0x16, 'w', 'a', 's', 'i', '_', 's', 'n', 'a', 'p', 's', 'h', 'o', 't',
	'_', 'p', 'r', 'e', 'v', 'i', 'e', 'w', '1', 0x09, 'p', 'r', 'o', 'c', '_', 'e', 'x', 'i',
	't', 0x00, 0x00,
	0x03, 0x02, 0x01, 0x01,
	0x05, 0x03, 0x01, 0x00, 0x01,
	0x07, 0x13, 0x02, 0x06, 'm', 'e', 'm', 'o', 'r', 'y', 0x02, 0x00, 0x06, '_', 's', 't', 'a',
	'r', 't', 0x00, 0x01,
	0x0a, 0x08, 0x01, 0x06, 0x00, 0x41, 0x07, 0x10, 0x00, 0x0b,
};

/* A component: the preamble (version 0x0d, layer 1) and a custom section. */
static const unsigned char wasm_component[] = {
	0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00,
	0x00, 0x06, 0x04, 't', 'e', 's', 't', '!',
};

static void test_wasm_binary_kinds(void **state)
{
	(void)state;
	struct {
		const void *data;
		size_t len;
		enum registry_image_kind kind;
	} ok[] = {
		{ wasm_module, sizeof(wasm_module), REGISTRY_IMAGE_WASM_MODULE },
		{ "\0asm\1\0\0\0", 8, REGISTRY_IMAGE_WASM_MODULE },      /* no sections: valid */
		{ wasm_component, sizeof(wasm_component), REGISTRY_IMAGE_WASM_COMPONENT },
		{ "\0asm\x0d\0\1\0", 8, REGISTRY_IMAGE_WASM_COMPONENT },
		/* A section size in a padded LEB128 (5 bytes) is valid. */
		{ "\0asm\1\0\0\0\0\x82\x80\x80\x80\x00\1x", 16, REGISTRY_IMAGE_WASM_MODULE },
	};
	for (size_t i = 0; i < N(ok); i++) {
		struct zl_err err = ZL_ERR_INIT;
		enum registry_image_kind kind = REGISTRY_IMAGE_CONTAINER;
		if (registry_wasm_check(ok[i].data, ok[i].len, &kind, &err) != 0)
			fail_msg("case %zu: %s", i, err.msg);
		assert_int_equal(kind, ok[i].kind);
	}
	assert_string_equal(registry_image_kind_name(REGISTRY_IMAGE_WASM_MODULE), "wasm_module");
	assert_string_equal(registry_image_kind_name(REGISTRY_IMAGE_WASM_COMPONENT), "wasm_component");
	assert_string_equal(registry_image_kind_name(REGISTRY_IMAGE_CONTAINER), "container");
	assert_true(registry_kind_is_wasm(REGISTRY_IMAGE_WASM_COMPONENT));
	assert_false(registry_kind_is_wasm(REGISTRY_IMAGE_CONTAINER));
}

static void test_wasm_bad_binaries(void **state)
{
	(void)state;
	/* The module cut 4 bytes short: inside the code section (section 6, id
	 * 10, at byte 86, 8 bytes declared). */
	struct {
		const void *data;
		size_t len;
		const char *error;
	} bad[] = {
		{ "", 0, "empty: not a WebAssembly binary" },
		{ "\0as", 3, "truncated WebAssembly binary: 3 bytes, less than its 8-byte header" },
		{ "\0asm\1\0\0", 7, "truncated WebAssembly binary: 7 bytes, less than its 8-byte header" },
		{ wasm_module, sizeof(wasm_module) - 4,
		  "truncated WebAssembly binary: section 6 (id 10) at byte 86 declares 8 bytes, only 4 "
		  "remain (file is 92 bytes)" },
		{ "\0asm\1\0\0\0\1", 9,
		  "truncated WebAssembly binary: section 1 (id 1) at byte 8 ends inside its size" },
		{ "\0asm\1\0\0\0\1\x85", 10,
		  "truncated WebAssembly binary: section 1 (id 1) at byte 8 ends inside its size" },
		{ "\0asm\1\0\0\0\1\xff\xff\xff\xff\xff\1", 15,
		  "malformed WebAssembly binary: section 1 (id 1) at byte 8 has an invalid size" },
		{ "\0asm\1\0\0\0\1\xff\xff\xff\xff\x1f", 14,
		  "malformed WebAssembly binary: section 1 (id 1) at byte 8 has an invalid size" },
		{ "\x7f" "ELF\2\1\1\0", 8,
		  "not a WebAssembly binary: it starts with 7f 45 4c 46 02 01 01 00 (an ELF executable: "
		  "build for wasm32-wasi instead), a WebAssembly binary with 00 61 73 6d (\"\\0asm\")" },
		{ "#!/bin/sh\n", 10, "not a WebAssembly binary: it starts with 23 21 2f 62 69 6e 2f 73 (a script)" },
		{ "(module)", 8, "(WebAssembly text? compile it with wat2wasm)" },
		{ "\1", 1, "not a WebAssembly binary: it starts with 01, a WebAssembly binary" },
		{ "\0asm\2\0\0\0", 8, "unsupported WebAssembly binary version 2 (a core module is version 1)" },
		{ "\0asm\x0a\0\1\0", 8,
		  "WebAssembly component of binary version 0x0a is not supported (0x0d is the component model's)" },
	};
	for (size_t i = 0; i < N(bad); i++) {
		struct zl_err err = ZL_ERR_INIT;
		enum registry_image_kind kind = REGISTRY_IMAGE_CONTAINER;
		if (registry_wasm_check(bad[i].data, bad[i].len, &kind, &err) == 0)
			fail_msg("case %zu (\"%s\") passed the check", i, bad[i].error);
		assert_int_equal(err.kind, ZL_ERR_INPUT);
		assert_contains(err.msg, bad[i].error);
	}
}

static void test_wasm_check_file(void **state)
{
	struct env *env = *state;
	struct zl_err err = ZL_ERR_INIT;
	enum registry_image_kind kind = REGISTRY_IMAGE_CONTAINER;
	_cleanup_free_ char *mod = zl_xasprintf("%s/app.wasm", env->blobs);
	_cleanup_free_ char *comp = zl_xasprintf("%s/comp.wasm", env->blobs);
	_cleanup_free_ char *cut = zl_xasprintf("%s/cut.wasm", env->blobs);
	_cleanup_free_ char *empty = zl_xasprintf("%s/empty.wasm", env->blobs);
	_cleanup_free_ char *missing = zl_xasprintf("%s/missing.wasm", env->blobs);
	assert_int_equal(zl_write_file_atomic(mod, wasm_module, sizeof(wasm_module), 0644, &err), 0);
	assert_int_equal(zl_write_file_atomic(comp, wasm_component, sizeof(wasm_component), 0644, &err), 0);
	assert_int_equal(zl_write_file_atomic(cut, wasm_module, 20, 0644, &err), 0);
	assert_int_equal(zl_write_file_atomic(empty, "", 0, 0644, &err), 0);

	assert_int_equal(registry_wasm_check_file(mod, &kind, &err), 0);
	assert_int_equal(kind, REGISTRY_IMAGE_WASM_MODULE);
	assert_int_equal(registry_wasm_check_file(comp, &kind, &err), 0);
	assert_int_equal(kind, REGISTRY_IMAGE_WASM_COMPONENT);
	assert_int_equal(registry_wasm_check_file(cut, &kind, &err), -1);
	assert_contains(err.msg, "truncated WebAssembly binary: section 2 (id 2) at byte 18 declares 36 bytes, only 0 remain");
	assert_int_equal(registry_wasm_check_file(empty, &kind, &err), -1);
	assert_contains(err.msg, "empty");
	assert_int_equal(registry_wasm_check_file(missing, &kind, &err), -1);
	assert_int_equal(err.kind, ZL_ERR_INPUT);
	assert_contains(err.msg, "missing.wasm: no such file");
	assert_int_equal(registry_wasm_check_file(env->blobs, &kind, &err), -1);
	assert_contains(err.msg, "is not a regular file");
}

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"
#define DESC(mt, d, size) "{\"mediaType\":\"" mt "\",\"digest\":\"" d "\",\"size\":" #size "}"
#define MANIFEST(extra, config, layers) \
	"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"" extra \
	",\"config\":" config ",\"layers\":[" layers "]}"
#define IMAGE_CONFIG DESC("application/vnd.oci.image.config.v1+json", D1, 100)
#define EMPTY_CONFIG DESC("application/vnd.oci.empty.v1+json", D1, 2)

static void test_wasm_manifest_detection(void **state)
{
	(void)state;
	struct {
		const char *json;
		enum registry_image_kind kind; /* as parsed; WASM: module until the binary says */
		enum registry_image_kind declared;
		const char *module;            /* WASM: the layer picked */
		const char *signal;
	} ok[] = {
		/* A container image stays one. */
		{ MANIFEST("", IMAGE_CONFIG, DESC("application/vnd.oci.image.layer.v1.tar+gzip", D2, 10)),
		  REGISTRY_IMAGE_CONTAINER, REGISTRY_IMAGE_CONTAINER, NULL, "" },
		/* 1. artifactType, whatever the config and the layer's type. */
		{ MANIFEST(",\"artifactType\":\"application/vnd.wasm.component.v1+wasm\"", EMPTY_CONFIG,
			   DESC("application/octet-stream", D2, 10)),
		  REGISTRY_IMAGE_WASM_COMPONENT, REGISTRY_IMAGE_WASM_COMPONENT, D2,
		  "artifactType application/vnd.wasm.component.v1+wasm" },
		{ MANIFEST(",\"artifactType\":\"application/vnd.wasm.content.layer.v1+wasm\"", EMPTY_CONFIG,
			   DESC("application/octet-stream", D2, 10)),
		  REGISTRY_IMAGE_WASM_MODULE, REGISTRY_IMAGE_WASM_MODULE, D2,
		  "artifactType application/vnd.wasm.content.layer.v1+wasm" },
		{ MANIFEST(",\"artifactType\":\"application/vnd.wasm.module.v1+wasm\"", IMAGE_CONFIG,
			   DESC("application/octet-stream", D2, 10)),
		  REGISTRY_IMAGE_WASM_MODULE, REGISTRY_IMAGE_WASM_MODULE, D2, "artifactType" },
		/* 2. the config media type. */
		{ MANIFEST("", DESC("application/vnd.wasm.config.v0+json", D1, 50),
			   DESC("application/octet-stream", D2, 10)),
		  REGISTRY_IMAGE_WASM_MODULE, REGISTRY_IMAGE_CONTAINER, D2,
		  "config media type application/vnd.wasm.config.v0+json" },
		/* 3. a layer's media type; the WASM layer is the module. */
		{ MANIFEST("", IMAGE_CONFIG, DESC("application/wasm", D2, 10)),
		  REGISTRY_IMAGE_WASM_MODULE, REGISTRY_IMAGE_CONTAINER, D2,
		  "layer media type application/wasm" },
		{ MANIFEST("", IMAGE_CONFIG,
			   DESC("application/vnd.oci.image.layer.v1.tar", D2, 10) ","
			   DESC("application/wasm", D3, 20)),
		  REGISTRY_IMAGE_WASM_MODULE, REGISTRY_IMAGE_CONTAINER, D3, "layer media type" },
		{ MANIFEST("", IMAGE_CONFIG, DESC("application/vnd.wasm.content.layer.v1+wasm", D3, 20)),
		  REGISTRY_IMAGE_WASM_MODULE, REGISTRY_IMAGE_CONTAINER, D3, "layer media type" },
		/* An unrelated artifactType does not make an image something else. */
		{ MANIFEST(",\"artifactType\":\"application/vnd.example.sbom\"", IMAGE_CONFIG,
			   DESC("application/vnd.oci.image.layer.v1.tar+gzip", D2, 10)),
		  REGISTRY_IMAGE_CONTAINER, REGISTRY_IMAGE_CONTAINER, NULL, "" },
	};
	for (size_t i = 0; i < N(ok); i++) {
		struct registry_image img = { 0 };
		struct manifest_info info;
		struct zl_err err = ZL_ERR_INIT;
		if (manifest_parse_image(ok[i].json, strlen(ok[i].json), &img, &info, &err) != 0)
			fail_msg("case %zu: %s", i, err.msg);
		assert_int_equal(img.kind, ok[i].kind);
		assert_int_equal(info.declared, ok[i].declared);
		assert_contains(info.signal, ok[i].signal);
		assert_string_equal(img.config_digest, D1);
		if (ok[i].module) {
			assert_int_equal(img.layer_count, 1);
			assert_string_equal(img.layers[0].digest, ok[i].module);
			assert_null(img.layers[0].diff_id);
		}
		registry_image_clear(&img);
	}

	struct {
		const char *json;
		const char *error;
	} bad[] = {
		{ MANIFEST("", DESC("application/vnd.example.config.v1+json", D1, 5),
			   DESC("application/vnd.example.data.v1", D2, 10)),
		  "neither a container image nor a WASM artifact: config media type "
		  "\"application/vnd.example.config.v1+json\", layer media types "
		  "\"application/vnd.example.data.v1\"" },
		{ MANIFEST(",\"artifactType\":\"application/vnd.example.thing\"",
			   DESC("application/vnd.example.config.v1+json", D1, 5), ""),
		  "neither a container image nor a WASM artifact: config media type "
		  "\"application/vnd.example.config.v1+json\", layer media types none, artifactType "
		  "application/vnd.example.thing" },
		{ MANIFEST("", DESC("application/vnd.wasm.config.v0+json", D1, 5),
			   DESC("application/octet-stream", D2, 10) "," DESC("text/plain", D3, 10)),
		  "WASM artifact (config media type application/vnd.wasm.config.v0+json) with 2 layers, "
		  "none of media type application/wasm (layers: \"application/octet-stream\", "
		  "\"text/plain\"): which one is the module?" },
		{ MANIFEST("", DESC("application/vnd.wasm.config.v0+json", D1, 5), ""),
		  "with 0 layers" },
		{ MANIFEST("", IMAGE_CONFIG, "{\"mediaType\":\"application/wasm\",\"digest\":\"" D2 "\"}"),
		  "WASM module layer (" D2 "): size missing" },
	};
	for (size_t i = 0; i < N(bad); i++) {
		struct registry_image img = { 0 };
		struct zl_err err = ZL_ERR_INIT;
		if (manifest_parse_image(bad[i].json, strlen(bad[i].json), &img, NULL, &err) == 0)
			fail_msg("case %zu parsed: %s", i, bad[i].json);
		assert_contains(err.msg, bad[i].error);
		registry_image_clear(&img);
	}
}

/* An index with no entry for this platform: an entry for architecture wasm
 * is taken; one for this platform always wins. */
static void test_wasm_index_fallback(void **state)
{
	(void)state;
	const char *index =
		"{\"schemaVersion\":2,\"manifests\":["
		"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D1 "\","
		"\"size\":1,\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}},"
		"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D2 "\","
		"\"size\":1,\"platform\":{\"os\":\"wasip1\",\"architecture\":\"wasm\"}}]}";
	struct zl_err err = ZL_ERR_INIT;
	char *digest = NULL, *mt = NULL;
	assert_int_equal(manifest_select_platform(index, strlen(index), "linux", "amd64", NULL, &digest,
						  &mt, &err), 0);
	assert_string_equal(digest, D2);
	free(digest);
	free(mt);
	assert_int_equal(manifest_select_platform(index, strlen(index), "linux", "arm64", NULL, &digest,
						  &mt, &err), 0);
	assert_string_equal(digest, D1);
	free(digest);
	free(mt);
	const char *no_wasm =
		"{\"schemaVersion\":2,\"manifests\":["
		"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D1 "\","
		"\"size\":1,\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}}]}";
	assert_int_equal(manifest_select_platform(no_wasm, strlen(no_wasm), "linux", "amd64", NULL,
						  &digest, &mt, &err), -1);
	assert_contains(err.msg, "no image for platform linux/amd64 in the index (it has: linux/arm64)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hostile_layers, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_file_replaced_by_directory, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_directory_replaced_by_file, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_later_entry_wins, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_huge_sparse_file, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_modes_owners_and_times, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_xattrs, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_hardlink_inside_shares_inode, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_devices_skipped, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_devices_when_allowed, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_whiteouts, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_whiteout_replaces_earlier_entry, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_implicit_parents_and_odd_names, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_formats_detected_and_diff_id_verified, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_diff_id_mismatch, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_digest_covers_trailing_padding, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_truncated_gzip, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_garbage_is_not_a_layer, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_destination_must_be_empty, env_setup, env_teardown),
		cmocka_unit_test(test_wasm_binary_kinds),
		cmocka_unit_test(test_wasm_bad_binaries),
		cmocka_unit_test_setup_teardown(test_wasm_check_file, env_setup, env_teardown),
		cmocka_unit_test(test_wasm_manifest_detection),
		cmocka_unit_test(test_wasm_index_fallback),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
