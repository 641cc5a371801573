/* libFuzzer target: the chronyd reply path (match + decode) for every
 * command fleetclock sends, and the primitive decoders. Any input must be
 * handled without a crash, a sanitizer report or a read out of bounds. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "chrony/chrony_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint16_t commands[] = {
	CHRONY_CMD_ONLINE, CHRONY_CMD_OFFLINE, CHRONY_CMD_BURST, CHRONY_CMD_N_SOURCES,
	CHRONY_CMD_SOURCE_DATA, CHRONY_CMD_TRACKING, CHRONY_CMD_SOURCESTATS, CHRONY_CMD_MAKESTEP,
	CHRONY_CMD_ACTIVITY, CHRONY_CMD_MODIFY_MAKESTEP, CHRONY_CMD_LOCAL2, CHRONY_CMD_NTP_DATA,
	CHRONY_CMD_NTP_SOURCE_NAME,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct chrony_reply_header hdr;
	struct chrony_reply reply;
	struct chrony_ipaddr ip;
	char buf[64];

	/* Copy to an exact-size heap buffer so ASan sees any over-read. */
	uint8_t *copy = size ? __builtin_malloc(size) : NULL;

	if (size && !copy)
		return 0;
	if (size)
		memcpy(copy, data, size);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		uint32_t seq = size >= 20 ? (uint32_t)copy[16] << 24 | copy[17] << 16 | copy[18] << 8 | copy[19] : 0;

		if (chrony_wire_match_reply(copy, size, commands[i], seq, &hdr) == CHRONY_MATCH_OK &&
		    chrony_wire_decode_reply(copy, size, commands[i], &reply) == 0) {
			if (reply.hdr.reply == CHRONY_RPY_NTP_SOURCE_NAME && strlen(reply.u.source_name) > 256)
				__builtin_trap();
		}
		/* decode must also be safe on unmatched input */
		chrony_wire_decode_reply(copy, size, commands[i], &reply);
	}
	if (size >= 20 && chrony_wire_ipaddr_decode(copy, &ip) == 0)
		chrony_wire_ipaddr_str(&ip, buf, sizeof(buf));
	if (size >= 12)
		chrony_wire_timespec_decode(copy);
	if (size >= 4)
		chrony_wire_float_decode((uint32_t)copy[0] << 24 | copy[1] << 16 | copy[2] << 8 | copy[3]);
	__builtin_free(copy);
	return 0;
}
