/* bridge.c: the host bridge every replica's veth joins. Its address is the
 * subnet's gateway, the replicas' default route. Ensuring it is idempotent
 * so every apply can call it. NAT for outbound traffic is not done here. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "net-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <string.h>

#define IP_FORWARD "/proc/sys/net/ipv4/ip_forward"

/* Replicas reach anything beyond the bridge only through the host. */
static int enable_ip_forward(struct zl_err *err)
{
	char cur[4] = "";
	_cleanup_close_ int fd = open(IP_FORWARD, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return zl_fail_errno(err, "open %s", IP_FORWARD);
	ssize_t n = read(fd, cur, sizeof(cur) - 1);
	if (n > 0 && cur[0] == '1')
		return 0;
	if (pwrite(fd, "1\n", 2, 0) != 2)
		return zl_fail_errno(err, "write 1 to %s", IP_FORWARD);
	return 0;
}

uint32_t net_bridge_gateway(const struct net_subnet *s) { return net_subnet_gateway(s); }

bool net_link_exists(const char *ifname)
{
	return ifname && strlen(ifname) < IFNAMSIZ && if_nametoindex(ifname) != 0;
}

int net_bridge_ensure(const char *bridge, const struct net_subnet *s, struct zl_err *err)
{
	struct zl_err e = ZL_ERR_INIT;
	_cleanup_nl_ struct nl_sock nl = NL_SOCK_INIT;
	struct nl_link link;
	if (nl_open(&nl, -1, &e) < 0)
		goto fail;
	if (nl_link_get(&nl, bridge, &link, &e) < 0) {
		if (e.sys_errno != ENODEV)
			goto fail;
		/* EEXIST: created by someone else since we looked; checked below. */
		if (nl_bridge_create(&nl, bridge, &e) < 0 && e.sys_errno != EEXIST)
			goto fail;
		if (nl_link_get(&nl, bridge, &link, &e) < 0)
			goto fail;
	}
	if (strcmp(link.kind, "bridge") != 0) {
		zl_fail(&e, "link %s exists and is not a bridge (kind %s)", bridge,
			net_link_kind_text(link.kind));
		goto fail;
	}
	if (nl_addr_add(&nl, bridge, net_subnet_gateway(s), s->prefix, &e) < 0 &&
	    e.sys_errno != EEXIST)
		goto fail;
	if (nl_link_set_up(&nl, bridge, true, &e) < 0 || enable_ip_forward(&e) < 0)
		goto fail;
	return 0;
fail:
	zl_err_prefix(&e, "ensure bridge %s", bridge);
	return net_err_out(err, &e);
}

int net_bridge_delete(const char *bridge, struct zl_err *err)
{
	struct zl_err e = ZL_ERR_INIT;
	_cleanup_nl_ struct nl_sock nl = NL_SOCK_INIT;
	struct nl_link link;
	if (nl_open(&nl, -1, &e) < 0)
		goto fail;
	if (nl_link_get(&nl, bridge, &link, &e) < 0) {
		if (e.sys_errno == ENODEV)
			return 0;
		goto fail;
	}
	if (strcmp(link.kind, "bridge") != 0) {
		zl_fail(&e, "link %s is not a bridge (kind %s)", bridge,
			net_link_kind_text(link.kind));
		goto fail;
	}
	if (nl_link_delete(&nl, bridge, &e) < 0 && e.sys_errno != ENODEV)
		goto fail;
	return 0;
fail:
	zl_err_prefix(&e, "delete bridge %s", bridge);
	return net_err_out(err, &e);
}
