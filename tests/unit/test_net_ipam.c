/* test_net_ipam.c: subnet parsing and address picking, the pure half of
 * net/: what a user's `subnet:` value may be and which address a new
 * replica gets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "net/net.h"

#define IP(a, b, c, d) \
	((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

static struct net_subnet subnet(const char *cidr)
{
	struct net_subnet s;
	struct zl_err err = ZL_ERR_INIT;
	if (net_subnet_parse(cidr, &s, &err) < 0)
		fail_msg("%s: %s", cidr, err.msg);
	return s;
}

static void test_subnet_parse_valid(void **state)
{
	(void)state;
	static const struct {
		const char *cidr;
		uint32_t network, gateway, broadcast;
		int prefix;
	} cases[] = {
		{ NET_DEFAULT_SUBNET, IP(10, 213, 0, 0), IP(10, 213, 0, 1), IP(10, 213, 255, 255), 16 },
		{ "10.0.0.0/8", IP(10, 0, 0, 0), IP(10, 0, 0, 1), IP(10, 255, 255, 255), 8 },
		{ "192.168.7.0/24", IP(192, 168, 7, 0), IP(192, 168, 7, 1), IP(192, 168, 7, 255), 24 },
		{ "172.30.1.128/25", IP(172, 30, 1, 128), IP(172, 30, 1, 129), IP(172, 30, 1, 255), 25 },
		{ "10.9.9.4/30", IP(10, 9, 9, 4), IP(10, 9, 9, 5), IP(10, 9, 9, 7), 30 },
		{ "223.255.255.252/30", IP(223, 255, 255, 252), IP(223, 255, 255, 253),
		  IP(223, 255, 255, 255), 30 },
		{ "1.0.0.0/8", IP(1, 0, 0, 0), IP(1, 0, 0, 1), IP(1, 255, 255, 255), 8 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct net_subnet s;
		struct zl_err err = ZL_ERR_INIT;
		if (net_subnet_parse(cases[i].cidr, &s, &err) < 0)
			fail_msg("%s: %s", cases[i].cidr, err.msg);
		assert_int_equal(s.network, cases[i].network);
		assert_int_equal(s.prefix, cases[i].prefix);
		assert_int_equal(net_subnet_gateway(&s), cases[i].gateway);
		assert_int_equal(net_bridge_gateway(&s), cases[i].gateway);
		assert_int_equal(net_subnet_broadcast(&s), cases[i].broadcast);
		char back[NET_CIDR_STRLEN];
		net_subnet_format(&s, back);
		assert_string_equal(back, cases[i].cidr);
	}
}

static void test_subnet_parse_invalid(void **state)
{
	(void)state;
	static const struct {
		const char *cidr;
		const char *says; /* part of the message */
	} cases[] = {
		{ "10.1.2.3/24", "did you mean 10.1.2.0/24?" },
		{ "10.213.0.1/16", "did you mean 10.213.0.0/16?" },
		{ "10.0.0.0/7", "out of range (8..30)" },
		{ "10.0.0.0/31", "out of range (8..30)" },
		{ "10.0.0.0/32", "out of range (8..30)" },
		{ "127.0.0.0/8", "127.0.0.0/8 (loopback)" },
		{ "127.1.0.0/16", "loopback" },
		{ "0.0.0.0/8", "this network" },
		{ "224.0.0.0/24", "multicast" },
		{ "239.255.0.0/16", "multicast" },
		{ "255.255.255.0/24", "broadcast" },
		{ "240.0.0.0/8", "reserved" },
		{ "10.0.0.0", "expected IPv4 CIDR" },
		{ "10.0.0.0/", "expected IPv4 CIDR" },
		{ "10.0.0/8", "expected IPv4 CIDR" },
		{ "10.0.0.0.0/8", "expected IPv4 CIDR" },
		{ "10.0.0.256/24", "expected IPv4 CIDR" },
		{ "010.0.0.0/8", "expected IPv4 CIDR" },
		{ "10.0.0.0/8x", "expected IPv4 CIDR" },
		{ "10.0.0.0/-8", "expected IPv4 CIDR" },
		{ " 10.0.0.0/8", "expected IPv4 CIDR" },
		{ "fd00::/64", "expected IPv4 CIDR" },
		{ "", "expected IPv4 CIDR" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct net_subnet s = { 0 };
		struct zl_err err = ZL_ERR_INIT;
		if (net_subnet_parse(cases[i].cidr, &s, &err) == 0)
			fail_msg("\"%s\" was accepted", cases[i].cidr);
		assert_int_equal(err.kind, ZL_ERR_INPUT);
		if (!strstr(err.msg, cases[i].says))
			fail_msg("\"%s\": message \"%s\" lacks \"%s\"", cases[i].cidr, err.msg,
				 cases[i].says);
		if (cases[i].cidr[0] && !strstr(err.msg, cases[i].cidr))
			fail_msg("\"%s\": message \"%s\" does not quote the input", cases[i].cidr,
				 err.msg);
	}
}

static void test_ipv4_text_round_trip(void **state)
{
	(void)state;
	struct zl_err err = ZL_ERR_INIT;
	uint32_t ip;
	char text[NET_IPV4_STRLEN];
	assert_int_equal(net_ipv4_parse("10.213.4.200", &ip, &err), 0);
	assert_int_equal(ip, IP(10, 213, 4, 200));
	net_ipv4_format(ip, text);
	assert_string_equal(text, "10.213.4.200");
	net_ipv4_format(IP(255, 255, 255, 255), text);
	assert_string_equal(text, "255.255.255.255");
	net_ipv4_format(0, text);
	assert_string_equal(text, "0.0.0.0");
	static const char *const bad[] = { "1.2.3", "1.2.3.4.", "1.2.3.4/8", "a.b.c.d", "1.2.3.999",
					   "01.2.3.4", "", "1..3.4" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (net_ipv4_parse(bad[i], &ip, &err) == 0)
			fail_msg("\"%s\" was accepted", bad[i]);
		assert_int_equal(err.kind, ZL_ERR_INPUT);
	}
}

static void test_ipam_picks_lowest_free_host(void **state)
{
	(void)state;
	struct net_subnet s = subnet("10.213.7.0/24");
	struct zl_err err = ZL_ERR_INIT;
	uint32_t ip;
	/* Empty table: the first address after the gateway. */
	assert_int_equal(net_ipam_pick(&s, NULL, 0, &ip, &err), 0);
	assert_int_equal(ip, IP(10, 213, 7, 2));
	/* Unordered, with a hole at .4 and addresses from elsewhere. */
	const uint32_t used[] = { IP(10, 213, 7, 5), IP(10, 213, 7, 3), IP(10, 213, 8, 4),
				  IP(10, 213, 7, 2), IP(10, 213, 7, 3), IP(192, 168, 0, 4) };
	assert_int_equal(net_ipam_pick(&s, used, 6, &ip, &err), 0);
	assert_int_equal(ip, IP(10, 213, 7, 4));
	/* A released address is reused before higher ones. */
	const uint32_t after_release[] = { IP(10, 213, 7, 2), IP(10, 213, 7, 4), IP(10, 213, 7, 5) };
	assert_int_equal(net_ipam_pick(&s, after_release, 3, &ip, &err), 0);
	assert_int_equal(ip, IP(10, 213, 7, 3));
}

static void test_ipam_skips_network_gateway_broadcast(void **state)
{
	(void)state;
	struct net_subnet s = subnet("10.213.9.0/29"); /* .0 net, .1 gw, .2-.6, .7 bcast */
	struct zl_err err = ZL_ERR_INIT;
	/* The reserved addresses in the used list change nothing. */
	const uint32_t used[] = { IP(10, 213, 9, 0), IP(10, 213, 9, 1), IP(10, 213, 9, 7) };
	uint32_t ip;
	assert_int_equal(net_ipam_pick(&s, used, 3, &ip, &err), 0);
	assert_int_equal(ip, IP(10, 213, 9, 2));
	/* Fill it one by one: every pick is a host address, never reserved. */
	uint32_t taken[8];
	size_t n = 0;
	while (net_ipam_pick(&s, taken, n, &ip, &err) == 0) {
		assert_true(net_subnet_is_host(&s, ip));
		for (size_t i = 0; i < n; i++)
			assert_int_not_equal(taken[i], ip);
		assert_true(n < 8);
		taken[n++] = ip;
	}
	assert_int_equal(n, 5);
	assert_int_equal(taken[4], IP(10, 213, 9, 6));
	assert_false(net_subnet_is_host(&s, IP(10, 213, 9, 0)));
	assert_false(net_subnet_is_host(&s, IP(10, 213, 9, 1)));
	assert_false(net_subnet_is_host(&s, IP(10, 213, 9, 7)));
	assert_false(net_subnet_is_host(&s, IP(10, 213, 9, 8)));
}

static void test_ipam_full_subnet(void **state)
{
	(void)state;
	struct net_subnet s = subnet("10.213.10.0/28");
	uint32_t used[13];
	for (int i = 0; i < 13; i++)
		used[i] = IP(10, 213, 10, 2 + i); /* .2 .. .14 */
	struct zl_err err = ZL_ERR_INIT;
	uint32_t ip = 0;
	assert_int_equal(net_ipam_pick(&s, used, 13, &ip, &err), -1);
	assert_non_null(strstr(err.msg, "subnet 10.213.10.0/28 is full"));
	assert_int_equal(ip, 0);
	/* One released: that one comes back. */
	used[6] = IP(10, 213, 10, 99);
	assert_int_equal(net_ipam_pick(&s, used, 13, &ip, &err), 0);
	assert_int_equal(ip, IP(10, 213, 10, 8));
}

static void test_ipam_slash30_has_one_address(void **state)
{
	(void)state;
	struct net_subnet s = subnet("10.213.11.8/30"); /* .8 net, .9 gw, .10, .11 bcast */
	struct zl_err err = ZL_ERR_INIT;
	uint32_t ip;
	assert_int_equal(net_ipam_pick(&s, NULL, 0, &ip, &err), 0);
	assert_int_equal(ip, IP(10, 213, 11, 10));
	const uint32_t used[] = { IP(10, 213, 11, 10) };
	assert_int_equal(net_ipam_pick(&s, used, 1, &ip, &err), -1);
	assert_non_null(strstr(err.msg, "subnet 10.213.11.8/30 is full"));
}

static void test_ipam_large_subnet(void **state)
{
	(void)state;
	/* The default /16 with its first 1000 hosts taken, listed backwards. */
	struct net_subnet s = subnet(NET_DEFAULT_SUBNET);
	uint32_t used[1000];
	for (int i = 0; i < 1000; i++)
		used[i] = IP(10, 213, 0, 2) + (uint32_t)(999 - i);
	struct zl_err err = ZL_ERR_INIT;
	uint32_t ip;
	assert_int_equal(net_ipam_pick(&s, used, 1000, &ip, &err), 0);
	assert_int_equal(ip, IP(10, 213, 0, 2) + 1000); /* 10.213.3.234 */
	char text[NET_IPV4_STRLEN];
	net_ipv4_format(ip, text);
	assert_string_equal(text, "10.213.3.234");
}

static void test_netns_and_ifnames(void **state)
{
	(void)state;
	char *name = net_netns_name("shop", "web", 2);
	assert_string_equal(name, "zl-shop-web-2");
	free(name);
	char a[NET_IFNAME_MAX + 1], b[NET_IFNAME_MAX + 1];
	net_ifname("zlh", "a-very-long-deployment-name", "a-very-long-service-name", 0, a);
	net_ifname("zlh", "a-very-long-deployment-name", "a-very-long-service-name", 1, b);
	assert_int_equal(strlen(a), 13);
	assert_string_not_equal(a, b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_subnet_parse_valid),
		cmocka_unit_test(test_subnet_parse_invalid),
		cmocka_unit_test(test_ipv4_text_round_trip),
		cmocka_unit_test(test_ipam_picks_lowest_free_host),
		cmocka_unit_test(test_ipam_skips_network_gateway_broadcast),
		cmocka_unit_test(test_ipam_full_subnet),
		cmocka_unit_test(test_ipam_slash30_has_one_address),
		cmocka_unit_test(test_ipam_large_subnet),
		cmocka_unit_test(test_netns_and_ifnames),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
