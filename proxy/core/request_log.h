/* The record of a finished request, shared by HTTP/1.1 and HTTP/2 so both count and log
 * the same fields the same way: the worker's request counters (proxy/core/metrics.h)
 * and one access/audit log line, and one line per connection refused before a request.
 * Every line is written by common/json_line.h: whatever a client sends (SNI, Host, path,
 * method, User-Agent) stays inside its JSON string. */
#ifndef CG_PROXY_CORE_REQUEST_LOG_H
#define CG_PROXY_CORE_REQUEST_LOG_H

#include <stdint.h>

#include "common/reason.h"

struct client_conn;
struct authz_result;

struct request_log_fields {
    const char *request_id;
    uint32_t stream_id; /* 0 for HTTP/1.1 */
    const char *alpn;   /* "http/1.1", "h2" */
    const char *method;
    const char *authority;
    const char *path;              /* normalized path (raw target if refused before) */
    int status;                    /* sent to the client; 0 if none */
    enum cg_reason reason;         /* why certgate answered or closed; CG_REASON_NONE:
                                      the decision's (az) */
    const char *detail;            /* what exactly was wrong (a parser's words), or NULL */
    const struct authz_result *az; /* the decision, or NULL when none was taken */
    const char *upstream;          /* "ip:port" or "" */
    int upstream_status;           /* the database's status; 0 when it sent none */
    uint64_t upstream_us;          /* request head sent to the database's response head
                                      (with upstream_status) */
    const char *user_agent;        /* the client's User-Agent, NULL or "" when none */
    uint64_t bytes_in;             /* request body bytes */
    uint64_t bytes_out;            /* response body bytes */
    uint64_t duration_us;
    int grpc_status; /* -1 when not gRPC */
};

/* request_log_write records a finished request of |c|: counts it in the worker's metrics
 * (with the bytes |c| moved so far), then formats |f| as one JSON line and queues it on
 * the access log of |c|'s worker when there is one. */
void request_log_write(struct client_conn *c, const struct request_log_fields *f);

/* request_log_conn_refused logs a connection refused before any request (an address the
 * policy does not allow, a bad PROXY header, a server name that is not a host name):
 * "decision":"deny" with |reason| and status 0. */
void request_log_conn_refused(const struct client_conn *c, enum cg_reason reason);

#endif
