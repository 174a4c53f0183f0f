/* Tests for policy/policy_load.c: every validation error with the exact JSON path in
 * its message, what loads, and the presets in conf/policies/. */
#include "check_main.h"
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "policy/policy_internal.h"

#define TP_A "A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1"
#define TP_B "B2B2B2B2B2B2B2B2B2B2B2B2B2B2B2B2B2B2B2B2"
#define PIN "1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NQ="
/* An issuer's SubjectPublicKeyInfo (EC P-256; tests/data/pki/ca.pem's), base64 DER. */
#define ISPKI                                                                                      \
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEDj1j9BgsVAF7lQ0TFf3yH41XZsKcMKNa39mKnyT18++DcK5xCH1J"     \
    "IjpTflmLUF3jNYV/icDjmY749BvnHybBmg=="

struct err_case {
    const char *json;
    bool client_ca;
    const char *want; /* expected substring of the message */
};

/* Entry wrappers to keep the cases short. */
#define CERT(body) "{\"certificates\": [" body "]}"
#define ROUTE(body) "{\"routes\": [" body "]}"

static const struct err_case err_cases[] = {
    /* syntax and top level */
    {"{\"routes\": [}", false, "test.json:1:"},
    {"{\"mode\": \"audit\", \"mode\": \"enforce\"}", false, "test.json:1:"},
    {"[]", false, "test.json: $: expected an object"},
    {"{\"alow_ips\": []}", false, "test.json: $.alow_ips: unknown key \"alow_ips\""},
    {"{\"mode\": \"dry\"}", false, "test.json: $.mode: unknown mode \"dry\""},
    {"{\"case_sensitive_paths\": \"yes\"}", false,
     "$.case_sensitive_paths: expected true or false"},
    {"{\"allow_ips\": \"10.0.0.0/8\"}", false, "$.allow_ips: expected an array"},
    {"{\"allow_ips\": [\"10.0.0.0/8\", \"10.0.0.1/8\"]}", false,
     "$.allow_ips[1]: \"10.0.0.1/8\" has bits set past the /8 prefix"},
    {"{\"allow_ips\": [\"10.0.0.0/33\"]}", false, "$.allow_ips[0]: \"10.0.0.0/33\""},
    {"{\"allow_ips\": [\"localhost\"]}", false, "$.allow_ips[0]: \"localhost\" is not an IP"},
    {"{\"allow_ips\": [7]}", false, "$.allow_ips[0]: expected a string"},
    /* routes */
    {"{\"routes\": {}}", false, "$.routes: expected an array"},
    {ROUTE("{\"path\": \"/x\", \"requires\": \"Public\"}"), false,
     "$.routes[0].requires: unknown key \"requires\""},
    {ROUTE("{\"require\": \"Public\"}"), false, "$.routes[0].path: a non-empty string is required"},
    {ROUTE("{\"path\": \"/x\"}"), false, "$.routes[0].require: a non-empty string is required"},
    {ROUTE(
         "{\"path\": \"/x\", \"require\": \"Public\"}, {\"path\": \"/y\", \"require\": \"Root\"}"),
     false, "$.routes[1].require: unknown requirement \"Root\""},
    {ROUTE("{\"path\": \"x\", \"require\": \"Public\"}"), false,
     "$.routes[0].path: a route path must start with '/'"},
    {ROUTE("{\"path\": \"/a/*/b\", \"require\": \"Public\"}"), false,
     "$.routes[0].path: '*' is only allowed"},
    {ROUTE("{\"path\": \"/a*\", \"require\": \"Public\"}"), false,
     "$.routes[0].path: '*' must be a whole"},
    {ROUTE("{\"path\": \"/a//b\", \"require\": \"Public\"}"), false,
     "$.routes[0].path: empty segment"},
    {ROUTE("{\"path\": \"/{db}/{db}\", \"require\": \"Public\"}"), false,
     "$.routes[0].path: only one {db}"},
    {ROUTE("{\"path\": \"/x{db}\", \"require\": \"Public\"}"), false,
     "$.routes[0].path: '*' must be a whole"},
    {ROUTE("{\"path\": \"/a/../b\", \"require\": \"Public\"}"), false,
     "$.routes[0].path: segment \"..\" is not in normalized form"},
    {ROUTE("{\"path\": \"/a/%7e\", \"require\": \"Public\"}"), false,
     "$.routes[0].path: segment \"%7e\""},
    {ROUTE("{\"path\": \"/a%2Fb\", \"require\": \"Public\"}"), false, "$.routes[0].path: segment"},
    {ROUTE("{\"path\": \"/a?b=1\", \"require\": \"Public\"}"), false,
     "$.routes[0].path: a route path cannot contain a query"},
    {ROUTE("{\"path\": \"/x\", \"require\": \"ReadOnly\"}"), false,
     "$.routes[0].require: \"ReadOnly\" is a database level"},
    {ROUTE("{\"path\": \"/d/{db}\", \"database\": \"hr\", \"require\": \"ReadOnly\"}"), false,
     "$.routes[0].database: the path already captures"},
    {ROUTE("{\"path\": \"/d\", \"database\": \"hr\", \"database_from_query\": \"db\", \"require\": "
           "\"ReadOnly\"}"),
     false, "$.routes[0].database_from_query: only one of"},
    {ROUTE("{\"path\": \"/d\", \"database\": \"\", \"require\": \"ReadOnly\"}"), false,
     "$.routes[0].database: expected a database name"},
    {ROUTE("{\"path\": \"/x\", \"methods\": [\"GET\", \"post\"], \"require\": \"Public\"}"), false,
     "$.routes[0].methods[1]: methods are case-sensitive and upper case"},
    {ROUTE("{\"path\": \"/x\", \"methods\": [], \"require\": \"Public\"}"), false,
     "$.routes[0].methods: expected a non-empty array"},
    {ROUTE("{\"path\": \"/x\", \"methods\": [\"G T\"], \"require\": \"Public\"}"), false,
     "$.routes[0].methods[0]: expected a method name"},
    {ROUTE("{\"path\": \"/x\", \"require\": \"Public\", \"mode\": \"Audit\"}"), false,
     "$.routes[0].mode: unknown mode \"Audit\""},
    /* certificates */
    {"{\"certificates\": {}}", false, "$.certificates: expected an array"},
    {CERT("{\"name\": \"a\", \"clearance\": \"ValidUser\", \"thumbprint\": [\"" TP_A "\"]}"), false,
     "$.certificates[0].thumbprint: unknown key \"thumbprint\""},
    {CERT("{\"clearance\": \"ValidUser\", \"thumbprints\": [\"" TP_A "\"]}"), false,
     "$.certificates[0].name: a non-empty string is required"},
    {CERT("{\"name\": \"a\\u0007\", \"clearance\": \"ValidUser\", \"thumbprints\": [\"" TP_A
          "\"]}"),
     false, "$.certificates[0].name: control characters"},
    {CERT("{\"name\": \"a\", \"clearance\": \"Admin\", \"thumbprints\": [\"" TP_A "\"]}"), false,
     "$.certificates[0].clearance: unknown clearance \"Admin\" (expected one of ValidUser, "
     "Operator, ClusterAdmin)"},
    {CERT("{\"name\": \"a\", \"clearance\": 3, \"thumbprints\": [\"" TP_A "\"]}"), false,
     "$.certificates[0].clearance: expected a string"},
    {CERT("{\"name\": \"a\", \"thumbprints\": [\"" TP_A "\"]}"), false,
     "$.certificates[0].clearance: a non-empty string is required"},
    {CERT("{\"name\": \"a\", \"clearance\": \"ValidUser\", \"thumbprints\": [\"" TP_A
          "\", \"XYZ\"]}"),
     false, "$.certificates[0].thumbprints[1]: expected a SHA-1"},
    {CERT("{\"name\": \"a\", \"clearance\": \"ValidUser\", \"thumbprints\": [\"" TP_A "00\"]}"),
     false, "$.certificates[0].thumbprints[0]: expected a SHA-1"},
    {CERT("{\"name\": \"a\", \"clearance\": \"ValidUser\", \"thumbprints\": \"" TP_A "\"}"), false,
     "$.certificates[0].thumbprints: expected an array"},
    {CERT("{\"name\": \"a\", \"clearance\": \"ValidUser\", \"thumbprints\": [\"" TP_A "\"]},"
          "{\"name\": \"b\", \"clearance\": \"ValidUser\", \"thumbprints\": [\"" TP_B
          "\", \"a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1\"]}"),
     false,
     "$.certificates[1].thumbprints[1]: thumbprint already registered by $.certificates[0] "
     "(\"a\")"},
    {CERT("{\"name\": \"a\", \"clearance\": \"ValidUser\", \"thumbprints\": [\"" TP_A "\", "
          "\"A1:A1:A1:A1:A1:A1:A1:A1:A1:A1:A1:A1:A1:A1:A1:A1:A1:A1:A1:A1\"]}"),
     false, "$.certificates[0].thumbprints[1]: duplicate thumbprint in this entry"},
    {CERT("{\"name\": \"a\", \"clearance\": \"ValidUser\", \"thumbprints\": [\"" TP_A
          "\"], \"databases\": {\"hr\": \"Write\"}}"),
     false, "$.certificates[0].databases.hr: unknown database level \"Write\""},
    {CERT("{\"name\": \"a\", \"clearance\": \"ValidUser\", \"thumbprints\": [\"" TP_A
          "\"], \"databases\": {\"hr\": \"\"}}"),
     false, "$.certificates[0].databases.hr: expected \"ReadOnly\""},
    {CERT("{\"name\": \"a\", \"clearance\": \"ValidUser\", \"thumbprints\": [\"" TP_A
          "\"], \"databases\": {\"hr\": \"ReadOnly\", \"HR\": \"Admin\"}}"),
     false, "$.certificates[0].databases.HR: database listed twice"},
    {CERT("{\"name\": \"a\", \"clearance\": \"ValidUser\", \"thumbprints\": [\"" TP_A
          "\"], \"databases\": [\"hr\"]}"),
     false, "$.certificates[0].databases: expected an object"},
    {CERT("{\"name\": \"a\", \"clearance\": \"ValidUser\", \"thumbprints\": [\"" TP_A
          "\"], \"allow_ips\": [\"10.0.0.0/8\", \"::1/200\"]}"),
     false, "$.certificates[0].allow_ips[1]: \"::1/200\""},
    {CERT("{\"name\": \"a\", \"clearance\": \"ValidUser\", \"thumbprints\": [\"" TP_A
          "\"], \"expires\": \"2031-02-30T00:00:00Z\"}"),
     false, "$.certificates[0].expires: expected an RFC 3339 time"},
    {CERT("{\"name\": \"a\", \"clearance\": \"ValidUser\", \"thumbprints\": [\"" TP_A
          "\"], \"expires\": \"2031-11-24\"}"),
     false, "$.certificates[0].expires: expected an RFC 3339 time"},
    {CERT("{\"name\": \"a\", \"clearance\": \"ValidUser\"}"), false,
     "$.certificates[0]: an entry needs at least one of thumbprints, pins or match"},
    {CERT("{\"name\": \"a\", \"clearance\": \"ValidUser\", \"thumbprints\": []}"), false,
     "$.certificates[0]: an entry needs at least one of thumbprints, pins or match"},
    {CERT("{\"name\": \"a\", \"clearance\": \"ValidUser\", \"match\": {\"uri_san\": "
          "\"spiffe://x/y\"}}"),
     false, "$.certificates[0].match: identity matchers need a listener with tls.client_ca"},
    {CERT("{\"name\": \"a\", \"clearance\": \"ValidUser\", \"match\": {\"cn\": \"x\"}}"), true,
     "$.certificates[0].match.cn: unknown key \"cn\""},
    {CERT("{\"name\": \"a\", \"clearance\": \"ValidUser\", \"match\": [{\"subject_cn\": \"x\"}, "
          "{}]}"),
     true, "$.certificates[0].match[1]: a matcher needs subject_cn, dns_san or uri_san"},
    {CERT("{\"name\": \"a\", \"clearance\": \"ValidUser\", \"match\": []}"), true,
     "$.certificates[0].match: expected a matcher object or a non-empty array"},
    {CERT("{\"name\": \"a\", \"clearance\": \"ValidUser\", \"pins\": [{\"spki_sha256\": \"abc\", "
          "\"issuer\": \"CN=x\"}]}"),
     false, "$.certificates[0].pins[0].spki_sha256: expected the base64"},
    {CERT("{\"name\": \"a\", \"clearance\": \"ValidUser\", \"pins\": [{\"spki_sha256\": \"" PIN
          "\"}]}"),
     false, "$.certificates[0].pins[0].issuer: a non-empty string is required"},
    {CERT("{\"name\": \"a\", \"clearance\": \"ValidUser\", \"pins\": [{\"spki_sha256\": \"" PIN
          "\", \"issuer\": \"CN=x\", \"issuer_key_id\": \"0g\"}]}"),
     false, "$.certificates[0].pins[0].issuer_key_id: expected the issuer's key identifier"},
    /* ':' between some bytes only: as for thumbprints, a dropped digit must not shift the
     * pairs (a mix was accepted before the hex codec was shared). */
    {CERT("{\"name\": \"a\", \"clearance\": \"ValidUser\", \"pins\": [{\"spki_sha256\": \"" PIN
          "\", \"issuer\": \"CN=x\", \"issuer_key_id\": \"01:0203\"}]}"),
     false, "$.certificates[0].pins[0].issuer_key_id: expected the issuer's key identifier"},
    {CERT("{\"name\": \"a\", \"clearance\": \"ValidUser\", \"pins\": [{\"spki_sha256\": \"" PIN
          "\", \"issuer\": \"CN=x\", \"aki\": \"01\"}]}"),
     false, "$.certificates[0].pins[0].aki: unknown key \"aki\""},
    {CERT("{\"name\": \"a\", \"clearance\": \"ValidUser\", \"pins\": [{\"spki_sha256\": \"" PIN
          "\", \"issuer\": \"CN=x\", \"issuer_key_id\": \"01\", \"issuer_spki\": \"" ISPKI "\"}]},"
          "{\"name\": \"b\", \"clearance\": \"ValidUser\", \"pins\": [{\"spki_sha256\": \"" PIN
          "\", \"issuer\": \"CN=x\", \"issuer_key_id\": \"01\", \"issuer_spki\": \"" ISPKI "\"}]}"),
     false, "$.certificates[1].pins[0]: pin already registered by $.certificates[0] (\"a\")"},
    /* A pin without the issuer's key could be satisfied by a self-made CA: refused at
     * load, never silently ignored. */
    {CERT("{\"name\": \"a\", \"clearance\": \"ValidUser\", \"thumbprints\": [\"" TP_A "\"]},"
          "{\"name\": \"b\", \"clearance\": \"ValidUser\", \"pins\": [{\"spki_sha256\": \"" PIN
          "\", \"issuer\": \"CN=x\", \"issuer_key_id\": \"01\"}]}"),
     false,
     "test.json: $.certificates[1].pins[0]: missing \"issuer_spki\", the issuer's public key "
     "that must have signed the certificate (add it with 'certgate cert upgrade-pins"},
    {CERT("{\"name\": \"a\", \"clearance\": \"ValidUser\", \"pins\": [{\"spki_sha256\": \"" PIN
          "\", \"issuer\": \"CN=x\", \"issuer_spki\": \"not base64!\"}]}"),
     false, "$.certificates[0].pins[0].issuer_spki: expected the issuer's SubjectPublicKeyInfo"},
    {CERT("{\"name\": \"a\", \"clearance\": \"ValidUser\", \"pins\": [{\"spki_sha256\": \"" PIN
          "\", \"issuer\": \"CN=x\", \"issuer_spki\": \"" PIN "\"}]}"),
     false, "$.certificates[0].pins[0].issuer_spki: expected the issuer's SubjectPublicKeyInfo"},
    {CERT("{\"name\": \"a\", \"clearance\": \"ValidUser\", \"pins\": [{\"spki_sha256\": \"" PIN
          "\", \"issuer\": \"CN=x\", \"issuer_spki\": \"\"}]}"),
     false, "$.certificates[0].pins[0].issuer_spki: expected the issuer's SubjectPublicKeyInfo"},
    /* the SPKI followed by stray bytes ("AAAA" = three zero bytes) */
    {CERT("{\"name\": \"a\", \"clearance\": \"ValidUser\", \"pins\": [{\"spki_sha256\": \"" PIN
          "\", \"issuer\": \"CN=x\", \"issuer_spki\": \""
          "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEDj1j9BgsVAF7lQ0TFf3yH41XZsKcMKNa39mKnyT18++DcK5xCH1J"
          "IjpTflmLUF3jNYV/icDjmY749BvnHybBmgAAAA==\"}]}"),
     false, "$.certificates[0].pins[0].issuer_spki: expected the issuer's SubjectPublicKeyInfo"},
    {CERT("{\"name\": \"a\", \"clearance\": \"ValidUser\", \"pins\": [{\"spki_sha256\": \"" PIN
          "\", \"issuer\": \"CN=x\", \"issuer_spki\": 7}]}"),
     false, "$.certificates[0].pins[0].issuer_spki: expected a string"},
    /* headers */
    {"{\"headers\": {\"names\": {}}}", false, "$.headers.names: unknown key \"names\""},
    {"{\"headers\": {\"name\": \"Host\"}}", false,
     "$.headers.name: \"Host\" cannot be used as an identity header"},
    {"{\"headers\": {\"thumbprint\": \"X Client\"}}", false,
     "$.headers.thumbprint: expected an HTTP header name"},
    {"{\"headers\": {\"thumbprint\": \"\"}}", false,
     "$.headers.thumbprint: expected an HTTP header name"},
    {"{\"headers\": {\"name\": \"x-client-clearance\"}}", false,
     "$.headers: header name \"X-Client-Clearance\" is used twice"},
    {"{\"headers\": {\"xfcc\": \"yes\"}}", false, "$.headers.xfcc: expected true or false"},
};

START_TEST(test_errors)
{
    const struct err_case *c = &err_cases[_i];
    struct policy_load_opts opts = {.client_ca = c->client_ca};
    struct policy *p = NULL;
    struct cg_errbuf err = {{0}};
    int rc = policy_load_json("test.json", c->json, strlen(c->json), &opts, &p, &err);
    ck_assert_msg(rc == CG_ERR_INVALID, "case %d loaded: %s", _i, c->json);
    ck_assert_ptr_null(p);
    ck_assert_msg(strstr(err.msg, c->want) != NULL, "case %d:\n  got  %s\n  want %s", _i, err.msg,
                  c->want);
    ck_assert_ptr_null(strchr(err.msg, '\n'));
}
END_TEST

static struct policy *load_ok(const char *json, bool client_ca)
{
    struct policy_load_opts opts = {.client_ca = client_ca};
    struct policy *p = NULL;
    struct cg_errbuf err = {{0}};
    int rc = policy_load_json("test.json", json, strlen(json), &opts, &p, &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
    return p;
}

START_TEST(test_loads_design_example)
{
    static const char json[] =
        "{\n"
        "  \"allow_ips\": [\"10.0.0.0/8\", \"127.0.0.1\", \"::1\"],\n"
        "  \"routes\": [\n"
        "    { \"path\": \"/admin/cluster/*\",           \"require\": \"ClusterAdmin\" },\n"
        "    { \"path\": \"/admin/*\",                   \"require\": \"Operator\" },\n"
        "    { \"path\": \"/databases/{db}/admin/*\",    \"require\": \"Admin\" },\n"
        "    { \"path\": \"/databases/{db}/*\", \"methods\": [\"GET\", \"HEAD\"], \"require\": "
        "\"ReadOnly\" },\n"
        "    { \"path\": \"/databases/{db}/*\",          \"require\": \"ReadWrite\" },\n"
        "    { \"path\": \"/etcdserverpb.KV/Range\", \"database\": \"etcd\", \"require\": "
        "\"ReadOnly\" },\n"
        "    { \"path\": \"/query\", \"database_from_query\": \"db\", \"require\": \"ReadOnly\" "
        "},\n"
        "    { \"path\": \"/healthz\",                   \"require\": \"Public\" },\n"
        "    { \"path\": \"/*\",                         \"require\": \"Authenticated\" }\n"
        "  ],\n"
        "  \"certificates\": [{\n"
        "    \"name\": \"HR\",\n"
        "    \"thumbprints\": [\"3F2A3F2A3F2A3F2A3F2A3F2A3F2A3F2A3F2A3F2A\"],\n"
        "    \"pins\": [{ \"spki_sha256\": \"" PIN
        "\", \"issuer\": \"CN=certgate CA,O=Acme\", \"issuer_key_id\": \"0A0B\",\n"
        "                \"issuer_spki\": \"" ISPKI "\" }],\n"
        "    \"clearance\": \"ValidUser\",\n"
        "    \"databases\": { \"hr\": \"ReadWrite\", \"catalog\": \"ReadOnly\" },\n"
        "    \"allow_ips\": [\"10.1.0.0/16\"],\n"
        "    \"expires\": \"2031-11-24T00:00:00Z\"\n"
        "  }],\n"
        "  \"headers\": {\"name\": \"X-Db-User\", \"xfcc\": true, \"client_cert\": false}\n"
        "}\n";
    struct policy *p = load_ok(json, false);
    ck_assert_uint_eq(policy_num_routes(p), 9);
    ck_assert_uint_eq(policy_num_certificates(p), 1);
    ck_assert_uint_eq(policy_generation(p), 0);
    const struct policy_entry *e = &p->entries[0];
    ck_assert_str_eq(e->name, "HR");
    ck_assert_int_eq((long long)e->expires, 1953244800LL);
    ck_assert_uint_eq(e->num_dbs, 2);
    ck_assert_uint_eq(p->num_pins, 1);
    ck_assert_uint_eq(p->pins[0].aki_len, 2);
    ck_assert_ptr_nonnull(p->pins[0].issuer_key);
    ck_assert_str_eq(p->headers.name, "X-Db-User");
    ck_assert_str_eq(p->headers.thumbprint, "X-Client-Cert-Thumbprint");
    ck_assert(p->headers.xfcc_on);
    ck_assert(!p->headers.client_cert_on);
    ck_assert(p->routes[8].wildcard);
    ck_assert_uint_eq(p->routes[8].num_segs, 0);
    ck_assert_int_eq(p->routes[2].db_source, POLICY_DB_CAPTURE);
    ck_assert_int_eq(p->routes[5].db_source, POLICY_DB_FIXED);
    ck_assert_int_eq(p->routes[6].db_source, POLICY_DB_QUERY);
    policy_free(p);
}
END_TEST

START_TEST(test_rfc3339_variants)
{
    static const struct {
        const char *text;
        long long want;
    } cases[] = {
        {"2031-11-24T00:00:00Z", 1953244800LL},
        {"2031-11-24t00:00:00z", 1953244800LL},
        {"2031-11-24T02:00:00+02:00", 1953244800LL},
        {"2031-11-23T19:30:00-04:30", 1953244800LL},
        {"2031-11-24T00:00:00.999Z", 1953244800LL},
        {"2028-02-29T12:00:00Z", 1835438400LL},
        {"1970-01-01T00:00:00Z", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char json[512];
        snprintf(json, sizeof(json),
                 CERT("{\"name\": \"a\", \"clearance\": \"ValidUser\", \"thumbprints\": [\"" TP_A
                      "\"], \"expires\": \"%s\"}"),
                 cases[i].text);
        struct policy *p = load_ok(json, false);
        ck_assert_msg((long long)p->entries[0].expires == cases[i].want, "%s -> %lld",
                      cases[i].text, (long long)p->entries[0].expires);
        policy_free(p);
    }
    static const char *const bad[] = {"2031-11-24T00:00:00",      "2031-13-01T00:00:00Z",
                                      "2029-02-29T00:00:00Z",     "2031-11-24T24:00:00Z",
                                      "2031-11-24T00:00:00+0200", "2031-11-24T00:00:00.Z",
                                      "2031-11-24 00:00:00Z",     "2031-11-24T00:00:00Zjunk"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char json[512];
        snprintf(json, sizeof(json),
                 CERT("{\"name\": \"a\", \"clearance\": \"ValidUser\", \"thumbprints\": [\"" TP_A
                      "\"], \"expires\": \"%s\"}"),
                 bad[i]);
        struct policy *p = NULL;
        struct cg_errbuf err = {{0}};
        ck_assert_msg(policy_load_json("t", json, strlen(json), NULL, &p, &err) == CG_ERR_INVALID,
                      "accepted %s", bad[i]);
    }
}
END_TEST

START_TEST(test_pin_formats_and_matchers)
{
    /* Base64 without padding and hex are accepted for pins; matchers as object or array. */
    static const char json[] = CERT(
        "{\"name\": \"a\", \"clearance\": \"ValidUser\", \"pins\": ["
        " {\"spki_sha256\": \"1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NQ\", \"issuer\": \"CN=x\","
        "  \"issuer_spki\": \"" ISPKI "\"},"
        " {\"spki_sha256\": \"d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4\", "
        "\"issuer\": \"CN=y\", \"issuer_spki\": \"" ISPKI "\"}]},"
        "{\"name\": \"b\", \"clearance\": \"Operator\", \"match\": [{\"subject_cn\": \"svc\"}, "
        "{\"dns_san\": \"svc.example\", \"uri_san\": \"spiffe://e/s\"}]}");
    struct policy *p = load_ok(json, true);
    ck_assert_uint_eq(p->num_pins, 2);
    ck_assert_mem_eq(p->pins[0].spki_sha256, p->pins[1].spki_sha256, 32);
    ck_assert_uint_eq(p->num_matcher_entries, 1);
    ck_assert_uint_eq(p->entries[1].num_matchers, 2);
    policy_free(p);
}
END_TEST

START_TEST(test_load_file_errors)
{
    struct policy *p = NULL;
    struct cg_errbuf err = {{0}};
    ck_assert_int_eq(policy_load_file("/nonexistent/policy.json", NULL, &p, &err), CG_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/policy.json"));
    ck_assert_ptr_null(p);
}
END_TEST

/* Every preset in conf/policies/ must load (without a client_ca). */
START_TEST(test_presets_load)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/../../conf/policies", CG_TEST_DATA_DIR);
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot open %s", dir);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0) {
            continue;
        }
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        struct policy *p = NULL;
        struct cg_errbuf err = {{0}};
        int rc = policy_load_file(path, NULL, &p, &err);
        ck_assert_msg(rc == 0, "%s", err.msg);
        ck_assert_uint_gt(policy_num_routes(p), 0);
        policy_unref(p);
        n++;
    }
    closedir(d);
    ck_assert_int_ge(n, 3);
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("policy_load");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, test_errors, 0, sizeof(err_cases) / sizeof(err_cases[0]));
    tcase_add_test(tc, test_loads_design_example);
    tcase_add_test(tc, test_rfc3339_variants);
    tcase_add_test(tc, test_pin_formats_and_matchers);
    tcase_add_test(tc, test_load_file_errors);
    tcase_add_test(tc, test_presets_load);
    suite_add_tcase(s, tc);
    return s;
}
