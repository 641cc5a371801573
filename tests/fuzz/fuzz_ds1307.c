/* fuzz_ds1307.c - libFuzzer target for what comes from the chip: clock
 * registers (7 bytes) and the NVRAM record (the rest, up to 56 bytes).
 * Checks invariants: a decoded time re-encodes to registers that decode to
 * the same time; a decoded record re-encodes and decodes to the same one. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rtc/ds1307_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_time(const uint8_t *regs)
{
	struct ds1307_time t, u;
	uint8_t again[DS1307_CLOCK_REGS];
	char err[200];

	if (ds1307_decode_time(regs, &t, err, sizeof(err)) < 0)
		return;
	if (t.epoch < DS1307_EPOCH_MIN || t.epoch >= DS1307_EPOCH_END)
		abort();
	if (ds1307_encode_time(t.epoch, again) < 0 || ds1307_decode_time(again, &u, err, sizeof(err)) < 0 ||
	    u.epoch != t.epoch)
		abort();
}

static void check_record(const uint8_t *buf, size_t len)
{
	struct ds1307_record r, s;
	uint8_t again[DS1307_RECORD_SIZE];
	char err[200];

	if (ds1307_record_decode(buf, len, &r, err, sizeof(err)) < 0)
		return;
	if (ds1307_record_encode(&r, again) < 0 || memcmp(again, buf, 40) ||
	    ds1307_record_decode(again, sizeof(again), &s, err, sizeof(err)) < 0 ||
	    s.ref_sec != r.ref_sec || s.drift_ppm != r.drift_ppm)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < DS1307_CLOCK_REGS)
		return 0;
	check_time(data);
	size -= DS1307_CLOCK_REGS;
	check_record(data + DS1307_CLOCK_REGS, size > DS1307_NVRAM_SIZE ? DS1307_NVRAM_SIZE : size);
	return 0;
}
