/* cmd_history.c: `zlapply history -d NAME` (a deployment's revisions, as a
 * table or -o json) and `zlapply rollback -d NAME [--to REV]` (apply a kept
 * revision again). docs/user-guide.md, "History and rollback". */
#include "cli.h"

#include <cjson/cJSON.h>
#include <string.h>

static void history_table(const struct state_revisions *list)
{
	printf("%-4s %-20s %-11s %-24s %-8s %s\n", "REV", "TIME", "STATUS", "CAUSE", "HASH",
	       "SOURCE");
	for (size_t i = 0; i < list->count; i++) {
		const struct state_revision *r = &list->items[i];
		char when[32];
		zl_format_time(r->created_at, when);
		_cleanup_free_ char *cause =
			r->restores > 0 ? zl_xasprintf("%s of %lld", r->cause ? r->cause : "rollback",
						       (long long)r->restores)
					: zl_xstrdup(r->cause ? r->cause : "apply");
		printf("%-4lld %-20s %-11s %-24s %-8.8s %s\n", (long long)r->number, when,
		       r->status ? r->status : "?", cause, r->hash ? r->hash : "",
		       r->source ? r->source : "-");
		if (r->reason)
			printf("     why: %s\n", r->reason);
	}
}

static void history_json(const char *deployment, const struct state_revisions *list)
{
	cJSON *root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "deployment", deployment);
	cJSON *items = cJSON_AddArrayToObject(root, "revisions");
	for (size_t i = 0; i < list->count; i++) {
		const struct state_revision *r = &list->items[i];
		cJSON *o = cJSON_CreateObject();
		char when[32];
		zl_format_time(r->created_at, when);
		cJSON_AddNumberToObject(o, "revision", (double)r->number);
		cJSON_AddStringToObject(o, "time", when);
		cJSON_AddNumberToObject(o, "time_ms", (double)r->created_at);
		cJSON_AddStringToObject(o, "status", r->status ? r->status : "");
		cJSON_AddStringToObject(o, "cause", r->cause ? r->cause : "apply");
		if (r->restores > 0)
			cJSON_AddNumberToObject(o, "restores", (double)r->restores);
		else
			cJSON_AddNullToObject(o, "restores");
		cJSON_AddStringToObject(o, "hash", r->hash ? r->hash : "");
		output_json_string_or_null(o, "source", r->source);
		output_json_string_or_null(o, "reason", r->reason);
		output_json_string_or_null(o, "spec", r->spec);
		cJSON_AddItemToArray(items, o);
	}
	output_json_print(stdout, root);
}

int cmd_history(const struct cli_opts *o)
{
	struct state_revisions list = { 0 };
	struct zl_err err = ZL_ERR_INIT;
	if (reconcile_history(o->root, o->names[0], &list, &err) < 0) {
		reconcile_history_free(&list);
		return cli_fail(&err);
	}
	if (o->output == CLI_OUTPUT_JSON) {
		history_json(o->names[0], &list);
	} else {
		history_table(&list);
	}
	reconcile_history_free(&list);
	return 0;
}

int cmd_rollback(const struct cli_opts *o)
{
	struct reconcile_opts ropts;
	struct zl_err err = ZL_ERR_INIT;
	if (cli_reconcile_opts(o, &ropts, &err) < 0)
		return cli_fail(&err);
	ropts.plan_out = stdout;
	struct reconcile_result res;
	int64_t restored = 0;
	if (reconcile_rollback(&ropts, o->names[0], o->rollback_to, &res, &restored, &err) < 0) {
		if (res.actions_failed > 0)
			fprintf(stderr, "zlapply: %zu of %zu action%s failed\n", res.actions_failed,
				res.actions_planned, res.actions_planned == 1 ? "" : "s");
		int code = cli_fail(&err);
		if (res.actions_failed > 0 && res.rollouts_stopped > 0 && code != 3)
			return CLI_EXIT_ROLLOUT_STOPPED; /* the rollback's own rollout stopped */
		return res.actions_failed > 0 && code == 2 ? 1 : code;
	}
	if (!o->quiet) {
		if (res.actions_planned == 0)
			fprintf(stderr, "zlapply: %s already runs what revision %lld asks for\n",
				o->names[0], (long long)restored);
		else
			fprintf(stderr, "zlapply: rolled %s back to revision %lld: %zu action%s done\n",
				o->names[0], (long long)restored, res.actions_done,
				res.actions_done == 1 ? "" : "s");
	}
	return 0;
}
