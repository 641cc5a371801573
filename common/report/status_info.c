/* status_info.c - reading a valid document into struct status_info (what
 * the collector indexes: max error, the selected source, the metrics
 * fields). Split from status.c, which keeps the rest; status_info_priv.h
 * holds what both use. */
#include "report/status_info_priv.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "report/json_fast.h"
#include "report/status_fields.h"
#include "time/when.h"
#include "time/timeutil.h"

struct spread_node status_info_spread_node(const struct status_info *i)
{
	return (struct spread_node){ i->have_tracking, i->synchronised, i->offset_s,
				     i->root_delay_s, i->root_dispersion_s, i->sel };
}

double status_max_error(const struct status_info *i)
{
	if (!i->have_tracking)
		return NAN;
	return chrony_report_max_error(i->offset_s, i->root_delay_s, i->root_dispersion_s);
}

static double num(json_t *obj, const char *key)
{
	return json_number_value(json_object_get(obj, key));
}

static void fill_selected(json_t *o, struct spread_sel *sel)
{
	if (!json_is_object(o))
		return;
	snprintf(sel->master, sizeof(sel->master), "%s",
		 json_string_value(json_object_get(o, "address")));
	sel->master_root_delay_s = num(o, "root_delay_s");
	sel->master_root_dispersion_s = num(o, "root_dispersion_s");
	sel->hop_delay_s = num(o, "peer_delay_s");
	sel->hop_dispersion_s = num(o, "peer_dispersion_s");
	sel->have = true;
}

void status_fill_info(json_t *doc, struct status_info *info)
{
	json_t *chrony = json_object_get(doc, "chrony"), *t, *rtc, *check, *sub;

	memset(info, 0, sizeof(*info));
	snprintf(info->host, sizeof(info->host), "%s", json_string_value(json_object_get(doc, "host")));
	snprintf(info->role, sizeof(info->role), "%s", json_string_value(json_object_get(doc, "role")));
	snprintf(info->agent_version, sizeof(info->agent_version), "%s",
		 json_string_value(json_object_get(doc, "agent_version")));
	status_parse_time(json_string_value(json_object_get(doc, "sent_at")), &info->sent_at_us);
	info->max_error_s = NAN;
	if (json_is_object(chrony)) {
		t = json_object_get(chrony, "tracking");
		info->have_tracking = true;
		info->synchronised = json_is_true(json_object_get(t, "synchronised"));
		info->stratum = (int)json_integer_value(json_object_get(t, "stratum"));
		snprintf(info->leap, sizeof(info->leap), "%s",
			 json_string_value(json_object_get(t, "leap")));
		info->offset_s = num(t, "offset_s");
		info->root_delay_s = num(t, "root_delay_s");
		info->root_dispersion_s = num(t, "root_dispersion_s");
		info->max_error_s = status_max_error(info);
		fill_selected(json_object_get(chrony, "selected"), &info->sel);
		sub = json_object_get(chrony, "authenticated");
		info->authenticated = json_is_boolean(sub) ? json_is_true(sub) : -1;
	} else {
		info->authenticated = -1;
	}
	rtc = json_object_get(doc, "rtc");
	if (json_is_object(rtc)) {
		info->rtc_present = true;
		info->rtc_valid = json_is_true(json_object_get(rtc, "valid"));
		info->rtc_have_offset = json_is_number(json_object_get(rtc, "offset_s"));
		info->rtc_offset_s = num(rtc, "offset_s");
	}
	check = json_object_get(doc, "check");
	info->check_ready = json_is_object(check) ? json_is_true(json_object_get(check, "ready")) : -1;
	status_metrics_fill(doc, &info->metrics);
}

void status_info_fill_stored(const char *text, size_t len, struct status_info *i)
{
	json_t *doc = text ? json_loadb(text, len, 0, NULL) : NULL;
	struct status_info full;

	i->sel = (struct spread_sel){ 0 };
	i->authenticated = -1;
	if (!doc) {
		memset(&i->metrics, 0, sizeof(i->metrics));
		return;
	}
	status_fill_info(doc, &full);
	json_decref(doc);
	i->metrics = full.metrics;
	i->sel = full.sel;
	i->authenticated = full.authenticated;
}
