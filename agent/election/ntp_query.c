/* ntp_query.c - one-shot NTP client with a minimum-delay filter, see ntp_query.h */
#include "election/ntp_query.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "time/timeutil.h"

#define NTP_UNIX_OFFSET 2208988800LL	/* 1900-01-01 to 1970-01-01, s */
#define NS 1000000000LL

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

int64_t ntp_query_ts_to_ns(uint64_t ntp, int64_t near_ns)
{
	int64_t sec = (int64_t)(ntp >> 32) - NTP_UNIX_OFFSET;
	int64_t frac_ns = (int64_t)(((ntp & 0xFFFFFFFFULL) * NS + (1ULL << 31)) >> 32);
	int64_t near_sec = near_ns / NS;
	const int64_t era = 1LL << 32;

	/* The era nearest to near_ns (within +-68 years). */
	while (sec - near_sec > era / 2)
		sec -= era;
	while (near_sec - sec > era / 2)
		sec += era;
	return sec * NS + frac_ns;
}

uint64_t ntp_query_ns_to_ts(int64_t ns)
{
	int64_t sec = ns / NS, rem = ns % NS;

	if (rem < 0) {
		rem += NS;
		sec--;
	}
	return (uint64_t)(uint32_t)(sec + NTP_UNIX_OFFSET) << 32 |
	       (uint64_t)(((uint64_t)rem << 32) / NS);
}

void ntp_query_build_request(uint8_t pkt[NTP_PACKET_LEN], uint64_t cookie)
{
	memset(pkt, 0, NTP_PACKET_LEN);
	pkt[0] = 0 << 6 | 4 << 3 | 3;	/* LI 0, version 4, client */
	put64(pkt + 40, cookie);
}

int ntp_query_parse_reply(const uint8_t *buf, size_t len, uint64_t cookie, int64_t t1, int64_t t4,
			  struct ntp_sample *out, const char **why)
{
	int leap, version, mode, stratum;
	uint64_t rx, tx;

	*why = "";
	if (len < NTP_PACKET_LEN) {
		*why = "short reply";
		return -EBADMSG;
	}
	leap = buf[0] >> 6;
	version = buf[0] >> 3 & 7;
	mode = buf[0] & 7;
	stratum = buf[1];
	rx = get64(buf + 32);
	tx = get64(buf + 40);
	if (mode != 4 || version < 3 || version > 4 || get64(buf + 24) != cookie) {
		*why = "not a reply to our request (mode, version or origin timestamp)";
		return -EBADMSG;
	}
	/* chronyd answers an unsynchronised client with leap 3, stratum 0
	 * and a zero reference ID; a kiss-o'-death carries an ASCII code. */
	if (stratum == 0 && get32(buf + 12) != 0) {
		*why = "kiss-o'-death";
		return -EPROTO;
	}
	if (leap == 3 || stratum == 0) {
		*why = "server not synchronised (leap 3)";
		return -EPROTO;
	}
	if (stratum > 15) {
		*why = "stratum above 15";
		return -EPROTO;
	}
	if (!rx || !tx) {
		*why = "zero timestamps";
		return -EBADMSG;
	}
	out->t1 = t1;
	out->t4 = t4;
	out->t2 = ntp_query_ts_to_ns(rx, t1);
	out->t3 = ntp_query_ts_to_ns(tx, t1);
	out->offset_s = ((double)(out->t2 - t1) + (double)(out->t3 - t4)) / 2e9;
	out->delay_s = ((double)(t4 - t1) - (double)(out->t3 - out->t2)) / 1e9;
	if (out->delay_s < 0) {
		*why = "negative round trip";
		return -EBADMSG;
	}
	return 0;
}

int ntp_query_min_delay(const struct ntp_sample *s, int n)
{
	int best = -1;

	for (int i = 0; i < n; i++)
		if (s[i].delay_s >= 0 && (best < 0 || s[i].delay_s < s[best].delay_s))
			best = i;
	return best;
}

static int open_socket(const struct ntp_query_opts *o, char *err, size_t errlen)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(o->port ? o->port : 123) };
	struct sockaddr_in local = { .sin_family = AF_INET };
	int fd, rc;

	if (inet_pton(AF_INET, o->server, &sa.sin_addr) != 1 ||
	    (o->bind_addr && inet_pton(AF_INET, o->bind_addr, &local.sin_addr) != 1)) {
		snprintf(err, errlen, "NTP query %s: not an IPv4 address (server or bind address)",
			 o->server);
		return -EINVAL;
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "NTP query %s: socket: %s", o->server, strerror(errno));
		return rc;
	}
	if ((o->bind_addr && bind(fd, (struct sockaddr *)&local, sizeof(local)) < 0) ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		snprintf(err, errlen, "NTP query %s:%u: %s: %s", o->server, ntohs(sa.sin_port),
			 o->bind_addr ? "bind/connect" : "connect", strerror(errno));
		close(fd);
		return rc;
	}
	return fd;
}

/* One exchange: send, wait for the matching reply until the timeout.
 * 0, -ETIMEDOUT, or the parse error. */
static int exchange(int fd, int timeout_ms, struct ntp_sample *s, int *stratum, int *leap,
		    uint32_t *ref_id, double *root, const char **why)
{
	uint8_t pkt[NTP_PACKET_LEN], buf[512];
	uint64_t cookie;
	int64_t t1, deadline;
	int rc = -ETIMEDOUT;

	if (getrandom(&cookie, sizeof(cookie), 0) != sizeof(cookie))
		cookie = (uint64_t)timeutil_now_ns(CLOCK_MONOTONIC) * 0x9E3779B97F4A7C15ULL;
	ntp_query_build_request(pkt, cookie);
	*why = "no reply";
	t1 = timeutil_now_ns(CLOCK_REALTIME);
	deadline = timeutil_now_ns(CLOCK_MONOTONIC) + (int64_t)timeout_ms * 1000000;
	if (send(fd, pkt, sizeof(pkt), 0) < 0) {
		*why = strerror(errno);
		return -errno;
	}
	for (;;) {
		int64_t left = (deadline - timeutil_now_ns(CLOCK_MONOTONIC)) / 1000000;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return rc;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0) {
			*why = strerror(errno);	/* e.g. ECONNREFUSED: nothing serves NTP there */
			rc = -errno;
			if (errno == ECONNREFUSED)
				return rc;
			continue;
		}
		rc = ntp_query_parse_reply(buf, (size_t)n, cookie, t1, timeutil_now_ns(CLOCK_REALTIME), s, why);
		if (rc == 0) {
			*stratum = buf[1];
			*leap = buf[0] >> 6;
			*ref_id = get32(buf + 12);
			*root = get32(buf + 4) / 65536.0 / 2 + get32(buf + 8) / 65536.0;
			return 0;
		}
		if (rc == -EPROTO)
			return rc;
	}
}

int ntp_query(const struct ntp_query_opts *o, struct ntp_query_result *r, char *err, size_t errlen)
{
	struct ntp_sample s[NTP_QUERY_MAX_SAMPLES];
	double root[NTP_QUERY_MAX_SAMPLES];
	int n = o->samples > 0 ? o->samples : 8, timeout = o->timeout_ms > 0 ? o->timeout_ms : 500;
	int spacing = o->spacing_ms > 0 ? o->spacing_ms : 20;
	int fd, rc = -ETIMEDOUT, best;
	const char *why = "no reply";

	memset(r, 0, sizeof(*r));
	if (n > NTP_QUERY_MAX_SAMPLES)
		n = NTP_QUERY_MAX_SAMPLES;
	if ((fd = open_socket(o, err, errlen)) < 0)
		return fd;
	for (int i = 0; i < n; i++) {
		int stratum = 0, leap = 0;
		uint32_t ref = 0;
		int e;

		if (i)
			usleep((useconds_t)spacing * 1000);
		r->sent++;
		e = exchange(fd, timeout, &s[r->good], &stratum, &leap, &ref, &root[r->good], &why);
		if (e == 0) {
			r->stratum = stratum;
			r->leap = leap;
			r->ref_id = ref;
			r->good++;
		} else {
			rc = e;
		}
	}
	close(fd);
	best = ntp_query_min_delay(s, r->good);
	if (best < 0) {
		snprintf(err, errlen, "NTP query %s:%u: no valid reply to %d requests: %s", o->server,
			 o->port ? o->port : 123, r->sent, why);
		return rc;
	}
	r->offset_s = s[best].offset_s;
	r->delay_s = s[best].delay_s;
	r->error_s = s[best].delay_s / 2 + root[best];
	return 0;
}
