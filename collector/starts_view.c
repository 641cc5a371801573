/* starts_view.c - see starts_view.h. */
#include "starts_view.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "time/timeutil.h"

static bool started(const struct start_record *r)
{
	return (r->outcome == START_STARTED || r->outcome == START_LATE) && r->have_start;
}

static double error_s(const struct start_record *r)
{
	return (double)(r->start_ns - r->target_ns) * 1e-9;
}

static bool has_record(const struct starts_row *rows, size_t n, const char *host)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(rows[i].rec.host, host))
			return true;
	return false;
}

/* The role of host among known ("" when unknown). */
static const char *role_of(const struct starts_known_host *known, size_t nk, const char *host)
{
	for (size_t k = 0; k < nk; k++)
		if (!strcmp(known[k].host, host))
			return known[k].role ? known[k].role : "";
	return "";
}

/* Whether some host with a record has this role. */
static bool role_takes_part(const struct starts_row *rows, size_t n,
			    const struct starts_known_host *known, size_t nk, const char *role)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(role_of(known, nk, rows[i].rec.host), role))
			return true;
	return false;
}

static void count_missing(const struct starts_row *rows, size_t n, const struct starts_known_host *known,
			  size_t nk, struct starts_summary *s, size_t *missing_idx)
{
	for (size_t k = 0; k < nk; k++) {
		if (has_record(rows, n, known[k].host) ||
		    !role_takes_part(rows, n, known, nk, known[k].role ? known[k].role : ""))
			continue;
		if (missing_idx)
			missing_idx[s->missing] = k;
		s->missing++;
	}
}

/* One started node into the spread: its error and its true-time interval. */
static void add_started(const struct start_record *r, double *lo, double *hi, double *emin,
			double *emax, struct starts_summary *s)
{
	double e = error_s(r), b = r->have_bound ? r->max_error_s : 0;

	if (!r->have_bound)
		s->bound_known = false;
	*emin = fmin(*emin, e);
	*emax = fmax(*emax, e);
	*lo = fmin(*lo, e - b);
	*hi = fmax(*hi, e + b);
	s->worst_abs_error_s = fmax(s->worst_abs_error_s, fabs(e) + b);
}

void starts_summarize(const struct starts_row *rows, size_t n, const struct starts_known_host *known,
		      size_t nk, struct starts_summary *s, size_t *missing_idx)
{
	double lo = INFINITY, hi = -INFINITY, emin = INFINITY, emax = -INFINITY;

	memset(s, 0, sizeof(*s));
	s->records = n;
	s->bound_known = true;
	s->spread_bound_s = NAN;
	for (size_t i = 0; i < n; i++) {
		const struct start_record *r = &rows[i].rec;

		if (i == 0 || r->target_ns < s->target_ns)
			s->target_ns = r->target_ns;
		if (started(r)) {
			r->outcome == START_LATE ? s->late++ : s->started++;
			add_started(r, &lo, &hi, &emin, &emax, s);
		} else {
			s->failed++;
		}
	}
	count_missing(rows, n, known, nk, s, missing_idx);
	s->have_spread = s->started + s->late > 0;
	if (!s->have_spread) {
		s->bound_known = false;
		return;
	}
	s->spread_s = emax - emin;
	if (s->bound_known)
		s->spread_bound_s = hi - lo;
}

/* --- JSON --- */

static json_t *real_or_null(bool have, double v)
{
	return have && isfinite(v) ? json_real(v) : json_null();
}

static json_t *ns_time(bool have, int64_t ns)
{
	struct timespec ts = { (time_t)(ns / NSEC_PER_SEC), (long)(ns % NSEC_PER_SEC) };
	char buf[48];

	return have && timeutil_format_rfc3339(ts, 9, buf, sizeof(buf)) ? json_string(buf) : json_null();
}

static json_t *host_json(const struct starts_row *row, const struct starts_known_host *known,
			 size_t nk)
{
	const struct start_record *r = &row->rec;
	bool st = started(r);
	double b = r->max_error_s;

	return json_pack("{s:s, s:s, s:s, s:o, s:b, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:i, s:f,"
			 " s:o, s:I}",
			 "host", r->host, "role", role_of(known, nk, r->host),
			 "outcome", start_outcome_str(r->outcome),
			 "reason", r->reason[0] ? json_string(r->reason) : json_null(),
			 "armed", r->armed,
			 "target", ns_time(true, r->target_ns),
			 "start", ns_time(r->have_start, r->start_ns),
			 "error_s", real_or_null(r->have_start, error_s(r)),
			 "error_bound_s", real_or_null(r->have_bound, b),
			 "worst_s", real_or_null(st && r->have_bound, fabs(error_s(r)) + b),
			 "ready", ns_time(r->have_ready, r->ready_ns),
			 "slack_s", real_or_null(r->have_ready,
						 (double)(r->target_ns - r->ready_ns) * 1e-9),
			 "clock_steps", (int)r->clock_steps, "clock_step_total_s", r->clock_step_total_s,
			 "synchronised", r->have_bound ? json_boolean(r->synchronised) : json_null(),
			 "received_us", (json_int_t)row->received_us);
}

/* The summary fields, set on o; the lists of late, failed and missing
 * hosts. */
static int summary_into(json_t *o, const struct starts_row *rows, size_t n,
			const struct starts_known_host *known, size_t nk)
{
	size_t *miss = calloc(nk ? nk : 1, sizeof(*miss));
	json_t *late = json_array(), *failed = json_array(), *missing = json_array();
	struct starts_summary s;

	if (!miss || !late || !failed || !missing) {
		free(miss);
		json_decref(late);
		json_decref(failed);
		json_decref(missing);
		return -1;
	}
	starts_summarize(rows, n, known, nk, &s, miss);
	for (size_t i = 0; i < n; i++) {
		if (rows[i].rec.outcome == START_LATE)
			json_array_append_new(late, json_string(rows[i].rec.host));
		else if (!started(&rows[i].rec))
			json_array_append_new(failed, json_string(rows[i].rec.host));
	}
	for (size_t k = 0; k < s.missing; k++)
		json_array_append_new(missing, json_string(known[miss[k]].host));
	free(miss);
	json_object_set_new(o, "target", ns_time(n > 0, s.target_ns));
	json_object_set_new(o, "records", json_integer((json_int_t)s.records));
	json_object_set_new(o, "started", json_integer((json_int_t)s.started));
	json_object_set_new(o, "spread_s", real_or_null(s.have_spread, s.spread_s));
	json_object_set_new(o, "spread_bound_s", real_or_null(s.bound_known, s.spread_bound_s));
	json_object_set_new(o, "worst_s", real_or_null(s.bound_known, s.worst_abs_error_s));
	json_object_set_new(o, "late", late);
	json_object_set_new(o, "failed", failed);
	json_object_set_new(o, "missing", missing);
	return 0;
}

static char *dump(json_t *o)
{
	char *s = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;

	json_decref(o);
	return s;
}

static json_t *experiment_json(const char *experiment, const struct starts_row *rows, size_t n,
			       const struct starts_known_host *known, size_t nk, bool with_hosts)
{
	json_t *o = json_object(), *hosts = with_hosts ? json_array() : NULL;

	if (o)
		json_object_set_new(o, "experiment", json_string(experiment));
	if (!o || (with_hosts && !hosts) || summary_into(o, rows, n, known, nk) < 0) {
		json_decref(o);
		json_decref(hosts);
		return NULL;
	}
	for (size_t i = 0; hosts && i < n; i++) {
		json_t *h = host_json(&rows[i], known, nk);

		if (!h || json_array_append_new(hosts, h) < 0) {
			json_decref(hosts);
			json_decref(o);
			return NULL;
		}
	}
	if (hosts)
		json_object_set_new(o, "hosts", hosts);
	return o;
}

char *starts_view_experiment_json(const char *experiment, const struct starts_row *rows, size_t n,
				  const struct starts_known_host *known, size_t nk)
{
	return dump(experiment_json(experiment, rows, n, known, nk, true));
}

char *starts_view_list_json(const struct starts_list_item *items, size_t n_items,
			    const struct starts_known_host *known, size_t nk)
{
	json_t *o = json_object(), *list = json_array();

	if (!o || !list) {
		json_decref(o);
		json_decref(list);
		return NULL;
	}
	json_object_set_new(o, "experiments", list);
	for (size_t i = 0; i < n_items; i++) {
		json_t *e = experiment_json(items[i].experiment, items[i].rows, items[i].n, known, nk,
					    false);

		if (!e || json_array_append_new(list, e) < 0) {
			json_decref(o);
			return NULL;
		}
	}
	return dump(o);
}

static void gauge(FILE *f, const char *name, const char *help, bool have, double v)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
	if (have && isnan(v))
		fprintf(f, "%s NaN\n", name);
	else if (have)
		fprintf(f, "%s %.9g\n", name, v);
}

char *starts_view_metrics(const struct starts_list_item *last, const struct starts_known_host *known,
			  size_t nk)
{
	struct starts_summary s = { .spread_bound_s = NAN };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	if (last)
		starts_summarize(last->rows, last->n, known, nk, &s, NULL);
	gauge(f, "fleetclock_last_start_spread_seconds", "The latest experiment's start spread "
	      "bound: max(error + bound) - min(error - bound) over the nodes that started (NaN: a "
	      "node sent no bound).", last, s.bound_known ? s.spread_bound_s : NAN);
	gauge(f, "fleetclock_last_start_late_nodes", "Nodes that started late in the latest "
	      "experiment.", last, (double)s.late);
	gauge(f, "fleetclock_last_start_failed_nodes", "Nodes whose start failed or is not proven in "
	      "the latest experiment (refused, no-ready, exec-failed, aborted).", last,
	      (double)s.failed);
	gauge(f, "fleetclock_last_start_missing_nodes", "Known nodes without a start record in the "
	      "latest experiment.", last, (double)s.missing);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}
