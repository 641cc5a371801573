/* chrony_json.c - chronyd reports as JSON, see chrony_json.h. */
#include "chrony/chrony_json.h"

#include "time/timeutil.h"

const char *chrony_json_state_char(uint16_t state)
{
	static const char *chars[] = { "*", "?", "x", "~", "+", "-" };

	return state < 6 ? chars[state] : "?";
}

static const char *mode_str(uint16_t mode)
{
	static const char *names[] = { "server", "peer", "refclock" };

	return mode < 3 ? names[mode] : "unknown";
}

json_t *chrony_json_tracking(const struct chrony_tracking *t)
{
	char refid[16], addr[64];

	const char *a = chrony_json_tracking_address(t, addr, sizeof(addr));
	json_t *address = a ? json_string(a) : json_null();

	return json_pack("{s:s, s:o, s:i, s:i, s:s, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}",
			 "ref_id", chrony_wire_refid_str(t->ref_id, refid, sizeof(refid)),
			 "address", address,
			 "stratum", (int)t->stratum,
			 "leap_status", (int)t->leap_status,
			 "leap", chrony_wire_leap_str(t->leap_status),
			 "ref_time", timeutil_ts_to_double(t->ref_time),
			 "current_correction", t->current_correction,
			 "last_offset", t->last_offset,
			 "rms_offset", t->rms_offset,
			 "freq_ppm", t->freq_ppm,
			 "resid_freq_ppm", t->resid_freq_ppm,
			 "skew_ppm", t->skew_ppm,
			 "root_delay", t->root_delay,
			 "root_dispersion", t->root_dispersion,
			 "last_update_interval", t->last_update_interval);
}

static json_t *sourcestats_json(const struct chrony_source *s)
{
	if (!s->have_stats)
		return json_null();
	return json_pack("{s:i, s:i, s:i, s:f, s:f, s:f, s:f, s:f}",
			 "n_samples", (int)s->stats.n_samples,
			 "n_runs", (int)s->stats.n_runs,
			 "span", (int)s->stats.span_seconds,
			 "resid_freq_ppm", s->stats.resid_freq_ppm,
			 "skew_ppm", s->stats.skew_ppm,
			 "est_offset", s->stats.est_offset,
			 "est_offset_err", s->stats.est_offset_err,
			 "sd", s->stats.sd);
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

char *chrony_json_source_address(const struct chrony_source_data *d, char *buf, size_t len)
{
	if (d->mode != CHRONY_MODE_REF || d->ip.family != CHRONY_AF_INET4)
		return chrony_wire_ipaddr_str(&d->ip, buf, len);
	return refid_text(d->ip.addr.in4, buf, len);
}

const char *chrony_json_tracking_address(const struct chrony_tracking *t, char *buf, size_t len)
{
	if (t->ip.family != CHRONY_AF_UNSPEC)
		return chrony_wire_ipaddr_str(&t->ip, buf, len);
	if (t->ref_id == 0 || t->ref_id == CHRONY_REFID_LOCAL)
		return NULL;
	return refid_text(t->ref_id, buf, len);
}

json_t *chrony_json_source(const struct chrony_source *s)
{
	const struct chrony_source_data *d = &s->data;
	char addr[64];
	json_t *last_rx = d->since_sample == CHRONY_NO_SAMPLE ? json_null()
							      : json_integer(d->since_sample);

	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:o, s:f, s:f, s:f, s:o}",
			 "name", s->name,
			 "address", chrony_json_source_address(d, addr, sizeof(addr)),
			 "mode", mode_str(d->mode),
			 "state", chrony_wire_state_str(d->state),
			 "state_char", chrony_json_state_char(d->state),
			 "stratum", (int)d->stratum,
			 "poll", (int)d->poll,
			 "reach", (int)d->reachability,
			 "last_rx", last_rx,
			 "offset", d->latest_meas,
			 "measured_offset", d->orig_latest_meas,
			 "error", d->latest_meas_err,
			 "stats", sourcestats_json(s));
}

json_t *chrony_json_snapshot(const struct chrony_snapshot *snap)
{
	json_t *sources = json_array();
	json_t *tracking = chrony_json_tracking(&snap->tracking);

	if (!sources || !tracking) {
		json_decref(sources);
		json_decref(tracking);
		return NULL;
	}
	for (uint32_t i = 0; i < snap->n_sources; i++)
		json_array_append_new(sources, chrony_json_source(&snap->sources[i]));
	return json_pack("{s:o, s:o, s:f, s:f, s:b}",
			 "tracking", tracking,
			 "sources", sources,
			 "offset", -snap->tracking.current_correction,
			 "max_error", chrony_tracking_max_error(&snap->tracking),
			 "synchronised", chrony_tracking_synchronised(&snap->tracking));
}
