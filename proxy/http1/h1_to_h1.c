/* HTTP/1.1 exchange -> HTTP/1.1 upstream: the backend of the HTTP/1.1 server for
 * `protocol: "http/1.1"` upstreams (proxy/http1/h1_exchange.h).
 *
 * The request head is rewritten for the database: request line with the normalized
 * target, every field but the hop-by-hop ones (and those Connection lists), Expect
 * (the server answers 100 Continue itself) and the fields certgate owns; a Host when an
 * HTTP/1.0 client sent none; the client's own framing (Content-Length, or chunked);
 * Connection: upgrade and the Upgrade field when the client asked for one; the identity
 * headers and X-Forwarded-For / -Proto / -Host. The exchange itself is
 * proxy/http1/h1_client.c: this backend's whole state is that client (ex->backend),
 * whose callbacks get the exchange. */
#include "proxy/http1/h1_exchange.h"

#include "common/str.h"
#include "proxy/core/conn.h"
#include "proxy/core/runtime.h"
#include "proxy/http1/h1_client.h"
#include "proxy/http1/head_writer.h"

/* Bytes the fixed lines of a head can add (framing, Connection, X-Forwarded-*, ...). */
#define HEAD_FIXED_MAX 512

static void build_head(struct h1_exchange *ex, const struct h1_request *req, struct evbuffer *out)
{
    struct client_conn *c = ex->c;
    struct cg_str method = cg_str_from_cstr(ex->method);
    struct cg_str path = cg_str_from_cstr(ex->path);
    struct cg_str host = cg_str_from_cstr(ex->host);
    struct cg_str peer = cg_str_from_cstr(c->peer_ip);
    /* An HTTP/1.0 request may name no host at all; the database still gets one. */
    struct cg_str default_host = host.len > 0 ? host : conn_default_host(c, ex->az.upstream_index);
    /* Copied headers fit in the client's head (plus ": " where it had ":"); the
     * Upgrade value once more; then the injected identity headers. */
    size_t bound = 2 * req->head_len + 2 * req->num_headers + method.len + path.len + 3 * host.len +
                   default_host.len + peer.len + HEAD_FIXED_MAX;
    for (size_t i = 0; i < ex->az.num_headers; i++) {
        bound += ex->az.headers[i].name.len + ex->az.headers[i].value.len + 4;
    }
    struct head_writer w;
    hw_begin(&w, out, bound);
    hw_str(&w, method);
    HW_LIT(&w, " ");
    hw_str(&w, path);
    HW_LIT(&w, " HTTP/1.1\r\n");
    bool has_host = false;
    h1_mark_hop_by_hop(req->headers, req->num_headers);
    for (size_t i = 0; i < req->num_headers; i++) {
        const struct h1_header *hd = &req->headers[i];
        if (hd->hop_by_hop || cg_str_case_eq_cstr(hd->name, "content-length") ||
            cg_str_case_eq_cstr(hd->name, "expect") || authz_header_dropped(c, hd->name)) {
            continue;
        }
        if (cg_str_case_eq_cstr(hd->name, "host")) {
            has_host = true;
        }
        hw_header(&w, hd->name, hd->value);
    }
    if (!has_host) {
        hw_header(&w, CG_STR_LIT("Host"), default_host);
    }
    if (ex->req_framing == H1_BODY_LENGTH) {
        HW_LIT(&w, "Content-Length: ");
        hw_u64(&w, ex->req_length);
        HW_LIT(&w, "\r\n");
    } else if (ex->req_framing == H1_BODY_CHUNKED) {
        HW_LIT(&w, "Transfer-Encoding: chunked\r\n");
    }
    if (ex->upgrade) {
        for (size_t i = 0; i < req->num_headers; i++) {
            if (cg_str_case_eq_cstr(req->headers[i].name, "upgrade")) {
                HW_LIT(&w, "Connection: upgrade\r\n");
                hw_header(&w, CG_STR_LIT("Upgrade"), req->headers[i].value);
                break;
            }
        }
    }
    for (size_t i = 0; i < ex->az.num_headers; i++) {
        hw_header(&w, ex->az.headers[i].name, ex->az.headers[i].value);
    }
    hw_header(&w, CG_STR_LIT("X-Forwarded-For"), peer);
    HW_LIT(&w, "X-Forwarded-Proto: https\r\n");
    if (host.len > 0) {
        hw_header(&w, CG_STR_LIT("X-Forwarded-Host"), host);
    }
    HW_LIT(&w, "\r\n");
    hw_end(&w);
}

/* pump moves body bytes to the database while its connection has room, and asks the
 * server for more once everything went. */
static void pump(struct h1_exchange *ex)
{
    struct h1_client *cl = ex->backend;
    size_t avail = evbuffer_get_length(ex->req_body);
    if (avail > 0) {
        size_t room = h1_client_request_room(cl);
        if (room == 0) {
            return; /* not connected yet, or the database is slow: on_writable comes */
        }
        h1_client_request_body(cl, ex->req_body, avail < room ? avail : room);
        if (avail > room) {
            return;
        }
    }
    if (ex->req_end) {
        h1_client_request_end(cl); /* nothing before the head went */
        return;
    }
    if (avail > 0 || h1_client_request_room(cl) > 0) {
        h1_exchange_request_resume(ex);
    }
}

static void head_of(const struct h1_response *resp, struct h1_exchange_head *out)
{
    *out = (struct h1_exchange_head){
        .status = resp->status,
        .reason = resp->reason,
        .fields = resp->headers,
        .num_fields = resp->num_headers,
        /* Each field fits in the head it came in, plus ": " where it had ":". */
        .fields_bound = 2 * resp->head_len + 2 * resp->num_headers,
        .body = resp->body,
        .content_length = resp->content_length,
    };
}

static bool write_head(void *arg, struct evbuffer *out)
{
    struct h1_exchange *ex = arg;
    /* Shared, not moved: the head stays for a retry on a stale pooled connection (a
     * reference to the kept bytes costs less than a copy). */
    evbuffer_add_buffer_reference(out, h1_client_head(ex->backend));
    ex->upstream = h1_client_server(ex->backend);
    return ex->req_framing == H1_BODY_CHUNKED;
}

static void on_writable(void *arg)
{
    pump(arg);
}

static void on_interim(void *arg, const struct h1_response *resp)
{
    struct h1_exchange_head head;
    head_of(resp, &head);
    h1_exchange_response_interim(arg, &head);
}

static void on_head(void *arg, const struct h1_response *resp, bool end)
{
    struct h1_exchange *ex = arg;
    ex->upstream_status = resp->status;
    ex->upstream_us = h1_client_response_us(ex->backend);
    struct h1_exchange_head head;
    head_of(resp, &head);
    if (end) {
        h1_exchange_response_head(ex, &head, false);
        h1_exchange_response_end(ex, NULL, 0);
        return;
    }
    /* The head goes out with the first body bytes (on_body follows). */
    h1_exchange_response_head(ex, &head, true);
}

static void on_upgrade(void *arg, const struct h1_response *resp)
{
    struct h1_exchange *ex = arg;
    ex->upstream_status = resp->status;
    ex->upstream_us = h1_client_response_us(ex->backend);
    struct h1_exchange_head head;
    head_of(resp, &head);
    h1_exchange_upgrade(arg, &head);
}

static void on_body(void *arg, struct evbuffer *src, size_t n, bool last)
{
    struct h1_exchange *ex = arg;
    h1_exchange_response_body(ex, src, n, last);
    if (last) {
        h1_exchange_response_end(ex, NULL, 0);
        return;
    }
    if (h1_exchange_response_full(ex)) {
        /* Back-pressure: a slow client stops us reading the database. */
        h1_client_pause_read(ex->backend);
    }
}

static void on_error(void *arg, int status, enum cg_reason reason)
{
    struct h1_exchange *ex = arg;
    ex->upstream = h1_client_server(ex->backend);
    h1_exchange_fail(ex, status, reason);
}

static const struct h1_client_callbacks client_cbs = {
    .write_head = write_head,
    .on_writable = on_writable,
    .on_interim = on_interim,
    .on_head = on_head,
    .on_upgrade = on_upgrade,
    .on_body = on_body,
    .on_error = on_error,
};

static void start(struct h1_exchange *ex, const struct h1_request *req)
{
    struct h1_client *cl = h1_client_new(ex->c->ws, &client_cbs, ex);
    ex->backend = cl;
    build_head(ex, req, h1_client_head(cl));
    struct h1_client_request r = {
        .upstream_index = ex->az.upstream_index,
        .method = cg_str_from_cstr(ex->method),
        .upgrade = ex->upgrade,
    };
    h1_client_start(cl, &r);
}

static void on_request_body(struct h1_exchange *ex)
{
    pump(ex);
}

static void on_response_drain(struct h1_exchange *ex)
{
    h1_client_resume_read(ex->backend);
}

static void cancel(struct h1_exchange *ex)
{
    h1_client_free(ex->backend);
}

const struct h1_backend_ops h1_h1_backend_ops = {
    .name = "http/1.1",
    .start = start,
    .on_request_body = on_request_body,
    .on_response_drain = on_response_drain,
    .cancel = cancel,
};
