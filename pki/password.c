#include "pki/password.h"

#include <stdint.h>

#include "common/boringssl.h"

#include <openssl/rand.h>

static const char alphabet[] = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

void pki_password_generate(char *out)
{
    const unsigned n = sizeof(alphabet) - 1;
    /* Rejection sampling keeps every letter equally likely. */
    const unsigned limit = 256 - 256 % n;
    size_t len = 0;
    while (len < PKI_PASSWORD_LEN) {
        uint8_t buf[32];
        RAND_bytes(buf, sizeof(buf));
        for (size_t i = 0; i < sizeof(buf) && len < PKI_PASSWORD_LEN; i++) {
            if (buf[i] < limit) {
                out[len++] = alphabet[buf[i] % n];
            }
        }
    }
    out[len] = '\0';
}
