/* rtc_discipline.c - see rtc_discipline.h */
#include "rtc/rtc_discipline.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "time/timeutil.h"

const char *rtc_discipline_action_name(enum rtc_disc_action a)
{
	switch (a) {
	case RTC_DISC_KEEP: return "keep";
	case RTC_DISC_REWRITE: return "rewrite";
	case RTC_DISC_WAIT_SYNC: return "wait-sync";
	case RTC_DISC_FAULT: return "fault";
	}
	return "?";
}

void rtc_discipline_decide(const struct rtc_disc_input *in, struct rtc_disc_decision *out)
{
	*out = (struct rtc_disc_decision){ RTC_DISC_KEEP, false, "" };
	if (!in->readable && in->valid) {
		out->action = RTC_DISC_FAULT;
		out->why = "the RTC cannot be read; trying again next interval";
	} else if (!in->readable) {
		out->action = in->synchronised ? RTC_DISC_REWRITE : RTC_DISC_WAIT_SYNC;
		out->why = in->synchronised ? "the RTC time is invalid: restoring it from the synchronised clock"
					    : "the RTC time is invalid and the system clock is not "
					      "synchronised: nothing trustworthy to write yet";
	} else if (!in->synchronised) {
		out->why = "the system clock is not synchronised: no drift sample, no write";
	} else if (fabs(in->offset) > in->threshold) {
		out->action = RTC_DISC_REWRITE;
		out->add_sample = true;
		out->why = "the RTC offset exceeds the threshold: rewriting at the second boundary";
	} else {
		out->add_sample = true;
		out->why = "the RTC is within the threshold";
	}
}

/* Re-estimate the drift from the samples; flag it valid when good enough. */
static void update_drift(struct rtc_store *s, const struct rtc_disc_params *p,
			 struct rtc_disc_report *rep)
{
	rep->have_drift = drift_estimate(s->samples, s->n_samples, &rep->drift) == 0;
	if (!rep->have_drift || s->rec_rc != 0)
		return;
	if (rep->drift.unc_ppm <= p->drift_max_unc_ppm) {
		s->rec.drift_ppm = rep->drift.ppm;
		s->rec.drift_unc_ppm = rep->drift.unc_ppm;
		s->rec.flags |= DS1307_RECORD_DRIFT_VALID;
	}
}

static void set_reference(struct rtc_store *s, const struct rtc_edge *e)
{
	if (s->rec_rc != 0) {
		memset(&s->rec, 0, sizeof(s->rec));
		s->rec_rc = 0;
	}
	s->rec.flags |= DS1307_RECORD_TIME_VALID;
	s->rec.ref_sec = e->sys.tv_sec;
	s->rec.ref_nsec = (uint32_t)e->sys.tv_nsec;
	s->rec.ref_offset = e->offset;
}

static int fail(struct rtc_disc_report *rep, int rc, const char *msg)
{
	rep->rc = rc;
	snprintf(rep->err, sizeof(rep->err), "%s", msg);
	return rc;
}

/* Set at the boundary and measure the result; a second try when the
 * verification shows the write missed (descheduled in the middle). */
static int set_and_verify(struct rtc_dev *d, const struct rtc_disc_params *p,
			  struct rtc_disc_report *rep)
{
	int rc;

	for (int i = 0; i < RTC_DISC_SET_TRIES; i++) {
		rc = rtc_sync_set_at_boundary(d, &rep->set);
		if (rc < 0)
			return fail(rep, rc, rtc_error(d));
		rep->wrote = true;
		rc = rtc_sync_read_edge(d, p->edge_timeout_ms, &rep->verify);
		if (rc < 0)
			return fail(rep, rc, rtc_error(d));
		rep->have_verify = true;
		if (fabs(rep->verify.offset) <= RTC_DISC_GOOD_SET)
			break;
	}
	return 0;
}

int rtc_discipline_rewrite(struct rtc_dev *d, const struct rtc_disc_params *p,
			   struct rtc_store *store, struct rtc_disc_report *rep)
{
	char err[320];
	int rc = set_and_verify(d, p, rep);

	if (!rep->wrote)
		return rc;
	store->segment++;
	if (store->rec_rc != 0) {
		memset(&store->rec, 0, sizeof(store->rec));
		store->rec_rc = 0;
	}
	store->rec.last_set = rep->set.target;
	if (rc < 0) {
		/* Written but not verified: no reference, no sample. */
		store->rec.flags &= (uint8_t)~DS1307_RECORD_TIME_VALID;
		rtc_store_save(store, d, p->state_file, err, sizeof(err));
		return rc;
	}
	set_reference(store, &rep->verify);
	rtc_store_add_sample(store, timeutil_ts_to_double(rep->verify.sys), rep->verify.offset);
	update_drift(store, p, rep);
	rc = rtc_store_save(store, d, p->state_file, err, sizeof(err));
	return rc < 0 ? fail(rep, rc, err) : 0;
}

int rtc_discipline_step(struct rtc_dev *d, bool synchronised, const struct rtc_disc_params *p,
			struct rtc_store *store, struct rtc_disc_report *rep)
{
	struct rtc_disc_input in = { .synchronised = synchronised, .threshold = p->threshold };
	char err[320];
	int rc;

	memset(rep, 0, sizeof(*rep));
	rc = rtc_sync_read_edge(d, p->edge_timeout_ms, &rep->edge);
	in.readable = rc == 0;
	/* Invalid time (CH, garbage, stopped oscillator) is the RTC's state,
	 * an I/O error is the bus's. */
	in.valid = !(rc == -ENODATA || rc == -EINVAL || rc == -ETIMEDOUT);
	if (rc < 0) {
		rep->rc = rc;
		snprintf(rep->err, sizeof(rep->err), "%s", rtc_error(d));
	} else {
		rep->have_edge = true;
		in.offset = rep->edge.offset;
	}
	rtc_discipline_decide(&in, &rep->decision);
	if (rep->decision.add_sample) {
		rtc_store_add_sample(store, timeutil_ts_to_double(rep->edge.sys), rep->edge.offset);
		set_reference(store, &rep->edge);
		update_drift(store, p, rep);
	}
	if (rep->decision.action == RTC_DISC_REWRITE)
		return rtc_discipline_rewrite(d, p, store, rep);
	if (rep->decision.add_sample) {
		rc = rtc_store_save(store, d, p->state_file, err, sizeof(err));
		if (rc < 0)
			return fail(rep, rc, err);
	}
	return 0;
}

void rtc_discipline_restore(const struct ds1307_record *rec, int rec_rc, int64_t rtc_sec,
			    double edge_unc, int64_t build_epoch, struct rtc_restore *out)
{
	double ref, pred;

	memset(out, 0, sizeof(*out));
	if (rec_rc != 0 || !(rec->flags & DS1307_RECORD_TIME_VALID)) {
		snprintf(out->why, sizeof(out->why), "no valid record of a synchronised write: the RTC "
			 "time cannot be trusted");
		return;
	}
	if (rtc_sec < build_epoch) {
		snprintf(out->why, sizeof(out->why), "the RTC shows a time before this program was "
			 "built: it was reset");
		return;
	}
	if (rtc_sec < rec->last_set - 60) {
		snprintf(out->why, sizeof(out->why), "the RTC shows a time %lld s before its last "
			 "write: it was reset or its time is garbage", (long long)(rec->last_set - rtc_sec));
		return;
	}
	ref = (double)rec->ref_sec + rec->ref_nsec / 1e9;
	out->elapsed = (double)rtc_sec - ref;
	out->drift_used = rec->flags & DS1307_RECORD_DRIFT_VALID;
	pred = rec->ref_offset + (out->drift_used ? rec->drift_ppm * 1e-6 * out->elapsed : 0);
	out->correction = -pred;
	out->true_time = (double)rtc_sec - pred;
	out->uncertainty = edge_unc + (out->drift_used ? rec->drift_unc_ppm * 1e-6 * fabs(out->elapsed) : 0);
	if (fabs(out->correction) > RTC_RESTORE_MAX_CORRECTION) {
		snprintf(out->why, sizeof(out->why), "the record asks for a %.0f s correction: implausible, "
			 "the record or the RTC is wrong", out->correction);
		return;
	}
	out->ok = true;
}
