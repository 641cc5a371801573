/* Unit tests for common/bmca: BMCA order, PTP codes, class derivation. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "election/bmca.h"
#include "check_run.h"

static struct bmca_dataset base(void)
{
	return (struct bmca_dataset){
		.priority1 = 128, .clock_class = BMCA_CLASS_FREERUN, .accuracy = 0x29,
		.variance = 0x6000, .priority2 = 128,
		.identity = { 0, 0, 0, 0, 0, 0, 0, 5 }, .steps_removed = 1,
	};
}

/* Each row changes one field of b; expect says which wins. Earlier
 * fields dominate later ones: rows set a later field to favour the loser. */
static const struct {
	const char *what;
	struct { int p1, cls, acc, var, p2, sr, id; } a, b;	/* -1: base value */
	int expect;	/* < 0: a better */
} order_rows[] = {
	{ "identical", { -1, -1, -1, -1, -1, -1, -1 }, { -1, -1, -1, -1, -1, -1, -1 }, 0 },
	{ "priority1 beats class", { 1, 255, -1, -1, -1, -1, -1 }, { 2, 6, -1, -1, -1, -1, -1 }, -1 },
	{ "class beats accuracy", { -1, 7, 0x31, -1, -1, -1, -1 }, { -1, 248, 0x20, -1, -1, -1, -1 }, -1 },
	{ "accuracy beats variance", { -1, -1, 0x22, 0xFFFF, -1, -1, -1 }, { -1, -1, 0x23, 0, -1, -1, -1 }, -1 },
	{ "variance beats priority2", { -1, -1, -1, 0x5000, 255, -1, -1 }, { -1, -1, -1, 0x5001, 0, -1, -1 }, -1 },
	{ "priority2 beats steps", { -1, -1, -1, -1, 3, 9, -1 }, { -1, -1, -1, -1, 4, 0, -1 }, -1 },
	{ "steps beat identity", { -1, -1, -1, -1, -1, 2, 9 }, { -1, -1, -1, -1, -1, 3, 1 }, -1 },
	{ "identity last", { -1, -1, -1, -1, -1, -1, 2 }, { -1, -1, -1, -1, -1, -1, 1 }, 1 },
	{ "b better priority1", { 200, 6, 0x20, 0, 0, 0, 0 }, { 100, 255, 0xFE, 0xFFFF, 255, 99, 255 }, 1 },
};

static struct bmca_dataset make(int p1, int cls, int acc, int var, int p2, int sr, int id)
{
	struct bmca_dataset d = base();

	if (p1 >= 0) d.priority1 = (uint8_t)p1;
	if (cls >= 0) d.clock_class = (uint8_t)cls;
	if (acc >= 0) d.accuracy = (uint8_t)acc;
	if (var >= 0) d.variance = (uint16_t)var;
	if (p2 >= 0) d.priority2 = (uint8_t)p2;
	if (sr >= 0) d.steps_removed = (uint16_t)sr;
	if (id >= 0) d.identity[7] = (uint8_t)id;
	return d;
}

START_TEST(test_compare_order)
{
	struct bmca_dataset a = make(order_rows[_i].a.p1, order_rows[_i].a.cls, order_rows[_i].a.acc,
				     order_rows[_i].a.var, order_rows[_i].a.p2, order_rows[_i].a.sr,
				     order_rows[_i].a.id);
	struct bmca_dataset b = make(order_rows[_i].b.p1, order_rows[_i].b.cls, order_rows[_i].b.acc,
				     order_rows[_i].b.var, order_rows[_i].b.p2, order_rows[_i].b.sr,
				     order_rows[_i].b.id);
	int r = bmca_compare(&a, &b), rr = bmca_compare(&b, &a);

	ck_assert_msg((r > 0) - (r < 0) == order_rows[_i].expect, "%s: got %d", order_rows[_i].what, r);
	ck_assert_msg(rr == -r, "%s: not antisymmetric", order_rows[_i].what);
}
END_TEST

START_TEST(test_identity_bytes_in_order)
{
	struct bmca_dataset a = base(), b = base();

	a.identity[0] = 1;	/* most significant byte first */
	b.identity[7] = 0xFF;
	ck_assert_int_gt(bmca_compare(&a, &b), 0);
}
END_TEST

/* IEEE 1588-2008 table 6: code -> "time is accurate to within". */
static const struct {
	double err;
	uint8_t code;
} acc_rows[] = {
	{ 0, 0x20 }, { 25e-9, 0x20 }, { 26e-9, 0x21 }, { 1e-6, 0x23 }, { 1.1e-6, 0x24 },
	{ 0.9e-3, 0x29 }, { 1e-3, 0x29 }, { 4e-3, 0x2B }, { 0.2, 0x2E }, { 1.0, 0x2F },
	{ 9.0, 0x30 }, { 1020.0, 0x31 }, { -1, 0xFE }, { NAN, 0xFE }, { INFINITY, 0x31 },
};

START_TEST(test_accuracy_codes)
{
	ck_assert_msg(bmca_accuracy_from_error(acc_rows[_i].err) == acc_rows[_i].code,
		      "error %g: got 0x%02x, want 0x%02x", acc_rows[_i].err,
		      bmca_accuracy_from_error(acc_rows[_i].err), acc_rows[_i].code);
}
END_TEST

START_TEST(test_accuracy_bound)
{
	ck_assert_double_eq_tol(bmca_accuracy_bound(0x29), 1e-3, 1e-12);
	ck_assert_double_eq_tol(bmca_accuracy_bound(0x2A), 2.5e-3, 1e-12);
	ck_assert(isinf(bmca_accuracy_bound(0x31)));
	ck_assert(isinf(bmca_accuracy_bound(0xFE)));
	ck_assert(isinf(bmca_accuracy_bound(0x10)));
}
END_TEST

START_TEST(test_variance)
{
	/* 1 s: log2(1) = 0 -> 0x8000. 2^-10 s: var 2^-20 -> 0x8000 - 20*256. */
	ck_assert_uint_eq(bmca_variance_from_sigma(1.0), 0x8000);
	ck_assert_uint_eq(bmca_variance_from_sigma(ldexp(1, -10)), 0x8000 - 5120);
	ck_assert_uint_eq(bmca_variance_from_sigma(2.0), 0x8000 + 512);
	ck_assert_uint_eq(bmca_variance_from_sigma(0), 0);
	ck_assert_uint_eq(bmca_variance_from_sigma(1e-300), 0);
	ck_assert_uint_eq(bmca_variance_from_sigma(1e300), 0xFFFE);
	ck_assert_uint_eq(bmca_variance_from_sigma(-1), 0xFFFF);
	ck_assert_uint_eq(bmca_variance_from_sigma(NAN), 0xFFFF);
	/* Better clocks get smaller values. */
	ck_assert_uint_lt(bmca_variance_from_sigma(1e-6), bmca_variance_from_sigma(1e-5));
	/* 3-4-5: rms 3 us, 4 ppm skew over 1 s = 4 us -> 5 us. */
	ck_assert_double_eq_tol(bmca_sigma_from_chrony(3e-6, 4.0, 1.0), 5e-6, 1e-12);
}
END_TEST

#define EPOCH 1790000000LL
#define NOW (EPOCH + 86400.0)

static struct bmca_evidence ev_base(void)
{
	return (struct bmca_evidence){
		.now_realtime = NOW, .build_epoch = EPOCH, .holdover_s = 600,
		.carried_class = BMCA_CLASS_FREERUN, .error_bound_s = 2e-4,
		.holdover_wander_ppm = 1.0, .rtc_drift_uncert_ppm = 2.0,
		.last_sync_ago = -1,
	};
}

enum ev_kind {
	EV_NONE, EV_LOCKED, EV_FOLLOW_LOCKED, EV_FOLLOW_FREE, EV_FOLLOW_INVALID, EV_HOLD_UP,
	EV_HOLD_UP_LATE, EV_HOLD_FLEET_FREE, EV_HOLD_FLEET_LOCKED, EV_RTC, EV_RTC_HALTED,
	EV_RTC_NOT_RESTORED, EV_BEFORE_BUILD, EV_BEFORE_BUILD_LOCKED, EV_1970,
};

static const struct {
	enum ev_kind kind;
	enum bmca_class expect;
	double bound;	/* < 0: infinite */
} class_rows[] = {
	{ EV_NONE, BMCA_CLASS_INVALID, -1 },
	{ EV_LOCKED, BMCA_CLASS_LOCKED, 2e-4 },
	{ EV_FOLLOW_LOCKED, BMCA_CLASS_LOCKED, 2e-4 },
	{ EV_FOLLOW_FREE, BMCA_CLASS_FREERUN, 2e-4 },
	{ EV_FOLLOW_INVALID, BMCA_CLASS_FREERUN, 2e-4 },
	/* 100 s coasting at 1 ppm adds 100 us. */
	{ EV_HOLD_UP, BMCA_CLASS_HOLDOVER, 3e-4 },
	{ EV_HOLD_UP_LATE, BMCA_CLASS_FREERUN, 2e-4 + 700e-6 },
	{ EV_HOLD_FLEET_FREE, BMCA_CLASS_FREERUN, 3e-4 },
	{ EV_HOLD_FLEET_LOCKED, BMCA_CLASS_HOLDOVER, 3e-4 },
	/* RTC set 600 s ago, drift known to 2 ppm: 1.2 ms + 1 ms. */
	{ EV_RTC, BMCA_CLASS_RTC, 2.2e-3 },
	{ EV_RTC_HALTED, BMCA_CLASS_INVALID, -1 },
	{ EV_RTC_NOT_RESTORED, BMCA_CLASS_INVALID, -1 },
	{ EV_BEFORE_BUILD, BMCA_CLASS_INVALID, -1 },
	{ EV_BEFORE_BUILD_LOCKED, BMCA_CLASS_INVALID, -1 },
	{ EV_1970, BMCA_CLASS_INVALID, -1 },
};

static struct bmca_evidence ev_make(enum ev_kind k)
{
	struct bmca_evidence ev = ev_base();

	switch (k) {
	case EV_NONE: break;
	case EV_LOCKED: ev.synchronised = ev.synced_since_boot = true; ev.last_sync_ago = 0; break;
	case EV_FOLLOW_LOCKED: case EV_FOLLOW_FREE: case EV_FOLLOW_INVALID:
		ev.synchronised = ev.synced_to_candidate = ev.synced_since_boot = true;
		ev.last_sync_ago = 0;
		ev.carried_class = k == EV_FOLLOW_LOCKED ? BMCA_CLASS_LOCKED :
				   k == EV_FOLLOW_FREE ? BMCA_CLASS_FREERUN : BMCA_CLASS_INVALID;
		break;
	case EV_HOLD_UP: case EV_HOLD_UP_LATE:
		ev.synced_since_boot = ev.last_sync_upstream = true;
		ev.last_sync_ago = k == EV_HOLD_UP ? 100 : 700;
		break;
	case EV_HOLD_FLEET_FREE: case EV_HOLD_FLEET_LOCKED:
		ev.synced_since_boot = true;
		ev.last_sync_ago = 100;
		ev.carried_class = k == EV_HOLD_FLEET_FREE ? BMCA_CLASS_FREERUN : BMCA_CLASS_LOCKED;
		break;
	case EV_RTC: case EV_RTC_HALTED: case EV_RTC_NOT_RESTORED:
		ev.rtc = k == EV_RTC_HALTED ? BMCA_RTC_HALTED : BMCA_RTC_VALID;
		ev.restored_from_rtc = k != EV_RTC_NOT_RESTORED;
		ev.rtc_since_set = 600;
		break;
	case EV_BEFORE_BUILD: ev.now_realtime = EPOCH - 1; break;
	case EV_BEFORE_BUILD_LOCKED:
		ev = ev_make(EV_LOCKED);
		ev.now_realtime = EPOCH - 3600;
		break;
	case EV_1970: ev = ev_make(EV_RTC); ev.now_realtime = 5; break;
	}
	return ev;
}

START_TEST(test_derive_class)
{
	struct bmca_evidence ev = ev_make(class_rows[_i].kind);
	double bound = 0;
	enum bmca_class c = bmca_derive_class(&ev, &bound);

	ck_assert_msg(c == class_rows[_i].expect, "row %d: class %s, want %s", _i,
		      bmca_class_name(c), bmca_class_name(class_rows[_i].expect));
	if (class_rows[_i].bound < 0)
		ck_assert_msg(isinf(bound), "row %d: bound %g, want inf", _i, bound);
	else
		ck_assert_msg(fabs(bound - class_rows[_i].bound) < 1e-9, "row %d: bound %g, want %g",
			      _i, bound, class_rows[_i].bound);
	ck_assert(bmca_class_may_serve((uint8_t)c) == (c != BMCA_CLASS_INVALID));
}
END_TEST

START_TEST(test_class_names)
{
	ck_assert_str_eq(bmca_class_name(6), "locked");
	ck_assert_str_eq(bmca_class_name(255), "invalid");
	ck_assert_str_eq(bmca_class_name(13), "class-13");
	ck_assert(!bmca_class_may_serve(255));
	ck_assert(bmca_class_may_serve(248));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("bmca");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_compare_order, 0, sizeof(order_rows) / sizeof(order_rows[0]));
	tcase_add_test(tc, test_identity_bytes_in_order);
	tcase_add_loop_test(tc, test_accuracy_codes, 0, sizeof(acc_rows) / sizeof(acc_rows[0]));
	tcase_add_test(tc, test_accuracy_bound);
	tcase_add_test(tc, test_variance);
	tcase_add_loop_test(tc, test_derive_class, 0, sizeof(class_rows) / sizeof(class_rows[0]));
	tcase_add_test(tc, test_class_names);
	suite_add_tcase(s, tc);
	return check_run(s);
}
