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

#endif
