/* start_spool_clean.h - removing the remains of crashed writes from the
 * starts spool (SPOOL_DIR/starts/): a writer (the recorder of `--at`)
 * writes ".tmp-PID", fsyncs and renames it to a record; killed half-way it
 * leaves the temporary file, which nothing else ever reads. `--daemon`,
 * which reads the spool, removes the stale ones it meets while it lists the
 * records of each drain (start_recover.h says what is stale). */
#ifndef FLEETCLOCK_START_SPOOL_CLEAN_H
#define FLEETCLOCK_START_SPOOL_CLEAN_H

#include <time.h>

/* Remove dir/name when it is a stale temporary file of the spool (logged
 * with its age and writer), as seen at now: 1 when removed, 0 otherwise
 * (another name, a fresh file, a live writer's). */
unsigned start_spool_clean_entry(const char *dir, const char *name, time_t now);

#endif
