/* Unit tests for agent/holdover_freq: the fitted rate of chronyd's
 * corrections against the oscillator, in chronyd's sign, and which
 * samples are fitted (settle, fresh, following, window, steps). The clocks
 * fed in are built from a chosen rate r: realtime advances (1 + r) s per
 * raw second, so chronyd's frequency for it is -r (an oscillator slow by
 * r needed speeding up by r); the expected values are that r. */
#include <math.h>
#include <stdint.h>

#include "check_run.h"
#include "election/holdover_freq.h"

#define S 1000000000LL
#define EPOCH 1790000000LL	/* realtime of the first sample, s */

struct clk {
	int64_t raw0;		/* raw clock at t = 0, ns */
	int64_t rt;		/* realtime at the last segment start, ns */
	int64_t seg_t;		/* t of the last segment start, ns */
	double r;		/* realtime - raw rate in the segment */
};

static void clk_init(struct clk *c, int64_t raw0, double r)
{
	*c = (struct clk){ .raw0 = raw0, .rt = EPOCH * S, .seg_t = 0, .r = r };
}

static int64_t rt_at(const struct clk *c, int64_t t)
{
	return c->rt + (t - c->seg_t) + llround((double)(t - c->seg_t) * c->r);
}

/* a new rate from t on, realtime continuous */
static void clk_rate(struct clk *c, int64_t t, double r)
{
	c->rt = rt_at(c, t);
	c->seg_t = t;
	c->r = r;
}

/* one round per second over [from, to] s; corr(t) s added as chronyd's
 * correction (NULL: 0) */
static void feed(struct holdover_freq *h, const struct clk *c, int from, int to, bool following,
		 bool fresh, double (*corr)(int))
{
	for (int t = from; t <= to; t++)
		holdover_freq_observe(h, following, fresh, c->raw0 + t * S, rt_at(c, t * S),
				      corr ? corr(t) : 0.0);
}

static int64_t raw_at(const struct clk *c, int t)
{
	return c->raw0 + t * S;
}

static double zigzag(int t)
{
	/* +-50 us in the pattern + - - + (no trend of its own) */
	return (t % 4 == 0 || t % 4 == 3) ? 50e-6 : -50e-6;
}

START_TEST(test_empty)
{
	struct holdover_freq h;
	struct holdover_freq_estimate e;
	double d = 99;

	holdover_freq_init(&h, 600, 30, 60);
	ck_assert(!holdover_freq_get(&h, 1000 * S, &e));
	ck_assert_uint_eq(e.samples, 0);
	ck_assert(!holdover_freq_delta(&h, 1000 * S, 1.0, &d));
	ck_assert(d == 0.0);
}
END_TEST

START_TEST(test_exact_rate)
{
	struct holdover_freq h;
	struct holdover_freq_estimate e;
	struct clk c;

	/* an oscillator 10.5 ppm slow: chronyd's frequency -10.5 */
	holdover_freq_init(&h, 600, 0, 60);
	clk_init(&c, 5000 * S, 10.5e-6);
	feed(&h, &c, 0, 100, true, true, NULL);
	ck_assert(holdover_freq_get(&h, raw_at(&c, 100), &e));
	ck_assert_double_eq_tol(e.ppm, -10.5, 1e-4);
	ck_assert_uint_eq(e.samples, 101);
	ck_assert_double_eq_tol(e.span_s, 100.0, 1e-9);
	ck_assert(e.rms_s < 1e-8);
}
END_TEST

START_TEST(test_large_clock_values)
{
	struct holdover_freq h;
	struct holdover_freq_estimate e;
	struct clk c;

	/* 40 days of uptime on the raw clock, a fast oscillator */
	holdover_freq_init(&h, 600, 0, 60);
	clk_init(&c, 40LL * 86400 * S, -23.25e-6);
	feed(&h, &c, 0, 300, true, true, NULL);
	ck_assert(holdover_freq_get(&h, raw_at(&c, 300), &e));
	ck_assert_double_eq_tol(e.ppm, 23.25, 1e-4);
}
END_TEST

START_TEST(test_settle)
{
	struct holdover_freq h;
	struct holdover_freq_estimate e;
	struct clk c;

	/* converging: 50 ppm for 30 s, then the rate it keeps, 10 ppm */
	holdover_freq_init(&h, 600, 30, 60);
	clk_init(&c, 5000 * S, 50e-6);
	feed(&h, &c, 0, 29, true, true, NULL);
	ck_assert(!holdover_freq_get(&h, raw_at(&c, 29), &e));
	ck_assert_uint_eq(e.samples, 0);
	clk_rate(&c, 30 * S, 10e-6);
	feed(&h, &c, 30, 100, true, true, NULL);
	ck_assert(holdover_freq_get(&h, raw_at(&c, 100), &e));
	ck_assert_uint_eq(e.samples, 71);
	ck_assert_double_eq_tol(e.ppm, -10.0, 1e-4);
}
END_TEST

START_TEST(test_correction_counts)
{
	struct holdover_freq h;
	struct holdover_freq_estimate e;
	struct clk c;

	/* jitter in chronyd's pending correction: the line is still found */
	holdover_freq_init(&h, 600, 0, 60);
	clk_init(&c, 5000 * S, 10.5e-6);
	feed(&h, &c, 0, 99, true, true, zigzag);
	ck_assert(holdover_freq_get(&h, raw_at(&c, 99), &e));
	ck_assert_double_eq_tol(e.ppm, -10.5, 0.05);
	ck_assert_double_eq_tol(e.rms_s, 50e-6, 5e-6);
}
END_TEST

START_TEST(test_not_fresh_not_following)
{
	struct holdover_freq h;
	struct holdover_freq_estimate e;
	struct clk c;

	holdover_freq_init(&h, 600, 0, 10);
	clk_init(&c, 5000 * S, 3e-6);
	feed(&h, &c, 0, 20, true, true, NULL);
	/* coasting on a lost source at another rate: not fitted */
	clk_rate(&c, 20 * S, -40e-6);
	feed(&h, &c, 21, 40, true, false, NULL);
	feed(&h, &c, 41, 45, false, true, NULL);
	ck_assert(holdover_freq_get(&h, raw_at(&c, 45), &e));
	ck_assert_uint_eq(e.samples, 21);
	ck_assert_double_eq_tol(e.ppm, -3.0, 1e-4);
}
END_TEST

START_TEST(test_settle_again_after_a_break)
{
	struct holdover_freq h;
	struct holdover_freq_estimate e;
	struct clk c;

	holdover_freq_init(&h, 600, 30, 0);
	clk_init(&c, 5000 * S, 2e-6);
	feed(&h, &c, 0, 40, true, true, NULL);		/* fitted: 30..40 */
	feed(&h, &c, 41, 99, false, true, NULL);	/* serving */
	feed(&h, &c, 100, 129, true, true, NULL);	/* settling again */
	feed(&h, &c, 130, 140, true, true, NULL);	/* fitted */
	ck_assert(holdover_freq_get(&h, raw_at(&c, 140), &e));
	ck_assert_uint_eq(e.samples, 22);
	ck_assert_double_eq_tol(e.span_s, 110.0, 1e-9);
	ck_assert_double_eq_tol(e.ppm, -2.0, 1e-4);
}
END_TEST

START_TEST(test_window_slides)
{
	struct holdover_freq h;
	struct holdover_freq_estimate e;
	struct clk c;

	holdover_freq_init(&h, 100, 0, 50);
	clk_init(&c, 5000 * S, 1e-6);
	feed(&h, &c, 0, 100, true, true, NULL);
	clk_rate(&c, 100 * S, 3e-6);
	feed(&h, &c, 101, 300, true, true, NULL);
	/* at 300 the window reaches back to about 200: only the 3 ppm part */
	ck_assert(holdover_freq_get(&h, raw_at(&c, 300), &e));
	ck_assert_double_eq_tol(e.ppm, -3.0, 1e-4);
	ck_assert(e.samples >= 100 && e.samples <= 103);
	/* long after, nothing is left */
	ck_assert(!holdover_freq_get(&h, raw_at(&c, 500), &e));
	ck_assert_uint_eq(e.samples, 0);
}
END_TEST

START_TEST(test_unknown_step_restarts)
{
	struct holdover_freq h;
	struct holdover_freq_estimate e;
	struct clk c;

	holdover_freq_init(&h, 600, 0, 30);
	clk_init(&c, 5000 * S, 4e-6);
	feed(&h, &c, 0, 50, true, true, NULL);
	c.rt += S / 20;		/* someone steps the clock by 50 ms */
	feed(&h, &c, 51, 100, true, true, NULL);
	ck_assert_uint_eq(h.resets, 1);
	ck_assert(holdover_freq_get(&h, raw_at(&c, 100), &e));
	ck_assert_uint_eq(e.samples, 50);
	ck_assert_double_eq_tol(e.ppm, -4.0, 1e-4);
	/* a reset by the caller (its own step) forgets everything */
	holdover_freq_reset(&h);
	ck_assert(!holdover_freq_get(&h, raw_at(&c, 100), &e));
	ck_assert_uint_eq(e.samples, 0);
}
END_TEST

START_TEST(test_min_span_and_delta)
{
	struct holdover_freq h;
	struct holdover_freq_estimate e;
	struct clk c;
	double d;

	holdover_freq_init(&h, 600, 0, 60);
	clk_init(&c, 5000 * S, 10.5e-6);
	feed(&h, &c, 0, 50, true, true, NULL);
	ck_assert(!holdover_freq_get(&h, raw_at(&c, 50), &e));
	ck_assert_uint_eq(e.samples, 51);	/* what there is, still told */
	ck_assert(!holdover_freq_delta(&h, raw_at(&c, 50), 0.0, &d));
	feed(&h, &c, 51, 60, true, true, NULL);
	ck_assert(holdover_freq_delta(&h, raw_at(&c, 60), -8.0, &d));
	ck_assert_double_eq_tol(d, -2.5, 1e-4);
	ck_assert(holdover_freq_delta(&h, raw_at(&c, 60), -13.0, &d));
	ck_assert_double_eq_tol(d, 2.5, 1e-4);
	ck_assert(!holdover_freq_delta(&h, raw_at(&c, 60), -10.5002, &d));	/* not worth it */
	ck_assert(d == 0.0);
	ck_assert(!holdover_freq_delta(&h, raw_at(&c, 60), 95.0, &d));	/* 105 ppm apart */
	ck_assert(!holdover_freq_delta(&h, raw_at(&c, 60), NAN, &d));
}
END_TEST

START_TEST(test_phase)
{
	struct holdover_freq h;
	struct clk c;
	double a;

	holdover_freq_init(&h, 600, 0, 60);
	clk_init(&c, 5000 * S, 10.5e-6);
	ck_assert(!holdover_freq_phase(&h, raw_at(&c, 0), rt_at(&c, 0), 0.0, &a));	/* no fit */
	ck_assert(a == 0.0);
	feed(&h, &c, 0, 100, true, true, NULL);
	/* 3 s later (coasting), the clock 50 us ahead of the line */
	ck_assert(holdover_freq_phase(&h, raw_at(&c, 103), rt_at(&c, 103 * S) + 50000, 0.0, &a));
	ck_assert_double_eq_tol(a, 50e-6, 1e-7);
	/* ... or chronyd still has 50 us to slew back: the same */
	ck_assert(holdover_freq_phase(&h, raw_at(&c, 103), rt_at(&c, 103 * S), 50e-6, &a));
	ck_assert_double_eq_tol(a, 50e-6, 1e-7);
	ck_assert(holdover_freq_phase(&h, raw_at(&c, 103), rt_at(&c, 103 * S) - 80000, 0.0, &a));
	ck_assert_double_eq_tol(a, -80e-6, 1e-7);
	/* on the line: nothing to do */
	ck_assert(!holdover_freq_phase(&h, raw_at(&c, 103), rt_at(&c, 103 * S), 0.0, &a));
	/* 150 us off a perfect line (rms ~0): beyond 4 rms + 100 us, not trusted */
	ck_assert(!holdover_freq_phase(&h, raw_at(&c, 103), rt_at(&c, 103 * S) + 150000, 0.0, &a));
	ck_assert_double_eq_tol(a, 150e-6, 1e-7);	/* still told */
	ck_assert(!holdover_freq_phase(&h, raw_at(&c, 103), rt_at(&c, 103 * S), NAN, &a));
}
END_TEST

START_TEST(test_phase_noisy)
{
	struct holdover_freq h;
	struct clk c;
	double a;

	/* rms 50 us: up to 4 x 50 + 100 = 300 us is trusted */
	holdover_freq_init(&h, 600, 0, 60);
	clk_init(&c, 5000 * S, -3e-6);
	feed(&h, &c, 0, 99, true, true, zigzag);
	ck_assert(holdover_freq_phase(&h, raw_at(&c, 101), rt_at(&c, 101 * S) + 250000, 0.0, &a));
	ck_assert_double_eq_tol(a, 250e-6, 10e-6);
	ck_assert(!holdover_freq_phase(&h, raw_at(&c, 101), rt_at(&c, 101 * S) + 400000, 0.0, &a));
	/* before min_span: none */
	holdover_freq_init(&h, 600, 0, 60);
	feed(&h, &c, 0, 30, true, true, zigzag);
	ck_assert(!holdover_freq_phase(&h, raw_at(&c, 31), rt_at(&c, 31 * S) + 250000, 0.0, &a));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("holdover_freq");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_exact_rate);
	tcase_add_test(tc, test_large_clock_values);
	tcase_add_test(tc, test_settle);
	tcase_add_test(tc, test_correction_counts);
	tcase_add_test(tc, test_not_fresh_not_following);
	tcase_add_test(tc, test_settle_again_after_a_break);
	tcase_add_test(tc, test_window_slides);
	tcase_add_test(tc, test_unknown_step_restarts);
	tcase_add_test(tc, test_min_span_and_delta);
	tcase_add_test(tc, test_phase);
	tcase_add_test(tc, test_phase_noisy);
	suite_add_tcase(s, tc);
	return check_run(s);
}
