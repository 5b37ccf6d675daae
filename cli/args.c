/* args.c: flags of every verb, parsed with getopt_long. One table serves all
 * verbs; each flag lists the verbs that accept it, so a flag given to the
 * wrong verb gets a clear message instead of being ignored. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <string.h>
#include <strings.h>

#define V(v) (1u << (v))
#define ALL_VERBS (V(CLI_APPLY) | V(CLI_DIFF) | V(CLI_VALIDATE) | V(CLI_STATUS) | V(CLI_DELETE) | \
		   V(CLI_VERSION) | V(CLI_HELP) | V(CLI_PULL) | V(CLI_IMAGES) | V(CLI_PRUNE) | \
		   V(CLI_KILL) | V(CLI_LOGS) | V(CLI_EXEC) | V(CLI_WATCH) | V(CLI_DOCTOR) | V(CLI_RUN) | \
		   V(CLI_COMPLETION) | V(CLI_MAN) | V(CLI_RENDER) | OBSERVE_VERBS | \
		   V(CLI_HISTORY) | V(CLI_ROLLBACK))
/* observe: events, stats, inspect read the store (and cgroups), never lock */
#define OBSERVE_VERBS (V(CLI_EVENTS) | V(CLI_STATS) | V(CLI_INSPECT))
#define REPLICA_VERBS (V(CLI_KILL) | V(CLI_LOGS) | V(CLI_EXEC))
#define STATEFUL (V(CLI_APPLY) | V(CLI_DIFF) | V(CLI_STATUS) | V(CLI_DELETE) | V(CLI_PULL) | \
		  V(CLI_IMAGES) | V(CLI_PRUNE) | REPLICA_VERBS | V(CLI_WATCH) | V(CLI_DOCTOR) | \
		  V(CLI_RUN) | OBSERVE_VERBS | V(CLI_HISTORY) | V(CLI_ROLLBACK))
#define PULLING (V(CLI_APPLY) | V(CLI_PULL) | V(CLI_WATCH) | V(CLI_RUN) | V(CLI_ROLLBACK))
/* verbs that carry out actions: --parallel */
#define PARALLEL_VERBS (V(CLI_APPLY) | V(CLI_DELETE) | V(CLI_WATCH) | V(CLI_RUN) | V(CLI_ROLLBACK))
#define LOCKING (V(CLI_APPLY) | V(CLI_DELETE) | V(CLI_PULL) | V(CLI_PRUNE) | V(CLI_DOCTOR) | \
		 V(CLI_RUN) | V(CLI_ROLLBACK))

enum { OPT_ROOT = 1000, OPT_BACKEND, OPT_LOCK_TIMEOUT, OPT_DRY_RUN, OPT_CA_FILE, OPT_INSECURE,
       OPT_AUTH_FILE, OPT_PLATFORM, OPT_SIGNAL, OPT_TAIL, OPT_TIMESTAMPS, OPT_FOLLOW,
       OPT_RUNTIME, OPT_WASM_ENGINE, OPT_BRIDGE, OPT_SUBNET, OPT_INTERVAL, OPT_METRICS,
       OPT_FIX, OPT_SPEC_ONLY, OPT_KEEP_LAYER_BLOBS,
       OPT_WAIT, OPT_WAIT_TIMEOUT /* health: --wait, --timeout */,
       OPT_DETACH /* jobs/cron: run --detach */,
       OPT_EXIT_CODE, OPT_COLOR /* shell: diff --exit-code, --color */,
       OPT_RENDER_TO, OPT_OUTPUT_DIR, OPT_PUBLIC_SERVICE, OPT_PUBLISH_MODE, OPT_STRICT, OPT_INCLUDE_VALUES, OPT_SECRETS_DIR /* render */,
       OPT_SINCE, OPT_NO_STREAM /* observe: events --since, stats --no-stream */,
       OPT_NO_ROLLBACK, OPT_ROLLBACK_TO /* history and rollback */,
       OPT_NO_HEAL, OPT_GIT, OPT_BRANCH, OPT_GIT_PATH, OPT_WEBHOOK, OPT_WEBHOOK_SECRET,
       OPT_GIT_SSH_KEY, OPT_GIT_TOKEN, OPT_GIT_HOST_KEY, OPT_GIT_CA_FILE /* gitops: watch */,
       OPT_PARALLEL /* parallel execution */ };

/* shell: verbs that print data take -o json; verbs that print a table or a
 * plan take --color. */
#define PRINTING (V(CLI_APPLY) | V(CLI_DIFF) | V(CLI_VALIDATE) | V(CLI_STATUS) | V(CLI_DELETE) | \
		  V(CLI_PULL) | V(CLI_IMAGES) | V(CLI_PRUNE) | V(CLI_DOCTOR) | V(CLI_RUN) | V(CLI_KILL) | \
		  V(CLI_VERSION) | OBSERVE_VERBS | V(CLI_HISTORY))
#define COLORED (V(CLI_APPLY) | V(CLI_DIFF) | V(CLI_STATUS) | V(CLI_DELETE))

struct flag {
	struct option opt;
	unsigned verbs;
	const char *arg;  /* argument name for help, NULL if none */
	const char *help;
};

static const struct flag flags[] = {
	{ { "file", required_argument, NULL, 'f' }, V(CLI_APPLY) | V(CLI_DIFF) | V(CLI_VALIDATE) | V(CLI_DELETE) | V(CLI_WATCH) | V(CLI_RUN) | V(CLI_RENDER),
	  "FILE|DIR|-", "deployment spec: a file, a directory of *.yaml/*.yml, or - for stdin (repeatable)" },
	{ { "deployment", required_argument, NULL, 'd' }, V(CLI_STATUS) | V(CLI_DELETE) | REPLICA_VERBS | V(CLI_RUN) | OBSERVE_VERBS |
							 V(CLI_HISTORY) | V(CLI_ROLLBACK),
	  "NAME", "a deployment by name (delete: repeatable)" },
	{ { "signal", required_argument, NULL, OPT_SIGNAL }, V(CLI_KILL),
	  "SIGNAL", "KILL (default), TERM, INT, HUP, USR1 or USR2; with or without SIG, any case" },
	{ { "follow", no_argument, NULL, OPT_FOLLOW }, V(CLI_LOGS) | V(CLI_EVENTS),
	  NULL, "keep printing new output until the replica exits (also -f); events: new events until interrupted" },
	/* observe */
	{ { "since", required_argument, NULL, OPT_SINCE }, V(CLI_EVENTS),
	  "D|TIME", "only events since a duration ago (10m, 1h30m) or an RFC 3339 time" },
	{ { "no-stream", no_argument, NULL, OPT_NO_STREAM }, V(CLI_STATS),
	  NULL, "print one sample and exit instead of refreshing" },
	{ { "tail", required_argument, NULL, OPT_TAIL }, V(CLI_LOGS),
	  "N", "only the last N lines" },
	{ { "timestamps", no_argument, NULL, OPT_TIMESTAMPS }, V(CLI_LOGS),
	  NULL, "prefix each line with its time (also -t)" },
	{ { "runtime", required_argument, NULL, OPT_RUNTIME }, V(CLI_APPLY) | V(CLI_DELETE) | REPLICA_VERBS | V(CLI_WATCH) | V(CLI_RUN) | V(CLI_ROLLBACK),
	  "PATH", "OCI runtime for the oci backend (crun, runc, youki; env ZLAPPLY_RUNTIME)" },
	{ { "wasm-engine", required_argument, NULL, OPT_WASM_ENGINE }, V(CLI_APPLY) | V(CLI_DELETE) | REPLICA_VERBS | V(CLI_WATCH) | V(CLI_RUN) | V(CLI_ROLLBACK),
	  "PATH", "WASI engine for WASM replicas (a Node.js with node:wasi; default: node in $PATH, remembered)" },
	{ { "parallel", required_argument, NULL, OPT_PARALLEL }, PARALLEL_VERBS,
	  "N", "carry out up to N independent actions at once (env ZLAPPLY_PARALLEL; default: twice the number of cores)" },
	{ { "dry-run", no_argument, NULL, OPT_DRY_RUN }, V(CLI_APPLY) | V(CLI_DELETE),
	  NULL, "print the plan, change nothing" },
	{ { "output", required_argument, NULL, 'o' }, PRINTING,
	  "text|json", "output format (json: see \"Output for scripts\" in the user guide)" },
	/* shell: diff --exit-code, --color */
	{ { "exit-code", no_argument, NULL, OPT_EXIT_CODE }, V(CLI_DIFF),
	  NULL, "exit 7 when something would change, 0 when nothing would" },
	{ { "color", required_argument, NULL, OPT_COLOR }, COLORED,
	  "auto|always|never", "colour the output (auto: on a terminal, unless NO_COLOR is set)" },
	{ { "root", required_argument, NULL, OPT_ROOT }, STATEFUL | V(CLI_COMPLETION),
	  "DIR", "state root (env ZLAPPLY_ROOT; default /var/lib/zlapply)" },
	{ { "backend", required_argument, NULL, OPT_BACKEND }, STATEFUL,
	  "NAME", "container backend: oci (default) or mock (env ZLAPPLY_BACKEND)" },
	{ { "lock-timeout", required_argument, NULL, OPT_LOCK_TIMEOUT }, LOCKING,
	  "DURATION", "how long to wait for another zlapply's lock (default 60s)" },
	{ { "bridge", required_argument, NULL, OPT_BRIDGE }, V(CLI_APPLY) | V(CLI_DIFF) | V(CLI_DELETE) | V(CLI_WATCH) | V(CLI_DOCTOR) | V(CLI_RUN) | V(CLI_ROLLBACK),
	  "NAME", "bridge replicas attach to (env ZLAPPLY_BRIDGE; default zl0)" },
	{ { "subnet", required_argument, NULL, OPT_SUBNET }, V(CLI_APPLY) | V(CLI_DIFF) | V(CLI_DELETE) | V(CLI_WATCH) | V(CLI_DOCTOR) | V(CLI_RUN) | V(CLI_ROLLBACK),
	  "CIDR", "the bridge's IPv4 subnet (env ZLAPPLY_SUBNET; default 10.213.0.0/16)" },
	{ { "ca-file", required_argument, NULL, OPT_CA_FILE }, PULLING,
	  "FILE", "also trust the CA certificates in FILE for registry TLS" },
	{ { "insecure-registry", required_argument, NULL, OPT_INSECURE }, PULLING,
	  "HOST[:PORT]", "allow plain HTTP for this registry (repeatable; loopback always may)" },
	{ { "authfile", required_argument, NULL, OPT_AUTH_FILE }, PULLING,
	  "FILE", "registry credentials (default $REGISTRY_AUTH_FILE, ~/.docker/config.json)" },
	{ { "platform", required_argument, NULL, OPT_PLATFORM }, PULLING,
	  "OS/ARCH[/VARIANT]", "pick this platform from multi-platform images (default: this host)" },
	{ { "keep-layer-blobs", no_argument, NULL, OPT_KEEP_LAYER_BLOBS }, PULLING,
	  NULL, "keep layers' compressed blobs after unpacking them (env ZLAPPLY_KEEP_LAYER_BLOBS=1; default: removed)" },
	{ { "interval", required_argument, NULL, OPT_INTERVAL }, V(CLI_WATCH),
	  "DURATION", "read the files (--git: fetch) and apply this often even without a change (default 30s)" },
	{ { "metrics", required_argument, NULL, OPT_METRICS }, V(CLI_WATCH),
	  "HOST:PORT", "serve Prometheus metrics at http://HOST:PORT/metrics (e.g. 127.0.0.1:9464)" },
	/* gitops: watch --no-heal, watch --git */
	{ { "no-heal", no_argument, NULL, OPT_NO_HEAL }, V(CLI_WATCH),
	  NULL, "report drift (replicas exited, lost, missing) but apply only when the spec changes" },
	{ { "git", required_argument, NULL, OPT_GIT }, V(CLI_WATCH),
	  "URL", "follow a git repository (file://, git://, ssh://, https://) instead of -f" },
	{ { "branch", required_argument, NULL, OPT_BRANCH }, V(CLI_WATCH),
	  "BRANCH", "--git: the branch whose head is applied (default main)" },
	{ { "path", required_argument, NULL, OPT_GIT_PATH }, V(CLI_WATCH),
	  "DIR", "--git: the directory of the repository holding the specs (default: its top)" },
	{ { "webhook", required_argument, NULL, OPT_WEBHOOK }, V(CLI_WATCH),
	  "HOST:PORT", "--git: fetch now on a signed POST (GitHub, Gitea) to http://HOST:PORT/" },
	{ { "webhook-secret-file", required_argument, NULL, OPT_WEBHOOK_SECRET }, V(CLI_WATCH),
	  "FILE", "--webhook: the file holding the HMAC-SHA256 secret" },
	{ { "git-ssh-key", required_argument, NULL, OPT_GIT_SSH_KEY }, V(CLI_WATCH),
	  "FILE", "--git ssh://: the private key file (no passphrase)" },
	{ { "git-token-file", required_argument, NULL, OPT_GIT_TOKEN }, V(CLI_WATCH),
	  "FILE", "--git https://: a file holding an access token (or USER:TOKEN)" },
	{ { "git-host-key", required_argument, NULL, OPT_GIT_HOST_KEY }, V(CLI_WATCH),
	  "SHA256:FP", "--git ssh://: accept only this host key fingerprint (ssh-keygen -lf)" },
	{ { "git-ca-file", required_argument, NULL, OPT_GIT_CA_FILE }, V(CLI_WATCH),
	  "FILE", "--git https://: also trust the CA certificates in this PEM file" },
	/* health: --wait [--timeout D] */
	{ { "wait", no_argument, NULL, OPT_WAIT }, V(CLI_APPLY),
	  NULL, "after the apply, wait until every replica is ready (exit 3 on timeout)" },
	{ { "timeout", required_argument, NULL, OPT_WAIT_TIMEOUT }, V(CLI_APPLY) | V(CLI_RUN),
	  "DURATION", "how long --wait waits (default 5m); run: stop the run after this long" },
	/* jobs/cron: run --detach */
	{ { "detach", no_argument, NULL, OPT_DETACH }, V(CLI_RUN),
	  NULL, "start the run and return without waiting for it to end" },
	{ { "spec-only", no_argument, NULL, OPT_SPEC_ONLY }, V(CLI_VALIDATE),
	  NULL, "check the spec alone, not against this host (bind sources, devices, what zlapply may grant)" },
	/* render */
	{ { "to", required_argument, NULL, OPT_RENDER_TO }, V(CLI_RENDER),
	  "kubernetes|compose", "the engine to render for (required)" },
	{ { "output-dir", required_argument, NULL, OPT_OUTPUT_DIR }, V(CLI_RENDER),
	  "DIR", "write one file per object under DIR instead of printing one stream" },
	{ { "public-service", required_argument, NULL, OPT_PUBLIC_SERVICE }, V(CLI_RENDER),
	  "loadbalancer|nodeport", "Kubernetes Service type of expose: public endpoints (default loadbalancer)" },
	{ { "publish-mode", required_argument, NULL, OPT_PUBLISH_MODE }, V(CLI_RENDER),
	  "ingress|host", "how Swarm publishes expose: public endpoints (default ingress)" },
	{ { "include-values", no_argument, NULL, OPT_INCLUDE_VALUES }, V(CLI_RENDER),
	  NULL, "resolve $E:/$S: env as apply does and put the values in the output" },
	{ { "secrets-dir", required_argument, NULL, OPT_SECRETS_DIR }, V(CLI_RENDER),
	  "DIR", "with --include-values: where $S:NAME secrets are (a file per secret)" },
	{ { "strict", no_argument, NULL, OPT_STRICT }, V(CLI_RENDER),
	  NULL, "a key that cannot map is an error (exit 2, nothing written)" },
	/* history and rollback */
	{ { "no-rollback", no_argument, NULL, OPT_NO_ROLLBACK }, V(CLI_APPLY),
	  NULL, "a rollout whose new replica is not ready in time stops there (exit 5) instead of putting the previous revision back (exit 6)" },
	{ { "to", required_argument, NULL, OPT_ROLLBACK_TO }, V(CLI_ROLLBACK),
	  "REV", "the revision to apply again (default: the one before the newest; see 'zlapply history')" },
	{ { "fix", no_argument, NULL, OPT_FIX }, V(CLI_DOCTOR),
	  NULL, "remove what no replica owns (default: only list it)" },
	{ { "quiet", no_argument, NULL, 'q' }, ALL_VERBS, NULL, "no progress output" },
	{ { "verbose", no_argument, NULL, 'v' }, ALL_VERBS, NULL, "more log output (repeatable)" },
	{ { "help", no_argument, NULL, 'h' }, ALL_VERBS, NULL, "show help" },
};
#define FLAG_COUNT (sizeof(flags) / sizeof(flags[0]))

static const struct {
	const char *name;
	enum cli_verb verb;
	const char *usage;
	const char *summary;
} verbs[] = {
	{ "apply", CLI_APPLY, "zlapply [apply] -f FILE|DIR|- [--dry-run] [flags]",
	  "make the host match the spec (the default verb)" },
	{ "diff", CLI_DIFF, "zlapply diff -f FILE|DIR|- [flags]",
	  "print what apply would do, one line per action" },
	{ "validate", CLI_VALIDATE, "zlapply validate -f FILE|DIR|-",
	  "check specs and print every problem with file:line:col" },
	{ "status", CLI_STATUS, "zlapply status [-d NAME] [-o text|json] [flags]",
	  "show every replica: state, PID, IP, exit code (alias: ps)" },
	{ "ps", CLI_STATUS, NULL, NULL },
	{ "delete", CLI_DELETE, "zlapply delete -f FILE | -d NAME [flags]",
	  "remove a deployment's replicas and records" },
	{ "pull", CLI_PULL, "zlapply pull IMAGE... [flags]",
	  "download images into the local store and unpack them" },
	{ "images", CLI_IMAGES, "zlapply images [-o text|json]",
	  "list stored images: reference, digest, size, last used" },
	{ "prune", CLI_PRUNE, "zlapply prune",
	  "remove images, layers and blobs no replica uses; print the bytes freed" },
	{ "kill", CLI_KILL, "zlapply kill SVC[-rep-N] [--signal S] [-d NAME]",
	  "send a signal to a service's replicas or to one replica" },
	{ "logs", CLI_LOGS, "zlapply logs SVC[-rep-N] [-f] [--tail N] [--timestamps] [-d NAME]",
	  "print a replica's output" },
	{ "exec", CLI_EXEC, "zlapply exec SVC[-rep-N] [-d NAME] -- CMD [ARG...]",
	  "run a command inside a replica; exits with the command's exit code" },
	{ "watch", CLI_WATCH, "zlapply watch -f FILE|DIR | --git URL [--branch B] [--path DIR] [--interval D] [--metrics HOST:PORT] [flags]",
	  "keep applying: when the files (or the --git branch) change, every --interval and when a replica exits" },
	{ "doctor", CLI_DOCTOR, "zlapply doctor [--fix] [flags]",
	  "list (--fix: remove) netns, veths, leases, mounts, dirs, monitors and port rules no replica owns" },
	{ "run", CLI_RUN, "zlapply run JOB [-f FILE] [-d NAME] [--timeout D | --detach] [flags]",
	  "run a job (or cron service) now, wait for it to end, exit with its result" },
	{ "completion", CLI_COMPLETION, "zlapply completion bash|zsh|fish|deployments [--root DIR]",
	  "print a shell completion script (bash: source <(zlapply completion bash)); deployments: the names under the root" },
	{ "man", CLI_MAN, "zlapply man", "print the zlapply(1) manual page (troff: zlapply man | man -l -)" },
	{ "render", CLI_RENDER, "zlapply render --to kubernetes|compose -f FILE|DIR|- [--output-dir DIR] [--strict]",
	  "print the spec as Kubernetes manifests or a Compose file for Swarm (docs/scale-out.md)" },
	{ "events", CLI_EVENTS, "zlapply events [-d NAME] [-f] [--since D|TIME] [-o text|json]",
	  "what happened to replicas and images, with time and reason; -f follows new ones" },
	{ "stats", CLI_STATS, "zlapply stats [REPLICA...] [-d NAME] [--no-stream] [-o text|json]",
	  "cpu %, memory, pids, network and block i/o of running replicas, refreshing" },
	{ "inspect", CLI_INSPECT, "zlapply inspect REPLICA [-d NAME] [-o text|json]",
	  "everything known about one replica: spec, backend, mounts, network, health, exits" },
	{ "history", CLI_HISTORY, "zlapply history -d NAME [-o text|json]",
	  "list a deployment's revisions: number, time, status, cause, hash, source" },
	{ "rollback", CLI_ROLLBACK, "zlapply rollback -d NAME [--to REV] [flags]",
	  "apply a kept revision of a deployment again (default: the previous one)" },
	{ "version", CLI_VERSION, "zlapply version", "print the version" },
	{ "help", CLI_HELP, "zlapply help [VERB]", "show help" },
};
#define VERB_COUNT (sizeof(verbs) / sizeof(verbs[0]))

const char *cli_verb_name(enum cli_verb verb)
{
	for (size_t i = 0; i < VERB_COUNT; i++)
		if (verbs[i].verb == verb)
			return verbs[i].name;
	return "?";
}

static int verb_lookup(const char *name, enum cli_verb *verb)
{
	for (size_t i = 0; i < VERB_COUNT; i++)
		if (strcmp(verbs[i].name, name) == 0) {
			*verb = verbs[i].verb;
			return 0;
		}
	return -1;
}

void cli_usage(FILE *out, enum cli_verb verb)
{
	if (verb == CLI_HELP) {
		fprintf(out, "zlapply keeps this host's containers as deployment specs describe.\n\n"
			     "Usage: zlapply [VERB] [flags]\n\nVerbs:\n");
		for (size_t i = 0; i < VERB_COUNT; i++)
			if (verbs[i].summary)
				fprintf(out, "  %-9s %s\n", verbs[i].name, verbs[i].summary);
		fprintf(out, "\nExit codes: 0 converged, 1 failure, 2 invalid input or usage, "
			     "3 not converged\nbefore a timeout, 4 busy (another zlapply held the lock), "
			     "5 a rollout stopped\n(--no-rollback), 6 a rollout rolled back to the "
			     "previous revision, 7 diff --exit-code: changes pending.\n"
			     "Run 'zlapply VERB --help' for a verb's flags.\n");
		return;
	}
	for (size_t i = 0; i < VERB_COUNT; i++)
		if (verbs[i].verb == verb && verbs[i].usage) {
			fprintf(out, "Usage: %s\n\n%s.\n\nFlags:\n", verbs[i].usage, verbs[i].summary);
			break;
		}
	for (size_t i = 0; i < FLAG_COUNT; i++) {
		if (!(flags[i].verbs & V(verb)))
			continue;
		char left[64];
		if (flags[i].opt.val < 256)
			snprintf(left, sizeof(left), "-%c, --%s%s%s", flags[i].opt.val, flags[i].opt.name,
				 flags[i].arg ? " " : "", flags[i].arg ? flags[i].arg : "");
		else
			snprintf(left, sizeof(left), "    --%s%s%s", flags[i].opt.name,
				 flags[i].arg ? " " : "", flags[i].arg ? flags[i].arg : "");
		fprintf(out, "  %-32s %s\n", left, flags[i].help);
	}
}

static const struct flag *flag_by_val(int val)
{
	for (size_t i = 0; i < FLAG_COUNT; i++)
		if (flags[i].opt.val == val)
			return &flags[i];
	return NULL;
}

/* Does this argument (a flag) consume the next one as its value? */
static bool flag_takes_value(const char *a)
{
	if (a[1] != '-') /* short flags: -f, -d, -o take a value unless glued (-fX) */
		return a[2] == '\0' && strchr("fdo", a[1]) != NULL;
	if (strchr(a, '='))
		return false;
	for (size_t i = 0; i < FLAG_COUNT; i++)
		if (strcmp(a + 2, flags[i].opt.name) == 0)
			return flags[i].opt.has_arg == required_argument;
	return false;
}

/* Appends value; the list stays NULL-terminated (exec passes it as argv). */
static void push(const char ***list, size_t *count, const char *value)
{
	*list = zl_xrealloc(*list, (*count + 2) * sizeof(**list));
	(*list)[(*count)++] = value;
	(*list)[*count] = NULL;
}

/* --parallel and ZLAPPLY_PARALLEL: 1..CLI_PARALLEL_MAX actions at once. */
#define CLI_PARALLEL_MAX 1024
static int parse_parallel(const char *what, const char *text, unsigned *out, struct zl_err *err)
{
	char *end = NULL;
	errno = 0;
	long v = strtol(text, &end, 10);
	if (!*text || *end || errno || v < 1 || v > CLI_PARALLEL_MAX)
		return zl_invalid(err, "%s: expected a number of actions from 1 to %d, got \"%s\"", what,
				  CLI_PARALLEL_MAX, text);
	*out = (unsigned)v;
	return 0;
}

int cli_parse(int argc, char **argv, struct cli_opts *o, struct zl_err *err)
{
	memset(o, 0, sizeof(*o));
	o->verb = CLI_APPLY;
	o->lock_timeout_ms = 60000;
	o->root = getenv("ZLAPPLY_ROOT");
	if (!o->root || !*o->root)
		o->root = "/var/lib/zlapply";
	o->bridge = getenv("ZLAPPLY_BRIDGE");
	o->subnet = getenv("ZLAPPLY_SUBNET");
	o->backend = getenv("ZLAPPLY_BACKEND");
	if (!o->backend || !*o->backend)
		o->backend = "oci";
	const char *no_color = getenv("NO_COLOR"); /* https://no-color.org: set and non-empty */
	o->no_color_env = no_color && *no_color;
	o->runtime = getenv("ZLAPPLY_RUNTIME"); /* read here, passed on as an argument */
	const char *keep = getenv("ZLAPPLY_KEEP_LAYER_BLOBS");
	o->keep_layer_blobs = keep && (!strcmp(keep, "1") || !strcasecmp(keep, "true") || !strcasecmp(keep, "yes"));
	if (o->runtime && !*o->runtime)
		o->runtime = NULL;

	/* The verb is the first argument that is not a flag or a flag's value,
	 * so `zlapply --root R status` works as well as `zlapply status --root R`. */
	int verb_at = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0)
			break;
		if (a[0] != '-' || a[1] == '\0') {
			if (a[0] == '-')
				continue; /* "-" is stdin for -f, never a verb */
			if (verb_lookup(a, &o->verb) < 0)
				return zl_invalid(err, "unknown verb \"%s\" (run 'zlapply --help')", a);
			verb_at = i;
			o->verb_given = true;
			break;
		}
		if (flag_takes_value(a))
			i++;
	}
	/* getopt sees argv without the verb. */
	char **args = zl_xcalloc((size_t)argc + 1, sizeof(char *));
	int nargs = 0;
	for (int i = 0; i < argc; i++)
		if (i != verb_at || verb_at == 0)
			args[nargs++] = argv[i];
	o->argv_copy = args;

	/* The verb's own flags first: two verbs may give one name different
	 * meanings (render --to TARGET, rollback --to REV), and getopt_long
	 * takes the first entry of a name. The others stay, so a flag of
	 * another verb is named as such instead of "unknown". */
	struct option longopts[FLAG_COUNT + 1];
	size_t n_long = 0;
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < FLAG_COUNT; i++)
			if (!(flags[i].verbs & V(o->verb)) == (pass == 1))
				longopts[n_long++] = flags[i].opt;
	memset(&longopts[FLAG_COUNT], 0, sizeof(longopts[0]));

	optind = 1;
	opterr = 0;
	int c;
	/* logs: -f is --follow (as in docker logs), -t is --timestamps; events: -f is --follow. */
	const char *shortopts = o->verb == CLI_LOGS ? ":fd:tqvh" :
				o->verb == CLI_EVENTS ? ":fd:o:qvh" : ":f:d:o:qvh";
	o->tail = -1;
	while ((c = getopt_long(nargs, args, shortopts, longopts, NULL)) != -1) {
		if (o->verb == CLI_LOGS && (c == 'f' || c == 't')) {
			if (c == 'f')
				o->follow = true;
			else
				o->timestamps = true;
			continue;
		}
		if (o->verb == CLI_EVENTS && c == 'f') {
			o->follow = true;
			continue;
		}
		if (c == '?') {
			const char *bad = args[optind - 1];
			if (optopt)
				return zl_invalid(err, "unknown flag -%c (run 'zlapply %s --help')", optopt,
						  cli_verb_name(o->verb));
			return zl_invalid(err, "unknown flag %s (run 'zlapply %s --help')", bad,
					  cli_verb_name(o->verb));
		}
		if (c == ':')
			return zl_invalid(err, "flag %s needs a value", args[optind - 1]);
		const struct flag *f = flag_by_val(c);
		/* help explains whatever flags come with it. */
		if (!f || (!(f->verbs & V(o->verb)) && o->verb != CLI_HELP))
			return zl_invalid(err, "flag --%s does not apply to '%s' (run 'zlapply %s --help')",
					  f ? f->opt.name : "?", cli_verb_name(o->verb),
					  cli_verb_name(o->verb));
		switch (c) {
		case 'f': push(&o->files, &o->file_count, optarg); break;
		case 'd': push(&o->names, &o->name_count, optarg); break;
		case 'o':
			if (strcmp(optarg, "json") == 0)
				o->output = CLI_OUTPUT_JSON;
			else if (strcmp(optarg, "text") == 0)
				o->output = CLI_OUTPUT_TEXT;
			else
				return zl_invalid(err, "--output: expected text|json, got \"%s\"", optarg);
			break;
		case 'q': o->quiet = true; break;
		case 'v': o->verbose++; break;
		case 'h': o->help = true; break;
		case OPT_ROOT: o->root = optarg; break;
		case OPT_BACKEND: o->backend = optarg; break;
		case OPT_DRY_RUN: o->dry_run = true; break;
		case OPT_CA_FILE: o->ca_file = optarg; break;
		case OPT_INSECURE: push(&o->insecure, &o->insecure_count, optarg); break;
		case OPT_AUTH_FILE: o->auth_file = optarg; break;
		case OPT_PLATFORM: o->platform = optarg; break;
		case OPT_SIGNAL: o->signal_name = optarg; break;
		case OPT_FOLLOW: o->follow = true; break;
		case OPT_TIMESTAMPS: o->timestamps = true; break;
		case OPT_RUNTIME: o->runtime = optarg; break;
		case OPT_WASM_ENGINE: o->wasm_engine = optarg; break;
		case OPT_BRIDGE: o->bridge = optarg; break;
		case OPT_SUBNET: o->subnet = optarg; break;
		case OPT_WAIT: o->wait = true; break; /* health: --wait */
		case OPT_DETACH: o->detach = true; break; /* jobs/cron: run --detach */
		case OPT_EXIT_CODE: o->exit_code = true; break; /* shell */
		case OPT_COLOR:
			if (strcmp(optarg, "auto") == 0)
				o->color = CLI_COLOR_AUTO;
			else if (strcmp(optarg, "always") == 0)
				o->color = CLI_COLOR_ALWAYS;
			else if (strcmp(optarg, "never") == 0)
				o->color = CLI_COLOR_NEVER;
			else
				return zl_invalid(err, "--color: expected auto|always|never, got \"%s\"", optarg);
			break;
		case OPT_WAIT_TIMEOUT:
			if (reconcile_parse_duration(optarg, &o->wait_timeout_ms, err) < 0)
				return zl_err_prefix(err, "--timeout");
			if (o->wait_timeout_ms <= 0)
				return zl_invalid(err, "--timeout: expected a duration > 0, got \"%s\"", optarg);
			break;
		case OPT_METRICS: o->metrics = optarg; break;
		case OPT_NO_HEAL: o->no_heal = true; break; /* gitops */
		case OPT_GIT: o->git.url = optarg; break;
		case OPT_BRANCH: o->git.branch = optarg; break;
		case OPT_GIT_PATH: o->git.path = optarg; break;
		case OPT_WEBHOOK: o->git.webhook = optarg; break;
		case OPT_WEBHOOK_SECRET: o->git.webhook_secret_file = optarg; break;
		case OPT_GIT_SSH_KEY: o->git.ssh_key_file = optarg; break;
		case OPT_GIT_TOKEN: o->git.token_file = optarg; break;
		case OPT_GIT_HOST_KEY: o->git.host_key = optarg; break;
		case OPT_GIT_CA_FILE: o->git.ca_file = optarg; break;
		case OPT_FIX: o->fix = true; break;
		case OPT_SPEC_ONLY: o->spec_only = true; break;
		case OPT_KEEP_LAYER_BLOBS: o->keep_layer_blobs = true; break;
		case OPT_RENDER_TO: o->render_to = optarg; break; /* render */
		case OPT_OUTPUT_DIR: o->output_dir = optarg; break;
		case OPT_PUBLIC_SERVICE: o->public_service = optarg; break;
		case OPT_PUBLISH_MODE: o->publish_mode = optarg; break;
		case OPT_STRICT: o->strict = true; break;
		case OPT_INCLUDE_VALUES: o->include_values = true; break;
		case OPT_SECRETS_DIR: o->secrets_dir = optarg; break;
		case OPT_SINCE: o->since = optarg; break;
		case OPT_NO_STREAM: o->no_stream = true; break;
		case OPT_NO_ROLLBACK: o->no_rollback = true; break; /* history and rollback */
		case OPT_ROLLBACK_TO: {
			char *end = NULL;
			long long n = strtoll(optarg, &end, 10);
			if (!*optarg || *end || n < 1)
				return zl_invalid(err, "--to: expected a revision number >= 1, got \"%s\"", optarg);
			o->rollback_to = n;
			break;
		}
		case OPT_INTERVAL:
			if (reconcile_parse_duration(optarg, &o->interval_ms, err) < 0)
				return zl_err_prefix(err, "--interval");
			if (o->interval_ms < 1000)
				return zl_invalid(err, "--interval: expected at least 1s, got \"%s\"", optarg);
			break;
		case OPT_TAIL: {
			char *end = NULL;
			o->tail = strtol(optarg, &end, 10);
			if (!*optarg || *end || o->tail < 0)
				return zl_invalid(err, "--tail: expected a number of lines >= 0, got \"%s\"", optarg);
			break;
		}
		case OPT_LOCK_TIMEOUT:
			if (reconcile_parse_duration(optarg, &o->lock_timeout_ms, err) < 0)
				return zl_err_prefix(err, "--lock-timeout");
			break;
		case OPT_PARALLEL:
			if (parse_parallel("--parallel", optarg, &o->parallel, err) < 0)
				return -1;
			break;
		}
	}
	if (optind < nargs && (o->verb == CLI_PULL || o->verb == CLI_RUN || o->verb == CLI_COMPLETION ||
			       (V(o->verb) & (REPLICA_VERBS | V(CLI_STATS) | V(CLI_INSPECT))))) {
		for (int i = optind; i < nargs; i++)
			push(&o->args, &o->arg_count, args[i]);
		optind = nargs;
	}
	if (optind < nargs) {
		if (o->verb == CLI_HELP && optind == nargs - 1) {
			o->help_topic = args[optind];
			return 0;
		}
		return zl_invalid(err, "unexpected argument \"%s\" (run 'zlapply %s --help')",
				  args[optind], cli_verb_name(o->verb));
	}
	if (o->help || o->verb == CLI_HELP || o->verb == CLI_VERSION)
		return 0;
	/* Read where it acts: a bad value does not break `status`. */
	const char *parallel = getenv("ZLAPPLY_PARALLEL");
	if (o->parallel == 0 && parallel && *parallel && (V(o->verb) & PARALLEL_VERBS) &&
	    parse_parallel("ZLAPPLY_PARALLEL", parallel, &o->parallel, err) < 0)
		return -1;
	if ((o->verb == CLI_APPLY || o->verb == CLI_DIFF || o->verb == CLI_VALIDATE ||
	     o->verb == CLI_RENDER || (o->verb == CLI_WATCH && !o->git.url)) && o->file_count == 0)
		return zl_invalid(err, "%s needs -f FILE|DIR|- (run 'zlapply %s --help')",
				  cli_verb_name(o->verb), cli_verb_name(o->verb));
	for (size_t i = 0; o->verb == CLI_WATCH && i < o->file_count; i++)
		if (strcmp(o->files[i], "-") == 0)
			return zl_invalid(err, "watch cannot watch stdin (-f -): give a file or a directory");
	/* health: --timeout belongs to --wait, which needs a real apply */
	if (o->wait_timeout_ms > 0 && !o->wait && o->verb != CLI_RUN)
		return zl_invalid(err, "--timeout goes with --wait");
	if (o->wait && o->dry_run)
		return zl_invalid(err, "--wait and --dry-run exclude each other");
	/* jobs/cron: run JOB */
	if (o->verb == CLI_RUN && o->arg_count != 1)
		return zl_invalid(err, o->arg_count ? "run takes one JOB, got \"%s\" too"
						    : "run needs a JOB: the name of a job or cron service%s",
				  o->arg_count ? o->args[1] : "");
	if (o->verb == CLI_RUN && o->detach && o->wait_timeout_ms > 0)
		return zl_invalid(err, "--timeout and --detach exclude each other");
	if (o->verb == CLI_RUN && o->name_count > 1)
		return zl_invalid(err, "run takes at most one -d NAME");
	if (o->verb == CLI_RENDER && !o->render_to)
		return zl_invalid(err, "render needs --to kubernetes|compose");
	if (o->verb == CLI_RENDER && o->secrets_dir && !o->include_values)
		return zl_invalid(err, "--secrets-dir goes with --include-values");
	if (o->verb == CLI_DELETE && o->file_count == 0 && o->name_count == 0)
		return zl_invalid(err, "delete needs -f FILE or -d NAME");
	if ((V(o->verb) & REPLICA_VERBS) && o->arg_count == 0)
		return zl_invalid(err, "%s needs a replica: SERVICE or SERVICE-rep-N", cli_verb_name(o->verb));
	if (o->verb == CLI_EXEC && o->arg_count < 2)
		return zl_invalid(err, "exec needs a command: zlapply exec SVC[-rep-N] -- CMD [ARG...]");
	if ((o->verb == CLI_KILL || o->verb == CLI_LOGS) && o->arg_count > 1)
		return zl_invalid(err, "unexpected argument \"%s\"", o->args[1]);
	if (o->verb == CLI_PULL && o->arg_count == 0)
		return zl_invalid(err, "pull needs at least one IMAGE (run 'zlapply pull --help')");
	if ((o->verb == CLI_HISTORY || o->verb == CLI_ROLLBACK) && o->name_count != 1)
		return zl_invalid(err, "%s needs one -d NAME", cli_verb_name(o->verb));
	if (o->verb == CLI_STATUS && o->name_count > 1)
		return zl_invalid(err, "status takes at most one -d NAME");
	if (o->verb == CLI_COMPLETION && o->arg_count != 1)
		return zl_invalid(err, "completion needs one shell: bash, zsh or fish");
	if ((V(o->verb) & OBSERVE_VERBS) && o->name_count > 1)
		return zl_invalid(err, "%s takes at most one -d NAME", cli_verb_name(o->verb));
	if (o->verb == CLI_INSPECT && o->arg_count != 1)
		return zl_invalid(err, o->arg_count ? "inspect takes one REPLICA, got \"%s\" too"
						    : "inspect needs a REPLICA: SERVICE-rep-N%s",
				  o->arg_count ? o->args[1] : "");
	return 0;
}

void cli_opts_free(struct cli_opts *o)
{
	free(o->files);
	free(o->names);
	free(o->args);
	free(o->insecure);
	free(o->argv_copy);
}

int cli_help_topic(const char *topic, enum cli_verb *verb)
{
	return verb_lookup(topic, verb);
}

/* ---- the tables, for completion.c ---- */

size_t cli_verb_count(void)
{
	return VERB_COUNT;
}

void cli_verb_at(size_t i, struct cli_verb_info *out)
{
	*out = (struct cli_verb_info){ .name = verbs[i].name, .verb = verbs[i].verb,
				       .usage = verbs[i].usage, .summary = verbs[i].summary };
}

size_t cli_flag_count(void)
{
	return FLAG_COUNT;
}

void cli_flag_at(size_t i, struct cli_flag_info *out)
{
	const struct flag *f = &flags[i];
	*out = (struct cli_flag_info){ .name = f->opt.name,
				       .short_name = f->opt.val < 256 ? f->opt.val : 0,
				       .takes_value = f->opt.has_arg == required_argument,
				       .arg = f->arg, .help = f->help };
}

bool cli_flag_accepts(size_t i, enum cli_verb verb)
{
	return (flags[i].verbs & V(verb)) != 0;
}
