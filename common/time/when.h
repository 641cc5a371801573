/* when.h - parse the TIME of `fleetclock-agent --at TIME` into an absolute
 * CLOCK_REALTIME instant. Pure: the current time is passed in, so every form
 * is testable as a table.
 *
 * Forms:
 *   2026-11-21T20:00:10.250Z        RFC 3339: fraction up to 9 digits, Z or
 *   2026-11-21T22:00:10+02:00       a +hh:mm / -hh:mm offset ('T', 't' or ' ')
 *   1795291210.25  @1795291210      seconds since the epoch, fraction allowed
 *   +10s +1.5s +250ms +2m +1h +1m30s +10
 *                                   now + a duration (units ns us ms s m h;
 *                                   a bare number is seconds)
 *   :10  :10.5                      second SS (00-59) of the NEXT minute:
 *                                   every node started within the same minute
 *                                   agrees on the instant
 */
#ifndef FLEETCLOCK_WHEN_H
#define FLEETCLOCK_WHEN_H

#include <stddef.h>
#include <time.h>

/* Largest accepted +DURATION (s); keeps the arithmetic far from overflow. */
#define WHEN_MAX_DURATION_S (366LL * 86400)

/* Parse text relative to now. Returns 0 with *out set, or -EINVAL with a
 * message in err that quotes the input and says what is wrong. */
int when_parse(const char *text, struct timespec now, struct timespec *out,
	       char *err, size_t errlen);

/* Just the RFC 3339 form (any offset, a real calendar day, no leap second
 * :60), for other parsers of times (status_parse_time). */
int when_parse_rfc3339(const char *text, struct timespec *out, char *err, size_t errlen);

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1-12). */
long long when_days_from_civil(long long y, unsigned m, unsigned d);

#endif
