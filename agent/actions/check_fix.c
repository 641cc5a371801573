/* check_fix.c - --check --fix, see check_fix.h. */
#include "actions/check_fix.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rtc/agent_rtc.h"
#include "rtc/rtc.h"
#include "rtc/rtc_discipline.h"
#include "rtc/rtc_store.h"
#include "selected_source.h"
#include "report/status.h"
#include "time/timeutil.h"

#define POLL_US 200000
#define FRESH_WAIT_S 20.0
#define SLEW_MAX 0.083333	/* chronyd's default maxslewrate: 83333 ppm */

static void note(struct check_fix_log *log, const char *action, bool ok, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void note(struct check_fix_log *log, const char *action, bool ok, const char *fmt, ...)
{
	va_list ap;

	if (log->n == CHECK_FIX_MAX_ACTIONS)
		return;
	snprintf(log->actions[log->n].action, sizeof(log->actions[0].action), "%s", action);
	log->actions[log->n].ok = ok;
	va_start(ap, fmt);
	vsnprintf(log->actions[log->n].detail, sizeof(log->actions[0].detail), fmt, ap);
	va_end(ap);
	log->n++;
}

static bool fresh(const struct chrony_tracking *t, const struct chrony_tracking *before)
{
	return t->ref_time.tv_sec != before->ref_time.tv_sec ||
	       t->ref_time.tv_nsec != before->ref_time.tv_nsec;
}

/* The selected source's NTP data, read once per run after the burst: with
 * it the budget holds the bound relative to the master, as the check does
 * (docs/spread-bound.md). A one-shot action: one run at a time. */
static struct spread_sel fix_sel;

static void read_sel(struct chrony_client *c)
{
	struct chrony_snapshot *snap = calloc(1, sizeof(*snap));

	memset(&fix_sel, 0, sizeof(fix_sel));
	if (snap && chrony_client_snapshot(c, snap) == 0)
		selected_source_read(c, snap, &fix_sel, NULL);
	free(snap);
}

/* The bound the budget holds: relative to the master when it applies. */
static double fix_bound(const struct chrony_tracking *t)
{
	struct spread_node n = status_spread_node(t, &fix_sel);
	double r = spread_bound_relative(&n, NULL);

	return isfinite(r) ? r : chrony_tracking_max_error(t);
}

static bool within(const struct chrony_tracking *t, double budget)
{
	return chrony_tracking_synchronised(t) && fix_bound(t) <= budget;
}

/* Poll tracking until done() or the monotonic deadline; returns whether
 * done() became true; *t holds the last tracking read. */
static bool wait_for(struct chrony_client *c, double deadline, struct chrony_tracking *t,
		     bool (*done)(const struct chrony_tracking *, const void *), const void *arg)
{
	for (;;) {
		if (chrony_client_tracking(c, t) == 0 && done(t, arg))
			return true;
		if (timeutil_now(CLOCK_MONOTONIC) >= deadline)
			return false;
		usleep(POLL_US);
	}
}

static bool done_fresh(const struct chrony_tracking *t, const void *arg)
{
	return fresh(t, arg);
}

static bool done_within(const struct chrony_tracking *t, const void *arg)
{
	return within(t, *(const double *)arg);
}

/* Write the RTC at the second boundary once the clock is right (never from
 * a clock chronyd does not call synchronised). No RTC: nothing to do. */
static void fix_rtc(struct agent_ctx *ctx, struct chrony_client *c, struct check_fix_log *log)
{
	struct rtc_disc_report rep = { 0 };
	struct rtc_disc_params p;
	struct chrony_tracking t;
	struct rtc_dev *d = NULL;
	struct rtc_store store;
	char err[400], off[32];
	int rc;

	if (!strcmp(ctx->cfg.rtc_device, "none"))
		return;
	if (chrony_client_tracking(c, &t) < 0 || !chrony_tracking_synchronised(&t)) {
		note(log, "rtc", false, "not written: chronyd does not call the clock synchronised");
		return;
	}
	rc = agent_rtc_open_store(ctx, &d, &store, err, sizeof(err));
	if (rc == -ENODEV && !strcmp(ctx->cfg.rtc_device, "auto"))
		return;
	if (rc < 0) {
		note(log, "rtc", false, "%s", err);
		return;
	}
	agent_rtc_params(ctx, &p);
	rep.decision = (struct rtc_disc_decision){ RTC_DISC_REWRITE, false, "--check --fix" };
	rc = rtc_discipline_rewrite(d, &p, &store, &rep);
	if (rc == 0 && rep.have_verify)
		note(log, "rtc", true, "written at the second boundary (%s): now %s from the system clock",
		     rtc_describe(d), timeutil_format_duration(rep.verify.offset, 1, off, sizeof(off)));
	else if (rc == 0)
		note(log, "rtc", true, "written at the second boundary (%s)", rtc_describe(d));
	else
		note(log, "rtc", false, "%s", rep.rc ? rep.err : rtc_error(d));
	rtc_close(d);
}

/* MAKESTEP refused: chronyd has dropped the correction it was slewing, so
 * its tracking looks right until its next update brings the offset back.
 * Wait for that update; then give up at once when the error cannot be
 * slewed out in the fix's remaining time. Returns whether to go on
 * waiting for the budget. */
static bool after_failed_step(struct chrony_client *c, struct check_fix_log *log,
			      const struct chrony_tracking *before_step, double deadline, double budget,
			      double t0, struct chrony_tracking *t)
{
	struct chrony_tracking dropped;
	char d1[32], d2[32];
	double left;

	note(log, "makestep", false, "%s: chronyd could not step the clock (no clock control: chronyd -x, "
	     "or no CAP_SYS_TIME) and dropped its correction of %s", chrony_client_error(c),
	     timeutil_format_duration(before_step->current_correction, 1, d1, sizeof(d1)));
	if (chrony_client_tracking(c, &dropped) < 0)
		dropped = *before_step;
	if (!wait_for(c, fmin(deadline, timeutil_now(CLOCK_MONOTONIC) + FRESH_WAIT_S), t, done_fresh,
		      &dropped)) {
		note(log, "wait", false, "no clock update within %.0f s of the failed step: the error "
		     "cannot be judged", timeutil_now(CLOCK_MONOTONIC) - t0);
		return false;
	}
	left = deadline - timeutil_now(CLOCK_MONOTONIC);
	if (within(t, budget) || fabs(t->current_correction) <= SLEW_MAX * left)
		return true;
	note(log, "wait", false, "max error %s after chronyd's next update (budget %s): not slewed out "
	     "in the %.0f s left (chronyd slews at most 83 ms/s)",
	     timeutil_format_duration(fix_bound(t), 0, d1, sizeof(d1)),
	     timeutil_format_duration(budget, 0, d2, sizeof(d2)), left);
	return false;
}

/* Step when over budget; returns whether waiting for the budget can help. */
static bool fix_step(struct chrony_client *c, struct check_fix_log *log, double deadline,
		     double budget, double t0, struct chrony_tracking *t)
{
	char d1[32];
	struct chrony_tracking before = *t;

	if (within(t, budget)) {
		note(log, "makestep", true, "not needed: max error %s within budget",
		     timeutil_format_duration(fix_bound(t), 0, d1, sizeof(d1)));
		return true;
	}
	if (chrony_client_makestep(c) < 0)
		return after_failed_step(c, log, &before, deadline, budget, t0, t);
	note(log, "makestep", true, "stepped by %s",
	     timeutil_format_duration(t->current_correction, 1, d1, sizeof(d1)));
	return true;
}

void check_fix_run(struct agent_ctx *ctx, struct chrony_client *c, struct check_fix_log *log)
{
	double budget = ctx->cfg.budget_ms / 1e3, t0 = timeutil_now(CLOCK_MONOTONIC);
	double deadline = t0 + ctx->cfg.check_fix_timeout_s;
	struct chrony_tracking before, t;
	char d1[32], d2[32];
	int rc;

	if (chrony_client_tracking(c, &before) < 0) {
		note(log, "tracking", false, "%s", chrony_client_error(c));
		return;
	}
	rc = chrony_client_burst(c, NULL, NULL, 4, 8);
	note(log, "burst", rc == 0, "%s", rc == 0 ? "asked every source for 4 good samples (of at most 8)"
						  : chrony_client_error(c));
	if (wait_for(c, fmin(deadline, t0 + FRESH_WAIT_S), &t, done_fresh, &before))
		note(log, "wait", true, "fresh clock update after %.1f s", timeutil_now(CLOCK_MONOTONIC) - t0);
	else
		note(log, "wait", false, "no clock update within %.0f s", timeutil_now(CLOCK_MONOTONIC) - t0);
	log->started = t0;
	read_sel(c);
	if (!fix_step(c, log, deadline, budget, t0, &t)) {
		/* chronyd still calls the clock synchronised: never write the
		 * RTC from a clock known to be over budget. */
		if (strcmp(ctx->cfg.rtc_device, "none"))
			note(log, "rtc", false, "not written: the clock is over budget");
		log->deadline = timeutil_now(CLOCK_MONOTONIC);	/* the settle wait cannot help */
		return;
	}
	if (wait_for(c, deadline, &t, done_within, &budget))
		note(log, "wait", true, "max error %s within budget %s after %.1f s",
		     timeutil_format_duration(fix_bound(&t), 0, d1, sizeof(d1)),
		     timeutil_format_duration(budget, 0, d2, sizeof(d2)), timeutil_now(CLOCK_MONOTONIC) - t0);
	else
		note(log, "wait", false, "max error still %s (budget %s) after %.0f s%s",
		     timeutil_format_duration(fix_bound(&t), 0, d1, sizeof(d1)),
		     timeutil_format_duration(budget, 0, d2, sizeof(d2)), timeutil_now(CLOCK_MONOTONIC) - t0,
		     chrony_tracking_synchronised(&t) ? "" : ", not synchronised");
	fix_rtc(ctx, c, log);
	log->deadline = deadline;
}

void check_fix_note(struct check_fix_log *log, const char *action, bool ok, const char *detail)
{
	note(log, action, ok, "%s", detail);
}

void check_fix_print(const struct check_fix_log *log)
{
	for (size_t i = 0; i < log->n; i++)
		printf("fix: %-9s %s%s\n", log->actions[i].action, log->actions[i].ok ? "" : "FAILED: ",
		       log->actions[i].detail);
}

json_t *check_fix_json(const struct check_fix_log *log)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < log->n; i++)
		json_array_append_new(a, json_pack("{s:s, s:b, s:s}", "action", log->actions[i].action, "ok",
						   log->actions[i].ok, "detail", log->actions[i].detail));
	return a;
}
