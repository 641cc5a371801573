/* crypto_dl.h - the few libcrypto (OpenSSL) functions fleetclock needs,
 * loaded with dlopen on first use.
 *
 * Only the election signs and checks announces; linking libcrypto into the
 * agent made every one-shot action (--status, --check, --at) pay ~1.3 ms of
 * dynamic loading for it (measured: `true` 0.59 ms, with libcrypto preloaded
 * 2.77 ms vs 1.42 ms through the same env wrapper). */
#ifndef FLEETCLOCK_CRYPTO_DL_H
#define FLEETCLOCK_CRYPTO_DL_H

#include <stddef.h>
#include <stdint.h>

#define CRYPTO_DL_SHA256_LEN 32

/* Load libcrypto once (thread-safe). 0, or -ENOENT when it cannot be loaded
 * (the message, with dlerror's reason, is in err). */
int crypto_dl_load(char *err, size_t errlen);

/* HMAC-SHA256 of data with key into mac. 0, or -ENOENT / -EINVAL. */
int crypto_dl_hmac_sha256(const uint8_t *key, size_t keylen, const uint8_t *data, size_t len,
			  uint8_t mac[CRYPTO_DL_SHA256_LEN]);

/* SHA-256 of data. 0, or -ENOENT / -EINVAL. */
int crypto_dl_sha256(const void *data, size_t len, uint8_t md[CRYPTO_DL_SHA256_LEN]);

/* Constant-time comparison (CRYPTO_memcmp): 0 when equal. Non-zero, also
 * when libcrypto is missing. */
int crypto_dl_memcmp(const void *a, const void *b, size_t len);

/* Wipe memory so the compiler cannot drop it (OPENSSL_cleanse). */
void crypto_dl_cleanse(void *p, size_t len);

#endif
