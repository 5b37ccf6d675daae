/* fuzz_unpack.c: the layer unpacker (registry_unpack_layer) on any blob:
 * plain tar, gzip or zstd, as a registry or an OCI layout could serve it.
 *
 * Each input gets a fresh scratch tree under $TMPDIR (else /tmp):
 *   zlfuzz-unpack-PID-XXXXXX/
 *     blob                  the input
 *     canary/keep, canary/sub/
 *     a/x  a/b/x  a/b/c/x   a canary file at each level above the roots
 *     a/b/c/root1/          unpacked with openat2 resolution, no devices,
 *                           no diff_id
 *     a/b/c/root2/          unpacked with the component-by-component
 *                           resolver (kernels before 5.6), device nodes
 *                           allowed (a privileged unpack), and a diff_id
 *                           (the empty stream's) to check
 * Afterwards the whole tree is walked: nothing may exist but those entries
 * and what is under root1/ and root2/; the canaries and the blob keep
 * their type, content, mode, owner and link count. So an entry that lands
 * outside its layer (through "..", a symlink, a hardlink, a whiteout, a
 * rename) up to four levels above it is caught, and so is one that changes
 * something there. Then the tree is removed.
 *
 * A tar header carries a checksum, which almost every mutation breaks, and
 * libarchive then stops at "damaged tar archive": so the blob written is
 * the input with the checksum of every ustar header block recomputed
 * (blocks with "ustar" at offset 257; a gzip or zstd input is written as
 * it is). Mutations of names, types, sizes, link targets and pax records
 * then reach the unpacker.
 *
 * Runs as root (chown, mknod, trusted.* xattrs), like the unit test
 * tests/unit/test_unpack.c, or as a user, where those steps are skipped. */
#include "tests/fuzz/fuzz.h"

#include <dirent.h>
#include <fcntl.h>

#include "registry/registry.h"
#include "registry/unpack-internal.h"

#define CANARY_TEXT "canary\n"
#define EMPTY_DIFF_ID "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

static const char *const canary_files[] = { "canary/keep", "a/x", "a/b/x", "a/b/c/x" };
static const char *const canary_dirs[] = { "canary", "canary/sub", "a", "a/b", "a/b/c" };
static const char *const roots[] = { "a/b/c/root1", "a/b/c/root2" };

static void make(const char *base, const char *rel, bool dir)
{
	char *path = zl_xasprintf("%s/%s", base, rel);
	if (dir) {
		if (mkdir(path, 0755) < 0) {
			fprintf(stderr, "fuzz: mkdir %s: %s\n", path, strerror(errno));
			abort();
		}
	} else {
		fuzz_write_file(path, CANARY_TEXT, strlen(CANARY_TEXT));
		chmod(path, 0644);
	}
	free(path);
}

static bool listed(const char *rel)
{
	if (strcmp(rel, "blob") == 0)
		return true;
	for (size_t i = 0; i < sizeof(canary_files) / sizeof(canary_files[0]); i++)
		if (strcmp(rel, canary_files[i]) == 0)
			return true;
	for (size_t i = 0; i < sizeof(canary_dirs) / sizeof(canary_dirs[0]); i++)
		if (strcmp(rel, canary_dirs[i]) == 0)
			return true;
	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++)
		if (strcmp(rel, roots[i]) == 0)
			return true;
	return false;
}

/* Every entry of base/rel (rel "" for base itself) is one we made; recurses
 * into directories except the roots. lstat and O_NOFOLLOW only. */
static void walk(const char *base, const char *rel)
{
	char *path = rel[0] ? zl_xasprintf("%s/%s", base, rel) : zl_xstrdup(base);
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		fuzz_fail("%s is no longer a directory: %s", path, strerror(errno));
	DIR *d = fdopendir(fd);
	if (!d)
		abort();
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char *child = rel[0] ? zl_xasprintf("%s/%s", rel, e->d_name) : zl_xstrdup(e->d_name);
		if (!listed(child))
			fuzz_fail("the layer wrote outside its directory: %s/%s", base, child);
		bool is_root = false;
		for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++)
			is_root |= strcmp(child, roots[i]) == 0;
		struct stat st;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			abort();
		if (S_ISDIR(st.st_mode) && !is_root)
			walk(base, child);
		free(child);
	}
	closedir(d);
	free(path);
}

static void check_file(const char *base, const char *rel, const void *want, size_t len,
		       unsigned mode)
{
	char *path = zl_xasprintf("%s/%s", base, rel);
	struct stat st;
	if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
	    (st.st_mode & 07777) != mode || st.st_uid != geteuid() || (size_t)st.st_size != len)
		fuzz_fail("%s changed (type, links, mode, owner or size)", path);
	char *got = NULL;
	size_t got_len = 0;
	struct zl_err err = ZL_ERR_INIT;
	if (zl_read_file(path, &got, &got_len, &err) < 0 || got_len != len ||
	    (len && memcmp(got, want, len) != 0))
		fuzz_fail("%s: content changed", path);
	free(got);
	free(path);
}

static void check_dir(const char *base, const char *rel)
{
	char *path = zl_xasprintf("%s/%s", base, rel);
	struct stat st;
	if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode) || (st.st_mode & 07777) != 0755 ||
	    st.st_uid != geteuid())
		fuzz_fail("%s changed (type, mode or owner)", path);
	free(path);
}

/* Recomputes the checksum of every ustar header block of a plain tar. */
static void fix_tar_checksums(uint8_t *tar, size_t size)
{
	if (size >= 2 && tar[0] == 0x1f && tar[1] == 0x8b)
		return; /* gzip */
	if (size >= 4 && memcmp(tar, "\x28\xb5\x2f\xfd", 4) == 0)
		return; /* zstd */
	for (size_t off = 0; off + 512 <= size; off += 512) {
		uint8_t *h = tar + off;
		if (memcmp(h + 257, "ustar", 5) != 0)
			continue;
		memset(h + 148, ' ', 8);
		unsigned sum = 0;
		for (size_t i = 0; i < 512; i++)
			sum += h[i];
		char field[9];
		snprintf(field, sizeof(field), "%06o", sum & 0777777);
		memcpy(h + 148, field, 6);
		h[154] = '\0';
		h[155] = ' ';
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *fixed = malloc(size ? size : 1);
	if (!fixed)
		abort();
	if (size)
		memcpy(fixed, data, size);
	fix_tar_checksums(fixed, size);
	data = fixed;
	mode_t old_umask = umask(022);
	char *base = fuzz_mkdtemp("unpack");
	for (size_t i = 0; i < sizeof(canary_dirs) / sizeof(canary_dirs[0]); i++)
		make(base, canary_dirs[i], true);
	for (size_t i = 0; i < sizeof(canary_files) / sizeof(canary_files[0]); i++)
		make(base, canary_files[i], false);
	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++)
		make(base, roots[i], true);
	char *blob = zl_xasprintf("%s/blob", base);
	fuzz_write_file(blob, data, size);
	chmod(blob, 0644);

	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		char *root = zl_xasprintf("%s/%s", base, roots[i]);
		struct registry_unpack_report report;
		memset(&report, 0, sizeof(report));
		struct registry_unpack_opts opts = {
			.allow_devices = i == 1,
			.image_ref = "fuzz",
			.report = &report,
		};
		unpack_force_walk_resolution(i == 1);
		struct zl_err err = ZL_ERR_INIT;
		if (registry_unpack_layer(blob, root, i == 1 ? EMPTY_DIFF_ID : NULL, &opts, &err) < 0 &&
		    !err.msg[0])
			fuzz_fail("registry_unpack_layer failed without a message");
		if (report.devices_skipped && !report.first_device[0])
			fuzz_fail("%zu devices skipped, the first unnamed", report.devices_skipped);
		free(root);
	}
	unpack_force_walk_resolution(false);

	walk(base, "");
	for (size_t i = 0; i < sizeof(canary_files) / sizeof(canary_files[0]); i++)
		check_file(base, canary_files[i], CANARY_TEXT, strlen(CANARY_TEXT), 0644);
	for (size_t i = 0; i < sizeof(canary_dirs) / sizeof(canary_dirs[0]); i++)
		check_dir(base, canary_dirs[i]);
	check_file(base, "blob", data, size, 0644);

	fuzz_rm_rf(base);
	free(fixed);
	free(blob);
	free(base);
	umask(old_umask);
	return 0;
}
