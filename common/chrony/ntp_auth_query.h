/* ntp_auth_query.h - ask chronyd whether the selected source's time is
 * authenticated (NTP_DATA, chronyc's "Authenticated"). The I/O half of
 * ntp_auth.h. NTP_DATA needs chronyd's Unix socket: over the UDP command
 * port chronyd refuses it, which gives NTP_AUTH_ERROR. */
#ifndef FLEETCLOCK_NTP_AUTH_QUERY_H
#define FLEETCLOCK_NTP_AUTH_QUERY_H

#include "chrony/chrony_client.h"
#include "chrony/ntp_auth.h"

/* Fill out for the selected NTP source of snap (NULL snap: chronyd was not
 * read, NOT_CHECKED). Never fails: errors become NTP_AUTH_ERROR with the
 * client's message (socket and cause) in out->detail. */
void ntp_auth_query(struct chrony_client *c, const struct chrony_snapshot *snap,
		    struct ntp_auth_result *out);

/* The state of one source by address (the election's master): NO_DATA when
 * chronyd does not know it, ERROR (detail, len bytes) when NTP_DATA failed. */
enum ntp_auth_state ntp_auth_query_source(struct chrony_client *c, const struct chrony_ipaddr *ip,
					  char *detail, size_t len);

#endif
