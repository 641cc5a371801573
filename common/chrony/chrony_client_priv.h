/* chrony_client_priv.h - private to chrony_client.c and chrony_requests.c:
 * what both use. */
#ifndef FLEETCLOCK_CHRONY_CLIENT_PRIV_H
#define FLEETCLOCK_CHRONY_CLIENT_PRIV_H

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
	int unix_rc;			/* why the Unix socket failed, when UDP stands in */
	bool fallback_logged;
	char unix_err[512];
	uint32_t last_n_sources;	/* of the previous snapshot */
	size_t n_names;			/* NTP source names seen: they do not change */
	struct {
		struct chrony_ipaddr ip;
		char name[256];
	} names[CHRONY_MAX_SOURCES];
};

int cc_set_error(struct chrony_client *c, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
