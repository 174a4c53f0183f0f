/* policy_bench: the cost of authorization with a large policy.
 *
 * Builds a policy.json in memory with 100,000 registered certificates (SHA-1 and
 * SHA-256 thumbprints, half of them with a pin) and 10,000 CIDR blocks, then prints:
 * - the time policy_load_json takes for it (parse, validate, build the tables);
 * - decisions per second on one thread and on every core, over a mix of requests:
 *   known certificates by thumbprint and by pin, unknown certificates, database routes
 *   with {db}, paths that need percent-decoding, and denials.
 *
 * Usage: policy_bench [num_certs [num_cidrs [seconds]]] */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/boringssl.h"
#include "common/hex.h"

#include <openssl/base64.h>
#include <openssl/sha.h>

#include "policy/cert_facts.h"
#include "policy/policy.h"

struct buf {
    char *p;
    size_t len, cap;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct buf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        b->cap = b->cap * 2 + 4096;
        b->p = realloc(b->p, b->cap);
        if (b->p == NULL) {
            abort();
        }
    }
}

/* Deterministic pseudo-random bytes (splitmix64). */
static uint64_t rng_state = 42;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static void fill(uint8_t *p, size_t n, uint64_t seed)
{
    uint64_t saved = rng_state;
    rng_state = seed;
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)rnd();
    }
    rng_state = saved;
}

static void put_hex(struct buf *b, const uint8_t *p, size_t n)
{
    char hex[65];
    cg_hex_encode(p, n, CG_HEX_UPPER, hex);
    put(b, "%s", hex);
}

static const char *const b64chars =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void put_b64_32(struct buf *b, const uint8_t *p)
{
    char out[45];
    size_t o = 0;
    for (size_t i = 0; i < 30; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = b64chars[v >> 18 & 63];
        out[o++] = b64chars[v >> 12 & 63];
        out[o++] = b64chars[v >> 6 & 63];
        out[o++] = b64chars[v & 63];
    }
    uint32_t v = (uint32_t)p[30] << 16 | (uint32_t)p[31] << 8;
    out[o++] = b64chars[v >> 18 & 63];
    out[o++] = b64chars[v >> 12 & 63];
    out[o++] = b64chars[v >> 6 & 63];
    out[o++] = '=';
    out[o] = '\0';
    put(b, "%s", out);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define NUM_FACTS 4096
#define ISSUER "CN=certgate CA,O=Bench"
/* The pinned issuer's public key (an EC P-256 SubjectPublicKeyInfo, base64 DER). */
#define ISSUER_SPKI                                                                                \
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEDj1j9BgsVAF7lQ0TFf3yH41XZsKcMKNa39mKnyT18++DcK5xCH1J"     \
    "IjpTflmLUF3jNYV/icDjmY749BvnHybBmg=="

static struct policy_cert_facts facts[NUM_FACTS];
static char issuer[] = ISSUER;
static uint8_t issuer_spki_sha256[POLICY_SHA256_LEN];

static const char *const targets[] = {
    "/databases/db3/docs?id=users/1",
    "/databases/db7/queries",
    "/databases/db1/admin/indexes",
    "/databases/db%31/docs?id=2",
    "/admin/databases",
    "/healthz",
    "/cluster/topology",
    "/databases/db3/streams/docs?startsWith=a",
};

struct worker {
    const struct policy *p;
    double seconds;
    uint64_t decisions;
    uint64_t allowed;
};

static void *run(void *arg)
{
    struct worker *w = arg;
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = htonl(0x0a000001);
    char buf[512];
    struct policy_request req = {.now = 1800000000,
                                 .sni = {"db.example.com", 14},
                                 .authority = {"db.example.com:8443", 19},
                                 .buf = buf,
                                 .buf_cap = sizeof(buf)};
    struct policy_identity id = {.peer = (struct sockaddr *)&sin};
    static const struct cg_str methods[] = {{"GET", 3}, {"POST", 4}, {"PUT", 3}};
    uint64_t n = 0, allowed = 0;
    unsigned k = (unsigned)(uintptr_t)w;
    double end = now_s() + w->seconds;
    for (;;) {
        for (int i = 0; i < 4096; i++, k++) {
            id.cert = &facts[(k * 2654435761u) % NUM_FACTS];
            req.method = methods[k % 3];
            req.target = cg_str_from_cstr(targets[k % 8]);
            struct policy_decision d;
            policy_decide(w->p, &id, &req, &d);
            allowed += d.allow;
        }
        n += 4096;
        if (now_s() >= end) {
            break;
        }
    }
    w->decisions = n;
    w->allowed = allowed;
    return NULL;
}

int main(int argc, char **argv)
{
    size_t num_certs = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
    size_t num_cidrs = argc > 2 ? strtoul(argv[2], NULL, 10) : 10000;
    double seconds = argc > 3 ? strtod(argv[3], NULL) : 2.0;

    /* ---- the policy ---- */
    struct buf b = {0};
    put(&b, "{\n  \"allow_ips\": [\"10.0.0.0/8\"");
    for (size_t i = 0; i < num_cidrs; i++) {
        uint64_t r = rnd();
        if (i % 10 == 9) {
            put(&b, ", \"2001:db8:%x:%x::/64\"", (unsigned)(r & 0xffff),
                (unsigned)(r >> 16 & 0xffff));
        } else {
            unsigned prefix = 16 + (unsigned)(r % 17);
            uint32_t a =
                (uint32_t)(r >> 32) & (prefix == 32 ? UINT32_MAX : ~(UINT32_MAX >> prefix));
            if ((a >> 24) == 10) {
                a ^= 0x20000000; /* keep 10/8 a single block */
            }
            put(&b, ", \"%u.%u.%u.%u/%u\"", a >> 24, a >> 16 & 255, a >> 8 & 255, a & 255, prefix);
        }
    }
    put(&b, "],\n  \"routes\": [\n"
            "    {\"path\": \"/healthz\", \"require\": \"Public\"},\n"
            "    {\"path\": \"/admin/cluster/*\", \"require\": \"ClusterAdmin\"},\n"
            "    {\"path\": \"/admin/*\", \"require\": \"Operator\"},\n"
            "    {\"path\": \"/databases/{db}/admin/*\", \"require\": \"Admin\"},\n"
            "    {\"path\": \"/databases/{db}/*\", \"methods\": [\"GET\", \"HEAD\"], \"require\": "
            "\"ReadOnly\"},\n"
            "    {\"path\": \"/databases/{db}/queries\", \"methods\": [\"POST\"], \"require\": "
            "\"ReadOnly\"},\n"
            "    {\"path\": \"/databases/{db}/*\", \"require\": \"ReadWrite\"},\n"
            "    {\"path\": \"/*\", \"require\": \"Authenticated\"}\n  ],\n"
            "  \"certificates\": [\n");
    static const char *const clearances[] = {"ValidUser", "ValidUser", "ValidUser", "Operator",
                                             "ClusterAdmin"};
    static const char *const levels[] = {"ReadOnly", "ReadWrite", "Admin"};
    for (size_t i = 0; i < num_certs; i++) {
        uint8_t sha1[20], sha256[32], spki[32];
        fill(sha1, 20, i * 3 + 1);
        fill(sha256, 32, i * 3 + 2);
        fill(spki, 32, i * 3 + 3);
        put(&b, "%s    {\"name\": \"client-%zu\", \"clearance\": \"%s\", \"thumbprints\": [\"",
            i ? ",\n" : "", i, clearances[i % 5]);
        put_hex(&b, sha1, 20);
        put(&b, "\", \"");
        put_hex(&b, sha256, 32);
        put(&b, "\"], \"databases\": {\"db%zu\": \"%s\", \"db%zu\": \"%s\"}", i % 10, levels[i % 3],
            (i + 3) % 10, levels[(i + 1) % 3]);
        if (i % 2 == 0) {
            put(&b, ", \"pins\": [{\"spki_sha256\": \"");
            put_b64_32(&b, spki);
            put(&b, "\", \"issuer\": \"" ISSUER "\", \"issuer_key_id\": \"0102030405\", "
                    "\"issuer_spki\": \"" ISSUER_SPKI "\"}]");
        }
        put(&b, "}");
    }
    put(&b, "\n  ]\n}\n");

    double t0 = now_s();
    struct policy *p = NULL;
    struct cg_errbuf err = {{0}};
    if (policy_load_json("bench.json", b.p, b.len, NULL, &p, &err) != 0) {
        fprintf(stderr, "policy_bench: %s\n", err.msg);
        return 1;
    }
    double load_s = now_s() - t0;
    printf("policy: %zu certificates, %zu CIDR blocks, %zu routes, %.1f MiB of JSON\n",
           policy_num_certificates(p), num_cidrs + 1, policy_num_routes(p),
           (double)b.len / (1024.0 * 1024.0));
    printf("load (parse + validate + index): %.3f s\n", load_s);
    free(b.p);

    /* ---- the certificates presented: 50% by thumbprint, 25% by pin, 25% unknown ---- */
    uint8_t spki_der[128];
    size_t spki_len = 0;
    EVP_DecodeBase64(spki_der, &spki_len, sizeof(spki_der), (const uint8_t *)ISSUER_SPKI,
                     strlen(ISSUER_SPKI));
    SHA256(spki_der, spki_len, issuer_spki_sha256);
    for (size_t j = 0; j < NUM_FACTS; j++) {
        struct policy_cert_facts *f = &facts[j];
        size_t i = (size_t)(rnd() % num_certs);
        f->not_before = 1700000000;
        f->not_after = 1900000000;
        f->issuer = issuer;
        switch (j % 4) {
        case 0:
        case 1:
            fill(f->sha1, 20, i * 3 + 1);
            break;
        case 2: /* renewed: new thumbprint, pinned key */
            i &= ~(size_t)1;
            fill(f->sha1, 20, rnd());
            fill(f->sha256, 32, rnd());
            fill(f->spki_sha256, 32, i * 3 + 3);
            memcpy(f->aki, "\x01\x02\x03\x04\x05", 5);
            f->aki_len = 5;
            /* The proof policy_pin_verify leaves after the handshake (decisions never
             * verify signatures: that is per handshake, not per request). */
            f->issuer_checked = true;
            f->issuer_verified = true;
            memcpy(f->issuer_spki_sha256, issuer_spki_sha256, POLICY_SHA256_LEN);
            break;
        default:
            fill(f->sha1, 20, rnd());
            fill(f->sha256, 32, rnd());
            fill(f->spki_sha256, 32, rnd());
            break;
        }
    }

    struct worker one = {.p = p, .seconds = seconds};
    run(&one);
    printf("decide, 1 thread: %.2f M decisions/s (%.0f ns each, %.0f%% allowed)\n",
           (double)one.decisions / seconds / 1e6, seconds * 1e9 / (double)one.decisions,
           100.0 * (double)one.allowed / (double)one.decisions);

    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu > 1) {
        struct worker ws[64];
        pthread_t th[64];
        size_t n = ncpu > 64 ? 64 : (size_t)ncpu;
        for (size_t i = 0; i < n; i++) {
            ws[i] = (struct worker){.p = policy_ref(p), .seconds = seconds};
            pthread_create(&th[i], NULL, run, &ws[i]);
        }
        uint64_t total = 0;
        for (size_t i = 0; i < n; i++) {
            pthread_join(th[i], NULL);
            total += ws[i].decisions;
            policy_unref((struct policy *)ws[i].p);
        }
        printf("decide, %zu threads: %.2f M decisions/s in total\n", n,
               (double)total / seconds / 1e6);
    }

    t0 = now_s();
    policy_unref(p);
    printf("free: %.3f s\n", now_s() - t0);
    return 0;
}
