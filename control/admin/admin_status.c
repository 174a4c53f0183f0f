/* Admin API: what the process reports about itself (status, Prometheus metrics, the
 * Kubernetes probes) and the explicit reload. Read-only except for admin_reload. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "control/admin/admin_internal.h"
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
    admin_resp_etag(a, resp);
    admin_resp_json(resp, 200, out);
}

/* label_escape writes |s| as a Prometheus label value (backslash, quote, newline). */
static void label_escape(struct evbuffer *out, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\' || *s == '"') {
            evbuffer_add_printf(out, "\\%c", *s);
        } else if (*s == '\n') {
            evbuffer_add(out, "\\n", 2);
        } else {
            evbuffer_add(out, s, 1);
        }
    }
}

static void metric(struct evbuffer *out, const char *name, const char *type, const char *help,
                   uint64_t value)
{
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name, help, name, type,
                        name, value);
}

void admin_metrics(struct admin_server *a, const struct admin_request *req,
                   struct admin_response *resp)
{
    struct runtime *rt = a->rt;
    struct evbuffer *out = resp->body;
    time_t now = time(NULL);
    metric(out, "certgate_policy_generation", "gauge",
           "Generation number of the last published policy.", atomic_load(&rt->policy_generation));
    metric(out, "certgate_policy_reloads_total", "counter", "Policy reloads that took effect.",
           atomic_load(&rt->policy_reloads));
    metric(out, "certgate_policy_reload_failures_total", "counter",
           "Policy reloads refused (the previous policy stayed in force).",
           atomic_load(&rt->policy_reload_failures));
    metric(out, "certgate_cert_reloads_total", "counter", "Serving certificate reloads.",
           atomic_load(&rt->cert_reloads));
    metric(out, "certgate_cert_reload_failures_total", "counter",
           "Serving certificate reloads refused.", atomic_load(&rt->cert_reload_failures));
    metric(out, "certgate_connections", "gauge", "Open client connections on proxy listeners.",
           atomic_load(&rt->connections));
    metric(out, "certgate_admin_connections", "gauge", "Open admin API connections.", a->num_conns);
    metric(out, "certgate_access_log_dropped_total", "counter",
           "Access log lines lost (buffer full or write error).",
           rt->access_log ? access_log_dropped(rt->access_log) : 0);
    metric(out, "certgate_uptime_seconds", "gauge", "Seconds since the process started.",
           (uint64_t)(now - (time_t)rt->start_time));
    evbuffer_add_printf(out, "# HELP certgate_policy_certificates Registry entries of the policy "
                             "in force.\n# TYPE certgate_policy_certificates gauge\n");
    for (size_t i = 0; i < rt->num_policy_slots; i++) {
        const struct policy_slot *ps = &rt->policy_slots[i];
        evbuffer_add_printf(out, "certgate_policy_certificates{listener=\"");
        label_escape(out, rt->listeners[ps->listener].cfg->name);
        evbuffer_add_printf(out, "\",host=\"");
        label_escape(out, ps->host);
        evbuffer_add_printf(out, "\"} %zu\n", ps->policy ? policy_num_certificates(ps->policy) : 0);
    }
    evbuffer_add_printf(out, "# HELP certgate_certificate_expiry_seconds Seconds until a served "
                             "certificate expires (negative once expired).\n"
                             "# TYPE certgate_certificate_expiry_seconds gauge\n");
    for (size_t i = 0; i < rt->cfg->num_listeners; i++) {
        struct listener_rt *lrt = &rt->listeners[i];
        /* The listener's certificates, then each host entry's own. */
        for (size_t h = 0; h <= lrt->cfg->num_hosts; h++) {
            struct tls_cert_set *set = h == 0 ? tls_server_get_certs(lrt->tls)
                                              : tls_server_get_host_certs(lrt->tls, h - 1);
            for (size_t k = 0; set != NULL && k < tls_cert_set_num(set); k++) {
                struct tls_cert_info info;
                tls_cert_set_info(set, k, &info);
                evbuffer_add_printf(out, "certgate_certificate_expiry_seconds{listener=\"");
                label_escape(out, lrt->cfg->name);
                evbuffer_add_printf(out, "\",file=\"");
                label_escape(out, info.file);
                evbuffer_add_printf(out, "\"} %lld\n", (long long)(info.not_after - now));
            }
            tls_cert_set_unref(set);
        }
    }
    resp->status = 200;
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

void admin_reload(struct admin_server *a, const struct admin_request *req,
                  struct admin_response *resp)
{
    struct runtime *rt = a->rt;
    uint64_t failures = atomic_load(&rt->policy_reload_failures);
    uint64_t cert_failures = atomic_load(&rt->cert_reload_failures);
    reloader_reload(a->rl, true);
    uint64_t refused = atomic_load(&rt->policy_reload_failures) - failures;
    uint64_t cert_refused = atomic_load(&rt->cert_reload_failures) - cert_failures;
    resp->changed = true;
    snprintf(resp->reason, sizeof(resp->reason), "%s",
             refused || cert_refused ? "partly refused" : "reloaded");
    admin_resp_etag(a, resp);
    admin_resp_json(resp, 200,
                    json_pack("{sb sI sI sI sI sI}", "ok", !refused && !cert_refused, "generation",
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
    struct runtime *rt = a->rt;
    if (atomic_load(&rt->stopping)) {
        /* Shutting down (timeouts.shutdown_delay): load balancers take us out first. */
        admin_resp_json(resp, 503,
                        json_pack("{ss ss}", "status", "not_ready", "reason", "shutting down"));
        return;
    }
    for (size_t i = 0; i < rt->cfg->num_listeners; i++) {
        if (rt->listeners[i].tls == NULL) {
            admin_resp_json(resp, 503,
                            json_pack("{ss ss}", "status", "not_ready", "reason",
                                      "listener without TLS context"));
            return;
        }
    }
    for (size_t i = 0; i < rt->num_policy_slots; i++) {
        if (rt->policy_slots[i].file != NULL && rt->policy_slots[i].policy == NULL) {
            admin_resp_json(resp, 503,
                            json_pack("{ss ss}", "status", "not_ready", "reason",
                                      "listener without a loaded policy"));
            return;
        }
    }
    if (rt->num_workers == 0 || rt->workers == NULL) {
        admin_resp_json(
            resp, 503,
            json_pack("{ss ss}", "status", "not_ready", "reason", "workers not started"));
        return;
    }
    admin_resp_json(resp, 200, json_pack("{ss}", "status", "ready"));
}
