/* agent_chrony.c - open a chronyd client as the configuration says. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "base/log.h"

int agent_chrony_open(const struct agent_ctx *ctx, struct chrony_client **out)
{
	const struct agent_config *cfg = &ctx->cfg;
	struct chrony_client_opts opts = {
		.socket_path = cfg->chrony_socket,
		.udp_host = cfg->chrony_udp_host,
		.udp_port = cfg->chrony_udp_port,
		.timeout_ms = cfg->chrony_timeout_ms,
		.max_attempts = cfg->chrony_attempts,
		.transport = !strcmp(cfg->chrony_transport, "unix") ? CHRONY_TRANSPORT_UNIX
			   : !strcmp(cfg->chrony_transport, "udp") ? CHRONY_TRANSPORT_UDP
								   : CHRONY_TRANSPORT_AUTO,
	};
	int rc = chrony_client_open(&opts, out);

	if (rc < 0)
		log_err("cannot set up a chronyd client for %s: %s", cfg->chrony_socket, strerror(-rc));
	return rc;
}

int agent_chrony_exit_code(int rc)
{
	if (rc == 0)
		return AGENT_EXIT_OK;
	return rc == -EREMOTEIO ? AGENT_EXIT_FAIL : AGENT_EXIT_ERROR;
}
