#include "control/upstream_health.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "common/bug.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "control/upstream_probe.h"
#include "proxy/core/runtime.h"
#include "proxy/upstream/upstream_server.h"
#include "proxy/upstream/upstream_set.h"

/* struct checked is one server under check. */
struct checked {
    struct upstream_health *h;
    size_t upstream;
    struct upstream_server *server; /* a reference */
    unsigned passes;                /* in a row */
    unsigned fails;                 /* in a row */
    struct upstream_probe *probe;   /* the check running, or NULL */
    struct event *ev_next;          /* the next check */
    struct checked *next;
};

struct upstream_checks {
    struct checked *servers;
    uint64_t passed, failed;
};

struct upstream_health {
    struct runtime *rt;
    struct event_base *base;
    struct upstream_checks *upstreams; /* per config upstream */
};

static void on_done(void *arg, int status, const char *why)
{
    struct checked *c = arg;
    struct upstream_health *h = c->h;
    const struct config_upstream *up = &h->rt->cfg->upstreams[c->upstream];
    struct upstream_checks *u = &h->upstreams[c->upstream];
    c->probe = NULL;
    bool pass = false;
    for (size_t i = 0; i < up->health.num_expect && status != 0; i++) {
        pass = pass || up->health.expect[i] == status;
    }
    bool down = atomic_load(&c->server->health_down);
    if (pass) {
        u->passed++;
        c->fails = 0;
        c->passes++;
        if (down && c->passes >= up->health.rise) {
            atomic_store(&c->server->health_down, false);
            CG_LOG_INFO("upstream %s: server %s passed %u health checks: back in service", up->name,
                        c->server->addr.text, c->passes);
        }
        return;
    }
    u->failed++;
    c->passes = 0;
    c->fails++;
    char got[48];
    if (status != 0) {
        snprintf(got, sizeof(got), "status %d", status);
    }
    if (!down && c->fails >= up->health.fall) {
        atomic_store(&c->server->health_down, true);
        CG_LOG_WARN("upstream %s: server %s failed %u health checks (GET %s: %s): no more "
                    "requests until it passes %u",
                    up->name, c->server->addr.text, c->fails, up->health.path,
                    status != 0 ? got : why, up->health.rise);
    } else {
        CG_LOG_DEBUG("upstream %s: server %s failed a health check (%s)", up->name,
                     c->server->addr.text, status != 0 ? got : why);
    }
}

static void on_next(evutil_socket_t fd, short what, void *arg)
{
    struct checked *c = arg;
    const struct config_upstream *up = &c->h->rt->cfg->upstreams[c->upstream];
    struct timeval tv = cg_timeval_ms(up->health.interval);
    evtimer_add(c->ev_next, &tv);
    if (c->probe != NULL) {
        return; /* cannot happen: timeout <= interval */
    }
    c->probe = upstream_probe_start(c->h->base, up, c->h->rt->snap->upstream_tls[c->upstream], c->server,
                                    on_done, c);
}

static void checked_free(struct checked *c)
{
    if (c->probe != NULL) {
        upstream_probe_cancel(c->probe);
    }
    event_free(c->ev_next);
    upstream_server_unref(c->server);
    free(c);
}

struct upstream_health *upstream_health_new(struct runtime *rt, struct event_base *base)
{
    struct upstream_health *h = cg_xcalloc(1, sizeof(*h));
    h->rt = rt;
    h->base = base;
    size_t n = rt->cfg->num_upstreams;
    h->upstreams = cg_xcalloc(n ? n : 1, sizeof(*h->upstreams));
    return h;
}

void upstream_health_set_servers(struct upstream_health *h, size_t index,
                                 const struct upstream_set *set)
{
    if (!h->rt->cfg->upstreams[index].health.enabled) {
        return;
    }
    struct upstream_checks *u = &h->upstreams[index];
    struct checked *kept = NULL;
    for (size_t i = 0; i < set->num_servers; i++) {
        struct checked **pp = &u->servers;
        while (*pp != NULL && (*pp)->server != set->servers[i]) {
            pp = &(*pp)->next;
        }
        struct checked *c = *pp;
        if (c != NULL) {
            *pp = c->next;
        } else {
            c = cg_xcalloc(1, sizeof(*c));
            c->h = h;
            c->upstream = index;
            c->server = upstream_server_ref(set->servers[i]);
            c->ev_next = evtimer_new(h->base, on_next, c);
            CG_BUG_ON(c->ev_next == NULL);
            event_active(c->ev_next, EV_TIMEOUT, 0); /* the first check now */
        }
        c->next = kept;
        kept = c;
    }
    while (u->servers != NULL) {
        struct checked *c = u->servers;
        u->servers = c->next;
        checked_free(c);
    }
    u->servers = kept;
}

void upstream_health_checks(const struct upstream_health *h, size_t index, uint64_t *out_passed,
                            uint64_t *out_failed)
{
    *out_passed = h->upstreams[index].passed;
    *out_failed = h->upstreams[index].failed;
}

void upstream_health_free(struct upstream_health *h)
{
    if (h == NULL) {
        return;
    }
    for (size_t i = 0; i < h->rt->cfg->num_upstreams; i++) {
        while (h->upstreams[i].servers != NULL) {
            struct checked *c = h->upstreams[i].servers;
            h->upstreams[i].servers = c->next;
            checked_free(c);
        }
    }
    free(h->upstreams);
    free(h);
}
