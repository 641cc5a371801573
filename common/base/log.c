/* log.c - leveled logging, see log.h */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *log_ident = "fleetclock";
static int log_max_level = LOG_INFO;
static bool log_syslog;

void log_init(const char *ident, int max_level, bool use_syslog)
{
	log_ident = ident ? ident : "fleetclock";
	log_max_level = max_level;
	log_syslog = use_syslog;
	if (use_syslog)
		openlog(log_ident, LOG_PID, LOG_DAEMON);
}

static const char *level_name(int level)
{
	switch (level) {
	case LOG_EMERG: case LOG_ALERT: case LOG_CRIT: case LOG_ERR:
		return "error";
	case LOG_WARNING:
		return "warning";
	case LOG_NOTICE: case LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

static void log_vmsg(int level, const char *prefix, const char *fmt, va_list ap)
{
	char buf[1024];

	if (level > log_max_level)
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (log_syslog) {
		syslog(level, "%s%s", prefix, buf);
		return;
	}
	fprintf(stderr, "%s: %s: %s%s\n", log_ident, level_name(level), prefix, buf);
}

void log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, "", fmt, ap);
	va_end(ap);
}

void log_ratelimited(struct log_ratelimit *rl, int level, const char *fmt, ...)
{
	struct timespec now;
	double t;
	char prefix[64] = "";
	va_list ap;

	clock_gettime(CLOCK_MONOTONIC, &now);
	t = now.tv_sec + now.tv_nsec * 1e-9;
	if (t - rl->last_s < rl->interval_s) {
		rl->suppressed++;
		return;
	}
	if (rl->suppressed)
		snprintf(prefix, sizeof(prefix), "(%u similar messages suppressed) ", rl->suppressed);
	rl->last_s = t;
	rl->suppressed = 0;
	va_start(ap, fmt);
	log_vmsg(level, prefix, fmt, ap);
	va_end(ap);
}
