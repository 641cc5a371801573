/* action_election.c - --election: print the election view of the running
 * agent (every candidate's dataset and age, and the decision), read from
 * the state file it rewrites every round; --elect [SECONDS]: run the
 * election in the foreground (until SIGINT/SIGTERM, or SECONDS). */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agent.h"
#include "election/agent_election.h"
#include "base/log.h"
#include "time/timeutil.h"

static void print_holdover_freq(const json_t *h)
{
	const json_t *ppm = json_object_get(h, "ppm"), *a = json_object_get(h, "applied");

	if (!json_is_object(h))
		return;
	if (!json_is_true(json_object_get(h, "enabled"))) {
		printf("holdover frequency: off\n");
		return;
	}
	printf("holdover frequency: ");
	if (json_is_number(ppm))
		printf("%+.3f ppm", json_number_value(ppm));
	else
		printf("none yet");
	printf(" (%lld samples over %.0f s of following)", json_integer_value(json_object_get(h, "samples")),
	       json_number_value(json_object_get(h, "span_s")));
	if (json_is_object(a)) {
		printf("; applied %.0f s ago:", json_number_value(json_object_get(a, "ago_s")));
		if (json_is_number(json_object_get(a, "ppm")))
			printf(" chronyd %+.3f -> %+.3f ppm",
			       json_number_value(json_object_get(a, "chronyd_ppm")),
			       json_number_value(json_object_get(a, "ppm")));
		if (json_is_number(json_object_get(a, "phase_s")))
			printf(" phase %+.1f us", json_number_value(json_object_get(a, "phase_s")) * 1e6);
	}
	printf("\n");
}

static void print_dataset(const char *name, json_t *d, const char *mark, json_t *extra)
{
	char acc[32] = "unknown";
	double bound = json_real_value(json_object_get(d, "accuracy_bound_s"));

	if (bound > 0)
		timeutil_format_duration(bound, 0, acc, sizeof(acc));
	printf("%s %-16s %3d %-13s %3d %9s 0x%04x %3d %5d",
	       mark, name, (int)json_integer_value(json_object_get(d, "priority1")),
	       json_string_value(json_object_get(d, "class")),
	       (int)json_integer_value(json_object_get(d, "clock_class")), acc,
	       (unsigned)json_integer_value(json_object_get(d, "variance")),
	       (int)json_integer_value(json_object_get(d, "priority2")),
	       (int)json_integer_value(json_object_get(d, "steps_removed")));
	if (extra) {
		printf("  %-7s %-8s %6.1fs  %s",
		       json_is_true(json_object_get(extra, "serving")) ? "serving" : "-",
		       json_is_true(json_object_get(extra, "eligible")) ? "eligible" : "rejoining",
		       json_real_value(json_object_get(extra, "age_s")),
		       json_string_value(json_object_get(extra, "ntp")));
	}
	putchar('\n');
}

static void print_view(const struct agent_ctx *ctx, json_t *v)
{
	json_t *c, *u, *a = json_object_get(v, "announces"), *r = json_object_get(v, "rejoin");
	const char *m = json_string_value(json_object_get(v, "master"));
	size_t i;

	printf("election: %s; master %s%s (%s)\n", json_string_value(json_object_get(v, "state")),
	       m ? m : "none", json_is_true(json_object_get(v, "master_is_self")) ? " (this node)" : "",
	       json_string_value(json_object_get(v, "reason")));
	printf("  %-16s %3s %-13s %3s %9s %6s %3s %5s  %-7s %-8s %7s  %s\n", "NAME", "P1", "CLASS", "CC",
	       "ACC", "VAR", "P2", "STEPS", "SERVING", "STATE", "AGE", "NTP");
	print_dataset(ctx->cfg.host, json_object_get(v, "self"),
		      json_is_true(json_object_get(v, "master_is_self")) ? "*" : " ", NULL);
	json_array_foreach(json_object_get(v, "candidates"), i, c)
		print_dataset(json_string_value(json_object_get(c, "name")), json_object_get(c, "dataset"),
			      json_is_true(json_object_get(c, "master")) ? "*" : " ", c);
	printf("announces: ok %lld, unsigned %lld, stale %lld, replayed %lld, malformed %lld\n",
	       json_integer_value(json_object_get(a, "ok")), json_integer_value(json_object_get(a, "unsigned")),
	       json_integer_value(json_object_get(a, "stale")), json_integer_value(json_object_get(a, "replayed")),
	       json_integer_value(json_object_get(a, "malformed")));
	json_array_foreach(json_object_get(v, "upstreams"), i, u)
		printf("upstream %s: %s (offset %+.6f s)\n", json_string_value(json_object_get(u, "address")),
		       json_is_true(json_object_get(u, "offline")) ? "OFFLINE (insane)" : "online",
		       json_real_value(json_object_get(u, "offset_s")));
	printf("rejoin: %lld step(s), hold-off left %.0f s\n", json_integer_value(json_object_get(r, "steps")),
	       json_real_value(json_object_get(r, "holdoff_left_s")));
	print_holdover_freq(json_object_get(v, "holdover_freq"));
}

int agent_action_election(struct agent_ctx *ctx)
{
	const char *path = ctx->cfg.election.state_file;
	double stale = ctx->cfg.election.interval_s * ctx->cfg.election.timeout_intervals;
	json_error_t jerr;
	struct stat st;
	json_t *v;

	if (stat(path, &st) < 0) {
		log_err("%s: %s: no election view (is the agent running with [election] enabled?)",
			path, strerror(errno));
		return AGENT_EXIT_FAIL;
	}
	if (timeutil_now(CLOCK_REALTIME) - timeutil_ts_to_double(st.st_mtim) > fmax(stale, 3)) {
		log_err("%s: not updated for more than %.0f s: the election is not running", path,
			fmax(stale, 3));
		return AGENT_EXIT_FAIL;
	}
	if (!(v = json_load_file(path, 0, &jerr))) {
		log_err("%s: %s", path, jerr.text);
		return AGENT_EXIT_ERROR;
	}
	if (ctx->json) {
		json_dumpf(v, stdout, JSON_INDENT(2));
		putchar('\n');
	} else {
		print_view(ctx, v);
	}
	json_decref(v);
	return AGENT_EXIT_OK;
}

int agent_action_elect(struct agent_ctx *ctx)
{
	struct chrony_client *c = NULL;
	struct agent_election *e = NULL;
	double secs = ctx->argc == 1 ? strtod(ctx->argv[0], NULL) : INFINITY, end;
	struct timespec ts;
	sigset_t sigs;
	int rc, sig;

	if (ctx->argc > 1 || !(secs > 0)) {
		fprintf(stderr, "fleetclock-agent: --elect takes at most one argument, SECONDS > 0\n");
		return AGENT_EXIT_ERROR;
	}
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	if ((rc = agent_chrony_open(ctx, &c)) < 0 || (rc = agent_election_open(ctx, &e)) < 0 ||
	    (rc = agent_election_start(e)) < 0)
		goto out;
	/* The rounds run in the election's thread, as under --daemon. A
	 * SIGSTOP/SIGCONT (a debugger, an operator) interrupts the wait with
	 * EINTR: that is not a reason to leave. */
	end = timeutil_now(CLOCK_MONOTONIC) + fmin(secs, 1e9);
	do {
		double left = end - timeutil_now(CLOCK_MONOTONIC);

		if (left <= 0) {
			sig = 0;
			break;
		}
		ts = timeutil_double_to_ts(left);
		sig = sigtimedwait(&sigs, NULL, &ts);
	} while (sig < 0 && errno == EINTR);
	log_info("election: %s; leaving", sig > 0 ? strsignal(sig) : "time is up");
out:
	agent_election_close(e, c);
	chrony_client_close(c);
	return rc < 0 ? AGENT_EXIT_ERROR : AGENT_EXIT_OK;
}
