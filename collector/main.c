/* main.c - fleetclock-collector: parse the command line, load the
 * configuration, open the store, serve HTTP until SIGTERM or SIGINT. */
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "collector_config.h"
#include "fleetclock_config.h"
#include "http.h"
#include "base/log.h"
#include "store.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: fleetclock-collector [OPTIONS]\n"
		"\n"
		"Receives fleetclock status reports from agents, stores them in SQLite and\n"
		"serves the fleet view: /api/v1/fleet, /api/v1/hosts/HOST/history, /metrics\n"
		"and a dashboard at /.\n"
		"\n"
		"Options:\n"
		"  -c, --config FILE   configuration file (default %s)\n"
		"  -v, --verbose       more messages (repeat for debug)\n"
		"  -h, --help          this text\n"
		"  -V, --version       version\n"
		"\n"
		"Configuration options ([section] key = default):\n",
		COLLECTOR_DEFAULT_CONFIG);
	for (const struct config_option *o = collector_config_options; o->name; o++)
		fprintf(f, "  [%s] %s = %s\n      %s\n", o->section, o->name, o->def, o->help);
	fprintf(f, "\nExit status: 0 after SIGTERM/SIGINT, 2 usage, configuration or startup error.\n");
}

/* Each connection is a file descriptor: raise the soft limit on open files
 * to the hard one (systemd's default soft limit is 1024, under
 * max_connections plus the database's), and say when even that is short. */
static void raise_nofile(const struct collector_config *cfg)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)cfg->max_connections + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t old = rl.rlim_cur;

		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
			log_info("open files limit raised from %llu to %llu",
				 (unsigned long long)old, (unsigned long long)rl.rlim_cur);
		else
			rl.rlim_cur = old;
	}
	if (rl.rlim_cur < want)
		log_warn("open files limit %llu is under [limits] max_connections %d + 64: "
			    "raise it (LimitNOFILE= in the systemd unit, ulimit -n)",
			    (unsigned long long)rl.rlim_cur, cfg->max_connections);
}

/* Serve until a termination signal, then stop in order. */
static int serve(const struct collector_config *cfg)
{
	struct store_opts so = { cfg->db_path, cfg->retention_days,
				 !strcmp(cfg->synchronous, "full"), cfg->batch_max };
	struct store *store = NULL;
	struct http_server *http = NULL;
	char err[512];
	sigset_t set;
	int sig = 0;

	/* The fleet view of 10,000 hosts is a few MB: keep such buffers on the
	 * heap for reuse instead of a fresh, page-faulting mmap per request. */
	mallopt(M_MMAP_THRESHOLD, 64 << 20);
	mallopt(M_TRIM_THRESHOLD, 128 << 20);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);	/* every thread inherits the mask */
	signal(SIGPIPE, SIG_IGN);
	raise_nofile(cfg);
	if (store_open(&so, &store, err, sizeof(err)) < 0) {
		log_err("%s", err);
		return 2;
	}
	if (http_start(cfg, store, &http, err, sizeof(err)) < 0) {
		log_err("%s", err);
		store_close(store);
		return 2;
	}
	log_info("listening on %s:%d, database %s%s", cfg->listen_address, cfg->port, cfg->db_path,
		 cfg->tokens[0] || cfg->host_tokens.n ? ""
			: " (no tokens: reports are not authenticated)");
	fprintf(stderr, "fleetclock-collector: ready on %s:%d\n", cfg->listen_address, cfg->port);
	sigwait(&set, &sig);
	log_info("signal %d: stopping", sig);
	/* New connections stop; queued reports are committed and answered;
	 * reports still arriving on open connections get 503; then the HTTP
	 * threads stop before the store goes away. */
	http_quiesce(http);
	store_shutdown(store);
	http_stop(http);
	store_close(store);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *config_path = COLLECTOR_DEFAULT_CONFIG;
	bool config_explicit = false;
	struct collector_config cfg;
	char err[512];
	int c, verbose = 0;

	while ((c = getopt_long(argc, argv, "c:vhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; config_explicit = true; break;
		case 'v': verbose++; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("fleetclock-collector %s\n", FLEETCLOCK_VERSION); return 0;
		default: fprintf(stderr, "Try 'fleetclock-collector --help'.\n"); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "fleetclock-collector: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	log_init("fleetclock-collector", verbose >= 2 ? LOG_DEBUG : verbose ? LOG_INFO : LOG_WARNING,
		 false);
	if (collector_config_load(&cfg, config_path, config_explicit, err, sizeof(err)) < 0) {
		fprintf(stderr, "fleetclock-collector: %s\n", err);
		return 2;
	}
	c = serve(&cfg);
	collector_config_free(&cfg);
	return c;
}
