/* test_net.c: net/ against the real kernel: the bridge, replica netns with
 * veth, address and default route, replicas reaching each other and the
 * host reaching them, teardown, failures that leave nothing behind, and 100
 * replicas set up and torn down (timed).
 *
 * Safety: everything lives on a bridge "zlt<pid%1000>" with the subnet
 * 10.216.<pid%100>.0/24 (outside zlapply's default 10.213.0.0/16, so a live
 * zl0 keeps its routes); pings go only to addresses of namespaces this
 * test created, and a ping from the host first checks that the kernel
 * routes the address to the test bridge. Each test removes every bridge,
 * veth and netns it made in its teardown, also when it fails; the
 * ip_forward value the bridge turned on is restored at the end.
 * `ip` is used only to look. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "net/net.h"

#define MANY 100

static const char *const services[] = { "web", "db", "dns", "twice", "late", "raw", "many" };
#define N_SERVICES (sizeof(services) / sizeof(services[0]))

static struct {
	char deployment[32]; /* zlt<pid> */
	char bridge[16];     /* zlt<pid%1000> */
	char cidr[NET_CIDR_STRLEN];
	struct net_subnet subnet;
	char tmp[PATH_MAX];  /* /tmp/zlnet-XXXXXX */
	char ip_forward[8];  /* value before the tests */
} env;

/* ---- helpers ---- */

/* Runs cmd through sh; *out (may be NULL) gets stdout+stderr. Returns the
 * exit status, -1 if it did not exit. */
static int sh(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int sh(char **out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *cmd = NULL;
	if (vasprintf(&cmd, fmt, ap) < 0)
		abort();
	va_end(ap);
	char *full = zl_xasprintf("%s 2>&1", cmd);
	free(cmd);
	FILE *p = popen(full, "r");
	free(full);
	if (!p)
		fail_msg("popen: %s", strerror(errno));
	struct zl_buf buf = { 0 };
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
		zl_buf_append(&buf, chunk, n);
	int status = pclose(p);
	char *text = zl_buf_steal(&buf);
	if (out)
		*out = text;
	else
		free(text);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static bool output_has(const char *needle, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static bool output_has(const char *needle, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *cmd = NULL;
	if (vasprintf(&cmd, fmt, ap) < 0)
		abort();
	va_end(ap);
	char *out = NULL;
	sh(&out, "%s", cmd);
	bool found = strstr(out, needle) != NULL;
	if (!found)
		print_message("`%s` lacks \"%s\":\n%s", cmd, needle, out);
	free(cmd);
	free(out);
	return found;
}

static void ipstr(uint32_t ip, char out[NET_IPV4_STRLEN]) { net_ipv4_format(ip, out); }

static void write_text(const char *path, const char *text)
{
	struct zl_err err = ZL_ERR_INIT;
	if (zl_write_file_atomic(path, text, strlen(text), 0644, &err) < 0)
		fail_msg("%s", err.msg);
}

static char *read_text(const char *path)
{
	struct zl_err err = ZL_ERR_INIT;
	char *data = NULL;
	size_t len;
	if (zl_read_file(path, &data, &len, &err) < 0)
		fail_msg("%s", err.msg);
	return data;
}

static char *run_dir(const char *service, int index)
{
	return zl_xasprintf("%s/run/%s-%d", env.tmp, service, index);
}

static char *ns_name(const char *service, int index)
{
	return net_netns_name(env.deployment, service, index);
}

static void host_if(const char *service, int index, char out[NET_IFNAME_MAX + 1])
{
	net_ifname("zlh", env.deployment, service, index, out);
}

/* A replica of this test's deployment on the test bridge. */
static struct net_replica replica(const char *service, int index, uint32_t ip, char *dir)
{
	struct net_replica r = {
		.deployment = env.deployment,
		.service = service,
		.index = index,
		.bridge = env.bridge,
		.subnet = env.subnet,
		.ip = ip,
		.hostname = service,
		.run_dir = dir,
	};
	return r;
}

static void setup_ok(const struct net_replica *r)
{
	struct zl_err err = ZL_ERR_INIT;
	char *path = NULL;
	if (net_replica_setup(r, &path, &err) < 0)
		fail_msg("setup %s-%d: %s", r->service, r->index, err.msg);
	char *ns = ns_name(r->service, r->index);
	char *want = zl_xasprintf("/run/netns/%s", ns);
	assert_string_equal(path, want);
	free(want);
	free(ns);
	free(path);
}

static void teardown_ok(const char *service, int index)
{
	struct zl_err err = ZL_ERR_INIT;
	if (net_replica_teardown(env.deployment, service, index, &err) < 0)
		fail_msg("teardown %s-%d: %s", service, index, err.msg);
}

/* Nothing of replica service-index is left: no netns file, no host veth. */
static void assert_replica_gone(const char *service, int index)
{
	char *ns = ns_name(service, index);
	char *path = zl_xasprintf("/run/netns/%s", ns);
	char ifname[NET_IFNAME_MAX + 1];
	host_if(service, index, ifname);
	struct stat st;
	if (net_netns_exists(ns) || stat(path, &st) == 0)
		fail_msg("netns %s is still there", ns);
	if (if_nametoindex(ifname) != 0)
		fail_msg("host veth %s of %s is still there", ifname, ns);
	free(path);
	free(ns);
}

/* Namespaces under /run/netns that belong to this test run. */
static size_t count_our_netns(void)
{
	char **names;
	size_t n, ours = 0;
	struct zl_err err = ZL_ERR_INIT;
	if (net_netns_list(&names, &n, &err) < 0)
		fail_msg("%s", err.msg);
	char *prefix = zl_xasprintf("zl-%s-", env.deployment);
	for (size_t i = 0; i < n; i++)
		if (strncmp(names[i], prefix, strlen(prefix)) == 0)
			ours++;
	free(prefix);
	net_names_free(names, n);
	return ours;
}

static size_t count_bridge_ports(void)
{
	char *out = NULL;
	sh(&out, "ip -o link show master %s", env.bridge);
	size_t lines = 0;
	for (const char *p = out; *p; p++)
		lines += *p == '\n';
	free(out);
	return lines;
}

/* ping from inside netns ns (or the host when ns is NULL) to ip, a few
 * tries so ARP and the bridge settling do not make it flaky. */
static bool ping(const char *ns, uint32_t ip)
{
	char text[NET_IPV4_STRLEN];
	ipstr(ip, text);
	if (!ns) {
		/* Only ever from the host to our bridge: check the route first. */
		char *want = zl_xasprintf("dev %s ", env.bridge);
		bool ours = output_has(want, "ip -4 route get %s", text);
		free(want);
		if (!ours)
			fail_msg("%s is not routed to bridge %s: not pinging it", text, env.bridge);
	}
	for (int i = 0; i < 3; i++) {
		int rc = ns ? sh(NULL, "ip netns exec %s /bin/busybox ping -c1 -W1 %s", ns, text)
			    : sh(NULL, "/bin/busybox ping -c1 -W1 %s", text);
		if (rc == 0)
			return true;
	}
	return false;
}

/* Removes whatever this test run may have made; missing pieces are fine. */
static void cleanup_everything(void)
{
	struct zl_err err = ZL_ERR_INIT;
	for (size_t s = 0; s < N_SERVICES; s++)
		for (int i = 0; i < MANY + 2; i++)
			if (net_replica_teardown(env.deployment, services[s], i, &err) < 0)
				print_message("cleanup: %s\n", err.msg);
	/* Anything else named after this run (a namespace whose veth was never made). */
	char **names;
	size_t n;
	if (net_netns_list(&names, &n, &err) == 0) {
		char *prefix = zl_xasprintf("zl-%s-", env.deployment);
		for (size_t i = 0; i < n; i++)
			if (strncmp(names[i], prefix, strlen(prefix)) == 0 &&
			    net_netns_delete(names[i], &err) < 0)
				print_message("cleanup: %s\n", err.msg);
		free(prefix);
		net_names_free(names, n);
	}
	if (net_bridge_delete(env.bridge, &err) < 0)
		print_message("cleanup: %s\n", err.msg);
	char *runs = zl_xasprintf("%s/run", env.tmp);
	if (zl_rm_rf(runs, &err) < 0)
		print_message("cleanup: %s\n", err.msg);
	free(runs);
}

/* ---- fixtures ---- */

static int group_setup(void **state)
{
	(void)state;
	int pid = (int)getpid();
	snprintf(env.deployment, sizeof(env.deployment), "zlt%d", pid);
	snprintf(env.bridge, sizeof(env.bridge), "zlt%d", pid % 1000);
	snprintf(env.cidr, sizeof(env.cidr), "10.216.%d.0/24", pid % 100);
	struct zl_err err = ZL_ERR_INIT;
	if (net_subnet_parse(env.cidr, &env.subnet, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	snprintf(env.tmp, sizeof(env.tmp), "/tmp/zlnet-XXXXXX");
	if (!mkdtemp(env.tmp))
		return -1;
	FILE *f = fopen("/proc/sys/net/ipv4/ip_forward", "re");
	if (!f || !fgets(env.ip_forward, sizeof(env.ip_forward), f)) {
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	fprintf(stderr, "# bridge %s, subnet %s, deployment %s\n", env.bridge, env.cidr,
		env.deployment);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	cleanup_everything();
	struct zl_err err = ZL_ERR_INIT;
	zl_rm_rf(env.tmp, &err);
	/* Put the host's forwarding setting back as we found it. */
	FILE *f = fopen("/proc/sys/net/ipv4/ip_forward", "we");
	if (f) {
		fputs(env.ip_forward, f);
		fclose(f);
	}
	return 0;
}

static int test_setup(void **state)
{
	(void)state;
	struct zl_err err = ZL_ERR_INIT;
	if (net_bridge_ensure(env.bridge, &env.subnet, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	return 0;
}

static int test_teardown(void **state)
{
	(void)state;
	cleanup_everything();
	return 0;
}

/* ---- tests ---- */

static void test_bridge_ensure_is_idempotent(void **state)
{
	(void)state;
	struct zl_err err = ZL_ERR_INIT;
	/* test_setup ensured it once; twice more changes nothing. */
	assert_int_equal(net_bridge_ensure(env.bridge, &env.subnet, &err), 0);
	assert_int_equal(net_bridge_ensure(env.bridge, &env.subnet, &err), 0);
	assert_true(net_link_exists(env.bridge));
	assert_true(output_has("bridge", "ip -d -o link show dev %s", env.bridge));
	assert_true(output_has("UP", "ip -o link show dev %s", env.bridge));
	char gw[NET_IPV4_STRLEN];
	ipstr(net_bridge_gateway(&env.subnet), gw);
	char *want = zl_xasprintf("inet %s/24 ", gw);
	char *out = NULL;
	assert_int_equal(sh(&out, "ip -4 -o addr show dev %s", env.bridge), 0);
	const char *first = strstr(out, want);
	if (!first)
		fail_msg("bridge lacks %s:\n%s", want, out);
	if (strstr(first + 1, want))
		fail_msg("gateway address added twice:\n%s", out);
	free(out);
	free(want);
	char *fwd = read_text("/proc/sys/net/ipv4/ip_forward");
	assert_int_equal(fwd[0], '1');
	free(fwd);

	/* Deleting is idempotent too, and ensure brings it back. */
	assert_int_equal(net_bridge_delete(env.bridge, &err), 0);
	assert_false(net_link_exists(env.bridge));
	assert_int_equal(net_bridge_delete(env.bridge, &err), 0);
	assert_int_equal(net_bridge_ensure(env.bridge, &env.subnet, &err), 0);
	assert_true(net_link_exists(env.bridge));
}

static void test_netns_create_delete_list(void **state)
{
	(void)state;
	struct zl_err err = ZL_ERR_INIT;
	char *name = ns_name("raw", 0);
	char *path = NULL, *again = NULL;
	assert_int_equal(net_netns_create(name, &path, &err), 0);
	assert_true(net_netns_exists(name));
	/* Idempotent: the same namespace, not a new one over it. */
	struct stat before, after;
	assert_int_equal(stat(path, &before), 0);
	assert_int_equal(net_netns_create(name, &again, &err), 0);
	assert_string_equal(path, again);
	assert_int_equal(stat(path, &after), 0);
	assert_int_equal(before.st_ino, after.st_ino);
	assert_true(output_has(name, "ip netns list"));
	/* /run/netns is a shared mount so runc's mount namespace sees it. */
	assert_true(output_has("shared:", "grep ' /run/netns ' /proc/self/mountinfo"));
	char **names;
	size_t n;
	assert_int_equal(net_netns_list(&names, &n, &err), 0);
	bool listed = false;
	for (size_t i = 0; i < n; i++)
		listed = listed || strcmp(names[i], name) == 0;
	net_names_free(names, n);
	assert_true(listed);
	assert_int_equal(net_netns_delete(name, &err), 0);
	assert_false(net_netns_exists(name));
	assert_int_equal(net_netns_delete(name, &err), 0);

	/* An empty file left by a crash between create and mount is reused. */
	int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0);
	assert_true(fd >= 0);
	close(fd);
	assert_false(net_netns_exists(name));
	assert_int_equal(net_netns_create(name, NULL, &err), 0);
	assert_true(net_netns_exists(name));
	assert_int_equal(net_netns_delete(name, &err), 0);
	/* ... and a stale file alone is deleted too. */
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(net_netns_delete(name, &err), 0);
	assert_int_equal(access(path, F_OK), -1);

	assert_int_equal(net_netns_create("../escape", NULL, &err), -1);
	assert_int_equal(err.kind, ZL_ERR_INPUT);
	free(again);
	free(path);
	free(name);
}

static void test_two_replicas_reach_each_other_and_the_host(void **state)
{
	(void)state;
	struct zl_err err = ZL_ERR_INIT;
	uint32_t used[2] = { 0, 0 };
	assert_int_equal(net_ipam_pick(&env.subnet, used, 0, &used[0], &err), 0);
	assert_int_equal(net_ipam_pick(&env.subnet, used, 1, &used[1], &err), 0);
	assert_int_not_equal(used[0], used[1]);
	uint32_t gateway = net_bridge_gateway(&env.subnet);
	char ip0[NET_IPV4_STRLEN], ip1[NET_IPV4_STRLEN], gw[NET_IPV4_STRLEN];
	ipstr(used[0], ip0);
	ipstr(used[1], ip1);
	ipstr(gateway, gw);

	/* The host's resolv.conf: one loopback resolver (skipped), one real. */
	char *host_resolv = zl_xasprintf("%s/host-resolv.conf", env.tmp);
	write_text(host_resolv, "# host\nnameserver 127.0.0.53\nnameserver 10.255.255.53\n"
				"search example.internal\noptions ndots:2\n");
	char *dir0 = run_dir("web", 0), *dir1 = run_dir("web", 1);
	const char *dns[] = { "192.0.2.53", "2001:db8::53" };
	const char *extra[] = { "db.local:192.0.2.10", "host.internal:host-gateway" };
	struct net_replica r0 = replica("web", 0, used[0], dir0);
	r0.dns = dns;
	r0.n_dns = 2;
	r0.extra_hosts = extra;
	r0.n_extra_hosts = 2;
	r0.hostname = "web-0";
	r0.host_resolv_conf = host_resolv;
	struct net_replica r1 = replica("web", 1, used[1], dir1);
	r1.host_resolv_conf = host_resolv;
	setup_ok(&r0);
	setup_ok(&r1);

	char *ns0 = ns_name("web", 0), *ns1 = ns_name("web", 1);
	char if0[NET_IFNAME_MAX + 1], if1[NET_IFNAME_MAX + 1];
	host_if("web", 0, if0);
	host_if("web", 1, if1);
	assert_true(net_netns_exists(ns0));
	assert_true(net_netns_exists(ns1));
	assert_true(output_has(ns0, "ip netns list"));

	/* eth0 carries the leased address, is up, and routes via the gateway. */
	char *want = zl_xasprintf("inet %s/24 ", ip0);
	assert_true(output_has(want, "ip -n %s -4 -o addr show dev eth0", ns0));
	free(want);
	want = zl_xasprintf("inet %s/24 ", ip1);
	assert_true(output_has(want, "ip -n %s -4 -o addr show dev eth0", ns1));
	free(want);
	assert_true(output_has("state UP", "ip -n %s -o link show dev eth0", ns0));
	assert_true(output_has("UP", "ip -n %s -o link show dev lo", ns0));
	want = zl_xasprintf("default via %s dev eth0", gw);
	assert_true(output_has(want, "ip -n %s -4 route show default", ns0));
	assert_true(output_has(want, "ip -n %s -4 route show default", ns1));
	free(want);
	/* The host end is on the bridge; the peer never stayed in the host. */
	want = zl_xasprintf("master %s ", env.bridge);
	assert_true(output_has(want, "ip -o link show dev %s", if0));
	assert_true(output_has(want, "ip -o link show dev %s", if1));
	free(want);
	assert_int_equal(count_bridge_ports(), 2);

	/* Traffic: replica to replica both ways, host to replica. */
	if (!ping(ns0, used[1]))
		fail_msg("%s cannot reach %s", ns0, ip1);
	if (!ping(ns1, used[0]))
		fail_msg("%s cannot reach %s", ns1, ip0);
	if (!ping(NULL, used[0]))
		fail_msg("the host cannot reach %s", ip0);
	if (!ping(ns0, gateway))
		fail_msg("%s cannot reach its gateway %s", ns0, gw);

	/* resolv.conf: dns[] wins over the host's nameservers, search and
	 * options are kept; without dns[] the loopback resolver is dropped. */
	char *path = zl_xasprintf("%s/resolv.conf", dir0);
	char *text = read_text(path);
	assert_non_null(strstr(text, "nameserver 192.0.2.53\nnameserver 2001:db8::53\n"));
	assert_null(strstr(text, "10.255.255.53"));
	assert_non_null(strstr(text, "search example.internal\n"));
	assert_non_null(strstr(text, "options ndots:2\n"));
	free(text);
	free(path);
	path = zl_xasprintf("%s/resolv.conf", dir1);
	text = read_text(path);
	assert_non_null(strstr(text, "nameserver 10.255.255.53\n"));
	assert_null(strstr(text, "127.0.0.53"));
	free(text);
	free(path);
	/* hosts: localhost, the replica itself, the extra hosts. */
	path = zl_xasprintf("%s/hosts", dir0);
	text = read_text(path);
	assert_non_null(strstr(text, "127.0.0.1\tlocalhost\n"));
	assert_non_null(strstr(text, "::1\tlocalhost"));
	want = zl_xasprintf("%s\tweb-0\n", ip0);
	assert_non_null(strstr(text, want));
	free(want);
	assert_non_null(strstr(text, "192.0.2.10\tdb.local\n"));
	want = zl_xasprintf("%s\thost.internal\n", gw);
	assert_non_null(strstr(text, want));
	free(want);
	free(text);
	free(path);

	/* A replica's host veth is not a bridge: ensure refuses to use it. */
	assert_int_equal(net_bridge_ensure(if0, &env.subnet, &err), -1);
	assert_non_null(strstr(err.msg, "is not a bridge"));

	/* Teardown removes both, and is idempotent. */
	teardown_ok("web", 0);
	assert_replica_gone("web", 0);
	assert_true(net_netns_exists(ns1));
	if (!ping(ns1, gateway))
		fail_msg("%s lost its network when web-0 was torn down", ns1);
	teardown_ok("web", 1);
	teardown_ok("web", 1);
	teardown_ok("web", 0);
	assert_replica_gone("web", 1);
	assert_int_equal(count_our_netns(), 0);
	assert_int_equal(count_bridge_ports(), 0);

	free(ns0);
	free(ns1);
	free(dir0);
	free(dir1);
	free(host_resolv);
}

static void test_loopback_only_host_resolver(void **state)
{
	(void)state;
	char *host_resolv = zl_xasprintf("%s/loopback-resolv.conf", env.tmp);
	write_text(host_resolv, "nameserver 127.0.0.53\nnameserver ::1\nsearch lan\n");
	char *dir = run_dir("dns", 0);
	struct net_replica r = replica("dns", 0, net_bridge_gateway(&env.subnet) + 1, dir);
	r.host_resolv_conf = host_resolv;
	setup_ok(&r);
	char *path = zl_xasprintf("%s/resolv.conf", dir);
	char *text = read_text(path);
	assert_null(strstr(text, "\nnameserver "));
	assert_non_null(strstr(text, "# no nameserver: "));
	assert_non_null(strstr(text, "loopback"));
	assert_non_null(strstr(text, "search lan\n"));
	free(text);
	free(path);
	teardown_ok("dns", 0);
	assert_replica_gone("dns", 0);
	free(dir);
	free(host_resolv);
}

static void test_setup_failures_leave_nothing_behind(void **state)
{
	(void)state;
	struct zl_err err = ZL_ERR_INIT;
	uint32_t ip = net_bridge_gateway(&env.subnet) + 1;
	char *dir = run_dir("db", 0);

	/* No bridge: refused before anything is created. */
	struct net_replica r = replica("db", 0, ip, dir);
	char missing[32];
	snprintf(missing, sizeof(missing), "%sx", env.bridge);
	r.bridge = missing;
	assert_int_equal(net_replica_setup(&r, NULL, &err), -1);
	char *want = zl_xasprintf("bridge %s does not exist", missing);
	if (!strstr(err.msg, want))
		fail_msg("unexpected error: %s", err.msg);
	free(want);
	assert_replica_gone("db", 0);

	/* An address that is not a host of the subnet: invalid input. */
	r = replica("db", 0, env.subnet.network, dir);
	assert_int_equal(net_replica_setup(&r, NULL, &err), -1);
	assert_int_equal(err.kind, ZL_ERR_INPUT);
	assert_non_null(strstr(err.msg, "is not a host address of subnet"));
	r = replica("db", 0, ip, dir);
	const char *bad_hosts[] = { "no-colon-here" };
	r.extra_hosts = bad_hosts;
	r.n_extra_hosts = 1;
	assert_int_equal(net_replica_setup(&r, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "expected name:ip"));
	assert_replica_gone("db", 0);

	/* The last step fails (run_dir below a regular file) after netns,
	 * veth, address and route exist: all of it is undone. */
	char *file = zl_xasprintf("%s/not-a-dir", env.tmp);
	write_text(file, "x");
	char *bad_dir = zl_xasprintf("%s/run", file);
	r = replica("late", 0, ip, bad_dir);
	assert_int_equal(net_replica_setup(&r, NULL, &err), -1);
	if (!strstr(err.msg, "mkdir") || !strstr(err.msg, "Not a directory"))
		fail_msg("unexpected error: %s", err.msg);
	char *ns = ns_name("late", 0);
	assert_non_null(strstr(err.msg, ns));
	free(ns);
	assert_replica_gone("late", 0);
	assert_int_equal(count_bridge_ports(), 0);

	/* Setting up a replica that already exists fails at the veth and does
	 * not disturb the running one. */
	r = replica("twice", 0, ip, dir);
	setup_ok(&r);
	assert_int_equal(net_replica_setup(&r, NULL, &err), -1);
	char ifname[NET_IFNAME_MAX + 1];
	host_if("twice", 0, ifname);
	want = zl_xasprintf("create veth %s: File exists", ifname);
	if (!strstr(err.msg, want))
		fail_msg("unexpected error: %s", err.msg);
	free(want);
	ns = ns_name("twice", 0);
	assert_true(net_netns_exists(ns));
	free(ns);
	if (!ping(NULL, ip))
		fail_msg("the first replica lost its network after a failed second setup");
	teardown_ok("twice", 0);
	assert_replica_gone("twice", 0);
	assert_int_equal(count_our_netns(), 0);

	free(bad_dir);
	free(file);
	free(dir);
}

static void test_hundred_replicas(void **state)
{
	(void)state;
	struct zl_err err = ZL_ERR_INIT;
	uint32_t used[MANY] = { 0 };
	int64_t setup_us[MANY], teardown_us[MANY];
	struct timespec t0, t1;
	for (int i = 0; i < MANY; i++) {
		assert_int_equal(net_ipam_pick(&env.subnet, used, (size_t)i, &used[i], &err), 0);
		for (int j = 0; j < i; j++)
			assert_int_not_equal(used[i], used[j]);
		char *dir = run_dir("many", i);
		struct net_replica r = replica("many", i, used[i], dir);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		setup_ok(&r);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		setup_us[i] = (t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
		free(dir);
	}
	assert_int_equal(count_our_netns(), MANY);
	assert_int_equal(count_bridge_ports(), MANY);
	/* Each namespace's eth0 has exactly the address it was given. */
	for (int i = 0; i < MANY; i++) {
		char ip[NET_IPV4_STRLEN];
		ipstr(used[i], ip);
		char *ns = ns_name("many", i);
		char *want = zl_xasprintf("inet %s/24 ", ip);
		assert_true(output_has(want, "ip -n %s -4 -o addr show dev eth0", ns));
		free(want);
		free(ns);
	}
	/* First and last talk across the bridge. */
	char *last = ns_name("many", MANY - 1);
	if (!ping(last, used[0]))
		fail_msg("%s cannot reach the first replica", last);
	free(last);

	for (int i = 0; i < MANY; i++) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		teardown_ok("many", i);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		teardown_us[i] = (t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
	}
	for (int i = 0; i < MANY; i++)
		assert_replica_gone("many", i);
	assert_int_equal(count_our_netns(), 0);
	assert_int_equal(count_bridge_ports(), 0);

	int64_t s_sum = 0, s_max = 0, t_sum = 0, t_max = 0;
	for (int i = 0; i < MANY; i++) {
		s_sum += setup_us[i];
		t_sum += teardown_us[i];
		s_max = setup_us[i] > s_max ? setup_us[i] : s_max;
		t_max = teardown_us[i] > t_max ? teardown_us[i] : t_max;
	}
	print_message("%d replicas: setup avg %.2f ms (max %.2f), teardown avg %.2f ms (max %.2f)\n",
		      MANY, (double)s_sum / MANY / 1000.0, (double)s_max / 1000.0,
		      (double)t_sum / MANY / 1000.0, (double)t_max / 1000.0);
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "test_net needs root (network namespaces, bridges)\n");
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bridge_ensure_is_idempotent, test_setup,
						test_teardown),
		cmocka_unit_test_setup_teardown(test_netns_create_delete_list, test_setup,
						test_teardown),
		cmocka_unit_test_setup_teardown(test_two_replicas_reach_each_other_and_the_host,
						test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_loopback_only_host_resolver, test_setup,
						test_teardown),
		cmocka_unit_test_setup_teardown(test_setup_failures_leave_nothing_behind, test_setup,
						test_teardown),
		cmocka_unit_test_setup_teardown(test_hundred_replicas, test_setup, test_teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
