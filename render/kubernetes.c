/* kubernetes.c: a deployment as Kubernetes objects (docs/scale-out.md);
 * the pod template they share is k8s_pod.c's.
 *
 * Per deployment a Namespace; per service a workload (Deployment, or a
 * StatefulSet when it has named volumes, Job for rtype job, CronJob for
 * rtype cron), a Service when it has endpoints (plus "<name>-public" when
 * public and internal endpoints mix), an HPA for scale.mode adaptive, and
 * PersistentVolumeClaims for the named volumes of jobs. $E:/$S: env values
 * become references to the ConfigMap "zlapply-env" and the Secret
 * "zlapply-secrets", which the user creates: values reach the output only
 * with include_values (then as those two objects, after the Namespace). */
#include "render/kubernetes-internal.h"

#include <string.h>

struct rnode *k8s_object(const struct k8s_dep *kd, const char *api, const char *kind,
			 const char *name)
{
	struct rnode *o = rn_map();
	rn_put(o, "apiVersion", rn_str(api));
	rn_put(o, "kind", rn_str(kind));
	struct rnode *md = rn_sub(o, "metadata");
	rn_put(md, "name", rn_str(name));
	if (kd)
		rn_put(md, "namespace", rn_str(kd->ns));
	return o;
}

void k8s_put_labels(struct rnode *md, const struct render_ctx *c, const struct spec_service *svc,
		    bool user_labels)
{
	struct rnode *l = rn_sub(md, "labels");
	rn_put(l, RENDER_LABEL_NAME, rn_str(svc->name));
	rn_put(l, RENDER_LABEL_PART_OF, rn_str(c->dep->name));
	rn_put(l, RENDER_LABEL_MANAGED, rn_str("zlapply"));
	for (size_t i = 0; user_labels && i < svc->label_count; i++)
		rn_put(l, svc->labels[i].key, rn_str(svc->labels[i].value));
}

struct rnode *k8s_selector(const struct render_ctx *c, const struct spec_service *svc)
{
	struct rnode *m = rn_map();
	rn_put(m, RENDER_LABEL_NAME, rn_str(svc->name));
	rn_put(m, RENDER_LABEL_PART_OF, rn_str(c->dep->name));
	return m;
}

/* ---- workloads ---- */

static void restart_warnings(struct render_ctx *c, const struct spec_service *svc)
{
	if (svc->restart_kind == SPEC_RESTART_NO || svc->restart_kind == SPEC_RESTART_ON_FAILURE)
		render_warn(c, svc, "restart_policy.kind", "the pods of a Deployment or StatefulSet "
			    "always restart: rendered as always");
	else if (svc->restart_kind == SPEC_RESTART_UNSET && svc->on_panic == SPEC_PANIC_SHUTDOWN)
		render_warn(c, svc, "errors.on_panic", "shutdown: the pods of a Deployment or "
			    "StatefulSet always restart");
	if (svc->restart_kind != SPEC_RESTART_UNSET && svc->restart_max_attempts)
		render_warn(c, svc, "restart_policy.max_attempts", "a long-running pod is restarted "
			    "without a limit: not rendered");
	if (svc->restart_kind != SPEC_RESTART_UNSET && svc->restart_delay_ms)
		render_warn(c, svc, "restart_policy.delay", "the kubelet's back-off decides the delay: "
			    "not rendered");
}

static void put_hpa(struct render_ctx *c, struct k8s_dep *kd, const struct spec_service *svc,
		    const char *kind)
{
	struct rnode *h = k8s_object(kd, "autoscaling/v2", "HorizontalPodAutoscaler", svc->name);
	k8s_put_labels(rn_get(h, "metadata"), c, svc, false);
	struct rnode *spec = rn_sub(h, "spec");
	struct rnode *ref = rn_sub(spec, "scaleTargetRef");
	rn_put(ref, "apiVersion", rn_str("apps/v1"));
	rn_put(ref, "kind", rn_str(kind));
	rn_put(ref, "name", rn_str(svc->name));
	rn_put(spec, "minReplicas", rn_int(svc->scale.min > 0 ? svc->scale.min : 1));
	rn_put(spec, "maxReplicas", rn_int(svc->scale.max));
	if (svc->scale.min == 0)
		render_warn(c, svc, "scale.min", "an HPA scales down to 1 replica at least");
	static const char *const resources[] = { "cpu", "memory" };
	for (size_t i = 0; i < 2; i++) {
		char key[64];
		snprintf(key, sizeof(key), "scale.targets.%s", resources[i]);
		const char *v = render_value(c, svc, key);
		if (!v)
			continue;
		struct rnode *m = rn_add(rn_list(spec, "metrics"), rn_map());
		rn_put(m, "type", rn_str("Resource"));
		struct rnode *r = rn_sub(m, "resource");
		rn_put(r, "name", rn_str(resources[i]));
		struct rnode *t = rn_sub(r, "target");
		rn_put(t, "type", rn_str("Utilization"));
		rn_put(t, "averageUtilization", rn_int(atoll(v)));
	}
	if (render_value(c, svc, "scale.targets.rps"))
		render_warn(c, svc, "scale.targets.rps", "requests per second need a custom metrics "
			    "adapter: not rendered");
	if (svc->scale.cooldown_ms)
		rn_put(rn_sub(rn_sub(spec, "behavior"), "scaleDown"), "stabilizationWindowSeconds",
		       rn_int(render_seconds(svc->scale.cooldown_ms, 0)));
	render_object(c, h);
}

static void put_workload_meta(struct render_ctx *c, struct rnode *obj, const struct spec_service *svc)
{
	struct rnode *md = rn_get(obj, "metadata");
	k8s_put_labels(md, c, svc, true);
	char hash[65];
	if (render_spec_hash(c->dep, svc, hash))
		rn_put(rn_sub(md, "annotations"), RENDER_ANN_HASH, rn_str(hash));
}

static int render_long_running(struct render_ctx *c, struct k8s_dep *kd,
			       const struct spec_service *svc, const char *image, struct zl_err *err)
{
	bool stateful = k8s_has_named_volume(svc);
	const char *kind = stateful ? "StatefulSet" : "Deployment";
	struct rnode *w = k8s_object(kd, "apps/v1", kind, svc->name);
	put_workload_meta(c, w, svc);
	struct rnode *spec = rn_sub(w, "spec");
	if (stateful) {
		/* The Service's own name (render_services() says when it differs). */
		bool renamed = false;
		_cleanup_free_ char *service = render_name(svc->name, RENDER_DNS1035, &renamed);
		rn_put(spec, "serviceName", rn_str(service));
	}
	rn_put(spec, "replicas", rn_int(spec_service_desired_replicas(svc)));
	rn_put(rn_sub(spec, "selector"), "matchLabels", k8s_selector(c, svc));
	if (stateful) {
		rn_put(rn_sub(spec, "updateStrategy"), "type", rn_str("RollingUpdate"));
	} else {
		/* zlapply replaces rollout.max_unavailable replicas at a time (a
		 * count or a percentage, default 25%), in place: no surge. */
		struct rnode *st = rn_sub(spec, "strategy");
		rn_put(st, "type", rn_str("RollingUpdate"));
		struct rnode *ru = rn_sub(st, "rollingUpdate");
		const struct spec_rollout *ro = &svc->rollout;
		if (ro->max_unavailable > 0) {
			rn_put(ru, "maxUnavailable", rn_int(ro->max_unavailable));
		} else {
			char pct[16];
			snprintf(pct, sizeof(pct), "%d%%", spec_rollout_percent(svc));
			rn_put(ru, "maxUnavailable", rn_str(pct));
		}
		rn_put(ru, "maxSurge", rn_int(0));
	}
	struct rnode *templates = stateful ? rn_seq() : NULL;
	struct rnode *tpl = k8s_pod_template(c, kd, svc, image, "Always", templates, err);
	if (!tpl) {
		rn_free(templates);
		rn_free(w);
		return -1;
	}
	rn_put(spec, "template", tpl);
	if (templates)
		rn_put(spec, "volumeClaimTemplates", templates);
	restart_warnings(c, svc);
	render_object(c, w);
	if (svc->scale.mode == SPEC_SCALE_ADAPTIVE)
		put_hpa(c, kd, svc, kind);
	else if (svc->scale.mode == SPEC_SCALE_MANUAL)
		render_warn(c, svc, "scale.mode", "manual: rendered with 0 replicas, as zlapply starts "
			    "none (scale with kubectl scale)");
	return 0;
}

/* The job spec of a Job or a CronJob's jobTemplate; NULL with err. */
static struct rnode *job_spec(struct render_ctx *c, struct k8s_dep *kd, const struct spec_service *svc,
			      const char *image, struct zl_err *err)
{
	/* zlapply runs a failed job again unless restart_policy says no. */
	bool never = svc->restart_kind == SPEC_RESTART_NO;
	struct rnode *tpl = k8s_pod_template(c, kd, svc, image, never ? "Never" : "OnFailure", NULL, err);
	if (!tpl)
		return NULL;
	struct rnode *spec = rn_map();
	rn_put(spec, "backoffLimit", rn_int(never ? 0 : svc->restart_max_attempts ? svc->restart_max_attempts : 6));
	rn_put(spec, "template", tpl);
	if (svc->restart_delay_ms)
		render_warn(c, svc, "restart_policy.delay", "the Job controller's back-off decides the "
			    "delay: not rendered");
	return spec;
}

/* A cron schedule as Kubernetes' 5 fields (or a macro such as @daily): ZLayer's seconds field must be
 * 0 (dropped), a year field * or ? (dropped). NULL with *why otherwise. */
static char *k8s_schedule(const char *text, const char **why)
{
	static const char *const macros[] = { "@yearly", "@annually", "@monthly", "@weekly",
					      "@daily", "@midnight", "@hourly" };
	for (size_t i = 0; i < sizeof(macros) / sizeof(macros[0]); i++)
		if (strcmp(text, macros[i]) == 0)
			return zl_xstrdup(text); /* Kubernetes reads the same macros */
	char *copy = zl_xstrdup(text), *save = NULL, *fields[8];
	int n = 0;
	for (char *t = strtok_r(copy, " \t", &save); t && n < 8; t = strtok_r(NULL, " \t", &save))
		fields[n++] = t;
	char *out = NULL;
	*why = NULL;
	if (n == 7 && strcmp(fields[6], "*") != 0 && strcmp(fields[6], "?") != 0)
		*why = "a year field other than * cannot be expressed by Kubernetes (5 fields, no year)";
	else if (n >= 6 && strcmp(fields[0], "0") != 0 && strcmp(fields[0], "00") != 0)
		*why = "a seconds field other than 0 cannot be expressed by Kubernetes (5 fields, "
		       "minute resolution)";
	else if (n == 5)
		out = zl_xasprintf("%s %s %s %s %s", fields[0], fields[1], fields[2], fields[3], fields[4]);
	else if (n >= 6)
		out = zl_xasprintf("%s %s %s %s %s", fields[1], fields[2], fields[3], fields[4], fields[5]);
	else
		*why = "not a cron expression";
	free(copy);
	return out;
}

static int render_job(struct render_ctx *c, struct k8s_dep *kd, const struct spec_service *svc,
		      const char *image, struct zl_err *err)
{
	if (svc->rtype == SPEC_RTYPE_JOB) {
		struct rnode *spec = job_spec(c, kd, svc, image, err);
		if (!spec)
			return -1;
		struct rnode *j = k8s_object(kd, "batch/v1", "Job", svc->name);
		put_workload_meta(c, j, svc);
		rn_put(j, "spec", spec);
		render_object(c, j);
		return 0;
	}
	const char *why = NULL;
	_cleanup_free_ char *schedule = k8s_schedule(svc->schedule, &why);
	if (!schedule) {
		render_warn(c, svc, "schedule", "\"%s\": %s: the CronJob is not rendered", svc->schedule, why);
		return 0;
	}
	struct rnode *job = job_spec(c, kd, svc, image, err);
	if (!job)
		return -1;
	struct rnode *cj = k8s_object(kd, "batch/v1", "CronJob", svc->name);
	put_workload_meta(c, cj, svc);
	struct rnode *spec = rn_sub(cj, "spec");
	rn_put(spec, "schedule", rn_str(schedule));
	rn_put(spec, "timeZone", rn_str("Etc/UTC"));
	/* zlapply starts no run while the last one is still going. */
	rn_put(spec, "concurrencyPolicy", rn_str("Forbid"));
	rn_put(rn_sub(spec, "jobTemplate"), "spec", job);
	render_object(c, cj);
	return 0;
}

/* ---- Services ---- */

static struct rnode *service_object(struct render_ctx *c, struct k8s_dep *kd,
				    const struct spec_service *svc, const char *name, const char *type)
{
	struct rnode *s = k8s_object(kd, "v1", "Service", name);
	k8s_put_labels(rn_get(s, "metadata"), c, svc, false);
	struct rnode *spec = rn_sub(s, "spec");
	rn_put(spec, "type", rn_str(type));
	rn_put(spec, "selector", k8s_selector(c, svc));
	rn_put(spec, "ports", rn_seq());
	return s;
}

/* warn: the main Service reports host/path routing, the public one does not
 * repeat it. */
static void add_service_port(struct render_ctx *c, struct rnode *svc_obj, const struct spec_service *svc,
			     size_t i, bool warn)
{
	const struct spec_endpoint *ep = &svc->endpoints[i];
	bool changed = false;
	_cleanup_free_ char *name = render_name(ep->name, RENDER_IANA_SVC, &changed);
	struct rnode *p = rn_add(rn_get(rn_get(svc_obj, "spec"), "ports"), rn_map());
	rn_put(p, "name", rn_str(name));
	rn_put(p, "port", rn_int(ep->port));
	rn_put(p, "targetPort", rn_int(ep->target_port));
	rn_put(p, "protocol", rn_str(strcmp(ep->protocol, "udp") == 0 ? "UDP" : "TCP"));
	char key[64];
	if (warn && (ep->path || ep->host)) {
		snprintf(key, sizeof(key), "endpoints[%zu].%s", i, ep->host ? "host" : "path");
		render_warn(c, svc, key, "HTTP routing by host or path needs an Ingress the cluster "
			    "defines: not rendered");
	}
}

static void render_services(struct render_ctx *c, struct k8s_dep *kd, const struct spec_service *svc)
{
	size_t pub = 0;
	for (size_t i = 0; i < svc->endpoint_count; i++)
		pub += svc->endpoints[i].expose == SPEC_EXPOSE_PUBLIC;
	const char *pub_type = c->opts->public_type == RENDER_PUBLIC_NODEPORT ? "NodePort" : "LoadBalancer";
	_cleanup_free_ char *name = render_name_checked(c, svc, "", svc->name, RENDER_DNS1035);
	/* One Service carries every port; public ports also get a public
	 * Service of their own when internal ones must stay inside. */
	bool all_public = pub == svc->endpoint_count;
	struct rnode *s = service_object(c, kd, svc, name, all_public ? pub_type : "ClusterIP");
	for (size_t i = 0; i < svc->endpoint_count; i++)
		add_service_port(c, s, svc, i, true);
	render_object(c, s);
	if (!pub || all_public)
		return;
	_cleanup_free_ char *pname = zl_xasprintf("%.56s-public", name);
	struct rnode *p = service_object(c, kd, svc, pname, pub_type);
	for (size_t i = 0; i < svc->endpoint_count; i++)
		if (svc->endpoints[i].expose == SPEC_EXPOSE_PUBLIC)
			add_service_port(c, p, svc, i, false);
	render_object(c, p);
}

/* include_values: the ConfigMap and Secret the env references name, right
 * after the Namespace (pods need them to start). */
static void put_values(struct render_ctx *c, struct k8s_dep *kd)
{
	size_t first = c->object_count;
	if (kd->env_data->count) {
		struct rnode *cm = k8s_object(kd, "v1", "ConfigMap", ENV_CONFIGMAP);
		rn_put(cm, "data", kd->env_data);
		kd->env_data = NULL;
		render_object(c, cm);
	}
	if (kd->secret_data->count) {
		struct rnode *sec = k8s_object(kd, "v1", "Secret", ENV_SECRET);
		rn_put(sec, "type", rn_str("Opaque"));
		rn_put(sec, "stringData", kd->secret_data);
		kd->secret_data = NULL;
		render_object(c, sec);
	}
	size_t added = c->object_count - first;
	if (!added || first <= 1)
		return;
	struct rnode *moved[2] = { c->objects[first], added > 1 ? c->objects[first + 1] : NULL };
	memmove(&c->objects[1 + added], &c->objects[1], (first - 1) * sizeof(*c->objects));
	for (size_t i = 0; i < added; i++)
		c->objects[1 + i] = moved[i];
}

int render_kubernetes(struct render_ctx *c, struct zl_err *err)
{
	struct k8s_dep kd = { .env_data = rn_map(), .secret_data = rn_map() };
	int ret = -1;
	kd.ns = render_name_checked(c, NULL, "deployment", c->dep->name, RENDER_DNS1123);
	struct rnode *ns = k8s_object(NULL, "v1", "Namespace", kd.ns);
	rn_put(rn_sub(rn_get(ns, "metadata"), "labels"), RENDER_LABEL_MANAGED, rn_str("zlapply"));
	render_object(c, ns);
	render_warn_top(c);
	for (size_t i = 0; i < c->dep->service_count; i++) {
		const struct spec_service *svc = &c->dep->services[i];
		_cleanup_free_ char *image = render_image(c, svc);
		if (!image)
			continue;
		render_warn_common(c, svc);
		int r = svc->rtype == SPEC_RTYPE_SERVICE ? render_long_running(c, &kd, svc, image, err)
							  : render_job(c, &kd, svc, image, err);
		if (r < 0)
			goto out;
		if (svc->endpoint_count)
			render_services(c, &kd, svc);
	}
	put_values(c, &kd);
	ret = 0;
out:
	for (size_t i = 0; i < kd.claim_count; i++)
		free(kd.claims[i]);
	free(kd.claims);
	free(kd.ns);
	rn_free(kd.env_data);
	rn_free(kd.secret_data);
	return ret;
}
