/* led_blink.c - the C version of led_blink.py (see docs/start.md): set up
 * first, then the gate, then absolute frame instants T + k / 24 s.
 *
 *   cc led_blink.c -lfleetclock-gate -o led_blink
 *   fleetclock-agent --at :10 --arm -- ./led_blink 60
 *
 * The stand-in LED writes "INDEX MONOTONIC_NS REALTIME_NS" per change to
 * $FLEETCLOCK_LED_LOG. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <fleetclock_gate.h>

static void led_set(int fd, uint64_t index)
{
	struct timespec m, r;
	char line[80];
	int n;

	if (fd < 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &m);
	clock_gettime(CLOCK_REALTIME, &r);
	n = snprintf(line, sizeof(line), "%llu %lld%09ld %lld%09ld\n", (unsigned long long)index,
		     (long long)m.tv_sec, m.tv_nsec, (long long)r.tv_sec, r.tv_nsec);
	if (write(fd, line, (size_t)n) != n)
		perror("led log");
}

int main(int argc, char **argv)
{
	const char *log = getenv("FLEETCLOCK_LED_LOG");
	uint64_t frames = (uint64_t)(24 * (argc > 1 ? atof(argv[1]) : 10.0)), k = 0;
	int led = log ? open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644) : -1;
	struct fleetclock_start start;
	struct fleetclock_frames f;
	int rc;

	/* ... open and set up the hardware here, before the gate ... */
	rc = fleetclock_wait_start(&start);	/* "ready", then released at T */
	if (rc < 0) {
		fprintf(stderr, "led_blink: %s\n", fleetclock_gate_strerror(rc));
		return 2;
	}
	fleetclock_frames_init(&f, start.at, 1000000000, 24);
	while (k < frames) {
		rc = fleetclock_frames_wait(&f, &k, NULL);
		if (rc < 0) {
			fprintf(stderr, "led_blink: clock_nanosleep: %s\n", fleetclock_gate_strerror(rc));
			return 1;
		}
		if (k < frames)
			led_set(led, k);
	}
	printf("led_blink: %llu frames, %llu skipped\n", (unsigned long long)frames,
	       (unsigned long long)f.skipped);
	return 0;
}
