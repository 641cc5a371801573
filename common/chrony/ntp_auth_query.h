/* ntp_auth_query.h - whether a source's time is authenticated (NTP_DATA,
 * chronyc's "Authenticated"). The I/O half of
 * ntp_auth.h. NTP_DATA needs chronyd's Unix socket: over the UDP command
 * port chronyd refuses it, which gives NTP_AUTH_ERROR. */
#ifndef FLEETCLOCK_NTP_AUTH_QUERY_H
#define FLEETCLOCK_NTP_AUTH_QUERY_H

#include "chrony/chrony_client.h"
#include "chrony/ntp_auth.h"

/* Fill out from the NTP_DATA answer (rc: chrony_client_ntp_data's, d its data)
 * about sel, the selected NTP source (ntp_auth_selected; NULL: NO_SOURCE).
 * The caller asks chronyd once for everything it needs of that source
 * (agent/selected_source.c). Errors become NTP_AUTH_ERROR with the client's
 * message (socket and cause) in out->detail. */
void ntp_auth_from_reply(struct chrony_client *c, const struct chrony_source *sel, int rc,
			 const struct chrony_ntp_data *d, struct ntp_auth_result *out);

/* The state of one source by address (the election's master): NO_DATA when
 * chronyd does not know it, ERROR (detail, len bytes) when NTP_DATA failed. */
enum ntp_auth_state ntp_auth_query_source(struct chrony_client *c, const struct chrony_ipaddr *ip,
					  char *detail, size_t len);

#endif
