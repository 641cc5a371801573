/* rtc_linux.c - a kernel RTC driver's /dev/rtcN: RTC_RD_TIME / RTC_SET_TIME
 * (struct rtc_time: years from 1900, months 0-11). No NVRAM here: the
 * record lives in the state file instead. */
#include "rtc/rtc_linux.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/rtc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int lx_read(struct rtc_dev *d, struct ds1307_time *out)
{
	struct rtc_time rt;
	uint8_t regs[DS1307_CLOCK_REGS];
	char why[200];
	int rc;

	memset(&rt, 0, sizeof(rt));
	if (ioctl(d->fd, RTC_RD_TIME, &rt) < 0) {
		rc = -errno;
		if (rc == -EINVAL)
			return rtc_fail(d, -ENODATA, "RTC_RD_TIME: %s (the driver reports the time "
					"invalid: oscillator halted or never set)", strerror(EINVAL));
		return rtc_fail(d, rc, "RTC_RD_TIME: %s", strerror(-rc));
	}
	if (rt.tm_year < 100 || rt.tm_year > 199 || rt.tm_mon < 0 || rt.tm_mon > 11 ||
	    rt.tm_mday < 1 || rt.tm_mday > 31 || rt.tm_hour < 0 || rt.tm_hour > 23 ||
	    rt.tm_min < 0 || rt.tm_min > 59 || rt.tm_sec < 0 || rt.tm_sec > 59)
		return rtc_fail(d, -EINVAL, "RTC_RD_TIME: %04d-%02d-%02d %02d:%02d:%02d is not a "
				"time in 2000-2099", rt.tm_year + 1900, rt.tm_mon + 1, rt.tm_mday,
				rt.tm_hour, rt.tm_min, rt.tm_sec);
	/* Through the codec so that one set of calendar rules applies. */
	regs[0] = ds1307_bcd_encode(rt.tm_sec);
	regs[1] = ds1307_bcd_encode(rt.tm_min);
	regs[2] = ds1307_bcd_encode(rt.tm_hour);
	regs[3] = 1;
	regs[4] = ds1307_bcd_encode(rt.tm_mday);
	regs[5] = ds1307_bcd_encode(rt.tm_mon + 1);
	regs[6] = ds1307_bcd_encode(rt.tm_year - 100);
	rc = ds1307_decode_time(regs, out, why, sizeof(why));
	if (rc < 0)
		return rtc_fail(d, rc, "RTC_RD_TIME: %s", why);
	return 0;
}

static int lx_set(struct rtc_dev *d, int64_t epoch)
{
	uint8_t regs[DS1307_CLOCK_REGS];
	struct rtc_time rt;
	char why[160];

	if (ds1307_check_range(epoch, why, sizeof(why)) < 0 || ds1307_encode_time(epoch, regs) < 0)
		return rtc_fail(d, -ERANGE, "setting the time: %s", why);
	memset(&rt, 0, sizeof(rt));
	rt.tm_sec = ds1307_bcd_decode(regs[0]);
	rt.tm_min = ds1307_bcd_decode(regs[1]);
	rt.tm_hour = ds1307_bcd_decode(regs[2]);
	rt.tm_wday = regs[3] % 7;	/* 1 = Monday .. 7 = Sunday -> 0 = Sunday */
	rt.tm_mday = ds1307_bcd_decode(regs[4]);
	rt.tm_mon = ds1307_bcd_decode(regs[5]) - 1;
	rt.tm_year = ds1307_bcd_decode(regs[6]) + 100;
	if (ioctl(d->fd, RTC_SET_TIME, &rt) < 0)
		return rtc_fail(d, -errno, "RTC_SET_TIME: %s%s", strerror(errno),
				errno == EACCES || errno == EPERM ? " (needs root / CAP_SYS_TIME)" : "");
	return 0;
}

static void lx_close(struct rtc_dev *d)
{
	if (d->fd >= 0)
		close(d->fd);
	free(d);
}

static const struct rtc_ops linux_ops = {
	.kind = "linux",
	.read = lx_read,
	.set = lx_set,
	.close = lx_close,
	/* The driver does the same I2C transactions as rtc_ds1307. */
	.read_latch = 0.2,
	.seconds_latch = 0.2,
	.set_latch = 0.33,
	.set_lead = 0.30e-3,
};

int rtc_linux_open(const char *path, struct rtc_dev **out, char *err, size_t errlen)
{
	struct rtc_dev *d = calloc(1, sizeof(*d));
	struct ds1307_time t;
	int rc;

	*out = NULL;
	if (!d) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	d->ops = &linux_ops;
	snprintf(d->path, sizeof(d->path), "%s", path);
	snprintf(d->desc, sizeof(d->desc), "kernel RTC %s (RTC_RD_TIME/RTC_SET_TIME)", path);
	d->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (d->fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: open: %s%s", path, strerror(errno),
			 errno == ENOENT ? " (no RTC driver bound?)" : "");
		lx_close(d);
		return rc;
	}
	/* Make sure it is an RTC: an invalid time still is one. */
	rc = lx_read(d, &t);
	if (rc < 0 && rc != -ENODATA && rc != -EINVAL) {
		snprintf(err, errlen, "%s", d->err);
		lx_close(d);
		return rc;
	}
	d->err[0] = '\0';
	*out = d;
	return 0;
}
