/* Unit tests for agent/report/start_send.c's parts without a collector: the
 * start URL from the status URL, and the starts spool's files (made in a
 * directory created on demand, whole, named in the order they were made). */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "report/start_send.h"
#include "check_run.h"

START_TEST(test_url)
{
	char buf[128];

	ck_assert_int_eq(start_send_url("http://c:8470/api/v1/status", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "http://c:8470/api/v1/starts");
	ck_assert_int_eq(start_send_url("https://c/x/status", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "https://c/x/starts");
	ck_assert_int_lt(start_send_url("http://c:8470/api/v1/fleet", buf, sizeof(buf)), 0);
	ck_assert_int_lt(start_send_url("status", buf, sizeof(buf)), 0);
	ck_assert_int_lt(start_send_url("http://c:8470/api/v1/status", buf, 10), 0);
}
END_TEST

static int cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static int names(const char *dir, char out[][256], int max)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.' && n < max)
			snprintf(out[n++], 256, "%s", de->d_name);
	if (d)
		closedir(d);
	return n;
}

START_TEST(test_spool_put)
{
	char root[] = "/tmp/fc-test-startspool-XXXXXX", dir[128], err[256], got[4][256], path[512];
	struct stat st;
	FILE *f;
	char buf[64];

	ck_assert_ptr_nonnull(mkdtemp(root));
	/* the spool directory itself does not exist yet: both levels are made */
	snprintf(dir, sizeof(dir), "%s/spool/starts", root);
	ck_assert_int_eq(start_spool_put(dir, "{\"a\":1}", 7, err, sizeof(err)), 0);
	ck_assert_int_eq(start_spool_put(dir, "{\"a\":2}", 7, err, sizeof(err)), 0);
	ck_assert_int_eq(stat(dir, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0700);
	ck_assert_int_eq(names(dir, got, 4), 2);	/* no temporary file left */
	qsort(got, 2, sizeof(got[0]), cmp);
	snprintf(path, sizeof(path), "%s/%s", dir, got[1]);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
	fclose(f);
	ck_assert_str_eq(buf, "{\"a\":2}");	/* the later name holds the later record */
	/* a directory that cannot be made: the error names it */
	ck_assert_int_lt(start_spool_put("/proc/fc-no/starts", "{}", 2, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "/proc/fc-no/starts"));
	snprintf(path, sizeof(path), "rm -rf %s", root);
	ck_assert_int_eq(system(path), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("start_send");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_url);
	tcase_add_test(tc, test_spool_put);
	suite_add_tcase(s, tc);
	return check_run(s);
}
