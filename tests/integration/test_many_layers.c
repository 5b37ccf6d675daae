/* test_many_layers.c: images with many layers on the OCI backend. mount(2)
 * takes its options in one page, so an overlay whose lowerdir= lists every
 * layer by its absolute path fails from about 44 layers on (and the kernel
 * says ELOOP). backends/oci/host.c gives the kernel one layer at a time
 * (fsconfig "lowerdir+", Linux >= 6.8) and, without that, short names.
 *
 * The images are written by tests/infra/build-images.sh --layers (128 and 8
 * gzip layers; see there for what each layer holds) into a temp dir once per
 * program. Each test has a state root of its own and a deployment name
 * unique to this run; services use network_mode none. The tests:
 *  - a 128-layer image runs: files of its lowest and highest layer are seen,
 *    the top layer's copy of a file wins, whiteouts and an opaque directory
 *    from middle layers hide what lower layers had; rootfs.mount records the
 *    layers top first; after the rootfs is unmounted (as a reboot does) and
 *    the replica killed, the next apply restarts it on a mounted rootfs with
 *    its writable layer; delete leaves no mount.
 *  - a record of an older zlapply (mount(2)'s option string) still restores.
 *  - unit level, on this kernel: the fallback (mount(2), short names) mounts
 *    the 128 layers the same way; a rootfs.mount record mounts again through
 *    oci_rootfs_restore(); a bad record and too many layers (the kernel's 500,
 *    the fallback's page) are errors naming the directory and the counts.
 *
 * Needs root, runc, umoci (build-images.sh insists on it) and /bin/busybox
 * (exit 77, "skipped", otherwise). */
#include "oci-helpers.h"

#include "backends/oci/oci-internal.h"

#define LAYERS 128
#define SMALL 8
#define WAIT_MS 20000

static struct {
	char dir[PATH_MAX];   /* /tmp/zllayers-img-XXXXXX */
	char image[PATH_MAX]; /* dir/layers128: the OCI layout */
	char small[PATH_MAX]; /* dir/layers8 */
	char *diff_ids[LAYERS];
	int seq;
} g;

struct lt {
	struct cli_tmp tmp;
	char dep[64];
};

/* ---- zlapply with the oci backend ---- */

static int run_zl(const struct lt *t, const char *const *args, char **out, char **err)
{
	return oci_test_run(OCI_FLAGS_AFTER_VERB, &(struct oci_test_flags){ .root = t->tmp.root },
			    NULL, args, out, err);
}

#define ZL(t, out, err, ...) run_zl((t), (const char *const[]){ __VA_ARGS__, NULL }, (out), (err))

/* Writes and applies a one-service spec from image; returns apply's stdout. */
static char *apply_image(const struct lt *t, const char *image)
{
	char path[PATH_MAX], text[2 * PATH_MAX];
	snprintf(text, sizeof(text),
		 "version: v1\ndeployment: %s\nservices:\n"
		 "  many:\n"
		 "    image: {name: \"oci:%s:1.0\", pull_policy: if_not_present}\n"
		 "    network_mode: none\n"
		 "    stop_grace_period: 2s\n"
		 "    scale: {mode: fixed, replicas: 1}\n",
		 t->dep, image);
	cli_write_file(cli_path(&t->tmp, "spec.yaml", path), text);
	char *out = NULL, *err = NULL;
	int code = ZL(t, &out, &err, "apply", "-f", path);
	assert_exit(code, 0, out, err);
	free(err);
	return out;
}

/* `status -o json`, parsed (NULL when it is not JSON). */
static cJSON *status_of(const void *ctx)
{
	const struct lt *t = ctx;
	char *out = NULL, *err = NULL;
	int code = ZL(t, &out, &err, "status", "-o", "json");
	assert_exit(code, 0, out, err);
	cJSON *doc = cJSON_Parse(out);
	free(out);
	free(err);
	return doc;
}

/* Waits until the replica is in state; returns its restarts. */
static int wait_state(const struct lt *t, const char *want)
{
	return oci_test_wait_state(status_of, t, t->dep, "many", 1, want, false, WAIT_MS, 50)
		.restarts;
}

/* What `exec many-rep-1 -- sh -c cmd` prints; it must exit 0. */
static char *exec_sh(const struct lt *t, const char *cmd)
{
	char *out = NULL, *err = NULL;
	int code = ZL(t, &out, &err, "exec", "many-rep-1", "--", "sh", "-c", cmd);
	assert_exit(code, 0, out, err);
	free(err);
	return out;
}

static void assert_exec(const struct lt *t, const char *cmd, const char *want)
{
	char *out = exec_sh(t, cmd);
	if (strcmp(out, want) != 0)
		fail_msg("exec %s: expected\n%s\ngot\n%s", cmd, want, out);
	free(out);
}

/* ---- what the host shows ---- */

/* The mountinfo line of mount point mp, or NULL. Caller frees. */
static char *mountinfo_of(const char *mp)
{
	char *text = cli_read_file("/proc/self/mountinfo");
	assert_non_null(text);
	char needle[PATH_MAX + 2];
	snprintf(needle, sizeof(needle), " %s ", mp);
	char *found = NULL;
	for (char *line = strtok(text, "\n"); line && !found; line = strtok(NULL, "\n"))
		if (strstr(line, needle))
			found = strdup(line);
	free(text);
	return found;
}

static void assert_mounts(const char *root, const char *want)
{
	char *m = oci_test_mounts_under(root);
	if (strcmp(m, want) != 0)
		fail_msg("mounts under %s: expected\n%sgot\n%s", root, want, m);
	free(m);
}

static char *ctr_dir(const struct lt *t, char out[PATH_MAX])
{
	return cli_pathf(out, "%s/containers/zl-%s-many-1", t->tmp.root, t->dep);
}

static char *layer_dir(const struct lt *t, int i, char out[PATH_MAX])
{
	return cli_pathf(out, "%s/layers/%s", t->tmp.root, g.diff_ids[i] + strlen("sha256:"));
}

/* Names in dir, sorted, one a line. Caller frees. */
static char *list_dir(const char *dir)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	if (n < 0)
		fail_msg("scandir %s: %s", dir, strerror(errno));
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	for (int i = 0; i < n; i++) {
		if (strcmp(names[i]->d_name, ".") != 0 && strcmp(names[i]->d_name, "..") != 0)
			fprintf(f, "%s\n", names[i]->d_name);
		free(names[i]);
	}
	free(names);
	fclose(f);
	return buf;
}

static void assert_file(const char *path, const char *want)
{
	char *text = cli_read_file(path);
	if (!text || strcmp(text, want) != 0)
		fail_msg("%s: expected \"%s\", got \"%s\"", path, want, text ? text : "(unreadable)");
	free(text);
}

/* ---- setup and teardown ---- */

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[4 * PATH_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static int group_setup(void **state)
{
	(void)state;
	snprintf(g.dir, sizeof(g.dir), "/tmp/zllayers-img-XXXXXX");
	if (!mkdtemp(g.dir))
		return -1;
	const char *src = oci_test_source_root();
	int64_t start = cli_mono_ms();
	if (sh("'%s/tests/infra/build-images.sh' --layers '%s' %d", src, g.dir, LAYERS) != 0 ||
	    sh("'%s/tests/infra/build-images.sh' --layers '%s' %d", src, g.dir, SMALL) != 0) {
		fprintf(stderr, "building the test images failed\n");
		return -1;
	}
	print_message("built the %d- and %d-layer images in %lld ms\n", LAYERS, SMALL,
		      (long long)(cli_mono_ms() - start));
	cli_pathf(g.image, "%s/layers%d", g.dir, LAYERS);
	cli_pathf(g.small, "%s/layers%d", g.dir, SMALL);
	char path[PATH_MAX];
	char *text = cli_read_file(cli_pathf(path, "%s/layers%d.json", g.dir, LAYERS));
	cJSON *info = text ? cJSON_Parse(text) : NULL;
	cJSON *ids = cJSON_GetObjectItemCaseSensitive(info, "diff_ids");
	int i = 0;
	cJSON *id;
	cJSON_ArrayForEach(id, ids)
	{
		if (i < LAYERS && cJSON_IsString(id))
			g.diff_ids[i++] = strdup(id->valuestring);
	}
	cJSON_Delete(info);
	free(text);
	if (i != LAYERS) {
		fprintf(stderr, "%s/layers%d.json does not list %d diff_ids\n", g.dir, LAYERS, LAYERS);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	for (int i = 0; i < LAYERS; i++)
		free(g.diff_ids[i]);
	cli_rm_rf(g.dir);
	return 0;
}

static int setup(void **state)
{
	struct lt *t = calloc(1, sizeof(*t));
	if (!t || oci_test_case_open(&t->tmp, "/tmp/zllayers-XXXXXX", t->dep, sizeof(t->dep), "zm",
				     ++g.seq) < 0) {
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

/* Deletes the deployment (killing what runs first: the image's shell exits
 * on SIGTERM, so this is only for speed); a mount left anywhere under the
 * test's directory fails the test and is removed. */
static int teardown(void **state)
{
	struct lt *t = *state;
	int ret = 0;
	ZL(t, NULL, NULL, "kill", "many-rep-1", "-d", t->dep);
	char *out = NULL, *err = NULL;
	int code = ZL(t, &out, &err, "delete", "-d", t->dep);
	if (code != 0) {
		fprintf(stderr, "teardown: delete -d %s: exit %d\n%s%s", t->dep, code, out, err);
		ret = -1;
	}
	free(out);
	free(err);
	if (oci_test_unmount_left(t->tmp.dir))
		ret = -1;
	cli_tmp_remove(&t->tmp);
	free(t);
	return ret;
}

/* ---- 1. 128 layers, end to end ---- */

static void test_many_layers_run_restore_delete(void **state)
{
	struct lt *t = *state;
	int64_t start = cli_mono_ms();
	char *out = apply_image(t, g.image);
	assert_contains(out, "+ create many-rep-1");
	free(out);
	wait_state(t, "running");
	print_message("%d-layer image pulled, unpacked and running in %lld ms\n", LAYERS,
		      (long long)(cli_mono_ms() - start));

	/* The lowest and the highest layer, and the top's copy of a file all
	 * layers write. */
	char want[256];
	snprintf(want, sizeof(want), "first layer 1\nlast layer %d\n%d\n", LAYERS, LAYERS);
	assert_exec(t, "cat /layers/first /layers/last /layers/shadow", want);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "ls /layers | wc -l; cat /layers/2 /layers/%d", LAYERS / 2);
	snprintf(want, sizeof(want), "%d\nlayer 2\nlayer %d\n", LAYERS + 2, LAYERS / 2);
	assert_exec(t, cmd, want);
	/* Whiteouts across layers: layer 64 removes layer 1's base-gone and makes
	 * opaque/ opaque (layer 1's old is gone, its own new stays); layer 126
	 * removes layer 3's mid-gone. */
	assert_exec(t, "ls -A /wh; ls -A /wh/opaque", "opaque\nnew\n");
	assert_exec(t, "test ! -e /wh/base-gone && test ! -e /wh/mid-gone && echo gone", "gone\n");

	/* The record: every layer, top first, one line each. */
	char dir[PATH_MAX], path[PATH_MAX], rootfs[PATH_MAX];
	ctr_dir(t, dir);
	cli_pathf(rootfs, "%s/rootfs", dir);
	char *rec = cli_read_file(cli_pathf(path, "%s/rootfs.mount", dir));
	assert_non_null(rec);
	char *expect = NULL;
	size_t elen = 0;
	FILE *f = open_memstream(&expect, &elen);
	for (int i = LAYERS; i-- > 0;)
		fprintf(f, "lowerdir+=%s\n", layer_dir(t, i, path));
	fprintf(f, "upperdir=%s/upper\nworkdir=%s/work\n", dir, dir);
	fclose(f);
	assert_string_equal(rec, expect);
	free(rec);
	free(expect);
	char line[PATH_MAX + 8];
	snprintf(line, sizeof(line), "%s\n", rootfs);
	assert_mounts(t->tmp.root, line);

	/* A reboot takes the mount: unmounted under the running replica, which
	 * is then killed; its restart policy starts it again, on its rootfs
	 * mounted again, with its writable layer. */
	assert_exec(t, "echo kept > /tmp/kept && echo ok", "ok\n");
	assert_int_equal(umount2(rootfs, MNT_DETACH), 0);
	assert_mounts(t->tmp.root, "");
	char *err = NULL;
	int code = ZL(t, &out, &err, "kill", "many-rep-1");
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	wait_state(t, "exited");
	out = apply_image(t, g.image);
	assert_contains(out, "> restart many-rep-1");
	free(out);
	assert_int_equal(wait_state(t, "running"), 1);
	assert_mounts(t->tmp.root, line);
	snprintf(want, sizeof(want), "kept\nfirst layer 1\nlast layer %d\nopaque\nnew\n", LAYERS);
	assert_exec(t, "cat /tmp/kept /layers/first /layers/last; ls -A /wh /wh/opaque | grep -v :$ | grep .",
		    want);

	/* Delete: the replica, its mount and its directory go. */
	code = ZL(t, &out, &err, "delete", "-d", t->dep);
	assert_exit(code, 0, out, err);
	assert_contains(out, "- remove many-rep-1");
	free(out);
	free(err);
	assert_mounts(t->tmp.root, "");
	assert_true(access(dir, F_OK) < 0);
	/* The layers are the image's, not the replica's: still there. */
	assert_int_equal(access(layer_dir(t, 0, path), F_OK), 0);
	print_message("the whole test took %lld ms\n", (long long)(cli_mono_ms() - start));
}

/* ---- 2. a record of an older zlapply ---- */

static void test_old_record_restores(void **state)
{
	struct lt *t = *state;
	free(apply_image(t, g.small));
	wait_state(t, "running");
	char dir[PATH_MAX], path[PATH_MAX], rootfs[PATH_MAX];
	ctr_dir(t, dir);
	cli_pathf(rootfs, "%s/rootfs", dir);
	/* What earlier versions wrote: mount(2)'s options, top layer first. */
	char *rec = cli_read_file(cli_pathf(path, "%s/rootfs.mount", dir));
	assert_non_null(rec);
	char *old = NULL;
	size_t olen = 0;
	FILE *f = open_memstream(&old, &olen);
	fputs("lowerdir=", f);
	int n = 0;
	for (char *l = strtok(rec, "\n"); l; l = strtok(NULL, "\n"))
		if (strncmp(l, "lowerdir+=", 10) == 0)
			fprintf(f, "%s%s", n++ ? ":" : "", l + 10);
	fprintf(f, ",upperdir=%s/upper,workdir=%s/work", dir, dir);
	fclose(f);
	free(rec);
	assert_int_equal(n, SMALL);
	cli_write_file(path, old);
	free(old);

	char *out = NULL, *err = NULL;
	int code = ZL(t, &out, &err, "kill", "many-rep-1");
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	wait_state(t, "exited");
	assert_int_equal(umount2(rootfs, MNT_DETACH), 0);
	out = apply_image(t, g.small);
	assert_contains(out, "> restart many-rep-1");
	free(out);
	wait_state(t, "running");
	char line[PATH_MAX + 8], want[128];
	snprintf(line, sizeof(line), "%s\n", rootfs);
	assert_mounts(t->tmp.root, line);
	snprintf(want, sizeof(want), "first layer 1\nlast layer %d\n", SMALL);
	assert_exec(t, "cat /layers/first /layers/last", want);
}

/* ---- 3. unit level: the fallback, the record, the limits ---- */

/* A directory like a container's: upper, work, rootfs. */
static void make_ctr_dir(const char *dir)
{
	const char *subs[] = { "", "/upper", "/work", "/rootfs" };
	for (size_t i = 0; i < 4; i++) {
		char p[PATH_MAX];
		if (mkdir(cli_pathf(p, "%s%s", dir, subs[i]), 0755) < 0 && errno != EEXIST)
			fail_msg("mkdir %s: %s", p, strerror(errno));
	}
}

/* What the 128 layers show through dir/rootfs, seen from the host. */
static void assert_layers_seen(const char *dir)
{
	char p[PATH_MAX], want[64];
	assert_file(cli_pathf(p, "%s/rootfs/layers/first", dir), "first layer 1\n");
	snprintf(want, sizeof(want), "last layer %d\n", LAYERS);
	assert_file(cli_pathf(p, "%s/rootfs/layers/last", dir), want);
	snprintf(want, sizeof(want), "%d\n", LAYERS);
	assert_file(cli_pathf(p, "%s/rootfs/layers/shadow", dir), want);
	char *names = list_dir(cli_pathf(p, "%s/rootfs/wh", dir));
	assert_string_equal(names, "opaque\n");
	free(names);
	names = list_dir(cli_pathf(p, "%s/rootfs/wh/opaque", dir));
	assert_string_equal(names, "new\n");
	free(names);
	names = list_dir(cli_pathf(p, "%s/rootfs/layers", dir));
	assert_int_equal(cli_count_lines(names), LAYERS + 2);
	free(names);
}

static void unmount(const char *dir)
{
	char p[PATH_MAX];
	assert_int_equal(umount2(cli_pathf(p, "%s/rootfs", dir), MNT_DETACH), 0);
}

static void test_fallback_record_and_limits(void **state)
{
	struct lt *t = *state;
	/* The image's layers, unpacked by zlapply. */
	char ref[PATH_MAX + 16];
	snprintf(ref, sizeof(ref), "oci:%s:1.0", g.image);
	char *out = NULL, *err = NULL;
	int code = ZL(t, &out, &err, "pull", "-q", ref);
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	char *lower[LAYERS];
	for (int i = 0; i < LAYERS; i++) {
		char p[PATH_MAX];
		lower[i] = strdup(layer_dir(t, i, p));
	}
	char dir[PATH_MAX], upper[PATH_MAX], work[PATH_MAX], rootfs[PATH_MAX], path[PATH_MAX];
	cli_path(&t->tmp, "ctr", dir);
	cli_pathf(upper, "%s/upper", dir);
	cli_pathf(work, "%s/work", dir);
	cli_pathf(rootfs, "%s/rootfs", dir);
	make_ctr_dir(dir);
	struct zl_err zerr = ZL_ERR_INIT;

	/* The fallback, forced: mount(2) with the options in one page. */
	if (oci_overlay_mount(dir, (const char *const *)lower, LAYERS, upper, work,
			      OCI_OVERLAY_SHORT_NAMES, &zerr) < 0)
		fail_msg("short names: %s", zerr.msg);
	char *mi = mountinfo_of(rootfs);
	assert_non_null(mi);
	char want[64];
	snprintf(want, sizeof(want), "lowerdir=l/%d:l/%d:", LAYERS - 1, LAYERS - 2);
	assert_contains(mi, want);
	assert_contains(mi, ":l/1:l/0,upperdir=upper,workdir=work");
	free(mi);
	assert_layers_seen(dir);
	char target[PATH_MAX] = "";
	assert_true(readlink(cli_pathf(path, "%s/l/0", dir), target, sizeof(target) - 1) > 0);
	assert_string_equal(target, lower[0]);
	unmount(dir);

	/* The default way on this kernel: one "lowerdir+" a layer. */
	if (oci_overlay_mount(dir, (const char *const *)lower, LAYERS, upper, work,
			      OCI_OVERLAY_AUTO, &zerr) < 0)
		fail_msg("auto: %s", zerr.msg);
	mi = mountinfo_of(rootfs);
	assert_non_null(mi);
	assert_contains(mi, cli_pathf(path, "lowerdir+=%s,", lower[LAYERS - 1]));
	free(mi);
	assert_layers_seen(dir);
	unmount(dir);

	/* The switch to the fallback, on this kernel: fsconfig takes no value of
	 * 256 bytes or more (EINVAL, as where "lowerdir+" is unknown), so a
	 * layer with a long path goes to mount(2) with short names. */
	char seg[201], longdir[PATH_MAX];
	memset(seg, 'x', 200);
	seg[200] = '\0';
	cli_pathf(longdir, "%s/%s", t->tmp.dir, seg);
	assert_int_equal(mkdir(longdir, 0755), 0);
	cli_pathf(longdir, "%s/%s/%s", t->tmp.dir, seg, seg);
	assert_int_equal(mkdir(longdir, 0755), 0);
	cli_write_file(cli_pathf(path, "%s/long", longdir), "long\n");
	const char *plus_long[LAYERS + 1];
	for (int i = 0; i < LAYERS; i++)
		plus_long[i] = lower[i];
	plus_long[LAYERS] = longdir;
	if (oci_overlay_mount(dir, plus_long, LAYERS + 1, upper, work, OCI_OVERLAY_AUTO, &zerr) < 0)
		fail_msg("auto with a long path: %s", zerr.msg);
	mi = mountinfo_of(rootfs);
	assert_non_null(mi);
	snprintf(want, sizeof(want), "lowerdir=l/%d:l/%d:", LAYERS, LAYERS - 1);
	assert_contains(mi, want);
	free(mi);
	assert_file(cli_pathf(path, "%s/rootfs/long", dir), "long\n");
	assert_file(cli_pathf(path, "%s/rootfs/layers/first", dir), "first layer 1\n");
	unmount(dir);

	/* A record of this version mounts again through restore (and a mounted
	 * rootfs is left alone). */
	FILE *f = fopen(cli_pathf(path, "%s/rootfs.mount", dir), "w");
	assert_non_null(f);
	for (int i = LAYERS; i-- > 0;)
		fprintf(f, "lowerdir+=%s\n", lower[i]);
	fprintf(f, "upperdir=%s\nworkdir=%s\n", upper, work);
	fclose(f);
	if (oci_rootfs_restore(dir, &zerr) < 0)
		fail_msg("restore: %s", zerr.msg);
	assert_layers_seen(dir);
	if (oci_rootfs_restore(dir, &zerr) < 0)
		fail_msg("restore when mounted: %s", zerr.msg);
	unmount(dir);
	assert_mounts(t->tmp.dir, "");

	/* A record it cannot read: an error naming the file and the line. */
	cli_write_file(path, "lowerdir+=/x\nbogus=1\n");
	assert_int_equal(oci_rootfs_restore(dir, &zerr), -1);
	assert_contains(zerr.msg, path);
	assert_contains(zerr.msg, "line 2");
	cli_write_file(path, "upperdir=/x\n");
	assert_int_equal(oci_rootfs_restore(dir, &zerr), -1);
	assert_contains(zerr.msg, "lowerdir+=");

	/* More than overlayfs stacks (500): the kernel's words, the directory
	 * and the count; nothing is mounted. */
	enum { TOO_MANY = 501 };
	char **empty = calloc(TOO_MANY, sizeof(*empty));
	for (int i = 0; i < TOO_MANY; i++) {
		char p[PATH_MAX];
		empty[i] = strdup(cli_pathf(p, "%s/empty/%d", t->tmp.dir, i));
		if (i == 0)
			mkdir(cli_pathf(p, "%s/empty", t->tmp.dir), 0755);
		assert_int_equal(mkdir(empty[i], 0755), 0);
	}
	assert_int_equal(oci_overlay_mount(dir, (const char *const *)empty, TOO_MANY, upper, work,
					   OCI_OVERLAY_AUTO, &zerr),
			 -1);
	print_message("%d layers: %s\n", TOO_MANY, zerr.msg);
	assert_contains(zerr.msg, dir);
	assert_contains(zerr.msg, "(501 layers)");
	assert_contains(zerr.msg, "limit is 500");
	/* explained by overlayfs: no second try with mount(2) */
	if (strstr(zerr.msg, "fallback"))
		fail_msg("an error overlayfs explained was tried again: %s", zerr.msg);
	assert_mounts(t->tmp.dir, "");

	/* The fallback's own limit, before it asks the kernel: one page of
	 * options. */
	enum { HUGE = 1000 };
	const char **same = calloc(HUGE, sizeof(*same));
	for (int i = 0; i < HUGE; i++)
		same[i] = empty[i % TOO_MANY];
	assert_int_equal(oci_overlay_mount(dir, same, HUGE, upper, work, OCI_OVERLAY_SHORT_NAMES,
					   &zerr),
			 -1);
	print_message("%d layers, fallback: %s\n", HUGE, zerr.msg);
	assert_contains(zerr.msg, dir);
	assert_contains(zerr.msg, "has 1000 layers");
	assert_contains(zerr.msg, "hold at most");
	assert_mounts(t->tmp.dir, "");
	free(same);
	for (int i = 0; i < TOO_MANY; i++)
		free(empty[i]);
	free(empty);
	for (int i = 0; i < LAYERS; i++)
		free(lower[i]);
}

int main(void)
{
	if (geteuid() != 0 || !oci_test_have("runc") || !oci_test_have("umoci") ||
	    access("/bin/busybox", X_OK) < 0) {
		fprintf(stderr, "test_many_layers: needs root, runc, umoci and /bin/busybox; skipped\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_many_layers_run_restore_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_old_record_restores, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fallback_record_and_limits, setup, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
