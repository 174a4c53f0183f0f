#include "control/metrics_scrape.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/boringssl.h"
#include "common/hex.h"
#include "common/mem.h"
#include "common/timestamp.h"
#include "common/version.h"
#include "control/metrics_text.h"
#include "control/upgrade.h"
#include "policy/describe.h"
#include "proxy/core/access_log.h"
#include "proxy/core/metrics.h"
#include "proxy/core/runtime.h"
#include "proxy/core/worker.h"
#include "proxy/tls/tls_server.h"
#include "control/upstream_sets.h"
#include "proxy/upstream/upstream_pool.h"
#include "proxy/upstream/upstream_server.h"
#include "proxy/upstream/upstream_set.h"

#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#define L(n, v) ((struct metrics_label){(n), (v)})
#define NUM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- requests, connections, TLS: the workers' counters per listener ---------------- */

/* listener_sum adds every worker's counters of listener |i| into |out| (zeroed first). */
static void listener_sum(const struct runtime *rt, size_t i, struct metrics_listener *out)
{
    memset(out, 0, sizeof(*out));
    size_t index = rt->listeners[i].metrics_index;
    for (unsigned w = 0; w < rt->num_workers; w++) {
        struct worker *wk = rt->workers[w];
        /* A reload may be growing the worker's blocks right now. */
        worker_lock_snapshots(wk);
        if (index >= wk->metrics->num_listeners) {
            /* It has not installed the snapshot yet: nothing counted there. */
            worker_unlock_snapshots(wk);
            continue;
        }
        const struct metrics_listener *m = wk->metrics->listeners[index];
        const atomic_uint_fast64_t *src = (const atomic_uint_fast64_t *)m;
        atomic_uint_fast64_t *dst = (atomic_uint_fast64_t *)out;
        /* The block is nothing but counters (histograms included): add them one by one. */
        for (size_t k = 0; k < sizeof(*m) / sizeof(*src); k++) {
            atomic_store_explicit(&dst[k],
                                  cg_counter_get(&dst[k]) + cg_counter_get(&src[k]),
                                  memory_order_relaxed);
        }
        worker_unlock_snapshots(wk);
    }
}

_Static_assert(sizeof(struct metrics_listener) % sizeof(atomic_uint_fast64_t) == 0,
               "struct metrics_listener holds counters only");

static void write_requests(struct evbuffer *out, const char *listener,
                           const struct metrics_listener *m)
{
    for (unsigned p = 0; p < METRICS_NUM_PROTOCOLS; p++) {
        for (unsigned d = 0; d < METRICS_NUM_DECISIONS; d++) {
            for (unsigned r = 0; r < CG_REASON_COUNT; r++) {
                for (unsigned s = 0; s < CG_HTTP_STATUS_NUM_SLOTS; s++) {
                    uint64_t v = cg_counter_get(&m->requests[p][d][r][s]);
                    if (v == 0) {
                        continue;
                    }
                    const char *reason = cg_reason_str((enum cg_reason)r);
                    struct metrics_label labels[] = {
                        L("listener", listener),
                        L("protocol", metrics_protocol_str((enum metrics_protocol)p)),
                        L("decision", metrics_decision_str((enum metrics_decision)d)),
                        L("reason", reason[0] != '\0' ? reason : "none"),
                        L("code", cg_http_status_label(s)),
                    };
                    metrics_text_u64(out, "certgate_requests_total", labels, NUM(labels), v);
                }
            }
        }
    }
}

static void latency_of(const struct cg_latency *h, struct cg_latency_sum *out)
{
    memset(out, 0, sizeof(*out));
    cg_latency_add_to(h, out);
}

static void write_listeners(struct runtime *rt, struct evbuffer *out)
{
    size_t n = rt->cfg->num_listeners;
    struct metrics_listener *sums = cg_xcalloc(n ? n : 1, sizeof(*sums));
    for (size_t i = 0; i < n; i++) {
        listener_sum(rt, i, &sums[i]);
    }
    metrics_text_family(out, "certgate_requests_total", "counter",
                        "Requests finished, by listener, protocol, decision (allow, deny, audit, "
                        "none), reason and the status sent (0: none). Series appear once counted.");
    for (size_t i = 0; i < n; i++) {
        write_requests(out, rt->listeners[i].cfg->name, &sums[i]);
    }
    metrics_text_family(out, "certgate_request_duration_seconds", "histogram",
                        "Time from a request's first byte to its last response byte.");
    for (size_t i = 0; i < n; i++) {
        for (unsigned p = 0; p < METRICS_NUM_PROTOCOLS; p++) {
            struct cg_latency_sum h;
            latency_of(&sums[i].duration[p], &h);
            struct metrics_label labels[] = {
                L("listener", rt->listeners[i].cfg->name),
                L("protocol", metrics_protocol_str((enum metrics_protocol)p)),
            };
            metrics_text_histogram(out, "certgate_request_duration_seconds", labels, NUM(labels),
                                   &h);
        }
    }
    metrics_text_family(out, "certgate_connections", "gauge",
                        "Open client connections, by the protocol they speak (handshake: TLS "
                        "handshake not finished).");
    for (size_t i = 0; i < n; i++) {
        for (unsigned s = 0; s <= METRICS_NUM_PROTOCOLS; s++) {
            struct metrics_label labels[] = {
                L("listener", rt->listeners[i].cfg->name),
                L("protocol", metrics_conn_slot_str(s)),
            };
            metrics_text_u64(out, "certgate_connections", labels, NUM(labels),
                             cg_counter_get(&sums[i].connections[s]));
        }
    }
    metrics_text_family(out, "certgate_tls_handshakes_total", "counter",
                        "TLS handshakes completed (resumed ones included), by version.");
    for (size_t i = 0; i < n; i++) {
        for (unsigned v = 0; v < METRICS_NUM_TLS_VERSIONS; v++) {
            struct metrics_label labels[] = {
                L("listener", rt->listeners[i].cfg->name),
                L("version", metrics_tls_version_str((enum metrics_tls_version)v)),
            };
            metrics_text_u64(out, "certgate_tls_handshakes_total", labels, NUM(labels),
                             cg_counter_get(&sums[i].handshakes[v]));
        }
    }
    metrics_text_family(out, "certgate_tls_handshake_errors_total", "counter",
                        "Client connections that ended before their TLS handshake completed, by "
                        "reason.");
    for (size_t i = 0; i < n; i++) {
        for (unsigned e = 0; e < METRICS_NUM_HS_ERRORS; e++) {
            struct metrics_label labels[] = {
                L("listener", rt->listeners[i].cfg->name),
                L("reason", metrics_handshake_error_str((enum metrics_handshake_error)e)),
            };
            metrics_text_u64(out, "certgate_tls_handshake_errors_total", labels, NUM(labels),
                             cg_counter_get(&sums[i].handshake_errors[e]));
        }
    }
    metrics_text_family(out, "certgate_bytes_received_total", "counter",
                        "Bytes received from clients on the wire (TLS records included).");
    for (size_t i = 0; i < n; i++) {
        struct metrics_label labels[] = {L("listener", rt->listeners[i].cfg->name)};
        metrics_text_u64(out, "certgate_bytes_received_total", labels, NUM(labels),
                         cg_counter_get(&sums[i].bytes_received));
    }
    metrics_text_family(out, "certgate_bytes_sent_total", "counter",
                        "Bytes sent to clients on the wire (TLS records included).");
    for (size_t i = 0; i < n; i++) {
        struct metrics_label labels[] = {L("listener", rt->listeners[i].cfg->name)};
        metrics_text_u64(out, "certgate_bytes_sent_total", labels, NUM(labels),
                         cg_counter_get(&sums[i].bytes_sent));
    }
    metrics_text_family(out, "certgate_h2_no_progress_goaways_total", "counter",
                        "HTTP/2 connections ended with GOAWAY ENHANCE_YOUR_CALM for frames "
                        "without progress (limits.h2_max_no_progress_frames).");
    for (size_t i = 0; i < n; i++) {
        struct metrics_label labels[] = {L("listener", rt->listeners[i].cfg->name)};
        metrics_text_u64(out, "certgate_h2_no_progress_goaways_total", labels, NUM(labels),
                         cg_counter_get(&sums[i].h2_no_progress_goaways));
    }
    free(sums);
}

void metrics_scrape_requests(const struct runtime *rt, uint64_t *out_total,
                             uint64_t out_denied[CG_REASON_COUNT])
{
    *out_total = 0;
    memset(out_denied, 0, CG_REASON_COUNT * sizeof(*out_denied));
    for (unsigned w = 0; w < rt->num_workers; w++) {
        worker_lock_snapshots(rt->workers[w]);
        const struct worker_metrics *wm = rt->workers[w]->metrics;
        for (size_t i = 0; i < wm->num_listeners; i++) {
            const struct metrics_listener *m = wm->listeners[i];
            for (unsigned p = 0; p < METRICS_NUM_PROTOCOLS; p++) {
                for (unsigned d = 0; d < METRICS_NUM_DECISIONS; d++) {
                    for (unsigned r = 0; r < CG_REASON_COUNT; r++) {
                        for (unsigned s = 0; s < CG_HTTP_STATUS_NUM_SLOTS; s++) {
                            uint64_t v = cg_counter_get(&m->requests[p][d][r][s]);
                            *out_total += v;
                            if (d == METRICS_DECISION_DENY) {
                                out_denied[r] += v;
                            }
                        }
                    }
                }
            }
        }
        worker_unlock_snapshots(rt->workers[w]);
    }
}

/* ---- upstreams ----------------------------------------------------------------------- */

/* The one-value-per-server families, in the order they are written. */
enum server_value {
    SERVER_UP,
    SERVER_HEALTH_UP,
    SERVER_CONNECT_ERRORS,
};

static const struct {
    const char *name, *type, *help;
} server_families[] = {
    [SERVER_UP] = {"certgate_upstream_server_up", "gauge",
                   "1 when the server takes requests: it passes its health checks and "
                   "no connect to it failed within timeouts.upstream_down."},
    [SERVER_HEALTH_UP] = {"certgate_upstream_server_health_up", "gauge",
                          "1 unless the server failed health_check.fall checks in a row and "
                          "has not passed health_check.rise since (1 without health checks)."},
    [SERVER_CONNECT_ERRORS] = {"certgate_upstream_connect_errors_total", "counter",
                               "Connections to a server that failed before carrying a request "
                               "(refused, unreachable, timed out, TLS handshake or certificate)."},
};

static uint64_t server_value_of(const struct upstream_server_report *r, enum server_value v)
{
    switch (v) {
    case SERVER_UP:
        return r->up ? 1 : 0;
    case SERVER_HEALTH_UP:
        return r->health_down ? 0 : 1;
    case SERVER_CONNECT_ERRORS:
        return r->connect_errors;
    }
    return 0;
}

/* write_per_server writes family |v| for every server of every upstream's current set;
 * |reports| holds one report per server in that order. */
static void write_per_server(const struct runtime *rt, const struct upstream_server_report *reports,
                             enum server_value v, struct evbuffer *out)
{
    const struct config *cfg = rt->cfg;
    metrics_text_family(out, server_families[v].name, server_families[v].type,
                        server_families[v].help);
    for (size_t u = 0, k = 0; u < cfg->num_upstreams; u++) {
        const struct upstream_set *set = rt->upstream_sets[u];
        for (size_t s = 0; s < set->num_servers; s++, k++) {
            struct metrics_label labels[] = {L("upstream", cfg->upstreams[u].name),
                                             L("server", set->servers[s]->addr.text)};
            metrics_text_u64(out, server_families[v].name, labels, NUM(labels),
                             server_value_of(&reports[k], v));
        }
    }
}

static void write_upstreams(struct runtime *rt, struct evbuffer *out)
{
    const struct config *cfg = rt->cfg;
    const struct upstream_sets *us = rt->upstream_control;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    uint64_t now_ms = (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
    /* The servers are the current set's (main thread: it replaces them): a server that
     * stays across a DNS change keeps its counters, one that left is no longer listed. */
    size_t total = 0;
    for (size_t u = 0; u < cfg->num_upstreams; u++) {
        total += rt->upstream_sets[u]->num_servers;
    }
    struct upstream_server_report *reports = cg_xcalloc(total ? total : 1, sizeof(*reports));
    struct cg_latency_sum *times =
        cg_xcalloc(cfg->num_upstreams ? cfg->num_upstreams : 1, sizeof(*times));
    for (size_t u = 0, k = 0; u < cfg->num_upstreams; u++) {
        const struct upstream_set *set = rt->upstream_sets[u];
        for (size_t s = 0; s < set->num_servers; s++) {
            upstream_server_report(set->servers[s], now_ms, &reports[k++]);
        }
        for (unsigned w = 0; w < rt->num_workers; w++) {
            /* The pools of the current snapshot: a worker that has not installed it yet
             * is left out of this one scrape (the pools of older snapshots serve only
             * connections opened before the reload). */
            struct worker *wk = rt->workers[w];
            worker_lock_snapshots(wk);
            if (wk->cur->snap == rt->snap) {
                upstream_pool_report(wk->cur->pools[u], &times[u]);
            }
            worker_unlock_snapshots(wk);
        }
    }
    metrics_text_family(out, "certgate_upstream_response_seconds", "histogram",
                        "Time from a request head sent to a database server to its response "
                        "head.");
    for (size_t u = 0; u < cfg->num_upstreams; u++) {
        struct metrics_label labels[] = {L("upstream", cfg->upstreams[u].name)};
        metrics_text_histogram(out, "certgate_upstream_response_seconds", labels, NUM(labels),
                               &times[u]);
    }
    metrics_text_family(out, "certgate_upstream_servers", "gauge",
                        "Servers an upstream has now: its IP literals and what its names "
                        "resolved to.");
    for (size_t u = 0; u < cfg->num_upstreams; u++) {
        struct metrics_label labels[] = {L("upstream", cfg->upstreams[u].name)};
        metrics_text_u64(out, "certgate_upstream_servers", labels, NUM(labels),
                         rt->upstream_sets[u]->num_servers);
    }
    write_per_server(rt, reports, SERVER_UP, out);
    write_per_server(rt, reports, SERVER_HEALTH_UP, out);
    write_per_server(rt, reports, SERVER_CONNECT_ERRORS, out);
    metrics_text_family(out, "certgate_upstream_requests_total", "counter",
                        "Responses a server sent, by status. Series appear once counted.");
    for (size_t u = 0, k = 0; u < cfg->num_upstreams; u++) {
        const struct upstream_set *set = rt->upstream_sets[u];
        for (size_t s = 0; s < set->num_servers; s++, k++) {
            for (unsigned c = 0; c < CG_HTTP_STATUS_NUM_SLOTS; c++) {
                if (reports[k].responses[c] == 0) {
                    continue;
                }
                struct metrics_label labels[] = {L("upstream", cfg->upstreams[u].name),
                                                 L("server", set->servers[s]->addr.text),
                                                 L("code", cg_http_status_label(c))};
                metrics_text_u64(out, "certgate_upstream_requests_total", labels, NUM(labels),
                                 reports[k].responses[c]);
            }
        }
    }
    metrics_text_family(out, "certgate_upstream_resolve_total", "counter",
                        "Resolutions of an upstream's server names, by result (ok, failed: "
                        "the last addresses stayed).");
    for (size_t u = 0; u < cfg->num_upstreams && us != NULL; u++) {
        if (cfg->upstreams[u].num_hosts == 0) {
            continue;
        }
        uint64_t ok, failed;
        upstream_sets_resolve_counts(us, u, &ok, &failed);
        struct metrics_label ok_labels[] = {L("upstream", cfg->upstreams[u].name),
                                            L("result", "ok")};
        struct metrics_label failed_labels[] = {L("upstream", cfg->upstreams[u].name),
                                                L("result", "failed")};
        metrics_text_u64(out, "certgate_upstream_resolve_total", ok_labels, NUM(ok_labels), ok);
        metrics_text_u64(out, "certgate_upstream_resolve_total", failed_labels,
                         NUM(failed_labels), failed);
    }
    metrics_text_family(out, "certgate_upstream_health_checks_total", "counter",
                        "Active health checks of an upstream's servers, by result.");
    for (size_t u = 0; u < cfg->num_upstreams && us != NULL; u++) {
        if (!cfg->upstreams[u].health.enabled) {
            continue;
        }
        uint64_t passed, failed;
        upstream_sets_health_counts(us, u, &passed, &failed);
        struct metrics_label p_labels[] = {L("upstream", cfg->upstreams[u].name),
                                           L("result", "passed")};
        struct metrics_label f_labels[] = {L("upstream", cfg->upstreams[u].name),
                                           L("result", "failed")};
        metrics_text_u64(out, "certgate_upstream_health_checks_total", p_labels, NUM(p_labels),
                         passed);
        metrics_text_u64(out, "certgate_upstream_health_checks_total", f_labels, NUM(f_labels),
                         failed);
    }
    free(reports);
    free(times);
}

/* ---- policies and certificates ----------------------------------------------------- */

/* slot_labels fills the labels of policy slot |ps|: the listener, and for a host
 * entry's slot the host too (a listener's default keeps the single-host label set). */
static size_t slot_labels(const struct runtime *rt, const struct policy_slot *ps,
                          struct metrics_label *labels)
{
    labels[0] = L("listener", rt->listeners[ps->listener].cfg->name);
    if (ps->host[0] == '\0') {
        return 1;
    }
    labels[1] = L("host", ps->host);
    return 2;
}

static void write_policies(struct runtime *rt, struct evbuffer *out)
{
    struct metrics_label labels[3];
    metrics_text_family(out, "certgate_policy_generation", "gauge",
                        "Generation of the policy in force (0: none loaded).");
    for (size_t i = 0; i < rt->num_policy_slots; i++) {
        const struct policy_slot *ps = &rt->policy_slots[i];
        metrics_text_u64(out, "certgate_policy_generation", labels, slot_labels(rt, ps, labels),
                         ps->policy != NULL ? policy_generation(ps->policy) : 0);
    }
    metrics_text_family(out, "certgate_policy_reloads_total", "counter",
                        "Policy reloads after the start: ok (in force) or failed (refused, the "
                        "previous policy stayed).");
    for (size_t i = 0; i < rt->num_policy_slots; i++) {
        const struct policy_slot *ps = &rt->policy_slots[i];
        size_t n = slot_labels(rt, ps, labels);
        labels[n] = L("result", "ok");
        metrics_text_u64(out, "certgate_policy_reloads_total", labels, n + 1, ps->reloads);
        labels[n] = L("result", "failed");
        metrics_text_u64(out, "certgate_policy_reloads_total", labels, n + 1, ps->reload_failures);
    }
    metrics_text_family(out, "certgate_policy_certificates", "gauge",
                        "Registry entries of the policy in force.");
    for (size_t i = 0; i < rt->num_policy_slots; i++) {
        const struct policy_slot *ps = &rt->policy_slots[i];
        metrics_text_u64(out, "certgate_policy_certificates", labels, slot_labels(rt, ps, labels),
                         ps->policy != NULL ? policy_num_certificates(ps->policy) : 0);
    }
}

static void expiry(struct evbuffer *out, const char *kind, const char *name,
                   const char *thumbprint, time_t when)
{
    struct metrics_label labels[] = {L("kind", kind), L("name", name),
                                     L("thumbprint", thumbprint)};
    metrics_text_i64(out, "certgate_certificate_expiry_timestamp_seconds", labels, NUM(labels),
                     (int64_t)when);
}

/* write_ca_expiry reports STATE/ca/ca.crt, the private CA, when there is one. */
static void write_ca_expiry(const struct runtime *rt, struct evbuffer *out)
{
    if (rt->cfg->state_dir == NULL) {
        return;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/ca/ca.crt", rt->cfg->state_dir);
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        return;
    }
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (x == NULL) {
        ERR_clear_error();
        return;
    }
    time_t not_after;
    uint8_t *der = NULL;
    int der_len = i2d_X509(x, &der);
    char cn[128] = "";
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn)) < 0) {
        cn[0] = '\0';
    }
    if (der_len > 0 && cg_timestamp_from_asn1(X509_get0_notAfter(x), &not_after) == CG_OK) {
        uint8_t sha1[SHA_DIGEST_LENGTH];
        SHA1(der, (size_t)der_len, sha1);
        char thumbprint[2 * SHA_DIGEST_LENGTH + 1];
        cg_hex_encode(sha1, sizeof(sha1), CG_HEX_UPPER, thumbprint);
        expiry(out, "ca", cn, thumbprint, not_after);
    }
    OPENSSL_free(der);
    X509_free(x);
}

/* write_client_expiry reports the entries of |p| with "expires": the policy holds
 * thumbprints, not certificates, so that date is the one it enforces. One sample per
 * thumbprint (entries registered by pin alone have thumbprint ""). */
static void write_client_expiry(const struct policy *p, struct evbuffer *out)
{
    json_t *doc = policy_describe(p);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(doc, "certificates"), i, e)
    {
        const char *when = json_string_value(json_object_get(e, "expires"));
        const char *name = json_string_value(json_object_get(e, "name"));
        time_t t;
        if (when == NULL || cg_timestamp_parse_rfc3339(cg_str_from_cstr(when), &t) != CG_OK) {
            continue;
        }
        json_t *thumbs = json_object_get(e, "thumbprints");
        if (json_array_size(thumbs) == 0) {
            expiry(out, "client", name, "", t);
            continue;
        }
        size_t k;
        json_t *tp;
        json_array_foreach(thumbs, k, tp)
        {
            expiry(out, "client", name, json_string_value(tp), t);
        }
    }
    json_decref(doc);
}

/* served_cert_set returns a reference to certificate set |k| of listener |lrt|: 0 is
 * the listener's own, 1..num_hosts its host entries' (NULL for an entry serving the
 * listener's). */
static struct tls_cert_set *served_cert_set(const struct listener_rt *lrt, size_t k)
{
    return k == 0 ? tls_server_get_certs(lrt->tls) : tls_server_get_host_certs(lrt->tls, k - 1);
}

static void write_certificates(struct runtime *rt, struct evbuffer *out)
{
    time_t now = time(NULL);
    metrics_text_family(out, "certgate_certificate_expiry_timestamp_seconds", "gauge",
                        "When a certificate expires (Unix time): kind server (served), ca (the "
                        "private CA in state_dir), client (policy entries with expires).");
    for (size_t i = 0; i < rt->cfg->num_listeners; i++) {
        const struct listener_rt *lrt = &rt->listeners[i];
        for (size_t h = 0; h <= lrt->cfg->num_hosts; h++) {
            struct tls_cert_set *set = served_cert_set(lrt, h);
            for (size_t k = 0; set != NULL && k < tls_cert_set_num(set); k++) {
                struct tls_cert_info info;
                tls_cert_set_info(set, k, &info);
                expiry(out, "server", info.common_name, info.thumbprint, info.not_after);
            }
            tls_cert_set_unref(set);
        }
    }
    write_ca_expiry(rt, out);
    for (size_t i = 0; i < rt->num_policy_slots; i++) {
        const struct policy_slot *ps = &rt->policy_slots[i];
        bool seen = false; /* slots sharing a policy file report it once */
        for (size_t j = 0; j < i && !seen; j++) {
            seen = ps->file != NULL && rt->policy_slots[j].file != NULL &&
                   strcmp(ps->file, rt->policy_slots[j].file) == 0;
        }
        if (ps->policy != NULL && !seen) {
            write_client_expiry(ps->policy, out);
        }
    }
    metrics_text_family(out, "certgate_certificate_expiry_seconds", "gauge",
                        "Seconds until a served certificate expires (negative once expired); "
                        "kept for dashboards made before "
                        "certgate_certificate_expiry_timestamp_seconds.");
    for (size_t i = 0; i < rt->cfg->num_listeners; i++) {
        const struct listener_rt *lrt = &rt->listeners[i];
        for (size_t h = 0; h <= lrt->cfg->num_hosts; h++) {
            struct tls_cert_set *set = served_cert_set(lrt, h);
            for (size_t k = 0; set != NULL && k < tls_cert_set_num(set); k++) {
                struct tls_cert_info info;
                tls_cert_set_info(set, k, &info);
                struct metrics_label labels[] = {L("listener", lrt->cfg->name),
                                                 L("file", info.file)};
                metrics_text_i64(out, "certgate_certificate_expiry_seconds", labels, NUM(labels),
                                 (int64_t)(info.not_after - now));
            }
            tls_cert_set_unref(set);
        }
    }
}

/* ---- the process ------------------------------------------------------------------- */

static void write_counter(struct evbuffer *out, const char *name, const char *type,
                          const char *help, uint64_t v)
{
    metrics_text_family(out, name, type, help);
    metrics_text_u64(out, name, NULL, 0, v);
}

/* start_time returns when the process started (Unix seconds with hundredths): its start
 * in clock ticks after boot (/proc/self/stat) plus the boot time (/proc/stat). */
static bool start_time(double *out)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "re");
    if (f == NULL) {
        return false;
    }
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name may hold spaces and parentheses: fields count from the last ')'. */
    char *p = strrchr(buf, ')');
    unsigned long long ticks = 0;
    if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d "
                                   "%*d %*d %*d %*d %llu",
                            &ticks) != 1) {
        return false;
    }
    f = fopen("/proc/stat", "re");
    if (f == NULL) {
        return false;
    }
    unsigned long long btime = 0;
    char line[256];
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "btime %llu", &btime) == 1) {
            break;
        }
    }
    fclose(f);
    long hz = sysconf(_SC_CLK_TCK);
    if (btime == 0 || hz <= 0) {
        return false;
    }
    *out = (double)btime + (double)ticks / (double)hz;
    return true;
}

static void write_process(struct evbuffer *out)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        uint64_t us = (uint64_t)ru.ru_utime.tv_sec * 1000000 + (uint64_t)ru.ru_utime.tv_usec +
                      (uint64_t)ru.ru_stime.tv_sec * 1000000 + (uint64_t)ru.ru_stime.tv_usec;
        metrics_text_family(out, "process_cpu_seconds_total", "counter",
                            "User and system CPU time spent, in seconds.");
        metrics_text_seconds(out, "process_cpu_seconds_total", NULL, 0, us);
    }
    FILE *f = fopen("/proc/self/statm", "re");
    unsigned long long size, resident;
    if (f != NULL) {
        if (fscanf(f, "%llu %llu", &size, &resident) == 2) {
            write_counter(out, "process_resident_memory_bytes", "gauge",
                          "Resident memory size in bytes.",
                          (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE));
        }
        fclose(f);
    }
    DIR *d = opendir("/proc/self/fd");
    if (d != NULL) {
        uint64_t fds = 0;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            fds += e->d_name[0] != '.';
        }
        closedir(d);
        write_counter(out, "process_open_fds", "gauge", "Open file descriptors.",
                      fds > 0 ? fds - 1 : 0); /* not the one reading the directory */
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        write_counter(out, "process_max_fds", "gauge", "Most open file descriptors allowed.",
                      (uint64_t)rl.rlim_cur);
    }
    double started;
    if (start_time(&started)) {
        metrics_text_family(out, "process_start_time_seconds", "gauge",
                            "Start time of the process since the Unix epoch, in seconds.");
        evbuffer_add_printf(out, "process_start_time_seconds %.2f\n", started);
    }
}

void metrics_scrape_write(struct runtime *rt, struct evbuffer *out)
{
    char tls[256];
    cg_version_tls(tls, sizeof(tls));
    metrics_text_family(out, "certgate_build_info", "gauge",
                        "Always 1: the version, git commit and TLS library of this binary.");
    struct metrics_label build[] = {L("version", cg_version()), L("commit", cg_version_commit()),
                                    L("boringssl", tls)};
    metrics_text_u64(out, "certgate_build_info", build, NUM(build), 1);
    write_listeners(rt, out);
    write_upstreams(rt, out);
    write_policies(rt, out);
    write_certificates(rt, out);
    metrics_text_family(out, "certgate_config_reloads_total", "counter",
                        "Reloads of certgate.json (SIGHUP, a change of the file, POST "
                        "/admin/reload): ok (valid, applied) or error (refused, the running "
                        "configuration stayed).");
    struct metrics_label result = L("result", "ok");
    metrics_text_u64(out, "certgate_config_reloads_total", &result, 1,
                     atomic_load(&rt->config_reloads));
    result = L("result", "error");
    metrics_text_u64(out, "certgate_config_reloads_total", &result, 1,
                     atomic_load(&rt->config_reload_failures));
    write_counter(out, "certgate_config_generation", "gauge",
                  "Generation of the configuration in force: 1 at start, one more per reload "
                  "that changed it.",
                  atomic_load(&rt->config_generation));
    write_counter(out, "certgate_policy_reload_failures_total", "counter",
                  "Policy reloads refused, every listener (the previous policy stayed in force).",
                  atomic_load(&rt->policy_reload_failures));
    write_counter(out, "certgate_cert_reloads_total", "counter", "Serving certificate reloads.",
                  atomic_load(&rt->cert_reloads));
    write_counter(out, "certgate_cert_reload_failures_total", "counter",
                  "Serving certificate reloads refused.", atomic_load(&rt->cert_reload_failures));
    write_counter(out, "certgate_cert_renewals_total", "counter",
                  "Serving certificates renewed from the CA in state_dir.",
                  atomic_load(&rt->cert_renewals));
    write_counter(out, "certgate_cert_renewal_failures_total", "counter",
                  "Serving certificate renewals that failed (retried a minute later).",
                  atomic_load(&rt->cert_renewal_failures));
    metrics_text_family(out, "certgate_upgrade_requests_total", "counter",
                        "Binary-upgrade requests this process received, by result.");
    for (unsigned u = 0; u < UPGRADE_NUM_RESULTS; u++) {
        struct metrics_label labels[] = {L("result", upgrade_result_str((enum upgrade_result)u))};
        metrics_text_u64(out, "certgate_upgrade_requests_total", labels, NUM(labels),
                         atomic_load(&rt->upgrade_requests[u]));
    }
    write_counter(out, "certgate_admin_connections", "gauge", "Open admin API connections.",
                  rt->admin_connections);
    write_counter(out, "certgate_access_log_dropped_total", "counter",
                  "Access log lines lost (buffer full or write error).",
                  rt->access_log ? access_log_dropped(rt->access_log) : 0);
    write_counter(out, "certgate_uptime_seconds", "gauge", "Seconds since the process started.",
                  (uint64_t)(time(NULL) - (time_t)rt->start_time));
    write_process(out);
}
