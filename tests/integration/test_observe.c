/* test_observe.c: `zlapply events`, `stats` and `inspect` end to end with
 * the real zlapply binary, real runc containers from the offline busybox
 * image (scripts/build-example-image) and real cgroups.
 *
 * Replicas live on a bridge and subnet of this program's own (zlo<pid%100>,
 * 10.219.<pid%250>.0/24); traffic goes only from the host to a replica's
 * address inside the namespace zlapply made for it. Every test deletes its
 * deployment and checks nothing of it is left. Skipped without root, runc
 * or crun, or umoci. */
#include "replica-helpers.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define WAIT_MS 20000

static struct {
	bool usable;
	char skip_why[256];
	char dir[PATH_MAX];   /* /tmp/zlobs-g-XXXXXX */
	char image[PATH_MAX]; /* dir/img: the example busybox image */
	char bridge[16];      /* zlo<pid%100> */
	char subnet[32];      /* 10.219.<pid%250>.0/24 */
	char ip_forward[16];
	int seq;
} g;

/* Text with @IMG@ replaced; caller frees. */
static char *expand(const struct rh_test *t, const char *text)
{
	(void)t;
	const struct rh_subst subst[] = { { "@IMG@", g.image } };
	return rh_expand(text, subst, sizeof(subst) / sizeof(subst[0]));
}

static char *apply_spec(const struct rh_test *t, const char *services)
{
	char *out = rh_apply(t, "spec.yaml", services, 0, NULL, NULL, false);
	return out;
}

/* The text of path once it holds needle (and also, when not NULL), within
 * WAIT_MS; fails with what it holds otherwise. Caller frees. */
static char *wait_text(const char *path, const char *needle, const char *also)
{
	int64_t deadline = cli_mono_ms() + WAIT_MS;
	for (;;) {
		char *text = cli_read_file(path);
		if (text && strstr(text, needle) && (!also || strstr(text, also)))
			return text;
		if (cli_mono_ms() > deadline)
			FAIL("expected %s%s%s in %s within %d ms; it holds:\n%s", needle, also ? " and " : "",
			     also ? also : "", path, WAIT_MS, text ? text : "");
		free(text);
		cli_sleep_ms(50);
	}
}

/* Waits until pid holds a state database open. */
static void wait_db_open(pid_t pid)
{
	int64_t deadline = cli_mono_ms() + WAIT_MS;
	char dir[64];
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	while (cli_mono_ms() < deadline) {
		DIR *d = opendir(dir);
		struct dirent *de;
		bool open_now = false;
		while (d && (de = readdir(d)) && !open_now) {
			char link[PATH_MAX + 64], target[PATH_MAX] = "";
			snprintf(link, sizeof(link), "%s/%s", dir, de->d_name);
			ssize_t n = readlink(link, target, sizeof(target) - 1);
			open_now = n > 0 && strstr(target, "/state.db");
		}
		if (d)
			closedir(d);
		if (open_now)
			return;
		cli_sleep_ms(20);
	}
	FAIL("pid %d did not open its state database within %d ms", (int)pid, WAIT_MS);
}

/* ---- events ---- */

/* `events -d DEP -o json` as a document (an array); fails on a bad exit. */
static cJSON *events_doc(const struct rh_test *t)
{
	char *out = NULL, *err = NULL;
	int code = ZL(t, &out, &err, "events", "-d", t->dep, "-o", "json");
	cJSON *doc = code == 0 ? cJSON_Parse(out) : NULL;
	if (!doc || !cJSON_IsArray(doc))
		FAIL("events -o json: exit %d, not a JSON array\n--- stdout:\n%s--- stderr:\n%s", code,
		     out, err);
	free(out);
	free(err);
	return doc;
}

/* "kind kind ..." of the events of svc-rep-1 in doc, in order. */
static char *kinds_of(cJSON *doc, const char *replica)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	cJSON *e;
	cJSON_ArrayForEach(e, doc)
	{
		const char *rep = cli_json_str(e, "replica");
		if (rep && strcmp(rep, replica) == 0)
			fprintf(f, "%s%s", len || ftell(f) ? " " : "", cli_json_str(e, "kind"));
	}
	fclose(f);
	return buf;
}

/* The n-th (0-based) event of kind for replica in doc, or NULL. */
static cJSON *nth_event(cJSON *doc, const char *replica, const char *kind, int n)
{
	cJSON *e;
	cJSON_ArrayForEach(e, doc)
	{
		const char *rep = cli_json_str(e, "replica"), *k = cli_json_str(e, "kind");
		if (rep && k && !strcmp(rep, replica) && !strcmp(k, kind) && n-- == 0)
			return e;
	}
	return NULL;
}

static double data_num(cJSON *event, const char *key)
{
	cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(event, "data"), key);
	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static const char crash_spec[] =
	"  crash:\n"
	"    image: {name: \"oci:@IMG@:1.0\"}\n"
	"    network_mode: none\n"
	"    command: {args: [\"/bin/sh\", \"-c\", \"echo up; sleep 0.2; exit 3\"]}\n"
	"    restart_policy: {kind: always, delay: 1s}\n";

/* A crash-looping replica: applied again after each exit, the events read
 * created, started, exited (code 3), restarted at once, exited with a
 * back-off of 1 s announced, and (after it) restarted saying it waited. */
static void test_events_of_a_crash_loop(void **state)
{
	struct rh_test *t = rh_begin(state, g.usable, g.skip_why);
	free(apply_spec(t, crash_spec));
	rh_wait_rep(t, "crash", 1, "exited", 0, WAIT_MS, 50);
	free(apply_spec(t, crash_spec)); /* records the exit, restarts at once */
	rh_wait_rep(t, "crash", 1, "exited", 1, WAIT_MS, 50);
	free(apply_spec(t, crash_spec)); /* records the exit; backs off 1 s */
	cli_sleep_ms(1100);
	free(apply_spec(t, crash_spec)); /* restarts after the back-off */

	cJSON *doc = events_doc(t);
	char *kinds = kinds_of(doc, "crash-rep-1");
	if (strncmp(kinds, "created started exited restarted exited restarted", 49) != 0)
		FAIL("expected created started exited restarted exited restarted; got: %s", kinds);
	free(kinds);
	cJSON *ex1 = nth_event(doc, "crash-rep-1", "exited", 0);
	cJSON *ex2 = nth_event(doc, "crash-rep-1", "exited", 1);
	cJSON *re1 = nth_event(doc, "crash-rep-1", "restarted", 0);
	cJSON *re2 = nth_event(doc, "crash-rep-1", "restarted", 1);
	assert_true(data_num(ex1, "exit_code") == 3 && data_num(ex1, "signal") == 0);
	assert_string_equal(cli_json_str(cJSON_GetObjectItem(ex1, "data"), "reason"), "exited");
	assert_string_equal(cli_json_str(ex1, "message"), "exited with code 3");
	assert_true(data_num(ex1, "backoff_ms") == 0);
	assert_true(data_num(re1, "restarts") == 1 && data_num(re1, "backoff_ms") == 0);
	assert_true(data_num(ex2, "exit_code") == 3 && data_num(ex2, "backoff_ms") == 1000);
	assert_contains(cli_json_str(ex2, "message"), "next start in 1s");
	assert_true(data_num(re2, "restarts") == 2 && data_num(re2, "backoff_ms") == 1000);
	assert_string_equal(cli_json_str(re2, "message"), "exited 3: restart 2 after 1s back-off");
	/* times in order, each an RFC 3339 time with milliseconds */
	double last = 0;
	cJSON *e;
	cJSON_ArrayForEach(e, doc)
	{
		double ms = cJSON_GetObjectItem(e, "time_ms")->valuedouble;
		assert_true(ms >= last);
		last = ms;
		assert_int_equal(strlen(cli_json_str(e, "time")), strlen("2026-12-05T10:00:00.000Z"));
	}
	cJSON_Delete(doc);

	/* text: one line per event, the replica and the kind on it */
	char *out = NULL, *err = NULL;
	assert_int_equal(ZL(t, &out, &err, "events", "-d", t->dep), 0);
	char *line = cli_find_line(out, (const char *const[]){ "crash-rep-1", "exited",
							      "exited with code 3", NULL });
	if (!line)
		FAIL("expected an exited line for crash-rep-1 in:\n%s", out);
	free(line);
	free(out);
	free(err);

	/* --since: an hour ago has them all, a time to come none */
	assert_int_equal(ZL(t, &out, &err, "events", "-d", t->dep, "--since", "1h"), 0);
	assert_contains(out, "restarted");
	free(out);
	free(err);
	assert_int_equal(ZL(t, &out, &err, "events", "-d", t->dep, "--since", "2999-01-01T00:00:00Z"), 0);
	assert_string_equal(out, "");
	free(out);
	free(err);
}

/* --since garbage: exit 2, the message names the value; nothing written. */
static void test_events_since_garbage(void **state)
{
	struct rh_test *t = rh_begin(state, g.usable, g.skip_why);
	char *out = NULL, *err = NULL;
	int code = ZL(t, &out, &err, "events", "--since", "yesterday-ish");
	if (code != 2 || !strstr(err, "--since") || !strstr(err, "\"yesterday-ish\"") || *out)
		FAIL("expected exit 2 naming --since and \"yesterday-ish\"; exit %d\n--- stdout:\n%s--- stderr:\n%s",
		     code, out, err);
	free(out);
	free(err);
}

/* `events -f` prints an event as it happens (one JSON object per line) and
 * exits 0 on SIGTERM; with --since, from that time on. */
static void test_events_follow(void **state)
{
	struct rh_test *t = rh_begin(state, g.usable, g.skip_why);
	static const char box[] =
		"  box:\n"
		"    image: {name: \"oci:@IMG@:1.0\"}\n"
		"    network_mode: none\n"
		"    command: {args: [\"/bin/sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 1 & wait; done\"]}\n"
		"    restart_policy: {kind: \"no\"}\n";
	free(apply_spec(t, box));
	rh_wait_rep(t, "box", 1, "running", 0, WAIT_MS, 50);

	/* from now on (to the millisecond): the follower prints what comes
	 * however late it starts, and nothing of before */
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	struct tm tm;
	gmtime_r(&now.tv_sec, &tm);
	char since[64], secs[32];
	strftime(secs, sizeof(secs), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(since, sizeof(since), "%s.%03ldZ", secs, now.tv_nsec / 1000000);
	struct cli_proc p;
	const struct oci_test_flags f = { .root = t->tmp.root };
	oci_test_spawn(OCI_FLAGS_AFTER_VERB, &f, NULL,
		       (const char *const[]){ "events", "-f", "-o", "json", "-d", t->dep, "--since",
					      since, NULL },
		       &p);
	/* and one without --since: it starts with what comes after it has
	 * read the table (it holds the database open by then) */
	struct cli_proc q;
	oci_test_spawn(OCI_FLAGS_AFTER_VERB, &f, NULL,
		       (const char *const[]){ "events", "-f", "-d", t->dep, NULL }, &q);
	wait_db_open(q.pid);
	cli_sleep_ms(300);
	char *out = NULL, *err = NULL;
	assert_int_equal(ZL(t, &out, &err, "kill", "box", "-d", t->dep, "--signal", "KILL"), 0);
	free(out);
	free(err);
	rh_wait_rep(t, "box", 1, "exited", 0, WAIT_MS, 50);
	free(apply_spec(t, box)); /* records the exit */

	/* the new line comes while the follower runs */
	free(wait_text(p.out_path, "\"kind\":\"exited\"", NULL));
	kill(p.pid, SIGTERM);
	int code = cli_wait(&p, &out, &err);
	if (code != 0 || !strstr(out, "\"kind\":\"exited\""))
		FAIL("expected events -f to print the exit and end 0 on SIGTERM; exit %d\n--- stdout:\n%s--- stderr:\n%s",
		     code, out, err);
	/* only what happened since: not the create of before */
	if (strstr(out, "\"kind\":\"created\""))
		FAIL("events -f --since printed earlier events:\n%s", out);
	/* one object per line, each complete */
	size_t lines = 0;
	for (char *save = NULL, *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		cJSON *o = cJSON_Parse(l);
		if (!o || !cJSON_IsObject(o))
			FAIL("not a JSON object per line: %s", l);
		assert_string_equal(cli_json_str(o, "deployment"), t->dep);
		cJSON_Delete(o);
		lines++;
	}
	assert_true(lines >= 1);
	free(out);
	free(err);

	/* text, from when it started: the exit, not the create */
	free(wait_text(q.out_path, "exited", NULL));
	kill(q.pid, SIGTERM);
	code = cli_wait(&q, &out, &err);
	char *exit_line = cli_find_line(out, (const char *const[]){ "box-rep-1", "exited", "SIGKILL", NULL });
	bool printed = exit_line != NULL;
	free(exit_line);
	if (code != 0 || !printed || strstr(out, "created"))
		FAIL("expected events -f to print only the exit of box-rep-1 and end 0; exit %d\n--- stdout:\n%s--- stderr:\n%s",
		     code, out, err);
	free(out);
	free(err);
}

/* ---- stats ---- */

/* `stats ARGS... --no-stream -o json` as an array; fails on a bad exit. */
static cJSON *stats_doc(const struct rh_test *t, const char *replica)
{
	char *out = NULL, *err = NULL;
	int code = ZL(t, &out, &err, "stats", replica, "-d", t->dep, "--no-stream", "-o", "json");
	cJSON *doc = code == 0 ? cJSON_Parse(out) : NULL;
	if (!doc || !cJSON_IsArray(doc) || cJSON_GetArraySize(doc) != 1)
		FAIL("stats %s --no-stream -o json: exit %d, not an array of one\n--- stdout:\n%s--- stderr:\n%s",
		     replica, code, out, err);
	free(out);
	free(err);
	return doc;
}

static double stat_num(const struct rh_test *t, const char *replica, const char *key)
{
	cJSON *doc = stats_doc(t, replica);
	cJSON *v = cJSON_GetObjectItem(cJSON_GetArrayItem(doc, 0), key);
	if (!cJSON_IsNumber(v)) {
		char *text = cJSON_Print(doc);
		FAIL("stats %s: expected a number for %s in:\n%s", replica, key, text);
	}
	double d = v->valuedouble;
	cJSON_Delete(doc);
	return d;
}

/* Runs a command in the replica (its cgroup and namespaces). */
static void exec_in(const struct rh_test *t, const char *replica, const char *script)
{
	char *out = NULL, *err = NULL;
	int code = ZL(t, &out, &err, "exec", replica, "-d", t->dep, "--", "/bin/sh", "-c", script);
	if (code != 0)
		FAIL("exec %s: exit %d\n--- stdout:\n%s--- stderr:\n%s", script, code, out, err);
	free(out);
	free(err);
}

/* Sends n bytes to ip:port over TCP (the replica's address, in the
 * namespace zlapply made for it); the replica's listener reads them. */
static void send_bytes(const char *ip, int port, size_t n)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	assert_int_equal(inet_pton(AF_INET, ip, &a.sin_addr), 1);
	int64_t deadline = cli_mono_ms() + WAIT_MS;
	while (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		if (cli_mono_ms() > deadline)
			FAIL("connect %s:%d: %s", ip, port, strerror(errno));
		close(fd);
		cli_sleep_ms(100);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(fd >= 0);
	}
	static char chunk[65536];
	memset(chunk, 'z', sizeof(chunk));
	for (size_t sent = 0; sent < n;) {
		size_t k = n - sent < sizeof(chunk) ? n - sent : sizeof(chunk);
		ssize_t w = write(fd, chunk, k);
		if (w <= 0)
			FAIL("send to %s:%d: %s", ip, port, strerror(errno));
		sent += (size_t)w;
	}
	close(fd);
}

/* GET /metrics of the watcher p, once its "watching" line says the port
 * and the first apply is done. Caller frees. */
static char *metrics_body(struct cli_proc *p)
{
	char *log = wait_text(p->err_path, "msg=\"watching\"", "metrics=127.0.0.1:");
	int port = atoi(strstr(log, "metrics=127.0.0.1:") + strlen("metrics=127.0.0.1:"));
	free(log);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		FAIL("connect 127.0.0.1:%d: %s", port, strerror(errno));
	static const char req[] = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
	assert_int_equal(write(fd, req, sizeof(req) - 1), (ssize_t)(sizeof(req) - 1));
	size_t cap = 1 << 17, len = 0;
	char *buf = calloc(1, cap);
	assert_non_null(buf);
	ssize_t r;
	while (len < cap - 1 && (r = read(fd, buf + len, cap - 1 - len)) > 0)
		len += (size_t)r;
	close(fd);
	return buf;
}

/* The value of name+labels in a metrics body; -1 when absent. */
static double metric(const char *body, const char *name, const char *labels)
{
	char series[640];
	snprintf(series, sizeof(series), "\n%s%s ", name, labels);
	const char *at = strstr(body, series);
	return at ? strtod(at + strlen(series), NULL) : -1;
}

static const char box_on_bridge[] =
	"  box:\n"
	"    image: {name: \"oci:@IMG@:1.0\"}\n"
	"    command: {args: [\"/bin/sh\", \"-c\", \"trap 'exit 0' TERM; while true; do nc -l -p 7000 > /dev/null; done & wait\"]}\n"
	"    resources: {memory: 256Mi}\n";

/* stats --no-stream -o json of one running replica: cpu rises under a busy
 * loop, memory under an allocation (with the limit the spec set), network
 * rx under traffic from the host, pids counted. */
static void test_stats_move_under_load(void **state)
{
	struct rh_test *t = rh_begin(state, g.usable, g.skip_why);
	free(apply_spec(t, box_on_bridge));
	struct rh_replica r = rh_wait_rep(t, "box", 1, "running", 0, WAIT_MS, 50);
	if (!r.ip[0])
		FAIL("box-rep-1 has no address: %s", r.r.json);

	double cpu_idle = stat_num(t, "box-rep-1", "cpu_percent");
	double mem_before = stat_num(t, "box-rep-1", "memory_bytes");
	double rx_before = stat_num(t, "box-rep-1", "net_rx_bytes");
	assert_true(stat_num(t, "box-rep-1", "memory_limit_bytes") == 256.0 * 1024 * 1024);
	assert_true(stat_num(t, "box-rep-1", "pids") >= 2);
	(void)stat_num(t, "box-rep-1", "blkio_read_bytes"); /* present, a number (fails otherwise) */

	/* a busy loop left running in the replica */
	exec_in(t, "box-rep-1", "while :; do :; done > /dev/null 2>&1 &");
	double cpu_busy = stat_num(t, "box-rep-1", "cpu_percent");
	/* a busy loop takes a whole CPU on an idle host; this one is shared
	 * (and sanitizer builds are slow), so only a clear rise is asked for */
	if (!(cpu_busy >= 15 && cpu_busy > 2 * cpu_idle + 10))
		FAIL("expected cpu %% to rise clearly with a busy loop: %.2f -> %.2f", cpu_idle,
		     cpu_busy);

	/* 64 MiB held in the replica's /dev/shm (tmpfs: charged to its memory) */
	exec_in(t, "box-rep-1", "/bin/busybox dd if=/dev/zero of=/dev/shm/fill bs=1048576 count=64 2>/dev/null");
	double mem_after = stat_num(t, "box-rep-1", "memory_bytes");
	if (mem_after < mem_before + 60.0 * 1024 * 1024)
		FAIL("expected memory to grow by 64 MiB: %.0f -> %.0f", mem_before, mem_after);
	assert_true(stat_num(t, "box-rep-1", "memory_percent") > 20);

	/* 2 MB from the host to the replica's address */
	send_bytes(r.ip, 7000, 2 * 1000 * 1000);
	double rx_after = stat_num(t, "box-rep-1", "net_rx_bytes");
	if (rx_after < rx_before + 2e6)
		FAIL("expected net rx to grow by 2 MB: %.0f -> %.0f", rx_before, rx_after);
	assert_true(stat_num(t, "box-rep-1", "net_tx_bytes") > 0); /* its acks */

	/* the text table names it with its numbers */
	char *out = NULL, *err = NULL;
	int code = ZL(t, &out, &err, "stats", "--no-stream", "-d", t->dep);
	assert_int_equal(code, 0);
	char *line = cli_find_line(out, (const char *const[]){ "box-rep-1", "running", "%", "MiB / 256.0MiB", NULL });
	if (!line)
		FAIL("expected a table row for box-rep-1 with cpu %% and 256.0MiB limit:\n%s", out);
	free(line);
	free(out);
	free(err);

	/* the same numbers on `watch --metrics`, with replica labels */
	char spec[PATH_MAX], series[512];
	cli_path(&t->tmp, "spec.yaml", spec);
	struct oci_test_flags wf = rh_flags_for(t, "watch");
	struct cli_proc wp;
	oci_test_spawn(OCI_FLAGS_AFTER_VERB, &wf, NULL,
		       (const char *const[]){ "watch", "-f", spec, "--interval", "1h", "--metrics",
					      "127.0.0.1:0", NULL },
		       &wp);
	char *body = metrics_body(&wp);
	snprintf(series, sizeof(series), "{deployment=\"%s\",service=\"box\",replica=\"box-rep-1\"}",
		 t->dep);
	if (metric(body, "zlapply_replica_memory_bytes", series) < 60.0 * 1024 * 1024 ||
	    metric(body, "zlapply_replica_memory_limit_bytes", series) != 256.0 * 1024 * 1024 ||
	    metric(body, "zlapply_replica_cpu_seconds_total", series) <= 0 ||
	    metric(body, "zlapply_replica_network_receive_bytes_total", series) < 2e6 ||
	    metric(body, "zlapply_replica_pids", series) < 2 ||
	    metric(body, "zlapply_replica_blkio_read_bytes_total", series) < 0)
		FAIL("expected box-rep-1's usage on /metrics:\n%s", body);
	free(body);
	kill(wp.pid, SIGTERM);
	code = cli_wait(&wp, &out, &err);
	if (code != 0)
		FAIL("watch: exit %d on SIGTERM\n--- stderr:\n%s", code, err);
	free(out);
	free(err);

	/* streaming without a tty: plain samples until SIGTERM, exit 0 */
	struct cli_proc p;
	const struct oci_test_flags f = { .root = t->tmp.root };
	oci_test_spawn(OCI_FLAGS_AFTER_VERB, &f, NULL,
		       (const char *const[]){ "stats", "-o", "json", "-d", t->dep, NULL }, &p);
	free(wait_text(p.out_path, "}\n{", NULL)); /* a second line */
	kill(p.pid, SIGTERM);
	code = cli_wait(&p, &out, &err);
	if (code != 0 || cli_count_lines(out) < 2 || !strstr(out, "\"replica\":\"box-rep-1\""))
		FAIL("expected stats to stream a line per second until SIGTERM, exit 0; exit %d\n--- stdout:\n%s--- stderr:\n%s",
		     code, out, err);
	free(out);
	free(err);
}

/* stats of a replica that exited: exit 1, the message says so and how it
 * ended; an unknown replica: exit 1, named. */
static void test_stats_of_an_exited_replica(void **state)
{
	struct rh_test *t = rh_begin(state, g.usable, g.skip_why);
	free(apply_spec(t, "  once:\n"
			   "    image: {name: \"oci:@IMG@:1.0\"}\n"
			   "    network_mode: none\n"
			   "    command: {args: [\"/bin/sh\", \"-c\", \"exit 3\"]}\n"
			   "    restart_policy: {kind: \"no\"}\n"));
	rh_wait_rep(t, "once", 1, "exited", 0, WAIT_MS, 50);
	char *out = NULL, *err = NULL;
	int code = ZL(t, &out, &err, "stats", "once-rep-1", "-d", t->dep, "--no-stream");
	if (code != 1 || !strstr(err, "once-rep-1 is not running") || !strstr(err, "exited with code 3") ||
	    *out)
		FAIL("expected exit 1 saying once-rep-1 is not running, exited with code 3; exit %d\n--- stdout:\n%s--- stderr:\n%s",
		     code, out, err);
	free(out);
	free(err);
	code = ZL(t, &out, &err, "stats", "nosuch-rep-1", "-d", t->dep, "--no-stream");
	if (code != 1 || !strstr(err, "no replica nosuch-rep-1"))
		FAIL("expected exit 1 naming nosuch-rep-1; exit %d\n--- stderr:\n%s", code, err);
	free(out);
	free(err);
}

/* ---- inspect ---- */

static const char inspected_spec[] =
	"  web:\n"
	"    image: {name: \"oci:@IMG@:1.0\"}\n"
	"    command: {args: [\"/bin/sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 1 & wait; done\"]}\n"
	"    env: {GREETING: hello}\n"
	"    storage: [{type: bind, source: \"@DIR@\", target: /shared}]\n"
	"    resources: {memory: 128Mi}\n"
	"    health:\n"
	"      check: {type: command, command: \"true\"}\n"
	"      interval: 1s\n";

static const char *json_path_str(cJSON *doc, const char *a, const char *b)
{
	cJSON *o = cJSON_GetObjectItem(doc, a);
	return b ? cli_json_str(o, b) : cJSON_IsString(o) ? o->valuestring : NULL;
}

/* inspect -o json of a running replica: its row, the spec it runs (current,
 * its env as written, its bind mount), the runtime (runc, the process,
 * env names only, the mount, the memory limit), the network (ip, the MAC
 * that follows from it, the netns), health changes and, after a kill and
 * an apply, its last exit; the text form shows the same. */
static void test_inspect(void **state)
{
	struct rh_test *t = rh_begin(state, g.usable, g.skip_why);
	char *spec_text = t->expand(t, inspected_spec);
	char *with_dir = NULL;
	const struct rh_subst dir[] = { { "@DIR@", t->tmp.dir } };
	with_dir = rh_expand(spec_text, dir, 1);
	free(spec_text);
	free(apply_spec(t, with_dir));
	struct rh_replica r = rh_wait_rep(t, "web", 1, "running", 0, WAIT_MS, 50);
	/* the health check passes once; an apply records it */
	cli_sleep_ms(1500);
	free(apply_spec(t, with_dir));
	char *out = NULL, *err = NULL;
	assert_int_equal(ZL(t, &out, &err, "kill", "web-rep-1", "-d", t->dep, "--signal", "KILL"), 0);
	free(out);
	free(err);
	rh_wait_rep(t, "web", 1, "exited", 0, WAIT_MS, 50);
	free(apply_spec(t, with_dir)); /* records the exit, restarts it */
	r = rh_wait_rep(t, "web", 1, "running", 1, WAIT_MS, 50);

	int code = ZL(t, &out, &err, "inspect", "web-rep-1", "-d", t->dep, "-o", "json");
	cJSON *doc = code == 0 ? cJSON_Parse(out) : NULL;
	if (!doc)
		FAIL("inspect -o json: exit %d\n--- stdout:\n%s--- stderr:\n%s", code, out, err);
	char *pretty = out;
	free(err);
#define EXPECT(cond)                                                      \
	do {                                                              \
		if (!(cond))                                              \
			FAIL("inspect: expected %s in:\n%s", #cond, pretty); \
	} while (0)
	EXPECT(!strcmp(json_path_str(doc, "replica", NULL), "web-rep-1"));
	EXPECT(!strcmp(json_path_str(doc, "state", NULL), "running"));
	EXPECT(!strcmp(json_path_str(doc, "backend", NULL), "oci"));
	EXPECT(cJSON_GetObjectItem(doc, "pid")->valuedouble == (double)r.r.pid);
	EXPECT(cJSON_GetObjectItem(doc, "restarts")->valuedouble == 1);
	EXPECT(strlen(json_path_str(doc, "spec_hash", NULL)) == 64);
	EXPECT(cJSON_IsObject(cJSON_GetObjectItem(doc, "spec_sections")));
	/* the spec it runs */
	cJSON *spec = cJSON_GetObjectItem(doc, "spec");
	EXPECT(cJSON_IsTrue(cJSON_GetObjectItem(spec, "current")));
	EXPECT(strstr(json_path_str(doc, "spec", "source"), "spec.yaml"));
	cJSON *svc = cJSON_GetObjectItem(spec, "service");
	EXPECT(!strcmp(cli_json_str(cJSON_GetObjectItem(svc, "env"), "GREETING"), "hello"));
	/* how runc runs it */
	cJSON *rt = cJSON_GetObjectItem(doc, "runtime");
	EXPECT(strstr(cli_json_str(rt, "runtime"), "runc") || strstr(cli_json_str(rt, "runtime"), "crun"));
	cJSON *proc = cJSON_GetObjectItem(rt, "process");
	EXPECT(!strcmp(cJSON_GetArrayItem(cJSON_GetObjectItem(proc, "args"), 0)->valuestring, "/bin/sh"));
	char *names = cJSON_PrintUnformatted(cJSON_GetObjectItem(proc, "env_names"));
	EXPECT(strstr(names, "\"GREETING\"") && !strstr(pretty, "GREETING=hello"));
	free(names);
	EXPECT(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(rt, "resources"), "memory"),
				   "limit")->valuedouble == 128.0 * 1024 * 1024);
	bool bind = false;
	cJSON *m;
	cJSON_ArrayForEach(m, cJSON_GetObjectItem(doc, "mounts"))
		bind = bind || (!strcmp(cli_json_str(m, "destination"), "/shared") &&
				!strcmp(cli_json_str(m, "source"), t->tmp.dir));
	EXPECT(bind);
	/* network */
	cJSON *net = cJSON_GetObjectItem(doc, "network");
	EXPECT(!strcmp(cli_json_str(net, "ip"), r.ip));
	unsigned a, b, c, d;
	char mac[32];
	assert_int_equal(sscanf(r.ip, "%u.%u.%u.%u", &a, &b, &c, &d), 4);
	snprintf(mac, sizeof(mac), "02:42:%02x:%02x:%02x:%02x", a, b, c, d);
	EXPECT(!strcmp(cli_json_str(net, "mac"), mac));
	EXPECT(cli_json_str(net, "netns") && strstr(cli_json_str(net, "netns"), "/"));
	/* history */
	cJSON *health = cJSON_GetObjectItem(doc, "health_history");
	EXPECT(cJSON_GetArraySize(health) >= 1 &&
	       !strcmp(cli_json_str(cJSON_GetArrayItem(health, 0), "kind"), "healthy"));
	cJSON *exits = cJSON_GetObjectItem(doc, "exits");
	cJSON *last = cJSON_GetArrayItem(exits, cJSON_GetArraySize(exits) - 1);
	EXPECT(last && !strcmp(cli_json_str(cJSON_GetObjectItem(last, "data"), "signal_name"), "SIGKILL"));
	/* running again: the row's own exit is cleared; the exits keep it */
	EXPECT(cJSON_IsNull(cJSON_GetObjectItem(doc, "last_exit")));
#undef EXPECT
	cJSON_Delete(doc);
	free(pretty);

	/* text: the same facts as an outline */
	assert_int_equal(ZL(t, &out, &err, "inspect", "web-rep-1", "-d", t->dep), 0);
	assert_contains(out, "replica: web-rep-1\n");
	assert_contains(out, "state: running\n");
	assert_contains(out, "  mac: ");
	assert_contains(out, "GREETING: hello");
	free(out);
	free(err);
	/* a name that is no replica: exit 1; an ambiguous one: exit 2 */
	code = ZL(t, &out, &err, "inspect", "nosuch-rep-1", "-d", t->dep);
	if (code != 1 || !strstr(err, "no replica nosuch-rep-1"))
		FAIL("expected exit 1 naming nosuch-rep-1; exit %d: %s", code, err);
	free(out);
	free(err);
	free(with_dir);
}

/* ---- setup and teardown ---- */

static char *procs_of(const struct rh_test *t, pid_t **pids, size_t *npids)
{
	return rh_procs_of(t, NULL, 4096, INT_MAX, pids, npids);
}

/* Everything of the deployment still on the host, as text ("" when nothing). */
static char *leftovers(const struct rh_test *t)
{
	pid_t *pids;
	size_t npids;
	char *p = rh_procs_left(t, procs_of, 3000, &pids, &npids), *c = rh_cgroups_of(t);
	char *cl = rh_claims_of(t), *m = oci_test_mounts_under(t->tmp.root);
	char *ct = rh_root_entries(t, "containers");
	free(pids);
	char *all = NULL;
	if (*p || *c || *cl || *m || *ct) {
		if (asprintf(&all, "-- processes:\n%s-- cgroups:\n%s-- claims:\n%s-- mounts:\n%s-- containers:\n%s",
			     p, c, cl, m, ct) < 0)
			abort();
	} else {
		all = strdup("");
	}
	free(p);
	free(c);
	free(cl);
	free(m);
	free(ct);
	return all;
}

static int group_setup(void **state)
{
	(void)state;
	int pid = (int)getpid();
	snprintf(g.bridge, sizeof(g.bridge), "zlo%d", pid % 100);
	snprintf(g.subnet, sizeof(g.subnet), "10.219.%d.0/24", pid % 250);
	oci_test_ip_forward_save(g.ip_forward, sizeof(g.ip_forward));
	if (geteuid() != 0) {
		snprintf(g.skip_why, sizeof(g.skip_why), "needs root (cgroups, containers)");
		return 0;
	}
	if (!oci_test_have("crun") && !oci_test_have("runc")) {
		snprintf(g.skip_why, sizeof(g.skip_why), "no crun or runc");
		return 0;
	}
	if (!oci_test_have("umoci")) {
		snprintf(g.skip_why, sizeof(g.skip_why), "no umoci (the example image); run scripts/setup");
		return 0;
	}
	snprintf(g.dir, sizeof(g.dir), "/tmp/zlobs-g-XXXXXX");
	if (!mkdtemp(g.dir)) {
		fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
		return -1;
	}
	cli_pathf(g.image, "%s/img", g.dir);
	if (oci_test_build_example_image(g.image) < 0)
		return -1;
	g.usable = true;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	rh_group_cleanup(true, g.bridge, g.subnet, g.ip_forward, g.dir);
	return 0;
}

static int setup(void **state)
{
	return rh_setup(state, "/tmp/zlobs-XXXXXX", "zo", ++g.seq, g.bridge, g.subnet, expand);
}

static int teardown(void **state)
{
	static const struct rh_teardown_ops ops = { .leftovers = leftovers, .procs = procs_of };
	return rh_teardown(*state, g.usable, &ops);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_events_of_a_crash_loop),
		T(test_events_since_garbage),
		T(test_events_follow),
		T(test_stats_move_under_load),
		T(test_stats_of_an_exited_replica),
		T(test_inspect),
	};
#undef T
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
