/* Unit tests for the /metrics series of issue 19: what status_metrics reads
 * from a document (tables of documents, odd types included), the
 * collector's view of the elected master (tables of report sequences) and
 * the rendered text. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "metrics_election.h"
#include "report/status_metrics.h"
#include "views.h"
#include "check_run.h"

/* ---- status_metrics_fill ---- */

static struct status_metrics fill(const char *text)
{
	json_error_t e;
	json_t *doc = json_loads(text, 0, &e);
	struct status_metrics m;

	ck_assert_msg(doc, "%s: %s", text, e.text);
	status_metrics_fill(doc, &m);
	json_decref(doc);
	return m;
}

START_TEST(test_fill_election)
{
	struct status_metrics m = fill(
		"{\"election\":{\"state\":\"serving\",\"serving\":true,"
		"\"self\":{\"clock_class\":7,\"priority1\":1,\"priority2\":200},"
		"\"upstreams\":[{\"offline\":true},{\"offline\":false},{\"offline\":true}]}}");

	ck_assert(m.election);
	ck_assert_int_eq(m.el_state, STATUS_EL_SERVING);
	ck_assert(m.el_serving);
	ck_assert_int_eq(m.clock_class, 7);
	ck_assert_int_eq(m.priority1, 1);
	ck_assert_int_eq(m.priority2, 200);
	ck_assert_int_eq(m.upstreams, 3);
	ck_assert_int_eq(m.upstreams_offline, 2);
	ck_assert(!m.rtc_have_drift);
	ck_assert(!m.have_reach);
}
END_TEST

/* Documents the schema accepts but whose election section (not validated
 * field by field) holds odd values: read as unknown, never a crash. */
START_TEST(test_fill_tolerant)
{
	static const struct {
		const char *doc;
		bool election;
		int state, cls, prio1, ups, offline;
		bool serving;
	} t[] = {
		{ "{\"election\":null}", false, 0, -1, -1, -1, -1, false },
		{ "{}", false, 0, -1, -1, -1, -1, false },
		{ "{\"election\":{}}", true, STATUS_EL_UNKNOWN, -1, -1, -1, -1, false },
		{ "{\"election\":{\"state\":\"dancing\",\"serving\":1}}", true, STATUS_EL_UNKNOWN,
		  -1, -1, -1, -1, false },
		{ "{\"election\":{\"state\":7,\"self\":[1]}}", true, 0, -1, -1, -1, -1, false },
		{ "{\"election\":{\"state\":\"following\",\"self\":{\"clock_class\":256,"
		  "\"priority1\":-1},\"upstreams\":{}}}", true, STATUS_EL_FOLLOWING, -1, -1, -1, -1,
		  false },
		{ "{\"election\":{\"state\":\"rejoin-holdoff\",\"self\":{\"clock_class\":6.5,"
		  "\"priority1\":\"1\"},\"upstreams\":[1,null,{\"offline\":\"yes\"}]}}", true,
		  STATUS_EL_REJOIN_HOLDOFF, -1, -1, 3, 0, false },
		{ "{\"election\":{\"state\":\"listening\",\"serving\":false,\"upstreams\":[]}}", true,
		  STATUS_EL_LISTENING, -1, -1, 0, 0, false },
	};

	for (size_t k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
		struct status_metrics m = fill(t[k].doc);

		ck_assert_msg(m.election == t[k].election, "%s", t[k].doc);
		if (!m.election)
			continue;
		ck_assert_msg(m.el_state == t[k].state, "%s: state %d", t[k].doc, m.el_state);
		ck_assert_msg(m.el_serving == t[k].serving, "%s", t[k].doc);
		ck_assert_msg(m.clock_class == t[k].cls, "%s: class %d", t[k].doc, m.clock_class);
		ck_assert_msg(m.priority1 == t[k].prio1, "%s", t[k].doc);
		ck_assert_msg(m.upstreams == t[k].ups, "%s: %d", t[k].doc, m.upstreams);
		ck_assert_msg(m.upstreams_offline == t[k].offline, "%s", t[k].doc);
	}
}
END_TEST

START_TEST(test_fill_rtc_and_reach)
{
	static const struct {
		const char *doc;
		bool drift;
		double ppm;
		bool reach;
		int reg;
	} t[] = {
		{ "{\"rtc\":{\"drift_ppm\":-12.5}}", true, -12.5, false, 0 },
		{ "{\"rtc\":{\"drift_ppm\":null}}", false, 0, false, 0 },
		{ "{\"rtc\":null}", false, 0, false, 0 },
		{ "{\"chrony\":{\"sources\":[{\"state\":\"selectable\",\"reach\":255},"
		  "{\"state\":\"selected\",\"reach\":7}]}}", false, 0, true, 7 },
		{ "{\"chrony\":{\"sources\":[{\"state\":\"selectable\",\"reach\":255}]}}",
		  false, 0, false, 0 },
		{ "{\"chrony\":{\"sources\":[{\"state\":\"selected\",\"reach\":300}]}}",
		  false, 0, false, 0 },
		{ "{\"chrony\":null}", false, 0, false, 0 },
	};

	for (size_t k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
		struct status_metrics m = fill(t[k].doc);

		ck_assert_msg(m.rtc_have_drift == t[k].drift, "%s", t[k].doc);
		if (t[k].drift)
			ck_assert_double_eq(m.rtc_drift_ppm, t[k].ppm);
		ck_assert_msg(m.have_reach == t[k].reach, "%s", t[k].doc);
		ck_assert_int_eq(m.selected_reach, t[k].reg);
	}
}
END_TEST

/* status_parse fills the metrics of a real document. */
START_TEST(test_parse_fills)
{
	static const char doc[] =
		"{\"schema\":\"fleetclock.status/1\",\"host\":\"m1\",\"role\":\"master\","
		"\"agent_version\":\"0.1.0\",\"sent_at\":\"2026-12-03T09:00:00Z\",\"chrony\":null,"
		"\"max_error_s\":null,\"rtc\":{\"backend\":\"ds1307\",\"valid\":true,"
		"\"offset_s\":0.001,\"drift_ppm\":3.5},"
		"\"election\":{\"state\":\"serving\",\"master\":\"m1\",\"serving\":true,"
		"\"eligible\":true,\"upstreams\":"
		"[{\"address\":\"192.0.2.1\",\"offline\":true,\"offset_s\":0}]},\"check\":null}";
	struct status_info i;
	char err[256];

	ck_assert_msg(status_parse(doc, strlen(doc), &i, NULL, err, sizeof(err)) == STATUS_OK,
		      "%s", err);
	ck_assert(i.metrics.election && i.metrics.el_serving);
	ck_assert_int_eq(i.metrics.upstreams_offline, 1);
	ck_assert(i.metrics.rtc_have_drift);
	ck_assert_double_eq(i.metrics.rtc_drift_ppm, 3.5);
}
END_TEST

/* ---- the store: the fields survive a collector restart ---- */

static void on_done(void *arg, int rc)
{
	__atomic_store_n((int *)arg, rc == 0 ? 1 : -1, __ATOMIC_RELEASE);
}

START_TEST(test_store_reopen_keeps_metrics)
{
	static const char doc[] =
		"{\"schema\":\"fleetclock.status/1\",\"host\":\"m1\",\"role\":\"master\","
		"\"agent_version\":\"0.1.0\",\"sent_at\":\"2026-12-03T09:00:00Z\",\"chrony\":null,"
		"\"max_error_s\":null,\"rtc\":{\"backend\":\"ds1307\",\"valid\":true,"
		"\"offset_s\":0.001,\"drift_ppm\":-4.25},"
		"\"election\":{\"state\":\"serving\",\"master\":\"m1\",\"serving\":true,"
		"\"eligible\":true,\"self\":{\"priority1\":128,\"clock_class\":6,\"accuracy\":254,"
		"\"variance\":65535,\"priority2\":128,\"identity\":\"m1\",\"steps_removed\":0},"
		"\"upstreams\":[{\"address\":\"192.0.2.1\",\"offline\":true,\"offset_s\":0},"
		"{\"address\":\"192.0.2.2\",\"offline\":false,\"offset_s\":0}]},\"check\":null}";
	char dir[] = "/tmp/fc-test-metrics-XXXXXX", db[64], err[256];
	struct store_opts o = { .path = db, .retention_days = 30, .batch_max = 16 };
	struct store_latest *rows;
	struct status_info i;
	struct store *s;
	size_t n;
	int done = 0;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(db, sizeof(db), "%s/c.db", dir);
	ck_assert(status_parse(doc, strlen(doc), &i, NULL, err, sizeof(err)) == STATUS_OK);
	ck_assert_msg(store_open(&o, &s, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(store_submit(s, &i, doc, strlen(doc), (int64_t)time(NULL) * 1000000,
				      on_done, &done), 0);
	for (int k = 0; k < 500 && !__atomic_load_n(&done, __ATOMIC_ACQUIRE); k++)
		usleep(10000);	/* at most 5 s */
	ck_assert_int_eq(done, 1);
	store_close(s);
	ck_assert_msg(store_open(&o, &s, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(store_latest_all(s, &rows, &n), 0);
	store_close(s);
	ck_assert_uint_eq(n, 1);
	ck_assert(rows[0].info.metrics.election && rows[0].info.metrics.el_serving);
	ck_assert_int_eq(rows[0].info.metrics.el_state, STATUS_EL_SERVING);
	ck_assert_int_eq(rows[0].info.metrics.clock_class, 6);
	ck_assert_int_eq(rows[0].info.metrics.upstreams_offline, 1);
	ck_assert(rows[0].info.metrics.rtc_have_drift);
	ck_assert_double_eq(rows[0].info.metrics.rtc_drift_ppm, -4.25);
	free(rows);
	snprintf(err, sizeof(err), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(err), 0);
}
END_TEST

/* ---- the master ---- */

static struct status_info report(const char *host, bool candidate, bool serving)
{
	struct status_info i = { 0 };

	snprintf(i.host, sizeof(i.host), "%s", host);
	i.metrics.election = candidate;
	i.metrics.el_serving = serving;
	return i;
}

/* A step of a sequence: at time t, a report (host "" for none: only a
 * look at the view), then what the view says. */
struct step {
	double t;
	const char *host;
	char kind;		/* 'S' serving, 'F' candidate not serving, 'N' no election */
	const char *master;	/* "" none */
	unsigned failovers;
	double no_master_s;
};

static void run_steps(const char *name, const struct step *s, size_t n)
{
	struct metrics_master m;
	struct metrics_master_view v;

	ck_assert_int_eq(metrics_master_init(&m), 0);
	for (size_t k = 0; k < n; k++) {
		struct status_info i = report(s[k].host, s[k].kind != 'N', s[k].kind == 'S');

		if (s[k].host[0])
			metrics_master_observe(&m, &i, s[k].t, 3.0);
		metrics_master_get(&m, s[k].t, 3.0, &v);
		ck_assert_msg(!strcmp(v.master, s[k].master), "%s step %zu: master '%s', want '%s'",
			      name, k, v.master, s[k].master);
		ck_assert_msg(v.have_master == (s[k].master[0] != 0), "%s step %zu", name, k);
		ck_assert_msg(v.failovers == s[k].failovers, "%s step %zu: %llu failovers, want %u",
			      name, k, (unsigned long long)v.failovers, s[k].failovers);
		ck_assert_msg(fabs(v.no_master_s - s[k].no_master_s) < 1e-9,
			      "%s step %zu: no master for %g s, want %g", name, k, v.no_master_s,
			      s[k].no_master_s);
	}
	metrics_master_destroy(&m);
}

#define RUN(steps) run_steps(#steps, steps, sizeof(steps) / sizeof(steps[0]))

START_TEST(test_master_failover_by_stale)
{
	/* m1 serves, its reports stop (killed): stale after 3 s; f1 takes over */
	static const struct step s[] = {
		{ 100, "h1", 'N', "", 0, 0 },		/* no candidate yet: nothing counted */
		{ 101, "f1", 'F', "", 0, 0 },
		{ 102, "m1", 'S', "m1", 0, 0 },		/* the first master is no failover */
		{ 103, "m1", 'S', "m1", 0, 0 },
		{ 106, "", 0, "m1", 0, 0 },		/* 3 s: still fresh */
		{ 106.5, "", 0, "", 0, 3.5 },		/* stale: without one since 103 */
		{ 110, "f1", 'F', "", 0, 7 },
		{ 111, "f1", 'S', "f1", 1, 0 },		/* m1 -> f1 */
		{ 112, "m1", 'F', "f1", 1, 0 },		/* m1 back, following */
	};
	RUN(s);
}
END_TEST

START_TEST(test_master_handover_and_restart)
{
	static const struct step s[] = {
		{ 10, "m1", 'S', "m1", 0, 0 },
		{ 11, "m1", 'F', "", 0, 0 },		/* steps down: none since 11 */
		{ 12, "", 0, "", 0, 1 },
		{ 12, "m1", 'S', "m1", 0, 0 },		/* m1 again (restart): no failover */
		{ 13, "f1", 'S', "m1", 0, 0 },		/* two serve: m1 stays, no failover */
		{ 14, "m1", 'F', "", 0, 0 },
		{ 14.5, "f1", 'S', "f1", 1, 0 },	/* m1 -> f1 */
		{ 15, "f1", 'N', "", 1, 0 },		/* the master's election is off */
		{ 16, "m1", 'S', "m1", 2, 0 },		/* f1 -> m1 */
		{ 17, "f1", 'N', "m1", 2, 0 },		/* a non-candidate changes nothing */
		{ 17, "h1", 'N', "m1", 2, 0 },
	};
	RUN(s);
}
END_TEST

START_TEST(test_master_flapping)
{
	static const struct step s[] = {
		{ 1, "a", 'S', "a", 0, 0 },
		{ 2, "a", 'F', "", 0, 0 },
		{ 2, "b", 'S', "b", 1, 0 },
		{ 3, "b", 'F', "", 1, 0 },
		{ 3, "a", 'S', "a", 2, 0 },
		{ 4, "a", 'F', "", 2, 0 },
		{ 4, "b", 'S', "b", 3, 0 },
		{ 20, "", 0, "", 3, 16 },		/* b silent since 4 */
	};
	RUN(s);
}
END_TEST

START_TEST(test_master_never)
{
	static const struct step s[] = {
		{ 5, "", 0, "", 0, 0 },			/* nothing seen: not judged */
		{ 6, "h1", 'N', "", 0, 0 },
		{ 7, "f1", 'F', "", 0, 0 },		/* a candidate, nobody serves */
		{ 19, "", 0, "", 0, 12 },
	};
	struct metrics_master m;
	struct metrics_master_view v;

	RUN(s);
	metrics_master_init(&m);
	metrics_master_get(&m, 5, 3, &v);
	ck_assert(!v.seen);
	metrics_master_destroy(&m);
}
END_TEST

/* ---- rendering ---- */

static struct store_latest row(const char *host)
{
	struct store_latest r = { .received_us = 99000000 };

	snprintf(r.info.host, sizeof(r.info.host), "%s", host);
	snprintf(r.info.leap, sizeof(r.info.leap), "normal");
	r.info.have_tracking = r.info.synchronised = true;
	r.info.check_ready = -1;
	r.info.offset_s = 0.0001;
	r.info.root_delay_s = r.info.root_dispersion_s = 0.0001;
	r.info.max_error_s = 0.00025;
	return r;
}

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)); p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

START_TEST(test_render)
{
	struct store_latest rows[3] = { row("f1"), row("h1"), row("m1") };
	struct metrics_master_view mv = { .seen = true, .have_master = true, .failovers = 4 };
	struct views_params p = { 100.0, 0.005, 15, 0 };
	struct views_counters c = { .master = &mv };
	char *text;

	snprintf(mv.master, sizeof(mv.master), "m1");
	rows[0].info.metrics = (struct status_metrics){ .election = true,
		.el_state = STATUS_EL_FOLLOWING, .clock_class = 52, .priority1 = 2, .priority2 = -1,
		.upstreams = 0, .upstreams_offline = 0 };
	rows[2].info.metrics = (struct status_metrics){ .election = true, .el_serving = true,
		.el_state = STATUS_EL_SERVING, .clock_class = 6, .priority1 = 1, .priority2 = 128,
		.upstreams = 2, .upstreams_offline = 1, .have_reach = true, .selected_reach = 0x37 };
	rows[1].info.rtc_present = true;
	rows[1].info.rtc_valid = false;
	rows[1].info.metrics.rtc_have_drift = true;
	rows[1].info.metrics.rtc_drift_ppm = -21.5;
	rows[1].info.check_ready = 0;
	text = views_metrics(rows, 3, &p, &c);
	ck_assert_ptr_nonnull(text);
	ck_assert(has_line(text, "fleetclock_election_serving{host=\"f1\"} 0"));
	ck_assert(has_line(text, "fleetclock_election_serving{host=\"m1\"} 1"));
	ck_assert(!strstr(text, "fleetclock_election_serving{host=\"h1\"}"));
	ck_assert(has_line(text, "fleetclock_election_clock_class{host=\"f1\"} 52"));
	ck_assert(!strstr(text, "fleetclock_election_priority2{host=\"f1\"}"));	/* unknown */
	ck_assert(has_line(text, "fleetclock_election_priority2{host=\"m1\"} 128"));
	ck_assert(has_line(text, "fleetclock_election_state{host=\"m1\",state=\"serving\"} 1"));
	ck_assert(has_line(text, "fleetclock_election_state{host=\"m1\",state=\"following\"} 0"));
	ck_assert(has_line(text, "fleetclock_election_state{host=\"f1\",state=\"following\"} 1"));
	ck_assert(has_line(text, "fleetclock_election_master{host=\"m1\"} 1"));
	ck_assert(has_line(text, "fleetclock_election_failovers_total 4"));
	ck_assert(has_line(text, "# TYPE fleetclock_election_failovers_total counter"));
	ck_assert(has_line(text, "fleetclock_election_no_master_seconds 0"));
	ck_assert(has_line(text, "fleetclock_host_quarantined_sources{host=\"m1\"} 1"));
	ck_assert(has_line(text, "fleetclock_host_quarantined_sources{host=\"f1\"} 0"));
	ck_assert(has_line(text, "fleetclock_host_rtc_drift_ratio{host=\"h1\"} -2.15e-05"));
	ck_assert(has_line(text, "fleetclock_host_rtc_valid{host=\"h1\"} 0"));
	ck_assert(!strstr(text, "fleetclock_host_rtc_valid{host=\"m1\"}"));	/* no RTC */
	ck_assert(has_line(text, "fleetclock_host_source_reach_ratio{host=\"m1\"} 0.625"));
	ck_assert(!strstr(text, "fleetclock_host_source_reach_ratio{host=\"h1\"}"));
	ck_assert(has_line(text, "fleetclock_host_check_ready{host=\"h1\"} 0"));
	ck_assert(!strstr(text, "fleetclock_host_check_ready{host=\"m1\"}"));
	ck_assert(has_line(text, "fleetclock_host_stale{host=\"h1\"} 0"));
	ck_assert(has_line(text, "fleetclock_host_ready{host=\"h1\"} 1"));
	free(text);

	/* no candidate ever: the fleet's election series are not judged */
	mv = (struct metrics_master_view){ 0 };
	text = views_metrics(rows + 1, 1, &p, &c);
	ck_assert(!strstr(text, "fleetclock_election_failovers_total"));
	ck_assert(!strstr(text, "fleetclock_election_no_master_seconds"));
	ck_assert(!strstr(text, "fleetclock_election_master{"));
	free(text);
	c.master = NULL;	/* callers without a master view */
	text = views_metrics(rows, 3, &p, &c);
	ck_assert(!strstr(text, "fleetclock_election_failovers_total"));
	ck_assert(has_line(text, "fleetclock_election_serving{host=\"m1\"} 1"));
	free(text);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("metrics");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_fill_election);
	tcase_add_test(tc, test_fill_tolerant);
	tcase_add_test(tc, test_fill_rtc_and_reach);
	tcase_add_test(tc, test_parse_fills);
	tcase_add_test(tc, test_store_reopen_keeps_metrics);
	tcase_add_test(tc, test_master_failover_by_stale);
	tcase_add_test(tc, test_master_handover_and_restart);
	tcase_add_test(tc, test_master_flapping);
	tcase_add_test(tc, test_master_never);
	tcase_add_test(tc, test_render);
	suite_add_tcase(su, tc);
	return check_run(su);
}
