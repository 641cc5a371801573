/* action_check.c - --check [--fix] [--json]: is this node ready for an
 * experiment? Gathers what chronyd (and later the RTC and the collector)
 * say, evaluates it with common/chrony/readiness.c, prints one line per check
 * and a verdict. Exit 0 ready, 1 not ready, 2 could not check. */
#include <errno.h>
#include <jansson.h>
#include <sys/stat.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rtc/agent_rtc.h"
#include "actions/collector_probe.h"
#include "agent.h"
#include "actions/check_fix.h"
#include "fleetclock_config.h"
#include "base/log.h"
#include "chrony/ntp_auth.h"
#include "chrony/readiness.h"
#include "selected_source.h"
#include "time/timeutil.h"

bool agent_role_may_serve(const struct agent_config *cfg)
{
	return !strcmp(cfg->role, "master") || !strcmp(cfg->role, "failover");
}

void agent_check_limits(const struct agent_config *cfg, struct readiness_limits *lim)
{
	lim->budget = cfg->budget_ms / 1e3;
	lim->max_update_polls = cfg->check_max_update_polls;
	lim->max_skew_ppm = cfg->check_max_skew_ppm;
	lim->max_freq_ppm = cfg->check_max_freq_ppm;
	lim->rtc_max_offset = cfg->check_rtc_max_offset_ms / 1e3;
	lim->build_epoch = (double)FLEETCLOCK_BUILD_EPOCH;
}

/* The election's view as the daemon last wrote it ([election] state_file):
 * current when written within 3 announce intervals (at least 5 s). */
struct election_view {
	enum readiness_election kind;
	char state[24], master[64], reason[600];
	char candidates[400];		/* the candidates' NTP addresses, comma-separated */
	bool self;
};

/* "addr, addr" from the view's candidates[].ntp ("127.0.4.11:123"). */
static void view_candidates(json_t *doc, char *buf, size_t len)
{
	size_t n = 0, i;
	json_t *cand;

	buf[0] = '\0';
	json_array_foreach(json_object_get(doc, "candidates"), i, cand) {
		const char *ntp = json_string_value(json_object_get(cand, "ntp"));
		size_t alen;

		if (!ntp || n >= len)
			continue;
		alen = strcspn(ntp, ":");
		n += (size_t)snprintf(buf + n, len - n, "%s%.*s", n ? "," : "", (int)alen, ntp);
	}
}

static void read_election(const struct agent_ctx *ctx, struct election_view *v)
{
	const struct agent_election_config *e = &ctx->cfg.election;
	double max_age = e->interval_s * 3 > 5 ? e->interval_s * 3 : 5, age;
	json_error_t jerr;
	struct stat st;
	json_t *doc;

	memset(v, 0, sizeof(*v));
	if (!e->enabled)
		return;
	v->kind = READINESS_ELECTION_MISSING;
	if (stat(e->state_file, &st) < 0) {
		snprintf(v->reason, sizeof(v->reason), "%s: %s (is the agent daemon running?)", e->state_file,
			 strerror(errno));
		return;
	}
	age = timeutil_now(CLOCK_REALTIME) - timeutil_ts_to_double(st.st_mtim);
	if (age > max_age) {
		snprintf(v->reason, sizeof(v->reason), "%s is %.0f s old (is the agent daemon running?)",
			 e->state_file, age);
		return;
	}
	doc = json_load_file(e->state_file, 0, &jerr);
	if (!json_is_object(doc)) {
		snprintf(v->reason, sizeof(v->reason), "%s:%d: %s", e->state_file, jerr.line, jerr.text);
		json_decref(doc);
		return;
	}
	v->kind = READINESS_ELECTION_VIEW;
	snprintf(v->state, sizeof(v->state), "%s", json_string_value(json_object_get(doc, "state")) ?: "?");
	snprintf(v->master, sizeof(v->master), "%s", json_string_value(json_object_get(doc, "master")) ?: "");
	snprintf(v->reason, sizeof(v->reason), "%s", json_string_value(json_object_get(doc, "reason")) ?: "");
	v->self = json_is_true(json_object_get(doc, "master_is_self"));
	view_candidates(doc, v->candidates, sizeof(v->candidates));
	json_decref(doc);
}

void agent_check_read_rtc(struct agent_ctx *ctx, struct agent_rtc_view *v)
{
	agent_rtc_readiness(ctx, &v->state, &v->offset, v->detail, sizeof(v->detail));
}

void agent_check_evaluate(const struct agent_ctx *ctx, struct chrony_client *c,
			  const struct agent_rtc_view *rtc, struct chrony_snapshot *snap,
			  struct readiness_report *report)
{
	struct readiness_limits lim;
	struct election_view ev;
	struct ntp_auth_result auth;
	struct spread_sel sel;
	bool want_auth;
	char coll[400] = "";
	struct readiness_input in = {
		.expected_sources = ctx->cfg.check_expected_sources,
		.allow_local = agent_role_may_serve(&ctx->cfg),
		.rtc = rtc ? rtc->state : READINESS_RTC_NOT_CHECKED,
		.rtc_offset = rtc ? rtc->offset : 0.0,
		.rtc_detail = rtc ? rtc->detail : NULL,
		.collector = READINESS_COLLECTOR_NOT_CONFIGURED,
	};

	read_election(ctx, &ev);
	in.election = ev.kind;
	in.election_state = ev.state;
	in.election_master = ev.master;
	in.election_self = ev.self;
	in.election_reason = ev.reason;
	in.upstreams = ctx->cfg.election.upstreams;
	in.candidates = ev.kind == READINESS_ELECTION_VIEW ? ev.candidates : NULL;
	if (ctx->cfg.collector_url[0]) {
		in.collector = collector_probe(ctx->cfg.collector_url, 1000, coll, sizeof(coll)) == 0
				       ? READINESS_COLLECTOR_REACHABLE
				       : READINESS_COLLECTOR_UNREACHABLE;
		in.collector_detail = coll;
	}
	in.chrony_rc = chrony_client_snapshot(c, snap);
	in.chrony_endpoint = chrony_client_endpoint(c);
	in.chrony_error = chrony_client_error(c);
	want_auth = in.chrony_rc == 0 && ctx->cfg.ntp_auth_mode != NTP_AUTH_MODE_OFF;
	/* one NTPDATA request for both the relative bound and "ntp auth" */
	if (in.chrony_rc == 0 && selected_source_read(c, snap, &sel, want_auth ? &auth : NULL) == 0)
		in.sel = &sel;
	in.snap = snap;
	if (want_auth) {
		in.ntp_auth = &auth;
		in.ntp_auth_mode = ctx->cfg.ntp_auth_mode;
	}
	in.now = timeutil_now(CLOCK_REALTIME);
	agent_check_limits(&ctx->cfg, &lim);
	readiness_evaluate(&in, &lim, report);
}

/* After --fix: re-check until every check passes or the fix's time is up
 * (after a step chronyd needs a few samples before its skew is sane). */
static void settle(struct agent_ctx *ctx, struct chrony_client *c, const struct agent_rtc_view *rtc,
		   struct chrony_snapshot *snap, struct readiness_report *report, struct check_fix_log *fix)
{
	char detail[200];
	size_t n;

	for (;;) {
		agent_check_evaluate(ctx, c, rtc, snap, report);
		if (report->verdict == READINESS_READY || timeutil_now(CLOCK_MONOTONIC) >= fix->deadline)
			break;
		usleep(250000);
	}
	n = (size_t)snprintf(detail, sizeof(detail), "%s after %.1f s", readiness_verdict_str(report->verdict),
			     timeutil_now(CLOCK_MONOTONIC) - fix->started);
	for (size_t i = 0; i < report->n_checks && n < sizeof(detail); i++)
		if (report->checks[i].status == READINESS_FAIL)
			n += (size_t)snprintf(detail + n, sizeof(detail) - n, "%s %s", n ? "," : "",
					      report->checks[i].name);
	check_fix_note(fix, "settle", report->verdict == READINESS_READY, detail);
}

static void print_report(const struct agent_ctx *ctx, const struct readiness_report *r)
{
	static const char *tags[] = { "[ OK ]", "[WARN]", "[FAIL]", "[SKIP]" };

	for (size_t i = 0; i < r->n_checks; i++) {
		const struct readiness_check *c = &r->checks[i];

		printf("%s %-16s %s%s%s%s\n", tags[c->status], c->name, c->value,
		       c->threshold[0] ? "  (" : "", c->threshold, c->threshold[0] ? ")" : "");
	}
	printf("%s: %s", ctx->cfg.host, r->verdict == READINESS_READY ? "READY"
					: r->verdict == READINESS_NOT_READY ? "NOT READY" : "COULD NOT CHECK");
	if (r->n_fail || r->n_warn)
		printf(" (%d failed, %d warnings)", r->n_fail, r->n_warn);
	printf("\n");
}

static int print_json(const struct agent_ctx *ctx, const struct readiness_report *r,
		      const struct check_fix_log *fix)
{
	json_t *doc = readiness_json(r);
	char now[40];
	int rc = 0;

	if (!doc)
		return -ENOMEM;
	timeutil_format_rfc3339(timeutil_double_to_ts(timeutil_now(CLOCK_REALTIME)), 3, now, sizeof(now));
	json_object_set_new(doc, "host", json_string(ctx->cfg.host));
	json_object_set_new(doc, "role", json_string(ctx->cfg.role));
	json_object_set_new(doc, "checked_at", json_string(now));
	if (fix)
		json_object_set_new(doc, "fix", check_fix_json(fix));
	if (json_dumpf(doc, stdout, JSON_INDENT(2)) < 0)
		rc = -EIO;
	putchar('\n');
	json_decref(doc);
	return rc;
}

int agent_action_check(struct agent_ctx *ctx)
{
	struct chrony_snapshot *snap = calloc(1, sizeof(*snap));
	struct readiness_report report;
	struct check_fix_log fix = { 0 };
	struct chrony_client *c = NULL;
	struct agent_rtc_view rtc = { 0 };
	int rc = -ENOMEM;

	if (!snap || (rc = agent_chrony_open(ctx, &c)) < 0)
		goto out;
	if (ctx->fix)
		check_fix_run(ctx, c, &fix);
	agent_check_read_rtc(ctx, &rtc);
	if (ctx->fix)
		settle(ctx, c, &rtc, snap, &report, &fix);
	else
		agent_check_evaluate(ctx, c, &rtc, snap, &report);
	if (ctx->json) {
		rc = print_json(ctx, &report, ctx->fix ? &fix : NULL);
	} else {
		if (ctx->fix)
			check_fix_print(&fix);
		print_report(ctx, &report);
		rc = 0;
	}
out:
	chrony_client_close(c);
	free(snap);
	if (rc < 0)
		return AGENT_EXIT_ERROR;
	return report.verdict == READINESS_READY ? AGENT_EXIT_OK
	       : report.verdict == READINESS_NOT_READY ? AGENT_EXIT_FAIL : AGENT_EXIT_ERROR;
}
