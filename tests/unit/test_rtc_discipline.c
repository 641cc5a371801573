/* Unit tests for agent/rtc_discipline: the decision table of one daemon
 * step and the boot restore estimate (pure functions, values by hand). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "rtc/rtc_discipline.h"

struct decide_case {
	struct rtc_disc_input in;
	enum rtc_disc_action action;
	bool sample;
};

#define T 0.005
static const struct decide_case decide_cases[] = {
	/* readable, valid, offset, synchronised, threshold */
	{ { true, true, 0.001, true, T }, RTC_DISC_KEEP, true },
	{ { true, true, -0.0049, true, T }, RTC_DISC_KEEP, true },
	{ { true, true, 0.0051, true, T }, RTC_DISC_REWRITE, true },
	{ { true, true, -0.75, true, T }, RTC_DISC_REWRITE, true },
	/* never write, never sample from an unsynchronised clock */
	{ { true, true, 0.75, false, T }, RTC_DISC_KEEP, false },
	{ { true, true, 0.001, false, T }, RTC_DISC_KEEP, false },
	/* invalid RTC (CH, garbage): restore it only from a synchronised clock */
	{ { false, false, 0, true, T }, RTC_DISC_REWRITE, false },
	{ { false, false, 0, false, T }, RTC_DISC_WAIT_SYNC, false },
	/* I/O error: report, do nothing else */
	{ { false, true, 0, true, T }, RTC_DISC_FAULT, false },
	{ { false, true, 0, false, T }, RTC_DISC_FAULT, false },
};

START_TEST(test_decide)
{
	const struct decide_case *c = &decide_cases[_i];
	struct rtc_disc_decision d;

	rtc_discipline_decide(&c->in, &d);
	ck_assert_msg(d.action == c->action, "case %d: %s, expected %s", _i,
		      rtc_discipline_action_name(d.action), rtc_discipline_action_name(c->action));
	ck_assert_int_eq(d.add_sample, c->sample);
	ck_assert(d.why && strlen(d.why) > 10);
}
END_TEST

static const struct ds1307_record rec = {
	.flags = DS1307_RECORD_TIME_VALID | DS1307_RECORD_DRIFT_VALID,
	.last_set = 1795291200,
	.ref_sec = 1795291210,		/* 2026-11-21T20:00:10Z */
	.ref_nsec = 0,
	.ref_offset = 0.002,		/* RTC 2 ms ahead then */
	.drift_ppm = 200,
	.drift_unc_ppm = 1,
};

START_TEST(test_restore_takes_drift_out)
{
	struct rtc_restore r;
	/* One day later by the RTC: it gained 2 ms + 86400 s * 200e-6 = 17.282 s. */
	int64_t rtc = 1795291210 + 86400;

	rtc_discipline_restore(&rec, 0, rtc, 0.0003, 1795000000, &r);
	ck_assert(r.ok);
	ck_assert(r.drift_used);
	ck_assert_double_eq_tol(r.elapsed, 86400, 1e-9);
	ck_assert_double_eq_tol(r.correction, -17.282, 1e-9);
	ck_assert_double_eq_tol(r.true_time, (double)rtc - 17.282, 1e-6);
	/* 1 ppm over a day plus the edge */
	ck_assert_double_eq_tol(r.uncertainty, 0.0864 + 0.0003, 1e-9);
}
END_TEST

START_TEST(test_restore_without_drift)
{
	struct ds1307_record r0 = rec;
	struct rtc_restore r;

	r0.flags = DS1307_RECORD_TIME_VALID;
	rtc_discipline_restore(&r0, 0, 1795291210 + 3600, 0, 1795000000, &r);
	ck_assert(r.ok);
	ck_assert(!r.drift_used);
	ck_assert_double_eq_tol(r.correction, -0.002, 1e-12);
}
END_TEST

START_TEST(test_restore_refusals)
{
	struct ds1307_record r0 = rec;
	struct rtc_restore r;

	rtc_discipline_restore(&rec, -EBADMSG, 1795291210, 0, 1795000000, &r);
	ck_assert(!r.ok);
	ck_assert_ptr_nonnull(strstr(r.why, "no valid record"));
	r0.flags = 0;
	rtc_discipline_restore(&r0, 0, 1795291210, 0, 1795000000, &r);
	ck_assert(!r.ok);
	/* Before the build: reset to 2000 or so. */
	rtc_discipline_restore(&rec, 0, 946684800, 0, 1795000000, &r);
	ck_assert(!r.ok);
	ck_assert_ptr_nonnull(strstr(r.why, "built"));
	/* Well before its own last write. */
	rtc_discipline_restore(&rec, 0, 1795291200 - 3600, 0, 1795000000, &r);
	ck_assert(!r.ok);
	ck_assert_ptr_nonnull(strstr(r.why, "before its last write"));
	/* 1000 ppm over 3 years: more than a day, not believed. */
	r0 = rec;
	r0.drift_ppm = 1000;
	rtc_discipline_restore(&r0, 0, 1795291210 + 3 * 31536000LL, 0, 1795000000, &r);
	ck_assert(!r.ok);
	ck_assert_ptr_nonnull(strstr(r.why, "implausible"));
	/* A few seconds before is drift, not a reset. */
	rtc_discipline_restore(&rec, 0, 1795291200 - 5, 0, 1795000000, &r);
	ck_assert(r.ok);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("rtc_discipline");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_decide, 0, sizeof(decide_cases) / sizeof(decide_cases[0]));
	tcase_add_test(tc, test_restore_takes_drift_out);
	tcase_add_test(tc, test_restore_without_drift);
	tcase_add_test(tc, test_restore_refusals);
	suite_add_tcase(s, tc);
	return check_run(s);
}
