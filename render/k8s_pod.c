/* k8s_pod.c: the pod template of a Kubernetes workload: the container
 * (command, env, ports, probes, resources, security context), its volumes
 * and claims, the init containers (init.steps, then depends waits) and the
 * pod's network settings. */
#include "render/kubernetes-internal.h"

#include <cjson/cJSON.h>
#include <string.h>
#include <strings.h>

/* ---- the container ---- */

static int put_env(struct render_ctx *c, struct k8s_dep *kd, struct rnode *ctr,
		   const struct spec_service *svc, struct zl_err *err)
{
	if (!svc->env_count)
		return 0;
	struct rnode *env = rn_put(ctr, "env", rn_seq());
	for (size_t i = 0; i < svc->env_count; i++) {
		struct rnode *e = rn_add(env, rn_map());
		const char *ref = NULL;
		int kind = render_env_ref(svc->env[i].value, &ref);
		rn_put(e, "name", rn_str(svc->env[i].key));
		if (!kind) {
			rn_put(e, "value", rn_str(svc->env[i].value));
			continue;
		}
		struct rnode *r = rn_sub(rn_sub(e, "valueFrom"),
					 kind == 1 ? "configMapKeyRef" : "secretKeyRef");
		rn_put(r, "name", rn_str(kind == 1 ? ENV_CONFIGMAP : ENV_SECRET));
		rn_put(r, "key", rn_str(ref));
		const char *value = NULL;
		if (!c->opts->include_values)
			continue;
		if (render_env_value(c, svc, svc->env[i].key, &value, err) < 0)
			return -1;
		rn_put(kind == 1 ? kd->env_data : kd->secret_data, ref, rn_str(value));
	}
	return 0;
}

/* ports: endpoints' target ports, then port_mappings (a hostPort on the
 * same container port joins that entry). */
static void put_ports(struct render_ctx *c, struct rnode *ctr, const struct spec_service *svc)
{
	if (!svc->endpoint_count && !svc->port_mapping_count)
		return;
	struct rnode *ports = rn_put(ctr, "ports", rn_seq());
	for (size_t i = 0; i < svc->endpoint_count; i++) {
		const struct spec_endpoint *ep = &svc->endpoints[i];
		struct rnode *p = rn_add(ports, rn_map());
		char key[64];
		snprintf(key, sizeof(key), "endpoints[%zu].name", i);
		_cleanup_free_ char *name = render_name_checked(c, svc, key, ep->name, RENDER_IANA_SVC);
		rn_put(p, "name", rn_str(name));
		rn_put(p, "containerPort", rn_int(ep->target_port));
		rn_put(p, "protocol", rn_str(strcmp(ep->protocol, "udp") == 0 ? "UDP" : "TCP"));
	}
	for (size_t i = 0; i < svc->port_mapping_count; i++) {
		const struct spec_port_mapping *pm = &svc->port_mappings[i];
		const char *proto = strcmp(pm->protocol, "udp") == 0 ? "UDP" : "TCP";
		struct rnode *p = NULL;
		for (size_t j = 0; j < ports->count && !p; j++) {
			char want[16];
			snprintf(want, sizeof(want), "%d", pm->container_port);
			if (strcmp(rn_get(ports->kids[j], "containerPort")->text, want) == 0 &&
			    strcmp(rn_get(ports->kids[j], "protocol")->text, proto) == 0 &&
			    !rn_get(ports->kids[j], "hostPort"))
				p = ports->kids[j];
		}
		if (!p) {
			p = rn_add(ports, rn_map());
			rn_put(p, "containerPort", rn_int(pm->container_port));
			rn_put(p, "protocol", rn_str(proto));
		}
		if (pm->host_port > 0) {
			rn_put(p, "hostPort", rn_int(pm->host_port));
			if (pm->host_ip && strcmp(pm->host_ip, "0.0.0.0") != 0)
				rn_put(p, "hostIP", rn_str(pm->host_ip));
		}
	}
}

/* A probe from health: tcp -> tcpSocket, http -> httpGet (port and path
 * from the URL), command -> exec; timing and retries carried over. */
static struct rnode *probe(struct render_ctx *c, const struct spec_service *svc)
{
	const struct spec_health *h = &svc->health;
	struct rnode *p = rn_map();
	switch (h->check) {
	case SPEC_CHECK_TCP:
		rn_put(rn_sub(p, "tcpSocket"), "port", rn_int(h->port));
		break;
	case SPEC_CHECK_HTTP: {
		const char *url = h->url, *scheme = "HTTP";
		if (strncasecmp(url, "https://", 8) == 0) {
			scheme = "HTTPS";
			url += 8;
		} else if (strncasecmp(url, "http://", 7) == 0) {
			url += 7;
		}
		const char *slash = strchr(url, '/');
		_cleanup_free_ char *hostport = slash ? zl_xstrndup(url, (size_t)(slash - url))
						      : zl_xstrdup(url);
		char *colon = strrchr(hostport, ':');
		int port = strcmp(scheme, "HTTPS") == 0 ? 443 : 80;
		if (colon) {
			port = atoi(colon + 1);
			*colon = '\0';
		}
		if (strcmp(hostport, "localhost") != 0 && strcmp(hostport, "127.0.0.1") != 0)
			render_warn(c, svc, "health.check.url", "host \"%s\": a Kubernetes HTTP probe "
				    "connects to the pod's own address", hostport);
		if (h->expect_status < 200 || h->expect_status > 399)
			render_warn(c, svc, "health.check.expect_status", "Kubernetes takes any status "
				    "200..399 as healthy: %d cannot be required", h->expect_status);
		struct rnode *g = rn_sub(p, "httpGet");
		rn_put(g, "path", rn_str(slash ? slash : "/"));
		rn_put(g, "port", rn_int(port));
		rn_put(g, "scheme", rn_str(scheme));
		break;
	}
	case SPEC_CHECK_COMMAND:
		render_put_strv(rn_sub(p, "exec"), "command", &h->command);
		break;
	case SPEC_CHECK_NONE:
		break;
	}
	rn_put(p, "initialDelaySeconds", rn_int(render_seconds(h->start_grace_ms, 0)));
	rn_put(p, "periodSeconds", rn_int(render_seconds(h->interval_ms, 1)));
	rn_put(p, "timeoutSeconds", rn_int(render_seconds(h->timeout_ms, 1)));
	rn_put(p, "failureThreshold", rn_int(h->retries > 0 ? h->retries : 1));
	return p;
}

static void put_resources(struct render_ctx *c, struct rnode *ctr, const struct spec_service *svc)
{
	const struct spec_resources *r = &svc->resources;
	if (r->pids_limit)
		render_warn(c, svc, "resources.pids_limit", "Kubernetes limits pids per node "
			    "(kubelet podPidsLimit), not per container: not rendered");
	if (!r->cpu_millicores && !r->memory_bytes && !r->gpu_count && !r->memory_reservation)
		return;
	struct rnode *res = rn_sub(ctr, "resources");
	if (r->cpu_millicores || r->memory_bytes || r->gpu_count) {
		struct rnode *lim = rn_sub(res, "limits");
		if (r->cpu_millicores) {
			_cleanup_free_ char *v = render_k8s_cpu(r->cpu_millicores);
			rn_put(lim, "cpu", rn_str(v));
		}
		if (r->memory_bytes) {
			_cleanup_free_ char *v = render_k8s_memory(r->memory_bytes);
			rn_put(lim, "memory", rn_str(v));
		}
		if (r->gpu_count) {
			const char *v = r->gpu_vendor ? r->gpu_vendor : "nvidia";
			const char *res_name = strcmp(v, "amd") == 0     ? "amd.com/gpu"
					       : strcmp(v, "intel") == 0 ? "gpu.intel.com/i915"
									 : "nvidia.com/gpu";
			rn_put(lim, res_name, rn_int(r->gpu_count));
		}
	}
	if (r->memory_reservation) {
		_cleanup_free_ char *v = render_k8s_memory(r->memory_reservation);
		rn_put(rn_sub(res, "requests"), "memory", rn_str(v));
	}
}

static bool has_no_new_privileges(struct render_ctx *c, const struct spec_service *svc)
{
	bool nnp = false;
	for (size_t i = 0; i < svc->security_opt.count; i++) {
		const char *o = svc->security_opt.items[i];
		if (strcmp(o, "no-new-privileges") == 0 || strcmp(o, "no-new-privileges:true") == 0 ||
		    strcmp(o, "no-new-privileges=true") == 0) {
			nnp = true;
			continue;
		}
		char key[64];
		snprintf(key, sizeof(key), "security_opt[%zu]", i);
		render_warn(c, svc, key, "\"%s\" has no counterpart here: not rendered (seccomp and "
			    "AppArmor profiles are named per cluster)", o);
	}
	return nnp;
}

static void put_caps(struct rnode *caps, const char *key, const struct spec_strv *v)
{
	if (!v->count)
		return;
	struct rnode *seq = rn_list(caps, key);
	for (size_t i = 0; i < v->count; i++) {
		const char *cap = v->items[i];
		if (strncasecmp(cap, "CAP_", 4) == 0)
			cap += 4;
		char *up = zl_xstrdup(cap);
		for (char *p = up; *p; p++)
			*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
		rn_add(seq, rn_str(up));
		free(up);
	}
}

static void put_security(struct render_ctx *c, struct rnode *ctr, struct rnode *pod,
			 const struct spec_service *svc)
{
	struct rnode *sc = rn_map();
	if (svc->privileged)
		rn_put(sc, "privileged", rn_bool(true));
	if (svc->read_only_root_fs)
		rn_put(sc, "readOnlyRootFilesystem", rn_bool(true));
	if (has_no_new_privileges(c, svc))
		rn_put(sc, "allowPrivilegeEscalation", rn_bool(false));
	if (svc->cap_add.count || svc->cap_drop.count) {
		struct rnode *caps = rn_sub(sc, "capabilities");
		put_caps(caps, "add", &svc->cap_add);
		put_caps(caps, "drop", &svc->cap_drop);
	}
	if (svc->user) {
		int64_t uid, gid;
		if (render_numeric_user(svc->user, &uid, &gid)) {
			rn_put(sc, "runAsUser", rn_int(uid));
			if (gid >= 0)
				rn_put(sc, "runAsGroup", rn_int(gid));
		} else {
			render_warn(c, svc, "user", "\"%s\": Kubernetes runs as a numeric uid[:gid] only: "
				    "not rendered (the image's user applies)", svc->user);
		}
	}
	if (sc->count)
		rn_put(ctr, "securityContext", sc);
	else
		rn_free(sc);

	struct rnode *psc = rn_map();
	if (svc->sysctl_count) {
		struct rnode *seq = rn_put(psc, "sysctls", rn_seq());
		for (size_t i = 0; i < svc->sysctl_count; i++) {
			struct rnode *s = rn_add(seq, rn_map());
			rn_put(s, "name", rn_str(svc->sysctls[i].key));
			rn_put(s, "value", rn_str(svc->sysctls[i].value));
		}
	}
	for (size_t i = 0; i < svc->extra_groups.count; i++) {
		int64_t gid, unused;
		if (render_numeric_user(svc->extra_groups.items[i], &gid, &unused))
			rn_add(rn_list(psc, "supplementalGroups"), rn_int(gid));
		else
			render_warn(c, svc, "extra_groups", "group \"%s\": Kubernetes takes numeric "
				    "supplemental groups only: not rendered", svc->extra_groups.items[i]);
	}
	if (psc->count)
		rn_put(pod, "securityContext", psc);
	else
		rn_free(psc);
}

/* ---- volumes ---- */

bool k8s_has_named_volume(const struct spec_service *svc)
{
	for (size_t i = 0; i < svc->storage_count; i++)
		if (svc->storage[i].type == SPEC_STORAGE_NAMED)
			return true;
	return false;
}

static struct rnode *claim_spec(const struct spec_storage *st)
{
	struct rnode *s = rn_map();
	rn_add(rn_put(s, "accessModes", rn_seq()), rn_str("ReadWriteOnce"));
	_cleanup_free_ char *size = render_k8s_memory(st->size_bytes ? st->size_bytes : (int64_t)1 << 30);
	rn_put(rn_sub(rn_sub(s, "resources"), "requests"), "storage", rn_str(size));
	return s;
}

/* Mounts and volumes of svc. Named volumes: volumeClaimTemplates when
 * templates is not NULL (a StatefulSet: one claim per replica), else a
 * PersistentVolumeClaim object per name, made once per deployment. */
static void put_volumes(struct render_ctx *c, struct k8s_dep *kd, struct rnode *ctr,
			struct rnode *vols, struct rnode *templates, const struct spec_service *svc)
{
	for (size_t i = 0; i < svc->storage_count; i++) {
		const struct spec_storage *st = &svc->storage[i];
		char key[64];
		snprintf(key, sizeof(key), "storage[%zu]", i);
		if (st->type == SPEC_STORAGE_S3)
			continue; /* warned by render_warn_common() */
		_cleanup_free_ char *vol = NULL;
		if (st->type == SPEC_STORAGE_NAMED)
			vol = render_name_checked(c, svc, key, st->name, RENDER_DNS1123);
		else
			vol = zl_xasprintf("vol-%zu", i);
		struct rnode *m = rn_add(rn_list(ctr, "volumeMounts"), rn_map());
		rn_put(m, "name", rn_str(vol));
		rn_put(m, "mountPath", rn_str(st->target));
		if (st->readonly)
			rn_put(m, "readOnly", rn_bool(true));
		if (st->type == SPEC_STORAGE_NAMED && templates) {
			struct rnode *t = rn_add(templates, rn_map());
			rn_put(rn_sub(t, "metadata"), "name", rn_str(vol));
			rn_put(t, "spec", claim_spec(st));
			continue;
		}
		struct rnode *v = rn_add(vols, rn_map());
		rn_put(v, "name", rn_str(vol));
		switch (st->type) {
		case SPEC_STORAGE_BIND:
			render_warn(c, svc, key, "a bind mount becomes a hostPath volume: %s on whichever "
				    "node runs the pod", st->source);
			rn_put(rn_sub(v, "hostPath"), "path", rn_str(st->source));
			break;
		case SPEC_STORAGE_NAMED: {
			rn_put(rn_sub(v, "persistentVolumeClaim"), "claimName", rn_str(vol));
			bool made = false;
			for (size_t j = 0; j < kd->claim_count; j++)
				made |= strcmp(kd->claims[j], vol) == 0;
			if (made)
				break;
			zl_grow(&kd->claims, sizeof(*kd->claims), &kd->claim_cap, kd->claim_count + 1);
			kd->claims[kd->claim_count++] = zl_xstrdup(vol);
			struct rnode *pvc = k8s_object(kd, "v1", "PersistentVolumeClaim", vol);
			rn_put(rn_sub(rn_get(pvc, "metadata"), "labels"), RENDER_LABEL_PART_OF,
			       rn_str(c->dep->name));
			rn_put(pvc, "spec", claim_spec(st));
			render_object(c, pvc);
			break;
		}
		case SPEC_STORAGE_ANONYMOUS:
			rn_sub(v, "emptyDir");
			break;
		case SPEC_STORAGE_TMPFS: {
			struct rnode *e = rn_sub(v, "emptyDir");
			rn_put(e, "medium", rn_str("Memory"));
			if (st->size_bytes) {
				_cleanup_free_ char *size = render_k8s_memory(st->size_bytes);
				rn_put(e, "sizeLimit", rn_str(size));
			}
			if (st->mode >= 0)
				render_warn(c, svc, key, "tmpfs mode %o: an emptyDir's mode is the "
					    "kubelet's: not rendered", (unsigned)st->mode);
			break;
		}
		case SPEC_STORAGE_S3:
			break;
		}
	}
}

/* ---- init containers: init.steps and depends ---- */

static struct rnode *wait_container(const char *name, const char *script)
{
	struct rnode *ctr = rn_map();
	rn_put(ctr, "name", rn_str(name));
	rn_put(ctr, "image", rn_str(WAIT_IMAGE));
	struct rnode *cmd = rn_put(ctr, "command", rn_seq());
	rn_add(cmd, rn_str("/bin/sh"));
	rn_add(cmd, rn_str("-c"));
	rn_add(cmd, rn_str(script));
	return ctr;
}

/* A shell loop: test until it succeeds, for at most timeout_s; after that,
 * fail (exit 1) or go on (exit 0). */
static char *wait_script(const char *test, int64_t timeout_s, bool fail)
{
	return zl_xasprintf("i=0; until %s; do i=$((i+1)); if [ $i -ge %lld ]; then echo "
			    "'timed out: %s' >&2; exit %d; fi; sleep 1; done",
			    test, (long long)timeout_s, test, fail ? 1 : 0);
}

static const char *step_with(const struct spec_init_step *st, const char *key)
{
	for (size_t i = 0; i < st->with_count; i++)
		if (strcmp(st->with[i].key, key) == 0)
			return st->with[i].value;
	return NULL;
}

static void put_init_steps(struct render_ctx *c, struct rnode *inits, const struct spec_service *svc,
			   const char *image)
{
	for (size_t i = 0; i < svc->init_step_count; i++) {
		const struct spec_init_step *st = &svc->init_steps[i];
		char key[64];
		snprintf(key, sizeof(key), "init.steps[%zu]", i);
		_cleanup_free_ char *id = render_name_checked(c, svc, key, st->id, RENDER_DNS1123);
		_cleanup_free_ char *name = zl_xasprintf("init-%s", id);
		int64_t timeout_s = render_seconds(st->timeout_ms, 1);
		bool fail = st->on_failure == SPEC_ON_TIMEOUT_FAIL;
		if (st->retry)
			render_warn(c, svc, key, "retry %d: an init container is retried by the pod's "
				    "restart policy, not a count: not rendered", st->retry);
		if (strcmp(st->uses, "init.wait_tcp") == 0) {
			const char *host = step_with(st, "host"), *port = step_with(st, "port");
			_cleanup_free_ char *test = zl_xasprintf("nc -w 2 %s %s </dev/null", host ? host : "127.0.0.1",
								 port ? port : "0");
			_cleanup_free_ char *script = wait_script(test, timeout_s, fail);
			rn_add(inits, wait_container(name, script));
		} else if (strcmp(st->uses, "init.wait_http") == 0) {
			const char *url = step_with(st, "url");
			_cleanup_free_ char *test = zl_xasprintf("wget -q -O /dev/null '%s'", url ? url : "");
			_cleanup_free_ char *script = wait_script(test, timeout_s, fail);
			if (step_with(st, "expect_status"))
				render_warn(c, svc, key, "expect_status: the rendered wait accepts any "
					    "2xx status");
			rn_add(inits, wait_container(name, script));
		} else { /* init.run: the command in the service's own image */
			struct rnode *ctr = rn_add(inits, rn_map());
			rn_put(ctr, "name", rn_str(name));
			rn_put(ctr, "image", rn_str(image));
			struct rnode *cmd = rn_put(ctr, "command", rn_seq());
			const char *text = step_with(st, "command");
			cJSON *list = text && text[0] == '[' ? cJSON_Parse(text) : NULL;
			if (cJSON_IsArray(list)) {
				cJSON *item;
				cJSON_ArrayForEach(item, list)
					rn_add(cmd, rn_str(cJSON_IsString(item) ? item->valuestring : ""));
			} else {
				rn_add(cmd, rn_str("/bin/sh"));
				rn_add(cmd, rn_str("-c"));
				rn_add(cmd, rn_str(text ? text : "true"));
			}
			cJSON_Delete(list);
			if (!fail)
				render_warn(c, svc, key, "on_failure: an init container must succeed: "
					    "rendered as fail");
		}
	}
}

/* depends: wait until the dependency's Service answers on its first port
 * (a Service routes only to ready pods, so started, healthy and ready all
 * mean "a ready replica answers" here). */
static void put_depends(struct render_ctx *c, struct rnode *inits, const struct spec_service *svc)
{
	for (size_t i = 0; i < svc->depend_count; i++) {
		const struct spec_depend *d = &svc->depends[i];
		const struct spec_service *dep = spec_deployment_find(c->dep, d->service);
		char key[64];
		snprintf(key, sizeof(key), "depends[%zu]", i);
		if (!dep || dep->rtype != SPEC_RTYPE_SERVICE || !dep->endpoint_count) {
			render_warn(c, svc, key, "\"%s\" has no endpoints, so no Service to wait for: "
				    "the dependency is not rendered", d->service);
			continue;
		}
		_cleanup_free_ char *host = render_name(dep->name, RENDER_DNS1035, &(bool){ false });
		_cleanup_free_ char *test = zl_xasprintf("nc -w 2 %s %d </dev/null", host, dep->endpoints[0].port);
		_cleanup_free_ char *script = wait_script(test, render_seconds(d->timeout_ms, 1),
							  d->on_timeout == SPEC_ON_TIMEOUT_FAIL);
		_cleanup_free_ char *name = zl_xasprintf("wait-%s", host);
		rn_add(inits, wait_container(name, script));
	}
}

/* ---- the pod ---- */

static void put_network(struct render_ctx *c, struct rnode *pod, const struct spec_service *svc)
{
	const char *mode = svc->network_mode ? svc->network_mode : "default";
	if (strcmp(mode, "host") == 0)
		rn_put(pod, "hostNetwork", rn_bool(true));
	else if (strcmp(mode, "default") != 0 && strcmp(mode, "bridge") != 0)
		render_warn(c, svc, "network_mode", "\"%s\": every pod has the cluster network: "
			    "rendered as the default", mode);
	if (svc->pid_mode && strcmp(svc->pid_mode, "host") == 0)
		rn_put(pod, "hostPID", rn_bool(true));
	if (svc->ipc_mode && strcmp(svc->ipc_mode, "host") == 0)
		rn_put(pod, "hostIPC", rn_bool(true));
	if (svc->hostname)
		rn_put(pod, "hostname", rn_str(svc->hostname));
	if (svc->dns.count)
		render_put_strv(rn_sub(pod, "dnsConfig"), "nameservers", &svc->dns);
	for (size_t i = 0; i < svc->extra_hosts.count; i++) {
		const char *eh = svc->extra_hosts.items[i], *colon = strchr(eh, ':');
		if (!colon)
			continue; /* validation refuses it */
		struct rnode *a = rn_add(rn_list(pod, "hostAliases"), rn_map());
		rn_put(a, "ip", rn_str(colon + 1));
		_cleanup_free_ char *name = zl_xstrndup(eh, (size_t)(colon - eh));
		rn_add(rn_put(a, "hostnames", rn_seq()), rn_str(name));
	}
}

struct rnode *k8s_pod_template(struct render_ctx *c, struct k8s_dep *kd,
			       const struct spec_service *svc, const char *image,
			       const char *restart, struct rnode *templates, struct zl_err *err)
{
	struct rnode *tpl = rn_map();
	struct rnode *md = rn_sub(tpl, "metadata");
	k8s_put_labels(md, c, svc, true);
	char hash[65];
	if (render_spec_hash(c->dep, svc, hash))
		rn_put(rn_sub(md, "annotations"), RENDER_ANN_HASH, rn_str(hash));
	struct rnode *pod = rn_sub(tpl, "spec");
	rn_put(pod, "restartPolicy", rn_str(restart));
	rn_put(pod, "terminationGracePeriodSeconds", rn_int(render_seconds(svc->stop_grace_ms, 0)));
	put_network(c, pod, svc);

	struct rnode *inits = rn_seq();
	put_depends(c, inits, svc);
	put_init_steps(c, inits, svc, image);
	if (inits->count)
		rn_put(pod, "initContainers", inits);
	else
		rn_free(inits);

	struct rnode *ctr = rn_add(rn_put(pod, "containers", rn_seq()), rn_map());
	rn_put(ctr, "name", rn_str(svc->name));
	rn_put(ctr, "image", rn_str(image));
	static const char *const pulls[] = { [SPEC_PULL_IF_NOT_PRESENT] = "IfNotPresent",
					     [SPEC_PULL_ALWAYS] = "Always", [SPEC_PULL_NEWER] = "Always",
					     [SPEC_PULL_NEVER] = "Never" };
	rn_put(ctr, "imagePullPolicy", rn_str(pulls[svc->pull_policy]));
	if (svc->has_entrypoint)
		render_put_strv(ctr, "command", &svc->entrypoint);
	if (svc->has_args)
		render_put_strv(ctr, "args", &svc->args);
	if (svc->workdir)
		rn_put(ctr, "workingDir", rn_str(svc->workdir));
	if (put_env(c, kd, ctr, svc, err) < 0) {
		rn_free(tpl);
		return NULL;
	}
	put_ports(c, ctr, svc);
	put_resources(c, ctr, svc);
	struct rnode *vols = rn_seq();
	put_volumes(c, kd, ctr, vols, templates, svc);
	if (svc->health.present && svc->health.check != SPEC_CHECK_NONE) {
		rn_put(ctr, "readinessProbe", probe(c, svc));
		/* zlapply restarts a replica failing retries probes in a row. */
		struct rnode *live = probe(c, svc);
		rn_put(ctr, "livenessProbe", live);
	}
	put_security(c, ctr, pod, svc);
	if (svc->tty)
		rn_put(ctr, "tty", rn_bool(true));
	if (svc->stdin_open)
		rn_put(ctr, "stdin", rn_bool(true));
	/* The pod's volumes after its containers: kubectl's order. */
	if (vols->count)
		rn_put(pod, "volumes", vols);
	else
		rn_free(vols);
	if (svc->ulimit_count)
		render_warn(c, svc, "ulimits", "Kubernetes sets no per-container ulimits: not rendered");
	if (svc->init_container)
		render_warn(c, svc, "init_container", "Kubernetes injects no init process (Docker's "
			    "--init): not rendered");
	if (svc->stop_signal_set && svc->stop_signal != SIGTERM)
		render_warn(c, svc, "stop_signal", "Kubernetes stops containers with the image's "
			    "STOPSIGNAL or SIGTERM: %s is not rendered",
			    spec_signal_name(svc->stop_signal) ? spec_signal_name(svc->stop_signal) : "?");
	return tpl;
}
