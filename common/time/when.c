/* when.c - TIME parser for --at / --wait-until, see when.h */
#include "time/when.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "time/timeutil.h"

#define MAX_EPOCH_S 253402300799LL	/* 9999-12-31T23:59:59Z */

/* Fail with "'text': reason". */
#define FAIL(...) do { fail(err, errlen, text, __VA_ARGS__); return -EINVAL; } while (0)

static void fail(char *err, size_t errlen, const char *text, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void fail(char *err, size_t errlen, const char *text, const char *fmt, ...)
{
	char reason[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "TIME '%.64s%s': %s", text, strlen(text) > 64 ? "..." : "", reason);
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Exactly n digits at p into *v; false if any is not a digit. */
static bool fixed_digits(const char *p, int n, unsigned *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (!is_digit(p[i]))
			return false;
		*v = *v * 10 + (unsigned)(p[i] - '0');
	}
	return true;
}

/* A fraction after '.': 1-9 digits into nanoseconds. Returns the number of
 * characters consumed (including '.'), 0 if there is no '.', -1 if bad. */
static int fraction_ns(const char *p, long *ns)
{
	int n = 0;
	long v = 0;

	*ns = 0;
	if (*p != '.')
		return 0;
	while (is_digit(p[1 + n])) {
		if (n == 9)
			return -1;
		v = v * 10 + (p[1 + n] - '0');
		n++;
	}
	if (n == 0)
		return -1;
	for (int i = n; i < 9; i++)
		v *= 10;
	*ns = v;
	return 1 + n;
}

long long when_days_from_civil(long long y, unsigned m, unsigned d)
{
	/* Shift the year to start in March so that the leap day is last. */
	long long era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long long)doe - 719468;
}

static unsigned days_in_month(unsigned y, unsigned m)
{
	static const unsigned dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : dim[m - 1];
}

/* "Z", "z", "+hh:mm" or "-hh:mm" ending the string: offset east of UTC in s. */
static int parse_offset(const char *text, const char *p, long *off, char *err, size_t errlen)
{
	unsigned oh, om;

	if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
		*off = 0;
		return 0;
	}
	if (*p == '\0')
		FAIL("no time zone: end with Z (UTC) or an offset like +02:00");
	if ((*p != '+' && *p != '-') || !fixed_digits(p + 1, 2, &oh) || p[3] != ':' ||
	    !fixed_digits(p + 4, 2, &om) || p[6] != '\0')
		FAIL("'%s' is not a time zone: use Z or +hh:mm / -hh:mm", p);
	if (oh > 23 || om > 59)
		FAIL("offset %s out of range (hours 00-23, minutes 00-59)", p);
	*off = (*p == '-' ? -1 : 1) * (long)(oh * 3600 + om * 60);
	return 0;
}

int when_parse_rfc3339(const char *text, struct timespec *out, char *err, size_t errlen)
{
	unsigned y, mo, d, h, mi, s;
	const char *p = text;
	long ns, off;
	int n, rc;

	if (!fixed_digits(p, 4, &y) || p[4] != '-' || !fixed_digits(p + 5, 2, &mo) || p[7] != '-' ||
	    !fixed_digits(p + 8, 2, &d))
		FAIL("not a date: expected YYYY-MM-DD");
	if (p[10] != 'T' && p[10] != 't' && p[10] != ' ')
		FAIL("expected 'T' and a time of day after the date");
	if (!fixed_digits(p + 11, 2, &h) || p[13] != ':' || !fixed_digits(p + 14, 2, &mi) ||
	    p[16] != ':' || !fixed_digits(p + 17, 2, &s))
		FAIL("not a time of day: expected hh:mm:ss after the date");
	if (mo < 1 || mo > 12)
		FAIL("month %02u is not 01-12", mo);
	if (d < 1 || d > days_in_month(y, mo))
		FAIL("day %02u does not exist in %04u-%02u", d, y, mo);
	if (h > 23 || mi > 59)
		FAIL("time %02u:%02u is not a time of day", h, mi);
	if (s == 60)
		FAIL("leap second :60 cannot be waited for; use :59.999999999 or :00 of the next minute");
	if (s > 59)
		FAIL("second %02u is not 00-59", s);
	p += 19;
	n = fraction_ns(p, &ns);
	if (n < 0)
		FAIL("bad fraction of a second: 1 to 9 digits after '.'");
	rc = parse_offset(text, p + n, &off, err, errlen);
	if (rc < 0)
		return rc;
	out->tv_sec = (time_t)(when_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - off);
	out->tv_nsec = ns;
	return 0;
}

static int parse_epoch(const char *text, struct timespec *out, char *err, size_t errlen)
{
	const char *p = text + (text[0] == '@');
	long long sec = 0;
	long ns;
	int n;

	if (!is_digit(*p))
		FAIL("not a time: expected RFC 3339, epoch seconds, +DURATION or :SS");
	for (; is_digit(*p); p++) {
		sec = sec * 10 + (*p - '0');
		if (sec > MAX_EPOCH_S)
			FAIL("epoch seconds beyond the year 9999");
	}
	n = fraction_ns(p, &ns);
	if (n < 0)
		FAIL("bad fraction of a second: 1 to 9 digits after '.'");
	if (p[n] != '\0')
		FAIL("unexpected '%s' after the epoch seconds", p + n);
	out->tv_sec = (time_t)sec;
	out->tv_nsec = ns;
	return 0;
}

/* One unit at *p (longest match first): its length in ns, and *len. */
static int64_t unit_ns(const char *p, int *len)
{
	static const struct { const char *name; int64_t ns; } units[] = {
		{ "ns", 1 }, { "us", 1000 }, { "ms", 1000000 },
		{ "s", NSEC_PER_SEC }, { "m", 60 * NSEC_PER_SEC }, { "h", 3600 * NSEC_PER_SEC },
	};

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		size_t l = strlen(units[i].name);

		if (!strncmp(p, units[i].name, l)) {
			*len = (int)l;
			return units[i].ns;
		}
	}
	*len = 0;
	return 0;
}

static int parse_duration(const char *text, struct timespec now, struct timespec *out,
			  char *err, size_t errlen)
{
	const __int128 max_ns = (__int128)WHEN_MAX_DURATION_S * NSEC_PER_SEC;
	const char *p = text + 1;
	__int128 total = 0;
	int parts = 0;

	if (*p == '\0')
		FAIL("empty duration after '+': e.g. +10s, +1.5s, +250ms, +2m");
	while (*p) {
		long long whole = 0;
		long frac;
		int64_t u;
		int n, ul;

		if (!is_digit(*p))
			FAIL("expected a number at '%s' (e.g. +10s, +1.5s, +2m)", p);
		for (; is_digit(*p); p++) {
			whole = whole * 10 + (*p - '0');
			if (whole > WHEN_MAX_DURATION_S * NSEC_PER_SEC)
				FAIL("duration longer than %lld days", WHEN_MAX_DURATION_S / 86400);
		}
		n = fraction_ns(p, &frac);
		if (n < 0)
			FAIL("bad fraction: 1 to 9 digits after '.'");
		p += n;
		u = unit_ns(p, &ul);
		if (!ul && *p)
			FAIL("unknown unit at '%s': use ns, us, ms, s, m or h", p);
		if (!ul && parts)
			FAIL("a number without a unit must be the only part of a duration");
		if (!ul)
			u = NSEC_PER_SEC;
		if (ul && p[ul] && !is_digit(p[ul]))
			FAIL("unknown unit at '%s': use ns, us, ms, s, m or h", p);
		p += ul;
		parts++;
		total += (__int128)whole * u + (__int128)frac * u / NSEC_PER_SEC;
		if (total > max_ns)
			FAIL("duration longer than %lld days", WHEN_MAX_DURATION_S / 86400);
	}
	*out = timeutil_ts_add_ns(now, (int64_t)total);
	return 0;
}

/* ":SS[.frac]": second SS of the minute after the one now is in. */
static int parse_next_minute(const char *text, struct timespec now, struct timespec *out,
			     char *err, size_t errlen)
{
	unsigned ss;
	long long minute;
	long ns;
	int n;

	if (!fixed_digits(text + 1, 2, &ss))
		FAIL("expected two digits after ':' (the second of the next minute, 00-59)");
	if (ss > 59)
		FAIL("second %02u is not 00-59", ss);
	n = fraction_ns(text + 3, &ns);
	if (n < 0)
		FAIL("bad fraction of a second: 1 to 9 digits after '.'");
	if (text[3 + n] != '\0')
		FAIL("unexpected '%s' after :SS", text + 3 + n);
	minute = now.tv_sec >= 0 ? now.tv_sec / 60 : (now.tv_sec - 59) / 60;
	out->tv_sec = (time_t)((minute + 1) * 60 + ss);
	out->tv_nsec = ns;
	return 0;
}

int when_parse(const char *text, struct timespec now, struct timespec *out,
	       char *err, size_t errlen)
{
	if (!text || !*text) {
		snprintf(err, errlen, "TIME '': empty: expected RFC 3339, epoch seconds, +DURATION or :SS");
		return -EINVAL;
	}
	if (text[0] == '+')
		return parse_duration(text, now, out, err, errlen);
	if (text[0] == ':')
		return parse_next_minute(text, now, out, err, errlen);
	if (strlen(text) >= 5 && is_digit(text[0]) && text[4] == '-')
		return when_parse_rfc3339(text, out, err, errlen);
	return parse_epoch(text, out, err, errlen);
}
