#include "proxy/core/worker.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "common/bug.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/str.h"
#include "policy/policy.h"
#include "proxy/core/authz.h"
#include "proxy/core/conn.h"
#include "proxy/core/runtime.h"
#include "proxy/upstream/upstream_pool.h"

struct worker_msg {
    void (*fn)(struct worker *w, void *arg);
    void *arg;
    struct worker_msg *next;
};

static void on_accept(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *sa,
                      int sa_len, void *arg)
{
    struct worker_listen_socket *s = arg;
    struct worker *w = s->w;
    if (w->draining) {
        close(fd);
        return;
    }
    conn_accept(w->cur, &w->cur->snap->listeners[s->listener_index], fd, sa, (socklen_t)sa_len);
}

static void on_accept_error(struct evconnlistener *evl, void *arg)
{
    /* EMFILE and friends: keep serving the connections we have; libevent retries. */
    CG_LOG_WARN("accept failed: %s", strerror(errno));
}

static void on_msg(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    uint64_t n;
    if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN) {
        CG_LOG_WARN("worker %u: reading its message eventfd: %s", w->id, strerror(errno));
    }
    pthread_mutex_lock(&w->msg_lock);
    struct worker_msg *m = w->msgs;
    w->msgs = NULL;
    w->msgs_tail = &w->msgs;
    pthread_mutex_unlock(&w->msg_lock);
    while (m != NULL) {
        struct worker_msg *next = m->next;
        m->fn(w, m->arg);
        free(m);
        m = next;
    }
}

static void on_drain_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    if (w->num_conns > 0) {
        CG_LOG_WARN("worker %u: drain timeout, closing %zu connections", w->id, w->num_conns);
    }
    event_base_loopexit(w->base, NULL);
}

static void on_trim(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    uint64_t t0 = cg_monotonic_us();
    /* The spare request states of the burst sit between the freed buffers and would
     * keep their pages: the next burst allocates them again. */
    const struct runtime *rt = w->rt;
    for (struct worker_snapshot *ws = w->cur; ws != NULL;
         ws = ws == w->cur ? w->retiring : ws->next) {
        for (size_t i = 0; i < rt->num_modules; i++) {
            if (rt->modules[i]->trim != NULL) {
                rt->modules[i]->trim(ws, ws->module_states[i]);
            }
        }
    }
    int released = malloc_trim(0);
    CG_LOG_DEBUG("worker %u: malloc_trim %s memory (%llu us)", w->id,
                 released ? "released" : "found no", (unsigned long long)(cg_monotonic_us() - t0));
}

void worker_memory_released(struct worker *w)
{
    /* Re-adding a pending timer moves it: it fires once the releases stop. */
    struct timeval tv = cg_timeval_ms(WORKER_TRIM_DELAY_MS);
    evtimer_add(w->ev_trim, &tv);
}

/* snapshot_state_new creates |w|'s state for |snap| with |policies| (one per slot,
 * references moved in). */
static struct worker_snapshot *snapshot_state_new(struct worker *w, struct snapshot *snap,
                                                  struct policy **policies)
{
    const struct runtime *rt = w->rt;
    const struct config *cfg = snap->cfg;
    struct worker_snapshot *ws = cg_xcalloc(1, sizeof(*ws));
    ws->w = w;
    ws->snap = snapshot_ref(snap);
    ws->policies = policies;
    ws->pools = cg_xcalloc(cfg->num_upstreams ? cfg->num_upstreams : 1, sizeof(*ws->pools));
    for (size_t i = 0; i < cfg->num_upstreams; i++) {
        ws->pools[i] = upstream_pool_new(w->base, &cfg->upstreams[i], cfg, snap->upstream_tls[i],
                                      snap->upstream_sets[i], w->id);
    }
    ws->module_states =
        cg_xcalloc(rt->num_modules ? rt->num_modules : 1, sizeof(*ws->module_states));
    for (size_t i = 0; i < rt->num_modules; i++) {
        ws->module_states[i] = rt->modules[i]->init(ws);
    }
    return ws;
}

/* snapshot_state_free frees |ws| once no connection of it is left. */
static void snapshot_state_free(struct worker_snapshot *ws)
{
    const struct runtime *rt = ws->w->rt;
    CG_BUG_ON(ws->num_conns != 0);
    /* Closed connections gave their request states back: none is in use now. */
    for (size_t i = rt->num_modules; i-- > 0;) {
        rt->modules[i]->cleanup(ws, ws->module_states[i]);
    }
    free(ws->module_states);
    for (size_t i = 0; i < ws->snap->cfg->num_upstreams; i++) {
        upstream_pool_free(ws->pools[i]);
    }
    free(ws->pools);
    for (size_t i = 0; i < ws->snap->num_policy_slots; i++) {
        policy_unref(ws->policies[i]);
    }
    free(ws->policies);
    snapshot_unref(ws->snap);
    free(ws);
}

/* policies_of returns a reference to every slot's current policy of |snap| (main
 * thread). */
static struct policy **policies_of(const struct snapshot *snap)
{
    struct policy **p =
        cg_xcalloc(snap->num_policy_slots ? snap->num_policy_slots : 1, sizeof(*p));
    for (size_t i = 0; i < snap->num_policy_slots; i++) {
        if (snap->policy_slots[i].policy != NULL) {
            p[i] = policy_ref(snap->policy_slots[i].policy);
        }
    }
    return p;
}

static void add_listen_socket(struct worker *w, int fd, size_t listener_index)
{
    w->socks = cg_xrealloc(w->socks, (w->num_socks + 1) * sizeof(*w->socks));
    struct worker_listen_socket *s = &w->socks[w->num_socks++];
    s->w = w;
    s->fd = fd;
    s->listener_index = listener_index;
    s->evl = evconnlistener_new(w->base, on_accept, NULL, LEV_OPT_CLOSE_ON_FREE, -1, fd);
    CG_BUG_ON(s->evl == NULL);
    evconnlistener_set_error_cb(s->evl, on_accept_error);
}

/* bind_listen_sockets points each listener's callback at its entry: entries move when
 * the array grows. */
static void bind_listen_sockets(struct worker *w)
{
    for (size_t i = 0; i < w->num_socks; i++) {
        if (w->socks[i].evl != NULL) {
            evconnlistener_set_cb(w->socks[i].evl, on_accept, &w->socks[i]);
        }
    }
}

/* size_scratch makes the decision scratch large enough for |cfg|'s limits: a reload
 * may raise them, and connections of older snapshots keep lower ones. */
static void size_scratch(struct worker *w, const struct config *cfg)
{
    size_t max_target = cfg->limits.max_request_line > cfg->limits.h2_max_header_list
                            ? cfg->limits.max_request_line
                            : cfg->limits.h2_max_header_list;
    size_t cap = authz_scratch_size(max_target);
    if (cap > w->scratch.authz_cap) {
        free(w->scratch.authz);
        w->scratch.authz = cg_xmalloc(cap);
        w->scratch.authz_cap = cap;
    }
}

static void on_retire(evutil_socket_t fd, short what, void *arg);
static void on_conn_drain_deadline(evutil_socket_t fd, short what, void *arg);

struct worker *worker_new(struct runtime *rt, struct snapshot *snap, unsigned id, const int *fds,
                          const size_t *listener_index, size_t num_fds)
{
    struct worker *w = cg_xcalloc(1, sizeof(*w));
    w->rt = rt;
    w->id = id;
    struct event_config *ec = event_config_new();
    /* Coalesce event_del + event_add of one fd within a loop iteration (a pause and
     * resume of reads) into at most one epoll_ctl. */
    event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    /* Only this worker's thread touches its base (messages come through an eventfd),
     * so it needs no lock: libevent would take one around every event operation. */
    event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK);
    w->base = event_base_new_with_config(ec);
    event_config_free(ec);
    CG_BUG_ON(w->base == NULL);
    pthread_mutex_init(&w->msg_lock, NULL);
    pthread_mutex_init(&w->snap_lock, NULL);
    w->msgs_tail = &w->msgs;
    w->msg_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    CG_BUG_ON(w->msg_fd < 0);
    /* Registered for good: it also keeps the loop alive while there is nothing else. */
    w->ev_msg = event_new(w->base, w->msg_fd, EV_READ | EV_PERSIST, on_msg, w);
    w->ev_drain_deadline = evtimer_new(w->base, on_drain_deadline, w);
    w->ev_trim = evtimer_new(w->base, on_trim, w);
    w->ev_retire = event_new(w->base, -1, 0, on_retire, w);
    w->ev_conn_drain = evtimer_new(w->base, on_conn_drain_deadline, w);
    CG_BUG_ON(w->ev_drain_deadline == NULL || w->ev_trim == NULL || w->ev_retire == NULL ||
              w->ev_conn_drain == NULL);
    event_add(w->ev_msg, NULL);
    for (size_t i = 0; i < num_fds; i++) {
        add_listen_socket(w, fds[i], listener_index[i]);
    }
    bind_listen_sockets(w);
    size_scratch(w, snap->cfg);
    w->scratch.out = evbuffer_new();
    CG_BUG_ON(w->scratch.out == NULL);
    w->metrics = worker_metrics_new(snap->num_metrics);
    w->cur = snapshot_state_new(w, snap, policies_of(snap));
    return w;
}

void *worker_module_state(const struct worker_snapshot *ws, const struct worker_module *m)
{
    const struct runtime *rt = ws->w->rt;
    for (size_t i = 0; i < rt->num_modules; i++) {
        if (rt->modules[i] == m) {
            return ws->module_states[i];
        }
    }
    return NULL;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    event_base_dispatch(w->base);
    return NULL;
}

int worker_start(struct worker *w)
{
    return pthread_create(&w->thread, NULL, worker_main, w) == 0 ? CG_OK : CG_ERR_IO;
}

static void close_listeners(struct worker *w)
{
    for (size_t i = 0; i < w->num_socks; i++) {
        if (w->socks[i].evl != NULL) {
            evconnlistener_free(w->socks[i].evl);
            w->socks[i].evl = NULL;
        }
    }
}

void worker_join(struct worker *w)
{
    pthread_join(w->thread, NULL);
    /* Whatever survived the drain deadline goes now, without callbacks. */
    close_listeners(w);
    while (w->conns != NULL) {
        struct client_conn *c = w->conns;
        conn_abort(c);
        event_base_loop(w->base, EVLOOP_NONBLOCK | EVLOOP_ONCE);
        if (w->conns == c) {
            break; /* cannot happen: conn_abort frees from the loop */
        }
    }
}

void worker_free(struct worker *w)
{
    if (w == NULL) {
        return;
    }
    while (w->retiring != NULL) {
        struct worker_snapshot *ws = w->retiring;
        w->retiring = ws->next;
        snapshot_state_free(ws);
    }
    snapshot_state_free(w->cur);
    free(w->scratch.authz);
    evbuffer_free(w->scratch.out);
    worker_metrics_free(w->metrics);
    free(w->socks);
    event_free(w->ev_msg);
    close(w->msg_fd);
    event_free(w->ev_drain_deadline);
    event_free(w->ev_trim);
    event_free(w->ev_retire);
    event_free(w->ev_conn_drain);
    pthread_mutex_destroy(&w->msg_lock);
    pthread_mutex_destroy(&w->snap_lock);
    struct worker_msg *m = w->msgs;
    while (m != NULL) {
        struct worker_msg *next = m->next;
        free(m);
        m = next;
    }
    event_base_free(w->base);
    free(w);
}

void worker_request_id(struct worker *w, char out[WORKER_REQUEST_ID_SIZE])
{
    char *p = cg_put_hex(out, w->rt->instance_id, 8);
    p = cg_put_hex(p, w->id & 0xff, 2);
    p = cg_put_hex(p, ++w->next_request_id, 10);
    *p = '\0';
}

void worker_post(struct worker *w, void (*fn)(struct worker *w, void *arg), void *arg)
{
    struct worker_msg *m = cg_xmalloc(sizeof(*m));
    m->fn = fn;
    m->arg = arg;
    m->next = NULL;
    pthread_mutex_lock(&w->msg_lock);
    *w->msgs_tail = m;
    w->msgs_tail = &m->next;
    pthread_mutex_unlock(&w->msg_lock);
    uint64_t one = 1;
    if (write(w->msg_fd, &one, sizeof(one)) < 0) {
        /* Only EAGAIN is possible (the counter is near 2^64): a wakeup is pending. */
        CG_LOG_WARN("worker %u: waking it: %s", w->id, strerror(errno));
    }
}

static void maybe_finish_drain(struct worker *w)
{
    if (w->draining && w->num_conns == 0) {
        event_base_loopexit(w->base, NULL);
    }
}

void worker_begin_drain(struct worker *w, void *arg)
{
    if (w->draining) {
        return;
    }
    w->draining = true;
    close_listeners(w);
    uint64_t ms = w->cur->snap->cfg->timeouts.drain;
    struct timeval tv = cg_timeval_ms(ms);
    evtimer_add(w->ev_drain_deadline, &tv);
    CG_LOG_INFO("worker %u: draining %zu connections", w->id, w->num_conns);
    for (struct client_conn *c = w->conns; c != NULL; c = c->next) {
        conn_begin_drain(c);
    }
    maybe_finish_drain(w);
}

void worker_conn_opened(struct worker_snapshot *ws)
{
    ws->num_conns++;
    ws->w->num_conns++;
}

void worker_conn_closed(struct worker_snapshot *ws)
{
    struct worker *w = ws->w;
    CG_BUG_ON(w->num_conns == 0 || ws->num_conns == 0);
    w->num_conns--;
    ws->num_conns--;
    if (ws->num_conns == 0 && ws != w->cur) {
        /* Not from here: the connection's own teardown may still be on the stack. */
        event_active(w->ev_retire, EV_TIMEOUT, 0);
    }
    worker_memory_released(w);
    maybe_finish_drain(w);
}

static void on_retire(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    struct worker_snapshot *done = NULL;
    pthread_mutex_lock(&w->snap_lock);
    for (struct worker_snapshot **p = &w->retiring; *p != NULL;) {
        struct worker_snapshot *ws = *p;
        if (ws->num_conns == 0) {
            *p = ws->next;
            ws->next = done;
            done = ws;
        } else {
            p = &ws->next;
        }
    }
    pthread_mutex_unlock(&w->snap_lock);
    while (done != NULL) {
        struct worker_snapshot *ws = done;
        done = ws->next;
        CG_LOG_DEBUG("worker %u: configuration generation %llu retired", w->id,
                     (unsigned long long)ws->snap->generation);
        snapshot_state_free(ws);
    }
}

void worker_lock_snapshots(struct worker *w)
{
    pthread_mutex_lock(&w->snap_lock);
}

void worker_unlock_snapshots(struct worker *w)
{
    pthread_mutex_unlock(&w->snap_lock);
}

struct install_msg {
    struct snapshot *snap;
    struct policy **policies;
    int *fds;
    size_t *listener_index;
    size_t num_fds;
};

void *worker_install_msg_new(struct snapshot *snap, const int *fds, const size_t *listener_index,
                             size_t num_fds)
{
    struct install_msg *m = cg_xcalloc(1, sizeof(*m));
    m->snap = snapshot_ref(snap);
    m->policies = policies_of(snap);
    m->fds = cg_xcalloc(num_fds ? num_fds : 1, sizeof(*m->fds));
    m->listener_index = cg_xcalloc(num_fds ? num_fds : 1, sizeof(*m->listener_index));
    if (num_fds > 0) {
        memcpy(m->fds, fds, num_fds * sizeof(*fds));
        memcpy(m->listener_index, listener_index, num_fds * sizeof(*listener_index));
    }
    m->num_fds = num_fds;
    return m;
}

/* set_listen_sockets makes |w| listen on exactly |m|'s sockets. */
static void set_listen_sockets(struct worker *w, const struct install_msg *m)
{
    size_t kept = 0;
    for (size_t i = 0; i < w->num_socks; i++) {
        struct worker_listen_socket s = w->socks[i];
        size_t k = 0;
        while (k < m->num_fds && m->fds[k] != s.fd) {
            k++;
        }
        if (k == m->num_fds || s.evl == NULL) {
            /* Its address is not served any more: closing it refuses new connections
             * (with every worker's socket of that address closed). */
            if (s.evl != NULL) {
                evconnlistener_free(s.evl);
            }
            continue;
        }
        s.listener_index = m->listener_index[k];
        w->socks[kept++] = s;
    }
    w->num_socks = kept;
    for (size_t k = 0; k < m->num_fds; k++) {
        bool have = false;
        for (size_t i = 0; i < w->num_socks && !have; i++) {
            have = w->socks[i].fd == m->fds[k];
        }
        if (have) {
            continue;
        }
        if (w->draining) {
            close(m->fds[k]);
        } else {
            add_listen_socket(w, m->fds[k], m->listener_index[k]);
        }
    }
    bind_listen_sockets(w);
}

/* drain_removed drains the connections whose listener |snap| does not have. */
static void drain_removed(struct worker *w, const struct snapshot *snap)
{
    uint64_t now = cg_monotonic_us();
    uint64_t ms = snap->cfg->timeouts.drain;
    bool any = false;
    for (struct client_conn *c = w->conns; c != NULL; c = c->next) {
        if (c->drain_deadline_us != 0 || snapshot_find_listener(snap, c->lrt->cfg->name) != NULL) {
            continue;
        }
        c->drain_deadline_us = now + ms * 1000;
        any = true;
        conn_begin_drain(c);
    }
    if (any) {
        struct timeval tv = cg_timeval_ms(ms);
        evtimer_add(w->ev_conn_drain, &tv);
    }
}

static void on_conn_drain_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    uint64_t now = cg_monotonic_us();
    uint64_t next = 0;
    for (struct client_conn *c = w->conns; c != NULL; c = c->next) {
        if (c->drain_deadline_us == 0 || c->closing) {
            continue;
        }
        if (c->drain_deadline_us <= now) {
            CG_LOG_INFO("w%uc%llu: listener %s removed: drain timeout, closing", w->id,
                        (unsigned long long)c->id, c->lrt->cfg->name);
            conn_abort(c);
        } else if (next == 0 || c->drain_deadline_us < next) {
            next = c->drain_deadline_us;
        }
    }
    if (next != 0) {
        struct timeval tv = cg_timeval_ms((next - now + 999) / 1000);
        evtimer_add(w->ev_conn_drain, &tv);
    }
}

void worker_install(struct worker *w, void *arg)
{
    struct install_msg *m = arg;
    size_scratch(w, m->snap->cfg);
    struct worker_snapshot *ws = snapshot_state_new(w, m->snap, m->policies);
    pthread_mutex_lock(&w->snap_lock);
    struct worker_snapshot *old = w->cur;
    w->cur = ws;
    old->next = w->retiring;
    w->retiring = old;
    worker_metrics_grow(w->metrics, m->snap->num_metrics);
    pthread_mutex_unlock(&w->snap_lock);
    set_listen_sockets(w, m);
    drain_removed(w, m->snap);
    if (old->num_conns == 0) {
        event_active(w->ev_retire, EV_TIMEOUT, 0);
    }
    CG_LOG_DEBUG("worker %u: configuration generation %llu installed, %zu connections stay on "
                 "generation %llu",
                 w->id, (unsigned long long)m->snap->generation, old->num_conns,
                 (unsigned long long)old->snap->generation);
    snapshot_unref(m->snap);
    free(m->fds);
    free(m->listener_index);
    free(m);
}

struct policy_msg {
    const struct snapshot *snap;
    size_t slot;
    struct policy *policy;
};

void *worker_policy_msg_new(const struct snapshot *snap, size_t slot, struct policy *p)
{
    struct policy_msg *m = cg_xmalloc(sizeof(*m));
    m->snap = snap;
    m->slot = slot;
    m->policy = policy_ref(p);
    return m;
}

void worker_set_policy(struct worker *w, void *arg)
{
    struct policy_msg *m = arg;
    struct worker_snapshot *ws = w->cur;
    while (ws != NULL && ws->snap != m->snap) {
        ws = ws == w->cur ? w->retiring : ws->next;
    }
    if (ws == NULL) {
        /* Its last connection is gone: nobody would use it. */
        policy_unref(m->policy);
        free(m);
        return;
    }
    struct policy *old = ws->policies[m->slot];
    ws->policies[m->slot] = m->policy;
    /* Decisions are synchronous and copy what outlives them: nobody on this thread
     * holds a pointer into |old| now. */
    policy_unref(old);
    free(m);
}
