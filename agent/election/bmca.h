/* bmca.h - master-candidate datasets, their comparison in the order of
 * PTP's Best Master Clock Algorithm, and the clock class derived from
 * evidence (chronyd's tracking, the RTC, the time since boot). Pure: no I/O,
 * no clock reads; every input is passed in. See docs/election.md. */
#ifndef FLEETCLOCK_BMCA_H
#define FLEETCLOCK_BMCA_H

#include <stdbool.h>
#include <stdint.h>

#define BMCA_IDENTITY_LEN 8

/* Clock classes: lower is better, as in PTP; the values follow the PTP
 * meaning (6 locked to a primary reference, 7 holdover, 52 degraded,
 * 248 default/free-running, 255 slave-only) so tools reading them are not
 * surprised. */
enum bmca_class {
	BMCA_CLASS_LOCKED = 6,		/* synchronised to an upstream reference */
	BMCA_CLASS_HOLDOVER = 7,	/* was locked within the holdover window, clock continuous */
	BMCA_CLASS_RTC = 52,		/* restored from a valid RTC with known drift */
	BMCA_CLASS_FREERUN = 248,	/* running on its own oscillator, time believed valid */
	BMCA_CLASS_INVALID = 255,	/* time not known to be valid: never serves */
};

/* Accuracy codes of PTP (clockAccuracy): 0x20 is within 25 ns, each step
 * alternates x4 / x2.5 up to 0x2F (1 s), 0x30 (10 s), 0x31 (> 10 s);
 * 0xFE unknown. */
#define BMCA_ACCURACY_UNKNOWN 0xFE
/* Variance (PTP offsetScaledLogVariance): 256 * log2(variance in s^2)
 * + 0x8000, clamped to 0..0xFFFE; 0xFFFF unknown. */
#define BMCA_VARIANCE_UNKNOWN 0xFFFF

/* What a candidate announces about itself. */
struct bmca_dataset {
	uint8_t priority1;		/* configured; lower wins */
	uint8_t clock_class;		/* enum bmca_class */
	uint8_t accuracy;		/* PTP accuracy code */
	uint16_t variance;		/* PTP scaled log variance */
	uint8_t priority2;		/* configured; lower wins */
	uint8_t identity[BMCA_IDENTITY_LEN];	/* unique per candidate; lower wins ties */
	uint16_t steps_removed;		/* hops to the reference this clock carries */
};

/* Compare two datasets in BMCA order: priority1, clock class, accuracy,
 * variance, priority2, steps removed, identity. Returns < 0 when a is
 * better, > 0 when b is better, 0 when identical. */
int bmca_compare(const struct bmca_dataset *a, const struct bmca_dataset *b);

/* The PTP accuracy code for a bound on the error in seconds (negative or
 * NaN: unknown). */
uint8_t bmca_accuracy_from_error(double error_s);

/* The upper bound in seconds an accuracy code stands for (unknown: +inf). */
double bmca_accuracy_bound(uint8_t code);

/* The PTP scaled log variance for a standard deviation in seconds
 * (negative or NaN: unknown; zero: the best value). */
uint16_t bmca_variance_from_sigma(double sigma_s);

/* A standard deviation (s) from chronyd's rms offset (s) and skew (ppm)
 * over tau seconds: sqrt(rms^2 + (skew * 1e-6 * tau)^2). */
double bmca_sigma_from_chrony(double rms_offset_s, double skew_ppm, double tau_s);

enum bmca_rtc_state {
	BMCA_RTC_ABSENT = 0,		/* no RTC, or it could not be read */
	BMCA_RTC_HALTED,		/* oscillator stopped (CH set) or never set */
	BMCA_RTC_VALID,			/* running, set from a synchronised clock */
};

/* Evidence the class is derived from. Times are seconds; "ago" values are
 * measured on a clock that runs across steps (CLOCK_BOOTTIME) so that they
 * stay true when the system clock is stepped. */
struct bmca_evidence {
	double now_realtime;		/* the system clock now (s since the epoch) */
	int64_t build_epoch;		/* FLEETCLOCK_BUILD_EPOCH */
	bool synchronised;		/* chronyd synchronised now (not LOCAL, not unsync) */
	bool synced_to_candidate;	/* ... and its reference is a fleet candidate */
	uint8_t carried_class;		/* class of the candidate followed / last followed */
	bool synced_since_boot;		/* synchronised (or rejoined by a step) in this boot */
	double last_sync_ago;		/* since the last synchronisation in this boot */
	bool last_sync_upstream;	/* that synchronisation was to an upstream reference */
	double holdover_s;		/* the holdover window (config) */
	enum bmca_rtc_state rtc;
	bool restored_from_rtc;		/* the clock was set from the RTC at boot */
	double rtc_since_set;		/* time since the RTC was last set from a synchronised clock */
	double rtc_drift_uncert_ppm;	/* uncertainty of the RTC's drift estimate */
	double error_bound_s;		/* chronyd's estimated maximum error (tracking) */
	double holdover_wander_ppm;	/* frequency wander assumed while coasting */
};

/* The class, and an error bound (s) that goes into the accuracy: chrony's
 * bound when synchronised, grown by wander x time in holdover, the RTC's
 * drift uncertainty x time since it was set when restored from it. The
 * rules, first match wins:
 *   date before the build date -> INVALID;
 *   synchronised to an upstream -> LOCKED;
 *   synchronised to a candidate -> the class it carries (at worst FREERUN);
 *   synced in this boot within the holdover window -> HOLDOVER if that was
 *     an upstream, else the carried class;
 *   synced in this boot before that -> FREERUN;
 *   restored from a VALID RTC -> RTC;
 *   otherwise (RTC halted or absent, never synced since boot) -> INVALID. */
enum bmca_class bmca_derive_class(const struct bmca_evidence *ev, double *error_bound_s);

/* "locked", "holdover", "rtc", "free-running", "invalid", or "class-N". */
const char *bmca_class_name(uint8_t clock_class);

/* A candidate of this class may serve time to the fleet. */
bool bmca_class_may_serve(uint8_t clock_class);

#endif
