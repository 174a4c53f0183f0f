#include "control/upstream_sets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "control/upstream_dns.h"
#include "control/upstream_health.h"
#include "proxy/core/runtime.h"
#include "proxy/core/worker.h"
#include "proxy/core/worker_upstreams.h"
#include "proxy/upstream/upstream_set.h"

/* struct host_addrs is the last good answer for one name. */
struct host_addrs {
    struct config_address *addrs; /* texts interned */
    size_t num;
};

struct upstream_sets {
    struct runtime *rt;
    struct event_base *base;
    size_t num_upstreams;           /* of the snapshot it was made for */
    struct upstream_set **sets;     /* per upstream; rt->upstream_sets while current */
    char **names;                   /* per upstream: its name, and its servers as written
                                       (what a reload compares to carry the servers over) */
    char **specs;
    size_t *num_hosts;
    struct upstream_dns *dns;       /* NULL once stopped */
    struct upstream_health *health; /* NULL once stopped */
    struct host_addrs **hosts;      /* per upstream, per name */
    char **texts; /* every address text a server ever had: servers point at them, and a
                     log line may hold one after its server left (upstream_server_new) */
    size_t num_texts, cap_texts;
    uint64_t *health_passed, *health_failed; /* kept once the checks stop */
    bool waiting;                            /* upstream_sets_wait is running the loop */
};

static const char *intern(struct upstream_sets *us, const char *text)
{
    for (size_t i = 0; i < us->num_texts; i++) {
        if (strcmp(us->texts[i], text) == 0) {
            return us->texts[i];
        }
    }
    if (us->num_texts == us->cap_texts) {
        us->cap_texts = us->cap_texts ? 2 * us->cap_texts : 16;
        us->texts = cg_xrealloc(us->texts, us->cap_texts * sizeof(*us->texts));
    }
    us->texts[us->num_texts] = cg_xstrdup(text);
    return us->texts[us->num_texts++];
}

/* describe writes the servers of |set| into |out|: "a, b" or "none". */
static const char *describe(const struct upstream_set *set, char *out, size_t len)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < set->num_servers && n < len; i++) {
        int w = snprintf(out + n, len - n, "%s%s", i ? ", " : "", set->servers[i]->addr.text);
        n += w > 0 ? (size_t)w : 0;
    }
    if (set->num_servers == 0) {
        snprintf(out, len, "none");
    }
    return out;
}

/* rebuild makes the set of upstream |u| from its literals and its names' last answers,
 * and publishes it if it differs. */
static void rebuild(struct upstream_sets *us, size_t u)
{
    struct runtime *rt = us->rt;
    const struct config_upstream *up = &rt->cfg->upstreams[u];
    size_t num = up->num_servers;
    for (size_t h = 0; h < up->num_hosts; h++) {
        num += us->hosts[u][h].num;
    }
    struct config_address *addrs = cg_xcalloc(num ? num : 1, sizeof(*addrs));
    size_t n = 0;
    for (size_t i = 0; i < up->num_servers; i++) {
        /* Interned: a server outlives the configuration that named it when a reload
         * keeps it (take_over). */
        addrs[n] = up->servers[i];
        addrs[n++].text = (char *)intern(us, up->servers[i].text);
    }
    for (size_t h = 0; h < up->num_hosts; h++) {
        for (size_t i = 0; i < us->hosts[u][h].num; i++) {
            addrs[n++] = us->hosts[u][h].addrs[i];
        }
    }
    struct upstream_set *old = us->sets[u];
    struct upstream_set *set = upstream_set_new(old, addrs, n, up->tls.enabled, rt->cfg->workers);
    free(addrs);
    if (old != NULL && upstream_set_same(old, set)) {
        upstream_set_unref(set);
        return;
    }
    char now[1024], was[1024];
    if (old != NULL || set->num_servers > 0) { /* nothing to say before a name resolves */
        CG_LOG_INFO("upstream %s: servers %s (were %s)", up->name,
                    describe(set, now, sizeof(now)),
                    old != NULL ? describe(old, was, sizeof(was)) : "none");
    }
    us->sets[u] = set;
    upstream_set_unref(old);
    for (unsigned w = 0; rt->workers != NULL && w < rt->num_workers; w++) {
        if (rt->workers[w] != NULL) {
            worker_post(rt->workers[w], worker_set_upstream_servers,
                        worker_upstream_msg_new(rt->snap, u, set));
        }
    }
    if (us->health != NULL) {
        upstream_health_set_servers(us->health, u, set);
    }
}

static void on_answer(void *arg, size_t u, size_t h, const struct config_address *addrs, size_t num)
{
    struct upstream_sets *us = arg;
    if (num > 0) {
        struct host_addrs *ha = &us->hosts[u][h];
        free(ha->addrs);
        ha->addrs = cg_xcalloc(num, sizeof(*ha->addrs));
        for (size_t i = 0; i < num; i++) {
            ha->addrs[i] = addrs[i];
            ha->addrs[i].text = (char *)intern(us, addrs[i].text);
        }
        ha->num = num;
        rebuild(us, u);
    }
    if (us->waiting && upstream_dns_settled(us->dns)) {
        event_base_loopbreak(us->base);
    }
}

/* spec_of writes what upstream |up| is as its servers are concerned: protocol, TLS,
 * servers and names as written. */
static char *spec_of(const struct config_upstream *up)
{
    size_t len = 32;
    for (size_t i = 0; i < up->num_servers; i++) {
        len += strlen(up->servers[i].text) + 1;
    }
    for (size_t h = 0; h < up->num_hosts; h++) {
        len += strlen(up->hosts[h].text) + 1;
    }
    char *spec = cg_xmalloc(len);
    size_t n = (size_t)snprintf(spec, len, "%d %d|", (int)up->protocol, up->tls.enabled ? 1 : 0);
    for (size_t i = 0; i < up->num_servers; i++) {
        n += (size_t)snprintf(spec + n, len - n, "%s,", up->servers[i].text);
    }
    for (size_t h = 0; h < up->num_hosts; h++) {
        n += (size_t)snprintf(spec + n, len - n, "%s,", up->hosts[h].text);
    }
    return spec;
}

/* take_over gives upstream |u| what |prev| knew of the upstream of the same name: its
 * set, so that servers that stay keep their state (health, passive marks, sessions,
 * counters), and, when its servers are written the same, its names' last answers too,
 * so that a reload never leaves a named upstream without servers until DNS answers. */
static void take_over(struct upstream_sets *us, struct upstream_sets *prev, size_t u)
{
    for (size_t j = 0; j < prev->num_upstreams; j++) {
        if (strcmp(prev->names[j], us->names[u]) != 0) {
            continue;
        }
        us->sets[u] = upstream_set_ref(prev->sets[j]);
        if (strcmp(prev->specs[j], us->specs[u]) == 0) {
            for (size_t h = 0; h < us->num_hosts[u]; h++) {
                struct host_addrs *from = &prev->hosts[j][h];
                us->hosts[u][h].addrs = from->addrs; /* texts stay interned in us */
                us->hosts[u][h].num = from->num;
                from->addrs = NULL;
                from->num = 0;
            }
        }
        return;
    }
}

int upstream_sets_new(struct runtime *rt, struct event_base *base, struct upstream_sets *prev,
                      struct upstream_sets **out, struct cg_errbuf *err)
{
    const struct config *cfg = rt->cfg;
    size_t nu = cfg->num_upstreams ? cfg->num_upstreams : 1;
    struct upstream_sets *us = cg_xcalloc(1, sizeof(*us));
    us->rt = rt;
    us->base = base;
    us->num_upstreams = cfg->num_upstreams;
    us->sets = cg_xcalloc(nu, sizeof(*us->sets));
    us->names = cg_xcalloc(nu, sizeof(*us->names));
    us->specs = cg_xcalloc(nu, sizeof(*us->specs));
    us->num_hosts = cg_xcalloc(nu, sizeof(*us->num_hosts));
    us->hosts = cg_xcalloc(nu, sizeof(*us->hosts));
    us->health_passed = cg_xcalloc(nu, sizeof(*us->health_passed));
    us->health_failed = cg_xcalloc(nu, sizeof(*us->health_failed));
    if (prev != NULL) {
        /* Servers of the sets taken over point at these texts, and log lines may too. */
        us->texts = prev->texts;
        us->num_texts = prev->num_texts;
        us->cap_texts = prev->cap_texts;
        prev->texts = NULL;
        prev->num_texts = prev->cap_texts = 0;
    }
    for (size_t u = 0; u < cfg->num_upstreams; u++) {
        us->names[u] = cg_xstrdup(cfg->upstreams[u].name);
        us->specs[u] = spec_of(&cfg->upstreams[u]);
        us->num_hosts[u] = cfg->upstreams[u].num_hosts;
        us->hosts[u] = cg_xcalloc(us->num_hosts[u] ? us->num_hosts[u] : 1, sizeof(*us->hosts[u]));
        if (prev != NULL) {
            take_over(us, prev, u);
        }
    }
    upstream_sets_free(prev);
    rt->upstream_sets = us->sets;
    rt->upstream_control = us;
    *out = us;
    us->health = upstream_health_new(rt, base);
    for (size_t u = 0; u < cfg->num_upstreams; u++) {
        rebuild(us, u);
    }
    return upstream_dns_new(base, cfg, on_answer, us, &us->dns, err);
}

static void on_wait_over(evutil_socket_t fd, short what, void *arg)
{
    event_base_loopbreak(arg);
}

void upstream_sets_wait(struct upstream_sets *us, struct event_base *base, uint64_t max_ms)
{
    if (us->dns != NULL && !upstream_dns_settled(us->dns)) {
        /* A timer of our own, not event_base_loopexit: that one would stay pending and
         * end the main loop later if the answers come first. */
        struct event *ev = evtimer_new(base, on_wait_over, base);
        struct timeval tv = cg_timeval_ms(max_ms);
        evtimer_add(ev, &tv);
        us->waiting = true;
        event_base_dispatch(base);
        us->waiting = false;
        event_free(ev);
    }
    const struct config *cfg = us->rt->cfg;
    for (size_t u = 0; u < cfg->num_upstreams; u++) {
        if (us->sets[u]->num_servers == 0) {
            CG_LOG_WARN("upstream %s has no server yet (no name resolved within %llu ms): its "
                        "requests get 503 upstream_unresolved until one does",
                        cfg->upstreams[u].name, (unsigned long long)max_ms);
        }
    }
}

void upstream_sets_resolve_counts(const struct upstream_sets *us, size_t index, uint64_t *out_ok,
                                  uint64_t *out_failed)
{
    *out_ok = 0;
    *out_failed = 0;
    if (us->dns != NULL) {
        upstream_dns_counts(us->dns, index, out_ok, out_failed);
    }
}

void upstream_sets_health_counts(const struct upstream_sets *us, size_t index, uint64_t *out_passed,
                                 uint64_t *out_failed)
{
    if (us->health != NULL) {
        upstream_health_checks(us->health, index, out_passed, out_failed);
        return;
    }
    *out_passed = us->health_passed[index];
    *out_failed = us->health_failed[index];
}

void upstream_sets_stop(struct upstream_sets *us)
{
    if (us == NULL) {
        return;
    }
    upstream_dns_free(us->dns);
    us->dns = NULL;
    if (us->health != NULL) {
        for (size_t u = 0; u < us->num_upstreams; u++) {
            upstream_health_checks(us->health, u, &us->health_passed[u], &us->health_failed[u]);
        }
    }
    upstream_health_free(us->health);
    us->health = NULL;
}

void upstream_sets_free(struct upstream_sets *us)
{
    if (us == NULL) {
        return;
    }
    upstream_sets_stop(us);
    struct runtime *rt = us->rt;
    for (size_t u = 0; u < us->num_upstreams; u++) {
        upstream_set_unref(us->sets[u]);
        for (size_t h = 0; h < us->num_hosts[u]; h++) {
            free(us->hosts[u][h].addrs);
        }
        free(us->hosts[u]);
        free(us->names[u]);
        free(us->specs[u]);
    }
    if (rt->upstream_control == us) {
        rt->upstream_sets = NULL;
        rt->upstream_control = NULL;
    }
    free(us->sets);
    free(us->names);
    free(us->specs);
    free(us->num_hosts);
    for (size_t i = 0; i < us->num_texts; i++) {
        free(us->texts[i]);
    }
    free(us->texts);
    free(us->hosts);
    free(us->health_passed);
    free(us->health_failed);
    free(us);
}
