/* chrony_client.c - chronyd command-socket client, see chrony_client.h. */
#include "chrony/chrony_client.h"
#include "base/log.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "chrony/chrony_client_priv.h"

#define RECV_BUF_LEN 2048	/* larger than any datagram chronyd may send */

/* Commands chronyd accepts over UDP (read-only status). */
static bool command_read_only(uint16_t command)
{
	switch (command) {
	case CHRONY_CMD_N_SOURCES:
	case CHRONY_CMD_SOURCE_DATA:
	case CHRONY_CMD_TRACKING:
	case CHRONY_CMD_SOURCESTATS:
	case CHRONY_CMD_ACTIVITY:
	case CHRONY_CMD_NTP_SOURCE_NAME:
		return true;
	default:
		return false;
	}
}

int cc_set_error(struct chrony_client *c, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return rc;
}

/* The hint for the common cause of each socket error. */
static const char *errno_hint(int e)
{
	switch (e) {
	case ENOENT: return "the socket does not exist (is chronyd running?)";
	case ECONNREFUSED: return "connection refused (chronyd is not running)";
	case EACCES:
	case EPERM: return "permission denied (run as root or as the _chrony user)";
	default: return strerror(e);
	}
}

int chrony_client_open(const struct chrony_client_opts *opts, struct chrony_client **out)
{
	struct chrony_client *c;
	const char *path = opts && opts->socket_path && *opts->socket_path ? opts->socket_path
									   : CHRONY_DEFAULT_SOCKET;
	const char *host = opts && opts->udp_host && *opts->udp_host ? opts->udp_host
								     : CHRONY_DEFAULT_UDP_HOST;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	if (strlen(path) >= sizeof(c->socket_path) || strlen(host) >= sizeof(c->udp_host)) {
		free(c);
		return -EINVAL;
	}
	strcpy(c->socket_path, path);
	strcpy(c->udp_host, host);
	c->udp_port = opts && opts->udp_port > 0 ? opts->udp_port : CHRONY_DEFAULT_UDP_PORT;
	c->transport = opts ? opts->transport : CHRONY_TRANSPORT_AUTO;
	c->timeout_ms = opts && opts->timeout_ms > 0 ? opts->timeout_ms : 1000;
	c->max_attempts = opts && opts->max_attempts > 0 ? opts->max_attempts : 3;
	c->unix_fd = -1;
	c->udp_fd = -1;
	*out = c;
	return 0;
}

static void close_unix(struct chrony_client *c)
{
	if (c->unix_fd >= 0)
		close(c->unix_fd);
	c->unix_fd = -1;
	if (c->local_path[0])
		unlink(c->local_path);
	c->local_path[0] = '\0';
}

void chrony_client_close(struct chrony_client *c)
{
	if (!c)
		return;
	close_unix(c);
	if (c->udp_fd >= 0)
		close(c->udp_fd);
	free(c);
}

const char *chrony_client_error(const struct chrony_client *c)
{
	return c->err;
}

uint16_t chrony_client_last_status(const struct chrony_client *c)
{
	return c->last_status;
}

const char *chrony_client_endpoint(const struct chrony_client *c)
{
	return c->endpoint;
}

int chrony_client_socket_pid(const char *name)
{
	const char *p = name;
	long pid = 0;
	int digits = 0;

	if (strncmp(p, "fleetclock.", 11))
		return 0;
	for (p += 11; *p >= '0' && *p <= '9' && digits < 10; p++, digits++)
		pid = pid * 10 + (*p - '0');
	if (!digits || *p++ != '.' || pid <= 0 || pid > INT_MAX)
		return 0;
	for (digits = 0; *p >= '0' && *p <= '9' && digits < 10; p++)
		digits++;
	return digits && !strcmp(p, ".sock") ? (int)pid : 0;
}

/* Remove the client sockets that killed agents left in dir: only names of
 * our own pattern, only of processes that no longer exist (ESRCH; EPERM
 * means it lives under another user). Bounded: the first 4096 entries. */
static void sweep_stale(const struct chrony_client *c, const char *dir)
{
	char path[sizeof(c->local_path)];
	struct dirent *de;
	DIR *d;
	int seen = 0, pid;

	if (!(d = opendir(dir)))
		return;
	while ((de = readdir(d)) && seen++ < 4096) {
		pid = chrony_client_socket_pid(de->d_name);
		if (pid <= 0 || pid == (int)getpid() || kill(pid, 0) == 0 || errno != ESRCH)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
			continue;
		if (unlink(path) == 0)
			log_info("removed stale chronyd client socket %s (process %d is gone)", path, pid);
	}
	closedir(d);
}

static int open_unix(struct chrony_client *c)
{
	static unsigned counter;	/* shared by the threads: atomic */
	struct sockaddr_un local = { .sun_family = AF_UNIX }, server = { .sun_family = AF_UNIX };
	char dir[sizeof(c->socket_path)];
	const char *sdir;
	int n, e;

	strcpy(dir, c->socket_path);
	sdir = dirname(dir);
	n = snprintf(local.sun_path, sizeof(local.sun_path), "%s/fleetclock.%d.%u.sock",
		     sdir, (int)getpid(), __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
	if (n < 0 || (size_t)n >= sizeof(local.sun_path))
		return cc_set_error(c, -EINVAL, "client socket path next to %s is too long", c->socket_path);
	sweep_stale(c, sdir);
	c->unix_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->unix_fd < 0)
		return cc_set_error(c, -errno, "cannot create a Unix socket: %s", strerror(errno));
	/* A stale file left by a killed client of the same PID would make bind fail. */
	unlink(local.sun_path);
	if (bind(c->unix_fd, (struct sockaddr *)&local, sizeof(local)) < 0) {
		e = errno;
		close_unix(c);
		if (e == ENOENT)
			return cc_set_error(c, -ENOENT, "cannot reach chronyd at unix:%s: directory %s does not exist (is chronyd running?)",
					 c->socket_path, sdir);
		return cc_set_error(c, -e, "cannot bind client socket %s for chronyd at unix:%s: %s",
				 local.sun_path, c->socket_path, errno_hint(e));
	}
	strcpy(c->local_path, local.sun_path);
	/* chronyd runs as _chrony and must be able to send the reply to us. */
	if (chmod(c->local_path, 0666) < 0) {
		e = errno;
		close_unix(c);
		return cc_set_error(c, -e, "cannot chmod client socket %s: %s", local.sun_path, strerror(e));
	}
	strcpy(server.sun_path, c->socket_path);
	if (connect(c->unix_fd, (struct sockaddr *)&server, sizeof(server)) < 0) {
		e = errno;
		close_unix(c);
		return cc_set_error(c, -e, "cannot reach chronyd at unix:%s: %s", c->socket_path, errno_hint(e));
	}
	return 0;
}

static int open_udp(struct chrony_client *c)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	socklen_t sl;
	int e;

	if (inet_pton(AF_INET, c->udp_host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)c->udp_port);
		sl = sizeof(*s4);
	} else if (inet_pton(AF_INET6, c->udp_host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)c->udp_port);
		sl = sizeof(*s6);
	} else {
		return cc_set_error(c, -EINVAL, "chronyd UDP address '%s' is not a numeric IPv4/IPv6 address",
				 c->udp_host);
	}
	c->udp_fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->udp_fd < 0)
		return cc_set_error(c, -errno, "cannot create a UDP socket: %s", strerror(errno));
	if (connect(c->udp_fd, (struct sockaddr *)&ss, sl) < 0) {
		e = errno;
		close(c->udp_fd);
		c->udp_fd = -1;
		return cc_set_error(c, -e, "cannot reach chronyd at udp:%s:%d: %s", c->udp_host,
				 c->udp_port, strerror(e));
	}
	return 0;
}

static uint32_t random_sequence(void)
{
	uint32_t v;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != sizeof(v)) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		v = (uint32_t)ts.tv_nsec ^ (uint32_t)ts.tv_sec * 2654435761u ^ (uint32_t)getpid();
	}
	return v;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* When UDP stood in for a Unix socket that failed and UDP failed too, say
 * both; the Unix socket's cause is the one that matters unless the socket
 * simply does not exist (then chronyd is likely not running at all). */
static int fallback_error(struct chrony_client *c, int rc)
{
	char udp_err[sizeof(c->err)];

	if (c->unix_rc >= 0 || c->transport != CHRONY_TRANSPORT_AUTO)
		return rc;
	memcpy(udp_err, c->err, sizeof(udp_err));
	cc_set_error(c, rc, "%s; and over UDP: %s", c->unix_err, udp_err);
	return c->unix_rc == -ENOENT ? rc : c->unix_rc;
}

/* Open (when it is closed) the socket a command goes through; sets
 * c->endpoint. *fresh: it was opened by this call. */
static int pick_socket(struct chrony_client *c, bool read_only, int *fd, bool *fresh)
{
	bool use_udp = c->transport == CHRONY_TRANSPORT_UDP;
	int rc = 0;

	*fd = -1;
	*fresh = true;
	if (!use_udp) {
		snprintf(c->endpoint, sizeof(c->endpoint), "unix:%s", c->socket_path);
		*fresh = c->unix_fd < 0;
		if (c->unix_fd < 0)
			rc = open_unix(c);
		if (rc == 0) {
			c->unix_rc = 0;
			*fd = c->unix_fd;
			return 0;
		}
		/* Read-only status may still be had over UDP. */
		if (c->transport == CHRONY_TRANSPORT_UNIX || !read_only)
			return rc;
		use_udp = true;
		c->unix_rc = rc;
		memcpy(c->unix_err, c->err, sizeof(c->unix_err));
	}
	snprintf(c->endpoint, sizeof(c->endpoint), "udp:%s:%d", c->udp_host, c->udp_port);
	*fresh = c->udp_fd < 0;
	if (c->udp_fd < 0) {
		rc = open_udp(c);
		if (rc < 0)
			return fallback_error(c, rc);
	}
	*fd = c->udp_fd;
	return 0;
}

/* Turn a chronyd failure status into the client's error. */
static int status_error(struct chrony_client *c, uint16_t command, uint16_t status)
{
	const char *cmd = chrony_wire_command_str(command);

	c->last_status = status;
	if (status == CHRONY_STT_UNAUTH && !strncmp(c->endpoint, "udp:", 4))
		return cc_set_error(c, -EPERM, "chronyd at %s refused %s: not authorised over UDP (use the Unix socket, as root or _chrony)",
				 c->endpoint, cmd);
	if (status == CHRONY_STT_UNAUTH)
		return cc_set_error(c, -EPERM, "chronyd at %s refused %s: not authorised", c->endpoint, cmd);
	if (status == CHRONY_STT_BADPKTVERSION)
		return cc_set_error(c, -EPROTO, "chronyd at %s: protocol version mismatch (fleetclock speaks cmdmon version %d)",
				 c->endpoint, CHRONY_PROTO_VERSION);
	if (status == CHRONY_STT_INVALID || status == CHRONY_STT_BADPKTLENGTH)
		return cc_set_error(c, -EPROTO, "chronyd at %s does not support %s (%s): chronyd version not supported?",
				 c->endpoint, cmd, chrony_wire_status_str(status));
	return cc_set_error(c, -EREMOTEIO, "chronyd at %s: %s failed: %s", c->endpoint, cmd,
			 chrony_wire_status_str(status));
}

/* One request of a batch on its way. */
struct pending {
	const struct chrony_request *req;
	struct chrony_reply *reply;
	int *rc;
	uint32_t seq;
	int attempts;		/* sends so far */
	int timeout_ms;		/* of the next send; doubles */
	int64_t deadline;	/* while in flight */
	bool in_flight;
	bool done;
};

/* At most this many requests wait for replies at once: the kernel queues
 * only net.unix.max_dgram_qlen (10) datagrams on a Unix socket, and chronyd
 * drops a reply it cannot queue on ours. */
#define WINDOW 8

struct batch {
	struct pending *p;
	size_t n;
	int fd;
	bool bad_version;
	uint8_t version_seen;
};

static int send_one(struct chrony_client *c, struct batch *b, struct pending *p)
{
	uint8_t pkt[CHRONY_MAX_REQ_LEN];
	int len;

	p->seq = random_sequence();
	len = chrony_wire_encode_request(p->req, p->seq, (uint16_t)p->attempts, pkt, sizeof(pkt));
	if (len < 0)
		return cc_set_error(c, len, "cannot encode %s request: invalid argument",
				 chrony_wire_command_str(p->req->command));
	/* The socket is non-blocking: when chronyd does not read (stopped,
	 * wedged) its queue fills and send fails with EAGAIN instead of
	 * blocking. A send lost to EAGAIN/EINTR/ENOBUFS simply times out and
	 * is sent again, so the whole request stays bounded by its timeouts. */
	if (send(b->fd, pkt, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno != EINTR &&
	    errno != EAGAIN && errno != ENOBUFS)
		return cc_set_error(c, -errno, "cannot reach chronyd at %s: %s", c->endpoint, errno_hint(errno));
	p->attempts++;
	p->deadline = mono_ms() + p->timeout_ms;
	p->timeout_ms *= 2;
	p->in_flight = true;
	return 0;
}

/* Send what the window allows; finish requests out of attempts. Returns the
 * number in flight, or -errno on a transport error. */
static int fill_window(struct chrony_client *c, struct batch *b)
{
	int in_flight = 0;

	for (size_t i = 0; i < b->n; i++)
		in_flight += b->p[i].in_flight;
	for (size_t i = 0; i < b->n && in_flight < WINDOW; i++) {
		struct pending *p = &b->p[i];
		int rc;

		if (p->done || p->in_flight)
			continue;
		if (p->attempts >= c->max_attempts) {
			p->done = true;
			*p->rc = -ETIMEDOUT;
			continue;
		}
		rc = send_one(c, b, p);
		if (rc < 0)
			return rc;
		in_flight++;
	}
	return in_flight;
}

/* Handle one received datagram: find the request it answers, if any. */
static void take_reply(struct chrony_client *c, struct batch *b, const uint8_t *buf, size_t n)
{
	for (size_t i = 0; i < b->n; i++) {
		struct pending *p = &b->p[i];
		struct chrony_reply_header hdr;
		int rc;

		if (!p->in_flight)
			continue;
		switch (chrony_wire_match_reply(buf, n, p->req->command, p->seq, &hdr)) {
		case CHRONY_MATCH_IGNORE:
			continue;
		case CHRONY_MATCH_BAD_VERSION:
			b->bad_version = true;
			b->version_seen = hdr.version;
			return;
		case CHRONY_MATCH_OK:
			break;
		}
		p->in_flight = false;
		rc = chrony_wire_decode_reply(buf, n, p->req->command, p->reply);
		if (rc == -EBADMSG)
			return;	/* short for its type: send again */
		p->done = true;
		if (rc == -EREMOTEIO)
			rc = status_error(c, p->req->command, p->reply->hdr.status);
		else if (rc == -EPROTO)
			rc = cc_set_error(c, -EPROTO, "chronyd at %s sent an invalid %s reply (type %u, unexpected type or field): chronyd version not supported?",
				       c->endpoint, chrony_wire_command_str(p->req->command), p->reply->hdr.reply);
		*p->rc = rc;
		return;
	}
}

/* Wait until the earliest deadline for datagrams; expire late requests. */
static int wait_replies(struct chrony_client *c, struct batch *b)
{
	uint8_t buf[RECV_BUF_LEN];
	int64_t now = mono_ms(), first = INT64_MAX;
	struct pollfd pfd = { .fd = b->fd, .events = POLLIN };
	ssize_t len;
	int r;

	for (size_t i = 0; i < b->n; i++)
		if (b->p[i].in_flight && b->p[i].deadline < first)
			first = b->p[i].deadline;
	r = poll(&pfd, 1, first <= now ? 0 : (int)(first - now));
	if (r < 0 && errno != EINTR)
		return cc_set_error(c, -errno, "poll on %s: %s", c->endpoint, strerror(errno));
	while (r > 0) {
		len = recv(b->fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);
		if (len < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (len < 0)
			return cc_set_error(c, -errno, "cannot reach chronyd at %s: %s", c->endpoint,
					 errno_hint(errno));
		take_reply(c, b, buf, (size_t)len);
	}
	now = mono_ms();
	for (size_t i = 0; i < b->n; i++)
		if (b->p[i].in_flight && b->p[i].deadline <= now)
			b->p[i].in_flight = false;	/* timed out: send again */
	return 0;
}

static bool any_timed_out(const int *rcs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (rcs[i] == -ETIMEDOUT)
			return true;
	return false;
}

/* After a transport error (ECONNREFUSED, ENOTCONN, ECONNRESET, EPIPE: a
 * chronyd that was restarted has a new socket, and ours stays connected to
 * the old one) or a reply timeout (late replies would be read as noise),
 * close the socket: the next call opens a fresh one. */
static void drop_socket(struct chrony_client *c, int fd)
{
	if (fd == c->unix_fd) {
		close_unix(c);
	} else if (fd == c->udp_fd) {
		close(c->udp_fd);
		c->udp_fd = -1;
	}
}

/* A socket that chronyd's restart left behind: connected to the old one. */
static bool stale_peer(int rc)
{
	return rc == -ECONNREFUSED || rc == -ENOTCONN || rc == -ECONNRESET || rc == -EPIPE;
}

/* Send the batch and collect replies on one socket; the socket is closed
 * after a transport error or a timeout. *fresh: the socket was opened for
 * this batch. */
static int run_batch(struct chrony_client *c, struct batch *b, const struct chrony_request *reqs,
		     struct chrony_reply *replies, int *rcs, bool *fresh)
{
	bool all_read_only = true;
	int rc;

	for (size_t i = 0; i < b->n; i++) {
		b->p[i] = (struct pending){ .req = &reqs[i], .reply = &replies[i], .rc = &rcs[i],
					    .timeout_ms = c->timeout_ms };
		rcs[i] = -ETIMEDOUT;
		all_read_only &= command_read_only(reqs[i].command);
	}
	b->bad_version = false;
	rc = pick_socket(c, all_read_only, &b->fd, fresh);
	if (rc < 0)
		return rc;
	while ((rc = fill_window(c, b)) > 0)
		if ((rc = wait_replies(c, b)) < 0)
			break;
	if (rc < 0 || any_timed_out(rcs, b->n))
		drop_socket(c, b->fd);
	return rc < 0 ? rc : 0;
}

int chrony_client_request_many(struct chrony_client *c, const struct chrony_request *reqs,
			       struct chrony_reply *replies, int *rcs, size_t n)
{
	struct pending p[CHRONY_MAX_BATCH];
	struct batch b = { .p = p, .n = n };
	bool fresh = true;
	int rc;

	if (n > CHRONY_MAX_BATCH)
		return cc_set_error(c, -EINVAL, "too many requests in one batch (%zu)", n);
	c->err[0] = '\0';
	c->last_status = CHRONY_STT_SUCCESS;
	rc = run_batch(c, &b, reqs, replies, rcs, &fresh);
	/* chronyd was restarted since the last call: once more, on a new socket */
	if (stale_peer(rc) && !fresh)
		rc = run_batch(c, &b, reqs, replies, rcs, &fresh);
	if (rc < 0 && b.fd < 0)
		return rc;	/* no socket: pick_socket's error is complete */
	if (rc < 0)
		return fallback_error(c, rc);
	if (c->unix_rc < 0 && !c->fallback_logged && n && rcs[0] == 0) {
		log_warn("%s; read-only status came over %s", c->unix_err, c->endpoint);
		c->fallback_logged = true;
	}
	/* The message names the first request that got no answer. */
	for (size_t i = n; i-- > 0;) {
		if (rcs[i] != -ETIMEDOUT)
			continue;
		if (b.bad_version)
			rcs[i] = cc_set_error(c, -EPROTO, "chronyd at %s speaks command protocol version %u, fleetclock speaks %d",
					   c->endpoint, b.version_seen, CHRONY_PROTO_VERSION);
		else
			cc_set_error(c, -ETIMEDOUT, "no valid reply from chronyd at %s to %s after %d attempts (%.1f s)",
				  c->endpoint, chrony_wire_command_str(reqs[i].command), c->max_attempts,
				  (c->timeout_ms * ((1 << c->max_attempts) - 1)) / 1000.0);
	}
	return 0;
}

int chrony_client_request(struct chrony_client *c, const struct chrony_request *req,
			  struct chrony_reply *reply)
{
	int rc, one;

	rc = chrony_client_request_many(c, req, reply, &one, 1);
	return rc < 0 ? rc : one;
}
