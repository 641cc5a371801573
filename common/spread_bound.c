/* spread_bound.c - see spread_bound.h and docs/spread-bound.md. */
#include "spread_bound.h"

#include <math.h>
#include <string.h>

static bool nonneg(double v)
{
	return isfinite(v) && v >= 0;
}

bool spread_reply_usable(unsigned leap, unsigned stratum)
{
	return leap != 3 && stratum >= 1 && stratum <= 15;
}

double spread_bound_absolute(const struct spread_node *n)
{
	if (!n->have_tracking)
		return NAN;
	return fabs(n->offset_s) + fabs(n->root_delay_s) / 2 + fabs(n->root_dispersion_s);
}

static enum spread_why relative_why(const struct spread_node *n)
{
	const struct spread_sel *s = &n->sel;

	if (!n->have_tracking)
		return SPREAD_WHY_NO_TRACKING;
	if (!n->synchronised)
		return SPREAD_WHY_UNSYNCHRONISED;
	if (!s->have || !s->master[0])
		return SPREAD_WHY_NO_SELECTED;
	if (s->master_changed)
		return SPREAD_WHY_MASTER_CHANGED;
	if (!isfinite(n->offset_s) || !nonneg(n->root_delay_s) || !nonneg(n->root_dispersion_s) ||
	    !nonneg(s->master_root_delay_s) || !nonneg(s->master_root_dispersion_s) ||
	    !nonneg(s->hop_delay_s) || !nonneg(s->hop_dispersion_s))
		return SPREAD_WHY_BAD_INPUT;
	return SPREAD_WHY_OK;
}

double spread_bound_relative(const struct spread_node *n, enum spread_why *why)
{
	const struct spread_sel *s = &n->sel;
	enum spread_why w = relative_why(n);
	double abs_b, shared, own;

	if (why)
		*why = w;
	if (w != SPREAD_WHY_OK)
		return NAN;
	abs_b = spread_bound_absolute(n);
	shared = s->master_root_delay_s / 2 + s->master_root_dispersion_s;
	/* The root values come from chronyd's best sample, the master's from
	 * its latest reply: when they differ, the own-hop terms of that reply
	 * keep the bound from dropping below what this node's hop alone adds. */
	own = fabs(n->offset_s) + s->hop_delay_s / 2 + s->hop_dispersion_s;
	return fmin(fmax(abs_b - shared, own), abs_b);
}

double spread_bound_floor(const struct spread_node *n)
{
	if (relative_why(n) != SPREAD_WHY_OK)
		return NAN;
	/* the own-hop delay inside the root delay chronyd used (its best
	 * sample's), not the latest reply's */
	return fmax(n->root_delay_s - n->sel.master_root_delay_s, 0) / 2;
}

static bool same_master(const struct spread_node *a, const struct spread_node *b)
{
	return !strncmp(a->sel.master, b->sel.master, SPREAD_MASTER_MAX);
}

double spread_bound_pair(const struct spread_node *a, const struct spread_node *b,
			 enum spread_kind *kind)
{
	double ra = spread_bound_relative(a, NULL), rb = spread_bound_relative(b, NULL);

	if (kind)
		*kind = SPREAD_NONE;
	if (!a->have_tracking || !b->have_tracking)
		return NAN;
	if (isfinite(ra) && isfinite(rb) && same_master(a, b)) {
		if (kind)
			*kind = SPREAD_RELATIVE;
		return ra + rb;
	}
	if (kind)
		*kind = SPREAD_ABSOLUTE;
	return spread_bound_absolute(a) + spread_bound_absolute(b);
}

static enum spread_kind merge_kind(enum spread_kind have, enum spread_kind k)
{
	if (have == SPREAD_NONE || have == k)
		return k;
	return SPREAD_MIXED;
}

/* The one node of a fleet of one: its own bound, relative when it has one. */
static void single(const struct spread_node *a, long i, struct spread_fleet *out)
{
	double r = spread_bound_relative(a, NULL);

	out->worst_a = i;
	out->kind = isfinite(r) ? SPREAD_RELATIVE : SPREAD_ABSOLUTE;
	out->bound_s = isfinite(r) ? r : spread_bound_absolute(a);
	out->floor_s = isfinite(r) ? spread_bound_floor(a) : NAN;
}

static void top2(double v, double *first, double *second)
{
	if (v > *first) {
		*second = *first;
		*first = v;
	} else if (v > *second) {
		*second = v;
	}
}

void spread_bound_fleet(spread_get_fn get, const void *ctx, size_t n, struct spread_fleet *out)
{
	struct spread_node a, b;
	double first = -1, second = -1, v;
	enum spread_kind k;
	long last = -1;

	*out = (struct spread_fleet){ .floor_s = NAN, .worst_a = -1, .worst_b = -1 };
	for (size_t i = 0; i < n; i++) {
		if (!get(ctx, i, &a) || !a.have_tracking)
			continue;
		out->nodes++;
		last = (long)i;
		top2(spread_bound_absolute(&a), &first, &second);
		for (size_t j = i + 1; j < n; j++) {
			if (!get(ctx, j, &b) || !b.have_tracking)
				continue;
			v = spread_bound_pair(&a, &b, &k);
			out->kind = merge_kind(out->kind, k);
			if (k == SPREAD_RELATIVE)
				out->floor_s = fmax(isnan(out->floor_s) ? 0 : out->floor_s,
						    spread_bound_floor(&a) + spread_bound_floor(&b));
			if (v > out->bound_s || out->worst_a < 0) {
				out->bound_s = v;
				out->worst_a = (long)i;
				out->worst_b = (long)j;
			}
		}
	}
	out->absolute_s = (first >= 0 ? first : 0) + (second >= 0 ? second : 0);
	if (out->nodes == 1 && get(ctx, (size_t)last, &a))
		single(&a, last, out);
}

const char *spread_kind_name(enum spread_kind k)
{
	switch (k) {
	case SPREAD_NONE: return "none";
	case SPREAD_ABSOLUTE: return "absolute";
	case SPREAD_RELATIVE: return "relative";
	case SPREAD_MIXED: return "mixed";
	}
	return "unknown";
}

const char *spread_why_name(enum spread_why w)
{
	switch (w) {
	case SPREAD_WHY_OK: return "ok";
	case SPREAD_WHY_NO_TRACKING: return "no tracking";
	case SPREAD_WHY_UNSYNCHRONISED: return "unsynchronised";
	case SPREAD_WHY_NO_SELECTED: return "no selected source data";
	case SPREAD_WHY_MASTER_CHANGED: return "master changed";
	case SPREAD_WHY_BAD_INPUT: return "invalid values";
	}
	return "unknown";
}
