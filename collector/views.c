/* views.c - see views.h. */
#include "views.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/fleet_summary.h"
#include "metrics_election.h"
#include "views_priv.h"

static json_t *real_or_null(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static json_t *string_or_null(const char *s)
{
	return *s ? json_string(s) : json_null();
}

static json_t *time_json(int64_t us)
{
	char buf[40];

	return status_format_time(us, buf, sizeof(buf)) ? json_string(buf) : json_null();
}

/* The host's clock as its latest report shows it: sent_at (its clock) minus
 * received_at (ours), in s. Positive: the host's clock is ahead; negative:
 * behind, or the report was delayed (replayed from the agent's spool). */
double views_priv_clock_skew_s(const struct store_latest *r)
{
	return (double)(r->info.sent_at_us - r->received_us) / 1e6;
}

static bool clock_skewed(const struct store_latest *r, double max_skew_s)
{
	return max_skew_s > 0 && fabs(views_priv_clock_skew_s(r)) > max_skew_s;
}

size_t views_priv_count_skewed(const struct store_latest *rows, size_t n, double max_skew_s)
{
	size_t c = 0;

	for (size_t k = 0; k < n; k++)
		c += clock_skewed(&rows[k], max_skew_s);
	return c;
}

void views_priv_to_fleet_hosts(const struct store_latest *rows, size_t n, struct fleet_host *h)
{
	for (size_t k = 0; k < n; k++) {
		const struct status_info *i = &rows[k].info;

		h[k] = (struct fleet_host){ i->host, i->have_tracking, i->synchronised, i->offset_s,
					    i->root_delay_s, i->root_dispersion_s,
					    rows[k].received_us / 1e6, i->sel };
	}
}

static json_t *summary_json(const struct fleet_summary *s, const struct store_latest *rows,
			    size_t skewed)
{
	return json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:o, s:f, s:f, s:s, s:f, s:o, s:s}",
			 "hosts", (json_int_t)s->hosts, "stale", (json_int_t)s->stale,
			 "clock_skewed", (json_int_t)skewed,
			 "ready", (json_int_t)s->ready, "unsynchronised",
			 (json_int_t)s->unsynchronised, "over_budget", (json_int_t)s->over_budget,
			 "worst_host", s->worst >= 0 ? json_string(rows[s->worst].info.host)
						     : json_null(),
			 "worst_error_bound_s", s->worst_bound_s,
			 "spread_bound_s", s->spread_bound_s,
			 "verdict", fleet_verdict_name(s->verdict),
			 "absolute_spread_bound_s", s->absolute_spread_bound_s,
			 "spread_floor_s", real_or_null(s->spread_floor_s),
			 "spread_bound_kind", spread_kind_name(s->spread_kind));
}

/* A host's static part, rendered: "{...fields" without the closing brace. */
struct views_frag {
	char host[STATUS_HOST_MAX];
	int64_t sent_at_us, received_us;	/* the report it was rendered from */
	char *text;
	size_t len;
};

void views_cache_free(struct views_cache *c)
{
	for (size_t k = 0; k < c->n; k++)
		free(c->frags[k].text);
	free(c->frags);
	c->frags = NULL;
	c->n = 0;
}

/* A bounded text builder for one host's fragment; full is set instead of
 * writing past the end. */
struct frag_buf {
	char *p, *end;
	bool full;
};

static void put(struct frag_buf *b, const char *s, size_t n)
{
	if (b->full || (size_t)(b->end - b->p) < n) {
		b->full = true;
		return;
	}
	memcpy(b->p, s, n);
	b->p += n;
}

#define PUT_LIT(b, lit) put((b), (lit), sizeof(lit) - 1)

/* A JSON string: the bytes are valid UTF-8 (they came out of a parsed
 * report); quote, backslash and control characters are escaped. */
static void put_str(struct frag_buf *b, const char *s)
{
	char esc[8];

	PUT_LIT(b, "\"");
	for (const char *run = s;; s++) {
		unsigned char c = (unsigned char)*s;

		if (c && c != '"' && c != '\\' && c >= 0x20)
			continue;
		put(b, run, (size_t)(s - run));
		if (!c)
			break;
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			put(b, esc, 2);
		} else {
			put(b, esc, (size_t)snprintf(esc, sizeof(esc), "\\u%04x", c));
		}
		run = s + 1;
	}
	PUT_LIT(b, "\"");
}

/* A number as jansson writes it with JSON_REAL_PRECISION(9) ("%.9g", with
 * ".0" where that would read as an integer); null if not finite. */
static void put_real(struct frag_buf *b, double v)
{
	char num[40];
	int n;

	if (!isfinite(v)) {
		PUT_LIT(b, "null");
		return;
	}
	n = snprintf(num, sizeof(num), "%.9g", v);
	if (n > 0 && (size_t)n < sizeof(num) - 2 && !strpbrk(num, ".eE")) {
		memcpy(num + n, ".0", 3);
		n += 2;
	}
	put(b, num, (size_t)n);
}

static void put_time(struct frag_buf *b, int64_t us)
{
	char t[40];

	if (status_format_time(us, t, sizeof(t)))
		put_str(b, t);
	else
		PUT_LIT(b, "null");
}

static void put_bool(struct frag_buf *b, bool v)
{
	if (v)
		PUT_LIT(b, "true");
	else
		PUT_LIT(b, "false");
}

/* What the fleet view says about a host that changes only with a new report
 * (everything but age_s, stale and ready, appended at each render), as
 * "{...fields" without the closing brace. Written by hand: through
 * json_pack and json_dumpb a fragment took ~15 us, 0.15 s for a fleet of
 * 10,000 whose every host had reported since the last render.
 * tests/unit/test_collector.c checks it against the same object built
 * with jansson. */
static void host_static_text(const struct store_latest *r, const struct fleet_host_eval *e,
			     double max_skew_s, struct frag_buf *b)
{
	const struct status_info *i = &r->info;
	char n[24];

	PUT_LIT(b, "{\"host\":");
	put_str(b, i->host);
	PUT_LIT(b, ",\"role\":");
	put_str(b, i->role);
	PUT_LIT(b, ",\"agent_version\":");
	put_str(b, i->agent_version);
	PUT_LIT(b, ",\"sent_at\":");
	put_time(b, i->sent_at_us);
	PUT_LIT(b, ",\"received_at\":");
	put_time(b, r->received_us);
	PUT_LIT(b, ",\"clock_skew_s\":");
	put_real(b, views_priv_clock_skew_s(r));
	PUT_LIT(b, ",\"clock_skewed\":");
	put_bool(b, clock_skewed(r, max_skew_s));
	PUT_LIT(b, ",\"have_tracking\":");
	put_bool(b, i->have_tracking);
	PUT_LIT(b, ",\"synchronised\":");
	put_bool(b, i->synchronised);
	PUT_LIT(b, ",\"stratum\":");
	put(b, n, (size_t)snprintf(n, sizeof(n), "%d", i->stratum));
	PUT_LIT(b, ",\"leap\":");
	put_str(b, i->leap);
	PUT_LIT(b, ",\"offset_s\":");
	put_real(b, i->have_tracking ? i->offset_s : NAN);
	PUT_LIT(b, ",\"root_delay_s\":");
	put_real(b, i->have_tracking ? i->root_delay_s : NAN);
	PUT_LIT(b, ",\"root_dispersion_s\":");
	put_real(b, i->have_tracking ? i->root_dispersion_s : NAN);
	PUT_LIT(b, ",\"error_bound_s\":");
	put_real(b, e->error_bound_s);
	PUT_LIT(b, ",\"over_budget\":");
	put_bool(b, e->over_budget);
	PUT_LIT(b, ",\"relative_error_bound_s\":");
	put_real(b, e->relative_bound_s);
	PUT_LIT(b, ",\"bound\":");
	put_str(b, e->relative ? "relative" : "absolute");
	PUT_LIT(b, ",\"bound_reason\":");
	if (e->relative)
		PUT_LIT(b, "null");
	else
		put_str(b, spread_why_name(e->why));
	PUT_LIT(b, ",\"master\":");
	if (i->sel.have)
		put_str(b, i->sel.master);
	else
		PUT_LIT(b, "null");
	PUT_LIT(b, ",\"rtc\":");
	if (i->rtc_present) {
		PUT_LIT(b, "{\"valid\":");
		put_bool(b, i->rtc_valid);
		PUT_LIT(b, ",\"offset_s\":");
		put_real(b, i->rtc_have_offset ? i->rtc_offset_s : NAN);
		PUT_LIT(b, "}");
	} else {
		PUT_LIT(b, "null");
	}
	PUT_LIT(b, ",\"check_ready\":");
	if (i->check_ready < 0)
		PUT_LIT(b, "null");
	else
		put_bool(b, i->check_ready);
	PUT_LIT(b, ",\"authenticated\":");	/* the selected source's NTP (docs/security.md) */
	if (i->authenticated < 0)
		PUT_LIT(b, "null");
	else
		put_bool(b, i->authenticated);
}

/* Render the static part of one host into frag (text malloc'ed). */
static int render_frag(const struct store_latest *r, const struct fleet_host_eval *e,
		       double max_skew_s, struct views_frag *frag)
{
	char text[4096];	/* the longest fragment, every string escaped, is ~1.2 KB */
	struct frag_buf b = { text, text + sizeof(text), false };
	size_t n;

	host_static_text(r, e, max_skew_s, &b);
	n = (size_t)(b.p - text);
	if (b.full || !(frag->text = malloc(n)))
		return -1;
	memcpy(frag->text, text, n);
	frag->len = n;
	snprintf(frag->host, sizeof(frag->host), "%s", r->info.host);
	frag->sent_at_us = r->info.sent_at_us;
	frag->received_us = r->received_us;
	return 0;
}

/* The host fragments for rows (sorted by host, as the store returns them),
 * taking unchanged ones from the previous render (a merge by host name):
 * only hosts with a new report are rendered again. A report is known by
 * sent_at and received_at together: the latest may go back in sent_at (a
 * clock stepped back). */
static struct views_frag *fragments(const struct store_latest *rows, size_t n,
				    const struct fleet_host_eval *e, double max_skew_s,
				    struct views_cache *cache)
{
	struct views_frag *out = calloc(n ? n : 1, sizeof(*out));
	size_t j = 0;

	if (!out)
		return NULL;
	for (size_t k = 0; k < n; k++) {
		int c = 1;

		while (cache && j < cache->n && (c = strcmp(cache->frags[j].host, rows[k].info.host)) < 0)
			j++;
		if (c == 0 && cache->frags[j].sent_at_us == rows[k].info.sent_at_us &&
		    cache->frags[j].received_us == rows[k].received_us) {
			out[k] = cache->frags[j];
			cache->frags[j].text = NULL;	/* moved */
		} else if (render_frag(&rows[k], &e[k], max_skew_s, &out[k]) < 0) {
			for (size_t i = 0; i < k; i++)
				free(out[i].text);
			free(out);
			return NULL;
		}
	}
	return out;
}

/* ",\"age_s\":<age>,\"stale\":<b>,\"ready\":<b>}" into out (TAIL_MAX
 * bytes): the part of a host that changes with the clock, written for
 * every host at every render (snprintf's "%.6f" was a quarter of a
 * 10,000-host render). Returns its length. */
#define TAIL_MAX 96

static size_t host_tail(char *out, double age_s, bool stale, bool ready)
{
	struct frag_buf b = { out, out + TAIL_MAX, false };
	char num[40], digits[24], *p = num;
	size_t k = 0;

	PUT_LIT(&b, ",\"age_s\":");
	if (!(fabs(age_s) < 1e12)) {	/* not finite, or ages no clock gives */
		int n = snprintf(num, sizeof(num), "%.6f", isfinite(age_s) ? age_s : 0.0);

		/* past 1e32 s it does not fit: null rather than a cut number */
		p += n > 0 && (size_t)n < sizeof(num) ? n : snprintf(num, sizeof(num), "null");
	} else {
		int64_t us = llround(fabs(age_s) * 1e6);

		if (age_s < 0 && us)
			*p++ = '-';
		for (; k < 6 || us; us /= 10)	/* at least "0.000000" */
			digits[k++] = (char)('0' + us % 10);
		if (k == 6)
			digits[k++] = '0';
		while (k > 6)
			*p++ = digits[--k];
		*p++ = '.';
		while (k > 0)
			*p++ = digits[--k];
	}
	put(&b, num, (size_t)(p - num));
	PUT_LIT(&b, ",\"stale\":");
	put_bool(&b, stale);
	PUT_LIT(&b, ",\"ready\":");
	put_bool(&b, ready);
	PUT_LIT(&b, "}");
	return (size_t)(b.p - out);
}

/* The fleet document: a head rendered with jansson, then each host's cached
 * fragment with its age_s, stale and ready appended, into one buffer sized
 * for all of it. */
char *views_fleet_json(const struct store_latest *rows, size_t n, const struct views_params *p,
		       struct views_cache *cache)
{
	struct fleet_host *h = calloc(n ? n : 1, sizeof(*h));
	struct fleet_host_eval *e = calloc(n ? n : 1, sizeof(*e));
	struct views_frag *frags = NULL;
	struct fleet_summary s;
	char *buf = NULL, *head_text = NULL, *w;
	size_t size, head_len;
	json_t *head;

	if (!h || !e)
		goto out;
	views_priv_to_fleet_hosts(rows, n, h);
	fleet_summarize(h, n, p->now, p->stale_after_s, p->budget_s, e, &s);
	if (!(frags = fragments(rows, n, e, p->max_clock_skew_s, cache)))
		goto out;
	head = json_pack("{s:s, s:o, s:f, s:f, s:f, s:o}", "schema", "fleetclock.fleet/1",
			 "generated_at", time_json((int64_t)(p->now * 1e6)),
			 "budget_s", p->budget_s, "stale_after_s", p->stale_after_s,
			 "max_clock_skew_s", p->max_clock_skew_s,
			 "summary", summary_json(&s, rows, views_priv_count_skewed(rows, n,
									 p->max_clock_skew_s)));
	/* json_dumpb into our malloc: json_dumps would allocate through an
	 * arena if one were on */
	head_len = head ? json_dumpb(head, NULL, 0, JSON_COMPACT | JSON_REAL_PRECISION(9)) : 0;
	if (head_len > 1 && (head_text = malloc(head_len)) &&
	    json_dumpb(head, head_text, head_len, JSON_COMPACT | JSON_REAL_PRECISION(9)) != head_len) {
		free(head_text);
		head_text = NULL;
	}
	json_decref(head);
	if (!head_text)
		goto out;
	head_len--;	/* without the closing brace */
	size = head_len + sizeof(",\"hosts\":[]}");
	for (size_t k = 0; k < n; k++)
		size += frags[k].len + TAIL_MAX + 1;
	if (!(buf = malloc(size)))
		goto out;
	w = buf;
	memcpy(w, head_text, head_len);
	w += head_len;
	memcpy(w, ",\"hosts\":[", 10);
	w += 10;
	for (size_t k = 0; k < n; k++) {
		if (k)
			*w++ = ',';
		memcpy(w, frags[k].text, frags[k].len);
		w += frags[k].len;
		w += host_tail(w, e[k].age_s, e[k].stale, e[k].ready);
	}
	memcpy(w, "]}", 3);
out:
	free(head_text);
	if (cache && frags) {
		views_cache_free(cache);
		cache->frags = frags;
		cache->n = n;
	} else if (frags) {
		for (size_t k = 0; k < n; k++)
			free(frags[k].text);
		free(frags);
	}
	free(h);
	free(e);
	return buf;
}

char *views_history_json(const char *host, const struct store_point *pts, size_t n,
			 int64_t since_us, int64_t until_us)
{
	json_t *arr = json_array(), *doc;
	char *text = NULL;

	if (!arr)
		return NULL;
	for (size_t k = 0; k < n; k++) {
		const struct store_point *q = &pts[k];

		json_array_append_new(arr, json_pack("{s:o, s:o, s:b, s:o, s:o, s:o, s:o, s:o, s:o}",
			"sent_at", time_json(q->sent_at_us), "received_at", time_json(q->received_us),
			"synchronised", q->synchronised,
			"offset_s", q->have_tracking ? real_or_null(q->offset_s) : json_null(),
			"error_bound_s", q->have_tracking ? real_or_null(q->max_error_s) : json_null(),
			"rtc_offset_s", q->rtc_have_offset ? real_or_null(q->rtc_offset_s)
							   : json_null(),
			"relative_error_bound_s", q->have_tracking ? real_or_null(q->relative_error_s)
								   : json_null(),
			"master", string_or_null(q->master),
			"election_master", string_or_null(q->election_master)));
	}
	doc = json_pack("{s:s, s:o, s:o, s:i, s:o}", "host", host, "since", time_json(since_us),
			"until", time_json(until_us), "count", (json_int_t)n, "points", arr);
	if (doc)
		text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(9));
	json_decref(doc);
	return text;
}
