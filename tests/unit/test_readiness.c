/* Unit tests for common/readiness: one row per state a node can be in, the
 * check that must fail (or warn) and the verdict. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "chrony/readiness.h"
#include "check_run.h"

#define NOW 1795291210.0	/* 2026-11-21T20:00:10Z */

/* A healthy node: synchronised to 192.0.2.1 ("ntp1"), 40 us error. */
static void healthy(struct chrony_snapshot *s)
{
	memset(s, 0, sizeof(*s));
	s->tracking.ref_id = 0xC0000201;
	s->tracking.ip.family = CHRONY_AF_INET4;
	s->tracking.ip.addr.in4 = 0xC0000201;
	s->tracking.stratum = 2;
	s->tracking.ref_time.tv_sec = (time_t)NOW - 1;
	s->tracking.current_correction = -20e-6;
	s->tracking.root_delay = 20e-6;
	s->tracking.root_dispersion = 10e-6;
	s->tracking.skew_ppm = 0.5;
	s->tracking.freq_ppm = -12.0;
	s->n_sources = 2;
	s->sources[0].data.ip = s->tracking.ip;
	s->sources[0].data.state = CHRONY_SRC_SELECTED;
	s->sources[0].data.poll = 1;	/* 2 s */
	s->sources[0].data.stratum = 1;
	strcpy(s->sources[0].name, "ntp1");
	s->sources[1].data.state = CHRONY_SRC_UNSELECTED;
	strcpy(s->sources[1].name, "ntp2");
}

static const struct readiness_limits limits = {
	.budget = 0.005, .max_update_polls = 4, .max_skew_ppm = 100, .max_freq_ppm = 250,
	.rtc_max_offset = 0.005, .build_epoch = NOW - 86400,
};

enum mutation {
	M_NONE, M_UNSYNC, M_NO_SOURCE, M_WRONG_SOURCE, M_RIGHT_SOURCE_BY_ADDR, M_LOCAL, M_LOCAL_ALLOWED,
	M_OVER_BUDGET, M_STALE, M_FAST_POLL_FRESH, M_FAST_POLL_STALE, M_AHEAD_FRESH, M_NEVER, M_FUTURE, M_SKEW, M_FREQ, M_RTC_NONE, M_RTC_OK, M_RTC_OFF,
	M_RTC_INVALID, M_RTC_ERROR, M_BEFORE_BUILD, M_CHRONY_DOWN, M_CHRONY_EACCES,
	M_COLLECTOR_DOWN, M_COLLECTOR_UP, M_NOT_CANDIDATE, M_MASTER, M_FOLLOWER, M_REJOINING,
	M_NO_VIEW, M_UP_REACHABLE, M_UP_DEFAULT, M_UP_UNREACHABLE, M_UP_CANDIDATES_ONLY, M_UP_SELECTED,
	M_REL, M_REL_SAVES, M_REL_OVER, M_REL_OLD_AGENT, M_REL_UNSYNC,
};

static const struct {
	enum mutation m;
	const char *check;		/* the line that must have status */
	enum readiness_status status;
	const char *value;		/* substring of its value */
	enum readiness_verdict verdict;
} rows[] = {
	{ M_NONE, "max error", READINESS_OK, "40.000us", READINESS_READY },	/* 20 + 20/2 + 10 */
	{ M_UNSYNC, "leap status", READINESS_FAIL, "not synchronised", READINESS_NOT_READY },
	{ M_NO_SOURCE, "source", READINESS_FAIL, "no selected source (2 known)", READINESS_NOT_READY },
	{ M_WRONG_SOURCE, "source", READINESS_FAIL, "ntp1 selected", READINESS_NOT_READY },
	{ M_RIGHT_SOURCE_BY_ADDR, "source", READINESS_OK, "ntp1 selected", READINESS_READY },
	{ M_LOCAL, "source", READINESS_FAIL, "serving its own clock", READINESS_NOT_READY },
	{ M_LOCAL_ALLOWED, "source", READINESS_OK, "serving its own clock", READINESS_READY },
	{ M_OVER_BUDGET, "max error", READINESS_FAIL, "1020.000s", READINESS_NOT_READY },
	{ M_STALE, "last update", READINESS_FAIL, "9.000s ago", READINESS_NOT_READY },
	/* Polls of 0.25 s count as 1 s: 1.5 s is within 4 polls, 4.5 s is not. */
	{ M_FAST_POLL_FRESH, "last update", READINESS_OK, "1.500s ago", READINESS_READY },
	{ M_FAST_POLL_STALE, "last update", READINESS_FAIL, "4.500s ago", READINESS_NOT_READY },
	/* 17 minutes fast with a 1 s old update: the age is on chronyd's corrected scale. */
	{ M_AHEAD_FRESH, "last update", READINESS_OK, "1.000s ago", READINESS_NOT_READY },
	{ M_NEVER, "last update", READINESS_FAIL, "never updated", READINESS_NOT_READY },
	{ M_FUTURE, "last update", READINESS_FAIL, "in the future", READINESS_NOT_READY },
	{ M_SKEW, "skew", READINESS_FAIL, "585.000 ppm", READINESS_NOT_READY },
	{ M_FREQ, "frequency", READINESS_FAIL, "-300.000 ppm", READINESS_NOT_READY },
	{ M_RTC_NONE, "rtc", READINESS_WARN, "no RTC", READINESS_READY },
	{ M_RTC_OK, "rtc", READINESS_OK, "1.200ms ahead of", READINESS_READY },
	{ M_RTC_OFF, "rtc", READINESS_FAIL, "1.700s behind", READINESS_NOT_READY },
	{ M_RTC_INVALID, "rtc", READINESS_FAIL, "invalid: oscillator halted", READINESS_NOT_READY },
	{ M_RTC_ERROR, "rtc", READINESS_FAIL, "cannot read: /dev/i2c-1", READINESS_NOT_READY },
	{ M_BEFORE_BUILD, "clock sane", READINESS_FAIL, "BEFORE build date", READINESS_NOT_READY },
	{ M_CHRONY_DOWN, "chronyd", READINESS_FAIL, "connection refused", READINESS_NOT_READY },
	{ M_CHRONY_EACCES, "chronyd", READINESS_FAIL, "permission denied", READINESS_UNKNOWN },
	{ M_COLLECTOR_DOWN, "collector", READINESS_WARN, "unreachable", READINESS_READY },
	{ M_COLLECTOR_UP, "collector", READINESS_OK, "reachable", READINESS_READY },
	{ M_NOT_CANDIDATE, "election", READINESS_SKIP, "off on this node ([election] enabled = no)", READINESS_READY },
	{ M_MASTER, "election", READINESS_OK, "this node is the master (best dataset)", READINESS_READY },
	{ M_FOLLOWER, "election", READINESS_OK, "master obs (best dataset); this node follows it", READINESS_READY },
	{ M_REJOINING, "election", READINESS_FAIL, "rejoin-holdoff: not following the fleet's master (obs)",
	  READINESS_NOT_READY },
	{ M_NO_VIEW, "election", READINESS_FAIL, "no current view: /var/lib/x.json is 31 s old",
	  READINESS_NOT_READY },
	/* Issue 15: the master serves LOCAL (stratum 8) while its stratum-1
	 * upstream answers (reach 3) but is not selected (^?): a warning. */
	{ M_UP_REACHABLE, "upstream", READINESS_WARN,
	  "serving the local reference (stratum 8) while upstream ntp1 (192.0.2.1) (stratum 1, reach 3) "
	  "is reachable but nonselectable", READINESS_READY },
	/* No upstreams list: every source that is not a candidate is one. */
	{ M_UP_DEFAULT, "upstream", READINESS_WARN, "upstream ntp1 (192.0.2.1)", READINESS_READY },
	{ M_UP_UNREACHABLE, "upstream", READINESS_OK, "no upstream reachable (1 configured)", READINESS_READY },
	{ M_UP_CANDIDATES_ONLY, "upstream", READINESS_SKIP, "none configured", READINESS_READY },
	/* chronyd follows the upstream again: no upstream line (see test_no_upstream_line). */
	{ M_UP_SELECTED, "source", READINESS_OK, "ntp1 selected", READINESS_READY },
	/* Issue 20: with the selected source's NTP data, the bound relative to
	 * the master: 40 us absolute, shared 10/2 + 4 = 9: 31 us relative. */
	{ M_REL, "max error", READINESS_OK, "31.000us relative to master 192.0.2.1", READINESS_READY },
	/* absolute 0.2 + 6 + 3 = 9.2 ms over a 5 ms budget; relative 3.2 ms within */
	{ M_REL_SAVES, "max error", READINESS_OK, "3.200ms relative to master 192.0.2.1 (offset +200.000us, "
	  "own hop delay/2 + dispersion 2.500ms; absolute bound 9.200ms)", READINESS_READY },
	{ M_REL_OVER, "max error", READINESS_FAIL, "9.200ms relative to master", READINESS_NOT_READY },
	{ M_REL_OLD_AGENT, "max error", READINESS_OK, "40.000us (offset +20.000us, root delay/2 + dispersion "
	  "20.000us; absolute bound: no selected source data)", READINESS_READY },
	{ M_REL_UNSYNC, "max error", READINESS_OK, "absolute bound: unsynchronised", READINESS_NOT_READY },
};

static struct spread_sel test_sel;

static void mutate(enum mutation m, struct chrony_snapshot *s, struct readiness_input *in)
{
	switch (m) {
	case M_NONE: break;
	case M_UNSYNC: s->tracking.leap_status = CHRONY_LEAP_UNSYNC; break;
	case M_NO_SOURCE: s->sources[0].data.state = CHRONY_SRC_FALSETICKER; break;
	case M_WRONG_SOURCE: in->expected_sources = "master, failover"; break;
	case M_RIGHT_SOURCE_BY_ADDR: in->expected_sources = "10.0.0.1 , 192.0.2.1"; break;
	case M_LOCAL:
	case M_LOCAL_ALLOWED:
		s->tracking.ref_id = CHRONY_REFID_LOCAL;
		s->tracking.ip.family = CHRONY_AF_UNSPEC;
		s->sources[0].data.state = CHRONY_SRC_NONSELECTABLE;
		in->allow_local = m == M_LOCAL_ALLOWED;
		break;
	case M_OVER_BUDGET: s->tracking.current_correction = -1020.0 + 30e-6; break;
	case M_STALE: s->tracking.ref_time.tv_sec = (time_t)NOW - 9; break;	/* > 4 x 2 s */
	case M_FAST_POLL_FRESH:
		s->sources[0].data.poll = -2;
		s->tracking.ref_time.tv_sec = (time_t)NOW - 2;
		s->tracking.ref_time.tv_nsec = 500000000;
		break;
	case M_FAST_POLL_STALE:
		s->sources[0].data.poll = -2;
		s->tracking.ref_time.tv_sec = (time_t)NOW - 5;
		s->tracking.ref_time.tv_nsec = 500000000;
		break;
	case M_AHEAD_FRESH: in->now = NOW + 1020; s->tracking.current_correction = -1020; break;
	case M_NEVER: s->tracking.ref_time.tv_sec = 0; break;
	case M_FUTURE: s->tracking.ref_time.tv_sec = (time_t)NOW + 1020; break;
	case M_SKEW: s->tracking.skew_ppm = 585.0; break;
	case M_FREQ: s->tracking.freq_ppm = -300.0; break;
	case M_RTC_NONE: in->rtc = READINESS_RTC_NONE; break;
	case M_RTC_OK: in->rtc = READINESS_RTC_VALID; in->rtc_offset = 0.0012; break;
	case M_RTC_OFF: in->rtc = READINESS_RTC_VALID; in->rtc_offset = -1.7; break;
	case M_RTC_INVALID: in->rtc = READINESS_RTC_INVALID; in->rtc_detail = "oscillator halted (CH set)"; break;
	case M_RTC_ERROR: in->rtc = READINESS_RTC_ERROR; in->rtc_detail = "/dev/i2c-1: Input/output error"; break;
	case M_BEFORE_BUILD: in->now = limits.build_epoch - 3600; s->tracking.ref_time.tv_sec = (time_t)in->now - 1; break;
	case M_CHRONY_DOWN:
		in->chrony_rc = -ECONNREFUSED;
		in->chrony_error = "cannot reach chronyd at unix:/run/chrony/chronyd.sock: connection refused (chronyd is not running)";
		break;
	case M_CHRONY_EACCES:
		in->chrony_rc = -EACCES;
		in->chrony_error = "cannot bind client socket ...: permission denied (run as root or as the _chrony user)";
		break;
	case M_COLLECTOR_DOWN:
		in->collector = READINESS_COLLECTOR_UNREACHABLE;
		in->collector_detail = "http://10.0.0.9:8470: connection refused";
		break;
	case M_COLLECTOR_UP: in->collector = READINESS_COLLECTOR_REACHABLE; in->collector_detail = "x"; break;
	case M_NOT_CANDIDATE: break;
	case M_MASTER:
	case M_FOLLOWER:
	case M_REJOINING:
		in->election = READINESS_ELECTION_VIEW;
		in->election_state = m == M_MASTER ? "serving" : m == M_FOLLOWER ? "following" : "rejoin-holdoff";
		in->election_self = m == M_MASTER;
		in->election_master = m == M_MASTER ? "me" : "obs";
		in->election_reason = "best dataset";
		break;
	case M_UP_REACHABLE:
	case M_UP_DEFAULT:
	case M_UP_UNREACHABLE:
	case M_UP_CANDIDATES_ONLY:
		s->tracking.ref_id = CHRONY_REFID_LOCAL;
		s->tracking.ip.family = CHRONY_AF_UNSPEC;
		s->tracking.stratum = 8;
		s->sources[0].data.state = CHRONY_SRC_NONSELECTABLE;
		s->sources[0].data.reachability = m == M_UP_UNREACHABLE ? 0 : 3;
		s->sources[1].data.reachability = 0xFF;	/* ntp2: a candidate, taken offline */
		in->allow_local = true;
		in->upstreams = m == M_UP_REACHABLE || m == M_UP_UNREACHABLE ? "192.0.2.1" : "";
		in->candidates = m == M_UP_CANDIDATES_ONLY ? "ntp2, 192.0.2.1" : "ntp2";
		break;
	case M_REL:
	case M_REL_UNSYNC:
	case M_REL_OLD_AGENT:
		test_sel = (struct spread_sel){ .have = m != M_REL_OLD_AGENT, .master = "192.0.2.1",
			.master_root_delay_s = 10e-6, .master_root_dispersion_s = 4e-6,
			.hop_delay_s = 10e-6, .hop_dispersion_s = 5e-6 };
		in->sel = &test_sel;
		if (m == M_REL_UNSYNC)
			s->tracking.leap_status = CHRONY_LEAP_UNSYNC;
		break;
	case M_REL_SAVES:
	case M_REL_OVER:
		s->tracking.current_correction = -0.2e-3;
		s->tracking.root_delay = 12e-3;
		s->tracking.root_dispersion = 3e-3;
		test_sel = (struct spread_sel){ .have = true, .master = "192.0.2.1",
			.master_root_delay_s = 10e-3, .master_root_dispersion_s = 1e-3,
			.hop_delay_s = 2e-3, .hop_dispersion_s = 1.5e-3 };
		if (m == M_REL_OVER)	/* a slow own hop: 10 ms delay, 2 ms more dispersion */
			s->tracking.root_delay = 20e-3, s->tracking.root_dispersion = 5e-3,
			test_sel.hop_delay_s = 10e-3, test_sel.hop_dispersion_s = 2e-3;
		in->sel = &test_sel;
		break;
	case M_UP_SELECTED:
		s->sources[0].data.reachability = 3;
		in->allow_local = true;
		in->upstreams = "192.0.2.1";
		break;
	case M_NO_VIEW:
		in->election = READINESS_ELECTION_MISSING;
		in->election_reason = "/var/lib/x.json is 31 s old (is the daemon running?)";
		break;
	}
}

/* The report's line named name, or NULL. */
static const struct readiness_check *find_check(const struct readiness_report *r, const char *name)
{
	const struct readiness_check *c = NULL;

	for (size_t i = 0; i < r->n_checks; i++)
		if (!strcmp(r->checks[i].name, name))
			c = &r->checks[i];
	return c;
}

START_TEST(test_rows)
{
	struct chrony_snapshot *s = calloc(1, sizeof(*s));
	struct readiness_input in = { .chrony_endpoint = "unix:/run/chrony/chronyd.sock", .now = NOW };
	struct readiness_report r;
	const struct readiness_check *c;

	healthy(s);
	in.snap = s;
	mutate(rows[_i].m, s, &in);
	readiness_evaluate(&in, &limits, &r);
	c = find_check(&r, rows[_i].check);
	ck_assert_msg(c != NULL, "no '%s' line", rows[_i].check);
	ck_assert_msg(c->status == rows[_i].status, "%s: status %s, expected %s (value '%s')", c->name,
		      readiness_status_str(c->status), readiness_status_str(rows[_i].status), c->value);
	ck_assert_msg(strstr(c->value, rows[_i].value), "%s: value '%s' lacks '%s'", c->name, c->value,
		      rows[_i].value);
	ck_assert_int_eq(r.verdict, rows[_i].verdict);
	/* Exactly the failures the verdict says. */
	ck_assert_int_eq(r.n_fail > 0, rows[_i].verdict != READINESS_READY);
	free(s);
}
END_TEST

/* Not serving LOCAL (or not a master): no upstream line at all. */
START_TEST(test_no_upstream_line)
{
	static const enum mutation ms[] = { M_UP_SELECTED, M_LOCAL };
	struct chrony_snapshot *s = calloc(1, sizeof(*s));
	struct readiness_input in = { .chrony_endpoint = "unix:/run/chrony/chronyd.sock", .now = NOW };
	struct readiness_report r;

	healthy(s);
	in.snap = s;
	mutate(ms[_i], s, &in);
	s->sources[0].data.reachability = 3;
	in.upstreams = "192.0.2.1";
	readiness_evaluate(&in, &limits, &r);
	ck_assert_ptr_null(find_check(&r, "upstream"));
	free(s);
}
END_TEST

/* The threshold says what the age was held against: polls under 1 s count as 1 s. */
START_TEST(test_update_threshold)
{
	struct chrony_snapshot *s = calloc(1, sizeof(*s));
	struct readiness_input in = { .now = NOW };
	struct readiness_report r;
	const struct readiness_check *c;

	healthy(s);
	in.snap = s;
	s->sources[0].data.poll = _i ? -2 : 1;
	readiness_evaluate(&in, &limits, &r);
	c = find_check(&r, "last update");
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(c->threshold, _i ? "<= 4 polls of 0.25s, counted as 1s = 4s" : "<= 4 polls of 2s = 8s");
	free(s);
}
END_TEST

START_TEST(test_json)
{
	struct chrony_snapshot *s = calloc(1, sizeof(*s));
	struct readiness_input in = { .now = NOW };
	struct readiness_report r;
	json_t *j;

	healthy(s);
	in.snap = s;
	s->tracking.skew_ppm = 585.0;
	readiness_evaluate(&in, &limits, &r);
	j = readiness_json(&r);
	ck_assert_str_eq(json_string_value(json_object_get(j, "verdict")), "not ready");
	ck_assert(json_is_false(json_object_get(j, "ready")));
	ck_assert_int_eq(json_integer_value(json_object_get(j, "failed")), 1);
	ck_assert_int_eq(json_array_size(json_object_get(j, "checks")), r.n_checks);
	json_decref(j);
	free(s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("readiness");
	TCase *tc = tcase_create("rows");

	tcase_add_loop_test(tc, test_rows, 0, sizeof(rows) / sizeof(rows[0]));
	tcase_add_loop_test(tc, test_update_threshold, 0, 2);
	tcase_add_loop_test(tc, test_no_upstream_line, 0, 2);
	tcase_add_test(tc, test_json);
	suite_add_tcase(s, tc);
	return check_run(s);
}
