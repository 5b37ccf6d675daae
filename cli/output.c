/* output.c: how replicas are shown: an aligned table for people, JSON
 * (cJSON) for programs. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <string.h>

#include "backends/backend.h"
#include "spec/spec.h"
#include "state/state.h"

static void add_string_or_null(cJSON *obj, const char *key, const char *value)
{
	if (value)
		cJSON_AddStringToObject(obj, key, value);
	else
		cJSON_AddNullToObject(obj, key);
}

static void add_int_or_null(cJSON *obj, const char *key, int64_t value, bool known)
{
	if (known)
		cJSON_AddNumberToObject(obj, key, (double)value);
	else
		cJSON_AddNullToObject(obj, key);
}

static void add_time_or_null(cJSON *obj, const char *key, int64_t ms)
{
	if (ms <= 0) {
		cJSON_AddNullToObject(obj, key);
		return;
	}
	char buf[32];
	zl_format_time(ms, buf);
	cJSON_AddStringToObject(obj, key, buf);
}

char *output_status_json(const struct state_replicas *rows, const struct backend_stats *stats)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *list = cJSON_AddArrayToObject(root, "replicas");
	for (size_t i = 0; i < rows->count; i++) {
		const struct state_replica *r = &rows->items[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "deployment", r->deployment);
		cJSON_AddStringToObject(o, "service", r->service);
		cJSON_AddNumberToObject(o, "replica", r->index);
		char name[160];
		snprintf(name, sizeof(name), "%s-rep-%d", r->service, r->index);
		cJSON_AddStringToObject(o, "name", name);
		cJSON_AddStringToObject(o, "state", state_replica_state_name(r->state));
		add_int_or_null(o, "pid", r->pid, r->pid > 0);
		add_string_or_null(o, "ip", r->ip);
		add_string_or_null(o, "netns", r->netns);
		add_int_or_null(o, "exit_code", r->exit_code, r->exit_code >= 0);
		add_string_or_null(o, "exit_reason", r->exit_reason);
		if (r->exit_signal > 0)
			add_string_or_null(o, "exit_signal", spec_signal_name(r->exit_signal));
		else
			cJSON_AddNullToObject(o, "exit_signal");
		cJSON_AddNumberToObject(o, "restarts", r->restarts);
		add_string_or_null(o, "health", r->health);
		add_string_or_null(o, "spec_hash", r->spec_hash);
		add_string_or_null(o, "image_digest", r->image_digest);
		add_time_or_null(o, "started_at", r->started_at);
		add_time_or_null(o, "finished_at", r->finished_at);
		add_string_or_null(o, "error", r->error);
		int64_t cpu = stats ? stats[i].cpu_usage_ns : -1, mem = stats ? stats[i].memory_bytes : -1;
		add_int_or_null(o, "cpu_usage_ns", cpu, cpu >= 0);
		add_int_or_null(o, "memory_bytes", mem, mem >= 0);
		cJSON_AddItemToArray(list, o);
	}
	char *text = cJSON_Print(root);
	cJSON_Delete(root);
	if (!text) {
		fprintf(stderr, "zlapply: out of memory printing JSON\n");
		abort();
	}
	/* cJSON allocates with malloc; hand the caller a plain free()able copy. */
	return text;
}

static void format_age(int64_t from_ms, int64_t now_ms, char *out, size_t size)
{
	if (from_ms <= 0) {
		snprintf(out, size, "-");
		return;
	}
	int64_t s = (now_ms - from_ms) / 1000;
	if (s < 0)
		s = 0;
	if (s < 120)
		snprintf(out, size, "%llds", (long long)s);
	else if (s < 7200)
		snprintf(out, size, "%lldm", (long long)(s / 60));
	else if (s < 172800)
		snprintf(out, size, "%lldh", (long long)(s / 3600));
	else
		snprintf(out, size, "%lldd", (long long)(s / 86400));
}

void output_status_table(FILE *out, const struct state_replicas *rows, int64_t now_ms)
{
	if (rows->count == 0) {
		fprintf(out, "no replicas recorded\n");
		return;
	}
	/* Column widths from the data so long names stay aligned. */
	int w_dep = 10, w_name = 7;
	for (size_t i = 0; i < rows->count; i++) {
		int d = (int)strlen(rows->items[i].deployment);
		int n = (int)strlen(rows->items[i].service) + 16;
		if (d > w_dep)
			w_dep = d;
		if (n > w_name)
			w_name = n;
	}
	fprintf(out, "%-*s  %-*s  %-9s  %-8s  %-15s  %-10s  %-8s  %-9s  %s\n", w_dep, "DEPLOYMENT",
		w_name, "REPLICA", "STATE", "PID", "IP", "EXIT", "RESTARTS", "HEALTH", "AGE");
	for (size_t i = 0; i < rows->count; i++) {
		const struct state_replica *r = &rows->items[i];
		char name[192], pid[24], exit_s[32], age[16];
		snprintf(name, sizeof(name), "%s-rep-%d", r->service, r->index);
		if (r->pid > 0)
			snprintf(pid, sizeof(pid), "%lld", (long long)r->pid);
		else
			snprintf(pid, sizeof(pid), "-");
		if (r->exit_signal > 0) {
			const char *sig = spec_signal_name(r->exit_signal);
			snprintf(exit_s, sizeof(exit_s), "%s", sig ? sig : "signal");
		} else if (r->exit_code >= 0) {
			snprintf(exit_s, sizeof(exit_s), "%d", r->exit_code);
		} else {
			snprintf(exit_s, sizeof(exit_s), "-");
		}
		bool running = r->state == STATE_REPLICA_RUNNING;
		format_age(running ? r->started_at : (r->finished_at ? r->finished_at : r->updated_at),
			   now_ms, age, sizeof(age));
		fprintf(out, "%-*s  %-*s  %-9s  %-8s  %-15s  %-10s  %-8d  %-9s  %s\n", w_dep,
			r->deployment, w_name, name, state_replica_state_name(r->state), pid,
			r->ip ? r->ip : "-", exit_s, r->restarts, r->health ? r->health : "-", age);
		if (r->state == STATE_REPLICA_FAILED && r->error)
			fprintf(out, "%*s  error: %s\n", w_dep, "", r->error);
	}
}
