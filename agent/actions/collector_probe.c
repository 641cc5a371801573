/* collector_probe.c - see collector_probe.h. */
#include "actions/collector_probe.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int collector_url_hostport(const char *url, char *host, size_t hostlen, char *port, size_t portlen)
{
	const char *p, *end, *colon;
	size_t n;

	if (!strncmp(url, "http://", 7)) {
		p = url + 7;
		snprintf(port, portlen, "80");
	} else if (!strncmp(url, "https://", 8)) {
		p = url + 8;
		snprintf(port, portlen, "443");
	} else {
		return -EINVAL;
	}
	end = p + strcspn(p, "/?#");
	if (*p == '[') {	/* [IPv6]:port */
		const char *close = memchr(p, ']', (size_t)(end - p));

		if (!close)
			return -EINVAL;
		n = (size_t)(close - p - 1);
		colon = close[1] == ':' ? close + 1 : NULL;
		p++;
	} else {
		colon = memchr(p, ':', (size_t)(end - p));
		n = (size_t)((colon ? colon : end) - p);
	}
	if (n == 0 || n >= hostlen)
		return -EINVAL;
	memcpy(host, p, n);
	host[n] = '\0';
	if (colon) {
		n = (size_t)(end - colon - 1);
		if (n == 0 || n >= portlen || strspn(colon + 1, "0123456789") < n)
			return -EINVAL;
		memcpy(port, colon + 1, n);
		port[n] = '\0';
	}
	return 0;
}

static int connect_one(const struct addrinfo *ai, int timeout_ms)
{
	struct pollfd pfd;
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	int rc = 0, err = 0;
	socklen_t el = sizeof(err);

	if (fd < 0)
		return -errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS) {
			rc = -errno;
			goto out;
		}
		pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
		rc = poll(&pfd, 1, timeout_ms);
		if (rc == 0) {
			rc = -ETIMEDOUT;
			goto out;
		}
		if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0) {
			rc = -errno;
			goto out;
		}
		rc = err ? -err : 0;
	}
out:
	close(fd);
	return rc;
}

int collector_probe(const char *url, int timeout_ms, char *detail, size_t len)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
	char host[256], port[16];
	int rc, gai;

	if (collector_url_hostport(url, host, sizeof(host), port, sizeof(port)) < 0) {
		snprintf(detail, len, "%s: not an http:// or https:// URL", url);
		return -EINVAL;
	}
	gai = getaddrinfo(host, port, &hints, &res);
	if (gai) {
		snprintf(detail, len, "%s: cannot resolve %s: %s", url, host, gai_strerror(gai));
		return -EHOSTUNREACH;
	}
	rc = connect_one(res, timeout_ms);
	freeaddrinfo(res);
	snprintf(detail, len, "%s (%s:%s)%s%s", url, host, port, rc ? ": " : "", rc ? strerror(-rc) : "");
	return rc;
}
