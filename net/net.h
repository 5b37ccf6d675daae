/* net.h: per-replica networking on one Linux host, spoken to the kernel
 * directly over rtnetlink (no libnl, no `ip`).
 *
 * - subnets and IP address management (pure: the lease table lives in the
 *   state database; net_ipam_pick only chooses from what the caller says is
 *   used),
 * - named network namespaces under /run/netns (what `ip netns add` makes,
 *   so runc can join them by path),
 * - the bridge (default "zl0" with 10.213.0.0/16, gateway = first host),
 * - per replica: netns + veth pair (host end on the bridge, container end
 *   "eth0"), address, lo up, default route via the gateway, and the
 *   resolv.conf and hosts files the container gets bind-mounted.
 *
 * IPv4 addresses are uint32_t in host byte order (10.213.0.1 == 0x0ad50001).
 * NAT and published ports use iptables (nat.c, ports.c).
 */
#ifndef ZL_NET_H
#define ZL_NET_H

#include "common/common.h"

#define NET_IFNAME_MAX 15
/* "<prefix><10 hex of sha256(deployment/service/index)>", at most 15 chars;
 * prefix is at most 4 characters (e.g. "zlh" host end, "zlc" container end). */
void net_ifname(const char *prefix, const char *deployment, const char *service, int index,
		char out[NET_IFNAME_MAX + 1]);

/* ---- subnets and addresses (subnet.c) ---- */

#define NET_DEFAULT_SUBNET "10.213.0.0/16" /* clear of podman 10.88/16, docker 172.17/16 */
#define NET_DEFAULT_BRIDGE "zl0"
#define NET_IPV4_STRLEN 16 /* "255.255.255.255" + NUL */
#define NET_CIDR_STRLEN 19 /* "255.255.255.255/32" + NUL */

struct net_subnet {
	uint32_t network; /* aligned to prefix */
	int prefix;       /* 8..30 */
};
/* NET_DEFAULT_SUBNET, already parsed. */
#define NET_DEFAULT_SUBNET_VALUE ((struct net_subnet){ .network = 0x0ad50000u, .prefix = 16 })

/* Parses "a.b.c.d/len" (len 8..30). The address must be the network address
 * ("10.1.2.3/24" is an error suggesting 10.1.2.0/24); subnets overlapping
 * 0.0.0.0/8, 127.0.0.0/8, multicast 224.0.0.0/4 or reserved/broadcast
 * 240.0.0.0/4 are rejected. Errors are ZL_ERR_INPUT. */
int net_subnet_parse(const char *cidr, struct net_subnet *out, struct zl_err *err);
uint32_t net_subnet_mask(const struct net_subnet *s);
uint32_t net_subnet_broadcast(const struct net_subnet *s);
/* The first host address; it lives on the bridge. */
uint32_t net_subnet_gateway(const struct net_subnet *s);
bool net_subnet_contains(const struct net_subnet *s, uint32_t ip);
/* True for an address a replica may get: inside, and not the network,
 * gateway or broadcast address. */
bool net_subnet_is_host(const struct net_subnet *s, uint32_t ip);
void net_subnet_format(const struct net_subnet *s, char out[NET_CIDR_STRLEN]);

/* Strict dotted quad (no leading zeros, no missing parts). ZL_ERR_INPUT. */
int net_ipv4_parse(const char *text, uint32_t *out, struct zl_err *err);
void net_ipv4_format(uint32_t ip, char out[NET_IPV4_STRLEN]);

/* The lowest host address of s not in used[] (any order; addresses outside
 * s are ignored). Fails with "subnet X is full" when there is none. */
int net_ipam_pick(const struct net_subnet *s, const uint32_t *used, size_t n_used,
		  uint32_t *out, struct zl_err *err);

/* ---- network namespaces (netns.c) ---- */

#define NET_NETNS_DIR "/run/netns"

/* "zl-<deployment>-<service>-<index>"; caller frees. */
char *net_netns_name(const char *deployment, const char *service, int index);
/* Like `ip netns add NAME`: /run/netns made a shared mount, NAME bind-mounted
 * to a new network namespace. Existing NAME that is already a namespace is
 * success. *path (may be NULL) gets "/run/netns/NAME"; caller frees. */
int net_netns_create(const char *name, char **path, struct zl_err *err);
/* Unmounts (lazily) and unlinks /run/netns/NAME; missing is success. */
int net_netns_delete(const char *name, struct zl_err *err);
bool net_netns_exists(const char *name);
/* Names under /run/netns, sorted; missing directory gives none. Caller
 * frees with net_names_free(). */
int net_netns_list(char ***names, size_t *n, struct zl_err *err);
void net_names_free(char **names, size_t n);

/* ---- the bridge (bridge.c) ---- */

/* Idempotent: creates the bridge if missing (an existing link of another
 * kind is an error), puts the gateway address gateway/prefix on it if
 * missing, sets it up, and turns on /proc/sys/net/ipv4/ip_forward. */
int net_bridge_ensure(const char *bridge, const struct net_subnet *s, struct zl_err *err);
/* Same as net_subnet_gateway(): the address the bridge carries. */
uint32_t net_bridge_gateway(const struct net_subnet *s);
/* Deletes the bridge; missing is success. Ports stay (detached). */
int net_bridge_delete(const char *bridge, struct zl_err *err);
bool net_link_exists(const char *ifname);

/* ---- per replica (replica.c) ---- */

struct net_replica {
	const char *deployment;
	const char *service;
	int index;
	const char *bridge;              /* must exist (net_bridge_ensure) */
	struct net_subnet subnet;        /* the bridge's subnet */
	uint32_t ip;                     /* a host address of subnet */
	const char *const *dns;          /* nameservers; none: the host's */
	size_t n_dns;
	const char *const *extra_hosts;  /* "name:ip"; ip "host-gateway" = gateway */
	size_t n_extra_hosts;
	const char *hostname;            /* written to hosts with ip */
	const char *run_dir;             /* gets resolv.conf and hosts (created) */
	const char *host_resolv_conf;    /* NULL: /etc/resolv.conf */
	bool keep_files;                 /* run_dir's resolv.conf and hosts exist: leave them
					  * (the namespace is made again after a reboot) */
	const char *names;               /* hosts lines of service names (net_hosts_set_names);
					  * NULL: none yet */
};

/* The MAC of a replica's eth0 on the bridge: 02:42 and its IPv4 address
 * (Docker's rule), the same whenever the replica gets that address. */
void net_replica_mac(uint32_t ip, unsigned char mac[6]);

/* Creates netns net_netns_name(...), a veth pair with host end
 * net_ifname("zlh", ...) on the bridge and the peer made directly inside the
 * netns as "eth0", ip/prefix on eth0, lo and eth0 up, a default route via
 * the gateway, and run_dir/resolv.conf and run_dir/hosts. Nameservers come
 * from dns[], else from the host's resolv.conf minus loopback ones (a
 * loopback resolver is unreachable from the netns).
 * On failure everything this call created is removed again and the error
 * names the step. *netns_path (may be NULL) gets the namespace's path;
 * caller frees. */
int net_replica_setup(const struct net_replica *r, char **netns_path, struct zl_err *err);
/* Idempotent: deletes the host veth (the peer dies with it) and the netns;
 * missing pieces are success. */
int net_replica_teardown(const char *deployment, const char *service, int index,
			 struct zl_err *err);

/* ---- service names in a replica's hosts file (hosts.c) ---- */
/* base's lines up to the names section (all of base when it has none),
 * then the section's mark and names (hosts lines, each ending in '\n').
 * Caller frees. */
char *net_hosts_with_names(const char *base, const char *names);
/* Replaces the names section of the hosts file at path with names, in
 * place (the file may be bind-mounted into a running replica: a rename
 * would not reach it), and only when the text differs; *changed (may be
 * NULL) says whether it was written. A reader may, for an instant, see the
 * new lines followed by the old file's tail until the truncate. */
int net_hosts_set_names(const char *path, const char *names, bool *changed, struct zl_err *err);

/* ---- iptables (nat.c) ---- */
/* Masquerading for the subnet's traffic leaving through other interfaces,
 * so replicas reach what the host reaches. Idempotent. */
int net_masquerade_ensure(const char *bridge, const struct net_subnet *s, struct zl_err *err);
/* Does anything hang on the bridge (a replica's veth)? */
bool net_bridge_has_ports(const char *bridge);
/* Removes what a bridge brought: the masquerading of its subnet, the
 * loopback masquerading and forward rules naming it, and the bridge. */
int net_bridge_teardown(const char *bridge, const struct net_subnet *s, struct zl_err *err);
/* Appends rule to table/chain unless an identical rule exists. */
int net_rule_ensure(const char *table, const char *chain, const char *const *rule,
		    struct zl_err *err);
/* Runs iptables -w ARGS...; *status is its exit code, out (may be NULL) its output. */
int net_iptables(const char *const *args, int *status, struct zl_buf *out, struct zl_err *err);

/* ---- published ports (ports.c) ---- */
/* One published port: host_ip:host_port -> target_port on each replica. */
struct net_port {
	uint32_t host_ip; /* 0 = every local address (0.0.0.0) */
	int host_port;    /* 1..65535 */
	int target_port;  /* in the replica */
	bool udp;         /* else tcp */
};
const char *net_port_proto(const struct net_port *p); /* "tcp" / "udp" */

#define NET_CHAIN_MAX 29 /* iptables chain names: 28 characters */
/* "ZLP-<16 hex of sha256(scope, deployment/service)>": the service's own
 * nat chain. scope (the state root) keeps two roots on one host apart. */
void net_ports_chain(const char *scope, const char *deployment, const char *service,
		     char out[NET_CHAIN_MAX]);
/* The iptables-restore text net_ports_sync() loads: the service's chain
 * with a DNAT rule per port and replica (round robin with statistic nth),
 * each tagged "zlapply:<deployment>/<service>". "" when n or n_ips is 0.
 * Caller frees. Pure: used to tell whether the kernel needs touching. */
char *net_ports_render(const char *scope, const char *deployment, const char *service,
		       const struct net_port *ports, size_t n, const char *const *replica_ips,
		       size_t n_ips);
/* Makes the service's published ports exactly ports[] -> replica_ips[]:
 * ensures zlapply's chains (ZLAPPLY-DNAT from PREROUTING and OUTPUT for
 * local destinations, ZLAPPLY-POSTROUTING with a MASQUERADE of 127.0.0.0/8
 * out of bridge, route_localnet on bridge, FORWARD accepts), replaces the
 * service's chain in one iptables-restore transaction and jumps to it.
 * n or n_ips 0 removes them (net_ports_remove). */
int net_ports_sync(const char *scope, const char *deployment, const char *service,
		   const struct net_port *ports, size_t n, const char *const *replica_ips,
		   size_t n_ips, const char *bridge, struct zl_err *err);
/* Idempotent: the service's jump, chain and rules go; missing is success. */
int net_ports_remove(const char *scope, const char *deployment, const char *service,
		     struct zl_err *err);
/* Services that have tagged rules in the nat table, one entry per chain. */
struct net_ports_owner {
	char *deployment, *service;
	char *chain; /* compare with net_ports_chain() to know the scope */
};
int net_ports_list(struct net_ports_owner **owners, size_t *n, struct zl_err *err);
void net_ports_owners_free(struct net_ports_owner *owners, size_t n);
/* 0 when host_ip:port/proto can be bound; otherwise "port 8080/tcp on
 * 0.0.0.0 is already in use (by pid N, COMM)" (the owner from /proc/net
 * and /proc/<pid>/fd, when it can be told). */
int net_port_check_free(uint32_t host_ip, int port, bool udp, struct zl_err *err);
/* A port the kernel calls free right now (bind to port 0). */
int net_port_pick_ephemeral(uint32_t host_ip, bool udp, int *port, struct zl_err *err);

/* ---- host interfaces by name (links.c) ---- */
/* Interfaces whose name starts with prefix, sorted; free with net_names_free. */
int net_links_list(const char *prefix, char ***names, size_t *n, struct zl_err *err);
/* Deletes the link; missing is success. */
int net_link_delete(const char *ifname, struct zl_err *err);

#endif
