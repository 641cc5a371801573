/* status_election.c - the status document's "election" section: its
 * fields as the election's view writes them (agent/election/
 * election_view.c) and docs/status-schema.md describes them. */
#include <stdio.h>
#include <string.h>

#include "report/status.h"
#include "report/status_fields.h"

const char *const status_election_states[] = { "listening", "rejoin-measure", "rejoin-holdoff",
					       "following", "serving", NULL };

#define MAX_LIST 64	/* candidates, upstreams: more than any fleet has */

static const struct vfield election_fields[] = {
	{ "state", V_STR, true, false, 1, 32, status_election_states },
	{ "master", V_STR, true, true, 0, 64, NULL },
	{ "master_is_self", V_BOOL, false, false, 0, 0, NULL },
	{ "reason", V_STR, false, false, 0, 512, NULL },
	{ "serving", V_BOOL, true, false, 0, 0, NULL },
	{ "local_on", V_BOOL, false, false, 0, 0, NULL },
	{ "eligible", V_BOOL, true, false, 0, 0, NULL },
	{ "self", V_OBJ, false, false, 0, 0, NULL },
	{ "candidates", V_ARR, false, false, 0, MAX_LIST, NULL },
	{ "announces", V_OBJ, false, false, 0, 0, NULL },
	{ "upstreams", V_ARR, false, false, 0, MAX_LIST, NULL },
	{ "rejoin", V_OBJ, false, false, 0, 0, NULL },
	{ "holdover_freq", V_OBJ, false, false, 0, 0, NULL },
	{ NULL, V_ANY, false, false, 0, 0, NULL }
};

static const struct vfield dataset_fields[] = {
	{ "priority1", V_INT, true, false, 0, 255, NULL },
	{ "clock_class", V_INT, true, false, 0, 255, NULL },
	{ "class", V_STR, false, false, 0, 32, NULL },
	{ "accuracy", V_INT, true, false, 0, 255, NULL },
	{ "accuracy_bound_s", V_NUM, false, false, -1, BIG, NULL },
	{ "variance", V_INT, true, false, 0, 65535, NULL },
	{ "priority2", V_INT, true, false, 0, 255, NULL },
	{ "identity", V_STR, true, false, 1, 64, NULL },
	{ "steps_removed", V_INT, true, false, 0, 65535, NULL },
	{ "error_bound_s", V_NUM, false, true, -BIG, BIG, NULL },
	{ NULL, V_ANY, false, false, 0, 0, NULL }
};

static const struct vfield candidate_fields[] = {
	{ "name", V_STR, true, false, 0, 64, NULL },
	{ "dataset", V_OBJ, true, false, 0, 0, NULL },
	{ "serving", V_BOOL, true, false, 0, 0, NULL },
	{ "eligible", V_BOOL, true, false, 0, 0, NULL },
	{ "age_s", V_NUM, false, false, -BIG, BIG, NULL },
	{ "master", V_BOOL, false, false, 0, 0, NULL },
	{ "ntp", V_STR, false, false, 0, 64, NULL },
	{ NULL, V_ANY, false, false, 0, 0, NULL }
};

static const struct vfield announces_fields[] = {
	{ "ok", V_INT, true, false, 0, 1e18, NULL },
	{ "unsigned", V_INT, true, false, 0, 1e18, NULL },
	{ "stale", V_INT, true, false, 0, 1e18, NULL },
	{ "replayed", V_INT, true, false, 0, 1e18, NULL },
	{ "malformed", V_INT, true, false, 0, 1e18, NULL },
	{ NULL, V_ANY, false, false, 0, 0, NULL }
};

static const struct vfield upstream_fields[] = {
	{ "address", V_STR, true, false, 1, 64, NULL },
	{ "offline", V_BOOL, true, false, 0, 0, NULL },
	{ "offset_s", V_NUM, true, false, -BIG, BIG, NULL },
	{ NULL, V_ANY, false, false, 0, 0, NULL }
};

static const struct vfield rejoin_fields[] = {
	{ "steps", V_INT, true, false, 0, 1e9, NULL },
	{ "last_step_s", V_NUM, true, false, -BIG, BIG, NULL },
	{ "last_offset_s", V_NUM, true, true, -BIG, BIG, NULL },
	{ "holdoff_left_s", V_NUM, true, false, 0, BIG, NULL },
	{ NULL, V_ANY, false, false, 0, 0, NULL }
};

static const struct vfield holdover_fields[] = {
	{ "enabled", V_BOOL, true, false, 0, 0, NULL },
	{ "ppm", V_NUM, true, true, -1e6, 1e6, NULL },
	{ "span_s", V_NUM, false, false, -BIG, BIG, NULL },
	{ "samples", V_INT, false, false, 0, 1e9, NULL },
	{ "rms_s", V_NUM, false, false, -BIG, BIG, NULL },
	{ "resets", V_INT, false, false, 0, 1e9, NULL },
	{ "applied", V_OBJ, false, true, 0, 0, NULL },
	{ NULL, V_ANY, false, false, 0, 0, NULL }
};

static const struct vfield applied_fields[] = {
	{ "ppm", V_NUM, true, true, -1e6, 1e6, NULL },
	{ "chronyd_ppm", V_NUM, true, true, -1e6, 1e6, NULL },
	{ "delta_ppm", V_NUM, true, true, -1e6, 1e6, NULL },
	{ "phase_s", V_NUM, true, true, -BIG, BIG, NULL },
	{ "ago_s", V_NUM, true, false, -BIG, BIG, NULL },
	{ NULL, V_ANY, false, false, 0, 0, NULL }
};

/* obj.key, when it is an object, against fields. */
static int check_sub(json_t *obj, const char *prefix, const char *key,
		     const struct vfield *fields, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	char path[160];

	if (!json_is_object(v))
		return 0;
	snprintf(path, sizeof(path), "%s.%s", prefix, key);
	return status_check_fields(v, path, fields, err, errlen);
}

/* Every element of obj.key (an array) an object matching fields; each
 * one's sub-object subkey (when given) matching subfields. */
static int check_list(json_t *obj, const char *key, const struct vfield *fields,
		      const char *subkey, const struct vfield *subfields, char *err, size_t errlen)
{
	json_t *arr = json_object_get(obj, key), *x;
	char path[96];
	size_t i;
	int rc;

	json_array_foreach(arr, i, x) {
		snprintf(path, sizeof(path), "election.%s[%zu]", key, i);
		if (!json_is_object(x)) {
			snprintf(err, errlen, "%s: expected an object", path);
			return STATUS_ESCHEMA;
		}
		if ((rc = status_check_fields(x, path, fields, err, errlen)) ||
		    (subkey && (rc = check_sub(x, path, subkey, subfields, err, errlen))))
			return rc;
	}
	return 0;
}

int status_check_election(json_t *e, char *err, size_t errlen)
{
	json_t *hf = json_object_get(e, "holdover_freq");
	int rc;

	if ((rc = status_check_fields(e, "election", election_fields, err, errlen)) ||
	    (rc = check_sub(e, "election", "self", dataset_fields, err, errlen)) ||
	    (rc = check_list(e, "candidates", candidate_fields, "dataset", dataset_fields, err,
			     errlen)) ||
	    (rc = check_sub(e, "election", "announces", announces_fields, err, errlen)) ||
	    (rc = check_list(e, "upstreams", upstream_fields, NULL, NULL, err, errlen)) ||
	    (rc = check_sub(e, "election", "rejoin", rejoin_fields, err, errlen)) ||
	    (rc = check_sub(e, "election", "holdover_freq", holdover_fields, err, errlen)) ||
	    (rc = check_sub(hf, "election.holdover_freq", "applied", applied_fields, err, errlen)))
		return rc;
	return 0;
}
