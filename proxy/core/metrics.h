/* What a worker counts for the metrics (docs/operations.md, "Metrics"): requests by
 * listener, protocol, decision, reason and status, their durations, connections, TLS
 * handshakes and the bytes of each listener.
 *
 * Every counter belongs to one worker and only that worker's thread changes it
 * (common/counter.h: an increment is a plain add, no lock, no atomic read-modify-write);
 * the main thread sums the workers' counters when /metrics is scraped
 * (control/metrics.c). The label sets are bounded by construction: every dimension is a
 * fixed enum (protocols, decisions, enum cg_reason, status slots of
 * common/http_status.h), so the counters are plain arrays indexed by them and a client
 * cannot make certgate grow a series.
 *
 * Upstream servers count in their worker's pool (proxy/upstream/upstream_pool.h). */
#ifndef CG_PROXY_CORE_METRICS_H
#define CG_PROXY_CORE_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/counter.h"
#include "common/http_status.h"
#include "common/latency.h"
#include "common/reason.h"

/* The protocol a connection speaks once its handshake is done (struct conn_protocol
 * names its own). */
enum metrics_protocol {
    METRICS_PROTOCOL_HTTP11 = 0, /* "http/1.1" */
    METRICS_PROTOCOL_H2,         /* "h2" */
    METRICS_NUM_PROTOCOLS
};

/* Connections are counted by protocol, and in one more slot while their handshake runs. */
#define METRICS_CONN_HANDSHAKE METRICS_NUM_PROTOCOLS

/* What was decided about a request (the access log's "decision"). */
enum metrics_decision {
    METRICS_DECISION_NONE = 0, /* certgate answered before deciding (malformed request,
                                  timeout, the client went away first) */
    METRICS_DECISION_ALLOW,
    METRICS_DECISION_DENY,
    METRICS_DECISION_AUDIT, /* denied by the policy, let through in audit mode */
    METRICS_NUM_DECISIONS
};

/* TLS versions of finished handshakes. */
enum metrics_tls_version {
    METRICS_TLS_1_2 = 0, /* "TLSv1.2" */
    METRICS_TLS_1_3,     /* "TLSv1.3" */
    METRICS_NUM_TLS_VERSIONS
};

/* Why a client connection ended before its TLS handshake completed. */
enum metrics_handshake_error {
    METRICS_HS_IP_NOT_ALLOWED = 0, /* refused before TLS: the policy's allow_ips */
    METRICS_HS_BAD_PROXY_HEADER,   /* refused before TLS: a bad or missing PROXY header */
    METRICS_HS_INVALID_SNI,        /* a server name that is not a DNS host name */
    METRICS_HS_UNKNOWN_SNI,        /* strict_sni: no host entry or certificate for the name */
    METRICS_HS_TIMEOUT,            /* timeouts.tls_handshake */
    METRICS_HS_CLIENT_CLOSED,      /* the client closed or reset the connection */
    METRICS_HS_PROTOCOL_VERSION,   /* no TLS version in common (below min_version) */
    METRICS_HS_NO_SHARED_CIPHER,   /* no cipher suite, group or signature in common */
    METRICS_HS_NO_ALPN,            /* no application protocol in common */
    METRICS_HS_HTTP_REQUEST,       /* plain HTTP sent to the TLS port */
    METRICS_HS_PEER_ALERT,         /* the client gave up with an alert (it does not trust
                                      the server certificate, ...) */
    METRICS_HS_TLS_ERROR,          /* any other TLS failure (a malformed record, ...) */
    METRICS_NUM_HS_ERRORS
};

/* struct metrics_listener is what one worker counts for one listener. */
struct metrics_listener {
    atomic_uint_fast64_t requests[METRICS_NUM_PROTOCOLS][METRICS_NUM_DECISIONS]
                                 [CG_REASON_COUNT][CG_HTTP_STATUS_NUM_SLOTS];
    struct cg_latency duration[METRICS_NUM_PROTOCOLS]; /* accepted to logged */
    atomic_uint_fast64_t connections[METRICS_NUM_PROTOCOLS + 1]; /* gauge; last slot:
                                                                     in handshake */
    atomic_uint_fast64_t handshakes[METRICS_NUM_TLS_VERSIONS];
    atomic_uint_fast64_t handshake_errors[METRICS_NUM_HS_ERRORS];
    atomic_uint_fast64_t bytes_received; /* from clients, on the wire (TLS included) */
    atomic_uint_fast64_t bytes_sent;
    atomic_uint_fast64_t h2_no_progress_goaways; /* HTTP/2 connections ended with GOAWAY
                                                    ENHANCE_YOUR_CALM: frames without
                                                    progress over the budget */
};

/* struct worker_metrics is a worker's counters, one block per listener name the process
 * has served (listener_rt.metrics_index). A block never moves: a configuration reload
 * that adds a listener only grows the array of pointers. */
struct worker_metrics {
    struct metrics_listener **listeners;
    size_t num_listeners;
};

/* worker_metrics_new returns zeroed counters for |num_listeners| listeners; free them
 * with worker_metrics_free (NULL is a no-op). */
struct worker_metrics *worker_metrics_new(size_t num_listeners);
void worker_metrics_free(struct worker_metrics *m);

/* worker_metrics_grow adds zeroed blocks until |m| has |num_listeners| (no-op when it
 * has as many). The owning worker calls it with the main thread kept out (readers hold
 * worker_lock_snapshots). */
void worker_metrics_grow(struct worker_metrics *m, size_t num_listeners);

/* metrics_protocol_str, metrics_decision_str, metrics_tls_version_str and
 * metrics_handshake_error_str return the label values ("h2", "deny", "TLSv1.3",
 * "timeout"); static storage. metrics_conn_slot_str names the connection slots: the
 * protocols, then "handshake". */
const char *metrics_protocol_str(enum metrics_protocol p);
const char *metrics_decision_str(enum metrics_decision d);
const char *metrics_tls_version_str(enum metrics_tls_version v);
const char *metrics_handshake_error_str(enum metrics_handshake_error e);
const char *metrics_conn_slot_str(unsigned slot);

/* metrics_handshake_error_of classifies a handshake that failed with the BoringSSL
 * error |ssl_err| (0: none was queued, the peer closed). */
enum metrics_handshake_error metrics_handshake_error_of(uint32_t ssl_err);

/* metrics_tls_version_of maps a negotiated protocol version (TLS1_3_VERSION) to its
 * slot; anything but TLS 1.3 is TLS 1.2, the lowest certgate accepts. */
enum metrics_tls_version metrics_tls_version_of(int version);

/* metrics_request counts one finished request of listener |listener| on |m|: its
 * protocol, decision, reason (CG_REASON_NONE counts as "none"), the status sent to the
 * client (0: none) and how long it took. */
static inline void metrics_request(struct worker_metrics *m, size_t listener,
                                   enum metrics_protocol protocol, enum metrics_decision decision,
                                   enum cg_reason reason, int status, uint64_t duration_us)
{
    struct metrics_listener *l = m->listeners[listener];
    unsigned r = (unsigned)reason < CG_REASON_COUNT ? (unsigned)reason : CG_REASON_NONE;
    cg_counter_add(&l->requests[protocol][decision][r][cg_http_status_slot(status)], 1);
    cg_latency_observe(&l->duration[protocol], duration_us);
}

#endif
