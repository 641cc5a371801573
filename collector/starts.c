/* starts.c - start records in SQLite, see starts.h. */
#include "starts.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

struct starts {
	sqlite3 *db;
	pthread_mutex_t lock;	/* one statement at a time on db */
	char path[256];
};

typedef char experiment_id[START_EXPERIMENT_MAX];

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS starts ("
	" experiment TEXT NOT NULL, host TEXT NOT NULL, target_ns INTEGER NOT NULL,"
	" outcome TEXT NOT NULL, sent_ns INTEGER NOT NULL, received_us INTEGER NOT NULL,"
	" doc TEXT NOT NULL,"
	" PRIMARY KEY (experiment, host));"
	"CREATE INDEX IF NOT EXISTS starts_target ON starts (target_ns);";

static int fail(struct starts *s, const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: %s: %s", s->path, what, s->db ? sqlite3_errmsg(s->db) : "out of memory");
	return -EIO;
}

int starts_open(const char *path, struct starts **out, char *err, size_t errlen)
{
	struct starts *s = calloc(1, sizeof(*s));
	int rc = 0;

	if (!s)
		return -ENOMEM;
	snprintf(s->path, sizeof(s->path), "%s", path);
	pthread_mutex_init(&s->lock, NULL);
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		rc = fail(s, "open for start records", err, errlen);
	if (rc == 0)
		sqlite3_busy_timeout(s->db, 5000);
	if (rc == 0 && sqlite3_exec(s->db, "PRAGMA journal_mode=WAL;", NULL, NULL, NULL) != SQLITE_OK)
		rc = fail(s, "set WAL mode", err, errlen);
	if (rc == 0 && sqlite3_exec(s->db, schema_sql, NULL, NULL, NULL) != SQLITE_OK)
		rc = fail(s, "create table starts", err, errlen);
	if (rc < 0) {
		starts_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

void starts_close(struct starts *s)
{
	if (!s)
		return;
	sqlite3_close(s->db);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

int starts_put(struct starts *s, const struct start_record *r, const char *doc, size_t len,
	       int64_t received_us, char *err, size_t errlen)
{
	static const char sql[] = "INSERT INTO starts (experiment, host, target_ns, outcome, sent_ns,"
				  " received_us, doc) VALUES (?1, ?2, ?3, ?4, ?7, ?5, ?6)"
				  " ON CONFLICT (experiment, host) DO UPDATE SET target_ns = ?3,"
				  " outcome = ?4, sent_ns = ?7, received_us = ?5, doc = ?6"
				  " WHERE ?7 > starts.sent_ns";
	sqlite3_stmt *st = NULL;
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, r->experiment, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, r->host, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, r->target_ns);
		sqlite3_bind_text(st, 4, start_outcome_str(r->outcome), -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, received_us);
		sqlite3_bind_text(st, 6, doc, (int)len, SQLITE_STATIC);
		sqlite3_bind_int64(st, 7, r->sent_ns);
		rc = sqlite3_step(st);
	}
	if (rc != SQLITE_DONE)
		rc = fail(s, "store a start record", err, errlen);
	else
		rc = sqlite3_changes(s->db) ? 0 : 1;
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* Append one stored row (its doc parsed again; a row that no longer
 * parses is skipped and logged). */
static int add_row(sqlite3_stmt *st, struct starts_row **rows, size_t *n, size_t *cap)
{
	const char *doc = (const char *)sqlite3_column_text(st, 0);
	char err[256];

	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		struct starts_row *nr = realloc(*rows, nc * sizeof(*nr));

		if (!nr)
			return -ENOMEM;
		*rows = nr;
		*cap = nc;
	}
	if (!doc || start_record_parse(doc, (size_t)sqlite3_column_bytes(st, 0), &(*rows)[*n].rec, err,
				       sizeof(err)) != START_OK) {
		log_warn("starts: a stored record does not parse any more: %s", doc ? err : "NULL");
		return 0;
	}
	(*rows)[*n].received_us = sqlite3_column_int64(st, 1);
	(*n)++;
	return 0;
}

static int get_locked(struct starts *s, const char *experiment, struct starts_row **rows, size_t *n)
{
	static const char sql[] = "SELECT doc, received_us FROM starts WHERE experiment = ?1"
				  " ORDER BY host";
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int rc;

	*rows = NULL;
	*n = 0;
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(st, 1, experiment, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if ((rc = add_row(st, rows, n, &cap)) < 0)
			break;
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return 0;
	free(*rows);
	*rows = NULL;
	*n = 0;
	return rc < 0 ? rc : -EIO;
}

int starts_get(struct starts *s, const char *experiment, struct starts_row **rows, size_t *n)
{
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = get_locked(s, experiment, rows, n);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* The ids of the latest max experiments, latest target first. */
static int latest_ids(struct starts *s, size_t max, experiment_id **ids, size_t *n)
{
	static const char sql[] = "SELECT experiment FROM starts GROUP BY experiment"
				  " ORDER BY MAX(target_ns) DESC, experiment LIMIT ?1";
	sqlite3_stmt *st = NULL;
	int rc;

	*n = 0;
	*ids = calloc(max ? max : 1, sizeof(**ids));
	if (!*ids)
		return -ENOMEM;
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < max)
		snprintf((*ids)[(*n)++], START_EXPERIMENT_MAX, "%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -EIO;
}

/* The latest max experiments with their records. */
static int load_latest(struct starts *s, size_t max, experiment_id **ids,
		       struct starts_list_item **items, size_t *n)
{
	int rc;

	*items = NULL;
	pthread_mutex_lock(&s->lock);
	rc = latest_ids(s, max, ids, n);
	if (rc == 0 && !(*items = calloc(*n ? *n : 1, sizeof(**items))))
		rc = -ENOMEM;
	for (size_t i = 0; rc == 0 && i < *n; i++) {
		struct starts_row *rows;

		(*items)[i].experiment = (*ids)[i];
		rc = get_locked(s, (*ids)[i], &rows, &(*items)[i].n);
		(*items)[i].rows = rows;
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static void free_items(experiment_id *ids, struct starts_list_item *items, size_t n)
{
	for (size_t i = 0; items && i < n; i++)
		free((void *)items[i].rows);
	free(items);
	free(ids);
}

int starts_render_list(struct starts *s, size_t max, const struct starts_known_host *known,
		       size_t nk, char **out)
{
	struct starts_list_item *items;
	experiment_id *ids = NULL;
	size_t n = 0;
	int rc = load_latest(s, max, &ids, &items, &n);

	*out = rc == 0 ? starts_view_list_json(items, n, known, nk) : NULL;
	if (rc == 0 && !*out)
		rc = -ENOMEM;
	free_items(ids, items, n);
	return rc;
}

int starts_render_experiment(struct starts *s, const char *experiment,
			     const struct starts_known_host *known, size_t nk, char **out)
{
	struct starts_row *rows = NULL;
	size_t n = 0;
	int rc = starts_get(s, experiment, &rows, &n);

	*out = rc == 0 ? starts_view_experiment_json(experiment, rows, n, known, nk) : NULL;
	if (rc == 0 && !*out)
		rc = -ENOMEM;
	free(rows);
	return rc;
}

int starts_render_metrics(struct starts *s, const struct starts_known_host *known, size_t nk,
			  char **out)
{
	struct starts_list_item *items;
	experiment_id *ids = NULL;
	size_t n = 0;
	int rc = load_latest(s, 1, &ids, &items, &n);

	*out = rc == 0 ? starts_view_metrics(n ? &items[0] : NULL, known, nk) : NULL;
	if (rc == 0 && !*out)
		rc = -ENOMEM;
	free_items(ids, items, n);
	return rc;
}
