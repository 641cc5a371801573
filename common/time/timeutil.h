/* timeutil.h - small pure helpers for struct timespec arithmetic and
 * formatting. No I/O besides reading clocks in timeutil_now(). */
#ifndef FLEETCLOCK_TIMEUTIL_H
#define FLEETCLOCK_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define NSEC_PER_SEC 1000000000LL

/* Seconds as a double (precision ~0.2 us for current dates). */
double timeutil_ts_to_double(struct timespec ts);

/* Nearest timespec to a double number of seconds; tv_nsec in [0, 1e9). */
struct timespec timeutil_double_to_ts(double s);

/* a - b in nanoseconds (saturates at the int64 range). */
int64_t timeutil_ts_diff_ns(struct timespec a, struct timespec b);

/* ts + ns, normalised. */
struct timespec timeutil_ts_add_ns(struct timespec ts, int64_t ns);

/* Read a clock; on failure (never expected) returns 0. */
double timeutil_now(clockid_t clk);

/* The same in nanoseconds (exact, for differences of large values). */
int64_t timeutil_now_ns(clockid_t clk);

/* Format as RFC 3339 UTC with the given number of fraction digits (0-9),
 * e.g. "2026-11-21T20:00:10.250Z". Returns buf, or NULL if it does not fit. */
char *timeutil_format_rfc3339(struct timespec ts, int digits, char *buf, size_t len);

/* A duration in seconds for humans, in the largest unit up to seconds that
 * keeps 1-3 integer digits: "+12.300us", "-1.500ms", "812ns", "1020.001s"
 * (sign only when sign is set or negative). Returns buf. */
char *timeutil_format_duration(double s, int sign, char *buf, size_t len);

#endif
