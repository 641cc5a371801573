/* arm_msg.h - what CMD tells the agent under --at T --arm, on the pipe of
 * FLEETCLOCK_READY_FD: "ready NS\n" when it is set up and waits on the
 * gate, "go NS STEPS\n" when the gate released it (NS: its CLOCK_REALTIME
 * in ns; STEPS: clock steps its wait followed). Pure: bytes in, state out,
 * so it is tested as a table; the gate side is gate/gate.c and
 * gate/fleetclock.py. And the outcome of an armed start, also pure. */
#ifndef FLEETCLOCK_ARM_MSG_H
#define FLEETCLOCK_ARM_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct arm_msg {
	char buf[128];			/* an incomplete line */
	size_t len;
	bool ready, go;
	struct timespec ready_at;	/* CMD's clock when it said ready */
	struct timespec go_at;		/* CMD's clock when it was released */
	unsigned go_steps;
	unsigned bad_lines;		/* lines not understood (ignored) */
};

/* Feed n bytes read from the pipe; complete lines are parsed (the first
 * ready and the first go count), a line longer than buf is dropped as bad. */
void arm_msg_feed(struct arm_msg *m, const char *data, size_t n);

enum arm_outcome {
	ARM_STARTED,	/* ready before TIME, released */
	ARM_LATE,	/* ready only after TIME: started late */
	ARM_NO_READY,	/* CMD closed the pipe or exited without saying ready */
};

/* The outcome from what CMD said (m) and whether it said ready by TIME. */
enum arm_outcome arm_msg_outcome(const struct arm_msg *m, bool ready_by_target);

/* "started", "late", "no-ready": the report's result. */
const char *arm_outcome_str(enum arm_outcome o);

#endif
