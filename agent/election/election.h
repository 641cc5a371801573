/* election.h - the master election of one candidate as a pure state
 * machine (no I/O, no clock reads): given this node's dataset, the
 * candidates heard with their ages, and the results of rejoin
 * measurements, it says who is master, whether this node serves (chronyd
 * local reference on) or follows, and which rejoin step to take next.
 * Also the insane-upstream quarantine decision. See docs/election.md. */
#ifndef FLEETCLOCK_ELECTION_H
#define FLEETCLOCK_ELECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "election/bmca.h"

enum election_state {
	ELECTION_LISTENING = 0,	/* just started: hear the fleet for one announce timeout */
	ELECTION_REJOIN_MEASURE,	/* measure the serving candidate, step if beyond budget */
	ELECTION_REJOIN_HOLDOFF,	/* stepped/in budget: stay in budget for the hold-off */
	ELECTION_FOLLOWING,	/* eligible; another candidate is master (or none is) */
	ELECTION_SERVING,	/* eligible and master: local reference on */
};

enum election_action {
	ELECTION_ACT_NONE = 0,
	ELECTION_ACT_MEASURE,	/* query the master's time (NTP client, several samples) */
	ELECTION_ACT_STEP,	/* step this clock by -offset, then call election_stepped() */
};

struct election_policy {
	double interval_s;	/* announce interval (default 1) */
	int timeout_intervals;	/* a candidate is lost after this many intervals (3) */
	bool revertive;		/* a better candidate takes over from a serving one (no) */
	double holdoff_s;	/* in budget this long after a step before eligible (60) */
	double holdoff_valid_s;	/* ... when the own clock was valid and in budget (10) */
	double budget_s;	/* rejoin budget on |offset to the master| (5 ms) */
	double recheck_s;	/* measurement period during the hold-off (1) */
	int chronyd_fail_rounds;	/* consecutive rounds without chronyd: step down (6) */
};

/* One candidate heard, as the announce table keeps it. */
struct election_candidate {
	struct bmca_dataset ds;
	bool serving;		/* it says its local reference is on */
	bool eligible;		/* it says it has finished its rejoin */
	bool listening;		/* it says it has just started and is listening */
	double age_s;		/* since its last valid announce */
};

/* Inputs of one tick. self.clock_class comes from bmca_derive_class(). */
struct election_input {
	double now;		/* a monotonic clock, s */
	struct bmca_dataset self;
	const struct election_candidate *cands;
	size_t n_cands;
	bool upstream_synced;	/* chronyd follows an upstream: do not enable local */
	int chronyd_failures;	/* consecutive rounds whose chronyd read failed (0: it answered) */
};

#define ELECTION_SELF (-1)
#define ELECTION_NONE (-2)

struct election_output {
	enum election_state state;
	int master;		/* index into cands, ELECTION_SELF or ELECTION_NONE */
	bool serve;		/* this node is master */
	bool local_on;		/* serve and no upstream: chronyd LOCAL2 on */
	bool eligible;		/* announce: finished the rejoin */
	bool listening;		/* announce: just started, listening */
	enum election_action action;
	int target;		/* the candidate to measure (index), or ELECTION_NONE */
	const char *reason;	/* one phrase: why this decision */
};

struct election {
	struct election_policy pol;
	enum election_state state;
	double started;		/* now at init */
	double holdoff_start;	/* when the hold-off began */
	double holdoff_len;	/* holdoff_s or holdoff_valid_s */
	double last_measure;	/* when a measurement was last asked for */
	bool last_good;		/* the last measurement was in budget */
	bool stepped;		/* a step was needed in this rejoin */
	int steps;		/* steps taken since start */
	double last_offset;	/* the last measured offset, s (this clock - master) */
	double last_tick;	/* now of the last tick (or of init) */
};

/* The defaults listed in struct election_policy. */
void election_policy_defaults(struct election_policy *pol);

/* Start in LISTENING at time now. */
void election_init(struct election *e, const struct election_policy *pol, double now);

/* One tick: decide. out->action MEASURE asks the caller to measure
 * out->target and pass the result to election_measured(). */
void election_tick(struct election *e, const struct election_input *in,
		   struct election_output *out);

/* A measurement of the master: ok false when it failed; offset_s = this
 * clock minus the master. Returns ELECTION_ACT_STEP when this clock must
 * be stepped by -offset_s (then call election_stepped), else NONE. */
enum election_action election_measured(struct election *e, double now, bool ok, double offset_s);

/* The step asked for was done (ok) or failed. */
void election_stepped(struct election *e, double now, bool ok);

/* This clock was stepped by someone else (chronyd's makestep, an operator)
 * at now, before this node finished its rejoin: its time was not valid by
 * itself, so the rejoin counts as stepped (holdoff_s, from now, instead of
 * holdoff_valid_s). True when it changed the rejoin (false when eligible). */
bool election_clock_jumped(struct election *e, double now);

/* "listening", "rejoin-measure", "rejoin-holdoff", "following", "serving". */
const char *election_state_name(enum election_state s);

/* Insane-upstream quarantine, per upstream source. */
struct election_quarantine {
	bool offline;		/* taken OFFLINE in chronyd */
	int agree_count;	/* consecutive agreeing checks while offline */
};

enum election_qdecision {
	ELECTION_Q_KEEP = 0,	/* no change */
	ELECTION_Q_OFFLINE,	/* take it OFFLINE now */
	ELECTION_Q_ONLINE,	/* it agrees again: bring it back ONLINE */
};

/* Decide for one upstream given its offset (upstream - this clock, s),
 * this clock's time (s since the epoch), whether this clock is valid
 * (class not INVALID), the sanity limit (s), the build epoch and the
 * number of agreeing checks needed to bring it back. An upstream before the
 * build date is insane whatever this clock says; otherwise it is judged
 * against this clock only when this clock is valid. */
enum election_qdecision election_quarantine_check(struct election_quarantine *q, double offset_s,
						  double now_realtime, bool clock_valid,
						  double limit_s, int64_t build_epoch,
						  int agree_needed);

#endif
