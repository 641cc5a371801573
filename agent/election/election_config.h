/* election_config.h - the [election] section of agent.conf: the fields
 * and their option-table lines (expanded inside agent_config.c's table,
 * where OPT is defined). See docs/election.md. */
#ifndef FLEETCLOCK_ELECTION_CONFIG_H
#define FLEETCLOCK_ELECTION_CONFIG_H

#include <stdbool.h>

struct agent_election_config {
	bool enabled;			/* this node is a master candidate */
	bool assume_valid;		/* this clock is valid at start (set by other means) */
	int priority1, priority2;
	double interval_s;		/* announce interval */
	int timeout_intervals;		/* candidate lost after this many intervals */
	bool revertive;
	double holdoff_s, holdoff_valid_s;
	double holdover_s;		/* holdover window after losing an upstream */
	double wander_ppm;		/* frequency wander assumed while coasting */
	bool holdover_freq;		/* serving without a reference: the fitted frequency */
	bool holdover_phase;		/* ... and the fitted phase */
	double holdover_freq_window_s, holdover_freq_settle_s, holdover_freq_min_s;
	char key_file[256];
	char group[64];			/* multicast group; empty: unicast only */
	int port;
	char bind[64];			/* this node's address (announces, NTP queries) */
	char peers[512];		/* unicast peers, "addr[:port],..." */
	char ntp_addr[64];		/* where this node serves NTP (default: bind) */
	int ntp_port;
	int local_stratum;		/* stratum served while master */
	char upstreams[256];		/* upstream sources to watch; empty: all non-candidates */
	double sanity_limit_s;		/* upstream disagreeing more than this: offline */
	int agree_checks;		/* agreeing checks before it is back online */
	char rejoin_step[16];		/* adjtimex | none */
	double window_s;		/* announce timestamps accepted within +-window */
	int samples;			/* NTP samples per rejoin measurement */
	char state_file[256];		/* the current view, for --election */
};

#define ELECTION_CONFIG_OPTIONS \
	OPT("election", "enabled", CONFIG_BOOL, election.enabled, "no", 0, 0, \
	    "this node is a master candidate (observer, failover)"), \
	OPT("election", "assume_valid", CONFIG_BOOL, election.assume_valid, "no", 0, 0, \
	    "treat this clock as valid at start (set by GPS or an operator); still measured first"), \
	OPT("election", "priority1", CONFIG_INT, election.priority1, "128", 0, 255, \
	    "BMCA priority1, compared first; lower wins"), \
	OPT("election", "priority2", CONFIG_INT, election.priority2, "128", 0, 255, \
	    "BMCA priority2, compared after the clock quality; lower wins"), \
	OPT("election", "interval", CONFIG_DOUBLE, election.interval_s, "1", 0.05, 60, \
	    "announce interval, s"), \
	OPT("election", "timeout_intervals", CONFIG_INT, election.timeout_intervals, "3", 2, 100, \
	    "a candidate is lost after this many intervals without an announce"), \
	OPT("election", "revertive", CONFIG_BOOL, election.revertive, "no", 0, 0, \
	    "a better candidate takes over from the serving one"), \
	OPT("election", "holdoff", CONFIG_DOUBLE, election.holdoff_s, "60", 0, 86400, \
	    "after a rejoin step: in budget this long before it may win, s"), \
	OPT("election", "holdoff_valid", CONFIG_DOUBLE, election.holdoff_valid_s, "10", 0, 86400, \
	    "the same when its first measurement was already in budget, s"), \
	OPT("election", "holdover", CONFIG_DOUBLE, election.holdover_s, "3600", 0, 1e7, \
	    "holdover window after losing an upstream reference, s"), \
	OPT("election", "wander_ppm", CONFIG_DOUBLE, election.wander_ppm, "1", 0, 1000, \
	    "frequency error assumed while coasting, ppm (grows the error bound)"), \
	OPT("election", "holdover_freq", CONFIG_BOOL, election.holdover_freq, "yes", 0, 0, \
	    "on serving without a reference, give chronyd the rate its corrections had while following"), \
	OPT("election", "holdover_phase", CONFIG_BOOL, election.holdover_phase, "no", 0, 0, \
	    "with holdover_freq, also slew to the phase of the same fit (harmful when delays wander)"), \
	OPT("election", "holdover_freq_window", CONFIG_DOUBLE, election.holdover_freq_window_s, "600", \
	    10, 86400, "the rate is fitted over the last this many seconds of following, s"), \
	OPT("election", "holdover_freq_settle", CONFIG_DOUBLE, election.holdover_freq_settle_s, "30", \
	    0, 3600, "the first this many seconds of following are not fitted (chronyd converging), s"), \
	OPT("election", "holdover_freq_min", CONFIG_DOUBLE, election.holdover_freq_min_s, "60", \
	    0, 86400, "nothing is applied before the samples span this long, s"), \
	OPT("election", "key_file", CONFIG_STRING, election.key_file, "/etc/fleetclock/fleet.key", 0, 0, \
	    "fleet key, hex, root-only (mode 0600)"), \
	OPT("election", "group", CONFIG_STRING, election.group, "239.255.31.91", 0, 0, \
	    "multicast group for announces; empty: unicast peers only"), \
	OPT("election", "port", CONFIG_INT, election.port, "3191", 1, 65535, \
	    "UDP port of announces"), \
	OPT("election", "bind", CONFIG_STRING, election.bind, "", 0, 0, \
	    "this node's IPv4 address for announces and NTP queries (empty: any)"), \
	OPT("election", "peers", CONFIG_STRING, election.peers, "", 0, 0, \
	    "unicast announce peers, addr[:port] separated by commas"), \
	OPT("election", "ntp_addr", CONFIG_STRING, election.ntp_addr, "", 0, 0, \
	    "address where this node serves NTP (empty: the announce's source)"), \
	OPT("election", "ntp_port", CONFIG_INT, election.ntp_port, "123", 1, 65535, \
	    "port where this node serves NTP"), \
	OPT("election", "local_stratum", CONFIG_INT, election.local_stratum, "8", 1, 15, \
	    "stratum of chronyd's local reference while this node is master"), \
	OPT("election", "upstreams", CONFIG_STRING, election.upstreams, "", 0, 0, \
	    "upstream source addresses to sanity-check (empty: every non-candidate)"), \
	OPT("election", "sanity_limit", CONFIG_DOUBLE, election.sanity_limit_s, "10", 0.001, 1e9, \
	    "an upstream further than this from a valid fleet clock goes offline, s"), \
	OPT("election", "agree_checks", CONFIG_INT, election.agree_checks, "3", 1, 100, \
	    "agreeing checks before a quarantined upstream is back online"), \
	OPT("election", "rejoin_step", CONFIG_STRING, election.rejoin_step, "adjtimex", 0, 0, \
	    "how a rejoining node steps: adjtimex (ADJ_SETOFFSET) or none"), \
	OPT("election", "window", CONFIG_DOUBLE, election.window_s, "10", 0.1, 3600, \
	    "announce timestamps accepted within this of our clock, s"), \
	OPT("election", "samples", CONFIG_INT, election.samples, "8", 1, 32, \
	    "NTP samples per rejoin measurement (minimum delay wins)"), \
	OPT("election", "state_file", CONFIG_STRING, election.state_file, \
	    "/run/fleetclock/election.json", 0, 0, "the daemon's current view, read by --election")

#endif
