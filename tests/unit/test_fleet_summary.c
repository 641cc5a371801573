/* Unit tests for common/fleet_summary (pure). Bounds worked out by hand. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "report/fleet_summary.h"
#include "check_run.h"

#define NOW 1000.0

START_TEST(test_error_bound)
{
	ck_assert_double_eq_tol(fleet_error_bound(-0.002, 0.010, 0.001), 0.008, 1e-12);
	ck_assert_double_eq_tol(fleet_error_bound(0.0, 0.0, 0.0), 0.0, 1e-12);
	ck_assert_double_eq_tol(fleet_error_bound(0.003, 0.0, 0.0), 0.003, 1e-12);
}
END_TEST

START_TEST(test_empty)
{
	struct fleet_summary s;

	fleet_summarize(NULL, 0, NOW, 15, 0.040, NULL, &s);
	ck_assert_int_eq(s.verdict, FLEET_EMPTY);
	ck_assert_int_eq(s.worst, -1);
	ck_assert_str_eq(fleet_verdict_name(s.verdict), "empty");
}
END_TEST

START_TEST(test_ok_and_spread)
{
	/* bounds: a 1+1+0.5 = 2.5 ms, b 3+0.5+0 = 3.5 ms, c 0.5+0+0 = 0.5 ms */
	struct fleet_host h[] = {
		{ "a", true, true, 0.001, 0.002, 0.0005, NOW - 1, { .have = false } },
		{ "b", true, true, -0.003, 0.001, 0.0, NOW - 2, { .have = false } },
		{ "c", true, true, 0.0005, 0.0, 0.0, NOW - 3, { .have = false } },
	};
	struct fleet_host_eval e[3];
	struct fleet_summary s;

	fleet_summarize(h, 3, NOW, 15, 0.040, e, &s);
	ck_assert_double_eq_tol(e[0].error_bound_s, 0.0025, 1e-12);
	ck_assert_double_eq_tol(e[1].error_bound_s, 0.0035, 1e-12);
	ck_assert_double_eq_tol(e[2].age_s, 3.0, 1e-9);
	ck_assert_double_eq_tol(s.spread_bound_s, 0.006, 1e-12);
	ck_assert_int_eq(s.worst, 1);
	ck_assert_double_eq_tol(s.worst_bound_s, 0.0035, 1e-12);
	ck_assert_int_eq(s.ready, 3);
	ck_assert_int_eq(s.verdict, FLEET_OK);
	/* the same fleet against a 5 ms budget: spread 6 ms is over */
	fleet_summarize(h, 3, NOW, 15, 0.005, e, &s);
	ck_assert_int_eq(s.verdict, FLEET_OVER_BUDGET);
	ck_assert_int_eq(s.over_budget, 0);
	ck_assert_int_eq(s.ready, 3);
	/* and against 3 ms: b alone is over */
	fleet_summarize(h, 3, NOW, 15, 0.003, e, &s);
	ck_assert(e[1].over_budget && !e[0].over_budget);
	ck_assert(!e[1].ready);
	ck_assert_int_eq(s.over_budget, 1);
	ck_assert_int_eq(s.ready, 2);
}
END_TEST

START_TEST(test_stale_and_unsynced)
{
	struct fleet_host h[] = {
		{ "a", true, true, 0.001, 0.0, 0.0, NOW - 1, { .have = false } },
		/* stale, and its large bound must not count in the spread */
		{ "old", true, true, 0.5, 0.0, 0.0, NOW - 60, { .have = false } },
		{ "nochrony", false, false, 0, 0, 0, NOW - 1, { .have = false } },
	};
	struct fleet_host_eval e[3];
	struct fleet_summary s;

	fleet_summarize(h, 3, NOW, 15, 0.040, e, &s);
	ck_assert(e[1].stale && !e[0].stale);
	ck_assert(isnan(e[2].error_bound_s));
	ck_assert(!e[2].ready && !e[2].over_budget);
	ck_assert_int_eq(s.stale, 1);
	ck_assert_int_eq(s.unsynchronised, 1);
	ck_assert_double_eq_tol(s.spread_bound_s, 0.001, 1e-12);
	ck_assert_int_eq(s.worst, 0);
	ck_assert_int_eq(s.verdict, FLEET_STALE);
	/* exactly stale_after old is still fresh */
	h[1].received_at = NOW - 15;
	h[1].offset_s = 0.001;
	fleet_summarize(h, 2, NOW, 15, 0.040, e, &s);
	ck_assert(!e[1].stale);
	ck_assert_int_eq(s.verdict, FLEET_OK);
	/* a fresh unsynchronised host */
	h[1].synchronised = false;
	fleet_summarize(h, 2, NOW, 15, 0.040, e, &s);
	ck_assert_int_eq(s.verdict, FLEET_UNSYNCHRONISED);
	ck_assert_str_eq(fleet_verdict_name(s.verdict), "unsynchronised");
}
END_TEST

/* Issue 20: two headsets following master m1 whose own distance to its
 * upstream (10 ms root delay, 1 ms root dispersion) they share: absolute
 * bounds 9.2 and 9.5 ms (spread 18.7 ms, over a 10 ms budget), relative 3.2
 * and 3.5 ms (spread 6.7 ms, within it). */
START_TEST(test_relative_verdict)
{
	struct spread_sel m1 = { true, "m1", 0.010, 0.001, 0.002, 0.0015, false };
	struct fleet_host h[] = {
		{ "a", true, true, 0.0002, 0.012, 0.003, NOW - 1, m1 },
		{ "b", true, true, -0.0005, 0.012, 0.003, NOW - 1, m1 },
		{ "old", true, true, 0.0001, 0.012, 0.003, NOW - 1, { .have = false } },
	};
	struct fleet_host_eval e[3];
	struct fleet_summary s;

	fleet_summarize(h, 2, NOW, 15, 0.010, e, &s);
	ck_assert_int_eq(s.verdict, FLEET_OK);
	ck_assert_int_eq(s.spread_kind, SPREAD_RELATIVE);
	ck_assert_double_eq_tol(s.spread_bound_s, 0.0067, 1e-12);
	ck_assert_double_eq_tol(s.absolute_spread_bound_s, 0.0187, 1e-12);
	ck_assert_double_eq_tol(s.spread_floor_s, 0.002, 1e-12);
	ck_assert(e[0].relative && e[1].relative);
	ck_assert_double_eq_tol(e[1].relative_bound_s, 0.0035, 1e-12);
	ck_assert_double_eq_tol(e[1].error_bound_s, 0.0095, 1e-12);
	ck_assert_uint_eq(s.ready, 2);
	/* the same headsets from an agent without chrony.selected: absolute */
	fleet_summarize(h + 2, 1, NOW, 15, 0.005, e, &s);
	ck_assert_int_eq(s.spread_kind, SPREAD_ABSOLUTE);
	ck_assert_int_eq(s.verdict, FLEET_OVER_BUDGET);
	ck_assert(!e[0].relative);
	/* mixed: a pair with the old agent (9.1 ms) falls back to 9.5 + 9.1 */
	fleet_summarize(h, 3, NOW, 15, 0.010, e, &s);
	ck_assert_int_eq(s.spread_kind, SPREAD_MIXED);
	ck_assert_double_eq_tol(s.spread_bound_s, 0.0186, 1e-12);
	ck_assert_int_eq(s.verdict, FLEET_OVER_BUDGET);
	/* a master change: b follows m2 now */
	snprintf(h[1].sel.master, sizeof(h[1].sel.master), "m2");
	fleet_summarize(h, 2, NOW, 15, 0.010, e, &s);
	ck_assert_int_eq(s.spread_kind, SPREAD_ABSOLUTE);
	ck_assert_double_eq_tol(s.spread_bound_s, 0.0187, 1e-12);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fleet_summary");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_error_bound);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_ok_and_spread);
	tcase_add_test(tc, test_stale_and_unsynced);
	tcase_add_test(tc, test_relative_verdict);
	suite_add_tcase(s, tc);
	return check_run(s);
}
