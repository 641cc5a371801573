/* libFuzzer target: common/json_fast against jansson on arbitrary bytes.
 * Whatever json_fast_loadb decodes, jansson must accept and decode to an
 * equal tree; it must never crash, leak or read past the input. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "report/json_fast.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *got = json_fast_loadb((const char *)data, size), *want;
	json_error_t e;

	if (!got)
		return 0;
	want = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &e);
	if (!want || !json_equal(want, got))
		abort();
	json_decref(want);
	json_decref(got);
	return 0;
}
