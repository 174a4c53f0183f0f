/* The facts about a client certificate that authorization needs, extracted once per
 * TLS handshake (not per request) from the leaf's DER encoding.
 *
 * Also used by pki/ to print thumbprints and pins and to register entries, so that the
 * values the CLI writes into a policy are computed by exactly the code that matches
 * them at run time. */
#ifndef CG_POLICY_CERT_FACTS_H
#define CG_POLICY_CERT_FACTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/boringssl.h"
#include "common/err.h"

#define POLICY_SHA1_LEN 20
#define POLICY_SHA256_LEN 32
#define POLICY_MAX_SANS 16

struct policy_cert_facts {
    uint8_t sha1[POLICY_SHA1_LEN];      /* SHA-1 of the DER certificate (thumbprint) */
    uint8_t sha256[POLICY_SHA256_LEN];  /* SHA-256 of the DER certificate */
    uint8_t spki_sha256[POLICY_SHA256_LEN]; /* SHA-256 of the DER SubjectPublicKeyInfo
                                               (i2d_X509_PUBKEY), the RavenDB pin */
    char *subject;          /* RFC 2253-style one-line subject, e.g. "CN=app,O=Acme" */
    char *subject_cn;       /* first CN of the subject, or NULL */
    char *issuer;           /* issuer name in the same format as subject */
    uint8_t aki[64];        /* authority key identifier (keyIdentifier) bytes */
    size_t aki_len;         /* 0 when the certificate has no AKI */
    time_t not_before;      /* validity, seconds since the epoch (UTC) */
    time_t not_after;
    char *serial_hex;       /* serial number, upper-case hex */
    char *dns_sans[POLICY_MAX_SANS]; /* subjectAltName dNSName entries (first 16) */
    size_t num_dns_sans;
    char *uri_sans[POLICY_MAX_SANS]; /* subjectAltName URI entries, e.g. spiffe://... */
    size_t num_uri_sans;
    /* The pin proof (policy_pin_verify in policy.h): whether the certificate's signature
     * was checked with, and verified by, the issuer key whose SubjectPublicKeyInfo has
     * the SHA-256 below. All-zero: never checked. Pin trust needs issuer_verified for
     * the pin's own issuer key. */
    bool issuer_checked;
    bool issuer_verified;
    uint8_t issuer_spki_sha256[POLICY_SHA256_LEN];
};

/* policy_cert_facts_from_der parses the DER certificate |der| and fills |out| (which
 * must be zeroed or cleaned up before). On success the caller owns the strings and
 * releases them with policy_cert_facts_cleanup. Returns CG_ERR_INVALID with a message
 * if |der| is not a certificate. */
int policy_cert_facts_from_der(const uint8_t *der, size_t der_len,
                               struct policy_cert_facts *out, struct cg_errbuf *err);

/* policy_cert_signed_by reports whether the signature of the DER certificate |der|
 * verifies with |issuer_key| (and its outer and inner signature algorithms agree). Only
 * the signature: names, dates and extensions are the caller's business. False for
 * anything that does not parse. Thread-safe: |issuer_key| is only read. */
bool policy_cert_signed_by(const uint8_t *der, size_t der_len, EVP_PKEY *issuer_key);

/* policy_cert_facts_cleanup frees the strings of |f| and zeroes it. Safe on a zeroed
 * struct. */
void policy_cert_facts_cleanup(struct policy_cert_facts *f);

/* policy_thumbprint_parse accepts a SHA-1 (40 hex digits) or SHA-256 (64) thumbprint
 * in any letter case, with or without ':' separators, and writes the raw bytes to
 * |out| (32 bytes capacity) and their count (20 or 32) to |*out_len|. */
int policy_thumbprint_parse(const char *text, uint8_t *out, size_t *out_len);

#endif
