/* health.c: health probes, liveness restarts and the readiness gates of an
 * apply (docs/spec-reference.md, Differences from ZLayer, rows 5-7).
 *
 * zlapply is no daemon, so probing happens while it runs: once per apply for
 * every running replica of a service with a health block (in parallel, each
 * bounded by its timeout), and every `interval` while a run waits for
 * readiness (a rolling recreate, a `depends` condition, --wait). The result
 * is recorded per replica in the health text ("healthy", "starting:1",
 * "unhealthy:3"; health-internal.h). A replica failing `retries` probes in a
 * row is restarted. Readiness: running, and with a health block, healthy. */
#include "health-internal.h"

#include <signal.h>
#include <string.h>

/* ---- the health text ---- */

static const char *const words[] = { [HEALTH_UNKNOWN] = NULL, [HEALTH_STARTING] = "starting",
				      [HEALTH_HEALTHY] = "healthy", [HEALTH_UNHEALTHY] = "unhealthy" };

void health_parse(const char *text, struct health_status *out)
{
	out->word = HEALTH_UNKNOWN;
	out->failures = 0;
	if (!text)
		return;
	size_t len = strcspn(text, ":");
	for (int w = HEALTH_STARTING; w <= HEALTH_UNHEALTHY; w++)
		if (strlen(words[w]) == len && strncmp(text, words[w], len) == 0)
			out->word = (enum health_word)w;
	if (text[len] == ':')
		out->failures = atoi(text + len + 1);
	if (out->failures < 0)
		out->failures = 0;
}

char *health_format(const struct health_status *h)
{
	if (h->word == HEALTH_UNKNOWN)
		return NULL;
	if (h->failures > 0)
		return zl_xasprintf("%s:%d", words[h->word], h->failures);
	return zl_xstrdup(words[h->word]);
}

bool health_replica_ready(const struct spec_service *svc, const struct state_replica *r)
{
	if (svc->rtype == SPEC_RTYPE_JOB && r->state == STATE_REPLICA_EXITED && r->exit_code == 0 &&
	    r->exit_signal == 0)
		return true; /* a job that finished its work */
	if (r->state != STATE_REPLICA_RUNNING)
		return false;
	if (!svc->health.present)
		return true; /* decision 6 */
	struct health_status h;
	health_parse(r->health, &h);
	return h.word == HEALTH_HEALTHY;
}

/* ---- what a run remembers ---- */

struct seen {
	char *deployment, *service;
	int index;
	int64_t last_probe; /* monotonic ms */
	char *error;        /* last failure, NULL after a success */
};

struct health_memory {
	struct seen *items;
	size_t count, cap;
};

struct health_memory *health_memory_new(void)
{
	return zl_xcalloc(1, sizeof(struct health_memory));
}

void health_memory_free(struct health_memory *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->count; i++) {
		free(m->items[i].deployment);
		free(m->items[i].service);
		free(m->items[i].error);
	}
	free(m->items);
	free(m);
}

static struct seen *seen_find(const struct health_memory *m, const char *deployment,
			      const char *service, int index)
{
	for (size_t i = 0; i < m->count; i++) {
		struct seen *s = &m->items[i];
		if (s->index == index && strcmp(s->service, service) == 0 &&
		    strcmp(s->deployment, deployment) == 0)
			return s;
	}
	return NULL;
}

static struct seen *seen_get(struct health_memory *m, const struct state_replica *r)
{
	struct seen *s = seen_find(m, r->deployment, r->service, r->index);
	if (s)
		return s;
	zl_grow(&m->items, sizeof(*m->items), &m->cap, m->count + 1);
	s = &m->items[m->count++];
	*s = (struct seen){ .deployment = zl_xstrdup(r->deployment),
			    .service = zl_xstrdup(r->service),
			    .index = r->index,
			    .last_probe = INT64_MIN };
	return s;
}

const char *health_memory_error(const struct health_memory *m, const char *deployment,
				const char *service, int index)
{
	const struct seen *s = m ? seen_find(m, deployment, service, index) : NULL;
	return s ? s->error : NULL;
}

/* ---- rows ---- */

struct state_replica *health_find_row(struct state_replicas *rows, const char *service, int index)
{
	for (size_t i = 0; i < rows->count; i++)
		if (rows->items[i].index == index && strcmp(rows->items[i].service, service) == 0)
			return &rows->items[i];
	return NULL;
}

int health_load_rows(struct state_db *db, struct backend *b, const char *deployment,
		     struct state_replicas *rows, int64_t now_ms, struct zl_err *err)
{
	if (state_replicas_load(db, deployment, rows, err) < 0)
		return -1;
	/* In memory only: recording exits is the apply's observe step. */
	observe_refresh(b, rows, now_ms);
	return 0;
}

/* ---- probing ---- */

static char **argv_copy(const struct spec_strv *v)
{
	char **argv = zl_xcalloc(v->count + 1, sizeof(char *));
	for (size_t i = 0; i < v->count; i++)
		argv[i] = v->items[i];
	return argv;
}

static void task_for(struct probe_task *t, struct backend *b, const struct spec_service *svc,
		     const struct state_replica *r)
{
	const struct spec_health *h = &svc->health;
	memset(t, 0, sizeof(*t));
	t->attempt_ms = h->timeout_ms > 0 ? h->timeout_ms : 5000;
	switch (h->check) {
	case SPEC_CHECK_TCP:
		t->kind = PROBE_TCP;
		t->port = h->port;
		break;
	case SPEC_CHECK_HTTP:
		t->kind = PROBE_HTTP;
		t->url = h->url;
		t->expect_status = h->expect_status ? h->expect_status : 200;
		break;
	case SPEC_CHECK_COMMAND:
	case SPEC_CHECK_NONE:
		t->kind = PROBE_EXEC;
		t->argv = argv_copy(&h->command);
		t->b = b;
		t->backend_id = r->backend_id;
		return;
	}
	t->netns = probe_netns_of(svc, r, &t->no_netns);
}

/* New health of r after one probe result. *now_unhealthy: retries reached. */
static struct health_status next_health(const struct spec_service *svc, const struct state_replica *r,
					bool ok, int64_t now_ms, bool *now_unhealthy)
{
	struct health_status h;
	health_parse(r->health, &h);
	*now_unhealthy = false;
	if (ok)
		return (struct health_status){ HEALTH_HEALTHY, 0 };
	bool in_grace = r->started_at > 0 && now_ms - r->started_at < svc->health.start_grace_ms;
	if (in_grace) /* failures while starting do not count (Docker's start period) */
		return (struct health_status){ h.word == HEALTH_HEALTHY ? HEALTH_HEALTHY
									: HEALTH_STARTING, 0 };
	if (h.word == HEALTH_UNKNOWN)
		h.word = HEALTH_STARTING;
	h.failures++;
	int retries = svc->health.retries > 0 ? svc->health.retries : 3;
	if (h.failures >= retries) {
		h.word = HEALTH_UNHEALTHY;
		*now_unhealthy = true;
	}
	return h;
}

/* Writes r's new health text (and an event when it became healthy). */
static int record_health(struct state_db *db, struct state_replica *r, const char *text,
			 int64_t now_ms, struct zl_err *err)
{
	struct health_status before;
	health_parse(r->health, &before);
	free(r->health);
	r->health = zl_xstrdup(text);
	r->updated_at = now_ms;
	struct health_status after;
	health_parse(text, &after);
	if (state_begin(db, err) < 0)
		return -1;
	int ret = state_replica_upsert(db, r, err);
	if (ret == 0 && after.word == HEALTH_HEALTHY && before.word != HEALTH_HEALTHY)
		ret = state_event_add(db, now_ms, r->deployment, r->service, r->index, "healthy",
				      "health probe passed", err);
	if (ret == 0)
		ret = state_commit(db, err);
	else
		state_rollback(db);
	return ret;
}

static bool on_current_spec(const struct state_services *current, const struct state_replica *r)
{
	if (!current)
		return true;
	for (size_t i = 0; i < current->count; i++)
		if (strcmp(current->items[i].name, r->service) == 0)
			return current->items[i].spec_hash && r->spec_hash &&
			       strcmp(current->items[i].spec_hash, r->spec_hash) == 0;
	return true; /* not recorded yet: the spec is all there is */
}

int health_probe_rows(struct state_db *db, struct backend *b, const struct spec_deployment *dep,
		      const struct state_services *current, struct state_replicas *rows,
		      struct health_memory *mem, bool force, int64_t now_ms, size_t **unhealthy,
		      size_t *n_unhealthy, struct zl_err *err)
{
	*unhealthy = NULL;
	*n_unhealthy = 0;
	struct probe_task *tasks = zl_xcalloc(rows->count + 1, sizeof(*tasks));
	size_t *which = zl_xcalloc(rows->count + 1, sizeof(*which));
	size_t n = 0;
	int64_t mono = zl_monotonic_ms();
	for (size_t i = 0; i < rows->count; i++) {
		const struct state_replica *r = &rows->items[i];
		const struct spec_service *svc = spec_deployment_find(dep, r->service);
		if (!svc || !svc->health.present || r->state != STATE_REPLICA_RUNNING || !r->backend_id ||
		    !on_current_spec(current, r))
			continue;
		struct seen *s = seen_get(mem, r);
		if (!force && s->last_probe != INT64_MIN && mono - s->last_probe < svc->health.interval_ms)
			continue;
		s->last_probe = mono;
		task_for(&tasks[n], b, svc, r);
		which[n++] = i;
	}
	if (n > 0)
		probe_batch(tasks, n);

	int ret = 0;
	*unhealthy = zl_xcalloc(n + 1, sizeof(**unhealthy));
	for (size_t k = 0; k < n; k++) {
		struct state_replica *r = &rows->items[which[k]];
		const struct spec_service *svc = spec_deployment_find(dep, r->service);
		struct seen *s = seen_get(mem, r);
		free(s->error);
		s->error = tasks[k].ok ? NULL : zl_xstrdup(tasks[k].message ? tasks[k].message : "failed");
		bool now_unhealthy = false;
		struct health_status h = next_health(svc, r, tasks[k].ok, now_ms, &now_unhealthy);
		_cleanup_free_ char *text = health_format(&h);
		if (!tasks[k].ok) /* failures that count are news; those in start_grace are not */
			zl_log(h.failures > 0 ? ZL_LOG_INFO : ZL_LOG_DEBUG,
			       "%s-rep-%d: health probe failed (%s): %s", r->service, r->index, text,
			       s->error);
		if (!r->health || strcmp(r->health, text) != 0) {
			struct zl_err werr = ZL_ERR_INIT;
			if (record_health(db, r, text, now_ms, &werr) < 0 && ret == 0) {
				*err = werr;
				ret = -1;
			}
		}
		if (now_unhealthy)
			(*unhealthy)[(*n_unhealthy)++] = which[k];
		free((void *)tasks[k].argv);
		probe_task_clear(&tasks[k]);
	}
	free(tasks);
	free(which);
	return ret;
}

/* ---- liveness ---- */

int health_restart(struct state_db *db, struct backend *b, const struct spec_service *svc,
		   const struct state_replica *r, const char *why, const struct execute_env *env,
		   struct zl_err *err)
{
	int64_t t = env && env->clock_ms ? env->clock_ms() : zl_now_ms();
	int retries = svc->health.retries > 0 ? svc->health.retries : 3;
	_cleanup_free_ char *msg = zl_xasprintf("%d health probes failed in a row (last: %s); restarting",
						retries, why ? why : "failed");
	zl_log(ZL_LOG_WARN, "%s: %s-rep-%d: %s", r->deployment, r->service, r->index, msg);
	if (state_event_add(db, t, r->deployment, r->service, r->index, "unhealthy", msg, err) < 0)
		return -1;

	/* An ordinary journaled restart; execute stops the running replica
	 * after journaling, so a crash mid-stop is completed by recovery. */
	struct state_replica current;
	state_replica_copy(&current, r);
	struct plan_desired_service ds = { .svc = svc, .replicas = r->index };
	snprintf(ds.spec_hash, sizeof(ds.spec_hash), "%s", r->spec_hash ? r->spec_hash : "");
	ds.sections = r->spec_sections;
	_cleanup_free_ char *reason = zl_xasprintf("unhealthy: %s", why ? why : "health probes failed");
	struct plan_action a = {
		.kind = PLAN_RESTART,
		.deployment = r->deployment,
		.service = r->service,
		.index = r->index,
		.reason = reason,
		.desired = &ds,
	};
	int ret = execute_action(db, b, &a, &current, env, err);
	state_replica_clear(&current);
	return ret;
}

/* ---- the gates of an apply ---- */

struct depends_result {
	const char *service;
	int ret;
	struct zl_err err;
};

struct health_gate {
	struct state_db *db;
	struct backend *b;
	const struct spec_deployment *dep;
	const struct plan_desired *desired;
	struct execute_env env;
	struct health_memory *mem;
	struct depends_result *depends; /* one per service checked in this apply */
	size_t n_depends;
	struct state_services current; /* the desired spec hashes (strings borrowed) */
};

static int64_t gate_now(const struct health_gate *g)
{
	return g->env.clock_ms ? g->env.clock_ms() : zl_now_ms();
}

struct health_gate *health_gate_new(struct state_db *db, struct backend *b,
				    const struct spec_deployment *dep,
				    const struct plan_desired *desired, const struct execute_env *env)
{
	if (!db || !b || !dep)
		return NULL;
	struct health_gate *g = zl_xcalloc(1, sizeof(*g));
	g->db = db;
	g->b = b;
	g->dep = dep;
	g->desired = desired;
	g->env = *env;
	g->mem = health_memory_new();
	g->depends = zl_xcalloc(dep->service_count + 1, sizeof(*g->depends));
	g->current.items = zl_xcalloc(desired->count + 1, sizeof(*g->current.items));
	for (size_t i = 0; i < desired->count; i++)
		g->current.items[g->current.count++] = (struct state_service){
			.deployment = (char *)desired->deployment,
			.name = desired->services[i].svc->name,
			.spec_hash = (char *)desired->services[i].spec_hash,
		};
	return g;
}

void health_gate_free(struct health_gate *g)
{
	if (!g)
		return;
	health_memory_free(g->mem);
	free(g->depends);
	free(g->current.items); /* the strings are borrowed */
	free(g);
}

/* Records a replica that did not start because of its dependencies as
 * failed (a running one is left alone: its rollout just stops). */
static int record_blocked(struct health_gate *g, const struct plan_action *a,
			  const struct state_replica *current, const char *msg, struct zl_err *err)
{
	if (current && current->state == STATE_REPLICA_RUNNING)
		return 0;
	const struct plan_desired_service *ds = a->desired;
	int64_t t = gate_now(g);
	struct state_replica row;
	if (current) {
		state_replica_copy(&row, current);
	} else {
		state_replica_init(&row);
		row.deployment = zl_xstrdup(a->deployment);
		row.service = zl_xstrdup(a->service);
		row.index = a->index;
		row.backend = zl_xstrdup(ds->backend ? ds->backend : g->b->ops->name);
		row.backend_id = backend_replica_id(a->deployment, a->service, a->index);
		row.spec_hash = zl_xstrdup(ds->spec_hash);
		row.spec_sections = zl_xstrdup(ds->sections);
		row.image_digest = zl_xstrdup(ds->image.manifest_digest);
		row.created_at = t;
	}
	row.state = STATE_REPLICA_FAILED;
	free(row.error);
	row.error = zl_xstrdup(msg);
	row.updated_at = t;
	int ret = state_begin(g->db, err);
	if (ret == 0)
		ret = state_replica_upsert(g->db, &row, err);
	if (ret == 0)
		ret = state_event_add(g->db, t, a->deployment, a->service, a->index, "failed", msg, err);
	if (ret == 0)
		ret = state_commit(g->db, err);
	else
		state_rollback(g->db);
	state_replica_clear(&row);
	return ret;
}

int health_gate_before(struct health_gate *g, const struct plan_action *a,
		       const struct state_replica *current, struct zl_err *err)
{
	if (!g || !a->desired || (a->kind != PLAN_CREATE && a->kind != PLAN_RECREATE))
		return 0;
	int r = init_gate(a, current, gate_now(g), err);
	if (r < 0)
		zl_err_prefix(err, "%s %s-rep-%d", plan_action_name(a->kind), a->service, a->index);
	if (r != 0)
		return r;
	const struct spec_service *svc = a->desired->svc;
	if (svc->depend_count == 0)
		return 0;
	/* A service's dependencies are checked once per apply. */
	struct depends_result *res = NULL;
	for (size_t i = 0; i < g->n_depends && !res; i++)
		if (strcmp(g->depends[i].service, svc->name) == 0)
			res = &g->depends[i];
	if (!res) {
		res = &g->depends[g->n_depends++];
		res->service = svc->name;
		zl_err_clear(&res->err);
		res->ret = depends_wait(g->db, g->b, g->dep, &g->current, svc, g->mem, g->env.clock_ms,
					g->env.deadline_mono_ms, &res->err);
	}
	if (res->ret == 0)
		return 0;
	*err = res->err;
	zl_err_prefix(err, "%s %s-rep-%d", plan_action_name(a->kind), a->service, a->index);
	struct zl_err rerr = ZL_ERR_INIT;
	if (record_blocked(g, a, current, res->err.msg, &rerr) < 0)
		zl_log(ZL_LOG_WARN, "%s", rerr.msg);
	return -1;
}

/* Rolling recreate: the next replica is replaced only when this one is
 * ready, which it must be within the service's rollout deadline
 * (spec_rollout_deadline_ms()), and before --wait --timeout runs out. */
int health_gate_after(struct health_gate *g, const struct plan_action *a, struct zl_err *err)
{
	if (!g || a->kind != PLAN_RECREATE || !a->desired)
		return 0;
	const struct spec_service *svc = a->desired->svc;
	if (!svc->health.present || svc->rtype != SPEC_RTYPE_SERVICE)
		return 0;
	int64_t budget = spec_rollout_deadline_ms(&svc->health);
	int64_t deadline = zl_monotonic_ms() + budget;
	/* --wait --timeout bounds the whole apply, this wait included. */
	bool run_out = g->env.deadline_mono_ms > 0 && g->env.deadline_mono_ms < deadline;
	if (run_out) {
		budget -= deadline - g->env.deadline_mono_ms;
		deadline = g->env.deadline_mono_ms;
	}
	const char *why = "not probed yet";
	_cleanup_free_ char *last = NULL;
	bool first = true;
	for (;;) {
		struct state_replicas rows = { 0 };
		if (health_load_rows(g->db, g->b, a->deployment, &rows, gate_now(g), err) < 0)
			return -1;
		struct state_replica *r = health_find_row(&rows, a->service, a->index);
		bool ready = false, hopeless = false;
		if (!r || r->state != STATE_REPLICA_RUNNING) {
			why = !r ? "its record is gone" : state_replica_state_name(r->state);
			hopeless = true;
		} else {
			/* Only this replica: a view of one row. */
			struct state_replicas one = { .items = r, .count = 1 };
			size_t *bad = NULL, n_bad = 0;
			if (health_probe_rows(g->db, g->b, g->dep, &g->current, &one, g->mem, first,
					      gate_now(g), &bad, &n_bad, err) < 0) {
				free(bad);
				state_replicas_free(&rows);
				return -1;
			}
			first = false;
			free(bad);
			ready = health_replica_ready(svc, r);
			hopeless = n_bad > 0; /* retries used up */
			const char *e = health_memory_error(g->mem, a->deployment, a->service, a->index);
			free(last);
			last = zl_xstrdup(e);
			why = r->health ? r->health : "not probed yet";
		}
		_cleanup_free_ char *why_copy = zl_xstrdup(why);
		state_replicas_free(&rows);
		if (ready)
			return 0;
		if (!hopeless && run_out && zl_monotonic_ms() >= deadline) {
			zl_err_set(err, ZL_ERR_TIMEOUT, 0,
				   "%s-rep-%d is not ready when --timeout ran out (%s%s%s); the rollout of %s stops here",
				   a->service, a->index, why_copy, last ? ": " : "", last ? last : "",
				   a->service);
			return -1;
		}
		if (hopeless || zl_monotonic_ms() >= deadline) {
			zl_fail(err, "%s-rep-%d is not ready after %.0fs (%s%s%s); the rollout of %s stops here",
				a->service, a->index, (budget - (deadline - zl_monotonic_ms())) / 1000.0,
				why_copy, last ? ": " : "", last ? last : "", a->service);
			return -1;
		}
		health_sleep_ms(200);
	}
}

int health_gate_finish(struct health_gate *g, struct reconcile_result *res, struct zl_err *err)
{
	if (!g)
		return 0;
	/* Nothing to probe: skip reading every replica again (the no-op apply
	 * of a large spec without health checks). */
	bool any = false;
	for (size_t i = 0; !any && i < g->dep->service_count; i++)
		any = g->dep->services[i].health.present;
	if (!any)
		return 0;
	struct state_replicas rows = { 0 };
	if (health_load_rows(g->db, g->b, g->dep->name, &rows, gate_now(g), err) < 0)
		return -1;
	size_t *bad = NULL, n_bad = 0;
	int ret = health_probe_rows(g->db, g->b, g->dep, &g->current, &rows, g->mem, true,
				    gate_now(g), &bad, &n_bad, err);
	for (size_t i = 0; i < n_bad; i++) {
		const struct state_replica *r = &rows.items[bad[i]];
		const struct spec_service *svc = spec_deployment_find(g->dep, r->service);
		const char *why = health_memory_error(g->mem, r->deployment, r->service, r->index);
		struct zl_err rerr = ZL_ERR_INIT;
		if (health_restart(g->db, g->b, svc, r, why, &g->env, &rerr) < 0) {
			zl_log(ZL_LOG_ERROR, "%s: %s", g->dep->name, rerr.msg);
			res->actions_failed++;
			if (ret == 0)
				*err = rerr;
			ret = -1;
		}
	}
	free(bad);
	state_replicas_free(&rows);
	return ret;
}
