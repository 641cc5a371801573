/* announce_sock.h - the UDP side of announces: IPv4 multicast by default
 * (TTL 1, one LAN), or a unicast list of peers; both at once is allowed.
 * Non-blocking; the caller polls announce_sock_fd(). */
#ifndef FLEETCLOCK_ANNOUNCE_SOCK_H
#define FLEETCLOCK_ANNOUNCE_SOCK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ANNOUNCE_DEFAULT_PORT 3191
#define ANNOUNCE_DEFAULT_GROUP "239.255.31.91"
#define ANNOUNCE_MAX_DESTS 16

struct announce_sock_opts {
	const char *bind_addr;		/* local IPv4 address (NULL: any); multicast leaves from it */
	uint16_t port;			/* 0: ANNOUNCE_DEFAULT_PORT */
	const char *group;		/* multicast group; NULL or "": unicast only */
	const char *peers;		/* "addr[:port],addr[:port]..." unicast destinations, or NULL */
};

struct announce_sock;

/* Open, bind and (multicast) join. 0, or -errno with err naming the
 * address and the operation that failed. */
int announce_sock_open(const struct announce_sock_opts *o, struct announce_sock **out,
		       char *err, size_t errlen);

/* Close and free; NULL ok. */
void announce_sock_close(struct announce_sock *s);

/* The socket to poll for input. */
int announce_sock_fd(const struct announce_sock *s);

/* Send buf to the group and every peer. 0 when at least one send worked,
 * else the last -errno. */
int announce_sock_send(struct announce_sock *s, const uint8_t *buf, size_t len);

/* Receive one datagram without waiting: its length, -EMSGSIZE for a
 * datagram longer than len (dropped; count it as malformed), -EAGAIN when
 * none is queued, or -errno. src gets the IPv4 source address (4 bytes). */
ssize_t announce_sock_recv(struct announce_sock *s, uint8_t *buf, size_t len, uint8_t src[4]);

/* How many destinations sends go to. */
size_t announce_sock_n_dests(const struct announce_sock *s);

#endif
