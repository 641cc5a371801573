/* Unit tests for common/config (table-driven INI) and the agent's table. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent_config.h"
#include "base/config.h"
#include "check_run.h"

struct demo {
	char name[8];
	int n;
	double x;
	bool flag;
};

#define D(sec, key, type, field, def, min, max) \
	{ sec, key, type, offsetof(struct demo, field), sizeof(((struct demo *)0)->field), def, min, max, "" }

static const struct config_option demo_table[] = {
	D("a", "name", CONFIG_STRING, name, "dflt", 0, 0),
	D("a", "n", CONFIG_INT, n, "3", 1, 10),
	D("b", "x", CONFIG_DOUBLE, x, "0.5", 0, 1),
	D("b", "flag", CONFIG_BOOL, flag, "no", 0, 0),
	CONFIG_END
};

static struct demo load_ok(const char *text)
{
	struct demo d;
	char err[256] = "";

	ck_assert_int_eq(config_set_defaults(demo_table, &d, err, sizeof(err)), 0);
	ck_assert_msg(config_load_string(text, "t.conf", demo_table, &d, err, sizeof(err)) == 0,
		      "unexpected error: %s", err);
	return d;
}

START_TEST(test_defaults_and_values)
{
	struct demo d = load_ok("");

	ck_assert_str_eq(d.name, "dflt");
	ck_assert_int_eq(d.n, 3);
	ck_assert_double_eq(d.x, 0.5);
	ck_assert(!d.flag);
	d = load_ok("[a]\nname = node1\nn = 0x0a ; hex is fine\n[b]\nx=1\nflag = On\n");
	ck_assert_str_eq(d.name, "node1");
	ck_assert_int_eq(d.n, 10);
	ck_assert_double_eq(d.x, 1.0);
	ck_assert(d.flag);
}
END_TEST

/* Each bad input: the error must name the file, the line and the cause. */
static const struct {
	const char *text;
	const char *expect;
} bad_inputs[] = {
	{ "[a]\nn = 11\n", "t.conf:2: [a] n: '11' is not an integer in 1..10" },
	{ "[a]\nn = 3x\n", "t.conf:2: [a] n: '3x' is not an integer in 1..10" },
	{ "[a]\nn =\n", "t.conf:2: [a] n: '' is not an integer in 1..10" },
	{ "\n\n[b]\nx = nan\n", "t.conf:4: [b] x: 'nan' is not a number in 0..1" },
	{ "[b]\nflag = maybe\n", "t.conf:2: [b] flag: 'maybe' is not a boolean (true/false)" },
	{ "[a]\nname = toolongvalue\n", "t.conf:2: [a] name: value longer than 7 characters" },
	{ "[a]\nnope = 1\n", "t.conf:2: unknown key 'nope' in section [a]" },
	{ "[c]\nn = 1\n", "t.conf:2: unknown section [c]" },
	{ "n = 1\n", "t.conf:1: unknown section []" },
	{ "[a]\njust words\n", "t.conf:2: syntax error (expected 'key = value' or '[section]')" },
};

START_TEST(test_bad_input)
{
	struct demo d;
	char err[256] = "";

	config_set_defaults(demo_table, &d, err, sizeof(err));
	ck_assert_int_eq(config_load_string(bad_inputs[_i].text, "t.conf", demo_table, &d, err,
					    sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, bad_inputs[_i].expect);
}
END_TEST

START_TEST(test_missing_file)
{
	struct demo d;
	char err[256] = "";

	ck_assert_int_eq(config_load_file("/nonexistent/x.conf", demo_table, &d, err, sizeof(err)), -ENOENT);
	ck_assert_str_eq(err, "cannot open config file /nonexistent/x.conf: No such file or directory");
}
END_TEST

START_TEST(test_agent_table)
{
	struct agent_config cfg;
	char err[256] = "";

	/* Defaults when the default file is absent. */
	ck_assert_int_eq(agent_config_load(&cfg, "/nonexistent/agent.conf", false, err, sizeof(err)), 0);
	ck_assert_str_eq(cfg.chrony_socket, "/run/chrony/chronyd.sock");
	ck_assert_int_eq(cfg.chrony_udp_port, 323);
	ck_assert_double_eq(cfg.budget_ms, 5.0);
	ck_assert(cfg.host[0] != '\0');
	/* Named on the command line: missing is an error. */
	ck_assert_int_eq(agent_config_load(&cfg, "/nonexistent/agent.conf", true, err, sizeof(err)), -ENOENT);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_defaults_and_values);
	tcase_add_loop_test(tc, test_bad_input, 0, sizeof(bad_inputs) / sizeof(bad_inputs[0]));
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_agent_table);
	suite_add_tcase(s, tc);
	return check_run(s);
}
