/* collector_config.h - fleetclock-collector's configuration
 * (/etc/fleetclock/collector.conf), one table line per option. */
#ifndef FLEETCLOCK_COLLECTOR_CONFIG_H
#define FLEETCLOCK_COLLECTOR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "base/config.h"
#include "host_tokens.h"

#define COLLECTOR_DEFAULT_CONFIG "/etc/fleetclock/collector.conf"
#define COLLECTOR_MAX_TOKENS 16

struct collector_config {
	/* [collector] */
	char listen_address[64];
	int port;
	char db_path[256];
	char tokens[1024];		/* comma-separated fleet tokens (any host) */
	char token_file[256];		/* "HOST TOKEN" lines: tokens bound to one host */
	int retention_days;
	double stale_after_s;
	double max_clock_skew_s;	/* flag |sent_at - received| above this; 0: off */
	double budget_ms;
	char synchronous[8];		/* full | normal */
	int fleet_cache_ms;		/* reuse the rendered fleet view this long */
	/* [limits] */
	int threads;
	int max_connections;
	int per_ip_connections;
	int connection_timeout_s;
	int request_timeout_s;
	int batch_max;
	/* loaded from token_file (not an option) */
	struct host_tokens host_tokens;
};

/* The option table (for docs and --help). */
extern const struct config_option collector_config_options[];

/* Defaults, then path (a missing file is an error only if path_explicit),
 * then the token_file it names. A file holding tokens must not be readable
 * by others, and the placeholder token CHANGE-ME is refused: both with a
 * message naming the file and what to do. Returns 0 or -errno with err
 * set; on success free with collector_config_free. */
int collector_config_load(struct collector_config *cfg, const char *path, bool path_explicit,
			  char *err, size_t errlen);

/* Free what collector_config_load allocated (the host tokens). */
void collector_config_free(struct collector_config *cfg);

/* Split cfg->tokens at commas into tokens[] (pointers into copy, which must
 * hold sizeof(cfg->tokens) bytes). Returns the number of tokens. */
int collector_config_tokens(const struct collector_config *cfg, char *copy,
			    const char *tokens[COLLECTOR_MAX_TOKENS]);

#endif
