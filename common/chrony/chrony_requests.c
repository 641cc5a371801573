/* chrony_requests.c - the typed requests (tracking, sources, write
 * commands) and the pipelined snapshot, over chrony_client.c's transport.
 * Split from chrony_client.c, which keeps the rest; chrony_client_priv.h
 * holds what both use. */
#include "chrony/chrony_client_priv.h"

#include "base/log.h"
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* --- Typed requests --- */

int chrony_client_tracking(struct chrony_client *c, struct chrony_tracking *out)
{
	struct chrony_request req = { .command = CHRONY_CMD_TRACKING };
	struct chrony_reply r;
	int rc = chrony_client_request(c, &req, &r);

	if (rc == 0)
		*out = r.u.tracking;
	return rc;
}

int chrony_client_n_sources(struct chrony_client *c, uint32_t *n)
{
	struct chrony_request req = { .command = CHRONY_CMD_N_SOURCES };
	struct chrony_reply r;
	int rc = chrony_client_request(c, &req, &r);

	if (rc == 0)
		*n = r.u.n_sources;
	return rc;
}

int chrony_client_source_data(struct chrony_client *c, uint32_t index, struct chrony_source_data *out)
{
	struct chrony_request req = { .command = CHRONY_CMD_SOURCE_DATA, .u.index = index };
	struct chrony_reply r;
	int rc = chrony_client_request(c, &req, &r);

	if (rc == 0)
		*out = r.u.source_data;
	return rc;
}

int chrony_client_sourcestats(struct chrony_client *c, uint32_t index, struct chrony_sourcestats *out)
{
	struct chrony_request req = { .command = CHRONY_CMD_SOURCESTATS, .u.index = index };
	struct chrony_reply r;
	int rc = chrony_client_request(c, &req, &r);

	if (rc == 0)
		*out = r.u.sourcestats;
	return rc;
}

int chrony_client_source_name(struct chrony_client *c, const struct chrony_ipaddr *ip,
			      char *name, size_t len)
{
	struct chrony_request req = { .command = CHRONY_CMD_NTP_SOURCE_NAME, .u.ip = *ip };
	struct chrony_reply r;
	int rc = chrony_client_request(c, &req, &r);

	if (rc == 0)
		snprintf(name, len, "%s", r.u.source_name);
	return rc;
}

int chrony_client_ntp_data(struct chrony_client *c, const struct chrony_ipaddr *ip,
			   struct chrony_ntp_data *out)
{
	struct chrony_request req = { .command = CHRONY_CMD_NTP_DATA, .u.ip = *ip };
	struct chrony_reply r;
	int rc = chrony_client_request(c, &req, &r);

	if (rc == 0)
		*out = r.u.ntp_data;
	return rc;
}

int chrony_client_activity(struct chrony_client *c, struct chrony_activity *out)
{
	struct chrony_request req = { .command = CHRONY_CMD_ACTIVITY };
	struct chrony_reply r;
	int rc = chrony_client_request(c, &req, &r);

	if (rc == 0)
		*out = r.u.activity;
	return rc;
}

int chrony_client_makestep(struct chrony_client *c)
{
	struct chrony_request req = { .command = CHRONY_CMD_MAKESTEP };
	struct chrony_reply r;

	return chrony_client_request(c, &req, &r);
}

int chrony_client_reset_sources(struct chrony_client *c)
{
	struct chrony_request req = { .command = CHRONY_CMD_RESET_SOURCES };
	struct chrony_reply r;

	return chrony_client_request(c, &req, &r);
}

int chrony_client_modify_makestep(struct chrony_client *c, int32_t limit, double threshold)
{
	struct chrony_request req = { .command = CHRONY_CMD_MODIFY_MAKESTEP };
	struct chrony_reply r;

	req.u.modify_makestep.limit = limit;
	req.u.modify_makestep.threshold = threshold;
	return chrony_client_request(c, &req, &r);
}

int chrony_client_dfreq(struct chrony_client *c, double ppm)
{
	struct chrony_request req = { .command = CHRONY_CMD_DFREQ };
	struct chrony_reply r;

	if (!isfinite(ppm) || fabs(ppm) > 500.0)
		return cc_set_error(c, -EINVAL, "frequency delta %g ppm: must be within +-500 ppm", ppm);
	req.u.dfreq_ppm = ppm;
	return chrony_client_request(c, &req, &r);
}

int chrony_client_doffset(struct chrony_client *c, double seconds)
{
	struct chrony_request req = { .command = CHRONY_CMD_DOFFSET2 };
	struct chrony_reply r;

	if (!isfinite(seconds) || fabs(seconds) > 1.0)
		return cc_set_error(c, -EINVAL, "offset %g s: must be within +-1 s (step larger ones)",
				 seconds);
	req.u.doffset_s = seconds;
	return chrony_client_request(c, &req, &r);
}

int chrony_client_local(struct chrony_client *c, bool on, int stratum, double distance, bool orphan)
{
	struct chrony_request req = { .command = CHRONY_CMD_LOCAL2 };
	struct chrony_reply r;

	if (on && (stratum < 1 || stratum > 15 || !(distance >= 0.0)))
		return cc_set_error(c, -EINVAL, "local reference: stratum must be 1-15 and distance >= 0");
	req.u.local.on_off = on;
	req.u.local.stratum = stratum;
	req.u.local.distance = distance;
	req.u.local.orphan = orphan;
	return chrony_client_request(c, &req, &r);
}

static void mask_address(struct chrony_request *req, const struct chrony_ipaddr *mask,
			 const struct chrony_ipaddr *address)
{
	if (mask)
		req->u.online.mask = *mask;
	if (address)
		req->u.online.address = *address;
}

int chrony_client_set_online(struct chrony_client *c, const struct chrony_ipaddr *mask,
			     const struct chrony_ipaddr *address, bool online)
{
	struct chrony_request req = { .command = online ? CHRONY_CMD_ONLINE : CHRONY_CMD_OFFLINE };
	struct chrony_reply r;

	mask_address(&req, mask, address);
	return chrony_client_request(c, &req, &r);
}

int chrony_client_burst(struct chrony_client *c, const struct chrony_ipaddr *mask,
			const struct chrony_ipaddr *address, int n_good, int n_total)
{
	struct chrony_request req = { .command = CHRONY_CMD_BURST };
	struct chrony_reply r;

	mask_address(&req, mask, address);
	req.u.burst.n_good = n_good;
	req.u.burst.n_total = n_total;
	return chrony_client_request(c, &req, &r);
}

/* --- Snapshot --- */

static bool ipaddr_equal(const struct chrony_ipaddr *a, const struct chrony_ipaddr *b)
{
	if (a->family != b->family)
		return false;
	if (a->family == CHRONY_AF_INET6)
		return !memcmp(a->addr.in6, b->addr.in6, 16);
	return a->family == CHRONY_AF_UNSPEC || a->addr.in4 == b->addr.in4;
}

static const char *cached_name(const struct chrony_client *c, const struct chrony_ipaddr *ip)
{
	for (size_t i = 0; i < c->n_names; i++)
		if (ipaddr_equal(&c->names[i].ip, ip))
			return c->names[i].name;
	return NULL;
}

static void cache_name(struct chrony_client *c, const struct chrony_ipaddr *ip, const char *name)
{
	if (c->n_names == CHRONY_MAX_SOURCES)
		c->n_names = 0;	/* sources were replaced many times: start afresh */
	c->names[c->n_names].ip = *ip;
	snprintf(c->names[c->n_names].name, sizeof(c->names[0].name), "%s", name);
	c->n_names++;
}

/* A reference clock's "address" carries its refid, e.g. "PPS0". */
static void refclock_name(const struct chrony_source_data *d, char *name, size_t len)
{
	uint32_t id = d->ip.addr.in4;
	size_t i;

	for (i = 0; i < 4 && i + 1 < len; i++) {
		char ch = (char)(id >> (24 - 8 * i));

		if (ch < 0x21 || ch > 0x7e)
			break;
		name[i] = ch;
	}
	name[i] = '\0';
	if (!name[0])
		snprintf(name, len, "%08X", (unsigned)id);
}

/* Names of the NTP sources not seen before, in one batch. */
static int fill_names(struct chrony_client *c, struct chrony_snapshot *out)
{
	struct chrony_request req[CHRONY_MAX_SOURCES];
	struct chrony_reply rpy[CHRONY_MAX_SOURCES];
	int rcs[CHRONY_MAX_SOURCES], idx[CHRONY_MAX_SOURCES];
	size_t n = 0;
	int rc;

	for (uint32_t i = 0; i < out->n_sources; i++) {
		struct chrony_source *s = &out->sources[i];
		const char *name;

		if (s->data.mode == CHRONY_MODE_REF) {
			refclock_name(&s->data, s->name, sizeof(s->name));
		} else if ((name = cached_name(c, &s->data.ip))) {
			snprintf(s->name, sizeof(s->name), "%s", name);
		} else {
			req[n] = (struct chrony_request){ .command = CHRONY_CMD_NTP_SOURCE_NAME,
							  .u.ip = s->data.ip };
			idx[n++] = (int)i;
		}
	}
	if (!n)
		return 0;
	rc = chrony_client_request_many(c, req, rpy, rcs, n);
	if (rc < 0)
		return rc;
	for (size_t k = 0; k < n; k++) {
		struct chrony_source *s = &out->sources[idx[k]];
		char addr[64];

		if (rcs[k] == 0 && rpy[k].u.source_name[0]) {
			snprintf(s->name, sizeof(s->name), "%s", rpy[k].u.source_name);
			cache_name(c, &s->data.ip, s->name);
		} else {
			snprintf(s->name, sizeof(s->name), "%s",
				 chrony_wire_ipaddr_str(&s->data.ip, addr, sizeof(addr)));
		}
	}
	return 0;
}

/* SOURCE_DATA and SOURCESTATS for indices [from, to), plus (when first)
 * TRACKING and N_SOURCES, in one pipelined batch. */
static int snapshot_batch(struct chrony_client *c, struct chrony_snapshot *out, bool first,
			  uint32_t from, uint32_t to, uint32_t *n_sources)
{
	struct chrony_request req[CHRONY_MAX_BATCH];
	struct chrony_reply *rpy = calloc(CHRONY_MAX_BATCH, sizeof(*rpy));
	int rcs[CHRONY_MAX_BATCH];
	size_t n = 0, base;
	int rc;

	if (!rpy)
		return cc_set_error(c, -ENOMEM, "out of memory");
	if (first) {
		req[n++] = (struct chrony_request){ .command = CHRONY_CMD_TRACKING };
		req[n++] = (struct chrony_request){ .command = CHRONY_CMD_N_SOURCES };
	}
	base = n;
	for (uint32_t i = from; i < to; i++) {
		req[n++] = (struct chrony_request){ .command = CHRONY_CMD_SOURCE_DATA, .u.index = i };
		req[n++] = (struct chrony_request){ .command = CHRONY_CMD_SOURCESTATS, .u.index = i };
	}
	rc = chrony_client_request_many(c, req, rpy, rcs, n);
	if (rc < 0)
		goto out;
	if (first) {
		rc = rcs[0] < 0 ? rcs[0] : rcs[1];
		if (rc < 0)
			goto out;
		out->tracking = rpy[0].u.tracking;
		*n_sources = rpy[1].u.n_sources < CHRONY_MAX_SOURCES ? rpy[1].u.n_sources : CHRONY_MAX_SOURCES;
	}
	for (uint32_t i = from; i < to && i < *n_sources; i++) {
		size_t k = base + 2 * (i - from);
		struct chrony_source *s = &out->sources[i];

		if (rcs[k] == -EREMOTEIO && rpy[k].hdr.status == CHRONY_STT_NOSUCHSOURCE) {
			*n_sources = i;	/* a source went away between the calls */
			break;
		}
		rc = rcs[k];
		if (rc < 0)
			goto out;
		s->data = rpy[k].u.source_data;
		s->have_stats = rcs[k + 1] == 0;
		if (s->have_stats)
			s->stats = rpy[k + 1].u.sourcestats;
	}
	rc = 0;
out:
	free(rpy);
	return rc;
}

int chrony_client_snapshot(struct chrony_client *c, struct chrony_snapshot *out)
{
	uint32_t guess = c->last_n_sources, n = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	/* Ask for as many sources as last time together with the tracking. */
	rc = snapshot_batch(c, out, true, 0, guess, &n);
	if (rc == 0 && n > guess)
		rc = snapshot_batch(c, out, false, guess, n, &n);
	if (rc < 0)
		return rc;
	out->n_sources = n;
	c->last_n_sources = n;
	rc = fill_names(c, out);
	if (rc < 0)
		return rc;
	c->err[0] = '\0';
	return 0;
}
