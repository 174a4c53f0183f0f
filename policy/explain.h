/* Asking the policy why: one hypothetical request decided by policy_decide and the
 * identity header builder, exactly as the proxy decides a real one, and answered with
 * every fact that went into the decision (docs/policy.md "Asking the policy").
 * `certgate policy explain` and POST /admin/explain both answer with it. */
#ifndef CG_POLICY_EXPLAIN_H
#define CG_POLICY_EXPLAIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/err.h"
#include "policy/policy.h"

/* enum policy_chain_check is what the caller knows of the certificate's chain. */
enum policy_chain_check {
    POLICY_CHAIN_NOT_CHECKED = 0, /* no client CA to check it against: treated as a
                                     listener without client_ca (identity matchers are
                                     not tried, the chain is not required) */
    POLICY_CHAIN_VALID = 1,       /* validated against the listener's client_ca (and CRL) */
    POLICY_CHAIN_INVALID = 2,     /* did not validate: a listener with that client_ca
                                     refuses it (untrusted_chain) */
};

/* struct policy_explain_input is one request and its caller. */
struct policy_explain_input {
    const uint8_t *cert_der; /* the client certificate (leaf), DER; NULL: none sent */
    size_t cert_der_len;
    enum policy_chain_check chain;
    const char *chain_error;           /* with POLICY_CHAIN_INVALID: why, for the answer; or NULL */
    const char *ip;                    /* the client's address as the listener sees it (after the
                                          PROXY protocol), IPv4 or IPv6 text */
    time_t now;                        /* when the request is decided */
    const char *sni;                   /* TLS SNI; NULL or "": none */
    const char *method;                /* "GET"...; with |grpc| the caller passes "POST" */
    const char *host;                  /* Host / :authority; NULL or "": none */
    bool host_checked;                 /* the caller checked the Host against the SNI's
                                          virtual host itself (a listener's host entries):
                                          |misdirected| is the outcome, and |sni| is shown
                                          but not compared */
    bool misdirected;                  /* with host_checked: Host names another virtual
                                          host (policy_request.misdirected) */
    const char *target;                /* path and query as sent ("/db/hr/docs?x=1") */
    bool grpc;                         /* a gRPC call: a denial answers grpc-status */
    struct policy_path_opts path_opts; /* the listener's path options */
};

/* policy_explain decides the request |in| against |p| with policy_decide (and, when
 * allowed, builds the identity headers with policy_headers_build, as the proxy does)
 * and stores a new JSON object in |*out|:
 *
 *   {"decision": "allow" | "deny" | "audit" (allowed only by audit mode),
 *    "reason", "status" (HTTP status answered when denied, else null),
 *    "grpc_status" (with grpc, when denied, else null),
 *    "request": {"method", "target", "path" (normalized), "query", "host", "sni", "ip",
 *                "grpc", "time"},
 *    "route": null | {"index", "path", "methods", "require", "mode"},
 *    "database": null | {"name", "source": "path" | "fixed" | "query",
 *                        "level": the entry's effective level on it, or null},
 *    "certificate": null | {"subject", "issuer", "serial", "not_before", "not_after",
 *                           "sha1", "sha256", "spki_sha256", "dns_sans", "uri_sans",
 *                           "chain": "validated" | "not validated" | "not checked",
 *                           "chain_error"?},
 *    "certificate_checked": the decision got to the certificate (false: it stopped
 *                           before, and "entry" is null whatever the registry holds),
 *    "entry": null | {"index", "name", "clearance", "matched_by", and "thumbprint",
 *                     "pin" or "match" for how it matched, "databases", "allow_ips",
 *                     "expires"},
 *    "headers": [{"name", "value"}] identity headers the database receives,
 *    "forwarded": [{"name", "value"}] X-Forwarded-For/-Proto/-Host the proxy adds,
 *    "forward_target": what the database is sent as the request target, or null,
 *    "notes": ["what the decision could not see or depended on", ...]}
 *
 * The entry is named also when it was refused afterwards (expired, allow_ips). Returns
 * 0, or CG_ERR_INVALID with one line in |err| when |in| cannot be decided (an address
 * that does not parse, a certificate that is not DER, no method or target). The caller
 * owns |*out|. Only reads |p|; allocates its scratch (this is not the request path). */
int policy_explain(const struct policy *p, const struct policy_explain_input *in, json_t **out,
                   struct cg_errbuf *err);

#endif
