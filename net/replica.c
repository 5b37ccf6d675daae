/* replica.c: one replica's network: a named netns, a veth pair joining it
 * to the bridge, its address and default route, and the resolv.conf and
 * hosts files the container gets. Setup either completes or removes what it
 * made; teardown is idempotent (remove, crash recovery). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "net-internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#define HOST_RESOLV_CONF "/etc/resolv.conf"

/* ---- checking input ---- */

/* Hostnames and extra-host names end up in /etc/hosts: one word of letters,
 * digits, '.', '-' and '_'. */
static bool valid_hostname(const char *s)
{
	size_t len = s ? strlen(s) : 0;
	if (len == 0 || len > 253)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == '_'))
			return false;
	return true;
}

static bool valid_ip_text(const char *s)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static bool is_loopback_text(const char *s)
{
	struct in_addr a4;
	struct in6_addr a6;
	if (inet_pton(AF_INET, s, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return inet_pton(AF_INET6, s, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

static int check_replica(const struct net_replica *r, struct zl_err *err)
{
	if (!r->deployment || !*r->deployment || !r->service || !*r->service || r->index < 0)
		return zl_invalid(err, "replica needs a deployment, a service and an index >= 0");
	if (!r->bridge || !r->run_dir || !*r->run_dir)
		return zl_invalid(err, "replica needs a bridge and a run directory");
	if (!net_subnet_is_host(&r->subnet, r->ip)) {
		char ip[NET_IPV4_STRLEN], cidr[NET_CIDR_STRLEN];
		net_ipv4_format(r->ip, ip);
		net_subnet_format(&r->subnet, cidr);
		return zl_invalid(err, "address %s is not a host address of subnet %s", ip, cidr);
	}
	if (r->hostname && !valid_hostname(r->hostname))
		return zl_invalid(err, "hostname \"%s\" is not valid (letters, digits, '.', '-', '_')",
				  r->hostname);
	for (size_t i = 0; i < r->n_dns; i++)
		if (!r->dns[i] || !valid_ip_text(r->dns[i]))
			return zl_invalid(err, "dns server \"%s\" is not an IP address",
					  r->dns[i] ? r->dns[i] : "");
	for (size_t i = 0; i < r->n_extra_hosts; i++) {
		const char *entry = r->extra_hosts[i] ? r->extra_hosts[i] : "";
		const char *colon = strchr(entry, ':');
		_cleanup_free_ char *name = colon ? zl_xstrndup(entry, (size_t)(colon - entry)) : NULL;
		if (!colon || !valid_hostname(name) ||
		    (strcmp(colon + 1, "host-gateway") != 0 && !valid_ip_text(colon + 1)))
			return zl_invalid(err, "extra host \"%s\": expected name:ip", entry);
	}
	return 0;
}

/* ---- resolv.conf and hosts ---- */

/* Nameservers from dns[], else the host's minus loopback ones; search,
 * domain and options lines come from the host's file either way. */
static char *render_resolv_conf(const struct net_replica *r)
{
	const char *src = r->host_resolv_conf ? r->host_resolv_conf : HOST_RESOLV_CONF;
	_cleanup_free_ char *host = NULL;
	size_t len;
	struct zl_err ignored = ZL_ERR_INIT;
	/* A host without resolv.conf just gives no nameservers and no search. */
	(void)zl_read_file(src, &host, &len, &ignored);

	struct zl_buf out = { 0 };
	struct zl_buf servers = { 0 };
	size_t n_servers = 0, n_skipped = 0;
	zl_buf_puts(&out, "# written by zlapply\n");
	for (size_t i = 0; i < r->n_dns; i++) {
		zl_buf_printf(&servers, "nameserver %s\n", r->dns[i]);
		n_servers++;
	}
	for (char *save = NULL, *line = host ? strtok_r(host, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		char word[16], value[256];
		if (sscanf(line, " %15s %255s", word, value) != 2)
			continue;
		if (strcmp(word, "nameserver") == 0) {
			if (r->n_dns > 0)
				continue;
			if (is_loopback_text(value)) {
				n_skipped++;
				continue;
			}
			zl_buf_printf(&servers, "nameserver %s\n", value);
			n_servers++;
		} else if (strcmp(word, "search") == 0 || strcmp(word, "domain") == 0 ||
			   strcmp(word, "options") == 0) {
			zl_buf_printf(&out, "%s\n", line);
		}
	}
	if (n_servers == 0)
		zl_buf_printf(&out,
			      "# no nameserver: the host's %s lists %s; a resolver on the host's "
			      "loopback is unreachable from the container network. Set dns: in the "
			      "spec.\n",
			      src, n_skipped ? "only loopback ones (127.0.0.0/8, ::1)" : "none");
	if (servers.data)
		zl_buf_puts(&out, servers.data);
	zl_buf_free(&servers);
	return zl_buf_steal(&out);
}

static char *render_hosts(const struct net_replica *r)
{
	struct zl_buf out = { 0 };
	char ip[NET_IPV4_STRLEN], gw[NET_IPV4_STRLEN];
	net_ipv4_format(r->ip, ip);
	net_ipv4_format(net_subnet_gateway(&r->subnet), gw);
	zl_buf_puts(&out, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
	zl_buf_printf(&out, "%s\t%s\n", ip, r->hostname ? r->hostname : r->service);
	for (size_t i = 0; i < r->n_extra_hosts; i++) {
		const char *colon = strchr(r->extra_hosts[i], ':');
		const char *addr = strcmp(colon + 1, "host-gateway") == 0 ? gw : colon + 1;
		zl_buf_printf(&out, "%s\t%.*s\n", addr, (int)(colon - r->extra_hosts[i]),
			      r->extra_hosts[i]);
	}
	_cleanup_free_ char *base = zl_buf_steal(&out);
	return net_hosts_with_names(base, r->names);
}

/* ---- setup and teardown ---- */

struct undo {
	bool netns;
	bool veth;
	char *files[2];
};

static void undo_setup(struct nl_sock *host_nl, const char *ns, const char *host_if,
		       struct undo *u)
{
	struct zl_err ignored = ZL_ERR_INIT;
	/* Best effort on the way out: the original error is what gets reported.
	 * Deleting the host end removes the peer inside the netns too. */
	if (u->veth)
		(void)nl_link_delete(host_nl, host_if, &ignored);
	if (u->netns)
		(void)net_netns_delete(ns, &ignored);
	for (size_t i = 0; i < 2; i++)
		if (u->files[i])
			(void)unlink(u->files[i]);
}

void net_replica_mac(uint32_t ip, unsigned char mac[6])
{
	const unsigned char m[6] = { 0x02, 0x42, (unsigned char)(ip >> 24), (unsigned char)(ip >> 16),
				     (unsigned char)(ip >> 8), (unsigned char)ip };
	memcpy(mac, m, sizeof(m));
}

int net_replica_setup(const struct net_replica *r, char **netns_path, struct zl_err *err)
{
	struct zl_err e = ZL_ERR_INIT;
	if (check_replica(r, &e) < 0) {
		zl_err_prefix(&e, "set up network of %s/%s-%d", r->deployment ? r->deployment : "",
			      r->service ? r->service : "", r->index);
		return net_err_out(err, &e);
	}
	_cleanup_free_ char *ns = net_netns_name(r->deployment, r->service, r->index);
	char host_if[NET_IFNAME_MAX + 1];
	net_ifname("zlh", r->deployment, r->service, r->index, host_if);
	uint32_t gateway = net_subnet_gateway(&r->subnet);
	_cleanup_free_ char *resolv = render_resolv_conf(r);
	_cleanup_free_ char *hosts = render_hosts(r);
	_cleanup_free_ char *resolv_path = zl_xasprintf("%s/resolv.conf", r->run_dir);
	_cleanup_free_ char *hosts_path = zl_xasprintf("%s/hosts", r->run_dir);

	struct undo u = { 0 };
	_cleanup_nl_ struct nl_sock host_nl = NL_SOCK_INIT;
	_cleanup_nl_ struct nl_sock ns_nl = NL_SOCK_INIT;
	_cleanup_close_ int ns_fd = -1;
	struct nl_link bridge;

	if (nl_open(&host_nl, -1, &e) < 0)
		goto fail;
	/* Checked first so a missing bridge creates nothing at all. */
	if (nl_link_get(&host_nl, r->bridge, &bridge, &e) < 0) {
		if (e.sys_errno == ENODEV)
			zl_fail(&e, "bridge %s does not exist", r->bridge);
		goto fail;
	}
	if (strcmp(bridge.kind, "bridge") != 0) {
		zl_fail(&e, "link %s is not a bridge (kind %s)", r->bridge,
			net_link_kind_text(bridge.kind));
		goto fail;
	}
	if (netns_create(ns, &u.netns, &e) < 0)
		goto fail;
	if ((ns_fd = netns_open(ns, &e)) < 0)
		goto fail;
	/* The peer is born inside the netns as eth0: it never shows in the
	 * host. Its MAC follows from its address (02:42:a.b.c.d, as Docker
	 * does), so a replica recreated with the same address answers with the
	 * same MAC and the host's and its peers' ARP caches stay right: no
	 * connection stalls on a stale neighbour entry after a rolling update. */
	unsigned char mac[6];
	net_replica_mac(r->ip, mac);
	if (nl_veth_create(&host_nl, host_if, "eth0", ns_fd, mac, &e) < 0)
		goto fail;
	u.veth = true;
	if (nl_link_set_master(&host_nl, host_if, r->bridge, &e) < 0 ||
	    nl_link_set_up(&host_nl, host_if, true, &e) < 0)
		goto fail;
	if (nl_open(&ns_nl, ns_fd, &e) < 0) {
		zl_err_prefix(&e, "netlink socket in netns %s", ns);
		goto fail;
	}
	if (nl_link_set_up(&ns_nl, "lo", true, &e) < 0 ||
	    nl_addr_add(&ns_nl, "eth0", r->ip, r->subnet.prefix, &e) < 0 ||
	    nl_link_set_up(&ns_nl, "eth0", true, &e) < 0 ||
	    nl_route_add_default(&ns_nl, "eth0", gateway, &e) < 0)
		goto fail;
	if (!r->keep_files) {
		if (zl_mkdir_p(r->run_dir, 0755, &e) < 0)
			goto fail;
		if (zl_write_file_atomic(resolv_path, resolv, strlen(resolv), 0644, &e) < 0)
			goto fail;
		u.files[0] = resolv_path;
		if (zl_write_file_atomic(hosts_path, hosts, strlen(hosts), 0644, &e) < 0)
			goto fail;
		u.files[1] = hosts_path;
	}
	if (netns_path)
		*netns_path = zl_xasprintf("%s/%s", NET_NETNS_DIR, ns);
	return 0;
fail:
	undo_setup(&host_nl, ns, host_if, &u);
	zl_err_prefix(&e, "set up network of %s", ns);
	return net_err_out(err, &e);
}

int net_replica_teardown(const char *deployment, const char *service, int index,
			 struct zl_err *err)
{
	struct zl_err e = ZL_ERR_INIT;
	_cleanup_free_ char *ns = net_netns_name(deployment, service, index);
	char host_if[NET_IFNAME_MAX + 1];
	net_ifname("zlh", deployment, service, index, host_if);
	_cleanup_nl_ struct nl_sock nl = NL_SOCK_INIT;
	if (nl_open(&nl, -1, &e) < 0)
		goto fail;
	/* The peer (eth0 in the netns) goes with the host end. */
	if (nl_link_delete(&nl, host_if, &e) < 0 && e.sys_errno != ENODEV)
		goto fail;
	if (net_netns_delete(ns, &e) < 0)
		goto fail;
	return 0;
fail:
	zl_err_prefix(&e, "tear down network of %s", ns);
	return net_err_out(err, &e);
}
