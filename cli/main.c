/* main.c: zlapply's entry point: parse flags, dispatch the verb. The only
 * place that turns errors into exit codes. */
#include "cli.h"

#include <signal.h>
#include <string.h>

int cli_exit_code(const struct zl_err *err)
{
	switch (err->kind) {
	case ZL_ERR_NONE: return 0;
	case ZL_ERR_INPUT: return 2;
	case ZL_ERR_TIMEOUT: return 3;
	case ZL_ERR_BUSY: return 4;
	case ZL_ERR_FAIL: return 1;
	}
	return 1;
}

int cli_fail(const struct zl_err *err)
{
	fprintf(stderr, "zlapply: error: %s\n", err->msg[0] ? err->msg : "failed");
	return err->kind == ZL_ERR_NONE ? 1 : cli_exit_code(err);
}

int main(int argc, char **argv)
{
	struct cli_opts o;
	struct zl_err err = ZL_ERR_INIT;
	int code;
	/* Started with SIGCHLD ignored (it survives exec), every helper's exit
	 * status would be lost: runtimes, iptables, probes. */
	signal(SIGCHLD, SIG_DFL);
	if (argc < 2) {
		cli_usage(stderr, CLI_HELP);
		return 2;
	}
	if (cli_parse(argc, argv, &o, &err) < 0) {
		code = cli_fail(&err);
		goto out;
	}
	if (o.quiet)
		zl_log_set_level(ZL_LOG_WARN);
	else if (o.verbose)
		zl_log_set_level(ZL_LOG_DEBUG);

	if (o.verb == CLI_HELP || o.help) {
		/* `zlapply --help` without a verb: the overview, not apply's flags. */
		enum cli_verb topic = o.verb_given ? o.verb : CLI_HELP;
		if (o.help_topic && cli_help_topic(o.help_topic, &topic) < 0) {
			zl_invalid(&err, "no help for \"%s\": not a verb", o.help_topic);
			code = cli_fail(&err);
			goto out;
		}
		cli_usage(stdout, topic);
		code = 0;
		goto out;
	}
	switch (o.verb) {
	case CLI_VERSION:
		if (o.output == CLI_OUTPUT_JSON) /* shell */
			output_version_json(stdout);
		else
			printf("zlapply %s\n", ZLAPPLY_VERSION);
		code = 0;
		break;
	case CLI_STATUS:
		code = cmd_status(&o);
		break;
	case CLI_DELETE:
		code = cmd_delete(&o);
		break;
	case CLI_PULL:
	case CLI_IMAGES:
	case CLI_PRUNE:
		code = cmd_images(&o);
		break;
	case CLI_KILL:
	case CLI_LOGS:
	case CLI_EXEC:
		code = cmd_replica(&o);
		break;
	case CLI_WATCH:
		code = cmd_watch(&o);
		break;
	case CLI_DOCTOR:
		code = cmd_doctor(&o);
		break;
	case CLI_RUN: /* jobs/cron */
		code = cmd_run(&o);
		break;
	case CLI_COMPLETION: /* shell */
		code = cmd_completion(&o);
		break;
	case CLI_MAN: /* shell */
		code = cmd_man(&o);
		break;
	case CLI_RENDER: /* render */
		code = cmd_render(&o);
		break;
	case CLI_EVENTS: /* observe */
		code = cmd_events(&o);
		break;
	case CLI_STATS:
		code = cmd_stats(&o);
		break;
	case CLI_INSPECT:
		code = cmd_inspect(&o);
		break;
	case CLI_HISTORY: /* history and rollback */
		code = cmd_history(&o);
		break;
	case CLI_ROLLBACK:
		code = cmd_rollback(&o);
		break;
	default:
		code = cmd_apply(&o);
		break;
	}
out:
	cli_opts_free(&o);
	return code;
}
