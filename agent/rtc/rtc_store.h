/* rtc_store.h - what the agent remembers about its RTC: the record (last
 * set, last synchronised measurement, drift) in the DS1307's NVRAM when it
 * has one, mirrored in a JSON state file that also keeps the drift samples;
 * for /dev/rtcN the state file alone holds the record. */
#ifndef FLEETCLOCK_RTC_STORE_H
#define FLEETCLOCK_RTC_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "rtc/drift.h"
#include "rtc/ds1307_codec.h"
#include "rtc/rtc.h"

#define RTC_STORE_SCHEMA "fleetclock-rtc-state"
#define RTC_STORE_VERSION 1

struct rtc_store {
	struct ds1307_record rec;
	int rec_rc;			/* 0: rec valid; -ENOENT none; -EBADMSG corrupt; ... */
	char rec_source[16];		/* "NVRAM" or "state file" */
	char rec_err[200];		/* why there is no valid record */
	struct drift_sample samples[DRIFT_MAX_SAMPLES];
	size_t n_samples;
	uint32_t segment;		/* current segment: bumped at each RTC write */
	char file_err[300];		/* a state file problem (samples lost), or "" */
	/* What the last --hctosys did, for the node's clock class: "restored"
	 * (drift taken out), "restored-no-drift", "refused" (time invalid), or
	 * "" (never ran). */
	char boot_state[24];
	int64_t boot_at;		/* system time after the restore / at the refusal */
	char boot_why[200];		/* the refusal's reason */
};

/* Load the record (NVRAM when d has it, else the state file) and the
 * samples (state file). A missing or unreadable state file is not an error
 * (file_err says so); d may be NULL (state file only). Returns 0, or -errno
 * for an NVRAM I/O error (message in rtc_error(d)). */
int rtc_store_load(struct rtc_store *s, struct rtc_dev *d, const char *state_file);

/* Write the record to NVRAM (when d has it) and everything to the state
 * file (atomically: temporary file and rename). Returns 0 or -errno with
 * err naming the device or file. */
int rtc_store_save(const struct rtc_store *s, struct rtc_dev *d, const char *state_file,
		   char *err, size_t errlen);

/* Append a sample; the oldest goes when DRIFT_MAX_SAMPLES are kept. */
void rtc_store_add_sample(struct rtc_store *s, double t, double offset);

#endif
