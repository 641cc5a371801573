/* http.h - the collector's HTTP server (libmicrohttpd).
 *
 *   POST /api/v1/status                 204 stored (committed), 400 invalid JSON,
 *                                       401 token, 403 a host token for another
 *                                       host, 413 > 64 KiB, 415 not
 *                                       application/json, 422 schema, 503 store
 *   GET  /api/v1/fleet                  latest per host + fleet summary
 *   GET  /api/v1/hosts/{host}/history   ?since=&until= (RFC 3339 or Unix seconds)
 *   POST /api/v1/starts                 a start record (docs/start-record.md): the
 *                                       same codes as status reports
 *   GET  /api/v1/starts                 the latest experiments (?limit=1..200)
 *   GET  /api/v1/starts?experiment=ID   one experiment: each node's start, the
 *                                       spread bound, late / failed / missing
 *   GET  /metrics                       Prometheus text exposition
 *   GET  /                              the dashboard page
 * Other paths 404, other methods 405. Idle and slow connections are closed
 * after the configured timeout; the number of connections is limited, in
 * all and per client address. */
#ifndef FLEETCLOCK_HTTP_H
#define FLEETCLOCK_HTTP_H

#include "collector_config.h"
#include "store.h"

struct http_server;

/* Listen on cfg's address and port, serve from store. Returns 0 or -errno
 * with err naming the address and the cause. */
int http_start(const struct collector_config *cfg, struct store *store,
	       struct http_server **out, char *err, size_t errlen);

/* Stop accepting connections (call before closing the store, which
 * answers every report still waiting). */
void http_quiesce(struct http_server *srv);

/* Stop the server and free it. NULL ok. */
void http_stop(struct http_server *srv);

/* Constant-time comparison of a presented token against a configured one:
 * the time depends only on the configured token's length. */
bool http_token_equal(const char *given, size_t given_len, const char *want);

/* A Content-Type header value that says application/json (any case,
 * parameters such as charset allowed). False for NULL. */
bool http_is_json_type(const char *value);

#endif
