/* Fuzz target for pki_import_parse, the entry point behind `certgate cert import`,
 * `cert thumbprint` and the admin API's certificate upload: PEM (any blocks, keys,
 * encrypted PKCS#8), DER certificates and PKCS#12 bundles.
 *
 * The first byte picks the password (none, or the one the PKCS#12 seeds use), so that
 * mutations reach the decrypted contents of the seed bundles. PKCS#12 key derivation is
 * slow by design: inputs with large iteration counts are expected to be slow, not
 * hangs (BoringSSL bounds the count).
 *
 * FUZZ_MODULE: pki
 * FUZZ_DICT: pki_import.dict
 */
#include <stddef.h>
#include <stdint.h>

#include "pki/import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > 64 * 1024) {
        return 0;
    }
    const char *password = (data[0] & 1) ? "vector-pw" : NULL;
    struct pki_import imp = {0};
    if (pki_import_parse(data + 1, size - 1, password, &imp, NULL) == 0) {
        X509 *ids[PKI_IMPORT_MAX_CERTS];
        (void)pki_import_identities(&imp, ids);
        (void)pki_import_key_cert(&imp);
    }
    pki_import_cleanup(&imp);
    return 0;
}
