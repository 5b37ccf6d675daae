/* net.h: per-replica networking (bridge, netns, veth, IP leases, published
 * ports) arrives with the networking issue. What exists now: the derivation
 * of interface names, which must fit IFNAMSIZ (15 characters) whatever the
 * deployment and service names are. */
#ifndef ZL_NET_H
#define ZL_NET_H

#include "common/common.h"

#define NET_IFNAME_MAX 15
/* "<prefix><10 hex of sha256(deployment/service/index)>", at most 15 chars;
 * prefix is at most 4 characters (e.g. "zlh" host end, "zlc" container end). */
void net_ifname(const char *prefix, const char *deployment, const char *service, int index,
		char out[NET_IFNAME_MAX + 1]);

#endif
