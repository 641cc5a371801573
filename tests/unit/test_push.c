/* Unit tests for agent/push: opening libcurl (no network: a handle is only
 * prepared) for http and https URLs, refusing other schemes, leaving the
 * environment as it was around the dlopen that skips GnuTLS's implicit
 * initialisation (children such as --at commands must not inherit it), and
 * OpenSSL's error strings: not loaded for http, there for https (libcurl's
 * TLS errors need them). */
#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "push.h"
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
	suite_add_tcase(su, tc);
	return check_run(su);
}
