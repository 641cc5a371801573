/* drift.h - pure estimator of an RTC's rate error from edge-synchronised
 * offsets (RTC minus system) taken over time.
 *
 * Least-squares regression of offset against time with one common slope and
 * one intercept per segment (a segment ends when the RTC is rewritten, which
 * steps the offset but not the rate). Robust to one outlier: the sample whose
 * removal shrinks the residuals most is dropped when its residual exceeds
 * DRIFT_OUTLIER_SIGMAS times the noise of the others. No I/O. */
#ifndef FLEETCLOCK_DRIFT_H
#define FLEETCLOCK_DRIFT_H

#include <stddef.h>
#include <stdint.h>

#define DRIFT_MAX_SAMPLES 64
#define DRIFT_OUTLIER_SIGMAS 5.0
/* Below this the noise of an edge measurement is not believed (s): an edge
 * is located within about +-0.25 ms (the seconds are polled every ~0.45 ms)
 * and a busy system adds some; a missed edge is off by far more. */
#define DRIFT_MIN_NOISE 300e-6

struct drift_sample {
	double t;		/* system time of the measurement (s) */
	double offset;		/* RTC minus system (s) */
	uint32_t segment;	/* samples between two RTC writes share a segment */
};

struct drift_result {
	double ppm;		/* > 0: the RTC gains time */
	double unc_ppm;		/* 1-sigma uncertainty of ppm */
	double noise;		/* residual standard deviation (s), at least DRIFT_MIN_NOISE */
	size_t used;		/* samples used */
	int outlier;		/* index of the dropped sample, -1 if none */
	double span;		/* seconds between the first and last sample used */
};

/* Estimate the drift from n samples. Returns 0; -EINVAL when fewer than two
 * samples share a segment, or the times within segments do not differ (no
 * rate can be seen). */
int drift_estimate(const struct drift_sample *s, size_t n, struct drift_result *out);

#endif
