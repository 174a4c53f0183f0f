/* Authorization in the proxy: the glue between a connection and policy_decide.
 *
 * Protocol-neutral: HTTP/1.1 and HTTP/2 call authz_decide once per request (stream)
 * with the method, authority and raw target; it decides against the policy snapshot
 * the worker holds right now for the connection's host entry (so a reload or a deleted
 * certificate applies to the next request of an open connection), checks that the
 * authority names that host entry, writes the audit line inputs, prepares the identity
 * headers to inject, and picks the upstream by the host entry's path prefixes. The
 * proxy then forwards exactly result->path (+ query) to result->upstream_index.
 *
 * Certificate facts (thumbprints, pin, issuer, SANs, validity) are computed once per
 * connection by authz_conn_init after the handshake, fresh or resumed, together with the
 * pin proof (the signature check against a pin's issuer key, for a certificate that only
 * a pin registers); a request made under a newer policy snapshot renews the proof
 * first, since its pins may name other issuer keys. */
#ifndef CG_PROXY_CORE_AUTHZ_H
#define CG_PROXY_CORE_AUTHZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/reason.h"
#include "common/str.h"
#include "policy/cert_facts.h"
#include "policy/headers.h"
#include "policy/policy.h"

struct client_conn;

/* struct authz_conn is the per-connection part, embedded in struct client_conn. */
struct authz_conn {
    bool has_cert;                            /* the client presented a parsable certificate */
    struct policy_cert_facts facts;           /* valid when has_cert */
    char thumbprint[2 * POLICY_SHA1_LEN + 1]; /* SHA-1 upper hex, "" without cert */
    uint64_t pin_generation;                  /* policy generation |facts| last got the
                                                 pin proof for (0: none) */
    char *client_cert;              /* RFC 9440 Client-Cert value, made at the first
                                       allowed request (idle connections never pay) */
    size_t client_cert_len;
};

/* struct authz_result is one request's outcome. Its slices (path, query, header
 * values) live in the worker's scratch buffer: use them before returning to the event
 * loop, copy what must live longer. The string fields are copies. */
struct authz_result {
    struct policy_decision d;
    bool allow;           /* forward it (also true in audit mode) */
    int status;           /* when !allow: HTTP status to answer (400/403/421) */
    int grpc_status;      /* when !allow: grpc-status for gRPC requests */
    enum cg_reason reason; /* the policy's decision, or why none was taken */
    uint64_t generation;  /* policy generation that decided */
    char entry_name[128]; /* copied for logs: the snapshot may go away */
    char database[128];
    char route_pattern[128]; /* the matching route's "path" (cut to fit), for logs;
                                d.route_pattern points here once copied (the snapshot's
                                own string may be gone when the request is logged) */
    const char *clearance; /* static strings */
    const char *requirement;
    const char *level;
    struct policy_header headers[POLICY_MAX_HEADERS]; /* identity headers to inject */
    size_t num_headers;
    struct cg_str path; /* normalized path to forward (NUL-terminated) */
    bool has_query;
    struct cg_str query; /* original query (slice of the request target) */
    size_t upstream_index; /* when allow: the upstream to forward to (config->upstreams) */
};

/* authz_conn_init extracts the client certificate's facts after a handshake. */
void authz_conn_init(struct client_conn *c);

/* authz_scratch_size is the per-worker scratch authz_decide needs for request targets
 * up to |max_target| bytes. */
size_t authz_scratch_size(size_t max_target);

/* authz_conn_cleanup frees what authz_conn_init allocated. Safe on a zeroed struct. */
void authz_conn_cleanup(struct authz_conn *a);

/* authz_peer_allowed is the connection-level check before the TLS handshake, when the
 * host entry is not known yet: false if every policy of the listener (its default's and
 * its host entries') refuses the peer's address (the caller closes and logs). */
bool authz_peer_allowed(struct client_conn *c);

/* authz_host_peer_allowed is the same check once the handshake chose the connection's
 * host entry: false if that entry's policy refuses the peer's address. */
bool authz_host_peer_allowed(struct client_conn *c);

/* authz_decide authorizes one request. |target| is the raw path+query as received
 * (origin-form, or the path of absolute-form / :path). Never fails: a denial is a
 * result with allow == false. */
void authz_decide(struct client_conn *c, struct cg_str method, struct cg_str authority,
                  struct cg_str target, struct authz_result *out);

/* authz_header_is_owned reports whether a client-sent header or trailer field must be
 * stripped before forwarding because certgate owns it (identity headers under
 * configured and default names, X-Forwarded-*, Forwarded, ...), in any letter case
 * and with '_' for '-' (policy_header_is_owned). */
bool authz_header_is_owned(struct client_conn *c, struct cg_str name);

/* authz_header_dropped reports whether a request head field is not forwarded: an owned
 * one (authz_header_is_owned), or one whose name holds '_' unless the listener keeps
 * those ("underscores_in_headers": "keep"), as nginx drops them by default: CGI, WSGI,
 * PHP and Rack read "X_User" and "X-User" alike. Even when kept, a '_' spelling of a
 * framing or hop-by-hop field ("Transfer_Encoding", "Content_Length", "Keep_Alive")
 * is dropped. */
bool authz_header_dropped(struct client_conn *c, struct cg_str name);

#endif
