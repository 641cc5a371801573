/* Unit tests for common/start_record (pure): the record's JSON round trip
 * and its validation, as a table of documents and the field they break. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/start_record.h"
#include "check_run.h"

#define T0 1796289200000000000LL	/* 2026-12-03T09:13:20Z */

/* A valid record written from docs/start-record.md, with one field
 * replaced: key and its JSON value text (NULL: the valid one). */
static char *doc_with(const char *key, const char *value)
{
	static const char *const fields[][2] = {
		{ "schema", "\"fleetclock.start/1\"" }, { "host", "\"headset3\"" },
		{ "experiment", "\"show-7\"" }, { "agent_version", "\"0.1.0\"" },
		{ "outcome", "\"started\"" }, { "reason", "null" }, { "armed", "true" },
		{ "target_ns", "1796289200000000000" }, { "ready_ns", "1796289199200000000" },
		{ "start_ns", "1796289200000150000" }, { "error_s", "0.00015" },
		{ "chrony", "{\"synchronised\": true, \"max_error_s\": 0.0021}" },
		{ "clock_steps", "0" }, { "clock_step_total_s", "0.0" },
		{ "sent_ns", "1796289200001000000" },
	};
	char *buf = malloc(4096);
	size_t off = 0;

	off += (size_t)snprintf(buf + off, 4096 - off, "{");
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		const char *v = key && !strcmp(key, fields[i][0]) ? value : fields[i][1];

		if (!v)
			continue;	/* the field left out */
		off += (size_t)snprintf(buf + off, 4096 - off, "%s\"%s\": %s", off > 1 ? ", " : "",
					fields[i][0], v);
	}
	snprintf(buf + off, 4096 - off, "}");
	return buf;
}

START_TEST(test_valid_document)
{
	struct start_record r;
	char err[256] = "", *doc = doc_with(NULL, NULL);

	ck_assert_int_eq(start_record_parse(doc, strlen(doc), &r, err, sizeof(err)), START_OK);
	ck_assert_str_eq(r.host, "headset3");
	ck_assert_str_eq(r.experiment, "show-7");
	ck_assert_int_eq(r.outcome, START_STARTED);
	ck_assert(r.armed && r.have_ready && r.have_start && r.have_bound && r.synchronised);
	ck_assert_int_eq(r.start_ns - r.target_ns, 150000);
	ck_assert_int_eq(r.target_ns - r.ready_ns, 800000000);
	ck_assert_double_eq_tol(r.max_error_s, 0.0021, 1e-15);
	free(doc);
}
END_TEST

START_TEST(test_round_trip)
{
	struct start_record a = { .host = "pi-01", .experiment = "2026-12-03T09:13:20.000Z",
				  .agent_version = "0.1.0", .outcome = START_LATE,
				  .reason = "ready 0.2 s after TIME", .armed = true, .target_ns = T0,
				  .have_ready = true, .ready_ns = T0 + 200000000, .have_start = true,
				  .start_ns = T0 + 200100000, .have_bound = true, .synchronised = true,
				  .max_error_s = 0.004, .clock_steps = 2, .clock_step_total_s = -0.5,
				  .sent_ns = T0 + 300000000 };
	struct start_record b;
	char err[256] = "", *doc = start_record_dumps(&a);

	ck_assert_ptr_nonnull(doc);
	ck_assert_int_eq(start_record_parse(doc, strlen(doc), &b, err, sizeof(err)), START_OK);
	ck_assert_str_eq(b.host, a.host);
	ck_assert_str_eq(b.experiment, a.experiment);
	ck_assert_str_eq(b.reason, a.reason);
	ck_assert_int_eq(b.outcome, START_LATE);
	ck_assert_int_eq(b.target_ns, a.target_ns);
	ck_assert_int_eq(b.ready_ns, a.ready_ns);
	ck_assert_int_eq(b.start_ns, a.start_ns);
	ck_assert_int_eq(b.sent_ns, a.sent_ns);
	ck_assert_uint_eq(b.clock_steps, 2);
	ck_assert_double_eq_tol(b.clock_step_total_s, -0.5, 1e-12);
	ck_assert_double_eq_tol(b.max_error_s, 0.004, 1e-15);
	free(doc);
}
END_TEST

START_TEST(test_refused_without_times)
{
	struct start_record a = { .host = "h", .experiment = "e", .outcome = START_REFUSED,
				  .reason = "not ready: max error ...", .target_ns = T0,
				  .sent_ns = T0 - 1 }, b;
	char err[256] = "", *doc = start_record_dumps(&a);

	ck_assert_int_eq(start_record_parse(doc, strlen(doc), &b, err, sizeof(err)), START_OK);
	ck_assert(!b.have_start && !b.have_ready && !b.have_bound && !b.armed);
	ck_assert_int_eq(b.outcome, START_REFUSED);
	free(doc);
}
END_TEST

/* Each row breaks one field; the message must name it. */
static const struct bad {
	const char *key, *value;	/* value NULL: the field left out */
	const char *named;
} bad[] = {
	{ "schema", "\"fleetclock.start/2\"", "schema" },
	{ "schema", NULL, "schema" },
	{ "host", "\"\"", "host" },
	{ "host", "\"-pi\"", "host" },
	{ "host", "\"pi 01\"", "host" },
	{ "host", "\"0123456789012345678901234567890123456789012345678901234567890123\"", "host" },
	{ "host", "7", "host" },
	{ "experiment", NULL, "experiment" },
	{ "experiment", "\"a/b\"", "experiment" },
	{ "experiment", "\".hidden\"", "experiment" },
	{ "outcome", "\"early\"", "outcome" },
	{ "outcome", "null", "outcome" },
	{ "armed", "1", "armed" },
	{ "reason", "5", "reason" },
	{ "target_ns", NULL, "target_ns" },
	{ "target_ns", "1.7e18", "target_ns" },
	{ "target_ns", "-5", "target_ns" },
	{ "target_ns", "\"2026-12-03T09:13:20Z\"", "target_ns" },
	{ "target_ns", "9000000000000000000", "target_ns" },
	{ "start_ns", "null", "start_ns" },	/* started needs a start */
	{ "start_ns", "true", "start_ns" },
	{ "ready_ns", "0", "ready_ns" },
	{ "error_s", "\"0.1\"", "error_s" },
	{ "chrony", "[]", "chrony" },
	{ "chrony", "{\"synchronised\": true}", "chrony.max_error_s" },
	{ "chrony", "{\"synchronised\": 1, \"max_error_s\": 0.1}", "chrony.synchronised" },
	{ "chrony", "{\"synchronised\": true, \"max_error_s\": -0.1}", "chrony.max_error_s" },
	{ "chrony", "{\"synchronised\": true, \"max_error_s\": 1e300}", "chrony.max_error_s" },
	{ "clock_steps", "-1", "clock_steps" },
	{ "clock_steps", "1.5", "clock_steps" },
	{ "clock_steps", NULL, "clock_steps" },
	{ "clock_step_total_s", "null", "clock_step_total_s" },
	{ "sent_ns", NULL, "sent_ns" },
};

START_TEST(test_invalid_field)
{
	const struct bad *b = &bad[_i];
	struct start_record r;
	char err[256] = "", *doc = doc_with(b->key, b->value);

	ck_assert_msg(start_record_parse(doc, strlen(doc), &r, err, sizeof(err)) == START_ESCHEMA,
		      "accepted %s", doc);
	ck_assert_msg(strncmp(err, b->named, strlen(b->named)) == 0, "%s: message '%s'", b->named, err);
	free(doc);
}
END_TEST

START_TEST(test_not_json_or_not_object)
{
	/* jansson refuses a top level that is not an object or array, and NUL */
	static const char *const docs[] = { "", "{", "{\"host\": }", "\"x\"", "null",
					    "{\"host\": \"a\\u0000b\"}", "[1, 2]" };
	struct start_record r;
	char err[256];

	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		int rc = start_record_parse(docs[i], strlen(docs[i]), &r, err, sizeof(err));

		ck_assert_msg(rc == (i < 6 ? START_EJSON : START_ESCHEMA), "%s: %d", docs[i], rc);
	}
	/* duplicate keys are refused, as in status documents */
	ck_assert_int_eq(start_record_parse("{\"a\": 1, \"a\": 2}", 16, &r, err, sizeof(err)),
			 START_EJSON);
}
END_TEST

START_TEST(test_too_large)
{
	size_t n = START_RECORD_MAX_BYTES + 1;
	char *big = malloc(n), err[128];
	struct start_record r;

	memset(big, ' ', n);
	ck_assert_int_eq(start_record_parse(big, n, &r, err, sizeof(err)), START_ESCHEMA);
	ck_assert_ptr_nonnull(strstr(err, "more than"));
	free(big);
}
END_TEST

START_TEST(test_experiment_ids)
{
	char buf[32];

	ck_assert(start_experiment_ok("show-7"));
	ck_assert(start_experiment_ok("2026-12-03T09:13:20.000Z"));
	ck_assert(start_experiment_ok("run_1+2"));
	ck_assert(!start_experiment_ok(""));
	ck_assert(!start_experiment_ok("-x"));
	ck_assert(!start_experiment_ok("a b"));
	ck_assert(!start_experiment_ok("a&b"));
	ck_assert(!start_experiment_ok("0123456789012345678901234567890123456789012345678901234567890123"));
	start_experiment_default(T0 + 250999999, buf, sizeof(buf));
	ck_assert_str_eq(buf, "2026-12-03T09:13:20.250Z");
	ck_assert(start_experiment_ok(buf));
}
END_TEST

START_TEST(test_outcome_names)
{
	enum start_outcome o;

	for (int i = 0; i < START_OUTCOME_COUNT; i++) {
		ck_assert_int_eq(start_outcome_parse(start_outcome_str((enum start_outcome)i), &o), 0);
		ck_assert_int_eq(o, i);
	}
	ck_assert_ptr_null(start_outcome_str(START_OUTCOME_COUNT));
	ck_assert_int_lt(start_outcome_parse("waited", &o), 0);
	ck_assert_int_lt(start_outcome_parse(NULL, &o), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("start_record");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_valid_document);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_refused_without_times);
	tcase_add_loop_test(tc, test_invalid_field, 0, (int)(sizeof(bad) / sizeof(bad[0])));
	tcase_add_test(tc, test_not_json_or_not_object);
	tcase_add_test(tc, test_too_large);
	tcase_add_test(tc, test_experiment_ids);
	tcase_add_test(tc, test_outcome_names);
	suite_add_tcase(s, tc);
	return check_run(s);
}
