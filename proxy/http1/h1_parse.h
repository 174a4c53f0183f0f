/* Strict HTTP/1.1 message parsing (RFC 9112): bytes in, structures out, no I/O.
 *
 * The connection code (proxy/http1/h1_server.c) keeps received bytes in a buffer and calls
 * h1_parse_request / h1_parse_response on the contiguous head each time more arrives;
 * they either need more bytes, fail with the HTTP status to answer, or return the parsed
 * head with its body framing already decided. Bodies are then framed by the caller
 * (Content-Length) or by the incremental chunked decoder below (proxy/http1/h1_chunked.c).
 *
 * Everything a request smuggler could exploit is an error here, never "tolerated":
 * Content-Length with Transfer-Encoding (in requests and in responses), duplicate or
 * malformed Content-Length (also duplicates with equal values and comma lists), a
 * Transfer-Encoding other than exactly "chunked" (certgate decodes no other transfer
 * coding, so "gzip, chunked" is refused too), several Transfer-Encoding fields,
 * Transfer-Encoding in HTTP/1.0, obs-fold, bare CR or LF, control characters (but HTAB)
 * and DEL, whitespace before the colon, oversized heads and chunk sizes.
 *
 * Further choices, all stricter than or equal to RFC 9112:
 * - Empty lines before a request line are skipped (RFC 9112 §2.2); they count in
 *   head_len and against max_head.
 * - Request-target: VCHAR only. origin-form starts with '/'; absolute-form is http:// or
 *   https:// (scheme in any case), a valid authority, then nothing or a path starting
 *   with '/' (a query right after the authority is refused); asterisk-form only with
 *   OPTIONS; authority-form (host:port) only, and always, with CONNECT.
 * - Host (and authorities): a host name of unreserved characters and pct-encodings, an
 *   IPv4 address or a bracketed IPv6 literal, an optional port of 1-5 digits <= 65535;
 *   no userinfo, no empty host, no empty port. HTTP/1.1 requires exactly one Host;
 *   HTTP/1.0 allows none. With absolute-form, a Host different (ignoring case) from the
 *   target's authority is refused (no default-port equivalence).
 * - Version "HTTP/d.d" other than 1.0 and 1.1 answers 505; anything else malformed 400.
 * - Expect: "100-continue" (any case) sets H1_F_EXPECT_CONTINUE; any other expectation
 *   answers 417. HTTP/1.0 requests ignore Expect entirely (RFC 9110 §10.1.1).
 * - Status line: "HTTP/1.x SP 3DIGIT SP reason CRLF"; the reason may be empty, the SP
 *   before it may not (RFC 9112 §4). Status codes 100..999. */
#ifndef CG_PROXY_HTTP1_H1_PARSE_H
#define CG_PROXY_HTTP1_H1_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/str.h"

/* Results of h1_parse_request / h1_parse_response. */
enum h1_parse_result {
    H1_PARSE_OK = 0,          /* a complete head was parsed */
    H1_PARSE_INCOMPLETE = -1, /* no error so far; call again with more bytes */
    H1_PARSE_ERROR = -2,      /* malformed: answer out->error_status and close */
};

/* How the body of a message is delimited (RFC 9112 §6.3). */
enum h1_body_kind {
    H1_BODY_NONE = 0,     /* no body: no framing headers, HEAD, 1xx, 204, 304 */
    H1_BODY_LENGTH,       /* exactly content_length bytes (may be 0) */
    H1_BODY_CHUNKED,      /* chunked transfer coding: use struct h1_chunked */
    H1_BODY_UNTIL_CLOSE,  /* responses only: everything until the server closes */
};

struct h1_header {
    struct cg_str name;  /* token, original case */
    struct cg_str value; /* leading and trailing whitespace removed */
    bool hop_by_hop;     /* set by h1_mark_hop_by_hop */
};

/* Flags summarising the headers that matter to a proxy. */
enum {
    H1_F_CONN_CLOSE = 1u << 0,      /* Connection: close (or HTTP/1.0 without keep-alive) */
    H1_F_CONN_KEEPALIVE = 1u << 1,  /* Connection: keep-alive */
    H1_F_CONN_UPGRADE = 1u << 2,    /* "upgrade" listed in Connection */
    H1_F_EXPECT_CONTINUE = 1u << 3, /* Expect: 100-continue */
    H1_F_HAS_HOST = 1u << 4,        /* exactly one Host header present */
    H1_F_HAS_UPGRADE = 1u << 5,     /* an Upgrade header is present */
    H1_F_HAS_TE_TRAILERS = 1u << 6, /* TE: trailers */
};

/* Limits applied while parsing, each at least 1. The server passes the configuration's
 * limits (limits.max_request_line, max_header_bytes, max_headers; their defaults are in
 * config/config_keys.c). */
struct h1_limits {
    size_t max_request_line; /* bytes of the request line without CRLF; longer -> 414 (as
                                soon as the received bytes prove it); also bounds the
                                status line of responses */
    size_t max_head;         /* bytes of the whole head incl. request line -> 431 */
    size_t max_headers;      /* header fields -> 431 */
};

struct h1_request {
    struct cg_str method;     /* token, e.g. "GET" */
    struct cg_str target;     /* request-target as sent (origin-form, absolute-form, ...) */
    struct cg_str path;       /* origin-form path+query; for absolute-form the part after
                                 the authority; "*" for asterisk-form; empty for CONNECT */
    struct cg_str authority;  /* authority of absolute-form or CONNECT; else empty */
    struct cg_str host;       /* value of the Host header (empty if absent) */
    struct cg_str user_agent; /* value of the first User-Agent header (empty if absent) */
    int minor_version;        /* 0 or 1 */
    struct h1_header *headers;/* points into the caller's array passed to the parser */
    size_t num_headers;
    enum h1_body_kind body;   /* NONE, LENGTH or CHUNKED for requests */
    uint64_t content_length;  /* valid when body == H1_BODY_LENGTH */
    unsigned flags;           /* H1_F_* */
    size_t head_len;          /* bytes of the head including the final CRLF (and any
                                 empty lines skipped before the request line) */
    int error_status;         /* on H1_PARSE_ERROR: 400, 414, 417, 431 or 505 */
    const char *error_reason; /* on H1_PARSE_ERROR: static text for logs */
};

struct h1_response {
    int status;               /* 100..999 */
    struct cg_str reason;
    int minor_version;
    struct h1_header *headers;
    size_t num_headers;
    enum h1_body_kind body;   /* decided with the request method and status */
    uint64_t content_length;
    unsigned flags;
    size_t head_len;
    const char *error_reason; /* on H1_PARSE_ERROR: static text for logs */
};

/* h1_parse_request parses a request head from buf[0..len). |headers| is an array of
 * |headers_cap| entries the caller owns; on success out->headers points to it and all
 * slices point into |buf| (except out->path of an absolute-form target without a path,
 * which is a static "/"), so both must outlive |out|. |limits| is required. More than
 * min(max_headers, headers_cap) fields answers 431. The parser keeps no state: call it
 * again on the whole buffer when more bytes arrive. On any result but H1_PARSE_OK, *out
 * is zeroed except error_status and error_reason.
 *
 * Returns H1_PARSE_OK with out->head_len set, H1_PARSE_INCOMPLETE when no error has been
 * found in the bytes so far but the head has not ended (the caller enforces
 * max_head/max_request_line itself only through this function: once len exceeds a
 * limit without a complete head, the result is H1_PARSE_ERROR with 414 or 431), or
 * H1_PARSE_ERROR with out->error_status and out->error_reason set. */
enum h1_parse_result h1_parse_request(const char *buf, size_t len,
                                      const struct h1_limits *limits,
                                      struct h1_header *headers, size_t headers_cap,
                                      struct h1_request *out);

/* h1_parse_response parses a response head like h1_parse_request. |request_method|
 * is the method of the request it answers ("HEAD" and "CONNECT" change the framing).
 * Interim 1xx responses parse as complete heads with body H1_BODY_NONE; the caller
 * loops. The body is H1_BODY_NONE for HEAD, 1xx, 204, 304 and 2xx to CONNECT (a tunnel
 * the caller handles), whatever the framing fields say (they are still validated);
 * otherwise chunked, Content-Length, or H1_BODY_UNTIL_CLOSE when neither is present.
 * Content-Length with Transfer-Encoding is an error here too (RFC 9112 lets TE win; a
 * smuggling-safe proxy refuses the upstream's response instead: answer 502). Host and
 * Expect are not interpreted in responses. */
enum h1_parse_result h1_parse_response(const char *buf, size_t len,
                                       const struct h1_limits *limits,
                                       struct cg_str request_method,
                                       struct h1_header *headers, size_t headers_cap,
                                       struct h1_response *out);

/* Incremental decoder of the chunked transfer coding (RFC 9112 §7.1). An all-zero
 * struct is the state before the first chunk-size line. */
struct h1_chunked {
    int state;            /* private */
    uint64_t remaining;   /* data bytes left in the current chunk (<= 2^62) */
    size_t line_len;      /* bytes of the current chunk-size line so far, CR included;
                             the line without CRLF (size, extensions) is at most 4 KiB,
                             the size at most 16 hex digits */
    size_t trailer_len;   /* bytes of the trailer section so far; at most 16 KiB */
};

enum h1_chunked_result {
    H1_CHUNKED_DATA = 0,        /* *out_len bytes at the start of the input are body data */
    H1_CHUNKED_FRAMING = 1,     /* *out_len bytes at the start of the input were framing
                                   (size lines, CRLFs, extensions): drop them */
    H1_CHUNKED_DONE = 2,        /* *out_len bytes ended the body (last chunk, trailers,
                                   final CRLF); bytes after them belong to the next message */
    H1_CHUNKED_INCOMPLETE = -1, /* all |len| bytes were consumed as framing (*out_len ==
                                   len) and more are needed */
    H1_CHUNKED_ERROR = -2,      /* malformed: size overflow, bad hex, missing CRLF, bare
                                   LF, oversized line or trailers */
};

/* h1_chunked_step examines buf[0..len) (len > 0) and reports the next run of body data
 * or framing. The caller consumes *out_len bytes and calls again with what follows;
 * any split of the input into calls gives the same result. Chunk sizes are 1 to 16
 * hex digits up to 2^62. Chunk extensions (BWS ";" BWS token [BWS "=" BWS (token /
 * quoted-string)]) are validated and dropped, like trailer fields (validated like
 * header fields: token name, no whitespace before the colon, no obs-fold, no control
 * characters). CRLF is required after every line and after the chunk data; a bare LF is
 * an error. After H1_CHUNKED_DONE further calls return H1_CHUNKED_DONE with *out_len 0;
 * after H1_CHUNKED_ERROR they return H1_CHUNKED_ERROR. */
enum h1_chunked_result h1_chunked_step(struct h1_chunked *c, const char *buf, size_t len,
                                       size_t *out_len);

/* h1_is_token_char reports whether |c| may appear in a token (RFC 9110 §5.6.2). */
bool h1_is_token_char(unsigned char c);

/* h1_mark_hop_by_hop sets hop_by_hop on every field a proxy must not forward: the
 * fixed ones (common/http_field.h) and those the Connection fields name (RFC 9110
 * §7.6.1), in one pass over the Connection tokens rather than one per field. */
void h1_mark_hop_by_hop(struct h1_header *headers, size_t num_headers);

#endif
