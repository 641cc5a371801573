/* test_vclock.c - the simulated node clock's arithmetic and its adjtimex()
 * emulation (tests/sim/vclock_core.c). Expected values are worked out by
 * hand from the kernel's documented units, not taken from the code. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vclock_state.h"
#include "check_run.h"

#define T0 1790000000000000000LL /* 2026-09-21, real ns */
#define S 1000000000LL

static struct vclock_state st;

static void setup(void)
{
	vclock_core_init(&st, T0, 0, 0.0, 0.0);
}

static struct vclock_snap snap(void)
{
	struct vclock_snap s;

	vclock_core_snap(&st, &s);
	return s;
}

static int adj(int64_t now, struct timex *tx)
{
	int r;

	vclock_core_lock(&st, 1);
	r = vclock_core_adjtimex(&st, now, tx);
	vclock_core_unlock(&st);
	return r;
}

START_TEST(rate_table)
{
	static const struct {
		double drift;
		long tick;
		long freq;
		double want_ppm;
	} t[] = {
		{ 0, 10000, 0, 0 },
		{ 0, 10001, 0, 100 },          /* 1 us more per 10 ms tick */
		{ 0, 9999, 0, -100 },
		{ 0, 10833, 0, 83300 },        /* chrony's fastest slew */
		{ 0, 10000, 65536 * 10, 10 },  /* 2^-16 ppm units */
		{ 0, 10000, -65536L * 500, -500 },
		{ 50, 10000, 0, 50 },
		{ 100, 10000, -65536 * 100, -0.01 }, /* (1+1e-4)(1-1e-4)-1 = -1e-8 */
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		ck_assert_double_eq_tol(vclock_core_rate_m1(t[i].drift, t[i].tick, t[i].freq) * 1e6,
					t[i].want_ppm, 1e-9);
}
END_TEST

START_TEST(offset_and_drift)
{
	struct vclock_snap s;

	vclock_core_init(&st, T0, 17 * 60 * S, 100.0, 0.0);
	s = snap();
	ck_assert_int_eq(vclock_core_virt(&s, T0), T0 + 17 * 60 * S);
	/* 1000 s at +100 ppm gain 100 ms */
	ck_assert_int_eq(vclock_core_virt(&s, T0 + 1000 * S), T0 + 1000 * S + 17 * 60 * S + S / 10);
	ck_assert_int_eq(vclock_core_real(&s, T0 + 1000 * S + 17 * 60 * S + S / 10), T0 + 1000 * S);
}
END_TEST

START_TEST(raw_is_the_oscillator)
{
	struct timex tx = { .modes = ADJ_TICK | ADJ_FREQUENCY, .tick = 10100, .freq = 65536 * 7 };
	struct vclock_snap s;

	/* +100 ppm oscillator: RAW gains 100 us in 1 s, whatever adjtimex does */
	vclock_core_init(&st, T0, 5 * S, 100.0, 0.0);
	ck_assert_int_ge(adj(T0 + S, &tx), 0);
	s = snap();
	ck_assert_int_eq(vclock_core_raw(&s, T0), T0);
	ck_assert_int_eq(vclock_core_raw(&s, T0 + S), T0 + S + 100000);
	ck_assert_int_eq(vclock_core_raw(&s, T0 + 10 * S), T0 + 10 * S + 1000000);
	/* drift -50 ppm from T0 + 10 s: continuous, then 50 us/s slower */
	vclock_core_lock(&st, 1);
	vclock_core_set_drift(&st, T0 + 10 * S, -50.0);
	vclock_core_unlock(&st);
	s = snap();
	ck_assert_int_eq(vclock_core_raw(&s, T0 + 10 * S), T0 + 10 * S + 1000000);
	ck_assert_int_eq(vclock_core_raw(&s, T0 + 20 * S), T0 + 20 * S + 1000000 - 500000);
}
END_TEST

START_TEST(step_support_test)
{
	/* chronyd's probe: MAXERROR=0 must read back 0, a zero SETOFFSET must
	 * then read back maxerror >= 100000 (the kernel's ntp_clear). */
	struct timex tx = { .modes = ADJ_OFFSET_SINGLESHOT };

	ck_assert_int_ge(adj(T0, &tx), 0);
	ck_assert_int_eq(tx.offset, 0);
	memset(&tx, 0, sizeof(tx));
	tx.modes = ADJ_MAXERROR;
	tx.maxerror = 0;
	ck_assert_int_ge(adj(T0 + 1000, &tx), 0);
	ck_assert_int_eq(tx.maxerror, 0);
	memset(&tx, 0, sizeof(tx));
	tx.modes = ADJ_SETOFFSET | ADJ_NANO;
	ck_assert_int_eq(adj(T0 + 2000, &tx), TIME_ERROR);
	ck_assert_int_ge(tx.maxerror, 100000);
	ck_assert(tx.status & STA_NANO);
	ck_assert(tx.status & STA_UNSYNC);
}
END_TEST

START_TEST(setoffset_steps)
{
	/* -0.5 s the way chrony encodes it: tv_sec = -1, tv_usec = 5e8 ns */
	struct timex tx = { .modes = ADJ_SETOFFSET | ADJ_NANO };
	uint32_t gen = st.step_gen;
	struct vclock_snap s;

	tx.time.tv_sec = -1;
	tx.time.tv_usec = 500000000;
	ck_assert_int_ge(adj(T0 + 10 * S, &tx), 0);
	s = snap();
	ck_assert_int_eq(vclock_core_virt(&s, T0 + 10 * S), T0 + 10 * S - S / 2);
	ck_assert_uint_eq(st.step_gen, gen + 1);
	/* microsecond mode: +2.000250 s */
	memset(&tx, 0, sizeof(tx));
	tx.modes = ADJ_SETOFFSET;
	tx.time.tv_sec = 2;
	tx.time.tv_usec = 250;
	ck_assert_int_ge(adj(T0 + 10 * S, &tx), 0);
	s = snap();
	ck_assert_int_eq(vclock_core_virt(&s, T0 + 10 * S), T0 + 10 * S + 3 * S / 2 + 250000);
}
END_TEST

START_TEST(setoffset_invalid)
{
	struct timex tx = { .modes = ADJ_SETOFFSET };

	tx.time.tv_usec = 1000000; /* >= 1 s in us mode */
	ck_assert_int_eq(adj(T0, &tx), -EINVAL);
	tx.modes = ADJ_SETOFFSET | ADJ_NANO;
	tx.time.tv_usec = -1;
	ck_assert_int_eq(adj(T0, &tx), -EINVAL);
	ck_assert_int_eq(st.n_steps, 0);
}
END_TEST

START_TEST(freq_clamped_tick_checked)
{
	struct timex tx = { .modes = ADJ_FREQUENCY, .freq = 600L << 16 };

	ck_assert_int_ge(adj(T0, &tx), 0);
	ck_assert_int_eq(tx.freq, 500L << 16);
	memset(&tx, 0, sizeof(tx));
	tx.modes = ADJ_TICK;
	tx.tick = 8999;
	ck_assert_int_eq(adj(T0, &tx), -EINVAL);
	tx.tick = 11001;
	ck_assert_int_eq(adj(T0, &tx), -EINVAL);
	tx.tick = 11000;
	ck_assert_int_ge(adj(T0, &tx), 0);
	ck_assert_int_eq(tx.tick, 11000);
}
END_TEST

START_TEST(rate_change_is_continuous)
{
	struct timex tx = { .modes = ADJ_TICK | ADJ_FREQUENCY, .tick = 10100, .freq = 0 };
	struct vclock_snap s;

	/* 1 % fast from T0 + 100 s: after 10 more s the clock gained 100 ms */
	ck_assert_int_ge(adj(T0 + 100 * S, &tx), 0);
	s = snap();
	ck_assert_int_eq(vclock_core_virt(&s, T0 + 100 * S), T0 + 100 * S);
	ck_assert_int_eq(vclock_core_virt(&s, T0 + 110 * S), T0 + 110 * S + S / 10);
}
END_TEST

START_TEST(pll_status_reset)
{
	struct timex tx = { .modes = ADJ_OFFSET | ADJ_STATUS, .status = STA_PLL | STA_UNSYNC };

	ck_assert_int_ge(adj(T0, &tx), 0);
	ck_assert_int_eq(tx.status, STA_PLL | STA_UNSYNC);
	tx.modes = ADJ_NANO;
	adj(T0, &tx);
	ck_assert_int_eq(tx.status, STA_PLL | STA_UNSYNC | STA_NANO);
	memset(&tx, 0, sizeof(tx));
	tx.modes = ADJ_STATUS;
	tx.status = STA_UNSYNC;
	adj(T0, &tx);
	/* leaving PLL mode: status becomes STA_UNSYNC, STA_NANO dropped */
	ck_assert_int_eq(tx.status, STA_UNSYNC);
}
END_TEST

START_TEST(sync_status_result)
{
	struct timex tx = { .modes = ADJ_STATUS | ADJ_MAXERROR | ADJ_ESTERROR,
			    .status = 0, .maxerror = 1000, .esterror = 10 };

	ck_assert_int_eq(adj(T0, &tx), TIME_OK);
	/* maxerror grows 500 us per whole second, like the kernel's */
	memset(&tx, 0, sizeof(tx));
	ck_assert_int_eq(adj(T0 + 3 * S + S / 2, &tx), TIME_OK);
	ck_assert_int_eq(tx.maxerror, 2500);
	ck_assert_int_eq(tx.esterror, 10);
	/* past the phase limit the clock becomes unsynchronised */
	memset(&tx, 0, sizeof(tx));
	ck_assert_int_eq(adj(T0 + 40000 * S, &tx), TIME_ERROR);
	ck_assert_int_eq(tx.maxerror, 16000000);
}
END_TEST

START_TEST(readback_time)
{
	struct timex tx = { .modes = 0 };

	vclock_core_init(&st, T0, 1500 * 1000000LL, 0.0, 0.0); /* +1.5 s */
	adj(T0, &tx);
	ck_assert_int_eq(tx.time.tv_sec, T0 / S + 1);
	ck_assert_int_eq(tx.time.tv_usec, 500000); /* microseconds without STA_NANO */
	ck_assert_int_eq(tx.tick, 10000);
}
END_TEST

START_TEST(adjtime_only_cancel)
{
	struct timex tx = { .modes = ADJ_OFFSET_SINGLESHOT, .offset = 5000 };

	ck_assert_int_eq(adj(T0, &tx), -EOPNOTSUPP);
	tx.modes = ADJ_OFFSET_SS_READ;
	ck_assert_int_ge(adj(T0, &tx), 0);
	ck_assert_int_eq(tx.offset, 0);
}
END_TEST

START_TEST(validate_layout)
{
	ck_assert_int_eq(vclock_core_validate(&st), 0);
	st.version = 99;
	ck_assert_int_eq(vclock_core_validate(&st), -EINVAL);
	setup();
	st.magic = 0;
	ck_assert_int_eq(vclock_core_validate(&st), -EINVAL);
}
END_TEST

START_TEST(stale_lock_is_broken)
{
	/* A writer that died holding the lock in the middle of an update (seq
	 * odd) must not block the node forever. */
	struct vclock_snap s;

	st.lock = 424242;
	st.seq = 7;
	vclock_core_snap(&st, &s); /* bounded: returns despite the odd seq */
	ck_assert_int_eq(s.anchor_real_ns, T0);
	vclock_core_lock(&st, 1);
	ck_assert_uint_eq(st.lock, 1);
	ck_assert_uint_eq(st.seq & 1, 1);
	vclock_core_unlock(&st);
	ck_assert_uint_eq(st.lock, 0);
	ck_assert_uint_eq(st.seq & 1, 0);
}
END_TEST

static Suite *vclock_suite(void)
{
	Suite *s = suite_create("vclock");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, rate_table);
	tcase_add_test(tc, offset_and_drift);
	tcase_add_test(tc, raw_is_the_oscillator);
	tcase_add_test(tc, step_support_test);
	tcase_add_test(tc, setoffset_steps);
	tcase_add_test(tc, setoffset_invalid);
	tcase_add_test(tc, freq_clamped_tick_checked);
	tcase_add_test(tc, rate_change_is_continuous);
	tcase_add_test(tc, pll_status_reset);
	tcase_add_test(tc, sync_status_result);
	tcase_add_test(tc, readback_time);
	tcase_add_test(tc, adjtime_only_cancel);
	tcase_add_test(tc, validate_layout);
	tcase_add_test(tc, stale_lock_is_broken);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(vclock_suite());
}
