/* agent_election.c - the election's I/O, the node: open/close, the
 * thread and its rounds, this node's dataset, the announces in and out.
 * The other concerns: election_priv.h; see agent_election.h and
 * docs/election.md. */
#include "election/election_priv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <unistd.h>

#include "chrony/ntp_auth_query.h"
#include "election/announce_key.h"
#include "fleetclock_config.h"
#include "rtc/rtc_store.h"

static void rtc_from_store(struct agent_election *e);

/* Where a peer serves NTP: IPv4 host order and port. */
uint32_t ae_peer_ntp(const struct agent_election *e, int slot, uint16_t *port)
{
	const struct announce_peer *p = &e->table.peers[slot];
	uint32_t a;

	memcpy(&a, p->msg.ntp_family == 4 ? p->msg.ntp_addr : p->src_addr, 4);
	*port = p->msg.ntp_port ? p->msg.ntp_port : 123;
	return ntohl(a);
}

/* The table slot of the candidate serving NTP on this address, or -1. */
int ae_candidate_slot(const struct agent_election *e, uint32_t in4)
{
	uint16_t port;

	for (int i = 0; i < ANNOUNCE_MAX_PEERS; i++)
		if (e->table.peers[i].used && ae_peer_ntp(e, i, &port) == in4)
			return i;
	return -1;
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
bool ae_chrony_synced(const struct agent_election *e, double now_real)
{
	const struct chrony_tracking *t = &e->snap.tracking;
	double age = now_real + t->current_correction - timeutil_ts_to_double(t->ref_time);

	return e->chrony_ok && chrony_tracking_synchronised(t) &&
	       age <= 4 * fmax(t->last_update_interval, 1.0) + 10;
}

void ae_note_sync(struct agent_election *e, double now_boot, bool upstream, uint8_t carried,
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
	bool sync = ae_chrony_synced(e, now_real);
	struct agent_election_rtc rtc;
	int slot = sync && t->ip.family == CHRONY_AF_INET4 ? ae_candidate_slot(e, t->ip.addr.in4) : -1;
	enum bmca_class cls;

	if (sync)
		ae_note_sync(e, now_boot, slot < 0,
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
	ipaddr4(&ip, ae_peer_ntp(e, slot, &port));
	st = ntp_auth_query_source(c, &ip, detail, sizeof(detail));
	refuse = !ntp_auth_may_follow(e->ctx->cfg.ntp_auth_mode, st);
	if (refuse != e->peer_unauth[slot])
		log_warn("election: %s master %s: %s", refuse ? "not following" : "following again",
			 e->table.peers[slot].msg.name,
			 st == NTP_AUTH_NO ? "chronyd takes its NTP replies without a key ([chrony] ntp_auth = required)"
			 : st == NTP_AUTH_ERROR ? detail : "its NTP is authenticated or not yet heard");
	e->peer_unauth[slot] = refuse;
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

static void log_change(struct agent_election *e, const struct election_output *before)
{
	const char *m = ae_master_name(e);

	if (before->state == e->out.state && before->master == e->out.master)
		return;
	/* The monotonic time lets a simulation line transitions up with its
	 * own timeline (it is not virtualised). */
	log_info("election: %s, master %s (%s), own class %s [mono %.3f]",
		 election_state_name(e->out.state), m ? m : "none", e->out.reason,
		 bmca_class_name(e->self.clock_class), now_clock(CLOCK_MONOTONIC));
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
	ae_observe_freq(e, now_real);
	build_candidates(e, now_mono);
	own_dataset(e, now_real, now_boot);
	in = (struct election_input){ .now = now_mono, .self = e->self, .cands = e->cands,
				      .n_cands = e->n_cands,
				      .upstream_synced = ae_chrony_synced(e, now_real) &&
							 e->self.clock_class == BMCA_CLASS_LOCKED,
				      .chronyd_failures = e->chrony_failures };
	election_tick(&e->el, &in, &e->out);
	if (e->out.action == ELECTION_ACT_MEASURE && e->out.target >= 0)
		ae_rejoin(e, c, now_mono, now_boot);
	ae_reapply_if_forgotten(e, c);
	ae_apply_local(e, c);
	check_master_auth(e, c);
	ae_apply_sources(e, c);
	ae_quarantine(e, c, now_mono, now_real);
	announce(e, now_clock(CLOCK_REALTIME));
	log_change(e, &before);
	ae_publish(e);
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
