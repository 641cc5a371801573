/* metrics_election.c - see metrics_election.h. */
#include "metrics_election.h"

#include <errno.h>
#include <math.h>
#include <string.h>

int metrics_master_init(struct metrics_master *m)
{
	int rc;

	memset(m, 0, sizeof(*m));
	rc = pthread_mutex_init(&m->lock, NULL);
	return rc ? -rc : 0;
}

void metrics_master_destroy(struct metrics_master *m)
{
	pthread_mutex_destroy(&m->lock);
}

/* The master's serving reports have gone stale at now. */
static bool master_stale(const struct metrics_master *m, double now, double stale_after_s)
{
	return m->cur[0] && now - m->cur_seen > stale_after_s;
}

/* Drop a stale master: without one since its last serving report. */
static void expire(struct metrics_master *m, double now, double stale_after_s)
{
	if (master_stale(m, now, stale_after_s)) {
		m->none_since = m->cur_seen;
		m->cur[0] = '\0';
	}
}

void metrics_master_observe(struct metrics_master *m, const struct status_info *i, double now,
			    double stale_after_s)
{
	bool serving = i->metrics.election && i->metrics.el_serving;

	pthread_mutex_lock(&m->lock);
	if (!i->metrics.election && strcmp(i->host, m->cur))
		goto out;		/* not a candidate, not the master */
	if (!m->seen) {
		m->seen = true;
		m->none_since = now;
	}
	expire(m, now, stale_after_s);
	if (serving && !m->cur[0]) {
		if (m->last[0] && strcmp(m->last, i->host))
			m->failovers++;
		snprintf(m->cur, sizeof(m->cur), "%s", i->host);
		snprintf(m->last, sizeof(m->last), "%s", i->host);
	}
	if (!strcmp(i->host, m->cur)) {
		if (serving) {
			m->cur_seen = now;
		} else {
			m->cur[0] = '\0';
			m->none_since = now;
		}
	}
out:
	pthread_mutex_unlock(&m->lock);
}

void metrics_master_get(struct metrics_master *m, double now, double stale_after_s,
			struct metrics_master_view *out)
{
	pthread_mutex_lock(&m->lock);
	expire(m, now, stale_after_s);
	memset(out, 0, sizeof(*out));
	out->seen = m->seen;
	out->have_master = m->cur[0] != '\0';
	snprintf(out->master, sizeof(out->master), "%s", m->cur);
	out->no_master_s = !m->seen || out->have_master ? 0 : fmax(0, now - m->none_since);
	out->failovers = m->failovers;
	pthread_mutex_unlock(&m->lock);
}

/* ---- rendering ---- */

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

typedef bool (*getter)(const struct store_latest *, const struct fleet_host_eval *, double *);

/* One gauge sample per host for which get returns true. */
static void per_host(FILE *f, const char *name, const char *help, const struct store_latest *rows,
		     const struct fleet_host_eval *e, size_t n, getter get)
{
	double v;

	family(f, name, "gauge", help);
	for (size_t k = 0; k < n; k++)
		if (get(&rows[k], &e[k], &v))
			fprintf(f, "%s{host=\"%s\"} %.9g\n", name, rows[k].info.host, v);
}

static bool get_serving(const struct store_latest *r, const struct fleet_host_eval *e, double *v)
{
	*v = r->info.metrics.el_serving;
	return r->info.metrics.election;
}

static bool get_class(const struct store_latest *r, const struct fleet_host_eval *e, double *v)
{
	*v = r->info.metrics.clock_class;
	return r->info.metrics.election && *v >= 0;
}

static bool get_prio1(const struct store_latest *r, const struct fleet_host_eval *e, double *v)
{
	*v = r->info.metrics.priority1;
	return r->info.metrics.election && *v >= 0;
}

static bool get_prio2(const struct store_latest *r, const struct fleet_host_eval *e, double *v)
{
	*v = r->info.metrics.priority2;
	return r->info.metrics.election && *v >= 0;
}

static bool get_quarantined(const struct store_latest *r, const struct fleet_host_eval *e,
			    double *v)
{
	*v = r->info.metrics.upstreams_offline;
	return r->info.metrics.election && *v >= 0;
}

static bool get_drift(const struct store_latest *r, const struct fleet_host_eval *e, double *v)
{
	*v = r->info.metrics.rtc_drift_ppm * 1e-6;
	return r->info.rtc_present && r->info.metrics.rtc_have_drift && isfinite(*v);
}

static bool get_rtc_valid(const struct store_latest *r, const struct fleet_host_eval *e,
			  double *v)
{
	*v = r->info.rtc_valid;
	return r->info.rtc_present;
}

static bool get_reach(const struct store_latest *r, const struct fleet_host_eval *e, double *v)
{
	*v = __builtin_popcount((unsigned)r->info.metrics.selected_reach & 0xffu) / 8.0;
	return r->info.have_tracking && r->info.metrics.have_reach;
}

static bool get_check(const struct store_latest *r, const struct fleet_host_eval *e, double *v)
{
	*v = r->info.check_ready;
	return r->info.check_ready >= 0;
}

static bool get_stale(const struct store_latest *r, const struct fleet_host_eval *e, double *v)
{
	*v = e->stale;
	return true;
}

static bool get_ready(const struct store_latest *r, const struct fleet_host_eval *e, double *v)
{
	*v = e->ready;
	return true;
}

/* fleetclock_election_state{host,state}: a state set, 1 for the current
 * state and 0 for the others (so a timeline shows each state's spans). */
static void states(FILE *f, const struct store_latest *rows, size_t n)
{
	static const char *name = "fleetclock_election_state";

	family(f, name, "gauge", "Election state of a master candidate: 1 for the current state.");
	for (size_t k = 0; k < n; k++) {
		const struct status_metrics *m = &rows[k].info.metrics;

		if (!m->election)
			continue;
		for (int s = STATUS_EL_LISTENING; s < STATUS_EL_N; s++)
			fprintf(f, "%s{host=\"%s\",state=\"%s\"} %d\n", name, rows[k].info.host,
				status_election_state_name((enum status_election_state)s),
				m->el_state == s);
	}
}

static void fleet_election(FILE *f, const struct metrics_master_view *mv)
{
	family(f, "fleetclock_election_master", "gauge",
	       "1 for the candidate the collector counts as the fleet's master (serving, fresh).");
	if (mv && mv->have_master)
		fprintf(f, "fleetclock_election_master{host=\"%s\"} 1\n", mv->master);
	if (!mv || !mv->seen)
		return;		/* no candidate reported: no election to judge */
	family(f, "fleetclock_election_failovers_total", "counter",
	       "Master changes to another host, as the collector saw them since it started.");
	fprintf(f, "fleetclock_election_failovers_total %llu\n",
		(unsigned long long)mv->failovers);
	family(f, "fleetclock_election_no_master_seconds", "gauge",
	       "Seconds without a serving master; 0 while one serves.");
	fprintf(f, "fleetclock_election_no_master_seconds %.9g\n", mv->no_master_s);
}

void metrics_election_render(FILE *f, const struct store_latest *rows,
			     const struct fleet_host_eval *e, size_t n,
			     const struct metrics_master_view *mv)
{
	per_host(f, "fleetclock_election_serving",
		 "1 when the candidate serves time to the fleet (its latest report).",
		 rows, e, n, get_serving);
	per_host(f, "fleetclock_election_clock_class",
		 "Clock class the candidate announces (6 locked, 7 holdover, 52 RTC, 248 free-running, "
		 "255 invalid).", rows, e, n, get_class);
	per_host(f, "fleetclock_election_priority1", "The candidate's priority1 (lower wins).",
		 rows, e, n, get_prio1);
	per_host(f, "fleetclock_election_priority2", "The candidate's priority2 (lower wins).",
		 rows, e, n, get_prio2);
	states(f, rows, n);
	fleet_election(f, mv);
	per_host(f, "fleetclock_host_quarantined_sources",
		 "Upstream sources the candidate has taken offline as insane.", rows, e, n,
		 get_quarantined);
	per_host(f, "fleetclock_host_rtc_drift_ratio",
		 "RTC rate error as a ratio (ppm / 1e6); > 0: the RTC runs fast.", rows, e, n,
		 get_drift);
	per_host(f, "fleetclock_host_rtc_valid",
		 "1 when the RTC's time is valid (oscillator running, stamp present, sane date).",
		 rows, e, n, get_rtc_valid);
	per_host(f, "fleetclock_host_source_reach_ratio",
		 "Selected source's reachability: set bits of chronyd's 8-bit reach register / 8.",
		 rows, e, n, get_reach);
	per_host(f, "fleetclock_host_check_ready",
		 "The agent's last readiness check: 1 ready, 0 not ready.", rows, e, n, get_check);
	per_host(f, "fleetclock_host_stale",
		 "1 when the host's latest report is older than the collector's stale_after_s.",
		 rows, e, n, get_stale);
	per_host(f, "fleetclock_host_ready",
		 "The collector's verdict: 1 when fresh, synchronised and within the budget.",
		 rows, e, n, get_ready);
}
