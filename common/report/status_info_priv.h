/* status_info_priv.h - private to status.c and status_info.c:
 * what both use. */
#ifndef FLEETCLOCK_STATUS_INFO_PRIV_H
#define FLEETCLOCK_STATUS_INFO_PRIV_H

#include "report/status.h"
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "report/json_fast.h"
#include "report/status_fields.h"
#include "time/when.h"
#include "time/timeutil.h"

void status_fill_info(json_t *doc, struct status_info *info);

#endif
