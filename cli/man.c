/* man.c: `zlapply man`: the zlapply(1) manual page in troff (man macros).
 * VERBS and OPTIONS come from args.c's tables, so the page follows the
 * CLI; the sections the tables cannot say (exit status, environment,
 * files) are written here. meson builds zlapply.1 by running this verb
 * (docs/man/meson.build) and installs it with zlapply-spec(5). */
#include "cli.h"

#include <string.h>

/* Text for a troff line: backslashes escaped, hyphens as \-, and a line
 * that would start with a control character ('.' or ') guarded by \&. */
static void put_troff(FILE *out, const char *s)
{
	if (*s == '.' || *s == '\'')
		fputs("\\&", out);
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\e", out);
		else if (*s == '-')
			fputs("\\-", out);
		else
			fputc(*s, out);
	}
}

/* A flag's tag line: ".B \-f , \-\-file " then its argument in italics. */
static void put_flag_tag(FILE *out, const struct cli_flag_info *f)
{
	fputs(".TP\n", out);
	if (f->short_name)
		fprintf(out, "\\fB\\-%c\\fR, ", f->short_name);
	fputs("\\fB\\-\\-", out);
	put_troff(out, f->name);
	fputs("\\fR", out);
	if (f->arg) {
		fputs(" \\fI", out);
		put_troff(out, f->arg);
		fputs("\\fR", out);
	}
	fputc('\n', out);
}

static const char *const header =
	".TH ZLAPPLY 1 \"\" \"zlapply " ZLAPPLY_VERSION "\" \"User Commands\"\n"
	".SH NAME\n"
	"zlapply \\- make this Linux host run what deployment specs describe\n"
	".SH SYNOPSIS\n"
	".B zlapply\n"
	"[\\fIVERB\\fR] [\\fIflags\\fR]\n"
	".br\n"
	".B zlapply\n"
	"\\fB\\-f\\fR \\fIFILE\\fR|\\fIDIR\\fR|\\fB\\-\\fR [\\fB\\-\\-dry\\-run\\fR]\n"
	".SH DESCRIPTION\n"
	"\\fBzlapply\\fR reads deployment specs (ZLayer's v1 format, see\n"
	"\\fBzlapply\\-spec\\fR(5)) and makes this host match them: which services run,\n"
	"from which images, how many replicas, with what environment, ports, volumes,\n"
	"limits and health checks.\n"
	"Replicas run as OCI containers (runc or crun), WebAssembly modules or virtual\n"
	"machines; what it did is recorded in an SQLite database under the state root,\n"
	"so the next run changes only what differs.\n"
	".PP\n"
	"\\fBapply\\fR is the default verb.\n"
	"Results (plan lines, tables, JSON) go to standard output; progress and errors\n"
	"to standard error.\n";

static const char *const trailer =
	".SH EXIT STATUS\n"
	".TP\n.B 0\nconverged (diff: the plan was printed; with \\fB\\-\\-exit\\-code\\fR, nothing would change)\n"
	".TP\n.B 1\nan action failed (the others still ran), or doctor found something left over\n"
	".TP\n.B 2\ninvalid input or usage: nothing was changed\n"
	".TP\n.B 3\nnot converged before a timeout (\\fB\\-\\-wait\\fR, \\fBrun \\-\\-timeout\\fR)\n"
	".TP\n.B 4\nbusy: another zlapply held the lock past \\fB\\-\\-lock\\-timeout\\fR\n"
	".TP\n.B 7\n\\fBdiff \\-\\-exit\\-code\\fR: something would change\n"
	".SH ENVIRONMENT\n"
	".TP\n.B ZLAPPLY_ROOT\nthe state root when \\fB\\-\\-root\\fR is not given\n"
	".TP\n.B ZLAPPLY_BACKEND\nthe backend when \\fB\\-\\-backend\\fR is not given\n"
	".TP\n.B ZLAPPLY_RUNTIME\nthe OCI runtime when \\fB\\-\\-runtime\\fR is not given\n"
	".TP\n.B ZLAPPLY_PARALLEL\nactions at once when \\fB\\-\\-parallel\\fR is not given (default: twice the number of cores)\n"
	".TP\n.BR ZLAPPLY_BRIDGE \", \" ZLAPPLY_SUBNET\nthe replicas' bridge and subnet\n"
	".TP\n.B REGISTRY_AUTH_FILE\nregistry credentials when \\fB\\-\\-authfile\\fR is not given\n"
	".TP\n.B NO_COLOR\nset and not empty: no colour unless \\fB\\-\\-color always\\fR\n"
	".SH FILES\n"
	".TP\n.I /var/lib/zlapply\nthe default state root (mode 0700)\n"
	".TP\n.I ROOT/state.db\nthe SQLite database: deployments, services, replicas, journal, events, runs\n"
	".TP\n.I ROOT/lock\nheld by the zlapply that changes the host\n"
	".TP\n.I ROOT/secrets/NAME\nthe value of \\fB$S:NAME\\fR in a spec (mode 0600)\n"
	".SH EXAMPLES\n"
	".nf\n"
	"zlapply validate \\-f shop.yaml\n"
	"zlapply diff \\-f shop.yaml \\-\\-exit\\-code || echo changes pending\n"
	"zlapply \\-f shop.yaml\n"
	"zlapply status \\-o json\n"
	"source <(zlapply completion bash)\n"
	".fi\n"
	".SH SEE ALSO\n"
	"\\fBzlapply\\-spec\\fR(5), \\fBrunc\\fR(8), \\fBcrun\\fR(1)\n";

int cmd_man(const struct cli_opts *o)
{
	(void)o;
	FILE *out = stdout;
	fputs(header, out);

	fputs(".SH VERBS\n", out);
	for (size_t i = 0; i < cli_verb_count(); i++) {
		struct cli_verb_info v;
		cli_verb_at(i, &v);
		if (!v.usage) /* an alias: named with its verb */
			continue;
		fputs(".TP\n.B ", out);
		put_troff(out, v.name);
		fputs("\n", out);
		put_troff(out, v.usage);
		fputs("\n.br\n", out);
		put_troff(out, v.summary);
		fputs(".", out);
		for (size_t k = 0; k < cli_verb_count(); k++) {
			struct cli_verb_info alias;
			cli_verb_at(k, &alias);
			if (alias.verb != v.verb || alias.usage)
				continue;
			/* named unless the summary already says "(alias: ps)" */
			char said[96];
			snprintf(said, sizeof(said), "alias: %s", alias.name);
			if (!strstr(v.summary, said)) {
				fputs(" Alias: \\fB", out);
				put_troff(out, alias.name);
				fputs("\\fR.", out);
			}
		}
		fputc('\n', out);
	}

	fputs(".SH OPTIONS\n", out);
	for (size_t i = 0; i < cli_flag_count(); i++) {
		struct cli_flag_info f;
		cli_flag_at(i, &f);
		put_flag_tag(out, &f);
		put_troff(out, f.help);
		fputs(".\n.br\nVerbs:", out);
		for (size_t k = 0; k < cli_verb_count(); k++) {
			struct cli_verb_info v;
			cli_verb_at(k, &v);
			if (v.usage && cli_flag_accepts(i, v.verb)) {
				fputc(' ', out);
				put_troff(out, v.name);
			}
		}
		fputs(".\n", out);
	}
	fputs(trailer, out);
	return fflush(out) == 0 ? 0 : 1;
}
