/* Private keys: generation, PEM encoding, and matching a key to a certificate. */
#ifndef CG_PKI_KEY_H
#define CG_PKI_KEY_H

#include <stdbool.h>
#include <stddef.h>

#include "common/boringssl.h"
#include "common/err.h"

/* pki_key_generate creates a fresh EC P-256 private key in |*out|; the caller frees it
 * with EVP_PKEY_free. Fails with CG_ERR_CRYPTO. */
int pki_key_generate(EVP_PKEY **out, struct cg_errbuf *err);

/* pki_key_load reads an unencrypted PEM private key (PKCS#8, SEC 1 or PKCS#1) from
 * |path| into |*out| (caller frees). Fails with one line naming the file. */
int pki_key_load(const char *path, EVP_PKEY **out, struct cg_errbuf *err);

/* pki_key_matches_cert reports whether |key| is the private half of |cert|'s public
 * key. */
bool pki_key_matches_cert(const EVP_PKEY *key, const X509 *cert);

/* pki_key_to_pem encodes |key| as an unencrypted PKCS#8 PEM block ("PRIVATE KEY") in a
 * NUL-terminated heap buffer |*out| of |*out_len| bytes. The caller releases it with
 * pki_secret_free. */
int pki_key_to_pem(const EVP_PKEY *key, char **out, size_t *out_len, struct cg_errbuf *err);

/* pki_certs_to_pem encodes |num_certs| certificates as consecutive PEM blocks in a
 * NUL-terminated heap buffer that the caller frees. */
int pki_certs_to_pem(X509 *const *certs, size_t num_certs, char **out, size_t *out_len,
                     struct cg_errbuf *err);

/* pki_secret_free wipes |len| bytes of |p| and frees it. NULL is a no-op. */
void pki_secret_free(void *p, size_t len);

#endif
