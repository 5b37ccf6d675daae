/* test_spec_bounds.c: the limits of what a spec load reads (spec.h,
 * docs/spec-reference.md "Limits"), each with its exact message, place and
 * key path, and the inputs a hostile user found accepted or slow before:
 * deep nesting (quadratic in libyaml's scanner), endless or huge input,
 * NUL bytes that C strings would silently cut, FIFOs and devices given as
 * spec files or secrets (a FIFO blocked the run forever), aliases that
 * multiply a small file, and shapes whose checks were quadratic (many
 * anchors, documents, unknown names, duplicates). Also the interrupt flag
 * `watch` uses to stop a load on SIGTERM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "spec-helpers.h" /* diags_text */

#define HEAD "version: v1\ndeployment: test-app\nservices:\n"
#define SVC HEAD "  api:\n    image: nginx\n"

/* Time bounds are generous (sanitizer builds, a busy machine): the inputs
 * they guard took 4 to 110 s before the limits. */
#define HANG_MS 30000

/* The end of a refusal: where a stream should go. */
#define REFUSED_END " (a stream goes to -f -, stdin)"

static char tmpdir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_spec_bounds.XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	/* A regression that blocks on a FIFO must fail, not hang. */
	alarm(120);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	alarm(0);
	spec_set_interrupt_flag(NULL);
	struct zl_err err = ZL_ERR_INIT;
	return zl_rm_rf(tmpdir, &err);
}

struct loaded {
	struct spec_set set;
	struct spec_diags diags;
	int rc;
};

static void load_len(struct loaded *l, const char *file, const char *text, size_t len)
{
	memset(l, 0, sizeof(*l));
	l->rc = spec_load_text(file, text, len, &l->set, &l->diags);
}

static void load(struct loaded *l, const char *text) { load_len(l, "t.yaml", text, strlen(text)); }

static void load_paths(struct loaded *l, const char *const *paths, size_t count)
{
	memset(l, 0, sizeof(*l));
	l->rc = spec_load_paths(paths, count, &l->set, &l->diags);
}

static void unload(struct loaded *l)
{
	spec_set_free(&l->set);
	spec_diags_free(&l->diags);
}

/* The load printed exactly want ("FILE:LINE:COL: PATH: MSG\n" lines). */
static void expect_diags(struct loaded *l, const char *want)
{
	char *got = diags_text(&l->diags);
	if (strcmp(got, want) != 0)
		fail_msg("diagnostics differ\n--- want:\n%s--- got:\n%.4000s", want, got);
	free(got);
	assert_int_equal(l->rc, -1);
}

/* As expect_diags for exactly one error line. (How fast: bench/spec-bounds.sh;
 * speed is measured there, side by side, not timed here.) */
static void expect_one(struct loaded *l, const char *want)
{
	expect_diags(l, want);
	assert_int_equal(l->diags.errors, 1);
}

static char *tmp_path(const char *name) { return zl_xasprintf("%s/%s", tmpdir, name); }

static void write_file(const char *path, const char *text, size_t len)
{
	struct zl_err err = ZL_ERR_INIT;
	if (zl_write_file_atomic(path, text, len, 0600, &err) < 0)
		fail_msg("%s", err.msg);
}

/* ---- nesting ---- */

/* text + n times open + n times close, as one flow value of externals.x. */
static char *nested(size_t n, const char *open, const char *close)
{
	struct zl_buf b = { 0 };
	zl_buf_puts(&b, "version: v1\ndeployment: deep-app\nservices: {}\nexternals: {x: ");
	for (size_t i = 0; i < n; i++)
		zl_buf_puts(&b, open);
	zl_buf_puts(&b, "1");
	for (size_t i = 0; i < n; i++)
		zl_buf_puts(&b, close);
	zl_buf_puts(&b, "}\n");
	return zl_buf_steal(&b);
}

static void test_depth_limit(void **state)
{
	(void)state;
	/* The root mapping is level 1, externals' mapping 2: 62 lists more
	 * make 64 levels, the most; the 63rd list is level 65. */
	struct loaded l;
	_cleanup_free_ char *ok = nested(62, "[", "]");
	load(&l, ok);
	assert_int_equal(l.diags.errors, 0);
	assert_int_equal(l.rc, 0);
	unload(&l);

	struct zl_buf path = { 0 };
	zl_buf_puts(&path, "externals.x");
	for (int i = 0; i < 62; i++)
		zl_buf_puts(&path, "[0]");
	_cleanup_free_ char *deep = nested(63, "[", "]");
	_cleanup_free_ char *want = zl_xasprintf(
		"t.yaml:4:%d: %s: lists and mappings nested deeper than 64 levels, the most a spec can have\n",
		15 + 63, path.data);
	load(&l, deep);
	expect_one(&l, want);
	unload(&l);
	zl_buf_free(&path);

	/* Mappings, flow: the file, 100k levels in 0.5 MB (54 s before:
	 * libyaml's scanner is quadratic in flow depth). Reading stops at the
	 * 65th level. */
	zl_buf_puts(&path, "externals.x");
	for (int i = 0; i < 62; i++)
		zl_buf_puts(&path, ".a");
	_cleanup_free_ char *bomb = nested(100000, "{a: ", "}");
	free(want);
	want = zl_xasprintf("t.yaml:4:%d: %s: lists and mappings nested deeper than 64 levels, the most a "
			    "spec can have\n", 15 + 62 * 4 + 1, path.data);
	load(&l, bomb);
	expect_one(&l, want);
	unload(&l);
	zl_buf_free(&path);

	/* Block style counts the same. */
	struct zl_buf block = { 0 };
	zl_buf_puts(&block, "version: v1\ndeployment: deep-app\nservices: {}\nexternals:\n");
	for (int i = 0; i < 70; i++)
		zl_buf_printf(&block, "%*sk:\n", i + 1, "");
	zl_buf_printf(&block, "%*sv\n", 71, "");
	load(&l, block.data);
	/* externals' mapping (level 2) is on line 5; the mapping that is
	 * level 65 starts on line 5 + 63. */
	zl_buf_puts(&path, "externals");
	for (int i = 0; i < 63; i++)
		zl_buf_puts(&path, ".k");
	free(want);
	want = zl_xasprintf("t.yaml:68:65: %s: lists and mappings nested deeper than 64 levels, the most a "
			    "spec can have\n", path.data);
	expect_one(&l, want);
	unload(&l);
	zl_buf_free(&path);
	zl_buf_free(&block);
}

/* ---- size ---- */

/* n bytes of comment lines of 64 bytes each (n a multiple of 64). */
static char *comments(size_t n)
{
	char *text = zl_xmalloc(n + 1);
	for (size_t i = 0; i < n; i += 64) {
		memset(text + i, 'x', 63);
		text[i] = '#';
		text[i + 63] = '\n';
	}
	text[n] = '\0';
	return text;
}

static void test_size_limit(void **state)
{
	(void)state;
	assert_int_equal(SPEC_MAX_FILE_BYTES, 16 << 20);
	/* Exactly the limit is read: comments only, so a note. */
	_cleanup_free_ char *text = comments(SPEC_MAX_FILE_BYTES + 64);
	struct loaded l;
	load_len(&l, "t.yaml", text, SPEC_MAX_FILE_BYTES);
	assert_int_equal(l.rc, 0);
	assert_int_equal(l.diags.errors, 0);
	unload(&l);
	/* One byte more is refused, at the byte past the limit: the first of
	 * line 16 MiB / 64 + 1. */
	load_len(&l, "t.yaml", text, SPEC_MAX_FILE_BYTES + 1);
	expect_one(&l, "t.yaml:262145:1: the file goes on past 16 MiB (16777216 bytes), the most a spec file can be\n");
	unload(&l);

	/* A file: read up to one byte past the limit, not to its end. */
	_cleanup_free_ char *big = tmp_path("big.yaml");
	write_file(big, text, SPEC_MAX_FILE_BYTES + 64);
	const char *paths[] = { big };
	load_paths(&l, paths, 1);
	_cleanup_free_ char *want = zl_xasprintf("%s:262145:1: the file goes on past 16 MiB (16777216 bytes), "
						 "the most a spec file can be\n", big);
	expect_one(&l, want);
	unload(&l);

	/* stdin (-f -) is allowed and capped the same way. */
	assert_non_null(freopen(big, "r", stdin));
	const char *dash[] = { "-" };
	load_paths(&l, dash, 1);
	expect_one(&l, "-:262145:1: the input goes on past 16 MiB (16777216 bytes), the most a spec file can be\n");
	unload(&l);
	assert_non_null(freopen("/dev/null", "r", stdin));
}

static void test_node_and_text_limits(void **state)
{
	(void)state;
	/* 1,000,000 nodes are fine: 11 around the list, the rest in it. */
	size_t items = SPEC_MAX_NODES - 11;
	struct zl_buf b = { 0 };
	zl_buf_puts(&b, "version: v1\ndeployment: wide-app\nservices: {}\nexternals: {x: [");
	for (size_t i = 0; i < items; i++)
		zl_buf_puts(&b, i ? ",a" : "a");
	zl_buf_puts(&b, "]}\n");
	struct loaded l;
	load(&l, b.data);
	assert_int_equal(l.diags.errors, 0);
	unload(&l);
	/* One more is refused, at that node. */
	b.len -= 3;
	zl_buf_puts(&b, ",b]}\n");
	load(&l, b.data);
	_cleanup_free_ char *want = zl_xasprintf(
		"t.yaml:4:%zu: externals.x[%zu]: the file has more than 1000000 nodes (lists, mappings and "
		"scalars, counting what aliases repeat), the most a spec can have\n", 17 + 2 * items, items);
	expect_one(&l, want);
	unload(&l);
	zl_buf_free(&b);

	/* A billion laughs: ten aliases of ten aliases ... (10^10 nodes in 600
	 * bytes) stop where the count passes the limit. */
	zl_buf_puts(&b, "version: v1\ndeployment: laughs\nservices: {}\nexternals:\n  l0: &l0 [a, a, a, a, a, a, a, a, a, a]\n");
	for (int i = 1; i < 10; i++)
		zl_buf_printf(&b, "  l%d: &l%d [*l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d]\n",
			      i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
	load(&l, b.data);
	/* l4 holds 111,111 nodes and there are 123,471 before l5's first
	 * alias: its 8th passes 1,000,000. */
	expect_one(&l, "t.yaml:10:47: externals.l5[7]: the file has more than 1000000 nodes (lists, "
		       "mappings and scalars, counting what aliases repeat), the most a spec can have\n");
	unload(&l);
	zl_buf_free(&b);

	/* Text: a 1 MiB scalar repeated by aliases passes 32 MiB at the 31st
	 * copy (with the 50 bytes of the other scalars). */
	zl_buf_puts(&b, "version: v1\ndeployment: texts\nservices: {}\nexternals:\n  big: &b ");
	for (size_t i = 0; i < (1 << 20); i++)
		zl_buf_puts(&b, "x");
	zl_buf_puts(&b, "\n  copies:\n");
	for (int i = 0; i < 40; i++)
		zl_buf_puts(&b, "    - *b\n");
	load(&l, b.data);
	expect_one(&l, "t.yaml:37:7: externals.copies[30]: the file has more than 32 MiB of scalar text "
		       "(counting what aliases repeat), the most a spec can have\n");
	unload(&l);
	zl_buf_free(&b);

	/* A few aliases of a template stay fine, as before. */
	load(&l, HEAD "  a: &svc\n    image: nginx\n    env: { A: \"1\" }\n  b: *svc\n  c: *svc\n");
	assert_int_equal(l.rc, 0);
	assert_int_equal(l.set.deployments[0].service_count, 3);
	unload(&l);
}

/* ---- NUL bytes ---- */

static void test_nul_in_scalars(void **state)
{
	(void)state;
	static const struct { const char *text, *want; } cases[] = {
		/* The deployment "abc\0def" ran as "abc", skipping the name rules. */
		{ "version: v1\ndeployment: \"abc\\0def\"\nservices: {}\n",
		  "t.yaml:2:13: deployment: a NUL byte (\\0) is not allowed in a value\n" },
		{ SVC "    env: { GREETING: \"hi\\0there\" }\n",
		  "t.yaml:6:22: services.api.env.GREETING: a NUL byte (\\0) is not allowed in a value\n" },
		{ SVC "    env: { \"A\\x00B\": x }\n",
		  "t.yaml:6:12: services.api.env: a NUL byte (\\0) is not allowed in a key\n" },
		{ SVC "    command: [\"sh\", \"-c\", \"echo ok\\u0000; rm -rf /\"]\n",
		  "t.yaml:6:27: services.api.command[2]: a NUL byte (\\0) is not allowed in a value\n" },
		{ HEAD "  api:\n    image: \"nginx\\U00000000:evil\"\n",
		  "t.yaml:5:12: services.api.image: a NUL byte (\\0) is not allowed in a value\n" },
		{ SVC "    storage:\n      - { type: bind, source: \"/srv/data\\0/../../etc\", target: /data }\n",
		  "t.yaml:7:31: services.api.storage[0].source: a NUL byte (\\0) is not allowed in a value\n" },
		/* A service name (a key) with one. */
		{ HEAD "  \"api\\0x\":\n    image: nginx\n",
		  "t.yaml:4:3: services: a NUL byte (\\0) is not allowed in a key\n" },
		/* Where no key path is known yet: the root. */
		{ "\"\\0\"\n", "t.yaml:1:1: a NUL byte (\\0) is not allowed in a value\n" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct loaded l;
		load(&l, cases[i].text);
		expect_one(&l, cases[i].want);
		unload(&l);
	}
	/* A raw NUL byte, in a plain or a quoted scalar or a comment: at its
	 * own place (libyaml said "control characters are not allowed"). */
	static const char raw1[] = "version: v1\ndeployment: ab\0cd\nservices: {}\n";
	static const char raw2[] = "version: v1\ndeployment: 'ab\0cd'\nservices: {}\n";
	static const char raw3[] = "version: v1\n# \0\ndeployment: abcd\nservices: {}\n";
	struct loaded l;
	load_len(&l, "t.yaml", raw1, sizeof(raw1) - 1);
	expect_one(&l, "t.yaml:2:15: a NUL byte (\\0) is not allowed in a spec file\n");
	unload(&l);
	load_len(&l, "t.yaml", raw2, sizeof(raw2) - 1);
	expect_one(&l, "t.yaml:2:16: a NUL byte (\\0) is not allowed in a spec file\n");
	unload(&l);
	load_len(&l, "t.yaml", raw3, sizeof(raw3) - 1);
	expect_one(&l, "t.yaml:2:3: a NUL byte (\\0) is not allowed in a spec file\n");
	unload(&l);
	/* Other escapes still work. */
	struct loaded ok;
	load(&ok, SVC "    env: { A: \"tab\\there\", B: \"\\x41\\u00e9\" }\n");
	assert_int_equal(ok.rc, 0);
	assert_string_equal(ok.set.deployments[0].services[0].env[0].value, "tab\there");
	assert_string_equal(ok.set.deployments[0].services[0].env[1].value, "A\xc3\xa9");
	unload(&ok);
}

/* ---- anchors and aliases keep libyaml's rules and words ---- */

static void test_anchor_errors(void **state)
{
	(void)state;
	struct loaded l;
	load(&l, "version: v1\ndeployment: abc\nservices: {}\nexternals: {a: &x 1, b: &x 2, c: *x}\n");
	expect_one(&l, "t.yaml:4:25: invalid YAML: second occurrence (found duplicate anchor; first occurrence "
		       "at line 4, column 16)\n");
	unload(&l);
	load(&l, "version: v1\ndeployment: abc\nservices: {}\nexternals: {c: *x}\n");
	expect_one(&l, "t.yaml:4:16: invalid YAML: found undefined alias\n");
	unload(&l);
	/* Anchors are per document. */
	load(&l, "version: v1\ndeployment: abc\nservices: {}\nexternals: {a: &x 1}\n---\n"
		 "version: v1\ndeployment: def\nservices: {}\nexternals: {a: &x 2, b: *x}\n");
	assert_int_equal(l.rc, 0);
	assert_int_equal(l.set.count, 2);
	unload(&l);
}

/* ---- files that are not regular ---- */

static void test_non_regular_spec_files(void **state)
{
	(void)state;
	_cleanup_free_ char *fifo = tmp_path("fifo.yaml");
	assert_int_equal(mkfifo(fifo, 0600), 0);
	/* Nobody writes to it: opening it for reading would block forever. */
	struct loaded l;
	const char *p1[] = { fifo };
	load_paths(&l, p1, 1);
	_cleanup_free_ char *want = zl_xasprintf("%s: refused: not a regular file but a FIFO (named pipe); nothing "
						 "was read from it" REFUSED_END "\n", fifo);
	expect_one(&l, want);
	unload(&l);

	/* -f /dev/zero: an endless stream, and a device. */
	const char *p2[] = { "/dev/zero" };
	load_paths(&l, p2, 1);
	expect_one(&l, "/dev/zero: refused: not a regular file but a character device; nothing was read from "
		       "it" REFUSED_END "\n");
	unload(&l);

	_cleanup_free_ char *sock = tmp_path("sock.yaml");
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	const char *p3[] = { sock };
	load_paths(&l, p3, 1);
	free(want);
	want = zl_xasprintf("%s: refused: not a regular file but a socket; nothing was read from it" REFUSED_END "\n",
			    sock);
	expect_one(&l, want);
	unload(&l);
	close(fd);

	/* In a directory: the regular files load, the FIFO is refused (it was
	 * skipped silently before). */
	_cleanup_free_ char *good = tmp_path("good.yaml");
	const char *text = HEAD "  web:\n    image: nginx\n";
	write_file(good, text, strlen(text));
	unlink(sock);
	const char *p4[] = { tmpdir };
	load_paths(&l, p4, 1);
	free(want);
	want = zl_xasprintf("%s/fifo.yaml: refused: not a regular file but a FIFO (named pipe); nothing was "
			    "read from it" REFUSED_END "\n", tmpdir);
	expect_one(&l, want);
	assert_int_equal(l.set.count, 1);
	unload(&l);

	/* A symbolic link to a regular file is fine. */
	_cleanup_free_ char *link = tmp_path("link.yml");
	assert_int_equal(symlink(good, link), 0);
	unlink(fifo);
	const char *p5[] = { link };
	load_paths(&l, p5, 1);
	assert_int_equal(l.rc, 0);
	assert_int_equal(l.set.count, 1);
	unload(&l);
}

/* ---- secrets ---- */

static int resolve(const char *secret_text, size_t len, bool fifo, struct zl_err *err)
{
	_cleanup_free_ char *secrets = tmp_path("secrets");
	mkdir(secrets, 0700);
	_cleanup_free_ char *path = zl_xasprintf("%s/tok", secrets);
	if (fifo || secret_text)
		unlink(path); /* else: what the caller put there */
	if (fifo)
		assert_int_equal(mkfifo(path, 0600), 0);
	else if (secret_text)
		write_file(path, secret_text, len);
	struct loaded l;
	load(&l, SVC "    env: { TOKEN: \"$S:tok\" }\n");
	assert_int_equal(l.rc, 0);
	struct spec_kv *kv = NULL;
	size_t count = 0;
	int64_t t0 = zl_monotonic_ms();
	int r = spec_service_resolve_env(&l.set.deployments[0].services[0], secrets, &kv, &count, err);
	/* A FIFO would block the read forever: any answer at all is the point
	 * (the bound only turns a hang into a failure before the suite's own
	 * timeout). */
	assert_true(zl_monotonic_ms() - t0 < HANG_MS);
	spec_kv_free(kv, count);
	unload(&l);
	return r;
}

static void test_secret_files(void **state)
{
	(void)state;
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(resolve("s3cret\n", 7, false, &err), 0);

	/* A FIFO hung diff and apply forever. */
	assert_int_equal(resolve(NULL, 0, true, &err), -1);
	assert_int_equal(err.kind, ZL_ERR_INPUT);
	_cleanup_free_ char *want = zl_xasprintf("service api: env TOKEN: secret \"tok\" (%s/secrets/tok) is not "
						 "a regular file but a FIFO (named pipe): refused without reading it",
						 tmpdir);
	assert_string_equal(err.msg, want);

	/* A NUL cut the value there. */
	zl_err_clear(&err);
	assert_int_equal(resolve("abc\0def\n", 8, false, &err), -1);
	assert_int_equal(err.kind, ZL_ERR_INPUT);
	assert_string_equal(err.msg, "service api: env TOKEN: secret \"tok\" contains a NUL byte (\\0), which an "
				     "environment variable cannot hold");

	/* 1 MiB is the most. */
	char *big = zl_xmalloc(SPEC_MAX_SECRET_BYTES + 1);
	memset(big, 'k', SPEC_MAX_SECRET_BYTES + 1);
	zl_err_clear(&err);
	assert_int_equal(resolve(big, SPEC_MAX_SECRET_BYTES, false, &err), 0);
	assert_int_equal(resolve(big, SPEC_MAX_SECRET_BYTES + 1, false, &err), -1);
	assert_int_equal(err.kind, ZL_ERR_INPUT);
	assert_string_equal(err.msg, "service api: env TOKEN: secret \"tok\" is larger than 1 MiB, the most a "
				     "secret can be");
	free(big);

	/* A symbolic link is not followed (as before), now with a reason. */
	_cleanup_free_ char *path = zl_xasprintf("%s/secrets/tok", tmpdir);
	_cleanup_free_ char *target = tmp_path("elsewhere");
	write_file(target, "x", 1);
	unlink(path);
	assert_int_equal(symlink(target, path), 0);
	zl_err_clear(&err);
	assert_int_equal(resolve(NULL, 0, false, &err), -1);
	if (!strstr(err.msg, "is not a regular file but a symbolic link: refused without reading it"))
		fail_msg("%s", err.msg);
}

/* ---- the interrupt flag (watch's SIGTERM) ---- */

static void test_interrupt(void **state)
{
	(void)state;
	static volatile sig_atomic_t stop;
	spec_set_interrupt_flag(&stop);
	struct loaded l;
	load(&l, SVC);
	assert_int_equal(l.rc, 0);
	unload(&l);
	stop = 1;
	load(&l, SVC);
	expect_diags(&l, "t.yaml: interrupted: loading was stopped\n");
	unload(&l);
	/* A big file stops within its first events. */
	struct zl_buf b = { 0 };
	zl_buf_puts(&b, "version: v1\ndeployment: wide-app\nservices: {}\nexternals: {x: [");
	for (size_t i = 0; i < 900000; i++)
		zl_buf_puts(&b, i ? ",a" : "a");
	zl_buf_puts(&b, "]}\n");
	load(&l, b.data);
	expect_diags(&l, "t.yaml: interrupted: loading was stopped\n");
	unload(&l);
	zl_buf_free(&b);
	const char *paths[] = { "/nonexistent.yaml" };
	load_paths(&l, paths, 1);
	expect_diags(&l, "/nonexistent.yaml: interrupted: loading was stopped\n");
	unload(&l);
	spec_set_interrupt_flag(NULL);
	load(&l, SVC);
	assert_int_equal(l.rc, 0);
	unload(&l);
}

/* ---- linear time ---- */

/* Shapes about 0.5 to 2 MB that were quadratic somewhere (seconds to
 * minutes before); each must load fast with the diagnostics it had. */
static void test_linear_shapes(void **state)
{
	(void)state;
	struct zl_buf b = { 0 };
	struct loaded l;

	/* 30,000 anchors and aliases: libyaml's loader looked each up in a list
	 * of all (3.7 s). */
	zl_buf_puts(&b, "version: v1\ndeployment: anchors\nservices: {}\nexternals:\n  x: [");
	for (int i = 0; i < 30000; i++)
		zl_buf_printf(&b, "%s&a%d v", i ? ", " : "", i);
	zl_buf_puts(&b, "]\n  y: [");
	for (int i = 0; i < 30000; i++)
		zl_buf_printf(&b, "%s*a%d", i ? ", " : "", i);
	zl_buf_puts(&b, "]\n");
	load(&l, b.data);
	assert_int_equal(l.rc, 0);
	unload(&l);
	b.len = 0;

	/* 55,000 documents: each name was compared with every other (6 s). */
	for (int i = 0; i < 55000; i++)
		zl_buf_printf(&b, "version: v1\ndeployment: d%06d\n---\n", i);
	zl_buf_puts(&b, "version: v1\ndeployment: d000042\n");
	load(&l, b.data);
	expect_one(&l, "t.yaml:165002:13: deployment: deployment \"d000042\" is already declared at t.yaml:127\n");
	assert_int_equal(l.set.count, 55001);
	unload(&l);
	b.len = 0;

	/* 10,000 services, each depending on an unknown one: every unknown
	 * name was compared with every service name (10 s). The first ones
	 * still get a suggestion. */
	zl_buf_puts(&b, HEAD);
	for (int i = 0; i < 10000; i++)
		zl_buf_printf(&b, "  s%05d: {image: x, depends: [{service: t%05d}]}\n", i, i);
	load(&l, b.data);
	assert_int_equal(l.diags.errors, 10000);
	assert_string_equal(l.diags.items[0].msg, "unknown service \"t00000\" (did you mean \"s00000\"?)");
	unload(&l);
	b.len = 0;

	/* One name of 200,000 characters against another (60 s: one edit
	 * distance of 4e10 cells). */
	zl_buf_puts(&b, HEAD "  ? ");
	for (int i = 0; i < 200000; i++)
		zl_buf_puts(&b, "a");
	zl_buf_puts(&b, "\n  : {image: x}\n  b: {image: x, depends: [{service: \"");
	for (int i = 0; i < 200000; i++)
		zl_buf_puts(&b, "b");
	zl_buf_puts(&b, "\"}]}\n");
	load(&l, b.data);
	assert_int_equal(l.diags.errors, 2); /* the long service name, the unknown one */
	unload(&l);
	b.len = 0;

	/* 100,000 unknown keys, and one of 400,000 characters. */
	zl_buf_puts(&b, SVC);
	for (int i = 0; i < 100000; i++)
		zl_buf_printf(&b, "    imagf%d: 1\n", i);
	zl_buf_puts(&b, "    ? ");
	for (int i = 0; i < 400000; i++)
		zl_buf_puts(&b, "k");
	zl_buf_puts(&b, "\n    : 1\n");
	load(&l, b.data);
	assert_int_equal(l.diags.errors, 100001);
	assert_string_equal(l.diags.items[0].msg, "unknown key \"imagf0\" (did you mean \"image\"?)");
	unload(&l);
	b.len = 0;

	/* 30,000 endpoints of one name, 30,000 init steps of one id, 30,000 bad
	 * env references: each was compared with every one before. */
	zl_buf_puts(&b, SVC "    endpoints:\n");
	for (int i = 0; i < 30000; i++)
		zl_buf_puts(&b, "      - {name: h, protocol: tcp, port: 80}\n");
	zl_buf_puts(&b, "    init:\n      steps:\n");
	for (int i = 0; i < 30000; i++)
		zl_buf_puts(&b, "        - {id: s, uses: init.run, with: {command: x}}\n");
	zl_buf_puts(&b, "    env:\n");
	for (int i = 0; i < 30000; i++)
		zl_buf_printf(&b, "      V%d: \"$S:../x\"\n", i);
	load(&l, b.data);
	assert_int_equal(l.diags.errors, 3 * 30000 - 2);
	assert_string_equal(l.diags.items[0].msg, "duplicate endpoint name \"h\" (also endpoints[0])");
	unload(&l);
	zl_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_depth_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_size_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_node_and_text_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nul_in_scalars, setup, teardown),
		cmocka_unit_test_setup_teardown(test_anchor_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_non_regular_spec_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_secret_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_linear_shapes, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
