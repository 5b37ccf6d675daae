/* test_spec_parse.c: loading deployment specs: the project's own fixtures
 * (tests/fixtures/spec: valid files covering every key family, invalid files
 * with their exact diagnostics), every validation rule of docs/spec-reference.md
 * with its key path, the decisions where zlapply differs, defaults, depends
 * order, multi-document files, directories, stdin, robustness against
 * garbage and the 1000-service load time. (ZLayer's own examples:
 * tests/integration/test_zlayer_examples.c.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>

#include "spec/spec.h"
#include "tests/unit/spec-helpers.h"

#define HEAD "version: v1\ndeployment: test-app\nservices:\n"

struct loaded {
	struct spec_set set;
	struct spec_diags diags;
	int rc;
};

static void load(struct loaded *l, const char *text)
{
	memset(l, 0, sizeof(*l));
	l->rc = spec_load_text("t.yaml", text, strlen(text), &l->set, &l->diags);
}

static void unload(struct loaded *l)
{
	spec_set_free(&l->set);
	spec_diags_free(&l->diags);
}

/* The text must fail with an error at path whose message contains part. */
static void expect_error(const char *text, const char *path, const char *part)
{
	struct loaded l;
	load(&l, text);
	if (l.rc == 0 || !find_diag(&l.diags, path, part)) {
		char *all = diags_text(&l.diags);
		fail_msg("want error at %s containing \"%s\"; got:\n%s--- in:\n%s", path, part ? part : "",
			 all ? all : "", text);
	}
	unload(&l);
}

static void expect_clean(struct loaded *l, const char *text)
{
	load(l, text);
	if (l->rc != 0 || l->diags.errors) {
		char *all = diags_text(&l->diags);
		fail_msg("want no error; got:\n%s--- in:\n%s", all ? all : "", text);
	}
	assert_int_equal(l->set.count, 1);
}

/* ---- the project's own fixtures: tests/fixtures/spec/{valid,invalid} ---- */

static char *fixture_path(const char *rel)
{
	return zl_xasprintf("%s/tests/fixtures/spec/%s", spec_source_root(), rel);
}

/* Every file in dir (name.yaml, and name.errors where errors is set) must
 * be named in names, and every name must have its files: a fixture cannot
 * be added without being checked, nor lost without notice. */
static void assert_fixture_set(const char *dir, const char *const *names, size_t count, bool errors)
{
	DIR *d = opendir(dir);
	if (!d)
		fail_msg("%s: %s", dir, strerror(errno));
	size_t seen = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || !strcmp(de->d_name, "README.md"))
			continue;
		const char *dot = strrchr(de->d_name, '.');
		bool ok = dot && (!strcmp(dot, ".yaml") || (errors && !strcmp(dot, ".errors")));
		size_t base = ok ? (size_t)(dot - de->d_name) : 0;
		bool named = false;
		for (size_t i = 0; ok && i < count && !named; i++)
			named = strlen(names[i]) == base && !strncmp(names[i], de->d_name, base);
		if (!named)
			fail_msg("%s/%s is not checked by test_spec_parse.c: add it to the table", dir, de->d_name);
		seen++;
	}
	closedir(d);
	if (seen != count * (errors ? 2 : 1))
		fail_msg("%s: %zu files, expected %zu (each name%s)", dir, seen, count * (errors ? 2 : 1),
			 errors ? " with .yaml and .errors" : ".yaml");
}

static const struct spec_service *must_find(const struct spec_deployment *dep, const char *name)
{
	const struct spec_service *s = spec_deployment_find(dep, name);
	if (!s)
		fail_msg("no service \"%s\" in deployment %s", name, dep->name);
	return s;
}

static const char *kv_get(const struct spec_kv *kv, size_t count, const char *key)
{
	for (size_t i = 0; i < count; i++)
		if (!strcmp(kv[i].key, key))
			return kv[i].value;
	fail_msg("no key \"%s\"", key);
	return NULL;
}

static void assert_order(const struct spec_deployment *dep, const char *const *names, size_t count)
{
	assert_int_equal(dep->service_count, count);
	for (size_t i = 0; i < count; i++)
		assert_string_equal(dep->services[i].name, names[i]);
}

/* 2026-01-01 00:00:00 UTC, a Thursday: the base for the cron checks. */
#define NEW_YEAR_2026 1767225600

static void check_minimal(const struct spec_set *set)
{
	const struct spec_deployment *dep = &set->deployments[0];
	assert_string_equal(dep->name, "tiny-site");
	const struct spec_service *page = must_find(dep, "page");
	assert_string_equal(page->image, "docker.io/library/httpd:2.4-alpine");
	assert_false(page->has_args || page->has_entrypoint);
	assert_int_equal(spec_service_desired_replicas(page), 1);
	/* A list as command is command.args (decision 4). */
	const struct spec_service *ticker = must_find(dep, "ticker");
	assert_string_equal(ticker->image, "busybox:1.36");
	assert_true(ticker->has_args);
	assert_false(ticker->has_entrypoint);
	assert_int_equal(ticker->args.count, 3);
	assert_string_equal(ticker->args.items[2], "while true; do date; sleep 60; done");
}

static void check_shop(const struct spec_set *set)
{
	const struct spec_deployment *dep = &set->deployments[0];
	/* Dependencies first, ties in file order. */
	assert_order(dep, (const char *const[]){ "db", "cache", "search", "app", "storefront" }, 5);

	const struct spec_service *front = must_find(dep, "storefront");
	assert_int_equal(front->pull_policy, SPEC_PULL_ALWAYS);
	assert_int_equal(front->endpoint_count, 3);
	assert_string_equal(front->endpoints[0].protocol, "https");
	assert_int_equal(front->endpoints[0].port, 8443);
	assert_int_equal(front->endpoints[0].target_port, 443);
	assert_int_equal(front->endpoints[0].expose, SPEC_EXPOSE_PUBLIC);
	assert_string_equal(front->endpoints[0].host, "shop.example.org");
	assert_string_equal(front->endpoints[0].path, "/");
	assert_string_equal(front->endpoints[2].protocol, "websocket");
	assert_int_equal(front->endpoints[2].target_port, 8081);
	assert_int_equal(front->endpoints[2].expose, SPEC_EXPOSE_INTERNAL);
	assert_int_equal(front->scale.mode, SPEC_SCALE_ADAPTIVE);
	assert_int_equal(front->scale.min, 2);
	assert_int_equal(front->scale.max, 6);
	assert_int_equal(front->scale.cooldown_ms, 45000);
	assert_int_equal(spec_service_desired_replicas(front), 2);
	assert_int_equal(front->health.check, SPEC_CHECK_HTTP);
	assert_string_equal(front->health.url, "https://127.0.0.1:443/ping");
	assert_int_equal(front->health.expect_status, 204);
	assert_int_equal(front->health.start_grace_ms, 3000);
	assert_int_equal(front->health.interval_ms, 15000);
	assert_int_equal(front->health.timeout_ms, 2000);
	assert_int_equal(front->health.retries, 4);
	assert_int_equal(front->depends[0].condition, SPEC_COND_READY);
	assert_int_equal(front->depends[0].timeout_ms, 90000);
	assert_int_equal(front->depends[0].on_timeout, SPEC_ON_TIMEOUT_CONTINUE);

	const struct spec_service *app = must_find(dep, "app");
	assert_int_equal(app->env_count, 8);
	assert_string_equal(app->env[0].key, "DB_PASSWORD"); /* sorted by key */
	assert_string_equal(kv_get(app->env, app->env_count, "DB_PASSWORD"), "$S:shop-db-password");
	assert_string_equal(kv_get(app->env, app->env_count, "PAYMENT_TOKEN"), "$secret://payment-token");
	assert_string_equal(kv_get(app->env, app->env_count, "LOG_LEVEL"), "$E:SHOP_LOG_LEVEL");
	/* An embedded "$E:" is literal text, kept as written. */
	assert_string_equal(kv_get(app->env, app->env_count, "DB_URL"),
			    "postgres://shop:$E:SHOP_DB_PASSWORD@db:5432/shop");
	/* Scalars as written: 1.10 stays 1.10. */
	assert_string_equal(kv_get(app->env, app->env_count, "RATIO"), "1.10");
	assert_string_equal(kv_get(app->env, app->env_count, "WORKERS"), "8");
	assert_string_equal(kv_get(app->env, app->env_count, "FEATURE_REVIEWS"), "true");
	assert_int_equal(app->health.check, SPEC_CHECK_TCP);
	assert_int_equal(app->health.port, 9000);
	assert_int_equal(spec_service_desired_replicas(app), 3);
	assert_string_equal(app->endpoints[1].protocol, "udp");
	assert_int_equal(app->depend_count, 3);
	assert_string_equal(app->depends[0].service, "db");
	assert_int_equal(app->depends[0].condition, SPEC_COND_HEALTHY);
	assert_int_equal(app->depends[0].timeout_ms, 300000);
	assert_int_equal(app->depends[1].condition, SPEC_COND_STARTED);
	assert_int_equal(app->depends[1].on_timeout, SPEC_ON_TIMEOUT_WARN);
	assert_int_equal(app->depends[2].condition, SPEC_COND_HEALTHY); /* the defaults */
	assert_int_equal(app->depends[2].timeout_ms, 300000);
	assert_int_equal(app->depends[2].on_timeout, SPEC_ON_TIMEOUT_FAIL);
	assert_int_equal(app->init_step_count, 4);
	const struct spec_init_step *st = app->init_steps;
	assert_string_equal(st[0].uses, "init.wait_tcp");
	assert_string_equal(kv_get(st[0].with, st[0].with_count, "port"), "5432");
	assert_string_equal(kv_get(st[0].with, st[0].with_count, "timeout"), "30s");
	assert_string_equal(st[1].uses, "init.wait_http");
	assert_int_equal(st[1].retry, 3);
	assert_int_equal(st[1].timeout_ms, 120000);
	assert_string_equal(st[2].uses, "init.run");
	assert_string_equal(kv_get(st[2].with, st[2].with_count, "command"),
			    "[\"shop-admin\",\"migrate\",\"--to\",\"latest\"]");
	assert_int_equal(st[2].on_failure, SPEC_ON_TIMEOUT_WARN);
	assert_string_equal(kv_get(st[3].with, st[3].with_count, "command"), "shop-admin warm-cache");
	assert_int_equal(st[3].on_failure, SPEC_ON_TIMEOUT_CONTINUE);
	assert_int_equal(app->on_init_failure, SPEC_INIT_RESTART);
	assert_int_equal(app->on_panic, SPEC_PANIC_SHUTDOWN);

	const struct spec_service *db = must_find(dep, "db");
	assert_int_equal(db->health.check, SPEC_CHECK_COMMAND);
	assert_int_equal(db->health.command.count, 4);
	assert_string_equal(db->health.command.items[0], "pg_isready");
	assert_int_equal(db->scale.mode, SPEC_SCALE_FIXED);

	const struct spec_service *cache = must_find(dep, "cache");
	assert_true(cache->has_entrypoint && cache->has_args);
	assert_string_equal(cache->entrypoint.items[0], "redis-server");
	assert_int_equal(cache->args.count, 4);
	assert_string_equal(cache->args.items[1], "");
	assert_string_equal(cache->workdir, "/data");
	/* A string command check runs through /bin/sh -c. */
	assert_int_equal(cache->health.command.count, 3);
	assert_string_equal(cache->health.command.items[1], "-c");
	assert_string_equal(cache->health.command.items[2], "redis-cli ping | grep -q PONG");

	const struct spec_service *search = must_find(dep, "search");
	assert_int_equal(search->scale.mode, SPEC_SCALE_MANUAL);
	assert_int_equal(spec_service_desired_replicas(search), 0);
}

static void check_storage(const struct spec_set *set)
{
	const struct spec_service *s = must_find(&set->deployments[0], "archive");
	assert_string_equal(s->image, "registry.example.net:5000/photos/archive:2024.11");
	assert_int_equal(s->storage_count, 8);
	const struct spec_storage *st = s->storage;
	assert_int_equal(st[0].type, SPEC_STORAGE_BIND);
	assert_string_equal(st[0].source, "/srv/photos/incoming");
	assert_string_equal(st[0].target, "/incoming");
	assert_true(st[0].readonly);
	assert_false(st[1].readonly);
	assert_int_equal(st[2].type, SPEC_STORAGE_NAMED);
	assert_string_equal(st[2].name, "originals");
	assert_string_equal(st[2].tier, "local");
	assert_int_equal(st[2].size_bytes, 200LL << 30);
	assert_string_equal(st[3].name, "thumbs.v2");
	assert_false(st[2].nocopy);
	assert_true(st[3].nocopy);
	assert_int_equal(st[4].type, SPEC_STORAGE_ANONYMOUS);
	assert_string_equal(st[4].tier, "cached");
	assert_int_equal(st[5].type, SPEC_STORAGE_TMPFS);
	assert_int_equal(st[5].size_bytes, 256LL << 20);
	/* Modes are octal however they are written. */
	assert_int_equal(st[5].mode, 01777);
	assert_int_equal(st[6].mode, 0750);
	assert_int_equal(st[7].mode, 0700);
}

static void check_jobs(const struct spec_set *set)
{
	const struct spec_deployment *dep = &set->deployments[0];
	const struct spec_service *import = must_find(dep, "import");
	assert_int_equal(import->rtype, SPEC_RTYPE_JOB);
	assert_null(import->schedule);
	assert_int_equal(spec_service_desired_replicas(import), 2);
	assert_int_equal(import->restart_kind, SPEC_RESTART_ON_FAILURE);
	assert_int_equal(import->restart_max_attempts, 3);
	assert_int_equal(import->restart_delay_ms, 30000);
	assert_false(import->delete_on_exit);
	assert_true(import->has_args && !import->has_entrypoint);
	static const struct {
		const char *name, *schedule;
		int64_t next; /* first run after NEW_YEAR_2026 */
	} crons[] = {
		{ "compact", "0 15 1 * * MON-FRI", NEW_YEAR_2026 + 75 * 60 },            /* 6 fields */
		{ "rotate", "*/20 * * * *", NEW_YEAR_2026 + 20 * 60 },                   /* 5 fields */
		{ "new-year", "0 0 6 1 JAN ? 2025-2191", NEW_YEAR_2026 + 6 * 3600 },     /* 7 fields */
		{ "weekly-report", "@weekly", NEW_YEAR_2026 + 3 * 86400 },               /* Sunday */
		{ "weekend", "30 0 8 ? * FRI-SUN", NEW_YEAR_2026 + 86400 + 8 * 3600 + 30 }, /* Friday */
	};
	for (size_t i = 0; i < sizeof(crons) / sizeof(crons[0]); i++) {
		const struct spec_service *c = must_find(dep, crons[i].name);
		assert_int_equal(c->rtype, SPEC_RTYPE_CRON);
		assert_string_equal(c->schedule, crons[i].schedule);
		if (spec_cron_next(&c->cron, NEW_YEAR_2026) != crons[i].next)
			fail_msg("%s: next run %lld, want %lld", crons[i].name,
				 (long long)spec_cron_next(&c->cron, NEW_YEAR_2026), (long long)crons[i].next);
	}
	assert_true(must_find(dep, "weekly-report")->delete_on_exit);
	assert_int_equal(must_find(dep, "compact")->depends[0].condition, SPEC_COND_STARTED);
	assert_string_equal(dep->services[0].name, "import");
}

static void check_security(const struct spec_set *set)
{
	const struct spec_deployment *dep = &set->deployments[0];
	const struct spec_service *s = must_find(dep, "vault-agent");
	assert_string_equal(s->user, "4100:4100");
	assert_false(s->privileged);
	assert_true(s->read_only_root_fs);
	assert_string_equal(s->cap_drop.items[0], "ALL");
	/* capabilities and cap_add are aliases: both lists, in file order. */
	assert_int_equal(s->cap_add.count, 2);
	assert_string_equal(s->cap_add.items[0], "NET_BIND_SERVICE");
	assert_string_equal(s->cap_add.items[1], "CAP_CHOWN");
	assert_int_equal(s->security_opt.count, 2);
	assert_string_equal(s->security_opt.items[1], "systempaths=unconfined");
	assert_int_equal(s->sysctl_count, 2);
	assert_string_equal(kv_get(s->sysctls, s->sysctl_count, "kernel.shmmax"), "68719476736");
	assert_int_equal(s->ulimit_count, 4);
	for (size_t i = 0; i < s->ulimit_count; i++) {
		const struct spec_ulimit *u = &s->ulimits[i];
		if (!strcmp(u->name, "nofile"))
			assert_true(u->soft == 65536 && u->hard == 65536); /* a number sets both */
		else if (!strcmp(u->name, "nproc"))
			assert_true(u->soft == 256 && u->hard == 256); /* the missing one copies */
		else if (!strcmp(u->name, "core"))
			assert_true(u->soft == 0 && u->hard == 0);
		else if (!strcmp(u->name, "memlock"))
			assert_true(u->soft == -1 && u->hard == -1);
		else
			fail_msg("unexpected ulimit %s", u->name);
	}
	assert_int_equal(s->device_count, 2);
	assert_string_equal(s->devices[0].path, "/dev/fuse");
	assert_true(s->devices[0].read && s->devices[0].write && s->devices[0].mknod); /* rwm */
	assert_false(s->devices[1].mknod);
	assert_int_equal(s->extra_groups.count, 2);
	assert_string_equal(s->extra_groups.items[1], "44");
	assert_string_equal(kv_get(s->labels, s->label_count, "org.example.tier"), "1");
	assert_true(s->tty && s->stdin_open && s->init_container);
	assert_string_equal(s->cgroup_parent, "/tenants/tools");
	assert_string_equal(s->pid_mode, "private");
	assert_string_equal(s->ipc_mode, "shareable");
	assert_string_equal(s->userns_mode, "host");
	assert_int_equal(s->stop_signal, SIGQUIT);
	assert_int_equal(s->stop_grace_ms, 90000);
	assert_int_equal(s->restart_kind, SPEC_RESTART_UNLESS_STOPPED);
	const struct spec_resources *r = &s->resources;
	assert_int_equal(r->cpu_millicores, 125);
	assert_int_equal(r->memory_bytes, 3LL << 30);
	assert_int_equal(r->memory_swap, 4LL << 30);
	assert_int_equal(r->memory_reservation, 1LL << 30);
	assert_int_equal(r->memory_swappiness, 0);
	assert_int_equal(r->pids_limit, 2048);
	assert_string_equal(r->cpuset, "0-3,6");
	assert_int_equal(r->cpu_shares, 512);
	assert_int_equal(r->blkio_weight, 300);
	assert_int_equal(r->oom_score_adj, 500);
	assert_true(r->oom_kill_disable);

	const struct spec_service *dbg = must_find(dep, "debug-shell");
	assert_true(dbg->privileged);
	assert_string_equal(dbg->pid_mode, "host");
	assert_string_equal(dbg->ipc_mode, "host");
	assert_int_equal(dbg->stop_signal, SIGKILL);
	assert_int_equal(dbg->restart_kind, SPEC_RESTART_NO);
	assert_int_equal(dbg->on_panic, SPEC_PANIC_ISOLATE);
	const struct spec_service *wd = must_find(dep, "watchdog");
	assert_int_equal(wd->stop_signal, SIGUSR1);
	assert_int_equal(wd->restart_kind, SPEC_RESTART_ALWAYS);
	assert_int_equal(wd->on_init_failure, SPEC_INIT_BACKOFF);
	assert_int_equal(wd->on_panic, SPEC_PANIC_RESTART);
}

static void check_network(const struct spec_set *set)
{
	const struct spec_deployment *dep = &set->deployments[0];
	static const struct { const char *svc, *mode; } modes[] = {
		{ "gateway", "bridge" }, { "sidecar", "bridge:backplane" }, { "probe", "host" },
		{ "offline", "none" }, { "buddy", "container:gateway-rep-1" }, { "plain", "default" },
		{ "hostnet", "host" }, /* host_network: true alone */
	};
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		assert_string_equal(must_find(dep, modes[i].svc)->network_mode, modes[i].mode);
	const struct spec_service *gw = must_find(dep, "gateway");
	assert_string_equal(gw->hostname, "gw");
	assert_int_equal(gw->dns.count, 2);
	assert_string_equal(gw->dns.items[1], "2001:db8::53");
	assert_int_equal(gw->extra_hosts.count, 2);
	assert_string_equal(gw->extra_hosts.items[0], "printer.lan:192.168.1.20");
	assert_int_equal(gw->port_mapping_count, 3);
	const struct spec_port_mapping *pm = gw->port_mappings;
	assert_int_equal(pm[0].container_port, 53);
	assert_int_equal(pm[0].host_port, 5353);
	assert_string_equal(pm[0].protocol, "udp");
	assert_string_equal(pm[0].host_ip, "127.0.0.1");
	assert_string_equal(pm[1].host_ip, "::1");
	assert_string_equal(pm[1].protocol, "tcp");
	assert_int_equal(pm[1].host_port, 0);
	assert_string_equal(pm[2].host_ip, "0.0.0.0");
	assert_null(must_find(dep, "plain")->hostname);
}

static void check_cluster(const struct spec_set *set, const struct spec_diags *diags)
{
	/* Each ignored top-level block gets a note, and nothing else. */
	static const char *const notes[] = { "externals", "tunnels", "api" };
	for (size_t i = 0; i < 3; i++) {
		assert_true(diags->items[i].is_note);
		assert_string_equal(diags->items[i].path, notes[i]);
		assert_int_equal(diags->items[i].line, 8 + 2 * (int)i);
		assert_int_equal(diags->items[i].col, 3);
		assert_string_equal(diags->items[i].msg, "ignored: a cluster setting with no meaning on a single host");
	}
	const struct spec_deployment *dep = &set->deployments[0];
	const struct spec_service *r = must_find(dep, "render");
	assert_int_equal(r->pull_policy, SPEC_PULL_NEVER);
	assert_string_equal(r->source_policy, "local_only");
	assert_int_equal(r->resources.cpu_millicores, 2000);
	assert_int_equal(r->resources.gpu_count, 1);
	assert_string_equal(r->resources.gpu_vendor, "amd");
	assert_int_equal(r->endpoint_count, 1);
	assert_int_equal(r->endpoints[0].port, 7070);
	assert_int_equal(spec_service_desired_replicas(r), 2);
	assert_int_equal(r->health.check, SPEC_CHECK_COMMAND);
	assert_string_equal(r->health.command.items[2], "true");
	assert_false(spec_service_declares_wasm(r));
	const struct spec_service *ix = must_find(dep, "indexer");
	assert_string_equal(ix->image, "oci:/srv/images/indexer:v3");
	assert_string_equal(ix->source_policy, "s3_first");
	assert_int_equal(ix->service_type, SPEC_SERVICE_TYPE_STANDARD);
	assert_false(spec_service_declares_wasm(ix));
}

static void check_wasm(const struct spec_set *set, const struct spec_diags *diags)
{
	/* The one note: service_type job on a service. */
	assert_true(diags->items[0].is_note);
	assert_string_equal(diags->items[0].path, "services.reindex.service_type");
	assert_int_equal(diags->items[0].line, 69);
	assert_non_null(strstr(diags->items[0].msg, "rtype: job"));
	const struct spec_deployment *dep = &set->deployments[0];
	const struct spec_service *r = must_find(dep, "resize");
	assert_int_equal(r->service_type, SPEC_SERVICE_TYPE_WASM_PLUGIN);
	assert_true(r->wasm.present);
	assert_int_equal(r->wasm.max_memory, 128LL << 20);
	assert_true(r->wasm.filesystem);
	assert_true(r->wasm.has_capabilities && r->wasm.cap_filesystem);
	assert_false(r->wasm.has_max_fuel); /* max_fuel: 0 is "unlimited" */
	assert_false(r->wasm.cap_sockets || r->wasm.cap_http_client || r->wasm.allow_tcp || r->wasm.allow_udp);
	assert_int_equal(r->wasm.preopen_count, 2);
	assert_string_equal(r->wasm.preopens[0].source, "/srv/images/in");
	assert_string_equal(r->wasm.preopens[0].target, "/in");
	assert_true(r->wasm.preopens[0].readonly);
	assert_string_equal(r->wasm.preopens[1].target, "/out");
	assert_false(r->wasm.preopens[1].readonly);
	assert_int_equal(spec_service_desired_replicas(r), 2);
	assert_true(spec_service_declares_wasm(r));
	/* WebAssembly by its file: image alone: no block, no service_type. */
	const struct spec_service *rep = must_find(dep, "report");
	assert_false(rep->wasm.present);
	assert_int_equal(rep->wasm.max_memory, -1);
	assert_int_equal(rep->service_type, SPEC_SERVICE_TYPE_UNSET);
	assert_true(rep->wasm.filesystem);
	assert_true(spec_service_declares_wasm(rep));
	/* wasm_http: is the wasm block's older name. */
	const struct spec_service *l = must_find(dep, "legacy");
	assert_true(l->wasm.present);
	assert_int_equal(l->wasm.max_memory, 16LL << 20);
	assert_false(l->wasm.filesystem); /* wasm_http's default */
	static const struct { const char *svc; enum spec_service_type type; } types[] = {
		{ "shrink", SPEC_SERVICE_TYPE_WASM_TRANSFORMER }, { "gate", SPEC_SERVICE_TYPE_WASM_AUTHENTICATOR },
		{ "brake", SPEC_SERVICE_TYPE_WASM_RATE_LIMITER }, { "stamp", SPEC_SERVICE_TYPE_WASM_MIDDLEWARE },
		{ "route", SPEC_SERVICE_TYPE_WASM_ROUTER },
	};
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		const struct spec_service *s = must_find(dep, types[i].svc);
		assert_int_equal(s->service_type, types[i].type);
		assert_false(s->wasm.present);
		assert_true(spec_service_declares_wasm(s));
	}
	const struct spec_service *web = must_find(dep, "web");
	assert_int_equal(web->service_type, SPEC_SERVICE_TYPE_STANDARD);
	assert_false(spec_service_declares_wasm(web));
	assert_int_equal(web->endpoint_count, 1);
	const struct spec_service *ri = must_find(dep, "reindex");
	assert_int_equal(ri->service_type, SPEC_SERVICE_TYPE_JOB);
	assert_int_equal(ri->rtype, SPEC_RTYPE_SERVICE);
	assert_false(spec_service_declares_wasm(ri));
}

static void check_documents(const struct spec_set *set)
{
	static const struct { const char *name; int line; size_t services; } docs[] = {
		{ "docs-one", 3, 1 }, { "docs-two", 8, 0 }, { "DocsThree", 15, 0 },
	};
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(set->deployments[i].name, docs[i].name);
		assert_int_equal(set->deployments[i].line, docs[i].line);
		assert_int_equal(set->deployments[i].service_count, docs[i].services);
		assert_true(zl_str_has_suffix(set->deployments[i].file, "/valid/documents.yaml"));
	}
}

static void check_yaml_forms(const struct spec_set *set)
{
	const struct spec_deployment *dep = &set->deployments[0];
	const struct spec_service *first = must_find(dep, "first");
	assert_int_equal(first->env_count, 4);
	assert_string_equal(kv_get(first->env, first->env_count, "VERSION"), "1.10");
	assert_string_equal(kv_get(first->env, first->env_count, "OCTAL"), "0755");
	assert_string_equal(kv_get(first->env, first->env_count, "EMPTY"), "");
	assert_true(first->tty);
	assert_false(first->stdin_open);
	assert_int_equal(first->label_count, 0); /* labels: ~ is absent */
	/* An alias repeats the anchored node. */
	const struct spec_service *second = must_find(dep, "second");
	assert_int_equal(second->env_count, 4);
	assert_string_equal(kv_get(second->env, second->env_count, "TZ"), "UTC");
	assert_true(second->privileged);
	assert_false(second->read_only_root_fs);
	assert_null(second->hostname);    /* an empty value is absent */
	assert_false(second->health.present); /* so is null */
	const struct spec_service *third = must_find(dep, "third");
	assert_string_equal(third->image, "alpine:3.20");
	assert_int_equal(third->args.count, 2);
	assert_string_equal(third->args.items[1], "infinity");
	assert_true(third->tty);
}

static const struct {
	const char *name;
	size_t deployments, services, notes;
	void (*check)(const struct spec_set *set);
	void (*check_diags)(const struct spec_set *set, const struct spec_diags *diags);
} valid_fixtures[] = {
	{ "minimal", 1, 2, 0, check_minimal, NULL },
	{ "shop", 1, 5, 0, check_shop, NULL },
	{ "storage", 1, 1, 0, check_storage, NULL },
	{ "jobs", 1, 6, 0, check_jobs, NULL },
	{ "security", 1, 3, 0, check_security, NULL },
	{ "network", 1, 7, 0, check_network, NULL },
	{ "cluster", 1, 2, 3, NULL, check_cluster },
	{ "documents", 3, 1, 0, check_documents, NULL },
	{ "yaml-forms", 1, 3, 0, check_yaml_forms, NULL },
	{ "wasm", 1, 10, 1, NULL, check_wasm },
};
#define VALID_FIXTURES (sizeof(valid_fixtures) / sizeof(valid_fixtures[0]))

static void test_valid_fixtures(void **state)
{
	(void)state;
	const char *names[VALID_FIXTURES];
	for (size_t i = 0; i < VALID_FIXTURES; i++)
		names[i] = valid_fixtures[i].name;
	char *dir = fixture_path("valid");
	assert_fixture_set(dir, names, VALID_FIXTURES, false);
	for (size_t i = 0; i < VALID_FIXTURES; i++) {
		char *path = zl_xasprintf("%s/%s.yaml", dir, valid_fixtures[i].name);
		const char *paths[] = { path };
		struct spec_set set = { 0 };
		struct spec_diags diags = { 0 };
		int rc = spec_load_paths(paths, 1, &set, &diags);
		if (rc != 0 || diags.errors != 0 || diags.count != valid_fixtures[i].notes) {
			char *all = diags_text(&diags);
			fail_msg("%s: want no error and %zu notes, got:\n%s", path, valid_fixtures[i].notes,
				 all ? all : "");
		}
		assert_int_equal(set.count, valid_fixtures[i].deployments);
		size_t services = 0;
		for (size_t d = 0; d < set.count; d++)
			services += set.deployments[d].service_count;
		assert_int_equal(services, valid_fixtures[i].services);
		if (valid_fixtures[i].check)
			valid_fixtures[i].check(&set);
		if (valid_fixtures[i].check_diags)
			valid_fixtures[i].check_diags(&set, &diags);
		spec_set_free(&set);
		spec_diags_free(&diags);
		free(path);
	}
	/* The whole directory at once: every document of every file. */
	const char *paths[] = { dir };
	struct spec_set set = { 0 };
	struct spec_diags diags = { 0 };
	assert_int_equal(spec_load_paths(paths, 1, &set, &diags), 0);
	size_t want = 0;
	for (size_t i = 0; i < VALID_FIXTURES; i++)
		want += valid_fixtures[i].deployments;
	assert_int_equal(set.count, want);
	spec_set_free(&set);
	spec_diags_free(&diags);
	free(dir);
}

/* Each invalid fixture NAME.yaml has NAME.errors: exactly what loading it
 * prints (spec_diags_print, "FILE:LINE:COL: key.path: message"), with FILE
 * relative to the fixture directory. */
static const char *const invalid_fixtures[] = {
	"cluster", "depends", "documents", "endpoints", "env", "foreign-keys", "health", "images",
	"lifecycle", "names", "old-zlayer", "scalars", "scale", "security", "storage", "syntax",
	"top-level", "wasm",
};
#define INVALID_FIXTURES (sizeof(invalid_fixtures) / sizeof(invalid_fixtures[0]))

/* Removes every "dir/" from text (in place). */
static void strip_dir(char *text, const char *dir)
{
	char *prefix = zl_xasprintf("%s/", dir);
	size_t plen = strlen(prefix);
	char *w = text;
	for (const char *r = text; *r;) {
		if (!strncmp(r, prefix, plen))
			r += plen;
		else
			*w++ = *r++;
	}
	*w = '\0';
	free(prefix);
}

static void test_invalid_fixtures(void **state)
{
	(void)state;
	char *dir = fixture_path("invalid");
	assert_fixture_set(dir, invalid_fixtures, INVALID_FIXTURES, true);
	for (size_t i = 0; i < INVALID_FIXTURES; i++) {
		char *path = zl_xasprintf("%s/%s.yaml", dir, invalid_fixtures[i]);
		char *errors_path = zl_xasprintf("%s/%s.errors", dir, invalid_fixtures[i]);
		char *want = NULL;
		size_t want_len = 0;
		struct zl_err err = ZL_ERR_INIT;
		if (zl_read_file(errors_path, &want, &want_len, &err) < 0)
			fail_msg("%s", err.msg);
		size_t want_lines = 0;
		for (size_t j = 0; j < want_len; j++)
			want_lines += want[j] == '\n';
		const char *paths[] = { path };
		struct spec_set set = { 0 };
		struct spec_diags diags = { 0 };
		int rc = spec_load_paths(paths, 1, &set, &diags);
		char *got = diags_text(&diags);
		strip_dir(got, dir);
		if (strcmp(got, want) != 0)
			fail_msg("%s: diagnostics differ from %s.errors\n--- want:\n%s--- got:\n%s", path,
				 invalid_fixtures[i], want, got);
		/* Every problem is an error with a place. */
		assert_int_equal(rc, -1);
		assert_int_equal(diags.errors, want_lines);
		assert_int_equal(diags.count, want_lines);
		for (size_t j = 0; j < diags.count; j++) {
			assert_true(diags.items[j].line > 0);
			assert_true(diags.items[j].col > 0);
		}
		free(got);
		free(want);
		spec_set_free(&set);
		spec_diags_free(&diags);
		free(errors_path);
		free(path);
	}
	free(dir);
}

/* A file with errors still yields its model, so every problem is found in
 * one pass: old-zlayer.yaml (health checks of type exec, init.exec). */
static void test_invalid_fixture_model(void **state)
{
	(void)state;
	char *path = fixture_path("invalid/old-zlayer.yaml");
	const char *paths[] = { path };
	struct spec_set set = { 0 };
	struct spec_diags diags = { 0 };
	assert_int_equal(spec_load_paths(paths, 1, &set, &diags), -1);
	const struct spec_diag *d = find_diag(&diags, "services.store.health.check.type", NULL);
	assert_non_null(d);
	assert_string_equal(d->msg, "expected tcp|http|command, got \"exec\"");
	assert_int_equal(d->line, 36);
	assert_int_equal(d->col, 15);
	const struct spec_deployment *dep = &set.deployments[0];
	/* Dependencies first, ties in file order. */
	assert_order(dep, (const char *const[]){ "store", "mailer", "tickets", "portal", "digest" }, 5);
	const struct spec_service *tickets = must_find(dep, "tickets");
	assert_string_equal(kv_get(tickets->env, tickets->env_count, "DB_DSN"),
			    "mysql://desk:$E:DESK_DB_PASSWORD@store:3306/desk");
	assert_string_equal(kv_get(tickets->env, tickets->env_count, "MAIL_PASSWORD"), "$S:desk-mail");
	/* The classic 5-field schedule: Mondays 07:15. */
	const struct spec_service *digest = must_find(dep, "digest");
	assert_string_equal(digest->schedule, "15 7 * * MON");
	assert_int_equal(spec_cron_next(&digest->cron, NEW_YEAR_2026), NEW_YEAR_2026 + 4 * 86400 + 7 * 3600 + 15 * 60);
	spec_set_free(&set);
	spec_diags_free(&diags);
	free(path);
}

/* Does text hold "key:" as a YAML key (after indentation, '{' or ',')? */
static bool has_yaml_key(const char *text, const char *key)
{
	size_t klen = strlen(key);
	for (const char *p = strstr(text, key); p; p = strstr(p + 1, key)) {
		char before = p == text ? '\n' : p[-1];
		if (strchr("\n {,", before) && p[klen] == ':' && strchr(" \n", p[klen + 1]))
			return true;
	}
	return false;
}

/* The valid fixtures together use every key of docs/spec-reference.md and
 * every variant of the blocks that have variants. */
static void test_fixtures_cover_every_key(void **state)
{
	(void)state;
	static const char *const keys[] = {
		/* top level */
		"version", "deployment", "services", "externals", "tunnels", "api",
		/* service */
		"rtype", "schedule", "image", "command", "env", "resources", "scale", "endpoints",
		"port_mappings", "storage", "health", "depends", "init", "errors", "restart_policy",
		"stop_signal", "stop_grace_period", "lifecycle", "network_mode", "host_network",
		"hostname", "dns", "extra_hosts", "user", "privileged", "capabilities", "cap_add",
		"cap_drop", "devices", "read_only_root_fs", "sysctls", "ulimits", "security_opt",
		"pid_mode", "ipc_mode", "userns_mode", "extra_groups", "labels", "tty", "stdin_open",
		"init_container", "cgroup_parent", "network", "overlay", "node_mode", "node_selector",
		"affinity", "platform", "replica_groups", "service_type", "wasm", "logs", "isolation",
		"localhost_reachability", "expose", "wasm_http",
		/* inside the blocks */
		"name", "pull_policy", "source_policy", "entrypoint", "args", "workdir", "cpu", "memory",
		"memory_swap", "memory_reservation", "memory_swappiness", "pids_limit", "cpuset",
		"cpu_shares", "blkio_weight", "oom_score_adj", "oom_kill_disable", "gpu", "count", "vendor",
		"mode", "replicas", "min", "max", "cooldown", "targets", "rps", "protocol", "port",
		"target_port", "path", "host", "stream", "target_role", "tunnel", "container_port",
		"host_port", "host_ip", "type", "source", "target", "readonly", "nocopy", "tier", "size",
		/* s3's bucket, prefix, endpoint and credentials: validate refuses
		 * type s3 (invalid/storage.yaml) */
		"check", "start_grace", "interval", "timeout",
		"retries", "url", "expect_status", "service", "condition", "on_timeout", "steps", "id",
		"uses", "with", "retry", "on_failure", "on_init_failure", "on_panic", "action", "kind",
		"max_attempts", "delay", "delete_on_exit", "read", "write", "mknod", "soft", "hard",
		/* inside wasm (the keys it refuses are in invalid/wasm.yaml) */
		"max_memory", "max_fuel", "preopens", "allow_http_outgoing", "allowed_hosts", "allow_tcp",
		"allow_udp", "kv_enabled", "kv_namespace", "kv_max_value_size", "secrets", "precompile",
		"config", "keyvalue", "logging", "metrics", "http_client", "cli", "filesystem", "sockets",
		/* variants */
		"rtype: service", "rtype: job", "rtype: cron", "pull_policy: always",
		"pull_policy: never", "mode: fixed", "mode: adaptive", "mode: manual", "protocol: http",
		"protocol: https", "protocol: tcp", "protocol: udp", "protocol: websocket",
		"expose: public", "expose: internal", "type: bind", "type: named", "type: anonymous",
		"type: tmpfs", "type: tcp", "type: http", "type: command",
		"condition: healthy", "condition: started", "condition: ready", "on_timeout: fail",
		"on_timeout: warn", "on_timeout: continue", "uses: init.wait_tcp",
		"uses: init.wait_http", "uses: init.run", "action: restart", "action: shutdown",
		"action: isolate", "action: backoff", "kind: no", "kind: always",
		"kind: unless_stopped", "kind: on_failure", "network_mode: default",
		"network_mode: bridge", "network_mode: host", "network_mode: none",
		"service_type: standard", "service_type: wasm_http", "service_type: wasm_plugin",
		"service_type: wasm_transformer", "service_type: wasm_authenticator",
		"service_type: wasm_rate_limiter", "service_type: wasm_middleware", "service_type: wasm_router",
		"service_type: job", "\"file:",
		"\"$E:", "\"$S:", "\"$secret://",
	};
	struct zl_buf all = { 0 };
	for (size_t i = 0; i < VALID_FIXTURES; i++) {
		char *path = zl_xasprintf("%s/tests/fixtures/spec/valid/%s.yaml", spec_source_root(), valid_fixtures[i].name);
		char *text = NULL;
		size_t len = 0;
		struct zl_err err = ZL_ERR_INIT;
		if (zl_read_file(path, &text, &len, &err) < 0)
			fail_msg("%s", err.msg);
		zl_buf_append(&all, text, len);
		zl_buf_puts(&all, "\n");
		free(text);
		free(path);
	}
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *k = keys[i];
		bool found = strchr(k, ' ') || k[0] == '"' ? strstr(all.data, k) != NULL : has_yaml_key(all.data, k);
		if (!found)
			fail_msg("no valid fixture in tests/fixtures/spec/valid uses \"%s\"", k);
	}
	zl_buf_free(&all);
}

/* ---- diagnostics ---- */

static void test_diag_format(void **state)
{
	struct loaded l;
	load(&l, HEAD "  api:\n    image:\n      name: nginx\n    resources:\n      memory: 512M\n");
	char *text = diags_text(&l.diags);
	assert_string_equal(text, "t.yaml:8:15: services.api.resources.memory: expected <n>Ki|Mi|Gi|Ti, got \"512M\"\n");
	free(text);
	unload(&l);
}

static void test_unknown_keys_suggest(void **state)
{
	expect_error(HEAD "  api:\n    imgae:\n      name: nginx\n", "services.api.imgae",
		     "unknown key \"imgae\" (did you mean \"image\"?)");
	expect_error(HEAD "  api:\n    image: { name: nginx, pull_polcy: always }\n",
		     "services.api.image.pull_polcy", "did you mean \"pull_policy\"?");
	expect_error("version: v1\ndeployment: test-app\nservces: {}\n", "servces", "did you mean \"services\"?");
	expect_error(HEAD "  api:\n    image: { name: nginx }\n    resources: { memroy: 1Gi }\n",
		     "services.api.resources.memroy", "did you mean \"memory\"?");
	expect_error(HEAD "  api:\n    image: { name: nginx }\n    depends_on: [db]\n", "services.api.depends_on",
		     "\"depends\"");
	expect_error(HEAD "  api:\n    image: { name: nginx }\n    runtime: { type: wasm }\n", "services.api.runtime",
		     "wasm");
	expect_error(HEAD "  api:\n    image: { name: nginx }\n    volumes: []\n", "services.api.volumes", "storage");
	expect_error(HEAD "  api:\n    image: { name: nginx }\n    health: { check: { type: tcp, port: 1, bogus: 1 } }\n",
		     "services.api.health.check.bogus", "unknown key");
	expect_error(HEAD "  api:\n    image: { name: nginx }\n    endpoints: [{ name: a, protocol: tcp, port: 1, prot: 2 }]\n",
		     "services.api.endpoints[0].prot", "did you mean \"port\"?");
	expect_error(HEAD "  api:\n    image: { name: nginx }\n    init: { steps: [{ id: a, uses: init.run, with: { command: x, cmd: y } }] }\n",
		     "services.api.init.steps[0].with.cmd", "unknown key");
}

static void test_wrong_types(void **state)
{
	expect_error(HEAD "  api:\n    image: { name: { a: b } }\n", "services.api.image.name",
		     "expected a string, got a mapping");
	expect_error(HEAD "  api:\n    image: { name: nginx }\n    env: { A: { b: c } }\n", "services.api.env.A",
		     "expected a string, got a mapping");
	expect_error(HEAD "  api:\n    image: { name: nginx }\n    env: [A]\n", "services.api.env", "got a list");
	expect_error(HEAD "  api:\n    image: { name: nginx }\n    privileged: yes\n", "services.api.privileged",
		     "expected true or false");
	expect_error(HEAD "  api:\n    image: { name: nginx }\n    endpoints: { name: a }\n", "services.api.endpoints",
		     "expected a list, got a mapping");
	expect_error(HEAD "  api:\n    image: { name: nginx }\n    endpoints: [{ name: a, protocol: tcp, port: \"80\" }]\n",
		     "services.api.endpoints[0].port", "expected an integer, got the string \"80\"");
	expect_error(HEAD "  api:\n    image: { name: nginx }\n    command: \"sleep 1\"\n", "services.api.command",
		     "expected a list");
	expect_error("version: v1\ndeployment: test-app\nservices: [a]\n", "services", "got a list");
	expect_error("- a\n- b\n", "", "expected a deployment");
	expect_error("hello\n", "", "expected a deployment");
}

static void test_limits_and_schedules(void **state)
{
	(void)state;
	/* An unlimited soft limit is above any finite hard one. */
	expect_error(HEAD "  api:\n    image: { name: nginx }\n    ulimits: { nofile: { soft: -1, hard: 1024 } }\n",
		     "services.api.ulimits.nofile", "above hard limit");
	/* 30 February never comes. */
	expect_error(HEAD "  api:\n    rtype: cron\n    schedule: \"0 0 0 30 2 *\"\n    image: { name: nginx }\n",
		     "services.api.schedule", "never fires");
}

/* rollout.max_unavailable: a count or a percentage; outside the hash. */
static void test_rollout(void **state)
{
	(void)state;
	struct loaded l;
	expect_clean(&l, HEAD "  api:\n    image: { name: nginx }\n    rollout: { max_unavailable: 3 }\n");
	assert_int_equal(l.set.deployments[0].services[0].rollout.max_unavailable, 3);
	unload(&l);
	expect_clean(&l, HEAD "  api:\n    image: { name: nginx }\n    rollout: { max_unavailable: 40% }\n");
	assert_int_equal(l.set.deployments[0].services[0].rollout.max_unavailable_percent, 40);
	unload(&l);
	const char *const bad[] = { "0", "\"0%\"", "101%", "-1", "x%", "\"%\"", "2.5", "\" 5%\"" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[256];
		snprintf(text, sizeof(text), HEAD "  api:\n    image: { name: nginx }\n    rollout: { max_unavailable: %s }\n",
			 bad[i]);
		expect_error(text, "services.api.rollout.max_unavailable", NULL);
	}
	expect_error(HEAD "  api:\n    image: { name: nginx }\n    rollout: { max_surge: 1 }\n",
		     "services.api.rollout.max_surge", NULL);
}

static void test_duplicate_keys(void **state)
{
	struct loaded l;
	load(&l, HEAD "  api:\n    image: { name: nginx }\n    env: { A: x }\n    env: { B: y }\n");
	const struct spec_diag *d = find_diag(&l.diags, "services.api.env", "duplicate key \"env\" (first defined at line 6)");
	assert_non_null(d);
	assert_int_equal(d->line, 7);
	unload(&l);
	expect_error(HEAD "  api:\n    image: { name: nginx }\n  api:\n    image: { name: nginx }\n", "services.api",
		     "duplicate key \"api\" (first defined at line 4)");
	expect_error(HEAD "  api:\n    image: { name: nginx }\n    env: { A: x, A: y }\n", "services.api.env.A",
		     "duplicate key");
}

static void test_yaml_syntax_error(void **state)
{
	struct loaded l;
	load(&l, HEAD "  api:\n    image: { name: nginx\n    env: x: y\n");
	assert_int_equal(l.rc, -1);
	assert_int_equal(l.diags.errors, 1);
	assert_true(l.diags.items[0].line >= 5);
	assert_non_null(strstr(l.diags.items[0].msg, "invalid YAML"));
	unload(&l);
	load(&l, "version: v1\ndeployment: x\n\tservices: {}\n");
	assert_int_equal(l.rc, -1);
	assert_int_equal(l.diags.items[0].line, 3);
	unload(&l);
}

static void test_unreadable_file(void **state)
{
	const char *paths[] = { "/nonexistent/spec.yaml" };
	struct spec_set set = { 0 };
	struct spec_diags diags = { 0 };
	assert_int_equal(spec_load_paths(paths, 1, &set, &diags), -1);
	assert_int_equal(diags.errors, 1);
	assert_string_equal(diags.items[0].file, "/nonexistent/spec.yaml");
	assert_non_null(strstr(diags.items[0].msg, "No such file"));
	spec_set_free(&set);
	spec_diags_free(&diags);
}

/* ---- validation rules ---- */

static void test_validation_table(void **state)
{
	static const struct { const char *svc; const char *path; const char *part; } cases[] = {
		{ "    image: { name: nginx }\n    resources: { cpu: \"1.0\" }\n", "services.api.resources.cpu", "string" },
		{ "    image: { name: nginx }\n    resources: { cpu: 0 }\n", "services.api.resources.cpu", "> 0" },
		{ "    image: { name: nginx }\n    resources: { cpu: -1 }\n", "services.api.resources.cpu", "> 0" },
		{ "    image: { name: nginx }\n    resources: { memory: 1GB }\n", "services.api.resources.memory", "Ki|Mi|Gi|Ti" },
		{ "    image: { name: nginx }\n    resources: { memory: 512 }\n", "services.api.resources.memory", "Ki|Mi|Gi|Ti" },
		{ "    image: { name: nginx }\n    resources: { memory: 0Mi }\n", "services.api.resources.memory", "n > 0" },
		{ "    image: { name: nginx }\n    resources: { memory: 12.5Mi }\n", "services.api.resources.memory", "Ki|Mi|Gi|Ti" },
		{ "    image: { name: nginx }\n    resources: { memory_swappiness: 101 }\n", "services.api.resources.memory_swappiness", "0..100" },
		{ "    image: { name: nginx }\n    resources: { blkio_weight: 5 }\n", "services.api.resources.blkio_weight", "10..1000" },
		{ "    image: { name: nginx }\n    endpoints: [{ name: \"\", protocol: tcp, port: 1 }]\n", "services.api.endpoints[0].name", "empty" },
		{ "    image: { name: nginx }\n    endpoints: [{ name: a, protocol: tcp, port: 1 }, { name: a, protocol: tcp, port: 2 }]\n", "services.api.endpoints[1].name", "duplicate endpoint name" },
		{ "    image: { name: nginx }\n    endpoints: [{ name: a, protocol: tcp, port: 0 }]\n", "services.api.endpoints[0].port", "1..65535" },
		{ "    image: { name: nginx }\n    endpoints: [{ name: a, protocol: tcp, port: 70000 }]\n", "services.api.endpoints[0].port", "1..65535" },
		{ "    image: { name: nginx }\n    endpoints: [{ name: a, protocol: ftp, port: 1 }]\n", "services.api.endpoints[0].protocol", "http|https|tcp|udp|websocket" },
		{ "    image: { name: nginx }\n    endpoints: [{ name: a, protocol: tcp, port: 1, expose: world }]\n", "services.api.endpoints[0].expose", "internal|public" },
		{ "    image: { name: nginx }\n    endpoints: [{ protocol: tcp, port: 1 }]\n", "services.api.endpoints[0].name", "required" },
		{ "    image: { name: nginx }\n    scale: { mode: adaptive, min: 5, max: 2 }\n", "services.api.scale", "min (5) is greater than max (2)" },
		{ "    image: { name: nginx }\n    scale: { mode: elastic }\n", "services.api.scale.mode", "adaptive|fixed|manual" },
		{ "    image: { name: nginx }\n    scale: { mode: fixed }\n", "services.api.scale.replicas", "required" },
		{ "    image: { name: nginx }\n    scale: { mode: fixed, replicas: 1, min: 1 }\n", "services.api.scale.min", "does not apply" },
		{ "    image: { name: nginx }\n    rtype: cron\n    schedule: \"0 0 25 * * *\"\n", "services.api.schedule", "hour" },
		{ "    image: { name: nginx }\n    schedule: \"0 0 3 * * *\"\n", "services.api.schedule", "only applies to rtype: cron" },
		{ "    image: { name: nginx }\n    rtype: cron\n", "services.api.schedule", "required" },
		{ "    image: { name: nginx }\n    rtype: daemon\n", "services.api.rtype", "service|job|cron" },
		{ "    image: { name: nginx }\n    cgroup_parent: \"/apps/../etc\"\n", "services.api.cgroup_parent", "no \"..\"" },
		{ "    image: { name: nginx }\n    cgroup_parent: system.slice\n", "services.api.cgroup_parent", "no systemd .slice" },
		{ "    image: { name: nginx }\n    cgroup_parent: \"/a b\"\n", "services.api.cgroup_parent", "[A-Za-z0-9_.-]" },
		{ "    image: { name: nginx, pull_policy: sometimes }\n", "services.api.image.pull_policy", "if_not_present|always|newer|never" },
		{ "    image: { name: nginx, source_policy: cloud }\n", "services.api.image.source_policy", "local_first" },
		{ "    image: { pull_policy: always }\n", "services.api.image.name", "required" },
		{ "    rtype: service\n", "services.api.image", "required" },
		{ "    image: { name: Nginx }\n", "services.api.image.name", "lowercase" },
		{ "    image: { name: \"nginx:\" }\n", "services.api.image.name", "tag" },
		{ "    image: { name: \"nginx:-bad\" }\n", "services.api.image.name", "tag" },
		{ "    image: { name: \"nginx@sha256:abc\" }\n", "services.api.image.name", "digest" },
		{ "    image: { name: \"exa mple/x\" }\n", "services.api.image.name", "invalid image reference" },
		{ "    image: { name: \"ghcr.io/\" }\n", "services.api.image.name", "invalid image reference" },
		{ "    image: { name: nginx }\n    storage: [{ type: nfs, target: /x }]\n", "services.api.storage[0].type", "bind|named|anonymous|tmpfs|s3" },
		{ "    image: { name: nginx }\n    storage: [{ type: bind, target: /x }]\n", "services.api.storage[0].source", "required" },
		{ "    image: { name: nginx }\n    storage: [{ type: bind, source: /a, target: x }]\n", "services.api.storage[0].target", "absolute" },
		{ "    image: { name: nginx }\n    storage: [{ type: tmpfs, target: /x, name: n }]\n", "services.api.storage[0].name", "does not apply to type tmpfs" },
		{ "    image: { name: nginx }\n    storage: [{ type: tmpfs, target: /x, mode: 999 }]\n", "services.api.storage[0].mode", "octal" },
		{ "    image: { name: nginx }\n    storage: [{ name: n, path: /x }]\n", "services.api.storage[0].path", "target" },
		{ "    image: { name: nginx }\n    health: { interval: 5s }\n", "services.api.health.check", "required" },
		{ "    image: { name: nginx }\n    health: { check: { type: exec, command: [x] } }\n", "services.api.health.check.type", "tcp|http|command" },
		{ "    image: { name: nginx }\n    health: { check: { type: tcp } }\n", "services.api.health.check.port", "required" },
		{ "    image: { name: nginx }\n    health: { check: { type: tcp, port: 1, url: \"http://x\" } }\n", "services.api.health.check.url", "does not apply to type tcp" },
		{ "    image: { name: nginx }\n    health: { check: { type: http, url: \"ftp://x\" } }\n", "services.api.health.check.url", "http://" },
		{ "    image: { name: nginx }\n    health: { interval: 10, check: { type: tcp, port: 1 } }\n", "services.api.health.interval", "time unit needed" },
		{ "    image: { name: nginx }\n    depends: [{ service: api, condition: alive }]\n", "services.api.depends[0].condition", "healthy|started|ready" },
		{ "    image: { name: nginx }\n    depends: [{ service: api, on_timeout: explode }]\n", "services.api.depends[0].on_timeout", "fail|warn|continue" },
		{ "    image: { name: nginx }\n    depends: [{ condition: started }]\n", "services.api.depends[0].service", "required" },
		{ "    image: { name: nginx }\n    restart_policy: { kind: sometimes }\n", "services.api.restart_policy.kind", "no|always|unless_stopped|on_failure" },
		{ "    image: { name: nginx }\n    errors: { on_panic: { action: panic } }\n", "services.api.errors.on_panic.action", "restart|shutdown|isolate" },
		{ "    image: { name: nginx }\n    errors: { on_init_failure: { action: retry } }\n", "services.api.errors.on_init_failure.action", "fail|restart|backoff" },
		{ "    image: { name: nginx }\n    init: { steps: [{ id: a, uses: init.exec }] }\n", "services.api.init.steps[0].uses", "init.wait_tcp|init.wait_http|init.run" },
		{ "    image: { name: nginx }\n    init: { steps: [{ id: a, uses: init.wait_tcp, with: { host: x } }] }\n", "services.api.init.steps[0].with.port", "required" },
		{ "    image: { name: nginx }\n    init: { steps: [{ uses: init.run, with: { command: x } }] }\n", "services.api.init.steps[0].id", "required" },
		{ "    image: { name: nginx }\n    ulimits: { files: { soft: 1, hard: 2 } }\n", "services.api.ulimits.files", "unknown ulimit" },
		{ "    image: { name: nginx }\n    ulimits: { nofile: { soft: 10, hard: 2 } }\n", "services.api.ulimits.nofile", "above hard" },
		{ "    image: { name: nginx }\n    stop_signal: SIGFOO\n", "services.api.stop_signal", "unknown signal" },
		{ "    image: { name: nginx }\n    stop_grace_period: 10\n", "services.api.stop_grace_period", "time unit needed" },
		{ "    image: { name: nginx }\n    network_mode: overlay\n", "services.api.network_mode", "default|host|none" },
		{ "    image: { name: nginx }\n    network_mode: none\n    host_network: true\n", "services.api.host_network", "conflicts" },
		{ "    image: { name: nginx }\n    port_mappings: [{ host_port: 80 }]\n", "services.api.port_mappings[0].container_port", "required" },
		{ "    image: { name: nginx }\n    port_mappings: [{ container_port: 80, protocol: sctp }]\n", "services.api.port_mappings[0].protocol", "tcp|udp" },
		{ "    image: { name: nginx }\n    port_mappings: [{ container_port: 80, host_ip: localhost }]\n", "services.api.port_mappings[0].host_ip", "IP address" },
		{ "    image: { name: nginx }\n    env: { A: \"$S:../etc/passwd\" }\n", "services.api.env.A", "invalid secret name" },
		{ "    image: { name: nginx }\n    env: { A: \"$E:\" }\n", "services.api.env.A", "invalid environment variable name" },
		{ "    image: { name: nginx }\n    devices: [{ path: /etc/passwd }]\n", "services.api.devices[0].path", "/dev/" },
		{ "    image: { name: nginx }\n    node_selector: spread\n", "services.api.node_selector", "expected a mapping" },
		{ "    image: { name: nginx }\n    command: { args: [a, [b]] }\n", "services.api.command.args[1]", "expected a string" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text = zl_xasprintf(HEAD "  api:\n%s", cases[i].svc);
		expect_error(text, cases[i].path, cases[i].part);
		free(text);
	}
}

static void test_top_level_rules(void **state)
{
	expect_error("version: v2\ndeployment: test-app\n", "version", "expected \"v1\", got \"v2\"");
	expect_error("deployment: test-app\n", "version", "required");
	expect_error("version: v1\nservices: {}\n", "deployment", "required");
	expect_error("version: v1\ndeployment: ab\n", "deployment", "3..63");
	expect_error("version: v1\ndeployment: -abc\n", "deployment", "3..63");
	expect_error("version: v1\ndeployment: my_app\n", "deployment", "3..63");
	expect_error(HEAD "  Web:\n    image: { name: nginx }\n", "services.Web", "invalid service name");
	expect_error(HEAD "  web-:\n    image: { name: nginx }\n", "services.web-", "invalid service name");
	expect_error(HEAD "  web:\n", "services.web", "got null");
	/* Cluster-only top-level blocks are notes, not errors. */
	struct loaded l;
	expect_clean(&l, HEAD "  web:\n    image: { name: nginx }\nexternals: { a: 1 }\ntunnels: {}\napi: { bind: x }\n");
	assert_int_equal(l.diags.count, 3);
	for (size_t i = 0; i < 3; i++)
		assert_true(l.diags.items[i].is_note);
	char *text = diags_text(&l.diags);
	assert_non_null(strstr(text, "t.yaml:6:12: note: externals: ignored"));
	free(text);
	unload(&l);
}

static void test_depends_rules(void **state)
{
	expect_error(HEAD "  a:\n    image: { name: x }\n    depends: [{ service: b }]\n", "services.a.depends[0].service",
		     "unknown service \"b\"");
	expect_error(HEAD "  web:\n    image: { name: x }\n  api:\n    image: { name: x }\n    depends: [{ service: wbe }]\n",
		     "services.api.depends[0].service", "did you mean \"web\"?");
	expect_error(HEAD "  a:\n    image: { name: x }\n    depends: [{ service: a }]\n", "services.a.depends[0].service",
		     "cannot depend on itself");
	struct loaded l;
	load(&l, HEAD "  a:\n    image: { name: x }\n    depends: [{ service: b }]\n"
		      "  b:\n    image: { name: x }\n    depends: [{ service: c }]\n"
		      "  c:\n    image: { name: x }\n    depends: [{ service: a }]\n"
		      "  d:\n    image: { name: x }\n    depends: [{ service: a }]\n");
	assert_int_equal(l.diags.errors, 1);
	assert_string_equal(l.diags.items[0].msg, "dependency cycle: a -> b -> c -> a");
	assert_string_equal(l.diags.items[0].path, "services.a.depends[0].service");
	assert_int_equal(l.diags.items[0].line, 6);
	assert_int_equal(l.set.deployments[0].service_count, 4); /* all kept */
	unload(&l);
}

static void test_topological_order(void **state)
{
	struct loaded l;
	expect_clean(&l, HEAD "  web:\n    image: { name: x }\n    depends: [{ service: api }, { service: cache }]\n"
			      "  api:\n    image: { name: x }\n    depends: [{ service: db }]\n"
			      "  zz:\n    image: { name: x }\n"
			      "  cache:\n    image: { name: x }\n"
			      "  db:\n    image: { name: x }\n");
	const char *order[] = { "zz", "cache", "db", "api", "web" };
	const struct spec_deployment *dep = &l.set.deployments[0];
	for (size_t i = 0; i < 5; i++)
		assert_string_equal(dep->services[i].name, order[i]);
	unload(&l);
}

/* ---- decisions and defaults ---- */

static void test_defaults(void **state)
{
	struct loaded l;
	expect_clean(&l, HEAD "  web:\n    image: { name: nginx }\n    endpoints: [{ name: h, protocol: http, port: 80 }]\n"
			      "    port_mappings: [{ container_port: 80 }]\n    storage: [{ type: tmpfs, target: /t }]\n"
			      "    health: { check: { type: tcp, port: 80 } }\n"
			      "    depends: [{ service: db }]\n    init: { steps: [{ id: w, uses: init.wait_tcp, with: { host: db, port: 1 } }] }\n"
			      "  db:\n    image: { name: postgres }\n");
	const struct spec_service *s = spec_deployment_find(&l.set.deployments[0], "web");
	assert_int_equal(s->pull_policy, SPEC_PULL_IF_NOT_PRESENT);
	assert_int_equal(s->scale.mode, SPEC_SCALE_ADAPTIVE);
	assert_int_equal(s->scale.min, 1);
	assert_int_equal(s->scale.max, 10);
	assert_int_equal(spec_service_desired_replicas(s), 1);
	assert_int_equal(s->stop_signal, SIGTERM);
	assert_int_equal(s->stop_grace_ms, 10000);
	assert_true(s->health.present);
	assert_int_equal(s->health.start_grace_ms, 5000);
	assert_int_equal(s->health.interval_ms, 10000);
	assert_int_equal(s->health.timeout_ms, 5000);
	assert_int_equal(s->health.retries, 3);
	assert_int_equal(s->depends[0].condition, SPEC_COND_HEALTHY);
	assert_int_equal(s->depends[0].timeout_ms, 300000);
	assert_int_equal(s->depends[0].on_timeout, SPEC_ON_TIMEOUT_FAIL);
	assert_int_equal(s->init_steps[0].timeout_ms, 300000);
	assert_int_equal(s->endpoints[0].target_port, 80);
	assert_int_equal(s->endpoints[0].expose, SPEC_EXPOSE_INTERNAL);
	assert_string_equal(s->port_mappings[0].protocol, "tcp");
	assert_string_equal(s->port_mappings[0].host_ip, "0.0.0.0");
	assert_int_equal(s->port_mappings[0].host_port, 0);
	assert_int_equal(s->resources.memory_swappiness, -1);
	assert_int_equal(s->storage[0].mode, -1);
	assert_string_equal(s->network_mode, "default");
	assert_int_equal(s->restart_kind, SPEC_RESTART_UNSET);
	assert_int_equal(s->on_panic, SPEC_PANIC_RESTART);
	assert_int_equal(s->rtype, SPEC_RTYPE_SERVICE);
	assert_false(s->has_args);
	assert_false(s->has_entrypoint);
	const struct spec_service *db = spec_deployment_find(&l.set.deployments[0], "db");
	assert_false(db->health.present);
	assert_null(spec_deployment_find(&l.set.deployments[0], "nope"));
	unload(&l);
}

static void test_full_fixture(void **state)
{
	char *path = zl_xasprintf("%s/tests/fixtures/spec/full.yaml", spec_source_root());
	const char *paths[] = { path };
	struct spec_set set = { 0 };
	struct spec_diags diags = { 0 };
	int rc = spec_load_paths(paths, 1, &set, &diags);
	if (rc != 0) {
		char *all = diags_text(&diags);
		fail_msg("%s", all);
	}
	assert_int_equal(diags.count, 1); /* the note about externals */
	const struct spec_deployment *dep = &set.deployments[0];
	assert_string_equal(dep->name, "full-app");
	assert_string_equal(dep->services[0].name, "db");
	const struct spec_service *s = spec_deployment_find(dep, "api");
	assert_string_equal(s->image, "registry.example.com:5000/team/api:1.2.3");
	assert_int_equal(s->pull_policy, SPEC_PULL_NEWER);
	assert_true(s->has_entrypoint && s->has_args);
	assert_string_equal(s->args.items[1], "8080");
	assert_string_equal(s->workdir, "/srv");
	/* env sorted by key; numbers and bools as their text */
	assert_int_equal(s->env_count, 4);
	assert_string_equal(s->env[0].key, "A_VAR");
	assert_string_equal(s->env[0].value, "$E:HOME");
	assert_string_equal(s->env[1].key, "B_VAR");
	assert_string_equal(s->env[2].value, "true");
	assert_string_equal(s->env[3].value, "42");
	assert_int_equal(s->resources.cpu_millicores, 1500);
	assert_int_equal(s->resources.memory_bytes, 1LL << 30);
	assert_int_equal(s->resources.memory_swap, -1);
	assert_int_equal(s->resources.memory_reservation, 256LL << 20);
	assert_int_equal(s->resources.gpu_count, 1);
	assert_string_equal(s->resources.gpu_vendor, "nvidia");
	assert_int_equal(s->scale.min, 2);
	assert_int_equal(s->scale.cooldown_ms, 30000);
	assert_int_equal(s->endpoints[1].target_port, 9001);
	assert_int_equal(s->endpoints[0].expose, SPEC_EXPOSE_PUBLIC);
	assert_string_equal(s->port_mappings[1].protocol, "udp");
	assert_int_equal(s->storage_count, 4);
	assert_int_equal(s->storage[1].size_bytes, 1LL << 30);
	assert_int_equal(s->storage[3].mode, 01777);
	assert_int_equal(s->health.check, SPEC_CHECK_HTTP);
	assert_int_equal(s->health.expect_status, 204);
	assert_int_equal(s->depends[0].timeout_ms, 60000);
	assert_int_equal(s->depends[0].on_timeout, SPEC_ON_TIMEOUT_WARN);
	assert_int_equal(s->init_step_count, 3);
	assert_string_equal(s->init_steps[1].with[0].key, "command");
	assert_string_equal(s->init_steps[1].with[0].value, "[\"./migrate\",\"up\"]");
	assert_string_equal(s->init_steps[0].with[1].key, "port");
	assert_string_equal(s->init_steps[0].with[1].value, "5432");
	assert_int_equal(s->init_steps[1].on_failure, SPEC_ON_TIMEOUT_CONTINUE);
	assert_int_equal(s->on_init_failure, SPEC_INIT_BACKOFF);
	assert_int_equal(s->on_panic, SPEC_PANIC_ISOLATE);
	assert_int_equal(s->restart_kind, SPEC_RESTART_ON_FAILURE);
	assert_int_equal(s->restart_max_attempts, 5);
	assert_int_equal(s->stop_signal, SIGINT);
	assert_int_equal(s->stop_grace_ms, 30000);
	assert_true(s->delete_on_exit);
	assert_string_equal(s->network_mode, "bridge");
	/* capabilities is an alias of cap_add: both lists are kept */
	assert_int_equal(s->cap_add.count, 2);
	assert_string_equal(s->cap_add.items[0], "NET_ADMIN");
	assert_string_equal(s->cap_add.items[1], "SYS_TIME");
	assert_true(s->devices[0].read && s->devices[0].write && !s->devices[0].mknod);
	assert_int_equal(s->ulimit_count, 2);
	assert_int_equal(s->ulimits[0].hard, 4096);
	assert_int_equal(s->ulimits[1].soft, 512);
	assert_int_equal(s->ulimits[1].hard, 512);
	const struct spec_service *n = spec_deployment_find(dep, "nightly");
	assert_int_equal(n->rtype, SPEC_RTYPE_CRON);
	assert_true(spec_cron_next(&n->cron, 1767225600) > 0);
	assert_true(n->has_args);
	assert_int_equal(n->args.count, 3);
	assert_string_equal(n->network_mode, "host");
	assert_int_equal(n->health.command.count, 3);
	assert_string_equal(n->health.command.items[0], "/bin/sh");
	assert_string_equal(n->health.command.items[2], "pg_isready -q");
	/* The whole wasm block. */
	const struct spec_service *f = spec_deployment_find(dep, "filter");
	assert_int_equal(f->service_type, SPEC_SERVICE_TYPE_WASM_PLUGIN);
	assert_true(f->wasm.present);
	assert_int_equal(f->wasm.max_memory, 64LL << 20);
	assert_true(f->wasm.filesystem);
	assert_int_equal(f->wasm.preopen_count, 2);
	assert_string_equal(f->wasm.preopens[0].source, "/srv/filter/data");
	assert_true(f->wasm.preopens[0].readonly);
	assert_string_equal(f->wasm.preopens[1].target, "/tmp");
	assert_false(f->wasm.preopens[1].readonly);
	assert_true(spec_service_declares_wasm(f));
	assert_false(spec_service_declares_wasm(s));
	spec_set_free(&set);
	spec_diags_free(&diags);
	free(path);
}

/* ---- WebAssembly: service_type and the wasm block ---- */

#define WSVC HEAD "  w:\n    image: ghcr.io/acme/w-wasm:1\n"

static const struct spec_service *only_service(const struct loaded *l)
{
	assert_int_equal(l->set.count, 1);
	assert_int_equal(l->set.deployments[0].service_count, 1);
	return &l->set.deployments[0].services[0];
}

static void test_wasm_block(void **state)
{
	(void)state;
	struct loaded l;
	expect_clean(&l, WSVC "    service_type: wasm_plugin\n    wasm:\n      max_memory: 256Mi\n"
			      "      capabilities: { filesystem: true, cli: true, secrets: true }\n"
			      "      preopens:\n        - { source: /srv/in, target: /in, readonly: true }\n"
			      "        - { source: /srv/out, target: /out }\n"
			      "      max_fuel: 0\n      allow_tcp: false\n      kv_namespace: w\n      secrets: [k]\n");
	const struct spec_service *w = only_service(&l);
	assert_int_equal(w->service_type, SPEC_SERVICE_TYPE_WASM_PLUGIN);
	assert_true(w->wasm.present);
	assert_int_equal(w->wasm.max_memory, 256LL << 20);
	assert_true(w->wasm.filesystem);
	assert_int_equal(w->wasm.preopen_count, 2);
	assert_string_equal(w->wasm.preopens[0].source, "/srv/in");
	assert_string_equal(w->wasm.preopens[0].target, "/in");
	assert_true(w->wasm.preopens[0].readonly);
	assert_string_equal(w->wasm.preopens[1].source, "/srv/out");
	assert_false(w->wasm.preopens[1].readonly);
	assert_false(w->wasm.has_max_fuel || w->wasm.has_epoch_interval || w->wasm.has_request_timeout);
	assert_true(spec_service_declares_wasm(w));
	unload(&l);

	/* An empty block is there, with ZLayer's defaults; it alone makes the
	 * service WebAssembly. */
	expect_clean(&l, WSVC "    wasm: {}\n");
	w = only_service(&l);
	assert_true(w->wasm.present);
	assert_int_equal(w->wasm.max_memory, -1);
	assert_int_equal(w->wasm.preopen_count, 0);
	assert_true(w->wasm.filesystem);
	assert_int_equal(w->service_type, SPEC_SERVICE_TYPE_UNSET);
	assert_true(spec_service_declares_wasm(w));
	unload(&l);

	/* "wasm:" with nothing after it is absent, like any other key; a
	 * registry image alone says nothing. */
	expect_clean(&l, WSVC "    wasm:\n");
	w = only_service(&l);
	assert_false(w->wasm.present);
	assert_false(spec_service_declares_wasm(w));
	unload(&l);

	/* The older name wasm_http reads the same block. */
	expect_clean(&l, WSVC "    wasm_http: { max_memory: 1Mi, preopens: [{ source: /a, target: /b }] }\n");
	w = only_service(&l);
	assert_true(w->wasm.present);
	assert_int_equal(w->wasm.max_memory, 1LL << 20);
	assert_int_equal(w->wasm.preopen_count, 1);
	unload(&l);
}

static void test_wasm_memory_units(void **state)
{
	(void)state;
	static const struct { const char *text; int64_t bytes; } good[] = {
		{ "64Ki", 64LL << 10 }, { "1Mi", 1LL << 20 }, { "64Mi", 64LL << 20 },
		{ "2Gi", 2LL << 30 }, { "1Ti", 1LL << 40 }, { "1048576Ki", 1LL << 30 },
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char *text = zl_xasprintf(WSVC "    wasm:\n      max_memory: %s\n", good[i].text);
		struct loaded l;
		expect_clean(&l, text);
		assert_int_equal(only_service(&l)->wasm.max_memory, good[i].bytes);
		unload(&l);
		free(text);
	}
	/* ZLayer's rule: a positive integer and Ki, Mi, Gi or Ti; no decimal
	 * units, no bare bytes, no fractions, case matters. */
	static const char *const bad[] = { "64M", "64", "64MB", "64K", "1G", "64mi", "64MiB", "1.5Mi", "-64Mi",
					   "0Mi", "Mi", "64 Mi", "\"\"" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *text = zl_xasprintf(WSVC "    wasm:\n      max_memory: %s\n", bad[i]);
		expect_error(text, "services.w.wasm.max_memory", "expected <n>Ki|Mi|Gi|Ti");
		free(text);
	}
	/* The line names the file, the place and the key. */
	struct loaded l;
	load(&l, WSVC "    wasm:\n      max_memory: 64M\n");
	char *all = diags_text(&l.diags);
	assert_string_equal(all, "t.yaml:7:19: services.w.wasm.max_memory: expected <n>Ki|Mi|Gi|Ti, got \"64M\"\n");
	free(all);
	unload(&l);
	/* Below one WebAssembly page. */
	load(&l, WSVC "    wasm:\n      max_memory: 32Ki\n");
	const struct spec_diag *d = find_diag(&l.diags, "services.w.wasm.max_memory", "32Ki is less than 64Ki");
	assert_non_null(d);
	assert_non_null(strstr(d->msg, "64 KiB pages"));
	assert_int_equal(d->line, 7);
	assert_int_equal(d->col, 19);
	assert_int_equal(l.diags.errors, 1);
	unload(&l);
	expect_error(WSVC "    wasm:\n      max_memory: 63Ki\n", "services.w.wasm.max_memory", "less than 64Ki");
}

/* Each key zlapply cannot honour with node:wasi is refused with the reason,
 * at its own place; the harmless values of the same keys are accepted. */
static void test_wasm_refused_keys(void **state)
{
	(void)state;
	static const struct { const char *yaml, *path, *part; } refused[] = {
		{ "max_fuel: 1000000", "services.w.wasm.max_fuel", "node:wasi (WASI preview 1), which has no fuel metering" },
		{ "max_fuel: 1", "services.w.wasm.max_fuel", "bound CPU with resources.cpu" },
		{ "epoch_interval: 10ms", "services.w.wasm.epoch_interval", "has no epoch interruption" },
		{ "request_timeout: 30s", "services.w.wasm.request_timeout", "handles no HTTP requests" },
		{ "min_instances: 0", "services.w.wasm.min_instances", "no pool of request-serving instances" },
		{ "max_instances: 10", "services.w.wasm.max_instances", "the replica count is \"scale\"" },
		{ "idle_timeout: 5m", "services.w.wasm.idle_timeout", "no pool of request-serving instances" },
		{ "allow_tcp: true", "services.w.wasm.allow_tcp", "which has no sockets" },
		{ "allow_udp: true", "services.w.wasm.allow_udp", "which has no sockets" },
		{ "capabilities: { sockets: true }", "services.w.wasm.capabilities.sockets", "which has no sockets" },
		{ "capabilities: { http_client: true }", "services.w.wasm.capabilities.http_client", "no HTTP client" },
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		char *text = zl_xasprintf(WSVC "    service_type: wasm_plugin\n    wasm:\n      %s\n", refused[i].yaml);
		struct loaded l;
		load(&l, text);
		const struct spec_diag *d = find_diag(&l.diags, refused[i].path, refused[i].part);
		if (!d || l.diags.errors != 1) {
			char *all = diags_text(&l.diags);
			fail_msg("want one error at %s containing \"%s\"; got:\n%s", refused[i].path, refused[i].part, all);
		}
		assert_int_equal(d->line, 8);
		assert_true(strstr(d->msg, "not supported: ") == d->msg);
		unload(&l);
		free(text);
	}
	/* Under the old name the path says so. */
	expect_error(WSVC "    wasm_http: { max_fuel: 5 }\n", "services.w.wasm_http.max_fuel", "no fuel metering");
	/* ZLayer's "unlimited" and "off" values change nothing: accepted. */
	struct loaded l;
	expect_clean(&l, WSVC "    wasm:\n      max_fuel: 0\n      allow_tcp: false\n      allow_udp: false\n"
			      "      capabilities: { sockets: false, http_client: false, cli: true, config: true }\n"
			      "      allow_http_outgoing: true\n      allowed_hosts: [a.example]\n      kv_enabled: true\n"
			      "      kv_max_value_size: 1048576\n      precompile: false\n");
	const struct spec_service *w = only_service(&l);
	assert_false(w->wasm.has_max_fuel || w->wasm.allow_tcp || w->wasm.allow_udp);
	assert_false(w->wasm.cap_sockets || w->wasm.cap_http_client);
	assert_false(w->wasm.filesystem); /* a capabilities mapping without filesystem */
	unload(&l);
	/* Their types are still checked. */
	expect_error(WSVC "    wasm: { max_fuel: -1 }\n", "services.w.wasm.max_fuel", "expected an integer in 0..");
	expect_error(WSVC "    wasm: { epoch_interval: 10 }\n", "services.w.wasm.epoch_interval", "time unit needed");
	expect_error(WSVC "    wasm: { min_instances: 5000000000 }\n", "services.w.wasm.min_instances",
		     "expected an integer in 0..4294967295");
	expect_error(WSVC "    wasm: { precompile: yes }\n", "services.w.wasm.precompile", "expected true or false");
	expect_error(WSVC "    wasm: { allowed_hosts: a.example }\n", "services.w.wasm.allowed_hosts", "expected a list");
	expect_error(WSVC "    wasm: { kv_namespace: [a] }\n", "services.w.wasm.kv_namespace", "expected a string");
	/* A bad type is one error, not also a refusal. */
	load(&l, WSVC "    wasm: { request_timeout: soon }\n");
	assert_int_equal(l.diags.errors, 1);
	unload(&l);
}

/* WASI preview 1 has no sockets: a service the spec declares WebAssembly
 * (by service_type, a wasm block or a file: image) can have no endpoints,
 * published ports or network probes. */
static void test_wasm_has_no_network(void **state)
{
	(void)state;
	static const struct { const char *svc, *why; } declared[] = {
		{ "    image: ghcr.io/acme/w:1\n    service_type: wasm_http\n", "service_type is wasm_http" },
		{ "    image: ghcr.io/acme/w:1\n    wasm: { max_memory: 1Mi }\n", "it has a wasm block" },
		{ "    image: ghcr.io/acme/w:1\n    wasm_http: {}\n", "it has a wasm_http block" },
		{ "    image: \"file:/srv/w.wasm\"\n", "its image is a file: module" },
	};
	for (size_t i = 0; i < sizeof(declared) / sizeof(declared[0]); i++) {
		char *text = zl_xasprintf(HEAD "  w:\n%s    endpoints: [{ name: h, protocol: http, port: 80 }]\n"
					  "    port_mappings: [{ container_port: 80 }]\n"
					  "    health: { check: { type: tcp, port: 80 } }\n", declared[i].svc);
		struct loaded l;
		load(&l, text);
		const struct spec_diag *d = find_diag(&l.diags, "services.w.endpoints", "cannot have endpoints");
		if (!d || !strstr(d->msg, "no sockets") || !strstr(d->msg, declared[i].why) ||
		    !find_diag(&l.diags, "services.w.port_mappings", "cannot publish ports") ||
		    !find_diag(&l.diags, "services.w.health.check.type", "cannot have a tcp health check") ||
		    l.diags.errors != 3) {
			char *all = diags_text(&l.diags);
			fail_msg("case %zu: want endpoints, port_mappings and health refused (%s); got:\n%s", i,
				 declared[i].why, all);
		}
		unload(&l);
		free(text);
	}
	expect_error(WSVC "    service_type: wasm_router\n    health: { check: { type: http, url: \"http://127.0.0.1/\" } }\n",
		     "services.w.health.check.type", "cannot have an http health check");
	/* A command probe cannot run inside a module either. */
	expect_error(WSVC "    service_type: wasm_plugin\n    health: { check: { type: command, command: [\"true\"] } }\n",
		     "services.w.health.check.type", "cannot have a command health check: a module has no processes");
	/* A container with endpoints is fine. */
	struct loaded l;
	expect_clean(&l, HEAD "  w:\n    image: nginx\n    service_type: standard\n"
			      "    endpoints: [{ name: h, protocol: http, port: 80 }]\n");
	assert_false(spec_service_declares_wasm(only_service(&l)));
	unload(&l);
}

static void test_wasm_preopens(void **state)
{
	(void)state;
	static const struct { const char *yaml, *path, *part; } cases[] = {
		{ "[{ source: data, target: /data }]", "services.w.wasm.preopens[0].source",
		  "expected an absolute host path, got \"data\"" },
		{ "[{ source: /srv/d, target: data }]", "services.w.wasm.preopens[0].target",
		  "expected an absolute guest path (the path the module sees), got \"data\"" },
		{ "[{ source: /srv/a, target: /data }, { source: /srv/b, target: \"/data/\" }]",
		  "services.w.wasm.preopens[1].target", "duplicate preopen target \"/data/\" (also preopens[0])" },
		{ "[{ source: /srv/a, target: /x/y }, { source: /srv/b, target: \"//x//y\" }]",
		  "services.w.wasm.preopens[1].target", "duplicate preopen target" },
		{ "[{ target: /data }]", "services.w.wasm.preopens[0].source", "required key \"source\" is missing" },
		{ "[{ source: /srv/d }]", "services.w.wasm.preopens[0].target", "required key \"target\" is missing" },
		{ "[\"/srv/d:/data\"]", "services.w.wasm.preopens[0]", "(write {source: /srv/d, target: /data})" },
		{ "[/srv/d]", "services.w.wasm.preopens[0]", "expected a mapping {source, target, readonly}" },
		{ "{ source: /srv/d, target: /d }", "services.w.wasm.preopens", "expected a list, got a mapping" },
		{ "[{ host: /srv/d, target: /d }]", "services.w.wasm.preopens[0].host", "use \"source\"" },
		{ "[{ source: /srv/d, target: /d, readonly: 1 }]", "services.w.wasm.preopens[0].readonly",
		  "expected true or false" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text = zl_xasprintf(WSVC "    wasm:\n      preopens: %s\n", cases[i].yaml);
		expect_error(text, cases[i].path, cases[i].part);
		free(text);
	}
	/* The filesystem capability: ZLayer's default for the wasm_* types
	 * but wasm_plugin is none; a capabilities mapping without it is none. */
	expect_error(WSVC "    service_type: wasm_http\n    wasm: { preopens: [{ source: /s, target: /t }] }\n",
		     "services.w.wasm.preopens", "service_type wasm_http has no filesystem capability");
	expect_error(WSVC "    wasm:\n      capabilities: { cli: true }\n      preopens: [{ source: /s, target: /t }]\n",
		     "services.w.wasm.preopens", "capabilities leaves out filesystem");
	expect_error(WSVC "    service_type: wasm_plugin\n    wasm:\n      capabilities: { filesystem: false }\n"
			  "      preopens: [{ source: /s, target: /t }]\n",
		     "services.w.wasm.preopens", "capabilities.filesystem is false");
	/* Storage is directories for a module too. */
	expect_error(WSVC "    service_type: wasm_transformer\n    storage: [{ type: named, name: d, target: /d }]\n",
		     "services.w.storage", "service_type wasm_transformer has no filesystem capability");
	expect_error(WSVC "    wasm: { capabilities: { filesystem: false } }\n    storage: [{ type: tmpfs, target: /t }]\n",
		     "services.w.storage", "capabilities.filesystem is false; set it to true or remove the storage");
	struct loaded ls;
	expect_clean(&ls, WSVC "    service_type: wasm_plugin\n    storage: [{ type: named, name: d, target: /d }]\n");
	unload(&ls);
	expect_clean(&ls, HEAD "  w:\n    image: \"file:/srv/w.wasm\"\n    storage: [{ type: named, name: d, target: /d }]\n");
	unload(&ls);
	/* wasm_plugin's default has it; services of no wasm_* type are not
	 * restricted. Nested targets are fine. */
	static const char *const fine[] = {
		"    service_type: wasm_plugin\n", "", "    service_type: standard\n",
		"    rtype: job\n    service_type: job\n",
	};
	for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++) {
		char *text = zl_xasprintf(WSVC "%s    wasm:\n      preopens:\n        - { source: /srv/d, target: /data }\n"
					  "        - { source: /srv/s, target: /data/sub, readonly: true }\n", fine[i]);
		struct loaded l;
		expect_clean(&l, text);
		assert_true(only_service(&l)->wasm.filesystem);
		unload(&l);
		free(text);
	}
	/* An explicit grant is honoured whatever the type's default. */
	struct loaded l;
	expect_clean(&l, WSVC "    service_type: wasm_http\n    wasm:\n      capabilities: { filesystem: true }\n"
			      "      preopens: [{ source: /s, target: /t }]\n");
	assert_true(only_service(&l)->wasm.filesystem);
	unload(&l);
}

/* What apply or the backend would refuse, refused by validate first, at
 * its line:col (validate = apply). */
static void test_validate_as_apply(void **state)
{
	(void)state;
	static const struct {
		const char *yaml, *path, *part;
	} cases[] = {
		{ "    hostname: \"bad_host!\"\n", "services.w.hostname",
		  "expected letters, digits, '.', '-' and '_', got \"bad_host!\"" },
		{ "    user: \"4294967295\"\n", "services.w.user",
		  "a numeric id must be 0..4294967294, got \"4294967295\"" },
		{ "    storage: [{type: anonymous, target: /}]\n", "services.w.storage[0].target",
		  "expected an absolute path other than / without . or .. components, got \"/\"" },
		{ "    storage: [{type: anonymous, target: /a/../b}]\n", "services.w.storage[0].target",
		  "got \"/a/../b\"" },
		{ "    devices: [{path: /dev/../etc/passwd}]\n", "services.w.devices[0].path",
		  "expected a device path under /dev/ without . or .. components" },
		{ "    command: {entrypoint: [], args: []}\n", "services.w.command",
		  "no command: entrypoint and args are both empty" },
		{ "    sysctls: {kernel.panic: \"1\"}\n", "services.w.sysctls.kernel.panic",
		  "not a namespaced sysctl; a container cannot set it" },
		{ "    port_mappings:\n      - {host_port: 8080, container_port: 80}\n"
		  "      - {host_port: 8080, container_port: 81}\n",
		  "services.w.port_mappings[1].host_port",
		  "host port 8080/tcp is published twice, to 80 and 81 (also port_mappings[0])" },
		/* What the oci backend refused at create, one replica at a time. */
		{ "    resources: {memory: 4Mi}\n", "services.w.resources.memory",
		  "4Mi is below the 6Mi a container needs" },
		{ "    resources: {memory: 16Mi, memory_reservation: 32Mi}\n",
		  "services.w.resources.memory_reservation", "32Mi is above the memory limit 16Mi" },
		{ "    resources: {memory_swap: 32Mi}\n", "services.w.resources.memory_swap",
		  "needs resources.memory as well (it is memory + swap)" },
		{ "    resources: {memory: 32Mi, memory_swap: 16Mi}\n", "services.w.resources.memory_swap",
		  "16Mi is below resources.memory 32Mi (it is memory + swap)" },
		{ "    resources: {cpu: 0.005}\n", "services.w.resources.cpu", "0.005 is below the minimum 0.01" },
		{ "    capabilities: [NET_FOO]\n", "services.w.capabilities[0]",
		  "unknown capability \"NET_FOO\" (expected a name such as NET_ADMIN or CAP_NET_ADMIN, or ALL)" },
		{ "    cap_add: [NET_ADMIN, CAP_BOGUS]\n", "services.w.cap_add[1]", "unknown capability \"CAP_BOGUS\"" },
		{ "    cap_drop: [BOGUS]\n", "services.w.cap_drop[0]", "unknown capability \"BOGUS\"" },
		{ "    security_opt: [\"no-new-privileges:maybe\"]\n", "services.w.security_opt[0]",
		  "expected no-new-privileges[:true|false], got \"no-new-privileges:maybe\"" },
		{ "    security_opt: [seccomp=relative.json]\n", "services.w.security_opt[0]",
		  "seccomp=/absolute/path/to/profile.json (Docker's format), got \"seccomp=relative.json\"" },
		{ "    security_opt: [bogus]\n", "services.w.security_opt[0]", "unknown option (expected" },
		{ "    storage: [{type: s3, bucket: b, target: /b}]\n", "services.w.storage[0].type",
		  "storage type s3 is not supported" },
		{ "    user: \"a:b:c\"\n", "services.w.user", "expected uid[:gid] or name[:group], got \"a:b:c\"" },
		{ "    service_type: wasm_plugin\n    resources: {memory: 32Mi}\n", "services.w.resources.memory",
		  "32Mi is below the 64Mi a WASM replica needs" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		_cleanup_free_ char *text = zl_xasprintf(HEAD "  w:\n    image: busybox\n%s", cases[i].yaml);
		expect_error(text, cases[i].path, cases[i].part);
	}
	/* Without host checks (spec_set_host_checks), what depends on this
	 * host is left to it: a missing bind source is fine. */
	struct loaded h;
	expect_clean(&h, HEAD "  w:\n    image: busybox\n    storage: [{type: bind, source: /nonexistent/zl, target: /d}]\n");
	unload(&h);
	/* With them, what this host's backends would refuse. */
	spec_set_host_checks(true);
	expect_error(HEAD "  w:\n    image: busybox\n    storage: [{type: bind, source: /nonexistent/zl, target: /d}]\n",
		     "services.w.storage[0].source", "bind source /nonexistent/zl: does not exist on this host");
	expect_error(HEAD "  w:\n    image: busybox\n    devices: [{path: /dev/shm}]\n", "services.w.devices[0].path",
		     "/dev/shm is not a device but a directory");
	expect_error(HEAD "  w:\n    image: busybox\n    devices: [{path: /dev/zl-none}]\n",
		     "services.w.devices[0].path", "device /dev/zl-none: does not exist on this host");
	expect_error(HEAD "  w:\n    image: \"file:/m.wasm\"\n    storage: [{type: bind, source: /etc/hostname, target: /d}]\n",
		     "services.w.storage[0].source", "is not a directory (a WASM module is given directories only)");
	if (!zl_have_cap_sys_resource())
		expect_error(HEAD "  w:\n    image: busybox\n    resources: {oom_score_adj: -999}\n",
			     "services.w.resources.oom_score_adj", "which needs CAP_SYS_RESOURCE");
	expect_clean(&h, HEAD "  w:\n    image: busybox\n    storage: [{type: bind, source: /etc/hostname, target: /d}]\n"
		     "    devices: [{path: /dev/null}]\n    capabilities: [CHOWN]\n");
	unload(&h);
	spec_set_host_checks(false);
	/* command: [] alone keeps the image's ENTRYPOINT (Docker's rule). */
	struct loaded l;
	expect_clean(&l, HEAD "  w:\n    image: busybox\n    command: []\n");
	unload(&l);
}

static void test_isolation(void **state)
{
	(void)state;
	static const struct {
		const char *word;
		enum spec_isolation want;
	} ok[] = { { "vm", SPEC_ISOLATION_VM }, { "hyperv", SPEC_ISOLATION_VM },
		   { "process", SPEC_ISOLATION_PROCESS }, { "default", SPEC_ISOLATION_PROCESS } };
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		_cleanup_free_ char *text = zl_xasprintf(HEAD "  v:\n    image: busybox\n    isolation: %s\n",
							 ok[i].word);
		struct loaded l;
		expect_clean(&l, text);
		assert_int_equal(only_service(&l)->isolation, ok[i].want);
		unload(&l);
	}
	struct loaded l;
	expect_clean(&l, HEAD "  v:\n    image: busybox\n");
	assert_int_equal(only_service(&l)->isolation, SPEC_ISOLATION_UNSET);
	unload(&l);
	expect_error(HEAD "  v:\n    image: busybox\n    isolation: gvisor\n", "services.v.isolation",
		     "expected process|vm (hyperv, ZLayer's Windows word, means vm), got \"gvisor\"");
	expect_error(HEAD "  v:\n    image: busybox\n    isolation: vm\n    network_mode: host\n",
		     "services.v.isolation", "a VM has a network of its own");
	expect_error(HEAD "  v:\n    image: busybox\n    isolation: vm\n    privileged: true\n",
		     "services.v.isolation", "drop privileged");
	expect_error(HEAD "  v:\n    image: \"file:/m.wasm\"\n    isolation: vm\n", "services.v.isolation",
		     "a WebAssembly service runs on the wasm backend");
}

static void test_service_type_values(void **state)
{
	(void)state;
	static const struct { const char *text; enum spec_service_type type; bool wasm; } values[] = {
		{ "standard", SPEC_SERVICE_TYPE_STANDARD, false },
		{ "wasm_http", SPEC_SERVICE_TYPE_WASM_HTTP, true },
		{ "wasm_plugin", SPEC_SERVICE_TYPE_WASM_PLUGIN, true },
		{ "wasm_transformer", SPEC_SERVICE_TYPE_WASM_TRANSFORMER, true },
		{ "wasm_authenticator", SPEC_SERVICE_TYPE_WASM_AUTHENTICATOR, true },
		{ "wasm_rate_limiter", SPEC_SERVICE_TYPE_WASM_RATE_LIMITER, true },
		{ "wasm_middleware", SPEC_SERVICE_TYPE_WASM_MIDDLEWARE, true },
		{ "wasm_router", SPEC_SERVICE_TYPE_WASM_ROUTER, true },
		{ "job", SPEC_SERVICE_TYPE_JOB, false },
	};
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		char *text = zl_xasprintf(HEAD "  w:\n    rtype: job\n    image: nginx\n    service_type: %s\n",
					  values[i].text);
		struct loaded l;
		expect_clean(&l, text);
		const struct spec_service *w = only_service(&l);
		assert_int_equal(w->service_type, values[i].type);
		assert_int_equal(spec_service_type_is_wasm(w->service_type), values[i].wasm);
		assert_int_equal(spec_service_declares_wasm(w), values[i].wasm);
		assert_string_equal(spec_service_type_name(w->service_type), values[i].text);
		assert_int_equal(l.diags.count, 0);
		unload(&l);
		free(text);
	}
	assert_string_equal(spec_service_type_name(SPEC_SERVICE_TYPE_UNSET), "standard");
	assert_false(spec_service_type_is_wasm(SPEC_SERVICE_TYPE_UNSET));
	struct loaded l;
	expect_clean(&l, HEAD "  w:\n    image: nginx\n");
	assert_int_equal(only_service(&l)->service_type, SPEC_SERVICE_TYPE_UNSET);
	unload(&l);
	expect_error(HEAD "  w:\n    image: nginx\n    service_type: batch\n", "services.w.service_type",
		     "expected standard|wasm_http|wasm_plugin|wasm_transformer|wasm_authenticator|wasm_rate_limiter|"
		     "wasm_middleware|wasm_router|job, got \"batch\"");
	expect_error(HEAD "  w:\n    image: nginx\n    service_type: WASM_HTTP\n", "services.w.service_type",
		     "got \"WASM_HTTP\"");
	expect_error(HEAD "  w:\n    image: nginx\n    service_type: [wasm_http]\n", "services.w.service_type",
		     "expected a string, got a list");
	/* service_type job on a service does nothing: a note says so. */
	load(&l, HEAD "  w:\n    image: nginx\n    service_type: job\n");
	assert_int_equal(l.rc, 0);
	assert_int_equal(l.diags.errors, 0);
	assert_int_equal(l.diags.count, 1);
	assert_true(l.diags.items[0].is_note);
	assert_string_equal(l.diags.items[0].path, "services.w.service_type");
	assert_int_equal(l.diags.items[0].line, 6);
	assert_non_null(strstr(l.diags.items[0].msg, "rtype: job"));
	unload(&l);
}

static void test_wasm_key_errors(void **state)
{
	(void)state;
	expect_error(WSVC "    wasm: [a]\n", "services.w.wasm", "expected a mapping, got a list");
	expect_error(WSVC "    wasm: on\n", "services.w.wasm", "expected a mapping, got a string");
	expect_error(WSVC "    wasm: { max_memroy: 1Mi }\n", "services.w.wasm.max_memroy", "did you mean \"max_memory\"?");
	expect_error(WSVC "    wasm: { memory: 64Mi }\n", "services.w.wasm.memory", "use \"max_memory\"");
	expect_error(WSVC "    wasm: { env: { A: b } }\n", "services.w.wasm.env", "the service's \"env\"");
	expect_error(WSVC "    wasm: { volumes: [] }\n", "services.w.wasm.volumes", "use \"preopens\"");
	expect_error(WSVC "    wasm: { type: wasm }\n", "services.w.wasm.type", "\"service_type\"");
	expect_error(WSVC "    wasm: { capabilities: [wasi:cli/stdout] }\n", "services.w.wasm.capabilities",
		     "expected a mapping of capability names to true|false");
	expect_error(WSVC "    wasm: { capabilities: { filesytem: true } }\n", "services.w.wasm.capabilities.filesytem",
		     "did you mean \"filesystem\"?");
	expect_error(WSVC "    wasm: { capabilities: { cli: yes } }\n", "services.w.wasm.capabilities.cli",
		     "expected true or false");
	expect_error(WSVC "    wasm: { max_memory: 1Mi }\n    wasm_http: { max_memory: 2Mi }\n", "services.w.wasm_http",
		     "give only one");
	/* The first block is the one kept. */
	struct loaded l;
	load(&l, WSVC "    wasm_http: { max_memory: 2Mi }\n    wasm: { max_memory: 1Mi }\n");
	assert_non_null(find_diag(&l.diags, "services.w.wasm", "give only one"));
	assert_int_equal(l.set.deployments[0].services[0].wasm.max_memory, 2LL << 20);
	unload(&l);
	expect_error(WSVC "    wasm: { max_memory: 1Mi, max_memory: 2Mi }\n", "services.w.wasm.max_memory",
		     "duplicate key");
}

/* ---- documents, directories, stdin ---- */

/* spec_deployment_find through the loader's name index: every service of a
 * deployment whose depends order differs from its name order, and names
 * that are not there. */
static void test_find_service_by_name(void **state)
{
	(void)state;
	struct zl_buf b = { 0 };
	zl_buf_puts(&b, HEAD);
	for (int i = 0; i < 60; i++) {
		/* svc-k depends on svc-(k+1): the order runs against the names */
		zl_buf_printf(&b, "  svc-%02d:\n    image: busybox\n", i);
		if (i < 59)
			zl_buf_printf(&b, "    depends: [{service: svc-%02d, condition: started}]\n", i + 1);
	}
	struct loaded l;
	expect_clean(&l, b.data);
	const struct spec_deployment *d = &l.set.deployments[0];
	assert_non_null(d->by_name);
	assert_string_equal(d->services[0].name, "svc-59"); /* dependencies first */
	for (int i = 0; i < 60; i++) {
		char name[16];
		snprintf(name, sizeof(name), "svc-%02d", i);
		const struct spec_service *s = spec_deployment_find(d, name);
		assert_non_null(s);
		assert_string_equal(s->name, name);
	}
	assert_null(spec_deployment_find(d, "svc-60"));
	assert_null(spec_deployment_find(d, "a"));
	assert_null(spec_deployment_find(d, "zzz"));
	assert_null(spec_deployment_find(d, ""));
	/* Without the index (a deployment made by hand) it scans. */
	struct spec_deployment copy = *d;
	copy.by_name = NULL;
	assert_ptr_equal(spec_deployment_find(&copy, "svc-07"), spec_deployment_find(d, "svc-07"));
	unload(&l);
	zl_buf_free(&b);
}

static void test_multi_document(void **state)
{
	struct loaded l;
	load(&l, "version: v1\ndeployment: one\nservices: {}\n---\nversion: v1\ndeployment: two\n---\n---\n# only a comment\n");
	assert_int_equal(l.rc, 0);
	assert_int_equal(l.set.count, 2);
	assert_string_equal(l.set.deployments[1].name, "two");
	assert_int_equal(l.set.deployments[1].line, 5);
	unload(&l);
	load(&l, "version: v1\ndeployment: one\n---\nversion: v1\ndeployment: one\n");
	assert_int_equal(l.rc, -1);
	assert_non_null(find_diag(&l.diags, "deployment", "already declared at t.yaml:1"));
	unload(&l);
	/* Errors of later documents are reported too. */
	load(&l, "version: v2\ndeployment: one\n---\nversion: v3\ndeployment: two\n");
	assert_int_equal(l.diags.errors, 2);
	assert_int_equal(l.diags.items[1].line, 4);
	unload(&l);
}

static void test_directory_and_stdin(void **state)
{
	char *dir = zl_xasprintf("%s/tests/fixtures/spec/dir", spec_source_root());
	const char *paths[] = { dir };
	struct spec_set set = { 0 };
	struct spec_diags diags = { 0 };
	assert_int_equal(spec_load_paths(paths, 1, &set, &diags), 0);
	assert_int_equal(set.count, 2);
	assert_string_equal(set.deployments[0].name, "dir-db");
	assert_string_equal(set.deployments[1].name, "dir-web");
	assert_true(zl_str_has_suffix(set.deployments[1].file, "/20-web.yaml"));
	spec_set_free(&set);
	spec_diags_free(&diags);

	char tmpl[] = "/tmp/test_spec_stdin.XXXXXX";
	int fd = mkstemp(tmpl);
	assert_true(fd >= 0);
	const char *text = HEAD "  web:\n    image: { name: nginx }\n";
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_non_null(freopen(tmpl, "r", stdin));
	const char *dash[] = { "-" };
	assert_int_equal(spec_load_paths(dash, 1, &set, &diags), 0);
	assert_int_equal(set.count, 1);
	assert_string_equal(set.deployments[0].file, "-");
	spec_set_free(&set);
	spec_diags_free(&diags);
	unlink(tmpl);
	free(dir);
}

/* ---- robustness and speed ---- */

static void test_garbage_does_not_crash(void **state)
{
	static const char *const inputs[] = {
		"", "---\n", "...\n", "hello", "42", "[1, 2]", "{", "}", "a: [", "\"unterminated",
		"a: &x [*x]\n", "version: &v v1\ndeployment: *v\n", "*undefined\n",
		"version: v1\ndeployment: abc\nservices: &s { a: { image: { name: x } }, b: *s }\n",
		"version: v1\ndeployment: abc\nservices:\n  a: &a\n    image: { name: x }\n    env: *a\n",
		"version: v1\ndeployment: abc\nservices:\n  a:\n    image: { name: x }\n    network: &n { x: [*n, *n] }\n",
		"version: v1\ndeployment: abc\nservices:\n  a:\n    <<: { image: { name: x } }\n",
		"version: v1\ndeployment: \xc3\x28\n", "version: v1\x01\n", "\t\t\t", "a:\tb",
		"version: v1\ndeployment: abc\nservices:\n  a:\n    image: { name: x }\n    resources: { pids_limit: 99999999999999999999999 }\n",
		"? [a]\n: b\n", "{[a]: b}\n", "!!binary aGVsbG8=\n", "%YAML 1.1\n---\na: b\n",
		"version: v1\ndeployment: abc\nservices: { a: { image: { name: x }, init: { steps: [{ id: s, uses: init.run, with: { command: { a: [1, { b: c }] } } }] } } }\n",
	};
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		struct spec_set set = { 0 };
		struct spec_diags diags = { 0 };
		spec_load_text("g.yaml", inputs[i], strlen(inputs[i]), &set, &diags);
		for (size_t j = 0; j < diags.count; j++)
			assert_non_null(diags.items[j].msg);
		spec_set_free(&set);
		spec_diags_free(&diags);
	}
	/* Bytes that are not UTF-8 at all, with a NUL inside. */
	struct spec_set set = { 0 };
	struct spec_diags diags = { 0 };
	assert_int_equal(spec_load_text("bin.yaml", "\xff\xfe\x00\x01", 4, &set, &diags), -1);
	assert_true(diags.errors >= 1);
	spec_set_free(&set);
	spec_diags_free(&diags);
	/* Deep nesting: an error at the 65th level (test_spec_bounds.c). */
	struct zl_buf deep = { 0 };
	zl_buf_puts(&deep, "version: v1\ndeployment: abc\nservices:\n  a:\n    image: { name: x }\n    logs: { x: ");
	for (int i = 0; i < 20000; i++)
		zl_buf_puts(&deep, "[");
	for (int i = 0; i < 20000; i++)
		zl_buf_puts(&deep, "]");
	zl_buf_puts(&deep, " }\n");
	spec_load_text("deep.yaml", deep.data, deep.len, &set, &diags);
	spec_set_free(&set);
	spec_diags_free(&diags);
	zl_buf_free(&deep);
	/* A billion laughs: aliases make an exponential tree in a few lines. */
	struct zl_buf laughs = { 0 };
	zl_buf_puts(&laughs, "version: v1\ndeployment: abc\nservices:\n  a:\n    image: { name: x }\n    logs:\n      l0: &l0 [a, a, a, a, a, a, a, a, a, a]\n");
	for (int i = 1; i < 10; i++)
		zl_buf_printf(&laughs, "      l%d: &l%d [*l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d]\n",
			      i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
	/* The node limit counts what aliases repeat: refused, at once
	 * (test_spec_bounds.c has the details). */
	int64_t t0 = zl_monotonic_ms();
	spec_load_text("laughs.yaml", laughs.data, laughs.len, &set, &diags);
	assert_true(zl_monotonic_ms() - t0 < 2000);
	assert_int_equal(diags.errors, 1);
	assert_non_null(strstr(diags.items[0].msg, "more than 1000000 nodes"));
	spec_set_free(&set);
	spec_diags_free(&diags);
	zl_buf_free(&laughs);
}

static void test_thousand_services_load_fast(void **state)
{
	/* Each service depends on the next one, so the order is the reverse of
	 * the file: the topological sort does real work. */
	struct zl_buf b = { 0 };
	zl_buf_puts(&b, HEAD);
	for (int i = 0; i < 1000; i++) {
		zl_buf_printf(&b, "  svc-%d:\n    image: { name: \"ghcr.io/org/app-%d:1.0\" }\n"
				  "    resources: { cpu: 0.5, memory: 256Mi }\n"
				  "    env: { A: \"1\", B: \"2\" }\n"
				  "    endpoints: [{ name: http, protocol: http, port: %d }]\n"
				  "    health: { interval: 5s, check: { type: tcp, port: 80 } }\n",
			      i, i, 1000 + i);
		if (i < 999)
			zl_buf_printf(&b, "    depends: [{ service: svc-%d }]\n", i + 1);
	}
	struct spec_set set = { 0 };
	struct spec_diags diags = { 0 };
	int64_t t0 = zl_monotonic_ms();
	assert_int_equal(spec_load_text("big.yaml", b.data, b.len, &set, &diags), 0);
	int64_t elapsed = zl_monotonic_ms() - t0;
	assert_int_equal(set.deployments[0].service_count, 1000);
	assert_string_equal(set.deployments[0].services[0].name, "svc-999");
	assert_string_equal(set.deployments[0].services[999].name, "svc-0");
	/* Tens of ms in a normal build; the bound leaves room for sanitizers. */
	if (elapsed > 1000)
		fail_msg("1000 services took %lld ms", (long long)elapsed);
	spec_set_free(&set);
	spec_diags_free(&diags);
	zl_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_fixtures),
		cmocka_unit_test(test_invalid_fixtures),
		cmocka_unit_test(test_invalid_fixture_model),
		cmocka_unit_test(test_fixtures_cover_every_key),
		cmocka_unit_test(test_diag_format),
		cmocka_unit_test(test_unknown_keys_suggest),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_rollout),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_limits_and_schedules),
		cmocka_unit_test(test_yaml_syntax_error),
		cmocka_unit_test(test_unreadable_file),
		cmocka_unit_test(test_validation_table),
		cmocka_unit_test(test_top_level_rules),
		cmocka_unit_test(test_depends_rules),
		cmocka_unit_test(test_topological_order),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_full_fixture),
		cmocka_unit_test(test_wasm_block),
		cmocka_unit_test(test_wasm_memory_units),
		cmocka_unit_test(test_wasm_refused_keys),
		cmocka_unit_test(test_wasm_has_no_network),
		cmocka_unit_test(test_wasm_preopens),
		cmocka_unit_test(test_service_type_values),
		cmocka_unit_test(test_isolation),
		cmocka_unit_test(test_validate_as_apply),
		cmocka_unit_test(test_wasm_key_errors),
		cmocka_unit_test(test_find_service_by_name),
		cmocka_unit_test(test_multi_document),
		cmocka_unit_test(test_directory_and_stdin),
		cmocka_unit_test(test_garbage_does_not_crash),
		cmocka_unit_test(test_thousand_services_load_fast),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
