/* fleet_summary.h - the fleet verdict from every host's latest report.
 *
 * Pure: no I/O, no clock reading (the caller passes "now"). A host's error
 * bound is |offset| + root_delay / 2 + root_dispersion: the most its clock
 * can be away from true time. Two clocks can then be at most the sum of
 * their bounds apart, so the fleet's spread bound is the sum of the two
 * largest bounds (the single bound when there is one host).
 *
 * Hosts that follow the same master (their reports carry the selected
 * source's NTP data) are held to their bounds relative to that master
 * instead, which leave out what they share (spread_bound.h): a pair of them
 * is at most the sum of their relative bounds apart. */
#ifndef FLEETCLOCK_FLEET_SUMMARY_H
#define FLEETCLOCK_FLEET_SUMMARY_H

#include <stdbool.h>
#include <stddef.h>

#include "report/spread_bound.h"

/* One host's latest report, as the collector stored it. */
struct fleet_host {
	const char *host;
	bool have_tracking;	/* false: the agent could not read chronyd */
	bool synchronised;
	double offset_s;
	double root_delay_s;
	double root_dispersion_s;
	double received_at;	/* s since the epoch, when the collector stored it */
	struct spread_sel sel;	/* the selected source (zero: unknown, absolute bound
				 * only): docs/spread-bound.md */
};

/* What the summary says about one host. */
struct fleet_host_eval {
	double error_bound_s;	/* NAN without tracking */
	double age_s;		/* now - received_at */
	bool stale;		/* age_s > stale_after */
	bool over_budget;	/* error_bound_s > budget (false without tracking) */
	bool ready;		/* fresh, synchronised and within the budget */
	double relative_bound_s;	/* relative to its master; NAN: falls back */
	bool relative;		/* over_budget held relative_bound_s (else error_bound_s) */
	enum spread_why why;	/* why it falls back to the absolute; SPREAD_WHY_OK: it does not */
};

enum fleet_verdict {
	FLEET_EMPTY,		/* no host has reported */
	FLEET_OK,		/* every host ready and spread bound within the budget */
	FLEET_STALE,		/* some host has not reported within stale_after */
	FLEET_UNSYNCHRONISED,	/* some fresh host is not synchronised */
	FLEET_OVER_BUDGET,	/* the spread bound exceeds the budget */
};

struct fleet_summary {
	size_t hosts, stale, ready;
	size_t unsynchronised, over_budget;	/* among fresh hosts */
	long worst;		/* index of the largest bound among fresh hosts; -1: none */
	double worst_bound_s;
	double spread_bound_s;	/* over fresh hosts with tracking; 0 if none */
	double absolute_spread_bound_s;	/* the sum of the two largest absolute bounds */
	enum spread_kind spread_kind;	/* which bound spread_bound_s is */
	double spread_floor_s;	/* the own-hop floor of a relative spread bound; NAN */
	enum fleet_verdict verdict;
};

/* |offset| + root_delay / 2 + root_dispersion: chrony_report_max_error(). */
double fleet_error_bound(double offset_s, double root_delay_s, double root_dispersion_s);

/* Evaluate n hosts at time now against budget_s (the largest acceptable
 * spread, and the largest acceptable bound of one host) and stale_after_s.
 * evals (n entries) may be NULL. Worst-case order of checks for the
 * verdict: over budget, then stale, then unsynchronised. */
void fleet_summarize(const struct fleet_host *hosts, size_t n, double now, double stale_after_s,
		     double budget_s, struct fleet_host_eval *evals, struct fleet_summary *out);

/* "ok", "stale", "unsynchronised", "over_budget", "empty". */
const char *fleet_verdict_name(enum fleet_verdict v);

#endif
