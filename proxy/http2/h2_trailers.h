/* Request trailers of HTTP/2 streams: which trailer fields may reach the database.
 *
 * A trailer field arrives after the request was authorized and after its head was
 * forwarded, so a field that means anything before the content (framing, routing,
 * authentication, request modifiers, how to process the content, RFC 9110 §6.5.1) or
 * that certgate owns (identity, X-Forwarded-*) must never be forwarded as a trailer:
 * a database or framework that merges trailers into the header section would take
 * it for the real one. Such fields are dropped; the rest of the request goes on (RFC
 * 9110 §6.5.1 lets an intermediary discard trailers). Pure functions, no I/O. */
#ifndef CG_PROXY_HTTP2_H2_TRAILERS_H
#define CG_PROXY_HTTP2_H2_TRAILERS_H

#include <stdbool.h>
#include <stddef.h>

#include <nghttp2/nghttp2.h>

#include "common/str.h"

struct h2_fields;

/* h2_trailer_allowed reports whether a request trailer field called |name| (any letter
 * case) may be forwarded as far as HTTP is concerned: false for pseudo-headers, empty
 * names, connection-specific fields, and every field RFC 9110 §6.5.1 keeps out of
 * trailers (Content-Length, Transfer-Encoding, Host, TE, Trailer, Authorization,
 * Cookie, Content-Type, conditionals, cache controls, ...), and for the gRPC fields
 * that only a response may carry (grpc-status, grpc-message) or that steer the call
 * (grpc-timeout, grpc-encoding). Whether certgate owns the field is the caller's other
 * question (h2_trailers_filter). */
bool h2_trailer_allowed(struct cg_str name);

/* h2_field_owned_fn reports whether the field |nv| is one certgate owns and strips
 * from request heads (the head path's own predicate, so trailers can never be looser
 * than heads). */
typedef bool (*h2_field_owned_fn)(void *arg, const nghttp2_nv *nv);

/* h2_trailers_filter removes from |f|, in place and keeping the order of the rest,
 * every field that h2_trailer_allowed refuses or that |owned| (called with |arg|)
 * claims. The bytes stay in |f|'s storage. Returns the number of fields removed. */
size_t h2_trailers_filter(struct h2_fields *f, h2_field_owned_fn owned, void *arg);

#endif
