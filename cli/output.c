/* output.c: how replicas are shown: an aligned table for people, JSON
 * (cJSON) for programs. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <string.h>
#include <unistd.h>



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

/* The recorded schedule of a cron service, or NULL. */
static const struct state_schedule *schedule_of(const struct output_runs *x, const char *deployment,
						const char *service)
{
	for (size_t i = 0; x && x->schedules && i < x->schedules->count; i++) {
		const struct state_schedule *s = &x->schedules->items[i];
		if (strcmp(s->deployment, deployment) == 0 && strcmp(s->service, service) == 0)
			return s;
	}
	return NULL;
}

/* Back-off still to wait (ms) before an exited replica restarts; 0 none. */
static int64_t backoff_left(const struct state_replica *r, int64_t now_ms)
{
	if (r->state != STATE_REPLICA_EXITED && r->state != STATE_REPLICA_STOPPED)
		return 0;
	return r->backoff_until > now_ms ? r->backoff_until - now_ms : 0;
}

/* How a run ended. The newest run of a replica stays open until an apply
 * records its exit; status, which writes nothing, takes the exit from the
 * freshly observed replica row meanwhile. */
static struct state_run run_seen(const struct state_run *run, const struct state_replicas *rows)
{
	struct state_run v = *run;
	for (size_t i = 0; v.finished_at == 0 && rows && i < rows->count; i++) {
		const struct state_replica *r = &rows->items[i];
		if (r->index != run->index || strcmp(r->service, run->service) != 0 ||
		    strcmp(r->deployment, run->deployment) != 0)
			continue;
		if ((r->state == STATE_REPLICA_EXITED || r->state == STATE_REPLICA_STOPPED) &&
		    r->finished_at >= run->started_at) {
			v.finished_at = r->finished_at;
			v.exit_code = r->exit_code;
			v.exit_signal = r->exit_signal;
			v.reason = r->exit_reason;
		}
	}
	return v;
}

static void add_runs_json(cJSON *root, const struct state_replicas *rows,
			  const struct output_runs *x)
{
	cJSON *schedules = cJSON_AddArrayToObject(root, "schedules");
	for (size_t i = 0; x && x->schedules && i < x->schedules->count; i++) {
		const struct state_schedule *s = &x->schedules->items[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "deployment", s->deployment);
		cJSON_AddStringToObject(o, "service", s->service);
		add_time_or_null(o, "last_scheduled", s->last_scheduled_s * 1000);
		add_time_or_null(o, "next_run", s->next_s > 0 ? s->next_s * 1000 : 0);
		cJSON_AddItemToArray(schedules, o);
	}
	cJSON *runs = cJSON_AddArrayToObject(root, "runs");
	for (size_t i = 0; x && x->runs && i < x->runs->count; i++) {
		struct state_run seen = run_seen(&x->runs->items[i], rows);
		const struct state_run *r = &seen;
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "deployment", r->deployment);
		cJSON_AddStringToObject(o, "service", r->service);
		cJSON_AddNumberToObject(o, "run", (double)r->run_no);
		cJSON_AddNumberToObject(o, "replica", r->index);
		output_json_string_or_null(o, "cause", r->cause);
		add_time_or_null(o, "scheduled_for", r->scheduled_s * 1000);
		add_time_or_null(o, "started_at", r->started_at);
		add_time_or_null(o, "finished_at", r->finished_at);
		bool done = r->finished_at > 0;
		add_int_or_null(o, "exit_code", r->exit_code, done && r->exit_code >= 0);
		output_json_string_or_null(o, "exit_signal", done && r->exit_signal > 0
							      ? reconcile_signal_name(r->exit_signal)
							      : NULL);
		output_json_string_or_null(o, "reason", r->reason);
		output_json_string_or_null(o, "log", r->log_path);
		cJSON_AddItemToArray(runs, o);
	}
}

char *output_status_json(const struct state_replicas *rows,
			 const struct reconcile_replica_stats *stats, const struct output_runs *runs,
			 int64_t now_ms)
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
		cJSON_AddStringToObject(o, "state", reconcile_replica_state_name(r->state));
		output_json_string_or_null(o, "backend", r->backend);
		add_int_or_null(o, "pid", r->pid, r->pid > 0);
		output_json_string_or_null(o, "ip", r->ip);
		output_json_string_or_null(o, "netns", r->netns);
		add_int_or_null(o, "exit_code", r->exit_code, r->exit_code >= 0);
		output_json_string_or_null(o, "exit_reason", r->exit_reason);
		output_json_string_or_null(o, "exit_signal", r->exit_signal > 0
							      ? reconcile_signal_name(r->exit_signal)
							      : NULL);
		cJSON_AddNumberToObject(o, "restarts", r->restarts);
		int64_t wait = backoff_left(r, now_ms);
		add_time_or_null(o, "backoff_until", wait > 0 ? r->backoff_until : 0);
		cJSON_AddNumberToObject(o, "backoff_seconds", (double)((wait + 999) / 1000));
		const struct state_schedule *sched = schedule_of(runs, r->deployment, r->service);
		add_time_or_null(o, "next_run", sched && sched->next_s > 0 ? sched->next_s * 1000 : 0);
		output_json_string_or_null(o, "health", r->health);
		output_json_string_or_null(o, "spec_hash", r->spec_hash);
		output_json_string_or_null(o, "image_digest", r->image_digest);
		add_time_or_null(o, "started_at", r->started_at);
		add_time_or_null(o, "finished_at", r->finished_at);
		output_json_string_or_null(o, "error", r->error);
		int64_t cpu = stats ? stats[i].cpu_usage_ns : -1, mem = stats ? stats[i].memory_bytes : -1;
		add_int_or_null(o, "cpu_usage_ns", cpu, cpu >= 0);
		add_int_or_null(o, "memory_bytes", mem, mem >= 0);
		cJSON_AddItemToArray(list, o);
	}
	add_runs_json(root, rows, runs);
	cJSON *notes = cJSON_AddArrayToObject(root, "notes");
	for (size_t i = 0; i < runs->note_count; i++)
		cJSON_AddItemToArray(notes, cJSON_CreateString(runs->notes[i]));
	output_json_string_or_null(root, "source", runs->source);
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

/* "17s", "4m", "2h": a duration to come, rounded up to the unit shown. */
static void format_left(int64_t ms, char *out, size_t size)
{
	int64_t s = (ms + 999) / 1000;
	if (s < 120)
		snprintf(out, size, "%llds", (long long)s);
	else if (s < 7200)
		snprintf(out, size, "%lldm", (long long)((s + 59) / 60));
	else if (s < 172800)
		snprintf(out, size, "%lldh", (long long)((s + 3599) / 3600));
	else
		snprintf(out, size, "%lldd", (long long)((s + 86399) / 86400));
}

/* Cron schedules (next run) and the kept runs of jobs and cron services. */
static void output_runs_table(FILE *out, const struct state_replicas *rows,
			      const struct output_runs *x, int64_t now_ms)
{
	if (x && x->schedules && x->schedules->count > 0) {
		fprintf(out, "\n%-10s  %-20s  %-32s  %s\n", "DEPLOYMENT", "CRON", "NEXT RUN",
			"LAST SCHEDULED");
		for (size_t i = 0; i < x->schedules->count; i++) {
			const struct state_schedule *s = &x->schedules->items[i];
			char next[96], when[32], left[32], last[32];
			if (s->next_s > 0) {
				zl_format_time(s->next_s * 1000, when);
				format_left(s->next_s * 1000 - now_ms, left, sizeof(left));
				snprintf(next, sizeof(next), "%s (in %s)", when, left);
			} else {
				snprintf(next, sizeof(next), "never");
			}
			zl_format_time(s->last_scheduled_s * 1000, last);
			fprintf(out, "%-10s  %-20s  %-32s  %s\n", s->deployment, s->service, next, last);
		}
	}
	if (x && x->runs && x->runs->count > 0) {
		fprintf(out, "\n%-10s  %-20s  %-20s  %-9s  %-10s  %s\n", "DEPLOYMENT", "RUN", "STARTED",
			"DURATION", "EXIT", "CAUSE");
		for (size_t i = 0; i < x->runs->count; i++) {
			struct state_run seen = run_seen(&x->runs->items[i], rows);
			const struct state_run *r = &seen;
			char name[96], started[32], took[32], exit_s[32];
			snprintf(name, sizeof(name), "%s #%lld", r->service, (long long)r->run_no);
			if (r->started_at > 0)
				zl_format_time(r->started_at, started);
			else
				snprintf(started, sizeof(started), "-");
			int64_t end = r->finished_at > 0 ? r->finished_at : now_ms;
			/* how long it ran (or has been running): whole units, rounded down */
			format_age(r->started_at > 0 ? r->started_at : end, end, took, sizeof(took));
			if (r->finished_at == 0)
				snprintf(exit_s, sizeof(exit_s), "running");
			else if (r->exit_signal > 0 && reconcile_signal_name(r->exit_signal))
				snprintf(exit_s, sizeof(exit_s), "%s", reconcile_signal_name(r->exit_signal));
			else if (r->exit_code >= 0)
				snprintf(exit_s, sizeof(exit_s), "%d", r->exit_code);
			else
				snprintf(exit_s, sizeof(exit_s), "%s", r->reason ? r->reason : "-");
			fprintf(out, "%-10s  %-20s  %-20s  %-9s  %-10s  %s\n", r->deployment, name,
				started, took, exit_s, r->cause ? r->cause : "-");
		}
	}
}

/* shell: the STATE column's colour (ANSI SGR) on a terminal: green runs,
 * red failed, lost or exited non-zero, yellow waits or is on its way. */
static const char *status_color(const struct state_replica *r, bool backoff)
{
	if (backoff)
		return "33";
	switch (r->state) {
	case STATE_REPLICA_RUNNING: return "32";
	case STATE_REPLICA_FAILED:
	case STATE_REPLICA_UNKNOWN: return "31";
	case STATE_REPLICA_EXITED: return r->exit_code == 0 && r->exit_signal == 0 ? NULL : "31";
	case STATE_REPLICA_CREATING:
	case STATE_REPLICA_CREATED:
	case STATE_REPLICA_REMOVING:
	case STATE_REPLICA_STOPPED: return "33";
	}
	return NULL;
}

bool cli_color(const struct cli_opts *o, FILE *f)
{
	if (o->output == CLI_OUTPUT_JSON || o->color == CLI_COLOR_NEVER)
		return false;
	if (o->color == CLI_COLOR_ALWAYS)
		return true;
	return !o->no_color_env && isatty(fileno(f));
}

void output_status_table(FILE *out, const struct state_replicas *rows,
			 const struct output_runs *runs, int64_t now_ms, bool color)
{
	if (rows->count == 0) {
		fprintf(out, "no replicas recorded\n");
		output_runs_table(out, rows, runs, now_ms);
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
	fprintf(out, "%-*s  %-*s  %-12s  %-7s  %-8s  %-15s  %-10s  %-8s  %-9s  %s\n", w_dep,
		"DEPLOYMENT", w_name, "REPLICA", "STATE", "BACKEND", "PID", "IP", "EXIT", "RESTARTS",
		"HEALTH", "AGE");
	for (size_t i = 0; i < rows->count; i++) {
		const struct state_replica *r = &rows->items[i];
		char name[192], pid[24], exit_s[32], age[16];
		snprintf(name, sizeof(name), "%s-rep-%d", r->service, r->index);
		if (r->pid > 0)
			snprintf(pid, sizeof(pid), "%lld", (long long)r->pid);
		else
			snprintf(pid, sizeof(pid), "-");
		if (r->exit_signal > 0) {
			const char *sig = reconcile_signal_name(r->exit_signal);
			snprintf(exit_s, sizeof(exit_s), "%s", sig ? sig : "signal");
		} else if (r->exit_code >= 0) {
			snprintf(exit_s, sizeof(exit_s), "%d", r->exit_code);
		} else {
			snprintf(exit_s, sizeof(exit_s), "-");
		}
		bool running = r->state == STATE_REPLICA_RUNNING;
		format_age(running ? r->started_at : (r->finished_at ? r->finished_at : r->updated_at),
			   now_ms, age, sizeof(age));
		/* A crash loop shows as "backoff 17s" (Kubernetes' CrashLoopBackOff). */
		char state_s[48];
		int64_t wait = backoff_left(r, now_ms);
		if (wait > 0) {
			char left[32];
			format_left(wait, left, sizeof(left));
			snprintf(state_s, sizeof(state_s), "backoff %s", left);
		} else {
			snprintf(state_s, sizeof(state_s), "%s", reconcile_replica_state_name(r->state));
		}
		const char *sgr = color ? status_color(r, wait > 0) : NULL;
		fprintf(out, "%-*s  %-*s  %s%s%s%-12s%s  %-7s  %-8s  %-15s  %-10s  %-8d  %-9s  %s\n", w_dep,
			r->deployment, w_name, name, sgr ? "\033[" : "", sgr ? sgr : "", sgr ? "m" : "",
			state_s, sgr ? "\033[0m" : "", r->backend ? r->backend : "-", pid,
			r->ip ? r->ip : "-", exit_s, r->restarts, r->health ? r->health : "-", age);
		/* why it failed, or why its command could not be executed */
		bool exited = r->state == STATE_REPLICA_EXITED && r->exit_reason;
		bool exec_failed = exited && strcmp(r->exit_reason, "exec_failed") == 0;
		if ((r->state == STATE_REPLICA_FAILED || exec_failed) && r->error)
			fprintf(out, "%*s  error: %s\n", w_dep, "", r->error);
		/* how it ended when the code alone does not say: oom_killed,
		 * host_rebooted, a WASM trap or memory limit */
		else if (exited && strcmp(r->exit_reason, "exited") != 0 &&
			 strcmp(r->exit_reason, "signal") != 0)
			fprintf(out, "%*s  exit: %s\n", w_dep, "", r->exit_reason);
	}
	output_runs_table(out, rows, runs, now_ms);
	for (size_t i = 0; i < runs->note_count; i++)
		fprintf(out, "note: %s\n", runs->notes[i]);
	if (runs->source)
		fprintf(out, "source: %s\n", runs->source);
}
