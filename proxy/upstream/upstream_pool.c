#include "proxy/upstream/upstream_pool.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "common/bug.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "proxy/net/sock.h"

enum conn_state {
    CONN_CONNECTING, /* TCP connect in progress, owned by a request */
    CONN_BUSY,       /* carrying a request */
    CONN_IDLE,       /* in the pool, watched for close */
};

struct upstream_server {
    const struct config_address *addr;
    uint64_t down_until_ms;     /* monotonic ms; 0 = healthy */
    struct upstream_conn *idle; /* most recently used first */
    unsigned num_idle;
};

struct upstream_pool {
    struct event_base *base;
    const struct config_upstream *up;
    const struct config *cfg;
    struct upstream_server *servers;
    size_t num_servers;
    size_t next;            /* round robin cursor */
    struct event *ev_sweep; /* closes pooled connections idle for keepalive_idle */
};

struct upstream_conn {
    struct upstream_pool *pool;
    struct upstream_server *server;
    struct sock sock;
    struct evbuffer *in;
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

static uint64_t now_ms(struct event_base *base)
{
    struct timeval tv;
    event_base_gettimeofday_cached(base, &tv);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

static void conn_free(struct upstream_conn *uc);

/* Idle connections expire by a sweep, not by a deadline on each socket's read event:
 * that would cost an epoll_ctl each time a connection is taken from or returned to the
 * pool. Idle lists are most recently used first, so the expired ones are a tail. */
static void arm_sweep(struct upstream_pool *pool, uint64_t now)
{
    uint64_t ttl = pool->cfg->timeouts.keepalive_idle;
    uint64_t next = UINT64_MAX;
    for (size_t i = 0; i < pool->num_servers; i++) {
        for (struct upstream_conn *uc = pool->servers[i].idle; uc != NULL; uc = uc->next_idle) {
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
    uint64_t now = now_ms(pool->base);
    uint64_t ttl = pool->cfg->timeouts.keepalive_idle;
    for (size_t i = 0; i < pool->num_servers; i++) {
        struct upstream_server *s = &pool->servers[i];
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

struct upstream_pool *upstream_pool_new(struct event_base *base, const struct config_upstream *up,
                                        const struct config *cfg)
{
    struct upstream_pool *pool = cg_xcalloc(1, sizeof(*pool));
    pool->base = base;
    pool->up = up;
    pool->cfg = cfg;
    pool->num_servers = up->num_servers;
    pool->servers = cg_xcalloc(up->num_servers, sizeof(*pool->servers));
    for (size_t i = 0; i < up->num_servers; i++) {
        pool->servers[i].addr = &up->servers[i];
    }
    pool->ev_sweep = evtimer_new(base, on_sweep, pool);
    CG_BUG_ON(pool->ev_sweep == NULL);
    return pool;
}

static void conn_free(struct upstream_conn *uc)
{
    sock_cleanup(&uc->sock);
    if (uc->in != NULL) {
        evbuffer_free(uc->in);
    }
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

void upstream_pool_free(struct upstream_pool *pool)
{
    if (pool == NULL) {
        return;
    }
    for (size_t i = 0; i < pool->num_servers; i++) {
        struct upstream_conn *uc = pool->servers[i].idle;
        while (uc != NULL) {
            struct upstream_conn *next = uc->next_idle;
            conn_free(uc);
            uc = next;
        }
    }
    event_free(pool->ev_sweep);
    free(pool->servers);
    free(pool);
}

/* Deliver an end to the owner; the connection is freed first, so the owner cannot use
 * it by mistake. */
static void end_conn(struct upstream_conn *uc, enum upstream_end end)
{
    const struct upstream_callbacks *cbs = uc->cbs;
    void *arg = uc->arg;
    if (end == UPSTREAM_END_CONNECT_FAILED || end == UPSTREAM_END_CONNECT_TIMEOUT) {
        uc->server->down_until_ms = now_ms(uc->pool->base) + uc->pool->cfg->timeouts.upstream_down;
        CG_LOG_WARN("upstream %s: server %s %s, marked down for %llu ms", uc->pool->up->name,
                    uc->server->addr->text, upstream_end_str(end),
                    (unsigned long long)uc->pool->cfg->timeouts.upstream_down);
    }
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

static bool deliver_read(struct upstream_conn *uc)
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

static void on_drain(void *arg)
{
    struct upstream_conn *uc = arg;
    if (uc->state == CONN_BUSY && !uc->release_pending) {
        uc->in_cb++;
        uc->cbs->on_drain(uc->arg);
        uc->in_cb--;
        settle(uc);
    }
}

static void on_event(void *arg, enum sock_event ev)
{
    struct upstream_conn *uc = arg;
    if (uc->state == CONN_IDLE) {
        unlink_idle(uc);
        conn_free(uc);
        return;
    }
    if (ev == SOCK_CONNECTED) {
        uc->state = CONN_BUSY;
        int one = 1;
        setsockopt(uc->sock.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        uc->server->down_until_ms = 0;
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

static struct upstream_server *pick(struct upstream_pool *pool)
{
    uint64_t now = now_ms(pool->base);
    for (size_t i = 0; i < pool->num_servers; i++) {
        struct upstream_server *s = &pool->servers[(pool->next + i) % pool->num_servers];
        if (s->down_until_ms == 0 || s->down_until_ms <= now) {
            pool->next = (pool->next + i + 1) % pool->num_servers;
            return s;
        }
    }
    return NULL;
}

int upstream_acquire(struct upstream_pool *pool, const struct upstream_callbacks *cbs, void *arg,
                     struct upstream_conn **out, bool *out_reused)
{
    struct upstream_server *s = pick(pool);
    if (s == NULL) {
        return CG_ERR_NOT_FOUND;
    }
    struct upstream_conn *uc = s->idle;
    if (uc != NULL) {
        unlink_idle(uc);
        uc->state = CONN_BUSY;
        uc->cbs = cbs;
        uc->arg = arg;
        uc->paused = false;
        uc->in_max = 0;
        *out = uc;
        *out_reused = true;
        return CG_OK;
    }
    uc = cg_xcalloc(1, sizeof(*uc));
    uc->pool = pool;
    uc->server = s;
    uc->cbs = cbs;
    uc->arg = arg;
    uc->state = CONN_CONNECTING;
    uc->in = evbuffer_new();
    CG_BUG_ON(uc->in == NULL);
    if (sock_connect(&uc->sock, pool->base, (const struct sockaddr *)&s->addr->addr,
                     (socklen_t)s->addr->addr_len, pool->cfg->timeouts.upstream_connect, &sock_cbs,
                     uc) != CG_OK) {
        /* Immediate failure (e.g. no route): the caller answers at once. */
        s->down_until_ms = now_ms(pool->base) + pool->cfg->timeouts.upstream_down;
        conn_free(uc);
        return CG_ERR_IO;
    }
    sock_set_low_water(&uc->sock, pool->cfg->limits.buffer_high_water / 2);
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
    struct upstream_server *s = uc->server;
    if (!reusable || uc->state != CONN_BUSY || uc->eof ||
        s->num_idle >= uc->pool->cfg->limits.upstream_pool_max_idle ||
        evbuffer_get_length(uc->in) > 0 || sock_output_pending(&uc->sock) > 0) {
        conn_free(uc);
        return;
    }
    uc->state = CONN_IDLE;
    uc->cbs = NULL;
    uc->arg = NULL;
    uc->paused = false;
    uc->in_max = 0;
    uc->release_pending = false;
    sock_unpark(&uc->sock);
    /* Still registered for reading (a lazy pause may have stopped it): a server that
     * closes an idle connection is noticed at once. */
    sock_read_start(&uc->sock);
    uc->idle_since_ms = now_ms(uc->pool->base);
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
    return sock_output(&uc->sock);
}

const char *upstream_conn_server(const struct upstream_conn *uc)
{
    return uc->server->addr->text;
}

void upstream_conn_set_input_max(struct upstream_conn *uc, size_t max)
{
    uc->in_max = max;
}

/* Pausing is lazy, as for the client side (tls_conn_pause_read): the socket is only
 * unregistered if it reports bytes while paused. */
void upstream_conn_pause_read(struct upstream_conn *uc)
{
    uc->paused = true;
}

void upstream_conn_resume_read(struct upstream_conn *uc)
{
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

int upstream_pool_pick_server(struct upstream_pool *pool)
{
    struct upstream_server *s = pick(pool);
    return s == NULL ? -1 : (int)(s - pool->servers);
}

const struct config_address *upstream_pool_server_addr(struct upstream_pool *pool, size_t index)
{
    return pool->servers[index].addr;
}

void upstream_pool_mark_down(struct upstream_pool *pool, size_t index, const char *why)
{
    struct upstream_server *s = &pool->servers[index];
    s->down_until_ms = now_ms(pool->base) + pool->cfg->timeouts.upstream_down;
    CG_LOG_WARN("upstream %s: server %s %s, marked down for %llu ms", pool->up->name, s->addr->text,
                why, (unsigned long long)pool->cfg->timeouts.upstream_down);
}

void upstream_pool_mark_up(struct upstream_pool *pool, size_t index)
{
    pool->servers[index].down_until_ms = 0;
}
