/* holdover_freq.c - see holdover_freq.h. */
#include "election/holdover_freq.h"

#include <limits.h>
#include <math.h>

void holdover_freq_reset(struct holdover_freq *h)
{
	h->have_origin = false;
	h->have_last = false;
	h->follow_since = NAN;
	for (int i = 0; i < HOLDOVER_FREQ_BUCKETS; i++)
		h->b[i] = (struct holdover_freq_bucket){ .key = LLONG_MIN };
}

void holdover_freq_init(struct holdover_freq *h, double window_s, double settle_s,
			double min_span_s)
{
	h->window_s = window_s > 0 ? window_s : 1.0;
	h->settle_s = settle_s > 0 ? settle_s : 0.0;
	h->min_span_s = fmin(fmax(min_span_s, 0.0), h->window_s);
	h->bucket_s = h->window_s / (HOLDOVER_FREQ_BUCKETS - 1);
	h->resets = 0;
	holdover_freq_reset(h);
}

static double x_of(const struct holdover_freq *h, int64_t raw_ns)
{
	return (double)(raw_ns - h->raw0_ns) / 1e9;
}

/* a difference of integers first: realtime - raw is ~1.7e9 s */
static double y_of(const struct holdover_freq *h, int64_t raw_ns, int64_t realtime_ns,
		   double correction_s)
{
	return (double)((realtime_ns - raw_ns) - h->y0_ns) / 1e9 + correction_s;
}

void holdover_freq_observe(struct holdover_freq *h, bool following, bool fresh, int64_t raw_ns,
			   int64_t realtime_ns, double correction_s)
{
	struct holdover_freq_bucket *b;
	double x, y;
	long long key;

	if (!isfinite(correction_s))
		return;
	if (!h->have_origin) {
		h->have_origin = true;
		h->raw0_ns = raw_ns;
		h->y0_ns = realtime_ns - raw_ns;
	}
	x = x_of(h, raw_ns);
	y = y_of(h, raw_ns, realtime_ns, correction_s);
	if (h->have_last && fabs(y - h->last_y) > HOLDOVER_FREQ_JUMP_S + 1e-3 * fabs(x - h->last_x)) {
		h->resets++;
		holdover_freq_reset(h);
		holdover_freq_observe(h, following, fresh, raw_ns, realtime_ns, correction_s);
		return;
	}
	h->have_last = true;
	h->last_x = x;
	h->last_y = y;
	if (!following) {
		h->follow_since = NAN;
		return;
	}
	if (isnan(h->follow_since))
		h->follow_since = x;
	if (!fresh || x - h->follow_since < h->settle_s)
		return;
	key = (long long)floor(x / h->bucket_s);
	b = &h->b[(unsigned long long)(key % HOLDOVER_FREQ_BUCKETS + HOLDOVER_FREQ_BUCKETS) %
		  HOLDOVER_FREQ_BUCKETS];
	if (b->key != key)
		*b = (struct holdover_freq_bucket){ .key = key, .first = x };
	b->n++;
	b->sx += x;
	b->sy += y;
	b->sxx += x * x;
	b->sxy += x * y;
	b->syy += y * y;
	b->last = x;
}

/* The least-squares line y = icpt + slope * x over the window; false when
 * there is none (out->samples, span_s still filled). */
static bool fit(const struct holdover_freq *h, int64_t raw_now_ns,
		struct holdover_freq_estimate *out, double *slope_out, double *icpt_out)
{
	double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0, syy = 0, first = INFINITY, last = -INFINITY;
	double now, den, slope, icpt, ss;

	*out = (struct holdover_freq_estimate){ 0 };
	if (!h->have_origin)
		return false;
	now = x_of(h, raw_now_ns);
	for (int i = 0; i < HOLDOVER_FREQ_BUCKETS; i++) {
		const struct holdover_freq_bucket *b = &h->b[i];

		/* a bucket counts while its last sample is within the window */
		if (b->key == LLONG_MIN || b->n == 0 || b->last < now - h->window_s || b->first > now)
			continue;
		n += b->n;
		sx += b->sx;
		sy += b->sy;
		sxx += b->sxx;
		sxy += b->sxy;
		syy += b->syy;
		first = fmin(first, b->first);
		last = fmax(last, b->last);
	}
	out->samples = (unsigned)n;
	if (n < 1)
		return false;
	out->span_s = last - first;
	den = n * sxx - sx * sx;
	if (n < 3 || !(den > 0))
		return false;
	slope = (n * sxy - sx * sy) / den;
	icpt = (sy - slope * sx) / n;
	ss = syy - 2 * icpt * sy - 2 * slope * sxy + n * icpt * icpt + 2 * icpt * slope * sx +
	     slope * slope * sxx;
	out->ppm = -slope * 1e6;
	out->rms_s = sqrt(fmax(ss, 0.0) / n);
	*slope_out = slope;
	*icpt_out = icpt;
	return true;
}

bool holdover_freq_get(const struct holdover_freq *h, int64_t raw_now_ns,
		       struct holdover_freq_estimate *out)
{
	double slope, icpt;

	return fit(h, raw_now_ns, out, &slope, &icpt) && out->span_s >= h->min_span_s;
}

bool holdover_freq_phase(const struct holdover_freq *h, int64_t raw_ns, int64_t realtime_ns,
			 double correction_s, double *ahead_s)
{
	struct holdover_freq_estimate est;
	double slope, icpt, x, y, d;

	*ahead_s = 0.0;
	if (!isfinite(correction_s) || !fit(h, raw_ns, &est, &slope, &icpt) ||
	    est.span_s < h->min_span_s)
		return false;
	x = x_of(h, raw_ns);
	y = y_of(h, raw_ns, realtime_ns, correction_s);
	d = y - (icpt + slope * x);
	*ahead_s = d;
	if (fabs(d) < 1e-6 || fabs(d) > HOLDOVER_PHASE_RMS_LIMIT * est.rms_s + 100e-6 ||
	    fabs(d) > HOLDOVER_PHASE_MAX_S)
		return false;
	return true;
}

bool holdover_freq_delta(const struct holdover_freq *h, int64_t raw_now_ns, double current_ppm,
			 double *delta_ppm)
{
	struct holdover_freq_estimate est;
	double d;

	*delta_ppm = 0.0;
	if (!isfinite(current_ppm) || !holdover_freq_get(h, raw_now_ns, &est))
		return false;
	d = est.ppm - current_ppm;
	if (fabs(d) < HOLDOVER_FREQ_MIN_DELTA_PPM || fabs(d) > HOLDOVER_FREQ_MAX_DELTA_PPM)
		return false;
	*delta_ppm = d;
	return true;
}
