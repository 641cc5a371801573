/* Unit tests for common/precise_wait: correctness only (never returns
 * before the target, whatever the stages; past targets return at once;
 * the hook runs). How close to the target it wakes is bench_at's business:
 * no timing thresholds here. Clock steps are covered by
 * tests/integration/test_at.py (libfaketime and the virtual clock). */
#include <check.h>
#include <stdlib.h>
#include <sys/prctl.h>

#include "time/precise_wait.h"
#include "time/timeutil.h"
#include "check_run.h"

static struct timespec in_ms(int ms)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return timeutil_ts_add_ns(now, (int64_t)ms * 1000000);
}

static const struct precise_wait_opts stage_sets[] = {
	{ .approach_ns = 0, .spin_ns = 0 },		/* timerfd only */
	{ .approach_ns = 2000000, .spin_ns = 0 },	/* + clock_nanosleep */
	{ .approach_ns = 2000000, .spin_ns = 1000000 },	/* + busy-poll (the default) */
	{ .approach_ns = 0, .spin_ns = 500000 },	/* timerfd + busy-poll */
	{ .approach_ns = 50000000, .spin_ns = 0 },	/* approach longer than the wait */
};

START_TEST(test_never_before_target)
{
	for (int i = 0; i < 3; i++) {
		struct timespec target = in_ms(5 + 7 * i);
		struct precise_wait_stats st;

		ck_assert_int_eq(precise_wait_until(target, &stage_sets[_i], &st), 0);
		ck_assert_msg(timeutil_ts_diff_ns(st.woke, target) >= 0, "woke %lld ns early",
			      (long long)-timeutil_ts_diff_ns(st.woke, target));
		ck_assert_uint_eq(st.steps, 0);
	}
}
END_TEST

START_TEST(test_past_target_returns_at_once)
{
	struct timespec target = in_ms(-1000);
	struct precise_wait_stats st;

	ck_assert_int_eq(precise_wait_until(target, NULL, &st), 0);
	/* Returned without waiting for anything: woke is a second past. */
	ck_assert_int_ge(timeutil_ts_diff_ns(st.woke, target), 900000000);
	ck_assert_uint_eq(st.steps, 0);
}
END_TEST

static void count_call(void *arg)
{
	(*(int *)arg)++;
}

START_TEST(test_before_final_hook_runs_once)
{
	int calls = 0;
	struct precise_wait_opts o = PRECISE_WAIT_OPTS_DEFAULT;

	o.before_final = count_call;
	o.arg = &calls;
	ck_assert_int_eq(precise_wait_until(in_ms(10), &o, NULL), 0);
	ck_assert_int_eq(calls, 1);
}
END_TEST

START_TEST(test_sets_timer_slack)
{
	prctl(PR_SET_TIMERSLACK, 50000UL, 0UL, 0UL, 0UL);
	ck_assert_int_eq(precise_wait_until(in_ms(1), NULL, NULL), 0);
	ck_assert_int_eq(prctl(PR_GET_TIMERSLACK, 0UL, 0UL, 0UL, 0UL), 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("precise_wait");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_never_before_target, 0,
			    (int)(sizeof(stage_sets) / sizeof(stage_sets[0])));
	tcase_add_test(tc, test_past_target_returns_at_once);
	tcase_add_test(tc, test_before_final_hook_runs_once);
	tcase_add_test(tc, test_sets_timer_slack);
	tcase_set_timeout(tc, 30);	/* valgrind */
	suite_add_tcase(s, tc);
	return check_run(s);
}
