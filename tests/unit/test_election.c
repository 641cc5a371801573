/* Unit tests for agent/election: one row per transition of the state
 * machine, then the rejoin measurement/step paths and the quarantine. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "election/announce.h"
#include "election/election.h"
#include "report/status.h"
#include "check_run.h"

#define LOCK BMCA_CLASS_LOCKED
#define FREE BMCA_CLASS_FREERUN
#define INV BMCA_CLASS_INVALID

struct cand_spec {
	int p1;		/* 0: no candidate */
	int cls;
	bool serving, eligible;
	double age;
	bool listening;
};

#define L ELECTION_LISTENING
#define RM ELECTION_REJOIN_MEASURE
#define RH ELECTION_REJOIN_HOLDOFF
#define FO ELECTION_FOLLOWING
#define SV ELECTION_SERVING
#define SELF ELECTION_SELF
#define NONE ELECTION_NONE
#define MEAS ELECTION_ACT_MEASURE
#define NOACT ELECTION_ACT_NONE

/* Time starts at 100; "dt" is the time of the tick after the start. The
 * announce timeout is 3 s (1 s x 3). */
static const struct row {
	const char *what;
	enum election_state from;
	int self_p1, self_cls;
	bool revertive, upstream;
	struct cand_spec c[2];
	double dt;
	enum election_state to;
	int master;
	bool serve, local_on;
	enum election_action act;
} rows[] = {
	{ "listening: waits one announce timeout", L, 1, FREE, false, false,
	  { { 2, FREE, true, true, 0.5, false } }, 2.9, L, 0, false, false, NOACT },
	{ "listening -> serving: nobody serves, own clock valid and best", L, 1, FREE, false, false,
	  { { 2, FREE, false, true, 0.5, false } }, 3.0, SV, SELF, true, true, NOACT },
	{ "listening -> following: nobody serves, a better one is valid", L, 2, FREE, false, false,
	  { { 1, FREE, false, true, 0.5, false } }, 3.0, FO, 0, false, false, NOACT },
	{ "listening -> rejoin: someone serves, prove own clock first", L, 1, FREE, false, false,
	  { { 2, FREE, true, true, 0.5, false } }, 3.0, RM, 0, false, false, MEAS },
	{ "listening -> rejoin: own clock invalid, nobody to measure", L, 1, INV, false, false,
	  { { 0 } }, 3.0, RM, NONE, false, false, NOACT },
	{ "rejoin: invalid, measures a serving candidate", RM, 1, INV, false, false,
	  { { 2, FREE, true, true, 0.5, false } }, 10, RM, 0, false, false, MEAS },
	{ "rejoin: invalid and the only serving one is stale: wait", RM, 1, INV, false, false,
	  { { 2, FREE, true, true, 3.5, false } }, 10, RM, NONE, false, false, NOACT },
	{ "rejoin: valid and nobody to measure -> serve", RM, 1, FREE, false, false,
	  { { 2, FREE, true, true, 4, false } }, 10, SV, SELF, true, true, NOACT },
	{ "rejoin: forged p1=0 invalid class is not measured", RM, 1, INV, false, false,
	  { { 0 + 1, INV, true, true, 0.1, false }, { 2, FREE, true, true, 0.1, false } }, 10, RM, 1, false, false, MEAS },
	{ "following -> serving: master lost after the timeout", FO, 2, FREE, false, false,
	  { { 1, FREE, true, true, 3.01, false } }, 10, SV, SELF, true, true, NOACT },
	{ "following: master still alive at exactly the timeout", FO, 2, FREE, false, false,
	  { { 1, FREE, true, true, 3.0, false } }, 10, FO, 0, false, false, NOACT },
	{ "following: non-revertive, better priority keeps following", FO, 1, FREE, false, false,
	  { { 2, FREE, true, true, 0.5, false } }, 10, FO, 0, false, false, NOACT },
	{ "following -> serving: revertive, better priority takes over", FO, 1, FREE, true, false,
	  { { 2, FREE, true, true, 0.5, false } }, 10, SV, SELF, true, true, NOACT },
	{ "following -> serving: better class preempts even non-revertive", FO, 1, LOCK, false, true,
	  { { 1, FREE, true, true, 0.5, false } }, 10, SV, SELF, true, false, NOACT },
	{ "following: non-revertive, RTC class does not preempt free-running", FO, 1, BMCA_CLASS_RTC,
	  false, false, { { 1, FREE, true, true, 0.5, false } }, 10, FO, 0, false, false, NOACT },
	{ "following: priority1 comes before class", FO, 2, LOCK, false, true,
	  { { 1, FREE, true, true, 0.5, false } }, 10, FO, 0, false, false, NOACT },
	{ "serving -> following: two serve after a partition, worse yields", SV, 2, FREE, false, false,
	  { { 1, FREE, true, true, 0.2, false } }, 10, FO, 0, false, false, NOACT },
	{ "serving: two serve, better keeps serving", SV, 1, FREE, false, false,
	  { { 2, FREE, true, true, 0.2, false } }, 10, SV, SELF, true, true, NOACT },
	{ "serving -> rejoin: own clock became invalid, stop serving", SV, 1, INV, false, false,
	  { { 2, FREE, false, true, 0.2, false } }, 10, RM, 0, false, false, MEAS },
	{ "following -> rejoin: own clock invalid, nobody: not serving", FO, 1, INV, false, false,
	  { { 0 } }, 10, RM, NONE, false, false, NOACT },
	{ "serving: ineligible better candidate ignored", SV, 2, FREE, true, false,
	  { { 1, FREE, true, false, 0.2, false } }, 10, SV, SELF, true, true, NOACT },
	{ "serving: invalid candidate claiming priority 1 ignored", SV, 2, FREE, true, false,
	  { { 1, INV, true, true, 0.2, false } }, 10, SV, SELF, true, true, NOACT },
	{ "serving with an upstream: local reference stays off", SV, 1, LOCK, false, true,
	  { { 0 } }, 10, SV, SELF, true, false, NOACT },
	{ "following: cold start, wait for a better candidate still listening", FO, 2, FREE, false,
	  false, { { 1, FREE, false, false, 0.3, true } }, 10, FO, 0, false, false, NOACT },
	{ "serving: a listening better candidate does not displace it (revertive)", SV, 2, FREE, true,
	  false, { { 1, FREE, false, false, 0.3, true } }, 10, SV, SELF, true, true, NOACT },
	{ "following -> serving: a listening candidate with an invalid clock is no reason to wait",
	  FO, 2, FREE, false, false, { { 1, INV, false, false, 0.3, true } }, 10, SV, SELF, true, true, NOACT },
	{ "following -> serving: a stale listener is no reason to wait", FO, 2, FREE, false, false,
	  { { 1, FREE, false, false, 3.5, true } }, 10, SV, SELF, true, true, NOACT },
	{ "following: no candidate valid at all and own invalid", FO, 1, INV, false, false,
	  { { 2, INV, true, true, 0.2, false } }, 10, RM, NONE, false, false, NOACT },
};

static void setup_row(const struct row *r, struct election *e, struct election_candidate *c,
		      size_t *n, struct election_input *in)
{
	struct election_policy pol;

	election_policy_defaults(&pol);
	pol.revertive = r->revertive;
	election_init(e, &pol, 100);
	e->state = r->from;
	*n = 0;
	for (size_t i = 0; i < 2 && r->c[i].p1; i++) {
		c[i] = (struct election_candidate){
			.ds = { .priority1 = (uint8_t)r->c[i].p1, .clock_class = (uint8_t)r->c[i].cls,
				.accuracy = 0x29, .priority2 = 128, .identity = { (uint8_t)(i + 2) } },
			.serving = r->c[i].serving, .eligible = r->c[i].eligible, .age_s = r->c[i].age,
			.listening = r->c[i].listening,
		};
		(*n)++;
	}
	*in = (struct election_input){
		.now = 100 + r->dt,
		.self = { .priority1 = (uint8_t)r->self_p1, .clock_class = (uint8_t)r->self_cls,
			  .accuracy = 0x29, .priority2 = 128, .identity = { 1 } },
		.cands = c, .n_cands = *n, .upstream_synced = r->upstream,
	};
	e->last_tick = in->now - 1.0;	/* the round before, one interval ago */
}

START_TEST(test_transitions)
{
	const struct row *r = &rows[_i];
	struct election e;
	struct election_candidate c[2];
	struct election_input in;
	struct election_output out;
	size_t n;

	setup_row(r, &e, c, &n, &in);
	election_tick(&e, &in, &out);
	ck_assert_msg(out.state == r->to, "%s: state %s, want %s", r->what,
		      election_state_name(out.state), election_state_name(r->to));
	ck_assert_msg(out.master == r->master, "%s: master %d, want %d", r->what, out.master, r->master);
	ck_assert_msg(out.serve == r->serve, "%s: serve %d", r->what, out.serve);
	ck_assert_msg(out.local_on == r->local_on, "%s: local_on %d", r->what, out.local_on);
	ck_assert_msg(out.action == r->act, "%s: action %d, want %d", r->what, out.action, r->act);
	ck_assert_msg(out.eligible == (r->to == FO || r->to == SV), "%s: eligible", r->what);
	ck_assert_msg(out.listening == (r->to == L), "%s: listening", r->what);
	ck_assert_msg(out.reason && out.reason[0], "%s: no reason", r->what);
	/* An invalid clock never serves. */
	if (r->self_cls == INV)
		ck_assert(!out.serve && !out.local_on);
}
END_TEST

/* The rejoin of the field report: back 17 minutes ahead, step, hold-off. */
struct fixture {
	struct election e;
	struct election_candidate f;
	struct election_input in;
	struct election_output out;
};

static void fixture_init(struct fixture *x, uint8_t self_class)
{
	struct election_policy pol;

	election_policy_defaults(&pol);
	election_init(&x->e, &pol, 0);
	x->f = (struct election_candidate){
		.ds = { .priority1 = 2, .clock_class = FREE, .identity = { 2 } },
		.serving = true, .eligible = true, .age_s = 0.3,
	};
	x->in = (struct election_input){
		.self = { .priority1 = 1, .clock_class = self_class, .identity = { 1 } },
		.cands = &x->f, .n_cands = 1,
	};
}

static void tick_at(struct fixture *x, double now)
{
	x->in.now = now;
	/* rounds every interval in between: no stall */
	x->e.last_tick = fmax(x->e.last_tick, now - 1.0);
	election_tick(&x->e, &x->in, &x->out);
}

START_TEST(test_rejoin_step_and_holdoff)
{
	struct fixture x;

	fixture_init(&x, INV);
	tick_at(&x, 3.0);
	ck_assert_int_eq(x.out.action, MEAS);
	ck_assert_int_eq(x.out.target, 0);
	/* 17 minutes ahead: step. */
	ck_assert_int_eq(election_measured(&x.e, 3.2, true, 1020.0), ELECTION_ACT_STEP);
	ck_assert_int_eq(x.e.state, RM);
	election_stepped(&x.e, 3.3, true);
	ck_assert_int_eq(x.e.state, RH);
	ck_assert_int_eq(x.e.steps, 1);
	/* The agent now counts the step as a synchronisation: class valid. */
	x.in.self.clock_class = FREE;
	tick_at(&x, 4.0);
	ck_assert_int_eq(x.out.state, RH);
	ck_assert_int_eq(x.out.action, MEAS);
	ck_assert(!x.out.serve && !x.out.eligible);
	ck_assert_int_eq(election_measured(&x.e, 4.1, true, 0.0004), NOACT);
	/* The same second: no second measurement. */
	tick_at(&x, 4.5);
	ck_assert_int_eq(x.out.action, NOACT);
	/* 60 s after the step, still measuring in budget: eligible, and
	 * (non-revertive) following F. */
	for (double t = 5; t < 63.3; t += 1) {
		tick_at(&x, t);
		ck_assert_int_eq(x.out.state, RH);
		if (x.out.action == MEAS)
			election_measured(&x.e, t + 0.1, true, -0.0002);
	}
	tick_at(&x, 63.4);
	ck_assert_int_eq(x.out.state, FO);
	ck_assert_int_eq(x.out.master, 0);
	ck_assert(x.out.eligible && !x.out.serve);
	/* F dies: M serves after the timeout. */
	x.f.age_s = 3.5;
	tick_at(&x, 70);
	ck_assert_int_eq(x.out.state, SV);
	ck_assert(x.out.local_on);
}
END_TEST

START_TEST(test_holdoff_out_of_budget_restarts)
{
	struct fixture x;

	fixture_init(&x, INV);
	tick_at(&x, 3.0);
	election_measured(&x.e, 3.1, true, 2.0);
	election_stepped(&x.e, 3.2, true);
	x.in.self.clock_class = FREE;
	tick_at(&x, 5);
	/* Drifted beyond the 5 ms budget during the hold-off: step again. */
	ck_assert_int_eq(election_measured(&x.e, 5.1, true, 0.006), ELECTION_ACT_STEP);
	ck_assert_int_eq(x.e.state, RM);
	election_stepped(&x.e, 5.2, true);
	ck_assert_int_eq(x.e.steps, 2);
	ck_assert_double_eq(x.e.holdoff_start, 5.2);
	/* A failed step goes back to measuring. */
	election_stepped(&x.e, 6, false);
	ck_assert_int_eq(x.e.state, RM);
}
END_TEST

START_TEST(test_holdoff_needs_a_good_measurement)
{
	struct fixture x;

	fixture_init(&x, INV);
	tick_at(&x, 3.0);
	election_measured(&x.e, 3.1, true, 2.0);
	election_stepped(&x.e, 3.2, true);
	x.in.self.clock_class = FREE;
	/* Every measurement fails (loss): never eligible. */
	for (double t = 4; t < 100; t += 1) {
		tick_at(&x, t);
		ck_assert_int_eq(x.out.state, RH);
		if (x.out.action == MEAS)
			ck_assert_int_eq(election_measured(&x.e, t, false, 0), NOACT);
	}
	election_measured(&x.e, 100, true, 0.001);
	tick_at(&x, 100.5);
	ck_assert_int_eq(x.out.state, FO);
}
END_TEST

START_TEST(test_valid_clock_rejoins_sooner)
{
	struct fixture x;

	/* RTC-restored M: in budget at the first measurement, no step. */
	fixture_init(&x, BMCA_CLASS_RTC);
	tick_at(&x, 3.0);
	ck_assert_int_eq(x.out.action, MEAS);
	ck_assert_int_eq(election_measured(&x.e, 3.1, true, 0.0015), NOACT);
	ck_assert_int_eq(x.e.state, RH);
	ck_assert_int_eq(x.e.steps, 0);
	for (double t = 4; t < 13.1; t += 1) {
		tick_at(&x, t);
		ck_assert_int_eq(x.out.state, RH);
		if (x.out.action == MEAS)
			election_measured(&x.e, t, true, 0.001);
	}
	tick_at(&x, 13.2);
	ck_assert_int_eq(x.out.state, FO);
}
END_TEST

/* Back 17 minutes ahead, but chronyd (makestep) stepped the clock before
 * the first measurement: in budget then, yet not valid by itself, so the
 * long hold-off, as if the agent had stepped. */
START_TEST(test_clock_stepped_by_chronyd_holds_off_long)
{
	struct fixture x;

	fixture_init(&x, INV);
	tick_at(&x, 1.0);
	ck_assert_int_eq(x.out.state, L);
	ck_assert(election_clock_jumped(&x.e, 2.0));
	x.in.self.clock_class = FREE;	/* chronyd now follows F */
	tick_at(&x, 3.0);
	ck_assert_int_eq(election_measured(&x.e, 3.1, true, 0.0004), NOACT);
	ck_assert_int_eq(x.e.state, RH);
	ck_assert_int_eq(x.e.steps, 0);
	for (double t = 4; t < 63.0; t += 1) {
		tick_at(&x, t);
		ck_assert_msg(x.out.state == RH, "eligible at %.1f s, before the 60 s hold-off", t);
		if (x.out.action == MEAS)
			election_measured(&x.e, t + 0.05, true, 0.0002);
	}
	tick_at(&x, 63.2);
	ck_assert_int_eq(x.out.state, FO);
}
END_TEST

/* A step during the short hold-off restarts it as the long one; a step
 * once eligible changes nothing here. */
START_TEST(test_clock_stepped_during_short_holdoff)
{
	struct fixture x;

	fixture_init(&x, BMCA_CLASS_RTC);
	tick_at(&x, 3.0);
	election_measured(&x.e, 3.1, true, 0.001);
	ck_assert_double_eq(x.e.holdoff_len, 10.0);
	tick_at(&x, 5.0);
	ck_assert(election_clock_jumped(&x.e, 5.5));
	ck_assert_double_eq(x.e.holdoff_start, 5.5);
	ck_assert_double_eq(x.e.holdoff_len, 60.0);
	tick_at(&x, 14.0);
	ck_assert_int_eq(x.out.state, RH);
	x.e.state = FO;
	ck_assert(!election_clock_jumped(&x.e, 20));
	x.e.state = SV;
	ck_assert(!election_clock_jumped(&x.e, 20));
}
END_TEST

START_TEST(test_holdoff_master_lost)
{
	struct fixture x;

	fixture_init(&x, INV);
	tick_at(&x, 3.0);
	election_measured(&x.e, 3.1, true, 1020);
	election_stepped(&x.e, 3.2, true);
	x.in.self.clock_class = FREE;
	tick_at(&x, 4.0);
	/* Lost before any confirming measurement: keep waiting. */
	x.f.age_s = 10;
	tick_at(&x, 8.0);
	ck_assert_int_eq(x.out.state, RH);
	ck_assert(!x.out.serve);
	/* Back, confirmed, lost again: the stepped clock may serve. */
	x.f.age_s = 0.1;
	tick_at(&x, 9.0);
	election_measured(&x.e, 9.1, true, 0.0001);
	x.f.age_s = 10;
	tick_at(&x, 15.0);
	ck_assert_int_eq(x.out.state, SV);
}
END_TEST

START_TEST(test_measured_outside_rejoin_is_ignored)
{
	struct fixture x;

	fixture_init(&x, FREE);
	x.e.state = FO;
	ck_assert_int_eq(election_measured(&x.e, 1, true, 100), NOACT);
	ck_assert_int_eq(x.e.state, FO);
}
END_TEST

START_TEST(test_quarantine)
{
	struct election_quarantine q = { 0 };
	const double now = 1800000000.0;
	const int64_t build = 1790000000;

	/* Sane. */
	ck_assert_int_eq(election_quarantine_check(&q, 0.002, now, true, 1.0, build, 3), ELECTION_Q_KEEP);
	/* The router reset to 1970: offline even when this clock is invalid. */
	ck_assert_int_eq(election_quarantine_check(&q, -now + 10, now, false, 1.0, build, 3),
			 ELECTION_Q_OFFLINE);
	ck_assert(q.offline);
	ck_assert_int_eq(election_quarantine_check(&q, -now + 10, now, true, 1.0, build, 3), ELECTION_Q_KEEP);
	/* Agrees again: back after 3 checks, a disagreement restarts the count. */
	ck_assert_int_eq(election_quarantine_check(&q, 0.01, now, true, 1.0, build, 3), ELECTION_Q_KEEP);
	ck_assert_int_eq(election_quarantine_check(&q, 0.01, now, true, 1.0, build, 3), ELECTION_Q_KEEP);
	ck_assert_int_eq(election_quarantine_check(&q, 10800, now, true, 1.0, build, 3), ELECTION_Q_KEEP);
	ck_assert_int_eq(election_quarantine_check(&q, 0.01, now, true, 1.0, build, 3), ELECTION_Q_KEEP);
	ck_assert_int_eq(election_quarantine_check(&q, 0.01, now, true, 1.0, build, 3), ELECTION_Q_KEEP);
	ck_assert_int_eq(election_quarantine_check(&q, 0.01, now, true, 1.0, build, 3), ELECTION_Q_ONLINE);
	ck_assert(!q.offline);
	/* +3 h against a valid clock: offline; against an invalid one it
	 * cannot be judged (it is after the build date). */
	ck_assert_int_eq(election_quarantine_check(&q, 10800, now, false, 1.0, build, 3), ELECTION_Q_KEEP);
	ck_assert_int_eq(election_quarantine_check(&q, 10800, now, true, 1.0, build, 3), ELECTION_Q_OFFLINE);
	/* No data: no change. */
	ck_assert_int_eq(election_quarantine_check(&q, NAN, now, true, 1.0, build, 1), ELECTION_Q_KEEP);
	ck_assert(q.offline);
	/* Exactly the limit is sane. */
	q = (struct election_quarantine){ 0 };
	ck_assert_int_eq(election_quarantine_check(&q, -1.0, now, true, 1.0, build, 3), ELECTION_Q_KEEP);
}
END_TEST

/* Issue 14 item 6, the announce table and the election together: F
 * (priority1 2) follows M (1), whose live session announces every 0.5 s;
 * F's clock is unproven (no window). One recorded announce of an earlier
 * session of M arrives between two live ones. F must keep hearing the
 * live session: M is never aged out and F never serves. */
static void feed_m(struct announce_table *t, const struct announce_key *k, uint32_t session,
		   uint32_t seq, double ts, double now_mono)
{
	struct announce_msg m = {
		.ds = { .priority1 = 1, .clock_class = FREE, .accuracy = 0x29, .priority2 = 128,
			.identity = { 0xA0, 1 } },
		.flags = ANNOUNCE_FLAG_SERVING | ANNOUNCE_FLAG_ELIGIBLE,
		.session = session, .seq = seq, .ts = { (time_t)ts, (long)((ts - (double)(time_t)ts) * 1e9) },
		.ntp_family = 4, .ntp_addr = { 127, 0, 0, 1 }, .name = "m",
	};
	uint8_t buf[ANNOUNCE_LEN];
	const uint8_t src[4] = { 127, 0, 0, 1 };

	ck_assert_int_eq(announce_encode(&m, k, buf, sizeof(buf)), ANNOUNCE_LEN);
	announce_table_accept(t, buf, sizeof(buf), k, src, 4, ts, now_mono);
}

START_TEST(test_replayed_session_does_not_age_out_master)
{
	static const uint8_t self_id[8] = { 0xB0, 2 };
	const double real0 = 1795291210.0;
	struct announce_table t;
	struct announce_key k;
	struct election_policy pol;
	struct election e;
	struct election_output out;

	ck_assert_int_eq(announce_key_from_hex("00112233445566778899aabbccddeeff", &k), 0);
	announce_table_init(&t, self_id, 10);
	t.enforce_window = false;
	election_policy_defaults(&pol);
	pol.interval_s = 0.5;
	election_init(&e, &pol, 100);
	e.state = FO;
	for (int i = 0; i < 16; i++) {
		double now = 100 + 0.5 * i;
		struct election_candidate c = { 0 };
		struct election_input in;

		feed_m(&t, &k, 0x5E55102, (uint32_t)(100 + i), real0 + 0.5 * i, now);
		if (i == 4)	/* a recording of session 1, 40 s old, 0.2 s later */
			feed_m(&t, &k, 0x5E55101, 77, real0 - 40, now + 0.2);
		c.ds = t.peers[0].msg.ds;
		c.serving = t.peers[0].msg.flags & ANNOUNCE_FLAG_SERVING;
		c.eligible = t.peers[0].msg.flags & ANNOUNCE_FLAG_ELIGIBLE;
		c.age_s = now + 0.45 - t.peers[0].heard_mono;	/* the round just before the next announce */
		in = (struct election_input){ .now = now + 0.45, .cands = &c, .n_cands = 1,
			.self = { .priority1 = 2, .clock_class = FREE, .accuracy = 0x29, .priority2 = 128,
				  .identity = { 0xB0, 2 } } };
		election_tick(&e, &in, &out);
		ck_assert_msg(!out.serve && out.master == 0, "round %d: F %s, master %d (M heard %.2f s ago)",
			      i, election_state_name(out.state), out.master, c.age_s);
	}
	ck_assert_uint_eq(t.peers[0].msg.session, 0x5E55102);
	ck_assert_uint_eq(t.count.replayed, 1);
}
END_TEST

/* Issue 14: a stalled round, a chronyd that does not answer. The timeout
 * is 3 s; the round before was "gap" seconds earlier. */
static const struct fault_row {
	const char *what;
	enum election_state from;
	double gap;
	int chronyd_failures;
	bool other_serving;
	enum election_state to;
	bool serve;
} fault_rows[] = {
	{ "stalled round: serving -> listening again", SV, 3.5, 0, false, L, false },
	{ "stalled round: following -> listening, never serving on stale state", FO, 3.5, 0, false, L,
	  false },
	{ "stalled round while another serves: listening", SV, 10, 0, true, L, false },
	{ "stalled round in the rejoin (a long measurement): no restart", RM, 5, 0, true, RM, false },
	{ "a round gap of exactly the timeout is no stall", SV, 3.0, 0, false, SV, true },
	{ "a slow round (1.4 s) is no stall", SV, 1.4, 0, false, SV, true },
	{ "chronyd unreachable while serving: a restart's 5 rounds are tolerated", SV, 1, 5, false, SV,
	  true },
	{ "chronyd unreachable while serving: 6 rounds (2 timeouts) -> step down", SV, 1, 6, false, RM,
	  false },
	{ "chronyd unreachable while following: not eligible", FO, 1, 6, true, RM, false },
	{ "chronyd unreachable in the hold-off: back to measuring", RH, 1, 9, true, RM, false },
	{ "chronyd unreachable while listening: keeps listening", L, 1, 9, false, L, false },
};

START_TEST(test_faults)
{
	const struct fault_row *r = &fault_rows[_i];
	struct election_policy pol;
	struct election e;
	struct election_candidate c = {
		.ds = { .priority1 = 2, .clock_class = FREE, .accuracy = 0x29, .priority2 = 128,
			.identity = { 2 } },
		.serving = r->other_serving, .eligible = true, .age_s = 0.3,
	};
	struct election_input in = {
		.now = 200, .cands = &c, .n_cands = 1, .chronyd_failures = r->chronyd_failures,
		.self = { .priority1 = 1, .clock_class = FREE, .accuracy = 0x29, .priority2 = 128,
			  .identity = { 1 } },
	};
	struct election_output out;

	election_policy_defaults(&pol);
	election_init(&e, &pol, r->from == L ? 199.5 : 100);
	e.state = r->from;
	e.last_tick = in.now - r->gap;
	election_tick(&e, &in, &out);
	ck_assert_msg(out.state == r->to, "%s: state %s, want %s", r->what,
		      election_state_name(out.state), election_state_name(r->to));
	ck_assert_msg(out.serve == r->serve && out.local_on == r->serve, "%s: serve %d", r->what,
		      out.serve);
	ck_assert_msg(out.eligible == (r->to == FO || r->to == SV), "%s: eligible", r->what);
	ck_assert_msg(out.listening == (r->to == L), "%s: listening", r->what);
	ck_assert_msg(out.reason && out.reason[0], "%s: no reason", r->what);
}
END_TEST

/* After a stall the node listens a full timeout before it may serve. */
START_TEST(test_stall_listens_a_full_timeout)
{
	struct fixture x;

	fixture_init(&x, FREE);
	x.f.serving = false;
	x.f.ds.priority1 = 3;
	x.e.state = SV;
	x.e.last_tick = 50;
	x.in.now = 60;		/* gap 10 s */
	election_tick(&x.e, &x.in, &x.out);
	ck_assert_int_eq(x.out.state, L);
	x.in.now = 62.9;
	x.e.last_tick = 61.9;
	election_tick(&x.e, &x.in, &x.out);
	ck_assert_int_eq(x.out.state, L);
	ck_assert(!x.out.serve);
	tick_at(&x, 63.0);
	ck_assert_int_eq(x.out.state, SV);
}
END_TEST

/* Every state the view can write is one the status document allows
 * (election.state, common/report/status_election.c), and no other. */
START_TEST(test_state_names_in_schema)
{
	size_t n = 0;

	for (int st = ELECTION_LISTENING; st <= ELECTION_SERVING; st++) {
		ck_assert_ptr_nonnull(status_election_states[st]);
		ck_assert_str_eq(election_state_name((enum election_state)st), status_election_states[st]);
	}
	while (status_election_states[n])
		n++;
	ck_assert_int_eq(n, ELECTION_SERVING + 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("election");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_transitions, 0, sizeof(rows) / sizeof(rows[0]));
	tcase_add_test(tc, test_replayed_session_does_not_age_out_master);
	tcase_add_test(tc, test_state_names_in_schema);
	tcase_add_loop_test(tc, test_faults, 0, sizeof(fault_rows) / sizeof(fault_rows[0]));
	tcase_add_test(tc, test_stall_listens_a_full_timeout);
	tcase_add_test(tc, test_rejoin_step_and_holdoff);
	tcase_add_test(tc, test_holdoff_out_of_budget_restarts);
	tcase_add_test(tc, test_holdoff_needs_a_good_measurement);
	tcase_add_test(tc, test_valid_clock_rejoins_sooner);
	tcase_add_test(tc, test_holdoff_master_lost);
	tcase_add_test(tc, test_clock_stepped_by_chronyd_holds_off_long);
	tcase_add_test(tc, test_clock_stepped_during_short_holdoff);
	tcase_add_test(tc, test_measured_outside_rejoin_is_ignored);
	tcase_add_test(tc, test_quarantine);
	suite_add_tcase(s, tc);
	return check_run(s);
}
