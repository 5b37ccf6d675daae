/* test_real_images.c: real distribution images, as a user runs them. Debian
 * bookworm minbase + nginx-light and + postgresql-15 (built once and cached
 * by tests/infra/build-debian-images.sh under $ZLAPPLY_TEST_CACHE, from
 * Debian's package mirror only), pushed to a loopback registry
 * (tests/infra/registry.sh), run by the real zlapply binary with the oci
 * backend:
 *   - nginx: two replicas behind a published port answer 200; the workers
 *     run as www-data; su and setpriv to www-data work inside; the device
 *     nodes of the debootstrap layer are skipped with a warning, and none is
 *     created under layers/; pull prints no "-0.0".
 *   - a rolling update of nginx (http health check) under a client loop:
 *     no failed request.
 *   - postgres with no `user` (the image's User postgres), PGDATA on a new
 *     named volume: copy-up gives it postgres's owner and 0700; data
 *     survives a recreate; the image's StopSignal (SIGINT) makes postgres
 *     log a fast shutdown. With `nocopy: true` the volume stays empty and
 *     root's, so initdb fails.
 *   - bad input: an unknown user, a volume over a file of the image, a
 *     copy-up that runs out of disk (nothing half-copied left).
 *
 * Safety: the replicas sit on this run's bridge "zlr<pid%1000>" with the
 * subnet 10.214.<pid%200>.0/24 (outside zlapply's default 10.213.0.0/16);
 * traffic goes only to 127.0.0.1. Each test has its own state root and
 * deletes its deployment in its teardown, also after a failure; the group
 * teardown stops the registry, removes the bridge and the iptables rules
 * naming it, and restores ip_forward.
 *
 * Needs root and runc (exit 77, "skipped", otherwise). ZL_TEST_FILTER=glob
 * runs only some tests. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "oci-helpers.h"
#include "../infra/registry-fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>

#define WAIT_MS 60000
#define POST_ROLLOUT_MS 5000

static struct {
	char bridge[16];
	char subnet[NET_CIDR_STRLEN];
	char subnet_prefix[NET_CIDR_STRLEN]; /* "10.214.N." */
	struct net_subnet net;
	char ip_forward[8];
	char cache[PATH_MAX];    /* the image cache (build-debian-images.sh) */
	char regdir[PATH_MAX];   /* /tmp/zlreal-reg-XXXXXX */
	struct rf_registry reg;
	char nginx[256];         /* 127.0.0.1:PORT/real/nginx:1.0 */
	char postgres[256];      /* 127.0.0.1:PORT/real/postgres:15 */
	int pg_uid, pg_gid;      /* postgres in the image's /etc/passwd */
	int www_uid;             /* www-data */
	bool net_ready;
	int seq;
} g;

struct tcase {
	struct cli_tmp t;
	char dep[64];
	char tmpfs[PATH_MAX]; /* a tmpfs this test mounted (teardown unmounts it) */
	int64_t t0;
};

/* ---- running zlapply: --root ROOT --backend oci [--bridge --subnet] ---- */

static int run_zl(const struct tcase *c, bool net_flags, char **out, char **err,
		  const char *const *args)
{
	struct oci_test_flags f = { .root = c->t.root, .bridge = net_flags ? g.bridge : NULL,
				    .subnet = g.subnet };
	return oci_test_run(OCI_FLAGS_FIRST, &f, NULL, args, out, err);
}
#define ZL(c, out, err, ...) run_zl((c), true, (out), (err), (const char *const[]){ __VA_ARGS__, NULL })
#define ZLQ(c, out, err, ...) run_zl((c), false, (out), (err), (const char *const[]){ __VA_ARGS__, NULL })

static char *write_spec(struct tcase *c, const char *name, const char *services, char path[PATH_MAX])
{
	char *text = NULL;
	if (asprintf(&text, "version: v1\ndeployment: %s\nservices:\n%s", c->dep, services) < 0)
		abort();
	cli_write_file(cli_path(&c->t, name, path), text);
	free(text);
	return path;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	char *s = NULL;
	if (vasprintf(&s, f, ap) < 0)
		abort();
	va_end(ap);
	return s;
}

static char *nginx_service(int replicas, int host_port, const char *extra)
{
	return fmt("  web:\n"
		   "    image: { name: \"%s\" }\n"
		   "    endpoints:\n"
		   "      - { name: http, protocol: http, port: %d, target_port: 80, expose: internal }\n"
		   "    stop_grace_period: 10s\n"
		   "%s"
		   "    scale: { mode: fixed, replicas: %d }\n",
		   g.nginx, host_port, extra ? extra : "", replicas);
}

/* postgres: PGDATA on the named volume pgdata (with volume_extra inside its
 * mapping, e.g. ", nocopy: true"), a tcp health check, env ROUND. */
static char *postgres_service(const char *round, const char *volume_extra, const char *extra)
{
	return fmt("  db:\n"
		   "    image: { name: \"%s\" }\n"
		   "    env: { ROUND: \"%s\" }\n"
		   "    storage:\n"
		   "      - { type: named, name: pgdata, target: /var/lib/postgresql/data%s }\n"
		   "    health:\n"
		   "      check: { type: tcp, port: 5432 }\n"
		   "      start_grace: 2s\n"
		   "      interval: 1s\n"
		   "      timeout: 2s\n"
		   "      retries: 30\n"
		   "    stop_grace_period: 30s\n"
		   "%s"
		   "    scale: { mode: fixed, replicas: 1 }\n",
		   g.postgres, round, volume_extra ? volume_extra : "", extra ? extra : "");
}

/* ---- status ---- */

static cJSON *status_of(const struct tcase *c)
{
	return oci_test_status_json(OCI_FLAGS_FIRST, &(struct oci_test_flags){ .root = c->t.root },
				    c->dep);
}

static struct oci_test_replica get_rep(struct tcase *c, const char *service, int index)
{
	cJSON *doc = status_of(c);
	struct oci_test_replica r = oci_test_replica_of(doc, c->dep, service, index);
	cJSON_Delete(doc);
	return r;
}

static cJSON *status_of_case(const void *c)
{
	return status_of(c);
}

static struct oci_test_replica wait_running(struct tcase *c, const char *service, int index)
{
	return oci_test_wait_state(status_of_case, c, c->dep, service, index, "running", true,
				   WAIT_MS, 100);
}

/* "ip1 ip2 ..." of service's replicas 1..n (caller frees). */
static char *replica_ips(struct tcase *c, const char *service, int n)
{
	cJSON *doc = status_of(c);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	for (int i = 1; i <= n; i++) {
		cJSON *o = cli_json_replica(doc, c->dep, service, i);
		const char *ip = o ? cli_json_str(o, "ip") : NULL;
		fprintf(f, "%s%s", i > 1 ? " " : "", ip ? ip : "-");
	}
	fclose(f);
	cJSON_Delete(doc);
	return buf;
}

/* ---- processes ---- */

/* The real uid of pid, -1 when it is gone. */
static int proc_uid(long long pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%lld/status", pid);
	char *text = cli_read_file(path);
	if (!text)
		return -1;
	const char *u = strstr(text, "\nUid:");
	int uid = u ? atoi(u + 5) : -1;
	free(text);
	return uid;
}

static char *proc_cmdline(long long pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%lld/cmdline", pid);
	FILE *f = fopen(path, "re");
	char buf[512] = "";
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f)
		fclose(f);
	for (size_t i = 0; i < n; i++)
		if (!buf[i])
			buf[i] = ' ';
	buf[n] = '\0';
	return strdup(buf);
}

/* Children of pid (from /proc/PID/task/PID/children) into kids; count. */
static size_t proc_children(long long pid, long long *kids, size_t max)
{
	char path[96];
	snprintf(path, sizeof(path), "/proc/%lld/task/%lld/children", pid, pid);
	char *text = cli_read_file(path);
	size_t n = 0;
	for (char *p = text; p && *p && n < max;) {
		char *end;
		long long k = strtoll(p, &end, 10);
		if (end == p)
			break;
		kids[n++] = k;
		p = end;
	}
	free(text);
	return n;
}

/* ---- HTTP on 127.0.0.1 only ---- */

/* GET path from 127.0.0.1:port; the status code (body into *body when
 * asked), or -1 with why in reason. */
static int http_get(int port, const char *path, char **body, char reason[128])
{
	reason[0] = '\0';
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(reason, 128, "socket: %s", strerror(errno));
		return -1;
	}
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { 3, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(reason, 128, "connect: %s", strerror(errno));
		close(fd);
		return -1;
	}
	char req[256];
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n", path);
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
		snprintf(reason, 128, "write: %s", strerror(errno));
		close(fd);
		return -1;
	}
	size_t cap = 16384, len = 0;
	char *buf = malloc(cap);
	if (!buf)
		abort();
	ssize_t r;
	while ((r = read(fd, buf + len, cap - 1 - len)) > 0) {
		len += (size_t)r;
		if (len == cap - 1) {
			cap *= 2;
			buf = realloc(buf, cap);
			if (!buf)
				abort();
		}
	}
	if (r < 0)
		snprintf(reason, 128, "read: %s", strerror(errno));
	close(fd);
	buf[len] = '\0';
	int status = -1;
	if (sscanf(buf, "HTTP/%*d.%*d %d", &status) != 1) {
		if (!reason[0])
			snprintf(reason, 128, "no HTTP status in %zu bytes", len);
		status = -1;
	}
	if (body) {
		char *b = strstr(buf, "\r\n\r\n");
		*body = strdup(b ? b + 4 : "");
	}
	free(buf);
	return status;
}

/* A free TCP port on 127.0.0.1. */
static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) < 0)
		fail_msg("no free port: %s", strerror(errno));
	close(fd);
	return ntohs(sa.sin_port);
}

/* ---- the state root ---- */

/* Anything under dir that is not a directory, regular file, symlink or an
 * overlay whiteout (char 0:0): one line each into the memstream. */
static FILE *g_odd;
static int odd_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)flag;
	(void)ftw;
	if (S_ISDIR(st->st_mode) || S_ISREG(st->st_mode) || S_ISLNK(st->st_mode))
		return 0;
	if (S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0))
		return 0;
	fprintf(g_odd, "%s mode %o rdev %u:%u\n", path, (unsigned)st->st_mode,
		major(st->st_rdev), minor(st->st_rdev));
	return 0;
}

static char *odd_files(const char *dir)
{
	char *buf = NULL;
	size_t len = 0;
	g_odd = open_memstream(&buf, &len);
	nftw(dir, odd_one, 32, FTW_PHYS);
	fclose(g_odd);
	return buf;
}

static size_t count_entries(const char *dir)
{
	return rf_count_entries(dir, NULL);
}

/* ---- the client loop of the rolling update ---- */

struct client {
	int port;
	volatile int stop;
	pthread_mutex_t mu;
	long ok, failed;
	char first_failures[2048];
	size_t ff_len;
};

static void *client_loop(void *arg)
{
	struct client *cl = arg;
	int64_t t0 = cli_mono_ms();
	while (!__atomic_load_n(&cl->stop, __ATOMIC_SEQ_CST)) {
		char reason[128];
		int st = http_get(cl->port, "/", NULL, reason);
		pthread_mutex_lock(&cl->mu);
		if (st == 200) {
			cl->ok++;
		} else {
			cl->failed++;
			if (cl->ff_len < sizeof(cl->first_failures) - 160) {
				int n = snprintf(cl->first_failures + cl->ff_len,
						 sizeof(cl->first_failures) - cl->ff_len,
						 "  at +%lld ms: status %d %s\n",
						 (long long)(cli_mono_ms() - t0), st, reason);
				if (n > 0)
					cl->ff_len += (size_t)n;
			}
		}
		pthread_mutex_unlock(&cl->mu);
		cli_sleep_ms(10);
	}
	return NULL;
}

/* ---- fixtures ---- */

static int json_user_id(const cJSON *info, const char *user, const char *key)
{
	const cJSON *u = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(info, "users"), user);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(u, key);
	return cJSON_IsNumber(v) ? v->valueint : -1;
}

static int group_setup(void **state)
{
	(void)state;
	int pid = (int)getpid();
	snprintf(g.bridge, sizeof(g.bridge), "zlr%d", pid % 1000);
	snprintf(g.subnet, sizeof(g.subnet), "10.214.%d.0/24", pid % 200);
	snprintf(g.subnet_prefix, sizeof(g.subnet_prefix), "10.214.%d.", pid % 200);
	if (net_subnet_parse(g.subnet, &g.net, NULL) < 0)
		return -1;
	oci_test_ip_forward_save(g.ip_forward, sizeof(g.ip_forward));
	g.net_ready = true;

	/* The images: built once, cached across runs and builds. */
	const char *cache = getenv("ZLAPPLY_TEST_CACHE");
	if (cache && *cache)
		rf_fmt(g.cache, sizeof(g.cache), "%s", cache);
	else
		rf_fmt(g.cache, sizeof(g.cache), "%s/.test-cache", rf_source_root());
	char script[PATH_MAX];
	int64_t t0 = rf_mono_ms();
	if (rf_sh("%s %s >&2", rf_infra("build-debian-images.sh", script), g.cache) != 0) {
		fprintf(stderr, "build-debian-images.sh failed\n");
		return -1;
	}
	fprintf(stderr, "images ready in %lld ms (cache %s)\n", (long long)(rf_mono_ms() - t0),
		g.cache);
	cJSON *pg = rf_image_info(g.cache, "postgres"), *ng = rf_image_info(g.cache, "nginx");
	if (!pg || !ng) {
		cJSON_Delete(pg);
		cJSON_Delete(ng);
		return -1;
	}
	g.pg_uid = json_user_id(pg, "postgres", "uid");
	g.pg_gid = json_user_id(pg, "postgres", "gid");
	g.www_uid = json_user_id(ng, "www-data", "uid");
	cJSON_Delete(pg);
	cJSON_Delete(ng);
	if (g.pg_uid <= 0 || g.www_uid <= 0) {
		fprintf(stderr, "no postgres or www-data uid in the images' json\n");
		return -1;
	}

	/* The registry, and the two images in it. */
	rf_fmt(g.regdir, sizeof(g.regdir), "/tmp/zlreal-reg-XXXXXX");
	if (!mkdtemp(g.regdir))
		return -1;
	if (rf_registry_start(&g.reg, "plain", g.regdir) < 0) {
		fprintf(stderr, "registry.sh start failed\n");
		return -1;
	}
	t0 = rf_mono_ms();
	if (rf_sh("%s push %s oci:%s/nginx:1.0 real/nginx:1.0", rf_infra("registry.sh", script),
		  g.regdir, g.cache) != 0 ||
	    rf_sh("%s push %s oci:%s/postgres:15 real/postgres:15", script, g.regdir, g.cache) != 0)
		return -1;
	fprintf(stderr, "pushed both images in %lld ms\n", (long long)(rf_mono_ms() - t0));
	rf_ref(g.nginx, g.reg.port, "real/nginx:1.0");
	rf_ref(g.postgres, g.reg.port, "real/postgres:15");
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	rf_registry_stop(&g.reg);
	if (g.regdir[0] && !getenv("ZL_KEEP_TMP"))
		rf_rm_rf(g.regdir);
	if (!g.net_ready)
		return 0;
	oci_test_bridge_rules_delete(g.bridge, g.subnet);
	/* Any other rule that still names the bridge or the subnet. */
	for (int t = 0; t < 2; t++) {
		const char *table = t ? "filter" : "nat";
		char *rs = rf_sh_out("iptables -w -t %s -S 2>/dev/null | grep -F -e ' %s ' -e ' %s' || true",
				     table, g.bridge, g.subnet_prefix);
		for (char *line = rs ? strtok(rs, "\n") : NULL; line; line = strtok(NULL, "\n"))
			if (strncmp(line, "-A ", 3) == 0) {
				fprintf(stderr, "cleanup: iptables -t %s %s\n", table, line);
				oci_test_sh_quiet("iptables -w -t %s -D %s", table, line + 3);
			}
		free(rs);
	}
	oci_test_bridge_delete(g.bridge);
	oci_test_ip_forward_restore(g.ip_forward);
	return 0;
}

static int case_setup(void **state)
{
	struct tcase *c = calloc(1, sizeof(*c));
	if (!c || oci_test_case_open(&c->t, "/tmp/zlreal-XXXXXX", c->dep, sizeof(c->dep), "ri",
				     ++g.seq) < 0) {
		free(c);
		return -1;
	}
	c->t0 = cli_mono_ms();
	*state = c;
	return 0;
}

static int case_teardown(void **state)
{
	struct tcase *c = *state;
	fprintf(stderr, "%s: test body %lld ms\n", c->dep, (long long)(cli_mono_ms() - c->t0));
	if (c->tmpfs[0]) {
		umount2(c->tmpfs, MNT_DETACH);
		c->tmpfs[0] = '\0';
	}
	oci_test_delete_and_fix(OCI_FLAGS_FIRST,
				&(struct oci_test_flags){ .root = c->t.root, .bridge = g.bridge,
							  .subnet = g.subnet },
				c->dep);
	/* Containers of ours runc still knows (a failed delete). */
	char *ids = rf_sh_out("runc list -q 2>/dev/null | grep '^zl-%s-' || true", c->dep);
	for (char *id = ids ? strtok(ids, "\n") : NULL; id; id = strtok(NULL, "\n")) {
		fprintf(stderr, "cleanup: runc delete --force %s\n", id);
		oci_test_sh_quiet("runc delete --force '%s'", id);
	}
	free(ids);
	oci_test_unmount_left(c->t.dir);
	if (getenv("ZL_KEEP_TMP"))
		fprintf(stderr, "kept %s\n", c->t.dir);
	else
		cli_tmp_remove(&c->t);
	free(c);
	return 0;
}

/* ---- a. nginx ---- */

/* A line of text with "dev/console" that, with the two lines before it,
 * also says "device node" and names the image. */
static bool device_warning(const char *text)
{
	const char *prev2 = text, *prev1 = text;
	for (const char *p = text; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		char *win = strndup(prev2, (size_t)(p - prev2) + l);
		bool hit = strstr(win + (p - prev2), "dev/console") && strstr(win, "device node") &&
			   strstr(win, "real/nginx");
		free(win);
		if (hit)
			return true;
		prev2 = prev1;
		prev1 = p;
		if (!nl)
			break;
		p = nl + 1;
	}
	return false;
}

static void test_nginx_workers_as_www_data(void **state)
{
	struct tcase *c = *state;
	char *out = NULL, *err = NULL;

	/* pull: the size line, and the device nodes of the base layer. */
	int code = ZLQ(c, &out, &err, "pull", g.nginx);
	assert_exit(code, 0, out, err);
	print_message("pull:\n%s%s", out, err);
	char *pull_text = fmt("%s\n%s", out, err);
	free(out);
	free(err);
	code = ZLQ(c, &out, &err, "pull", g.nginx); /* again: nothing to fetch */
	assert_exit(code, 0, out, err);
	char *pull2_text = fmt("%s\n%s", out, err);
	free(out);
	free(err);

	int port = free_port();
	char spec[PATH_MAX];
	char *svc = nginx_service(2, port, NULL);
	write_spec(c, "spec.yaml", svc, spec);
	free(svc);
	code = ZL(c, &out, &err, "apply", "-f", spec);
	char *apply_text = fmt("%s\n%s", out, err);
	assert_exit(code, 0, out, err);
	free(out);
	free(err);

	/* The device nodes are in no layer directory. */
	char layers[PATH_MAX];
	cli_pathf(layers, "%s/layers", c->t.root);
	assert_true(rf_exists(layers));
	char *odd = odd_files(layers);
	if (*odd)
		fail_msg("device nodes (or other special files) under %s:\n%s", layers, odd);
	free(odd);

	/* 200 from the default page, through the published port. */
	char *body = NULL, reason[128];
	int st = -1;
	int64_t end = cli_mono_ms() + 20000;
	while ((st = http_get(port, "/", &body, reason)) != 200 && cli_mono_ms() < end) {
		free(body);
		body = NULL;
		cli_sleep_ms(200);
	}
	if (st != 200)
		fail_msg("GET http://127.0.0.1:%d/: status %d %s\n%s", port, st, reason,
			 body ? body : "");
	assert_contains(body, "Welcome to nginx");
	free(body);

	/* The workers (children of the master, the replica's pid) run as
	 * www-data, and answered: a non-root worker opened the page. */
	for (int i = 1; i <= 2; i++) {
		struct oci_test_replica r = wait_running(c, "web", i);
		char *cmd = proc_cmdline(r.pid);
		if (!strstr(cmd, "nginx"))
			fail_msg("web-rep-%d pid %lld is \"%s\", not nginx", i, r.pid, cmd);
		free(cmd);
		assert_int_equal(proc_uid(r.pid), 0);
		long long kids[16];
		size_t n = 0;
		int64_t kend = cli_mono_ms() + 10000;
		while ((n = proc_children(r.pid, kids, 16)) == 0 && cli_mono_ms() < kend)
			cli_sleep_ms(100);
		if (n == 0)
			fail_msg("web-rep-%d (pid %lld) has no worker process", i, r.pid);
		for (size_t k = 0; k < n; k++) {
			int uid = proc_uid(kids[k]);
			if (uid != g.www_uid) {
				char *kc = proc_cmdline(kids[k]);
				fail_msg("web-rep-%d worker %lld (%s) runs as uid %d, not www-data (%d)",
					 i, kids[k], kc, uid, g.www_uid);
			}
		}
		print_message("web-rep-%d: master %lld, %zu workers as uid %d\n", i, r.pid, n,
			      g.www_uid);
	}
	/* Every page request is served by a worker: a few more, for both. */
	for (int i = 0; i < 6; i++) {
		st = http_get(port, "/", NULL, reason);
		if (st != 200)
			fail_msg("GET %d: status %d %s", i, st, reason);
	}

	/* su and setpriv to www-data inside the container. */
	char uidtext[32];
	snprintf(uidtext, sizeof(uidtext), "uid=%d", g.www_uid);
	code = ZLQ(c, &out, &err, "exec", "web-rep-1", "-d", c->dep, "--", "su", "-s", "/bin/sh",
		   "www-data", "-c", "id");
	assert_exit(code, 0, out, err);
	assert_contains(out, uidtext);
	assert_contains(out, "www-data");
	free(out);
	free(err);
	char reuid[32], regid[32];
	snprintf(reuid, sizeof(reuid), "--reuid=%d", g.www_uid);
	snprintf(regid, sizeof(regid), "--regid=%d", g.www_uid);
	code = ZLQ(c, &out, &err, "exec", "web-rep-2", "-d", c->dep, "--", "setpriv", reuid, regid,
		   "--clear-groups", "id");
	assert_exit(code, 0, out, err);
	assert_contains(out, uidtext);
	free(out);
	free(err);
	/* A non-root process reads the image's files and the root dir. */
	code = ZLQ(c, &out, &err, "exec", "web-rep-1", "-d", c->dep, "--", "setpriv", reuid, regid,
		   "--clear-groups", "/bin/sh", "-c", "ls / >/dev/null && cat /etc/os-release");
	assert_exit(code, 0, out, err);
	assert_contains(out, "bookworm");
	free(out);
	free(err);

	/* The messages: no "-0.0" from pull; the device nodes named. */
	if (strstr(pull_text, "-0.0") || strstr(pull2_text, "-0.0"))
		fail_msg("pull printed \"-0.0\":\n%s\n--- second pull:\n%s", pull_text, pull2_text);
	char *all = fmt("%s\n%s\n%s", pull_text, pull2_text, apply_text);
	if (!device_warning(all))
		fail_msg("no warning naming the image, \"device node\" and dev/console in pull or "
			 "apply:\n%s", all);
	free(all);
	free(pull_text);
	free(pull2_text);
	free(apply_text);
}

/* ---- b. a rolling update under load ---- */

static void test_nginx_rolling_update_no_failed_request(void **state)
{
	struct tcase *c = *state;
	int port = free_port();
	const char *health = "    health:\n"
			     "      check: { type: http, url: \"http://127.0.0.1:80/\" }\n"
			     "      start_grace: 1s\n"
			     "      interval: 1s\n"
			     "      timeout: 2s\n"
			     "      retries: 10\n";
	char extra[512], spec[PATH_MAX];
	snprintf(extra, sizeof(extra), "%s    env: { VERSION: \"1\" }\n", health);
	char *svc = nginx_service(2, port, extra);
	write_spec(c, "spec.yaml", svc, spec);
	free(svc);
	char *out = NULL, *err = NULL;
	int code = ZL(c, &out, &err, "apply", "--wait", "--timeout", "60s", "-f", spec);
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	char reason[128];
	int st = -1;
	int64_t end = cli_mono_ms() + 20000;
	while ((st = http_get(port, "/", NULL, reason)) != 200 && cli_mono_ms() < end)
		cli_sleep_ms(200);
	if (st != 200)
		fail_msg("before the update: status %d %s", st, reason);
	long long pid1 = wait_running(c, "web", 1).pid, pid2 = wait_running(c, "web", 2).pid;
	char *ips_before = replica_ips(c, "web", 2);

	/* Static: a failed assertion leaves this frame while the thread runs. */
	static struct client cl;
	memset(&cl, 0, sizeof(cl));
	cl.port = port;
	pthread_mutex_init(&cl.mu, NULL);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, client_loop, &cl), 0);
	cli_sleep_ms(500);

	snprintf(extra, sizeof(extra), "%s    env: { VERSION: \"2\" }\n", health);
	svc = nginx_service(2, port, extra);
	write_spec(c, "spec.yaml", svc, spec);
	free(svc);
	int64_t t0 = cli_mono_ms();
	code = ZL(c, &out, &err, "apply", "--wait", "--timeout", "120s", "-f", spec);
	int64_t took = cli_mono_ms() - t0;
	/* And a while after it: the new replicas must be reachable at once. */
	cli_sleep_ms(POST_ROLLOUT_MS);
	__atomic_store_n(&cl.stop, 1, __ATOMIC_SEQ_CST);
	pthread_join(th, NULL);
	pthread_mutex_destroy(&cl.mu);
	char *ips_after = replica_ips(c, "web", 2);
	print_message("rollout %lld ms (client from -500 ms to +%d ms after it): %ld requests ok, "
		      "%ld failed; replica IPs before %s, after %s\n%s",
		      (long long)took, POST_ROLLOUT_MS, cl.ok, cl.failed, ips_before, ips_after,
		      cl.first_failures);
	free(ips_before);
	free(ips_after);
	assert_exit(code, 0, out, err);
	if (cli_action_index(out, "~ recreate web-rep-1") < 0 ||
	    cli_action_index(out, "~ recreate web-rep-2") < 0)
		fail_msg("the apply did not recreate both replicas:\n%s%s", out, err);
	free(out);
	free(err);
	assert_true(wait_running(c, "web", 1).pid != pid1);
	assert_true(wait_running(c, "web", 2).pid != pid2);
	assert_true(cl.ok > 20);
	if (cl.failed > 0)
		fail_msg("%ld of %ld requests failed during the rollout:\n%s", cl.failed,
			 cl.ok + cl.failed, cl.first_failures);
}

/* ---- c. postgres ---- */

static int psql(struct tcase *c, const char *sql, char **out, char **err)
{
	return ZLQ(c, out, err, "exec", "db-rep-1", "-d", c->dep, "--",
		   "/usr/lib/postgresql/15/bin/psql", "-h", "127.0.0.1", "-U", "postgres", "-tA",
		   "-v", "ON_ERROR_STOP=1", "-c", sql);
}

/* psql until it works (the server may still be starting). */
static char *psql_ok(struct tcase *c, const char *sql)
{
	int64_t end = cli_mono_ms() + 30000;
	for (;;) {
		char *out = NULL, *err = NULL;
		int code = psql(c, sql, &out, &err);
		if (code == 0) {
			free(err);
			return out;
		}
		if (cli_mono_ms() > end)
			fail_msg("psql -c \"%s\": exit %d\n%s%s", sql, code, out, err);
		free(out);
		free(err);
		cli_sleep_ms(300);
	}
}

static void test_postgres_named_volume_copy_up_and_stop_signal(void **state)
{
	struct tcase *c = *state;
	char spec[PATH_MAX];
	char *svc = postgres_service("1", NULL, NULL);
	write_spec(c, "spec.yaml", svc, spec);
	free(svc);
	char *out = NULL, *err = NULL;
	int64_t t0 = cli_mono_ms();
	int code = ZL(c, &out, &err, "apply", "--wait", "--timeout", "90s", "-f", spec);
	int64_t t_first = cli_mono_ms() - t0;
	if (code != 0) {
		char *logs = NULL, *lerr = NULL;
		ZLQ(c, &logs, &lerr, "logs", "db-rep-1", "-d", c->dep, "--tail", "30");
		fail_msg("apply --wait: exit %d\n--- stdout:\n%s--- stderr:\n%s--- logs:\n%s%s", code,
			 out, err, logs, lerr);
	}
	free(out);
	free(err);

	/* The new volume got the image's owner and mode (copy-up). */
	char vol[PATH_MAX];
	cli_pathf(vol, "%s/volumes/%s/pgdata", c->t.root, c->dep);
	struct stat sv;
	if (stat(vol, &sv) < 0)
		fail_msg("stat %s: %s", vol, strerror(errno));
	if ((int)sv.st_uid != g.pg_uid || (int)sv.st_gid != g.pg_gid || (sv.st_mode & 07777) != 0700)
		fail_msg("%s is %d:%d mode %04o, expected %d:%d 0700 (copy-up of the image's "
			 "/var/lib/postgresql/data)",
			 vol, (int)sv.st_uid, (int)sv.st_gid, (unsigned)(sv.st_mode & 07777), g.pg_uid,
			 g.pg_gid);

	/* The server runs as postgres (the image's User), and so do its
	 * children. */
	struct oci_test_replica r = wait_running(c, "db", 1);
	char *cmd = proc_cmdline(r.pid);
	print_message("db-rep-1: pid %lld \"%s\", first apply %lld ms\n", r.pid, cmd,
		      (long long)t_first);
	assert_contains(cmd, "postgres");
	free(cmd);
	assert_int_equal(proc_uid(r.pid), g.pg_uid);
	long long kids[32];
	size_t n = proc_children(r.pid, kids, 32);
	assert_true(n > 0);
	for (size_t k = 0; k < n; k++)
		assert_int_equal(proc_uid(kids[k]), g.pg_uid);
	/* initdb wrote into the volume. */
	char pgv[PATH_MAX + 16];
	snprintf(pgv, sizeof(pgv), "%s/PG_VERSION", vol);
	assert_true(rf_exists(pgv));

	char *o = psql_ok(c, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('survives')");
	free(o);
	o = psql_ok(c, "SELECT v FROM kept");
	assert_contains(o, "survives");
	free(o);

	/* Keep the first run's log open: a recreate removes its directory. */
	char logpath[PATH_MAX];
	cli_pathf(logpath, "%s/containers/zl-%s-db-1/ctr.log", c->t.root, c->dep);
	FILE *logf = fopen(logpath, "re");
	if (!logf)
		fail_msg("open %s: %s", logpath, strerror(errno));

	/* Recreate (env changed): the image's SIGINT makes a fast shutdown. */
	svc = postgres_service("2", NULL, NULL);
	write_spec(c, "spec.yaml", svc, spec);
	free(svc);
	t0 = cli_mono_ms();
	code = ZL(c, &out, &err, "apply", "--wait", "--timeout", "90s", "-f", spec);
	int64_t t_re = cli_mono_ms() - t0;
	print_message("recreate of db-rep-1 (apply --wait): %lld ms\n", (long long)t_re);
	assert_exit(code, 0, out, err);
	if (cli_action_index(out, "~ recreate db-rep-1") < 0)
		fail_msg("no \"~ recreate db-rep-1\" in:\n%s%s", out, err);
	free(out);
	free(err);
	struct oci_test_replica r2 = wait_running(c, "db", 1);
	assert_true(r2.pid != r.pid);

	o = psql_ok(c, "SELECT v FROM kept");
	assert_contains(o, "survives");
	free(o);

	/* The first run's log: fast shutdown (SIGINT), not smart (SIGTERM). */
	char *buf = NULL;
	size_t blen = 0;
	FILE *mf = open_memstream(&buf, &blen);
	char chunk[8192];
	size_t got;
	while ((got = fread(chunk, 1, sizeof(chunk), logf)) > 0)
		fwrite(chunk, 1, got, mf);
	fclose(logf);
	fclose(mf);
	/* The archived log, if zlapply keeps one, or the current one. */
	char *logs = NULL, *lerr = NULL;
	ZLQ(c, &logs, &lerr, "logs", "db-rep-1", "-d", c->dep);
	if (!strstr(buf, "received fast shutdown request") &&
	    !strstr(logs, "received fast shutdown request"))
		fail_msg("no \"received fast shutdown request\" in the first run's log "
			 "(recreate took %lld ms):\n%s\n--- zlapply logs:\n%s%s",
			 (long long)t_re, buf, logs, lerr);
	print_message("\"received fast shutdown request\" in: %s%s\n",
		      strstr(buf, "received fast shutdown request") ? "the first run's ctr.log " : "",
		      strstr(logs, "received fast shutdown request") ? "zlapply logs" : "");
	if (strstr(buf, "smart shutdown"))
		fail_msg("the first run got a smart shutdown (SIGTERM):\n%s", buf);
	free(buf);
	free(logs);
	free(lerr);
}

static void test_postgres_nocopy_volume_stays_empty(void **state)
{
	struct tcase *c = *state;
	char spec[PATH_MAX];
	char *svc = postgres_service("1", ", nocopy: true", "    restart_policy: { kind: no }\n");
	write_spec(c, "spec.yaml", svc, spec);
	free(svc);
	char *out = NULL, *err = NULL;
	int code = cli_run(NULL, NULL, NULL, (const char *const[]){ "validate", "-f", spec, NULL },
			   &out, &err);
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	int64_t t0 = cli_mono_ms();
	code = ZL(c, &out, &err, "apply", "--wait", "--timeout", "40s", "-f", spec);
	int64_t took = cli_mono_ms() - t0;
	print_message("apply --wait with nocopy: exit %d in %lld ms\n%s", code, (long long)took, err);
	if (code == 0)
		fail_msg("apply --wait succeeded with an empty root-owned PGDATA:\n%s%s", out, err);
	assert_true(code != 2);
	free(out);
	free(err);

	char vol[PATH_MAX];
	cli_pathf(vol, "%s/volumes/%s/pgdata", c->t.root, c->dep);
	struct stat sv;
	if (stat(vol, &sv) < 0)
		fail_msg("stat %s: %s", vol, strerror(errno));
	if (sv.st_uid != 0)
		fail_msg("nocopy: %s is owned by %d, expected root's", vol, (int)sv.st_uid);
	assert_int_equal(count_entries(vol), 0);

	/* The replica exited non-zero (initdb failed) and is not ready. */
	int64_t end = cli_mono_ms() + WAIT_MS;
	struct oci_test_replica r;
	for (;;) {
		r = get_rep(c, "db", 1);
		if (strcmp(r.state, "running") != 0)
			break;
		if (cli_mono_ms() > end)
			fail_msg("db-rep-1 still running with an empty root-owned PGDATA: %s", r.json);
		cli_sleep_ms(200);
	}
	print_message("db-rep-1: %s\n", r.json);
	if (strcmp(r.state, "exited") == 0)
		assert_true(r.exit_code != 0);
	char *logs = NULL, *lerr = NULL;
	ZLQ(c, &logs, &lerr, "logs", "db-rep-1", "-d", c->dep);
	assert_contains(logs, "initdb");
	free(logs);
	free(lerr);
}

/* ---- d. bad input ---- */

static void test_bad_user_and_volume_on_a_file(void **state)
{
	struct tcase *c = *state;
	int port = free_port();
	char spec[PATH_MAX];
	char *svc = nginx_service(1, port, "    user: nosuchuser\n");
	write_spec(c, "spec.yaml", svc, spec);
	free(svc);
	char *out = NULL, *err = NULL;
	int code = ZL(c, &out, &err, "apply", "-f", spec);
	print_message("user nosuchuser: exit %d\n%s", code, err);
	if (code == 0)
		fail_msg("apply with user nosuchuser succeeded:\n%s%s", out, err);
	assert_contains(err, "web-rep-1");
	assert_contains(err, "nosuchuser");
	free(out);
	free(err);

	/* A named volume whose target is a regular file of the image. */
	svc = nginx_service(1, port,
			    "    storage:\n"
			    "      - { type: named, name: onfile, target: /etc/passwd }\n");
	write_spec(c, "spec.yaml", svc, spec);
	free(svc);
	code = ZL(c, &out, &err, "apply", "-f", spec);
	print_message("volume on /etc/passwd: exit %d\n%s", code, err);
	if (code == 0)
		fail_msg("a named volume over the file /etc/passwd was accepted:\n%s%s", out, err);
	assert_contains(err, "/etc/passwd");
	assert_contains(err, "web-rep-1");
	free(out);
	free(err);
}

static void test_copy_up_out_of_disk(void **state)
{
	struct tcase *c = *state;
	int port = free_port();
	char spec[PATH_MAX];
	char *svc = nginx_service(1, port,
				  "    storage:\n"
				  "      - { type: named, name: bigshare, target: /usr/share }\n");
	write_spec(c, "spec.yaml", svc, spec);
	free(svc);

	/* A 256 KiB tmpfs where the deployment's volumes go. */
	char vols[PATH_MAX], vol[PATH_MAX];
	cli_pathf(vols, "%s/volumes/%s", c->t.root, c->dep);
	cli_pathf(vol, "%s/bigshare", vols);
	if (rf_sh("mkdir -p '%s'", vols) != 0)
		fail_msg("mkdir %s", vols);
	if (mount("tmpfs", vols, "tmpfs", 0, "size=256k,mode=0700") < 0)
		fail_msg("mount tmpfs on %s: %s", vols, strerror(errno));
	rf_fmt(c->tmpfs, sizeof(c->tmpfs), "%s", vols);

	char *out = NULL, *err = NULL;
	int code = ZL(c, &out, &err, "apply", "-f", spec);
	print_message("copy-up into 256k: exit %d\n%s", code, err);
	if (code == 0)
		fail_msg("copy-up of /usr/share into a 256 KiB tmpfs succeeded:\n%s%s", out, err);
	assert_contains(err, "bigshare");
	free(out);
	free(err);
	/* Nothing half-copied in the volume's place. */
	if (rf_exists(vol) && count_entries(vol) != 0) {
		char *ls = rf_sh_out("ls -la '%s' | head -20", vol);
		fail_msg("a half-copied volume is left at %s:\n%s", vol, ls ? ls : "");
	}
	char *ls = rf_sh_out("ls -A '%s'", vols);
	print_message("after the failed copy-up, %s holds: [%s]\n", vols, ls ? ls : "?");
	free(ls);

	/* Room again: the next apply copies and runs. */
	assert_int_equal(umount2(vols, 0), 0);
	c->tmpfs[0] = '\0';
	code = ZL(c, &out, &err, "apply", "--wait", "--timeout", "60s", "-f", spec);
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	char probe[PATH_MAX + 32];
	snprintf(probe, sizeof(probe), "%s/nginx/html/index.html", vol);
	if (!rf_exists(probe))
		fail_msg("the re-apply did not copy the image's /usr/share into %s", vol);
	wait_running(c, "web", 1);
}

int main(void)
{
	if (geteuid() != 0 || !oci_test_have("runc") || !oci_test_have("umoci") ||
	    !oci_test_have("skopeo") || !oci_test_have("docker-registry")) {
		fprintf(stderr, "test_real_images: needs root, runc, umoci, skopeo and "
				"docker-registry; skipped\n");
		return 77;
	}
	if (!oci_test_have("debootstrap")) {
		fprintf(stderr, "test_real_images: debootstrap missing (scripts/setup); skipped\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_nginx_workers_as_www_data, case_setup,
						case_teardown),
		cmocka_unit_test_setup_teardown(test_nginx_rolling_update_no_failed_request,
						case_setup, case_teardown),
		cmocka_unit_test_setup_teardown(test_postgres_named_volume_copy_up_and_stop_signal,
						case_setup, case_teardown),
		cmocka_unit_test_setup_teardown(test_postgres_nocopy_volume_stays_empty, case_setup,
						case_teardown),
		cmocka_unit_test_setup_teardown(test_bad_user_and_volume_on_a_file, case_setup,
						case_teardown),
		cmocka_unit_test_setup_teardown(test_copy_up_out_of_disk, case_setup, case_teardown),
	};
	const char *filter = getenv("ZL_TEST_FILTER");
	if (filter && *filter)
		cmocka_set_test_filter(filter);
	int64_t t0 = cli_mono_ms();
	int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
	fprintf(stderr, "test_real_images: %lld ms\n", (long long)(cli_mono_ms() - t0));
	return rc;
}
