/* rtc_ds1307.c - DS1307 over /dev/i2c-N with libi2c: one 7-byte burst per
 * read (rollover-safe: the chip copies its registers on START), seconds
 * first on a write (the divider resets there), NVRAM in <= 32-byte blocks. */
#include "rtc/rtc_ds1307.h"

#include <errno.h>
#include <fcntl.h>
#include <i2c/smbus.h>
#include <linux/i2c-dev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define BLOCK_MAX 32

/* The usual reason behind an I2C errno. */
static const char *hint(int e)
{
	switch (e) {
	case ENXIO:
	case EREMOTEIO:
		return " (no acknowledge from 0x68: chip missing, unpowered or bus wiring)";
	case ETIMEDOUT:
		return " (bus timeout: SDA/SCL held low?)";
	case EIO:
		return " (transfer failed on the bus)";
	default:
		return "";
	}
}

static int io_fail(struct rtc_dev *d, int rc, const char *op)
{
	return rtc_fail(d, rc, "DS1307 at 0x68: %s: %s%s", op, strerror(-rc), hint(-rc));
}

static int ds_read(struct rtc_dev *d, struct ds1307_time *out)
{
	uint8_t regs[DS1307_CLOCK_REGS];
	char why[200];
	int rc = i2c_smbus_read_i2c_block_data(d->fd, 0x00, DS1307_CLOCK_REGS, regs);

	if (rc < 0)
		return io_fail(d, rc, "reading registers 0x00-0x06");
	if (rc != DS1307_CLOCK_REGS)
		return rtc_fail(d, -EIO, "DS1307 at 0x68: reading registers 0x00-0x06: %d bytes, not 7", rc);
	rc = ds1307_decode_time(regs, out, why, sizeof(why));
	if (rc < 0)
		return rtc_fail(d, rc, "DS1307 time invalid: %s", why);
	return 0;
}

static int ds_read_seconds(struct rtc_dev *d, int *sec)
{
	int rc = i2c_smbus_read_byte_data(d->fd, 0x00);

	if (rc < 0)
		return io_fail(d, rc, "reading the seconds register");
	if (rc & DS1307_CH)
		return rtc_fail(d, -ENODATA, "DS1307 clock halted (CH set in register 0x00)");
	*sec = ds1307_bcd_decode((uint8_t)(rc & 0x7f));
	if (*sec < 0 || *sec > 59)
		return rtc_fail(d, -EINVAL, "DS1307 register 0x00 (seconds): 0x%02x is not BCD 0-59", rc);
	return 0;
}

static int ds_set(struct rtc_dev *d, int64_t epoch)
{
	uint8_t regs[DS1307_CLOCK_REGS];
	char why[160];
	int rc = ds1307_check_range(epoch, why, sizeof(why));

	if (rc < 0 || (rc = ds1307_encode_time(epoch, regs)) < 0)
		return rtc_fail(d, rc, "DS1307 at 0x68: setting the time: %s", why);
	/* One transaction from register 0: the seconds (with CH clear) come
	 * first and restart the divider; the rest follow within a millisecond. */
	rc = i2c_smbus_write_i2c_block_data(d->fd, 0x00, DS1307_CLOCK_REGS, regs);
	if (rc < 0)
		return io_fail(d, rc, "writing registers 0x00-0x06");
	return 0;
}

static int ds_nvram_read(struct rtc_dev *d, size_t off, uint8_t *buf, size_t len)
{
	while (len) {
		size_t n = len > BLOCK_MAX ? BLOCK_MAX : len;
		int rc = i2c_smbus_read_i2c_block_data(d->fd, (uint8_t)(DS1307_NVRAM_START + off),
						       (uint8_t)n, buf);
		if (rc < 0)
			return io_fail(d, rc, "reading NVRAM");
		if ((size_t)rc != n)
			return rtc_fail(d, -EIO, "DS1307 at 0x68: reading NVRAM: %d bytes, not %zu", rc, n);
		off += n;
		buf += n;
		len -= n;
	}
	return 0;
}

static int ds_nvram_write(struct rtc_dev *d, size_t off, const uint8_t *buf, size_t len)
{
	while (len) {
		size_t n = len > BLOCK_MAX ? BLOCK_MAX : len;
		int rc = i2c_smbus_write_i2c_block_data(d->fd, (uint8_t)(DS1307_NVRAM_START + off),
							(uint8_t)n, buf);
		if (rc < 0)
			return io_fail(d, rc, "writing NVRAM");
		off += n;
		buf += n;
		len -= n;
	}
	return 0;
}

static void ds_close(struct rtc_dev *d)
{
	if (d->fd >= 0)
		close(d->fd);
	free(d);
}

static const struct rtc_ops ds1307_ops = {
	.kind = "ds1307",
	.read = ds_read,
	.read_seconds = ds_read_seconds,
	.set = ds_set,
	.nvram_read = ds_nvram_read,
	.nvram_write = ds_nvram_write,
	.close = ds_close,
	/* At 100 kHz a byte is 90 us: the repeated START that latches a read
	 * comes after 2 of 10 bytes (block) or 2 of 4 (seconds); the seconds
	 * byte of a write is acknowledged after 3 of 9. */
	.read_latch = 0.2,
	.seconds_latch = 0.5,
	.set_latch = 0.33,
	.set_lead = 0.30e-3,
};

static int claim(struct rtc_dev *d)
{
	unsigned long funcs = 0;
	int rc;

	if (ioctl(d->fd, I2C_FUNCS, &funcs) < 0)
		return rtc_fail(d, -errno, "I2C_FUNCS: %s (not an I2C adapter?)", strerror(errno));
	if (!(funcs & I2C_FUNC_SMBUS_READ_I2C_BLOCK) || !(funcs & I2C_FUNC_SMBUS_WRITE_I2C_BLOCK))
		return rtc_fail(d, -EOPNOTSUPP, "the adapter cannot do I2C block transfers");
	if (ioctl(d->fd, I2C_SLAVE, DS1307_ADDRESS) < 0) {
		rc = -errno;
		if (rc == -EBUSY)
			return rtc_fail(d, rc, "address 0x68 is in use by a kernel driver (rtc-ds1307 "
					"bound, e.g. dtoverlay=i2c-rtc,ds1307): use rtc = /dev/rtcN instead");
		return rtc_fail(d, rc, "I2C_SLAVE 0x68: %s", strerror(-rc));
	}
	rc = i2c_smbus_read_byte_data(d->fd, 0x00);
	if (rc < 0)
		return io_fail(d, rc, "probing register 0x00");
	return 0;
}

int rtc_ds1307_open(const char *path, struct rtc_dev **out, char *err, size_t errlen)
{
	struct rtc_dev *d = calloc(1, sizeof(*d));
	int rc;

	*out = NULL;
	if (!d) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	d->ops = &ds1307_ops;
	snprintf(d->path, sizeof(d->path), "%s", path);
	snprintf(d->desc, sizeof(d->desc), "DS1307 at 0x68 on %s (libi2c)", path);
	d->fd = open(path, O_RDWR | O_CLOEXEC);
	if (d->fd < 0) {
		rc = -errno;
		rtc_fail(d, rc, "open: %s%s", strerror(errno),
			 errno == ENOENT ? " (no such I2C bus: i2c-dev loaded? I2C enabled?)" : "");
		goto out;
	}
	rc = claim(d);
out:
	if (rc < 0) {
		snprintf(err, errlen, "%s", d->err);
		ds_close(d);
		return rc;
	}
	*out = d;
	return 0;
}
