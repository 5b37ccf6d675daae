/* test_names_render.c: the service-name lines of a replica's hosts file
 * (reconcile/names.c: which replicas get which names) and the in-place
 * rewrite of the hosts file's names section (net/hosts.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reconcile/names-internal.h"

/* ---- which replicas get which names ---- */

struct row_in {
	const char *service;
	int index;
	enum state_replica_state state;
	const char *ip;
	const char *health;
};

struct render_case {
	const char *what;
	struct row_in rows[6];
	const char *own;
	const char *exports;
};

/* web: an endpoint and a health check; db: neither; gone: not desired. */
static const struct render_case cases[] = {
	{ "nothing running", { { NULL } }, "", "" },
	{ "ready replicas get every name; only services with an endpoint are offered",
	  { { "db", 1, STATE_REPLICA_RUNNING, "10.0.0.4", NULL },
	    { "web", 1, STATE_REPLICA_RUNNING, "10.0.0.2", "healthy" },
	    { "web", 2, STATE_REPLICA_RUNNING, "10.0.0.3", "healthy:1" } },
	  "10.0.0.4\tdb db.d db-rep-1 db-rep-1.d\n"
	  "10.0.0.2\tweb web.d web-rep-1 web-rep-1.d\n"
	  "10.0.0.3\tweb web.d web-rep-2 web-rep-2.d\n",
	  "10.0.0.2\tweb.d\n10.0.0.3\tweb.d\n" },
	{ "not ready (starting, unhealthy, never probed): only the replica's own names",
	  { { "web", 1, STATE_REPLICA_RUNNING, "10.0.0.2", "starting:1" },
	    { "web", 2, STATE_REPLICA_RUNNING, "10.0.0.3", "unhealthy:3" },
	    { "web", 3, STATE_REPLICA_RUNNING, "10.0.0.5", NULL } },
	  "10.0.0.2\tweb-rep-1 web-rep-1.d\n"
	  "10.0.0.3\tweb-rep-2 web-rep-2.d\n"
	  "10.0.0.5\tweb-rep-3 web-rep-3.d\n",
	  "" },
	{ "not running, or no address: no line",
	  { { "db", 1, STATE_REPLICA_EXITED, "10.0.0.4", NULL },
	    { "db", 2, STATE_REPLICA_CREATING, "10.0.0.6", NULL },
	    { "db", 3, STATE_REPLICA_RUNNING, NULL, NULL },
	    { "db", 4, STATE_REPLICA_RUNNING, "", NULL },
	    { "web", 1, STATE_REPLICA_FAILED, "10.0.0.2", "healthy" } },
	  "", "" },
	{ "a service that left the spec keeps replica names until removed, no service name",
	  { { "gone", 1, STATE_REPLICA_RUNNING, "10.0.0.9", NULL } },
	  "10.0.0.9\tgone-rep-1 gone-rep-1.d\n", "" },
};

static void test_render_table(void **state)
{
	(void)state;
	struct spec_service web = { .name = "web", .endpoint_count = 1 };
	web.health.present = true;
	struct spec_service db = { .name = "db" };
	struct plan_desired_service ds[2] = { { .svc = &db }, { .svc = &web } };
	struct plan_desired desired = { .deployment = "d", .services = ds, .count = 2 };
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		const struct render_case *c = &cases[k];
		struct state_replica items[6];
		struct state_replicas rows = { .items = items };
		for (size_t i = 0; i < 6 && c->rows[i].service; i++) {
			state_replica_init(&items[i]);
			items[i].deployment = (char *)"d";
			items[i].service = (char *)c->rows[i].service;
			items[i].index = c->rows[i].index;
			items[i].state = c->rows[i].state;
			items[i].ip = (char *)c->rows[i].ip;
			items[i].health = (char *)c->rows[i].health;
			rows.count++;
		}
		char *own = names_render_own(&desired, &rows);
		char *exports = names_render_exports(&desired, &rows);
		if (strcmp(own, c->own) != 0 || strcmp(exports, c->exports) != 0)
			fail_msg("%s:\nown:\n%s\nexpected:\n%s\nexports:\n%s\nexpected:\n%s", c->what,
				 own, c->own, exports, c->exports);
		free(own);
		free(exports);
	}
}

/* ---- the hosts file ---- */

#define BASE "127.0.0.1\tlocalhost\n10.0.0.2\tweb-rep-1\n"

static void test_hosts_with_names(void **state)
{
	(void)state;
	char *first = net_hosts_with_names(BASE, "10.0.0.2\tweb\n");
	assert_non_null(strstr(first, BASE));
	assert_non_null(strstr(first, "10.0.0.2\tweb\n"));
	/* Replacing keeps the base and drops the old names. */
	char *second = net_hosts_with_names(first, "10.0.0.3\tweb\n");
	assert_non_null(strstr(second, BASE));
	assert_null(strstr(second, "10.0.0.2\tweb\n"));
	assert_non_null(strstr(second, "10.0.0.3\tweb\n"));
	/* No names: the base and the mark only; twice the same gives the same. */
	char *none = net_hosts_with_names(second, NULL);
	char *again = net_hosts_with_names(none, "");
	assert_string_equal(none, again);
	assert_null(strstr(none, "10.0.0.3"));
	/* A base without its last newline gets one. */
	char *cut = net_hosts_with_names("127.0.0.1\tlocalhost", "10.0.0.2\tweb\n");
	assert_non_null(strstr(cut, "127.0.0.1\tlocalhost\n#"));
	free(first);
	free(second);
	free(none);
	free(again);
	free(cut);
}

static void test_hosts_set_names_in_place(void **state)
{
	(void)state;
	char dir[] = "/tmp/zlnames-unit-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[64];
	snprintf(path, sizeof(path), "%s/hosts", dir);
	char *initial = net_hosts_with_names(BASE, "10.0.0.2\tweb\n10.0.0.3\tweb\n");
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(initial, f);
	fclose(f);
	struct stat before, after;
	assert_int_equal(stat(path, &before), 0);
	/* What a bind mount pins: an open descriptor on the same inode. */
	int pinned = open(path, O_RDONLY);
	assert_true(pinned >= 0);

	bool changed = true;
	struct zl_err err = ZL_ERR_INIT;
	assert_int_equal(net_hosts_set_names(path, "10.0.0.2\tweb\n10.0.0.3\tweb\n", &changed, &err),
			 0);
	assert_false(changed); /* same names: nothing written */

	/* Shorter: the old tail must not survive the rewrite. */
	assert_int_equal(net_hosts_set_names(path, "10.0.0.2\tweb\n", &changed, &err), 0);
	assert_true(changed);
	assert_int_equal(stat(path, &after), 0);
	assert_int_equal(before.st_ino, after.st_ino);
	char buf[512] = "";
	ssize_t n = pread(pinned, buf, sizeof(buf) - 1, 0);
	assert_true(n > 0);
	char *want = net_hosts_with_names(BASE, "10.0.0.2\tweb\n");
	assert_string_equal(buf, want);
	assert_int_equal((size_t)after.st_size, strlen(want));

	/* A missing file: ENOENT for the caller to judge (no network). */
	char missing[80];
	snprintf(missing, sizeof(missing), "%s/none", dir);
	assert_int_equal(net_hosts_set_names(missing, "", NULL, &err), -1);
	assert_int_equal(err.sys_errno, ENOENT);

	close(pinned);
	unlink(path);
	rmdir(dir);
	free(initial);
	free(want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render_table),
		cmocka_unit_test(test_hosts_with_names),
		cmocka_unit_test(test_hosts_set_names_in_place),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
