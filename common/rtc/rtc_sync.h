/* rtc_sync.h - millisecond alignment with an RTC that only shows whole
 * seconds: read at the seconds edge, write at the system's second boundary.
 * Uses only the rtc.h interface; every wait is bounded on CLOCK_MONOTONIC. */
#ifndef FLEETCLOCK_RTC_SYNC_H
#define FLEETCLOCK_RTC_SYNC_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "rtc/rtc.h"

#define RTC_SYNC_EDGE_TIMEOUT_MS 1500
/* An edge bracketed within +-0.5 ms is good; else retry, up to 3 edges. */
#define RTC_SYNC_GOOD_EDGE 0.5e-3
#define RTC_SYNC_EDGE_TRIES 3
/* Set: spin for the last 0.3 ms; a start later than 0.5 ms is retried the
 * next second, at most 5 times. */
#define RTC_SYNC_SPIN 0.3e-3
#define RTC_SYNC_SET_LATE 0.5e-3
#define RTC_SYNC_SET_TRIES 5

struct rtc_edge {
	int64_t rtc;		/* RTC time at the edge: a whole second */
	struct timespec sys;	/* CLOCK_REALTIME at the edge (estimated) */
	double mono;		/* CLOCK_MONOTONIC at the edge (s) */
	double offset;		/* RTC minus system (s) */
	double uncertainty;	/* half the interval the edge lies in (s) */
	int polls;		/* reads until the seconds changed */
	bool mode_12h;		/* the chip's hours register is in 12-hour mode */
};

/* Poll the seconds until they change (at most timeout_ms), timestamp the
 * change between the two reads that bracket it, then read the whole time.
 * When the bracket is wider than +-RTC_SYNC_GOOD_EDGE (the thread was
 * descheduled), measure the next edge too, keeping the best of at most
 * RTC_SYNC_EDGE_TRIES.
 * Returns 0; -ETIMEDOUT when no edge came (oscillator stopped?); the
 * backend's errors otherwise (message in rtc_error). */
int rtc_sync_read_edge(struct rtc_dev *d, int timeout_ms, struct rtc_edge *out);

/* One plain read and the system time next to it: the whole-second
 * `hwclock -r`-style reading, kept as the benchmark's baseline. */
int rtc_sync_read_naive(struct rtc_dev *d, struct rtc_edge *out);

struct rtc_set_report {
	int64_t target;		/* the second written */
	double alignment;	/* estimated seconds-write time minus target (s) */
	double call_s;		/* duration of the write call (s) */
	int attempts;
};

/* Write second N at system time N.000 (the DS1307 restarts its divider on
 * the seconds write): wait for the boundary at least 100 ms ahead, spin for
 * the last RTC_SYNC_SPIN, retry the next second when late by more than
 * RTC_SYNC_SET_LATE (at most RTC_SYNC_SET_TRIES attempts). Returns 0,
 * -ETIMEDOUT after the attempts, or backend errors. */
int rtc_sync_set_at_boundary(struct rtc_dev *d, struct rtc_set_report *out);

/* Write the current whole second now, unaligned: the baseline of the
 * benchmark (what writing time(NULL) does). */
int rtc_sync_set_naive(struct rtc_dev *d, struct rtc_set_report *out);

#endif
