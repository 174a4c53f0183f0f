/* Admin API: asking the policy in force (docs/operations.md "Admin API"):
 * GET /admin/policy shows the managed policy snapshot (policy_describe: the listener's
 * own, or admin.host's) and the listener's host entries, and POST /admin/explain decides
 * one request against it (policy_explain), with that listener's client CA, CRL and path
 * options, as its workers would. Neither changes anything. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/mem.h>
#include <openssl/x509.h>

#include "control/admin/admin_internal.h"
#include "pki/chain.h"
#include "pki/import.h"
#include "policy/describe.h"
#include "policy/explain.h"
#include "proxy/core/host_table.h"
#include "proxy/core/runtime.h"

/* hosts_json describes the managed listener's host entries and default: the names
 * that select each, its upstream, path routes and the generation of its policy. */
static json_t *hosts_json(struct admin_server *a)
{
    json_t *arr = json_array();
    const struct host_table *t = a->lrt->hosts;
    const struct config *cfg = a->snap->cfg;
    for (size_t i = 0; i < t->num_entries; i++) {
        const struct host_entry *e = &t->entries[i];
        const struct policy *p = a->snap->policy_slots[e->policy_slot].policy;
        json_t *names = json_array();
        json_t *paths = json_array();
        for (size_t k = 0; e->cfg != NULL && k < e->cfg->num_names; k++) {
            json_array_append_new(names, json_string(e->cfg->names[k]));
        }
        for (size_t k = 0; e->cfg != NULL && k < e->cfg->num_paths; k++) {
            const struct config_path *r = &e->cfg->paths[k];
            json_array_append_new(
                paths, json_pack("{ss ss}", "prefix", r->prefix, "upstream", r->upstream->name));
        }
        json_array_append_new(
            arr,
            json_pack("{ss so ss ss? sI so sb}", "name", e->name, "names", names, "upstream",
                      cfg->upstreams[e->upstream_index].name, "policy_file", e->policy_file,
                      "generation", (json_int_t)(p != NULL ? policy_generation(p) : 0), "paths",
                      paths, "managed", a->slot == &a->snap->policy_slots[e->policy_slot]));
    }
    return arr;
}

void admin_policy_get(struct admin_server *a, const struct admin_request *req,
                      struct admin_response *resp)
{
    /* authorize() refuses every call while no policy is managed. */
    const struct policy *p = admin_policy(a);
    json_t *body =
        json_pack("{ss ss ss? sI so so}", "listener", a->lrt->cfg->name, "host", admin_host(a),
                  "file", admin_policy_file(a), "generation", (json_int_t)policy_generation(p),
                  "hosts", hosts_json(a), "policy", policy_describe(p));
    admin_resp_etag(a, resp);
    admin_resp_json(resp, 200, body);
}

/* get_text reads the optional string member |key| of |obj| (NULL when absent or null);
 * false after answering 400 when it is something else. */
static bool get_text(const struct admin_request *req, struct admin_response *resp,
                     const json_t *obj, const char *key, const char **out)
{
    const json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (v == NULL || json_is_null(v)) {
        return true;
    }
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
        admin_resp_error(resp, req, 400, "bad_request", "$.%s: expected a string", key);
        return false;
    }
    *out = json_string_value(v);
    return true;
}

/* check_chain validates |leaf| and |chain| against the managed listener's client_ca and
 * crl, read from their files now (as a reload would load them). Returns false after
 * answering 500 when they do not load. */
static bool check_chain(struct admin_server *a, const struct admin_request *req,
                        struct admin_response *resp, X509 *leaf, X509 *const *chain,
                        size_t num_chain, struct policy_explain_input *in)
{
    const struct config_listener_tls *tls = &a->lrt->cfg->tls;
    if (tls->client_ca == NULL) {
        return true; /* POLICY_CHAIN_NOT_CHECKED: what the listener does too */
    }
    X509_STORE *store = NULL;
    struct cg_errbuf err = {{0}};
    if (pki_chain_store_load(tls->client_ca, tls->crl, &store, &err) != CG_OK) {
        admin_resp_error(resp, req, 500, "internal", "%s", err.msg);
        return false;
    }
    const char *why = NULL;
    in->chain = pki_chain_verify(store, leaf, chain, num_chain, &why) ? POLICY_CHAIN_VALID
                                                                      : POLICY_CHAIN_INVALID;
    in->chain_error = why;
    X509_STORE_free(store);
    return true;
}

/* host_check decides, as the proxy would on a connection of the managed host entry,
 * whether |in|'s Host names another virtual host: on a listener with hosts a request is
 * misdirected when its SNI picks, or its Host names, another entry than the managed one.
 * On a host entry any of its names may be the Host; on the default the policy also
 * compares the Host with the SNI, as the proxy does. */
static void host_check(struct admin_server *a, struct policy_explain_input *in)
{
    const struct host_table *t = a->lrt->hosts;
    const struct host_entry *e = NULL;
    for (size_t i = 0; a->slot != NULL && i < t->num_entries; i++) {
        if (t->entries[i].policy_slot == a->slot_index) {
            e = &t->entries[i];
        }
    }
    if (e == NULL || a->lrt->cfg->num_hosts == 0) {
        return; /* no host entries: the policy's own comparison is the proxy's */
    }
    bool other_sni = in->sni != NULL && in->sni[0] != '\0' && host_table_for_sni(t, in->sni) != e;
    in->misdirected = other_sni || host_table_misdirected(t, e, cg_str_from_cstr(in->host));
    in->host_checked = e->cfg != NULL || in->misdirected;
}

void admin_explain(struct admin_server *a, const struct admin_request *req,
                   struct admin_response *resp)
{
    static const char *const keys[] = {"certificate", "ip",   "host", "sni",
                                       "method",      "path", "grpc", NULL};
    struct pki_import imp = {0};
    uint8_t *der = NULL;
    json_t *answer = NULL;
    json_error_t jerr;
    json_t *body =
        req->body ? json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (!json_is_object(body)) {
        admin_resp_error(resp, req, 400, "bad_request",
                         "expected a JSON object {certificate?, ip?, host?, sni?, method, "
                         "path} or {certificate?, ..., grpc}");
        goto out;
    }
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        bool known = false;
        for (size_t i = 0; keys[i] != NULL && !known; i++) {
            known = strcmp(key, keys[i]) == 0;
        }
        if (!known) {
            admin_resp_error(resp, req, 400, "bad_request", "$.%s: unknown key", key);
            goto out;
        }
    }
    const char *pem, *ip, *host, *sni, *method, *path, *grpc;
    if (!get_text(req, resp, body, "certificate", &pem) || !get_text(req, resp, body, "ip", &ip) ||
        !get_text(req, resp, body, "host", &host) || !get_text(req, resp, body, "sni", &sni) ||
        !get_text(req, resp, body, "method", &method) ||
        !get_text(req, resp, body, "path", &path) || !get_text(req, resp, body, "grpc", &grpc)) {
        goto out;
    }
    if (grpc != NULL ? method != NULL || path != NULL : method == NULL || path == NULL) {
        admin_resp_error(resp, req, 400, "bad_request",
                         "give \"method\" and \"path\", or \"grpc\" (the path of a gRPC call)");
        goto out;
    }
    const struct config_listener *l = a->lrt->cfg;
    struct policy_explain_input in = {
        .ip = ip != NULL ? ip : "127.0.0.1",
        .now = time(NULL),
        .sni = sni,
        .method = grpc != NULL ? "POST" : method,
        .host = host,
        .target = grpc != NULL ? grpc : path,
        .grpc = grpc != NULL,
        .path_opts = {.allow_semicolons = l->requests.allow_path_semicolons,
                      .allow_encoded_percent = l->requests.allow_path_encoded_percent},
    };
    host_check(a, &in);
    struct cg_errbuf err = {{0}};
    if (pem != NULL && pem[0] != '\0') {
        if (pki_import_parse((const uint8_t *)pem, strlen(pem), NULL, &imp, &err) != CG_OK) {
            admin_resp_error(resp, req, 400, "bad_request", "$.certificate: %s", err.msg);
            goto out;
        }
        X509 *chain[PKI_IMPORT_MAX_CERTS];
        size_t num_chain = 0;
        X509 *leaf = pki_chain_split(&imp, chain, &num_chain);
        int len = i2d_X509(leaf, &der);
        if (len <= 0) {
            admin_resp_error(resp, req, 400, "bad_request", "$.certificate: cannot encode it");
            goto out;
        }
        in.cert_der = der;
        in.cert_der_len = (size_t)len;
        if (!check_chain(a, req, resp, leaf, chain, num_chain, &in)) {
            goto out;
        }
    }
    if (policy_explain(admin_policy(a), &in, &answer, &err) != CG_OK) {
        admin_resp_error(resp, req, 400, "bad_request", "%s", err.msg);
        goto out;
    }
    json_object_set_new(answer, "listener", json_string(l->name));
    json_object_set_new(answer, "host", json_string(admin_host(a)));
    json_object_set_new(answer, "generation", json_integer((json_int_t)admin_policy_generation(a)));
    snprintf(resp->target, sizeof(resp->target), "%s %s", in.method, in.target);
    snprintf(resp->reason, sizeof(resp->reason), "explained: %s",
             json_string_value(json_object_get(answer, "decision")));
    admin_resp_etag(a, resp);
    admin_resp_json(resp, 200, answer);
out:
    json_decref(body);
    OPENSSL_free(der);
    pki_import_cleanup(&imp);
}
