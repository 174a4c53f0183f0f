#include "proxy/upstream.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "common/bug.h"
#include "common/log.h"
#include "common/mem.h"
#include "proxy/bev_read.h"

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
    size_t next; /* round robin cursor */
};

struct upstream_conn {
    struct upstream_pool *pool;
    struct upstream_server *server;
    struct bufferevent *bev;
    struct event *ev_deferred;
    const struct upstream_callbacks *cbs;
    void *arg;
    enum conn_state state;
    bool paused;
    bool eof;             /* the server closed; delivered once input is consumed */
    unsigned in_cb;       /* owner callbacks on the stack: release must wait */
    bool release_pending; /* upstream_release was called from inside a callback */
    bool release_reusable;
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

static void ms_to_tv(uint64_t ms, struct timeval *tv)
{
    tv->tv_sec = (time_t)(ms / 1000);
    tv->tv_usec = (suseconds_t)(ms % 1000) * 1000;
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
    return pool;
}

static void conn_free(struct upstream_conn *uc)
{
    if (uc->ev_deferred != NULL) {
        event_free(uc->ev_deferred);
    }
    bufferevent_free(uc->bev);
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

/* deliver_input hands buffered bytes, then a pending end of stream, to the owner. */
static void deliver_input(struct upstream_conn *uc)
{
    if (uc->paused) {
        return;
    }
    if (evbuffer_get_length(bufferevent_get_input(uc->bev)) > 0 && !deliver_read(uc)) {
        return;
    }
    if (uc->eof && !uc->paused) {
        end_conn(uc, UPSTREAM_END_EOF);
    }
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct upstream_conn *uc = arg;
    if (uc->state == CONN_IDLE) {
        /* A server may not speak on an idle connection: drop it. */
        unlink_idle(uc);
        conn_free(uc);
        return;
    }
    bev_read_more(bev, 64 * 1024);
    deliver_input(uc);
}

static void on_write(struct bufferevent *bev, void *arg)
{
    struct upstream_conn *uc = arg;
    if (uc->state == CONN_BUSY && !uc->release_pending) {
        uc->in_cb++;
        uc->cbs->on_drain(uc->arg);
        uc->in_cb--;
        settle(uc);
    }
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct upstream_conn *uc = arg;
    if (uc->state == CONN_IDLE) {
        unlink_idle(uc);
        conn_free(uc);
        return;
    }
    if (what & BEV_EVENT_CONNECTED) {
        uc->state = CONN_BUSY;
        int one = 1;
        setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        bufferevent_set_timeouts(bev, NULL, NULL);
        uc->server->down_until_ms = 0;
        uc->in_cb++;
        uc->cbs->on_connected(uc->arg);
        uc->in_cb--;
        settle(uc);
        return;
    }
    if (uc->state == CONN_CONNECTING) {
        end_conn(uc, (what & BEV_EVENT_TIMEOUT) ? UPSTREAM_END_CONNECT_TIMEOUT
                                                : UPSTREAM_END_CONNECT_FAILED);
        return;
    }
    if (what & BEV_EVENT_EOF) {
        /* The owner sees the last bytes before the end, even if it is paused now. */
        uc->eof = true;
        deliver_input(uc);
        return;
    }
    end_conn(uc, UPSTREAM_END_ERROR);
}

static void on_deferred(evutil_socket_t fd, short what, void *arg)
{
    struct upstream_conn *uc = arg;
    if (uc->state == CONN_BUSY) {
        deliver_input(uc);
    }
}

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
        bufferevent_set_timeouts(uc->bev, NULL, NULL);
        bufferevent_enable(uc->bev, EV_READ | EV_WRITE);
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
    uc->bev = bufferevent_socket_new(pool->base, -1, BEV_OPT_CLOSE_ON_FREE);
    uc->ev_deferred = event_new(pool->base, -1, 0, on_deferred, uc);
    if (uc->bev == NULL || uc->ev_deferred == NULL) {
        if (uc->ev_deferred) {
            event_free(uc->ev_deferred);
        }
        if (uc->bev) {
            bufferevent_free(uc->bev);
        }
        free(uc);
        return CG_ERR_IO;
    }
    size_t hw = pool->cfg->limits.buffer_high_water;
    bufferevent_setcb(uc->bev, on_read, on_write, on_event, uc);
    /* Writes may go out in large writev calls (reads: see bev_read_more). */
    bufferevent_set_max_single_write(uc->bev, 256 * 1024);
    bufferevent_setwatermark(uc->bev, EV_READ, 0, hw);
    bufferevent_setwatermark(uc->bev, EV_WRITE, hw / 2, 0);
    struct timeval tv;
    ms_to_tv(pool->cfg->timeouts.upstream_connect, &tv);
    bufferevent_set_timeouts(uc->bev, NULL, &tv);
    bufferevent_enable(uc->bev, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect(uc->bev, (const struct sockaddr *)&s->addr->addr,
                                   (int)s->addr->addr_len) != 0) {
        /* Immediate failure (e.g. no route): report from the loop like any other. */
        s->down_until_ms = now_ms(pool->base) + pool->cfg->timeouts.upstream_down;
        conn_free(uc);
        return CG_ERR_IO;
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
    struct upstream_server *s = uc->server;
    if (!reusable || uc->state != CONN_BUSY || uc->eof ||
        s->num_idle >= uc->pool->cfg->limits.upstream_pool_max_idle ||
        evbuffer_get_length(bufferevent_get_input(uc->bev)) > 0 ||
        evbuffer_get_length(bufferevent_get_output(uc->bev)) > 0) {
        conn_free(uc);
        return;
    }
    event_del(uc->ev_deferred);
    uc->state = CONN_IDLE;
    uc->cbs = NULL;
    uc->arg = NULL;
    uc->paused = false;
    uc->release_pending = false;
    struct timeval tv;
    ms_to_tv(uc->pool->cfg->timeouts.keepalive_idle, &tv);
    bufferevent_set_timeouts(uc->bev, &tv, NULL);
    bufferevent_enable(uc->bev, EV_READ);
    uc->next_idle = s->idle;
    s->idle = uc;
    s->num_idle++;
}

struct evbuffer *upstream_conn_input(struct upstream_conn *uc)
{
    return bufferevent_get_input(uc->bev);
}

struct evbuffer *upstream_conn_output(struct upstream_conn *uc)
{
    return bufferevent_get_output(uc->bev);
}

const char *upstream_conn_server(const struct upstream_conn *uc)
{
    return uc->server->addr->text;
}

void upstream_conn_pause_read(struct upstream_conn *uc)
{
    if (!uc->paused) {
        uc->paused = true;
        bufferevent_disable(uc->bev, EV_READ);
    }
}

void upstream_conn_resume_read(struct upstream_conn *uc)
{
    if (uc->paused) {
        uc->paused = false;
        bufferevent_enable(uc->bev, EV_READ);
        event_active(uc->ev_deferred, EV_TIMEOUT, 0);
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
