/* store_priv.h - private to store.c and store_latest.c:
 * what both use. */
#ifndef FLEETCLOCK_STORE_PRIV_H
#define FLEETCLOCK_STORE_PRIV_H

#include "store.h"
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/log.h"
#include "time/timeutil.h"

struct pending {
	struct pending *next;
	struct status_info info;
	char *doc;
	size_t len;
	int64_t received_us;
	store_done_fn done;
	void *arg;
};

/* Every host's latest report, in memory: the fleet view and the metrics read
 * this, not SQLite (10,000 rows took ~8 ms to step and copy per render). It
 * is loaded from the latest table at open and changed by the writer only
 * after a commit, by the same rule as the table's upsert, so it always
 * equals the table (tests/unit/test_collector.c reopens the database to
 * check that). rows are in arrival order; order indexes them by host. */
struct latest_set {
	struct store_latest *rows;
	uint32_t *order;
	size_t n, cap;
};

struct store {
	struct store_opts opts;
	char path[256];
	sqlite3 *wdb, *rdb, *cdb;	/* writer, readers, checkpointer */
	sqlite3_stmt *ins_report, *upsert_latest, *expire;
	sqlite3_stmt *sel_latest, *sel_history;
	pthread_mutex_t qlock;
	pthread_cond_t qcond;
	struct pending *head, **tail;
	size_t queued;
	bool stopping, started;
	pthread_mutex_t rlock;
	pthread_mutex_t llock;		/* latest */
	struct latest_set latest;
	bool latest_stale;		/* out of memory once: reload from the table */
	pthread_t writer;
	pthread_t checkpointer;
	bool ckpt_started, ckpt_stop;
	int wal_pages;			/* in the log at the last commit; under qlock */
	pthread_cond_t ccond;
	struct store_stats stats;	/* under qlock */
	struct log_ratelimit ckpt_rl;
	struct log_ratelimit begin_rl;
};

/* The committed reports of a batch into the in-memory latest set. */
void store_priv_latest_apply(struct store *s, const struct pending *batch, const int *rcs);

void store_priv_latest_free(struct latest_set *l);

/* The latest table (ordered by host: SQLite's BINARY collation is strcmp's
 * order) into a fresh set. Returns 0, -ENOMEM or -EIO. */
int store_priv_latest_load(struct store *s, struct latest_set *out);

#endif
