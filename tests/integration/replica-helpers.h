/* replica-helpers.h: what the end-to-end tests of a backend beside real
 * containers (test_wasm.c, test_vm.c) share on top of oci-helpers.h: a test
 * with its state root, deployment and the program's test bridge; running
 * zlapply with them; a spec written from a template and applied; `status -o
 * json` and its replicas, waiting for a state, `status` as a table; `logs`
 * holding lines; a lost state database; the host (processes naming the
 * root, paths by glob, cgroups, claims, a root's entries, a pid's end); and
 * setup, teardown (SIGKILL, delete, leftovers, cleaning up by force, the
 * bridge and its claim) and the group's cleanup.
 *
 * Everything is static inline so each test program takes what it uses. */
#ifndef ZL_TEST_REPLICA_HELPERS_H
#define ZL_TEST_REPLICA_HELPERS_H

#include "oci-helpers.h"

#include <glob.h>
#include <limits.h>

#define CLAIMS "/run/zlapply/claims"

/* fail_msg() cuts a message at 1 KiB; zlapply's output is often longer:
 * the whole message goes to stderr, then the test fails at this line. */
#define FAIL(...)                                             \
	do {                                                  \
		char *m_ = NULL;                              \
		if (asprintf(&m_, __VA_ARGS__) < 0)           \
			abort();                              \
		fflush(stdout);                               \
		fprintf(stderr, "ERROR: %s\n", m_);           \
		free(m_);                                     \
		fail();                                       \
	} while (0)

/* One test: its state root, its deployment, the program's bridge and how
 * the program expands a spec template. */
struct rh_test {
	struct cli_tmp tmp;
	char dep[64];        /* <prefix><pid>-<seq> */
	const char *bridge;  /* the program's test bridge and its subnet */
	const char *subnet;
	/* the template with the program's @NAME@s replaced; caller frees */
	char *(*expand)(const struct rh_test *t, const char *text);
};

/* A test's setup: opens it (its temp dir and deployment name) on
 * bridge/subnet into *state; -1 on failure. */
static inline int rh_setup(void **state, const char *dir_template, const char *dep_prefix, int seq,
			   const char *bridge, const char *subnet,
			   char *(*expand)(const struct rh_test *t, const char *text))
{
	struct rh_test *t = calloc(1, sizeof(*t));
	if (!t || oci_test_case_open(&t->tmp, dir_template, t->dep, sizeof(t->dep), dep_prefix,
				     seq) < 0) {
		free(t);
		return -1;
	}
	t->bridge = bridge;
	t->subnet = subnet;
	t->expand = expand;
	*state = t;
	return 0;
}

/* ---- running zlapply ---- */

/* The verbs that take --bridge/--subnet (status, logs, kill, exec refuse them). */
static inline bool rh_takes_bridge(const char *verb)
{
	static const char *const verbs[] = { "apply", "diff", "delete", "watch", "doctor", "run" };
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(verb, verbs[i]) == 0)
			return true;
	return false;
}

static inline struct oci_test_flags rh_flags_for(const struct rh_test *t, const char *verb)
{
	struct oci_test_flags f = { .root = t->tmp.root };
	if (rh_takes_bridge(verb)) {
		f.bridge = t->bridge;
		f.subnet = t->subnet;
	}
	return f;
}

/* args[0] is the verb; --root ROOT --backend oci (and the test bridge where
 * the verb takes it) follow it. */
static inline int rh_run(const struct rh_test *t, const char *const *env, const char *const *args,
			 char **out, char **err)
{
	struct oci_test_flags f = rh_flags_for(t, args[0]);
	return oci_test_run(OCI_FLAGS_AFTER_VERB, &f, env, args, out, err);
}

#define ZL(t, out, err, ...) \
	rh_run((t), NULL, (const char *const[]){ __VA_ARGS__, NULL }, (out), (err))
#define ZL_ENV(t, env, out, err, ...) \
	rh_run((t), (env), (const char *const[]){ __VA_ARGS__, NULL }, (out), (err))

/* Runs zlapply and says how long it took. */
static inline int rh_run_timed(const struct rh_test *t, int64_t *ms, char **out, char **err,
			       const char *const *args)
{
	int64_t t0 = cli_mono_ms();
	int code = rh_run(t, NULL, args, out, err);
	*ms = cli_mono_ms() - t0;
	return code;
}
#define ZL_TIMED(t, ms, out, err, ...) \
	rh_run_timed((t), (ms), (out), (err), (const char *const[]){ __VA_ARGS__, NULL })

/* ---- specs ---- */

struct rh_subst {
	const char *key, *value;
};

/* text with each subst[i].key replaced by its value; caller frees. */
static inline char *rh_expand(const char *text, const struct rh_subst *subst, size_t n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	for (const char *p = text; *p;) {
		bool done = false;
		for (size_t i = 0; i < n && !done; i++) {
			size_t kl = strlen(subst[i].key);
			if (strncmp(p, subst[i].key, kl) == 0) {
				fputs(subst[i].value, f);
				p += kl;
				done = true;
			}
		}
		if (!done)
			fputc(*p++, f);
	}
	fclose(f);
	return buf;
}

/* Writes t->dir/file: a spec of this test's deployment with services (a
 * template: t->expand() replaces its @NAME@s). */
static inline char *rh_write_spec(const struct rh_test *t, const char *file, const char *services,
				  char path[PATH_MAX])
{
	char *body = t->expand(t, services);
	char *text = NULL;
	if (asprintf(&text, "version: v1\ndeployment: %s\nservices:\n%s", t->dep, body) < 0)
		abort();
	cli_path(&t->tmp, file, path);
	cli_write_file(path, text);
	free(text);
	free(body);
	return path;
}

/* Writes and applies a spec; asserts exit `want` (saying how long apply
 * took when say_ms); returns apply's stdout (and its stderr in *err_out
 * when given). *ms (optional) gets how long apply took. */
static inline char *rh_apply(const struct rh_test *t, const char *file, const char *services,
			     int want, char **err_out, int64_t *ms, bool say_ms)
{
	char path[PATH_MAX], *out = NULL, *err = NULL;
	rh_write_spec(t, file, services, path);
	int64_t took;
	int code = ZL_TIMED(t, &took, &out, &err, "apply", "-f", path);
	if (code != want) {
		char after[48] = "";
		if (say_ms)
			snprintf(after, sizeof(after), " after %lld ms", (long long)took);
		FAIL("apply -f %s: expected exit %d, got %d%s\n--- spec:\n%s\n--- stdout:\n%s--- stderr:\n%s",
		     file, want, code, after, services, out, err);
	}
	if (ms)
		*ms = took;
	if (err_out)
		*err_out = err;
	else
		free(err);
	return out;
}

static inline void rh_assert_action(const char *out, const char *action, const char *err)
{
	if (cli_action_index(out, action) < 0)
		FAIL("expected the action \"%s\" in apply's output; stdout:\n%s--- stderr:\n%s", action,
		     out, err ? err : "");
}

/* ---- what status says ---- */

static inline cJSON *rh_status_try(const struct rh_test *t, char **why)
{
	char *out = NULL, *err = NULL;
	int code = ZL(t, &out, &err, "status", "-o", "json", "-d", t->dep);
	cJSON *doc = code == 0 ? cJSON_Parse(out) : NULL;
	if (doc && !cJSON_IsArray(cli_json_replicas(doc))) {
		cJSON_Delete(doc);
		doc = NULL;
	}
	if (!doc && why && asprintf(why, "status -o json: exit %d\n--- stdout:\n%s--- stderr:\n%s",
				    code, out, err) < 0)
		*why = NULL;
	free(out);
	free(err);
	return doc;
}

static inline cJSON *rh_status_doc(const struct rh_test *t)
{
	char *why = NULL;
	cJSON *doc = rh_status_try(t, &why);
	if (!doc)
		FAIL("%s", why ? why : "status failed");
	return doc;
}

/* One replica as `status -o json` shows it; absent values -1 / "". */
struct rh_replica {
	struct oci_test_replica r;
	char backend[16];
	char ip[64];     /* "" when null */
	char netns[256]; /* "" when null */
	char image_digest[96];
	long long backoff_seconds;
};

static inline struct rh_replica rh_replica_of(cJSON *doc, const char *dep, const char *svc,
					      int index)
{
	struct rh_replica w = { .r = oci_test_replica_of(doc, dep, svc, index) };
	cJSON *o = cli_json_replica(doc, dep, svc, index);
	oci_test_json_copy(o, "backend", w.backend, sizeof(w.backend));
	oci_test_json_copy(o, "ip", w.ip, sizeof(w.ip));
	oci_test_json_copy(o, "netns", w.netns, sizeof(w.netns));
	oci_test_json_copy(o, "image_digest", w.image_digest, sizeof(w.image_digest));
	w.backoff_seconds = oci_test_json_int(o, "backoff_seconds");
	return w;
}

static inline struct rh_replica rh_rep(const struct rh_test *t, const char *svc, int index)
{
	cJSON *doc = rh_status_doc(t);
	struct rh_replica w = rh_replica_of(doc, t->dep, svc, index);
	cJSON_Delete(doc);
	return w;
}

/* Polls status (every poll_ms) until svc-rep-index is in state with at
 * least min_restarts restarts (and a pid when running); fails after ms. */
static inline struct rh_replica rh_wait_rep(const struct rh_test *t, const char *svc, int index,
					    const char *state, int min_restarts, int64_t ms,
					    int poll_ms)
{
	int64_t deadline = cli_mono_ms() + ms;
	for (;;) {
		struct rh_replica w = rh_rep(t, svc, index);
		if (strcmp(w.r.state, state) == 0 && w.r.restarts >= min_restarts &&
		    (strcmp(state, "running") != 0 || w.r.pid > 0))
			return w;
		if (cli_mono_ms() > deadline)
			FAIL("expected %s-rep-%d to be %s (restarts >= %d) within %lld ms; status says: %s",
			     svc, index, state, min_restarts, (long long)ms, w.r.json);
		cli_sleep_ms(poll_ms);
	}
}

/* `status` as a table. Caller frees. */
static inline char *rh_status_table(const struct rh_test *t)
{
	char *out = NULL, *err = NULL;
	int code = ZL(t, &out, &err, "status", "-d", t->dep);
	assert_exit(code, 0, out, err);
	free(err);
	return out;
}

/* Table columns of a row: DEPLOYMENT REPLICA STATE BACKEND PID IP EXIT RESTARTS HEALTH AGE. */
enum { COL_STATE = 2, COL_BACKEND, COL_PID, COL_IP, COL_EXIT, COL_RESTARTS };

/* ---- logs ---- */

/* `logs svc -d dep` (polled every poll_ms) once it holds every needle (a
 * line each, exactly); fails after ms, saying "within ms" when say_within.
 * Caller frees. */
static inline char *rh_logs_with_lines(const struct rh_test *t, const char *svc,
				       const char *const *lines, int ms, int poll_ms,
				       bool say_within)
{
	int64_t deadline = cli_mono_ms() + ms;
	for (;;) {
		char *out = NULL, *err = NULL;
		int code = ZL(t, &out, &err, "logs", svc, "-d", t->dep);
		bool ok = code == 0;
		for (size_t i = 0; ok && lines[i]; i++)
			ok = cli_line_index(out, lines[i]) >= 0;
		if (ok) {
			free(err);
			return out;
		}
		if (cli_mono_ms() > deadline) {
			char want[1024] = "", within[64] = "";
			for (size_t i = 0; lines[i]; i++)
				snprintf(want + strlen(want), sizeof(want) - strlen(want), "\n  %s", lines[i]);
			if (say_within)
				snprintf(within, sizeof(within), "within %d ms; ", ms);
			FAIL("expected `logs %s` to show the lines:%s\n%sgot exit %d\n--- stdout:\n%s--- stderr:\n%s",
			     svc, want, within, code, out, err);
		}
		free(out);
		free(err);
		cli_sleep_ms(poll_ms);
	}
}

/* ---- the state database ---- */

/* Moves the root's state database (state.db and its -wal and -shm) to
 * t->dir/moved: the next apply finds no state. */
static inline void rh_lose_state_db(const struct rh_test *t)
{
	char moved[PATH_MAX];
	cli_path(&t->tmp, "moved", moved);
	assert_int_equal(mkdir(moved, 0700), 0);
	static const char *const files[] = { "state.db", "state.db-wal", "state.db-shm" };
	for (size_t i = 0; i < 3; i++) {
		char from[PATH_MAX], to[PATH_MAX];
		cli_pathf(from, "%s/%s", t->tmp.root, files[i]);
		cli_pathf(to, "%s/%s", moved, files[i]);
		if (rename(from, to) < 0 && errno != ENOENT)
			FAIL("rename %s: %s", from, strerror(errno));
	}
}

/* After delete: doctor finds nothing to clean up, the bridge went with
 * its last replica and status no longer knows the deployment. */
static inline void rh_expect_deployment_gone(const struct rh_test *t)
{
	char *out = NULL, *err = NULL;
	int code = ZL(t, &out, &err, "doctor");
	if (code != 0 || strcmp(out, "nothing to clean up\n") != 0)
		FAIL("expected doctor to report nothing after delete; exit %d\n--- stdout:\n%s--- stderr:\n%s",
		     code, out, err);
	free(out);
	free(err);
	if (net_link_exists(t->bridge))
		FAIL("expected the bridge %s gone with its last replica", t->bridge);
	code = ZL(t, &out, &err, "status", "-d", t->dep);
	if (code != 1 || !strstr(err, "no deployment"))
		FAIL("expected status -d of the deleted deployment to fail (exit 1, no deployment); exit %d\n--- stdout:\n%s--- stderr:\n%s",
		     code, out, err);
	free(out);
	free(err);
}

/* ---- the host ---- */

/* "PID CMDLINE" lines (the command line's first cmd_size - 1 bytes, NULs
 * as blanks, printed up to print_max) of the processes (but this one) whose
 * command line names the root (or has extra_needle, when not NULL) or whose
 * cgroup is one of the deployment's; their pids in *pids. */
static inline char *rh_procs_of(const struct rh_test *t, const char *extra_needle,
				size_t cmd_size, int print_max, pid_t **pids, size_t *npids)
{
	char cg_needle[128];
	snprintf(cg_needle, sizeof(cg_needle), "/zlapply/zl-%s-", t->dep);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	char *cmd = malloc(cmd_size);
	assert_non_null(cmd);
	*npids = 0;
	*pids = NULL;
	DIR *d = opendir("/proc");
	assert_non_null(d);
	struct dirent *de;
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
		size_t n = cf ? fread(cmd, 1, cmd_size - 1, cf) : 0;
		if (cf)
			fclose(cf);
		for (size_t i = 0; i < n; i++)
			if (!cmd[i])
				cmd[i] = ' ';
		cmd[n] = '\0';
		if ((cg && strstr(cg, cg_needle)) || strstr(cmd, t->tmp.root) ||
		    (extra_needle && strstr(cmd, extra_needle))) {
			fprintf(f, "%ld %.*s\n", pid, print_max, cmd);
			*pids = realloc(*pids, (*npids + 1) * sizeof(**pids));
			assert_non_null(*pids);
			(*pids)[(*npids)++] = (pid_t)pid;
		}
		free(cg);
	}
	closedir(d);
	free(cmd);
	fclose(f);
	return buf;
}

/* A program's processes of a test: "PID CMDLINE" lines, their pids in
 * *pids (see rh_procs_of()). */
typedef char *rh_procs_fn(const struct rh_test *t, pid_t **pids, size_t *npids);

/* procs() after giving them up to ms to go (a zlmon exits just after
 * writing the exit record delete waits for). */
static inline char *rh_procs_left(const struct rh_test *t, rh_procs_fn *procs, int64_t ms,
				  pid_t **pids, size_t *npids)
{
	int64_t deadline = cli_mono_ms() + ms;
	for (;;) {
		char *text = procs(t, pids, npids);
		if (!*text || cli_mono_ms() > deadline)
			return text;
		free(text);
		free(*pids);
		cli_sleep_ms(50);
	}
}

/* Paths matching the patterns (printf-style with the deployment), one a line. */
static inline char *rh_glob_lines(const char *const *patterns, const char *dep)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	for (size_t i = 0; patterns[i]; i++) {
		char pat[PATH_MAX];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		snprintf(pat, sizeof(pat), patterns[i], dep);
#pragma GCC diagnostic pop
		glob_t gl;
		if (glob(pat, 0, NULL, &gl) == 0)
			for (size_t k = 0; k < gl.gl_pathc; k++)
				fprintf(f, "%s\n", gl.gl_pathv[k]);
		globfree(&gl);
	}
	fclose(f);
	return buf;
}

/* cgroup directories of the deployment's replicas (v1 hierarchies and v2). */
static inline char *rh_cgroups_of(const struct rh_test *t)
{
	return rh_glob_lines((const char *const[]){ "/sys/fs/cgroup/*/zlapply/zl-%s-*",
						    "/sys/fs/cgroup/zlapply/zl-%s-*", NULL },
			     t->dep);
}

/* Claim files of the deployment's replicas. */
static inline char *rh_claims_of(const struct rh_test *t)
{
	return rh_glob_lines((const char *const[]){ CLAIMS "/replica/zl-%s-*", NULL }, t->dep);
}

/* Entries of <root>/NAME, one a line. */
static inline char *rh_root_entries(const struct rh_test *t, const char *name)
{
	char dir[PATH_MAX];
	cli_pathf(dir, "%s/%s", t->tmp.root, name);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *de;
		while ((de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				fprintf(f, "%s/%s\n", dir, de->d_name);
		closedir(d);
	}
	fclose(f);
	return buf;
}

static inline bool rh_wait_pid_dead(long long pid, int64_t ms)
{
	int64_t deadline = cli_mono_ms() + ms;
	while (oci_test_pid_alive(pid)) {
		if (cli_mono_ms() > deadline)
			return false;
		cli_sleep_ms(20);
	}
	return true;
}

/* ---- teardown ---- */

/* Where every test starts: skipped (with the reason) unless usable. */
static inline void *rh_begin(void **state, bool usable, const char *skip_why)
{
	if (!usable) {
		print_message("skipped: %s\n", skip_why[0] ? skip_why : "setup failed");
		skip();
	}
	return *state;
}

/* SIGKILLs the deployment's running replicas (delete would wait for stop
 * graces), then deletes it; -1 (said on stderr) when delete failed with
 * replicas recorded, else 0. */
static inline int rh_kill_and_delete(const struct rh_test *t)
{
	int ret = 0;
	cJSON *doc = rh_status_try(t, NULL);
	bool recorded = doc && cJSON_GetArraySize(cli_json_replicas(doc)) > 0;
	cJSON *r;
	cJSON *list = doc ? cli_json_replicas(doc) : NULL;
	cJSON_ArrayForEach(r, list)
	{
		const char *st = cli_json_str(r, "state"), *name = cli_json_str(r, "name");
		if (st && name && strcmp(st, "running") == 0)
			ZL(t, NULL, NULL, "kill", name, "-d", t->dep);
	}
	cJSON_Delete(doc);
	char *out = NULL, *err = NULL;
	int code = ZL(t, &out, &err, "delete", "-q", "-d", t->dep);
	if (code != 0 && recorded) {
		fprintf(stderr, "teardown: delete -d %s: exit %d\n%s%s", t->dep, code, out, err);
		ret = -1;
	}
	free(out);
	free(err);
	return ret;
}

/* Deletes the deployment by force, then SIGKILLs the processes procs()
 * lists (as "PID CMDLINE" lines, with their pids). */
static inline void rh_force_delete(const struct rh_test *t, rh_procs_fn *procs)
{
	oci_test_delete_and_fix(OCI_FLAGS_AFTER_VERB,
				&(struct oci_test_flags){ .root = t->tmp.root,
							  .bridge = t->bridge,
							  .subnet = t->subnet },
				t->dep);
	pid_t *pids;
	size_t npids;
	free(procs(t, &pids, &npids));
	for (size_t i = 0; i < npids; i++)
		kill(pids[i], SIGKILL);
	free(pids);
}

/* Removes what is left of the deployment's mounts, cgroups and claims. */
static inline void rh_remove_mounts_cgroups_claims(const struct rh_test *t)
{
	oci_test_unmount_left(t->tmp.root);
	char *c = rh_cgroups_of(t);
	for (char *save = NULL, *cg = strtok_r(c, "\n", &save); cg; cg = strtok_r(NULL, "\n", &save))
		rmdir(cg);
	free(c);
	char *cl = rh_claims_of(t);
	for (char *save = NULL, *f = strtok_r(cl, "\n", &save); f; f = strtok_r(NULL, "\n", &save))
		unlink(f);
	free(cl);
}

/* The last replica on the bridge takes it (and its claim) along: -1 (said
 * on stderr, and removed) when either is left, else 0. */
static inline int rh_bridge_gone(const struct rh_test *t)
{
	int ret = 0;
	if (net_link_exists(t->bridge)) {
		fprintf(stderr, "teardown: bridge %s still there after delete\n", t->bridge);
		ret = -1;
		oci_test_bridge_rules_delete(t->bridge, t->subnet);
		oci_test_bridge_delete(t->bridge);
	}
	char claim[PATH_MAX];
	cli_pathf(claim, CLAIMS "/bridge/%s", t->bridge);
	if (unlink(claim) == 0) {
		fprintf(stderr, "teardown: the claim on bridge %s was left\n", t->bridge);
		ret = -1;
	}
	return ret;
}

/* The end of every teardown: the temp dir (kept with ZL_KEEP_TMP) and t. */
static inline void rh_test_close(struct rh_test *t)
{
	if (!getenv("ZL_KEEP_TMP"))
		cli_tmp_remove(&t->tmp);
	free(t);
}

/* What a program's teardown looks at and removes beyond the common. */
struct rh_teardown_ops {
	/* everything of the deployment still on the host, as text ("" when nothing) */
	char *(*leftovers)(const struct rh_test *t);
	/* "PID CMDLINE" lines of its processes, with their pids */
	rh_procs_fn *procs;
	int settle_ms; /* after SIGKILLing them, before unmounting */
	void (*remove_more)(const struct rh_test *t); /* optional */
};

/* Teardown (when usable): SIGKILL what still runs, delete the deployment,
 * then check nothing of it is left (ops->leftovers(), the bridge and its
 * claim), clean up by force whatever is and fail; then close the test. */
static inline int rh_teardown(struct rh_test *t, bool usable, const struct rh_teardown_ops *ops)
{
	int ret = 0;
	if (usable) {
		if (rh_kill_and_delete(t) < 0)
			ret = -1;
		char *left = ops->leftovers(t);
		if (*left) {
			fprintf(stderr, "teardown: left behind by %s:\n%s", t->dep, left);
			ret = -1;
			rh_force_delete(t, ops->procs);
			if (ops->settle_ms)
				cli_sleep_ms(ops->settle_ms);
			rh_remove_mounts_cgroups_claims(t);
			if (ops->remove_more)
				ops->remove_more(t);
		}
		free(left);
		if (rh_bridge_gone(t) < 0)
			ret = -1;
	}
	rh_test_close(t);
	return ret;
}

/* The end of a group: the test bridge deleted when check_bridge and it is
 * left (said on stderr), ip_forward restored, dir removed (kept with
 * ZL_KEEP_TMP). */
static inline void rh_group_cleanup(bool check_bridge, const char *bridge, const char *subnet,
				    const char *ip_forward, const char *dir)
{
	if (check_bridge && net_link_exists(bridge)) {
		fprintf(stderr, "cleanup: bridge %s left; deleting it\n", bridge);
		oci_test_bridge_rules_delete(bridge, subnet);
		oci_test_bridge_delete(bridge);
	}
	oci_test_ip_forward_restore(ip_forward);
	if (dir[0] && !getenv("ZL_KEEP_TMP"))
		cli_rm_rf(dir);
}

#endif
