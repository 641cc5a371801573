/* rtc.c - the RTC front end: probing and the calls every backend shares. */
#include "rtc/rtc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rtc/rtc_ds1307.h"
#include "rtc/rtc_linux.h"

int rtc_fail(struct rtc_dev *d, int rc, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(d->err, sizeof(d->err), "%s: ", d->path);

	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(d->err))
		vsnprintf(d->err + n, sizeof(d->err) - (size_t)n, fmt, ap);
	va_end(ap);
	return rc;
}

/* Try every bus, then every rtc device; remember why each one failed. */
static int probe(struct rtc_dev **out, char *err, size_t errlen)
{
	char path[32], why[256];
	bool busy = false;
	int rc;

	for (int n = 0; n < 10; n++) {
		snprintf(path, sizeof(path), "/dev/i2c-%d", n);
		rc = rtc_ds1307_open(path, out, why, sizeof(why));
		if (rc == 0)
			return 0;
		busy |= rc == -EBUSY;
	}
	for (int n = 0; n < 4; n++) {
		snprintf(path, sizeof(path), "/dev/rtc%d", n);
		if (rtc_linux_open(path, out, why, sizeof(why)) == 0)
			return 0;
	}
	snprintf(err, errlen, "rtc = auto: no RTC found (tried a DS1307 at 0x68 on /dev/i2c-0..9 "
		 "and /dev/rtc0..3)%s", busy ? "; a kernel driver owns a chip at 0x68 but no /dev/rtcN "
		 "opened" : "");
	return busy ? -EBUSY : -ENODEV;
}

int rtc_open(const char *spec, struct rtc_dev **out, char *err, size_t errlen)
{
	*out = NULL;
	if (!spec || !*spec || !strcmp(spec, "none")) {
		snprintf(err, errlen, "no RTC configured (rtc = none)");
		return -ENODEV;
	}
	if (!strcmp(spec, "auto"))
		return probe(out, err, errlen);
	if (!strncmp(spec, "/dev/i2c-", 9))
		return rtc_ds1307_open(spec, out, err, errlen);
	if (!strncmp(spec, "/dev/rtc", 8))
		return rtc_linux_open(spec, out, err, errlen);
	snprintf(err, errlen, "rtc = '%s': expected auto, none, /dev/i2c-N or /dev/rtcN", spec);
	return -EINVAL;
}

void rtc_close(struct rtc_dev *d)
{
	if (d)
		d->ops->close(d);
}

int rtc_read(struct rtc_dev *d, struct ds1307_time *out)
{
	return d->ops->read(d, out);
}

int rtc_set(struct rtc_dev *d, int64_t epoch)
{
	if (epoch < DS1307_EPOCH_MIN || epoch >= DS1307_EPOCH_END)
		return rtc_fail(d, -ERANGE, "setting the time: %lld is outside 2000-2099, which the RTC "
				"cannot hold (is the system clock sane?)", (long long)epoch);
	return d->ops->set(d, epoch);
}

bool rtc_has_nvram(const struct rtc_dev *d)
{
	return d->ops->nvram_read != NULL;
}

int rtc_nvram_read(struct rtc_dev *d, size_t off, uint8_t *buf, size_t len)
{
	if (!d->ops->nvram_read)
		return rtc_fail(d, -EOPNOTSUPP, "no NVRAM through this backend");
	if (off > DS1307_NVRAM_SIZE || len > DS1307_NVRAM_SIZE - off)
		return rtc_fail(d, -EINVAL, "NVRAM read %zu+%zu beyond its %d bytes", off, len,
				DS1307_NVRAM_SIZE);
	return d->ops->nvram_read(d, off, buf, len);
}

int rtc_nvram_write(struct rtc_dev *d, size_t off, const uint8_t *buf, size_t len)
{
	if (!d->ops->nvram_write)
		return rtc_fail(d, -EOPNOTSUPP, "no NVRAM through this backend");
	if (off > DS1307_NVRAM_SIZE || len > DS1307_NVRAM_SIZE - off)
		return rtc_fail(d, -EINVAL, "NVRAM write %zu+%zu beyond its %d bytes", off, len,
				DS1307_NVRAM_SIZE);
	return d->ops->nvram_write(d, off, buf, len);
}

const char *rtc_describe(const struct rtc_dev *d)
{
	return d->desc;
}

const char *rtc_error(const struct rtc_dev *d)
{
	return d->err[0] ? d->err : "no error";
}
