/* rtc_discipline.h - keeping the RTC honest: one step of the daemon loop
 * (measure at the edge, rewrite at the boundary when the offset exceeds the
 * threshold and chronyd is synchronised, update the drift), the rewrite that
 * --systohc shares, and the boot-time restore estimate. The decisions are
 * pure functions (tested as tables); the step is their I/O wrapper, so the
 * daemon loop only calls rtc_discipline_step every interval_min minutes. */
#ifndef FLEETCLOCK_RTC_DISCIPLINE_H
#define FLEETCLOCK_RTC_DISCIPLINE_H

#include <stdbool.h>
#include <stdint.h>

#include "rtc/drift.h"
#include "rtc/rtc.h"
#include "rtc/rtc_store.h"
#include "rtc/rtc_sync.h"

struct rtc_disc_params {
	double threshold;		/* s: rewrite when |offset| exceeds it */
	int edge_timeout_ms;
	double drift_max_unc_ppm;	/* drift flagged valid only below this */
	const char *state_file;
};

/* A write whose verification is off by more than this is tried once more. */
#define RTC_DISC_GOOD_SET 1e-3
#define RTC_DISC_SET_TRIES 2

enum rtc_disc_action {
	RTC_DISC_KEEP,		/* within the threshold (or no trustworthy clock to compare) */
	RTC_DISC_REWRITE,	/* write the RTC at the boundary */
	RTC_DISC_WAIT_SYNC,	/* the RTC needs a write but the system clock is not synchronised */
	RTC_DISC_FAULT,		/* the RTC cannot be read: report, try again next interval */
};

struct rtc_disc_input {
	bool readable;		/* the edge read worked */
	bool valid;		/* ... or failed only because the time is invalid (CH, garbage) */
	double offset;		/* RTC minus system (s), when readable */
	bool synchronised;	/* chronyd says the system clock is synchronised */
	double threshold;	/* s */
};

struct rtc_disc_decision {
	enum rtc_disc_action action;
	bool add_sample;	/* the offset is a drift sample (synchronised, valid) */
	const char *why;	/* one line for the log */
};

/* The pure decision of one step. */
void rtc_discipline_decide(const struct rtc_disc_input *in, struct rtc_disc_decision *out);

/* Name of an action: "keep", "rewrite", "wait-sync", "fault". */
const char *rtc_discipline_action_name(enum rtc_disc_action a);

struct rtc_disc_report {
	struct rtc_disc_decision decision;
	bool have_edge;
	struct rtc_edge edge;		/* the measurement */
	bool wrote;
	struct rtc_set_report set;	/* the rewrite */
	bool have_verify;
	struct rtc_edge verify;		/* the measurement after the rewrite */
	bool have_drift;
	struct drift_result drift;
	int rc;				/* 0, or the error of the failing operation */
	char err[400];			/* its message */
};

/* One step: measure, decide, maybe rewrite, record the sample, update the
 * drift and the record, save the store. Never touches the system clock.
 * Returns 0 when the step ran to its decision (even RTC_DISC_FAULT: the
 * daemon goes on), or the error of a failed rewrite / store save. */
int rtc_discipline_step(struct rtc_dev *d, bool synchronised, const struct rtc_disc_params *p,
			struct rtc_store *store, struct rtc_disc_report *rep);

/* Write the RTC at the boundary now, verify with an edge read (a second
 * write when the first missed by more than RTC_DISC_GOOD_SET), start a new
 * drift segment and record it (TIME_VALID, ref = the verification) and save
 * the store. Used by the step and by --systohc. */
int rtc_discipline_rewrite(struct rtc_dev *d, const struct rtc_disc_params *p,
			   struct rtc_store *store, struct rtc_disc_report *rep);

/* A correction beyond a day (e.g. 700 ppm for 4 years) is not believed. */
#define RTC_RESTORE_MAX_CORRECTION 86400.0

/* What the boot restore would set, from an edge at which the RTC showed
 * rtc_sec, and the record. */
struct rtc_restore {
	bool ok;
	double true_time;	/* estimated true time at the edge (s since 1970) */
	double correction;	/* true_time - rtc_sec: the drift taken out (s) */
	double elapsed;		/* since the reference measurement (s) */
	double uncertainty;	/* 1-sigma from the drift uncertainty, plus the edge (s) */
	bool drift_used;
	char why[200];		/* when !ok: why the RTC must not be trusted */
};

/* Pure: refuse when there is no valid record, when the RTC shows a time
 * before build_epoch or more than a minute before its last write (it was
 * reset), else take out ref_offset + drift * elapsed (drift only when
 * flagged valid); refuse a correction above RTC_RESTORE_MAX_CORRECTION. */
void rtc_discipline_restore(const struct ds1307_record *rec, int rec_rc, int64_t rtc_sec,
			    double edge_unc, int64_t build_epoch, struct rtc_restore *out);

#endif
