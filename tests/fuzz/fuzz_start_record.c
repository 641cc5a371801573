/* libFuzzer target: the collector's start-record parser (start_record_parse)
 * on arbitrary bytes. It must never crash, leak or read out of bounds, and
 * a record it accepts must serialise (start_record_dumps) and parse again
 * to the same record. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "report/start_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct start_record r, again;
	char err[256], *text;

	if (start_record_parse((const char *)data, size, &r, err, sizeof(err)) != START_OK)
		return 0;
	text = start_record_dumps(&r);
	if (text) {
		if (start_record_parse(text, strlen(text), &again, err, sizeof(err)) != START_OK ||
		    strcmp(r.host, again.host) || strcmp(r.experiment, again.experiment) ||
		    r.outcome != again.outcome || r.target_ns != again.target_ns ||
		    r.have_start != again.have_start || r.start_ns != again.start_ns ||
		    r.clock_steps != again.clock_steps)
			abort();
		free(text);
	}
	return 0;
}
