/* config.c - table-driven INI configuration, see config.h */
#include "base/config.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct load_ctx {
	const struct config_option *table;
	void *target;
	char msg[256];
	int rc;
};

static const struct config_option *find_option(const struct config_option *table,
					       const char *section, const char *name)
{
	for (const struct config_option *o = table; o->name; o++)
		if (!strcmp(o->section, section) && !strcmp(o->name, name))
			return o;
	return NULL;
}

static bool section_known(const struct config_option *table, const char *section)
{
	for (const struct config_option *o = table; o->name; o++)
		if (!strcmp(o->section, section))
			return true;
	return false;
}

static int parse_bool(const char *v, bool *out)
{
	static const char *yes[] = { "true", "yes", "on", "1" };
	static const char *no[] = { "false", "no", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (!strcasecmp(v, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcasecmp(v, no[i])) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

static int set_value(const struct config_option *o, void *target, const char *value,
		     char *err, size_t errlen)
{
	char *base = (char *)target + o->offset;
	char *end;

	switch (o->type) {
	case CONFIG_STRING:
		if (strlen(value) >= o->size) {
			snprintf(err, errlen, "[%s] %s: value longer than %zu characters",
				 o->section, o->name, o->size - 1);
			return -EINVAL;
		}
		memcpy(base, value, strlen(value) + 1);
		return 0;
	case CONFIG_INT: {
		long v;

		errno = 0;
		v = strtol(value, &end, 0);
		if (errno || end == value || *end || v < o->min || v > o->max) {
			snprintf(err, errlen, "[%s] %s: '%s' is not an integer in %.0f..%.0f",
				 o->section, o->name, value, o->min, o->max);
			return -EINVAL;
		}
		*(int *)(void *)base = (int)v;
		return 0;
	}
	case CONFIG_DOUBLE: {
		double v;

		errno = 0;
		v = strtod(value, &end);
		if (errno || end == value || *end || !isfinite(v) || v < o->min || v > o->max) {
			snprintf(err, errlen, "[%s] %s: '%s' is not a number in %g..%g",
				 o->section, o->name, value, o->min, o->max);
			return -EINVAL;
		}
		*(double *)(void *)base = v;
		return 0;
	}
	case CONFIG_BOOL:
		if (parse_bool(value, (bool *)(void *)base) < 0) {
			snprintf(err, errlen, "[%s] %s: '%s' is not a boolean (true/false)",
				 o->section, o->name, value);
			return -EINVAL;
		}
		return 0;
	}
	snprintf(err, errlen, "[%s] %s: unknown option type", o->section, o->name);
	return -EINVAL;
}

int config_set(const struct config_option *table, void *target, const char *section,
	       const char *name, const char *value, char *err, size_t errlen)
{
	const struct config_option *o = find_option(table, section, name);

	if (!o) {
		if (!section_known(table, section))
			snprintf(err, errlen, "unknown section [%s]", section);
		else
			snprintf(err, errlen, "unknown key '%s' in section [%s]", name, section);
		return -ENOENT;
	}
	return set_value(o, target, value, err, errlen);
}

int config_set_defaults(const struct config_option *table, void *target, char *err, size_t errlen)
{
	for (const struct config_option *o = table; o->name; o++) {
		int rc = set_value(o, target, o->def ? o->def : "", err, errlen);

		if (rc < 0)
			return rc;
	}
	return 0;
}

static int on_ini_entry(void *user, const char *section, const char *name, const char *value)
{
	struct load_ctx *ctx = user;
	int rc;

	if (!name) /* a section header alone: inih calls us only with INI_CALL_HANDLER_ON_NEW_SECTION */
		return 1;
	rc = config_set(ctx->table, ctx->target, section, name, value, ctx->msg, sizeof(ctx->msg));
	if (rc < 0) {
		ctx->rc = rc;
		return 0;
	}
	return 1;
}

static int finish(int line, struct load_ctx *ctx, const char *name, char *err, size_t errlen)
{
	if (line == 0)
		return 0;
	if (line < 0) {
		snprintf(err, errlen, "%s: out of memory while parsing", name);
		return -ENOMEM;
	}
	if (ctx->rc < 0)
		snprintf(err, errlen, "%s:%d: %s", name, line, ctx->msg);
	else
		snprintf(err, errlen, "%s:%d: syntax error (expected 'key = value' or '[section]')",
			 name, line);
	return -EINVAL;
}

int config_load_file(const char *path, const struct config_option *table, void *target,
		     char *err, size_t errlen)
{
	struct load_ctx ctx = { .table = table, .target = target };
	FILE *f = fopen(path, "r");
	int line;

	if (!f) {
		int e = errno;

		snprintf(err, errlen, "cannot open config file %s: %s", path, strerror(e));
		return -e;
	}
	line = ini_parse_file(f, on_ini_entry, &ctx);
	fclose(f);
	return finish(line, &ctx, path, err, errlen);
}

int config_load_string(const char *text, const char *name, const struct config_option *table,
		       void *target, char *err, size_t errlen)
{
	struct load_ctx ctx = { .table = table, .target = target };

	return finish(ini_parse_string(text, on_ini_entry, &ctx), &ctx, name, err, errlen);
}

int config_load(const struct config_option *table, void *target, size_t size, const char *path,
		bool path_explicit, bool *loaded, char *err, size_t errlen)
{
	int rc;

	if (loaded)
		*loaded = false;
	memset(target, 0, size);
	rc = config_set_defaults(table, target, err, errlen);
	if (rc < 0 || !path)
		return rc;
	rc = config_load_file(path, table, target, err, errlen);
	if (rc == -ENOENT && !path_explicit)
		return 0;
	if (rc == 0 && loaded)
		*loaded = true;
	return rc;
}
