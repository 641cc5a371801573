/* readiness.c - readiness checks as a pure function, see readiness.h. */
#include "chrony/readiness.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "time/timeutil.h"

static struct readiness_check *add(struct readiness_report *r, const char *name,
				   enum readiness_status st, const char *threshold, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static struct readiness_check *add(struct readiness_report *r, const char *name,
				   enum readiness_status st, const char *threshold, const char *fmt, ...)
{
	struct readiness_check *c;
	va_list ap;

	if (r->n_checks == READINESS_MAX_CHECKS)
		return NULL;
	c = &r->checks[r->n_checks++];
	c->name = name;
	c->status = st;
	snprintf(c->threshold, sizeof(c->threshold), "%s", threshold ? threshold : "");
	va_start(ap, fmt);
	vsnprintf(c->value, sizeof(c->value), fmt, ap);
	va_end(ap);
	r->n_fail += st == READINESS_FAIL;
	r->n_warn += st == READINESS_WARN;
	return c;
}

static const struct chrony_source *selected_source(const struct chrony_snapshot *s)
{
	for (uint32_t i = 0; i < s->n_sources; i++)
		if (s->sources[i].data.state == CHRONY_SRC_SELECTED)
			return &s->sources[i];
	return NULL;
}

/* Is name (or addr) one of the comma-separated entries of list? */
static bool listed(const char *list, const char *name, const char *addr)
{
	const char *p = list;

	while (*p) {
		size_t len;

		while (*p == ' ' || *p == ',')
			p++;
		len = strcspn(p, ",");
		while (len && p[len - 1] == ' ')
			len--;
		if (len && ((strlen(name) == len && !strncmp(p, name, len)) ||
			    (strlen(addr) == len && !strncmp(p, addr, len))))
			return true;
		p += strcspn(p, ",");
	}
	return false;
}

static void check_source(const struct readiness_input *in, struct readiness_report *r)
{
	const struct chrony_snapshot *s = in->snap;
	const struct chrony_source *sel = selected_source(s);
	const char *exp = in->expected_sources && *in->expected_sources ? in->expected_sources : NULL;
	char threshold[96], addr[64];

	snprintf(threshold, sizeof(threshold), "expected: %s", exp ? exp : "any");
	if (!sel && chrony_tracking_local(&s->tracking)) {
		add(r, "source", in->allow_local || (exp && listed(exp, "local", "local")) ? READINESS_OK : READINESS_FAIL,
		    threshold, "none: serving its own clock (local reference)");
		return;
	}
	if (!sel) {
		add(r, "source", READINESS_FAIL, threshold, "no selected source (%u known)", s->n_sources);
		return;
	}
	chrony_report_source_address(&sel->data, addr, sizeof(addr));
	add(r, "source", !exp || listed(exp, sel->name, addr) ? READINESS_OK : READINESS_FAIL, threshold,
	    "%s selected (stratum %u)", sel->name, sel->data.stratum);
}

/* A source that is an upstream of this node: listed in upstreams, or (no
 * list) any source that is not a master candidate. */
static bool is_upstream(const struct readiness_input *in, const struct chrony_source *src)
{
	char addr[64];

	chrony_report_source_address(&src->data, addr, sizeof(addr));
	if (in->upstreams && *in->upstreams)
		return listed(in->upstreams, src->name, addr);
	return !(in->candidates && listed(in->candidates, src->name, addr));
}

/* Serving the local reference while an upstream answers: chronyd has not
 * (yet) the samples to select it, or rejects it; the fleet gets a
 * free-running clock that a reachable reference could discipline. */
static void check_upstream(const struct readiness_input *in, struct readiness_report *r)
{
	const struct chrony_snapshot *s = in->snap;
	const struct chrony_source *reachable = NULL;
	unsigned n_up = 0;
	char addr[64];

	if (!chrony_tracking_local(&s->tracking))
		return;
	for (uint32_t i = 0; i < s->n_sources; i++) {
		const struct chrony_source *src = &s->sources[i];

		if (!is_upstream(in, src))
			continue;
		n_up++;
		if ((src->data.reachability & 0xFF) && src->data.state != CHRONY_SRC_SELECTED && !reachable)
			reachable = src;
	}
	if (!n_up) {
		add(r, "upstream", READINESS_SKIP, "", "none configured: serving the local reference");
		return;
	}
	if (!reachable) {
		add(r, "upstream", READINESS_OK, "", "serving the local reference: no upstream reachable "
		    "(%u configured)", n_up);
		return;
	}
	chrony_report_source_address(&reachable->data, addr, sizeof(addr));
	add(r, "upstream", READINESS_WARN, "not serving LOCAL while an upstream answers",
	    "serving the local reference (stratum %u) while upstream %s%s%s%s (stratum %u, reach %o) "
	    "is reachable but %s: chronyd has not selected it yet (too few samples, e.g. after a "
	    "source reset)", s->tracking.stratum, reachable->name,
	    strcmp(reachable->name, addr) ? " (" : "", strcmp(reachable->name, addr) ? addr : "",
	    strcmp(reachable->name, addr) ? ")" : "", reachable->data.stratum,
	    (unsigned)(reachable->data.reachability & 0xFF), chrony_wire_state_str(reachable->data.state));
}

static void check_update(const struct readiness_input *in, const struct readiness_limits *lim,
			 struct readiness_report *r)
{
	const struct chrony_tracking *t = &in->snap->tracking;
	const struct chrony_source *sel = selected_source(in->snap);
	/* chronyd's reference time is on the corrected scale: compare it with
	 * this clock plus the correction chronyd has yet to apply. */
	double age = in->now + t->current_correction - timeutil_ts_to_double(t->ref_time), limit, interval;
	char thr[96], d[32];

	if (chrony_tracking_local(t)) {
		add(r, "last update", READINESS_OK, "", "local reference");
		return;
	}
	if (t->ref_time.tv_sec == 0) {
		add(r, "last update", READINESS_FAIL, "", "never updated");
		return;
	}
	if (!sel) {
		add(r, "last update", READINESS_SKIP, "", "%s ago, no selected source",
		    timeutil_format_duration(age, 0, d, sizeof(d)));
		return;
	}
	if (age < -1.0) {
		/* A reference time ahead of the clock: the clock was stepped back. */
		add(r, "last update", READINESS_FAIL, "", "reference time %s in the future",
		    timeutil_format_duration(-age, 0, d, sizeof(d)));
		return;
	}
	/* A polling interval under 1 s counts as 1 s: chronyd does not update its
	 * reference at every sub-second sample (chrony 4.3 at poll -2, in sync with
	 * a server on loopback: updates 0.25-1.3 s apart, at poll 0 up to 2 s), so
	 * "4 polls of 0.25 s" would fail a healthy source about one time in ten. */
	interval = ldexp(1.0, sel->data.poll);
	limit = lim->max_update_polls * fmax(interval, 1.0);
	snprintf(thr, sizeof(thr), "<= %d polls of %gs%s = %gs", lim->max_update_polls, interval,
		 interval < 1.0 ? ", counted as 1s" : "", limit);
	add(r, "last update", age <= limit ? READINESS_OK : READINESS_FAIL, thr, "%s ago",
	    timeutil_format_duration(age, 0, d, sizeof(d)));
}

static void check_ntp_auth(const struct readiness_input *in, struct readiness_report *r)
{
	static const enum readiness_status st[] = { READINESS_OK, READINESS_FAIL, READINESS_SKIP };
	const struct chrony_source *sel;
	bool upstream;
	char value[400];
	int v;

	if (!in->ntp_auth || in->ntp_auth_mode == NTP_AUTH_MODE_OFF)
		return;
	sel = selected_source(in->snap);
	upstream = in->allow_local && sel && is_upstream(in, sel);
	v = ntp_auth_judge(in->ntp_auth_mode, in->ntp_auth, upstream, value, sizeof(value));
	add(r, "ntp auth", st[v], in->ntp_auth_mode == NTP_AUTH_MODE_REQUIRED ? "required" : "not required",
	    "%s", value);
}

static struct spread_node spread_node_of(const struct readiness_input *in)
{
	const struct chrony_tracking *t = &in->snap->tracking;
	static const struct spread_sel none;

	return (struct spread_node){ true, chrony_tracking_synchronised(t), -t->current_correction,
				     t->root_delay, t->root_dispersion, in->sel ? *in->sel : none };
}

static const char *relative_why(const struct readiness_input *in)
{
	struct spread_node n = spread_node_of(in);
	enum spread_why why;

	spread_bound_relative(&n, &why);
	return spread_why_name(why);
}

/* The bound relative to the master (docs/spread-bound.md) when this node
 * follows one and its NTP data is known: false otherwise (the caller adds
 * the absolute line). */
static bool check_relative(const struct readiness_input *in, const struct readiness_limits *lim,
			   const char *thr, struct readiness_report *r)
{
	struct spread_node n = spread_node_of(in);
	double rel = spread_bound_relative(&n, NULL), abs_b = spread_bound_absolute(&n);
	char d1[32], d2[32], d3[32], d4[32];

	if (!isfinite(rel))
		return false;
	add(r, "max error", rel <= lim->budget ? READINESS_OK : READINESS_FAIL, thr,
	    "%s relative to master %s (offset %s, own hop delay/2 + dispersion %s; absolute bound %s)",
	    timeutil_format_duration(rel, 0, d1, sizeof(d1)), n.sel.master,
	    timeutil_format_duration(n.offset_s, 1, d2, sizeof(d2)),
	    timeutil_format_duration(n.sel.hop_delay_s / 2 + n.sel.hop_dispersion_s, 0, d3, sizeof(d3)),
	    timeutil_format_duration(abs_b, 0, d4, sizeof(d4)));
	return true;
}

static void check_chrony(const struct readiness_input *in, const struct readiness_limits *lim,
			 struct readiness_report *r)
{
	const struct chrony_tracking *t = &in->snap->tracking;
	double err = chrony_tracking_max_error(t);
	char thr[96], d1[32], d2[32], d3[32];

	add(r, "leap status", t->leap_status == CHRONY_LEAP_UNSYNC ? READINESS_FAIL : READINESS_OK,
	    "", "%s", chrony_wire_leap_str(t->leap_status));
	check_source(in, r);
	check_ntp_auth(in, r);
	if (in->allow_local)
		check_upstream(in, r);
	snprintf(thr, sizeof(thr), "<= %s", timeutil_format_duration(lim->budget, 0, d1, sizeof(d1)));
	if (!check_relative(in, lim, thr, r))
		add(r, "max error", err <= lim->budget ? READINESS_OK : READINESS_FAIL, thr,
		    "%s (offset %s, root delay/2 + dispersion %s; absolute bound%s%s)",
		    timeutil_format_duration(err, 0, d1, sizeof(d1)),
		    timeutil_format_duration(-t->current_correction, 1, d2, sizeof(d2)),
		    timeutil_format_duration(t->root_delay / 2 + t->root_dispersion, 0, d3, sizeof(d3)),
		    in->sel ? ": " : "", in->sel ? relative_why(in) : "");
	check_update(in, lim, r);
	snprintf(thr, sizeof(thr), "<= %g ppm", lim->max_skew_ppm);
	add(r, "skew", t->skew_ppm <= lim->max_skew_ppm ? READINESS_OK : READINESS_FAIL, thr,
	    "%.3f ppm", t->skew_ppm);
	snprintf(thr, sizeof(thr), "|freq| <= %g ppm", lim->max_freq_ppm);
	add(r, "frequency", fabs(t->freq_ppm) <= lim->max_freq_ppm ? READINESS_OK : READINESS_FAIL, thr,
	    "%+.3f ppm", t->freq_ppm);
}

static void check_rtc(const struct readiness_input *in, const struct readiness_limits *lim,
		      struct readiness_report *r)
{
	const char *detail = in->rtc_detail ? in->rtc_detail : "";
	char thr[64], d[32];

	snprintf(thr, sizeof(thr), "|offset| <= %s", timeutil_format_duration(lim->rtc_max_offset, 0, d, sizeof(d)));
	switch (in->rtc) {
	case READINESS_RTC_NOT_CHECKED:
		add(r, "rtc", READINESS_SKIP, "", "not checked%s%s", *detail ? ": " : "", detail);
		break;
	case READINESS_RTC_NONE:
		add(r, "rtc", READINESS_WARN, "", "no RTC (%s): a reboot away from the network loses the time",
		    *detail ? detail : "rtc = none");
		break;
	case READINESS_RTC_VALID:
		add(r, "rtc", fabs(in->rtc_offset) <= lim->rtc_max_offset ? READINESS_OK : READINESS_FAIL, thr,
		    "%s %s the system clock%s%s", timeutil_format_duration(fabs(in->rtc_offset), 0, d, sizeof(d)),
		    in->rtc_offset >= 0 ? "ahead of" : "behind", *detail ? ", " : "", detail);
		break;
	case READINESS_RTC_INVALID:
		add(r, "rtc", READINESS_FAIL, "", "invalid: %s", detail);
		break;
	case READINESS_RTC_ERROR:
		add(r, "rtc", READINESS_FAIL, "", "cannot read: %s", detail);
		break;
	}
}

static void check_clock_sane(const struct readiness_input *in, const struct readiness_limits *lim,
			     struct readiness_report *r)
{
	char now[40], build[40];

	timeutil_format_rfc3339(timeutil_double_to_ts(in->now), 0, now, sizeof(now));
	timeutil_format_rfc3339(timeutil_double_to_ts(lim->build_epoch), 0, build, sizeof(build));
	add(r, "clock sane", in->now >= lim->build_epoch ? READINESS_OK : READINESS_FAIL, "", "%s (%s build date %s)",
	    now, in->now >= lim->build_epoch ? "after" : "BEFORE", build);
}

static void check_election(const struct readiness_input *in, struct readiness_report *r)
{
	const char *why = in->election_reason ? in->election_reason : "";
	const char *state = in->election_state ? in->election_state : "?";
	const char *master = in->election_master && *in->election_master ? in->election_master : "none";

	switch (in->election) {
	case READINESS_ELECTION_NOT_CANDIDATE:
		add(r, "election", READINESS_SKIP, "", "off on this node ([election] enabled = no)");
		break;
	case READINESS_ELECTION_MISSING:
		add(r, "election", READINESS_FAIL, "", "no current view: %s", why);
		break;
	case READINESS_ELECTION_VIEW:
		if (!strcmp(state, "serving") && in->election_self)
			add(r, "election", READINESS_OK, "", "this node is the master (%s)", why);
		else if (!strcmp(state, "following"))
			add(r, "election", READINESS_OK, "", "master %s (%s); this node follows it", master, why);
		else
			add(r, "election", READINESS_FAIL, "", "%s: not following the fleet's master (%s) yet%s%s",
			    state, master, *why ? ": " : "", why);
		break;
	}
}

static void check_collector(const struct readiness_input *in, struct readiness_report *r)
{
	const char *detail = in->collector_detail ? in->collector_detail : "";

	switch (in->collector) {
	case READINESS_COLLECTOR_NOT_CONFIGURED:
		add(r, "collector", READINESS_SKIP, "", "not configured");
		break;
	case READINESS_COLLECTOR_REACHABLE:
		add(r, "collector", READINESS_OK, "", "reachable: %s", detail);
		break;
	case READINESS_COLLECTOR_UNREACHABLE:
		add(r, "collector", READINESS_WARN, "", "unreachable: %s", detail);
		break;
	}
}

void readiness_evaluate(const struct readiness_input *in, const struct readiness_limits *lim,
			struct readiness_report *out)
{
	bool could_not_check = false;

	memset(out, 0, sizeof(*out));
	if (in->chrony_rc == 0 && in->snap) {
		add(out, "chronyd", READINESS_OK, "", "reachable at %s", in->chrony_endpoint ? in->chrony_endpoint : "?");
		check_chrony(in, lim, out);
	} else {
		/* Not running is a verdict (not ready); any other failure means
		 * this node's state is unknown. */
		bool not_running = in->chrony_rc == -ENOENT || in->chrony_rc == -ECONNREFUSED;

		could_not_check = !not_running;
		add(out, "chronyd", READINESS_FAIL, "", "%s", in->chrony_error ? in->chrony_error : "no data");
		add(out, "synchronisation", READINESS_SKIP, "", "chronyd not reachable");
	}
	check_rtc(in, lim, out);
	check_clock_sane(in, lim, out);
	check_election(in, out);
	check_collector(in, out);
	if (could_not_check)
		out->verdict = READINESS_UNKNOWN;
	else
		out->verdict = out->n_fail ? READINESS_NOT_READY : READINESS_READY;
}

const char *readiness_status_str(enum readiness_status s)
{
	static const char *names[] = { "OK", "WARN", "FAIL", "SKIP" };

	return (unsigned)s < 4 ? names[s] : "?";
}

const char *readiness_verdict_str(enum readiness_verdict v)
{
	static const char *names[] = { "ready", "not ready", "could not check" };

	return (unsigned)v < 3 ? names[v] : "?";
}

json_t *readiness_json(const struct readiness_report *r)
{
	json_t *checks = json_array();

	if (!checks)
		return NULL;
	for (size_t i = 0; i < r->n_checks; i++) {
		const struct readiness_check *c = &r->checks[i];

		json_array_append_new(checks, json_pack("{s:s, s:s, s:s, s:s}", "name", c->name, "status",
							readiness_status_str(c->status), "value", c->value,
							"threshold", c->threshold));
	}
	return json_pack("{s:s, s:b, s:i, s:i, s:o}", "verdict", readiness_verdict_str(r->verdict),
			 "ready", r->verdict == READINESS_READY, "failed", r->n_fail, "warnings", r->n_warn,
			 "checks", checks);
}
