/* chrony_wire.c - cmdmon v6 codec, see chrony_wire.h.
 *
 * Written from the protocol facts in docs/chrony-protocol.md; no code of
 * chrony's is used. All offsets below are byte offsets in the datagram. */
#include "chrony/chrony_wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* --- Big-endian accessors: the only place byte order is handled --- */

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static double getf(const uint8_t *p)
{
	return chrony_wire_float_decode(get32(p));
}

/* --- Float: 7-bit signed exponent, 25-bit signed coefficient --- */

#define FLOAT_COEF_BITS 25
#define FLOAT_EXP_MIN (-64)
#define FLOAT_EXP_MAX 63
#define COEF_MAX ((1L << (FLOAT_COEF_BITS - 1)) - 1)	/* 2^24 - 1 */
#define COEF_MIN (-(1L << (FLOAT_COEF_BITS - 1)))	/* -2^24 */

double chrony_wire_float_decode(uint32_t f)
{
	int32_t exp = (int32_t)(f >> FLOAT_COEF_BITS);
	int32_t coef = (int32_t)(f & ((1u << FLOAT_COEF_BITS) - 1));

	if (exp >= 1 << 6)
		exp -= 1 << 7;
	if (coef >= 1 << (FLOAT_COEF_BITS - 1))
		coef -= 1 << FLOAT_COEF_BITS;
	return ldexp((double)coef, exp - FLOAT_COEF_BITS);
}

static uint32_t float_pack(long coef, int exp)
{
	return (uint32_t)(exp & 0x7f) << FLOAT_COEF_BITS |
	       ((uint32_t)coef & ((1u << FLOAT_COEF_BITS) - 1));
}

/* The representation with the smallest exponent (most precision) whose
 * rounded coefficient fits the 25-bit signed range. */
uint32_t chrony_wire_float_encode(double x)
{
	int e, exp;
	long coef;

	if (isnan(x) || fabs(x) < 1e-100)
		return 0;
	if (x > 1e100)
		return float_pack(COEF_MAX, FLOAT_EXP_MAX);
	if (x < -1e100)
		return float_pack(COEF_MIN, FLOAT_EXP_MAX);
	frexp(x, &e);	/* |x| = m * 2^e, 0.5 <= m < 1 */
	for (exp = e; exp <= e + 2; exp++) {
		int ee = exp < FLOAT_EXP_MIN ? FLOAT_EXP_MIN : exp;

		if (ee > FLOAT_EXP_MAX)
			break;
		coef = lround(ldexp(x, FLOAT_COEF_BITS - ee));
		if (coef >= COEF_MIN && coef <= COEF_MAX)
			return float_pack(coef, ee);
	}
	return float_pack(x > 0 ? COEF_MAX : COEF_MIN, FLOAT_EXP_MAX);
}

static void putf(uint8_t *p, double x)
{
	put32(p, chrony_wire_float_encode(x));
}

/* --- Timespec and IPAddr --- */

struct timespec chrony_wire_timespec_decode(const uint8_t p[12])
{
	uint32_t hi = get32(p), lo = get32(p + 4), ns = get32(p + 8);
	struct timespec ts;

	if (hi == 0x7FFFFFFFu)	/* sender has a 32-bit time_t */
		hi = 0;
	ts.tv_sec = (time_t)((uint64_t)hi << 32 | lo);
	ts.tv_nsec = ns > 999999999u ? 999999999 : (long)ns;
	return ts;
}

void chrony_wire_timespec_encode(struct timespec ts, uint8_t p[12])
{
	uint64_t s = (uint64_t)ts.tv_sec;

	put32(p, (uint32_t)(s >> 32));
	put32(p + 4, (uint32_t)s);
	put32(p + 8, (uint32_t)ts.tv_nsec);
}

int chrony_wire_ipaddr_decode(const uint8_t p[20], struct chrony_ipaddr *ip)
{
	memset(ip, 0, sizeof(*ip));
	ip->family = get16(p + 16);
	switch (ip->family) {
	case CHRONY_AF_UNSPEC:
		return 0;
	case CHRONY_AF_INET4:
		ip->addr.in4 = get32(p);
		return 0;
	case CHRONY_AF_INET6:
		memcpy(ip->addr.in6, p, 16);
		return 0;
	case CHRONY_AF_ID:
		ip->addr.id = get32(p);
		return 0;
	default:
		return -EPROTO;
	}
}

void chrony_wire_ipaddr_encode(const struct chrony_ipaddr *ip, uint8_t p[20])
{
	memset(p, 0, 20);
	if (!ip)
		return;
	switch (ip->family) {
	case CHRONY_AF_INET4:
		put32(p, ip->addr.in4);
		break;
	case CHRONY_AF_INET6:
		memcpy(p, ip->addr.in6, 16);
		break;
	case CHRONY_AF_ID:
		put32(p, ip->addr.id);
		break;
	default:
		break;
	}
	put16(p + 16, ip->family);
}

/* --- Command table: request length (padded to the reply) and reply type --- */

struct cmd_info {
	uint16_t command;
	uint16_t request_len;
	uint16_t reply;
	const char *name;
};

static const struct cmd_info cmd_table[] = {
	{ CHRONY_CMD_ONLINE, 60, CHRONY_RPY_NULL, "ONLINE" },
	{ CHRONY_CMD_OFFLINE, 60, CHRONY_RPY_NULL, "OFFLINE" },
	{ CHRONY_CMD_BURST, 68, CHRONY_RPY_NULL, "BURST" },
	{ CHRONY_CMD_N_SOURCES, 32, CHRONY_RPY_N_SOURCES, "N_SOURCES" },
	{ CHRONY_CMD_SOURCE_DATA, 76, CHRONY_RPY_SOURCE_DATA, "SOURCE_DATA" },
	{ CHRONY_CMD_DFREQ, 28, CHRONY_RPY_NULL, "DFREQ" },
	{ CHRONY_CMD_TRACKING, 104, CHRONY_RPY_TRACKING, "TRACKING" },
	{ CHRONY_CMD_SOURCESTATS, 84, CHRONY_RPY_SOURCESTATS, "SOURCESTATS" },
	{ CHRONY_CMD_MAKESTEP, 28, CHRONY_RPY_NULL, "MAKESTEP" },
	{ CHRONY_CMD_ACTIVITY, 48, CHRONY_RPY_ACTIVITY, "ACTIVITY" },
	{ CHRONY_CMD_MODIFY_MAKESTEP, 28, CHRONY_RPY_NULL, "MODIFY_MAKESTEP" },
	{ CHRONY_CMD_LOCAL2, 36, CHRONY_RPY_NULL, "LOCAL2" },
	{ CHRONY_CMD_NTP_DATA, 152, CHRONY_RPY_NTP_DATA, "NTP_DATA" },
	{ CHRONY_CMD_NTP_SOURCE_NAME, 284, CHRONY_RPY_NTP_SOURCE_NAME, "NTP_SOURCE_NAME" },
	{ CHRONY_CMD_RESET_SOURCES, 28, CHRONY_RPY_NULL, "RESET_SOURCES" },
	{ CHRONY_CMD_DOFFSET2, 28, CHRONY_RPY_NULL, "DOFFSET2" },
};

static const struct cmd_info *cmd_find(uint16_t command)
{
	for (size_t i = 0; i < sizeof(cmd_table) / sizeof(cmd_table[0]); i++)
		if (cmd_table[i].command == command)
			return &cmd_table[i];
	return NULL;
}

size_t chrony_wire_request_length(uint16_t command)
{
	const struct cmd_info *ci = cmd_find(command);

	return ci ? ci->request_len : 0;
}

uint16_t chrony_wire_expected_reply(uint16_t command)
{
	const struct cmd_info *ci = cmd_find(command);

	return ci ? ci->reply : 0;
}

size_t chrony_wire_reply_length(uint16_t reply_type)
{
	switch (reply_type) {
	case CHRONY_RPY_NULL: return 28;
	case CHRONY_RPY_N_SOURCES: return 32;
	case CHRONY_RPY_SOURCE_DATA: return 76;
	case CHRONY_RPY_TRACKING: return 104;
	case CHRONY_RPY_SOURCESTATS: return 84;
	case CHRONY_RPY_ACTIVITY: return 48;
	case CHRONY_RPY_NTP_DATA: return 152;
	case CHRONY_RPY_NTP_SOURCE_NAME: return 284;
	default: return 0;
	}
}

static bool family_valid(uint16_t family)
{
	return family <= CHRONY_AF_ID;
}

static int encode_body(const struct chrony_request *req, uint8_t *b)
{
	const typeof(req->u) *u = &req->u;

	switch (req->command) {
	case CHRONY_CMD_SOURCE_DATA:
	case CHRONY_CMD_SOURCESTATS:
		put32(b, u->index);
		return 0;
	case CHRONY_CMD_NTP_DATA:
	case CHRONY_CMD_NTP_SOURCE_NAME:
		if (!family_valid(u->ip.family))
			return -EINVAL;
		chrony_wire_ipaddr_encode(&u->ip, b);
		return 0;
	case CHRONY_CMD_ONLINE:
	case CHRONY_CMD_OFFLINE:
	case CHRONY_CMD_BURST:
		/* online and burst share the leading mask and address */
		if (!family_valid(u->online.mask.family) || !family_valid(u->online.address.family))
			return -EINVAL;
		chrony_wire_ipaddr_encode(&u->online.mask, b);
		chrony_wire_ipaddr_encode(&u->online.address, b + 20);
		if (req->command == CHRONY_CMD_BURST) {
			put32(b + 40, (uint32_t)u->burst.n_good);
			put32(b + 44, (uint32_t)u->burst.n_total);
		}
		return 0;
	case CHRONY_CMD_MODIFY_MAKESTEP:
		put32(b, (uint32_t)u->modify_makestep.limit);
		putf(b + 4, u->modify_makestep.threshold);
		return 0;
	case CHRONY_CMD_DFREQ:
		putf(b, u->dfreq_ppm);
		return 0;
	case CHRONY_CMD_DOFFSET2:
		putf(b, u->doffset_s);
		return 0;
	case CHRONY_CMD_LOCAL2:
		put32(b, (uint32_t)u->local.on_off);
		put32(b + 4, (uint32_t)u->local.stratum);
		putf(b + 8, u->local.distance);
		put32(b + 12, (uint32_t)u->local.orphan);
		return 0;
	default:
		return 0;	/* no body */
	}
}

int chrony_wire_encode_request(const struct chrony_request *req, uint32_t sequence,
			       uint16_t attempt, uint8_t *buf, size_t len)
{
	const struct cmd_info *ci = cmd_find(req->command);
	int rc;

	if (!ci)
		return -EINVAL;
	if (len < ci->request_len)
		return -ENOSPC;
	memset(buf, 0, ci->request_len);	/* zero padding and reserved fields */
	buf[0] = CHRONY_PROTO_VERSION;
	buf[1] = CHRONY_PKT_REQUEST;
	put16(buf + 4, req->command);
	put16(buf + 6, attempt);
	put32(buf + 8, sequence);
	rc = encode_body(req, buf + CHRONY_REQ_HDR_LEN);
	if (rc < 0)
		return rc;
	return ci->request_len;
}

/* --- Replies --- */

enum chrony_wire_match chrony_wire_match_reply(const uint8_t *buf, size_t len, uint16_t command,
					       uint32_t sequence, struct chrony_reply_header *hdr)
{
	if (len < CHRONY_RPY_HDR_LEN || len > CHRONY_MAX_REQ_LEN)
		return CHRONY_MATCH_IGNORE;
	hdr->version = buf[0];
	hdr->pkt_type = buf[1];
	hdr->command = get16(buf + 4);
	hdr->reply = get16(buf + 6);
	hdr->status = get16(buf + 8);
	hdr->sequence = get32(buf + 16);
	if (hdr->pkt_type != CHRONY_PKT_REPLY || buf[2] || buf[3] ||
	    hdr->command != command || hdr->sequence != sequence)
		return CHRONY_MATCH_IGNORE;
	if (hdr->version != CHRONY_PROTO_VERSION)
		return CHRONY_MATCH_BAD_VERSION;
	return CHRONY_MATCH_OK;
}

static int decode_tracking(const uint8_t *p, struct chrony_tracking *t)
{
	double *f[] = { &t->current_correction, &t->last_offset, &t->rms_offset, &t->freq_ppm,
			&t->resid_freq_ppm, &t->skew_ppm, &t->root_delay, &t->root_dispersion,
			&t->last_update_interval };

	t->ref_id = get32(p);
	if (chrony_wire_ipaddr_decode(p + 4, &t->ip) < 0)
		return -EPROTO;
	t->stratum = get16(p + 24);
	t->leap_status = get16(p + 26);
	t->ref_time = chrony_wire_timespec_decode(p + 28);
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		*f[i] = getf(p + 40 + 4 * i);
	return 0;
}

static int decode_source_data(const uint8_t *p, struct chrony_source_data *s)
{
	if (chrony_wire_ipaddr_decode(p, &s->ip) < 0)
		return -EPROTO;
	s->poll = (int16_t)get16(p + 20);
	s->stratum = get16(p + 22);
	s->state = get16(p + 24);
	s->mode = get16(p + 26);
	s->flags = get16(p + 28);
	s->reachability = get16(p + 30);
	s->since_sample = get32(p + 32);
	s->orig_latest_meas = getf(p + 36);
	s->latest_meas = getf(p + 40);
	s->latest_meas_err = getf(p + 44);
	return 0;
}

static int decode_sourcestats(const uint8_t *p, struct chrony_sourcestats *s)
{
	s->ref_id = get32(p);
	if (chrony_wire_ipaddr_decode(p + 4, &s->ip) < 0)
		return -EPROTO;
	s->n_samples = get32(p + 24);
	s->n_runs = get32(p + 28);
	s->span_seconds = get32(p + 32);
	s->sd = getf(p + 36);
	s->resid_freq_ppm = getf(p + 40);
	s->skew_ppm = getf(p + 44);
	s->est_offset = getf(p + 48);
	s->est_offset_err = getf(p + 52);
	return 0;
}

static int decode_ntp_data(const uint8_t *p, struct chrony_ntp_data *n)
{
	if (chrony_wire_ipaddr_decode(p, &n->remote_addr) < 0 ||
	    chrony_wire_ipaddr_decode(p + 20, &n->local_addr) < 0)
		return -EPROTO;
	n->remote_port = get16(p + 40);
	n->leap = p[42];
	n->version = p[43];
	n->mode = p[44];
	n->stratum = p[45];
	n->poll = (int8_t)p[46];
	n->precision = (int8_t)p[47];
	n->root_delay = getf(p + 48);
	n->root_dispersion = getf(p + 52);
	n->ref_id = get32(p + 56);
	n->ref_time = chrony_wire_timespec_decode(p + 60);
	n->offset = getf(p + 72);
	n->peer_delay = getf(p + 76);
	n->peer_dispersion = getf(p + 80);
	n->response_time = getf(p + 84);
	n->jitter_asymmetry = getf(p + 88);
	n->flags = get16(p + 92);
	n->tx_tss_char = p[94];
	n->rx_tss_char = p[95];
	n->total_tx_count = get32(p + 96);
	n->total_rx_count = get32(p + 100);
	n->total_valid_count = get32(p + 104);
	return 0;
}

/* Copy a 256-byte name field: stops at NUL, never reads past the field,
 * replaces bytes that are not printable ASCII so the name is safe to print
 * and to put into JSON. */
static void decode_name(const uint8_t *p, char *out)
{
	size_t i;

	for (i = 0; i < 256 && p[i]; i++)
		out[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
	out[i] = '\0';
}

static int decode_body(const uint8_t *b, struct chrony_reply *out)
{
	switch (out->hdr.reply) {
	case CHRONY_RPY_NULL:
		return 0;
	case CHRONY_RPY_N_SOURCES:
		out->u.n_sources = get32(b);
		return 0;
	case CHRONY_RPY_SOURCE_DATA:
		return decode_source_data(b, &out->u.source_data);
	case CHRONY_RPY_TRACKING:
		return decode_tracking(b, &out->u.tracking);
	case CHRONY_RPY_SOURCESTATS:
		return decode_sourcestats(b, &out->u.sourcestats);
	case CHRONY_RPY_ACTIVITY:
		out->u.activity.online = (int32_t)get32(b);
		out->u.activity.offline = (int32_t)get32(b + 4);
		out->u.activity.burst_online = (int32_t)get32(b + 8);
		out->u.activity.burst_offline = (int32_t)get32(b + 12);
		out->u.activity.unresolved = (int32_t)get32(b + 16);
		return 0;
	case CHRONY_RPY_NTP_DATA:
		return decode_ntp_data(b, &out->u.ntp_data);
	case CHRONY_RPY_NTP_SOURCE_NAME:
		decode_name(b, out->u.source_name);
		return 0;
	default:
		return -EPROTO;
	}
}

int chrony_wire_decode_reply(const uint8_t *buf, size_t len, uint16_t command,
			     struct chrony_reply *out)
{
	size_t need;

	memset(out, 0, sizeof(*out));
	if (len < CHRONY_RPY_HDR_LEN)
		return -EBADMSG;
	out->hdr.version = buf[0];
	out->hdr.pkt_type = buf[1];
	out->hdr.command = get16(buf + 4);
	out->hdr.reply = get16(buf + 6);
	out->hdr.status = get16(buf + 8);
	out->hdr.sequence = get32(buf + 16);
	if (out->hdr.version != CHRONY_PROTO_VERSION || out->hdr.pkt_type != CHRONY_PKT_REPLY ||
	    out->hdr.command != command)
		return -EPROTO;
	if (out->hdr.status != CHRONY_STT_SUCCESS)
		return -EREMOTEIO;
	if (out->hdr.reply != chrony_wire_expected_reply(command))
		return -EPROTO;
	need = chrony_wire_reply_length(out->hdr.reply);
	if (len < need)
		return -EBADMSG;
	return decode_body(buf + CHRONY_RPY_HDR_LEN, out);
}

/* --- Names --- */

const char *chrony_wire_status_str(uint16_t status)
{
	static const char *names[] = {
		[CHRONY_STT_SUCCESS] = "success",
		[CHRONY_STT_FAILED] = "failed",
		[CHRONY_STT_UNAUTH] = "not authorised",
		[CHRONY_STT_INVALID] = "invalid command",
		[CHRONY_STT_NOSUCHSOURCE] = "no such source",
		[CHRONY_STT_INVALIDTS] = "invalid timestamp",
		[CHRONY_STT_NOTENABLED] = "facility not enabled",
		[CHRONY_STT_BADSUBNET] = "bad subnet",
		[CHRONY_STT_ACCESSALLOWED] = "access allowed",
		[CHRONY_STT_ACCESSDENIED] = "access denied",
		[CHRONY_STT_SOURCEALREADYKNOWN] = "source already known",
		[CHRONY_STT_TOOMANYSOURCES] = "too many sources",
		[CHRONY_STT_NORTC] = "no RTC",
		[CHRONY_STT_BADRTCFILE] = "bad RTC file",
		[CHRONY_STT_INACTIVE] = "inactive",
		[CHRONY_STT_BADSAMPLE] = "bad sample",
		[CHRONY_STT_INVALIDAF] = "invalid address family",
		[CHRONY_STT_BADPKTVERSION] = "protocol version mismatch",
		[CHRONY_STT_BADPKTLENGTH] = "bad packet length",
		[CHRONY_STT_INVALIDNAME] = "invalid name",
	};

	if (status < sizeof(names) / sizeof(names[0]) && names[status])
		return names[status];
	return "unknown status";
}

const char *chrony_wire_command_str(uint16_t command)
{
	const struct cmd_info *ci = cmd_find(command);

	return ci ? ci->name : "UNKNOWN";
}

const char *chrony_wire_leap_str(uint16_t leap)
{
	static const char *names[] = { "normal", "insert second", "delete second", "not synchronised" };

	return leap < 4 ? names[leap] : "invalid";
}

const char *chrony_wire_state_str(uint16_t state)
{
	static const char *names[] = { "selected", "nonselectable", "falseticker", "jittery",
				       "unselected", "selectable" };

	return state < 6 ? names[state] : "unknown";
}

char *chrony_wire_ipaddr_str(const struct chrony_ipaddr *ip, char *buf, size_t len)
{
	struct in_addr a4;

	switch (ip->family) {
	case CHRONY_AF_INET4:
		a4.s_addr = htonl(ip->addr.in4);
		if (!inet_ntop(AF_INET, &a4, buf, (socklen_t)len))
			snprintf(buf, len, "?");
		break;
	case CHRONY_AF_INET6:
		if (!inet_ntop(AF_INET6, ip->addr.in6, buf, (socklen_t)len))
			snprintf(buf, len, "?");
		break;
	case CHRONY_AF_ID:
		snprintf(buf, len, "ID#%010u", (unsigned)ip->addr.id);
		break;
	default:
		snprintf(buf, len, "[UNSPEC]");
		break;
	}
	return buf;
}

int chrony_wire_ipaddr_parse(const char *text, struct chrony_ipaddr *ip)
{
	struct in_addr a4;

	memset(ip, 0, sizeof(*ip));
	if (inet_pton(AF_INET, text, &a4) == 1) {
		ip->family = CHRONY_AF_INET4;
		ip->addr.in4 = ntohl(a4.s_addr);
		return 0;
	}
	if (inet_pton(AF_INET6, text, ip->addr.in6) == 1) {
		ip->family = CHRONY_AF_INET6;
		return 0;
	}
	return -EINVAL;
}

char *chrony_wire_refid_str(uint32_t ref_id, char *buf, size_t len)
{
	snprintf(buf, len, "%08X", (unsigned)ref_id);
	return buf;
}
