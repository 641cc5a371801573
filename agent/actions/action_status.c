/* action_status.c - --status: what chronyd says about this node's clock,
 * as a table or (--json) one JSON document. */
#include <jansson.h>
#include <math.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "agent.h"
#include "chrony/chrony_client.h"
#include "chrony/chrony_report.h"
#include "base/log.h"
#include "time/timeutil.h"

static void print_tracking(const struct chrony_tracking *t, const char *endpoint)
{
	char refid[16], addr[64], d1[32], d2[32], ref[40];
	double offset = -t->current_correction;
	const char *a = chrony_report_tracking_address(t, addr, sizeof(addr));

	printf("chronyd          %s\n", endpoint);
	printf("Reference        %s (%s), stratum %u\n", a ? a : "none",
	       chrony_wire_refid_str(t->ref_id, refid, sizeof(refid)), t->stratum);
	printf("Reference time   %s\n",
	       t->ref_time.tv_sec ? timeutil_format_rfc3339(t->ref_time, 3, ref, sizeof(ref)) : "never");
	printf("Leap status      %s\n", chrony_wire_leap_str(t->leap_status));
	printf("System time      %s %s the reference\n",
	       timeutil_format_duration(fabs(offset), 0, d1, sizeof(d1)),
	       offset >= 0 ? "ahead of" : "behind");
	printf("Last offset      %s\n", timeutil_format_duration(t->last_offset, 1, d1, sizeof(d1)));
	printf("RMS offset       %s\n", timeutil_format_duration(t->rms_offset, 0, d1, sizeof(d1)));
	printf("Frequency        %.3f ppm %s\n", fabs(t->freq_ppm), t->freq_ppm >= 0 ? "fast" : "slow");
	printf("Residual freq    %+.3f ppm\n", t->resid_freq_ppm);
	printf("Skew             %.3f ppm\n", t->skew_ppm);
	printf("Root delay       %s\n", timeutil_format_duration(t->root_delay, 0, d1, sizeof(d1)));
	printf("Root dispersion  %s\n", timeutil_format_duration(t->root_dispersion, 0, d1, sizeof(d1)));
	printf("Update interval  %.1f s\n", t->last_update_interval);
	printf("Max error        %s (|offset| + root delay/2 + root dispersion)\n",
	       timeutil_format_duration(chrony_tracking_max_error(t), 0, d2, sizeof(d2)));
	printf("Synchronised     %s\n", chrony_tracking_synchronised(t) ? "yes" : "no");
}

static void print_sources(const struct chrony_snapshot *snap)
{
	char off[32], err[32], rx[16];

	printf("\n  S Name                            Str Poll Reach LastRx      Offset       Error\n");
	for (uint32_t i = 0; i < snap->n_sources; i++) {
		const struct chrony_source *s = &snap->sources[i];
		const struct chrony_source_data *d = &s->data;

		if (d->since_sample == CHRONY_NO_SAMPLE)
			snprintf(rx, sizeof(rx), "-");
		else
			snprintf(rx, sizeof(rx), "%us", (unsigned)d->since_sample);
		printf("  %s %-31.31s %3u %4d %5o %6s %11s %11s\n", chrony_report_state_char(d->state), s->name,
		       d->stratum, d->poll, d->reachability, rx,
		       timeutil_format_duration(d->latest_meas, 1, off, sizeof(off)),
		       timeutil_format_duration(d->latest_meas_err, 0, err, sizeof(err)));
	}
	if (!snap->n_sources)
		printf("  (no sources)\n");
}

int agent_action_status(struct agent_ctx *ctx)
{
	struct chrony_snapshot *snap = calloc(1, sizeof(*snap));
	struct chrony_client *c = NULL;
	int rc = -ENOMEM;

	if (!snap || (rc = agent_chrony_open(ctx, &c)) < 0)
		goto out;
	rc = chrony_client_snapshot(c, snap);
	if (rc < 0) {
		log_err("%s", chrony_client_error(c));
		goto out;
	}
	if (ctx->json) {
		json_t *doc = chrony_report_json(snap, CHRONY_REPORT_CLI);

		if (!doc || json_object_set_new(doc, "endpoint", json_string(chrony_client_endpoint(c))) < 0 ||
		    json_dumpf(doc, stdout, JSON_INDENT(2)) < 0) {
			json_decref(doc);
			rc = -ENOMEM;
			log_err("cannot write the status as JSON");
			goto out;
		}
		putchar('\n');
		json_decref(doc);
	} else {
		print_tracking(&snap->tracking, chrony_client_endpoint(c));
		print_sources(snap);
	}
out:
	chrony_client_close(c);
	free(snap);
	return agent_chrony_exit_code(rc);
}
