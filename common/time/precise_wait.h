/* precise_wait.h - wait until an absolute CLOCK_REALTIME instant, as close
 * to it as the kernel allows, and survive clock steps.
 *
 * Stages (timer slack set to 1 ns first, so the kernel does not batch the
 * wake-up with others):
 *   1. coarse: a timerfd on CLOCK_REALTIME armed with TFD_TIMER_ABSTIME |
 *      TFD_TIMER_CANCEL_ON_SET for target - approach. When the clock is set
 *      (settimeofday, clock_settime, adjtimex ADJ_SETOFFSET: a chronyd step)
 *      the read fails with ECANCELED; the step size is measured as the change
 *      of CLOCK_REALTIME - CLOCK_MONOTONIC, logged, and the timer re-armed on
 *      the new clock.
 *   2. final: clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME) to target - spin.
 *      An absolute REALTIME sleep is re-evaluated by the kernel when the
 *      clock is set, so a step in this short window is still handled
 *      correctly (only not logged).
 *   3. spin: poll clock_gettime until target (spin_ns, 0 to skip).
 * Waking before target (possible only when the clock went back in the final
 * stages, or under a time-faking preload) counts as a step and waits again.
 */
#ifndef FLEETCLOCK_PRECISE_WAIT_H
#define FLEETCLOCK_PRECISE_WAIT_H

#include <stdint.h>
#include <time.h>

#define PRECISE_WAIT_MAX_STEPS 1000	/* re-arms before giving up (-ELOOP) */

struct precise_wait_opts {
	int64_t approach_ns;	/* final clock_nanosleep stage length (>= 0); 0: none */
	int64_t spin_ns;	/* busy-poll stage length (>= 0); 0: none */
	void (*before_final)(void *arg);	/* called after the coarse stage; NULL: none */
	void *arg;
};

/* The measured default (see tests/bench/bench_at.py). */
#define PRECISE_WAIT_OPTS_DEFAULT { .approach_ns = 2000000, .spin_ns = 0 }

/* The busy-poll stage --rt adds. bench_at, 200 in-process waits on a 2-core
 * VM under load (4-7): at SCHED_FIFO it takes p99 from 0.096 ms to 0.000
 * (max 15 us); at normal priority a spinning task loses the CPU to woken
 * tasks and p99 goes from 13 ms to 266 ms, so it is for --rt only. */
#define PRECISE_WAIT_RT_SPIN_NS 1000000

struct precise_wait_stats {
	unsigned steps;			/* clock steps seen during the coarse stage */
	double last_step_s;		/* size of the last one (> 0: clock set forward) */
	double total_step_s;		/* their sum */
	struct timespec woke;		/* CLOCK_REALTIME when the wait returned */
};

/* Wait until CLOCK_REALTIME reaches target. Returns 0 (also when target is
 * already past: at once), or -errno when the timerfd or clock fails
 * (-ELOOP after PRECISE_WAIT_MAX_STEPS clock steps). opts may be NULL
 * (defaults), st may be NULL. Logs each step at warning level. */
int precise_wait_until(struct timespec target, const struct precise_wait_opts *opts,
		       struct precise_wait_stats *st);

/* The same, but returns 1 early (st->woke set) as soon as watch_fd is
 * readable during the coarse stage (the agent's --arm: CMD said "ready").
 * Call it again to go on waiting; st is reset by every call. */
int precise_wait_until_fd(struct timespec target, const struct precise_wait_opts *opts,
			  struct precise_wait_stats *st, int watch_fd);

/* Set this thread's timer slack to 1 ns. Returns 0 or -errno. */
int precise_wait_set_slack(void);

#endif
