/* views_metrics.c - the Prometheus text exposition of /metrics
 * (views_metrics): the per-host families and the ingest counters. Split
 * from views.c, which keeps the rest; views_priv.h holds what both use. */
#include "views_priv.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "report/fleet_summary.h"
#include "metrics_election.h"

/* ---- Prometheus text exposition ---- */

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One sample per host; get returns false to skip the host. */
static void per_host(FILE *f, const char *name, const char *help, const struct store_latest *rows,
		     const struct fleet_host_eval *e, size_t n,
		     bool (*get)(const struct store_latest *, const struct fleet_host_eval *, double *))
{
	double v;

	family(f, name, "gauge", help);
	for (size_t k = 0; k < n; k++)
		if (get(&rows[k], &e[k], &v))
			fprintf(f, "%s{host=\"%s\"} %.9g\n", name, rows[k].info.host, v);
}

static bool get_offset(const struct store_latest *r, const struct fleet_host_eval *e, double *v)
{
	*v = r->info.offset_s;
	return r->info.have_tracking && isfinite(*v);
}

static bool get_bound(const struct store_latest *r, const struct fleet_host_eval *e, double *v)
{
	*v = e->error_bound_s;
	return isfinite(*v);
}

static bool get_stratum(const struct store_latest *r, const struct fleet_host_eval *e, double *v)
{
	*v = r->info.stratum;
	return r->info.have_tracking;
}

static bool get_leap(const struct store_latest *r, const struct fleet_host_eval *e, double *v)
{
	static const char *const names[] = { "normal", "insert", "delete", "unsync" };

	*v = 3;

	for (int k = 0; k < 4; k++)
		if (!strcmp(r->info.leap, names[k]))
			*v = k;
	return r->info.have_tracking;
}

static bool get_synced(const struct store_latest *r, const struct fleet_host_eval *e, double *v)
{
	*v = r->info.synchronised;
	return true;
}

static bool get_rtc(const struct store_latest *r, const struct fleet_host_eval *e, double *v)
{
	*v = r->info.rtc_offset_s;
	return r->info.rtc_present && r->info.rtc_have_offset && isfinite(*v);
}

static bool get_age(const struct store_latest *r, const struct fleet_host_eval *e, double *v)
{
	*v = e->age_s;
	return true;
}

static bool get_skew(const struct store_latest *r, const struct fleet_host_eval *e, double *v)
{
	*v = views_priv_clock_skew_s(r);
	return true;
}

static void ingest_counters(FILE *f, const struct views_counters *c)
{
	static const char *name = "fleetclock_collector_reports_total";

	family(f, name, "counter", "Status reports received, by result.");
	fprintf(f, "%s{result=\"stored\"} %llu\n", name, (unsigned long long)c->accepted);
	fprintf(f, "%s{result=\"duplicate\"} %llu\n", name, (unsigned long long)c->duplicates);
	fprintf(f, "%s{result=\"invalid_json\"} %llu\n", name, (unsigned long long)c->bad_json);
	fprintf(f, "%s{result=\"schema_violation\"} %llu\n", name, (unsigned long long)c->bad_schema);
	fprintf(f, "%s{result=\"unauthorized\"} %llu\n", name, (unsigned long long)c->unauthorized);
	fprintf(f, "%s{result=\"forbidden\"} %llu\n", name, (unsigned long long)c->forbidden);
	fprintf(f, "%s{result=\"unsupported_type\"} %llu\n", name, (unsigned long long)c->bad_type);
	fprintf(f, "%s{result=\"too_large\"} %llu\n", name, (unsigned long long)c->too_large);
	fprintf(f, "%s{result=\"store_failed\"} %llu\n", name, (unsigned long long)c->store_failed);
	family(f, "fleetclock_collector_commits_total", "counter",
	       "SQLite transactions committed (each holds a batch of reports).");
	fprintf(f, "fleetclock_collector_commits_total %llu\n", (unsigned long long)c->batches);
}

char *views_metrics(const struct store_latest *rows, size_t n, const struct views_params *p,
		    const struct views_counters *c)
{
	struct fleet_host *h = calloc(n ? n : 1, sizeof(*h));
	struct fleet_host_eval *e = calloc(n ? n : 1, sizeof(*e));
	struct fleet_summary s;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = NULL;

	if (!h || !e || !(f = open_memstream(&buf, &len)))
		goto out;
	views_priv_to_fleet_hosts(rows, n, h);
	fleet_summarize(h, n, p->now, p->stale_after_s, p->budget_s, e, &s);
	per_host(f, "fleetclock_host_offset_seconds",
		 "System clock minus true time, as chronyd estimates it.", rows, e, n, get_offset);
	per_host(f, "fleetclock_host_error_bound_seconds",
		 "|offset| + root delay / 2 + root dispersion.", rows, e, n, get_bound);
	per_host(f, "fleetclock_host_stratum", "NTP stratum.", rows, e, n, get_stratum);
	per_host(f, "fleetclock_host_leap_status",
		 "0 normal, 1 insert, 2 delete, 3 unsynchronised.", rows, e, n, get_leap);
	per_host(f, "fleetclock_host_synchronised", "1 when chronyd is synchronised.", rows, e, n,
		 get_synced);
	per_host(f, "fleetclock_host_rtc_offset_seconds", "RTC minus system time.", rows, e, n,
		 get_rtc);
	per_host(f, "fleetclock_host_last_report_age_seconds",
		 "Seconds since the host's latest report was stored.", rows, e, n, get_age);
	per_host(f, "fleetclock_host_clock_skew_seconds",
		 "sent_at of the host's latest report minus when the collector received it.",
		 rows, e, n, get_skew);
	family(f, "fleetclock_fleet_hosts", "gauge", "Hosts that have reported.");
	fprintf(f, "fleetclock_fleet_hosts %zu\n", s.hosts);
	family(f, "fleetclock_fleet_stale_hosts", "gauge", "Hosts whose latest report is stale.");
	fprintf(f, "fleetclock_fleet_stale_hosts %zu\n", s.stale);
	family(f, "fleetclock_fleet_clock_skewed_hosts", "gauge",
	       "Hosts whose latest report's sent_at is more than max_clock_skew_s from its arrival.");
	fprintf(f, "fleetclock_fleet_clock_skewed_hosts %zu\n",
		views_priv_count_skewed(rows, n, p->max_clock_skew_s));
	family(f, "fleetclock_fleet_max_clock_skew_seconds", "gauge",
	       "The configured max_clock_skew_s (0: not checked).");
	fprintf(f, "fleetclock_fleet_max_clock_skew_seconds %.9g\n", p->max_clock_skew_s);
	family(f, "fleetclock_fleet_spread_bound_seconds", "gauge",
	       "Most two fresh hosts can be apart: relative bounds for followers of one master "
	       "(docs/spread-bound.md), absolute ones otherwise.");
	fprintf(f, "fleetclock_fleet_spread_bound_seconds %.9g\n", s.spread_bound_s);
	family(f, "fleetclock_fleet_absolute_spread_bound_seconds", "gauge",
	       "Sum of the two largest absolute error bounds of fresh hosts.");
	fprintf(f, "fleetclock_fleet_absolute_spread_bound_seconds %.9g\n",
		s.absolute_spread_bound_s);
	family(f, "fleetclock_fleet_budget_seconds", "gauge", "The configured error budget.");
	fprintf(f, "fleetclock_fleet_budget_seconds %.9g\n", p->budget_s);
	metrics_election_render(f, rows, e, n, c->master);
	ingest_counters(f, c);
out:
	if (f && fclose(f) != 0) {
		free(buf);
		buf = NULL;
	}
	free(h);
	free(e);
	return buf;
}
