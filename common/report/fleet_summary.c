/* fleet_summary.c - see fleet_summary.h. */
#include "report/fleet_summary.h"

#include "chrony/chrony_report.h"

#include <math.h>

double fleet_error_bound(double offset_s, double root_delay_s, double root_dispersion_s)
{
	return chrony_report_max_error(offset_s, root_delay_s, root_dispersion_s);
}

static struct spread_node node_of(const struct fleet_host *h)
{
	return (struct spread_node){ h->have_tracking, h->synchronised, h->offset_s,
				     h->root_delay_s, h->root_dispersion_s, h->sel };
}

static double fleet_relative_bound(const struct fleet_host *h, enum spread_why *why)
{
	struct spread_node n = node_of(h);

	return spread_bound_relative(&n, why);
}

struct fresh_ctx {
	const struct fleet_host *hosts;
	double now, stale_after_s;
};

static bool fresh_node(const void *ctx, size_t i, struct spread_node *out)
{
	const struct fresh_ctx *c = ctx;

	if (c->now - c->hosts[i].received_at > c->stale_after_s)
		return false;
	*out = node_of(&c->hosts[i]);
	return true;
}

static void eval_host(const struct fleet_host *h, double now, double stale_after_s,
		      double budget_s, struct fleet_host_eval *e)
{
	e->age_s = now - h->received_at;
	e->stale = e->age_s > stale_after_s;
	e->error_bound_s = h->have_tracking ?
		fleet_error_bound(h->offset_s, h->root_delay_s, h->root_dispersion_s) : NAN;
	e->relative_bound_s = fleet_relative_bound(h, &e->why);
	e->relative = isfinite(e->relative_bound_s);
	e->over_budget = h->have_tracking &&
			 !((e->relative ? e->relative_bound_s : e->error_bound_s) <= budget_s);
	e->ready = !e->stale && h->have_tracking && h->synchronised && !e->over_budget;
}

/* The spread bound relative to the master where it applies (issue 20). */
static void apply_relative(const struct fleet_host *hosts, size_t n, double now,
			   double stale_after_s, struct fleet_summary *out)
{
	struct fresh_ctx c = { hosts, now, stale_after_s };
	struct spread_fleet f;

	spread_bound_fleet(fresh_node, &c, n, &f);
	out->absolute_spread_bound_s = out->spread_bound_s;
	out->spread_kind = f.nodes ? f.kind : SPREAD_NONE;
	out->spread_floor_s = f.floor_s;
	if (f.nodes)
		out->spread_bound_s = fmin(f.bound_s, out->spread_bound_s);
}

void fleet_summarize(const struct fleet_host *hosts, size_t n, double now, double stale_after_s,
		     double budget_s, struct fleet_host_eval *evals, struct fleet_summary *out)
{
	double first = -1, second = -1;
	struct fleet_host_eval e;

	*out = (struct fleet_summary){ .hosts = n, .worst = -1 };
	for (size_t i = 0; i < n; i++) {
		eval_host(&hosts[i], now, stale_after_s, budget_s, &e);
		if (evals)
			evals[i] = e;
		out->stale += e.stale;
		out->ready += e.ready;
		if (e.stale)
			continue;
		out->over_budget += e.over_budget;
		out->unsynchronised += !(hosts[i].have_tracking && hosts[i].synchronised);
		if (!hosts[i].have_tracking)
			continue;
		if (e.error_bound_s > first) {
			second = first;
			first = e.error_bound_s;
			out->worst = (long)i;
		} else if (e.error_bound_s > second) {
			second = e.error_bound_s;
		}
	}
	out->worst_bound_s = first >= 0 ? first : 0;
	out->spread_bound_s = (first >= 0 ? first : 0) + (second >= 0 ? second : 0);
	apply_relative(hosts, n, now, stale_after_s, out);
	if (n == 0)
		out->verdict = FLEET_EMPTY;
	else if (out->spread_bound_s > budget_s || out->over_budget)
		out->verdict = FLEET_OVER_BUDGET;
	else if (out->stale)
		out->verdict = FLEET_STALE;
	else if (out->unsynchronised)
		out->verdict = FLEET_UNSYNCHRONISED;
	else
		out->verdict = FLEET_OK;
}

const char *fleet_verdict_name(enum fleet_verdict v)
{
	switch (v) {
	case FLEET_EMPTY: return "empty";
	case FLEET_OK: return "ok";
	case FLEET_STALE: return "stale";
	case FLEET_UNSYNCHRONISED: return "unsynchronised";
	case FLEET_OVER_BUDGET: return "over_budget";
	}
	return "unknown";
}
