/* netlink.c: a small rtnetlink client: build one request, send it with
 * NLM_F_ACK, read the reply and the kernel's ack, and turn a NLMSG_ERROR
 * into a zl_err naming the operation ("create veth zlh1234abcd: File
 * exists"). Link, address and route operations are built on it.
 * No libnl or libmnl: only the kernel's uapi headers. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "net-internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define NL_MSG_MAX 4096
#define NL_RECV_MAX 32768

struct nl_msg {
	union {
		struct nlmsghdr h;
		char buf[NL_MSG_MAX];
	};
};

/* ---- building requests ---- */

/* Starts a request of type with flags (NLM_F_REQUEST|NLM_F_ACK added) and a
 * zeroed family header of hdr_len bytes, which is returned. */
static void *msg_init(struct nl_msg *m, uint16_t type, uint16_t flags, size_t hdr_len)
{
	memset(m, 0, sizeof(*m));
	m->h.nlmsg_len = NLMSG_LENGTH(hdr_len);
	m->h.nlmsg_type = type;
	m->h.nlmsg_flags = (uint16_t)(flags | NLM_F_REQUEST | NLM_F_ACK);
	return NLMSG_DATA(&m->h);
}

/* Appends len raw bytes, aligned; returns where they went. */
static void *msg_append(struct nl_msg *m, const void *data, size_t len)
{
	size_t off = NLMSG_ALIGN(m->h.nlmsg_len);
	if (off + RTA_ALIGN(len) > sizeof(m->buf)) {
		/* Requests are built from bounded names: this is a bug. */
		zl_log(ZL_LOG_ERROR, "netlink request larger than %d bytes", NL_MSG_MAX);
		abort();
	}
	char *p = m->buf + off;
	if (len)
		memcpy(p, data, len);
	m->h.nlmsg_len = (uint32_t)(off + RTA_ALIGN(len));
	return p;
}

static struct rtattr *msg_put(struct nl_msg *m, unsigned short type, const void *data,
			      size_t len)
{
	struct rtattr hdr = { .rta_len = (unsigned short)RTA_LENGTH(len), .rta_type = type };
	struct rtattr *rta = msg_append(m, &hdr, sizeof(hdr));
	if (len)
		msg_append(m, data, len);
	return rta;
}

static void msg_put_str(struct nl_msg *m, unsigned short type, const char *s)
{
	msg_put(m, type, s, strlen(s) + 1);
}

static void msg_put_u32(struct nl_msg *m, unsigned short type, uint32_t v)
{
	msg_put(m, type, &v, sizeof(v));
}

static struct rtattr *nest_begin(struct nl_msg *m, unsigned short type)
{
	return msg_put(m, type, NULL, 0);
}

static void nest_end(struct nl_msg *m, struct rtattr *nest)
{
	nest->rta_len = (unsigned short)(m->buf + m->h.nlmsg_len - (char *)nest);
}

/* ---- the request/ack exchange ---- */

typedef void (*nl_reply_fn)(const struct nlmsghdr *h, void *arg);

/* The kernel's extended-ack message, if it attached one. */
static const char *extack_msg(const struct nlmsghdr *h)
{
	if (!(h->nlmsg_flags & NLM_F_ACK_TLVS))
		return NULL;
	const struct nlmsgerr *e = NLMSG_DATA(h);
	size_t off = NLMSG_HDRLEN + sizeof(*e);
	if (!(h->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - NLMSG_HDRLEN;
	off = NLMSG_ALIGN(off);
	const char *base = (const char *)h;
	while (off + sizeof(struct nlattr) <= h->nlmsg_len) {
		const struct nlattr *a = (const struct nlattr *)(base + off);
		if (a->nla_len < sizeof(*a) || off + a->nla_len > h->nlmsg_len)
			break;
		if ((a->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG &&
		    a->nla_len > sizeof(*a)) {
			const char *msg = (const char *)a + NLA_HDRLEN;
			if (memchr(msg, '\0', a->nla_len - NLA_HDRLEN))
				return msg;
		}
		off += NLA_ALIGN(a->nla_len);
	}
	return NULL;
}

/* Sends m and reads until the ack (or NLMSG_DONE for a dump), passing every
 * other reply of this request to fn. A kernel error fills err with op. */

/* The message after h, with *left reduced by h's aligned length; when
 * that length is more than what is left (a malformed last message: the
 * kernel pads), *left becomes 0 and NLMSG_OK ends the walk. NLMSG_NEXT
 * would wrap a size_t and walk past the data. */
static struct nlmsghdr *next_message(struct nlmsghdr *h, size_t *left)
{
	size_t step = NLMSG_ALIGN(h->nlmsg_len);
	if (step >= *left) {
		*left = 0;
		return h;
	}
	*left -= step;
	return (struct nlmsghdr *)((char *)h + step);
}

static int transact(struct nl_sock *s, struct nl_msg *m, nl_reply_fn fn, void *arg,
		    const char *op, struct zl_err *err)
{
	uint32_t seq = ++s->seq;
	m->h.nlmsg_seq = seq;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	ssize_t sent;
	do
		sent = sendto(s->fd, m->buf, m->h.nlmsg_len, 0, (struct sockaddr *)&kernel,
			      sizeof(kernel));
	while (sent < 0 && errno == EINTR);
	if (sent < 0)
		return zl_fail_errno(err, "%s: netlink send", op);

	static _Thread_local union {
		struct nlmsghdr h;
		char buf[NL_RECV_MAX];
	} in;
	for (;;) {
		ssize_t n = recv(s->fd, in.buf, sizeof(in.buf), MSG_TRUNC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return zl_fail_errno(err, "%s: netlink receive", op);
		if ((size_t)n > sizeof(in.buf))
			return zl_fail(err, "%s: netlink reply truncated (%zd bytes)", op, n);
		size_t left = (size_t)n;
		for (struct nlmsghdr *h = &in.h; NLMSG_OK(h, left); h = next_message(h, &left)) {
			if (h->nlmsg_seq != seq)
				continue; /* a late answer to an earlier request */
			if (h->nlmsg_type == NLMSG_DONE)
				return 0;
			if (h->nlmsg_type != NLMSG_ERROR) {
				if (fn)
					fn(h, arg);
				continue;
			}
			if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr)))
				return zl_fail(err, "%s: short netlink error message", op);
			const struct nlmsgerr *e = NLMSG_DATA(h);
			if (e->error == 0)
				return 0;
			/* The kernel sends -errno; anything else is no errno. */
			int errno_value = e->error < 0 && e->error > -4096 ? -e->error : EPROTO;
			zl_err_set(err, ZL_ERR_FAIL, errno_value, "%s", op);
			const char *why = extack_msg(h);
			if (why && err) {
				size_t used = strlen(err->msg);
				snprintf(err->msg + used, sizeof(err->msg) - used, " (%s)", why);
			}
			return -1;
		}
	}
}

/* ---- sockets ---- */

void nl_close(struct nl_sock *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

static int open_socket(struct zl_err *err)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return zl_fail_errno(err, "open netlink socket");
	int one = 1;
	/* Both are optional: without them errors just lack the kernel's text. */
	(void)setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	(void)setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	struct sockaddr_nl local = { .nl_family = AF_NETLINK };
	if (bind(fd, (struct sockaddr *)&local, sizeof(local)) < 0) {
		zl_fail_errno(err, "bind netlink socket");
		close(fd);
		return -1;
	}
	return fd;
}

int nl_open(struct nl_sock *s, int netns_fd, struct zl_err *err)
{
	s->seq = 0;
	s->fd = -1;
	if (netns_fd < 0) {
		s->fd = open_socket(err);
		return s->fd < 0 ? -1 : 0;
	}
	/* A socket belongs to the namespace it was created in: enter the target
	 * namespace in this thread only for the socket() call. */
	_cleanup_close_ int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return zl_fail_errno(err, "open /proc/thread-self/ns/net");
	if (setns(netns_fd, CLONE_NEWNET) < 0)
		return zl_fail_errno(err, "enter network namespace");
	s->fd = open_socket(err);
	if (setns(self, CLONE_NEWNET) < 0) {
		/* The thread would keep running in the replica's namespace. */
		zl_log(ZL_LOG_ERROR, "cannot return to the original network namespace: %s",
		       strerror(errno));
		abort();
	}
	return s->fd < 0 ? -1 : 0;
}

/* ---- links ---- */

static int check_ifname(const char *name, const char *op, struct zl_err *err)
{
	size_t len = name ? strlen(name) : 0;
	if (len == 0 || len >= IFNAMSIZ || strchr(name, '/') || strpbrk(name, " \t\n:"))
		return zl_invalid(err, "%s: \"%s\" is not a valid interface name (1..%d characters)",
				  op, name ? name : "", IFNAMSIZ - 1);
	return 0;
}

static void parse_link(const struct nlmsghdr *h, void *arg)
{
	struct nl_link *link = arg;
	if (h->nlmsg_type != RTM_NEWLINK || h->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifinfomsg)))
		return;
	const struct ifinfomsg *ifi = NLMSG_DATA(h);
	link->index = ifi->ifi_index;
	link->flags = ifi->ifi_flags;
	int len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*ifi)));
	for (const struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == IFLA_MASTER && RTA_PAYLOAD(a) >= sizeof(uint32_t)) {
			memcpy(&link->master, RTA_DATA(a), sizeof(uint32_t));
		} else if ((a->rta_type & NLA_TYPE_MASK) == IFLA_LINKINFO) {
			int ilen = (int)RTA_PAYLOAD(a);
			for (const struct rtattr *i = RTA_DATA(a); RTA_OK(i, ilen);
			     i = RTA_NEXT(i, ilen)) {
				if (i->rta_type != IFLA_INFO_KIND)
					continue;
				size_t n = RTA_PAYLOAD(i);
				if (n >= sizeof(link->kind))
					n = sizeof(link->kind) - 1;
				memcpy(link->kind, RTA_DATA(i), n);
				link->kind[n] = '\0';
			}
		}
	}
}

int nl_link_get(struct nl_sock *s, const char *name, struct nl_link *out, struct zl_err *err)
{
	char op[64];
	snprintf(op, sizeof(op), "look up link %s", name ? name : "");
	if (check_ifname(name, op, err) < 0)
		return -1;
	struct nl_msg m;
	struct ifinfomsg *ifi = msg_init(&m, RTM_GETLINK, 0, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	msg_put_u32(&m, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	msg_put_str(&m, IFLA_IFNAME, name);
	memset(out, 0, sizeof(*out));
	if (transact(s, &m, parse_link, out, op, err) < 0)
		return -1;
	if (out->index <= 0) {
		errno = ENODEV;
		return zl_fail_errno(err, "%s", op);
	}
	return 0;
}

int nl_bridge_create(struct nl_sock *s, const char *name, struct zl_err *err)
{
	char op[64];
	snprintf(op, sizeof(op), "create bridge %s", name ? name : "");
	if (check_ifname(name, op, err) < 0)
		return -1;
	struct nl_msg m;
	struct ifinfomsg *ifi = msg_init(&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	msg_put_str(&m, IFLA_IFNAME, name);
	/* A fixed MAC: a bridge otherwise takes the lowest MAC of its ports and
	 * changes it when that port leaves, which strands every replica's ARP
	 * entry for the gateway. Locally administered, derived from the name. */
	char hex[65];
	zl_sha256_hex(name, strlen(name), hex);
	unsigned char mac[6] = { 0x02, 0x5a, 0x4c, 0, 0, 0 };
	for (int i = 0; i < 3; i++) {
		unsigned int byte = 0;
		sscanf(hex + 2 * i, "%2x", &byte);
		mac[3 + i] = (unsigned char)byte;
	}
	msg_put(&m, IFLA_ADDRESS, mac, sizeof(mac));
	struct rtattr *info = nest_begin(&m, IFLA_LINKINFO);
	msg_put_str(&m, IFLA_INFO_KIND, "bridge");
	struct rtattr *data = nest_begin(&m, IFLA_INFO_DATA);
	/* No STP on a host-local bridge: ports forward as soon as they are up
	 * instead of after the 15 s listening/learning delay. */
	msg_put_u32(&m, IFLA_BR_FORWARD_DELAY, 0);
	nest_end(&m, data);
	nest_end(&m, info);
	return transact(s, &m, NULL, NULL, op, err);
}

int nl_veth_create(struct nl_sock *s, const char *host, const char *peer, int peer_netns_fd,
		   const unsigned char peer_mac[6], struct zl_err *err)
{
	char op[64];
	snprintf(op, sizeof(op), "create veth %s", host ? host : "");
	if (check_ifname(host, op, err) < 0 || check_ifname(peer, op, err) < 0)
		return -1;
	struct nl_msg m;
	struct ifinfomsg *ifi = msg_init(&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	msg_put_str(&m, IFLA_IFNAME, host);
	struct rtattr *info = nest_begin(&m, IFLA_LINKINFO);
	msg_put_str(&m, IFLA_INFO_KIND, "veth");
	struct rtattr *data = nest_begin(&m, IFLA_INFO_DATA);
	struct rtattr *peer_attr = nest_begin(&m, VETH_INFO_PEER);
	struct ifinfomsg peer_ifi = { .ifi_family = AF_UNSPEC };
	msg_append(&m, &peer_ifi, sizeof(peer_ifi));
	msg_put_str(&m, IFLA_IFNAME, peer);
	if (peer_mac)
		msg_put(&m, IFLA_ADDRESS, peer_mac, 6);
	if (peer_netns_fd >= 0)
		msg_put_u32(&m, IFLA_NET_NS_FD, (uint32_t)peer_netns_fd);
	nest_end(&m, peer_attr);
	nest_end(&m, data);
	nest_end(&m, info);
	return transact(s, &m, NULL, NULL, op, err);
}

int nl_link_set_master(struct nl_sock *s, const char *name, const char *master,
		       struct zl_err *err)
{
	char op[96];
	snprintf(op, sizeof(op), "attach %s to %s", name ? name : "", master ? master : "");
	if (check_ifname(name, op, err) < 0)
		return -1;
	struct nl_link m_link;
	if (nl_link_get(s, master, &m_link, err) < 0)
		return zl_err_prefix(err, "%s", op);
	struct nl_msg m;
	struct ifinfomsg *ifi = msg_init(&m, RTM_SETLINK, 0, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	msg_put_str(&m, IFLA_IFNAME, name);
	msg_put_u32(&m, IFLA_MASTER, (uint32_t)m_link.index);
	return transact(s, &m, NULL, NULL, op, err);
}

int nl_link_set_up(struct nl_sock *s, const char *name, bool up, struct zl_err *err)
{
	char op[64];
	snprintf(op, sizeof(op), "set %s %s", name ? name : "", up ? "up" : "down");
	if (check_ifname(name, op, err) < 0)
		return -1;
	struct nl_msg m;
	struct ifinfomsg *ifi = msg_init(&m, RTM_SETLINK, 0, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_flags = up ? IFF_UP : 0;
	ifi->ifi_change = IFF_UP;
	msg_put_str(&m, IFLA_IFNAME, name);
	return transact(s, &m, NULL, NULL, op, err);
}

int nl_link_rename(struct nl_sock *s, const char *name, const char *new_name,
		   struct zl_err *err)
{
	char op[64];
	snprintf(op, sizeof(op), "rename %s to %s", name ? name : "", new_name ? new_name : "");
	if (check_ifname(new_name, op, err) < 0)
		return -1;
	struct nl_link link;
	if (nl_link_get(s, name, &link, err) < 0)
		return zl_err_prefix(err, "%s", op);
	struct nl_msg m;
	struct ifinfomsg *ifi = msg_init(&m, RTM_SETLINK, 0, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = link.index;
	msg_put_str(&m, IFLA_IFNAME, new_name);
	return transact(s, &m, NULL, NULL, op, err);
}

int nl_link_delete(struct nl_sock *s, const char *name, struct zl_err *err)
{
	char op[64];
	snprintf(op, sizeof(op), "delete link %s", name ? name : "");
	if (check_ifname(name, op, err) < 0)
		return -1;
	struct nl_msg m;
	struct ifinfomsg *ifi = msg_init(&m, RTM_DELLINK, 0, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	msg_put_str(&m, IFLA_IFNAME, name);
	return transact(s, &m, NULL, NULL, op, err);
}

/* ---- addresses and routes ---- */

int nl_addr_add(struct nl_sock *s, const char *name, uint32_t ip, int prefix,
		struct zl_err *err)
{
	char op[96], text[NET_IPV4_STRLEN];
	net_ipv4_format(ip, text);
	snprintf(op, sizeof(op), "add address %s/%d to %s", text, prefix, name ? name : "");
	struct nl_link link;
	if (nl_link_get(s, name, &link, err) < 0)
		return zl_err_prefix(err, "%s", op);
	struct nl_msg m;
	struct ifaddrmsg *ifa = msg_init(&m, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, sizeof(*ifa));
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = (unsigned char)prefix;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (unsigned)link.index;
	uint32_t be = htonl(ip);
	uint32_t bcast = htonl(prefix >= 31 ? 0 : ip | ~(0xffffffffu << (32 - prefix)));
	msg_put(&m, IFA_LOCAL, &be, sizeof(be));
	msg_put(&m, IFA_ADDRESS, &be, sizeof(be));
	if (prefix < 31)
		msg_put(&m, IFA_BROADCAST, &bcast, sizeof(bcast));
	return transact(s, &m, NULL, NULL, op, err);
}

int nl_route_add_default(struct nl_sock *s, const char *name, uint32_t gateway,
			 struct zl_err *err)
{
	char op[96], text[NET_IPV4_STRLEN];
	net_ipv4_format(gateway, text);
	snprintf(op, sizeof(op), "add default route via %s dev %s", text, name ? name : "");
	struct nl_link link;
	if (nl_link_get(s, name, &link, err) < 0)
		return zl_err_prefix(err, "%s", op);
	struct nl_msg m;
	struct rtmsg *rt = msg_init(&m, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, sizeof(*rt));
	rt->rtm_family = AF_INET;
	rt->rtm_dst_len = 0;
	rt->rtm_table = RT_TABLE_MAIN;
	rt->rtm_protocol = RTPROT_BOOT;
	rt->rtm_scope = RT_SCOPE_UNIVERSE;
	rt->rtm_type = RTN_UNICAST;
	uint32_t be = htonl(gateway);
	msg_put(&m, RTA_GATEWAY, &be, sizeof(be));
	msg_put_u32(&m, RTA_OIF, (uint32_t)link.index);
	return transact(s, &m, NULL, NULL, op, err);
}
