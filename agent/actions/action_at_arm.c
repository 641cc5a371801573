/* action_at_arm.c - both ends of the gate's pipe (docs/start.md): --at TIME
 * --arm starts CMD early and follows its "ready" and "go"; --wait-until
 * tells the arming agent. Split from action_at.c, which keeps the rest;
 * action_at_priv.h holds what both use. */
#include "actions/action_at_priv.h"

#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "agent.h"
#include "actions/arm_msg.h"
#include "chrony/chrony_client.h"
#include "fleetclock_config.h"
#include "base/log.h"
#include "time/precise_wait.h"
#include "chrony/readiness.h"
#include "report/start_send.h"
#include "time/timeutil.h"
#include "time/when.h"

#define AT_ARM_QUIET_NS 2000000	/* --arm: the agent wakes this long after TIME once CMD is ready */
#define AT_ARM_GO_MS 2000		/* --arm: CMD's "go" line expected within this after TIME */

/* --wait-until: back to the old policy before returning to the shell. */
static void leave_rt(struct at_run *r)
{
	if (r->rt_on && sched_setscheduler(0, r->old_policy, &r->old_param) < 0)
		log_warn("--rt: restoring the scheduling policy: %s", strerror(errno));
}

/* --arm LEAD as ns (0: none). -EINVAL with a message. */
static int parse_lead(struct at_run *r, int64_t *lead_ns)
{
	const char *lead = r->ctx->arm_lead;
	struct timespec now = action_at_now_rt(), at;
	char text[64], err[256];

	*lead_ns = 0;
	if (!lead)
		return 0;
	snprintf(text, sizeof(text), "%s%s", lead[0] == '+' ? "" : "+", lead);
	if (when_parse(text, now, &at, err, sizeof(err)) < 0) {
		log_err("--arm LEAD '%s': not a duration (5s, 500ms, 1m): %s", lead, err);
		return -EINVAL;
	}
	*lead_ns = timeutil_ts_diff_ns(at, now);
	return 0;
}

/* TIME for CMD's environment: ns since the epoch, RFC 3339, the pipe. */
static int arm_environment(struct at_run *r, int write_fd)
{
	char ns[32], rfc[48], fd[16];

	snprintf(ns, sizeof(ns), "%lld",
		 (long long)r->target.tv_sec * NSEC_PER_SEC + r->target.tv_nsec);
	snprintf(fd, sizeof(fd), "%d", write_fd);
	if (!timeutil_format_rfc3339(r->target, 9, rfc, sizeof(rfc)) ||
	    setenv("FLEETCLOCK_START_AT_NS", ns, 1) < 0 || setenv("FLEETCLOCK_START_AT", rfc, 1) < 0 ||
	    setenv("FLEETCLOCK_READY_FD", fd, 1) < 0)
		return -ENOMEM;
	return 0;
}

static pid_t arm_child;

/* The agent stays CMD's parent: what it is sent goes to CMD. */
static void forward_signal(int sig)
{
	if (arm_child > 0)
		kill(arm_child, sig);
}

static void forward_signals(pid_t child)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
	struct sigaction sa = { .sa_handler = forward_signal, .sa_flags = SA_RESTART };

	arm_child = child;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

/* Start CMD now with TIME in its environment and the write end of a pipe
 * inherited. 0 or an exit code. */
static int spawn_armed(struct at_run *r)
{
	int p[2], e;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return action_at_refuse(r, AGENT_EXIT_ERROR, "pipe for FLEETCLOCK_READY_FD: %s", strerror(errno));
	if (arm_environment(r, p[1]) < 0) {
		close(p[0]);
		close(p[1]);
		return action_at_refuse(r, AGENT_EXIT_ERROR, "setting CMD's environment: out of memory");
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		fcntl(p[1], F_SETFD, 0);	/* the one fd CMD inherits on purpose */
		execvp(r->cmd_path, r->ctx->argv);
		e = errno;
		log_err("--at --arm: exec %s: %s", r->ctx->argv[0], strerror(e));
		_exit(e == ENOENT ? AT_EXIT_NOT_FOUND : AT_EXIT_CANNOT_EXEC);
	}
	e = errno;
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		return action_at_refuse(r, AGENT_EXIT_ERROR, "fork for %s: %s", r->ctx->argv[0], strerror(e));
	}
	r->child = pid;
	r->arm_fd = p[0];
	forward_signals(pid);
	return AGENT_EXIT_OK;
}

/* Read what CMD wrote (once; the fd is readable). */
static void arm_read(struct at_run *r)
{
	char buf[256];
	ssize_t n = read(r->arm_fd, buf, sizeof(buf));

	if (n > 0)
		arm_msg_feed(&r->msg, buf, (size_t)n);
	else if (n == 0 || errno != EINTR)
		r->arm_eof = true;
}

/* Until TIME: follow clock steps, take CMD's lines as they come. Once CMD
 * said ready the agent stops polling its pipe and sleeps until shortly
 * AFTER TIME: at TIME the CPU belongs to CMD, and its "go" line into a
 * pipe nobody polls costs it about a microsecond, against 20-40 us to wake
 * a poller (gate_probe under --rt, measured: the release itself was 60 ns
 * after TIME, the program's first clock read 22-42 us). Whether CMD was
 * ready by TIME is judged from its own "ready" stamp, not from when the
 * agent looks. */
static int arm_wait_target(struct at_run *r)
{
	struct precise_wait_opts o = { .approach_ns = 0, .spin_ns = 0 };

	for (;;) {
		bool watch = !r->arm_eof && !r->msg.ready;
		struct timespec until = watch ? r->target : timeutil_ts_add_ns(r->target, AT_ARM_QUIET_NS);
		int rc = precise_wait_until_fd(until, &o, &r->wait, watch ? r->arm_fd : -1);

		r->steps_before += r->wait.steps;
		r->step_s_before += r->wait.total_step_s;
		if (rc < 0)
			return action_at_refuse(r, AGENT_EXIT_ERROR, "the wait failed (see above)");
		if (rc == 0)
			break;
		arm_read(r);
		if (r->arm_eof && !r->msg.ready)
			break;	/* CMD is gone, or does not use a gate: no need to wait */
	}
	r->wait.steps = 0;	/* counted above */
	r->wait.total_step_s = 0;
	r->ready_by_target = r->msg.ready && timeutil_ts_diff_ns(r->msg.ready_at, r->target) <= 0;
	return AGENT_EXIT_OK;
}

/* Read CMD's lines until done(r) or EOF, at most timeout_ms (-1: until
 * CMD closes the pipe, i.e. at the latest when it exits). */
static void arm_read_until(struct at_run *r, bool (*done)(const struct arm_msg *), int timeout_ms)
{
	struct timespec deadline = timeutil_ts_add_ns(action_at_now_rt(), (int64_t)timeout_ms * 1000000);

	while (!r->arm_eof && !done(&r->msg)) {
		struct pollfd p = { .fd = r->arm_fd, .events = POLLIN };
		int64_t left_ms = timeutil_ts_diff_ns(deadline, action_at_now_rt()) / 1000000;
		int n;

		if (timeout_ms >= 0 && left_ms <= 0)
			return;
		n = poll(&p, 1, timeout_ms < 0 ? -1 : (int)left_ms + 1);
		if (n > 0)
			arm_read(r);
		else if (n < 0 && errno != EINTR)
			return;
	}
}

static bool said_ready(const struct arm_msg *m) { return m->ready; }

static bool said_go(const struct arm_msg *m) { return m->go; }

/* After TIME: a CMD not ready yet starts late (measured when it says
 * ready); then its release. */
static enum arm_outcome arm_after_target(struct at_run *r)
{
	char buf[48];

	if (!r->ready_by_target) {
		log_warn("--at --arm: %s was not ready at %s; it starts late, when it is", r->ctx->argv[0],
			 timeutil_format_rfc3339(r->target, 6, buf, sizeof(buf)) ? buf : "TIME");
		arm_read_until(r, said_ready, -1);
	}
	arm_read_until(r, said_go, AT_ARM_GO_MS);
	if (r->msg.go)
		r->start = r->msg.go_at;
	if (r->msg.ready && !r->ready_by_target)
		log_warn("--at --arm: %s started late: ready %.6f s after TIME", r->ctx->argv[0],
			 timeutil_ts_diff_ns(r->msg.ready_at, r->target) * 1e-9);
	return arm_msg_outcome(&r->msg, r->ready_by_target);
}

/* CMD's exit status as the agent's (a signal: 128 + its number). */
static int wait_child(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			log_err("--at --arm: waitpid(%d): %s", (int)pid, strerror(errno));
			return AGENT_EXIT_ERROR;
		}
	}
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/* The re-check of a long wait, as for --at (CMD's lines wait in the pipe;
 * they carry their own time). A node that is not ready any more does not
 * start: CMD, still before its gate, is terminated. */
static int refresh_armed(struct at_run *r, const struct precise_wait_opts *o)
{
	int rc = action_at_refresh(r, o);

	if (rc == AGENT_EXIT_OK)
		return rc;
	log_err("--at --arm: stopping %s (pid %d) before TIME: not started on a node that is not "
		"ready", r->ctx->argv[0], (int)r->child);
	kill(r->child, SIGTERM);
	wait_child(r->child);
	r->child = 0;
	return rc;
}

/* --at TIME --arm [LEAD] -- CMD: the checks of --at, CMD started LEAD
 * before TIME (or now), the outcome reported at TIME, CMD's exit status. */
int action_at_run_armed(struct at_run *r)
{
	struct precise_wait_opts coarse = { .approach_ns = 0, .spin_ns = 0 };
	enum arm_outcome outcome;
	int64_t lead_ns = 0;
	int rc = action_at_prepare(r);

	if (rc == AGENT_EXIT_OK && parse_lead(r, &lead_ns) < 0)
		rc = AGENT_EXIT_ERROR;
	if (rc == AGENT_EXIT_OK)
		rc = action_at_gate_and_enter(r);
	if (rc != AGENT_EXIT_OK)
		return rc;
	if (lead_ns > 0 && precise_wait_until(timeutil_ts_add_ns(r->target, -lead_ns), &coarse, &r->wait) < 0)
		return action_at_refuse(r, AGENT_EXIT_ERROR, "the wait failed (see above)");
	r->steps_before += r->wait.steps;
	r->step_s_before += r->wait.total_step_s;
	rc = spawn_armed(r);
	if (rc == AGENT_EXIT_OK)
		rc = refresh_armed(r, &coarse);
	if (rc == AGENT_EXIT_OK)
		rc = arm_wait_target(r);
	if (rc != AGENT_EXIT_OK)
		return r->child > 0 ? wait_child(r->child) : rc;
	outcome = arm_after_target(r);
	if (outcome != ARM_NO_READY && !r->msg.go)	/* no release time: no proven start */
		action_at_write_report(r, "aborted", "CMD said ready but reported no release (no "
				       "\"go\" line): it ended first (a signal passed on?) or its "
				       "gate does not say go");
	else
		action_at_write_report(r, arm_outcome_str(outcome), outcome == ARM_NO_READY ?
			     "CMD closed FLEETCLOCK_READY_FD or exited without saying ready" : NULL);
	if (outcome == ARM_NO_READY)
		log_warn("--at --arm: %s closed FLEETCLOCK_READY_FD or exited without saying ready "
			 "(does it use the gate? see docs/start.md)", r->ctx->argv[0]);
	return wait_child(r->child);
}

/* --wait-until inside a CMD of --at --arm (a shell script): tell the agent
 * "ready" / "go" like the gate libraries do. */
static void tell_arming_agent(const char *what, struct timespec t, unsigned steps)
{
	const char *v = getenv("FLEETCLOCK_READY_FD");
	char line[96];
	int n;

	if (!v || !*v || strspn(v, "0123456789") != strlen(v))
		return;
	if (!strcmp(what, "ready"))
		n = snprintf(line, sizeof(line), "ready %lld\n",
			     (long long)t.tv_sec * NSEC_PER_SEC + t.tv_nsec);
	else
		n = snprintf(line, sizeof(line), "go %lld %u\n",
			     (long long)t.tv_sec * NSEC_PER_SEC + t.tv_nsec, steps);
	if (write(atoi(v), line, (size_t)n) != n)
		log_debug("FLEETCLOCK_READY_FD %s: write: %s", v, strerror(errno));
}

/* --wait-until --experiment ID alone (a shell script's own gate): a start
 * record as --at sends. Not inside a CMD of --at --arm: the arming agent
 * sends that start's record, which this one would replace. */
static void wait_until_recorder(struct at_run *r)
{
	if (!r->ctx->experiment)
		return;
	if (getenv("FLEETCLOCK_READY_FD")) {
		log_info("--wait-until under --at --arm: the arming agent sends the start record of "
			 "%s, not this gate", r->ctx->experiment);
		return;
	}
	start_recorder_begin(&r->recorder, &r->ctx->cfg);
}

int agent_action_wait_until(struct agent_ctx *ctx)
{
	struct at_run r = { .ctx = ctx, .action = "wait-until", .report_fd = -1, .recorder = { -1 } };
	int rc;

	if (ctx->argc > 0) {
		log_err("--wait-until takes no command (%s ...): use --at TIME -- CMD", ctx->argv[0]);
		return AGENT_EXIT_ERROR;
	}
	tell_arming_agent("ready", action_at_now_rt(), 0);
	wait_until_recorder(&r);
	rc = action_at_run(&r);
	if (rc == AGENT_EXIT_OK) {
		tell_arming_agent("go", r.start, r.steps_before + r.wait.steps);
		action_at_write_report(&r, "waited", NULL);
	}
	leave_rt(&r);
	if (r.report_fd >= 0)
		close(r.report_fd);
	start_recorder_end(&r.recorder);
	return rc;
}
