/* action_config.c - --print-config: the effective configuration. */
#include <stdio.h>
#include <string.h>

#include "agent.h"

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
		case CONFIG_STRING: printf("%s\n", field); break;
		case CONFIG_INT: printf("%d\n", *(const int *)(const void *)field); break;
		case CONFIG_DOUBLE: printf("%g\n", *(const double *)(const void *)field); break;
		case CONFIG_BOOL: printf("%s\n", *(const bool *)(const void *)field ? "true" : "false"); break;
		}
	}
	return AGENT_EXIT_OK;
}
