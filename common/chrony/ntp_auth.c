/* ntp_auth.c - the authenticated-time decision, see ntp_auth.h. */
#include "chrony/ntp_auth.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *const mode_names[] = { "off", "report", "required" };

int ntp_auth_mode_parse(const char *s, enum ntp_auth_mode *out)
{
	for (size_t i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++)
		if (s && !strcmp(s, mode_names[i])) {
			*out = (enum ntp_auth_mode)i;
			return 0;
		}
	return -EINVAL;
}

const char *ntp_auth_mode_str(enum ntp_auth_mode m)
{
	return (unsigned)m < sizeof(mode_names) / sizeof(mode_names[0]) ? mode_names[m] : "?";
}

const struct chrony_source *ntp_auth_selected(const struct chrony_snapshot *s)
{
	for (uint32_t i = 0; s && i < s->n_sources && i < CHRONY_MAX_SOURCES; i++) {
		const struct chrony_source_data *d = &s->sources[i].data;

		if (d->state == CHRONY_SRC_SELECTED)
			return d->mode == CHRONY_MODE_CLIENT || d->mode == CHRONY_MODE_PEER ? &s->sources[i] : NULL;
	}
	return NULL;
}

enum ntp_auth_state ntp_auth_from_data(const struct chrony_ntp_data *d)
{
	if (d->total_valid_count == 0)
		return NTP_AUTH_NO_DATA;
	return d->flags & CHRONY_NTP_FLAG_AUTHENTICATED ? NTP_AUTH_YES : NTP_AUTH_NO;
}

int ntp_auth_json_value(const struct ntp_auth_result *r)
{
	return r->state == NTP_AUTH_YES ? 1 : r->state == NTP_AUTH_NO ? 0 : -1;
}

bool ntp_auth_may_follow(enum ntp_auth_mode mode, enum ntp_auth_state state)
{
	if (mode != NTP_AUTH_MODE_REQUIRED)
		return true;
	return state != NTP_AUTH_NO && state != NTP_AUTH_ERROR;
}

int ntp_auth_judge(enum ntp_auth_mode mode, const struct ntp_auth_result *r, bool upstream,
		   char *value, size_t len)
{
	bool required = mode == NTP_AUTH_MODE_REQUIRED && !upstream;

	switch (r->state) {
	case NTP_AUTH_YES:
		snprintf(value, len, "%s: authenticated (NTP_DATA)", r->source);
		return 0;
	case NTP_AUTH_NO:
		snprintf(value, len, "%s: NOT authenticated: chronyd takes its replies without a key%s", r->source,
			 upstream ? " (an upstream outside the fleet: its own options decide)" : "");
		return required ? 1 : 0;
	case NTP_AUTH_NO_DATA:
		snprintf(value, len, "%s: no valid reply yet", r->source);
		return required ? 1 : 2;
	case NTP_AUTH_ERROR:
		snprintf(value, len, "%s: cannot tell: %s", r->source, r->detail);
		return required ? 1 : 2;
	case NTP_AUTH_NO_SOURCE:
		snprintf(value, len, "no NTP source selected (local reference, refclock or none)");
		return 2;
	case NTP_AUTH_NOT_CHECKED:
	default:
		snprintf(value, len, "not checked");
		return 2;
	}
}
