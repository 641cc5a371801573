/* store.c - SQLite store with a group-committing writer thread (store.h). */
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
#include "store_priv.h"

#define STORE_LINGER_BELOW 16		/* queued reports under which the writer lingers */

#define STORE_LINGER_NS 200000		/* for this long (0.2 ms) */

/* WAL checkpoints run in their own thread, not in the writer's commits: at
 * 1,000 pages (SQLite's own wal_autocheckpoint) a checkpoint came every
 * ~30 ms under load and stalled every acknowledgement behind its copy and
 * fdatasync (ingest p99 12-16 ms; without them 3-4 ms). PASSIVE ones never
 * wait for the writer; past the cap a RESTART one does, so that the log
 * starts over even under a load that never pauses. */
#define STORE_CHECKPOINT_PAGES 1000

#define STORE_WAL_CAP_PAGES 20000	/* ~80 MB of log */

#define STORE_WAL_SIZE_LIMIT "67108864"	/* journal_size_limit: the log file is cut back to 64 MB */

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS reports ("
	" host TEXT NOT NULL, sent_at_us INTEGER NOT NULL, received_us INTEGER NOT NULL,"
	" have_tracking INTEGER NOT NULL, synchronised INTEGER NOT NULL, offset_s REAL,"
	" max_error_s REAL, rtc_offset_s REAL, doc TEXT NOT NULL,"
	" UNIQUE (host, sent_at_us));"
	/* received_us grows with rowid: appends to one index page per commit */
	"CREATE INDEX IF NOT EXISTS reports_received ON reports (received_us);"
	"CREATE TABLE IF NOT EXISTS latest ("
	" host TEXT PRIMARY KEY, sent_at_us INTEGER NOT NULL, received_us INTEGER NOT NULL,"
	" role TEXT, agent_version TEXT, have_tracking INTEGER, synchronised INTEGER,"
	" stratum INTEGER, leap TEXT, offset_s REAL, root_delay_s REAL, root_dispersion_s REAL,"
	" rtc_present INTEGER, rtc_valid INTEGER, rtc_offset_s REAL, check_ready INTEGER)"
	/* clustered by host: the fleet view reads it in that order */
	" WITHOUT ROWID;";

static const char ins_report_sql[] =
	"INSERT OR IGNORE INTO reports (host, sent_at_us, received_us, have_tracking,"
	" synchronised, offset_s, max_error_s, rtc_offset_s, doc)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

static const char upsert_latest_sql[] =
	"INSERT INTO latest VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"
	" ?15, ?16) ON CONFLICT (host) DO UPDATE SET sent_at_us = ?2, received_us = ?3,"
	" role = ?4, agent_version = ?5, have_tracking = ?6, synchronised = ?7, stratum = ?8,"
	" leap = ?9, offset_s = ?10, root_delay_s = ?11, root_dispersion_s = ?12,"
	" rtc_present = ?13, rtc_valid = ?14, rtc_offset_s = ?15, check_ready = ?16";

/* With the stored document, for what only /metrics reads (status_metrics):
 * NULL when retention deleted it. */
static const char sel_latest_sql[] =
	"SELECT l.host, l.sent_at_us, l.received_us, role, agent_version, l.have_tracking,"
	" l.synchronised, stratum, leap, l.offset_s, root_delay_s, root_dispersion_s, rtc_present,"
	" rtc_valid, l.rtc_offset_s, check_ready, r.doc FROM latest l LEFT JOIN reports r"
	" ON r.host = l.host AND r.sent_at_us = l.sent_at_us ORDER BY l.host";

static const char sel_history_sql[] =
	"SELECT sent_at_us, received_us, have_tracking, synchronised, offset_s, max_error_s,"
	" rtc_offset_s, json_extract(doc, '$.relative_error_s'),"
	" json_extract(doc, '$.chrony.selected.address'), json_extract(doc, '$.election.master')"
	" FROM reports WHERE host = ?1 AND sent_at_us BETWEEN ?2 AND ?3"
	" ORDER BY sent_at_us LIMIT ?4";

static int db_fail(struct store *s, sqlite3 *db, const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: %s: %s", s->path, what, db ? sqlite3_errmsg(db) : "out of memory");
	return -EIO;
}

static int open_db(struct store *s, sqlite3 **db, bool writer, char *err, size_t errlen)
{
	char pragmas[128];

	if (sqlite3_open_v2(s->path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		return db_fail(s, *db, "open", err, errlen);
	sqlite3_busy_timeout(*db, 5000);
	snprintf(pragmas, sizeof(pragmas), "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s;",
		 s->opts.synchronous_full ? "FULL" : "NORMAL");
	if (sqlite3_exec(*db, pragmas, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(s, *db, "set WAL mode", err, errlen);
	if (writer && sqlite3_exec(*db, schema_sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(s, *db, "create tables", err, errlen);
	if (writer && sqlite3_exec(*db, "PRAGMA journal_size_limit=" STORE_WAL_SIZE_LIMIT ";", NULL,
				   NULL, NULL) != SQLITE_OK)
		return db_fail(s, *db, "set journal_size_limit", err, errlen);
	return 0;
}

/* After each commit of the writer (its own wal_autocheckpoint is off once
 * this hook is set): wake the checkpointer when the log is long enough. */
static int on_wal_commit(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct store *s = arg;

	(void)db;
	(void)name;
	if (pages >= STORE_CHECKPOINT_PAGES) {
		pthread_mutex_lock(&s->qlock);
		s->wal_pages = pages;
		pthread_cond_signal(&s->ccond);
		pthread_mutex_unlock(&s->qlock);
	}
	return SQLITE_OK;
}

static void *checkpointer_main(void *arg)
{
	struct store *s = arg;
	int pages, logged, copied, rc;

	pthread_mutex_lock(&s->qlock);
	for (;;) {
		while (!s->wal_pages && !s->ckpt_stop)
			pthread_cond_wait(&s->ccond, &s->qlock);
		if (s->ckpt_stop)
			break;
		pages = s->wal_pages;
		s->wal_pages = 0;
		pthread_mutex_unlock(&s->qlock);
		rc = sqlite3_wal_checkpoint_v2(s->cdb, NULL, pages >= STORE_WAL_CAP_PAGES ?
					       SQLITE_CHECKPOINT_RESTART : SQLITE_CHECKPOINT_PASSIVE,
					       &logged, &copied);
		if (rc != SQLITE_OK && rc != SQLITE_BUSY)
			log_ratelimited(&s->ckpt_rl, LOG_ERR, "%s: checkpoint: %s", s->path,
					sqlite3_errmsg(s->cdb));
		pthread_mutex_lock(&s->qlock);
		s->stats.checkpoints += rc == SQLITE_OK;
	}
	pthread_mutex_unlock(&s->qlock);
	return NULL;
}

static int prepare(struct store *s, sqlite3 *db, const char *sql, sqlite3_stmt **st, char *err,
		   size_t errlen)
{
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
		return db_fail(s, db, "prepare", err, errlen);
	return 0;
}

static void bind_double_or_null(sqlite3_stmt *st, int i, bool have, double v)
{
	if (have && isfinite(v))
		sqlite3_bind_double(st, i, v);
	else
		sqlite3_bind_null(st, i);
}

/* Insert one report and make it the host's latest row: the latest is the
 * report that arrived last, not the one with the largest sent_at, so that
 * a host whose clock ran ahead and was stepped back is not pinned to its
 * future reports (the agent sends in the order it built them, spooled
 * ones first). A duplicate (same host and sent_at, already stored) leaves
 * the latest row alone. Returns 0 stored, 1 duplicate, -EIO on a
 * database error. */
static int write_one(struct store *s, const struct pending *p)
{
	const struct status_info *i = &p->info;
	sqlite3_stmt *st = s->ins_report;
	int dup;

	sqlite3_bind_text(st, 1, i->host, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, i->sent_at_us);
	sqlite3_bind_int64(st, 3, p->received_us);
	sqlite3_bind_int(st, 4, i->have_tracking);
	sqlite3_bind_int(st, 5, i->synchronised);
	bind_double_or_null(st, 6, i->have_tracking, i->offset_s);
	bind_double_or_null(st, 7, i->have_tracking, i->max_error_s);
	bind_double_or_null(st, 8, i->rtc_have_offset, i->rtc_offset_s);
	sqlite3_bind_text(st, 9, p->doc, (int)p->len, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		sqlite3_reset(st);
		return -EIO;
	}
	sqlite3_reset(st);
	dup = sqlite3_changes(s->wdb) == 0;
	if (dup)
		return 1;
	st = s->upsert_latest;
	sqlite3_bind_text(st, 1, i->host, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, i->sent_at_us);
	sqlite3_bind_int64(st, 3, p->received_us);
	sqlite3_bind_text(st, 4, i->role, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, i->agent_version, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 6, i->have_tracking);
	sqlite3_bind_int(st, 7, i->synchronised);
	sqlite3_bind_int(st, 8, i->stratum);
	sqlite3_bind_text(st, 9, i->leap, -1, SQLITE_STATIC);
	bind_double_or_null(st, 10, i->have_tracking, i->offset_s);
	bind_double_or_null(st, 11, i->have_tracking, i->root_delay_s);
	bind_double_or_null(st, 12, i->have_tracking, i->root_dispersion_s);
	sqlite3_bind_int(st, 13, i->rtc_present);
	sqlite3_bind_int(st, 14, i->rtc_valid);
	bind_double_or_null(st, 15, i->rtc_have_offset, i->rtc_offset_s);
	sqlite3_bind_int(st, 16, i->check_ready);
	if (sqlite3_step(st) != SQLITE_DONE) {
		sqlite3_reset(st);
		return -EIO;
	}
	sqlite3_reset(st);
	return 0;
}

/* One transaction for the whole batch; each report's result in rcs. */
static void write_batch(struct store *s, struct pending *batch, int *rcs)
{
	int n = 0, failed = 0;

	if (sqlite3_exec(s->wdb, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		log_ratelimited(&s->begin_rl, LOG_ERR, "%s: begin: %s", s->path,
				sqlite3_errmsg(s->wdb));
		for (struct pending *p = batch; p; p = p->next)
			rcs[n++] = -EIO;
		return;
	}
	for (struct pending *p = batch; p; p = p->next) {
		rcs[n] = write_one(s, p);
		failed |= rcs[n++] < 0;
	}
	if (failed || sqlite3_exec(s->wdb, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		log_err("%s: %s: %s", s->path, failed ? "insert" : "commit", sqlite3_errmsg(s->wdb));
		sqlite3_exec(s->wdb, "ROLLBACK", NULL, NULL, NULL);
		for (int i = 0; i < n; i++)
			rcs[i] = -EIO;
	}
}

static void expire(struct store *s)
{
	int64_t cutoff = (int64_t)(timeutil_now(CLOCK_REALTIME) * 1e6) -
			 (int64_t)s->opts.retention_days * 86400 * 1000000LL;

	sqlite3_bind_int64(s->expire, 1, cutoff);
	if (sqlite3_step(s->expire) != SQLITE_DONE)
		log_err("%s: delete old reports: %s", s->path, sqlite3_errmsg(s->wdb));
	else if (sqlite3_changes(s->wdb))
		log_info("%s: deleted %d reports older than %d days", s->path,
			 sqlite3_changes(s->wdb), s->opts.retention_days);
	sqlite3_reset(s->expire);
}

/* Take up to batch_max queued reports; NULL when stopping and empty. When
 * few are queued, linger a moment so that the reports of other clients in
 * flight share the transaction (group commit): one commit then costs its
 * page writes once for many reports. */
static struct pending *take_batch(struct store *s, int *count)
{
	struct pending *batch, *p;
	int n = 1;

	pthread_mutex_lock(&s->qlock);
	while (!s->head && !s->stopping)
		pthread_cond_wait(&s->qcond, &s->qlock);
	if (s->head && !s->stopping && s->queued < STORE_LINGER_BELOW) {
		pthread_mutex_unlock(&s->qlock);
		nanosleep(&(struct timespec){ 0, STORE_LINGER_NS }, NULL);
		pthread_mutex_lock(&s->qlock);
	}
	batch = s->head;
	if (batch) {
		for (p = batch; p->next && n < s->opts.batch_max; p = p->next)
			n++;
		s->head = p->next;
		if (!s->head)
			s->tail = &s->head;
		p->next = NULL;
		s->queued -= (size_t)n;
	}
	pthread_mutex_unlock(&s->qlock);
	*count = batch ? n : 0;
	return batch;
}

static void *writer_main(void *arg)
{
	struct store *s = arg;
	double last_expire = timeutil_now(CLOCK_MONOTONIC);
	struct pending *batch, *next;
	int n, *rcs, k;

	rcs = malloc(sizeof(*rcs) * (size_t)s->opts.batch_max);
	while (rcs && (batch = take_batch(s, &n))) {
		write_batch(s, batch, rcs);
		pthread_mutex_lock(&s->qlock);
		s->stats.batches++;
		for (k = 0; k < n; k++) {
			s->stats.stored += rcs[k] == 0;
			s->stats.duplicates += rcs[k] == 1;
			s->stats.failed += rcs[k] < 0;
		}
		pthread_mutex_unlock(&s->qlock);
		store_priv_latest_apply(s, batch, rcs);
		for (k = 0; batch; batch = next, k++) {
			next = batch->next;
			batch->done(batch->arg, rcs[k]);
			free(batch->doc);
			free(batch);
		}
		if (timeutil_now(CLOCK_MONOTONIC) - last_expire > 3600) {
			expire(s);
			last_expire = timeutil_now(CLOCK_MONOTONIC);
		}
	}
	free(rcs);
	return NULL;
}

static int prepare_all(struct store *s, char *err, size_t errlen)
{
	int rc;

	if ((rc = prepare(s, s->wdb, ins_report_sql, &s->ins_report, err, errlen)) ||
	    (rc = prepare(s, s->wdb, upsert_latest_sql, &s->upsert_latest, err, errlen)) ||
	    (rc = prepare(s, s->wdb, "DELETE FROM reports WHERE received_us < ?1", &s->expire,
			  err, errlen)) ||
	    (rc = prepare(s, s->rdb, sel_latest_sql, &s->sel_latest, err, errlen)) ||
	    (rc = prepare(s, s->rdb, sel_history_sql, &s->sel_history, err, errlen)))
		return rc;
	return 0;
}

int store_open(const struct store_opts *opts, struct store **out, char *err, size_t errlen)
{
	struct store *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return -ENOMEM;
	s->opts = *opts;
	if (s->opts.batch_max < 1)
		s->opts.batch_max = 1;
	snprintf(s->path, sizeof(s->path), "%s", opts->path);
	pthread_mutex_init(&s->qlock, NULL);
	pthread_mutex_init(&s->rlock, NULL);
	pthread_mutex_init(&s->llock, NULL);
	pthread_cond_init(&s->qcond, NULL);
	pthread_cond_init(&s->ccond, NULL);
	s->tail = &s->head;
	s->ckpt_rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(10);
	s->begin_rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(10);
	if ((rc = open_db(s, &s->wdb, true, err, errlen)) ||
	    (rc = open_db(s, &s->rdb, false, err, errlen)) ||
	    (rc = open_db(s, &s->cdb, false, err, errlen)) ||
	    (rc = prepare_all(s, err, errlen)))
		goto out;
	if ((rc = store_priv_latest_load(s, &s->latest)) < 0) {
		snprintf(err, errlen, "%s: read the latest reports: %s", s->path,
			 rc == -ENOMEM ? "out of memory" : sqlite3_errmsg(s->rdb));
		goto out;
	}
	expire(s);
	sqlite3_wal_hook(s->wdb, on_wal_commit, s);
	rc = -pthread_create(&s->checkpointer, NULL, checkpointer_main, s);
	if (rc) {
		snprintf(err, errlen, "%s: start checkpoint thread: %s", s->path, strerror(-rc));
		goto out;
	}
	s->ckpt_started = true;
	rc = -pthread_create(&s->writer, NULL, writer_main, s);
	if (rc) {
		snprintf(err, errlen, "%s: start writer thread: %s", s->path, strerror(-rc));
		goto out;
	}
	s->started = true;
	*out = s;
	return 0;
out:
	store_close(s);
	return rc;
}

void store_shutdown(struct store *s)
{
	pthread_mutex_lock(&s->qlock);
	s->stopping = true;
	pthread_cond_broadcast(&s->qcond);
	pthread_mutex_unlock(&s->qlock);
	if (s->started)
		pthread_join(s->writer, NULL);
	s->started = false;
	pthread_mutex_lock(&s->qlock);
	s->ckpt_stop = true;	/* after the writer: no commit wakes it again */
	pthread_cond_signal(&s->ccond);
	pthread_mutex_unlock(&s->qlock);
	if (s->ckpt_started)
		pthread_join(s->checkpointer, NULL);
	s->ckpt_started = false;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	store_shutdown(s);
	sqlite3_finalize(s->ins_report);
	sqlite3_finalize(s->upsert_latest);
	sqlite3_finalize(s->expire);
	sqlite3_finalize(s->sel_latest);
	sqlite3_finalize(s->sel_history);
	sqlite3_close(s->wdb);
	sqlite3_close(s->rdb);
	sqlite3_close(s->cdb);	/* the last one closed checkpoints what is left */
	pthread_mutex_destroy(&s->qlock);
	pthread_mutex_destroy(&s->rlock);
	pthread_mutex_destroy(&s->llock);
	store_priv_latest_free(&s->latest);
	pthread_cond_destroy(&s->qcond);
	pthread_cond_destroy(&s->ccond);
	free(s);
}

int store_submit(struct store *s, const struct status_info *info, const char *doc, size_t len,
		 int64_t received_us, store_done_fn done, void *arg)
{
	struct pending *p = malloc(sizeof(*p));

	if (!p || !(p->doc = malloc(len + 1))) {
		free(p);
		return -ENOMEM;
	}
	memcpy(p->doc, doc, len);
	p->doc[len] = '\0';
	p->len = len;
	p->info = *info;
	p->received_us = received_us;
	p->done = done;
	p->arg = arg;
	p->next = NULL;
	pthread_mutex_lock(&s->qlock);
	if (s->stopping) {
		pthread_mutex_unlock(&s->qlock);
		free(p->doc);
		free(p);
		return -ESHUTDOWN;
	}
	*s->tail = p;
	s->tail = &p->next;
	s->queued++;
	pthread_cond_signal(&s->qcond);
	pthread_mutex_unlock(&s->qlock);
	return 0;
}
