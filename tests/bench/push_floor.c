/* push_floor URL TOKEN DOCFILE SECONDS - the memory floor of reporting: the
 * agent's own push.c (libcurl through dlopen, the same options) POSTing the
 * same document once a second, and nothing else (no chronyd client, no
 * status building, no spool, no libm/jansson use). bench_collector.py
 * measures its RSS beside the daemon's: the difference is what the daemon
 * itself adds. Prints one line per POST ("status N"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report/push.h"

static char *read_doc(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *doc = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && n < 65536 &&
	    fseek(f, 0, SEEK_SET) == 0 && (doc = calloc(1, (size_t)n + 1)) &&
	    fread(doc, 1, (size_t)n, f) != (size_t)n) {
		free(doc);
		doc = NULL;
	}
	if (doc)
		*len = strlen(doc);
	fclose(f);
	return doc;
}

int main(int argc, char **argv)
{
	struct timespec next;
	struct push_opts o = { .connect_timeout_ms = 1000, .timeout_ms = 2000,
			       .user_agent = "push_floor" };
	struct push *p;
	char err[512], *doc;
	size_t len = 0;
	int seconds;

	if (argc != 5 || (seconds = atoi(argv[4])) < 1 || !(doc = read_doc(argv[3], &len))) {
		fprintf(stderr, "usage: push_floor URL TOKEN DOCFILE SECONDS (DOCFILE < 64 KiB)\n");
		return 2;
	}
	o.url = argv[1];
	o.token = argv[2];
	if (push_open(&o, &p, err, sizeof(err)) < 0) {
		fprintf(stderr, "push_floor: %s\n", err);
		free(doc);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (int i = 0; i < seconds; i++) {
		printf("status %d\n", push_post(p, doc, len, err, sizeof(err)));
		fflush(stdout);
		next.tv_sec++;
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
	}
	push_close(p);
	free(doc);
	return 0;
}
