/* start_record.c - build and validate start records, see start_record.h. */
#include "report/start_record.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "time/timeutil.h"

/* Instants must lie in (0, START_NS_MAX): year 2096, far from overflow. */
#define START_NS_MAX 4000000000000000000LL
#define START_BOUND_MAX_S 1e9

static const char *const outcome_names[START_OUTCOME_COUNT] = {
	"started", "late", "no-ready", "refused", "exec-failed", "aborted",
};

const char *start_outcome_str(enum start_outcome o)
{
	return (unsigned)o < START_OUTCOME_COUNT ? outcome_names[o] : NULL;
}

int start_outcome_parse(const char *s, enum start_outcome *o)
{
	for (unsigned i = 0; s && i < START_OUTCOME_COUNT; i++) {
		if (!strcmp(s, outcome_names[i])) {
			*o = (enum start_outcome)i;
			return 0;
		}
	}
	return -EINVAL;
}

bool start_experiment_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= START_EXPERIMENT_MAX || *s == '-' || *s == '.')
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("-_.:+", *s))
			return false;
	return true;
}

static bool host_ok(const char *h)
{
	size_t n = strlen(h);

	if (n == 0 || n >= START_HOST_MAX || *h == '.' || *h == '-')
		return false;
	for (; *h; h++)
		if (!isalnum((unsigned char)*h) && *h != '-' && *h != '.' && *h != '_')
			return false;
	return true;
}

static struct timespec ns_to_ts(int64_t ns)
{
	return (struct timespec){ (time_t)(ns / NSEC_PER_SEC), (long)(ns % NSEC_PER_SEC) };
}

void start_experiment_default(int64_t target_ns, char *buf, size_t len)
{
	if (!timeutil_format_rfc3339(ns_to_ts(target_ns), 3, buf, len))
		snprintf(buf, len, "at-%lld", (long long)(target_ns / 1000000));
}

static json_t *ns_or_null(bool have, int64_t ns)
{
	return have ? json_integer(ns) : json_null();
}

json_t *start_record_to_json(const struct start_record *r)
{
	json_t *o = json_object(), *chrony;

	if (!o)
		return NULL;
	chrony = r->have_bound ? json_pack("{s:b, s:f}", "synchronised", r->synchronised,
					   "max_error_s", r->max_error_s) : json_null();
	json_object_set_new(o, "schema", json_string(START_RECORD_SCHEMA));
	json_object_set_new(o, "host", json_string(r->host));
	json_object_set_new(o, "experiment", json_string(r->experiment));
	json_object_set_new(o, "agent_version", json_string(r->agent_version));
	json_object_set_new(o, "outcome", json_string(start_outcome_str(r->outcome) ?
						       start_outcome_str(r->outcome) : "refused"));
	json_object_set_new(o, "reason", r->reason[0] ? json_string(r->reason) : json_null());
	json_object_set_new(o, "armed", json_boolean(r->armed));
	json_object_set_new(o, "target_ns", json_integer(r->target_ns));
	json_object_set_new(o, "ready_ns", ns_or_null(r->have_ready, r->ready_ns));
	json_object_set_new(o, "start_ns", ns_or_null(r->have_start, r->start_ns));
	json_object_set_new(o, "error_s", r->have_start ?
			    json_real((double)(r->start_ns - r->target_ns) * 1e-9) : json_null());
	json_object_set_new(o, "chrony", chrony ? chrony : json_null());
	json_object_set_new(o, "clock_steps", json_integer(r->clock_steps));
	json_object_set_new(o, "clock_step_total_s", json_real(r->clock_step_total_s));
	json_object_set_new(o, "sent_ns", json_integer(r->sent_ns));
	return o;
}

char *start_record_dumps(const struct start_record *r)
{
	json_t *o = start_record_to_json(r);
	char *s = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(12)) : NULL;

	json_decref(o);
	return s;
}

/* --- validation: one small checker per kind of field --- */

static int fail(char *err, size_t errlen, const char *field, const char *what)
{
	snprintf(err, errlen, "%s: %s", field, what);
	return START_ESCHEMA;
}

/* A string field of at most max - 1 bytes into buf ("" when null and
 * nullable). */
static int get_str(json_t *doc, const char *key, bool nullable, char *buf, size_t max,
		   char *err, size_t errlen)
{
	json_t *v = json_object_get(doc, key);

	buf[0] = '\0';
	if (nullable && (!v || json_is_null(v)))
		return START_OK;
	if (!json_is_string(v))
		return fail(err, errlen, key, nullable ? "expected a string or null" : "expected a string");
	if (json_string_length(v) >= max || strlen(json_string_value(v)) != json_string_length(v)) {
		snprintf(err, errlen, "%s: expected at most %zu bytes, no NUL", key, max - 1);
		return START_ESCHEMA;
	}
	memcpy(buf, json_string_value(v), json_string_length(v) + 1);
	return START_OK;
}

/* An instant in ns; *have false when null and nullable. */
static int get_ns(json_t *doc, const char *key, bool nullable, bool *have, int64_t *ns,
		  char *err, size_t errlen)
{
	json_t *v = json_object_get(doc, key);

	*have = false;
	*ns = 0;
	if (nullable && (!v || json_is_null(v)))
		return START_OK;
	if (!json_is_integer(v) || json_integer_value(v) <= 0 ||
	    json_integer_value(v) >= START_NS_MAX)
		return fail(err, errlen, key, nullable ?
			    "expected integer nanoseconds since the epoch, or null" :
			    "expected integer nanoseconds since the epoch");
	*have = true;
	*ns = (int64_t)json_integer_value(v);
	return START_OK;
}

static int get_chrony(json_t *doc, struct start_record *r, char *err, size_t errlen)
{
	json_t *c = json_object_get(doc, "chrony"), *s, *m;

	if (!c || json_is_null(c))
		return START_OK;
	if (!json_is_object(c))
		return fail(err, errlen, "chrony", "expected an object or null");
	s = json_object_get(c, "synchronised");
	m = json_object_get(c, "max_error_s");
	if (!json_is_boolean(s))
		return fail(err, errlen, "chrony.synchronised", "expected true or false");
	if (!json_is_number(m) || !isfinite(json_number_value(m)) || json_number_value(m) < 0 ||
	    json_number_value(m) > START_BOUND_MAX_S)
		return fail(err, errlen, "chrony.max_error_s", "expected seconds, 0 to 1e9");
	r->have_bound = true;
	r->synchronised = json_is_true(s);
	r->max_error_s = json_number_value(m);
	return START_OK;
}

static int get_steps(json_t *doc, struct start_record *r, char *err, size_t errlen)
{
	json_t *n = json_object_get(doc, "clock_steps"), *t = json_object_get(doc, "clock_step_total_s");

	if (!json_is_integer(n) || json_integer_value(n) < 0 ||
	    json_integer_value(n) > START_MAX_STEPS)
		return fail(err, errlen, "clock_steps", "expected an integer, 0 to 1000000");
	if (!json_is_number(t) || !isfinite(json_number_value(t)) ||
	    fabs(json_number_value(t)) > START_BOUND_MAX_S)
		return fail(err, errlen, "clock_step_total_s", "expected seconds, |s| <= 1e9");
	r->clock_steps = (unsigned)json_integer_value(n);
	r->clock_step_total_s = json_number_value(t);
	return START_OK;
}

static int get_identity(json_t *doc, struct start_record *r, char *err, size_t errlen)
{
	json_t *schema = json_object_get(doc, "schema"), *armed = json_object_get(doc, "armed");
	char outcome[16];
	int rc;

	if (!json_is_string(schema) || strcmp(json_string_value(schema), START_RECORD_SCHEMA)) {
		snprintf(err, errlen, "schema: expected '%s'", START_RECORD_SCHEMA);
		return START_ESCHEMA;
	}
	if ((rc = get_str(doc, "host", false, r->host, sizeof(r->host), err, errlen)) ||
	    (rc = get_str(doc, "experiment", false, r->experiment, sizeof(r->experiment), err, errlen)) ||
	    (rc = get_str(doc, "agent_version", true, r->agent_version, sizeof(r->agent_version),
			  err, errlen)) ||
	    (rc = get_str(doc, "outcome", false, outcome, sizeof(outcome), err, errlen)) ||
	    (rc = get_str(doc, "reason", true, r->reason, sizeof(r->reason), err, errlen)))
		return rc;
	if (!host_ok(r->host))
		return fail(err, errlen, "host", "only letters, digits, '-', '_' and '.' are allowed");
	if (!start_experiment_ok(r->experiment))
		return fail(err, errlen, "experiment",
			    "1-63 letters, digits, '-', '_', '.', ':' or '+', not starting with - or .");
	if (start_outcome_parse(outcome, &r->outcome) < 0)
		return fail(err, errlen, "outcome",
			    "expected started, late, no-ready, refused, exec-failed or aborted");
	if (!json_is_boolean(armed))
		return fail(err, errlen, "armed", "expected true or false");
	r->armed = json_is_true(armed);
	return START_OK;
}

static int get_times(json_t *doc, struct start_record *r, char *err, size_t errlen)
{
	json_t *e = json_object_get(doc, "error_s");
	bool have_target, have_sent;
	int rc;

	if ((rc = get_ns(doc, "target_ns", false, &have_target, &r->target_ns, err, errlen)) ||
	    (rc = get_ns(doc, "ready_ns", true, &r->have_ready, &r->ready_ns, err, errlen)) ||
	    (rc = get_ns(doc, "start_ns", true, &r->have_start, &r->start_ns, err, errlen)) ||
	    (rc = get_ns(doc, "sent_ns", false, &have_sent, &r->sent_ns, err, errlen)))
		return rc;
	if (e && !json_is_null(e) && !json_is_number(e))
		return fail(err, errlen, "error_s", "expected seconds or null");
	if ((r->outcome == START_STARTED || r->outcome == START_LATE) && !r->have_start)
		return fail(err, errlen, "start_ns", "a started or late start needs its start time");
	return START_OK;
}

enum start_parse_result start_record_parse(const char *buf, size_t len, struct start_record *out,
					   char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *doc;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len > START_RECORD_MAX_BYTES) {
		snprintf(err, errlen, "(document): %zu bytes, more than %d", len, START_RECORD_MAX_BYTES);
		return START_ESCHEMA;
	}
	doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc) {
		snprintf(err, errlen, "invalid JSON at line %d, column %d (byte %d): %s", jerr.line,
			 jerr.column, jerr.position, jerr.text);
		return START_EJSON;
	}
	if (!json_is_object(doc))
		rc = fail(err, errlen, "(document)", "expected an object");
	else if (!(rc = get_identity(doc, out, err, errlen)) && !(rc = get_times(doc, out, err, errlen)) &&
		 !(rc = get_chrony(doc, out, err, errlen)))
		rc = get_steps(doc, out, err, errlen);
	json_decref(doc);
	return rc;
}
