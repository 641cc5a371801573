/* vclock_state.h - the virtual clock of one simulated node: layout of the
 * state file that every process of the node maps MAP_SHARED, and the pure
 * clock arithmetic (vclock_core.c) shared by the LD_PRELOAD library, the
 * fleetclock-vclock CLI and the unit tests.
 *
 * Model. The node's virtual CLOCK_REALTIME is a piecewise-linear function
 * of the machine's real CLOCK_REALTIME ("true time"):
 *     virt(real) = anchor_virt + (real - anchor_real) * (1 + rate_m1)
 * Every change of rate or step re-anchors at the current instant, so the
 * virtual clock is continuous except at steps. The rate is what a kernel
 * would give a clock with an intrinsic oscillator error:
 *     1 + rate_m1 = (1 + drift_ppm/1e6) * (tick*HZ/1e6 + freq/65536e6)
 * with tick and freq as chronyd sets them through adjtimex().
 *
 * The node's CLOCK_MONOTONIC_RAW is its oscillator alone (no adjtimex):
 *     raw(real) = raw_anchor_virt + (real - raw_anchor_real) * (1 + drift_ppm/1e6)
 * re-anchored when the drift changes; it starts at the real time of
 * creation (only its differences mean anything, as on a real node).
 *
 * Concurrency. Writers (adjtimex in any process of the node, the CLI) take
 * `lock` (holding the writer's pid) and bump `seq` to odd before and to
 * even after the update; readers retry while seq is odd or changed. A step
 * also increments `step_gen` and wakes futex waiters on it.
 *
 * The layout is versioned; tests/sim/vclock.py mirrors it for the harness.
 */
#ifndef FLEETCLOCK_VCLOCK_STATE_H
#define FLEETCLOCK_VCLOCK_STATE_H

#include <stdint.h>
#include <sys/timex.h>

#define VCLOCK_STATE_MAGIC 0x4b4c4356u /* "VCLK" little endian */
#define VCLOCK_STATE_VERSION 2u
#define VCLOCK_ENV "FLEETCLOCK_VCLOCK_STATE"

/* The kernel's names for the adjtime() modes (glibc only has the combined
 * ADJ_OFFSET_SINGLESHOT / ADJ_OFFSET_SS_READ). */
#define VCLOCK_ADJ_ADJTIME 0x8000
#define VCLOCK_ADJ_OFFSET_READONLY 0x2000

#define VCLOCK_HZ 100                   /* USER_HZ: nominal tick 10000 us */
#define VCLOCK_TICK_NOMINAL 10000
#define VCLOCK_TICK_MIN 9000            /* 900000 / USER_HZ */
#define VCLOCK_TICK_MAX 11000           /* 1100000 / USER_HZ */
#define VCLOCK_MAXFREQ_SCALED (500LL << 16) /* +-500 ppm in 2^-16 ppm */
#define VCLOCK_PHASE_LIMIT_US 16000000LL  /* kernel NTP_PHASE_LIMIT */
#define VCLOCK_MAXERROR_GROWTH_US 500     /* per second, kernel MAXFREQ */

struct vclock_state {
	uint32_t magic;
	uint32_t version;
	uint32_t size;          /* sizeof(struct vclock_state) */
	uint32_t lock;          /* 0 or the pid of the writer */
	uint32_t seq;           /* seqlock counter, odd while writing */
	uint32_t step_gen;      /* +1 on every step; futex word */
	int64_t anchor_real_ns; /* real CLOCK_REALTIME of the anchor, ns */
	int64_t anchor_virt_ns; /* virtual time at the anchor, ns */
	double rate_m1;         /* virtual rate - 1 (derived) */
	double drift_ppm;       /* intrinsic oscillator error, + = fast */
	double wander_ppm;      /* random walk of drift, ppm/sqrt(s) (harness) */
	int64_t tick_us;        /* as set by ADJ_TICK */
	int64_t freq;           /* as set by ADJ_FREQUENCY, 2^-16 ppm, clamped */
	int64_t offset;         /* as set by ADJ_OFFSET (stored, no PLL) */
	int64_t constant;       /* ADJ_TIMECONST */
	int64_t maxerror_us;    /* ADJ_MAXERROR, grows 500 us/s from ... */
	int64_t maxerror_real_ns; /* ... this real instant */
	int64_t esterror_us;
	int32_t status;         /* STA_* */
	int32_t tai;
	uint64_t n_adjtimex;    /* adjtimex-family calls (all modes) */
	uint64_t n_adjust;      /* calls that changed freq/tick */
	uint64_t n_steps;       /* steps (SETOFFSET, settime, CLI) */
	int64_t created_real_ns;
	int64_t raw_anchor_real_ns; /* CLOCK_MONOTONIC_RAW: real instant of its anchor */
	int64_t raw_anchor_virt_ns; /* ... and its value there */
	uint64_t reserved[6];
};

/* A consistent copy of the mapping parameters. */
struct vclock_snap {
	int64_t anchor_real_ns;
	int64_t anchor_virt_ns;
	double rate_m1;
	uint32_t step_gen;
	int64_t raw_anchor_real_ns, raw_anchor_virt_ns;
	double drift_ppm;
};

/* Fill a fresh state: virtual = real + offset_ns at real_now_ns, nominal
 * tick/freq, the given intrinsic drift and wander, status STA_UNSYNC. */
void vclock_core_init(struct vclock_state *st, int64_t real_now_ns, int64_t offset_ns,
		      double drift_ppm, double wander_ppm);

/* 0 when st looks like a state of this version, else -EINVAL. */
int vclock_core_validate(const struct vclock_state *st);

/* rate - 1 from drift, tick and freq (see the model above). */
double vclock_core_rate_m1(double drift_ppm, int64_t tick_us, int64_t freq);

/* Virtual time at real instant real_ns. */
int64_t vclock_core_virt(const struct vclock_snap *s, int64_t real_ns);

/* The node's CLOCK_MONOTONIC_RAW at real instant real_ns. */
int64_t vclock_core_raw(const struct vclock_snap *s, int64_t real_ns);

/* Real instant at which the virtual clock reads virt_ns (current rate). */
int64_t vclock_core_real(const struct vclock_snap *s, int64_t virt_ns);

/* Take a consistent snapshot (bounded retries; never blocks). */
void vclock_core_snap(const struct vclock_state *st, struct vclock_snap *s);

/* Take the writer lock (bounded; a lock held too long is broken) and make
 * seq odd. */
void vclock_core_lock(struct vclock_state *st, uint32_t pid);

/* Make seq even and release the writer lock. */
void vclock_core_unlock(struct vclock_state *st);

/* Under the lock: move the anchor to real_now_ns (keeps time continuous). */
void vclock_core_reanchor(struct vclock_state *st, int64_t real_now_ns);

/* Under the lock: step the virtual clock by delta_ns, with the side effects
 * of the kernel's ntp_clear() (STA_UNSYNC, maxerror/esterror at the limit). */
void vclock_core_step(struct vclock_state *st, int64_t real_now_ns, int64_t delta_ns);

/* Under the lock: set the intrinsic drift (re-anchors). */
void vclock_core_set_drift(struct vclock_state *st, int64_t real_now_ns, double drift_ppm);

/* Under the lock: emulate adjtimex() on the virtual clock at real_now_ns.
 * Returns the kernel's result (TIME_OK, TIME_ERROR...) or -errno; fills the
 * read-back fields of tx like the kernel. */
int vclock_core_adjtimex(struct vclock_state *st, int64_t real_now_ns, struct timex *tx);

#endif
