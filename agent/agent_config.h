/* agent_config.h - fleetclock-agent's configuration (/etc/fleetclock/agent.conf). */
#ifndef FLEETCLOCK_AGENT_CONFIG_H
#define FLEETCLOCK_AGENT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "base/config.h"
#include "election/election_config.h"
#include "chrony/ntp_auth.h"

#define AGENT_DEFAULT_CONFIG "/etc/fleetclock/agent.conf"

struct agent_config {
	/* [chrony] */
	char chrony_socket[108];
	char chrony_transport[8];	/* auto | unix | udp */
	char chrony_udp_host[64];
	int chrony_udp_port;
	int chrony_timeout_ms;
	int chrony_attempts;
	char chrony_ntp_auth[12];	/* off | report | required */
	enum ntp_auth_mode ntp_auth_mode;	/* parsed from chrony_ntp_auth */
	/* [agent] */
	char host[64];			/* empty: gethostname() */
	char role[16];			/* master | failover | headset | observer */
	double budget_ms;		/* error budget for readiness */
	/* [collector] (the daemon's reports) */
	char collector_url[256];
	char collector_token[256];
	char collector_ca_file[256];
	double report_interval_s;
	int connect_timeout_ms;
	int post_timeout_ms;
	char spool_dir[256];
	int spool_max_count;
	int spool_max_bytes;
	double backoff_max_s;
	/* [check] */
	char check_expected_sources[256];	/* comma list; empty: any */
	int check_max_update_polls;
	double check_max_skew_ppm;
	double check_max_freq_ppm;
	double check_rtc_max_offset_ms;
	int check_fix_timeout_s;
	/* [rtc] */
	char rtc_device[64];		/* auto | none | /dev/i2c-N | /dev/rtcN */
	double rtc_threshold_ms;	/* rewrite the RTC when |offset| exceeds this */
	int rtc_interval_min;		/* daemon: measure every N minutes */
	char rtc_state_file[256];	/* drift samples and the record's mirror */
	int rtc_edge_timeout_ms;	/* give up waiting for the seconds to change */
	double rtc_drift_max_unc_ppm;	/* a drift estimate is used only below this */
	double late_tolerance_ms;	/* --at: refuse starting later than this */
	struct agent_election_config election;	/* [election] */
};

/* The option table (for docs and tests). */
extern const struct config_option agent_config_options[];

/* Fill cfg with defaults, then load path if not NULL. A missing file at the
 * default path is not an error (defaults apply); a missing file named on the
 * command line is. Returns 0 or -errno with err set ("path:line: reason"). */
int agent_config_load(struct agent_config *cfg, const char *path, bool path_explicit,
		      char *err, size_t errlen);

#endif
