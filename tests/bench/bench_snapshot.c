/* bench_snapshot SOCKET N - time N in-process snapshots (tracking + every
 * source + sourcestats + names) over one chronyd client; prints the median
 * and p90 in microseconds as "snapshot_us median p90 sources". */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "chrony/chrony_client.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	struct chrony_client_opts o = { .transport = CHRONY_TRANSPORT_UNIX };
	struct chrony_snapshot *snap = calloc(1, sizeof(*snap));
	struct chrony_client *c;
	double *t;
	int n;

	if (argc != 3 || (n = atoi(argv[2])) < 1) {
		fprintf(stderr, "usage: bench_snapshot SOCKET N\n");
		return 2;
	}
	t = calloc((size_t)n, sizeof(*t));
	o.socket_path = argv[1];
	if (!snap || !t || chrony_client_open(&o, &c) < 0)
		return 2;
	for (int i = 0; i < n; i++) {
		struct timespec a, b;

		clock_gettime(CLOCK_MONOTONIC, &a);
		if (chrony_client_snapshot(c, snap) < 0) {
			fprintf(stderr, "bench_snapshot: %s\n", chrony_client_error(c));
			return 1;
		}
		clock_gettime(CLOCK_MONOTONIC, &b);
		t[i] = (b.tv_sec - a.tv_sec) * 1e6 + (b.tv_nsec - a.tv_nsec) / 1e3;
	}
	qsort(t, (size_t)n, sizeof(*t), cmp_double);
	printf("snapshot_us %.1f %.1f %u\n", t[n / 2], t[n * 9 / 10], snap->n_sources);
	chrony_client_close(c);
	free(snap);
	free(t);
	return 0;
}
