/* status.c - build, parse and validate the status document (status.h). */
#include "report/status.h"

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
#include "report/status_info_priv.h"

/* ---- names shared by building and validating ---- */

static const char *const role_names[] = { "master", "failover", "headset", "observer", NULL };

static const char *const storage_names[] = { "disk", "memory", NULL };

static const char *const delivery_names[] = { "ok", "retrying", "refused", NULL };

/* ---- time ---- */

/* RFC 3339 in UTC: 'T', a fraction of 0-9 digits (microseconds kept), and
 * "Z" or "+00:00"; a real calendar day, 1970 to 9999. when.c's parser
 * (which --at uses) does the rest: it was sscanf and timegm here, a few
 * microseconds a time and three times in every report. */
int status_parse_time(const char *s, int64_t *us)
{
	struct timespec ts;
	char why[8];		/* the reason is not reported: the caller names the field */
	size_t n;

	if (!s || (n = strlen(s)) < 20 || s[10] != 'T' ||
	    (s[n - 1] != 'Z' && (n < 25 || strcmp(s + n - 6, "+00:00"))))
		return -EINVAL;
	if (when_parse_rfc3339(s, &ts, why, sizeof(why)) < 0 || ts.tv_sec < 0)
		return -EINVAL;
	*us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	return 0;
}

char *status_format_time(int64_t us, char *buf, size_t len)
{
	int64_t sec = us / 1000000, rem = us % 1000000;

	if (rem < 0) {
		rem += 1000000;
		sec--;
	}
	return timeutil_format_rfc3339((struct timespec){ sec, (long)rem * 1000 }, 6, buf, len);
}

static json_t *time_or_null(struct timespec ts)
{
	char buf[40];

	if (ts.tv_sec == 0 && ts.tv_nsec == 0)
		return json_null();
	if (!timeutil_format_rfc3339(ts, 6, buf, sizeof(buf)))
		return json_null();
	return json_string(buf);
}

/* ---- building ---- */

static json_t *build_rtc(const struct status_rtc *rtc)
{
	if (!rtc || !rtc->present)
		return json_null();
	return json_pack("{s:s, s:s, s:b, s:o, s:o, s:o}", "backend", rtc->backend,
			 "device", rtc->device, "valid", rtc->valid,
			 "offset_s", rtc->have_offset ? json_real(rtc->offset_s) : json_null(),
			 "drift_ppm", rtc->have_drift ? json_real(rtc->drift_ppm) : json_null(),
			 "last_sync", time_or_null(rtc->last_sync));
}

static json_t *build_check(const struct status_check *check)
{
	json_t *problems;
	unsigned n;

	if (!check)
		return json_null();
	problems = json_array();
	n = check->n_problems < STATUS_MAX_PROBLEMS ? check->n_problems : STATUS_MAX_PROBLEMS;
	for (unsigned i = 0; problems && i < n; i++)
		json_array_append_new(problems, json_string(check->problems[i]));
	return json_pack("{s:b, s:f, s:o}", "ready", check->ready, "budget_s", check->budget_s,
			 "problems", problems);
}

json_t *status_build(const struct status_meta *meta, const struct chrony_snapshot *snap,
		     const char *chrony_error, const struct status_rtc *rtc,
		     const struct status_check *check)
{
	return status_build_election(meta, snap, chrony_error, rtc, check, NULL);
}

json_t *status_build_election(const struct status_meta *meta, const struct chrony_snapshot *snap,
			      const char *chrony_error, const struct status_rtc *rtc,
			      const struct status_check *check, json_t *election)
{
	char sent[40];
	json_t *chrony = snap ? chrony_report_json(snap, CHRONY_REPORT_DOC) : json_null();
	json_t *max_error = json_null();

	if (!election)
		election = json_null();
	if (!timeutil_format_rfc3339(meta->sent_at, 6, sent, sizeof(sent)) || !chrony) {
		json_decref(chrony);
		json_decref(election);
		return NULL;
	}
	if (snap)
		max_error = json_real(chrony_tracking_max_error(&snap->tracking));
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:s?, s:o, s:o, s:o, s:o}",
			 "schema", STATUS_SCHEMA, "host", meta->host, "role", meta->role,
			 "agent_version", meta->agent_version, "sent_at", sent,
			 "chrony", chrony, "chrony_error", snap ? NULL : chrony_error,
			 "max_error_s", max_error ? max_error : json_null(),
			 "rtc", build_rtc(rtc), "election", election, "check", build_check(check));
}

json_t *status_build_selected(const struct spread_sel *sel)
{
	if (!sel->have)
		return json_null();
	return json_pack("{s:s, s:f, s:f, s:f, s:f}", "address", sel->master,
			 "root_delay_s", sel->master_root_delay_s,
			 "root_dispersion_s", sel->master_root_dispersion_s,
			 "peer_delay_s", sel->hop_delay_s, "peer_dispersion_s", sel->hop_dispersion_s);
}

struct spread_node status_spread_node(const struct chrony_tracking *t, const struct spread_sel *sel)
{
	return (struct spread_node){ true, chrony_tracking_synchronised(t), -t->current_correction,
				     t->root_delay, t->root_dispersion, *sel };
}

static json_t *string_or_null(const char *s)
{
	return s && *s ? json_string(s) : json_null();
}

void status_set_authenticated(json_t *doc, int authenticated)
{
	json_t *chrony = json_object_get(doc, "chrony");

	if (json_is_object(chrony))
		json_object_set_new(chrony, "authenticated",
				    authenticated < 0 ? json_null() : json_boolean(authenticated));
}

json_t *status_build_report_queue(const struct status_report_queue *q)
{
	return json_pack("{s:s, s:I, s:I, s:I, s:I, s:o, s:s, s:o}",
			 "storage", q->in_memory ? "memory" : "disk",
			 "queued", (json_int_t)q->queued,
			 "in_memory", (json_int_t)q->in_memory_count,
			 "unremoved", (json_int_t)q->unremoved,
			 "dropped", (json_int_t)q->dropped,
			 "error", string_or_null(q->error),
			 "delivery", q->delivery ? q->delivery : "ok",
			 "delivery_error", string_or_null(q->delivery_error));
}

/* ---- validating ---- */

static const struct vfield top_fields[] = {
	{ "schema", V_STR, true, false, 0, 64, NULL },
	{ "host", V_STR, true, false, 1, STATUS_HOST_MAX - 1, NULL },
	{ "role", V_STR, true, false, 0, 15, role_names },
	{ "agent_version", V_STR, true, false, 1, 31, NULL },
	{ "sent_at", V_TIME, true, false, 0, 0, NULL },
	{ "chrony", V_OBJ, true, true, 0, 0, NULL },
	{ "chrony_error", V_STR, false, true, 0, 512, NULL },
	{ "max_error_s", V_NUM, true, true, 0, BIG, NULL },
	{ "rtc", V_OBJ, true, true, 0, 0, NULL },
	{ "election", V_OBJ, true, true, 0, 0, NULL },
	{ "check", V_OBJ, true, true, 0, 0, NULL },
	{ "report_queue", V_OBJ, false, true, 0, 0, NULL },
	{ "relative_error_s", V_NUM, false, true, 0, BIG, NULL },
	{ NULL, V_ANY, false, false, 0, 0, NULL }
};

static const struct vfield report_queue_fields[] = {
	{ "storage", V_STR, true, false, 0, 8, storage_names },
	{ "queued", V_INT, true, false, 0, 1e12, NULL },
	{ "in_memory", V_INT, false, false, 0, 1e12, NULL },
	{ "unremoved", V_INT, false, false, 0, 1e12, NULL },
	{ "dropped", V_INT, false, false, 0, 1e18, NULL },
	{ "error", V_STR, false, true, 0, 512, NULL },
	{ "delivery", V_STR, false, false, 0, 16, delivery_names },
	{ "delivery_error", V_STR, false, true, 0, 512, NULL },
	{ NULL, V_ANY, false, false, 0, 0, NULL }
};

static const struct vfield chrony_fields[] = {
	{ "tracking", V_OBJ, true, false, 0, 0, NULL },
	{ "sources", V_ARR, true, false, 0, CHRONY_MAX_SOURCES, NULL },
	{ "authenticated", V_BOOL, false, true, 0, 0, NULL },
	{ "selected", V_OBJ, false, true, 0, 0, NULL },
	{ NULL, V_ANY, false, false, 0, 0, NULL }
};

static const struct vfield selected_fields[] = {
	{ "address", V_STR, true, false, 1, SPREAD_MASTER_MAX - 1, NULL },
	{ "root_delay_s", V_NUM, true, false, 0, BIG, NULL },
	{ "root_dispersion_s", V_NUM, true, false, 0, BIG, NULL },
	{ "peer_delay_s", V_NUM, true, false, 0, BIG, NULL },
	{ "peer_dispersion_s", V_NUM, true, false, 0, BIG, NULL },
	{ NULL, V_ANY, false, false, 0, 0, NULL }
};

static const struct vfield tracking_fields[] = {
	{ "ref_id", V_STR, true, false, 0, 8, NULL },
	{ "ref_address", V_STR, false, true, 0, 64, NULL },
	{ "stratum", V_INT, true, false, 0, 16, NULL },
	{ "leap", V_STR, true, false, 0, 8, chrony_report_leap_names },
	{ "ref_time", V_TIME, false, true, 0, 0, NULL },
	{ "offset_s", V_NUM, true, false, -BIG, BIG, NULL },
	{ "last_offset_s", V_NUM, false, false, -BIG, BIG, NULL },
	{ "rms_offset_s", V_NUM, false, false, 0, BIG, NULL },
	{ "freq_ppm", V_NUM, false, false, -1e6, 1e6, NULL },
	{ "resid_freq_ppm", V_NUM, false, false, -1e6, 1e6, NULL },
	{ "skew_ppm", V_NUM, false, false, -1e6, 1e6, NULL },
	{ "root_delay_s", V_NUM, true, false, 0, BIG, NULL },
	{ "root_dispersion_s", V_NUM, true, false, 0, BIG, NULL },
	{ "update_interval_s", V_NUM, false, false, 0, BIG, NULL },
	{ "synchronised", V_BOOL, true, false, 0, 0, NULL },
	{ NULL, V_ANY, false, false, 0, 0, NULL }
};

static const struct vfield source_fields[] = {
	{ "name", V_STR, true, false, 0, 255, NULL },
	{ "address", V_STR, true, false, 0, 64, NULL },
	{ "mode", V_STR, true, false, 0, 16, chrony_report_mode_names },
	{ "state", V_STR, true, false, 0, 16, chrony_report_state_names },
	{ "stratum", V_INT, true, false, 0, 16, NULL },
	{ "poll", V_INT, true, false, -32, 32, NULL },
	{ "reach", V_INT, true, false, 0, 255, NULL },
	{ "last_rx_s", V_INT, true, true, 0, 4294967295.0, NULL },
	{ "offset_s", V_NUM, true, false, -BIG, BIG, NULL },
	{ "error_s", V_NUM, true, false, 0, BIG, NULL },
	{ "stats", V_OBJ, true, true, 0, 0, NULL },
	{ NULL, V_ANY, false, false, 0, 0, NULL }
};

static const struct vfield stats_fields[] = {
	{ "samples", V_INT, true, false, 0, 1e9, NULL },
	{ "runs", V_INT, false, false, 0, 1e9, NULL },
	{ "span_s", V_INT, false, false, 0, 1e10, NULL },
	{ "sd_s", V_NUM, true, false, 0, BIG, NULL },
	{ "resid_freq_ppm", V_NUM, false, false, -1e6, 1e6, NULL },
	{ "skew_ppm", V_NUM, false, false, -1e6, 1e6, NULL },
	{ "offset_s", V_NUM, true, false, -BIG, BIG, NULL },
	{ "offset_err_s", V_NUM, true, false, 0, BIG, NULL },
	{ NULL, V_ANY, false, false, 0, 0, NULL }
};

static const struct vfield rtc_fields[] = {
	{ "backend", V_STR, true, false, 0, 15, NULL },
	{ "device", V_STR, false, false, 0, 63, NULL },
	{ "valid", V_BOOL, true, false, 0, 0, NULL },
	{ "offset_s", V_NUM, true, true, -BIG, BIG, NULL },
	{ "drift_ppm", V_NUM, true, true, -1e6, 1e6, NULL },
	{ "last_sync", V_TIME, false, true, 0, 0, NULL },
	{ NULL, V_ANY, false, false, 0, 0, NULL }
};

static const struct vfield check_obj_fields[] = {
	{ "ready", V_BOOL, true, false, 0, 0, NULL },
	{ "budget_s", V_NUM, false, false, 0, BIG, NULL },
	{ "problems", V_ARR, true, false, 0, STATUS_MAX_PROBLEMS, NULL },
	{ NULL, V_ANY, false, false, 0, 0, NULL }
};

static const char *const kind_names[] = {
	[V_STR] = "a string", [V_INT] = "an integer", [V_NUM] = "a number",
	[V_BOOL] = "true or false", [V_TIME] = "an RFC 3339 UTC time string",
	[V_OBJ] = "an object", [V_ARR] = "an array", [V_ANY] = "a value",
};

static bool in_choices(const char *s, const char *const *choices)
{
	for (; *choices; choices++)
		if (!strcmp(s, *choices))
			return true;
	return false;
}

/* Check one present, non-null value against its field description; err
 * gets the reason only (the caller adds the field's path). */
static int check_value(json_t *v, const struct vfield *f, char *err, size_t errlen)
{
	int64_t us;

	switch (f->kind) {
	case V_STR:
		if (!json_is_string(v))
			break;
		if (json_string_length(v) > (size_t)f->max || json_string_length(v) < (size_t)f->min) {
			snprintf(err, errlen, "expected a string of %.0f to %.0f bytes",
				 f->min, f->max);
			return STATUS_ESCHEMA;
		}
		if (f->choices && !in_choices(json_string_value(v), f->choices)) {
			snprintf(err, errlen, "'%s' is not an allowed value",
				 json_string_value(v));
			return STATUS_ESCHEMA;
		}
		return STATUS_OK;
	case V_INT:
	case V_NUM:
		if (f->kind == V_INT ? !json_is_integer(v) : !json_is_number(v))
			break;
		if (!(json_number_value(v) >= f->min && json_number_value(v) <= f->max)) {
			snprintf(err, errlen, "%g is outside [%g, %g]", json_number_value(v),
				 f->min, f->max);
			return STATUS_ESCHEMA;
		}
		return STATUS_OK;
	case V_BOOL:
		if (json_is_boolean(v))
			return STATUS_OK;
		break;
	case V_TIME:
		if (json_is_string(v) && status_parse_time(json_string_value(v), &us) == 0)
			return STATUS_OK;
		break;
	case V_OBJ:
		if (json_is_object(v))
			return STATUS_OK;
		break;
	case V_ARR:
		if (!json_is_array(v))
			break;
		if (json_array_size(v) > (size_t)f->max) {
			snprintf(err, errlen, "more than %.0f elements", f->max);
			return STATUS_ESCHEMA;
		}
		return STATUS_OK;
	case V_ANY:
		return STATUS_OK;
	}
	snprintf(err, errlen, "expected %s%s", kind_names[f->kind],
		 f->nullable ? " or null" : "");
	return STATUS_ESCHEMA;
}

/* Check every described field of obj; prefix names obj in messages. The
 * path is only formatted for an error (this runs for every report). */
int status_check_fields(json_t *obj, const char *prefix, const struct vfield *fields, char *err,
			size_t errlen)
{
	char why[200];

	for (const struct vfield *f = fields; f->key; f++) {
		json_t *v = json_object_get(obj, f->key);

		if (v && !json_is_null(v) && f->kind == V_ANY)
			continue;
		if (!v && !f->required)
			continue;
		if (v && json_is_null(v) && f->nullable)
			continue;
		if (!v)
			snprintf(why, sizeof(why), "missing");
		else if (json_is_null(v))
			snprintf(why, sizeof(why), "expected %s, not null", kind_names[f->kind]);
		else if (check_value(v, f, why, sizeof(why)) == STATUS_OK)
			continue;
		snprintf(err, errlen, "%s%s%s: %s", prefix, *prefix ? "." : "", f->key, why);
		return STATUS_ESCHEMA;
	}
	return STATUS_OK;
}

/* Depth of nesting; stops counting past limit. */
static int depth_of(json_t *v, int limit)
{
	int d = 0, sub;
	size_t i;
	const char *k;
	json_t *x;

	if (limit <= 0)
		return 1;
	if (json_is_object(v)) {
		json_object_foreach(v, k, x) {
			sub = depth_of(x, limit - 1);
			d = sub > d ? sub : d;
		}
		return d + 1;
	}
	if (json_is_array(v)) {
		json_array_foreach(v, i, x) {
			sub = depth_of(x, limit - 1);
			d = sub > d ? sub : d;
		}
		return d + 1;
	}
	return 0;
}

static bool host_name_ok(const char *h)
{
	if (!*h || *h == '.' || *h == '-')
		return false;
	for (; *h; h++)
		if (!isalnum((unsigned char)*h) && *h != '-' && *h != '.' && *h != '_')
			return false;
	return true;
}

static int check_sources(json_t *sources, char *err, size_t errlen)
{
	char prefix[64];
	size_t i;
	json_t *s, *stats;
	int rc;

	json_array_foreach(sources, i, s) {
		snprintf(prefix, sizeof(prefix), "chrony.sources[%zu]", i);
		if (!json_is_object(s)) {
			snprintf(err, errlen, "%s: expected an object", prefix);
			return STATUS_ESCHEMA;
		}
		rc = status_check_fields(s, prefix, source_fields, err, errlen);
		if (rc)
			return rc;
		stats = json_object_get(s, "stats");
		if (json_is_object(stats)) {
			strncat(prefix, ".stats", sizeof(prefix) - strlen(prefix) - 1);
			rc = status_check_fields(stats, prefix, stats_fields, err, errlen);
			if (rc)
				return rc;
		}
	}
	return STATUS_OK;
}

static int check_problems(json_t *problems, char *err, size_t errlen)
{
	size_t i;
	json_t *p;

	json_array_foreach(problems, i, p) {
		if (!json_is_string(p) || json_string_length(p) > 512) {
			snprintf(err, errlen, "check.problems[%zu]: expected a string of at most 512 bytes", i);
			return STATUS_ESCHEMA;
		}
	}
	return STATUS_OK;
}

enum status_parse_result status_validate(json_t *doc, struct status_info *info, char *err,
					 size_t errlen)
{
	json_t *schema, *sub;
	int rc;

	if (!json_is_object(doc)) {
		snprintf(err, errlen, "(document): expected an object");
		return STATUS_ESCHEMA;
	}
	if (depth_of(doc, STATUS_MAX_DEPTH + 1) > STATUS_MAX_DEPTH) {
		snprintf(err, errlen, "(document): nested deeper than %d levels", STATUS_MAX_DEPTH);
		return STATUS_ESCHEMA;
	}
	schema = json_object_get(doc, "schema");
	if (json_is_string(schema) && strcmp(json_string_value(schema), STATUS_SCHEMA)) {
		snprintf(err, errlen, "schema: '%.64s' is not supported (expected '%s')",
			 json_string_value(schema), STATUS_SCHEMA);
		return STATUS_ESCHEMA;
	}
	rc = status_check_fields(doc, "", top_fields, err, errlen);
	if (rc)
		return rc;
	if (!host_name_ok(json_string_value(json_object_get(doc, "host")))) {
		snprintf(err, errlen, "host: only letters, digits, '-', '_' and '.' are allowed");
		return STATUS_ESCHEMA;
	}
	sub = json_object_get(doc, "chrony");
	if (json_is_object(sub)) {
		if ((rc = status_check_fields(sub, "chrony", chrony_fields, err, errlen)) ||
		    (rc = status_check_fields(json_object_get(sub, "tracking"), "chrony.tracking",
				       tracking_fields, err, errlen)) ||
		    (rc = check_sources(json_object_get(sub, "sources"), err, errlen)))
			return rc;
		if (json_is_object(json_object_get(sub, "selected")) &&
		    (rc = status_check_fields(json_object_get(sub, "selected"), "chrony.selected",
					      selected_fields, err, errlen)))
			return rc;
	}
	sub = json_object_get(doc, "rtc");
	if (json_is_object(sub) && (rc = status_check_fields(sub, "rtc", rtc_fields, err, errlen)))
		return rc;
	sub = json_object_get(doc, "election");
	if (json_is_object(sub) && (rc = status_check_election(sub, err, errlen)))
		return rc;
	sub = json_object_get(doc, "check");
	if (json_is_object(sub) &&
	    ((rc = status_check_fields(sub, "check", check_obj_fields, err, errlen)) ||
	     (rc = check_problems(json_object_get(sub, "problems"), err, errlen))))
		return rc;
	sub = json_object_get(doc, "report_queue");
	if (json_is_object(sub) &&
	    (rc = status_check_fields(sub, "report_queue", report_queue_fields, err, errlen)))
		return rc;
	if (info)
		status_fill_info(doc, info);
	return STATUS_OK;
}

enum status_parse_result status_parse(const char *buf, size_t len, struct status_info *info,
				      json_t **doc, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *d;
	int rc;

	if (len > STATUS_MAX_BYTES) {
		snprintf(err, errlen, "(document): %zu bytes, more than %d", len, STATUS_MAX_BYTES);
		return STATUS_ESCHEMA;
	}
	/* the quick decoder for the usual report; jansson's for the rest, and
	 * for the error message */
	d = json_fast_loadb(buf, len);
	if (!d)
		d = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!d) {
		snprintf(err, errlen, "invalid JSON at line %d, column %d (byte %d): %s", jerr.line,
			 jerr.column, jerr.position, jerr.text);
		return STATUS_EJSON;
	}
	rc = status_validate(d, info, err, errlen);
	if (rc || !doc)
		json_decref(d);
	else
		*doc = d;
	return rc;
}
