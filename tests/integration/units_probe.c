/* units_probe.c - what a unit's sandbox lets a process do, for units_nspawn.py.
 *
 * Run as a unit's ExecStart (the unit's own settings, only ExecStart and Type
 * changed), it prints one JSON object: the errno (0: allowed) of
 *   adjtimex_read   adjtimex() with modes = 0: needs no capability, so only a
 *                   seccomp filter (SystemCallFilter=, ProtectClock=) denies it;
 *   adjtimex_step   adjtimex(ADJ_SETOFFSET) by 0 s, the rejoin guard's step: the
 *                   same system call (seccomp cannot see modes), so when
 *                   adjtimex_read passed, an EPERM here is the capability check;
 *   fifo            sched_setscheduler(SCHED_FIFO | SCHED_RESET_ON_FORK, 10), as the
 *                   RTC write does (common/rtc/rtc_sync.c);
 *   fifo_leave      then back to SCHED_OTHER, as rtc_sync.c does after the write;
 *   open:PATH       open(PATH, O_RDWR) for each argument (ENXIO: permitted, but no
 *                   driver behind the node);
 * and the capabilities and RLIMIT_RTPRIO it runs with. It never changes the
 * clock: the step is tried only without CAP_SYS_TIME in the effective set (it
 * is then refused before it acts; with the capability it reports -1, skipped),
 * and it is a step by zero. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/timex.h>
#include <unistd.h>

static int err_of(int rc)
{
	return rc < 0 ? errno : 0;
}

static void print_status_line(const char *key)
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)))
			printf(", \"%s\": \"%.*s\"", key, (int)strcspn(line + strlen(key) + 2, "\n"),
			       line + strlen(key) + 2);
	fclose(f);
}

/* Whether CAP_SYS_TIME is in this process's effective set. */
static int holds_sys_time(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d) < 0)
		return 1;	/* unknown: do not try */
	return !!(d[CAP_SYS_TIME / 32].effective & (1u << (CAP_SYS_TIME % 32)));
}

int main(int argc, char **argv)
{
	struct timex rd = { .modes = 0 };
	struct timex st = { .modes = ADJ_SETOFFSET | ADJ_NANO };
	struct sched_param sp = { .sched_priority = 10 };
	struct rlimit rl = { 0, 0 };
	int fifo;

	printf("{\"adjtimex_read\": %d", err_of(adjtimex(&rd)));
	printf(", \"adjtimex_step\": %d", holds_sys_time() ? -1 : err_of(adjtimex(&st)));
	fifo = err_of(sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &sp));
	printf(", \"fifo\": %d", fifo);
	if (!fifo)
		printf(", \"fifo_leave\": %d", err_of(sched_setscheduler(0, SCHED_OTHER, &(struct sched_param){ 0 })));
	getrlimit(RLIMIT_RTPRIO, &rl);
	printf(", \"rtprio_soft\": %llu, \"rtprio_hard\": %llu", (unsigned long long)rl.rlim_cur,
	       (unsigned long long)rl.rlim_max);
	for (int i = 1; i < argc; i++) {
		int fd = open(argv[i], O_RDWR | O_CLOEXEC);

		printf(", \"open:%s\": %d", argv[i], fd < 0 ? errno : 0);
		if (fd >= 0)
			close(fd);
	}
	print_status_line("CapEff");
	print_status_line("CapBnd");
	printf(", \"uid\": %d}\n", (int)getuid());
	return 0;
}
