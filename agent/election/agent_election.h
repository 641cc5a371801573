/* agent_election.h - the election's I/O around the pure state machine
 * (election.h): announces in and out, chronyd's view of this clock as
 * evidence for the clock class, chronyd's local reference on/off and the
 * candidate sources online/offline, the rejoin measurement and step, and
 * the insane-upstream quarantine. agent_election_start() runs a round
 * every announce interval in a thread of its own (the daemon, --elect). */
#ifndef FLEETCLOCK_AGENT_ELECTION_H
#define FLEETCLOCK_AGENT_ELECTION_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>

#include "agent.h"
#include "election/bmca.h"
#include "chrony/chrony_client.h"

struct agent_election;

/* RTC evidence for the clock class (from the RTC module when present). */
struct agent_election_rtc {
	enum bmca_rtc_state state;
	bool restored;			/* the system clock was set from it at boot */
	double since_set_s;		/* since it was last set from a synchronised clock */
	double drift_uncert_ppm;
};

/* Load the fleet key, open the announce socket. 0, or -errno (logged,
 * naming the file or address). */
int agent_election_open(const struct agent_ctx *ctx, struct agent_election **out);

/* Stop serving (local reference off if we turned it on), close, free.
 * NULL ok. c may be NULL (nothing is changed in chronyd then). */
void agent_election_close(struct agent_election *e, struct chrony_client *c);

/* Give the RTC evidence (at open it is read from the RTC state file: what
 * --hctosys did at this boot). Safe while the thread runs. */
void agent_election_set_rtc(struct agent_election *e, const struct agent_election_rtc *rtc);

/* The announce interval, s. */
double agent_election_interval(const struct agent_election *e);

/* Take every queued announce. Never blocks. */
void agent_election_receive(struct agent_election *e);

/* One election round: receive, read chronyd, decide, act, announce.
 * 0, or -errno when chronyd could not be read (the round still ran, with
 * this clock's class from what is known). */
int agent_election_tick(struct agent_election *e, struct chrony_client *c);

/* Run rounds in a thread of its own, with its own chronyd client (the
 * daemon: a slow collector must not delay announces, or the others would
 * think this master lost). Signals stay with the caller. 0 or -errno. */
int agent_election_start(struct agent_election *e);

/* Stop that thread (turning chronyd's local reference off if this node
 * served). No-op when not started. */
void agent_election_stop(struct agent_election *e);

/* The view of the last round for the status document and --election:
 * state, master, why, this node's dataset, every candidate with its
 * dataset and age, counters, quarantined upstreams, rejoin. JSON null
 * before the first round. A new reference (NULL only when out of memory);
 * safe while the thread runs. */
json_t *agent_election_json(struct agent_election *e);

/* True while this node is the elected master, serving, its rejoin done and
 * its clock class valid: its clock is then the fleet's time (chronyd's
 * reference is LOCAL, not "synchronised"), a reference for its RTC. False
 * for NULL. Safe while the thread runs. */
bool agent_election_reference(struct agent_election *e);

#endif
