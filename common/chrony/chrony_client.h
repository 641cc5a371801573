/* chrony_client.h - a client of chronyd's command socket.
 *
 * Talks cmdmon v6 over chronyd's Unix datagram socket (everything allowed)
 * or, for read-only status, over UDP (127.0.0.1:323 by default). Each send
 * uses a fresh random sequence number; a reply is accepted only when it
 * matches (see chrony_wire_match_reply); timeouts start at timeout_ms and
 * double, with at most max_attempts sends. Sockets are non-blocking: a
 * stopped chronyd whose queue is full costs a timeout, never a blocked
 * call. After a transport error or a reply timeout the socket is closed and
 * the next call opens a new one, so a client outlives chronyd's restarts.
 * Errors name the socket and the cause, and are kept for
 * chrony_client_error(). */
#ifndef FLEETCLOCK_CHRONY_CLIENT_H
#define FLEETCLOCK_CHRONY_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chrony/chrony_report.h"
#include "chrony/chrony_wire.h"

#define CHRONY_DEFAULT_SOCKET "/run/chrony/chronyd.sock"
#define CHRONY_DEFAULT_UDP_HOST "127.0.0.1"
#define CHRONY_DEFAULT_UDP_PORT 323
#define CHRONY_MAX_BATCH (2 + 2 * CHRONY_MAX_SOURCES)

enum chrony_transport {
	CHRONY_TRANSPORT_AUTO = 0,	/* Unix socket; UDP for read-only commands if it fails */
	CHRONY_TRANSPORT_UNIX,		/* Unix socket only */
	CHRONY_TRANSPORT_UDP,		/* UDP only (read-only commands) */
};

struct chrony_client_opts {
	const char *socket_path;	/* NULL: CHRONY_DEFAULT_SOCKET */
	const char *udp_host;		/* numeric address; NULL: 127.0.0.1 */
	int udp_port;			/* 0: 323 */
	enum chrony_transport transport;
	int timeout_ms;			/* first timeout, doubling; 0: 1000 */
	int max_attempts;		/* sends per request; 0: 3 */
};

struct chrony_client;

/* The PID in the name of a client socket file, "fleetclock.PID.N.sock",
 * or 0 when the name is not one of ours. Before opening its socket the
 * client removes those of processes that no longer exist (killed agents)
 * from chronyd's socket directory. */
int chrony_client_socket_pid(const char *name);

/* Create a client. Sockets are opened lazily, on the first request, so that
 * open never fails because chronyd is down. Returns 0 or -ENOMEM/-EINVAL. */
int chrony_client_open(const struct chrony_client_opts *opts, struct chrony_client **out);

/* Close the sockets, remove the client's own socket file, free. NULL ok. */
void chrony_client_close(struct chrony_client *c);

/* The message of the last failed call: names the socket and the cause. */
const char *chrony_client_error(const struct chrony_client *c);

/* The status chronyd answered with when a call returned -EREMOTEIO. */
uint16_t chrony_client_last_status(const struct chrony_client *c);

/* Where the last request went: "unix:/run/chrony/chronyd.sock" or
 * "udp:127.0.0.1:323". */
const char *chrony_client_endpoint(const struct chrony_client *c);

/*
 * Requests. Each returns 0 on success or a negative errno:
 *   -ENOENT        the socket does not exist (chronyd not running?)
 *   -ECONNREFUSED  nobody listens (chronyd not running)
 *   -EACCES        permission denied (run as root or _chrony)
 *   -ETIMEDOUT     no valid reply after every attempt
 *   -EPROTO        protocol version mismatch or an invalid reply
 *   -EPERM         not authorised (a write command over UDP)
 *   -EREMOTEIO     chronyd answered with a failure status (see last_status)
 */
int chrony_client_request(struct chrony_client *c, const struct chrony_request *req,
			  struct chrony_reply *reply);

/* Several requests pipelined (at most 8 in flight): rcs[i] gets each one's
 * result as above. Returns 0, or -errno when the transport failed for all
 * (socket missing, refused, permission). At most CHRONY_MAX_BATCH. */
int chrony_client_request_many(struct chrony_client *c, const struct chrony_request *reqs,
			       struct chrony_reply *replies, int *rcs, size_t n);

int chrony_client_tracking(struct chrony_client *c, struct chrony_tracking *out);
int chrony_client_n_sources(struct chrony_client *c, uint32_t *n);
int chrony_client_source_data(struct chrony_client *c, uint32_t index, struct chrony_source_data *out);
int chrony_client_sourcestats(struct chrony_client *c, uint32_t index, struct chrony_sourcestats *out);
/* Name of an NTP source as configured; -EREMOTEIO (NOSUCHSOURCE) for
 * reference clocks. */
int chrony_client_source_name(struct chrony_client *c, const struct chrony_ipaddr *ip,
			      char *name, size_t len);
int chrony_client_ntp_data(struct chrony_client *c, const struct chrony_ipaddr *ip,
			   struct chrony_ntp_data *out);
int chrony_client_activity(struct chrony_client *c, struct chrony_activity *out);

/* Write commands (Unix socket only). */
int chrony_client_makestep(struct chrony_client *c);
int chrony_client_modify_makestep(struct chrony_client *c, int32_t limit, double threshold);
/* Add ppm to chronyd's frequency estimate (chronyc dfreq): > 0 makes the
 * clock run faster; tracking's freq_ppm grows by as much. */
int chrony_client_dfreq(struct chrony_client *c, double ppm);
/* Slew the clock by -seconds (chronyc doffset): > 0 means the clock is
 * ahead and is slowed down. */
int chrony_client_doffset(struct chrony_client *c, double seconds);
/* Local reference on (stratum 1-15, distance s, orphan) or off. */
int chrony_client_local(struct chrony_client *c, bool on, int stratum, double distance, bool orphan);
/* Sources matching (address & mask) == address online or offline; NULL
 * mask and address: all sources. */
int chrony_client_set_online(struct chrony_client *c, const struct chrony_ipaddr *mask,
			     const struct chrony_ipaddr *address, bool online);
/* Drop every source's measurements: unsynchronised, or the local
 * reference at once when it is on. */
int chrony_client_reset_sources(struct chrony_client *c);
int chrony_client_burst(struct chrony_client *c, const struct chrony_ipaddr *mask,
			const struct chrony_ipaddr *address, int n_good, int n_total);

/* Tracking, every source with its name and sourcestats, pipelined; names
 * are cached per address (they do not change). The snapshot structs, max
 * error and "synchronised" are chrony_report.h's. */
int chrony_client_snapshot(struct chrony_client *c, struct chrony_snapshot *out);

#endif
