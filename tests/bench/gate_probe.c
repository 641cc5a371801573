/* gate_probe - the C gate alone: fleetclock_wait_start() (under
 * fleetclock-agent --at T --arm), then print how late it returned against
 * T ("error_s=..."), read on CLOCK_REALTIME first thing after the gate. */
#include <stdio.h>

#include "fleetclock_gate.h"

int main(void)
{
	struct fleetclock_start st;
	struct timespec now;
	int rc = fleetclock_wait_start(&st);

	clock_gettime(CLOCK_REALTIME, &now);
	if (rc < 0) {
		fprintf(stderr, "gate_probe: %s\n", fleetclock_gate_strerror(rc));
		return 2;
	}
	printf("error_s=%.9f steps=%u\n", (double)(now.tv_sec - st.at.tv_sec) +
	       (now.tv_nsec - st.at.tv_nsec) * 1e-9, st.steps);
	return 0;
}
