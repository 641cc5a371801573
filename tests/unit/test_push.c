/* Unit tests for agent/push: opening libcurl (no network: a handle is only
 * prepared) for http and https URLs, refusing other schemes, leaving the
 * environment as it was around the dlopen that skips GnuTLS's implicit
 * initialisation (children such as --at commands must not inherit it), and
 * OpenSSL's error strings: not loaded for http, there for https (libcurl's
 * TLS errors need them); what the daemon does with each answer (401/403
 * keep the report) and the capped backoff, as tables. */
#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "report/push.h"
#include "check_run.h"

#define GNUTLS_VAR "GNUTLS_NO_IMPLICIT_INIT"

static int open_url(const char *url, char *err, size_t errlen)
{
	struct push_opts o = { url, "t0ken", NULL, 300, 1000, "test" };
	struct push *p = NULL;
	int rc = push_open(&o, &p, err, errlen);

	push_close(p);
	return rc;
}

START_TEST(test_http_and_https_open)
{
	char err[512] = "";

	ck_assert_msg(open_url("http://127.0.9.1:8499/api/v1/status", err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_msg(open_url("https://127.0.9.1:8499/api/v1/status", err, sizeof(err)) == 0,
		      "%s", err);
}
END_TEST

START_TEST(test_other_scheme_refused)
{
	char err[512] = "";

	ck_assert_int_eq(open_url("ftp://127.0.9.1/x", err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "ftp://127.0.9.1/x"), "%s", err);
}
END_TEST

START_TEST(test_environment_left_unset)
{
	char err[512] = "";

	unsetenv(GNUTLS_VAR);
	ck_assert_msg(open_url("http://127.0.9.1:8499/", err, sizeof(err)) == 0, "%s", err);
	ck_assert_ptr_null(getenv(GNUTLS_VAR));
}
END_TEST

START_TEST(test_user_setting_kept)
{
	char err[512] = "";

	ck_assert_int_eq(setenv(GNUTLS_VAR, "0", 1), 0);
	ck_assert_msg(open_url("http://127.0.9.1:8499/", err, sizeof(err)) == 0, "%s", err);
	ck_assert_ptr_nonnull(getenv(GNUTLS_VAR));
	ck_assert_str_eq(getenv(GNUTLS_VAR), "0");
	unsetenv(GNUTLS_VAR);
}
END_TEST

/* In a child of its own (the choice is once per process): open url, then exit 1 when
 * libcrypto knows the text of EVP_R_BAD_DECRYPT, 0 when it does not, 2 on
 * errors. */
static int strings_loaded_after_open(const char *url)
{
	pid_t pid = fork();
	int status;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char err[512];
		void *crypto;
		const char *(*reason)(unsigned long e);

		if (open_url(url, err, sizeof(err)) < 0 ||
		    !(crypto = dlopen("libcrypto.so.3", RTLD_LAZY | RTLD_NOLOAD)) ||
		    !(*(void **)&reason = dlsym(crypto, "ERR_reason_error_string")))
			_exit(2);
		_exit(reason(ERR_PACK(ERR_LIB_EVP, 0, EVP_R_BAD_DECRYPT)) ? 1 : 0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_ne(WEXITSTATUS(status), 2);
	return WEXITSTATUS(status);
}

START_TEST(test_openssl_strings_only_for_https)
{
	ck_assert_int_eq(strings_loaded_after_open("http://127.0.9.1:8499/"), 0);
	ck_assert_int_eq(strings_loaded_after_open("https://127.0.9.1:8499/"), 1);
}
END_TEST

START_TEST(test_outcome_table)
{
	static const struct { int rc; enum push_outcome want; } t[] = {
		{ 200, PUSH_SENT }, { 201, PUSH_SENT }, { 204, PUSH_SENT },
		{ 401, PUSH_REFUSED }, { 403, PUSH_REFUSED },	/* token rotated: keep */
		{ 400, PUSH_DROP }, { 404, PUSH_DROP }, { 413, PUSH_DROP }, { 415, PUSH_DROP },
		{ 422, PUSH_DROP },
		{ 408, PUSH_RETRY }, { 429, PUSH_RETRY }, { 500, PUSH_RETRY }, { 503, PUSH_RETRY },
		{ 302, PUSH_RETRY }, { -ETIMEDOUT, PUSH_RETRY }, { -ECONNREFUSED, PUSH_RETRY },
		{ -EPROTO, PUSH_RETRY }, { -ECONNRESET, PUSH_RETRY },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		ck_assert_msg(push_outcome_of(t[i].rc) == t[i].want, "rc %d: %d, expected %d",
			      t[i].rc, push_outcome_of(t[i].rc), t[i].want);
}
END_TEST

START_TEST(test_backoff_table)
{
	static const struct { unsigned n; double cap, jitter, want; } t[] = {
		{ 1, 60, 1, 1 }, { 2, 60, 1, 2 }, { 3, 60, 1, 4 }, { 6, 60, 1, 32 },
		{ 7, 60, 1, 60 }, { 1000, 60, 1, 60 },		/* capped, no overflow */
		{ 1, 60, 0, 0.5 }, { 7, 60, 0, 30 },		/* jitter: factor 0.5 .. 1 */
		{ 3, 60, 0.5, 3 }, { 5, 10, 1, 10 }, { 1, 0.5, 1, 0.5 },
		{ 2, 60, -3, 1 }, { 2, 60, 7, 2 },		/* jitter clamped to [0, 1] */
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		ck_assert_msg(push_backoff_s(t[i].n, t[i].cap, t[i].jitter) == t[i].want,
			      "n %u cap %g jitter %g: %g, expected %g", t[i].n, t[i].cap,
			      t[i].jitter, push_backoff_s(t[i].n, t[i].cap, t[i].jitter),
			      t[i].want);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("push");
	TCase *tc = tcase_create("core");

	/* First: with CK_FORK=no its children must not inherit an OpenSSL
	 * already initialised by the other tests. */
	tcase_add_test(tc, test_openssl_strings_only_for_https);
	tcase_add_test(tc, test_http_and_https_open);
	tcase_add_test(tc, test_other_scheme_refused);
	tcase_add_test(tc, test_environment_left_unset);
	tcase_add_test(tc, test_user_setting_kept);
	tcase_add_test(tc, test_outcome_table);
	tcase_add_test(tc, test_backoff_table);
	suite_add_tcase(su, tc);
	return check_run(su);
}
