#include "proxy/http1/h1_server.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bug.h"
#include "common/log.h"
#include "common/mem.h"
#include "proxy/core/authz.h"
#include "proxy/core/conn.h"
#include "proxy/core/request_log.h"
#include "proxy/core/runtime.h"
#include "proxy/core/worker.h"
#include "proxy/http1/h1_body.h"
#include "proxy/http1/h1_parse.h"
#include "proxy/http1/h1_server_internal.h"

/* How long a drain leaves an idle keep-alive connection open for its client's next
 * request (h1_begin_drain): longer than a client's pause between two requests of a
 * sequence, short enough not to hold a drain up. */
#define H1_DRAIN_IDLE_MS 1000

static const char *state_str(enum h1_state s)
{
    static const char *const names[] = {"idle", "reading_head", "forwarding", "tunnel", "closing"};
    return names[s];
}

/* struct h1_worker is what HTTP/1.1 keeps per worker (h1_worker_module): spare
 * exchanges and the header array parsing fills, used by one head at a time. */
struct h1_worker {
    struct h1_exchange *spares;    /* unused exchanges, linked by next_free */
    size_t num_spares;             /* at most WORKER_MAX_SPARES */
    struct h1_header *req_headers; /* limits.max_headers entries */
    size_t req_headers_cap;
};

static void on_next(evutil_socket_t fd, short what, void *arg);
static void parse_head(struct h1_server *h);

struct evbuffer *h1_server_out(const struct h1_server *h)
{
    struct evbuffer *out = h->c->w->scratch.out;
    /* Bytes left over would go to whichever connection writes next. */
    CG_BUG_ON(evbuffer_get_length(out) != 0);
    return out;
}

/* ---- exchanges and the worker's spares ------------------------------------------ */

static struct h1_exchange *exchange_new(struct event_base *base)
{
    struct h1_exchange *ex = cg_xcalloc(1, sizeof(*ex));
    ex->req_body = evbuffer_new();
    ex->ev_next = event_new(base, -1, 0, on_next, ex);
    CG_BUG_ON(ex->req_body == NULL || ex->ev_next == NULL);
    ex->path = ex->path_inline;
    ex->path_cap = sizeof(ex->path_inline);
    ex->upstream = "";
    return ex;
}

static void exchange_free(struct h1_exchange *ex)
{
    event_free(ex->ev_next);
    evbuffer_free(ex->req_body);
    if (ex->path != ex->path_inline) {
        free(ex->path);
    }
    free(ex);
}

/* exchange_reset forgets the request and response of |ex|, which has no backend and
 * no pending event, and keeps its owner, buffer and event. */
static void exchange_reset(struct h1_exchange *ex)
{
    CG_BUG_ON(ex->ops != NULL);
    if (ex->path != ex->path_inline) {
        free(ex->path);
    }
    evbuffer_drain(ex->req_body, evbuffer_get_length(ex->req_body));
    struct h1_exchange keep = {
        .h = ex->h,
        .c = ex->c,
        .next_free = ex->next_free,
        .ev_next = ex->ev_next,
        .req_body = ex->req_body,
        .upstream = "",
    };
    *ex = keep;
    ex->path = ex->path_inline;
    ex->path_cap = sizeof(ex->path_inline);
}

/* exchange_attach starts an exchange on |h| (idle or reading a head) now: the one
 * kept for a pipelined request, else a spare of the worker, else a new one. */
static struct h1_exchange *exchange_attach(struct h1_server *h)
{
    assert(h->state == H1_IDLE || h->state == H1_READING_HEAD);
    struct h1_exchange *ex = h->ex;
    if (ex == NULL) {
        struct h1_worker *hw = h->hw;
        ex = hw->spares;
        if (ex != NULL) {
            hw->spares = ex->next_free;
            hw->num_spares--;
            ex->next_free = NULL;
        } else {
            ex = exchange_new(h->c->w->base);
        }
        ex->h = h;
        ex->c = h->c;
        h->ex = ex;
    }
    ex->start_us = conn_now_us(h->c);
    return ex;
}

/* cancel_backend detaches the backend of |h|'s exchange, if one is attached. */
static void cancel_backend(struct h1_server *h)
{
    struct h1_exchange *ex = h->ex;
    if (ex != NULL && ex->ops != NULL) {
        const struct h1_backend_ops *ops = ex->ops;
        ops->cancel(ex);
        ex->ops = NULL;
        ex->backend = NULL;
    }
}

/* exchange_detach ends |h|'s exchange, if any: its backend is cancelled (a finished
 * exchange has none), its event stops, and it becomes a spare of the worker, or is
 * freed when the worker has enough. */
static void exchange_detach(struct h1_server *h)
{
    struct h1_exchange *ex = h->ex;
    if (ex == NULL) {
        return;
    }
    cancel_backend(h);
    h->ex = NULL;
    event_del(ex->ev_next);
    struct h1_worker *hw = h->hw;
    if (hw->num_spares >= WORKER_MAX_SPARES) {
        exchange_free(ex);
        return;
    }
    exchange_reset(ex);
    ex->h = NULL;
    ex->c = NULL;
    ex->next_free = hw->spares;
    hw->spares = ex;
    hw->num_spares++;
}

static void *worker_init(struct worker_snapshot *ws)
{
    struct h1_worker *hw = cg_xcalloc(1, sizeof(*hw));
    hw->req_headers_cap = ws->snap->cfg->limits.max_headers;
    hw->req_headers = cg_xcalloc(hw->req_headers_cap, sizeof(*hw->req_headers));
    return hw;
}

/* worker_trim frees the spare exchanges. */
static void worker_trim(struct worker_snapshot *ws, void *state)
{
    struct h1_worker *hw = state;
    while (hw->spares != NULL) {
        struct h1_exchange *ex = hw->spares;
        hw->spares = ex->next_free;
        exchange_free(ex);
    }
    hw->num_spares = 0;
}

static void worker_cleanup(struct worker_snapshot *ws, void *state)
{
    struct h1_worker *hw = state;
    worker_trim(ws, hw);
    free(hw->req_headers);
    free(hw);
}

const struct worker_module h1_worker_module = {
    .name = "http/1.1",
    .init = worker_init,
    .trim = worker_trim,
    .cleanup = worker_cleanup,
};

/* ---- access log ---------------------------------------------------------------- */

void h1_server_log(struct h1_server *h)
{
    struct h1_exchange *ex = h->ex;
    struct request_log_fields f = {
        .request_id = ex->request_id,
        .alpn = "http/1.1",
        .method = ex->method,
        .authority = ex->host,
        .path = ex->path,
        .status = ex->status,
        .reason = ex->reason,
        .detail = ex->detail,
        .az = ex->decided ? &ex->az : NULL,
        .upstream = ex->upstream,
        .upstream_status = ex->upstream_status,
        .upstream_us = ex->upstream_us,
        .user_agent = ex->user_agent,
        .bytes_in = ex->bytes_in,
        .bytes_out = ex->bytes_out,
        .duration_us = conn_now_us(h->c) - ex->start_us,
        .grpc_status = -1,
    };
    request_log_write(h->c, &f);
}

/* ---- answers certgate gives itself --------------------------------------------- */

static void make_request_id(struct h1_server *h)
{
    worker_request_id(h->c->w, h->ex->request_id);
}

/* drain_head drops the current request's head from the client's input once the
 * backend had its chance to read it (ops->start). */
static void drain_head(struct h1_server *h)
{
    struct h1_exchange *ex = h->ex;
    if (ex != NULL && ex->head_len > 0) {
        evbuffer_drain(tls_conn_input(&h->c->tls), ex->head_len);
        ex->head_len = 0;
    }
}

void h1_server_send_error(struct h1_server *h, int status, enum cg_reason reason, bool close)
{
    struct h1_exchange *ex = h->ex;
    CG_BUG_ON(ex == NULL || ex->resp_head_done);
    cancel_backend(h);
    drain_head(h);
    if (ex->request_id[0] == '\0') {
        make_request_id(h);
    }
    ex->status = status;
    ex->reason = reason;
    if (!ex->req_end || h->state == H1_READING_HEAD || h->state == H1_IDLE) {
        close = true;
    }
    close = close || ex->client_close;
    char body[H1_ERROR_BODY_SIZE];
    size_t body_len = h1_error_body(body, status, cg_reason_str(reason), ex->request_id);
    struct evbuffer *out = h1_server_out(h);
    evbuffer_add_printf(out,
                        "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                        "Content-Length: %zu\r\nCache-Control: no-store\r\n%s\r\n",
                        status, h1_status_text(status), body_len,
                        close ? "Connection: close\r\n" : "");
    if (!ex->head_request) {
        evbuffer_add(out, body, body_len);
    }
    tls_conn_write(&h->c->tls, out);
    ex->resp_head_done = true;
    ex->resp_done = true;
    ex->client_close = close;
    CG_LOG_DEBUG("w%uc%" PRIu64 ": %d %s (%s)", h->c->w->id, h->c->id, status, cg_reason_str(reason),
                 state_str(h->state));
    h1_server_finish(h);
}

/* ---- request head --------------------------------------------------------------- */

/* parse_error_reason names a head the parser refused with |status|; its exact words go
 * to the access log as the detail. */
static enum cg_reason parse_error_reason(int status)
{
    switch (status) {
    case 414:
        return CG_REASON_REQUEST_LINE_TOO_LONG;
    case 417:
        return CG_REASON_UNSUPPORTED_EXPECTATION;
    case 431:
        return CG_REASON_HEADER_FIELDS_TOO_LARGE;
    case 505:
        return CG_REASON_HTTP_VERSION_NOT_SUPPORTED;
    default:
        return CG_REASON_MALFORMED_REQUEST;
    }
}

static void copy_slice(char *dst, size_t cap, struct cg_str s)
{
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    if (n > 0) { /* an absent field is {NULL, 0}: memcpy must not see NULL */
        memcpy(dst, s.p, n);
    }
    dst[n] = '\0';
}

/* set_path stores |path| (+ "?" + |query| when query is not NULL) as the request's
 * target, inline when it fits. */
static void set_path(struct h1_exchange *ex, const char *path, size_t path_len, const char *query,
                     size_t query_len)
{
    size_t need = path_len + (query ? 1 + query_len : 0) + 1;
    if (need > ex->path_cap) {
        if (ex->path != ex->path_inline) {
            free(ex->path);
        }
        ex->path = cg_xmalloc(need);
        ex->path_cap = need;
    }
    char *p = ex->path;
    if (path_len > 0) { /* an authority-form target (CONNECT) has no path: NULL */
        memcpy(p, path, path_len);
        p += path_len;
    }
    if (query != NULL) {
        *p++ = '?';
        memcpy(p, query, query_len);
        p += query_len;
    }
    *p = '\0';
}

static void pump_request_body(struct h1_server *h);

static void process_request(struct h1_server *h, const struct h1_request *req)
{
    const struct config *cfg = h1_server_cfg(h);
    conn_set_timer(h->c, 0);
    h->requests++;
    struct h1_exchange *ex = exchange_attach(h);
    make_request_id(h);
    copy_slice(ex->method, sizeof(ex->method), req->method);
    set_path(ex, req->path.p, req->path.len, NULL, 0);
    struct cg_str authority = req->host.len > 0 ? req->host : req->authority;
    copy_slice(ex->host, sizeof(ex->host), authority);
    if (req->user_agent.len > 0) {
        copy_slice(ex->user_agent, sizeof(ex->user_agent), req->user_agent);
    }
    ex->minor = req->minor_version;
    ex->head_request = cg_str_eq(req->method, CG_STR_LIT("HEAD"));
    ex->client_close =
        h->c->w->draining || (req->minor_version == 1 ? (req->flags & H1_F_CONN_CLOSE) != 0
                                                      : (req->flags & H1_F_CONN_KEEPALIVE) == 0);
    ex->expect_continue = (req->flags & H1_F_EXPECT_CONTINUE) != 0;
    ex->upgrade = (req->flags & H1_F_HAS_UPGRADE) && (req->flags & H1_F_CONN_UPGRADE);
    ex->req_framing = req->body;
    ex->req_length = req->body == H1_BODY_LENGTH ? req->content_length : 0;
    ex->req_remaining = ex->req_length;
    ex->req_end =
        req->body == H1_BODY_NONE || (req->body == H1_BODY_LENGTH && req->content_length == 0);
    /* The slices of |req| point into the input until the backend has started. */
    ex->head_len = req->head_len;
    h->state = H1_FORWARDING;

    if (req->method.len > H1_EXCHANGE_MAX_METHOD || authority.len > H1_EXCHANGE_MAX_HOST) {
        h1_server_send_error(h, 400, CG_REASON_REQUEST_TOO_UNUSUAL, true);
        return;
    }
    if (cg_str_eq(req->method, CG_STR_LIT("CONNECT")) || req->path.len == 0 ||
        (req->path.p[0] != '/' && !cg_str_eq(req->path, CG_STR_LIT("*")))) {
        h1_server_send_error(h, 405, CG_REASON_METHOD_NOT_ALLOWED, true);
        return;
    }
    if (cfg->limits.max_body > 0 && req->body == H1_BODY_LENGTH &&
        req->content_length > cfg->limits.max_body) {
        h1_server_send_error(h, 413, CG_REASON_BODY_TOO_LARGE, true);
        return;
    }
    /* Authorize against the policy current now; forward exactly what was authorized. */
    authz_decide(h->c, req->method, authority, req->path, &ex->az);
    ex->decided = true;
    if (!ex->az.allow) {
        /* A target that cannot be normalized is a malformed request: close after it. */
        h1_server_send_error(h, ex->az.status, ex->az.reason, ex->az.status == 400);
        return;
    }
    set_path(ex, ex->az.path.p, ex->az.path.len, ex->az.has_query ? ex->az.query.p : NULL,
             ex->az.query.len);
    CG_LOG_DEBUG("w%uc%" PRIu64 ": %s %s (request %u)", h->c->w->id, h->c->id, ex->method, ex->path,
                 h->requests);
    ex->ops = h->backends->by_upstream[cfg->upstreams[ex->az.upstream_index].protocol];
    ex->ops->start(ex, req);
    if (h->ex != ex || h->state != H1_FORWARDING || h->c->closing) {
        return; /* answered from inside start */
    }
    drain_head(h);
    if (!ex->req_end) {
        pump_request_body(h);
    } else if (evbuffer_get_length(tls_conn_input(&h->c->tls)) > 0) {
        tls_conn_pause_read(&h->c->tls); /* a pipelined request waits for this response */
    }
}

static void parse_head(struct h1_server *h)
{
    struct evbuffer *in = tls_conn_input(&h->c->tls);
    size_t len = evbuffer_get_length(in);
    if (len == 0) {
        return;
    }
    const struct config_limits *lim = &h1_server_cfg(h)->limits;
    if (h->state == H1_IDLE) {
        h->state = H1_READING_HEAD;
        conn_set_timer(h->c, h1_server_cfg(h)->timeouts.request_header);
    }
    struct h1_limits limits = {
        .max_request_line = lim->max_request_line,
        .max_head = lim->max_header_bytes,
        .max_headers = lim->max_headers,
    };
    /* One byte past the limit lets the parser tell "too large" from "incomplete". */
    size_t n = len < lim->max_header_bytes + 1 ? len : lim->max_header_bytes + 1;
    const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
    struct h1_request req;
    enum h1_parse_result r =
        h1_parse_request(p, n, &limits, h->hw->req_headers, h->hw->req_headers_cap, &req);
    if (r == H1_PARSE_INCOMPLETE) {
        return;
    }
    if (r == H1_PARSE_ERROR) {
        exchange_attach(h);
        CG_LOG_DEBUG("w%uc%" PRIu64 ": bad request: %s", h->c->w->id, h->c->id,
                     req.error_reason ? req.error_reason : "?");
        tls_conn_pause_read(&h->c->tls);
        evbuffer_drain(in, len);
        int status = req.error_status ? req.error_status : 400;
        h->ex->detail = req.error_reason; /* the parser's static words, for the log */
        h1_server_send_error(h, status, parse_error_reason(status), true);
        return;
    }
    process_request(h, &req);
}

/* ---- request body --------------------------------------------------------------- */

/* body_error ends an exchange whose request body cannot go on. */
static void body_error(struct h1_server *h, int status, enum cg_reason reason)
{
    cancel_backend(h);
    if (!h->ex->resp_head_done) {
        h1_server_send_error(h, status, reason, true);
        return;
    }
    h->ex->reason = reason;
    h1_server_log(h);
    conn_abort(h->c);
}

/* pump_tunnel hands what the client sent through an upgraded connection to the
 * backend, unframed. */
static void pump_tunnel(struct h1_server *h)
{
    struct h1_exchange *ex = h->ex;
    struct evbuffer *in = tls_conn_input(&h->c->tls);
    if (ex->ops == NULL || h->c->closing || evbuffer_get_length(in) == 0) {
        return;
    }
    evbuffer_add_buffer(ex->req_body, in);
    ex->ops->on_request_body(ex);
    if (h->state == H1_TUNNEL && !h->c->closing &&
        evbuffer_get_length(ex->req_body) >= h1_server_cfg(h)->limits.buffer_high_water) {
        tls_conn_pause_read(&h->c->tls);
    }
}

/* pump_request_body takes the framing off what the client sent of the body, for the
 * backend, while the backend wants it. */
static void pump_request_body(struct h1_server *h)
{
    struct h1_exchange *ex = h->ex;
    if (h->state == H1_TUNNEL) {
        pump_tunnel(h);
        return;
    }
    if (h->state != H1_FORWARDING || ex->ops == NULL || h->c->closing) {
        return;
    }
    struct evbuffer *in = tls_conn_input(&h->c->tls);
    if (ex->req_end || !ex->req_wanted) {
        /* A pipelined request waits for this response; a body waits for the backend. */
        if (evbuffer_get_length(in) > 0) {
            tls_conn_pause_read(&h->c->tls);
        }
        return;
    }
    const struct config *cfg = h1_server_cfg(h);
    uint64_t before = ex->bytes_in;
    if (ex->req_framing == H1_BODY_LENGTH) {
        size_t avail = evbuffer_get_length(in);
        size_t n = avail < ex->req_remaining ? avail : (size_t)ex->req_remaining;
        if (n > 0) {
            evbuffer_remove_buffer(in, ex->req_body, n);
            ex->req_remaining -= n;
            ex->bytes_in += n;
        }
        ex->req_end = ex->req_remaining == 0;
    } else {
        int r = h1_body_move_chunked(&ex->req_chunk, in, ex->req_body, &ex->bytes_in);
        if (r < 0) {
            body_error(h, 400, CG_REASON_BAD_CHUNKED_BODY);
            return;
        }
        ex->req_end = r == 1;
    }
    if (cfg->limits.max_body > 0 && ex->bytes_in > cfg->limits.max_body) {
        body_error(h, 413, CG_REASON_BODY_TOO_LARGE);
        return;
    }
    if (!ex->req_end && ex->bytes_in == before) {
        return;
    }
    conn_set_timer(h->c, ex->req_end ? 0 : cfg->timeouts.client_body_idle);
    ex->ops->on_request_body(ex);
    if (h->ex != ex || h->state != H1_FORWARDING || h->c->closing) {
        return;
    }
    /* Back-pressure: stop decrypting while the backend is slow to take the body; after
     * the body, the next pipelined request waits. */
    if ((!ex->req_end && evbuffer_get_length(ex->req_body) >= cfg->limits.buffer_high_water) ||
        (ex->req_end && evbuffer_get_length(in) > 0)) {
        tls_conn_pause_read(&h->c->tls);
    }
}

void h1_server_input_later(struct h1_server *h)
{
    if (!h->in_input && evbuffer_get_length(tls_conn_input(&h->c->tls)) > 0) {
        event_active(h->ex->ev_next, EV_TIMEOUT, 0);
    }
}

/* ---- end of an exchange, keep-alive, pipelining ------------------------------- */

/* on_next goes on with the client's input from the loop: the body of the exchange in
 * progress, or a pipelined request after the last one finished. */
static void on_next(evutil_socket_t fd, short what, void *arg)
{
    struct h1_exchange *ex = arg;
    struct h1_server *h = ex->h;
    h->in_input = true;
    if (h->state == H1_FORWARDING || h->state == H1_TUNNEL) {
        pump_request_body(h);
    } else if (h->state == H1_IDLE || h->state == H1_READING_HEAD) {
        /* Complete or not, the head waits without an exchange, as on an idle
         * connection; a complete one takes |ex| straight back from the spares. */
        exchange_detach(h);
        if (h->state == H1_IDLE && !h->c->closing) {
            parse_head(h);
        }
    }
    h->in_input = false;
}

void h1_server_finish(struct h1_server *h)
{
    struct h1_exchange *ex = h->ex;
    CG_BUG_ON(!ex->resp_done || ex->ops != NULL);
    drain_head(h);
    if (!ex->req_end && h->state != H1_CLOSING) {
        /* Response complete while the client is still sending: close after it. */
        ex->client_close = true;
    }
    h1_server_log(h);
    if (ex->client_close || h->c->w->draining) {
        h->state = H1_CLOSING;
        exchange_detach(h);
        conn_close(h->c);
        return;
    }
    h->state = H1_IDLE;
    conn_set_timer(h->c, h1_server_cfg(h)->timeouts.keepalive_idle);
    tls_conn_resume_read(&h->c->tls);
    if (evbuffer_get_length(tls_conn_input(&h->c->tls)) > 0) {
        /* A pipelined request may already be buffered: parse it from the loop, not
         * from inside the callback that finished this one. The exchange stays for the
         * hop: its event carries it. */
        exchange_reset(ex);
        event_active(ex->ev_next, EV_TIMEOUT, 0);
        return;
    }
    exchange_detach(h);
}

/* ---- public entry points -------------------------------------------------------- */

static void *h1_attach(struct client_conn *c, const void *arg)
{
    struct h1_server *h = cg_xcalloc(1, sizeof(*h));
    h->c = c;
    h->hw = worker_module_state(c->ws, &h1_worker_module);
    h->backends = arg;
    h->state = H1_IDLE;
    /* The first request must arrive within the request-header timeout. */
    conn_set_timer(c, h1_server_cfg(h)->timeouts.request_header);
    if (evbuffer_get_length(tls_conn_input(&c->tls)) > 0) {
        h->in_input = true;
        parse_head(h);
        h->in_input = false;
    }
    return h;
}

static void h1_detach(void *state)
{
    struct h1_server *h = state;
    exchange_detach(h);
    free(h);
}

static void h1_on_read(void *state)
{
    struct h1_server *h = state;
    h->in_input = true;
    switch (h->state) {
    case H1_IDLE:
    case H1_READING_HEAD:
        parse_head(h);
        break;
    case H1_FORWARDING:
    case H1_TUNNEL:
        pump_request_body(h);
        break;
    case H1_CLOSING:
        evbuffer_drain(tls_conn_input(&h->c->tls), evbuffer_get_length(tls_conn_input(&h->c->tls)));
        break;
    }
    h->in_input = false;
}

static void h1_on_drain(void *state)
{
    struct h1_server *h = state;
    struct h1_exchange *ex = h->ex;
    if ((h->state == H1_FORWARDING || h->state == H1_TUNNEL) && ex->ops != NULL) {
        ex->ops->on_response_drain(ex);
    }
}

static void h1_on_timer(void *state)
{
    struct h1_server *h = state;
    switch (h->state) {
    case H1_IDLE:
        if (h->requests == 0) {
            exchange_attach(h);
            h1_server_send_error(h, 408, CG_REASON_REQUEST_HEADER_TIMEOUT, true);
        } else {
            conn_close(h->c);
        }
        break;
    case H1_READING_HEAD:
        exchange_attach(h);
        h1_server_send_error(h, 408, CG_REASON_REQUEST_HEADER_TIMEOUT, true);
        break;
    case H1_FORWARDING:
        if (!h->ex->resp_head_done) {
            h1_server_send_error(h, 408, CG_REASON_CLIENT_BODY_TIMEOUT, true);
        } else {
            body_error(h, 408, CG_REASON_CLIENT_BODY_TIMEOUT);
        }
        break;
    case H1_TUNNEL:
    case H1_CLOSING:
        conn_abort(h->c);
        break;
    }
}

static void h1_on_peer_closed(void *state)
{
    struct h1_server *h = state;
    if (h->c->closing) {
        return; /* what we closed needs no more work */
    }
    if (h->state == H1_FORWARDING) {
        h->ex->reason = CG_REASON_CLIENT_CLOSED;
        if (h->ex->status == 0) {
            h->ex->status = 499; /* nginx's convention: the client went away first */
        }
        h1_server_log(h);
    }
    cancel_backend(h);
}

static void h1_begin_drain(void *state)
{
    struct h1_server *h = state;
    if (h->state == H1_IDLE) {
        /* Closing an idle connection races with the request its client may be sending
         * right now, which would be lost. A client that goes on gets its next answer
         * with Connection: close; one that stays quiet for H1_DRAIN_IDLE_MS is closed
         * (as keep-alive expiry would, with the same race, later). */
        conn_set_timer(h->c, H1_DRAIN_IDLE_MS);
        return;
    }
    /* Busy: the response in flight carries Connection: close (if not sent yet). A head
     * still arriving gets it from process_request, which sees the worker draining. */
    if (h->ex != NULL) {
        h->ex->client_close = true;
    }
}

const struct conn_protocol h1_protocol = {
    .name = "http/1.1",
    .metrics_protocol = METRICS_PROTOCOL_HTTP11,
    .attach = h1_attach,
    .detach = h1_detach,
    .on_read = h1_on_read,
    .on_drain = h1_on_drain,
    .on_timer = h1_on_timer,
    .on_peer_closed = h1_on_peer_closed,
    .begin_drain = h1_begin_drain,
};
