/* status.h - the fleetclock status document (schema "fleetclock.status/1").
 *
 * An agent builds one document per report from a chronyd snapshot, its RTC
 * state, the election state and the last check verdict; the collector
 * parses and validates it. The document is JSON (jansson); every field and
 * unit is described in docs/status-schema.md. Building and validating are
 * pure: no I/O. */
#ifndef FLEETCLOCK_STATUS_H
#define FLEETCLOCK_STATUS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "chrony/chrony_report.h"
#include "report/status_metrics.h"
#include "report/spread_bound.h"

#define STATUS_SCHEMA "fleetclock.status/1"
#define STATUS_MAX_BYTES (64 * 1024)	/* a collector refuses larger bodies */
#define STATUS_MAX_DEPTH 16		/* deeper nesting is refused */
#define STATUS_HOST_MAX 64		/* host names: 1..63 bytes */
#define STATUS_MAX_PROBLEMS 16

/* What the agent knows about its RTC (filled by the RTC code). */
struct status_rtc {
	bool present;		/* false: "rtc": null in the document */
	char backend[16];	/* "ds1307", "linux" */
	char device[64];	/* "/dev/i2c-1", "/dev/rtc0" */
	bool valid;		/* oscillator running, stamp present, sane date */
	bool have_offset;
	double offset_s;	/* RTC minus system time, edge-synchronised */
	bool have_drift;
	double drift_ppm;	/* > 0: the RTC runs fast */
	struct timespec last_sync;	/* tv_sec 0: never */
};

/* The readiness verdict of the last check (NULL: "check": null). */
struct status_check {
	bool ready;
	double budget_s;
	unsigned n_problems;
	char problems[STATUS_MAX_PROBLEMS][160];
};

/* Who sends the document and when. */
struct status_meta {
	const char *host;
	const char *role;	/* master | failover | headset | observer */
	const char *agent_version;
	struct timespec sent_at;
};

/* The agent's report queue, the optional "report_queue" object: where
 * reports wait for the collector and why (docs/status-schema.md). */
struct status_report_queue {
	bool in_memory;			/* the spool directory fails: new reports in memory */
	uint64_t queued;		/* reports waiting, this one not counted */
	uint64_t in_memory_count;	/* of which kept in memory */
	uint64_t unremoved;		/* sent, but their files could not be removed */
	uint64_t dropped;		/* dropped for the limits since the agent started */
	const char *error;		/* the spool's failure; NULL or "": none */
	const char *delivery;		/* "ok", "retrying" or "refused" (401/403) */
	const char *delivery_error;	/* the last failed POST; NULL or "": none */
};

/* The "report_queue" object for q. Returns a new reference, or NULL when
 * out of memory. */
json_t *status_build_report_queue(const struct status_report_queue *q);

/* Build a document. snap NULL means chronyd could not be read: then
 * chrony_error (may be NULL) says why. rtc and check may be NULL. Returns a
 * new reference, or NULL when out of memory. */
json_t *status_build(const struct status_meta *meta, const struct chrony_snapshot *snap,
		     const char *chrony_error, const struct status_rtc *rtc,
		     const struct status_check *check);

/* Set doc's chrony.authenticated (the selected source's time authenticated,
 * NTP_DATA): 1 true, 0 false, -1 null. Nothing when chrony is null. */
void status_set_authenticated(json_t *doc, int authenticated);

/* status_build with the election's view as the "election" section: the
 * view (agent/election/election_view.c) is its only author; election is
 * stolen, NULL means "election": null (not a master candidate). */
json_t *status_build_election(const struct status_meta *meta, const struct chrony_snapshot *snap,
			      const char *chrony_error, const struct status_rtc *rtc,
			      const struct status_check *check, json_t *election);

/* The election states the document allows in election.state (the names
 * of agent/election/election.c's election_state_name), NULL-terminated. */
extern const char *const status_election_states[];

/* The fields of a valid document that the collector indexes. */
struct status_info {
	char host[STATUS_HOST_MAX];
	char role[16];
	char agent_version[32];
	int64_t sent_at_us;		/* microseconds since the Unix epoch */
	bool have_tracking;		/* "chrony" is not null */
	bool synchronised;
	int stratum;
	char leap[8];			/* normal | insert | delete | unsync */
	double offset_s;		/* system clock minus true time */
	double root_delay_s;
	double root_dispersion_s;
	double max_error_s;		/* NAN when have_tracking is false */
	bool rtc_present;
	bool rtc_valid;
	bool rtc_have_offset;
	double rtc_offset_s;
	int check_ready;		/* -1: no check, 0: not ready, 1: ready */
	struct status_metrics metrics;	/* election, RTC drift, reach: for /metrics */
	int authenticated;		/* chrony.authenticated: -1 null or absent, 0, 1 */
	struct spread_sel sel;		/* "chrony.selected"; sel.have false: absent */
};

/* "chrony.selected": the selected source's address and root values and
 * this node's own hop (null when sel->have is false). Returns a new
 * reference, or NULL when out of memory. */
json_t *status_build_selected(const struct spread_sel *sel);

/* The spread bound's view of a node from its tracking and selected source. */
struct spread_node status_spread_node(const struct chrony_tracking *t, const struct spread_sel *sel);

/* The same from a parsed document's fields. */
struct spread_node status_info_spread_node(const struct status_info *i);

/* What a stored report's index row lacks, from its document (len bytes of
 * JSON, or text NULL when retention deleted it): the metrics fields,
 * chrony.selected and chrony.authenticated, as status_parse fills them
 * (so a collector that re-reads its latest rows at start sees each host as
 * it did live). Without a readable document: metrics empty, sel absent,
 * authenticated -1. Never fails. */
void status_info_fill_stored(const char *text, size_t len, struct status_info *i);

/* max_error_s of i from its tracking fields: |offset| + root delay / 2 +
 * root dispersion, NAN when have_tracking is false. */
double status_max_error(const struct status_info *i);

/* Outcome of status_parse, for an HTTP layer to map to a status code. */
enum status_parse_result {
	STATUS_OK = 0,
	STATUS_EJSON = -1,	/* not JSON: err says line, column and position */
	STATUS_ESCHEMA = -2,	/* JSON but not a valid document: err names the field */
	STATUS_ENOMEM = -3,
};

/* Parse len bytes (need not be NUL-terminated) and validate them. On
 * STATUS_OK fills info, and *doc (if doc is not NULL) gets the parsed
 * document. err (errlen bytes) says what is wrong otherwise. */
enum status_parse_result status_parse(const char *buf, size_t len, struct status_info *info,
				      json_t **doc, char *err, size_t errlen);

/* Validate a parsed document against the schema; fill info. Returns
 * STATUS_OK or STATUS_ESCHEMA with err naming the field ("chrony.tracking.stratum:
 * expected an integer in [0, 16]"). */
enum status_parse_result status_validate(json_t *doc, struct status_info *info, char *err,
					 size_t errlen);

/* Parse an RFC 3339 UTC time ("2026-11-21T20:00:10.250Z", 0-9 fraction
 * digits, 'Z' or "+00:00") into microseconds since the epoch. Returns 0 or
 * -EINVAL. */
int status_parse_time(const char *s, int64_t *us);

/* Format microseconds since the epoch as RFC 3339 UTC with 6 fraction
 * digits into buf. Returns buf, or NULL if it does not fit. */
char *status_format_time(int64_t us, char *buf, size_t len);

#endif
