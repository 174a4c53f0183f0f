/* HTTP/2 stream -> HTTP/1.1 upstream translation (docs/architecture.md): each stream takes one
 * connection of the worker's upstream pool for the time of its exchange.
 *
 * Request: ":method :path HTTP/1.1", Host from :authority (else the server's address),
 * the forwarded fields (cookie
 * fields joined with "; " as RFC 9113 §8.2.3 says), Content-Length when the client sent
 * one, else Transfer-Encoding: chunked when a body follows. Body bytes move from the
 * stream to the socket only while the socket's output is under the high-water mark,
 * and each move reopens the client's window by the same amount. Request trailers are
 * dropped (HTTP/1.1 databases do not use them).
 *
 * Response: parsed with h1_parse_response; 1xx skipped; hop-by-hop fields and those
 * listed in Connection dropped, names lower-cased; the body is de-chunked into DATA
 * frames. What the stream holds for the client plus what the socket may read next stays
 * within h2_stream_buffer_limit: reads are sized to the room left and pause when none
 * is. */
#include <stdlib.h>
#include <string.h>

#include "common/bug.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/str.h"
#include "proxy/core/conn.h"
#include "proxy/core/runtime.h"
#include "proxy/core/worker.h"
#include "proxy/http1/h1_body.h"
#include "proxy/http1/h1_parse.h"
#include "proxy/http1/h1_server.h"
#include "proxy/http2/grpc.h"
#include "proxy/http2/h2_stream.h"
#include "proxy/http2/h2_to_h1_head.h"
#include "proxy/upstream/upstream_pool.h"

#define MAX_RESPONSE_HEAD (64 * 1024)
#define MAX_RESPONSE_HEADERS H1_MAX_RESPONSE_HEADERS

struct h2h1 {
    struct h2_stream *s;
    struct upstream_pool *pool;
    struct upstream_conn *uc;
    bool reused;
    unsigned attempts;
    bool chunked; /* we chunk-encode the request body */
    bool head_sent;
    bool req_sent_end; /* the whole request went to the socket */
    bool body_started; /* some body bytes went: no retry any more */
    bool resp_head_done;
    enum h1_body_kind resp_body;
    uint64_t resp_remaining;
    struct h1_chunked resp_chunk;
    bool keepalive;
    bool paused;
    struct event *ev_timer; /* upstream_response, then upstream_idle; lives in the same
                               allocation, right after this struct */
};

static void on_up_connected(void *arg);
static void on_up_read(void *arg);
static void on_up_drain(void *arg);
static void on_up_close(void *arg, enum upstream_end end);
static void on_timer(evutil_socket_t fd, short what, void *arg);

static const struct upstream_callbacks up_cbs = {
    .on_connected = on_up_connected,
    .on_read = on_up_read,
    .on_drain = on_up_drain,
    .on_close = on_up_close,
};

static void set_timer(struct h2h1 *b, uint64_t ms)
{
    struct timeval tv = cg_timeval_ms(ms);
    evtimer_add(b->ev_timer, &tv);
}

/* destroy frees the backend state; |reusable| returns the connection to the pool. */
static void destroy(struct h2h1 *b, bool reusable)
{
    if (b->uc != NULL) {
        upstream_release(b->uc, reusable);
    }
    event_del(b->ev_timer);
    free(b);
}

static void fail(struct h2h1 *b, int status, const char *reason)
{
    struct h2_stream *s = b->s;
    destroy(b, false);
    h2_stream_fail(s, status, grpc_status_from_http(status), reason);
}

/* write_head appends the HTTP/1.1 request head (proxy/http2/h2_to_h1_head.h) to |out| and
 * decides b->chunked. It is written again if the request is retried on another
 * connection. */
static void write_head(struct h2h1 *b, struct evbuffer *out)
{
    struct h2_stream *s = b->s;
    struct h2_h1_head head = {
        .method = cg_str_from_cstr(s->method),
        .target = cg_str_from_cstr(s->path),
        /* nghttp2 refuses a request with neither :authority nor host, but HTTP/1.1
         * requires a Host: the address certgate connects to, as a proxy without
         * authority information sends. */
        .host = cg_str_from_cstr(s->authority != NULL ? s->authority : upstream_conn_server(b->uc)),
        .fields = s->fwd.nv,
        .num_fields = s->fwd.num,
        .content_length = s->content_length,
        .body_follows = !s->req_end || evbuffer_get_length(s->req_body) > 0,
    };
    b->chunked = h2_h1_head_write(out, &head);
}

static void acquire(struct h2h1 *b)
{
    for (;;) {
        b->attempts++;
        bool reused = false;
        int rc = upstream_acquire(b->pool, &up_cbs, b, &b->uc, &reused);
        if (rc == CG_ERR_NOT_FOUND) {
            b->uc = NULL;
            fail(b, b->attempts > 1 ? 502 : 503,
                 b->attempts > 1 ? upstream_pool_last_failure(b->pool) : "no_healthy_server");
            return;
        }
        if (rc != CG_OK) {
            /* An immediate connect failure marked the server down: try the next one. */
            b->uc = NULL;
            continue;
        }
        b->reused = reused;
        /* Until the head is parsed, room for the longest head; then bound_input. */
        size_t limit = h2_stream_buffer_limit(b->s);
        upstream_conn_set_input_max(b->uc,
                                    limit > MAX_RESPONSE_HEAD + 1 ? limit : MAX_RESPONSE_HEAD + 1);
        const char *server = upstream_conn_server(b->uc);
        size_t n = strlen(server);
        if (n >= sizeof(b->s->upstream)) {
            n = sizeof(b->s->upstream) - 1;
        }
        memcpy(b->s->upstream, server, n);
        b->s->upstream[n] = '\0';
        if (reused) {
            on_up_connected(b);
        }
        return;
    }
}

static void start(struct h2_stream *s)
{
    /* One allocation for the state and its timer (event_get_struct_event_size keeps
     * this independent of libevent's struct layout). */
    struct h2h1 *b = cg_xcalloc(1, sizeof(*b) + event_get_struct_event_size());
    b->s = s;
    s->backend = b;
    b->pool = s->c->w->pools[s->c->lrt->cfg->upstream_index];
    b->ev_timer = (struct event *)(b + 1);
    CG_BUG_ON(evtimer_assign(b->ev_timer, s->c->w->base, on_timer, b) != 0);
    acquire(b);
}

/* pump_request moves body bytes to the socket while it has room. Returns true when
 * the end of the request went to the socket in this call. */
static bool pump_request(struct h2h1 *b)
{
    struct h2_stream *s = b->s;
    if (!b->head_sent || b->req_sent_end || b->uc == NULL) {
        return false;
    }
    struct evbuffer *out = upstream_conn_output(b->uc);
    size_t hw = s->cfg->limits.buffer_high_water;
    size_t moved = 0;
    for (;;) {
        size_t avail = evbuffer_get_length(s->req_body);
        size_t outlen = evbuffer_get_length(out);
        if (avail == 0 || outlen >= hw) {
            break;
        }
        size_t n = avail < hw - outlen ? avail : hw - outlen;
        if (b->chunked) {
            h1_body_chunk_header(out, n);
        }
        evbuffer_remove_buffer(s->req_body, out, n);
        if (b->chunked) {
            evbuffer_add(out, "\r\n", 2);
        }
        moved += n;
    }
    if (moved > 0) {
        b->body_started = true;
        h2_stream_request_consumed(s, moved);
    }
    if (s->req_end && evbuffer_get_length(s->req_body) == 0) {
        if (b->chunked) {
            evbuffer_add(out, "0\r\n\r\n", 5);
        }
        b->req_sent_end = true;
        return true;
    }
    return false;
}

/* pump_and_time pumps and, once the request is out, gives the database
 * timeouts.upstream_response for its head. */
static void pump_and_time(struct h2h1 *b)
{
    if (pump_request(b) && !b->resp_head_done) {
        set_timer(b, b->s->cfg->timeouts.upstream_response);
    }
}

static void on_up_connected(void *arg)
{
    struct h2h1 *b = arg;
    write_head(b, upstream_conn_output(b->uc));
    b->head_sent = true;
    pump_request(b);
    set_timer(b, b->s->cfg->timeouts.upstream_response);
}

static void on_request_data(struct h2_stream *s)
{
    pump_and_time(s->backend);
}

static void on_up_drain(void *arg)
{
    pump_and_time(arg);
}

/* contiguous_head returns the start of |in| in one piece, long enough to hold the
 * response head when it has arrived: the first chain when the head ends there (the
 * usual case: no copy), else the head pulled up alone, or everything up to the head
 * limit while its end has not arrived. Never the body: a pull-up of body bytes would
 * copy them into one chain twice the size of what the stream may buffer. */
static struct cg_str contiguous_head(struct evbuffer *in)
{
    size_t len = evbuffer_get_length(in);
    size_t max = len < MAX_RESPONSE_HEAD + 1 ? len : MAX_RESPONSE_HEAD + 1;
    struct evbuffer_iovec v;
    if (evbuffer_peek(in, -1, NULL, &v, 1) >= 1 && v.iov_len >= max) {
        return (struct cg_str){v.iov_base, max};
    }
    struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
    if (end.pos >= 0 && (size_t)end.pos + 4 < max) {
        max = (size_t)end.pos + 4;
    }
    if (v.iov_len >= max) {
        return (struct cg_str){v.iov_base, max};
    }
    return (struct cg_str){(const char *)evbuffer_pullup(in, (ev_ssize_t)max), max};
}

/* parse_head handles interim responses and the final head. Returns 1 when the head
 * was delivered and a body follows, 0 when more bytes are needed, -1 when the backend
 * is gone (error or complete response). */
static int parse_head(struct h2h1 *b)
{
    struct h2_stream *s = b->s;
    struct evbuffer *in = upstream_conn_input(b->uc);
    struct h1_limits limits = {.max_request_line = MAX_RESPONSE_HEAD,
                               .max_head = MAX_RESPONSE_HEAD,
                               .max_headers = MAX_RESPONSE_HEADERS};
    for (;;) {
        size_t len = evbuffer_get_length(in);
        if (len == 0) {
            return 0;
        }
        /* The worker's scratch: used only until this function returns. */
        struct h1_response resp;
        struct cg_str head = contiguous_head(in);
        enum h1_parse_result r =
            h1_parse_response(head.p, head.len, &limits, cg_str_from_cstr(s->method),
                              h1_worker_response_headers(s->c->w), MAX_RESPONSE_HEADERS, &resp);
        if (r == H1_PARSE_INCOMPLETE) {
            return 0;
        }
        if (r == H1_PARSE_ERROR || resp.status == 101) {
            CG_LOG_WARN("upstream %s sent a malformed response: %s", s->upstream,
                        resp.error_reason ? resp.error_reason : "101");
            fail(b, 502, "bad_upstream_response");
            return -1;
        }
        if (resp.status < 200) {
            evbuffer_drain(in, resp.head_len);
            continue;
        }
        /* Fields point into |in| until it is drained below; nghttp2 copies them and
         * lower-cases the names when the head is submitted. */
        h1_mark_hop_by_hop(resp.headers, resp.num_headers);
        nghttp2_nv nva[MAX_RESPONSE_HEADERS];
        size_t num = 0;
        for (size_t i = 0; i < resp.num_headers; i++) {
            const struct h1_header *hd = &resp.headers[i];
            if (hd->hop_by_hop) {
                continue;
            }
            if (resp.body != H1_BODY_LENGTH && resp.body != H1_BODY_NONE &&
                cg_str_case_eq(hd->name, CG_STR_LIT("content-length"))) {
                continue;
            }
            nva[num++] =
                (nghttp2_nv){(uint8_t *)(uintptr_t)hd->name.p, (uint8_t *)(uintptr_t)hd->value.p,
                             hd->name.len, hd->value.len, NGHTTP2_NV_FLAG_NONE};
        }
        int status = resp.status;
        b->resp_body = resp.body;
        b->resp_remaining = resp.content_length;
        b->keepalive = resp.body != H1_BODY_UNTIL_CLOSE &&
                       (resp.minor_version == 1 ? !(resp.flags & H1_F_CONN_CLOSE)
                                                : (resp.flags & H1_F_CONN_KEEPALIVE));
        bool end =
            resp.body == H1_BODY_NONE || (resp.body == H1_BODY_LENGTH && resp.content_length == 0);
        b->resp_head_done = true;
        if (end) {
            /* Submit before the drain and before the connection may go back to the pool
             * and be handed its next response. */
            h2_stream_response_head_nv(s, status, nva, num, true);
            evbuffer_drain(in, resp.head_len);
            destroy(b, b->keepalive && b->req_sent_end);
            return -1;
        }
        h2_stream_response_head_nv(s, status, nva, num, false);
        evbuffer_drain(in, resp.head_len);
        return 1;
    }
}

/* bound_input keeps what the stream buffers for the client, plus what the upstream
 * socket may still read, within h2_stream_buffer_limit: reads are limited to the room
 * left, and stop (pause) when there is none. */
static void bound_input(struct h2h1 *b)
{
    size_t limit = h2_stream_buffer_limit(b->s);
    size_t have = evbuffer_get_length(b->s->resp_body);
    if (have >= limit) {
        if (!b->paused) {
            b->paused = true;
            upstream_conn_pause_read(b->uc);
        }
        return;
    }
    upstream_conn_set_input_max(b->uc, limit - have);
}

/* pump_response moves body bytes to the stream. Returns false when the backend is
 * gone. */
static bool pump_response(struct h2h1 *b)
{
    struct h2_stream *s = b->s;
    struct evbuffer *in = upstream_conn_input(b->uc);
    struct evbuffer *out = s->resp_body;
    bool done = false;
    size_t before = evbuffer_get_length(out);
    switch (b->resp_body) {
    case H1_BODY_LENGTH: {
        size_t avail = evbuffer_get_length(in);
        size_t n = avail < b->resp_remaining ? avail : (size_t)b->resp_remaining;
        evbuffer_remove_buffer(in, out, n);
        b->resp_remaining -= n;
        done = b->resp_remaining == 0;
        break;
    }
    case H1_BODY_CHUNKED: {
        uint64_t moved = 0;
        int r = h1_body_move_chunked(&b->resp_chunk, in, out, false, &moved);
        if (r < 0) {
            CG_LOG_WARN("upstream %s sent a malformed chunked body", s->upstream);
            fail(b, 502, "bad_upstream_body");
            return false;
        }
        done = r == 1;
        break;
    }
    case H1_BODY_UNTIL_CLOSE:
        evbuffer_add_buffer(out, in);
        break;
    case H1_BODY_NONE:
        done = true;
        break;
    }
    if (done) {
        destroy(b, b->keepalive && b->req_sent_end);
        h2_stream_response_end(s, NULL);
        return false;
    }
    if (evbuffer_get_length(out) != before) {
        h2_stream_response_data(s);
    }
    bound_input(b);
    return true;
}

static void on_up_read(void *arg)
{
    struct h2h1 *b = arg;
    if (!b->resp_head_done && parse_head(b) <= 0) {
        return;
    }
    if (pump_response(b)) {
        /* More to come: the database may pause that long between two reads. */
        set_timer(b, b->s->cfg->timeouts.upstream_idle);
    }
}

static void on_response_consumed(struct h2_stream *s, size_t n)
{
    struct h2h1 *b = s->backend;
    if (b->uc == NULL || !b->resp_head_done) {
        return;
    }
    size_t limit = h2_stream_buffer_limit(s);
    size_t have = evbuffer_get_length(s->resp_body);
    if (!b->paused) {
        if (have < limit) {
            upstream_conn_set_input_max(b->uc, limit - have); /* more room */
        }
    } else if (have < limit / 2) {
        b->paused = false;
        upstream_conn_set_input_max(b->uc, limit - have);
        upstream_conn_resume_read(b->uc); /* delivers from the loop, not from here */
    }
}

static void on_up_close(void *arg, enum upstream_end end)
{
    struct h2h1 *b = arg;
    struct h2_stream *s = b->s;
    b->uc = NULL; /* already freed by the pool */
    if (end == UPSTREAM_END_CONNECT_FAILED || end == UPSTREAM_END_CONNECT_TIMEOUT) {
        b->head_sent = false;
        acquire(b);
        return;
    }
    if (!b->resp_head_done) {
        if (b->reused && !b->body_started && b->attempts < 3) {
            /* A pooled connection the database had closed: nothing usable reached it. */
            b->head_sent = false;
            b->req_sent_end = false;
            acquire(b);
            return;
        }
        fail(b, 502, end == UPSTREAM_END_EOF ? "upstream_closed" : "upstream_reset");
        return;
    }
    if (b->resp_body == H1_BODY_UNTIL_CLOSE && end == UPSTREAM_END_EOF) {
        destroy(b, false);
        h2_stream_response_end(s, NULL);
        return;
    }
    fail(b, 502, "upstream_truncated");
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct h2h1 *b = arg;
    if (!b->resp_head_done) {
        if (b->req_sent_end) {
            fail(b, 504, "upstream_timeout");
        } else {
            /* The client is slow to send its body: the upstream waited long enough. */
            fail(b, 408, "client_body_timeout");
        }
        return;
    }
    fail(b, 504, "upstream_idle_timeout");
}

static void cancel(struct h2_stream *s)
{
    destroy(s->backend, false);
}

const struct h2_backend_ops h2_h1_backend_ops = {
    .name = "http/1.1",
    .start = start,
    .on_request_data = on_request_data,
    .on_response_consumed = on_response_consumed,
    .cancel = cancel,
};
