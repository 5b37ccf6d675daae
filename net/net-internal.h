/* net-internal.h: what the files of net/ share and nobody else uses: the
 * rtnetlink client (netlink.c) and namespace helpers (netns.c).
 *
 * Every nl_* operation sends one request with NLM_F_ACK and waits for the
 * kernel's answer; a failure fills err as "<operation>: <strerror>" (plus the
 * kernel's extended-ack text when it gave one) with err->sys_errno set to
 * the kernel's errno, so callers can test for ENODEV or EEXIST. */
#ifndef ZL_NET_INTERNAL_H
#define ZL_NET_INTERNAL_H

#include "net.h"

/* Copies a local error out to the caller's (which may be NULL); returns -1.
 * Functions that tolerate some errnos work on a local struct zl_err so they
 * can look at sys_errno even when the caller passed NULL. */
static inline int net_err_out(struct zl_err *err, const struct zl_err *local)
{
	if (err)
		*err = *local;
	return -1;
}

/* A NETLINK_ROUTE socket. It stays bound to the network namespace it was
 * created in, which is how we talk to a replica's netns without moving the
 * calling thread for longer than one socket() call. */
struct nl_sock {
	int fd;
	uint32_t seq;
};
#define NL_SOCK_INIT { -1, 0 }

/* netns_fd < 0: the caller's namespace. */
int nl_open(struct nl_sock *s, int netns_fd, struct zl_err *err);
void nl_close(struct nl_sock *s);
static inline void nl_closep(struct nl_sock *s) { nl_close(s); }
#define _cleanup_nl_ __attribute__((cleanup(nl_closep)))

struct nl_link {
	int index;
	unsigned flags;   /* IFF_* */
	int master;       /* ifindex of the master, 0 if none */
	char kind[32];    /* IFLA_INFO_KIND ("bridge", "veth"), "" if none */
};

/* A link's kind for messages, also when it has none. */
static inline const char *net_link_kind_text(const char *kind)
{
	return kind[0] ? kind : "none: a physical or loopback device";
}

/* The rules published ports add that name a bridge (ports.c adds them,
 * net_bridge_teardown() in nat.c removes them): table, chain, and the rule
 * after -A/-D CHAIN (NULL-terminated). */
struct net_bridge_rule {
	const char *table, *chain;
	const char *args[16];
};
#define NET_BRIDGE_RULES 3
void net_bridge_rules(const char *bridge, struct net_bridge_rule out[NET_BRIDGE_RULES]);

/* Missing link: -1 with err->sys_errno == ENODEV. */
int nl_link_get(struct nl_sock *s, const char *name, struct nl_link *out, struct zl_err *err);
int nl_bridge_create(struct nl_sock *s, const char *name, struct zl_err *err);
/* Creates host (in s's namespace) and its peer directly inside the
 * namespace peer_netns_fd, so the peer is never visible in the host; the
 * peer gets peer_mac (NULL: one the kernel picks). */
int nl_veth_create(struct nl_sock *s, const char *host, const char *peer, int peer_netns_fd,
		   const unsigned char peer_mac[6], struct zl_err *err);
int nl_link_set_master(struct nl_sock *s, const char *name, const char *master,
		       struct zl_err *err);
int nl_link_set_up(struct nl_sock *s, const char *name, bool up, struct zl_err *err);
int nl_link_rename(struct nl_sock *s, const char *name, const char *new_name,
		   struct zl_err *err);
/* Missing link: -1 with err->sys_errno == ENODEV. */
int nl_link_delete(struct nl_sock *s, const char *name, struct zl_err *err);
/* Adds ip/prefix (with broadcast) to the link. Exists: EEXIST. */
int nl_addr_add(struct nl_sock *s, const char *name, uint32_t ip, int prefix,
		struct zl_err *err);
/* Adds 0.0.0.0/0 via gateway out of the link, table main. */
int nl_route_add_default(struct nl_sock *s, const char *name, uint32_t gateway,
			 struct zl_err *err);

/* netns.c: opens /run/netns/NAME (O_RDONLY|O_CLOEXEC). */
int netns_open(const char *name, struct zl_err *err);
/* Like net_netns_create; *created tells whether this call made it. */
int netns_create(const char *name, bool *created, struct zl_err *err);

#endif
