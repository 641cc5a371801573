/* config.h - table-driven INI configuration (parsed with libinih).
 *
 * A program describes its options as a table: one line gives the section,
 * the key, the type, where the value lives in the program's struct, the
 * default and the allowed range. Unknown sections or keys and values that do
 * not parse or are out of range are errors that name the file and line. */
#ifndef FLEETCLOCK_CONFIG_H
#define FLEETCLOCK_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

enum config_type {
	CONFIG_STRING,	/* char[size] inside the struct */
	CONFIG_INT,	/* int, range [min, max] */
	CONFIG_DOUBLE,	/* double, range [min, max] */
	CONFIG_BOOL,	/* bool: true/false, yes/no, on/off, 1/0 */
};

struct config_option {
	const char *section;
	const char *name;
	enum config_type type;
	size_t offset;		/* offsetof(struct ..., field) */
	size_t size;		/* CONFIG_STRING: size of the char array */
	const char *def;	/* default, as text in the file's syntax */
	double min, max;	/* numeric range (inclusive) */
	const char *help;	/* one line for docs and --help */
};

#define CONFIG_END { NULL, NULL, CONFIG_STRING, 0, 0, NULL, 0, 0, NULL }

/* Apply every default of the table to target. Returns 0, or -EINVAL if a
 * default does not parse (a bug in the table) with a message in err. */
int config_set_defaults(const struct config_option *table, void *target, char *err, size_t errlen);

/* Set one option from its text value. Returns 0, -ENOENT for an unknown
 * section/key, -EINVAL for a bad value; err says which and why. */
int config_set(const struct config_option *table, void *target, const char *section,
	       const char *name, const char *value, char *err, size_t errlen);

/* Parse an INI file over the current values of target (call
 * config_set_defaults first). Returns 0, -errno if the file cannot be
 * opened, -EINVAL on the first bad line; err names "path:line: reason". */
int config_load_file(const char *path, const struct config_option *table, void *target,
		     char *err, size_t errlen);

/* Zero target (size bytes), apply the table's defaults, then load path when
 * not NULL. A missing file is an error only when path_explicit (named on
 * the command line); a missing default file leaves the defaults. *loaded
 * (may be NULL) says whether a file was read. 0 or -errno, err as above. */
int config_load(const struct config_option *table, void *target, size_t size, const char *path,
		bool path_explicit, bool *loaded, char *err, size_t errlen);

/* Same for INI text in memory; name is used in messages. */
int config_load_string(const char *text, const char *name, const struct config_option *table,
		       void *target, char *err, size_t errlen);

#endif
