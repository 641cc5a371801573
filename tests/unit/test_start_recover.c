/* Unit tests for common/report/start_recover (pure): the provisional
 * record of an agent that ends before its outcome, and which temporary
 * files of the starts spool are the remains of a crashed write. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/start_recover.h"
#include "check_run.h"

#define T0 1796289200000000000LL	/* 2026-12-03T09:13:20Z */
#define S 1000000000LL

static struct start_record provisional(bool armed)
{
	struct start_record r = { .armed = armed, .target_ns = T0, .sent_ns = T0 - 9 * S,
				  .have_start = true, .start_ns = T0, .have_bound = true,
				  .max_error_s = 0.002 };

	snprintf(r.host, sizeof(r.host), "h1");
	snprintf(r.experiment, sizeof(r.experiment), "e1");
	start_recover_provisional(&r);
	return r;
}

START_TEST(test_provisional_is_aborted_without_start)
{
	struct start_record r = provisional(false);
	char *doc = start_record_dumps(&r), err[128];
	struct start_record back;

	ck_assert_int_eq(r.outcome, START_ABORTED);
	ck_assert(!r.have_start);
	ck_assert(r.have_bound);	/* what the agent knew stays */
	ck_assert_ptr_nonnull(strstr(doc, "\"outcome\":\"aborted\""));
	ck_assert_int_eq(start_record_parse(doc, strlen(doc), &back, err, sizeof(err)), START_OK);
	ck_assert_int_eq(back.outcome, START_ABORTED);
	free(doc);
}
END_TEST

START_TEST(test_aborted_before_and_after_target)
{
	struct start_record r = provisional(false);

	start_recover_aborted(&r, T0 - 3 * S);
	ck_assert_msg(strstr(r.reason, "3.000 s before TIME, before starting CMD"), "%s", r.reason);
	ck_assert(!strstr(r.reason, "--arm"));
	ck_assert_int_eq(r.sent_ns, T0 - 3 * S);
	r = provisional(true);
	start_recover_aborted(&r, T0 + S / 2);
	ck_assert_msg(strstr(r.reason, "0.500 s after TIME, without reporting the outcome"), "%s",
		      r.reason);
	ck_assert_msg(strstr(r.reason, "its own gate: not proven"), "%s", r.reason);
}
END_TEST

START_TEST(test_final_record_untouched)
{
	struct start_record r = provisional(false);

	r.outcome = START_STARTED;
	snprintf(r.reason, sizeof(r.reason), "kept");
	start_recover_aborted(&r, T0 + S);
	ck_assert_str_eq(r.reason, "kept");
	ck_assert_int_eq(r.sent_ns, T0 - 9 * S);
	r.outcome = START_ABORTED;	/* the agent's own "aborted" (CMD not released) */
	start_recover_aborted(&r, T0 + S);
	ck_assert_str_eq(r.reason, "kept");
}
END_TEST

static const struct { const char *name; long pid; } names[] = {
	{ ".tmp-1234", 1234 }, { ".tmp-1", 1 }, { ".tmp-", -1 }, { ".tmp-0", -1 },
	{ ".tmp-12a", -1 }, { ".tmp--5", -1 }, { ".tmp-1234567890", -1 }, { "x.tmp-12", -1 },
	{ "00000000000000000001-12.json", -1 }, { ".tmp-007", -1 },
};

START_TEST(test_tmp_pid)
{
	ck_assert_msg(start_recover_tmp_pid(names[_i].name) == names[_i].pid, "%s",
		      names[_i].name);
}
END_TEST

static const struct { int64_t age_s; enum start_writer w; bool stale; } ages[] = {
	{ 0, START_WRITER_GONE, false },	/* a write just now: its rename may be on the way */
	{ START_SPOOL_TMP_STALE_S - 1, START_WRITER_GONE, false },
	{ START_SPOOL_TMP_STALE_S, START_WRITER_GONE, true },
	{ START_SPOOL_TMP_STALE_S, START_WRITER_UNKNOWN, true },
	{ START_SPOOL_TMP_STALE_S * 10, START_WRITER_ALIVE, false },	/* its PID lives */
	{ START_SPOOL_TMP_ABANDON_S, START_WRITER_ALIVE, true },	/* a reused PID */
	{ -5, START_WRITER_GONE, false },	/* mtime ahead (the clock stepped back) */
};

START_TEST(test_tmp_stale)
{
	ck_assert_msg(start_recover_tmp_stale(ages[_i].age_s, ages[_i].w) == ages[_i].stale,
		      "age %lld writer %d", (long long)ages[_i].age_s, ages[_i].w);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("start_recover");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_provisional_is_aborted_without_start);
	tcase_add_test(tc, test_aborted_before_and_after_target);
	tcase_add_test(tc, test_final_record_untouched);
	tcase_add_loop_test(tc, test_tmp_pid, 0, (int)(sizeof(names) / sizeof(names[0])));
	tcase_add_loop_test(tc, test_tmp_stale, 0, (int)(sizeof(ages) / sizeof(ages[0])));
	suite_add_tcase(s, tc);
	return check_run(s);
}
