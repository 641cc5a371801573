/* gate.c - the start gate and frame clock of libfleetclock-gate, see
 * fleetclock_gate.h. The wait itself is common/precise_wait (the agent's
 * --at wait, one implementation). */
#include "fleetclock_gate.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "time/precise_wait.h"
#include "time/timeutil.h"

#define GATE_API __attribute__((visibility("default")))

static bool gate_ready_sent;
static bool gate_go_sent;

static int64_t ts_ns(struct timespec ts)
{
	return (int64_t)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

static struct timespec ns_ts(int64_t ns)
{
	struct timespec ts = { ns / NSEC_PER_SEC, ns % NSEC_PER_SEC };

	if (ts.tv_nsec < 0) {
		ts.tv_nsec += NSEC_PER_SEC;
		ts.tv_sec--;
	}
	return ts;
}

GATE_API int fleetclock_parse_ns(const char *text, struct timespec *out)
{
	int64_t ns = 0;

	if (!text || !*text)
		return -EINVAL;
	for (const char *p = text; *p; p++) {
		if (*p < '0' || *p > '9' || ns > (INT64_MAX - 9) / 10)
			return -EINVAL;
		ns = ns * 10 + (*p - '0');
	}
	if (ns == 0)
		return -EINVAL;
	*out = ns_ts(ns);
	return 0;
}

GATE_API int fleetclock_start_at(struct timespec *at)
{
	const char *v = getenv(FLEETCLOCK_START_AT_NS_ENV);

	if (!v)
		return -ENOENT;
	return fleetclock_parse_ns(v, at);
}

/* The agent's pipe from FLEETCLOCK_READY_FD, or -1. */
static int ready_fd(void)
{
	const char *v = getenv(FLEETCLOCK_READY_FD_ENV);
	char *end;
	long fd;

	if (!v || !*v)
		return -1;
	errno = 0;
	fd = strtol(v, &end, 10);
	if (errno || *end || fd < 0 || fd > 65535)
		return -1;
	return (int)fd;
}

/* One line to the agent; the write is atomic (< PIPE_BUF). */
static int tell_agent(const char *line)
{
	int fd = ready_fd();
	size_t len = strlen(line);

	if (fd < 0)
		return -ENOENT;
	if (write(fd, line, len) != (ssize_t)len)
		return errno ? -errno : -EIO;
	return 0;
}

GATE_API int fleetclock_ready(void)
{
	struct timespec now;
	char line[64];
	int rc;

	if (gate_ready_sent)
		return 0;
	clock_gettime(CLOCK_REALTIME, &now);
	snprintf(line, sizeof(line), "ready %lld\n", (long long)ts_ns(now));
	rc = tell_agent(line);
	if (rc == 0)
		gate_ready_sent = true;
	return rc;
}

/* The wait's stages: at a real-time policy (the agent's --rt, or chrt) a
 * busy-poll of the last PRECISE_WAIT_RT_SPIN_NS, as the agent's own --at
 * does; at normal priority a spinning task loses the CPU to woken tasks and
 * is released later, not earlier (precise_wait.h), so there is none. */
static struct precise_wait_opts gate_wait_opts(void)
{
	struct precise_wait_opts o = PRECISE_WAIT_OPTS_DEFAULT;
	int policy = sched_getscheduler(0);

	if (policy == SCHED_FIFO || policy == SCHED_RR)
		o.spin_ns = PRECISE_WAIT_RT_SPIN_NS;
	return o;
}

GATE_API int fleetclock_wait_until(struct timespec at, struct fleetclock_start *out)
{
	struct precise_wait_opts o = gate_wait_opts();
	struct precise_wait_stats st;
	struct fleetclock_start local;
	int rc;

	if (!out)
		out = &local;
	memset(out, 0, sizeof(*out));
	out->at = at;
	rc = precise_wait_until(at, &o, &st);
	if (rc < 0)
		return rc;
	out->released = st.woke;
	out->late_ns = timeutil_ts_diff_ns(st.woke, at);
	out->steps = st.steps;
	return 0;
}

/* "go NS STEPS\n" into buf (at least 48 bytes) without stdio: this runs in
 * the microseconds after the release, where a first call into printf's
 * code pages costs several page faults (measured ~10 us on this VM). */
static size_t format_go(char *buf, int64_t ns, unsigned steps)
{
	char digits[24];
	size_t n = 0, k;
	uint64_t v;

	buf[n++] = 'g';
	buf[n++] = 'o';
	buf[n++] = ' ';
	for (int part = 0; part < 2; part++) {
		v = part == 0 ? (uint64_t)(ns < 0 ? 0 : ns) : steps;
		k = 0;
		do
			digits[k++] = (char)('0' + v % 10);
		while ((v /= 10) && k < sizeof(digits));
		while (k)
			buf[n++] = digits[--k];
		buf[n++] = part == 0 ? ' ' : '\n';
	}
	return n;
}

GATE_API int fleetclock_wait_start(struct fleetclock_start *out)
{
	struct fleetclock_start local;
	struct timespec at;
	char line[64];
	int rc = fleetclock_start_at(&at);
	int fd = ready_fd();

	if (rc < 0)
		return rc;
	if (!out)
		out = &local;
	fleetclock_ready();	/* no agent (run by hand): still wait */
	if (!gate_go_sent && fd >= 0)
		/* the number may be reused by the next open(): children must
		 * not write to it (done now: nothing runs here until T) */
		unsetenv(FLEETCLOCK_READY_FD_ENV);
	rc = fleetclock_wait_until(at, out);
	if (rc == 0 && !gate_go_sent) {
		gate_go_sent = true;
		if (fd >= 0) {
			size_t n = format_go(line, ts_ns(out->released), out->steps);

			if (write(fd, line, n) != (ssize_t)n) {
				/* the agent is gone: nothing to tell */
			}
			close(fd);	/* the agent sees EOF: nothing more */
		}
	}
	return rc;
}

GATE_API const char *fleetclock_gate_strerror(int rc)
{
	switch (rc) {
	case 0:
		return "ok";
	case -ENOENT:
		return FLEETCLOCK_START_AT_NS_ENV " is not set: start this program with "
		       "fleetclock-agent --at TIME --arm -- CMD (or set it to the start instant "
		       "in ns since the epoch)";
	case -EINVAL:
		return FLEETCLOCK_START_AT_NS_ENV " is not a number of nanoseconds since the epoch";
	default:
		return strerror(-rc);
	}
}

GATE_API int fleetclock_frames_init(struct fleetclock_frames *f, struct timespec start,
				    int64_t period_num, int64_t period_den)
{
	if (period_num <= 0 || period_den <= 0 || ts_ns(start) <= 0)
		return -EINVAL;
	*f = (struct fleetclock_frames){ .start = start, .period_num = period_num,
					 .period_den = period_den,
					 .late_ns = period_num / period_den / 2 };
	precise_wait_set_slack();	/* wake-ups not batched 50 us late */
	return 0;
}

GATE_API struct timespec fleetclock_frame_time(const struct fleetclock_frames *f, uint64_t k)
{
	__int128 off = (__int128)k * f->period_num / f->period_den;

	return ns_ts(ts_ns(f->start) + (int64_t)off);
}

GATE_API void fleetclock_frames_pick(struct fleetclock_frames *f, struct timespec now, uint64_t *k)
{
	int64_t behind = ts_ns(now) - f->late_ns - ts_ns(f->start);
	uint64_t first = f->next;

	if (timeutil_ts_diff_ns(now, fleetclock_frame_time(f, first)) > f->late_ns) {
		/* the first frame whose instant is >= now - late_ns */
		__int128 c = ((__int128)behind * f->period_den + f->period_num - 1) / f->period_num;

		first = c > (__int128)first ? (uint64_t)c : first;
		while (first > f->next &&
		       timeutil_ts_diff_ns(now, fleetclock_frame_time(f, first - 1)) <= f->late_ns)
			first--;
		while (timeutil_ts_diff_ns(now, fleetclock_frame_time(f, first)) > f->late_ns)
			first++;
	}
	f->skipped += first - f->next;
	f->next = first + 1;
	*k = first;
}

GATE_API int fleetclock_frames_wait(struct fleetclock_frames *f, uint64_t *k, struct timespec *at)
{
	for (;;) {
		struct timespec now, t;
		int rc;

		clock_gettime(CLOCK_REALTIME, &now);
		fleetclock_frames_pick(f, now, k);
		t = fleetclock_frame_time(f, *k);
		do {
			do
				rc = clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &t, NULL);
			while (rc == EINTR);
			if (rc)
				return -rc;
			clock_gettime(CLOCK_REALTIME, &now);
		} while (timeutil_ts_diff_ns(t, now) > 0);	/* woke early: a step back */
		if (timeutil_ts_diff_ns(now, t) <= f->late_ns) {
			if (at)
				*at = t;
			return 0;
		}
		f->skipped++;	/* stepped forward or descheduled past it */
	}
}
