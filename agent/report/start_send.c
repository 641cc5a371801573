/* start_send.c - see start_send.h. */
#include "report/start_send.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fleetclock_config.h"
#include "base/log.h"
#include "report/start_recover.h"
#include "report/start_spool_clean.h"
#include "time/timeutil.h"

int start_send_url(const char *status_url, char *buf, size_t len)
{
	static const char tail[] = "/status";
	size_t n = strlen(status_url), t = sizeof(tail) - 1;

	if (n < t || strcmp(status_url + n - t, tail) || n + 1 > len)
		return -EINVAL;
	snprintf(buf, len, "%.*s/starts", (int)(n - t), status_url);
	return 0;
}

void start_spool_dir(const struct agent_config *cfg, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", cfg->spool_dir, START_SPOOL_SUBDIR);
}

/* Run as root (--at usually is), give path the owner of the directory it
 * is in: the daemon runs as its own user (_fleetclock) and must read and
 * remove what --at spooled. fd >= 0: the open file. */
static void match_parent_owner(const char *path, int fd)
{
	char parent[512];
	struct stat st;
	char *slash;

	if (geteuid() != 0)
		return;
	snprintf(parent, sizeof(parent), "%s", path);
	slash = strrchr(parent, '/');
	if (!slash)
		return;
	*slash = '\0';
	if (stat(slash == parent ? "/" : parent, &st) < 0 || st.st_uid == 0)
		return;
	if ((fd >= 0 ? fchown(fd, st.st_uid, st.st_gid) : chown(path, st.st_uid, st.st_gid)) < 0)
		log_warn("starts spool: chown %s to uid %u: %s", path, (unsigned)st.st_uid,
			 strerror(errno));
}

static int mkdir_owned(const char *dir)
{
	if (mkdir(dir, 0700) < 0)
		return errno == EEXIST ? 0 : -errno;
	match_parent_owner(dir, -1);
	return 0;
}

/* mkdir -p of dir and its parent, mode 0700, owned as their parent. */
static int make_dirs(const char *dir)
{
	char parent[512];
	char *slash;
	int rc = mkdir_owned(dir);

	if (rc != -ENOENT)
		return rc;
	snprintf(parent, sizeof(parent), "%s", dir);
	slash = strrchr(parent, '/');
	if (!slash || slash == parent)
		return -ENOENT;
	*slash = '\0';
	if ((rc = mkdir_owned(parent)) < 0)
		return rc;
	return mkdir_owned(dir);
}

static size_t count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	while (d && (de = readdir(d)))
		n += de->d_name[0] != '.' && strstr(de->d_name, ".json") != NULL;
	if (d)
		closedir(d);
	return n;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int start_spool_put(const char *dir, const char *doc, size_t len, char *err, size_t errlen)
{
	char tmp[600], path[600];
	int64_t now = timeutil_now_ns(CLOCK_REALTIME);
	int fd, rc = make_dirs(dir);

	if (rc < 0) {
		snprintf(err, errlen, "starts spool %s: create: %s", dir, strerror(-rc));
		return rc;
	}
	if (count_files(dir) >= START_SPOOL_MAX_FILES) {
		snprintf(err, errlen, "starts spool %s: full (%d records): record dropped", dir,
			 START_SPOOL_MAX_FILES);
		return -ENOSPC;
	}
	snprintf(tmp, sizeof(tmp), "%s/.tmp-%d", dir, (int)getpid());
	snprintf(path, sizeof(path), "%s/%020lld-%d.json", dir, (long long)now, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0)
		match_parent_owner(tmp, fd);
	if (fd < 0 || (rc = write_all(fd, doc, len)) < 0 || fsync(fd) < 0 || close(fd) < 0 ||
	    rename(tmp, path) < 0) {
		rc = rc < 0 ? rc : -errno;
		snprintf(err, errlen, "starts spool %s: write %s: %s", dir, path, strerror(-rc));
		if (fd >= 0)
			close(fd);	/* EBADF after a successful close: harmless */
		unlink(tmp);
		return rc;
	}
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The record files of dir, sorted (oldest first: the names start with the
 * time); *names malloc'ed. The stale temporary files of crashed writes met
 * on the way are removed (start_spool_clean.h). */
static size_t list_records(const char *dir, char ***names)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	time_t now = time(NULL);
	size_t n = 0, cap = 0;

	*names = NULL;
	while (d && (de = readdir(d))) {
		size_t l = strlen(de->d_name);
		char **nn;

		if (de->d_name[0] == '.') {
			start_spool_clean_entry(dir, de->d_name, now);
			continue;
		}
		if (l < 6 || strcmp(de->d_name + l - 5, ".json"))
			continue;
		if (n == cap) {
			if (!(nn = realloc(*names, (cap ? cap * 2 : 16) * sizeof(*nn))))
				break;
			*names = nn;
			cap = cap ? cap * 2 : 16;
		}
		if (((*names)[n] = strdup(de->d_name)))
			n++;
	}
	if (d)
		closedir(d);
	if (n > 1)
		qsort(*names, n, sizeof(**names), cmp_names);
	return n;
}

static char *read_file(const char *path, size_t *len)
{
	char *buf = malloc(START_RECORD_MAX_BYTES + 1);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 && buf ? read(fd, buf, START_RECORD_MAX_BYTES + 1) : -1;

	if (fd >= 0)
		close(fd);
	if (n < 0 || n > START_RECORD_MAX_BYTES) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

/* POST one spooled file; true when it may leave the spool. */
static bool send_file(struct push *p, const char *path, bool *stop)
{
	char err[512];
	size_t len;
	char *doc = read_file(path, &len);
	int code;

	if (!doc) {
		log_warn("starts spool: %s: unreadable or larger than %d bytes: removed", path,
			 START_RECORD_MAX_BYTES);
		return true;
	}
	code = push_post(p, doc, len, err, sizeof(err));
	free(doc);
	switch (push_outcome_of(code)) {
	case PUSH_SENT:
		log_info("start record %s delivered", path);
		return true;
	case PUSH_DROP:
		log_err("start record %s refused for good, removed: %s", path, err);
		return true;
	default:
		log_debug("start record %s kept: %s", path, code < 0 ? err : "collector not ready");
		*stop = true;
		return false;
	}
}

unsigned start_spool_drain(const char *dir, struct push *p, unsigned max)
{
	char **names, path[600];
	size_t n = list_records(dir, &names);
	unsigned left = 0;
	bool stop = false;

	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (!stop && left < max && send_file(p, path, &stop)) {
			if (unlink(path) < 0 && errno != ENOENT)
				log_warn("starts spool: remove %s: %s", path, strerror(errno));
			left++;
		}
		free(names[i]);
	}
	free(names);
	return left;
}

int start_send(const struct agent_config *cfg, const struct start_record *rec)
{
	struct push_opts po = { NULL, cfg->collector_token, cfg->collector_ca_file,
				cfg->connect_timeout_ms, cfg->post_timeout_ms,
				"fleetclock-agent/" FLEETCLOCK_VERSION };
	char url[300], dir[300], err[512] = "";
	char *doc = start_record_dumps(rec);
	struct push *p = NULL;
	int rc = -ENOMEM, code = -EINVAL;

	if (!doc)
		goto out;
	if (start_send_url(cfg->collector_url, url, sizeof(url)) == 0) {
		po.url = url;
		if (push_open(&po, &p, err, sizeof(err)) == 0)
			code = push_post(p, doc, strlen(doc), err, sizeof(err));
	} else {
		snprintf(err, sizeof(err), "[collector] url %s does not end in /status",
			 cfg->collector_url);
	}
	if (push_outcome_of(code) == PUSH_SENT || push_outcome_of(code) == PUSH_DROP) {
		if (push_outcome_of(code) == PUSH_DROP)
			log_err("the collector refused the start record of %s: %s", rec->experiment, err);
		rc = 0;
		goto out;
	}
	start_spool_dir(cfg, dir, sizeof(dir));
	rc = start_spool_put(dir, doc, strlen(doc), err + strlen(err),
			     sizeof(err) - strlen(err));
	if (rc == 0)
		log_warn("start record of %s not delivered (%s): spooled in %s for --daemon",
			 rec->experiment, err, dir);
	else
		log_err("start record of %s lost: %s", rec->experiment, err);
out:
	push_close(p);
	free(doc);
	return rc;
}

/* The recorder: its stdio away from the caller's pipes, below CMD. */
static void recorder_detach(void)
{
	struct sched_param sp = { 0 };
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	setsid();
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
	log_init("fleetclock-agent[start-record]", LOG_INFO, true);
	sched_setscheduler(0, SCHED_IDLE, &sp);
	setpriority(PRIO_PROCESS, 0, 19);
}

static void __attribute__((noreturn)) recorder_main(int fd, const struct agent_config *cfg)
{
	struct start_record rec, last;
	bool have = false;
	ssize_t n;

	recorder_detach();
	while ((n = recv(fd, &rec, sizeof(rec), 0)) != 0) {
		if (n == (ssize_t)sizeof(rec)) {
			last = rec;
			have = true;
		} else if (n < 0 && errno != EINTR) {
			break;
		}
	}
	close(fd);
	if (have) {
		/* the provisional record last: the agent ended before its outcome */
		start_recover_aborted(&last, timeutil_now_ns(CLOCK_REALTIME));
		start_send(cfg, &last);
	}
	_exit(0);
}

int start_recorder_begin(struct start_recorder *rc, const struct agent_config *cfg)
{
	int sv[2], e;
	pid_t pid;

	rc->fd = -1;
	if (!cfg->collector_url[0])
		return 0;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		e = errno;
		log_warn("start record: socketpair: %s; no record of this start", strerror(e));
		return -e;
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		if (fork() != 0)
			_exit(0);	/* the recorder is the grandchild, init's */
		recorder_main(sv[1], cfg);
	}
	e = errno;
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		log_warn("start record: fork: %s; no record of this start", strerror(e));
		return -e;
	}
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	rc->fd = sv[0];
	return 0;
}

void start_recorder_hand(struct start_recorder *rc, const struct start_record *rec)
{
	if (rc->fd >= 0 && send(rc->fd, rec, sizeof(*rec), MSG_NOSIGNAL) != (ssize_t)sizeof(*rec))
		log_warn("start record: handing it to the recorder: %s", strerror(errno));
}

void start_recorder_end(struct start_recorder *rc)
{
	if (rc->fd >= 0)
		close(rc->fd);
	rc->fd = -1;
}
