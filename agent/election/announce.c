/* announce.c - announce codec, fleet key and receiver table, see announce.h
 * (pure; the key file is read by announce_key.c)
 *
 * Version 1 layout (big-endian, 136 bytes):
 *   0 magic "FCAN"  4 version  5 flags  6 reserved u16 (0)
 *   8 priority1  9 clock_class  10 accuracy  11 priority2
 *  12 variance u16  14 steps_removed u16  16 identity[8]
 *  24 session u32  28 seq u32  32 ts_sec i64  40 ts_nsec u32
 *  44 ntp_family u8  45 reserved u8 (0)  46 ntp_port u16  48 ntp_addr[16]
 *  64 master[8]  72 name[32] (NUL-padded)  104 HMAC-SHA256 of bytes 0..103 */
#include "election/announce.h"
#include "election/crypto_dl.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define OFF_HMAC (ANNOUNCE_LEN - ANNOUNCE_HMAC_LEN)
static const uint8_t magic[4] = { 'F', 'C', 'A', 'N' };

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)(v >> 32)); put32(p + 4, (uint32_t)v); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)get16(p) << 16 | get16(p + 2); }
static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) << 32 | get32(p + 4); }

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int announce_key_from_hex(const char *hex, struct announce_key *key)
{
	size_t n = 0;
	int hi = -1;

	memset(key, 0, sizeof(*key));
	for (const char *p = hex; *p; p++) {
		int v;

		if (isspace((unsigned char)*p))
			continue;
		if ((v = hexval((unsigned char)*p)) < 0 || n >= ANNOUNCE_KEY_MAX)
			return -EINVAL;
		if (hi < 0) {
			hi = v;
		} else {
			key->bytes[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	if (hi >= 0 || n < ANNOUNCE_KEY_MIN)
		return -EINVAL;
	key->len = n;
	return 0;
}

void announce_identity_from_name(const char *name, uint8_t id[BMCA_IDENTITY_LEN])
{
	uint8_t md[CRYPTO_DL_SHA256_LEN];

	if (crypto_dl_sha256(name, strlen(name), md) < 0)
		memset(md, 0xFF, BMCA_IDENTITY_LEN);	/* no libcrypto: announces fail anyway */
	memcpy(id, md, BMCA_IDENTITY_LEN);
}

static int sign(const struct announce_key *key, const uint8_t *buf, uint8_t mac[ANNOUNCE_HMAC_LEN])
{
	return crypto_dl_hmac_sha256(key->bytes, key->len, buf, OFF_HMAC, mac);
}

int announce_encode(const struct announce_msg *m, const struct announce_key *key,
		    uint8_t *buf, size_t len)
{
	size_t nlen = strnlen(m->name, sizeof(m->name));

	if (len < ANNOUNCE_LEN)
		return -ENOSPC;
	if (!key || key->len < ANNOUNCE_KEY_MIN || key->len > ANNOUNCE_KEY_MAX ||
	    nlen > ANNOUNCE_NAME_MAX || m->ts.tv_nsec < 0 || m->ts.tv_nsec >= 1000000000L ||
	    (m->ntp_family != 0 && m->ntp_family != 4 && m->ntp_family != 6))
		return -EINVAL;
	memset(buf, 0, ANNOUNCE_LEN);
	memcpy(buf, magic, 4);
	buf[4] = ANNOUNCE_VERSION;
	buf[5] = m->flags;
	buf[8] = m->ds.priority1;
	buf[9] = m->ds.clock_class;
	buf[10] = m->ds.accuracy;
	buf[11] = m->ds.priority2;
	put16(buf + 12, m->ds.variance);
	put16(buf + 14, m->ds.steps_removed);
	memcpy(buf + 16, m->ds.identity, BMCA_IDENTITY_LEN);
	put32(buf + 24, m->session);
	put32(buf + 28, m->seq);
	put64(buf + 32, (uint64_t)(int64_t)m->ts.tv_sec);
	put32(buf + 40, (uint32_t)m->ts.tv_nsec);
	buf[44] = m->ntp_family;
	put16(buf + 46, m->ntp_port);
	memcpy(buf + 48, m->ntp_addr, 16);
	memcpy(buf + 64, m->master, BMCA_IDENTITY_LEN);
	memcpy(buf + 72, m->name, nlen);
	if (sign(key, buf, buf + OFF_HMAC) < 0)
		return -EINVAL;
	return ANNOUNCE_LEN;
}

/* Fields the HMAC cannot vouch for: a well-signed but nonsensical message
 * is still malformed (a buggy or newer sender). */
static bool fields_valid(const uint8_t *buf)
{
	const uint8_t *name = buf + 72;
	size_t n = strnlen((const char *)name, ANNOUNCE_NAME_MAX);

	if (buf[5] & ~(ANNOUNCE_FLAG_SERVING | ANNOUNCE_FLAG_ELIGIBLE | ANNOUNCE_FLAG_LISTENING))
		return false;
	if (get32(buf + 40) >= 1000000000U)
		return false;
	if (buf[44] != 0 && buf[44] != 4 && buf[44] != 6)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isgraph(name[i]))
			return false;
	for (size_t i = n; i < ANNOUNCE_NAME_MAX; i++)
		if (name[i])
			return false;
	return true;
}

enum announce_verdict announce_decode(const uint8_t *buf, size_t len,
				      const struct announce_key *key, struct announce_msg *out)
{
	uint8_t mac[ANNOUNCE_HMAC_LEN];

	if (len != ANNOUNCE_LEN || memcmp(buf, magic, 4) || buf[4] != ANNOUNCE_VERSION ||
	    get16(buf + 6) || buf[45])
		return ANNOUNCE_MALFORMED;
	if (!key || sign(key, buf, mac) < 0 || crypto_dl_memcmp(mac, buf + OFF_HMAC, ANNOUNCE_HMAC_LEN))
		return ANNOUNCE_UNSIGNED;
	if (!fields_valid(buf))
		return ANNOUNCE_MALFORMED;
	memset(out, 0, sizeof(*out));
	out->flags = buf[5];
	out->ds.priority1 = buf[8];
	out->ds.clock_class = buf[9];
	out->ds.accuracy = buf[10];
	out->ds.priority2 = buf[11];
	out->ds.variance = get16(buf + 12);
	out->ds.steps_removed = get16(buf + 14);
	memcpy(out->ds.identity, buf + 16, BMCA_IDENTITY_LEN);
	out->session = get32(buf + 24);
	out->seq = get32(buf + 28);
	out->ts.tv_sec = (time_t)(int64_t)get64(buf + 32);
	out->ts.tv_nsec = (long)get32(buf + 40);
	out->ntp_family = buf[44];
	out->ntp_port = get16(buf + 46);
	memcpy(out->ntp_addr, buf + 48, 16);
	memcpy(out->master, buf + 64, BMCA_IDENTITY_LEN);
	memcpy(out->name, buf + 72, ANNOUNCE_NAME_MAX);
	return ANNOUNCE_OK;
}

const char *announce_verdict_name(enum announce_verdict v)
{
	static const char *names[] = { "ok", "malformed", "unsigned", "stale", "replayed", "self", "full" };

	return (unsigned)v < sizeof(names) / sizeof(names[0]) ? names[v] : "unknown";
}

void announce_table_init(struct announce_table *t, const uint8_t self[BMCA_IDENTITY_LEN],
			 double window_s)
{
	memset(t, 0, sizeof(*t));
	memcpy(t->self, self, BMCA_IDENTITY_LEN);
	t->window_s = window_s > 0 ? window_s : 10.0;
	t->enforce_window = true;
}

static struct announce_peer *find_peer(struct announce_table *t, const uint8_t *id, bool create)
{
	struct announce_peer *free_slot = NULL;

	for (size_t i = 0; i < ANNOUNCE_MAX_PEERS; i++) {
		struct announce_peer *p = &t->peers[i];

		if (p->used && !memcmp(p->msg.ds.identity, id, BMCA_IDENTITY_LEN))
			return p;
		if (!p->used && !free_slot)
			free_slot = p;
	}
	if (!create || !free_slot)
		return NULL;
	memset(free_slot, 0, sizeof(*free_slot));
	return free_slot;
}

static double msg_ts(const struct announce_msg *m)
{
	return (double)m->ts.tv_sec + m->ts.tv_nsec * 1e-9;
}

/* How long a session must be unheard before another session of the same
 * sender may replace it: a few of its own announce intervals, so that a
 * live sender (heard every gap) is never displaced by a recording. */
static double quiet_after(const struct announce_peer *p)
{
	return p->gap_s > 0 ? ANNOUNCE_QUIET_GAPS * p->gap_s : ANNOUNCE_QUIET_UNKNOWN_S;
}

/* A new session of a known sender, see announce_table_accept. */
static bool new_session_refused(const struct announce_peer *p, const struct announce_msg *m,
				double now_mono)
{
	double unheard = now_mono - p->heard_mono;

	for (size_t i = 0; i < ANNOUNCE_RECENT_SESSIONS; i++)
		if (p->recent[i] == m->session && m->session)
			return true;
	if (!(unheard >= quiet_after(p)))
		return true;
	return !(msg_ts(m) > p->newest_ts) && !(unheard >= ANNOUNCE_FORGET_S);
}

/* The replay rule for a known sender, see announce_table_accept. */
static bool replayed(const struct announce_peer *p, const struct announce_msg *m, double now_mono)
{
	if (!p->used)
		return false;
	if (m->session == p->msg.session)
		return m->seq <= p->msg.seq;
	return new_session_refused(p, m, now_mono);
}

static enum announce_verdict judge(struct announce_table *t, const uint8_t *buf, size_t len,
				   const struct announce_key *key, double now_real, double now_mono,
				   struct announce_msg *m, struct announce_peer **pp)
{
	enum announce_verdict v = announce_decode(buf, len, key, m);

	if (v != ANNOUNCE_OK)
		return v;
	if (!memcmp(m->ds.identity, t->self, BMCA_IDENTITY_LEN))
		return ANNOUNCE_SELF;
	if (t->enforce_window && !(fabs(msg_ts(m) - now_real) <= t->window_s))
		return ANNOUNCE_STALE;
	*pp = find_peer(t, m->ds.identity, true);
	if (!*pp)
		return ANNOUNCE_FULL;
	return replayed(*pp, m, now_mono) ? ANNOUNCE_REPLAYED : ANNOUNCE_OK;
}

/* The sender's announce spacing as heard: follows a longer gap at once and
 * a shorter one slowly, so two announces read in one batch (gap ~0) do not
 * make a live session look quiet. */
static void note_gap(struct announce_peer *p, double now_mono)
{
	double gap = now_mono - p->heard_mono;

	if (gap > 0)
		p->gap_s = fmax(gap, 0.9 * p->gap_s);
}

enum announce_verdict announce_table_accept(struct announce_table *t, const uint8_t *buf,
					    size_t len, const struct announce_key *key,
					    const uint8_t *src, uint8_t src_family,
					    double now_real, double now_mono)
{
	struct announce_peer *p = NULL;
	struct announce_msg m;
	enum announce_verdict v = judge(t, buf, len, key, now_real, now_mono, &m, &p);
	uint64_t *counters[] = { &t->count.ok, &t->count.malformed, &t->count.unsigned_,
				 &t->count.stale, &t->count.replayed, &t->count.self, &t->count.full };

	(*counters[v])++;
	if (v != ANNOUNCE_OK)
		return v;
	if (p->used && p->msg.session != m.session) {
		memmove(p->recent + 1, p->recent, sizeof(p->recent) - sizeof(p->recent[0]));
		p->recent[0] = p->msg.session;
		p->gap_s = 0;		/* the new session's spacing is learnt afresh */
	} else if (p->used) {
		note_gap(p, now_mono);
	}
	if (!p->used || msg_ts(&m) > p->newest_ts)
		p->newest_ts = msg_ts(&m);
	p->used = true;
	p->msg = m;
	p->heard_mono = now_mono;
	p->src_family = src_family;
	memset(p->src_addr, 0, sizeof(p->src_addr));
	if (src)
		memcpy(p->src_addr, src, src_family == 6 ? 16 : 4);
	return v;
}

int announce_table_expire(struct announce_table *t, double now_mono, double max_age_s)
{
	int n = 0;

	for (size_t i = 0; i < ANNOUNCE_MAX_PEERS; i++) {
		if (t->peers[i].used && now_mono - t->peers[i].heard_mono > max_age_s) {
			t->peers[i].used = false;
			n++;
		}
	}
	return n;
}

char *announce_counters_format(const struct announce_counters *c, char *buf, size_t len)
{
	snprintf(buf, len, "ok=%llu malformed=%llu unsigned=%llu stale=%llu replayed=%llu self=%llu full=%llu",
		 (unsigned long long)c->ok, (unsigned long long)c->malformed,
		 (unsigned long long)c->unsigned_, (unsigned long long)c->stale,
		 (unsigned long long)c->replayed, (unsigned long long)c->self,
		 (unsigned long long)c->full);
	return buf;
}
