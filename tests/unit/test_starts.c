/* Unit tests for the collector's start records: the spread arithmetic
 * (collector/starts_view.c, pure) as a table worked out by hand, the JSON
 * and metrics it renders, and the store (collector/starts.c) against a
 * real SQLite file: the migration of a database made by an older
 * collector, duplicates, the list order. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "starts.h"
#include "starts_view.h"
#include "check_run.h"

#define T0 1796289200000000000LL
#define MS 1000000LL

/* A record of host: outcome, start error (ms; NAN: no start), bound (ms;
 * NAN: none). */
static struct starts_row row(const char *host, enum start_outcome o, double err_ms, double bound_ms)
{
	struct starts_row r = { .received_us = 1 };

	snprintf(r.rec.host, sizeof(r.rec.host), "%s", host);
	snprintf(r.rec.experiment, sizeof(r.rec.experiment), "e1");
	r.rec.outcome = o;
	r.rec.target_ns = T0;
	r.rec.sent_ns = T0 + 1;
	r.rec.have_start = !isnan(err_ms);
	r.rec.start_ns = r.rec.have_start ? T0 + (int64_t)llround(err_ms * MS) : 0;
	r.rec.have_bound = !isnan(bound_ms);
	r.rec.max_error_s = r.rec.have_bound ? bound_ms * 1e-3 : 0;
	r.rec.synchronised = true;
	return r;
}

static const struct starts_known_host known[] = {
	{ "h1", "headset" }, { "h2", "headset" }, { "h3", "headset" }, { "h4", "headset" },
	{ "m1", "master" },
};
#define NK (sizeof(known) / sizeof(known[0]))

/* The table: rows of one experiment and what the summary must say. */
static const struct spread_case {
	const char *what;
	struct { const char *host; enum start_outcome o; double err_ms, bound_ms; } r[4];
	size_t n;
	size_t started, late, failed, missing;
	double spread_ms, bound_spread_ms;	/* NAN: unknown (null) */
} cases[] = {
	{ "two on time: max(e+b) - min(e-b) = (0.5+2) - (0.5-2) (h1's interval holds h2's)",
	  { { "h1", START_STARTED, 0.5, 2 }, { "h2", START_STARTED, -0.2, 1 } }, 2,
	  2, 0, 0, 2, 0.7, 4.0 },
	{ "two on time, disjoint: (0.5+0.1) - (-0.2-0.3)",
	  { { "h1", START_STARTED, 0.5, 0.1 }, { "h2", START_STARTED, -0.2, 0.3 } }, 2,
	  2, 0, 0, 2, 0.7, 1.1 },
	{ "the widest interval need not hold the extreme errors",
	  { { "h1", START_STARTED, 0.1, 5 }, { "h2", START_STARTED, 0.3, 0.1 },
	    { "h3", START_STARTED, -0.1, 0.1 } }, 3,
	  3, 0, 0, 1, 0.4, 10.0 },
	{ "a late node widens the spread and is counted late",
	  { { "h1", START_STARTED, 0.0, 1 }, { "h2", START_LATE, 200.0, 1 } }, 2,
	  1, 1, 0, 2, 200.0, 202.0 },
	{ "refused and no-ready are not in the spread",
	  { { "h1", START_STARTED, 1.0, 1 }, { "h2", START_REFUSED, NAN, 1 },
	    { "h3", START_NO_READY, NAN, NAN }, { "h4", START_EXEC_FAILED, NAN, 1 } }, 4,
	  1, 0, 3, 0, 0.0, 2.0 },
	{ "an aborted agent (killed before its outcome) is failed, not missing, not in the spread",
	  { { "h1", START_STARTED, 1.0, 1 }, { "h2", START_ABORTED, NAN, 1 } }, 2,
	  1, 0, 1, 2, 0.0, 2.0 },
	{ "a started node without a bound: spread bound unknown",
	  { { "h1", START_STARTED, 1.0, 1 }, { "h2", START_STARTED, 2.0, NAN } }, 2,
	  2, 0, 0, 2, 1.0, NAN },
	{ "nobody started: no spread",
	  { { "h1", START_REFUSED, NAN, 1 } }, 1,
	  0, 0, 1, 3, NAN, NAN },
	{ "only masters took part: headsets without a record are not missing",
	  { { "m1", START_STARTED, 0.0, 0.5 } }, 1,
	  1, 0, 0, 0, 0.0, 1.0 },
};

START_TEST(test_spread_table)
{
	const struct spread_case *c = &cases[_i];
	struct starts_row rows[4];
	size_t miss[NK];
	struct starts_summary s;

	for (size_t i = 0; i < c->n; i++)
		rows[i] = row(c->r[i].host, c->r[i].o, c->r[i].err_ms, c->r[i].bound_ms);
	starts_summarize(rows, c->n, known, NK, &s, miss);
	ck_assert_msg(s.started == c->started && s.late == c->late && s.failed == c->failed &&
		      s.missing == c->missing, "%s: started %zu late %zu failed %zu missing %zu",
		      c->what, s.started, s.late, s.failed, s.missing);
	if (isnan(c->spread_ms))
		ck_assert_msg(!s.have_spread, "%s", c->what);
	else
		ck_assert_msg(s.have_spread && fabs(s.spread_s * 1e3 - c->spread_ms) < 1e-6,
			      "%s: spread %.9f ms", c->what, s.spread_s * 1e3);
	if (isnan(c->bound_spread_ms))
		ck_assert_msg(!s.bound_known && isnan(s.spread_bound_s), "%s", c->what);
	else
		ck_assert_msg(s.bound_known && fabs(s.spread_bound_s * 1e3 - c->bound_spread_ms) < 1e-6,
			      "%s: spread bound %.9f ms", c->what, s.spread_bound_s * 1e3);
	for (size_t k = 0; k < s.missing; k++)
		for (size_t i = 0; i < c->n; i++)
			ck_assert_str_ne(known[miss[k]].host, rows[i].rec.host);
}
END_TEST

START_TEST(test_experiment_json)
{
	struct starts_row rows[] = { row("h1", START_STARTED, 0.5, 2), row("h2", START_LATE, 30, 1) };
	char *text = starts_view_experiment_json("e1", rows, 2, known, NK);
	json_t *j = json_loads(text, 0, NULL), *h;

	ck_assert_ptr_nonnull(j);
	ck_assert_str_eq(json_string_value(json_object_get(j, "experiment")), "e1");
	ck_assert_double_eq_tol(json_real_value(json_object_get(j, "spread_bound_s")), 0.0325, 1e-12);
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(j, "late"), 0)), "h2");
	ck_assert_int_eq(json_array_size(json_object_get(j, "missing")), 2);	/* h3 h4 */
	h = json_array_get(json_object_get(j, "hosts"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(h, "host")), "h1");
	ck_assert_str_eq(json_string_value(json_object_get(h, "role")), "headset");
	ck_assert_double_eq_tol(json_real_value(json_object_get(h, "error_s")), 0.0005, 1e-12);
	ck_assert_double_eq_tol(json_real_value(json_object_get(h, "worst_s")), 0.0025, 1e-12);
	ck_assert_str_eq(json_string_value(json_object_get(h, "target")),
			 "2026-12-03T09:13:20.000000000Z");
	json_decref(j);
	free(text);
}
END_TEST

START_TEST(test_metrics_text)
{
	struct starts_row rows[] = { row("h1", START_STARTED, 0.5, 2), row("h2", START_LATE, 30, 1) };
	struct starts_list_item last = { "e1", rows, 2 };
	char *m = starts_view_metrics(&last, known, NK), *none = starts_view_metrics(NULL, known, NK);

	ck_assert_ptr_nonnull(strstr(m, "# TYPE fleetclock_last_start_spread_seconds gauge\n"
				     "fleetclock_last_start_spread_seconds 0.0325\n"));
	ck_assert_ptr_nonnull(strstr(m, "\nfleetclock_last_start_late_nodes 1\n"));
	ck_assert_ptr_nonnull(strstr(m, "\nfleetclock_last_start_missing_nodes 2\n"));
	ck_assert_ptr_nonnull(strstr(m, "\nfleetclock_last_start_failed_nodes 0\n"));
	/* no experiment yet: the families, no samples */
	ck_assert_ptr_nonnull(strstr(none, "# TYPE fleetclock_last_start_late_nodes gauge\n"));
	ck_assert_ptr_null(strstr(none, "\nfleetclock_last_start_late_nodes "));
	rows[1] = row("h2", START_STARTED, 1, NAN);
	free(m);
	m = starts_view_metrics(&last, known, NK);
	ck_assert_ptr_nonnull(strstr(m, "\nfleetclock_last_start_spread_seconds NaN\n"));
	free(m);
	free(none);
}
END_TEST

static void put_record_sent(struct starts *st, const char *exp, const char *host, int64_t target,
			    int64_t sent, enum start_outcome o, int want)
{
	struct starts_row r = row(host, o, 1, 1);
	char err[256], *doc;

	snprintf(r.rec.experiment, sizeof(r.rec.experiment), "%s", exp);
	r.rec.target_ns = target;
	r.rec.start_ns = target + MS;
	r.rec.sent_ns = sent;
	doc = start_record_dumps(&r.rec);
	ck_assert_int_eq(starts_put(st, &r.rec, doc, strlen(doc), 5, err, sizeof(err)), want);
	free(doc);
}

static void put_record(struct starts *st, const char *exp, const char *host, int64_t target,
		       int want)
{
	put_record_sent(st, exp, host, target, target + 2 * MS, START_STARTED, want);
}

START_TEST(test_store_migration_duplicates_list)
{
	char dir[] = "/tmp/fc-test-starts-XXXXXX", db[80], err[256], *text;
	struct starts *st;
	struct starts_row *rows;
	sqlite3 *old;
	size_t n;
	json_t *j;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(db, sizeof(db), "%s/old.db", dir);
	/* a database of an older collector: reports, no starts table */
	ck_assert_int_eq(sqlite3_open(db, &old), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(old, "CREATE TABLE reports (host TEXT, sent_at_us INTEGER);"
				      "INSERT INTO reports VALUES ('h1', 42);", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(old);
	ck_assert_int_eq(starts_open(db, &st, err, sizeof(err)), 0);
	put_record(st, "older", "h1", T0 - 60 * 1000 * MS, 0);
	put_record(st, "e1", "h2", T0, 0);
	put_record(st, "e1", "h1", T0, 0);
	put_record(st, "e1", "h1", T0, 1);	/* the same again: acknowledged, not stored */
	/* an older record does not replace it; a later one (a re-run) does */
	put_record_sent(st, "e1", "h1", T0, T0 - MS, START_REFUSED, 1);
	ck_assert_int_eq(starts_get(st, "e1", &rows, &n), 0);
	ck_assert_int_eq(n, 2);
	ck_assert_str_eq(rows[0].rec.host, "h1");	/* sorted by host */
	ck_assert_int_eq(rows[0].rec.outcome, START_STARTED);
	free(rows);
	put_record_sent(st, "e1", "h1", T0, T0 + 60 * 1000 * MS, START_LATE, 0);
	ck_assert_int_eq(starts_get(st, "e1", &rows, &n), 0);
	ck_assert_int_eq(rows[0].rec.outcome, START_LATE);
	free(rows);
	ck_assert_int_eq(starts_render_list(st, 10, known, NK, &text), 0);
	j = json_loads(text, 0, NULL);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
		json_object_get(j, "experiments"), 0), "experiment")), "e1");	/* latest first */
	ck_assert_int_eq(json_array_size(json_object_get(j, "experiments")), 2);
	json_decref(j);
	free(text);
	starts_close(st);
	/* the old rows are intact; the table is there for the next open */
	ck_assert_int_eq(sqlite3_open(db, &old), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(old, "SELECT count(*) FROM reports WHERE sent_at_us = 42;"
				      "SELECT count(*) FROM starts;", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(old);
	ck_assert_int_eq(starts_open(db, &st, err, sizeof(err)), 0);
	ck_assert_int_eq(starts_get(st, "older", &rows, &n), 0);
	ck_assert_int_eq(n, 1);
	free(rows);
	starts_close(st);
	snprintf(err, sizeof(err), "rm -rf %s", dir);
	ck_assert_int_eq(system(err), 0);
}
END_TEST

START_TEST(test_store_open_fails_with_the_path)
{
	struct starts *st;
	char err[256] = "";

	ck_assert_int_lt(starts_open("/nonexistent-dir/x/c.db", &st, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent-dir/x/c.db"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("starts");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_spread_table, 0, (int)(sizeof(cases) / sizeof(cases[0])));
	tcase_add_test(tc, test_experiment_json);
	tcase_add_test(tc, test_metrics_text);
	tcase_add_test(tc, test_store_migration_duplicates_list);
	tcase_add_test(tc, test_store_open_fails_with_the_path);
	suite_add_tcase(s, tc);
	return check_run(s);
}
