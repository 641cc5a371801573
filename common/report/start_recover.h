/* start_recover.h - what is recovered of a start that did not end the
 * usual way (issue 16's loose ends, docs/start.md): the agent of `--at`
 * ended (SIGKILL, SIGTERM, a crash) before it handed its outcome to the
 * recorder, or a write into the starts spool died half-way and left its
 * temporary file. Pure: the callers pass the times and what they know of
 * the writer. */
#ifndef FLEETCLOCK_START_RECOVER_H
#define FLEETCLOCK_START_RECOVER_H

#include <stdbool.h>
#include <stdint.h>

#include "report/start_record.h"

#define START_SPOOL_TMP_PREFIX ".tmp-"	/* then the writer's PID */
#define START_SPOOL_TMP_STALE_S 60	/* a write takes ms: older and its writer gone: a crash */
#define START_SPOOL_TMP_ABANDON_S 86400	/* older than this: removed even if the PID is in use */

/* What the cleaner knows of the PID in a temporary file's name. */
enum start_writer {
	START_WRITER_ALIVE,	/* a process with that PID exists (perhaps another one) */
	START_WRITER_GONE,	/* no such process */
	START_WRITER_UNKNOWN,	/* the name holds no PID */
};

/* The reason of a provisional record (its mark: a final "aborted" record
 * of the agent, e.g. CMD not released, has a reason of its own). */
#define START_RECOVER_PROVISIONAL "the agent ended before it reported the outcome"

/* The provisional record the agent hands before its wait: rec as far as
 * it is known (host, experiment, target, armed, chronyd's bound), outcome
 * START_ABORTED. The recorder sends it when no later record replaces it. */
void start_recover_provisional(struct start_record *rec);

/* The agent's end closed at ended_ns with rec last: when rec is the
 * provisional record, say when, relative to TIME, in the reason, and date
 * it then; any other record is final and stays as it is. */
void start_recover_aborted(struct start_record *rec, int64_t ended_ns);

/* The writer PID in a spool file name ".tmp-PID"; -1 when name is not a
 * temporary file of the spool or holds no valid PID. */
long start_recover_tmp_pid(const char *name);

/* Whether a temporary file age_s old, of a writer in that state, is the
 * remains of a crashed write: older than START_SPOOL_TMP_STALE_S and its
 * writer gone (or no PID), or older than START_SPOOL_TMP_ABANDON_S. A
 * live writer's file (seconds old at most) is never stale. */
bool start_recover_tmp_stale(int64_t age_s, enum start_writer writer);

#endif
