/* Unit tests for common/when: every TIME form and bad input, as tables.
 * Expected epoch values come from `date -u -d 2026-11-21T20:00:10Z +%s`
 * (1795291210) and friends, not from the code under test. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "time/when.h"
#include "check_run.h"

/* 2026-11-21T19:59:55.5Z: the minute is 19:59, the next one 20:00. */
static const struct timespec now = { 1795291195, 500000000 };

static const struct {
	const char *text;
	long long sec;
	long nsec;
} good[] = {
	/* RFC 3339 */
	{ "2026-11-21T20:00:10Z", 1795291210, 0 },
	{ "2026-11-21T20:00:10.250Z", 1795291210, 250000000 },
	{ "2026-11-21T20:00:10.000000001Z", 1795291210, 1 },
	{ "2026-11-21T20:00:10.5z", 1795291210, 500000000 },
	{ "2026-11-21t20:00:10Z", 1795291210, 0 },
	{ "2026-11-21 20:00:10Z", 1795291210, 0 },
	{ "2026-11-21T22:00:10+02:00", 1795291210, 0 },	/* = 20:00:10Z */
	{ "2026-11-21T18:30:10.125-01:30", 1795291210, 125000000 },
	{ "2026-11-21T20:00:10+00:00", 1795291210, 0 },
	{ "2026-11-21T20:00:10-00:00", 1795291210, 0 },
	{ "2026-11-22T01:30:10+05:30", 1795291210, 0 },	/* crosses midnight */
	{ "2024-02-29T00:00:00Z", 1709164800, 0 },		/* leap day */
	{ "2000-03-01T00:00:00Z", 951868800, 0 },
	{ "1970-01-01T00:00:00Z", 0, 0 },
	{ "2026-12-31T23:59:59Z", 1798761599, 0 },
	{ "2027-01-01T00:00:00Z", 1798761600, 0 },
	{ "9999-12-31T23:59:59Z", 253402300799LL, 0 },
	/* epoch seconds */
	{ "1795291210", 1795291210, 0 },
	{ "1795291210.25", 1795291210, 250000000 },
	{ "1795291210.123456789", 1795291210, 123456789 },
	{ "@1795291210.5", 1795291210, 500000000 },
	{ "0", 0, 0 },
	/* +DURATION from 1795291195.5 */
	{ "+10s", 1795291205, 500000000 },
	{ "+10", 1795291205, 500000000 },
	{ "+1.5s", 1795291197, 0 },
	{ "+0.75", 1795291196, 250000000 },
	{ "+250ms", 1795291195, 750000000 },
	{ "+2m", 1795291315, 500000000 },
	{ "+1h", 1795294795, 500000000 },
	{ "+1m30s", 1795291285, 500000000 },
	{ "+1s500ms", 1795291197, 0 },
	{ "+1.5m", 1795291285, 500000000 },
	{ "+100us", 1795291195, 500100000 },
	{ "+7ns", 1795291195, 500000007 },
	{ "+0s", 1795291195, 500000000 },
	/* :SS, second SS of the next minute (20:00) */
	{ ":10", 1795291210, 0 },
	{ ":00", 1795291200, 0 },
	{ ":59", 1795291259, 0 },
	{ ":10.25", 1795291210, 250000000 },
	{ ":55", 1795291255, 0 },	/* 19:59:55.5 now: still the next minute */
};

static const struct {
	const char *text;
	const char *reason;	/* a piece of the message that must appear */
} bad[] = {
	{ "", "empty" },
	{ "tomorrow", "expected RFC 3339" },
	{ "2026-11-21", "time of day" },
	{ "2026-11-21T20:00", "hh:mm:ss" },
	{ "2026-11-21T20:00:10", "no time zone" },
	{ "2026-11-21T20:00:10.250", "no time zone" },
	{ "2026-11-21T20:00:10 UTC", "not a time zone" },
	{ "2026-11-21T20:00:10+0200", "not a time zone" },
	{ "2026-11-21T20:00:10+02:00x", "not a time zone" },
	{ "2026-11-21T20:00:10+24:00", "out of range" },
	{ "2026-11-21T20:00:10.Z", "fraction" },
	{ "2026-11-21T20:00:10.1234567890Z", "fraction" },
	{ "2026-13-21T20:00:10Z", "month 13" },
	{ "2026-00-21T20:00:10Z", "month 00" },
	{ "2026-02-29T20:00:10Z", "day 29 does not exist" },
	{ "2026-04-31T20:00:10Z", "day 31 does not exist" },
	{ "2026-11-00T20:00:10Z", "day 00" },
	{ "2026-11-21T24:00:10Z", "not a time of day" },
	{ "2026-11-21T20:60:10Z", "not a time of day" },
	{ "2026-11-21T20:00:60Z", "leap second" },
	{ "2026-11-21T20:00:61Z", "second 61" },
	{ "2026-11-21X20:00:10Z", "expected 'T'" },
	{ "26-11-21T20:00:10Z", "unexpected" },
	{ "1795291210.", "fraction" },
	{ "1795291210s", "unexpected 's'" },
	{ "-5", "expected RFC 3339" },
	{ "@", "expected RFC 3339" },
	{ "99999999999999999999", "year 9999" },
	{ "+", "empty duration" },
	{ "+s", "expected a number" },
	{ "+10x", "unknown unit" },
	{ "+10sec", "unknown unit" },
	{ "+1m30", "without a unit" },
	{ "+1.s", "fraction" },
	{ "+-5s", "expected a number" },
	{ "+367d", "unknown unit" },
	{ "+9000h", "longer than 366 days" },
	{ "+99999999999999999999s", "longer than 366 days" },
	{ ":", "two digits" },
	{ ":5", "two digits" },
	{ ":60", "second 60" },
	{ ":10s", "unexpected 's'" },
	{ ":10.", "fraction" },
	{ ":100", "unexpected '0'" },
};

START_TEST(test_good)
{
	struct timespec out = { -1, -1 };
	char err[256] = "";
	int rc = when_parse(good[_i].text, now, &out, err, sizeof(err));

	ck_assert_msg(rc == 0, "'%s': rc %d: %s", good[_i].text, rc, err);
	ck_assert_msg(out.tv_sec == good[_i].sec && out.tv_nsec == good[_i].nsec,
		      "'%s': got %lld.%09ld, want %lld.%09ld", good[_i].text, (long long)out.tv_sec,
		      out.tv_nsec, good[_i].sec, good[_i].nsec);
}
END_TEST

START_TEST(test_bad)
{
	struct timespec out = { 0, 0 };
	char err[256] = "";
	int rc = when_parse(bad[_i].text, now, &out, err, sizeof(err));

	ck_assert_msg(rc == -EINVAL, "'%s': accepted as %lld.%09ld", bad[_i].text,
		      (long long)out.tv_sec, out.tv_nsec);
	ck_assert_msg(strstr(err, bad[_i].reason), "'%s': message '%s' lacks '%s'", bad[_i].text,
		      err, bad[_i].reason);
	ck_assert_msg(!strncmp(err, "TIME '", 6), "'%s': message '%s' does not quote TIME",
		      bad[_i].text, err);
}
END_TEST

START_TEST(test_next_minute_boundaries)
{
	struct timespec out;
	char err[256];

	/* Exactly on a minute (20:00:00.000): the next minute is 20:01. */
	ck_assert_int_eq(when_parse(":10", (struct timespec){ 1795291200, 0 }, &out, err, sizeof(err)), 0);
	ck_assert_int_eq(out.tv_sec, 1795291270);
	/* The last nanosecond of 19:59: the next minute is 20:00. */
	ck_assert_int_eq(when_parse(":00", (struct timespec){ 1795291199, 999999999 }, &out, err,
				    sizeof(err)), 0);
	ck_assert_int_eq(out.tv_sec, 1795291200);
	/* Before the epoch the minute still rounds down. */
	ck_assert_int_eq(when_parse(":00", (struct timespec){ -30, 0 }, &out, err, sizeof(err)), 0);
	ck_assert_int_eq(out.tv_sec, 0);
}
END_TEST

START_TEST(test_long_input_truncated_in_message)
{
	char text[300], err[256];
	struct timespec out;

	memset(text, 'x', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	ck_assert_int_eq(when_parse(text, now, &out, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "...'"));
	ck_assert_uint_lt(strlen(err), sizeof(err) - 1);
}
END_TEST

START_TEST(test_days_from_civil)
{
	ck_assert_int_eq(when_days_from_civil(1970, 1, 1), 0);
	ck_assert_int_eq(when_days_from_civil(1969, 12, 31), -1);
	ck_assert_int_eq(when_days_from_civil(2000, 3, 1), 951868800 / 86400);
	ck_assert_int_eq(when_days_from_civil(2026, 11, 21), 1795291210 / 86400);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("when");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_good, 0, (int)(sizeof(good) / sizeof(good[0])));
	tcase_add_loop_test(tc, test_bad, 0, (int)(sizeof(bad) / sizeof(bad[0])));
	tcase_add_test(tc, test_next_minute_boundaries);
	tcase_add_test(tc, test_long_input_truncated_in_message);
	tcase_add_test(tc, test_days_from_civil);
	suite_add_tcase(s, tc);
	return check_run(s);
}
