/* vclock.c - LD_PRELOAD library giving every process of one simulated node
 * the node's private CLOCK_REALTIME (see vclock_state.h for the model).
 *
 * Load with LD_PRELOAD=libfleetclock-vclock.so and FLEETCLOCK_VCLOCK_STATE
 * naming the node's state file (made by fleetclock-vclock create). Without
 * a valid state file the process aborts at load: a simulated chronyd must
 * never fall through to the real clock.
 *
 * Intercepted:
 *  - clock_gettime (REALTIME, REALTIME_COARSE, TAI), gettimeofday, time:
 *    virtual time; clock_gettime(MONOTONIC_RAW): the node's oscillator
 *    (drift only, see vclock_state.h). CLOCK_MONOTONIC/BOOTTIME are left
 *    alone (real): a real kernel scales them with freq/tick, but chronyd's
 *    loop and the agent only use them for intervals, where < 0.1 % is
 *    harmless.
 *  - clock_settime(REALTIME), settimeofday: set the virtual clock.
 *  - adjtimex, ntp_adjtime, clock_adjtime(REALTIME): emulated on the
 *    virtual clock (vclock_core_adjtimex); the real one is never called.
 *  - clock_nanosleep(REALTIME, TIMER_ABSTIME): waits until the virtual
 *    deadline, re-mapping at most every 100 ms so rate changes and steps
 *    are followed.
 *  - timerfd_settime on REALTIME timerfds with TFD_TIMER_ABSTIME: armed at
 *    the mapped real instant; a watcher thread re-maps them on every step
 *    and makes TFD_TIMER_CANCEL_ON_SET ones report ECANCELED on read().
 *  - setsockopt SO_TIMESTAMP/SO_TIMESTAMPNS/SO_TIMESTAMPING (old and new
 *    numbers): refused with ENOPROTOOPT, so chronyd timestamps packets
 *    itself with the virtual clock.
 * Calls made inside glibc (e.g. syslog's header) stay real: cosmetic. */
#include "vclock_state.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_S 1000000000LL
#define VC_MAX_TFD 1024
#define VC_SLEEP_CHUNK_NS 100000000LL

#define VC_EXPORT __attribute__((visibility("default")))

/* The interposed prototypes, declared for -Wmissing-prototypes. */
VC_EXPORT int adjtimex(struct timex *tx);
VC_EXPORT int ntp_adjtime(struct timex *tx);
VC_EXPORT int clock_adjtime(clockid_t clk, struct timex *tx);
VC_EXPORT ssize_t read(int fd, void *buf, size_t n);
VC_EXPORT int close(int fd);

static struct vclock_state *vc_st;
static int (*real_clock_gettime)(clockid_t, struct timespec *);
static int (*real_clock_nanosleep)(clockid_t, int, const struct timespec *, struct timespec *);
static int (*real_clock_adjtime)(clockid_t, struct timex *);
static int (*real_clock_settime)(clockid_t, const struct timespec *);
static int (*real_timerfd_create)(int, int);
static int (*real_timerfd_settime)(int, int, const struct itimerspec *, struct itimerspec *);
static ssize_t (*real_read)(int, void *, size_t);
static int (*real_setsockopt)(int, int, int, const void *, socklen_t);
static int (*real_close)(int);

/* REALTIME timerfds of this process. */
struct vc_tfd {
	unsigned char realtime;   /* created on CLOCK_REALTIME */
	unsigned char armed_abs;  /* armed with an absolute virtual deadline */
	unsigned char cancel_on_set;
	unsigned char cancelled;  /* a step happened: next read -> ECANCELED */
	unsigned char expired;    /* a one-shot that had fired before the step */
	uint32_t gen;             /* step_gen when armed */
	int64_t deadline_virt_ns;
	struct timespec interval;
};
static struct vc_tfd vc_tfd[VC_MAX_TFD];
static pthread_mutex_t vc_tfd_mutex = PTHREAD_MUTEX_INITIALIZER;
static int vc_watcher_started;

static void vc_die(const char *what, const char *path, int err)
{
	char msg[512];
	int n = snprintf(msg, sizeof(msg),
			 "fleetclock-vclock: %s %s: %s; refusing to run on the real clock\n", what,
			 path ? path : "(unset " VCLOCK_ENV ")", strerror(err));

	if (n > 0)
		(void)!write(2, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
	abort();
}

static void *vc_sym(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (!p)
		vc_die("dlsym", name, ENOENT);
	return p;
}

/* Resolve the real functions. Other libraries' constructors may call read()
 * or close() before ours runs, so every wrapper makes sure of this first. */
static void vc_resolve(void)
{
	if (real_close)
		return;
	real_clock_gettime = vc_sym("clock_gettime");
	real_clock_nanosleep = vc_sym("clock_nanosleep");
	real_clock_adjtime = vc_sym("clock_adjtime");
	real_clock_settime = vc_sym("clock_settime");
	real_timerfd_create = vc_sym("timerfd_create");
	real_timerfd_settime = vc_sym("timerfd_settime");
	real_read = vc_sym("read");
	real_setsockopt = vc_sym("setsockopt");
	__atomic_store_n(&real_close, (int (*)(int))vc_sym("close"), __ATOMIC_RELEASE);
}

__attribute__((constructor)) static void vc_init(void)
{
	const char *path;
	struct stat sb;
	void *map;
	int fd;

	vc_resolve();
	if (vc_st)
		return;
	path = getenv(VCLOCK_ENV);
	if (!path || !*path)
		vc_die("no state file", NULL, ENOENT);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		vc_die("open", path, errno);
	if (fstat(fd, &sb) < 0 || sb.st_size < (off_t)sizeof(struct vclock_state))
		vc_die("state file too short", path, EINVAL);
	map = mmap(NULL, sizeof(struct vclock_state), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		vc_die("mmap", path, errno);
	real_close(fd);
	if (vclock_core_validate(map) < 0)
		vc_die("bad magic/version in", path, EINVAL);
	/* Mapped while still root: the mapping survives chronyd's privilege
	 * drop, fork and exec is handled by loading again. */
	vc_st = map;
}

/* Load the state if a wrapper runs before our constructor did. */
static inline void vc_ensure(void)
{
	if (!__builtin_expect(vc_st != NULL, 1))
		vc_init();
}

static int64_t vc_real_now(void)
{
	struct timespec ts;

	real_clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static int64_t vc_virt_now(void)
{
	struct vclock_snap s;

	vclock_core_snap(vc_st, &s);
	return vclock_core_virt(&s, vc_real_now());
}

static struct timespec vc_ts(int64_t ns)
{
	struct timespec ts;

	ts.tv_sec = ns / NS_PER_S;
	ts.tv_nsec = ns % NS_PER_S;
	if (ts.tv_nsec < 0) {
		ts.tv_nsec += NS_PER_S;
		ts.tv_sec--;
	}
	return ts;
}

static int64_t vc_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * NS_PER_S + ts->tv_nsec;
}

static void vc_wake_steppers(void)
{
	syscall(SYS_futex, &vc_st->step_gen, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* REALTIME (and COARSE, TAI) read the virtual clock, MONOTONIC_RAW the
 * node's oscillator; other clocks are real. */
VC_EXPORT int clock_gettime(clockid_t clk, struct timespec *ts)
{
	vc_ensure();
	if (clk == CLOCK_REALTIME || clk == CLOCK_REALTIME_COARSE) {
		*ts = vc_ts(vc_virt_now());
		return 0;
	}
	if (clk == CLOCK_MONOTONIC_RAW) {
		struct timespec rt;
		int r = real_clock_gettime(CLOCK_REALTIME, &rt);
		struct vclock_snap s;

		if (r == 0) {
			vclock_core_snap(vc_st, &s);
			*ts = vc_ts(vclock_core_raw(&s, vc_ns(&rt)));
		}
		return r;
	}
	if (clk == CLOCK_TAI) {
		struct timespec rt;
		int r = real_clock_gettime(CLOCK_TAI, ts);

		if (r == 0 && real_clock_gettime(CLOCK_REALTIME, &rt) == 0) {
			struct vclock_snap s;

			vclock_core_snap(vc_st, &s);
			*ts = vc_ts(vc_ns(ts) - vc_ns(&rt) + vclock_core_virt(&s, vc_ns(&rt)));
		}
		return r;
	}
	return real_clock_gettime(clk, ts);
}

/* Virtual time in microseconds; tz is zeroed. */
VC_EXPORT int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
	vc_ensure();
	struct timespec ts = vc_ts(vc_virt_now());

	tv->tv_sec = ts.tv_sec;
	tv->tv_usec = ts.tv_nsec / 1000;
	if (tz)
		memset(tz, 0, sizeof(struct timezone));
	return 0;
}

/* Virtual whole seconds. */
VC_EXPORT time_t time(time_t *t)
{
	vc_ensure();
	time_t s = (time_t)(vc_virt_now() / NS_PER_S);

	if (t)
		*t = s;
	return s;
}

static int vc_set(int64_t virt_ns)
{
	int64_t now;

	vclock_core_lock(vc_st, (uint32_t)getpid());
	now = vc_real_now();
	{
		struct vclock_snap s = { .anchor_real_ns = vc_st->anchor_real_ns,
					 .anchor_virt_ns = vc_st->anchor_virt_ns, .rate_m1 = vc_st->rate_m1 };

		vclock_core_step(vc_st, now, virt_ns - vclock_core_virt(&s, now));
	}
	vclock_core_unlock(vc_st);
	vc_wake_steppers();
	return 0;
}

/* REALTIME: steps the virtual clock (EINVAL on a bad timespec). */
VC_EXPORT int clock_settime(clockid_t clk, const struct timespec *ts)
{
	vc_ensure();
	if (clk != CLOCK_REALTIME)
		return real_clock_settime(clk, ts);
	if (ts->tv_nsec < 0 || ts->tv_nsec >= NS_PER_S) {
		errno = EINVAL;
		return -1;
	}
	return vc_set(vc_ns(ts));
}

/* Steps the virtual clock; a timezone alone is ignored. */
VC_EXPORT int settimeofday(const struct timeval *tv, const struct timezone *tz)
{
	vc_ensure();
	if (!tv)
		return 0; /* timezone only: nothing to emulate */
	if (tv->tv_usec < 0 || tv->tv_usec >= 1000000) {
		errno = EINVAL;
		return -1;
	}
	return vc_set((int64_t)tv->tv_sec * NS_PER_S + tv->tv_usec * 1000);
}

/* The kernel's adjtimex on the virtual clock; -1/errno like the kernel. */
VC_EXPORT int adjtimex(struct timex *tx)
{
	uint32_t gen;
	int r;

	vc_ensure();
	gen = __atomic_load_n(&vc_st->step_gen, __ATOMIC_ACQUIRE);
	vclock_core_lock(vc_st, (uint32_t)getpid());
	r = vclock_core_adjtimex(vc_st, vc_real_now(), tx);
	vclock_core_unlock(vc_st);
	if (__atomic_load_n(&vc_st->step_gen, __ATOMIC_ACQUIRE) != gen)
		vc_wake_steppers();
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return r;
}

/* Same as adjtimex (glibc's second name for it). */
VC_EXPORT int ntp_adjtime(struct timex *tx)
{
	return adjtimex(tx);
}

/* REALTIME: adjtimex on the virtual clock; other clocks pass through. */
VC_EXPORT int clock_adjtime(clockid_t clk, struct timex *tx)
{
	vc_ensure();
	if (clk != CLOCK_REALTIME)
		return real_clock_adjtime(clk, tx);
	return adjtimex(tx);
}

/* REALTIME + TIMER_ABSTIME: wait for the virtual deadline; returns an errno. */
VC_EXPORT int clock_nanosleep(clockid_t clk, int flags, const struct timespec *req,
			      struct timespec *rem)
{
	vc_ensure();
	int64_t deadline;

	if (clk != CLOCK_REALTIME || !(flags & TIMER_ABSTIME))
		return real_clock_nanosleep(clk, flags, req, rem);
	if (req->tv_nsec < 0 || req->tv_nsec >= NS_PER_S)
		return EINVAL;
	deadline = vc_ns(req);
	for (;;) {
		struct vclock_snap s;
		int64_t real_now = vc_real_now(), target;
		struct timespec t;
		int r;

		vclock_core_snap(vc_st, &s);
		if (vclock_core_virt(&s, real_now) >= deadline)
			return 0;
		target = vclock_core_real(&s, deadline);
		if (target > real_now + VC_SLEEP_CHUNK_NS)
			target = real_now + VC_SLEEP_CHUNK_NS;
		t = vc_ts(target);
		r = real_clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &t, NULL);
		if (r != 0)
			return r;
	}
}

/* The real timerfd, remembered when it runs on CLOCK_REALTIME. */
VC_EXPORT int timerfd_create(int clk, int flags)
{
	vc_ensure();
	int fd = real_timerfd_create(clk, flags);

	if (fd >= 0 && fd < VC_MAX_TFD) {
		pthread_mutex_lock(&vc_tfd_mutex);
		memset(&vc_tfd[fd], 0, sizeof(vc_tfd[fd]));
		vc_tfd[fd].realtime = clk == CLOCK_REALTIME;
		pthread_mutex_unlock(&vc_tfd_mutex);
	}
	return fd;
}

/* Arm the real timer of t (fd) for its virtual deadline; the lock is held. */
static int vc_tfd_arm(int fd, struct vc_tfd *t, struct itimerspec *old)
{
	struct vclock_snap s;
	struct itimerspec its;

	vclock_core_snap(vc_st, &s);
	its.it_interval = t->interval;
	its.it_value = vc_ts(vclock_core_real(&s, t->deadline_virt_ns));
	if (its.it_value.tv_sec <= 0)
		its.it_value = (struct timespec){ 0, 1 };
	t->gen = s.step_gen;
	return real_timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, old);
}

/* After a step: re-map absolute timers, cancel CANCEL_ON_SET ones. */
static void vc_tfd_on_step(uint32_t gen)
{
	pthread_mutex_lock(&vc_tfd_mutex);
	for (int fd = 0; fd < VC_MAX_TFD; fd++) {
		struct vc_tfd *t = &vc_tfd[fd];
		struct itimerspec now1 = { { 0, 0 }, { 0, 1 } };

		struct itimerspec cur;

		if (!t->armed_abs || t->gen == gen)
			continue;
		/* A one-shot that already fired stays disarmed, as in the kernel. */
		t->expired = timerfd_gettime(fd, &cur) == 0 && !cur.it_value.tv_sec &&
			     !cur.it_value.tv_nsec;
		t->gen = gen;
		if (t->cancel_on_set) {
			t->cancelled = 1;
			real_timerfd_settime(fd, 0, &now1, NULL);
		} else if (!t->expired) {
			vc_tfd_arm(fd, t, NULL);
		}
	}
	pthread_mutex_unlock(&vc_tfd_mutex);
}

static void *vc_watcher(void *arg)
{
	uint32_t seen = __atomic_load_n(&vc_st->step_gen, __ATOMIC_ACQUIRE);

	for (;;) {
		struct timespec to = { 0, 100000000 };
		uint32_t gen;

		syscall(SYS_futex, &vc_st->step_gen, FUTEX_WAIT, seen, &to, NULL, 0);
		gen = __atomic_load_n(&vc_st->step_gen, __ATOMIC_ACQUIRE);
		if (gen != seen) {
			vc_tfd_on_step(gen);
			seen = gen;
		}
	}
	return arg;
}

static void vc_atfork_child(void)
{
	vc_watcher_started = 0;
}

static void vc_start_watcher(void)
{
	pthread_t th;
	pthread_attr_t a;

	if (vc_watcher_started)
		return;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &a, vc_watcher, NULL) == 0) {
		vc_watcher_started = 1;
		pthread_atfork(NULL, NULL, vc_atfork_child);
	}
	pthread_attr_destroy(&a);
}

/* Absolute REALTIME deadlines are virtual: armed at the mapped real instant. */
VC_EXPORT int timerfd_settime(int fd, int flags, const struct itimerspec *nv,
			      struct itimerspec *old)
{
	struct vc_tfd *t;
	int r;

	vc_ensure();
	if (fd < 0 || fd >= VC_MAX_TFD || !vc_tfd[fd].realtime)
		return real_timerfd_settime(fd, flags, nv, old);
	pthread_mutex_lock(&vc_tfd_mutex);
	t = &vc_tfd[fd];
	t->cancelled = 0;
	t->expired = 0;
	t->armed_abs = (flags & TFD_TIMER_ABSTIME) && (nv->it_value.tv_sec || nv->it_value.tv_nsec);
	if (!t->armed_abs) {
		r = real_timerfd_settime(fd, flags & ~TFD_TIMER_CANCEL_ON_SET, nv, old);
		goto out;
	}
	t->cancel_on_set = !!(flags & TFD_TIMER_CANCEL_ON_SET);
	t->deadline_virt_ns = vc_ns(&nv->it_value);
	t->interval = nv->it_interval;
	r = vc_tfd_arm(fd, t, old);
	if (r == 0)
		vc_start_watcher();
out:
	pthread_mutex_unlock(&vc_tfd_mutex);
	return r;
}

/* A step cancelled this CANCEL_ON_SET timerfd: clear the flag, re-arm for
 * the deadline mapped after the step (like the kernel's still-armed timer)
 * and fail with ECANCELED. Whether the forced wake-up was consumed already
 * (read blocked before the step) or not, the caller sees the cancel. */
static ssize_t vc_tfd_cancelled(int fd, bool consume)
{
	struct vc_tfd *t = &vc_tfd[fd];
	uint64_t ticks;

	if (consume)
		(void)!real_read(fd, &ticks, sizeof(ticks));
	pthread_mutex_lock(&vc_tfd_mutex);
	t->cancelled = 0;
	if (!t->expired)
		vc_tfd_arm(fd, t, NULL);
	pthread_mutex_unlock(&vc_tfd_mutex);
	errno = ECANCELED;
	return -1;
}

/* ECANCELED on a CANCEL_ON_SET timerfd after a virtual step; else real. */
VC_EXPORT ssize_t read(int fd, void *buf, size_t n)
{
	ssize_t r;

	vc_resolve();
	if (fd < 0 || fd >= VC_MAX_TFD || !vc_tfd[fd].realtime)
		return real_read(fd, buf, n);
	if (__atomic_load_n(&vc_tfd[fd].cancelled, __ATOMIC_ACQUIRE))
		return vc_tfd_cancelled(fd, true);
	r = real_read(fd, buf, n);
	/* Blocked in read when the step came: the watcher's forced expiry woke
	 * us; the kernel would have answered ECANCELED. */
	if (r > 0 && __atomic_load_n(&vc_tfd[fd].cancelled, __ATOMIC_ACQUIRE))
		return vc_tfd_cancelled(fd, false);
	return r;
}

/* Real close; forgets the descriptor's timerfd state. */
VC_EXPORT int close(int fd)
{
	vc_resolve();
	/* Forget a timerfd so a reused descriptor number is not mistaken
	 * for it. */
	if (fd >= 0 && fd < VC_MAX_TFD && vc_tfd[fd].realtime) {
		pthread_mutex_lock(&vc_tfd_mutex);
		memset(&vc_tfd[fd], 0, sizeof(vc_tfd[fd]));
		pthread_mutex_unlock(&vc_tfd_mutex);
	}
	return real_close(fd);
}

static int vc_is_timestamping(int level, int opt)
{
	if (level != SOL_SOCKET)
		return 0;
	switch (opt) {
	case 29: /* SO_TIMESTAMP_OLD */
	case 35: /* SO_TIMESTAMPNS_OLD */
	case 37: /* SO_TIMESTAMPING_OLD */
	case 63: /* SO_TIMESTAMP_NEW */
	case 64: /* SO_TIMESTAMPNS_NEW */
	case 65: /* SO_TIMESTAMPING_NEW */
		return 1;
	default:
		return 0;
	}
}

/* Refuses kernel timestamping (ENOPROTOOPT); everything else is real. */
VC_EXPORT int setsockopt(int fd, int level, int opt, const void *val, socklen_t len)
{
	vc_resolve();
	if (vc_is_timestamping(level, opt)) {
		errno = ENOPROTOOPT;
		return -1;
	}
	return real_setsockopt(fd, level, opt, val, len);
}
