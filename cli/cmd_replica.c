/* cmd_replica.c: verbs aimed at running replicas: kill, logs, exec.
 * A target is SERVICE-rep-N, or SERVICE: kill signals every replica, logs
 * prints each one's output, exec runs in the lowest-numbered running one.
 * -d NAME picks the deployment when several have that service. */
#include "cli.h"

#include <ctype.h>
#include <signal.h>
#include <string.h>
#include <strings.h>

#include "reconcile/reconcile.h"

/* Only the signals an operator has reason to send by hand. */
static int parse_kill_signal(const char *name, int *signo, struct zl_err *err)
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

/* Splits "web-rep-3" into ("web", 3); plain "web" gives index 0 (all). */
static int parse_target(const char *target, char **service, int *index, struct zl_err *err)
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
static int find_targets(const struct cli_opts *o, struct state_replicas *all,
			struct state_replica ***out, size_t *count, struct zl_err *err)
{
	_cleanup_free_ char *service = NULL;
	int index = 0;
	if (parse_target(o->args[0], &service, &index, err) < 0)
		return -1;
	const char *dep = o->name_count ? o->names[0] : NULL;
	if (reconcile_status(o->root, dep, all, err) < 0)
		return -1;
	*out = zl_xcalloc(all->count + 1, sizeof(**out));
	*count = 0;
	const char *first_dep = NULL;
	for (size_t i = 0; i < all->count; i++) {
		struct state_replica *r = &all->items[i];
		if (strcmp(r->service, service) != 0 || (index && r->index != index))
			continue;
		if (first_dep && strcmp(first_dep, r->deployment) != 0) {
			free(*out);
			*out = NULL;
			return zl_invalid(err, "%s exists in deployments %s and %s: pick one with -d NAME",
					  o->args[0], first_dep, r->deployment);
		}
		first_dep = r->deployment;
		(*out)[(*count)++] = r;
	}
	if (*count == 0) {
		free(*out);
		*out = NULL;
		return zl_fail(err, "no replica %s%s%s (see 'zlapply status')", o->args[0],
			       dep ? " in deployment " : "", dep ? dep : "");
	}
	return 0;
}

static int open_backend_for(const struct cli_opts *o, const struct state_replica *r,
			    struct backend **b, struct zl_err *err)
{
	const char *name = r->backend ? r->backend : o->backend;
	if (backend_open(name, o->root, b, err) < 0)
		return -1;
	if ((*b)->ops->probe(*b, err) < 0) {
		backend_close(*b);
		*b = NULL;
		return zl_err_prefix(err, "backend %s", name);
	}
	return 0;
}

int cmd_replica(const struct cli_opts *o)
{
	struct state_replicas all = { 0 };
	struct state_replica **targets = NULL;
	size_t count = 0;
	struct backend *b = NULL;
	struct zl_err err = ZL_ERR_INIT;
	int code = 0, signo = SIGKILL;

	if (o->verb == CLI_KILL && o->signal_name && parse_kill_signal(o->signal_name, &signo, &err) < 0) {
		code = cli_fail(&err);
		goto out;
	}
	if (find_targets(o, &all, &targets, &count, &err) < 0 ||
	    open_backend_for(o, targets[0], &b, &err) < 0) {
		code = cli_fail(&err);
		goto out;
	}

	switch (o->verb) {
	case CLI_KILL:
		for (size_t i = 0; i < count; i++) {
			struct zl_err kerr = ZL_ERR_INIT;
			if (b->ops->kill(b, targets[i]->backend_id, signo, &kerr) < 0) {
				zl_err_prefix(&kerr, "%s-rep-%d", targets[i]->service, targets[i]->index);
				code = cli_fail(&kerr);
			} else if (!o->quiet) {
				printf("%s-rep-%d\n", targets[i]->service, targets[i]->index);
			}
		}
		break;
	case CLI_LOGS: {
		struct backend_log_opts lo = { .tail = o->tail < 0 ? 0 : (size_t)o->tail,
					       .follow = o->follow, .timestamps = o->timestamps };
		if (o->tail == 0)
			break; /* --tail 0: nothing, as docker does */
		for (size_t i = 0; i < count; i++) {
			if (count > 1)
				printf("==> %s-rep-%d <==\n", targets[i]->service, targets[i]->index);
			fflush(stdout);
			if (b->ops->logs(b, targets[i]->backend_id, &lo, stdout, &err) < 0) {
				zl_err_prefix(&err, "logs %s-rep-%d", targets[i]->service, targets[i]->index);
				code = cli_fail(&err);
			}
		}
		break;
	}
	case CLI_EXEC: {
		/* SERVICE alone: the lowest-numbered running replica. */
		struct state_replica *r = NULL;
		for (size_t i = 0; i < count && !r; i++)
			if (targets[i]->state == STATE_REPLICA_RUNNING)
				r = targets[i];
		if (!r) {
			zl_fail(&err, "%s: no running replica", o->args[0]);
			code = cli_fail(&err);
			break;
		}
		int exit_code = -1;
		if (b->ops->exec(b, r->backend_id, (char *const *)(o->args + 1), &exit_code, &err) < 0) {
			zl_err_prefix(&err, "exec in %s-rep-%d", r->service, r->index);
			code = cli_fail(&err);
			if (exit_code == 126 || exit_code == 127) /* as docker exec: the shell's codes */
				code = exit_code;
			break;
		}
		code = exit_code;
		break;
	}
	default:
		break;
	}
out:
	backend_close(b);
	free(targets);
	state_replicas_free(&all);
	return code;
}
