/* Certificate facts with BoringSSL.
 *
 * Name format (subject and issuer): RFC 2253 order and escaping, the same text as
 * `openssl x509 -noout -issuer -nameopt RFC2253` prints for ordinary names: RDNs from
 * the last (most specific) to the first, separated by ',' without spaces; attributes of
 * a multi-valued RDN joined by '+'; short attribute names (CN, O, OU, C, L, ST, DC,
 * emailAddress, ...) and the dotted OID for unknown types; values converted to UTF-8,
 * with ',', '+', '"', '\', '<', '>', ';', a leading '#' or space and a trailing space
 * escaped by a backslash, and control and non-ASCII bytes written as \XX (upper-case
 * hex). The result is pure printable ASCII, safe in a header value. */
#include "policy/cert_facts.h"

#include "common/boringssl.h"

#include <limits.h>
#include <openssl/asn1.h>
#include <openssl/bytestring.h>
#include <openssl/err.h>
#include <openssl/mem.h>
#include <openssl/obj.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"
#include "common/mem.h"
#include "common/timestamp.h"

/* A growable string for the name formatter (only at handshake time, never per
 * request). */
struct sbuf {
    char *p;
    size_t len, cap;
};

static void sb_putc(struct sbuf *b, char c)
{
    if (b->len + 2 > b->cap) {
        b->cap = b->cap ? b->cap * 2 : 64;
        b->p = cg_xrealloc(b->p, b->cap);
    }
    b->p[b->len++] = c;
    b->p[b->len] = '\0';
}

static void sb_puts(struct sbuf *b, const char *s)
{
    while (*s) {
        sb_putc(b, *s++);
    }
}

static void sb_put_hex_escape(struct sbuf *b, unsigned char c)
{
    sb_putc(b, '\\');
    sb_putc(b, cg_hex_upper[c >> 4]);
    sb_putc(b, cg_hex_upper[c & 15]);
}

static void put_value(struct sbuf *b, const unsigned char *v, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = v[i];
        bool first = i == 0, last = i + 1 == len;
        if (c < 0x20 || c >= 0x7f) {
            sb_put_hex_escape(b, c);
        } else if (c == ',' || c == '+' || c == '"' || c == '\\' || c == '<' || c == '>' ||
                   c == ';' || (first && (c == '#' || c == ' ')) || (last && c == ' ')) {
            sb_putc(b, '\\');
            sb_putc(b, (char)c);
        } else {
            sb_putc(b, (char)c);
        }
    }
}

static void put_entry(struct sbuf *b, const X509_NAME_ENTRY *ne)
{
    const ASN1_OBJECT *obj = X509_NAME_ENTRY_get_object(ne);
    int nid = OBJ_obj2nid(obj);
    const char *sn = nid != NID_undef ? OBJ_nid2sn(nid) : NULL;
    if (sn != NULL) {
        sb_puts(b, sn);
    } else {
        char oid[128];
        if (OBJ_obj2txt(oid, sizeof(oid), obj, 1) <= 0) {
            snprintf(oid, sizeof(oid), "UNKNOWN");
        }
        sb_puts(b, oid);
    }
    sb_putc(b, '=');
    const ASN1_STRING *data = X509_NAME_ENTRY_get_data(ne);
    unsigned char *utf8 = NULL;
    int n = ASN1_STRING_to_UTF8(&utf8, data);
    if (n >= 0) {
        put_value(b, utf8, (size_t)n);
        OPENSSL_free(utf8);
    } else {
        /* Not a string type: show the raw content bytes as escapes. */
        ERR_clear_error();
        put_value(b, ASN1_STRING_get0_data(data), (size_t)ASN1_STRING_length(data));
    }
}

static char *format_name(const X509_NAME *name)
{
    struct sbuf b = {0};
    sb_puts(&b, ""); /* an empty name gives "" rather than NULL */
    int n = X509_NAME_entry_count(name);
    for (int i = n - 1; i >= 0; i--) {
        const X509_NAME_ENTRY *ne = X509_NAME_get_entry(name, i);
        int set = X509_NAME_ENTRY_set(ne);
        /* Entries of one multi-valued RDN are consecutive and share a set number;
         * keep their DER order inside the RDN. */
        int start = i;
        while (start > 0 && X509_NAME_ENTRY_set(X509_NAME_get_entry(name, start - 1)) == set) {
            start--;
        }
        if (i != n - 1) {
            sb_putc(&b, ',');
        }
        for (int j = start; j <= i; j++) {
            if (j != start) {
                sb_putc(&b, '+');
            }
            put_entry(&b, X509_NAME_get_entry(name, j));
        }
        i = start;
    }
    return b.p;
}

/* first_cn returns the first CN as plain UTF-8 (unescaped, for identity matchers), or
 * NULL when there is none or it holds a control character. */
static char *first_cn(const X509_NAME *name)
{
    int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    if (idx < 0) {
        return NULL;
    }
    unsigned char *utf8 = NULL;
    int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx)));
    if (n < 0) {
        ERR_clear_error();
        return NULL;
    }
    char *cn = NULL;
    bool ok = n > 0;
    for (int i = 0; i < n && ok; i++) {
        ok = utf8[i] >= 0x20 && utf8[i] != 0x7f;
    }
    if (ok) {
        cn = cg_xstrndup((const char *)utf8, (size_t)n);
    }
    OPENSSL_free(utf8);
    return cn;
}

/* san_ok accepts SAN strings that are printable ASCII without spaces: DNS names and
 * URIs never need anything else, and anything else could smuggle bytes into the
 * identity headers. */
static bool san_ok(const unsigned char *p, size_t len)
{
    if (len == 0) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (p[i] <= 0x20 || p[i] >= 0x7f) {
            return false;
        }
    }
    return true;
}

static void collect_sans(X509 *x, struct policy_cert_facts *out)
{
    int crit = 0;
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
    if (gens == NULL) {
        ERR_clear_error();
        return;
    }
    for (size_t i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        const ASN1_IA5STRING *s = NULL;
        char **slots = NULL;
        size_t *num = NULL;
        if (g->type == GEN_DNS) {
            s = g->d.dNSName;
            slots = out->dns_sans;
            num = &out->num_dns_sans;
        } else if (g->type == GEN_URI) {
            s = g->d.uniformResourceIdentifier;
            slots = out->uri_sans;
            num = &out->num_uri_sans;
        } else {
            continue;
        }
        const unsigned char *p = ASN1_STRING_get0_data(s);
        size_t len = (size_t)ASN1_STRING_length(s);
        if (*num < POLICY_MAX_SANS && san_ok(p, len)) {
            slots[(*num)++] = cg_xstrndup((const char *)p, len);
        }
    }
    GENERAL_NAMES_free(gens);
}

static char *serial_hex(X509 *x)
{
    const ASN1_INTEGER *serial = X509_get_serialNumber(x);
    const uint8_t *p = ASN1_STRING_get0_data(serial);
    size_t len = (size_t)ASN1_STRING_length(serial);
    bool neg = ASN1_STRING_type(serial) == V_ASN1_NEG_INTEGER;
    if (len == 0) {
        return cg_xstrdup("00");
    }
    char *s = cg_xmalloc(2 * len + 2);
    size_t off = 0;
    if (neg) {
        s[off++] = '-';
    }
    cg_hex_encode(p, len, CG_HEX_UPPER, s + off);
    return s;
}

int policy_cert_facts_from_der(const uint8_t *der, size_t der_len, struct policy_cert_facts *out,
                               struct cg_errbuf *err)
{
    int rc = CG_ERR_INVALID;
    const uint8_t *p = der;
    X509 *x = NULL;
    uint8_t *spki = NULL;

    memset(out, 0, sizeof(*out));
    if (der == NULL || der_len == 0 || der_len > LONG_MAX) {
        return cg_errf(err, CG_ERR_INVALID, "empty certificate");
    }
    x = d2i_X509(NULL, &p, (long)der_len);
    if (x == NULL) {
        rc = cg_errf_crypto(err, CG_ERR_INVALID, "not a DER X.509 certificate");
        goto out;
    }
    if (p != der + der_len) {
        rc = cg_errf(err, CG_ERR_INVALID, "trailing data after the certificate");
        goto out;
    }
    SHA1(der, der_len, out->sha1);
    SHA256(der, der_len, out->sha256);

    int spki_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &spki);
    if (spki_len <= 0) {
        rc = cg_errf_crypto(err, CG_ERR_INVALID, "cannot encode the public key");
        goto out;
    }
    SHA256(spki, (size_t)spki_len, out->spki_sha256);

    /* Extension-derived facts (AKI, SANs) are only meaningful if the extensions
     * decode; a certificate with a malformed extension is refused. */
    if (X509_get_extension_flags(x) & EXFLAG_INVALID) {
        rc = cg_errf(err, CG_ERR_INVALID, "certificate has an invalid extension");
        goto out;
    }
    const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(x);
    if (aki != NULL) {
        size_t aki_len = (size_t)ASN1_STRING_length(aki);
        if (aki_len > sizeof(out->aki)) {
            rc = cg_errf(err, CG_ERR_INVALID, "authority key identifier longer than %zu bytes",
                         sizeof(out->aki));
            goto out;
        }
        memcpy(out->aki, ASN1_STRING_get0_data(aki), aki_len);
        out->aki_len = aki_len;
    }

    if (cg_timestamp_from_asn1(X509_get0_notBefore(x), &out->not_before) != CG_OK ||
        cg_timestamp_from_asn1(X509_get0_notAfter(x), &out->not_after) != CG_OK) {
        rc = cg_errf_crypto(err, CG_ERR_INVALID, "cannot read the validity period");
        goto out;
    }

    out->subject = format_name(X509_get_subject_name(x));
    out->issuer = format_name(X509_get_issuer_name(x));
    out->subject_cn = first_cn(X509_get_subject_name(x));
    out->serial_hex = serial_hex(x);
    collect_sans(x, out);
    rc = CG_OK;

out:
    if (rc != CG_OK) {
        policy_cert_facts_cleanup(out);
    }
    OPENSSL_free(spki);
    X509_free(x);
    return rc;
}

bool policy_cert_signed_by(const uint8_t *der, size_t der_len, EVP_PKEY *issuer_key)
{
    if (der == NULL || der_len == 0 || der_len > LONG_MAX || issuer_key == NULL) {
        return false;
    }
    const uint8_t *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)der_len);
    /* X509_verify checks the signature over the TBS bytes as received (BoringSSL keeps
     * the original encoding) and refuses a signatureAlgorithm that differs from the
     * TBS's own. */
    bool ok = x != NULL && p == der + der_len && X509_verify(x, issuer_key) == 1;
    X509_free(x);
    ERR_clear_error();
    return ok;
}

void policy_cert_facts_cleanup(struct policy_cert_facts *f)
{
    free(f->subject);
    free(f->subject_cn);
    free(f->issuer);
    free(f->serial_hex);
    for (size_t i = 0; i < f->num_dns_sans; i++) {
        free(f->dns_sans[i]);
    }
    for (size_t i = 0; i < f->num_uri_sans; i++) {
        free(f->uri_sans[i]);
    }
    memset(f, 0, sizeof(*f));
}

int policy_thumbprint_parse(const char *text, uint8_t *out, size_t *out_len)
{
    size_t n = 0;
    if (cg_hex_decode(cg_str_from_cstr(text), CG_HEX_COLONS_OPTIONAL, out, POLICY_SHA256_LEN,
                      &n) != CG_OK ||
        (n != POLICY_SHA1_LEN && n != POLICY_SHA256_LEN)) {
        return CG_ERR_INVALID;
    }
    *out_len = n;
    return CG_OK;
}
