/* Tests for policy/describe.c: what `certgate policy show` and GET /admin/policy show of
 * a loaded policy. Routes and headers come out with their effective values (a route
 * without "mode" shows the policy's, default header names are filled in); allow_ips,
 * thumbprints and pins as written (compiling merges address blocks and hashes
 * thumbprints); a single "match" object becomes a one-element array. */
#include "check_main.h"

#include <string.h>

#include "policy/describe.h"
#include "policy/policy.h"

static const char doc[] =
    "{\"mode\": \"audit\",\n"
    " \"allow_ips\": [\"10.0.0.0/8\", \"10.0.0.1\", \"::1\"],\n"
    " \"routes\": [\n"
    "   {\"path\": \"/databases/{db}/*\", \"methods\": [\"GET\", \"HEAD\"], \"require\": "
    "\"ReadOnly\", \"mode\": \"enforce\"},\n"
    "   {\"path\": \"/etcdserverpb.KV/Range\", \"database\": \"etcd\", \"require\": "
    "\"ReadOnly\"},\n"
    "   {\"path\": \"/query\", \"database_from_query\": \"db\", \"require\": \"ReadOnly\"},\n"
    "   {\"path\": \"/*\", \"require\": \"Authenticated\"}],\n"
    " \"certificates\": [\n"
    "   {\"name\": \"hr\", \"clearance\": \"ValidUser\", \"thumbprints\": "
    "[\"3f:2a:3f:2a:3f:2a:3f:2a:3f:2a:3f:2a:3f:2a:3f:2a:3f:2a:3f:2a\"],\n"
    "    \"databases\": {\"hr\": \"ReadWrite\", \"catalog\": \"ReadOnly\"}, \"allow_ips\": "
    "[\"10.1.0.0/16\"],\n"
    "    \"expires\": \"2031-11-24T00:00:00Z\",\n"
    "    \"pins\": [{\"spki_sha256\": \"1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NQ=\", "
    "\"issuer\": \"CN=CA\", \"issuer_key_id\": \"01:02\", \"issuer_spki\": \""
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEDj1j9BgsVAF7lQ0TFf3yH41XZsKcMKNa39mKnyT18++DcK5xCH1J"
    "IjpTflmLUF3jNYV/icDjmY749BvnHybBmg==\"}]},\n"
    "   {\"name\": \"svc\", \"clearance\": \"Operator\", \"match\": {\"uri_san\": "
    "\"spiffe://x/y\"}}],\n"
    " \"headers\": {\"name\": \"X-User\", \"xfcc\": true}}\n";

static json_t *member(json_t *v, const char *key)
{
    json_t *m = json_object_get(v, key);
    ck_assert_msg(m != NULL, "no member %s", key);
    return m;
}

static const char *str(json_t *v, const char *key)
{
    ck_assert_msg(json_is_string(member(v, key)), "%s is not a string", key);
    return json_string_value(member(v, key));
}

START_TEST(describe_policy)
{
    struct policy_load_opts opts = {.client_ca = true};
    struct policy *p = NULL;
    struct cg_errbuf err = {{0}};
    ck_assert_msg(policy_load_json("t.json", doc, strlen(doc), &opts, &p, &err) == CG_OK, "%s",
                  err.msg);
    json_t *d = policy_describe(p);
    ck_assert_str_eq(str(d, "mode"), "audit");
    ck_assert(json_is_false(member(d, "case_sensitive_paths")));
    json_t *ips = member(d, "allow_ips");
    ck_assert_uint_eq(json_array_size(ips), 3); /* as written, not merged */
    ck_assert_str_eq(json_string_value(json_array_get(ips, 1)), "10.0.0.1");

    json_t *routes = member(d, "routes");
    ck_assert_uint_eq(json_array_size(routes), 4);
    json_t *r = json_array_get(routes, 0);
    ck_assert_int_eq(json_integer_value(member(r, "index")), 0);
    ck_assert_str_eq(str(r, "path"), "/databases/{db}/*");
    ck_assert_str_eq(json_string_value(json_array_get(member(r, "methods"), 1)), "HEAD");
    ck_assert_str_eq(str(r, "require"), "ReadOnly");
    ck_assert_str_eq(str(member(r, "database"), "source"), "path");
    ck_assert_str_eq(str(r, "mode"), "enforce");
    r = json_array_get(routes, 1);
    ck_assert_str_eq(str(member(r, "database"), "source"), "fixed");
    ck_assert_str_eq(str(member(r, "database"), "name"), "etcd");
    ck_assert_str_eq(str(r, "mode"), "audit"); /* the policy's */
    ck_assert(json_is_null(member(r, "methods")));
    r = json_array_get(routes, 2);
    ck_assert_str_eq(str(member(r, "database"), "param"), "db");
    ck_assert(json_is_null(member(json_array_get(routes, 3), "database")));

    json_t *certs = member(d, "certificates");
    ck_assert_uint_eq(json_array_size(certs), 2);
    json_t *e = json_array_get(certs, 0);
    ck_assert_str_eq(str(e, "name"), "hr");
    ck_assert_str_eq(str(e, "clearance"), "ValidUser");
    ck_assert_str_eq(str(member(e, "databases"), "catalog"), "ReadOnly");
    ck_assert_str_eq(json_string_value(json_array_get(member(e, "thumbprints"), 0)),
                     "3f:2a:3f:2a:3f:2a:3f:2a:3f:2a:3f:2a:3f:2a:3f:2a:3f:2a:3f:2a");
    json_t *pin = json_array_get(member(e, "pins"), 0);
    ck_assert_str_eq(str(pin, "issuer"), "CN=CA");
    ck_assert_str_eq(str(pin, "issuer_key_id"), "01:02");
    ck_assert(json_is_true(member(pin, "issuer_key")));
    ck_assert_ptr_null(json_object_get(pin, "issuer_spki")); /* a long blob, not shown */
    ck_assert_str_eq(json_string_value(json_array_get(member(e, "allow_ips"), 0)), "10.1.0.0/16");
    ck_assert_str_eq(str(e, "expires"), "2031-11-24T00:00:00Z");
    e = json_array_get(certs, 1);
    ck_assert_int_eq(json_integer_value(member(e, "index")), 1);
    ck_assert_uint_eq(json_array_size(member(e, "thumbprints")), 0);
    ck_assert_str_eq(str(json_array_get(member(e, "match"), 0), "uri_san"), "spiffe://x/y");
    ck_assert(json_is_null(member(e, "allow_ips")));
    ck_assert(json_is_null(member(e, "expires")));

    json_t *h = member(d, "headers");
    ck_assert_str_eq(str(h, "name"), "X-User");
    ck_assert_str_eq(str(h, "thumbprint"), "X-Client-Cert-Thumbprint");
    ck_assert_str_eq(str(h, "client_cert_name"), "Client-Cert");
    ck_assert(json_is_true(member(h, "client_cert")));
    ck_assert(json_is_true(member(h, "xfcc")));
    json_decref(d);
    policy_free(p);
}
END_TEST

START_TEST(describe_empty_policy)
{
    struct policy *p = NULL;
    ck_assert_int_eq(policy_load_json("e.json", "{}", 2, NULL, &p, NULL), CG_OK);
    json_t *d = policy_describe(p);
    ck_assert(json_is_null(member(d, "allow_ips"))); /* every address */
    ck_assert_uint_eq(json_array_size(member(d, "routes")), 0);
    ck_assert_uint_eq(json_array_size(member(d, "certificates")), 0);
    ck_assert_str_eq(str(d, "mode"), "enforce");
    json_decref(d);
    policy_free(p);
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("policy_describe");
    TCase *tc = tcase_create("describe");
    tcase_add_test(tc, describe_policy);
    tcase_add_test(tc, describe_empty_policy);
    suite_add_tcase(s, tc);
    return s;
}
