/* main.c - fleetclock-agent: parse the command line, load the
 * configuration, run exactly one action. Everything else lives in one file
 * per concern (action_*.c). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "fleetclock_config.h"
#include "base/log.h"
#include "report/start_record.h"

struct action {
	const char *name;	/* the long option that selects it */
	agent_action_fn fn;
	const char *help;
};

static const struct action actions[] = {
	{ "status", agent_action_status, "chronyd's view of this clock and its sources (--json)" },
	{ "check", agent_action_check, "is this node ready? exit 0 ready, 1 not, 2 unknown (--fix, --json)" },
	{ "makestep", agent_action_makestep, "step the clock now by chronyd's current correction" },
	{ "election", agent_action_election, "the master election as this node sees it (--json)" },
	{ "elect", agent_action_elect, "run the master election in the foreground [SECONDS]" },
	{ "measure", agent_action_measure, "measure ADDR[:PORT]'s NTP time against this clock (one-shot)" },
	{ "rtc-show", agent_action_rtc_show, "the RTC: time, offset to the system clock (ms), drift, validity" },
	{ "rtc-step", agent_action_rtc_step, "one RTC discipline step: measure, rewrite past the threshold" },
	{ "systohc", agent_action_systohc, "write the RTC at the second boundary (chronyd synchronised)" },
	{ "hctosys", agent_action_hctosys, "boot: set the system clock from the RTC, drift taken out" },
	{ "daemon", agent_action_daemon, "report status to the collector every interval (spooling when it is down)" },
	{ "print-config", agent_action_print_config, "print the effective configuration" },
	{ NULL, NULL, NULL }
};

enum {
	OPT_ACTION = 0x100,	/* OPT_ACTION + index into actions[] */
	OPT_JSON = 0x200,
	OPT_FORCE,
	OPT_DRY_RUN,
	OPT_FIX,
	OPT_SOCKET,
	OPT_AT,
	OPT_WAIT_UNTIL,
	OPT_REPORT,
	OPT_RT,
	OPT_LATE_OK,
	OPT_ARM,
	OPT_EXPERIMENT,
};

/* Actions that take an argument: chosen by their fixed long option. */
static const struct action at_action = { "at", agent_action_at, NULL };
static const struct action wait_until_action = { "wait-until", agent_action_wait_until, NULL };

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: fleetclock-agent [OPTIONS] ACTION\n"
		"\n"
		"Keeps this node's clock in step with the fleet through chronyd.\n"
		"\n"
		"Actions:\n");
	for (const struct action *a = actions; a->name; a++)
		fprintf(f, "  --%-22s %s\n", a->name, a->help);
	fprintf(f,
		"  --at TIME -- CMD [ARGS]  start CMD at TIME: wait, then exec it in place (same\n"
		"                           PID; its signals and exit status pass through)\n"
		"  --wait-until TIME        the same wait without a command (for shell scripts)\n"
		"\n"
		"TIME: 2026-11-21T20:00:10.250Z or +02:00 offsets (RFC 3339), epoch seconds\n"
		"1795291210.25, +DURATION (+10s +1.5s +250ms +2m +1m30s), or :SS = second SS of\n"
		"the next minute (:10). Before waiting, the node must pass --check (chronyd\n"
		"synchronised, estimated error within [agent] budget_ms, ...; else exit 1;\n"
		"--force skips this), and TIME must not be more than [agent] late_tolerance_ms\n"
		"in the past. The wait follows clock steps (logged). CMD not found: exit 127;\n"
		"not executable: 126.\n"
		"      --rt                 wait with SCHED_FIFO priority 50 and locked memory\n"
		"                           (root or CAP_SYS_NICE); CMD keeps SCHED_FIFO 50, as\n"
		"                           under chrt -f 50: for commands that block or finish\n"
		"      --arm [LEAD]         with --at: start CMD now (or LEAD before TIME: 5s,\n"
		"                           500ms) so it can set up, with TIME in its environment\n"
		"                           (FLEETCLOCK_START_AT_NS, FLEETCLOCK_START_AT) and a\n"
		"                           pipe (FLEETCLOCK_READY_FD); CMD waits on a gate\n"
		"                           (libfleetclock-gate, Python module fleetclock, or\n"
		"                           --wait-until \"$FLEETCLOCK_START_AT\") released at\n"
		"                           TIME; the agent stays CMD's parent, reports CMD's\n"
		"                           ready time and slack, and a late start (ready after\n"
		"                           TIME) clearly. See docs/start.md\n"
		"      --late-ok            start even when TIME is already past\n"
		"      --report FILE        append one JSON line: target, actual start, error,\n"
		"                           chronyd's error bound\n"
		"      --experiment ID      with --at: the id of the start record sent to the\n"
		"                           collector ([collector] url; spooled for --daemon when\n"
		"                           it does not answer); default: TIME in RFC 3339 with ms\n"
		"                           (give it with a relative TIME: +10s differs per node).\n"
		"                           With --wait-until (not under --arm): send a start\n"
		"                           record of that id too; without it none is sent\n"
		"\n"
		"Options:\n"
		"  -c, --config FILE        configuration file (default %s)\n"
		"      --socket PATH        chronyd command socket (overrides [chrony] socket)\n"
		"      --json               machine-readable output (one JSON document)\n"
		"      --force              do it even when a safety check says no\n"
		"      --dry-run            print what would be done, change nothing\n"
		"      --fix                with --check: burst, step, wait until within budget\n"
		"  -v, --verbose            more messages (repeat for debug)\n"
		"  -h, --help               this text\n"
		"  -V, --version            version\n"
		"\n"
		"Exit status: 0 success, 1 chronyd or the device reported a failure\n"
		"(or the node is not ready), 2 usage, configuration or connection error.\n"
		"See fleetclock-agent(8).\n",
		AGENT_DEFAULT_CONFIG);
}

static struct option *build_longopts(void)
{
	static const struct option fixed[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, OPT_SOCKET },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "fix", no_argument, NULL, OPT_FIX },
		{ "at", required_argument, NULL, OPT_AT },
		{ "wait-until", required_argument, NULL, OPT_WAIT_UNTIL },
		{ "report", required_argument, NULL, OPT_REPORT },
		{ "rt", no_argument, NULL, OPT_RT },
		{ "arm", optional_argument, NULL, OPT_ARM },
		{ "late-ok", no_argument, NULL, OPT_LATE_OK },
		{ "experiment", required_argument, NULL, OPT_EXPERIMENT },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
	};
	size_t nfixed = sizeof(fixed) / sizeof(fixed[0]), nact = 0;
	struct option *o;

	while (actions[nact].name)
		nact++;
	o = calloc(nfixed + nact + 1, sizeof(*o));
	if (!o)
		return NULL;
	memcpy(o, fixed, sizeof(fixed));
	for (size_t i = 0; i < nact; i++)
		o[nfixed + i] = (struct option){ actions[i].name, no_argument, NULL, OPT_ACTION + (int)i };
	return o;
}

/* Select a; false (with a message) when another action was chosen. */
static bool choose_action(const struct action **action, const struct action *a)
{
	if (*action) {
		fprintf(stderr, "fleetclock-agent: --%s and --%s: choose one action\n",
			(*action)->name, a->name);
		return false;
	}
	*action = a;
	return true;
}

int main(int argc, char **argv)
{
	struct agent_ctx ctx = { .config_path = AGENT_DEFAULT_CONFIG };
	const struct action *action = NULL;
	const char *socket_override = NULL;
	bool config_explicit = false;
	struct option *longopts = build_longopts();
	char err[512];
	int c;

	if (!longopts) {
		fprintf(stderr, "fleetclock-agent: out of memory\n");
		return AGENT_EXIT_ERROR;
	}
	while ((c = getopt_long(argc, argv, "c:vhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': ctx.config_path = optarg; config_explicit = true; break;
		case OPT_SOCKET: socket_override = optarg; break;
		case OPT_JSON: ctx.json = true; break;
		case OPT_FORCE: ctx.force = true; break;
		case OPT_DRY_RUN: ctx.dry_run = true; break;
		case OPT_FIX: ctx.fix = true; break;
		case OPT_REPORT: ctx.report_path = optarg; break;
		case OPT_RT: ctx.rt = true; break;
		case OPT_LATE_OK: ctx.late_ok = true; break;
		case OPT_EXPERIMENT: ctx.experiment = optarg; break;
		case OPT_ARM:
			/* --arm LEAD as well as --arm=LEAD: a next word that
			 * starts like a duration is the LEAD. */
			ctx.arm = true;
			ctx.arm_lead = optarg;
			if (!optarg && optind < argc && strchr("+.0123456789", argv[optind][0]) &&
			    argv[optind][0])
				ctx.arm_lead = argv[optind++];
			break;
		case OPT_AT:
		case OPT_WAIT_UNTIL:
			ctx.at_time = optarg;
			if (!choose_action(&action, c == OPT_AT ? &at_action : &wait_until_action)) {
				free(longopts);
				return AGENT_EXIT_ERROR;
			}
			break;
		case 'v': ctx.verbose++; break;
		case 'h': usage(stdout); free(longopts); return AGENT_EXIT_OK;
		case 'V':
			printf("fleetclock-agent %s\n", FLEETCLOCK_VERSION);
			free(longopts);
			return AGENT_EXIT_OK;
		default:
			if (c >= OPT_ACTION && c < OPT_JSON) {
				if (action) {
					fprintf(stderr, "fleetclock-agent: --%s and --%s: choose one action\n",
						action->name, actions[c - OPT_ACTION].name);
					free(longopts);
					return AGENT_EXIT_ERROR;
				}
				action = &actions[c - OPT_ACTION];
				break;
			}
			fprintf(stderr, "Try 'fleetclock-agent --help'.\n");
			free(longopts);
			return AGENT_EXIT_ERROR;
		}
	}
	free(longopts);
	ctx.argc = argc - optind;
	ctx.argv = argv + optind;
	log_init("fleetclock-agent", ctx.verbose >= 2 ? LOG_DEBUG : ctx.verbose ? LOG_INFO : LOG_WARNING,
		 false);
	if (!action) {
		fprintf(stderr, "fleetclock-agent: no action given\n");
		usage(stderr);
		return AGENT_EXIT_ERROR;
	}
	if (ctx.arm && action != &at_action) {
		fprintf(stderr, "fleetclock-agent: --arm goes with --at TIME -- CMD\n");
		return AGENT_EXIT_ERROR;
	}
	if (ctx.experiment && ((action != &at_action && action != &wait_until_action) ||
			       !start_experiment_ok(ctx.experiment))) {
		fprintf(stderr, "fleetclock-agent: --experiment ID goes with --at or --wait-until, "
			"ID 1-63 letters, "
			"digits, '-', '_', '.', ':' or '+' (not starting with - or .)\n");
		return AGENT_EXIT_ERROR;
	}
	if (agent_config_load(&ctx.cfg, ctx.config_path, config_explicit, err, sizeof(err)) < 0) {
		fprintf(stderr, "fleetclock-agent: %s\n", err);
		return AGENT_EXIT_ERROR;
	}
	if (socket_override) {
		if (strlen(socket_override) >= sizeof(ctx.cfg.chrony_socket)) {
			fprintf(stderr, "fleetclock-agent: --socket: path longer than %zu characters\n",
				sizeof(ctx.cfg.chrony_socket) - 1);
			return AGENT_EXIT_ERROR;
		}
		strcpy(ctx.cfg.chrony_socket, socket_override);
	}
	return action->fn(&ctx);
}
