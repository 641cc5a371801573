/* status_metrics.c - see status_metrics.h. */
#include "report/status_metrics.h"

#include <math.h>
#include <string.h>

static const char *const state_names[STATUS_EL_N] = {
	[STATUS_EL_UNKNOWN] = "unknown",
	[STATUS_EL_LISTENING] = "listening",
	[STATUS_EL_REJOIN_MEASURE] = "rejoin-measure",
	[STATUS_EL_REJOIN_HOLDOFF] = "rejoin-holdoff",
	[STATUS_EL_FOLLOWING] = "following",
	[STATUS_EL_SERVING] = "serving",
};

const char *status_election_state_name(enum status_election_state s)
{
	return (unsigned)s < STATUS_EL_N ? state_names[s] : state_names[STATUS_EL_UNKNOWN];
}

static enum status_election_state state_of(const char *name)
{
	for (int k = 1; name && k < STATUS_EL_N; k++)
		if (!strcmp(name, state_names[k]))
			return (enum status_election_state)k;
	return STATUS_EL_UNKNOWN;
}

/* An integer field within [lo, hi], or -1. */
static int int_in(json_t *obj, const char *key, int lo, int hi)
{
	json_t *v = json_object_get(obj, key);
	json_int_t x;

	if (!json_is_integer(v))
		return -1;
	x = json_integer_value(v);
	return x >= lo && x <= hi ? (int)x : -1;
}

static void fill_election(json_t *el, struct status_metrics *m)
{
	json_t *self = json_object_get(el, "self"), *ups = json_object_get(el, "upstreams"), *u;
	size_t k;

	m->election = true;
	m->el_state = (unsigned char)state_of(json_string_value(json_object_get(el, "state")));
	m->el_serving = json_is_true(json_object_get(el, "serving"));
	m->clock_class = int_in(self, "clock_class", 0, 255);
	m->priority1 = int_in(self, "priority1", 0, 255);
	m->priority2 = int_in(self, "priority2", 0, 255);
	if (!json_is_array(ups))
		return;
	m->upstreams = (int)json_array_size(ups);
	m->upstreams_offline = 0;
	json_array_foreach(ups, k, u)
		m->upstreams_offline += json_is_true(json_object_get(u, "offline"));
}

/* The reach register of the first "selected" source, or -1. */
static int selected_reach(json_t *chrony)
{
	json_t *sources = json_object_get(chrony, "sources"), *s;
	size_t k;

	json_array_foreach(sources, k, s) {
		const char *state = json_string_value(json_object_get(s, "state"));

		if (state && !strcmp(state, "selected"))
			return int_in(s, "reach", 0, 255);
	}
	return -1;
}

void status_metrics_fill(json_t *doc, struct status_metrics *m)
{
	json_t *el = json_object_get(doc, "election"), *rtc = json_object_get(doc, "rtc"), *d;

	*m = (struct status_metrics){ .clock_class = -1, .priority1 = -1, .priority2 = -1,
				      .upstreams = -1, .upstreams_offline = -1,
				      .rtc_drift_ppm = NAN };
	if (json_is_object(el))
		fill_election(el, m);
	d = json_object_get(rtc, "drift_ppm");
	if (json_is_number(d) && isfinite(json_number_value(d))) {
		m->rtc_have_drift = true;
		m->rtc_drift_ppm = json_number_value(d);
	}
	m->selected_reach = selected_reach(json_object_get(doc, "chrony"));
	m->have_reach = m->selected_reach >= 0;
	if (!m->have_reach)
		m->selected_reach = 0;
}
