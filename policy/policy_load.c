/* Loading and validating policy.json (docs/policy.md; reference in docs/policy.md).
 *
 * Everything is checked here, once per load, so that the decision path has nothing
 * left to validate: unknown keys, clearances, levels, CIDRs, thumbprints (and their
 * uniqueness across entries), pins, route patterns, header names. Each error names the
 * JSON path of the offending value. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/boringssl.h"

#include <openssl/base64.h>
#include <openssl/bytestring.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "common/bug.h"
#include "common/hex.h"
#include "common/json.h"
#include "common/mem.h"
#include "common/timestamp.h"
#include "policy/policy_internal.h"

#define PATH_LEN 256

/* Upper bound for a policy file: 100,000 entries take about 30 MiB of JSON. */
#define POLICY_MAX_FILE_LEN (256u * 1024 * 1024)

struct loader {
    struct cg_json_ctx ctx;
    const struct policy_load_opts *opts;
    struct policy *p;
    size_t pins_cap;
};

/* ---- small validators ---- */

static bool has_ctl(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f) {
            return true;
        }
    }
    return false;
}

static bool is_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool is_token(const char *s)
{
    if (*s == '\0') {
        return false;
    }
    for (; *s; s++) {
        if (!is_tchar(*s)) {
            return false;
        }
    }
    return true;
}

static int get_required_string(struct loader *l, const json_t *obj, const char *path,
                               const char *key, const char **out)
{
    *out = NULL;
    int rc = cg_json_get_string(&l->ctx, obj, path, key, out);
    if (rc != CG_OK) {
        return rc;
    }
    if (*out == NULL || (*out)[0] == '\0') {
        char p[PATH_LEN];
        return cg_json_fail(&l->ctx, cg_json_path(p, sizeof(p), path, key, 0),
                            "a non-empty string is required");
    }
    return CG_OK;
}

/* parse_enum maps |text| to its index in |names| (NULL-terminated), or fails. */
static int parse_enum(struct loader *l, const char *path, const char *text,
                      const char *const *names, const char *what, int *out)
{
    for (int i = 0; names[i] != NULL; i++) {
        if (strcmp(text, names[i]) == 0) {
            *out = i;
            return CG_OK;
        }
    }
    char list[200] = "";
    for (int i = 0; names[i] != NULL; i++) {
        if (names[i][0] == '\0') {
            continue;
        }
        size_t used = strlen(list);
        snprintf(list + used, sizeof(list) - used, "%s%s", used ? ", " : "", names[i]);
    }
    return cg_json_fail(&l->ctx, path, "unknown %s \"%s\" (expected one of %s)", what, text, list);
}

static int parse_mode(struct loader *l, const json_t *obj, const char *path, bool *has,
                      enum policy_mode *out)
{
    static const char *const names[] = {"enforce", "audit", NULL};
    const char *s = NULL;
    int rc = cg_json_get_string(&l->ctx, obj, path, "mode", &s);
    if (rc != CG_OK || s == NULL) {
        return rc;
    }
    char p[PATH_LEN];
    int v;
    rc = parse_enum(l, cg_json_path(p, sizeof(p), path, "mode", 0), s, names, "mode", &v);
    if (rc == CG_OK) {
        *out = (enum policy_mode)v;
        if (has != NULL) {
            *has = true;
        }
    }
    return rc;
}

/* parse_spki reads a SHA-256 pin: standard base64 (44 characters with padding, or 43
 * without) or 64 hex digits; false if it is neither. */
static bool parse_spki(const char *s, uint8_t out[POLICY_SHA256_LEN])
{
    size_t len = strlen(s);
    size_t n;
    if (len == 64 && cg_hex_decode(cg_str_from_cstr(s), CG_HEX_COLONS_NO, out, POLICY_SHA256_LEN,
                                   &n) == CG_OK &&
        n == POLICY_SHA256_LEN) {
        return true;
    }
    char padded[45];
    if (len != 43 && len != 44) {
        return false;
    }
    memcpy(padded, s, len);
    if (len == 43) {
        padded[43] = '=';
    }
    uint8_t buf[48];
    if (!EVP_DecodeBase64(buf, &n, sizeof(buf), (const uint8_t *)padded, 44) ||
        n != POLICY_SHA256_LEN) {
        return false;
    }
    memcpy(out, buf, POLICY_SHA256_LEN);
    return true;
}

/* Longest "issuer_spki" accepted: the base64 of an RSA-16384 key's SPKI fits. */
#define MAX_ISSUER_SPKI_B64 4096

/* parse_issuer_spki reads a base64 DER SubjectPublicKeyInfo into a key that can verify
 * signatures (EC, RSA, Ed25519), and the SHA-256 of the DER; false if it is none. */
static bool parse_issuer_spki(const char *s, EVP_PKEY **out, uint8_t sha256[POLICY_SHA256_LEN])
{
    size_t len = strlen(s), der_len;
    if (len == 0 || len > MAX_ISSUER_SPKI_B64 || !EVP_DecodedLength(&der_len, len)) {
        return false;
    }
    uint8_t *der = cg_xmalloc(der_len);
    bool ok = false;
    if (EVP_DecodeBase64(der, &der_len, der_len, (const uint8_t *)s, len)) {
        CBS cbs;
        CBS_init(&cbs, der, der_len);
        EVP_PKEY *key = EVP_parse_public_key(&cbs);
        int type = key != NULL ? EVP_PKEY_id(key) : EVP_PKEY_NONE;
        if (key != NULL && CBS_len(&cbs) == 0 &&
            (type == EVP_PKEY_EC || type == EVP_PKEY_RSA || type == EVP_PKEY_ED25519)) {
            SHA256(der, der_len, sha256);
            *out = key;
            ok = true;
        } else {
            EVP_PKEY_free(key);
        }
    }
    ERR_clear_error();
    free(der);
    return ok;
}

/* ---- sections ---- */

static int parse_ip_list(struct loader *l, const json_t *obj, const char *parent, const char *key,
                         struct ipset *set, bool *has)
{
    const json_t *arr = json_object_get(obj, key);
    if (arr == NULL || json_is_null(arr)) {
        return CG_OK;
    }
    char path[PATH_LEN], ipath[PATH_LEN];
    cg_json_path(path, sizeof(path), parent, key, 0);
    if (!json_is_array(arr)) {
        return cg_json_fail(&l->ctx, path, "expected an array of IP addresses or CIDR blocks");
    }
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v)
    {
        cg_json_path(ipath, sizeof(ipath), path, NULL, i);
        if (!json_is_string(v)) {
            return cg_json_fail(&l->ctx, ipath, "expected a string (\"10.0.0.0/8\", \"::1\")");
        }
        struct cg_errbuf e = {{0}};
        if (ipset_add(set, json_string_value(v), &e) != CG_OK) {
            return cg_json_fail(&l->ctx, ipath, "%s", e.msg);
        }
    }
    ipset_finish(set);
    *has = true;
    return CG_OK;
}

static int parse_route(struct loader *l, const json_t *obj, const char *path,
                       struct policy_route *r)
{
    static const char *const keys[] = {"path",    "methods", "database", "database_from_query",
                                       "require", "mode",    NULL};
    static const char *const requirements[] = {"Public",       "Authenticated", "ReadOnly",
                                               "ReadWrite",    "Admin",         "Operator",
                                               "ClusterAdmin", "Deny",          NULL};
    char p[PATH_LEN], q[PATH_LEN];
    int rc = cg_json_check_keys(&l->ctx, obj, path, keys);
    if (rc != CG_OK) {
        return rc;
    }
    const char *pattern, *require;
    if ((rc = get_required_string(l, obj, path, "path", &pattern)) != CG_OK ||
        (rc = get_required_string(l, obj, path, "require", &require)) != CG_OK) {
        return rc;
    }
    r->pattern = cg_xstrdup(pattern);
    char why[200];
    if (policy_route_compile(pattern, r, why, sizeof(why)) != CG_OK) {
        return cg_json_fail(&l->ctx, cg_json_path(p, sizeof(p), path, "path", 0), "%s", why);
    }
    int req;
    rc = parse_enum(l, cg_json_path(p, sizeof(p), path, "require", 0), require, requirements,
                    "requirement", &req);
    if (rc != CG_OK) {
        return rc;
    }
    r->require = (enum policy_requirement)req;

    const json_t *methods = json_object_get(obj, "methods");
    if (methods != NULL && !json_is_null(methods)) {
        cg_json_path(p, sizeof(p), path, "methods", 0);
        if (!json_is_array(methods) || json_array_size(methods) == 0) {
            return cg_json_fail(&l->ctx, p, "expected a non-empty array of methods");
        }
        r->methods = cg_xcalloc(json_array_size(methods), sizeof(*r->methods));
        size_t i;
        const json_t *m;
        json_array_foreach(methods, i, m)
        {
            cg_json_path(q, sizeof(q), p, NULL, i);
            const char *s = json_string_value(m);
            if (s == NULL || !is_token(s)) {
                return cg_json_fail(&l->ctx, q, "expected a method name such as \"GET\"");
            }
            for (const char *c = s; *c; c++) {
                if (*c >= 'a' && *c <= 'z') {
                    return cg_json_fail(&l->ctx, q,
                                        "methods are case-sensitive and upper case (\"%s\")", s);
                }
            }
            r->methods[r->num_methods++] = cg_xstrdup(s);
        }
    }

    const char *database = NULL, *from_query = NULL;
    if ((rc = cg_json_get_string(&l->ctx, obj, path, "database", &database)) != CG_OK ||
        (rc = cg_json_get_string(&l->ctx, obj, path, "database_from_query", &from_query)) !=
            CG_OK) {
        return rc;
    }
    if (database != NULL) {
        cg_json_path(p, sizeof(p), path, "database", 0);
        if (database[0] == '\0' || has_ctl(database)) {
            return cg_json_fail(&l->ctx, p, "expected a database name");
        }
        if (r->db_source == POLICY_DB_CAPTURE) {
            return cg_json_fail(&l->ctx, p, "the path already captures the database with {db}");
        }
        r->db_source = POLICY_DB_FIXED;
        r->database = cg_xstrdup(database);
    }
    if (from_query != NULL) {
        cg_json_path(p, sizeof(p), path, "database_from_query", 0);
        if (from_query[0] == '\0' || has_ctl(from_query)) {
            return cg_json_fail(&l->ctx, p, "expected a query parameter name");
        }
        if (r->db_source != POLICY_DB_NONE) {
            return cg_json_fail(&l->ctx, p,
                                "only one of {db}, \"database\" and \"database_from_query\"");
        }
        r->db_source = POLICY_DB_QUERY;
        r->query_param = cg_xstrdup(from_query);
    }
    if ((r->require == POLICY_REQUIRE_READ_ONLY || r->require == POLICY_REQUIRE_READ_WRITE ||
         r->require == POLICY_REQUIRE_ADMIN) &&
        r->db_source == POLICY_DB_NONE) {
        return cg_json_fail(&l->ctx, cg_json_path(p, sizeof(p), path, "require", 0),
                            "\"%s\" is a database level: the route needs {db} in its path, "
                            "\"database\" or \"database_from_query\"",
                            require);
    }
    return parse_mode(l, obj, path, &r->has_mode, &r->mode);
}

static int parse_routes(struct loader *l, const json_t *root)
{
    const json_t *arr = json_object_get(root, "routes");
    if (arr == NULL || json_is_null(arr)) {
        return CG_OK;
    }
    if (!json_is_array(arr)) {
        return cg_json_fail(&l->ctx, "$.routes", "expected an array of routes");
    }
    l->p->routes = cg_xcalloc(json_array_size(arr) + 1, sizeof(*l->p->routes));
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v)
    {
        char p[PATH_LEN];
        cg_json_path(p, sizeof(p), "$.routes", NULL, i);
        l->p->num_routes = i + 1; /* so that policy_free cleans a partial route */
        int rc = parse_route(l, v, p, &l->p->routes[i]);
        if (rc != CG_OK) {
            return rc;
        }
    }
    return CG_OK;
}

static int add_thumbprints(struct loader *l, const json_t *obj, const char *path, uint32_t idx,
                           bool *any)
{
    const json_t *arr = json_object_get(obj, "thumbprints");
    if (arr == NULL || json_is_null(arr)) {
        return CG_OK;
    }
    char p[PATH_LEN], q[PATH_LEN];
    cg_json_path(p, sizeof(p), path, "thumbprints", 0);
    if (!json_is_array(arr)) {
        return cg_json_fail(&l->ctx, p, "expected an array of SHA-1 or SHA-256 hex thumbprints");
    }
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v)
    {
        cg_json_path(q, sizeof(q), p, NULL, i);
        const char *s = json_string_value(v);
        uint8_t tp[POLICY_SHA256_LEN];
        size_t tp_len;
        if (s == NULL || policy_thumbprint_parse(s, tp, &tp_len) != CG_OK) {
            return cg_json_fail(&l->ctx, q,
                                "expected a SHA-1 (40 hex digits) or SHA-256 (64 hex digits) "
                                "thumbprint, optionally with ':' between bytes");
        }
        struct policy_hashtab *t = tp_len == POLICY_SHA1_LEN ? &l->p->by_sha1 : &l->p->by_sha256;
        uint32_t other;
        if (policy_hashtab_insert(t, tp, idx, true, &other) != CG_OK) {
            if (other == idx) {
                return cg_json_fail(&l->ctx, q, "duplicate thumbprint in this entry");
            }
            return cg_json_fail(&l->ctx, q,
                                "thumbprint already registered by $.certificates[%u] (\"%s\")",
                                other, l->p->entries[other].name);
        }
        *any = true;
    }
    return CG_OK;
}

static int add_pins(struct loader *l, const json_t *obj, const char *path, uint32_t idx, bool *any)
{
    static const char *const keys[] = {"spki_sha256", "issuer", "issuer_key_id", "issuer_spki",
                                       NULL};
    const json_t *arr = json_object_get(obj, "pins");
    if (arr == NULL || json_is_null(arr)) {
        return CG_OK;
    }
    char p[PATH_LEN], q[PATH_LEN], f[PATH_LEN];
    cg_json_path(p, sizeof(p), path, "pins", 0);
    if (!json_is_array(arr)) {
        return cg_json_fail(&l->ctx, p, "expected an array of pins");
    }
    struct policy *pol = l->p;
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v)
    {
        cg_json_path(q, sizeof(q), p, NULL, i);
        int rc = cg_json_check_keys(&l->ctx, v, q, keys);
        if (rc != CG_OK) {
            return rc;
        }
        const char *spki, *issuer, *aki = NULL, *issuer_spki = NULL;
        if ((rc = get_required_string(l, v, q, "spki_sha256", &spki)) != CG_OK ||
            (rc = get_required_string(l, v, q, "issuer", &issuer)) != CG_OK ||
            (rc = cg_json_get_string(&l->ctx, v, q, "issuer_key_id", &aki)) != CG_OK ||
            (rc = cg_json_get_string(&l->ctx, v, q, "issuer_spki", &issuer_spki)) != CG_OK) {
            return rc;
        }
        if (pol->num_pins == l->pins_cap) {
            l->pins_cap = l->pins_cap ? 2 * l->pins_cap : 16;
            pol->pins = cg_xrealloc(pol->pins, l->pins_cap * sizeof(*pol->pins));
        }
        struct policy_pin *pin = &pol->pins[pol->num_pins];
        memset(pin, 0, sizeof(*pin));
        pin->entry = idx;
        /* Counted before anything else can fail, so that policy_free releases the key. */
        pol->num_pins++;
        if (!parse_spki(spki, pin->spki_sha256)) {
            return cg_json_fail(&l->ctx, cg_json_path(f, sizeof(f), q, "spki_sha256", 0),
                                "expected the base64 (or hex) SHA-256 of the "
                                "SubjectPublicKeyInfo");
        }
        if (aki != NULL && cg_hex_decode(cg_str_from_cstr(aki), CG_HEX_COLONS_OPTIONAL, pin->aki,
                                         sizeof(pin->aki), &pin->aki_len) != CG_OK) {
            return cg_json_fail(&l->ctx, cg_json_path(f, sizeof(f), q, "issuer_key_id", 0),
                                "expected the issuer's key identifier in hex (at most 64 bytes)");
        }
        /* A pin without the issuer's key could only compare names and key ids, which
         * anyone can copy into a CA of their own: it would grant access to forgeries. */
        if (issuer_spki == NULL) {
            return cg_json_fail(&l->ctx, q,
                                "missing \"issuer_spki\", the issuer's public key that must "
                                "have signed the certificate (add it with 'certgate cert "
                                "upgrade-pins --policy FILE --ca CA_CERT')");
        }
        if (!parse_issuer_spki(issuer_spki, &pin->issuer_key, pin->issuer_spki_sha256)) {
            return cg_json_fail(&l->ctx, cg_json_path(f, sizeof(f), q, "issuer_spki", 0),
                                "expected the issuer's SubjectPublicKeyInfo (DER, base64) with "
                                "an EC, RSA or Ed25519 key");
        }
        /* The same key, issuer and issuer key in two entries would be ambiguous. */
        size_t cursor = 0;
        uint32_t other;
        while (policy_hashtab_next(&pol->by_spki, pin->spki_sha256, &cursor, &other)) {
            const struct policy_pin *o = &pol->pins[other];
            if (strcmp(o->issuer, issuer) == 0 && o->aki_len == pin->aki_len &&
                memcmp(o->aki, pin->aki, pin->aki_len) == 0) {
                return cg_json_fail(&l->ctx, q,
                                    "pin already registered by $.certificates[%u] "
                                    "(\"%s\")",
                                    o->entry, pol->entries[o->entry].name);
            }
        }
        pin->issuer = cg_xstrdup(issuer);
        policy_hashtab_insert(&pol->by_spki, pin->spki_sha256, (uint32_t)(pol->num_pins - 1), false,
                              NULL);
        *any = true;
    }
    return CG_OK;
}

static int parse_matcher(struct loader *l, const json_t *obj, const char *path,
                         struct policy_matcher *m)
{
    static const char *const keys[] = {"subject_cn", "dns_san", "uri_san", NULL};
    int rc = cg_json_check_keys(&l->ctx, obj, path, keys);
    if (rc != CG_OK) {
        return rc;
    }
    const char *cn = NULL, *dns = NULL, *uri = NULL;
    if ((rc = cg_json_get_string(&l->ctx, obj, path, "subject_cn", &cn)) != CG_OK ||
        (rc = cg_json_get_string(&l->ctx, obj, path, "dns_san", &dns)) != CG_OK ||
        (rc = cg_json_get_string(&l->ctx, obj, path, "uri_san", &uri)) != CG_OK) {
        return rc;
    }
    if ((cn == NULL || cn[0] == '\0') && (dns == NULL || dns[0] == '\0') &&
        (uri == NULL || uri[0] == '\0')) {
        return cg_json_fail(&l->ctx, path, "a matcher needs subject_cn, dns_san or uri_san");
    }
    m->subject_cn = cn && cn[0] ? cg_xstrdup(cn) : NULL;
    m->dns_san = dns && dns[0] ? cg_xstrdup(dns) : NULL;
    m->uri_san = uri && uri[0] ? cg_xstrdup(uri) : NULL;
    return CG_OK;
}

static int parse_matchers(struct loader *l, const json_t *obj, const char *path,
                          struct policy_entry *e, bool *any)
{
    const json_t *v = json_object_get(obj, "match");
    if (v == NULL || json_is_null(v)) {
        return CG_OK;
    }
    char p[PATH_LEN], q[PATH_LEN];
    cg_json_path(p, sizeof(p), path, "match", 0);
    if (!l->opts->client_ca) {
        return cg_json_fail(&l->ctx, p,
                            "identity matchers need a listener with tls.client_ca: without "
                            "chain validation anyone could mint a certificate with this name");
    }
    if (json_is_object(v)) {
        e->matchers = cg_xcalloc(1, sizeof(*e->matchers));
        e->num_matchers = 1;
        *any = true;
        return parse_matcher(l, v, p, &e->matchers[0]);
    }
    if (!json_is_array(v) || json_array_size(v) == 0) {
        return cg_json_fail(&l->ctx, p, "expected a matcher object or a non-empty array of them");
    }
    e->matchers = cg_xcalloc(json_array_size(v), sizeof(*e->matchers));
    size_t i;
    const json_t *m;
    json_array_foreach(v, i, m)
    {
        e->num_matchers = i + 1;
        int rc = parse_matcher(l, m, cg_json_path(q, sizeof(q), p, NULL, i), &e->matchers[i]);
        if (rc != CG_OK) {
            return rc;
        }
    }
    *any = true;
    return CG_OK;
}

static int parse_databases(struct loader *l, const json_t *obj, const char *path,
                           struct policy_entry *e)
{
    static const char *const levels[] = {"", "ReadOnly", "ReadWrite", "Admin", NULL};
    const json_t *dbs = json_object_get(obj, "databases");
    if (dbs == NULL || json_is_null(dbs)) {
        return CG_OK;
    }
    char p[PATH_LEN], q[PATH_LEN];
    cg_json_path(p, sizeof(p), path, "databases", 0);
    if (!json_is_object(dbs)) {
        return cg_json_fail(&l->ctx, p,
                            "expected an object {\"database\": \"ReadOnly\"|"
                            "\"ReadWrite\"|\"Admin\"}");
    }
    e->dbs = cg_xcalloc(json_object_size(dbs) + 1, sizeof(*e->dbs));
    const char *name;
    const json_t *v;
    json_object_foreach((json_t *)dbs, name, v)
    {
        cg_json_path(q, sizeof(q), p, name, 0);
        if (name[0] == '\0' || has_ctl(name)) {
            return cg_json_fail(&l->ctx, q, "expected a database name");
        }
        for (size_t i = 0; i < e->num_dbs; i++) {
            if (l->p->case_sensitive_databases ? strcmp(e->dbs[i].name, name) == 0
                                               : strcasecmp(e->dbs[i].name, name) == 0) {
                return cg_json_fail(&l->ctx, q,
                                    l->p->case_sensitive_databases
                                        ? "database listed twice"
                                        : "database listed twice (names are case-insensitive; "
                                          "see case_sensitive_databases)");
            }
        }
        const char *s = json_string_value(v);
        int level;
        if (s == NULL || s[0] == '\0') {
            return cg_json_fail(&l->ctx, q, "expected \"ReadOnly\", \"ReadWrite\" or \"Admin\"");
        }
        int rc = parse_enum(l, q, s, levels, "database level", &level);
        if (rc != CG_OK) {
            return rc;
        }
        e->dbs[e->num_dbs].name = cg_xstrdup(name);
        e->dbs[e->num_dbs].name_len = strlen(name);
        e->dbs[e->num_dbs].level = (enum policy_level)level;
        e->num_dbs++;
    }
    return CG_OK;
}

static int parse_entry(struct loader *l, const json_t *obj, const char *path, uint32_t idx)
{
    static const char *const keys[] = {"name",      "thumbprints", "pins",
                                       "clearance", "databases",   "allow_ips",
                                       "expires",   "match",       NULL};
    static const char *const clearances[] = {"", "ValidUser", "Operator", "ClusterAdmin", NULL};
    struct policy_entry *e = &l->p->entries[idx];
    char p[PATH_LEN];
    int rc = cg_json_check_keys(&l->ctx, obj, path, keys);
    if (rc != CG_OK) {
        return rc;
    }
    const char *name, *clearance, *expires = NULL;
    if ((rc = get_required_string(l, obj, path, "name", &name)) != CG_OK) {
        return rc;
    }
    if (has_ctl(name)) {
        return cg_json_fail(&l->ctx, cg_json_path(p, sizeof(p), path, "name", 0),
                            "control characters are not allowed in a name");
    }
    e->name = cg_xstrdup(name);
    if ((rc = get_required_string(l, obj, path, "clearance", &clearance)) != CG_OK) {
        return rc;
    }
    int c;
    rc = parse_enum(l, cg_json_path(p, sizeof(p), path, "clearance", 0), clearance, clearances,
                    "clearance", &c);
    if (rc != CG_OK) {
        return rc;
    }
    e->clearance = (enum policy_clearance)c;

    bool identified = false;
    if ((rc = add_thumbprints(l, obj, path, idx, &identified)) != CG_OK ||
        (rc = add_pins(l, obj, path, idx, &identified)) != CG_OK ||
        (rc = parse_matchers(l, obj, path, e, &identified)) != CG_OK ||
        (rc = parse_databases(l, obj, path, e)) != CG_OK ||
        (rc = parse_ip_list(l, obj, path, "allow_ips", &e->allow_ips, &e->has_allow_ips)) !=
            CG_OK) {
        return rc;
    }
    if (!identified) {
        return cg_json_fail(&l->ctx, path,
                            "an entry needs at least one of thumbprints, pins or match");
    }
    if ((rc = cg_json_get_string(&l->ctx, obj, path, "expires", &expires)) != CG_OK) {
        return rc;
    }
    if (expires != NULL) {
        if (cg_timestamp_parse_rfc3339(cg_str_from_cstr(expires), &e->expires) != CG_OK) {
            return cg_json_fail(&l->ctx, cg_json_path(p, sizeof(p), path, "expires", 0),
                                "expected an RFC 3339 time such as \"2031-11-24T00:00:00Z\"");
        }
        e->has_expires = true;
    }
    if (e->num_matchers > 0) {
        struct policy *pol = l->p;
        pol->matcher_entries =
            cg_xrealloc(pol->matcher_entries, (pol->num_matcher_entries + 1) * sizeof(uint32_t));
        pol->matcher_entries[pol->num_matcher_entries++] = idx;
    }
    return CG_OK;
}

static int parse_certificates(struct loader *l, const json_t *root)
{
    const json_t *arr = json_object_get(root, "certificates");
    if (arr == NULL || json_is_null(arr)) {
        return CG_OK;
    }
    if (!json_is_array(arr)) {
        return cg_json_fail(&l->ctx, "$.certificates", "expected an array of entries");
    }
    if (json_array_size(arr) >= UINT32_MAX) {
        return cg_json_fail(&l->ctx, "$.certificates", "too many entries");
    }
    l->p->entries = cg_xcalloc(json_array_size(arr) + 1, sizeof(*l->p->entries));
    l->p->num_entries = json_array_size(arr);
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v)
    {
        char p[PATH_LEN];
        int rc =
            parse_entry(l, v, cg_json_path(p, sizeof(p), "$.certificates", NULL, i), (uint32_t)i);
        if (rc != CG_OK) {
            return rc;
        }
    }
    return CG_OK;
}

/* Header names a policy may not take over: framing, routing and hop-by-hop fields. */
static const char *const reserved_headers[] = {
    "host", "content-length", "transfer-encoding", "connection",   "keep-alive", "upgrade",
    "te",   "trailer",        "proxy-connection",  "content-type", "cookie",     "authorization",
    NULL};

static int header_name(struct loader *l, const json_t *obj, const char *path, const char *key,
                       const char *def, char **out)
{
    const char *s = def;
    int rc = cg_json_get_string(&l->ctx, obj, path, key, &s);
    if (rc != CG_OK) {
        return rc;
    }
    char p[PATH_LEN];
    cg_json_path(p, sizeof(p), path, key, 0);
    if (!is_token(s) || s[0] == ':') {
        return cg_json_fail(&l->ctx, p, "expected an HTTP header name");
    }
    for (const char *const *r = reserved_headers; *r; r++) {
        if (strcasecmp(s, *r) == 0) {
            return cg_json_fail(&l->ctx, p, "\"%s\" cannot be used as an identity header", s);
        }
    }
    *out = cg_xstrdup(s);
    return CG_OK;
}

static int parse_headers(struct loader *l, const json_t *root)
{
    static const char *const keys[] = {"thumbprint",  "name",
                                       "clearance",   "database_access",
                                       "client_cert", "client_cert_name",
                                       "xfcc",        "xfcc_name",
                                       NULL};
    static const char *const path = "$.headers";
    struct policy_header_names *h = &l->p->headers;
    const json_t *obj = json_object_get(root, "headers");
    json_t *empty = NULL;
    if (obj == NULL || json_is_null(obj)) {
        obj = empty = json_object();
    }
    h->client_cert_on = true;
    h->xfcc_on = false;
    int rc = cg_json_check_keys(&l->ctx, obj, path, keys);
    if (rc == CG_OK) {
        rc = header_name(l, obj, path, "thumbprint", "X-Client-Cert-Thumbprint", &h->thumbprint);
    }
    if (rc == CG_OK) {
        rc = header_name(l, obj, path, "name", "X-Client-Name", &h->name);
    }
    if (rc == CG_OK) {
        rc = header_name(l, obj, path, "clearance", "X-Client-Clearance", &h->clearance);
    }
    if (rc == CG_OK) {
        rc = header_name(l, obj, path, "database_access", "X-Client-Database-Access",
                         &h->database_access);
    }
    if (rc == CG_OK) {
        rc = header_name(l, obj, path, "client_cert_name", "Client-Cert", &h->client_cert);
    }
    if (rc == CG_OK) {
        rc = header_name(l, obj, path, "xfcc_name", "X-Forwarded-Client-Cert", &h->xfcc);
    }
    if (rc == CG_OK) {
        rc = cg_json_get_bool(&l->ctx, obj, path, "client_cert", &h->client_cert_on);
    }
    if (rc == CG_OK) {
        rc = cg_json_get_bool(&l->ctx, obj, path, "xfcc", &h->xfcc_on);
    }
    if (rc == CG_OK) {
        const char *names[] = {h->thumbprint,      h->name,        h->clearance,
                               h->database_access, h->client_cert, h->xfcc};
        for (size_t i = 0; i < 6 && rc == CG_OK; i++) {
            for (size_t j = i + 1; j < 6; j++) {
                if (strcasecmp(names[i], names[j]) == 0) {
                    rc = cg_json_fail(&l->ctx, path, "header name \"%s\" is used twice", names[j]);
                    break;
                }
            }
        }
    }
    json_decref(empty);
    return rc;
}

static int load_root(struct loader *l, const json_t *root)
{
    static const char *const keys[] = {
        "allow_ips", "routes",       "certificates", "headers", "mode", "case_sensitive_paths",
        "case_sensitive_databases", NULL};
    struct policy *p = l->p;
    int rc = cg_json_check_keys(&l->ctx, root, "$", keys);
    if (rc == CG_OK) {
        rc = parse_mode(l, root, "$", NULL, &p->mode);
    }
    if (rc == CG_OK) {
        rc = cg_json_get_bool(&l->ctx, root, "$", "case_sensitive_paths", &p->case_sensitive_paths);
    }
    if (rc == CG_OK) {
        rc = cg_json_get_bool(&l->ctx, root, "$", "case_sensitive_databases",
                              &p->case_sensitive_databases);
    }
    if (rc == CG_OK) {
        rc = parse_ip_list(l, root, "$", "allow_ips", &p->allow_ips, &p->has_allow_ips);
    }
    if (rc == CG_OK) {
        rc = parse_routes(l, root);
    }
    if (rc == CG_OK) {
        rc = parse_certificates(l, root);
    }
    if (rc == CG_OK) {
        rc = parse_headers(l, root);
    }
    return rc;
}

static int load(const char *name, json_t *root, const struct policy_load_opts *opts,
                struct policy **out, struct cg_errbuf *err)
{
    static const struct policy_load_opts defaults = {0};
    struct policy *p = cg_xcalloc(1, sizeof(*p));
    atomic_init(&p->refs, 1);
    policy_hashtab_init(&p->by_sha1, POLICY_SHA1_LEN);
    policy_hashtab_init(&p->by_sha256, POLICY_SHA256_LEN);
    policy_hashtab_init(&p->by_spki, POLICY_SHA256_LEN);
    struct loader l = {
        .ctx = {.file = name, .err = err},
        .opts = opts ? opts : &defaults,
        .p = p,
    };
    int rc = load_root(&l, root);
    if (rc == CG_OK) {
        /* Kept for policy_describe; the main thread's business, never a worker's. */
        p->source = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
        CG_BUG_ON(p->source == NULL);
        p->source_len = strlen(p->source);
    }
    json_decref(root);
    if (rc != CG_OK) {
        policy_free(p);
        return rc;
    }
    *out = p;
    return CG_OK;
}

int policy_load_file(const char *path, const struct policy_load_opts *opts, struct policy **out,
                     struct cg_errbuf *err)
{
    json_t *root;
    int rc = cg_json_load_file(path, &root, err);
    if (rc != CG_OK) {
        return rc;
    }
    return load(path, root, opts, out, err);
}

int policy_load_json(const char *name, const char *text, size_t len,
                     const struct policy_load_opts *opts, struct policy **out,
                     struct cg_errbuf *err)
{
    if (len > POLICY_MAX_FILE_LEN) {
        return cg_errf(err, CG_ERR_LIMIT, "%s: policy larger than %u bytes",
                       name ? name : "<input>", POLICY_MAX_FILE_LEN);
    }
    json_t *root;
    int rc = cg_json_load_str(name ? name : "<input>", text, len, &root, err);
    if (rc != CG_OK) {
        return rc;
    }
    return load(name, root, opts, out, err);
}
