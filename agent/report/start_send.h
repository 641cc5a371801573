/* start_send.h - getting a start record of `--at` to the collector
 * (docs/start.md, "Proof of every start").
 *
 * `--at` is a process of its own, and in the plain form it becomes CMD
 * (exec) at TIME: it cannot POST after the start, and must not POST
 * before it. So before the wait it forks a recorder (detached: CMD, which
 * inherits the agent's PID, gets no child of it). The agent hands the
 * record over a socketpair (one small message: no delay at TIME); the
 * recorder waits until the agent's end closes (exec, exit, or the end of an
 * armed start), then, at SCHED_IDLE so that it never competes with CMD,
 * POSTs the last record it got, bounded by [collector] connect_timeout_ms
 * and timeout_ms. When no answer comes (or 5xx, 401/403) it writes the
 * record into the starts spool, SPOOL_DIR/starts/, one file per record
 * (several writers: each --at and the daemon), which `--daemon` sends
 * after its status reports whenever the collector answers. */
#ifndef FLEETCLOCK_START_SEND_H
#define FLEETCLOCK_START_SEND_H

#include <stddef.h>

#include "agent_config.h"
#include "report/push.h"
#include "report/start_record.h"

#define START_SPOOL_SUBDIR "starts"
#define START_SPOOL_MAX_FILES 1000	/* a put beyond this drops the record (logged) */

/* The collector's start URL from its status URL: ".../api/v1/status" ->
 * ".../api/v1/starts". -EINVAL when url does not end in "/status". */
int start_send_url(const char *status_url, char *buf, size_t len);

/* The starts spool directory of cfg. */
void start_spool_dir(const struct agent_config *cfg, char *buf, size_t len);

/* Write doc into dir (created 0700 when missing) as a new file, atomically
 * (temporary name, fsync, rename). 0 or -errno with err naming the file. */
int start_spool_put(const char *dir, const char *doc, size_t len, char *err, size_t errlen);

/* Send what dir holds, oldest first, through p (a handle on the starts
 * URL): a file leaves when the collector took it (2xx) or will never take
 * it (other 4xx, logged); the first failure stops the round. At most max
 * files. Returns how many left the spool. */
unsigned start_spool_drain(const char *dir, struct push *p, unsigned max);

/* POST the record (bounded), spool it when that fails. 0 sent or spooled,
 * -errno when neither worked (logged). */
int start_send(const struct agent_config *cfg, const struct start_record *rec);

struct start_recorder {
	int fd;		/* the agent's end; -1: none */
};

/* Fork the detached recorder for cfg (nothing when no [collector] url: fd
 * stays -1). 0 or -errno (logged; the start goes on without a record). */
int start_recorder_begin(struct start_recorder *rc, const struct agent_config *cfg);

/* Hand a record over (the recorder sends the last one it got). */
void start_recorder_hand(struct start_recorder *rc, const struct start_record *rec);

/* Close the agent's end: the recorder sends now. */
void start_recorder_end(struct start_recorder *rc);

#endif
