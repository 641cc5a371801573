/* bmca.c - dataset comparison and clock-class derivation, see bmca.h */
#include "election/bmca.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Upper bounds of PTP accuracy codes 0x20..0x30 (0x31 is "> 10 s"). */
static const double accuracy_bounds[] = {
	25e-9, 100e-9, 250e-9, 1e-6, 2.5e-6, 10e-6, 25e-6, 100e-6, 250e-6,
	1e-3, 2.5e-3, 10e-3, 25e-3, 100e-3, 250e-3, 1.0, 10.0,
};
#define ACCURACY_FIRST 0x20
#define N_BOUNDS (sizeof(accuracy_bounds) / sizeof(accuracy_bounds[0]))

static int cmp_u(unsigned a, unsigned b)
{
	return a < b ? -1 : a > b ? 1 : 0;
}

int bmca_compare(const struct bmca_dataset *a, const struct bmca_dataset *b)
{
	int r;

	if ((r = cmp_u(a->priority1, b->priority1)))
		return r;
	if ((r = cmp_u(a->clock_class, b->clock_class)))
		return r;
	if ((r = cmp_u(a->accuracy, b->accuracy)))
		return r;
	if ((r = cmp_u(a->variance, b->variance)))
		return r;
	if ((r = cmp_u(a->priority2, b->priority2)))
		return r;
	if ((r = cmp_u(a->steps_removed, b->steps_removed)))
		return r;
	r = memcmp(a->identity, b->identity, BMCA_IDENTITY_LEN);
	return r < 0 ? -1 : r > 0 ? 1 : 0;
}

uint8_t bmca_accuracy_from_error(double error_s)
{
	if (!(error_s >= 0))	/* negative or NaN */
		return BMCA_ACCURACY_UNKNOWN;
	for (size_t i = 0; i < N_BOUNDS; i++)
		if (error_s <= accuracy_bounds[i])
			return (uint8_t)(ACCURACY_FIRST + i);
	return (uint8_t)(ACCURACY_FIRST + N_BOUNDS);
}

double bmca_accuracy_bound(uint8_t code)
{
	if (code >= ACCURACY_FIRST && code < ACCURACY_FIRST + N_BOUNDS)
		return accuracy_bounds[code - ACCURACY_FIRST];
	return INFINITY;
}

uint16_t bmca_variance_from_sigma(double sigma_s)
{
	double v;

	if (!(sigma_s >= 0))
		return BMCA_VARIANCE_UNKNOWN;
	if (sigma_s == 0)
		return 0;
	v = 256.0 * log2(sigma_s * sigma_s) + 0x8000;
	if (v < 0)
		return 0;
	if (v > 0xFFFE)
		return 0xFFFE;
	return (uint16_t)lround(v);
}

double bmca_sigma_from_chrony(double rms_offset_s, double skew_ppm, double tau_s)
{
	double w = skew_ppm * 1e-6 * tau_s;

	return sqrt(rms_offset_s * rms_offset_s + w * w);
}

static uint8_t clamp_carried(uint8_t c)
{
	if (c < BMCA_CLASS_LOCKED)
		return BMCA_CLASS_LOCKED;
	if (c > BMCA_CLASS_FREERUN)
		return BMCA_CLASS_FREERUN;
	return c;
}

enum bmca_class bmca_derive_class(const struct bmca_evidence *ev, double *error_bound_s)
{
	double wander = fabs(ev->holdover_wander_ppm) * 1e-6;
	double bound = INFINITY;
	enum bmca_class c;

	if (!(ev->now_realtime >= (double)ev->build_epoch)) {
		c = BMCA_CLASS_INVALID;
	} else if (ev->synchronised && !ev->synced_to_candidate) {
		c = BMCA_CLASS_LOCKED;
		bound = ev->error_bound_s;
	} else if (ev->synchronised) {
		c = clamp_carried(ev->carried_class);
		bound = ev->error_bound_s;
	} else if (ev->synced_since_boot && ev->last_sync_ago <= ev->holdover_s) {
		uint8_t carried = ev->last_sync_upstream ? BMCA_CLASS_LOCKED
							 : clamp_carried(ev->carried_class);
		c = carried <= BMCA_CLASS_HOLDOVER ? BMCA_CLASS_HOLDOVER : carried;
		bound = ev->error_bound_s + wander * ev->last_sync_ago;
	} else if (ev->synced_since_boot) {
		c = BMCA_CLASS_FREERUN;
		bound = ev->error_bound_s + wander * ev->last_sync_ago;
	} else if (ev->restored_from_rtc && ev->rtc == BMCA_RTC_VALID) {
		c = BMCA_CLASS_RTC;
		/* 1 ms: an edge-synchronised RTC read and write. */
		bound = 1e-3 + fabs(ev->rtc_drift_uncert_ppm) * 1e-6 * ev->rtc_since_set;
	} else {
		c = BMCA_CLASS_INVALID;
	}
	if (error_bound_s)
		*error_bound_s = bound;
	return c;
}

const char *bmca_class_name(uint8_t clock_class)
{
	static __thread char other[16];

	switch (clock_class) {
	case BMCA_CLASS_LOCKED: return "locked";
	case BMCA_CLASS_HOLDOVER: return "holdover";
	case BMCA_CLASS_RTC: return "rtc";
	case BMCA_CLASS_FREERUN: return "free-running";
	case BMCA_CLASS_INVALID: return "invalid";
	default:
		snprintf(other, sizeof(other), "class-%u", clock_class);
		return other;
	}
}

bool bmca_class_may_serve(uint8_t clock_class)
{
	return clock_class < BMCA_CLASS_INVALID;
}
