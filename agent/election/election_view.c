/* election_view.c - the election's view: the only author of the status
 * document's "election" section (docs/status-schema.md), also written to
 * the state file for --election. See election_priv.h. */
#include "election/election_priv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>

static json_t *build_view(const struct agent_election *e);

const char *ae_master_name(const struct agent_election *e)
{
	if (e->out.master == ELECTION_SELF)
		return e->ctx->cfg.host;
	if (e->out.master >= 0)
		return e->table.peers[e->cand_slot[e->out.master]].msg.name;
	return NULL;
}

/* Write the view for --election: temp file, then rename. */
static void write_state(struct agent_election *e, json_t *j)
{
	const char *path = e->cfg->state_file;
	char tmp[300];
	int rc = -ENOMEM;

	if (!path[0] || snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return;
	if (j)
		rc = json_dump_file(j, tmp, JSON_COMPACT) == 0 && rename(tmp, path) == 0 ? 0 : -errno;
	if (rc < 0)
		log_ratelimited(&e->rl_state, LOG_WARNING, "election: writing %s: %s", path,
				strerror(-rc));
}

/* The round's view: to the state file, and to other threads. */
void ae_publish(struct agent_election *e)
{
	json_t *v = build_view(e), *old;

	write_state(e, v);
	pthread_mutex_lock(&e->lock);
	old = e->view;
	e->view = v;
	e->reference = e->out.serve && e->out.master == ELECTION_SELF && e->out.eligible &&
		       bmca_class_may_serve(e->self.clock_class);
	pthread_mutex_unlock(&e->lock);
	json_decref(old);
}

static json_t *dataset_json(const struct bmca_dataset *d)
{
	char id[2 * BMCA_IDENTITY_LEN + 1];

	for (int i = 0; i < BMCA_IDENTITY_LEN; i++)
		snprintf(id + 2 * i, 3, "%02x", d->identity[i]);
	return json_pack("{s:i, s:i, s:s, s:i, s:f, s:i, s:i, s:s, s:i}",
			 "priority1", d->priority1, "clock_class", d->clock_class,
			 "class", bmca_class_name(d->clock_class), "accuracy", d->accuracy,
			 "accuracy_bound_s", isinf(bmca_accuracy_bound(d->accuracy)) ? -1.0
							: bmca_accuracy_bound(d->accuracy),
			 "variance", d->variance, "priority2", d->priority2, "identity", id,
			 "steps_removed", d->steps_removed);
}

static json_t *candidates_json(const struct agent_election *e)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < e->n_cands; i++) {
		const struct announce_peer *p = &e->table.peers[e->cand_slot[i]];
		char ntp[INET_ADDRSTRLEN + 8], host[INET_ADDRSTRLEN];
		uint16_t port;
		uint32_t a = htonl(ae_peer_ntp(e, e->cand_slot[i], &port));

		inet_ntop(AF_INET, &a, host, sizeof(host));
		snprintf(ntp, sizeof(ntp), "%s:%u", host, port);
		json_array_append_new(arr, json_pack("{s:s, s:o, s:b, s:b, s:f, s:b, s:s}",
			"name", p->msg.name, "dataset", dataset_json(&e->cands[i].ds),
			"serving", e->cands[i].serving, "eligible", e->cands[i].eligible,
			"age_s", e->cands[i].age_s, "master", (int)i == e->out.master, "ntp", ntp));
	}
	return arr;
}

static json_t *upstreams_json(const struct agent_election *e)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < e->n_ups; i++) {
		char host[INET_ADDRSTRLEN];
		uint32_t a = htonl(e->ups[i].in4);

		inet_ntop(AF_INET, &a, host, sizeof(host));
		json_array_append_new(arr, json_pack("{s:s, s:b, s:f}", "address", host,
			"offline", e->ups[i].q.offline, "offset_s", e->ups[i].offset_s));
	}
	return arr;
}

static json_t *rejoin_json(const struct agent_election *e)
{
	double left = e->el.state == ELECTION_REJOIN_HOLDOFF
		? fmax(0, e->el.holdoff_len - (now_clock(CLOCK_MONOTONIC) - e->el.holdoff_start)) : 0;

	return json_pack("{s:i, s:f, s:o, s:f}", "steps", e->el.steps, "last_step_s", e->last_step_s,
			 "last_offset_s", e->meas_rc == 0 ? json_real(-e->meas.offset_s) : json_null(),
			 "holdoff_left_s", left);
}

bool agent_election_reference(struct agent_election *e)
{
	bool r;

	if (!e)
		return false;
	pthread_mutex_lock(&e->lock);
	r = e->reference;
	pthread_mutex_unlock(&e->lock);
	return r;
}

json_t *agent_election_json(struct agent_election *e)
{
	json_t *v;

	pthread_mutex_lock(&e->lock);
	v = e->view ? json_deep_copy(e->view) : json_null();
	pthread_mutex_unlock(&e->lock);
	return v;
}

static json_t *holdover_freq_json(const struct agent_election *e)
{
	double now = now_clock(CLOCK_MONOTONIC);
	struct holdover_freq_estimate est;
	bool ok = holdover_freq_get(&e->hf, timeutil_now_ns(CLOCK_MONOTONIC_RAW), &est);
	json_t *applied = e->hf_applied || e->hp_applied
		? json_pack("{s:o, s:o, s:o, s:o, s:f}",
			    "ppm", e->hf_applied ? json_real(e->hf_ppm) : json_null(),
			    "chronyd_ppm", e->hf_applied ? json_real(e->hf_from_ppm) : json_null(),
			    "delta_ppm", e->hf_applied ? json_real(e->hf_delta_ppm) : json_null(),
			    "phase_s", e->hp_applied ? json_real(e->hp_ahead_s) : json_null(),
			    "ago_s", now - e->hf_mono)
		: json_null();

	return json_pack("{s:b, s:o, s:f, s:i, s:f, s:i, s:o}", "enabled", e->cfg->holdover_freq,
			 "ppm", ok ? json_real(est.ppm) : json_null(), "span_s", est.span_s,
			 "samples", (int)est.samples, "rms_s", est.rms_s, "resets", (int)e->hf.resets,
			 "applied", applied);
}

static json_t *build_view(const struct agent_election *e)
{
	const struct announce_counters *n = &e->table.count;
	const char *m = ae_master_name(e);
	json_t *self = dataset_json(&e->self);

	if (self)
		json_object_set_new(self, "error_bound_s",
				    isinf(e->error_bound) ? json_null() : json_real(e->error_bound));
	return json_pack("{s:s, s:s?, s:b, s:s, s:b, s:b, s:b, s:o, s:o, s:{s:I, s:I, s:I, s:I, s:I}, "
			 "s:o, s:o, s:o}",
		"state", election_state_name(e->out.state), "master", m,
		"master_is_self", e->out.master == ELECTION_SELF,
		"reason", e->out.reason ? e->out.reason : "", "serving", e->out.serve,
		"local_on", e->local_applied == 1, "eligible", e->out.eligible,
		"self", self, "candidates", candidates_json(e),
		"announces", "ok", (json_int_t)n->ok, "unsigned", (json_int_t)n->unsigned_,
		"stale", (json_int_t)n->stale, "replayed", (json_int_t)n->replayed,
		"malformed", (json_int_t)n->malformed,
		"upstreams", upstreams_json(e), "rejoin", rejoin_json(e),
		"holdover_freq", holdover_freq_json(e));
}
