/* apply.c: one apply (or delete) from start to end, under the lock.
 *
 * 1. desired state of every deployment (spec hashes, env resolved) before
 *    anything is touched, so bad input changes nothing;
 * 2. lock, open the store, settle what a crashed run left pending;
 * 3. per deployment: observe, plan, execute, record. */
#include "reconcile-internal.h"
#include "publish-internal.h" /* networking: published ports */
#include "health-internal.h"  /* health gates */
#include "names-internal.h"   /* networking: service names */

#include <cjson/cJSON.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>


/* A dry run (diff) while another zlapply works: its replicas in flight are
 * not "interrupted", they are that run's, under way. */
static void mark_in_progress(struct plan *plan, const struct state_replicas *rows)
{
	for (size_t i = 0; i < plan->count; i++) {
		struct plan_action *a = &plan->items[i];
		for (size_t k = 0; k < rows->count; k++) {
			const struct state_replica *r = &rows->items[k];
			if (r->index != a->index || strcmp(r->service, a->service) ||
			    strcmp(r->deployment, a->deployment) ||
			    (r->state != STATE_REPLICA_CREATING && r->state != STATE_REPLICA_REMOVING))
				continue;
			free(a->reason);
			a->reason = zl_xstrdup("an apply is in progress");
		}
	}
}

static int64_t run_now(const struct reconcile_opts *o)
{
	return o->clock_ms ? o->clock_ms() : zl_now_ms();
}

static int desired_build(const struct spec_deployment *dep, const char *secrets_dir,
			 struct plan_desired *out, struct zl_err *err)
{
	memset(out, 0, sizeof(*out));
	out->deployment = dep->name;
	out->services = zl_xcalloc(dep->service_count + 1, sizeof(*out->services));
	for (size_t i = 0; i < dep->service_count; i++) {
		const struct spec_service *svc = &dep->services[i];
		struct plan_desired_service *ds = &out->services[out->count++];
		ds->svc = svc;
		/* Cron runs are scheduled work: they keep no standing replicas;
		 * plan.c starts each run when its time has come. */
		ds->replicas = svc->rtype == SPEC_RTYPE_CRON ? 0 : spec_service_desired_replicas(svc);
		if (spec_service_hash(dep, svc, secrets_dir, ds->spec_hash, &ds->sections, err) < 0) {
			err->kind = ZL_ERR_INPUT;
			return zl_err_prefix(err, "%s: deployment %s", dep->file, dep->name);
		}
	}
	return 0;
}

/* Folds the image's manifest digest into the service's spec hash and its
 * "image" section, so a tag that moved to a new digest recreates replicas
 * (decision 2) and diff says "image changed". */
void apply_hash_with_digest(char hash[65], const char *digest)
{
	char hex[65];
	_cleanup_free_ char *joined = zl_xasprintf("%s\n%s", hash, digest);
	zl_sha256_hex(joined, strlen(joined), hex);
	memcpy(hash, hex, sizeof(hex));
}

static void mix_image_digest(struct plan_desired_service *ds)
{
	const char *digest = ds->image.manifest_digest;
	char hex[65];
	apply_hash_with_digest(ds->spec_hash, digest);

	cJSON *sections = cJSON_Parse(ds->sections);
	cJSON *image = cJSON_GetObjectItemCaseSensitive(sections, "image");
	if (cJSON_IsString(image)) {
		_cleanup_free_ char *both = zl_xasprintf("%s\n%s", image->valuestring, digest);
		zl_sha256_hex(both, strlen(both), hex);
		cJSON_SetValuestring(image, hex);
		char *text = cJSON_PrintUnformatted(sections);
		if (text) {
			free(ds->sections);
			ds->sections = text;
		}
	}
	cJSON_Delete(sections);
}

/* What the service asks that its image cannot give, now that the pull
 * said what the image is (validate judged what the spec alone shows);
 * NULL when nothing. */
static const char *image_kind_conflict(const struct plan_desired_service *ds)
{
	const struct spec_service *svc = ds->svc;
	if (ds->image.module_path) {
		if (svc->endpoint_count || svc->port_mapping_count)
			return "its image is WebAssembly and WASI preview 1 has no sockets: a WASM replica gets no address, so endpoints and port_mappings cannot be served; remove them";
		if (svc->isolation == SPEC_ISOLATION_VM)
			return "its image is WebAssembly, which runs on the wasm backend, not in a VM: drop isolation: vm";
		if (svc->health.present)
			return "its image is WebAssembly: a health check needs an address (tcp, http) or a command run inside the replica, and a WASM replica has neither; remove health (the module's exit is watched, and restart_policy acts on it)";
		return NULL;
	}
	if (spec_service_type_is_wasm(svc->service_type))
		return "service_type is wasm_* but the image is a container image, not a WASM artifact; use a WASM image or drop service_type";
	return NULL;
}

/* Makes every image the deployment needs ready (pull policies), when the
 * backend runs images. A service whose image cannot be had keeps the reason:
 * its creates fail with it and its replicas are recorded as failed, while
 * the other services go ahead. */
static void resolve_images(struct apply_run *run, struct plan_desired *desired)
{
	if (!run->b || !run->b->ops->needs_images || !run->b->ops->needs_images(run->b))
		return;
	if (!run->images)
		run->images = images_ctx_new(run->opts->root, &run->opts->images, run->db);
	for (size_t i = 0; i < desired->count; i++) {
		struct plan_desired_service *ds = &desired->services[i];
		if (ds->replicas == 0 && ds->svc->rtype != SPEC_RTYPE_CRON)
			continue;
		/* A dry run never downloads: it uses what is stored, if anything. */
		enum spec_pull_policy policy = run->opts->dry_run ? SPEC_PULL_NEVER : ds->svc->pull_policy;
		/* What the spec alone says; the pulled image says more below. */
		if (spec_service_declares_wasm(ds->svc))
			ds->backend = "wasm";
		else if (ds->svc->isolation == SPEC_ISOLATION_VM)
			ds->backend = "vm";
		struct zl_err ierr = ZL_ERR_INIT;
		if (images_ensure(run->images, ds->svc->image, policy, &ds->image, &ierr) < 0) {
			/* A dry run plans against the spec alone. */
			if (!run->opts->dry_run) {
				zl_log(ZL_LOG_ERROR, "service %s: %s", ds->svc->name, ierr.msg);
				ds->image_error = zl_xstrdup(ierr.msg);
			}
			continue;
		}
		mix_image_digest(ds);
		const char *why = image_kind_conflict(ds);
		if (why) {
			zl_log(ZL_LOG_ERROR, "service %s: %s", ds->svc->name, why);
			ds->image_error = zl_xstrdup(why);
		}
		if (ds->image.module_path)
			ds->backend = "wasm";
		else if (ds->backend && strcmp(ds->backend, "wasm") == 0)
			ds->backend = NULL; /* a file: that was no module: refused above */
	}
}

/* Writes observed changes of rows (one transaction) and an event per exit. */
static int record_observed(struct state_db *db, const struct state_replicas *before,
			   const struct state_replicas *rows, int64_t now_ms, struct zl_err *err)
{
	if (state_begin(db, err) < 0)
		return -1;
	for (size_t i = 0; i < rows->count; i++) {
		const struct state_replica *r = &rows->items[i], *old = &before->items[i];
		if (!observe_row_changed(old, r))
			continue;
		if (state_replica_upsert(db, r, err) < 0)
			goto fail;
		if (r->state != old->state && r->state == STATE_REPLICA_EXITED) {
			if (events_record_exit(db, now_ms, r, err) < 0)
				goto fail;
		} else if (r->state != old->state && r->state == STATE_REPLICA_UNKNOWN) {
			if (state_event_add(db, now_ms, r->deployment, r->service, r->index, "lost",
					    "the backend no longer knows this replica", err) < 0)
				goto fail;
		}
	}
	/* Runs end in the same transaction as the exits that end them: recorded
	 * apart, a crash between the two would leave a run open for good. */
	if (execute_record_exits(db, before, rows, err) < 0)
		goto fail;
	return state_commit(db, err);
fail:
	state_rollback(db);
	return -1;
}

static void copy_rows(struct state_replicas *dst, const struct state_replicas *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->items = zl_xcalloc(src->count + 1, sizeof(*dst->items));
	for (size_t i = 0; i < src->count; i++)
		state_replica_copy(&dst->items[i], &src->items[i]);
	dst->count = dst->cap = src->count;
}

/* -1 with err (and run->halted_why) when a service of desired has running
 * replicas but its image cannot be had: the planner leaves them as they
 * are, so the rollout of the revision stopped before it began. */
static int image_halt(struct apply_run *run, const struct plan_desired *desired,
		      const struct state_replicas *rows, struct zl_err *err)
{
	for (size_t i = 0; i < desired->count; i++) {
		const struct plan_desired_service *ds = &desired->services[i];
		if (!ds->image_error)
			continue;
		for (size_t k = 0; k < rows->count; k++) {
			const struct state_replica *r = &rows->items[k];
			if (r->state != STATE_REPLICA_RUNNING || strcmp(r->service, ds->svc->name) != 0)
				continue;
			zl_fail(err, "service %s: image %s cannot be had (%s); the rollout of %s stops before its first replica",
				ds->svc->name, ds->svc->image, ds->image_error, ds->svc->name);
			if (!run->halted_why) {
				run->halted_why = zl_xstrdup(err->msg);
				run->halted_timeout = false;
			}
			return -1;
		}
	}
	return 0;
}

/* Records the deployment and its services; drops service rows that left the
 * spec. Writes nothing when nothing changed (a no-op apply changes no row). */
static int record_spec(struct state_db *db, const struct spec_deployment *dep,
		       const struct plan_desired *desired, int64_t now_ms, struct zl_err *err)
{
	struct state_services old = { 0 };
	if (state_services_load(db, dep->name, &old, err) < 0)
		return -1;
	/* An absolute source lets `zlapply run JOB` find the spec from anywhere. */
	_cleanup_free_ char *source = strcmp(dep->file, "-") ? realpath(dep->file, NULL) : NULL;
	int r = state_begin(db, err);
	if (r == 0)
		r = state_deployment_upsert(db, dep->name, source ? source : dep->file, now_ms, err);
	for (size_t i = 0; r == 0 && i < desired->count; i++) {
		const struct plan_desired_service *ds = &desired->services[i];
		static const char *const rtypes[] = { "service", "job", "cron" };
		struct state_service s = {
			.deployment = (char *)dep->name,
			.name = ds->svc->name,
			.rtype = (char *)rtypes[ds->svc->rtype],
			.desired_replicas = ds->replicas,
			.spec_hash = (char *)ds->spec_hash,
		};
		r = state_service_upsert(db, &s, now_ms, err);
	}
	for (size_t i = 0; r == 0 && i < old.count; i++)
		if (!spec_deployment_find(dep, old.items[i].name))
			r = state_service_delete(db, dep->name, old.items[i].name, err);
	if (r == 0)
		r = state_commit(db, err);
	else
		state_rollback(db);
	state_services_free(&old);
	return r;
}

/* Observe, plan and (unless dry-run) execute one deployment; dep NULL means
 * it is being deleted (desired is empty and no spec rows are recorded). */
static int apply_deployment(struct apply_run *run, const struct spec_deployment *dep,
			    struct plan_desired *desired, struct zl_err *err)
{
	const struct reconcile_opts *o = run->opts;
	struct state_replicas rows = { 0 }, before = { 0 };
	struct plan plan = { 0 };
	struct publish *pub = NULL; /* networking: published ports */
	struct names *names = NULL; /* networking: service names */
	struct health_gate *gate = NULL; /* health/depends/init (health.c) */
	int ret = -1;
	int64_t t = run_now(o);

	const char *name = desired->deployment;
	memset(&run->rev, 0, sizeof(run->rev)); /* history: none recorded yet */
	if (run->db && !o->dry_run && recover_pending(run->db, run->b, name, t, err) < 0)
		goto out;
	/* Leases whose replica is gone (a crash between steps) go back to the pool. */
	size_t reclaimed = 0;
	if (run->db && !o->dry_run && state_leases_reclaim(run->db, &reclaimed, err) < 0)
		goto out;
	resolve_images(run, desired);
	/* restarts/jobs/cron: cron schedules and `zlapply run` into desired */
	if (execute_prepare_desired(run->db, o, desired, err) < 0)
		goto out;
	/* history: a rollback whose image is gone changes nothing; any other
	 * change of the deployment is a revision, recorded before it acts */
	if (dep && !o->dry_run && !o->run_service) {
		if (o->origin && o->origin->restores > 0 &&
		    revision_images_missing(desired, o->origin->restores, err) < 0)
			goto out;
		if (revision_begin(run->db, dep, desired, o->origin, o->source, t, &run->rev, err) < 0)
			goto out;
	}
	if (run->db && state_replicas_load(run->db, name, &rows, err) < 0)
		goto out;
	if (run->b) {
		copy_rows(&before, &rows);
		size_t changed = observe_refresh(run->b, &rows, t);
		/* restarts/jobs/cron: back-off of new exits; runs completed */
		if (changed > 0)
			plan_note_exits(desired, &before, &rows, t);
		if (changed > 0 && !o->dry_run &&
		    record_observed(run->db, &before, &rows, t, err) < 0)
			goto out;
	}

	plan_compute(desired, &rows, t, &plan);
	run->res->actions_planned += plan.count;
	if (run->apply_in_progress)
		mark_in_progress(&plan, &rows);
	/* networking: new published ports must be free before anything is made */
	pub = publish_begin(run->b, o, desired);
	names = names_begin(run->b, o, desired);
	ret = 0;
	/* health/depends/init: gates around the actions (reconcile/health.c) */
	struct execute_env genv = { .secrets_dir = run->secrets_dir, .clock_ms = o->clock_ms,
				    .bridge = run->net.bridge, .subnet = &run->net.subnet,
				    .deadline_mono_ms = o->deadline_mono_ms };
	if (o->dry_run) {
		for (size_t i = 0; i < plan.count; i++) {
			rollout_print_line(o, &plan.items[i]);
			rollout_report(o, &plan.items[i], rollout_row_for(&rows, &plan.items[i]),
				       RECONCILE_ACTION_PLANNED, NULL);
		}
	} else {
		gate = health_gate_new(run->db, run->b, dep, desired, &genv);
		struct rollout x = {
			.run = run,
			.deployment = name,
			.rows = &rows,
			.pub = pub,
			.names = names,
			.gate = gate,
			.env = { .secrets_dir = run->secrets_dir, .clock_ms = o->clock_ms,
				 .bridge = run->net.bridge, .subnet = &run->net.subnet },
			.parallel = o->parallel > 0 ? o->parallel : execute_parallel_default(),
		};
		if (rollout_execute(&x, &plan) < 0) {
			*err = x.first_err;
			ret = -1;
		}
	}
	/* history: a service whose new image cannot be had keeps its running
	 * replicas on the old spec; its rollout stops before the first one */
	if (!o->dry_run && dep && ret == 0 && image_halt(run, desired, &rows, err) < 0)
		ret = -1;
	/* health: probe running replicas once, restart the unhealthy (health.c) */
	struct zl_err herr = ZL_ERR_INIT;
	if (health_gate_finish(gate, run->res, &herr) < 0 && ret == 0) {
		*err = herr;
		ret = -1;
	}
	/* networking: published ports follow the running replicas */
	struct zl_err perr = ZL_ERR_INIT;
	if (publish_finish(pub, run->db, &perr) < 0 && ret == 0) {
		*err = perr;
		ret = -1;
	}
	/* networking: service names follow the ready replicas */
	struct zl_err nerr = ZL_ERR_INIT;
	if (names_finish(names, run->db, &nerr) < 0 && ret == 0) {
		*err = nerr;
		ret = -1;
	}
	if (!o->dry_run) {
		/* restarts/jobs/cron: schedule bookkeeping, logs of dropped services */
		struct zl_err serr = ZL_ERR_INIT;
		if (execute_finish_plan(run->db, o->root, desired, &plan, run_now(o), &serr) < 0 &&
		    ret == 0) {
			*err = serr;
			ret = -1;
		}
	}
	if (!o->dry_run && dep) {
		/* Recorded even after a failed action: the spec was accepted. */
		struct zl_err rerr = ZL_ERR_INIT;
		if (record_spec(run->db, dep, desired, run_now(o), &rerr) < 0 && ret == 0) {
			*err = rerr;
			ret = -1;
		}
	}
out:
	health_gate_free(gate);
	publish_free(pub);
	names_free(names);
	plan_free(&plan);
	state_replicas_free(&rows);
	state_replicas_free(&before);
	return ret;
}

/* ---- history and rollback (rollback.c, docs/user-guide.md) ---- */

/* Applies stored revision rev again, as origin says (opts swapped in for
 * the time of it): the normal apply, journaled, gated by health. */
static int apply_revision(struct apply_run *run, const struct state_revision *rev,
			  const struct revision_origin *origin, struct zl_err *err)
{
	struct spec_set set = { 0 };
	struct plan_desired desired = { 0 };
	const struct reconcile_opts *saved = run->opts;
	struct reconcile_opts ropts = *saved;
	ropts.origin = origin;
	ropts.no_rollback = true; /* a rollback that fails stops; it is not rolled back */
	int ret = -1;
	if (revision_spec_load(rev, &set, err) < 0 ||
	    desired_build(&set.deployments[0], run->secrets_dir, &desired, err) < 0)
		goto out;
	run->opts = &ropts;
	ret = apply_deployment(run, &set.deployments[0], &desired, err);
	run->opts = saved;
out:
	plan_desired_free(&desired);
	spec_set_free(&set);
	return ret;
}

/* Sets a revision's status; a failure to record it is only a warning (the
 * replicas are what they are; the next apply of the same spec retries). */
static void revision_end(struct apply_run *run, const char *deployment, int64_t number,
			 const char *status, const char *reason)
{
	struct zl_err err = ZL_ERR_INIT;
	if (number > 0 &&
	    state_revision_set_status(run->db, deployment, number, status, reason, &err) < 0)
		zl_log(ZL_LOG_WARN, "%s: revision %lld: %s", deployment, (long long)number, err.msg);
}

static void rollback_event(struct apply_run *run, const char *deployment, const char *msg)
{
	struct zl_err err = ZL_ERR_INIT;
	zl_log(ZL_LOG_WARN, "%s: %s", deployment, msg);
	if (state_event_add(run->db, run_now(run->opts), deployment, NULL, 0, "rollback", msg, &err) < 0)
		zl_log(ZL_LOG_WARN, "%s: %s", deployment, err.msg);
}

/* A rollback a crash interrupted (its revision still "applying") is
 * finished before anything else is done to its deployment. */
static int finish_interrupted_rollback(struct apply_run *run, const char *name, struct zl_err *err)
{
	struct state_revision latest;
	bool found = false;
	if (state_revision_latest(run->db, name, &latest, &found, err) < 0)
		return -1;
	int ret = 0;
	if (found && latest.restores > 0 && strcmp(latest.status, REVISION_APPLYING) == 0) {
		_cleanup_free_ char *msg = zl_xasprintf(
			"finishing the interrupted rollback to revision %lld (revision %lld)",
			(long long)latest.restores, (long long)latest.number);
		rollback_event(run, name, msg);
		struct revision_origin origin = { .restores = latest.restores, .number = latest.number };
		ret = apply_revision(run, &latest, &origin, err);
		revision_end(run, name, latest.number, ret == 0 ? REVISION_APPLIED : REVISION_FAILED,
			     ret == 0 ? NULL : err->msg);
		if (ret < 0)
			zl_err_prefix(err, "finish the interrupted rollback to revision %lld",
				      (long long)latest.restores);
	}
	state_revision_clear(&latest);
	return ret;
}

/* Puts revision run->rev.restore_to back after the rollout of revision
 * failed at run->halted_why. 0 when it is back; err says what happened
 * either way (the apply failed: its spec is not what runs). */
static int roll_back(struct apply_run *run, const char *name, int64_t failed, struct zl_err *err)
{
	int64_t to = run->rev.restore_to;
	_cleanup_free_ char *why = zl_xstrdup(run->halted_why);
	_cleanup_free_ char *msg = zl_xasprintf("the rollout of revision %lld stopped (%s); rolling back to revision %lld",
						(long long)failed, why, (long long)to);
	rollback_event(run, name, msg);
	struct state_revision prev;
	bool found = false;
	struct zl_err rerr = ZL_ERR_INIT;
	int r = state_revision_get(run->db, name, to, &prev, &found, &rerr);
	if (r == 0 && !found)
		r = zl_fail(&rerr, "revision %lld is no longer kept", (long long)to);
	_cleanup_free_ char *source = zl_xasprintf("revision %lld", (long long)to);
	struct revision_origin origin = { .cause = "automatic rollback", .source = source,
					  .restores = to };
	if (r == 0)
		r = apply_revision(run, &prev, &origin, &rerr);
	state_revision_clear(&prev);
	int64_t rollback_no = run->rev.number; /* the rollback's own revision */
	revision_end(run, name, rollback_no, r == 0 ? REVISION_APPLIED : REVISION_FAILED,
		     r == 0 ? NULL : rerr.msg);
	revision_end(run, name, failed, r == 0 ? REVISION_ROLLED_BACK : REVISION_STOPPED, why);
	if (r == 0) {
		run->res->rollouts_rolled_back++;
		_cleanup_free_ char *recorded =
			rollback_no > 0 ? zl_xasprintf(" (recorded as revision %lld)", (long long)rollback_no)
					: zl_xstrdup("");
		zl_fail(err, "%s: the rollout of revision %lld stopped: %s; rolled back to revision %lld%s",
			name, (long long)failed, why, (long long)to, recorded);
		_cleanup_free_ char *done = zl_xasprintf("rolled back to revision %lld", (long long)to);
		rollback_event(run, name, done);
		return 0;
	}
	run->res->rollouts_stopped++;
	zl_fail(err, "%s: the rollout of revision %lld stopped: %s; the rollback to revision %lld failed too: %s",
		name, (long long)failed, why, (long long)to, rerr.msg);
	return -1;
}

/* apply_deployment() of a deployment's spec, with its history: finishes an
 * interrupted rollback first, records the revision, and when the rollout
 * of a new revision stops, puts the previous one back (unless
 * --no-rollback, or --timeout ran out: then it stays where it stopped). */
static int apply_tracked(struct apply_run *run, const struct spec_deployment *dep,
			 struct plan_desired *desired, struct zl_err *err)
{
	const struct reconcile_opts *o = run->opts;
	if (o->dry_run || o->run_service)
		return apply_deployment(run, dep, desired, err);
	if (finish_interrupted_rollback(run, dep->name, err) < 0)
		return -1;
	free(run->halted_why);
	run->halted_why = NULL;
	run->halted_timeout = false;
	int ret = apply_deployment(run, dep, desired, err);
	int64_t number = run->rev.number;
	if (number == 0)
		return ret;
	if (ret == 0) {
		revision_end(run, dep->name, number, REVISION_APPLIED, NULL);
	} else if (!run->halted_why) {
		revision_end(run, dep->name, number, REVISION_FAILED, err->msg);
	} else if (run->halted_timeout || o->no_rollback || run->rev.restore_to == 0) {
		run->res->rollouts_stopped++;
		revision_end(run, dep->name, number, REVISION_STOPPED, run->halted_why);
		if (!run->halted_timeout && !o->no_rollback)
			zl_log(ZL_LOG_WARN, "%s: no earlier revision was applied in full: nothing to roll back to",
			       dep->name);
	} else {
		roll_back(run, dep->name, number, err);
	}
	free(run->halted_why);
	run->halted_why = NULL;
	return ret;
}

int reconcile_subnet(const struct reconcile_opts *opts, struct net_subnet *out, struct zl_err *err)
{
	if (!opts->subnet || !*opts->subnet) {
		*out = NET_DEFAULT_SUBNET_VALUE;
		return 0;
	}
	if (net_subnet_parse(opts->subnet, out, err) < 0)
		return zl_err_prefix(err, "--subnet");
	return 0;
}

int reconcile_backend_open(const struct reconcile_opts *opts, const char *name,
			   struct backend **out, struct zl_err *err)
{
	struct backend_options bo = { .runtime = opts->runtime, .wasm_engine = opts->wasm_engine };
	if (name)
		return backend_open(name, opts->root, &bo, out, err);
	/* The run's backend, with every other compiled-in one beside it (a
	 * set: containers, WebAssembly and VMs in one deployment, each replica
	 * on the backend its image or spec asks for). The mock stands alone:
	 * it plays every kind in the reconciler's tests. */
	if (strcmp(opts->backend_name, "mock") == 0)
		return backend_open(opts->backend_name, opts->root, &bo, out, err);
	const char *names[8] = { opts->backend_name };
	size_t n = 1;
	for (size_t i = 0; i < backend_count() && n < 8; i++) {
		const char *other = backend_name_at(i);
		if (strcmp(other, "mock") != 0 && strcmp(other, opts->backend_name) != 0)
			names[n++] = other;
	}
	return backend_open_set(names, n, opts->root, &bo, out, err);
}

/* Opens store and backend for a run. Dry runs take no lock and tolerate a
 * missing database (nothing recorded yet) or an unusable backend. */
static int run_open(struct apply_run *run, struct state_lock *lock, struct zl_err *err)
{
	const struct reconcile_opts *o = run->opts;
	run->secrets_dir = zl_xasprintf("%s/secrets", o->root);
	if (o->dry_run) {
		struct zl_err quiet = ZL_ERR_INIT;
		/* Dry runs take no lock, but say when another run holds it (and
		 * make nothing: a root without a lock file has no run in it). */
		struct state_lock probe = { .fd = -1 };
		_cleanup_free_ char *lock_path = zl_xasprintf("%s/lock", o->root);
		if (access(lock_path, F_OK) < 0)
			; /* nobody ever applied here */
		else if (state_lock_acquire(o->root, 0, &probe, &quiet) == 0)
			state_lock_release(&probe);
		else if (quiet.sys_errno == EWOULDBLOCK || quiet.kind == ZL_ERR_BUSY) {
			run->apply_in_progress = true;
			zl_log(ZL_LOG_WARN, "another zlapply is applying to %s right now: this plan shows how far it has got",
			       o->root);
		}
		zl_err_clear(&quiet);
		if (state_open(o->root, true, &run->db, &quiet) < 0 && quiet.sys_errno != ENOENT) {
			*err = quiet;
			return -1;
		}
		if (reconcile_backend_open(o, NULL, &run->b, &quiet) < 0)
			run->b = NULL;
	} else {
		if (state_lock_acquire(o->root, o->lock_timeout_ms, lock, err) < 0)
			return -1;
		if (root_open_state(o->root, run->repair_corrupt, &run->db, err) < 0)
			return -1;
		if (reconcile_backend_open(o, NULL, &run->b, err) < 0)
			return -1;
		if (run->b->ops->probe(run->b, err) < 0)
			return zl_err_prefix(err, "backend %s is not usable here", run->b->ops->name);
	}
	if (root_settle(run->db, o, !o->dry_run, &run->net, err) < 0)
		return -1;
	/* A lost or reset database: rows again for the replicas the backend
	 * still holds, before anything is planned against them. */
	size_t adopted = 0;
	if (!o->dry_run && adopt_held(run->db, run->b, run_now(o), &adopted, err) < 0)
		return zl_err_prefix(err, "adopt the backend's replicas");
	/* From here the run uses the settled network (flags, or the root's). */
	run->settled = *o;
	run->settled.bridge = run->net.bridge;
	run->opts = &run->settled;
	return 0;
}

static void run_close(struct apply_run *run, struct state_lock *lock)
{
	free(run->halted_why);
	images_ctx_free(run->images);
	backend_close(run->b);
	state_close(run->db);
	state_lock_release(lock);
	free(run->secrets_dir);
}

/* The last replica on the root's bridge is gone: the bridge and its rules
 * go too, unless another root or a veth still uses it (as compose's down
 * removes its network). A failure is only a warning: doctor finds it. */
static void release_bridge(struct state_db *db, const char *root)
{
	struct root_network net;
	struct zl_err err = ZL_ERR_INIT;
	int unused = root_bridge_unused(db, root, &net, &err);
	if (unused > 0 && root_bridge_teardown(root, &net, &err) == 0)
		return;
	if (unused != 0)
		zl_log(ZL_LOG_WARN, "bridge %s: %s", net.bridge, err.msg);
}

int reconcile_apply(const struct reconcile_opts *opts, const struct spec_set *set,
		    struct reconcile_result *res, struct zl_err *err)
{
	struct apply_run run = { .opts = opts, .res = res };
	struct state_lock lock = { .fd = -1 };
	struct plan_desired *desired = zl_xcalloc(set->count + 1, sizeof(*desired));
	int ret = -1;
	memset(res, 0, sizeof(*res));

	/* Everything that can be wrong with the input is found before any change. */
	_cleanup_free_ char *secrets_dir = zl_xasprintf("%s/secrets", opts->root);
	for (size_t i = 0; i < set->count; i++)
		if (desired_build(&set->deployments[i], secrets_dir, &desired[i], err) < 0)
			goto out;

	if (run_open(&run, &lock, err) < 0)
		goto out;
	ret = 0;
	for (size_t i = 0; i < set->count; i++) {
		struct zl_err derr = ZL_ERR_INIT;
		if (apply_tracked(&run, &set->deployments[i], &desired[i], &derr) < 0) {
			if (ret == 0)
				*err = derr;
			ret = -1;
		}
	}
	/* A failed create gives its address back; when that was the only one
	 * (the first apply of a spec no replica of which starts) the bridge it
	 * made goes too, as after a delete. */
	if (res->actions_failed > 0 && !opts->dry_run)
		release_bridge(run.db, opts->root);
out:
	run_close(&run, &lock);
	for (size_t i = 0; i < set->count; i++)
		plan_desired_free(&desired[i]);
	free(desired);
	return ret;
}

/* Drops the service rows and the deployment row of a deleted deployment. */
static int forget_deployment(struct state_db *db, const char *name, struct zl_err *err)
{
	struct state_services services = { 0 };
	if (state_services_load(db, name, &services, err) < 0)
		return -1;
	int r = state_begin(db, err);
	for (size_t i = 0; r == 0 && i < services.count; i++)
		r = state_service_delete(db, name, services.items[i].name, err);
	if (r == 0)
		r = state_deployment_delete(db, name, err);
	if (r == 0)
		r = state_commit(db, err);
	else
		state_rollback(db);
	state_services_free(&services);
	return r;
}

/* Does db know deployment name: a deployment row, a replica row or a
 * pending journal entry (a create that a crash interrupted)? */
static int deployment_known(struct state_db *db, const char *name, bool *known, struct zl_err *err)
{
	char **names = NULL;
	size_t n = 0;
	*known = false;
	if (state_deployments_list(db, &names, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n && !*known; i++)
		*known = strcmp(names[i], name) == 0;
	state_names_free(names, n);
	if (*known)
		return 0;
	struct state_replicas rows = { 0 };
	if (state_replicas_load(db, name, &rows, err) < 0)
		return -1;
	*known = rows.count > 0;
	state_replicas_free(&rows);
	if (*known)
		return 0;
	struct state_journal pending = { 0 };
	if (state_journal_pending(db, name, &pending, err) < 0)
		return -1;
	*known = pending.count > 0;
	state_journal_free(&pending);
	return 0;
}

int reconcile_delete(const struct reconcile_opts *opts, const char *const *deployments,
		     size_t count, struct reconcile_result *res, struct zl_err *err)
{
	struct apply_run run = { .opts = opts, .res = res, .repair_corrupt = true };
	struct state_lock lock = { .fd = -1 };
	int ret = -1;
	memset(res, 0, sizeof(*res));
	if (run_open(&run, &lock, err) < 0)
		goto out;
	/* A name this root knows nothing of is said so (a typo must not read
	 * as "deleted"); deleting stays idempotent for scripts: nothing to do
	 * is not a failure. */
	for (size_t i = 0; i < count; i++) {
		bool known = false;
		if (run.db && deployment_known(run.db, deployments[i], &known, err) < 0)
			goto out;
		if (!known)
			zl_log(ZL_LOG_WARN, "no deployment %s is recorded under %s: nothing to delete (see 'zlapply status')",
			       deployments[i], opts->root);
	}
	ret = 0;
	for (size_t i = 0; i < count; i++) {
		/* An empty desired state: the planner removes every replica. */
		struct plan_desired none = { .deployment = deployments[i], .deleting = true };
		struct zl_err derr = ZL_ERR_INIT;
		int r = run.db ? apply_deployment(&run, NULL, &none, &derr) : 0;
		if (r == 0 && run.db && !opts->dry_run)
			r = forget_deployment(run.db, deployments[i], &derr);
		if (r == 0 && run.db && !opts->dry_run)
			release_bridge(run.db, opts->root);
		if (r < 0) {
			if (ret == 0)
				*err = derr;
			ret = -1;
		}
	}
out:
	run_close(&run, &lock);
	return ret;
}

int reconcile_status(const char *root, const char *deployment, struct state_replicas *out,
		     struct zl_err *err)
{
	struct state_db *db = NULL;
	memset(out, 0, sizeof(*out));
	int opened = root_open_read(root, &db, err);
	if (opened != 0)
		return opened < 0 ? -1 : 0; /* 1: nothing recorded yet */
	int r = state_replicas_load(db, deployment, out, err);
	state_close(db);
	if (r < 0)
		return -1;
	/* Refresh from each backend the rows name (usually one). */
	for (size_t i = 0; i < out->count; i++) {
		const char *name = out->items[i].backend;
		if (!name || (i > 0 && out->items[i - 1].backend &&
			      strcmp(out->items[i - 1].backend, name) == 0))
			continue;
		struct backend *b = NULL;
		struct zl_err berr = ZL_ERR_INIT;
		if (backend_open(name, root, NULL, &b, &berr) < 0)
			continue; /* show what is recorded */
		struct state_replicas same = { .items = out->items + i, .count = 0 };
		while (i + same.count < out->count && out->items[i + same.count].backend &&
		       strcmp(out->items[i + same.count].backend, name) == 0)
			same.count++;
		observe_refresh(b, &same, zl_now_ms());
		backend_close(b);
	}
	return 0;
}
