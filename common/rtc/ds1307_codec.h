/* ds1307_codec.h - pure encoding and decoding of DS1307 registers and of
 * fleetclock's NVRAM record. No I/O.
 *
 * Clock registers 0x00-0x06 are BCD: seconds (bit 7 = CH, clock halt),
 * minutes, hours (bit 6 = 12-hour mode, bit 5 = PM in 12-hour mode), day of
 * week 1-7, date, month, year 00-99 taken as 2000-2099. The NVRAM record
 * (DS1307_RECORD_SIZE bytes at the start of the 56-byte RAM, 0x08) keeps the
 * reference of the last synchronised measurement and the drift estimate; it is
 * versioned and protected by a CRC-32. Layout in docs/rtc.md. */
#ifndef FLEETCLOCK_DS1307_CODEC_H
#define FLEETCLOCK_DS1307_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DS1307_ADDRESS 0x68
#define DS1307_CLOCK_REGS 7		/* 0x00-0x06, read in one burst */
#define DS1307_REG_CONTROL 0x07
#define DS1307_NVRAM_START 0x08
#define DS1307_NVRAM_SIZE 56		/* 0x08-0x3F */
#define DS1307_CH 0x80
#define DS1307_12H 0x40
#define DS1307_PM 0x20
#define DS1307_YEAR_MIN 2000
#define DS1307_YEAR_MAX 2099
/* Seconds since the epoch of 2000-01-01T00:00:00Z and of 2100-01-01T00:00:00Z. */
#define DS1307_EPOCH_MIN 946684800LL
#define DS1307_EPOCH_END 4102444800LL

/* A decoded clock, as the chip holds it. */
struct ds1307_time {
	int64_t epoch;		/* seconds since 1970 (UTC) */
	bool halted;		/* CH set: the oscillator is stopped, time invalid */
	bool mode_12h;		/* the hours register is in 12-hour mode */
	int wday;		/* day-of-week register, 1-7 (user-defined meaning) */
};

/* Decode registers 0x00-0x06. Returns 0; -ENODATA when CH is set (the
 * time is not valid; out->halted is set and nothing else); -EINVAL for
 * garbage BCD or a field out of range (out of the calendar) with the reason
 * in err ("register 0x04 (date): 0x32 is not a valid day 1-31"). */
int ds1307_decode_time(const uint8_t regs[DS1307_CLOCK_REGS], struct ds1307_time *out,
		       char *err, size_t errlen);

/* Encode epoch into registers 0x00-0x06 in 24-hour mode with CH clear; the
 * day of week is 1 = Monday ... 7 = Sunday. Returns 0, or -ERANGE when the
 * date is outside 2000-2099 (the chip has no century). */
int ds1307_encode_time(int64_t epoch, uint8_t regs[DS1307_CLOCK_REGS]);

/* 0 when epoch fits the chip (DS1307_EPOCH_MIN <= epoch < DS1307_EPOCH_END,
 * 2000-01-01T00:00:00Z to 2099-12-31T23:59:59Z: a two-digit year register and
 * no century bit); otherwise -ERANGE with err saying so, naming the instant
 * ("2100-01-01T00:00:00Z is outside 2000-2099, the DS1307's range ..."). */
int ds1307_check_range(int64_t epoch, char *err, size_t errlen);

/* BCD helpers: ds1307_bcd_decode returns -1 for a nibble above 9. */
int ds1307_bcd_decode(uint8_t v);
uint8_t ds1307_bcd_encode(int v);

/* CRC-32 (IEEE 802.3, reflected, as zlib's crc32) of len bytes. */
uint32_t ds1307_crc32(const uint8_t *p, size_t len);

#define DS1307_RECORD_MAGIC "FCRT"
#define DS1307_RECORD_VERSION 1
#define DS1307_RECORD_SIZE 44

#define DS1307_RECORD_TIME_VALID 0x01	/* set from / measured against a synchronised clock */
#define DS1307_RECORD_DRIFT_VALID 0x02	/* drift_ppm holds an estimate */

/* What fleetclock remembers next to the RTC. */
struct ds1307_record {
	uint8_t flags;			/* DS1307_RECORD_* */
	int64_t last_set;		/* system time (s) of the last write of the RTC */
	int64_t ref_sec;		/* system time of the last synchronised measurement */
	uint32_t ref_nsec;
	double ref_offset;		/* RTC minus system at ref (s), stored in us */
	double drift_ppm;		/* > 0: the RTC gains time; stored in ppb */
	double drift_unc_ppm;		/* 1-sigma uncertainty; stored in ppb */
};

/* Serialise a record into DS1307_RECORD_SIZE bytes. Returns 0 or -ERANGE
 * when a field does not fit its stored width. */
int ds1307_record_encode(const struct ds1307_record *r, uint8_t out[DS1307_RECORD_SIZE]);

/* Parse a record from len bytes. Returns 0; -ENOENT when there is no record
 * (no magic: a fresh chip); -EPROTO for an unknown version, length or a
 * reserved byte set; -EBADMSG when the checksum does not match or a field is
 * out of range (times outside 2000-2099; last_set may be 0 = never written).
 * err says which. */
int ds1307_record_decode(const uint8_t *buf, size_t len, struct ds1307_record *out,
			 char *err, size_t errlen);

#endif
