/* selected_source.h - what chronyd knows of the source it follows (NTPDATA):
 * its root delay and dispersion (what this node shares with every other
 * follower of it) and this node's own hop, for the relative spread bound
 * (common/report/spread_bound.h, docs/spread-bound.md). */
#ifndef FLEETCLOCK_SELECTED_SOURCE_H
#define FLEETCLOCK_SELECTED_SOURCE_H

#include <jansson.h>

#include "chrony/chrony_client.h"
#include "chrony/ntp_auth.h"
#include "report/spread_bound.h"

/* Fill sel from the NTP data of snap's selected source, and auth (when not
 * NULL: the "ntp auth" verdict's input) from the same single NTPDATA
 * request. sel->have is false when there is no selected NTP source (LOCAL, a
 * refclock, none). Returns 0 (also when there is none), or the -errno of the
 * NTPDATA request (chronyd stopped, or UDP where NTPDATA is refused). */
int selected_source_read(struct chrony_client *c, const struct chrony_snapshot *snap,
			 struct spread_sel *sel, struct ntp_auth_result *auth);

/* Put sel into the status document doc: "chrony.selected" and the top-level
 * "relative_error_s" (docs/status-schema.md); nothing when doc has no
 * "chrony" object. Returns 0 or -ENOMEM. */
int selected_source_to_status(json_t *doc, const struct chrony_snapshot *snap,
			      const struct spread_sel *sel);

#endif
