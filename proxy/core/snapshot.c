#include "proxy/core/snapshot.h"

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "policy/policy.h"
#include "proxy/core/host_table.h"
#include "proxy/tls/tls_client.h"
#include "proxy/tls/tls_server.h"
#include "proxy/upstream/upstream_set.h"

struct snapshot *snapshot_new(struct config *cfg, uint64_t generation)
{
    struct snapshot *s = cg_xcalloc(1, sizeof(*s));
    atomic_init(&s->refs, 1);
    s->generation = generation;
    s->cfg = cfg;
    s->listeners = cg_xcalloc(cfg->num_listeners ? cfg->num_listeners : 1, sizeof(*s->listeners));
    size_t num_slots = 0;
    for (size_t i = 0; i < cfg->num_listeners; i++) {
        num_slots += cfg->listeners[i].num_hosts + (cfg->listeners[i].upstream != NULL ? 1 : 0);
    }
    s->policy_slots = cg_xcalloc(num_slots ? num_slots : 1, sizeof(*s->policy_slots));
    for (size_t i = 0; i < cfg->num_listeners; i++) {
        struct listener_rt *lrt = &s->listeners[i];
        lrt->cfg = &cfg->listeners[i];
        lrt->index = i;
        lrt->metrics_index = i;
        lrt->hosts = host_table_new(lrt->cfg, s->num_policy_slots);
        for (size_t k = 0; k < lrt->hosts->num_entries; k++) {
            const struct host_entry *e = &lrt->hosts->entries[k];
            s->policy_slots[e->policy_slot] =
                (struct policy_slot){.listener = i, .host = e->name, .file = e->policy_file};
        }
        s->num_policy_slots += lrt->hosts->num_entries;
    }
    s->num_metrics = cfg->num_listeners;
    s->upstream_tls =
        cg_xcalloc(cfg->num_upstreams ? cfg->num_upstreams : 1, sizeof(*s->upstream_tls));
    s->upstream_sets =
        cg_xcalloc(cfg->num_upstreams ? cfg->num_upstreams : 1, sizeof(*s->upstream_sets));
    return s;
}

struct snapshot *snapshot_ref(struct snapshot *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

void snapshot_unref(struct snapshot *s)
{
    if (s == NULL || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1) {
        return;
    }
    for (size_t i = 0; i < s->cfg->num_listeners; i++) {
        tls_server_free(s->listeners[i].tls);
        host_table_unref(s->listeners[i].hosts);
        ipset_cleanup(&s->listeners[i].proxy_from);
    }
    free(s->listeners);
    for (size_t i = 0; i < s->num_policy_slots; i++) {
        policy_unref(s->policy_slots[i].policy);
    }
    free(s->policy_slots);
    for (size_t i = 0; i < s->cfg->num_upstreams; i++) {
        tls_client_free(s->upstream_tls[i]);
        upstream_set_unref(s->upstream_sets[i]);
    }
    free(s->upstream_tls);
    free(s->upstream_sets);
    config_free(s->cfg);
    free(s);
}

void snapshot_take_upstream_sets(struct snapshot *s, struct upstream_set *const *sets)
{
    for (size_t i = 0; i < s->cfg->num_upstreams; i++) {
        upstream_set_unref(s->upstream_sets[i]);
        s->upstream_sets[i] = upstream_set_ref(sets[i]);
    }
}

const struct listener_rt *snapshot_find_listener(const struct snapshot *s, const char *name)
{
    for (size_t i = 0; i < s->cfg->num_listeners; i++) {
        if (strcmp(s->listeners[i].cfg->name, name) == 0) {
            return &s->listeners[i];
        }
    }
    return NULL;
}
