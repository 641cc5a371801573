/* ds1307_codec.c - DS1307 registers and NVRAM record, see ds1307_codec.h */
#include "rtc/ds1307_codec.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int ds1307_bcd_decode(uint8_t v)
{
	if ((v & 0x0f) > 9 || (v >> 4) > 9)
		return -1;
	return (v >> 4) * 10 + (v & 0x0f);
}

uint8_t ds1307_bcd_encode(int v)
{
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

static bool is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
	static const int dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (civil calendar
 * arithmetic with 400-year eras). */
static int64_t days_from_civil(int y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

/* One BCD field with its allowed range; the message names the register. */
static int field(const uint8_t *regs, int reg, uint8_t mask, int lo, int hi, const char *name,
		 int *out, char *err, size_t errlen)
{
	int v = ds1307_bcd_decode(regs[reg] & mask);

	if (v < lo || v > hi) {
		snprintf(err, errlen, "register 0x%02x (%s): 0x%02x is not valid BCD %d-%d",
			 reg, name, regs[reg], lo, hi);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int decode_hours(uint8_t h, bool *mode_12h, int *out, char *err, size_t errlen)
{
	int v;

	*mode_12h = h & DS1307_12H;
	if (!*mode_12h) {
		v = ds1307_bcd_decode(h & 0x3f);
		if (v < 0 || v > 23)
			goto bad;
		*out = v;
		return 0;
	}
	v = ds1307_bcd_decode(h & 0x1f);
	if (v < 1 || v > 12)
		goto bad;
	/* 12 AM is midnight, 12 PM is noon. */
	*out = (v % 12) + ((h & DS1307_PM) ? 12 : 0);
	return 0;
bad:
	snprintf(err, errlen, "register 0x02 (hours): 0x%02x is not valid BCD %s", h,
		 *mode_12h ? "1-12 (12-hour mode)" : "0-23 (24-hour mode)");
	return -EINVAL;
}

int ds1307_decode_time(const uint8_t regs[DS1307_CLOCK_REGS], struct ds1307_time *out,
		       char *err, size_t errlen)
{
	int sec, min, hour, mday, mon, year;
	int rc;

	memset(out, 0, sizeof(*out));
	if (regs[0] & DS1307_CH) {
		out->halted = true;
		snprintf(err, errlen, "clock halted (CH bit set in register 0x00): the oscillator is "
			 "stopped and the time is not valid (battery lost or never set)");
		return -ENODATA;
	}
	if ((rc = field(regs, 0, 0x7f, 0, 59, "seconds", &sec, err, errlen)) < 0 ||
	    (rc = field(regs, 1, 0xff, 0, 59, "minutes", &min, err, errlen)) < 0 ||
	    (rc = decode_hours(regs[2], &out->mode_12h, &hour, err, errlen)) < 0 ||
	    (rc = field(regs, 3, 0xff, 1, 7, "day of week", &out->wday, err, errlen)) < 0 ||
	    (rc = field(regs, 4, 0xff, 1, 31, "date", &mday, err, errlen)) < 0 ||
	    (rc = field(regs, 5, 0xff, 1, 12, "month", &mon, err, errlen)) < 0 ||
	    (rc = field(regs, 6, 0xff, 0, 99, "year", &year, err, errlen)) < 0)
		return rc;
	year += 2000;
	if (mday > days_in_month(year, mon)) {
		snprintf(err, errlen, "register 0x04 (date): day %d does not exist in %04d-%02d",
			 mday, year, mon);
		return -EINVAL;
	}
	out->epoch = days_from_civil(year, mon, mday) * 86400 + hour * 3600 + min * 60 + sec;
	return 0;
}

int ds1307_encode_time(int64_t epoch, uint8_t regs[DS1307_CLOCK_REGS])
{
	int64_t days, rem;
	int y, m, d;

	if (epoch < DS1307_EPOCH_MIN || epoch >= DS1307_EPOCH_END)
		return -ERANGE;
	days = epoch / 86400;
	rem = epoch % 86400;
	civil_from_days(days, &y, &m, &d);
	regs[0] = ds1307_bcd_encode((int)(rem % 60));
	regs[1] = ds1307_bcd_encode((int)(rem / 60 % 60));
	regs[2] = ds1307_bcd_encode((int)(rem / 3600));
	/* 1970-01-01 was a Thursday (4 with Monday = 1). */
	regs[3] = (uint8_t)((days + 3) % 7 + 1);
	regs[4] = ds1307_bcd_encode(d);
	regs[5] = ds1307_bcd_encode(m);
	regs[6] = ds1307_bcd_encode(y - 2000);
	return 0;
}

int ds1307_check_range(int64_t epoch, char *err, size_t errlen)
{
	int y, m, d;
	int64_t days, rem;

	if (epoch >= DS1307_EPOCH_MIN && epoch < DS1307_EPOCH_END)
		return 0;
	/* Floor division: an instant before 1970 names its own day too. */
	days = epoch / 86400 - (epoch % 86400 < 0);
	rem = epoch - days * 86400;
	if (days > 100000000 || days < -100000000) {
		snprintf(err, errlen, "%lld s since the epoch is outside 2000-2099, the DS1307's range "
			 "(2000-01-01T00:00:00Z to 2099-12-31T23:59:59Z)", (long long)epoch);
		return -ERANGE;
	}
	civil_from_days(days, &y, &m, &d);
	snprintf(err, errlen, "%04d-%02d-%02dT%02d:%02d:%02dZ is outside 2000-2099, the DS1307's range "
		 "(2000-01-01T00:00:00Z to 2099-12-31T23:59:59Z: a two-digit year, no century bit)",
		 y, m, d, (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
	return -ERANGE;
}

uint32_t ds1307_crc32(const uint8_t *p, size_t len)
{
	uint32_t crc = 0xffffffffu;

	for (size_t i = 0; i < len; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1));
	}
	return ~crc;
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static int to_i32(double v, double scale, int32_t *out)
{
	double x = v * scale;

	if (!(x > -2147483648.0 && x < 2147483647.0))
		return -ERANGE;
	*out = (int32_t)(x < 0 ? x - 0.5 : x + 0.5);
	return 0;
}

int ds1307_record_encode(const struct ds1307_record *r, uint8_t out[DS1307_RECORD_SIZE])
{
	int32_t off_us, drift_ppb, unc_ppb;

	if (to_i32(r->ref_offset, 1e6, &off_us) < 0 || to_i32(r->drift_ppm, 1e3, &drift_ppb) < 0 ||
	    to_i32(r->drift_unc_ppm, 1e3, &unc_ppb) < 0 || unc_ppb < 0 || r->ref_nsec >= 1000000000u)
		return -ERANGE;
	memset(out, 0, DS1307_RECORD_SIZE);
	memcpy(out, DS1307_RECORD_MAGIC, 4);
	out[4] = DS1307_RECORD_VERSION;
	out[5] = DS1307_RECORD_SIZE;
	out[6] = r->flags;
	put_le(out + 8, (uint64_t)r->last_set, 8);
	put_le(out + 16, (uint64_t)r->ref_sec, 8);
	put_le(out + 24, r->ref_nsec, 4);
	put_le(out + 28, (uint32_t)off_us, 4);
	put_le(out + 32, (uint32_t)drift_ppb, 4);
	put_le(out + 36, (uint32_t)unc_ppb, 4);
	put_le(out + 40, ds1307_crc32(out, 40), 4);
	return 0;
}

static bool in_chip_range(int64_t t)
{
	return t >= DS1307_EPOCH_MIN && t < DS1307_EPOCH_END;
}

/* What the CRC cannot catch: a writer's bug or another layout. */
static int record_check(const uint8_t *buf, const struct ds1307_record *r, char *err, size_t errlen)
{
	if (buf[7] != 0) {
		snprintf(err, errlen, "record has reserved byte 0x%02x set: written by a newer version?",
			 buf[7]);
		return -EPROTO;
	}
	if (r->ref_nsec >= 1000000000u || !in_chip_range(r->ref_sec) ||
	    (r->last_set && !in_chip_range(r->last_set)) || r->drift_unc_ppm > 2147483.647) {
		snprintf(err, errlen, "record corrupt: reference time, last write or drift uncertainty "
			 "out of range");
		return -EBADMSG;
	}
	return 0;
}

int ds1307_record_decode(const uint8_t *buf, size_t len, struct ds1307_record *out,
			 char *err, size_t errlen)
{
	uint32_t crc;

	memset(out, 0, sizeof(*out));
	if (len < 6 || memcmp(buf, DS1307_RECORD_MAGIC, 4)) {
		snprintf(err, errlen, "no fleetclock record (magic \"%s\" absent): never synchronised",
			 DS1307_RECORD_MAGIC);
		return -ENOENT;
	}
	if (buf[4] != DS1307_RECORD_VERSION || buf[5] != DS1307_RECORD_SIZE || len < DS1307_RECORD_SIZE) {
		snprintf(err, errlen, "record version %u length %u not understood (expected version %d "
			 "length %d)", buf[4], buf[5], DS1307_RECORD_VERSION, DS1307_RECORD_SIZE);
		return -EPROTO;
	}
	crc = (uint32_t)get_le(buf + 40, 4);
	if (crc != ds1307_crc32(buf, 40)) {
		snprintf(err, errlen, "record corrupt: CRC-32 0x%08x, computed 0x%08x", crc,
			 ds1307_crc32(buf, 40));
		return -EBADMSG;
	}
	out->flags = buf[6];
	out->last_set = (int64_t)get_le(buf + 8, 8);
	out->ref_sec = (int64_t)get_le(buf + 16, 8);
	out->ref_nsec = (uint32_t)get_le(buf + 24, 4);
	out->ref_offset = (int32_t)(uint32_t)get_le(buf + 28, 4) / 1e6;
	out->drift_ppm = (int32_t)(uint32_t)get_le(buf + 32, 4) / 1e3;
	out->drift_unc_ppm = (uint32_t)get_le(buf + 36, 4) / 1e3;
	return record_check(buf, out, err, errlen);
}
