/* Unit tests for common/spread_bound (pure): tables worked out by hand, in
 * milliseconds. The template node follows master "m1": root delay 12 ms
 * (the master's 10 + its own hop's 2), root dispersion 3 ms (1 + 1.5 + 0.5
 * of growth), offset 0.2 ms: absolute 0.2 + 6 + 3 = 9.2 ms, shared 10/2 + 1
 * = 6 ms, relative 9.2 - 6 = 3.2 ms, own-hop terms 0.2 + 1 + 1.5 = 2.7 ms. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/spread_bound.h"
#include "check_run.h"

#define MS 1e-3

static struct spread_node node(const char *master, double offset_ms)
{
	struct spread_node n = {
		.have_tracking = true, .synchronised = true, .offset_s = offset_ms * MS,
		.root_delay_s = 12 * MS, .root_dispersion_s = 3 * MS,
		.sel = { .have = true, .master_root_delay_s = 10 * MS,
			 .master_root_dispersion_s = 1 * MS, .hop_delay_s = 2 * MS,
			 .hop_dispersion_s = 1.5 * MS },
	};

	snprintf(n.sel.master, sizeof(n.sel.master), "%s", master ? master : "");
	return n;
}

enum change { C_NONE, C_NO_TRACKING, C_UNSYNC, C_NO_SEL, C_NO_MASTER, C_CHANGED, C_NEG_HOP,
	      C_MASTER_GREW, C_MASTER_LOCAL, C_HOP_HUGE, C_NEG_OFFSET, C_NAN_ROOT };

static const struct {
	const char *what;
	enum change change;
	double relative_ms;	/* NAN: falls back */
	enum spread_why why;
	double floor_ms;
} relative_rows[] = {
	{ "follower", C_NONE, 3.2, SPREAD_WHY_OK, 1.0 },
	{ "negative offset counts as its size", C_NEG_OFFSET, 3.2, SPREAD_WHY_OK, 1.0 },
	{ "no tracking", C_NO_TRACKING, NAN, SPREAD_WHY_NO_TRACKING, NAN },
	{ "unsynchronised", C_UNSYNC, NAN, SPREAD_WHY_UNSYNCHRONISED, NAN },
	{ "old agent: no selected source fields", C_NO_SEL, NAN, SPREAD_WHY_NO_SELECTED, NAN },
	{ "no master address", C_NO_MASTER, NAN, SPREAD_WHY_NO_SELECTED, NAN },
	{ "master changed in the window", C_CHANGED, NAN, SPREAD_WHY_MASTER_CHANGED, NAN },
	{ "negative hop delay", C_NEG_HOP, NAN, SPREAD_WHY_BAD_INPUT, NAN },
	{ "NAN root delay", C_NAN_ROOT, NAN, SPREAD_WHY_BAD_INPUT, NAN },
	/* the master's latest root delay (20 ms) above the best sample's: the
	 * own-hop terms hold the bound up */
	{ "master's root grew since the best sample", C_MASTER_GREW, 2.7, SPREAD_WHY_OK, 0.0 },
	{ "master on its local clock: nothing shared", C_MASTER_LOCAL, 9.2, SPREAD_WHY_OK, 6.0 },
	/* own-hop terms above the absolute (inconsistent input): never above it */
	{ "own hop above the absolute", C_HOP_HUGE, 9.2, SPREAD_WHY_OK, 1.0 },
};

static struct spread_node changed(enum change c)
{
	struct spread_node n = node("m1", 0.2);

	switch (c) {
	case C_NONE: break;
	case C_NO_TRACKING: n.have_tracking = false; break;
	case C_UNSYNC: n.synchronised = false; break;
	case C_NO_SEL: n.sel.have = false; break;
	case C_NO_MASTER: n.sel.master[0] = '\0'; break;
	case C_CHANGED: n.sel.master_changed = true; break;
	case C_NEG_HOP: n.sel.hop_delay_s = -1 * MS; break;
	case C_NAN_ROOT: n.root_delay_s = NAN; break;
	case C_MASTER_GREW: n.sel.master_root_delay_s = 20 * MS; break;
	case C_MASTER_LOCAL: n.sel.master_root_delay_s = 0; n.sel.master_root_dispersion_s = 0; break;
	case C_HOP_HUGE: n.sel.hop_delay_s = 30 * MS; break;
	case C_NEG_OFFSET: n.offset_s = -0.2 * MS; break;
	}
	return n;
}

START_TEST(test_relative_table)
{
	struct spread_node n = changed(relative_rows[_i].change);
	enum spread_why why;
	double r = spread_bound_relative(&n, &why), f = spread_bound_floor(&n);

	ck_assert_msg(why == relative_rows[_i].why, "%s: why %s", relative_rows[_i].what,
		      spread_why_name(why));
	if (isnan(relative_rows[_i].relative_ms)) {
		ck_assert_msg(isnan(r), "%s: %g", relative_rows[_i].what, r);
		ck_assert(isnan(f));
	} else {
		ck_assert_msg(fabs(r - relative_rows[_i].relative_ms * MS) < 1e-12, "%s: %g ms",
			      relative_rows[_i].what, r / MS);
		ck_assert_double_eq_tol(f, relative_rows[_i].floor_ms * MS, 1e-12);
	}
}
END_TEST

START_TEST(test_reply_usable)
{
	ck_assert(spread_reply_usable(0, 1));
	ck_assert(spread_reply_usable(1, 15));
	ck_assert(!spread_reply_usable(3, 2));		/* unsynchronised server */
	ck_assert(!spread_reply_usable(0, 0));		/* kiss-o'-death / unspecified */
	ck_assert(!spread_reply_usable(0, 16));
}
END_TEST

START_TEST(test_absolute)
{
	struct spread_node n = node("m1", -0.2);

	ck_assert_double_eq_tol(spread_bound_absolute(&n), 9.2 * MS, 1e-12);
	n.have_tracking = false;
	ck_assert(isnan(spread_bound_absolute(&n)));
}
END_TEST

static const struct {
	const char *what;
	const char *master_b;
	enum change change_b;
	double bound_ms;
	enum spread_kind kind;
} pair_rows[] = {
	{ "same master", "m1", C_NONE, 6.4, SPREAD_RELATIVE },
	{ "different masters", "m2", C_NONE, 18.4, SPREAD_ABSOLUTE },
	{ "b from an old agent", "m1", C_NO_SEL, 18.4, SPREAD_ABSOLUTE },
	{ "b unsynchronised", "m1", C_UNSYNC, 18.4, SPREAD_ABSOLUTE },
	{ "b changed master", "m1", C_CHANGED, 18.4, SPREAD_ABSOLUTE },
	{ "b without tracking", "m1", C_NO_TRACKING, NAN, SPREAD_NONE },
};

START_TEST(test_pair_table)
{
	struct spread_node a = node("m1", 0.2), b = changed(pair_rows[_i].change_b);
	enum spread_kind k;
	double v;

	snprintf(b.sel.master, sizeof(b.sel.master), "%s",
		 pair_rows[_i].change_b == C_NO_MASTER ? "" : pair_rows[_i].master_b);
	v = spread_bound_pair(&a, &b, &k);
	ck_assert_msg(k == pair_rows[_i].kind, "%s: %s", pair_rows[_i].what, spread_kind_name(k));
	if (isnan(pair_rows[_i].bound_ms))
		ck_assert(isnan(v));
	else
		ck_assert_msg(fabs(v - pair_rows[_i].bound_ms * MS) < 1e-12, "%s: %g ms",
			      pair_rows[_i].what, v / MS);
}
END_TEST

struct fleet_ctx {
	const struct spread_node *nodes;
	const bool *skip;
};

static bool get_node(const void *ctx, size_t i, struct spread_node *out)
{
	const struct fleet_ctx *c = ctx;

	if (c->skip && c->skip[i])
		return false;
	*out = c->nodes[i];
	return true;
}

START_TEST(test_fleet_relative)
{
	/* offsets 0.2, 0.5, -0.1 ms: relative 3.2, 3.5, 3.1; absolute 9.2, 9.5, 9.1 */
	struct spread_node n[] = { node("m1", 0.2), node("m1", 0.5), node("m1", -0.1) };
	struct fleet_ctx c = { n, NULL };
	struct spread_fleet f;

	spread_bound_fleet(get_node, &c, 3, &f);
	ck_assert_int_eq(f.kind, SPREAD_RELATIVE);
	ck_assert_uint_eq(f.nodes, 3);
	ck_assert_double_eq_tol(f.bound_s, 6.7 * MS, 1e-12);
	ck_assert_double_eq_tol(f.absolute_s, 18.7 * MS, 1e-12);
	ck_assert_double_eq_tol(f.floor_s, 2.0 * MS, 1e-12);
	ck_assert_int_eq(f.worst_a, 0);
	ck_assert_int_eq(f.worst_b, 1);
	ck_assert_str_eq(spread_kind_name(f.kind), "relative");
}
END_TEST

START_TEST(test_fleet_fallbacks)
{
	struct spread_node n[] = { node("m1", 0.2), node("m1", 0.5), node("m2", -0.1) };
	bool skip[] = { false, false, true };
	struct fleet_ctx c = { n, NULL };
	struct spread_fleet f;

	/* two masters: the cross pairs use the absolute bounds */
	spread_bound_fleet(get_node, &c, 3, &f);
	ck_assert_int_eq(f.kind, SPREAD_MIXED);
	ck_assert_double_eq_tol(f.bound_s, 18.6 * MS, 1e-12);
	ck_assert_int_eq(f.worst_a, 1);
	ck_assert_int_eq(f.worst_b, 2);
	/* the other master's node left out (stale): relative again */
	c.skip = skip;
	spread_bound_fleet(get_node, &c, 3, &f);
	ck_assert_int_eq(f.kind, SPREAD_RELATIVE);
	ck_assert_double_eq_tol(f.bound_s, 6.7 * MS, 1e-12);
	/* old agents everywhere: today's bound exactly */
	for (size_t i = 0; i < 3; i++)
		n[i].sel.have = false;
	c.skip = NULL;
	spread_bound_fleet(get_node, &c, 3, &f);
	ck_assert_int_eq(f.kind, SPREAD_ABSOLUTE);
	ck_assert_double_eq_tol(f.bound_s, f.absolute_s, 1e-15);
	ck_assert_double_eq_tol(f.bound_s, 18.7 * MS, 1e-12);
	ck_assert(isnan(f.floor_s));
}
END_TEST

START_TEST(test_fleet_small)
{
	struct spread_node n[] = { node("m1", 0.2), node("m1", 0.5) };
	struct fleet_ctx c = { n, NULL };
	struct spread_fleet f;

	spread_bound_fleet(get_node, &c, 0, &f);
	ck_assert_int_eq(f.kind, SPREAD_NONE);
	ck_assert_double_eq(f.bound_s, 0);
	ck_assert_int_eq(f.worst_a, -1);
	/* one node: its own bound, relative */
	spread_bound_fleet(get_node, &c, 1, &f);
	ck_assert_int_eq(f.kind, SPREAD_RELATIVE);
	ck_assert_double_eq_tol(f.bound_s, 3.2 * MS, 1e-12);
	ck_assert_double_eq_tol(f.floor_s, 1.0 * MS, 1e-12);
	/* one node without selected data: absolute */
	n[0].sel.have = false;
	spread_bound_fleet(get_node, &c, 1, &f);
	ck_assert_int_eq(f.kind, SPREAD_ABSOLUTE);
	ck_assert_double_eq_tol(f.bound_s, 9.2 * MS, 1e-12);
	/* nodes without tracking do not count */
	n[1].have_tracking = false;
	spread_bound_fleet(get_node, &c, 2, &f);
	ck_assert_uint_eq(f.nodes, 1);
	ck_assert_double_eq_tol(f.bound_s, 9.2 * MS, 1e-12);
}
END_TEST

/* The O(n) fleet scan against every pair (spread_bound_pair), on seeded
 * random fleets: 0-3 masters, old agents, unsynchronised nodes, ties. */
static double ref_fleet(const struct spread_node *n, size_t k, enum spread_kind *kind,
			double *floor_s)
{
	double best = 0, v;
	enum spread_kind pk;
	bool any_rel = false, any_abs = false;

	*floor_s = NAN;
	for (size_t i = 0; i < k; i++)
		for (size_t j = i + 1; j < k; j++) {
			v = spread_bound_pair(&n[i], &n[j], &pk);
			best = fmax(best, v);
			any_rel |= pk == SPREAD_RELATIVE;
			any_abs |= pk == SPREAD_ABSOLUTE;
			if (pk == SPREAD_RELATIVE)
				*floor_s = fmax(isnan(*floor_s) ? 0 : *floor_s,
						spread_bound_floor(&n[i]) + spread_bound_floor(&n[j]));
		}
	*kind = any_rel && any_abs ? SPREAD_MIXED : any_rel ? SPREAD_RELATIVE : SPREAD_ABSOLUTE;
	return best;
}

START_TEST(test_fleet_against_pairs)
{
	struct spread_node n[12];
	struct fleet_ctx c = { n, NULL };
	struct spread_fleet f;
	enum spread_kind kind;
	double floor_s, want;
	unsigned seed = 20;

	for (int round = 0; round < 2000; round++) {
		size_t k = 2 + (size_t)(rand_r(&seed) % 11);

		for (size_t i = 0; i < k; i++) {
			char m[8];

			snprintf(m, sizeof(m), "m%d", rand_r(&seed) % 3);
			n[i] = node(m, (rand_r(&seed) % 20 - 10) * 0.1);
			n[i].root_delay_s = (10 + rand_r(&seed) % 8) * MS;
			n[i].sel.master_root_delay_s = (rand_r(&seed) % 12) * MS;
			n[i].sel.have = rand_r(&seed) % 6 != 0;
			n[i].synchronised = rand_r(&seed) % 8 != 0;
		}
		want = ref_fleet(n, k, &kind, &floor_s);
		spread_bound_fleet(get_node, &c, k, &f);
		ck_assert_msg(fabs(f.bound_s - want) < 1e-12, "round %d: %g != %g", round, f.bound_s, want);
		ck_assert_msg(f.kind == kind, "round %d: %s != %s", round, spread_kind_name(f.kind),
			      spread_kind_name(kind));
		ck_assert(isnan(floor_s) ? isnan(f.floor_s) : fabs(f.floor_s - floor_s) < 1e-12);
		ck_assert_uint_eq(f.nodes, k);
		ck_assert(f.worst_a >= 0 && f.worst_a < f.worst_b && (size_t)f.worst_b < k);
		ck_assert(fabs(spread_bound_pair(&n[f.worst_a], &n[f.worst_b], NULL) - want) < 1e-12);
	}
}
END_TEST

/* More masters than the scan keeps (32): the rest count as absolute, a
 * looser bound that still holds every pair. */
START_TEST(test_fleet_many_masters)
{
	static struct spread_node n[80];
	struct fleet_ctx c = { n, NULL };
	struct spread_fleet f;
	enum spread_kind kind;
	double floor_s, want;

	for (size_t i = 0; i < 80; i++) {
		char m[8];

		snprintf(m, sizeof(m), "m%zu", i / 2);
		n[i] = node(m, 0.01 * (double)i);
	}
	want = ref_fleet(n, 80, &kind, &floor_s);
	spread_bound_fleet(get_node, &c, 80, &f);
	ck_assert(f.bound_s >= want - 1e-12);
	ck_assert_int_eq(f.kind, SPREAD_MIXED);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("spread_bound");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_relative_table, 0,
			    sizeof(relative_rows) / sizeof(relative_rows[0]));
	tcase_add_test(tc, test_absolute);
	tcase_add_test(tc, test_reply_usable);
	tcase_add_loop_test(tc, test_pair_table, 0, sizeof(pair_rows) / sizeof(pair_rows[0]));
	tcase_add_test(tc, test_fleet_relative);
	tcase_add_test(tc, test_fleet_fallbacks);
	tcase_add_test(tc, test_fleet_small);
	tcase_add_test(tc, test_fleet_against_pairs);
	tcase_add_test(tc, test_fleet_many_masters);
	suite_add_tcase(s, tc);
	return check_run(s);
}
