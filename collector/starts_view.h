/* starts_view.h - what /api/v1/starts answers and the start metrics, from
 * stored start records (docs/start-record.md). Pure: the caller passes the
 * records, the hosts the collector knows, and "now".
 *
 * A node's start error is its start (release under --arm, exec under --at)
 * minus the target, both on its own clock; chronyd's error bound b then
 * says how far that clock may be from true time, so the true start lies
 * within error +- b. The fleet's spread bound is the most two started nodes
 * can differ in true time: max(error + b) - min(error - b) over the nodes
 * that started (on time or late). */
#ifndef FLEETCLOCK_STARTS_VIEW_H
#define FLEETCLOCK_STARTS_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "report/start_record.h"

/* One stored record. */
struct starts_row {
	struct start_record rec;
	int64_t received_us;
};

/* A host the collector knows (from its status reports). */
struct starts_known_host {
	const char *host;
	const char *role;
};

struct starts_summary {
	size_t records;
	size_t started;		/* outcome started */
	size_t late;		/* outcome late */
	size_t failed;		/* refused, no-ready, exec-failed, aborted: not started */
	size_t missing;		/* known hosts of a taking-part role without a record */
	bool have_spread;	/* at least one node started */
	double spread_s;	/* max - min start error of the started nodes */
	bool bound_known;	/* every started node sent chronyd's bound */
	double spread_bound_s;	/* max(error + b) - min(error - b); NAN when unknown */
	double worst_abs_error_s;	/* the largest |error| + b of a started node */
	int64_t target_ns;	/* the experiment's target (the earliest record's) */
};

/* Summarise one experiment's records. known/nk: the hosts the collector
 * knows; a known host is missing when it has no record and its role is the
 * role of a host that has one (masters do not run the show's program).
 * missing_idx (nk entries, may be NULL) receives the indexes into known of
 * the missing hosts. */
void starts_summarize(const struct starts_row *rows, size_t n, const struct starts_known_host *known,
		      size_t nk, struct starts_summary *s, size_t *missing_idx);

/* GET /api/v1/starts?experiment=ID: a malloc'ed JSON text, or NULL when out
 * of memory. rows: the experiment's records, sorted by host. */
char *starts_view_experiment_json(const char *experiment, const struct starts_row *rows, size_t n,
				  const struct starts_known_host *known, size_t nk);

/* One experiment in the list. */
struct starts_list_item {
	const char *experiment;
	const struct starts_row *rows;
	size_t n;
};

/* GET /api/v1/starts: the experiments, latest target first. */
char *starts_view_list_json(const struct starts_list_item *items, size_t n_items,
			    const struct starts_known_host *known, size_t nk);

/* The start metrics (Prometheus text, appended to f's buffer by the
 * caller): fleetclock_last_start_spread_seconds,
 * fleetclock_last_start_late_nodes, fleetclock_last_start_failed_nodes,
 * fleetclock_last_start_missing_nodes.
 * last: the latest experiment, NULL when there is none (no samples then).
 * A malloc'ed text or NULL. */
char *starts_view_metrics(const struct starts_list_item *last, const struct starts_known_host *known,
			  size_t nk);

#endif
