/* chrony_report.c - chronyd's reports: numbers, names and JSON, see
 * chrony_report.h. */
#include "chrony/chrony_report.h"

#include <math.h>
#include <stdio.h>

#include "time/timeutil.h"

const char *const chrony_report_leap_names[] = { "normal", "insert", "delete", "unsync", NULL };
const char *const chrony_report_mode_names[] = { "client", "peer", "refclock", NULL };
const char *const chrony_report_state_names[] = { "selected", "nonselectable", "falseticker",
						  "jittery", "unselected", "selectable", NULL };

double chrony_report_max_error(double offset, double root_delay, double root_dispersion)
{
	return fabs(offset) + fabs(root_delay) / 2.0 + fabs(root_dispersion);
}

double chrony_tracking_max_error(const struct chrony_tracking *t)
{
	return chrony_report_max_error(t->current_correction, t->root_delay, t->root_dispersion);
}

bool chrony_tracking_local(const struct chrony_tracking *t)
{
	return t->ref_id == CHRONY_REFID_LOCAL;
}

bool chrony_tracking_synchronised(const struct chrony_tracking *t)
{
	return t->leap_status != CHRONY_LEAP_UNSYNC && t->ref_id != 0 && !chrony_tracking_local(t);
}

const char *chrony_report_leap_name(uint16_t leap)
{
	return leap < 4 ? chrony_report_leap_names[leap] : "unknown";
}

const char *chrony_report_mode_name(uint16_t mode)
{
	return mode < 3 ? chrony_report_mode_names[mode] : "unknown";
}

const char *chrony_report_state_name(uint16_t state)
{
	return state < 6 ? chrony_report_state_names[state] : "unknown";
}

const char *chrony_report_state_char(uint16_t state)
{
	static const char *chars[] = { "*", "?", "x", "~", "+", "-" };

	return state < 6 ? chars[state] : "?";
}

/* A refid as chronyc prints a reference clock's: its printable bytes. */
static char *refid_text(uint32_t refid, char *buf, size_t len)
{
	char text[5];
	size_t n = 0;

	for (int shift = 24; shift >= 0; shift -= 8) {
		unsigned char c = (unsigned char)(refid >> shift);

		if (c >= 0x20 && c < 0x7F)
			text[n++] = (char)c;
	}
	text[n] = '\0';
	snprintf(buf, len, "%s", text);
	return buf;
}

char *chrony_report_source_address(const struct chrony_source_data *d, char *buf, size_t len)
{
	if (d->mode != CHRONY_MODE_REF || d->ip.family != CHRONY_AF_INET4)
		return chrony_wire_ipaddr_str(&d->ip, buf, len);
	return refid_text(d->ip.addr.in4, buf, len);
}

const char *chrony_report_tracking_address(const struct chrony_tracking *t, char *buf, size_t len)
{
	if (t->ip.family != CHRONY_AF_UNSPEC)
		return chrony_wire_ipaddr_str(&t->ip, buf, len);
	if (t->ref_id == 0 || chrony_tracking_local(t))
		return NULL;
	return refid_text(t->ref_id, buf, len);
}

/* ---- the rendering: every value once, its key from the set k ---- */

struct obj {
	json_t *o;
	enum chrony_report_keys k;
	bool bad;
};

/* Set v under doc_key or cli_key (NULL: the field is not in that set). */
static void put(struct obj *b, const char *doc_key, const char *cli_key, json_t *v)
{
	const char *key = b->k == CHRONY_REPORT_DOC ? doc_key : cli_key;

	if (!key) {
		json_decref(v);
		return;
	}
	if (!b->o || json_object_set_new(b->o, key, v) < 0)
		b->bad = true;
}

static json_t *done(struct obj *b)
{
	if (b->bad) {
		json_decref(b->o);
		return NULL;
	}
	return b->o;
}

static json_t *rfc3339_or_null(struct timespec ts)
{
	char buf[40];

	if ((ts.tv_sec == 0 && ts.tv_nsec == 0) || !timeutil_format_rfc3339(ts, 6, buf, sizeof(buf)))
		return json_null();
	return json_string(buf);
}

json_t *chrony_report_tracking_json(const struct chrony_tracking *t, enum chrony_report_keys k)
{
	struct obj b = { json_object(), k, false };
	char refid[16], addr[64];
	const char *a = chrony_report_tracking_address(t, addr, sizeof(addr));

	put(&b, "ref_id", "ref_id", json_string(chrony_wire_refid_str(t->ref_id, refid, sizeof(refid))));
	put(&b, "ref_address", NULL, json_string(a ? a : "-"));
	put(&b, NULL, "address", a ? json_string(a) : json_null());
	put(&b, "stratum", "stratum", json_integer(t->stratum));
	put(&b, NULL, "leap_status", json_integer(t->leap_status));
	/* --status --json keeps chronyc's words for leap ("not synchronised"),
	 * the status document its schema's names ("unsync") */
	put(&b, "leap", NULL, json_string(chrony_report_leap_name(t->leap_status)));
	put(&b, NULL, "leap", json_string(chrony_wire_leap_str(t->leap_status)));
	put(&b, "ref_time", NULL, rfc3339_or_null(t->ref_time));
	put(&b, NULL, "ref_time", json_real(timeutil_ts_to_double(t->ref_time)));
	put(&b, "offset_s", NULL, json_real(-t->current_correction));
	put(&b, NULL, "current_correction", json_real(t->current_correction));
	put(&b, "last_offset_s", "last_offset", json_real(t->last_offset));
	put(&b, "rms_offset_s", "rms_offset", json_real(t->rms_offset));
	put(&b, "freq_ppm", "freq_ppm", json_real(t->freq_ppm));
	put(&b, "resid_freq_ppm", "resid_freq_ppm", json_real(t->resid_freq_ppm));
	put(&b, "skew_ppm", "skew_ppm", json_real(t->skew_ppm));
	put(&b, "root_delay_s", "root_delay", json_real(t->root_delay));
	put(&b, "root_dispersion_s", "root_dispersion", json_real(t->root_dispersion));
	put(&b, "update_interval_s", "last_update_interval", json_real(t->last_update_interval));
	put(&b, "synchronised", NULL, json_boolean(chrony_tracking_synchronised(t)));
	return done(&b);
}

static json_t *stats_json(const struct chrony_source *s, enum chrony_report_keys k)
{
	struct obj b = { json_object(), k, false };
	const struct chrony_sourcestats *st = &s->stats;

	if (!s->have_stats) {
		json_decref(b.o);
		return json_null();
	}
	put(&b, "samples", "n_samples", json_integer(st->n_samples));
	put(&b, "runs", "n_runs", json_integer(st->n_runs));
	put(&b, "span_s", "span", json_integer(st->span_seconds));
	put(&b, "sd_s", NULL, json_real(st->sd));
	put(&b, "resid_freq_ppm", "resid_freq_ppm", json_real(st->resid_freq_ppm));
	put(&b, "skew_ppm", "skew_ppm", json_real(st->skew_ppm));
	put(&b, "offset_s", "est_offset", json_real(st->est_offset));
	put(&b, "offset_err_s", "est_offset_err", json_real(st->est_offset_err));
	put(&b, NULL, "sd", json_real(st->sd));
	return done(&b);
}

json_t *chrony_report_source_json(const struct chrony_source *s, enum chrony_report_keys k)
{
	struct obj b = { json_object(), k, false };
	const struct chrony_source_data *d = &s->data;
	char addr[64];

	chrony_report_source_address(d, addr, sizeof(addr));
	put(&b, "name", "name", json_string(s->name[0] ? s->name : addr));
	put(&b, "address", "address", json_string(addr));
	put(&b, "mode", "mode", json_string(chrony_report_mode_name(d->mode)));
	put(&b, "state", "state", json_string(chrony_report_state_name(d->state)));
	put(&b, NULL, "state_char", json_string(chrony_report_state_char(d->state)));
	put(&b, "stratum", "stratum", json_integer(d->stratum));
	put(&b, "poll", "poll", json_integer(d->poll));
	put(&b, "reach", "reach", json_integer(d->reachability & 0xff));
	put(&b, "last_rx_s", "last_rx",
	    d->since_sample == CHRONY_NO_SAMPLE ? json_null() : json_integer(d->since_sample));
	put(&b, "offset_s", "offset", json_real(d->latest_meas));
	put(&b, NULL, "measured_offset", json_real(d->orig_latest_meas));
	put(&b, "error_s", "error", json_real(d->latest_meas_err));
	put(&b, "stats", "stats", stats_json(s, k));
	return done(&b);
}

json_t *chrony_report_json(const struct chrony_snapshot *snap, enum chrony_report_keys k)
{
	struct obj b = { json_object(), k, false };
	const struct chrony_tracking *t = &snap->tracking;
	json_t *sources = json_array();
	uint32_t n = snap->n_sources < CHRONY_MAX_SOURCES ? snap->n_sources : CHRONY_MAX_SOURCES;

	for (uint32_t i = 0; sources && i < n; i++)
		if (json_array_append_new(sources, chrony_report_source_json(&snap->sources[i], k)) < 0)
			b.bad = true;
	put(&b, "tracking", "tracking", chrony_report_tracking_json(t, k));
	put(&b, "sources", "sources", sources);
	put(&b, NULL, "offset", json_real(-t->current_correction));
	put(&b, NULL, "max_error", json_real(chrony_tracking_max_error(t)));
	put(&b, NULL, "synchronised", json_boolean(chrony_tracking_synchronised(t)));
	return done(&b);
}
