/* policy_explain (policy/explain.h): the proxy's own decision code on one request, and
 * the facts behind its answer. Everything decided here is decided by policy_decide and
 * policy_headers_build; this file only gathers their inputs and reads their outputs
 * (and the snapshot, to say which thumbprint, pin or matcher an entry matched by). */
#include "policy/explain.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/boringssl.h"

#include <openssl/base64.h>

#include "common/hex.h"
#include "common/mem.h"
#include "common/sockaddr.h"
#include "common/timestamp.h"
#include "policy/cert_facts.h"
#include "policy/headers.h"
#include "policy/policy_internal.h"

/* HEADER_BUF is the room for identity header values but Client-Cert (whose value the
 * caller keeps): policy/headers.h promises 1024 for ordinary certificates. */
#define HEADER_BUF 8192

static int parse_ip(const char *text, struct sockaddr_storage *out, struct cg_errbuf *err)
{
    memset(out, 0, sizeof(*out));
    struct sockaddr_in *sin = (struct sockaddr_in *)out;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;
    if (text != NULL && inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        return CG_OK;
    }
    if (text != NULL && inet_pton(AF_INET6, text, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        return CG_OK;
    }
    return cg_errf(err, CG_ERR_INVALID, "ip \"%s\": expected an IPv4 or IPv6 address",
                   text ? text : "");
}

/* rfc3339 formats |t| as "2031-11-24T00:00:00Z" into |out| (21 bytes). */
static const char *rfc3339(time_t t, char out[CG_TIMESTAMP_RFC3339_SIZE])
{
    cg_timestamp_rfc3339(t, out);
    return out;
}

static json_t *hex_json(const uint8_t *in, size_t len)
{
    char hex[2 * 64 + 1];
    cg_hex_encode(in, len, CG_HEX_UPPER, hex);
    return json_string(hex);
}

static json_t *b64_json(const uint8_t *in, size_t len)
{
    char b64[4 * ((64 + 2) / 3) + 1];
    EVP_EncodeBlock((uint8_t *)b64, in, len);
    return json_string(b64);
}

static json_t *str_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

static json_t *strings_json(char *const *v, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(arr, json_string(v[i]));
    }
    return arr;
}

static const char *chain_str(enum policy_chain_check c)
{
    switch (c) {
    case POLICY_CHAIN_VALID:
        return "validated";
    case POLICY_CHAIN_INVALID:
        return "not validated";
    case POLICY_CHAIN_NOT_CHECKED:
        break;
    }
    return "not checked";
}

static json_t *certificate_json(const struct policy_cert_facts *f,
                                const struct policy_explain_input *in)
{
    char nb[CG_TIMESTAMP_RFC3339_SIZE], na[CG_TIMESTAMP_RFC3339_SIZE];
    json_t *c = json_pack(
        "{so so so ss ss so so so so so ss}", "subject", str_or_null(f->subject), "issuer",
        str_or_null(f->issuer), "serial", str_or_null(f->serial_hex), "not_before",
        rfc3339(f->not_before, nb), "not_after", rfc3339(f->not_after, na), "sha1",
        hex_json(f->sha1, sizeof(f->sha1)), "sha256", hex_json(f->sha256, sizeof(f->sha256)),
        "spki_sha256", b64_json(f->spki_sha256, sizeof(f->spki_sha256)), "dns_sans",
        strings_json(f->dns_sans, f->num_dns_sans), "uri_sans",
        strings_json(f->uri_sans, f->num_uri_sans), "chain", chain_str(in->chain));
    if (in->chain == POLICY_CHAIN_INVALID) {
        json_object_set_new(c, "chain_error", json_string(in->chain_error ? in->chain_error : ""));
    }
    return c;
}

/* source_entry returns $.certificates[|i|] of the document |p| was compiled from. */
static json_t *source_entry(json_t *doc, size_t i)
{
    return json_array_get(json_object_get(doc, "certificates"), i);
}

/* matched_pin returns the pin of entry |idx| that |f| matched by. */
static const struct policy_pin *matched_pin(const struct policy *p, uint32_t idx,
                                            const struct policy_cert_facts *f)
{
    for (size_t i = 0; i < p->num_pins; i++) {
        const struct policy_pin *pin = &p->pins[i];
        if (pin->entry == idx && memcmp(pin->spki_sha256, f->spki_sha256, POLICY_SHA256_LEN) == 0 &&
            memcmp(pin->issuer_spki_sha256, f->issuer_spki_sha256, POLICY_SHA256_LEN) == 0) {
            return pin;
        }
    }
    return NULL;
}

/* how_json says which thumbprint, pin or matchers of the entry the certificate matched. */
static void add_how(json_t *entry, const struct policy *p, const struct policy_decision *d,
                    const struct policy_cert_facts *f, json_t *src)
{
    switch (d->matched_by) {
    case POLICY_MATCH_THUMBPRINT: {
        size_t cursor = 0;
        uint32_t idx;
        bool sha1 = policy_hashtab_next(&p->by_sha1, f->sha1, &cursor, &idx);
        json_object_set_new(entry, "thumbprint",
                            json_pack("{ss so}", "algorithm", sha1 ? "SHA-1" : "SHA-256", "value",
                                      sha1 ? hex_json(f->sha1, sizeof(f->sha1))
                                           : hex_json(f->sha256, sizeof(f->sha256))));
        break;
    }
    case POLICY_MATCH_PIN: {
        const struct policy_pin *pin = matched_pin(p, (uint32_t)d->entry_index, f);
        if (pin != NULL) {
            json_object_set_new(entry, "pin",
                                json_pack("{so ss so sb}", "spki_sha256",
                                          b64_json(pin->spki_sha256, sizeof(pin->spki_sha256)),
                                          "issuer", pin->issuer, "issuer_key_id",
                                          hex_json(pin->aki, pin->aki_len), "signed_by_issuer_key",
                                          true));
        }
        break;
    }
    case POLICY_MATCH_IDENTITY: {
        json_t *m = json_object_get(src, "match");
        json_object_set_new(entry, "match", m != NULL ? json_incref(m) : json_null());
        break;
    }
    case POLICY_MATCH_NONE:
        break;
    }
}

static json_t *entry_json(const struct policy *p, const struct policy_decision *d,
                          const struct policy_cert_facts *f, json_t *doc)
{
    if (d->entry_index < 0) {
        return json_null();
    }
    const struct policy_entry *e = &p->entries[d->entry_index];
    json_t *src = source_entry(doc, (size_t)d->entry_index);
    json_t *dbs = json_object();
    for (size_t i = 0; i < e->num_dbs; i++) {
        json_object_set_new(dbs, e->dbs[i].name, json_string(policy_level_str(e->dbs[i].level)));
    }
    json_t *ips = json_object_get(src, "allow_ips");
    json_t *exp = json_object_get(src, "expires");
    json_t *entry = json_pack("{sI ss ss ss so so so}", "index", (json_int_t)d->entry_index, "name",
                              e->name, "clearance", policy_clearance_str(e->clearance),
                              "matched_by", policy_match_str(d->matched_by), "databases", dbs,
                              "allow_ips", ips ? json_incref(ips) : json_null(), "expires",
                              exp ? json_incref(exp) : json_null());
    add_how(entry, p, d, f, src);
    return entry;
}

static json_t *route_json(const struct policy *p, const struct policy_decision *d)
{
    if (d->route_index < 0) {
        return json_null();
    }
    const struct policy_route *r = &p->routes[d->route_index];
    json_t *methods = json_null();
    if (r->num_methods > 0) {
        methods = strings_json(r->methods, r->num_methods);
    }
    return json_pack("{sI ss so ss ss}", "index", (json_int_t)d->route_index, "path", r->pattern,
                     "methods", methods, "require", policy_requirement_str(r->require), "mode",
                     policy_mode_str(r->has_mode ? r->mode : p->mode));
}

static json_t *database_json(const struct policy *p, const struct policy_decision *d)
{
    if (!d->has_database) {
        return json_null();
    }
    static const char *const sources[] = {
        [POLICY_DB_NONE] = "none",
        [POLICY_DB_CAPTURE] = "path",
        [POLICY_DB_FIXED] = "fixed",
        [POLICY_DB_QUERY] = "query",
    };
    const struct policy_route *r = &p->routes[d->route_index];
    /* The level is the entry's: none without an identified entry. */
    return json_pack("{ss# ss so}", "name", d->database.p, (int)d->database.len, "source",
                     sources[r->db_source], "level",
                     d->entry_index >= 0 ? json_string(policy_level_str(d->level)) : json_null());
}

static void add_header(json_t *arr, struct cg_str name, struct cg_str value)
{
    json_array_append_new(arr, json_pack("{ss# ss#}", "name", name.p, (int)name.len, "value",
                                         value.p ? value.p : "", (int)value.len));
}

/* add_notes says what the decision depended on that the request alone does not show,
 * and what explain could not see. */
static void add_notes(json_t *notes, const struct policy *p, const struct policy_explain_input *in,
                      const struct policy_decision *d, const struct policy_cert_facts *f,
                      const struct sockaddr *peer)
{
    char buf[512];
    if (d->audit) {
        snprintf(buf, sizeof(buf),
                 "allowed only because the %s is in audit mode: enforced, it would be denied "
                 "(%s)",
                 d->route_index >= 0 && p->routes[d->route_index].has_mode ? "route" : "policy",
                 policy_reason_str(d->reason));
        json_array_append_new(notes, json_string(buf));
    }
    if (d->reason == POLICY_REASON_IP_NOT_ALLOWED && p->has_allow_ips &&
        !ipset_contains(&p->allow_ips, peer) && !d->audit) {
        json_array_append_new(
            notes, json_string("the policy's allow_ips refuses this address: the proxy closes "
                               "the connection before the TLS handshake, so the client sees no "
                               "403"));
    }
    if (in->cert_der != NULL && d->cert_checked && in->chain == POLICY_CHAIN_NOT_CHECKED) {
        json_array_append_new(
            notes, json_string("the certificate's chain was not checked (no client CA given): "
                               "on a listener with a client_ca it must also validate against "
                               "it, else untrusted_chain"));
    }
    if (in->cert_der != NULL && d->cert_checked && d->entry_index < 0 && f->issuer_checked &&
        !f->issuer_verified) {
        json_array_append_new(
            notes, json_string("a pin names this certificate's public key, issuer and issuer "
                               "key id, but the certificate is not signed by that pin's "
                               "issuer key: it is not trusted"));
    }
    if (in->cert_der != NULL && d->cert_checked && d->entry_index < 0 &&
        p->num_matcher_entries > 0 && in->chain != POLICY_CHAIN_VALID) {
        json_array_append_new(
            notes, json_string("identity matchers (\"match\") were not tried: they need a "
                               "chain validated against the listener's client_ca"));
    }
    if (d->reason == POLICY_REASON_BAD_PATH &&
        (strchr(in->target, ';') != NULL || strstr(in->target, "%25") != NULL) &&
        !in->path_opts.allow_semicolons && !in->path_opts.allow_encoded_percent) {
        json_array_append_new(
            notes, json_string("';' and \"%25\" in paths are refused unless the listener sets "
                               "path_semicolons / path_encoded_percent"));
    }
    if (d->allow && !d->identified && d->requirement == POLICY_REQUIRE_PUBLIC) {
        json_array_append_new(notes, json_string("a Public route: the request passes as "
                                                 "anonymous, without identity headers"));
    }
}

int policy_explain(const struct policy *p, const struct policy_explain_input *in, json_t **out,
                   struct cg_errbuf *err)
{
    struct sockaddr_storage peer;
    if (in->method == NULL || in->method[0] == '\0' || in->target == NULL ||
        in->target[0] == '\0') {
        return cg_errf(err, CG_ERR_INVALID, "a method and a path are required");
    }
    int rc = parse_ip(in->ip, &peer, err);
    if (rc != CG_OK) {
        return rc;
    }
    struct policy_cert_facts f = {0};
    if (in->cert_der != NULL) {
        rc = policy_cert_facts_from_der(in->cert_der, in->cert_der_len, &f, err);
        if (rc != CG_OK) {
            return rc;
        }
        /* As the proxy does after every handshake: the pin rule's signature check. */
        policy_pin_verify(p, in->cert_der, in->cert_der_len, &f);
    }
    struct policy_identity id = {
        .peer = (const struct sockaddr *)&peer,
        .cert = in->cert_der != NULL ? &f : NULL,
        .chain_validated = in->chain == POLICY_CHAIN_VALID,
        .chain_required = in->chain != POLICY_CHAIN_NOT_CHECKED,
    };
    size_t target_len = strlen(in->target);
    size_t buf_cap = POLICY_DECIDE_BUF_LEN(target_len);
    char *buf = cg_xmalloc(buf_cap);
    struct policy_request req = {
        .now = in->now,
        .sni = cg_str_from_cstr(in->sni && !in->host_checked ? in->sni : ""),
        .method = cg_str_from_cstr(in->method),
        .authority = cg_str_from_cstr(in->host ? in->host : ""),
        .misdirected = in->host_checked && in->misdirected,
        .target = {in->target, target_len},
        .buf = buf,
        .buf_cap = buf_cap,
        .path_opts = in->path_opts,
    };
    struct policy_decision d;
    policy_decide(p, &id, &req, &d);

    json_t *headers = json_array();
    json_t *notes = json_array();
    char *client_cert = NULL;
    if (d.allow && d.identified && in->cert_der != NULL) {
        size_t cap = POLICY_CLIENT_CERT_VALUE_LEN(in->cert_der_len);
        client_cert = cg_xmalloc(cap);
        size_t cc_len = policy_client_cert_value(in->cert_der, in->cert_der_len, client_cert, cap);
        char *hbuf = cg_xmalloc(HEADER_BUF);
        struct policy_header hs[POLICY_MAX_HEADERS];
        size_t num = 0;
        if (policy_headers_build(p, &d, &f, (struct cg_str){client_cert, cc_len}, hbuf, HEADER_BUF,
                                 hs, &num) == CG_OK) {
            for (size_t i = 0; i < num; i++) {
                add_header(headers, hs[i].name, hs[i].value);
            }
        } else {
            json_array_append_new(notes, json_string("the identity headers do not fit in "
                                                     "certgate's buffer: the proxy answers 500"));
        }
        free(hbuf);
    }
    char ip_text[CG_SOCKADDR_TEXT_MAX];
    cg_sockaddr_text((const struct sockaddr *)&peer, ip_text);
    json_t *forwarded = json_array();
    json_t *forward_target = json_null();
    if (d.allow) {
        /* What proxy/http1 and proxy/http2 add after the identity headers. */
        add_header(forwarded, CG_STR_LIT("X-Forwarded-For"), cg_str_from_cstr(ip_text));
        add_header(forwarded, CG_STR_LIT("X-Forwarded-Proto"), CG_STR_LIT("https"));
        if (in->host != NULL && in->host[0] != '\0') {
            add_header(forwarded, CG_STR_LIT("X-Forwarded-Host"), cg_str_from_cstr(in->host));
        }
        forward_target = json_pack("s#", d.path.p, (int)d.path.len);
        if (d.has_query) {
            char *t = cg_xmalloc(d.path.len + d.query.len + 2);
            snprintf(t, d.path.len + d.query.len + 2, "%.*s?%.*s", (int)d.path.len, d.path.p,
                     (int)d.query.len, d.query.p);
            json_decref(forward_target);
            forward_target = json_string(t);
            free(t);
        }
    }
    add_notes(notes, p, in, &d, &f, (const struct sockaddr *)&peer);

    json_t *doc = json_loadb(p->source, p->source_len, 0, NULL);
    char when[CG_TIMESTAMP_RFC3339_SIZE];
    json_t *request =
        json_pack("{ss ss so so so so ss sb ss}", "method", in->method, "target", in->target,
                  "path", d.path.p != NULL ? json_stringn(d.path.p, d.path.len) : json_null(),
                  "query", d.has_query ? json_stringn(d.query.p, d.query.len) : json_null(), "host",
                  str_or_null(in->host && in->host[0] ? in->host : NULL), "sni",
                  str_or_null(in->sni && in->sni[0] ? in->sni : NULL), "ip", ip_text, "grpc",
                  in->grpc, "time", rfc3339(in->now, when));
    const char *decision = !d.allow ? "deny" : d.audit ? "audit" : "allow";
    *out = json_pack(
        "{ss ss so so so so so so sb so so so so so}", "decision", decision, "reason",
        policy_reason_str(d.reason), "status", d.allow ? json_null() : json_integer(d.http_status),
        "grpc_status", !d.allow && in->grpc ? json_integer(d.grpc_status) : json_null(), "request",
        request, "route", route_json(p, &d), "database", database_json(p, &d), "certificate",
        in->cert_der != NULL ? certificate_json(&f, in) : json_null(), "certificate_checked",
        d.cert_checked, "entry", entry_json(p, &d, &f, doc), "headers", headers, "forwarded",
        forwarded, "forward_target", forward_target, "notes", notes);
    json_decref(doc);
    free(client_cert);
    free(buf);
    policy_cert_facts_cleanup(&f);
    return *out != NULL ? CG_OK : cg_errf(err, CG_ERR_INVALID, "cannot build the answer");
}
