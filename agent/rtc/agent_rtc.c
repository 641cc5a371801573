/* action_rtc.c - the RTC actions: --rtc-show (what the RTC says, against the
 * system clock at its second edge, with drift and record), --rtc-step (one
 * step of the daemon's RTC discipline) and --systohc (write the RTC at the
 * boundary, only from a synchronised clock unless --force). --hctosys is in
 * action_hctosys.c. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "rtc/agent_rtc.h"
#include "base/log.h"
#include "time/timeutil.h"

int agent_rtc_open_store(const struct agent_ctx *ctx, struct rtc_dev **d, struct rtc_store *store,
			 char *err, size_t errlen)
{
	int rc = rtc_open(ctx->cfg.rtc_device, d, err, errlen);

	if (rc < 0)
		return rc;
	rc = rtc_store_load(store, *d, ctx->cfg.rtc_state_file);
	if (rc < 0) {
		/* NVRAM unreadable: go on without a record, say why. */
		store->rec_rc = rc;
		snprintf(store->rec_err, sizeof(store->rec_err), "%s", rtc_error(*d));
	}
	return 0;
}

int agent_rtc_open(struct agent_ctx *ctx, struct rtc_dev **d, struct rtc_store *store)
{
	char err[400];
	int rc = agent_rtc_open_store(ctx, d, store, err, sizeof(err));

	if (rc < 0) {
		log_err("%s", err);
		if (ctx->json)
			agent_rtc_print_json(json_pack("{s:s, s:b, s:s}", "device", ctx->cfg.rtc_device,
						       "valid", 0, "error", err));
		return rc;
	}
	if (store->file_err[0])
		log_info("%s", store->file_err);
	return 0;
}

void agent_rtc_params(const struct agent_ctx *ctx, struct rtc_disc_params *p)
{
	p->threshold = ctx->cfg.rtc_threshold_ms / 1000.0;
	p->edge_timeout_ms = ctx->cfg.rtc_edge_timeout_ms;
	p->drift_max_unc_ppm = ctx->cfg.rtc_drift_max_unc_ppm;
	p->state_file = ctx->cfg.rtc_state_file;
}

int agent_rtc_synchronised(struct agent_ctx *ctx, bool *sync, char *why, size_t len)
{
	struct chrony_client *c = NULL;
	struct chrony_tracking t;
	int rc = agent_chrony_open(ctx, &c);

	*sync = false;
	if (rc < 0) {
		snprintf(why, len, "cannot set up a chronyd client: %s", strerror(-rc));
		return rc;
	}
	rc = chrony_client_tracking(c, &t);
	if (rc < 0)
		snprintf(why, len, "%s", chrony_client_error(c));
	else if (!(*sync = chrony_tracking_synchronised(&t)))
		snprintf(why, len, "chronyd (%s) says the system clock is not synchronised",
			 chrony_client_endpoint(c));
	chrony_client_close(c);
	return rc;
}

char *agent_rtc_time_str(double t, int digits, char *buf, size_t len)
{
	if (!timeutil_format_rfc3339(timeutil_double_to_ts(t), digits, buf, len))
		snprintf(buf, len, "?");
	return buf;
}

json_t *agent_rtc_record_json(const struct rtc_store *s)
{
	char b1[48], b2[48];

	if (s->rec_rc != 0)
		return json_pack("{s:s, s:s, s:s}", "state", s->rec_rc == -ENOENT ? "absent" : "corrupt",
				 "source", s->rec_source, "error", s->rec_err);
	return json_pack("{s:s, s:s, s:b, s:b, s:s, s:s, s:f, s:f, s:f}", "state", "valid",
			 "source", s->rec_source, "time_valid", (s->rec.flags & DS1307_RECORD_TIME_VALID) != 0,
			 "drift_valid", (s->rec.flags & DS1307_RECORD_DRIFT_VALID) != 0,
			 "last_set", agent_rtc_time_str((double)s->rec.last_set, 0, b1, sizeof(b1)),
			 "reference", agent_rtc_time_str((double)s->rec.ref_sec + s->rec.ref_nsec / 1e9, 3,
							 b2, sizeof(b2)),
			 "reference_offset_ms", s->rec.ref_offset * 1e3, "drift_ppm", s->rec.drift_ppm,
			 "drift_unc_ppm", s->rec.drift_unc_ppm);
}

int agent_rtc_print_json(json_t *doc)
{
	int rc = doc && json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(15)) == 0 ? 0 : -ENOMEM;

	if (rc == 0)
		putchar('\n');
	json_decref(doc);
	return rc;
}

/* "12.3 s", "4 min 05 s", "3 h 02 min", "2 d 04 h" */
static char *age_str(double s, char *buf, size_t len)
{
	long v = (long)s;

	if (s < 0 || s > 1e10)
		snprintf(buf, len, "?");
	else if (s < 60)
		snprintf(buf, len, "%.1f s", s);
	else if (v < 3600)
		snprintf(buf, len, "%ld min %02ld s", v / 60, v % 60);
	else if (v < 86400)
		snprintf(buf, len, "%ld h %02ld min", v / 3600, v / 60 % 60);
	else
		snprintf(buf, len, "%ld d %02ld h", v / 86400, v / 3600 % 24);
	return buf;
}

static void print_record(const struct rtc_store *s, double now)
{
	char b[48], d[32];

	if (s->rec_rc != 0) {
		printf("Record           %s (%s)\n", s->rec_rc == -ENOENT ? "none" : "UNUSABLE", s->rec_err);
		return;
	}
	if (s->rec.flags & DS1307_RECORD_DRIFT_VALID)
		printf("Drift            %+.2f +- %.2f ppm (%+.3f s/day), from the %s record\n",
		       s->rec.drift_ppm, s->rec.drift_unc_ppm, s->rec.drift_ppm * 0.0864, s->rec_source);
	else
		printf("Drift            not known yet (needs synchronised measurements over time)\n");
	printf("Last write       %s (%s ago)\n", agent_rtc_time_str((double)s->rec.last_set, 0, b, sizeof(b)),
	       age_str(now - (double)s->rec.last_set, d, sizeof(d)));
	printf("Last reference   %s, offset %+.3f ms (last synchronised measurement)\n",
	       agent_rtc_time_str((double)s->rec.ref_sec + s->rec.ref_nsec / 1e9, 3, b, sizeof(b)),
	       s->rec.ref_offset * 1e3);
}

static void show_text(struct rtc_dev *d, const struct rtc_store *s, int rc, const struct rtc_edge *e)
{
	char b[48];

	printf("RTC              %s\n", rtc_describe(d));
	if (rc == 0) {
		printf("RTC time         %s (%s mode, oscillator running)\n",
		       agent_rtc_time_str((double)e->rtc, 0, b, sizeof(b)), e->mode_12h ? "12-hour" : "24-hour");
		printf("System time      %s at the RTC's second edge\n",
		       agent_rtc_time_str(timeutil_ts_to_double(e->sys), 3, b, sizeof(b)));
		printf("Offset           %+.3f ms (RTC %s), edge located to "
		       "+-%.3f ms in %d reads\n", e->offset * 1e3, e->offset >= 0 ? "ahead" : "behind",
		       e->uncertainty * 1e3, e->polls + 1);
	}
	print_record(s, timeutil_now(CLOCK_REALTIME));
	if (rc == 0)
		printf("Validity         valid\n");
	else
		printf("Validity         INVALID: %s\n", rtc_error(d));
}

static json_t *show_json(struct rtc_dev *d, const struct rtc_store *s, int rc, const struct rtc_edge *e)
{
	char b1[48], b2[48];
	json_t *doc = json_pack("{s:s, s:s, s:s, s:b, s:o}", "device", d->path, "kind", d->ops->kind,
				"description", rtc_describe(d), "valid", rc == 0,
				"record", agent_rtc_record_json(s));

	if (!doc)
		return NULL;
	if (rc < 0) {
		json_object_set_new(doc, "error", json_string(rtc_error(d)));
		return doc;
	}
	json_object_update_new(doc, json_pack("{s:s, s:s, s:f, s:f, s:I, s:f, s:b, s:i}",
		"rtc_time", agent_rtc_time_str((double)e->rtc, 0, b1, sizeof(b1)),
		"system_time_at_edge", agent_rtc_time_str(timeutil_ts_to_double(e->sys), 6, b2, sizeof(b2)),
		"edge_system_time", timeutil_ts_to_double(e->sys), "offset_ms", e->offset * 1e3,
		"rtc_epoch", (json_int_t)e->rtc, "edge_uncertainty_ms", e->uncertainty * 1e3,
		"mode_12h", e->mode_12h, "reads", e->polls + 1));
	return doc;
}

int agent_action_rtc_show(struct agent_ctx *ctx)
{
	struct rtc_dev *d = NULL;
	struct rtc_store store;
	struct rtc_edge e;
	int rc;

	if (agent_rtc_open(ctx, &d, &store) < 0)
		return AGENT_EXIT_ERROR;
	rc = rtc_sync_read_edge(d, ctx->cfg.rtc_edge_timeout_ms, &e);
	if (ctx->json)
		agent_rtc_print_json(show_json(d, &store, rc, &e));
	else
		show_text(d, &store, rc, &e);
	if (rc < 0 && !ctx->json)
		log_err("%s", rtc_error(d));
	rtc_close(d);
	return rc < 0 ? AGENT_EXIT_FAIL : AGENT_EXIT_OK;
}

void agent_rtc_readiness(struct agent_ctx *ctx, enum readiness_rtc *state, double *offset,
			 char *detail, size_t len)
{
	struct rtc_dev *d = NULL;
	struct rtc_edge e;
	int rc;

	*offset = 0;
	if (!strcmp(ctx->cfg.rtc_device, "none")) {
		*state = READINESS_RTC_NONE;
		snprintf(detail, len, "rtc = none");
		return;
	}
	rc = rtc_open(ctx->cfg.rtc_device, &d, detail, len);
	if (rc == -ENODEV && !strcmp(ctx->cfg.rtc_device, "auto")) {
		/* auto: use one if there is one; none at all is a warning. */
		*state = READINESS_RTC_NONE;
		return;
	}
	if (rc < 0) {
		*state = READINESS_RTC_ERROR;
		return;
	}
	rc = rtc_sync_read_edge(d, ctx->cfg.rtc_edge_timeout_ms, &e);
	if (rc == 0) {
		*state = READINESS_RTC_VALID;
		*offset = e.offset;
		snprintf(detail, len, "%s", rtc_describe(d));
	} else {
		/* Halted, garbage or stopped: the chip's state; anything else: the bus. */
		*state = rc == -ENODATA || rc == -EINVAL || rc == -ETIMEDOUT ? READINESS_RTC_INVALID
									     : READINESS_RTC_ERROR;
		snprintf(detail, len, "%s", rtc_error(d));
	}
	rtc_close(d);
}

static json_t *step_json(const struct rtc_disc_report *r, const struct rtc_store *s)
{
	json_t *doc = json_pack("{s:s, s:s, s:b, s:b, s:i, s:o}", "action",
				rtc_discipline_action_name(r->decision.action), "why", r->decision.why,
				"sampled", r->decision.add_sample, "wrote", r->wrote,
				"samples", (int)s->n_samples, "record", agent_rtc_record_json(s));

	if (!doc)
		return NULL;
	if (r->have_edge)
		json_object_set_new(doc, "offset_ms", json_real(r->edge.offset * 1e3));
	if (r->wrote)
		json_object_set_new(doc, "alignment_ms", json_real(r->set.alignment * 1e3));
	if (r->have_verify)
		json_object_set_new(doc, "verify_offset_ms", json_real(r->verify.offset * 1e3));
	if (r->have_drift)
		json_object_update_new(doc, json_pack("{s:f, s:f, s:f, s:i}", "drift_ppm", r->drift.ppm,
			"drift_unc_ppm", r->drift.unc_ppm, "drift_span_s", r->drift.span,
			"drift_outlier", r->drift.outlier));
	if (r->rc)
		json_object_set_new(doc, "error", json_string(r->err));
	return doc;
}

static void step_text(const struct rtc_disc_report *r)
{
	char a[32], b[32];

	printf("RTC step: %s: %s\n", rtc_discipline_action_name(r->decision.action), r->decision.why);
	if (r->have_edge)
		printf("  offset %s\n", timeutil_format_duration(r->edge.offset, 1, a, sizeof(a)));
	if (r->wrote)
		printf("  written at the boundary (aligned to %s), verified offset %s\n",
		       timeutil_format_duration(r->set.alignment, 1, a, sizeof(a)),
		       r->have_verify ? timeutil_format_duration(r->verify.offset, 1, b, sizeof(b)) : "?");
	if (r->have_drift)
		printf("  drift %+.2f +- %.2f ppm over %.0f s\n", r->drift.ppm, r->drift.unc_ppm, r->drift.span);
	if (r->rc)
		printf("  error: %s\n", r->err);
}

int agent_rtc_tick(struct agent_ctx *ctx, struct rtc_dev *d, struct rtc_store *store,
		   bool fleet_reference, struct rtc_disc_report *rep)
{
	struct rtc_disc_params p;
	char why[400] = "";
	bool sync = false;

	agent_rtc_params(ctx, &p);
	if (ctx->force || fleet_reference)
		sync = true;	/* --force / the elected master: take it as synchronised */
	else if (agent_rtc_synchronised(ctx, &sync, why, sizeof(why)) < 0)
		log_warn("%s: treating the system clock as not synchronised", why);
	return rtc_discipline_step(d, sync, &p, store, rep);
}

int agent_action_rtc_step(struct agent_ctx *ctx)
{
	struct rtc_disc_report rep;
	struct rtc_dev *d = NULL;
	struct rtc_store store;
	int rc;

	if (agent_rtc_open(ctx, &d, &store) < 0)
		return AGENT_EXIT_ERROR;
	rc = agent_rtc_tick(ctx, d, &store, false, &rep);
	if (ctx->json)
		agent_rtc_print_json(step_json(&rep, &store));
	else
		step_text(&rep);
	if (rep.rc)
		log_err("%s", rep.err);
	rtc_close(d);
	return rc < 0 || rep.decision.action == RTC_DISC_FAULT ? AGENT_EXIT_FAIL : AGENT_EXIT_OK;
}

static int systohc_allowed(struct agent_ctx *ctx)
{
	char why[400] = "";
	bool sync;
	int rc;

	if (ctx->force)
		return 0;
	rc = agent_rtc_synchronised(ctx, &sync, why, sizeof(why));
	if (rc < 0) {
		log_err("--systohc: %s; refusing to write the RTC from a clock that may not be "
			"synchronised (--force to write anyway)", why);
		return AGENT_EXIT_ERROR;
	}
	if (!sync) {
		log_err("--systohc: %s; refusing to write the RTC (--force to write anyway)", why);
		return AGENT_EXIT_FAIL;
	}
	return 0;
}

int agent_action_systohc(struct agent_ctx *ctx)
{
	struct rtc_disc_params p;
	struct rtc_disc_report rep;
	struct rtc_dev *d = NULL;
	struct rtc_store store;
	int rc = systohc_allowed(ctx);

	if (rc)
		return rc;
	if (agent_rtc_open(ctx, &d, &store) < 0)
		return AGENT_EXIT_ERROR;
	agent_rtc_params(ctx, &p);
	memset(&rep, 0, sizeof(rep));
	if (ctx->dry_run) {
		rc = rtc_sync_read_edge(d, p.edge_timeout_ms, &rep.edge);
		rep.have_edge = rc == 0;
		rep.decision = (struct rtc_disc_decision){ RTC_DISC_KEEP, false, "dry run: would write the "
							   "RTC at the next second boundary" };
	} else {
		rep.decision = (struct rtc_disc_decision){ RTC_DISC_REWRITE, false, "--systohc" };
		rc = rtc_discipline_rewrite(d, &p, &store, &rep);
	}
	if (ctx->json)
		agent_rtc_print_json(step_json(&rep, &store));
	else
		step_text(&rep);
	if (rc < 0 && !ctx->json)
		log_err("--systohc: %s", rep.rc ? rep.err : rtc_error(d));
	rtc_close(d);
	return rc < 0 ? AGENT_EXIT_FAIL : AGENT_EXIT_OK;
}
