/* action_rtc.h - helpers the RTC actions share (action_rtc.c,
 * action_hctosys.c). */
#ifndef FLEETCLOCK_ACTION_RTC_H
#define FLEETCLOCK_ACTION_RTC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "agent.h"
#include "chrony/readiness.h"
#include "rtc/rtc.h"
#include "rtc/rtc_discipline.h"
#include "rtc/rtc_store.h"
#include "rtc/rtc_sync.h"

/* Open the configured RTC and load its store; logs (and with --json prints
 * {"valid": false, "error": ...}) and returns -errno. */
int agent_rtc_open(struct agent_ctx *ctx, struct rtc_dev **d, struct rtc_store *store);

/* The same without a word on stdout/stderr: open [rtc] device and load its
 * record and samples (an unreadable NVRAM leaves store->rec_rc/rec_err set,
 * not an error). 0, or rtc_open's -errno with err naming device and cause. */
int agent_rtc_open_store(const struct agent_ctx *ctx, struct rtc_dev **d, struct rtc_store *store,
			 char *err, size_t errlen);

/* The [rtc] configuration as discipline parameters. */
void agent_rtc_params(const struct agent_ctx *ctx, struct rtc_disc_params *p);

/* Ask chronyd whether the system clock is synchronised. Returns 0 (sync
 * set; why says why not) or -errno when chronyd cannot be asked (why says
 * why). */
int agent_rtc_synchronised(struct agent_ctx *ctx, bool *sync, char *why, size_t len);

/* One RTC discipline step as the daemon loop runs it every
 * [rtc] interval_min minutes, with d and store opened once by
 * agent_rtc_open: asks chronyd whether the clock is synchronised (--force,
 * or fleet_reference: this node is the elected master with a valid clock,
 * whose time the fleet follows: assume so), then rtc_discipline_step.
 * Returns its result; rep says what happened. Never touches the system
 * clock. */
int agent_rtc_tick(struct agent_ctx *ctx, struct rtc_dev *d, struct rtc_store *store,
		   bool fleet_reference, struct rtc_disc_report *rep);

/* The RTC's part of --check: open the configured RTC and read it at its
 * edge. NONE for rtc = none; VALID with offset (RTC minus system, s);
 * INVALID when halted / garbage / stopped; ERROR when it cannot be opened
 * or read. detail names the device and the cause. Takes up to ~1.5 s. */
void agent_rtc_readiness(struct agent_ctx *ctx, enum readiness_rtc *state, double *offset,
			 char *detail, size_t len);

/* RFC 3339 of seconds since 1970 with digits fraction digits ("?" if not). */
char *agent_rtc_time_str(double t, int digits, char *buf, size_t len);

/* The record as JSON (state valid / absent / corrupt). */
json_t *agent_rtc_record_json(const struct rtc_store *s);

/* Print doc to stdout and release it; -ENOMEM if doc is NULL. */
int agent_rtc_print_json(json_t *doc);

#endif
