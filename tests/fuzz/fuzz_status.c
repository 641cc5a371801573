/* libFuzzer target: the collector's status parser (status_parse) on
 * arbitrary bytes. It must never crash, leak or read out of bounds, and a
 * document it accepts must re-serialise and parse again to the same info. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "report/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct status_info info, again;
	json_t *doc = NULL;
	char err[256], *text;

	if (status_parse((const char *)data, size, &info, &doc, err, sizeof(err)) != STATUS_OK)
		return 0;
	text = json_dumps(doc, JSON_COMPACT);
	if (text) {
		if (status_parse(text, strlen(text), &again, NULL, err, sizeof(err)) != STATUS_OK ||
		    strcmp(info.host, again.host) || info.sent_at_us != again.sent_at_us)
			abort();
		free(text);
	}
	json_decref(doc);
	return 0;
}
