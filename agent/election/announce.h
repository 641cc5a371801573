/* announce.h - the election's announce message: a candidate's dataset,
 * versioned binary, authenticated with HMAC-SHA256 under a fleet key, and
 * the receiver's table that verifies, replay-checks and ages announces.
 * The codec and the table are pure (the caller passes the clocks); the
 * UDP side is in announce_sock.h. Format: docs/election.md. */
#ifndef FLEETCLOCK_ANNOUNCE_H
#define FLEETCLOCK_ANNOUNCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "election/bmca.h"

#define ANNOUNCE_VERSION 1
#define ANNOUNCE_LEN 136		/* version 1, HMAC included */
#define ANNOUNCE_HMAC_LEN 32
#define ANNOUNCE_NAME_MAX 32		/* bytes, without the NUL */
#define ANNOUNCE_KEY_MIN 16
#define ANNOUNCE_KEY_MAX 64
#define ANNOUNCE_MAX_PEERS 16
#define ANNOUNCE_RECENT_SESSIONS 4

#define ANNOUNCE_FLAG_SERVING 0x01	/* the sender's local reference is on */
#define ANNOUNCE_FLAG_ELIGIBLE 0x02	/* the sender finished its rejoin */
#define ANNOUNCE_FLAG_LISTENING 0x04	/* the sender has just started and listens */

struct announce_msg {
	struct bmca_dataset ds;
	uint8_t flags;
	uint32_t session;		/* random per sender start */
	uint32_t seq;			/* increases with every announce of a session */
	struct timespec ts;		/* sender's system clock when sent */
	uint8_t ntp_family;		/* 0: use the packet's source address, 4, 6 */
	uint16_t ntp_port;		/* where the sender serves NTP (0: 123) */
	uint8_t ntp_addr[16];		/* IPv4 in the first 4 bytes */
	uint8_t master[BMCA_IDENTITY_LEN];	/* who the sender thinks is master (0s: none) */
	char name[ANNOUNCE_NAME_MAX + 1];	/* the sender's host name */
};

struct announce_key {
	uint8_t bytes[ANNOUNCE_KEY_MAX];
	size_t len;
};


/* The key from hex text (for tests and tools). 0 or -EINVAL. */
int announce_key_from_hex(const char *hex, struct announce_key *key);

/* An identity from a host name (the first 8 bytes of its SHA-256). */
void announce_identity_from_name(const char *name, uint8_t id[BMCA_IDENTITY_LEN]);

/* Encode and sign into buf (at least ANNOUNCE_LEN). Returns ANNOUNCE_LEN,
 * -ENOSPC (buf too small) or -EINVAL (bad field or key). */
int announce_encode(const struct announce_msg *m, const struct announce_key *key,
		    uint8_t *buf, size_t len);

enum announce_verdict {
	ANNOUNCE_OK = 0,
	ANNOUNCE_MALFORMED,	/* length, magic, version, reserved bytes or a field wrong */
	ANNOUNCE_UNSIGNED,	/* the HMAC does not verify under the fleet key */
	ANNOUNCE_STALE,		/* timestamp outside the window around our clock */
	ANNOUNCE_REPLAYED,	/* sequence not newer, or an old session again */
	ANNOUNCE_SELF,		/* our own announce (multicast loop) */
	ANNOUNCE_FULL,		/* more senders than ANNOUNCE_MAX_PEERS */
};

/* Check length, framing and HMAC, then decode. Returns ANNOUNCE_OK,
 * ANNOUNCE_MALFORMED or ANNOUNCE_UNSIGNED; out is set only on OK. */
enum announce_verdict announce_decode(const uint8_t *buf, size_t len,
				      const struct announce_key *key, struct announce_msg *out);

/* "ok", "malformed", "unsigned", "stale", "replayed", "self", "full". */
const char *announce_verdict_name(enum announce_verdict v);

struct announce_peer {
	bool used;
	struct announce_msg msg;	/* the last accepted announce */
	uint8_t src_addr[16];		/* the packet's source address (IPv4: first 4) */
	uint8_t src_family;		/* 4 or 6 */
	double heard_mono;		/* when it was accepted (monotonic) */
	double newest_ts;		/* latest send time accepted from it, any session */
	double gap_s;			/* its announce spacing as heard (0: not known yet) */
	uint32_t recent[ANNOUNCE_RECENT_SESSIONS];	/* earlier sessions, refused again */
};

#define ANNOUNCE_QUIET_GAPS 2.0		/* a session is over after this many gaps unheard */
#define ANNOUNCE_QUIET_UNKNOWN_S 1.0	/* ... or this long when its spacing is not known */
#define ANNOUNCE_FORGET_S 60.0		/* after this long unheard, any new session is heard */

struct announce_counters {
	uint64_t ok, malformed, unsigned_, stale, replayed, self, full;
};

struct announce_table {
	uint8_t self[BMCA_IDENTITY_LEN];
	double window_s;		/* |sender ts - our clock| accepted (default 10) */
	bool enforce_window;		/* false while our own clock is unproven (default true) */
	struct announce_peer peers[ANNOUNCE_MAX_PEERS];
	struct announce_counters count;
};

/* Empty table for this node's identity and a window in seconds. */
void announce_table_init(struct announce_table *t, const uint8_t self[BMCA_IDENTITY_LEN],
			 double window_s);

/* Verify and take one received datagram (src: its source address, family
 * 4 or 6). now_real: our system clock; now_mono: a monotonic clock. Within
 * a session the sequence must increase. A new session of a known sender is
 * accepted only when (1) it is not one of the sender's recent sessions,
 * (2) the current session has gone quiet (unheard for ANNOUNCE_QUIET_GAPS
 * of its own announce spacing): a live session is never displaced, and
 * (3) its send time is later than every announce accepted from the sender,
 * unless the current session has been unheard for ANNOUNCE_FORGET_S (a
 * sender whose clock went back across a restart). Counts the verdict. The window is not applied while enforce_window is
 * false: a node whose own clock may be minutes off (just started, not yet
 * proven) must still hear the fleet; what it hears then only makes it
 * measure before it serves. */
enum announce_verdict announce_table_accept(struct announce_table *t, const uint8_t *buf,
					    size_t len, const struct announce_key *key,
					    const uint8_t *src, uint8_t src_family,
					    double now_real, double now_mono);

/* Forget peers not heard for longer than max_age_s (keeps their recent
 * sessions only while the slot is not reused). Returns how many. */
int announce_table_expire(struct announce_table *t, double now_mono, double max_age_s);

/* The counters as one line "ok=N malformed=N unsigned=N stale=N
 * replayed=N self=N full=N" into buf. */
char *announce_counters_format(const struct announce_counters *c, char *buf, size_t len);

#endif
