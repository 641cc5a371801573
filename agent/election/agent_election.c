/* agent_election.c - the election's I/O, see agent_election.h and
 * docs/election.md.
 *
 * The rejoin step is done by the agent itself with adjtimex(ADJ_SETOFFSET)
 * (CAP_SYS_TIME), not through chronyd: chronyd's MAKESTEP only applies a
 * correction chronyd measured itself, and chronyd refuses to measure the
 * serving candidate while that one still names this node as its reference
 * (synchronisation loop). After the step chronyd is told to drop its
 * samples (RESET_SOURCES), which were taken against the old time. */
#include "election/agent_election.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/timex.h>
#include <unistd.h>

#include "election/announce.h"
#include "election/announce_sock.h"
#include "election/election.h"
#include "fleetclock_config.h"
#include "election/holdover_freq.h"
#include "base/log.h"
#include "chrony/ntp_auth_query.h"
#include "election/ntp_query.h"
#include "rtc/rtc_store.h"
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

static json_t *build_view(const struct agent_election *e);
static void rtc_from_store(struct agent_election *e);

static double now_clock(clockid_t clk)
{
	return timeutil_now(clk);
}

static void ipaddr4(struct chrony_ipaddr *ip, uint32_t host_order)
{
	memset(ip, 0, sizeof(*ip));
	ip->family = host_order ? CHRONY_AF_INET4 : CHRONY_AF_UNSPEC;
	ip->addr.in4 = host_order;
}

/* Where a peer serves NTP: IPv4 host order and port. */
static uint32_t peer_ntp(const struct agent_election *e, int slot, uint16_t *port)
{
	const struct announce_peer *p = &e->table.peers[slot];
	uint32_t a;

	memcpy(&a, p->msg.ntp_family == 4 ? p->msg.ntp_addr : p->src_addr, 4);
	*port = p->msg.ntp_port ? p->msg.ntp_port : 123;
	return ntohl(a);
}

/* The table slot of the candidate serving NTP on this address, or -1. */
static int candidate_slot(const struct agent_election *e, uint32_t in4)
{
	uint16_t port;

	for (int i = 0; i < ANNOUNCE_MAX_PEERS; i++)
		if (e->table.peers[i].used && peer_ntp(e, i, &port) == in4)
			return i;
	return -1;
}

/* 0 done, 1 not one of chronyd's sources, or -errno (logged). */
static int set_online(struct agent_election *e, struct chrony_client *c, uint32_t in4, bool on)
{
	struct chrony_ipaddr mask, addr;
	int rc;

	ipaddr4(&mask, 0xFFFFFFFFU);
	ipaddr4(&addr, in4);
	rc = chrony_client_set_online(c, &mask, &addr, on);
	if (rc == -EREMOTEIO && chrony_client_last_status(c) == CHRONY_STT_NOSUCHSOURCE)
		return 1;	/* not one of chronyd's sources: nothing to do */
	if (rc < 0)
		log_ratelimited(&e->rl_chrony, LOG_WARNING, "election: %s", chrony_client_error(c));
	return rc;
}

static void policy_from_config(const struct agent_ctx *ctx, struct election_policy *pol)
{
	const struct agent_election_config *cfg = &ctx->cfg.election;

	election_policy_defaults(pol);
	pol->interval_s = cfg->interval_s;
	pol->timeout_intervals = cfg->timeout_intervals;
	pol->revertive = cfg->revertive;
	pol->holdoff_s = cfg->holdoff_s;
	pol->holdoff_valid_s = cfg->holdoff_valid_s;
	pol->budget_s = ctx->cfg.budget_ms / 1e3;
	pol->recheck_s = cfg->interval_s;
	/* two announce timeouts: a chronyd restart (the Ansible handler,
	 * well under that) does not move the master; a stopped one does */
	pol->chronyd_fail_rounds = 2 * cfg->timeout_intervals;
}

int agent_election_open(const struct agent_ctx *ctx, struct agent_election **out)
{
	const struct agent_election_config *cfg = &ctx->cfg.election;
	struct announce_sock_opts so = { .bind_addr = cfg->bind, .port = (uint16_t)cfg->port,
					 .group = cfg->group, .peers = cfg->peers };
	struct election_policy pol;
	struct agent_election *e;
	const char *ntp = cfg->ntp_addr[0] ? cfg->ntp_addr : cfg->bind;
	char err[512];
	int rc;

	*out = NULL;
	if (strcmp(cfg->rejoin_step, "adjtimex") && strcmp(cfg->rejoin_step, "none")) {
		log_err("[election] rejoin_step: '%s' is not adjtimex or none", cfg->rejoin_step);
		return -EINVAL;
	}
	if (!(e = calloc(1, sizeof(*e))))
		return -ENOMEM;
	e->ctx = ctx;
	e->cfg = cfg;
	e->stop_fd[0] = e->stop_fd[1] = -1;
	pthread_mutex_init(&e->lock, NULL);
	if (ntp[0] && inet_pton(AF_INET, ntp, &e->ntp_in4) != 1) {
		log_err("[election] ntp_addr/bind: '%s' is not an IPv4 address", ntp);
		rc = -EINVAL;
		goto fail;
	}
	if ((rc = announce_key_load(cfg->key_file, &e->key, err, sizeof(err))) < 0 ||
	    (rc = announce_sock_open(&so, &e->sock, err, sizeof(err))) < 0) {
		log_err("election: %s", err);
		goto fail;
	}
	announce_identity_from_name(ctx->cfg.host, e->self_id);
	announce_table_init(&e->table, e->self_id, cfg->window_s);
	e->table.enforce_window = false;	/* not proven before the first round */
	if (getrandom(&e->session, sizeof(e->session), 0) != sizeof(e->session) || !e->session)
		e->session = (uint32_t)getpid() ^ (uint32_t)now_clock(CLOCK_MONOTONIC) ^ 1U;
	policy_from_config(ctx, &pol);
	election_init(&e->el, &pol, now_clock(CLOCK_MONOTONIC));
	e->local_applied = -1;
	for (int i = 0; i < ANNOUNCE_MAX_PEERS; i++)
		e->peer_online[i] = -1;
	e->meas_rc = 1;
	e->carried = BMCA_CLASS_FREERUN;
	holdover_freq_init(&e->hf, cfg->holdover_freq_window_s, cfg->holdover_freq_settle_s,
			   fmin(cfg->holdover_freq_min_s, cfg->holdover_freq_window_s));
	if (cfg->assume_valid) {
		e->synced_since_boot = true;
		e->last_sync_boot = now_clock(CLOCK_BOOTTIME);
		e->last_sync_error = ctx->cfg.budget_ms / 1e3;
	}
	e->rl_send = e->rl_meas = e->rl_chrony = e->rl_state = e->rl_forgot =
		(struct log_ratelimit)LOG_RATELIMIT_INIT(60);
	e->rtc_given = now_clock(CLOCK_MONOTONIC);
	rtc_from_store(e);
	*out = e;
	return 0;
fail:
	announce_sock_close(e->sock);
	pthread_mutex_destroy(&e->lock);
	free(e);
	return rc;
}

void agent_election_close(struct agent_election *e, struct chrony_client *c)
{
	if (!e)
		return;
	agent_election_stop(e);
	/* Leaving: stop serving, so the others take over after the timeout. */
	if (c && e->local_applied == 1 && !e->ctx->dry_run)
		chrony_client_local(c, false, e->cfg->local_stratum, 1.0, false);
	announce_sock_close(e->sock);
	memset(&e->key, 0, sizeof(e->key));
	json_decref(e->view);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

void agent_election_set_rtc(struct agent_election *e, const struct agent_election_rtc *rtc)
{
	pthread_mutex_lock(&e->lock);
	e->rtc = *rtc;
	e->rtc_given = now_clock(CLOCK_MONOTONIC);
	pthread_mutex_unlock(&e->lock);
}

/* What --hctosys did at this boot, from the RTC state file: restored (with
 * the drift taken out, or without a drift estimate) or refused. A record
 * from an earlier boot says nothing about this one. */
static void rtc_from_store(struct agent_election *e)
{
	const struct agent_config *cfg = &e->ctx->cfg;
	struct agent_election_rtc r = { .state = BMCA_RTC_ABSENT };
	double now = now_clock(CLOCK_REALTIME), up = now_clock(CLOCK_BOOTTIME);
	struct rtc_store *st;

	if (!strcmp(cfg->rtc_device, "none") || !(st = calloc(1, sizeof(*st))))
		return;
	if (rtc_store_load(st, NULL, cfg->rtc_state_file) == 0 && st->boot_state[0] &&
	    now - (double)st->boot_at <= up + 60) {
		bool restored = !strncmp(st->boot_state, "restored", 8);

		r.state = restored && st->rec_rc == 0 ? BMCA_RTC_VALID : BMCA_RTC_HALTED;
		r.restored = restored;
		r.since_set_s = st->rec_rc == 0 ? now - (double)st->rec.ref_sec : 0;
		/* no drift estimate: a DS1307 crystal's spec, +-50 ppm */
		r.drift_uncert_ppm = !strcmp(st->boot_state, "restored") && st->rec_rc == 0
			? st->rec.drift_unc_ppm : 50.0;
		log_info("election: RTC at boot: %s (%s)", st->boot_state, cfg->rtc_state_file);
	}
	free(st);
	agent_election_set_rtc(e, &r);
}

double agent_election_interval(const struct agent_election *e)
{
	return e->cfg->interval_s;
}

void agent_election_receive(struct agent_election *e)
{
	uint8_t buf[ANNOUNCE_LEN], src[4];

	/* Bounded: at most a few rounds' worth per call. */
	for (int i = 0; i < 4 * ANNOUNCE_MAX_PEERS; i++) {
		ssize_t n = announce_sock_recv(e->sock, buf, sizeof(buf), src);

		if (n == -EMSGSIZE) {
			e->table.count.malformed++;
			continue;
		}
		if (n < 0)
			return;
		announce_table_accept(&e->table, buf, (size_t)n, &e->key, src, 4,
				      now_clock(CLOCK_REALTIME), now_clock(CLOCK_MONOTONIC));
	}
}

/* chronyd follows a source: synchronised, not LOCAL, and updated
 * recently (it coasts on a lost source with a normal leap status). The age
 * is on chronyd's corrected scale (the system clock plus the correction
 * still to slew): while chronyd slews a large offset, the system clock is
 * off by that much from chronyd's reference time. */
static bool chrony_synced(const struct agent_election *e, double now_real)
{
	const struct chrony_tracking *t = &e->snap.tracking;
	double age = now_real + t->current_correction - timeutil_ts_to_double(t->ref_time);

	return e->chrony_ok && chrony_tracking_synchronised(t) &&
	       age <= 4 * fmax(t->last_update_interval, 1.0) + 10;
}

static void note_sync(struct agent_election *e, double now_boot, bool upstream, uint8_t carried,
		      double error_s)
{
	e->synced_since_boot = true;
	e->last_sync_boot = now_boot;
	e->last_sync_upstream = upstream;
	e->carried = carried;
	e->last_sync_error = error_s;
}

/* This node's dataset from the evidence. */
static void own_dataset(struct agent_election *e, double now_real, double now_boot)
{
	const struct chrony_tracking *t = &e->snap.tracking;
	struct bmca_evidence ev = { 0 };
	bool sync = chrony_synced(e, now_real);
	struct agent_election_rtc rtc;
	int slot = sync && t->ip.family == CHRONY_AF_INET4 ? candidate_slot(e, t->ip.addr.in4) : -1;
	enum bmca_class cls;

	if (sync)
		note_sync(e, now_boot, slot < 0,
			  slot < 0 ? BMCA_CLASS_LOCKED : e->table.peers[slot].msg.ds.clock_class,
			  chrony_tracking_max_error(t));
	ev.now_realtime = now_real;
	ev.build_epoch = FLEETCLOCK_BUILD_EPOCH;
	ev.synchronised = sync;
	ev.synced_to_candidate = slot >= 0;
	ev.carried_class = e->carried;
	ev.synced_since_boot = e->synced_since_boot;
	ev.last_sync_ago = now_boot - e->last_sync_boot;
	ev.last_sync_upstream = e->last_sync_upstream;
	ev.holdover_s = e->cfg->holdover_s;
	pthread_mutex_lock(&e->lock);
	rtc = e->rtc;
	rtc.since_set_s += now_clock(CLOCK_MONOTONIC) - e->rtc_given;
	pthread_mutex_unlock(&e->lock);
	ev.rtc = rtc.state;
	ev.restored_from_rtc = rtc.restored;
	ev.rtc_since_set = rtc.since_set_s;
	ev.rtc_drift_uncert_ppm = rtc.drift_uncert_ppm;
	ev.error_bound_s = sync ? chrony_tracking_max_error(t) : e->last_sync_error;
	ev.holdover_wander_ppm = e->cfg->wander_ppm;
	cls = bmca_derive_class(&ev, &e->error_bound);
	e->self = (struct bmca_dataset){
		.priority1 = (uint8_t)e->cfg->priority1, .priority2 = (uint8_t)e->cfg->priority2,
		.clock_class = (uint8_t)cls, .accuracy = bmca_accuracy_from_error(e->error_bound),
		/* chronyd's statistics describe this clock only while it follows a source */
		.variance = sync ? bmca_variance_from_sigma(bmca_sigma_from_chrony(
				t->rms_offset, t->skew_ppm, fmax(t->last_update_interval, 1.0)))
					 : BMCA_VARIANCE_UNKNOWN,
		.steps_removed = sync && t->stratum > 1 ? (uint16_t)(t->stratum - 1) : 0,
	};
	memcpy(e->self.identity, e->self_id, BMCA_IDENTITY_LEN);
}

static void build_candidates(struct agent_election *e, double now_mono)
{
	e->n_cands = 0;
	for (int i = 0; i < ANNOUNCE_MAX_PEERS; i++) {
		const struct announce_peer *p = &e->table.peers[i];

		if (!p->used)
			continue;
		e->cands[e->n_cands] = (struct election_candidate){
			.ds = p->msg.ds, .serving = p->msg.flags & ANNOUNCE_FLAG_SERVING,
			.eligible = p->msg.flags & ANNOUNCE_FLAG_ELIGIBLE, .age_s = now_mono - p->heard_mono,
			.listening = p->msg.flags & ANNOUNCE_FLAG_LISTENING,
		};
		e->cand_slot[e->n_cands++] = i;
	}
}

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

	if (chrony_synced(e, now_clock(CLOCK_REALTIME)) && t->ip.family == CHRONY_AF_INET4 &&
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
static void rejoin(struct agent_election *e, struct chrony_client *c, double now_mono,
		   double now_boot)
{
	int slot = e->cand_slot[e->out.target];
	uint8_t master_class = e->table.peers[slot].msg.ds.clock_class;
	struct ntp_query_opts o = { .samples = e->cfg->samples, .timeout_ms = 300, .spacing_ms = 10,
				    .bind_addr = e->cfg->bind[0] ? e->cfg->bind : NULL };
	char host[INET_ADDRSTRLEN], err[256];
	uint32_t a = htonl(peer_ntp(e, slot, &o.port));
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
		note_sync(e, now_boot, false, master_class, fabs(mine) + e->meas.error_s);
	if (act != ELECTION_ACT_STEP)
		return;
	if (rejoin_step(e, c, htonl(a)) < 0) {
		election_stepped(&e->el, now_mono, false);
		return;
	}
	election_stepped(&e->el, now_mono, true);
	note_sync(e, now_boot, false, master_class, e->meas.error_s);
}

/* This round's point for the holdover frequency (holdover_freq.h): the
 * raw oscillator and the system clock read together, chronyd's pending
 * correction, whether chronyd follows a source and updated since. */
static void observe_freq(struct agent_election *e, double now_real)
{
	const struct chrony_tracking *t = &e->snap.tracking;
	bool fresh;
	int64_t raw;

	if (!e->chrony_ok)
		return;
	fresh = t->ref_time.tv_sec != e->hf_ref_time.tv_sec ||
		t->ref_time.tv_nsec != e->hf_ref_time.tv_nsec;
	raw = timeutil_now_ns(CLOCK_MONOTONIC_RAW);
	holdover_freq_observe(&e->hf, chrony_synced(e, now_real), fresh, raw,
			      timeutil_now_ns(CLOCK_REALTIME), t->current_correction);
	e->hf_ref_time = t->ref_time;
}

/* Serving without a reference: chronyd keeps its last short-term
 * frequency estimate and the phase of its last samples; give it the rate
 * and phase of the line fitted over the minutes this node followed a
 * source instead (docs/election.md, "Holdover frequency"). */
static void apply_holdover(struct agent_election *e, struct chrony_client *c)
{
	struct holdover_freq_estimate est;
	struct chrony_tracking t;
	int64_t raw, rt;
	double delta, ahead;
	char buf[32];

	e->hf_applied = e->hp_applied = false;
	if (!e->cfg->holdover_freq)
		return;
	if (!holdover_freq_get(&e->hf, timeutil_now_ns(CLOCK_MONOTONIC_RAW), &est)) {
		log_info("election: no holdover frequency: %u samples over %.0f s of following, "
			 "%.0f s needed; chronyd keeps its own estimate", est.samples, est.span_s,
			 e->hf.min_span_s);
		return;
	}
	/* chronyd now, after the reset (not the round's snapshot) */
	if (chrony_client_tracking(c, &t) < 0) {
		log_ratelimited(&e->rl_chrony, LOG_WARNING, "election: holdover: %s",
				chrony_client_error(c));
		return;
	}
	raw = timeutil_now_ns(CLOCK_MONOTONIC_RAW);
	rt = timeutil_now_ns(CLOCK_REALTIME);
	e->hf_mono = now_clock(CLOCK_MONOTONIC);
	if (!holdover_freq_delta(&e->hf, raw, t.freq_ppm, &delta))
		log_info("election: holdover frequency %+.3f ppm (%u samples over %.0f s, rms %.0f us), "
			 "chronyd has %+.3f ppm: %s", est.ppm, est.samples, est.span_s, est.rms_s * 1e6,
			 t.freq_ppm,
			 fabs(est.ppm - t.freq_ppm) > HOLDOVER_FREQ_MAX_DELTA_PPM
				 ? "too far apart, not applied" : "kept");
	else if (chrony_client_dfreq(c, delta) < 0)
		log_ratelimited(&e->rl_chrony, LOG_WARNING, "election: holdover frequency: %s",
				chrony_client_error(c));
	else {
		e->hf_applied = true;
		e->hf_ppm = est.ppm;
		e->hf_from_ppm = t.freq_ppm;
		e->hf_delta_ppm = delta;
		log_info("election: holdover frequency %+.3f ppm, the rate of chronyd's corrections "
			 "over %.0f s of following (%u samples, rms %.0f us); chronyd had %+.3f ppm, "
			 "adjusted by %+.3f ppm", est.ppm, est.span_s, est.samples, est.rms_s * 1e6,
			 t.freq_ppm, delta);
	}
	if (!e->cfg->holdover_phase)
		return;
	if (!holdover_freq_phase(&e->hf, raw, rt, t.current_correction, &ahead))
		log_info("election: holdover phase: this clock is %s from the fitted line (rms %.0f us): "
			 "%s", timeutil_format_duration(ahead, 1, buf, sizeof(buf)), est.rms_s * 1e6,
			 fabs(ahead) < 1e-6 ? "kept" : "beyond 4 rms + 100 us, not trusted");
	else if (chrony_client_doffset(c, ahead) < 0)
		log_ratelimited(&e->rl_chrony, LOG_WARNING, "election: holdover phase: %s",
				chrony_client_error(c));
	else {
		e->hp_applied = true;
		e->hp_ahead_s = ahead;
		log_info("election: holdover phase: this clock was %s ahead of the line fitted over "
			 "%.0f s (rms %.0f us); chronyd slews it back",
			 timeutil_format_duration(ahead, 1, buf, sizeof(buf)), est.span_s, est.rms_s * 1e6);
	}
}

static bool watched(const struct agent_election *e, uint32_t in4);

/* After RESET_SOURCES chronyd has no sample of any source and selects an
 * upstream only after three new ones: at poll 6 about three minutes of
 * serving LOCAL beside a reachable upstream. A burst of the watched
 * upstreams (never the candidates) brings them back in seconds. */
static void burst_upstreams(struct agent_election *e, struct chrony_client *c)
{
	struct chrony_ipaddr mask, addr;

	ipaddr4(&mask, 0xFFFFFFFFU);
	for (uint32_t i = 0; i < e->snap.n_sources; i++) {
		const struct chrony_source_data *s = &e->snap.sources[i].data;
		struct upstream *u = NULL;

		if (s->mode != 0 || s->ip.family != CHRONY_AF_INET4 || !watched(e, s->ip.addr.in4))
			continue;
		for (size_t k = 0; k < e->n_ups; k++)
			if (e->ups[k].in4 == s->ip.addr.in4)
				u = &e->ups[k];
		if (u && u->q.offline)
			continue;	/* quarantined: stays OFFLINE */
		ipaddr4(&addr, s->ip.addr.in4);
		if (chrony_client_burst(c, &mask, &addr, 4, 8) < 0)
			log_ratelimited(&e->rl_chrony, LOG_WARNING, "election: %s", chrony_client_error(c));
	}
}

/* Local reference on while master without an upstream, off otherwise. */
static void apply_local(struct agent_election *e, struct chrony_client *c)
{
	bool want = e->out.local_on;
	uint32_t ref = e->snap.tracking.ref_id;
	int rc;

	if (e->ctx->dry_run || !e->chrony_ok || e->local_applied == (int)want)
		return;
	rc = chrony_client_local(c, want, e->cfg->local_stratum, 1.0, false);
	if (rc < 0) {
		log_ratelimited(&e->rl_chrony, LOG_WARNING, "election: %s", chrony_client_error(c));
		return;
	}
	/* A lost master's samples would keep chronyd on its reference (and
	 * make a rebooted master see a loop): drop them. */
	if (want && ref != CHRONY_REFID_LOCAL && ref != 0) {
		if (chrony_client_reset_sources(c) < 0)
			log_ratelimited(&e->rl_chrony, LOG_WARNING, "election: %s", chrony_client_error(c));
		else
			burst_upstreams(e, c);
	}
	e->local_applied = want;
	log_info("election: chronyd local reference %s", want ? "on (serving)" : "off");
	if (want)
		apply_holdover(e, c);
}

/* [chrony] ntp_auth = required: is the master's time authenticated in
 * chronyd (NTP_DATA)? A master whose replies chronyd took without a key
 * is not followed (its source stays offline, see apply_sources) until
 * chronyd has no such replies from it (restarted with its key). */
static void check_master_auth(struct agent_election *e, struct chrony_client *c)
{
	int slot = e->out.master >= 0 && !e->out.serve ? e->cand_slot[e->out.master] : -1;
	enum ntp_auth_state st;
	struct chrony_ipaddr ip;
	char detail[300] = "";
	uint16_t port;
	bool refuse;

	if (slot < 0 || !e->chrony_ok || e->ctx->cfg.ntp_auth_mode != NTP_AUTH_MODE_REQUIRED)
		return;
	ipaddr4(&ip, peer_ntp(e, slot, &port));
	st = ntp_auth_query_source(c, &ip, detail, sizeof(detail));
	refuse = !ntp_auth_may_follow(e->ctx->cfg.ntp_auth_mode, st);
	if (refuse != e->peer_unauth[slot])
		log_warn("election: %s master %s: %s", refuse ? "not following" : "following again",
			 e->table.peers[slot].msg.name,
			 st == NTP_AUTH_NO ? "chronyd takes its NTP replies without a key ([chrony] ntp_auth = required)"
			 : st == NTP_AUTH_ERROR ? detail : "its NTP is authenticated or not yet heard");
	e->peer_unauth[slot] = refuse;
}

/* Candidate sources in chronyd: none while serving, only the master while
 * following one, all while there is none; never one whose NTP is not
 * authenticated when that is required. */
static void apply_sources(struct agent_election *e, struct chrony_client *c)
{
	int master_slot = e->out.master >= 0 ? e->cand_slot[e->out.master] : -1;

	if (e->ctx->dry_run || !e->chrony_ok)
		return;
	for (int i = 0; i < ANNOUNCE_MAX_PEERS; i++) {
		uint16_t port;
		uint32_t a;
		int want, rc;

		if (!e->table.peers[i].used)
			continue;
		a = peer_ntp(e, i, &port);
		want = e->out.serve ? 0 : master_slot < 0 ? 1 : i == master_slot;
		want = want && !e->peer_unauth[i];
		if (e->peer_online[i] == want && e->peer_online_addr[i] == a)
			continue;
		if ((rc = set_online(e, c, a, want)) >= 0) {
			e->peer_online[i] = want;
			e->peer_online_addr[i] = a;
			e->peer_is_source[i] = rc == 0;
		}
	}
}

/* An upstream the configuration asks to watch (all non-candidates when
 * the list is empty). */
static bool watched(const struct agent_election *e, uint32_t in4)
{
	const char *list = e->cfg->upstreams;
	char addr[INET_ADDRSTRLEN];
	uint32_t n = htonl(in4);
	size_t len;

	if (candidate_slot(e, in4) >= 0)
		return false;
	if (!list[0])
		return true;
	inet_ntop(AF_INET, &n, addr, sizeof(addr));
	len = strlen(addr);
	for (const char *p = strstr(list, addr); p; p = strstr(p + 1, addr))
		if ((p == list || p[-1] == ',' || p[-1] == ' ') && (!p[len] || p[len] == ',' || p[len] == ' '))
			return true;
	return false;
}

static struct upstream *find_upstream(struct agent_election *e, uint32_t in4)
{
	for (size_t i = 0; i < e->n_ups; i++)
		if (e->ups[i].in4 == in4)
			return &e->ups[i];
	if (e->n_ups >= MAX_UPSTREAMS)
		return NULL;
	e->ups[e->n_ups] = (struct upstream){ .in4 = in4 };
	return &e->ups[e->n_ups++];
}

static void quarantine_decide(struct agent_election *e, struct chrony_client *c, struct upstream *u,
			      double offset, double now_real)
{
	char addr[INET_ADDRSTRLEN], d[32];
	uint32_t n = htonl(u->in4);
	enum election_qdecision q;

	u->offset_s = offset;
	q = election_quarantine_check(&u->q, offset, now_real, bmca_class_may_serve(e->self.clock_class),
				      e->cfg->sanity_limit_s, FLEETCLOCK_BUILD_EPOCH, e->cfg->agree_checks);
	if (q == ELECTION_Q_KEEP)
		return;
	inet_ntop(AF_INET, &n, addr, sizeof(addr));
	timeutil_format_duration(offset, 1, d, sizeof(d));
	if (e->ctx->dry_run || set_online(e, c, u->in4, q == ELECTION_Q_ONLINE) < 0) {
		u->q.offline = q != ELECTION_Q_OFFLINE;	/* not applied: decide again */
		return;
	}
	if (q == ELECTION_Q_OFFLINE)
		log_warn("election: upstream %s is %s from this clock: taken OFFLINE in chronyd", addr, d);
	else
		log_warn("election: upstream %s agrees again (%s): back ONLINE", addr, d);
}

/* Online upstreams: judged on chronyd's last sample; offline ones (chronyd
 * no longer polls them) on our own NTP query every few intervals. */
static void quarantine(struct agent_election *e, struct chrony_client *c, double now_mono,
		       double now_real)
{
	/* Candidates are known only after listening; one taken for an
	 * upstream before it announced itself is forgotten (and back online). */
	if (e->out.state == ELECTION_LISTENING)
		return;
	for (size_t i = 0; i < e->n_ups; i++) {
		if (candidate_slot(e, e->ups[i].in4) < 0)
			continue;
		if (e->ups[i].q.offline && !e->ctx->dry_run)
			set_online(e, c, e->ups[i].in4, true);
		e->ups[i--] = e->ups[--e->n_ups];
	}
	for (uint32_t i = 0; e->chrony_ok && i < e->snap.n_sources; i++) {
		const struct chrony_source_data *s = &e->snap.sources[i].data;
		struct upstream *u;

		if (s->mode != 0 || s->ip.family != CHRONY_AF_INET4 || !watched(e, s->ip.addr.in4))
			continue;
		/* A fresh sample only: at most two polls old. */
		if (s->since_sample == 0xFFFFFFFFU || s->since_sample > fmax(4, 2 * ldexp(1, s->poll)))
			continue;
		if (!(u = find_upstream(e, s->ip.addr.in4)) || u->q.offline)
			continue;
		quarantine_decide(e, c, u, -s->orig_latest_meas, now_real);
	}
	for (size_t i = 0; i < e->n_ups; i++) {
		struct upstream *u = &e->ups[i];
		struct ntp_query_opts o = { .samples = 3, .timeout_ms = 200, .spacing_ms = 10,
					    .bind_addr = e->cfg->bind[0] ? e->cfg->bind : NULL };
		struct ntp_query_result r;
		char host[INET_ADDRSTRLEN], err[256];
		uint32_t n = htonl(u->in4);

		if (!u->q.offline || now_mono - u->last_check < 2 * e->cfg->interval_s)
			continue;
		u->last_check = now_mono;
		inet_ntop(AF_INET, &n, host, sizeof(host));
		o.server = host;
		if (ntp_query(&o, &r, err, sizeof(err)) == 0)
			quarantine_decide(e, c, u, r.offset_s, now_real);
	}
}

static void announce(struct agent_election *e, double now_real)
{
	struct announce_msg m = { .ds = e->self, .session = e->session, .seq = ++e->seq,
				  .ntp_port = (uint16_t)e->cfg->ntp_port };
	uint8_t buf[ANNOUNCE_LEN];
	int rc;

	m.flags = (e->out.serve ? ANNOUNCE_FLAG_SERVING : 0) |
		  (e->out.eligible ? ANNOUNCE_FLAG_ELIGIBLE : 0) |
		  (e->out.listening ? ANNOUNCE_FLAG_LISTENING : 0);
	m.ts = timeutil_double_to_ts(now_real);
	if (e->ntp_in4) {
		m.ntp_family = 4;
		memcpy(m.ntp_addr, &e->ntp_in4, 4);
	}
	if (e->out.master == ELECTION_SELF)
		memcpy(m.master, e->self_id, BMCA_IDENTITY_LEN);
	else if (e->out.master >= 0)
		memcpy(m.master, e->cands[e->out.master].ds.identity, BMCA_IDENTITY_LEN);
	snprintf(m.name, sizeof(m.name), "%.*s", ANNOUNCE_NAME_MAX, e->ctx->cfg.host);
	rc = announce_encode(&m, &e->key, buf, sizeof(buf));
	if (rc > 0)
		rc = announce_sock_send(e->sock, buf, (size_t)rc);
	if (rc < 0)
		log_ratelimited(&e->rl_send, LOG_WARNING, "election: sending the announce: %s",
				strerror(-rc));
}

static const char *master_name(const struct agent_election *e)
{
	if (e->out.master == ELECTION_SELF)
		return e->ctx->cfg.host;
	if (e->out.master >= 0)
		return e->table.peers[e->cand_slot[e->out.master]].msg.name;
	return NULL;
}

static void log_change(struct agent_election *e, const struct election_output *before)
{
	const char *m = master_name(e);

	if (before->state == e->out.state && before->master == e->out.master)
		return;
	/* The monotonic time lets a simulation line transitions up with its
	 * own timeline (it is not virtualised). */
	log_info("election: %s, master %s (%s), own class %s [mono %.3f]",
		 election_state_name(e->out.state), m ? m : "none", e->out.reason,
		 bmca_class_name(e->self.clock_class), now_clock(CLOCK_MONOTONIC));
}

/* Write the view for --election: temp file, then rename. */
static void write_state(struct agent_election *e, json_t *j)
{
	const char *path = e->cfg->state_file;
	char tmp[300];
	int rc = -ENOMEM;

	if (!path[0] || snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return;
	if (j)
		rc = json_dump_file(j, tmp, JSON_COMPACT) == 0 && rename(tmp, path) == 0 ? 0 : -errno;
	if (rc < 0)
		log_ratelimited(&e->rl_state, LOG_WARNING, "election: writing %s: %s", path,
				strerror(-rc));
}

/* The round's view: to the state file, and to other threads. */
static void publish(struct agent_election *e)
{
	json_t *v = build_view(e), *old;

	write_state(e, v);
	pthread_mutex_lock(&e->lock);
	old = e->view;
	e->view = v;
	e->reference = e->out.serve && e->out.master == ELECTION_SELF && e->out.eligible &&
		       bmca_class_may_serve(e->self.clock_class);
	pthread_mutex_unlock(&e->lock);
	json_decref(old);
}

/* A step of this clock that this agent did not make (chronyd's makestep
 * at start, an operator) between two rounds: REALTIME - MONOTONIC moved by
 * more than a slew can (chronyd slews at most ~83 ms/s) plus the budget.
 * Before the rejoin is done it makes the hold-off the long one. */
static void clock_jump_check(struct agent_election *e, double now_mono, double now_real)
{
	double jump = (now_real - now_mono) - e->clock_base, dt = now_mono - e->clock_base_mono;
	char buf[32];

	if (e->clock_base_mono <= 0 || fabs(jump) <= 0.1 * dt + e->el.pol.budget_s)
		return;
	if (election_clock_jumped(&e->el, now_mono))
		log_warn("election: this clock was stepped by %s since the last round, not by this agent: "
			 "not valid by itself, the rejoin holds off %.0f s",
			 timeutil_format_duration(jump, 1, buf, sizeof(buf)), e->el.pol.holdoff_s);
	else
		log_info("election: this clock was stepped by %s since the last round, not by this agent",
			 timeutil_format_duration(jump, 1, buf, sizeof(buf)));
}

/* chronyd forgot what this agent set in it (it was restarted: the Ansible
 * handler, a crash), as chronyd's own state shows: the local reference is
 * on, yet chronyd has neither it nor a source (refid 0); or fewer of its
 * sources are offline than this agent took offline (ACTIVITY). A cached
 * flag cannot tell: it survives chronyd's restart. */
static bool chronyd_forgot(struct agent_election *e, struct chrony_client *c, const char **what)
{
	const struct chrony_tracking *t = &e->snap.tracking;
	struct chrony_activity a;
	int expected = 0;

	if (e->local_applied == 1 && t->ref_id != CHRONY_REFID_LOCAL && !chrony_tracking_synchronised(t)) {
		*what = "it has no local reference";
		return true;
	}
	for (int i = 0; i < ANNOUNCE_MAX_PEERS; i++)
		expected += e->table.peers[i].used && e->peer_online[i] == 0 && e->peer_is_source[i];
	for (size_t i = 0; i < e->n_ups; i++)
		expected += e->ups[i].q.offline;
	if (!expected || chrony_client_activity(c, &a) < 0)
		return false;
	*what = "sources this agent took offline are online";
	return a.offline + a.burst_offline < expected;
}

/* A restarted chronyd polled the quarantined upstreams (iburst) before
 * they were OFFLINE again, and an offline source keeps its samples in the
 * selection: beside one other source (a follower's master) neither has a
 * majority, and chronyd follows nothing, for good. Drop the samples (all:
 * chronyd has none older than its restart) and burst the sources that
 * stay online: the master followed, the watched upstreams. */
static void drop_quarantined_samples(struct agent_election *e, struct chrony_client *c)
{
	struct chrony_ipaddr mask, addr;
	uint16_t port;

	if (chrony_client_reset_sources(c) < 0) {
		log_ratelimited(&e->rl_chrony, LOG_WARNING, "election: %s", chrony_client_error(c));
		return;
	}
	burst_upstreams(e, c);
	if (e->out.master < 0 || e->out.serve)
		return;
	ipaddr4(&mask, 0xFFFFFFFFU);
	ipaddr4(&addr, peer_ntp(e, e->cand_slot[e->out.master], &port));
	if (chrony_client_burst(c, &mask, &addr, 4, 8) < 0 &&
	    chrony_client_last_status(c) != CHRONY_STT_NOSUCHSOURCE)
		log_ratelimited(&e->rl_chrony, LOG_WARNING, "election: %s", chrony_client_error(c));
}

/* chronyd has a sample of in4 from the last max(10 s, 4 rounds): one taken
 * since it restarted, before the quarantine was applied again. An upstream
 * offline for long keeps only old ones: no reason to drop everything (were
 * chronyd_forgot ever wrong). */
static bool sampled_since_restart(const struct agent_election *e, uint32_t in4)
{
	for (uint32_t i = 0; i < e->snap.n_sources; i++) {
		const struct chrony_source_data *s = &e->snap.sources[i].data;

		if (s->ip.family == CHRONY_AF_INET4 && s->ip.addr.in4 == in4)
			return s->since_sample != CHRONY_NO_SAMPLE &&
			       s->since_sample <= fmax(10, 4 * e->cfg->interval_s);
	}
	return false;
}

/* Apply again, this round, everything chronyd forgot: the local reference
 * (with the holdover frequency and phase), the candidates' online state,
 * the quarantined upstreams OFFLINE (and their samples dropped). */
static void reapply_if_forgotten(struct agent_election *e, struct chrony_client *c)
{
	const char *what = "";
	bool requarantined = false;

	if (e->ctx->dry_run || !e->chrony_ok || !chronyd_forgot(e, c, &what))
		return;
	log_ratelimited(&e->rl_forgot, LOG_WARNING,
			"election: chronyd lost the state this agent set (%s; restarted?): applying it again",
			what);
	e->local_applied = -1;
	for (int i = 0; i < ANNOUNCE_MAX_PEERS; i++)
		e->peer_online[i] = -1;
	for (size_t i = 0; i < e->n_ups; i++) {
		int rc;

		if (!e->ups[i].q.offline)
			continue;
		rc = set_online(e, c, e->ups[i].in4, false);
		/* one no longer among chronyd's sources is judged afresh if it returns */
		if (rc == 1)
			e->ups[i].q.offline = false;
		requarantined |= rc == 0 && sampled_since_restart(e, e->ups[i].in4);
	}
	if (requarantined)
		drop_quarantined_samples(e, c);
}

int agent_election_tick(struct agent_election *e, struct chrony_client *c)
{
	double now_mono = now_clock(CLOCK_MONOTONIC), now_real = now_clock(CLOCK_REALTIME);
	double now_boot = now_clock(CLOCK_BOOTTIME);
	struct election_output before = e->out;
	struct election_input in;
	int rc;

	clock_jump_check(e, now_mono, now_real);
	agent_election_receive(e);
	rc = chrony_client_snapshot(c, &e->snap);
	e->chrony_ok = rc == 0;
	e->chrony_failures = rc == 0 ? 0 : e->chrony_failures + 1;
	if (rc < 0)
		log_ratelimited(&e->rl_chrony, LOG_WARNING, "election: %s", chrony_client_error(c));
	observe_freq(e, now_real);
	build_candidates(e, now_mono);
	own_dataset(e, now_real, now_boot);
	in = (struct election_input){ .now = now_mono, .self = e->self, .cands = e->cands,
				      .n_cands = e->n_cands,
				      .upstream_synced = chrony_synced(e, now_real) &&
							 e->self.clock_class == BMCA_CLASS_LOCKED,
				      .chronyd_failures = e->chrony_failures };
	election_tick(&e->el, &in, &e->out);
	if (e->out.action == ELECTION_ACT_MEASURE && e->out.target >= 0)
		rejoin(e, c, now_mono, now_boot);
	reapply_if_forgotten(e, c);
	apply_local(e, c);
	check_master_auth(e, c);
	apply_sources(e, c);
	quarantine(e, c, now_mono, now_real);
	announce(e, now_clock(CLOCK_REALTIME));
	log_change(e, &before);
	publish(e);
	/* Until this clock is proven, announces are heard whatever their
	 * timestamps say: a node minutes off must hear the fleet to rejoin. */
	e->table.enforce_window = e->out.eligible;
	/* after this round's own steps, if any */
	e->clock_base_mono = now_clock(CLOCK_MONOTONIC);
	e->clock_base = now_clock(CLOCK_REALTIME) - e->clock_base_mono;
	return rc;
}

/* When the next candidate heard so far times out (just past the timeout,
 * CLOCK_MONOTONIC), or INFINITY: a round then notices the loss at once,
 * not up to an interval later, so a failover serves within the timeout. */
static double next_expiry(const struct agent_election *e, double now)
{
	double t = INFINITY, timeout = e->cfg->interval_s * e->cfg->timeout_intervals;

	for (int i = 0; i < ANNOUNCE_MAX_PEERS; i++) {
		const struct announce_peer *p = &e->table.peers[i];
		double x = p->heard_mono + timeout + 1e-3;

		if (p->used && x > now && x < t)
			t = x;
	}
	return t;
}

/* Rounds every interval, and one when a candidate times out; announces
 * taken as they come, until stopfd becomes readable. */
static void run_loop(struct agent_election *e, struct chrony_client *c, int stopfd)
{
	double next = now_clock(CLOCK_MONOTONIC), expiry = INFINITY;

	for (;;) {
		struct pollfd p[2] = { { .fd = announce_sock_fd(e->sock), .events = POLLIN },
				       { .fd = stopfd, .events = POLLIN } };
		double now = now_clock(CLOCK_MONOTONIC), wake;

		if (now >= next || now >= expiry) {
			agent_election_tick(e, c);
			if (now >= next) {
				next += e->cfg->interval_s;
				if (next < now)	/* a slow round: do not race */
					next = now + e->cfg->interval_s;
			}
			expiry = next_expiry(e, now_clock(CLOCK_MONOTONIC));
			continue;
		}
		wake = fmin(next, expiry);
		if (poll(p, 2, (int)ceil((wake - now) * 1e3)) <= 0)
			continue;
		if (p[0].revents & POLLIN) {
			agent_election_receive(e);
			expiry = next_expiry(e, now_clock(CLOCK_MONOTONIC));
		}
		if (p[1].revents & POLLIN)
			return;
	}
}

/* The election thread's chronyd client: every call bounded well under one
 * announce interval (interval/8 for the first send, at most two sends, so
 * a round waits at most ~3/8 interval for a stopped chronyd), never the
 * report client's 1 s/2 s/4 s retries: a round that blocks past the
 * announce timeout lets the others age this node out while it still
 * believes it serves (issue 14). See docs/election.md "A stalled chronyd". */
static int open_thread_chrony(struct agent_election *e)
{
	const struct agent_config *cfg = &e->ctx->cfg;
	int ms = (int)fmin(250.0, fmax(20.0, e->cfg->interval_s * 1e3 / 8.0));
	struct chrony_client_opts opts = {
		.socket_path = cfg->chrony_socket,
		.udp_host = cfg->chrony_udp_host,
		.udp_port = cfg->chrony_udp_port,
		.timeout_ms = cfg->chrony_timeout_ms > 0 && cfg->chrony_timeout_ms < ms
				      ? cfg->chrony_timeout_ms : ms,
		.max_attempts = 2,
		.transport = !strcmp(cfg->chrony_transport, "unix") ? CHRONY_TRANSPORT_UNIX
			   : !strcmp(cfg->chrony_transport, "udp") ? CHRONY_TRANSPORT_UDP
								   : CHRONY_TRANSPORT_AUTO,
	};
	int rc = chrony_client_open(&opts, &e->thread_chrony);

	if (rc < 0)
		log_err("election: cannot set up a chronyd client for %s: %s", cfg->chrony_socket,
			strerror(-rc));
	return rc;
}

static void *thread_main(void *arg)
{
	struct agent_election *e = arg;

	run_loop(e, e->thread_chrony, e->stop_fd[0]);
	return NULL;
}

int agent_election_start(struct agent_election *e)
{
	int rc;

	if (e->thread_started)
		return 0;
	if (pipe2(e->stop_fd, O_CLOEXEC | O_NONBLOCK) < 0) {
		rc = -errno;
		log_err("election: pipe: %s", strerror(errno));
		return rc;
	}
	if ((rc = open_thread_chrony(e)) < 0)
		goto fail;
	if ((rc = -pthread_create(&e->thread, NULL, thread_main, e)) < 0) {
		log_err("election: starting its thread: %s", strerror(-rc));
		goto fail;
	}
	e->thread_started = true;
	return 0;
fail:
	chrony_client_close(e->thread_chrony);
	e->thread_chrony = NULL;
	close(e->stop_fd[0]);
	close(e->stop_fd[1]);
	e->stop_fd[0] = e->stop_fd[1] = -1;
	return rc;
}

void agent_election_stop(struct agent_election *e)
{
	if (!e->thread_started)
		return;
	if (write(e->stop_fd[1], "x", 1) < 0)
		log_warn("election: stopping its thread: %s", strerror(errno));
	pthread_join(e->thread, NULL);
	e->thread_started = false;
	close(e->stop_fd[0]);
	close(e->stop_fd[1]);
	e->stop_fd[0] = e->stop_fd[1] = -1;
	/* turn local off through the thread's client: the caller's may be gone */
	if (e->local_applied == 1 && !e->ctx->dry_run &&
	    chrony_client_local(e->thread_chrony, false, e->cfg->local_stratum, 1.0, false) == 0)
		e->local_applied = 0;
	chrony_client_close(e->thread_chrony);
	e->thread_chrony = NULL;
}

static json_t *dataset_json(const struct bmca_dataset *d)
{
	char id[2 * BMCA_IDENTITY_LEN + 1];

	for (int i = 0; i < BMCA_IDENTITY_LEN; i++)
		snprintf(id + 2 * i, 3, "%02x", d->identity[i]);
	return json_pack("{s:i, s:i, s:s, s:i, s:f, s:i, s:i, s:s, s:i}",
			 "priority1", d->priority1, "clock_class", d->clock_class,
			 "class", bmca_class_name(d->clock_class), "accuracy", d->accuracy,
			 "accuracy_bound_s", isinf(bmca_accuracy_bound(d->accuracy)) ? -1.0
							: bmca_accuracy_bound(d->accuracy),
			 "variance", d->variance, "priority2", d->priority2, "identity", id,
			 "steps_removed", d->steps_removed);
}

static json_t *candidates_json(const struct agent_election *e)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < e->n_cands; i++) {
		const struct announce_peer *p = &e->table.peers[e->cand_slot[i]];
		char ntp[INET_ADDRSTRLEN + 8], host[INET_ADDRSTRLEN];
		uint16_t port;
		uint32_t a = htonl(peer_ntp(e, e->cand_slot[i], &port));

		inet_ntop(AF_INET, &a, host, sizeof(host));
		snprintf(ntp, sizeof(ntp), "%s:%u", host, port);
		json_array_append_new(arr, json_pack("{s:s, s:o, s:b, s:b, s:f, s:b, s:s}",
			"name", p->msg.name, "dataset", dataset_json(&e->cands[i].ds),
			"serving", e->cands[i].serving, "eligible", e->cands[i].eligible,
			"age_s", e->cands[i].age_s, "master", (int)i == e->out.master, "ntp", ntp));
	}
	return arr;
}

static json_t *upstreams_json(const struct agent_election *e)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < e->n_ups; i++) {
		char host[INET_ADDRSTRLEN];
		uint32_t a = htonl(e->ups[i].in4);

		inet_ntop(AF_INET, &a, host, sizeof(host));
		json_array_append_new(arr, json_pack("{s:s, s:b, s:f}", "address", host,
			"offline", e->ups[i].q.offline, "offset_s", e->ups[i].offset_s));
	}
	return arr;
}

static json_t *rejoin_json(const struct agent_election *e)
{
	double left = e->el.state == ELECTION_REJOIN_HOLDOFF
		? fmax(0, e->el.holdoff_len - (now_clock(CLOCK_MONOTONIC) - e->el.holdoff_start)) : 0;

	return json_pack("{s:i, s:f, s:o, s:f}", "steps", e->el.steps, "last_step_s", e->last_step_s,
			 "last_offset_s", e->meas_rc == 0 ? json_real(-e->meas.offset_s) : json_null(),
			 "holdoff_left_s", left);
}

bool agent_election_reference(struct agent_election *e)
{
	bool r;

	if (!e)
		return false;
	pthread_mutex_lock(&e->lock);
	r = e->reference;
	pthread_mutex_unlock(&e->lock);
	return r;
}

json_t *agent_election_json(struct agent_election *e)
{
	json_t *v;

	pthread_mutex_lock(&e->lock);
	v = e->view ? json_deep_copy(e->view) : json_null();
	pthread_mutex_unlock(&e->lock);
	return v;
}

static json_t *holdover_freq_json(const struct agent_election *e)
{
	double now = now_clock(CLOCK_MONOTONIC);
	struct holdover_freq_estimate est;
	bool ok = holdover_freq_get(&e->hf, timeutil_now_ns(CLOCK_MONOTONIC_RAW), &est);
	json_t *applied = e->hf_applied || e->hp_applied
		? json_pack("{s:o, s:o, s:o, s:o, s:f}",
			    "ppm", e->hf_applied ? json_real(e->hf_ppm) : json_null(),
			    "chronyd_ppm", e->hf_applied ? json_real(e->hf_from_ppm) : json_null(),
			    "delta_ppm", e->hf_applied ? json_real(e->hf_delta_ppm) : json_null(),
			    "phase_s", e->hp_applied ? json_real(e->hp_ahead_s) : json_null(),
			    "ago_s", now - e->hf_mono)
		: json_null();

	return json_pack("{s:b, s:o, s:f, s:i, s:f, s:i, s:o}", "enabled", e->cfg->holdover_freq,
			 "ppm", ok ? json_real(est.ppm) : json_null(), "span_s", est.span_s,
			 "samples", (int)est.samples, "rms_s", est.rms_s, "resets", (int)e->hf.resets,
			 "applied", applied);
}

static json_t *build_view(const struct agent_election *e)
{
	const struct announce_counters *n = &e->table.count;
	const char *m = master_name(e);
	json_t *self = dataset_json(&e->self);

	if (self)
		json_object_set_new(self, "error_bound_s",
				    isinf(e->error_bound) ? json_null() : json_real(e->error_bound));
	return json_pack("{s:s, s:s?, s:b, s:s, s:b, s:b, s:b, s:o, s:o, s:{s:I, s:I, s:I, s:I, s:I}, "
			 "s:o, s:o, s:o}",
		"state", election_state_name(e->out.state), "master", m,
		"master_is_self", e->out.master == ELECTION_SELF,
		"reason", e->out.reason ? e->out.reason : "", "serving", e->out.serve,
		"local_on", e->local_applied == 1, "eligible", e->out.eligible,
		"self", self, "candidates", candidates_json(e),
		"announces", "ok", (json_int_t)n->ok, "unsigned", (json_int_t)n->unsigned_,
		"stale", (json_int_t)n->stale, "replayed", (json_int_t)n->replayed,
		"malformed", (json_int_t)n->malformed,
		"upstreams", upstreams_json(e), "rejoin", rejoin_json(e),
		"holdover_freq", holdover_freq_json(e));
}
