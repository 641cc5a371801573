/* action_at_priv.h - private to action_at.c and action_at_arm.c:
 * what both use. */
#ifndef FLEETCLOCK_ACTION_AT_PRIV_H
#define FLEETCLOCK_ACTION_AT_PRIV_H

#include <errno.h>
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

#define AT_EXIT_CANNOT_EXEC 126		/* as env(1) and nice(1) */

#define AT_EXIT_NOT_FOUND 127

struct at_run {
	struct agent_ctx *ctx;
	const char *action;		/* "at" or "wait-until" */
	struct timespec target;
	bool have_tracking;
	struct chrony_tracking tracking;
	struct timespec tracking_at;	/* CLOCK_REALTIME when tracking was read */
	struct precise_wait_stats wait;
	unsigned steps_before;		/* clock steps seen before the last wait */
	double step_s_before;
	struct timespec start;		/* CLOCK_REALTIME right before exec */
	char cmd_path[PATH_MAX];	/* CMD found in PATH before the wait */
	int report_fd;
	bool armed;			/* --arm: CMD started early, gated */
	pid_t child;
	int arm_fd;			/* read end of CMD's FLEETCLOCK_READY_FD */
	bool arm_eof;
	struct arm_msg msg;		/* what CMD said on it */
	bool ready_by_target;
	bool rt_on;
	struct start_recorder recorder;	/* the start record's way to the collector */
	int old_policy;
	struct sched_param old_param;
};

struct timespec action_at_now_rt(void);

/* Append one JSON line to the --report file: what was asked, what
 * happened, and chronyd's error bound. Also the start record. */
void action_at_write_report(struct at_run *r, const char *result, const char *reason);

/* Print why nothing is started, report it, return the exit code. */
int action_at_refuse(struct at_run *r, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A long wait: wake AT_REFRESH_S before TIME and check again (one quick
 * attempt per request), so the report's bound is fresh and a node that
 * stopped being ready meanwhile does not start. When chronyd does not
 * answer, the earlier verdict and bound stand. */
int action_at_refresh(struct at_run *r, const struct precise_wait_opts *wait_opts);

int action_at_prepare(struct at_run *r);

/* Hand the recorder the provisional record (outcome "aborted", what r
 * knows now): what the collector gets when the agent ends before its
 * outcome (SIGKILL, SIGTERM, a crash); a later record replaces it. */
void action_at_record_provisional(struct at_run *r);

/* What --at and --at --arm do before waiting: the readiness gate, the
 * late check, SCHED_FIFO with --rt. */
int action_at_gate_and_enter(struct at_run *r);

int action_at_run(struct at_run *r);

/* --at TIME --arm [LEAD] -- CMD: the checks of --at, CMD started LEAD
 * before TIME (or now), the outcome reported at TIME, CMD's exit status. */
int action_at_run_armed(struct at_run *r);

#endif
