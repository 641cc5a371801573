/* chrony_client.c - chronyd command-socket client, see chrony_client.h. */
#include "chrony_client.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
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

#define RECV_BUF_LEN 2048	/* larger than any datagram chronyd may send */

struct chrony_client {
	char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char local_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char udp_host[64];
	int udp_port;
	enum chrony_transport transport;
	int timeout_ms;
	int max_attempts;
	int unix_fd;		/* -1 until first use */
	int udp_fd;
	char endpoint[160];
	char err[512];
	uint16_t last_status;
};

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

static int set_error(struct chrony_client *c, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int set_error(struct chrony_client *c, int rc, const char *fmt, ...)
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

static int open_unix(struct chrony_client *c)
{
	static unsigned counter;
	struct sockaddr_un local = { .sun_family = AF_UNIX }, server = { .sun_family = AF_UNIX };
	char dir[sizeof(c->socket_path)];
	int n, e;

	strcpy(dir, c->socket_path);
	n = snprintf(local.sun_path, sizeof(local.sun_path), "%s/fleetclock.%d.%u.sock",
		     dirname(dir), (int)getpid(), counter++);
	if (n < 0 || (size_t)n >= sizeof(local.sun_path))
		return set_error(c, -EINVAL, "client socket path next to %s is too long", c->socket_path);
	c->unix_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (c->unix_fd < 0)
		return set_error(c, -errno, "cannot create a Unix socket: %s", strerror(errno));
	/* A stale file left by a killed client of the same PID would make bind fail. */
	unlink(local.sun_path);
	if (bind(c->unix_fd, (struct sockaddr *)&local, sizeof(local)) < 0) {
		e = errno;
		close_unix(c);
		if (e == ENOENT)
			return set_error(c, -ENOENT, "cannot reach chronyd at unix:%s: directory %s does not exist (is chronyd running?)",
					 c->socket_path, dir);
		return set_error(c, -e, "cannot bind client socket %s for chronyd at unix:%s: %s",
				 local.sun_path, c->socket_path, errno_hint(e));
	}
	strcpy(c->local_path, local.sun_path);
	/* chronyd runs as _chrony and must be able to send the reply to us. */
	if (chmod(c->local_path, 0666) < 0) {
		e = errno;
		close_unix(c);
		return set_error(c, -e, "cannot chmod client socket %s: %s", local.sun_path, strerror(e));
	}
	strcpy(server.sun_path, c->socket_path);
	if (connect(c->unix_fd, (struct sockaddr *)&server, sizeof(server)) < 0) {
		e = errno;
		close_unix(c);
		return set_error(c, -e, "cannot reach chronyd at unix:%s: %s", c->socket_path, errno_hint(e));
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
		return set_error(c, -EINVAL, "chronyd UDP address '%s' is not a numeric IPv4/IPv6 address",
				 c->udp_host);
	}
	c->udp_fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (c->udp_fd < 0)
		return set_error(c, -errno, "cannot create a UDP socket: %s", strerror(errno));
	if (connect(c->udp_fd, (struct sockaddr *)&ss, sl) < 0) {
		e = errno;
		close(c->udp_fd);
		c->udp_fd = -1;
		return set_error(c, -e, "cannot reach chronyd at udp:%s:%d: %s", c->udp_host,
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

/* Why a wait ended without a usable reply. */
enum wait_result { WAIT_REPLY, WAIT_TIMEOUT, WAIT_RESEND, WAIT_ERROR };

/* Wait for the reply to (command, seq) until the deadline; ignore datagrams
 * that are not ours. */
static enum wait_result wait_reply(struct chrony_client *c, int fd, uint16_t command, uint32_t seq,
				   int64_t deadline, struct chrony_reply *reply, int *rc,
				   bool *bad_version, uint8_t *bad_version_seen)
{
	uint8_t buf[RECV_BUF_LEN];

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		struct chrony_reply_header hdr;
		int64_t left = deadline - mono_ms();
		ssize_t n;
		int r;

		if (left <= 0)
			return WAIT_TIMEOUT;
		r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			*rc = set_error(c, -errno, "poll on %s: %s", c->endpoint, strerror(errno));
			return WAIT_ERROR;
		}
		if (r == 0)
			return WAIT_TIMEOUT;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			*rc = set_error(c, -errno, "cannot reach chronyd at %s: %s", c->endpoint,
					errno_hint(errno));
			return WAIT_ERROR;
		}
		switch (chrony_wire_match_reply(buf, (size_t)n, command, seq, &hdr)) {
		case CHRONY_MATCH_IGNORE:
			continue;
		case CHRONY_MATCH_BAD_VERSION:
			*bad_version = true;
			*bad_version_seen = hdr.version;
			continue;
		case CHRONY_MATCH_OK:
			break;
		}
		*rc = chrony_wire_decode_reply(buf, (size_t)n, command, reply);
		if (*rc == -EBADMSG)
			return WAIT_RESEND;	/* short for its type: ask again */
		return WAIT_REPLY;
	}
}

/* Open (once) the socket a command goes through; sets c->endpoint. */
static int pick_socket(struct chrony_client *c, uint16_t command, int *fd)
{
	bool use_udp = c->transport == CHRONY_TRANSPORT_UDP;
	int rc = 0;

	if (!use_udp) {
		snprintf(c->endpoint, sizeof(c->endpoint), "unix:%s", c->socket_path);
		if (c->unix_fd < 0)
			rc = open_unix(c);
		if (rc == 0) {
			*fd = c->unix_fd;
			return 0;
		}
		/* Read-only status may still be had over UDP. */
		if (c->transport == CHRONY_TRANSPORT_UNIX || !command_read_only(command))
			return rc;
		use_udp = true;
	}
	snprintf(c->endpoint, sizeof(c->endpoint), "udp:%s:%d", c->udp_host, c->udp_port);
	if (c->udp_fd < 0) {
		char unix_err[sizeof(c->err)];

		memcpy(unix_err, c->err, sizeof(unix_err));
		rc = open_udp(c);
		if (rc < 0)
			return rc;
		if (c->transport == CHRONY_TRANSPORT_AUTO && unix_err[0])
			log_warn("%s; using udp:%s:%d for read-only status", unix_err,
				c->udp_host, c->udp_port);
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
		return set_error(c, -EPERM, "chronyd at %s refused %s: not authorised over UDP (use the Unix socket, as root or _chrony)",
				 c->endpoint, cmd);
	if (status == CHRONY_STT_UNAUTH)
		return set_error(c, -EPERM, "chronyd at %s refused %s: not authorised", c->endpoint, cmd);
	if (status == CHRONY_STT_BADPKTVERSION)
		return set_error(c, -EPROTO, "chronyd at %s: protocol version mismatch (fleetclock speaks cmdmon version %d)",
				 c->endpoint, CHRONY_PROTO_VERSION);
	if (status == CHRONY_STT_INVALID || status == CHRONY_STT_BADPKTLENGTH)
		return set_error(c, -EPROTO, "chronyd at %s does not support %s (%s): chronyd version not supported?",
				 c->endpoint, cmd, chrony_wire_status_str(status));
	return set_error(c, -EREMOTEIO, "chronyd at %s: %s failed: %s", c->endpoint, cmd,
			 chrony_wire_status_str(status));
}

int chrony_client_request(struct chrony_client *c, const struct chrony_request *req,
			  struct chrony_reply *reply)
{
	uint8_t pkt[CHRONY_MAX_REQ_LEN];
	bool bad_version = false;
	uint8_t version_seen = 0;
	int timeout = c->timeout_ms, total_ms = 0, fd = -1, rc;

	c->err[0] = '\0';
	c->last_status = CHRONY_STT_SUCCESS;
	rc = pick_socket(c, req->command, &fd);
	if (rc < 0)
		return rc;
	for (int attempt = 0; attempt < c->max_attempts; attempt++, timeout *= 2) {
		uint32_t seq = random_sequence();
		int len = chrony_wire_encode_request(req, seq, (uint16_t)attempt, pkt, sizeof(pkt));

		if (len < 0)
			return set_error(c, len, "cannot encode %s request: invalid argument",
					 chrony_wire_command_str(req->command));
		if (send(fd, pkt, (size_t)len, 0) < 0) {
			int e = errno;

			if (e == EINTR || e == EAGAIN || e == ENOBUFS)
				continue;
			return set_error(c, -e, "cannot reach chronyd at %s: %s", c->endpoint, errno_hint(e));
		}
		total_ms += timeout;
		switch (wait_reply(c, fd, req->command, seq, mono_ms() + timeout, reply, &rc,
				   &bad_version, &version_seen)) {
		case WAIT_REPLY:
			if (rc == -EREMOTEIO)
				return status_error(c, req->command, reply->hdr.status);
			if (rc == -EPROTO)
				return set_error(c, -EPROTO, "chronyd at %s sent an invalid %s reply (type %u, %s): chronyd version not supported?",
						 c->endpoint, chrony_wire_command_str(req->command),
						 reply->hdr.reply, "unexpected type or field");
			return 0;
		case WAIT_ERROR:
			return rc;
		case WAIT_RESEND:
		case WAIT_TIMEOUT:
			break;
		}
	}
	if (bad_version)
		return set_error(c, -EPROTO, "chronyd at %s speaks command protocol version %u, fleetclock speaks %d",
				 c->endpoint, version_seen, CHRONY_PROTO_VERSION);
	return set_error(c, -ETIMEDOUT, "no valid reply from chronyd at %s to %s after %d attempts (%.1f s)",
			 c->endpoint, chrony_wire_command_str(req->command), c->max_attempts,
			 total_ms / 1000.0);
}

/* --- Typed requests --- */

int chrony_client_tracking(struct chrony_client *c, struct chrony_tracking *out)
{
	struct chrony_request req = { .command = CHRONY_CMD_TRACKING };
	struct chrony_reply r;
	int rc = chrony_client_request(c, &req, &r);

	if (rc == 0)
		*out = r.u.tracking;
	return rc;
}

int chrony_client_n_sources(struct chrony_client *c, uint32_t *n)
{
	struct chrony_request req = { .command = CHRONY_CMD_N_SOURCES };
	struct chrony_reply r;
	int rc = chrony_client_request(c, &req, &r);

	if (rc == 0)
		*n = r.u.n_sources;
	return rc;
}

int chrony_client_source_data(struct chrony_client *c, uint32_t index, struct chrony_source_data *out)
{
	struct chrony_request req = { .command = CHRONY_CMD_SOURCE_DATA, .u.index = index };
	struct chrony_reply r;
	int rc = chrony_client_request(c, &req, &r);

	if (rc == 0)
		*out = r.u.source_data;
	return rc;
}

int chrony_client_sourcestats(struct chrony_client *c, uint32_t index, struct chrony_sourcestats *out)
{
	struct chrony_request req = { .command = CHRONY_CMD_SOURCESTATS, .u.index = index };
	struct chrony_reply r;
	int rc = chrony_client_request(c, &req, &r);

	if (rc == 0)
		*out = r.u.sourcestats;
	return rc;
}

int chrony_client_source_name(struct chrony_client *c, const struct chrony_ipaddr *ip,
			      char *name, size_t len)
{
	struct chrony_request req = { .command = CHRONY_CMD_NTP_SOURCE_NAME, .u.ip = *ip };
	struct chrony_reply r;
	int rc = chrony_client_request(c, &req, &r);

	if (rc == 0)
		snprintf(name, len, "%s", r.u.source_name);
	return rc;
}

int chrony_client_ntp_data(struct chrony_client *c, const struct chrony_ipaddr *ip,
			   struct chrony_ntp_data *out)
{
	struct chrony_request req = { .command = CHRONY_CMD_NTP_DATA, .u.ip = *ip };
	struct chrony_reply r;
	int rc = chrony_client_request(c, &req, &r);

	if (rc == 0)
		*out = r.u.ntp_data;
	return rc;
}

int chrony_client_activity(struct chrony_client *c, struct chrony_activity *out)
{
	struct chrony_request req = { .command = CHRONY_CMD_ACTIVITY };
	struct chrony_reply r;
	int rc = chrony_client_request(c, &req, &r);

	if (rc == 0)
		*out = r.u.activity;
	return rc;
}

int chrony_client_makestep(struct chrony_client *c)
{
	struct chrony_request req = { .command = CHRONY_CMD_MAKESTEP };
	struct chrony_reply r;

	return chrony_client_request(c, &req, &r);
}

int chrony_client_modify_makestep(struct chrony_client *c, int32_t limit, double threshold)
{
	struct chrony_request req = { .command = CHRONY_CMD_MODIFY_MAKESTEP };
	struct chrony_reply r;

	req.u.modify_makestep.limit = limit;
	req.u.modify_makestep.threshold = threshold;
	return chrony_client_request(c, &req, &r);
}

int chrony_client_local(struct chrony_client *c, bool on, int stratum, double distance, bool orphan)
{
	struct chrony_request req = { .command = CHRONY_CMD_LOCAL2 };
	struct chrony_reply r;

	if (on && (stratum < 1 || stratum > 15 || !(distance >= 0.0)))
		return set_error(c, -EINVAL, "local reference: stratum must be 1-15 and distance >= 0");
	req.u.local.on_off = on;
	req.u.local.stratum = stratum;
	req.u.local.distance = distance;
	req.u.local.orphan = orphan;
	return chrony_client_request(c, &req, &r);
}

static void mask_address(struct chrony_request *req, const struct chrony_ipaddr *mask,
			 const struct chrony_ipaddr *address)
{
	if (mask)
		req->u.online.mask = *mask;
	if (address)
		req->u.online.address = *address;
}

int chrony_client_set_online(struct chrony_client *c, const struct chrony_ipaddr *mask,
			     const struct chrony_ipaddr *address, bool online)
{
	struct chrony_request req = { .command = online ? CHRONY_CMD_ONLINE : CHRONY_CMD_OFFLINE };
	struct chrony_reply r;

	mask_address(&req, mask, address);
	return chrony_client_request(c, &req, &r);
}

int chrony_client_burst(struct chrony_client *c, const struct chrony_ipaddr *mask,
			const struct chrony_ipaddr *address, int n_good, int n_total)
{
	struct chrony_request req = { .command = CHRONY_CMD_BURST };
	struct chrony_reply r;

	mask_address(&req, mask, address);
	req.u.burst.n_good = n_good;
	req.u.burst.n_total = n_total;
	return chrony_client_request(c, &req, &r);
}

/* --- Snapshot --- */

static void source_name(struct chrony_client *c, struct chrony_source *s)
{
	char addr[64];

	if (s->data.mode == CHRONY_MODE_REF) {
		/* A reference clock: its "address" carries the refid, e.g. "PPS0". */
		uint32_t id = s->data.ip.addr.in4;

		for (int i = 0; i < 4; i++) {
			char ch = (char)(id >> (24 - 8 * i));
			s->name[i] = (ch >= 0x21 && ch <= 0x7e) ? ch : '\0';
		}
		s->name[4] = '\0';
		if (!s->name[0])
			snprintf(s->name, sizeof(s->name), "%08X", (unsigned)id);
		return;
	}
	if (chrony_client_source_name(c, &s->data.ip, s->name, sizeof(s->name)) == 0 && s->name[0])
		return;
	snprintf(s->name, sizeof(s->name), "%s", chrony_wire_ipaddr_str(&s->data.ip, addr, sizeof(addr)));
}

int chrony_client_snapshot(struct chrony_client *c, struct chrony_snapshot *out)
{
	uint32_t n;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = chrony_client_tracking(c, &out->tracking);
	if (rc < 0)
		return rc;
	rc = chrony_client_n_sources(c, &n);
	if (rc < 0)
		return rc;
	if (n > CHRONY_MAX_SOURCES)
		n = CHRONY_MAX_SOURCES;
	for (uint32_t i = 0; i < n; i++) {
		struct chrony_source *s = &out->sources[out->n_sources];

		rc = chrony_client_source_data(c, i, &s->data);
		if (rc == -EREMOTEIO && c->last_status == CHRONY_STT_NOSUCHSOURCE)
			break;	/* a source went away between the calls */
		if (rc < 0)
			return rc;
		rc = chrony_client_sourcestats(c, i, &s->stats);
		if (rc < 0 && rc != -EREMOTEIO)
			return rc;
		s->have_stats = rc == 0;
		source_name(c, s);
		out->n_sources++;
	}
	c->err[0] = '\0';
	return 0;
}

double chrony_tracking_max_error(const struct chrony_tracking *t)
{
	return fabs(t->current_correction) + t->root_delay / 2.0 + t->root_dispersion;
}

bool chrony_tracking_synchronised(const struct chrony_tracking *t)
{
	return t->leap_status != CHRONY_LEAP_UNSYNC && t->ref_id != 0 &&
	       t->ref_id != CHRONY_REFID_LOCAL;
}
