/* cli.h: zlapply's command line (private to cli/). main.c picks the verb,
 * args.c parses flags into struct cli_opts, each cmd_*.c runs one verb and
 * returns the process exit code (0 converged, 1 failure, 2 invalid input or
 * usage, 3 timeout, 4 busy, CLI_EXIT_CHANGES for diff --exit-code). */
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
	CLI_COMPLETION, /* shell: zlapply completion bash|zsh|fish */
	CLI_MAN,        /* shell: zlapply man (zlapply(1) as troff) */
	CLI_RENDER, /* render: zlapply render --to kubernetes|compose */
	CLI_EVENTS, CLI_STATS, CLI_INSPECT, /* observe: events, stats, inspect */
	CLI_HISTORY, CLI_ROLLBACK, /* history and rollback (cmd_history.c) */
};

enum cli_output { CLI_OUTPUT_TEXT = 0, CLI_OUTPUT_JSON };
enum cli_color { CLI_COLOR_AUTO = 0, CLI_COLOR_ALWAYS, CLI_COLOR_NEVER };

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
	unsigned parallel;      /* --parallel, env ZLAPPLY_PARALLEL; 0 = twice the number of cores */
	bool keep_layer_blobs;  /* --keep-layer-blobs, env ZLAPPLY_KEEP_LAYER_BLOBS */
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
	/* shell: diff --exit-code, --color */
	bool exit_code;          /* diff: exit CLI_EXIT_CHANGES when something would change */
	enum cli_color color;    /* auto: on a terminal unless NO_COLOR is set and non-empty */
	bool no_color_env;       /* NO_COLOR set and non-empty (read by cli_parse) */
	/* render: --to, --output-dir, --public-service, --publish-mode, --strict,
	 * --include-values, --secrets-dir */
	const char *render_to, *output_dir, *public_service, *publish_mode, *secrets_dir;
	bool strict, include_values;
	/* observe: events [-f] [--since D], stats [--no-stream] */
	const char *since;       /* --since, parsed by cmd_events against the clock */
	bool no_stream;
	/* history and rollback */
	bool no_rollback;        /* apply --no-rollback */
	int64_t rollback_to;     /* rollback --to REV; 0 = the previous revision */
};

/* diff --exit-code: something would change. 5 and 6 are the rollout's. */
#define CLI_EXIT_CHANGES 7

/* Parses argv. Returns 0, or -1 with a usage message in err (kind INPUT).
 * opts->files points into argv. Caller frees with cli_opts_free(). */
int cli_parse(int argc, char **argv, struct cli_opts *opts, struct zl_err *err);
void cli_opts_free(struct cli_opts *opts);
void cli_usage(FILE *out, enum cli_verb verb);
const char *cli_verb_name(enum cli_verb verb);
/* Verb for `zlapply help TOPIC`; -1 when unknown. */
int cli_help_topic(const char *topic, enum cli_verb *verb);

/* shell: the verb and flag tables of args.c, read by the completion and
 * manual page generators (completion.c) so a new verb or flag needs no
 * change there. Index i < cli_verb_count() / cli_flag_count(). */
struct cli_verb_info {
	const char *name;
	enum cli_verb verb;
	const char *usage;   /* NULL for an alias */
	const char *summary; /* NULL for an alias */
};
struct cli_flag_info {
	const char *name;  /* long name, without -- */
	int short_name;    /* 'f', or 0 when the flag has no short form */
	bool takes_value;
	const char *arg;   /* argument name ("FILE", "text|json"); NULL without a value */
	const char *help;
};
size_t cli_verb_count(void);
void cli_verb_at(size_t i, struct cli_verb_info *out);
size_t cli_flag_count(void);
void cli_flag_at(size_t i, struct cli_flag_info *out);
/* Does flag i apply to verb? */
bool cli_flag_accepts(size_t i, enum cli_verb verb);

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
int cmd_render(const struct cli_opts *o); /* render: render --to TARGET -f FILE */
int cmd_events(const struct cli_opts *o);  /* observe: events [-d NAME] [-f] [--since D] */
int cmd_stats(const struct cli_opts *o);   /* observe: stats [REPLICA...] [--no-stream] */
int cmd_inspect(const struct cli_opts *o); /* observe: inspect REPLICA */
int cmd_history(const struct cli_opts *o);  /* history -d NAME [-o text|json] */
int cmd_rollback(const struct cli_opts *o); /* rollback -d NAME [--to REV] */
/* Exit codes of a failed rollout (docs/user-guide.md, exit codes). */
#define CLI_EXIT_ROLLOUT_STOPPED 5 /* stopped where it failed (--no-rollback) */
#define CLI_EXIT_ROLLED_BACK 6     /* stopped and the previous revision put back */
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

/* stream.c: verbs that print until interrupted (events -f, stats) */
struct cJSON;
/* SIGINT and SIGTERM set the stop flag (and cut a sleep short). */
void cli_stop_on_signals(void);
bool cli_stop_requested(void);
void cli_sleep_ms(int64_t ms);
/* -o json of a list: item goes into array, or with array NULL is printed as
 * one line (JSON Lines); either way the caller no longer owns it. */
void output_json_emit(struct cJSON *item, struct cJSON *array);

/* output.c */
/* jobs/cron: what status shows besides replicas (either may be NULL). */
struct output_runs {
	const struct state_runs *runs;           /* kept runs of jobs and cron services */
	const struct state_schedules *schedules; /* cron: next run times */
	char *const *notes;                      /* how the backends run replicas here */
	size_t note_count;
	const char *source; /* gitops: "git URL@COMMIT" watch --git applied last; NULL none */
};
/* color: the STATE column in ANSI colours (cli_color()). */
void output_status_table(FILE *out, const struct state_replicas *rows,
			 const struct output_runs *runs, int64_t now_ms, bool color);
/* stats: one per row (cgroup usage; -1 unknown) or NULL. Caller frees the text. */
char *output_status_json(const struct state_replicas *rows,
			 const struct reconcile_replica_stats *stats,
			 const struct output_runs *runs, int64_t now_ms);

/* output_json.c: -o json documents (docs/user-guide.md, "Output for scripts") */
struct cJSON;
/* Prints root (pretty) and a newline on out, then deletes root. */
void output_json_print(FILE *out, struct cJSON *root);
/* obj[key] = value, or null when value is NULL. */
void output_json_string_or_null(struct cJSON *obj, const char *key, const char *value);
/* The actions of a plan or an apply, collected through
 * reconcile_opts.on_action = output_plan_action, action_ctx = the plan. */
struct output_plan {
	struct cJSON *actions;
};
void output_plan_init(struct output_plan *p);
void output_plan_action(const struct reconcile_action *a, void *ctx);
/* Prints {dry_run, planned, done, failed, actions} and empties p. */
void output_plan_print(FILE *out, struct output_plan *p, bool dry_run,
		       const struct reconcile_result *res);
void output_plan_release(struct output_plan *p);
/* validate -o json: {valid, deployments, services, errors, problems}. */
void output_validate_json(FILE *out, const struct spec_set *set, const struct spec_diags *diags,
			  bool valid);
/* doctor -o json: {fix, findings: [{kind, name, detail, backend, fixed,
 * error}], left, foreign, notes}. */
void output_doctor_json(FILE *out, const struct doctor_report *rep, bool fix);
/* pull -o json: {images: [{image, reference, digest, error}]}, one entry
 * per IMAGE added as it is pulled; print with output_json_print(). */
struct cJSON *output_pull_json_new(void);
void output_pull_json_add(struct cJSON *root, const char *image, const char *reference,
			  const char *digest, const char *error);
/* prune -o json: {removed_images, freed_bytes}. */
void output_prune_json(FILE *out, size_t removed, int64_t freed);
/* run -o json: {job, deployment, detached, timed_out, replicas: [{replica,
 * exit_code, exit_signal, duration_ms, status, stopped, error}]}. */
void output_run_json(FILE *out, const char *job, const char *deployment, bool detached,
		     const struct reconcile_run_ends *ends);
/* kill -o json: {signal, replicas: [{replica, error}]}, one entry per
 * replica signalled (or not: error); print with output_json_print(). */
struct cJSON *output_kill_json_new(const char *signal_name);
void output_kill_json_add(struct cJSON *root, const char *replica, const char *error);

/* version -o json: {"version": "0.1.0"}. */
void output_version_json(FILE *out);

/* completion.c: zlapply completion bash|zsh|fish, from the tables */
int cmd_completion(const struct cli_opts *o);
/* man.c: zlapply man: zlapply(1) in troff, from the tables */
int cmd_man(const struct cli_opts *o);
/* output.c: should output to f be coloured? --color always|never decide;
 * auto colours a terminal unless NO_COLOR is set and non-empty; -o json never. */
bool cli_color(const struct cli_opts *o, FILE *f);

#endif
