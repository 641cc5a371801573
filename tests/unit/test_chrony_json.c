/* Unit tests for common/chrony_json: source addresses as chronyc prints
 * them (chrony 4.3, `chronyc -n sources` with refclocks SHM refid TST1,
 * GPS and PPS prints "TST1", "GPS", "PPS"), and in the JSON document. */
#include <check.h>
#include <string.h>

#include "chrony/chrony_json.h"
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
	ck_assert_str_eq(chrony_json_source_address(&d, buf, sizeof(buf)), r->want);
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
	j = chrony_json_source(&s);
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
	a = chrony_json_tracking_address(&t, buf, sizeof(buf));
	j = chrony_json_tracking(&t);
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

int main(void)
{
	Suite *s = suite_create("chrony_json");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_source_address, 0, (int)(sizeof(addr_rows) / sizeof(addr_rows[0])));
	tcase_add_test(tc, test_source_json_refclock);
	tcase_add_loop_test(tc, test_tracking_address, 0,
			    (int)(sizeof(tracking_rows) / sizeof(tracking_rows[0])));
	suite_add_tcase(s, tc);
	return check_run(s);
}
