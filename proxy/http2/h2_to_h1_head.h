/* The HTTP/1.1 request head for an HTTP/2 request (proxy/http2/h2_to_h1.c forwards it to an
 * HTTP/1.1 database). Pure: fields in, bytes out, no connection state, so that unit
 * tests and the fuzzer (tests/fuzz/http2_translate_fuzz.c) call it directly. */
#ifndef CG_PROXY_HTTP2_H2_TO_H1_HEAD_H
#define CG_PROXY_HTTP2_H2_TO_H1_HEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <nghttp2/nghttp2.h>

#include "common/str.h"

/* struct h2_h1_head is what the head is made of. Fields have passed nghttp2's HTTP
 * messaging checks (lower-case names, no CR, LF or NUL in values) and certgate's own
 * stripping of owned fields. */
struct h2_h1_head {
    struct cg_str method;
    struct cg_str target; /* path and query to forward */
    struct cg_str host;   /* Host value: the :authority, or the upstream address when
                             the request had none (HTTP/1.1 requires a Host) */
    const nghttp2_nv *fields;
    size_t num_fields;
    int64_t content_length; /* the client's Content-Length, -1 when absent */
    bool body_follows;      /* a body comes (or is buffered) although no length is known */
};

/* h2_h1_head_write appends to |out|, in one piece, "METHOD target HTTP/1.1", Host,
 * every field except pseudo-headers and those a proxy must re-derive
 * or drop (Host, Content-Length, TE, Expect and the connection-specific fields), the cookie
 * fields joined into one with "; " (RFC 9113 §8.2.3), then the framing certgate
 * chooses: Content-Length when the client sent one, else Transfer-Encoding: chunked
 * when a body follows, else none. Returns true when the body must be chunk-encoded.
 * Aborts only if its own size bound is wrong (CG_BUG_ON). */
bool h2_h1_head_write(struct evbuffer *out, const struct h2_h1_head *head);

#endif
