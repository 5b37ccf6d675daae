/* test_revisions.c: the rollback planning of reconcile/rollback.c without
 * containers: which revision a failed rollout goes back to (a table), what
 * the revision hash covers, a document cut from a multi-document file
 * loading on its own, and when an apply records a revision (a real SQLite
 * store in a temp dir). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reconcile/reconcile-internal.h"

#define assert_ok(call, err)                                          \
	do {                                                          \
		if ((call) < 0)                                       \
			fail_msg("%s: %s", #call, (err).msg);         \
	} while (0)

/* ---- which revision to go back to ---- */

struct rev_row {
	int64_t number;
	const char *hash;
	const char *status;
};

static void test_restore_target_table(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		struct rev_row rows[6];
		int64_t current, want;
	} cases[] = {
		{ "the previous applied one", { { 1, "a", "applied" }, { 2, "b", "applying" } }, 2, 1 },
		{ "skips a rolled-back one", { { 1, "a", "applied" }, { 2, "b", "rolled back" }, { 3, "a", "applied" }, { 4, "c", "applying" } }, 4, 3 },
		{ "skips a stopped one", { { 1, "a", "applied" }, { 2, "b", "stopped" }, { 3, "c", "applying" } }, 3, 1 },
		{ "skips one that asks the same", { { 1, "a", "applied" }, { 2, "b", "applied" }, { 3, "b", "applying" } }, 3, 1 },
		{ "nothing before the first", { { 1, "a", "applying" } }, 1, 0 },
		{ "nothing applied before", { { 1, "a", "failed" }, { 2, "b", "applying" } }, 2, 0 },
		{ "rollback --to default from the newest", { { 1, "a", "applied" }, { 2, "b", "applied" } }, 2, 1 },
		{ "never a newer one", { { 1, "a", "applied" }, { 2, "b", "applying" }, { 3, "c", "applied" } }, 2, 1 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct state_revision items[6];
		struct state_revisions list = { .items = items };
		for (size_t k = 0; k < 6 && cases[i].rows[k].number; k++) {
			items[k] = (struct state_revision){ .number = cases[i].rows[k].number,
							    .hash = (char *)cases[i].rows[k].hash,
							    .status = (char *)cases[i].rows[k].status };
			list.count++;
		}
		int64_t got = revision_restore_target(&list, cases[i].current);
		if (got != cases[i].want)
			fail_msg("%s: got %lld, want %lld", cases[i].name, (long long)got,
				 (long long)cases[i].want);
	}
}

/* ---- what a revision is ---- */

static const char two_docs[] =
	"# shop and blog\n"
	"version: v1\n"
	"deployment: shop\n"
	"services:\n"
	"  web:\n"
	"    image: {name: \"nginx:1.25\"}  # caf\xc3\xa9\n"
	"    scale: {mode: fixed, replicas: 2}\n"
	"  db:\n"
	"    image: {name: \"postgres:16\"}\n"
	"---\n"
	"version: v1\n"
	"deployment: blog\n"
	"services:\n"
	"  web:\n"
	"    image: {name: \"nginx:1.25\"}\n"
	"    health:\n"
	"      check: {type: tcp, port: 80}\n"
	"      rollout_deadline: 90s\n";

static void load(const char *text, struct spec_set *set)
{
	struct spec_diags diags = { 0 };
	memset(set, 0, sizeof(*set));
	if (spec_load_text("test.yaml", text, strlen(text), set, &diags) < 0 || diags.errors) {
		spec_diags_print(&diags, stderr);
		fail_msg("the spec does not load");
	}
	spec_diags_free(&diags);
}

static void desired_of(const struct spec_deployment *dep, struct plan_desired *d)
{
	memset(d, 0, sizeof(*d));
	d->deployment = dep->name;
	d->services = calloc(dep->service_count + 1, sizeof(*d->services));
	for (size_t i = 0; i < dep->service_count; i++) {
		struct plan_desired_service *ds = &d->services[d->count++];
		ds->svc = &dep->services[i];
		ds->replicas = spec_service_desired_replicas(ds->svc);
		snprintf(ds->spec_hash, sizeof(ds->spec_hash), "hash-of-%s", ds->svc->name);
	}
}

static void test_documents_and_hash(void **state)
{
	(void)state;
	struct spec_set set;
	load(two_docs, &set);
	assert_int_equal(set.count, 2);
	/* Each document alone, loadable by itself. */
	const struct spec_deployment *shop = &set.deployments[0], *blog = &set.deployments[1];
	assert_non_null(shop->text);
	assert_null(strstr(shop->text, "blog"));
	assert_non_null(strstr(shop->text, "caf\xc3\xa9\n    scale"));
	assert_non_null(strstr(blog->text, "deployment: blog"));
	assert_null(strstr(blog->text, "shop"));
	assert_int_equal(blog->services[0].health.rollout_deadline_ms, 90000);
	assert_int_equal(spec_rollout_deadline_ms(&blog->services[0].health), 90000);
	/* The default: start_grace + retries x interval + timeout. */
	assert_int_equal(spec_rollout_deadline_ms(&shop->services[0].health), 5000 + 3 * 10000 + 5000);
	struct state_revision rev = { .deployment = (char *)"blog", .number = 4, .spec = blog->text };
	struct spec_set alone;
	struct zl_err err = ZL_ERR_INIT;
	assert_ok(revision_spec_load(&rev, &alone, &err), err);
	assert_int_equal(alone.count, 1);
	assert_string_equal(alone.deployments[0].name, "blog");
	spec_set_free(&alone);
	/* A stored spec of another deployment is refused. */
	rev.deployment = (char *)"shop";
	assert_int_equal(revision_spec_load(&rev, &alone, &err), -1);
	assert_non_null(strstr(err.msg, "does not hold deployment shop"));
	spec_set_free(&alone);

	/* The hash: same services in another order, same hash; another
	 * replica count or spec hash, another hash. */
	struct plan_desired d;
	desired_of(shop, &d);
	char h1[65], h2[65];
	revision_hash(&d, h1);
	struct plan_desired_service tmp = d.services[0];
	d.services[0] = d.services[1];
	d.services[1] = tmp;
	revision_hash(&d, h2);
	assert_string_equal(h1, h2);
	d.services[0].replicas++;
	revision_hash(&d, h2);
	assert_string_not_equal(h1, h2);
	d.services[0].replicas--;
	d.services[1].spec_hash[0] = 'H';
	revision_hash(&d, h2);
	assert_string_not_equal(h1, h2);
	free(d.services);
	spec_set_free(&set);
}

/* ---- when an apply records a revision ---- */

static void test_begin_records_changes_only(void **state)
{
	(void)state;
	char tmp[] = "/tmp/zl-test-rollback-XXXXXX";
	assert_non_null(mkdtemp(tmp));
	struct state_db *db = NULL;
	struct zl_err err = ZL_ERR_INIT;
	assert_ok(state_open(tmp, false, &db, &err), err);
	struct spec_set set;
	load(two_docs, &set);
	const struct spec_deployment *shop = &set.deployments[0];
	struct plan_desired d;
	desired_of(shop, &d);
	struct revision_run run;

	/* First apply: revision 1, nothing to go back to. */
	assert_ok(revision_begin(db, shop, &d, NULL, NULL, 1000, &run, &err), err);
	assert_int_equal(run.number, 1);
	assert_int_equal(run.restore_to, 0);
	assert_ok(state_revision_set_status(db, "shop", 1, REVISION_APPLIED, NULL, &err), err);
	/* The same again: a no-op, no revision. */
	assert_ok(revision_begin(db, shop, &d, NULL, NULL, 2000, &run, &err), err);
	assert_int_equal(run.number, 0);
	/* A change: revision 2, which would go back to 1. */
	d.services[0].replicas = 5;
	assert_ok(revision_begin(db, shop, &d, NULL, NULL, 3000, &run, &err), err);
	assert_int_equal(run.number, 2);
	assert_int_equal(run.restore_to, 1);
	assert_ok(state_revision_set_status(db, "shop", 2, REVISION_STOPPED, "not ready", &err), err);
	/* The same spec after it stopped: revision 2 again, applying. */
	assert_ok(revision_begin(db, shop, &d, NULL, NULL, 4000, &run, &err), err);
	assert_int_equal(run.number, 2);
	assert_int_equal(run.restore_to, 1);
	struct state_revision r;
	bool found;
	assert_ok(state_revision_get(db, "shop", 2, &r, &found, &err), err);
	assert_string_equal(r.status, REVISION_APPLYING);
	assert_null(r.reason);
	assert_string_equal(r.spec, shop->text);
	assert_string_equal(r.cause, "apply");
	assert_non_null(strstr(r.source, "test.yaml"));
	state_revision_clear(&r);
	/* A rollback: a new revision naming what it restores and its source. */
	d.services[0].replicas = 2;
	struct revision_origin origin = { .cause = "rollback", .source = "revision 1", .restores = 1 };
	assert_ok(revision_begin(db, shop, &d, &origin, NULL, 5000, &run, &err), err);
	assert_int_equal(run.number, 3);
	assert_ok(state_revision_get(db, "shop", 3, &r, &found, &err), err);
	assert_int_equal(r.restores, 1);
	assert_string_equal(r.source, "revision 1");
	assert_string_equal(r.cause, "rollback");
	state_revision_clear(&r);
	/* Finishing an interrupted one records nothing new. */
	/* A plain apply from somewhere else than a file (watch --git) records
	 * where: the commit. */
	d.services[0].replicas = 7;
	assert_ok(revision_begin(db, shop, &d, NULL, "git file:///srv/repo@0123abcd", 5500, &run, &err), err);
	assert_int_equal(run.number, 4);
	assert_ok(state_revision_get(db, "shop", 4, &r, &found, &err), err);
	assert_string_equal(r.source, "git file:///srv/repo@0123abcd");
	assert_string_equal(r.cause, "apply");
	state_revision_clear(&r);
	d.services[0].replicas = 2;
	struct revision_origin finish = { .restores = 1, .number = 3 };
	assert_ok(revision_begin(db, shop, &d, &finish, NULL, 6000, &run, &err), err);
	assert_int_equal(run.number, 3);
	struct state_revisions list;
	assert_ok(state_revisions_load(db, "shop", &list, &err), err);
	assert_int_equal(list.count, 4);
	state_revisions_free(&list);
	/* A rollback whose image is gone changes nothing. */
	d.services[1].image_error = strdup("manifest unknown");
	assert_int_equal(revision_images_missing(&d, 1, &err), -1);
	assert_non_null(strstr(err.msg, "service db: image postgres:16 cannot be had (manifest unknown); nothing was changed"));
	free(d.services[1].image_error);

	free(d.services);

	/* The spec an automatic rollback undid, applied again (cron): the
	 * same revision is tried again, no new one. */
	const struct spec_deployment *blog = &set.deployments[1];
	desired_of(blog, &d);
	assert_ok(revision_begin(db, blog, &d, NULL, NULL, 1000, &run, &err), err);
	assert_int_equal(run.number, 1);
	assert_ok(state_revision_set_status(db, "blog", 1, REVISION_APPLIED, NULL, &err), err);
	d.services[0].replicas = 3;
	assert_ok(revision_begin(db, blog, &d, NULL, NULL, 2000, &run, &err), err);
	assert_int_equal(run.number, 2);
	assert_ok(state_revision_set_status(db, "blog", 2, REVISION_ROLLED_BACK, "not ready", &err), err);
	d.services[0].replicas = 1;
	struct revision_origin automatic = { .cause = "automatic rollback", .source = "revision 1",
					     .restores = 1 };
	assert_ok(revision_begin(db, blog, &d, &automatic, NULL, 3000, &run, &err), err);
	assert_int_equal(run.number, 3);
	assert_ok(state_revision_set_status(db, "blog", 3, REVISION_APPLIED, NULL, &err), err);
	d.services[0].replicas = 3;
	assert_ok(revision_begin(db, blog, &d, NULL, NULL, 4000, &run, &err), err);
	assert_int_equal(run.number, 2);
	assert_int_equal(run.restore_to, 1);
	/* Rolled back again: its rollback asks what revision 3 asks, no new one. */
	d.services[0].replicas = 1;
	assert_ok(revision_begin(db, blog, &d, &automatic, NULL, 5000, &run, &err), err);
	assert_int_equal(run.number, 0);
	assert_ok(state_revisions_load(db, "blog", &list, &err), err);
	assert_int_equal(list.count, 3);
	state_revisions_free(&list);
	free(d.services);

	spec_set_free(&set);
	state_close(db);
	assert_ok(zl_rm_rf(tmp, &err), err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_restore_target_table),
		cmocka_unit_test(test_documents_and_hash),
		cmocka_unit_test(test_begin_records_changes_only),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
