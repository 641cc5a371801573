/* chrony_json.h - chronyd reports as JSON (jansson), shared by
 * `fleetclock-agent --status --json` and the status document.
 *
 * Field names and units: docs/status-json.md. Times are seconds (floats),
 * chrony's own fields keep chrony's sign conventions; the derived "offset"
 * is positive when this clock is ahead of the reference. */
#ifndef FLEETCLOCK_CHRONY_JSON_H
#define FLEETCLOCK_CHRONY_JSON_H

#include <jansson.h>

#include "chrony/chrony_client.h"

/* The tracking report as an object; NULL only when out of memory. */
json_t *chrony_json_tracking(const struct chrony_tracking *t);

/* One source (with its sourcestats when known) as an object. */
json_t *chrony_json_source(const struct chrony_source *s);

/* {"tracking": {...}, "sources": [...], "offset": x, "max_error": x,
 *  "synchronised": bool}; NULL only when out of memory. */
json_t *chrony_json_snapshot(const struct chrony_snapshot *snap);

/* A source's address as chronyc prints it into buf: a reference clock's
 * refid as text (its printable bytes: "TST1", "GPS"; chronyd carries the
 * refid in the IPv4 address field), else the IP address. Returns buf. */
char *chrony_json_source_address(const struct chrony_source_data *d, char *buf, size_t len);

/* The reference's address as chronyc tracking prints it into buf: the IP
 * address, or for a reference clock (no address; chronyd reports the
 * family unspecified) its refid as text ("TST1"). NULL when there is no
 * reference (refid 0) or it is the local reference. */
const char *chrony_json_tracking_address(const struct chrony_tracking *t, char *buf, size_t len);

/* The one-character state chronyc shows for a source ("*", "+", "-", "x",
 * "~", "?"). */
const char *chrony_json_state_char(uint16_t state);

#endif
