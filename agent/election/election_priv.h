/* election_priv.h - private to agent/election/agent_election*.c and
 * election_*.c: the election's I/O state, shared by the files that split
 * it by concern (issue 18):
 *   agent_election.c   the node: open/close, its thread, rounds, its own
 *                      dataset from the evidence, the announces in and out
 *   election_control.c chronyd control: the local reference, the candidate
 *                      sources online/offline, the holdover frequency and
 *                      phase, the insane-upstream quarantine, re-applying
 *                      what a restarted chronyd forgot
 *   election_rejoin.c  the rejoin: measure the master, step this clock
 *   election_view.c    the view: the only author of the status document's
 *                      "election" section, the state file, --election
 * Functions shared between them carry the ae_ prefix. */
#ifndef FLEETCLOCK_ELECTION_PRIV_H
#define FLEETCLOCK_ELECTION_PRIV_H

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "election/agent_election.h"
#include "election/announce.h"
#include "election/announce_sock.h"
#include "election/election.h"
#include "election/holdover_freq.h"
#include "election/ntp_query.h"
#include "time/timeutil.h"

#define MAX_UPSTREAMS 8

struct upstream {
	uint32_t in4;			/* host order */
	struct election_quarantine q;
	double last_check;		/* monotonic, the last NTP check while offline */
	double offset_s;		/* upstream - this clock, last seen */
};

struct agent_election {
	const struct agent_ctx *ctx;
	const struct agent_election_config *cfg;
	struct election el;
	struct announce_table table;
	struct announce_sock *sock;
	struct announce_key key;
	uint8_t self_id[BMCA_IDENTITY_LEN];
	uint32_t session, seq;
	uint32_t ntp_in4;		/* our NTP address (network order), 0: packet source */
	struct agent_election_rtc rtc;
	double rtc_given;		/* monotonic time rtc was given (its ages grow) */
	/* evidence kept across rounds */
	bool synced_since_boot, last_sync_upstream;
	double last_sync_boot, last_sync_error;
	uint8_t carried;
	/* REALTIME - MONOTONIC at the end of the last round (0: none yet) */
	double clock_base, clock_base_mono;
	/* the last round */
	struct chrony_snapshot snap;
	bool chrony_ok;
	int chrony_failures;	/* consecutive rounds whose chronyd snapshot failed */
	struct bmca_dataset self;
	double error_bound;
	struct election_candidate cands[ANNOUNCE_MAX_PEERS];
	int cand_slot[ANNOUNCE_MAX_PEERS];
	size_t n_cands;
	struct election_output out;
	/* what we set in chronyd: -1 unknown */
	int local_applied;
	int peer_online[ANNOUNCE_MAX_PEERS];
	uint32_t peer_online_addr[ANNOUNCE_MAX_PEERS];
	bool peer_is_source[ANNOUNCE_MAX_PEERS];	/* one of chronyd's sources */
	bool peer_unauth[ANNOUNCE_MAX_PEERS];	/* its NTP not authenticated, ntp_auth required */
	struct upstream ups[MAX_UPSTREAMS];
	size_t n_ups;
	/* rejoin */
	struct ntp_query_result meas;
	int meas_rc;			/* 1: none yet */
	double meas_mono, meas_rt_mono;	/* at its start: monotonic, realtime - monotonic */
	double last_step_s;
	/* holdover frequency */
	struct holdover_freq hf;
	struct timespec hf_ref_time;	/* chronyd's reference time at the last round */
	bool hf_applied, hp_applied;	/* frequency, phase at the last start of serving */
	double hf_mono, hf_ppm, hf_from_ppm, hf_delta_ppm, hp_ahead_s;
	struct log_ratelimit rl_send, rl_meas, rl_chrony, rl_state, rl_forgot;
	/* the view of the last round, for other threads (lock) */
	pthread_mutex_t lock;
	json_t *view;
	bool reference;			/* published with view: see agent_election_reference */
	/* agent_election_start: rounds in a thread of their own */
	pthread_t thread;
	bool thread_started;
	int stop_fd[2];
	struct chrony_client *thread_chrony;
};

static inline double now_clock(clockid_t clk)
{
	return timeutil_now(clk);
}

static inline void ipaddr4(struct chrony_ipaddr *ip, uint32_t host_order)
{
	memset(ip, 0, sizeof(*ip));
	ip->family = host_order ? CHRONY_AF_INET4 : CHRONY_AF_UNSPEC;
	ip->addr.in4 = host_order;
}

/* ---- agent_election.c: the node ---- */

/* Where a peer serves NTP: IPv4 host order and port. */
uint32_t ae_peer_ntp(const struct agent_election *e, int slot, uint16_t *port);

/* The table slot of the candidate serving NTP on this address, or -1. */
int ae_candidate_slot(const struct agent_election *e, uint32_t in4);

/* chronyd follows a source: synchronised, not LOCAL, and updated
 * recently (it coasts on a lost source with a normal leap status). The age
 * is on chronyd's corrected scale (the system clock plus the correction
 * still to slew): while chronyd slews a large offset, the system clock is
 * off by that much from chronyd's reference time. */
bool ae_chrony_synced(const struct agent_election *e, double now_real);

void ae_note_sync(struct agent_election *e, double now_boot, bool upstream, uint8_t carried,
		  double error_s);

/* ---- election_control.c: chronyd control, holdover, quarantine ---- */

/* 0 done, 1 not one of chronyd's sources, or -errno (logged). */
int ae_set_online(struct agent_election *e, struct chrony_client *c, uint32_t in4, bool on);

/* This round's point for the holdover frequency (holdover_freq.h): the
 * raw oscillator and the system clock read together, chronyd's pending
 * correction, whether chronyd follows a source and updated since. */
void ae_observe_freq(struct agent_election *e, double now_real);

/* Local reference on while master without an upstream, off otherwise. */
void ae_apply_local(struct agent_election *e, struct chrony_client *c);

/* Candidate sources in chronyd: none while serving, only the master while
 * following one, all while there is none; never one whose NTP is not
 * authenticated when that is required. */
void ae_apply_sources(struct agent_election *e, struct chrony_client *c);

/* Online upstreams: judged on chronyd's last sample; offline ones (chronyd
 * no longer polls them) on our own NTP query every few intervals. */
void ae_quarantine(struct agent_election *e, struct chrony_client *c, double now_mono,
		   double now_real);

/* Apply again, this round, everything chronyd forgot: the local reference
 * (with the holdover frequency and phase), the candidates' online state,
 * the quarantined upstreams OFFLINE (and their samples dropped). */
void ae_reapply_if_forgotten(struct agent_election *e, struct chrony_client *c);

/* ---- election_rejoin.c ---- */

/* Measure the master (NTP client queries, bypassing chronyd), feed the
 * state machine, step when it says so. */
void ae_rejoin(struct agent_election *e, struct chrony_client *c, double now_mono,
	       double now_boot);

/* ---- election_view.c ---- */

const char *ae_master_name(const struct agent_election *e);

/* The round's view: to the state file, and to other threads. */
void ae_publish(struct agent_election *e);

#endif
