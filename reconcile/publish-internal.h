/* publish-internal.h: published ports in an apply (publish.c), private to
 * reconcile/. apply.c calls, per deployment:
 *   publish_begin()   before any action: resolve each service's ports
 *                     (ephemeral ones picked once and recorded), refuse new
 *                     ones that are taken;
 *   publish_refuse()  per action: creates of a refused service fail with
 *                     the reason, before anything is made;
 *   publish_finish()  after the actions: point each service's rules at its
 *                     running replicas, drop the rules of services that left.
 * Records live in <root>/ports/<deployment>/: <service>.json (the ports the
 * service claims, with its ephemeral picks) and <service>.rules (the rule
 * text last loaded into the kernel), so a run that changes nothing reads two
 * small files per publishing service and spawns no process. */
#ifndef ZL_RECONCILE_PUBLISH_INTERNAL_H
#define ZL_RECONCILE_PUBLISH_INTERNAL_H

#include "reconcile-internal.h"

struct publish;

/* NULL (and every other call a no-op) when the backend gives no bridge
 * networking or on a dry run. Caller frees with publish_free(). */
struct publish *publish_begin(struct backend *b, const struct reconcile_opts *o,
			      const struct plan_desired *desired);
/* -1 with err when a's service may not get new replicas (a taken port);
 * logs the reason once per service. */
int publish_refuse(struct publish *p, const struct plan_action *a, struct zl_err *err);
/* During the actions: points service's rules at its running replicas but
 * those with an address in skip_ips. Called with the address of a replica
 * about to stop (new connections go to the others while it drains) and,
 * with none, after a new replica is ready: a rolling update loses no
 * request while another replica runs. No-op for a service publishing
 * nothing. */
int publish_update(struct publish *p, struct state_db *db, const char *service,
		   const char *const *skip_ips, size_t n_skip, struct zl_err *err);
int publish_finish(struct publish *p, struct state_db *db, struct zl_err *err);
void publish_free(struct publish *p);

/* <root>/ports: where the records are (doctor reads them). Caller frees. */
char *publish_dir(const char *root);
/* The scope the rules of root are named with (its real path). Caller frees. */
char *publish_scope(const char *root);

#endif
