/* cmd_events.c: `zlapply events [-d NAME] [-f] [--since D|TIME] [-o json]`:
 * what happened to replicas and images, oldest first, from the store
 * (reconcile/events.c). -f prints new events as they are recorded, polling
 * the table on its primary key (a read of nothing when nothing happened),
 * until SIGINT or SIGTERM, then exits 0. Without --since, -f starts with
 * what comes next; with it, it first prints the events since then.
 *
 * -o json: without -f one array; with -f one object per line (JSON Lines)
 * so a reader can act on each as it comes. The object's shape is in
 * docs/operations.md ("Events"). */
#include "cli.h"

#include <cjson/cJSON.h>
#include <string.h>

#define FOLLOW_POLL_MS 200

/* "2026-12-05T10:00:00.123Z" */
static void format_time_ms(int64_t ms, char out[40])
{
	char secs[32];
	zl_format_time(ms - ms % 1000, secs);
	size_t n = strlen(secs);
	if (n > 0 && secs[n - 1] == 'Z')
		secs[n - 1] = '\0';
	snprintf(out, 40, "%s.%03lldZ", secs, (long long)(ms % 1000));
}

static cJSON *event_json(const struct state_event *e)
{
	char when[40];
	format_time_ms(e->time, when);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "id", (double)e->id);
	cJSON_AddStringToObject(o, "time", when);
	cJSON_AddNumberToObject(o, "time_ms", (double)e->time);
	output_json_string_or_null(o, "deployment", e->deployment);
	output_json_string_or_null(o, "service", e->service);
	if (e->service && e->index > 0) {
		_cleanup_free_ char *rep = zl_xasprintf("%s-rep-%d", e->service, e->index);
		cJSON_AddStringToObject(o, "replica", rep);
		cJSON_AddNumberToObject(o, "index", e->index);
	} else {
		cJSON_AddNullToObject(o, "replica");
		cJSON_AddNullToObject(o, "index");
	}
	cJSON_AddStringToObject(o, "kind", e->kind ? e->kind : "");
	output_json_string_or_null(o, "message", e->message);
	cJSON *data = e->data ? cJSON_Parse(e->data) : NULL;
	cJSON_AddItemToObject(o, "data", data && cJSON_IsObject(data) ? data : cJSON_CreateObject());
	if (data && !cJSON_IsObject(data))
		cJSON_Delete(data);
	return o;
}

static void print_text(const struct state_event *e)
{
	char when[40];
	format_time_ms(e->time, when);
	_cleanup_free_ char *who =
		!e->service ? zl_xstrdup(e->deployment ? e->deployment : "-")
		: e->index > 0
			? zl_xasprintf("%s/%s-rep-%d", e->deployment ? e->deployment : "-", e->service,
				       e->index)
			: zl_xasprintf("%s/%s", e->deployment ? e->deployment : "-", e->service);
	printf("%s  %-24s %-10s %s\n", when, who, e->kind ? e->kind : "", e->message ? e->message : "");
}

/* Prints evs; json: into array, or one object per line when it is NULL. */
static void print_events(const struct state_events *evs, bool json, cJSON *array)
{
	for (size_t i = 0; i < evs->count; i++) {
		if (json)
			output_json_emit(event_json(&evs->items[i]), array);
		else
			print_text(&evs->items[i]);
	}
	fflush(stdout);
}

/* The id of the newest event now, so -f without --since starts after it. */
static int newest_id(struct reconcile_events *ev, const char *deployment, int64_t *id,
		     struct zl_err *err)
{
	*id = 0;
	for (;;) {
		struct state_events page;
		struct state_events_query q = { .deployment = deployment, .after_id = *id,
						.limit = 1000 };
		if (reconcile_events_read(ev, &q, &page, err) < 0)
			return -1;
		if (page.count)
			*id = page.items[page.count - 1].id;
		size_t n = page.count;
		reconcile_events_free(&page);
		if (n < q.limit)
			return 0;
	}
}

int cmd_events(const struct cli_opts *o)
{
	struct zl_err err = ZL_ERR_INIT;
	struct state_events_query q = { .deployment = o->name_count ? o->names[0] : NULL };
	if (o->since && reconcile_parse_since(o->since, zl_now_ms(), &q.since_ms, &err) < 0)
		return cli_fail(&err);
	bool json = o->output == CLI_OUTPUT_JSON;
	struct reconcile_events *ev = NULL;
	if (reconcile_events_open(o->root, &ev, &err) < 0)
		return cli_fail(&err);

	int code = 0;
	if (o->follow) {
		cli_stop_on_signals();
		if (!o->since && newest_id(ev, q.deployment, &q.after_id, &err) < 0) {
			code = cli_fail(&err);
			goto out;
		}
	}
	cJSON *array = json && !o->follow ? cJSON_CreateArray() : NULL;
	do {
		struct state_events page;
		if (reconcile_events_read(ev, &q, &page, &err) < 0) {
			code = cli_fail(&err);
			break;
		}
		print_events(&page, json, array);
		if (page.count)
			q.after_id = page.items[page.count - 1].id;
		reconcile_events_free(&page);
		if (o->follow && !cli_stop_requested())
			cli_sleep_ms(FOLLOW_POLL_MS);
	} while (o->follow && !cli_stop_requested());
	if (array && code == 0)
		output_json_print(stdout, array);
	else
		cJSON_Delete(array);
out:
	reconcile_events_close(ev);
	return code;
}
