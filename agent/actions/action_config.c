/* action_config.c - --print-config: the effective configuration (secrets
 * such as the collector token shown only as set or not, and their length). */
#include <stdio.h>
#include <string.h>

#include "agent.h"

/* Options whose value is a secret: printed as whether set and how long. */
static const struct {
	const char *section, *name;
} secrets[] = {
	{ "collector", "token" },
};

static bool is_secret(const struct config_option *o)
{
	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		if (!strcmp(o->section, secrets[i].section) && !strcmp(o->name, secrets[i].name))
			return true;
	return false;
}

static void print_string(const struct config_option *o, const char *value)
{
	if (!is_secret(o))
		printf("%s\n", value);
	else if (*value)
		printf("(set, %zu bytes)\n", strlen(value));
	else
		printf("(not set)\n");
}

int agent_action_print_config(struct agent_ctx *ctx)
{
	const char *section = "";

	for (const struct config_option *o = agent_config_options; o->name; o++) {
		const char *field = (const char *)&ctx->cfg + o->offset;

		if (*section == '\0' || strcmp(section, o->section)) {
			printf("%s[%s]\n", *section ? "\n" : "", o->section);
			section = o->section;
		}
		printf("# %s\n%s = ", o->help, o->name);
		switch (o->type) {
		case CONFIG_STRING: print_string(o, field); break;
		case CONFIG_INT: printf("%d\n", *(const int *)(const void *)field); break;
		case CONFIG_DOUBLE: printf("%g\n", *(const double *)(const void *)field); break;
		case CONFIG_BOOL: printf("%s\n", *(const bool *)(const void *)field ? "true" : "false"); break;
		}
	}
	return AGENT_EXIT_OK;
}
