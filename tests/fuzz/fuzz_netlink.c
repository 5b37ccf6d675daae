/* fuzz_netlink.c: the kernel's rtnetlink replies as net/netlink.c reads
 * them: the reply loop of its request/ack exchange (sequence numbers,
 * NLMSG_DONE, NLMSG_ERROR with or without the extended-ack TLVs, a
 * truncated datagram), the RTM_NEWLINK attribute walk of nl_link_get
 * (IFLA_MASTER, the nested IFLA_LINKINFO / IFLA_INFO_KIND), and what each
 * operation built on it does with the answer.
 *
 * Those parsers are static in netlink.c and reached only through a socket,
 * so this target links with -Wl,--wrap=sendto,--wrap=recv (tests/fuzz/
 * meson.build): on the one descriptor it hands to the code (an nl_sock whose
 * fd is /dev/null, never a netlink socket, so nothing reaches the kernel),
 * sendto() only records the request's sequence number and recv() returns
 * the input's datagrams. Any other descriptor goes to the real calls.
 *
 * Input: byte 0 picks the operation (low 4 bits) and whether every
 * message of a datagram gets the request's sequence number (bit 4; else
 * the bytes decide, and a mismatch is "a late answer" the loop skips);
 * then datagrams, each a 2-byte little-endian length and that many bytes.
 * When they run out, recv() fails with ECONNRESET, which ends the exchange.
 *
 * The part of the caller's receive buffer past the datagram is poisoned
 * for ASan until the next recv(): a read beyond the bytes received (stale
 * data of an earlier reply, in netlink.c's static buffer) is reported where
 * it happens, whatever the buffer held before.
 *
 * Properties: the operation returns 0 or -1; -1 has a message; a link found
 * has an index > 0 and a NUL-terminated kind. */
#include "tests/fuzz/fuzz.h"

#include <fcntl.h>
#include <linux/netlink.h>
#include <sanitizer/asan_interface.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "net/net-internal.h"

ssize_t __real_sendto(int fd, const void *buf, size_t len, int flags,
		      const struct sockaddr *to, socklen_t tolen);
ssize_t __real_recv(int fd, void *buf, size_t len, int flags);
ssize_t __wrap_sendto(int fd, const void *buf, size_t len, int flags,
		      const struct sockaddr *to, socklen_t tolen);
ssize_t __wrap_recv(int fd, void *buf, size_t len, int flags);

static int fake_fd = -1;
static const uint8_t *in_data;
static size_t in_left;
static bool fix_seq;
static uint32_t last_seq;
static unsigned sends, recvs;

ssize_t __wrap_sendto(int fd, const void *buf, size_t len, int flags,
		      const struct sockaddr *to, socklen_t tolen)
{
	if (fd != fake_fd || fake_fd < 0)
		return __real_sendto(fd, buf, len, flags, to, tolen);
	const struct nlmsghdr *h = buf;
	if (len < sizeof(*h) || h->nlmsg_len != len || !(h->nlmsg_flags & NLM_F_REQUEST))
		fuzz_fail("netlink request of %zu bytes is malformed", len);
	last_seq = h->nlmsg_seq;
	sends++;
	return (ssize_t)len;
}

ssize_t __wrap_recv(int fd, void *buf, size_t len, int flags)
{
	if (fd != fake_fd || fake_fd < 0)
		return __real_recv(fd, buf, len, flags);
	if (++recvs > 10000)
		fuzz_fail("the reply loop went on for 10000 datagrams");
	if (in_left < 2) {
		errno = ECONNRESET;
		return -1;
	}
	size_t n = (size_t)in_data[0] | (size_t)in_data[1] << 8;
	in_data += 2;
	in_left -= 2;
	if (n > in_left)
		n = in_left;
	size_t copy = n < len ? n : len;
	ASAN_UNPOISON_MEMORY_REGION(buf, len);
	memcpy(buf, in_data, copy);
	in_data += n;
	in_left -= n;
	if (fix_seq) {
		/* Walked with the input's own lengths, bounded by what was copied. */
		size_t off = 0;
		while (off + sizeof(struct nlmsghdr) <= copy) {
			struct nlmsghdr *h = (struct nlmsghdr *)((char *)buf + off);
			h->nlmsg_seq = last_seq;
			if (h->nlmsg_len < sizeof(*h))
				break;
			off += ((size_t)h->nlmsg_len + 3) & ~(size_t)3;
		}
	}
	ASAN_POISON_MEMORY_REGION((char *)buf + copy, len - copy);
	/* MSG_TRUNC: the datagram's real length, even when it did not fit. */
	return (ssize_t)((flags & MSG_TRUNC) ? n : copy);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	fake_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fake_fd < 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned op = data[0] & 0x0f;
	fix_seq = data[0] & 0x10;
	in_data = data + 1;
	in_left = size - 1;
	sends = recvs = 0;
	last_seq = 0;

	struct nl_sock s = { .fd = fake_fd, .seq = 0 };
	struct zl_err err = ZL_ERR_INIT;
	struct nl_link link;
	memset(&link, 0, sizeof(link));
	int r;
	switch (op % 9) {
	case 0:
		r = nl_link_get(&s, "zlfuzz0", &link, &err);
		if (r == 0 && (link.index <= 0 || !memchr(link.kind, '\0', sizeof(link.kind))))
			fuzz_fail("nl_link_get: index %d, kind not terminated or index not > 0",
				  link.index);
		break;
	case 1:
		r = nl_link_delete(&s, "zlfuzz0", &err);
		break;
	case 2:
		r = nl_addr_add(&s, "zlfuzz0", 0x0a000002, 24, &err);
		break;
	case 3:
		r = nl_route_add_default(&s, "zlfuzz0", 0x0a000001, &err);
		break;
	case 4:
		r = nl_link_rename(&s, "zlfuzz0", "zlfuzz1", &err);
		break;
	case 5:
		r = nl_link_set_master(&s, "zlfuzz0", "zlfuzzbr", &err);
		break;
	case 6:
		r = nl_bridge_create(&s, "zlfuzzbr", &err);
		break;
	case 7:
		r = nl_veth_create(&s, "zlfuzzh", "zlfuzzp", -1, NULL, &err);
		break;
	default:
		r = nl_link_set_up(&s, "zlfuzz0", true, &err);
		break;
	}
	if (r != 0 && r != -1)
		fuzz_fail("operation %u returned %d", op % 9, r);
	if (r < 0 && !err.msg[0])
		fuzz_fail("operation %u failed without a message", op % 9);
	if (sends == 0)
		fuzz_fail("operation %u sent no request", op % 9);
	return 0;
}
