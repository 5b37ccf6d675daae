/* cmd_watch.c: zlapply watch -f PATH [--interval D] [--metrics HOST:PORT].
 * The flags become the same reconcile options apply uses; the loop itself
 * lives in reconcile/watch.c. Exit 0 after SIGTERM or SIGINT, 2 for bad
 * input found at start, 1 when it cannot start (address in use, ...). */
#include "cli.h"

int cmd_watch(const struct cli_opts *o)
{
	struct zl_err err = ZL_ERR_INIT;
	struct watch_opts w = {
		.paths = o->files,
		.path_count = o->file_count,
		.interval_ms = o->interval_ms,
		.metrics_addr = o->metrics,
		.no_heal = o->no_heal,
		.git = o->git,
	};
	if (cli_reconcile_opts(o, &w.apply, &err) < 0 || reconcile_watch(&w, &err) < 0)
		return cli_fail(&err);
	return 0;
}
