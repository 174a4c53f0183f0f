#include "control/config_reload.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "policy/policy.h"
#include "proxy/core/host_table.h"
#include "proxy/core/runtime.h"
#include "proxy/core/worker.h"
#include "proxy/protocols.h"
#include "proxy/tls/tls_client.h"
#include "proxy/tls/tls_server.h"

/* setup_tls creates listener |lrt|'s TLS context with its certificates and every host
 * entry's own. */
static int setup_tls(struct listener_rt *lrt, struct cg_errbuf *err)
{
    const struct config_listener *l = lrt->cfg;
    struct tls_cert_set *certs;
    int rc = tls_cert_set_load(l->tls.certificates, l->tls.num_certificates, &certs, err);
    if (rc != CG_OK) {
        return rc;
    }
    rc = tls_server_new(l, certs, &lrt->tls, err);
    tls_cert_set_unref(certs);
    for (size_t h = 0; rc == CG_OK && h < l->num_hosts; h++) {
        const struct config_host *host = &l->hosts[h];
        if (host->num_certificates == 0) {
            continue;
        }
        rc = tls_cert_set_load(host->certificates, host->num_certificates, &certs, err);
        if (rc == CG_OK) {
            tls_server_set_host_certs(lrt->tls, h, certs);
            tls_cert_set_unref(certs);
        }
    }
    return rc;
}

/* load_policy loads the file of |snap|'s policy slot |slot|, validated for its listener,
 * into the slot (nothing is published: the workers get the snapshot with it). */
int config_reload_read_policy(struct runtime *rt, const struct snapshot *snap, size_t slot,
                              struct policy **out, struct cg_errbuf *err)
{
    const struct policy_slot *ps = &snap->policy_slots[slot];
    const struct config_listener *l = snap->listeners[ps->listener].cfg;
    struct policy_load_opts opts = {.client_ca = l->tls.client_ca != NULL};
    int rc = policy_load_file(ps->file, &opts, out, err);
    if (rc == CG_OK) {
        policy_set_generation(*out, atomic_fetch_add(&rt->policy_generation, 1) + 1);
    }
    return rc;
}

static int load_policy(struct runtime *rt, struct snapshot *snap, size_t slot,
                       struct cg_errbuf *err)
{
    struct policy_slot *ps = &snap->policy_slots[slot];
    const struct config_listener *l = snap->listeners[ps->listener].cfg;
    if (ps->file == NULL) {
        CG_LOG_WARN("listener %s%s%s has no policy: every request is denied", l->name,
                    ps->host[0] ? " host " : "", ps->host);
        return CG_OK;
    }
    struct policy *p;
    int rc = config_reload_read_policy(rt, snap, slot, &p, err);
    if (rc != CG_OK) {
        return rc;
    }
    uint64_t gen = policy_generation(p);
    ps->policy = p;
    /* A reload's snapshot is not in force before it is published (or refused). */
    CG_LOG_INFO("listener %s%s%s: policy %s %s (generation %" PRIu64 ", %zu certificates, "
                "%zu routes)",
                l->name, ps->host[0] ? " host " : "", ps->host, ps->file,
                snap->generation == 1 ? "in force" : "loaded", gen,
                policy_num_certificates(p), policy_num_routes(p));
    return CG_OK;
}

static int setup_listener(struct runtime *rt, struct snapshot *snap, struct listener_rt *lrt,
                          struct cg_errbuf *err)
{
    const struct config_listener *l = lrt->cfg;
    proxy_protocols_listener(l, lrt);
    for (size_t k = 0; k < l->proxy_protocol.num_from; k++) {
        int rc = ipset_add(&lrt->proxy_from, l->proxy_protocol.from[k], err);
        if (rc != CG_OK) {
            return rc;
        }
    }
    ipset_finish(&lrt->proxy_from);
    int rc = setup_tls(lrt, err);
    for (size_t k = 0; rc == CG_OK && k < lrt->hosts->num_entries; k++) {
        rc = load_policy(rt, snap, lrt->hosts->entries[k].policy_slot, err);
    }
    return rc;
}

/* metrics_index returns the counters' index of listener |name|, adding the name when it
 * is new. */
static size_t metrics_index(struct runtime *rt, const char *name)
{
    for (size_t i = 0; i < rt->num_listener_names; i++) {
        if (strcmp(rt->listener_names[i], name) == 0) {
            return i;
        }
    }
    rt->listener_names =
        cg_xrealloc(rt->listener_names, (rt->num_listener_names + 1) * sizeof(char *));
    rt->listener_names[rt->num_listener_names] = cg_xstrdup(name);
    return rt->num_listener_names++;
}

int config_reload_load(struct runtime *rt, struct snapshot *snap, struct cg_errbuf *err)
{
    const struct config *cfg = snap->cfg;
    int rc = CG_OK;
    for (size_t i = 0; rc == CG_OK && i < cfg->num_listeners; i++) {
        rc = setup_listener(rt, snap, &snap->listeners[i], err);
    }
    /* The TLS client of every upstream with "tls" is loaded once, for all workers. */
    for (size_t i = 0; rc == CG_OK && i < cfg->num_upstreams; i++) {
        rc = proxy_protocols_upstream_tls(&cfg->upstreams[i], &snap->upstream_tls[i], err);
    }
    if (rc != CG_OK) {
        return rc;
    }
    /* A slot's reload counts go on in the slot of the same listener and host entry. */
    for (size_t i = 0; rt->snap != NULL && rt->snap != snap && i < snap->num_policy_slots; i++) {
        struct policy_slot *ps = &snap->policy_slots[i];
        const char *lname = snap->listeners[ps->listener].cfg->name;
        for (size_t k = 0; k < rt->snap->num_policy_slots; k++) {
            const struct policy_slot *old = &rt->snap->policy_slots[k];
            if (strcmp(old->host, ps->host) == 0 &&
                strcmp(rt->snap->listeners[old->listener].cfg->name, lname) == 0) {
                ps->reloads = old->reloads;
                ps->reload_failures = old->reload_failures;
            }
        }
    }
    snap->num_metrics = 0;
    for (size_t i = 0; i < cfg->num_listeners; i++) {
        struct listener_rt *lrt = &snap->listeners[i];
        lrt->metrics_index = metrics_index(rt, lrt->cfg->name);
        if (lrt->metrics_index + 1 > snap->num_metrics) {
            snap->num_metrics = lrt->metrics_index + 1;
        }
    }
    return CG_OK;
}

int config_reload_build(struct runtime *rt, struct config *cfg, uint64_t generation,
                        struct snapshot **out, struct cg_errbuf *err)
{
    struct snapshot *snap = snapshot_new(cfg, generation);
    int rc = config_reload_load(rt, snap, err);
    if (rc != CG_OK) {
        snapshot_unref(snap);
        return rc;
    }
    *out = snap;
    return CG_OK;
}

void config_reload_set_current(struct runtime *rt, struct snapshot *snap)
{
    struct snapshot *old = rt->snap;
    rt->snap = snap;
    rt->cfg = snap->cfg;
    rt->listeners = snap->listeners;
    rt->policy_slots = snap->policy_slots;
    rt->num_policy_slots = snap->num_policy_slots;
    atomic_store(&rt->config_generation, snap->generation);
    if (old != NULL) {
        rt->retired = cg_xrealloc(rt->retired, (rt->num_retired + 1) * sizeof(*rt->retired));
        rt->retired[rt->num_retired++] = old;
    }
    config_reload_num_live(rt);
}

size_t config_reload_num_live(struct runtime *rt)
{
    size_t kept = 0;
    for (size_t i = 0; i < rt->num_retired; i++) {
        /* Only the workers take references, and only to a snapshot they were sent: one
         * left is ours, and nobody can take another. */
        if (atomic_load(&rt->retired[i]->refs) == 1) {
            snapshot_unref(rt->retired[i]);
        } else {
            rt->retired[kept++] = rt->retired[i];
        }
    }
    rt->num_retired = kept;
    return kept + (rt->snap != NULL ? 1 : 0);
}

/* publish_in sets |p| in every matching slot of |snap| and tells every worker. */
static void publish_in(struct runtime *rt, struct snapshot *snap, const char *file,
                       bool client_ca, struct policy *p)
{
    for (size_t i = 0; i < snap->num_policy_slots; i++) {
        struct policy_slot *ps = &snap->policy_slots[i];
        const struct config_listener *l = snap->listeners[ps->listener].cfg;
        if (ps->file == NULL || strcmp(ps->file, file) != 0 ||
            (l->tls.client_ca != NULL) != client_ca) {
            continue;
        }
        for (unsigned w = 0; w < rt->num_workers; w++) {
            if (rt->workers != NULL && rt->workers[w] != NULL) {
                worker_post(rt->workers[w], worker_set_policy, worker_policy_msg_new(snap, i, p));
            }
        }
        policy_unref(ps->policy);
        ps->policy = policy_ref(p);
    }
}

void config_reload_publish_policy(struct runtime *rt, const char *file, bool client_ca,
                                  struct policy *p)
{
    config_reload_num_live(rt);
    publish_in(rt, rt->snap, file, client_ca, p);
    for (size_t i = 0; i < rt->num_retired; i++) {
        publish_in(rt, rt->retired[i], file, client_ca, p);
    }
}

void config_reload_cleanup(struct runtime *rt)
{
    for (size_t i = 0; i < rt->num_retired; i++) {
        snapshot_unref(rt->retired[i]);
    }
    free(rt->retired);
    rt->retired = NULL;
    rt->num_retired = 0;
    snapshot_unref(rt->snap);
    rt->snap = NULL;
    for (size_t i = 0; i < rt->num_listener_names; i++) {
        free(rt->listener_names[i]);
    }
    free(rt->listener_names);
    rt->listener_names = NULL;
    rt->num_listener_names = 0;
}
