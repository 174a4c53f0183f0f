#include "proxy/http1/h1_server.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/bug.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "proxy/core/authz.h"
#include "proxy/core/conn.h"
#include "proxy/core/request_log.h"
#include "proxy/core/runtime.h"
#include "proxy/core/worker.h"
#include "proxy/http1/h1_body.h"
#include "proxy/http1/h1_parse.h"
#include "proxy/http1/head_writer.h"
#include "proxy/upstream/upstream_pool.h"

/* Response heads from our own upstream get more room than client requests. */
#define MAX_RESPONSE_HEAD (64 * 1024)
/* How long a drain leaves an idle keep-alive connection open for its client's next
 * request (h1_begin_drain): longer than a client's pause between two requests of a
 * sequence, short enough not to hold a drain up. */
#define H1_DRAIN_IDLE_MS 1000
/* Paths up to this length live inside struct h1_exchange; longer ones get the heap. */
#define PATH_INLINE 240
#define MAX_METHOD 32
#define MAX_HOST 256

/* Where one connection is in its request/response cycle. A connection holds an
 * exchange (h->ex) from the moment a request head is complete, or an error must be
 * answered, until its response ends; in the first two states it holds none, except
 * for the hop to the event loop before a pipelined request is parsed (on_next). */
enum h1_state {
    H1_IDLE = 0,     /* between requests: waiting for the first byte (keep-alive timer) */
    H1_READING_HEAD, /* part of a request head has arrived (request_header timer) */
    H1_CONNECTING,   /* request accepted, waiting for an upstream connection */
    H1_FORWARDING,   /* request head sent upstream; bodies stream both ways */
    H1_TUNNEL,       /* after 101 Switching Protocols: opaque bytes both ways */
    H1_CLOSING,      /* a final answer is queued; the connection closes after it */
};

static const char *state_str(enum h1_state s)
{
    static const char *const names[] = {"idle",       "reading_head", "connecting",
                                        "forwarding", "tunnel",       "closing"};
    return names[s];
}

/* struct h1_exchange is one request and its response. It is about 1.5 KiB plus an
 * evbuffer and two events, so it is not part of the connection: exchanges are
 * recycled through the worker's spare list (worker.h), which keeps idle keep-alive
 * connections small and spares a busy worker a malloc and three libevent allocations
 * per request. exchange_reset turns a used one back into the all-zero request state
 * and keeps what it owns. */
struct h1_exchange {
    struct h1_server *h;           /* owner while attached; NULL when spare */
    struct h1_exchange *next_free; /* link in the worker's spare list */
    struct evbuffer *head_out;     /* request head for the upstream, kept for a retry */
    struct event *ev_up_timer;     /* upstream response / idle deadline */
    struct event *ev_next;         /* parses a pipelined request from the loop */

    /* The request (copied out of the receive buffer). */
    char method[MAX_METHOD + 1];
    char host[MAX_HOST + 1];
    char *path; /* path_inline, or the heap when longer */
    size_t path_cap;
    char path_inline[PATH_INLINE];
    char request_id[WORKER_REQUEST_ID_SIZE];
    int minor; /* client's HTTP minor version */
    bool head_request;
    bool client_close; /* close after this response */
    bool expect_continue;
    bool upgrade; /* the client asked for an Upgrade */
    enum h1_body_kind req_body;
    uint64_t req_remaining;
    struct h1_chunked req_chunk;
    bool req_done;     /* the whole request body went upstream */
    uint64_t bytes_in; /* request body bytes */
    uint64_t start_us; /* monotonic, when exchange_attach started the request */

    /* The upstream side. */
    struct upstream_conn *uc;
    bool uc_reused;
    unsigned attempts;           /* connection attempts for this request */
    const char *upstream_server; /* "ip:port" of the server (config lifetime), or "" */

    /* The response. */
    bool resp_head_done;
    int status;
    enum h1_body_kind resp_body;
    uint64_t resp_remaining;
    struct h1_chunked resp_chunk;
    bool resp_chunked_out; /* we chunk-encode towards the client */
    bool upstream_keepalive;
    bool resp_done;
    uint64_t bytes_out; /* response body bytes */
    const char *reason; /* why we answered ourselves / closed, for the log */
    bool decided;       /* |az| holds this request's decision */
    struct authz_result az;
};

/* struct h1_server is what an HTTP/1.1 connection keeps for its whole life, idle
 * between requests included: everything per request is in |ex|. */
struct h1_server {
    struct client_conn *c;
    struct h1_worker *hw;   /* this worker's HTTP/1.1 state */
    struct h1_exchange *ex; /* the exchange in progress, or NULL (see enum h1_state) */
    enum h1_state state;
    unsigned requests; /* requests started on this connection */
};

/* struct h1_worker is what HTTP/1.1 keeps per worker (h1_worker_module): spare
 * exchanges and the header arrays parsing fills, used by one head at a time. */
struct h1_worker {
    struct h1_exchange *spares;    /* unused exchanges, linked by next_free */
    size_t num_spares;             /* at most WORKER_MAX_SPARES */
    struct h1_header *req_headers; /* limits.max_headers entries */
    size_t req_headers_cap;
    struct h1_header resp_headers[H1_MAX_RESPONSE_HEADERS];
};

static void on_up_connected(void *arg);
static void on_up_read(void *arg);
static void on_up_drain(void *arg);
static void on_up_close(void *arg, enum upstream_end end);
static void on_up_timer(evutil_socket_t fd, short what, void *arg);
static void on_next(evutil_socket_t fd, short what, void *arg);

static const struct upstream_callbacks up_cbs = {
    .on_connected = on_up_connected,
    .on_read = on_up_read,
    .on_drain = on_up_drain,
    .on_close = on_up_close,
};

static void parse_head(struct h1_server *h);
static void finish_exchange(struct h1_server *h);

/* The configuration never changes under a running worker (reloads replace policies,
 * not struct config), so connections look it up instead of keeping a pointer. */
static const struct config *cfg_of(const struct h1_server *h)
{
    return h->c->w->rt->cfg;
}

/* out_buf returns the worker's scratch evbuffer for plaintext on its way to
 * tls_conn_write, which drains it: every user fills and writes it within one call. */
static struct evbuffer *out_buf(const struct h1_server *h)
{
    struct evbuffer *out = h->c->w->scratch.out;
    /* Bytes left over would go to whichever connection writes next. */
    CG_BUG_ON(evbuffer_get_length(out) != 0);
    return out;
}

static void set_up_timer(struct h1_exchange *ex, uint64_t ms)
{
    if (ms == 0) {
        evtimer_del(ex->ev_up_timer);
        return;
    }
    struct timeval tv = cg_timeval_ms(ms);
    evtimer_add(ex->ev_up_timer, &tv);
}

/* ---- exchanges and the worker's spares ------------------------------------------ */

static struct h1_exchange *exchange_new(struct event_base *base)
{
    struct h1_exchange *ex = cg_xcalloc(1, sizeof(*ex));
    ex->head_out = evbuffer_new();
    ex->ev_up_timer = evtimer_new(base, on_up_timer, ex);
    ex->ev_next = event_new(base, -1, 0, on_next, ex);
    CG_BUG_ON(ex->head_out == NULL || ex->ev_up_timer == NULL || ex->ev_next == NULL);
    ex->path = ex->path_inline;
    ex->path_cap = sizeof(ex->path_inline);
    ex->upstream_server = "";
    return ex;
}

static void exchange_free(struct h1_exchange *ex)
{
    event_free(ex->ev_up_timer);
    event_free(ex->ev_next);
    evbuffer_free(ex->head_out);
    if (ex->path != ex->path_inline) {
        free(ex->path);
    }
    free(ex);
}

/* exchange_reset forgets the request and response of |ex|, which holds no upstream
 * connection and no pending event, and keeps its owner, buffers and events. */
static void exchange_reset(struct h1_exchange *ex)
{
    CG_BUG_ON(ex->uc != NULL);
    if (ex->path != ex->path_inline) {
        free(ex->path);
    }
    /* The head was kept for a retry; the next request builds its own. */
    evbuffer_drain(ex->head_out, evbuffer_get_length(ex->head_out));
    struct h1_exchange keep = {
        .h = ex->h,
        .next_free = ex->next_free,
        .head_out = ex->head_out,
        .ev_up_timer = ex->ev_up_timer,
        .ev_next = ex->ev_next,
        .upstream_server = "",
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
        h->ex = ex;
    }
    ex->start_us = conn_now_us(h->c);
    return ex;
}

/* exchange_detach ends |h|'s exchange, if any: its upstream connection is closed
 * (finish_exchange has already released a complete one), its timers stop, and it
 * becomes a spare of the worker, or is freed when the worker has enough. */
static void exchange_detach(struct h1_server *h)
{
    struct h1_exchange *ex = h->ex;
    if (ex == NULL) {
        return;
    }
    h->ex = NULL;
    if (ex->uc != NULL) {
        upstream_release(ex->uc, false);
        ex->uc = NULL;
    }
    event_del(ex->ev_up_timer);
    event_del(ex->ev_next);
    struct h1_worker *hw = h->hw;
    if (hw->num_spares >= WORKER_MAX_SPARES) {
        exchange_free(ex);
        return;
    }
    exchange_reset(ex);
    ex->h = NULL;
    ex->next_free = hw->spares;
    hw->spares = ex;
    hw->num_spares++;
}

static void *worker_init(struct worker *w)
{
    struct h1_worker *hw = cg_xcalloc(1, sizeof(*hw));
    hw->req_headers_cap = w->rt->cfg->limits.max_headers;
    hw->req_headers = cg_xcalloc(hw->req_headers_cap, sizeof(*hw->req_headers));
    return hw;
}

/* worker_trim frees the spare exchanges. */
static void worker_trim(struct worker *w, void *state)
{
    struct h1_worker *hw = state;
    while (hw->spares != NULL) {
        struct h1_exchange *ex = hw->spares;
        hw->spares = ex->next_free;
        exchange_free(ex);
    }
    hw->num_spares = 0;
}

static void worker_cleanup(struct worker *w, void *state)
{
    struct h1_worker *hw = state;
    worker_trim(w, hw);
    free(hw->req_headers);
    free(hw);
}

const struct worker_module h1_worker_module = {
    .name = "http/1.1",
    .init = worker_init,
    .trim = worker_trim,
    .cleanup = worker_cleanup,
};

struct h1_header *h1_worker_response_headers(struct worker *w)
{
    struct h1_worker *hw = worker_module_state(w, &h1_worker_module);
    return hw->resp_headers;
}

/* ---- access log ---------------------------------------------------------------- */

static void log_exchange(struct h1_server *h)
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
        .az = ex->decided ? &ex->az : NULL,
        .upstream = ex->upstream_server,
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

static void drop_upstream(struct h1_server *h)
{
    struct h1_exchange *ex = h->ex;
    if (ex == NULL) {
        return; /* between requests: nothing upstream */
    }
    set_up_timer(ex, 0);
    if (ex->uc != NULL) {
        upstream_release(ex->uc, false);
        ex->uc = NULL;
    }
}

/* send_error answers |status| with the JSON body of docs/policy.md "Errors" and ends the
 * exchange, which the caller has attached (exchange_attach if the connection was
 * between requests). The connection is closed afterwards when |close| or when the
 * request body was not consumed. */
static void send_error(struct h1_server *h, int status, const char *reason, bool close)
{
    struct h1_exchange *ex = h->ex;
    CG_BUG_ON(ex == NULL || ex->resp_head_done);
    drop_upstream(h);
    if (ex->request_id[0] == '\0') {
        make_request_id(h);
    }
    ex->status = status;
    ex->reason = reason;
    if (!ex->req_done || h->state == H1_READING_HEAD || h->state == H1_IDLE) {
        close = true;
    }
    close = close || ex->client_close;
    char body[H1_ERROR_BODY_SIZE];
    size_t body_len = h1_error_body(body, status, reason, ex->request_id);
    struct evbuffer *out = out_buf(h);
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
    CG_LOG_DEBUG("w%uc%" PRIu64 ": %d %s (%s)", h->c->w->id, h->c->id, status, reason,
                 state_str(h->state));
    finish_exchange(h);
}

/* ---- request head --------------------------------------------------------------- */

/* Bytes the fixed lines of a head can add (framing, Connection, X-Forwarded-*, ...). */
#define HEAD_FIXED_MAX 512

static void build_upstream_head(struct h1_server *h, const struct h1_request *req)
{
    struct h1_exchange *ex = h->ex;
    struct evbuffer *out = ex->head_out;
    evbuffer_drain(out, evbuffer_get_length(out));
    struct cg_str method = cg_str_from_cstr(ex->method);
    struct cg_str path = cg_str_from_cstr(ex->path);
    struct cg_str host = cg_str_from_cstr(ex->host);
    struct cg_str peer = cg_str_from_cstr(h->c->peer_ip);
    /* An HTTP/1.0 request may name no host at all; the database still gets one. */
    struct cg_str default_host = host.len > 0 ? host : conn_default_host(h->c);
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
            cg_str_case_eq_cstr(hd->name, "expect") || authz_header_dropped(h->c, hd->name)) {
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
    if (ex->req_body == H1_BODY_LENGTH) {
        HW_LIT(&w, "Content-Length: ");
        hw_u64(&w, ex->req_remaining);
        HW_LIT(&w, "\r\n");
    } else if (ex->req_body == H1_BODY_CHUNKED) {
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

static void copy_slice(char *dst, size_t cap, struct cg_str s)
{
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    if (n > 0) { /* an absent field is {NULL, 0}: memcpy must not see NULL */
        memcpy(dst, s.p, n);
    }
    dst[n] = '\0';
}

static void start_upstream(struct h1_server *h);

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

static void process_request(struct h1_server *h, const struct h1_request *req)
{
    struct evbuffer *in = tls_conn_input(&h->c->tls);
    const struct config *cfg = cfg_of(h);
    conn_set_timer(h->c, 0);
    h->requests++;
    struct h1_exchange *ex = exchange_attach(h);
    make_request_id(h);
    copy_slice(ex->method, sizeof(ex->method), req->method);
    set_path(ex, req->path.p, req->path.len, NULL, 0);
    struct cg_str authority = req->host.len > 0 ? req->host : req->authority;
    copy_slice(ex->host, sizeof(ex->host), authority);
    ex->minor = req->minor_version;
    ex->head_request = cg_str_eq(req->method, CG_STR_LIT("HEAD"));
    ex->client_close =
        h->c->w->draining || (req->minor_version == 1 ? (req->flags & H1_F_CONN_CLOSE) != 0
                                                      : (req->flags & H1_F_CONN_KEEPALIVE) == 0);
    ex->expect_continue = (req->flags & H1_F_EXPECT_CONTINUE) != 0;
    ex->upgrade = (req->flags & H1_F_HAS_UPGRADE) && (req->flags & H1_F_CONN_UPGRADE);
    ex->req_body = req->body;
    ex->req_remaining = req->body == H1_BODY_LENGTH ? req->content_length : 0;
    ex->req_done =
        req->body == H1_BODY_NONE || (req->body == H1_BODY_LENGTH && req->content_length == 0);
    h->state = H1_CONNECTING;

    if (req->method.len > MAX_METHOD || authority.len > MAX_HOST) {
        evbuffer_drain(in, req->head_len);
        send_error(h, 400, "request_too_unusual", true);
        return;
    }
    if (cg_str_eq(req->method, CG_STR_LIT("CONNECT")) || req->path.len == 0 ||
        (req->path.p[0] != '/' && !cg_str_eq(req->path, CG_STR_LIT("*")))) {
        evbuffer_drain(in, req->head_len);
        send_error(h, 405, "method_not_allowed", true);
        return;
    }
    if (cfg->limits.max_body > 0 && req->body == H1_BODY_LENGTH &&
        req->content_length > cfg->limits.max_body) {
        evbuffer_drain(in, req->head_len);
        send_error(h, 413, "body_too_large", true);
        return;
    }
    /* Authorize against the policy current now; forward exactly what was authorized. */
    authz_decide(h->c, req->method, authority, req->path, &ex->az);
    ex->decided = true;
    if (!ex->az.allow) {
        evbuffer_drain(in, req->head_len);
        /* A target that cannot be normalized is a malformed request: close after it. */
        send_error(h, ex->az.status, ex->az.reason, ex->az.status == 400);
        return;
    }
    set_path(ex, ex->az.path.p, ex->az.path.len, ex->az.has_query ? ex->az.query.p : NULL,
             ex->az.query.len);
    build_upstream_head(h, req);
    /* The slices in |req| point into |in|: everything needed was copied above. */
    evbuffer_drain(in, req->head_len);
    CG_LOG_DEBUG("w%uc%" PRIu64 ": %s %s (request %u)", h->c->w->id, h->c->id, ex->method, ex->path,
                 h->requests);
    start_upstream(h);
}

static void parse_head(struct h1_server *h)
{
    struct evbuffer *in = tls_conn_input(&h->c->tls);
    size_t len = evbuffer_get_length(in);
    if (len == 0) {
        return;
    }
    const struct config_limits *lim = &cfg_of(h)->limits;
    if (h->state == H1_IDLE) {
        h->state = H1_READING_HEAD;
        conn_set_timer(h->c, cfg_of(h)->timeouts.request_header);
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
        send_error(h, req.error_status ? req.error_status : 400,
                   req.error_reason ? req.error_reason : "malformed_request", true);
        return;
    }
    process_request(h, &req);
}

/* ---- request body --------------------------------------------------------------- */

static void pump_request_body(struct h1_server *h)
{
    struct h1_exchange *ex = h->ex;
    if (ex->req_done || ex->uc == NULL || h->state != H1_FORWARDING) {
        return;
    }
    const struct config *cfg = cfg_of(h);
    struct evbuffer *in = tls_conn_input(&h->c->tls);
    struct evbuffer *out = upstream_conn_output(ex->uc);
    uint64_t before = ex->bytes_in;
    if (ex->req_body == H1_BODY_LENGTH) {
        size_t avail = evbuffer_get_length(in);
        size_t n = avail < ex->req_remaining ? avail : (size_t)ex->req_remaining;
        if (n > 0) {
            evbuffer_remove_buffer(in, out, n);
            ex->req_remaining -= n;
            ex->bytes_in += n;
        }
        ex->req_done = ex->req_remaining == 0;
    } else if (ex->req_body == H1_BODY_CHUNKED) {
        int r = h1_body_move_chunked(&ex->req_chunk, in, out, true, &ex->bytes_in);
        if (r < 0) {
            if (!ex->resp_head_done) {
                send_error(h, 400, "bad_chunked_body", true);
            } else {
                ex->reason = "bad_chunked_body";
                drop_upstream(h);
                conn_abort(h->c);
            }
            return;
        }
        ex->req_done = r == 1;
    }
    if (cfg->limits.max_body > 0 && ex->bytes_in > cfg->limits.max_body && !ex->resp_head_done) {
        send_error(h, 413, "body_too_large", true);
        return;
    }
    if (ex->req_done) {
        conn_set_timer(h->c, 0);
        if (!ex->resp_head_done) {
            set_up_timer(ex, cfg->timeouts.upstream_response);
        }
        if (ex->resp_done) {
            finish_exchange(h);
        }
        return;
    }
    if (ex->bytes_in != before) {
        conn_set_timer(h->c, cfg->timeouts.client_body_idle);
    }
    /* Back-pressure: stop decrypting while the database is slow to take the body. */
    if (evbuffer_get_length(out) > cfg->limits.buffer_high_water) {
        tls_conn_pause_read(&h->c->tls);
    }
}

/* ---- upstream connection -------------------------------------------------------- */

static void start_upstream(struct h1_server *h)
{
    struct h1_exchange *ex = h->ex;
    struct upstream_pool *pool = h->c->w->pools[h->c->lrt->cfg->upstream_index];
    ex->attempts++;
    struct upstream_conn *uc;
    bool reused;
    int rc = upstream_acquire(pool, &up_cbs, h, &uc, &reused);
    if (rc == CG_ERR_NOT_FOUND) {
        send_error(h, ex->attempts > 1 ? 502 : 503,
                   ex->attempts > 1 ? upstream_pool_last_failure(pool) : "no_healthy_server",
                   false);
        return;
    }
    if (rc != CG_OK) {
        /* An immediate connect failure marked the server down: the next attempt picks
         * another server or ends in NOT_FOUND, so this recursion is bounded. */
        start_upstream(h);
        return;
    }
    ex->uc = uc;
    ex->uc_reused = reused;
    ex->upstream_server = upstream_conn_server(uc);
    /* Until the request body is complete the client keeps its body-idle timer. */
    tls_conn_pause_read(&h->c->tls);
    if (reused) {
        on_up_connected(h);
    }
}

static void on_up_connected(void *arg)
{
    struct h1_server *h = arg;
    struct h1_exchange *ex = h->ex;
    h->state = H1_FORWARDING;
    struct evbuffer *out = upstream_conn_output(ex->uc);
    /* Copy rather than move: the head stays for a retry on a stale pooled connection. */
    size_t head_len = evbuffer_get_length(ex->head_out);
    evbuffer_add(out, evbuffer_pullup(ex->head_out, (ev_ssize_t)head_len), head_len);
    if (ex->expect_continue && !ex->req_done) {
        /* The request is accepted and the database reachable: let the body come. */
        tls_conn_write_bytes(&h->c->tls, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    }
    tls_conn_resume_read(&h->c->tls);
    if (ex->req_done) {
        set_up_timer(ex, cfg_of(h)->timeouts.upstream_response);
    } else {
        conn_set_timer(h->c, cfg_of(h)->timeouts.client_body_idle);
        pump_request_body(h);
    }
}

/* ---- response ------------------------------------------------------------------- */

/* write_response_head puts the status line and end-to-end headers of |resp|, with
 * framing decided here, in the worker's scratch buffer and, with |flush|, sends them.
 * Without, they wait there to go out in one TLS record with the first body bytes
 * (on_up_read). |tunnel| keeps Upgrade for a 101. */
static void write_response_head(struct h1_server *h, const struct h1_response *resp, bool tunnel,
                                bool flush)
{
    struct h1_exchange *ex = h->ex;
    struct head_writer w;
    hw_begin(&w, out_buf(h), 2 * resp->head_len + 2 * resp->num_headers + HEAD_FIXED_MAX);
    HW_LIT(&w, "HTTP/1.1 ");
    hw_u64(&w, (uint64_t)resp->status);
    HW_LIT(&w, " ");
    hw_str(&w, resp->reason);
    HW_LIT(&w, "\r\n");
    h1_mark_hop_by_hop(resp->headers, resp->num_headers);
    for (size_t i = 0; i < resp->num_headers; i++) {
        const struct h1_header *hd = &resp->headers[i];
        if (hd->hop_by_hop) {
            continue;
        }
        /* Content-Length is rewritten below for bodies we frame; a HEAD or 304 answer
         * keeps the database's value, which describes the representation. */
        if (cg_str_case_eq_cstr(hd->name, "content-length") &&
            (resp->body != H1_BODY_NONE || resp->status == 204 || resp->status < 200)) {
            continue;
        }
        hw_header(&w, hd->name, hd->value);
    }
    if (tunnel) {
        for (size_t i = 0; i < resp->num_headers; i++) {
            if (cg_str_case_eq_cstr(resp->headers[i].name, "upgrade")) {
                HW_LIT(&w, "Connection: upgrade\r\n");
                hw_header(&w, CG_STR_LIT("Upgrade"), resp->headers[i].value);
                break;
            }
        }
    } else if (resp->status >= 200) {
        switch (resp->body) {
        case H1_BODY_LENGTH:
            HW_LIT(&w, "Content-Length: ");
            hw_u64(&w, resp->content_length);
            HW_LIT(&w, "\r\n");
            break;
        case H1_BODY_CHUNKED:
        case H1_BODY_UNTIL_CLOSE:
            if (ex->minor >= 1) {
                HW_LIT(&w, "Transfer-Encoding: chunked\r\n");
                ex->resp_chunked_out = true;
            } else {
                ex->client_close = true; /* HTTP/1.0: the end of the body is the close */
            }
            break;
        case H1_BODY_NONE:
            break;
        }
        if (ex->client_close) {
            HW_LIT(&w, "Connection: close\r\n");
        } else if (ex->minor == 0) {
            HW_LIT(&w, "Connection: keep-alive\r\n");
        }
    }
    HW_LIT(&w, "\r\n");
    hw_end(&w);
    if (flush) {
        tls_conn_write(&h->c->tls, w.buf);
    }
}

static void start_tunnel(struct h1_server *h);
static void pump_tunnel(struct h1_server *h);

/* parse_response_head consumes interim responses and the final head. Returns false if
 * the exchange ended (error sent or tunnel started) or more bytes are needed; true
 * with the final head waiting in the worker's scratch buffer. */
static bool parse_response_head(struct h1_server *h)
{
    struct h1_exchange *ex = h->ex;
    struct evbuffer *in = upstream_conn_input(ex->uc);
    for (;;) {
        size_t len = evbuffer_get_length(in);
        if (len == 0) {
            return false;
        }
        size_t n = len < MAX_RESPONSE_HEAD + 1 ? len : MAX_RESPONSE_HEAD + 1;
        const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
        struct h1_limits limits = {.max_request_line = MAX_RESPONSE_HEAD,
                                   .max_head = MAX_RESPONSE_HEAD,
                                   .max_headers = H1_MAX_RESPONSE_HEADERS};
        struct h1_response resp;
        enum h1_parse_result r =
            h1_parse_response(p, n, &limits, cg_str_from_cstr(ex->method), h->hw->resp_headers,
                              H1_MAX_RESPONSE_HEADERS, &resp);
        if (r == H1_PARSE_INCOMPLETE) {
            return false;
        }
        if (r == H1_PARSE_ERROR) {
            CG_LOG_WARN("upstream %s sent a malformed response: %s", ex->upstream_server,
                        resp.error_reason ? resp.error_reason : "?");
            send_error(h, 502, "bad_upstream_response", true);
            return false;
        }
        if (resp.status == 101) {
            if (!ex->upgrade) {
                send_error(h, 502, "unexpected_101", true);
                return false;
            }
            ex->status = 101;
            write_response_head(h, &resp, true, true);
            evbuffer_drain(in, resp.head_len);
            ex->resp_head_done = true;
            start_tunnel(h);
            return false;
        }
        if (resp.status < 200) {
            /* 100 was answered by us (Expect is not forwarded); pass other interim
             * responses such as 103 Early Hints through. */
            if (resp.status != 100) {
                write_response_head(h, &resp, false, true);
            }
            evbuffer_drain(in, resp.head_len);
            continue;
        }
        ex->status = resp.status;
        ex->resp_body = resp.body;
        ex->resp_remaining = resp.content_length;
        ex->upstream_keepalive = resp.body != H1_BODY_UNTIL_CLOSE &&
                                 (resp.minor_version == 1 ? !(resp.flags & H1_F_CONN_CLOSE)
                                                          : (resp.flags & H1_F_CONN_KEEPALIVE));
        if (!ex->req_done) {
            /* The database answered before taking the whole body: the rest of it can
             * no longer be framed for either side. */
            ex->client_close = true;
        }
        write_response_head(h, &resp, false, false);
        evbuffer_drain(in, resp.head_len);
        ex->resp_head_done = true;
        ex->resp_done =
            resp.body == H1_BODY_NONE || (resp.body == H1_BODY_LENGTH && resp.content_length == 0);
        return true;
    }
}

/* pump_response_body moves what the database sent of the body to the client, after
 * the head when |head_queued| (see write_response_head). */
static void pump_response_body(struct h1_server *h, bool head_queued)
{
    struct h1_exchange *ex = h->ex;
    struct evbuffer *in = upstream_conn_input(ex->uc);
    struct evbuffer *out = head_queued ? h->c->w->scratch.out : out_buf(h);
    switch (ex->resp_body) {
    case H1_BODY_LENGTH: {
        size_t avail = evbuffer_get_length(in);
        size_t n = avail < ex->resp_remaining ? avail : (size_t)ex->resp_remaining;
        evbuffer_remove_buffer(in, out, n);
        ex->resp_remaining -= n;
        ex->bytes_out += n;
        ex->resp_done = ex->resp_remaining == 0;
        break;
    }
    case H1_BODY_CHUNKED: {
        int r =
            h1_body_move_chunked(&ex->resp_chunk, in, out, ex->resp_chunked_out, &ex->bytes_out);
        if (r < 0) {
            CG_LOG_WARN("upstream %s sent a malformed chunked body", ex->upstream_server);
            ex->reason = "bad_upstream_body";
            tls_conn_write(&h->c->tls, out);
            drop_upstream(h);
            conn_abort(h->c);
            return;
        }
        ex->resp_done = r == 1;
        break;
    }
    case H1_BODY_UNTIL_CLOSE: {
        size_t n = evbuffer_get_length(in);
        if (n > 0) {
            if (ex->resp_chunked_out) {
                h1_body_chunk_header(out, n);
            }
            evbuffer_remove_buffer(in, out, n);
            if (ex->resp_chunked_out) {
                evbuffer_add(out, "\r\n", 2);
            }
            ex->bytes_out += n;
        }
        break;
    }
    case H1_BODY_NONE:
        ex->resp_done = true;
        break;
    }
    tls_conn_write(&h->c->tls, out);
    if (!ex->resp_done &&
        tls_conn_output_pending(&h->c->tls) > cfg_of(h)->limits.buffer_high_water) {
        /* Back-pressure: a slow client stops us reading the database. */
        upstream_conn_pause_read(ex->uc);
    }
}

static void on_up_read(void *arg)
{
    struct h1_server *h = arg;
    if (h->state == H1_TUNNEL) {
        pump_tunnel(h);
        return;
    }
    if (h->state != H1_FORWARDING) {
        return;
    }
    bool head_queued = false;
    if (!h->ex->resp_head_done) {
        if (!parse_response_head(h)) {
            return;
        }
        head_queued = true;
    }
    if (h->state != H1_FORWARDING || h->ex->uc == NULL) {
        CG_BUG_ON(head_queued); /* parse_response_head returned true: both still hold */
        return;
    }
    if (!h->ex->resp_done) {
        set_up_timer(h->ex, cfg_of(h)->timeouts.upstream_idle);
        pump_response_body(h, head_queued);
    } else if (head_queued) {
        tls_conn_write(&h->c->tls, h->c->w->scratch.out);
    }
    if (h->ex->resp_done) {
        finish_exchange(h);
    }
}

static void on_up_drain(void *arg)
{
    struct h1_server *h = arg;
    if (h->state == H1_TUNNEL || (h->state == H1_FORWARDING && !h->ex->req_done)) {
        /* The database took our backlog: read the client again. */
        tls_conn_resume_read(&h->c->tls);
    }
}

static void on_up_close(void *arg, enum upstream_end end)
{
    struct h1_server *h = arg;
    struct h1_exchange *ex = h->ex;
    ex->uc = NULL; /* already freed by the pool */
    set_up_timer(ex, 0);
    if (h->state == H1_TUNNEL) {
        conn_close(h->c);
        return;
    }
    if (end == UPSTREAM_END_CONNECT_FAILED || end == UPSTREAM_END_CONNECT_TIMEOUT) {
        /* Nothing was sent: another server may take it. */
        ex->reason = upstream_end_str(end);
        h->state = H1_CONNECTING;
        start_upstream(h);
        return;
    }
    if (!ex->resp_head_done) {
        bool nothing_sent_but_head = ex->req_body == H1_BODY_NONE;
        if (ex->uc_reused && nothing_sent_but_head && ex->attempts < 3) {
            /* A pooled connection the database had closed: the request never reached
             * it in a usable way, and has no body, so it is safe to send again. */
            CG_LOG_DEBUG("w%uc%" PRIu64 ": stale upstream connection, retrying", h->c->w->id,
                         h->c->id);
            h->state = H1_CONNECTING;
            start_upstream(h);
            return;
        }
        send_error(h, 502, end == UPSTREAM_END_EOF ? "upstream_closed" : "upstream_reset", true);
        return;
    }
    if (ex->resp_body == H1_BODY_UNTIL_CLOSE && end == UPSTREAM_END_EOF) {
        if (ex->resp_chunked_out) {
            tls_conn_write_bytes(&h->c->tls, "0\r\n\r\n", 5);
        }
        ex->resp_done = true;
        ex->upstream_keepalive = false;
        finish_exchange(h);
        return;
    }
    if (!ex->resp_done) {
        /* Truncated response: the client must not take it for complete. */
        ex->reason = "upstream_truncated";
        log_exchange(h);
        conn_abort(h->c);
    }
}

static void on_up_timer(evutil_socket_t fd, short what, void *arg)
{
    struct h1_exchange *ex = arg;
    struct h1_server *h = ex->h;
    if (h->state == H1_TUNNEL) {
        ex->reason = "tunnel_idle";
        drop_upstream(h);
        conn_close(h->c);
        return;
    }
    if (!ex->resp_head_done) {
        send_error(h, 504, "upstream_timeout", true);
        return;
    }
    ex->reason = "upstream_idle_timeout";
    log_exchange(h);
    drop_upstream(h);
    conn_abort(h->c);
}

/* ---- end of an exchange, keep-alive, pipelining ------------------------------- */

static void on_next(evutil_socket_t fd, short what, void *arg)
{
    struct h1_exchange *ex = arg;
    struct h1_server *h = ex->h;
    if (h->state != H1_IDLE && h->state != H1_READING_HEAD) {
        return; /* a read event started the pipelined request first, with |ex| */
    }
    /* Complete or not, the head waits without an exchange, as on an idle connection;
     * a complete one takes |ex| straight back from the worker's spares. */
    exchange_detach(h);
    if (h->state == H1_IDLE && !h->c->closing) {
        parse_head(h);
    }
}

/* finish_exchange ends the exchange once its response is complete: it logs it, gives
 * the upstream connection back, and closes the connection or goes idle. */
static void finish_exchange(struct h1_server *h)
{
    struct h1_exchange *ex = h->ex;
    if (!ex->resp_done) {
        return;
    }
    if (!ex->req_done && h->state != H1_CLOSING) {
        /* Response complete while the client is still sending: close after it. */
        ex->client_close = true;
    }
    log_exchange(h);
    set_up_timer(ex, 0);
    if (ex->uc != NULL) {
        upstream_release(ex->uc, ex->upstream_keepalive && ex->req_done);
        ex->uc = NULL;
    }
    if (ex->client_close || h->c->w->draining) {
        h->state = H1_CLOSING;
        exchange_detach(h);
        conn_close(h->c);
        return;
    }
    h->state = H1_IDLE;
    conn_set_timer(h->c, cfg_of(h)->timeouts.keepalive_idle);
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

/* ---- Upgrade tunnel ------------------------------------------------------------- */

static void start_tunnel(struct h1_server *h)
{
    h->state = H1_TUNNEL;
    h->ex->reason = "upgraded";
    log_exchange(h);
    conn_set_timer(h->c, 0);
    set_up_timer(h->ex, cfg_of(h)->timeouts.upstream_idle);
    tls_conn_resume_read(&h->c->tls);
    pump_tunnel(h);
}

static void pump_tunnel(struct h1_server *h)
{
    struct h1_exchange *ex = h->ex;
    if (ex->uc == NULL) {
        return;
    }
    const struct config *cfg = cfg_of(h);
    struct evbuffer *from_client = tls_conn_input(&h->c->tls);
    struct evbuffer *to_up = upstream_conn_output(ex->uc);
    struct evbuffer *from_up = upstream_conn_input(ex->uc);
    bool moved = false;
    if (evbuffer_get_length(from_client) > 0) {
        evbuffer_add_buffer(to_up, from_client);
        moved = true;
    }
    if (evbuffer_get_length(from_up) > 0) {
        tls_conn_write(&h->c->tls, from_up);
        moved = true;
    }
    if (moved) {
        set_up_timer(ex, cfg->timeouts.upstream_idle);
    }
    if (evbuffer_get_length(to_up) > cfg->limits.buffer_high_water) {
        tls_conn_pause_read(&h->c->tls);
    }
    if (tls_conn_output_pending(&h->c->tls) > cfg->limits.buffer_high_water) {
        upstream_conn_pause_read(ex->uc);
    }
}

/* ---- public entry points -------------------------------------------------------- */

static void *h1_attach(struct client_conn *c, const void *arg)
{
    struct h1_server *h = cg_xcalloc(1, sizeof(*h));
    h->c = c;
    h->hw = worker_module_state(c->w, &h1_worker_module);
    h->state = H1_IDLE;
    /* The first request must arrive within the request-header timeout. */
    conn_set_timer(c, cfg_of(h)->timeouts.request_header);
    if (evbuffer_get_length(tls_conn_input(&c->tls)) > 0) {
        parse_head(h);
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
    switch (h->state) {
    case H1_IDLE:
    case H1_READING_HEAD:
        parse_head(h);
        break;
    case H1_CONNECTING:
        /* Body bytes wait until the upstream connection is ready. */
        tls_conn_pause_read(&h->c->tls);
        break;
    case H1_FORWARDING:
        if (!h->ex->req_done) {
            pump_request_body(h);
        } else if (evbuffer_get_length(tls_conn_input(&h->c->tls)) > 0) {
            /* The next pipelined request waits for this response. */
            tls_conn_pause_read(&h->c->tls);
        }
        break;
    case H1_TUNNEL:
        pump_tunnel(h);
        break;
    case H1_CLOSING:
        evbuffer_drain(tls_conn_input(&h->c->tls), evbuffer_get_length(tls_conn_input(&h->c->tls)));
        break;
    }
}

static void h1_on_drain(void *state)
{
    struct h1_server *h = state;
    if ((h->state == H1_FORWARDING || h->state == H1_TUNNEL) && h->ex->uc != NULL) {
        upstream_conn_resume_read(h->ex->uc);
    }
}

static void h1_on_timer(void *state)
{
    struct h1_server *h = state;
    switch (h->state) {
    case H1_IDLE:
        if (h->requests == 0) {
            exchange_attach(h);
            send_error(h, 408, "request_header_timeout", true);
        } else {
            conn_close(h->c);
        }
        break;
    case H1_READING_HEAD:
        exchange_attach(h);
        send_error(h, 408, "request_header_timeout", true);
        break;
    case H1_CONNECTING:
    case H1_FORWARDING:
        if (!h->ex->resp_head_done) {
            send_error(h, 408, "client_body_timeout", true);
        } else {
            h->ex->reason = "client_body_timeout";
            log_exchange(h);
            drop_upstream(h);
            conn_abort(h->c);
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
    if (h->state == H1_FORWARDING || h->state == H1_CONNECTING) {
        h->ex->reason = "client_closed";
        if (h->ex->status == 0) {
            h->ex->status = 499; /* nginx's convention: the client went away first */
        }
        log_exchange(h);
    }
    drop_upstream(h);
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
    .attach = h1_attach,
    .detach = h1_detach,
    .on_read = h1_on_read,
    .on_drain = h1_on_drain,
    .on_timer = h1_on_timer,
    .on_peer_closed = h1_on_peer_closed,
    .begin_drain = h1_begin_drain,
};
