/* Internals shared by the files of the policy module (loader, registry, routes,
 * decision, headers). Not for use outside policy/. */
#ifndef CG_POLICY_POLICY_INTERNAL_H
#define CG_POLICY_POLICY_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/boringssl.h"
#include "common/str.h"
#include "policy/ipset.h"
#include "policy/policy.h"

/* struct policy_hashtab is an open-addressing (linear probing) table from a fixed-size
 * binary key (a SHA-1 or SHA-256 digest) to a uint32_t value, built once per load and
 * read-only afterwards. All-zero is an empty table. */
struct policy_hashtab {
    uint8_t *slots; /* cap slots of stride bytes: key, then value + 1 (0 = empty) */
    size_t cap;     /* power of two, or 0 */
    size_t num;     /* occupied slots; kept <= cap / 2 */
    size_t key_len; /* 20 or 32 */
};

/* policy_hashtab_init prepares an empty table for keys of |key_len| bytes. */
void policy_hashtab_init(struct policy_hashtab *t, size_t key_len);
/* policy_hashtab_insert adds |key| -> |value|. With |unique|, an existing key is not
 * added: CG_ERR_EXISTS is returned and its value stored in |*out_existing|. */
int policy_hashtab_insert(struct policy_hashtab *t, const uint8_t *key, uint32_t value, bool unique,
                          uint32_t *out_existing);
/* policy_hashtab_next finds the next value stored under |key|, starting at |*cursor|
 * (set it to 0 before the first call). Returns false when there is none. */
bool policy_hashtab_next(const struct policy_hashtab *t, const uint8_t *key, size_t *cursor,
                         uint32_t *out_value);
/* policy_hashtab_cleanup frees the slots. */
void policy_hashtab_cleanup(struct policy_hashtab *t);

/* struct policy_db_access is one "databases" member of an entry. */
struct policy_db_access {
    char *name; /* as written; compared ASCII case-insensitively */
    size_t name_len;
    enum policy_level level;
};

/* struct policy_matcher matches a CA-validated certificate by identity; every field
 * that is set must match exactly (AND); at least one is set. */
struct policy_matcher {
    char *subject_cn; /* NULL = any */
    char *dns_san;    /* one of the certificate's DNS SANs must equal it (ASCII case-
                         insensitively); NULL = any */
    char *uri_san;    /* one of its URI SANs must equal it exactly; NULL = any */
};

/* struct policy_entry is one member of $.certificates. */
struct policy_entry {
    char *name;
    enum policy_clearance clearance;
    struct policy_db_access *dbs; /* ValidUser levels; ignored above ValidUser */
    size_t num_dbs;
    bool has_allow_ips; /* the peer must also be in allow_ips */
    struct ipset allow_ips;
    bool has_expires;
    time_t expires; /* refused from this second on */
    struct policy_matcher *matchers;
    size_t num_matchers;
};

/* struct policy_pin is one pin of an entry (RavenDB's renewal rule, plus the signature
 * check that makes it safe: names and key identifiers are not secrets). */
struct policy_pin {
    uint8_t spki_sha256[POLICY_SHA256_LEN];
    char *issuer; /* exact issuer string (cert_facts format) */
    uint8_t aki[64];
    size_t aki_len;       /* 0: the certificate must have no AKI either */
    EVP_PKEY *issuer_key; /* owned; the issuer's public key ("issuer_spki"): the
                             certificate's signature must verify with it */
    /* SHA-256 of the issuer's SubjectPublicKeyInfo DER: names the key that a proof in
     * the certificate facts (policy_pin_verify) was made with. */
    uint8_t issuer_spki_sha256[POLICY_SHA256_LEN];
    uint32_t entry; /* index in policy.entries */
};

/* enum policy_db_source says where a route takes its database from. */
enum policy_db_source {
    POLICY_DB_NONE = 0,    /* the route concerns no database */
    POLICY_DB_CAPTURE = 1, /* the {db} path segment */
    POLICY_DB_FIXED = 2,   /* "database": "name" */
    POLICY_DB_QUERY = 3,   /* "database_from_query": "param" */
};

/* struct policy_route_seg is one segment of a compiled route pattern. */
struct policy_route_seg {
    bool capture; /* {db} */
    char *lit;    /* literal segment, normalized form (NULL for a capture) */
    size_t lit_len;
};

/* struct policy_route is one compiled member of $.routes. */
struct policy_route {
    char *pattern;                 /* the "path" as written */
    struct policy_route_seg *segs; /* segments before the optional trailing wildcard */
    size_t num_segs;
    bool wildcard;  /* pattern ends in a "*" segment: matches the prefix,
                       and anything below it */
    char **methods; /* NULL/0: any method */
    size_t num_methods;
    enum policy_requirement require;
    enum policy_db_source db_source;
    char *database;    /* POLICY_DB_FIXED */
    char *query_param; /* POLICY_DB_QUERY */
    bool has_mode;     /* "mode" given on the route: overrides the policy's */
    enum policy_mode mode;
};

/* policy_route_compile parses the pattern |text| into |r| (segments and wildcard).
 * Returns 0, or CG_ERR_INVALID with a reason in |why|. */
int policy_route_compile(const char *text, struct policy_route *r, char *why, size_t why_len);
/* policy_route_match matches a normalized |path| (and |method|) against |r|; on a
 * match |*out_capture| receives the {db} segment (still percent-encoded) if any. */
bool policy_route_match(const struct policy_route *r, bool case_sensitive, struct cg_str method,
                        struct cg_str path, struct cg_str *out_capture);
/* policy_route_cleanup frees what policy_route_compile and the loader allocated. */
void policy_route_cleanup(struct policy_route *r);

/* struct policy_header_names holds the configured identity header names. */
struct policy_header_names {
    char *thumbprint;      /* X-Client-Cert-Thumbprint */
    char *name;            /* X-Client-Name */
    char *clearance;       /* X-Client-Clearance */
    char *database_access; /* X-Client-Database-Access */
    char *client_cert;     /* Client-Cert (RFC 9440) */
    char *xfcc;            /* X-Forwarded-Client-Cert */
    bool client_cert_on;   /* send Client-Cert (default true) */
    bool xfcc_on;          /* send X-Forwarded-Client-Cert (default false) */
};

struct policy {
    atomic_uint_fast64_t refs; /* references; the last unref frees */
    uint64_t generation;       /* set by the caller */
    enum policy_mode mode;     /* default mode of routes */
    bool case_sensitive_paths;     /* route literals compared case-sensitively */
    bool case_sensitive_databases; /* entries' database names compared exactly */
    bool has_allow_ips;        /* false: every peer address is allowed */
    struct ipset allow_ips;
    struct policy_route *routes;
    size_t num_routes;
    struct policy_entry *entries;
    size_t num_entries;
    struct policy_hashtab by_sha1;   /* DER SHA-1 -> entry index */
    struct policy_hashtab by_sha256; /* DER SHA-256 -> entry index */
    struct policy_hashtab by_spki;   /* SPKI SHA-256 -> pin index (several per key) */
    struct policy_pin *pins;
    size_t num_pins;
    uint32_t *matcher_entries; /* entries with identity matchers, in file order */
    size_t num_matcher_entries;
    struct policy_header_names headers;
    char *source; /* the document as loaded (compact JSON): policy_describe shows what
                     compiling merges or hashes (allow_ips, thumbprints) as written */
    size_t source_len;
};

/* policy_registry_find identifies the certificate |f|: by SHA-1 or SHA-256 thumbprint,
 * then by pin (only when |f| carries a proof, made by policy_pin_verify, that the pin's
 * issuer key signed it), then (only when |chain_validated|) by identity matcher. It
 * returns how, and sets |*out_entry| to the index of the entry in p->entries; or it
 * returns POLICY_MATCH_NONE and leaves |*out_entry| alone. */
enum policy_match policy_registry_find(const struct policy *p, const struct policy_cert_facts *f,
                                       bool chain_validated, uint32_t *out_entry);

/* policy_entry_level returns |e|'s effective level on |db| (Admin for Operator and
 * ClusterAdmin). */
enum policy_level policy_entry_level(const struct policy *p, const struct policy_entry *e,
                                     struct cg_str db);

#endif
