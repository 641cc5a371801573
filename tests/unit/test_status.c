/* Unit tests for common/status: build, parse, validate. Expected values
 * are worked out by hand from the inputs, not taken from the code. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report/status.h"
#include "check_run.h"

static void fill_snapshot(struct chrony_snapshot *s)
{
	memset(s, 0, sizeof(*s));
	s->tracking.ref_id = 0xC0A80001;
	s->tracking.ip.family = CHRONY_AF_INET4;
	s->tracking.ip.addr.in4 = 0x7F000401;	/* 127.0.4.1 */
	s->tracking.stratum = 3;
	s->tracking.leap_status = CHRONY_LEAP_NORMAL;
	s->tracking.ref_time = (struct timespec){ 1795291200, 0 };
	s->tracking.current_correction = 0.001;	/* system clock 1 ms slow */
	s->tracking.root_delay = 0.004;
	s->tracking.root_dispersion = 0.0005;
	s->tracking.freq_ppm = -12.5;
	s->tracking.last_update_interval = 64;
	s->n_sources = 2;
	s->sources[0].data.ip = s->tracking.ip;
	s->sources[0].data.stratum = 2;
	s->sources[0].data.state = CHRONY_SRC_SELECTED;
	s->sources[0].data.reachability = 0377;
	s->sources[0].data.since_sample = 12;
	s->sources[0].data.latest_meas = -0.0002;
	s->sources[0].data.latest_meas_err = 0.0001;
	s->sources[0].have_stats = true;
	s->sources[0].stats.n_samples = 8;
	s->sources[0].stats.sd = 0.00003;
	snprintf(s->sources[0].name, sizeof(s->sources[0].name), "master.lan");
	s->sources[1].data.ip.family = CHRONY_AF_INET4;
	s->sources[1].data.ip.addr.in4 = 0x7F000402;
	s->sources[1].data.state = CHRONY_SRC_NONSELECTABLE;
	s->sources[1].data.since_sample = CHRONY_NO_SAMPLE;
}

static const struct status_meta meta = {
	"pi-07", "headset", "0.1.0", { 1795291210, 250000000 }
};

/* The election's view as agent/election/election_view.c writes it: a
 * failover following the master, one quarantined upstream. */
static const char election_view[] =
	"{\"state\": \"following\", \"master\": \"master\", \"master_is_self\": false,"
	" \"reason\": \"better dataset\", \"serving\": false, \"local_on\": false, \"eligible\": true,"
	" \"self\": {\"priority1\": 128, \"clock_class\": 6, \"class\": \"locked\", \"accuracy\": 41,"
	"  \"accuracy_bound_s\": 0.001, \"variance\": 20000, \"priority2\": 129,"
	"  \"identity\": \"0123456789abcdef\", \"steps_removed\": 1, \"error_bound_s\": null},"
	" \"candidates\": [{\"name\": \"master\", \"dataset\": {\"priority1\": 128,"
	"  \"clock_class\": 6, \"class\": \"locked\", \"accuracy\": 40, \"accuracy_bound_s\": -1,"
	"  \"variance\": 18000, \"priority2\": 128, \"identity\": \"fedcba9876543210\","
	"  \"steps_removed\": 0}, \"serving\": true, \"eligible\": true, \"age_s\": 0.4,"
	"  \"master\": true, \"ntp\": \"127.0.4.1:123\"}],"
	" \"announces\": {\"ok\": 120, \"unsigned\": 0, \"stale\": 1, \"replayed\": 0, \"malformed\": 0},"
	" \"upstreams\": [{\"address\": \"127.0.4.9\", \"offline\": true, \"offset_s\": -1.5e9}],"
	" \"rejoin\": {\"steps\": 0, \"last_step_s\": 0, \"last_offset_s\": null, \"holdoff_left_s\": 0},"
	" \"holdover_freq\": {\"enabled\": true, \"ppm\": -12.4, \"span_s\": 600, \"samples\": 60,"
	"  \"rms_s\": 2e-5, \"resets\": 0, \"applied\": null}}";

static json_t *good_doc(void)
{
	static struct chrony_snapshot snap;
	struct status_rtc rtc = { .present = true, .backend = "ds1307", .device = "/dev/i2c-1",
				  .valid = true, .have_offset = true, .offset_s = 0.003 };
	struct status_check check = { .ready = false, .budget_s = 0.005, .n_problems = 1,
				      .problems = { "offset too large" } };

	struct status_report_queue q = { .queued = 3 };
	json_t *d;

	struct spread_sel sel = { .have = true, .master = "127.0.4.10", .master_root_delay_s = 0.010,
				  .master_root_dispersion_s = 0.001, .hop_delay_s = 0.002,
				  .hop_dispersion_s = 0.0005 };

	fill_snapshot(&snap);
	d = status_build(&meta, &snap, NULL, &rtc, &check);
	json_object_set_new(d, "report_queue", status_build_report_queue(&q));
	json_object_set_new(json_object_get(d, "chrony"), "selected", status_build_selected(&sel));
	json_object_set_new(d, "relative_error_s", json_real(0.001));
	return d;
}

/* A document with the election's view in it, built by status_build_election. */
static json_t *election_doc(void)
{
	static struct chrony_snapshot snap;

	fill_snapshot(&snap);
	return status_build_election(&meta, &snap, NULL, NULL, NULL,
				     json_loads(election_view, 0, NULL));
}

START_TEST(test_report_queue)
{
	struct status_report_queue q = {
		.in_memory = true, .queued = 7, .in_memory_count = 5, .unremoved = 2,
		.dropped = 1, .error = "spool /var/lib/x: create a file: Read-only file system",
		.delivery = "refused", .delivery_error = "POST http://c/api: HTTP 401",
	};
	json_t *o = status_build_report_queue(&q), *d = good_doc();
	char *text, *want = "{\"storage\":\"memory\",\"queued\":7,\"in_memory\":5,"
		"\"unremoved\":2,\"dropped\":1,\"error\":\"spool /var/lib/x: create a file: "
		"Read-only file system\",\"delivery\":\"refused\",\"delivery_error\":"
		"\"POST http://c/api: HTTP 401\"}";
	char err[256] = "";

	text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	ck_assert_str_eq(text, want);
	free(text);
	/* nothing wrong: nulls, not empty strings */
	json_decref(o);
	o = status_build_report_queue(&(struct status_report_queue){ .queued = 0 });
	ck_assert(json_is_null(json_object_get(o, "error")));
	ck_assert(json_is_null(json_object_get(o, "delivery_error")));
	ck_assert_str_eq(json_string_value(json_object_get(o, "storage")), "disk");
	ck_assert_str_eq(json_string_value(json_object_get(o, "delivery")), "ok");
	json_decref(o);
	/* valid in a document, optional, nullable */
	json_object_set_new(d, "report_queue", status_build_report_queue(&q));
	ck_assert_msg(status_validate(d, NULL, err, sizeof(err)) == STATUS_OK, "%s", err);
	json_object_set_new(d, "report_queue", json_null());
	ck_assert_msg(status_validate(d, NULL, err, sizeof(err)) == STATUS_OK, "%s", err);
	json_object_del(d, "report_queue");
	ck_assert_msg(status_validate(d, NULL, err, sizeof(err)) == STATUS_OK, "%s", err);
	json_decref(d);
}
END_TEST

START_TEST(test_build_fields)
{
	json_t *d = good_doc(), *t, *src;

	ck_assert_ptr_nonnull(d);
	ck_assert_str_eq(json_string_value(json_object_get(d, "schema")), "fleetclock.status/1");
	ck_assert_str_eq(json_string_value(json_object_get(d, "host")), "pi-07");
	ck_assert_str_eq(json_string_value(json_object_get(d, "sent_at")),
			 "2026-11-21T20:00:10.250000Z");
	t = json_object_get(json_object_get(d, "chrony"), "tracking");
	ck_assert_str_eq(json_string_value(json_object_get(t, "ref_id")), "C0A80001");
	ck_assert_str_eq(json_string_value(json_object_get(t, "ref_address")), "127.0.4.1");
	ck_assert_str_eq(json_string_value(json_object_get(t, "leap")), "normal");
	/* a slow clock (positive correction) has a negative offset */
	ck_assert_double_eq_tol(json_real_value(json_object_get(t, "offset_s")), -0.001, 1e-12);
	ck_assert(json_is_true(json_object_get(t, "synchronised")));
	/* 1 ms + 4 ms / 2 + 0.5 ms */
	ck_assert_double_eq_tol(json_real_value(json_object_get(d, "max_error_s")), 0.0035, 1e-12);
	src = json_array_get(json_object_get(json_object_get(d, "chrony"), "sources"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(src, "name")), "master.lan");
	ck_assert_str_eq(json_string_value(json_object_get(src, "state")), "selected");
	ck_assert_int_eq(json_integer_value(json_object_get(src, "reach")), 255);
	src = json_array_get(json_object_get(json_object_get(d, "chrony"), "sources"), 1);
	ck_assert_str_eq(json_string_value(json_object_get(src, "name")), "127.0.4.2");
	ck_assert(json_is_null(json_object_get(src, "last_rx_s")));
	ck_assert(json_is_null(json_object_get(src, "stats")));
	ck_assert(json_is_null(json_object_get(d, "election")));
	json_decref(d);
}
END_TEST

START_TEST(test_round_trip)
{
	json_t *d = good_doc(), *back = NULL;
	char *text = json_dumps(d, JSON_COMPACT), err[256] = "";
	struct status_info info;

	ck_assert_int_eq(status_parse(text, strlen(text), &info, &back, err, sizeof(err)), STATUS_OK);
	ck_assert_str_eq(info.host, "pi-07");
	ck_assert_str_eq(info.role, "headset");
	ck_assert(info.sent_at_us == 1795291210250000LL);
	ck_assert(info.have_tracking && info.synchronised);
	ck_assert_int_eq(info.stratum, 3);
	ck_assert_double_eq_tol(info.max_error_s, 0.0035, 1e-12);
	ck_assert(info.rtc_present && info.rtc_valid && info.rtc_have_offset);
	ck_assert_double_eq_tol(info.rtc_offset_s, 0.003, 1e-12);
	ck_assert_int_eq(info.check_ready, 0);
	ck_assert(info.sel.have);
	ck_assert_str_eq(info.sel.master, "127.0.4.10");
	ck_assert_double_eq_tol(info.sel.master_root_delay_s, 0.010, 1e-12);
	ck_assert_double_eq_tol(info.sel.master_root_dispersion_s, 0.001, 1e-12);
	ck_assert_double_eq_tol(info.sel.hop_delay_s, 0.002, 1e-12);
	ck_assert_double_eq_tol(info.sel.hop_dispersion_s, 0.0005, 1e-12);
	ck_assert(json_equal(d, back));
	json_decref(back);
	json_decref(d);
	free(text);
}
END_TEST

START_TEST(test_no_chrony)
{
	json_t *d = status_build(&meta, NULL, "chronyd socket /run/x: connection refused", NULL, NULL);
	char *text = json_dumps(d, 0), err[256];
	struct status_info info;

	ck_assert(json_is_null(json_object_get(d, "chrony")));
	ck_assert_str_eq(json_string_value(json_object_get(d, "chrony_error")),
			 "chronyd socket /run/x: connection refused");
	ck_assert_int_eq(status_parse(text, strlen(text), &info, NULL, err, sizeof(err)), STATUS_OK);
	ck_assert(!info.have_tracking);
	ck_assert(isnan(info.max_error_s));
	ck_assert(!info.rtc_present);
	ck_assert_int_eq(info.check_ready, -1);
	json_decref(d);
	free(text);
}
END_TEST

/* Set (or delete when v is NULL) the member at a dotted path of objects. */
static void mutate(json_t *d, const char *path, json_t *v)
{
	char buf[128], *dot, *p = buf;

	snprintf(buf, sizeof(buf), "%s", path);
	while ((dot = strchr(p, '.'))) {
		*dot = '\0';
		d = json_object_get(d, p);
		p = dot + 1;
	}
	if (v)
		json_object_set_new(d, p, v);
	else
		json_object_del(d, p);
}

static const struct bad_case {
	const char *path;
	const char *value;	/* JSON text, NULL: delete the member */
	const char *err_prefix;
} bad_cases[] = {
	{ "schema", "\"fleetclock.status/2\"", "schema: 'fleetclock.status/2' is not supported" },
	{ "schema", NULL, "schema: missing" },
	{ "schema", "1", "schema: expected a string" },
	{ "host", NULL, "host: missing" },
	{ "host", "\"\"", "host: expected a string of 1 to 63" },
	{ "host", "\"pi 07\"", "host: only letters" },
	{ "role", "\"boss\"", "role: 'boss' is not an allowed value" },
	{ "sent_at", "\"yesterday\"", "sent_at: expected an RFC 3339" },
	{ "sent_at", "1795291210", "sent_at: expected an RFC 3339" },
	{ "chrony.tracking.stratum", "\"3\"", "chrony.tracking.stratum: expected an integer" },
	{ "chrony.tracking.stratum", "17", "chrony.tracking.stratum: 17 is outside [0, 16]" },
	{ "chrony.tracking.root_delay_s", "-1.0", "chrony.tracking.root_delay_s: -1 is outside" },
	{ "chrony.tracking.offset_s", "null", "chrony.tracking.offset_s: expected a number, not null" },
	{ "chrony.tracking.leap", "\"maybe\"", "chrony.tracking.leap: 'maybe' is not" },
	{ "chrony.tracking.synchronised", "1", "chrony.tracking.synchronised: expected true or false" },
	{ "chrony.tracking", NULL, "chrony.tracking: missing" },
	{ "chrony.sources", "{}", "chrony.sources: expected an array" },
	{ "chrony.sources", "[1]", "chrony.sources[0]: expected an object" },
	{ "rtc.valid", NULL, "rtc.valid: missing" },
	{ "check.problems", "[1]", "check.problems[0]: expected a string" },
	{ "election", "[]", "election: expected an object" },
	{ "report_queue", "[]", "report_queue: expected an object" },
	{ "chrony.selected", "[]", "chrony.selected: expected an object" },
	{ "chrony.selected.address", NULL, "chrony.selected.address: missing" },
	{ "chrony.selected.peer_delay_s", "-0.001", "chrony.selected.peer_delay_s: -0.001 is outside" },
	{ "relative_error_s", "-1", "relative_error_s: -1 is outside" },
	{ "report_queue.storage", "\"tape\"", "report_queue.storage: 'tape' is not" },
	{ "report_queue.storage", NULL, "report_queue.storage: missing" },
	{ "report_queue.queued", "-1", "report_queue.queued: -1 is outside" },
	{ "report_queue.queued", "1.5", "report_queue.queued: expected an integer" },
	{ "report_queue.error", "5", "report_queue.error: expected a string" },
	{ "report_queue.delivery", "\"maybe\"", "report_queue.delivery: 'maybe' is not" },
	{ "election", "{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":"
		      "{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":1}}}}}}}}}}}}}}}}", "(document): nested deeper" },
};

static const struct bad_case bad_election_cases[] = {
	{ "election.state", "\"boss\"", "election.state: 'boss' is not an allowed value" },
	{ "election.serving", NULL, "election.serving: missing" },
	{ "election.master", "7", "election.master: expected a string or null" },
	{ "election.self.priority1", "300", "election.self.priority1: 300 is outside" },
	{ "election.candidates", "{}", "election.candidates: expected an array" },
	{ "election.candidates", "[1]", "election.candidates[0]: expected an object" },
	{ "election.announces.ok", "-1", "election.announces.ok: -1 is outside" },
	{ "election.rejoin.holdoff_left_s", "\"soon\"", "election.rejoin.holdoff_left_s: expected a number" },
	{ "election.holdover_freq.applied", "[]", "election.holdover_freq.applied: expected an object or null" },
};

START_TEST(test_bad_election)
{
	const struct bad_case *c = &bad_election_cases[_i];
	json_t *d = election_doc();
	char err[256] = "";

	ck_assert_msg(status_validate(d, NULL, err, sizeof(err)) == STATUS_OK, "%s", err);
	mutate(d, c->path, c->value ? json_loads(c->value, JSON_DECODE_ANY, NULL) : NULL);
	ck_assert_int_eq(status_validate(d, NULL, err, sizeof(err)), STATUS_ESCHEMA);
	ck_assert_msg(!strncmp(err, c->err_prefix, strlen(c->err_prefix)),
		      "case %d: got '%s', want prefix '%s'", _i, err, c->err_prefix);
	json_decref(d);
}
END_TEST

START_TEST(test_bad_documents)
{
	const struct bad_case *c = &bad_cases[_i];
	json_t *d = good_doc();
	char *text, err[256] = "";
	struct status_info info;

	mutate(d, c->path, c->value ? json_loads(c->value, JSON_DECODE_ANY, NULL) : NULL);
	text = json_dumps(d, JSON_COMPACT);
	ck_assert_int_eq(status_parse(text, strlen(text), &info, NULL, err, sizeof(err)),
			 STATUS_ESCHEMA);
	ck_assert_msg(!strncmp(err, c->err_prefix, strlen(c->err_prefix)),
		      "case %d: got '%s', want prefix '%s'", _i, err, c->err_prefix);
	json_decref(d);
	free(text);
}
END_TEST

/* Deeper than mutate() reaches: a candidate's dataset, an upstream, the
 * applied holdover; a document without an election (null) is valid. */
START_TEST(test_election_section)
{
	json_t *d = election_doc(), *e = json_object_get(d, "election"), *cand, *ds;
	char err[256] = "";

	ck_assert_msg(status_validate(d, NULL, err, sizeof(err)) == STATUS_OK, "%s", err);
	cand = json_array_get(json_object_get(e, "candidates"), 0);
	ds = json_object_get(cand, "dataset");
	json_object_set_new(ds, "identity", json_integer(1));
	ck_assert_int_eq(status_validate(d, NULL, err, sizeof(err)), STATUS_ESCHEMA);
	ck_assert_str_eq(err, "election.candidates[0].dataset.identity: expected a string");
	json_object_set_new(ds, "identity", json_string("fedcba9876543210"));
	json_object_set_new(json_array_get(json_object_get(e, "upstreams"), 0), "offline", json_null());
	ck_assert_int_eq(status_validate(d, NULL, err, sizeof(err)), STATUS_ESCHEMA);
	ck_assert_str_eq(err, "election.upstreams[0].offline: expected true or false, not null");
	json_object_set_new(json_array_get(json_object_get(e, "upstreams"), 0), "offline", json_true());
	json_object_set_new(json_object_get(e, "holdover_freq"), "applied",
			    json_pack("{s:f, s:n, s:n, s:n, s:f}", "ppm", -12.4, "chronyd_ppm",
				      "delta_ppm", "phase_s", "ago_s", 30.0));
	ck_assert_msg(status_validate(d, NULL, err, sizeof(err)) == STATUS_OK, "%s", err);
	json_object_del(json_object_get(json_object_get(e, "holdover_freq"), "applied"), "ago_s");
	ck_assert_int_eq(status_validate(d, NULL, err, sizeof(err)), STATUS_ESCHEMA);
	ck_assert_str_eq(err, "election.holdover_freq.applied.ago_s: missing");
	json_object_set_new(d, "election", json_null());
	ck_assert_msg(status_validate(d, NULL, err, sizeof(err)) == STATUS_OK, "%s", err);
	json_decref(d);
}
END_TEST

/* What a collector re-reads of a stored report beside its index row: the
 * selected source and authenticated flag from the document; nothing from
 * a missing (retention) or unreadable one. */
START_TEST(test_fill_stored)
{
	static const char doc[] =
		"{\"chrony\":{\"tracking\":{\"offset_s\":0},\"authenticated\":true,"
		"\"selected\":{\"address\":\"192.0.2.7\",\"root_delay_s\":0.002,"
		"\"root_dispersion_s\":0.0005,\"peer_delay_s\":0.004,\"peer_dispersion_s\":0.0003}}}";
	static const char *const none[] = { NULL, "not json", "{\"chrony\":null}" };
	struct status_info i;

	memset(&i, 0, sizeof(i));
	i.offset_s = 0.25;	/* the index row's fields stay */
	status_info_fill_stored(doc, strlen(doc), &i);
	ck_assert(i.sel.have);
	ck_assert_str_eq(i.sel.master, "192.0.2.7");
	ck_assert_double_eq(i.sel.master_root_delay_s, 0.002);
	ck_assert_double_eq(i.sel.master_root_dispersion_s, 0.0005);
	ck_assert_double_eq(i.sel.hop_delay_s, 0.004);
	ck_assert_double_eq(i.sel.hop_dispersion_s, 0.0003);
	ck_assert_int_eq(i.authenticated, 1);
	ck_assert_double_eq(i.offset_s, 0.25);
	for (size_t k = 0; k < sizeof(none) / sizeof(none[0]); k++) {
		status_info_fill_stored(doc, strlen(doc), &i);
		status_info_fill_stored(none[k], none[k] ? strlen(none[k]) : 0, &i);
		ck_assert_msg(!i.sel.have && i.authenticated == -1, "%s", none[k] ? none[k] : "NULL");
	}
}
END_TEST

START_TEST(test_not_json)
{
	json_t *d = good_doc();
	char *text = json_dumps(d, JSON_COMPACT), err[256];
	struct status_info info;
	static const char big_prefix[] = "{\"pad\":\"";
	char *big;

	/* truncated */
	ck_assert_int_eq(status_parse(text, strlen(text) / 2, &info, NULL, err, sizeof(err)),
			 STATUS_EJSON);
	ck_assert_msg(strstr(err, "line 1, column"), "%s", err);
	ck_assert_int_eq(status_parse("{\n\"a\": tru }", 12, &info, NULL, err, sizeof(err)),
			 STATUS_EJSON);
	ck_assert_msg(strstr(err, "line 2"), "%s", err);
	ck_assert_int_eq(status_parse("", 0, &info, NULL, err, sizeof(err)), STATUS_EJSON);
	/* a bare value is JSON but not a document */
	ck_assert_int_eq(status_parse("[1,2]", 5, &info, NULL, err, sizeof(err)), STATUS_ESCHEMA);
	/* an embedded NUL is refused */
	ck_assert_int_eq(status_parse("{\"a\":\"\\u0000\"}", 14, &info, NULL, err, sizeof(err)),
			 STATUS_EJSON);
	/* over 64 KiB */
	big = malloc(70000);
	memset(big, 'x', 70000);
	memcpy(big, big_prefix, strlen(big_prefix));
	memcpy(big + 70000 - 2, "\"}", 2);
	ck_assert_int_eq(status_parse(big, 70000, &info, NULL, err, sizeof(err)), STATUS_ESCHEMA);
	ck_assert_msg(strstr(err, "70000 bytes"), "%s", err);
	free(big);
	json_decref(d);
	free(text);
}
END_TEST

START_TEST(test_time)
{
	int64_t us;
	char buf[40];

	ck_assert_int_eq(status_parse_time("2026-11-21T20:00:10.250Z", &us), 0);
	ck_assert(us == 1795291210250000LL);
	ck_assert_int_eq(status_parse_time("2026-11-21T20:00:10+00:00", &us), 0);
	ck_assert(us == 1795291210000000LL);
	ck_assert_int_eq(status_parse_time("1970-01-01T00:00:00.000001Z", &us), 0);
	ck_assert(us == 1);
	ck_assert_int_eq(status_parse_time("2026-11-21T20:00:10", &us), -EINVAL);
	ck_assert_int_eq(status_parse_time("2026-11-21T20:00:10.Z", &us), -EINVAL);
	ck_assert_int_eq(status_parse_time("2026-13-21T20:00:10Z", &us), -EINVAL);
	ck_assert_int_eq(status_parse_time("2026-11-21T20:00:10.1234567890Z", &us), -EINVAL);
	ck_assert_int_eq(status_parse_time("2026-11-21 20:00:10Z", &us), -EINVAL);
	ck_assert_str_eq(status_format_time(1795291210250000LL, buf, sizeof(buf)),
			 "2026-11-21T20:00:10.250000Z");
	/* UTC only, a real day, no leap second, not before 1970 */
	ck_assert_int_eq(status_parse_time("2026-11-21T22:00:10+02:00", &us), -EINVAL);
	ck_assert_int_eq(status_parse_time("2026-11-21T20:00:10-00:00", &us), -EINVAL);
	ck_assert_int_eq(status_parse_time("2026-11-21t20:00:10Z", &us), -EINVAL);
	ck_assert_int_eq(status_parse_time("2026-11-21T20:00:10z", &us), -EINVAL);
	ck_assert_int_eq(status_parse_time("2026-02-29T00:00:00Z", &us), -EINVAL);
	ck_assert_int_eq(status_parse_time("2026-11-31T00:00:00Z", &us), -EINVAL);
	ck_assert_int_eq(status_parse_time("2026-11-21T23:59:60Z", &us), -EINVAL);
	ck_assert_int_eq(status_parse_time("1969-12-31T23:59:59Z", &us), -EINVAL);
	ck_assert_int_eq(status_parse_time("2026-11-21T20:00:10Z ", &us), -EINVAL);
	ck_assert_int_eq(status_parse_time("", &us), -EINVAL);
	ck_assert_int_eq(status_parse_time(NULL, &us), -EINVAL);
	ck_assert_int_eq(status_parse_time("2028-02-29T00:00:00Z", &us), 0);
	ck_assert_int_eq(status_parse_time("9999-12-31T23:59:59.999999999Z", &us), 0);
	ck_assert(us == 253402300799999999LL);	/* nanoseconds cut to microseconds */
}
END_TEST

/* Against timegm for random valid times, 1970 to 9999, 0 to 9 fraction digits. */
START_TEST(test_time_against_timegm)
{
	static const int dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	unsigned seed = 99;

	for (int k = 0; k < 5000; k++) {
		struct tm tm = { 0 };
		int y = 1970 + rand_r(&seed) % 8030, m = 1 + rand_r(&seed) % 12;
		bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
		int d = 1 + rand_r(&seed) % (dim[m - 1] + (m == 2 && leap));
		int digits = rand_r(&seed) % 10;
		long frac = 0, scale = 1;
		char text[64], *p;
		int64_t us;

		tm.tm_year = y - 1900;
		tm.tm_mon = m - 1;
		tm.tm_mday = d;
		tm.tm_hour = rand_r(&seed) % 24;
		tm.tm_min = rand_r(&seed) % 60;
		tm.tm_sec = rand_r(&seed) % 60;
		p = text + snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d", y, m, d,
				    tm.tm_hour, tm.tm_min, tm.tm_sec);
		if (digits)
			*p++ = '.';
		for (int i = 0; i < digits; i++) {
			int c = rand_r(&seed) % 10;

			*p++ = (char)('0' + c);
			if (i < 6)
				frac = frac * 10 + c;
		}
		for (int i = digits; i < 6; i++)
			scale *= 10;
		snprintf(p, 8, "%s", k % 2 ? "Z" : "+00:00");
		ck_assert_msg(status_parse_time(text, &us) == 0, "%s", text);
		ck_assert_msg(us == (int64_t)timegm(&tm) * 1000000 + frac * scale, "%s", text);
	}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("status");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_build_fields);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_report_queue);
	tcase_add_test(tc, test_no_chrony);
	tcase_add_loop_test(tc, test_bad_documents, 0, sizeof(bad_cases) / sizeof(bad_cases[0]));
	tcase_add_test(tc, test_election_section);
	tcase_add_loop_test(tc, test_bad_election, 0,
			    sizeof(bad_election_cases) / sizeof(bad_election_cases[0]));
	tcase_add_test(tc, test_not_json);
	tcase_add_test(tc, test_fill_stored);
	tcase_add_test(tc, test_time);
	tcase_add_test(tc, test_time_against_timegm);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(suite());
}
