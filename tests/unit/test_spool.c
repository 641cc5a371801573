/* Unit tests for agent/spool on a real directory: order, limits (count and
 * bytes, oldest dropped first), reopen, pop only on request; and on a real
 * small tmpfs (in a private mount namespace) remounted read-only or filled
 * up: a document whose file cannot be removed is handed out once, new
 * documents wait in memory (bounded, in order) and go back to the directory
 * when it takes writes again. */
#include <check.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "report/spool.h"
#include "check_run.h"

static char dir[64];
static char base[64];	/* a tmpfs mounted on dir's parent, or "" */

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/fc-test-spool-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	strcat(dir, "/q");	/* spool_open creates it */
}

static void teardown(void)
{
	char cmd[128];

	if (base[0]) {
		ck_assert_int_eq(umount2(base, MNT_DETACH), 0);
		base[0] = '\0';
	}
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

/* ---- on a real tmpfs, remounted read-only or full ---- */


/* This test's own mount namespace (Check forks per test) with a tmpfs of
 * size_kb on dir's parent. */
static void mount_tmpfs(unsigned size_kb)
{
	char opts[32];

	snprintf(base, sizeof(base), "%.*s", (int)(strlen(dir) - 2), dir);
	snprintf(opts, sizeof(opts), "size=%uk,mode=0700", size_kb);
	ck_assert_int_eq(unshare(CLONE_NEWNS), 0);
	ck_assert_int_eq(mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL), 0);
	ck_assert_int_eq(mount("tmpfs", base, "tmpfs", 0, opts), 0);
}

static void remount(bool ro)
{
	ck_assert_int_eq(mount("tmpfs", base, "tmpfs", MS_REMOUNT | (ro ? MS_RDONLY : 0), NULL), 0);
}

static size_t files_in(const char *path)
{
	char cmd[160], out[32] = "";
	FILE *f;

	snprintf(cmd, sizeof(cmd), "ls -A '%s' | wc -l", path);
	f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(out, sizeof(out), f));
	pclose(f);
	return (size_t)atol(out);
}

START_TEST(test_readonly_each_sent_once)
{
	struct spool *s;
	struct spool_state st;
	char err[256], *doc;
	size_t len;

	mount_tmpfs(256);
	ck_assert_int_eq(spool_open(dir, 100, 1 << 20, &s, err, sizeof(err)), 0);
	push_text(s, "old1");
	push_text(s, "old2");
	remount(true);
	/* each document handed out once, in order, although no file goes */
	for (int i = 1; i <= 2; i++) {
		char want[8];

		snprintf(want, sizeof(want), "old%d", i);
		ck_assert_int_eq(spool_peek(s, &doc, &len, err, sizeof(err)), 0);
		ck_assert_str_eq(doc, want);
		free(doc);
		ck_assert_int_eq(spool_pop(s), -EROFS);
	}
	ck_assert_uint_eq(spool_count(s), 0);
	ck_assert_int_eq(spool_peek(s, &doc, &len, err, sizeof(err)), -ENOENT);
	/* new documents wait in memory, in order */
	push_text(s, "new1");
	push_text(s, "new2");
	spool_state(s, &st);
	ck_assert(st.in_memory);
	ck_assert_uint_eq(st.count, 2);
	ck_assert_uint_eq(st.mem_count, 2);
	ck_assert_uint_eq(st.stuck, 2);
	ck_assert_msg(strstr(st.error, dir) && strstr(st.error, "Read-only file system"), "%s",
		      st.error);
	expect_next(s, "new1");
	/* writable again: the sent files go, the memory one is written */
	remount(false);
	spool_tidy(s);
	spool_state(s, &st);
	ck_assert(!st.in_memory);
	ck_assert_uint_eq(st.stuck, 0);
	ck_assert_uint_eq(st.mem_count, 0);
	ck_assert_uint_eq(files_in(dir), 1);
	push_text(s, "new3");
	spool_state(s, &st);
	ck_assert(!st.in_memory);
	ck_assert_uint_eq(st.stuck, 0);
	ck_assert_uint_eq(st.mem_count, 0);
	ck_assert_str_eq(st.error, "");
	ck_assert_uint_eq(files_in(dir), 2);
	spool_close(s);
	/* a restart finds them in order */
	ck_assert_int_eq(spool_open(dir, 100, 1 << 20, &s, err, sizeof(err)), 0);
	expect_next(s, "new2");
	expect_next(s, "new3");
	ck_assert_uint_eq(spool_count(s), 0);
	spool_close(s);
}
END_TEST

START_TEST(test_full_disk_keeps_order)
{
	struct spool *s;
	struct spool_state st;
	char err[256], path[128], block[4096];
	FILE *f;

	mount_tmpfs(64);
	ck_assert_int_eq(spool_open(dir, 100, 1 << 20, &s, err, sizeof(err)), 0);
	push_text(s, "disk1");
	snprintf(path, sizeof(path), "%s/filler", base);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	memset(block, 'x', sizeof(block));
	while (fwrite(block, 1, sizeof(block), f) == sizeof(block) && fflush(f) == 0)
		;
	fclose(f);
	push_text(s, "mem1");
	push_text(s, "mem2");
	spool_state(s, &st);
	ck_assert(st.in_memory);
	ck_assert_uint_eq(st.mem_count, 2);
	ck_assert_msg(strstr(st.error, "No space left"), "%s", st.error);
	ck_assert_int_eq(unlink(path), 0);
	push_text(s, "disk2");
	spool_state(s, &st);
	ck_assert(!st.in_memory);
	ck_assert_uint_eq(st.mem_count, 0);
	spool_close(s);
	ck_assert_int_eq(spool_open(dir, 100, 1 << 20, &s, err, sizeof(err)), 0);
	expect_next(s, "disk1");
	expect_next(s, "mem1");
	expect_next(s, "mem2");
	expect_next(s, "disk2");
	spool_close(s);
}
END_TEST

START_TEST(test_memory_bounded)
{
	struct spool *s;
	struct spool_state st;
	char err[256], *doc;
	size_t len, n = SPOOL_MEM_MAX_BYTES / (64 * 1024) + 8;
	char *big = malloc(64 * 1024);

	ck_assert_ptr_nonnull(big);
	mount_tmpfs(64);
	ck_assert_int_eq(spool_open(dir, 100000, 1 << 30, &s, err, sizeof(err)), 0);
	remount(true);
	for (size_t i = 0; i < n; i++) {
		memset(big, 'a' + (int)(i % 26), 64 * 1024);
		ck_assert_int_eq(spool_push(s, big, 64 * 1024, err, sizeof(err)), 0);
	}
	spool_state(s, &st);
	ck_assert_uint_le(st.mem_bytes, SPOOL_MEM_MAX_BYTES);
	ck_assert_uint_eq(st.mem_count, SPOOL_MEM_MAX_BYTES / (64 * 1024));
	ck_assert_uint_eq(st.dropped, n - st.mem_count);
	/* the oldest went: the first left is number n - mem_count */
	ck_assert_int_eq(spool_peek(s, &doc, &len, err, sizeof(err)), 0);
	ck_assert_int_eq(doc[0], 'a' + (int)((n - st.mem_count) % 26));
	free(doc);
	free(big);
	spool_close(s);
}
END_TEST

START_TEST(test_open_readonly_without_dir)
{
	struct spool *s;
	struct spool_state st;
	char err[256];

	mount_tmpfs(64);
	remount(true);
	ck_assert_msg(spool_open(dir, 10, 1 << 20, &s, err, sizeof(err)) == 0, "%s", err);
	push_text(s, "only in memory");
	push_text(s, "then on disk");
	spool_state(s, &st);
	ck_assert(st.in_memory);
	ck_assert_msg(strstr(st.error, "create directory: Read-only file system"), "%s", st.error);
	expect_next(s, "only in memory");
	/* writable: the directory is made and the one in memory written to it */
	remount(false);
	spool_tidy(s);
	spool_state(s, &st);
	ck_assert(!st.in_memory);
	ck_assert_uint_eq(st.mem_count, 0);
	ck_assert_uint_eq(files_in(dir), 1);
	expect_next(s, "then on disk");
	ck_assert_uint_eq(files_in(dir), 0);
	spool_close(s);
}
END_TEST

/* Whether this process may make a mount namespace (root, not confined). */
static bool can_mount(void)
{
	pid_t pid = fork();
	int status;

	if (pid == 0)
		_exit(unshare(CLONE_NEWNS) == 0 ? 0 : 1);
	return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	       WEXITSTATUS(status) == 0;
}

int main(void)
{
	Suite *su = suite_create("spool");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_order_and_reopen);
	tcase_add_test(tc, test_count_limit_drops_oldest);
	tcase_add_test(tc, test_byte_limit);
	tcase_add_test(tc, test_too_big_refused);
	tcase_add_test(tc, test_bad_dir);
	suite_add_tcase(su, tc);
	if (can_mount()) {
		TCase *fs = tcase_create("tmpfs");

		tcase_add_checked_fixture(fs, setup, teardown);
		tcase_add_test(fs, test_readonly_each_sent_once);
		tcase_add_test(fs, test_full_disk_keeps_order);
		tcase_add_test(fs, test_memory_bounded);
		tcase_add_test(fs, test_open_readonly_without_dir);
		suite_add_tcase(su, fs);
	} else {
		printf("spool: tmpfs cases not run (no mount namespace: run as root)\n");
	}
	return check_run(su);
}
