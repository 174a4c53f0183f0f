#include "proxy/http1/h1_client.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/bug.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "proxy/core/runtime.h"
#include "proxy/http1/h1_body.h"
#include "proxy/upstream/upstream_pool.h"

/* A pooled connection that turns out closed is given up after this many attempts. */
#define MAX_ATTEMPTS 3

/* Where a client is in its exchange. */
enum h1c_state {
    H1C_IDLE = 0,   /* not started (a spare, or new) */
    H1C_CONNECTING, /* waiting for a new connection */
    H1C_HEAD,       /* request head sent; reading the response head */
    H1C_BODY,       /* final head delivered; reading its body */
    H1C_TUNNEL,     /* after 101 Switching Protocols: opaque bytes both ways */
    H1C_DONE,       /* a final callback ran: nothing happens any more */
};

static const char *state_str(enum h1c_state s)
{
    static const char *const names[] = {"idle", "connecting", "head", "body", "tunnel", "done"};
    return names[s];
}

/* struct h1_client_worker is what the clients of one worker share. */
struct h1_client_worker {
    struct worker_snapshot *ws;
    struct h1_client *spares; /* linked by next_spare */
    size_t num_spares;        /* at most WORKER_MAX_SPARES */
    struct evbuffer *body;    /* the data of a chunked body, gathered for one on_body:
                                 empty between callbacks */
    struct h1_header resp_headers[H1_MAX_RESPONSE_HEADERS]; /* one head at a time */
};

struct h1_client {
    /* Kept by a spare. */
    struct h1_client_worker *cw;
    struct evbuffer *head;  /* h1_client_head: empty in a spare */
    struct event *ev_timer; /* upstream_response, then upstream_idle; not pending in a
                               spare */
    struct h1_client *next_spare;

    /* Zero in a spare (recycle). */
    const struct h1_client_callbacks *cbs;
    void *arg;
    enum h1c_state state;
    struct h1_client_request req;
    struct upstream_pool *pool;
    struct upstream_conn *uc; /* NULL between connections */
    const char *server;       /* "ip:port" of the last connection (configuration), or "" */
    uint64_t sent_us;         /* monotonic, when the head went on the last connection */
    uint64_t response_us;     /* from then to the final response head (0 before it) */
    unsigned attempts;        /* connections asked for */
    bool reused;              /* uc came from the idle pool */
    bool chunked;             /* the request body is chunk-encoded (write_head) */
    bool body_sent;           /* request body bytes went: a failure is not retried */
    bool req_ended;           /* h1_client_request_end on this connection */
    bool paused;              /* h1_client_pause_read in force */
    bool keepalive;           /* the response allows another request on uc */
    enum h1_body_kind resp_body;
    uint64_t resp_remaining; /* H1_BODY_LENGTH: bytes still to come */
    struct h1_chunked resp_chunk;
    unsigned in_cb; /* user callbacks on the stack */
    bool freed;     /* h1_client_free was called, or a final callback ran */
    bool reusable;  /* at the end: uc may go back to the pool */
};

static void on_up_connected(void *arg);
static void on_up_read(void *arg);
static void on_up_drain(void *arg);
static void on_up_close(void *arg, enum upstream_end end);

static const struct upstream_callbacks up_cbs = {
    .on_connected = on_up_connected,
    .on_read = on_up_read,
    .on_drain = on_up_drain,
    .on_close = on_up_close,
};

static const struct config *cfg_of(const struct h1_client *cl)
{
    return cl->cw->ws->snap->cfg;
}

static void set_timer(struct h1_client *cl, uint64_t ms)
{
    struct timeval tv = cg_timeval_ms(ms);
    evtimer_add(cl->ev_timer, &tv);
}

/* ---- spares --------------------------------------------------------------------- */

static void on_timer(evutil_socket_t fd, short what, void *arg);

static void client_free(struct h1_client *cl)
{
    event_free(cl->ev_timer);
    evbuffer_free(cl->head);
    free(cl);
}

/* recycle returns a client that holds no connection and no pending timer to the
 * worker's spares. */
static void recycle(struct h1_client *cl)
{
    struct h1_client_worker *cw = cl->cw;
    CG_BUG_ON(cl->uc != NULL || cl->in_cb != 0);
    if (cw->num_spares >= WORKER_MAX_SPARES) {
        client_free(cl);
        return;
    }
    size_t head_len = evbuffer_get_length(cl->head);
    if (head_len > 0) {
        evbuffer_drain(cl->head, head_len);
    }
    memset(&cl->cbs, 0, sizeof(*cl) - offsetof(struct h1_client, cbs));
    cl->next_spare = cw->spares;
    cw->spares = cl;
    cw->num_spares++;
}

struct h1_client *h1_client_new(struct worker_snapshot *ws, const struct h1_client_callbacks *cbs,
                                void *arg)
{
    struct h1_client_worker *cw = worker_module_state(ws, &h1_client_worker_module);
    struct h1_client *cl = cw->spares;
    if (cl != NULL) {
        cw->spares = cl->next_spare;
        cw->num_spares--;
        cl->next_spare = NULL;
    } else {
        cl = cg_xcalloc(1, sizeof(*cl));
        cl->cw = cw;
        cl->head = evbuffer_new();
        cl->ev_timer = evtimer_new(ws->w->base, on_timer, cl);
        CG_BUG_ON(cl->head == NULL || cl->ev_timer == NULL);
    }
    cl->cbs = cbs;
    cl->arg = arg;
    cl->server = "";
    return cl;
}

/* ---- the end of an exchange ----------------------------------------------------- */

/* finish lets go of the connection (back to the pool only after a final callback that
 * found it reusable) and recycles the client. */
static void finish(struct h1_client *cl)
{
    if (cl->state != H1C_DONE) {
        evtimer_del(cl->ev_timer); /* a final callback stopped it already */
    }
    if (cl->uc != NULL) {
        upstream_release(cl->uc, cl->state == H1C_DONE && cl->reusable);
        cl->uc = NULL;
    }
    recycle(cl);
}

/* settle runs after every user callback: it returns true when the client goes on, and
 * finishes it when the user freed it (or the callback was final) and no other callback
 * is on the stack. */
static bool settle(struct h1_client *cl)
{
    if (!cl->freed) {
        return true;
    }
    if (cl->in_cb == 0) {
        finish(cl);
    }
    return false;
}

void h1_client_free(struct h1_client *cl)
{
    if (cl == NULL || cl->freed) {
        return;
    }
    cl->freed = true;
    if (cl->in_cb == 0) {
        finish(cl);
    }
}

/* final_begin stops the exchange before its final callback; |reusable| says whether the
 * connection may serve another request once the callback has taken what it needs. */
static void final_begin(struct h1_client *cl, bool reusable)
{
    cl->state = H1C_DONE;
    cl->reusable = reusable && cl->req_ended;
    evtimer_del(cl->ev_timer);
    cl->in_cb++;
}

/* final_end follows the final callback. */
static void final_end(struct h1_client *cl)
{
    cl->in_cb--;
    cl->freed = true;
    settle(cl);
}

static void fail(struct h1_client *cl, int status, enum cg_reason reason)
{
    CG_LOG_DEBUG("upstream %s: exchange failed in state %s: %d %s", cl->server,
                 state_str(cl->state), status, cg_reason_str(reason));
    final_begin(cl, false);
    cl->cbs->on_error(cl->arg, status, reason);
    final_end(cl);
}

/* ---- connections ------------------------------------------------------------------ */

static void acquire(struct h1_client *cl)
{
    for (;;) {
        cl->attempts++;
        bool reused = false;
        struct upstream_conn *uc;
        int rc = upstream_acquire(cl->pool, &up_cbs, cl, &uc, &reused);
        if (rc == CG_ERR_NOT_FOUND) {
            fail(cl, cl->attempts > 1 ? 502 : 503,
                 cl->attempts > 1 ? upstream_pool_last_failure(cl->pool)
                                  : upstream_pool_unavailable(cl->pool));
            return;
        }
        if (rc != CG_OK) {
            /* An immediate connect failure marked the server down: the next attempt
             * picks another one or ends in NOT_FOUND. */
            continue;
        }
        cl->uc = uc;
        cl->reused = reused;
        cl->server = upstream_conn_server(uc);
        cl->req_ended = false;
        cl->paused = false;
        cl->state = H1C_CONNECTING;
        if (cl->req.input_max != 0) {
            /* Until the head is parsed, room for the longest head. */
            size_t max = cl->req.input_max > H1_MAX_RESPONSE_HEAD + 1 ? cl->req.input_max
                                                                      : H1_MAX_RESPONSE_HEAD + 1;
            upstream_conn_set_input_max(uc, max);
        }
        if (reused) {
            on_up_connected(cl);
        }
        return;
    }
}

void h1_client_start(struct h1_client *cl, const struct h1_client_request *req)
{
    CG_BUG_ON(cl->state != H1C_IDLE);
    cl->req = *req;
    cl->pool = cl->cw->ws->pools[req->upstream_index];
    acquire(cl);
}

static void on_up_connected(void *arg)
{
    struct h1_client *cl = arg;
    cl->state = H1C_HEAD;
    cl->sent_us = cg_monotonic_us();
    cl->in_cb++;
    cl->chunked = cl->cbs->write_head(cl->arg, upstream_conn_output(cl->uc));
    cl->cbs->on_writable(cl->arg);
    cl->in_cb--;
    settle(cl);
}

static void on_up_drain(void *arg)
{
    struct h1_client *cl = arg;
    bool request_goes_on = (cl->state == H1C_HEAD || cl->state == H1C_BODY) && !cl->req_ended;
    if (!request_goes_on && cl->state != H1C_TUNNEL) {
        return;
    }
    cl->in_cb++;
    cl->cbs->on_writable(cl->arg);
    cl->in_cb--;
    settle(cl);
}

/* ---- the request ------------------------------------------------------------------ */

struct evbuffer *h1_client_head(struct h1_client *cl)
{
    return cl->head;
}

size_t h1_client_request_room(const struct h1_client *cl)
{
    if (cl->uc == NULL || cl->state < H1C_HEAD || cl->state > H1C_TUNNEL) {
        return 0;
    }
    size_t hw = cfg_of(cl)->limits.buffer_high_water;
    size_t out = evbuffer_get_length(upstream_conn_output(cl->uc));
    return out < hw ? hw - out : 0;
}

void h1_client_request_body(struct h1_client *cl, struct evbuffer *src, size_t n)
{
    CG_BUG_ON(cl->uc == NULL || cl->state < H1C_HEAD || n == 0);
    struct evbuffer *out = upstream_conn_output(cl->uc);
    if (cl->state == H1C_TUNNEL) {
        evbuffer_remove_buffer(src, out, n);
        set_timer(cl, cfg_of(cl)->timeouts.upstream_idle);
        return;
    }
    if (cl->chunked) {
        h1_body_chunk_header(out, n);
    }
    evbuffer_remove_buffer(src, out, n);
    if (cl->chunked) {
        evbuffer_add(out, "\r\n", 2);
    }
    cl->body_sent = true;
}

void h1_client_request_end(struct h1_client *cl)
{
    if (cl->req_ended || (cl->state != H1C_HEAD && cl->state != H1C_BODY)) {
        return; /* ended already, or no head went yet (on_writable will come) */
    }
    cl->req_ended = true;
    if (cl->chunked) {
        evbuffer_add(upstream_conn_output(cl->uc), "0\r\n\r\n", 5);
    }
    if (cl->state == H1C_HEAD) {
        set_timer(cl, cfg_of(cl)->timeouts.upstream_response);
    }
}

/* ---- back-pressure ---------------------------------------------------------------- */

void h1_client_pause_read(struct h1_client *cl)
{
    if (cl->uc != NULL && !cl->paused) {
        cl->paused = true;
        upstream_conn_pause_read(cl->uc);
    }
}

void h1_client_resume_read(struct h1_client *cl)
{
    if (cl->uc != NULL && cl->paused) {
        cl->paused = false;
        upstream_conn_resume_read(cl->uc);
    }
}

bool h1_client_read_paused(const struct h1_client *cl)
{
    return cl->paused;
}

void h1_client_set_input_max(struct h1_client *cl, size_t max)
{
    if (cl->uc != NULL) {
        upstream_conn_set_input_max(cl->uc, max);
    }
}

uint64_t h1_client_response_us(const struct h1_client *cl)
{
    return cl->response_us;
}

const char *h1_client_server(const struct h1_client *cl)
{
    return cl->server;
}

/* ---- the response ----------------------------------------------------------------- */

/* deliver hands |n| body bytes at the start of |src| to the user. */
static void deliver(struct h1_client *cl, struct evbuffer *src, size_t n, bool last)
{
    if (last) {
        final_begin(cl, cl->keepalive);
        cl->cbs->on_body(cl->arg, src, n, true);
        final_end(cl);
        return;
    }
    cl->in_cb++;
    cl->cbs->on_body(cl->arg, src, n, false);
    cl->in_cb--;
    if (settle(cl)) {
        /* More to come: the database may pause that long between two reads. */
        set_timer(cl, cfg_of(cl)->timeouts.upstream_idle);
    }
}

static void read_body(struct h1_client *cl)
{
    struct evbuffer *in = upstream_conn_input(cl->uc);
    struct evbuffer *gathered = cl->cw->body;
    switch (cl->resp_body) {
    case H1_BODY_LENGTH: {
        size_t avail = evbuffer_get_length(in);
        size_t n = avail < cl->resp_remaining ? avail : (size_t)cl->resp_remaining;
        cl->resp_remaining -= n;
        deliver(cl, in, n, cl->resp_remaining == 0);
        return;
    }
    case H1_BODY_CHUNKED: {
        uint64_t moved = 0;
        int r = h1_body_move_chunked(&cl->resp_chunk, in, gathered, &moved);
        if (r < 0) {
            evbuffer_drain(gathered, evbuffer_get_length(gathered));
            CG_LOG_WARN("upstream %s sent a malformed chunked body", cl->server);
            fail(cl, 502, CG_REASON_BAD_UPSTREAM_BODY);
            return;
        }
        deliver(cl, gathered, evbuffer_get_length(gathered), r == 1);
        /* The user moved everything; a user that freed the client early may not have. */
        evbuffer_drain(gathered, evbuffer_get_length(gathered));
        return;
    }
    case H1_BODY_UNTIL_CLOSE:
        deliver(cl, in, evbuffer_get_length(in), false);
        return;
    case H1_BODY_NONE:
        break;
    }
    CG_BUG_ON(true); /* a head without body ended the exchange */
}

static void read_tunnel(struct h1_client *cl)
{
    struct evbuffer *in = upstream_conn_input(cl->uc);
    size_t n = evbuffer_get_length(in);
    if (n > 0) {
        deliver(cl, in, n, false);
    }
}

/* contiguous_head returns the start of |in| in one piece, long enough to hold the
 * response head when it has arrived: the first chain when the head ends there (the
 * usual case: no copy), else the head pulled up alone, or everything up to the head
 * limit while its end has not arrived. Never the body: a pull-up of body bytes would
 * copy them into one chain, up to twice what the user lets the connection buffer. */
static struct cg_str contiguous_head(struct evbuffer *in)
{
    size_t len = evbuffer_get_length(in);
    size_t max = len < H1_MAX_RESPONSE_HEAD + 1 ? len : H1_MAX_RESPONSE_HEAD + 1;
    size_t first = evbuffer_get_contiguous_space(in);
    if (first < max) {
        struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
        if (end.pos >= 0 && (size_t)end.pos + 4 < max) {
            max = (size_t)end.pos + 4;
        }
    }
    /* A pull-up of what the first chain holds already copies nothing. */
    return (struct cg_str){(const char *)evbuffer_pullup(in, (ev_ssize_t)max), max};
}

/* read_head consumes interim responses and the final head, then what followed it. */
static void read_head(struct h1_client *cl)
{
    static const struct h1_limits limits = {.max_request_line = H1_MAX_RESPONSE_HEAD,
                                            .max_head = H1_MAX_RESPONSE_HEAD,
                                            .max_headers = H1_MAX_RESPONSE_HEADERS};
    struct evbuffer *in = upstream_conn_input(cl->uc);
    for (;;) {
        if (evbuffer_get_length(in) == 0) {
            return;
        }
        struct cg_str head = contiguous_head(in);
        struct h1_response resp;
        enum h1_parse_result r =
            h1_parse_response(head.p, head.len, &limits, cl->req.method, cl->cw->resp_headers,
                              H1_MAX_RESPONSE_HEADERS, &resp);
        if (r == H1_PARSE_INCOMPLETE) {
            return;
        }
        if (r == H1_PARSE_ERROR) {
            CG_LOG_WARN("upstream %s sent a malformed response: %s", cl->server,
                        resp.error_reason ? resp.error_reason : "?");
            fail(cl, 502, CG_REASON_BAD_UPSTREAM_RESPONSE);
            return;
        }
        h1_mark_hop_by_hop(resp.headers, resp.num_headers);
        if (resp.status >= 200 || resp.status == 101) {
            cl->response_us = cg_monotonic_us() - cl->sent_us;
            upstream_conn_count_response(cl->uc, resp.status, cl->response_us);
        }
        if (resp.status == 101) {
            if (!cl->req.upgrade || cl->cbs->on_upgrade == NULL) {
                CG_LOG_WARN("upstream %s switched protocols unasked", cl->server);
                fail(cl, 502, CG_REASON_UNEXPECTED_101);
                return;
            }
            cl->state = H1C_TUNNEL;
            set_timer(cl, cfg_of(cl)->timeouts.upstream_idle);
            cl->in_cb++;
            cl->cbs->on_upgrade(cl->arg, &resp);
            cl->in_cb--;
            if (!settle(cl)) {
                return;
            }
            evbuffer_drain(in, resp.head_len);
            read_tunnel(cl);
            return;
        }
        if (resp.status < 200) {
            /* 100 Continue is the user's to answer (Expect is never forwarded). */
            if (resp.status != 100 && cl->cbs->on_interim != NULL) {
                cl->in_cb++;
                cl->cbs->on_interim(cl->arg, &resp);
                cl->in_cb--;
                if (!settle(cl)) {
                    return;
                }
            }
            evbuffer_drain(in, resp.head_len);
            continue;
        }
        cl->resp_body = resp.body;
        cl->resp_remaining = resp.content_length;
        cl->keepalive = resp.body != H1_BODY_UNTIL_CLOSE &&
                        (resp.minor_version == 1 ? !(resp.flags & H1_F_CONN_CLOSE)
                                                 : (resp.flags & H1_F_CONN_KEEPALIVE));
        if (resp.body == H1_BODY_NONE ||
            (resp.body == H1_BODY_LENGTH && resp.content_length == 0)) {
            /* The fields point into |in|: drained only after the user took them, and
             * before the connection may go back to the pool. */
            final_begin(cl, cl->keepalive);
            cl->cbs->on_head(cl->arg, &resp, true);
            evbuffer_drain(in, resp.head_len);
            final_end(cl);
            return;
        }
        cl->state = H1C_BODY;
        cl->in_cb++;
        cl->cbs->on_head(cl->arg, &resp, false);
        cl->in_cb--;
        if (!settle(cl)) {
            return;
        }
        evbuffer_drain(in, resp.head_len);
        read_body(cl);
        return;
    }
}

static void on_up_read(void *arg)
{
    struct h1_client *cl = arg;
    switch (cl->state) {
    case H1C_HEAD:
        read_head(cl);
        break;
    case H1C_BODY:
        read_body(cl);
        break;
    case H1C_TUNNEL:
        read_tunnel(cl);
        break;
    case H1C_IDLE:
    case H1C_CONNECTING:
    case H1C_DONE:
        break;
    }
}

static void on_up_close(void *arg, enum upstream_end end)
{
    struct h1_client *cl = arg;
    cl->uc = NULL; /* already freed by the pool */
    switch (cl->state) {
    case H1C_CONNECTING:
    case H1C_HEAD:
        if (end == UPSTREAM_END_CONNECT_FAILED || end == UPSTREAM_END_CONNECT_TIMEOUT) {
            /* Nothing was sent: another server may take it. */
            acquire(cl);
            return;
        }
        if (cl->reused && !cl->body_sent && cl->attempts < MAX_ATTEMPTS) {
            /* A pooled connection the database had closed: nothing but the head reached
             * it, which is safe to send again. */
            CG_LOG_DEBUG("upstream %s: stale pooled connection, retrying", cl->server);
            acquire(cl);
            return;
        }
        fail(cl, 502, end == UPSTREAM_END_EOF ? CG_REASON_UPSTREAM_CLOSED : CG_REASON_UPSTREAM_RESET);
        return;
    case H1C_BODY:
        if (cl->resp_body == H1_BODY_UNTIL_CLOSE && end == UPSTREAM_END_EOF) {
            cl->keepalive = false;
            deliver(cl, cl->cw->body, 0, true);
            return;
        }
        fail(cl, 502, CG_REASON_UPSTREAM_TRUNCATED);
        return;
    case H1C_TUNNEL:
        /* The database ended the tunnel (a reset too: there is no response to spoil). */
        cl->keepalive = false;
        deliver(cl, cl->cw->body, 0, true);
        return;
    case H1C_IDLE:
    case H1C_DONE:
        return;
    }
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct h1_client *cl = arg;
    switch (cl->state) {
    case H1C_HEAD:
        fail(cl, 504, CG_REASON_UPSTREAM_TIMEOUT);
        return;
    case H1C_BODY:
        fail(cl, 504, CG_REASON_UPSTREAM_IDLE_TIMEOUT);
        return;
    case H1C_TUNNEL:
        fail(cl, 504, CG_REASON_TUNNEL_IDLE);
        return;
    case H1C_IDLE:
    case H1C_CONNECTING:
    case H1C_DONE:
        return;
    }
}

/* ---- worker module ---------------------------------------------------------------- */

static void *worker_init(struct worker_snapshot *ws)
{
    struct h1_client_worker *cw = cg_xcalloc(1, sizeof(*cw));
    cw->ws = ws;
    cw->body = evbuffer_new();
    CG_BUG_ON(cw->body == NULL);
    return cw;
}

/* worker_trim frees the spare clients. */
static void worker_trim(struct worker_snapshot *ws, void *state)
{
    struct h1_client_worker *cw = state;
    while (cw->spares != NULL) {
        struct h1_client *cl = cw->spares;
        cw->spares = cl->next_spare;
        client_free(cl);
    }
    cw->num_spares = 0;
}

static void worker_cleanup(struct worker_snapshot *ws, void *state)
{
    struct h1_client_worker *cw = state;
    worker_trim(ws, cw);
    evbuffer_free(cw->body);
    free(cw);
}

const struct worker_module h1_client_worker_module = {
    .name = "http/1.1 upstream clients",
    .init = worker_init,
    .trim = worker_trim,
    .cleanup = worker_cleanup,
};
