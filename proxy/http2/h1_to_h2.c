/* HTTP/1.1 exchange -> HTTP/2 upstream (docs/http2.md "HTTP/1.1 client -> HTTP/2
 * database"): the exchange becomes a stream of the worker's shared h2c / h2 sessions
 * (proxy/http2/h2_client.c).
 *
 * Request: :method, :scheme https, :authority from Host (else the name the connection
 * asked for, as for HTTP/1.0 clients without Host), :path the normalized target; every
 * field but the hop-by-hop ones (and those Connection lists), Host, Content-Length,
 * Expect and the fields certgate owns; content-length when the client sent one; te:
 * trailers only when the client's TE lists trailers; the identity headers and
 * x-forwarded-for / -proto / -host. The body, de-framed by the server (Content-Length or
 * chunked), goes out as DATA as the session's flow control allows. Request trailers of
 * a chunked body are dropped (the server never parses them). An Upgrade is refused with
 * 501: HTTP/2 has no 101.
 *
 * Response: :status and the fields (hop-by-hop ones dropped) become the HTTP/1.1 head;
 * the server frames the body: Content-Length when the database sent one (and never a
 * byte more or less than it), else chunked for HTTP/1.1 clients (trailers then kept,
 * hop-by-hop and framing fields dropped) or close-delimited for HTTP/1.0 clients. The
 * database's window for the stream reopens as the client's TLS output drains. */
#include "proxy/http2/h1_to_h2.h"

#include <stdlib.h>
#include <string.h>

#include "common/bug.h"
#include "common/mem.h"
#include "common/str.h"
#include "proxy/core/conn.h"
#include "proxy/core/runtime.h"
#include "proxy/http1/h1_client.h"
#include "proxy/http2/h2_client.h"
#include "proxy/http2/h2_stream.h"

struct h1h2 {
    struct h1_exchange *ex;
    struct h2_client_stream *cs;
    struct h2_fields fwd;  /* the request's fields: live while the stream may be
                              submitted again */
    struct evbuffer *data; /* response bytes on their way to the exchange */
    bool no_body;          /* HEAD, 204, 304: no byte goes to the client */
    bool length_known;     /* the database sent content-length */
    uint64_t remaining;    /* with length_known: body bytes still due */
    size_t unacked;        /* bytes written while the client was full: the database's
                              window reopens when it drains */
};

static void backend_free(struct h1h2 *b)
{
    h2_fields_cleanup(&b->fwd);
    evbuffer_free(b->data);
    free(b);
}

/* ---- request ---------------------------------------------------------------------- */

static bool field_dropped(const struct h1_exchange *ex, const struct h1_header *hd)
{
    return hd->hop_by_hop || cg_str_case_eq_cstr(hd->name, "host") ||
           cg_str_case_eq_cstr(hd->name, "content-length") ||
           cg_str_case_eq_cstr(hd->name, "expect") || authz_header_dropped(ex->c, hd->name);
}

/* build_fields lists what goes to the database. Strings the exchange or the connection
 * owns are referred to; the client's fields, which live in its input only during
 * start, are copied. */
static void build_fields(struct h1h2 *b, const struct h1_request *req)
{
    const unsigned ref = H2F_REF_NAME | H2F_REF_VALUE;
    struct h1_exchange *ex = b->ex;
    struct h2_fields *f = &b->fwd;
    h2_fields_add_ex(f, ":method", 7, ex->method, strlen(ex->method), ref);
    h2_fields_add_ex(f, ":scheme", 7, "https", 5, ref);
    if (ex->host[0] != '\0') {
        h2_fields_add_ex(f, ":authority", 10, ex->host, strlen(ex->host), ref);
    } else {
        struct cg_str host = conn_default_host(ex->c, ex->az.upstream_index);
        h2_fields_add_ex(f, ":authority", 10, host.p, host.len, H2F_REF_NAME);
    }
    h2_fields_add_ex(f, ":path", 5, ex->path, strlen(ex->path), ref);
    h1_mark_hop_by_hop(req->headers, req->num_headers);
    for (size_t i = 0; i < req->num_headers; i++) {
        const struct h1_header *hd = &req->headers[i];
        if (!field_dropped(ex, hd)) {
            h2_fields_add(f, hd->name.p, hd->name.len, hd->value.p, hd->value.len, true);
        }
    }
    if (ex->req_framing == H1_BODY_LENGTH) {
        char len[24];
        char *end = cg_put_u64(len, ex->req_length);
        h2_fields_add(f, "content-length", 14, len, (size_t)(end - len), false);
    }
    if ((req->flags & H1_F_HAS_TE_TRAILERS) && ex->minor >= 1) {
        /* The client takes trailers, which its chunked response can carry. */
        h2_fields_add_ex(f, "te", 2, "trailers", 8, ref);
    }
    const char *client_cert = ex->c->authz.client_cert;
    for (size_t i = 0; i < ex->az.num_headers; i++) {
        const struct policy_header *ph = &ex->az.headers[i];
        /* The Client-Cert value is the connection's (authz_conn), not scratch. */
        unsigned flags = client_cert != NULL && ph->value.p == client_cert ? H2F_REF_VALUE : 0;
        h2_fields_add_ex(f, ph->name.p, ph->name.len, ph->value.p, ph->value.len, flags);
    }
    h2_fields_add_ex(f, "x-forwarded-for", 15, ex->c->peer_ip, strlen(ex->c->peer_ip), ref);
    h2_fields_add_ex(f, "x-forwarded-proto", 17, "https", 5, ref);
    if (ex->host[0] != '\0') {
        h2_fields_add_ex(f, "x-forwarded-host", 16, ex->host, strlen(ex->host), ref);
    }
}

static size_t read_body(void *arg, uint8_t *buf, size_t len, bool *out_end,
                        const struct h2_fields **out_trailers)
{
    struct h1h2 *b = arg;
    struct h1_exchange *ex = b->ex;
    int n = evbuffer_remove(ex->req_body, buf, len);
    if (n < 0) {
        n = 0;
    }
    if (ex->req_end && evbuffer_get_length(ex->req_body) == 0) {
        *out_end = true;
    } else if (n > 0) {
        h1_exchange_request_resume(ex); /* room for more */
    }
    return (size_t)n;
}

/* ---- response --------------------------------------------------------------------- */

/* to_h1 lists |f| as HTTP/1.1 fields in |out| (at most |cap|), hop-by-hop ones marked.
 * Returns false when there are more than |cap|. */
static bool to_h1(const struct h2_fields *f, struct h1_header *out, size_t cap, size_t *out_num)
{
    size_t num = f != NULL ? f->num : 0;
    if (num > cap) {
        return false;
    }
    for (size_t i = 0; i < num; i++) {
        out[i] = (struct h1_header){
            .name = {(const char *)f->nv[i].name, f->nv[i].namelen},
            .value = {(const char *)f->nv[i].value, f->nv[i].valuelen},
        };
    }
    h1_mark_hop_by_hop(out, num);
    *out_num = num;
    return true;
}

/* parse_length reads a content-length value nghttp2 has checked; false if it is not
 * a plain decimal number. */
static bool parse_length(struct cg_str v, uint64_t *out)
{
    if (v.len == 0 || v.len > 19) {
        return false;
    }
    uint64_t n = 0;
    for (size_t i = 0; i < v.len; i++) {
        if (v.p[i] < '0' || v.p[i] > '9') {
            return false;
        }
        n = n * 10 + (uint64_t)(v.p[i] - '0');
    }
    *out = n;
    return true;
}

static void fail_now(struct h1h2 *b, int status, enum cg_reason reason)
{
    struct h1_exchange *ex = b->ex;
    h2_client_stream_cancel(b->cs, NULL);
    backend_free(b);
    h1_exchange_fail(ex, status, reason);
}

static void on_server(void *arg, const char *server)
{
    struct h1h2 *b = arg;
    b->ex->upstream = server;
    /* The request goes to a session: let the body come (and answer 100 Continue). */
    h1_exchange_request_resume(b->ex);
}

static void on_head(void *arg, int status, struct h2_fields *fields, bool end)
{
    struct h1h2 *b = arg;
    struct h1_exchange *ex = b->ex;
    ex->upstream_status = status;
    ex->upstream_us = h2_client_stream_response_us(b->cs);
    struct h1_header hs[H1_MAX_RESPONSE_HEADERS];
    size_t num = 0;
    if (!to_h1(fields, hs, H1_MAX_RESPONSE_HEADERS, &num)) {
        if (end) {
            backend_free(b);
            h1_exchange_fail(ex, 502, CG_REASON_BAD_UPSTREAM_RESPONSE);
        } else {
            fail_now(b, 502, CG_REASON_BAD_UPSTREAM_RESPONSE);
        }
        return;
    }
    struct h1_exchange_head head = {.status = status, .fields = hs, .num_fields = num};
    b->no_body = ex->head_request || status == 204 || status == 304;
    for (size_t i = 0; i < num && !b->no_body; i++) {
        if (cg_str_case_eq_cstr(hs[i].name, "content-length")) {
            b->length_known = parse_length(hs[i].value, &b->remaining);
            break;
        }
    }
    if (b->no_body) {
        head.body = H1_BODY_NONE;
    } else if (b->length_known || end) {
        b->length_known = true;
        b->remaining = end ? 0 : b->remaining;
        head.body = H1_BODY_LENGTH;
        head.content_length = b->remaining;
    } else {
        head.body = H1_BODY_CHUNKED; /* length unknown */
    }
    if (end) {
        backend_free(b);
        h1_exchange_response_head(ex, &head, true);
        h1_exchange_response_end(ex, NULL, 0);
        return;
    }
    h1_exchange_response_head(ex, &head, false);
}

static void on_data(void *arg, const uint8_t *data, size_t len)
{
    struct h1h2 *b = arg;
    struct h1_exchange *ex = b->ex;
    if (b->no_body || len == 0) {
        h2_client_stream_consumed(b->cs, len);
        return;
    }
    if (b->length_known) {
        if (len > b->remaining) {
            /* Never a byte past the length the client was told: it would read it as
             * the start of the next response. */
            fail_now(b, 502, CG_REASON_UPSTREAM_LENGTH_MISMATCH);
            return;
        }
        b->remaining -= len;
    }
    evbuffer_add(b->data, data, len);
    h1_exchange_response_body(ex, b->data, len, false);
    if (h1_exchange_response_full(ex)) {
        b->unacked += len; /* the database waits until the client drains */
        return;
    }
    h2_client_stream_consumed(b->cs, len);
}

static bool trailer_dropped(const struct h1_header *t)
{
    return t->hop_by_hop || t->name.len == 0 || t->name.p[0] == ':' ||
           cg_str_case_eq_cstr(t->name, "content-length");
}

static void on_end(void *arg, struct h2_fields *trailers)
{
    struct h1h2 *b = arg;
    struct h1_exchange *ex = b->ex;
    bool short_body = b->length_known && b->remaining > 0 && !b->no_body;
    backend_free(b);
    if (short_body) {
        h1_exchange_fail(ex, 502, CG_REASON_UPSTREAM_TRUNCATED);
        return;
    }
    struct h1_header ts[H1_MAX_RESPONSE_HEADERS];
    size_t num = 0;
    if (!to_h1(trailers, ts, H1_MAX_RESPONSE_HEADERS, &num)) {
        num = 0; /* more trailer fields than a head may have: none */
    }
    for (size_t i = 0; i < num; i++) {
        ts[i].hop_by_hop = trailer_dropped(&ts[i]);
    }
    h1_exchange_response_end(ex, ts, num);
}

static void on_fail(void *arg, int status, enum cg_reason reason)
{
    struct h1h2 *b = arg;
    struct h1_exchange *ex = b->ex;
    backend_free(b);
    h1_exchange_fail(ex, status, reason);
}

static const struct h2_client_stream_callbacks stream_cbs = {
    .read_body = read_body,
    .on_server = on_server,
    .on_head = on_head,
    .on_data = on_data,
    .on_end = on_end,
    .on_fail = on_fail,
};

/* ---- backend ops ------------------------------------------------------------------ */

static void start(struct h1_exchange *ex, const struct h1_request *req)
{
    if (ex->upgrade) {
        /* HTTP/2 has no 101 Switching Protocols (RFC 9113 §8.6). */
        h1_exchange_fail(ex, 501, CG_REASON_UPGRADE_NEEDS_HTTP1_UPSTREAM);
        return;
    }
    struct h1h2 *b = cg_xcalloc(1, sizeof(*b));
    b->ex = ex;
    b->data = evbuffer_new();
    CG_BUG_ON(b->data == NULL);
    build_fields(b, req);
    ex->backend = b;
    b->cs = h2_client_stream_new(ex->c->ws, ex->az.upstream_index, &stream_cbs, b);
    h2_client_stream_submit(b->cs, b->fwd.nv, b->fwd.num, !ex->req_end);
}

static void on_request_body(struct h1_exchange *ex)
{
    struct h1h2 *b = ex->backend;
    h2_client_stream_resume(b->cs);
}

static void on_response_drain(struct h1_exchange *ex)
{
    struct h1h2 *b = ex->backend;
    if (b->unacked > 0) {
        h2_client_stream_consumed(b->cs, b->unacked);
        b->unacked = 0;
    }
}

static void cancel(struct h1_exchange *ex)
{
    struct h1h2 *b = ex->backend;
    h2_client_stream_cancel(b->cs, NULL);
    backend_free(b);
}

const struct h1_backend_ops h1_h2_backend_ops = {
    .name = "h2",
    .start = start,
    .on_request_body = on_request_body,
    .on_response_drain = on_response_drain,
    .cancel = cancel,
};
