/* ntp_query.h - a one-shot NTP client (RFC 5905 client mode): several
 * requests to one server, the sample with the smallest round-trip delay
 * wins. The agent measures a master candidate's time with it when chronyd
 * cannot (its synchronisation-loop check refuses a server whose reference
 * is this node), and an upstream taken offline to see whether it agrees
 * again. The packet codec and the filter are pure; ntp_query() does the
 * I/O with bounded waits. */
#ifndef FLEETCLOCK_NTP_QUERY_H
#define FLEETCLOCK_NTP_QUERY_H

#include <stddef.h>
#include <stdint.h>

#define NTP_PACKET_LEN 48
#define NTP_QUERY_MAX_SAMPLES 32

struct ntp_query_opts {
	const char *server;	/* numeric IPv4 address */
	uint16_t port;		/* 0: 123 */
	const char *bind_addr;	/* local IPv4 address to send from; NULL: any */
	int samples;		/* requests (1..NTP_QUERY_MAX_SAMPLES; 0: 8) */
	int timeout_ms;		/* wait for each reply (0: 500) */
	int spacing_ms;		/* pause between requests (0: 20) */
};

/* One exchange: T1 sent, T2 server receive, T3 server transmit, T4 back
 * (ns since the Unix epoch). */
struct ntp_sample {
	int64_t t1, t2, t3, t4;
	double offset_s;	/* server - this clock: ((T2-T1) + (T3-T4)) / 2 */
	double delay_s;		/* (T4-T1) - (T3-T2) */
};

struct ntp_query_result {
	int sent, good;		/* requests sent, valid replies */
	double offset_s;	/* of the minimum-delay sample: server - this clock */
	double delay_s;		/* its round trip */
	double error_s;		/* delay / 2 + the server's root delay / 2 + root dispersion */
	int stratum;
	int leap;
	uint32_t ref_id;
};

/* A client request whose transmit timestamp is the cookie (random bits, so
 * that the reply can be matched without revealing our clock). */
void ntp_query_build_request(uint8_t pkt[NTP_PACKET_LEN], uint64_t cookie);

/* Check a reply (length, mode 4, version 3-4, origin = cookie, stratum
 * 1-15, leap not unsynchronised, non-zero timestamps) and compute the
 * sample from our T1 and T4 (ns since the epoch). 0, or -EBADMSG,
 * -EPROTO (a kiss-o'-death or an unsynchronised server) with why set. */
int ntp_query_parse_reply(const uint8_t *buf, size_t len, uint64_t cookie, int64_t t1, int64_t t4,
			  struct ntp_sample *out, const char **why);

/* Index of the sample with the smallest non-negative delay, -1 if none. */
int ntp_query_min_delay(const struct ntp_sample *s, int n);

/* NTP 64-bit timestamp (era chosen nearest to near_ns) to ns since the
 * Unix epoch, and back. */
int64_t ntp_query_ts_to_ns(uint64_t ntp, int64_t near_ns);
uint64_t ntp_query_ns_to_ts(int64_t ns);

/* Measure the server. 0 when at least one reply was valid (result filled),
 * else -ETIMEDOUT / -EPROTO / -errno with err naming the server and the
 * cause. Total time bounded by samples x (timeout + spacing). */
int ntp_query(const struct ntp_query_opts *o, struct ntp_query_result *r, char *err, size_t errlen);

#endif
