#include "proxy/upstream/upstream_pool.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/bug.h"
#include "common/counter.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "proxy/net/sock.h"
#include "proxy/tls/tls_client.h"
#include "proxy/tls/tls_conn.h"
#include "proxy/upstream/upstream_pool_internal.h"
#include "proxy/upstream/upstream_set.h"

/* Plaintext encrypted per SSL_write: one full TLS record. */
#define TLS_RECORD 16384

enum conn_state {
    CONN_CONNECTING, /* TCP connect (then TLS handshake) in progress, owned by a request */
    CONN_BUSY,       /* carrying a request */
    CONN_IDLE,       /* in the pool, watched for close */
};

/* The transport of a connection to a server of a tls upstream: the TLS glue over the
 * socket the TCP connect produced. The owner writes plaintext into |out|, encrypted
 * from the loop while the socket's backlog is under limits.buffer_high_water, so that
 * what waits stays in |out| where the owner measures its back-pressure. */
struct upstream_tls {
    struct tls_conn tc;               /* set up once the TCP connect succeeded */
    struct evbuffer *out;             /* plaintext from the owner */
    struct evbuffer_cb_entry *out_cb; /* schedules ev_encrypt when |out| grows */
    struct event ev_encrypt;          /* activated by hand: encrypt |out| */
    struct event ev_deadline;         /* timeouts.upstream_connect for TCP + handshake */
    bool got_plaintext;               /* the server has sent application data */
    struct upstream_tls *next_dying;
};

struct upstream_conn {
    struct upstream_pool *pool;
    struct upstream_target *server; /* held (holds) for the connection's life */
    struct sock sock;         /* the transport of a cleartext connection; for TLS only its
                                 TCP connect, then the socket moves to tls->tc */
    struct upstream_tls *tls; /* TLS transport (tls upstreams), else NULL */
    struct evbuffer *in;      /* what the owner reads: ours (cleartext) or the TLS
                                 connection's plaintext (NULL until the TCP connect) */
    struct evbuffer *out;     /* what the owner writes: the socket's output (cleartext)
                                 or tls->out */
    const struct upstream_callbacks *cbs;
    void *arg;
    enum conn_state state;
    bool paused;
    size_t in_max;        /* owner's bound on |in| after a read; 0 = buffer_high_water */
    bool eof;             /* the server closed; delivered once input is consumed */
    unsigned in_cb;       /* owner callbacks on the stack: release must wait */
    bool release_pending; /* upstream_release was called from inside a callback */
    bool release_reusable;
    uint64_t idle_since_ms; /* when it entered the idle pool */
    struct upstream_conn *next_idle;
};

const char *upstream_end_str(enum upstream_end end)
{
    switch (end) {
    case UPSTREAM_END_CONNECT_FAILED:
        return "connect_failed";
    case UPSTREAM_END_CONNECT_TIMEOUT:
        return "connect_timeout";
    case UPSTREAM_END_EOF:
        return "eof";
    case UPSTREAM_END_ERROR:
        return "error";
    }
    return "?";
}



static void conn_free(struct upstream_conn *uc);

/* Idle connections expire by a sweep, not by a deadline on each socket's read event:
 * that would cost an epoll_ctl each time a connection is taken from or returned to the
 * pool. Idle lists are most recently used first, so the expired ones are a tail. */
static void arm_sweep(struct upstream_pool *pool, uint64_t now)
{
    uint64_t ttl = pool->cfg->timeouts.keepalive_idle;
    uint64_t next = UINT64_MAX;
    for (size_t i = 0; i < pool->num_targets; i++) {
        for (struct upstream_conn *uc = pool->targets[i]->idle; uc != NULL; uc = uc->next_idle) {
            if (uc->next_idle == NULL && uc->idle_since_ms + ttl < next) {
                next = uc->idle_since_ms + ttl;
            }
        }
    }
    if (next == UINT64_MAX) {
        return;
    }
    uint64_t ms = next > now ? next - now : 0;
    struct timeval tv = cg_timeval_ms(ms);
    evtimer_add(pool->ev_sweep, &tv);
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    struct upstream_pool *pool = arg;
    uint64_t now = upstream_now_ms(pool->base);
    uint64_t ttl = pool->cfg->timeouts.keepalive_idle;
    for (size_t i = 0; i < pool->num_targets; i++) {
        struct upstream_target *s = pool->targets[i];
        struct upstream_conn **pp = &s->idle;
        while (*pp != NULL && (*pp)->idle_since_ms + ttl > now) {
            pp = &(*pp)->next_idle;
        }
        struct upstream_conn *uc = *pp;
        *pp = NULL;
        while (uc != NULL) {
            struct upstream_conn *next = uc->next_idle;
            s->num_idle--;
            conn_free(uc);
            uc = next;
        }
    }
    arm_sweep(pool, now);
}

static void on_reap(evutil_socket_t fd, short what, void *arg);




struct upstream_pool *upstream_pool_new(struct event_base *base, const struct config_upstream *up,
                                        const struct config *cfg, struct tls_client *tls,
                                        struct upstream_set *set, unsigned worker)
{
    struct upstream_pool *pool = cg_xcalloc(1, sizeof(*pool));
    pool->base = base;
    pool->up = up;
    pool->cfg = cfg;
    pool->tls = tls;
    pool->last_failure = CG_REASON_UPSTREAM_CONNECT_FAILED;
    if (tls != NULL) {
        pool->ev_reap = event_new(base, -1, 0, on_reap, pool);
        CG_BUG_ON(pool->ev_reap == NULL);
    }
    pool->worker = worker;
    pool->set = upstream_set_ref(set);
    pool->num_targets = set->num_servers;
    pool->targets = cg_xcalloc(set->num_servers ? set->num_servers : 1, sizeof(*pool->targets));
    for (size_t i = 0; i < set->num_servers; i++) {
        pool->targets[i] = upstream_target_new(pool, set->servers[i]);
    }
    pool->ev_sweep = evtimer_new(base, on_sweep, pool);
    CG_BUG_ON(pool->ev_sweep == NULL);
    return pool;
}

/* tls_free closes a TLS transport at once and frees its memory from the loop: we may be
 * inside one of its callbacks, which looks at tc.dead once it returns. */
static void tls_free(struct upstream_pool *pool, struct upstream_tls *t)
{
    tls_conn_cleanup(&t->tc); /* closes the socket */
    event_del(&t->ev_encrypt);
    event_del(&t->ev_deadline);
    evbuffer_remove_cb_entry(t->out, t->out_cb);
    evbuffer_free(t->out);
    t->out = NULL;
    t->next_dying = pool->dying;
    pool->dying = t;
    event_active(pool->ev_reap, EV_TIMEOUT, 1);
}

static void reap(struct upstream_pool *pool)
{
    while (pool->dying != NULL) {
        struct upstream_tls *t = pool->dying;
        pool->dying = t->next_dying;
        free(t);
    }
}

static void on_reap(evutil_socket_t fd, short what, void *arg)
{
    reap(arg);
}

static void conn_free(struct upstream_conn *uc)
{
    sock_cleanup(&uc->sock);
    if (uc->tls != NULL) {
        tls_free(uc->pool, uc->tls); /* uc->in was the TLS connection's (its SSL, which
                                        points at the server's sessions, is gone) */
    } else if (uc->in != NULL) {
        evbuffer_free(uc->in);
    }
    if (uc->state != CONN_IDLE) {
        uc->server->inflight--;
    }
    upstream_target_drop(uc->server);
    free(uc);
}

static void unlink_idle(struct upstream_conn *uc)
{
    struct upstream_conn **pp = &uc->server->idle;
    while (*pp != NULL && *pp != uc) {
        pp = &(*pp)->next_idle;
    }
    if (*pp == uc) {
        *pp = uc->next_idle;
        uc->server->num_idle--;
    }
    uc->next_idle = NULL;
}

void upstream_target_close_idle(struct upstream_target *t)
{
    struct upstream_conn *uc = t->idle;
    t->idle = NULL;
    t->num_idle = 0;
    while (uc != NULL) {
        struct upstream_conn *next = uc->next_idle;
        conn_free(uc);
        uc = next;
    }
}

void upstream_pool_free(struct upstream_pool *pool)
{
    if (pool == NULL) {
        return;
    }
    for (size_t i = 0; i < pool->num_targets; i++) {
        struct upstream_target *t = pool->targets[i];
        upstream_target_close_idle(t);
        /* Every connection was released before: nothing else holds it. */
        t->retired = true;
        if (t->holds == 0) {
            upstream_target_free(t);
        }
    }
    event_free(pool->ev_sweep);
    if (pool->ev_reap != NULL) {
        reap(pool);
        event_free(pool->ev_reap);
    }
    free(pool->targets);
    upstream_set_unref(pool->set);
    free(pool);
}


/* connect_failed ends a connection that never carried anything (|end| is
 * UPSTREAM_END_CONNECT_FAILED or _TIMEOUT): the server is marked down (|detail| is
 * logged) and |reason| is what upstream_pool_last_failure reports. */
static void connect_failed(struct upstream_conn *uc, enum upstream_end end, enum cg_reason reason,
                           const char *detail)
{
    const struct upstream_callbacks *cbs = uc->cbs;
    void *arg = uc->arg;
    uc->pool->last_failure = reason;
    upstream_target_mark_down(uc->server, detail);
    conn_free(uc);
    cbs->on_close(arg, end);
}

/* Deliver an end to the owner; the connection is freed first, so the owner cannot use
 * it by mistake. */
static void end_conn(struct upstream_conn *uc, enum upstream_end end)
{
    if (end == UPSTREAM_END_CONNECT_FAILED || end == UPSTREAM_END_CONNECT_TIMEOUT) {
        connect_failed(uc, end, CG_REASON_UPSTREAM_CONNECT_FAILED, upstream_end_str(end));
        return;
    }
    const struct upstream_callbacks *cbs = uc->cbs;
    void *arg = uc->arg;
    conn_free(uc);
    cbs->on_close(arg, end);
}

static void do_release(struct upstream_conn *uc, bool reusable);

/* settle finishes a release requested from inside a callback. It returns true if the
 * owner still holds |uc|. */
static bool settle(struct upstream_conn *uc)
{
    if (!uc->release_pending) {
        return true;
    }
    if (uc->in_cb == 0) {
        do_release(uc, uc->release_reusable);
    }
    return false;
}

static inline bool deliver_read(struct upstream_conn *uc)
{
    uc->in_cb++;
    uc->cbs->on_read(uc->arg);
    uc->in_cb--;
    return settle(uc);
}

/* deliver_input hands buffered bytes, then a pending end of stream, to the owner. It
 * returns true if the owner still holds |uc|. */
static bool deliver_input(struct upstream_conn *uc)
{
    if (uc->paused) {
        return true;
    }
    if (evbuffer_get_length(uc->in) > 0 && !deliver_read(uc)) {
        return false;
    }
    if (uc->eof && !uc->paused) {
        end_conn(uc, UPSTREAM_END_EOF);
        return false;
    }
    return true;
}

static size_t in_max(const struct upstream_conn *uc)
{
    return uc->in_max != 0 ? uc->in_max : uc->pool->cfg->limits.buffer_high_water;
}

/* after_read parks socket reads while the owner leaves a full buffer unconsumed. */
static void after_read(struct upstream_conn *uc)
{
    if (uc->state == CONN_BUSY && !uc->eof && evbuffer_get_length(uc->in) >= in_max(uc)) {
        sock_park(&uc->sock, uc->in, in_max(uc));
    }
}

static void on_readable(void *arg, bool kicked)
{
    struct upstream_conn *uc = arg;
    if (uc->state != CONN_BUSY) {
        if (kicked) {
            return; /* a resume still pending when the owner released it */
        }
        /* A server may not speak on an idle connection; it closed it: drop it. */
        unlink_idle(uc);
        conn_free(uc);
        return;
    }
    if (uc->paused) {
        sock_read_stop(&uc->sock); /* paused lazily: see upstream_conn_pause_read */
        return;
    }
    if (!kicked && !uc->eof) {
        ssize_t n = sock_read(&uc->sock, uc->in, in_max(uc));
        if (n == 0) {
            /* The owner sees the last bytes before the end, even if it is paused now. */
            uc->eof = true;
            sock_read_stop(&uc->sock);
        } else if (n < 0 && !sock_again(errno)) {
            end_conn(uc, UPSTREAM_END_ERROR);
            return;
        }
    }
    if (deliver_input(uc)) {
        after_read(uc);
    }
}

static void deliver_drain(struct upstream_conn *uc)
{
    if (uc->state == CONN_BUSY && !uc->release_pending) {
        uc->in_cb++;
        uc->cbs->on_drain(uc->arg);
        uc->in_cb--;
        settle(uc);
    }
}

static void on_drain(void *arg)
{
    deliver_drain(arg);
}

static void start_tls(struct upstream_conn *uc);

static void on_event(void *arg, enum sock_event ev)
{
    struct upstream_conn *uc = arg;
    if (uc->state == CONN_IDLE) {
        unlink_idle(uc);
        conn_free(uc);
        return;
    }
    if (ev == SOCK_CONNECTED) {
        int one = 1;
        setsockopt(uc->sock.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (uc->tls != NULL) {
            start_tls(uc);
            return;
        }
        uc->state = CONN_BUSY;
        upstream_target_set_down_until(uc->server, 0);
        sock_read_start(&uc->sock);
        uc->in_cb++;
        uc->cbs->on_connected(uc->arg);
        uc->in_cb--;
        settle(uc);
        return;
    }
    if (uc->state == CONN_CONNECTING) {
        end_conn(uc, ev == SOCK_TIMEOUT ? UPSTREAM_END_CONNECT_TIMEOUT
                                        : UPSTREAM_END_CONNECT_FAILED);
        return;
    }
    end_conn(uc, UPSTREAM_END_ERROR);
}

static const struct sock_callbacks sock_cbs = {
    .on_readable = on_readable,
    .on_drain = on_drain,
    .on_event = on_event,
};

/* ---- TLS transport ------------------------------------------------------------------ */

/* encrypt turns the owner's plaintext into TLS records while the socket's backlog is
 * under buffer_high_water; the rest waits in tls->out until the socket drains. Returns
 * false if the connection failed (the owner was told). */
static bool encrypt(struct upstream_conn *uc)
{
    struct upstream_tls *t = uc->tls;
    size_t hw = uc->pool->cfg->limits.buffer_high_water;
    size_t len;
    while ((len = evbuffer_get_length(t->out)) > 0 && tls_conn_output_pending(&t->tc) < hw) {
        size_t n = len < TLS_RECORD ? len : TLS_RECORD;
        const unsigned char *p = evbuffer_pullup(t->out, (ev_ssize_t)n);
        if (tls_conn_write_bytes(&t->tc, p, n) != CG_OK) {
            end_conn(uc, UPSTREAM_END_ERROR);
            return false;
        }
        evbuffer_drain(t->out, n);
    }
    return true;
}

static void on_encrypt(evutil_socket_t fd, short what, void *arg)
{
    struct upstream_conn *uc = arg;
    if (uc->state == CONN_BUSY) {
        encrypt(uc); /* the socket's drain then calls on_tls_drain */
    }
}

/* Like the socket's output, appending schedules one encryption per loop iteration, so
 * a head and a body written by pieces go out in full records. */
static void on_out_changed(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct upstream_tls *t = arg;
    if (info->n_added > 0) {
        event_active(&t->ev_encrypt, EV_TIMEOUT, 1);
    }
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct upstream_conn *uc = arg;
    if (uc->state != CONN_CONNECTING) {
        return;
    }
    if (uc->tls->tc.ssl == NULL) {
        connect_failed(uc, UPSTREAM_END_CONNECT_TIMEOUT, CG_REASON_UPSTREAM_CONNECT_FAILED,
                       "connect_timeout");
    } else {
        connect_failed(uc, UPSTREAM_END_CONNECT_TIMEOUT, CG_REASON_UPSTREAM_TLS_HANDSHAKE_TIMEOUT,
                       "TLS handshake timeout");
    }
}

static void on_tls_handshake(void *arg)
{
    struct upstream_conn *uc = arg;
    struct upstream_tls *t = uc->tls;
    evtimer_del(&t->ev_deadline);
    uc->state = CONN_BUSY;
    upstream_target_set_down_until(uc->server, 0);
    if (uc->paused) {
        tls_conn_pause_read(&t->tc); /* the handshake itself had to read */
    }
    uc->in_cb++;
    uc->cbs->on_connected(uc->arg);
    uc->in_cb--;
    settle(uc);
}

static void on_tls_read(void *arg)
{
    struct upstream_conn *uc = arg;
    if (uc->state != CONN_BUSY) {
        /* A server may not speak on an idle connection (a TLS 1.3 session ticket is no
         * plaintext): drop it. */
        unlink_idle(uc);
        conn_free(uc);
        return;
    }
    uc->tls->got_plaintext = true;
    deliver_read(uc);
}

static void on_tls_drain(void *arg)
{
    struct upstream_conn *uc = arg;
    if (uc->state != CONN_BUSY || !encrypt(uc)) {
        return;
    }
    if (evbuffer_get_length(uc->out) <= uc->pool->cfg->limits.buffer_high_water / 2) {
        deliver_drain(uc);
    }
}

static void on_tls_close(void *arg, enum tls_conn_end end)
{
    struct upstream_conn *uc = arg;
    switch (uc->state) {
    case CONN_IDLE:
        unlink_idle(uc);
        conn_free(uc);
        return;
    case CONN_CONNECTING: {
        /* The handshake failed: the server is marked down like one that refuses
         * connections, and the owner may try another. */
        char why[200];
        enum tls_client_failure f =
            tls_client_failure(uc->tls->tc.ssl, uc->tls->tc.ssl_err, why, sizeof(why));
        char detail[240];
        snprintf(detail, sizeof(detail), "TLS handshake failed (%s)", why);
        connect_failed(uc, UPSTREAM_END_CONNECT_FAILED, tls_client_failure_reason(f), detail);
        return;
    }
    case CONN_BUSY:
        if (end == TLS_END_TLS_ERROR && !uc->tls->got_plaintext &&
            tls_client_server_alert(uc->tls->tc.ssl_err)) {
            /* A TLS 1.3 server refusing us (our client certificate) after our side of
             * the handshake: the request was sent, so no retry, but the server will
             * refuse every connection: mark it down like a failed handshake. */
            char why[200];
            tls_client_failure(uc->tls->tc.ssl, uc->tls->tc.ssl_err, why, sizeof(why));
            char detail[240];
            snprintf(detail, sizeof(detail), "refused the TLS connection (%s)", why);
            uc->pool->last_failure = CG_REASON_UPSTREAM_TLS_HANDSHAKE_FAILED;
            upstream_target_mark_down(uc->server, detail);
        }
        end_conn(uc, end == TLS_END_EOF ? UPSTREAM_END_EOF : UPSTREAM_END_ERROR);
        return;
    }
}

static const struct tls_conn_callbacks tls_cbs = {
    .on_handshake = on_tls_handshake,
    .on_read = on_tls_read,
    .on_drain = on_tls_drain,
    .on_close = on_tls_close,
};

/* tls_new prepares the TLS side of a new connection: the owner's output, and the
 * deadline for the TCP connect and the handshake together. */
static struct upstream_tls *tls_new(struct upstream_conn *uc)
{
    struct upstream_pool *pool = uc->pool;
    struct upstream_tls *t = cg_xcalloc(1, sizeof(*t));
    t->out = evbuffer_new();
    CG_BUG_ON(t->out == NULL);
    t->out_cb = evbuffer_add_cb(t->out, on_out_changed, t);
    CG_BUG_ON(t->out_cb == NULL);
    CG_BUG_ON(event_assign(&t->ev_encrypt, pool->base, -1, 0, on_encrypt, uc) != 0);
    CG_BUG_ON(event_assign(&t->ev_deadline, pool->base, -1, 0, on_deadline, uc) != 0);
    struct timeval tv = cg_timeval_ms(pool->cfg->timeouts.upstream_connect);
    evtimer_add(&t->ev_deadline, &tv);
    return t;
}

/* start_tls moves the connected socket under TLS and starts the handshake. */
static void start_tls(struct upstream_conn *uc)
{
    struct upstream_pool *pool = uc->pool;
    struct upstream_tls *t = uc->tls;
    int fd = sock_detach(&uc->sock);
    SSL *ssl = tls_client_new_ssl(pool->tls, &uc->server->shared->addr,
                                  uc->server->shared->tls_sessions);
    if (ssl == NULL) {
        close(fd);
        connect_failed(uc, UPSTREAM_END_CONNECT_FAILED, CG_REASON_UPSTREAM_TLS_HANDSHAKE_FAILED,
                       "cannot create a TLS connection");
        return;
    }
    if (tls_conn_init(&t->tc, pool->base, fd, ssl, &tls_cbs, uc,
                      pool->cfg->limits.buffer_high_water / 2) != CG_OK) {
        connect_failed(uc, UPSTREAM_END_CONNECT_FAILED, CG_REASON_UPSTREAM_TLS_HANDSHAKE_FAILED,
                       "cannot create a TLS connection");
        return;
    }
    uc->in = tls_conn_input(&t->tc);
    tls_conn_set_input_max(&t->tc, in_max(uc));
    tls_conn_start_handshake(&t->tc);
}

/* tls_reusable tells whether the TLS side of a released connection can go to the pool. */
static bool tls_reusable(const struct upstream_tls *t)
{
    return !t->tc.dead && !t->tc.closing && !t->tc.eof && tls_conn_output_pending(&t->tc) == 0;
}

/* ---- pool -------------------------------------------------------------------------- */


int upstream_acquire(struct upstream_pool *pool, const struct upstream_callbacks *cbs, void *arg,
                     struct upstream_conn **out, bool *out_reused)
{
    struct upstream_target *s = upstream_pool_pick(pool);
    if (s == NULL) {
        return CG_ERR_NOT_FOUND;
    }
    struct upstream_conn *uc = s->idle;
    if (uc != NULL) {
        unlink_idle(uc);
        s->inflight++;
        uc->state = CONN_BUSY;
        uc->cbs = cbs;
        uc->arg = arg;
        uc->paused = false;
        uc->in_max = 0;
        if (uc->tls != NULL) {
            tls_conn_set_input_max(&uc->tls->tc, in_max(uc));
        }
        *out = uc;
        *out_reused = true;
        return CG_OK;
    }
    uc = cg_xcalloc(1, sizeof(*uc));
    uc->pool = pool;
    uc->server = s;
    s->holds++;
    s->inflight++;
    uc->cbs = cbs;
    uc->arg = arg;
    uc->state = CONN_CONNECTING;
    uint64_t connect_ms = pool->cfg->timeouts.upstream_connect;
    if (pool->tls != NULL) {
        uc->tls = tls_new(uc);
        uc->out = uc->tls->out;
        connect_ms = 0; /* the TLS deadline covers the connect */
    } else {
        uc->in = evbuffer_new();
        CG_BUG_ON(uc->in == NULL);
    }
    if (sock_connect(&uc->sock, pool->base, (const struct sockaddr *)&s->shared->addr.addr,
                     (socklen_t)s->shared->addr.addr_len, connect_ms, &sock_cbs, uc) != CG_OK) {
        /* Immediate failure (e.g. no route): the caller answers at once. */
        upstream_target_set_down_until(s, upstream_now_ms(pool->base) +
                                              pool->cfg->timeouts.upstream_down);
        cg_counter_add(&s->counters->connect_errors, 1);
        pool->last_failure = CG_REASON_UPSTREAM_CONNECT_FAILED;
        conn_free(uc);
        return CG_ERR_IO;
    }
    if (uc->tls == NULL) {
        uc->out = sock_output(&uc->sock);
        sock_set_low_water(&uc->sock, pool->cfg->limits.buffer_high_water / 2);
    }
    *out = uc;
    *out_reused = false;
    return CG_OK;
}

void upstream_release(struct upstream_conn *uc, bool reusable)
{
    if (uc->in_cb > 0) {
        uc->release_pending = true;
        uc->release_reusable = reusable;
        return;
    }
    do_release(uc, reusable);
}

static void do_release(struct upstream_conn *uc, bool reusable)
{
    struct upstream_target *s = uc->server;
    if (!reusable || uc->state != CONN_BUSY || uc->eof || s->retired ||
        s->num_idle >= uc->pool->cfg->limits.upstream_pool_max_idle ||
        evbuffer_get_length(uc->in) > 0 || evbuffer_get_length(uc->out) > 0 ||
        (uc->tls != NULL && !tls_reusable(uc->tls))) {
        conn_free(uc);
        return;
    }
    uc->state = CONN_IDLE;
    s->inflight--;
    uc->cbs = NULL;
    uc->arg = NULL;
    uc->paused = false;
    uc->in_max = 0;
    uc->release_pending = false;
    /* Still registered for reading (a lazy pause may have stopped it): a server that
     * closes an idle connection is noticed at once. */
    if (uc->tls != NULL) {
        tls_conn_resume_read(&uc->tls->tc);
    } else {
        sock_unpark(&uc->sock);
        sock_read_start(&uc->sock);
    }
    uc->idle_since_ms = upstream_now_ms(uc->pool->base);
    uc->next_idle = s->idle;
    s->idle = uc;
    s->num_idle++;
    if (!evtimer_pending(uc->pool->ev_sweep, NULL)) {
        arm_sweep(uc->pool, uc->idle_since_ms);
    }
}

struct evbuffer *upstream_conn_input(struct upstream_conn *uc)
{
    return uc->in;
}

struct evbuffer *upstream_conn_output(struct upstream_conn *uc)
{
    return uc->out;
}

const char *upstream_conn_server(const struct upstream_conn *uc)
{
    return uc->server->shared->addr.text;
}

void upstream_conn_set_input_max(struct upstream_conn *uc, size_t max)
{
    uc->in_max = max;
    if (uc->tls != NULL) {
        tls_conn_set_input_max(&uc->tls->tc, in_max(uc));
    }
}

/* Pausing is lazy, as for the client side (tls_conn_pause_read): the socket is only
 * unregistered if it reports bytes while paused. */
void upstream_conn_pause_read(struct upstream_conn *uc)
{
    uc->paused = true;
    if (uc->tls != NULL && uc->state == CONN_BUSY) {
        tls_conn_pause_read(&uc->tls->tc); /* the handshake must not wait for the owner */
    }
}

void upstream_conn_resume_read(struct upstream_conn *uc)
{
    if (uc->tls != NULL) {
        uc->paused = false;
        tls_conn_resume_read(&uc->tls->tc); /* delivers buffered plaintext from the loop */
        return;
    }
    if (uc->paused) {
        uc->paused = false;
        if (!uc->eof) {
            sock_read_start(&uc->sock); /* waits while parked (see after_read) */
        }
        if (evbuffer_get_length(uc->in) > 0 || uc->eof) {
            sock_kick_read(&uc->sock); /* delivers buffered input from the loop */
        }
    }
}

void upstream_conn_count_response(struct upstream_conn *uc, int status, uint64_t response_us)
{
    upstream_target_count_response(uc->server, status, response_us);
}

enum cg_reason upstream_pool_last_failure(const struct upstream_pool *pool)
{
    return pool->last_failure;
}
