/* policy_describe: the loaded policy, as JSON for people and tools (policy/describe.h). */
#include "policy/describe.h"

#include <string.h>

#include "common/bug.h"
#include "policy/policy_internal.h"

/* or_null returns a new reference to |v|, or JSON null when it is absent or null. */
static json_t *or_null(json_t *v)
{
    return v != NULL ? json_incref(v) : json_null();
}

static json_t *route_database(const struct policy_route *r)
{
    switch (r->db_source) {
    case POLICY_DB_NONE:
        break;
    case POLICY_DB_CAPTURE:
        return json_pack("{ss}", "source", "path");
    case POLICY_DB_FIXED:
        return json_pack("{ss ss}", "source", "fixed", "name", r->database);
    case POLICY_DB_QUERY:
        return json_pack("{ss ss}", "source", "query", "param", r->query_param);
    }
    return json_null();
}

static json_t *routes_json(const struct policy *p)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < p->num_routes; i++) {
        const struct policy_route *r = &p->routes[i];
        json_t *methods = json_null();
        if (r->num_methods > 0) {
            methods = json_array();
            for (size_t m = 0; m < r->num_methods; m++) {
                json_array_append_new(methods, json_string(r->methods[m]));
            }
        }
        enum policy_mode mode = r->has_mode ? r->mode : p->mode;
        json_array_append_new(arr, json_pack("{sI ss so ss so ss}", "index", (json_int_t)i, "path",
                                             r->pattern, "methods", methods, "require",
                                             policy_requirement_str(r->require), "database",
                                             route_database(r), "mode", policy_mode_str(mode)));
    }
    return arr;
}

/* pins_json shows each pin as written, without its issuer key (a long base64 blob):
 * "issuer_key" says whether it has one. */
static json_t *pins_json(json_t *pins)
{
    json_t *arr = json_array();
    size_t i;
    json_t *pin;
    json_array_foreach(pins, i, pin)
    {
        json_array_append_new(arr,
                              json_pack("{so so so sb}", "spki_sha256",
                                        or_null(json_object_get(pin, "spki_sha256")), "issuer",
                                        or_null(json_object_get(pin, "issuer")), "issuer_key_id",
                                        or_null(json_object_get(pin, "issuer_key_id")),
                                        "issuer_key", json_object_get(pin, "issuer_spki") != NULL));
    }
    return arr;
}

static json_t *certificates_json(const struct policy *p, json_t *doc)
{
    json_t *arr = json_array();
    json_t *src = json_object_get(doc, "certificates");
    for (size_t i = 0; i < p->num_entries; i++) {
        const struct policy_entry *e = &p->entries[i];
        json_t *s = json_array_get(src, i);
        json_t *dbs = json_object();
        for (size_t d = 0; d < e->num_dbs; d++) {
            json_object_set_new(dbs, e->dbs[d].name,
                                json_string(policy_level_str(e->dbs[d].level)));
        }
        json_t *tps = json_object_get(s, "thumbprints");
        json_t *match = json_object_get(s, "match");
        json_t *entry =
            json_pack("{sI ss ss so so so so so so}", "index", (json_int_t)i, "name", e->name,
                      "clearance", policy_clearance_str(e->clearance), "databases", dbs,
                      "thumbprints", tps != NULL ? json_incref(tps) : json_array(), "pins",
                      pins_json(json_object_get(s, "pins")), "match",
                      match == NULL          ? json_array()
                      : json_is_array(match) ? json_incref(match)
                                             : json_pack("[O]", match),
                      "allow_ips", or_null(json_object_get(s, "allow_ips")), "expires",
                      or_null(json_object_get(s, "expires")));
        json_array_append_new(arr, entry);
    }
    return arr;
}

static json_t *headers_json(const struct policy_header_names *h)
{
    return json_pack("{ss ss ss ss ss sb ss sb}", "thumbprint", h->thumbprint, "name", h->name,
                     "clearance", h->clearance, "database_access", h->database_access,
                     "client_cert_name", h->client_cert, "client_cert", h->client_cert_on,
                     "xfcc_name", h->xfcc, "xfcc", h->xfcc_on);
}

json_t *policy_describe(const struct policy *p)
{
    /* The loader validated and serialized this document itself. */
    json_t *doc = json_loadb(p->source, p->source_len, 0, NULL);
    CG_BUG_ON(doc == NULL);
    json_t *out =
        json_pack("{ss sb sb so so so so}", "mode", policy_mode_str(p->mode),
                  "case_sensitive_paths", p->case_sensitive_paths, "case_sensitive_databases",
                  p->case_sensitive_databases, "allow_ips", or_null(json_object_get(doc, "allow_ips")),
                  "routes", routes_json(p), "certificates", certificates_json(p, doc), "headers",
                  headers_json(&p->headers));
    json_decref(doc);
    CG_BUG_ON(out == NULL);
    return out;
}
