/* rtc_sync.c - edge-synchronised read and set at the boundary, see rtc_sync.h */
#include "rtc/rtc_sync.h"

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdbool.h>
#include <string.h>
#include <sys/prctl.h>

#include "time/timeutil.h"

/* One reading of the seconds with the clocks around it. */
struct poll {
	int sec;
	double rt0, rt1;	/* CLOCK_REALTIME before and after */
	double mono0, mono1;
};

static int poll_seconds(struct rtc_dev *d, struct poll *p, int64_t *full, bool *mode_12h)
{
	struct ds1307_time t;
	int rc;

	p->mono0 = timeutil_now(CLOCK_MONOTONIC);
	p->rt0 = timeutil_now(CLOCK_REALTIME);
	if (d->ops->read_seconds) {
		rc = d->ops->read_seconds(d, &p->sec);
	} else {
		rc = d->ops->read(d, &t);
		p->sec = (int)(t.epoch % 60);
		if (full)
			*full = t.epoch;
		if (mode_12h)
			*mode_12h = t.mode_12h;
	}
	p->rt1 = timeutil_now(CLOCK_REALTIME);
	p->mono1 = timeutil_now(CLOCK_MONOTONIC);
	return rc;
}

static double latch(const struct rtc_dev *d, double a, double b)
{
	double f = d->ops->read_seconds ? d->ops->seconds_latch : d->ops->read_latch;

	return a + f * (b - a);
}

/* One edge; see rtc_sync_read_edge. */
static int one_edge(struct rtc_dev *d, int timeout_ms, struct rtc_edge *out)
{
	struct ds1307_time t;
	struct poll prev, cur;
	int64_t full = 0;
	double deadline, rt_edge, mono_edge;
	int rc;

	memset(out, 0, sizeof(*out));
	/* A full read first: a halted or garbage clock fails here, clearly. */
	if ((rc = rtc_read(d, &t)) < 0)
		return rc;
	out->mode_12h = t.mode_12h;
	if ((rc = poll_seconds(d, &prev, &full, &out->mode_12h)) < 0)
		return rc;
	deadline = prev.mono0 + timeout_ms / 1000.0;
	for (out->polls = 1;; out->polls++) {
		if ((rc = poll_seconds(d, &cur, &full, &out->mode_12h)) < 0)
			return rc;
		if (cur.sec != prev.sec)
			break;
		if (cur.mono1 > deadline)
			return rtc_fail(d, -ETIMEDOUT, "the seconds did not change within %d ms: the "
					"oscillator is not running", timeout_ms);
		prev = cur;
	}
	if (cur.sec != (prev.sec + 1) % 60)
		return rtc_fail(d, -EIO, "the seconds jumped from %d to %d between two reads",
				prev.sec, cur.sec);
	rt_edge = (latch(d, prev.rt0, prev.rt1) + latch(d, cur.rt0, cur.rt1)) / 2;
	mono_edge = (latch(d, prev.mono0, prev.mono1) + latch(d, cur.mono0, cur.mono1)) / 2;
	out->uncertainty = (latch(d, cur.rt0, cur.rt1) - latch(d, prev.rt0, prev.rt1)) / 2;
	if (d->ops->read_seconds) {
		/* Within a millisecond of the edge: the same second, whole date. */
		if ((rc = rtc_read(d, &t)) < 0)
			return rc;
		if (t.epoch % 60 != cur.sec)
			return rtc_fail(d, -EIO, "seconds %d after the edge, then %d in the full read",
					cur.sec, (int)(t.epoch % 60));
		full = t.epoch;
		out->mode_12h = t.mode_12h;
	}
	out->rtc = full;
	out->sys = timeutil_double_to_ts(rt_edge);
	out->mono = mono_edge;
	/* Whole seconds apart and then the fraction: keeps the precision. */
	out->offset = (double)(full - out->sys.tv_sec) - out->sys.tv_nsec / 1e9;
	return 0;
}

int rtc_sync_read_edge(struct rtc_dev *d, int timeout_ms, struct rtc_edge *out)
{
	struct rtc_edge e;
	int rc;

	/* Descheduled between the two reads that bracket the edge, the edge is
	 * only known to a few ms: then take the next one (at most 3 edges). */
	for (int i = 0; i < RTC_SYNC_EDGE_TRIES; i++) {
		if ((rc = one_edge(d, timeout_ms, &e)) < 0)
			return rc;
		if (i == 0 || e.uncertainty < out->uncertainty)
			*out = e;
		if (out->uncertainty <= RTC_SYNC_GOOD_EDGE)
			break;
	}
	return 0;
}

int rtc_sync_read_naive(struct rtc_dev *d, struct rtc_edge *out)
{
	struct ds1307_time t;
	struct timespec now;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = rtc_read(d, &t)) < 0)
		return rc;
	clock_gettime(CLOCK_REALTIME, &now);
	out->rtc = t.epoch;
	out->sys = now;
	out->mono = timeutil_now(CLOCK_MONOTONIC);
	out->offset = (double)(t.epoch - now.tv_sec) - now.tv_nsec / 1e9;
	out->uncertainty = 1.0;
	out->polls = 1;
	out->mode_12h = t.mode_12h;
	return 0;
}

/* Sleep until CLOCK_REALTIME reaches at - RTC_SYNC_SPIN, then spin to at.
 * The sleep is relative on CLOCK_MONOTONIC with 1 ns timer slack and the
 * spin is bounded on the monotonic clock to a few ms, so a step of the
 * system clock meanwhile cannot make this wait long. */
static double wait_until(double at)
{
	double now = timeutil_now(CLOCK_REALTIME), limit;
	struct timespec ts;

	prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
	if (at - now > RTC_SYNC_SPIN && at - now < 2.0) {
		ts = timeutil_double_to_ts(at - now - RTC_SYNC_SPIN);
		while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
			;
	}
	limit = timeutil_now(CLOCK_MONOTONIC) + RTC_SYNC_SPIN + 0.005;
	while ((now = timeutil_now(CLOCK_REALTIME)) < at && timeutil_now(CLOCK_MONOTONIC) < limit)
		;
	return now;
}

/* Real-time priority for the spin and the write when allowed (root or
 * CAP_SYS_NICE): on a busy machine a normal task is often preempted in
 * the last fraction of a millisecond. Returns whether it changed. */
static bool rt_enter(int *old_policy, struct sched_param *old_param)
{
	struct sched_param p = { .sched_priority = 10 };

	*old_policy = sched_getscheduler(0);
	if (*old_policy < 0 || sched_getparam(0, old_param) < 0)
		return false;
	return sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &p) == 0;
}

static void rt_leave(bool entered, int old_policy, const struct sched_param *old_param)
{
	if (entered)
		sched_setscheduler(0, old_policy, old_param);
}

int rtc_sync_set_at_boundary(struct rtc_dev *d, struct rtc_set_report *out)
{
	double start, end;
	int rc;

	memset(out, 0, sizeof(*out));
	for (out->attempts = 1; out->attempts <= RTC_SYNC_SET_TRIES; out->attempts++) {
		struct sched_param old_param;
		int old_policy;
		bool rt;

		out->target = (int64_t)floor(timeutil_now(CLOCK_REALTIME) + 0.1) + 1;
		rt = rt_enter(&old_policy, &old_param);
		start = wait_until((double)out->target - d->ops->set_lead);
		if (start - ((double)out->target - d->ops->set_lead) > RTC_SYNC_SET_LATE) {
			rt_leave(rt, old_policy, &old_param);
			continue;	/* descheduled: try the next second */
		}
		rc = rtc_set(d, out->target);
		end = timeutil_now(CLOCK_REALTIME);
		rt_leave(rt, old_policy, &old_param);
		if (rc < 0)
			return rc;
		out->call_s = end - start;
		out->alignment = start + d->ops->set_latch * (end - start) - (double)out->target;
		return 0;
	}
	out->attempts = RTC_SYNC_SET_TRIES;
	return rtc_fail(d, -ETIMEDOUT, "setting at the second boundary: late by more than %.1f ms "
			"%d times (system too busy)", RTC_SYNC_SET_LATE * 1e3, RTC_SYNC_SET_TRIES);
}

int rtc_sync_set_naive(struct rtc_dev *d, struct rtc_set_report *out)
{
	double start = timeutil_now(CLOCK_REALTIME), end;
	int rc;

	memset(out, 0, sizeof(*out));
	out->target = (int64_t)floor(start);
	out->attempts = 1;
	rc = rtc_set(d, out->target);
	end = timeutil_now(CLOCK_REALTIME);
	if (rc < 0)
		return rc;
	out->call_s = end - start;
	out->alignment = start + d->ops->set_latch * (end - start) - (double)out->target;
	return 0;
}
