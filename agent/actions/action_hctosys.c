/* action_hctosys.c - --hctosys: the boot oneshot, before chronyd. Sets the
 * system clock from the RTC read at its second edge, with the drift since
 * the last synchronised reference taken out. Refuses an invalid RTC (CH,
 * garbage, no record, reset) and says why, never writing garbage into the
 * system clock; --dry-run prints what it would set; needs CAP_SYS_TIME. */
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "rtc/agent_rtc.h"
#include "fleetclock_config.h"
#include "base/log.h"
#include "time/timeutil.h"

static bool have_cap_sys_time(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct c[2];

	memset(c, 0, sizeof(c));
	if (syscall(SYS_capget, &h, c) < 0)
		return false;
	return c[CAP_SYS_TIME / 32].effective & (1u << (CAP_SYS_TIME % 32));
}

/* sys_now: the system clock just before it was (or would be) set. */
static void report(struct agent_ctx *ctx, const struct rtc_edge *e, const struct rtc_restore *r,
		   double target, double sys_now, bool done)
{
	char b1[48], b2[48], b3[48], c[32], u[32];

	if (ctx->json) {
		agent_rtc_print_json(json_pack("{s:b, s:b, s:s, s:I, s:f, s:f, s:f, s:f, s:b, s:f, s:f}",
			"dry_run", ctx->dry_run, "set", done,
			"rtc_time", agent_rtc_time_str((double)e->rtc, 0, b1, sizeof(b1)),
			"rtc_epoch", (json_int_t)e->rtc, "target", target, "correction_s", r->correction,
			"elapsed_s", r->elapsed, "uncertainty_s", r->uncertainty, "drift_used", r->drift_used,
			"system_before", sys_now, "step_s", target - sys_now));
		return;
	}
	printf("RTC              %s at its second edge\n", agent_rtc_time_str((double)e->rtc, 0, b1, sizeof(b1)));
	printf("Correction       %s (%s since the last reference%s)\n",
	       timeutil_format_duration(r->correction, 1, c, sizeof(c)),
	       timeutil_format_duration(r->elapsed, 0, u, sizeof(u)),
	       r->drift_used ? ", drift taken out" : ", drift unknown: reference offset only");
	printf("%s %s (+- %s)\n", done ? "System clock set" : "Would set clock ",
	       agent_rtc_time_str(target, 3, b2, sizeof(b2)),
	       timeutil_format_duration(r->uncertainty, 0, u, sizeof(u)));
	printf("System clock was %s (step %s)\n", agent_rtc_time_str(sys_now, 3, b3, sizeof(b3)),
	       timeutil_format_duration(target - sys_now, 1, c, sizeof(c)));
}

/* Step the system clock so that it reads true_at_edge at the edge's
 * monotonic instant. Returns 0 or -errno. */
static int set_clock(double true_at_edge, double mono_edge, double *target, double *before)
{
	struct timespec ts;

	*before = timeutil_now(CLOCK_REALTIME);
	*target = true_at_edge + (timeutil_now(CLOCK_MONOTONIC) - mono_edge);
	ts = timeutil_double_to_ts(*target);
	return clock_settime(CLOCK_REALTIME, &ts) < 0 ? -errno : 0;
}

/* Remember the outcome for the node's clock class (not on --dry-run). */
static void note_boot(struct agent_ctx *ctx, struct rtc_store *s, const char *state, const char *why)
{
	char err[400];

	if (ctx->dry_run)
		return;
	snprintf(s->boot_state, sizeof(s->boot_state), "%s", state);
	snprintf(s->boot_why, sizeof(s->boot_why), "%s", why);
	s->boot_at = (int64_t)timeutil_now(CLOCK_REALTIME);
	/* The state file only: the NVRAM record stays as the last sync left it. */
	if (rtc_store_save(s, NULL, ctx->cfg.rtc_state_file, err, sizeof(err)) < 0)
		log_warn("--hctosys: %s", err);
}

static int restore(struct agent_ctx *ctx, struct rtc_dev *d, struct rtc_store *s)
{
	struct rtc_restore r;
	struct rtc_edge e;
	double target, before;
	int rc = rtc_sync_read_edge(d, ctx->cfg.rtc_edge_timeout_ms, &e);

	if (rc < 0) {
		log_err("--hctosys: refusing: the RTC is not usable: %s; the system clock is left alone "
			"and this node's time is invalid until chronyd synchronises it", rtc_error(d));
		note_boot(ctx, s, "refused", rtc_error(d));
		return AGENT_EXIT_FAIL;
	}
	rtc_discipline_restore(&s->rec, s->rec_rc, e.rtc, e.uncertainty, FLEETCLOCK_BUILD_EPOCH, &r);
	if (!r.ok && !ctx->force) {
		log_err("--hctosys: refusing: %s%s%s; the system clock is left alone (--force to use the "
			"RTC uncorrected)", r.why, s->rec_rc ? ": " : "", s->rec_rc ? s->rec_err : "");
		note_boot(ctx, s, "refused", r.why);
		return AGENT_EXIT_FAIL;
	}
	if (!r.ok) {
		log_warn("--hctosys: %s; --force: using the RTC uncorrected", r.why);
		r = (struct rtc_restore){ .ok = true, .true_time = (double)e.rtc, .uncertainty = 1 };
	}
	if (ctx->dry_run) {
		report(ctx, &e, &r, r.true_time + (timeutil_now(CLOCK_MONOTONIC) - e.mono),
		       timeutil_now(CLOCK_REALTIME), false);
		return AGENT_EXIT_OK;
	}
	if (!have_cap_sys_time()) {
		log_err("--hctosys: setting the system clock needs CAP_SYS_TIME (run as root, or give the "
			"unit AmbientCapabilities=CAP_SYS_TIME); nothing changed (--dry-run shows what "
			"would be set)");
		return AGENT_EXIT_ERROR;
	}
	rc = set_clock(r.true_time, e.mono, &target, &before);
	if (rc < 0) {
		log_err("--hctosys: clock_settime(CLOCK_REALTIME): %s%s", strerror(-rc),
			rc == -EPERM ? " (needs CAP_SYS_TIME)" : "");
		return rc == -EPERM ? AGENT_EXIT_ERROR : AGENT_EXIT_FAIL;
	}
	report(ctx, &e, &r, target, before, true);
	note_boot(ctx, s, r.drift_used ? "restored" : "restored-no-drift", "");
	return AGENT_EXIT_OK;
}

int agent_action_hctosys(struct agent_ctx *ctx)
{
	struct rtc_dev *d = NULL;
	struct rtc_store store;
	int rc;

	if (agent_rtc_open(ctx, &d, &store) < 0)
		return AGENT_EXIT_ERROR;
	rc = restore(ctx, d, &store);
	rtc_close(d);
	return rc;
}
