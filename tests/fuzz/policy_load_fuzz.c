/* FUZZ_MODULE: policy */
/* FUZZ_DICT: policy_load.dict */
/* libFuzzer target for the policy loader (policy/policy_load.c) and, on what loads, the
 * decision: the input is a policy.json. A failed load must leave one non-empty error
 * line and no leak; a loaded policy must answer a few fixed requests with a consistent
 * decision (allow iff reason ok or audit; a status for every denial). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/headers.h"
#include "policy/policy.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_decision(const struct policy *p, const char *target, bool with_cert)
{
    static struct policy_cert_facts cert;
    memset(&cert, 0, sizeof(cert));
    memset(cert.sha1, 0xa1, sizeof(cert.sha1));
    memset(cert.sha256, 0xa1, sizeof(cert.sha256));
    cert.not_before = 0;
    cert.not_after = 4000000000;
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = htonl(0x0a000001);
    struct policy_identity id = {
        .peer = (struct sockaddr *)&sin, .cert = with_cert ? &cert : NULL, .chain_validated = true};
    char buf[256];
    struct policy_request req = {.now = 1800000000,
                                 .method = CG_STR_LIT("GET"),
                                 .sni = CG_STR_LIT("db.example.com"),
                                 .authority = CG_STR_LIT("db.example.com:8443"),
                                 .target = cg_str_from_cstr(target),
                                 .buf = buf,
                                 .buf_cap = sizeof(buf)};
    struct policy_decision d;
    policy_decide(p, &id, &req, &d);
    CHECK(d.allow == (d.reason == POLICY_REASON_OK || d.audit));
    CHECK(d.allow || d.http_status == 400 || d.http_status == 403 || d.http_status == 421);
    if (d.has_database) {
        CHECK(d.database.len > 0);
    }
    char hbuf[4096];
    struct policy_header hs[POLICY_MAX_HEADERS];
    size_t n;
    if (policy_headers_build(p, &d, &cert, CG_STR_LIT(":MAA=:"), hbuf, sizeof(hbuf), hs, &n) ==
        0) {
        CHECK(n <= POLICY_MAX_HEADERS);
        for (size_t i = 0; i < n; i++) {
            CHECK(policy_header_is_owned(p, hs[i].name));
            for (size_t j = 0; j < hs[i].value.len; j++) {
                unsigned char c = (unsigned char)hs[i].value.p[j];
                CHECK(c != '\r' && c != '\n' && c != '\0');
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct policy_load_opts opts = {.client_ca = size % 2 == 0};
    struct policy *p = NULL;
    struct cg_errbuf err = {{0}};
    int rc = policy_load_json("fuzz.json", (const char *)data, size, &opts, &p, &err);
    if (rc != 0) {
        CHECK(p == NULL);
        CHECK(err.msg[0] != '\0');
        return 0;
    }
    static const char *const targets[] = {"/",
                                          "/databases/hr/docs?id=1",
                                          "/admin/cluster/x",
                                          "/query?db=hr",
                                          "/etcdserverpb.KV/Range",
                                          "/a/../b"};
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        check_decision(p, targets[i], true);
        check_decision(p, targets[i], false);
    }
    struct policy *ref = policy_ref(p);
    policy_unref(ref);
    policy_unref(p);
    return 0;
}
