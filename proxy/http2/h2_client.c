#include "proxy/http2/h2_client.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/bug.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "proxy/core/runtime.h"
#include "proxy/core/worker.h"
#include "proxy/http2/h2_stream.h"
#include "proxy/net/sock.h"
#include "proxy/tls/tls_client.h"
#include "proxy/tls/tls_conn.h"
#include "proxy/upstream/upstream_pool.h"

/* Streams per session before the server's SETTINGS arrive. */
#define DEFAULT_MAX_STREAMS 100
#define SEND_BATCH (64 * 1024)
#define MAX_RETRIES 3

/* Where a session is. */
enum uh2_state {
    UH2_CONNECTING = 0, /* TCP connect (then TLS handshake) in progress */
    UH2_READY,          /* HTTP/2 session running: takes new streams */
    UH2_GOAWAY,         /* the server sent GOAWAY: no new streams */
    UH2_DEAD,           /* over; freed from the loop */
};

struct h2_client_stream;

struct uh2_session {
    struct h2_client_pool *pool;
    size_t server; /* index in the upstream's servers */
    enum uh2_state state;
    struct sock sock;    /* h2c transport, or the connecting socket for h2 */
    struct evbuffer *in; /* h2c input */
    bool use_tls;
    struct tls_conn tls; /* h2 transport once connected */
    nghttp2_session *ng;
    struct evbuffer *out;
    struct event *ev_flush;
    struct event *ev_free;
    struct event *ev_idle;            /* timeouts.keepalive_idle without streams: close */
    struct event *ev_handshake;       /* h2: TCP connect and TLS handshake deadline */
    struct h2_client_stream *waiting; /* streams waiting for UH2_READY, FIFO */
    struct h2_client_stream **waiting_tail;
    unsigned num_streams; /* waiting + submitted and not closed */
    bool connected;       /* TCP connect succeeded */
    enum cg_reason failure; /* why the TLS handshake failed (a 502 reason), or NONE */
    struct uh2_session *prev, *next;
};

struct h2_client_pool {
    struct worker *w;
    const struct config_upstream *up;
    const struct config *cfg;
    struct upstream_pool *health;
    struct tls_client *tls; /* h2 only: the upstream's TLS client (shared, not owned) */
    struct uh2_session *sessions;
};

struct h2_client_stream {
    struct worker_snapshot *ws; /* its client connection's snapshot: the sessions of
                                   that snapshot's upstream pools carry it */
    size_t upstream_index;
    struct uh2_session *sess;                     /* NULL between sessions */
    const struct h2_client_stream_callbacks *cbs; /* NULL once the front detached (a
                                                     final callback, or cancelled) */
    void *arg;
    const nghttp2_nv *nv; /* the request, the front's (valid while attached) */
    size_t num_nv;
    bool has_body;
    int32_t id; /* 0 until submitted */
    struct h2_fields resp;
    struct h2_fields trailers;
    int status;
    uint64_t sent_us;     /* monotonic, when the request was submitted */
    uint64_t response_us; /* from then to the response head (0 before it) */
    bool head_done;
    bool body_started; /* request bytes went to a session */
    bool deferred;
    uint32_t unacked; /* response bytes the client took since our last WINDOW_UPDATE */
    unsigned attempts;
    enum cg_reason failure;    /* why the last session it waited for failed, or NONE */
    struct h2_zombies *zombie; /* counted against the client's stream limit */
    struct event *ev_timer;    /* timeouts.upstream_response until the head */
    struct h2_client_stream *next_wait;
};

static void attach(struct h2_client_stream *b);
static void session_flush(struct uh2_session *x);
static void session_end(struct uh2_session *x, const char *why);

static void schedule(struct uh2_session *x)
{
    if (x->ev_flush != NULL) {
        event_active(x->ev_flush, EV_TIMEOUT, 0);
    }
}

static void stream_free(struct h2_client_stream *b)
{
    if (b->ev_timer != NULL) {
        event_free(b->ev_timer);
    }
    if (b->zombie != NULL) {
        h2_zombie_end(b->zombie);
    }
    h2_fields_cleanup(&b->resp);
    h2_fields_cleanup(&b->trailers);
    free(b);
}

/* detach takes the front off |b| before its final callback; it returns the callbacks
 * to call, or NULL when the front is gone already. */
static const struct h2_client_stream_callbacks *detach(struct h2_client_stream *b)
{
    const struct h2_client_stream_callbacks *cbs = b->cbs;
    b->cbs = NULL;
    return cbs;
}

/* detach_fail fails the front (if still attached) and forgets it. */
static void detach_fail(struct h2_client_stream *b, int status, enum cg_reason reason)
{
    const struct h2_client_stream_callbacks *cbs = detach(b);
    if (cbs != NULL) {
        cbs->on_fail(b->arg, status, reason);
    }
}

/* ---- data provider: client request body -> database ----------------------------- */

static ssize_t read_req(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length,
                        uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    struct h2_client_stream *b = src->ptr;
    if (b->cbs == NULL) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        return 0;
    }
    bool end = false;
    const struct h2_fields *trailers = NULL;
    size_t n = b->cbs->read_body(b->arg, buf, length, &end, &trailers);
    if (n > 0) {
        b->body_started = true;
    }
    if (end) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        if (trailers != NULL && trailers->num > 0) {
            if (nghttp2_submit_trailer(ng, id, trailers->nv, trailers->num) == 0) {
                *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
            }
        }
        return (ssize_t)n;
    }
    if (n == 0) {
        b->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

static void on_idle(evutil_socket_t fd, short what, void *arg)
{
    struct uh2_session *x = arg;
    if (x->num_streams == 0) {
        session_end(x, "idle"); /* no stream to fail */
    }
}

/* idle_check keeps a session without streams for timeouts.keepalive_idle at most: the
 * database should not have to hold connections certgate no longer uses. */
static void idle_check(struct uh2_session *x)
{
    if (x->state == UH2_READY && x->num_streams == 0) {
        uint64_t ms = x->pool->cfg->timeouts.keepalive_idle;
        struct timeval tv = cg_timeval_ms(ms);
        evtimer_add(x->ev_idle, &tv);
        worker_memory_released(x->pool->w); /* the streams' buffers are free */
    } else {
        evtimer_del(x->ev_idle);
    }
}

static void submit(struct h2_client_stream *b)
{
    struct uh2_session *x = b->sess;
    nghttp2_data_provider prd = {.source.ptr = b, .read_callback = read_req};
    int32_t id =
        nghttp2_submit_request(x->ng, NULL, b->nv, b->num_nv, b->has_body ? &prd : NULL, b);
    if (id < 0) {
        x->num_streams--;
        b->sess = NULL;
        detach_fail(b, 502, CG_REASON_UPSTREAM_SUBMIT_FAILED);
        stream_free(b);
        idle_check(x);
        return;
    }
    b->id = id;
    b->sent_us = cg_monotonic_us();
    uint64_t ms = x->pool->cfg->timeouts.upstream_response;
    struct timeval tv = cg_timeval_ms(ms);
    evtimer_add(b->ev_timer, &tv);
    schedule(x);
}

/* ---- nghttp2 client callbacks --------------------------------------------------- */

static int on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    struct h2_client_stream *b = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
    if (b == NULL || frame->hd.type != NGHTTP2_HEADERS) {
        return 0;
    }
    if (!b->head_done) {
        if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
            b->status = atoi((const char *)value);
            return 0;
        }
        if (namelen > 0 && name[0] == ':') {
            return 0;
        }
        h2_fields_add(&b->resp, (const char *)name, namelen, (const char *)value, valuelen, false);
        return 0;
    }
    h2_fields_add(&b->trailers, (const char *)name, namelen, (const char *)value, valuelen, false);
    return 0;
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
    struct uh2_session *x = ud;
    if (frame->hd.type == NGHTTP2_GOAWAY) {
        CG_LOG_DEBUG("upstream %s: GOAWAY last_stream_id=%d error=%u", x->pool->up->name,
                     frame->goaway.last_stream_id, frame->goaway.error_code);
        if (x->state == UH2_READY) {
            x->state = UH2_GOAWAY;
        }
        return 0;
    }
    struct h2_client_stream *b =
        frame->hd.stream_id ? nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id) : NULL;
    if (b == NULL) {
        return 0;
    }
    bool end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (frame->hd.type == NGHTTP2_HEADERS) {
        if (!b->head_done) {
            if (b->status >= 100 && b->status < 200) {
                h2_fields_clear(&b->resp);
                b->status = 0;
                return 0;
            }
            b->head_done = true;
            evtimer_del(b->ev_timer);
            b->response_us = cg_monotonic_us() - b->sent_us;
            upstream_pool_count_response(x->pool->health, x->server, b->status, b->response_us);
            const struct h2_client_stream_callbacks *cbs = end ? detach(b) : b->cbs;
            if (cbs != NULL) {
                cbs->on_head(b->arg, b->status, &b->resp, end);
            }
            return 0;
        }
        const struct h2_client_stream_callbacks *cbs = end ? detach(b) : NULL;
        if (cbs != NULL) {
            cbs->on_end(b->arg, &b->trailers);
        }
        return 0;
    }
    const struct h2_client_stream_callbacks *cbs =
        frame->hd.type == NGHTTP2_DATA && end ? detach(b) : NULL;
    if (cbs != NULL) {
        cbs->on_end(b->arg, NULL);
    }
    return 0;
}

static int on_data_chunk_recv(nghttp2_session *ng, uint8_t flags, int32_t stream_id,
                              const uint8_t *data, size_t len, void *ud)
{
    /* Connection window at once (one slow client must not stall the session other
     * clients share); the stream window as the client takes the bytes. */
    nghttp2_session_consume_connection(ng, len);
    struct h2_client_stream *b = nghttp2_session_get_stream_user_data(ng, stream_id);
    if (b == NULL || b->cbs == NULL) {
        nghttp2_session_consume_stream(ng, stream_id, len);
        return 0;
    }
    b->cbs->on_data(b->arg, data, len);
    return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t stream_id, uint32_t error_code, void *ud)
{
    struct uh2_session *x = ud;
    struct h2_client_stream *b = nghttp2_session_get_stream_user_data(ng, stream_id);
    if (b == NULL) {
        return 0;
    }
    x->num_streams--;
    b->sess = NULL;
    idle_check(x);
    if (b->cbs != NULL) {
        if (error_code == NGHTTP2_REFUSED_STREAM && !b->head_done && !b->body_started &&
            b->attempts < MAX_RETRIES) {
            /* Never processed by the database (RFC 9113 §8.7): safe on another session. */
            b->id = 0;
            b->deferred = false;
            h2_fields_clear(&b->resp);
            attach(b);
            return 0;
        }
        detach_fail(b, 502,
                    error_code == NGHTTP2_NO_ERROR ? CG_REASON_UPSTREAM_INCOMPLETE : CG_REASON_UPSTREAM_RESET);
    }
    stream_free(b);
    return 0;
}

/* ---- sessions -------------------------------------------------------------------- */

static void session_free(struct uh2_session *x)
{
    struct h2_client_pool *pool = x->pool;
    if (x->prev != NULL) {
        x->prev->next = x->next;
    } else if (pool->sessions == x) {
        pool->sessions = x->next;
    }
    if (x->next != NULL) {
        x->next->prev = x->prev;
    }
    if (x->ng != NULL) {
        nghttp2_session_del(x->ng);
    }
    sock_cleanup(&x->sock); /* nothing left to do once handed to the TLS connection */
    evbuffer_free(x->in);
    tls_conn_cleanup(&x->tls);
    event_free(x->ev_flush);
    event_free(x->ev_free);
    event_free(x->ev_idle);
    event_free(x->ev_handshake);
    evbuffer_free(x->out);
    free(x);
}

static void on_free(evutil_socket_t fd, short what, void *arg)
{
    session_free(arg);
}

/* session_end fails or retries every stream and frees the session from the loop. */
static void session_end(struct uh2_session *x, const char *why)
{
    if (x->state == UH2_DEAD) {
        return;
    }
    enum uh2_state was = x->state;
    x->state = UH2_DEAD;
    CG_LOG_DEBUG("upstream %s: session to %s ended (%s)", x->pool->up->name,
                 upstream_pool_server_addr(x->pool->health, x->server)->text, why);
    if (was == UH2_CONNECTING && !x->connected) {
        upstream_pool_mark_down(x->pool->health, x->server, why);
    }
    /* Waiting streams were never sent: they may go to another server. */
    struct h2_client_stream *b = x->waiting;
    x->waiting = NULL;
    x->waiting_tail = &x->waiting;
    while (b != NULL) {
        struct h2_client_stream *next = b->next_wait;
        x->num_streams--;
        b->sess = NULL;
        if (x->failure != CG_REASON_NONE) {
            b->failure = x->failure;
        }
        if (b->cbs != NULL && b->attempts < MAX_RETRIES) {
            attach(b);
        } else {
            detach_fail(b, 502,
                        b->failure != CG_REASON_NONE ? b->failure : CG_REASON_UPSTREAM_CONNECT_FAILED);
            stream_free(b);
        }
        b = next;
    }
    if (x->ng != NULL) {
        /* Streams in flight: the database may have acted on them, no retry. Closing the
         * session runs no callbacks, so walk them through the stream list. */
        int64_t next_id = nghttp2_session_get_next_stream_id(x->ng);
        for (int64_t id = 1; id < next_id; id += 2) {
            struct h2_client_stream *sb = nghttp2_session_get_stream_user_data(x->ng, (int32_t)id);
            if (sb == NULL) {
                continue;
            }
            nghttp2_session_set_stream_user_data(x->ng, (int32_t)id, NULL);
            x->num_streams--;
            detach_fail(sb, 502, CG_REASON_UPSTREAM_CLOSED);
            stream_free(sb);
        }
    }
    event_active(x->ev_free, EV_TIMEOUT, 0);
}

static void session_flush(struct uh2_session *x)
{
    if (x->state == UH2_DEAD || x->state == UH2_CONNECTING || x->ng == NULL) {
        return;
    }
    size_t hw = x->pool->cfg->limits.buffer_high_water;
    for (;;) {
        size_t pending =
            x->use_tls ? tls_conn_output_pending(&x->tls) : sock_output_pending(&x->sock);
        if (pending > hw) {
            break; /* resumed by the transport's drain callback */
        }
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(x->ng, &data);
        if (n < 0) {
            session_end(x, nghttp2_strerror((int)n));
            return;
        }
        if (n > 0) {
            evbuffer_add(x->out, data, (size_t)n);
        }
        if (n == 0 || evbuffer_get_length(x->out) >= SEND_BATCH) {
            if (x->use_tls) {
                if (evbuffer_get_length(x->out) > 0 && tls_conn_write(&x->tls, x->out) != CG_OK) {
                    session_end(x, "tls_write");
                    return;
                }
            } else {
                evbuffer_add_buffer(sock_output(&x->sock), x->out);
            }
            if (n == 0) {
                break;
            }
        }
    }
    if (!nghttp2_session_want_read(x->ng) && !nghttp2_session_want_write(x->ng)) {
        session_end(x, "finished");
    }
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    session_flush(arg);
}

static void session_recv(struct uh2_session *x, struct evbuffer *in)
{
    size_t len;
    while (x->state != UH2_DEAD && (len = evbuffer_get_length(in)) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1) {
            break;
        }
        ssize_t n = nghttp2_session_mem_recv(x->ng, v.iov_base, v.iov_len);
        if (n < 0) {
            evbuffer_drain(in, len);
            session_end(x, nghttp2_strerror((int)n));
            return;
        }
        evbuffer_drain(in, (size_t)n);
    }
    session_flush(x);
}

static void session_ready(struct uh2_session *x)
{
    nghttp2_session_callbacks *cbs;
    CG_BUG_ON(nghttp2_session_callbacks_new(&cbs) != 0);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_option *opt;
    CG_BUG_ON(nghttp2_option_new(&opt) != 0);
    /* The database's window opens as the client takes response bytes. */
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_option_set_peer_max_concurrent_streams(opt, DEFAULT_MAX_STREAMS);
    int rv = nghttp2_session_client_new2(&x->ng, cbs, x, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    if (rv != 0) {
        x->ng = NULL;
        session_end(x, "nghttp2_session_client_new2");
        return;
    }
    /* A stream's window is what it may buffer for its client (docs/http2.md): the
     * database sends no more until the client takes bytes (on_response_consumed). */
    uint32_t window = (uint32_t)h2_response_buffer_limit(&x->pool->cfg->limits);
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, window},
    };
    nghttp2_submit_settings(x->ng, NGHTTP2_FLAG_NONE, iv, 2);
    nghttp2_session_set_local_window_size(x->ng, NGHTTP2_FLAG_NONE, 0, (int32_t)window * 16);
    x->state = UH2_READY;
    struct h2_client_stream *b = x->waiting;
    x->waiting = NULL;
    x->waiting_tail = &x->waiting;
    while (b != NULL) {
        struct h2_client_stream *next = b->next_wait;
        if (b->cbs != NULL) {
            submit(b);
        } else {
            x->num_streams--;
            stream_free(b);
        }
        b = next;
    }
    session_flush(x);
}

/* h2c transport */
static void on_sock_readable(void *arg, bool kicked)
{
    struct uh2_session *x = arg;
    (void)kicked; /* never kicked */
    ssize_t n = sock_read(&x->sock, x->in, 64 * 1024);
    if (n > 0 || (n < 0 && sock_again(errno))) {
        session_recv(x, x->in);
        return;
    }
    sock_read_stop(&x->sock); /* it stays readable after the end */
    if (n == 0) {
        session_recv(x, x->in);
    }
    session_end(x, n == 0 ? "eof" : "error");
}

static void on_sock_drain(void *arg)
{
    session_flush(arg);
}

/* h2 transport (TLS) */
static void on_tls_handshake(void *arg)
{
    struct uh2_session *x = arg;
    evtimer_del(x->ev_handshake);
    size_t len;
    const char *alpn = tls_conn_alpn(&x->tls, &len);
    if (alpn == NULL || len != 2 || memcmp(alpn, "h2", 2) != 0) {
        CG_LOG_WARN("upstream %s: server %s did not negotiate ALPN h2", x->pool->up->name,
                    upstream_pool_server_addr(x->pool->health, x->server)->text);
        session_end(x, "no_alpn_h2");
        return;
    }
    session_ready(x);
}

static void on_tls_read(void *arg)
{
    struct uh2_session *x = arg;
    if (x->state != UH2_DEAD) {
        session_recv(x, tls_conn_input(&x->tls));
    }
}

static void on_tls_drain(void *arg)
{
    session_flush(arg);
}

static void on_tls_close(void *arg, enum tls_conn_end end)
{
    struct uh2_session *x = arg;
    if (x->state == UH2_CONNECTING) {
        /* The TLS handshake failed (certificate, ALPN): treat the server as down. */
        x->connected = false;
        char why[200];
        enum tls_client_failure f = tls_client_failure(x->tls.ssl, x->tls.ssl_err, why, sizeof(why));
        x->failure = tls_client_failure_reason(f);
        CG_LOG_WARN("upstream %s: TLS handshake with %s failed (%s)", x->pool->up->name,
                    upstream_pool_server_addr(x->pool->health, x->server)->text, why);
        session_end(x, cg_reason_str(x->failure));
        return;
    }
    session_end(x, tls_conn_end_str(end));
}

static const struct tls_conn_callbacks tls_cbs = {
    .on_handshake = on_tls_handshake,
    .on_read = on_tls_read,
    .on_drain = on_tls_drain,
    .on_close = on_tls_close,
};

static void start_tls(struct uh2_session *x)
{
    int fd = sock_detach(&x->sock);
    SSL *ssl = tls_client_new_ssl(x->pool->tls, x->server);
    if (ssl == NULL) {
        close(fd);
        session_end(x, "SSL_new");
        return;
    }
    size_t low = x->pool->cfg->limits.buffer_high_water / 2;
    if (tls_conn_init(&x->tls, x->pool->w->base, fd, ssl, &tls_cbs, x, low) != CG_OK) {
        session_end(x, "tls_conn_init");
        return;
    }
    x->use_tls = true;
    tls_conn_start_handshake(&x->tls);
}

static void on_handshake_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct uh2_session *x = arg;
    if (x->state == UH2_CONNECTING) {
        /* Before the TCP connect the socket's own deadline reports it. */
        x->failure = x->connected ? CG_REASON_UPSTREAM_TLS_HANDSHAKE_TIMEOUT : CG_REASON_NONE;
        x->connected = false;
        session_end(x, x->failure != CG_REASON_NONE ? cg_reason_str(x->failure) : "connect_timeout");
    }
}

static void on_sock_event(void *arg, enum sock_event ev)
{
    struct uh2_session *x = arg;
    if (ev == SOCK_CONNECTED) {
        x->connected = true;
        upstream_pool_mark_up(x->pool->health, x->server);
        int one = 1;
        setsockopt(x->sock.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (x->pool->up->protocol == CONFIG_UPSTREAM_H2) {
            start_tls(x);
        } else {
            sock_read_start(&x->sock);
            session_ready(x);
        }
        return;
    }
    if (x->state == UH2_CONNECTING) {
        session_end(x, ev == SOCK_TIMEOUT ? "connect_timeout" : "connect_failed");
        return;
    }
    session_end(x, "error");
}

static const struct sock_callbacks sock_cbs = {
    .on_readable = on_sock_readable,
    .on_drain = on_sock_drain,
    .on_event = on_sock_event,
};

static struct uh2_session *session_new(struct h2_client_pool *pool, size_t server)
{
    struct uh2_session *x = cg_xcalloc(1, sizeof(*x));
    x->pool = pool;
    x->server = server;
    x->state = UH2_CONNECTING;
    x->waiting_tail = &x->waiting;
    x->out = evbuffer_new();
    x->ev_flush = event_new(pool->w->base, -1, 0, on_flush, x);
    x->ev_free = event_new(pool->w->base, -1, 0, on_free, x);
    x->ev_idle = evtimer_new(pool->w->base, on_idle, x);
    x->ev_handshake = evtimer_new(pool->w->base, on_handshake_timeout, x);
    x->in = evbuffer_new();
    CG_BUG_ON(x->out == NULL || x->ev_flush == NULL || x->ev_free == NULL || x->in == NULL ||
              x->ev_handshake == NULL);
    x->next = pool->sessions;
    if (pool->sessions != NULL) {
        pool->sessions->prev = x;
    }
    pool->sessions = x;
    const struct config_address *a = upstream_pool_server_addr(pool->health, server);
    if (sock_connect(&x->sock, pool->w->base, (const struct sockaddr *)&a->addr,
                     (socklen_t)a->addr_len, pool->cfg->timeouts.upstream_connect, &sock_cbs,
                     x) != CG_OK) {
        upstream_pool_mark_down(pool->health, server, "connect_failed");
        x->state = UH2_DEAD;
        event_active(x->ev_free, EV_TIMEOUT, 0);
        return NULL;
    }
    sock_set_low_water(&x->sock, pool->cfg->limits.buffer_high_water / 2);
    if (pool->up->protocol == CONFIG_UPSTREAM_H2) {
        /* Connect and handshake together: a server that takes the connection but never
         * answers the handshake is down too. */
        struct timeval tv = cg_timeval_ms(pool->cfg->timeouts.upstream_connect);
        evtimer_add(x->ev_handshake, &tv);
    }
    return x;
}

static unsigned session_capacity(struct uh2_session *x)
{
    if (x->ng == NULL) {
        return DEFAULT_MAX_STREAMS;
    }
    uint32_t m =
        nghttp2_session_get_remote_settings(x->ng, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
    return m > 10000 ? 10000 : m;
}

/* attach puts |b| on a session with room, opening one if needed. */
static void attach(struct h2_client_stream *b)
{
    struct h2_client_pool **pools = worker_module_state(b->ws, &h2_client_worker_module);
    struct h2_client_pool *pool = pools[b->upstream_index];
    b->attempts++;
    struct uh2_session *x = NULL;
    for (struct uh2_session *it = pool->sessions; it != NULL; it = it->next) {
        if ((it->state == UH2_READY || it->state == UH2_CONNECTING) &&
            it->num_streams < session_capacity(it) &&
            (it->ng == NULL || nghttp2_session_check_request_allowed(it->ng))) {
            x = it;
            break;
        }
    }
    while (x == NULL) {
        int server = upstream_pool_pick_server(pool->health);
        if (server < 0) {
            enum cg_reason failed =
                b->failure != CG_REASON_NONE ? b->failure : CG_REASON_UPSTREAM_CONNECT_FAILED;
            detach_fail(b, b->attempts > 1 ? 502 : 503,
                        b->attempts > 1 ? failed : CG_REASON_NO_HEALTHY_SERVER);
            stream_free(b);
            return;
        }
        x = session_new(pool, (size_t)server);
    }
    b->sess = x;
    x->num_streams++;
    idle_check(x);
    b->cbs->on_server(b->arg, upstream_pool_server_addr(pool->health, x->server)->text);
    if (x->state == UH2_READY) {
        submit(b);
        return;
    }
    b->next_wait = NULL;
    *x->waiting_tail = b;
    x->waiting_tail = &b->next_wait;
}

/* ---- streams -------------------------------------------------------------------- */

/* on_timer: no response head within timeouts.upstream_response. */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct h2_client_stream *b = arg;
    if (b->cbs == NULL || b->head_done || b->sess == NULL || b->id <= 0) {
        return;
    }
    nghttp2_submit_rst_stream(b->sess->ng, NGHTTP2_FLAG_NONE, b->id, NGHTTP2_CANCEL);
    schedule(b->sess);
    detach_fail(b, 504, CG_REASON_UPSTREAM_TIMEOUT);
}

struct h2_client_stream *h2_client_stream_new(struct worker_snapshot *ws, size_t upstream_index,
                                              const struct h2_client_stream_callbacks *cbs,
                                              void *arg)
{
    struct h2_client_stream *b = cg_xcalloc(1, sizeof(*b));
    b->ev_timer = evtimer_new(ws->w->base, on_timer, b);
    CG_BUG_ON(b->ev_timer == NULL);
    b->ws = ws;
    b->upstream_index = upstream_index;
    b->cbs = cbs;
    b->arg = arg;
    return b;
}

void h2_client_stream_submit(struct h2_client_stream *b, const nghttp2_nv *nv, size_t num,
                             bool has_body)
{
    b->nv = nv;
    b->num_nv = num;
    b->has_body = has_body;
    attach(b);
}

void h2_client_stream_resume(struct h2_client_stream *b)
{
    if (b->sess != NULL && b->id > 0 && b->deferred) {
        b->deferred = false;
        nghttp2_session_resume_data(b->sess->ng, b->id);
        schedule(b->sess);
    }
}

void h2_client_stream_consumed(struct h2_client_stream *b, size_t n)
{
    if (b->sess == NULL || b->id <= 0 || b->sess->ng == NULL) {
        return;
    }
    /* The stream window is what the front may buffer (h2_response_buffer_limit), so it
     * is small: reopen it by a quarter at a time instead of nghttp2's half, or a bulk
     * download waits for the database at every half window. */
    b->unacked += (uint32_t)n;
    if (b->unacked >= h2_response_buffer_limit(&b->sess->pool->cfg->limits) / 4) {
        nghttp2_submit_window_update(b->sess->ng, NGHTTP2_FLAG_NONE, b->id, (int32_t)b->unacked);
        b->unacked = 0;
        schedule(b->sess);
    }
}

uint64_t h2_client_stream_response_us(const struct h2_client_stream *b)
{
    return b->response_us;
}

bool h2_client_stream_submitted(const struct h2_client_stream *b)
{
    return b->sess != NULL && b->id > 0;
}

void h2_client_stream_cancel(struct h2_client_stream *b, struct h2_zombies *zombie)
{
    b->cbs = NULL;
    struct uh2_session *x = b->sess;
    if (x != NULL && b->id > 0) {
        b->zombie = zombie;
        /* Freed when the database's stream closes (on_stream_close). */
        nghttp2_submit_rst_stream(x->ng, NGHTTP2_FLAG_NONE, b->id, NGHTTP2_CANCEL);
        schedule(x);
        return;
    }
    if (zombie != NULL) {
        h2_zombie_end(zombie);
    }
    if (x == NULL) {
        stream_free(b);
    }
    /* Else still waiting for the session: it drops detached streams when ready. */
}

/* ---- pool ----------------------------------------------------------------------- */

static struct h2_client_pool *pool_new(struct worker_snapshot *ws, const struct config_upstream *up,
                                       struct upstream_pool *health, struct tls_client *tls)
{
    struct h2_client_pool *pool = cg_xcalloc(1, sizeof(*pool));
    pool->w = ws->w;
    pool->up = up;
    pool->cfg = ws->snap->cfg;
    pool->health = health;
    /* The configuration requires tls for h2, and the process does not start when its
     * files do not load (control/process.c). */
    CG_BUG_ON(up->protocol == CONFIG_UPSTREAM_H2 && tls == NULL);
    pool->tls = tls;
    return pool;
}

static void pool_free(struct h2_client_pool *pool)
{
    if (pool == NULL) {
        return;
    }
    while (pool->sessions != NULL) {
        struct uh2_session *x = pool->sessions;
        /* No client stream is left: free stream records without callbacks. */
        struct h2_client_stream *b = x->waiting;
        while (b != NULL) {
            struct h2_client_stream *next = b->next_wait;
            stream_free(b);
            b = next;
        }
        x->waiting = NULL;
        if (x->ng != NULL) {
            int64_t next_id = nghttp2_session_get_next_stream_id(x->ng);
            for (int64_t id = 1; id < next_id; id += 2) {
                struct h2_client_stream *sb =
                    nghttp2_session_get_stream_user_data(x->ng, (int32_t)id);
                if (sb != NULL) {
                    nghttp2_session_set_stream_user_data(x->ng, (int32_t)id, NULL);
                    stream_free(sb);
                }
            }
        }
        session_free(x);
    }
    free(pool);
}

/* The module's state is one pool per configured upstream, in configuration order:
 * sessions for the h2c and h2 ones, NULL for the others. */
static void *worker_init(struct worker_snapshot *ws)
{
    const struct config *cfg = ws->snap->cfg;
    struct h2_client_pool **pools =
        cg_xcalloc(cfg->num_upstreams ? cfg->num_upstreams : 1, sizeof(*pools));
    for (size_t i = 0; i < cfg->num_upstreams; i++) {
        if (cfg->upstreams[i].protocol != CONFIG_UPSTREAM_HTTP11) {
            pools[i] = pool_new(ws, &cfg->upstreams[i], ws->pools[i], ws->snap->upstream_tls[i]);
        }
    }
    return pools;
}

static void worker_cleanup(struct worker_snapshot *ws, void *state)
{
    struct h2_client_pool **pools = state;
    for (size_t i = 0; i < ws->snap->cfg->num_upstreams; i++) {
        pool_free(pools[i]);
    }
    free(pools);
}

const struct worker_module h2_client_worker_module = {
    .name = "h2 upstream sessions",
    .init = worker_init,
    .cleanup = worker_cleanup,
};
