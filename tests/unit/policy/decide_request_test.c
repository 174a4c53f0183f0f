/* Tests for policy/decide.c on the shape of the request: malformed and ambiguous
 * paths, Host vs SNI (misdirected requests), the database named by the query (every
 * spelling of its key), and the listener's path options (path_semicolons,
 * path_encoded_percent) against the path forms servers disagree on. The policy and
 * certificates are decide_fixture.h's. */
#include <stdbool.h>
#include <stddef.h>

#include "check_main.h"
#include "decide_fixture.h"

START_TEST(test_bad_path_and_misdirected)
{
    static const char *const bad[] = {"/db/hr/../admin/x", "/db//x", "/a%2Fb", "x", "/a\\b",
                                      "/%2e%2e/ca/x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct policy_decision d = run((struct call){.cert = ADMIN, .target = bad[i]});
        ck_assert_int_eq(d.reason, R(BAD_PATH));
        ck_assert_int_eq(d.http_status, 400);
        ck_assert(!d.allow);
    }
    struct call c = {.cert = ADMIN, .target = "/ca/x", .sni = "db.example.com"};
    static const char *const same[] = {"db.example.com", "DB.Example.COM", "db.example.com:8443",
                                       "db.example.com.", ""};
    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        c.authority = same[i];
        ck_assert_msg(run(c).reason == R(OK), "authority %s", same[i]);
    }
    static const char *const other[] = {"other.example.com", "db.example.co", "[::1]:8443",
                                        "127.0.0.1", "db.example.com.evil"};
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
        c.authority = other[i];
        struct policy_decision d = run(c);
        ck_assert_msg(d.reason == R(MISDIRECTED), "authority %s", other[i]);
        ck_assert_int_eq(d.http_status, 421);
    }
    /* No SNI: nothing to compare. */
    c.sni = NULL;
    c.authority = "anything";
    ck_assert_int_eq(run(c).reason, R(OK));
    /* The proxy found that the Host names another virtual host (a listener's hosts):
     * 421 whatever the SNI comparison says, after the path check and never audited. */
    c.misdirected = true;
    struct policy_decision md = run(c);
    ck_assert_int_eq(md.reason, R(MISDIRECTED));
    ck_assert_int_eq(md.http_status, 421);
    c.target = "/a/../x";
    ck_assert_int_eq(run(c).reason, R(BAD_PATH));
    c.target = "/ca/x";
    c.misdirected = false;

    /* A scratch buffer that is too small is a bad path, never an overflow. */
    struct sockaddr_storage ss = peer_of("10.0.0.1");
    struct policy_identity id = {.peer = (struct sockaddr *)&ss, .cert = &certs[ADMIN]};
    char small[8];
    struct policy_request req = {.now = NOW,
                                 .method = CG_STR_LIT("GET"),
                                 .target = CG_STR_LIT("/ca/x"),
                                 .buf = small,
                                 .buf_cap = 8};
    struct policy_decision d;
    policy_decide(pol, &id, &req, &d);
    ck_assert_int_eq(d.reason, R(BAD_PATH));
    req.buf_cap = POLICY_DECIDE_BUF_LEN(5);
    policy_decide(pol, &id, &req, &d);
    ck_assert_int_eq(d.reason, R(OK));
}
END_TEST

START_TEST(test_database_from_query)
{
    struct policy_decision d =
        run((struct call){.cert = USER, .target = "/query?db=hr&q=SELECT+1"});
    ck_assert_int_eq(d.reason, R(OK));
    ck_assert(cg_str_eq(d.database, CG_STR_LIT("hr")));
    ck_assert(cg_str_eq(d.query, CG_STR_LIT("db=hr&q=SELECT+1")));
    ck_assert_int_eq(run((struct call){.cert = USER, .target = "/query?q=x&db=h%72"}).reason,
                     R(OK));
    ck_assert_int_eq(run((struct call){.cert = USER, .target = "/query?db=my+db"}).reason, R(OK));
    ck_assert_int_eq(run((struct call){.cert = USER, .target = "/query?db=sales"}).reason,
                     R(DATABASE_NOT_ALLOWED));
    /* Absent or empty: ValidUser has no database to be allowed on; Operator+ has all. */
    ck_assert_int_eq(run((struct call){.cert = USER, .target = "/query"}).reason,
                     R(DATABASE_NOT_ALLOWED));
    ck_assert_int_eq(run((struct call){.cert = USER, .target = "/query?db="}).reason,
                     R(DATABASE_NOT_ALLOWED));
    ck_assert_int_eq(run((struct call){.cert = USER, .target = "/query?dbx=hr"}).reason,
                     R(DATABASE_NOT_ALLOWED));
    ck_assert_int_eq(run((struct call){.cert = OP, .target = "/query?q=1"}).reason, R(OK));
    /* Ambiguous: the database might read the other copy. */
    static const char *const ambiguous[] = {"/query?db=hr&db=sales",   "/query?db=sales&db=hr",
                                            "/query?d%62=sales&db=hr", "/query?x=1;db=sales&db=hr",
                                            "/query?db=hr&db",         "/query?db=%zz",
                                            "/query?%zz=1&db=hr",      "/query?db=h%00r"};
    for (size_t i = 0; i < sizeof(ambiguous) / sizeof(ambiguous[0]); i++) {
        struct policy_decision a = run((struct call){.cert = USER, .target = ambiguous[i]});
        ck_assert_msg(a.reason == R(BAD_PATH), "%s: %s", ambiguous[i], policy_reason_str(a.reason));
        ck_assert_int_eq(a.http_status, 400);
    }

    /* Regression: another spelling of "db" next to an allowed
     * one was ignored, and the database could read it. Every spelling counts; two are
     * refused, never audited away. */
    static const char *const spellings[] = {
        "/query?db=hr&DB=sales",        "/query?db=hr&+db=sales",  "/query?db[]=sales&db=hr",
        "/query?db+=sales&db=hr",       "/query?%64b=sales&db=hr", "/query?db%5B%5D=sales&db=hr",
        "/query?db=hr;db=sales",        "/query?db=hr;x",          "/query?db=hr&[db]=sales",
        "/query?db=hr&d%C4%B1b=x&Db=y", "/query?db&db=hr",
    };
    for (size_t i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++) {
        struct policy_decision a = run((struct call){.cert = USER, .target = spellings[i]});
        ck_assert_msg(a.reason == R(BAD_PATH), "%s: %s", spellings[i], policy_reason_str(a.reason));
        ck_assert(!a.allow);
        ck_assert_int_eq(a.http_status, 400);
        a = run((struct call){.cert = ADMIN, .target = spellings[i]});
        ck_assert_msg(a.reason == R(BAD_PATH), "admin %s", spellings[i]);
    }
    /* One key in another spelling is the database: its value is what is authorized. */
    d = run((struct call){.cert = USER, .target = "/query?DB=sales"});
    ck_assert_int_eq(d.reason, R(DATABASE_NOT_ALLOWED));
    ck_assert(cg_str_eq(d.database, CG_STR_LIT("sales")));
    d = run((struct call){.cert = USER, .target = "/query?q=1&db[]=hr"});
    ck_assert_int_eq(d.reason, R(OK));
    ck_assert(cg_str_eq(d.database, CG_STR_LIT("hr")));
    ck_assert(cg_str_eq(d.query, CG_STR_LIT("q=1&db[]=hr"))); /* forwarded unchanged */
    /* The value is decoded once, as the database decodes it. */
    d = run((struct call){.cert = USER, .target = "/query?db=%2568r"});
    ck_assert_int_eq(d.reason, R(DATABASE_NOT_ALLOWED));
    ck_assert(cg_str_eq(d.database, CG_STR_LIT("%68r")));
    ck_assert_int_eq(run((struct call){.cert = USER, .target = "/query?db=hr%0A"}).reason,
                     R(BAD_PATH));
}
END_TEST

/* Path forms that servers read differently, with "/secret/" denied. */
static const char path_policy_json[] =
    "{\"routes\": [\n"
    "  {\"path\": \"/secret/*\", \"require\": \"Deny\"},\n"
    "  {\"path\": \"/public/*\", \"require\": \"Public\"},\n"
    "  {\"path\": \"/db/{db}/*\", \"require\": \"ReadOnly\"},\n"
    "  {\"path\": \"/*\", \"require\": \"Authenticated\"}],\n"
    " \"certificates\": [{\"name\": \"user\", \"clearance\": \"ValidUser\",\n"
    "   \"thumbprints\": [\"C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3\"],\n"
    "   \"databases\": {\"hr\": \"ReadOnly\"}}]}\n";

struct path_case {
    const char *target;
    bool semicolons, percent; /* listener options */
    enum policy_reason want;
    const char *forwarded; /* the path the database gets when allowed */
};

static const struct path_case path_cases[] = {
    /* Regression: forwarded as written before, refused by default now. */
    {"/secret;x/y", false, false, R(BAD_PATH), NULL},
    {"/public/..;/secret/x", false, false, R(BAD_PATH), NULL},
    {"/secret./x", false, false, R(BAD_PATH), NULL},
    {"/secret%20/x", false, false, R(BAD_PATH), NULL},
    {"/secret%09/x", false, false, R(BAD_PATH), NULL},
    {"/public/%252e%252e/secret/x", false, false, R(BAD_PATH), NULL},
    {"/%2573ecret/x", false, false, R(BAD_PATH), NULL},
    {"/secret/x", false, false, R(ROUTE_DENIED), NULL},
    {"/other/x", false, false, R(OK), "/other/x"},
    /* path_semicolons "allow": accepted only when a servlet container, which drops
     * ";params", reaches the same route and database. */
    {"/secret;x/y", true, false, R(BAD_PATH), NULL},
    {"/public/..;/secret/x", true, false, R(BAD_PATH), NULL},
    {"/public;x/y", true, false, R(BAD_PATH), NULL},
    {"/db/hr;x/docs", true, false, R(BAD_PATH), NULL},
    {"/db/sales/docs;x=1/y", true, false, R(DATABASE_NOT_ALLOWED), NULL},
    {"/db/hr/docs;x=1/y", true, false, R(OK), "/db/hr/docs;x=1/y"},
    {"/public/x;jsessionid=1", true, false, R(OK), "/public/x;jsessionid=1"},
    {"/other;x/y", true, false, R(OK), "/other;x/y"},
    {"/%2573ecret/x", true, false, R(BAD_PATH), NULL},
    /* path_encoded_percent "allow": accepted only when a server that decodes twice
     * reaches the same route and database. */
    {"/%2573ecret/x", false, true, R(BAD_PATH), NULL},
    {"/public/%252e%252e/secret/x", false, true, R(BAD_PATH), NULL},
    {"/public/%252F/x", false, true, R(BAD_PATH), NULL},
    {"/db/h%2572/docs", false, true, R(BAD_PATH), NULL},
    {"/public/50%25", false, true, R(OK), "/public/50%25"},
    {"/db/hr/50%25off", false, true, R(OK), "/db/hr/50%25off"},
    {"/secret;x/y", false, true, R(BAD_PATH), NULL},
    /* Both. */
    {"/public;a/%2541", true, true, R(BAD_PATH), NULL},
    {"/x;y/%2573ecret/z", true, true, R(OK), "/x;y/%2573ecret/z"},
    {"/public/x;a/50%25", true, true, R(OK), "/public/x;a/50%25"},
    {"/se;x/%2563ret", true, true, R(OK), "/se;x/%2563ret"},
    {"/secret%3B/x", false, false, R(OK), "/secret%3B/x"}, /* an escaped ';' is a name */
};

START_TEST(test_path_forms)
{
    const struct path_case *c = &path_cases[_i];
    struct policy *p = load(path_policy_json, NULL);
    struct policy_decision d = run((struct call){
        .p = p,
        .cert = USER,
        .target = c->target,
        .path_opts = {.allow_semicolons = c->semicolons, .allow_encoded_percent = c->percent}});
    ck_assert_msg(d.reason == c->want, "%s (;%d %%25%d): got %s, want %s", c->target, c->semicolons,
                  c->percent, policy_reason_str(d.reason), policy_reason_str(c->want));
    if (c->want == R(BAD_PATH)) {
        ck_assert(!d.allow);
        ck_assert_int_eq(d.http_status, 400);
        ck_assert_int_eq(d.grpc_status, 3);
    }
    if (c->forwarded != NULL) {
        ck_assert(d.allow);
        ck_assert_msg(cg_str_eq(d.path, cg_str_from_cstr(c->forwarded)), "%s forwarded as %.*s",
                      c->target, (int)d.path.len, d.path.p);
    }
    policy_unref(p);
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("decide_request");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_bad_path_and_misdirected);
    tcase_add_test(tc, test_database_from_query);
    tcase_add_loop_test(tc, test_path_forms, 0, sizeof(path_cases) / sizeof(path_cases[0]));
    suite_add_tcase(s, tc);
    return s;
}
