/* spread_bound.c - see spread_bound.h and docs/spread-bound.md. */
#include "report/spread_bound.h"

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

/* The one node of a fleet of one: its own bound, relative when it has one. */
static void single(const struct spread_node *a, long i, struct spread_fleet *out)
{
	double r = spread_bound_relative(a, NULL);

	out->worst_a = i;
	out->kind = isfinite(r) ? SPREAD_RELATIVE : SPREAD_ABSOLUTE;
	out->bound_s = isfinite(r) ? r : spread_bound_absolute(a);
	out->floor_s = isfinite(r) ? spread_bound_floor(a) : NAN;
}

/* The followers of one master: their two largest relative bounds and floors. */
struct group {
	char master[SPREAD_MASTER_MAX];
	size_t n;
	double r1, r2, f1, f2;
	long i1, i2;
};

/* Beyond this many masters the rest count as absolute only: still a bound,
 * only looser (a fleet has one master, two while a failover takes over). */
#define SPREAD_MAX_GROUPS 32

struct fleet_scan {
	struct group g[SPREAD_MAX_GROUPS];
	size_t n_groups;
	double a1, a2;		/* the two largest absolute bounds; a1 of node top */
	long top;
	size_t n_rel;		/* nodes with a relative bound in a group */
	long last;
};

static struct group *group_of(struct fleet_scan *sc, const struct spread_node *a, bool add)
{
	for (size_t k = 0; k < sc->n_groups; k++)
		if (!strncmp(sc->g[k].master, a->sel.master, SPREAD_MASTER_MAX))
			return &sc->g[k];
	if (!add || sc->n_groups == SPREAD_MAX_GROUPS)
		return NULL;
	sc->g[sc->n_groups] = (struct group){ .r1 = -1, .r2 = -1, .f1 = -1, .f2 = -1,
					      .i1 = -1, .i2 = -1 };
	memcpy(sc->g[sc->n_groups].master, a->sel.master, SPREAD_MASTER_MAX);
	return &sc->g[sc->n_groups++];
}

static void group_add(struct group *g, double r, double f, long i)
{
	g->n++;
	if (r > g->r1) {
		g->r2 = g->r1, g->i2 = g->i1;
		g->r1 = r, g->i1 = i;
	} else if (r > g->r2) {
		g->r2 = r, g->i2 = i;
	}
	if (f > g->f1)
		g->f2 = g->f1, g->f1 = f;
	else if (f > g->f2)
		g->f2 = f;
}

/* Is node a relative-compatible with the node whose group is g (NULL: none)? */
static bool in_group(struct fleet_scan *sc, const struct spread_node *a, const struct group *g)
{
	return g && isfinite(spread_bound_relative(a, NULL)) && group_of(sc, a, false) == g;
}

/* First pass: the groups and the node with the largest absolute bound. */
static void scan(spread_get_fn get, const void *ctx, size_t n, struct fleet_scan *sc,
		 struct spread_fleet *out)
{
	struct spread_node a;
	struct group *g;
	double r, v;

	for (size_t i = 0; i < n; i++) {
		if (!get(ctx, i, &a) || !a.have_tracking)
			continue;
		out->nodes++;
		sc->last = (long)i;
		v = spread_bound_absolute(&a);
		if (sc->top < 0 || v > sc->a1) {
			sc->a2 = sc->a1;
			sc->a1 = v, sc->top = (long)i;
		} else if (v > sc->a2) {
			sc->a2 = v;
		}
		r = spread_bound_relative(&a, NULL);
		if (isfinite(r) && (g = group_of(sc, &a, true))) {
			group_add(g, r, spread_bound_floor(&a), (long)i);
			sc->n_rel++;
		}
	}
}

/* The largest absolute pair bound: it always includes the node with the
 * largest absolute bound (any absolute pair p, q is at most that node with
 * whichever of p, q is not a relative partner of it). */
static void best_absolute(spread_get_fn get, const void *ctx, size_t n, struct fleet_scan *sc,
			  struct spread_fleet *out)
{
	struct spread_node top, a;
	const struct group *gt;
	double v;

	if (!get(ctx, (size_t)sc->top, &top))
		return;
	gt = isfinite(spread_bound_relative(&top, NULL)) ? group_of(sc, &top, false) : NULL;
	for (size_t i = 0; i < n; i++) {
		if ((long)i == sc->top || !get(ctx, i, &a) || !a.have_tracking ||
		    in_group(sc, &a, gt))
			continue;
		v = sc->a1 + spread_bound_absolute(&a);
		if (out->worst_a < 0 || v > out->bound_s) {
			out->bound_s = v;
			out->worst_a = sc->top < (long)i ? sc->top : (long)i;
			out->worst_b = sc->top < (long)i ? (long)i : sc->top;
		}
	}
}

void spread_bound_fleet(spread_get_fn get, const void *ctx, size_t n, struct spread_fleet *out)
{
	static const struct fleet_scan empty = { .top = -1, .last = -1 };
	struct fleet_scan sc = empty;
	struct spread_node a;
	bool any_rel = false, any_abs;
	size_t rel_pairs = 0;

	*out = (struct spread_fleet){ .floor_s = NAN, .worst_a = -1, .worst_b = -1 };
	scan(get, ctx, n, &sc, out);
	out->absolute_s = 0;
	if (out->nodes == 1 && get(ctx, (size_t)sc.last, &a)) {
		out->absolute_s = spread_bound_absolute(&a);
		single(&a, sc.last, out);
		return;
	}
	if (out->nodes == 0)
		return;
	best_absolute(get, ctx, n, &sc, out);
	for (size_t k = 0; k < sc.n_groups; k++) {
		const struct group *g = &sc.g[k];

		if (g->n < 2)
			continue;
		any_rel = true;
		rel_pairs += g->n * (g->n - 1) / 2;
		out->floor_s = fmax(isnan(out->floor_s) ? 0 : out->floor_s, g->f1 + g->f2);
		if (out->worst_a < 0 || g->r1 + g->r2 > out->bound_s) {
			out->bound_s = g->r1 + g->r2;
			out->worst_a = g->i1 < g->i2 ? g->i1 : g->i2;
			out->worst_b = g->i1 < g->i2 ? g->i2 : g->i1;
		}
	}
	any_abs = rel_pairs < out->nodes * (out->nodes - 1) / 2;
	out->kind = !any_rel ? SPREAD_ABSOLUTE : any_abs ? SPREAD_MIXED : SPREAD_RELATIVE;
	out->absolute_s = sc.a1 + sc.a2;
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
