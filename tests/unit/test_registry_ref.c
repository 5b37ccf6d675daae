/* test_registry_ref.c: image reference parsing and canonical formatting,
 * table-driven: Docker's defaults, registries with ports, digests, oci:
 * layouts, file: paths (absolute, cleaned; relative ones against the
 * current directory), and the malformed references users actually type. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "registry/registry.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct valid_case {
	const char *text;
	const char *canonical;
	const char *domain;   /* NULL for oci: */
	const char *endpoint; /* NULL for oci: */
	const char *path;
	const char *tag;      /* NULL = none */
	const char *digest;   /* NULL = none */
};

static const struct valid_case valid_cases[] = {
	{ "busybox", "docker.io/library/busybox:latest", "docker.io", "registry-1.docker.io",
	  "library/busybox", "latest", NULL },
	{ "busybox:1.36", "docker.io/library/busybox:1.36", "docker.io", "registry-1.docker.io",
	  "library/busybox", "1.36", NULL },
	{ "library/busybox", "docker.io/library/busybox:latest", "docker.io",
	  "registry-1.docker.io", "library/busybox", "latest", NULL },
	{ "docker.io/busybox", "docker.io/library/busybox:latest", "docker.io",
	  "registry-1.docker.io", "library/busybox", "latest", NULL },
	{ "index.docker.io/busybox", "docker.io/library/busybox:latest", "docker.io",
	  "registry-1.docker.io", "library/busybox", "latest", NULL },
	{ "index.docker.io/user/app:v2", "docker.io/user/app:v2", "docker.io",
	  "registry-1.docker.io", "user/app", "v2", NULL },
	{ "docker.io/library/nginx:1.25-alpine", "docker.io/library/nginx:1.25-alpine",
	  "docker.io", "registry-1.docker.io", "library/nginx", "1.25-alpine", NULL },
	{ "user/app", "docker.io/user/app:latest", "docker.io", "registry-1.docker.io",
	  "user/app", "latest", NULL },
	{ "ghcr.io/owner/repo/sub:tag_1", "ghcr.io/owner/repo/sub:tag_1", "ghcr.io", "ghcr.io",
	  "owner/repo/sub", "tag_1", NULL },
	{ "ghcr.io/app", "ghcr.io/app:latest", "ghcr.io", "ghcr.io", "app", "latest", NULL },
	{ "localhost/app", "localhost/app:latest", "localhost", "localhost", "app", "latest",
	  NULL },
	{ "localhost:5000/app:dev", "localhost:5000/app:dev", "localhost:5000",
	  "localhost:5000", "app", "dev", NULL },
	{ "127.0.0.1:5000/team/app", "127.0.0.1:5000/team/app:latest", "127.0.0.1:5000",
	  "127.0.0.1:5000", "team/app", "latest", NULL },
	{ "[::1]:5000/app:1", "[::1]:5000/app:1", "[::1]:5000", "[::1]:5000", "app", "1",
	  NULL },
	{ "Registry.Example.COM/app", "Registry.Example.COM/app:latest", "Registry.Example.COM",
	  "Registry.Example.COM", "app", "latest", NULL },
	{ "my-registry.local:443/a.b/c_d/e__f/g-h/i---j", "my-registry.local:443/a.b/c_d/e__f/g-h/i---j:latest",
	  "my-registry.local:443", "my-registry.local:443", "a.b/c_d/e__f/g-h/i---j", "latest",
	  NULL },
	{ "busybox@sha256:" HEX64, "docker.io/library/busybox@sha256:" HEX64, "docker.io",
	  "registry-1.docker.io", "library/busybox", NULL, "sha256:" HEX64 },
	{ "busybox:1.36@sha256:" HEX64, "docker.io/library/busybox:1.36@sha256:" HEX64,
	  "docker.io", "registry-1.docker.io", "library/busybox", "1.36", "sha256:" HEX64 },
	{ "localhost:5000/app@sha256:" HEX64, "localhost:5000/app@sha256:" HEX64,
	  "localhost:5000", "localhost:5000", "app", NULL, "sha256:" HEX64 },
	{ "app:_private", "docker.io/library/app:_private", "docker.io", "registry-1.docker.io",
	  "library/app", "_private", NULL },
	{ "app:V1.0-RC.1", "docker.io/library/app:V1.0-RC.1", "docker.io",
	  "registry-1.docker.io", "library/app", "V1.0-RC.1", NULL },
	{ "0app9", "docker.io/library/0app9:latest", "docker.io", "registry-1.docker.io",
	  "library/0app9", "latest", NULL },
	/* Docker reads a lone "localhost" as a Docker Hub repository. */
	{ "localhost", "docker.io/library/localhost:latest", "docker.io", "registry-1.docker.io",
	  "library/localhost", "latest", NULL },
	{ "oci:/var/images/app", "oci:/var/images/app", NULL, NULL, "/var/images/app", NULL,
	  NULL },
	{ "oci:/var/images/app:v1", "oci:/var/images/app:v1", NULL, NULL, "/var/images/app",
	  "v1", NULL },
	{ "oci:./layout:latest", "oci:./layout:latest", NULL, NULL, "./layout", "latest", NULL },
	{ "oci:relative", "oci:relative", NULL, NULL, "relative", NULL, NULL },
	/* The tag is after the last ':' only when it is a tag and has no '/'. */
	{ "oci:/odd:dir/x", "oci:/odd:dir/x", NULL, NULL, "/odd:dir/x", NULL, NULL },
	{ "oci:/a:b:c", "oci:/a:b:c", NULL, NULL, "/a:b", "c", NULL },
	{ "oci:/dir:", "oci:/dir:", NULL, NULL, "/dir:", NULL, NULL },
	{ "oci:/dir:bad+tag", "oci:/dir:bad+tag", NULL, NULL, "/dir:bad+tag", NULL, NULL },
	/* file:PATH: a WebAssembly binary on disk. No tags or digests: ':' and
	 * '@' are part of the path; the path is cleaned lexically. */
	{ "file:/srv/app.wasm", "file:/srv/app.wasm", NULL, NULL, "/srv/app.wasm", NULL, NULL },
	{ "file:/srv//mods/./app.wasm", "file:/srv/mods/app.wasm", NULL, NULL,
	  "/srv/mods/app.wasm", NULL, NULL },
	{ "file:/srv/mods/../app.wasm", "file:/srv/app.wasm", NULL, NULL, "/srv/app.wasm", NULL,
	  NULL },
	{ "file:/../../app.wasm", "file:/app.wasm", NULL, NULL, "/app.wasm", NULL, NULL },
	{ "file:///srv/app.wasm", "file:/srv/app.wasm", NULL, NULL, "/srv/app.wasm", NULL, NULL },
	{ "file:/srv/app.wasm:1.0", "file:/srv/app.wasm:1.0", NULL, NULL, "/srv/app.wasm:1.0",
	  NULL, NULL },
	{ "file:/srv/app@sha256:" HEX64, "file:/srv/app@sha256:" HEX64, NULL, NULL,
	  "/srv/app@sha256:" HEX64, NULL, NULL },
	{ "file:/srv/.hidden.wasm", "file:/srv/.hidden.wasm", NULL, NULL, "/srv/.hidden.wasm",
	  NULL, NULL },
	/* Docker Hub's "file" repository is still reachable. */
	{ "file", "docker.io/library/file:latest", "docker.io", "registry-1.docker.io",
	  "library/file", "latest", NULL },
	{ "docker.io/library/file:1", "docker.io/library/file:1", "docker.io",
	  "registry-1.docker.io", "library/file", "1", NULL },
};

static void check_opt_string(const char *expected, const char *actual, const char *text)
{
	if (!expected) {
		if (actual)
			print_error("%s: expected NULL, got \"%s\"\n", text, actual);
		assert_null(actual);
	} else {
		assert_non_null(actual);
		assert_string_equal(actual, expected);
	}
}

static void test_valid_references(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
		const struct valid_case *c = &valid_cases[i];
		struct zl_err err = ZL_ERR_INIT;
		struct registry_ref ref;
		int r = registry_ref_parse(c->text, &ref, &err);
		if (r != 0)
			print_error("\"%s\": %s\n", c->text, err.msg);
		assert_int_equal(r, 0);
		assert_int_equal(ref.is_oci_layout, strncmp(c->text, "oci:", 4) == 0);
		assert_int_equal(ref.is_file, strncmp(c->text, "file:", 5) == 0);
		check_opt_string(c->domain, ref.domain, c->text);
		check_opt_string(c->endpoint, ref.endpoint, c->text);
		check_opt_string(c->path, ref.path, c->text);
		check_opt_string(c->tag, ref.tag, c->text);
		check_opt_string(c->digest, ref.digest, c->text);
		char *canon = registry_ref_format(&ref);
		assert_string_equal(canon, c->canonical);
		registry_ref_clear(&ref);

		/* The canonical form is a fixed point. */
		r = registry_ref_parse(canon, &ref, &err);
		assert_int_equal(r, 0);
		char *again = registry_ref_format(&ref);
		assert_string_equal(again, canon);
		free(again);
		free(canon);
		registry_ref_clear(&ref);
	}
}

struct invalid_case {
	const char *text;
	const char *message; /* the whole message */
};

static const struct invalid_case invalid_cases[] = {
	{ "", "invalid image reference \"\": empty" },
	{ "Nginx", "invalid image reference \"Nginx\": repository name must be lowercase" },
	{ "docker.io/Library/nginx",
	  "invalid image reference \"docker.io/Library/nginx\": repository name must be lowercase" },
	{ "a//b", "invalid image reference \"a//b\": empty path component (\"//\" or a '/' at an end)" },
	{ "a/", "invalid image reference \"a/\": empty path component (\"//\" or a '/' at an end)" },
	{ "/a", "invalid image reference \"/a\": empty path component (\"//\" or a '/' at an end)" },
	{ "ghcr.io/", "invalid image reference \"ghcr.io/\": missing repository path after \"ghcr.io\"" },
	{ "nginx:", "invalid image reference \"nginx:\": empty tag after ':'" },
	{ "nginx:1.0:", "invalid image reference \"nginx:1.0:\": empty tag after ':'" },
	{ "nginx@sha256:short",
	  "invalid image reference \"nginx@sha256:short\": digest \"sha256:short\" must be "
	  "\"sha256:\" and 64 lowercase hex digits" },
	{ "@sha256:short",
	  "invalid image reference \"@sha256:short\": digest \"sha256:short\" must be "
	  "\"sha256:\" and 64 lowercase hex digits" },
	{ "@sha256:" HEX64, "invalid image reference \"@sha256:" HEX64 "\": missing repository name" },
	{ "nginx@sha256:" "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
	  "invalid image reference \"nginx@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef"
	  "0123456789abcdef\": digest \"sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef"
	  "0123456789abcdef\" must be \"sha256:\" and 64 lowercase hex digits" },
	{ "nginx@sha512:abcd",
	  "invalid image reference \"nginx@sha512:abcd\": unsupported digest algorithm "
	  "\"sha512\" (only sha256)" },
	{ "nginx@" HEX64,
	  "invalid image reference \"nginx@" HEX64 "\": digest \"" HEX64 "\" must be "
	  "\"sha256:<64 hex digits>\"" },
	{ "nginx@", "invalid image reference \"nginx@\": digest \"\" must be \"sha256:<64 hex digits>\"" },
	{ "ngi nx", "invalid image reference \"ngi nx\": contains whitespace or control characters" },
	{ " nginx", "invalid image reference \" nginx\": contains whitespace or control characters" },
	{ "nginx\t", "invalid image reference \"nginx\t\": contains whitespace or control characters" },
	{ "127.0.0.1:5000",
	  "invalid image reference \"127.0.0.1:5000\": \"127.0.0.1:5000\" looks like a registry "
	  "host:port but no repository path follows" },
	{ "localhost:5000",
	  "invalid image reference \"localhost:5000\": \"localhost:5000\" looks like a registry "
	  "host:port but no repository path follows" },
	{ "registry.example.com:5000@sha256:" HEX64,
	  "invalid image reference \"registry.example.com:5000@sha256:" HEX64 "\": "
	  "\"registry.example.com:5000\" looks like a registry host:port but no repository "
	  "path follows" },
	{ "a:b:c", "invalid image reference \"a:b:c\": \"a:b\" looks like a registry host:port "
	  "but no repository path follows" },
	{ "host:port/app", "invalid image reference \"host:port/app\": invalid registry host "
	  "\"host:port\"" },
	{ "-bad.io/app", "invalid image reference \"-bad.io/app\": invalid registry host \"-bad.io\"" },
	{ "bad..io/app", "invalid image reference \"bad..io/app\": invalid registry host \"bad..io\"" },
	{ "nginx:-1", "invalid image reference \"nginx:-1\": invalid tag \"-1\" "
	  "(expected [A-Za-z0-9_][A-Za-z0-9_.-]{0,127})" },
	{ "nginx:a+b", "invalid image reference \"nginx:a+b\": invalid tag \"a+b\" "
	  "(expected [A-Za-z0-9_][A-Za-z0-9_.-]{0,127})" },
	{ "a..b", "invalid image reference \"a..b\": invalid character or separator in repository path" },
	{ "a___b", "invalid image reference \"a___b\": invalid character or separator in repository path" },
	{ "a-_b", "invalid image reference \"a-_b\": invalid character or separator in repository path" },
	{ "a-", "invalid image reference \"a-\": path components must end with a lowercase letter or digit" },
	{ "a.", "invalid image reference \"a.\": path components must end with a lowercase letter or digit" },
	{ "_a", "invalid image reference \"_a\": path components must start with a lowercase letter or digit" },
	{ "ghcr.io/.a", "invalid image reference \"ghcr.io/.a\": path components must start with a lowercase letter or digit" },
	{ "a$b", "invalid image reference \"a$b\": invalid character or separator in repository path" },
	{ "oci:", "invalid image reference \"oci:\": oci: needs a directory (oci:DIR[:TAG])" },
	{ "oci::v1", "invalid image reference \"oci::v1\": oci: needs a directory (oci:DIR[:TAG])" },
	{ "file:", "invalid image reference \"file:\": file: needs a path (file:PATH)" },
	{ "file:/", "invalid image reference \"file:/\": file: needs the path of a file, not a directory" },
	{ "file:/srv/", "invalid image reference \"file:/srv/\": file: needs the path of a file, not a directory" },
	{ "file:/srv/.", "invalid image reference \"file:/srv/.\": file: needs the path of a file, not a directory" },
	{ "file:/srv/mods/..", "invalid image reference \"file:/srv/mods/..\": file: needs the path of a file, not a directory" },
	{ "file:.", "invalid image reference \"file:.\": file: needs the path of a file, not a directory" },
	{ "file:/srv/my app.wasm",
	  "invalid image reference \"file:/srv/my app.wasm\": contains whitespace or control characters" },
};

static void test_invalid_references(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(invalid_cases) / sizeof(invalid_cases[0]); i++) {
		const struct invalid_case *c = &invalid_cases[i];
		struct zl_err err = ZL_ERR_INIT;
		struct registry_ref ref;
		int r = registry_ref_parse(c->text, &ref, &err);
		if (r == 0)
			print_error("\"%s\" parsed but must not\n", c->text);
		assert_int_equal(r, -1);
		assert_int_equal(err.kind, ZL_ERR_INPUT);
		assert_string_equal(err.msg, c->message);
		/* A failed parse leaves nothing to free. */
		assert_null(ref.domain);
		assert_null(ref.path);
		assert_null(ref.tag);
		assert_null(ref.digest);
	}
}

static void test_tag_length_limit(void **state)
{
	(void)state;
	char text[300];
	char tag[130];
	memset(tag, 'x', 128);
	tag[128] = '\0';
	snprintf(text, sizeof(text), "app:%s", tag);
	struct zl_err err = ZL_ERR_INIT;
	struct registry_ref ref;
	assert_int_equal(registry_ref_parse(text, &ref, &err), 0);
	assert_int_equal(strlen(ref.tag), 128);
	registry_ref_clear(&ref);

	tag[128] = 'x';
	tag[129] = '\0';
	snprintf(text, sizeof(text), "app:%s", tag);
	assert_int_equal(registry_ref_parse(text, &ref, &err), -1);
	assert_non_null(strstr(err.msg, "invalid tag"));
}

static void test_name_length_limit(void **state)
{
	(void)state;
	/* 255 characters of name pass, 256 fail; the tag does not count; the
	 * name counted is the normalised one, host included (Docker's rule). */
	char text[400];
	struct zl_err err = ZL_ERR_INIT;
	struct registry_ref ref;
	strcpy(text, "r.io/");
	memset(text + 5, 'a', 250);
	strcpy(text + 255, ":v1");
	assert_int_equal(registry_ref_parse(text, &ref, &err), 0);
	registry_ref_clear(&ref);

	memset(text + 5, 'a', 251);
	strcpy(text + 256, ":v1");
	assert_int_equal(registry_ref_parse(text, &ref, &err), -1);
	assert_non_null(strstr(err.msg, "repository name is 256 characters"));
	assert_non_null(strstr(err.msg, "more than 255"));

	/* A Docker Hub short name grows by docker.io/library/ (18). */
	memset(text, 'a', 237);
	strcpy(text + 237, ":v1");
	assert_int_equal(registry_ref_parse(text, &ref, &err), 0);
	registry_ref_clear(&ref);
	memset(text, 'a', 238);
	strcpy(text + 238, ":v1");
	struct zl_err err2 = ZL_ERR_INIT;
	assert_int_equal(registry_ref_parse(text, &ref, &err2), -1);
	assert_non_null(strstr(err2.msg, "256 characters as docker.io/library/aaa"));

	/* Also with a registry host in front: the whole name counts. */
	strcpy(text, "registry.example.com/");
	memset(text + 21, 'b', 240);
	text[261] = '\0';
	struct zl_err err3 = ZL_ERR_INIT;
	assert_int_equal(registry_ref_parse(text, &ref, &err3), -1);
	assert_non_null(strstr(err3.msg, "more than 255"));
}

/* Relative file: paths are made absolute against the current directory. */
static void test_file_relative_paths(void **state)
{
	(void)state;
	char old[PATH_MAX], dir[] = "/tmp/zl-ref-XXXXXX", cwd[PATH_MAX];
	assert_non_null(getcwd(old, sizeof(old)));
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chdir(dir), 0);
	assert_non_null(getcwd(cwd, sizeof(cwd))); /* as the kernel names it */
	char parent[PATH_MAX];
	snprintf(parent, sizeof(parent), "%s", cwd);
	*strrchr(parent, '/') = '\0';
	struct {
		const char *text;
		char want[PATH_MAX + 32];
	} cases[4];
	cases[0].text = "file:app.wasm";
	snprintf(cases[0].want, sizeof(cases[0].want), "file:%s/app.wasm", cwd);
	cases[1].text = "file:./mods/../app.wasm";
	snprintf(cases[1].want, sizeof(cases[1].want), "file:%s/app.wasm", cwd);
	cases[2].text = "file:mods//x/app.wasm";
	snprintf(cases[2].want, sizeof(cases[2].want), "file:%s/mods/x/app.wasm", cwd);
	cases[3].text = "file:../app.wasm";
	snprintf(cases[3].want, sizeof(cases[3].want), "file:%s/app.wasm", parent);
	for (size_t i = 0; i < 4; i++) {
		struct zl_err err = ZL_ERR_INIT;
		struct registry_ref ref;
		if (registry_ref_parse(cases[i].text, &ref, &err) != 0)
			fail_msg("\"%s\": %s", cases[i].text, err.msg);
		assert_true(ref.is_file);
		assert_null(ref.domain);
		assert_null(ref.tag);
		char *canon = registry_ref_format(&ref);
		assert_string_equal(canon, cases[i].want);
		registry_ref_clear(&ref);
		/* The canonical form no longer depends on the current directory. */
		assert_int_equal(chdir("/"), 0);
		assert_int_equal(registry_ref_parse(canon, &ref, &err), 0);
		char *again = registry_ref_format(&ref);
		assert_string_equal(again, canon);
		free(again);
		free(canon);
		registry_ref_clear(&ref);
		assert_int_equal(chdir(dir), 0);
	}
	assert_int_equal(chdir(old), 0);
	assert_int_equal(rmdir(dir), 0);
}

static void test_clear_accepts_cleared_and_null(void **state)
{
	(void)state;
	struct registry_ref ref;
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(registry_ref_parse("busybox", &ref, &err), 0);
	registry_ref_clear(&ref);
	registry_ref_clear(&ref);
	registry_ref_clear(NULL);
	assert_null(ref.path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_references),
		cmocka_unit_test(test_invalid_references),
		cmocka_unit_test(test_tag_length_limit),
		cmocka_unit_test(test_name_length_limit),
		cmocka_unit_test(test_file_relative_paths),
		cmocka_unit_test(test_clear_accepts_cleared_and_null),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
