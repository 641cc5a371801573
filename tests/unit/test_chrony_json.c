/* Unit tests for common/chrony_json: source addresses as chronyc prints
 * them (chrony 4.3, `chronyc -n sources` with refclocks SHM refid TST1,
 * GPS and PPS prints "TST1", "GPS", "PPS"), and in the JSON document. */
#include <check.h>
#include <string.h>

#include "chrony_json.h"
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

int main(void)
{
	Suite *s = suite_create("chrony_json");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_source_address, 0, (int)(sizeof(addr_rows) / sizeof(addr_rows[0])));
	tcase_add_test(tc, test_source_json_refclock);
	suite_add_tcase(s, tc);
	return check_run(s);
}
