/* spread_bound.h - the bound on the spread between nodes that follow the
 * same master, beside chrony's absolute one (docs/spread-bound.md).
 *
 * A follower's chronyd adds its master's root delay and root dispersion
 * (received in every NTP reply) into its own root values. What the
 * followers of one master share cancels in the spread between them, so
 * each node's bound relative to the master leaves it out:
 *
 *   relative = max(absolute - (master_root_delay / 2 + master_root_dispersion),
 *                  |offset| + hop_delay / 2 + hop_dispersion),  at most absolute
 *
 * and two followers of the same master are at most relative_a + relative_b
 * apart. Any other pair falls back to absolute_a + absolute_b. Pure: no I/O,
 * no allocation. */
#ifndef FLEETCLOCK_SPREAD_BOUND_H
#define FLEETCLOCK_SPREAD_BOUND_H

#include <stdbool.h>
#include <stddef.h>

#define SPREAD_MASTER_MAX 64

/* What a node's chronyd says of its selected source (NTPDATA); have false:
 * not known (an agent before these fields, no selected source, LOCAL, a
 * last reply that is not usable: spread_reply_usable). */
struct spread_sel {
	bool have;
	char master[SPREAD_MASTER_MAX];	/* the selected source's address: the group */
	double master_root_delay_s;	/* the root values in its last reply */
	double master_root_dispersion_s;
	double hop_delay_s;		/* this node's own hop: peer delay, dispersion */
	double hop_dispersion_s;
	bool master_changed;		/* the caller saw another master in its window */
};

struct spread_node {
	bool have_tracking;
	bool synchronised;
	double offset_s;		/* tracking: clock minus true time */
	double root_delay_s;
	double root_dispersion_s;
	struct spread_sel sel;
};

enum spread_kind {
	SPREAD_NONE,		/* no node with tracking */
	SPREAD_ABSOLUTE,	/* every pair (or the one node) used the absolute bounds */
	SPREAD_RELATIVE,	/* every pair followed one master: relative bounds */
	SPREAD_MIXED,		/* some pairs relative, some absolute */
};

/* Why a node's relative bound falls back (SPREAD_WHY_OK: it does not). */
enum spread_why {
	SPREAD_WHY_OK,
	SPREAD_WHY_NO_TRACKING,
	SPREAD_WHY_UNSYNCHRONISED,
	SPREAD_WHY_NO_SELECTED,		/* no NTP data of a selected source (old agent, LOCAL) */
	SPREAD_WHY_MASTER_CHANGED,
	SPREAD_WHY_BAD_INPUT,		/* negative or non-finite values */
};

/* May the root values of a source's last reply (NTPDATA leap, stratum) be
 * taken out of a follower's? Only from a synchronised server (leap not
 * unsync, stratum 1-15): an unsynchronised one (a master back without valid
 * time) sends root values that the follower's chronyd did not use. */
bool spread_reply_usable(unsigned leap, unsigned stratum);

/* |offset| + root_delay / 2 + root_dispersion; NAN without tracking. */
double spread_bound_absolute(const struct spread_node *n);

/* The node's bound relative to its master (formula above), or NAN with
 * *why (may be NULL) saying why it falls back. */
double spread_bound_relative(const struct spread_node *n, enum spread_why *why);

/* The floor no bound can beat: the own hop's delay / 2 (its unobservable
 * asymmetry), as (root_delay - master_root_delay) / 2, at least 0; NAN when
 * the relative bound falls back. */
double spread_bound_floor(const struct spread_node *n);

/* The bound on |clock_a - clock_b|: relative when both have one and follow
 * the same master, else absolute; *kind (may be NULL) says which. NAN when
 * either lacks tracking. */
double spread_bound_pair(const struct spread_node *a, const struct spread_node *b,
			 enum spread_kind *kind);

/* Fills *out with node i; false: leave node i out (stale, no report). */
typedef bool (*spread_get_fn)(const void *ctx, size_t i, struct spread_node *out);

struct spread_fleet {
	double bound_s;		/* max over pairs of spread_bound_pair; one node: its bound */
	double absolute_s;	/* sum of the two largest absolute bounds (today's) */
	double floor_s;		/* the floor of the pair that gave bound_s (relative); else NAN */
	enum spread_kind kind;
	size_t nodes;		/* with tracking */
	long worst_a, worst_b;	/* the pair that gave bound_s; -1: none */
};

/* The fleet's spread bound over nodes 0..n-1 that get returns (every pair:
 * O(n^2) calls of get, fine for a fleet of hundreds). */
void spread_bound_fleet(spread_get_fn get, const void *ctx, size_t n, struct spread_fleet *out);

/* "none", "absolute", "relative", "mixed". */
const char *spread_kind_name(enum spread_kind k);

/* "ok", "no tracking", "unsynchronised", "no selected source data",
 * "master changed", "invalid values". */
const char *spread_why_name(enum spread_why w);

#endif
