/* metrics_election.h - the series of /metrics that say who serves the
 * fleet's time and how well the hosts can hold it: per candidate election
 * state, clock class and priorities; the collector's view of the fleet's
 * master, its failovers and the time without one; quarantined upstreams,
 * RTC drift and validity, the selected source's reachability and the
 * readiness verdicts per host (docs/monitoring.md lists every series).
 *
 * The master is tracked from reports as they are stored (metrics_master),
 * so a failover is counted even when no scrape falls between its two
 * reports; rendering is pure (metrics_election_render). */
#ifndef FLEETCLOCK_METRICS_ELECTION_H
#define FLEETCLOCK_METRICS_ELECTION_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "report/fleet_summary.h"
#include "report/status.h"
#include "store.h"

/* The collector's view of the elected master. The master is the candidate
 * whose stored reports say "serving"; it stays master until its own report
 * says it no longer serves or its reports go stale (stale_after_s), even
 * if another candidate also says serving meanwhile (two serving at once
 * show in fleetclock_election_serving, not as failovers). A failover is
 * counted when a candidate becomes master and the previous master was
 * another host: A -> B and A -> (none) -> B count one, A -> (none) -> A
 * (a restart) counts none. Lives in memory: a collector restart starts
 * again from zero (a counter reset to Prometheus). Thread-safe. */
struct metrics_master {
	pthread_mutex_t lock;
	bool seen;			/* a candidate has reported */
	char cur[STATUS_HOST_MAX];	/* the master, "" none */
	char last[STATUS_HOST_MAX];	/* the latest master there was, "" never */
	double cur_seen;		/* s: the master's latest serving report arrived */
	double none_since;		/* s: without a master since (cur "") */
	uint64_t failovers;
};

/* What metrics_master_get answers. */
struct metrics_master_view {
	bool seen;
	bool have_master;		/* a master whose serving reports are fresh */
	char master[STATUS_HOST_MAX];
	double no_master_s;		/* 0 with a master; else s since there was one */
	uint64_t failovers;
};

/* Start with no master seen. Returns 0 or a negative errno. */
int metrics_master_init(struct metrics_master *m);
void metrics_master_destroy(struct metrics_master *m);

/* A report of host i stored at now (s since the epoch); stale_after_s as
 * the fleet view's. Reports of non-candidates change nothing unless they
 * come from the master (it no longer takes part: it no longer serves). */
void metrics_master_observe(struct metrics_master *m, const struct status_info *i, double now,
			    double stale_after_s);

/* The view at now. */
void metrics_master_get(struct metrics_master *m, double now, double stale_after_s,
			struct metrics_master_view *out);

/* Append the series of this module to f: per-host ones from rows and
 * their evaluations e, the fleet's election ones from mv (NULL: none).
 * Families with no sample are still declared (HELP/TYPE). */
void metrics_election_render(FILE *f, const struct store_latest *rows,
			     const struct fleet_host_eval *e, size_t n,
			     const struct metrics_master_view *mv);

#endif
