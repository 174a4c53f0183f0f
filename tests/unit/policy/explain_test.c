/* Tests for policy/explain.c: one request explained with a real certificate
 * (tests/data/pki/client.der, see its README) against a policy that registers it by
 * thumbprint, by pin (and a pin whose issuer key did not sign it), by identity matcher,
 * or not at all: the decision and reason, the route, the entry and how it matched, the
 * database level, the identity headers exactly as policy_headers_build makes them, the
 * forwarded headers and target, gRPC statuses, audit mode, and the notes that say what
 * the decision could not see. Every answer is also checked against policy_decide on the
 * same inputs: explain must never decide differently from the proxy. */
#include "check_main.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/explain.h"
#include "policy/headers.h"
#include "policy/policy.h"

#define NOW 1800000000 /* 2027-01-15T08:00:00Z; the test certificate is valid until 2126 */
#define CLIENT_SHA1 "C0C217A95EB7AFD8A6E4351F21DE53B3445FEEE3"
#define CLIENT_SHA256 "D822E9DA44ABBFE933E2DAE299FFDC4EF3CE7713953C314288C982FFE12AF137"
#define CLIENT_SPKI "cuxEKgaF6muaLD+CLZKpglyl//HCQFzKkU/MawMp6g0="
#define CLIENT_AKI "E665BDC0830DCBAAE797BEB211E55C621A675E8E"
#define CLIENT_ISSUER "O=certgate tests,CN=vector CA"
/* SubjectPublicKeyInfo of tests/data/pki/ca.pem (the real issuer) and of
 * tests/data/policy/ca.pem (another key). */
#define ISSUER_SPKI                                                                                \
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEDj1j9BgsVAF7lQ0TFf3yH41XZsKcMKNa39mKnyT18++DcK5xCH1J"     \
    "IjpTflmLUF3jNYV/icDjmY749BvnHybBmg=="
#define OTHER_SPKI                                                                                 \
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEsd2WpKWv3LZFY/arCTEI5gyUraM6/XrkOJiSNBcGI7z6xe9a+/Xj"     \
    "Nj5ruge/7FfBE2GDPjDunG7OOX5KtvPL4g=="

static const char routes[] =
    "  \"routes\": [\n"
    "    {\"path\": \"/healthz\", \"require\": \"Public\"},\n"
    "    {\"path\": \"/databases/{db}/*\", \"methods\": [\"GET\", \"HEAD\"], \"require\": "
    "\"ReadOnly\"},\n"
    "    {\"path\": \"/databases/{db}/*\", \"require\": \"ReadWrite\"},\n"
    "    {\"path\": \"/query\", \"database_from_query\": \"db\", \"require\": \"ReadOnly\"},\n"
    "    {\"path\": \"/cluster/*\", \"require\": \"ClusterAdmin\", \"mode\": \"audit\"},\n"
    "    {\"path\": \"/deny/*\", \"require\": \"Deny\"},\n"
    "    {\"path\": \"/*\", \"require\": \"Authenticated\"}\n"
    "  ],\n";

static uint8_t der[4096];
static size_t der_len;

static void read_der(void)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/pki/client.der", CG_TEST_DATA_DIR);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    der_len = fread(der, 1, sizeof(der), f);
    fclose(f);
    ck_assert_uint_gt(der_len, 100);
}

/* load builds a policy from |routes| and the certificates array |certs|. */
static struct policy *load(const char *certs)
{
    char json[8192];
    snprintf(json, sizeof(json),
             "{\n  \"allow_ips\": [\"10.0.0.0/8\", \"127.0.0.1\"],\n%s  \"certificates\": %s\n}\n",
             routes, certs);
    struct policy_load_opts opts = {.client_ca = true};
    struct policy *p = NULL;
    struct cg_errbuf err = {{0}};
    ck_assert_msg(policy_load_json("test.json", json, strlen(json), &opts, &p, &err) == CG_OK, "%s",
                  err.msg);
    return p;
}

static const char by_thumbprint[] =
    "[{\"name\": \"app\", \"clearance\": \"ValidUser\", \"thumbprints\": [\"" CLIENT_SHA1 "\"],"
    " \"databases\": {\"hr\": \"ReadOnly\"}, \"expires\": \"2030-01-01T00:00:00Z\"}]";

struct req {
    bool no_cert;
    enum policy_chain_check chain;
    const char *ip; /* default 10.0.0.1 */
    const char *method;
    const char *target;
    const char *host;
    const char *sni;
    bool host_checked;
    bool misdirected;
    bool grpc;
};

/* explain runs policy_explain and checks that policy_decide, on the same inputs and with
 * the same pin proof, takes the same decision. */
static json_t *explain(const struct policy *p, struct req r)
{
    struct policy_explain_input in = {
        .cert_der = r.no_cert ? NULL : der,
        .cert_der_len = r.no_cert ? 0 : der_len,
        .chain = r.chain,
        .chain_error = r.chain == POLICY_CHAIN_INVALID ? "certificate revoked" : NULL,
        .ip = r.ip ? r.ip : "10.0.0.1",
        .now = NOW,
        .method = r.method ? r.method : "GET",
        .host = r.host,
        .sni = r.sni,
        .host_checked = r.host_checked,
        .misdirected = r.misdirected,
        .target = r.target,
        .grpc = r.grpc,
    };
    json_t *x = NULL;
    struct cg_errbuf err = {{0}};
    ck_assert_msg(policy_explain(p, &in, &x, &err) == CG_OK, "%s", err.msg);

    struct policy_cert_facts f = {0};
    ck_assert_int_eq(policy_cert_facts_from_der(der, der_len, &f, NULL), CG_OK);
    policy_pin_verify(p, der, der_len, &f);
    struct sockaddr_in sin = {.sin_family = AF_INET};
    ck_assert_int_eq(inet_pton(AF_INET, in.ip, &sin.sin_addr), 1);
    struct policy_identity id = {
        .peer = (const struct sockaddr *)&sin,
        .cert = r.no_cert ? NULL : &f,
        .chain_validated = r.chain == POLICY_CHAIN_VALID,
        .chain_required = r.chain != POLICY_CHAIN_NOT_CHECKED,
    };
    char buf[1024];
    struct policy_request req = {
        .now = NOW,
        .method = cg_str_from_cstr(in.method),
        .authority = cg_str_from_cstr(r.host ? r.host : ""),
        .sni = cg_str_from_cstr(r.sni && !r.host_checked ? r.sni : ""),
        .misdirected = r.host_checked && r.misdirected,
        .target = cg_str_from_cstr(r.target),
        .buf = buf,
        .buf_cap = sizeof(buf),
    };
    struct policy_decision d;
    policy_decide(p, &id, &req, &d);
    const char *want = !d.allow ? "deny" : d.audit ? "audit" : "allow";
    ck_assert_str_eq(json_string_value(json_object_get(x, "decision")), want);
    ck_assert_str_eq(json_string_value(json_object_get(x, "reason")), policy_reason_str(d.reason));
    policy_cert_facts_cleanup(&f);
    return x;
}

static const char *s(const json_t *x, const char *path)
{
    /* "a.b.c": nested members. */
    char key[64];
    const json_t *v = x;
    while (*path != '\0') {
        size_t n = strcspn(path, ".");
        snprintf(key, sizeof(key), "%.*s", (int)n, path);
        v = json_object_get(v, key);
        path += n + (path[n] == '.');
    }
    ck_assert_msg(json_is_string(v), "not a string");
    return json_string_value(v);
}

static json_int_t i(const json_t *x, const char *a, const char *b)
{
    const json_t *v = json_object_get(x, a);
    if (b != NULL) {
        v = json_object_get(v, b);
    }
    ck_assert(json_is_integer(v));
    return json_integer_value(v);
}

/* header returns the value of identity header |name| (or of forwarded one), NULL if
 * absent. */
static const char *header(const json_t *x, const char *list, const char *name)
{
    size_t k;
    json_t *h;
    json_array_foreach(json_object_get(x, list), k, h)
    {
        if (strcmp(s(h, "name"), name) == 0) {
            return s(h, "value");
        }
    }
    return NULL;
}

static bool has_note(const json_t *x, const char *part)
{
    size_t k;
    json_t *n;
    json_array_foreach(json_object_get(x, "notes"), k, n)
    {
        if (strstr(json_string_value(n), part) != NULL) {
            return true;
        }
    }
    return false;
}

static struct policy *pol;

static void setup(void)
{
    read_der();
    pol = load(by_thumbprint);
}

static void teardown(void)
{
    policy_free(pol);
}

START_TEST(allow_by_thumbprint_with_headers)
{
    json_t *x = explain(
        pol, (struct req){.target = "/databases/HR/docs?x=1&y=%41", .host = "db.example:8443"});
    ck_assert_str_eq(s(x, "decision"), "allow");
    ck_assert(json_is_null(json_object_get(x, "status")));
    ck_assert_int_eq(i(x, "route", "index"), 1);
    ck_assert_str_eq(s(x, "route.path"), "/databases/{db}/*");
    ck_assert_str_eq(s(x, "route.require"), "ReadOnly");
    ck_assert_str_eq(s(x, "route.mode"), "enforce");
    ck_assert_str_eq(s(x, "database.name"), "HR");
    ck_assert_str_eq(s(x, "database.source"), "path");
    ck_assert_str_eq(s(x, "database.level"), "ReadOnly");
    ck_assert_int_eq(i(x, "entry", "index"), 0);
    ck_assert_str_eq(s(x, "entry.name"), "app");
    ck_assert_str_eq(s(x, "entry.matched_by"), "thumbprint");
    ck_assert_str_eq(s(x, "entry.thumbprint.algorithm"), "SHA-1");
    ck_assert_str_eq(s(x, "entry.thumbprint.value"), CLIENT_SHA1);
    ck_assert_str_eq(s(x, "entry.expires"), "2030-01-01T00:00:00Z");
    ck_assert_str_eq(s(x, "certificate.sha1"), CLIENT_SHA1);
    ck_assert_str_eq(s(x, "certificate.sha256"), CLIENT_SHA256);
    ck_assert_str_eq(s(x, "certificate.spki_sha256"), CLIENT_SPKI);
    ck_assert_str_eq(s(x, "certificate.chain"), "not checked");
    ck_assert_str_eq(s(x, "request.path"), "/databases/HR/docs");
    ck_assert_str_eq(s(x, "request.query"), "x=1&y=%41");
    ck_assert_str_eq(s(x, "request.time"), "2027-01-15T08:00:00Z");
    /* The identity headers as policy_headers_build makes them, in its order. */
    json_t *hs = json_object_get(x, "headers");
    ck_assert_uint_eq(json_array_size(hs), 5);
    ck_assert_str_eq(s(json_array_get(hs, 0), "name"), "X-Client-Cert-Thumbprint");
    ck_assert_str_eq(header(x, "headers", "X-Client-Cert-Thumbprint"), CLIENT_SHA1);
    ck_assert_str_eq(header(x, "headers", "X-Client-Name"), "app");
    ck_assert_str_eq(header(x, "headers", "X-Client-Clearance"), "ValidUser");
    ck_assert_str_eq(header(x, "headers", "X-Client-Database-Access"), "ReadOnly");
    char cc[2048];
    size_t cc_len = policy_client_cert_value(der, der_len, cc, sizeof(cc));
    ck_assert_uint_gt(cc_len, 0);
    ck_assert_str_eq(header(x, "headers", "Client-Cert"), cc);
    ck_assert_str_eq(header(x, "forwarded", "X-Forwarded-For"), "10.0.0.1");
    ck_assert_str_eq(header(x, "forwarded", "X-Forwarded-Proto"), "https");
    ck_assert_str_eq(header(x, "forwarded", "X-Forwarded-Host"), "db.example:8443");
    ck_assert_str_eq(s(x, "forward_target"), "/databases/HR/docs?x=1&y=%41");
    ck_assert(has_note(x, "chain was not checked"));
    json_decref(x);
}
END_TEST

START_TEST(deny_level_and_database)
{
    json_t *x = explain(pol, (struct req){.method = "PUT", .target = "/databases/hr/docs"});
    ck_assert_str_eq(s(x, "decision"), "deny");
    ck_assert_str_eq(s(x, "reason"), "insufficient_clearance");
    ck_assert_int_eq(i(x, "status", NULL), 403);
    ck_assert(json_is_null(json_object_get(x, "grpc_status")));
    ck_assert_int_eq(i(x, "route", "index"), 2);
    ck_assert_str_eq(s(x, "database.level"), "ReadOnly");
    ck_assert_uint_eq(json_array_size(json_object_get(x, "headers")), 0);
    ck_assert_uint_eq(json_array_size(json_object_get(x, "forwarded")), 0);
    ck_assert(json_is_null(json_object_get(x, "forward_target")));
    json_decref(x);

    x = explain(pol, (struct req){.target = "/databases/payroll/docs"});
    ck_assert_str_eq(s(x, "reason"), "database_not_allowed");
    ck_assert_str_eq(s(x, "database.name"), "payroll");
    ck_assert_str_eq(s(x, "database.level"), "None");
    json_decref(x);
}
END_TEST

START_TEST(database_from_query)
{
    json_t *x = explain(pol, (struct req){.target = "/query?q=select&db=hr"});
    ck_assert_str_eq(s(x, "decision"), "allow");
    ck_assert_str_eq(s(x, "database.name"), "hr");
    ck_assert_str_eq(s(x, "database.source"), "query");
    ck_assert_str_eq(header(x, "headers", "X-Client-Database-Access"), "ReadOnly");
    json_decref(x);
    /* Two keys naming the parameter: refused whatever the certificate. */
    x = explain(pol, (struct req){.target = "/query?db=hr&DB=payroll"});
    ck_assert_str_eq(s(x, "reason"), "bad_path");
    ck_assert_int_eq(i(x, "status", NULL), 400);
    json_decref(x);
}
END_TEST

START_TEST(unknown_certificate)
{
    struct policy *p = load("[{\"name\": \"x\", \"clearance\": \"ClusterAdmin\", "
                            "\"thumbprints\": [\"0000000000000000000000000000000000000000\"]}]");
    json_t *x = explain(p, (struct req){.target = "/anything"});
    ck_assert_str_eq(s(x, "reason"), "unknown_certificate");
    ck_assert(json_is_true(json_object_get(x, "certificate_checked")));
    ck_assert(json_is_null(json_object_get(x, "entry")));
    ck_assert_int_eq(i(x, "route", "index"), 6);
    json_decref(x);
    /* No certificate: gRPC answers UNAUTHENTICATED. */
    x = explain(
        p, (struct req){.no_cert = true, .method = "POST", .target = "/pkg.Svc/Get", .grpc = true});
    ck_assert_str_eq(s(x, "reason"), "no_certificate");
    ck_assert_int_eq(i(x, "grpc_status", NULL), 16);
    ck_assert(json_is_null(json_object_get(x, "certificate")));
    ck_assert(json_is_true(json_object_get(json_object_get(x, "request"), "grpc")));
    json_decref(x);
    /* A Public route lets it pass, anonymous: no identity headers. */
    x = explain(p, (struct req){.target = "/healthz"});
    ck_assert_str_eq(s(x, "decision"), "allow");
    ck_assert_uint_eq(json_array_size(json_object_get(x, "headers")), 0);
    ck_assert_ptr_nonnull(header(x, "forwarded", "X-Forwarded-For"));
    ck_assert(has_note(x, "anonymous"));
    json_decref(x);
    policy_free(p);
}
END_TEST

START_TEST(pin_and_forged_pin)
{
    static const char pinned[] =
        "[{\"name\": \"renewed\", \"clearance\": \"Operator\", \"pins\": [{\"spki_sha256\": "
        "\"" CLIENT_SPKI "\", \"issuer\": \"" CLIENT_ISSUER "\", \"issuer_key_id\": "
        "\"" CLIENT_AKI "\", \"issuer_spki\": \"" ISSUER_SPKI "\"}]}]";
    struct policy *p = load(pinned);
    json_t *x = explain(p, (struct req){.method = "DELETE", .target = "/databases/hr/x"});
    ck_assert_str_eq(s(x, "decision"), "allow");
    ck_assert_str_eq(s(x, "entry.matched_by"), "pin");
    ck_assert_str_eq(s(x, "entry.pin.spki_sha256"), CLIENT_SPKI);
    ck_assert_str_eq(s(x, "entry.pin.issuer"), CLIENT_ISSUER);
    ck_assert_str_eq(s(x, "entry.pin.issuer_key_id"), CLIENT_AKI);
    ck_assert(json_is_true(json_object_get(json_object_get(json_object_get(x, "entry"), "pin"),
                                           "signed_by_issuer_key")));
    /* Operator: Admin on every database. */
    ck_assert_str_eq(s(x, "database.level"), "Admin");
    ck_assert_str_eq(header(x, "headers", "X-Client-Database-Access"), "Admin");
    json_decref(x);
    policy_free(p);

    /* The same names and key ids with another issuer key: not signed by it, unknown. */
    char forged[sizeof(pinned) + 64];
    snprintf(forged, sizeof(forged),
             "[{\"name\": \"renewed\", \"clearance\": \"Operator\", \"pins\": [{\"spki_sha256\": "
             "\"%s\", \"issuer\": \"%s\", \"issuer_key_id\": \"%s\", \"issuer_spki\": "
             "\"%s\"}]}]",
             CLIENT_SPKI, CLIENT_ISSUER, CLIENT_AKI, OTHER_SPKI);
    p = load(forged);
    x = explain(p, (struct req){.target = "/anything"});
    ck_assert_str_eq(s(x, "reason"), "unknown_certificate");
    ck_assert(has_note(x, "not signed by that pin's issuer key"));
    json_decref(x);
    policy_free(p);
}
END_TEST

START_TEST(identity_matcher_needs_validated_chain)
{
    struct policy *p = load("[{\"name\": \"svc\", \"clearance\": \"ValidUser\", \"databases\": "
                            "{\"hr\": \"ReadWrite\"}, \"match\": {\"subject_cn\": "
                            "\"vector client\"}}]");
    json_t *x = explain(p, (struct req){.target = "/databases/hr/a", .chain = POLICY_CHAIN_VALID});
    ck_assert_str_eq(s(x, "decision"), "allow");
    ck_assert_str_eq(s(x, "entry.matched_by"), "identity");
    ck_assert_str_eq(s(x, "entry.match.subject_cn"), "vector client");
    ck_assert_str_eq(s(x, "certificate.chain"), "validated");
    ck_assert(!has_note(x, "chain was not checked"));
    json_decref(x);
    x = explain(p, (struct req){.target = "/databases/hr/a"});
    ck_assert_str_eq(s(x, "reason"), "unknown_certificate");
    ck_assert(has_note(x, "identity matchers"));
    json_decref(x);
    /* With a client CA the chain is required: one that did not validate is refused. */
    x = explain(p, (struct req){.target = "/databases/hr/a", .chain = POLICY_CHAIN_INVALID});
    ck_assert_str_eq(s(x, "reason"), "untrusted_chain");
    ck_assert_str_eq(s(x, "certificate.chain"), "not validated");
    ck_assert_str_eq(s(x, "certificate.chain_error"), "certificate revoked");
    json_decref(x);
    policy_free(p);
}
END_TEST

START_TEST(ip_rules)
{
    /* The policy's allow_ips: refused before the certificate is looked at. */
    json_t *x = explain(pol, (struct req){.ip = "192.0.2.1", .target = "/databases/hr/a"});
    ck_assert_str_eq(s(x, "reason"), "ip_not_allowed");
    ck_assert(json_is_false(json_object_get(x, "certificate_checked")));
    ck_assert(json_is_null(json_object_get(x, "entry")));
    ck_assert(has_note(x, "before the TLS handshake"));
    json_decref(x);
    /* The entry's own allow_ips: the entry is named, and refused. */
    struct policy *p = load("[{\"name\": \"app\", \"clearance\": \"ValidUser\", \"thumbprints\": "
                            "[\"" CLIENT_SHA256 "\"], \"allow_ips\": [\"10.9.0.0/16\"]}]");
    x = explain(p, (struct req){.ip = "10.0.0.1", .target = "/x"});
    ck_assert_str_eq(s(x, "reason"), "ip_not_allowed");
    ck_assert_str_eq(s(x, "entry.name"), "app");
    ck_assert_str_eq(s(x, "entry.thumbprint.algorithm"), "SHA-256");
    ck_assert(!has_note(x, "before the TLS handshake"));
    json_decref(x);
    x = explain(p, (struct req){.ip = "10.9.1.1", .target = "/x"});
    ck_assert_str_eq(s(x, "decision"), "allow");
    json_decref(x);
    policy_free(p);
}
END_TEST

START_TEST(host_and_sni)
{
    /* Without host_checked, Host must equal the SNI, as policy_decide compares them. */
    json_t *x = explain(pol, (struct req){.target = "/databases/hr/a", .sni = "db.example",
                                          .host = "other.example"});
    ck_assert_str_eq(s(x, "reason"), "misdirected");
    ck_assert_int_eq(i(x, "status", NULL), 421);
    json_decref(x);
    /* With host_checked (a listener's host entries), the caller's verdict counts and the
     * SNI is shown, not compared: another name of the same entry is served... */
    x = explain(pol, (struct req){.target = "/databases/hr/a", .sni = "a.db.example",
                                  .host = "b.db.example", .host_checked = true});
    ck_assert_str_eq(s(x, "decision"), "allow");
    ck_assert_str_eq(s(x, "request.sni"), "a.db.example");
    json_decref(x);
    /* ...and a Host the caller found names another entry is not. */
    x = explain(pol, (struct req){.target = "/databases/hr/a", .sni = "a.db.example",
                                  .host = "a.db.example", .host_checked = true,
                                  .misdirected = true});
    ck_assert_str_eq(s(x, "reason"), "misdirected");
    json_decref(x);
}
END_TEST

START_TEST(audit_and_deny_routes)
{
    json_t *x = explain(pol, (struct req){.target = "/cluster/nodes"});
    ck_assert_str_eq(s(x, "decision"), "audit");
    ck_assert_str_eq(s(x, "reason"), "insufficient_clearance");
    ck_assert_str_eq(s(x, "route.mode"), "audit");
    ck_assert(has_note(x, "audit mode"));
    /* It passes: the database gets the request with the identity headers. */
    ck_assert_str_eq(header(x, "headers", "X-Client-Name"), "app");
    json_decref(x);
    x = explain(pol, (struct req){.target = "/deny/x"});
    ck_assert_str_eq(s(x, "reason"), "route_denied");
    ck_assert_str_eq(s(x, "route.require"), "Deny");
    json_decref(x);
    x = explain(pol, (struct req){.target = "/a/../../etc"});
    ck_assert_str_eq(s(x, "reason"), "bad_path");
    ck_assert(json_is_null(json_object_get(json_object_get(x, "request"), "path")));
    json_decref(x);
    x = explain(pol, (struct req){.target = "/a;b"});
    ck_assert_str_eq(s(x, "reason"), "bad_path");
    ck_assert(has_note(x, "path_semicolons"));
    json_decref(x);
}
END_TEST

START_TEST(bad_input)
{
    struct policy_explain_input in = {.ip = "10.0.0.300", .method = "GET", .target = "/"};
    json_t *x = NULL;
    struct cg_errbuf err = {{0}};
    ck_assert_int_eq(policy_explain(pol, &in, &x, &err), CG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "10.0.0.300"));
    ck_assert_ptr_null(x);
    in.ip = "::1";
    in.target = "";
    ck_assert_int_eq(policy_explain(pol, &in, &x, &err), CG_ERR_INVALID);
    in.target = "/";
    static const uint8_t junk[] = {0x30, 0x03, 0x02, 0x01, 0x01};
    in.cert_der = junk;
    in.cert_der_len = sizeof(junk);
    ck_assert_int_eq(policy_explain(pol, &in, &x, &err), CG_ERR_INVALID);
    ck_assert_ptr_null(x);
    in.cert_der = NULL;
    ck_assert_int_eq(policy_explain(pol, &in, &x, &err), CG_OK);
    ck_assert_str_eq(s(x, "request.ip"), "::1");
    json_decref(x);
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("policy_explain");
    TCase *tc = tcase_create("explain");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, allow_by_thumbprint_with_headers);
    tcase_add_test(tc, deny_level_and_database);
    tcase_add_test(tc, database_from_query);
    tcase_add_test(tc, unknown_certificate);
    tcase_add_test(tc, pin_and_forged_pin);
    tcase_add_test(tc, identity_matcher_needs_validated_chain);
    tcase_add_test(tc, ip_rules);
    tcase_add_test(tc, host_and_sni);
    tcase_add_test(tc, audit_and_deny_routes);
    tcase_add_test(tc, bad_input);
    suite_add_tcase(s, tc);
    return s;
}
