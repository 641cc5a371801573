/* ds1307_emu.c - a DS1307 on an emulated /dev/i2c-N (and, when "the kernel
 * driver is bound", on an emulated /dev/rtcN), as an LD_PRELOAD library.
 *
 * It intercepts open/openat/close/ioctl so that the real libi2c path
 * (I2C_SLAVE, I2C_FUNCS, I2C_SMBUS sizes 1/2/6/8, I2C_RDWR) and the RTC
 * ioctls (RTC_RD_TIME, RTC_SET_TIME) reach a model of the datasheet:
 * BCD registers, CH, divider reset on the seconds write, secondary buffers
 * copied on START, pointer auto-increment with 0x3F -> 0x00 wrap, 56 bytes of
 * RAM, 9 bit times per byte at bus_khz (100 kHz: ~1 ms per 8-byte transfer),
 * a rate error in ppm, injected faults.
 *
 * State lives in the file named by $DS1307_EMU_STATE (key=value lines, see
 * docs/rtc.md), anchored on the real clock, so a new process (a "power
 * cycle") finds the RTC still running. Virtual time = real CLOCK_REALTIME +
 * skip_ns: the RTC runs on virtual time and preloaded processes see it as
 * CLOCK_REALTIME, so a test can let an hour pass honestly for both sides.
 * Setting the system clock is always refused here (EPERM): tests never set
 * the real clock. Without $DS1307_EMU_STATE the library passes everything
 * through. Test code: it may abort() on impossible internal states. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
/* Programs built with 64-bit offsets call open64: define open and open64 both. */
#undef _FILE_OFFSET_BITS
#undef _TIME_BITS	/* glibc allows it only with _FILE_OFFSET_BITS=64 (meson.build) */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/i2c-dev.h>
#include <linux/i2c.h>
#include <linux/rtc.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/timex.h>
#include <time.h>
#include <unistd.h>

#define EMU_EXPORT __attribute__((visibility("default")))
#define NS 1000000000LL
#define MAX_FDS 32

struct emu_state {
	uint8_t regs[64];
	int64_t anchor_ns;	/* virtual time at which regs[0..6] were exact */
	int64_t phase_ns;	/* divider phase at anchor (RTC ns into the second) */
	double ppm;		/* RTC rate error */
	int64_t skip_ns;	/* virtual minus real time */
	int driver;		/* kernel driver bound: I2C_SLAVE EBUSY, rtc device present */
	char fault[16];		/* none eio nack ebusy timeout */
	int fault_after;	/* transfers of this process that succeed before the fault */
	int bus_khz;
	char bus[64];		/* emulated i2c device */
	char rtc[64];		/* emulated rtc device (driver = 1) */
};

enum fd_kind { FD_FREE = 0, FD_I2C, FD_RTC };

static struct {
	int fd;
	enum fd_kind kind;
	int addr;
} fds[MAX_FDS];

static uint8_t pointer;		/* register pointer (per process: undefined at power-up) */
static long transfers;		/* data transfers done by this process */
static int64_t cached_skip_ns;

static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_close)(int);
static int (*real_ioctl)(int, unsigned long, ...);
static int (*real_clock_gettime)(clockid_t, struct timespec *);

static void resolve(void)
{
	if (real_open)
		return;
	real_open = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
	real_openat = (int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT, "openat");
	real_close = (int (*)(int))dlsym(RTLD_NEXT, "close");
	real_ioctl = (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT, "ioctl");
	real_clock_gettime = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
	if (!real_open || !real_openat || !real_close || !real_ioctl || !real_clock_gettime)
		abort();
}

static const char *state_path(void)
{
	const char *p = getenv("DS1307_EMU_STATE");

	return p && *p ? p : NULL;
}

static int64_t real_now_ns(clockid_t clk)
{
	struct timespec ts;

	resolve();
	real_clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

/* ---- the calendar side of the model (libc's timegm, not the codec) ---- */

static int bcd(uint8_t v)
{
	return ((v & 0x0f) > 9 || (v >> 4) > 9) ? -1 : (v >> 4) * 10 + (v & 0x0f);
}

static uint8_t tobcd(int v)
{
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

/* The clock registers as seconds since 1970; false when they are garbage. */
static bool regs_to_epoch(const uint8_t *r, time_t *out)
{
	struct tm tm = { 0 };
	int h;

	tm.tm_sec = bcd(r[0] & 0x7f);
	tm.tm_min = bcd(r[1]);
	if (r[2] & 0x40) {
		h = bcd(r[2] & 0x1f);
		if (h < 1 || h > 12)
			return false;
		h = h % 12 + ((r[2] & 0x20) ? 12 : 0);
	} else {
		h = bcd(r[2] & 0x3f);
	}
	tm.tm_hour = h;
	tm.tm_mday = bcd(r[4]);
	tm.tm_mon = bcd(r[5]) - 1;
	tm.tm_year = bcd(r[6]) + 100;
	if (tm.tm_sec < 0 || tm.tm_sec > 59 || tm.tm_min < 0 || tm.tm_min > 59 || h < 0 || h > 23 ||
	    tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_year < 100)
		return false;
	*out = timegm(&tm);
	return true;
}

/* Write epoch back keeping the 12/24-hour mode and CH of the registers. */
static void epoch_to_regs(time_t e, uint8_t *r)
{
	struct tm tm;
	int h;

	gmtime_r(&e, &tm);
	r[0] = (uint8_t)((r[0] & 0x80) | tobcd(tm.tm_sec));
	r[1] = tobcd(tm.tm_min);
	if (r[2] & 0x40) {
		h = tm.tm_hour % 12 ? tm.tm_hour % 12 : 12;
		r[2] = (uint8_t)(0x40 | (tm.tm_hour >= 12 ? 0x20 : 0) | tobcd(h));
	} else {
		r[2] = tobcd(tm.tm_hour);
	}
	r[4] = tobcd(tm.tm_mday);
	r[5] = tobcd(tm.tm_mon + 1);
	r[6] = tobcd(tm.tm_year % 100);
}

/* The clock registers at virtual time v (the secondary buffers a START would
 * copy), and the divider phase then; does not change st. */
static void clock_at(const struct emu_state *st, int64_t v, uint8_t *regs, int64_t *phase)
{
	time_t e;
	int64_t el, whole;
	double dt = (double)(v - st->anchor_ns);

	memcpy(regs, st->regs, 64);
	*phase = st->phase_ns;
	if ((regs[0] & 0x80) || !regs_to_epoch(regs, &e))
		return;		/* halted, or garbage: the counters do not run */
	el = st->phase_ns + (int64_t)llround(dt + dt * st->ppm * 1e-6);
	whole = el >= 0 ? el / NS : -((-el + NS - 1) / NS);
	*phase = el - whole * NS;
	if (whole) {
		int64_t d0 = (int64_t)e / 86400, d1 = ((int64_t)e + whole) / 86400;
		int wd = bcd(regs[3]);

		epoch_to_regs((time_t)(e + whole), regs);
		if (wd >= 1 && wd <= 7)
			regs[3] = (uint8_t)(((wd - 1 + (d1 - d0)) % 7 + 7) % 7 + 1);
	}
}

/* Re-anchor the model at v (before a write changes the registers). */
static void commit(struct emu_state *st, int64_t v)
{
	uint8_t regs[64];
	int64_t phase;

	clock_at(st, v, regs, &phase);
	memcpy(st->regs, regs, 64);
	st->phase_ns = phase;
	st->anchor_ns = v;
}

/* ---- state file ---- */

static void defaults(struct emu_state *st)
{
	memset(st, 0, sizeof(*st));
	/* Power-up as one datasheet revision describes it: 2000-01-01, CH set. */
	st->regs[0] = 0x80;
	st->regs[3] = 0x01;
	st->regs[4] = 0x01;
	st->regs[5] = 0x01;
	st->regs[7] = 0x03;
	st->anchor_ns = real_now_ns(CLOCK_REALTIME);
	strcpy(st->fault, "none");
	st->bus_khz = 100;
	strcpy(st->bus, "/dev/i2c-1");
	strcpy(st->rtc, "/dev/rtc0");
}

static void parse_line(struct emu_state *st, char *line)
{
	char *eq = strchr(line, '='), *val;

	if (line[0] == '#' || !eq)
		return;
	*eq = '\0';
	val = eq + 1;
	val[strcspn(val, "\r\n")] = '\0';
	if (!strcmp(line, "regs")) {
		for (int i = 0; i < 64 && val[0] && val[1]; i++, val += 2) {
			unsigned b;

			if (sscanf(val, "%2x", &b) == 1)
				st->regs[i] = (uint8_t)b;
		}
	} else if (!strcmp(line, "anchor_ns")) {
		st->anchor_ns = strtoll(val, NULL, 10);
	} else if (!strcmp(line, "phase_ns")) {
		st->phase_ns = strtoll(val, NULL, 10);
	} else if (!strcmp(line, "ppm")) {
		st->ppm = strtod(val, NULL);
	} else if (!strcmp(line, "skip_ns")) {
		st->skip_ns = strtoll(val, NULL, 10);
	} else if (!strcmp(line, "driver")) {
		st->driver = atoi(val);
	} else if (!strcmp(line, "fault")) {
		snprintf(st->fault, sizeof(st->fault), "%s", val);
	} else if (!strcmp(line, "fault_after")) {
		st->fault_after = atoi(val);
	} else if (!strcmp(line, "bus_khz")) {
		st->bus_khz = atoi(val) > 0 ? atoi(val) : 100;
	} else if (!strcmp(line, "bus")) {
		snprintf(st->bus, sizeof(st->bus), "%s", val);
	} else if (!strcmp(line, "rtc")) {
		snprintf(st->rtc, sizeof(st->rtc), "%s", val);
	}
}

static void save(FILE *f, const struct emu_state *st)
{
	rewind(f);
	if (ftruncate(fileno(f), 0) < 0)
		abort();
	fprintf(f, "# DS1307 emulator state (tests/emu/ds1307_emu.c)\nregs=");
	for (int i = 0; i < 64; i++)
		fprintf(f, "%02x", st->regs[i]);
	fprintf(f, "\nanchor_ns=%lld\nphase_ns=%lld\nppm=%.6f\nskip_ns=%lld\ndriver=%d\nfault=%s\n"
		"fault_after=%d\nbus_khz=%d\nbus=%s\nrtc=%s\n", (long long)st->anchor_ns,
		(long long)st->phase_ns, st->ppm, (long long)st->skip_ns, st->driver, st->fault,
		st->fault_after, st->bus_khz, st->bus, st->rtc);
	fflush(f);
}

/* Open and lock the state (creating it at power-up values); NULL when the
 * emulator is not enabled. */
static FILE *load(struct emu_state *st)
{
	const char *path = state_path();
	char line[512];
	FILE *f;
	int fd;

	if (!path)
		return NULL;
	resolve();
	fd = real_open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || !(f = fdopen(fd, "r+"))) {
		fprintf(stderr, "ds1307_emu: cannot open state %s: %s\n", path, strerror(errno));
		abort();
	}
	flock(fileno(f), LOCK_EX);
	defaults(st);
	if (fgets(line, sizeof(line), f)) {
		do
			parse_line(st, line);
		while (fgets(line, sizeof(line), f));
	} else {
		save(f, st);
	}
	cached_skip_ns = st->skip_ns;
	return f;
}

static void unload(FILE *f)
{
	flock(fileno(f), LOCK_UN);
	fclose(f);
}

/* ---- fds ---- */

static int fd_index(int fd)
{
	for (int i = 0; i < MAX_FDS; i++)
		if (fds[i].kind != FD_FREE && fds[i].fd == fd)
			return i;
	return -1;
}

static int fake_open(const char *path, int flags)
{
	struct emu_state st;
	enum fd_kind kind = FD_FREE;
	FILE *f = load(&st);
	int fd;

	if (!f)
		return -2;
	if (!strcmp(path, st.bus))
		kind = FD_I2C;
	else if (!strcmp(path, st.rtc))
		kind = st.driver ? FD_RTC : FD_FREE;
	unload(f);
	if (kind == FD_FREE) {
		/* A device path of ours that is absent: do not fall through to a real one. */
		if (!strcmp(path, st.rtc)) {
			errno = ENOENT;
			return -1;
		}
		return -2;
	}
	fd = real_open("/dev/null", (flags & O_CLOEXEC) | O_RDWR);
	for (int i = 0; fd >= 0 && i < MAX_FDS; i++) {
		if (fds[i].kind == FD_FREE) {
			fds[i].fd = fd;
			fds[i].kind = kind;
			fds[i].addr = -1;
			return fd;
		}
	}
	if (fd >= 0)
		real_close(fd);
	errno = EMFILE;
	return -1;
}

static bool is_dev_path(const char *p)
{
	return p && (!strncmp(p, "/dev/i2c-", 9) || !strncmp(p, "/dev/rtc", 8));
}

EMU_EXPORT int open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	va_list ap;
	int fd;

	resolve();
	if (flags & (O_CREAT | O_TMPFILE)) {
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	if (is_dev_path(path) && (fd = fake_open(path, flags)) != -2)
		return fd;
	return real_open(path, flags, mode);
}

EMU_EXPORT int open64(const char *path, int flags, ...) __attribute__((alias("open")));

EMU_EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	va_list ap;
	int fd;

	resolve();
	if (flags & (O_CREAT | O_TMPFILE)) {
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	if (is_dev_path(path) && (fd = fake_open(path, flags)) != -2)
		return fd;
	return real_openat(dirfd, path, flags, mode);
}

EMU_EXPORT int openat64(int dirfd, const char *path, int flags, ...) __attribute__((alias("openat")));

EMU_EXPORT int close(int fd)
{
	int i;

	resolve();
	i = fd_index(fd);
	if (i >= 0)
		fds[i].kind = FD_FREE;
	return real_close(fd);
}

/* ---- bus transactions ---- */

/* Sleep until the transfer of nbytes bytes started at t0 (monotonic) ends. */
static void bus_wait(const struct emu_state *st, int64_t t0_mono, int nbytes)
{
	int64_t end = t0_mono + (int64_t)(nbytes * 9 + 2) * 1000000 / st->bus_khz;
	struct timespec ts = { end / NS, end % NS };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static int64_t byte_ns(const struct emu_state *st, int nbytes)
{
	return (int64_t)nbytes * 9 * 1000000 / st->bus_khz;
}

/* The injected fault for a data transfer, as an errno, or 0. */
static int fault_now(const struct emu_state *st, int addr)
{
	if (addr != 0x68)
		return ENXIO;	/* nobody acknowledges that address */
	if (transfers++ < st->fault_after)
		return 0;
	if (!strcmp(st->fault, "eio"))
		return EIO;
	if (!strcmp(st->fault, "nack"))
		return ENXIO;
	if (!strcmp(st->fault, "timeout"))
		return ETIMEDOUT;
	return 0;
}

/* Read n bytes from the pointer, with buffers latched at virtual time v. */
static void do_read(struct emu_state *st, int64_t v, uint8_t *out, int n)
{
	uint8_t regs[64];
	int64_t phase;

	clock_at(st, v, regs, &phase);
	for (int i = 0; i < n; i++) {
		out[i] = regs[pointer];
		pointer = (uint8_t)((pointer + 1) & 0x3f);
	}
}

/* Write n bytes at the pointer; the k-th data byte is acknowledged at
 * v_first + k byte times. Writing the seconds resets the divider then. */
static void do_write(struct emu_state *st, int64_t v_first, const uint8_t *in, int n)
{
	int64_t v_sec = -1;
	uint8_t p = pointer;

	for (int i = 0; i < n; i++, p = (uint8_t)((p + 1) & 0x3f))
		if (p == 0 && v_sec < 0)
			v_sec = v_first + byte_ns(st, i);
	commit(st, v_sec >= 0 ? v_sec : v_first + byte_ns(st, n));
	for (int i = 0; i < n; i++) {
		st->regs[pointer] = in[i];
		pointer = (uint8_t)((pointer + 1) & 0x3f);
	}
	if (v_sec >= 0)
		st->phase_ns = 0;
}

static int smbus(int fdi, struct i2c_smbus_ioctl_data *a)
{
	struct emu_state st;
	int64_t t0 = real_now_ns(CLOCK_MONOTONIC), v0;
	FILE *f = load(&st);
	int err, nbytes = 2, n;
	bool dirty = false;

	v0 = real_now_ns(CLOCK_REALTIME) + st.skip_ns;
	err = fault_now(&st, fds[fdi].addr);
	if (err)
		goto out;
	switch (a->size) {
	case I2C_SMBUS_QUICK:
		break;
	case I2C_SMBUS_BYTE:
		if (a->read_write == I2C_SMBUS_READ)
			do_read(&st, v0 + byte_ns(&st, 1), &a->data->byte, 1);
		else
			pointer = a->command & 0x3f;
		break;
	case I2C_SMBUS_BYTE_DATA:
		pointer = a->command & 0x3f;
		if (a->read_write == I2C_SMBUS_READ) {
			do_read(&st, v0 + byte_ns(&st, 2), &a->data->byte, 1);
			nbytes = 4;
		} else {
			do_write(&st, v0 + byte_ns(&st, 3), &a->data->byte, 1);
			nbytes = 3;
			dirty = true;
		}
		break;
	case I2C_SMBUS_I2C_BLOCK_BROKEN:
	case I2C_SMBUS_I2C_BLOCK_DATA:
		n = a->data->block[0];
		if (n < 1 || n > I2C_SMBUS_BLOCK_MAX) {
			err = EINVAL;
			goto out;
		}
		pointer = a->command & 0x3f;
		if (a->read_write == I2C_SMBUS_READ) {
			do_read(&st, v0 + byte_ns(&st, 2), a->data->block + 1, n);
			nbytes = 3 + n;
		} else {
			do_write(&st, v0 + byte_ns(&st, 3), a->data->block + 1, n);
			nbytes = 2 + n;
			dirty = true;
		}
		break;
	default:
		err = EOPNOTSUPP;
	}
out:
	if (dirty)
		save(f, &st);
	unload(f);
	bus_wait(&st, t0, nbytes);
	return err;
}

static int rdwr(int fdi, struct i2c_rdwr_ioctl_data *a)
{
	struct emu_state st;
	int64_t t0 = real_now_ns(CLOCK_MONOTONIC), v;
	FILE *f = load(&st);
	int err = 0, nbytes = 0;
	bool dirty = false;

	v = real_now_ns(CLOCK_REALTIME) + st.skip_ns;
	if (a->nmsgs < 1 || a->nmsgs > I2C_RDWR_IOCTL_MAX_MSGS) {
		err = EINVAL;
		goto out;
	}
	for (uint32_t i = 0; i < a->nmsgs && !err; i++) {
		struct i2c_msg *m = &a->msgs[i];

		if ((err = fault_now(&st, m->addr)))
			break;
		nbytes += 1 + m->len;
		if (m->flags & I2C_M_RD) {
			/* The START of this message latched the buffers. */
			do_read(&st, v + byte_ns(&st, nbytes - m->len), m->buf, m->len);
		} else if (m->len > 0) {
			pointer = m->buf[0] & 0x3f;
			if (m->len > 1) {
				do_write(&st, v + byte_ns(&st, nbytes - m->len + 2), m->buf + 1, m->len - 1);
				dirty = true;
			}
		}
	}
out:
	if (dirty)
		save(f, &st);
	unload(f);
	bus_wait(&st, t0, nbytes);
	return err;
}

static int i2c_ioctl(int fdi, unsigned long req, void *arg)
{
	struct emu_state st;
	FILE *f;
	int err = 0;

	switch (req) {
	case I2C_SLAVE:
	case I2C_SLAVE_FORCE:
		f = load(&st);
		if (req == I2C_SLAVE && (unsigned long)arg == 0x68 &&
		    (st.driver || !strcmp(st.fault, "ebusy")))
			err = EBUSY;
		else if ((unsigned long)arg > 0x7f)
			err = EINVAL;
		else
			fds[fdi].addr = (int)(unsigned long)arg;
		unload(f);
		return err;
	case I2C_FUNCS:
		*(unsigned long *)arg = I2C_FUNC_I2C | I2C_FUNC_SMBUS_QUICK | I2C_FUNC_SMBUS_BYTE |
			I2C_FUNC_SMBUS_BYTE_DATA | I2C_FUNC_SMBUS_I2C_BLOCK;
		return 0;
	case I2C_SMBUS:
		return smbus(fdi, arg);
	case I2C_RDWR:
		return rdwr(fdi, arg);
	default:
		return ENOTTY;
	}
}

/* The kernel ds1307 driver: one 7-byte burst, EINVAL when CH is set or the
 * registers do not make a date; years 2000-2099 only. */
static int rtc_ioctl(unsigned long req, void *arg)
{
	struct emu_state st;
	int64_t t0 = real_now_ns(CLOCK_MONOTONIC), v;
	FILE *f = load(&st);
	struct rtc_time *rt = arg;
	uint8_t regs[64], w[7];
	int64_t phase;
	time_t e;
	struct tm tm;
	int err = 0;

	v = real_now_ns(CLOCK_REALTIME) + st.skip_ns;
	if ((err = fault_now(&st, 0x68)))
		goto out;
	if (req == RTC_RD_TIME) {
		clock_at(&st, v + byte_ns(&st, 2), regs, &phase);
		if ((regs[0] & 0x80) || !regs_to_epoch(regs, &e)) {
			err = EINVAL;
			goto out;
		}
		gmtime_r(&e, &tm);
		memset(rt, 0, sizeof(*rt));
		rt->tm_sec = tm.tm_sec;
		rt->tm_min = tm.tm_min;
		rt->tm_hour = tm.tm_hour;
		rt->tm_mday = tm.tm_mday;
		rt->tm_mon = tm.tm_mon;
		rt->tm_year = tm.tm_year;
		rt->tm_wday = bcd(regs[3]) - 1;
	} else if (req == RTC_SET_TIME) {
		if (rt->tm_year < 100 || rt->tm_year > 199) {
			err = EINVAL;
			goto out;
		}
		w[0] = tobcd(rt->tm_sec);
		w[1] = tobcd(rt->tm_min);
		w[2] = tobcd(rt->tm_hour);
		w[3] = tobcd(rt->tm_wday + 1);
		w[4] = tobcd(rt->tm_mday);
		w[5] = tobcd(rt->tm_mon + 1);
		w[6] = tobcd(rt->tm_year - 100);
		pointer = 0;
		do_write(&st, v + byte_ns(&st, 2), w, 7);
		save(f, &st);
	} else {
		err = ENOTTY;
	}
out:
	unload(f);
	bus_wait(&st, t0, 10);
	return err;
}

EMU_EXPORT int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;
	int i, err;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	resolve();
	i = fd_index(fd);
	if (i < 0)
		return real_ioctl(fd, req, arg);
	err = fds[i].kind == FD_I2C ? i2c_ioctl(i, req, arg) : rtc_ioctl(req, arg);
	if (err) {
		errno = err;
		return -1;
	}
	/* Like i2c-dev: I2C_RDWR returns the number of messages transferred. */
	if (fds[i].kind == FD_I2C && req == I2C_RDWR)
		return (int)((struct i2c_rdwr_ioctl_data *)arg)->nmsgs;
	return 0;
}

/* ---- virtual time for preloaded processes; never set the real clock ---- */

static bool realtime_clock(clockid_t c)
{
	return c == CLOCK_REALTIME || c == CLOCK_REALTIME_COARSE;
}

EMU_EXPORT int clock_gettime(clockid_t clk, struct timespec *ts)
{
	int rc;

	resolve();
	rc = real_clock_gettime(clk, ts);
	if (rc == 0 && cached_skip_ns && realtime_clock(clk)) {
		int64_t t = (int64_t)ts->tv_sec * NS + ts->tv_nsec + cached_skip_ns;

		ts->tv_sec = t / NS;
		ts->tv_nsec = t % NS;
	}
	return rc;
}

EMU_EXPORT int gettimeofday(struct timeval *tv, void *tz)
{
	struct timespec ts;

	(void)tz;
	clock_gettime(CLOCK_REALTIME, &ts);
	tv->tv_sec = ts.tv_sec;
	tv->tv_usec = ts.tv_nsec / 1000;
	return 0;
}

EMU_EXPORT time_t time(time_t *out)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (out)
		*out = ts.tv_sec;
	return ts.tv_sec;
}

/* Absolute REALTIME deadlines are virtual: move them back to real time. */
EMU_EXPORT int clock_nanosleep(clockid_t clk, int flags, const struct timespec *req, struct timespec *rem)
{
	static int (*real)(clockid_t, int, const struct timespec *, struct timespec *);
	struct timespec r = *req;

	if (!real)
		real = (int (*)(clockid_t, int, const struct timespec *, struct timespec *))
			dlsym(RTLD_NEXT, "clock_nanosleep");
	if ((flags & TIMER_ABSTIME) && realtime_clock(clk) && cached_skip_ns) {
		int64_t t = (int64_t)r.tv_sec * NS + r.tv_nsec - cached_skip_ns;

		r.tv_sec = t / NS;
		r.tv_nsec = t % NS;
	}
	return real(clk, flags, &r, rem);
}

static int refuse(const char *what)
{
	fprintf(stderr, "ds1307_emu: refusing %s: tests never set the real clock\n", what);
	errno = EPERM;
	return -1;
}

EMU_EXPORT int clock_settime(clockid_t clk, const struct timespec *ts)
{
	(void)clk;
	(void)ts;
	return refuse("clock_settime");
}

EMU_EXPORT int settimeofday(const struct timeval *tv, const struct timezone *tz)
{
	(void)tv;
	(void)tz;
	return refuse("settimeofday");
}

EMU_EXPORT int adjtimex(struct timex *t)
{
	(void)t;
	return refuse("adjtimex");
}

EMU_EXPORT int clock_adjtime(clockid_t clk, struct timex *t)
{
	(void)clk;
	(void)t;
	return refuse("clock_adjtime");
}

/* For benchmarks: the true RTC-minus-virtual-time offset (s) at virtual
 * time v_s, evaluated by the model itself. Returns 0, or -1 when halted,
 * garbage or the emulator is not enabled. */
EMU_EXPORT int ds1307_emu_true_offset(double v_s, double *offset);
int ds1307_emu_true_offset(double v_s, double *offset)
{
	struct emu_state st;
	FILE *f = load(&st);
	int64_t v = (int64_t)llround(v_s * 1e9), phase;
	uint8_t regs[64];
	time_t e;

	if (!f)
		return -1;
	unload(f);
	clock_at(&st, v, regs, &phase);
	if ((regs[0] & 0x80) || !regs_to_epoch(regs, &e))
		return -1;
	*offset = (double)((int64_t)e - v / NS) + (double)(phase - v % NS) / 1e9;
	return 0;
}

__attribute__((constructor)) static void emu_init(void)
{
	struct emu_state st;
	FILE *f;

	resolve();
	f = load(&st);
	if (f)
		unload(f);
}
