/* Unit tests for common/time/timeutil. */
#include <check.h>
#include <stdlib.h>

#include "time/timeutil.h"
#include "check_run.h"

START_TEST(test_double_round_trip)
{
	struct timespec ts = timeutil_double_to_ts(-1.25);

	ck_assert_int_eq(ts.tv_sec, -2);
	ck_assert_int_eq(ts.tv_nsec, 750000000);
	ts = timeutil_double_to_ts(1.9999999999);
	ck_assert_int_eq(ts.tv_sec, 2);
	ck_assert_int_eq(ts.tv_nsec, 0);
	ck_assert_double_eq_tol(timeutil_ts_to_double((struct timespec){ 3, 500000000 }), 3.5, 1e-12);
}
END_TEST

START_TEST(test_diff_and_add)
{
	struct timespec a = { 10, 100 }, b = { 9, 999999900 };

	ck_assert_int_eq(timeutil_ts_diff_ns(a, b), 200);
	ck_assert_int_eq(timeutil_ts_diff_ns(b, a), -200);
	b = timeutil_ts_add_ns(b, 200);
	ck_assert_int_eq(b.tv_sec, 10);
	ck_assert_int_eq(b.tv_nsec, 100);
	b = timeutil_ts_add_ns(b, -201);
	ck_assert_int_eq(b.tv_sec, 9);
	ck_assert_int_eq(b.tv_nsec, 999999899);
	a = (struct timespec){ INT64_MAX / 2, 0 };
	b = (struct timespec){ -(INT64_MAX / 2), 0 };
	ck_assert_int_eq(timeutil_ts_diff_ns(a, b), INT64_MAX);
}
END_TEST

START_TEST(test_rfc3339)
{
	char buf[64];
	/* 2026-11-21T20:00:10Z is 1795291210 (date -u -d ... +%s). */
	struct timespec ts = { 1795291210, 250000000 };

	ck_assert_str_eq(timeutil_format_rfc3339(ts, 3, buf, sizeof(buf)), "2026-11-21T20:00:10.250Z");
	ck_assert_str_eq(timeutil_format_rfc3339(ts, 0, buf, sizeof(buf)), "2026-11-21T20:00:10Z");
	ck_assert_str_eq(timeutil_format_rfc3339(ts, 9, buf, sizeof(buf)), "2026-11-21T20:00:10.250000000Z");
	ck_assert_ptr_null(timeutil_format_rfc3339(ts, 3, buf, 10));
	ck_assert_ptr_null(timeutil_format_rfc3339(ts, 10, buf, sizeof(buf)));
}
END_TEST

START_TEST(test_duration)
{
	char b[32];

	ck_assert_str_eq(timeutil_format_duration(812e-9, 0, b, sizeof(b)), "812ns");
	ck_assert_str_eq(timeutil_format_duration(12.3e-6, 1, b, sizeof(b)), "+12.300us");
	ck_assert_str_eq(timeutil_format_duration(-0.0015, 0, b, sizeof(b)), "-1.500ms");
	ck_assert_str_eq(timeutil_format_duration(0.005, 0, b, sizeof(b)), "5.000ms");
	ck_assert_str_eq(timeutil_format_duration(1020.0012, 0, b, sizeof(b)), "1020.001s");
	ck_assert_str_eq(timeutil_format_duration(0.0, 1, b, sizeof(b)), "+0ns");
	ck_assert_str_eq(timeutil_format_duration(0.9996, 0, b, sizeof(b)), "1.000s");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("timeutil");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_double_round_trip);
	tcase_add_test(tc, test_diff_and_add);
	tcase_add_test(tc, test_rfc3339);
	tcase_add_test(tc, test_duration);
	suite_add_tcase(s, tc);
	return check_run(s);
}
