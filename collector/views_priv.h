/* views_priv.h - private to views.c and views_metrics.c:
 * what both use. */
#ifndef FLEETCLOCK_VIEWS_PRIV_H
#define FLEETCLOCK_VIEWS_PRIV_H

#include "views.h"
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "report/fleet_summary.h"
#include "metrics_election.h"

/* The host's clock as its latest report shows it: sent_at (its clock) minus
 * received_at (ours), in s. Positive: the host's clock is ahead; negative:
 * behind, or the report was delayed (replayed from the agent's spool). */
double views_priv_clock_skew_s(const struct store_latest *r);

size_t views_priv_count_skewed(const struct store_latest *rows, size_t n, double max_skew_s);

void views_priv_to_fleet_hosts(const struct store_latest *rows, size_t n, struct fleet_host *h);

#endif
