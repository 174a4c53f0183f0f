/* Tests for policy/headers.c: owned header names, injected values, XFCC quoting. */
#include "check_main.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/headers.h"
#include "policy/policy.h"

#define TP "C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3"

static struct policy *load(const char *headers)
{
    char json[1024];
    snprintf(json, sizeof(json),
             "{\"routes\": [{\"path\": \"/db/{db}/*\", \"require\": \"ReadOnly\"},"
             "             {\"path\": \"/*\", \"require\": \"Authenticated\"}],"
             " \"certificates\": [{\"name\": \"app\", \"clearance\": \"ValidUser\","
             "   \"thumbprints\": [\"" TP "\"], \"databases\": {\"hr\": \"ReadWrite\"}}]"
             " %s%s}",
             headers ? ", \"headers\": " : "", headers ? headers : "");
    struct policy *p = NULL;
    struct cg_errbuf err = {{0}};
    ck_assert_msg(policy_load_json("t", json, strlen(json), NULL, &p, &err) == 0, "%s", err.msg);
    return p;
}

static struct policy_cert_facts cert;
static char subject[] = "CN=evil\\\";Hash=00\\,URI=x,O=Acme";
static char uri0[] = "spiffe://example.org/ns/db/sa/app";
static char uri1[] = "urn:a;b=c,d";
static char dns0[] = "app.example.com";

static void make_cert(void)
{
    memset(&cert, 0, sizeof(cert));
    memset(cert.sha1, 0xc3, sizeof(cert.sha1));
    memset(cert.sha256, 0xab, sizeof(cert.sha256));
    cert.not_before = 0;
    cert.not_after = 4000000000;
    cert.subject = subject;
    cert.uri_sans[0] = uri0;
    cert.uri_sans[1] = uri1;
    cert.num_uri_sans = 2;
    cert.dns_sans[0] = dns0;
    cert.num_dns_sans = 1;
}

static struct policy_decision decide(const struct policy *p, const char *target, char *buf,
                                     size_t cap)
{
    static struct sockaddr_storage ss = {.ss_family = AF_INET};
    struct policy_identity id = {.peer = (struct sockaddr *)&ss, .cert = &cert};
    struct policy_request req = {.now = 1800000000,
                                 .method = CG_STR_LIT("GET"),
                                 .target = cg_str_from_cstr(target),
                                 .buf = buf,
                                 .buf_cap = cap};
    struct policy_decision d;
    policy_decide(p, &id, &req, &d);
    return d;
}

static const struct policy_header *find(const struct policy_header *hs, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (cg_str_case_eq_cstr(hs[i].name, name)) {
            return &hs[i];
        }
    }
    return NULL;
}

static void ck_value(const struct policy_header *hs, size_t n, const char *name, const char *want)
{
    const struct policy_header *h = find(hs, n, name);
    ck_assert_msg(h != NULL, "no %s", name);
    ck_assert_msg(cg_str_eq(h->value, cg_str_from_cstr(want)), "%s: got %.*s, want %s", name,
                  (int)h->value.len, h->value.p, want);
}

START_TEST(test_default_headers)
{
    make_cert();
    struct policy *p = load(NULL);
    char buf[256];
    struct policy_decision d = decide(p, "/db/hr/docs", buf, sizeof(buf));
    ck_assert(d.allow);
    static const uint8_t der[] = {0x30, 0x03, 0x02, 0x01, 0x01};
    char ccbuf[POLICY_CLIENT_CERT_VALUE_LEN(sizeof(der))];
    size_t cclen = policy_client_cert_value(der, sizeof(der), ccbuf, sizeof(ccbuf));
    ck_assert_uint_eq(cclen, 10);
    ck_assert_uint_eq(policy_client_cert_value(der, sizeof(der), ccbuf, 5), 0);
    cclen = policy_client_cert_value(der, sizeof(der), ccbuf, sizeof(ccbuf));
    struct cg_str cc = {ccbuf, cclen};
    char vals[512];
    struct policy_header hs[POLICY_MAX_HEADERS];
    size_t n;
    ck_assert_int_eq(
        policy_headers_build(p, &d, &cert, cc, vals, sizeof(vals), hs, &n), 0);
    ck_assert_uint_eq(n, 5);
    ck_value(hs, n, "X-Client-Cert-Thumbprint", TP);
    ck_value(hs, n, "X-Client-Name", "app");
    ck_value(hs, n, "X-Client-Clearance", "ValidUser");
    ck_value(hs, n, "X-Client-Database-Access", "ReadWrite");
    ck_value(hs, n, "Client-Cert", ":MAMCAQE=:");
    ck_assert_ptr_null(find(hs, n, "X-Forwarded-Client-Cert"));

    /* No database on the route: no database access header. */
    d = decide(p, "/other", buf, sizeof(buf));
    ck_assert_int_eq(
        policy_headers_build(p, &d, &cert, cc, vals, sizeof(vals), hs, &n), 0);
    ck_assert_uint_eq(n, 4);
    ck_assert_ptr_null(find(hs, n, "X-Client-Database-Access"));

    /* Too small a buffer fails cleanly. */
    d = decide(p, "/db/hr/docs", buf, sizeof(buf));
    for (size_t cap = 0; cap < 40; cap++) {
        ck_assert_int_eq(policy_headers_build(p, &d, &cert, cc, vals, cap, hs, &n),
                         CG_ERR_LIMIT);
    }

    /* Denied or unidentified: nothing. */
    memset(cert.sha1, 0x11, sizeof(cert.sha1));
    d = decide(p, "/db/hr/docs", buf, sizeof(buf));
    ck_assert(!d.allow);
    ck_assert_int_eq(
        policy_headers_build(p, &d, &cert, cc, vals, sizeof(vals), hs, &n), 0);
    ck_assert_uint_eq(n, 0);
    policy_free(p);
}
END_TEST

START_TEST(test_xfcc_quoting)
{
    make_cert();
    struct policy *p = load("{\"xfcc\": true, \"client_cert\": false, \"name\": \"X-Db-User\","
                            " \"xfcc_name\": \"X-Client-XFCC\"}");
    char buf[256];
    struct policy_decision d = decide(p, "/db/hr/docs", buf, sizeof(buf));
    char vals[1024];
    struct policy_header hs[POLICY_MAX_HEADERS];
    size_t n;
    ck_assert_int_eq(policy_headers_build(p, &d, &cert, (struct cg_str){NULL, 0}, vals, sizeof(vals), hs, &n), 0);
    ck_assert_ptr_null(find(hs, n, "Client-Cert"));
    ck_value(hs, n, "X-Db-User", "app");
    /* '"' and '\' are escaped inside the quoted Subject; ';' ',' '=' in a URI force
     * quoting; a plain URI or DNS name stays bare. */
    ck_value(hs, n, "X-Client-XFCC",
             "Hash=abababababababababababababababababababababababababababababababab"
             ";Subject=\"CN=evil\\\\\\\";Hash=00\\\\,URI=x,O=Acme\""
             ";URI=spiffe://example.org/ns/db/sa/app"
             ";URI=\"urn:a;b=c,d\""
             ";DNS=app.example.com");

    /* A parser that honours the quoting sees exactly these fields. */
    const struct policy_header *h = find(hs, n, "X-Client-XFCC");
    if (h == NULL) {
        ck_abort_msg("no XFCC header");
        return;
    }
    int fields = 1;
    bool in_quotes = false;
    for (size_t i = 0; i < h->value.len; i++) {
        char c = h->value.p[i];
        if (in_quotes && c == '\\') {
            i++;
        } else if (c == '"') {
            in_quotes = !in_quotes;
        } else if (!in_quotes && (c == ';' || c == ',')) {
            fields++;
        }
    }
    ck_assert(!in_quotes);
    ck_assert_int_eq(fields, 5);
    policy_free(p);
}
END_TEST

START_TEST(test_owned)
{
    struct policy *p = load("{\"name\": \"X-Db-User\", \"thumbprint\": \"X-Tp\"}");
    static const char *const owned[] = {"x-client-cert-thumbprint",
                                        "X-CLIENT-NAME",
                                        "X-Client-Clearance",
                                        "x-client-database-access",
                                        "client-cert",
                                        "Client-Cert-Chain",
                                        "x-forwarded-client-cert",
                                        "X-Forwarded-For",
                                        "x-forwarded-proto",
                                        "X-Forwarded-Host",
                                        "forwarded",
                                        "x-real-ip",
                                        "X-HTTP-Method-Override",
                                        "x-http-method",
                                        "X-Method-Override",
                                        "x-original-url",
                                        "X-Rewrite-URL",
                                        "x_original_method",
                                        "x-db-user",
                                        "X-TP"};
    for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++) {
        ck_assert_msg(policy_header_is_owned(p, cg_str_from_cstr(owned[i])), "%s", owned[i]);
    }
    static const char *const not_owned[] = {
        "host", "x-client", "x-client-names", "x-forwarded", "content-type", "x-db-user2", ""};
    for (size_t i = 0; i < sizeof(not_owned) / sizeof(not_owned[0]); i++) {
        ck_assert_msg(!policy_header_is_owned(p, cg_str_from_cstr(not_owned[i])), "%s",
                      not_owned[i]);
    }
    ck_assert(policy_header_is_owned(NULL, CG_STR_LIT("x-client-name")));
    ck_assert(!policy_header_is_owned(NULL, CG_STR_LIT("x-db-user")));
    policy_free(p);
}
END_TEST

/* Regression: "X_Client_Clearance", "X-Client_Clearance" and
 * "x_forwarded_for" were forwarded, and CGI, WSGI, PHP and Rack read them as the real
 * headers (HTTP_X_CLIENT_CLEARANCE). Every '_' / '-' spelling of an owned name is owned. */
START_TEST(test_owned_underscore_spellings)
{
    struct policy *p = load("{\"name\": \"X-Db-User\", \"thumbprint\": \"X_Tp\"}");
    static const char *const owned_by_default[] = {"X_Client_Clearance",
                                                   "X-Client_Clearance",
                                                   "x_client-clearance",
                                                   "x_forwarded_for",
                                                   "X_FORWARDED_PROTO",
                                                   "x-forwarded_host",
                                                   "X_Client_Cert_Thumbprint",
                                                   "x_client_name",
                                                   "X_Client_Database_Access",
                                                   "client_cert",
                                                   "Client_Cert_Chain",
                                                   "x_forwarded_client_cert",
                                                   "X_Real_IP"};
    for (size_t i = 0; i < sizeof(owned_by_default) / sizeof(owned_by_default[0]); i++) {
        struct cg_str name = cg_str_from_cstr(owned_by_default[i]);
        ck_assert_msg(policy_header_is_owned(p, name), "%s", owned_by_default[i]);
        ck_assert_msg(policy_header_is_owned(NULL, name), "%s", owned_by_default[i]);
    }
    /* Configured names, also one written with '_'. */
    static const char *const owned_by_config[] = {"x_db_user", "X-DB_USER", "x-tp", "X_TP"};
    for (size_t i = 0; i < sizeof(owned_by_config) / sizeof(owned_by_config[0]); i++) {
        struct cg_str name = cg_str_from_cstr(owned_by_config[i]);
        ck_assert_msg(policy_header_is_owned(p, name), "%s", owned_by_config[i]);
        ck_assert_msg(!policy_header_is_owned(NULL, name), "%s", owned_by_config[i]);
    }
    static const char *const not_owned[] = {
        "x__client-name",   "xclientname",     "x-client_names", "x_forwarded", "x-forwarded-for_",
        "_x-forwarded-for", "x.forwarded.for", "x_db_user_",     "x_t_p"};
    for (size_t i = 0; i < sizeof(not_owned) / sizeof(not_owned[0]); i++) {
        ck_assert_msg(!policy_header_is_owned(p, cg_str_from_cstr(not_owned[i])), "%s",
                      not_owned[i]);
    }
    policy_free(p);
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("headers");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_default_headers);
    tcase_add_test(tc, test_xfcc_quoting);
    tcase_add_test(tc, test_owned);
    tcase_add_test(tc, test_owned_underscore_spellings);
    suite_add_tcase(s, tc);
    return s;
}
