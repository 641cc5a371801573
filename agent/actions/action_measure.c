/* action_measure.c - --measure ADDR[:PORT]: measure an NTP server's time
 * against this clock with the agent's own one-shot client (several
 * samples, minimum delay), as the rejoin guard and the upstream quarantine
 * do. Changes nothing. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "base/log.h"
#include "election/ntp_query.h"
#include "time/timeutil.h"

static int parse_target(const char *arg, char *host, size_t hlen, uint16_t *port)
{
	const char *colon = strchr(arg, ':');
	size_t n = colon ? (size_t)(colon - arg) : strlen(arg);
	char *end;
	long p = 123;

	if (n == 0 || n >= hlen)
		return -EINVAL;
	memcpy(host, arg, n);
	host[n] = '\0';
	if (colon) {
		p = strtol(colon + 1, &end, 10);
		if (*end || p < 1 || p > 65535)
			return -EINVAL;
	}
	*port = (uint16_t)p;
	return 0;
}

static void print_result(const struct agent_ctx *ctx, const char *host, uint16_t port,
			 const struct ntp_query_result *r)
{
	char a[32], b[32], c[32];

	if (ctx->json) {
		json_t *o = json_pack("{s:s, s:i, s:i, s:i, s:f, s:f, s:f, s:i, s:i}", "server", host,
				      "port", port, "sent", r->sent, "good", r->good,
				      "offset_s", r->offset_s, "delay_s", r->delay_s,
				      "error_s", r->error_s, "stratum", r->stratum, "leap", r->leap);

		if (o) {
			json_dumpf(o, stdout, JSON_COMPACT);
			putchar('\n');
			json_decref(o);
		}
		return;
	}
	printf("%s:%u: server %s this clock (delay %s, error %s; %d of %d replies, stratum %d)\n",
	       host, port, timeutil_format_duration(r->offset_s, 1, a, sizeof(a)),
	       timeutil_format_duration(r->delay_s, 0, b, sizeof(b)),
	       timeutil_format_duration(r->error_s, 0, c, sizeof(c)), r->good, r->sent, r->stratum);
}

int agent_action_measure(struct agent_ctx *ctx)
{
	struct ntp_query_opts o = { .samples = 8 };
	struct ntp_query_result r;
	char host[64], err[256];
	uint16_t port;

	if (ctx->argc != 1 || parse_target(ctx->argv[0], host, sizeof(host), &port) < 0) {
		fprintf(stderr, "fleetclock-agent: --measure needs one ADDR[:PORT] (IPv4)\n");
		return AGENT_EXIT_ERROR;
	}
	o.server = host;
	o.port = port;
	if (ntp_query(&o, &r, err, sizeof(err)) < 0) {
		log_err("%s", err);
		return AGENT_EXIT_FAIL;
	}
	print_result(ctx, host, port, &r);
	return AGENT_EXIT_OK;
}
