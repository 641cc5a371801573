/* election_rejoin.c - the rejoin: measure the master with NTP queries
 * (bypassing chronyd), step this clock when the state machine says so.
 *
 * The rejoin step is done by the agent itself with adjtimex(ADJ_SETOFFSET)
 * (CAP_SYS_TIME), not through chronyd: chronyd's MAKESTEP only applies a
 * correction chronyd measured itself, and chronyd refuses to measure the
 * serving candidate while that one still names this node as its reference
 * (synchronisation loop). After the step chronyd is told to drop its
 * samples (RESET_SOURCES), which were taken against the old time. */
#include "election/election_priv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <sys/timex.h>

/* True when this clock was stepped (by chronyd, its makestep racing the
 * agent's measurement) since the measurement started: realtime moved
 * against monotonic by more than a slew can (the kernel's tick limit,
 * 10 %) plus the budget. The measured offset is then stale. */
static bool stepped_since_measurement(const struct agent_election *e, double *jump)
{
	double mono = now_clock(CLOCK_MONOTONIC);

	*jump = now_clock(CLOCK_REALTIME) - mono - e->meas_rt_mono;
	return fabs(*jump) > 0.1 * (mono - e->meas_mono) + e->el.pol.budget_s;
}

/* Step this clock by delta seconds (positive: forward). */
static int step_clock(struct agent_election *e, double delta)
{
	struct timespec d = timeutil_double_to_ts(delta);
	struct timex tx = { .modes = ADJ_SETOFFSET | ADJ_NANO };
	char buf[32];

	if (e->ctx->dry_run || !strcmp(e->cfg->rejoin_step, "none")) {
		log_warn("election: rejoin needs a step of %s; not stepping (%s)",
			 timeutil_format_duration(delta, 1, buf, sizeof(buf)),
			 e->ctx->dry_run ? "--dry-run" : "rejoin_step = none");
		return -ENOTSUP;
	}
	tx.time.tv_sec = d.tv_sec;
	tx.time.tv_usec = d.tv_nsec;	/* nanoseconds with ADJ_NANO */
	if (adjtimex(&tx) < 0) {
		int rc = -errno;

		log_err("election: adjtimex(ADJ_SETOFFSET) step by %s: %s",
			timeutil_format_duration(delta, 1, buf, sizeof(buf)), strerror(errno));
		return rc;
	}
	e->last_step_s = delta;
	holdover_freq_reset(&e->hf);	/* its samples were against the old time */
	log_warn("election: rejoin: stepped this clock by %s to the master's time",
		 timeutil_format_duration(delta, 1, buf, sizeof(buf)));
	return 0;
}

/* The rejoin step. When chronyd already follows the master it is slewing
 * toward it: a step of our own would be applied twice, so chronyd steps by
 * its own correction (MAKESTEP). Otherwise (chronyd refuses the master as
 * a loop, or has no sample yet) the agent steps and chronyd drops its
 * samples taken against the old time. master_in4: host order. */
static int rejoin_step(struct agent_election *e, struct chrony_client *c, uint32_t master_in4)
{
	const struct chrony_tracking *t = &e->snap.tracking;
	char buf[32];
	double jump;
	int rc;

	if (ae_chrony_synced(e, now_clock(CLOCK_REALTIME)) && t->ip.family == CHRONY_AF_INET4 &&
	    t->ip.addr.in4 == master_in4 && !e->ctx->dry_run && strcmp(e->cfg->rejoin_step, "none")) {
		rc = chrony_client_makestep(c);
		if (rc == 0) {
			e->last_step_s = t->current_correction;
			log_warn("election: rejoin: chronyd stepped this clock by %s (MAKESTEP)",
				 timeutil_format_duration(t->current_correction, 1, buf, sizeof(buf)));
			return 0;
		}
		log_ratelimited(&e->rl_chrony, LOG_WARNING, "election: %s", chrony_client_error(c));
	}
	if (stepped_since_measurement(e, &jump)) {
		log_warn("election: rejoin: this clock was stepped by %s during the measurement: "
			 "measuring again", timeutil_format_duration(jump, 1, buf, sizeof(buf)));
		return -EAGAIN;
	}
	if ((rc = step_clock(e, e->meas.offset_s)) < 0)
		return rc;
	if (chrony_client_reset_sources(c) < 0)
		log_ratelimited(&e->rl_chrony, LOG_WARNING, "election: %s", chrony_client_error(c));
	return 0;
}

/* Measure the master (NTP client queries, bypassing chronyd), feed the
 * state machine, step when it says so. */
void ae_rejoin(struct agent_election *e, struct chrony_client *c, double now_mono,
	       double now_boot)
{
	int slot = e->cand_slot[e->out.target];
	uint8_t master_class = e->table.peers[slot].msg.ds.clock_class;
	struct ntp_query_opts o = { .samples = e->cfg->samples, .timeout_ms = 300, .spacing_ms = 10,
				    .bind_addr = e->cfg->bind[0] ? e->cfg->bind : NULL };
	char host[INET_ADDRSTRLEN], err[256];
	uint32_t a = htonl(ae_peer_ntp(e, slot, &o.port));
	enum election_action act;
	double mine;

	inet_ntop(AF_INET, &a, host, sizeof(host));
	o.server = host;
	e->meas_mono = now_clock(CLOCK_MONOTONIC);
	e->meas_rt_mono = now_clock(CLOCK_REALTIME) - e->meas_mono;
	e->meas_rc = ntp_query(&o, &e->meas, err, sizeof(err));
	if (e->meas_rc < 0)
		log_ratelimited(&e->rl_meas, LOG_WARNING, "election: rejoin: %s", err);
	mine = -e->meas.offset_s;	/* this clock - master */
	act = election_measured(&e->el, now_mono, e->meas_rc == 0, mine);
	if (e->meas_rc == 0 && act == ELECTION_ACT_NONE && fabs(mine) <= e->el.pol.budget_s)
		ae_note_sync(e, now_boot, false, master_class, fabs(mine) + e->meas.error_s);
	if (act != ELECTION_ACT_STEP)
		return;
	if (rejoin_step(e, c, htonl(a)) < 0) {
		election_stepped(&e->el, now_mono, false);
		return;
	}
	election_stepped(&e->el, now_mono, true);
	ae_note_sync(e, now_boot, false, master_class, e->meas.error_s);
}
