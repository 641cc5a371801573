/* chrony_wire.h - chronyd command protocol (cmdmon) version 6: pure
 * encoding and decoding, no I/O. Facts: docs/chrony-protocol.md.
 *
 * Every integer on the wire is big-endian; byte order is converted field by
 * field here and nowhere else. Every reply is validated (length for its
 * type, version, packet type, reserved bytes, command and sequence echo)
 * before any field is read. */
#ifndef FLEETCLOCK_CHRONY_WIRE_H
#define FLEETCLOCK_CHRONY_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define CHRONY_PROTO_VERSION 6
#define CHRONY_PKT_REQUEST 1
#define CHRONY_PKT_REPLY 2
#define CHRONY_REQ_HDR_LEN 20
#define CHRONY_RPY_HDR_LEN 28
#define CHRONY_MIN_REQ_LEN 28	/* chronyd drops shorter requests */
#define CHRONY_MAX_REQ_LEN 860	/* chronyd drops longer requests */
#define CHRONY_MAX_RPY_LEN 524	/* largest reply of protocol 6 */

/* Request commands used by fleetclock. */
enum chrony_cmd {
	CHRONY_CMD_ONLINE = 1,
	CHRONY_CMD_OFFLINE = 2,
	CHRONY_CMD_BURST = 3,
	CHRONY_CMD_N_SOURCES = 14,
	CHRONY_CMD_SOURCE_DATA = 15,
	CHRONY_CMD_DFREQ = 31,
	CHRONY_CMD_TRACKING = 33,
	CHRONY_CMD_SOURCESTATS = 34,
	CHRONY_CMD_MAKESTEP = 43,
	CHRONY_CMD_ACTIVITY = 44,
	CHRONY_CMD_MODIFY_MAKESTEP = 50,
	CHRONY_CMD_LOCAL2 = 56,
	CHRONY_CMD_NTP_DATA = 57,
	CHRONY_CMD_NTP_SOURCE_NAME = 65,
	CHRONY_CMD_RESET_SOURCES = 66,
	CHRONY_CMD_DOFFSET2 = 71,
};

/* Reply types. */
enum chrony_rpy {
	CHRONY_RPY_NULL = 1,
	CHRONY_RPY_N_SOURCES = 2,
	CHRONY_RPY_SOURCE_DATA = 3,
	CHRONY_RPY_TRACKING = 5,
	CHRONY_RPY_SOURCESTATS = 6,
	CHRONY_RPY_ACTIVITY = 12,
	CHRONY_RPY_NTP_DATA = 16,
	CHRONY_RPY_NTP_SOURCE_NAME = 19,
};

/* Reply status codes. */
enum chrony_status {
	CHRONY_STT_SUCCESS = 0,
	CHRONY_STT_FAILED = 1,
	CHRONY_STT_UNAUTH = 2,
	CHRONY_STT_INVALID = 3,
	CHRONY_STT_NOSUCHSOURCE = 4,
	CHRONY_STT_INVALIDTS = 5,
	CHRONY_STT_NOTENABLED = 6,
	CHRONY_STT_BADSUBNET = 7,
	CHRONY_STT_ACCESSALLOWED = 8,
	CHRONY_STT_ACCESSDENIED = 9,
	CHRONY_STT_SOURCEALREADYKNOWN = 11,
	CHRONY_STT_TOOMANYSOURCES = 12,
	CHRONY_STT_NORTC = 13,
	CHRONY_STT_BADRTCFILE = 14,
	CHRONY_STT_INACTIVE = 15,
	CHRONY_STT_BADSAMPLE = 16,
	CHRONY_STT_INVALIDAF = 17,
	CHRONY_STT_BADPKTVERSION = 18,
	CHRONY_STT_BADPKTLENGTH = 19,
	CHRONY_STT_INVALIDNAME = 21,
};

enum chrony_family {
	CHRONY_AF_UNSPEC = 0,
	CHRONY_AF_INET4 = 1,
	CHRONY_AF_INET6 = 2,
	CHRONY_AF_ID = 3,	/* a source given by name, not yet resolved */
};

struct chrony_ipaddr {
	uint16_t family;	/* enum chrony_family */
	union {
		uint32_t in4;	/* host byte order */
		uint8_t in6[16];
		uint32_t id;
	} addr;
};

enum chrony_leap {
	CHRONY_LEAP_NORMAL = 0,
	CHRONY_LEAP_INSERT = 1,
	CHRONY_LEAP_DELETE = 2,
	CHRONY_LEAP_UNSYNC = 3,
};

struct chrony_tracking {
	uint32_t ref_id;
	struct chrony_ipaddr ip;
	uint16_t stratum;
	uint16_t leap_status;
	struct timespec ref_time;
	double current_correction;	/* s; > 0: system clock slow */
	double last_offset;		/* s */
	double rms_offset;		/* s */
	double freq_ppm;		/* > 0: clock fast */
	double resid_freq_ppm;
	double skew_ppm;
	double root_delay;		/* s */
	double root_dispersion;		/* s */
	double last_update_interval;	/* s */
};

enum chrony_source_state {
	CHRONY_SRC_SELECTED = 0,
	CHRONY_SRC_NONSELECTABLE = 1,
	CHRONY_SRC_FALSETICKER = 2,
	CHRONY_SRC_JITTERY = 3,
	CHRONY_SRC_UNSELECTED = 4,	/* "combined" in candm.h */
	CHRONY_SRC_SELECTABLE = 5,	/* "not combined" */
};

enum chrony_source_mode {
	CHRONY_MODE_CLIENT = 0,
	CHRONY_MODE_PEER = 1,
	CHRONY_MODE_REF = 2,
};

#define CHRONY_NO_SAMPLE 0xFFFFFFFFu

struct chrony_source_data {
	struct chrony_ipaddr ip;
	int16_t poll;
	uint16_t stratum;
	uint16_t state;
	uint16_t mode;
	uint16_t flags;
	uint16_t reachability;
	uint32_t since_sample;		/* s, CHRONY_NO_SAMPLE = none */
	double orig_latest_meas;	/* s */
	double latest_meas;		/* s; > 0: the local clock is ahead of the source */
	double latest_meas_err;		/* s */
};

struct chrony_sourcestats {
	uint32_t ref_id;
	struct chrony_ipaddr ip;
	uint32_t n_samples;
	uint32_t n_runs;
	uint32_t span_seconds;
	double sd;
	double resid_freq_ppm;
	double skew_ppm;
	double est_offset;
	double est_offset_err;
};

struct chrony_activity {
	int32_t online;
	int32_t offline;
	int32_t burst_online;
	int32_t burst_offline;
	int32_t unresolved;
};

/* chrony_ntp_data.flags: the low 10 bits are the NTP tests (chronyc's
 * "NTP tests"), then these (chrony 4.x; seen in a real NTP_DATA reply). */
#define CHRONY_NTP_FLAGS_TESTS 0x03FFu
#define CHRONY_NTP_FLAG_INTERLEAVED 0x4000u
#define CHRONY_NTP_FLAG_AUTHENTICATED 0x8000u	/* chronyc's "Authenticated : Yes" */

struct chrony_ntp_data {
	struct chrony_ipaddr remote_addr;
	struct chrony_ipaddr local_addr;
	uint16_t remote_port;
	uint8_t leap;
	uint8_t version;
	uint8_t mode;
	uint8_t stratum;
	int8_t poll;
	int8_t precision;
	double root_delay;
	double root_dispersion;
	uint32_t ref_id;
	struct timespec ref_time;
	double offset;
	double peer_delay;
	double peer_dispersion;
	double response_time;
	double jitter_asymmetry;
	uint16_t flags;
	uint8_t tx_tss_char;
	uint8_t rx_tss_char;
	uint32_t total_tx_count;
	uint32_t total_rx_count;
	uint32_t total_valid_count;
};

/* One request, as the caller describes it. */
struct chrony_request {
	uint16_t command;	/* enum chrony_cmd */
	union {
		uint32_t index;			/* SOURCE_DATA, SOURCESTATS */
		struct chrony_ipaddr ip;	/* NTP_DATA, NTP_SOURCE_NAME */
		struct {
			struct chrony_ipaddr mask, address;
		} online;			/* ONLINE, OFFLINE */
		struct {
			struct chrony_ipaddr mask, address;
			int32_t n_good, n_total;
		} burst;
		struct {
			int32_t limit;
			double threshold;
		} modify_makestep;
		double dfreq_ppm;		/* DFREQ: added to chronyd's frequency */
		double doffset_s;		/* DOFFSET2: > 0 slews the clock back */
		struct {
			int32_t on_off, stratum;
			double distance;
			int32_t orphan;
		} local;
	} u;
};

/* A decoded reply header. */
struct chrony_reply_header {
	uint8_t version;
	uint8_t pkt_type;
	uint16_t command;
	uint16_t reply;
	uint16_t status;
	uint32_t sequence;
};

/* A decoded reply body; which member is valid follows from header.reply. */
struct chrony_reply {
	struct chrony_reply_header hdr;
	union {
		uint32_t n_sources;
		struct chrony_source_data source_data;
		struct chrony_tracking tracking;
		struct chrony_sourcestats sourcestats;
		struct chrony_activity activity;
		struct chrony_ntp_data ntp_data;
		char source_name[257];	/* NUL-terminated */
	} u;
};

/* --- Primitive codecs (exposed for tests and fuzzing) --- */

/* chrony's 32-bit Float: 7-bit signed exponent, 25-bit signed coefficient. */
double chrony_wire_float_decode(uint32_t f);
uint32_t chrony_wire_float_encode(double x);

/* Timespec: 12 bytes; a high word of 0x7FFFFFFF means 32-bit time_t (0). */
struct timespec chrony_wire_timespec_decode(const uint8_t p[12]);
void chrony_wire_timespec_encode(struct timespec ts, uint8_t p[12]);

/* IPAddr: 20 bytes. Returns 0, or -EPROTO for an unknown family. */
int chrony_wire_ipaddr_decode(const uint8_t p[20], struct chrony_ipaddr *ip);
void chrony_wire_ipaddr_encode(const struct chrony_ipaddr *ip, uint8_t p[20]);

/* --- Requests --- */

/* Length of the whole request for a command, padded to the length of the
 * reply it triggers (chronyd never sends a reply longer than the request).
 * Returns 0 for a command this codec does not know. */
size_t chrony_wire_request_length(uint16_t command);

/* The reply type a successful command answers with. 0 if unknown. */
uint16_t chrony_wire_expected_reply(uint16_t command);

/* Encode a request into buf. Returns the number of bytes, or -EINVAL for an
 * unknown command or an invalid argument, -ENOSPC if buf is too small. */
int chrony_wire_encode_request(const struct chrony_request *req, uint32_t sequence,
			       uint16_t attempt, uint8_t *buf, size_t len);

/* --- Replies --- */

/* Length of a reply of the given type (header included), 0 if unknown. */
size_t chrony_wire_reply_length(uint16_t reply_type);

/* Outcome of matching a received datagram against the outstanding request. */
enum chrony_wire_match {
	CHRONY_MATCH_OK = 0,		/* ours; header fields in hdr */
	CHRONY_MATCH_IGNORE,		/* not ours (stray, wrong seq/command, too short/long) */
	CHRONY_MATCH_BAD_VERSION,	/* ours, but another protocol version: keep waiting,
					 * report a version mismatch if nothing else comes */
};

/* Check the header of a received datagram: 28 to 860 bytes, reply packet
 * type, reserved bytes zero, the command and sequence of the outstanding
 * request, and version 6. (chronyd answers a request of a version it does
 * not speak with a version-6 STT_BADPKTVERSION, which matches.) */
enum chrony_wire_match chrony_wire_match_reply(const uint8_t *buf, size_t len, uint16_t command,
					       uint32_t sequence, struct chrony_reply_header *hdr);

/* Decode a matched reply. Returns 0 on success (status SUCCESS, the reply
 * type expected for the command, exact length or longer); -EREMOTEIO when
 * chronyd reported a non-success status (in out->hdr.status); -EBADMSG when
 * the reply is shorter than its type requires (resend); -EPROTO for an
 * unexpected or unknown reply type or an invalid field. */
int chrony_wire_decode_reply(const uint8_t *buf, size_t len, uint16_t command,
			     struct chrony_reply *out);

/* --- Names for messages --- */

const char *chrony_wire_status_str(uint16_t status);
const char *chrony_wire_command_str(uint16_t command);
const char *chrony_wire_leap_str(uint16_t leap);
const char *chrony_wire_state_str(uint16_t state);

/* Print an address as text ("192.0.2.1", "2001:db8::1", "ID#0000000001").
 * Returns buf. */
char *chrony_wire_ipaddr_str(const struct chrony_ipaddr *ip, char *buf, size_t len);

/* Parse a numeric IPv4/IPv6 address. Returns 0 or -EINVAL. */
int chrony_wire_ipaddr_parse(const char *text, struct chrony_ipaddr *ip);

/* A reference ID as chronyc prints it: eight hex digits. */
char *chrony_wire_refid_str(uint32_t ref_id, char *buf, size_t len);

#endif
