/* rtc.h - one interface to the node's real-time clock, two backends:
 *   rtc_ds1307  a DS1307 on /dev/i2c-N at 0x68 through libi2c (NVRAM too)
 *   rtc_linux   a kernel RTC driver's /dev/rtcN (RTC_RD_TIME / RTC_SET_TIME)
 * and probing: "auto" | "/dev/i2c-N" | "/dev/rtcN" | "none".
 *
 * Every call returns 0 or -errno and leaves a message naming the device,
 * the operation and the cause (with a hint for the usual reason) for
 * rtc_error(). Reads validate everything (BCD, CH, calendar); nothing here
 * touches the system clock. The edge-synchronised read and the set at the
 * second boundary are in rtc_sync.h. */
#ifndef FLEETCLOCK_RTC_H
#define FLEETCLOCK_RTC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rtc/ds1307_codec.h"

struct rtc_dev;

/* What a backend does; polymorphism through a small table. */
struct rtc_ops {
	const char *kind;	/* "ds1307" or "linux" */
	/* The whole time in one transaction. */
	int (*read)(struct rtc_dev *d, struct ds1307_time *out);
	/* Only the seconds, as fast as possible (NULL: use read). */
	int (*read_seconds)(struct rtc_dev *d, int *sec);
	/* Write epoch (24-hour mode, oscillator running). */
	int (*set)(struct rtc_dev *d, int64_t epoch);
	/* Battery-backed RAM, offsets from 0 (NULL: the chip has none here). */
	int (*nvram_read)(struct rtc_dev *d, size_t off, uint8_t *buf, size_t len);
	int (*nvram_write)(struct rtc_dev *d, size_t off, const uint8_t *buf, size_t len);
	void (*close)(struct rtc_dev *d);
	/* Where in a call the chip latches, as a fraction of the call's duration:
	 * for a full read, a seconds read and a set (the seconds write). */
	double read_latch, seconds_latch, set_latch;
	/* Expected time from the start of a set call to the seconds write (s). */
	double set_lead;
};

struct rtc_dev {
	const struct rtc_ops *ops;
	int fd;
	char path[64];
	char desc[128];		/* "DS1307 at 0x68 on /dev/i2c-1 (libi2c)" */
	char err[320];
};

/* Open the RTC named by spec: "auto" probes /dev/i2c-0..9 at 0x68, then
 * /dev/rtc0..3; "none" gives -ENODEV. On failure err says what was tried
 * and why (e.g. that a kernel driver owns the chip and /dev/rtcN is the way). */
int rtc_open(const char *spec, struct rtc_dev **out, char *err, size_t errlen);

/* Close and free; NULL is fine. */
void rtc_close(struct rtc_dev *d);

/* The full time, validated (-ENODATA: halted, -EINVAL: garbage). */
int rtc_read(struct rtc_dev *d, struct ds1307_time *out);

/* Write epoch now (no alignment: see rtc_sync_set_at_boundary). -ERANGE
 * outside 2000-2099. */
int rtc_set(struct rtc_dev *d, int64_t epoch);

/* True when the backend has NVRAM. */
bool rtc_has_nvram(const struct rtc_dev *d);

/* NVRAM access within the chip's RAM (-EOPNOTSUPP without NVRAM, -EINVAL
 * beyond it). */
int rtc_nvram_read(struct rtc_dev *d, size_t off, uint8_t *buf, size_t len);
int rtc_nvram_write(struct rtc_dev *d, size_t off, const uint8_t *buf, size_t len);

/* One line: what the device is and how it is reached. */
const char *rtc_describe(const struct rtc_dev *d);

/* The message of the last failed call. */
const char *rtc_error(const struct rtc_dev *d);

/* For backends: store a message "path: op: cause" and return rc. */
int rtc_fail(struct rtc_dev *d, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
