/* test_kill9.c: zlapply killed with SIGKILL, then run again, on real
 * containers (runc under zlmon, the example busybox image of
 * scripts/build-example-image, bridge networking with a published port).
 *
 * 1. The crash windows of issue 11, each reproduced deterministically with
 *    tests/infra/slow-runtime.sh (a runtime wrapper that sleeps in a verb
 *    while a marker asks for it and says when it is there):
 *    (a) killed while zlmon is inside the runtime's create, or before
 *        zlmon wrote its record (the test binary, run as "zlmon", delays
 *        the real one): the re-run waits for that monitor before it
 *        undoes the replica;
 *    (b) killed while its `runc delete --force` runs: that helper dies with
 *        it and cannot delete the replica the re-run makes under the id;
 *    (c) killed inside an atomic write (blocked opening its temporary file,
 *        a FIFO put there): the temporary file is removed by the next run,
 *        so `delete` removes the port records' directory, and a replica
 *        adopted by recovery gets the record the killed run did not write;
 *    (d) killed during a stop's grace period: recovery finishes the stop
 *        with the replica's stop_signal and stop_grace_period;
 *    and a busy lock exits 4.
 * 2. The sweep: cold apply (of a new state root, and of one that ran
 *    before), rolling recreate (env change), scale down, scale up and
 *    delete, in a cycle, each killed at a point of its run (spread over
 *    its measured duration), then run again; after each the
 *    host must hold exactly the desired replicas and nothing else: every
 *    replica running with a live pid, no duplicate pid or address, one
 *    zlmon each and no other process of the deployment, exactly their
 *    mounts, runtime containers, netns, veths, cgroups, claims, leases and
 *    port rules, no temporary file under the root, `doctor` clean, no
 *    pending journal entry, `PRAGMA integrity_check` ok.
 *    ZL_KILL9_POINTS sets the number of kill points (default 25);
 *    ZL_KILL9_KEEP_GOING=1 records a failing point, repairs and goes on
 *    (bench/kill9.sh), and the test fails at the end; ZL_KILL9_TESTS=GLOB
 *    runs only the matching tests.
 * 3. Five concurrent applies with different replica counts: every one
 *    finishes (or exits 4, busy), and the end state is the last successful
 *    one's.
 *
 * Safety: one bridge "zlk<pid%1000>" with the subnet 10.215.<pid%250>.0/24
 * (outside zlapply's default 10.213.0.0/16), host port 19000 + pid%1000 on
 * 127.0.0.1; each test has its own state root and deployment; teardown
 * deletes and then removes by force whatever is left; the group teardown
 * removes the bridge and the rules naming it and restores ip_forward.
 *
 * Needs root, runc, umoci, iptables and /bin/busybox (exit 77 otherwise). */
#include "oci-helpers.h"

#include <glob.h>
#include <sys/file.h>

#define MAX_INDEX 5 /* no spec here has more replicas */
#define WAIT_MS 20000

static struct {
	char dir[64];           /* /tmp/zlk9-img-XXXXXX */
	char image[PATH_MAX];   /* dir/img: the OCI layout */
	char runtime[PATH_MAX]; /* tests/infra/slow-runtime.sh */
	char bridge[16];
	char subnet[32];
	int port;
	char ip_forward[8];
	int seq;
} g;

struct k9 {
	struct cli_tmp tmp;
	char dep[64];              /* k<pid>-<seq> */
	char slow[PATH_MAX];       /* markers of slow-runtime.sh */
	char env_slow[PATH_MAX + 16];
};

/* ---- running zlapply ---- */

static bool is_verb(const char *v, const char *const *list)
{
	for (size_t i = 0; list[i]; i++)
		if (strcmp(v, list[i]) == 0)
			return true;
	return false;
}

/* VERB --root R --backend oci [--runtime W] [--bridge B --subnet S] ARGS... */
static void zl_argv(const struct k9 *t, const char *const *args, const char *full[64])
{
	struct oci_test_flags f = { .root = t->tmp.root };
	if (is_verb(args[0], (const char *const[]){ "apply", "delete", NULL }))
		f.runtime = g.runtime;
	if (is_verb(args[0], (const char *const[]){ "apply", "delete", "doctor", NULL })) {
		f.bridge = g.bridge;
		f.subnet = g.subnet;
	}
	oci_test_argv(OCI_FLAGS_AFTER_VERB, &f, args, full);
}

static void zl_spawn(const struct k9 *t, const char *const *args, struct cli_proc *p)
{
	const char *full[64];
	zl_argv(t, args, full);
	cli_spawn(NULL, NULL, (const char *const[]){ t->env_slow, NULL }, full, p);
}

static int zl_exec(const struct k9 *t, const char *const *args, char **out, char **err)
{
	struct cli_proc p;
	zl_spawn(t, args, &p);
	return cli_wait(&p, out, err);
}

#define ZL(t, out, err, ...) zl_exec((t), (const char *const[]){ __VA_ARGS__, NULL }, (out), (err))

/* Has the child pid exited (not reaped yet: cli_wait() does that)? */
static bool exited(pid_t pid)
{
	siginfo_t si = { 0 };
	return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid;
}

/* Exit code of a spawned zlapply, waiting at most ms (then it is killed). */
static int wait_within(struct cli_proc *p, int64_t ms, char **out, char **err)
{
	int64_t deadline = cli_mono_ms() + ms;
	while (!exited(p->pid) && cli_mono_ms() < deadline)
		cli_sleep_ms(5);
	if (cli_mono_ms() >= deadline)
		kill(p->pid, SIGKILL);
	return cli_wait(p, out, err);
}

/* ---- specs ---- */

/* The sweep's service: `replicas` sleepers with env V=v, publishing
 * 127.0.0.1:port -> 8080 (nothing listens: the rules are what counts). */
static char *spec_path(const struct k9 *t, const char *name, char out[PATH_MAX])
{
	return cli_path(&t->tmp, name, out);
}

static char *write_web_spec(const struct k9 *t, const char *name, int replicas, int v, int port,
			    char path[PATH_MAX])
{
	char *text = NULL;
	if (asprintf(&text,
		 "version: v1\n"
		 "deployment: %s\n"
		 "services:\n"
		 "  web:\n"
		 "    image: {name: \"oci:%s:1.0\", pull_policy: if_not_present}\n"
		 "    command: {args: [\"/bin/sh\", \"-c\", \"trap 'exit 0' TERM; sleep 100000 & wait\"]}\n"
		 "    env: {V: \"%d\"}\n"
		 "    stop_grace_period: 1s\n"
		 "    endpoints:\n"
		 "      - {name: http, protocol: http, port: %d, target_port: 8080, expose: internal}\n"
		 "    scale: {mode: fixed, replicas: %d}\n",
		 t->dep, g.image, v, port, replicas) < 0)
		abort();
	cli_write_file(spec_path(t, name, path), text);
	free(text);
	return path;
}

static void apply_ok(const struct k9 *t, const char *spec)
{
	char *out = NULL, *err = NULL;
	int code = ZL(t, &out, &err, "apply", "-q", "-f", spec);
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
}

/* ---- the runtime wrapper's markers ---- */

static void marker_set(const struct k9 *t, const char *name, const char *secs)
{
	char path[PATH_MAX];
	cli_write_file(cli_pathf(path, "%s/%s", t->slow, name), secs);
}

static void marker_clear(const struct k9 *t, const char *name)
{
	char path[PATH_MAX];
	unlink(cli_pathf(path, "%s/%s", t->slow, name));
}

/* Waits until the wrapper reports being in `name` (in-VERB-CALLER). */
static void wait_marker(const struct k9 *t, const char *name, pid_t apply)
{
	char path[PATH_MAX];
	cli_pathf(path, "%s/%s", t->slow, name);
	int64_t deadline = cli_mono_ms() + WAIT_MS;
	while (access(path, F_OK) != 0) {
		if (cli_mono_ms() > deadline || exited(apply))
			fail_msg("the runtime never reported %s (apply pid %d)", name, (int)apply);
		cli_sleep_ms(5);
	}
}

/* ---- looking at the host ---- */

/* A /proc file with NUL-separated fields; *len its length. Caller frees. */
static char *read_nul_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t cap = 0;
	*len = 0;
	for (;;) {
		if (*len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		size_t n = fread(buf + *len, 1, 4096, f);
		*len += n;
		if (n == 0)
			break;
	}
	fclose(f);
	buf[*len] = '\0';
	return buf;
}

static bool environ_has(long long pid, const char *entry)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%lld/environ", pid);
	size_t len = 0;
	char *env = read_nul_file(path, &len);
	bool found = false;
	for (size_t off = 0; env && off < len; off += strlen(env + off) + 1)
		found = found || strcmp(env + off, entry) == 0;
	free(env);
	return found;
}

static void replica_id(const struct k9 *t, int index, char out[128])
{
	snprintf(out, 128, "zl-%s-web-%d", t->dep, index);
}

/* "zl-<dep>-web-N" -> N (0 when name is not one of ours). */
static int index_of(const struct k9 *t, const char *name)
{
	char prefix[96];
	snprintf(prefix, sizeof(prefix), "zl-%s-web-", t->dep);
	size_t pl = strlen(prefix);
	if (strncmp(name, prefix, pl) != 0)
		return 0;
	char *end;
	long n = strtol(name + pl, &end, 10);
	return *end == '\0' && n > 0 && n < 1000 ? (int)n : 0;
}

/* Names in dir that are ids of the deployment, as a bit set of indexes
 * (bit i: replica i); names that are not ids but carry the prefix go to f. */
static unsigned ids_in_dir(const struct k9 *t, const char *dir, FILE *f, const char *what)
{
	unsigned set = 0;
	char prefix[96];
	snprintf(prefix, sizeof(prefix), "zl-%s-", t->dep);
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
			continue;
		int i = index_of(t, de->d_name);
		if (i > 0 && i < 32)
			set |= 1u << i;
		else
			fprintf(f, "%s: unexpected %s/%s\n", what, dir, de->d_name);
	}
	if (d)
		closedir(d);
	return set;
}

static unsigned want_set(int replicas)
{
	unsigned set = 0;
	for (int i = 1; i <= replicas; i++)
		set |= 1u << i;
	return set;
}

static void compare_sets(FILE *f, const char *what, unsigned have, unsigned want)
{
	if (have == want)
		return;
	fprintf(f, "%s: have replicas {", what);
	for (int i = 1; i < 32; i++)
		if (have & (1u << i))
			fprintf(f, " %d", i);
	fprintf(f, " }, want {");
	for (int i = 1; i < 32; i++)
		if (want & (1u << i))
			fprintf(f, " %d", i);
	fprintf(f, " }\n");
}

/* runc's containers of the deployment: bit set; the ones not running go to f. */
static unsigned runc_set(const struct k9 *t, FILE *f)
{
	for (int attempt = 0;; attempt++) {
		FILE *p = popen("runc list -f json 2>/dev/null", "r");
		assert_non_null(p);
		char *buf = NULL;
		size_t len = 0;
		FILE *m = open_memstream(&buf, &len);
		char chunk[4096];
		size_t n;
		while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
			fwrite(chunk, 1, n, m);
		fclose(m);
		int status = pclose(p);
		if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
			free(buf);
			if (attempt == 50)
				fail_msg("runc list keeps failing");
			cli_sleep_ms(50);
			continue;
		}
		unsigned set = 0;
		cJSON *doc = cJSON_Parse(buf);
		cJSON *c;
		cJSON_ArrayForEach(c, doc)
		{
			const char *id = cli_json_str(c, "id"), *st = cli_json_str(c, "status");
			int i = id ? index_of(t, id) : 0;
			if (!i)
				continue;
			set |= 1u << i;
			if (!st || strcmp(st, "running") != 0)
				fprintf(f, "runc: %s is %s\n", id, st ? st : "?");
		}
		cJSON_Delete(doc);
		free(buf);
		return set;
	}
}

/* cgroup directories of the deployment's containers (v1 and v2). */
static unsigned cgroup_set(const struct k9 *t)
{
	unsigned set = 0;
	for (int i = 0; i < 2; i++) {
		char pat[PATH_MAX];
		snprintf(pat, sizeof(pat), "/sys/fs/cgroup/%szlapply/zl-%s-*", i == 0 ? "*/" : "", t->dep);
		glob_t gl;
		if (glob(pat, GLOB_ONLYDIR, NULL, &gl) == 0)
			for (size_t k = 0; k < gl.gl_pathc; k++) {
				int idx = index_of(t, strrchr(gl.gl_pathv[k], '/') + 1);
				set |= idx ? 1u << idx : 1u; /* bit 0: a stray name */
			}
		globfree(&gl);
	}
	return set;
}

/* Every process of the deployment: a replica's zlmon (--dir of a wanted
 * replica, one each) or a process in a wanted replica's cgroup. Anything
 * else that names the root or an id, or sits in another cgroup of the
 * deployment, is reported. *zlmons gets the replicas with a monitor.
 * pids (optional) collects every pid found, for teardown. */
static void scan_procs(const struct k9 *t, unsigned want, FILE *f, unsigned *zlmons,
		       pid_t mon_pid[32], pid_t *pids, size_t *npids, size_t max_pids)
{
	char cg_needle[128], id_needle[96], mon_prefix[PATH_MAX];
	snprintf(cg_needle, sizeof(cg_needle), "/zlapply/zl-%s-", t->dep);
	snprintf(id_needle, sizeof(id_needle), "zl-%s-", t->dep);
	cli_pathf(mon_prefix, "%s/containers/", t->tmp.root);
	int mon_count[32] = { 0 };
	*zlmons = 0;
	DIR *d = opendir("/proc");
	assert_non_null(d);
	struct dirent *de;
	while ((de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		if (*end || pid <= 0 || pid == getpid() || !oci_test_pid_alive(pid))
			continue;
		char path[64];
		snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
		size_t clen = 0;
		char *cmd = read_nul_file(path, &clen);
		snprintf(path, sizeof(path), "/proc/%ld/cgroup", pid);
		char *cg = cli_read_file(path);
		if (!cmd || !cg) {
			free(cmd);
			free(cg);
			continue;
		}
		/* The command line as one string, for matching and messages. */
		char flat[1024];
		size_t fl = clen < sizeof(flat) - 1 ? clen : sizeof(flat) - 1;
		memcpy(flat, cmd, fl);
		for (size_t i = 0; i < fl; i++)
			if (!flat[i])
				flat[i] = ' ';
		flat[fl] = '\0';
		const char *cgp = strstr(cg, cg_needle);
		bool named = memmem(cmd, clen, t->tmp.root, strlen(t->tmp.root)) ||
			     memmem(cmd, clen, id_needle, strlen(id_needle));
		if (!cgp && !named) {
			free(cmd);
			free(cg);
			continue;
		}
		if (pids && *npids < max_pids)
			pids[(*npids)++] = (pid_t)pid;
		const char *base = strrchr(cmd, '/') ? strrchr(cmd, '/') + 1 : cmd;
		bool ok = false;
		if (strcmp(base, "zlmon") == 0) {
			for (size_t off = 0; off < clen; off += strlen(cmd + off) + 1) {
				const char *arg = cmd + off;
				if (strcmp(arg, "--dir") != 0 || off + 6 >= clen)
					continue;
				const char *dir = arg + 6;
				int i = strncmp(dir, mon_prefix, strlen(mon_prefix)) == 0
						? index_of(t, dir + strlen(mon_prefix))
						: 0;
				if (i > 0 && i < 32 && (want & (1u << i))) {
					ok = true;
					*zlmons |= 1u << i;
					if (mon_pid)
						mon_pid[i] = (pid_t)pid;
					if (++mon_count[i] > 1)
						fprintf(f, "process: a second zlmon for replica %d: %ld %s\n", i,
							pid, flat);
				}
			}
		} else if (cgp) {
			char id[128];
			snprintf(id, sizeof(id), "%s", cgp + strlen("/zlapply/"));
			id[strcspn(id, "/\n")] = '\0';
			int i = index_of(t, id);
			ok = i > 0 && i < 32 && (want & (1u << i));
		}
		if (!ok)
			fprintf(f, "process: %ld %s (cgroup %.*s)\n", pid, flat,
				(int)(cgp ? strcspn(cgp, "\n") : 4), cgp ? cgp : "none");
		free(cmd);
		free(cg);
	}
	closedir(d);
}

/* Destinations of the deployment's DNAT rules ("IP:PORT" lines, sorted by
 * appearance) and the number of lines tagged with it. */
static char *port_rules(const struct k9 *t, int *tagged)
{
	char tag[96];
	snprintf(tag, sizeof(tag), "zlapply:%s/", t->dep);
	FILE *p = popen("iptables -w -t nat -S 2>/dev/null", "r");
	assert_non_null(p);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	char line[2048];
	*tagged = 0;
	while (fgets(line, sizeof(line), p)) {
		if (!strstr(line, tag))
			continue;
		(*tagged)++;
		const char *to = strstr(line, "--to-destination ");
		if (to)
			fprintf(f, "%.*s\n", (int)strcspn(to + 17, " \n"), to + 17);
	}
	pclose(p);
	fclose(f);
	return buf;
}

static int tmp_files_fn(const char *path, const struct stat *st, int flag, struct FTW *ftw);
static FILE *tmp_files_out;
static int tmp_files_fn(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	if (strstr(path + ftw->base, ".tmp."))
		fprintf(tmp_files_out, "temporary file left: %s\n", path);
	return 0;
}

/* ---- the state database, read directly ---- */

/* The first column of sql's first row as text into out ("" for none);
 * -1 with the error in out when the query fails. */
static int db_text(const struct k9 *t, const char *sql, const char *arg, char *out, size_t size)
{
	char path[PATH_MAX];
	sqlite3 *db = NULL;
	out[0] = '\0';
	if (sqlite3_open_v2(cli_db_path(t->tmp.root, path), &db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK) {
		snprintf(out, size, "open: %s", db ? sqlite3_errmsg(db) : "no memory");
		sqlite3_close(db);
		return -1;
	}
	sqlite3_busy_timeout(db, 5000);
	sqlite3_stmt *st = NULL;
	int ret = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		snprintf(out, size, "%s: %s", sql, sqlite3_errmsg(db));
		goto done;
	}
	if (arg)
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const unsigned char *v = sqlite3_column_text(st, 0);
		snprintf(out, size, "%s", v ? (const char *)v : "");
		ret = 0;
	} else if (rc == SQLITE_DONE) {
		ret = 0;
	} else {
		snprintf(out, size, "%s: %s", sql, sqlite3_errmsg(db));
	}
done:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return ret;
}

static void db_expect(const struct k9 *t, FILE *f, const char *sql, const char *arg,
		      const char *want)
{
	char got[512];
	if (db_text(t, sql, arg, got, sizeof(got)) < 0)
		fprintf(f, "db: %s\n", got);
	else if (strcmp(got, want) != 0)
		fprintf(f, "db: %s -> %s, want %s\n", sql, got, want);
}

/* ---- everything that must hold after a converging run ---- */

/* Problems with the host holding exactly `replicas` replicas of the
 * deployment with env V=v (0 replicas: the deployment is gone); NULL when
 * there are none. Caller frees. */
static char *problems(const struct k9 *t, int replicas, int v)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	unsigned want = want_set(replicas);

	/* What status says. */
	char *out = NULL, *err = NULL;
	int code = ZL(t, &out, &err, "status", "-o", "json");
	cJSON *doc = code == 0 ? cJSON_Parse(out) : NULL;
	char ips[MAX_INDEX + 1][NET_IPV4_STRLEN] = { { 0 } };
	long long pids[MAX_INDEX + 1] = { 0 };
	if (!doc) {
		fprintf(f, "status: exit %d: %s%s\n", code, out, err);
	} else {
		int n = cli_json_count(doc, t->dep);
		if (n != replicas)
			fprintf(f, "status: %d replicas, want %d\n", n, replicas);
		char venv[32];
		snprintf(venv, sizeof(venv), "V=%d", v);
		for (int i = 1; i <= replicas; i++) {
			cJSON *r = cli_json_replica(doc, t->dep, "web", i);
			const char *st = r ? cli_json_str(r, "state") : NULL;
			cJSON *pid = r ? cJSON_GetObjectItemCaseSensitive(r, "pid") : NULL;
			const char *ip = r ? cli_json_str(r, "ip") : NULL;
			if (!st || strcmp(st, "running") != 0 || !cJSON_IsNumber(pid) || !ip) {
				char *j = r ? cJSON_PrintUnformatted(r) : NULL;
				fprintf(f, "status: web-rep-%d is not running with a pid and an ip: %s\n", i,
					j ? j : "(absent)");
				free(j);
				continue;
			}
			pids[i] = (long long)pid->valuedouble;
			snprintf(ips[i], sizeof(ips[i]), "%s", ip);
			if (!oci_test_pid_alive(pids[i]))
				fprintf(f, "status: web-rep-%d's pid %lld is not alive\n", i, pids[i]);
			else if (!environ_has(pids[i], venv))
				fprintf(f, "status: web-rep-%d (pid %lld) does not run with %s\n", i, pids[i],
					venv);
			for (int k = 1; k < i; k++) {
				if (pids[k] == pids[i])
					fprintf(f, "status: web-rep-%d and -%d share pid %lld\n", k, i, pids[i]);
				if (strcmp(ips[k], ips[i]) == 0)
					fprintf(f, "status: web-rep-%d and -%d share ip %s\n", k, i, ips[i]);
			}
		}
	}
	cJSON_Delete(doc);
	free(out);
	free(err);

	/* The database. */
	char want_n[16];
	snprintf(want_n, sizeof(want_n), "%d", replicas);
	db_expect(t, f, "PRAGMA integrity_check", NULL, "ok");
	db_expect(t, f, "SELECT COUNT(*) FROM journal WHERE status = 'pending'", NULL, "0");
	db_expect(t, f, "SELECT COUNT(*) FROM replicas WHERE deployment = ?1", t->dep, want_n);
	db_expect(t, f, "SELECT COUNT(*) FROM leases WHERE deployment = ?1", t->dep, want_n);
	db_expect(t, f,
		  "SELECT COUNT(*) FROM leases l JOIN replicas r ON r.deployment = l.deployment AND "
		  "r.service = l.service AND r.idx = l.idx AND r.ip = l.ip WHERE l.deployment = ?1",
		  t->dep, want_n);
	if (replicas == 0)
		db_expect(t, f, "SELECT COUNT(*) FROM services WHERE deployment = ?1", t->dep, "0");

	/* The host: directories, mounts, runtime, namespaces, links, cgroups, claims. */
	char dir[PATH_MAX];
	compare_sets(f, "containers/", ids_in_dir(t, cli_pathf(dir, "%s/containers", t->tmp.root), f,
						   "containers"),
		     want);
	char *m = oci_test_mounts_under(t->tmp.root);
	char *wantm = NULL;
	size_t wl = 0;
	FILE *wf = open_memstream(&wantm, &wl);
	for (int i = 1; i <= replicas; i++) {
		char id[128];
		replica_id(t, i, id);
		fprintf(wf, "%s/containers/%s/rootfs\n", t->tmp.root, id);
	}
	fclose(wf);
	/* Any order: compare line by line. */
	if (cli_count_lines(m) != cli_count_lines(wantm))
		fprintf(f, "mounts under the root:\n%swant:\n%s", m, wantm);
	else
		for (char *s = NULL, *line = strtok_r(wantm, "\n", &s); line; line = strtok_r(NULL, "\n", &s))
			if (cli_line_index(m, line) < 0)
				fprintf(f, "mount %s missing; have:\n%s", line, m);
	free(m);
	free(wantm);
	compare_sets(f, "runc containers", runc_set(t, f), want);
	compare_sets(f, "network namespaces", ids_in_dir(t, "/run/netns", f, "netns"), want);
	compare_sets(f, "replica claims", ids_in_dir(t, ZL_CLAIMS_DIR "/replica", f, "claims"), want);
	unsigned veths = 0;
	for (int i = 1; i <= MAX_INDEX; i++) {
		char name[NET_IFNAME_MAX + 1], path[PATH_MAX];
		net_ifname("zlh", t->dep, "web", i, name);
		if (access(cli_pathf(path, "/sys/class/net/%s", name), F_OK) == 0)
			veths |= 1u << i;
	}
	compare_sets(f, "host veths", veths, want);
	int brif = 0;
	DIR *bd = opendir(cli_pathf(dir, "/sys/class/net/%s/brif", g.bridge));
	struct dirent *de;
	while (bd && (de = readdir(bd)))
		brif += de->d_name[0] != '.';
	if (bd)
		closedir(bd);
	if (brif != replicas)
		fprintf(f, "bridge %s has %d ports, want %d\n", g.bridge, brif, replicas);

	/* Processes and cgroups: a monitor exits just after its exit record. */
	char *procs = NULL;
	size_t plen = 0;
	unsigned cg = 0, mons = 0;
	pid_t mon_pid[32] = { 0 };
	for (int64_t deadline = cli_mono_ms() + 3000;;) {
		free(procs);
		FILE *pf = open_memstream(&procs, &plen);
		scan_procs(t, want, pf, &mons, mon_pid, NULL, NULL, 0);
		fclose(pf);
		cg = cgroup_set(t);
		if ((!*procs && cg == want && mons == want) || cli_mono_ms() > deadline)
			break;
		cli_sleep_ms(50);
	}
	fputs(procs, f);
	free(procs);
	compare_sets(f, "zlmon processes", mons, want);
	/* Each replica's monitor record names its live monitor. */
	for (int i = 1; i <= replicas; i++) {
		char id[128], path[PATH_MAX];
		replica_id(t, i, id);
		char *rec = cli_read_file(cli_pathf(path, "%s/containers/%s/monitor", t->tmp.root, id));
		if (mon_pid[i] && (!rec || atol(rec) != (long)mon_pid[i]))
			fprintf(f, "%s names %s, the monitor is pid %d\n", path, rec ? rec : "nothing\n",
				(int)mon_pid[i]);
		free(rec);
	}
	compare_sets(f, "cgroups", cg, want);

	/* Published-port rules point at the replicas, and only at them. */
	int tagged = 0;
	char *dests = port_rules(t, &tagged);
	int ndest = (int)cli_count_lines(dests);
	if (replicas == 0 && tagged > 0)
		fprintf(f, "iptables: %d rules of the deleted deployment left\n", tagged);
	if (ndest != replicas)
		fprintf(f, "iptables: %d DNAT destinations, want %d:\n%s", ndest, replicas, dests);
	for (int i = 1; i <= replicas; i++) {
		char d[64];
		snprintf(d, sizeof(d), "%s:8080", ips[i]);
		if (ips[i][0] && cli_line_index(dests, d) < 0)
			fprintf(f, "iptables: no DNAT to web-rep-%d at %s:\n%s", i, d, dests);
	}
	free(dests);
	char ports[PATH_MAX];
	bool have_ports = access(cli_pathf(ports, "%s/ports/%s", t->tmp.root, t->dep), F_OK) == 0;
	if (have_ports != (replicas > 0))
		fprintf(f, "%s %s\n", ports, have_ports ? "is left behind" : "is missing");

	/* No temporary file of an atomic write anywhere under the root (its
	 * mounts, the containers' roots, are not entered). */
	tmp_files_out = f;
	nftw(t->tmp.root, tmp_files_fn, 32, FTW_PHYS | FTW_MOUNT);

	/* And doctor agrees there is nothing to clean up. */
	code = ZL(t, &out, &err, "doctor");
	if (code != 0 || !strstr(out, "nothing to clean up"))
		fprintf(f, "doctor (exit %d):\n%s%s", code, out, err);
	free(out);
	free(err);

	fclose(f);
	if (!*buf) {
		free(buf);
		return NULL;
	}
	return buf;
}

static void assert_converged(const struct k9 *t, int replicas, int v)
{
	char *p = problems(t, replicas, v);
	if (p)
		fail_msg("not converged to %d replica(s) with V=%d:\n%s", replicas, v, p);
}

/* ---- removing by force what a failed test left ---- */

static void force_clean(const struct k9 *t)
{
	pid_t pids[4096];
	size_t n = 0;
	unsigned mons;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	scan_procs(t, 0, f, &mons, NULL, pids, &n, 4096);
	fclose(f);
	free(buf);
	for (size_t i = 0; i < n; i++)
		kill(pids[i], SIGKILL);
	for (int i = 1; i <= 32; i++) {
		char id[128], cmd[512];
		replica_id(t, i, id);
		snprintf(cmd, sizeof(cmd), "runc delete --force '%s' >/dev/null 2>&1", id);
		if (i <= MAX_INDEX && system(cmd) != 0) {
			/* nothing there */
		}
		struct zl_err e = ZL_ERR_INIT;
		if (i <= MAX_INDEX && net_netns_exists(id))
			net_netns_delete(id, &e);
		char veth[NET_IFNAME_MAX + 1];
		net_ifname("zlh", t->dep, "web", i, veth);
		if (i <= MAX_INDEX)
			net_link_delete(veth, &e);
		char claim[PATH_MAX];
		unlink(cli_pathf(claim, "%s/replica/%s", ZL_CLAIMS_DIR, id));
	}
	char *m = oci_test_mounts_under(t->tmp.root);
	for (char *s = NULL, *mp = strtok_r(m, "\n", &s); mp; mp = strtok_r(NULL, "\n", &s))
		umount2(mp, MNT_DETACH);
	free(m);
	for (int i = 0; i < 2; i++) {
		char pat[PATH_MAX];
		snprintf(pat, sizeof(pat), "/sys/fs/cgroup/%szlapply/zl-%s-*", i == 0 ? "*/" : "", t->dep);
		glob_t gl;
		if (glob(pat, GLOB_ONLYDIR, NULL, &gl) == 0)
			for (size_t k = 0; k < gl.gl_pathc; k++)
				rmdir(gl.gl_pathv[k]);
		globfree(&gl);
	}
}

/* Deletes the deployment; force_clean() after whatever that left. */
static int clean_up(const struct k9 *t, bool report)
{
	char *out = NULL, *err = NULL;
	int ret = 0;
	int code = ZL(t, &out, &err, "delete", "-q", "-d", t->dep);
	if (code != 0) {
		if (report)
			fprintf(stderr, "cleanup: delete -d %s: exit %d: %s%s", t->dep, code, out, err);
		ret = -1;
	}
	free(out);
	free(err);
	code = ZL(t, &out, &err, "doctor", "--fix");
	free(out);
	free(err);
	char *p = problems(t, 0, 0);
	if (p) {
		if (report)
			fprintf(stderr, "cleanup: left behind:\n%s", p);
		free(p);
		ret = -1;
		force_clean(t);
		ZL(t, NULL, NULL, "doctor", "--fix");
	}
	return ret;
}

/* ---- setup and teardown ---- */

static int group_setup(void **state)
{
	(void)state;
	int pid = (int)getpid();
	snprintf(g.bridge, sizeof(g.bridge), "zlk%d", pid % 1000);
	snprintf(g.subnet, sizeof(g.subnet), "10.215.%d.0/24", pid % 250);
	g.port = 19000 + pid % 1000;
	snprintf(g.dir, sizeof(g.dir), "/tmp/zlk9-img-XXXXXX");
	if (!mkdtemp(g.dir))
		return -1;
	snprintf(g.image, sizeof(g.image), "%s/img", g.dir);
	snprintf(g.runtime, sizeof(g.runtime), "%s/tests/infra/slow-runtime.sh",
		 oci_test_source_root());
	if (oci_test_build_example_image(g.image) < 0)
		return -1;
	oci_test_ip_forward_save(g.ip_forward, sizeof(g.ip_forward));
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	oci_test_bridge_rules_delete(g.bridge, g.subnet);
	oci_test_bridge_delete(g.bridge);
	char claim[PATH_MAX];
	snprintf(claim, sizeof(claim), "%s/bridge/%s", ZL_CLAIMS_DIR, g.bridge);
	unlink(claim);
	oci_test_ip_forward_restore(g.ip_forward);
	cli_rm_rf(g.dir);
	return 0;
}

static int setup(void **state)
{
	struct k9 *t = calloc(1, sizeof(*t));
	if (!t || oci_test_case_open(&t->tmp, "/tmp/zlk9-XXXXXX", t->dep, sizeof(t->dep), "k",
				     ++g.seq) < 0) {
		free(t);
		return -1;
	}
	cli_pathf(t->slow, "%s/slow", t->tmp.dir);
	snprintf(t->env_slow, sizeof(t->env_slow), "ZL_SLOW_DIR=%s", t->slow);
	if (mkdir(t->slow, 0700) < 0)
		return -1;
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct k9 *t = *state;
	/* No marker may slow the clean-up down. */
	DIR *d = opendir(t->slow);
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.')
			unlinkat(dirfd(d), de->d_name, 0);
	if (d)
		closedir(d);
	int ret = clean_up(t, true);
	cli_tmp_remove(&t->tmp);
	free(t);
	return ret;
}

/* ---- 1. the crash windows ---- */

/* (a) Killed while zlmon is inside the runtime's create (delayed 2 s). The
 * re-run's recovery undoes the interrupted create, but only once that
 * monitor is done: otherwise its create, landing after the undo, takes the
 * id from under the re-run's own create ("container with given ID already
 * exists") and writes into the directory made again. */
static void test_killed_inside_create(void **state)
{
	struct k9 *t = *state;
	char spec[PATH_MAX];
	write_web_spec(t, "web.yaml", 1, 1, g.port, spec);
	marker_set(t, "delay-create-zlmon", "2");
	struct cli_proc p;
	zl_spawn(t, (const char *const[]){ "apply", "-q", "-f", spec, NULL }, &p);
	wait_marker(t, "in-create-zlmon", p.pid);
	kill(p.pid, SIGKILL);
	assert_int_equal(cli_wait(&p, NULL, NULL), 128 + SIGKILL);

	/* At once, with creates still slow: the re-run's own create comes
	 * after the old one wakes. */
	int64_t t0 = cli_mono_ms();
	char *out = NULL, *err = NULL;
	int code = ZL(t, &out, &err, "apply", "-q", "-f", spec);
	int64_t took = cli_mono_ms() - t0;
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	marker_clear(t, "delay-create-zlmon");
	print_message("re-run after a kill inside create: %lld ms\n", (long long)took);
	assert_converged(t, 1, 1);
}

/* (a, earlier) Killed right after spawning the monitor, before that
 * monitor wrote its record (zlmon's start delayed 5 s: the test binary
 * itself, linked as "zlmon", sleeps and then execs the real one). The
 * re-run finds the monitor by its command line and waits for it: left
 * alone it would write its record into the directory made again and
 * create the id under the re-run's replica. */
static void test_killed_before_monitor_record(void **state)
{
	struct k9 *t = *state;
	const char *real = getenv("ZLMON_BIN");
	if (!real || !*real)
		skip();
	char bin[PATH_MAX], link_path[PATH_MAX], self[PATH_MAX], spec[PATH_MAX];
	cli_path(&t->tmp, "bin", bin);
	assert_int_equal(mkdir(bin, 0700), 0);
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	assert_true(n > 0);
	self[n] = '\0';
	assert_int_equal(symlink(self, cli_pathf(link_path, "%s/zlmon", bin)), 0);
	char e_bin[PATH_MAX + 16], e_real[PATH_MAX + 16];
	snprintf(e_bin, sizeof(e_bin), "ZLMON_BIN=%s", link_path);
	snprintf(e_real, sizeof(e_real), "ZL_REAL_ZLMON=%s", real);
	write_web_spec(t, "web.yaml", 1, 1, g.port, spec);
	const char *full[64];
	zl_argv(t, (const char *const[]){ "apply", "-q", "-f", spec, NULL }, full);
	struct cli_proc p;
	cli_spawn(NULL, NULL,
		  (const char *const[]){ t->env_slow, e_bin, e_real, "ZL_SLOW_ZLMON=5", NULL }, full,
		  &p);
	wait_marker(t, "in-zlmon-start", p.pid);
	kill(p.pid, SIGKILL);
	assert_int_equal(cli_wait(&p, NULL, NULL), 128 + SIGKILL);

	int64_t t0 = cli_mono_ms();
	apply_ok(t, spec);
	print_message("re-run after a kill before the monitor's record: %lld ms\n",
		      (long long)(cli_mono_ms() - t0));
	assert_converged(t, 1, 1);
}

/* The test binary run as "zlmon" (see above): sleeps ZL_SLOW_ZLMON
 * seconds, then execs ZL_REAL_ZLMON with the same arguments. */
static int slow_zlmon(char **argv)
{
	const char *dir = getenv("ZL_SLOW_DIR"), *real = getenv("ZL_REAL_ZLMON");
	if (dir) {
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/in-zlmon-start", dir);
		int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (fd >= 0)
			close(fd);
	}
	const char *secs = getenv("ZL_SLOW_ZLMON");
	sleep(secs ? (unsigned)atoi(secs) : 0);
	if (real)
		execv(real, argv);
	return 127;
}

/* (b) Killed while the runtime's delete of a rolling recreate runs (the
 * wrapper sleeps 4 s first). That helper dies with zlapply: were it left
 * running, it would delete the replica the re-run creates under the same
 * id as soon as it woke. */
static void test_killed_inside_delete(void **state)
{
	struct k9 *t = *state;
	char spec[PATH_MAX];
	apply_ok(t, write_web_spec(t, "web.yaml", 1, 1, g.port, spec));
	assert_converged(t, 1, 1);

	write_web_spec(t, "web.yaml", 1, 2, g.port, spec);
	marker_set(t, "delay-delete-zlapply", "4");
	struct cli_proc p;
	zl_spawn(t, (const char *const[]){ "apply", "-q", "-f", spec, NULL }, &p);
	wait_marker(t, "in-delete-zlapply", p.pid);
	int64_t killed = cli_mono_ms();
	kill(p.pid, SIGKILL);
	assert_int_equal(cli_wait(&p, NULL, NULL), 128 + SIGKILL);
	marker_clear(t, "delay-delete-zlapply");

	apply_ok(t, spec);
	int64_t done = cli_mono_ms() - killed;
	if (done > 3500)
		fail_msg("the re-run took %lld ms after the kill: too slow to show the bug",
			 (long long)done);
	cJSON *doc = cli_status_json(t->tmp.root, NULL);
	cJSON *r = cli_json_replica(doc, t->dep, "web", 1);
	assert_non_null(r);
	long long pid = (long long)cJSON_GetObjectItemCaseSensitive(r, "pid")->valuedouble;
	cJSON_Delete(doc);
	/* Past the moment the killed run's delete would have run. */
	cli_sleep_ms(killed + 5500 - cli_mono_ms());
	if (!oci_test_pid_alive(pid))
		fail_msg("web-rep-1 (pid %lld), created by the re-run, was killed", pid);
	assert_converged(t, 1, 2);
}

static pid_t dead_pid(void)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	return pid;
}

/* Waits until p blocks opening a FIFO, kills it there. */
static void kill_when_blocked(struct cli_proc *p, const char *fifo)
{
	char wchan_path[64];
	snprintf(wchan_path, sizeof(wchan_path), "/proc/%d/wchan", (int)p->pid);
	int64_t deadline = cli_mono_ms() + WAIT_MS;
	for (;;) {
		char *w = cli_read_file(wchan_path);
		bool blocked = w && (strstr(w, "wait_for_partner") || strstr(w, "fifo"));
		free(w);
		if (blocked)
			break;
		if (cli_mono_ms() > deadline || exited(p->pid))
			fail_msg("the apply never blocked opening %s", fifo);
		cli_sleep_ms(5);
	}
	kill(p->pid, SIGKILL);
	assert_int_equal(cli_wait(p, NULL, NULL), 128 + SIGKILL);
	if (access(fifo, F_OK) != 0)
		fail_msg("%s is not there after the kill", fifo);
}

/* Spawns an apply of spec with a FIFO at the temporary file its write of
 * <root>/ports/<dep>/web.json will use: the apply blocks opening it, inside
 * zl_write_file_atomic(), and is killed there. Returns its pid. */
static pid_t kill_inside_write(const struct k9 *t, const char *spec)
{
	char dir[PATH_MAX], fifo[PATH_MAX];
	cli_pathf(dir, "%s/ports/%s", t->tmp.root, t->dep);
	struct cli_proc p;
	zl_spawn(t, (const char *const[]){ "apply", "-q", "-f", spec, NULL }, &p);
	cli_pathf(fifo, "%s/web.json.tmp.%d", dir, (int)p.pid);
	if (mkfifo(fifo, 0600) < 0)
		fail_msg("mkfifo %s: %s", fifo, strerror(errno));
	kill_when_blocked(&p, fifo);
	return p.pid;
}

/* (c) Killed inside an atomic write: its temporary file stays. The next
 * write into that directory, or the next run of the deployment (an apply
 * or a delete), removes it, and `delete` leaves no directory behind. A
 * file of that form whose writer lives is left alone. */
static void test_killed_inside_write(void **state)
{
	struct k9 *t = *state;
	char spec[PATH_MAX], dir[PATH_MAX], fifo[PATH_MAX], live[PATH_MAX];
	apply_ok(t, write_web_spec(t, "web.yaml", 1, 1, g.port, spec));
	cli_pathf(dir, "%s/ports/%s", t->tmp.root, t->dep);

	/* A port change rewrites web.json: killed in there. */
	write_web_spec(t, "web.yaml", 1, 1, g.port + 1, spec);
	pid_t killed = kill_inside_write(t, spec);
	cli_pathf(fifo, "%s/web.json.tmp.%d", dir, (int)killed);
	cli_pathf(live, "%s/web.rules.tmp.%d", dir, (int)getpid());
	cli_write_file(live, "a writer at work\n");
	char stale[PATH_MAX];
	cli_pathf(stale, "%s/web.rules.tmp.%d", dir, (int)dead_pid());
	cli_write_file(stale, "half written\n");
	apply_ok(t, spec);
	if (access(fifo, F_OK) == 0 || access(stale, F_OK) == 0)
		fail_msg("the apply after the kill left the temporary files in %s", dir);
	if (access(live, F_OK) != 0)
		fail_msg("%s, of a live process, was removed", live);
	unlink(live);
	assert_converged(t, 1, 1);

	/* Killed again (back to the first port), then deleted at once. */
	write_web_spec(t, "web.yaml", 1, 1, g.port, spec);
	kill_inside_write(t, spec);
	char *out = NULL, *err = NULL;
	int code = ZL(t, &out, &err, "delete", "-q", "-d", t->dep);
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	if (access(dir, F_OK) == 0)
		fail_msg("delete left %s behind", dir);
	assert_converged(t, 0, 0);

	/* Killed writing a replica's own record ("started", once its monitor
	 * reported: the runtime's start is delayed 1 s to put the FIFO there
	 * first). The re-run adopts the replica, and writes that record the
	 * killed run could not, which takes the temporary file along. */
	write_web_spec(t, "web.yaml", 1, 1, g.port, spec);
	marker_set(t, "delay-start-zlmon", "1");
	struct cli_proc p;
	zl_spawn(t, (const char *const[]){ "apply", "-q", "-f", spec, NULL }, &p);
	wait_marker(t, "in-start-zlmon", p.pid);
	marker_clear(t, "delay-start-zlmon");
	char id[128];
	replica_id(t, 1, id);
	cli_pathf(fifo, "%s/containers/%s/started.tmp.%d", t->tmp.root, id, (int)p.pid);
	if (mkfifo(fifo, 0600) < 0)
		fail_msg("mkfifo %s: %s", fifo, strerror(errno));
	kill_when_blocked(&p, fifo);
	code = ZL(t, &out, &err, "apply", "-f", spec);
	assert_exit(code, 0, out, err);
	if (!strstr(err, "replica was running, adopted"))
		fail_msg("the re-run did not adopt web-rep-1:\n%s%s", out, err);
	free(out);
	free(err);
	assert_converged(t, 1, 1);
}

/* (d) Killed during a scale-down's stop grace period. The replica's
 * stop_signal is SIGUSR1 (it records each signal it gets in a file the
 * test reads) and its grace period 3 s: recovery sends SIGUSR1 again (not
 * SIGTERM) and waits 3 s (not 10) before SIGKILL. */
static void test_killed_during_stop(void **state)
{
	struct k9 *t = *state;
	char out_dir[PATH_MAX], spec[PATH_MAX], signals[PATH_MAX];
	cli_path(&t->tmp, "out", out_dir);
	assert_int_equal(mkdir(out_dir, 0777), 0);
	for (int replicas = 2; replicas >= 1; replicas--) {
		char *text = NULL;
		if (asprintf(&text,
			 "version: v1\n"
			 "deployment: %s\n"
			 "services:\n"
			 "  web:\n"
			 "    image: {name: \"oci:%s:1.0\", pull_policy: if_not_present}\n"
			 "    command: {args: [\"/bin/sh\", \"-c\", \"trap 'echo usr1 >> /out/$HOSTNAME' USR1; "
			 "trap 'echo term >> /out/$HOSTNAME' TERM; echo up; while true; do sleep 0.1; done\"]}\n"
			 "    env: {V: \"1\"}\n"
			 "    stop_signal: SIGUSR1\n"
			 "    stop_grace_period: 3s\n"
			 "    storage: [{type: bind, source: \"%s\", target: /out}]\n"
			 "    endpoints:\n"
			 "      - {name: http, protocol: http, port: %d, target_port: 8080, expose: internal}\n"
			 "    scale: {mode: fixed, replicas: %d}\n",
			 t->dep, g.image, out_dir, g.port, replicas) < 0)
			abort();
		cli_write_file(spec_path(t, "stop.yaml", spec), text);
		free(text);
		if (replicas == 2)
			apply_ok(t, spec);
	}
	/* Scale to 1: web-rep-2 gets SIGUSR1; killed while it waits. */
	cli_pathf(signals, "%s/web-rep-2", out_dir);
	struct cli_proc p;
	zl_spawn(t, (const char *const[]){ "apply", "-q", "-f", spec, NULL }, &p);
	int64_t deadline = cli_mono_ms() + WAIT_MS;
	for (;;) {
		char *s = cli_read_file(signals);
		bool got = s && strstr(s, "usr1");
		free(s);
		if (got)
			break;
		if (cli_mono_ms() > deadline)
			fail_msg("web-rep-2 never got its stop signal");
		cli_sleep_ms(10);
	}
	kill(p.pid, SIGKILL);
	assert_int_equal(cli_wait(&p, NULL, NULL), 128 + SIGKILL);

	int64_t t0 = cli_mono_ms();
	char *out = NULL, *err = NULL;
	int code = ZL(t, &out, &err, "apply", "-q", "-f", spec);
	int64_t took = cli_mono_ms() - t0;
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	char *s = cli_read_file(signals);
	if (!s || strcmp(s, "usr1\nusr1\n") != 0)
		fail_msg("web-rep-2 got these signals (want its SIGUSR1 twice, no SIGTERM):\n%s",
			 s ? s : "(none)");
	free(s);
	print_message("recovery finished the stop in %lld ms (grace period 3 s)\n", (long long)took);
	if (took < 2500 || took > 8000)
		fail_msg("recovery took %lld ms to finish a stop with a 3 s grace period",
			 (long long)took);
	char *note = cli_db_text(t->tmp.root,
				 "SELECT message FROM events WHERE deployment = ?1 AND kind = 'recovered' "
				 "ORDER BY id DESC LIMIT 1",
				 t->dep);
	if (!note || !strstr(note, "remove interrupted; completed at recovery"))
		fail_msg("no recovery event for the interrupted remove: %s", note ? note : "(none)");
	free(note);
	assert_converged(t, 1, 1);
}

/* A lock held past --lock-timeout exits 4 (apply, delete, doctor), naming
 * the holder; free again, the same commands work. */
static void test_busy_lock_exit_code(void **state)
{
	struct k9 *t = *state;
	char spec[PATH_MAX], lock_path[PATH_MAX], pid_text[32];
	write_web_spec(t, "web.yaml", 1, 1, g.port, spec);
	assert_int_equal(mkdir(t->tmp.root, 0700), 0);
	int fd = open(cli_pathf(lock_path, "%s/lock", t->tmp.root), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	snprintf(pid_text, sizeof(pid_text), "%d\n", (int)getpid());
	assert_int_equal(write(fd, pid_text, strlen(pid_text)), (ssize_t)strlen(pid_text));
	static const char *const verbs[][6] = {
		{ "apply", "-f", "SPEC", "--lock-timeout", "300ms", NULL },
		{ "delete", "-d", "DEP", "--lock-timeout", "0s", NULL },
		{ "doctor", "--lock-timeout", "100ms", NULL },
	};
	pid_text[strcspn(pid_text, "\n")] = '\0';
	char holder[64], *wrong = NULL;
	snprintf(holder, sizeof(holder), "(pid %s) holds", pid_text);
	for (size_t i = 0; i < 3 && !wrong; i++) {
		const char *args[8];
		size_t n = 0;
		for (size_t k = 0; verbs[i][k]; k++)
			args[n++] = strcmp(verbs[i][k], "SPEC") == 0  ? spec
				    : strcmp(verbs[i][k], "DEP") == 0 ? t->dep
								      : verbs[i][k];
		args[n] = NULL;
		char *out = NULL, *err = NULL;
		int code = zl_exec(t, args, &out, &err);
		if ((code != 4 || !strstr(err, holder)) &&
		    asprintf(&wrong, "%s: exit %d (want 4, naming %s):\n%s%s", verbs[i][0], code,
			     holder, out, err) < 0)
			abort();
		free(out);
		free(err);
	}
	close(fd); /* before any failure: teardown needs the lock */
	if (wrong)
		fail_msg("%s", wrong);
	apply_ok(t, spec);
	assert_converged(t, 1, 1);
}

/* ---- 2. the sweep ---- */

struct op {
	const char *name;
	int replicas;   /* after it; 0 with del */
	bool del;
	bool new_env;   /* a rolling recreate: V changes */
	bool new_root;  /* the first run of a state root (removed before) */
};

static const struct op cycle[] = {
	{ "cold apply, new root", 3, false, false, true },
	{ "rolling recreate", 3, false, true, false },
	{ "scale down", 1, false, false, false },
	{ "scale up", 3, false, false, false },
	{ "delete", 0, true, false, false },
	{ "cold apply", 3, false, false, false },
	{ "delete", 0, true, false, false },
};

/* Before an op that starts a new root: the old one goes (its deployment
 * is deleted and checked by then, so nothing of the host refers to it). */
static void op_prepare(const struct k9 *t, const struct op *o)
{
	if (o->new_root)
		cli_rm_rf(t->tmp.root);
}
#define CYCLE (sizeof(cycle) / sizeof(cycle[0]))

static void op_spawn(const struct k9 *t, const struct op *o, int v, struct cli_proc *p)
{
	char spec[PATH_MAX];
	if (o->del) {
		zl_spawn(t, (const char *const[]){ "delete", "-q", "-d", t->dep, NULL }, p);
		return;
	}
	write_web_spec(t, "k9.yaml", o->replicas, v, g.port, spec);
	zl_spawn(t, (const char *const[]){ "apply", "-q", "-f", spec, NULL }, p);
}

/* Runs o to its end; its exit code, its output in *why when it fails. */
static int op_run(const struct k9 *t, const struct op *o, int v, int64_t *took_us, char **why)
{
	struct cli_proc p;
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	op_spawn(t, o, v, &p);
	char *out = NULL, *err = NULL;
	int code = wait_within(&p, 120000, &out, &err);
	clock_gettime(CLOCK_MONOTONIC, &b);
	if (took_us)
		*took_us = (int64_t)(b.tv_sec - a.tv_sec) * 1000000 + (b.tv_nsec - a.tv_nsec) / 1000;
	if (code != 0 && why && asprintf(why, "%s: exit %d\n%s%s", o->name, code, out, err) < 0)
		*why = NULL;
	free(out);
	free(err);
	return code;
}

static int env_int(const char *name, int dflt)
{
	const char *v = getenv(name);
	return v && *v ? atoi(v) : dflt;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static void test_kill9_sweep(void **state)
{
	struct k9 *t = *state;
	int points = env_int("ZL_KILL9_POINTS", 25);
	bool keep_going = env_int("ZL_KILL9_KEEP_GOING", 0) != 0;
	int v = 1;

	/* Clean cycles: each op's duration (the shortest of three, after one
	 * that warms the image store and the page cache up), over which its
	 * kill points are spread, and a check that the cycle converges. */
	int64_t dur_us[CYCLE];
	for (int c = 0; c < 4; c++) {
		for (size_t o = 0; o < CYCLE; o++) {
			v += cycle[o].new_env;
			char *why = NULL;
			int64_t us = 0;
			op_prepare(t, &cycle[o]);
			if (op_run(t, &cycle[o], v, &us, &why) != 0)
				fail_msg("%s", why);
			if (c == 0)
				assert_converged(t, cycle[o].replicas, v);
			if (c == 1 || (c > 1 && us < dur_us[o]))
				dur_us[o] = us;
		}
	}
	for (size_t o = 0; o < CYCLE; o++)
		print_message("k9 calibration: %s takes %.1f ms\n", cycle[o].name, dur_us[o] / 1000.0);

	int rounds = (points + (int)CYCLE - 1) / (int)CYCLE;
	int failures = 0, killed_mid = 0, finished_first = 0;
	int64_t *rerun_ms = calloc((size_t)points + 1, sizeof(*rerun_ms));
	int64_t start = cli_mono_ms();
	char *first_failure = NULL;
	for (int k = 0; k < points; k++) {
		size_t o = (size_t)k % CYCLE;
		int j = k / (int)CYCLE;
		/* From 0 to 115% of the op's duration: the last writes too. */
		int64_t at_us = rounds == 1 ? dur_us[o] / 2 : (int64_t)(1.15 * dur_us[o] * j / (rounds - 1));
		v += cycle[o].new_env;
		op_prepare(t, &cycle[o]);
		struct cli_proc p;
		op_spawn(t, &cycle[o], v, &p);
		struct timespec ts = { at_us / 1000000, (at_us % 1000000) * 1000 };
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		kill(p.pid, SIGKILL);
		int code = cli_wait(&p, NULL, NULL);
		bool mid = code == 128 + SIGKILL;
		killed_mid += mid;
		finished_first += !mid;

		int64_t t0 = cli_mono_ms();
		char *why = NULL;
		int rc = op_run(t, &cycle[o], v, NULL, &why);
		rerun_ms[k] = cli_mono_ms() - t0;
		char *p_text = rc == 0 ? problems(t, cycle[o].replicas, v) : why;
		if (rc == 0)
			free(why);
		print_message("k9 point %d/%d: %s killed at %.1f ms (%s), re-run %lld ms: %s\n", k + 1,
			      points, cycle[o].name, at_us / 1000.0,
			      mid ? "killed" : code == 0 ? "had finished" : "had failed",
			      (long long)rerun_ms[k], p_text ? "FAILED" : "ok");
		if (!p_text)
			continue;
		failures++;
		char *msg = NULL, *dump = cli_db_dump(t->tmp.root, t->dep);
		if (asprintf(&msg, "point %d: %s killed at %.1f ms (exit %d): %s-- the deployment's rows:\n%s",
			     k + 1, cycle[o].name, at_us / 1000.0, code, p_text, dump) < 0)
			abort();
		free(dump);
		free(p_text);
		fprintf(stderr, "k9 FAILURE %s\n", msg);
		if (!keep_going) {
			free(rerun_ms);
			fail_msg("%s", msg);
		}
		if (!first_failure)
			first_failure = msg;
		else
			free(msg);
		/* Repair, and bring the host to where the next op starts. */
		clean_up(t, false);
		for (size_t r = 0; r <= o && o + 1 < CYCLE; r++) {
			op_prepare(t, &cycle[r]);
			if (op_run(t, &cycle[r], v, NULL, NULL) != 0)
				break;
		}
	}
	qsort(rerun_ms, (size_t)points, sizeof(*rerun_ms), cmp_i64);
	print_message("kill9: %d points (%d killed mid-run, %d had finished), %d failures, "
		      "re-run median %lld ms, max %lld ms, %lld s in all\n",
		      points, killed_mid, finished_first, failures,
		      (long long)(points ? rerun_ms[points / 2] : 0),
		      (long long)(points ? rerun_ms[points - 1] : 0),
		      (long long)((cli_mono_ms() - start) / 1000));
	free(rerun_ms);
	if (failures)
		fail_msg("%d of %d kill points failed; the first: %s", failures, points, first_failure);
}

/* ---- 3. concurrent applies ---- */

/* Starts applies of `counts` replicas at once (each its own spec file,
 * --lock-timeout lock_timeout); checks each exits 0 or 4 (busy, naming the
 * lock) and returns the replica count of the last one that succeeded. */
static int concurrent(const struct k9 *t, const int *counts, size_t n, const char *lock_timeout,
		      int v, int *busy)
{
	struct cli_proc p[8];
	bool done[8] = { false };
	int last = -1, finished = 0;
	*busy = 0;
	for (size_t i = 0; i < n; i++) {
		char name[32], spec[PATH_MAX];
		snprintf(name, sizeof(name), "c%zu.yaml", i);
		write_web_spec(t, name, counts[i], v, g.port, spec);
	}
	for (size_t i = 0; i < n; i++) {
		char name[32], spec[PATH_MAX];
		snprintf(name, sizeof(name), "c%zu.yaml", i);
		zl_spawn(t,
			 (const char *const[]){ "apply", "-q", "-f", spec_path(t, name, spec),
						"--lock-timeout", lock_timeout, NULL },
			 &p[i]);
	}
	int64_t deadline = cli_mono_ms() + 120000;
	while (finished < (int)n) {
		for (size_t i = 0; i < n; i++) {
			if (done[i] || !exited(p[i].pid))
				continue;
			char *out = NULL, *err = NULL;
			int code = cli_wait(&p[i], &out, &err);
			done[i] = true;
			finished++;
			if (code == 0)
				last = counts[i];
			else if (code == 4 && strstr(err, "holds") && strstr(err, "--lock-timeout"))
				(*busy)++;
			else
				fail_msg("concurrent apply of %d replicas: exit %d\n%s%s", counts[i], code,
					 out, err);
			free(out);
			free(err);
		}
		if (cli_mono_ms() > deadline)
			fail_msg("concurrent applies still running after 120 s");
		cli_sleep_ms(2);
	}
	if (last < 0)
		fail_msg("none of the concurrent applies succeeded");
	return last;
}

static void test_concurrent_applies(void **state)
{
	struct k9 *t = *state;
	int busy = 0;
	/* Long lock timeouts: every one applies, one after the other. */
	static const int up[] = { 1, 2, 3, 4, 5 };
	int last = concurrent(t, up, 5, "60s", 1, &busy);
	assert_int_equal(busy, 0);
	print_message("5 concurrent applies, all done; the last one applied %d replicas\n", last);
	assert_converged(t, last, 1);
	/* Short ones: the first to take the lock applies, the others give up
	 * with exit 4, and the end state is the one that applied. */
	static const int down[] = { 5, 4, 3, 2, 1 };
	last = concurrent(t, down, 5, "50ms", 2, &busy);
	print_message("5 concurrent applies with --lock-timeout 50ms: %d busy (exit 4); the last "
		      "that succeeded applied %d replicas\n",
		      busy, last);
	assert_converged(t, last, 2);
}

int main(int argc, char **argv)
{
	(void)argc;
	const char *base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	if (strcmp(base, "zlmon") == 0)
		return slow_zlmon(argv);
	if (geteuid() != 0 || !oci_test_have("runc") || !oci_test_have("umoci") ||
	    !oci_test_have("iptables") || access("/bin/busybox", X_OK) < 0) {
		fprintf(stderr, "test_kill9: needs root, runc, umoci, iptables and /bin/busybox; skipped\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_killed_inside_create, setup, teardown),
		cmocka_unit_test_setup_teardown(test_killed_before_monitor_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_killed_inside_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_killed_inside_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_killed_during_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy_lock_exit_code, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill9_sweep, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_applies, setup, teardown),
	};
	/* ZL_KILL9_TESTS=PATTERN runs only the matching tests (bench/kill9.sh). */
	const char *only = getenv("ZL_KILL9_TESTS");
	if (only && *only)
		cmocka_set_test_filter(only);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
