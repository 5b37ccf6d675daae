/* init.c: init steps (init.steps[]) and errors.on_init_failure.
 *
 * Steps run after the backend created a replica and before it starts, in
 * order, each bounded by its timeout (with.timeout, else the step's timeout,
 * default 300s) and tried 1 + retry times:
 *   init.wait_tcp {host, port}: connect until it succeeds;
 *   init.wait_http {url, expect_status?}: GET until the status matches (any
 *     2xx without expect_status);
 *   init.run {command}: `/bin/sh -c command` (a list runs as argv) on the
 *     host, inside the replica's network namespace, with the replica's
 *     environment. It cannot run inside the replica: the replica has not
 *     started yet.
 * Network steps run from the replica's network namespace (what the replica
 * will see); network_mode host uses the host's. A failed step with
 * on_failure warn or continue does not stop the others; with fail (the
 * default) the replica fails, and errors.on_init_failure decides what later
 * applies do: fail (it stays failed until its spec changes), restart (the
 * next apply tries again) or backoff (the next apply after 1s x 2^n, capped
 * at 60s, n = init failures in a row). */
#include "health-internal.h"

#include <cjson/cJSON.h>
#include <string.h>

#define BACKOFF_BASE_MS 1000
#define BACKOFF_MAX_MS 60000
#define INIT_PREFIX "init: "

static const char *with_get(const struct spec_init_step *st, const char *key)
{
	for (size_t i = 0; i < st->with_count; i++)
		if (strcmp(st->with[i].key, key) == 0)
			return st->with[i].value;
	return NULL;
}

/* init.run's command: a string through the shell, a list (kept as JSON) as argv. */
static char **command_argv(const char *command)
{
	cJSON *list = command[0] == '[' ? cJSON_Parse(command) : NULL;
	char **argv;
	if (cJSON_IsArray(list) && cJSON_GetArraySize(list) > 0) {
		argv = zl_xcalloc((size_t)cJSON_GetArraySize(list) + 1, sizeof(char *));
		size_t n = 0;
		cJSON *item;
		cJSON_ArrayForEach(item, list)
			argv[n++] = zl_xstrdup(cJSON_IsString(item) ? item->valuestring : "");
	} else {
		argv = zl_xcalloc(4, sizeof(char *));
		argv[0] = zl_xstrdup("/bin/sh");
		argv[1] = zl_xstrdup("-c");
		argv[2] = zl_xstrdup(command);
	}
	cJSON_Delete(list);
	return argv;
}

static void strings_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* The replica's environment as envp, with a PATH when it has none. */
static char **make_envp(const struct spec_kv *env, size_t count)
{
	char **envp = zl_xcalloc(count + 2, sizeof(char *));
	bool has_path = false;
	size_t n = 0;
	for (size_t i = 0; i < count; i++) {
		envp[n++] = zl_xasprintf("%s=%s", env[i].key, env[i].value);
		has_path |= strcmp(env[i].key, "PATH") == 0;
	}
	if (!has_path)
		envp[n++] = zl_xstrdup("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	return envp;
}

/* Runs one attempt of step st; 0 or -1 with err. */
static int run_step(const struct spec_init_step *st, const char *netns, const char *no_netns,
		    const struct spec_kv *env, size_t env_count, struct zl_err *err)
{
	int64_t timeout = st->timeout_ms > 0 ? st->timeout_ms : 300000;
	const char *t = with_get(st, "timeout");
	if (t && spec_parse_duration(t, &timeout, err) < 0)
		return zl_err_prefix(err, "with.timeout");
	struct probe_task task = { .netns = netns, .no_netns = no_netns };
	char **argv = NULL, **envp = NULL;
	if (strcmp(st->uses, "init.wait_tcp") == 0) {
		task.kind = PROBE_TCP;
		task.host = with_get(st, "host");
		const char *port = with_get(st, "port");
		task.port = port ? atoi(port) : 0;
		task.wait_ms = timeout;
		task.attempt_ms = timeout < 2000 ? timeout : 2000;
	} else if (strcmp(st->uses, "init.wait_http") == 0) {
		task.kind = PROBE_HTTP;
		task.url = with_get(st, "url");
		const char *status = with_get(st, "expect_status");
		task.expect_status = status ? atoi(status) : 0;
		task.wait_ms = timeout;
		task.attempt_ms = timeout < 5000 ? timeout : 5000;
	} else if (strcmp(st->uses, "init.run") == 0) {
		const char *command = with_get(st, "command");
		if (!command)
			return zl_invalid(err, "init.run needs with.command");
		task.kind = PROBE_SHELL;
		task.no_netns = NULL; /* no namespace of its own: the host's will do */
		argv = command_argv(command);
		envp = make_envp(env, env_count);
		task.argv = argv;
		task.envp = envp;
		task.attempt_ms = timeout;
	} else {
		return zl_invalid(err, "unknown init action \"%s\"", st->uses);
	}
	if ((task.kind == PROBE_TCP && (!task.host || task.port <= 0)) ||
	    (task.kind == PROBE_HTTP && !task.url))
		return zl_invalid(err, "%s: incomplete with", st->uses);
	probe_batch(&task, 1);
	int ret = 0;
	if (!task.ok) {
		ret = zl_fail(err, "%s", task.message ? task.message : "failed");
	} else if (task.kind == PROBE_SHELL && task.message && *task.message) {
		zl_log(ZL_LOG_DEBUG, "init step %s: %s", st->id, task.message);
	}
	probe_task_clear(&task);
	strings_free(argv);
	strings_free(envp);
	return ret;
}

int init_run_steps(struct backend *b, const struct plan_action *a, const char *backend_id,
		   const struct spec_kv *env, size_t env_count, struct zl_err *err)
{
	const struct spec_service *svc = a->desired ? a->desired->svc : NULL;
	if (!svc || svc->init_step_count == 0)
		return 0;
	/* The replica's namespace exists from create on (the oci backend makes
	 * it then); the backend's state says where. */
	struct backend_state bst;
	struct zl_err serr = ZL_ERR_INIT;
	struct state_replica probe_row;
	state_replica_init(&probe_row);
	if (b->ops->state(b, backend_id, &bst, &serr) == 0 && bst.netns[0])
		probe_row.netns = zl_xstrdup(bst.netns);
	const char *no_netns = NULL;
	const char *netns = probe_netns_of(svc, &probe_row, &no_netns);

	int ret = 0;
	for (size_t i = 0; i < svc->init_step_count && ret == 0; i++) {
		const struct spec_init_step *st = &svc->init_steps[i];
		const char *id = st->id ? st->id : "?";
		struct zl_err serr2 = ZL_ERR_INIT;
		int r = -1;
		for (int attempt = 0; attempt <= st->retry && r < 0; attempt++) {
			if (attempt > 0)
				zl_log(ZL_LOG_INFO, "%s-rep-%d: init step %s: %s; retry %d of %d", a->service,
				       a->index, id, serr2.msg, attempt, st->retry);
			zl_err_clear(&serr2);
			r = run_step(st, netns, no_netns, env, env_count, &serr2);
		}
		if (r == 0) {
			zl_log(ZL_LOG_INFO, "%s-rep-%d: init step %s (%s) done", a->service, a->index, id,
			       st->uses);
			continue;
		}
		switch (st->on_failure) {
		case SPEC_ON_TIMEOUT_FAIL:
			zl_fail(err, INIT_PREFIX "step %s (%s): %s", id, st->uses, serr2.msg);
			ret = -1;
			break;
		case SPEC_ON_TIMEOUT_WARN:
			zl_log(ZL_LOG_WARN, "%s-rep-%d: init step %s (%s): %s; going on (on_failure: warn)",
			       a->service, a->index, id, st->uses, serr2.msg);
			break;
		case SPEC_ON_TIMEOUT_CONTINUE:
			zl_log(ZL_LOG_DEBUG, "%s-rep-%d: init step %s (%s): %s; going on", a->service,
			       a->index, id, st->uses, serr2.msg);
			break;
		}
	}
	state_replica_clear(&probe_row);
	return ret;
}

bool init_failed(const char *error)
{
	return error && strncmp(error, INIT_PREFIX, strlen(INIT_PREFIX)) == 0;
}

int64_t init_backoff_until(struct state_db *db, const struct plan_action *a, int64_t now_ms)
{
	if (!a->desired || a->desired->svc->on_init_failure != SPEC_INIT_BACKOFF)
		return 0;
	/* n = init failures in a row: "failed" events with an init message
	 * since the replica last started. */
	struct state_events ev = { 0 };
	struct zl_err err = ZL_ERR_INIT;
	int n = 0;
	if (state_events_load(db, a->deployment, 500, &ev, &err) < 0)
		zl_log(ZL_LOG_DEBUG, "init back-off: %s", err.msg); /* first delay then */
	for (size_t i = ev.count; i-- > 0;) {
		const struct state_event *e = &ev.items[i];
		if (e->index != a->index || !e->service || strcmp(e->service, a->service) != 0)
			continue;
		if (strcmp(e->kind, "started") == 0 || strcmp(e->kind, "restarted") == 0)
			break;
		if (strcmp(e->kind, "failed") == 0 && init_failed(e->message))
			n++;
	}
	state_events_free(&ev);
	int64_t delay = BACKOFF_BASE_MS << (n < 6 ? n : 6);
	if (delay > BACKOFF_MAX_MS)
		delay = BACKOFF_MAX_MS;
	zl_log(ZL_LOG_WARN, "%s-rep-%d: init failed; the next try waits %llds (errors.on_init_failure: backoff)",
	       a->service, a->index, (long long)(delay / 1000));
	return now_ms + delay;
}

int init_gate(const struct plan_action *a, const struct state_replica *current, int64_t now_ms,
	      struct zl_err *err)
{
	if (!current || current->state != STATE_REPLICA_FAILED || !init_failed(current->error) ||
	    !a->desired)
		return 0;
	const struct plan_desired_service *ds = a->desired;
	switch (ds->svc->on_init_failure) {
	case SPEC_INIT_RESTART:
		return 0;
	case SPEC_INIT_BACKOFF:
		if (current->backoff_until <= now_ms)
			return 0;
		zl_log(ZL_LOG_INFO, "%s-rep-%d: init failed; next try in %llds (errors.on_init_failure: backoff)",
		       a->service, a->index, (long long)((current->backoff_until - now_ms + 999) / 1000));
		return 1;
	case SPEC_INIT_FAIL:
		/* A new spec is a new chance; the same one failed already. */
		if (current->spec_hash && strcmp(current->spec_hash, ds->spec_hash) != 0)
			return 0;
		return zl_fail(err,
			       "stays failed (errors.on_init_failure: fail; it is tried again when its "
			       "spec changes): %s",
			       current->error);
	}
	return 0;
}
