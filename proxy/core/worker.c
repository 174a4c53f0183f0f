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
    conn_accept(w, &w->rt->listeners[s->listener_index], fd, sa, (socklen_t)sa_len);
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
    for (size_t i = 0; i < rt->num_modules; i++) {
        if (rt->modules[i]->trim != NULL) {
            rt->modules[i]->trim(w, w->module_states[i]);
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

struct worker *worker_new(struct runtime *rt, unsigned id, const int *fds,
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
    w->msgs_tail = &w->msgs;
    w->msg_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    CG_BUG_ON(w->msg_fd < 0);
    /* Registered for good: it also keeps the loop alive while there is nothing else. */
    w->ev_msg = event_new(w->base, w->msg_fd, EV_READ | EV_PERSIST, on_msg, w);
    w->ev_drain_deadline = evtimer_new(w->base, on_drain_deadline, w);
    w->ev_trim = evtimer_new(w->base, on_trim, w);
    CG_BUG_ON(w->ev_drain_deadline == NULL || w->ev_trim == NULL);
    event_add(w->ev_msg, NULL);
    w->socks = cg_xcalloc(num_fds ? num_fds : 1, sizeof(*w->socks));
    w->num_socks = num_fds;
    for (size_t i = 0; i < num_fds; i++) {
        struct worker_listen_socket *s = &w->socks[i];
        s->w = w;
        s->listener_index = listener_index[i];
        s->evl = evconnlistener_new(w->base, on_accept, s, LEV_OPT_CLOSE_ON_FREE, -1, fds[i]);
        CG_BUG_ON(s->evl == NULL);
        evconnlistener_set_error_cb(s->evl, on_accept_error);
    }
    const struct config *cfg = rt->cfg;
    w->policies = cg_xcalloc(rt->num_policy_slots ? rt->num_policy_slots : 1, sizeof(*w->policies));
    for (size_t i = 0; i < rt->num_policy_slots; i++) {
        if (rt->policy_slots[i].policy != NULL) {
            w->policies[i] = policy_ref(rt->policy_slots[i].policy);
        }
    }
    size_t max_target = cfg->limits.max_request_line > cfg->limits.h2_max_header_list
                            ? cfg->limits.max_request_line
                            : cfg->limits.h2_max_header_list;
    w->scratch.authz_cap = authz_scratch_size(max_target);
    w->scratch.authz = cg_xmalloc(w->scratch.authz_cap);
    w->scratch.out = evbuffer_new();
    CG_BUG_ON(w->scratch.out == NULL);
    w->metrics = worker_metrics_new(cfg->num_listeners);
    w->pools = cg_xcalloc(cfg->num_upstreams, sizeof(*w->pools));
    for (size_t i = 0; i < cfg->num_upstreams; i++) {
        w->pools[i] = upstream_pool_new(w->base, &cfg->upstreams[i], cfg, rt->upstream_tls[i],
                                        rt->upstream_sets[i], id);
    }
    w->module_states = cg_xcalloc(rt->num_modules ? rt->num_modules : 1, sizeof(*w->module_states));
    for (size_t i = 0; i < rt->num_modules; i++) {
        w->module_states[i] = rt->modules[i]->init(w);
    }
    return w;
}

void *worker_module_state(const struct worker *w, const struct worker_module *m)
{
    for (size_t i = 0; i < w->rt->num_modules; i++) {
        if (w->rt->modules[i] == m) {
            return w->module_states[i];
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
    /* Closed connections gave their request states back: none is in use now. */
    for (size_t i = w->rt->num_modules; i-- > 0;) {
        w->rt->modules[i]->cleanup(w, w->module_states[i]);
    }
    free(w->module_states);
    for (size_t i = 0; i < w->rt->cfg->num_upstreams; i++) {
        upstream_pool_free(w->pools[i]);
    }
    free(w->pools);
    for (size_t i = 0; i < w->rt->num_policy_slots; i++) {
        policy_unref(w->policies[i]);
    }
    free(w->policies);
    free(w->scratch.authz);
    evbuffer_free(w->scratch.out);
    worker_metrics_free(w->metrics);
    free(w->socks);
    event_free(w->ev_msg);
    close(w->msg_fd);
    event_free(w->ev_drain_deadline);
    event_free(w->ev_trim);
    pthread_mutex_destroy(&w->msg_lock);
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
    uint64_t ms = w->rt->cfg->timeouts.drain;
    struct timeval tv = cg_timeval_ms(ms);
    evtimer_add(w->ev_drain_deadline, &tv);
    CG_LOG_INFO("worker %u: draining %zu connections", w->id, w->num_conns);
    for (struct client_conn *c = w->conns; c != NULL; c = c->next) {
        conn_begin_drain(c);
    }
    maybe_finish_drain(w);
}

void worker_conn_closed(struct worker *w)
{
    CG_BUG_ON(w->num_conns == 0);
    w->num_conns--;
    worker_memory_released(w);
    maybe_finish_drain(w);
}

struct policy_msg {
    size_t slot;
    struct policy *policy;
};

void *worker_policy_msg_new(size_t slot, struct policy *p)
{
    struct policy_msg *m = cg_xmalloc(sizeof(*m));
    m->slot = slot;
    m->policy = policy_ref(p);
    return m;
}

void worker_set_policy(struct worker *w, void *arg)
{
    struct policy_msg *m = arg;
    struct policy *old = w->policies[m->slot];
    w->policies[m->slot] = m->policy;
    /* Decisions are synchronous and copy what outlives them: nobody on this thread
     * holds a pointer into |old| now. */
    policy_unref(old);
    free(m);
}
