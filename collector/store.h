/* store.h - the collector's SQLite store (WAL mode, prepared statements).
 *
 * Writes go through one writer thread that batches every report queued
 * while the previous transaction committed into the next transaction
 * (group commit); a report's callback runs only after its transaction
 * committed, so "acknowledged" means "in the database". A report with the
 * same host and sent_at as a stored one is a duplicate: not stored again,
 * still acknowledged, and does not change the host's latest report. A
 * host's latest report is the one stored last (arrival order), whatever
 * its sent_at. Reads use their own connection. Reports older than the retention are
 * deleted by the writer at open and then hourly. A third connection, in
 * its own thread, checkpoints the write-ahead log once it holds 1,000
 * pages, so that commits never wait for a checkpoint's copy and sync.
 * Every host's latest report is also kept in memory (loaded at open,
 * updated after each commit): store_latest_all reads that copy. */
#ifndef FLEETCLOCK_STORE_H
#define FLEETCLOCK_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "report/status.h"

struct store;

struct store_opts {
	const char *path;
	int retention_days;
	bool synchronous_full;
	int batch_max;
};

/* Called from the writer thread once the report is committed (rc 0), was a
 * duplicate (rc 1) or could not be stored (rc < 0). */
typedef void (*store_done_fn)(void *arg, int rc);

/* Counters since open. */
struct store_stats {
	uint64_t stored, duplicates, failed, batches;
	uint64_t checkpoints;	/* WAL checkpoints done by the checkpoint thread */
};

/* Open (create) the database, start the writer thread. Returns 0 or a
 * negative errno with err naming the file and the SQLite message. */
int store_open(const struct store_opts *opts, struct store **out, char *err, size_t errlen);

/* Commit and answer what is queued and stop the writer; later submissions
 * fail with -ESHUTDOWN, reads still work. Idempotent. */
void store_shutdown(struct store *s);

/* store_shutdown, then close the database and free. NULL ok. */
void store_close(struct store *s);

/* Queue a validated report; takes a copy of doc. done runs later in the
 * writer thread. Returns 0, -ENOMEM, or -ESHUTDOWN when closing. */
int store_submit(struct store *s, const struct status_info *info, const char *doc, size_t len,
		 int64_t received_us, store_done_fn done, void *arg);

/* The latest report of one host. */
struct store_latest {
	struct status_info info;
	int64_t received_us;
};

/* Every host's latest report, ordered by host, from the in-memory copy.
 * *rows is malloc'ed (free it). Returns 0, -ENOMEM, or -EIO when the copy
 * had to be read from the database again (after an allocation failure)
 * and that failed. */
int store_latest_all(struct store *s, struct store_latest **rows, size_t *n);

/* One point of a host's history. */
struct store_point {
	int64_t sent_at_us, received_us;
	bool have_tracking, synchronised;
	double offset_s, max_error_s, rtc_offset_s;
	bool rtc_have_offset;
	double relative_error_s;	/* the report's relative_error_s; NAN: none */
	char master[64];		/* chrony.selected.address; "": none */
	char election_master[64];	/* election.master (candidates); "": none */
};

/* Reports of host with since_us <= sent_at <= until_us, oldest first, at
 * most max. *points is malloc'ed. Returns 0 or -EIO. */
int store_history(struct store *s, const char *host, int64_t since_us, int64_t until_us,
		  size_t max, struct store_point **points, size_t *n);

/* A consistent copy of the counters. */
void store_get_stats(struct store *s, struct store_stats *out);

#endif
