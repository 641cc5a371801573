/* vclock_ctl.c - fleetclock-vclock: create and drive the virtual clock of a
 * simulated node (state file layout in vclock_state.h).
 *
 *   fleetclock-vclock create FILE [OFFSET_S [DRIFT_PPM [WANDER_PPM]]]
 *   fleetclock-vclock show FILE        every field, key=value
 *   fleetclock-vclock error FILE       true error (virtual - real) in s
 *   fleetclock-vclock step FILE DELTA_S
 *   fleetclock-vclock set FILE OFFSET_S  step so the true error is OFFSET_S
 *   fleetclock-vclock drift FILE PPM   intrinsic drift
 *   fleetclock-vclock wander FILE PPM  random-walk parameter (harness)
 *
 * Exit 0 on success, 1 on a failed operation, 2 on usage errors. Must run
 * WITHOUT the preload: it reads the real clock as the truth. */
#include "vclock_state.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/futex.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_S 1000000000LL

static int64_t real_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static int parse_double(const char *s, const char *what, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(*out)) {
		fprintf(stderr, "fleetclock-vclock: bad %s '%s'\n", what, s);
		return -EINVAL;
	}
	return 0;
}

/* Create FILE with a fresh state, root:_chrony 0660 when that group exists. */
static int cmd_create(const char *path, int argc, char **argv)
{
	double v[3] = { 0, 0, 0 };
	const char *what[3] = { "offset", "drift", "wander" };
	struct vclock_state st;
	struct group *g;
	int fd, r = 0;

	for (int i = 0; i < argc && i < 3; i++)
		if (parse_double(argv[i], what[i], &v[i]) < 0)
			return -EINVAL;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0660);
	if (fd < 0) {
		r = -errno;
		fprintf(stderr, "fleetclock-vclock: create %s: %s\n", path, strerror(errno));
		return r;
	}
	vclock_core_init(&st, real_now(), llround(v[0] * 1e9), v[1], v[2]);
	if (write(fd, &st, sizeof(st)) != (ssize_t)sizeof(st)) {
		r = -EIO;
		fprintf(stderr, "fleetclock-vclock: write %s: %s\n", path, strerror(errno));
		goto out;
	}
	g = getgrnam("_chrony");
	if (g && fchown(fd, 0, g->gr_gid) < 0)
		fprintf(stderr, "fleetclock-vclock: chown %s: %s (continuing)\n", path,
			strerror(errno));
	if (fchmod(fd, 0660) < 0)
		fprintf(stderr, "fleetclock-vclock: chmod %s: %s (continuing)\n", path,
			strerror(errno));
out:
	close(fd);
	return r;
}

static int map_state(const char *path, struct vclock_state **out)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	struct stat sb;
	void *m;
	int r = 0;

	if (fd < 0) {
		r = -errno;
		fprintf(stderr, "fleetclock-vclock: open %s: %s\n", path, strerror(errno));
		return r;
	}
	if (fstat(fd, &sb) < 0 || sb.st_size < (off_t)sizeof(struct vclock_state)) {
		fprintf(stderr, "fleetclock-vclock: %s: not a state file (too short)\n", path);
		r = -EINVAL;
		goto out;
	}
	m = mmap(NULL, sizeof(struct vclock_state), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		r = -errno;
		fprintf(stderr, "fleetclock-vclock: mmap %s: %s\n", path, strerror(errno));
		goto out;
	}
	if (vclock_core_validate(m) < 0) {
		fprintf(stderr, "fleetclock-vclock: %s: bad magic or version\n", path);
		munmap(m, sizeof(struct vclock_state));
		r = -EINVAL;
		goto out;
	}
	*out = m;
out:
	close(fd);
	return r;
}

static void show(const struct vclock_state *st, int all)
{
	struct vclock_snap s;
	int64_t now, err;

	vclock_core_snap(st, &s);
	now = real_now();
	err = vclock_core_virt(&s, now) - now;
	if (!all) {
		printf("%.9f\n", (double)err / 1e9);
		return;
	}
	printf("true_error_s=%.9f\nrate_ppm=%.6f\ndrift_ppm=%.6f\nwander_ppm=%.6f\n",
	       (double)err / 1e9, s.rate_m1 * 1e6, st->drift_ppm, st->wander_ppm);
	printf("tick_us=%lld\nfreq_ppm=%.6f\nstatus=0x%x\nmaxerror_us=%lld\nesterror_us=%lld\n",
	       (long long)st->tick_us, (double)st->freq / 65536.0, (unsigned)st->status,
	       (long long)st->maxerror_us, (long long)st->esterror_us);
	printf("steps=%llu\nstep_gen=%u\nadjtimex_calls=%llu\nadjust_calls=%llu\n",
	       (unsigned long long)st->n_steps, st->step_gen,
	       (unsigned long long)st->n_adjtimex, (unsigned long long)st->n_adjust);
}

/* Apply a change under the writer lock; wake step watchers after steps. */
static int modify(struct vclock_state *st, const char *cmd, double v)
{
	int64_t now;

	vclock_core_lock(st, (uint32_t)getpid());
	now = real_now();
	if (!strcmp(cmd, "step")) {
		vclock_core_step(st, now, llround(v * 1e9));
	} else if (!strcmp(cmd, "set")) {
		struct vclock_snap s = { .anchor_real_ns = st->anchor_real_ns,
					 .anchor_virt_ns = st->anchor_virt_ns, .rate_m1 = st->rate_m1 };

		vclock_core_step(st, now, now + llround(v * 1e9) - vclock_core_virt(&s, now));
	} else if (!strcmp(cmd, "drift")) {
		vclock_core_set_drift(st, now, v);
	} else {
		st->wander_ppm = v;
	}
	vclock_core_unlock(st);
	syscall(SYS_futex, &st->step_gen, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: fleetclock-vclock create FILE [OFFSET_S [DRIFT_PPM [WANDER_PPM]]]\n"
		"       fleetclock-vclock show|error FILE\n"
		"       fleetclock-vclock step|set|drift|wander FILE VALUE\n");
}

int main(int argc, char **argv)
{
	struct vclock_state *st = NULL;
	const char *cmd, *path;
	double v;

	if (argc < 3) {
		usage();
		return 2;
	}
	cmd = argv[1];
	path = argv[2];
	if (!strcmp(cmd, "create"))
		return cmd_create(path, argc - 3, argv + 3) < 0 ? 1 : 0;
	if (strcmp(cmd, "show") && strcmp(cmd, "error") && strcmp(cmd, "step") &&
	    strcmp(cmd, "set") && strcmp(cmd, "drift") && strcmp(cmd, "wander")) {
		usage();
		return 2;
	}
	if (map_state(path, &st) < 0)
		return 1;
	if (!strcmp(cmd, "show") || !strcmp(cmd, "error")) {
		show(st, !strcmp(cmd, "show"));
		return 0;
	}
	if (argc != 4) {
		usage();
		return 2;
	}
	if (parse_double(argv[3], cmd, &v) < 0)
		return 2;
	return modify(st, cmd, v) < 0 ? 1 : 0;
}
