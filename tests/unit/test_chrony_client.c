/* Robustness tests for common/chrony_client against a fake chronyd: a
 * thread serving a Unix datagram socket (or UDP on loopback) that answers
 * with stray, truncated, oversized, wrong-version and garbage datagrams.
 * The client must never crash, must ignore what is not its reply, resend
 * when the reply is short, stay bounded, and name the socket and the cause.
 * Replies are written out byte by byte here, not with the codec. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "chrony/chrony_client.h"
#include "check_run.h"

enum script {
	SC_STRAY_THEN_OK,	/* noise first, then the right reply */
	SC_SHORT_THEN_OK,	/* truncated on attempt 0, full on attempt 1 */
	SC_ALWAYS_SHORT,
	SC_SILENT,
	SC_BADPKTVERSION,
	SC_VERSION5,		/* matching reply but protocol version 5 */
	SC_FAILED,
	SC_UNAUTH,
	SC_WRONG_TYPE,
	SC_GARBAGE_STORM,	/* 300 random datagrams, then the right reply */
	SC_SOURCE_GONE,		/* 2 sources announced, index 1 is gone */
	SC_MANY_SOURCES,	/* 40 sources: more than the pipeline window */
};

struct fake {
	int fd;
	bool udp;
	char dir[64];
	char path[108];
	int port;
	enum script script;
	volatile bool stop;
	pthread_t thread;
	int requests;
	uint32_t seqs[16];
};

static void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xFF; }
static void put32(uint8_t *p, uint32_t v) { put16(p, v >> 16); put16(p + 2, v & 0xFFFF); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)get16(p) << 16 | get16(p + 2); }

/* A reply of len bytes: header, and a body that depends on the command. */
static size_t build(uint8_t *b, size_t len, uint8_t version, uint16_t cmd, uint16_t type,
		    uint16_t status, uint32_t seq)
{
	memset(b, 0, len);
	b[0] = version;
	b[1] = 2;
	put16(b + 4, cmd);
	put16(b + 6, type);
	put16(b + 8, status);
	put32(b + 16, seq);
	if (cmd == 33 && len >= 104) {		/* TRACKING: stratum 3, freq 3.0 ppm */
		put32(b + 28, 0xC0000201);
		b[32] = 192; b[34] = 2; b[35] = 1;
		put16(b + 48, 1);
		put16(b + 52, 3);
		put32(b + 80, 0x06C00000);
	}
	if (cmd == 14 && len >= 32)		/* N_SOURCES: 2 */
		put32(b + 28, 2);
	if (cmd == 15 && len >= 76) {		/* SOURCE_DATA: 192.0.2.1, selected */
		b[28] = 192; b[30] = 2; b[31] = 1;
		put16(b + 44, 1);
		put16(b + 50, 2);
	}
	if (cmd == 65 && len >= 284)		/* NTP_SOURCE_NAME */
		memcpy(b + 28, "ntp.example", 11);
	return len;
}

static uint16_t reply_type(uint16_t cmd)
{
	switch (cmd) {
	case 33: return 5;
	case 14: return 2;
	case 15: return 3;
	case 34: return 6;
	case 65: return 19;
	case 57: return 16;
	default: return 1;
	}
}

static size_t reply_len(uint16_t type)
{
	switch (type) {
	case 5: return 104;
	case 2: return 32;
	case 3: return 76;
	case 6: return 84;
	case 19: return 284;
	case 16: return 152;
	default: return 28;
	}
}

static void answer(struct fake *f, const uint8_t *req, struct sockaddr *to, socklen_t tolen)
{
	uint8_t b[1100];
	uint16_t cmd = get16(req + 4), attempt = get16(req + 6), type = reply_type(cmd);
	uint32_t seq = get32(req + 8), idx = get32(req + 20);
	size_t len = reply_len(type);

#define SEND(n) sendto(f->fd, b, (n), 0, to, tolen)
	switch (f->script) {
	case SC_STRAY_THEN_OK:
		SEND(build(b, len, 6, cmd, type, 0, seq + 1));		/* wrong sequence */
		SEND(build(b, len, 6, (uint16_t)(cmd + 1), type, 0, seq));	/* wrong command */
		build(b, len, 6, cmd, type, 0, seq);
		b[1] = 1;
		SEND(len);						/* a request, not a reply */
		build(b, len, 6, cmd, type, 0, seq);
		b[3] = 9;
		SEND(len);						/* reserved byte set */
		SEND(build(b, 10, 6, cmd, type, 0, seq));		/* runt */
		SEND(build(b, 1000, 6, cmd, type, 0, seq));		/* oversized */
		SEND(build(b, len, 6, cmd, type, 0, seq));
		break;
	case SC_SHORT_THEN_OK:
		SEND(build(b, attempt == 0 ? len - 20 : len, 6, cmd, type, 0, seq));
		break;
	case SC_ALWAYS_SHORT:
		SEND(build(b, len - 1, 6, cmd, type, 0, seq));
		break;
	case SC_SILENT:
		break;
	case SC_BADPKTVERSION:
		SEND(build(b, 28, 6, cmd, 1, 18, seq));
		break;
	case SC_VERSION5:
		SEND(build(b, len, 5, cmd, type, 0, seq));
		break;
	case SC_FAILED:
		SEND(build(b, 28, 6, cmd, 1, 1, seq));
		break;
	case SC_UNAUTH:
		SEND(build(b, 28, 6, cmd, 1, 2, seq));
		break;
	case SC_WRONG_TYPE:
		SEND(build(b, 172, 6, cmd, 26, 0, seq));
		break;
	case SC_GARBAGE_STORM:
		for (int i = 0; i < 300; i++) {
			size_t n = (size_t)(rand() % 1000);

			for (size_t j = 0; j < n; j++)
				b[j] = (uint8_t)rand();
			if (i % 3 == 0 && n >= 28) {	/* a valid header, another sequence */
				b[0] = 6; b[1] = 2; b[2] = b[3] = 0;
				put16(b + 4, cmd);
				put32(b + 16, seq ^ (uint32_t)(i + 1));
			}
			SEND(n);
		}
		SEND(build(b, len, 6, cmd, type, 0, seq));
		break;
	case SC_MANY_SOURCES:
		build(b, len, 6, cmd, type, 0, seq);
		if (cmd == 14)
			put32(b + 28, 40);
		if (cmd == 15)
			b[31] = (uint8_t)(idx + 1);	/* 192.0.2.(idx+1) */
		SEND(len);
		break;
	case SC_SOURCE_GONE:
		if ((cmd == 15 || cmd == 34) && idx == 1)
			SEND(build(b, 28, 6, cmd, 1, 4, seq));	/* NOSUCHSOURCE */
		else
			SEND(build(b, len, 6, cmd, type, 0, seq));
		break;
	}
#undef SEND
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;

	while (!f->stop) {
		struct pollfd p = { .fd = f->fd, .events = POLLIN };
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		uint8_t req[2048];
		ssize_t n;

		if (poll(&p, 1, 20) <= 0)
			continue;
		n = recvfrom(f->fd, req, sizeof(req), 0, (struct sockaddr *)&from, &fl);
		if (n < 20)
			continue;
		if (f->requests < 16)
			f->seqs[f->requests] = get32(req + 8);
		f->requests++;
		answer(f, req, (struct sockaddr *)&from, fl);
	}
	return NULL;
}

static void fake_start(struct fake *f, enum script script, bool udp)
{
	memset(f, 0, sizeof(*f));
	f->script = script;
	f->udp = udp;
	if (udp) {
		struct sockaddr_in a = { .sin_family = AF_INET };
		socklen_t al = sizeof(a);

		a.sin_addr.s_addr = htonl(0x7F000232);	/* 127.0.2.50 */
		f->fd = socket(AF_INET, SOCK_DGRAM, 0);
		ck_assert_int_eq(bind(f->fd, (struct sockaddr *)&a, sizeof(a)), 0);
		getsockname(f->fd, (struct sockaddr *)&a, &al);
		f->port = ntohs(a.sin_port);
	} else {
		struct sockaddr_un a = { .sun_family = AF_UNIX };

		strcpy(f->dir, "/tmp/fc-fake-XXXXXX");
		ck_assert_ptr_nonnull(mkdtemp(f->dir));
		snprintf(f->path, sizeof(f->path), "%s/chronyd.sock", f->dir);
		strcpy(a.sun_path, f->path);
		f->fd = socket(AF_UNIX, SOCK_DGRAM, 0);
		ck_assert_int_eq(bind(f->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	}
	ck_assert_int_eq(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static void fake_stop(struct fake *f)
{
	f->stop = true;
	pthread_join(f->thread, NULL);
	close(f->fd);
	if (!f->udp) {
		unlink(f->path);
		rmdir(f->dir);
	}
}

static struct chrony_client *client_for(struct fake *f, enum chrony_transport t)
{
	struct chrony_client_opts o = {
		.socket_path = f->udp ? "/tmp/fc-nonexistent-dir/chronyd.sock" : f->path,
		.udp_host = "127.0.2.50",
		.udp_port = f->port,
		.transport = t,
		.timeout_ms = 40,
		.max_attempts = 3,
	};
	struct chrony_client *c;

	ck_assert_int_eq(chrony_client_open(&o, &c), 0);
	return c;
}

#define ASSERT_ERR_HAS(c, text) \
	ck_assert_msg(strstr(chrony_client_error(c), (text)) != NULL, "error '%s' lacks '%s'", \
		      chrony_client_error(c), (text))

START_TEST(test_stray_then_ok)
{
	struct fake f;
	struct chrony_client *c;
	struct chrony_tracking t;

	fake_start(&f, SC_STRAY_THEN_OK, false);
	c = client_for(&f, CHRONY_TRANSPORT_UNIX);
	ck_assert_int_eq(chrony_client_tracking(c, &t), 0);
	ck_assert_uint_eq(t.stratum, 3);
	ck_assert_double_eq(t.freq_ppm, 3.0);
	ck_assert_int_eq(f.requests, 1);	/* nothing had to be resent */
	chrony_client_close(c);
	fake_stop(&f);
}
END_TEST

START_TEST(test_short_then_ok)
{
	struct fake f;
	struct chrony_client *c;
	struct chrony_tracking t;

	fake_start(&f, SC_SHORT_THEN_OK, false);
	c = client_for(&f, CHRONY_TRANSPORT_UNIX);
	ck_assert_int_eq(chrony_client_tracking(c, &t), 0);
	ck_assert_int_eq(f.requests, 2);
	ck_assert_uint_ne(f.seqs[0], f.seqs[1]);	/* a fresh sequence per send */
	chrony_client_close(c);
	fake_stop(&f);
}
END_TEST

START_TEST(test_bounded_retries)
{
	static const enum script scripts[] = { SC_ALWAYS_SHORT, SC_SILENT };
	struct fake f;
	struct chrony_client *c;
	struct chrony_tracking t;
	char expect[256];

	fake_start(&f, scripts[_i], false);
	c = client_for(&f, CHRONY_TRANSPORT_UNIX);
	ck_assert_int_eq(chrony_client_tracking(c, &t), -ETIMEDOUT);
	ck_assert_int_eq(f.requests, 3);
	snprintf(expect, sizeof(expect), "no valid reply from chronyd at unix:%s to TRACKING after 3 attempts",
		 f.path);
	ASSERT_ERR_HAS(c, expect);
	chrony_client_close(c);
	fake_stop(&f);
}
END_TEST

static const struct {
	enum script script;
	bool udp;
	int rc;
	const char *text;
} error_cases[] = {
	{ SC_BADPKTVERSION, false, -EPROTO, "protocol version mismatch" },
	{ SC_VERSION5, false, -EPROTO, "speaks command protocol version 5, fleetclock speaks 6" },
	{ SC_FAILED, false, -EREMOTEIO, "MAKESTEP failed: failed" },
	{ SC_UNAUTH, true, -EPERM, "refused MAKESTEP: not authorised over UDP (use the Unix socket" },
};

START_TEST(test_error_replies)
{
	struct fake f;
	struct chrony_client *c;

	fake_start(&f, error_cases[_i].script, error_cases[_i].udp);
	c = client_for(&f, error_cases[_i].udp ? CHRONY_TRANSPORT_UDP : CHRONY_TRANSPORT_UNIX);
	ck_assert_int_eq(chrony_client_makestep(c), error_cases[_i].rc);
	ASSERT_ERR_HAS(c, error_cases[_i].text);
	ASSERT_ERR_HAS(c, error_cases[_i].udp ? "udp:127.0.2.50:" : f.path);
	chrony_client_close(c);
	fake_stop(&f);
}
END_TEST

START_TEST(test_wrong_reply_type)
{
	struct fake f;
	struct chrony_client *c;
	struct chrony_ntp_data nd;
	struct chrony_ipaddr ip;

	fake_start(&f, SC_WRONG_TYPE, false);
	c = client_for(&f, CHRONY_TRANSPORT_UNIX);
	chrony_wire_ipaddr_parse("192.0.2.1", &ip);
	ck_assert_int_eq(chrony_client_ntp_data(c, &ip, &nd), -EPROTO);
	ASSERT_ERR_HAS(c, "invalid NTP_DATA reply (type 26");
	chrony_client_close(c);
	fake_stop(&f);
}
END_TEST

START_TEST(test_garbage_storm)
{
	struct fake f;
	struct chrony_client *c;
	struct chrony_tracking t;

	struct chrony_client_opts o = { .transport = CHRONY_TRANSPORT_UNIX, .max_attempts = 3,
					/* 300 datagrams take long under valgrind */
					.timeout_ms = 1000 };

	srand(1234);
	fake_start(&f, SC_GARBAGE_STORM, false);
	o.socket_path = f.path;
	ck_assert_int_eq(chrony_client_open(&o, &c), 0);
	/* The right reply comes after 300 datagrams of noise. */
	ck_assert_int_eq(chrony_client_tracking(c, &t), 0);
	ck_assert_uint_eq(t.stratum, 3);
	chrony_client_close(c);
	fake_stop(&f);
}
END_TEST

START_TEST(test_snapshot_source_gone)
{
	struct fake f;
	struct chrony_client *c;
	struct chrony_snapshot *snap = calloc(1, sizeof(*snap));

	fake_start(&f, SC_SOURCE_GONE, false);
	c = client_for(&f, CHRONY_TRANSPORT_UNIX);
	/* Twice: the second snapshot guesses the source count and has the names. */
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(chrony_client_snapshot(c, snap), 0);
		ck_assert_uint_eq(snap->n_sources, 1);
		ck_assert_str_eq(snap->sources[0].name, "ntp.example");
		ck_assert(snap->sources[0].have_stats);
		ck_assert_uint_eq(snap->tracking.stratum, 3);
	}
	chrony_client_close(c);
	fake_stop(&f);
	free(snap);
}
END_TEST

START_TEST(test_snapshot_many_sources)
{
	struct fake f;
	struct chrony_client *c;
	struct chrony_snapshot *snap = calloc(1, sizeof(*snap));

	struct chrony_client_opts o = { .transport = CHRONY_TRANSPORT_UNIX, .timeout_ms = 5000 };

	fake_start(&f, SC_MANY_SOURCES, false);
	/* A long timeout: on a loaded machine a 40 ms one would resend. */
	o.socket_path = f.path;
	ck_assert_int_eq(chrony_client_open(&o, &c), 0);
	ck_assert_int_eq(chrony_client_snapshot(c, snap), 0);
	ck_assert_uint_eq(snap->n_sources, 40);
	for (uint32_t i = 0; i < 40; i++) {
		ck_assert_uint_eq(snap->sources[i].data.ip.addr.in4 & 0xFF, i + 1);
		ck_assert(snap->sources[i].have_stats);
	}
	/* 2 + 80 data/stats requests + 40 names, none lost, none resent. */
	ck_assert_int_eq(f.requests, 122);
	chrony_client_close(c);
	fake_stop(&f);
	free(snap);
}
END_TEST

START_TEST(test_udp_fallback)
{
	struct fake f;
	struct chrony_client *c;
	struct chrony_tracking t;

	/* No Unix socket: read-only commands go over UDP, write commands do not. */
	fake_start(&f, SC_STRAY_THEN_OK, true);
	c = client_for(&f, CHRONY_TRANSPORT_AUTO);
	ck_assert_int_eq(chrony_client_tracking(c, &t), 0);
	ck_assert_int_eq(strncmp(chrony_client_endpoint(c), "udp:127.0.2.50:", 15), 0);
	chrony_client_close(c);
	c = client_for(&f, CHRONY_TRANSPORT_AUTO);
	ck_assert_int_eq(chrony_client_makestep(c), -ENOENT);
	ASSERT_ERR_HAS(c, "directory /tmp/fc-nonexistent-dir does not exist (is chronyd running?)");
	chrony_client_close(c);
	fake_stop(&f);
}
END_TEST

START_TEST(test_not_running)
{
	struct chrony_client_opts o = { .transport = CHRONY_TRANSPORT_UNIX, .timeout_ms = 40 };
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char dir[] = "/tmp/fc-dead-XXXXXX";
	struct chrony_client *c;
	struct chrony_tracking t;
	int fd;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(a.sun_path, sizeof(a.sun_path), "%s/chronyd.sock", dir);
	o.socket_path = a.sun_path;
	/* No socket file. */
	ck_assert_int_eq(chrony_client_open(&o, &c), 0);
	ck_assert_int_eq(chrony_client_tracking(c, &t), -ENOENT);
	ASSERT_ERR_HAS(c, "the socket does not exist (is chronyd running?)");
	chrony_client_close(c);
	/* A socket file left behind by a chronyd that died. */
	fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	close(fd);
	ck_assert_int_eq(chrony_client_open(&o, &c), 0);
	ck_assert_int_eq(chrony_client_tracking(c, &t), -ECONNREFUSED);
	ASSERT_ERR_HAS(c, "connection refused (chronyd is not running)");
	ASSERT_ERR_HAS(c, a.sun_path);
	chrony_client_close(c);
	unlink(a.sun_path);
	rmdir(dir);
}
END_TEST

/* The fake's socket goes away and comes back at the same path, as when
 * chronyd is restarted (a new socket, the client's still connected to the
 * old one). */
static void fake_down(struct fake *f)
{
	f->stop = true;
	pthread_join(f->thread, NULL);
	close(f->fd);
	unlink(f->path);
}

static void fake_up(struct fake *f)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };

	strcpy(a.sun_path, f->path);
	f->stop = false;
	f->fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	ck_assert_int_eq(bind(f->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

/* _i = 0: a call while chronyd is down, then it is back: the first call
 * after its return answers. _i = 1: restarted between two calls (faster
 * than an interval): the call answers at once. */
START_TEST(test_restarted)
{
	struct fake f;
	struct chrony_client *c;
	struct chrony_tracking t;
	int rc;

	fake_start(&f, SC_STRAY_THEN_OK, false);
	c = client_for(&f, CHRONY_TRANSPORT_UNIX);
	ck_assert_int_eq(chrony_client_tracking(c, &t), 0);
	fake_down(&f);
	if (_i == 0) {
		rc = chrony_client_tracking(c, &t);
		ck_assert_msg(rc == -ECONNREFUSED || rc == -ENOENT, "down: %d %s", rc,
			      chrony_client_error(c));
		ASSERT_ERR_HAS(c, f.path);
	}
	fake_up(&f);
	rc = chrony_client_tracking(c, &t);
	ck_assert_msg(rc == 0, "after the restart: %d %s", rc, chrony_client_error(c));
	ck_assert_int_eq(chrony_client_tracking(c, &t), 0);
	chrony_client_close(c);
	fake_stop(&f);
}
END_TEST

/* A chronyd that does not read (SIGSTOP'ed): its queue fills up; every
 * call must still come back with a timeout, never block in send. Run in a
 * child so that a blocked call fails the test instead of hanging it. */
START_TEST(test_stopped_never_blocks)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char dir[] = "/tmp/fc-stopped-XXXXXX";
	int fd, status = 0;
	pid_t pid;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(a.sun_path, sizeof(a.sun_path), "%s/chronyd.sock", dir);
	fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		struct chrony_client_opts o = { .socket_path = a.sun_path, .timeout_ms = 5,
						.max_attempts = 2,
						.transport = CHRONY_TRANSPORT_UNIX };
		struct chrony_snapshot *snap = calloc(1, sizeof(*snap));
		struct chrony_client *c;
		struct chrony_tracking t;
		int bad = 0;

		if (!snap || chrony_client_open(&o, &c) < 0)
			_exit(3);
		/* far more datagrams than the queue holds (net.unix.max_dgram_qlen) */
		for (int i = 0; i < 40; i++) {
			bad += chrony_client_tracking(c, &t) != -ETIMEDOUT;
			bad += chrony_client_snapshot(c, snap) != -ETIMEDOUT;
		}
		if (bad)
			fprintf(stderr, "unexpected: %s\n", chrony_client_error(c));
		chrony_client_close(c);
		free(snap);
		_exit(bad ? 1 : 0);
	}
	/* generous: 80 calls of at most 15 ms of timeouts each */
	for (int i = 0; i < 200 && waitpid(pid, &status, WNOHANG) == 0; i++)
		usleep(50 * 1000);
	if (waitpid(pid, &status, WNOHANG) == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		ck_abort_msg("a call to a chronyd that does not read blocked (no return in 10 s)");
	}
	close(fd);
	unlink(a.sun_path);
	rmdir(dir);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

static const struct {
	const char *name;
	int pid;
} socket_names[] = {
	{ "fleetclock.812.0.sock", 812 },
	{ "fleetclock.1.4294967295.sock", 1 },
	{ "fleetclock.2147483647.3.sock", 2147483647 },
	{ "fleetclock.2147483648.3.sock", 0 },
	{ "fleetclock.0.0.sock", 0 },
	{ "fleetclock.812.sock", 0 },
	{ "fleetclock.812.0.sock.bak", 0 },
	{ "fleetclock.812.x.sock", 0 },
	{ "fleetclock..0.sock", 0 },
	{ "fleetclock.-5.0.sock", 0 },
	{ "chronyd.sock", 0 },
	{ "chronyc.812.sock", 0 },
	{ "xfleetclock.812.0.sock", 0 },
	{ "", 0 },
};

START_TEST(test_socket_pid)
{
	ck_assert_msg(chrony_client_socket_pid(socket_names[_i].name) == socket_names[_i].pid,
		      "%s: %d", socket_names[_i].name, chrony_client_socket_pid(socket_names[_i].name));
}
END_TEST

/* dir/<pre><pid><post>, empty */
static void touch_file(const char *dir, const char *pre, int pid, const char *post, char *path,
		       size_t len)
{
	FILE *fp;

	snprintf(path, len, "%s/%s%d%s", dir, pre, pid, post);
	fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	fclose(fp);
}

/* Client sockets of killed agents are removed from chronyd's directory;
 * those of live processes and every other file stay. */
START_TEST(test_stale_sockets_removed)
{
	struct fake f;
	struct chrony_client *c;
	struct chrony_tracking t;
	char dead1[200], dead2[200], live[200], own[200], other[200], bak[200], odd[200];
	pid_t dead = fork();

	ck_assert_int_ne(dead, -1);
	if (dead == 0)
		_exit(0);
	waitpid(dead, NULL, 0);
	fake_start(&f, SC_STRAY_THEN_OK, false);
	touch_file(f.dir, "fleetclock.", dead, ".0.sock", dead1, sizeof(dead1));
	touch_file(f.dir, "fleetclock.", dead, ".17.sock", dead2, sizeof(dead2));
	touch_file(f.dir, "fleetclock.", getppid(), ".0.sock", live, sizeof(live));
	touch_file(f.dir, "fleetclock.", getpid(), ".99.sock", own, sizeof(own));
	touch_file(f.dir, "other.", dead, ".0.sock", other, sizeof(other));
	touch_file(f.dir, "fleetclock.", dead, ".0.sock.bak", bak, sizeof(bak));
	touch_file(f.dir, "fleetclock.", dead, ".x.sock", odd, sizeof(odd));
	c = client_for(&f, CHRONY_TRANSPORT_UNIX);
	ck_assert_int_eq(chrony_client_tracking(c, &t), 0);
	ck_assert_msg(access(dead1, F_OK) < 0 && access(dead2, F_OK) < 0, "stale sockets of a dead pid kept");
	ck_assert_int_eq(access(live, F_OK), 0);
	ck_assert_int_eq(access(own, F_OK), 0);
	ck_assert_int_eq(access(other, F_OK), 0);
	ck_assert_int_eq(access(bak, F_OK), 0);
	ck_assert_int_eq(access(odd, F_OK), 0);
	chrony_client_close(c);
	unlink(live), unlink(own), unlink(other), unlink(bak), unlink(odd);
	fake_stop(&f);
}
END_TEST

START_TEST(test_permission_denied)
{
	struct fake f;
	pid_t pid;
	int status;

	if (geteuid() != 0)
		return;	/* needs root to become another user */
	fake_start(&f, SC_STRAY_THEN_OK, false);
	chmod(f.dir, 0770);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		struct chrony_client *c = client_for(&f, CHRONY_TRANSPORT_UNIX);
		struct chrony_tracking t;
		int ok;

		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(3);
		ok = chrony_client_tracking(c, &t) == -EACCES &&
		     strstr(chrony_client_error(c), "permission denied (run as root or as the _chrony user)") &&
		     strstr(chrony_client_error(c), f.dir);
		if (!ok)
			fprintf(stderr, "unexpected: %s\n", chrony_client_error(c));
		chrony_client_close(c);
		_exit(ok ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	fake_stop(&f);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("chrony_client");
	TCase *tc = tcase_create("fake chronyd");

	tcase_add_test(tc, test_stray_then_ok);
	tcase_add_test(tc, test_short_then_ok);
	tcase_add_loop_test(tc, test_bounded_retries, 0, 2);
	tcase_add_loop_test(tc, test_error_replies, 0, sizeof(error_cases) / sizeof(error_cases[0]));
	tcase_add_test(tc, test_wrong_reply_type);
	tcase_add_test(tc, test_garbage_storm);
	tcase_add_test(tc, test_snapshot_source_gone);
	tcase_add_test(tc, test_snapshot_many_sources);
	tcase_add_test(tc, test_udp_fallback);
	tcase_add_test(tc, test_not_running);
	tcase_add_test(tc, test_permission_denied);
	tcase_add_loop_test(tc, test_restarted, 0, 2);
	tcase_add_test(tc, test_stopped_never_blocks);
	tcase_add_loop_test(tc, test_socket_pid, 0, sizeof(socket_names) / sizeof(socket_names[0]));
	tcase_add_test(tc, test_stale_sockets_removed);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return check_run(s);
}
