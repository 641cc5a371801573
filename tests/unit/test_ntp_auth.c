/* Unit tests for common/ntp_auth: the authenticated flag decoded from real
 * NTP_DATA replies, the --check line, the status value and the election's
 * decision, as tables. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "chrony/chrony_wire.h"
#include "chrony/ntp_auth.h"
#include "chrony/readiness.h"
#include "report/status.h"
#include "check_run.h"

/* Captured with strace from `chronyc ntpdata 127.0.55.1` against chronyd 4.3
 * (-x) following a chronyd on 127.0.55.1: with `key 1001` (AES256 CMAC) on
 * the server line (chronyc: "Authenticated : Yes", flags 0x83ff), and without
 * a key ("Authenticated : No", flags 0x03ff). */
static const uint8_t reply_auth[] = {
	0x06, 0x02, 0x00, 0x00, 0x00, 0x39, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x79, 0xf8, 0x04, 0xfe, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x7f, 0x00, 0x37, 0x01, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
	0x7f, 0x00, 0x37, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x7b, 0x00, 0x04,
	0x04, 0x08, 0xff, 0xe6, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x7f, 0x7f, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x6b, 0x11, 0x31, 0x83,
	0x17, 0xdd, 0xfc, 0x14, 0xdf, 0x43, 0xd3, 0xa6, 0xe2, 0xf8, 0x67, 0x49,
	0xd2, 0x97, 0xea, 0xa4, 0xe8, 0xa3, 0xc5, 0xdc, 0x00, 0x00, 0x00, 0x00,
	0x83, 0xff, 0x4b, 0x4b, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x07,
	0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x07, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
};

static const uint8_t reply_noauth[] = {
	0x06, 0x02, 0x00, 0x00, 0x00, 0x39, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0xc4, 0x59, 0xcd, 0x5c, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x7f, 0x00, 0x37, 0x01, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
	0x7f, 0x00, 0x37, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x7b, 0x00, 0x04,
	0x04, 0x08, 0xfe, 0xe6, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x7f, 0x7f, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x6b, 0x11, 0x31, 0x94,
	0x1f, 0x8c, 0xce, 0x48, 0xd8, 0xbe, 0x96, 0xd4, 0xe0, 0xe8, 0x3a, 0xf0,
	0xd2, 0x96, 0x0e, 0x7f, 0xe8, 0x86, 0xdc, 0x05, 0x00, 0x00, 0x00, 0x00,
	0x03, 0xff, 0x4b, 0x4b, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x0c,
	0x00, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x0c, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
};

START_TEST(test_real_replies)
{
	struct chrony_reply r;

	ck_assert_int_eq(chrony_wire_decode_reply(reply_auth, sizeof(reply_auth), CHRONY_CMD_NTP_DATA, &r), 0);
	ck_assert_uint_eq(r.u.ntp_data.flags, 0x83ff);
	ck_assert_uint_eq(r.u.ntp_data.total_valid_count, 7);
	ck_assert_int_eq(ntp_auth_from_data(&r.u.ntp_data), NTP_AUTH_YES);
	ck_assert_int_eq(chrony_wire_decode_reply(reply_noauth, sizeof(reply_noauth), CHRONY_CMD_NTP_DATA, &r), 0);
	ck_assert_uint_eq(r.u.ntp_data.flags, 0x03ff);
	ck_assert_int_eq(ntp_auth_from_data(&r.u.ntp_data), NTP_AUTH_NO);
	r.u.ntp_data.total_valid_count = 0;	/* chronyd restarted: no valid reply yet */
	ck_assert_int_eq(ntp_auth_from_data(&r.u.ntp_data), NTP_AUTH_NO_DATA);
}
END_TEST

START_TEST(test_mode_parse)
{
	enum ntp_auth_mode m;

	ck_assert_int_eq(ntp_auth_mode_parse("required", &m), 0);
	ck_assert_int_eq(m, NTP_AUTH_MODE_REQUIRED);
	ck_assert_int_eq(ntp_auth_mode_parse("report", &m), 0);
	ck_assert_int_eq(m, NTP_AUTH_MODE_REPORT);
	ck_assert_int_eq(ntp_auth_mode_parse("off", &m), 0);
	ck_assert_int_eq(m, NTP_AUTH_MODE_OFF);
	ck_assert_int_lt(ntp_auth_mode_parse("yes", &m), 0);
	ck_assert_int_lt(ntp_auth_mode_parse("", &m), 0);
	ck_assert_int_lt(ntp_auth_mode_parse(NULL, &m), 0);
	ck_assert_str_eq(ntp_auth_mode_str(NTP_AUTH_MODE_REQUIRED), "required");
}
END_TEST

/* mode x state: the --check verdict (0 ok, 1 fail, 2 skip), whether the
 * election may follow, the status document's value. */
static const struct {
	enum ntp_auth_mode mode;
	enum ntp_auth_state state;
	int judge;
	bool follow;
	int json;
} table[] = {
	{ NTP_AUTH_MODE_REQUIRED, NTP_AUTH_YES, 0, true, 1 },
	{ NTP_AUTH_MODE_REQUIRED, NTP_AUTH_NO, 1, false, 0 },
	{ NTP_AUTH_MODE_REQUIRED, NTP_AUTH_NO_DATA, 1, true, -1 },
	{ NTP_AUTH_MODE_REQUIRED, NTP_AUTH_ERROR, 1, false, -1 },
	{ NTP_AUTH_MODE_REQUIRED, NTP_AUTH_NO_SOURCE, 2, true, -1 },
	{ NTP_AUTH_MODE_REPORT, NTP_AUTH_YES, 0, true, 1 },
	{ NTP_AUTH_MODE_REPORT, NTP_AUTH_NO, 0, true, 0 },
	{ NTP_AUTH_MODE_REPORT, NTP_AUTH_ERROR, 2, true, -1 },
	{ NTP_AUTH_MODE_REPORT, NTP_AUTH_NO_DATA, 2, true, -1 },
	{ NTP_AUTH_MODE_OFF, NTP_AUTH_NO, 0, true, 0 },
};

START_TEST(test_table)
{
	struct ntp_auth_result r = { .state = table[_i].state, .source = "master", .detail = "x" };
	char value[400];

	ck_assert_int_eq(ntp_auth_judge(table[_i].mode, &r, false, value, sizeof(value)), table[_i].judge);
	/* an upstream outside the fleet is reported, never failed */
	ck_assert_int_ne(ntp_auth_judge(table[_i].mode, &r, true, value, sizeof(value)), 1);
	ck_assert_int_eq(ntp_auth_may_follow(table[_i].mode, table[_i].state), table[_i].follow);
	ck_assert_int_eq(ntp_auth_json_value(&r), table[_i].json);
}
END_TEST

START_TEST(test_selected)
{
	struct chrony_snapshot *s = calloc(1, sizeof(*s));

	ck_assert_ptr_null(ntp_auth_selected(s));
	s->n_sources = 2;
	s->sources[0].data.state = CHRONY_SRC_UNSELECTED;
	s->sources[1].data.state = CHRONY_SRC_SELECTED;
	s->sources[1].data.mode = CHRONY_MODE_CLIENT;
	ck_assert_ptr_eq(ntp_auth_selected(s), &s->sources[1]);
	s->sources[1].data.mode = CHRONY_MODE_REF;	/* a GPS refclock: not NTP */
	ck_assert_ptr_null(ntp_auth_selected(s));
	free(s);
}
END_TEST

/* The readiness line: a healthy node whose master is not authenticated
 * fails only when authentication is required. */
START_TEST(test_readiness_line)
{
	struct chrony_snapshot *s = calloc(1, sizeof(*s));
	struct ntp_auth_result auth = { .state = NTP_AUTH_NO, .source = "192.168.50.10" };
	struct readiness_limits lim = { .budget = 1, .max_update_polls = 1000, .max_skew_ppm = 100,
					.max_freq_ppm = 250, .rtc_max_offset = 1, .build_epoch = 0 };
	struct readiness_input in = { .snap = s, .now = 1000, .ntp_auth = &auth,
				      .ntp_auth_mode = NTP_AUTH_MODE_REQUIRED };
	struct readiness_report r;
	const struct readiness_check *line = NULL;

	s->tracking.ref_id = 0xC0A8320A;
	s->tracking.ref_time.tv_sec = 999;
	s->n_sources = 1;
	s->sources[0].data.state = CHRONY_SRC_SELECTED;
	strcpy(s->sources[0].name, "192.168.50.10");
	readiness_evaluate(&in, &lim, &r);
	for (size_t i = 0; i < r.n_checks; i++)
		if (!strcmp(r.checks[i].name, "ntp auth"))
			line = &r.checks[i];
	ck_assert_ptr_nonnull(line);
	ck_assert_int_eq(line->status, READINESS_FAIL);
	ck_assert_int_eq(r.verdict, READINESS_NOT_READY);
	in.ntp_auth_mode = NTP_AUTH_MODE_REPORT;
	readiness_evaluate(&in, &lim, &r);
	ck_assert_int_eq(r.verdict, READINESS_READY);
	auth.state = NTP_AUTH_YES;
	in.ntp_auth_mode = NTP_AUTH_MODE_REQUIRED;
	readiness_evaluate(&in, &lim, &r);
	ck_assert_int_eq(r.verdict, READINESS_READY);
	in.ntp_auth = NULL;	/* not queried: no line at all */
	readiness_evaluate(&in, &lim, &r);
	for (size_t i = 0; i < r.n_checks; i++)
		ck_assert_str_ne(r.checks[i].name, "ntp auth");
	free(s);
}
END_TEST

/* chrony.authenticated in the status document: set by the agent, a
 * boolean or null, read by the collector; anything else is refused. */
START_TEST(test_status_field)
{
	static const char *doc =
		"{\"schema\":\"fleetclock.status/1\",\"host\":\"h1\",\"role\":\"headset\","
		"\"agent_version\":\"1\",\"sent_at\":\"2026-12-03T09:00:00Z\",\"chrony\":"
		"{\"tracking\":{\"ref_id\":\"C0A8320A\",\"stratum\":3,\"leap\":\"normal\","
		"\"offset_s\":0,\"root_delay_s\":0,\"root_dispersion_s\":0,\"synchronised\":true},"
		"\"sources\":[]},\"max_error_s\":0,\"rtc\":null,\"election\":null,\"check\":null}";
	struct status_info info;
	char err[200];
	json_t *d;

	ck_assert_int_eq(status_parse(doc, strlen(doc), &info, &d, err, sizeof(err)), STATUS_OK);
	ck_assert_int_eq(info.authenticated, -1);		/* absent: an older agent */
	for (int v = -1; v <= 1; v++) {
		status_set_authenticated(d, v);
		ck_assert_int_eq(status_validate(d, &info, err, sizeof(err)), STATUS_OK);
		ck_assert_int_eq(info.authenticated, v);
	}
	json_object_set_new(json_object_get(d, "chrony"), "authenticated", json_string("yes"));
	ck_assert_int_eq(status_validate(d, &info, err, sizeof(err)), STATUS_ESCHEMA);
	ck_assert_msg(strstr(err, "chrony.authenticated"), "%s", err);
	json_decref(d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ntp_auth");
	TCase *tc = tcase_create("decision");

	tcase_add_test(tc, test_real_replies);
	tcase_add_test(tc, test_mode_parse);
	tcase_add_loop_test(tc, test_table, 0, sizeof(table) / sizeof(table[0]));
	tcase_add_test(tc, test_selected);
	tcase_add_test(tc, test_readiness_line);
	tcase_add_test(tc, test_status_field);
	suite_add_tcase(s, tc);
	return check_run(s);
}
