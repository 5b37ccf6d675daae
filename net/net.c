/* net.c: interface names derived by hashing so they fit IFNAMSIZ and never
 * collide in practice across deployments with long names. */
#include "net.h"

#include <string.h>

void net_ifname(const char *prefix, const char *deployment, const char *service, int index,
		char out[NET_IFNAME_MAX + 1])
{
	_cleanup_free_ char *key = zl_xasprintf("%s/%s/%d", deployment, service, index);
	char hex[65];
	zl_sha256_hex(key, strlen(key), hex);
	snprintf(out, NET_IFNAME_MAX + 1, "%.4s%.10s", prefix, hex);
}
