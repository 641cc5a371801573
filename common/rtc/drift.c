/* drift.c - robust drift regression, see drift.h */
#include "rtc/drift.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>

struct fit {
	double slope;
	double sxx;
	double rss;
	size_t used;
	size_t segments;
	double tmin, tmax;
};

/* Mean time and offset of segment seg, skipping sample skip; returns the count. */
static size_t segment_mean(const struct drift_sample *s, size_t n, uint32_t seg, long skip,
			   double t0, double *mt, double *my)
{
	size_t k = 0;

	*mt = *my = 0;
	for (size_t i = 0; i < n; i++) {
		if ((long)i == skip || s[i].segment != seg)
			continue;
		*mt += s[i].t - t0;
		*my += s[i].offset;
		k++;
	}
	if (k) {
		*mt /= (double)k;
		*my /= (double)k;
	}
	return k;
}

static bool first_of_segment(const struct drift_sample *s, size_t i, long skip)
{
	for (size_t j = 0; j < i; j++)
		if ((long)j != skip && s[j].segment == s[i].segment)
			return false;
	return true;
}

/* Pooled within-segment least squares, leaving out sample skip (-1: none). */
static int fit(const struct drift_sample *s, size_t n, long skip, struct fit *f)
{
	double t0 = s[0].t, sxy = 0, mt, my;

	*f = (struct fit){ .tmin = INFINITY, .tmax = -INFINITY };
	for (size_t i = 0; i < n; i++) {
		if ((long)i == skip)
			continue;
		f->used++;
		if (s[i].t < f->tmin)
			f->tmin = s[i].t;
		if (s[i].t > f->tmax)
			f->tmax = s[i].t;
		if (first_of_segment(s, i, skip))
			f->segments++;
		segment_mean(s, n, s[i].segment, skip, t0, &mt, &my);
		f->sxx += (s[i].t - t0 - mt) * (s[i].t - t0 - mt);
		sxy += (s[i].t - t0 - mt) * (s[i].offset - my);
	}
	if (!(f->sxx > 0))
		return -EINVAL;
	f->slope = sxy / f->sxx;
	for (size_t i = 0; i < n; i++) {
		double r;

		if ((long)i == skip)
			continue;
		segment_mean(s, n, s[i].segment, skip, t0, &mt, &my);
		r = s[i].offset - my - f->slope * (s[i].t - t0 - mt);
		f->rss += r * r;
	}
	return 0;
}

static double noise_of(const struct fit *f)
{
	size_t dof = f->used > f->segments + 1 ? f->used - f->segments - 1 : 0;
	double sigma = dof ? sqrt(f->rss / (double)dof) : 0;

	return sigma > DRIFT_MIN_NOISE ? sigma : DRIFT_MIN_NOISE;
}

/* The sample whose removal leaves the smallest residuals, if it stands out. */
static long find_outlier(const struct drift_sample *s, size_t n)
{
	long best = -1;
	double best_rss = INFINITY, mt, my;
	struct fit f;

	for (size_t i = 0; i < n; i++) {
		if (fit(s, n, (long)i, &f) < 0 || f.used < f.segments + 2)
			continue;
		/* Alone in its segment: nothing to compare it with. */
		if (!segment_mean(s, n, s[i].segment, (long)i, s[0].t, &mt, &my))
			continue;
		if (f.rss < best_rss) {
			best_rss = f.rss;
			best = (long)i;
		}
	}
	if (best < 0)
		return -1;
	fit(s, n, best, &f);
	segment_mean(s, n, s[best].segment, best, s[0].t, &mt, &my);
	double r = s[best].offset - my - f.slope * (s[best].t - s[0].t - mt);
	return fabs(r) > DRIFT_OUTLIER_SIGMAS * noise_of(&f) ? best : -1;
}

int drift_estimate(const struct drift_sample *s, size_t n, struct drift_result *out)
{
	struct fit f;
	long outlier = -1;

	*out = (struct drift_result){ .outlier = -1 };
	if (n < 2 || n > DRIFT_MAX_SAMPLES)
		return -EINVAL;
	if (fit(s, n, -1, &f) < 0)
		return -EINVAL;
	if (n >= 4)
		outlier = find_outlier(s, n);
	if (outlier >= 0 && fit(s, n, outlier, &f) < 0)
		return -EINVAL;
	out->noise = noise_of(&f);
	out->ppm = f.slope * 1e6;
	out->unc_ppm = out->noise / sqrt(f.sxx) * 1e6;
	out->used = f.used;
	out->outlier = (int)outlier;
	out->span = f.tmax - f.tmin;
	return 0;
}
