/* log.h - leveled logging to stderr or syslog, with rate limiting for
 * errors that would otherwise repeat every second. */
#ifndef FLEETCLOCK_LOG_H
#define FLEETCLOCK_LOG_H

#include <stdbool.h>
#include <syslog.h>

/* Set the program name, the most verbose level printed (LOG_ERR..LOG_DEBUG)
 * and whether messages go to syslog instead of stderr. */
void log_init(const char *ident, int max_level, bool use_syslog);

/* Print one message at the given syslog level. Never fails. */
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/* A rate limiter: at most one message per interval; the number of
 * suppressed messages is reported with the next one that passes. */
struct log_ratelimit {
	double interval_s;
	double last_s;
	unsigned suppressed;
};

#define LOG_RATELIMIT_INIT(interval) { (interval), -1e300, 0 }

/* Like log_msg, but drops the message if one passed within the interval
 * (measured on CLOCK_MONOTONIC). */
void log_ratelimited(struct log_ratelimit *rl, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
