/* ntp_auth_query.c - NTP_DATA for the selected source, see ntp_auth_query.h. */
#include "chrony/ntp_auth_query.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

enum ntp_auth_state ntp_auth_query_source(struct chrony_client *c, const struct chrony_ipaddr *ip,
					  char *detail, size_t len)
{
	struct chrony_ntp_data d;
	int rc = chrony_client_ntp_data(c, ip, &d);

	if (rc == -EREMOTEIO && chrony_client_last_status(c) == CHRONY_STT_NOSUCHSOURCE)
		return NTP_AUTH_NO_DATA;
	if (rc < 0) {
		snprintf(detail, len, "NTP_DATA: %s", chrony_client_error(c));
		return NTP_AUTH_ERROR;
	}
	return ntp_auth_from_data(&d);
}

void ntp_auth_query(struct chrony_client *c, const struct chrony_snapshot *snap,
		    struct ntp_auth_result *out)
{
	const struct chrony_source *sel = snap ? ntp_auth_selected(snap) : NULL;

	memset(out, 0, sizeof(*out));
	if (!snap) {
		out->state = NTP_AUTH_NOT_CHECKED;
		return;
	}
	if (!sel) {
		out->state = NTP_AUTH_NO_SOURCE;
		return;
	}
	snprintf(out->source, sizeof(out->source), "%s", sel->name);
	out->state = ntp_auth_query_source(c, &sel->data.ip, out->detail, sizeof(out->detail));
}
