/* action_daemon.c - --daemon: every interval, build the status document
 * and POST it to the collector. What the collector does not take (down,
 * 5xx, timeout, 401/403 until the token is right again) waits in the spool
 * (on disk, in memory when the disk fails) and is replayed in the order it
 * was built, each report at most once per attempt, with capped exponential
 * backoff and jitter. SIGTERM/SIGINT: one last bounded
 * flush of the spool, then exit 0; what is left stays spooled. */
#include <dlfcn.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "election/agent_election.h"
#include "selected_source.h"
#include "rtc/daemon_rtc.h"
#include "fleetclock_config.h"
#include "base/log.h"
#include "chrony/ntp_auth.h"
#include "report/push.h"
#include "chrony/readiness.h"
#include "report/spool.h"
#include "report/start_send.h"
#include "report/status.h"
#include "time/timeutil.h"

struct daemon {
	struct agent_ctx *ctx;
	struct chrony_client *chrony;
	struct push *push;		/* NULL: no collector configured */
	struct push *push_starts;	/* start records of --at (start_send.h); NULL: none */
	struct spool *spool;
	struct daemon_rtc *rtc;		/* NULL: no RTC */
	struct agent_election *election;	/* NULL: not a master candidate */
	unsigned failures;		/* consecutive failed POSTs */
	enum push_outcome last;		/* of the last POST */
	char post_error[512];		/* of the last failed POST */
	double next_try;		/* CLOCK_MONOTONIC; no POST before */
	unsigned seed;
	int (*sd_notify)(int unset_environment, const char *state);
	struct log_ratelimit rl_post, rl_spool, rl_chrony, rl_reject;
};

/* sd_notify from libsystemd, loaded only under systemd (NOTIFY_SOCKET),
 * and only in a build that found libsystemd. */
static void load_sd_notify(struct daemon *d)
{
#ifdef HAVE_LIBSYSTEMD
	void *lib;

	if (!getenv("NOTIFY_SOCKET"))
		return;
	lib = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
	if (lib)
		*(void **)&d->sd_notify = dlsym(lib, "sd_notify");
	if (!d->sd_notify)
		log_warn("NOTIFY_SOCKET is set but libsystemd.so.0 could not be loaded: no sd_notify");
#else
	(void)d;
#endif
}

static void notify(struct daemon *d, const char *state)
{
	if (d->sd_notify)
		d->sd_notify(0, state);
}

/* A token in a file others can read is no secret: refuse to use it. */
static int check_token_file(const struct agent_ctx *ctx)
{
	struct stat st;

	if (!ctx->cfg.collector_token[0])
		return 0;
	if (stat(ctx->config_path, &st) < 0) {
		log_err("%s: stat: %s", ctx->config_path, strerror(errno));
		return -errno;
	}
	if (st.st_mode & S_IROTH) {
		log_err("%s: holds the collector token but is readable by everyone (mode %04o); "
			"refusing to run: chmod o-r %s", ctx->config_path, st.st_mode & 07777,
			ctx->config_path);
		return -EPERM;
	}
	return 0;
}

/* The readiness verdict on the same snapshot (pure, as --check does it):
 * the failed checks become the document's problems. */
static void evaluate_check(struct daemon *d, int chrony_rc, const struct chrony_snapshot *snap,
			   const struct status_rtc *rtc, const struct ntp_auth_result *auth,
			   const struct spread_sel *sel, struct status_check *check)
{
	const struct agent_config *cfg = &d->ctx->cfg;
	struct readiness_limits lim;
	struct readiness_input in = {
		.chrony_rc = chrony_rc, .chrony_endpoint = chrony_client_endpoint(d->chrony),
		.chrony_error = chrony_client_error(d->chrony), .snap = snap,
		.now = timeutil_now(CLOCK_REALTIME), .expected_sources = cfg->check_expected_sources,
		.allow_local = agent_role_may_serve(cfg),
		.rtc = !d->rtc ? READINESS_RTC_NONE
		       : !rtc->have_offset ? READINESS_RTC_NOT_CHECKED
		       : rtc->valid ? READINESS_RTC_VALID : READINESS_RTC_INVALID,
		.rtc_offset = rtc->offset_s, .rtc_detail = rtc->device,
		.collector = READINESS_COLLECTOR_NOT_CONFIGURED, .sel = sel,
		.ntp_auth_mode = cfg->ntp_auth_mode, .ntp_auth = auth,
	};
	static struct readiness_report r;

	agent_check_limits(cfg, &lim);
	readiness_evaluate(&in, &lim, &r);
	memset(check, 0, sizeof(*check));
	check->ready = r.verdict == READINESS_READY;
	check->budget_s = lim.budget;
	for (size_t i = 0; i < r.n_checks && check->n_problems < STATUS_MAX_PROBLEMS; i++) {
		const struct readiness_check *c = &r.checks[i];

		if (c->status != READINESS_FAIL)
			continue;
		snprintf(check->problems[check->n_problems++], sizeof(check->problems[0]),
			 "%s: %.100s%s%s%s", c->name, c->value, c->threshold[0] ? " (" : "",
			 c->threshold, c->threshold[0] ? ")" : "");
	}
}

/* The "report_queue" object: what waits, where, and why. */
static json_t *report_queue_json(struct daemon *d)
{
	struct spool_state st;
	struct status_report_queue q;

	spool_state(d->spool, &st);
	q = (struct status_report_queue){
		.in_memory = st.in_memory, .queued = st.count, .in_memory_count = st.mem_count,
		.unremoved = st.stuck, .dropped = st.dropped, .error = st.error,
		.delivery = d->last == PUSH_REFUSED ? "refused"
			    : d->last == PUSH_RETRY ? "retrying" : "ok",
		.delivery_error = d->post_error,
	};
	return status_build_report_queue(&q);
}

/* The document for now, as compact JSON (malloc'ed), or NULL. */
static char *build_report(struct daemon *d)
{
	static struct chrony_snapshot snap;
	static struct status_check check;
	static struct ntp_auth_result auth;
	struct status_rtc rtc;
	struct agent_config *cfg = &d->ctx->cfg;
	struct status_meta meta = { cfg->host, cfg->role, FLEETCLOCK_VERSION, { 0, 0 } };
	const char *chrony_err = NULL;
	struct spread_sel sel;
	bool have_sel, want_auth;
	json_t *doc;
	char *text;
	int rc;

	rc = chrony_client_snapshot(d->chrony, &snap);
	if (rc < 0) {
		chrony_err = chrony_client_error(d->chrony);
		log_ratelimited(&d->rl_chrony, LOG_WARNING, "%s", chrony_err);
	}
	want_auth = rc == 0 && cfg->ntp_auth_mode != NTP_AUTH_MODE_OFF;
	/* one NTPDATA request for both the relative bound and "ntp auth" */
	have_sel = rc == 0 && selected_source_read(d->chrony, &snap, &sel, want_auth ? &auth : NULL) == 0;
	daemon_rtc_status(d->rtc, &rtc);
	evaluate_check(d, rc, &snap, &rtc, want_auth ? &auth : NULL, have_sel ? &sel : NULL, &check);
	clock_gettime(CLOCK_REALTIME, &meta.sent_at);
	doc = status_build_election(&meta, rc < 0 ? NULL : &snap, chrony_err,
				    rtc.present ? &rtc : NULL, &check,
				    d->election ? agent_election_json(d->election) : NULL);
	if (doc && want_auth)
		status_set_authenticated(doc, ntp_auth_json_value(&auth));
	if (doc && have_sel)
		selected_source_to_status(doc, &snap, &sel);
	if (doc && d->spool)
		json_object_set_new(doc, "report_queue", report_queue_json(d));
	text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	return text;
}

/* Log what rc means for the report (a refused token once per episode) and
 * return it. */
static enum push_outcome judge(struct daemon *d, int rc, const char *err)
{
	enum push_outcome o = push_outcome_of(rc);

	switch (o) {
	case PUSH_SENT:
		if (d->last == PUSH_REFUSED)
			log_info("collector accepts reports again: delivering %zu kept reports",
				 spool_count(d->spool));
		break;
	case PUSH_REFUSED:
		if (d->last != PUSH_REFUSED)
			log_err("%s; reports are kept (spool, bounded) and retried with backoff "
				"(at most %.0f s) until the collector accepts them", err,
				d->ctx->cfg.backoff_max_s);
		break;
	case PUSH_DROP:
		log_ratelimited(&d->rl_reject, LOG_ERR, "%s; the report is dropped", err);
		break;
	case PUSH_RETRY:
		log_ratelimited(&d->rl_post, LOG_WARNING, "%s; spooling, retrying with backoff",
				err);
		break;
	}
	return o;
}

static enum push_outcome post(struct daemon *d, const char *doc, size_t len)
{
	char err[512] = "";
	int code = push_post(d->push, doc, len, err, sizeof(err));
	enum push_outcome r = judge(d, code, err);

	if (r == PUSH_SENT || r == PUSH_DROP)
		d->post_error[0] = '\0';
	else
		memcpy(d->post_error, err, sizeof(err));
	d->last = r;
	return r;
}

/* Capped exponential backoff with jitter (push_backoff_s). */
static void backoff(struct daemon *d)
{
	double wait;

	d->failures++;
	wait = push_backoff_s(d->failures, d->ctx->cfg.backoff_max_s,
			      rand_r(&d->seed) / (double)RAND_MAX);
	d->next_try = timeutil_now(CLOCK_MONOTONIC) + wait;
	log_debug("collector: next attempt in %.1f s (failure %u)", wait, d->failures);
}

static void spool_doc(struct daemon *d, const char *doc, size_t len)
{
	char err[512];

	if (spool_push(d->spool, doc, len, err, sizeof(err)) < 0)
		log_ratelimited(&d->rl_spool, LOG_ERR, "%s", err);
}

/* Send spooled documents, oldest first, until the spool is empty, a POST
 * fails or the deadline (CLOCK_MONOTONIC) passes. */
static void replay(struct daemon *d, double deadline)
{
	char err[512], *doc;
	size_t len;
	int rc;

	while (spool_count(d->spool) > 0 && timeutil_now(CLOCK_MONOTONIC) < deadline) {
		rc = spool_peek(d->spool, &doc, &len, err, sizeof(err));
		if (rc == -ENOENT)
			break;
		if (rc < 0) {
			log_err("%s", err);
			continue;
		}
		enum push_outcome r = post(d, doc, len);

		free(doc);
		if (r == PUSH_RETRY || r == PUSH_REFUSED) {
			backoff(d);
			return;
		}
		/* Out of the queue even when its file cannot be removed (read-only
		 * spool): each report is sent once, never in a loop. */
		spool_pop(d->spool);
		d->failures = 0;
	}
}

/* Start records that --at could not deliver, once the collector answers. */
static void send_start_records(struct daemon *d)
{
	char dir[300];

	if (!d->push_starts || d->failures > 0)
		return;
	start_spool_dir(&d->ctx->cfg, dir, sizeof(dir));
	start_spool_drain(dir, d->push_starts, 16);
}

static void tick(struct daemon *d, double deadline)
{
	double now = timeutil_now(CLOCK_MONOTONIC);
	char *doc;
	size_t len;

	daemon_rtc_tick(d->rtc, now, agent_election_reference(d->election));
	if (!d->push)
		return;
	spool_tidy(d->spool);
	doc = build_report(d);
	if (!doc) {
		log_err("cannot build the status document: out of memory");
		return;
	}
	len = strlen(doc);
	if (spool_count(d->spool) == 0 && now >= d->next_try) {
		enum push_outcome r = post(d, doc, len);

		if (r == PUSH_RETRY || r == PUSH_REFUSED) {
			spool_doc(d, doc, len);
			backoff(d);
		} else {
			d->failures = 0;
		}
	} else {
		spool_doc(d, doc, len);	/* behind older ones: order is kept */
		if (now >= d->next_try)
			replay(d, deadline);
	}
	free(doc);
	send_start_records(d);
}

/* At exit: what the next start will send, and what is lost with this
 * process (reports kept in memory while the spool cannot be written). */
static void report_left(struct daemon *d)
{
	struct spool_state st;

	spool_tidy(d->spool);
	spool_state(d->spool, &st);
	if (st.count > st.mem_count)
		log_warn("spool %s: %zu reports kept for the next start", d->ctx->cfg.spool_dir,
			 st.count - st.mem_count);
	if (st.mem_count)
		log_err("%s: %zu reports kept in memory are lost with this process", st.error,
			st.mem_count);
}

/* A second handle on the collector's start URL, for --at's spooled start
 * records; none (logged) when the URL does not end in /status. */
static void open_start_records(struct daemon *d, const struct push_opts *status_opts)
{
	struct push_opts po = *status_opts;
	char url[300], err[512];

	if (start_send_url(status_opts->url, url, sizeof(url)) < 0) {
		log_warn("[collector] url %s does not end in /status: start records of --at are not "
			 "sent", status_opts->url);
		return;
	}
	po.url = url;
	if (push_open(&po, &d->push_starts, err, sizeof(err)) < 0)
		log_warn("start records: %s", err);
}

/* The collector side: token check, spool, libcurl. Skipped (0) when no
 * collector is configured: the election and the RTC still run. */
static int open_reporting(struct daemon *d)
{
	const struct agent_config *cfg = &d->ctx->cfg;
	struct push_opts po = { cfg->collector_url, cfg->collector_token, cfg->collector_ca_file,
				cfg->connect_timeout_ms, cfg->post_timeout_ms,
				"fleetclock-agent/" FLEETCLOCK_VERSION };
	char err[512];
	int rc;

	if (!cfg->collector_url[0]) {
		log_info("%s: [collector] url is not set: not reporting", d->ctx->config_path);
		return 0;
	}
	if ((rc = check_token_file(d->ctx)) < 0)
		return rc;
	if ((rc = spool_open(cfg->spool_dir, (size_t)cfg->spool_max_count,
			     (size_t)cfg->spool_max_bytes, &d->spool, err, sizeof(err))) < 0 ||
	    (rc = push_open(&po, &d->push, err, sizeof(err))) < 0) {
		log_err("%s", err);
		return rc;
	}
	if (spool_count(d->spool))
		log_info("spool %s: %zu reports from before, replaying", cfg->spool_dir,
			 spool_count(d->spool));
	open_start_records(d, &po);
	return 0;
}

static int daemon_open(struct daemon *d)
{
	int rc;

	if ((rc = open_reporting(d)) < 0 || (rc = agent_chrony_open(d->ctx, &d->chrony)) < 0 ||
	    (rc = daemon_rtc_open(d->ctx, &d->rtc)) < 0)
		return rc;
	if (d->ctx->cfg.election.enabled &&
	    ((rc = agent_election_open(d->ctx, &d->election)) < 0 ||
	     (rc = agent_election_start(d->election)) < 0))
		return rc;
	return 0;
}

static void daemon_close(struct daemon *d)
{
	/* Stop serving (local reference off) while chronyd can still be told. */
	agent_election_close(d->election, d->chrony);
	daemon_rtc_close(d->rtc);
	chrony_client_close(d->chrony);
	push_close(d->push);
	push_close(d->push_starts);
	spool_close(d->spool);
}

/* Sleep until the monotonic time `until` or a signal; returns the signal
 * or 0. */
static int wait_until(const sigset_t *set, double until)
{
	double left = until - timeutil_now(CLOCK_MONOTONIC);
	struct timespec ts;
	int sig;

	if (left <= 0)
		return 0;
	ts = timeutil_double_to_ts(left);
	sig = sigtimedwait(set, NULL, &ts);
	return sig > 0 ? sig : 0;
}

int agent_action_daemon(struct agent_ctx *ctx)
{
	struct daemon d = { .ctx = ctx, .seed = (unsigned)getpid() ^ (unsigned)time(NULL),
			    .rl_post = LOG_RATELIMIT_INIT(60), .rl_spool = LOG_RATELIMIT_INIT(60),
			    .rl_chrony = LOG_RATELIMIT_INIT(60),
			    .rl_reject = LOG_RATELIMIT_INIT(60) };
	double interval = ctx->cfg.report_interval_s, next;
	sigset_t set;
	int sig = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (daemon_open(&d) < 0) {
		daemon_close(&d);
		return AGENT_EXIT_ERROR;
	}
	load_sd_notify(&d);
	notify(&d, "READY=1");
	log_info("%s%s every %.1f s as %s (%s)%s", d.push ? "reporting to " : "running (no collector)",
		 d.push ? ctx->cfg.collector_url : "", interval, ctx->cfg.host, ctx->cfg.role,
		 d.election ? ", master candidate" : "");
	next = timeutil_now(CLOCK_MONOTONIC);
	while (!sig) {
		tick(&d, next + interval * 0.8);
		notify(&d, "WATCHDOG=1");
		next += interval;
		if (next < timeutil_now(CLOCK_MONOTONIC))	/* fell behind: skip, don't burst */
			next = timeutil_now(CLOCK_MONOTONIC) + interval;
		sig = wait_until(&set, next);
	}
	notify(&d, "STOPPING=1");
	if (d.spool && spool_count(d.spool)) {
		/* one bounded attempt; what is left is replayed by the next start */
		replay(&d, timeutil_now(CLOCK_MONOTONIC) + ctx->cfg.post_timeout_ms / 1000.0);
		report_left(&d);
	}
	log_info("signal %d: stopped", sig);
	daemon_close(&d);
	return AGENT_EXIT_OK;
}
