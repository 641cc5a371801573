/* readiness.h - is this node ready for an experiment? A pure evaluation of
 * what chronyd, the RTC and the collector said against thresholds: a list
 * of checks, each OK / WARN / FAIL with the measured value and the
 * threshold, and a verdict. No I/O here: agent/actions/action_check.c gathers the
 * input. */
#ifndef FLEETCLOCK_READINESS_H
#define FLEETCLOCK_READINESS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "chrony/chrony_report.h"
#include "chrony/ntp_auth.h"
#include "report/spread_bound.h"

enum readiness_status {
	READINESS_OK,
	READINESS_WARN,
	READINESS_FAIL,
	READINESS_SKIP,		/* could not be evaluated (an earlier check failed) */
};

enum readiness_rtc {
	READINESS_RTC_NOT_CHECKED,	/* no RTC information gathered */
	READINESS_RTC_NONE,		/* configured: this node has no RTC */
	READINESS_RTC_VALID,		/* read, valid; rtc_offset set */
	READINESS_RTC_INVALID,		/* read, but its time is invalid (halted, never set, ...) */
	READINESS_RTC_ERROR,		/* could not be read */
};

enum readiness_collector {
	READINESS_COLLECTOR_NOT_CONFIGURED,
	READINESS_COLLECTOR_REACHABLE,
	READINESS_COLLECTOR_UNREACHABLE,
};

enum readiness_election {
	READINESS_ELECTION_NOT_CANDIDATE,	/* the election is off on this node */
	READINESS_ELECTION_VIEW,		/* the daemon's current view, below */
	READINESS_ELECTION_MISSING,		/* a candidate without a current view */
};

struct readiness_input {
	int chrony_rc;			/* 0, or the -errno of the snapshot */
	const char *chrony_endpoint;	/* "unix:/run/chrony/chronyd.sock" */
	const char *chrony_error;	/* the client's message when chrony_rc < 0 */
	const struct chrony_snapshot *snap;	/* valid when chrony_rc == 0 */
	double now;			/* CLOCK_REALTIME, seconds */
	const char *expected_sources;	/* comma-separated names/addresses; NULL or "" = any;
					 * "local" accepts the node's own local reference */
	bool allow_local;		/* a master candidate may serve its own clock */
	const char *upstreams;		/* [election] upstreams: comma-separated addresses;
					 * NULL or "" = every source not in candidates */
	const char *candidates;		/* the master candidates' NTP addresses (the election
					 * view), comma-separated; NULL = none known */
	enum readiness_rtc rtc;
	double rtc_offset;		/* RTC minus system, s (READINESS_RTC_VALID) */
	const char *rtc_detail;		/* device and reason, for the message */
	enum readiness_election election;
	const char *election_state;	/* "serving", "following", "rejoin-measure", ... */
	const char *election_master;	/* the master's name */
	bool election_self;		/* this node is the master */
	const char *election_reason;	/* why (VIEW) or why there is no view (MISSING) */
	enum readiness_collector collector;
	const char *collector_detail;	/* URL and error */
	enum ntp_auth_mode ntp_auth_mode;	/* [chrony] ntp_auth */
	const struct ntp_auth_result *ntp_auth;	/* NULL: no "ntp auth" line */
	const struct spread_sel *sel;	/* the selected source's NTP data; NULL: none.
					 * With it, "max error" holds the bound relative
					 * to the master against the budget */
};

struct readiness_limits {
	double budget;			/* max error, s */
	int max_update_polls;		/* last update no older than this many polls */
	double max_skew_ppm;
	double max_freq_ppm;
	double rtc_max_offset;		/* s */
	double build_epoch;		/* the clock must not be before this */
};

#define READINESS_MAX_CHECKS 16

struct readiness_check {
	const char *name;		/* "chronyd", "leap status", ... */
	enum readiness_status status;
	char value[640];		/* what was measured (chronyd errors are long) */
	char threshold[96];		/* what it was held against ("" if none) */
};

enum readiness_verdict {
	READINESS_READY,		/* exit 0 */
	READINESS_NOT_READY,		/* exit 1 */
	READINESS_UNKNOWN,		/* could not check: exit 2 */
};

struct readiness_report {
	struct readiness_check checks[READINESS_MAX_CHECKS];
	size_t n_checks;
	int n_fail;
	int n_warn;
	enum readiness_verdict verdict;
};

/* Evaluate every check. Never fails: missing input gives FAIL or SKIP lines.
 * While chronyd serves its local reference, an "upstream" line follows the
 * source line: WARN when an upstream source is reachable (answered one of
 * its last 8 polls) but not selected (chronyd has fewer than the samples it
 * needs to select it: docs/election.md), OK when none is reachable, SKIP
 * when there is none. With in->ntp_auth an "ntp auth" line follows: FAIL
 * when [chrony] ntp_auth = required and the selected source's time is not
 * authenticated (ntp_auth.h). */
void readiness_evaluate(const struct readiness_input *in, const struct readiness_limits *lim,
			struct readiness_report *out);

/* "OK", "WARN", "FAIL", "SKIP" */
const char *readiness_status_str(enum readiness_status s);

/* "ready", "not ready", "could not check" */
const char *readiness_verdict_str(enum readiness_verdict v);

/* The report as {"verdict": ..., "ready": bool, "failed": n, "warnings": n,
 * "checks": [{"name", "status", "value", "threshold"}]}; NULL on ENOMEM. */
json_t *readiness_json(const struct readiness_report *r);

#endif
