/* FUZZ_MODULE: proxy_net */
/* libFuzzer target for proxy/net/proxy_protocol.c: a header length is within the input and
 * PP_MAX_HEADER, the source address family is set when an address is reported, and a
 * header found in a prefix is found identically in the whole input. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/net/proxy_protocol.h"

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);   \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pp_header whole;
    int r = pp_parse(data, size, &whole);
    CHECK(r == PP_INCOMPLETE || r == PP_ERROR || (r > 0 && (size_t)r <= size &&
                                                  (size_t)r <= PP_MAX_HEADER));
    if (r > 0 && whole.has_address) {
        CHECK(whole.src.ss_family == AF_INET || whole.src.ss_family == AF_INET6);
    }
    if (r > 0) {
        /* Every proper prefix of a complete header is incomplete, never an error. */
        for (size_t i = 0; i < (size_t)r; i++) {
            struct pp_header part;
            CHECK(pp_parse(data, i, &part) == PP_INCOMPLETE);
        }
    }
    return 0;
}
