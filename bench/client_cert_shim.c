/*
 * client_cert_shim: LD_PRELOAD library that makes OpenSSL 3 load tools (wrk, h2load)
 * present a client certificate, which they cannot do on their own.
 *
 * It wraps SSL_CTX_new: every context the tool creates gets the certificate chain and
 * key named by BENCH_CLIENT_CERT and BENCH_CLIENT_KEY. BENCH_CLIENT_NO_RESUME=1 also
 * turns off the client session cache and tickets, so every connection is a full
 * handshake. Without BENCH_CLIENT_CERT the shim does nothing (the tool then presents no
 * certificate, which is how bench/run checks that the proxies refuse such clients).
 *
 * Build (against OpenSSL 3 headers, as wrk and h2load link libssl.so.3):
 *   gcc -O2 -shared -fPIC -o client_cert_shim.so client_cert_shim.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/ssl.h>

typedef SSL_CTX *(*ssl_ctx_new_fn)(const SSL_METHOD *method);

SSL_CTX *SSL_CTX_new(const SSL_METHOD *method)
{
    static ssl_ctx_new_fn real;
    if (real == NULL) {
        real = (ssl_ctx_new_fn)dlsym(RTLD_NEXT, "SSL_CTX_new");
        if (real == NULL) {
            fprintf(stderr, "client_cert_shim: SSL_CTX_new not found\n");
            abort();
        }
    }
    SSL_CTX *ctx = real(method);
    if (ctx == NULL) {
        return NULL;
    }
    const char *cert = getenv("BENCH_CLIENT_CERT");
    const char *key = getenv("BENCH_CLIENT_KEY");
    if (cert != NULL && *cert != '\0') {
        if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, key != NULL ? key : cert, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
            fprintf(stderr, "client_cert_shim: cannot load %s / %s\n", cert,
                    key != NULL ? key : cert);
            abort();
        }
    }
    const char *no_resume = getenv("BENCH_CLIENT_NO_RESUME");
    if (no_resume != NULL && no_resume[0] == '1') {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    }
    return ctx;
}
