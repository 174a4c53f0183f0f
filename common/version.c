#include "common/version.h"

#include "common/boringssl.h"
#include "common/version_build.h" /* generated at build time (cmake/Version.cmake) */

#include <openssl/crypto.h>

const char *cg_version(void)
{
    return CG_VERSION_PROJECT;
}

const char *cg_version_commit(void)
{
    return CG_VERSION_COMMIT;
}

void cg_version_tls(char *out, size_t out_len)
{
    /* OpenSSL_version_num is the OpenSSL API level BoringSSL mimics: 0xMNNFFPPS. */
    unsigned long num = OpenSSL_version_num();
    const char *pkg = CG_VERSION_TLS_BUILD;
    snprintf(out, out_len, "%s (OpenSSL %lu.%lu.%lu API), built against API %d%s%s%s",
             OpenSSL_version(OPENSSL_VERSION), (num >> 28) & 0xf, (num >> 20) & 0xff,
             (num >> 12) & 0xff, BORINGSSL_API_VERSION, pkg[0] != '\0' ? " (" : "", pkg,
             pkg[0] != '\0' ? ")" : "");
}

void cg_version_print(FILE *f)
{
    char tls[256];
    cg_version_tls(tls, sizeof(tls));
    fprintf(f, "certgate %s\ncommit: %s\ntls: %s\n", cg_version(), cg_version_commit(), tls);
}
