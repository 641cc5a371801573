/* at_probe - the tiny program of bench_at and test_at: reads
 * CLOCK_REALTIME first thing in main and prints its start error against
 * TARGET (anything --at accepts; epoch seconds in practice).
 *
 *   at_probe TARGET                 started by --at / a shell loop
 *   at_probe --wait MODE TARGET     wait in-process first, then measure
 *
 * MODE: nanosleep (clock_nanosleep TIMER_ABSTIME, 1 ns slack), slack50us
 * (the same with the default 50 us slack), timerfd (cancel-on-set timerfd
 * only), default (precise_wait as --at uses it), nospin (default without
 * the busy-poll stage), spinNus (default with an N us busy-poll stage);
 * rt:MODE the same at SCHED_FIFO 50 (as --rt).
 * Output: "error_s=+0.000123456 pid=N" on stdout. Exit 0, 2 on bad use. */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "time/precise_wait.h"
#include "time/timeutil.h"
#include "time/when.h"

static int wait_mode(const char *mode, struct timespec target)
{
	struct precise_wait_opts o = PRECISE_WAIT_OPTS_DEFAULT;
	long spin_us;
	int rc;

	if (!strncmp(mode, "rt:", 3)) {
		struct sched_param sp = { .sched_priority = 50 };

		if (sched_setscheduler(0, SCHED_FIFO, &sp) < 0)
			return -errno;
		mode += 3;
	}
	if (!strcmp(mode, "nanosleep") || !strcmp(mode, "slack50us")) {
		if (!strcmp(mode, "nanosleep"))
			precise_wait_set_slack();
		else
			prctl(PR_SET_TIMERSLACK, 50000UL, 0UL, 0UL, 0UL);
		do
			rc = clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &target, NULL);
		while (rc == EINTR);
		return -rc;
	}
	if (!strcmp(mode, "timerfd")) {
		o.approach_ns = 0;
		o.spin_ns = 0;
	} else if (!strcmp(mode, "nospin"))
		o.spin_ns = 0;
	else if (sscanf(mode, "spin%ldus", &spin_us) == 1 && spin_us > 0 && spin_us < 100000)
		o.spin_ns = spin_us * 1000;
	else if (strcmp(mode, "default"))
		return -EINVAL;
	return precise_wait_until(target, &o, NULL);
}

int main(int argc, char **argv)
{
	struct timespec start, target;
	const char *mode = NULL, *text;
	char err[256];
	int rc;

	clock_gettime(CLOCK_REALTIME, &start);
	if (argc == 4 && !strcmp(argv[1], "--wait"))
		mode = argv[2];
	else if (argc != 2) {
		fprintf(stderr, "usage: at_probe [--wait MODE] TARGET\n");
		return 2;
	}
	text = argv[argc - 1];
	if (when_parse(text, start, &target, err, sizeof(err)) < 0) {
		fprintf(stderr, "at_probe: %s\n", err);
		return 2;
	}
	if (mode) {
		rc = wait_mode(mode, target);
		clock_gettime(CLOCK_REALTIME, &start);
		if (rc < 0) {
			fprintf(stderr, "at_probe: --wait %s: %s\n", mode, strerror(-rc));
			return 2;
		}
	}
	printf("error_s=%+.9f pid=%d\n", timeutil_ts_diff_ns(start, target) * 1e-9, (int)getpid());
	return 0;
}
