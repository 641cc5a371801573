/* Unit tests for common/chrony_wire: the cmdmon v6 codec. Expected values
 * come from docs/chrony-protocol.md (the protocol facts read from chrony
 * 4.3) and from byte layouts written out by hand here, not from the codec. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "chrony/chrony_wire.h"
#include "check_run.h"

/* --- Float --- */

static const struct {
	uint32_t wire;
	double value;
} float_vectors[] = {
	{ 0x04800000, 1.0 },
	{ 0x03000000, -1.0 },
	{ 0x02800000, 0.5 },
	{ 0x06C00000, 3.0 },
	{ 0xF083126F, 0.001 },
	{ 0x00000000, 0.0 },
};

START_TEST(test_float_vectors_decode)
{
	double v = chrony_wire_float_decode(float_vectors[_i].wire);

	ck_assert_double_eq_tol(v, float_vectors[_i].value, fabs(float_vectors[_i].value) * 1e-7 + 1e-300);
}
END_TEST

START_TEST(test_float_vectors_encode)
{
	ck_assert_uint_eq(chrony_wire_float_encode(float_vectors[_i].value), float_vectors[_i].wire);
}
END_TEST

START_TEST(test_float_special)
{
	ck_assert_uint_eq(chrony_wire_float_encode(NAN), 0);
	ck_assert_uint_eq(chrony_wire_float_encode(1e-101), 0);
	ck_assert_uint_eq(chrony_wire_float_encode(-1e-101), 0);
	/* Saturation: huge values come back as large values of the same sign. */
	ck_assert(chrony_wire_float_decode(chrony_wire_float_encode(1e200)) > 1e18);
	ck_assert(chrony_wire_float_decode(chrony_wire_float_encode(-1e200)) < -1e18);
	ck_assert(chrony_wire_float_decode(chrony_wire_float_encode(INFINITY)) > 1e18);
	/* Every 32-bit pattern decodes to a finite number. */
	for (uint64_t w = 0; w <= 0xFFFFFFFFull; w += 0x10001)
		ck_assert(isfinite(chrony_wire_float_decode((uint32_t)w)));
}
END_TEST

START_TEST(test_float_round_trip)
{
	/* About 24 bits of precision over chrony's range of interest. */
	static const double values[] = { 1e-9, -3.7e-6, 0.000123, -0.0425, 1.5, 100.5, -1020.0001,
					 86400.25, 1.7e9, -2.5e-12 };

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		double back = chrony_wire_float_decode(chrony_wire_float_encode(values[i]));

		ck_assert_msg(fabs(back - values[i]) <= fabs(values[i]) * 1.2e-7,
			      "%.12g came back as %.12g", values[i], back);
	}
}
END_TEST

/* --- Timespec and IPAddr --- */

START_TEST(test_timespec)
{
	const uint8_t normal[12] = { 0, 0, 0, 1, 0x00, 0x00, 0x00, 0x02, 0x1D, 0xCD, 0x65, 0x00 };
	const uint8_t t32[12] = { 0x7F, 0xFF, 0xFF, 0xFF, 0x6A, 0x1F, 0x2B, 0x3C, 0, 0, 0, 5 };
	const uint8_t bad_ns[12] = { 0, 0, 0, 0, 0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF };
	uint8_t out[12];
	struct timespec ts;

	ts = chrony_wire_timespec_decode(normal);
	ck_assert_int_eq(ts.tv_sec, (1LL << 32) + 2);
	ck_assert_int_eq(ts.tv_nsec, 500000000);
	/* High word 0x7FFFFFFF: the sender had a 32-bit time_t. */
	ts = chrony_wire_timespec_decode(t32);
	ck_assert_int_eq(ts.tv_sec, 0x6A1F2B3C);
	ck_assert_int_eq(ts.tv_nsec, 5);
	ts = chrony_wire_timespec_decode(bad_ns);
	ck_assert_int_eq(ts.tv_nsec, 999999999);
	chrony_wire_timespec_encode((struct timespec){ (1LL << 32) + 2, 500000000 }, out);
	ck_assert_mem_eq(out, normal, 12);
}
END_TEST

START_TEST(test_ipaddr)
{
	const uint8_t v4[20] = { 192, 0, 2, 1, [16] = 0, 1 };
	const uint8_t v6[20] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1, [16] = 0, 2 };
	const uint8_t id[20] = { 0, 0, 0, 7, [16] = 0, 3 };
	const uint8_t unspec[20] = { 0 };
	const uint8_t bad[20] = { [16] = 0, 9 };
	struct chrony_ipaddr ip;
	uint8_t out[20];
	char buf[64];

	ck_assert_int_eq(chrony_wire_ipaddr_decode(v4, &ip), 0);
	ck_assert_uint_eq(ip.family, CHRONY_AF_INET4);
	ck_assert_str_eq(chrony_wire_ipaddr_str(&ip, buf, sizeof(buf)), "192.0.2.1");
	chrony_wire_ipaddr_encode(&ip, out);
	ck_assert_mem_eq(out, v4, 20);

	ck_assert_int_eq(chrony_wire_ipaddr_decode(v6, &ip), 0);
	ck_assert_str_eq(chrony_wire_ipaddr_str(&ip, buf, sizeof(buf)), "2001:db8::1");
	chrony_wire_ipaddr_encode(&ip, out);
	ck_assert_mem_eq(out, v6, 20);

	/* Family 3: an unresolved name, identified by a number (not IPv6!). */
	ck_assert_int_eq(chrony_wire_ipaddr_decode(id, &ip), 0);
	ck_assert_uint_eq(ip.family, CHRONY_AF_ID);
	ck_assert_uint_eq(ip.addr.id, 7);
	ck_assert_str_eq(chrony_wire_ipaddr_str(&ip, buf, sizeof(buf)), "ID#0000000007");
	chrony_wire_ipaddr_encode(&ip, out);
	ck_assert_mem_eq(out, id, 20);

	ck_assert_int_eq(chrony_wire_ipaddr_decode(unspec, &ip), 0);
	ck_assert_uint_eq(ip.family, CHRONY_AF_UNSPEC);
	ck_assert_int_eq(chrony_wire_ipaddr_decode(bad, &ip), -EPROTO);

	ck_assert_int_eq(chrony_wire_ipaddr_parse("10.1.2.3", &ip), 0);
	ck_assert_uint_eq(ip.addr.in4, 0x0A010203);
	ck_assert_int_eq(chrony_wire_ipaddr_parse("::1", &ip), 0);
	ck_assert_uint_eq(ip.family, CHRONY_AF_INET6);
	ck_assert_int_eq(chrony_wire_ipaddr_parse("pool.ntp.org", &ip), -EINVAL);
}
END_TEST

/* --- Requests --- */

/* Request lengths from the protocol doc's table (padded to the reply). */
static const struct {
	uint16_t command;
	size_t bytes;
	uint16_t reply;
} command_table[] = {
	{ CHRONY_CMD_N_SOURCES, 32, 2 },   { CHRONY_CMD_SOURCE_DATA, 76, 3 },
	{ CHRONY_CMD_TRACKING, 104, 5 },   { CHRONY_CMD_SOURCESTATS, 84, 6 },
	{ CHRONY_CMD_ACTIVITY, 48, 12 },   { CHRONY_CMD_NTP_SOURCE_NAME, 284, 19 },
	{ CHRONY_CMD_MAKESTEP, 28, 1 },    { CHRONY_CMD_MODIFY_MAKESTEP, 28, 1 },
	{ CHRONY_CMD_LOCAL2, 36, 1 },      { CHRONY_CMD_ONLINE, 60, 1 },
	{ CHRONY_CMD_OFFLINE, 60, 1 },     { CHRONY_CMD_BURST, 68, 1 },
	{ CHRONY_CMD_NTP_DATA, 152, 16 },
	{ CHRONY_CMD_RESET_SOURCES, 28, 1 }, { CHRONY_CMD_DFREQ, 28, 1 },
	{ CHRONY_CMD_DOFFSET2, 28, 1 },
};

START_TEST(test_request_lengths)
{
	struct chrony_request req = { .command = command_table[_i].command };
	uint8_t buf[CHRONY_MAX_REQ_LEN];
	int n;

	memset(buf, 0xAA, sizeof(buf));
	n = chrony_wire_encode_request(&req, 0x01020304, 2, buf, sizeof(buf));
	ck_assert_int_eq(n, (int)command_table[_i].bytes);
	ck_assert_uint_eq(chrony_wire_expected_reply(req.command), command_table[_i].reply);
	/* Header: version 6, request, reserved 0, command, attempt, sequence, pads 0 */
	ck_assert_uint_eq(buf[0], 6);
	ck_assert_uint_eq(buf[1], 1);
	ck_assert_uint_eq(buf[2] | buf[3], 0);
	ck_assert_uint_eq(buf[4] << 8 | buf[5], req.command);
	ck_assert_uint_eq(buf[6] << 8 | buf[7], 2);
	ck_assert_uint_eq(buf[8], 1);
	ck_assert_uint_eq(buf[11], 4);
	for (int i = 12; i < 20; i++)
		ck_assert_uint_eq(buf[i], 0);
	ck_assert_int_eq(chrony_wire_encode_request(&req, 1, 0, buf, command_table[_i].bytes - 1), -ENOSPC);
}
END_TEST

START_TEST(test_request_bodies)
{
	struct chrony_request req = { .command = CHRONY_CMD_LOCAL2 };
	const uint8_t local2[16] = { 0, 0, 0, 1, 0, 0, 0, 10, 0x04, 0x80, 0, 0, 0, 0, 0, 1 };
	const uint8_t modify[8] = { 0xFF, 0xFF, 0xFF, 0xFF, 0x02, 0x80, 0, 0 };
	const uint8_t dfreq[8] = { 0x06, 0xA0, 0, 0, 0, 0, 0, 0 };
	const uint8_t doffset[8] = { 0xF0, 0x83, 0x12, 0x6F, 0, 0, 0, 0 };
	const uint8_t burst[48] = { 255, 255, 255, 0, [17] = 1, [20] = 192, 0, 2, 0, [37] = 1,
				    [43] = 4, [47] = 8 };
	uint8_t buf[CHRONY_MAX_REQ_LEN];

	req.u.local.on_off = 1;
	req.u.local.stratum = 10;
	req.u.local.distance = 1.0;
	req.u.local.orphan = 1;
	ck_assert_int_eq(chrony_wire_encode_request(&req, 0, 0, buf, sizeof(buf)), 36);
	ck_assert_mem_eq(buf + 20, local2, 16);

	memset(&req, 0, sizeof(req));
	req.command = CHRONY_CMD_MODIFY_MAKESTEP;
	req.u.modify_makestep.limit = -1;
	req.u.modify_makestep.threshold = 0.5;
	ck_assert_int_eq(chrony_wire_encode_request(&req, 0, 0, buf, sizeof(buf)), 28);
	ck_assert_mem_eq(buf + 20, modify, 8);

	/* DFREQ 2.5 ppm: coefficient 1.25 * 2^23, exponent 3 (x = c * 2^(e-25)) */
	memset(&req, 0, sizeof(req));
	req.command = CHRONY_CMD_DFREQ;
	req.u.dfreq_ppm = 2.5;
	ck_assert_int_eq(chrony_wire_encode_request(&req, 0, 0, buf, sizeof(buf)), 28);
	ck_assert_mem_eq(buf + 20, dfreq, 8);

	/* DOFFSET2 0.001 s: the vector chronyc 4.3 sends for "doffset 0.001" */
	memset(&req, 0, sizeof(req));
	req.command = CHRONY_CMD_DOFFSET2;
	req.u.doffset_s = 0.001;
	ck_assert_int_eq(chrony_wire_encode_request(&req, 0, 0, buf, sizeof(buf)), 28);
	ck_assert_mem_eq(buf + 20, doffset, 8);
	ck_assert_uint_eq(buf[4] << 8 | buf[5], 71);

	memset(&req, 0, sizeof(req));
	req.command = CHRONY_CMD_BURST;
	ck_assert_int_eq(chrony_wire_ipaddr_parse("255.255.255.0", &req.u.burst.mask), 0);
	ck_assert_int_eq(chrony_wire_ipaddr_parse("192.0.2.0", &req.u.burst.address), 0);
	req.u.burst.n_good = 4;
	req.u.burst.n_total = 8;
	ck_assert_int_eq(chrony_wire_encode_request(&req, 0, 0, buf, sizeof(buf)), 68);
	ck_assert_mem_eq(buf + 20, burst, 48);

	/* An invalid family is refused, an unknown command too. */
	memset(&req, 0, sizeof(req));
	req.command = CHRONY_CMD_NTP_DATA;
	req.u.ip.family = 9;
	ck_assert_int_eq(chrony_wire_encode_request(&req, 0, 0, buf, sizeof(buf)), -EINVAL);
	req.command = 999;
	ck_assert_int_eq(chrony_wire_encode_request(&req, 0, 0, buf, sizeof(buf)), -EINVAL);
}
END_TEST

/* --- Replies --- */

static void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xFF; }
static void put32(uint8_t *p, uint32_t v) { put16(p, v >> 16); put16(p + 2, v & 0xFFFF); }

/* A reply header written out by hand. */
static void reply_header(uint8_t *b, uint16_t command, uint16_t reply, uint16_t status, uint32_t seq)
{
	memset(b, 0, CHRONY_RPY_HDR_LEN);
	b[0] = 6;
	b[1] = 2;
	put16(b + 4, command);
	put16(b + 6, reply);
	put16(b + 8, status);
	put32(b + 16, seq);
}

START_TEST(test_reply_lengths)
{
	uint16_t cmd = command_table[_i].command, type = command_table[_i].reply;
	size_t exact = command_table[_i].reply == 1 ? 28 : command_table[_i].bytes;
	uint8_t buf[1024] = { 0 };
	struct chrony_reply r;

	reply_header(buf, cmd, type, 0, 42);
	ck_assert_uint_eq(chrony_wire_reply_length(type), exact);
	ck_assert_int_eq(chrony_wire_decode_reply(buf, exact, cmd, &r), 0);
	/* Short for its type: ask again. */
	ck_assert_int_eq(chrony_wire_decode_reply(buf, exact - 1, cmd, &r), -EBADMSG);
	/* Longer than the type: trailing bytes are ignored. */
	ck_assert_int_eq(chrony_wire_decode_reply(buf, exact + 4, cmd, &r), 0);
	ck_assert_uint_eq(r.hdr.sequence, 42);
}
END_TEST

START_TEST(test_tracking_decode)
{
	uint8_t b[104] = { 0 };
	struct chrony_reply r;

	reply_header(b, 33, 5, 0, 7);
	put32(b + 28, 0x7F000201);		/* ref_id */
	b[32] = 127; b[33] = 0; b[34] = 2; b[35] = 1;
	put16(b + 48, 1);			/* family INET4 */
	put16(b + 52, 9);			/* stratum */
	put16(b + 54, 3);			/* leap: unsynchronised */
	put32(b + 60, 1795291210);		/* ref_time seconds (low word) */
	put32(b + 64, 250000000);		/* ref_time ns */
	put32(b + 68, 0x03000000);		/* current_correction -1.0 */
	put32(b + 72, 0x02800000);		/* last_offset 0.5 */
	put32(b + 80, 0x06C00000);		/* freq_ppm 3.0 */
	put32(b + 96, 0xF083126F);		/* root_dispersion 0.001 */
	ck_assert_int_eq(chrony_wire_decode_reply(b, sizeof(b), 33, &r), 0);
	ck_assert_uint_eq(r.u.tracking.ref_id, 0x7F000201);
	ck_assert_uint_eq(r.u.tracking.ip.addr.in4, 0x7F000201);
	ck_assert_uint_eq(r.u.tracking.stratum, 9);
	ck_assert_uint_eq(r.u.tracking.leap_status, 3);
	ck_assert_int_eq(r.u.tracking.ref_time.tv_sec, 1795291210);
	ck_assert_int_eq(r.u.tracking.ref_time.tv_nsec, 250000000);
	ck_assert_double_eq(r.u.tracking.current_correction, -1.0);
	ck_assert_double_eq(r.u.tracking.last_offset, 0.5);
	ck_assert_double_eq(r.u.tracking.freq_ppm, 3.0);
	ck_assert_double_eq_tol(r.u.tracking.root_dispersion, 0.001, 1e-9);
	ck_assert_double_eq(r.u.tracking.root_delay, 0.0);
}
END_TEST

START_TEST(test_source_decode)
{
	uint8_t b[284] = { 0 };
	struct chrony_reply r;

	reply_header(b, 15, 3, 0, 1);
	put32(b + 28, 7);
	put16(b + 44, 3);			/* family ID: an unresolved name */
	put16(b + 48, (uint16_t)-2);		/* poll -2 */
	put16(b + 50, 16);			/* stratum */
	put16(b + 52, 2);			/* falseticker */
	put16(b + 58, 0377);			/* reach */
	put32(b + 60, 0xFFFFFFFF);		/* no sample yet */
	ck_assert_int_eq(chrony_wire_decode_reply(b, 76, 15, &r), 0);
	ck_assert_uint_eq(r.u.source_data.ip.family, CHRONY_AF_ID);
	ck_assert_int_eq(r.u.source_data.poll, -2);
	ck_assert_str_eq(chrony_wire_state_str(r.u.source_data.state), "falseticker");
	ck_assert_uint_eq(r.u.source_data.reachability, 255);
	ck_assert_uint_eq(r.u.source_data.since_sample, CHRONY_NO_SAMPLE);
	/* An address family that does not exist makes the reply invalid. */
	put16(b + 44, 77);
	ck_assert_int_eq(chrony_wire_decode_reply(b, 76, 15, &r), -EPROTO);

	/* A name of 256 bytes with no NUL and control characters. */
	reply_header(b, 65, 19, 0, 1);
	memset(b + 28, 'a', 256);
	b[28] = '\n';
	ck_assert_int_eq(chrony_wire_decode_reply(b, 284, 65, &r), 0);
	ck_assert_uint_eq(strlen(r.u.source_name), 256);
	ck_assert_int_eq(r.u.source_name[0], '?');
}
END_TEST

START_TEST(test_reply_errors)
{
	uint8_t b[152] = { 0 };
	struct chrony_reply r;

	/* chronyd's answer to a failure: RPY_NULL with a status. */
	reply_header(b, 43, 1, CHRONY_STT_FAILED, 1);
	ck_assert_int_eq(chrony_wire_decode_reply(b, 28, 43, &r), -EREMOTEIO);
	ck_assert_uint_eq(r.hdr.status, 1);
	reply_header(b, 33, 1, CHRONY_STT_BADPKTVERSION, 1);
	ck_assert_int_eq(chrony_wire_decode_reply(b, 28, 33, &r), -EREMOTEIO);
	ck_assert_str_eq(chrony_wire_status_str(r.hdr.status), "protocol version mismatch");
	/* Success but the wrong type for the command (NTP_DATA type 26 of chrony 4.4+). */
	reply_header(b, 57, 26, 0, 1);
	ck_assert_int_eq(chrony_wire_decode_reply(b, 152, 57, &r), -EPROTO);
	reply_header(b, 33, 3, 0, 1);
	ck_assert_int_eq(chrony_wire_decode_reply(b, 104, 33, &r), -EPROTO);
	/* Too short for a header at all. */
	ck_assert_int_eq(chrony_wire_decode_reply(b, 27, 33, &r), -EBADMSG);
}
END_TEST

START_TEST(test_match)
{
	uint8_t b[900] = { 0 };
	struct chrony_reply_header h;

	reply_header(b, 33, 5, 0, 0xDEADBEEF);
	ck_assert_int_eq(chrony_wire_match_reply(b, 104, 33, 0xDEADBEEF, &h), CHRONY_MATCH_OK);
	ck_assert_int_eq(chrony_wire_match_reply(b, 104, 33, 0xDEADBEEE, &h), CHRONY_MATCH_IGNORE);
	ck_assert_int_eq(chrony_wire_match_reply(b, 104, 14, 0xDEADBEEF, &h), CHRONY_MATCH_IGNORE);
	ck_assert_int_eq(chrony_wire_match_reply(b, 27, 33, 0xDEADBEEF, &h), CHRONY_MATCH_IGNORE);
	ck_assert_int_eq(chrony_wire_match_reply(b, 861, 33, 0xDEADBEEF, &h), CHRONY_MATCH_IGNORE);
	b[2] = 1;	/* reserved byte set */
	ck_assert_int_eq(chrony_wire_match_reply(b, 104, 33, 0xDEADBEEF, &h), CHRONY_MATCH_IGNORE);
	b[2] = 0;
	b[1] = 1;	/* a request, not a reply (our own packet echoed?) */
	ck_assert_int_eq(chrony_wire_match_reply(b, 104, 33, 0xDEADBEEF, &h), CHRONY_MATCH_IGNORE);
	b[1] = 2;
	b[0] = 5;	/* another protocol version */
	ck_assert_int_eq(chrony_wire_match_reply(b, 104, 33, 0xDEADBEEF, &h), CHRONY_MATCH_BAD_VERSION);
	ck_assert_uint_eq(h.version, 5);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("chrony_wire");
	TCase *tc = tcase_create("codec");
	size_t nf = sizeof(float_vectors) / sizeof(float_vectors[0]);
	size_t nc = sizeof(command_table) / sizeof(command_table[0]);

	tcase_add_loop_test(tc, test_float_vectors_decode, 0, (int)nf);
	tcase_add_loop_test(tc, test_float_vectors_encode, 0, (int)nf);
	tcase_add_test(tc, test_float_special);
	tcase_add_test(tc, test_float_round_trip);
	tcase_add_test(tc, test_timespec);
	tcase_add_test(tc, test_ipaddr);
	tcase_add_loop_test(tc, test_request_lengths, 0, (int)nc);
	tcase_add_test(tc, test_request_bodies);
	tcase_add_loop_test(tc, test_reply_lengths, 0, (int)nc);
	tcase_add_test(tc, test_tracking_decode);
	tcase_add_test(tc, test_source_decode);
	tcase_add_test(tc, test_reply_errors);
	tcase_add_test(tc, test_match);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return check_run(s);
}
