/* start_spool_clean.c - see start_spool_clean.h. */
#include "report/start_spool_clean.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "report/start_recover.h"

/* Whether the PID in name still names a process (EPERM: one of another
 * user, e.g. root's --at seen from the daemon's user: alive). */
static enum start_writer writer_of(const char *name)
{
	long pid = start_recover_tmp_pid(name);

	if (pid <= 0)
		return START_WRITER_UNKNOWN;
	if (kill((pid_t)pid, 0) == 0 || errno == EPERM)
		return START_WRITER_ALIVE;
	return START_WRITER_GONE;
}

unsigned start_spool_clean_entry(const char *dir, const char *name, time_t now)
{
	enum start_writer w;
	char path[600];
	struct stat st;
	int64_t age;

	if (strncmp(name, START_SPOOL_TMP_PREFIX, strlen(START_SPOOL_TMP_PREFIX)))
		return 0;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	age = (int64_t)(now - st.st_mtime);
	w = writer_of(name);
	if (!start_recover_tmp_stale(age, w))
		return 0;
	if (unlink(path) < 0) {
		if (errno != ENOENT)
			log_warn("starts spool: remove stale %s: %s", path, strerror(errno));
		return 0;
	}
	log_warn("starts spool: removed %s, %lld s old, %s: the remains of a write that did not "
		 "finish (a start record lost then)", path, (long long)age,
		 w == START_WRITER_GONE ? "its writer gone" :
		 w == START_WRITER_UNKNOWN ? "no writer PID" : "abandoned");
	return 1;
}
