/* rtc_linux.h - an RTC behind a kernel driver, /dev/rtcN. */
#ifndef FLEETCLOCK_RTC_LINUX_H
#define FLEETCLOCK_RTC_LINUX_H

#include "rtc/rtc.h"

/* Open path. -ENOENT: no such device; -EACCES: not allowed. */
int rtc_linux_open(const char *path, struct rtc_dev **out, char *err, size_t errlen);

#endif
