/* publish.c: a deployment's published ports (endpoints and port_mappings)
 * during an apply; see publish-internal.h for the calls and the records.
 *
 * A port is "new" for a service when its last recorded claims lack it; only
 * new ports are tested (bind) and compared with the other services' claims,
 * because a port the service already publishes is held by its own DNAT rules
 * and nothing binds it. */
#include "publish-internal.h"
#include "health-internal.h" /* a rollout's unready replica gets no connections */

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "net/net.h"

struct claim {
	struct net_port port;
	char *key; /* ephemeral: "host_ip/proto/container_port"; else NULL */
};

struct claims {
	struct claim *items;
	size_t count, cap;
};

struct publish_service {
	const struct spec_service *svc;
	struct claims want; /* resolved from the spec */
	struct claims had;  /* recorded before this run */
	char *refused;      /* why creates fail; NULL when fine */
	bool reported;
};

struct publish {
	char *root, *scope, *dir; /* dir: <root>/ports/<deployment> */
	const char *deployment;
	const char *bridge;
	bool deleting;
	struct publish_service *svcs;
	size_t n;
};

static void claims_free(struct claims *c)
{
	for (size_t i = 0; i < c->count; i++)
		free(c->items[i].key);
	free(c->items);
	memset(c, 0, sizeof(*c));
}

static void claims_add(struct claims *c, const struct net_port *p, const char *key)
{
	zl_grow(&c->items, sizeof(*c->items), &c->cap, c->count + 1);
	c->items[c->count++] = (struct claim){ .port = *p, .key = zl_xstrdup(key) };
}

static bool same_port(const struct net_port *a, const struct net_port *b)
{
	return a->host_ip == b->host_ip && a->host_port == b->host_port && a->udp == b->udp;
}

/* 0.0.0.0:P covers 127.0.0.1:P: the two would fight over the same packets. */
static bool overlaps(const struct net_port *a, const struct net_port *b)
{
	return a->host_port == b->host_port && a->udp == b->udp &&
	       (a->host_ip == b->host_ip || a->host_ip == 0 || b->host_ip == 0);
}

static const struct claim *claims_find(const struct claims *c, const struct net_port *p)
{
	for (size_t i = 0; i < c->count; i++)
		if (same_port(&c->items[i].port, p))
			return &c->items[i];
	return NULL;
}

static const struct claim *claims_find_key(const struct claims *c, const char *key)
{
	for (size_t i = 0; i < c->count; i++)
		if (c->items[i].key && strcmp(c->items[i].key, key) == 0)
			return &c->items[i];
	return NULL;
}

static char *port_text(const struct net_port *p)
{
	char ip[NET_IPV4_STRLEN];
	net_ipv4_format(p->host_ip, ip);
	return zl_xasprintf("port %d/%s on %s", p->host_port, net_port_proto(p), ip);
}

/* ---- records ---- */

char *publish_dir(const char *root)
{
	return zl_xasprintf("%s/ports", root);
}

char *publish_scope(const char *root)
{
	char real[PATH_MAX];
	return zl_xstrdup(realpath(root, real) ? real : root);
}

static char *record_path(const struct publish *p, const char *service, const char *ext)
{
	return zl_xasprintf("%s/%s.%s", p->dir, service, ext);
}

/* Reads a claims file; a missing or unreadable one is no claims. */
static void claims_read(const char *path, struct claims *out)
{
	memset(out, 0, sizeof(*out));
	char *text = NULL;
	size_t len = 0;
	if (zl_read_file(path, &text, &len, NULL) < 0)
		return;
	cJSON *doc = cJSON_Parse(text);
	free(text);
	cJSON *item;
	cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(doc, "ports"))
	{
		const cJSON *ip = cJSON_GetObjectItemCaseSensitive(item, "host_ip");
		const cJSON *hp = cJSON_GetObjectItemCaseSensitive(item, "host_port");
		const cJSON *tp = cJSON_GetObjectItemCaseSensitive(item, "target_port");
		const cJSON *proto = cJSON_GetObjectItemCaseSensitive(item, "protocol");
		const cJSON *key = cJSON_GetObjectItemCaseSensitive(item, "ephemeral");
		struct net_port p = { 0 };
		if (!cJSON_IsString(ip) || !cJSON_IsNumber(hp) || !cJSON_IsNumber(tp) ||
		    !cJSON_IsString(proto) || net_ipv4_parse(ip->valuestring, &p.host_ip, NULL) < 0)
			continue;
		p.host_port = hp->valueint;
		p.target_port = tp->valueint;
		p.udp = strcmp(proto->valuestring, "udp") == 0;
		claims_add(out, &p, cJSON_IsString(key) ? key->valuestring : NULL);
	}
	cJSON_Delete(doc);
}

static char *claims_json(const struct claims *c)
{
	cJSON *doc = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(doc, "ports");
	for (size_t i = 0; i < c->count; i++) {
		const struct net_port *p = &c->items[i].port;
		char ip[NET_IPV4_STRLEN];
		net_ipv4_format(p->host_ip, ip);
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "host_ip", ip);
		cJSON_AddNumberToObject(o, "host_port", p->host_port);
		cJSON_AddNumberToObject(o, "target_port", p->target_port);
		cJSON_AddStringToObject(o, "protocol", net_port_proto(p));
		if (c->items[i].key)
			cJSON_AddStringToObject(o, "ephemeral", c->items[i].key);
		cJSON_AddItemToArray(arr, o);
	}
	char *text = cJSON_Print(doc);
	cJSON_Delete(doc);
	char *with_nl = zl_xasprintf("%s\n", text);
	free(text);
	return with_nl;
}

/* Writes path with text unless it already holds exactly that. */
static int write_if_changed(const char *path, const char *text, struct zl_err *err)
{
	char *old = NULL;
	size_t len = 0;
	bool same = zl_read_file(path, &old, &len, NULL) == 0 && strcmp(old, text) == 0;
	free(old);
	return same ? 0 : zl_write_file_atomic(path, text, strlen(text), 0600, err);
}

/* ---- what the spec asks for ---- */

static bool bridge_mode(const struct spec_service *svc)
{
	const char *mode = svc->network_mode;
	return !mode || strcmp(mode, "default") == 0 || strcmp(mode, "bridge") == 0 ||
	       strncmp(mode, "bridge:", 7) == 0;
}

static bool publishes(const struct spec_service *svc)
{
	return bridge_mode(svc) && (svc->endpoint_count > 0 || svc->port_mapping_count > 0);
}

/* Adds p unless the service already asks for it; two different asks for one
 * host port are refused. */
static int want_add(struct publish_service *s, const struct net_port *p, const char *key,
		    struct zl_err *err)
{
	for (size_t i = 0; i < s->want.count; i++) {
		const struct net_port *q = &s->want.items[i].port;
		if (same_port(q, p) && q->target_port == p->target_port)
			return 0;
		if (overlaps(q, p)) {
			_cleanup_free_ char *t = port_text(p);
			return zl_invalid(err, "%s is published twice (to %d and %d)", t,
					  q->target_port, p->target_port);
		}
	}
	claims_add(&s->want, p, key);
	return 0;
}

static int resolve_service(struct publish_service *s, struct zl_err *err)
{
	const struct spec_service *svc = s->svc;
	for (size_t i = 0; i < svc->endpoint_count; i++) {
		const struct spec_endpoint *e = &svc->endpoints[i];
		struct net_port p = {
			.host_ip = e->expose == SPEC_EXPOSE_PUBLIC ? 0 : 0x7f000001,
			.host_port = e->port,
			.target_port = e->target_port > 0 ? e->target_port : e->port,
			.udp = e->protocol && strcmp(e->protocol, "udp") == 0,
		};
		if (want_add(s, &p, NULL, err) < 0)
			return zl_err_prefix(err, "endpoint %s", e->name ? e->name : "?");
	}
	for (size_t i = 0; i < svc->port_mapping_count; i++) {
		const struct spec_port_mapping *m = &svc->port_mappings[i];
		const char *ip = m->host_ip && *m->host_ip ? m->host_ip : "0.0.0.0";
		struct net_port p = {
			.host_port = m->host_port,
			.target_port = m->container_port,
			.udp = m->protocol && strcmp(m->protocol, "udp") == 0,
		};
		if (net_ipv4_parse(ip, &p.host_ip, err) < 0)
			return zl_err_prefix(err, "port_mappings[%zu]: host_ip %s (only IPv4 is published)",
					     i, ip);
		_cleanup_free_ char *key = NULL;
		if (p.host_port == 0) {
			/* Ephemeral: picked once, then kept (the record) so clients
			 * can rely on it across applies. */
			key = zl_xasprintf("%s/%s/%d", ip, net_port_proto(&p), p.target_port);
			const struct claim *old = claims_find_key(&s->had, key);
			if (old)
				p.host_port = old->port.host_port;
			else if (net_port_pick_ephemeral(p.host_ip, p.udp, &p.host_port, err) < 0)
				return zl_err_prefix(err, "port_mappings[%zu]", i);
		}
		if (want_add(s, &p, key, err) < 0)
			return zl_err_prefix(err, "port_mappings[%zu]", i);
	}
	return 0;
}

/* Claims of every other service under <root>/ports (other deployments, and
 * this deployment's services that stay), for ports published twice. */
static void other_claims(const struct publish *p, const struct publish_service *self,
			 struct claims *out, char ***owners)
{
	memset(out, 0, sizeof(*out));
	*owners = NULL;
	size_t cap = 0;
	_cleanup_free_ char *top = publish_dir(p->root);
	DIR *d = opendir(top);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		bool mine = strcmp(de->d_name, p->deployment) == 0;
		_cleanup_free_ char *sub = zl_xasprintf("%s/%s", top, de->d_name);
		DIR *sd = opendir(sub);
		if (!sd)
			continue;
		struct dirent *fe;
		while ((fe = readdir(sd))) {
			if (!zl_str_has_suffix(fe->d_name, ".json"))
				continue;
			_cleanup_free_ char *svc = zl_xstrndup(fe->d_name, strlen(fe->d_name) - 5);
			if (mine) {
				/* This deployment: only services still in the spec count
				 * (the others lose their ports in this run). */
				bool stays = false;
				for (size_t i = 0; i < p->n; i++)
					if (&p->svcs[i] != self && strcmp(p->svcs[i].svc->name, svc) == 0)
						stays = true;
				if (!stays)
					continue;
			}
			_cleanup_free_ char *path = zl_xasprintf("%s/%s", sub, fe->d_name);
			struct claims c;
			claims_read(path, &c);
			for (size_t i = 0; i < c.count; i++) {
				claims_add(out, &c.items[i].port, NULL);
				zl_grow(owners, sizeof(**owners), &cap, out->count);
				(*owners)[out->count - 1] = zl_xasprintf("%s/%s", de->d_name, svc);
			}
			claims_free(&c);
		}
		closedir(sd);
	}
	closedir(d);
}

/* Refuses new ports another service claims or someone else holds. */
static int check_new_ports(const struct publish *p, struct publish_service *s,
			   struct zl_err *err)
{
	struct claims others;
	char **owners = NULL;
	int ret = 0;
	bool looked = false;
	for (size_t i = 0; ret == 0 && i < s->want.count; i++) {
		const struct net_port *want = &s->want.items[i].port;
		if (claims_find(&s->had, want))
			continue; /* already ours: our own rules hold it */
		if (!looked) {
			other_claims(p, s, &others, &owners);
			looked = true;
		}
		for (size_t k = 0; ret == 0 && k < others.count; k++)
			if (overlaps(&others.items[k].port, want)) {
				_cleanup_free_ char *t = port_text(want);
				ret = zl_fail(err, "%s is already published by %s", t, owners[k]);
			}
		if (ret == 0)
			ret = net_port_check_free(want->host_ip, want->host_port, want->udp, err);
	}
	if (looked) {
		for (size_t k = 0; k < others.count; k++)
			free(owners[k]);
		free(owners);
		claims_free(&others);
	}
	return ret;
}

struct publish *publish_begin(struct backend *b, const struct reconcile_opts *o,
			      const struct plan_desired *desired)
{
	if (o->dry_run || !b || !b->ops->wants_network || !b->ops->wants_network(b))
		return NULL;
	struct publish *p = zl_xcalloc(1, sizeof(*p));
	p->root = zl_xstrdup(o->root);
	p->scope = publish_scope(o->root);
	_cleanup_free_ char *top = publish_dir(o->root);
	p->dir = zl_xasprintf("%s/%s", top, desired->deployment);
	p->deployment = desired->deployment;
	p->bridge = o->bridge ? o->bridge : NET_DEFAULT_BRIDGE;
	p->deleting = desired->deleting;
	p->svcs = zl_xcalloc(desired->count + 1, sizeof(*p->svcs));
	for (size_t i = 0; i < desired->count; i++)
		if (publishes(desired->services[i].svc))
			p->svcs[p->n++].svc = desired->services[i].svc;

	for (size_t i = 0; i < p->n; i++) {
		struct publish_service *s = &p->svcs[i];
		_cleanup_free_ char *json = record_path(p, s->svc->name, "json");
		claims_read(json, &s->had);
		struct zl_err e = ZL_ERR_INIT;
		int r = resolve_service(s, &e);
		if (r == 0)
			r = check_new_ports(p, s, &e);
		if (r == 0) {
			_cleanup_free_ char *text = claims_json(&s->want);
			r = zl_mkdir_p(p->dir, 0700, &e);
			if (r == 0)
				r = write_if_changed(json, text, &e);
		}
		if (r < 0) {
			s->refused = zl_xasprintf("service %s: %s; its replicas were not created",
						  s->svc->name, e.msg);
			/* Replicas that run keep the ports they had. */
			claims_free(&s->want);
			for (size_t k = 0; k < s->had.count; k++)
				claims_add(&s->want, &s->had.items[k].port, s->had.items[k].key);
		}
	}
	return p;
}

int publish_refuse(struct publish *p, const struct plan_action *a, struct zl_err *err)
{
	if (!p || (a->kind != PLAN_CREATE && a->kind != PLAN_RECREATE))
		return 0;
	for (size_t i = 0; i < p->n; i++) {
		struct publish_service *s = &p->svcs[i];
		if (!s->refused || strcmp(s->svc->name, a->service) != 0)
			continue;
		if (!s->reported)
			zl_log(ZL_LOG_ERROR, "%s: %s", p->deployment, s->refused);
		s->reported = true;
		return zl_fail(err, "%s %s-rep-%d: %s", plan_action_name(a->kind), a->service,
			       a->index, s->refused);
	}
	return 0;
}

static const char *boot_id(void)
{
	static char id[64];
	if (!id[0]) {
		char *text = NULL;
		size_t len = 0;
		if (zl_read_file("/proc/sys/kernel/random/boot_id", &text, &len, NULL) == 0) {
			snprintf(id, sizeof(id), "%s", text);
			id[strcspn(id, "\n")] = '\0';
		}
		free(text);
		if (!id[0])
			snprintf(id, sizeof(id), "unknown");
	}
	return id;
}

/* Points service's rules at ips (none: removes them), unless the record
 * says the kernel already has exactly that. */
static int sync_service(struct publish *p, const char *service, const struct claims *ports,
			const char *const *ips, size_t n_ips, struct zl_err *err)
{
	struct net_port *list = zl_xcalloc(ports->count + 1, sizeof(*list));
	for (size_t i = 0; i < ports->count; i++)
		list[i] = ports->items[i].port;
	_cleanup_free_ char *rules =
		net_ports_render(p->scope, p->deployment, service, list, ports->count, ips, n_ips);
	/* The boot id: rules do not survive a reboot, the record does. */
	_cleanup_free_ char *record =
		zl_xasprintf("# zlapply published ports; bridge %s; boot %s\n%s", p->bridge,
			     boot_id(), rules);
	_cleanup_free_ char *path = record_path(p, service, "rules");
	char *old = NULL;
	size_t len = 0;
	bool same = zl_read_file(path, &old, &len, NULL) == 0 && strcmp(old, record) == 0;
	free(old);
	int r = 0;
	if (!same) {
		/* No record while the kernel changes: a crash in between makes
		 * the next run do it again. */
		if (unlink(path) < 0 && errno != ENOENT)
			r = zl_fail_errno(err, "remove %s", path);
		if (r == 0)
			r = net_ports_sync(p->scope, p->deployment, service, list, ports->count, ips,
					   n_ips, p->bridge, err);
		if (r == 0)
			r = zl_mkdir_p(p->dir, 0700, err);
		if (r == 0)
			r = zl_write_file_atomic(path, record, strlen(record), 0600, err);
	}
	free(list);
	return r;
}

/* Removes a service's rules and records (it left the spec or publishes
 * nothing any more). */
static int drop_service(struct publish *p, const char *service, struct zl_err *err)
{
	_cleanup_free_ char *rules = record_path(p, service, "rules");
	_cleanup_free_ char *json = record_path(p, service, "json");
	if (net_ports_remove(p->scope, p->deployment, service, err) < 0)
		return -1;
	if ((unlink(rules) < 0 && errno != ENOENT) || (unlink(json) < 0 && errno != ENOENT))
		return zl_fail_errno(err, "remove the port records of %s", service);
	return 0;
}

static bool has_service(const struct publish *p, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->svcs[i].svc->name, name) == 0)
			return true;
	return false;
}

/* The addresses of svc's running replicas in rows, but those in skip.
 * With a health check, a replica that is not ready gets no connections
 * while another one is ready (a rollout's new replica that never became
 * healthy must not take the clients of the old ones that serve). The
 * strings are borrowed from rows; the array is the caller's. */
static const char **running_ips(const struct state_replicas *rows, const struct spec_service *svc,
				const char *const *skip, size_t n_skip, size_t *n)
{
	const char *service = svc->name;
	const char **ips = zl_xcalloc(rows->count + 1, sizeof(*ips));
	*n = 0;
	bool any_ready = false;
	for (size_t k = 0; k < rows->count && svc->health.present && !any_ready; k++)
		any_ready = strcmp(rows->items[k].service, service) == 0 &&
			    health_replica_ready(svc, &rows->items[k]);
	for (size_t k = 0; k < rows->count; k++) {
		const struct state_replica *r = &rows->items[k];
		if (strcmp(r->service, service) != 0 || r->state != STATE_REPLICA_RUNNING || !r->ip ||
		    !*r->ip || (any_ready && !health_replica_ready(svc, r)))
			continue;
		bool skipped = false;
		for (size_t i = 0; i < n_skip && !skipped; i++)
			skipped = skip[i] && strcmp(skip[i], r->ip) == 0;
		if (!skipped)
			ips[(*n)++] = r->ip;
	}
	return ips;
}

int publish_update(struct publish *p, struct state_db *db, const char *service,
		   const char *const *skip_ips, size_t n_skip, struct zl_err *err)
{
	const struct publish_service *s = NULL;
	for (size_t i = 0; p && i < p->n && !s; i++)
		if (strcmp(p->svcs[i].svc->name, service) == 0)
			s = &p->svcs[i];
	if (!s || s->want.count == 0)
		return 0; /* publishes nothing */
	struct state_replicas rows = { 0 };
	if (state_replicas_load_service(db, p->deployment, service, &rows, err) < 0)
		return zl_err_prefix(err, "published ports of %s", service);
	size_t n_ips = 0;
	const char **ips = running_ips(&rows, s->svc, skip_ips, n_skip, &n_ips);
	int r = sync_service(p, service, &s->want, ips, n_ips, err);
	free(ips);
	state_replicas_free(&rows);
	return r < 0 ? zl_err_prefix(err, "published ports of %s", service) : 0;
}

int publish_finish(struct publish *p, struct state_db *db, struct zl_err *err)
{
	if (!p)
		return 0;
	struct stat st;
	bool have_dir = stat(p->dir, &st) == 0;
	if (p->n == 0 && !have_dir)
		return 0; /* nothing published, nothing recorded */
	int ret = 0;
	struct state_replicas rows = { 0 };
	if (p->n > 0 && state_replicas_load(db, p->deployment, &rows, err) < 0)
		return zl_err_prefix(err, "published ports");
	for (size_t i = 0; i < p->n; i++) {
		const struct publish_service *s = &p->svcs[i];
		size_t n_ips = 0;
		const char **ips = running_ips(&rows, s->svc, NULL, 0, &n_ips);
		struct zl_err e = ZL_ERR_INIT;
		if (sync_service(p, s->svc->name, &s->want, ips, n_ips, &e) < 0) {
			zl_log(ZL_LOG_ERROR, "%s: service %s: %s", p->deployment, s->svc->name, e.msg);
			if (ret == 0) {
				*err = e;
				zl_err_prefix(err, "service %s", s->svc->name);
			}
			ret = -1;
		}
		free(ips);
	}
	state_replicas_free(&rows);

	/* Records of services that publish nothing now (names first: the
	 * directory changes under the loop otherwise). */
	char **gone = NULL;
	size_t n_gone = 0, cap = 0;
	DIR *d = have_dir ? opendir(p->dir) : NULL;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		const char *ext = strrchr(de->d_name, '.');
		if (de->d_name[0] == '.' || !ext || (strcmp(ext, ".json") && strcmp(ext, ".rules")))
			continue;
		char *svc = zl_xstrndup(de->d_name, (size_t)(ext - de->d_name));
		bool seen = has_service(p, svc);
		for (size_t i = 0; !seen && i < n_gone; i++)
			seen = strcmp(gone[i], svc) == 0;
		if (seen) {
			free(svc);
			continue;
		}
		zl_grow(&gone, sizeof(*gone), &cap, n_gone + 1);
		gone[n_gone++] = svc;
	}
	if (d)
		closedir(d);
	for (size_t i = 0; i < n_gone; i++) {
		struct zl_err e = ZL_ERR_INIT;
		if (drop_service(p, gone[i], &e) < 0) {
			zl_log(ZL_LOG_ERROR, "%s: service %s: %s", p->deployment, gone[i], e.msg);
			if (ret == 0)
				*err = e;
			ret = -1;
		}
		free(gone[i]);
	}
	free(gone);
	if (ret == 0 && p->n == 0 && have_dir && rmdir(p->dir) < 0 && errno != ENOENT &&
	    errno != ENOTEMPTY)
		zl_log(ZL_LOG_WARN, "remove %s: %s", p->dir, strerror(errno));
	return ret;
}

void publish_free(struct publish *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		claims_free(&p->svcs[i].want);
		claims_free(&p->svcs[i].had);
		free(p->svcs[i].refused);
	}
	free(p->svcs);
	free(p->root);
	free(p->scope);
	free(p->dir);
	free(p);
}
