#include "common/hex.h"

#include "common/err.h"

const char cg_hex_upper[16] = "0123456789ABCDEF";
const char cg_hex_lower[16] = "0123456789abcdef";

void cg_hex_encode(const uint8_t *in, size_t len, enum cg_hex_case letter_case, char *out)
{
    const char *digits = letter_case == CG_HEX_LOWER ? cg_hex_lower : cg_hex_upper;
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

int cg_hex_decode(struct cg_str text, enum cg_hex_colons colons, uint8_t *out, size_t cap,
                  size_t *out_len)
{
    /* Whether the text separates its pairs with ':', known from the second pair on. */
    enum { SEP_UNKNOWN, SEP_NONE, SEP_COLON } sep = SEP_UNKNOWN;
    size_t n = 0, i = 0;
    if (colons == CG_HEX_COLONS_NO) {
        sep = SEP_NONE;
    }
    while (i < text.len) {
        if (n > 0) {
            bool has = text.p[i] == ':';
            if (sep == SEP_UNKNOWN) {
                sep = has ? SEP_COLON : SEP_NONE;
            } else if ((sep == SEP_COLON) != has) {
                return CG_ERR_INVALID;
            }
            i += has;
        }
        if (n == cap || text.len - i < 2 || !cg_hex_pair(text.p[i], text.p[i + 1], &out[n])) {
            return CG_ERR_INVALID;
        }
        n++;
        i += 2;
    }
    if (n == 0) {
        return CG_ERR_INVALID;
    }
    *out_len = n;
    return CG_OK;
}
