/* kubernetes-internal.h: what kubernetes.c (the objects) and k8s_pod.c
 * (the pod template) share. Private to render/. */
#ifndef ZL_RENDER_KUBERNETES_INTERNAL_H
#define ZL_RENDER_KUBERNETES_INTERNAL_H

#include "render/render-internal.h"

#define WAIT_IMAGE "busybox:1.36"     /* init containers that wait */
#define ENV_CONFIGMAP "zlapply-env"    /* $E:VAR -> key VAR */
#define ENV_SECRET "zlapply-secrets"   /* $S:name -> key name */

/* What one deployment's render keeps between services. */
struct k8s_dep {
	char *ns;
	struct rnode *env_data, *secret_data; /* include_values: the values */
	char **claims; /* PVC names already made (jobs' named volumes) */
	size_t claim_count, claim_cap;
};

/* An object with apiVersion, kind and metadata (name, and the namespace
 * when kd is not NULL). */
struct rnode *k8s_object(const struct k8s_dep *kd, const char *api, const char *kind,
			 const char *name);
/* The labels every object of svc carries (and svc's own when user_labels). */
void k8s_put_labels(struct rnode *md, const struct render_ctx *c, const struct spec_service *svc,
		    bool user_labels);
struct rnode *k8s_selector(const struct render_ctx *c, const struct spec_service *svc);

/* Does svc have a named volume (a StatefulSet then)? */
bool k8s_has_named_volume(const struct spec_service *svc);
/* The pod template of svc with restartPolicy restart. templates: a
 * StatefulSet's volumeClaimTemplates (named volumes become claims per
 * replica), NULL for PersistentVolumeClaim objects. NULL with err when an
 * env value cannot be resolved (include_values). */
struct rnode *k8s_pod_template(struct render_ctx *c, struct k8s_dep *kd,
			       const struct spec_service *svc, const char *image,
			       const char *restart, struct rnode *templates, struct zl_err *err);

#endif
