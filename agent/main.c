/* main.c - fleetclock-agent: parse the command line, load the
 * configuration, run exactly one action. Everything else lives in one file
 * per concern (action_*.c). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "fleetclock_config.h"
#include "log.h"

struct action {
	const char *name;	/* the long option that selects it */
	agent_action_fn fn;
	const char *help;
};

static const struct action actions[] = {
	{ "status", agent_action_status, "chronyd's view of this clock and its sources (--json)" },
	{ "check", agent_action_check, "is this node ready? exit 0 ready, 1 not, 2 unknown (--fix, --json)" },
	{ "makestep", agent_action_makestep, "step the clock now by chronyd's current correction" },
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
};

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
