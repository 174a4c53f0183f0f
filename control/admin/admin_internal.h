/* Shared by the files of the admin API: admin_server.c (listener, connections,
 * HTTP/1.1, authorization, routing, audit), admin_origin.c (cross-site request
 * refusal), admin_certs.c (client certificate registry), admin_server_cert.c (the
 * serving certificate), admin_ca.c (the private CA's certificate), admin_policy.c (the
 * policy in force, explain), admin_status.c (status, metrics, probes, reload) and
 * admin_ui.c (the web console's files). Not for use outside
 * control/admin/admin_*.c. */
#ifndef CG_CONTROL_ADMIN_ADMIN_INTERNAL_H
#define CG_CONTROL_ADMIN_ADMIN_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "common/str.h"
#include "policy/policy.h"

#define ADMIN_MAX_BODY (1024 * 1024) /* bytes of a request body; more answers 413 */
#define ADMIN_MAX_CONNS 64           /* open admin connections; more are refused */

struct listener_rt;
struct reloader;
struct runtime;
struct snapshot;
struct tls_server;

struct admin_server {
    struct runtime *rt;
    struct event_base *base; /* the main loop */
    struct reloader *rl;
    struct snapshot *snap;   /* the configuration snapshot |lrt| and |slot| are in (a
                                reference): the current one, unless a reload removed the
                                managed listener or host entry (admin_server_rebind) */
    struct listener_rt *lrt; /* the proxy listener managed (admin.listener) */
    struct policy_slot *slot; /* the policy managed: admin.host's, else the listener's
                                 own; NULL when the listener has none of its own and
                                 admin.host is unset (every call is refused) */
    size_t slot_index;        /* its index in snap->policy_slots */
    struct tls_server *tls;  /* own SSL_CTX (ALPN http/1.1 only), serving
                                lrt's current certificate set */
    struct evconnlistener *evl;
    struct admin_conn *conns; /* open connections, doubly linked */
    unsigned num_conns;       /* <= ADMIN_MAX_CONNS */
    uint64_t next_conn_id;
    uint64_t next_request_id;
};

/* struct admin_request is one parsed request, valid during the handler call. */
struct admin_request {
    struct cg_str method;
    const char *path; /* NUL-terminated, without the query */
    const char *body; /* body_len bytes (not NUL-terminated); NULL when empty */
    size_t body_len;
    const char *if_match; /* the If-Match value (NUL-terminated) or NULL */
    const char *request_id;
    /* The caller, as the policy identified it (for handlers that apply RavenDB's
     * Operator rule and for the audit line). */
    const char *who_name;   /* points to who_name_buf once identified, else NULL */
    char who_name_buf[128]; /* a copy: a change replaces the policy that named it */
    const char *who_thumbprint;
    enum policy_clearance who_clearance;
};

/* struct admin_response is filled by a handler and sent by admin.c. */
struct admin_response {
    int status;
    const char *content_type; /* static; default application/json */
    struct evbuffer *body;    /* owned by admin.c */
    char headers[1024];       /* extra header lines, each ending in CRLF */
    size_t headers_len;
    bool changed;     /* the request changed state: logged at info */
    char target[256]; /* what the request was about (name, thumbprint) */
    char reason[256]; /* outcome for the audit log ("" when the status says it) */
};

/* admin_resp_header appends one "Name: value" header line to |resp|. */
void admin_resp_header(struct admin_response *resp, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* admin_resp_json answers |status| with |body| as JSON (the reference is stolen). */
void admin_resp_json(struct admin_response *resp, int status, json_t *body);

/* admin_resp_error answers {"error": error, "reason": reason, "request_id": ...}; the
 * reason also goes to the audit log. */
void admin_resp_error(struct admin_response *resp, const struct admin_request *req, int status,
                      const char *error, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* admin_resp_etag adds ETag: "<generation of the managed policy>". */
void admin_resp_etag(struct admin_server *a, struct admin_response *resp);

/* admin_policy_generation is the generation of the managed policy in force (0 when
 * none is loaded). */
uint64_t admin_policy_generation(const struct admin_server *a);

/* admin_policy returns the managed policy in force (admin.listener, admin.host), or
 * NULL when none is loaded. admin_policy_file returns its file, or NULL; admin_host
 * the managed host entry's name, "" for the listener's own policy. */
struct policy *admin_policy(const struct admin_server *a);
const char *admin_policy_file(const struct admin_server *a);
const char *admin_host(const struct admin_server *a);

struct h1_header;

/* What admin_origin_check says of a request. */
enum admin_origin_verdict {
    ADMIN_ORIGIN_OK = 0,     /* the request may go on */
    ADMIN_ORIGIN_CROSS_SITE, /* an Origin other than https://<host>, or Sec-Fetch-Site
                                cross-site or same-site: answered 403 */
    ADMIN_ORIGIN_NOT_JSON,   /* a body, or a Content-Type, other than application/json:
                                answered 415 */
};

/* admin_origin_check refuses a state-changing request (any method but GET and HEAD)
 * that a browser could have sent on behalf of another site (admin_origin.c): an
 * operator who imported an admin bundle into a browser presents it to every page that
 * asks, and a "simple" cross-site request (a form, fetch without CORS) needs no
 * preflight. |host| is the request's Host value (empty when absent), |headers| its
 * fields, |body_len| its body length. Unless it returns ADMIN_ORIGIN_OK, |*reason| is
 * set to a static string for the answer and the audit log. */
enum admin_origin_verdict admin_origin_check(struct cg_str method, struct cg_str host,
                                             const struct h1_header *headers,
                                             size_t num_headers, uint64_t body_len,
                                             const char **reason);

/* Handlers. Each fills |resp|; none fails otherwise. */
void admin_certs_list(struct admin_server *a, const struct admin_request *req,
                      struct admin_response *resp);
void admin_certs_create(struct admin_server *a, const struct admin_request *req,
                        struct admin_response *resp);
void admin_certs_import(struct admin_server *a, const struct admin_request *req,
                        struct admin_response *resp);
void admin_certs_get(struct admin_server *a, const struct admin_request *req,
                     const char *thumbprint, struct admin_response *resp);
void admin_certs_edit(struct admin_server *a, const struct admin_request *req,
                      const char *thumbprint, struct admin_response *resp);
void admin_certs_delete(struct admin_server *a, const struct admin_request *req,
                        const char *thumbprint, struct admin_response *resp);
void admin_server_cert_get(struct admin_server *a, const struct admin_request *req,
                           struct admin_response *resp);
void admin_server_cert_renew(struct admin_server *a, const struct admin_request *req,
                             struct admin_response *resp);
void admin_status(struct admin_server *a, const struct admin_request *req,
                  struct admin_response *resp);
void admin_metrics(struct admin_server *a, const struct admin_request *req,
                   struct admin_response *resp);
void admin_reload(struct admin_server *a, const struct admin_request *req,
                  struct admin_response *resp);
void admin_healthz(struct admin_server *a, const struct admin_request *req,
                   struct admin_response *resp);
void admin_ca_cert_get(struct admin_server *a, const struct admin_request *req,
                       struct admin_response *resp);
void admin_policy_get(struct admin_server *a, const struct admin_request *req,
                      struct admin_response *resp);
void admin_explain(struct admin_server *a, const struct admin_request *req,
                   struct admin_response *resp);
/* admin_ui_get answers GET /ui (a redirect) and GET /ui/<file>. */
void admin_ui_get(struct admin_server *a, const struct admin_request *req,
                  struct admin_response *resp);
void admin_readyz(struct admin_server *a, const struct admin_request *req,
                  struct admin_response *resp);

#endif
