/* timeutil.c - timespec helpers, see timeutil.h */
#include "time/timeutil.h"

#include <math.h>
#include <stdio.h>

double timeutil_ts_to_double(struct timespec ts)
{
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

struct timespec timeutil_double_to_ts(double s)
{
	struct timespec ts;
	double fl = floor(s);
	long long ns = llround((s - fl) * 1e9);

	ts.tv_sec = (time_t)fl;
	if (ns >= NSEC_PER_SEC) {
		ts.tv_sec++;
		ns -= NSEC_PER_SEC;
	}
	ts.tv_nsec = (long)ns;
	return ts;
}

int64_t timeutil_ts_diff_ns(struct timespec a, struct timespec b)
{
	__int128 d = ((__int128)a.tv_sec - b.tv_sec) * NSEC_PER_SEC + (a.tv_nsec - b.tv_nsec);

	if (d > INT64_MAX)
		return INT64_MAX;
	if (d < INT64_MIN)
		return INT64_MIN;
	return (int64_t)d;
}

struct timespec timeutil_ts_add_ns(struct timespec ts, int64_t ns)
{
	ts.tv_sec += ns / NSEC_PER_SEC;
	ts.tv_nsec += ns % NSEC_PER_SEC;
	if (ts.tv_nsec >= NSEC_PER_SEC) {
		ts.tv_sec++;
		ts.tv_nsec -= NSEC_PER_SEC;
	} else if (ts.tv_nsec < 0) {
		ts.tv_sec--;
		ts.tv_nsec += NSEC_PER_SEC;
	}
	return ts;
}

double timeutil_now(clockid_t clk)
{
	struct timespec ts;

	if (clock_gettime(clk, &ts) < 0)
		return 0.0;
	return timeutil_ts_to_double(ts);
}

int64_t timeutil_now_ns(clockid_t clk)
{
	struct timespec ts;

	if (clock_gettime(clk, &ts) < 0)
		return 0;
	return (int64_t)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

char *timeutil_format_rfc3339(struct timespec ts, int digits, char *buf, size_t len)
{
	struct tm tm;
	char frac[16] = "";
	time_t t = ts.tv_sec;
	int n;

	if (digits < 0 || digits > 9 || !gmtime_r(&t, &tm))
		return NULL;
	if (digits > 0) {
		long v = ts.tv_nsec;
		for (int i = digits; i < 9; i++)
			v /= 10;
		snprintf(frac, sizeof(frac), ".%0*ld", digits, v);
	}
	n = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d%sZ", tm.tm_year + 1900,
		     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
	if (n < 0 || (size_t)n >= len)
		return NULL;
	return buf;
}

char *timeutil_format_duration(double s, int sign, char *buf, size_t len)
{
	static const struct { double scale; const char *unit; } units[] = {
		{ 1e9, "ns" }, { 1e6, "us" }, { 1e3, "ms" }, { 1.0, "s" },
	};
	double a = fabs(s);
	size_t i = 0;

	if (!isfinite(s)) {
		snprintf(buf, len, "%s", isnan(s) ? "nan" : s > 0 ? "inf" : "-inf");
		return buf;
	}
	while (i < 3 && a * units[i].scale >= 999.5)
		i++;
	snprintf(buf, len, sign ? "%+.*f%s" : "%.*f%s", i == 0 ? 0 : 3, s * units[i].scale,
		 units[i].unit);
	return buf;
}
