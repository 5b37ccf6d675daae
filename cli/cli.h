/* cli.h: zlapply's command line (private to cli/). main.c picks the verb,
 * args.c parses flags into struct cli_opts, each cmd_*.c runs one verb and
 * returns the process exit code (0 converged, 1 failure, 2 invalid input or
 * usage, 3 timeout). */
#ifndef ZL_CLI_H
#define ZL_CLI_H

#include "common/common.h"
#include "reconcile/reconcile.h"

enum cli_verb {
	CLI_APPLY = 0, CLI_DIFF, CLI_VALIDATE, CLI_STATUS, CLI_DELETE, CLI_VERSION, CLI_HELP,
	CLI_PULL, CLI_IMAGES, CLI_PRUNE, CLI_KILL, CLI_LOGS, CLI_EXEC,
	CLI_WATCH,
	CLI_DOCTOR, /* networking: zlapply doctor */
	CLI_RUN,    /* jobs/cron: zlapply run JOB */
};

enum cli_output { CLI_OUTPUT_TEXT = 0, CLI_OUTPUT_JSON };

struct cli_opts {
	enum cli_verb verb;
	bool verb_given; /* false when apply is implied */
	const char **files; /* -f, repeatable (borrowed from argv) */
	size_t file_count;
	const char **names; /* -d, repeatable */
	size_t name_count;
	const char *root;
	const char *backend;
	int64_t lock_timeout_ms;
	bool dry_run;
	bool quiet;
	bool help;
	int verbose;
	enum cli_output output;
	const char *help_topic; /* `zlapply help VERB` */
	const char **args;      /* positional arguments (pull: images) */
	size_t arg_count;
	/* images */
	const char *ca_file;
	const char **insecure;  /* --insecure-registry, repeatable */
	size_t insecure_count;
	const char *auth_file;
	const char *platform;
	char **argv_copy; /* owned: argv without the verb, for getopt */
	/* kill, logs, exec */
	const char *signal_name; /* --signal */
	bool follow, timestamps;
	long tail;               /* -1 = all */
	const char *runtime;     /* --runtime PATH */
	const char *wasm_engine; /* --wasm-engine PATH */
	const char *bridge, *subnet; /* --bridge, --subnet */
	bool fix;                /* doctor --fix */
	bool spec_only;          /* validate --spec-only: not against this host */
	/* health: apply --wait [--timeout D] */
	bool wait;
	int64_t wait_timeout_ms; /* 0 = the default (5m) */
	/* watch */
	int64_t interval_ms;     /* --interval; 0 = the default */
	const char *metrics;     /* --metrics HOST:PORT */
	bool no_heal;            /* gitops: watch --no-heal */
	struct watch_git_opts git; /* gitops: watch --git URL ... */
	bool detach;             /* jobs/cron: run --detach (--timeout: wait_timeout_ms) */
};

/* Parses argv. Returns 0, or -1 with a usage message in err (kind INPUT).
 * opts->files points into argv. Caller frees with cli_opts_free(). */
int cli_parse(int argc, char **argv, struct cli_opts *opts, struct zl_err *err);
void cli_opts_free(struct cli_opts *opts);
void cli_usage(FILE *out, enum cli_verb verb);
const char *cli_verb_name(enum cli_verb verb);
/* Verb for `zlapply help TOPIC`; -1 when unknown. */
int cli_help_topic(const char *topic, enum cli_verb *verb);

int cmd_apply(const struct cli_opts *o);    /* apply, diff, validate */
int cmd_status(const struct cli_opts *o);
int cmd_images(const struct cli_opts *o);   /* pull, images, prune */
int cmd_replica(const struct cli_opts *o);  /* kill, logs, exec */
/* The reconcile image options the flags describe. */
void cli_images_opts(const struct cli_opts *o, struct images_opts *out);
int cmd_delete(const struct cli_opts *o);
int cmd_watch(const struct cli_opts *o);
int cmd_doctor(const struct cli_opts *o); /* networking: doctor [--fix] */
int cmd_run(const struct cli_opts *o);    /* jobs/cron: run JOB [--timeout D] [--detach] */
/* The reconcile options the flags describe, for every verb that opens a
 * backend or the store (root, backend, --runtime, lock timeout, quiet,
 * bridge, subnet, images). dry_run, plan_out and the run fields are left to
 * the caller. */
void cli_base_opts(const struct cli_opts *o, struct reconcile_opts *out);
/* cli_base_opts(), checked as apply, diff and watch check them before
 * anything is touched: a bad --subnet is -1 with err (kind INPUT). */
int cli_reconcile_opts(const struct cli_opts *o, struct reconcile_opts *out, struct zl_err *err);

/* Exit code for an error kind. */
int cli_exit_code(const struct zl_err *err);
/* Prints "zlapply: error: MSG" to stderr and returns the exit code. */
int cli_fail(const struct zl_err *err);

/* output.c */
/* jobs/cron: what status shows besides replicas (either may be NULL). */
struct output_runs {
	const struct state_runs *runs;           /* kept runs of jobs and cron services */
	const struct state_schedules *schedules; /* cron: next run times */
	char *const *notes;                      /* how the backends run replicas here */
	size_t note_count;
	const char *source; /* gitops: "git URL@COMMIT" watch --git applied last; NULL none */
};
void output_status_table(FILE *out, const struct state_replicas *rows,
			 const struct output_runs *runs, int64_t now_ms);
/* stats: one per row (cgroup usage; -1 unknown) or NULL. Caller frees the text. */
char *output_status_json(const struct state_replicas *rows,
			 const struct reconcile_replica_stats *stats,
			 const struct output_runs *runs, int64_t now_ms);

#endif
