/* names-internal.h: service names in an apply (names.c), private to
 * reconcile/. Inside every replica with a hosts file, `<service>`,
 * `<service>.<deployment>`, `<service>-rep-<n>` and
 * `<service>-rep-<n>.<deployment>` resolve to the replicas of its own
 * deployment, and `<service>.<other>` to the ready replicas of services of
 * other deployments that declare an endpoint (docs/networking.md, "Service
 * names"). No resolver runs: the names are lines of each replica's hosts
 * file, rewritten in place by the backend (set_names) whenever they change.
 *
 * apply.c calls, per deployment:
 *   names_begin()      before any action: loads the records;
 *   names_text()       the names a replica created now gets;
 *   names_update()     before a replica stops (it leaves every name) and
 *                      after each action: the deployment's lines from its
 *                      rows; its replicas' files when they changed;
 *   names_finish()     after health probes: the same, then, when what the
 *                      deployment offers others changed, every other
 *                      deployment's replicas; the records last.
 * Records live in <root>/names/: <deployment>.own (the deployment's own
 * lines), <deployment>.exports (what it offers the others) and
 * <deployment>.given (the names its replicas last got), so an apply that
 * changes nothing reads a few small files and writes nothing. */
#ifndef ZL_RECONCILE_NAMES_INTERNAL_H
#define ZL_RECONCILE_NAMES_INTERNAL_H

#include "reconcile-internal.h"

struct names;

/* NULL (and every other call a no-op) on a dry run or with a backend whose
 * replicas have no hosts file. Caller frees with names_free(). */
struct names *names_begin(struct backend *b, const struct reconcile_opts *o,
			  const struct plan_desired *desired);
/* The names section of a replica of the deployment created now; NULL when
 * n is NULL. Caller frees. */
char *names_text(const struct names *n);
/* leaving_ips: the addresses of replicas about to stop (n_leaving of them). */
int names_update(struct names *n, struct state_db *db, const char *const *leaving_ips,
		 size_t n_leaving, struct zl_err *err);
int names_finish(struct names *n, struct state_db *db, struct zl_err *err);
void names_free(struct names *n);
/* begin + finish for a deployment outside an apply (`--wait` polls, whose
 * probes change readiness): the deployment's spec as dep says. */
int names_refresh(struct backend *b, const struct reconcile_opts *o,
		  const struct spec_deployment *dep, struct state_db *db, struct zl_err *err);

/* <root>/names: where the records are (doctor reads them). Caller frees. */
char *names_dir(const char *root);
/* Is file (a name in names_dir) a record? *deployment gets whose (caller
 * frees) when it is. */
bool names_is_record(const char *file, char **deployment);

/* ---- rendering (pure; exposed for tests) ---- */
/* The deployment's own lines from its rows (sorted by service, index): one
 * line per running replica with an address: "IP\t[S S.D ]S-rep-N
 * S-rep-N.D", the service names only when the replica is ready (running;
 * healthy when the service has a health check; a service not in desired
 * is on its way out and gets none). Caller frees. */
char *names_render_own(const struct plan_desired *desired, const struct state_replicas *rows);
/* What the deployment offers the others: "IP\tS.D" per ready replica of a
 * service with at least one endpoint. Caller frees. */
char *names_render_exports(const struct plan_desired *desired, const struct state_replicas *rows);

#endif
