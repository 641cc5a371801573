/* daemon_rtc.h - the RTC discipline inside --daemon: every [rtc]
 * interval_min minutes one discipline step (measure at the edge, rewrite at
 * the boundary past the threshold when chronyd is synchronised, update the
 * drift), and the RTC's part of the status document. */
#ifndef FLEETCLOCK_DAEMON_RTC_H
#define FLEETCLOCK_DAEMON_RTC_H

#include "agent.h"
#include "report/status.h"

struct daemon_rtc;

/* Open the configured RTC. *out is NULL when there is none (rtc = none, or
 * auto found nothing): not an error. A named device that cannot be opened
 * is logged and retried at every step. 0 or -ENOMEM. */
int daemon_rtc_open(struct agent_ctx *ctx, struct daemon_rtc **out);

/* One discipline step when it is due (the first at once, and at once when
 * fleet_reference turns true). NULL ok. fleet_reference: this node is the
 * elected master with a valid clock (agent_election_reference): the RTC
 * takes its clock as synchronised. */
void daemon_rtc_tick(struct daemon_rtc *r, double now_mono, bool fleet_reference);

/* The RTC for the status document (present = false without an RTC). */
void daemon_rtc_status(const struct daemon_rtc *r, struct status_rtc *out);

void daemon_rtc_close(struct daemon_rtc *r);

#endif
