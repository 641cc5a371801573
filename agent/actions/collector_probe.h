/* collector_probe.h - is the collector reachable? A TCP connect to the host
 * and port of [collector] url, bounded by a timeout (no HTTP: one-shot
 * actions do not load libcurl). */
#ifndef FLEETCLOCK_COLLECTOR_PROBE_H
#define FLEETCLOCK_COLLECTOR_PROBE_H

#include <stddef.h>

/* 0 when a TCP connection to url's host:port opened within timeout_ms, else
 * -errno; detail says where and why ("127.0.0.1:8470: connection refused"). */
int collector_probe(const char *url, int timeout_ms, char *detail, size_t len);

/* Split "http[s]://host[:port][/path]" into host and port (80 / 443 by
 * default; [v6] hosts allowed). 0 or -EINVAL. */
int collector_url_hostport(const char *url, char *host, size_t hostlen, char *port, size_t portlen);

#endif
