/* fuzz_when - libFuzzer target for when_parse (the TIME of --at): any
 * input either parses to a normalised instant or fails with a message that
 * quotes it; never crashes, never reads past the string. The first 8 bytes
 * (when there are more than 8) choose "now", the rest is the text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "time/when.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct timespec now = { 1795291195, 500000000 }, out;
	char err[256];
	char *text;

	if (size > 8) {
		int64_t s;

		memcpy(&s, data, sizeof(s));
		now.tv_sec = (time_t)(s % 253402300799LL);	/* up to the year 9999 */
		data += 8;
		size -= 8;
	}
	text = malloc(size + 1);	/* exactly sized: ASan sees an over-read */
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	err[0] = '\0';
	if (when_parse(text, now, &out, err, sizeof(err)) == 0) {
		if (out.tv_nsec < 0 || out.tv_nsec >= 1000000000L)
			abort();
	} else if (strncmp(err, "TIME '", 6) != 0 || memchr(err, '\0', sizeof(err)) == NULL) {
		abort();
	}
	free(text);
	return 0;
}
