/* holdover_freq.h - a holdover frequency for a node that starts serving
 * without a reference. chronyd then free-runs on its *last* frequency
 * estimate, a regression over its last few dozen samples (off by
 * several ppm on a jittery link). What the clock really needed while it
 * followed its source is the rate of all chronyd's corrections together
 * (frequency and offset slews) against the oscillator: the slope of
 *     y = CLOCK_REALTIME + chronyd's correction still to slew - CLOCK_MONOTONIC_RAW
 * against CLOCK_MONOTONIC_RAW over the minutes it followed (chronyd's
 * corrected time is continuous through slews and chronyd's own steps). In
 * chronyd's sign (tracking freq_ppm > 0: oscillator fast) that rate is
 * -slope. The same line gives the phase to hand over at (holdover_freq_phase).
 * Pure: the caller reads the clocks and chronyd.
 *
 * Samples go into HOLDOVER_FREQ_BUCKETS buckets of window/(buckets-1) s of
 * the raw clock (fixed memory; the window slides by one bucket). See
 * docs/election.md, "Holdover frequency". */
#ifndef FLEETCLOCK_HOLDOVER_FREQ_H
#define FLEETCLOCK_HOLDOVER_FREQ_H

#include <stdbool.h>
#include <stdint.h>

#define HOLDOVER_FREQ_BUCKETS 64
/* A frequency further than this from chronyd's is not applied (an
 * estimate that wrong says something else is broken). */
#define HOLDOVER_FREQ_MAX_DELTA_PPM 100.0
/* Deltas smaller than this are not worth a command. */
#define HOLDOVER_FREQ_MIN_DELTA_PPM 0.001
/* y moving by more than this (+ 1000 ppm of the interval) between two
 * samples is a step nobody told us about: the samples start again. */
#define HOLDOVER_FREQ_JUMP_S 0.01

struct holdover_freq_bucket {
	long long key;		/* floor(x / bucket_s); LLONG_MIN: empty */
	unsigned n;
	double sx, sy, sxx, sxy, syy;	/* x, y: s from the origin sample */
	double first, last;	/* x of its first and last sample */
};

struct holdover_freq {
	double window_s;	/* fit over the last window_s of the raw clock */
	double settle_s;	/* skip this long after following (re)starts */
	double min_span_s;	/* no estimate before the samples span this long */
	double bucket_s;
	bool have_origin;
	int64_t raw0_ns, y0_ns;	/* the origin: raw clock and realtime - raw of the first sample */
	double follow_since;	/* x; NAN: not following */
	bool have_last;
	double last_x, last_y;
	unsigned resets;	/* steps noticed (samples thrown away) */
	struct holdover_freq_bucket b[HOLDOVER_FREQ_BUCKETS];
};

struct holdover_freq_estimate {
	double ppm;		/* chronyd's sign: > 0, the oscillator is fast */
	double span_s;		/* last - first sample fitted */
	unsigned samples;
	double rms_s;		/* rms residual of y about the line */
};

/* window_s > 0, settle_s >= 0, 0 <= min_span_s <= window_s. */
void holdover_freq_init(struct holdover_freq *h, double window_s, double settle_s,
			double min_span_s);

/* Forget every sample (this clock was stepped). */
void holdover_freq_reset(struct holdover_freq *h);

/* One round. following: chronyd follows a source (synchronised, not its
 * local reference); fresh: chronyd updated its reference since the last
 * round (a chronyd coasting on a lost source is not following it any
 * more). raw_ns: CLOCK_MONOTONIC_RAW, realtime_ns: CLOCK_REALTIME read
 * next to it, correction_s: tracking's current correction (> 0: the
 * system clock is slow). Only fresh, following rounds settle_s after
 * following began are fitted. */
void holdover_freq_observe(struct holdover_freq *h, bool following, bool fresh, int64_t raw_ns,
			   int64_t realtime_ns, double correction_s);

/* The fit over the samples within window_s of raw_now_ns. False when they
 * span less than min_span_s or there are fewer than 3 (out still says what
 * there is). */
bool holdover_freq_get(const struct holdover_freq *h, int64_t raw_now_ns,
		       struct holdover_freq_estimate *out);

/* The DFREQ to send when chronyd's frequency is current_ppm: estimate -
 * current. False (delta 0) when there is no estimate, the difference is
 * below HOLDOVER_FREQ_MIN_DELTA_PPM or beyond HOLDOVER_FREQ_MAX_DELTA_PPM,
 * or current_ppm is not finite. */
bool holdover_freq_delta(const struct holdover_freq *h, int64_t raw_now_ns, double current_ppm,
			 double *delta_ppm);

/* The phase at takeover: how far this clock as chronyd corrects it
 * (realtime_ns + correction_s) is ahead of the fitted line at raw_ns, that
 * is of the source's time continued at the fitted rate (> 0: ahead; slew
 * it back with chronyd's DOFFSET of that much). The line averages the
 * link's jitter over the whole window, chronyd's estimate over its last
 * samples. False when there is no fit (*ahead_s 0), the difference is
 * under 1 us, or it is beyond HOLDOVER_PHASE_RMS_LIMIT x the fit's rms +
 * 100 us or HOLDOVER_PHASE_MAX_S (then something else moved the clock);
 * with a fit *ahead_s holds the difference even then. */
#define HOLDOVER_PHASE_RMS_LIMIT 4.0
#define HOLDOVER_PHASE_MAX_S 0.01
bool holdover_freq_phase(const struct holdover_freq *h, int64_t raw_ns, int64_t realtime_ns,
			 double correction_s, double *ahead_s);

#endif
