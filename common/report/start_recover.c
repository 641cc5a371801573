/* start_recover.c - see start_recover.h. */
#include "report/start_recover.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void start_recover_provisional(struct start_record *rec)
{
	rec->outcome = START_ABORTED;
	snprintf(rec->reason, sizeof(rec->reason), "%s", START_RECOVER_PROVISIONAL);
	rec->have_start = false;
	rec->start_ns = 0;
}

void start_recover_aborted(struct start_record *rec, int64_t ended_ns)
{
	double d = (double)(ended_ns - rec->target_ns) * 1e-9;

	if (rec->outcome != START_ABORTED || strcmp(rec->reason, START_RECOVER_PROVISIONAL))
		return;
	snprintf(rec->reason, sizeof(rec->reason),
		 "the agent ended (killed or crashed) %.3f s %s TIME, %s%s", d < 0 ? -d : d,
		 d < 0 ? "before" : "after",
		 d < 0 ? "before starting CMD" : "without reporting the outcome",
		 rec->armed ? "; CMD, started early under --arm, may still have been released by "
			      "its own gate: not proven" : "");
	rec->sent_ns = ended_ns;
}

long start_recover_tmp_pid(const char *name)
{
	size_t p = strlen(START_SPOOL_TMP_PREFIX);
	const char *digits = name + p;

	if (strncmp(name, START_SPOOL_TMP_PREFIX, p) || digits[0] < '1' || digits[0] > '9' ||
	    strspn(digits, "0123456789") != strlen(digits) || strlen(digits) > 9)
		return -1;
	return strtol(digits, NULL, 10);	/* all of it: 1-9 digits, checked above */
}

bool start_recover_tmp_stale(int64_t age_s, enum start_writer writer)
{
	if (age_s >= START_SPOOL_TMP_ABANDON_S)
		return true;
	return age_s >= START_SPOOL_TMP_STALE_S && writer != START_WRITER_ALIVE;
}
