/* action_at.c - --at TIME -- CMD and --wait-until TIME: start at the same
 * instant on every node.
 *
 * Order: parse TIME; open the --report file; gate on the readiness check
 * of --check (chronyd synchronised to an acceptable source, estimated error
 * within [agent] budget_ms, recent update, skew, frequency, sane clock;
 * --force skips it); refuse a TIME
 * already past by more than [agent] late_tolerance_ms (--late-ok starts
 * anyway); find CMD (a missing one fails now, not at TIME); --rt; on a
 * long wait, wake AT_REFRESH_S early and check again; wait
 * (common/precise_wait: cancel-on-set timerfd, absolute clock_nanosleep,
 * busy-poll); read CLOCK_REALTIME; append the report; exec CMD in place,
 * so its PID, signals and exit status are the agent's.
 *
 * --arm [LEAD] (docs/start.md): the same checks, then CMD is forked LEAD
 * before TIME (or at once) with TIME and a pipe in its environment; its
 * gate (gate/) says "ready" and "go" on the pipe (agent/actions/arm_msg.c). The
 * agent follows steps until TIME, re-checks before it on a long wait
 * (stopping CMD when the node is not ready any more), reports the slack
 * or the late start, passes signals on and returns CMD's exit status. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "actions/arm_msg.h"
#include "chrony/chrony_client.h"
#include "fleetclock_config.h"
#include "base/log.h"
#include "time/precise_wait.h"
#include "chrony/readiness.h"
#include "report/start_send.h"
#include "report/start_recover.h"
#include "time/timeutil.h"
#include "time/when.h"
#include "actions/action_at_priv.h"

#define AT_MAX_AHEAD_S (7LL * 86400)	/* a TIME further ahead is a typo */

#define AT_RT_PRIORITY 50		/* SCHED_FIFO priority for --rt */

#define AT_REFRESH_S 2LL		/* re-read chronyd this long before TIME */

struct timespec action_at_now_rt(void)
{
	struct timespec ts = { 0, 0 };

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts;
}

static json_t *ts_json(struct timespec ts)
{
	char buf[48];

	return timeutil_format_rfc3339(ts, 9, buf, sizeof(buf)) ? json_string(buf) : json_null();
}

static json_t *seconds_json(struct timespec a, struct timespec b)
{
	return json_real(timeutil_ts_diff_ns(a, b) * 1e-9);
}

/* --arm's fields: when CMD said ready (its slack before TIME; negative:
 * late), when the gate released it. */
static void report_arm(struct at_run *r, json_t *o)
{
	const struct arm_msg *m = &r->msg;

	json_object_set_new(o, "armed", json_true());
	json_object_set_new(o, "ready", m->ready ? ts_json(m->ready_at) : json_null());
	json_object_set_new(o, "slack_s", m->ready ? seconds_json(r->target, m->ready_at) : json_null());
	json_object_set_new(o, "release", m->go ? ts_json(m->go_at) : json_null());
	json_object_set_new(o, "cmd_clock_steps", m->go ? json_integer(m->go_steps) : json_null());
}

static int64_t ts_ns(struct timespec ts)
{
	return (int64_t)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

/* The start record of --at (start_send.h) as far as r knows it, with
 * outcome o. */
static void fill_record(struct at_run *r, enum start_outcome o, const char *reason,
			struct start_record *rec)
{
	*rec = (struct start_record){ .armed = r->armed, .target_ns = ts_ns(r->target), .outcome = o };
	snprintf(rec->host, sizeof(rec->host), "%s", r->ctx->cfg.host);
	if (r->ctx->experiment)
		snprintf(rec->experiment, sizeof(rec->experiment), "%s", r->ctx->experiment);
	else
		start_experiment_default(rec->target_ns, rec->experiment, sizeof(rec->experiment));
	snprintf(rec->agent_version, sizeof(rec->agent_version), "%s", FLEETCLOCK_VERSION);
	snprintf(rec->reason, sizeof(rec->reason), "%s", reason ? reason : "");
	rec->have_ready = r->armed && r->msg.ready;
	rec->ready_ns = rec->have_ready ? ts_ns(r->msg.ready_at) : 0;
	rec->have_start = r->start.tv_sec != 0;
	rec->start_ns = rec->have_start ? ts_ns(r->start) : 0;
	rec->have_bound = r->have_tracking;
	rec->synchronised = r->have_tracking && chrony_tracking_synchronised(&r->tracking);
	rec->max_error_s = r->have_tracking ? chrony_tracking_max_error(&r->tracking) : 0;
	rec->clock_steps = r->steps_before + r->wait.steps;
	rec->clock_step_total_s = r->step_s_before + r->wait.total_step_s;
	rec->sent_ns = ts_ns(action_at_now_rt());
}

/* The record handed to the recorder; sent at once unless CMD is about to
 * be exec'ed (then the exec closes the recorder's end, or a failed exec
 * hands the final record). --wait-until's "waited" is a start. */
static void record_start(struct at_run *r, const char *result, const char *reason)
{
	struct start_record rec;
	enum start_outcome o;

	if (r->recorder.fd < 0 ||
	    start_outcome_parse(strcmp(result, "waited") ? result : "started", &o) < 0)
		return;
	fill_record(r, o, reason, &rec);
	start_recorder_hand(&r->recorder, &rec);
	if (r->armed || strcmp(result, "started"))
		start_recorder_end(&r->recorder);
}

void action_at_record_provisional(struct at_run *r)
{
	struct start_record rec;

	if (r->recorder.fd < 0)
		return;
	fill_record(r, START_ABORTED, NULL, &rec);
	start_recover_provisional(&rec);
	start_recorder_hand(&r->recorder, &rec);
}

/* Append one JSON line to the --report file: what was asked, what
 * happened, and chronyd's error bound. Also the start record. */
void action_at_write_report(struct at_run *r, const char *result, const char *reason)
{
	json_t *o = json_object(), *cmd = json_array();
	bool started = r->start.tv_sec != 0;
	char *line = NULL;

	record_start(r, result, reason);
	if (r->report_fd < 0 || !o || !cmd)
		goto out;
	for (int i = 0; i < r->ctx->argc; i++)
		json_array_append_new(cmd, json_string(r->ctx->argv[i]));
	json_object_set_new(o, "host", json_string(r->ctx->cfg.host));
	json_object_set_new(o, "action", json_string(r->action));
	json_object_set_new(o, "time", json_string(r->ctx->at_time));
	json_object_set_new(o, "target", ts_json(r->target));
	json_object_set_new(o, "result", json_string(result));
	json_object_set_new(o, "reason", reason ? json_string(reason) : json_null());
	json_object_set_new(o, "start", started ? ts_json(r->start) : json_null());
	json_object_set_new(o, "error_s", started ?
			    json_real(timeutil_ts_diff_ns(r->start, r->target) * 1e-9) : json_null());
	json_object_set_new(o, "chrony_synchronised", r->have_tracking ?
			    json_boolean(chrony_tracking_synchronised(&r->tracking)) : json_null());
	json_object_set_new(o, "chrony_max_error_s", r->have_tracking ?
			    json_real(chrony_tracking_max_error(&r->tracking)) : json_null());
	json_object_set_new(o, "chrony_read_at", r->have_tracking ? ts_json(r->tracking_at) : json_null());
	json_object_set_new(o, "clock_steps", json_integer(r->steps_before + r->wait.steps));
	json_object_set_new(o, "clock_step_total_s", json_real(r->step_s_before + r->wait.total_step_s));
	json_object_set_new(o, "rt", json_boolean(r->rt_on));
	json_object_set_new(o, "forced", json_boolean(r->ctx->force));
	if (r->armed)
		report_arm(r, o);
	json_object_set_new(o, "command", cmd);
	cmd = NULL;
	line = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(12));
	if (line) {
		size_t len = strlen(line);

		line[len] = '\n';	/* one write() of the whole line: O_APPEND keeps lines whole */
		if (write(r->report_fd, line, len + 1) != (ssize_t)(len + 1))
			log_err("--report %s: write: %s", r->ctx->report_path, strerror(errno));
		line[len] = '\0';
	}
out:
	free(line);
	json_decref(cmd);
	json_decref(o);
}

int action_at_refuse(struct at_run *r, int code, const char *fmt, ...)
{
	char reason[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	log_err("--%s: %s", r->action, reason);
	action_at_write_report(r, "refused", reason);
	return code;
}

/* The readiness check of --check; quick: one short attempt per request
 * (the bound for a report under --force, the re-check before TIME). Keeps
 * chronyd's tracking in r when chronyd answered. 0, or -errno when no
 * client could be made (logged). */
static int check_ready(struct at_run *r, bool quick, struct readiness_report *rep)
{
	struct agent_ctx quick_ctx = *r->ctx;
	struct chrony_snapshot *snap = calloc(1, sizeof(*snap));
	struct chrony_client *c = NULL;
	int rc = -ENOMEM;

	if (quick) {
		quick_ctx.cfg.chrony_timeout_ms = 200;
		quick_ctx.cfg.chrony_attempts = 1;
	}
	if (!snap || (rc = agent_chrony_open(&quick_ctx, &c)) < 0)
		goto out;
	/* The RTC does not matter for starting now (only across reboots). */
	agent_check_evaluate(&quick_ctx, c, NULL, snap, rep);
	for (size_t i = 0; i < rep->n_checks; i++) {
		if (!strcmp(rep->checks[i].name, "chronyd") && rep->checks[i].status == READINESS_OK) {
			r->tracking = snap->tracking;
			r->tracking_at = action_at_now_rt();
			r->have_tracking = true;
		}
	}
out:
	chrony_client_close(c);
	free(snap);
	return rc;
}

/* "name: value (threshold); ..." of the failed checks. */
static void failed_checks(const struct readiness_report *rep, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < rep->n_checks && off < len; i++) {
		const struct readiness_check *k = &rep->checks[i];
		int n;

		if (k->status != READINESS_FAIL)
			continue;
		n = snprintf(buf + off, len - off, "%s%s: %s%s%s%s", off ? "; " : "", k->name, k->value,
			     k->threshold[0] ? " (" : "", k->threshold, k->threshold[0] ? ")" : "");
		if (n < 0)
			break;
		off += (size_t)n;
	}
}

/* Go on only when the node is ready; when says when ("", " any more"). */
static int judge(struct at_run *r, const struct readiness_report *rep, const char *when)
{
	char reasons[1024];

	failed_checks(rep, reasons, sizeof(reasons));
	if (rep->verdict == READINESS_READY) {
		log_info("ready%s: estimated error %.3f ms (budget %g ms), %d warnings", when,
			 chrony_tracking_max_error(&r->tracking) * 1e3, r->ctx->cfg.budget_ms, rep->n_warn);
		return AGENT_EXIT_OK;
	}
	if (rep->verdict == READINESS_NOT_READY)
		return action_at_refuse(r, AGENT_EXIT_FAIL, "not ready%s: %s (see --check); --force starts anyway",
			      when, reasons);
	return action_at_refuse(r, AGENT_EXIT_ERROR, "cannot check readiness%s: %s (--force starts anyway)",
		      when, reasons);
}

/* The readiness gate before the wait, unless --force (which still reads
 * the error bound, quickly, when there is a report or a start record to
 * write). */
static int gate(struct at_run *r)
{
	struct readiness_report rep;
	char reasons[1024];
	int rc;

	if (r->ctx->force && !r->ctx->report_path && r->recorder.fd < 0)
		return AGENT_EXIT_OK;
	rc = check_ready(r, r->ctx->force, &rep);
	if (rc < 0)
		return action_at_refuse(r, AGENT_EXIT_ERROR, "cannot check readiness: %s", strerror(-rc));
	if (!r->ctx->force)
		return judge(r, &rep, "");
	if (!r->have_tracking) {
		failed_checks(&rep, reasons, sizeof(reasons));
		log_warn("--force: no error bound for the report: %s", reasons);
	}
	return AGENT_EXIT_OK;
}

/* A long wait: wake AT_REFRESH_S before TIME and check again (one quick
 * attempt per request), so the report's bound is fresh and a node that
 * stopped being ready meanwhile does not start. When chronyd does not
 * answer, the earlier verdict and bound stand. */
int action_at_refresh(struct at_run *r, const struct precise_wait_opts *wait_opts)
{
	struct timespec at = timeutil_ts_add_ns(r->target, -AT_REFRESH_S * NSEC_PER_SEC);
	struct precise_wait_opts o = *wait_opts;
	struct timespec before = r->tracking_at;
	struct readiness_report rep;
	char reasons[1024];

	if (!r->have_tracking ||
	    timeutil_ts_diff_ns(at, r->tracking_at) < AT_REFRESH_S * NSEC_PER_SEC)
		return AGENT_EXIT_OK;
	o.spin_ns = 0;
	o.before_final = NULL;
	if (precise_wait_until(at, &o, &r->wait) < 0)
		return action_at_refuse(r, AGENT_EXIT_ERROR, "the wait failed (see above)");
	r->steps_before += r->wait.steps;
	r->step_s_before += r->wait.total_step_s;
	if (check_ready(r, true, &rep) < 0)
		return AGENT_EXIT_OK;
	if (rep.verdict == READINESS_UNKNOWN || !timeutil_ts_diff_ns(r->tracking_at, before)) {
		failed_checks(&rep, reasons, sizeof(reasons));
		log_warn("checking again %d s before TIME: %s; keeping the earlier bound",
			 (int)AT_REFRESH_S, reasons);
		return AGENT_EXIT_OK;
	}
	return r->ctx->force ? AGENT_EXIT_OK : judge(r, &rep, " any more");
}

/* Refuse a start more than late_tolerance_ms after target. */
static int check_late(struct at_run *r, struct timespec now, const char *when)
{
	double late = timeutil_ts_diff_ns(now, r->target) * 1e-9;
	double tol = r->ctx->cfg.late_tolerance_ms * 1e-3;
	char buf[48];

	if (late <= tol)
		return AGENT_EXIT_OK;
	if (r->ctx->late_ok) {
		log_warn("--late-ok: starting %.6f s late", late);
		return AGENT_EXIT_OK;
	}
	return action_at_refuse(r, AGENT_EXIT_FAIL, "%s %s is %.6f s in the past%s (tolerance %g ms, "
		      "[agent] late_tolerance_ms); --late-ok starts anyway",
		      r->ctx->at_time, timeutil_format_rfc3339(r->target, 6, buf, sizeof(buf)) ? buf : "",
		      late, when, r->ctx->cfg.late_tolerance_ms);
}

/* --rt: SCHED_FIFO and locked memory for the wait. */
static int enter_rt(struct at_run *r)
{
	struct sched_param sp = { .sched_priority = AT_RT_PRIORITY };

	r->old_policy = sched_getscheduler(0);
	if (r->old_policy < 0 || sched_getparam(0, &r->old_param) < 0) {
		log_err("--rt: sched_getscheduler: %s", strerror(errno));
		return AGENT_EXIT_ERROR;
	}
	if (sched_setscheduler(0, SCHED_FIFO, &sp) < 0) {
		log_err("--rt: sched_setscheduler(SCHED_FIFO, %d): %s%s", AT_RT_PRIORITY, strerror(errno),
			errno == EPERM ? " (needs root or CAP_SYS_NICE, or an RLIMIT_RTPRIO of at least 50;"
			" run without --rt)" : "");
		return AGENT_EXIT_ERROR;
	}
	r->rt_on = true;
	if (mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) < 0) {
		log_err("--rt: mlockall: %s%s", strerror(errno), errno == EPERM || errno == ENOMEM ?
			" (needs CAP_IPC_LOCK or a larger RLIMIT_MEMLOCK; run without --rt)" : "");
		return AGENT_EXIT_ERROR;
	}
	return AGENT_EXIT_OK;
}

/* Whether path is an executable regular file: 0 or -errno. */
static int executable_file(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EACCES;
	return access(path, X_OK) < 0 ? -errno : 0;
}

/* Find CMD as execvp would, before the wait: a missing command fails now,
 * not at TIME, and exec does not search PATH at the critical instant. Its
 * file is read ahead into the page cache (a cold SD card costs ms). */
static int find_command(struct at_run *r)
{
	const char *name = r->ctx->argv[0], *path = getenv("PATH");
	int rc = -ENOENT, fd;

	if (strchr(name, '/')) {
		if ((size_t)snprintf(r->cmd_path, sizeof(r->cmd_path), "%s", name) >= sizeof(r->cmd_path))
			return -ENAMETOOLONG;
		rc = executable_file(r->cmd_path);
	} else {
		if (!path)
			path = "/usr/local/bin:/usr/bin:/bin";
		while (*path && rc < 0) {
			size_t len = strcspn(path, ":");
			int n = snprintf(r->cmd_path, sizeof(r->cmd_path), "%.*s/%s", (int)len,
					 len ? path : ".", name);

			if (n > 0 && (size_t)n < sizeof(r->cmd_path)) {
				int e = executable_file(r->cmd_path);

				rc = e == -ENOENT && rc == -EACCES ? rc : e;
			}
			path += len + (path[len] == ':');
		}
	}
	if (rc == 0 && (fd = open(r->cmd_path, O_RDONLY | O_CLOEXEC)) >= 0) {
		posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
		close(fd);
	}
	return rc;
}

/* A relative TIME (+10s) is a different instant on each node, and so a
 * different default experiment id: the collector would see one experiment
 * per node. Said once, when a start record is sent. */
static void warn_relative_time(const struct at_run *r)
{
	char id[START_EXPERIMENT_MAX];

	if (r->ctx->at_time[0] != '+' || r->ctx->experiment || r->recorder.fd < 0)
		return;
	start_experiment_default(ts_ns(r->target), id, sizeof(id));
	log_warn("--%s %s: a relative TIME is a different instant on every node, so each node's "
		 "start record gets its own experiment id (here %s): give every node the same "
		 "absolute TIME, or --experiment ID", r->action, r->ctx->at_time, id);
}

int action_at_prepare(struct at_run *r)
{
	struct agent_ctx *ctx = r->ctx;
	struct timespec now = action_at_now_rt();
	char err[256];

	if (when_parse(ctx->at_time, now, &r->target, err, sizeof(err)) < 0) {
		log_err("--%s: %s", r->action, err);
		return AGENT_EXIT_ERROR;
	}
	if (timeutil_ts_diff_ns(r->target, now) > AT_MAX_AHEAD_S * NSEC_PER_SEC) {
		log_err("--%s: TIME '%s' is more than %lld days ahead", r->action, ctx->at_time,
			AT_MAX_AHEAD_S / 86400);
		return AGENT_EXIT_ERROR;
	}
	warn_relative_time(r);
	if (ctx->report_path) {
		r->report_fd = open(ctx->report_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (r->report_fd < 0) {
			log_err("--report %s: open for appending: %s", ctx->report_path, strerror(errno));
			return AGENT_EXIT_ERROR;
		}
	}
	return AGENT_EXIT_OK;
}

/* --rt: memory stays locked for the long wait only; unlocking a locked
 * address space in execve would delay CMD (measured by bench_at). */
static void unlock_memory(void *arg)
{
	(void)arg;
	munlockall();
}

/* What --at and --at --arm do before waiting: the readiness gate, the
 * late check, SCHED_FIFO with --rt. */
int action_at_gate_and_enter(struct at_run *r)
{
	int rc;

	action_at_record_provisional(r);	/* sent if the agent ends before its outcome */
	rc = gate(r);
	if (rc == AGENT_EXIT_OK)
		action_at_record_provisional(r);	/* now with chronyd's bound */
	if (rc == AGENT_EXIT_OK)
		rc = check_late(r, action_at_now_rt(), "");
	if (rc == AGENT_EXIT_OK && r->ctx->rt && (rc = enter_rt(r)) != AGENT_EXIT_OK)
		action_at_write_report(r, "refused", "--rt: could not enter SCHED_FIFO (see the log)");
	return rc;
}

int action_at_run(struct at_run *r)
{
	struct precise_wait_opts wait_opts = PRECISE_WAIT_OPTS_DEFAULT;
	char when[48];
	int rc = action_at_prepare(r);

	if (rc == AGENT_EXIT_OK)
		rc = action_at_gate_and_enter(r);
	if (rc != AGENT_EXIT_OK)
		return rc;
	if (r->rt_on) {
		wait_opts.before_final = unlock_memory;
		wait_opts.spin_ns = PRECISE_WAIT_RT_SPIN_NS;
	}
	log_info("waiting until %s (%.6f s from now)%s",
		 timeutil_format_rfc3339(r->target, 9, when, sizeof(when)) ? when : "?",
		 timeutil_ts_diff_ns(r->target, action_at_now_rt()) * 1e-9, r->rt_on ? " at SCHED_FIFO" : "");
	rc = action_at_refresh(r, &wait_opts);
	if (rc != AGENT_EXIT_OK)
		return rc;
	if (precise_wait_until(r->target, &wait_opts, &r->wait) < 0)
		return action_at_refuse(r, AGENT_EXIT_ERROR, "the wait failed (see above)");
	r->start = action_at_now_rt();
	return check_late(r, r->start, " after the wait");
}

int agent_action_at(struct agent_ctx *ctx)
{
	struct at_run r = { .ctx = ctx, .action = "at", .report_fd = -1, .arm_fd = -1,
			    .recorder = { -1 } };
	int rc, e;

	if (ctx->argc < 1) {
		log_err("--at TIME needs a command: fleetclock-agent --at TIME -- CMD [ARGS]");
		return AGENT_EXIT_ERROR;
	}
	rc = find_command(&r);
	if (rc < 0) {
		log_err("--at: %s: %s", ctx->argv[0], rc == -ENOENT ? "command not found" : strerror(-rc));
		return rc == -ENOENT ? AT_EXIT_NOT_FOUND : AT_EXIT_CANNOT_EXEC;
	}
	start_recorder_begin(&r.recorder, &ctx->cfg);
	if (ctx->arm) {
		r.armed = true;
		rc = action_at_run_armed(&r);
		goto out;
	}
	rc = action_at_run(&r);
	if (rc != AGENT_EXIT_OK)
		goto out;
	action_at_write_report(&r, "started", NULL);
	/* With --rt, CMD keeps SCHED_FIFO as under chrt(1): dropping it
	 * before exec made the start slower than without --rt (bench_at). */
	fflush(NULL);
	execvp(r.cmd_path, ctx->argv);	/* a path: no search; still runs scripts without #! */
	e = errno;
	log_err("--at: exec %s: %s", ctx->argv[0], strerror(e));
	r.start = (struct timespec){ 0, 0 };
	action_at_write_report(&r, "exec-failed", strerror(e));
	rc = e == ENOENT ? AT_EXIT_NOT_FOUND : AT_EXIT_CANNOT_EXEC;
out:
	if (r.report_fd >= 0)
		close(r.report_fd);
	if (r.arm_fd >= 0)
		close(r.arm_fd);
	start_recorder_end(&r.recorder);
	return rc;
}
