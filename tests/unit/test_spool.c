/* Unit tests for agent/spool on a real directory: order, limits (count and
 * bytes, oldest dropped first), reopen, pop only on request. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool.h"

static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/fc-test-spool-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	strcat(dir, "/q");	/* spool_open creates it */
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%.*s'", (int)(strlen(dir) - 2), dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void push_text(struct spool *s, const char *text)
{
	char err[256];

	ck_assert_msg(spool_push(s, text, strlen(text), err, sizeof(err)) == 0, "%s", err);
}

static void expect_next(struct spool *s, const char *text)
{
	char *doc, err[256];
	size_t len;

	ck_assert_int_eq(spool_peek(s, &doc, &len, err, sizeof(err)), 0);
	ck_assert_str_eq(doc, text);
	ck_assert_uint_eq(len, strlen(text));
	free(doc);
	ck_assert_int_eq(spool_pop(s), 0);
}

START_TEST(test_order_and_reopen)
{
	struct spool *s;
	char err[256], *doc;
	size_t len;
	struct stat st;

	ck_assert_int_eq(spool_open(dir, 100, 1 << 20, &s, err, sizeof(err)), 0);
	ck_assert_int_eq(stat(dir, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0700);
	ck_assert_int_eq(spool_peek(s, &doc, &len, err, sizeof(err)), -ENOENT);
	push_text(s, "{\"n\":1}");
	push_text(s, "{\"n\":2}");
	push_text(s, "{\"n\":3}");
	/* peek does not remove */
	ck_assert_int_eq(spool_peek(s, &doc, &len, err, sizeof(err)), 0);
	free(doc);
	ck_assert_uint_eq(spool_count(s), 3);
	expect_next(s, "{\"n\":1}");
	spool_close(s);
	/* a new process finds the rest, in order, and appends after them */
	ck_assert_int_eq(spool_open(dir, 100, 1 << 20, &s, err, sizeof(err)), 0);
	ck_assert_uint_eq(spool_count(s), 2);
	ck_assert_uint_eq(spool_bytes(s), 14);
	push_text(s, "{\"n\":4}");
	expect_next(s, "{\"n\":2}");
	expect_next(s, "{\"n\":3}");
	expect_next(s, "{\"n\":4}");
	ck_assert_uint_eq(spool_count(s), 0);
	ck_assert_uint_eq(spool_bytes(s), 0);
	spool_close(s);
}
END_TEST

START_TEST(test_count_limit_drops_oldest)
{
	struct spool *s;
	char err[256], text[32];

	ck_assert_int_eq(spool_open(dir, 3, 1 << 20, &s, err, sizeof(err)), 0);
	for (int i = 1; i <= 5; i++) {
		snprintf(text, sizeof(text), "doc%d", i);
		push_text(s, text);
	}
	ck_assert_uint_eq(spool_count(s), 3);
	ck_assert_uint_eq(spool_dropped(s), 2);
	expect_next(s, "doc3");
	expect_next(s, "doc4");
	expect_next(s, "doc5");
	spool_close(s);
}
END_TEST

START_TEST(test_byte_limit)
{
	struct spool *s;
	char err[256], big[3][40];

	for (int i = 0; i < 3; i++) {
		memset(big[i], 'a' + i, sizeof(big[i]) - 1);
		big[i][sizeof(big[i]) - 1] = '\0';
	}
	/* 100 bytes: "first" (5) and two 39-byte documents fit (83); a third
	 * needs room for 39 more, so "first" and the oldest big one go */
	ck_assert_int_eq(spool_open(dir, 1000, 100, &s, err, sizeof(err)), 0);
	push_text(s, "first");
	push_text(s, big[0]);
	push_text(s, big[1]);
	ck_assert_uint_eq(spool_dropped(s), 0);
	push_text(s, big[2]);
	ck_assert_uint_eq(spool_dropped(s), 2);
	ck_assert_uint_eq(spool_bytes(s), 78);
	expect_next(s, big[1]);
	expect_next(s, big[2]);
	spool_close(s);
}
END_TEST

START_TEST(test_too_big_refused)
{
	struct spool *s;
	char err[256], huge[200];

	memset(huge, 'y', sizeof(huge));
	ck_assert_int_eq(spool_open(dir, 10, 100, &s, err, sizeof(err)), 0);
	push_text(s, "keep");
	ck_assert_int_eq(spool_push(s, huge, sizeof(huge), err, sizeof(err)), -EFBIG);
	ck_assert_msg(strstr(err, "max_bytes"), "%s", err);
	expect_next(s, "keep");
	spool_close(s);
}
END_TEST

START_TEST(test_bad_dir)
{
	struct spool *s;
	char err[256];

	ck_assert_int_lt(spool_open("/proc/version/x", 10, 100, &s, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "/proc/version/x"), "%s", err);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("spool");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_order_and_reopen);
	tcase_add_test(tc, test_count_limit_drops_oldest);
	tcase_add_test(tc, test_byte_limit);
	tcase_add_test(tc, test_too_big_refused);
	tcase_add_test(tc, test_bad_dir);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
