/* action_makestep.c - --makestep: ask chronyd to step the clock by its
 * current correction at once (instead of slewing). Unix socket only. */
#include <math.h>
#include <stdio.h>

#include "agent.h"
#include "base/log.h"
#include "time/timeutil.h"

int agent_action_makestep(struct agent_ctx *ctx)
{
	struct chrony_client *c = NULL;
	struct chrony_tracking before, after;
	char d1[32], d2[32];
	int rc = agent_chrony_open(ctx, &c);

	if (rc < 0)
		goto out;
	/* The correction about to be applied, for the message; optional. */
	if (chrony_client_tracking(c, &before) < 0)
		before.current_correction = NAN;
	rc = chrony_client_makestep(c);
	if (rc < 0) {
		log_err("%s", chrony_client_error(c));
		goto out;
	}
	if (chrony_client_tracking(c, &after) == 0 && !isnan(before.current_correction))
		printf("chronyd stepped the clock by %s (remaining correction %s)\n",
		       timeutil_format_duration(before.current_correction, 1, d1, sizeof(d1)),
		       timeutil_format_duration(after.current_correction, 1, d2, sizeof(d2)));
	else
		printf("chronyd stepped the clock\n");
out:
	chrony_client_close(c);
	return agent_chrony_exit_code(rc);
}
