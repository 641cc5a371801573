/* Unit tests for common/announce_sock: real UDP sockets on this engineer's
 * loopback range 127.0.7.0/24 (unicast peers and multicast through lo). */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <string.h>

#include "election/announce_sock.h"
#include "check_run.h"

/* Wait up to 2 s for one datagram. */
static ssize_t recv_one(struct announce_sock *s, uint8_t *buf, size_t len, uint8_t src[4])
{
	struct pollfd p = { .fd = announce_sock_fd(s), .events = POLLIN };

	if (poll(&p, 1, 2000) != 1)
		return -ETIMEDOUT;
	return announce_sock_recv(s, buf, len, src);
}

START_TEST(test_unicast_peers)
{
	struct announce_sock_opts oa = { .bind_addr = "127.0.7.11", .port = 37011,
					 .peers = "127.0.7.12:37012, 127.0.7.13:37013" };
	struct announce_sock_opts ob = { .bind_addr = "127.0.7.12", .port = 37012, .peers = "127.0.7.11:37011" };
	struct announce_sock_opts oc = { .bind_addr = "127.0.7.13", .port = 37013, .peers = "127.0.7.11:37011" };
	struct announce_sock *a, *b, *c;
	uint8_t buf[64], src[4];
	char err[256];

	ck_assert_int_eq(announce_sock_open(&oa, &a, err, sizeof(err)), 0);
	ck_assert_int_eq(announce_sock_open(&ob, &b, err, sizeof(err)), 0);
	ck_assert_int_eq(announce_sock_open(&oc, &c, err, sizeof(err)), 0);
	ck_assert_uint_eq(announce_sock_n_dests(a), 2);
	ck_assert_int_eq(announce_sock_recv(b, buf, sizeof(buf), src), -EAGAIN);
	ck_assert_int_eq(announce_sock_send(a, (const uint8_t *)"hello", 5), 0);
	ck_assert_int_eq(recv_one(b, buf, sizeof(buf), src), 5);
	ck_assert_mem_eq(buf, "hello", 5);
	ck_assert_mem_eq(src, ((uint8_t[]){ 127, 0, 7, 11 }), 4);
	ck_assert_int_eq(recv_one(c, buf, sizeof(buf), src), 5);
	/* Too long for the caller's buffer: dropped, reported. */
	ck_assert_int_eq(announce_sock_send(b, (const uint8_t *)"0123456789", 10), 0);
	ck_assert_int_eq(recv_one(a, buf, 4, src), -EMSGSIZE);
	announce_sock_close(a);
	announce_sock_close(b);
	announce_sock_close(c);
}
END_TEST

START_TEST(test_multicast_on_loopback)
{
	struct announce_sock_opts oa = { .bind_addr = "127.0.7.21", .port = 37020, .group = "239.255.7.20" };
	struct announce_sock_opts ob = { .bind_addr = "127.0.7.22", .port = 37020, .group = "239.255.7.20" };
	struct announce_sock *a, *b;
	uint8_t buf[64], src[4];
	char err[256];

	ck_assert_msg(announce_sock_open(&oa, &a, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(announce_sock_open(&ob, &b, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(announce_sock_send(a, (const uint8_t *)"x1", 2), 0);
	/* Both members get it, the sender too (loop: counted as self later). */
	ck_assert_int_eq(recv_one(b, buf, sizeof(buf), src), 2);
	ck_assert_mem_eq(src, ((uint8_t[]){ 127, 0, 7, 21 }), 4);
	ck_assert_int_eq(recv_one(a, buf, sizeof(buf), src), 2);
	announce_sock_close(a);
	announce_sock_close(b);
}
END_TEST

static const struct {
	struct announce_sock_opts o;
	const char *expect;
} bad[] = {
	{ { .bind_addr = "127.0.7.30", .port = 37030 }, "neither a multicast group nor peers" },
	{ { .bind_addr = "127.0.7.30", .port = 37030, .group = "10.0.0.1" }, "not an IPv4 multicast" },
	{ { .bind_addr = "127.0.7.30", .port = 37030, .peers = "host.example:5" }, "not an IPv4 address[:port]" },
	{ { .bind_addr = "127.0.7.30", .port = 37030, .peers = "127.0.7.1:70000" }, "not an IPv4 address[:port]" },
	{ { .bind_addr = "nope", .port = 37030, .peers = "127.0.7.1" }, "bind address 'nope'" },
	{ { .bind_addr = "192.0.2.1", .port = 37030, .peers = "127.0.7.1" }, "192.0.2.1:37030: bind: Cannot assign" },
};

START_TEST(test_bad_options)
{
	struct announce_sock *s = (void *)1;
	char err[256] = "";

	ck_assert_int_lt(announce_sock_open(&bad[_i].o, &s, err, sizeof(err)), 0);
	ck_assert_ptr_null(s);
	ck_assert_msg(strstr(err, bad[_i].expect), "row %d: '%s'", _i, err);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("announce_sock");
	TCase *tc = tcase_create("core");
	TCase *mc = tcase_create("multicast");

	tcase_add_test(tc, test_unicast_peers);
	tcase_add_loop_test(tc, test_bad_options, 0, sizeof(bad) / sizeof(bad[0]));
	suite_add_tcase(s, tc);
	/* Tagged: qemu-user 7.2 has no IP_MULTICAST_IF, so the arm64 run under
	 * qemu (tests/cross) leaves it out with CK_EXCLUDE_TAGS=multicast. */
	tcase_set_tags(mc, "multicast");
	tcase_add_test(mc, test_multicast_on_loopback);
	suite_add_tcase(s, mc);
	return check_run(s);
}
