/* test_wasm.c: the wasm backend end to end (issue 12): the real zlapply
 * binary runs WASI preview 1 modules with the real engine (Node.js's
 * node:wasi through backends/wasm/zlwasi.mjs, under zlmon --exec), beside
 * real containers (the oci backend; --backend oci opens oci + wasm as a
 * set), and each test checks what a user sees: `status` (the BACKEND
 * column, `exit: REASON` under a replica) and `status -o json` ("backend",
 * "exit_code", "exit_reason", "exit_signal", "restarts", "error"), `logs`,
 * `run`, `delete`, `doctor`, and the files, processes, cgroups and claims on
 * the host.
 *
 * Inputs, built once per program into a temp dir: the test modules
 * (tests/infra/build-wasm-modules.sh: each tests/wasm/NAME.c, and
 * truncated, corrupt and component.wasm), the example busybox image
 * (scripts/build-example-image), and -- for the registry test only, at its
 * first use -- tests/infra/build-wasm.py's OCI artifacts pushed to a
 * registry on 127.0.0.1 (tests/infra/registry.sh, plain HTTP).
 *
 * Every test has a state root of its own and a deployment name unique to
 * this run ("zw<pid>-<seq>"). Container replicas that want a network use a
 * bridge of this program's own, zlw<pid%100> with the subnet
 * 10.216.<200 + pid%50>.0/24 (outside zlapply's default 10.213.0.0/16 and
 * the 10.216.0-199 subnets of test_net, test_health and test_net_e2e);
 * zl0 and /var/lib/zlapply are never touched. WASM replicas get no address.
 *
 * Teardown runs even when a test fails: it SIGKILLs what still runs, deletes
 * the deployment, then checks nothing of it is left (no process naming the
 * root, no cgroup, no claim, no mount, no replica directory, no bridge),
 * cleans up by force whatever is and fails the test.
 *
 * The cases (issue 12's list): an exit code and both output streams; traps;
 * env ($E: too), args, workdir, bind and named preopens; read-only preopens;
 * wasm.max_memory; restart policies and back-off; jobs and cron with
 * `zlapply run`; the three media-type signals from a registry and a refused
 * component beside a container; adoption (no-op apply, lost state.db, lost
 * monitor); a mixed deployment deleted without a trace; bad modules and an
 * endpoint on a module; stop signals and grace periods; a file: module that
 * cannot be pulled is still WASM (no address, no lease, no bridge claim).
 *
 * Needs root, node (nodejs), clang with wasi-libc (the modules), runc or
 * crun and umoci (the container), docker-registry and skopeo (the registry
 * test); without root, node, clang or a runtime every test is skipped with
 * the reason. */
#include "replica-helpers.h"
#include "tests/infra/registry-fixture.h"

#define WAIT_MS 20000

/* A replica that runs (as a busybox shell) until SIGTERM. */
#define BOX_ARGS \
	"[\"/bin/sh\", \"-c\", \"echo box up; trap 'exit 0' TERM; while true; do sleep 1 & wait; done\"]"

static struct {
	bool usable;
	char skip_why[256];
	char dir[PATH_MAX];   /* /tmp/zlwasm-g-XXXXXX */
	char mods[PATH_MAX];  /* dir/mods: the test modules */
	char image[PATH_MAX]; /* dir/img: the example busybox image */
	char bridge[16];      /* zlw<pid%100> */
	char subnet[32];      /* 10.216.<200+pid%50>.0/24 */
	char ip_prefix[32];   /* "10.216.<200+pid%50>." */
	char ip_forward[16];
	int seq;
	/* the registry test's: started at its first use */
	bool reg_tried, reg_ok;
	struct rf_registry reg;
	char wasm[PATH_MAX]; /* dir/wasm: build-wasm.py's layouts and wasm.json */
	cJSON *wasm_info;
} g;

/* ---- running zlapply ---- */

/* Text with @MODS@, @IMG@, @DEP@, @DIR@ and @REG@ replaced; caller frees. */
static char *expand(const struct rh_test *t, const char *text)
{
	char reg[64] = "";
	snprintf(reg, sizeof(reg), "127.0.0.1:%d", g.reg.port);
	const struct rh_subst subst[] = { { "@MODS@", g.mods }, { "@IMG@", g.image }, { "@DEP@", t->dep },
					  { "@DIR@", t->tmp.dir }, { "@REG@", reg } };
	return rh_expand(text, subst, sizeof(subst) / sizeof(subst[0]));
}

static char *apply_spec(const struct rh_test *t, const char *file, const char *services,
			int want, char **err_out)
{
	return rh_apply(t, file, services, want, err_out, NULL, false);
}

/* Polls status until svc-rep-index is in state with at least min_restarts
 * restarts (and a pid when running); fails after WAIT_MS. */
static struct rh_replica wait_rep(const struct rh_test *t, const char *svc, int index,
				  const char *state, int min_restarts)
{
	return rh_wait_rep(t, svc, index, state, min_restarts, WAIT_MS, 50);
}

static struct rh_replica running(const struct rh_test *t, const char *svc, int index)
{
	struct rh_replica w = wait_rep(t, svc, index, "running", 0);
	if (!oci_test_pid_alive(w.r.pid))
		FAIL("expected %s-rep-%d's pid %lld to be alive (status says running): %s", svc, index,
		     w.r.pid, w.r.json);
	return w;
}

/* A WASM replica that ended on its own: exited, with code and reason, on
 * the wasm backend, without pid or address. */
static struct rh_replica expect_wasm_exit(const struct rh_test *t, const char *svc, int code,
					  const char *reason)
{
	struct rh_replica w = wait_rep(t, svc, 1, "exited", 0);
	if (w.r.exit_code != code || strcmp(w.r.exit_reason, reason) != 0 || w.r.exit_signal[0])
		FAIL("expected %s-rep-1 to exit with code %d, exit_reason \"%s\" and no signal; status says: %s",
		     svc, code, reason, w.r.json);
	if (strcmp(w.backend, "wasm") != 0 || w.ip[0] || w.netns[0] || w.r.pid != -1)
		FAIL("expected %s-rep-1 on backend \"wasm\" with no ip, netns or pid; status says: %s",
		     svc, w.r.json);
	return w;
}

/* The table's row of replica name (split at blanks into fields, at most
 * max) and the line after it (*next, malloc'd; "" when none). Fails the
 * test when there is no row. Returns the number of fields. */
static int table_row(const char *table, const char *dep, const char *name, char fields[][64],
		     int max, char **next)
{
	const char *p = table;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char *line = strndup(p, len);
		char *save = NULL, *copy = strdup(line);
		const char *a = strtok_r(copy, " ", &save), *b = a ? strtok_r(NULL, " ", &save) : NULL;
		bool hit = a && b && strcmp(a, dep) == 0 && strcmp(b, name) == 0;
		free(copy);
		if (hit) {
			int n = 0;
			save = NULL;
			for (char *f = strtok_r(line, " ", &save); f && n < max;
			     f = strtok_r(NULL, " ", &save))
				snprintf(fields[n++], 64, "%s", f);
			free(line);
			const char *q = nl ? nl + 1 : p + len;
			const char *nl2 = strchr(q, '\n');
			*next = strndup(q, nl2 ? (size_t)(nl2 - q) : strlen(q));
			return n;
		}
		free(line);
		p = nl ? nl + 1 : p + len;
	}
	FAIL("expected a row for %s of %s in the status table:\n%s", name, dep, table);
	return 0;
}

/* The "exit: ..." line under a row, trimmed; "" when the next line is not one. */
static const char *exit_line(const char *next)
{
	while (*next == ' ')
		next++;
	return strncmp(next, "exit: ", 6) == 0 ? next : "";
}

/* Checks the table row of svc-rep-1: backend, IP column, EXIT column and
 * the `exit: REASON` line under it (want_exit_line "" for none). */
static void expect_table_row(const struct rh_test *t, const char *svc, const char *backend,
			     const char *ip, const char *exit_col, const char *want_exit_line)
{
	char *table = rh_status_table(t), fields[12][64], *next = NULL, name[128];
	snprintf(name, sizeof(name), "%s-rep-1", svc);
	int n = table_row(table, t->dep, name, fields, 12, &next);
	if (n < 10 || strcmp(fields[COL_BACKEND], backend) != 0 || strcmp(fields[COL_IP], ip) != 0 ||
	    strcmp(fields[COL_EXIT], exit_col) != 0 || strcmp(exit_line(next), want_exit_line) != 0)
		FAIL("expected the status row of %s to show BACKEND %s, IP %s, EXIT %s and %s%s%s; the table:\n%s",
		     name, backend, ip, exit_col, *want_exit_line ? "the line \"" : "no exit: line",
		     want_exit_line, *want_exit_line ? "\" under it" : "", table);
	free(next);
	free(table);
}

/* ---- logs ---- */

/* `logs svc -d dep` once it holds every needle (a line each, exactly);
 * fails after WAIT_MS. Caller frees. */
static char *logs_with_lines(const struct rh_test *t, const char *svc, const char *const *lines)
{
	return rh_logs_with_lines(t, svc, lines, WAIT_MS, 50, false);
}
#define LOGS_WITH(t, svc, ...) logs_with_lines((t), (svc), (const char *const[]){ __VA_ARGS__, NULL })

/* `logs svc -d dep` once it contains text anywhere; fails after WAIT_MS.
 * Caller frees. */
static char *logs_containing(const struct rh_test *t, const char *svc, const char *text)
{
	int64_t deadline = cli_mono_ms() + WAIT_MS;
	for (;;) {
		char *out = NULL, *err = NULL;
		int code = ZL(t, &out, &err, "logs", svc, "-d", t->dep);
		if (code == 0 && strstr(out, text)) {
			free(err);
			return out;
		}
		if (cli_mono_ms() > deadline)
			FAIL("expected `logs %s` to contain \"%s\"; got exit %d\n--- stdout:\n%s--- stderr:\n%s",
			     svc, text, code, out, err);
		free(out);
		free(err);
		cli_sleep_ms(50);
	}
}

/* Logs exactly equal to want (the module's whole output). */
static void expect_logs_exactly(const struct rh_test *t, const char *svc, const char *want)
{
	int64_t deadline = cli_mono_ms() + WAIT_MS;
	for (;;) {
		char *out = NULL, *err = NULL;
		int code = ZL(t, &out, &err, "logs", svc, "-d", t->dep);
		bool ok = code == 0 && strcmp(out, want) == 0;
		if (!ok && cli_mono_ms() > deadline)
			FAIL("expected `logs %s` to be exactly:\n%s--- got exit %d, stdout:\n%s--- stderr:\n%s",
			     svc, want, code, out, err);
		free(out);
		free(err);
		if (ok)
			return;
		cli_sleep_ms(50);
	}
}

/* ---- the host ---- */

/* "PID CMDLINE" lines of the processes (but this one) whose command line
 * names the root or whose cgroup is one of the deployment's. */
static char *procs_of(const struct rh_test *t, pid_t **pids, size_t *npids)
{
	return rh_procs_of(t, NULL, 4096, INT_MAX, pids, npids);
}

/* procs_of() after giving them up to 3 s to go (a zlmon exits just after
 * writing the exit record delete waits for). */
static char *procs_left(const struct rh_test *t, pid_t **pids, size_t *npids)
{
	return rh_procs_left(t, procs_of, 3000, pids, npids);
}

/* Everything of the deployment still on the host, as text ("" when nothing). */
static char *leftovers(const struct rh_test *t)
{
	pid_t *pids;
	size_t npids;
	char *p = procs_left(t, &pids, &npids), *c = rh_cgroups_of(t), *cl = rh_claims_of(t);
	char *m = oci_test_mounts_under(t->tmp.root), *w = rh_root_entries(t, "wasm");
	char *ct = rh_root_entries(t, "containers");
	free(pids);
	char *all = NULL;
	if (*p || *c || *cl || *m || *w || *ct) {
		if (asprintf(&all,
			     "-- processes:\n%s-- cgroups:\n%s-- claims:\n%s-- mounts:\n%s-- %s/wasm:\n%s-- %s/containers:\n%s",
			     p, c, cl, m, t->tmp.root, w, t->tmp.root, ct) < 0)
			abort();
	} else {
		all = strdup("");
	}
	free(p);
	free(c);
	free(cl);
	free(m);
	free(w);
	free(ct);
	return all;
}

/* A number from a file (the first one); -1 when unreadable. */
static long long read_number(const char *path)
{
	char *text = cli_read_file(path);
	long long v = text ? strtoll(text, NULL, 10) : -1;
	free(text);
	return v;
}

/* The parent of pid, from /proc/PID/stat; -1 when unknown. */
static long long ppid_of(long long pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%lld/stat", pid);
	char *stat = cli_read_file(path);
	long long ppid = -1;
	const char *paren = stat ? strrchr(stat, ')') : NULL;
	if (paren && sscanf(paren + 1, " %*c %lld", &ppid) != 1)
		ppid = -1;
	free(stat);
	return ppid;
}

/* ---- setup and teardown ---- */

static int group_setup(void **state)
{
	(void)state;
	int pid = (int)getpid();
	snprintf(g.bridge, sizeof(g.bridge), "zlw%d", pid % 100);
	snprintf(g.subnet, sizeof(g.subnet), "10.216.%d.0/24", 200 + pid % 50);
	snprintf(g.ip_prefix, sizeof(g.ip_prefix), "10.216.%d.", 200 + pid % 50);
	oci_test_ip_forward_save(g.ip_forward, sizeof(g.ip_forward));
	if (geteuid() != 0) {
		snprintf(g.skip_why, sizeof(g.skip_why), "needs root (cgroups, containers)");
		return 0;
	}
	if (!oci_test_have("node") && !oci_test_have("nodejs")) {
		snprintf(g.skip_why, sizeof(g.skip_why), "no node: the wasm backend's engine (apt-get install nodejs)");
		return 0;
	}
	if (!oci_test_have("crun") && !oci_test_have("runc")) {
		snprintf(g.skip_why, sizeof(g.skip_why), "no crun or runc");
		return 0;
	}
	if (!oci_test_have("clang") || !oci_test_have("umoci")) {
		snprintf(g.skip_why, sizeof(g.skip_why),
			 "no clang (the test modules: clang, lld, wasi-libc, libclang-rt-dev-wasm32) or umoci (the example image); run scripts/setup");
		return 0;
	}
	snprintf(g.dir, sizeof(g.dir), "/tmp/zlwasm-g-XXXXXX");
	if (!mkdtemp(g.dir)) {
		fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
		return -1;
	}
	cli_pathf(g.mods, "%s/mods", g.dir);
	cli_pathf(g.image, "%s/img", g.dir);
	cli_pathf(g.wasm, "%s/wasm", g.dir);
	int64_t t0 = cli_mono_ms();
	if (oci_test_sh_quiet("'%s/tests/infra/build-wasm-modules.sh' '%s'", oci_test_source_root(),
			      g.mods) != 0) {
		/* Said in full: run again with the output shown. */
		rf_sh("'%s/tests/infra/build-wasm-modules.sh' '%s' >&2", oci_test_source_root(), g.mods);
		fprintf(stderr, "building the test modules into %s failed\n", g.mods);
		return -1;
	}
	if (oci_test_build_example_image(g.image) < 0)
		return -1;
	fprintf(stderr, "# wasm: modules and image in %lld ms; bridge %s, subnet %s\n",
		(long long)(cli_mono_ms() - t0), g.bridge, g.subnet);
	g.usable = true;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (g.reg.dir[0])
		rf_registry_stop(&g.reg);
	cJSON_Delete(g.wasm_info);
	rh_group_cleanup(true, g.bridge, g.subnet, g.ip_forward, g.dir);
	return 0;
}

static int setup(void **state)
{
	return rh_setup(state, "/tmp/zlwasm-XXXXXX", "zw", ++g.seq, g.bridge, g.subnet, expand);
}

/* Every test starts here: skipped (with the reason) when the host cannot
 * run it. */
static struct rh_test *begin(void **state)
{
	return rh_begin(state, g.usable, g.skip_why);
}

static int teardown(void **state)
{
	static const struct rh_teardown_ops ops = { .leftovers = leftovers, .procs = procs_of };
	return rh_teardown(*state, g.usable, &ops);
}

/* ---- 1. an exit code, stdout and stderr ---- */

static void test_exit_code_and_logs(void **state)
{
	struct rh_test *t = begin(state);
	char *err = NULL;
	char *out = apply_spec(t, "exit7.yaml",
			       "  e7:\n"
			       "    rtype: job\n"
			       "    image: {name: \"file:@MODS@/exit7.wasm\"}\n"
			       "    restart_policy: {kind: \"no\"}\n",
			       0, &err);
	rh_assert_action(out, "+ create e7-rep-1", err);
	free(out);
	free(err);
	struct rh_replica w = expect_wasm_exit(t, "e7", 7, "exited");
	if (strncmp(w.image_digest, "sha256:", 7) != 0)
		FAIL("expected e7-rep-1 to record the module's image digest; status says: %s", w.r.json);
	/* The module's two lines and nothing of the launcher's (a normal exit). */
	expect_logs_exactly(t, "e7", "exit7: out\nexit7: err\n");
	expect_table_row(t, "e7", "wasm", "-", "7", "");
}

/* ---- 2. traps ---- */

static void test_trap(void **state)
{
	struct rh_test *t = begin(state);
	free(apply_spec(t, "trap.yaml",
			"  tr:\n"
			"    rtype: job\n"
			"    image: {name: \"file:@MODS@/trap.wasm\"}\n"
			"    restart_policy: {kind: \"no\"}\n"
			"  dz:\n"
			"    rtype: job\n"
			"    image: {name: \"file:@MODS@/traps.wasm\"}\n"
			"    command: {args: [\"div\"]}\n"
			"    restart_policy: {kind: \"no\"}\n",
			0, NULL));
	expect_wasm_exit(t, "tr", 134, "wasm_trap: unreachable");
	expect_wasm_exit(t, "dz", 134, "wasm_trap: divide_by_zero");
	expect_table_row(t, "tr", "wasm", "-", "134", "exit: wasm_trap: unreachable");
	expect_table_row(t, "dz", "wasm", "-", "134", "exit: wasm_trap: divide_by_zero");
	/* The module's line before the trap, then the launcher's one line. */
	char *logs = LOGS_WITH(t, "tr", "trap: about to trap");
	char *why = cli_find_line(logs, (const char *const[]){ "zlwasi: wasm_trap: unreachable", NULL });
	if (!why || cli_count_lines(logs) != 2)
		FAIL("expected `logs tr` to be the module's line and one \"zlwasi: wasm_trap: unreachable...\" line; got:\n%s",
		     logs);
	free(why);
	free(logs);
}

/* ---- 3. env, args, preopens ---- */

static void test_env_args_preopens(void **state)
{
	struct rh_test *t = begin(state);
	char host[PATH_MAX], file[PATH_MAX], spec[PATH_MAX];
	cli_path(&t->tmp, "host", host);
	assert_int_equal(mkdir(host, 0755), 0);
	cli_write_file(cli_pathf(file, "%s/in.txt", host), "hello from the host\n");
	static const char services[] =
		"  ea:\n"
		"    rtype: job\n"
		"    image: {name: \"file:@MODS@/env_args.wasm\"}\n"
		"    command: {args: [\"one\", \"two words\"]}\n"
		"    env: {GREETING: \"$E:ZLW_TEST_GREETING\"}\n"
		"    restart_policy: {kind: \"no\"}\n"
		"  plain:\n"
		"    rtype: job\n"
		"    image: {name: \"file:@MODS@/env_args.wasm\"}\n"
		"    env: {GREETING: \"plain value\", PWD: /from/the/spec}\n"
		"    restart_policy: {kind: \"no\"}\n"
		"  bare:\n"
		"    rtype: job\n"
		"    image: {name: \"file:@MODS@/env_args.wasm\"}\n"
		"    restart_policy: {kind: \"no\"}\n"
		"  rd:\n"
		"    rtype: job\n"
		"    image: {name: \"file:@MODS@/files.wasm\"}\n"
		"    command: {args: [read, /host/in.txt]}\n"
		"    storage: [{type: bind, source: \"@DIR@/host\", target: /host}]\n"
		"    restart_policy: {kind: \"no\"}\n"
		"  rel:\n"
		"    rtype: job\n"
		"    image: {name: \"file:@MODS@/files.wasm\"}\n"
		"    command: {args: [read, in.txt], workdir: /host}\n"
		"    storage: [{type: bind, source: \"@DIR@/host\", target: /host}]\n"
		"    restart_policy: {kind: \"no\"}\n"
		"  wr:\n"
		"    rtype: job\n"
		"    image: {name: \"file:@MODS@/files.wasm\"}\n"
		"    command: {args: [write, /host/out.txt, \"written by wasm\"]}\n"
		"    storage: [{type: bind, source: \"@DIR@/host\", target: /host}]\n"
		"    restart_policy: {kind: \"no\"}\n"
		"  vol:\n"
		"    rtype: job\n"
		"    image: {name: \"file:@MODS@/files.wasm\"}\n"
		"    command: {args: [write, /data/v.txt, \"in a named volume\"]}\n"
		"    storage: [{type: named, name: wdata, target: /data}]\n"
		"    restart_policy: {kind: \"no\"}\n";
	rh_write_spec(t, "env.yaml", services, spec);

	/* $E: is zlapply's own environment; unset, the apply is refused. */
	char *out = NULL, *err = NULL;
	int code = ZL(t, &out, &err, "apply", "-f", spec);
	if (code != 2 || !strstr(err, "service ea") || !strstr(err, "ZLW_TEST_GREETING"))
		FAIL("expected apply with $E:ZLW_TEST_GREETING unset to exit 2 naming service ea and the variable; exit %d\n--- stdout:\n%s--- stderr:\n%s",
		     code, out, err);
	free(out);
	free(err);
	/* GREETING in zlapply's environment must not reach any module. */
	code = ZL_ENV(t, CLI_ENV("ZLW_TEST_GREETING=hi from $E", "GREETING=leaked from the host"),
		      &out, &err, "apply", "-f", spec);
	assert_exit(code, 0, out, err);
	free(out);
	free(err);

	static const char *const jobs[] = { "ea", "plain", "bare", "rd", "rel", "wr", "vol" };
	for (size_t i = 0; i < sizeof(jobs) / sizeof(jobs[0]); i++)
		expect_wasm_exit(t, jobs[i], 0, "exited");
	expect_logs_exactly(t, "ea", "argv[1]=one\nargv[2]=two words\nGREETING=hi from $E\nPWD unset\n");
	expect_logs_exactly(t, "plain", "GREETING=plain value\nPWD=/from/the/spec\n");
	expect_logs_exactly(t, "bare", "GREETING unset\nPWD unset\n");
	expect_logs_exactly(t, "rd", "hello from the host\n");
	expect_logs_exactly(t, "rel", "hello from the host\n");
	expect_logs_exactly(t, "wr", "wrote\n");
	expect_logs_exactly(t, "vol", "wrote\n");

	char *written = cli_read_file(cli_pathf(file, "%s/out.txt", host));
	if (!written || strcmp(written, "written by wasm") != 0)
		FAIL("expected the bind-mounted host file %s to hold \"written by wasm\"; it holds: %s",
		     file, written ? written : "(no file)");
	free(written);
	cli_pathf(file, "%s/volumes/%s/wdata/v.txt", t->tmp.root, t->dep);
	char *in_volume = cli_read_file(file);
	if (!in_volume || strcmp(in_volume, "in a named volume") != 0)
		FAIL("expected the named volume's file %s to hold \"in a named volume\"; it holds: %s",
		     file, in_volume ? in_volume : "(no file)");
	free(in_volume);
}

/* ---- 4. read-only preopens ---- */

static void test_readonly_preopen(void **state)
{
	struct rh_test *t = begin(state);
	char ro[PATH_MAX], file[PATH_MAX], newfile[PATH_MAX];
	cli_path(&t->tmp, "ro", ro);
	assert_int_equal(mkdir(ro, 0755), 0);
	cli_write_file(cli_pathf(file, "%s/file", ro), "ro content\n");
	cli_pathf(newfile, "%s/new", ro);
	free(apply_spec(t, "ro.yaml",
			"  row:\n"
			"    rtype: job\n"
			"    image: {name: \"file:@MODS@/files.wasm\"}\n"
			"    command: {args: [write, /ro/file, changed]}\n"
			"    storage: [{type: bind, source: \"@DIR@/ro\", target: /ro, readonly: true}]\n"
			"    restart_policy: {kind: \"no\"}\n"
			"  rnew:\n"
			"    rtype: job\n"
			"    image: {name: \"file:@MODS@/files.wasm\"}\n"
			"    command: {args: [write, /ro/new, x]}\n"
			"    storage: [{type: bind, source: \"@DIR@/ro\", target: /ro, readonly: true}]\n"
			"    restart_policy: {kind: \"no\"}\n"
			"  pre:\n"
			"    rtype: job\n"
			"    image: {name: \"file:@MODS@/files.wasm\"}\n"
			"    command: {args: [writeat, /pre, new, x]}\n"
			"    wasm: {preopens: [{source: \"@DIR@/ro\", target: /pre, readonly: true}]}\n"
			"    restart_policy: {kind: \"no\"}\n"
			"  ror:\n"
			"    rtype: job\n"
			"    image: {name: \"file:@MODS@/files.wasm\"}\n"
			"    command: {args: [read, /ro/file]}\n"
			"    storage: [{type: bind, source: \"@DIR@/ro\", target: /ro, readonly: true}]\n"
			"    restart_policy: {kind: \"no\"}\n",
			0, NULL));
	/* files exits 3 on an error, saying it on stderr: not a launcher verdict. */
	expect_wasm_exit(t, "row", 3, "exited");
	expect_wasm_exit(t, "rnew", 3, "exited");
	expect_wasm_exit(t, "pre", 3, "exited");
	expect_wasm_exit(t, "ror", 0, "exited");
	expect_logs_exactly(t, "row", "files: /ro/file: Read-only file system\n");
	expect_logs_exactly(t, "rnew", "files: /ro/new: Read-only file system\n");
	expect_logs_exactly(t, "pre", "files: new: Read-only file system\n");
	expect_logs_exactly(t, "ror", "ro content\n");
	char *content = cli_read_file(file);
	if (!content || strcmp(content, "ro content\n") != 0)
		FAIL("expected the read-only host file %s unchanged (\"ro content\"); it holds: %s", file,
		     content ? content : "(no file)");
	free(content);
	if (access(newfile, F_OK) == 0)
		FAIL("expected no file %s: it was created through a read-only preopen", newfile);
}

/* ---- 5. wasm.max_memory ---- */

/* hog's "hog: got N MiB" line: N, or -1. */
static int hog_mib(const char *logs)
{
	char *line = cli_find_line(logs, (const char *const[]){ "hog: got ", NULL });
	int n = -1;
	if (line && sscanf(line, "hog: got %d MiB", &n) != 1)
		n = -1;
	free(line);
	return n;
}

static void test_memory_limit(void **state)
{
	struct rh_test *t = begin(state);
	free(apply_spec(t, "hog.yaml",
			"  hog:\n"
			"    rtype: job\n"
			"    image: {name: \"file:@MODS@/hog.wasm\"}\n"
			"    wasm: {max_memory: 16Mi}\n"
			"    restart_policy: {kind: \"no\"}\n"
			"  cope:\n"
			"    rtype: job\n"
			"    image: {name: \"file:@MODS@/hog.wasm\"}\n"
			"    command: {args: [cope]}\n"
			"    wasm: {max_memory: 16Mi}\n"
			"    restart_policy: {kind: \"no\"}\n",
			0, NULL));
	expect_wasm_exit(t, "hog", 1, "memory_limit");
	/* A module that copes with the refused growth is a plain exit 0. */
	expect_wasm_exit(t, "cope", 0, "exited");
	expect_table_row(t, "hog", "wasm", "-", "1", "exit: memory_limit");
	expect_table_row(t, "cope", "wasm", "-", "0", "");

	char *logs = LOGS_WITH(t, "hog", "zlwasi: memory_limit: memory.grow past wasm.max_memory (16 MiB) was refused; the module then exited 1");
	int mib = hog_mib(logs);
	if (mib < 12 || mib > 16)
		FAIL("expected hog to get 12-16 MiB under max_memory 16Mi; its logs:\n%s", logs);
	free(logs);
	char *cope = logs_containing(t, "cope", "hog: got ");
	mib = hog_mib(cope);
	if (strstr(cope, "zlwasi") || mib < 12 || mib > 16)
		FAIL("expected cope to get 12-16 MiB and no launcher line (it coped); logs:\n%s", cope);
	free(cope);
}

/* ---- 6. restart policy and back-off ---- */

static void test_restart_backoff(void **state)
{
	struct rh_test *t = begin(state);
	static const char services[] =
		"  cr:\n"
		"    image: {name: \"file:@MODS@/crash.wasm\"}\n"
		"    restart_policy: {kind: on_failure, delay: 2s}\n"
		"  cm:\n"
		"    image: {name: \"file:@MODS@/crash.wasm\"}\n"
		"    restart_policy: {kind: on_failure, max_attempts: 1, delay: 2s}\n"
		"  cn:\n"
		"    image: {name: \"file:@MODS@/crash.wasm\"}\n"
		"    restart_policy: {kind: \"no\"}\n";
	char *err = NULL;
	char *out = apply_spec(t, "crash.yaml", services, 0, &err);
	rh_assert_action(out, "+ create cr-rep-1", err);
	free(out);
	free(err);
	static const char *const svcs[] = { "cr", "cm", "cn" };
	for (int i = 0; i < 3; i++) {
		struct rh_replica w = expect_wasm_exit(t, svcs[i], 2, "exited");
		if (w.r.restarts != 0)
			FAIL("expected %s-rep-1 not restarted yet; status says: %s", svcs[i], w.r.json);
	}

	/* The first restart is immediate; restart_policy no stays exited. */
	out = apply_spec(t, "crash.yaml", services, 0, &err);
	rh_assert_action(out, "> restart cr-rep-1 (exited 2)", err);
	rh_assert_action(out, "> restart cm-rep-1 (exited 2)", err);
	if (strstr(out, "cn-rep-1"))
		FAIL("expected no action on cn-rep-1 (restart_policy no); apply said:\n%s", out);
	free(out);
	free(err);
	struct rh_replica cr = wait_rep(t, "cr", 1, "exited", 1);
	wait_rep(t, "cm", 1, "exited", 1);
	/* Now it backs off (delay 2s): an apply at once restarts nothing. */
	out = apply_spec(t, "crash.yaml", services, 0, &err);
	if (strstr(out, "restart"))
		FAIL("expected no restart during the 2s back-off; apply said:\n%s--- status: %s", out,
		     cr.r.json);
	free(out);
	free(err);
	cr = rh_rep(t, "cr", 1);
	if (cr.r.restarts != 1 || cr.backoff_seconds < 1 || cr.backoff_seconds > 2)
		FAIL("expected cr-rep-1 with 1 restart, backing off 1-2 s; status says: %s", cr.r.json);
	char *table = rh_status_table(t), fields[12][64], *next = NULL;
	table_row(table, t->dep, "cr-rep-1", fields, 12, &next);
	if (strcmp(fields[COL_STATE], "backoff") != 0)
		FAIL("expected the status table to show cr-rep-1 as \"backoff Ns\":\n%s", table);
	free(next);
	free(table);

	/* Once the back-off is over the next apply restarts it; cm has used its
	 * one attempt (max_attempts 1). */
	int64_t deadline = cli_mono_ms() + 5000;
	while (rh_rep(t, "cr", 1).backoff_seconds > 0 && cli_mono_ms() < deadline)
		cli_sleep_ms(100);
	out = apply_spec(t, "crash.yaml", services, 0, &err);
	rh_assert_action(out, "> restart cr-rep-1 (exited 2)", err);
	if (strstr(out, "cm-rep-1") || strstr(out, "cn-rep-1"))
		FAIL("expected only cr-rep-1 restarted (cm: max_attempts 1 used, cn: no); apply said:\n%s",
		     out);
	free(out);
	free(err);
	wait_rep(t, "cr", 1, "exited", 2);
	/* The back-off is decided by the apply that sees the exit (status only
	 * reads): now 4 s, the 2 s doubled. */
	out = apply_spec(t, "crash.yaml", services, 0, &err);
	if (strstr(out, "restart"))
		FAIL("expected no restart right after cr-rep-1's second exit; apply said:\n%s", out);
	free(out);
	free(err);
	cr = rh_rep(t, "cr", 1);
	if (cr.r.restarts != 2 || cr.r.exit_code != 2 || cr.backoff_seconds < 3 || cr.backoff_seconds > 4)
		FAIL("expected cr-rep-1 with 2 restarts, exit 2, backing off 3-4 s (2s doubled); status says: %s",
		     cr.r.json);
	struct rh_replica cm = rh_rep(t, "cm", 1), cn = rh_rep(t, "cn", 1);
	if (cm.r.restarts != 1 || cn.r.restarts != 0 || strcmp(cm.r.state, "exited") != 0 ||
	    strcmp(cn.r.state, "exited") != 0)
		FAIL("expected cm-rep-1 exited after 1 restart and cn-rep-1 exited without any; status says:\n%s\n%s",
		     cm.r.json, cn.r.json);
	/* Every run of the replica is in its logs. */
	char *logs = LOGS_WITH(t, "cr", "crash");
	if (cli_count_lines(logs) != 3)
		FAIL("expected 3 \"crash\" lines in cr's logs (3 runs); got:\n%s", logs);
	free(logs);
}

/* ---- 7. jobs and cron ---- */

static void test_job_and_cron(void **state)
{
	struct rh_test *t = begin(state);
	char *err = NULL;
	char *out = apply_spec(t, "jobs.yaml",
			       "  j7:\n"
			       "    rtype: job\n"
			       "    image: {name: \"file:@MODS@/exit7.wasm\"}\n"
			       "    restart_policy: {kind: \"no\"}\n"
			       "  ok:\n"
			       "    rtype: job\n"
			       "    image: {name: \"file:@MODS@/sleeper.wasm\"}\n"
			       "    command: {args: [\"0\"]}\n"
			       "    restart_policy: {kind: \"no\"}\n"
			       "  cj:\n"
			       "    rtype: cron\n"
			       "    schedule: \"0 0 3 * * SUN\"\n"
			       "    image: {name: \"file:@MODS@/crash.wasm\"}\n",
			       0, &err);
	if (strstr(out, "cj-rep"))
		FAIL("expected the first apply only to start cj's schedule; it said:\n%s", out);
	free(out);
	free(err);
	expect_wasm_exit(t, "j7", 7, "exited");
	expect_wasm_exit(t, "ok", 0, "exited");

	/* run: a new run now; exit 1 when the module exited non-zero (cmd_run.c). */
	int code = ZL(t, &out, &err, "run", "j7", "-d", t->dep);
	if (code != 1 || !strstr(out, "j7-rep-1 exited 7 after "))
		FAIL("expected `run j7` to exit 1 saying \"j7-rep-1 exited 7 after ...\"; exit %d\n--- stdout:\n%s--- stderr:\n%s",
		     code, out, err);
	free(out);
	free(err);
	code = ZL(t, &out, &err, "run", "ok", "-d", t->dep);
	if (code != 0 || !strstr(out, "ok-rep-1 exited 0 after "))
		FAIL("expected `run ok` to exit 0 saying \"ok-rep-1 exited 0 after ...\"; exit %d\n--- stdout:\n%s--- stderr:\n%s",
		     code, out, err);
	free(out);
	free(err);
	code = ZL(t, &out, &err, "run", "cj", "-d", t->dep);
	if (code != 1 || !strstr(out, "cj-rep-1 exited 2 after "))
		FAIL("expected `run cj` (cron) to run it now and exit 1 saying \"cj-rep-1 exited 2 after ...\"; exit %d\n--- stdout:\n%s--- stderr:\n%s",
		     code, out, err);
	free(out);
	free(err);
	expect_wasm_exit(t, "cj", 2, "exited");
	expect_logs_exactly(t, "cj", "crash\n");

	/* The runs: j7 twice (created, run requested), the cron once. */
	cJSON *doc = rh_status_doc(t);
	cJSON *runs = cJSON_GetObjectItemCaseSensitive(doc, "runs"), *r;
	int j7_runs = 0, cj_runs = 0;
	char *archived = NULL;
	cJSON_ArrayForEach(r, runs)
	{
		const char *svc = cli_json_str(r, "service"), *cause = cli_json_str(r, "cause");
		long long run = oci_test_json_int(r, "run"), ec = oci_test_json_int(r, "exit_code");
		if (!svc)
			continue;
		if (strcmp(svc, "j7") == 0) {
			j7_runs++;
			const char *want = run == 1 ? "created" : "run requested";
			if (ec != 7 || !cause || strcmp(cause, want) != 0)
				FAIL("expected j7 run %lld: exit 7, cause \"%s\"; runs:\n%s", run, want,
				     cJSON_Print(runs));
			const char *log = cli_json_str(r, "log");
			if (run == 1 && log)
				archived = cli_read_file(log);
		} else if (strcmp(svc, "cj") == 0) {
			cj_runs++;
			if (ec != 2 || !cause || strcmp(cause, "run requested") != 0)
				FAIL("expected cj's run: exit 2, cause \"run requested\"; runs:\n%s",
				     cJSON_Print(runs));
		}
	}
	if (j7_runs != 2 || cj_runs != 1)
		FAIL("expected 2 runs of j7 and 1 of cj; runs:\n%s", cJSON_Print(runs));
	/* The first run's output moved to its run log when the second started. */
	if (!archived || !strstr(archived, "exit7: out") || !strstr(archived, "exit7: err"))
		FAIL("expected j7's first run log to hold its output; it holds: %s",
		     archived ? archived : "(no log)");
	free(archived);
	cJSON *sched = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "schedules"), 0);
	if (!sched || !cli_json_str(sched, "next_run"))
		FAIL("expected cj's schedule with a next_run in status; got:\n%s", cJSON_Print(doc));
	cJSON_Delete(doc);
}

/* ---- 8. OCI artifacts from a registry ---- */

/* The registry on 127.0.0.1 with build-wasm.py's artifacts, once. */
static void need_registry(void)
{
	static const char *const layouts[] = { "wasm-type-module", "wasm-config", "wasm-layer",
					       "wasm-type-component" };
	if (!g.reg_tried) {
		g.reg_tried = true;
		char script[PATH_MAX], regdir[PATH_MAX];
		rf_fmt(regdir, sizeof(regdir), "%s/reg", g.dir);
		bool ok = rf_sh("python3 %s %s >&2", rf_infra("build-wasm.py", script), g.wasm) == 0 &&
			  (g.wasm_info = rf_image_info(g.wasm, "wasm")) != NULL &&
			  rf_registry_start(&g.reg, "plain", regdir) == 0;
		for (size_t i = 0; ok && i < sizeof(layouts) / sizeof(layouts[0]); i++) {
			char repo[128];
			rf_fmt(repo, sizeof(repo), "test/%s:1.0", layouts[i]);
			ok = rf_push(&g.reg, g.wasm, layouts[i], repo) == 0;
		}
		g.reg_ok = ok;
	}
	if (!g.reg_ok)
		FAIL("the registry on 127.0.0.1 with the WASM artifacts could not be set up (see above); run scripts/setup (docker-registry, skopeo, python3)");
}

static const cJSON *wasm_info(const char *name)
{
	const cJSON *i = cJSON_GetObjectItemCaseSensitive(g.wasm_info, name);
	if (!i)
		FAIL("build-wasm.py's wasm.json has no \"%s\"", name);
	return i;
}

/* The exit code a build-wasm.py module passes to proc_exit: its code ends
 * `i32.const N; call 0; end` (41 N 10 00 0b, N one byte of LEB128). */
static int module_exit_code(const char *layout, const char *wasm_digest)
{
	char path[PATH_MAX];
	cli_pathf(path, "%s/%s/blobs/sha256/%s", g.wasm, layout, wasm_digest + 7);
	FILE *f = fopen(path, "rb");
	if (!f)
		FAIL("open %s: %s", path, strerror(errno));
	unsigned char b[4096];
	size_t n = fread(b, 1, sizeof(b), f);
	fclose(f);
	if (n < 13 || b[n - 5] != 0x41 || b[n - 3] != 0x10 || b[n - 2] != 0x00 || b[n - 1] != 0x0b ||
	    b[n - 4] & 0xc0)
		FAIL("%s does not end with i32.const N; call 0; end (N < 64)", path);
	return b[n - 4];
}

static void test_registry_artifacts(void **state)
{
	struct rh_test *t = begin(state);
	need_registry();
	char *err = NULL;
	char *out = apply_spec(t, "reg.yaml",
			       "  tm:\n"
			       "    rtype: job\n"
			       "    image: {name: \"@REG@/test/wasm-type-module:1.0\"}\n"
			       "    restart_policy: {kind: \"no\"}\n"
			       "  wc:\n"
			       "    rtype: job\n"
			       "    image: {name: \"@REG@/test/wasm-config:1.0\"}\n"
			       "    restart_policy: {kind: \"no\"}\n"
			       "  wl:\n"
			       "    rtype: job\n"
			       "    image: {name: \"@REG@/test/wasm-layer:1.0\"}\n"
			       "    restart_policy: {kind: \"no\"}\n"
			       "  comp:\n"
			       "    image: {name: \"@REG@/test/wasm-type-component:1.0\"}\n"
			       "  box:\n"
			       "    image: {name: \"oci:@IMG@:1.0\"}\n"
			       "    network_mode: none\n"
			       "    command: {args: " BOX_ARGS "}\n",
			       1, &err);
	/* The component is refused at apply, for that service only. */
	char *line = cli_find_line(err, (const char *const[]){ "comp-rep-1", "preview 2 component",
							       "wasmtime", NULL });
	if (!line)
		FAIL("expected apply to refuse comp-rep-1 as a preview 2 component, naming wasmtime; stderr:\n%s",
		     err);
	free(line);
	free(out);
	free(err);

	static const struct {
		const char *svc, *layout;
	} mods[] = { { "tm", "wasm-type-module" }, { "wc", "wasm-config" }, { "wl", "wasm-layer" } };
	int codes[3];
	for (int i = 0; i < 3; i++) {
		const cJSON *info = wasm_info(mods[i].layout);
		codes[i] = module_exit_code(mods[i].layout, rf_info_str(info, "wasm"));
		for (int k = 0; k < i; k++)
			if (codes[k] == codes[i])
				FAIL("expected distinct exit codes of the artifacts; %s and %s both exit %d",
				     mods[k].layout, mods[i].layout, codes[i]);
		struct rh_replica w = expect_wasm_exit(t, mods[i].svc, codes[i], "exited");
		if (strcmp(w.image_digest, rf_info_str(info, "manifest")) != 0)
			FAIL("expected %s-rep-1's image digest to be %s's manifest %s; status says: %s",
			     mods[i].svc, mods[i].layout, rf_info_str(info, "manifest"), w.r.json);
	}
	struct rh_replica comp = rh_rep(t, "comp", 1);
	if (strcmp(comp.r.state, "failed") != 0 || strcmp(comp.backend, "wasm") != 0 ||
	    !strstr(comp.r.error, "wasmtime") || comp.r.pid != -1)
		FAIL("expected comp-rep-1 failed on the wasm backend with an error naming wasmtime; status says: %s",
		     comp.r.json);
	struct rh_replica box = running(t, "box", 1);
	if (strcmp(box.backend, "oci") != 0)
		FAIL("expected box-rep-1 on backend oci; status says: %s", box.r.json);
	free(LOGS_WITH(t, "box", "box up"));
}

/* ---- 9. adoption ---- */

static void replica_dir(const struct rh_test *t, const char *svc, int index, char out[PATH_MAX])
{
	cli_pathf(out, "%s/wasm/zl-%s-%s-%d", t->tmp.root, t->dep, svc, index);
}

static long long monitor_pid(const struct rh_test *t, const char *svc, int index)
{
	char dir[PATH_MAX], path[PATH_MAX];
	replica_dir(t, svc, index, dir);
	return read_number(cli_pathf(path, "%s/monitor", dir));
}

static void test_adoption(void **state)
{
	struct rh_test *t = begin(state);
	static const char services[] = "  sl:\n"
				       "    image: {name: \"file:@MODS@/sleeper.wasm\"}\n"
				       "    scale: {mode: fixed, replicas: 2}\n";
	free(apply_spec(t, "sl.yaml", services, 0, NULL));
	long long pid[3], mon[3];
	for (int i = 1; i <= 2; i++) {
		pid[i] = running(t, "sl", i).r.pid;
		mon[i] = monitor_pid(t, "sl", i);
		/* The engine runs under its zlmon, which outlived the zlapply that
		 * started it. */
		if (!oci_test_pid_alive(mon[i]) || ppid_of(pid[i]) != mon[i])
			FAIL("expected sl-rep-%d's node (pid %lld, parent %lld) under a live zlmon %lld",
			     i, pid[i], ppid_of(pid[i]), mon[i]);
	}
	free(LOGS_WITH(t, "sl-rep-1", "started"));

	/* (a) A second apply is a no-op: the same processes. */
	char *err = NULL;
	char *out = apply_spec(t, "sl.yaml", services, 0, &err);
	if (cli_count_lines(out) != 0 || !strstr(err, "up to date"))
		FAIL("expected a no-op apply (\"up to date\"); stdout:\n%s--- stderr:\n%s", out, err);
	free(out);
	free(err);
	for (int i = 1; i <= 2; i++) {
		struct rh_replica w = running(t, "sl", i);
		if (w.r.pid != pid[i] || strcmp(w.backend, "wasm") != 0)
			FAIL("expected sl-rep-%d to keep pid %lld on wasm; status says: %s", i, pid[i],
			     w.r.json);
	}

	/* (b) The database is lost: the next apply adopts the replicas. */
	rh_lose_state_db(t);
	out = apply_spec(t, "sl.yaml", services, 0, &err);
	if (strstr(out, "create") || !strstr(err, "adopted 2 replicas"))
		FAIL("expected the apply after a lost state.db to adopt 2 replicas and create none; stdout:\n%s--- stderr:\n%s",
		     out, err);
	free(out);
	free(err);
	for (int i = 1; i <= 2; i++) {
		struct rh_replica w = running(t, "sl", i);
		if (w.r.pid != pid[i] || strcmp(w.backend, "wasm") != 0 || w.r.restarts != 0)
			FAIL("expected sl-rep-%d adopted with pid %lld on wasm, not restarted; status says: %s",
			     i, pid[i], w.r.json);
	}
	int code = ZL(t, &out, &err, "doctor");
	if (code != 0 || !strstr(out, "nothing to clean up"))
		FAIL("expected doctor to find nothing after the adoption; exit %d\n--- stdout:\n%s--- stderr:\n%s",
		     code, out, err);
	free(out);
	free(err);

	/* (c) zlmon dies: the module runs on and is still adopted; then the
	 * module goes too and nobody recorded an exit: unknown, recreated. */
	assert_int_equal(kill((pid_t)mon[2], SIGKILL), 0);
	if (!rh_wait_pid_dead(mon[2], WAIT_MS))
		FAIL("zlmon %lld did not die", mon[2]);
	struct rh_replica w = running(t, "sl", 2);
	if (w.r.pid != pid[2])
		FAIL("expected sl-rep-2 still running as %lld without its monitor; status says: %s",
		     pid[2], w.r.json);
	assert_int_equal(kill((pid_t)pid[2], SIGKILL), 0);
	if (!rh_wait_pid_dead(pid[2], WAIT_MS))
		FAIL("node %lld did not die", pid[2]);
	w = wait_rep(t, "sl", 2, "unknown", 0);
	out = apply_spec(t, "sl.yaml", services, 0, &err);
	rh_assert_action(out, "~ recreate sl-rep-2", err);
	if (cli_count_lines(out) != 1)
		FAIL("expected only sl-rep-2 recreated; apply said:\n%s", out);
	free(out);
	free(err);
	w = running(t, "sl", 2);
	if (w.r.pid == pid[2] || running(t, "sl", 1).r.pid != pid[1])
		FAIL("expected a new sl-rep-2 and the same sl-rep-1 (%lld); status says: %s", pid[1],
		     w.r.json);
}

/* ---- 10. containers and modules side by side, then nothing left ---- */

static void test_mixed_delete_leaves_nothing(void **state)
{
	struct rh_test *t = begin(state);
	char *err = NULL;
	char *out = apply_spec(t, "mixed.yaml",
			       "  box:\n"
			       "    image: {name: \"oci:@IMG@:1.0\"}\n"
			       "    command: {args: " BOX_ARGS "}\n"
			       "  mod:\n"
			       "    image: {name: \"file:@MODS@/sleeper.wasm\"}\n"
			       "    resources: {memory: 128Mi, cpu: 0.5}\n"
			       "    storage: [{type: anonymous, target: /scratch}]\n"
			       "    scale: {mode: fixed, replicas: 2}\n"
			       "  once:\n"
			       "    rtype: job\n"
			       "    image: {name: \"file:@MODS@/exit7.wasm\"}\n"
			       "    restart_policy: {kind: \"no\"}\n",
			       0, &err);
	rh_assert_action(out, "+ create box-rep-1", err);
	rh_assert_action(out, "+ create mod-rep-1", err);
	rh_assert_action(out, "+ create mod-rep-2", err);
	rh_assert_action(out, "+ create once-rep-1", err);
	free(out);
	free(err);
	struct rh_replica box = running(t, "box", 1);
	if (strcmp(box.backend, "oci") != 0 || strncmp(box.ip, g.ip_prefix, strlen(g.ip_prefix)) != 0)
		FAIL("expected box-rep-1 on backend oci with an address in %s; status says: %s",
		     g.subnet, box.r.json);
	long long pids[3] = { box.r.pid };
	for (int i = 1; i <= 2; i++) {
		struct rh_replica w = running(t, "mod", i);
		if (strcmp(w.backend, "wasm") != 0 || w.ip[0] || w.netns[0])
			FAIL("expected mod-rep-%d on backend wasm without an address; status says: %s", i,
			     w.r.json);
		pids[i] = w.r.pid;
	}
	expect_wasm_exit(t, "once", 7, "exited");
	expect_table_row(t, "box", "oci", box.ip, "-", "");
	/* What delete must take away is there now. */
	char *cg = rh_cgroups_of(t), *cl = rh_claims_of(t), *procs;
	pid_t *ps;
	size_t nps;
	procs = procs_of(t, &ps, &nps);
	free(ps);
	char needle[128];
	snprintf(needle, sizeof(needle), "/zlapply/zl-%s-mod-1", t->dep);
	if (!strstr(cg, needle) || cli_count_lines(cl) < 4 || cli_count_lines(procs) < 4)
		FAIL("expected cgroups, claims (4 replicas) and monitor processes before delete:\n-- cgroups:\n%s-- claims:\n%s-- processes:\n%s",
		     cg, cl, procs);
	free(cg);
	free(cl);
	free(procs);

	int code = ZL(t, &out, &err, "delete", "-d", t->dep);
	assert_exit(code, 0, out, err);
	static const char *const removed[] = { "- remove box-rep-1", "- remove mod-rep-1",
					       "- remove mod-rep-2", "- remove once-rep-1" };
	for (size_t i = 0; i < 4; i++)
		rh_assert_action(out, removed[i], err);
	free(out);
	free(err);
	for (int i = 0; i < 3; i++)
		if (!rh_wait_pid_dead(pids[i], 3000))
			FAIL("expected pid %lld dead after delete", pids[i]);
	char *left = leftovers(t);
	if (*left)
		FAIL("expected nothing of %s left after delete:\n%s", t->dep, left);
	free(left);
	rh_expect_deployment_gone(t);
}

/* ---- 11. bad input ---- */

static void test_bad_modules(void **state)
{
	struct rh_test *t = begin(state);
	static const char services[] = "  tru:\n"
				       "    image: {name: \"file:@MODS@/truncated.wasm\"}\n"
				       "  cor:\n"
				       "    image: {name: \"file:@MODS@/corrupt.wasm\"}\n"
				       "  noe:\n"
				       "    image: {name: \"file:@MODS@/noentry.wasm\"}\n"
				       "  comp:\n"
				       "    image: {name: \"file:@MODS@/component.wasm\"}\n"
				       "  bi:\n"
				       "    rtype: job\n"
				       "    image: {name: \"file:@MODS@/badimport.wasm\"}\n"
				       "    restart_policy: {kind: \"no\"}\n"
				       "  good:\n"
				       "    image: {name: \"file:@MODS@/sleeper.wasm\"}\n";
	/* Exit 1: actions failed, the others still ran. */
	char *err = NULL;
	char *out = apply_spec(t, "bad.yaml", services, 1, &err);
	static const struct {
		const char *svc;
		const char *const needles[5];
	} bad[] = {
		{ "tru", { "create tru-rep-1", "truncated.wasm", "truncated WebAssembly binary", "at byte" } },
		{ "cor", { "create cor-rep-1", "corrupt.wasm", "at byte 8", NULL } },
		{ "noe", { "create noe-rep-1", "service noe", "exports no _start", "build it as a command" } },
		{ "comp", { "create comp-rep-1", "service comp", "preview 2 component", "wasmtime" } },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *line = cli_find_line(err, bad[i].needles);
		if (!line)
			FAIL("expected an error line on apply's stderr with \"%s\", \"%s\", \"%s\", \"%s\"; stderr:\n%s",
			     bad[i].needles[0], bad[i].needles[1], bad[i].needles[2],
			     bad[i].needles[3] ? bad[i].needles[3] : "", err);
		free(line);
		struct rh_replica w = rh_rep(t, bad[i].svc, 1);
		if (strcmp(w.backend, "wasm") != 0)
			FAIL("expected %s-rep-1 (a file: module) on backend wasm; status says: %s",
			     bad[i].svc, w.r.json);
		if (strcmp(w.r.state, "failed") != 0 || !strstr(w.r.error, bad[i].needles[2]) ||
		    w.r.pid != -1)
			FAIL("expected %s-rep-1 failed with an error saying \"%s\"; status says: %s",
			     bad[i].svc, bad[i].needles[2], w.r.json);
	}
	free(out);
	free(err);
	/* A module that passes the checks but imports what WASI does not
	 * have: the engine refuses it (126, wasm_invalid). */
	expect_wasm_exit(t, "bi", 126, "wasm_invalid");
	char *bi_logs = logs_containing(t, "bi", "zlwasi: ");
	/* (V8's words: the import's module is named, not the function.) */
	if (!cli_has_line_with(bi_logs, "zlwasi: wasm_invalid: ", "Import #0", "\"env\""))
		FAIL("expected bi's logs to say why the engine refused it (wasm_invalid, the import from \"env\"); got:\n%s",
		     bi_logs);
	free(bi_logs);
	struct rh_replica good = running(t, "good", 1);
	if (strcmp(good.backend, "wasm") != 0)
		FAIL("expected good-rep-1 running on wasm; status says: %s", good.r.json);
	/* Nothing was made for the refused replicas. */
	char *dirs = rh_root_entries(t, "wasm");
	char want[PATH_MAX];
	cli_pathf(want, "%s/wasm/zl-%s-good-1\n", t->tmp.root, t->dep);
	char bi_dir[PATH_MAX];
	cli_pathf(bi_dir, "%s/wasm/zl-%s-bi-1\n", t->tmp.root, t->dep);
	if (cli_count_lines(dirs) != 2 || !strstr(dirs, want) || !strstr(dirs, bi_dir))
		FAIL("expected replica directories for good and bi only; %s/wasm holds:\n%s",
		     t->tmp.root, dirs);
	free(dirs);

	/* Applied again: the same refusals, the good replica untouched. */
	out = apply_spec(t, "bad.yaml", services, 1, &err);
	if (strstr(out, "good-rep-1"))
		FAIL("expected no action on good-rep-1; apply said:\n%s", out);
	free(out);
	free(err);
	if (running(t, "good", 1).r.pid != good.r.pid)
		FAIL("expected good-rep-1 to keep pid %lld", good.r.pid);

	/* An endpoint on a file: module is a validate error (exit 2). */
	char spec[PATH_MAX];
	rh_write_spec(t, "endpoint.yaml",
		   "  web:\n"
		   "    image: {name: \"file:@MODS@/sleeper.wasm\"}\n"
		   "    endpoints:\n"
		   "      - {name: http, protocol: http, port: 8080}\n",
		   spec);
	int code = run_zlapply(NULL, NULL, &out, &err, "validate", "-f", spec);
	if (code != 2 || !cli_has_location(err, spec, 7) ||
	    !cli_has_line_with(err, "services.web.endpoints", "cannot have endpoints", "file: module"))
		FAIL("expected validate to refuse the endpoint at %s:7 (exit 2) saying why; exit %d\n--- stdout:\n%s--- stderr:\n%s",
		     spec, code, out, err);
	free(out);
	free(err);
	code = ZL(t, &out, &err, "apply", "-f", spec);
	if (code != 2 || !strstr(err, "nothing was changed"))
		FAIL("expected apply of the endpoint spec to exit 2, nothing changed; exit %d\n--- stdout:\n%s--- stderr:\n%s",
		     code, out, err);
	free(out);
	free(err);
	if (rh_rep(t, "web", 1).r.found)
		FAIL("expected no web replica after a refused spec");
}

/* A file: service is WebAssembly by its spec: when its module cannot be
 * pulled, its failed replica still belongs to the wasm backend and gets no
 * address (docs/wasm.md: "a WASM replica gets no address"). */
static void test_failed_file_pull_is_wasm(void **state)
{
	struct rh_test *t = begin(state);
	free(apply_spec(t, "tru.yaml",
			"  tru:\n"
			"    image: {name: \"file:@MODS@/truncated.wasm\"}\n",
			1, NULL));
	struct rh_replica w = rh_rep(t, "tru", 1);
	int64_t leases = cli_db_int(t->tmp.root, "SELECT count(*) FROM leases WHERE deployment = ?1",
				    t->dep);
	if (strcmp(w.r.state, "failed") != 0)
		FAIL("expected tru-rep-1 failed; status says: %s", w.r.json);
	if (strcmp(w.backend, "wasm") != 0 || w.ip[0] || leases != 0)
		FAIL("expected tru-rep-1 (a file: module that failed to pull) on backend wasm, without an address or lease (%lld leases); status says: %s",
		     (long long)leases, w.r.json);
}

/* A container whose image cannot be had fails after its address was
 * leased (the bridge claimed) but before any network was made: deleting it
 * gives the claim back (teardown fails when it is left), so another root
 * can use the bridge. */
static void test_failed_container_leaves_no_bridge_claim(void **state)
{
	struct rh_test *t = begin(state);
	free(apply_spec(t, "gone.yaml",
			"  gone:\n"
			"    image: {name: \"oci:/nonexistent/zlapply-test-image:1.0\"}\n",
			1, NULL));
	struct rh_replica w = rh_rep(t, "gone", 1);
	if (strcmp(w.r.state, "failed") != 0 || strcmp(w.backend, "oci") != 0)
		FAIL("expected gone-rep-1 failed on backend oci; status says: %s", w.r.json);
	/* The failed create gave its address back (validate = apply, issue 14). */
	int64_t leases = cli_db_int(t->tmp.root, "SELECT count(*) FROM leases WHERE deployment = ?1",
				    t->dep);
	if (w.ip[0] || leases != 0)
		FAIL("expected gone-rep-1 without an address or lease (%lld leases); status says: %s",
		     (long long)leases, w.r.json);
}

/* ---- 12. stop signal and grace ---- */

static void test_stop_signal_and_grace(void **state)
{
	struct rh_test *t = begin(state);
	static const char jobs[] =
		"  sj:\n"
		"    rtype: job\n"
		"    image: {name: \"file:@MODS@/sleeper.wasm\"}\n"
		"    stop_signal: SIGINT\n"
		"    stop_grace_period: 30s\n"
		"    restart_policy: {kind: \"no\"}\n"
		"  wj:\n"
		"    rtype: job\n"
		"    image: {name: \"file:@MODS@/sleeper.wasm\"}\n"
		"    stop_signal: SIGWINCH\n"
		"    stop_grace_period: 2s\n"
		"    restart_policy: {kind: \"no\"}\n"
		"  winch:\n"
		"    image: {name: \"file:@MODS@/sleeper.wasm\"}\n"
		"    stop_signal: SIGWINCH\n"
		"    stop_grace_period: 2s\n";
	char all[2048];
	snprintf(all, sizeof(all), "%s"
		 "  term:\n"
		 "    image: {name: \"file:@MODS@/sleeper.wasm\"}\n",
		 jobs);
	free(apply_spec(t, "stop.yaml", all, 0, NULL));
	long long term = running(t, "term", 1).r.pid, winch = running(t, "winch", 1).r.pid;
	running(t, "sj", 1);
	running(t, "wj", 1);
	free(LOGS_WITH(t, "term", "started"));

	/* term: the default SIGTERM ends node at once, far within the default
	 * 10 s grace. */
	char path[PATH_MAX], *out = NULL, *err = NULL;
	rh_write_spec(t, "stop2.yaml", jobs, path);
	int64_t ms;
	int code = ZL_TIMED(t, &ms, &out, &err, "apply", "-f", path);
	assert_exit(code, 0, out, err);
	rh_assert_action(out, "- remove term-rep-1", err);
	if (ms > 3000 || !rh_wait_pid_dead(term, 1000))
		FAIL("expected term-rep-1 (SIGTERM, grace 10s) removed well within its grace; took %lld ms\n--- stdout:\n%s--- stderr:\n%s",
		     (long long)ms, out, err);
	free(out);
	free(err);

	/* sj: `run --timeout` stops the run with SIGINT (grace 30s): at once,
	 * recorded as the signal. */
	code = ZL_TIMED(t, &ms, &out, &err, "run", "sj", "-d", t->dep, "--timeout", "1s");
	if (code != 3 || !strstr(out, "sj-rep-1 killed by SIGINT after ") || ms > 6000)
		FAIL("expected `run sj --timeout 1s` to stop it with SIGINT well within its 30s grace (exit 3, \"sj-rep-1 killed by SIGINT\"); exit %d after %lld ms\n--- stdout:\n%s--- stderr:\n%s",
		     code, (long long)ms, out, err);
	free(out);
	free(err);
	struct rh_replica w = rh_rep(t, "sj", 1);
	if (strcmp(w.r.state, "stopped") != 0 || strcmp(w.r.exit_signal, "SIGINT") != 0 ||
	    strcmp(w.r.exit_reason, "signal") != 0 || w.r.exit_code != 130)
		FAIL("expected sj-rep-1 stopped by SIGINT (exit_reason signal, 130); status says: %s",
		     w.r.json);

	/* wj: node ignores SIGWINCH, so the stop waits the 2 s grace and
	 * SIGKILLs. Killed first, so the run's own recreate stops nothing. */
	code = ZL(t, &out, &err, "kill", "wj", "-d", t->dep);
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	wait_rep(t, "wj", 1, "exited", 0);
	code = ZL_TIMED(t, &ms, &out, &err, "run", "wj", "-d", t->dep, "--timeout", "1s");
	if (code != 3 || !strstr(out, "wj-rep-1 killed by SIGKILL after ") || ms < 2900 || ms > 9000)
		FAIL("expected `run wj --timeout 1s` to send SIGWINCH, wait the 2s grace, then SIGKILL (exit 3 after 3-9 s); exit %d after %lld ms\n--- stdout:\n%s--- stderr:\n%s",
		     code, (long long)ms, out, err);
	free(out);
	free(err);
	w = rh_rep(t, "wj", 1);
	if (strcmp(w.r.state, "stopped") != 0 || strcmp(w.r.exit_signal, "SIGKILL") != 0)
		FAIL("expected wj-rep-1 stopped by SIGKILL after its grace; status says: %s", w.r.json);

	/* delete: winch waits its 2 s grace (SIGWINCH ignored), then goes. */
	code = ZL_TIMED(t, &ms, &out, &err, "delete", "-d", t->dep);
	assert_exit(code, 0, out, err);
	rh_assert_action(out, "- remove winch-rep-1", err);
	if (ms < 1900 || ms > 8000 || !rh_wait_pid_dead(winch, 1000))
		FAIL("expected delete to stop winch-rep-1 after its 2s grace (2-8 s); took %lld ms\n--- stdout:\n%s--- stderr:\n%s",
		     (long long)ms, out, err);
	free(out);
	free(err);
	char *left = leftovers(t);
	if (*left)
		FAIL("expected nothing of %s left after delete:\n%s", t->dep, left);
	free(left);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_exit_code_and_logs),
		T(test_trap),
		T(test_env_args_preopens),
		T(test_readonly_preopen),
		T(test_memory_limit),
		T(test_restart_backoff),
		T(test_job_and_cron),
		T(test_registry_artifacts),
		T(test_adoption),
		T(test_mixed_delete_leaves_nothing),
		T(test_bad_modules),
		T(test_failed_file_pull_is_wasm),
		T(test_failed_container_leaves_no_bridge_claim),
		T(test_stop_signal_and_grace),
	};
#undef T
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
