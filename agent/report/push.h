/* push.h - POST a status document to the collector with libcurl.
 *
 * libcurl is loaded with dlopen("libcurl.so.4") when the daemon starts, so
 * that fleetclock-agent's one-shot actions do not pay for loading it (and
 * ldd fleetclock-agent shows no libcurl). TLS is verified when the URL is
 * https; connect and total timeouts bound every POST. */
#ifndef FLEETCLOCK_PUSH_H
#define FLEETCLOCK_PUSH_H

#include <stddef.h>

struct push;

struct push_opts {
	const char *url;		/* http://collector:8470/api/v1/status */
	const char *token;		/* bearer token; "" or NULL: none */
	const char *ca_file;		/* "" or NULL: the system's CAs */
	int connect_timeout_ms;
	int timeout_ms;			/* whole request */
	const char *user_agent;
};

/* Load libcurl and prepare a reusable handle (keeps the connection alive
 * between posts). Call it before starting threads: it sets an environment
 * variable around the first dlopen; the first call also decides, once per
 * process, that OpenSSL loads no error strings when the URL is http (see
 * push.c). Returns 0, or -ENOENT when libcurl.so.4 cannot be
 * loaded, -ENOMEM, -EINVAL; err says which. */
int push_open(const struct push_opts *opts, struct push **out, char *err, size_t errlen);

/* Free the handle; libcurl stays loaded (it cannot be unloaded safely).
 * NULL ok. */
void push_close(struct push *p);

/* POST len bytes of JSON. Returns the HTTP status (200-599) or a negative
 * errno when no answer came (-ETIMEDOUT, -ECONNREFUSED, -EHOSTUNREACH,
 * -EPROTO for TLS/protocol errors); err then says what failed, with the
 * URL. The collector's error message (if any) is in err for 4xx/5xx. */
int push_post(struct push *p, const char *doc, size_t len, char *err, size_t errlen);

/* What the daemon does with a report after push_post returned rc. */
enum push_outcome {
	PUSH_SENT,	/* 2xx: delivered (a duplicate is acknowledged too) */
	PUSH_DROP,	/* a 4xx the collector will never take (400, 413, 415, 422...) */
	PUSH_RETRY,	/* no answer, 5xx, 408, 429: keep it, retry with backoff */
	PUSH_REFUSED,	/* 401/403: the token is refused (rotated?): keep, retry */
};

/* The outcome for rc (pure). 401 and 403 are not permanent: the report is
 * fine, the credentials are what changes, and they can change back. */
enum push_outcome push_outcome_of(int rc);

/* Seconds to wait after the n-th consecutive failure (n >= 1): 1, 2, 4 ...
 * capped at cap_s, times 0.5 + 0.5 * jitter (jitter in [0, 1]) so that a
 * fleet does not retry in lockstep (pure). */
double push_backoff_s(unsigned n, double cap_s, double jitter);

#endif
