/* check_run.h - the one way the unit tests run a Check suite. */
#ifndef FLEETCLOCK_CHECK_RUN_H
#define FLEETCLOCK_CHECK_RUN_H

#include <check.h>
#include <stdlib.h>

/* Run every test case of s (forking per test unless CK_FORK=no), print
 * Check's summary, free the runner; EXIT_SUCCESS only when all passed. */
static inline int check_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
