/* agent_config.c - the agent's option table, see agent_config.h */
#include "agent_config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define OPT(sec, key, type, field, def, min, max, help) \
	{ sec, key, type, offsetof(struct agent_config, field), \
	  sizeof(((struct agent_config *)0)->field), def, min, max, help }

const struct config_option agent_config_options[] = {
	OPT("chrony", "socket", CONFIG_STRING, chrony_socket, "/run/chrony/chronyd.sock", 0, 0,
	    "chronyd's command socket"),
	OPT("chrony", "transport", CONFIG_STRING, chrony_transport, "auto", 0, 0,
	    "auto (Unix socket, UDP for read-only if it fails), unix or udp"),
	OPT("chrony", "udp_host", CONFIG_STRING, chrony_udp_host, "127.0.0.1", 0, 0,
	    "numeric address of chronyd's command port"),
	OPT("chrony", "udp_port", CONFIG_INT, chrony_udp_port, "323", 1, 65535,
	    "chronyd's command port (cmdport)"),
	OPT("chrony", "timeout_ms", CONFIG_INT, chrony_timeout_ms, "1000", 10, 60000,
	    "first reply timeout; doubles on each retry"),
	OPT("chrony", "attempts", CONFIG_INT, chrony_attempts, "3", 1, 10,
	    "sends per request"),
	OPT("chrony", "ntp_auth", CONFIG_STRING, chrony_ntp_auth, "report", 0, 0,
	    "is the selected source's time authenticated (NTP_DATA)? off, report (--check shows it), "
	    "required (--check fails and the election follows no candidate whose time is not; "
	    "set when chrony.conf has keys: docs/security.md)"),
	OPT("agent", "host", CONFIG_STRING, host, "", 0, 0,
	    "name reported for this node (default: the hostname)"),
	OPT("agent", "role", CONFIG_STRING, role, "headset", 0, 0,
	    "master, failover, headset or observer"),
	OPT("agent", "budget_ms", CONFIG_DOUBLE, budget_ms, "5", 0.001, 86400e3,
	    "error budget: the largest acceptable estimated error"),
	OPT("collector", "url", CONFIG_STRING, collector_url, "", 0, 0,
	    "where --daemon POSTs status reports, e.g. http://collector:8470/api/v1/status"
	    " (--at sends its start records to .../api/v1/starts)"),
	OPT("collector", "token", CONFIG_STRING, collector_token, "", 0, 0,
	    "bearer token (the file must then not be readable by others)"),
	OPT("collector", "ca_file", CONFIG_STRING, collector_ca_file, "", 0, 0,
	    "CA certificates for an https URL (default: the system's)"),
	OPT("collector", "interval_s", CONFIG_DOUBLE, report_interval_s, "5", 0.1, 3600,
	    "seconds between reports"),
	OPT("collector", "connect_timeout_ms", CONFIG_INT, connect_timeout_ms, "2000", 10, 60000,
	    "TCP/TLS connect timeout"),
	OPT("collector", "timeout_ms", CONFIG_INT, post_timeout_ms, "5000", 10, 120000,
	    "whole POST timeout"),
	OPT("collector", "spool_dir", CONFIG_STRING, spool_dir, "/var/lib/fleetclock/spool", 0, 0,
	    "reports the collector did not take wait here, replayed in order; --at's start"
	    " records in its subdirectory starts/"),
	OPT("collector", "spool_max_count", CONFIG_INT, spool_max_count, "17280", 1, 10000000,
	    "most spooled reports (default: a day at 5 s); the oldest are dropped"),
	OPT("collector", "spool_max_bytes", CONFIG_INT, spool_max_bytes, "33554432", 65536,
	    2147483647, "most bytes of spooled reports; the oldest are dropped"),
	OPT("collector", "backoff_max_s", CONFIG_DOUBLE, backoff_max_s, "60", 0.1, 3600,
	    "longest wait between replay attempts (exponential backoff with jitter)"),
	OPT("check", "expected_sources", CONFIG_STRING, check_expected_sources, "", 0, 0,
	    "comma-separated names/addresses one of which must be the selected source (empty: any; 'local': this node's own clock)"),
	OPT("check", "max_update_polls", CONFIG_INT, check_max_update_polls, "4", 1, 1000,
	    "the last clock update must be at most this many polling intervals old (an interval under 1 s counts as 1 s)"),
	OPT("check", "max_skew_ppm", CONFIG_DOUBLE, check_max_skew_ppm, "100", 0, 1e6,
	    "largest acceptable frequency skew (ppm)"),
	OPT("check", "max_freq_ppm", CONFIG_DOUBLE, check_max_freq_ppm, "250", 0, 1e6,
	    "largest acceptable |frequency| correction (ppm)"),
	OPT("check", "rtc_max_offset_ms", CONFIG_DOUBLE, check_rtc_max_offset_ms, "5", 0, 1e9,
	    "largest acceptable RTC offset from the system clock (ms)"),
	OPT("check", "fix_timeout_s", CONFIG_INT, check_fix_timeout_s, "60", 1, 3600,
	    "--check --fix: how long to wait for the clock to come within budget"),
	OPT("rtc", "device", CONFIG_STRING, rtc_device, "auto", 0, 0,
	    "auto, none, /dev/i2c-N (DS1307 at 0x68 via libi2c) or /dev/rtcN (kernel driver)"),
	OPT("rtc", "threshold_ms", CONFIG_DOUBLE, rtc_threshold_ms, "5", 0.5, 1e6,
	    "rewrite the RTC at the second boundary when |RTC - system| exceeds this"),
	OPT("rtc", "interval_min", CONFIG_INT, rtc_interval_min, "10", 1, 1440,
	    "daemon: measure the RTC every N minutes"),
	OPT("rtc", "state_file", CONFIG_STRING, rtc_state_file, "/var/lib/fleetclock/rtc.json", 0, 0,
	    "drift samples and a mirror of the NVRAM record (the record itself for /dev/rtcN)"),
	OPT("rtc", "edge_timeout_ms", CONFIG_INT, rtc_edge_timeout_ms, "1500", 1100, 10000,
	    "give up when the RTC's seconds do not change within this"),
	OPT("rtc", "drift_max_unc_ppm", CONFIG_DOUBLE, rtc_drift_max_unc_ppm, "20", 0.01, 1000,
	    "use a drift estimate (boot correction) only when its uncertainty is below this"),
	OPT("agent", "late_tolerance_ms", CONFIG_DOUBLE, late_tolerance_ms, "50", 0, 3.6e6,
	    "--at/--wait-until: a start later than this is refused unless --late-ok"),
	ELECTION_CONFIG_OPTIONS,
	CONFIG_END
};

static int validate(struct agent_config *cfg, const char *name, char *err, size_t errlen)
{
	static const char *transports[] = { "auto", "unix", "udp" };
	static const char *roles[] = { "master", "failover", "headset", "observer" };
	bool ok = false;

	for (size_t i = 0; i < 3; i++)
		ok |= !strcmp(cfg->chrony_transport, transports[i]);
	if (!ok) {
		snprintf(err, errlen, "%s: [chrony] transport: '%s' is not auto, unix or udp",
			 name, cfg->chrony_transport);
		return -EINVAL;
	}
	ok = false;
	for (size_t i = 0; i < 4; i++)
		ok |= !strcmp(cfg->role, roles[i]);
	if (!ok) {
		snprintf(err, errlen, "%s: [agent] role: '%s' is not master, failover, headset or observer",
			 name, cfg->role);
		return -EINVAL;
	}
	if (ntp_auth_mode_parse(cfg->chrony_ntp_auth, &cfg->ntp_auth_mode) < 0) {
		snprintf(err, errlen, "%s: [chrony] ntp_auth: '%s' is not off, report or required",
			 name, cfg->chrony_ntp_auth);
		return -EINVAL;
	}
	if (strcmp(cfg->rtc_device, "auto") && strcmp(cfg->rtc_device, "none") &&
	    strncmp(cfg->rtc_device, "/dev/i2c-", 9) && strncmp(cfg->rtc_device, "/dev/rtc", 8)) {
		snprintf(err, errlen, "%s: [rtc] device: '%s' is not auto, none, /dev/i2c-N or /dev/rtcN",
			 name, cfg->rtc_device);
		return -EINVAL;
	}
	if (!cfg->host[0] && gethostname(cfg->host, sizeof(cfg->host) - 1) < 0)
		snprintf(cfg->host, sizeof(cfg->host), "unknown");
	return 0;
}

int agent_config_load(struct agent_config *cfg, const char *path, bool path_explicit,
		      char *err, size_t errlen)
{
	int rc = config_load(agent_config_options, cfg, sizeof(*cfg), path, path_explicit, NULL,
			     err, errlen);

	if (rc < 0)
		return rc;
	return validate(cfg, path ? path : "defaults", err, errlen);
}
