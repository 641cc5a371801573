/* bench_rtc.c - read and set precision of the edge-synchronised methods vs
 * the naive ones (one read, `hwclock -r` without sync; writing the current
 * whole second), measured in one run on the DS1307 emulator, whose model
 * gives the true RTC offset. Run it through tests/bench/bench_rtc (which
 * preloads the emulator). Prints median and max |error| in ms and the
 * ratios and whether the >= 100x target is met; asserts nothing about
 * timing (exit 1 only when a measurement fails). */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rtc/rtc.h"
#include "rtc/rtc_sync.h"
#include "time/timeutil.h"

typedef int (*truth_fn)(double v_s, double *offset);

struct stats {
	double med, max;
};

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static struct stats summarise(double *e, int n)
{
	qsort(e, (size_t)n, sizeof(double), cmp);
	return (struct stats){ n % 2 ? e[n / 2] : (e[n / 2 - 1] + e[n / 2]) / 2, e[n - 1] };
}

/* Sleep to a sub-second phase that walks the second evenly (golden ratio). */
static void random_phase(int i)
{
	double frac = fmod(0.5 + i * 0.6180339887, 1.0);

	usleep((useconds_t)(frac * 1e6));
}

static int measure(struct rtc_dev *d, truth_fn truth, int n, double *err[4])
{
	struct rtc_set_report sr;
	struct rtc_edge e;
	double t;

	for (int i = 0; i < n; i++) {
		if (rtc_sync_read_edge(d, RTC_SYNC_EDGE_TIMEOUT_MS, &e) < 0 ||
		    truth(timeutil_ts_to_double(e.sys), &t) < 0)
			return -1;
		err[0][i] = fabs(e.offset - t) * 1e3;
		random_phase(i);
		if (rtc_sync_read_naive(d, &e) < 0 || truth(timeutil_ts_to_double(e.sys), &t) < 0)
			return -1;
		err[1][i] = fabs(e.offset - t) * 1e3;
		if (rtc_sync_set_at_boundary(d, &sr) < 0 || truth(timeutil_now(CLOCK_REALTIME), &t) < 0)
			return -1;
		err[2][i] = fabs(t) * 1e3;
		random_phase(i);
		if (rtc_sync_set_naive(d, &sr) < 0 || truth(timeutil_now(CLOCK_REALTIME), &t) < 0)
			return -1;
		err[3][i] = fabs(t) * 1e3;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const char *names[4] = { "read  edge-synchronised", "read  naive (one read)",
					"set   at the boundary", "set   naive (now, unaligned)" };
	int n = argc > 1 ? atoi(argv[1]) : 15;
	truth_fn truth = (truth_fn)dlsym(RTLD_DEFAULT, "ds1307_emu_true_offset");
	struct rtc_dev *d = NULL;
	double *err[4];
	struct stats st[4];
	char msg[400];
	int rc = 1;

	if (!truth || !getenv("DS1307_EMU_STATE") || n < 3 || n > 1000) {
		fprintf(stderr, "bench_rtc: run through tests/bench/bench_rtc (needs the DS1307 emulator "
			"preloaded and DS1307_EMU_STATE); N between 3 and 1000\n");
		return 2;
	}
	for (int k = 0; k < 4; k++)
		err[k] = calloc((size_t)n, sizeof(double));
	if (rtc_open("/dev/i2c-1", &d, msg, sizeof(msg)) < 0) {
		fprintf(stderr, "bench_rtc: %s\n", msg);
		goto out;
	}
	/* Start the oscillator if the emulated chip is fresh. */
	if (rtc_set(d, (int64_t)timeutil_now(CLOCK_REALTIME) + 3) < 0 || measure(d, truth, n, err) < 0) {
		fprintf(stderr, "bench_rtc: %s\n", rtc_error(d));
		goto out;
	}
	printf("RTC precision on the DS1307 emulator (100 kHz bus, 0 ppm), %d runs each\n", n);
	printf("%-30s %14s %14s\n", "method", "median |err|", "max |err|");
	for (int k = 0; k < 4; k++) {
		st[k] = summarise(err[k], n);
		printf("%-30s %11.3f ms %11.3f ms\n", names[k], st[k].med, st[k].max);
	}
	printf("naive / edge-synchronised: read median %.0fx max %.0fx; set median %.0fx max %.0fx "
	       "(target >= 100x: %s)\n", st[1].med / st[0].med, st[1].max / st[0].max,
	       st[3].med / st[2].med, st[3].max / st[2].max,
	       st[1].med / st[0].med >= 100 && st[3].med / st[2].med >= 100 ? "met" : "NOT met");
	rc = 0;
out:
	rtc_close(d);
	for (int k = 0; k < 4; k++)
		free(err[k]);
	return rc;
}
