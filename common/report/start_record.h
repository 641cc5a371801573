/* start_record.h - the start record (schema "fleetclock.start/1"): what one
 * node's `fleetclock-agent --at` did for one experiment, sent to the
 * collector as proof of the start (docs/start-record.md).
 *
 * Instants are integer nanoseconds since the epoch (CLOCK_REALTIME of the
 * node), so that a record carries its times exactly. Building and
 * validating are pure: no I/O. The struct is plain data (no pointers): the
 * agent hands it to its recorder process through a pipe as it is. */
#ifndef FLEETCLOCK_START_RECORD_H
#define FLEETCLOCK_START_RECORD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define START_RECORD_SCHEMA "fleetclock.start/1"
#define START_RECORD_MAX_BYTES (16 * 1024)	/* a collector refuses larger bodies */
#define START_HOST_MAX 64			/* 1..63 bytes, as in status documents */
#define START_EXPERIMENT_MAX 64			/* 1..63 bytes: letters digits - _ . : + */
#define START_REASON_MAX 512
#define START_MAX_STEPS 1000000u

enum start_outcome {
	START_STARTED,		/* started on time (within late_tolerance_ms / ready by TIME) */
	START_LATE,		/* --arm: CMD was ready only after TIME, started late */
	START_NO_READY,		/* --arm: CMD never said ready */
	START_REFUSED,		/* not started: not ready, TIME past, the wait failed... */
	START_EXEC_FAILED,	/* --at: the exec of CMD failed at TIME */
	START_ABORTED,		/* the agent ended before its outcome (killed...): not proven */
	START_OUTCOME_COUNT
};

struct start_record {
	char host[START_HOST_MAX];
	char experiment[START_EXPERIMENT_MAX];
	char agent_version[32];
	enum start_outcome outcome;
	char reason[START_REASON_MAX];	/* "" when none */
	bool armed;
	int64_t target_ns;
	bool have_ready;		/* --arm: when CMD said ready */
	int64_t ready_ns;
	bool have_start;		/* the release (--arm) or the exec (--at) */
	int64_t start_ns;
	bool have_bound;		/* chronyd answered: its error bound then */
	bool synchronised;
	double max_error_s;
	unsigned clock_steps;		/* steps of the clock seen while waiting */
	double clock_step_total_s;
	int64_t sent_ns;		/* when the record was made */
};

/* "started", "late", "no-ready", "refused", "exec-failed", "aborted"; NULL
 * when out of range. */
const char *start_outcome_str(enum start_outcome o);

/* The outcome named s: 0, or -EINVAL. */
int start_outcome_parse(const char *s, enum start_outcome *o);

/* Whether s (NUL-terminated) is a valid experiment id: 1..63 bytes of
 * letters, digits and - _ . : +, not starting with - or . */
bool start_experiment_ok(const char *s);

/* The default experiment id of a start at target_ns: its instant in RFC
 * 3339 UTC with milliseconds ("2026-12-03T10:15:00.000Z"), the same on
 * every node given the same absolute TIME. buf needs 32 bytes. */
void start_experiment_default(int64_t target_ns, char *buf, size_t len);

/* The record as a JSON object (NULL when out of memory). */
json_t *start_record_to_json(const struct start_record *r);

/* The record as compact JSON text, malloc'ed (NULL when out of memory). */
char *start_record_dumps(const struct start_record *r);

enum start_parse_result {
	START_OK = 0,
	START_EJSON = -1,	/* not JSON: HTTP 400 */
	START_ESCHEMA = -2,	/* JSON, but not a valid start record: HTTP 422 */
};

/* Parse and validate len bytes (need not be NUL-terminated) into out.
 * Unknown fields are ignored (newer agents); err says which field is wrong
 * and why. */
enum start_parse_result start_record_parse(const char *buf, size_t len, struct start_record *out,
					   char *err, size_t errlen);

#endif
