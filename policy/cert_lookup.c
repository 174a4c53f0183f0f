/* The certificate registry's lookup tables: open addressing with linear probing over
 * digests. The keys are cryptographic hashes, so their first bytes are already
 * uniformly distributed and serve as the hash. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/boringssl.h"

#include <openssl/sha.h>

#include "common/bug.h"
#include "common/mem.h"
#include "policy/policy_internal.h"

static size_t stride(const struct policy_hashtab *t)
{
    return t->key_len + sizeof(uint32_t);
}

static size_t slot_hash(const struct policy_hashtab *t, const uint8_t *key)
{
    uint64_t h;
    memcpy(&h, key, sizeof(h));
    /* Mix anyway: a policy author could choose keys, and this costs one multiply. */
    h ^= h >> 29;
    h *= UINT64_C(0xbf58476d1ce4e5b9);
    h ^= h >> 32;
    return (size_t)h & (t->cap - 1);
}

static uint32_t slot_value(const uint8_t *slot, size_t key_len)
{
    uint32_t v;
    memcpy(&v, slot + key_len, sizeof(v));
    return v;
}

void policy_hashtab_init(struct policy_hashtab *t, size_t key_len)
{
    memset(t, 0, sizeof(*t));
    t->key_len = key_len;
}

static void put(struct policy_hashtab *t, const uint8_t *key, uint32_t value_plus1)
{
    size_t i = slot_hash(t, key);
    for (;;) {
        uint8_t *slot = t->slots + i * stride(t);
        if (slot_value(slot, t->key_len) == 0) {
            memcpy(slot, key, t->key_len);
            memcpy(slot + t->key_len, &value_plus1, sizeof(value_plus1));
            t->num++;
            return;
        }
        i = (i + 1) & (t->cap - 1);
    }
}

static void grow(struct policy_hashtab *t)
{
    struct policy_hashtab old = *t;
    t->cap = old.cap ? old.cap * 2 : 16;
    t->num = 0;
    t->slots = cg_xcalloc(t->cap, stride(t));
    for (size_t i = 0; i < old.cap; i++) {
        const uint8_t *slot = old.slots + i * stride(&old);
        uint32_t v = slot_value(slot, old.key_len);
        if (v != 0) {
            put(t, slot, v);
        }
    }
    free(old.slots);
}

int policy_hashtab_insert(struct policy_hashtab *t, const uint8_t *key, uint32_t value, bool unique,
                          uint32_t *out_existing)
{
    CG_BUG_ON(value == UINT32_MAX);
    if (unique) {
        size_t cursor = 0;
        uint32_t existing;
        if (policy_hashtab_next(t, key, &cursor, &existing)) {
            if (out_existing != NULL) {
                *out_existing = existing;
            }
            return CG_ERR_EXISTS;
        }
    }
    if ((t->num + 1) * 2 > t->cap) {
        grow(t);
    }
    put(t, key, value + 1);
    return CG_OK;
}

bool policy_hashtab_next(const struct policy_hashtab *t, const uint8_t *key, size_t *cursor,
                         uint32_t *out_value)
{
    if (t->cap == 0) {
        return false;
    }
    /* |*cursor| counts the probes already made from the home slot. */
    size_t home = slot_hash(t, key);
    for (size_t n = *cursor; n < t->cap; n++) {
        const uint8_t *slot = t->slots + ((home + n) & (t->cap - 1)) * stride(t);
        uint32_t v = slot_value(slot, t->key_len);
        if (v == 0) {
            *cursor = t->cap;
            return false;
        }
        if (memcmp(slot, key, t->key_len) == 0) {
            *cursor = n + 1;
            *out_value = v - 1;
            return true;
        }
    }
    *cursor = t->cap;
    return false;
}

void policy_hashtab_cleanup(struct policy_hashtab *t)
{
    free(t->slots);
    t->slots = NULL;
    t->cap = 0;
    t->num = 0;
}

static bool matcher_ok(const struct policy_matcher *m, const struct policy_cert_facts *f)
{
    if (m->subject_cn != NULL &&
        (f->subject_cn == NULL || strcmp(m->subject_cn, f->subject_cn) != 0)) {
        return false;
    }
    if (m->dns_san != NULL) {
        bool found = false;
        for (size_t i = 0; i < f->num_dns_sans && !found; i++) {
            found = strcasecmp(m->dns_san, f->dns_sans[i]) == 0;
        }
        if (!found) {
            return false;
        }
    }
    if (m->uri_san != NULL) {
        bool found = false;
        for (size_t i = 0; i < f->num_uri_sans && !found; i++) {
            found = strcmp(m->uri_san, f->uri_sans[i]) == 0;
        }
        if (!found) {
            return false;
        }
    }
    return true;
}

/* find_thumbprint sets |*out_entry| to the entry registering |f|'s SHA-1 or SHA-256;
 * false if none does. */
static bool find_thumbprint(const struct policy *p, const struct policy_cert_facts *f,
                            uint32_t *out_entry)
{
    size_t cursor = 0;
    if (policy_hashtab_next(&p->by_sha1, f->sha1, &cursor, out_entry)) {
        return true;
    }
    cursor = 0;
    return policy_hashtab_next(&p->by_sha256, f->sha256, &cursor, out_entry);
}

/* find_pin returns the pin naming |f|'s key, issuer and issuer key id (RavenDB's
 * renewal rule), or NULL. The loader refuses two such pins, so there is at most one. */
static const struct policy_pin *find_pin(const struct policy *p, const struct policy_cert_facts *f)
{
    uint32_t idx;
    size_t cursor = 0;
    while (policy_hashtab_next(&p->by_spki, f->spki_sha256, &cursor, &idx)) {
        const struct policy_pin *pin = &p->pins[idx];
        if (f->issuer != NULL && strcmp(pin->issuer, f->issuer) == 0 &&
            pin->aki_len == f->aki_len && memcmp(pin->aki, f->aki, f->aki_len) == 0) {
            return pin;
        }
    }
    return NULL;
}

/* proven reports whether |f| carries a proof that |pin|'s issuer key signed it. */
static bool proven(const struct policy_pin *pin, const struct policy_cert_facts *f)
{
    return f->issuer_checked && f->issuer_verified &&
           memcmp(f->issuer_spki_sha256, pin->issuer_spki_sha256, POLICY_SHA256_LEN) == 0;
}

void policy_pin_verify(const struct policy *p, const uint8_t *der, size_t der_len,
                       struct policy_cert_facts *f)
{
    uint32_t entry;
    if (find_thumbprint(p, f, &entry)) {
        return; /* the pin is never consulted for it */
    }
    const struct policy_pin *pin = find_pin(p, f);
    if (pin == NULL) {
        return;
    }
    if (f->issuer_checked &&
        memcmp(f->issuer_spki_sha256, pin->issuer_spki_sha256, POLICY_SHA256_LEN) == 0) {
        return; /* already checked with this key, whatever the outcome */
    }
    /* Names and key identifiers are public: anyone can make a CA that carries the real
     * one's. Only the real issuer's signature ties a new certificate to the pin. */
    uint8_t digest[POLICY_SHA256_LEN];
    bool same_cert = der != NULL && der_len > 0;
    if (same_cert) {
        SHA256(der, der_len, digest);
        same_cert = memcmp(digest, f->sha256, POLICY_SHA256_LEN) == 0;
    }
    f->issuer_checked = true;
    memcpy(f->issuer_spki_sha256, pin->issuer_spki_sha256, POLICY_SHA256_LEN);
    f->issuer_verified = same_cert && policy_cert_signed_by(der, der_len, pin->issuer_key);
}

enum policy_match policy_registry_find(const struct policy *p, const struct policy_cert_facts *f,
                                       bool chain_validated, uint32_t *out_entry)
{
    if (find_thumbprint(p, f, out_entry)) {
        return POLICY_MATCH_THUMBPRINT;
    }
    /* RavenDB's renewal rule: same key, same issuer, same issuer key id, and (what
     * makes it safe) a signature by the issuer key registered with the pin. */
    const struct policy_pin *pin = find_pin(p, f);
    if (pin != NULL && proven(pin, f)) {
        *out_entry = pin->entry;
        return POLICY_MATCH_PIN;
    }
    /* Identity matchers only vouch for chains the listener validated. */
    if (chain_validated) {
        for (size_t i = 0; i < p->num_matcher_entries; i++) {
            const struct policy_entry *e = &p->entries[p->matcher_entries[i]];
            for (size_t j = 0; j < e->num_matchers; j++) {
                if (matcher_ok(&e->matchers[j], f)) {
                    *out_entry = p->matcher_entries[i];
                    return POLICY_MATCH_IDENTITY;
                }
            }
        }
    }
    return POLICY_MATCH_NONE;
}
