/* starts.h - the collector's start records (docs/start-record.md): stored
 * in the collector's SQLite database, table "starts", through a connection
 * of their own (records are rare: one per node and experiment; WAL lets it
 * write beside the status writer, busy_timeout bounds the wait).
 *
 * Opening adds the table to a database made by an older collector (the
 * migration: CREATE TABLE IF NOT EXISTS, reports untouched). A node has
 * one record per experiment: a record made later (sent_ns) replaces it (the
 * experiment run again under the same id); the same record again (spooled
 * and re-sent) or an older one is acknowledged, not stored. */
#ifndef FLEETCLOCK_STARTS_H
#define FLEETCLOCK_STARTS_H

#include <stddef.h>
#include <stdint.h>

#include "report/start_record.h"
#include "starts_view.h"

#define STARTS_LIST_DEFAULT 20	/* experiments in GET /api/v1/starts */
#define STARTS_LIST_MAX 200

struct starts;

/* Open the database at path and create the table when missing. Returns 0
 * or -EIO with err naming the file and the SQLite message. */
int starts_open(const char *path, struct starts **out, char *err, size_t errlen);

/* NULL ok. */
void starts_close(struct starts *s);

/* Store a validated record (doc: its text as received). Returns 0 stored,
 * 1 not stored (the same or a later record is there), -EIO with err set. */
int starts_put(struct starts *s, const struct start_record *r, const char *doc, size_t len,
	       int64_t received_us, char *err, size_t errlen);

/* The records of one experiment, sorted by host; *rows malloc'ed. 0 or
 * -EIO / -ENOMEM. */
int starts_get(struct starts *s, const char *experiment, struct starts_row **rows, size_t *n);

/* Rendered answers (malloc'ed text in *out): the list of the latest max
 * experiments, one experiment, the metrics. 0, -EIO or -ENOMEM. */
int starts_render_list(struct starts *s, size_t max, const struct starts_known_host *known,
		       size_t nk, char **out);
int starts_render_experiment(struct starts *s, const char *experiment,
			     const struct starts_known_host *known, size_t nk, char **out);
int starts_render_metrics(struct starts *s, const struct starts_known_host *known, size_t nk,
			  char **out);

#endif
