/* compose.c: a deployment as a Compose file (version 3.8) that `docker
 * stack deploy` accepts (docs/scale-out.md). Swarm runs long-running
 * services only: jobs and cron services have no counterpart and are
 * refused with a warning each. $E:VAR env values become ${VAR}, which
 * `docker stack deploy` fills in from its own environment; $S: secrets
 * become external Swarm secrets mounted at /run/secrets/NAME (Swarm puts
 * secrets in files, never in env). */
#include "render/render-internal.h"

#include <string.h>
#include <strings.h>

static int put_env(struct render_ctx *c, struct rnode *s, struct rnode *secrets,
		   const struct spec_service *svc, struct zl_err *err)
{
	for (size_t i = 0; i < svc->env_count; i++) {
		const char *ref = NULL;
		int kind = render_env_ref(svc->env[i].value, &ref);
		struct rnode *env = rn_sub(s, "environment");
		const char *value = NULL;
		if (kind && c->opts->include_values &&
		    render_env_value(c, svc, svc->env[i].key, &value, err) < 0)
			return -1;
		if (!kind || (kind == 1 && value)) {
			rn_put(env, svc->env[i].key, rn_str(value ? value : svc->env[i].value));
		} else if (kind == 1) {
			/* The one interpolation meant: a plain node, which
			 * escape_dollars() leaves alone. */
			struct rnode *v = rn_strf("${%s}", ref);
			v->kind = RN_PLAIN;
			rn_put(env, svc->env[i].key, v);
		} else {
			char key[160];
			snprintf(key, sizeof(key), "env.%s", svc->env[i].key);
			render_warn(c, svc, key, "Swarm gives secrets as files, not env: secret \"%s\" is "
				    "mounted at /run/secrets/%s instead", ref, ref);
			rn_add(rn_list(s, "secrets"), rn_str(ref));
			/* include_values: Swarm reads the secret's file at deploy
			 * time; the value stays out of the Compose file. */
			struct rnode *sec = rn_sub(secrets, ref);
			if (value)
				rn_put(sec, "file", rn_strf("%s/%s", c->opts->secrets_dir, ref));
			else
				rn_put(sec, "external", rn_bool(true));
		}
	}
	return 0;
}

static void put_healthcheck(struct rnode *s, const struct spec_service *svc)
{
	const struct spec_health *h = &svc->health;
	if (!h->present || h->check == SPEC_CHECK_NONE)
		return;
	struct rnode *hc = rn_sub(s, "healthcheck");
	struct rnode *test = rn_put(hc, "test", rn_seq());
	/* Swarm runs a check inside the container: tcp and http become
	 * commands (the image needs nc or wget for them). */
	switch (h->check) {
	case SPEC_CHECK_TCP:
		rn_add(test, rn_str("CMD-SHELL"));
		rn_add(test, rn_strf("nc -w %lld 127.0.0.1 %d </dev/null", (long long)render_seconds(h->timeout_ms, 1),
				     h->port));
		break;
	case SPEC_CHECK_HTTP:
		rn_add(test, rn_str("CMD-SHELL"));
		rn_add(test, rn_strf("wget -q -O /dev/null '%s'", h->url));
		break;
	case SPEC_CHECK_COMMAND:
		rn_add(test, rn_str("CMD"));
		for (size_t i = 0; i < h->command.count; i++)
			rn_add(test, rn_str(h->command.items[i]));
		break;
	case SPEC_CHECK_NONE:
		break;
	}
	char *v = render_docker_duration(h->interval_ms);
	rn_put(hc, "interval", rn_str(v));
	free(v);
	v = render_docker_duration(h->timeout_ms);
	rn_put(hc, "timeout", rn_str(v));
	free(v);
	rn_put(hc, "retries", rn_int(h->retries));
	v = render_docker_duration(h->start_grace_ms);
	rn_put(hc, "start_period", rn_str(v));
	free(v);
}

static void put_deploy(struct render_ctx *c, struct rnode *s, const struct spec_service *svc)
{
	struct rnode *d = rn_sub(s, "deploy");
	rn_put(d, "mode", rn_str("replicated"));
	rn_put(d, "replicas", rn_int(spec_service_desired_replicas(svc)));
	_cleanup_free_ char *scale_key = zl_xasprintf("services.%s.scale", svc->name);
	/* Only a scale block that asks for it: without one, zlapply runs the
	 * default minimum (1) on one host too. */
	if (svc->scale.mode == SPEC_SCALE_ADAPTIVE && render_doc_find(c->doc, scale_key))
		render_warn(c, svc, "scale", "Swarm does not autoscale: rendered with min (%d) "
			    "replicas", svc->scale.min);
	/* zlapply replaces rollout.max_unavailable replicas at a time, in
	 * place, and goes on only when they are ready: that parallelism,
	 * stop-first, Swarm waiting for the health check. */
	struct rnode *u = rn_sub(d, "update_config");
	rn_put(u, "parallelism",
	       rn_int(spec_rollout_batch(svc, spec_service_desired_replicas(svc))));
	rn_put(u, "delay", rn_str("0s"));
	rn_put(u, "order", rn_str("stop-first"));
	rn_put(u, "failure_action", rn_str("rollback"));
	if (svc->health.present) {
		const struct spec_health *h = &svc->health;
		char *m = render_docker_duration(h->start_grace_ms + h->interval_ms * (h->retries + 1));
		rn_put(u, "monitor", rn_str(m));
		free(m);
	}
	struct rnode *rp = rn_sub(d, "restart_policy");
	const char *cond = "any";
	if (svc->restart_kind == SPEC_RESTART_NO ||
	    (svc->restart_kind == SPEC_RESTART_UNSET && svc->on_panic == SPEC_PANIC_SHUTDOWN))
		cond = "none";
	else if (svc->restart_kind == SPEC_RESTART_ON_FAILURE)
		cond = "on-failure";
	rn_put(rp, "condition", rn_str(cond));
	if (svc->restart_kind != SPEC_RESTART_UNSET && svc->restart_max_attempts)
		rn_put(rp, "max_attempts", rn_int(svc->restart_max_attempts));
	if (svc->restart_kind != SPEC_RESTART_UNSET && svc->restart_delay_ms) {
		char *v = render_docker_duration(svc->restart_delay_ms);
		rn_put(rp, "delay", rn_str(v));
		free(v);
	}
	const struct spec_resources *r = &svc->resources;
	if (r->cpu_millicores || r->memory_bytes || r->pids_limit) {
		struct rnode *lim = rn_sub(rn_sub(d, "resources"), "limits");
		if (r->cpu_millicores) {
			char *v = render_docker_cpu(r->cpu_millicores);
			rn_put(lim, "cpus", rn_str(v));
			free(v);
		}
		if (r->memory_bytes) {
			char *v = render_docker_memory(r->memory_bytes);
			rn_put(lim, "memory", rn_str(v));
			free(v);
		}
		if (r->pids_limit)
			render_warn(c, svc, "resources.pids_limit", "Compose files of version 3 have no "
				    "pids limit for Swarm: not rendered");
	}
	if (r->memory_reservation) {
		char *v = render_docker_memory(r->memory_reservation);
		rn_put(rn_sub(rn_sub(d, "resources"), "reservations"), "memory", rn_str(v));
		free(v);
	}
	if (r->gpu_count)
		render_warn(c, svc, "resources.gpu", "Swarm needs GPUs declared as generic resources "
			    "on each node: not rendered");
	struct rnode *l = rn_sub(d, "labels");
	rn_put(l, RENDER_LABEL_NAME, rn_str(svc->name));
	char hash[65];
	if (render_spec_hash(c->dep, svc, hash))
		rn_put(l, RENDER_ANN_HASH, rn_str(hash));
}

static void put_ports(struct render_ctx *c, struct rnode *s, const struct spec_service *svc)
{
	for (size_t i = 0; i < svc->endpoint_count; i++) {
		const struct spec_endpoint *ep = &svc->endpoints[i];
		char key[64];
		if (ep->expose != SPEC_EXPOSE_PUBLIC)
			continue; /* reachable inside the stack's network by service name */
		if (c->opts->publish_mode == RENDER_PUBLISH_HOST && spec_service_desired_replicas(svc) > 1) {
			snprintf(key, sizeof(key), "endpoints[%zu].port", i);
			render_warn(c, svc, key, "--publish-mode host: one node binds port %d for one task "
				    "only, so the other replicas wait for more nodes", ep->port);
		}
		struct rnode *p = rn_add(rn_list(s, "ports"), rn_map());
		rn_put(p, "target", rn_int(ep->target_port));
		rn_put(p, "published", rn_int(ep->port));
		rn_put(p, "protocol", rn_str(strcmp(ep->protocol, "udp") == 0 ? "udp" : "tcp"));
		rn_put(p, "mode", rn_str(c->opts->publish_mode == RENDER_PUBLISH_HOST ? "host" : "ingress"));
		if (ep->path || ep->host) {
			snprintf(key, sizeof(key), "endpoints[%zu].%s", i, ep->host ? "host" : "path");
			render_warn(c, svc, key, "HTTP routing by host or path needs a proxy in front "
				    "of Swarm: not rendered");
		}
	}
	for (size_t i = 0; i < svc->port_mapping_count; i++) {
		const struct spec_port_mapping *pm = &svc->port_mappings[i];
		struct rnode *p = rn_add(rn_list(s, "ports"), rn_map());
		rn_put(p, "target", rn_int(pm->container_port));
		if (pm->host_port > 0)
			rn_put(p, "published", rn_int(pm->host_port));
		rn_put(p, "protocol", rn_str(pm->protocol));
		/* Docker -p binds on the host that runs the container: host mode. */
		rn_put(p, "mode", rn_str("host"));
		if (pm->host_ip && strcmp(pm->host_ip, "0.0.0.0") != 0) {
			char key[64];
			snprintf(key, sizeof(key), "port_mappings[%zu].host_ip", i);
			render_warn(c, svc, key, "Swarm publishes on every address: %s is not rendered",
				    pm->host_ip);
		}
	}
}

static void put_volumes(struct render_ctx *c, struct rnode *s, struct rnode *volumes,
			const struct spec_service *svc)
{
	for (size_t i = 0; i < svc->storage_count; i++) {
		const struct spec_storage *st = &svc->storage[i];
		if (st->type == SPEC_STORAGE_S3)
			continue; /* warned by render_warn_common() */
		struct rnode *v = rn_add(rn_list(s, "volumes"), rn_map());
		static const char *const types[] = { [SPEC_STORAGE_BIND] = "bind",
						     [SPEC_STORAGE_NAMED] = "volume",
						     [SPEC_STORAGE_ANONYMOUS] = "volume",
						     [SPEC_STORAGE_TMPFS] = "tmpfs" };
		rn_put(v, "type", rn_str(types[st->type]));
		if (st->type == SPEC_STORAGE_BIND)
			rn_put(v, "source", rn_str(st->source));
		if (st->type == SPEC_STORAGE_NAMED) {
			rn_put(v, "source", rn_str(st->name));
			rn_sub(volumes, st->name);
		}
		rn_put(v, "target", rn_str(st->target));
		if (st->readonly)
			rn_put(v, "read_only", rn_bool(true));
		if (st->type == SPEC_STORAGE_TMPFS && st->size_bytes)
			rn_put(rn_sub(v, "tmpfs"), "size", rn_int(st->size_bytes));
		if (st->nocopy)
			rn_put(rn_sub(v, "volume"), "nocopy", rn_bool(true));
		char key[64];
		snprintf(key, sizeof(key), "storage[%zu]", i);
		if (st->type == SPEC_STORAGE_BIND)
			render_warn(c, svc, key, "a bind mount reads %s on whichever node runs the task",
				    st->source);
		if (st->type == SPEC_STORAGE_TMPFS && st->mode >= 0)
			render_warn(c, svc, key, "tmpfs mode: version 3 Compose files have no mode for "
				    "Swarm: not rendered");
	}
}

static void put_security(struct render_ctx *c, struct rnode *s, const struct spec_service *svc)
{
	if (svc->user)
		rn_put(s, "user", rn_str(svc->user));
	if (svc->privileged)
		render_warn(c, svc, "privileged", "Swarm services cannot run privileged: not rendered");
	if (svc->read_only_root_fs)
		rn_put(s, "read_only", rn_bool(true));
	if (svc->cap_add.count)
		render_put_strv(s, "cap_add", &svc->cap_add);
	if (svc->cap_drop.count)
		render_put_strv(s, "cap_drop", &svc->cap_drop);
	if (svc->security_opt.count)
		render_warn(c, svc, "security_opt", "Swarm services take no security options: not "
			    "rendered");
	for (size_t i = 0; i < svc->sysctl_count; i++)
		rn_put(rn_sub(s, "sysctls"), svc->sysctls[i].key, rn_str(svc->sysctls[i].value));
	for (size_t i = 0; i < svc->ulimit_count; i++) {
		struct rnode *u = rn_sub(rn_sub(s, "ulimits"), svc->ulimits[i].name);
		rn_put(u, "soft", rn_int(svc->ulimits[i].soft));
		rn_put(u, "hard", rn_int(svc->ulimits[i].hard));
	}
	if (svc->extra_groups.count)
		render_warn(c, svc, "extra_groups", "Swarm services take no extra groups: not rendered");
	if (svc->pid_mode || svc->ipc_mode)
		render_warn(c, svc, svc->pid_mode ? "pid_mode" : "ipc_mode", "Swarm services share no "
			    "namespace with the host: not rendered");
}

static int put_service(struct render_ctx *c, struct rnode *services, struct rnode *volumes,
		       struct rnode *secrets, const struct spec_service *svc, const char *image,
		       struct zl_err *err)
{
	struct rnode *s = rn_sub(services, svc->name);
	rn_put(s, "image", rn_str(image));
	if (svc->has_entrypoint)
		render_put_strv(s, "entrypoint", &svc->entrypoint);
	if (svc->has_args)
		render_put_strv(s, "command", &svc->args);
	if (svc->workdir)
		rn_put(s, "working_dir", rn_str(svc->workdir));
	if (put_env(c, s, secrets, svc, err) < 0)
		return -1;
	put_ports(c, s, svc);
	put_volumes(c, s, volumes, svc);
	put_healthcheck(s, svc);
	put_deploy(c, s, svc);
	if (svc->depend_count) {
		struct rnode *d = rn_put(s, "depends_on", rn_seq());
		for (size_t i = 0; i < svc->depend_count; i++)
			rn_add(d, rn_str(svc->depends[i].service));
		render_warn(c, svc, "depends", "docker stack deploy ignores depends_on: Swarm starts "
			    "every service at once (rendered for docker-compose)");
	}
	for (size_t i = 0; i < svc->init_step_count; i++) {
		char key[64];
		snprintf(key, sizeof(key), "init.steps[%zu]", i);
		render_warn(c, svc, key, "Swarm has no init containers: not rendered");
	}
	if (svc->label_count)
		for (size_t i = 0; i < svc->label_count; i++)
			rn_put(rn_sub(s, "labels"), svc->labels[i].key, rn_str(svc->labels[i].value));
	if (svc->stop_signal_set) {
		const char *name = spec_signal_name(svc->stop_signal);
		rn_put(s, "stop_signal", rn_str(name ? name : "SIGTERM"));
	}
	char *g = render_docker_duration(svc->stop_grace_ms);
	rn_put(s, "stop_grace_period", rn_str(g));
	free(g);
	const char *mode = svc->network_mode ? svc->network_mode : "default";
	if (strcmp(mode, "default") != 0 && strcmp(mode, "bridge") != 0)
		render_warn(c, svc, "network_mode", "\"%s\": Swarm tasks join the stack's overlay "
			    "network: rendered as the default", mode);
	if (svc->hostname)
		rn_put(s, "hostname", rn_str(svc->hostname));
	if (svc->dns.count)
		render_put_strv(s, "dns", &svc->dns);
	if (svc->extra_hosts.count)
		render_put_strv(s, "extra_hosts", &svc->extra_hosts);
	put_security(c, s, svc);
	if (svc->tty)
		rn_put(s, "tty", rn_bool(true));
	if (svc->stdin_open)
		rn_put(s, "stdin_open", rn_bool(true));
	if (svc->init_container)
		rn_put(s, "init", rn_bool(true));
	if (svc->pull_policy == SPEC_PULL_NEVER)
		render_warn(c, svc, "image.pull_policy", "never: docker stack deploy resolves images "
			    "itself (use --resolve-image never): not rendered");
	return 0;
}

/* docker stack deploy reads "$" in any string as interpolation: every
 * string taken from the spec says "$$" for a literal "$". */
static void escape_dollars(struct rnode *n)
{
	if (n->kind == RN_STR && strchr(n->text, '$')) {
		struct zl_buf b = { 0 };
		for (const char *p = n->text; *p; p++)
			zl_buf_puts(&b, *p == '$' ? "$$" : (char[]){ *p, '\0' });
		free(n->text);
		n->text = zl_buf_steal(&b);
	}
	for (size_t i = 0; i < n->count; i++)
		escape_dollars(n->kids[i]);
}

int render_compose(struct render_ctx *c, struct zl_err *err)
{
	struct rnode *doc = rn_map();
	rn_put(doc, "version", rn_str("3.8"));
	struct rnode *services = rn_sub(doc, "services");
	struct rnode *volumes = rn_map(), *secrets = rn_map();
	render_warn_top(c);
	for (size_t i = 0; i < c->dep->service_count; i++) {
		const struct spec_service *svc = &c->dep->services[i];
		if (svc->rtype != SPEC_RTYPE_SERVICE) {
			render_warn(c, svc, "rtype", "Swarm services run continuously: a %s is not "
				    "rendered", svc->rtype == SPEC_RTYPE_JOB ? "job" : "cron service");
			continue;
		}
		_cleanup_free_ char *image = render_image(c, svc);
		if (!image)
			continue;
		render_warn_common(c, svc);
		if (put_service(c, services, volumes, secrets, svc, image, err) < 0) {
			rn_free(doc);
			rn_free(volumes);
			rn_free(secrets);
			return -1;
		}
	}
	if (volumes->count)
		rn_put(doc, "volumes", volumes);
	else
		rn_free(volumes);
	if (secrets->count)
		rn_put(doc, "secrets", secrets);
	else
		rn_free(secrets);
	escape_dollars(doc);
	render_object(c, doc);
	return 0;
}
