/* start_spool_clean.h - removing the remains of crashed writes from the
 * starts spool (SPOOL_DIR/starts/): a writer (the recorder of `--at`)
 * writes ".tmp-PID", fsyncs and renames it to a record; killed half-way it
 * leaves the temporary file, which nothing else ever reads. `--daemon`,
 * which reads the spool, cleans before each drain (start_recover.h says
 * what is stale). */
#ifndef FLEETCLOCK_START_SPOOL_CLEAN_H
#define FLEETCLOCK_START_SPOOL_CLEAN_H

/* Remove the stale temporary files of dir (each logged with its age and
 * writer). Returns how many were removed; a missing dir is none. */
unsigned start_spool_clean(const char *dir);

#endif
