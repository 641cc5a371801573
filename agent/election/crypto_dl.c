/* crypto_dl.c - libcrypto through dlopen, see crypto_dl.h. */
#include "election/crypto_dl.h"

#include <dlfcn.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char load_err[256];
static bool loaded;

static unsigned char *(*p_hmac)(const EVP_MD *, const void *, int, const unsigned char *, size_t,
				unsigned char *, unsigned int *);
static const EVP_MD *(*p_sha256)(void);
static int (*p_digest)(const void *, size_t, unsigned char *, unsigned int *, const EVP_MD *, ENGINE *);
static int (*p_memcmp)(const void *, const void *, size_t);
static void (*p_cleanse)(void *, size_t);

static void load(void)
{
	/* Debian 12 ships libcrypto.so.3 (OpenSSL 3); the -dev symlink is a fallback. */
	static const char *names[] = { "libcrypto.so.3", "libcrypto.so" };
	void *h = NULL;

	for (size_t i = 0; i < 2 && !h; i++)
		h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(load_err, sizeof(load_err), "cannot load libcrypto: %s", dlerror());
		return;
	}
	*(void **)&p_hmac = dlsym(h, "HMAC");
	*(void **)&p_sha256 = dlsym(h, "EVP_sha256");
	*(void **)&p_digest = dlsym(h, "EVP_Digest");
	*(void **)&p_memcmp = dlsym(h, "CRYPTO_memcmp");
	*(void **)&p_cleanse = dlsym(h, "OPENSSL_cleanse");
	if (!p_hmac || !p_sha256 || !p_digest || !p_memcmp || !p_cleanse) {
		snprintf(load_err, sizeof(load_err), "libcrypto lacks HMAC/EVP_sha256/EVP_Digest/"
			 "CRYPTO_memcmp/OPENSSL_cleanse");
		return;
	}
	loaded = true;
}

int crypto_dl_load(char *err, size_t errlen)
{
	pthread_once(&once, load);
	if (loaded)
		return 0;
	if (err)
		snprintf(err, errlen, "%s", load_err);
	return -ENOENT;
}

int crypto_dl_hmac_sha256(const uint8_t *key, size_t keylen, const uint8_t *data, size_t len,
			  uint8_t mac[CRYPTO_DL_SHA256_LEN])
{
	unsigned int n = 0;

	if (crypto_dl_load(NULL, 0) < 0)
		return -ENOENT;
	if (keylen > 4096 || !p_hmac(p_sha256(), key, (int)keylen, data, len, mac, &n) ||
	    n != CRYPTO_DL_SHA256_LEN)
		return -EINVAL;
	return 0;
}

int crypto_dl_sha256(const void *data, size_t len, uint8_t md[CRYPTO_DL_SHA256_LEN])
{
	unsigned int n = 0;

	if (crypto_dl_load(NULL, 0) < 0)
		return -ENOENT;
	if (!p_digest(data, len, md, &n, p_sha256(), NULL) || n != CRYPTO_DL_SHA256_LEN)
		return -EINVAL;
	return 0;
}

int crypto_dl_memcmp(const void *a, const void *b, size_t len)
{
	if (crypto_dl_load(NULL, 0) < 0)
		return -1;
	return p_memcmp(a, b, len);
}

void crypto_dl_cleanse(void *p, size_t len)
{
	if (crypto_dl_load(NULL, 0) == 0) {
		p_cleanse(p, len);
		return;
	}
	/* No libcrypto: a volatile write the compiler must keep. */
	for (volatile unsigned char *v = p; len--; v++)
		*v = 0;
}
