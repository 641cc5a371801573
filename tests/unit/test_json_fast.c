/* Unit tests for common/json_fast: jansson is the oracle. Whatever
 * json_fast_loadb returns must be json_equal to json_loadb's tree for the
 * same bytes (same types: integer stays integer, real stays real), and it
 * must return nothing for bytes jansson rejects. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/json_fast.h"
#include "check_run.h"

static json_t *oracle(const char *buf, size_t len)
{
	json_error_t e;

	return json_loadb(buf, len, JSON_REJECT_DUPLICATES, &e);
}

/* Decoded here, and the same tree as jansson's. */
static void decoded_same(const char *buf, size_t len)
{
	json_t *want = oracle(buf, len), *got = json_fast_loadb(buf, len);

	ck_assert_msg(want, "jansson rejects the test input itself: %.*s", (int)len, buf);
	ck_assert_msg(got, "not decoded: %.*s", (int)len, buf);
	ck_assert_msg(json_equal(want, got), "trees differ for %.*s", (int)len, buf);
	json_decref(want);
	json_decref(got);
}

/* The property for any bytes: nothing, or jansson's tree. Returns whether
 * the fast decoder took it. */
static bool agrees(const char *buf, size_t len)
{
	json_t *want = oracle(buf, len), *got = json_fast_loadb(buf, len);
	bool took = got != NULL;

	if (got) {
		ck_assert_msg(want, "decoded what jansson rejects: %.*s", (int)len, buf);
		ck_assert_msg(json_equal(want, got), "trees differ for %.*s", (int)len, buf);
	}
	json_decref(want);
	json_decref(got);
	return took;
}

static const char status_doc[] =
	"{\"schema\": \"fleetclock.status/1\", \"host\": \"h-01\", \"role\": \"headset\","
	" \"agent_version\": \"0.1.0\", \"sent_at\": \"2026-01-01T00:00:01.000042Z\","
	" \"chrony\": {\"tracking\": {\"stratum\": 3, \"leap\": \"normal\", \"offset_s\": -1.25e-05,"
	" \"freq_ppm\": -3.2, \"root_delay_s\": 0.0002, \"synchronised\": true},"
	" \"sources\": [{\"name\": \"ntp0\", \"reach\": 255, \"last_rx_s\": null,"
	" \"stats\": {\"samples\": 8, \"sd_s\": 2.1E-6}}]},"
	" \"rtc\": null, \"election\": null, \"check\": {\"ready\": false, \"problems\": []}}";

START_TEST(test_valid_decoded_same)
{
	static const char *const docs[] = {
		"{}", "[]", " \t\r\n{ } \n", "[[], {}, [[]]]",
		"{\"a\":1,\"b\":[true,false,null],\"c\":{\"d\":-0.5e-3}}",
		"[0, -0, 0.0, -0.0, 7, -7, 1.5, 1E5, 1e+5, 1e-5, 2.5E-3, 10e2]",
		"[123456789012345678, -123456789012345678]",	/* 18 digits */
		"[1.7976931348623157e308, 2.2250738585072014e-308]",
		"{\"\": 1, \" \": 2, \"~\": 3}",
		"[\"\x7f\", \"\", \"!#$%&'()*+,-./:;<=>?@[]^_`{|}~\"]",
		"{\"a\": {\"a\": {\"a\": 1}}, \"b\": [1, [2, [3]]]}",
	};

	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
		decoded_same(docs[i], strlen(docs[i]));
	decoded_same(status_doc, strlen(status_doc));
}
END_TEST

START_TEST(test_integer_and_real_types)
{
	json_t *v = json_fast_loadb("[1, 1.0, 1e0, -0]", 17);

	ck_assert_ptr_nonnull(v);
	ck_assert(json_is_integer(json_array_get(v, 0)));
	ck_assert(json_is_real(json_array_get(v, 1)));
	ck_assert(json_is_real(json_array_get(v, 2)));
	ck_assert(json_is_integer(json_array_get(v, 3)));
	ck_assert_int_eq(json_integer_value(json_array_get(v, 3)), 0);
	json_decref(v);
}
END_TEST

START_TEST(test_invalid_rejected)
{
	static const char *const bad[] = {
		"", " ", "1", "\"s\"", "true", "null",		/* not an object or array */
		"{\"a\":1,\"a\":2}",				/* duplicate key */
		"[01]", "[1.]", "[.5]", "[-]", "[1e]", "[1e+]", "[+1]", "[--1]", "[0x1]",
		"[1.5.2]", "[NaN]", "[Infinity]", "[-Infinity]", "[1e400]", "[-1e400]",
		"{\"a\" 1}", "{\"a\":1,}", "[1,]", "[,1]", "[1 2]", "{a:1}", "{1:1}",
		"[\"a]", "[\"a\"", "[tru]", "[nul]", "[falsey]", "[True]",
		"{} x", "{}{}", "[]]", "{\"a\":1", "{\"a\":}", "{\"a\"}", "[\"\x01\"]",
		"[\"tab\there\"]", "\xef\xbb\xbf{}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(!oracle(bad[i], strlen(bad[i])), "jansson accepts %s", bad[i]);
		ck_assert_msg(!json_fast_loadb(bad[i], strlen(bad[i])), "decoded %s", bad[i]);
	}
	/* a NUL byte inside or after the text */
	ck_assert(!json_fast_loadb("{}\0", 3));
	ck_assert(!json_fast_loadb("[\"a\0b\"]", 7));
	ck_assert(!json_fast_loadb(NULL, 0));
}
END_TEST

/* Valid JSON that this decoder leaves to jansson by design: the caller's
 * fallback (status_parse) still gets the document. */
START_TEST(test_left_to_jansson)
{
	static const char *const punted[] = {
		"[\"a\\\"b\"]", "[\"\\u00e9\"]", "[\"\xc3\xa9\"]",	/* escape, UTF-8 */
		"{\"k\\n\": 1}",
		"[1234567890123456789]",			/* 19 digits */
		"[0.00000000000000000000000000000000000000001]",	/* 41 characters */
		"[1e-400]",		/* underflow: jansson takes it (as 0) */
	};
	char deep[2 * (JSON_FAST_MAX_DEPTH + 1) + 1];

	for (size_t i = 0; i < sizeof(punted) / sizeof(punted[0]); i++) {
		json_t *j = oracle(punted[i], strlen(punted[i]));

		ck_assert_msg(j, "jansson rejects %s", punted[i]);
		json_decref(j);
		ck_assert_msg(!json_fast_loadb(punted[i], strlen(punted[i])), "decoded %s", punted[i]);
	}
	/* JSON_FAST_MAX_DEPTH nested arrays are decoded, one more is not */
	memset(deep, '[', JSON_FAST_MAX_DEPTH);
	memset(deep + JSON_FAST_MAX_DEPTH, ']', JSON_FAST_MAX_DEPTH);
	decoded_same(deep, 2 * JSON_FAST_MAX_DEPTH);
	memset(deep, '[', JSON_FAST_MAX_DEPTH + 1);
	memset(deep + JSON_FAST_MAX_DEPTH + 1, ']', JSON_FAST_MAX_DEPTH + 1);
	ck_assert(!json_fast_loadb(deep, 2 * (JSON_FAST_MAX_DEPTH + 1)));
}
END_TEST

START_TEST(test_every_prefix)
{
	size_t n = strlen(status_doc);

	for (size_t k = 0; k < n; k++)
		ck_assert_msg(!agrees(status_doc, k), "a proper prefix decoded (%zu)", k);
	ck_assert(agrees(status_doc, n));
}
END_TEST

/* Random edits of a real report (10,000, fixed seed; about a third stay
 * valid JSON, nearly all of those decoded here): flips, deletions, insertions
 * of JSON's own characters. The property holds for every one, and enough
 * of them stay valid for the check to mean something. */
START_TEST(test_random_edits)
{
	static const char alphabet[] = "{}[]\",:.-+eE0123456789 \\tfnlrsu\x01\x80\xc3";
	size_t n = strlen(status_doc), took = 0, valid = 0;
	char buf[sizeof(status_doc) + 8];
	unsigned seed = 12345;

	for (int round = 0; round < 10000; round++) {
		size_t len = n, at;
		json_t *j;

		memcpy(buf, status_doc, n);
		for (int edits = 1 + rand_r(&seed) % 3; edits > 0; edits--) {
			at = (size_t)rand_r(&seed) % len;
			switch (rand_r(&seed) % 3) {
			case 0:
				buf[at] = alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
				break;
			case 1:
				memmove(buf + at, buf + at + 1, len - at - 1);
				len--;
				break;
			default:
				if (len < sizeof(buf)) {
					memmove(buf + at + 1, buf + at, len - at);
					buf[at] = alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
					len++;
				}
			}
		}
		took += agrees(buf, len);
		j = oracle(buf, len);
		valid += j != NULL;
		json_decref(j);
	}
	/* most single edits inside strings and numbers keep the text valid */
	ck_assert_uint_gt(valid, 1000);
	ck_assert_uint_gt(took, valid / 2);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("json_fast");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_valid_decoded_same);
	tcase_add_test(tc, test_integer_and_real_types);
	tcase_add_test(tc, test_invalid_rejected);
	tcase_add_test(tc, test_left_to_jansson);
	tcase_add_test(tc, test_every_prefix);
	tcase_add_test(tc, test_random_edits);
	suite_add_tcase(s, tc);
	return check_run(s);
}
