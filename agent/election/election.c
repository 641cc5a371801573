/* election.c - the election state machine, see election.h */
#include "election/election.h"

#include <math.h>
#include <string.h>

void election_policy_defaults(struct election_policy *pol)
{
	*pol = (struct election_policy){
		.interval_s = 1.0, .timeout_intervals = 3, .revertive = false,
		.holdoff_s = 60.0, .holdoff_valid_s = 10.0, .budget_s = 5e-3, .recheck_s = 1.0,
		.chronyd_fail_rounds = 6,
	};
}

void election_init(struct election *e, const struct election_policy *pol, double now)
{
	memset(e, 0, sizeof(*e));
	e->pol = *pol;
	e->state = ELECTION_LISTENING;
	e->started = now;
	e->last_tick = now;
	e->last_measure = -INFINITY;
}

const char *election_state_name(enum election_state s)
{
	switch (s) {
	case ELECTION_LISTENING: return "listening";
	case ELECTION_REJOIN_MEASURE: return "rejoin-measure";
	case ELECTION_REJOIN_HOLDOFF: return "rejoin-holdoff";
	case ELECTION_FOLLOWING: return "following";
	case ELECTION_SERVING: return "serving";
	}
	return "unknown";
}

static double timeout_s(const struct election *e)
{
	return e->pol.interval_s * e->pol.timeout_intervals;
}

/* A candidate that may be master: heard recently, finished its rejoin,
 * its clock valid. */
static bool usable(const struct election *e, const struct election_candidate *c)
{
	return c->age_s <= timeout_s(e) && c->eligible && bmca_class_may_serve(c->ds.clock_class);
}

static const struct bmca_dataset *ds_of(const struct election_input *in, int idx)
{
	return idx == ELECTION_SELF ? &in->self : &in->cands[idx].ds;
}

/* The best usable candidate; serving_only: among those that serve;
 * self_too: include this node (as serving when self_serving). */
static int best_of(const struct election *e, const struct election_input *in, bool serving_only,
		   bool self_too, bool self_serving)
{
	int best = ELECTION_NONE;

	if (self_too && bmca_class_may_serve(in->self.clock_class) && (!serving_only || self_serving))
		best = ELECTION_SELF;
	for (size_t i = 0; i < in->n_cands; i++) {
		const struct election_candidate *c = &in->cands[i];

		if (!usable(e, c) || (serving_only && !c->serving))
			continue;
		if (best == ELECTION_NONE || bmca_compare(&c->ds, ds_of(in, best)) < 0)
			best = (int)i;
	}
	return best;
}

/* Whose time a rejoining node measures: the best serving candidate, or
 * the best usable one while nobody serves. */
static int rejoin_target(const struct election *e, const struct election_input *in)
{
	int t = best_of(e, in, true, false, false);

	return t != ELECTION_NONE ? t : best_of(e, in, false, false, false);
}

/* A better valid candidate that is still listening after its start: when
 * nobody serves yet (a cold start), wait for it instead of taking over
 * for a moment. */
static int better_listener(const struct election *e, const struct election_input *in, int best)
{
	int found = ELECTION_NONE;

	for (size_t i = 0; i < in->n_cands; i++) {
		const struct election_candidate *c = &in->cands[i];

		if (!c->listening || c->age_s > timeout_s(e) || !bmca_class_may_serve(c->ds.clock_class))
			continue;
		if (bmca_compare(&c->ds, ds_of(in, found == ELECTION_NONE ? best : found)) < 0)
			found = (int)i;
	}
	return found;
}

/* The normal election among eligible candidates, this node included. */
static int elect(const struct election *e, const struct election_input *in, const char **why)
{
	bool self_serving = e->state == ELECTION_SERVING;
	int best = best_of(e, in, false, true, self_serving);
	int inc = best_of(e, in, true, true, self_serving), listener;

	if (best == ELECTION_NONE) {
		*why = "no valid candidate";
		return best;
	}
	if (inc == ELECTION_NONE) {
		listener = better_listener(e, in, best);
		*why = listener == ELECTION_NONE ? "best dataset; nobody serving"
						 : "nobody serving; a better candidate is starting";
		return listener == ELECTION_NONE ? best : listener;
	}
	if (e->pol.revertive) {
		*why = "best dataset (revertive)";
		return best;
	}
	/* Only an upstream-traceable clock preempts one that is not: a
	 * class change among fleet-internal clocks is not worth a switch. */
	if (ds_of(in, best)->clock_class <= BMCA_CLASS_HOLDOVER &&
	    ds_of(in, inc)->clock_class > BMCA_CLASS_HOLDOVER) {
		*why = "upstream-traceable, the serving candidate is not";
		return best;
	}
	*why = inc == best ? "best dataset" : "serving candidate kept (non-revertive)";
	return inc;
}

static void tick_rejoin(struct election *e, const struct election_input *in,
			struct election_output *out, bool self_valid)
{
	int t = rejoin_target(e, in);

	out->master = t;
	out->target = t;
	if (t == ELECTION_NONE) {
		if (self_valid && e->state == ELECTION_REJOIN_HOLDOFF && e->last_good) {
			e->state = ELECTION_FOLLOWING;
			out->reason = "master lost during hold-off; own clock was in budget";
		} else if (self_valid && e->state == ELECTION_REJOIN_MEASURE) {
			e->state = ELECTION_FOLLOWING;
			out->reason = "no fleet time to measure; own clock valid";
		} else {
			out->reason = "own clock not proven and no candidate to measure: not serving";
		}
		return;
	}
	if (e->state == ELECTION_REJOIN_MEASURE) {
		out->action = ELECTION_ACT_MEASURE;
		out->reason = "rejoin: measuring the master before anything else";
	} else if (in->now - e->holdoff_start >= e->holdoff_len && e->last_good) {
		e->state = ELECTION_FOLLOWING;
		out->reason = "hold-off done in budget: eligible";
	} else {
		if (in->now - e->last_measure >= e->pol.recheck_s)
			out->action = ELECTION_ACT_MEASURE;
		out->reason = "rejoin hold-off: staying within budget";
	}
	if (out->action == ELECTION_ACT_MEASURE)
		e->last_measure = in->now;
}

/* A round gap longer than the announce timeout (this process or its
 * thread was stalled): what it knew of the fleet is stale, and the others
 * may have aged it out and elected another. Hear the fleet again before
 * claiming anything. True when it restarted listening. */
static bool stalled(struct election *e, double now)
{
	bool gap = now - e->last_tick > timeout_s(e);

	e->last_tick = now;
	/* Only a node that claims something (eligible, maybe serving) must
	 * re-hear the fleet; a rejoining one proves its clock anyway (and its
	 * own NTP measurement may take longer than the timeout). */
	if (!gap || (e->state != ELECTION_FOLLOWING && e->state != ELECTION_SERVING))
		return false;
	e->state = ELECTION_LISTENING;
	e->started = now;
	return true;
}

/* chronyd did not answer for chronyd_fail_rounds rounds: this node cannot
 * serve time (nor know its own), so it stops claiming to: it announces
 * neither serving nor eligible, and the others elect another at once.
 * When chronyd answers again it proves its clock against the fleet. */
static bool chronyd_lost(struct election *e, const struct election_input *in)
{
	if (e->pol.chronyd_fail_rounds <= 0 || in->chronyd_failures < e->pol.chronyd_fail_rounds ||
	    e->state == ELECTION_LISTENING)
		return false;
	e->state = ELECTION_REJOIN_MEASURE;
	return true;
}

void election_tick(struct election *e, const struct election_input *in,
		   struct election_output *out)
{
	bool self_valid = bmca_class_may_serve(in->self.clock_class);

	memset(out, 0, sizeof(*out));
	out->master = out->target = ELECTION_NONE;
	if (stalled(e, in->now)) {
		out->master = best_of(e, in, true, false, false);
		out->reason = "round gap longer than the announce timeout: listening again";
		goto out;
	}
	if (chronyd_lost(e, in)) {
		out->master = best_of(e, in, true, false, false);
		out->reason = "own chronyd does not answer: not serving";
		goto out;
	}
	if (e->state == ELECTION_LISTENING) {
		out->master = best_of(e, in, true, false, false);
		if (in->now - e->started < timeout_s(e)) {
			out->reason = "listening for announces";
			goto out;
		}
		/* Anyone serving: prove this clock against it first. */
		e->state = out->master != ELECTION_NONE || !self_valid ? ELECTION_REJOIN_MEASURE
								      : ELECTION_FOLLOWING;
	}
	if ((e->state == ELECTION_FOLLOWING || e->state == ELECTION_SERVING) && !self_valid)
		e->state = ELECTION_REJOIN_MEASURE;
	if (e->state == ELECTION_REJOIN_MEASURE || e->state == ELECTION_REJOIN_HOLDOFF)
		tick_rejoin(e, in, out, self_valid);
	if (e->state == ELECTION_FOLLOWING || e->state == ELECTION_SERVING) {
		const char *why = "";

		out->master = elect(e, in, &why);
		out->reason = why;
		e->state = out->master == ELECTION_SELF ? ELECTION_SERVING : ELECTION_FOLLOWING;
	}
out:
	out->state = e->state;
	out->serve = e->state == ELECTION_SERVING;
	out->local_on = out->serve && !in->upstream_synced;
	out->eligible = e->state == ELECTION_FOLLOWING || e->state == ELECTION_SERVING;
	out->listening = e->state == ELECTION_LISTENING;
}

enum election_action election_measured(struct election *e, double now, bool ok, double offset_s)
{
	bool in_budget = ok && fabs(offset_s) <= e->pol.budget_s;

	if (ok)
		e->last_offset = offset_s;
	if (e->state == ELECTION_REJOIN_MEASURE) {
		if (!ok)
			return ELECTION_ACT_NONE;
		if (!in_budget)
			return ELECTION_ACT_STEP;
		e->state = ELECTION_REJOIN_HOLDOFF;
		e->holdoff_start = now;
		e->holdoff_len = e->stepped ? e->pol.holdoff_s : e->pol.holdoff_valid_s;
		e->last_good = true;
		return ELECTION_ACT_NONE;
	}
	if (e->state != ELECTION_REJOIN_HOLDOFF)
		return ELECTION_ACT_NONE;
	e->last_good = in_budget;
	if (ok && !in_budget) {
		e->state = ELECTION_REJOIN_MEASURE;
		return ELECTION_ACT_STEP;
	}
	return ELECTION_ACT_NONE;
}

void election_stepped(struct election *e, double now, bool ok)
{
	if (!ok) {
		e->state = ELECTION_REJOIN_MEASURE;
		return;
	}
	e->stepped = true;
	e->steps++;
	e->state = ELECTION_REJOIN_HOLDOFF;
	e->holdoff_start = now;
	e->holdoff_len = e->pol.holdoff_s;
	e->last_good = false;	/* a measurement after the step must confirm it */
	e->last_measure = -INFINITY;
}

bool election_clock_jumped(struct election *e, double now)
{
	if (e->state != ELECTION_LISTENING && e->state != ELECTION_REJOIN_MEASURE &&
	    e->state != ELECTION_REJOIN_HOLDOFF)
		return false;
	e->stepped = true;
	if (e->state == ELECTION_REJOIN_HOLDOFF) {
		e->holdoff_start = now;
		e->holdoff_len = e->pol.holdoff_s;
	}
	return true;
}

enum election_qdecision election_quarantine_check(struct election_quarantine *q, double offset_s,
						  double now_realtime, bool clock_valid,
						  double limit_s, int64_t build_epoch,
						  int agree_needed)
{
	bool insane;

	if (isnan(offset_s))
		return ELECTION_Q_KEEP;
	insane = now_realtime + offset_s < (double)build_epoch ||
		 (clock_valid && fabs(offset_s) > limit_s);
	if (!q->offline) {
		if (!insane)
			return ELECTION_Q_KEEP;
		q->offline = true;
		q->agree_count = 0;
		return ELECTION_Q_OFFLINE;
	}
	if (insane) {
		q->agree_count = 0;
		return ELECTION_Q_KEEP;
	}
	if (++q->agree_count < agree_needed)
		return ELECTION_Q_KEEP;
	q->offline = false;
	q->agree_count = 0;
	return ELECTION_Q_ONLINE;
}
