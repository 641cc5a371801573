/* precise_wait.c - wait for an absolute CLOCK_REALTIME instant, see
 * precise_wait.h */
#include "time/precise_wait.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "base/log.h"
#include "time/timeutil.h"

int precise_wait_set_slack(void)
{
	if (prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL) < 0)
		return -errno;
	return 0;
}

static struct timespec now_rt(void)
{
	struct timespec ts = { 0, 0 };

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts;
}

/* CLOCK_REALTIME - CLOCK_MONOTONIC in ns: changes only when the clock is
 * set (and by slewing, far too slowly to matter between two reads). */
static int64_t realtime_offset_ns(void)
{
	struct timespec m, r;

	clock_gettime(CLOCK_MONOTONIC, &m);
	clock_gettime(CLOCK_REALTIME, &r);
	return timeutil_ts_diff_ns(r, m);
}

static void note_step(int64_t step_ns, struct timespec target, struct precise_wait_stats *st)
{
	char buf[48];
	double step = step_ns * 1e-9;

	st->steps++;
	st->last_step_s = step;
	st->total_step_s += step;
	log_warn("the clock was stepped by %+.6f s during the wait; re-armed for %s (%.3f s away)",
		 step, timeutil_format_rfc3339(target, 6, buf, sizeof(buf)) ? buf : "?",
		 timeutil_ts_diff_ns(target, now_rt()) * 1e-9);
}

/* Block until the timerfd fires or watch_fd (when >= 0) is readable:
 * 1 for watch_fd, 0 to read the timerfd, -errno. */
static int block(int tfd, int watch_fd)
{
	struct pollfd p[2] = { { .fd = tfd, .events = POLLIN }, { .fd = watch_fd, .events = POLLIN } };

	if (watch_fd < 0)
		return 0;
	for (;;) {
		int n = poll(p, 2, -1);	/* bounded by the timer */

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_err("poll(timerfd, fd %d): %s", watch_fd, strerror(errno));
			return -errno;
		}
		if (p[1].revents)
			return 1;
		return 0;
	}
}

/* Stage 1: sleep on a cancel-on-set timerfd until wake_at, re-arming after
 * each clock step; 1 as soon as watch_fd (when >= 0) is readable. */
static int coarse_wait(struct timespec wake_at, struct timespec target, struct precise_wait_stats *st,
		       int watch_fd)
{
	struct itimerspec its = { .it_value = wake_at };
	int fd, rc = 0;

	fd = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		log_err("timerfd_create(CLOCK_REALTIME): %s", strerror(errno));
		return rc;
	}
	for (;;) {
		int64_t off0 = realtime_offset_ns();
		uint64_t expirations;
		ssize_t n;

		if (st->steps >= PRECISE_WAIT_MAX_STEPS) {
			log_err("gave up waiting: the clock was stepped %u times", st->steps);
			rc = -ELOOP;
			goto out;
		}
		if (timeutil_ts_diff_ns(wake_at, now_rt()) <= 0)
			goto out;
		if (timerfd_settime(fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, NULL) < 0) {
			rc = -errno;
			log_err("timerfd_settime(CLOCK_REALTIME, abstime, cancel-on-set): %s",
				strerror(errno));
			goto out;
		}
		rc = block(fd, watch_fd);
		if (rc != 0)
			goto out;
		n = read(fd, &expirations, sizeof(expirations));
		/* Fired before its time: only a clock set back (seen through
		 * an emulation that does not report ECANCELED) does that. */
		if (n == (ssize_t)sizeof(expirations) && timeutil_ts_diff_ns(wake_at, now_rt()) > 0)
			note_step(realtime_offset_ns() - off0, target, st);
		else if (n == (ssize_t)sizeof(expirations))
			goto out;
		else if (n < 0 && errno == ECANCELED)
			note_step(realtime_offset_ns() - off0, target, st);
		else if (n < 0 && errno != EINTR) {
			rc = -errno;
			log_err("read(timerfd): %s", strerror(errno));
			goto out;
		}
	}
out:
	close(fd);
	return rc;
}

/* Stage 2: absolute sleep; the kernel follows clock steps by itself. */
static int final_sleep(struct timespec until)
{
	int rc;

	do
		rc = clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &until, NULL);
	while (rc == EINTR);
	if (rc) {
		log_err("clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME): %s", strerror(rc));
		return -rc;
	}
	return 0;
}

/* Stages 2 and 3 after the coarse wait. */
static int final_approach(struct timespec target, const struct precise_wait_opts *opts)
{
	int rc = 0;

	if (opts->before_final)
		opts->before_final(opts->arg);
	if (opts->approach_ns > 0)
		rc = final_sleep(timeutil_ts_add_ns(target, -opts->spin_ns));
	if (rc == 0 && opts->spin_ns > 0) {
		/* Bounded on the monotonic clock: at most the stage length
		 * and one second more. */
		struct timespec deadline_mono, m;

		clock_gettime(CLOCK_MONOTONIC, &m);
		deadline_mono = timeutil_ts_add_ns(m, opts->spin_ns + NSEC_PER_SEC);
		do
			clock_gettime(CLOCK_MONOTONIC, &m);
		while (timeutil_ts_diff_ns(target, now_rt()) > 0 &&
		       timeutil_ts_diff_ns(deadline_mono, m) > 0);
	}
	return rc;
}

int precise_wait_until(struct timespec target, const struct precise_wait_opts *opts,
		       struct precise_wait_stats *st)
{
	return precise_wait_until_fd(target, opts, st, -1);
}

int precise_wait_until_fd(struct timespec target, const struct precise_wait_opts *opts,
			  struct precise_wait_stats *st, int watch_fd)
{
	static const struct precise_wait_opts defaults = PRECISE_WAIT_OPTS_DEFAULT;
	struct precise_wait_stats local;
	int rc;

	if (!opts)
		opts = &defaults;
	if (!st)
		st = &local;
	memset(st, 0, sizeof(*st));
	rc = precise_wait_set_slack();
	if (rc < 0)
		log_warn("prctl(PR_SET_TIMERSLACK, 1 ns): %s; wake-ups may be up to 50 us later",
			 strerror(-rc));
	for (;;) {
		int64_t early_ns;

		rc = coarse_wait(timeutil_ts_add_ns(target, -opts->approach_ns - opts->spin_ns), target, st,
				 watch_fd);
		if (rc == 1) {
			st->woke = now_rt();
			return 1;
		}
		if (rc == 0)
			rc = final_approach(target, opts);
		st->woke = now_rt();
		early_ns = timeutil_ts_diff_ns(target, st->woke);
		/* A real kernel never wakes an absolute REALTIME timer early,
		 * even across a step; a clock that went back in the final
		 * approach, or a time-faking preload, can. Wait again. */
		if (rc < 0 || early_ns <= 0)
			return rc;
		if (st->steps >= PRECISE_WAIT_MAX_STEPS)
			return -ELOOP;
		note_step(-early_ns, target, st);
	}
}
