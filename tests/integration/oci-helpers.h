/* oci-helpers.h: what the end-to-end tests that run real containers
 * (test_oci.c, test_kill9.c, test_many_layers.c, test_real_images.c,
 * test_net_e2e.c, test_health.c) share on top of cli-helpers.h: running
 * zlapply with --root ROOT --backend oci (and the test bridge), a state root
 * per test, replicas as `status -o json` shows them and waiting for a state,
 * looking at the host (a live pid, mounts), and the group fixtures: the
 * example busybox image, ip_forward, and the rules and the bridge a test
 * bridge leaves behind.
 *
 * Everything is static inline so each test program takes what it uses. */
#ifndef ZL_TEST_OCI_HELPERS_H
#define ZL_TEST_OCI_HELPERS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "cli-helpers.h"

#include <sys/mount.h>

#include "net/net.h"

/* ---- running zlapply with the oci backend ---- */

/* What makes zlapply use a test's state root and the oci backend; runtime,
 * bridge and subnet (--runtime, --bridge/--subnet) are passed when not NULL. */
struct oci_test_flags {
	const char *root;
	const char *runtime;
	const char *bridge;
	const char *subnet;
};

/* Where the flags go among args: before them (so a command after `--`
 * stays the command's), after args[0] (the verb) or after all of them. */
enum oci_test_flags_at { OCI_FLAGS_FIRST, OCI_FLAGS_AFTER_VERB, OCI_FLAGS_LAST };

#define OCI_TEST_ARGV_MAX 64

static inline void oci_test_put_flags(const struct oci_test_flags *f, const char *full[],
				      size_t *n)
{
	full[(*n)++] = "--root";
	full[(*n)++] = f->root;
	full[(*n)++] = "--backend";
	full[(*n)++] = "oci";
	if (f->runtime) {
		full[(*n)++] = "--runtime";
		full[(*n)++] = f->runtime;
	}
	if (f->bridge) {
		full[(*n)++] = "--bridge";
		full[(*n)++] = f->bridge;
		full[(*n)++] = "--subnet";
		full[(*n)++] = f->subnet;
	}
}

/* args (NULL-terminated, args[0] the verb unless at is OCI_FLAGS_FIRST)
 * with the flags put where at says, into full for cli_run()/cli_spawn(). */
static inline void oci_test_argv(enum oci_test_flags_at at, const struct oci_test_flags *f,
				 const char *const *args, const char *full[OCI_TEST_ARGV_MAX])
{
	size_t n = 0, i = 0;
	if (at == OCI_FLAGS_AFTER_VERB && args[0])
		full[n++] = args[i++];
	if (at != OCI_FLAGS_LAST)
		oci_test_put_flags(f, full, &n);
	for (; args[i]; i++) {
		assert_true(n < OCI_TEST_ARGV_MAX - 12);
		full[n++] = args[i];
	}
	if (at == OCI_FLAGS_LAST)
		oci_test_put_flags(f, full, &n);
	full[n] = NULL;
}

/* Runs zlapply with args and the flags; see cli_run(). */
static inline int oci_test_run(enum oci_test_flags_at at, const struct oci_test_flags *f,
			       const char *const *env, const char *const *args, char **out,
			       char **err)
{
	const char *full[OCI_TEST_ARGV_MAX];
	oci_test_argv(at, f, args, full);
	return cli_run(NULL, NULL, env, full, out, err);
}

/* Starts zlapply with args and the flags; see cli_spawn(). */
static inline void oci_test_spawn(enum oci_test_flags_at at, const struct oci_test_flags *f,
				  const char *const *env, const char *const *args,
				  struct cli_proc *p)
{
	const char *full[OCI_TEST_ARGV_MAX];
	oci_test_argv(at, f, args, full);
	cli_spawn(NULL, NULL, env, full, p);
}

/* `delete -q -d deployment`, then `doctor --fix`; what fails is said on
 * stderr ("cleanup: ..."), never fails the test. */
static inline void oci_test_delete_and_fix(enum oci_test_flags_at at,
					   const struct oci_test_flags *f, const char *deployment)
{
	char *out = NULL, *err = NULL;
	int code = oci_test_run(at, f, NULL,
				(const char *const[]){ "delete", "-q", "-d", deployment, NULL }, &out,
				&err);
	if (code != 0)
		fprintf(stderr, "cleanup: delete %s: exit %d: %s%s\n", deployment, code, out, err);
	free(out);
	free(err);
	code = oci_test_run(at, f, NULL, (const char *const[]){ "doctor", "--fix", NULL }, &out,
			    &err);
	if (code != 0)
		fprintf(stderr, "cleanup: doctor --fix: exit %d: %s%s\n", code, out, err);
	free(out);
	free(err);
}

/* `status -o json -d deployment`, parsed; fails the test when status fails
 * or prints no JSON. Caller cJSON_Delete()s. */
static inline cJSON *oci_test_status_json(enum oci_test_flags_at at,
					  const struct oci_test_flags *f, const char *deployment)
{
	char *out = NULL, *err = NULL;
	int code = oci_test_run(
		at, f, NULL, (const char *const[]){ "status", "-o", "json", "-d", deployment, NULL },
		&out, &err);
	assert_exit(code, 0, out, err);
	cJSON *doc = cJSON_Parse(out);
	if (!doc)
		fail_msg("status -o json: %s", out);
	free(out);
	free(err);
	return doc;
}

/* ---- a state root per test ---- */

/* A test case's scratch directory and deployment name: t->dir from a
 * mkdtemp template ("/tmp/zlXXX-XXXXXX"), t->root in it, and deployment
 * "<prefix><pid>-<seq>" (unique to this run); -1 when the directory cannot
 * be made (for a cmocka setup function). */
static inline int oci_test_case_open(struct cli_tmp *t, const char *dir_template,
				     char *deployment, size_t deployment_size, const char *prefix,
				     int seq)
{
	snprintf(t->dir, sizeof(t->dir), "%s", dir_template);
	if (!mkdtemp(t->dir))
		return -1;
	cli_pathf(t->root, "%s/root", t->dir);
	snprintf(deployment, deployment_size, "%s%d-%d", prefix, (int)getpid(), seq);
	return 0;
}

/* ---- replicas as status shows them ---- */

static inline void assert_contains(const char *text, const char *needle)
{
	if (!text || !strstr(text, needle))
		fail_msg("\"%s\" not found in:\n%s", needle, text ? text : "(nothing)");
}

/* One replica of a `status -o json` document. Absent values: -1 / "". */
struct oci_test_replica {
	bool found;
	char state[32];
	char health[32];
	long long pid;
	int exit_code;
	char exit_reason[32];
	char exit_signal[32];
	int restarts;
	char error[2048];
	char json[4096]; /* for messages */
};

static inline void oci_test_json_copy(cJSON *obj, const char *key, char *out, size_t size)
{
	const char *v = cli_json_str(obj, key);
	snprintf(out, size, "%s", v ? v : "");
}

static inline long long oci_test_json_int(cJSON *obj, const char *key)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsNumber(v) ? (long long)v->valuedouble : -1;
}

/* service-rep-index of deployment in doc (found false when it is not there). */
static inline struct oci_test_replica oci_test_replica_of(cJSON *doc, const char *deployment,
							   const char *service, int index)
{
	struct oci_test_replica r = { 0 };
	r.pid = r.exit_code = r.restarts = -1;
	cJSON *o = cli_json_replica(doc, deployment, service, index);
	if (!o) {
		snprintf(r.json, sizeof(r.json), "(no %s-rep-%d in status)", service, index);
		return r;
	}
	r.found = true;
	oci_test_json_copy(o, "state", r.state, sizeof(r.state));
	oci_test_json_copy(o, "health", r.health, sizeof(r.health));
	r.pid = oci_test_json_int(o, "pid");
	r.exit_code = (int)oci_test_json_int(o, "exit_code");
	oci_test_json_copy(o, "exit_reason", r.exit_reason, sizeof(r.exit_reason));
	oci_test_json_copy(o, "exit_signal", r.exit_signal, sizeof(r.exit_signal));
	r.restarts = (int)oci_test_json_int(o, "restarts");
	oci_test_json_copy(o, "error", r.error, sizeof(r.error));
	char *j = cJSON_PrintUnformatted(o);
	snprintf(r.json, sizeof(r.json), "%s", j);
	free(j);
	return r;
}

/* How a test gets its status document (a test fails when it cannot). */
typedef cJSON *(*oci_test_status_fn)(const void *ctx);

/* Polls status every poll_ms until service-rep-index is in state (and,
 * with need_pid, has a pid); fails the test after wait_ms. */
static inline struct oci_test_replica
oci_test_wait_state(oci_test_status_fn status, const void *ctx, const char *deployment,
		    const char *service, int index, const char *state, bool need_pid,
		    int64_t wait_ms, int64_t poll_ms)
{
	int64_t deadline = cli_mono_ms() + wait_ms;
	for (;;) {
		cJSON *doc = status(ctx);
		struct oci_test_replica r = oci_test_replica_of(doc, deployment, service, index);
		cJSON_Delete(doc);
		if (strcmp(r.state, state) == 0 && (!need_pid || r.pid > 0))
			return r;
		if (cli_mono_ms() > deadline)
			fail_msg("%s-rep-%d is not %s after %lld ms: %s", service, index, state,
				 (long long)wait_ms, r.json);
		cli_sleep_ms(poll_ms);
	}
}

/* ---- what the host shows ---- */

/* The process exists and is not a zombie. */
static inline bool oci_test_pid_alive(long long pid)
{
	if (pid <= 0)
		return false;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%lld/stat", pid);
	char *stat = cli_read_file(path);
	if (!stat)
		return false;
	const char *paren = strrchr(stat, ')');
	bool alive = paren && paren[1] == ' ' && paren[2] != 'Z' && paren[2] != 'X';
	free(stat);
	return alive;
}

/* Mount points under prefix ("" when none), one a line. Caller frees. */
static inline char *oci_test_mounts_under(const char *prefix)
{
	char *text = cli_read_file("/proc/self/mountinfo");
	assert_non_null(text);
	char *buf = NULL;
	size_t len = 0, plen = strlen(prefix);
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT ... */
		char mp[PATH_MAX];
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 && strncmp(mp, prefix, plen) == 0 &&
		    (mp[plen] == '/' || mp[plen] == '\0'))
			fprintf(f, "%s\n", mp);
	}
	fclose(f);
	free(text);
	return buf;
}

/* Teardown: a mount left under dir is reported ("teardown: mounts left")
 * and detached. Returns whether there was one. */
static inline bool oci_test_unmount_left(const char *dir)
{
	char *m = oci_test_mounts_under(dir);
	bool left = *m != '\0';
	if (left) {
		fprintf(stderr, "teardown: mounts left:\n%s", m);
		char *save = NULL;
		for (char *mp = strtok_r(m, "\n", &save); mp; mp = strtok_r(NULL, "\n", &save))
			umount2(mp, MNT_DETACH);
	}
	free(m);
	return left;
}

/* ---- fixtures ---- */

/* Is prog on PATH? */
static inline bool oci_test_have(const char *prog)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", prog);
	return system(cmd) == 0;
}

/* Runs a shell command with its output thrown away; its exit status, -1
 * when it did not exit. */
static inline int oci_test_sh_quiet(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int oci_test_sh_quiet(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *cmd = NULL;
	if (vasprintf(&cmd, fmt, ap) < 0)
		abort();
	va_end(ap);
	char *full = NULL;
	if (asprintf(&full, "%s >/dev/null 2>&1", cmd) < 0)
		abort();
	int st = system(full);
	free(cmd);
	free(full);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static inline const char *oci_test_source_root(void)
{
	return cli_source_root();
}

/* scripts/build-example-image (busybox, CMD printing "hello from
 * <hostname>") into the OCI layout dest, tag 1.0; -1 (said on stderr) when
 * it fails. */
static inline int oci_test_build_example_image(const char *dest)
{
	if (oci_test_sh_quiet("'%s/scripts/build-example-image' '%s'", oci_test_source_root(),
			      dest) != 0) {
		fprintf(stderr, "building the example image into %s failed\n", dest);
		return -1;
	}
	return 0;
}

/* The host's /proc/sys/net/ipv4/ip_forward ("1" when unreadable), for
 * oci_test_ip_forward_restore() once the test bridge is gone. */
static inline void oci_test_ip_forward_save(char *value, size_t size)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_forward", "re");
	if (!f || !fgets(value, (int)size, f))
		snprintf(value, size, "1");
	if (f)
		fclose(f);
}

static inline void oci_test_ip_forward_restore(const char *value)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_forward", "we");
	if (f) {
		fputs(value, f);
		fclose(f);
	}
}

/* Deletes what a test bridge brought: its masquerading, the loopback and
 * forward rules naming it (each as often as it is there). */
static inline void oci_test_bridge_rules_delete(const char *bridge, const char *subnet)
{
	const struct {
		const char *table, *chain, *rule;
	} rules[] = {
		{ "nat", "POSTROUTING", "-s %s ! -o %s -m comment --comment zlapply -j MASQUERADE" },
		{ "nat", "ZLAPPLY-POSTROUTING", "-s 127.0.0.0/8 -o %2$s -m comment --comment zlapply -j MASQUERADE" },
		{ "filter", "FORWARD", "-o %2$s -m conntrack --ctstate DNAT -m comment --comment zlapply -j ACCEPT" },
		{ "filter", "FORWARD", "-i %2$s -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment zlapply -j ACCEPT" },
	};
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		char rule[512];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		snprintf(rule, sizeof(rule), rules[i].rule, subnet, bridge);
#pragma GCC diagnostic pop
		while (oci_test_sh_quiet("iptables -w -t %s -D %s %s", rules[i].table, rules[i].chain,
					 rule) == 0)
			;
	}
}

/* Deletes the test bridge; a failure is said on stderr ("cleanup: ..."). */
static inline void oci_test_bridge_delete(const char *bridge)
{
	struct zl_err err = ZL_ERR_INIT;
	if (net_bridge_delete(bridge, &err) < 0)
		fprintf(stderr, "cleanup: %s\n", err.msg);
}

#endif
