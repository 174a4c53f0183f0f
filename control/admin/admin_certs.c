/* Admin API: the managed listener's client certificate registry (list, create, import,
 * edit, delete).
 *
 * Every change follows the path the command line follows: open the policy file
 * (pki_registry_open: check, lock, load), change the document in memory with the
 * pki/registry.h functions, or enroll through pki/enroll.h, validate the result with the
 * policy loader under the listener's rules, write it atomically, then apply it through
 * the reloader (which also records the file as seen, so inotify does not publish it a
 * second time). A document that would not load is never written. The lock is held from
 * before the load to after the save, so that a certgate command editing the same file at
 * the same time neither loses our change nor has its own lost. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/base64.h>
#include <openssl/x509.h>

#include "common/mem.h"
#include "control/admin/admin_internal.h"
#include "control/reload.h"
#include "pki/bundle.h"
#include "pki/clearance.h"
#include "pki/enroll.h"
#include "pki/identity.h"
#include "pki/import.h"
#include "pki/issue.h"
#include "pki/registry.h"
#include "proxy/core/runtime.h"

#define MAX_GRANTS 256
#define MAX_ALLOW_IPS 256
/* Waiting for the policy lock blocks the main thread (signals, reloads, renewal, every
 * admin connection), so the admin API waits much less than a command does: commands
 * hold the lock for milliseconds (a new client certificate: its key, bundle and PKCS#12
 * included, well under this), and the client may retry. */
#define POLICY_LOCK_TIMEOUT_MS 500

/* ---- request helpers -------------------------------------------------------------- */

/* parse_body parses the JSON object body, refusing keys outside |allowed|. */
static json_t *parse_body(const struct admin_request *req, struct admin_response *resp,
                          const char *const *allowed)
{
    if (req->body == NULL) {
        admin_resp_error(resp, req, 400, "bad_request", "expected a JSON object body");
        return NULL;
    }
    json_error_t jerr;
    json_t *obj = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (obj == NULL) {
        admin_resp_error(resp, req, 400, "bad_request", "body:%d:%d: %s", jerr.line, jerr.column,
                         jerr.text);
        return NULL;
    }
    if (!json_is_object(obj)) {
        json_decref(obj);
        admin_resp_error(resp, req, 400, "bad_request", "expected a JSON object body");
        return NULL;
    }
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i] != NULL && !ok; i++) {
            ok = strcmp(key, allowed[i]) == 0;
        }
        if (!ok) {
            admin_resp_error(resp, req, 400, "bad_request", "$.%s: unknown key", key);
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

/* get_string reads optional member |key|: NULL when absent or null; false (and a 400)
 * when it is not a non-empty string. */
static bool get_string(const struct admin_request *req, struct admin_response *resp,
                       const json_t *obj, const char *key, const char **out)
{
    const json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (v == NULL || json_is_null(v)) {
        return true;
    }
    if (!json_is_string(v) || json_string_length(v) == 0 ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        admin_resp_error(resp, req, 400, "bad_request", "$.%s: expected a non-empty string", key);
        return false;
    }
    *out = json_string_value(v);
    return true;
}

/* get_grants reads "databases": {"name": "Level", ...} into |out| (MAX_GRANTS). */
static bool get_grants(const struct admin_request *req, struct admin_response *resp,
                       const json_t *obj, struct pki_db_grant *out, size_t *out_num,
                       bool *out_given)
{
    const json_t *dbs = json_object_get(obj, "databases");
    *out_num = 0;
    *out_given = dbs != NULL && !json_is_null(dbs);
    if (!*out_given) {
        return true;
    }
    if (!json_is_object(dbs) || json_object_size(dbs) > MAX_GRANTS) {
        admin_resp_error(resp, req, 400, "bad_request",
                         "$.databases: expected an object of at most %d \"name\": \"level\"",
                         MAX_GRANTS);
        return false;
    }
    const char *name;
    const json_t *v;
    json_object_foreach((json_t *)dbs, name, v)
    {
        struct cg_errbuf err = {{0}};
        if (!json_is_string(v)) {
            admin_resp_error(resp, req, 400, "bad_request",
                             "$.databases.%s: expected \"Admin\", \"ReadWrite\" or \"ReadOnly\"",
                             name);
            return false;
        }
        if (pki_db_grant_make(name, strlen(name), json_string_value(v), &out[*out_num], &err) !=
            CG_OK) {
            admin_resp_error(resp, req, 400, "bad_request", "%s", err.msg);
            return false;
        }
        (*out_num)++;
    }
    return true;
}

/* get_allow_ips reads "allow_ips": [CIDR, ...] (MAX_ALLOW_IPS) into |out|; |*out_given|
 * when the key is present (null too: "remove the list"), |*out_list| when it is an array
 * (an empty one too: no address). The policy loader checks each block when the change
 * is committed. */
static bool get_allow_ips(const struct admin_request *req, struct admin_response *resp,
                          const json_t *obj, const char **out, size_t *out_num, bool *out_given,
                          bool *out_list)
{
    const json_t *jips = json_object_get(obj, "allow_ips");
    *out_num = 0;
    *out_given = jips != NULL;
    *out_list = false;
    if (jips == NULL || json_is_null(jips)) {
        return true;
    }
    if (!json_is_array(jips) || json_array_size(jips) > MAX_ALLOW_IPS) {
        admin_resp_error(resp, req, 400, "bad_request",
                         "$.allow_ips: expected an array of CIDRs (or null to remove it)");
        return false;
    }
    size_t i;
    json_t *v;
    json_array_foreach(jips, i, v)
    {
        if (!json_is_string(v)) {
            admin_resp_error(resp, req, 400, "bad_request", "$.allow_ips[%zu]: expected a string",
                             i);
            return false;
        }
        out[(*out_num)++] = json_string_value(v);
    }
    *out_list = true;
    return true;
}

static bool check_clearance(const struct admin_request *req, struct admin_response *resp,
                            const char *clearance)
{
    struct cg_errbuf err = {{0}};
    if (pki_clearance_check(clearance, &err) != CG_OK) {
        admin_resp_error(resp, req, 400, "bad_request", "%s", err.msg);
        return false;
    }
    return true;
}

/* operator_rule applies RavenDB's rule: only a ClusterAdmin may touch a ClusterAdmin
 * entry, or make one. */
static bool operator_rule(const struct admin_request *req, struct admin_response *resp,
                          const char *clearance)
{
    if (clearance != NULL && strcmp(clearance, "ClusterAdmin") == 0 &&
        req->who_clearance < POLICY_CLEARANCE_CLUSTER_ADMIN) {
        admin_resp_error(resp, req, 403, "forbidden", "insufficient_clearance");
        return false;
    }
    return true;
}

/* if_match_ok enforces If-Match against the generation of the policy in force. */
static bool if_match_ok(struct admin_server *a, const struct admin_request *req,
                        struct admin_response *resp)
{
    if (req->if_match == NULL || strcmp(req->if_match, "*") == 0) {
        return true;
    }
    char want[32];
    snprintf(want, sizeof(want), "\"%" PRIu64 "\"", admin_policy_generation(a));
    const char *v = req->if_match;
    if (strncmp(v, "W/", 2) == 0) {
        v += 2;
    }
    /* A list of entity tags: any one may match. */
    const char *p = v;
    while (*p != '\0') {
        while (*p == ' ' || *p == ',') {
            p++;
        }
        size_t n = strcspn(p, ",");
        while (n > 0 && p[n - 1] == ' ') {
            n--;
        }
        if (n == strlen(want) && memcmp(p, want, n) == 0) {
            return true;
        }
        p += strcspn(p, ",");
    }
    admin_resp_etag(a, resp);
    admin_resp_error(resp, req, 412, "precondition_failed",
                     "If-Match %s does not match the policy generation %s", req->if_match, want);
    return false;
}

static bool have_policy_file(struct admin_server *a, const struct admin_request *req,
                             struct admin_response *resp)
{
    if (admin_policy_file(a) == NULL) {
        admin_resp_error(resp, req, 503, "unavailable", "listener %s has no policy file",
                         a->lrt->cfg->name);
        return false;
    }
    return true;
}

/* open_policy opens the managed policy file for a change (pki_registry_open): the caller
 * releases |*lock_fd| with pki_registry_unlock after commit(). A lock held by a certgate
 * command is waited for on this (main) thread, never a worker, for at most
 * POLICY_LOCK_TIMEOUT_MS, then answered 503. */
static json_t *open_policy(struct admin_server *a, const struct admin_request *req,
                           struct admin_response *resp, int *lock_fd)
{
    struct cg_errbuf err = {{0}};
    json_t *doc = NULL;
    int rc = pki_registry_open(admin_policy_file(a), true, POLICY_LOCK_TIMEOUT_MS, lock_fd, &doc,
                               &err);
    if (rc == CG_ERR_LIMIT) {
        admin_resp_header(resp, "Retry-After", "1");
        admin_resp_error(resp, req, 503, "policy_locked", "%s", err.msg);
    } else if (rc != CG_OK) {
        admin_resp_error(resp, req, 500, "internal", "%s", err.msg);
    }
    return doc;
}

static json_t *load_doc(struct admin_server *a, const struct admin_request *req,
                        struct admin_response *resp)
{
    json_t *doc = NULL;
    struct cg_errbuf err = {{0}};
    if (pki_registry_load(admin_policy_file(a), &doc, &err) != CG_OK) {
        admin_resp_error(resp, req, 500, "internal", "%s", err.msg);
        return NULL;
    }
    return doc;
}

/* load_opts are the rules of the managed listener, which a new policy must pass. */
static struct policy_load_opts load_opts(const struct admin_server *a)
{
    return (struct policy_load_opts){.client_ca = a->lrt->cfg->tls.client_ca != NULL};
}

/* apply puts the policy just written into force. Returns false with |resp| filled when
 * it did not. */
static bool apply(struct admin_server *a, const struct admin_request *req,
                  struct admin_response *resp)
{
    struct cg_errbuf err = {{0}};
    uint64_t before = admin_policy_generation(a);
    /* Through the reloader: it re-reads what changed and remembers the file as seen. */
    reloader_reload(a->rl, false);
    if (admin_policy_generation(a) == before) {
        if (reload_load_policy(a->rt, a->snap, a->slot_index, &err) != CG_OK) {
            reload_count_policy(a->rt, a->snap, a->slot_index, false);
            admin_resp_error(resp, req, 500, "internal", "written but not applied: %s", err.msg);
            return false;
        }
        reload_count_policy(a->rt, a->snap, a->slot_index, true);
    }
    resp->changed = true;
    return true;
}

/* commit validates |doc|, writes it and applies it. Returns false with |resp| filled
 * when it did not. */
static bool commit(struct admin_server *a, const struct admin_request *req,
                   struct admin_response *resp, json_t *doc)
{
    struct policy_load_opts opts = load_opts(a);
    struct cg_errbuf err = {{0}};
    int rc = pki_registry_save_checked(admin_policy_file(a), doc, &opts, &err);
    if (rc != CG_OK) {
        admin_resp_error(resp, req, rc == CG_ERR_INVALID ? 400 : 500,
                         rc == CG_ERR_INVALID ? "invalid_policy" : "internal", "%s", err.msg);
        return false;
    }
    return apply(a, req, resp);
}

/* commit_and_answer writes |doc| (commit) and, once it is in force, answers |status|
 * with |body| (owned: freed if the commit fails) and records |reason| for the log. */
static void commit_and_answer(struct admin_server *a, const struct admin_request *req,
                              struct admin_response *resp, json_t *doc, int status, json_t *body,
                              const char *reason)
{
    if (!commit(a, req, resp, doc)) {
        json_decref(body);
        return;
    }
    admin_resp_etag(a, resp);
    admin_resp_json(resp, status, body);
    snprintf(resp->reason, sizeof(resp->reason), "%s", reason);
}

/* entry_view is what the API shows of a registry entry. */
static json_t *entry_view(const json_t *e)
{
    static const char *const keys[] = {"name",      "thumbprints", "clearance", "databases",
                                       "allow_ips", "expires",     "pins"};
    json_t *out = json_object();
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        json_t *v = json_object_get(e, keys[i]);
        if (v != NULL) {
            json_object_set(out, keys[i], v);
        } else if (strcmp(keys[i], "databases") == 0) {
            json_object_set_new(out, keys[i], json_object());
        } else if (strcmp(keys[i], "thumbprints") == 0) {
            json_object_set_new(out, keys[i], json_array());
        }
    }
    return out;
}

static void set_target(struct admin_response *resp, const char *name, const char *tp)
{
    snprintf(resp->target, sizeof(resp->target), "%s%s%s", name ? name : "", name && tp ? " " : "",
             tp ? tp : "");
}

/* ---- GET /admin/certificates ------------------------------------------------------- */

void admin_certs_list(struct admin_server *a, const struct admin_request *req,
                      struct admin_response *resp)
{
    if (!have_policy_file(a, req, resp)) {
        return;
    }
    json_t *doc = load_doc(a, req, resp);
    if (doc == NULL) {
        return;
    }
    json_t *list = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(pki_registry_entries(doc), i, e)
    {
        json_array_append_new(list, entry_view(e));
    }
    json_decref(doc);
    admin_resp_etag(a, resp);
    admin_resp_json(resp, 200,
                    json_pack("{sI so}", "generation", (json_int_t)admin_policy_generation(a),
                              "certificates", list));
}

/* ---- POST /admin/certificates ---------------------------------------------------- */

static char *b64(const uint8_t *data, size_t len)
{
    size_t out_len;
    EVP_EncodedLength(&out_len, len);
    char *out = cg_xmalloc(out_len);
    EVP_EncodeBlock((uint8_t *)out, data, len);
    return out;
}

/* read_entry reads the new entry's "name", "clearance" and "databases" from |body| into
 * |out| (|grants| holds MAX_GRANTS) and checks them (pki_enroll_entry_check): false with
 * a 400 when they are missing or malformed. */
static bool read_entry(const struct admin_request *req, struct admin_response *resp,
                       const json_t *body, struct pki_db_grant *grants,
                       struct pki_enroll_entry *out)
{
    bool dbs_given;
    struct cg_errbuf err = {{0}};
    *out = (struct pki_enroll_entry){.dbs = grants};
    if (!get_string(req, resp, body, "name", &out->name) ||
        !get_string(req, resp, body, "clearance", &out->clearance) ||
        !get_grants(req, resp, body, grants, &out->num_dbs, &dbs_given)) {
        return false;
    }
    set_target(resp, out->name, NULL);
    if (out->name == NULL || out->clearance == NULL) {
        admin_resp_error(resp, req, 400, "bad_request", "\"name\" and \"clearance\" are required");
        return false;
    }
    if (pki_enroll_entry_check(out, &err) != CG_OK) {
        admin_resp_error(resp, req, 400, "bad_request", "%s", err.msg);
        return false;
    }
    return true;
}

/* enroll_failed answers an enrollment that stopped at |e->step| with |rc|. */
static void enroll_failed(const struct admin_request *req, struct admin_response *resp,
                          const struct pki_enrollment *e, int rc, const struct cg_errbuf *err)
{
    switch (e->step) {
    case PKI_ENROLL_REQUEST:
        admin_resp_error(resp, req, 400, "bad_request", "%s", err->msg);
        return;
    case PKI_ENROLL_OPEN:
        if (rc == CG_ERR_LIMIT) {
            admin_resp_header(resp, "Retry-After", "1");
            admin_resp_error(resp, req, 503, "policy_locked", "%s", err->msg);
            return;
        }
        break;
    case PKI_ENROLL_NAME:
        admin_resp_error(resp, req, 409, "conflict", "%s", err->msg);
        return;
    case PKI_ENROLL_REGISTER:
        admin_resp_error(resp, req, rc == CG_ERR_EXISTS ? 409 : 400,
                         rc == CG_ERR_EXISTS ? "conflict" : "bad_request", "%s", err->msg);
        return;
    case PKI_ENROLL_CHECK:
        admin_resp_error(resp, req, 400, "invalid_policy", "%s", err->msg);
        return;
    case PKI_ENROLL_ISSUE:
    case PKI_ENROLL_DELIVER:
    case PKI_ENROLL_SAVE:
    case PKI_ENROLL_DONE:
        break;
    }
    admin_resp_error(resp, req, 500, "internal", "%s: %s", pki_enroll_step_str(e->step),
                     err->msg);
}

void admin_certs_create(struct admin_server *a, const struct admin_request *req,
                        struct admin_response *resp)
{
    static const char *const keys[] = {"name", "clearance", "databases", "allow_ips",
                                       "days", "password",  "format",    NULL};
    struct pki_identity ca = {0};
    struct pki_enrollment e = {0};
    struct pki_db_grant grants[MAX_GRANTS];
    const char *ips[MAX_ALLOW_IPS];
    size_t num_ips;
    bool ips_given, ips_list;
    struct pki_enroll_entry entry;
    const char *password, *format;
    struct cg_errbuf err = {{0}};
    json_t *body = parse_body(req, resp, keys);
    if (body == NULL || !read_entry(req, resp, body, grants, &entry) ||
        !get_string(req, resp, body, "password", &password) ||
        !get_string(req, resp, body, "format", &format) ||
        !get_allow_ips(req, resp, body, ips, &num_ips, &ips_given, &ips_list)) {
        goto out;
    }
    /* The entry is born with its address restriction: never registered without it. */
    entry.allow_ips = ips_list ? ips : NULL;
    entry.num_allow_ips = num_ips;
    bool pem = false;
    if (format != NULL && strcmp(format, "pem") == 0) {
        pem = true;
    } else if (format != NULL && strcmp(format, "pkcs12") != 0) {
        admin_resp_error(resp, req, 400, "bad_request", "$.format: expected \"pkcs12\" or \"pem\"");
        goto out;
    }
    json_int_t days = PKI_ENROLL_DEFAULT_DAYS;
    json_t *jdays = json_object_get(body, "days");
    if (jdays != NULL && !json_is_null(jdays)) {
        if (!json_is_integer(jdays) || json_integer_value(jdays) < 1 ||
            json_integer_value(jdays) > PKI_MAX_DAYS) {
            admin_resp_error(resp, req, 400, "bad_request", "$.days: expected 1 to %u",
                             PKI_MAX_DAYS);
            goto out;
        }
        days = json_integer_value(jdays);
    }
    if (!operator_rule(req, resp, entry.clearance) || !have_policy_file(a, req, resp) ||
        !if_match_ok(a, req, resp)) {
        goto out;
    }
    const char *state_dir = a->rt->cfg->state_dir;
    char ca_dir[4096];
    snprintf(ca_dir, sizeof(ca_dir), "%s/ca", state_dir ? state_dir : "");
    if (state_dir == NULL || pki_ca_load(ca_dir, &ca, &err) != CG_OK) {
        admin_resp_error(resp, req, 503, "no_ca", "no private CA in %s",
                         state_dir ? ca_dir : "state_dir (not configured)");
        goto out;
    }
    const struct pki_enroll_issue issue = {
        .ca = &ca, .days = (unsigned)days, .password = password, .generate_password = !pem};
    struct policy_load_opts opts = load_opts(a);
    const struct pki_enroll_policy policy = {.path = admin_policy_file(a),
                                             .create = true,
                                             .lock_timeout_ms = POLICY_LOCK_TIMEOUT_MS,
                                             .load_opts = &opts};
    int rc = pki_enroll_issue(&entry, &issue, &policy, &e, &err);
    if (rc != CG_OK) {
        enroll_failed(req, resp, &e, rc, &err);
        goto out;
    }
    set_target(resp, entry.name, e.thumbprint);
    if (!apply(a, req, resp)) {
        goto out;
    }
    admin_resp_etag(a, resp);
    admin_resp_header(resp, "Location", "/admin/certificates/%s", e.thumbprint);
    admin_resp_header(resp, "X-Certificate-Thumbprint", "%s", e.thumbprint);
    const struct pki_bundle *bundle = &e.bundle;
    if (!pem) {
        if (e.password[0] != '\0') {
            admin_resp_header(resp, "X-Bundle-Password", "%s", e.password);
        }
        admin_resp_header(resp, "Content-Disposition", "attachment; filename=\"%s.p12\"",
                          e.thumbprint);
        resp->status = 201;
        resp->content_type = "application/x-pkcs12";
        evbuffer_add(resp->body, bundle->p12, bundle->p12_len);
    } else {
        json_t *out = json_pack("{ss# ss# ss# ss}", "certificate", bundle->cert_pem,
                                (int)bundle->cert_pem_len, "key", bundle->key_pem,
                                (int)bundle->key_pem_len, "ca", bundle->ca_pem,
                                (int)bundle->ca_pem_len, "thumbprint", e.thumbprint);
        if (bundle->p12 != NULL) {
            char *p12 = b64(bundle->p12, bundle->p12_len);
            json_object_set_new(out, "pkcs12_base64", json_string(p12));
            free(p12);
        }
        admin_resp_json(resp, 201, out);
    }
    snprintf(resp->reason, sizeof(resp->reason), "created");
out:
    json_decref(body);
    pki_enrollment_cleanup(&e);
    pki_identity_cleanup(&ca);
}

/* ---- POST /admin/certificates/import --------------------------------------------- */

/* decode_b64 decodes base64 text, ignoring whitespace, into a heap buffer. */
static uint8_t *decode_b64(const char *text, size_t *out_len)
{
    size_t n = strlen(text);
    char *clean = cg_xmalloc(n + 1);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (text[i] != ' ' && text[i] != '\n' && text[i] != '\r' && text[i] != '\t') {
            clean[m++] = text[i];
        }
    }
    size_t max = 0;
    uint8_t *out = NULL;
    if (EVP_DecodedLength(&max, m)) {
        out = cg_xmalloc(max + 1);
        if (!EVP_DecodeBase64(out, out_len, max, (const uint8_t *)clean, m)) {
            free(out);
            out = NULL;
        }
    }
    free(clean);
    return out;
}

void admin_certs_import(struct admin_server *a, const struct admin_request *req,
                        struct admin_response *resp)
{
    static const char *const keys[] = {"name",          "clearance", "databases", "certificate",
                                       "pkcs12_base64", "password",  NULL};
    struct pki_import imp = {0}, own_ca = {0};
    struct pki_enrollment e = {0};
    uint8_t *der = NULL;
    struct pki_db_grant grants[MAX_GRANTS];
    struct pki_enroll_entry entry;
    const char *pem, *p12, *password;
    struct cg_errbuf err = {{0}};
    json_t *body = parse_body(req, resp, keys);
    if (body == NULL || !read_entry(req, resp, body, grants, &entry) ||
        !get_string(req, resp, body, "certificate", &pem) ||
        !get_string(req, resp, body, "pkcs12_base64", &p12) ||
        !get_string(req, resp, body, "password", &password)) {
        goto out;
    }
    if ((pem == NULL) == (p12 == NULL)) {
        admin_resp_error(resp, req, 400, "bad_request",
                         "one of \"certificate\" (PEM) or \"pkcs12_base64\" is required");
        goto out;
    }
    if (!operator_rule(req, resp, entry.clearance) || !have_policy_file(a, req, resp) ||
        !if_match_ok(a, req, resp)) {
        goto out;
    }
    int rc;
    if (pem != NULL) {
        rc = pki_import_parse((const uint8_t *)pem, strlen(pem), password, &imp, &err);
    } else {
        size_t der_len = 0;
        der = decode_b64(p12, &der_len);
        if (der == NULL) {
            admin_resp_error(resp, req, 400, "bad_request", "$.pkcs12_base64: not base64");
            goto out;
        }
        rc = pki_import_parse(der, der_len, password, &imp, &err);
    }
    if (rc != CG_OK) {
        admin_resp_error(resp, req, 400, "bad_request", "%s", err.msg);
        goto out;
    }
    X509 *ids[PKI_IMPORT_MAX_CERTS];
    size_t num_ids = pki_import_identities(&imp, ids);
    /* Pins need the issuer's key: the CA certificates uploaded with the chain, and the
     * private CA of state_dir (certificates certgate issued). */
    X509 *issuers[PKI_IMPORT_MAX_CERTS + 1];
    size_t num_issuers = 0;
    for (size_t i = 0; i < imp.num_certs; i++) {
        issuers[num_issuers++] = imp.certs[i];
    }
    const char *state_dir = a->rt->cfg->state_dir;
    if (state_dir != NULL) {
        char ca_crt[4096];
        snprintf(ca_crt, sizeof(ca_crt), "%s/ca/ca.crt", state_dir);
        if (pki_import_file(ca_crt, NULL, &own_ca, NULL) == CG_OK) {
            issuers[num_issuers++] = own_ca.certs[0];
        }
    }
    struct policy_load_opts opts = load_opts(a);
    const struct pki_enroll_policy policy = {.path = admin_policy_file(a),
                                             .create = true,
                                             .lock_timeout_ms = POLICY_LOCK_TIMEOUT_MS,
                                             .load_opts = &opts};
    rc = pki_enroll_import(&entry, ids, num_ids, issuers, num_issuers, &policy, &e, &err);
    if (rc != CG_OK) {
        enroll_failed(req, resp, &e, rc, &err);
        goto out;
    }
    set_target(resp, entry.name, e.thumbprint);
    if (apply(a, req, resp)) {
        admin_resp_etag(a, resp);
        admin_resp_json(resp, 201, entry_view(e.entry));
        snprintf(resp->reason, sizeof(resp->reason), "imported");
    }
out:
    free(der);
    json_decref(body);
    pki_enrollment_cleanup(&e);
    pki_import_cleanup(&imp);
    pki_import_cleanup(&own_ca);
}

/* ---- PUT / DELETE /admin/certificates/{thumbprint} ------------------------------- */

/* find_entry finds the entry of |doc| holding |tp| (404 / 400). */
static json_t *find_entry(const struct admin_request *req, struct admin_response *resp,
                          json_t *doc, const char *tp, size_t *out_index)
{
    struct cg_errbuf err = {{0}};
    int rc = pki_registry_find(doc, tp, out_index, &err);
    if (rc != CG_OK) {
        admin_resp_error(resp, req, rc == CG_ERR_NOT_FOUND ? 404 : 400,
                         rc == CG_ERR_NOT_FOUND ? "not_found" : "bad_request", "%s", err.msg);
        return NULL;
    }
    return json_array_get(pki_registry_entries(doc), *out_index);
}

/* ---- GET /admin/certificates/{thumbprint} ---------------------------------------- */

void admin_certs_get(struct admin_server *a, const struct admin_request *req,
                     const char *thumbprint, struct admin_response *resp)
{
    size_t index;
    set_target(resp, NULL, thumbprint);
    if (!have_policy_file(a, req, resp)) {
        return;
    }
    json_t *doc = load_doc(a, req, resp);
    json_t *entry = doc != NULL ? find_entry(req, resp, doc, thumbprint, &index) : NULL;
    if (entry == NULL) {
        json_decref(doc);
        return;
    }
    set_target(resp, json_string_value(json_object_get(entry, "name")), thumbprint);
    json_t *view = entry_view(entry); /* holds its own references */
    json_decref(doc);
    admin_resp_etag(a, resp);
    admin_resp_json(resp, 200, view);
}

void admin_certs_edit(struct admin_server *a, const struct admin_request *req,
                      const char *thumbprint, struct admin_response *resp)
{
    static const char *const keys[] = {"name", "clearance", "databases", "allow_ips", NULL};
    json_t *doc = NULL;
    int lock_fd = -1;
    struct pki_db_grant grants[MAX_GRANTS];
    const char *ips[MAX_ALLOW_IPS];
    size_t num_grants = 0, num_ips = 0;
    bool dbs_given, ips_given, ips_list;
    const char *name, *clearance;
    struct cg_errbuf err = {{0}};
    set_target(resp, NULL, thumbprint);
    json_t *body = parse_body(req, resp, keys);
    if (body == NULL || !get_string(req, resp, body, "name", &name) ||
        !get_string(req, resp, body, "clearance", &clearance) ||
        !get_grants(req, resp, body, grants, &num_grants, &dbs_given) ||
        !get_allow_ips(req, resp, body, ips, &num_ips, &ips_given, &ips_list)) {
        goto out;
    }
    if (json_object_size(body) == 0) {
        admin_resp_error(resp, req, 400, "bad_request",
                         "nothing to change: give name, clearance, databases or allow_ips");
        goto out;
    }
    if (clearance != NULL && !check_clearance(req, resp, clearance)) {
        goto out;
    }
    if (name != NULL && pki_name_check(name, &err) != CG_OK) {
        admin_resp_error(resp, req, 400, "bad_request", "%s", err.msg);
        goto out;
    }
    if (!have_policy_file(a, req, resp) || !if_match_ok(a, req, resp) ||
        (doc = open_policy(a, req, resp, &lock_fd)) == NULL) {
        goto out;
    }
    size_t index;
    json_t *entry = find_entry(req, resp, doc, thumbprint, &index);
    if (entry == NULL) {
        goto out;
    }
    const char *current = json_string_value(json_object_get(entry, "clearance"));
    set_target(resp, json_string_value(json_object_get(entry, "name")), thumbprint);
    if (!operator_rule(req, resp, current) || !operator_rule(req, resp, clearance)) {
        goto out;
    }
    if (name != NULL && pki_registry_name_taken(doc, name, (long)index)) {
        admin_resp_error(resp, req, 409, "conflict", "an entry named '%s' exists", name);
        goto out;
    }
    struct pki_entry_spec spec = {.name = name,
                                  .clearance = clearance,
                                  .dbs = grants,
                                  .num_dbs = num_grants,
                                  .set_dbs = dbs_given,
                                  .allow_ips = ips_list ? ips : NULL,
                                  .num_allow_ips = num_ips,
                                  .set_allow_ips = ips_given};
    if (pki_registry_edit(doc, thumbprint, &spec, &err) != CG_OK) {
        admin_resp_error(resp, req, 400, "bad_request", "%s", err.msg);
        goto out;
    }
    commit_and_answer(a, req, resp, doc, 200, entry_view(entry), "edited");
out:
    pki_registry_unlock(lock_fd);
    json_decref(doc);
    json_decref(body);
}

void admin_certs_delete(struct admin_server *a, const struct admin_request *req,
                        const char *thumbprint, struct admin_response *resp)
{
    json_t *doc = NULL;
    int lock_fd = -1;
    struct cg_errbuf err = {{0}};
    size_t index;
    set_target(resp, NULL, thumbprint);
    if (req->body_len > 0) {
        admin_resp_error(resp, req, 400, "bad_request", "DELETE takes no body");
        return;
    }
    if (!have_policy_file(a, req, resp) || !if_match_ok(a, req, resp) ||
        (doc = open_policy(a, req, resp, &lock_fd)) == NULL) {
        goto out;
    }
    json_t *entry = find_entry(req, resp, doc, thumbprint, &index);
    if (entry == NULL) {
        goto out;
    }
    set_target(resp, json_string_value(json_object_get(entry, "name")), thumbprint);
    json_t *view = entry_view(entry);
    if (!operator_rule(req, resp, json_string_value(json_object_get(entry, "clearance"))) ||
        pki_registry_delete(doc, thumbprint, &err) != CG_OK) {
        if (err.msg[0] != '\0') {
            admin_resp_error(resp, req, 400, "bad_request", "%s", err.msg);
        }
        json_decref(view);
        goto out;
    }
    commit_and_answer(a, req, resp, doc, 200, json_pack("{so}", "deleted", view), "deleted");
out:
    pki_registry_unlock(lock_fd);
    json_decref(doc);
}
