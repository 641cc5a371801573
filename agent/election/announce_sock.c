/* announce_sock.c - UDP multicast/unicast for announces, see announce_sock.h */
#include "election/announce_sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct announce_sock {
	int fd;
	size_t n_dests;
	struct sockaddr_in dests[ANNOUNCE_MAX_DESTS];
};

static int parse_addr(const char *text, uint16_t def_port, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strchr(text, ':');
	size_t n = colon ? (size_t)(colon - text) : strlen(text);
	long port = def_port;

	if (n == 0 || n >= sizeof(host))
		return -EINVAL;
	memcpy(host, text, n);
	host[n] = '\0';
	if (colon) {
		char *end;

		errno = 0;
		port = strtol(colon + 1, &end, 10);
		if (errno || *end || port < 1 || port > 65535)
			return -EINVAL;
	}
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -EINVAL;
}

/* Split the comma list of peers into dests[]. */
static int parse_peers(struct announce_sock *s, const char *peers, uint16_t port,
		       char *err, size_t errlen)
{
	char item[80];

	while (peers && *peers) {
		const char *comma = strchr(peers, ',');
		size_t n = comma ? (size_t)(comma - peers) : strlen(peers);
		size_t a = 0;

		while (a < n && peers[a] == ' ')
			a++;
		while (n > a && peers[n - 1] == ' ')
			n--;
		if (n - a >= sizeof(item) || s->n_dests >= ANNOUNCE_MAX_DESTS) {
			snprintf(err, errlen, "announce peers: too many or too long (at most %d)",
				 ANNOUNCE_MAX_DESTS);
			return -EINVAL;
		}
		memcpy(item, peers + a, n - a);
		item[n - a] = '\0';
		if (item[0] && parse_addr(item, port, &s->dests[s->n_dests++]) < 0) {
			snprintf(err, errlen, "announce peer '%s': not an IPv4 address[:port]", item);
			return -EINVAL;
		}
		peers = comma ? comma + 1 : NULL;
	}
	return 0;
}

static int join_group(struct announce_sock *s, const struct sockaddr_in *grp,
		      const struct in_addr *ifaddr, char *err, size_t errlen)
{
	struct ip_mreqn mreq = { .imr_multiaddr = grp->sin_addr, .imr_address = *ifaddr };
	unsigned char ttl = 1, loop = 1;

	if (setsockopt(s->fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof(mreq)) < 0 ||
	    setsockopt(s->fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl)) < 0 ||
	    setsockopt(s->fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof(loop)) < 0 ||
	    (ifaddr->s_addr != htonl(INADDR_ANY) &&
	     setsockopt(s->fd, IPPROTO_IP, IP_MULTICAST_IF, &mreq, sizeof(mreq)) < 0)) {
		int rc = -errno;

		char ifa[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, ifaddr, ifa, sizeof(ifa));
		snprintf(err, errlen, "announce group %s: join on interface %s: %s (no multicast route: "
			 "set [election] bind to this node's fleet address, or peers to announce by unicast)",
			 inet_ntoa(grp->sin_addr), ifaddr->s_addr == htonl(INADDR_ANY) ? "of the default route" : ifa,
			 strerror(errno));
		return rc;
	}
	return 0;
}

static int bind_sock(struct announce_sock *s, const struct announce_sock_opts *o, uint16_t port,
		     bool mcast, const struct sockaddr_in *grp, char *err, size_t errlen)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct in_addr ifaddr = { htonl(INADDR_ANY) };
	int one = 1, rc;

	if (o->bind_addr && o->bind_addr[0] && inet_pton(AF_INET, o->bind_addr, &ifaddr) != 1) {
		snprintf(err, errlen, "announce bind address '%s': not an IPv4 address", o->bind_addr);
		return -EINVAL;
	}
	/* A multicast receiver binds the group so that it sees it; a unicast
	 * one its own address. */
	sa.sin_addr = mcast ? grp->sin_addr : ifaddr;
	setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		snprintf(err, errlen, "announce socket %s:%u: bind: %s", inet_ntoa(sa.sin_addr),
			 port, strerror(errno));
		return rc;
	}
	return mcast ? join_group(s, grp, &ifaddr, err, errlen) : 0;
}

int announce_sock_open(const struct announce_sock_opts *o, struct announce_sock **out,
		       char *err, size_t errlen)
{
	uint16_t port = o->port ? o->port : ANNOUNCE_DEFAULT_PORT;
	bool mcast = o->group && o->group[0];
	struct announce_sock *s = calloc(1, sizeof(*s));
	struct sockaddr_in grp;
	int rc;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->fd = -1;
	if (mcast && (parse_addr(o->group, port, &grp) < 0 || !IN_MULTICAST(ntohl(grp.sin_addr.s_addr)))) {
		snprintf(err, errlen, "announce group '%s': not an IPv4 multicast address", o->group);
		rc = -EINVAL;
		goto fail;
	}
	if (mcast)
		s->dests[s->n_dests++] = grp;
	if ((rc = parse_peers(s, o->peers, port, err, errlen)) < 0)
		goto fail;
	if (s->n_dests == 0) {
		snprintf(err, errlen, "announce: neither a multicast group nor peers configured");
		rc = -EINVAL;
		goto fail;
	}
	s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "announce socket: %s", strerror(errno));
		goto fail;
	}
	if ((rc = bind_sock(s, o, port, mcast, &grp, err, errlen)) < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	announce_sock_close(s);
	return rc;
}

void announce_sock_close(struct announce_sock *s)
{
	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	free(s);
}

int announce_sock_fd(const struct announce_sock *s)
{
	return s->fd;
}

size_t announce_sock_n_dests(const struct announce_sock *s)
{
	return s->n_dests;
}

int announce_sock_send(struct announce_sock *s, const uint8_t *buf, size_t len)
{
	int rc = -ENOTCONN;
	bool any = false;

	for (size_t i = 0; i < s->n_dests; i++) {
		if (sendto(s->fd, buf, len, 0, (struct sockaddr *)&s->dests[i], sizeof(s->dests[i])) < 0)
			rc = -errno;
		else
			any = true;
	}
	return any ? 0 : rc;
}

ssize_t announce_sock_recv(struct announce_sock *s, uint8_t *buf, size_t len, uint8_t src[4])
{
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	ssize_t n = recvfrom(s->fd, buf, len, MSG_TRUNC | MSG_DONTWAIT, (struct sockaddr *)&from, &fl);

	if (n < 0)
		return -errno;
	memcpy(src, &from.sin_addr, 4);
	return (size_t)n > len ? -EMSGSIZE : n;
}
