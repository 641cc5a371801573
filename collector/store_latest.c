/* store_latest.c - the store's reads: the in-memory latest report per host
 * (loaded at open, updated after each committed batch), history,
 * statistics. Split from store.c, which keeps the rest; store_priv.h holds
 * what both use. */
#include "store_priv.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/log.h"
#include "time/timeutil.h"

/* The latest row of a report as the table gives it back: numbers stored as
 * NULL (absent or not finite) read as NaN, the error bound recomputed. */
static void latest_of(const struct status_info *in, int64_t received_us, struct store_latest *r)
{
	struct status_info *i = &r->info;

	r->info = *in;
	r->received_us = received_us;
	if (!i->have_tracking || !isfinite(i->offset_s))
		i->offset_s = NAN;
	if (!i->have_tracking || !isfinite(i->root_delay_s))
		i->root_delay_s = NAN;
	if (!i->have_tracking || !isfinite(i->root_dispersion_s))
		i->root_dispersion_s = NAN;
	if (!i->rtc_have_offset || !isfinite(i->rtc_offset_s)) {
		i->rtc_have_offset = false;
		i->rtc_offset_s = NAN;
	}
	i->max_error_s = status_max_error(i);
}

/* Position of host in l->order: found (*at is its slot) or not (*at is
 * where it would go). */
static bool latest_find(const struct latest_set *l, const char *host, size_t *at)
{
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(l->rows[l->order[mid]].info.host, host);

		if (c == 0) {
			*at = mid;
			return true;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*at = lo;
	return false;
}

/* Insert, or replace the host's row (the upsert's rule: the report that
 * arrived last is the latest). -ENOMEM leaves l as it was. */
static int latest_put(struct latest_set *l, const struct store_latest *r)
{
	size_t at;

	if (latest_find(l, r->info.host, &at)) {
		l->rows[l->order[at]] = *r;
		return 0;
	}
	if (l->n == UINT32_MAX)
		return -ENOMEM;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		struct store_latest *rows = realloc(l->rows, cap * sizeof(*rows));
		uint32_t *order;

		if (!rows)
			return -ENOMEM;
		l->rows = rows;
		if (!(order = realloc(l->order, cap * sizeof(*order))))
			return -ENOMEM;
		l->order = order;
		l->cap = cap;
	}
	l->rows[l->n] = *r;
	memmove(l->order + at + 1, l->order + at, (l->n - at) * sizeof(*l->order));
	l->order[at] = (uint32_t)l->n++;
	return 0;
}

/* The committed reports of a batch into the in-memory latest set. */
void store_priv_latest_apply(struct store *s, const struct pending *batch, const int *rcs)
{
	struct store_latest r;
	int k = 0;

	pthread_mutex_lock(&s->llock);
	for (const struct pending *p = batch; p; p = p->next, k++) {
		if (rcs[k] != 0)
			continue;
		latest_of(&p->info, p->received_us, &r);
		if (!s->latest_stale && latest_put(&s->latest, &r) < 0) {
			log_err("%s: out of memory for the fleet view; it will be read from the "
				"database again", s->path);
			s->latest_stale = true;
		}
	}
	pthread_mutex_unlock(&s->llock);
}

static void column_text(sqlite3_stmt *st, int col, char *buf, size_t len)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(buf, len, "%s", t ? (const char *)t : "");
}

static double column_double_or_nan(sqlite3_stmt *st, int col)
{
	return sqlite3_column_type(st, col) == SQLITE_NULL ? NAN : sqlite3_column_double(st, col);
}

static void read_latest_row(sqlite3_stmt *st, struct store_latest *r)
{
	struct status_info *i = &r->info;

	memset(r, 0, sizeof(*r));
	column_text(st, 0, i->host, sizeof(i->host));
	i->sent_at_us = sqlite3_column_int64(st, 1);
	r->received_us = sqlite3_column_int64(st, 2);
	column_text(st, 3, i->role, sizeof(i->role));
	column_text(st, 4, i->agent_version, sizeof(i->agent_version));
	i->have_tracking = sqlite3_column_int(st, 5);
	i->synchronised = sqlite3_column_int(st, 6);
	i->stratum = sqlite3_column_int(st, 7);
	column_text(st, 8, i->leap, sizeof(i->leap));
	i->offset_s = column_double_or_nan(st, 9);
	i->root_delay_s = column_double_or_nan(st, 10);
	i->root_dispersion_s = column_double_or_nan(st, 11);
	i->max_error_s = status_max_error(i);
	i->rtc_present = sqlite3_column_int(st, 12);
	i->rtc_valid = sqlite3_column_int(st, 13);
	i->rtc_have_offset = sqlite3_column_type(st, 14) != SQLITE_NULL;
	i->rtc_offset_s = column_double_or_nan(st, 14);
	i->check_ready = sqlite3_column_int(st, 15);
	/* What the live path has and the table does not (chrony.selected: the
	 * relative bound; authenticated; the metrics), from the stored document */
	status_info_fill_stored((const char *)sqlite3_column_text(st, 16),
				(size_t)sqlite3_column_bytes(st, 16), i);
}

void store_priv_latest_free(struct latest_set *l)
{
	free(l->rows);
	free(l->order);
	*l = (struct latest_set){ 0 };
}

/* The latest table (ordered by host: SQLite's BINARY collation is strcmp's
 * order) into a fresh set. Returns 0, -ENOMEM or -EIO. */
int store_priv_latest_load(struct store *s, struct latest_set *out)
{
	struct latest_set l = { 0 };
	int step, rc = 0;

	pthread_mutex_lock(&s->rlock);
	while ((step = sqlite3_step(s->sel_latest)) == SQLITE_ROW) {
		struct store_latest r;

		read_latest_row(s->sel_latest, &r);
		if (latest_put(&l, &r) < 0) {
			rc = -ENOMEM;
			break;
		}
	}
	if (!rc && step != SQLITE_DONE) {
		log_err("%s: read latest reports: %s", s->path, sqlite3_errmsg(s->rdb));
		rc = -EIO;
	}
	sqlite3_reset(s->sel_latest);
	pthread_mutex_unlock(&s->rlock);
	if (rc)
		store_priv_latest_free(&l);
	else
		*out = l;
	return rc;
}

int store_latest_all(struct store *s, struct store_latest **rows, size_t *n)
{
	struct store_latest *r;
	int rc = 0;

	pthread_mutex_lock(&s->llock);
	if (s->latest_stale) {
		struct latest_set fresh;

		if ((rc = store_priv_latest_load(s, &fresh)) == 0) {
			store_priv_latest_free(&s->latest);
			s->latest = fresh;
			s->latest_stale = false;
		}
	}
	r = rc ? NULL : malloc((s->latest.n ? s->latest.n : 1) * sizeof(*r));
	if (!rc && !r)
		rc = -ENOMEM;
	for (size_t k = 0; r && k < s->latest.n; k++)
		r[k] = s->latest.rows[s->latest.order[k]];
	*n = r ? s->latest.n : 0;
	pthread_mutex_unlock(&s->llock);
	*rows = r;
	return rc;
}

int store_history(struct store *s, const char *host, int64_t since_us, int64_t until_us,
		  size_t max, struct store_point **points, size_t *n)
{
	sqlite3_stmt *st = s->sel_history;
	struct store_point *p = calloc(max ? max : 1, sizeof(*p));
	size_t cnt = 0;
	int step, rc = 0;

	if (!p)
		return -ENOMEM;
	pthread_mutex_lock(&s->rlock);
	sqlite3_bind_text(st, 1, host, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, since_us);
	sqlite3_bind_int64(st, 3, until_us);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)max);
	while ((step = sqlite3_step(st)) == SQLITE_ROW && cnt < max) {
		struct store_point *q = &p[cnt++];

		q->sent_at_us = sqlite3_column_int64(st, 0);
		q->received_us = sqlite3_column_int64(st, 1);
		q->have_tracking = sqlite3_column_int(st, 2);
		q->synchronised = sqlite3_column_int(st, 3);
		q->offset_s = column_double_or_nan(st, 4);
		q->max_error_s = column_double_or_nan(st, 5);
		q->rtc_have_offset = sqlite3_column_type(st, 6) != SQLITE_NULL;
		q->rtc_offset_s = column_double_or_nan(st, 6);
		q->relative_error_s = column_double_or_nan(st, 7);
		column_text(st, 8, q->master, sizeof(q->master));
		column_text(st, 9, q->election_master, sizeof(q->election_master));
	}
	if (step != SQLITE_DONE && step != SQLITE_ROW) {
		log_err("%s: read history of %s: %s", s->path, host, sqlite3_errmsg(s->rdb));
		rc = -EIO;
	}
	sqlite3_reset(st);
	pthread_mutex_unlock(&s->rlock);
	if (rc) {
		free(p);
		return rc;
	}
	*points = p;
	*n = cnt;
	return 0;
}

void store_get_stats(struct store *s, struct store_stats *out)
{
	pthread_mutex_lock(&s->qlock);
	*out = s->stats;
	pthread_mutex_unlock(&s->qlock);
}
