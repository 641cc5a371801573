/* fleetclock_gate.h - the start gate and frame clock of a program started
 * by `fleetclock-agent --at T --arm [LEAD] -- CMD` (see docs/start.md).
 *
 * The agent starts CMD early with the start instant T in its environment:
 *   FLEETCLOCK_START_AT_NS   T in nanoseconds since the epoch (what this reads)
 *   FLEETCLOCK_START_AT      T in RFC 3339 (for people and for shell scripts:
 *                            fleetclock-agent --wait-until "$FLEETCLOCK_START_AT")
 *   FLEETCLOCK_READY_FD      a pipe to the agent: "ready NS" when CMD is set
 *                            up, "go NS STEPS" when it was released
 * CMD does its slow set-up first (imports, hardware), then calls
 * fleetclock_wait_start(), which tells the agent it is ready and returns at
 * T: an absolute CLOCK_REALTIME deadline on a cancel-on-set timerfd (a clock
 * step re-arms it), then a short absolute clock_nanosleep. Every frame after
 * T should then be an absolute instant T + k * period (fleetclock_frames_*),
 * never "sleep a period": the fleet stays in frame however long each node
 * took to start.
 *
 * Link with -lfleetclock-gate. All functions return 0 or -errno; none
 * prints anything but the step warnings of the wait (on stderr). */
#ifndef FLEETCLOCK_GATE_H
#define FLEETCLOCK_GATE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* struct timespec is in this API: on a 32-bit glibc platform the library is built with
 * a 64-bit time_t (Y2038), and so must be its callers (pkg-config --cflags adds it). */
#if defined(__GLIBC__) && defined(__TIMESIZE) && __TIMESIZE == 32 && !defined(__USE_TIME_BITS64)
#error "fleetclock_gate.h needs a 64-bit time_t: build with -D_TIME_BITS=64 -D_FILE_OFFSET_BITS=64 (pkg-config --cflags fleetclock-gate)"
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define FLEETCLOCK_START_AT_NS_ENV "FLEETCLOCK_START_AT_NS"
#define FLEETCLOCK_START_AT_ENV "FLEETCLOCK_START_AT"
#define FLEETCLOCK_READY_FD_ENV "FLEETCLOCK_READY_FD"

struct fleetclock_start {
	struct timespec at;		/* the start instant T */
	struct timespec released;	/* CLOCK_REALTIME when the wait returned */
	int64_t late_ns;		/* released - at (>= 0; large: CMD was ready late) */
	unsigned steps;			/* clock steps seen during the wait */
};

/* T from FLEETCLOCK_START_AT_NS. -ENOENT when it is not set (CMD was not
 * started by --at T --arm), -EINVAL when it is not a number of ns. */
int fleetclock_start_at(struct timespec *at);

/* Parse "1795291210250000000" (decimal ns since the epoch, nothing else).
 * 0 or -EINVAL. Pure. */
int fleetclock_parse_ns(const char *text, struct timespec *out);

/* Tell the agent "ready" now (once; later calls do nothing). -ENOENT when
 * there is no agent (FLEETCLOCK_READY_FD unset), -errno of the write. */
int fleetclock_ready(void);

/* Ready, then wait until T from the environment and tell the agent "go".
 * out may be NULL. -ENOENT / -EINVAL as fleetclock_start_at; -errno when
 * the clock or the timer fails. When T is already past it returns at once
 * (out->late_ns says by how much). */
int fleetclock_wait_start(struct fleetclock_start *out);

/* The same wait for any instant (no environment, no agent). */
int fleetclock_wait_until(struct timespec at, struct fleetclock_start *out);

/* A clear sentence for a return value of the functions above. */
const char *fleetclock_gate_strerror(int rc);

/* A frame clock: frame k is at start + k * period_ns_num / period_den ns
 * (24 fps: 1000000000 / 24, exact). A frame that cannot be made any more
 * (now past its instant by more than late_ns) is skipped and counted, so a
 * late node falls back into step instead of drifting. */
struct fleetclock_frames {
	struct timespec start;
	int64_t period_num;		/* ns numerator, > 0 */
	int64_t period_den;		/* > 0 */
	int64_t late_ns;		/* default period / 2 */
	uint64_t next;			/* the next frame's index */
	uint64_t skipped;		/* frames skipped so far */
};

/* Set up a frame clock. -EINVAL for a period <= 0 or start <= 0. */
int fleetclock_frames_init(struct fleetclock_frames *f, struct timespec start,
			   int64_t period_num, int64_t period_den);

/* The instant of frame k. Pure. */
struct timespec fleetclock_frame_time(const struct fleetclock_frames *f, uint64_t k);

/* Which frame to wait for when the clock reads now: f->next, or the first
 * frame still at most late_ns past (counted in f->skipped). Sets *k and
 * advances f->next past it. Pure (no clock read). */
void fleetclock_frames_pick(struct fleetclock_frames *f, struct timespec now, uint64_t *k);

/* Wait for the next frame (absolute CLOCK_REALTIME sleep; a step forward
 * skips, a step back waits longer); *k is its index, *at its instant.
 * 0 or -errno of clock_nanosleep. */
int fleetclock_frames_wait(struct fleetclock_frames *f, uint64_t *k, struct timespec *at);

#ifdef __cplusplus
}
#endif

#endif
