/* election_control.c - what the election sets in chronyd: the local
 * reference, the candidate sources online/offline, the holdover frequency
 * and phase, the insane-upstream quarantine, and all of it again when a
 * restarted chronyd forgot it. See election_priv.h. */
#include "election/election_priv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>

#include "fleetclock_config.h"

static bool watched(const struct agent_election *e, uint32_t in4);

/* 0 done, 1 not one of chronyd's sources, or -errno (logged). */
int ae_set_online(struct agent_election *e, struct chrony_client *c, uint32_t in4, bool on)
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

/* This round's point for the holdover frequency (holdover_freq.h): the
 * raw oscillator and the system clock read together, chronyd's pending
 * correction, whether chronyd follows a source and updated since. */
void ae_observe_freq(struct agent_election *e, double now_real)
{
	const struct chrony_tracking *t = &e->snap.tracking;
	bool fresh;
	int64_t raw;

	if (!e->chrony_ok)
		return;
	fresh = t->ref_time.tv_sec != e->hf_ref_time.tv_sec ||
		t->ref_time.tv_nsec != e->hf_ref_time.tv_nsec;
	raw = timeutil_now_ns(CLOCK_MONOTONIC_RAW);
	holdover_freq_observe(&e->hf, ae_chrony_synced(e, now_real), fresh, raw,
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
void ae_apply_local(struct agent_election *e, struct chrony_client *c)
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

/* Candidate sources in chronyd: none while serving, only the master while
 * following one, all while there is none; never one whose NTP is not
 * authenticated when that is required. */
void ae_apply_sources(struct agent_election *e, struct chrony_client *c)
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
		a = ae_peer_ntp(e, i, &port);
		want = e->out.serve ? 0 : master_slot < 0 ? 1 : i == master_slot;
		want = want && !e->peer_unauth[i];
		if (e->peer_online[i] == want && e->peer_online_addr[i] == a)
			continue;
		if ((rc = ae_set_online(e, c, a, want)) >= 0) {
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

	if (ae_candidate_slot(e, in4) >= 0)
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
	if (e->ctx->dry_run || ae_set_online(e, c, u->in4, q == ELECTION_Q_ONLINE) < 0) {
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
void ae_quarantine(struct agent_election *e, struct chrony_client *c, double now_mono,
		   double now_real)
{
	/* Candidates are known only after listening; one taken for an
	 * upstream before it announced itself is forgotten (and back online). */
	if (e->out.state == ELECTION_LISTENING)
		return;
	for (size_t i = 0; i < e->n_ups; i++) {
		if (ae_candidate_slot(e, e->ups[i].in4) < 0)
			continue;
		if (e->ups[i].q.offline && !e->ctx->dry_run)
			ae_set_online(e, c, e->ups[i].in4, true);
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
	ipaddr4(&addr, ae_peer_ntp(e, e->cand_slot[e->out.master], &port));
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
void ae_reapply_if_forgotten(struct agent_election *e, struct chrony_client *c)
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
		rc = ae_set_online(e, c, e->ups[i].in4, false);
		/* one no longer among chronyd's sources is judged afresh if it returns */
		if (rc == 1)
			e->ups[i].q.offline = false;
		requarantined |= rc == 0 && sampled_since_restart(e, e->ups[i].in4);
	}
	if (requarantined)
		drop_quarantined_samples(e, c);
}
