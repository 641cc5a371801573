/* collector_config.c - the collector's option table, see collector_config.h */
#include "collector_config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define OPT(sec, key, type, field, def, min, max, help) \
	{ sec, key, type, offsetof(struct collector_config, field), \
	  sizeof(((struct collector_config *)0)->field), def, min, max, help }

const struct config_option collector_config_options[] = {
	OPT("collector", "listen_address", CONFIG_STRING, listen_address, "0.0.0.0", 0, 0,
	    "numeric IPv4 address to listen on"),
	OPT("collector", "port", CONFIG_INT, port, "8470", 1, 65535, "TCP port"),
	OPT("collector", "db_path", CONFIG_STRING, db_path, "/var/lib/fleetclock/collector.db", 0, 0,
	    "SQLite database (WAL mode)"),
	OPT("collector", "tokens", CONFIG_STRING, tokens, "", 0, 0,
	    "comma-separated fleet tokens: a report with one of them may be for any host; "
	    "no tokens here nor in token_file: no authentication; CHANGE-ME is refused"),
	OPT("collector", "token_file", CONFIG_STRING, token_file, "", 0, 0,
	    "file of 'HOST TOKEN' lines (not readable by others): a report with HOST's token "
	    "is accepted for HOST only (403 otherwise); empty: none"),
	OPT("collector", "retention_days", CONFIG_INT, retention_days, "30", 1, 3650,
	    "reports older than this are deleted"),
	OPT("collector", "stale_after_s", CONFIG_DOUBLE, stale_after_s, "15", 1, 86400,
	    "a host that has not reported for this long (by arrival time) is stale"),
	OPT("collector", "max_clock_skew_s", CONFIG_DOUBLE, max_clock_skew_s, "5", 0, 1e9,
	    "flag a host whose latest report's sent_at is further than this from its arrival "
	    "(clock_skewed in the fleet view and /metrics); 0: never"),
	OPT("collector", "budget_ms", CONFIG_DOUBLE, budget_ms, "5", 0.001, 1e6,
	    "error budget: largest acceptable spread bound (and error bound of one host)"),
	OPT("collector", "synchronous", CONFIG_STRING, synchronous, "normal", 0, 0,
	    "SQLite synchronous mode: normal (survives a crash of the collector) or full (also power loss)"),
	OPT("collector", "fleet_cache_ms", CONFIG_INT, fleet_cache_ms, "1000", 0, 60000,
	    "GET /api/v1/fleet answers from a view rendered at most this long ago; 0: always fresh"),
	OPT("limits", "threads", CONFIG_INT, threads, "2", 1, 64, "HTTP worker threads"),
	OPT("limits", "max_connections", CONFIG_INT, max_connections, "1024", 4, 65536,
	    "concurrent connections"),
	OPT("limits", "per_ip_connections", CONFIG_INT, per_ip_connections, "64", 0, 65536,
	    "concurrent connections from one address (more are closed at once), so that one "
	    "address cannot take all of max_connections; 0: no limit"),
	OPT("limits", "connection_timeout_s", CONFIG_INT, connection_timeout_s, "10", 1, 3600,
	    "idle connections are closed after this"),
	OPT("limits", "request_timeout_s", CONFIG_INT, request_timeout_s, "30", 1, 3600,
	    "a client that takes longer to send a whole request is cut off (slowloris)"),
	OPT("limits", "batch_max", CONFIG_INT, batch_max, "1024", 1, 100000,
	    "most reports committed in one SQLite transaction"),
	CONFIG_END
};

static int check_permissions(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		snprintf(err, errlen, "%s: stat: %s", path, strerror(errno));
		return -errno;
	}
	if (st.st_mode & S_IROTH) {
		snprintf(err, errlen, "%s: holds bearer tokens but is readable by everyone "
			 "(mode %04o); run 'chmod o-r %s'", path, st.st_mode & 07777, path);
		return -EPERM;
	}
	return 0;
}

/* The shipped examples say "tokens = CHANGE-ME": a collector started with
 * it would accept anyone who read the example. */
static int check_placeholder(const struct collector_config *cfg, const char *path, char *err,
			     size_t errlen)
{
	char copy[sizeof(cfg->tokens)];
	const char *tokens[COLLECTOR_MAX_TOKENS];
	int n = collector_config_tokens(cfg, copy, tokens);

	for (int k = 0; k < n; k++) {
		if (host_tokens_is_placeholder(tokens[k])) {
			snprintf(err, errlen, "%s: [collector] tokens: '%s' is the placeholder of the "
				 "example configuration, not a secret; set a token of your own "
				 "(e.g. openssl rand -hex 16) in it and in the agents' agent.conf",
				 path ? path : "defaults", tokens[k]);
			return -EINVAL;
		}
	}
	return 0;
}

int collector_config_load(struct collector_config *cfg, const char *path, bool path_explicit,
			  char *err, size_t errlen)
{
	bool loaded;
	int rc = config_load(collector_config_options, cfg, sizeof(*cfg), path, path_explicit, &loaded,
			     err, errlen);

	if (rc < 0)
		return rc;
	if (strcmp(cfg->synchronous, "full") && strcmp(cfg->synchronous, "normal")) {
		snprintf(err, errlen, "%s: [collector] synchronous: '%s' is not full or normal",
			 path ? path : "defaults", cfg->synchronous);
		return -EINVAL;
	}
	/* first: the shipped example is refused for its placeholder, not its mode */
	if ((rc = check_placeholder(cfg, path, err, errlen)) < 0)
		return rc;
	if (loaded && cfg->tokens[0] && (rc = check_permissions(path, err, errlen)) < 0)
		return rc;
	if (!cfg->token_file[0])
		return 0;
	if ((rc = host_tokens_load(cfg->token_file, &cfg->host_tokens, err, errlen)) < 0)
		return rc;
	if (cfg->host_tokens.n == 0) {	/* with no fleet token: no authentication at all */
		snprintf(err, errlen, "%s: token_file %s has no 'HOST TOKEN' line", path,
			 cfg->token_file);
		return -EINVAL;
	}
	return 0;
}

void collector_config_free(struct collector_config *cfg)
{
	host_tokens_free(&cfg->host_tokens);
}

int collector_config_tokens(const struct collector_config *cfg, char *copy,
			    const char *tokens[COLLECTOR_MAX_TOKENS])
{
	char *save = NULL, *t;
	int n = 0;

	memcpy(copy, cfg->tokens, sizeof(cfg->tokens));
	for (t = strtok_r(copy, ", \t", &save); t && n < COLLECTOR_MAX_TOKENS;
	     t = strtok_r(NULL, ", \t", &save))
		tokens[n++] = t;
	return n;
}
