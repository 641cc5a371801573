/* Unit tests for the collector's parts: the SQLite store (a real database
 * in /tmp, concurrent submitters), the views (fleet JSON, Prometheus text)
 * and the constant-time token comparison. */
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "collector_config.h"
#include "host_tokens.h"
#include "http.h"
#include "store.h"
#include "views.h"
#include "check_run.h"

#define THREADS 4
#define PER_THREAD 300

static struct status_info make_info(const char *host, int64_t sent_us, double offset)
{
	struct status_info i = { .sent_at_us = sent_us, .have_tracking = true, .synchronised = true,
				 .stratum = 3, .offset_s = offset, .root_delay_s = 0.002,
				 .root_dispersion_s = 0.0005, .check_ready = -1,
				 .authenticated = -1 };

	snprintf(i.host, sizeof(i.host), "%s", host);
	snprintf(i.role, sizeof(i.role), "headset");
	snprintf(i.agent_version, sizeof(i.agent_version), "0.1.0");
	snprintf(i.leap, sizeof(i.leap), "normal");
	i.max_error_s = fabs(offset) + 0.001 + 0.0005;
	return i;
}

struct waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done, stored, dup, failed;
};

static void on_done(void *arg, int rc)
{
	struct waiter *w = arg;

	pthread_mutex_lock(&w->lock);
	w->done++;
	w->stored += rc == 0;
	w->dup += rc == 1;
	w->failed += rc < 0;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

struct submitter {
	struct store *s;
	struct waiter *w;
	int id;
};

/* Thread k sends host "h<k>" reports 0..PER_THREAD-1, every tenth twice. */
static void *submit_main(void *arg)
{
	struct submitter *sub = arg;
	int64_t now_us = (int64_t)time(NULL) * 1000000;
	char host[16];

	snprintf(host, sizeof(host), "h%d", sub->id);
	for (int i = 0; i < PER_THREAD; i++) {
		struct status_info info = make_info(host, 1000000LL * i, 0.001 * i);

		/* h3 was received 40 days ago: retention (30 days) removes it */
		int64_t received = now_us - (sub->id == 3 ? 40LL * 86400 * 1000000 : 0) + i;

		ck_assert_int_eq(store_submit(sub->s, &info, "{}", 2, received, on_done, sub->w), 0);
		if (i % 10 == 0)
			ck_assert_int_eq(store_submit(sub->s, &info, "{}", 2, received, on_done,
						      sub->w), 0);
	}
	return NULL;
}

/* Issue 20: a report's relative bound, master and the election's master
 * come back in its history (from the stored document); "{}" gives nulls. */
START_TEST(test_history_relative)
{
	char path[] = "/tmp/fc-test-hist-XXXXXX", db[64], err[256];
	struct store_opts o = { db, 30, false, 64 };
	struct waiter w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0 };
	static const char doc[] = "{\"relative_error_s\":0.0032,\"chrony\":{\"selected\":"
				  "{\"address\":\"10.0.0.2\"}},\"election\":{\"master\":\"obs\"}}";
	int64_t now_us = (int64_t)time(NULL) * 1000000;
	struct status_info a = make_info("hx", 1000000, 0.001), b = make_info("hx", 2000000, 0.002);
	struct store_point *pts;
	struct store *s;
	size_t n;
	char *text;

	ck_assert_ptr_nonnull(mkdtemp(path));
	snprintf(db, sizeof(db), "%s/c.db", path);
	ck_assert_msg(store_open(&o, &s, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(store_submit(s, &a, doc, strlen(doc), now_us, on_done, &w), 0);
	ck_assert_int_eq(store_submit(s, &b, "{}", 2, now_us + 1, on_done, &w), 0);
	pthread_mutex_lock(&w.lock);
	while (w.done < 2)
		pthread_cond_wait(&w.cond, &w.lock);
	pthread_mutex_unlock(&w.lock);
	ck_assert_int_eq(store_history(s, "hx", 0, INT64_MAX, 10, &pts, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_double_eq_tol(pts[0].relative_error_s, 0.0032, 1e-12);
	ck_assert_str_eq(pts[0].master, "10.0.0.2");
	ck_assert_str_eq(pts[0].election_master, "obs");
	ck_assert(isnan(pts[1].relative_error_s));
	ck_assert_str_eq(pts[1].master, "");
	text = views_history_json("hx", pts, n, 0, 3000000);
	ck_assert_ptr_nonnull(strstr(text, "\"relative_error_bound_s\":0.0032"));
	ck_assert_ptr_nonnull(strstr(text, "\"master\":\"10.0.0.2\""));
	ck_assert_ptr_nonnull(strstr(text, "\"election_master\":\"obs\""));
	ck_assert_ptr_nonnull(strstr(text, "\"relative_error_bound_s\":null"));
	free(text);
	free(pts);
	store_close(s);
	snprintf(err, sizeof(err), "rm -rf '%s'", path);
	ck_assert_int_eq(system(err), 0);
}
END_TEST

START_TEST(test_store_concurrent)
{
	char path[] = "/tmp/fc-test-store-XXXXXX", db[64], err[256];
	struct store_opts o = { db, 30, false, 64 };
	struct waiter w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0 };
	struct submitter subs[THREADS];
	pthread_t th[THREADS];
	const int total = THREADS * (PER_THREAD + PER_THREAD / 10);
	struct store_latest *rows;
	struct store_point *pts;
	struct store_stats st;
	struct store *s;
	size_t n;

	ck_assert_ptr_nonnull(mkdtemp(path));
	snprintf(db, sizeof(db), "%s/c.db", path);
	ck_assert_msg(store_open(&o, &s, err, sizeof(err)) == 0, "%s", err);
	for (int k = 0; k < THREADS; k++) {
		subs[k] = (struct submitter){ s, &w, k };
		pthread_create(&th[k], NULL, submit_main, &subs[k]);
	}
	for (int k = 0; k < THREADS; k++)
		pthread_join(th[k], NULL);
	pthread_mutex_lock(&w.lock);
	while (w.done < total)
		pthread_cond_wait(&w.cond, &w.lock);
	pthread_mutex_unlock(&w.lock);
	ck_assert_int_eq(w.stored, THREADS * PER_THREAD);
	ck_assert_int_eq(w.dup, THREADS * PER_THREAD / 10);
	ck_assert_int_eq(w.failed, 0);
	store_get_stats(s, &st);
	ck_assert_uint_eq(st.stored, THREADS * PER_THREAD);
	ck_assert_uint_le(st.batches, (uint64_t)total);
	/* latest: one row per host, the last report */
	ck_assert_int_eq(store_latest_all(s, &rows, &n), 0);
	ck_assert_uint_eq(n, THREADS);
	ck_assert_str_eq(rows[0].info.host, "h0");
	ck_assert(rows[2].info.sent_at_us == 1000000LL * (PER_THREAD - 1));
	ck_assert_double_eq_tol(rows[2].info.offset_s, 0.001 * (PER_THREAD - 1), 1e-12);
	free(rows);
	/* history: inclusive range, oldest first, limited */
	ck_assert_int_eq(store_history(s, "h1", 10000000LL, 14000000LL, 100, &pts, &n), 0);
	ck_assert_uint_eq(n, 5);
	ck_assert(pts[0].sent_at_us == 10000000LL && pts[4].sent_at_us == 14000000LL);
	free(pts);
	ck_assert_int_eq(store_history(s, "h1", 0, INT64_MAX, 7, &pts, &n), 0);
	ck_assert_uint_eq(n, 7);
	free(pts);
	store_close(s);
	/* reopened: everything is there but what is past the retention */
	ck_assert_int_eq(store_open(&o, &s, err, sizeof(err)), 0);
	ck_assert_int_eq(store_history(s, "h2", 0, INT64_MAX, 10000, &pts, &n), 0);
	ck_assert_uint_eq(n, PER_THREAD);
	free(pts);
	ck_assert_int_eq(store_history(s, "h3", 0, INT64_MAX, 10000, &pts, &n), 0);
	ck_assert_uint_eq(n, 0);
	free(pts);
	store_close(s);
	snprintf(err, sizeof(err), "rm -rf '%s'", path);
	ck_assert_int_eq(system(err), 0);
}
END_TEST

static void wait_done(struct waiter *w, int total)
{
	pthread_mutex_lock(&w->lock);
	while (w->done < total)
		pthread_cond_wait(&w->cond, &w->lock);
	pthread_mutex_unlock(&w->lock);
}

static bool same_double(double a, double b)
{
	return (isnan(a) && isnan(b)) || a == b;
}

static void assert_same_latest(const struct store_latest *a, const struct store_latest *b)
{
	const struct status_info *x = &a->info, *y = &b->info;

	ck_assert_str_eq(x->host, y->host);
	ck_assert_str_eq(x->role, y->role);
	ck_assert_str_eq(x->agent_version, y->agent_version);
	ck_assert_str_eq(x->leap, y->leap);
	ck_assert(x->sent_at_us == y->sent_at_us && a->received_us == b->received_us);
	ck_assert(x->have_tracking == y->have_tracking && x->synchronised == y->synchronised);
	ck_assert_int_eq(x->stratum, y->stratum);
	ck_assert_msg(same_double(x->offset_s, y->offset_s) &&
		      same_double(x->root_delay_s, y->root_delay_s) &&
		      same_double(x->root_dispersion_s, y->root_dispersion_s) &&
		      same_double(x->max_error_s, y->max_error_s), "%s: tracking numbers differ", x->host);
	ck_assert(x->rtc_present == y->rtc_present && x->rtc_valid == y->rtc_valid &&
		  x->rtc_have_offset == y->rtc_have_offset);
	ck_assert(same_double(x->rtc_offset_s, y->rtc_offset_s));
	ck_assert_int_eq(x->check_ready, y->check_ready);
}

/* The latest view is kept in memory; it must equal what the latest table
 * gives back after a reopen, for every kind of report, and hold the report
 * of each host that arrived last (not the largest sent_at; a duplicate does
 * not count as an arrival). */
START_TEST(test_store_latest_memory_equals_table)
{
	char path[] = "/tmp/fc-test-latest-XXXXXX", db[64], err[256], host[16];
	struct store_opts o = { db, 30, false, 16 };
	struct waiter w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0 };
	enum { HOSTS = 300, ROUNDS = 3 };
	int64_t now_us = (int64_t)time(NULL) * 1000000, newest[HOSTS] = { 0 };
	static bool seen[HOSTS][51];
	struct store_latest *mem, *table;
	unsigned seed = 7;
	size_t n, n2, hosts = 0;
	struct store *s;
	int sent = 0;

	ck_assert_ptr_nonnull(mkdtemp(path));
	snprintf(db, sizeof(db), "%s/c.db", path);
	ck_assert_msg(store_open(&o, &s, err, sizeof(err)) == 0, "%s", err);
	for (int r = 0; r < ROUNDS * HOSTS; r++) {
		int h = rand_r(&seed) % HOSTS;	/* hosts in random order, some never */
		int64_t sent_at = 1000000LL * (1 + rand_r(&seed) % 50);	/* older ones too */
		struct status_info i;

		snprintf(host, sizeof(host), "node-%03d", h);
		i = make_info(host, sent_at, 0.0001 * (r % 7) - 0.0003);
		switch (r % 5) {
		case 0:		/* no chronyd: tracking fields absent */
			i.have_tracking = false;
			i.synchronised = false;
			i.offset_s = i.root_delay_s = i.root_dispersion_s = 0;
			i.max_error_s = NAN;
			break;
		case 1:		/* an RTC with an offset, a check verdict */
			i.rtc_present = i.rtc_valid = i.rtc_have_offset = true;
			i.rtc_offset_s = -0.0021;
			i.check_ready = 1;
			break;
		case 2:		/* an RTC without an offset */
			i.rtc_present = true;
			i.rtc_offset_s = 0;
			i.check_ready = 0;
			snprintf(i.leap, sizeof(i.leap), "insert");
			break;
		default:
			break;
		}
		ck_assert_int_eq(store_submit(s, &i, "{}", 2, now_us + r, on_done, &w), 0);
		sent++;
		if (!seen[h][sent_at / 1000000]) {	/* stored: the host's latest now */
			seen[h][sent_at / 1000000] = true;
			newest[h] = sent_at;
		}
	}
	wait_done(&w, sent);
	ck_assert_int_eq(w.failed, 0);
	ck_assert_int_eq(store_latest_all(s, &mem, &n), 0);
	store_close(s);
	ck_assert_int_eq(store_open(&o, &s, err, sizeof(err)), 0);
	ck_assert_int_eq(store_latest_all(s, &table, &n2), 0);
	store_close(s);
	ck_assert_uint_eq(n, n2);
	for (size_t k = 0; k < n; k++) {
		int h = atoi(mem[k].info.host + 5);

		if (k > 0)
			ck_assert_int_lt(strcmp(mem[k - 1].info.host, mem[k].info.host), 0);
		ck_assert_msg(mem[k].info.sent_at_us == newest[h], "%s: not its last report",
			      mem[k].info.host);
		assert_same_latest(&mem[k], &table[k]);
	}
	for (int h = 0; h < HOSTS; h++)
		hosts += newest[h] != 0;
	ck_assert_uint_eq(n, hosts);	/* every host that reported, once */
	free(mem);
	free(table);
	snprintf(err, sizeof(err), "rm -rf '%s'", path);
	ck_assert_int_eq(system(err), 0);
}
END_TEST

static int submit_wait(struct store *s, const struct status_info *i, int64_t received_us)
{
	struct waiter w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0 };

	ck_assert_int_eq(store_submit(s, i, "{}", 2, received_us, on_done, &w), 0);
	wait_done(&w, 1);
	return w.stored ? 0 : w.dup ? 1 : -1;
}

static void assert_latest(struct store *s, const char *host, int64_t sent_at_us,
			  int64_t received_us)
{
	struct store_latest *rows;
	size_t n, k;

	ck_assert_int_eq(store_latest_all(s, &rows, &n), 0);
	for (k = 0; k < n && strcmp(rows[k].info.host, host); k++)
		;
	ck_assert_msg(k < n, "%s: no latest row", host);
	ck_assert_msg(rows[k].info.sent_at_us == sent_at_us && rows[k].received_us == received_us,
		      "%s: latest sent_at %lld received %lld, want %lld %lld", host,
		      (long long)rows[k].info.sent_at_us, (long long)rows[k].received_us,
		      (long long)sent_at_us, (long long)received_us);
	free(rows);
}

/* Issue 14: a host's clock ran 17 minutes ahead, then was stepped back. Its
 * reports after the step have a smaller sent_at than the ones before; the
 * latest row follows them (arrival order), a duplicate of a future report
 * is acknowledged but does not move it back, and a reopened store (the
 * table) says the same. */
START_TEST(test_store_latest_follows_arrival_after_step_back)
{
	char path[] = "/tmp/fc-test-step-XXXXXX", db[64], err[256];
	struct store_opts o = { db, 30, false, 16 };
	const int64_t now = (int64_t)time(NULL) * 1000000, ahead = 17 * 60 * 1000000LL;
	struct status_info fut[3], ok[3];
	struct store *s;

	ck_assert_ptr_nonnull(mkdtemp(path));
	snprintf(db, sizeof(db), "%s/c.db", path);
	ck_assert_msg(store_open(&o, &s, err, sizeof(err)) == 0, "%s", err);
	for (int k = 0; k < 3; k++) {
		fut[k] = make_info("pi-ahead", now + ahead + k * 1000000LL, 1020.0);
		ck_assert_int_eq(submit_wait(s, &fut[k], now + k * 1000000LL), 0);
	}
	assert_latest(s, "pi-ahead", now + ahead + 2000000, now + 2000000);
	for (int k = 0; k < 3; k++) {	/* stepped back */
		ok[k] = make_info("pi-ahead", now + (3 + k) * 1000000LL, 0.0001);
		ck_assert_int_eq(submit_wait(s, &ok[k], now + (3 + k) * 1000000LL), 0);
		assert_latest(s, "pi-ahead", now + (3 + k) * 1000000LL, now + (3 + k) * 1000000LL);
	}
	/* a future report again (replayed): stored once already, so a duplicate */
	ck_assert_int_eq(submit_wait(s, &fut[1], now + 6000000), 1);
	assert_latest(s, "pi-ahead", now + 5000000, now + 5000000);
	store_close(s);
	ck_assert_int_eq(store_open(&o, &s, err, sizeof(err)), 0);
	assert_latest(s, "pi-ahead", now + 5000000, now + 5000000);
	/* and after the reopen, new reports still take over */
	ok[0] = make_info("pi-ahead", now + 7000000, 0.0001);
	ck_assert_int_eq(submit_wait(s, &ok[0], now + 7000000), 0);
	assert_latest(s, "pi-ahead", now + 7000000, now + 7000000);
	store_close(s);
	snprintf(err, sizeof(err), "rm -rf '%s'", path);
	ck_assert_int_eq(system(err), 0);
}
END_TEST

/* The log is checkpointed by the store's own thread: with 4 KB documents,
 * 3,000 reports are well over the 1,000 pages that wake it, and the pages
 * reach the database file while the store is still open (it would stay at
 * its first few pages until the close otherwise: the writer's own
 * autocheckpoint is off). */
START_TEST(test_store_checkpoints_in_background)
{
	char path[] = "/tmp/fc-test-ckpt-XXXXXX", db[64], err[256], host[16];
	struct store_opts o = { db, 30, false, 64 };
	struct waiter w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0 };
	static char doc[4096];
	struct store_stats st;
	struct store *s;
	struct stat sb;
	int total = 3000;

	memset(doc, 'x', sizeof(doc));
	ck_assert_ptr_nonnull(mkdtemp(path));
	snprintf(db, sizeof(db), "%s/c.db", path);
	ck_assert_msg(store_open(&o, &s, err, sizeof(err)) == 0, "%s", err);
	for (int i = 0; i < total; i++) {
		struct status_info info;

		snprintf(host, sizeof(host), "h%d", i % 50);
		info = make_info(host, 1000000LL * i, 0.0);
		ck_assert_int_eq(store_submit(s, &info, doc, sizeof(doc), 1000000LL * i, on_done, &w),
				 0);
	}
	wait_done(&w, total);
	ck_assert_int_eq(w.stored, total);
	/* a PASSIVE checkpoint may copy only part of the log (it counts all the
	 * same): wait for the pages, not for the first checkpoint */
	for (int tries = 0; tries < 500; tries++) {	/* up to 5 s */
		store_get_stats(s, &st);
		ck_assert_int_eq(stat(db, &sb), 0);
		if (st.checkpoints > 0 && sb.st_size > 4 * 1000 * 1000)
			break;
		usleep(10000);
	}
	ck_assert_uint_gt(st.checkpoints, 0);
	ck_assert_int_gt(sb.st_size, 4 * 1000 * 1000);	/* 1,000 pages of 4 KB */
	store_close(s);
	snprintf(err, sizeof(err), "rm -rf '%s'", path);
	ck_assert_int_eq(system(err), 0);
}
END_TEST

START_TEST(test_store_bad_path)
{
	struct store_opts o = { "/proc/nonexistent/dir/c.db", 30, false, 64 };
	struct store *s;
	char err[256];

	ck_assert_int_lt(store_open(&o, &s, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "/proc/nonexistent/dir/c.db"), "%s", err);
}
END_TEST

static struct store_latest latest_row(const char *host, double offset, double received)
{
	struct store_latest r = { .info = make_info(host, 1000, offset),
				  .received_us = (int64_t)(received * 1e6) };

	return r;
}

START_TEST(test_views_fleet)
{
	/* bounds: a 1 + 1 + 0.5 = 2.5 ms; b 8 + 1.5 = 9.5 ms (over 5 ms); old stale */
	struct store_latest rows[3] = { latest_row("a", 0.001, 99.0), latest_row("b", -0.008, 99.5),
					latest_row("old", 0.0, 10.0) };
	struct views_params p = { 100.0, 0.005, 15, 0 };
	char *text = views_fleet_json(rows, 3, &p, NULL);
	json_t *d = json_loads(text, 0, NULL), *s, *h;

	ck_assert_ptr_nonnull(d);
	s = json_object_get(d, "summary");
	ck_assert_str_eq(json_string_value(json_object_get(s, "verdict")), "over_budget");
	ck_assert_str_eq(json_string_value(json_object_get(s, "worst_host")), "b");
	ck_assert_double_eq_tol(json_real_value(json_object_get(s, "spread_bound_s")), 0.012, 1e-9);
	ck_assert_int_eq(json_integer_value(json_object_get(s, "stale")), 1);
	ck_assert_uint_eq(json_array_size(json_object_get(d, "hosts")), 3);
	h = json_array_get(json_object_get(d, "hosts"), 1);
	ck_assert_str_eq(json_string_value(json_object_get(h, "host")), "b");
	ck_assert(json_is_true(json_object_get(h, "over_budget")));
	ck_assert_double_eq_tol(json_real_value(json_object_get(h, "age_s")), 0.5, 1e-6);
	h = json_array_get(json_object_get(d, "hosts"), 2);
	ck_assert(json_is_true(json_object_get(h, "stale")));
	ck_assert(json_is_null(json_object_get(h, "rtc")));
	ck_assert(json_is_null(json_object_get(h, "check_ready")));
	json_decref(d);
	free(text);
	/* no host at all: still a document */
	text = views_fleet_json(NULL, 0, &p, NULL);
	d = json_loads(text, 0, NULL);
	ck_assert_uint_eq(json_array_size(json_object_get(d, "hosts")), 0);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(d, "summary"), "verdict")),
			 "empty");
	json_decref(d);
	free(text);
}
END_TEST

/* Rendering through the host cache gives the same text as without, also
 * after hosts changed, appeared and disappeared. */
/* age_s is written by hand (not snprintf) at every render: the same text as
 * "%.6f" gives, for ages from a microsecond to decades, and the future. */
START_TEST(test_views_fleet_age_text)
{
	static const int64_t received_us[] = { 1700000000000000LL, 1699999999500000LL,
		1700000000250000LL, 1699999999999999LL, 1699999000000000LL, 1000000LL, 0,
		1699999987654321LL, 1700000009000001LL };
	enum { N = sizeof(received_us) / sizeof(received_us[0]) };
	struct views_params p = { 1700000000.0, 0.005, 15, 0 };
	struct store_latest rows[N];
	char *text, want[160], host[16];
	json_t *d;

	for (int k = 0; k < N; k++) {
		snprintf(host, sizeof(host), "n%d", k);	/* sorted: n0 < n1 < ... < n8 */
		rows[k] = latest_row(host, 0.001, 0);
		rows[k].received_us = received_us[k];
	}
	text = views_fleet_json(rows, N, &p, NULL);
	ck_assert_ptr_nonnull(text);
	for (int k = 0; k < N; k++) {
		double age = p.now - received_us[k] / 1e6;
		char *at;

		snprintf(host, sizeof(host), "\"host\":\"n%d\"", k);
		ck_assert_ptr_nonnull(at = strstr(text, host));
		snprintf(want, sizeof(want), ",\"age_s\":%.6f,\"stale\":%s,", age,
			 age > 15 ? "true" : "false");
		ck_assert_msg(strstr(at, want) && strstr(at, want) < strstr(at, "}"),
			      "n%d: want %s in %.300s", k, want, at);
	}
	json_decref(d = json_loads(text, 0, NULL));
	ck_assert_ptr_nonnull(d);
	free(text);
}
END_TEST

/* The fleet view writes each host's fields by hand; the same object built
 * here with jansson (json_pack, as the view did before) must be equal,
 * field for field, for every kind of row: no tracking, NaN numbers, an RTC
 * with and without an offset, each check verdict, strings to escape. */
static json_t *real_or_null_oracle(bool have, double v)
{
	return have && isfinite(v) ? json_real(v) : json_null();
}

static json_t *time_oracle(int64_t us)
{
	char buf[40];

	return status_format_time(us, buf, sizeof(buf)) ? json_string(buf) : json_null();
}

static json_t *host_oracle(const struct store_latest *r, double budget_s, double max_skew_s)
{
	double skew = (double)(r->info.sent_at_us - r->received_us) / 1e6;
	const struct status_info *i = &r->info;
	double bound = i->have_tracking ? fabs(i->offset_s) + i->root_delay_s / 2 +
					  i->root_dispersion_s : NAN;
	struct spread_node sn = status_info_spread_node(i);
	enum spread_why why;
	double rel = spread_bound_relative(&sn, &why);
	json_t *rtc = i->rtc_present ?
		json_pack("{s:b, s:o}", "valid", i->rtc_valid, "offset_s",
			  real_or_null_oracle(i->rtc_have_offset, i->rtc_offset_s)) : json_null();

	return json_pack("{s:s, s:s, s:s, s:o, s:o, s:f, s:b, s:b, s:b, s:i, s:s, s:o, s:o, s:o,"
			 " s:o, s:b, s:o, s:s, s:o, s:o, s:o, s:o, s:o}", "host", i->host, "role", i->role,
			 "agent_version", i->agent_version, "sent_at", time_oracle(i->sent_at_us),
			 "received_at", time_oracle(r->received_us), "clock_skew_s", skew,
			 "clock_skewed", max_skew_s > 0 && fabs(skew) > max_skew_s,
			 "have_tracking", i->have_tracking, "synchronised", i->synchronised,
			 "stratum", i->stratum, "leap", i->leap,
			 "offset_s", real_or_null_oracle(i->have_tracking, i->offset_s),
			 "root_delay_s", real_or_null_oracle(i->have_tracking, i->root_delay_s),
			 "root_dispersion_s",
			 real_or_null_oracle(i->have_tracking, i->root_dispersion_s),
			 "error_bound_s", real_or_null_oracle(i->have_tracking, bound),
			 "over_budget", i->have_tracking && (isfinite(rel) ? rel : bound) > budget_s,
			 "relative_error_bound_s", real_or_null_oracle(isfinite(rel), rel),
			 "bound", isfinite(rel) ? "relative" : "absolute",
			 "bound_reason", isfinite(rel) ? json_null() : json_string(spread_why_name(why)),
			 "master", i->sel.have ? json_string(i->sel.master) : json_null(), "rtc", rtc,
			 "check_ready", i->check_ready < 0 ? json_null()
							    : json_boolean(i->check_ready),
			 "authenticated", i->authenticated < 0 ? json_null()
							       : json_boolean(i->authenticated));
}

START_TEST(test_views_fleet_fields_match_jansson)
{
	enum { N = 7 };
	struct views_params p = { 1700000000.0, 0.005, 15, 5 };	/* f5, f6 skewed */
	struct store_latest rows[N];
	json_t *doc, *hosts;
	char host[16];
	char *text;

	for (int k = 0; k < N; k++) {
		snprintf(host, sizeof(host), "f%d", k);
		rows[k] = latest_row(host, 0.001 * k - 0.002, 1699999990.0 + k);
		rows[k].info.sent_at_us = 1699999989000000LL + 123457 * k;
	}
	rows[0].info.have_tracking = false;	/* no chronyd: numbers NaN, as the store gives them */
	rows[0].info.offset_s = rows[0].info.root_delay_s = rows[0].info.root_dispersion_s = NAN;
	rows[1].info.rtc_present = rows[1].info.rtc_valid = rows[1].info.rtc_have_offset = true;
	rows[1].info.rtc_offset_s = -0.0021234567891;
	rows[1].info.check_ready = 1;
	rows[1].info.authenticated = 1;		/* the selected source's NTP, issue 21 */
	rows[2].info.rtc_present = true;	/* an RTC that gave no offset */
	rows[2].info.rtc_offset_s = NAN;
	rows[2].info.check_ready = 0;
	rows[2].info.authenticated = 0;
	snprintf(rows[3].info.agent_version, sizeof(rows[3].info.agent_version),
		 "0.1 \"q\" \\ \x01\x1f\t\xc3\xa9");
	snprintf(rows[3].info.leap, sizeof(rows[3].info.leap), "insert");
	rows[4].info.offset_s = 1e-12;		/* exponents, integral values */
	rows[4].info.root_delay_s = 2.0;
	rows[4].info.root_dispersion_s = 123456789012.0;
	rows[5].info.offset_s = -0.0;
	rows[5].info.stratum = 16;
	rows[5].info.synchronised = false;
	rows[6].info.sent_at_us = -1;		/* before the epoch: still a time */
	rows[1].info.root_delay_s = 0.012;	/* a follower of "m\"1": relative 3.x ms */
	rows[1].info.root_dispersion_s = 0.003;
	rows[1].info.sel = (struct spread_sel){ true, "m\"1", 0.010, 0.001, 0.002, 0.0015, false };
	text = views_fleet_json(rows, N, &p, NULL);
	ck_assert_ptr_nonnull(text);
	doc = json_loads(text, 0, NULL);
	ck_assert_msg(doc, "not JSON: %.400s", text);
	hosts = json_object_get(doc, "hosts");
	ck_assert_uint_eq(json_array_size(hosts), N);
	for (int k = 0; k < N; k++) {
		json_t *got = json_deep_copy(json_array_get(hosts, k)), *want;
		char *g, *w;

		json_object_del(got, "age_s");		/* checked by test_views_fleet_age_text */
		json_object_del(got, "stale");
		json_object_del(got, "ready");
		rows[k].info.max_error_s = NAN;		/* the oracle computes its own */
		/* through the view's own precision: 9 significant digits */
		w = json_dumps(want = host_oracle(&rows[k], p.budget_s, p.max_clock_skew_s),
			       JSON_REAL_PRECISION(9));
		json_decref(want);
		want = json_loads(w, 0, NULL);
		free(w);
		g = json_dumps(got, JSON_SORT_KEYS);
		w = json_dumps(want, JSON_SORT_KEYS);
		ck_assert_msg(json_equal(got, want), "row %d:\n got %s\nwant %s", k, g, w);
		free(g);
		free(w);
		json_decref(got);
		json_decref(want);
	}
	json_decref(doc);
	free(text);
}
END_TEST

START_TEST(test_views_fleet_cache)
{
	struct store_latest rows[3] = { latest_row("a", 0.001, 99.0), latest_row("b", -0.008, 99.5),
					latest_row("c", 0.002, 98.0) };
	struct views_params p = { 100.0, 0.005, 15, 0 };
	struct views_cache cache = { NULL, 0 };
	char *plain, *cached;

	for (int round = 0; round < 4; round++) {
		size_t n = round == 2 ? 2 : 3;		/* "c" missing in round 2 */

		if (round == 1) {			/* "b" has a new report */
			rows[1] = latest_row("b", 0.0042, 99.9);
			rows[1].info.sent_at_us = 2000;
		}
		p.now += 1;
		plain = views_fleet_json(rows, n, &p, NULL);
		cached = views_fleet_json(rows, n, &p, &cache);
		ck_assert_ptr_nonnull(cached);
		ck_assert_str_eq(cached, plain);
		free(plain);
		free(cached);
	}
	cached = views_fleet_json(rows, 3, &p, &cache);
	ck_assert_ptr_nonnull(strstr(cached, "\"offset_s\":0.0042"));
	free(cached);
	views_cache_free(&cache);
}
END_TEST

START_TEST(test_views_metrics)
{
	struct store_latest rows[2] = { latest_row("a", 0.001, 99.0), latest_row("b", -0.008, 99.5) };
	struct views_params p = { 100.0, 0.005, 15, 0 };
	struct views_counters c = { .accepted = 7, .bad_json = 2, .batches = 3 };
	char *text = views_metrics(rows, 2, &p, &c);

	ck_assert_ptr_nonnull(strstr(text, "# TYPE fleetclock_host_offset_seconds gauge\n"));
	ck_assert_ptr_nonnull(strstr(text, "fleetclock_host_offset_seconds{host=\"b\"} -0.008\n"));
	ck_assert_ptr_nonnull(strstr(text, "fleetclock_host_error_bound_seconds{host=\"a\"} 0.0025\n"));
	ck_assert_ptr_nonnull(strstr(text, "fleetclock_host_last_report_age_seconds{host=\"a\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(text, "fleetclock_fleet_hosts 2\n"));
	ck_assert_ptr_nonnull(strstr(text, "fleetclock_collector_reports_total{result=\"stored\"} 7\n"));
	ck_assert_ptr_nonnull(strstr(text, "{result=\"invalid_json\"} 2\n"));
	ck_assert_ptr_nonnull(strstr(text, "fleetclock_collector_commits_total 3\n"));
	/* no RTC in these rows: no RTC samples */
	ck_assert_ptr_null(strstr(text, "fleetclock_host_rtc_offset_seconds{"));
	free(text);
}
END_TEST

START_TEST(test_token_equal)
{
	ck_assert(http_token_equal("s3cret", 6, "s3cret"));
	ck_assert(!http_token_equal("s3cre", 5, "s3cret"));
	ck_assert(!http_token_equal("s3cret!", 7, "s3cret"));
	ck_assert(!http_token_equal("s3creT", 6, "s3cret"));
	ck_assert(!http_token_equal("", 0, "s3cret"));
	/* a given token whose first bytes match but is longer */
	ck_assert(!http_token_equal("s3cret\0x", 8, "s3cret"));
}
END_TEST

/* A host whose reports say a time 17 minutes ahead of their arrival is a
 * finding (clock_skewed, counted in the summary and in /metrics), not a
 * stale host: it reported a second ago. */
START_TEST(test_views_clock_skew)
{
	struct store_latest rows[3] = { latest_row("ahead", 0.0001, 99.0),
					latest_row("behind", 0.0001, 99.0),
					latest_row("fine", 0.0001, 99.0) };
	struct views_params p = { 100.0, 0.005, 15, 5 };
	struct views_counters c = { 0 };
	json_t *d, *h;
	char *text;

	rows[0].info.sent_at_us = 99000000 + 1020000000;	/* +17 min */
	rows[1].info.sent_at_us = 99000000 - 6000000;		/* -6 s */
	rows[2].info.sent_at_us = 99000000 - 4000000;		/* -4 s: within 5 s */
	text = views_fleet_json(rows, 3, &p, NULL);
	d = json_loads(text, 0, NULL);
	ck_assert_ptr_nonnull(d);
	ck_assert_double_eq_tol(json_real_value(json_object_get(d, "max_clock_skew_s")), 5, 1e-9);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(d, "summary"),
							    "clock_skewed")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(d, "summary"),
							    "stale")), 0);
	h = json_array_get(json_object_get(d, "hosts"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(h, "host")), "ahead");
	ck_assert_double_eq_tol(json_real_value(json_object_get(h, "clock_skew_s")), 1020, 1e-6);
	ck_assert(json_is_true(json_object_get(h, "clock_skewed")));
	ck_assert(json_is_false(json_object_get(h, "stale")));
	h = json_array_get(json_object_get(d, "hosts"), 1);
	ck_assert(json_is_true(json_object_get(h, "clock_skewed")));
	h = json_array_get(json_object_get(d, "hosts"), 2);
	ck_assert(json_is_false(json_object_get(h, "clock_skewed")));
	json_decref(d);
	free(text);
	text = views_metrics(rows, 3, &p, &c);
	ck_assert_ptr_nonnull(strstr(text, "fleetclock_host_clock_skew_seconds{host=\"ahead\"} 1020\n"));
	ck_assert_ptr_nonnull(strstr(text, "fleetclock_host_clock_skew_seconds{host=\"fine\"} -4\n"));
	ck_assert_ptr_nonnull(strstr(text, "fleetclock_fleet_clock_skewed_hosts 2\n"));
	free(text);
	/* 0: not checked */
	p.max_clock_skew_s = 0;
	text = views_fleet_json(rows, 3, &p, NULL);
	ck_assert_ptr_null(strstr(text, "\"clock_skewed\":true"));
	free(text);
}
END_TEST

/* The cached fragment of a host is its report's: a newer report with the
 * same sent_at (possible once the latest follows arrival) is rendered
 * again, not taken from the cache. */
START_TEST(test_views_fleet_cache_by_arrival)
{
	struct store_latest row = latest_row("a", 0.001, 99.0);
	struct views_params p = { 100.0, 0.005, 15, 5 };
	struct views_cache cache = { NULL, 0 };
	char *plain, *cached;

	free(views_fleet_json(&row, 1, &p, &cache));
	row.received_us += 7000000;	/* same sent_at, arrived 7 s later */
	plain = views_fleet_json(&row, 1, &p, NULL);
	cached = views_fleet_json(&row, 1, &p, &cache);
	ck_assert_str_eq(cached, plain);
	free(plain);
	free(cached);
	views_cache_free(&cache);
}
END_TEST

START_TEST(test_json_content_type)
{
	static const struct { const char *v; bool ok; } cases[] = {
		{ "application/json", true },
		{ "application/json; charset=utf-8", true },
		{ "Application/JSON;charset=UTF-8", true },
		{ "  application/json  ", true },
		{ "application/json ; charset=utf-8", true },
		{ "application/jsonx", false },
		{ "application/json-seq", false },
		{ "text/plain", false },
		{ "application/x-www-form-urlencoded", false },
		{ "", false },
		{ NULL, false },
	};

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++)
		ck_assert_msg(http_is_json_type(cases[k].v) == cases[k].ok, "'%s'",
			      cases[k].v ? cases[k].v : "(none)");
}
END_TEST

START_TEST(test_host_tokens_parse)
{
	struct host_tokens t;
	char err[256];

	ck_assert_int_eq(host_tokens_parse("# fleet\n\npi-02 tok-b\n  pi-01\ttok-a  \r\n"
					   "observer tok-c", "tokens", &t, err, sizeof(err)), 0);
	ck_assert_uint_eq(t.n, 3);
	ck_assert_str_eq(host_tokens_find(&t, "pi-01")->token, "tok-a");
	ck_assert_str_eq(host_tokens_find(&t, "observer")->token, "tok-c");
	ck_assert_ptr_null(host_tokens_find(&t, "pi-03"));
	host_tokens_free(&t);
	ck_assert_uint_eq(t.n, 0);
	ck_assert_int_eq(host_tokens_parse("a x\nb y z\n", "f", &t, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "f:2: expected 'HOST TOKEN'"), "%s", err);
	ck_assert_int_eq(host_tokens_parse("a x\nb\n", "f", &t, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(host_tokens_parse("a x\na y\n", "f", &t, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "host a has more than one token"), "%s", err);
	ck_assert_int_eq(host_tokens_parse("a x\nb x\n", "f", &t, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "hosts a and b have the same token"), "%s", err);
	ck_assert_int_eq(host_tokens_parse("a x\nb change-me\n", "/etc/t", &t, err, sizeof(err)),
			 -EINVAL);
	ck_assert_msg(strstr(err, "/etc/t:2:") && strstr(err, "placeholder"), "%s", err);
	ck_assert_uint_eq(t.n, 0);
}
END_TEST

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	ck_assert_int_eq(chmod(path, mode), 0);
}

/* The shipped placeholder token is refused at start-up, with the file named;
 * a token file is loaded, and refused when others can read it. */
START_TEST(test_config_tokens)
{
	char dir[] = "/tmp/fc-test-conf-XXXXXX", conf[80], toks[80], text[256], err[512];
	struct collector_config cfg;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(conf, sizeof(conf), "%s/collector.conf", dir);
	snprintf(toks, sizeof(toks), "%s/tokens", dir);
	write_file(conf, "[collector]\ntokens = s3cret, CHANGE-ME\n", 0600);
	ck_assert_int_eq(collector_config_load(&cfg, conf, true, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, conf) && strstr(err, "'CHANGE-ME' is the placeholder"), "%s", err);
	write_file(toks, "pi-01 tok-a\npi-02 tok-b\n", 0640);
	snprintf(text, sizeof(text), "[collector]\ntokens = s3cret\ntoken_file = %s\n", toks);
	write_file(conf, text, 0600);
	ck_assert_msg(collector_config_load(&cfg, conf, true, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(cfg.host_tokens.n, 2);
	ck_assert_double_eq_tol(cfg.max_clock_skew_s, 5, 1e-9);
	ck_assert_int_eq(cfg.per_ip_connections, 64);
	collector_config_free(&cfg);
	ck_assert_int_eq(chmod(toks, 0644), 0);
	ck_assert_int_eq(collector_config_load(&cfg, conf, true, err, sizeof(err)), -EPERM);
	ck_assert_msg(strstr(err, toks) && strstr(err, "chmod o-r"), "%s", err);
	/* an empty token file would silently turn authentication off */
	write_file(toks, "# nobody yet\n", 0600);
	ck_assert_int_eq(collector_config_load(&cfg, conf, true, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, toks) && strstr(err, "no 'HOST TOKEN' line"), "%s", err);
	snprintf(text, sizeof(text), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(text), 0);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("collector");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_store_concurrent);
	tcase_add_test(tc, test_history_relative);
	tcase_add_test(tc, test_store_latest_memory_equals_table);
	tcase_add_test(tc, test_store_latest_follows_arrival_after_step_back);
	tcase_add_test(tc, test_store_checkpoints_in_background);
	tcase_add_test(tc, test_store_bad_path);
	tcase_add_test(tc, test_views_fleet);
	tcase_add_test(tc, test_views_fleet_age_text);
	tcase_add_test(tc, test_views_fleet_fields_match_jansson);
	tcase_add_test(tc, test_views_fleet_cache);
	tcase_add_test(tc, test_views_metrics);
	tcase_add_test(tc, test_token_equal);
	tcase_add_test(tc, test_views_clock_skew);
	tcase_add_test(tc, test_views_fleet_cache_by_arrival);
	tcase_add_test(tc, test_json_content_type);
	tcase_add_test(tc, test_host_tokens_parse);
	tcase_add_test(tc, test_config_tokens);
	suite_add_tcase(su, tc);
	return check_run(su);
}
