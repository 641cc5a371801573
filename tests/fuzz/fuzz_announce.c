/* libFuzzer target: the announce receive path (framing, HMAC, field
 * checks, replay table). Inputs are tried as they come and once more
 * re-signed under the test key, so that the checks behind the HMAC are
 * reached too. Any input must be handled without a crash or a sanitizer
 * report; the table must never hold more than ANNOUNCE_MAX_PEERS. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "election/announce.h"
#include "election/crypto_dl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct announce_table table;
static struct announce_key key;
static int ready;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t self[BMCA_IDENTITY_LEN] = { 1 };
	struct announce_msg m;
	uint8_t *copy;

	if (!ready) {
		announce_key_from_hex("00112233445566778899aabbccddeeff", &key);
		announce_table_init(&table, self, 1e12);
		ready = 1;
	}
	copy = size ? __builtin_malloc(size) : NULL;
	if (size && !copy)
		return 0;
	if (size)
		memcpy(copy, data, size);
	announce_decode(copy, size, &key, &m);
	announce_table_accept(&table, copy, size, &key, copy, 4, 1.7e9, 1.0);
	if (size == ANNOUNCE_LEN) {
		/* Sign it, so the fuzzer also reaches the checks after the HMAC. */
		crypto_dl_hmac_sha256(key.bytes, key.len, copy, ANNOUNCE_LEN - ANNOUNCE_HMAC_LEN,
				      copy + ANNOUNCE_LEN - ANNOUNCE_HMAC_LEN);
		if (announce_decode(copy, size, &key, &m) == ANNOUNCE_OK &&
		    strlen(m.name) > ANNOUNCE_NAME_MAX)
			__builtin_trap();
		announce_table_accept(&table, copy, size, &key, copy, 4, 1.7e9, 1.0);
	}
	__builtin_free(copy);
	return 0;
}
