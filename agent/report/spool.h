/* spool.h - a bounded on-disk queue of status documents.
 *
 * One file per document in a private directory (mode 0700), named by a
 * sequence number so that replay follows the order of arrival, written to a
 * temporary name, fsynced and renamed so that a crash never leaves half a
 * document. Bounded by a count and a byte total: adding past a limit drops
 * the oldest documents first and logs how many (rate-limited). A document
 * leaves the queue only when the caller pops it (after the collector
 * answered).
 *
 * When the directory cannot be written (read-only file system, disk full,
 * I/O error), new documents are kept in memory, bounded (SPOOL_MEM_MAX_BYTES
 * and the count limit), in the same queue: the order of push is the order of
 * peek whatever tier holds a document. The fault is logged once, and its
 * recovery once; documents kept in memory are written to the directory as
 * soon as it takes writes again. A document whose file cannot be removed
 * leaves the queue all the same (it is never handed out twice by one
 * process); the removal is retried later. */
#ifndef FLEETCLOCK_SPOOL_H
#define FLEETCLOCK_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Most bytes of documents kept in memory while the directory fails. */
#define SPOOL_MEM_MAX_BYTES (4u << 20)
/* Most sent documents whose files wait for removal (older ones are
 * forgotten: a later start sends them again, and the collector acknowledges
 * a duplicate without storing it twice). */
#define SPOOL_STUCK_MAX 4096

struct spool;

/* Open (create) dir and index what it holds. Returns 0 or -errno with err
 * naming the directory and the cause. A directory that cannot be created or
 * read because its file system is read-only, full or failing is not an
 * error: the spool starts in memory (spool_state says why). */
int spool_open(const char *dir, size_t max_count, size_t max_bytes, struct spool **out,
	       char *err, size_t errlen);

/* Free the index (the files stay). NULL ok. */
void spool_close(struct spool *s);

/* Append a document: to the directory, or to memory when the directory
 * fails (see above). Returns 0 when it is queued, or -EFBIG (larger than
 * max_bytes) / -ENOMEM with err set: the document is then not queued, the
 * queue is intact. */
int spool_push(struct spool *s, const char *doc, size_t len, char *err, size_t errlen);

/* Read the oldest document into a malloc'ed buffer. Returns 0, -ENOENT
 * when empty, or -errno with err set (an unreadable file is dropped). */
int spool_peek(struct spool *s, char **doc, size_t *len, char *err, size_t errlen);

/* Remove the oldest document from the queue. Returns 0, -ENOENT when
 * empty, or -errno when its file could not be removed: the document has
 * left the queue all the same, and the removal is retried by later calls. */
int spool_pop(struct spool *s);

/* Once an interval: retry removing the files of sent documents, and when
 * the directory failed, whether it takes writes again (then the documents
 * kept in memory are written to it). Never fails; spool_state tells. */
void spool_tidy(struct spool *s);

/* Where the queue stands, for the status document. */
struct spool_state {
	bool in_memory;		/* new documents go to memory: the directory fails */
	size_t count, mem_count, mem_bytes;
	size_t stuck;		/* sent documents whose files could not be removed */
	uint64_t dropped;	/* for the limits, since open */
	char error[400];	/* the directory's last failure; "" when none */
};

/* Fill st. */
void spool_state(const struct spool *s, struct spool_state *st);

/* Documents and bytes queued; documents dropped for the limits since open. */
size_t spool_count(const struct spool *s);
size_t spool_bytes(const struct spool *s);
uint64_t spool_dropped(const struct spool *s);

#endif
