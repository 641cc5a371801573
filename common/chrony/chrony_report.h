/* chrony_report.h - chronyd's reports as fleetclock reads them: the
 * snapshot structs, the maximum error, "synchronised", the LOCAL refid,
 * the names of modes, states and leap, and the one JSON rendering of a
 * snapshot. Pure (jansson, no I/O): the status document, --status --json,
 * --check and the election use it, the chronyd client (chrony_client.h)
 * fills it, the collector sees it without the client.
 *
 * JSON: one rendering, two sets of keys over the same values
 * (CHRONY_REPORT_DOC: the status document's "chrony" section,
 * docs/status-schema.md; CHRONY_REPORT_CLI: `fleetclock-agent --status
 * --json`, chronyc's field names and leap words, docs/status-json.md).
 * Modes and states have one set of names in both. Times are seconds;
 * chrony's own fields keep chrony's sign conventions; the derived offset is
 * positive when this clock is ahead of the reference. */
#ifndef FLEETCLOCK_CHRONY_REPORT_H
#define FLEETCLOCK_CHRONY_REPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chrony/chrony_wire.h"

#define CHRONY_MAX_SOURCES 64
#define CHRONY_REFID_LOCAL 0x7F7F0101u	/* "LOCAL": chronyd's local reference */

/* One source as a snapshot sees it. */
struct chrony_source {
	struct chrony_source_data data;
	struct chrony_sourcestats stats;
	bool have_stats;
	char name[256];		/* configured name, or the address as text */
};

struct chrony_snapshot {
	struct chrony_tracking tracking;
	uint32_t n_sources;	/* stored in sources[] (at most CHRONY_MAX_SOURCES) */
	struct chrony_source sources[CHRONY_MAX_SOURCES];
};

/* The one maximum-error formula: |offset| + root_delay / 2 +
 * root_dispersion (seconds; root values taken as >= 0). */
double chrony_report_max_error(double offset, double root_delay, double root_dispersion);

/* chrony_report_max_error of a tracking report (offset: current_correction). */
double chrony_tracking_max_error(const struct chrony_tracking *t);

/* The reference is chronyd's local reference (refid LOCAL). */
bool chrony_tracking_local(const struct chrony_tracking *t);

/* Synchronised: leap status not UNSYNC and a reference other than LOCAL
 * or none. */
bool chrony_tracking_synchronised(const struct chrony_tracking *t);

/* Names, NULL-terminated, indexed by chronyd's value (validation uses them
 * as the allowed choices): leap normal|insert|delete|unsync; mode
 * client|peer|refclock; state selected|nonselectable|falseticker|jittery|
 * unselected|selectable. */
extern const char *const chrony_report_leap_names[];
extern const char *const chrony_report_mode_names[];
extern const char *const chrony_report_state_names[];

/* The name of a value; "unknown" when out of range. */
const char *chrony_report_leap_name(uint16_t leap);
const char *chrony_report_mode_name(uint16_t mode);
const char *chrony_report_state_name(uint16_t state);

/* The one-character state chronyc shows for a source ("*", "+", "-", "x",
 * "~", "?"). */
const char *chrony_report_state_char(uint16_t state);

/* A source's address as chronyc prints it into buf: a reference clock's
 * refid as text (its printable bytes: "TST1", "GPS"; chronyd carries the
 * refid in the IPv4 address field), else the IP address. Returns buf. */
char *chrony_report_source_address(const struct chrony_source_data *d, char *buf, size_t len);

/* The reference's address as chronyc tracking prints it into buf: the IP
 * address, or for a reference clock (no address; chronyd reports the
 * family unspecified) its refid as text ("TST1"). NULL when there is no
 * reference (refid 0) or it is the local reference. */
const char *chrony_report_tracking_address(const struct chrony_tracking *t, char *buf, size_t len);

/* Which keys the rendering uses. */
enum chrony_report_keys {
	CHRONY_REPORT_DOC = 0,	/* the status document (schema fleetclock.status/1) */
	CHRONY_REPORT_CLI = 1,	/* --status --json (chronyc's names) */
};

/* The tracking report as an object; NULL only when out of memory. */
json_t *chrony_report_tracking_json(const struct chrony_tracking *t, enum chrony_report_keys k);

/* One source (with its sourcestats when known) as an object. */
json_t *chrony_report_source_json(const struct chrony_source *s, enum chrony_report_keys k);

/* {"tracking": {...}, "sources": [...]}; CLI adds "offset", "max_error"
 * and "synchronised". NULL only when out of memory. */
json_t *chrony_report_json(const struct chrony_snapshot *snap, enum chrony_report_keys k);

#endif
