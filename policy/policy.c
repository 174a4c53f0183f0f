/* Policy snapshot lifecycle (references, generation) and the names of the enums. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/boringssl.h"

#include <openssl/evp.h>

#include "common/bug.h"
#include "policy/policy_internal.h"

struct policy *policy_ref(struct policy *p)
{
    uint_fast64_t old = atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
    CG_BUG_ON(old == 0);
    return p;
}

void policy_unref(struct policy *p)
{
    if (p == NULL) {
        return;
    }
    /* Release pairs with the acquire fence below, so that the freeing thread sees
     * every other thread's reads as finished. */
    uint_fast64_t old = atomic_fetch_sub_explicit(&p->refs, 1, memory_order_release);
    CG_BUG_ON(old == 0);
    if (old == 1) {
        atomic_thread_fence(memory_order_acquire);
        policy_free(p);
    }
}

static void entry_cleanup(struct policy_entry *e)
{
    free(e->name);
    for (size_t i = 0; i < e->num_dbs; i++) {
        free(e->dbs[i].name);
    }
    free(e->dbs);
    ipset_cleanup(&e->allow_ips);
    for (size_t i = 0; i < e->num_matchers; i++) {
        free(e->matchers[i].subject_cn);
        free(e->matchers[i].dns_san);
        free(e->matchers[i].uri_san);
    }
    free(e->matchers);
}

void policy_free(struct policy *p)
{
    if (p == NULL) {
        return;
    }
    ipset_cleanup(&p->allow_ips);
    for (size_t i = 0; i < p->num_routes; i++) {
        policy_route_cleanup(&p->routes[i]);
    }
    free(p->routes);
    for (size_t i = 0; i < p->num_entries; i++) {
        entry_cleanup(&p->entries[i]);
    }
    free(p->entries);
    policy_hashtab_cleanup(&p->by_sha1);
    policy_hashtab_cleanup(&p->by_sha256);
    policy_hashtab_cleanup(&p->by_spki);
    for (size_t i = 0; i < p->num_pins; i++) {
        free(p->pins[i].issuer);
        EVP_PKEY_free(p->pins[i].issuer_key);
    }
    free(p->pins);
    free(p->matcher_entries);
    free(p->headers.thumbprint);
    free(p->headers.name);
    free(p->headers.clearance);
    free(p->headers.database_access);
    free(p->headers.client_cert);
    free(p->headers.xfcc);
    free(p->source);
    free(p);
}

void policy_set_generation(struct policy *p, uint64_t generation)
{
    p->generation = generation;
}

uint64_t policy_generation(const struct policy *p)
{
    return p->generation;
}

size_t policy_num_certificates(const struct policy *p)
{
    return p->num_entries;
}

size_t policy_num_routes(const struct policy *p)
{
    return p->num_routes;
}

bool policy_case_sensitive_paths(const struct policy *p)
{
    return p->case_sensitive_paths;
}

enum policy_level policy_entry_level(const struct policy *p, const struct policy_entry *e,
                                     struct cg_str db)
{
    if (e->clearance >= POLICY_CLEARANCE_OPERATOR) {
        return POLICY_LEVEL_ADMIN;
    }
    /* Database names compare case-insensitively, as RavenDB's do, unless the policy
     * fronts a database whose names are case-sensitive (InfluxDB: "hr" and "HR" are two
     * databases). */
    for (size_t i = 0; i < e->num_dbs; i++) {
        struct cg_str name = {e->dbs[i].name, e->dbs[i].name_len};
        if (p->case_sensitive_databases ? cg_str_eq(db, name) : cg_str_case_eq(db, name)) {
            return e->dbs[i].level;
        }
    }
    return POLICY_LEVEL_NONE;
}

const char *policy_reason_str(enum policy_reason r)
{
    switch (r) {
    case POLICY_REASON_OK:
        return "ok";
    case POLICY_REASON_IP_NOT_ALLOWED:
        return "ip_not_allowed";
    case POLICY_REASON_NO_CERTIFICATE:
        return "no_certificate";
    case POLICY_REASON_UNKNOWN_CERTIFICATE:
        return "unknown_certificate";
    case POLICY_REASON_CERTIFICATE_EXPIRED:
        return "certificate_expired";
    case POLICY_REASON_CERTIFICATE_NOT_YET_VALID:
        return "certificate_not_yet_valid";
    case POLICY_REASON_INSUFFICIENT_CLEARANCE:
        return "insufficient_clearance";
    case POLICY_REASON_DATABASE_NOT_ALLOWED:
        return "database_not_allowed";
    case POLICY_REASON_NO_MATCHING_ROUTE:
        return "no_matching_route";
    case POLICY_REASON_ROUTE_DENIED:
        return "route_denied";
    case POLICY_REASON_BAD_PATH:
        return "bad_path";
    case POLICY_REASON_MISDIRECTED:
        return "misdirected";
    case POLICY_REASON_UNTRUSTED_CHAIN:
        return "untrusted_chain";
    }
    return "unknown";
}

const char *policy_clearance_str(enum policy_clearance c)
{
    switch (c) {
    case POLICY_CLEARANCE_NONE:
        return "None";
    case POLICY_CLEARANCE_VALID_USER:
        return "ValidUser";
    case POLICY_CLEARANCE_OPERATOR:
        return "Operator";
    case POLICY_CLEARANCE_CLUSTER_ADMIN:
        return "ClusterAdmin";
    }
    return "unknown";
}

const char *policy_level_str(enum policy_level l)
{
    switch (l) {
    case POLICY_LEVEL_NONE:
        return "None";
    case POLICY_LEVEL_READ_ONLY:
        return "ReadOnly";
    case POLICY_LEVEL_READ_WRITE:
        return "ReadWrite";
    case POLICY_LEVEL_ADMIN:
        return "Admin";
    }
    return "unknown";
}

const char *policy_requirement_str(enum policy_requirement r)
{
    switch (r) {
    case POLICY_REQUIRE_PUBLIC:
        return "Public";
    case POLICY_REQUIRE_AUTHENTICATED:
        return "Authenticated";
    case POLICY_REQUIRE_READ_ONLY:
        return "ReadOnly";
    case POLICY_REQUIRE_READ_WRITE:
        return "ReadWrite";
    case POLICY_REQUIRE_ADMIN:
        return "Admin";
    case POLICY_REQUIRE_OPERATOR:
        return "Operator";
    case POLICY_REQUIRE_CLUSTER_ADMIN:
        return "ClusterAdmin";
    case POLICY_REQUIRE_DENY:
        return "Deny";
    }
    return "unknown";
}

const char *policy_match_str(enum policy_match m)
{
    switch (m) {
    case POLICY_MATCH_NONE:
        return "none";
    case POLICY_MATCH_THUMBPRINT:
        return "thumbprint";
    case POLICY_MATCH_PIN:
        return "pin";
    case POLICY_MATCH_IDENTITY:
        return "identity";
    }
    return "unknown";
}

const char *policy_mode_str(enum policy_mode m)
{
    switch (m) {
    case POLICY_MODE_ENFORCE:
        return "enforce";
    case POLICY_MODE_AUDIT:
        return "audit";
    }
    return "unknown";
}
