/* replica.c: verbs aimed at running replicas: kill, logs, exec.
 * A target is SERVICE-rep-N, or SERVICE: kill signals every replica, logs
 * prints each one's output, exec runs in the lowest-numbered running one.
 * A deployment name picks the deployment when several have that service. */
#include "reconcile-internal.h"

#include <ctype.h>
#include <signal.h>
#include <string.h>
#include <strings.h>

/* Only the signals an operator has reason to send by hand. */
int reconcile_kill_signal_parse(const char *name, int *signo, struct zl_err *err)
{
	static const struct {
		const char *name;
		int signo;
	} allowed[] = {
		{ "KILL", SIGKILL }, { "TERM", SIGTERM }, { "INT", SIGINT },
		{ "HUP", SIGHUP },   { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 },
	};
	const char *n = name;
	if (strncasecmp(n, "SIG", 3) == 0)
		n += 3;
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if (strcasecmp(n, allowed[i].name) == 0) {
			*signo = allowed[i].signo;
			return 0;
		}
	return zl_invalid(err, "--signal: \"%s\" is not one of SIGKILL SIGTERM SIGINT SIGHUP SIGUSR1 SIGUSR2",
			  name);
}

int replica_parse_target(const char *target, char **service, int *index, struct zl_err *err)
{
	const char *rep = NULL;
	for (const char *p = strstr(target, "-rep-"); p; p = strstr(p + 1, "-rep-"))
		rep = p;
	if (rep) {
		const char *num = rep + 5;
		char *end = NULL;
		long n = strtol(num, &end, 10);
		if (*num && !*end && n >= 1 && isdigit((unsigned char)*num)) {
			*service = zl_xstrndup(target, (size_t)(rep - target));
			*index = (int)n;
			return 0;
		}
	}
	if (!*target)
		return zl_invalid(err, "empty replica name");
	*service = zl_xstrdup(target);
	*index = 0;
	return 0;
}

/* The rows the target names, refreshed from the backend. */
static int find_targets(const struct reconcile_opts *opts, const char *deployment,
			struct reconcile_target *t, struct zl_err *err)
{
	_cleanup_free_ char *service = NULL;
	int index = 0;
	if (replica_parse_target(t->name, &service, &index, err) < 0)
		return -1;
	if (reconcile_status(opts->root, deployment, &t->all, err) < 0)
		return -1;
	t->items = zl_xcalloc(t->all.count + 1, sizeof(*t->items));
	t->count = 0;
	const char *first_dep = NULL;
	for (size_t i = 0; i < t->all.count; i++) {
		struct state_replica *r = &t->all.items[i];
		if (strcmp(r->service, service) != 0 || (index && r->index != index))
			continue;
		if (first_dep && strcmp(first_dep, r->deployment) != 0)
			return zl_invalid(err, "%s exists in deployments %s and %s: pick one with -d NAME",
					  t->name, first_dep, r->deployment);
		first_dep = r->deployment;
		t->items[t->count++] = r;
	}
	if (t->count == 0)
		return zl_fail(err, "no replica %s%s%s (see 'zlapply status')", t->name,
			       deployment ? " in deployment " : "", deployment ? deployment : "");
	return 0;
}

static int open_backend_for(const struct reconcile_opts *opts, const struct state_replica *r,
			    struct backend **b, struct zl_err *err)
{
	const char *name = r->backend ? r->backend : opts->backend_name;
	if (reconcile_backend_open(opts, name, b, err) < 0)
		return -1;
	if ((*b)->ops->probe(*b, err) < 0) {
		backend_close(*b);
		*b = NULL;
		return zl_err_prefix(err, "backend %s", name);
	}
	return 0;
}

int reconcile_target_find(const struct reconcile_opts *opts, const char *target,
			  const char *deployment, struct reconcile_target *out, struct zl_err *err)
{
	memset(out, 0, sizeof(*out));
	out->name = zl_xstrdup(target);
	if (find_targets(opts, deployment, out, err) < 0 ||
	    open_backend_for(opts, out->items[0], &out->backend, err) < 0) {
		out->count = 0; /* nothing to act on */
		return -1;
	}
	return 0;
}

void reconcile_target_free(struct reconcile_target *t)
{
	if (!t)
		return;
	backend_close(t->backend);
	free(t->items);
	state_replicas_free(&t->all);
	free(t->name);
	memset(t, 0, sizeof(*t));
}

int reconcile_kill(struct reconcile_target *t, size_t i, int signo, struct zl_err *err)
{
	const struct state_replica *r = t->items[i];
	if (t->backend->ops->kill(t->backend, r->backend_id, signo, err) < 0)
		return zl_err_prefix(err, "%s-rep-%d", r->service, r->index);
	return 0;
}

int reconcile_logs(struct reconcile_target *t, size_t i, const struct reconcile_log_opts *o,
		   FILE *out, struct zl_err *err)
{
	const struct state_replica *r = t->items[i];
	struct backend_log_opts lo = {
		.tail = o->tail == RECONCILE_LOG_TAIL_NONE ? BACKEND_LOG_TAIL_NONE : o->tail,
		.follow = o->follow,
		.timestamps = o->timestamps,
	};
	if (t->backend->ops->logs(t->backend, r->backend_id, &lo, out, err) < 0)
		return zl_err_prefix(err, "logs %s-rep-%d", r->service, r->index);
	return 0;
}

int reconcile_exec(struct reconcile_target *t, char *const argv[], int *exit_code,
		   struct zl_err *err)
{
	*exit_code = -1;
	/* SERVICE alone: the lowest-numbered running replica. */
	const struct state_replica *r = NULL;
	for (size_t i = 0; i < t->count && !r; i++)
		if (t->items[i]->state == STATE_REPLICA_RUNNING)
			r = t->items[i];
	if (!r)
		return zl_fail(err, "%s: no running replica", t->name);
	if (t->backend->ops->exec(t->backend, r->backend_id, argv, exit_code, err) < 0) {
		/* as docker exec: the shell's codes for a command that cannot start */
		if (*exit_code != 126 && *exit_code != 127)
			*exit_code = -1;
		return zl_err_prefix(err, "exec in %s-rep-%d", r->service, r->index);
	}
	return 0;
}
