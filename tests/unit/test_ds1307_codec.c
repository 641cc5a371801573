/* Unit tests for common/ds1307_codec: register tables written from the
 * datasheet (BCD, 12/24 h, CH, year bounds) with epochs from `date -u +%s`,
 * and the NVRAM record round trip and corruption. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "rtc/ds1307_codec.h"

struct decode_case {
	uint8_t regs[7];
	int rc;
	int64_t epoch;
	int mode_12h;
};

static const struct decode_case decode_cases[] = {
	/* 2026-11-21T20:00:10Z, Saturday, 24-hour mode */
	{ { 0x10, 0x00, 0x20, 0x06, 0x21, 0x11, 0x26 }, 0, 1795291210, 0 },
	/* Same time in 12-hour mode: 8 PM = 0x40 | 0x20 | 0x08 */
	{ { 0x10, 0x00, 0x68, 0x06, 0x21, 0x11, 0x26 }, 0, 1795291210, 1 },
	/* 12:30 AM is 00:30 */
	{ { 0x00, 0x30, 0x52, 0x06, 0x21, 0x11, 0x26 }, 0, 1795221000, 1 },
	/* 12:30 PM is 12:30 */
	{ { 0x00, 0x30, 0x72, 0x06, 0x21, 0x11, 0x26 }, 0, 1795264200, 1 },
	/* 11:30 PM is 23:30 */
	{ { 0x00, 0x30, 0x71, 0x06, 0x21, 0x11, 0x26 }, 0, 1795303800, 1 },
	/* bounds of the chip: 2000-01-01 and 2099-12-31T23:59:59 */
	{ { 0x00, 0x00, 0x00, 0x06, 0x01, 0x01, 0x00 }, 0, 946684800, 0 },
	{ { 0x59, 0x59, 0x23, 0x04, 0x31, 0x12, 0x99 }, 0, 4102444799, 0 },
	/* leap day 2024-02-29T12:34:56Z */
	{ { 0x56, 0x34, 0x12, 0x04, 0x29, 0x02, 0x24 }, 0, 1709210096, 0 },
	/* CH set: halted, whatever the rest says */
	{ { 0x80, 0x00, 0x00, 0x06, 0x01, 0x01, 0x00 }, -ENODATA, 0, 0 },
	{ { 0x90, 0x00, 0x20, 0x06, 0x21, 0x11, 0x26 }, -ENODATA, 0, 0 },
	/* garbage BCD in every field */
	{ { 0x0a, 0x00, 0x20, 0x06, 0x21, 0x11, 0x26 }, -EINVAL, 0, 0 },
	{ { 0x60, 0x00, 0x20, 0x06, 0x21, 0x11, 0x26 }, -EINVAL, 0, 0 },
	{ { 0x00, 0x5f, 0x20, 0x06, 0x21, 0x11, 0x26 }, -EINVAL, 0, 0 },
	{ { 0x00, 0x00, 0x24, 0x06, 0x21, 0x11, 0x26 }, -EINVAL, 0, 0 },
	{ { 0x00, 0x00, 0x40, 0x06, 0x21, 0x11, 0x26 }, -EINVAL, 0, 0 },	/* 12 h mode, hour 0 */
	{ { 0x00, 0x00, 0x53, 0x06, 0x21, 0x11, 0x26 }, -EINVAL, 0, 0 },	/* 12 h mode, hour 13 */
	{ { 0x00, 0x00, 0x20, 0x00, 0x21, 0x11, 0x26 }, -EINVAL, 0, 0 },	/* weekday 0 */
	{ { 0x00, 0x00, 0x20, 0x08, 0x21, 0x11, 0x26 }, -EINVAL, 0, 0 },
	{ { 0x00, 0x00, 0x20, 0x06, 0x00, 0x11, 0x26 }, -EINVAL, 0, 0 },	/* date 0 */
	{ { 0x00, 0x00, 0x20, 0x06, 0x32, 0x11, 0x26 }, -EINVAL, 0, 0 },
	{ { 0x00, 0x00, 0x20, 0x06, 0x31, 0x11, 0x26 }, -EINVAL, 0, 0 },	/* November 31 */
	{ { 0x00, 0x00, 0x20, 0x06, 0x29, 0x02, 0x25 }, -EINVAL, 0, 0 },	/* 2025-02-29 */
	{ { 0x00, 0x00, 0x20, 0x06, 0x21, 0x13, 0x26 }, -EINVAL, 0, 0 },	/* month 13 */
	{ { 0x00, 0x00, 0x20, 0x06, 0x21, 0x00, 0x26 }, -EINVAL, 0, 0 },
	{ { 0x00, 0x00, 0x20, 0x06, 0x21, 0x11, 0xa0 }, -EINVAL, 0, 0 },	/* year 0xa0 */
	{ { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, -ENODATA, 0, 0 },
	{ { 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, -EINVAL, 0, 0 },
};

START_TEST(test_decode)
{
	const struct decode_case *c = &decode_cases[_i];
	struct ds1307_time t;
	char err[256] = "";
	int rc = ds1307_decode_time(c->regs, &t, err, sizeof(err));

	ck_assert_msg(rc == c->rc, "case %d: rc %d, expected %d (%s)", _i, rc, c->rc, err);
	if (rc == 0) {
		ck_assert_int_eq(t.epoch, c->epoch);
		ck_assert_int_eq(t.mode_12h, c->mode_12h);
		ck_assert(!t.halted);
	} else {
		ck_assert_msg(strlen(err) > 10, "case %d: no message", _i);
	}
	if (rc == -ENODATA) {
		ck_assert(t.halted);
		ck_assert_ptr_nonnull(strstr(err, "CH"));
	}
	if (rc == -EINVAL)
		ck_assert_ptr_nonnull(strstr(err, "register 0x0"));
}
END_TEST

START_TEST(test_encode)
{
	uint8_t r[7];
	/* 2026-11-21T20:00:10Z Saturday (6), always written in 24-hour mode */
	static const uint8_t want[7] = { 0x10, 0x00, 0x20, 0x06, 0x21, 0x11, 0x26 };
	static const uint8_t want_end[7] = { 0x59, 0x59, 0x23, 0x04, 0x31, 0x12, 0x99 };
	static const uint8_t want_leap[7] = { 0x56, 0x34, 0x12, 0x04, 0x29, 0x02, 0x24 };

	ck_assert_int_eq(ds1307_encode_time(1795291210, r), 0);
	ck_assert_mem_eq(r, want, 7);
	ck_assert_int_eq(ds1307_encode_time(4102444799, r), 0);
	ck_assert_mem_eq(r, want_end, 7);
	ck_assert_int_eq(ds1307_encode_time(1709210096, r), 0);
	ck_assert_mem_eq(r, want_leap, 7);
	/* Years outside 2000-2099 do not fit the chip. */
	ck_assert_int_eq(ds1307_encode_time(946684799, r), -ERANGE);
	ck_assert_int_eq(ds1307_encode_time(4102444800, r), -ERANGE);
	ck_assert_int_eq(ds1307_encode_time(0, r), -ERANGE);
}
END_TEST

START_TEST(test_round_trip_every_day)
{
	struct ds1307_time t;
	uint8_t r[7];
	char err[128];

	/* Every day of the chip's range, at a changing time of day. */
	for (int64_t e = DS1307_EPOCH_MIN; e < DS1307_EPOCH_END; e += 86400 + 3607) {
		ck_assert_int_eq(ds1307_encode_time(e, r), 0);
		ck_assert_int_eq(ds1307_decode_time(r, &t, err, sizeof(err)), 0);
		ck_assert_int_eq(t.epoch, e);
	}
}
END_TEST

START_TEST(test_bcd)
{
	ck_assert_int_eq(ds1307_bcd_decode(0x59), 59);
	ck_assert_int_eq(ds1307_bcd_decode(0x00), 0);
	ck_assert_int_eq(ds1307_bcd_decode(0x1a), -1);
	ck_assert_int_eq(ds1307_bcd_decode(0xa1), -1);
	ck_assert_int_eq(ds1307_bcd_encode(47), 0x47);
}
END_TEST

START_TEST(test_crc32)
{
	/* The standard check value of CRC-32/IEEE. */
	ck_assert_uint_eq(ds1307_crc32((const uint8_t *)"123456789", 9), 0xcbf43926u);
}
END_TEST

static const struct ds1307_record sample_record = {
	.flags = DS1307_RECORD_TIME_VALID | DS1307_RECORD_DRIFT_VALID,
	.last_set = 1795291210,
	.ref_sec = 1795294810,
	.ref_nsec = 123456789,
	.ref_offset = -0.001234,
	.drift_ppm = 201.125,
	.drift_unc_ppm = 0.75,
};

START_TEST(test_record_round_trip)
{
	uint8_t buf[DS1307_NVRAM_SIZE];
	struct ds1307_record r;
	char err[256];

	memset(buf, 0xee, sizeof(buf));
	ck_assert_int_eq(ds1307_record_encode(&sample_record, buf), 0);
	ck_assert_mem_eq(buf, "FCRT\x01\x2c\x03\x00", 8);
	ck_assert_uint_eq(buf[DS1307_RECORD_SIZE], 0xee);	/* nothing beyond the record */
	ck_assert_int_eq(ds1307_record_decode(buf, sizeof(buf), &r, err, sizeof(err)), 0);
	ck_assert_uint_eq(r.flags, sample_record.flags);
	ck_assert_int_eq(r.last_set, 1795291210);
	ck_assert_int_eq(r.ref_sec, 1795294810);
	ck_assert_uint_eq(r.ref_nsec, 123456789);
	ck_assert_double_eq_tol(r.ref_offset, -0.001234, 1e-9);
	ck_assert_double_eq_tol(r.drift_ppm, 201.125, 1e-9);
	ck_assert_double_eq_tol(r.drift_unc_ppm, 0.75, 1e-9);
}
END_TEST

START_TEST(test_record_corruption)
{
	uint8_t buf[DS1307_RECORD_SIZE], bad[DS1307_RECORD_SIZE];
	struct ds1307_record r, big = sample_record;
	char err[256];

	ck_assert_int_eq(ds1307_record_encode(&sample_record, buf), 0);
	/* Every single bit flip in the record is caught. */
	for (size_t i = 0; i < sizeof(buf) * 8; i++) {
		memcpy(bad, buf, sizeof(buf));
		bad[i / 8] ^= (uint8_t)(1u << (i % 8));
		ck_assert_int_lt(ds1307_record_decode(bad, sizeof(bad), &r, err, sizeof(err)), 0);
	}
	memcpy(bad, buf, sizeof(buf));
	bad[20] ^= 0x01;
	ck_assert_int_eq(ds1307_record_decode(bad, sizeof(bad), &r, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "corrupt"));
	memset(bad, 0, sizeof(bad));	/* a fresh chip */
	ck_assert_int_eq(ds1307_record_decode(bad, sizeof(bad), &r, err, sizeof(err)), -ENOENT);
	memcpy(bad, buf, sizeof(buf));
	bad[4] = 2;			/* a future version */
	ck_assert_int_eq(ds1307_record_decode(bad, sizeof(bad), &r, err, sizeof(err)), -EPROTO);
	ck_assert_int_eq(ds1307_record_decode(buf, 20, &r, err, sizeof(err)), -EPROTO);
	/* CRC-valid but out of range: a writer's bug is still refused. */
	big.ref_sec = 0;
	ck_assert_int_eq(ds1307_record_encode(&big, buf), 0);
	ck_assert_int_eq(ds1307_record_decode(buf, sizeof(buf), &r, err, sizeof(err)), -EBADMSG);
	big = sample_record;
	big.last_set = 0;		/* never written: allowed */
	ck_assert_int_eq(ds1307_record_encode(&big, buf), 0);
	ck_assert_int_eq(ds1307_record_decode(buf, sizeof(buf), &r, err, sizeof(err)), 0);
	bad[0] = 0;
	ck_assert_int_eq(ds1307_record_encode(&sample_record, bad), 0);
	bad[7] = 0x40;			/* reserved byte, CRC recomputed */
	bad[40] = (uint8_t)ds1307_crc32(bad, 40);
	bad[41] = (uint8_t)(ds1307_crc32(bad, 40) >> 8);
	bad[42] = (uint8_t)(ds1307_crc32(bad, 40) >> 16);
	bad[43] = (uint8_t)(ds1307_crc32(bad, 40) >> 24);
	ck_assert_int_eq(ds1307_record_decode(bad, sizeof(bad), &r, err, sizeof(err)), -EPROTO);
	big = sample_record;
	big.ref_offset = 3000.0;	/* does not fit in int32 microseconds */
	ck_assert_int_eq(ds1307_record_encode(&big, buf), -ERANGE);
	big = sample_record;
	big.ref_nsec = 1000000000u;
	ck_assert_int_eq(ds1307_record_encode(&big, buf), -ERANGE);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ds1307_codec");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_decode, 0, sizeof(decode_cases) / sizeof(decode_cases[0]));
	tcase_add_test(tc, test_encode);
	tcase_add_test(tc, test_round_trip_every_day);
	tcase_add_test(tc, test_bcd);
	tcase_add_test(tc, test_crc32);
	tcase_add_test(tc, test_record_round_trip);
	tcase_add_test(tc, test_record_corruption);
	suite_add_tcase(s, tc);
	return check_run(s);
}
