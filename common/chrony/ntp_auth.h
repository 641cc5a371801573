/* ntp_auth.h - is the time this node follows authenticated? A pure
 * decision from what chronyd says (NTP_DATA's authenticated flag for the
 * selected source) and what the agent's configuration asks ([chrony]
 * ntp_auth): the --check line, the status document's value and whether the
 * election may follow a candidate. No I/O: ntp_auth_query.c asks chronyd. */
#ifndef FLEETCLOCK_NTP_AUTH_H
#define FLEETCLOCK_NTP_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "chrony/chrony_report.h"

enum ntp_auth_mode {
	NTP_AUTH_MODE_OFF,		/* not asked, not reported */
	NTP_AUTH_MODE_REPORT,		/* asked and reported, never a failure (default) */
	NTP_AUTH_MODE_REQUIRED,		/* the fleet uses keys: unauthenticated time fails */
};

enum ntp_auth_state {
	NTP_AUTH_NOT_CHECKED,		/* mode off, or chronyd could not be read */
	NTP_AUTH_NO_SOURCE,		/* no NTP source selected (local reference, refclock, none) */
	NTP_AUTH_NO_DATA,		/* selected, but chronyd has no valid reply from it (restarted) */
	NTP_AUTH_YES,			/* chronyd verified the MAC (symmetric key) or NTS */
	NTP_AUTH_NO,			/* chronyd took unauthenticated replies from it */
	NTP_AUTH_ERROR,			/* NTP_DATA failed (detail says why) */
};

struct ntp_auth_result {
	enum ntp_auth_state state;
	char source[256];		/* the selected source's name ("" if none) */
	char detail[300];		/* NTP_DATA's error (NTP_AUTH_ERROR) */
};

/* "off", "report" or "required" into *out; -EINVAL for anything else. */
int ntp_auth_mode_parse(const char *s, enum ntp_auth_mode *out);

const char *ntp_auth_mode_str(enum ntp_auth_mode m);

/* The selected NTP source (client or peer mode) of a snapshot; NULL when
 * chronyd selected none or a reference clock. */
const struct chrony_source *ntp_auth_selected(const struct chrony_snapshot *s);

/* The state NTP_DATA describes: NO_DATA before any valid reply, else YES or
 * NO from the authenticated flag. */
enum ntp_auth_state ntp_auth_from_data(const struct chrony_ntp_data *d);

/* The status document's value: 1 authenticated, 0 not, -1 unknown (null:
 * nothing selected, not checked, no data, error). */
int ntp_auth_json_value(const struct ntp_auth_result *r);

/* False when the mode requires authentication and chronyd took
 * unauthenticated replies from that source (or could not tell: error);
 * true otherwise (also with no data yet: chronyd itself drops replies that
 * fail a configured key, so a source without data has moved nothing). */
bool ntp_auth_may_follow(enum ntp_auth_mode mode, enum ntp_auth_state state);

/* Verdict of the --check line "ntp auth": 0 OK, 1 failed (required and not
 * authenticated, or not verifiable), 2 skipped (nothing to judge). value
 * (len bytes) says what was seen. upstream: the source is outside the
 * fleet (a master candidate's upstream), which keeps its own options (NTS
 * or none) and is never held to the fleet's keys. */
int ntp_auth_judge(enum ntp_auth_mode mode, const struct ntp_auth_result *r, bool upstream,
		   char *value, size_t len);

#endif
