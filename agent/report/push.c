/* push.c - libcurl through dlopen, see push.h. */
#include "report/push.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The few libcurl entry points used, resolved once at push_open. */
struct curl_api {
	CURLcode (*global_init)(long flags);
	CURL *(*easy_init)(void);
	void (*easy_cleanup)(CURL *h);
	CURLcode (*easy_setopt)(CURL *h, CURLoption opt, ...);
	CURLcode (*easy_perform)(CURL *h);
	CURLcode (*easy_getinfo)(CURL *h, CURLINFO info, ...);
	const char *(*easy_strerror)(CURLcode c);
	struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
	void (*slist_free_all)(struct curl_slist *l);
};

struct push {
	struct curl_api api;
	CURL *h;
	struct curl_slist *headers;
	char url[512];
	char reply[512];	/* start of the collector's answer, for messages */
	size_t reply_len;
};

/* libcurl's librtmp and libldap pull in libgnutls, whose constructor
 * initialises it (measured: 0.6-0.8 MB more RSS) although this libcurl does
 * TLS with OpenSSL and only http/https are allowed. GnuTLS documents
 * GNUTLS_NO_IMPLICIT_INIT=1 to skip that; an explicit gnutls_global_init
 * (as a GnuTLS-built libcurl makes) still works. The variable is set only
 * around dlopen, where the constructors run, and only when the user has not
 * set it; push_open runs before the daemon starts any thread. */
static void *open_libcurl(void)
{
	static const char var[] = "GNUTLS_NO_IMPLICIT_INIT";
	bool ours = !getenv(var) && setenv(var, "1", 0) == 0;
	void *lib = dlopen("libcurl.so.4", RTLD_LAZY | RTLD_LOCAL);

	if (ours)
		unsetenv(var);
	return lib;
}

static int load_api(struct curl_api *a, char *err, size_t errlen)
{
	static void *lib;
	struct { const char *name; void **fn; } syms[] = {
		{ "curl_global_init", (void **)&a->global_init },
		{ "curl_easy_init", (void **)&a->easy_init },
		{ "curl_easy_cleanup", (void **)&a->easy_cleanup },
		{ "curl_easy_setopt", (void **)&a->easy_setopt },
		{ "curl_easy_perform", (void **)&a->easy_perform },
		{ "curl_easy_getinfo", (void **)&a->easy_getinfo },
		{ "curl_easy_strerror", (void **)&a->easy_strerror },
		{ "curl_slist_append", (void **)&a->slist_append },
		{ "curl_slist_free_all", (void **)&a->slist_free_all },
	};

	if (!lib)
		lib = open_libcurl();
	if (!lib) {
		snprintf(err, errlen, "cannot load libcurl.so.4 (install libcurl4): %s", dlerror());
		return -ENOENT;
	}
	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		*syms[i].fn = dlsym(lib, syms[i].name);
		if (!*syms[i].fn) {
			snprintf(err, errlen, "libcurl.so.4: no symbol %s", syms[i].name);
			return -ENOENT;
		}
	}
	return 0;
}

/* With an http URL this process never does TLS, so OpenSSL's error
 * strings are never printed (libcurl's http errors are its own, and the
 * election's HMAC errors are ours); loading them when libcurl initialises
 * OpenSSL reads ~1.3 MB of libcrypto in (measured: -0.4 to -0.5 MB RSS).
 * Told before curl_global_init, which is the only moment it can be: the
 * choice is made once per process. Nothing to do when this libcurl did not
 * bring libcrypto in. */
static void skip_openssl_strings(void)
{
	void *crypto = dlopen("libcrypto.so.3", RTLD_LAZY | RTLD_LOCAL | RTLD_NOLOAD);
	int (*init)(uint64_t opts, const void *settings);

	if (!crypto)
		return;
	*(void **)&init = dlsym(crypto, "OPENSSL_init_crypto");
	if (init)
		init(OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS, NULL);
	dlclose(crypto);	/* only the NOLOAD reference: libcurl keeps it */
}

static size_t on_reply(char *data, size_t size, size_t nmemb, void *arg)
{
	struct push *p = arg;
	size_t n = size * nmemb, room = sizeof(p->reply) - 1 - p->reply_len;

	memcpy(p->reply + p->reply_len, data, n < room ? n : room);
	p->reply_len += n < room ? n : room;
	p->reply[p->reply_len] = '\0';
	return n;
}

static int set_options(struct push *p, const struct push_opts *o, char *err, size_t errlen)
{
	struct curl_api *a = &p->api;
	char auth[600];
	CURLcode c = CURLE_OK;

	p->headers = a->slist_append(NULL, "Content-Type: application/json");
	if (p->headers && o->token && *o->token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", o->token);
		p->headers = a->slist_append(p->headers, auth);
		memset(auth, 0, sizeof(auth));
	}
	if (!p->headers)
		return -ENOMEM;
	c |= a->easy_setopt(p->h, CURLOPT_URL, p->url);
	c |= a->easy_setopt(p->h, CURLOPT_HTTPHEADER, p->headers);
	c |= a->easy_setopt(p->h, CURLOPT_POST, 1L);
	c |= a->easy_setopt(p->h, CURLOPT_NOSIGNAL, 1L);
	c |= a->easy_setopt(p->h, CURLOPT_CONNECTTIMEOUT_MS, (long)o->connect_timeout_ms);
	c |= a->easy_setopt(p->h, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
	c |= a->easy_setopt(p->h, CURLOPT_SSL_VERIFYPEER, 1L);
	c |= a->easy_setopt(p->h, CURLOPT_SSL_VERIFYHOST, 2L);
	c |= a->easy_setopt(p->h, CURLOPT_PROTOCOLS_STR, "http,https");
	c |= a->easy_setopt(p->h, CURLOPT_WRITEFUNCTION, on_reply);
	c |= a->easy_setopt(p->h, CURLOPT_WRITEDATA, p);
	c |= a->easy_setopt(p->h, CURLOPT_USERAGENT, o->user_agent ? o->user_agent : "fleetclock");
	if (o->ca_file && *o->ca_file)
		c |= a->easy_setopt(p->h, CURLOPT_CAINFO, o->ca_file);
	if (c != CURLE_OK) {
		snprintf(err, errlen, "%s: libcurl does not accept the options (too old?)", p->url);
		return -EINVAL;
	}
	return 0;
}

int push_open(const struct push_opts *opts, struct push **out, char *err, size_t errlen)
{
	struct push *p = calloc(1, sizeof(*p));
	int rc;

	if (!p)
		return -ENOMEM;
	if (!opts->url || strlen(opts->url) >= sizeof(p->url) ||
	    (strncmp(opts->url, "http://", 7) && strncmp(opts->url, "https://", 8))) {
		snprintf(err, errlen, "collector URL '%s': expected http:// or https://...",
			 opts->url ? opts->url : "");
		free(p);
		return -EINVAL;
	}
	snprintf(p->url, sizeof(p->url), "%s", opts->url);
	rc = load_api(&p->api, err, errlen);
	if (rc == 0 && strncmp(opts->url, "https://", 8))
		skip_openssl_strings();
	/* Since libcurl 7.57 the flags no longer choose whether TLS is set up:
	 * OpenSSL is initialised (config modules, built-in engines: ~1.2 MB
	 * even without the error strings) for http URLs too; measured the
	 * same with CURL_GLOBAL_NOTHING. Nothing in libcurl's API avoids it
	 * (docs/agent-memory.md). */
	if (rc == 0 && p->api.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "libcurl: global initialisation failed");
		rc = -ENOMEM;
	}
	if (rc == 0 && !(p->h = p->api.easy_init())) {
		snprintf(err, errlen, "libcurl: cannot create a handle");
		rc = -ENOMEM;
	}
	if (rc == 0)
		rc = set_options(p, opts, err, errlen);
	if (rc < 0) {
		push_close(p);
		return rc;
	}
	*out = p;
	return 0;
}

void push_close(struct push *p)
{
	if (!p)
		return;
	if (p->h)
		p->api.easy_cleanup(p->h);
	if (p->headers)
		p->api.slist_free_all(p->headers);
	free(p);
}

static int errno_of(CURLcode c)
{
	switch (c) {
	case CURLE_OPERATION_TIMEDOUT: return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT: return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST: return -EHOSTUNREACH;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING: return -ECONNRESET;
	default: return -EPROTO;
	}
}

int push_post(struct push *p, const char *doc, size_t len, char *err, size_t errlen)
{
	struct curl_api *a = &p->api;
	long code = 0;
	CURLcode c;

	p->reply_len = 0;
	p->reply[0] = '\0';
	a->easy_setopt(p->h, CURLOPT_POSTFIELDS, doc);
	a->easy_setopt(p->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	c = a->easy_perform(p->h);
	if (c != CURLE_OK) {
		snprintf(err, errlen, "POST %s: %s", p->url, a->easy_strerror(c));
		return errno_of(c);
	}
	a->easy_getinfo(p->h, CURLINFO_RESPONSE_CODE, &code);
	if (code < 200 || code > 599) {
		snprintf(err, errlen, "POST %s: unexpected HTTP status %ld", p->url, code);
		return -EPROTO;
	}
	if (code >= 300)
		snprintf(err, errlen, "POST %s: HTTP %ld %.300s", p->url, code, p->reply);
	return (int)code;
}

enum push_outcome push_outcome_of(int rc)
{
	if (rc >= 200 && rc < 300)
		return PUSH_SENT;
	if (rc == 401 || rc == 403)
		return PUSH_REFUSED;
	if (rc >= 400 && rc < 500 && rc != 408 && rc != 429)
		return PUSH_DROP;
	return PUSH_RETRY;
}

double push_backoff_s(unsigned n, double cap_s, double jitter)
{
	double base = 1.0;

	for (unsigned i = 1; i < n && base < cap_s; i++)
		base *= 2;
	if (jitter < 0)
		jitter = 0;
	if (jitter > 1)
		jitter = 1;
	return (base < cap_s ? base : cap_s) * (0.5 + 0.5 * jitter);
}
