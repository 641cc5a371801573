/* Unit tests for common/chrony/chrony_report: source addresses as chronyc prints
 * them (chrony 4.3, `chronyc -n sources` with refclocks SHM refid TST1,
 * GPS and PPS prints "TST1", "GPS", "PPS"), and in the JSON document. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "chrony/chrony_report.h"
#include "check_run.h"

struct addr_row {
	uint16_t mode;
	uint16_t family;
	uint32_t in4;
	const char *want;
};

static const struct addr_row addr_rows[] = {
	{ CHRONY_MODE_REF, CHRONY_AF_INET4, 0x54535431, "TST1" },	/* was 84.83.84.49 */
	{ CHRONY_MODE_REF, CHRONY_AF_INET4, 0x47505300, "GPS" },	/* was 71.80.83.0 */
	{ CHRONY_MODE_REF, CHRONY_AF_INET4, 0x50505300, "PPS" },
	{ CHRONY_MODE_REF, CHRONY_AF_INET4, 0x00000000, "" },
	{ CHRONY_MODE_REF, CHRONY_AF_INET4, 0x41094243, "ABC" },	/* unprintable byte left out */
	{ CHRONY_MODE_CLIENT, CHRONY_AF_INET4, 0xC0000201, "192.0.2.1" },
	{ CHRONY_MODE_PEER, CHRONY_AF_INET4, 0x54535431, "84.83.84.49" },
	{ CHRONY_MODE_REF, CHRONY_AF_ID, 7, "ID#0000000007" },
};

START_TEST(test_source_address)
{
	const struct addr_row *r = &addr_rows[_i];
	struct chrony_source_data d;
	char buf[64];

	memset(&d, 0, sizeof(d));
	d.mode = r->mode;
	d.ip.family = r->family;
	if (r->family == CHRONY_AF_ID)
		d.ip.addr.id = r->in4;
	else
		d.ip.addr.in4 = r->in4;
	ck_assert_str_eq(chrony_report_source_address(&d, buf, sizeof(buf)), r->want);
}
END_TEST

START_TEST(test_source_json_refclock)
{
	struct chrony_source s;
	json_t *j;

	memset(&s, 0, sizeof(s));
	strcpy(s.name, "TST1");
	s.data.mode = CHRONY_MODE_REF;
	s.data.ip.family = CHRONY_AF_INET4;
	s.data.ip.addr.in4 = 0x54535431;
	j = chrony_report_source_json(&s, CHRONY_REPORT_CLI);
	ck_assert_ptr_nonnull(j);
	ck_assert_str_eq(json_string_value(json_object_get(j, "address")), "TST1");
	ck_assert_str_eq(json_string_value(json_object_get(j, "mode")), "refclock");
	json_decref(j);
}
END_TEST

struct tracking_row {
	uint16_t family;
	uint32_t ref_id, in4;
	const char *want;	/* NULL: no address */
};

/* chronyc tracking with an SHM refclock selected: "54535431 (TST1)", the
 * address unspecified in the report (chrony 4.3). */
static const struct tracking_row tracking_rows[] = {
	{ CHRONY_AF_UNSPEC, 0x54535431, 0, "TST1" },
	{ CHRONY_AF_INET4, 0xC0000201, 0xC0000201, "192.0.2.1" },
	{ CHRONY_AF_UNSPEC, CHRONY_REFID_LOCAL, 0, NULL },
	{ CHRONY_AF_UNSPEC, 0, 0, NULL },
};

START_TEST(test_tracking_address)
{
	const struct tracking_row *r = &tracking_rows[_i];
	struct chrony_tracking t;
	const char *a;
	json_t *j;
	char buf[64];

	memset(&t, 0, sizeof(t));
	t.ip.family = r->family;
	t.ip.addr.in4 = r->in4;
	t.ref_id = r->ref_id;
	a = chrony_report_tracking_address(&t, buf, sizeof(buf));
	j = chrony_report_tracking_json(&t, CHRONY_REPORT_CLI);
	ck_assert_ptr_nonnull(j);
	if (r->want) {
		ck_assert_str_eq(a, r->want);
		ck_assert_str_eq(json_string_value(json_object_get(j, "address")), r->want);
	} else {
		ck_assert_ptr_null(a);
		ck_assert(json_is_null(json_object_get(j, "address")));
	}
	json_decref(j);
}
END_TEST

/* One rendering, two key sets: the status document's "chrony" section and
 * --status --json carry the same values under their own keys. */
START_TEST(test_two_key_sets_same_values)
{
	struct chrony_snapshot *snap = calloc(1, sizeof(*snap));
	json_t *doc, *cli, *dt, *ct, *ds, *cs;

	ck_assert_ptr_nonnull(snap);
	snap->tracking.ref_id = 0xC0000201;
	snap->tracking.ip.family = CHRONY_AF_INET4;
	snap->tracking.ip.addr.in4 = 0xC0000201;
	snap->tracking.leap_status = CHRONY_LEAP_INSERT;
	snap->tracking.current_correction = -0.004;
	snap->tracking.root_delay = 0.002;
	snap->tracking.root_dispersion = 0.001;
	snap->n_sources = 1;
	snap->sources[0].data.mode = CHRONY_MODE_CLIENT;
	snap->sources[0].data.state = 4;
	snap->sources[0].data.latest_meas = 0.25;
	snap->sources[0].data.ip.family = CHRONY_AF_INET4;
	snap->sources[0].data.ip.addr.in4 = 0xC0000201;
	doc = chrony_report_json(snap, CHRONY_REPORT_DOC);
	cli = chrony_report_json(snap, CHRONY_REPORT_CLI);
	ck_assert_ptr_nonnull(doc);
	ck_assert_ptr_nonnull(cli);
	dt = json_object_get(doc, "tracking");
	ct = json_object_get(cli, "tracking");
	ck_assert_double_eq(json_real_value(json_object_get(dt, "offset_s")), 0.004);
	ck_assert_double_eq(json_real_value(json_object_get(ct, "current_correction")), -0.004);
	ck_assert_str_eq(json_string_value(json_object_get(dt, "leap")), "insert");
	ck_assert_str_eq(json_string_value(json_object_get(ct, "leap")), "insert second");
	ck_assert_str_eq(json_string_value(json_object_get(dt, "ref_address")), "192.0.2.1");
	ck_assert_str_eq(json_string_value(json_object_get(ct, "address")), "192.0.2.1");
	ck_assert(json_is_true(json_object_get(dt, "synchronised")));
	ck_assert(json_is_true(json_object_get(cli, "synchronised")));
	ck_assert_double_eq_tol(json_real_value(json_object_get(cli, "max_error")), 0.006, 1e-12);
	ck_assert_ptr_null(json_object_get(doc, "max_error"));
	ds = json_array_get(json_object_get(doc, "sources"), 0);
	cs = json_array_get(json_object_get(cli, "sources"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(ds, "mode")), "client");
	ck_assert_str_eq(json_string_value(json_object_get(cs, "mode")), "client");
	ck_assert_str_eq(json_string_value(json_object_get(ds, "state")), "unselected");
	ck_assert_str_eq(json_string_value(json_object_get(cs, "state")), "unselected");
	ck_assert_str_eq(json_string_value(json_object_get(cs, "state_char")), "+");
	ck_assert_str_eq(json_string_value(json_object_get(ds, "name")), "192.0.2.1");
	ck_assert_double_eq(json_real_value(json_object_get(ds, "offset_s")), 0.25);
	ck_assert_double_eq(json_real_value(json_object_get(cs, "offset")), 0.25);
	json_decref(doc);
	json_decref(cli);
	free(snap);
}
END_TEST

/* The one max-error formula, and "synchronised" against LOCAL. */
START_TEST(test_max_error_and_synchronised)
{
	struct chrony_tracking t;

	memset(&t, 0, sizeof(t));
	ck_assert_double_eq_tol(chrony_report_max_error(-0.003, 0.004, 0.0005), 0.0055, 1e-12);
	t.current_correction = 0.003;
	t.root_delay = 0.004;
	t.root_dispersion = 0.0005;
	ck_assert_double_eq_tol(chrony_tracking_max_error(&t), 0.0055, 1e-12);
	ck_assert(!chrony_tracking_synchronised(&t));	/* refid 0: no reference */
	t.ref_id = CHRONY_REFID_LOCAL;
	ck_assert(chrony_tracking_local(&t));
	ck_assert(!chrony_tracking_synchronised(&t));
	t.ref_id = 0xC0000201;
	ck_assert(chrony_tracking_synchronised(&t));
	t.leap_status = CHRONY_LEAP_UNSYNC;
	ck_assert(!chrony_tracking_synchronised(&t));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("chrony_report");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_source_address, 0, (int)(sizeof(addr_rows) / sizeof(addr_rows[0])));
	tcase_add_test(tc, test_source_json_refclock);
	tcase_add_test(tc, test_two_key_sets_same_values);
	tcase_add_test(tc, test_max_error_and_synchronised);
	tcase_add_loop_test(tc, test_tracking_address, 0,
			    (int)(sizeof(tracking_rows) / sizeof(tracking_rows[0])));
	suite_add_tcase(s, tc);
	return check_run(s);
}
