/* What the HTTP/1.1 parsers of proxy/http1/ share (h1_parse.c, h1_chunked.c): the
 * character classes, one table lookup per byte, and the largest body length. Private to
 * proxy/http1/. */
#ifndef CG_PROXY_HTTP1_H1_PARSE_INTERNAL_H
#define CG_PROXY_HTTP1_H1_PARSE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

/* Character classes, one bit each (RFC 9110 §5.6, RFC 3986 §3.2.2). */
enum {
    C_TOKEN = 1u << 0,   /* tchar */
    C_FIELD = 1u << 1,   /* field-content byte: HTAB, SP, VCHAR, obs-text */
    C_TARGET = 1u << 2,  /* request-target byte: VCHAR (no CTL, SP, DEL, >= 0x80) */
    C_HEX = 1u << 3,     /* HEXDIG */
    C_REGNAME = 1u << 4, /* host name byte: unreserved (ALPHA DIGIT - . _ ~) */
    C_QDTEXT = 1u << 5,  /* qdtext: HTAB, SP, VCHAR except '"' and '\\', obs-text */
};

/* h1_cclass holds the classes of each byte (defined in h1_parse.c). */
extern const unsigned char h1_cclass[256];

#define IS(cls, c) ((h1_cclass[(unsigned char)(c)] & (cls)) != 0)

/* Largest Content-Length or chunk size accepted: 2^62, far beyond any real body and
 * small enough that sums of two never overflow a uint64_t. */
#define MAX_BODY_LEN (UINT64_C(1) << 62)

/* is_ows: optional whitespace (RFC 9110 §5.6.3). */
static inline bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

#endif
