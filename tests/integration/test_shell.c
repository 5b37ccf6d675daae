/* test_shell.c: zlapply at home in a shell and in scripts (issue 15 item 6,
 * issue 18 item 1), end to end with the real binary and the mock backend:
 *
 * - completion scripts generated from the CLI's tables: bash loads its
 *   script and completes verbs, flags, flag values and the deployments
 *   recorded under the root, and so does zsh's (driven through the
 *   completion function as bash's programmable completion drives it); zsh
 *   and fish parse theirs, and fish completes with it;
 * - the manual pages render without warnings (groff -ww) and through man;
 * - colour: --color always|never|auto, NO_COLOR, never with -o json, on a
 *   pseudo-terminal where auto means colour;
 * - diff --exit-code: 0 without drift, 7 with it, 2 for errors;
 * - JSON plans and results (diff, apply --dry-run, apply, delete) checked
 *   field by field, and the other -o json documents (validate, doctor,
 *   prune, pull).
 */
#include "cli-helpers.h"

#include <pty.h>

/* ---- running other programs ---- */

/* Runs argv (argv[0] found in PATH) with ZLAPPLY=<the binary> in its
 * environment; exit code, *out and *err (optional; caller frees). */
static int run_prog(const char *const *argv, char **out, char **err)
{
	struct cli_proc p;
	snprintf(p.out_path, sizeof(p.out_path), "/tmp/zlsh-out-XXXXXX");
	snprintf(p.err_path, sizeof(p.err_path), "/tmp/zlsh-err-XXXXXX");
	int out_fd = mkstemp(p.out_path), err_fd = mkstemp(p.err_path);
	if (out_fd < 0 || err_fd < 0)
		fail_msg("mkstemp: %s", strerror(errno));
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0)
		fail_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		int in_fd = open("/dev/null", O_RDONLY);
		if (in_fd < 0 || dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
			_exit(126);
		setenv("ZLAPPLY", cli_bin(), 1);
		unsetenv("NO_COLOR");
		execvp(argv[0], (char *const *)argv);
		dprintf(2, "exec %s: %s (scripts/setup installs it)\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(out_fd);
	close(err_fd);
	p.pid = pid;
	return cli_wait(&p, out, err);
}
#define run_prog_args(out, err, ...) run_prog((const char *const[]){ __VA_ARGS__, NULL }, (out), (err))

/* Runs zlapply ARGS... --root root --backend mock on a pseudo-terminal (so
 * its stdout is a terminal) with env_set ("NAME=VALUE" or NULL) and
 * NO_COLOR unset otherwise; returns what it wrote (caller frees). */
static char *run_on_tty(const char *root, const char *env_set, const char *const *args, int *code)
{
	const char *argv[32];
	size_t n = 0;
	argv[n++] = cli_bin();
	for (size_t i = 0; args[i]; i++) {
		assert_true(n < 26);
		argv[n++] = args[i];
	}
	argv[n++] = "--root";
	argv[n++] = root;
	argv[n++] = "--backend";
	argv[n++] = "mock";
	argv[n] = NULL;
	fflush(stdout);
	fflush(stderr);
	int master = -1;
	pid_t pid = forkpty(&master, NULL, NULL, NULL);
	if (pid < 0)
		fail_msg("forkpty: %s", strerror(errno));
	if (pid == 0) {
		unsetenv("NO_COLOR");
		unsetenv("ZLAPPLY_ROOT");
		unsetenv("ZLAPPLY_BACKEND");
		if (env_set)
			putenv((char *)env_set);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	assert_non_null(buf);
	for (;;) {
		if (cap - len < 1024) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		ssize_t r = read(master, buf + len, cap - len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) /* EIO: the child closed the terminal */
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	close(master);
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			fail_msg("waitpid: %s", strerror(errno));
	*code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	return buf;
}
#define on_tty(root, env_set, code, ...) \
	run_on_tty((root), (env_set), (const char *const[]){ __VA_ARGS__, NULL }, (code))

static void assert_contains(const char *text, const char *needle)
{
	if (!strstr(text, needle))
		fail_msg("\"%s\" not found in:\n%s", needle, text);
}

static void assert_no_escape(const char *text, const char *what)
{
	if (strchr(text, '\033'))
		fail_msg("%s: an escape sequence in:\n%s", what, text);
}

/* Writes the web spec of deployment (t->dir/shop.yaml, reused) and applies
 * it: exit 0. */
static void apply_web(const struct cli_tmp *t, const char *deployment, int replicas,
		      char spec[PATH_MAX])
{
	char *out = NULL, *err = NULL;
	cli_write_web_spec(cli_path(t, "shop.yaml", spec), deployment, replicas, NULL);
	int code = run_zlapply(t->root, NULL, &out, &err, "apply", "-f", spec);
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
}

/* ---- completion ---- */

/* A bash program that loads the completion and prints what _zlapply
 * completes for each line given as arguments (words split by spaces; a
 * trailing space means an empty word to complete), one "LINE -> WORDS"
 * per line, as bash's programmable completion calls it. */
static const char bash_driver[] =
	"zlapply() { \"$ZLAPPLY\" \"$@\"; }\n" /* the word the scripts run */
	"source <(\"$ZLAPPLY\" completion bash) || exit 3\n"
	"for line in \"$@\"; do\n"
	"  read -r -a COMP_WORDS <<< \"$line\"\n"
	"  [[ $line == *' ' ]] && COMP_WORDS+=('')\n"
	"  COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))\n"
	"  COMP_LINE=$line; COMP_POINT=${#line}\n"
	"  COMPREPLY=()\n"
	"  _zlapply zlapply \"${COMP_WORDS[COMP_CWORD]}\" \"${COMP_WORDS[COMP_CWORD-1]}\"\n"
	"  echo \"$line -> ${COMPREPLY[*]}\"\n"
	"done\n";

static void test_bash_completion_loads(void **state)
{
	(void)state;
	char *out = NULL, *err = NULL;
	int code = run_prog_args(&out, &err, "bash", "-c",
				 "source <(\"$ZLAPPLY\" completion bash) && complete -p zlapply");
	assert_exit(code, 0, out, err);
	assert_contains(out, "complete -F _zlapply zlapply");
	assert_string_equal(err, "");
	free(out);
	free(err);

	/* An unknown shell is a usage error. */
	code = run_zlapply(NULL, NULL, &out, &err, "completion", "tcsh");
	assert_exit(code, 2, out, err);
	assert_contains(err, "tcsh");
	free(out);
	free(err);
}

static void test_bash_completes_verbs_flags_values(void **state)
{
	(void)state;
	char *out = NULL, *err = NULL;
	int code = run_prog_args(&out, &err, "bash", "-c", bash_driver, "bash",
				 "zlapply st",
				 "zlapply ev",
				 "zlapply dif",
				 "zlapply diff --ex",
				 "zlapply diff -f spec.yaml --exit",
				 "zlapply status -o ",
				 "zlapply status --output=j",
				 "zlapply diff --color ",
				 "zlapply status --dr",
				 "zlapply logs --ta",
				 "zlapply --root /tmp/x ima",
				 "zlapply help va",
				 "zlapply completion ",
				 "zlapply -f spec.yaml --dry");
	assert_exit(code, 0, out, err);
	static const char *const want[] = {
		"zlapply st -> status stats",
		"zlapply ev -> events",
		"zlapply dif -> diff",
		"zlapply diff --ex -> --exit-code",
		"zlapply diff -f spec.yaml --exit -> --exit-code",
		"zlapply status -o  -> text json",
		"zlapply status --output=j -> json",
		"zlapply diff --color  -> auto always never",
		"zlapply status --dr -> ", /* --dry-run is no flag of status */
		"zlapply logs --ta -> --tail",
		"zlapply --root /tmp/x ima -> images",
		"zlapply help va -> validate",
		"zlapply completion  -> bash zsh fish",
		"zlapply -f spec.yaml --dry -> --dry-run", /* apply is implied */
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (cli_line_index(out, want[i]) < 0)
			fail_msg("no line \"%s\" in:\n%s", want[i], out);
	free(out);
	free(err);
}

/* Every verb of `zlapply --help` is completed from an empty word. */
static void test_bash_completes_every_verb(void **state)
{
	(void)state;
	char *help = NULL, *out = NULL, *err = NULL;
	int code = run_zlapply(NULL, NULL, &help, &err, "--help");
	assert_exit(code, 0, help, err);
	free(err);
	code = run_prog_args(&out, &err, "bash", "-c", bash_driver, "bash", "zlapply ");
	assert_exit(code, 0, out, err);
	size_t verbs = 0;
	const char *p = strstr(help, "Verbs:\n");
	assert_non_null(p);
	for (p = strchr(p, '\n') + 1; strncmp(p, "  ", 2) == 0; p = strchr(p, '\n') + 1) {
		char verb[32];
		assert_int_equal(sscanf(p, " %31s", verb), 1);
		char needle[40];
		snprintf(needle, sizeof(needle), " %s", verb);
		assert_contains(out, needle);
		verbs++;
	}
	assert_true(verbs >= 18);
	free(help);
	free(out);
	free(err);
}

/* The same for zsh: the completion system's builtins replaced by functions
 * that print what they are given (one word a line; _describe's items as
 * "word:description"; _files as <files>), after a line "== LINE". */
static const char zsh_driver[] =
	"compdef() { : }\n"
	"_describe() { [[ $1 == -t ]] && shift 2; print -rl -- \"${(@P)2}\" }\n"
	"compadd() { [[ $1 == -- ]] && shift; print -rl -- \"$@\" }\n"
	"_files() { print -r -- '<files>' }\n"
	"_message() { print -r -- \"<message $*>\" }\n"
	"zlapply() { \"$ZLAPPLY\" \"$@\" }\n"
	"source <(\"$ZLAPPLY\" completion zsh) || exit 3\n"
	"for line in \"$@\"; do\n"
	"  words=(${(s: :)line})\n"
	"  [[ $line == *' ' ]] && words+=('')\n"
	"  CURRENT=${#words}\n"
	"  print -r -- \"== $line\"\n"
	"  _zlapply\n"
	"done\n";

/* The lines zsh_driver printed for line (up to the next "== "), malloc'd. */
static char *zsh_answer(const char *out, const char *line)
{
	char head[PATH_MAX + 8];
	snprintf(head, sizeof(head), "== %s\n", line);
	const char *p = strstr(out, head);
	if (!p)
		fail_msg("no answer for \"%s\" in:\n%s", line, out);
	p += strlen(head);
	const char *end = strstr(p, "== ");
	return strndup(p, end ? (size_t)(end - p) : strlen(p));
}

static void test_zsh_completes(void **state)
{
	struct cli_tmp *t = *state;
	char spec[PATH_MAX], line[PATH_MAX + 64];
	char *out = NULL, *err = NULL;
	apply_web(t, "shop", 1, spec);
	snprintf(line, sizeof(line), "zlapply status --root %s -d ", t->root);
	int code = run_prog_args(&out, &err, "zsh", "-f", "-c", zsh_driver, "zsh", "zlapply st",
			     "zlapply diff --ex", "zlapply status -o ", "zlapply -f ",
			     "zlapply completion ", line);
	assert_exit(code, 0, out, err);

	char *a = zsh_answer(out, "zlapply st"); /* every verb, with its summary */
	assert_true(cli_has_line_with(a, "status:show every replica"));
	assert_true(cli_has_line_with(a, "completion:"));
	free(a);
	a = zsh_answer(out, "zlapply diff --ex"); /* diff's flags only */
	assert_true(cli_has_line_with(a, "--exit-code:exit 7"));
	assert_false(cli_has_line_with(a, "--dry-run"));
	free(a);
	a = zsh_answer(out, "zlapply status -o ");
	assert_string_equal(a, "text\njson\n");
	free(a);
	a = zsh_answer(out, "zlapply -f ");
	assert_string_equal(a, "<files>\n");
	free(a);
	a = zsh_answer(out, "zlapply completion ");
	assert_string_equal(a, "bash\nzsh\nfish\n");
	free(a);
	a = zsh_answer(out, line);
	assert_string_equal(a, "shop\n");
	free(a);
	free(out);
	free(err);
}

/* -d completes the deployments recorded under the --root of the line. */
static void test_completes_deployment_names(void **state)
{
	struct cli_tmp *t = *state;
	char spec[PATH_MAX], line1[PATH_MAX + 64], line2[PATH_MAX + 64], line3[PATH_MAX + 64];
	char *out = NULL, *err = NULL;
	apply_web(t, "shop", 1, spec);
	apply_web(t, "store", 1, spec);

	int code = run_zlapply(NULL, NULL, &out, &err, "completion", "deployments", "--root", t->root);
	assert_exit(code, 0, out, err);
	assert_string_equal(out, "shop\nstore\n");
	free(out);
	free(err);

	snprintf(line1, sizeof(line1), "zlapply status --root %s -d ", t->root);
	snprintf(line2, sizeof(line2), "zlapply logs --root=%s --deployment st", t->root);
	snprintf(line3, sizeof(line3), "zlapply status --root %s/none -d ", t->dir);
	code = run_prog_args(&out, &err, "bash", "-c", bash_driver, "bash", line1, line2, line3);
	assert_exit(code, 0, out, err);
	char want[PATH_MAX + 80];
	snprintf(want, sizeof(want), "%s -> shop store", line1);
	if (cli_line_index(out, want) < 0)
		fail_msg("no line \"%s\" in:\n%s", want, out);
	snprintf(want, sizeof(want), "%s -> store", line2);
	if (cli_line_index(out, want) < 0)
		fail_msg("no line \"%s\" in:\n%s", want, out);
	snprintf(want, sizeof(want), "%s -> ", line3); /* a root with nothing recorded */
	if (cli_line_index(out, want) < 0)
		fail_msg("no line \"%s\" in:\n%s", want, out);
	free(out);
	free(err);
}

static void test_zsh_and_fish_parse(void **state)
{
	struct cli_tmp *t = *state;
	static const char *const shells[] = { "zsh", "fish" };
	for (size_t i = 0; i < 2; i++) {
		char path[PATH_MAX], *script = NULL, *out = NULL, *err = NULL;
		int code = run_zlapply(NULL, NULL, &script, &err, "completion", shells[i]);
		assert_exit(code, 0, script, err);
		free(err);
		cli_write_file(cli_pathf(path, "%s/completion.%s", t->dir, shells[i]), script);
		code = run_prog_args(&out, &err, shells[i], "-n", path);
		if (code != 0 || *err)
			fail_msg("%s -n rejects its completion (exit %d):\n%s", shells[i], code, err);
		free(script);
		free(out);
		free(err);
	}
	/* fish completes with it */
	char *out = NULL, *err = NULL;
	int code = run_prog_args(&out, &err, "fish", "-c",
				 "\"$ZLAPPLY\" completion fish | source; "
				 "complete -C 'zlapply dif'; complete -C 'zlapply diff --exit'; "
				 "complete -C 'zlapply status -o '");
	assert_exit(code, 0, out, err);
	assert_true(cli_has_line_with(out, "diff\t"));
	assert_true(cli_has_line_with(out, "--exit-code\t"));
	assert_true(cli_has_line_with(out, "json\t"));
	assert_true(cli_has_line_with(out, "text\t"));
	free(out);
	free(err);
}

/* ---- manual pages ---- */

/* groff -man -ww -z renders path without a warning; man -l shows `title`. */
static void assert_man_renders(const char *path, const char *title)
{
	char *out = NULL, *err = NULL;
	int code = run_prog_args(&out, &err, "groff", "-man", "-ww", "-z", path);
	if (code != 0 || *err)
		fail_msg("groff -man -ww -z %s (exit %d):\n%s", path, code, err);
	free(out);
	free(err);
	code = run_prog_args(&out, &err, "man", "-P", "cat", "-l", path);
	assert_exit(code, 0, out, err);
	assert_contains(out, title);
	free(out);
	free(err);
}

static void test_man_pages_render(void **state)
{
	struct cli_tmp *t = *state;
	char path[PATH_MAX], *page = NULL, *err = NULL;
	int code = run_zlapply(NULL, NULL, &page, &err, "man");
	assert_exit(code, 0, page, err);
	cli_write_file(cli_path(t, "zlapply.1", path), page);
	assert_man_renders(path, "ZLAPPLY(1)");
	/* from the tables: verbs and flags; written here: exit status 7 */
	assert_contains(page, ".B completion");
	assert_contains(page, "\\-\\-exit\\-code");
	assert_contains(page, ".SH EXIT STATUS");
	assert_contains(page, ".SH ENVIRONMENT");
	assert_contains(page, "NO_COLOR");
	assert_contains(page, ".SH FILES");
	free(page);
	free(err);

	char spec[PATH_MAX];
	cli_pathf(spec, "%s/docs/man/zlapply-spec.5", cli_source_root());
	assert_man_renders(spec, "ZLAPPLY-SPEC(5)");
	char *text = cli_read_file(spec);
	assert_non_null(text);
	assert_contains(text, ".SH SERVICE KEYS");
	free(text);
}

/* ---- colour ---- */

static void test_color(void **state)
{
	struct cli_tmp *t = *state;
	char spec[PATH_MAX];
	cli_write_web_spec(cli_path(t, "web.yaml", spec), "shop", 2, "hi");
	char *out = NULL, *err = NULL;

	/* not a terminal: no colour unless asked for */
	int code = run_zlapply(t->root, NULL, &out, &err, "diff", "-f", spec);
	assert_exit(code, 0, out, err);
	assert_contains(out, "+ create web-rep-1");
	assert_no_escape(out, "diff to a file");
	free(out);
	free(err);
	code = run_zlapply(t->root, NULL, &out, &err, "diff", "-f", spec, "--color=always");
	assert_exit(code, 0, out, err);
	assert_contains(out, "\033[32m+ create web-rep-1\033[0m");
	free(out);
	free(err);
	/* --color=always wins over NO_COLOR (a flag is the user's word for this run) */
	code = run_zlapply_env(CLI_ENV("NO_COLOR=1"), t->root, NULL, &out, &err, "diff", "-f", spec,
			       "--color", "always");
	assert_exit(code, 0, out, err);
	assert_contains(out, "\033[32m");
	free(out);
	free(err);
	code = run_zlapply(t->root, NULL, &out, &err, "diff", "-f", spec, "--color=sometimes");
	assert_exit(code, 2, out, err);
	assert_contains(err, "--color");
	free(out);
	free(err);

	/* on a terminal: auto colours, NO_COLOR and never do not, JSON never */
	char *tty = on_tty(t->root, NULL, &code, "diff", "-f", spec);
	assert_int_equal(code, 0);
	assert_contains(tty, "\033[32m+ create web-rep-1");
	free(tty);
	tty = on_tty(t->root, "NO_COLOR=1", &code, "diff", "-f", spec);
	assert_int_equal(code, 0);
	assert_contains(tty, "+ create web-rep-1");
	assert_no_escape(tty, "NO_COLOR=1 on a terminal");
	free(tty);
	/* NO_COLOR set but empty does not count */
	tty = on_tty(t->root, "NO_COLOR=", &code, "diff", "-f", spec);
	assert_contains(tty, "\033[32m");
	free(tty);
	tty = on_tty(t->root, NULL, &code, "diff", "-f", spec, "--color=never");
	assert_contains(tty, "+ create web-rep-1");
	assert_no_escape(tty, "--color=never on a terminal");
	free(tty);
	tty = on_tty(t->root, NULL, &code, "diff", "-f", spec, "-o", "json");
	assert_int_equal(code, 0);
	assert_contains(tty, "\"kind\":");
	assert_no_escape(tty, "-o json on a terminal");
	free(tty);

	/* status: the STATE column */
	code = run_zlapply(t->root, NULL, &out, &err, "apply", "-f", spec);
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	tty = on_tty(t->root, NULL, &code, "status");
	assert_int_equal(code, 0);
	assert_contains(tty, "\033[32mrunning");
	free(tty);
	tty = on_tty(t->root, "NO_COLOR=yes", &code, "status");
	assert_contains(tty, "running");
	assert_no_escape(tty, "status with NO_COLOR");
	free(tty);
	code = run_zlapply(t->root, NULL, &out, &err, "status");
	assert_exit(code, 0, out, err);
	assert_no_escape(out, "status to a file");
	free(out);
	free(err);
}

/* ---- diff --exit-code ---- */

static void test_diff_exit_code(void **state)
{
	struct cli_tmp *t = *state;
	char spec[PATH_MAX], bad[PATH_MAX];
	cli_write_web_spec(cli_path(t, "web.yaml", spec), "shop", 2, "hi");
	char *out = NULL, *err = NULL;

	/* drift (nothing applied yet): 7, the plan still printed */
	int code = run_zlapply(t->root, NULL, &out, &err, "diff", "-f", spec, "--exit-code");
	assert_exit(code, 7, out, err);
	assert_contains(out, "+ create web-rep-2");
	free(out);
	free(err);
	/* without --exit-code a plan is no failure */
	code = run_zlapply(t->root, NULL, &out, &err, "diff", "-f", spec);
	assert_exit(code, 0, out, err);
	free(out);
	free(err);

	code = run_zlapply(t->root, NULL, &out, &err, "apply", "-f", spec);
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	/* converged: 0 */
	code = run_zlapply(t->root, NULL, &out, &err, "diff", "-f", spec, "--exit-code");
	assert_exit(code, 0, out, err);
	assert_string_equal(out, "");
	free(out);
	free(err);
	code = run_zlapply(t->root, NULL, &out, &err, "diff", "-f", spec, "--exit-code", "-o", "json");
	assert_exit(code, 0, out, err);
	free(out);
	free(err);

	/* drift again (env changed; replicas exited): 7, also with -o json */
	cli_write_web_spec(spec, "shop", 2, "hello");
	code = run_zlapply(t->root, NULL, &out, &err, "diff", "-f", spec, "--exit-code");
	assert_exit(code, 7, out, err);
	assert_contains(out, "~ recreate web-rep-1 (env changed)");
	free(out);
	free(err);
	code = run_zlapply(t->root, NULL, &out, &err, "diff", "--exit-code", "-o", "json", "-f", spec);
	assert_exit(code, 7, out, err);
	free(out);
	free(err);

	/* errors keep their codes: a bad spec, a missing file, a bad flag */
	cli_write_file(cli_path(t, "bad.yaml", bad), "version: v1\ndeployment: x\nservices: {}\n");
	code = run_zlapply(t->root, NULL, &out, &err, "diff", "-f", bad, "--exit-code");
	assert_exit(code, 2, out, err);
	free(out);
	free(err);
	code = run_zlapply(t->root, NULL, &out, &err, "diff", "-f", "/nonexistent/zl.yaml", "--exit-code");
	assert_exit(code, 2, out, err);
	free(out);
	free(err);
	code = run_zlapply(t->root, NULL, &out, &err, "status", "--exit-code");
	assert_exit(code, 2, out, err);
	assert_contains(err, "--exit-code");
	free(out);
	free(err);
	/* the help documents the code */
	code = run_zlapply(NULL, NULL, &out, &err, "diff", "--help");
	assert_exit(code, 0, out, err);
	assert_contains(out, "exit 7 when something would change");
	free(out);
	free(err);
}

/* ---- JSON plans ---- */

/* Parses stdout as one JSON object (nothing else on stdout). */
static cJSON *parse_doc(const char *out)
{
	const char *end = NULL;
	cJSON *doc = cJSON_ParseWithOpts(out, &end, false);
	if (!doc || !cJSON_IsObject(doc))
		fail_msg("stdout is not a JSON object:\n%s", out);
	while (end && (*end == '\n' || *end == ' '))
		end++;
	if (end && *end)
		fail_msg("more than one JSON document on stdout:\n%s", out);
	return doc;
}

static int64_t num(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!cJSON_IsNumber(v))
		fail_msg("\"%s\" is no number in %s", key, cJSON_PrintUnformatted(obj));
	return (int64_t)v->valuedouble;
}

static bool is_null(const cJSON *obj, const char *key)
{
	return cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(obj, key));
}

/* The action's fields; reason/old/new/error NULL mean JSON null. */
struct want_action {
	const char *replica, *kind, *reason, *old_hash, *new_hash, *result;
	int index;
};

static void assert_str_field(const cJSON *a, const char *key, const char *want)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(a, key);
	if (!v)
		fail_msg("key \"%s\" missing in %s", key, cJSON_PrintUnformatted(a));
	if (!want) {
		if (!cJSON_IsNull(v))
			fail_msg("\"%s\" should be null in %s", key, cJSON_PrintUnformatted(a));
		return;
	}
	if (!cJSON_IsString(v) || strcmp(v->valuestring, want) != 0)
		fail_msg("\"%s\" should be \"%s\" in %s", key, want, cJSON_PrintUnformatted(a));
}

static void assert_actions(const cJSON *doc, const struct want_action *want, size_t count)
{
	const cJSON *actions = cJSON_GetObjectItemCaseSensitive(doc, "actions");
	assert_true(cJSON_IsArray(actions));
	if ((size_t)cJSON_GetArraySize(actions) != count)
		fail_msg("%zu actions expected in %s", count, cJSON_PrintUnformatted(doc));
	for (size_t i = 0; i < count; i++) {
		const cJSON *a = cJSON_GetArrayItem(actions, (int)i);
		assert_str_field(a, "deployment", "shop");
		assert_str_field(a, "service", "web");
		assert_int_equal(num(a, "index"), want[i].index);
		assert_str_field(a, "replica", want[i].replica);
		assert_str_field(a, "kind", want[i].kind);
		assert_str_field(a, "reason", want[i].reason);
		assert_str_field(a, "old_spec_hash", want[i].old_hash);
		assert_str_field(a, "new_spec_hash", want[i].new_hash);
		assert_str_field(a, "result", want[i].result);
		assert_str_field(a, "error", NULL);
	}
}

static void assert_counts(const cJSON *doc, bool dry_run, int planned, int done, int failed)
{
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(doc, "dry_run");
	assert_true(cJSON_IsBool(d));
	assert_int_equal(cJSON_IsTrue(d), dry_run);
	assert_int_equal(num(doc, "planned"), planned);
	assert_int_equal(num(doc, "done"), done);
	assert_int_equal(num(doc, "failed"), failed);
}

/* The spec hash status records for web-rep-N (a copy; caller frees). */
static char *recorded_hash(const struct cli_tmp *t, int index)
{
	cJSON *st = cli_status_json(t->root, "shop");
	cJSON *r = cli_json_replica(st, "shop", "web", index);
	assert_non_null(r);
	const char *h = cli_json_str(r, "spec_hash");
	assert_non_null(h);
	assert_int_equal(strlen(h), 64);
	char *copy = strdup(h);
	cJSON_Delete(st);
	return copy;
}

static void test_plan_json(void **state)
{
	struct cli_tmp *t = *state;
	char spec[PATH_MAX];
	cli_write_web_spec(cli_path(t, "web.yaml", spec), "shop", 2, "hi");
	char *out = NULL, *err = NULL;

	/* diff -o json: two creates, no old hash, the new one */
	int code = run_zlapply(t->root, NULL, &out, &err, "diff", "-f", spec, "-o", "json");
	assert_exit(code, 0, out, err);
	cJSON *doc = parse_doc(out);
	assert_counts(doc, true, 2, 0, 0);
	const cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "actions"), 0);
	const char *h1 = cli_json_str((cJSON *)first, "new_spec_hash");
	assert_non_null(h1);
	assert_int_equal(strlen(h1), 64);
	char *hash1 = strdup(h1);
	struct want_action creates[] = {
		{ "web-rep-1", "create", NULL, NULL, hash1, "planned", 1 },
		{ "web-rep-2", "create", NULL, NULL, hash1, "planned", 2 },
	};
	assert_actions(doc, creates, 2);
	cJSON_Delete(doc);
	free(out);
	free(err);

	/* apply --dry-run -o json: the same plan, and nothing made */
	code = run_zlapply(t->root, NULL, &out, &err, "apply", "--dry-run", "-f", spec, "-o", "json");
	assert_exit(code, 0, out, err);
	doc = parse_doc(out);
	assert_counts(doc, true, 2, 0, 0);
	assert_actions(doc, creates, 2);
	cJSON_Delete(doc);
	free(out);
	free(err);
	cJSON *st = cli_status_json(t->root, NULL);
	assert_int_equal(cli_json_count(st, NULL), 0);
	cJSON_Delete(st);

	/* apply -o json: what was done; the hash is what status records */
	code = run_zlapply(t->root, NULL, &out, &err, "apply", "-f", spec, "-o", "json");
	assert_exit(code, 0, out, err);
	doc = parse_doc(out);
	assert_counts(doc, false, 2, 2, 0);
	creates[0].result = creates[1].result = "done";
	assert_actions(doc, creates, 2);
	cJSON_Delete(doc);
	free(out);
	free(err);
	char *rec = recorded_hash(t, 1);
	assert_string_equal(rec, hash1);
	free(rec);

	/* nothing to do: an empty list */
	code = run_zlapply(t->root, NULL, &out, &err, "apply", "-f", spec, "-o", "json");
	assert_exit(code, 0, out, err);
	doc = parse_doc(out);
	assert_counts(doc, false, 0, 0, 0);
	assert_actions(doc, NULL, 0);
	cJSON_Delete(doc);
	free(out);
	free(err);

	/* a change and a scale-down: recreate with old and new hash, remove
	 * with the old one only (highest index first) */
	cli_write_web_spec(spec, "shop", 1, "hello");
	code = run_zlapply(t->root, NULL, &out, &err, "diff", "-o", "json", "-f", spec);
	assert_exit(code, 0, out, err);
	doc = parse_doc(out);
	assert_counts(doc, true, 2, 0, 0);
	const cJSON *acts = cJSON_GetObjectItemCaseSensitive(doc, "actions");
	const cJSON *rc = NULL;
	for (int i = 0; i < cJSON_GetArraySize(acts); i++)
		if (strcmp(cli_json_str(cJSON_GetArrayItem(acts, i), "kind"), "recreate") == 0)
			rc = cJSON_GetArrayItem(acts, i);
	assert_non_null(rc);
	char *hash2 = strdup(cli_json_str((cJSON *)rc, "new_spec_hash"));
	assert_string_not_equal(hash2, hash1);
	struct want_action change[] = {
		{ "web-rep-2", "remove", NULL, hash1, NULL, "planned", 2 },
		{ "web-rep-1", "recreate", "env changed", hash1, hash2, "planned", 1 },
	};
	/* the remove's reason is the planner's words; check it is a string */
	const cJSON *rm = cJSON_GetArrayItem(acts, 0);
	assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(rm, "reason")));
	change[0].reason = cli_json_str((cJSON *)rm, "reason");
	assert_actions(doc, change, 2);
	free(out);
	free(err);

	code = run_zlapply(t->root, NULL, &out, &err, "apply", "-o", "json", "-f", spec);
	assert_exit(code, 0, out, err);
	cJSON *done = parse_doc(out);
	assert_counts(done, false, 2, 2, 0);
	change[0].result = change[1].result = "done";
	assert_actions(done, change, 2);
	cJSON_Delete(done);
	cJSON_Delete(doc);
	free(out);
	free(err);
	rec = recorded_hash(t, 1);
	assert_string_equal(rec, hash2);
	free(rec);

	/* delete -o json: the removals */
	code = run_zlapply(t->root, NULL, &out, &err, "delete", "-d", "shop", "-o", "json");
	assert_exit(code, 0, out, err);
	doc = parse_doc(out);
	assert_counts(doc, false, 1, 1, 0);
	acts = cJSON_GetObjectItemCaseSensitive(doc, "actions");
	assert_int_equal(cJSON_GetArraySize(acts), 1);
	assert_str_field(cJSON_GetArrayItem(acts, 0), "kind", "remove");
	assert_str_field(cJSON_GetArrayItem(acts, 0), "old_spec_hash", hash2);
	assert_str_field(cJSON_GetArrayItem(acts, 0), "new_spec_hash", NULL);
	assert_str_field(cJSON_GetArrayItem(acts, 0), "result", "done");
	cJSON_Delete(doc);
	free(out);
	free(err);
	free(hash1);
	free(hash2);
}

/* A failed action: result "failed" with the error, exit 1, JSON still printed. */
static void test_apply_json_failure(void **state)
{
	struct cli_tmp *t = *state;
	char spec[PATH_MAX];
	cli_write_web_spec(cli_path(t, "web.yaml", spec), "shop", 2, "hi");
	char *out = NULL, *err = NULL;
	int code = run_zlapply_env(CLI_ENV("ZLAPPLY_MOCK_FAIL=start:zl-shop-web-2"), t->root, NULL,
				   &out, &err, "apply", "-f", spec, "-o", "json");
	assert_exit(code, 1, out, err);
	cJSON *doc = parse_doc(out);
	assert_counts(doc, false, 2, 1, 1);
	const cJSON *acts = cJSON_GetObjectItemCaseSensitive(doc, "actions");
	const cJSON *a1 = cJSON_GetArrayItem(acts, 0), *a2 = cJSON_GetArrayItem(acts, 1);
	assert_str_field(a1, "result", "done");
	assert_str_field(a2, "replica", "web-rep-2");
	assert_str_field(a2, "result", "failed");
	const char *why = cli_json_str((cJSON *)a2, "error");
	assert_non_null(why);
	assert_true(strlen(why) > 0);
	cJSON_Delete(doc);
	free(out);
	free(err);
}

/* ---- the other -o json documents ---- */

static void test_other_json(void **state)
{
	struct cli_tmp *t = *state;
	char spec[PATH_MAX], bad[PATH_MAX];
	cli_write_web_spec(cli_path(t, "web.yaml", spec), "shop", 2, "hi");
	char *out = NULL, *err = NULL;

	/* validate: valid */
	int code = run_zlapply(NULL, NULL, &out, &err, "validate", "-f", spec, "-o", "json");
	assert_exit(code, 0, out, err);
	cJSON *doc = parse_doc(out);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "valid")));
	assert_int_equal(num(doc, "services"), 1);
	assert_int_equal(num(doc, "errors"), 0);
	const cJSON *dep = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "deployments"), 0);
	assert_str_field(dep, "name", "shop");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "problems")), 0);
	cJSON_Delete(doc);
	free(out);
	free(err);

	/* validate: problems with file, line, col, path, message; exit 2 */
	cli_write_file(cli_path(t, "bad.yaml", bad),
		       "version: v1\n"
		       "deployment: shop\n"
		       "services:\n"
		       "  web:\n"
		       "    image: {name: \"nginx:1.25\"}\n"
		       "    scale: {mode: fixed, replicas: -1}\n");
	code = run_zlapply(NULL, NULL, &out, &err, "validate", "-f", bad, "-o", "json");
	assert_exit(code, 2, out, err);
	doc = parse_doc(out);
	assert_false(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "valid")));
	assert_int_equal(num(doc, "errors"), 1);
	const cJSON *pr = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "problems"), 0);
	assert_non_null(pr);
	assert_str_field(pr, "severity", "error");
	assert_str_field(pr, "file", bad);
	assert_int_equal(num(pr, "line"), 6);
	assert_true(num(pr, "col") > 0);
	assert_str_field(pr, "path", "services.web.scale.replicas");
	assert_contains(cli_json_str((cJSON *)pr, "message"), "-1");
	cJSON_Delete(doc);
	free(out);
	free(err);

	/* version */
	code = run_zlapply(NULL, NULL, &out, &err, "version", "-o", "json");
	assert_exit(code, 0, out, err);
	doc = parse_doc(out);
	assert_non_null(cli_json_str(doc, "version"));
	assert_true(strlen(cli_json_str(doc, "version")) > 0);
	cJSON_Delete(doc);
	free(out);
	free(err);

	/* prune and doctor on an empty root */
	code = run_zlapply(t->root, NULL, &out, &err, "prune", "-o", "json");
	assert_exit(code, 0, out, err);
	doc = parse_doc(out);
	assert_int_equal(num(doc, "removed_images"), 0);
	assert_int_equal(num(doc, "freed_bytes"), 0);
	cJSON_Delete(doc);
	free(out);
	free(err);
	code = run_zlapply(t->root, NULL, &out, &err, "doctor", "-o", "json");
	assert_exit(code, 0, out, err);
	doc = parse_doc(out);
	assert_false(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "fix")));
	assert_true(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(doc, "findings")));
	assert_int_equal(num(doc, "left"), 0);
	assert_true(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(doc, "notes")));
	cJSON_Delete(doc);
	free(out);
	free(err);

	/* pull: an image that cannot be had is an entry with its error */
	code = run_zlapply(t->root, NULL, &out, &err, "pull", "127.0.0.1:1/none/such:1", "-o", "json");
	assert_int_not_equal(code, 0);
	doc = parse_doc(out);
	const cJSON *im = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "images"), 0);
	assert_str_field(im, "image", "127.0.0.1:1/none/such:1");
	assert_str_field(im, "reference", NULL);
	assert_str_field(im, "digest", NULL);
	assert_false(is_null(im, "error"));
	cJSON_Delete(doc);
	free(out);
	free(err);
}

/* kill -o json: each replica signalled; run -o json: how each replica of
 * the run ended (here: stopped by --timeout, as the mock's job never ends
 * by itself), or a detached start. */
static void test_kill_and_run_json(void **state)
{
	struct cli_tmp *t = *state;
	char spec[PATH_MAX], job[PATH_MAX];
	apply_web(t, "shop", 2, spec);
	char *out = NULL, *err = NULL;
	int code = run_zlapply(t->root, NULL, &out, &err, "kill", "web", "--signal", "TERM", "-o", "json");
	assert_exit(code, 0, out, err);
	cJSON *doc = parse_doc(out);
	assert_str_field(doc, "signal", "SIGTERM");
	const cJSON *reps = cJSON_GetObjectItemCaseSensitive(doc, "replicas");
	assert_int_equal(cJSON_GetArraySize(reps), 2);
	assert_str_field(cJSON_GetArrayItem(reps, 0), "replica", "web-rep-1");
	assert_str_field(cJSON_GetArrayItem(reps, 0), "error", NULL);
	assert_str_field(cJSON_GetArrayItem(reps, 1), "replica", "web-rep-2");
	cJSON_Delete(doc);
	free(out);
	free(err);

	cli_write_file(cli_path(t, "job.yaml", job),
		       "version: v1\n"
		       "deployment: jobs\n"
		       "services:\n"
		       "  once:\n"
		       "    rtype: job\n"
		       "    image: {name: \"busybox:1\"}\n");
	code = run_zlapply(t->root, NULL, &out, &err, "run", "once", "-f", job, "--detach", "-o", "json");
	assert_exit(code, 0, out, err);
	doc = parse_doc(out);
	assert_str_field(doc, "job", "once");
	assert_str_field(doc, "deployment", "jobs");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "detached")));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "replicas")), 0);
	cJSON_Delete(doc);
	free(out);
	free(err);

	code = run_zlapply(t->root, NULL, &out, &err, "run", "once", "-f", job, "--timeout", "1s",
			   "-o", "json");
	assert_exit(code, 3, out, err);
	doc = parse_doc(out);
	assert_false(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "detached")));
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "timed_out")));
	reps = cJSON_GetObjectItemCaseSensitive(doc, "replicas");
	assert_int_equal(cJSON_GetArraySize(reps), 1);
	const cJSON *r = cJSON_GetArrayItem(reps, 0);
	assert_str_field(r, "replica", "once-rep-1");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "stopped")));
	assert_str_field(r, "error", NULL);
	assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r, "exit_code")) ||
		    cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(r, "exit_code")));
	assert_non_null(cJSON_GetObjectItemCaseSensitive(r, "exit_signal"));
	assert_non_null(cJSON_GetObjectItemCaseSensitive(r, "duration_ms"));
	cJSON_Delete(doc);
	free(out);
	free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bash_completion_loads, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_bash_completes_verbs_flags_values, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_bash_completes_every_verb, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_completes_deployment_names, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_zsh_and_fish_parse, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_zsh_completes, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_man_pages_render, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_color, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_diff_exit_code, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_plan_json, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_apply_json_failure, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_other_json, cli_tmp_setup, cli_tmp_teardown),
		cmocka_unit_test_setup_teardown(test_kill_and_run_json, cli_tmp_setup, cli_tmp_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
