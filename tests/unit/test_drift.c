/* Unit tests for common/drift: synthetic offsets with a known rate, noise
 * from a fixed pseudo-random sequence, one outlier, several segments. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "check_run.h"
#include "rtc/drift.h"

/* Deterministic uniform noise in [-a, a]. */
static double noise(unsigned *state, double a)
{
	*state = *state * 1103515245u + 12345u;
	return ((double)((*state >> 8) & 0xffff) / 65535.0 * 2 - 1) * a;
}

static size_t make(struct drift_sample *s, size_t n, double ppm, double step, double amp)
{
	unsigned st = 42;

	for (size_t i = 0; i < n; i++) {
		s[i].t = 1795291210.0 + (double)i * step;
		s[i].offset = 0.0123 + ppm * 1e-6 * (double)i * step + noise(&st, amp);
		s[i].segment = 0;
	}
	return n;
}

START_TEST(test_exact_line)
{
	struct drift_sample s[10];
	struct drift_result r;

	make(s, 10, 200, 600, 0);
	ck_assert_int_eq(drift_estimate(s, 10, &r), 0);
	ck_assert_double_eq_tol(r.ppm, 200, 1e-3);
	ck_assert_int_eq(r.outlier, -1);
	ck_assert_int_eq(r.used, 10);
	ck_assert_double_eq_tol(r.span, 5400, 1e-6);
	/* noise floor 100 us over an hour and a half: about 0.01 ppm */
	ck_assert(r.unc_ppm > 0 && r.unc_ppm < 0.1);
}
END_TEST

START_TEST(test_noisy_negative)
{
	struct drift_sample s[30];
	struct drift_result r;

	/* -35 ppm, +-0.5 ms noise, 30 samples 2 s apart (60 s). */
	make(s, 30, -35, 2, 0.0005);
	ck_assert_int_eq(drift_estimate(s, 30, &r), 0);
	ck_assert_msg(fabs(r.ppm + 35) < 3 * r.unc_ppm + 1, "ppm %g +- %g", r.ppm, r.unc_ppm);
	ck_assert(r.unc_ppm > 0.5 && r.unc_ppm < 20);
}
END_TEST

START_TEST(test_one_outlier)
{
	struct drift_sample s[12];
	struct drift_result r, plain;

	make(s, 12, 50, 300, 0.0002);
	ck_assert_int_eq(drift_estimate(s, 12, &plain), 0);
	s[7].offset += 0.25;	/* one read a quarter second off (a missed edge) */
	ck_assert_int_eq(drift_estimate(s, 12, &r), 0);
	ck_assert_int_eq(r.outlier, 7);
	ck_assert_int_eq(r.used, 11);
	ck_assert_double_eq_tol(r.ppm, plain.ppm, 0.5);
	ck_assert_double_eq_tol(r.ppm, 50, 2);
	/* Outlier at either end too. */
	make(s, 12, 50, 300, 0.0002);
	s[0].offset -= 1.0;
	ck_assert_int_eq(drift_estimate(s, 12, &r), 0);
	ck_assert_int_eq(r.outlier, 0);
	ck_assert_double_eq_tol(r.ppm, 50, 2);
	make(s, 12, 50, 300, 0.0002);
	s[11].offset += 0.01;
	ck_assert_int_eq(drift_estimate(s, 12, &r), 0);
	ck_assert_int_eq(r.outlier, 11);
	ck_assert_double_eq_tol(r.ppm, 50, 2);
}
END_TEST

START_TEST(test_segments)
{
	struct drift_sample s[12];
	struct drift_result r;

	/* The RTC is rewritten (offset back to ~0) after samples 3 and 7:
	 * the rate is the same in every segment. */
	make(s, 12, -120, 600, 0.0001);
	for (size_t i = 4; i < 12; i++) {
		s[i].segment = i < 8 ? 1 : 2;
		s[i].offset -= i < 8 ? 0.2 : 0.7;
	}
	ck_assert_int_eq(drift_estimate(s, 12, &r), 0);
	ck_assert_double_eq_tol(r.ppm, -120, 0.5);
	ck_assert_int_eq(r.outlier, -1);
	/* A lone sample in a segment carries no rate information. */
	s[11].segment = 9;
	ck_assert_int_eq(drift_estimate(s, 12, &r), 0);
	ck_assert_double_eq_tol(r.ppm, -120, 0.5);
}
END_TEST

START_TEST(test_not_enough)
{
	struct drift_sample s[3];
	struct drift_result r;

	make(s, 3, 10, 60, 0);
	ck_assert_int_eq(drift_estimate(s, 1, &r), -EINVAL);
	ck_assert_int_eq(drift_estimate(s, 0, &r), -EINVAL);
	s[1].t = s[0].t;
	ck_assert_int_eq(drift_estimate(s, 2, &r), -EINVAL);	/* same instant twice */
	make(s, 3, 10, 60, 0);
	s[1].segment = 1;
	s[2].segment = 2;
	ck_assert_int_eq(drift_estimate(s, 3, &r), -EINVAL);	/* one per segment */
	make(s, 2, 10, 60, 0);
	ck_assert_int_eq(drift_estimate(s, 2, &r), 0);
	ck_assert_double_eq_tol(r.ppm, 10, 1e-3);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("drift");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_exact_line);
	tcase_add_test(tc, test_noisy_negative);
	tcase_add_test(tc, test_one_outlier);
	tcase_add_test(tc, test_segments);
	tcase_add_test(tc, test_not_enough);
	suite_add_tcase(s, tc);
	return check_run(s);
}
