/* status_metrics.h - the fields of a status document that only the
 * collector's /metrics needs beyond struct status_info's core: the
 * election section (written by the election's view; status_validate checks
 * its fields: common/report/status_election.c), the RTC's drift and the
 * selected source's reachability.
 *
 * Pure and tolerant: a field of an unexpected type reads as "unknown",
 * never as an error, so that a report the schema accepts is never refused
 * for what this module reads. */
#ifndef FLEETCLOCK_STATUS_METRICS_H
#define FLEETCLOCK_STATUS_METRICS_H

#include <jansson.h>
#include <stdbool.h>

/* Election states as the agent names them (agent/election/election.c). */
enum status_election_state {
	STATUS_EL_UNKNOWN = 0,
	STATUS_EL_LISTENING,
	STATUS_EL_REJOIN_MEASURE,
	STATUS_EL_REJOIN_HOLDOFF,
	STATUS_EL_FOLLOWING,
	STATUS_EL_SERVING,
	STATUS_EL_N
};

/* All zeros (what a reader that never saw the document holds) means
 * "nothing known": no election, no drift, no reach. The election's fields
 * are read only when election is set. */
struct status_metrics {
	bool election;			/* "election" is an object: the host is a candidate */
	unsigned char el_state;		/* enum status_election_state */
	bool el_serving;		/* election.serving */
	int clock_class;		/* election.self.clock_class, -1 unknown */
	int priority1, priority2;	/* election.self, -1 unknown */
	int upstreams;			/* election.upstreams[] entries, -1 unknown */
	int upstreams_offline;		/* of which quarantined (offline), -1 unknown */
	bool rtc_have_drift;
	double rtc_drift_ppm;		/* rtc.drift_ppm, > 0: the RTC runs fast */
	bool have_reach;		/* a source is "selected" */
	int selected_reach;		/* its reach register (0..255) */
};

/* The name of an election state ("serving"), "unknown" for the rest. */
const char *status_election_state_name(enum status_election_state s);

/* Fill m from a document that passed status_validate (any tree is safe). */
void status_metrics_fill(json_t *doc, struct status_metrics *m);

#endif
