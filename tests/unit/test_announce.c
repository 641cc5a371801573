/* Unit tests for common/announce: the v1 layout against a vector built by
 * hand from docs/election.md (HMAC computed with Python's hmac module),
 * forged / malformed / stale / replayed announces, and the fleet key file. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "election/announce.h"
#include "election/announce_key.h"
#include "check_run.h"

#define NOW 1795291210.25

static const char key_hex[] = "0102030405060708090a0b0c0d0e0f10 1112131415161718191a1b1c1d1e1f20";
static const uint8_t id_m[8] = { 0xA0, 1, 2, 3, 4, 5, 6, 7 };
static const uint8_t id_self[8] = { 0xB0, 0, 0, 0, 0, 0, 0, 1 };

static struct announce_key key(void)
{
	struct announce_key k;

	ck_assert_int_eq(announce_key_from_hex(key_hex, &k), 0);
	return k;
}

static struct announce_msg msg(void)
{
	struct announce_msg m = {
		.ds = { .priority1 = 1, .clock_class = 248, .accuracy = 0x29, .priority2 = 128,
			.variance = 0x6C00, .steps_removed = 1 },
		.flags = ANNOUNCE_FLAG_SERVING | ANNOUNCE_FLAG_ELIGIBLE,
		.session = 0xDEADBEEF, .seq = 42, .ts = { 1795291210, 250000000 },
		.ntp_family = 4, .ntp_port = 12345, .ntp_addr = { 127, 0, 7, 1 },
		.name = "m-1",
	};

	memcpy(m.ds.identity, id_m, 8);
	memcpy(m.master, id_m, 8);
	return m;
}

static void encode(const struct announce_msg *m, uint8_t *buf)
{
	struct announce_key k = key();

	ck_assert_int_eq(announce_encode(m, &k, buf, ANNOUNCE_LEN), ANNOUNCE_LEN);
}

START_TEST(test_layout_vector)
{
	static const uint8_t head[] = {
		'F', 'C', 'A', 'N', 1, 3, 0, 0, 1, 248, 0x29, 128, 0x6C, 0x00, 0x00, 0x01,
		0xA0, 1, 2, 3, 4, 5, 6, 7, 0xDE, 0xAD, 0xBE, 0xEF, 0, 0, 0, 42,
		0, 0, 0, 0, 0x6B, 0x01, 0xF8, 0x4A, 0x0E, 0xE6, 0xB2, 0x80, 4, 0, 0x30, 0x39,
		127, 0, 7, 1,
	};
	static const char mac_hex[] =
		"051daee2b0908929b6d93ed4055b8bb86a9c7e9e71a4fc2e04ddbe3ce48bf60a";
	uint8_t buf[ANNOUNCE_LEN];
	char hex[65];
	struct announce_msg m = msg();

	encode(&m, buf);
	ck_assert_mem_eq(buf, head, sizeof(head));
	ck_assert_mem_eq(buf + 64, id_m, 8);
	ck_assert_mem_eq(buf + 72, "m-1\0\0", 5);
	for (int i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", buf[104 + i]);
	ck_assert_str_eq(hex, mac_hex);
}
END_TEST

START_TEST(test_round_trip)
{
	uint8_t buf[ANNOUNCE_LEN];
	struct announce_msg m = msg(), out;
	struct announce_key k = key();

	encode(&m, buf);
	ck_assert_int_eq(announce_decode(buf, sizeof(buf), &k, &out), ANNOUNCE_OK);
	ck_assert_mem_eq(&out.ds, &m.ds, sizeof(m.ds));
	ck_assert_uint_eq(out.session, m.session);
	ck_assert_uint_eq(out.seq, 42);
	ck_assert_int_eq(out.ts.tv_sec, m.ts.tv_sec);
	ck_assert_int_eq(out.ts.tv_nsec, m.ts.tv_nsec);
	ck_assert_uint_eq(out.ntp_port, 12345);
	ck_assert_str_eq(out.name, "m-1");
	ck_assert_uint_eq(out.flags, 3);
	ck_assert_int_eq(announce_encode(&m, &k, buf, ANNOUNCE_LEN - 1), -ENOSPC);
	m.ntp_family = 5;
	ck_assert_int_eq(announce_encode(&m, &k, buf, ANNOUNCE_LEN), -EINVAL);
}
END_TEST

START_TEST(test_forged)
{
	uint8_t buf[ANNOUNCE_LEN];
	struct announce_msg m = msg(), out;
	struct announce_key k = key(), wrong;

	/* Wrong key claiming priority 0 and a locked clock. */
	m.ds.priority1 = 0;
	m.ds.clock_class = 6;
	ck_assert_int_eq(announce_key_from_hex("ffffffffffffffffffffffffffffffff", &wrong), 0);
	ck_assert_int_eq(announce_encode(&m, &wrong, buf, sizeof(buf)), ANNOUNCE_LEN);
	ck_assert_int_eq(announce_decode(buf, sizeof(buf), &k, &out), ANNOUNCE_UNSIGNED);
	/* A good announce with its priority changed in flight. */
	m = msg();
	encode(&m, buf);
	buf[8] = 0;
	ck_assert_int_eq(announce_decode(buf, sizeof(buf), &k, &out), ANNOUNCE_UNSIGNED);
	/* No HMAC at all (zeros). */
	encode(&m, buf);
	memset(buf + 104, 0, 32);
	ck_assert_int_eq(announce_decode(buf, sizeof(buf), &k, &out), ANNOUNCE_UNSIGNED);
	ck_assert_int_eq(announce_decode(buf, sizeof(buf), NULL, &out), ANNOUNCE_UNSIGNED);
}
END_TEST

START_TEST(test_malformed)
{
	uint8_t buf[ANNOUNCE_LEN + 1];
	struct announce_msg m = msg(), out;
	struct announce_key k = key();

	encode(&m, buf);
	ck_assert_int_eq(announce_decode(buf, ANNOUNCE_LEN - 1, &k, &out), ANNOUNCE_MALFORMED);
	ck_assert_int_eq(announce_decode(buf, ANNOUNCE_LEN + 1, &k, &out), ANNOUNCE_MALFORMED);
	ck_assert_int_eq(announce_decode(buf, 0, &k, &out), ANNOUNCE_MALFORMED);
	buf[4] = 2;
	ck_assert_int_eq(announce_decode(buf, ANNOUNCE_LEN, &k, &out), ANNOUNCE_MALFORMED);
	encode(&m, buf);
	buf[0] = 'X';
	ck_assert_int_eq(announce_decode(buf, ANNOUNCE_LEN, &k, &out), ANNOUNCE_MALFORMED);
	encode(&m, buf);
	buf[7] = 1;
	ck_assert_int_eq(announce_decode(buf, ANNOUNCE_LEN, &k, &out), ANNOUNCE_MALFORMED);
	/* Well signed but nonsense (an unknown flag): still malformed. */
	m.flags = 0x80;
	encode(&m, buf);
	ck_assert_int_eq(announce_decode(buf, ANNOUNCE_LEN, &k, &out), ANNOUNCE_MALFORMED);
	m = msg();
	strcpy(m.name, "a b");
	encode(&m, buf);
	ck_assert_int_eq(announce_decode(buf, ANNOUNCE_LEN, &k, &out), ANNOUNCE_MALFORMED);
}
END_TEST

static enum announce_verdict feed(struct announce_table *t, const struct announce_msg *m,
				  double now_real, double now_mono)
{
	uint8_t buf[ANNOUNCE_LEN];
	struct announce_key k = key();
	static const uint8_t src[4] = { 127, 0, 7, 1 };

	encode(m, buf);
	return announce_table_accept(t, buf, sizeof(buf), &k, src, 4, now_real, now_mono);
}

START_TEST(test_table_replay_and_window)
{
	struct announce_table t;
	struct announce_msg m = msg();
	char line[200];

	announce_table_init(&t, id_self, 10);
	ck_assert_int_eq(feed(&t, &m, NOW, 5), ANNOUNCE_OK);
	ck_assert(t.peers[0].used);
	ck_assert_double_eq(t.peers[0].heard_mono, 5);
	ck_assert_int_eq(feed(&t, &m, NOW, 6), ANNOUNCE_REPLAYED);	/* same seq */
	m.seq = 41;
	ck_assert_int_eq(feed(&t, &m, NOW, 6), ANNOUNCE_REPLAYED);	/* older */
	m.seq = 43;
	ck_assert_int_eq(feed(&t, &m, NOW, 6), ANNOUNCE_OK);
	/* Outside the window either way; exactly at the edge is fine. */
	m.seq = 44;
	ck_assert_int_eq(feed(&t, &m, NOW + 10.5, 7), ANNOUNCE_STALE);
	ck_assert_int_eq(feed(&t, &m, NOW - 10.5, 7), ANNOUNCE_STALE);
	ck_assert_int_eq(feed(&t, &m, NOW - 10.0, 7), ANNOUNCE_OK);
	/* Our own clock unproven (17 minutes ahead): heard anyway. */
	t.enforce_window = false;
	m.seq = 45;
	ck_assert_int_eq(feed(&t, &m, NOW + 1020, 7), ANNOUNCE_OK);
	t.enforce_window = true;
	/* The sender restarts: a new session with a small sequence, once the
	 * old one has been unheard for two of its gaps, sent later. */
	m.session = 7;
	m.seq = 1;
	m.ts.tv_sec += 3;
	ck_assert_int_eq(feed(&t, &m, NOW, 10), ANNOUNCE_OK);
	ck_assert_uint_eq(t.peers[0].msg.session, 7);
	/* The old session replayed (new sequence numbers): refused. */
	m.session = 0xDEADBEEF;
	m.seq = 1000;
	ck_assert_int_eq(feed(&t, &m, NOW, 13), ANNOUNCE_REPLAYED);
	/* Our own announce looped back. */
	m = msg();
	memcpy(m.ds.identity, id_self, 8);
	ck_assert_int_eq(feed(&t, &m, NOW, 9), ANNOUNCE_SELF);
	ck_assert_uint_eq(t.count.ok, 5);
	ck_assert_uint_eq(t.count.replayed, 3);
	ck_assert_uint_eq(t.count.stale, 2);
	ck_assert_uint_eq(t.count.self, 1);
	ck_assert_str_eq(announce_counters_format(&t.count, line, sizeof(line)),
			 "ok=5 malformed=0 unsigned=0 stale=2 replayed=3 self=1 full=0");
	ck_assert_int_eq(announce_table_expire(&t, 25, 10), 1);
	ck_assert(!t.peers[0].used);
}
END_TEST

struct session_row {
	const char *what;
	uint32_t session;	/* the live session is 2 */
	double ts_off;		/* send time - the live session's last send time */
	double mono;		/* received at (the live session last heard at 10.0) */
	bool enforce_window;
	enum announce_verdict want;
};

/* Issue 14 item 6: an unproven receiver heard the live session 2 of M
 * (announces every 0.5 s, last at mono 10.0, send time NOW); then another
 * session of M arrives. Only a new session that is both later than all of
 * M's announces and after session 2 went quiet replaces it. */
static const struct session_row session_rows[] = {
	{ "older session replayed while live", 1, -5, 10.2, false, ANNOUNCE_REPLAYED },
	{ "older session, recorded while ahead", 1, +1020, 10.2, false, ANNOUNCE_REPLAYED },
	{ "newer session while live (a recording from the future)", 3, +0.1, 10.4, false,
	  ANNOUNCE_REPLAYED },
	{ "older session after the live one went quiet", 1, -5, 12.0, false, ANNOUNCE_REPLAYED },
	{ "restart: newer session after quiet", 3, +2, 12.0, false, ANNOUNCE_OK },
	{ "restart: newer session after quiet, proven receiver", 3, +2, 12.0, true, ANNOUNCE_OK },
	{ "restart with the clock set back, quiet for 60 s", 3, -30, 70.5, false, ANNOUNCE_OK },
	{ "restart with the clock set back, quiet 30 s", 3, -30, 40.0, false, ANNOUNCE_REPLAYED },
};

START_TEST(test_table_sessions)
{
	const struct session_row *r = &session_rows[_i];
	struct announce_table t;
	struct announce_msg m = msg();

	announce_table_init(&t, id_self, 10);
	t.enforce_window = false;
	m.session = 2;
	m.ts.tv_sec -= 2;
	for (int i = 0; i < 5; i++, m.seq++, m.ts.tv_nsec += 100000000)
		ck_assert_int_eq(feed(&t, &m, NOW, 8.0 + 0.5 * i), ANNOUNCE_OK);
	m.ts = (struct timespec){ (time_t)NOW, 250000000 };
	ck_assert_int_eq(feed(&t, &m, NOW, 10.0), ANNOUNCE_OK);
	t.enforce_window = r->enforce_window;
	m.session = r->session;
	m.seq = 7;
	m.ts.tv_sec += (time_t)r->ts_off;
	m.ts.tv_nsec += (long)((r->ts_off - (double)(time_t)r->ts_off) * 1e9);
	ck_assert_msg(feed(&t, &m, (double)m.ts.tv_sec + m.ts.tv_nsec * 1e-9, r->mono) == r->want,
		      "%s", r->what);
	/* The live session goes on: heard unless a new session replaced it. */
	m.session = 2;
	m.seq = 1000;
	m.ts = (struct timespec){ (time_t)NOW + 1, 0 };
	ck_assert_int_eq(feed(&t, &m, NOW + 1, r->mono + 0.1),
			 r->want == ANNOUNCE_OK ? ANNOUNCE_REPLAYED : ANNOUNCE_OK);
}
END_TEST

START_TEST(test_table_counts_forged_and_full)
{
	struct announce_table t;
	struct announce_msg m = msg();
	struct announce_key wrong;
	uint8_t buf[ANNOUNCE_LEN];

	announce_table_init(&t, id_self, 10);
	ck_assert_int_eq(announce_key_from_hex("ffffffffffffffffffffffffffffffff", &wrong), 0);
	m.ds.priority1 = 0;
	announce_encode(&m, &wrong, buf, sizeof(buf));
	ck_assert_int_eq(announce_table_accept(&t, buf, sizeof(buf), &wrong, NULL, 4, NOW, 1),
			 ANNOUNCE_OK);	/* under its own key it is fine... */
	announce_table_init(&t, id_self, 10);
	{
		struct announce_key k = key();

		ck_assert_int_eq(announce_table_accept(&t, buf, sizeof(buf), &k, NULL, 4, NOW, 1),
				 ANNOUNCE_UNSIGNED);	/* ...not under the fleet key */
		ck_assert_int_eq(announce_table_accept(&t, buf, 3, &k, NULL, 4, NOW, 1),
				 ANNOUNCE_MALFORMED);
	}
	ck_assert(!t.peers[0].used);
	ck_assert_uint_eq(t.count.unsigned_, 1);
	ck_assert_uint_eq(t.count.malformed, 1);
	m = msg();
	for (int i = 0; i < ANNOUNCE_MAX_PEERS; i++) {
		m.ds.identity[7] = (uint8_t)(100 + i);
		ck_assert_int_eq(feed(&t, &m, NOW, 1), ANNOUNCE_OK);
	}
	m.ds.identity[7] = 99;
	ck_assert_int_eq(feed(&t, &m, NOW, 1), ANNOUNCE_FULL);
}
END_TEST

START_TEST(test_identity)
{
	uint8_t id[8];
	/* sha256("m-1") starts a461b472cb41a9ec (Python hashlib). */
	static const uint8_t want[8] = { 0xa4, 0x61, 0xb4, 0x72, 0xcb, 0x41, 0xa9, 0xec };

	announce_identity_from_name("m-1", id);
	ck_assert_mem_eq(id, want, 8);
}
END_TEST

static void write_key(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	ck_assert_int_eq(chmod(path, mode), 0);
}

START_TEST(test_key_file)
{
	char dir[] = "/tmp/fc-keytest-XXXXXX", path[64], err[256];
	struct announce_key k;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/fleet.key", dir);
	write_key(path, key_hex, 0600);
	ck_assert_int_eq(announce_key_load(path, &k, err, sizeof(err)), 0);
	ck_assert_uint_eq(k.len, 32);
	ck_assert_uint_eq(k.bytes[31], 0x20);
	if (geteuid() == 0) {	/* root reads the daemon user's key (the roles install it so) */
		ck_assert_int_eq(chown(path, 65534, 65534), 0);
		ck_assert_msg(announce_key_load(path, &k, err, sizeof(err)) == 0, "%s", err);
		ck_assert_int_eq(chown(path, 0, 0), 0);
	}
	write_key(path, key_hex, 0644);
	ck_assert_int_eq(announce_key_load(path, &k, err, sizeof(err)), -EPERM);
	ck_assert_msg(strstr(err, path) && strstr(err, "0644"), "%s", err);
	write_key(path, "0102", 0600);
	ck_assert_int_eq(announce_key_load(path, &k, err, sizeof(err)), -EINVAL);
	write_key(path, "zz02030405060708090a0b0c0d0e0f10", 0400);
	ck_assert_int_eq(announce_key_load(path, &k, err, sizeof(err)), -EINVAL);
	unlink(path);
	ck_assert_int_eq(announce_key_load(path, &k, err, sizeof(err)), -ENOENT);
	ck_assert_msg(strstr(err, "No such file"), "%s", err);
	rmdir(dir);
	ck_assert_int_eq(announce_key_from_hex("0102030405060708090a0b0c0d0e0f1", &k), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("announce");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_layout_vector);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_forged);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_table_replay_and_window);
	tcase_add_loop_test(tc, test_table_sessions, 0,
			    (int)(sizeof(session_rows) / sizeof(session_rows[0])));
	tcase_add_test(tc, test_table_counts_forged_and_full);
	tcase_add_test(tc, test_identity);
	tcase_add_test(tc, test_key_file);
	suite_add_tcase(s, tc);
	return check_run(s);
}
