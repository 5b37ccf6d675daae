/* test_oci.c: the OCI backend end to end: the real zlapply binary runs real
 * containers with runc (chosen automatically on this hybrid-cgroup host)
 * under zlmon, and each test checks what a user sees: `status -o json`,
 * `logs`, `exec`, `kill`, exit codes, and the files and mounts under the
 * state root.
 *
 * The example image (scripts/build-example-image: busybox, CMD printing
 * "hello from <hostname>") is built once per program into a temp dir and
 * referenced as oci:DIR:1.0. Every test gets a state root of its own and a
 * deployment name unique to this run (container ids, runc ids and cgroups
 * are named after it). Services use network_mode none, so no test touches
 * the host's bridge or addresses (test_net.c covers networking).
 *
 * Teardown runs even when a test fails: it SIGKILLs what still runs, runs
 * `zlapply delete -d`, then checks nothing of the deployment is left (no
 * mount under the root, no zlmon or container process, no runc container,
 * no cgroup), cleans up by force whatever is and fails the test, and
 * removes the root.
 *
 * Needs root, runc, umoci and /bin/busybox (exit 77, "skipped", otherwise). */
#include "oci-helpers.h"

#include <dirent.h>
#include <glob.h>
#include <regex.h>

#define WAIT_MS 20000

/* Every service: the example image, and no bridge networking. */
#define IMAGE                                                                      \
	"    image: {name: \"oci:@IMG@:1.0\", pull_policy: if_not_present}\n" \
	"    network_mode: none\n"
/* A shell that exits on SIGTERM (PID 1 ignores signals it has no handler
 * for) and otherwise runs forever. */
#define LOOP_ARGS \
	"[\"/bin/sh\", \"-c\", \"trap 'exit 0' TERM; echo up; while true; do sleep 0.1; done\"]"

static struct {
	char dir[PATH_MAX];   /* /tmp/zloci-img-XXXXXX */
	char image[PATH_MAX]; /* dir/img: the OCI layout */
	int seq;              /* deployments made so far */
} g;

struct oci_t {
	struct cli_tmp tmp;
	char dep[64]; /* zo<pid>-<seq> */
};

/* ---- running zlapply with the oci backend ---- */

/* args[0] is the verb; --root and --backend oci follow it, so anything after
 * a `--` in args stays the command's. */
static int run_zl(const struct oci_t *t, const char *const *env, const char *const *args,
		  char **out, char **err)
{
	return oci_test_run(OCI_FLAGS_AFTER_VERB, &(struct oci_test_flags){ .root = t->tmp.root },
			    env, args, out, err);
}

#define ZL(t, out, err, ...) run_zl((t), NULL, (const char *const[]){ __VA_ARGS__, NULL }, (out), (err))
#define ZL_ENV(t, env, out, err, ...) \
	run_zl((t), (env), (const char *const[]){ __VA_ARGS__, NULL }, (out), (err))

static void zl_spawn(const struct oci_t *t, struct cli_proc *p, const char *const *args)
{
	oci_test_spawn(OCI_FLAGS_AFTER_VERB, &(struct oci_test_flags){ .root = t->tmp.root }, NULL,
		       args, p);
}

/* Waits for a spawned zlapply at most ms; kills it and fails when it takes
 * longer. Returns its exit code; *out gets its stdout (caller frees). */
static int zl_wait_within(struct cli_proc *p, int64_t ms, char **out)
{
	int64_t deadline = cli_mono_ms() + ms;
	int status = 0;
	for (;;) {
		pid_t r = waitpid(p->pid, &status, WNOHANG);
		if (r == p->pid)
			break;
		if (r < 0 && errno != EINTR)
			fail_msg("waitpid: %s", strerror(errno));
		if (cli_mono_ms() > deadline) {
			kill(p->pid, SIGKILL);
			waitpid(p->pid, &status, 0);
			char *o = cli_read_file(p->out_path);
			unlink(p->out_path);
			unlink(p->err_path);
			fail_msg("zlapply still running after %lld ms; its output:\n%s", (long long)ms,
				 o ? o : "");
		}
		cli_sleep_ms(20);
	}
	*out = cli_read_file(p->out_path);
	unlink(p->out_path);
	unlink(p->err_path);
	assert_non_null(*out);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Text with every "@IMG@" and "@DEP@" replaced; caller frees. */
static char *expand(const struct oci_t *t, const char *text)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	for (const char *p = text; *p;) {
		if (strncmp(p, "@IMG@", 5) == 0) {
			fputs(g.image, f);
			p += 5;
		} else if (strncmp(p, "@DEP@", 5) == 0) {
			fputs(t->dep, f);
			p += 5;
		} else {
			fputc(*p++, f);
		}
	}
	fclose(f);
	return buf;
}

/* Writes t->dir/file from a spec whose header names this test's deployment. */
static char *write_spec(const struct oci_t *t, const char *file, const char *services,
			char path[PATH_MAX])
{
	char *head = expand(t, "version: v1\ndeployment: @DEP@\nservices:\n");
	char *body = expand(t, services);
	char *text = NULL;
	if (asprintf(&text, "%s%s", head, body) < 0)
		fail_msg("out of memory");
	cli_path(&t->tmp, file, path);
	cli_write_file(path, text);
	free(text);
	free(body);
	free(head);
	return path;
}

/* Writes and applies a spec, asserts exit 0; returns apply's stdout. */
static char *apply_ok(const struct oci_t *t, const char *file, const char *services)
{
	char path[PATH_MAX], *out = NULL, *err = NULL;
	write_spec(t, file, services, path);
	int code = ZL(t, &out, &err, "apply", "-f", path);
	assert_exit(code, 0, out, err);
	free(err);
	return out;
}

static void assert_action(const char *out, const char *action)
{
	if (cli_action_index(out, action) < 0)
		fail_msg("no action \"%s\" in apply's output:\n%s", action, out);
}

/* ---- what status says ---- */

/* `status -o json` of this test's root, or NULL when it fails (teardown). */
static cJSON *status_try(const struct oci_t *t, char **err_text)
{
	char *out = NULL, *err = NULL;
	int code = ZL(t, &out, &err, "status", "-o", "json");
	cJSON *doc = code == 0 ? cJSON_Parse(out) : NULL;
	if (doc && !cJSON_IsArray(cli_json_replicas(doc))) {
		cJSON_Delete(doc);
		doc = NULL;
	}
	if (!doc && err_text) {
		if (asprintf(err_text, "status exit %d\n--- stdout:\n%s--- stderr:\n%s", code, out,
			     err) < 0)
			*err_text = NULL;
	}
	free(out);
	free(err);
	return doc;
}

static cJSON *status_doc(const struct oci_t *t)
{
	char *why = NULL;
	cJSON *doc = status_try(t, &why);
	if (!doc)
		fail_msg("%s", why ? why : "status failed");
	return doc;
}

/* One replica as status shows it. */
static struct oci_test_replica get_rep(const struct oci_t *t, const char *service, int index)
{
	cJSON *doc = status_doc(t);
	struct oci_test_replica r = oci_test_replica_of(doc, t->dep, service, index);
	cJSON_Delete(doc);
	return r;
}

static int rep_count(const struct oci_t *t)
{
	cJSON *doc = status_doc(t);
	int n = cli_json_count(doc, t->dep);
	cJSON_Delete(doc);
	return n;
}

static cJSON *status_of(const void *t)
{
	return status_doc(t);
}

/* Polls status until the replica is in state; fails after WAIT_MS. */
static struct oci_test_replica wait_state(const struct oci_t *t, const char *service,
					  int index, const char *state)
{
	return oci_test_wait_state(status_of, t, t->dep, service, index, state, false, WAIT_MS, 50);
}

/* ---- what the host shows ---- */


static void wait_dead(long long pid)
{
	int64_t deadline = cli_mono_ms() + WAIT_MS;
	while (oci_test_pid_alive(pid)) {
		if (cli_mono_ms() > deadline)
			fail_msg("process %lld still alive after %d ms", pid, WAIT_MS);
		cli_sleep_ms(20);
	}
}

static struct oci_test_replica running(const struct oci_t *t, const char *service, int index)
{
	struct oci_test_replica r = wait_state(t, service, index, "running");
	if (!oci_test_pid_alive(r.pid))
		fail_msg("%s-rep-%d is running with pid %lld, which is not alive: %s", service, index,
			 r.pid, r.json);
	return r;
}

static char *ctr_dir(const struct oci_t *t, const char *service, int index, char out[PATH_MAX])
{
	return cli_pathf(out, "%s/containers/zl-%s-%s-%d", t->tmp.root, t->dep, service, index);
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}


/* ids of `runc list -q` starting with prefix, one a line. Caller frees.
 * runc list fails when a container of someone else's is created or
 * deleted while it reads them: it is retried. */
static char *runc_ids(const char *prefix)
{
	for (int attempt = 0;; attempt++) {
		FILE *p = popen("runc list -q 2>/dev/null", "r");
		assert_non_null(p);
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		char line[512];
		while (fgets(line, sizeof(line), p))
			if (strncmp(line, prefix, strlen(prefix)) == 0)
				fputs(line, f);
		int status = pclose(p);
		fclose(f);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			return buf;
		free(buf);
		if (attempt == 50)
			fail_msg("runc list -q keeps failing (status %d)", status);
		cli_sleep_ms(50);
	}
}

/* Processes (but this one) whose cgroup names a container of the deployment
 * or whose command line names the root: "PID CMDLINE" lines. Caller frees. */
static char *procs_of(const struct oci_t *t, pid_t **pids, size_t *npids)
{
	char cg_needle[128];
	snprintf(cg_needle, sizeof(cg_needle), "/zlapply/zl-%s-", t->dep);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	DIR *d = opendir("/proc");
	assert_non_null(d);
	struct dirent *de;
	*npids = 0;
	*pids = NULL;
	while ((de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		if (*end || pid <= 0 || pid == getpid() || !oci_test_pid_alive(pid))
			continue;
		char path[64];
		snprintf(path, sizeof(path), "/proc/%ld/cgroup", pid);
		char *cg = cli_read_file(path);
		snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
		FILE *cf = fopen(path, "r");
		char cmd[4096] = "";
		size_t n = cf ? fread(cmd, 1, sizeof(cmd) - 1, cf) : 0;
		if (cf)
			fclose(cf);
		for (size_t i = 0; i < n; i++)
			if (!cmd[i])
				cmd[i] = ' ';
		cmd[n] = '\0';
		if ((cg && strstr(cg, cg_needle)) || strstr(cmd, t->tmp.root)) {
			fprintf(f, "%ld %s\n", pid, cmd);
			*pids = realloc(*pids, (*npids + 1) * sizeof(**pids));
			(*pids)[(*npids)++] = (pid_t)pid;
		}
		free(cg);
	}
	closedir(d);
	fclose(f);
	return buf;
}

/* procs_of(), after giving them up to 3 s to go: a zlmon exits just after
 * writing the exit record that delete waits for. */
static char *procs_left(const struct oci_t *t, pid_t **pids, size_t *npids)
{
	int64_t deadline = cli_mono_ms() + 3000;
	for (;;) {
		char *text = procs_of(t, pids, npids);
		if (!*text || cli_mono_ms() > deadline)
			return text;
		free(text);
		free(*pids);
		cli_sleep_ms(50);
	}
}

/* cgroup directories of the deployment's containers, one a line. */
static char *cgroups_of(const struct oci_t *t)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	for (int i = 0; i < 2; i++) {
		/* v1: one hierarchy per controller; v2: the unified one. */
		char pat[PATH_MAX];
		if (i == 0)
			snprintf(pat, sizeof(pat), "/sys/fs/cgroup/*/zlapply/zl-%s-*", t->dep);
		else
			snprintf(pat, sizeof(pat), "/sys/fs/cgroup/zlapply/zl-%s-*", t->dep);
		glob_t gl;
		if (glob(pat, GLOB_ONLYDIR, NULL, &gl) == 0)
			for (size_t k = 0; k < gl.gl_pathc; k++)
				fprintf(f, "%s\n", gl.gl_pathv[k]);
		globfree(&gl);
	}
	fclose(f);
	return buf;
}

static char *runc_prefix(const struct oci_t *t, char out[128])
{
	snprintf(out, 128, "zl-%s-", t->dep);
	return out;
}

/* Fails when anything of the deployment is left on the host. */
static void assert_nothing_left(const struct oci_t *t)
{
	char prefix[128];
	pid_t *pids;
	size_t npids;
	char *m = oci_test_mounts_under(t->tmp.root), *r = runc_ids(runc_prefix(t, prefix));
	char *p = procs_left(t, &pids, &npids), *c = cgroups_of(t);
	free(pids);
	if (*m || *r || *p || *c)
		fail_msg("left behind:\n-- mounts:\n%s-- runc:\n%s-- processes:\n%s-- cgroups:\n%s", m,
			 r, p, c);
	free(m);
	free(r);
	free(p);
	free(c);
}

/* ---- setup and teardown ---- */

static int group_setup(void **state)
{
	(void)state;
	snprintf(g.dir, sizeof(g.dir), "/tmp/zloci-img-XXXXXX");
	if (!mkdtemp(g.dir)) {
		fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
		return -1;
	}
	cli_pathf(g.image, "%s/img", g.dir);
	if (oci_test_build_example_image(g.image) < 0)
		return -1;
	char cmd[2 * PATH_MAX + 64];
	/* Tag "nonroot": the same image as a user's image that drops root and
	 * says how it wants to be stopped (USER 65534, StopSignal SIGUSR1). */
	snprintf(cmd, sizeof(cmd),
		 "umoci config --image '%s:1.0' --tag nonroot --config.user 65534 "
		 "--config.stopsignal SIGUSR1 >/dev/null",
		 g.image);
	if (system(cmd) != 0) {
		fprintf(stderr, "tagging the nonroot image failed: %s\n", cmd);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	cli_rm_rf(g.dir);
	return 0;
}

static int setup(void **state)
{
	struct oci_t *t = calloc(1, sizeof(*t));
	if (!t || oci_test_case_open(&t->tmp, "/tmp/zloci-XXXXXX", t->dep, sizeof(t->dep), "zo",
				     ++g.seq) < 0) {
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct oci_t *t = *state;
	int ret = 0;
	/* SIGKILL what still runs first: a shell that ignores SIGTERM (the
	 * image's CMD) would hold delete for the whole stop grace period. */
	cJSON *doc = status_try(t, NULL);
	if (doc) {
		cJSON *r;
		cJSON_ArrayForEach(r, cli_json_replicas(doc))
		{
			const char *st = cli_json_str(r, "state"), *name = cli_json_str(r, "name");
			if (st && name && strcmp(st, "running") == 0)
				ZL(t, NULL, NULL, "kill", name, "-d", t->dep);
		}
		cJSON_Delete(doc);
	}
	char *out = NULL, *err = NULL;
	int code = ZL(t, &out, &err, "delete", "-d", t->dep);
	if (code != 0) {
		fprintf(stderr, "teardown: delete -d %s: exit %d\n%s%s", t->dep, code, out, err);
		ret = -1;
	}
	free(out);
	free(err);

	/* Anything left is a leak: report it, then clean it by force. */
	char prefix[128];
	pid_t *pids;
	size_t npids;
	char *p = procs_left(t, &pids, &npids);
	if (*p) {
		fprintf(stderr, "teardown: processes left:\n%s", p);
		for (size_t i = 0; i < npids; i++)
			kill(pids[i], SIGKILL);
		ret = -1;
	}
	free(p);
	free(pids);
	char *ids = runc_ids(runc_prefix(t, prefix));
	if (*ids) {
		fprintf(stderr, "teardown: runc containers left:\n%s", ids);
		for (char *id = strtok(ids, "\n"); id; id = strtok(NULL, "\n")) {
			char cmd[512];
			snprintf(cmd, sizeof(cmd), "runc delete --force '%s' >/dev/null 2>&1", id);
			if (system(cmd) != 0)
				fprintf(stderr, "teardown: %s failed\n", cmd);
		}
		ret = -1;
	}
	free(ids);
	if (oci_test_unmount_left(t->tmp.root))
		ret = -1;
	char *c = cgroups_of(t);
	if (*c) {
		fprintf(stderr, "teardown: cgroups left:\n%s", c);
		for (char *cg = strtok(c, "\n"); cg; cg = strtok(NULL, "\n"))
			rmdir(cg);
		ret = -1;
	}
	free(c);
	cli_tmp_remove(&t->tmp);
	free(t);
	return ret;
}

/* ---- 1. create, start, scale down, delete ---- */

static const char *web_spec(int replicas, char buf[1024])
{
	snprintf(buf, 1024,
		 "  web:\n" IMAGE "    command: {args: " LOOP_ARGS "}\n"
		 "    stop_grace_period: 2s\n"
		 "    scale: {mode: fixed, replicas: %d}\n",
		 replicas);
	return buf;
}

static void test_create_scale_delete(void **state)
{
	struct oci_t *t = *state;
	char spec[1024], d1[PATH_MAX], d2[PATH_MAX], prefix[128];
	char *out = apply_ok(t, "web.yaml", web_spec(2, spec));
	assert_action(out, "+ create web-rep-1");
	assert_action(out, "+ create web-rep-2");
	free(out);

	struct oci_test_replica r1 = running(t, "web", 1), r2 = running(t, "web", 2);
	assert_true(r1.pid != r2.pid);
	assert_int_equal(r1.restarts, 0);
	assert_int_equal(r1.exit_code, -1);
	/* The PIDs are the containers': in their cgroups. */
	for (int i = 1; i <= 2; i++) {
		char path[64], needle[128];
		snprintf(path, sizeof(path), "/proc/%lld/cgroup", i == 1 ? r1.pid : r2.pid);
		snprintf(needle, sizeof(needle), "/zlapply/zl-%s-web-%d", t->dep, i);
		char *cg = cli_read_file(path);
		assert_non_null(cg);
		assert_contains(cg, needle);
		free(cg);
	}
	ctr_dir(t, "web", 1, d1);
	ctr_dir(t, "web", 2, d2);
	char *ids = runc_ids(runc_prefix(t, prefix));
	assert_int_equal(cli_count_lines(ids), 2);
	free(ids);
	/* What assert_nothing_left() looks for is there now: both containers'
	 * processes and their monitors, their cgroups. */
	pid_t *pids;
	size_t npids;
	char *procs = procs_of(t, &pids, &npids);
	bool seen1 = false, seen2 = false;
	for (size_t i = 0; i < npids; i++) {
		seen1 = seen1 || pids[i] == (pid_t)r1.pid;
		seen2 = seen2 || pids[i] == (pid_t)r2.pid;
	}
	if (!seen1 || !seen2 || npids < 4)
		fail_msg("expected both containers and both zlmon among:\n%s", procs);
	free(pids);
	free(procs);
	char *cgroups = cgroups_of(t);
	assert_true(*cgroups);
	free(cgroups);
	/* One overlay rootfs per replica. */
	char *m = oci_test_mounts_under(t->tmp.root);
	char want[2 * PATH_MAX + 32], want_swapped[2 * PATH_MAX + 32];
	snprintf(want, sizeof(want), "%s/rootfs\n%s/rootfs\n", d1, d2);
	snprintf(want_swapped, sizeof(want_swapped), "%s/rootfs\n%s/rootfs\n", d2, d1);
	if (strcmp(m, want) != 0 && strcmp(m, want_swapped) != 0)
		fail_msg("mounts under the root, expected the two rootfs:\n%s", m);
	free(m);

	/* Scale to 1: replica 2 goes, with its directory, mount and process. */
	out = apply_ok(t, "web.yaml", web_spec(1, spec));
	assert_int_equal(cli_count_lines(out), 1);
	assert_action(out, "- remove web-rep-2");
	free(out);
	assert_false(exists(d2));
	assert_false(oci_test_pid_alive(r2.pid));
	m = oci_test_mounts_under(d2);
	assert_string_equal(m, "");
	free(m);
	assert_int_equal(rep_count(t), 1);
	struct oci_test_replica again = running(t, "web", 1);
	assert_true(again.pid == r1.pid);
	ids = runc_ids(runc_prefix(t, prefix));
	snprintf(want, sizeof(want), "zl-%s-web-1\n", t->dep);
	assert_string_equal(ids, want);
	free(ids);

	/* Delete: nothing left. */
	char *err = NULL;
	int code = ZL(t, &out, &err, "delete", "-d", t->dep);
	assert_exit(code, 0, out, err);
	assert_action(out, "- remove web-rep-1");
	free(out);
	free(err);
	assert_int_equal(rep_count(t), 0);
	assert_false(oci_test_pid_alive(r1.pid));
	assert_false(exists(d1));
	assert_nothing_left(t);
}

/* ---- 2. an exit code ---- */

static void test_exit_code_recorded(void **state)
{
	struct oci_t *t = *state;
	const char *spec = "  job:\n" IMAGE
			   "    command: {args: [\"/bin/sh\", \"-c\", \"exit 7\"]}\n"
			   "    restart_policy: {kind: \"no\"}\n"
			   "    scale: {mode: fixed, replicas: 1}\n";
	free(apply_ok(t, "exit.yaml", spec));
	struct oci_test_replica r = wait_state(t, "job", 1, "exited");
	if (r.exit_code != 7 || strcmp(r.exit_reason, "exited") != 0 || r.exit_signal[0] ||
	    r.pid != -1)
		fail_msg("expected exit 7, reason exited, no signal, no pid: %s", r.json);
	/* zlmon's record on disk says the same. */
	char dir[PATH_MAX], path[PATH_MAX];
	char *rec = cli_read_file(cli_pathf(path, "%s/exit.json", ctr_dir(t, "job", 1, dir)));
	assert_non_null(rec);
	cJSON *j = cJSON_Parse(rec);
	assert_non_null(j);
	assert_int_equal(oci_test_json_int(j, "exit_code"), 7);
	cJSON_Delete(j);
	free(rec);

	/* restart_policy no: the next apply leaves it exited. */
	char *out = apply_ok(t, "exit.yaml", spec);
	assert_int_equal(cli_count_lines(out), 0);
	free(out);
	r = get_rep(t, "job", 1);
	assert_string_equal(r.state, "exited");
	assert_int_equal(r.exit_code, 7);
	assert_int_equal(r.restarts, 0);
}

/* cgroup_parent puts the replica's cgroup under that path (cgroupfs
 * form); status still reads its memory and cpu from there. */
static void test_cgroup_parent(void **state)
{
	struct oci_t *t = *state;
	char parent[64], spec[1024];
	snprintf(parent, sizeof(parent), "/zlapply-test-%d", (int)getpid());
	snprintf(spec, sizeof(spec),
		 "  web:\n" IMAGE
		 "    command: {args: [\"/bin/sh\", \"-c\", \"while true; do sleep 0.1; done\"]}\n"
		 "    cgroup_parent: \"%s/apps\"\n"
		 "    stop_grace_period: 1s\n"
		 "    scale: {mode: fixed, replicas: 1}\n",
		 parent);
	free(apply_ok(t, "cg.yaml", spec));
	struct oci_test_replica r = running(t, "web", 1);
	char path[64], want[256];
	snprintf(path, sizeof(path), "/proc/%lld/cgroup", r.pid);
	char *text = cli_read_file(path);
	assert_non_null(text);
	snprintf(want, sizeof(want), ":%s/apps/zl-%s-web-1\n", parent, t->dep);
	if (!strstr(text, want))
		fail_msg("replica's cgroups do not end in %s:\n%s", want, text);
	free(text);
	char *out = NULL, *err = NULL;
	int code = ZL(t, &out, &err, "status", "-o", "json");
	assert_exit(code, 0, out, err);
	cJSON *doc = cJSON_Parse(out);
	cJSON *rj = doc ? cli_json_replica(doc, t->dep, "web", 1) : NULL;
	if (!rj || !cJSON_IsNumber(cJSON_GetObjectItem(rj, "memory_bytes")))
		fail_msg("status has no memory usage from the replica's cgroup: %s", out);
	cJSON_Delete(doc);
	free(out);
	free(err);
	code = ZL(t, &out, &err, "delete", "-d", t->dep);
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	/* The (now empty) parents are the test's to remove: under each v1
	 * controller, or the v2 root. */
	DIR *d = opendir("/sys/fs/cgroup");
	struct dirent *de;
	while (d && (de = readdir(d))) {
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "/sys/fs/cgroup/%s%s/apps", de->d_name, parent);
		rmdir(dir);
		*strrchr(dir, '/') = '\0';
		rmdir(dir);
	}
	if (d)
		closedir(d);
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "/sys/fs/cgroup%s/apps", parent);
	rmdir(dir);
	*strrchr(dir, '/') = '\0';
	rmdir(dir);
}

/* ---- 3. SIGKILL, then a restart ---- */

static void test_sigkill_recorded_then_restarted(void **state)
{
	struct oci_t *t = *state;
	char spec[1024];
	free(apply_ok(t, "web.yaml", web_spec(1, spec)));
	struct oci_test_replica before = running(t, "web", 1);

	char *out = NULL, *err = NULL;
	int code = ZL(t, &out, &err, "kill", "web-rep-1");
	assert_exit(code, 0, out, err);
	assert_string_equal(out, "web-rep-1\n");
	free(out);
	free(err);
	struct oci_test_replica r = wait_state(t, "web", 1, "exited");
	if (strcmp(r.exit_signal, "SIGKILL") != 0 || r.exit_code != 137 ||
	    strcmp(r.exit_reason, "signal") != 0)
		fail_msg("expected SIGKILL, 137, reason signal: %s", r.json);
	assert_false(oci_test_pid_alive(before.pid));

	/* Default errors.on_panic (restart): the next apply restarts it. */
	out = apply_ok(t, "web.yaml", spec);
	assert_action(out, "> restart web-rep-1");
	assert_int_equal(cli_count_lines(out), 1);
	free(out);
	struct oci_test_replica after = running(t, "web", 1);
	assert_int_equal(after.restarts, 1);
	assert_true(after.pid != before.pid);
}

/* ---- 4. OOM ---- */

static void test_oom_killed(void **state)
{
	struct oci_t *t = *state;
	free(apply_ok(t, "oom.yaml",
		      "  hog:\n" IMAGE "    resources: {memory: 8Mi}\n"
		      "    command: {args: [\"/bin/sh\", \"-c\", \"x=aaaaaaaa; while true; do x=$x$x; done\"]}\n"
		      "    restart_policy: {kind: \"no\"}\n"
		      "    scale: {mode: fixed, replicas: 1}\n"));
	struct oci_test_replica r = wait_state(t, "hog", 1, "exited");
	if (strcmp(r.exit_reason, "oom_killed") != 0 || r.exit_code != 137 ||
	    strcmp(r.exit_signal, "SIGKILL") != 0)
		fail_msg("expected oom_killed (137, SIGKILL): %s", r.json);
}

/* ---- 5. the stop grace period ---- */

static const char *grace_spec(const struct oci_t *t, int polite, int stubborn, char buf[8192])
{
	snprintf(buf, 8192,
		 "  polite:\n" IMAGE
		 "    command: {args: [\"/bin/sh\", \"-c\", \"trap 'echo got TERM > /out/$HOSTNAME; "
		 "echo got TERM; sleep 1; exit 0' TERM; while true; do sleep 0.1; done\"]}\n"
		 "    storage: [{type: bind, source: \"%s/out\", target: /out}]\n"
		 "    stop_grace_period: 5s\n"
		 "    scale: {mode: fixed, replicas: %d}\n"
		 "  stubborn:\n" IMAGE
		 "    command: {args: [\"/bin/sh\", \"-c\", \"trap '' TERM; while true; do sleep 0.1; done\"]}\n"
		 "    stop_grace_period: 1s\n"
		 "    scale: {mode: fixed, replicas: %d}\n",
		 t->tmp.dir, polite, stubborn);
	return buf;
}

static int64_t timed_apply(const struct oci_t *t, const char *spec_text, const char *action)
{
	char path[PATH_MAX], *out = NULL, *err = NULL;
	write_spec(t, "grace.yaml", spec_text, path);
	int64_t start = cli_mono_ms();
	int code = ZL(t, &out, &err, "apply", "-f", path);
	int64_t took = cli_mono_ms() - start;
	assert_exit(code, 0, out, err);
	assert_action(out, action);
	free(out);
	free(err);
	return took;
}

static void test_stop_grace_period(void **state)
{
	struct oci_t *t = *state;
	char spec[8192], out_dir[PATH_MAX], path[PATH_MAX];
	if (mkdir(cli_path(&t->tmp, "out", out_dir), 0755) < 0)
		fail_msg("mkdir %s: %s", out_dir, strerror(errno));
	free(apply_ok(t, "grace.yaml", grace_spec(t, 2, 1, spec)));
	running(t, "polite", 1);
	struct oci_test_replica polite2 = running(t, "polite", 2);
	struct oci_test_replica stubborn = running(t, "stubborn", 1);

	/* SIGTERM by hand: the trap runs, the exit is a clean 0. */
	char *out = NULL, *err = NULL;
	int code = ZL(t, &out, &err, "kill", "polite-rep-2", "--signal", "TERM");
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	struct oci_test_replica r = wait_state(t, "polite", 2, "exited");
	if (r.exit_code != 0 || strcmp(r.exit_reason, "exited") != 0 || r.exit_signal[0])
		fail_msg("expected a clean exit 0 after TERM: %s", r.json);
	assert_false(oci_test_pid_alive(polite2.pid));
	code = ZL(t, &out, &err, "logs", "polite-rep-2");
	assert_exit(code, 0, out, err);
	assert_contains(out, "got TERM\n");
	free(out);
	free(err);

	/* Scale polite to 0: TERM, the trap's 1 s, well inside the 5 s grace. */
	struct oci_test_replica polite1 = running(t, "polite", 1);
	int64_t took = timed_apply(t, grace_spec(t, 0, 1, spec), "- remove polite-rep-1");
	if (took < 900 || took >= 4500)
		fail_msg("stopping polite took %lld ms; expected its trap's ~1 s, not the 5 s grace",
			 (long long)took);
	char *text = cli_read_file(cli_pathf(path, "%s/polite-rep-1", out_dir));
	if (!text || strcmp(text, "got TERM\n") != 0)
		fail_msg("polite-rep-1 did not see SIGTERM (%s: %s)", path, text ? text : "absent");
	free(text);
	assert_false(oci_test_pid_alive(polite1.pid));
	assert_true(running(t, "stubborn", 1).pid == stubborn.pid);

	/* Scale stubborn to 0: TERM ignored, SIGKILL after its 1 s grace. */
	took = timed_apply(t, grace_spec(t, 0, 0, spec), "- remove stubborn-rep-1");
	if (took < 900 || took >= 4000)
		fail_msg("stopping stubborn took %lld ms; expected the 1 s grace", (long long)took);
	assert_false(oci_test_pid_alive(stubborn.pid));
	assert_int_equal(rep_count(t), 0);
}

/* zlapply delete -d DEPLOYMENT, which must succeed; how long it took. */
static int64_t timed_delete(const struct oci_t *t)
{
	char *out = NULL, *err = NULL;
	int64_t start = cli_mono_ms();
	int code = ZL(t, &out, &err, "delete", "-d", t->dep);
	int64_t took = cli_mono_ms() - start;
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	return took;
}

/* delete has no spec: it must still stop each replica the way its spec
 * said (the signal and grace recorded with the replica). */
static void test_delete_honours_stop_settings(void **state)
{
	struct oci_t *t = *state;
	char spec[8192], out_dir[PATH_MAX], path[PATH_MAX];
	if (mkdir(cli_path(&t->tmp, "out", out_dir), 0755) < 0)
		fail_msg("mkdir %s: %s", out_dir, strerror(errno));
	snprintf(spec, sizeof(spec),
		 "  usr1:\n" IMAGE
		 "    command: {args: [\"/bin/sh\", \"-c\", \"trap 'echo got USR1 > /out/$HOSTNAME; exit 0' USR1; "
		 "while true; do sleep 0.1; done\"]}\n"
		 "    storage: [{type: bind, source: \"%s/out\", target: /out}]\n"
		 "    stop_signal: SIGUSR1\n"
		 "    stop_grace_period: 5s\n"
		 "    scale: {mode: fixed, replicas: 1}\n"
		 "  stubborn:\n" IMAGE
		 "    command: {args: [\"/bin/sh\", \"-c\", \"trap '' TERM; while true; do sleep 0.1; done\"]}\n"
		 "    stop_grace_period: 1s\n"
		 "    scale: {mode: fixed, replicas: 1}\n",
		 t->tmp.dir);
	free(apply_ok(t, "stop.yaml", spec));
	struct oci_test_replica usr1 = running(t, "usr1", 1), stubborn = running(t, "stubborn", 1);

	int64_t took = timed_delete(t);
	assert_false(oci_test_pid_alive(usr1.pid));
	assert_false(oci_test_pid_alive(stubborn.pid));
	char *text = cli_read_file(cli_pathf(path, "%s/usr1-rep-1", out_dir));
	if (!text || strcmp(text, "got USR1\n") != 0)
		fail_msg("delete did not stop usr1-rep-1 with its stop_signal SIGUSR1 (%s: %s)", path,
			 text ? text : "absent");
	free(text);
	/* stubborn ignores SIGTERM: 1 s grace, then SIGKILL; not the default 10 s. */
	if (took < 900 || took >= 5000)
		fail_msg("delete took %lld ms; expected about stubborn's 1 s stop_grace_period",
			 (long long)took);
}

/* An image that runs as its own user (USER 65534) and names its stop signal
 * (StopSignal SIGUSR1), as postgres or nginx images do: the process starts
 * (the container's "/" has the image's mode, not the 0700 of zlapply's
 * directories), runs as that user, and every stop sends the image's signal
 * unless the spec names one. */
static void test_image_user_and_stop_signal(void **state)
{
	struct oci_t *t = *state;
	char spec[16384], out_dir[PATH_MAX], path[PATH_MAX];
	if (mkdir(cli_path(&t->tmp, "out", out_dir), 0777) < 0 || chmod(out_dir, 0777) < 0)
		fail_msg("mkdir %s: %s", out_dir, strerror(errno));
#define NONROOT_SVC(name, extra)                                                                       \
	"  " name ":\n"                                                                                 \
	"    image: {name: \"oci:@IMG@:nonroot\", pull_policy: if_not_present}\n"                       \
	"    network_mode: none\n"                                                                     \
	"    command: {args: [\"/bin/sh\", \"-c\", \"id -u > /out/$HOSTNAME.uid; ls -ld / > /out/$HOSTNAME.root; " \
	"trap 'echo got USR1 > /out/$HOSTNAME.sig; exit 0' USR1; "                                     \
	"trap 'echo got TERM > /out/$HOSTNAME.sig; exit 0' TERM; while true; do sleep 0.1; done\"]}\n" \
	"    storage: [{type: bind, source: \"%s/out\", target: /out}]\n"                               \
	"    stop_grace_period: 5s\n" extra
	snprintf(spec, sizeof(spec), NONROOT_SVC("img", "") NONROOT_SVC("spec", "    stop_signal: SIGTERM\n"),
		 t->tmp.dir, t->tmp.dir);
#undef NONROOT_SVC
	free(apply_ok(t, "nonroot.yaml", spec));
	struct oci_test_replica img = running(t, "img", 1), by_spec = running(t, "spec", 1);
	char *uid = NULL;
	for (int64_t deadline = cli_mono_ms() + WAIT_MS; !uid && cli_mono_ms() < deadline; cli_sleep_ms(50))
		uid = cli_read_file(cli_pathf(path, "%s/img-rep-1.uid", out_dir));
	if (!uid || strcmp(uid, "65534\n") != 0)
		fail_msg("img-rep-1 runs as %s, expected the image's user 65534", uid ? uid : "(nothing)");
	free(uid);
	char *root = cli_read_file(cli_pathf(path, "%s/img-rep-1.root", out_dir));
	if (!root || strncmp(root, "drwxr-xr-x", 10) != 0)
		fail_msg("the container's / is \"%s\", expected drwxr-xr-x", root ? root : "(nothing)");
	free(root);

	timed_delete(t);
	assert_false(oci_test_pid_alive(img.pid));
	assert_false(oci_test_pid_alive(by_spec.pid));
	char *sig = cli_read_file(cli_pathf(path, "%s/img-rep-1.sig", out_dir));
	if (!sig || strcmp(sig, "got USR1\n") != 0)
		fail_msg("delete did not stop img-rep-1 with the image's StopSignal SIGUSR1 (%s)",
			 sig ? sig : "no signal handled");
	free(sig);
	sig = cli_read_file(cli_pathf(path, "%s/spec-rep-1.sig", out_dir));
	if (!sig || strcmp(sig, "got TERM\n") != 0)
		fail_msg("the spec's stop_signal SIGTERM must win over the image's (%s)",
			 sig ? sig : "no signal handled");
	free(sig);
}

/* `apply --wait` applies the restart policy of a replica that exits while it
 * waits (here: it fails once, then runs), and ends at once, exit 3, when a
 * replica exited for good (restart_policy no) instead of polling it until
 * the timeout. */
static void test_wait_restarts_exited(void **state)
{
	struct oci_t *t = *state;
	char spec[4096], path[PATH_MAX];
	snprintf(spec, sizeof(spec),
		 "  flaky:\n" IMAGE
		 "    command: {args: [\"/bin/sh\", \"-c\", \"if [ -e /data/ran ]; then echo > /data/second; "
		 "while true; do sleep 0.1; done; fi; echo > /data/ran; sleep 0.5; exit 1\"]}\n"
		 "    storage: [{type: named, name: flaky, target: /data}]\n"
		 "    health: {check: {type: command, command: \"test -e /data/second\"}, interval: 1s, start_grace: 0s}\n"
		 "    scale: {mode: fixed, replicas: 1}\n");
	write_spec(t, "flaky.yaml", spec, path);
	char *out = NULL, *err = NULL;
	int code = ZL(t, &out, &err, "apply", "-f", path, "--wait", "--timeout", "60s");
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	running(t, "flaky", 1);

	snprintf(spec, sizeof(spec),
		 "  once:\n" IMAGE
		 "    command: {args: [\"/bin/sh\", \"-c\", \"sleep 0.5; exit 4\"]}\n"
		 "    health: {check: {type: command, command: \"false\"}, interval: 1s, start_grace: 0s}\n"
		 "    restart_policy: {kind: \"no\"}\n"
		 "    scale: {mode: fixed, replicas: 1}\n");
	write_spec(t, "once.yaml", spec, path);
	int64_t t0 = cli_mono_ms();
	code = ZL(t, &out, &err, "apply", "-f", path, "--wait", "--timeout", "120s");
	int64_t took = cli_mono_ms() - t0;
	assert_exit(code, 3, out, err);
	assert_contains(err, "once-rep-1: exited with code 4");
	assert_contains(err, "will not be restarted");
	if (took > 60000)
		fail_msg("--wait polled a replica that exited for good for %lld ms", (long long)took);
	free(out);
	free(err);
}

/* Replicas on their way out get their stop signal together: deleting four
 * replicas that ignore SIGTERM takes one 2 s grace period, not four (8 s),
 * and each still gets its full grace before SIGKILL. */
static void test_delete_stops_replicas_together(void **state)
{
	struct oci_t *t = *state;
	char spec[8192];
	snprintf(spec, sizeof(spec),
		 "  stubborn:\n" IMAGE
		 "    command: {args: [\"/bin/sh\", \"-c\", \"trap '' TERM; while true; do sleep 0.1; done\"]}\n"
		 "    stop_grace_period: 2s\n"
		 "    scale: {mode: fixed, replicas: 4}\n");
	free(apply_ok(t, "together.yaml", spec));
	int64_t pids[4];
	for (int i = 0; i < 4; i++)
		pids[i] = running(t, "stubborn", i + 1).pid;

	int64_t took = timed_delete(t);
	for (int i = 0; i < 4; i++)
		assert_false(oci_test_pid_alive(pids[i]));
	if (took < 1900 || took >= 6000)
		fail_msg("delete of 4 replicas took %lld ms; expected one 2 s grace period, "
			 "not 4 x 2 s one after another",
			 (long long)took);
	assert_int_equal(rep_count(t), 0);
}

/* ---- 6. logs ---- */

static bool parse_rfc3339(const char *s, time_t *when)
{
	struct tm tm = { 0 };
	const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end)
		return false;
	*when = timegm(&tm);
	return true;
}

static void test_logs_tail_timestamps_follow(void **state)
{
	struct oci_t *t = *state;
	free(apply_ok(t, "logs.yaml",
		      "  count:\n" IMAGE
		      "    command: {args: [\"/bin/sh\", \"-c\", \"i=1; while [ $i -le 100 ]; do echo $i; i=$((i+1)); done\"]}\n"
		      "    restart_policy: {kind: \"no\"}\n"
		      "    scale: {mode: fixed, replicas: 1}\n"
		      "  brief:\n" IMAGE
		      "    command: {args: [\"/bin/sh\", \"-c\", \"echo one; sleep 1; echo two\"]}\n"
		      "    restart_policy: {kind: \"no\"}\n"
		      "    scale: {mode: fixed, replicas: 1}\n"));

	/* -f on a replica that exits ~1 s from now: all its output, then the end. */
	struct cli_proc p;
	zl_spawn(t, &p, (const char *const[]){ "logs", "-f", "brief-rep-1", NULL });
	char *out = NULL;
	int code = zl_wait_within(&p, 15000, &out);
	assert_int_equal(code, 0);
	assert_string_equal(out, "one\ntwo\n");
	free(out);
	assert_string_equal(wait_state(t, "brief", 1, "exited").exit_reason, "exited");

	wait_state(t, "count", 1, "exited");
	char *err = NULL;
	code = ZL(t, &out, &err, "logs", "count-rep-1", "--tail", "3");
	assert_exit(code, 0, out, err);
	assert_string_equal(out, "98\n99\n100\n");
	free(out);
	free(err);

	code = ZL(t, &out, &err, "logs", "count-rep-1");
	assert_exit(code, 0, out, err);
	assert_int_equal(cli_count_lines(out), 100);
	assert_int_equal(cli_line_index(out, "1"), 0);
	assert_int_equal(cli_line_index(out, "100"), 99);
	free(out);
	free(err);

	code = ZL(t, &out, &err, "logs", "count-rep-1", "--timestamps", "--tail", "2");
	assert_exit(code, 0, out, err);
	regex_t re;
	assert_int_equal(regcomp(&re,
				 "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?"
				 "(Z|[+-][0-9]{2}:[0-9]{2}) (99|100)$",
				 REG_EXTENDED | REG_NOSUB),
			 0);
	assert_int_equal(cli_count_lines(out), 2);
	time_t now = time(NULL);
	int n = 0;
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"), n++) {
		if (regexec(&re, line, 0, NULL, 0) != 0)
			fail_msg("not \"RFC3339-TIME TEXT\": \"%s\"", line);
		time_t when = 0;
		assert_true(parse_rfc3339(line, &when));
		if (when < now - 600 || when > now + 60)
			fail_msg("timestamp far from now: \"%s\"", line);
		assert_string_equal(strchr(line, ' ') + 1, n == 0 ? "99" : "100");
	}
	regfree(&re);
	free(out);
	free(err);
	/* -t is --timestamps. */
	code = ZL(t, &out, &err, "logs", "-t", "count-rep-1", "--tail", "1");
	assert_exit(code, 0, out, err);
	assert_true(strlen(out) > 20 && out[4] == '-' && out[10] == 'T');
	free(out);
	free(err);
}

/* ---- 7. exec ---- */

static void test_exec(void **state)
{
	struct oci_t *t = *state;
	char spec[1024];
	free(apply_ok(t, "web.yaml", web_spec(2, spec)));
	running(t, "web", 1);
	running(t, "web", 2);

	char *out = NULL, *err = NULL;
	int code = ZL(t, &out, &err, "exec", "web-rep-1", "--", "sh", "-c", "exit 3");
	assert_exit(code, 3, out, err);
	free(out);
	free(err);

	code = ZL(t, &out, &err, "exec", "web", "--", "hostname");
	assert_exit(code, 0, out, err);
	assert_string_equal(out, "web-rep-1\n");
	free(out);
	free(err);
	code = ZL(t, &out, &err, "exec", "web-rep-2", "--", "sh", "-c", "echo $HOSTNAME; id -u");
	assert_exit(code, 0, out, err);
	assert_string_equal(out, "web-rep-2\n0\n");
	free(out);
	free(err);

	/* A command that cannot start: docker exec's codes and words, not the
	 * runtime's 255 and its raw log line. */
	code = ZL(t, &out, &err, "exec", "web-rep-1", "--", "no-such-command", "x");
	assert_exit(code, 127, out, err);
	assert_contains(err, "exec: \"no-such-command\": executable file not found in $PATH");
	free(out);
	free(err);
	code = ZL(t, &out, &err, "exec", "web-rep-1", "--", "/no/such/file");
	assert_exit(code, 127, out, err);
	assert_contains(err, "no such file or directory");
	free(out);
	free(err);
	code = ZL(t, &out, &err, "exec", "web-rep-1", "--", "/etc/passwd");
	assert_exit(code, 126, out, err);
	assert_contains(err, "exec: \"/etc/passwd\": permission denied");
	free(out);
	free(err);
	code = ZL(t, &out, &err, "exec", "web-rep-1", "--", "/bin");
	assert_exit(code, 126, out, err);
	free(out);
	free(err);

	/* Not running: a clear error, not a hang or a runc usage message. */
	code = ZL(t, &out, &err, "kill", "web-rep-2");
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	wait_state(t, "web", 2, "exited");
	code = ZL(t, &out, &err, "exec", "web-rep-2", "--", "true");
	assert_exit(code, 1, out, err);
	assert_contains(err, "no running replica");
	free(out);
	free(err);
	code = ZL(t, &out, &err, "exec", "web-rep-9", "--", "true");
	assert_exit(code, 1, out, err);
	assert_contains(err, "web-rep-9");
	free(out);
	free(err);
}

/* ---- 8. adoption ---- */

static void test_adoption_and_lost_monitor(void **state)
{
	struct oci_t *t = *state;
	char spec[1024], dir[PATH_MAX], path[PATH_MAX];
	free(apply_ok(t, "web.yaml", web_spec(3, spec)));
	long long pid[4];
	for (int i = 1; i <= 3; i++)
		pid[i] = running(t, "web", i).pid;

	/* A second run adopts everything: no action, the same processes. */
	char *out = apply_ok(t, "web.yaml", web_spec(3, spec));
	if (cli_count_lines(out) != 0)
		fail_msg("a converged apply did something:\n%s", out);
	free(out);
	for (int i = 1; i <= 3; i++)
		assert_true(running(t, "web", i).pid == pid[i]);

	/* zlmon of replica 2 dies: its container runs on and is still adopted. */
	char *mon = cli_read_file(cli_pathf(path, "%s/monitor", ctr_dir(t, "web", 2, dir)));
	assert_non_null(mon);
	long long mon_pid = strtoll(mon, NULL, 10);
	free(mon);
	assert_true(oci_test_pid_alive(mon_pid));
	assert_int_equal(kill((pid_t)mon_pid, SIGKILL), 0);
	wait_dead(mon_pid);
	assert_true(running(t, "web", 2).pid == pid[2]);

	/* ... and when the container goes too, nobody recorded an exit: unknown. */
	assert_int_equal(kill((pid_t)pid[2], SIGKILL), 0);
	wait_dead(pid[2]);
	struct oci_test_replica lost = wait_state(t, "web", 2, "unknown");
	assert_int_equal(lost.pid, -1);

	out = apply_ok(t, "web.yaml", web_spec(3, spec));
	assert_action(out, "~ recreate web-rep-2");
	assert_int_equal(cli_count_lines(out), 1);
	free(out);
	struct oci_test_replica again = running(t, "web", 2);
	assert_true(again.pid != pid[2]);
	assert_true(running(t, "web", 1).pid == pid[1]);
	assert_true(running(t, "web", 3).pid == pid[3]);
	char prefix[128];
	char *ids = runc_ids(runc_prefix(t, prefix));
	assert_int_equal(cli_count_lines(ids), 3);
	free(ids);
}

/* ---- 9. argv and env ---- */

/* Waits until the replica's logs are exactly want. */
static void wait_logs(const struct oci_t *t, const char *replica, const char *want)
{
	int64_t deadline = cli_mono_ms() + WAIT_MS;
	for (;;) {
		char *out = NULL, *err = NULL;
		int code = ZL(t, &out, &err, "logs", replica);
		bool ok = code == 0 && strcmp(out, want) == 0;
		if (!ok && cli_mono_ms() > deadline)
			fail_msg("logs %s: exit %d, expected \"%s\", got:\n%s%s", replica, code, want,
				 out, err);
		free(out);
		free(err);
		if (ok)
			return;
		cli_sleep_ms(50);
	}
}

static void test_argv_and_env(void **state)
{
	struct oci_t *t = *state;
	char path[PATH_MAX];
	write_spec(t, "argv.yaml",
		   "  plain:\n" IMAGE "    scale: {mode: fixed, replicas: 1}\n"
		   "  args:\n" IMAGE
		   "    command: {args: [\"/bin/echo\", \"args\", \"replace\", \"cmd\"]}\n"
		   "    restart_policy: {kind: \"no\"}\n"
		   "    scale: {mode: fixed, replicas: 1}\n"
		   "  entry:\n" IMAGE
		   "    command: {entrypoint: [\"/bin/echo\", \"entrypoint\"], args: [\"plus\", \"args\"]}\n"
		   "    restart_policy: {kind: \"no\"}\n"
		   "    scale: {mode: fixed, replicas: 1}\n"
		   "  eponly:\n" IMAGE
		   "    command: {entrypoint: [\"/bin/echo\", \"only\"]}\n"
		   "    restart_policy: {kind: \"no\"}\n"
		   "    scale: {mode: fixed, replicas: 1}\n"
		   "  listed:\n" IMAGE
		   "    command: [\"/bin/echo\", \"list\", \"form\"]\n"
		   "    restart_policy: {kind: \"no\"}\n"
		   "    scale: {mode: fixed, replicas: 1}\n"
		   "  imgenv:\n" IMAGE
		   "    command: {args: [\"/bin/sh\", \"-c\", \"echo PATH=$PATH\"]}\n"
		   "    restart_policy: {kind: \"no\"}\n"
		   "    scale: {mode: fixed, replicas: 1}\n"
		   "  web:\n" IMAGE
		   "    env:\n"
		   "      PATH: \"/bin:/zlt\"\n"
		   "      FROM_HOST: \"$E:ZLT_OCI_FROM_HOST\"\n"
		   "      PLAIN: \"two words\"\n"
		   "    command: {args: [\"/bin/sh\", \"-c\", \"echo PATH=$PATH; echo FROM_HOST=$FROM_HOST; "
		   "echo HOSTNAME=$HOSTNAME; echo PLAIN=$PLAIN\"]}\n"
		   "    restart_policy: {kind: \"no\"}\n"
		   "    scale: {mode: fixed, replicas: 1}\n",
		   path);

	/* $E: without the variable: an error naming it, nothing created. */
	char *out = NULL, *err = NULL;
	int code = ZL_ENV(t, CLI_ENV("ZLT_OCI_UNRELATED=1"), &out, &err, "apply", "-f", path);
	if (code == 0 || !strstr(err, "ZLT_OCI_FROM_HOST"))
		fail_msg("apply without ZLT_OCI_FROM_HOST: exit %d\n%s%s", code, out, err);
	free(out);
	free(err);
	assert_int_equal(rep_count(t), 0);

	code = ZL_ENV(t, CLI_ENV("ZLT_OCI_FROM_HOST=from the host"), &out, &err, "apply", "-f", path);
	assert_exit(code, 0, out, err);
	free(out);
	free(err);

	wait_logs(t, "plain-rep-1", "hello from plain-rep-1\n"); /* the image's CMD */
	wait_logs(t, "args-rep-1", "args replace cmd\n");
	wait_logs(t, "entry-rep-1", "entrypoint plus args\n");
	wait_logs(t, "eponly-rep-1", "only\n"); /* entrypoint alone drops the CMD */
	wait_logs(t, "listed-rep-1", "list form\n");
	wait_logs(t, "imgenv-rep-1", "PATH=/bin\n"); /* the image's env */
	wait_logs(t, "web-rep-1",
		  "PATH=/bin:/zlt\nFROM_HOST=from the host\nHOSTNAME=web-rep-1\nPLAIN=two words\n");
}

/* ---- 10. volumes ---- */

static const char *volume_spec(const char *value, char buf[1024])
{
	snprintf(buf, 1024,
		 "  web:\n" IMAGE "    command: {args: " LOOP_ARGS "}\n"
		 "    env: {V: \"%s\"}\n"
		 "    storage:\n"
		 "      - {type: named, name: data, target: /data}\n"
		 "      - {type: anonymous, target: /scratch}\n"
		 "    stop_grace_period: 2s\n"
		 "    scale: {mode: fixed, replicas: 1}\n",
		 value);
	return buf;
}

static char *exec_out(const struct oci_t *t, const char *cmd, int want_code)
{
	char *out = NULL, *err = NULL;
	int code = ZL(t, &out, &err, "exec", "web-rep-1", "--", "sh", "-c", cmd);
	assert_exit(code, want_code, out, err);
	free(err);
	return out;
}

static void test_volumes(void **state)
{
	struct oci_t *t = *state;
	char spec[1024], dir[PATH_MAX], named[PATH_MAX], anon[PATH_MAX];
	free(apply_ok(t, "vol.yaml", volume_spec("1", spec)));
	struct oci_test_replica first = running(t, "web", 1);
	free(exec_out(t, "echo kept > /data/f && echo lost > /scratch/f", 0));

	cli_pathf(named, "%s/volumes/%s/data/f", t->tmp.root, t->dep);
	cli_pathf(anon, "%s/anon/scratch/f", ctr_dir(t, "web", 1, dir));
	char *text = cli_read_file(named);
	if (!text || strcmp(text, "kept\n") != 0)
		fail_msg("the named volume's file is not at %s", named);
	free(text);
	text = cli_read_file(anon);
	if (!text || strcmp(text, "lost\n") != 0)
		fail_msg("the anonymous volume's file is not at %s", anon);
	free(text);

	/* An env change recreates the replica. */
	char *out = apply_ok(t, "vol.yaml", volume_spec("2", spec));
	assert_action(out, "~ recreate web-rep-1");
	free(out);
	struct oci_test_replica second = running(t, "web", 1);
	assert_true(second.pid != first.pid);
	assert_false(oci_test_pid_alive(first.pid));

	out = exec_out(t, "cat /data/f; echo V=$V", 0);
	assert_string_equal(out, "kept\nV=2\n");
	free(out);
	out = exec_out(t, "ls -A /scratch", 0);
	assert_string_equal(out, "");
	free(out);
	free(exec_out(t, "cat /scratch/f", 1));
	assert_false(exists(anon));

	char *err = NULL;
	int code = ZL(t, &out, &err, "delete", "-d", t->dep);
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	assert_false(exists(dir));
}

/* ---- 11. bad input ---- */

static void test_bad_input(void **state)
{
	struct oci_t *t = *state;
	char path[PATH_MAX], spec[1024], prefix[128], missing[PATH_MAX];

	/* A runtime that does not exist: a clear error, nothing made. */
	write_spec(t, "web.yaml", web_spec(1, spec), path);
	char *out = NULL, *err = NULL;
	int code = ZL(t, &out, &err, "apply", "-f", path, "--runtime", "/nonexistent/runc");
	if (code == 0 || !strstr(err, "/nonexistent/runc"))
		fail_msg("apply --runtime /nonexistent/runc: exit %d\n%s%s", code, out, err);
	free(out);
	free(err);
	assert_int_equal(rep_count(t), 0);
	assert_nothing_left(t);

	cli_path(&t->tmp, "no-such-dir", missing);
	char text[8192];
	snprintf(text, sizeof(text),
		 "  good:\n" IMAGE "    command: {args: " LOOP_ARGS "}\n"
		 "    stop_grace_period: 2s\n"
		 "    scale: {mode: fixed, replicas: 1}\n"
		 "  baduser:\n" IMAGE "    user: nosuchuser\n"
		 "    scale: {mode: fixed, replicas: 1}\n"
		 "  badbind:\n" IMAGE
		 "    storage: [{type: bind, source: \"%s\", target: /mnt}]\n"
		 "    scale: {mode: fixed, replicas: 1}\n"
		 "  tiny:\n" IMAGE "    resources: {memory: 4Mi}\n"
		 "    scale: {mode: fixed, replicas: 1}\n",
		 missing);
	write_spec(t, "bad.yaml", text, path);
	/* What the spec and this host decide is refused before anything is
	 * made (validate = apply), each at its place. */
	code = ZL(t, &out, &err, "apply", "-f", path);
	assert_exit(code, 2, out, err);
	char want[PATH_MAX * 3];
	snprintf(want, sizeof(want), "%s:18:36: services.badbind.storage[0].source: bind source %s: does not exist on this host",
		 path, missing);
	assert_non_null(strstr(err, want));
	snprintf(want, sizeof(want), "%s:23:25: services.tiny.resources.memory: 4Mi is below the 6Mi a container needs",
		 path);
	assert_non_null(strstr(err, want));
	free(out);
	free(err);
	assert_int_equal(rep_count(t), 0);
	assert_nothing_left(t);

	/* What only the image tells (its users) fails that replica alone. */
	snprintf(text, sizeof(text),
		 "  good:\n" IMAGE "    command: {args: " LOOP_ARGS "}\n"
		 "    stop_grace_period: 2s\n"
		 "    scale: {mode: fixed, replicas: 1}\n"
		 "  baduser:\n" IMAGE "    user: nosuchuser\n"
		 "    scale: {mode: fixed, replicas: 1}\n");
	write_spec(t, "bad.yaml", text, path);
	code = ZL(t, &out, &err, "apply", "-f", path);
	assert_exit(code, 1, out, err);
	free(out);
	free(err);

	struct oci_test_replica good = running(t, "good", 1);
	{
		struct oci_test_replica r = get_rep(t, "baduser", 1);
		if (strcmp(r.state, "failed") != 0 || !strstr(r.error, "nosuchuser") || r.pid != -1)
			fail_msg("baduser-rep-1: expected failed with an error naming nosuchuser: %s", r.json);
		char dir[PATH_MAX];
		if (exists(ctr_dir(t, "baduser", 1, dir)))
			fail_msg("%s is left behind", dir);
	}
	/* Only the good replica's mount and runc container exist. */
	char dir[PATH_MAX];
	char *m = oci_test_mounts_under(t->tmp.root);
	snprintf(want, sizeof(want), "%s/rootfs\n", ctr_dir(t, "good", 1, dir));
	assert_string_equal(m, want);
	free(m);
	char *ids = runc_ids(runc_prefix(t, prefix));
	snprintf(want, sizeof(want), "zl-%s-good-1\n", t->dep);
	assert_string_equal(ids, want);
	free(ids);

	/* The next apply tries the failed ones again and leaves good alone. */
	code = ZL(t, &out, &err, "apply", "-f", path);
	assert_exit(code, 1, out, err);
	assert_action(out, "~ recreate baduser-rep-1");
	assert_true(cli_action_index(out, "~ recreate good-rep-1") < 0);
	free(out);
	free(err);
	assert_true(running(t, "good", 1).pid == good.pid);
}

/* ---- a command that cannot be executed; logs from now on ---- */

/* Not found, not executable, a directory, an argument list too long: each
 * replica is recorded as exited with 127/126 and exit_reason exec_failed,
 * and status and logs say why (Docker's words). */
static void test_exec_failure_recorded(void **state)
{
	struct oci_t *t = *state;
	char *big = calloc(1, 200 * 1024 + 1), *spec = NULL;
	assert_non_null(big);
	memset(big, 'x', 200 * 1024); /* one argument over MAX_ARG_STRLEN */
	int n = asprintf(&spec,
		"  missing:\n" IMAGE "    command: {args: [\"nosuch\"]}\n"
		"    restart_policy: {kind: \"no\"}\n    scale: {mode: fixed, replicas: 1}\n"
		"  notexec:\n" IMAGE "    command: {args: [\"/etc/passwd\"]}\n"
		"    restart_policy: {kind: \"no\"}\n    scale: {mode: fixed, replicas: 1}\n"
		"  dir:\n" IMAGE "    command: {args: [\"/bin\"]}\n"
		"    restart_policy: {kind: \"no\"}\n    scale: {mode: fixed, replicas: 1}\n"
		"  toolong:\n" IMAGE "    command: {args: [\"/bin/echo\", \"%s\"]}\n"
		"    restart_policy: {kind: \"no\"}\n    scale: {mode: fixed, replicas: 1}\n",
		big);
	assert_true(n > 0);
	free(big);
	char *out = apply_ok(t, "exec.yaml", spec);
	assert_action(out, "+ create missing-rep-1");
	free(out);
	static const struct {
		const char *service;
		int code;
		const char *why, *log;
	} want[] = {
		{ "missing", 127, "exec: \"nosuch\": executable file not found in $PATH",
		  "exec: \"nosuch\": executable file not found in $PATH\n" },
		{ "notexec", 126, "exec: \"/etc/passwd\": permission denied",
		  "exec: \"/etc/passwd\": permission denied\n" },
		{ "dir", 126, "exec: \"/bin\": permission denied", "exec: \"/bin\": permission denied\n" },
		/* runc's init says it after start, on the replica's stderr */
		{ "toolong", 126, "exec /bin/echo: argument list too long",
		  "exec /bin/echo: argument list too long\n" },
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct oci_test_replica r = wait_state(t, want[i].service, 1, "exited");
		if (r.exit_code != want[i].code || strcmp(r.exit_reason, "exec_failed") != 0 ||
		    strcmp(r.error, want[i].why) != 0 || r.exit_signal[0] || r.pid != -1)
			fail_msg("%s-rep-1: expected exited %d, exec_failed, error \"%s\": %s",
				 want[i].service, want[i].code, want[i].why, r.json);
		char name[64], *err = NULL;
		snprintf(name, sizeof(name), "%s-rep-1", want[i].service);
		int code = ZL(t, &out, &err, "logs", name);
		assert_exit(code, 0, out, err);
		assert_string_equal(out, want[i].log);
		free(out);
		free(err);
	}
	/* The table says why under the row, as for a failed one. */
	char path[PATH_MAX], *err = NULL;
	int code = ZL(t, &out, &err, "status");
	assert_exit(code, 0, out, err);
	assert_contains(out, "  error: exec: \"nosuch\": executable file not found in $PATH\n");
	free(out);
	free(err);
	/* restart_policy no: the next apply leaves them as they are. */
	write_spec(t, "exec.yaml", spec, path);
	code = ZL(t, &out, &err, "apply", "-f", path);
	assert_exit(code, 0, out, err);
	assert_int_equal(cli_count_lines(out), 0);
	free(out);
	free(err);
	free(spec);
	assert_string_equal(get_rep(t, "missing", 1).exit_reason, "exec_failed");
}

/* True once process pid holds path open. */
static bool holds_open(pid_t pid, const char *path)
{
	char fd_dir[64];
	snprintf(fd_dir, sizeof(fd_dir), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(fd_dir);
	bool found = false;
	struct dirent *e;
	while (d && !found && (e = readdir(d))) {
		char link[PATH_MAX], p[PATH_MAX];
		ssize_t n = readlink(cli_pathf(p, "%s/%s", fd_dir, e->d_name), link, sizeof(link) - 1);
		if (n > 0) {
			link[n] = '\0';
			found = strcmp(link, path) == 0;
		}
	}
	if (d)
		closedir(d);
	return found;
}

/* logs -f --tail 0 shows what the replica writes from then on, as docker's. */
static void test_logs_follow_tail_0(void **state)
{
	struct oci_t *t = *state;
	free(apply_ok(t, "late.yaml",
		      "  late:\n" IMAGE
		      "    command: {args: [\"/bin/sh\", \"-c\", \"echo old1; echo old2; "
		      "while [ ! -e /tmp/go ]; do sleep 0.05; done; echo new\"]}\n"
		      "    restart_policy: {kind: \"no\"}\n"
		      "    scale: {mode: fixed, replicas: 1}\n"));
	char *out = NULL, *err = NULL;
	int64_t deadline = cli_mono_ms() + WAIT_MS;
	for (bool both = false; !both;) {
		assert_true(cli_mono_ms() < deadline);
		int code = ZL(t, &out, &err, "logs", "late-rep-1");
		both = code == 0 && strcmp(out, "old1\nold2\n") == 0;
		free(out);
		free(err);
		if (!both)
			cli_sleep_ms(50);
	}
	/* Without -f: nothing. */
	int code = ZL(t, &out, &err, "logs", "late-rep-1", "--tail", "0");
	assert_exit(code, 0, out, err);
	assert_string_equal(out, "");
	free(out);
	free(err);

	struct cli_proc p;
	zl_spawn(t, &p, (const char *const[]){ "logs", "-f", "--tail", "0", "late-rep-1", NULL });
	/* Once it holds ctr.log open it has looked at what is there. */
	char dir[PATH_MAX], log[PATH_MAX];
	cli_pathf(log, "%s/ctr.log", ctr_dir(t, "late", 1, dir));
	while (!holds_open(p.pid, log)) {
		int st;
		if (waitpid(p.pid, &st, WNOHANG) == p.pid) {
			char *early = cli_read_file(p.out_path);
			unlink(p.out_path);
			unlink(p.err_path);
			fail_msg("logs -f --tail 0 ended at once (status 0x%x), printing \"%s\"", st,
				 early ? early : "");
		}
		if (cli_mono_ms() > deadline) {
			kill(p.pid, SIGKILL);
			fail_msg("logs -f --tail 0 never opened %s", log);
		}
		cli_sleep_ms(10);
	}
	code = ZL(t, &out, &err, "exec", "late-rep-1", "--", "sh", "-c", ">/tmp/go");
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	code = zl_wait_within(&p, 15000, &out);
	assert_int_equal(code, 0);
	assert_string_equal(out, "new\n");
	free(out);
	wait_state(t, "late", 1, "exited");
}


int main(void)
{
	if (geteuid() != 0 || !oci_test_have("runc") || !oci_test_have("umoci") ||
	    access("/bin/busybox", X_OK) < 0) {
		fprintf(stderr, "test_oci: needs root, runc, umoci and /bin/busybox; skipped\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_scale_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exit_code_recorded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sigkill_recorded_then_restarted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oom_killed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cgroup_parent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_grace_period, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_stops_replicas_together, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_honours_stop_settings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_image_user_and_stop_signal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_restarts_exited, setup, teardown),
		cmocka_unit_test_setup_teardown(test_logs_tail_timestamps_follow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exec, setup, teardown),
		cmocka_unit_test_setup_teardown(test_adoption_and_lost_monitor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_argv_and_env, setup, teardown),
		cmocka_unit_test_setup_teardown(test_volumes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exec_failure_recorded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_logs_follow_tail_0, setup, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
