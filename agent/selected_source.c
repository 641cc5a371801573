/* selected_source.c - see selected_source.h. */
#include "selected_source.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "chrony/chrony_report.h"
#include "chrony/ntp_auth_query.h"
#include "report/status.h"

int selected_source_read(struct chrony_client *c, const struct chrony_snapshot *snap,
			 struct spread_sel *sel, struct ntp_auth_result *auth)
{
	const struct chrony_source *src = ntp_auth_selected(snap);
	struct chrony_ntp_data nd;
	int rc;

	memset(sel, 0, sizeof(*sel));
	memset(&nd, 0, sizeof(nd));
	rc = src ? chrony_client_ntp_data(c, &src->data.ip, &nd) : 0;
	if (auth)
		ntp_auth_from_reply(c, src, rc, &nd, auth);
	if (!src || rc < 0)
		return rc;
	if (!spread_reply_usable(nd.leap, nd.stratum))
		return 0;
	chrony_report_source_address(&src->data, sel->master, sizeof(sel->master));
	sel->master_root_delay_s = nd.root_delay;
	sel->master_root_dispersion_s = nd.root_dispersion;
	sel->hop_delay_s = nd.peer_delay;
	sel->hop_dispersion_s = nd.peer_dispersion;
	sel->have = true;
	return 0;
}

int selected_source_to_status(json_t *doc, const struct chrony_snapshot *snap,
			      const struct spread_sel *sel)
{
	json_t *chrony = json_object_get(doc, "chrony"), *o;
	struct spread_node n;
	double r;

	if (!json_is_object(chrony))
		return 0;
	o = status_build_selected(sel);
	if (!o || json_object_set_new(chrony, "selected", o) < 0)
		return -ENOMEM;
	n = status_spread_node(&snap->tracking, sel);
	r = spread_bound_relative(&n, NULL);
	return json_object_set_new(doc, "relative_error_s",
				   isfinite(r) ? json_real(r) : json_null()) < 0 ? -ENOMEM : 0;
}
