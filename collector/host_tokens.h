/* host_tokens.h - bearer tokens bound to host names (the collector's
 * token_file): a node holding its own token can write only its own row.
 *
 * The file has one "HOST TOKEN" pair a line; blank lines and lines starting
 * with '#' are ignored. A host appears once, a token belongs to one host,
 * and the placeholder CHANGE-ME is refused. */
#ifndef FLEETCLOCK_HOST_TOKENS_H
#define FLEETCLOCK_HOST_TOKENS_H

#include <stdbool.h>
#include <stddef.h>

#include "report/status.h"

#define HOST_TOKEN_MAX 256		/* bytes of a token, with its NUL */
#define COLLECTOR_PLACEHOLDER_TOKEN "CHANGE-ME"

struct host_token {
	char host[STATUS_HOST_MAX];
	char token[HOST_TOKEN_MAX];
};

/* Sorted by host. */
struct host_tokens {
	struct host_token *v;
	size_t n;
};

/* True when token is the placeholder of the shipped examples (any case). */
bool host_tokens_is_placeholder(const char *token);

/* Parse the text of a token file; name (the file) and the line number are
 * in every error. Returns 0, -EINVAL (syntax, duplicate host or token,
 * placeholder, too long) or -ENOMEM. out is left empty on failure. */
int host_tokens_parse(const char *text, const char *name, struct host_tokens *out, char *err,
		      size_t errlen);

/* Read and parse path. It must not be readable by others (-EPERM, with the
 * chmod to run), nor larger than 4 MiB. Returns 0 or -errno, err naming the
 * file and the cause. */
int host_tokens_load(const char *path, struct host_tokens *out, char *err, size_t errlen);

/* The entry of host, or NULL. */
const struct host_token *host_tokens_find(const struct host_tokens *t, const char *host);

/* Free what t holds; t is then empty. */
void host_tokens_free(struct host_tokens *t);

#endif
