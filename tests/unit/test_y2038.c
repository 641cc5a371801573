/* Y2038: the time code with instants after 2038-01-19T03:14:07Z (the last
 * second a signed 32-bit time_t holds), up to the end of the DS1307's range
 * (2099-12-31T23:59:59Z) and past it. Expected values come from
 * `date -u -d 2040-02-29T12:00:00Z +%s` and friends, not from the code. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rtc/ds1307_codec.h"
#include "report/status.h"
#include "time/timeutil.h"
#include "time/when.h"
#include "check_run.h"

/* The build's promise (meson.build: -D_TIME_BITS=64 where glibc has it). */
_Static_assert(sizeof(time_t) >= 8, "time_t is 32 bits: build with -D_TIME_BITS=64 -D_FILE_OFFSET_BITS=64");

static const struct {
	const char *rfc3339;	/* as timeutil_format_rfc3339 prints it, 0 digits */
	long long sec;
	uint8_t regs[DS1307_CLOCK_REGS];	/* the DS1307's registers, 24-hour mode */
} instants[] = {
	{ "2038-01-19T03:14:07Z", 2147483647LL, { 0x07, 0x14, 0x03, 0x02, 0x19, 0x01, 0x38 } },
	{ "2038-01-19T03:14:08Z", 2147483648LL, { 0x08, 0x14, 0x03, 0x02, 0x19, 0x01, 0x38 } },
	{ "2040-02-29T12:00:00Z", 2214129600LL, { 0x00, 0x00, 0x12, 0x03, 0x29, 0x02, 0x40 } },
	{ "2099-12-31T23:59:59Z", 4102444799LL, { 0x59, 0x59, 0x23, 0x04, 0x31, 0x12, 0x99 } },
};

START_TEST(test_when_rfc3339)
{
	struct timespec ts;
	char err[200] = "", text[64];

	ck_assert_msg(when_parse_rfc3339(instants[_i].rfc3339, &ts, err, sizeof(err)) == 0, "%s", err);
	ck_assert(ts.tv_sec == instants[_i].sec && ts.tv_nsec == 0);
	/* a fraction and an offset */
	snprintf(text, sizeof(text), "%.19s.123456789+01:00", instants[_i].rfc3339);
	ck_assert_msg(when_parse_rfc3339(text, &ts, err, sizeof(err)) == 0, "%s: %s", text, err);
	ck_assert(ts.tv_sec == instants[_i].sec - 3600 && ts.tv_nsec == 123456789);
}
END_TEST

START_TEST(test_when_forms_across_2038)
{
	/* 2038-01-19T03:14:00Z: 8 s before a 32-bit time_t overflows */
	const struct timespec now = { 2147483640LL, 0 };
	struct timespec ts;
	char err[200] = "";

	ck_assert_msg(when_parse("2147483648", now, &ts, err, sizeof(err)) == 0, "%s", err);
	ck_assert(ts.tv_sec == 2147483648LL);
	ck_assert_msg(when_parse("+10s", now, &ts, err, sizeof(err)) == 0, "%s", err);
	ck_assert(ts.tv_sec == 2147483650LL && ts.tv_nsec == 0);
	/* second 10 of the next minute, 03:15:10 */
	ck_assert_msg(when_parse(":10", now, &ts, err, sizeof(err)) == 0, "%s", err);
	ck_assert(ts.tv_sec == 2147483710LL);
	ck_assert(when_days_from_civil(2099, 12, 31) == 4102444799LL / 86400);
	ck_assert(when_days_from_civil(2100, 1, 1) == 4102444800LL / 86400);
}
END_TEST

START_TEST(test_timeutil)
{
	struct timespec ts = { (time_t)instants[_i].sec, 250000000 };
	struct timespec before = { 2147483647LL, 999999999 }, after;
	char buf[64], want[64];

	snprintf(want, sizeof(want), "%.19s.250Z", instants[_i].rfc3339);
	ck_assert_str_eq(timeutil_format_rfc3339(ts, 3, buf, sizeof(buf)), want);
	ck_assert_str_eq(timeutil_format_rfc3339((struct timespec){ (time_t)instants[_i].sec, 0 }, 0,
						 buf, sizeof(buf)), instants[_i].rfc3339);
	/* one nanosecond over the 32-bit edge, and the difference back */
	after = timeutil_ts_add_ns(before, 1);
	ck_assert(after.tv_sec == 2147483648LL && after.tv_nsec == 0);
	ck_assert(timeutil_ts_diff_ns(after, before) == 1);
	ck_assert(timeutil_ts_diff_ns(ts, before) == (instants[_i].sec - 2147483647LL) * NSEC_PER_SEC -
		  749999999LL);
	/* seconds as a double keep microseconds at 2099 */
	after = timeutil_double_to_ts(timeutil_ts_to_double(ts));
	ck_assert(after.tv_sec == ts.tv_sec);
	ck_assert(labs(after.tv_nsec - ts.tv_nsec) < 1000);
}
END_TEST

START_TEST(test_status_times)
{
	int64_t us, want = instants[_i].sec * 1000000LL + 250000;
	char text[64], buf[64];

	snprintf(text, sizeof(text), "%.19s.250Z", instants[_i].rfc3339);
	ck_assert_int_eq(status_parse_time(text, &us), 0);
	ck_assert(us == want);
	snprintf(text, sizeof(text), "%.19s.250000Z", instants[_i].rfc3339);
	ck_assert_str_eq(status_format_time(want, buf, sizeof(buf)), text);
}
END_TEST

/* A whole report sent in 2040 parses with its sent_at intact. */
START_TEST(test_status_document_2040)
{
	const struct status_meta meta = { "pi-07", "headset", "0.1.0", { 2214129600LL, 500000000 } };
	struct status_info info;
	char err[256] = "", *text;
	json_t *d = status_build(&meta, NULL, "chronyd not running", NULL, NULL);

	ck_assert_ptr_nonnull(d);
	ck_assert_str_eq(json_string_value(json_object_get(d, "sent_at")), "2040-02-29T12:00:00.500000Z");
	text = json_dumps(d, JSON_COMPACT);
	ck_assert_msg(status_parse(text, strlen(text), &info, NULL, err, sizeof(err)) == STATUS_OK, "%s", err);
	ck_assert(info.sent_at_us == 2214129600500000LL);
	free(text);
	json_decref(d);
}
END_TEST

START_TEST(test_ds1307)
{
	uint8_t regs[DS1307_CLOCK_REGS];
	struct ds1307_time t;
	char err[200] = "";

	ck_assert_int_eq(ds1307_encode_time(instants[_i].sec, regs), 0);
	ck_assert_mem_eq(regs, instants[_i].regs, DS1307_CLOCK_REGS);
	ck_assert_msg(ds1307_decode_time(instants[_i].regs, &t, err, sizeof(err)) == 0, "%s", err);
	ck_assert(t.epoch == instants[_i].sec);
	ck_assert_int_eq(ds1307_check_range(instants[_i].sec, err, sizeof(err)), 0);
}
END_TEST

/* 2100 and later, and before 2000: refused, and the message says why. */
START_TEST(test_ds1307_out_of_range)
{
	uint8_t regs[DS1307_CLOCK_REGS];
	char err[200] = "";

	ck_assert_int_eq(ds1307_encode_time(4102444800LL, regs), -ERANGE);
	ck_assert_int_eq(ds1307_check_range(4102444800LL, err, sizeof(err)), -ERANGE);
	ck_assert_msg(strstr(err, "2100-01-01T00:00:00Z is outside 2000-2099, the DS1307's range") &&
		      strstr(err, "2000-01-01T00:00:00Z to 2099-12-31T23:59:59Z"), "%s", err);
	ck_assert_int_eq(ds1307_encode_time(4294967296LL, regs), -ERANGE);
	ck_assert_int_eq(ds1307_check_range(4294967296LL, err, sizeof(err)), -ERANGE);
	ck_assert_msg(strstr(err, "2106-02-07T06:28:16Z is outside"), "%s", err);
	ck_assert_int_eq(ds1307_check_range(946684799LL, err, sizeof(err)), -ERANGE);
	ck_assert_msg(strstr(err, "1999-12-31T23:59:59Z is outside"), "%s", err);
	ck_assert_int_eq(ds1307_check_range(-1, err, sizeof(err)), -ERANGE);
	ck_assert_msg(strstr(err, "1969-12-31T23:59:59Z is outside"), "%s", err);
	ck_assert_int_eq(ds1307_check_range(INT64_MAX, err, sizeof(err)), -ERANGE);
	ck_assert_msg(strstr(err, "is outside 2000-2099, the DS1307's range"), "%s", err);
	ck_assert_int_eq(ds1307_check_range(INT64_MIN, err, sizeof(err)), -ERANGE);
	ck_assert_msg(strstr(err, "is outside 2000-2099, the DS1307's range"), "%s", err);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("y2038");
	TCase *tc = tcase_create("core");
	int n = (int)(sizeof(instants) / sizeof(instants[0]));

	tcase_add_loop_test(tc, test_when_rfc3339, 0, n);
	tcase_add_test(tc, test_when_forms_across_2038);
	tcase_add_loop_test(tc, test_timeutil, 0, n);
	tcase_add_loop_test(tc, test_status_times, 0, n);
	tcase_add_test(tc, test_status_document_2040);
	tcase_add_loop_test(tc, test_ds1307, 0, n);
	tcase_add_test(tc, test_ds1307_out_of_range);
	suite_add_tcase(s, tc);
	return check_run(s);
}
