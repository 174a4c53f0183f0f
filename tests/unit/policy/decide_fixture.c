/* The policy, certificates and call helper shared by decide_test.c and
 * decide_request_test.c (tests/CMakeLists.txt links a folder's PREFIX_fixture.c into its
 * PREFIX*_test.c). */
#include "decide_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "common/boringssl.h"

#include <openssl/base64.h>
#include <openssl/sha.h>

/* An EC P-256 SubjectPublicKeyInfo (tests/data/pki/ca.pem's): the pin's issuer key. */
#define PIN_ISSUER_SPKI                                                                            \
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEDj1j9BgsVAF7lQ0TFf3yH41XZsKcMKNa39mKnyT18++DcK5xCH1J"     \
    "IjpTflmLUF3jNYV/icDjmY749BvnHybBmg=="

static const char policy_json[] =
    "{\n"
    "  \"allow_ips\": [\"10.0.0.0/8\", \"127.0.0.1\", \"::1\"],\n"
    "  \"routes\": [\n"
    "    {\"path\": \"/public/*\", \"require\": \"Public\"},\n"
    "    {\"path\": \"/auth/*\", \"require\": \"Authenticated\"},\n"
    "    {\"path\": \"/deny/*\", \"require\": \"Deny\"},\n"
    "    {\"path\": \"/op/*\", \"require\": \"Operator\"},\n"
    "    {\"path\": \"/ca/*\", \"require\": \"ClusterAdmin\"},\n"
    "    {\"path\": \"/db/{db}/ro/*\", \"require\": \"ReadOnly\"},\n"
    "    {\"path\": \"/db/{db}/rw/*\", \"require\": \"ReadWrite\"},\n"
    "    {\"path\": \"/db/{db}/admin/*\", \"require\": \"Admin\"},\n"
    "    {\"path\": \"/fixed\", \"database\": \"hr\", \"require\": \"ReadWrite\"},\n"
    "    {\"path\": \"/query\", \"database_from_query\": \"db\", \"require\": \"ReadOnly\"},\n"
    "    {\"path\": \"/audit/*\", \"require\": \"ClusterAdmin\", \"mode\": \"audit\"},\n"
    "    {\"path\": \"/get-only\", \"methods\": [\"GET\", \"HEAD\"], \"require\": "
    "\"Authenticated\"},\n"
    "    {\"path\": \"/pub-db/{db}\", \"require\": \"Public\"}\n"
    "  ],\n"
    "  \"certificates\": [\n"
    "    {\"name\": \"admin\", \"clearance\": \"ClusterAdmin\",\n"
    "     \"thumbprints\": [\"a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1\"]},\n"
    "    {\"name\": \"op\", \"clearance\": \"Operator\", \"thumbprints\": [\n"
    "     "
    "\"B2:B2:B2:B2:B2:B2:B2:B2:B2:B2:B2:B2:B2:B2:B2:B2:B2:B2:B2:B2:B2:B2:B2:B2:B2:B2:B2:B2:B2:B2:"
    "B2:B2\"]},\n"
    "    {\"name\": \"user\", \"clearance\": \"ValidUser\",\n"
    "     \"thumbprints\": [\"C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3\"],\n"
    "     \"databases\": {\"hr\": \"ReadWrite\", \"my db\": \"ReadOnly\"}},\n"
    "    {\"name\": \"pinned\", \"clearance\": \"ValidUser\", \"databases\": {\"hr\": "
    "\"ReadOnly\"},\n"
    "     \"pins\": [{\"spki_sha256\": \"1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NQ=\",\n"
    "                \"issuer\": \"CN=Pin CA,O=Acme\\\\, Inc.\", \"issuer_key_id\": "
    "\"01:02:03\",\n"
    "                \"issuer_spki\": \"" PIN_ISSUER_SPKI "\"}]},\n"
    "    {\"name\": \"restricted\", \"clearance\": \"ClusterAdmin\", \"allow_ips\": "
    "[\"10.1.0.0/16\"],\n"
    "     \"thumbprints\": [\"E5E5E5E5E5E5E5E5E5E5E5E5E5E5E5E5E5E5E5E5\"]},\n"
    "    {\"name\": \"expiring\", \"clearance\": \"ClusterAdmin\", \"expires\": "
    "\"2027-06-01T00:00:00Z\",\n"
    "     \"thumbprints\": [\"F6F6F6F6F6F6F6F6F6F6F6F6F6F6F6F6F6F6F6F6\"]},\n"
    "    {\"name\": \"spiffe\", \"clearance\": \"ValidUser\", \"databases\": {\"hr\": "
    "\"ReadOnly\"},\n"
    "     \"match\": {\"uri_san\": \"spiffe://example.org/app\"}},\n"
    "    {\"name\": \"catalog\", \"clearance\": \"ValidUser\",\n"
    "     \"thumbprints\": [\"1717171717171717171717171717171717171717\"],\n"
    "     \"databases\": {\"Catalog\": \"ReadOnly\", \"ops\": \"Admin\"}}\n"
    "  ]\n"
    "}\n";

struct policy *pol;
struct policy_cert_facts certs[STRANGER + 1];
static char *spiffe_uri = (char[]){"spiffe://example.org/app"};
static char *pin_issuer = (char[]){"CN=Pin CA,O=Acme\\, Inc."};

static void fake_cert(struct policy_cert_facts *f, uint8_t tag)
{
    memset(f, 0, sizeof(*f));
    memset(f->sha1, tag, sizeof(f->sha1));
    memset(f->sha256, tag, sizeof(f->sha256));
    memset(f->spki_sha256, tag, sizeof(f->spki_sha256));
    f->not_before = NOW - 86400;
    f->not_after = NOW + 86400 * 365;
}

struct policy *load(const char *json, const struct policy_load_opts *opts)
{
    struct policy *p = NULL;
    struct cg_errbuf err = {{0}};
    int rc = policy_load_json("test.json", json, strlen(json), opts, &p, &err);
    ck_assert_msg(rc == 0, "load failed: %s", err.msg);
    return p;
}

void setup(void)
{
    struct policy_load_opts opts = {.client_ca = true};
    pol = load(policy_json, &opts);
    fake_cert(&certs[ADMIN], 0xa1);
    fake_cert(&certs[OP], 0xb2);
    fake_cert(&certs[USER], 0xc3);
    fake_cert(&certs[PINNED], 0x99);
    memset(certs[PINNED].spki_sha256, 0xd4, 32);
    certs[PINNED].issuer = pin_issuer;
    certs[PINNED].aki[0] = 1;
    certs[PINNED].aki[1] = 2;
    certs[PINNED].aki[2] = 3;
    certs[PINNED].aki_len = 3;
    /* What policy_pin_verify records when the issuer key verified the signature
     * (cert_facts_test.c and registry_test.c do it with real certificates). */
    uint8_t der[128];
    size_t der_len;
    ck_assert(EVP_DecodeBase64(der, &der_len, sizeof(der), (const uint8_t *)PIN_ISSUER_SPKI,
                               strlen(PIN_ISSUER_SPKI)));
    SHA256(der, der_len, certs[PINNED].issuer_spki_sha256);
    certs[PINNED].issuer_checked = true;
    certs[PINNED].issuer_verified = true;
    fake_cert(&certs[RESTRICTED], 0xe5);
    fake_cert(&certs[EXPIRING], 0xf6);
    fake_cert(&certs[SPIFFE], 0x55);
    certs[SPIFFE].uri_sans[0] = spiffe_uri;
    certs[SPIFFE].num_uri_sans = 1;
    fake_cert(&certs[CATALOG], 0x17);
    fake_cert(&certs[STRANGER], 0x42);
}

void teardown(void)
{
    policy_unref(pol);
    pol = NULL;
}

struct sockaddr_storage peer_of(const char *text)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
    } else {
        ck_assert_int_eq(inet_pton(AF_INET6, text, &sin6->sin6_addr), 1);
        sin6->sin6_family = AF_INET6;
    }
    return ss;
}

static char scratch[4096];

struct policy_decision run(struct call c)
{
    struct sockaddr_storage ss = peer_of(c.peer ? c.peer : "10.0.0.1");
    struct policy_identity id = {
        .peer = (const struct sockaddr *)&ss,
        .cert = c.cert == NO_CERT ? NULL : &certs[c.cert],
        .chain_validated = c.chain_validated,
        .chain_required = c.chain_required,
    };
    struct policy_request req = {
        .now = c.now ? c.now : NOW,
        .sni = cg_str_from_cstr(c.sni ? c.sni : ""),
        .method = cg_str_from_cstr(c.method ? c.method : "GET"),
        .authority = cg_str_from_cstr(c.authority ? c.authority : ""),
        .target = cg_str_from_cstr(c.target),
        .misdirected = c.misdirected,
        .path_opts = c.path_opts,
        .buf = scratch,
        .buf_cap = sizeof(scratch),
    };
    struct policy_decision d;
    policy_decide(c.p ? c.p : pol, &id, &req, &d);
    /* Invariants of every decision. */
    ck_assert(d.allow == (d.reason == POLICY_REASON_OK || d.audit));
    ck_assert(d.allow ? d.http_status == 0 || d.audit : d.http_status != 0);
    return d;
}
