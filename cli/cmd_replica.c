/* cmd_replica.c: verbs aimed at running replicas: kill, logs, exec.
 * A target is SERVICE-rep-N, or SERVICE: kill signals every replica, logs
 * prints each one's output, exec runs in the lowest-numbered running one
 * (reconcile/replica.c). -d NAME picks the deployment when several have
 * that service. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <signal.h>

int cmd_replica(const struct cli_opts *o)
{
	struct reconcile_target t = { 0 };
	struct zl_err err = ZL_ERR_INIT;
	int code = 0, signo = SIGKILL;

	if (o->verb == CLI_KILL && o->signal_name &&
	    reconcile_kill_signal_parse(o->signal_name, &signo, &err) < 0) {
		code = cli_fail(&err);
		goto out;
	}
	struct reconcile_opts ropts;
	cli_base_opts(o, &ropts);
	if (reconcile_target_find(&ropts, o->args[0], o->name_count ? o->names[0] : NULL, &t,
				  &err) < 0) {
		code = cli_fail(&err);
		goto out;
	}

	switch (o->verb) {
	case CLI_KILL: {
		/* shell: -o json lists each replica with its error or null */
		cJSON *killed = o->output == CLI_OUTPUT_JSON
					? output_kill_json_new(reconcile_signal_name(signo))
					: NULL;
		for (size_t i = 0; i < t.count; i++) {
			struct zl_err kerr = ZL_ERR_INIT;
			char name[192];
			snprintf(name, sizeof(name), "%s-rep-%d", t.items[i]->service, t.items[i]->index);
			int r = reconcile_kill(&t, i, signo, &kerr);
			if (killed)
				output_kill_json_add(killed, name, r < 0 ? kerr.msg : NULL);
			if (r < 0)
				code = cli_fail(&kerr);
			else if (!o->quiet && !killed)
				printf("%s\n", name);
		}
		if (killed)
			output_json_print(stdout, killed);
		break;
	}
	case CLI_LOGS: {
		/* --tail 0: no earlier line; with -f what comes from now on (docker's). */
		struct reconcile_log_opts lo = {
			.tail = o->tail < 0 ? 0 : o->tail == 0 ? RECONCILE_LOG_TAIL_NONE : (size_t)o->tail,
			.follow = o->follow,
			.timestamps = o->timestamps,
		};
		if (o->tail == 0 && !o->follow)
			break; /* nothing to print */
		for (size_t i = 0; i < t.count; i++) {
			if (t.count > 1)
				printf("==> %s-rep-%d <==\n", t.items[i]->service, t.items[i]->index);
			fflush(stdout);
			if (reconcile_logs(&t, i, &lo, stdout, &err) < 0)
				code = cli_fail(&err);
		}
		break;
	}
	case CLI_EXEC: {
		int exit_code = -1;
		if (reconcile_exec(&t, (char *const *)(o->args + 1), &exit_code, &err) < 0) {
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
	reconcile_target_free(&t);
	return code;
}
