/* views.h - what the collector's GET endpoints answer, rendered from store
 * rows: the fleet document, a host's history and the Prometheus text
 * exposition. Pure: the caller passes the rows and "now". */
#ifndef FLEETCLOCK_VIEWS_H
#define FLEETCLOCK_VIEWS_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct views_params {
	double now;		/* s since the epoch */
	double budget_s;
	double stale_after_s;
	double max_clock_skew_s;	/* |sent_at - received_at| above this is flagged; 0: never */
};

struct metrics_master_view;

/* Counters of the ingest path for /metrics. */
struct views_counters {
	uint64_t accepted, duplicates, bad_json, bad_schema, unauthorized, forbidden, bad_type,
		 too_large, store_failed, batches;
	const struct metrics_master_view *master;	/* the elected master; NULL: none */
};

/* Rendered hosts kept between fleet renders: a host is rendered again only
 * when it has a new report. Zero-initialise; not thread-safe. */
struct views_frag;
struct views_cache {
	struct views_frag *frags;
	size_t n;
};

/* Free what a cache holds (it stays usable). */
void views_cache_free(struct views_cache *c);

/* GET /api/v1/fleet: a malloc'ed JSON text, or NULL when out of memory.
 * rows sorted by host (as store_latest_all returns them); cache may be
 * NULL. */
char *views_fleet_json(const struct store_latest *rows, size_t n, const struct views_params *p,
		       struct views_cache *cache);

/* GET /api/v1/hosts/{host}/history: a malloc'ed JSON text or NULL. */
char *views_history_json(const char *host, const struct store_point *pts, size_t n,
			 int64_t since_us, int64_t until_us);

/* GET /metrics: a malloc'ed text in the Prometheus exposition format, or
 * NULL. */
char *views_metrics(const struct store_latest *rows, size_t n, const struct views_params *p,
		    const struct views_counters *c);

#endif
