/* ntp_auth_query.c - NTP_DATA for the selected source, see ntp_auth_query.h. */
#include "chrony/ntp_auth_query.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* The state from one NTP_DATA answer: rc is chrony_client_ntp_data's. */
static enum ntp_auth_state classify(struct chrony_client *c, int rc, const struct chrony_ntp_data *d,
				    char *detail, size_t len)
{
	if (rc == -EREMOTEIO && chrony_client_last_status(c) == CHRONY_STT_NOSUCHSOURCE)
		return NTP_AUTH_NO_DATA;
	if (rc < 0) {
		snprintf(detail, len, "NTP_DATA: %s", chrony_client_error(c));
		return NTP_AUTH_ERROR;
	}
	return ntp_auth_from_data(d);
}

enum ntp_auth_state ntp_auth_query_source(struct chrony_client *c, const struct chrony_ipaddr *ip,
					  char *detail, size_t len)
{
	struct chrony_ntp_data d;
	int rc = chrony_client_ntp_data(c, ip, &d);

	return classify(c, rc, &d, detail, len);
}

void ntp_auth_from_reply(struct chrony_client *c, const struct chrony_source *sel, int rc,
			 const struct chrony_ntp_data *d, struct ntp_auth_result *out)
{
	memset(out, 0, sizeof(*out));
	if (!sel) {
		out->state = NTP_AUTH_NO_SOURCE;
		return;
	}
	snprintf(out->source, sizeof(out->source), "%s", sel->name);
	out->state = classify(c, rc, d, out->detail, sizeof(out->detail));
}
