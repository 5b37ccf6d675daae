/* wait.c: `zlapply apply --wait [--timeout D]`: after the apply, poll until
 * every desired replica of every applied deployment is ready (running, and
 * healthy when its service has a health block; a job that exited 0 counts),
 * probing at each service's interval and restarting replicas that fail
 * `retries` probes in a row, as an apply does. Each poll holds the apply lock
 * only briefly, so a cron apply is never shut out for the whole wait.
 * A replica that exits meanwhile gets its restart policy as in any apply:
 * once its back-off is over, the wait runs an apply, which restarts it. One
 * that exited for good (its policy does not restart it, or a job failed)
 * ends the wait at once: waiting longer cannot make it ready. On timeout or
 * such an exit the report names every replica that is not ready, why, and
 * its last log lines. */
#include "health-internal.h"
#include "names-internal.h" /* networking: service names */

#include <errno.h>
#include <string.h>

#define POLL_MS 250
#define LOG_TAIL 5

struct not_ready {
	char *deployment, *service, *backend_id;
	int index;
	char *why;
};

struct not_ready_list {
	struct not_ready *items;
	size_t count, cap;
	size_t exited_for_good; /* of count: exited, and nothing will restart them */
	bool restart_due;       /* an exited replica's back-off is over: apply */
};

static void list_clear(struct not_ready_list *l)
{
	for (size_t i = 0; i < l->count; i++) {
		free(l->items[i].deployment);
		free(l->items[i].service);
		free(l->items[i].backend_id);
		free(l->items[i].why);
	}
	l->count = 0;
	l->exited_for_good = 0;
	l->restart_due = false;
}

static void list_add(struct not_ready_list *l, const char *deployment, const char *service,
		     int index, const char *backend_id, char *why)
{
	zl_grow(&l->items, sizeof(*l->items), &l->cap, l->count + 1);
	l->items[l->count++] = (struct not_ready){
		.deployment = zl_xstrdup(deployment),
		.service = zl_xstrdup(service),
		.backend_id = zl_xstrdup(backend_id),
		.index = index,
		.why = why,
	};
}

/* Why replica r (NULL: no record) is not ready. Caller frees. */
static char *why_not_ready(const struct spec_service *svc, const struct state_replica *r,
			   const struct health_memory *mem, int64_t now_ms)
{
	if (!r)
		return zl_xstrdup("not created (no record)");
	struct zl_buf b = { 0 };
	switch (r->state) {
	case STATE_REPLICA_RUNNING: {
		const char *e = health_memory_error(mem, r->deployment, r->service, r->index);
		if (r->health)
			zl_buf_printf(&b, "running, health %s%s%s", r->health, e ? ": " : "", e ? e : "");
		else if (e) /* restarted since */
			zl_buf_printf(&b, "running, not probed since it started (before: %s)", e);
		else
			zl_buf_puts(&b, "running, not probed yet");
		if (r->restarts > 0)
			zl_buf_printf(&b, "; restarted %d time%s", r->restarts, r->restarts == 1 ? "" : "s");
		break;
	}
	case STATE_REPLICA_EXITED:
	case STATE_REPLICA_STOPPED:
		if (r->exit_signal)
			zl_buf_printf(&b, "%s, killed by signal %d", state_replica_state_name(r->state),
				      r->exit_signal);
		else
			zl_buf_printf(&b, "%s with code %d", state_replica_state_name(r->state), r->exit_code);
		if (r->exit_reason && strcmp(r->exit_reason, "exited") != 0)
			zl_buf_printf(&b, " (%s)", r->exit_reason);
		if (svc->rtype == SPEC_RTYPE_JOB && r->exit_code != 0)
			zl_buf_puts(&b, "; the job failed");
		break;
	case STATE_REPLICA_FAILED:
		zl_buf_printf(&b, "failed: %s", r->error ? r->error : "unknown error");
		break;
	default:
		zl_buf_puts(&b, state_replica_state_name(r->state));
		if (r->error)
			zl_buf_printf(&b, ": %s", r->error);
		break;
	}
	if (r->backoff_until > now_ms)
		zl_buf_printf(&b, "; backing off, next try in %llds",
			      (long long)((r->backoff_until - now_ms + 999) / 1000));
	return zl_buf_steal(&b);
}

/* One poll of one deployment: probe, restart the unhealthy, list what is
 * not ready. */
static int poll_deployment(struct state_db *db, struct backend *b, const struct spec_deployment *dep,
			   const struct execute_env *env, struct health_memory *mem,
			   struct not_ready_list *out, struct zl_err *err)
{
	int64_t now = env->clock_ms ? env->clock_ms() : zl_now_ms();
	struct state_replicas rows = { 0 };
	if (health_load_rows(db, b, dep->name, &rows, now, err) < 0)
		return -1;
	struct state_services current = { 0 };
	if (state_services_load(db, dep->name, &current, err) < 0) {
		state_replicas_free(&rows);
		return -1;
	}
	size_t *bad = NULL, n_bad = 0;
	int ret = health_probe_rows(db, b, dep, &current, &rows, mem, false, now, &bad, &n_bad, err);
	state_services_free(&current);
	for (size_t i = 0; ret == 0 && i < n_bad; i++) {
		struct state_replica *r = &rows.items[bad[i]];
		const struct spec_service *svc = spec_deployment_find(dep, r->service);
		const char *why = health_memory_error(mem, r->deployment, r->service, r->index);
		struct zl_err rerr = ZL_ERR_INIT;
		if (health_restart(db, b, svc, r, why, env, &rerr) < 0)
			zl_log(ZL_LOG_ERROR, "%s: %s", dep->name, rerr.msg);
	}
	free(bad);
	if (ret == 0 && n_bad > 0) {
		/* Restarted replicas changed: look again. */
		state_replicas_free(&rows);
		ret = health_load_rows(db, b, dep->name, &rows, now, err);
	}
	for (size_t s = 0; ret == 0 && s < dep->service_count; s++) {
		const struct spec_service *svc = &dep->services[s];
		int want = svc->rtype == SPEC_RTYPE_CRON ? 0 : spec_service_desired_replicas(svc);
		for (int n = 1; n <= want; n++) {
			const struct state_replica *r = health_find_row(&rows, svc->name, n);
			if (r && health_replica_ready(svc, r))
				continue;
			_cleanup_free_ char *id = backend_replica_id(dep->name, svc->name, n);
			char *why = why_not_ready(svc, r, mem, now);
			bool ended = r && (r->state == STATE_REPLICA_EXITED || r->state == STATE_REPLICA_STOPPED ||
					   r->state == STATE_REPLICA_FAILED);
			if (ended && plan_restart_wanted(svc, r)) {
				out->restart_due |= r->backoff_until <= now;
			} else if (ended && r->state != STATE_REPLICA_FAILED) {
				out->exited_for_good++;
				_cleanup_free_ char *old = why;
				why = zl_xasprintf("%s; its restart policy does not restart it", old);
			}
			list_add(out, dep->name, svc->name, n, r && r->backend_id ? r->backend_id : id, why);
		}
	}
	state_replicas_free(&rows);
	return ret;
}

static void print_report(FILE *f, struct backend *b, const struct not_ready_list *l,
			 int64_t waited_ms)
{
	fprintf(f, "zlapply: not ready after %.0fs: %zu replica%s\n", waited_ms / 1000.0, l->count,
		l->count == 1 ? "" : "s");
	for (size_t i = 0; i < l->count; i++) {
		const struct not_ready *n = &l->items[i];
		fprintf(f, "  %s/%s-rep-%d: %s\n", n->deployment, n->service, n->index, n->why);
		char *text = NULL;
		size_t len = 0;
		FILE *mem = open_memstream(&text, &len);
		if (!mem)
			continue;
		struct backend_log_opts lo = { .tail = LOG_TAIL };
		struct zl_err lerr = ZL_ERR_INIT;
		int r = b->ops->logs ? b->ops->logs(b, n->backend_id, &lo, mem, &lerr) : -1;
		fclose(mem);
		if (r == 0 && len > 0) {
			fprintf(f, "    last log lines:\n");
			for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
				fprintf(f, "    | %s\n", line);
		} else if (r == 0) {
			fprintf(f, "    (no log output)\n");
		}
		free(text);
	}
	fflush(f);
}

/* The restart policy of exited replicas, as an apply carries it out (with
 * the same back-off, events and journal): an apply of the set. A busy lock
 * is not an error: the poll after the next sees what the other run did. */
static int restart_exited(const struct reconcile_opts *opts, const struct spec_set *set,
			  struct zl_err *err)
{
	struct reconcile_opts o = *opts;
	o.lock_timeout_ms = 0;
	struct reconcile_result res;
	struct zl_err aerr = ZL_ERR_INIT;
	if (reconcile_apply(&o, set, &res, &aerr) == 0)
		return 0;
	if (aerr.sys_errno == EWOULDBLOCK)
		return 0;
	if (res.actions_failed > 0) { /* a failed restart: the replica stays not ready */
		zl_log(ZL_LOG_WARN, "--wait: restart: %s", aerr.msg);
		return 0;
	}
	*err = aerr;
	return -1;
}

int reconcile_wait(const struct reconcile_opts *opts, const struct spec_set *set,
		   int64_t timeout_ms, FILE *report, struct zl_err *err)
{
	struct state_db *db = NULL;
	struct backend *b = NULL;
	struct health_memory *mem = health_memory_new();
	struct not_ready_list nr = { 0 };
	_cleanup_free_ char *secrets_dir = zl_xasprintf("%s/secrets", opts->root);
	struct root_network net;
	struct execute_env env = { .secrets_dir = secrets_dir, .clock_ms = opts->clock_ms,
				   .bridge = net.bridge, .subnet = &net.subnet };
	int64_t start = zl_monotonic_ms(), deadline = start + timeout_ms;
	int ret = -1;
	if (state_open(opts->root, false, &db, err) < 0 || root_settle(db, opts, false, &net, err) < 0 ||
	    reconcile_backend_open(opts, NULL, &b, err) < 0)
		goto out;
	if (b->ops->probe(b, err) < 0) {
		zl_err_prefix(err, "backend %s is not usable here", b->ops->name);
		goto out;
	}
	if (!opts->quiet)
		fprintf(stderr, "zlapply: waiting up to %.0fs for every replica to be ready\n",
			timeout_ms / 1000.0);
	for (;;) {
		int64_t left = deadline - zl_monotonic_ms();
		struct state_lock lock = { .fd = -1 };
		int64_t lock_wait = left > 0 ? left : 0;
		if (opts->lock_timeout_ms < lock_wait)
			lock_wait = opts->lock_timeout_ms;
		struct zl_err lock_err = ZL_ERR_INIT;
		if (state_lock_acquire(opts->root, lock_wait, &lock, &lock_err) < 0) {
			if (lock_err.sys_errno != EWOULDBLOCK) {
				*err = lock_err;
				goto out;
			}
			/* Another zlapply (a cron apply) is busy: not ready yet, not a
			 * failure; the report at the deadline is what was last seen. */
			left = deadline - zl_monotonic_ms();
			if (left > 0) {
				health_sleep_ms(left < POLL_MS ? left : POLL_MS);
				continue;
			}
			if (nr.count > 0)
				print_report(report, b, &nr, zl_monotonic_ms() - start);
			zl_err_set(err, ZL_ERR_TIMEOUT, 0, "--wait: not ready after %.0fs: %s",
				   timeout_ms / 1000.0, lock_err.msg);
			goto out;
		}
		list_clear(&nr);
		int r = 0;
		for (size_t i = 0; r == 0 && i < set->count; i++)
			r = poll_deployment(db, b, &set->deployments[i], &env, mem, &nr, err);
		/* networking: the probes changed readiness, so service names */
		for (size_t i = 0; r == 0 && i < set->count; i++) {
			struct zl_err nerr = ZL_ERR_INIT;
			if (names_refresh(b, opts, &set->deployments[i], db, &nerr) < 0)
				zl_log(ZL_LOG_WARN, "--wait: %s", nerr.msg);
		}
		state_lock_release(&lock);
		if (r < 0)
			goto out;
		if (nr.count == 0) {
			if (!opts->quiet)
				fprintf(stderr, "zlapply: every replica is ready (%.1fs)\n",
					(zl_monotonic_ms() - start) / 1000.0);
			ret = 0;
			goto out;
		}
		if (nr.exited_for_good > 0) {
			print_report(report, b, &nr, zl_monotonic_ms() - start);
			zl_err_set(err, ZL_ERR_TIMEOUT, 0,
				   "--wait: %zu replica%s exited and will not be restarted (%zu not ready in all)",
				   nr.exited_for_good, nr.exited_for_good == 1 ? "" : "s", nr.count);
			goto out;
		}
		if (zl_monotonic_ms() >= deadline) {
			print_report(report, b, &nr, zl_monotonic_ms() - start);
			zl_err_set(err, ZL_ERR_TIMEOUT, 0, "--wait: %zu replica%s not ready after %.0fs",
				   nr.count, nr.count == 1 ? "" : "s", timeout_ms / 1000.0);
			goto out;
		}
		if (nr.restart_due && restart_exited(opts, set, err) < 0)
			goto out;
		left = deadline - zl_monotonic_ms();
		health_sleep_ms(left < POLL_MS ? left : POLL_MS);
	}
out:
	list_clear(&nr);
	free(nr.items);
	health_memory_free(mem);
	backend_close(b);
	state_close(db);
	return ret;
}
