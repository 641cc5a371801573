/* daemon_rtc.c - the RTC discipline in the daemon loop, see daemon_rtc.h. */
#include "rtc/daemon_rtc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rtc/agent_rtc.h"
#include "base/log.h"
#include "rtc/rtc.h"
#include "rtc/rtc_discipline.h"
#include "rtc/rtc_store.h"

struct daemon_rtc {
	struct agent_ctx *ctx;
	struct rtc_dev *dev;		/* NULL while it cannot be opened */
	struct rtc_store store;
	struct rtc_disc_report last;
	bool have_last;
	double next;			/* CLOCK_MONOTONIC of the next step */
	bool was_reference;		/* fleet_reference at the last call */
	struct log_ratelimit rl;
};

static int try_open(struct daemon_rtc *r)
{
	char err[400];
	int rc = agent_rtc_open_store(r->ctx, &r->dev, &r->store, err, sizeof(err));

	if (rc < 0) {
		log_ratelimited(&r->rl, LOG_WARNING, "%s", err);
		return rc;
	}
	log_info("RTC: %s, measured every %d min", rtc_describe(r->dev), r->ctx->cfg.rtc_interval_min);
	return 0;
}

int daemon_rtc_open(struct agent_ctx *ctx, struct daemon_rtc **out)
{
	struct daemon_rtc *r;
	char err[400];
	struct rtc_dev *probe = NULL;

	*out = NULL;
	if (!strcmp(ctx->cfg.rtc_device, "none"))
		return 0;
	if (!strcmp(ctx->cfg.rtc_device, "auto") &&
	    rtc_open("auto", &probe, err, sizeof(err)) == -ENODEV) {
		log_info("%s: the daemon keeps no RTC", err);
		return 0;
	}
	rtc_close(probe);
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->ctx = ctx;
	r->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(3600);
	try_open(r);
	*out = r;
	return 0;
}

void daemon_rtc_tick(struct daemon_rtc *r, double now_mono, bool fleet_reference)
{
	if (!r)
		return;
	/* Elected master just now: its clock is the fleet's; measure at once
	 * (the RTC may have waited for a synchronised clock since the start). */
	if (fleet_reference && !r->was_reference)
		r->next = now_mono;
	r->was_reference = fleet_reference;
	if (now_mono < r->next)
		return;
	r->next = now_mono + r->ctx->cfg.rtc_interval_min * 60.0;
	if (!r->dev && try_open(r) < 0)
		return;
	memset(&r->last, 0, sizeof(r->last));
	agent_rtc_tick(r->ctx, r->dev, &r->store, fleet_reference, &r->last);
	r->have_last = true;
	if (r->last.rc)
		log_ratelimited(&r->rl, LOG_WARNING, "RTC %s: %s", rtc_describe(r->dev), r->last.err);
	else
		log_info("RTC step: %s (%s)", rtc_discipline_action_name(r->last.decision.action),
			 r->last.decision.why);
}

void daemon_rtc_status(const struct daemon_rtc *r, struct status_rtc *out)
{
	const struct rtc_disc_report *l;

	memset(out, 0, sizeof(*out));
	if (!r)
		return;
	out->present = true;
	snprintf(out->device, sizeof(out->device), "%s",
		 r->dev ? r->dev->path : r->ctx->cfg.rtc_device);
	snprintf(out->backend, sizeof(out->backend), "%s",
		 !strncmp(out->device, "/dev/rtc", 8) ? "linux" : "ds1307");
	if (!r->have_last)
		return;
	l = &r->last;
	out->valid = l->have_edge && (r->store.rec_rc == 0 &&
				      (r->store.rec.flags & DS1307_RECORD_TIME_VALID));
	out->have_offset = l->have_edge || l->have_verify;
	out->offset_s = l->have_verify ? l->verify.offset : l->edge.offset;
	if (r->store.rec_rc == 0 && (r->store.rec.flags & DS1307_RECORD_DRIFT_VALID)) {
		out->have_drift = true;
		out->drift_ppm = r->store.rec.drift_ppm;
	}
	if (r->store.rec_rc == 0)
		out->last_sync = (struct timespec){ (time_t)r->store.rec.ref_sec, (long)r->store.rec.ref_nsec };
}

void daemon_rtc_close(struct daemon_rtc *r)
{
	if (!r)
		return;
	rtc_close(r->dev);
	free(r);
}
