/* The servers of a worker's upstream pool (proxy/upstream/upstream_pool.h): this
 * worker's side of each server of the current set (struct upstream_target), the choice
 * of a server by the upstream's balance, passive marking, a new set taking over. The
 * connections are upstream_pool.c's. */
#include "proxy/upstream/upstream_pool.h"

#include <stdlib.h>

#include "common/bug.h"
#include "common/counter.h"
#include "common/log.h"
#include "common/mem.h"
#include "proxy/upstream/upstream_pool_internal.h"
#include "proxy/upstream/upstream_set.h"

void upstream_target_set_down_until(struct upstream_target *t, uint64_t ms)
{
    /* Any worker may mark a server; the last store wins, as a later failure would. */
    if (atomic_load_explicit(&t->shared->down_until_ms, memory_order_relaxed) != ms) {
        atomic_store_explicit(&t->shared->down_until_ms, ms, memory_order_relaxed);
    }
}
struct upstream_target *upstream_target_new(struct upstream_pool *pool, struct upstream_server *s)
{
    struct upstream_target *t = cg_xcalloc(1, sizeof(*t));
    t->pool = pool;
    t->shared = upstream_server_ref(s);
    CG_BUG_ON(pool->worker >= s->num_workers);
    t->counters = &s->counters[pool->worker];
    return t;
}
void upstream_target_free(struct upstream_target *t)
{
    CG_BUG_ON(t->holds != 0 || t->idle != NULL || t->inflight != 0);
    upstream_server_unref(t->shared);
    free(t);
}
void upstream_target_drop(struct upstream_target *t)
{
    CG_BUG_ON(t->holds == 0);
    if (--t->holds == 0 && t->retired) {
        upstream_target_free(t);
    }
}
void upstream_target_mark_down(struct upstream_target *s, const char *why)
{
    struct upstream_pool *pool = s->pool;
    upstream_target_set_down_until(s,
                                   upstream_now_ms(pool->base) + pool->cfg->timeouts.upstream_down);
    cg_counter_add(&s->counters->connect_errors, 1);
    CG_LOG_WARN("upstream %s: server %s %s, marked down for %llu ms", pool->up->name,
                s->shared->addr.text, why, (unsigned long long)pool->cfg->timeouts.upstream_down);
}
/* pick chooses the server for a new request among the usable ones (healthy, not
 * marked down): the next in turn, or with least_requests the one with the fewest
 * requests in flight on this worker, the next in turn among equals. */
struct upstream_target *upstream_pool_pick(struct upstream_pool *pool)
{
    size_t n = pool->num_targets;
    if (n == 0) {
        return NULL;
    }
    uint64_t now = upstream_now_ms(pool->base);
    bool least = pool->up->balance == CONFIG_BALANCE_LEAST_REQUESTS;
    struct upstream_target *best = NULL;
    size_t best_at = 0;
    for (size_t i = 0; i < n; i++) {
        size_t at = pool->next + i < n ? pool->next + i : pool->next + i - n;
        struct upstream_target *t = pool->targets[at];
        if (!upstream_server_usable(t->shared, now) ||
            (best != NULL && t->inflight >= best->inflight)) {
            continue;
        }
        best = t;
        best_at = at;
        if (!least || t->inflight == 0) {
            break;
        }
    }
    if (best != NULL) {
        pool->next = best_at + 1 < n ? best_at + 1 : 0;
    }
    return best;
}
/* ---- servers ---------------------------------------------------------------------- */

void upstream_pool_set_servers(struct upstream_pool *pool, struct upstream_set *set)
{
    struct upstream_target **targets =
        cg_xcalloc(set->num_servers ? set->num_servers : 1, sizeof(*targets));
    for (size_t i = 0; i < set->num_servers; i++) {
        for (size_t k = 0; k < pool->num_targets && targets[i] == NULL; k++) {
            if (pool->targets[k] != NULL && pool->targets[k]->shared == set->servers[i]) {
                targets[i] = pool->targets[k];
                pool->targets[k] = NULL;
            }
        }
        if (targets[i] == NULL) {
            targets[i] = upstream_target_new(pool, set->servers[i]);
        }
    }
    /* What is left of the old targets left the set: idle connections close now, busy
     * ones when released, and no new request goes there. */
    for (size_t k = 0; k < pool->num_targets; k++) {
        struct upstream_target *t = pool->targets[k];
        if (t == NULL) {
            continue;
        }
        t->retired = true;
        t->holds++; /* closing its connections and the owner's callback may drop the
                       last other hold */
        upstream_target_close_idle(t);
        if (pool->on_retire != NULL) {
            pool->on_retire(pool->retire_arg, t);
        }
        upstream_target_drop(t);
    }
    free(pool->targets);
    pool->targets = targets;
    pool->num_targets = set->num_servers;
    if (pool->next >= pool->num_targets) {
        pool->next = 0;
    }
    upstream_set_unref(pool->set);
    pool->set = upstream_set_ref(set);
}

void upstream_pool_on_retire(struct upstream_pool *pool,
                             void (*fn)(void *arg, struct upstream_target *t), void *arg)
{
    pool->on_retire = fn;
    pool->retire_arg = arg;
}

enum cg_reason upstream_pool_unavailable(const struct upstream_pool *pool)
{
    return pool->num_targets == 0 ? CG_REASON_UPSTREAM_UNRESOLVED : CG_REASON_NO_HEALTHY_SERVER;
}

void upstream_target_hold(struct upstream_target *t)
{
    t->holds++;
}

void upstream_target_begin_request(struct upstream_target *t)
{
    t->inflight++;
}

void upstream_target_end_request(struct upstream_target *t)
{
    CG_BUG_ON(t->inflight == 0);
    t->inflight--;
}

bool upstream_target_retired(const struct upstream_target *t)
{
    return t->retired;
}

struct upstream_server *upstream_target_server(const struct upstream_target *t)
{
    return t->shared;
}

void upstream_target_mark_up(struct upstream_target *t)
{
    upstream_target_set_down_until(t, 0);
}

static void count_response(struct upstream_pool *pool, struct upstream_target *s, int status,
                           uint64_t response_us)
{
    cg_counter_add(&s->counters->responses[cg_http_status_slot(status)], 1);
    cg_latency_observe(&pool->response_time, response_us);
}

void upstream_target_count_response(struct upstream_target *t, int status, uint64_t response_us)
{
    count_response(t->pool, t, status, response_us);
}

void upstream_pool_report(const struct upstream_pool *pool, struct cg_latency_sum *response_time)
{
    cg_latency_add_to(&pool->response_time, response_time);
}
