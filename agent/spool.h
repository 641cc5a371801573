/* spool.h - a bounded on-disk queue of status documents.
 *
 * One file per document in a private directory (mode 0700), named by a
 * sequence number so that replay follows the order of arrival, written to a
 * temporary name, fsynced and renamed so that a crash never leaves half a
 * document. Bounded by a count and a byte total: adding past a limit drops
 * the oldest documents first and logs how many. A document leaves the
 * queue only when the caller pops it (after the collector answered 2xx). */
#ifndef FLEETCLOCK_SPOOL_H
#define FLEETCLOCK_SPOOL_H

#include <stddef.h>
#include <stdint.h>

struct spool;

/* Open (create) dir and index what it holds. Returns 0 or -errno with err
 * naming the directory and the cause. */
int spool_open(const char *dir, size_t max_count, size_t max_bytes, struct spool **out,
	       char *err, size_t errlen);

/* Free the index (the files stay). NULL ok. */
void spool_close(struct spool *s);

/* Append a document. Returns 0, or -errno (-ENOSPC: disk full) with err
 * naming the file: the document is then not queued, the queue is intact. */
int spool_push(struct spool *s, const char *doc, size_t len, char *err, size_t errlen);

/* Read the oldest document into a malloc'ed buffer. Returns 0, -ENOENT
 * when empty, or -errno with err set (an unreadable file is dropped). */
int spool_peek(struct spool *s, char **doc, size_t *len, char *err, size_t errlen);

/* Remove the oldest document. Returns 0 or -errno. */
int spool_pop(struct spool *s);

/* Documents and bytes queued; documents dropped for the limits since open. */
size_t spool_count(const struct spool *s);
size_t spool_bytes(const struct spool *s);
uint64_t spool_dropped(const struct spool *s);

#endif
