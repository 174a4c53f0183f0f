/* Hexadecimal: the one codec for thumbprints, key identifiers, serial numbers, percent
 * escapes and JSON \u escapes. Digits are read in either case and written in the case
 * the caller names; nothing here allocates. */
#ifndef CG_COMMON_HEX_H
#define CG_COMMON_HEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/str.h"

/* cg_hex_upper and cg_hex_lower map a value 0..15 to its digit. */
extern const char cg_hex_upper[16];
extern const char cg_hex_lower[16];

enum cg_hex_case {
    CG_HEX_UPPER, /* "0123456789ABCDEF": thumbprints, serials, percent escapes */
    CG_HEX_LOWER, /* "0123456789abcdef": JSON escapes, XFCC hashes, request ids */
};

/* cg_hex_digit sets |*out| to the value of the hex digit |c| (either case) and returns
 * true, or returns false, leaving |*out| alone, when |c| is not a hex digit. */
static inline bool cg_hex_digit(char c, uint8_t *out)
{
    if (c >= '0' && c <= '9') {
        *out = (uint8_t)(c - '0');
    } else if (c >= 'a' && c <= 'f') {
        *out = (uint8_t)(c - 'a' + 10);
    } else if (c >= 'A' && c <= 'F') {
        *out = (uint8_t)(c - 'A' + 10);
    } else {
        return false;
    }
    return true;
}

/* cg_hex_pair reads the byte written as the two hex digits |hi| |lo| (a percent escape's
 * "%XY") into |*out|; false, leaving |*out| alone, unless both are hex digits. */
static inline bool cg_hex_pair(char hi, char lo, uint8_t *out)
{
    uint8_t h, l;
    if (!cg_hex_digit(hi, &h) || !cg_hex_digit(lo, &l)) {
        return false;
    }
    *out = (uint8_t)(h << 4 | l);
    return true;
}

/* cg_hex_encode writes the |len| bytes of |in| as 2 * |len| hex digits in |letter_case|
 * followed by a NUL into |out|, which must hold 2 * |len| + 1 bytes. */
void cg_hex_encode(const uint8_t *in, size_t len, enum cg_hex_case letter_case, char *out);

/* How cg_hex_decode treats ':' between the pairs of digits. */
enum cg_hex_colons {
    CG_HEX_COLONS_NO,       /* digits only: "ABCD" */
    CG_HEX_COLONS_OPTIONAL, /* "AB:CD" or "ABCD": a ':' between every two pairs or between
                               none, so that a dropped digit cannot shift the pairs */
};

/* cg_hex_decode reads |text| as pairs of hex digits (either case) into |out|, at most
 * |cap| bytes, and sets |*out_len| to their number. It returns CG_OK, or
 * CG_ERR_INVALID for empty text, an odd number of digits, a character that is not a
 * digit (nor an allowed ':'), colons between some pairs but not all, or more than |cap|
 * bytes; |out| may then hold a part of the bytes. */
int cg_hex_decode(struct cg_str text, enum cg_hex_colons colons, uint8_t *out, size_t cap,
                  size_t *out_len);

#endif
