/* Unit tests of the start gate and frame clock (gate/gate.c, the installed
 * libfleetclock-gate) and of what the agent reads from the gate
 * (agent/actions/arm_msg.c): parsing, the frame arithmetic (absolute instants,
 * skipping instead of drifting), the protocol between the two through a
 * real pipe. Never a timing threshold: only "never before the instant".
 * Clock steps are tests/integration/test_arm.py's (virtual clock). */
#include <check.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "actions/arm_msg.h"
#include "fleetclock_gate.h"
#include "time/timeutil.h"
#include "check_run.h"

static const struct {
	const char *text;
	int rc;
	long long sec, nsec;
} ns_cases[] = {
	{ "1795291210250000000", 0, 1795291210, 250000000 },
	{ "1", 0, 0, 1 },
	{ "", -EINVAL, 0, 0 },
	{ "0", -EINVAL, 0, 0 },
	{ "-5", -EINVAL, 0, 0 },
	{ "17952912102.5", -EINVAL, 0, 0 },
	{ "1795291210250000000 ", -EINVAL, 0, 0 },
	{ "2026-11-21T20:00:10Z", -EINVAL, 0, 0 },
	{ "99999999999999999999999", -EINVAL, 0, 0 },
};

START_TEST(test_parse_ns)
{
	struct timespec t = { 0, 0 };

	ck_assert_int_eq(fleetclock_parse_ns(ns_cases[_i].text, &t), ns_cases[_i].rc);
	if (ns_cases[_i].rc == 0) {
		ck_assert_int_eq(t.tv_sec, ns_cases[_i].sec);
		ck_assert_int_eq(t.tv_nsec, ns_cases[_i].nsec);
	}
}
END_TEST

START_TEST(test_missing_env_is_refused_clearly)
{
	struct fleetclock_start st;

	unsetenv(FLEETCLOCK_START_AT_NS_ENV);
	ck_assert_int_eq(fleetclock_wait_start(&st), -ENOENT);
	ck_assert_ptr_nonnull(strstr(fleetclock_gate_strerror(-ENOENT), "--arm"));
	setenv(FLEETCLOCK_START_AT_NS_ENV, "2026-11-21T20:00:10Z", 1);
	ck_assert_int_eq(fleetclock_wait_start(&st), -EINVAL);
	ck_assert_ptr_nonnull(strstr(fleetclock_gate_strerror(-EINVAL), "nanoseconds"));
	unsetenv(FLEETCLOCK_START_AT_NS_ENV);
}
END_TEST

static struct timespec ts(long long s, long ns)
{
	return (struct timespec){ s, ns };
}

START_TEST(test_frame_time_is_exact)
{
	struct fleetclock_frames f;

	ck_assert_int_eq(fleetclock_frames_init(&f, ts(1000, 0), 1000000000, 24), 0);
	/* one hour of 24 fps: 86400 frames, exactly 3600 s, no rounding drift */
	ck_assert_int_eq(fleetclock_frame_time(&f, 86400).tv_sec, 4600);
	ck_assert_int_eq(fleetclock_frame_time(&f, 86400).tv_nsec, 0);
	ck_assert_int_eq(fleetclock_frame_time(&f, 1).tv_nsec, 41666666);
	ck_assert_int_eq(fleetclock_frame_time(&f, 3).tv_nsec, 125000000);
	ck_assert_int_eq(fleetclock_frames_init(&f, ts(1000, 0), 0, 24), -EINVAL);
	ck_assert_int_eq(fleetclock_frames_init(&f, ts(0, 0), 1, 24), -EINVAL);
}
END_TEST

START_TEST(test_pick_in_time_takes_the_next)
{
	struct fleetclock_frames f;
	uint64_t k;

	fleetclock_frames_init(&f, ts(1000, 0), 100000000, 1);	/* 10 fps */
	fleetclock_frames_pick(&f, ts(999, 0), &k);		/* before the start */
	ck_assert_uint_eq(k, 0);
	fleetclock_frames_pick(&f, ts(1000, 10000000), &k);	/* 10 ms past frame 1 is fine */
	ck_assert_uint_eq(k, 1);
	fleetclock_frames_pick(&f, ts(1000, 240000000), &k);	/* frame 2 is 40 ms past: < 50 */
	ck_assert_uint_eq(k, 2);
	ck_assert_uint_eq(f.skipped, 0);
}
END_TEST

START_TEST(test_pick_late_skips_and_counts)
{
	struct fleetclock_frames f;
	uint64_t k;

	fleetclock_frames_init(&f, ts(1000, 0), 100000000, 1);
	/* 1.37 s: frames 0-13 are more than 50 ms past; frame 14 (1.4 s) next */
	fleetclock_frames_pick(&f, ts(1001, 370000000), &k);
	ck_assert_uint_eq(k, 14);
	ck_assert_uint_eq(f.skipped, 14);
	/* 1.43 s: frame 14 is only 30 ms past -- but it was taken: 15 */
	fleetclock_frames_pick(&f, ts(1001, 430000000), &k);
	ck_assert_uint_eq(k, 15);
	ck_assert_uint_eq(f.skipped, 14);
	/* exactly late_ns past still counts as in time */
	fleetclock_frames_pick(&f, ts(1001, 650000000), &k);
	ck_assert_uint_eq(k, 16);
	/* a step back: the index never goes back, the next frame waits longer */
	fleetclock_frames_pick(&f, ts(990, 0), &k);
	ck_assert_uint_eq(k, 17);
	ck_assert_uint_eq(f.skipped, 14);
}
END_TEST

START_TEST(test_wait_never_early_and_skips_the_past)
{
	struct fleetclock_frames f;
	struct timespec now, at;
	uint64_t k, prev = 0;

	clock_gettime(CLOCK_REALTIME, &now);
	/* started 1 s ago at 100 fps: about 100 frames are gone */
	fleetclock_frames_init(&f, timeutil_ts_add_ns(now, -1000000000), 10000000, 1);
	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(fleetclock_frames_wait(&f, &k, &at), 0);
		clock_gettime(CLOCK_REALTIME, &now);
		ck_assert_msg(timeutil_ts_diff_ns(now, at) >= 0, "woke before frame %llu",
			      (unsigned long long)k);
		ck_assert_int_eq(timeutil_ts_diff_ns(at, fleetclock_frame_time(&f, k)), 0);
		ck_assert(i == 0 || k > prev);
		prev = k;
	}
	ck_assert_uint_ge(f.skipped, 99);
}
END_TEST

START_TEST(test_wait_until_past_returns_at_once)
{
	struct fleetclock_start st;
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	ck_assert_int_eq(fleetclock_wait_until(timeutil_ts_add_ns(now, -5000000000LL), &st), 0);
	ck_assert_int_ge(st.late_ns, 5000000000LL);
	ck_assert_int_eq(fleetclock_wait_until(timeutil_ts_add_ns(now, 20000000), &st), 0);
	ck_assert_int_ge(st.late_ns, 0);
}
END_TEST

/* What the agent gives an armed CMD: T 30 ms from now and the pipe's
 * write end p[1] in the environment. Returns T. */
static struct timespec arm_like_the_agent(int p[2])
{
	struct timespec now, at;
	char env[32];

	ck_assert_int_eq(pipe(p), 0);
	clock_gettime(CLOCK_REALTIME, &now);
	at = timeutil_ts_add_ns(now, 30000000);
	snprintf(env, sizeof(env), "%lld", (long long)at.tv_sec * 1000000000LL + at.tv_nsec);
	setenv(FLEETCLOCK_START_AT_NS_ENV, env, 1);
	snprintf(env, sizeof(env), "%d", p[1]);
	setenv(FLEETCLOCK_READY_FD_ENV, env, 1);
	return at;
}

static const char *self_path = "test_gate";	/* argv[0]: this program, run again */
static int gate_child_rt(void);

/* The gate tells the agent through the real pipe; arm_msg reads it. */
START_TEST(test_gate_speaks_to_the_agent)
{
	struct fleetclock_start st;
	struct arm_msg m = { .len = 0 };
	struct timespec at;
	char buf[256];
	int p[2];
	ssize_t n;

	at = arm_like_the_agent(p);
	ck_assert_int_eq(fleetclock_wait_start(&st), 0);
	ck_assert_int_ge(timeutil_ts_diff_ns(st.released, at), 0);
	ck_assert_int_eq(write(p[1], "x", 1), -1);	/* the gate closed its end */
	ck_assert_ptr_null(getenv(FLEETCLOCK_READY_FD_ENV));	/* children never see it */
	n = read(p[0], buf, sizeof(buf));
	ck_assert_int_gt(n, 0);
	arm_msg_feed(&m, buf, (size_t)n);
	ck_assert(m.ready && m.go);
	ck_assert_uint_eq(m.bad_lines, 0);
	ck_assert_int_le(timeutil_ts_diff_ns(m.ready_at, at), 0);
	ck_assert_int_eq(timeutil_ts_diff_ns(m.go_at, st.released), 0);
	ck_assert_int_eq(arm_msg_outcome(&m, true), ARM_STARTED);
	close(p[0]);
	unsetenv(FLEETCLOCK_START_AT_NS_ENV);
	unsetenv(FLEETCLOCK_READY_FD_ENV);
}
END_TEST

/* At a real-time policy (--rt) the gate busy-polls the last millisecond:
 * still never before T, the "go" line still exact. The gate runs in a child
 * of its own: its once-per-process state and the policy must not reach the
 * other tests, also under CK_FORK=no (the valgrind run): a fresh process,
 * this program run again (gate_child_rt). Root only (CI runs as root). */
START_TEST(test_gate_at_realtime_policy)
{
	struct arm_msg m = { .len = 0 };
	struct timespec at, released;
	char buf[256];
	int p[2], res[2], status;
	ssize_t n;
	pid_t pid;

	ck_assert_int_eq(pipe(res), 0);
	at = arm_like_the_agent(p);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char fd[16];

		close(p[0]);
		close(res[0]);
		snprintf(fd, sizeof(fd), "%d", res[1]);
		setenv("FC_TEST_RESULT_FD", fd, 1);
		execl(self_path, self_path, "--gate-child-rt", (char *)NULL);
		/* no exec here (qemu-user without binfmt runs the cross build):
		 * this forked child is fresh when Check forks each test */
		_exit(gate_child_rt());
	}
	close(p[1]);
	close(res[1]);
	unsetenv(FLEETCLOCK_START_AT_NS_ENV);
	unsetenv(FLEETCLOCK_READY_FD_ENV);
	while ((n = read(p[0], buf, sizeof(buf))) > 0)	/* until the child's gate closes it */
		arm_msg_feed(&m, buf, (size_t)n);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		return;	/* not root: SCHED_FIFO refused */
	ck_assert_msg(WEXITSTATUS(status) == 0, "the gate's child: exit %d (3: SCHED_FIFO refused "
		      "to root, 4: the wait failed, 5: no result fd)", WEXITSTATUS(status));
	ck_assert_int_eq(read(res[0], &released, sizeof(released)), (ssize_t)sizeof(released));
	ck_assert_int_ge(timeutil_ts_diff_ns(released, at), 0);
	ck_assert(m.ready && m.go);
	ck_assert_uint_eq(m.bad_lines, 0);
	ck_assert_int_eq(timeutil_ts_diff_ns(m.go_at, released), 0);
	close(p[0]);
	close(res[0]);
}
END_TEST

START_TEST(test_arm_msg_lines)
{
	struct arm_msg m = { .len = 0 };
	char longline[300];

	arm_msg_feed(&m, "rea", 3);
	ck_assert(!m.ready);
	arm_msg_feed(&m, "dy 1795291210250000000\nhello\ngo 17952912", 40);
	ck_assert(m.ready && !m.go);
	ck_assert_int_eq(m.ready_at.tv_sec, 1795291210);
	ck_assert_int_eq(m.ready_at.tv_nsec, 250000000);
	ck_assert_uint_eq(m.bad_lines, 1);
	arm_msg_feed(&m, "10250000100 2\n", 14);
	ck_assert(m.go);
	ck_assert_int_eq(m.go_at.tv_nsec, 250000100);
	ck_assert_uint_eq(m.go_steps, 2);
	memset(longline, 'r', sizeof(longline));
	longline[sizeof(longline) - 1] = '\n';
	arm_msg_feed(&m, longline, sizeof(longline));
	arm_msg_feed(&m, "ready -1\ngo 5\ngo 5 x\nready 7\n", 29);
	ck_assert_uint_eq(m.bad_lines, 5);
	ck_assert_int_eq(m.ready_at.tv_sec, 1795291210);	/* the first ready counts */
	ck_assert_int_eq(arm_msg_outcome(&m, false), ARM_LATE);
	ck_assert_str_eq(arm_outcome_str(ARM_LATE), "late");
	m.ready = false;
	ck_assert_int_eq(arm_msg_outcome(&m, false), ARM_NO_READY);
}
END_TEST

static Suite *gate_suite(void)
{
	Suite *s = suite_create("gate");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_parse_ns, 0, sizeof(ns_cases) / sizeof(ns_cases[0]));
	tcase_add_test(tc, test_missing_env_is_refused_clearly);
	tcase_add_test(tc, test_frame_time_is_exact);
	tcase_add_test(tc, test_pick_in_time_takes_the_next);
	tcase_add_test(tc, test_pick_late_skips_and_counts);
	tcase_add_test(tc, test_wait_never_early_and_skips_the_past);
	tcase_add_test(tc, test_wait_until_past_returns_at_once);
	tcase_add_test(tc, test_gate_speaks_to_the_agent);
	tcase_add_test(tc, test_gate_at_realtime_policy);
	tcase_add_test(tc, test_arm_msg_lines);
	suite_add_tcase(s, tc);
	return s;
}

/* test_gate --gate-child-rt: the gate at SCHED_FIFO in a fresh process
 * (test_gate_at_realtime_policy); its release on FC_TEST_RESULT_FD. */
static int gate_child_rt(void)
{
	struct sched_param sp = { .sched_priority = 10 };
	struct fleetclock_start st;
	const char *fd = getenv("FC_TEST_RESULT_FD");

	if (!fd)
		return 5;
	if (sched_setscheduler(0, SCHED_FIFO, &sp) < 0)
		return getuid() == 0 ? 3 : 77;
	if (fleetclock_wait_start(&st) != 0)
		return 4;
	return write(atoi(fd), &st.released, sizeof(st.released)) == sizeof(st.released) ? 0 : 5;
}

int main(int argc, char **argv)
{
	self_path = argv[0];	/* not /proc/self/exe: under valgrind that is valgrind */
	if (argc == 2 && !strcmp(argv[1], "--gate-child-rt"))
		return gate_child_rt();
	return check_run(gate_suite());
}
