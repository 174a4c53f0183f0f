/* The sessions of the HTTP/2 client (proxy/http2/h2_client.h): one TCP connection,
 * cleartext (h2c) or under TLS (h2), to one server of an upstream, each carrying many
 * streams (h2_client.c); per worker, one struct h2_client_pool per h2c/h2 upstream. */
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
#include "proxy/http2/h2_client_internal.h"
#include "proxy/tls/tls_client.h"
#include "proxy/upstream/upstream_pool.h"
#include "proxy/upstream/upstream_server.h"

#define SEND_BATCH (64 * 1024)

static void session_flush(struct uh2_session *x);
static void session_end(struct uh2_session *x, const char *why);

/* server_text is the "ip:port" of the session's server, for logs (valid as long as the
 * process: see upstream_server_new). */
static const char *server_text(const struct uh2_session *x)
{
    return upstream_target_server(x->target)->addr.text;
}

void h2_client_session_schedule(struct uh2_session *x)
{
    if (x->ev_flush != NULL) {
        event_active(x->ev_flush, EV_TIMEOUT, 0);
    }
}

static void on_idle(evutil_socket_t fd, short what, void *arg)
{
    struct uh2_session *x = arg;
    if (x->num_streams == 0) {
        /* no stream to fail */
        session_end(x, upstream_target_retired(x->target) ? "server left the upstream" : "idle");
    }
}

/* idle_check keeps a session without streams for timeouts.keepalive_idle at most: the
 * database should not have to hold connections certgate no longer uses. */
static void idle_check(struct uh2_session *x)
{
    if (x->state == UH2_READY && x->num_streams == 0) {
        /* A server that left the upstream gets no new stream: close at once (from the
         * loop, as we may be inside an nghttp2 callback). */
        uint64_t ms =
            upstream_target_retired(x->target) ? 0 : x->pool->cfg->timeouts.keepalive_idle;
        struct timeval tv = cg_timeval_ms(ms);
        evtimer_add(x->ev_idle, &tv);
        worker_memory_released(x->pool->w); /* the streams' buffers are free */
    } else {
        evtimer_del(x->ev_idle);
    }
}

void h2_client_session_add_stream(struct uh2_session *x)
{
    x->num_streams++;
    upstream_target_begin_request(x->target);
    idle_check(x);
}

void h2_client_session_remove_stream(struct uh2_session *x)
{
    CG_BUG_ON(x->num_streams == 0);
    x->num_streams--;
    upstream_target_end_request(x->target);
    idle_check(x);
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
    tls_conn_cleanup(&x->tls); /* its SSL used the server's TLS sessions: before the drop */
    upstream_target_drop(x->target);
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
    CG_LOG_DEBUG("upstream %s: session to %s ended (%s)", x->pool->up->name, server_text(x),
                 why);
    if (was == UH2_CONNECTING && !x->connected) {
        upstream_target_mark_down(x->target, why);
    }
    /* Waiting streams were never sent: they may go to another server. */
    struct h2_client_stream *b = x->waiting;
    x->waiting = NULL;
    x->waiting_tail = &x->waiting;
    while (b != NULL) {
        struct h2_client_stream *next = b->next_wait;
        h2_client_session_remove_stream(x);
        b->sess = NULL;
        if (x->failure != CG_REASON_NONE) {
            b->failure = x->failure;
        }
        if (b->cbs != NULL && b->attempts < H2_CLIENT_MAX_RETRIES) {
            h2_client_attach(b);
        } else {
            h2_client_stream_fail(b, 502,
                                  b->failure != CG_REASON_NONE ? b->failure
                                                               : CG_REASON_UPSTREAM_CONNECT_FAILED);
            h2_client_stream_free(b);
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
            h2_client_session_remove_stream(x);
            h2_client_stream_fail(sb, 502, CG_REASON_UPSTREAM_CLOSED);
            h2_client_stream_free(sb);
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
    h2_client_stream_set_callbacks(cbs);
    nghttp2_option *opt;
    CG_BUG_ON(nghttp2_option_new(&opt) != 0);
    /* The database's window opens as the client takes response bytes. */
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_option_set_peer_max_concurrent_streams(opt, H2_CLIENT_DEFAULT_MAX_STREAMS);
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
            h2_client_stream_send(b);
        } else {
            h2_client_session_remove_stream(x);
            h2_client_stream_free(b);
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
                    server_text(x));
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
                    server_text(x), why);
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
    struct upstream_server *s = upstream_target_server(x->target);
    SSL *ssl = tls_client_new_ssl(x->pool->tls, &s->addr, s->tls_sessions);
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
        upstream_target_mark_up(x->target);
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

static struct uh2_session *session_new(struct h2_client_pool *pool, struct upstream_target *t)
{
    struct uh2_session *x = cg_xcalloc(1, sizeof(*x));
    x->pool = pool;
    x->target = t;
    upstream_target_hold(t);
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
    const struct config_address *a = &upstream_target_server(t)->addr;
    if (sock_connect(&x->sock, pool->w->base, (const struct sockaddr *)&a->addr,
                     (socklen_t)a->addr_len, pool->cfg->timeouts.upstream_connect, &sock_cbs,
                     x) != CG_OK) {
        upstream_target_mark_down(t, "connect_failed");
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
        return H2_CLIENT_DEFAULT_MAX_STREAMS;
    }
    uint32_t m =
        nghttp2_session_get_remote_settings(x->ng, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
    return m > 10000 ? 10000 : m;
}

void h2_client_attach(struct h2_client_stream *b)
{
    struct h2_client_pool **pools = worker_module_state(b->ws, &h2_client_worker_module);
    struct h2_client_pool *pool = pools[b->upstream_index];
    b->attempts++;
    struct uh2_session *x = NULL;
    while (x == NULL) {
        /* The server first, by the upstream's balance; then a session to it with room. */
        struct upstream_target *t = upstream_pool_pick(pool->health);
        if (t == NULL) {
            enum cg_reason failed =
                b->failure != CG_REASON_NONE ? b->failure : CG_REASON_UPSTREAM_CONNECT_FAILED;
            h2_client_stream_fail(b, b->attempts > 1 ? 502 : 503,
                                  b->attempts > 1 ? failed
                                                  : upstream_pool_unavailable(pool->health));
            h2_client_stream_free(b);
            return;
        }
        for (struct uh2_session *it = pool->sessions; it != NULL; it = it->next) {
            if (it->target == t && (it->state == UH2_READY || it->state == UH2_CONNECTING) &&
                it->num_streams < session_capacity(it) &&
                (it->ng == NULL || nghttp2_session_check_request_allowed(it->ng))) {
                x = it;
                break;
            }
        }
        if (x == NULL) {
            x = session_new(pool, t); /* NULL: the connect failed at once, t marked down */
        }
    }
    b->sess = x;
    h2_client_session_add_stream(x);
    b->cbs->on_server(b->arg, server_text(x));
    if (x->state == UH2_READY) {
        h2_client_stream_send(b);
        return;
    }
    b->next_wait = NULL;
    *x->waiting_tail = b;
    x->waiting_tail = &b->next_wait;
}

/* ---- pool ----------------------------------------------------------------------- */

/* on_retire: server |t| left the upstream. Sessions to it take no new stream (the
 * balance never picks it again); idle ones close now, the others when their last
 * stream ends (idle_check). */
static void on_retire(void *arg, struct upstream_target *t)
{
    struct h2_client_pool *pool = arg;
    for (struct uh2_session *x = pool->sessions; x != NULL; x = x->next) {
        if (x->target == t) {
            idle_check(x);
        }
    }
}

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
    upstream_pool_on_retire(health, on_retire, pool);
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
            h2_client_session_remove_stream(x);
            h2_client_stream_free(b);
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
                    h2_client_session_remove_stream(x);
                    h2_client_stream_free(sb);
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

