/* Unit tests for agent/rtc_store without a device: the JSON state file
 * round trip, the bounded sample list, and bad files (missing, not JSON,
 * another schema, wrong types) that must be ignored with a message. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_run.h"
#include "rtc/rtc_store.h"

static char dir[64], path[128];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/fc-rtc-store-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/rtc.json", dir);
}

static void teardown(void)
{
	unlink(path);
	rmdir(dir);
}

static void write_file(const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

START_TEST(test_round_trip)
{
	struct rtc_store s, t;
	char err[400];

	ck_assert_int_eq(rtc_store_load(&s, NULL, path), 0);
	ck_assert_int_eq(s.rec_rc, -ENOENT);
	ck_assert_str_eq(s.rec_source, "state file");
	ck_assert_ptr_nonnull(strstr(s.file_err, "no state file yet"));
	s.rec_rc = 0;
	s.rec = (struct ds1307_record){ DS1307_RECORD_TIME_VALID, 1795291200, 1795291210, 5, -0.000125,
					-37.5, 0.25 };
	s.segment = 4;
	rtc_store_add_sample(&s, 1795291210.000005, -0.000125);
	ck_assert_int_eq(rtc_store_save(&s, NULL, path, err, sizeof(err)), 0);
	ck_assert_int_eq(rtc_store_load(&t, NULL, path), 0);
	ck_assert_int_eq(t.rec_rc, 0);
	ck_assert_str_eq(t.file_err, "");
	ck_assert_uint_eq(t.rec.flags, DS1307_RECORD_TIME_VALID);
	ck_assert_int_eq(t.rec.last_set, 1795291200);
	ck_assert_int_eq(t.rec.ref_sec, 1795291210);
	ck_assert_uint_eq(t.rec.ref_nsec, 5);
	ck_assert_double_eq_tol(t.rec.ref_offset, -0.000125, 1e-12);
	ck_assert_double_eq_tol(t.rec.drift_ppm, -37.5, 1e-12);
	ck_assert_uint_eq(t.segment, 4);
	ck_assert_uint_eq(t.n_samples, 1);
	ck_assert_double_eq_tol(t.samples[0].t, 1795291210.000005, 1e-6);
	ck_assert_uint_eq(t.samples[0].segment, 4);
}
END_TEST

START_TEST(test_samples_bounded)
{
	struct rtc_store s, t;
	char err[400];

	rtc_store_load(&s, NULL, path);
	for (int i = 0; i < 100; i++)
		rtc_store_add_sample(&s, 1000.0 + i, i * 1e-6);
	ck_assert_uint_eq(s.n_samples, DRIFT_MAX_SAMPLES);
	/* the newest are kept, in order */
	ck_assert_double_eq(s.samples[0].t, 1000.0 + 100 - DRIFT_MAX_SAMPLES);
	ck_assert_double_eq(s.samples[DRIFT_MAX_SAMPLES - 1].t, 1099.0);
	ck_assert_int_eq(rtc_store_save(&s, NULL, path, err, sizeof(err)), 0);
	ck_assert_int_eq(rtc_store_load(&t, NULL, path), 0);
	ck_assert_uint_eq(t.n_samples, DRIFT_MAX_SAMPLES);
	ck_assert_double_eq(t.samples[DRIFT_MAX_SAMPLES - 1].t, 1099.0);
	ck_assert_int_eq(t.rec_rc, -ENOENT);	/* never had a record */
}
END_TEST

static const char *bad_files[] = {
	"not json at all",
	"{\"schema\": \"something-else\", \"version\": 1}",
	"{\"schema\": \"fleetclock-rtc-state\", \"version\": 2}",
	"{\"schema\": \"fleetclock-rtc-state\", \"version\": 1, \"segment\": -3}",
	"[1, 2, 3]",
};

START_TEST(test_bad_file_ignored)
{
	struct rtc_store s;

	write_file(bad_files[_i]);
	ck_assert_int_eq(rtc_store_load(&s, NULL, path), 0);
	ck_assert_int_eq(s.rec_rc, -ENOENT);
	ck_assert_uint_eq(s.n_samples, 0);
	ck_assert_ptr_nonnull(strstr(s.file_err, path));
}
END_TEST

START_TEST(test_bad_entries_skipped)
{
	struct rtc_store s;

	write_file("{\"schema\": \"fleetclock-rtc-state\", \"version\": 1, \"segment\": 2,"
		   " \"samples\": [{\"t\": 1.5, \"offset\": 0.001, \"segment\": 2},"
		   " {\"t\": \"x\", \"offset\": 0.001, \"segment\": 2}, 17,"
		   " {\"t\": 2.5, \"offset\": 0.002, \"segment\": -1}],"
		   " \"record\": {\"flags\": 1, \"last_set\": 5, \"ref_sec\": 6, \"ref_nsec\": 2000000000,"
		   " \"ref_offset\": 0.0, \"drift_ppm\": 0.0, \"drift_unc_ppm\": 0.0}}");
	ck_assert_int_eq(rtc_store_load(&s, NULL, path), 0);
	ck_assert_uint_eq(s.n_samples, 1);
	ck_assert_int_eq(s.rec_rc, -ENOENT);	/* nanoseconds out of range */
}
END_TEST

START_TEST(test_unwritable)
{
	struct rtc_store s;
	char err[400];

	rtc_store_load(&s, NULL, "/nonexistent-dir/rtc.json");
	ck_assert_int_lt(rtc_store_save(&s, NULL, "/nonexistent-dir/rtc.json", err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent-dir/rtc.json"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("rtc_store");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_samples_bounded);
	tcase_add_loop_test(tc, test_bad_file_ignored, 0, sizeof(bad_files) / sizeof(bad_files[0]));
	tcase_add_test(tc, test_bad_entries_skipped);
	tcase_add_test(tc, test_unwritable);
	suite_add_tcase(s, tc);
	return check_run(s);
}
