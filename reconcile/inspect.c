/* inspect.c: everything known about one replica (`zlapply inspect`), as
 * one JSON object: its recorded row (state, pid, exit, restarts, health,
 * times), the spec it runs (the service's canonical sections from the file
 * its deployment was last applied from, with whether that file still says
 * what runs: the spec hash), how its backend runs it (runtime, process,
 * mounts, namespaces, limits: the backend's inspect op), its network
 * (address, MAC, namespace, published ports) and its history from the
 * events table (health changes, the last exits). Reads only: files and the
 * store, no lock. The shape is in docs/operations.md ("Inspect"). */
#include "reconcile-internal.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <string.h>

#define HISTORY_KEPT 20 /* health changes shown */
#define EXITS_KEPT 10

static void add_str(cJSON *o, const char *key, const char *v)
{
	cJSON_AddItemToObject(o, key, v ? cJSON_CreateString(v) : cJSON_CreateNull());
}

static void add_int(cJSON *o, const char *key, int64_t v, bool known)
{
	cJSON_AddItemToObject(o, key, known ? cJSON_CreateNumber((double)v) : cJSON_CreateNull());
}

static void add_time(cJSON *o, const char *key, int64_t ms)
{
	char when[32];
	if (ms > 0)
		zl_format_time(ms, when);
	add_str(o, key, ms > 0 ? when : NULL);
}

/* text parsed as JSON, or null. */
static cJSON *parsed(const char *text)
{
	cJSON *j = text ? cJSON_Parse(text) : NULL;
	return j ? j : cJSON_CreateNull();
}

/* The row of target; INPUT when it names several, FAIL when none. */
static int find_row(const struct state_replicas *rows, const char *target,
		    const struct state_replica **out, struct zl_err *err)
{
	_cleanup_free_ char *service = NULL;
	int index = 0;
	if (replica_parse_target(target, &service, &index, err) < 0)
		return -1;
	const struct state_replica *found = NULL;
	size_t n = 0;
	for (size_t i = 0; i < rows->count; i++) {
		const struct state_replica *r = &rows->items[i];
		if (strcmp(r->service, service) != 0 || (index && r->index != index))
			continue;
		if (found && strcmp(found->deployment, r->deployment) != 0)
			return zl_invalid(err, "%s exists in deployments %s and %s: pick one with -d NAME",
					  target, found->deployment, r->deployment);
		if (!found)
			found = r;
		n++;
	}
	if (!found)
		return zl_fail(err, "no replica %s (see 'zlapply status')", target);
	if (n > 1)
		return zl_invalid(err, "%s has %zu replicas: name one, such as %s-rep-%d", target, n,
				  service, found->index);
	*out = found;
	return 0;
}

/* "spec": the service as the deployment's source file says it now. */
static cJSON *spec_json(struct state_db *db, const struct state_replica *r, const char *root)
{
	cJSON *o = cJSON_CreateObject();
	_cleanup_free_ char *source = NULL;
	struct zl_err err = ZL_ERR_INIT;
	if (state_deployment_source(db, r->deployment, &source, &err) < 0 || !source) {
		add_str(o, "source", NULL);
		add_str(o, "note", source ? err.msg : "no source recorded for the deployment");
		return o;
	}
	add_str(o, "source", source);
	struct spec_set set = { 0 };
	const char *paths[] = { source };
	FILE *quiet = fopen("/dev/null", "we");
	int rc = strcmp(source, "-") == 0 ? -1 : reconcile_spec_load(paths, 1, false, false, quiet, &set, NULL);
	if (quiet)
		fclose(quiet);
	const struct spec_service *svc = NULL;
	const struct spec_deployment *dep = NULL;
	for (size_t d = 0; rc == 0 && d < set.count && !svc; d++)
		for (size_t i = 0; i < set.deployments[d].service_count && !svc; i++)
			if (strcmp(set.deployments[d].name, r->deployment) == 0 &&
			    strcmp(set.deployments[d].services[i].name, r->service) == 0) {
				dep = &set.deployments[d];
				svc = &set.deployments[d].services[i];
			}
	if (!svc) {
		add_str(o, "note", rc < 0 ? "the source cannot be read or is not valid now"
					  : "the source no longer has this service");
		spec_set_free(&set);
		return o;
	}
	char hash[65] = "";
	_cleanup_free_ char *secrets = zl_xasprintf("%s/secrets", root);
	struct zl_err herr = ZL_ERR_INIT;
	bool same = spec_service_hash(dep, svc, secrets, hash, NULL, &herr) == 0;
	if (same && r->image_digest)
		apply_hash_with_digest(hash, r->image_digest);
	same = same && r->spec_hash && strcmp(hash, r->spec_hash) == 0;
	cJSON_AddBoolToObject(o, "current", same);
	if (!same)
		add_str(o, "note", "the file says something else now: the replica runs the spec it "
				   "was created with (spec_hash), the next apply replaces it");
	_cleanup_free_ char *described = spec_service_describe(svc);
	cJSON_AddItemToObject(o, "service", parsed(described));
	spec_set_free(&set);
	return o;
}

static cJSON *network_json(const struct state_replica *r, const cJSON *spec)
{
	cJSON *o = cJSON_CreateObject();
	add_str(o, "ip", r->ip);
	uint32_t ip;
	struct zl_err ignored = ZL_ERR_INIT;
	if (r->ip && net_ipv4_parse(r->ip, &ip, &ignored) == 0) {
		unsigned char mac[6];
		net_replica_mac(ip, mac);
		char text[24];
		snprintf(text, sizeof(text), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
			 mac[3], mac[4], mac[5]);
		add_str(o, "mac", text);
	} else {
		add_str(o, "mac", NULL);
	}
	add_str(o, "netns", r->netns);
	add_str(o, "netns_state", r->netns_state);
	const cJSON *svc = cJSON_GetObjectItemCaseSensitive(spec, "service");
	const cJSON *net = cJSON_GetObjectItemCaseSensitive(svc, "network");
	const cJSON *ports = cJSON_GetObjectItemCaseSensitive(svc, "ports");
	cJSON_AddItemToObject(o, "spec", net ? cJSON_Duplicate(net, true) : cJSON_CreateNull());
	cJSON_AddItemToObject(o, "ports", ports ? cJSON_Duplicate(ports, true) : cJSON_CreateArray());
	return o;
}

/* One event as {time, kind, message, data}. */
static cJSON *event_json(const struct state_event *e)
{
	cJSON *o = cJSON_CreateObject();
	add_time(o, "time", e->time);
	add_str(o, "kind", e->kind);
	add_str(o, "message", e->message);
	cJSON_AddItemToObject(o, "data", e->data ? parsed(e->data) : cJSON_CreateObject());
	return o;
}

/* health_history and exits: the replica's events of those kinds, newest
 * last, at most keep of each. */
static void history_json(struct state_db *db, const struct state_replica *r, cJSON *doc)
{
	cJSON *health = cJSON_AddArrayToObject(doc, "health_history");
	cJSON *exits = cJSON_AddArrayToObject(doc, "exits");
	struct state_events ev;
	struct zl_err err = ZL_ERR_INIT;
	if (state_events_load(db, r->deployment, 0, &ev, &err) < 0)
		return;
	size_t nh = 0, nx = 0;
	for (size_t i = ev.count; i-- > 0;) {
		const struct state_event *e = &ev.items[i];
		if (e->index != r->index || !e->service || strcmp(e->service, r->service) != 0)
			continue;
		bool is_health = strcmp(e->kind, "healthy") == 0 || strcmp(e->kind, "unhealthy") == 0;
		if (is_health && nh++ < HISTORY_KEPT)
			cJSON_InsertItemInArray(health, 0, event_json(e));
		else if (strcmp(e->kind, "exited") == 0 && nx++ < EXITS_KEPT)
			cJSON_InsertItemInArray(exits, 0, event_json(e));
	}
	state_events_free(&ev);
}

static cJSON *row_json(const struct state_replica *r)
{
	cJSON *o = cJSON_CreateObject();
	_cleanup_free_ char *name = zl_xasprintf("%s-rep-%d", r->service, r->index);
	add_str(o, "deployment", r->deployment);
	add_str(o, "service", r->service);
	add_str(o, "replica", name);
	add_int(o, "index", r->index, true);
	add_str(o, "state", state_replica_state_name(r->state));
	add_str(o, "backend", r->backend);
	add_str(o, "backend_id", r->backend_id);
	add_int(o, "pid", r->pid, r->pid > 0);
	add_int(o, "pid_start_time", r->pid_start_time, r->pid_start_time >= 0);
	add_int(o, "restarts", r->restarts, true);
	add_time(o, "backoff_until", r->backoff_until);
	add_str(o, "health", r->health);
	add_str(o, "error", r->error);
	add_str(o, "spec_hash", r->spec_hash);
	cJSON_AddItemToObject(o, "spec_sections", parsed(r->spec_sections));
	add_str(o, "image_digest", r->image_digest);
	if (r->exit_code >= 0 || r->exit_signal || r->exit_reason) {
		cJSON *exit = cJSON_AddObjectToObject(o, "last_exit");
		add_int(exit, "code", r->exit_code, r->exit_code >= 0);
		add_int(exit, "signal", r->exit_signal, true);
		add_str(exit, "signal_name", r->exit_signal ? spec_signal_name(r->exit_signal) : NULL);
		add_str(exit, "reason", r->exit_reason);
		add_time(exit, "finished_at", r->finished_at);
	} else {
		cJSON_AddNullToObject(o, "last_exit");
	}
	add_time(o, "created_at", r->created_at);
	add_time(o, "started_at", r->started_at);
	add_time(o, "updated_at", r->updated_at);
	return o;
}

/* "runtime" (the backend's summary) and "mounts" lifted out of it. */
static void runtime_json(const struct reconcile_opts *opts, const struct state_replica *r,
			 cJSON *doc)
{
	struct backend *b = NULL;
	struct zl_err err = ZL_ERR_INIT;
	char *text = NULL;
	if (r->backend && r->backend_id && reconcile_backend_open(opts, r->backend, &b, &err) == 0 &&
	    b->ops->inspect && b->ops->inspect(b, r->backend_id, &text, &err) < 0)
		text = NULL;
	backend_close(b);
	cJSON *rt = parsed(text);
	free(text);
	cJSON *mounts = cJSON_DetachItemFromObjectCaseSensitive(rt, "mounts");
	cJSON_AddItemToObject(doc, "runtime", rt);
	cJSON_AddItemToObject(doc, "mounts", mounts ? mounts : cJSON_CreateArray());
}

int reconcile_inspect(const struct reconcile_opts *opts, const char *target, const char *deployment,
		      char **json, struct zl_err *err)
{
	*json = NULL;
	struct state_replicas rows = { 0 };
	struct state_db *db = NULL;
	int ret = -1;
	const struct state_replica *r = NULL;
	if (reconcile_status(opts->root, deployment, &rows, err) < 0 ||
	    find_row(&rows, target, &r, err) < 0)
		goto out;
	if (state_open(opts->root, true, &db, err) < 0)
		goto out;
	cJSON *doc = row_json(r);
	cJSON *spec = spec_json(db, r, opts->root);
	cJSON_AddItemToObject(doc, "spec", spec);
	runtime_json(opts, r, doc);
	cJSON_AddItemToObject(doc, "network", network_json(r, spec));
	history_json(db, r, doc);
	*json = cJSON_Print(doc);
	cJSON_Delete(doc);
	ret = 0;
out:
	state_close(db);
	state_replicas_free(&rows);
	return ret;
}
