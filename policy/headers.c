#include "policy/headers.h"

#include <string.h>

#include "common/boringssl.h"
#include "common/hex.h"

#include <openssl/base64.h>

#include "policy/policy_internal.h"

static const struct cg_str default_owned[] = {
    CG_STR_LIT("X-Client-Cert-Thumbprint"),
    CG_STR_LIT("X-Client-Name"),
    CG_STR_LIT("X-Client-Clearance"),
    CG_STR_LIT("X-Client-Database-Access"),
    CG_STR_LIT("Client-Cert"),
    CG_STR_LIT("Client-Cert-Chain"),
    CG_STR_LIT("X-Forwarded-Client-Cert"),
    CG_STR_LIT("X-Forwarded-For"),
    CG_STR_LIT("X-Forwarded-Proto"),
    CG_STR_LIT("X-Forwarded-Host"),
    CG_STR_LIT("Forwarded"),
    CG_STR_LIT("X-Real-IP"),
    /* Frameworks (Express, Symfony, Laravel, ASP.NET, Rails' Rack::MethodOverride, IIS
     * URL rewriting) let these replace the method or the target: the database would
     * run something other than what the route authorized. */
    CG_STR_LIT("X-HTTP-Method-Override"),
    CG_STR_LIT("X-HTTP-Method"),
    CG_STR_LIT("X-Method-Override"),
    CG_STR_LIT("X-Original-URL"),
    CG_STR_LIT("X-Rewrite-URL"),
    CG_STR_LIT("X-Original-Method"),
};

/* fold maps a header name character the way a CGI gateway reads it: ASCII case
 * ignored, '_' taken for '-'. */
static char fold(char c)
{
    return c == '_' ? '-' : cg_ascii_lower(c);
}

static bool field_name_eq(struct cg_str a, const char *b, size_t b_len)
{
    if (a.len != b_len) {
        return false;
    }
    for (size_t i = 0; i < b_len; i++) {
        if (fold(a.p[i]) != fold(b[i])) {
            return false;
        }
    }
    return true;
}

bool policy_header_is_owned(const struct policy *p, struct cg_str name)
{
    /* Runs for every field of every request: lengths and first letters first. */
    if (name.len == 0) {
        return false;
    }
    for (size_t i = 0; i < sizeof(default_owned) / sizeof(default_owned[0]); i++) {
        if (field_name_eq(name, default_owned[i].p, default_owned[i].len)) {
            return true;
        }
    }
    if (p == NULL) {
        return false;
    }
    const struct policy_header_names *h = &p->headers;
    const char *configured[] = {h->thumbprint,      h->name,        h->clearance,
                                h->database_access, h->client_cert, h->xfcc};
    char first = fold(name.p[0]);
    for (size_t i = 0; i < sizeof(configured) / sizeof(configured[0]); i++) {
        if (configured[i] != NULL && fold(configured[i][0]) == first &&
            field_name_eq(name, configured[i], strlen(configured[i]))) {
            return true;
        }
    }
    return false;
}

/* struct out_buf appends values to the caller's buffer; |failed| sticks. */
struct out_buf {
    char *p;
    size_t len, cap;
    bool failed;
};

static void put(struct out_buf *b, const char *s, size_t len)
{
    if (b->failed || b->cap - b->len < len) {
        b->failed = true;
        return;
    }
    memcpy(b->p + b->len, s, len);
    b->len += len;
}

static void puts_(struct out_buf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* put_xfcc_value writes |s| bare when it holds only safe characters, else as a quoted
 * string with '"' and '\' escaped, so that it cannot end its field early. */
static void put_xfcc_value(struct out_buf *b, const char *s, bool always_quote)
{
    bool quote = always_quote || *s == '\0';
    for (const char *c = s; *c && !quote; c++) {
        quote = *c == ',' || *c == ';' || *c == '=' || *c == '"' || *c == '\\' ||
                (unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f;
    }
    if (!quote) {
        puts_(b, s);
        return;
    }
    put(b, "\"", 1);
    for (const char *c = s; *c; c++) {
        if (*c == '"' || *c == '\\') {
            put(b, "\\", 1);
        }
        put(b, c, 1);
    }
    put(b, "\"", 1);
}

static void add(struct policy_header *out, size_t *num, const char *name, struct out_buf *b,
                size_t start)
{
    out[*num].name = cg_str_from_cstr(name);
    out[*num].value = (struct cg_str){b->p + start, b->len - start};
    (*num)++;
}

size_t policy_client_cert_value(const uint8_t *der, size_t der_len, char *out, size_t out_cap)
{
    size_t enc_len;
    if (der_len == 0 || !EVP_EncodedLength(&enc_len, der_len) || out_cap < enc_len + 2) {
        return 0;
    }
    out[0] = ':';
    /* EVP_EncodeBlock writes a NUL after the base64 text (enc_len counts it): it is
     * overwritten by the closing ':'. */
    size_t n = EVP_EncodeBlock((uint8_t *)out + 1, der, der_len);
    out[1 + n] = ':';
    out[2 + n] = '\0';
    return n + 2;
}

int policy_headers_build(const struct policy *p, const struct policy_decision *d,
                         const struct policy_cert_facts *cert, struct cg_str client_cert,
                         char *buf, size_t buf_cap, struct policy_header *out, size_t *out_num)
{
    const struct policy_header_names *h = &p->headers;
    struct out_buf b = {buf, 0, buf_cap, false};
    size_t num = 0, start;
    *out_num = 0;
    if (!d->allow || !d->identified || cert == NULL || d->entry_name == NULL) {
        return CG_OK;
    }

    char hex[2 * POLICY_SHA256_LEN + 1];
    cg_hex_encode(cert->sha1, POLICY_SHA1_LEN, CG_HEX_UPPER, hex);
    start = b.len;
    puts_(&b, hex);
    add(out, &num, h->thumbprint, &b, start);

    start = b.len;
    puts_(&b, d->entry_name);
    add(out, &num, h->name, &b, start);

    start = b.len;
    puts_(&b, policy_clearance_str(d->clearance));
    add(out, &num, h->clearance, &b, start);

    if (d->has_database && d->level != POLICY_LEVEL_NONE) {
        start = b.len;
        puts_(&b, policy_level_str(d->level));
        add(out, &num, h->database_access, &b, start);
    }

    if (h->client_cert_on && client_cert.len > 0) {
        out[num].name = cg_str_from_cstr(h->client_cert);
        out[num].value = client_cert;
        num++;
    }

    if (h->xfcc_on) {
        start = b.len;
        char lower[2 * POLICY_SHA256_LEN + 1];
        cg_hex_encode(cert->sha256, POLICY_SHA256_LEN, CG_HEX_LOWER, lower);
        puts_(&b, "Hash=");
        puts_(&b, lower);
        if (cert->subject != NULL) {
            puts_(&b, ";Subject=");
            put_xfcc_value(&b, cert->subject, true);
        }
        for (size_t i = 0; i < cert->num_uri_sans; i++) {
            puts_(&b, ";URI=");
            put_xfcc_value(&b, cert->uri_sans[i], false);
        }
        for (size_t i = 0; i < cert->num_dns_sans; i++) {
            puts_(&b, ";DNS=");
            put_xfcc_value(&b, cert->dns_sans[i], false);
        }
        add(out, &num, h->xfcc, &b, start);
    }

    if (b.failed) {
        return CG_ERR_LIMIT;
    }
    *out_num = num;
    return CG_OK;
}
