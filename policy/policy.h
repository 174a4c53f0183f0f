/* The authorization policy: loading and validating policy.json (docs/policy.md), and the
 * per-request decision.
 *
 * Ownership and threads: a loaded struct policy is immutable. The main thread loads
 * it, sets its generation, and publishes it (an atomic pointer swap, done by the
 * proxy); workers take a reference with policy_ref for as long as they use it (a
 * request, a connection) and drop it with policy_unref; the last unref frees it.
 * policy_decide and policy_allow_peer only read the policy and allocate nothing, so
 * any number of threads may call them concurrently on one snapshot.
 *
 * Strings that a decision points to (entry name, route pattern, fixed database names)
 * belong to the policy and stay valid while the caller holds its reference. */
#ifndef CG_POLICY_POLICY_H
#define CG_POLICY_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "common/err.h"
#include "common/str.h"
#include "policy/cert_facts.h"
#include "policy/path_normalize.h"

struct policy;

/* enum policy_clearance is a registry entry's clearance (RavenDB's model). Ordered:
 * a larger value includes the rights of the smaller ones. */
enum policy_clearance {
    POLICY_CLEARANCE_NONE = 0,          /* no entry identified */
    POLICY_CLEARANCE_VALID_USER = 1,    /* exactly the per-database levels listed */
    POLICY_CLEARANCE_OPERATOR = 2,      /* Admin on every database, server operations */
    POLICY_CLEARANCE_CLUSTER_ADMIN = 3, /* everything */
};

/* enum policy_level is an access level on one database. Ordered like clearances. */
enum policy_level {
    POLICY_LEVEL_NONE = 0, /* no access (database not listed) */
    POLICY_LEVEL_READ_ONLY = 1,
    POLICY_LEVEL_READ_WRITE = 2, /* includes ReadOnly */
    POLICY_LEVEL_ADMIN = 3,      /* includes ReadWrite */
};

/* enum policy_requirement is what a route demands. */
enum policy_requirement {
    POLICY_REQUIRE_PUBLIC = 0,        /* no certificate needed; IP rules still apply */
    POLICY_REQUIRE_AUTHENTICATED = 1, /* any registered, valid certificate */
    POLICY_REQUIRE_READ_ONLY = 2,     /* ReadOnly on the route's database */
    POLICY_REQUIRE_READ_WRITE = 3,    /* ReadWrite on the route's database */
    POLICY_REQUIRE_ADMIN = 4,         /* Admin on the route's database */
    POLICY_REQUIRE_OPERATOR = 5,      /* clearance Operator or ClusterAdmin */
    POLICY_REQUIRE_CLUSTER_ADMIN = 6, /* clearance ClusterAdmin */
    POLICY_REQUIRE_DENY = 7,          /* nobody */
};

/* enum policy_reason says why a request was denied (or would have been, in audit
 * mode). Stable names for logs and the JSON error body through policy_reason_str. */
enum policy_reason {
    POLICY_REASON_OK = 0,                    /* allowed */
    POLICY_REASON_IP_NOT_ALLOWED,            /* peer outside policy or entry allow_ips */
    POLICY_REASON_NO_CERTIFICATE,            /* route needs a certificate, none given */
    POLICY_REASON_UNKNOWN_CERTIFICATE,       /* not registered, no pin or identity match */
    POLICY_REASON_CERTIFICATE_EXPIRED,       /* past notAfter or the entry's expires */
    POLICY_REASON_CERTIFICATE_NOT_YET_VALID, /* before notBefore */
    POLICY_REASON_INSUFFICIENT_CLEARANCE,    /* clearance or level too low */
    POLICY_REASON_DATABASE_NOT_ALLOWED,      /* ValidUser without that database */
    POLICY_REASON_NO_MATCHING_ROUTE,         /* no route matched method and path */
    POLICY_REASON_ROUTE_DENIED,              /* the matching route says Deny */
    POLICY_REASON_BAD_PATH,                  /* target cannot be normalized safely: 400 */
    POLICY_REASON_MISDIRECTED,               /* Host/:authority differs from SNI: 421 */
    POLICY_REASON_UNTRUSTED_CHAIN,           /* the listener has a client_ca and the
                                                certificate's chain did not validate
                                                against it (or is revoked) */
};

/* enum policy_match says how the certificate was tied to its registry entry. */
enum policy_match {
    POLICY_MATCH_NONE = 0,       /* not identified */
    POLICY_MATCH_THUMBPRINT = 1, /* SHA-1 or SHA-256 of the DER certificate */
    POLICY_MATCH_PIN = 2,        /* SPKI SHA-256 + issuer + AKI (renewal rule), signed
                                    by the pin's issuer key */
    POLICY_MATCH_IDENTITY = 3,   /* CA-validated chain + subject/SAN matcher */
};

/* enum policy_mode: enforce denials, or only report them (dry run). */
enum policy_mode {
    POLICY_MODE_ENFORCE = 0,
    POLICY_MODE_AUDIT = 1,
};

/* struct policy_load_opts tells the loader about the listener using the policy.
 * All-zero (or a NULL pointer) is the default. */
struct policy_load_opts {
    bool client_ca; /* the listener validates client chains against a client_ca, so
                       identity matchers ("match") are allowed; without it they are an
                       error, since any self-made certificate could claim a name */
};

/* struct policy_identity is what the TLS layer knows about the peer. */
struct policy_identity {
    const struct sockaddr *peer;          /* the client's address (after PROXY protocol) */
    const struct policy_cert_facts *cert; /* NULL when no client certificate was sent */
    bool chain_validated;                 /* the chain validated against the listener's
                                             client_ca (and CRL) */
    bool chain_required;                  /* the listener has a client_ca: a certificate
                                             whose chain did not validate is refused,
                                             whatever the registry says */
};

/* struct policy_request is one request, HTTP/1.1 or HTTP/2 alike. */
struct policy_request {
    time_t now;              /* current time, seconds since the epoch */
    struct cg_str sni;       /* TLS SNI; empty when the client sent none */
    struct cg_str method;    /* "GET", ... (case-sensitive) */
    struct cg_str authority; /* Host or :authority, possibly with a port; may be empty */
    bool misdirected;        /* the proxy found that |authority| names another virtual
                                host of the listener than the connection's (SNI): the
                                request is misdirected whatever |sni| says */
    struct cg_str target;    /* raw path + query as received */
    char *buf;               /* scratch for the normalized path and decoded database */
    size_t buf_cap;          /* must be >= POLICY_DECIDE_BUF_LEN(target.len) */
    /* The listener's path options; all-zero refuses ';' and "%25" in paths. */
    struct policy_path_opts path_opts;
};

/* POLICY_DECIDE_BUF_LEN is the scratch size policy_decide needs for a target of |n|
 * bytes: the normalized path and the decoded database name, each NUL-terminated. */
#define POLICY_DECIDE_BUF_LEN(n) (2 * (size_t)(n) + 2)

/* struct policy_decision is the outcome of policy_decide. */
struct policy_decision {
    bool allow;                   /* forward the request */
    bool audit;                   /* allowed only because of audit mode: |reason| says what
                                     would have been denied; log it */
    enum policy_reason reason;    /* POLICY_REASON_OK when allowed outright */
    int http_status;              /* status to answer when denied (400, 403, 421); 0 if allowed */
    int grpc_status;              /* grpc-status when denied: 16 UNAUTHENTICATED for
                                     certificate problems, 7 PERMISSION_DENIED for
                                     authorization, 3 INVALID_ARGUMENT for a bad path; 0 */
    bool identified;              /* a registered certificate, valid now, from an
                                     allowed address: identity headers may be sent */
    bool cert_checked;            /* the decision got to the certificate (step 8; also on
                                     Public routes); false when it stopped before */
    enum policy_match matched_by; /* how the certificate was tied to an entry */
    const char *entry_name;       /* the entry's name, also when it was then refused
                                     (expired, allow_ips) for the log; NULL if none */
    int entry_index;              /* index in $.certificates of that entry, or -1 */
    enum policy_clearance clearance;     /* the entry's clearance, NONE when no entry */
    int route_index;                     /* index in $.routes of the matching route, or -1 */
    const char *route_pattern;           /* its "path", or NULL */
    enum policy_requirement requirement; /* what the route required (DENY when none) */
    bool has_database;                   /* the route names a database and one was given */
    struct cg_str database;              /* its name (decoded), into req->buf or the policy */
    enum policy_level level;             /* the entry's effective level on it, or NONE */
    struct cg_str path;                  /* normalized path (NUL-terminated, in req->buf) */
    bool has_query;                      /* forward path + "?" + query when set */
    struct cg_str query;                 /* original query, a slice of req->target */
};

/* policy_load_file reads, validates and compiles the policy file |path|. On success
 * |*out| is a new policy with one reference and generation 0. On failure it returns
 * CG_ERR_INVALID (or CG_ERR_IO) and |err| holds one line: the file, the JSON path
 * ("$.certificates[3].thumbprints[0]") or line:column, and what was expected. */
int policy_load_file(const char *path, const struct policy_load_opts *opts, struct policy **out,
                     struct cg_errbuf *err);

/* policy_load_json is policy_load_file for a document in memory (|len| bytes of
 * |text|); |name| stands for the file name in messages. */
int policy_load_json(const char *name, const char *text, size_t len,
                     const struct policy_load_opts *opts, struct policy **out,
                     struct cg_errbuf *err);

/* policy_ref takes one more reference to |p| and returns it. Thread-safe. */
struct policy *policy_ref(struct policy *p);

/* policy_unref drops one reference; the last one frees the policy. NULL is a no-op.
 * Thread-safe. */
void policy_unref(struct policy *p);

/* policy_free frees |p| regardless of references (for a policy never shared, such as
 * one loaded by `certgate check`). NULL is a no-op. */
void policy_free(struct policy *p);

/* policy_set_generation stamps |p| with the caller's generation number (before it is
 * published); policy_generation reads it. */
void policy_set_generation(struct policy *p, uint64_t generation);
uint64_t policy_generation(const struct policy *p);

/* policy_num_certificates and policy_num_routes count the registry entries and routes,
 * for logs and metrics. */
size_t policy_num_certificates(const struct policy *p);
size_t policy_num_routes(const struct policy *p);

/* policy_case_sensitive_paths reports whether |p| compares route literals
 * case-sensitively ("case_sensitive_paths"), so that whoever else reads a path for the
 * same requests (a host's path routes) reads it alike. */
bool policy_case_sensitive_paths(const struct policy *p);

/* policy_allow_peer is the connection-level IP check made before the TLS handshake:
 * it reports whether |peer| is in the policy's allow_ips (a policy without allow_ips
 * allows every address). In audit mode a refused address is allowed and |*out_audit|
 * (if not NULL) is set so that the caller logs it. */
bool policy_allow_peer(const struct policy *p, const struct sockaddr *peer, bool *out_audit);

/* policy_pin_verify prepares the facts |f| of the DER certificate |der| for the pin
 * rule of |p|. When no thumbprint of |p| registers the certificate but a pin names its
 * key, issuer and authority key id, it verifies the certificate's signature with that
 * pin's issuer key and records the outcome in |f| (issuer_checked, issuer_verified,
 * issuer_spki_sha256); policy_decide and policy_identify then trust the pin only if
 * that key verified it. Otherwise, or when |f| already holds the outcome for that key,
 * it changes nothing: a certificate registered by thumbprint, or pinned by nobody, costs
 * two or three hash lookups; a pinned one costs one signature verification per issuer
 * key. |der| must be the certificate |f| was made from (a different one is never
 * verified). Call it once per handshake, and again when a new snapshot replaces |p| (its
 * pins may name other issuer keys). Not thread-safe on one |f|; |p| is only read. */
void policy_pin_verify(const struct policy *p, const uint8_t *der, size_t der_len,
                       struct policy_cert_facts *f);

/* policy_decide authorizes one request: it normalizes the target, checks Host against
 * SNI, the peer address, the route, the certificate and the clearance, and fills
 * |*out|. Pure: no allocation, no I/O, no global state; the result depends only on its
 * arguments. See docs/policy.md for the order of the checks. */
void policy_decide(const struct policy *p, const struct policy_identity *id,
                   const struct policy_request *req, struct policy_decision *out);

/* policy_identify authorizes a caller outside the routes (certgate's own admin API):
 * it checks, as steps 3 and 8 of policy_decide do, the policy's allow_ips, the
 * certificate's validity, the chain requirement, the registry (thumbprint, pin,
 * identity) and the entry's expiry and allow_ips, then that the entry's clearance is at
 * least |min| (POLICY_CLEARANCE_NONE: any registered certificate), else
 * insufficient_clearance. Audit mode never applies: a failure is a denial. Fills
 * allow, reason, http_status, grpc_status, identified, matched_by, entry_name,
 * entry_index and clearance of |*out| (entry_name, entry_index and clearance also when
 * refused afterwards); the other fields are zero (route_index and entry_index -1 when
 * unset). Pure, like policy_decide. */
void policy_identify(const struct policy *p, const struct policy_identity *id, time_t now,
                     enum policy_clearance min, struct policy_decision *out);

/* The *_str functions return stable names for logs: "unknown_certificate",
 * "ClusterAdmin", "ReadWrite", "Authenticated", "thumbprint", "audit"... */
const char *policy_reason_str(enum policy_reason r);
const char *policy_clearance_str(enum policy_clearance c);
const char *policy_level_str(enum policy_level l);
const char *policy_requirement_str(enum policy_requirement r);
const char *policy_match_str(enum policy_match m);
const char *policy_mode_str(enum policy_mode m);

#endif
