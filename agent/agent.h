/* agent.h - what the actions of fleetclock-agent share: the command-line
 * context (one struct passed around, no globals) and exit codes. */
#ifndef FLEETCLOCK_AGENT_H
#define FLEETCLOCK_AGENT_H

#include <stdbool.h>

#include "agent_config.h"
#include "chrony/chrony_client.h"
#include "chrony/readiness.h"

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
	const char *at_time;	/* --at TIME / --wait-until TIME */
	const char *report_path;	/* --report FILE */
	bool rt;		/* --rt */
	bool late_ok;		/* --late-ok */
	bool arm;		/* --arm: start CMD early, gated (docs/start.md) */
	const char *arm_lead;	/* --arm LEAD: how long before TIME (NULL: at once) */
	const char *experiment;	/* --experiment ID: the start record's id (NULL: from TIME) */
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
/* RTC (action_rtc.c, action_hctosys.c): show, one discipline step, write
 * from the system clock, restore the system clock at boot. */
int agent_action_rtc_show(struct agent_ctx *ctx);
int agent_action_rtc_step(struct agent_ctx *ctx);
int agent_action_systohc(struct agent_ctx *ctx);
int agent_action_hctosys(struct agent_ctx *ctx);
int agent_action_makestep(struct agent_ctx *ctx);
int agent_action_measure(struct agent_ctx *ctx);
int agent_action_election(struct agent_ctx *ctx);
int agent_action_elect(struct agent_ctx *ctx);
/* The readiness thresholds of the [agent] and [check] configuration. */
void agent_check_limits(const struct agent_config *cfg, struct readiness_limits *lim);

/* A master candidate (master, failover) may serve its own clock. */
bool agent_role_may_serve(const struct agent_config *cfg);

/* What the RTC said, read once per run (an edge read takes up to 1.5 s). */
struct agent_rtc_view {
	enum readiness_rtc state;
	double offset;
	char detail[400];
};

/* Read the configured RTC for the readiness check. Never fails: errors are
 * a state. */
void agent_check_read_rtc(struct agent_ctx *ctx, struct agent_rtc_view *v);

/* The readiness check of --check (also --at's gate): snapshot chronyd
 * through c, evaluate with the [agent]/[check] limits and the RTC view
 * (NULL: the RTC is not checked). snap must outlive report. Never fails:
 * an unreachable chronyd is a verdict. */
void agent_check_evaluate(const struct agent_ctx *ctx, struct chrony_client *c,
			  const struct agent_rtc_view *rtc, struct chrony_snapshot *snap,
			  struct readiness_report *report);
/* --at TIME -- CMD: wait, then exec CMD in place (returns only on failure). */
int agent_action_at(struct agent_ctx *ctx);
/* --wait-until TIME: the same wait, no exec. */
int agent_action_wait_until(struct agent_ctx *ctx);
/* --daemon: report to the collector every interval until SIGTERM. */
int agent_action_daemon(struct agent_ctx *ctx);

#endif
