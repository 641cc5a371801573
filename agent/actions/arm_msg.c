/* arm_msg.c - the --arm pipe's lines and outcome, see arm_msg.h */
#include "actions/arm_msg.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARM_NSEC 1000000000LL

static bool parse_ns(const char *s, struct timespec *out, char **end)
{
	long long ns;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	ns = strtoll(s, end, 10);
	if (errno || ns <= 0)
		return false;
	out->tv_sec = ns / ARM_NSEC;
	out->tv_nsec = ns % ARM_NSEC;
	return true;
}

static void parse_line(struct arm_msg *m, const char *line)
{
	struct timespec t;
	char *end;

	if (!strncmp(line, "ready ", 6) && parse_ns(line + 6, &t, &end) && !*end) {
		if (!m->ready)
			m->ready_at = t;
		m->ready = true;
	} else if (!strncmp(line, "go ", 3) && parse_ns(line + 3, &t, &end) && *end == ' ') {
		unsigned long steps = strtoul(end + 1, &end, 10);

		if (*end || steps > 1000000UL) {
			m->bad_lines++;
			return;
		}
		if (!m->go) {
			m->go_at = t;
			m->go_steps = (unsigned)steps;
		}
		m->go = true;
	} else {
		m->bad_lines++;
	}
}

void arm_msg_feed(struct arm_msg *m, const char *data, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (data[i] != '\n') {
			if (m->len < sizeof(m->buf) - 1)
				m->buf[m->len] = data[i];
			m->len++;
			continue;
		}
		if (m->len < sizeof(m->buf)) {
			m->buf[m->len] = '\0';
			parse_line(m, m->buf);
		} else {
			m->bad_lines++;
		}
		m->len = 0;
	}
}

enum arm_outcome arm_msg_outcome(const struct arm_msg *m, bool ready_by_target)
{
	if (!m->ready)
		return ARM_NO_READY;
	return ready_by_target ? ARM_STARTED : ARM_LATE;
}

const char *arm_outcome_str(enum arm_outcome o)
{
	switch (o) {
	case ARM_STARTED: return "started";
	case ARM_LATE: return "late";
	default: return "no-ready";
	}
}
