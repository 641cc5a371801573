/* rtc_ds1307.h - a DS1307 reached directly on /dev/i2c-N through libi2c. */
#ifndef FLEETCLOCK_RTC_DS1307_H
#define FLEETCLOCK_RTC_DS1307_H

#include "rtc/rtc.h"

/* Open path, claim address 0x68 and read register 0 once to see the chip.
 * -EBUSY: a kernel driver owns the chip (use /dev/rtcN); -ENXIO: nothing
 * answers at 0x68; -ENOENT: no such bus. err names the cause. */
int rtc_ds1307_open(const char *path, struct rtc_dev **out, char *err, size_t errlen);

#endif
