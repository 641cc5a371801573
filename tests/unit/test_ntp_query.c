/* Unit tests for agent/ntp_query: timestamp conversion (eras), reply
 * checks and the offset/delay arithmetic on hand-made packets, the
 * minimum-delay filter, and bounded failure without a server. The real
 * server test is tests/integration/test_election.py. */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "election/ntp_query.h"
#include "check_run.h"

#define S(x) ((int64_t)(x) * 1000000000LL)

START_TEST(test_timestamps)
{
	/* The Unix epoch is NTP second 2208988800 (RFC 5905). */
	ck_assert_uint_eq(ntp_query_ns_to_ts(0), 2208988800ULL << 32);
	ck_assert_int_eq(ntp_query_ts_to_ns(2208988800ULL << 32, S(1795291210)), 0);
	/* Half a second is 0x80000000 of fraction. */
	ck_assert_uint_eq(ntp_query_ns_to_ts(500000000) & 0xFFFFFFFFULL, 0x80000000ULL);
	/* Era 1 starts 2036-02-07T06:28:16Z = Unix 2085978496: NTP second 0
	 * read near 2036 (or 2026: 10 years away, 1900 is 126) is then; read
	 * near 1920 it is 1900. */
	ck_assert_int_eq(ntp_query_ts_to_ns(0, S(2085978000)), S(2085978496));
	ck_assert_int_eq(ntp_query_ts_to_ns(0, S(1795291210)), S(2085978496));
	ck_assert_int_eq(ntp_query_ts_to_ns(0, -S(1577923200LL)), -S(2208988800LL));
	/* A router reset to 1970 read by a node in 2026: still 1970. */
	ck_assert_int_eq(ntp_query_ts_to_ns(ntp_query_ns_to_ts(S(5)), S(1795291210)), S(5));
	/* Round trip within a nanosecond. */
	{
		int64_t t = S(1795291210) + 123456789;
		int64_t back = ntp_query_ts_to_ns(ntp_query_ns_to_ts(t), t);

		ck_assert_int_le(back - t, 1);
		ck_assert_int_ge(back - t, -1);
	}
}
END_TEST

static void reply(uint8_t *p, uint64_t cookie, int64_t t2, int64_t t3, int leap, int stratum)
{
	memset(p, 0, NTP_PACKET_LEN);
	p[0] = (uint8_t)(leap << 6 | 4 << 3 | 4);
	p[1] = (uint8_t)stratum;
	for (int i = 0; i < 8; i++) {
		p[24 + i] = (uint8_t)(cookie >> (56 - 8 * i));
		p[32 + i] = (uint8_t)(ntp_query_ns_to_ts(t2) >> (56 - 8 * i));
		p[40 + i] = (uint8_t)(ntp_query_ns_to_ts(t3) >> (56 - 8 * i));
	}
}

START_TEST(test_parse_and_arithmetic)
{
	uint8_t p[NTP_PACKET_LEN], req[NTP_PACKET_LEN];
	struct ntp_sample s;
	const char *why;
	const uint64_t cookie = 0x1122334455667788ULL;
	/* Server 10 s ahead, 1 ms each way, 0.5 ms in the server:
	 * T1 = 1000, T2 = 1010.001, T3 = 1010.0015, T4 = 1000.0025. */
	int64_t t1 = S(1790000000), t2 = t1 + S(10) + 1000000, t3 = t2 + 500000, t4 = t1 + 2500000;

	ntp_query_build_request(req, cookie);
	ck_assert_uint_eq(req[0], 0x23);
	ck_assert_uint_eq(req[40], 0x11);
	ck_assert_uint_eq(req[47], 0x88);
	reply(p, cookie, t2, t3, 0, 2);
	ck_assert_int_eq(ntp_query_parse_reply(p, sizeof(p), cookie, t1, t4, &s, &why), 0);
	ck_assert_double_eq_tol(s.offset_s, 10.0, 1e-8);
	ck_assert_double_eq_tol(s.delay_s, 0.002, 1e-8);
	/* Wrong cookie, wrong mode, short, unsynchronised, kiss-o'-death. */
	ck_assert_int_eq(ntp_query_parse_reply(p, sizeof(p), cookie + 1, t1, t4, &s, &why), -EBADMSG);
	ck_assert_int_eq(ntp_query_parse_reply(p, 47, cookie, t1, t4, &s, &why), -EBADMSG);
	p[0] = (p[0] & ~7) | 3;
	ck_assert_int_eq(ntp_query_parse_reply(p, sizeof(p), cookie, t1, t4, &s, &why), -EBADMSG);
	reply(p, cookie, t2, t3, 3, 2);
	ck_assert_int_eq(ntp_query_parse_reply(p, sizeof(p), cookie, t1, t4, &s, &why), -EPROTO);
	ck_assert_str_eq(why, "server not synchronised (leap 3)");
	reply(p, cookie, t2, t3, 3, 0);
	ck_assert_int_eq(ntp_query_parse_reply(p, sizeof(p), cookie, t1, t4, &s, &why), -EPROTO);
	ck_assert_str_eq(why, "server not synchronised (leap 3)");
	memcpy(p + 12, "RATE", 4);
	ck_assert_int_eq(ntp_query_parse_reply(p, sizeof(p), cookie, t1, t4, &s, &why), -EPROTO);
	ck_assert_str_eq(why, "kiss-o'-death");
	reply(p, cookie, t2, t3, 0, 16);
	ck_assert_int_eq(ntp_query_parse_reply(p, sizeof(p), cookie, t1, t4, &s, &why), -EPROTO);
	/* Longer than 48 (extension fields) is fine. */
	{
		uint8_t big[68] = { 0 };

		reply(big, cookie, t2, t3, 0, 3);
		ck_assert_int_eq(ntp_query_parse_reply(big, sizeof(big), cookie, t1, t4, &s, &why), 0);
	}
	/* The server's time from the far side of an era boundary. */
	t1 = S(2085978490);
	reply(p, cookie, t1 + S(10), t1 + S(10), 0, 2);
	ck_assert_int_eq(ntp_query_parse_reply(p, sizeof(p), cookie, t1, t1 + 1000, &s, &why), 0);
	ck_assert_double_eq_tol(s.offset_s, 10.0, 1e-6);
}
END_TEST

START_TEST(test_min_delay)
{
	struct ntp_sample s[4] = {
		{ .offset_s = 0.010, .delay_s = 0.030 },
		{ .offset_s = 0.002, .delay_s = 0.001 },
		{ .offset_s = -0.5, .delay_s = -1 },
		{ .offset_s = 0.003, .delay_s = 0.002 },
	};

	ck_assert_int_eq(ntp_query_min_delay(s, 4), 1);
	ck_assert_int_eq(ntp_query_min_delay(s, 1), 0);
	ck_assert_int_eq(ntp_query_min_delay(s + 2, 1), -1);
	ck_assert_int_eq(ntp_query_min_delay(s, 0), -1);
}
END_TEST

START_TEST(test_no_server_is_bounded)
{
	struct ntp_query_opts o = { .server = "127.0.7.250", .port = 37123, .samples = 3, .timeout_ms = 100 };
	struct ntp_query_result r;
	char err[256] = "";

	ck_assert_int_lt(ntp_query(&o, &r, err, sizeof(err)), 0);
	ck_assert_int_eq(r.good, 0);
	ck_assert_int_eq(r.sent, 3);
	ck_assert_msg(strstr(err, "127.0.7.250:37123") && strstr(err, "no valid reply"), "%s", err);
	o.server = "not-an-address";
	ck_assert_int_eq(ntp_query(&o, &r, err, sizeof(err)), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ntp_query");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_timestamps);
	tcase_add_test(tc, test_parse_and_arithmetic);
	tcase_add_test(tc, test_min_delay);
	tcase_add_test(tc, test_no_server_is_bounded);
	suite_add_tcase(s, tc);
	return check_run(s);
}
