/* cmd_stats.c: `zlapply stats [REPLICA...] [-d NAME] [--no-stream] [-o json]`:
 * cpu %, memory and its limit, pids, network and block i/o of running
 * replicas (reconcile/stats.c), like `docker stats`. A sample every second;
 * cpu % is the cpu time used since the previous sample over the time
 * between them, so even --no-stream waits one interval for its one line.
 * On a terminal the table is redrawn in place; otherwise each sample is
 * printed as plain lines (a table, or with -o json one object per replica
 * per line), until SIGINT or SIGTERM (exit 0). --no-stream -o json prints
 * one array. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <unistd.h>

#define SAMPLE_INTERVAL_MS 1000

/* "12.5MiB"; "--" when unknown. */
static void human_bytes(int64_t v, char *out, size_t size)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	if (v < 0) {
		snprintf(out, size, "--");
		return;
	}
	double d = (double)v;
	size_t u = 0;
	while (d >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		d /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, size, "%lldB", (long long)v);
	else
		snprintf(out, size, "%.1f%s", d, units[u]);
}

static void pair(int64_t a, int64_t b, char *out, size_t size)
{
	char x[24], y[24];
	human_bytes(a, x, sizeof(x));
	human_bytes(b, y, sizeof(y));
	snprintf(out, size, "%s / %s", x, y);
}

static double mem_percent(const struct reconcile_usage *u)
{
	if (u->memory_bytes < 0 || u->memory_limit_bytes <= 0)
		return -1;
	return (double)u->memory_bytes * 100.0 / (double)u->memory_limit_bytes;
}

static void percent(double v, char *out, size_t size)
{
	if (v < 0)
		snprintf(out, size, "--");
	else
		snprintf(out, size, "%.2f%%", v);
}

static void print_table(const struct reconcile_stats *s)
{
	printf("%-32s %-8s %-8s %-22s %-7s %-22s %-22s %s\n", "REPLICA", "STATE", "CPU %",
	       "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS");
	for (size_t i = 0; i < s->count; i++) {
		const struct reconcile_stats_item *it = &s->items[i];
		const struct reconcile_usage *u = &it->cur;
		char name[192], cpu[16], mem[64], memp[16], net[64], blk[64], pids[24] = "--";
		snprintf(name, sizeof(name), "%s/%s-rep-%d", it->row->deployment, it->row->service,
			 it->row->index);
		percent(reconcile_usage_cpu_percent(&it->prev, u), cpu, sizeof(cpu));
		char used[24], limit[24];
		human_bytes(u->memory_bytes, used, sizeof(used));
		if (u->memory_limit_bytes < 0 && u->memory_bytes >= 0)
			snprintf(limit, sizeof(limit), "no limit");
		else
			human_bytes(u->memory_limit_bytes, limit, sizeof(limit));
		snprintf(mem, sizeof(mem), "%s / %s", used, limit);
		percent(mem_percent(u), memp, sizeof(memp));
		pair(u->net_rx_bytes, u->net_tx_bytes, net, sizeof(net));
		pair(u->blkio_read_bytes, u->blkio_write_bytes, blk, sizeof(blk));
		if (u->pids >= 0)
			snprintf(pids, sizeof(pids), "%lld", (long long)u->pids);
		printf("%-32s %-8s %-8s %-22s %-7s %-22s %-22s %s\n", name,
		       it->running ? "running" : "gone", cpu, mem, memp, net, blk, pids);
	}
}

static void add_num(cJSON *o, const char *key, int64_t v)
{
	if (v >= 0)
		cJSON_AddNumberToObject(o, key, (double)v);
	else
		cJSON_AddNullToObject(o, key);
}

static void add_percent(cJSON *o, const char *key, double v)
{
	if (v >= 0)
		cJSON_AddNumberToObject(o, key, (double)(int64_t)(v * 100 + 0.5) / 100);
	else
		cJSON_AddNullToObject(o, key);
}

static cJSON *item_json(const struct reconcile_stats_item *it)
{
	const struct reconcile_usage *u = &it->cur;
	const struct state_replica *r = it->row;
	cJSON *o = cJSON_CreateObject();
	_cleanup_free_ char *rep = zl_xasprintf("%s-rep-%d", r->service, r->index);
	cJSON_AddStringToObject(o, "deployment", r->deployment);
	cJSON_AddStringToObject(o, "service", r->service);
	cJSON_AddStringToObject(o, "replica", rep);
	cJSON_AddStringToObject(o, "backend", r->backend ? r->backend : "");
	cJSON_AddStringToObject(o, "state", it->running ? "running" : "gone");
	add_percent(o, "cpu_percent", reconcile_usage_cpu_percent(&it->prev, u));
	add_num(o, "cpu_usage_ns", u->cpu_usage_ns);
	add_num(o, "memory_bytes", u->memory_bytes);
	add_num(o, "memory_usage_bytes", u->memory_usage_bytes);
	add_num(o, "memory_limit_bytes", u->memory_limit_bytes);
	add_percent(o, "memory_percent", mem_percent(u));
	add_num(o, "pids", u->pids);
	add_num(o, "net_rx_bytes", u->net_rx_bytes);
	add_num(o, "net_tx_bytes", u->net_tx_bytes);
	add_num(o, "blkio_read_bytes", u->blkio_read_bytes);
	add_num(o, "blkio_write_bytes", u->blkio_write_bytes);
	return o;
}

/* One array, or with lines one object per replica per line. */
static void print_json(const struct reconcile_stats *s, bool lines)
{
	cJSON *array = lines ? NULL : cJSON_CreateArray();
	for (size_t i = 0; i < s->count; i++)
		output_json_emit(item_json(&s->items[i]), array);
	if (array)
		output_json_print(stdout, array);
}

int cmd_stats(const struct cli_opts *o)
{
	struct zl_err err = ZL_ERR_INIT;
	struct reconcile_opts ropts;
	cli_base_opts(o, &ropts);
	struct reconcile_stats s;
	if (reconcile_stats_open(&ropts, o->name_count ? o->names[0] : NULL, o->args, o->arg_count,
				 &s, &err) < 0) {
		reconcile_stats_free(&s);
		return cli_fail(&err);
	}
	cli_stop_on_signals();
	bool json = o->output == CLI_OUTPUT_JSON, tty = !json && isatty(STDOUT_FILENO);
	reconcile_stats_sample(&s);
	while (!cli_stop_requested()) {
		cli_sleep_ms(SAMPLE_INTERVAL_MS);
		if (cli_stop_requested())
			break;
		reconcile_stats_sample(&s);
		if (tty && !o->no_stream)
			printf("\033[H\033[2J"); /* redraw in place, as docker stats */
		if (json)
			print_json(&s, !o->no_stream);
		else
			print_table(&s);
		fflush(stdout);
		if (o->no_stream)
			break;
	}
	reconcile_stats_free(&s);
	return 0;
}
