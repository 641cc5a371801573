/* agent.h - what the actions of fleetclock-agent share: the command-line
 * context (one struct passed around, no globals) and exit codes. */
#ifndef FLEETCLOCK_AGENT_H
#define FLEETCLOCK_AGENT_H

#include <stdbool.h>

#include "agent_config.h"
#include "chrony_client.h"

enum agent_exit {
	AGENT_EXIT_OK = 0,	/* done / ready */
	AGENT_EXIT_FAIL = 1,	/* chronyd (or the device) reported a failure / not ready */
	AGENT_EXIT_ERROR = 2,	/* usage, configuration or connection error */
};

struct agent_ctx {
	struct agent_config cfg;
	const char *config_path;
	bool json;		/* --json */
	bool force;		/* --force */
	bool dry_run;		/* --dry-run */
	bool fix;		/* --fix (with --check) */
	int verbose;		/* -v, repeatable */
	int argc;		/* words after "--" */
	char **argv;
};

/* An action selected on the command line; returns an enum agent_exit. */
typedef int (*agent_action_fn)(struct agent_ctx *ctx);

/* Open a chronyd client from the [chrony] configuration. 0 or -errno
 * (logged). */
int agent_chrony_open(const struct agent_ctx *ctx, struct chrony_client **out);

/* The exit code for a chrony_client_* result: 0 ok, 1 chronyd reported a
 * failure (-EREMOTEIO), 2 anything else (connection, protocol). */
int agent_chrony_exit_code(int rc);

int agent_action_print_config(struct agent_ctx *ctx);
int agent_action_status(struct agent_ctx *ctx);
int agent_action_check(struct agent_ctx *ctx);
int agent_action_makestep(struct agent_ctx *ctx);

#endif
