/* test_git.c: what git/ decides without a repository: webhook signatures
 * (GitHub's and Gitea's headers, HMAC-SHA256 checked against RFC 4231's
 * test vector) and the checks of watch --git's flags. Fetching and commits
 * are tested against real git in tests/integration/test_watch_git.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "git/git.h"

/* RFC 4231, test case 2. */
#define KEY "Jefe"
#define DATA "what do ya want for nothing?"
#define MAC "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
#define MAC_UPPER "5BDCC146BF60754E6A042426089575C75A003F089D2739839DEC58B964EC3843"

static void test_webhook_signatures(void **state)
{
	(void)state;
	static const struct {
		const char *github, *gitea, *key;
		int want;
		const char *says;
	} cases[] = {
		{ "sha256=" MAC, NULL, KEY, 0, NULL },
		{ NULL, MAC, KEY, 0, NULL },
		{ "sha256=" MAC_UPPER, NULL, KEY, 0, NULL },
		/* GitHub's header wins when both are sent. */
		{ "sha256=" MAC, "00", KEY, 0, NULL },
		{ "sha256=" MAC, NULL, "jefe", -1, "does not match" },
		{ NULL, MAC, "Jefe ", -1, "does not match" },
		{ NULL, NULL, KEY, -1, "no signature header" },
		{ MAC, NULL, KEY, -1, "sha256=" },
		{ "sha1=" MAC, NULL, KEY, -1, "sha256=" },
		{ "sha256=" MAC "00", NULL, KEY, -1, "64 hex digits" },
		{ NULL, "5bdcc146", KEY, -1, "64 hex digits" },
		{ NULL, "zbdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", KEY, -1,
		  "64 hex digits" },
		{ "sha256=", NULL, KEY, -1, "64 hex digits" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct zl_err err = ZL_ERR_INIT;
		int r = gitsrc_webhook_verify(cases[i].key, strlen(cases[i].key), DATA, strlen(DATA),
					      cases[i].github, cases[i].gitea, &err);
		if (r != cases[i].want)
			fail_msg("case %zu: %d, want %d (%s)", i, r, cases[i].want, err.msg);
		if (cases[i].says && !strstr(err.msg, cases[i].says))
			fail_msg("case %zu: \"%s\" not in \"%s\"", i, cases[i].says, err.msg);
		if (r < 0)
			assert_int_equal(err.kind, ZL_ERR_INPUT);
	}
	/* One byte more in the body is another signature. */
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(gitsrc_webhook_verify(KEY, strlen(KEY), DATA "!", strlen(DATA) + 1,
					       "sha256=" MAC, NULL, &err), -1);
}

static void test_opts_check(void **state)
{
	(void)state;
	static const struct {
		struct gitsrc_opts o;
		const char *says; /* NULL: accepted */
	} cases[] = {
		{ { .url = "https://example.invalid/a.git" }, NULL },
		{ { .url = "file:///srv/a.git", .branch = "release/1.2", .path = "deploy/prod" }, NULL },
		{ { .url = "ssh://git@example.invalid/a.git", .host_key = "SHA256:abc" }, NULL },
		{ { .url = "" }, "expected a repository URL" },
		{ { .url = NULL }, "expected a repository URL" },
		{ { .url = "x", .branch = "a..b" }, "not a valid branch name" },
		{ { .url = "x", .branch = "-x y" }, "not a valid branch name" },
		{ { .url = "x", .path = "../etc" }, "leads out of the repository" },
		{ { .url = "x", .path = "deploy/../../etc" }, "leads out of the repository" },
		{ { .url = "x", .path = "/etc" }, "leads out of the repository" },
		{ { .url = "x", .host_key = "MD5:aa" }, "SHA256:" },
		{ { .url = "https://bot:ghp_secret@example.invalid/a.git" }, "--git-token-file" },
		{ { .url = "https://bot@example.invalid/a.git" }, NULL },
		{ { .url = "git@example.invalid:ops/a.git" }, NULL },
		{ { .url = "x", .ssh_key_file = "/nonexistent/key" }, "--git-ssh-key /nonexistent/key" },
		{ { .url = "x", .token_file = "/nonexistent/token" }, "--git-token-file /nonexistent/token" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct zl_err err = ZL_ERR_INIT;
		int r = gitsrc_opts_check(&cases[i].o, &err);
		if (!cases[i].says) {
			if (r != 0)
				fail_msg("case %zu refused: %s", i, err.msg);
			continue;
		}
		if (r != -1 || err.kind != ZL_ERR_INPUT || !strstr(err.msg, cases[i].says))
			fail_msg("case %zu: %d kind %d \"%s\", want INPUT with \"%s\"", i, r, (int)err.kind,
				 err.msg, cases[i].says);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_webhook_signatures),
		cmocka_unit_test(test_opts_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
