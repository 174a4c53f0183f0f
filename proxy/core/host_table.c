#include "proxy/core/host_table.h"

#include <stdlib.h>
#include <string.h>

#include "common/hostname.h"
#include "common/mem.h"

struct host_table *host_table_new(const struct config_listener *l, size_t first_slot)
{
    struct host_table *t = cg_xcalloc(1, sizeof(*t));
    atomic_init(&t->refs, 1);
    t->cfg = l;
    t->num_entries = l->num_hosts + (l->upstream != NULL ? 1 : 0);
    t->entries = cg_xcalloc(t->num_entries ? t->num_entries : 1, sizeof(*t->entries));
    for (size_t i = 0; i < l->num_hosts; i++) {
        const struct config_host *h = &l->hosts[i];
        t->entries[i] = (struct host_entry){
            .name = h->name,
            .cfg = h,
            .policy_file = h->policy,
            .policy_slot = first_slot + i,
            .upstream_index = h->upstream_index,
        };
    }
    if (l->upstream != NULL) {
        struct host_entry *d = &t->entries[l->num_hosts];
        *d = (struct host_entry){
            .name = "",
            .policy_file = l->policy,
            .policy_slot = first_slot + l->num_hosts,
            .upstream_index = l->upstream_index,
        };
        t->def = d;
    }
    return t;
}

struct host_table *host_table_ref(struct host_table *t)
{
    atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
    return t;
}

void host_table_unref(struct host_table *t)
{
    if (t == NULL || atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1) {
        return;
    }
    free(t->entries);
    free(t);
}

static const struct host_entry *entry_of(const struct host_table *t, const struct config_host *h)
{
    return h != NULL ? &t->entries[h->index] : t->def;
}

const struct host_entry *host_table_for_sni(const struct host_table *t, const char *sni)
{
    return entry_of(t, config_host_names_find(&t->cfg->host_names, cg_str_from_cstr(sni)));
}

bool host_table_misdirected(const struct host_table *t, const struct host_entry *e,
                            struct cg_str authority)
{
    if (authority.len == 0 || t->cfg->num_hosts == 0) {
        return false;
    }
    const struct config_host *h =
        config_host_names_find(&t->cfg->host_names, cg_authority_host(authority));
    return h != e->cfg;
}

static bool prefix_eq(const char *a, const char *b, size_t n, bool case_sensitive)
{
    if (case_sensitive) {
        return memcmp(a, b, n) == 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (cg_ascii_lower(a[i]) != cg_ascii_lower(b[i])) {
            return false;
        }
    }
    return true;
}

size_t host_entry_upstream(const struct host_entry *e, struct cg_str path, bool case_sensitive)
{
    if (e->cfg == NULL) {
        return e->upstream_index;
    }
    /* Longest first: the first that matches is the longest. */
    for (size_t i = 0; i < e->cfg->num_paths; i++) {
        const struct config_path *r = &e->cfg->paths[i];
        if (path.len < r->prefix_len ||
            !prefix_eq(path.p, r->prefix, r->prefix_len, case_sensitive)) {
            continue;
        }
        if (path.len == r->prefix_len || r->prefix[r->prefix_len - 1] == '/' ||
            path.p[r->prefix_len] == '/') {
            return r->upstream_index;
        }
    }
    return e->upstream_index;
}
