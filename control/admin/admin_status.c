/* Admin API: what the process reports about itself (status, Prometheus metrics, the
 * Kubernetes probes) and the explicit reload. Read-only except for admin_reload. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "control/admin/admin_internal.h"
#include "control/health.h"
#include "control/metrics_scrape.h"
#include "control/metrics_text.h"
#include "common/timestamp.h"
#include "control/reload.h"
#include "pki/registry.h"
#include "proxy/core/access_log.h"
#include "proxy/core/host_table.h"
#include "proxy/core/runtime.h"
#include "proxy/tls/tls_server.h"

/* certificates_json describes the certificates of |set| (NULL: none); it drops the
 * caller's reference. */
static json_t *certificates_json(struct tls_cert_set *set, time_t now)
{
    json_t *arr = json_array();
    for (size_t i = 0; set != NULL && i < tls_cert_set_num(set); i++) {
        struct tls_cert_info info;
        tls_cert_set_info(set, i, &info);
        char when[CG_TIMESTAMP_RFC3339_SIZE];
        cg_timestamp_rfc3339(info.not_after, when);
        json_array_append_new(arr, json_pack("{ss ss ss sI}", "file", info.file, "subject",
                                             info.subject, "not_after", when, "days_left",
                                             (json_int_t)((info.not_after - now) / 86400)));
    }
    tls_cert_set_unref(set);
    return arr;
}

void admin_status(struct admin_server *a, const struct admin_request *req,
                  struct admin_response *resp)
{
    struct runtime *rt = a->rt;
    time_t now = time(NULL);
    json_t *listeners = json_array();
    for (size_t i = 0; i < rt->cfg->num_listeners; i++) {
        struct listener_rt *lrt = &rt->listeners[i];
        const struct host_table *t = lrt->hosts;
        const struct policy *p = t->def ? rt->policy_slots[t->def->policy_slot].policy : NULL;
        json_t *hosts = json_array();
        for (size_t h = 0; h < lrt->cfg->num_hosts; h++) {
            const struct host_entry *e = &t->entries[h];
            const struct policy *hp = rt->policy_slots[e->policy_slot].policy;
            json_array_append_new(
                hosts, json_pack("{ss ss sI sI so}", "name", e->name, "policy", e->policy_file,
                                 "policy_generation", (json_int_t)(hp ? policy_generation(hp) : 0),
                                 "policy_certificates",
                                 (json_int_t)(hp ? policy_num_certificates(hp) : 0), "certificates",
                                 certificates_json(tls_server_get_host_certs(lrt->tls, h), now)));
        }
        json_t *l = json_pack(
            "{ss ss? sI sI so so}", "name", lrt->cfg->name, "policy", lrt->cfg->policy,
            "policy_generation", (json_int_t)(p ? policy_generation(p) : 0), "policy_certificates",
            (json_int_t)(p ? policy_num_certificates(p) : 0), "certificates",
            certificates_json(tls_server_get_certs(lrt->tls), now), "hosts", hosts);
        json_array_append_new(listeners, l);
    }
    json_t *out = json_pack(
        "{sI sI ss so sI sI sI sI sI sI}", "generation",
        (json_int_t)atomic_load(&rt->policy_generation), "uptime_s",
        (json_int_t)(now - (time_t)rt->start_time), "admin_listener", a->lrt->cfg->name,
        "listeners", listeners, "reloads", (json_int_t)atomic_load(&rt->policy_reloads),
        "reload_failures", (json_int_t)atomic_load(&rt->policy_reload_failures), "cert_reloads",
        (json_int_t)atomic_load(&rt->cert_reloads), "cert_reload_failures",
        (json_int_t)atomic_load(&rt->cert_reload_failures), "connections",
        (json_int_t)atomic_load(&rt->connections), "admin_connections", (json_int_t)a->num_conns);
    /* What the console's live view shows: requests so far and denials by reason. */
    uint64_t total, denied[CG_REASON_COUNT];
    metrics_scrape_requests(rt, &total, denied);
    json_t *denials = json_object();
    for (unsigned r = 0; r < CG_REASON_COUNT; r++) {
        if (denied[r] > 0) {
            const char *name = cg_reason_str((enum cg_reason)r);
            json_object_set_new(denials, name[0] != '\0' ? name : "none",
                                json_integer((json_int_t)denied[r]));
        }
    }
    json_object_set_new(out, "cert_renewals",
                        json_integer((json_int_t)atomic_load(&rt->cert_renewals)));
    json_object_set_new(out, "cert_renewal_failures",
                        json_integer((json_int_t)atomic_load(&rt->cert_renewal_failures)));
    json_object_set_new(out, "requests_total", json_integer((json_int_t)total));
    json_object_set_new(out, "config",
                        json_pack("{ss sI sI sI}", "file", rt->cfg->source, "generation",
                                  (json_int_t)atomic_load(&rt->config_generation), "reloads",
                                  (json_int_t)atomic_load(&rt->config_reloads), "reload_failures",
                                  (json_int_t)atomic_load(&rt->config_reload_failures)));
    json_object_set_new(out, "denials_by_reason", denials);
    admin_resp_etag(a, resp);
    admin_resp_json(resp, 200, out);
}

void admin_metrics(struct admin_server *a, const struct admin_request *req,
                   struct admin_response *resp)
{
    metrics_scrape_write(a->rt, resp->body);
    resp->status = 200;
    resp->content_type = METRICS_TEXT_CONTENT_TYPE;
}

void admin_reload(struct admin_server *a, const struct admin_request *req,
                  struct admin_response *resp)
{
    struct runtime *rt = a->rt;
    uint64_t failures = atomic_load(&rt->policy_reload_failures);
    uint64_t cert_failures = atomic_load(&rt->cert_reload_failures);
    uint64_t config_failures = atomic_load(&rt->config_reload_failures);
    reloader_reload(a->rl, true);
    uint64_t refused = atomic_load(&rt->policy_reload_failures) - failures;
    uint64_t cert_refused = atomic_load(&rt->cert_reload_failures) - cert_failures;
    bool config_refused = atomic_load(&rt->config_reload_failures) != config_failures;
    resp->changed = true;
    snprintf(resp->reason, sizeof(resp->reason), "%s",
             refused || cert_refused || config_refused ? "partly refused" : "reloaded");
    admin_resp_etag(a, resp);
    admin_resp_json(resp, 200,
                    json_pack("{sb sb sI sI sI sI sI sI}", "ok",
                              !refused && !cert_refused && !config_refused, "config_refused",
                              config_refused, "config_generation",
                              (json_int_t)atomic_load(&rt->config_generation), "generation",
                              (json_int_t)atomic_load(&rt->policy_generation), "policies_refused",
                              (json_int_t)refused, "certificates_refused", (json_int_t)cert_refused,
                              "reloads", (json_int_t)atomic_load(&rt->policy_reloads),
                              "reload_failures",
                              (json_int_t)atomic_load(&rt->policy_reload_failures)));
}

void admin_healthz(struct admin_server *a, const struct admin_request *req,
                   struct admin_response *resp)
{
    admin_resp_json(resp, 200, json_pack("{ss}", "status", "ok"));
}

void admin_readyz(struct admin_server *a, const struct admin_request *req,
                  struct admin_response *resp)
{
    const char *why;
    if (!health_ready(a->rt, &why)) {
        admin_resp_json(resp, 503, json_pack("{ss ss}", "status", "not_ready", "reason", why));
        return;
    }
    admin_resp_json(resp, 200, json_pack("{ss}", "status", "ready"));
}
