/* status_fields.h - private to common/report/status*.c: the field tables
 * status_validate checks a document against (docs/status-schema.md). */
#ifndef FLEETCLOCK_STATUS_FIELDS_H
#define FLEETCLOCK_STATUS_FIELDS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum vkind { V_STR, V_INT, V_NUM, V_BOOL, V_TIME, V_OBJ, V_ARR, V_ANY };

/* One field of an object: its type, whether it must be there, whether null
 * is allowed, the numeric range or the longest string, the allowed words. */
struct vfield {
	const char *key;
	enum vkind kind;
	bool required;
	bool nullable;
	double min, max;	/* V_INT, V_NUM: range; V_STR: max = longest length */
	const char *const *choices;
};

#define BIG 1e12

/* Check every described field of obj (a table ends with a NULL key);
 * prefix names obj in messages. STATUS_OK or STATUS_ESCHEMA with err
 * naming the field. */
int status_check_fields(json_t *obj, const char *prefix, const struct vfield *fields, char *err,
			size_t errlen);

/* The "election" object (status_election.c). */
int status_check_election(json_t *election, char *err, size_t errlen);

#endif
