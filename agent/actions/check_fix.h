/* check_fix.h - --check --fix: bring this node to ready through chronyd:
 * fresh samples (BURST), a step (MAKESTEP), a bounded wait until the error
 * is within budget. Records what it did for the report. */
#ifndef FLEETCLOCK_CHECK_FIX_H
#define FLEETCLOCK_CHECK_FIX_H

#include <jansson.h>
#include <stdbool.h>

#include "agent.h"

#define CHECK_FIX_MAX_ACTIONS 8

struct check_fix_log {
	double started, deadline;	/* CLOCK_MONOTONIC: the fix's time budget */
	size_t n;
	struct {
		char action[16];	/* "burst", "makestep", "wait", "rtc" */
		bool ok;
		char detail[320];
	} actions[CHECK_FIX_MAX_ACTIONS];
};

/* Try to make the node ready: burst, wait for a fresh update, step when
 * over budget, wait (bounded) until the error is within budget. Never fails
 * as a whole: each step's outcome is logged; the caller then waits, until
 * log->deadline, for every check to pass (skew settles after a step). */
void check_fix_run(struct agent_ctx *ctx, struct chrony_client *c, struct check_fix_log *log);

/* Record one more step (the caller's settle wait). */
void check_fix_note(struct check_fix_log *log, const char *action, bool ok, const char *detail);

/* "fix: burst: ..." lines on stdout. */
void check_fix_print(const struct check_fix_log *log);

/* [{"action", "ok", "detail"}] */
json_t *check_fix_json(const struct check_fix_log *log);

#endif
