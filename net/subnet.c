/* subnet.c: IPv4 subnets, dotted-quad text, and picking the lowest free
 * address. Pure functions: no sockets, no files. */
#include "net.h"

#include <string.h>

/* Ranges a replica subnet must not touch: they are not routable through a
 * bridge (this host, loopback, multicast, reserved and broadcast). */
static const struct {
	uint32_t network;
	int prefix;
	const char *what;
} forbidden[] = {
	{ 0x00000000u, 8, "0.0.0.0/8 (\"this network\")" },
	{ 0x7f000000u, 8, "127.0.0.0/8 (loopback)" },
	{ 0xe0000000u, 4, "224.0.0.0/4 (multicast)" },
	{ 0xf0000000u, 4, "240.0.0.0/4 (reserved, includes broadcast 255.255.255.255)" },
};

static uint32_t prefix_mask(int prefix)
{
	return prefix <= 0 ? 0 : 0xffffffffu << (32 - prefix);
}

/* Parses a decimal octet at *p, advancing it; no sign, no leading zero. */
static bool parse_octet(const char **p, uint32_t *out)
{
	const char *s = *p;
	if (*s < '0' || *s > '9')
		return false;
	if (s[0] == '0' && s[1] >= '0' && s[1] <= '9')
		return false;
	uint32_t v = 0;
	int digits = 0;
	while (*s >= '0' && *s <= '9') {
		v = v * 10 + (uint32_t)(*s - '0');
		if (++digits > 3 || v > 255)
			return false;
		s++;
	}
	*out = v;
	*p = s;
	return true;
}

/* Parses a dotted quad at the start of text; *end points after it. */
static bool parse_quad(const char *text, uint32_t *out, const char **end)
{
	const char *p = text;
	uint32_t ip = 0;
	for (int i = 0; i < 4; i++) {
		uint32_t octet;
		if (i > 0 && *p++ != '.')
			return false;
		if (!parse_octet(&p, &octet))
			return false;
		ip = ip << 8 | octet;
	}
	*out = ip;
	*end = p;
	return true;
}

void net_ipv4_format(uint32_t ip, char out[NET_IPV4_STRLEN])
{
	snprintf(out, NET_IPV4_STRLEN, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 0xff,
		 (ip >> 8) & 0xff, ip & 0xff);
}

int net_ipv4_parse(const char *text, uint32_t *out, struct zl_err *err)
{
	const char *end;
	if (!text || !parse_quad(text, out, &end) || *end != '\0')
		return zl_invalid(err, "\"%s\" is not an IPv4 address (expected a.b.c.d)",
				  text ? text : "");
	return 0;
}

uint32_t net_subnet_mask(const struct net_subnet *s) { return prefix_mask(s->prefix); }

uint32_t net_subnet_broadcast(const struct net_subnet *s)
{
	return s->network | ~prefix_mask(s->prefix);
}

uint32_t net_subnet_gateway(const struct net_subnet *s) { return s->network + 1; }

bool net_subnet_contains(const struct net_subnet *s, uint32_t ip)
{
	return (ip & prefix_mask(s->prefix)) == s->network;
}

bool net_subnet_is_host(const struct net_subnet *s, uint32_t ip)
{
	return net_subnet_contains(s, ip) && ip != s->network && ip != net_subnet_gateway(s) &&
	       ip != net_subnet_broadcast(s);
}

void net_subnet_format(const struct net_subnet *s, char out[NET_CIDR_STRLEN])
{
	char ip[NET_IPV4_STRLEN];
	net_ipv4_format(s->network, ip);
	snprintf(out, NET_CIDR_STRLEN, "%s/%d", ip, s->prefix);
}

int net_subnet_parse(const char *cidr, struct net_subnet *out, struct zl_err *err)
{
	const char *shown = cidr ? cidr : "";
	const char *p;
	uint32_t ip;
	if (!cidr || !parse_quad(cidr, &ip, &p) || *p != '/')
		return zl_invalid(err, "subnet \"%s\": expected IPv4 CIDR a.b.c.d/len", shown);
	p++;
	int prefix = 0, digits = 0;
	while (*p >= '0' && *p <= '9' && digits < 3) {
		prefix = prefix * 10 + (*p++ - '0');
		digits++;
	}
	if (digits == 0 || *p != '\0')
		return zl_invalid(err, "subnet \"%s\": expected IPv4 CIDR a.b.c.d/len", shown);
	if (prefix < 8 || prefix > 30)
		return zl_invalid(err, "subnet \"%s\": prefix length /%d is out of range (8..30)",
				  shown, prefix);
	uint32_t mask = prefix_mask(prefix);
	if ((ip & mask) != ip) {
		char given[NET_IPV4_STRLEN], net[NET_IPV4_STRLEN];
		net_ipv4_format(ip, given);
		net_ipv4_format(ip & mask, net);
		return zl_invalid(err,
				  "subnet \"%s\": %s is not the network address of a /%d, its "
				  "host bits are set (did you mean %s/%d?)",
				  shown, given, prefix, net, prefix);
	}
	uint32_t last = ip | ~mask;
	for (size_t i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++) {
		uint32_t f_first = forbidden[i].network;
		uint32_t f_last = f_first | ~prefix_mask(forbidden[i].prefix);
		if (ip <= f_last && f_first <= last)
			return zl_invalid(err, "subnet \"%s\" overlaps %s", shown, forbidden[i].what);
	}
	out->network = ip;
	out->prefix = prefix;
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

int net_ipam_pick(const struct net_subnet *s, const uint32_t *used, size_t n_used,
		  uint32_t *out, struct zl_err *err)
{
	/* Sort the used addresses inside s, then walk the hosts upwards: the
	 * first address not matched by the sorted list is the lowest free one. */
	_cleanup_free_ uint32_t *sorted = zl_xcalloc(n_used ? n_used : 1, sizeof(uint32_t));
	size_t n = 0;
	for (size_t i = 0; i < n_used; i++)
		if (net_subnet_contains(s, used[i]))
			sorted[n++] = used[i];
	qsort(sorted, n, sizeof(uint32_t), cmp_u32);

	uint32_t candidate = net_subnet_gateway(s) + 1;
	uint32_t broadcast = net_subnet_broadcast(s);
	for (size_t i = 0; i < n && candidate < broadcast; i++) {
		if (sorted[i] < candidate)
			continue; /* network, gateway, or a duplicate */
		if (sorted[i] > candidate)
			break;
		candidate++;
	}
	if (candidate >= broadcast) {
		char cidr[NET_CIDR_STRLEN];
		net_subnet_format(s, cidr);
		return zl_fail(err, "subnet %s is full (%u addresses in use)", cidr,
			       (unsigned)(broadcast - net_subnet_gateway(s) - 1));
	}
	*out = candidate;
	return 0;
}
