/* Tests for policy/decide.c: a table over clearance x requirement x database listed or
 * not, every reason code, pins, identity matchers, expiry, audit mode and concurrent
 * readers. The request's shape (paths, Host vs SNI, databases from the query) is in
 * decide_request_test.c; both use decide_fixture.h. Certificates are synthetic
 * policy_cert_facts (cert_facts_test.c covers real ones). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "decide_fixture.h"

/* ---- the clearance x requirement x database matrix ---- */

struct matrix_case {
    enum cert_id cert;
    const char *target;
    enum policy_reason want;
    enum policy_level level; /* expected effective level when a database is named */
};

static const struct matrix_case matrix[] = {
    /* ClusterAdmin: everything but Deny. */
    {ADMIN, "/public/x", R(OK), 0},
    {ADMIN, "/auth/x", R(OK), 0},
    {ADMIN, "/db/hr/ro/x", R(OK), POLICY_LEVEL_ADMIN},
    {ADMIN, "/db/hr/rw/x", R(OK), POLICY_LEVEL_ADMIN},
    {ADMIN, "/db/hr/admin/x", R(OK), POLICY_LEVEL_ADMIN},
    {ADMIN, "/db/sales/ro/x", R(OK), POLICY_LEVEL_ADMIN},
    {ADMIN, "/db/sales/rw/x", R(OK), POLICY_LEVEL_ADMIN},
    {ADMIN, "/db/sales/admin/x", R(OK), POLICY_LEVEL_ADMIN},
    {ADMIN, "/op/x", R(OK), 0},
    {ADMIN, "/ca/x", R(OK), 0},
    {ADMIN, "/deny/x", R(ROUTE_DENIED), 0},
    /* Operator: Admin on every database, not ClusterAdmin. */
    {OP, "/public/x", R(OK), 0},
    {OP, "/auth/x", R(OK), 0},
    {OP, "/db/hr/ro/x", R(OK), POLICY_LEVEL_ADMIN},
    {OP, "/db/hr/rw/x", R(OK), POLICY_LEVEL_ADMIN},
    {OP, "/db/hr/admin/x", R(OK), POLICY_LEVEL_ADMIN},
    {OP, "/db/sales/ro/x", R(OK), POLICY_LEVEL_ADMIN},
    {OP, "/db/sales/rw/x", R(OK), POLICY_LEVEL_ADMIN},
    {OP, "/db/sales/admin/x", R(OK), POLICY_LEVEL_ADMIN},
    {OP, "/op/x", R(OK), 0},
    {OP, "/ca/x", R(INSUFFICIENT_CLEARANCE), 0},
    {OP, "/deny/x", R(ROUTE_DENIED), 0},
    /* ValidUser with hr: ReadWrite. */
    {USER, "/public/x", R(OK), 0},
    {USER, "/auth/x", R(OK), 0},
    {USER, "/db/hr/ro/x", R(OK), POLICY_LEVEL_READ_WRITE},
    {USER, "/db/hr/rw/x", R(OK), POLICY_LEVEL_READ_WRITE},
    {USER, "/db/hr/admin/x", R(INSUFFICIENT_CLEARANCE), POLICY_LEVEL_READ_WRITE},
    {USER, "/db/sales/ro/x", R(DATABASE_NOT_ALLOWED), POLICY_LEVEL_NONE},
    {USER, "/db/sales/rw/x", R(DATABASE_NOT_ALLOWED), POLICY_LEVEL_NONE},
    {USER, "/db/sales/admin/x", R(DATABASE_NOT_ALLOWED), POLICY_LEVEL_NONE},
    {USER, "/op/x", R(INSUFFICIENT_CLEARANCE), 0},
    {USER, "/ca/x", R(INSUFFICIENT_CLEARANCE), 0},
    {USER, "/deny/x", R(ROUTE_DENIED), 0},
    /* ValidUser with Catalog: ReadOnly (names case-insensitive) and ops: Admin. */
    {CATALOG, "/db/catalog/ro/x", R(OK), POLICY_LEVEL_READ_ONLY},
    {CATALOG, "/db/CATALOG/rw/x", R(INSUFFICIENT_CLEARANCE), POLICY_LEVEL_READ_ONLY},
    {CATALOG, "/db/catalog/admin/x", R(INSUFFICIENT_CLEARANCE), POLICY_LEVEL_READ_ONLY},
    {CATALOG, "/db/ops/ro/x", R(OK), POLICY_LEVEL_ADMIN},
    {CATALOG, "/db/ops/rw/x", R(OK), POLICY_LEVEL_ADMIN},
    {CATALOG, "/db/ops/admin/x", R(OK), POLICY_LEVEL_ADMIN},
    {CATALOG, "/db/hr/ro/x", R(DATABASE_NOT_ALLOWED), POLICY_LEVEL_NONE},
    /* No certificate: only Public (and Deny is still Deny). */
    {NO_CERT, "/public/x", R(OK), 0},
    {NO_CERT, "/auth/x", R(NO_CERTIFICATE), 0},
    {NO_CERT, "/db/hr/ro/x", R(NO_CERTIFICATE), 0},
    {NO_CERT, "/db/hr/rw/x", R(NO_CERTIFICATE), 0},
    {NO_CERT, "/db/hr/admin/x", R(NO_CERTIFICATE), 0},
    {NO_CERT, "/op/x", R(NO_CERTIFICATE), 0},
    {NO_CERT, "/ca/x", R(NO_CERTIFICATE), 0},
    {NO_CERT, "/deny/x", R(ROUTE_DENIED), 0},
    /* Unregistered certificate. */
    {STRANGER, "/public/x", R(OK), 0},
    {STRANGER, "/auth/x", R(UNKNOWN_CERTIFICATE), 0},
    {STRANGER, "/db/hr/ro/x", R(UNKNOWN_CERTIFICATE), 0},
    {STRANGER, "/op/x", R(UNKNOWN_CERTIFICATE), 0},
    {STRANGER, "/ca/x", R(UNKNOWN_CERTIFICATE), 0},
    {STRANGER, "/deny/x", R(ROUTE_DENIED), 0},
    /* Fixed database and the prefix itself matched by "/x/" + "*". */
    {USER, "/fixed", R(OK), POLICY_LEVEL_READ_WRITE},
    {CATALOG, "/fixed", R(DATABASE_NOT_ALLOWED), POLICY_LEVEL_NONE},
    {USER, "/op", R(INSUFFICIENT_CLEARANCE), 0},
    {USER, "/op/", R(INSUFFICIENT_CLEARANCE), 0},
    {USER, "/ca", R(INSUFFICIENT_CLEARANCE), 0},
    {USER, "/OP/x", R(INSUFFICIENT_CLEARANCE), 0}, /* literals match case-insensitively */
    {USER, "/nothing", R(NO_MATCHING_ROUTE), 0},
    {USER, "/opx", R(NO_MATCHING_ROUTE), 0},
};

START_TEST(test_matrix)
{
    const struct matrix_case *c = &matrix[_i];
    struct policy_decision d = run((struct call){.cert = c->cert, .target = c->target});
    ck_assert_msg(d.reason == c->want, "cert %d %s: got %s, want %s", c->cert, c->target,
                  policy_reason_str(d.reason), policy_reason_str(c->want));
    ck_assert(d.allow == (c->want == R(OK)));
    ck_assert(!d.audit);
    if (d.has_database) {
        ck_assert_msg(d.level == c->level, "%s: level %s", c->target, policy_level_str(d.level));
    }
    if (c->want == R(INSUFFICIENT_CLEARANCE) || c->want == R(DATABASE_NOT_ALLOWED) ||
        c->want == R(ROUTE_DENIED) || c->want == R(NO_MATCHING_ROUTE)) {
        ck_assert_int_eq(d.http_status, 403);
        ck_assert_int_eq(d.grpc_status, 7);
    }
    if (c->want == R(NO_CERTIFICATE) || c->want == R(UNKNOWN_CERTIFICATE)) {
        ck_assert_int_eq(d.http_status, 403);
        ck_assert_int_eq(d.grpc_status, 16);
    }
}
END_TEST

/* entry_index and cert_checked (what `policy explain` reports): the entry is named also
 * when refused, unnamed for an anonymous Public request, and the certificate is not
 * looked at when an earlier step decided. */
START_TEST(test_entry_index_and_cert_checked)
{
    struct policy_decision d = run((struct call){.cert = RESTRICTED, .target = "/auth/x"});
    ck_assert_int_eq(d.reason, R(IP_NOT_ALLOWED));
    ck_assert_int_eq(d.entry_index, 4);
    ck_assert(d.cert_checked);
    d = run((struct call){.cert = STRANGER, .target = "/public/x"});
    ck_assert(d.allow);
    ck_assert_int_eq(d.entry_index, -1);
    ck_assert(d.cert_checked);
    d = run((struct call){.cert = RESTRICTED, .target = "/public/x"});
    ck_assert(d.allow); /* refused entry on a Public route: anonymous */
    ck_assert_int_eq(d.entry_index, -1);
    ck_assert_ptr_null(d.entry_name);
    d = run((struct call){.cert = ADMIN, .target = "/deny/x"});
    ck_assert_int_eq(d.entry_index, -1);
    ck_assert(!d.cert_checked);
    d = run((struct call){.cert = ADMIN, .peer = "192.0.2.1", .target = "/auth/x"});
    ck_assert_int_eq(d.reason, R(IP_NOT_ALLOWED));
    ck_assert(!d.cert_checked);
    d = run((struct call){.cert = ADMIN, .target = "/nothing"});
    ck_assert(!d.cert_checked);
    d = run((struct call){.cert = ADMIN, .target = "/a/../.."});
    ck_assert(!d.cert_checked);
    ck_assert_int_eq(d.entry_index, -1);
}
END_TEST

START_TEST(test_decision_fields)
{
    struct policy_decision d = run((struct call){.cert = USER, .target = "/db/h%72/rw/docs?id=1"});
    ck_assert(d.allow);
    ck_assert(d.identified);
    ck_assert_str_eq(d.entry_name, "user");
    ck_assert_int_eq(d.entry_index, 2);
    ck_assert(d.cert_checked);
    ck_assert_int_eq(d.clearance, POLICY_CLEARANCE_VALID_USER);
    ck_assert_int_eq(d.matched_by, POLICY_MATCH_THUMBPRINT);
    ck_assert_int_eq(d.route_index, 6);
    ck_assert_str_eq(d.route_pattern, "/db/{db}/rw/*");
    ck_assert_int_eq(d.requirement, POLICY_REQUIRE_READ_WRITE);
    ck_assert(d.has_database);
    ck_assert(cg_str_eq(d.database, CG_STR_LIT("hr")));
    ck_assert(cg_str_eq(d.path, CG_STR_LIT("/db/hr/rw/docs")));
    ck_assert_int_eq(d.path.p[d.path.len], '\0');
    ck_assert(d.has_query);
    ck_assert(cg_str_eq(d.query, CG_STR_LIT("id=1")));

    /* A database name with an escape is decoded before it is compared. */
    d = run((struct call){.cert = USER, .target = "/db/my%20db/ro/x"});
    ck_assert_str_eq(policy_reason_str(d.reason), "ok");
    ck_assert(cg_str_eq(d.database, CG_STR_LIT("my db")));
    ck_assert_int_eq(d.level, POLICY_LEVEL_READ_ONLY);

    /* SHA-256 thumbprint. */
    d = run((struct call){.cert = OP, .target = "/op/x"});
    ck_assert_int_eq(d.matched_by, POLICY_MATCH_THUMBPRINT);
    ck_assert_str_eq(d.entry_name, "op");

    /* Public route: an unknown certificate is anonymous, a known one is named. */
    d = run((struct call){.cert = STRANGER, .target = "/public/x"});
    ck_assert(d.allow && !d.identified && d.entry_name == NULL);
    d = run((struct call){.cert = USER, .target = "/pub-db/hr"});
    ck_assert(d.allow && d.identified);
    ck_assert_int_eq(d.level, POLICY_LEVEL_READ_WRITE);
}
END_TEST

START_TEST(test_methods)
{
    ck_assert_int_eq(run((struct call){.cert = USER, .target = "/get-only"}).reason, R(OK));
    ck_assert_int_eq(
        run((struct call){.cert = USER, .method = "HEAD", .target = "/get-only"}).reason, R(OK));
    ck_assert_int_eq(
        run((struct call){.cert = USER, .method = "POST", .target = "/get-only"}).reason,
        R(NO_MATCHING_ROUTE));
    ck_assert_int_eq(
        run((struct call){.cert = USER, .method = "get", .target = "/get-only"}).reason,
        R(NO_MATCHING_ROUTE));
}
END_TEST

START_TEST(test_ip_rules)
{
    struct policy_decision d =
        run((struct call){.cert = ADMIN, .peer = "192.168.1.1", .target = "/public/x"});
    ck_assert_int_eq(d.reason, R(IP_NOT_ALLOWED));
    ck_assert_int_eq(d.http_status, 403);
    ck_assert_int_eq(run((struct call){.cert = ADMIN, .peer = "::1", .target = "/ca/x"}).reason,
                     R(OK));
    ck_assert_int_eq(
        run((struct call){.cert = ADMIN, .peer = "::ffff:10.9.9.9", .target = "/ca/x"}).reason,
        R(OK));
    ck_assert_int_eq(run((struct call){.cert = ADMIN, .peer = "::2", .target = "/ca/x"}).reason,
                     R(IP_NOT_ALLOWED));
    /* Per-entry allow_ips narrow further. */
    ck_assert_int_eq(
        run((struct call){.cert = RESTRICTED, .peer = "10.1.2.3", .target = "/ca/x"}).reason,
        R(OK));
    d = run((struct call){.cert = RESTRICTED, .peer = "10.2.0.1", .target = "/ca/x"});
    ck_assert_int_eq(d.reason, R(IP_NOT_ALLOWED));
    ck_assert_str_eq(d.entry_name, "restricted"); /* named for the log */
    ck_assert(!d.identified);

    struct sockaddr_storage in = peer_of("10.200.0.1"), out = peer_of("8.8.8.8");
    bool audit = true;
    ck_assert(policy_allow_peer(pol, (struct sockaddr *)&in, &audit));
    ck_assert(!audit);
    ck_assert(!policy_allow_peer(pol, (struct sockaddr *)&out, &audit));
    ck_assert(!audit);
    ck_assert(!policy_allow_peer(pol, NULL, NULL));
}
END_TEST

/* policy_identify: the admin API's check, without routes or audit mode. */
static struct policy_decision identify_as(enum cert_id cert, const char *peer,
                                          enum policy_clearance min, time_t now)
{
    struct sockaddr_storage ss = peer_of(peer);
    struct policy_identity id = {
        .peer = (const struct sockaddr *)&ss,
        .cert = cert == NO_CERT ? NULL : &certs[cert],
    };
    struct policy_decision d;
    policy_identify(pol, &id, now, min, &d);
    return d;
}

START_TEST(test_identify)
{
    struct policy_decision d = identify_as(ADMIN, "10.0.0.1", POLICY_CLEARANCE_OPERATOR, NOW);
    ck_assert(d.allow && d.identified);
    ck_assert_str_eq(d.entry_name, "admin");
    ck_assert_int_eq(d.clearance, POLICY_CLEARANCE_CLUSTER_ADMIN);
    ck_assert_int_eq(d.matched_by, POLICY_MATCH_THUMBPRINT);
    d = identify_as(OP, "10.0.0.1", POLICY_CLEARANCE_OPERATOR, NOW);
    ck_assert(d.allow);
    ck_assert_int_eq(d.clearance, POLICY_CLEARANCE_OPERATOR);
    d = identify_as(OP, "10.0.0.1", POLICY_CLEARANCE_CLUSTER_ADMIN, NOW);
    ck_assert(!d.allow);
    ck_assert_int_eq(d.reason, R(INSUFFICIENT_CLEARANCE));
    ck_assert_int_eq(d.http_status, 403);
    ck_assert_str_eq(d.entry_name, "op");
    d = identify_as(USER, "10.0.0.1", POLICY_CLEARANCE_OPERATOR, NOW);
    ck_assert_int_eq(d.reason, R(INSUFFICIENT_CLEARANCE));
    ck_assert(identify_as(USER, "10.0.0.1", POLICY_CLEARANCE_NONE, NOW).allow);
    ck_assert_int_eq(identify_as(NO_CERT, "10.0.0.1", POLICY_CLEARANCE_NONE, NOW).reason,
                     R(NO_CERTIFICATE));
    ck_assert_int_eq(identify_as(STRANGER, "10.0.0.1", POLICY_CLEARANCE_NONE, NOW).reason,
                     R(UNKNOWN_CERTIFICATE));
    ck_assert_int_eq(identify_as(ADMIN, "192.168.1.1", POLICY_CLEARANCE_NONE, NOW).reason,
                     R(IP_NOT_ALLOWED));
    ck_assert_int_eq(identify_as(RESTRICTED, "10.2.0.1", POLICY_CLEARANCE_NONE, NOW).reason,
                     R(IP_NOT_ALLOWED));
    ck_assert_int_eq(identify_as(EXPIRING, "10.0.0.1", POLICY_CLEARANCE_NONE, 1811808000).reason,
                     R(CERTIFICATE_EXPIRED));
    ck_assert_int_eq(identify_as(ADMIN, "10.0.0.1", POLICY_CLEARANCE_NONE, NOW - 2 * 86400).reason,
                     R(CERTIFICATE_NOT_YET_VALID));
}
END_TEST

START_TEST(test_validity_and_expiry)
{
    struct policy_decision d =
        run((struct call){.cert = ADMIN, .target = "/ca/x", .now = NOW - 2 * 86400});
    ck_assert_int_eq(d.reason, R(CERTIFICATE_NOT_YET_VALID));
    ck_assert_int_eq(d.grpc_status, 16);
    d = run((struct call){.cert = ADMIN, .target = "/ca/x", .now = NOW + 400 * 86400});
    ck_assert_int_eq(d.reason, R(CERTIFICATE_EXPIRED));
    ck_assert_int_eq(d.http_status, 403);
    ck_assert_int_eq(d.grpc_status, 16);
    /* Boundaries are inclusive: valid at notBefore and at notAfter. */
    ck_assert_int_eq(
        run((struct call){.cert = ADMIN, .target = "/ca/x", .now = NOW - 86400}).reason, R(OK));
    ck_assert_int_eq(
        run((struct call){.cert = ADMIN, .target = "/ca/x", .now = NOW + 86400 * 365}).reason,
        R(OK));
    /* The entry's "expires" (2027-06-01T00:00:00Z = 1811808000). */
    ck_assert_int_eq(
        run((struct call){.cert = EXPIRING, .target = "/ca/x", .now = 1811807999}).reason, R(OK));
    d = run((struct call){.cert = EXPIRING, .target = "/ca/x", .now = 1811808000});
    ck_assert_int_eq(d.reason, R(CERTIFICATE_EXPIRED));
    /* Expired certificates get no identity on public routes either. */
    d = run((struct call){.cert = EXPIRING, .target = "/public/x", .now = 1811808000});
    ck_assert(d.allow && !d.identified && d.entry_name == NULL);
}
END_TEST

START_TEST(test_pin_rule)
{
    struct policy_decision d = run((struct call){.cert = PINNED, .target = "/db/hr/ro/x"});
    ck_assert_int_eq(d.reason, R(OK));
    ck_assert_int_eq(d.matched_by, POLICY_MATCH_PIN);
    ck_assert_str_eq(d.entry_name, "pinned");

    /* Same key, other issuer: not trusted. */
    struct policy_cert_facts saved = certs[PINNED];
    char other_issuer[] = "CN=Pin CA,O=Evil";
    certs[PINNED].issuer = other_issuer;
    ck_assert_int_eq(run((struct call){.cert = PINNED, .target = "/db/hr/ro/x"}).reason,
                     R(UNKNOWN_CERTIFICATE));
    /* Same key and issuer, other AKI. */
    certs[PINNED] = saved;
    certs[PINNED].aki[2] = 4;
    ck_assert_int_eq(run((struct call){.cert = PINNED, .target = "/db/hr/ro/x"}).reason,
                     R(UNKNOWN_CERTIFICATE));
    /* No AKI at all. */
    certs[PINNED] = saved;
    certs[PINNED].aki_len = 0;
    ck_assert_int_eq(run((struct call){.cert = PINNED, .target = "/db/hr/ro/x"}).reason,
                     R(UNKNOWN_CERTIFICATE));
    /* Other key. */
    certs[PINNED] = saved;
    certs[PINNED].spki_sha256[31] ^= 1;
    ck_assert_int_eq(run((struct call){.cert = PINNED, .target = "/db/hr/ro/x"}).reason,
                     R(UNKNOWN_CERTIFICATE));
    certs[PINNED] = saved;
}
END_TEST

START_TEST(test_pin_needs_the_issuer_signature)
{
    /* Attack: key, issuer name and key id copied into a self-made CA, which signs a
     * certificate with any subject. Without a verified signature by the pinned issuer
     * key, the pin grants nothing, on database routes, Authenticated routes and the
     * admin API alike, and gives no identity on a Public route. */
    struct policy_cert_facts saved = certs[PINNED];
    certs[PINNED].issuer_checked = false;
    certs[PINNED].issuer_verified = false;
    struct policy_decision d = run((struct call){.cert = PINNED, .target = "/db/hr/ro/x"});
    ck_assert_int_eq(d.reason, R(UNKNOWN_CERTIFICATE));
    ck_assert(!d.identified && d.entry_name == NULL && d.matched_by == POLICY_MATCH_NONE);
    ck_assert_int_eq(run((struct call){.cert = PINNED, .target = "/auth/x"}).reason,
                     R(UNKNOWN_CERTIFICATE));
    d = run((struct call){.cert = PINNED, .target = "/public/x"});
    ck_assert(d.allow && !d.identified && d.entry_name == NULL);
    /* Checked, and the signature did not verify. */
    certs[PINNED].issuer_checked = true;
    ck_assert_int_eq(run((struct call){.cert = PINNED, .target = "/db/hr/ro/x"}).reason,
                     R(UNKNOWN_CERTIFICATE));
    /* Verified, but by another key than the pin's (a proof left from an older policy
     * whose pin named another issuer key). */
    certs[PINNED] = saved;
    certs[PINNED].issuer_spki_sha256[0] ^= 1;
    ck_assert_int_eq(run((struct call){.cert = PINNED, .target = "/db/hr/ro/x"}).reason,
                     R(UNKNOWN_CERTIFICATE));
    struct sockaddr_storage peer = peer_of("127.0.0.1");
    struct policy_identity id = {.peer = (const struct sockaddr *)&peer, .cert = &certs[PINNED]};
    policy_identify(pol, &id, NOW, POLICY_CLEARANCE_NONE, &d);
    ck_assert_int_eq(d.reason, R(UNKNOWN_CERTIFICATE));
    certs[PINNED] = saved;
    policy_identify(pol, &id, NOW, POLICY_CLEARANCE_NONE, &d);
    ck_assert_int_eq(d.reason, R(OK));
    ck_assert_int_eq(d.matched_by, POLICY_MATCH_PIN);
}
END_TEST

START_TEST(test_pin_checks_validity_dates)
{
    /* A certificate trusted by pin is refused outside its own validity period, like one
     * registered by thumbprint. */
    struct policy_cert_facts saved = certs[PINNED];
    certs[PINNED].not_after = NOW - 1;
    struct policy_decision d = run((struct call){.cert = PINNED, .target = "/db/hr/ro/x"});
    ck_assert_int_eq(d.reason, R(CERTIFICATE_EXPIRED));
    ck_assert(!d.allow && !d.identified);
    certs[PINNED] = saved;
    certs[PINNED].not_before = NOW + 1;
    d = run((struct call){.cert = PINNED, .target = "/db/hr/ro/x"});
    ck_assert_int_eq(d.reason, R(CERTIFICATE_NOT_YET_VALID));
    ck_assert(!d.allow && !d.identified);
    certs[PINNED] = saved;
}
END_TEST

START_TEST(test_identity_matcher)
{
    /* Only with a validated chain. */
    ck_assert_int_eq(run((struct call){.cert = SPIFFE, .target = "/db/hr/ro/x"}).reason,
                     R(UNKNOWN_CERTIFICATE));
    struct policy_decision d =
        run((struct call){.cert = SPIFFE, .target = "/db/hr/ro/x", .chain_validated = true});
    ck_assert_int_eq(d.reason, R(OK));
    ck_assert_int_eq(d.matched_by, POLICY_MATCH_IDENTITY);
    ck_assert_str_eq(d.entry_name, "spiffe");
    ck_assert_int_eq(
        run((struct call){.cert = SPIFFE, .target = "/db/hr/rw/x", .chain_validated = true}).reason,
        R(INSUFFICIENT_CLEARANCE));
    ck_assert_int_eq(
        run((struct call){.cert = STRANGER, .target = "/auth/x", .chain_validated = true}).reason,
        R(UNKNOWN_CERTIFICATE));
}
END_TEST

START_TEST(test_chain_required)
{
    /* With a listener client_ca, a registered certificate whose chain did not validate
     * is refused (docs/policy.md), and one that validated passes. */
    struct policy_decision d =
        run((struct call){.cert = ADMIN, .target = "/auth/x", .chain_required = true});
    ck_assert_int_eq(d.reason, R(UNTRUSTED_CHAIN));
    ck_assert_int_eq(d.http_status, 403);
    ck_assert_int_eq(d.grpc_status, 16);
    d = run((struct call){
        .cert = ADMIN, .target = "/auth/x", .chain_required = true, .chain_validated = true});
    ck_assert_int_eq(d.reason, R(OK));
    /* Public routes need no certificate, so no chain either. */
    d = run((struct call){.cert = NO_CERT, .target = "/public/x", .chain_required = true});
    ck_assert_int_eq(d.reason, R(OK));
}
END_TEST

START_TEST(test_audit_mode)
{
    /* Route in audit mode: would-deny is allowed with audit set and the reason kept. */
    struct policy_decision d = run((struct call){.cert = USER, .target = "/audit/x"});
    ck_assert(d.allow && d.audit);
    ck_assert_int_eq(d.reason, R(INSUFFICIENT_CLEARANCE));
    ck_assert_int_eq(d.http_status, 403);
    d = run((struct call){.cert = ADMIN, .target = "/audit/x"});
    ck_assert(d.allow && !d.audit);
    ck_assert_int_eq(d.reason, R(OK));
    /* Other routes still enforce. */
    d = run((struct call){.cert = USER, .target = "/ca/x"});
    ck_assert(!d.allow && !d.audit);

    /* Policy-wide audit, with one route forced to enforce. */
    static const char audit_json[] =
        "{\"mode\": \"audit\", \"allow_ips\": [\"10.0.0.0/8\"], \"routes\": ["
        " {\"path\": \"/strict/*\", \"require\": \"ClusterAdmin\", \"mode\": \"enforce\"},"
        " {\"path\": \"/*\", \"require\": \"ClusterAdmin\"}],"
        " \"certificates\": [{\"name\": \"u\", \"clearance\": \"ValidUser\","
        "   \"thumbprints\": [\"C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3\"]}]}";
    struct policy *p = load(audit_json, NULL);
    d = run((struct call){.p = p, .cert = USER, .target = "/x"});
    ck_assert(d.allow && d.audit);
    ck_assert_int_eq(d.reason, R(INSUFFICIENT_CLEARANCE));
    d = run((struct call){.p = p, .cert = STRANGER, .target = "/x"});
    ck_assert(d.allow && d.audit);
    ck_assert_int_eq(d.reason, R(UNKNOWN_CERTIFICATE));
    ck_assert(!d.identified);
    d = run((struct call){.p = p, .cert = NO_CERT, .peer = "192.168.0.1", .target = "/x"});
    ck_assert(d.allow && d.audit);
    ck_assert_int_eq(d.reason, R(IP_NOT_ALLOWED));
    d = run((struct call){.p = p, .cert = USER, .target = "/strict/x"});
    ck_assert(!d.allow && !d.audit);
    /* Never audited: a path that cannot be normalized, a misdirected request. */
    d = run((struct call){.p = p, .cert = USER, .target = "/a/../x"});
    ck_assert(!d.allow && !d.audit);
    ck_assert_int_eq(d.reason, R(BAD_PATH));
    d = run((struct call){.p = p, .cert = USER, .target = "/x", .sni = "a", .authority = "b"});
    ck_assert(!d.allow);
    ck_assert_int_eq(d.reason, R(MISDIRECTED));
    d = run((struct call){.p = p, .cert = USER, .target = "/x", .misdirected = true});
    ck_assert(!d.allow && !d.audit);
    ck_assert_int_eq(d.reason, R(MISDIRECTED));
    /* Connection level. */
    struct sockaddr_storage out = peer_of("8.8.8.8");
    bool audit = false;
    ck_assert(policy_allow_peer(p, (struct sockaddr *)&out, &audit));
    ck_assert(audit);
    policy_unref(p);
}
END_TEST

START_TEST(test_no_routes_no_ips)
{
    /* An empty policy denies every request but allows every address. */
    struct policy *p = load("{}", NULL);
    struct sockaddr_storage ss = peer_of("203.0.113.9");
    ck_assert(policy_allow_peer(p, (struct sockaddr *)&ss, NULL));
    ck_assert_int_eq(run((struct call){.p = p, .cert = ADMIN, .target = "/"}).reason,
                     R(NO_MATCHING_ROUTE));
    policy_unref(p);
}
END_TEST

START_TEST(test_reason_strings)
{
    static const char *const names[] = {"ok",
                                        "ip_not_allowed",
                                        "no_certificate",
                                        "unknown_certificate",
                                        "certificate_expired",
                                        "certificate_not_yet_valid",
                                        "insufficient_clearance",
                                        "database_not_allowed",
                                        "no_matching_route",
                                        "route_denied",
                                        "bad_path",
                                        "misdirected",
                                        "untrusted_chain"};
    for (int i = 0; i <= (int)POLICY_REASON_UNTRUSTED_CHAIN; i++) {
        ck_assert_str_eq(policy_reason_str((enum policy_reason)i), names[i]);
    }
    ck_assert_str_eq(policy_clearance_str(POLICY_CLEARANCE_CLUSTER_ADMIN), "ClusterAdmin");
    ck_assert_str_eq(policy_level_str(POLICY_LEVEL_READ_WRITE), "ReadWrite");
    ck_assert_str_eq(policy_requirement_str(POLICY_REQUIRE_AUTHENTICATED), "Authenticated");
    ck_assert_str_eq(policy_match_str(POLICY_MATCH_PIN), "pin");
}
END_TEST

/* Concurrent readers on one snapshot, each with its own reference. */
static void *reader(void *arg)
{
    struct policy *p = policy_ref(arg);
    struct sockaddr_storage ss = peer_of("10.0.0.1");
    struct policy_identity id = {.peer = (struct sockaddr *)&ss, .cert = &certs[USER]};
    char buf[256];
    struct policy_request req = {.now = NOW,
                                 .method = CG_STR_LIT("GET"),
                                 .target = CG_STR_LIT("/db/hr/rw/docs?id=1"),
                                 .buf = buf,
                                 .buf_cap = sizeof(buf)};
    long ok = 0;
    for (int i = 0; i < 20000; i++) {
        struct policy_decision d;
        policy_decide(p, &id, &req, &d);
        ok += d.allow;
    }
    policy_unref(p);
    return (void *)ok;
}

START_TEST(test_concurrent_readers)
{
    struct policy *p = policy_ref(pol);
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(pthread_create(&t[i], NULL, reader, p), 0);
    }
    policy_unref(p);
    for (int i = 0; i < 4; i++) {
        void *ok;
        pthread_join(t[i], &ok);
        ck_assert_int_eq((long)ok, 20000);
    }
    policy_set_generation(pol, 42);
    ck_assert_uint_eq(policy_generation(pol), 42);
    ck_assert_uint_eq(policy_num_routes(pol), 13);
    ck_assert_uint_eq(policy_num_certificates(pol), 8);
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("decide");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_matrix, 0, sizeof(matrix) / sizeof(matrix[0]));
    tcase_add_test(tc, test_decision_fields);
    tcase_add_test(tc, test_entry_index_and_cert_checked);
    tcase_add_test(tc, test_methods);
    tcase_add_test(tc, test_ip_rules);
    tcase_add_test(tc, test_validity_and_expiry);
    tcase_add_test(tc, test_identify);
    tcase_add_test(tc, test_pin_rule);
    tcase_add_test(tc, test_pin_needs_the_issuer_signature);
    tcase_add_test(tc, test_pin_checks_validity_dates);
    tcase_add_test(tc, test_identity_matcher);
    tcase_add_test(tc, test_audit_mode);
    tcase_add_test(tc, test_no_routes_no_ips);
    tcase_add_test(tc, test_reason_strings);
    tcase_add_test(tc, test_chain_required);
    tcase_add_test(tc, test_concurrent_readers);
    suite_add_tcase(s, tc);
    return s;
}
