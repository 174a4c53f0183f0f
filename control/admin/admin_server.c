/* The admin API server: listener, connections, HTTP/1.1 framing (proxy/http1/h1_parse.h),
 * authorization against the managed listener's policy, routing and the audit line.
 * Handlers live in admin_certs.c, admin_ca.c, admin_policy.c, admin_status.c and
 * admin_ui.c. Everything runs on the main loop,
 * one request at a time per connection. */
#include "control/admin/admin_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/listener.h>

#include "common/clock.h"
#include "common/hex.h"
#include "common/json_line.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/sockaddr.h"
#include "control/admin/admin_internal.h"
#include "control/http_reply.h"
#include "policy/cert_facts.h"
#include "proxy/core/access_log.h"
#include "proxy/core/host_table.h"
#include "proxy/core/runtime.h"
#include "proxy/http1/h1_body.h"
#include "proxy/http1/h1_parse.h"
#include "proxy/tls/tls_conn.h"
#include "proxy/tls/tls_server.h"

#define LINGER_MS 5000
#define MAX_HEADERS 64

/* enum admin_conn_state: where a connection is in its request cycle. */
enum admin_conn_state {
    ADMIN_CONN_HANDSHAKE = 0, /* TLS handshake running (tls_handshake timeout) */
    ADMIN_CONN_IDLE,          /* between requests (keepalive_idle timeout) */
    ADMIN_CONN_HEAD,          /* request head arriving (request_header timeout) */
    ADMIN_CONN_BODY,          /* request body arriving (client_body_idle timeout) */
    ADMIN_CONN_CLOSING,       /* answer queued, flushing then closing (linger) */
};

static const char *state_str(enum admin_conn_state s)
{
    switch (s) {
    case ADMIN_CONN_HANDSHAKE:
        return "handshake";
    case ADMIN_CONN_IDLE:
        return "idle";
    case ADMIN_CONN_HEAD:
        return "head";
    case ADMIN_CONN_BODY:
        return "body";
    case ADMIN_CONN_CLOSING:
        return "closing";
    }
    return "?";
}

struct admin_conn {
    struct admin_server *a;
    struct admin_conn *prev, *next;
    uint64_t id;
    struct tls_conn tls;
    struct sockaddr_storage peer;
    char peer_ip[CG_SOCKADDR_TEXT_MAX];
    uint16_t peer_port;
    struct event *ev_timer;
    struct event *ev_free; /* frees the connection from the loop */
    struct evbuffer *in;   /* plaintext not yet consumed */
    enum admin_conn_state state;
    bool continue_sent; /* "100 Continue" answered for this request */
    bool has_cert;
    struct policy_cert_facts facts;
    char thumbprint[2 * POLICY_SHA1_LEN + 1];
};

/* ---- responses ------------------------------------------------------------------- */

void admin_resp_header(struct admin_response *resp, const char *name, const char *fmt, ...)
{
    char value[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(value, sizeof(value), fmt, ap);
    va_end(ap);
    size_t room = sizeof(resp->headers) - resp->headers_len;
    int n = snprintf(resp->headers + resp->headers_len, room, "%s: %s\r\n", name, value);
    if (n > 0 && (size_t)n < room) {
        resp->headers_len += (size_t)n;
    } else {
        resp->headers[resp->headers_len] = '\0';
    }
}

void admin_resp_json(struct admin_response *resp, int status, json_t *body)
{
    resp->status = status;
    resp->content_type = "application/json";
    evbuffer_drain(resp->body, evbuffer_get_length(resp->body));
    char *text = json_dumps(body, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (text != NULL) {
        evbuffer_add(resp->body, text, strlen(text));
        evbuffer_add(resp->body, "\n", 1);
        free(text);
    }
    json_decref(body);
}

void admin_resp_error(struct admin_response *resp, const struct admin_request *req, int status,
                      const char *error, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(resp->reason, sizeof(resp->reason), fmt, ap);
    va_end(ap);
    admin_resp_json(resp, status,
                    json_pack("{ss ss ss}", "error", error, "reason", resp->reason, "request_id",
                              req->request_id ? req->request_id : ""));
}

struct policy *admin_policy(const struct admin_server *a)
{
    return a->slot != NULL ? a->slot->policy : NULL;
}

const char *admin_policy_file(const struct admin_server *a)
{
    return a->slot != NULL ? a->slot->file : NULL;
}

const char *admin_host(const struct admin_server *a)
{
    return a->slot != NULL ? a->slot->host : "";
}

uint64_t admin_policy_generation(const struct admin_server *a)
{
    return admin_policy(a) != NULL ? policy_generation(admin_policy(a)) : 0;
}

void admin_resp_etag(struct admin_server *a, struct admin_response *resp)
{
    admin_resp_header(resp, "ETag", "\"%" PRIu64 "\"", admin_policy_generation(a));
}

/* ---- connections ----------------------------------------------------------------- */

static void conn_free(struct admin_conn *c)
{
    struct admin_server *a = c->a;
    CG_LOG_DEBUG("admin c%" PRIu64 ": closed (%s)", c->id, state_str(c->state));
    tls_conn_cleanup(&c->tls);
    if (c->ev_timer != NULL) {
        event_free(c->ev_timer);
    }
    if (c->ev_free != NULL) {
        event_free(c->ev_free);
    }
    if (c->in != NULL) {
        evbuffer_free(c->in);
    }
    policy_cert_facts_cleanup(&c->facts);
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        a->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    a->num_conns--;
    a->rt->admin_connections = a->num_conns;
    free(c);
}

static void set_timer(struct admin_conn *c, uint64_t ms)
{
    struct timeval tv = cg_timeval_ms(ms);
    evtimer_add(c->ev_timer, &tv);
}

static void enter(struct admin_conn *c, enum admin_conn_state s)
{
    const struct config_timeouts *t = &c->a->rt->cfg->timeouts;
    c->state = s;
    switch (s) {
    case ADMIN_CONN_HANDSHAKE:
        set_timer(c, t->tls_handshake);
        break;
    case ADMIN_CONN_IDLE:
        set_timer(c, t->keepalive_idle);
        break;
    case ADMIN_CONN_HEAD:
        set_timer(c, t->request_header);
        break;
    case ADMIN_CONN_BODY:
        set_timer(c, t->client_body_idle);
        break;
    case ADMIN_CONN_CLOSING:
        set_timer(c, LINGER_MS);
        break;
    }
}

/* close_conn flushes what is queued and closes; the linger timer bounds it. */
static void close_conn(struct admin_conn *c)
{
    if (c->state == ADMIN_CONN_CLOSING) {
        return;
    }
    enter(c, ADMIN_CONN_CLOSING);
    tls_conn_close(&c->tls);
}

static void fail(struct admin_conn *c, int status, const char *reason);

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct admin_conn *c = arg;
    CG_LOG_DEBUG("admin c%" PRIu64 ": timeout in state %s", c->id, state_str(c->state));
    if (c->state == ADMIN_CONN_HEAD || c->state == ADMIN_CONN_BODY) {
        fail(c, 408, "the request did not arrive in time");
        return;
    }
    if (c->state == ADMIN_CONN_IDLE) {
        close_conn(c);
        return;
    }
    /* Handshake that never finished, or a peer that never took our last bytes. */
    conn_free(c);
}

/* write_response sends |resp| (and closes afterwards when |close|). */
static void write_response(struct admin_conn *c, struct admin_response *resp, bool close)
{
    struct evbuffer *out = evbuffer_new();
    http_reply_head(out, resp->status, resp->content_type ? resp->content_type : "application/json",
                    evbuffer_get_length(resp->body), resp->headers, resp->headers_len, close);
    evbuffer_add_buffer(out, resp->body);
    tls_conn_write(&c->tls, out);
    evbuffer_free(out);
}

/* fail answers a framing error (or a timeout) with |status| and closes. */
static void fail(struct admin_conn *c, int status, const char *reason)
{
    struct admin_request req = {.request_id = ""};
    struct admin_response resp = {.body = evbuffer_new()};
    const char *error = status == 408 ? "timeout" : status == 413 ? "too_large" : "bad_request";
    admin_resp_error(&resp, &req, status, error, "%s", reason);
    CG_LOG_DEBUG("admin c%" PRIu64 ": %d %s", c->id, status, reason);
    write_response(c, &resp, true);
    evbuffer_free(resp.body);
    close_conn(c);
}

/* ---- audit ----------------------------------------------------------------------- */

/* AUDIT_LINE_SIZE holds an audit line with a path of several KiB; a longer one is cut
 * and marked "truncated":true, never lost. */
#define AUDIT_LINE_SIZE (8 * 1024)

static void audit(struct admin_conn *c, const struct admin_request *req,
                  const struct admin_response *resp, bool allowed, const char *deny_reason,
                  uint64_t started_us)
{
    struct admin_server *a = c->a;
    const char *reason = deny_reason != NULL ? deny_reason : resp->reason;
    if (a->rt->access_log != NULL) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        char conn[32];
        snprintf(conn, sizeof(conn), "admin-c%" PRIu64, c->id);
        char buf[AUDIT_LINE_SIZE];
        struct cg_json_line l;
        cg_json_line_begin(&l, buf, sizeof(buf));
        cg_json_line_time(&l, "time", &now);
        cg_json_line_str(&l, "type", "admin");
        cg_json_line_str(&l, "conn", conn);
        cg_json_line_str(&l, "request_id", req->request_id);
        cg_json_line_str(&l, "client", c->peer_ip);
        cg_json_line_u64(&l, "client_port", c->peer_port);
        cg_json_line_str(&l, "listener", a->lrt->cfg->name);
        cg_json_line_str(&l, "cert_name", req->who_name);
        cg_json_line_str(&l, "thumbprint", c->thumbprint);
        cg_json_line_str(&l, "clearance",
                         req->who_clearance ? policy_clearance_str(req->who_clearance) : "");
        cg_json_line_strn(&l, "method", req->method.p, req->method.len);
        cg_json_line_str(&l, "path", req->path);
        cg_json_line_str(&l, "target", resp->target);
        cg_json_line_str(&l, "decision", allowed ? "allow" : "deny");
        cg_json_line_i64(&l, "status", resp->status);
        cg_json_line_str(&l, "reason", reason);
        cg_json_line_u64(&l, "policy_generation", admin_policy_generation(a));
        cg_json_line_u64(&l, "duration_us", cg_monotonic_us() - started_us);
        size_t len = cg_json_line_end(&l);
        access_log_append(a->rt->access_log, 0, buf, len);
    }
    if (resp->changed || !allowed) {
        CG_LOG_INFO("admin: %s %s%s%s by %s (%s) from %s: %d%s%s", req->method.p, req->path,
                    resp->target[0] ? " " : "", resp->target, req->who_name ? req->who_name : "-",
                    c->thumbprint[0] ? c->thumbprint : "no certificate", c->peer_ip, resp->status,
                    reason[0] ? " " : "", reason);
    }
}

/* ---- authorization and routing --------------------------------------------------- */

/* authorize decides whether the caller may use the API; on refusal it fills |resp| and
 * returns the reason. */
static const char *authorize(struct admin_conn *c, struct admin_request *req,
                             struct admin_response *resp)
{
    struct admin_server *a = c->a;
    if (!c->has_cert) {
        admin_resp_error(resp, req, 403, "forbidden", "no_certificate");
        return "no_certificate";
    }
    const struct policy *p = admin_policy(a);
    if (p == NULL) {
        admin_resp_error(resp, req, 403, "forbidden", "no_policy");
        return "no_policy";
    }
    /* The pin proof for the snapshot in force now: policy_pin_verify does the signature
     * check once per issuer key and is two hash lookups otherwise (admin requests are
     * few). The leaf stays in the TLS session for the connection's life. */
    const STACK_OF(CRYPTO_BUFFER) *chain = SSL_get0_peer_certificates(c->tls.ssl);
    if (chain != NULL && sk_CRYPTO_BUFFER_num(chain) > 0) {
        const CRYPTO_BUFFER *leaf = sk_CRYPTO_BUFFER_value(chain, 0);
        policy_pin_verify(p, CRYPTO_BUFFER_data(leaf), CRYPTO_BUFFER_len(leaf), &c->facts);
    }
    struct policy_identity id = {
        .peer = (const struct sockaddr *)&c->peer,
        .cert = &c->facts,
        .chain_required = a->lrt->cfg->tls.client_ca != NULL,
        .chain_validated = c->tls.peer.chain_checked && c->tls.peer.chain_ok,
    };
    struct policy_decision d;
    policy_identify(p, &id, time(NULL), POLICY_CLEARANCE_OPERATOR, &d);
    if (d.entry_name != NULL) {
        snprintf(req->who_name_buf, sizeof(req->who_name_buf), "%s", d.entry_name);
        req->who_name = req->who_name_buf;
    }
    req->who_clearance = d.clearance;
    if (!d.allow) {
        const char *why = policy_reason_str(d.reason);
        admin_resp_error(resp, req, 403, "forbidden", "%s", why);
        return why;
    }
    return NULL;
}

static bool method_is(const struct admin_request *req, const char *m)
{
    return cg_str_eq(req->method, cg_str_from_cstr(m));
}

static void method_not_allowed(const struct admin_request *req, struct admin_response *resp,
                               const char *allow)
{
    admin_resp_header(resp, "Allow", "%s", allow);
    admin_resp_error(resp, req, 405, "method_not_allowed", "use %s", allow);
}

/* whoami answers GET /admin/whoami: the caller as authorize() identified it, so that
 * the console can say who is signed in and offer what that clearance may do. */
static void whoami(struct admin_server *a, const struct admin_request *req,
                   struct admin_response *resp)
{
    admin_resp_json(resp, 200,
                    json_pack("{ss ss ss ss ss}", "name", req->who_name ? req->who_name : "",
                              "clearance", policy_clearance_str(req->who_clearance), "thumbprint",
                              req->who_thumbprint ? req->who_thumbprint : "", "listener",
                              a->lrt->cfg->name, "host", admin_host(a)));
}

/* route runs the handler for an authorized request. */
static void route(struct admin_server *a, struct admin_request *req, struct admin_response *resp)
{
    static const char certs_prefix[] = "/admin/certificates/";
    const char *p = req->path;
    if (strcmp(p, "/ui") == 0 || strncmp(p, "/ui/", 4) == 0) {
        method_is(req, "GET") ? admin_ui_get(a, req, resp) : method_not_allowed(req, resp, "GET");
    } else if (strcmp(p, "/admin/whoami") == 0) {
        method_is(req, "GET") ? whoami(a, req, resp) : method_not_allowed(req, resp, "GET");
    } else if (strcmp(p, "/admin/policy") == 0) {
        method_is(req, "GET") ? admin_policy_get(a, req, resp)
                              : method_not_allowed(req, resp, "GET");
    } else if (strcmp(p, "/admin/explain") == 0) {
        method_is(req, "POST") ? admin_explain(a, req, resp)
                               : method_not_allowed(req, resp, "POST");
    } else if (strcmp(p, "/admin/ca-certificate") == 0) {
        method_is(req, "GET") ? admin_ca_cert_get(a, req, resp)
                              : method_not_allowed(req, resp, "GET");
    } else if (strcmp(p, "/metrics") == 0) {
        method_is(req, "GET") ? admin_metrics(a, req, resp) : method_not_allowed(req, resp, "GET");
    } else if (strcmp(p, "/admin/status") == 0) {
        method_is(req, "GET") ? admin_status(a, req, resp) : method_not_allowed(req, resp, "GET");
    } else if (strcmp(p, "/admin/reload") == 0) {
        method_is(req, "POST") ? admin_reload(a, req, resp) : method_not_allowed(req, resp, "POST");
    } else if (strcmp(p, "/admin/certificates") == 0) {
        if (method_is(req, "GET")) {
            admin_certs_list(a, req, resp);
        } else if (method_is(req, "POST")) {
            admin_certs_create(a, req, resp);
        } else {
            method_not_allowed(req, resp, "GET, POST");
        }
    } else if (strcmp(p, "/admin/certificates/import") == 0) {
        method_is(req, "POST") ? admin_certs_import(a, req, resp)
                               : method_not_allowed(req, resp, "POST");
    } else if (strncmp(p, certs_prefix, sizeof(certs_prefix) - 1) == 0 &&
               strchr(p + sizeof(certs_prefix) - 1, '/') == NULL &&
               p[sizeof(certs_prefix) - 1] != '\0') {
        const char *tp = p + sizeof(certs_prefix) - 1;
        if (method_is(req, "GET")) {
            admin_certs_get(a, req, tp, resp);
        } else if (method_is(req, "PUT")) {
            admin_certs_edit(a, req, tp, resp);
        } else if (method_is(req, "DELETE")) {
            admin_certs_delete(a, req, tp, resp);
        } else {
            method_not_allowed(req, resp, "GET, PUT, DELETE");
        }
    } else if (strcmp(p, "/admin/server-certificate") == 0) {
        method_is(req, "GET") ? admin_server_cert_get(a, req, resp)
                              : method_not_allowed(req, resp, "GET");
    } else if (strcmp(p, "/admin/server-certificate/renew") == 0) {
        method_is(req, "POST") ? admin_server_cert_renew(a, req, resp)
                               : method_not_allowed(req, resp, "POST");
    } else {
        admin_resp_error(resp, req, 404, "not_found", "no such endpoint");
    }
}

/* serve answers one complete request held in |buf| (head |h|, then the body). Returns
 * whether the connection must close afterwards. */
static bool serve(struct admin_conn *c, const char *buf, const struct h1_request *h)
{
    struct admin_server *a = c->a;
    uint64_t started = cg_monotonic_us();
    char request_id[40];
    snprintf(request_id, sizeof(request_id), "%08xad%010" PRIx64, a->rt->instance_id,
             ++a->next_request_id);
    /* Path without the query, method and If-Match as C strings. */
    size_t path_len = h->path.len;
    const char *q = memchr(h->path.p, '?', h->path.len);
    if (q != NULL) {
        path_len = (size_t)(q - h->path.p);
    }
    char *path = cg_xstrndup(h->path.p, path_len);
    char *method = cg_xstrndup(h->method.p, h->method.len);
    char *if_match = NULL;
    for (size_t i = 0; i < h->num_headers; i++) {
        if (cg_str_case_eq_cstr(h->headers[i].name, "If-Match") && if_match == NULL) {
            if_match = cg_xstrndup(h->headers[i].value.p, h->headers[i].value.len);
        }
    }
    struct admin_request req = {
        .method = {method, h->method.len},
        .path = path,
        .body = h->body == H1_BODY_LENGTH && h->content_length > 0 ? buf + h->head_len : NULL,
        .body_len = h->body == H1_BODY_LENGTH ? (size_t)h->content_length : 0,
        .if_match = if_match,
        .request_id = request_id,
        .who_thumbprint = c->thumbprint,
    };
    struct admin_response resp = {.body = evbuffer_new()};
    bool probe = strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0;
    const char *denied = NULL;
    if (probe) {
        if (!method_is(&req, "GET")) {
            method_not_allowed(&req, &resp, "GET");
        } else if (path[1] == 'h') {
            admin_healthz(a, &req, &resp);
        } else {
            admin_readyz(a, &req, &resp);
        }
    } else if ((denied = authorize(c, &req, &resp)) == NULL) {
        /* After authentication, so that the audit line names whose certificate a
         * browser presented for another site. */
        const char *why;
        enum admin_origin_verdict v =
            admin_origin_check(req.method, h->host, h->headers, h->num_headers, req.body_len, &why);
        if (v != ADMIN_ORIGIN_OK) {
            bool forbidden = v == ADMIN_ORIGIN_CROSS_SITE;
            admin_resp_error(&resp, &req, forbidden ? 403 : 415,
                             forbidden ? "forbidden" : "unsupported_media_type", "%s", why);
            denied = why;
        } else {
            route(a, &req, &resp);
        }
    }
    admin_resp_header(&resp, "X-Request-Id", "%s", request_id);
    bool close = (h->flags & H1_F_CONN_CLOSE) != 0 || resp.status == 400;
    write_response(c, &resp, close);
    if (!probe && strcmp(path, "/metrics") != 0) {
        audit(c, &req, &resp, denied == NULL, denied, started);
    }
    evbuffer_free(resp.body);
    free(path);
    free(method);
    free(if_match);
    return close;
}

/* process consumes complete requests from c->in, one at a time. */
static void process(struct admin_conn *c)
{
    const struct config_limits *lim = &c->a->rt->cfg->limits;
    struct h1_limits limits = {
        .max_request_line = lim->max_request_line,
        .max_head = lim->max_header_bytes,
        .max_headers = MAX_HEADERS,
    };
    while (c->state != ADMIN_CONN_CLOSING) {
        size_t len = evbuffer_get_length(c->in);
        if (len == 0) {
            return;
        }
        if (c->state == ADMIN_CONN_IDLE) {
            enter(c, ADMIN_CONN_HEAD);
            c->continue_sent = false;
        }
        struct h1_header headers[MAX_HEADERS];
        struct h1_request h;
        const char *buf = (const char *)evbuffer_pullup(c->in, -1);
        enum h1_parse_result r = h1_parse_request(buf, len, &limits, headers, MAX_HEADERS, &h);
        if (r == H1_PARSE_INCOMPLETE) {
            return;
        }
        if (r == H1_PARSE_ERROR) {
            fail(c, h.error_status, h.error_reason ? h.error_reason : "malformed request");
            return;
        }
        if (h.body == H1_BODY_CHUNKED) {
            fail(c, 411, "the admin API needs Content-Length request bodies");
            return;
        }
        if (h.authority.len > 0 || h.path.len == 0 || h.path.p[0] != '/') {
            fail(c, 400, "origin-form request targets only");
            return;
        }
        uint64_t body_len = h.body == H1_BODY_LENGTH ? h.content_length : 0;
        if (body_len > ADMIN_MAX_BODY) {
            fail(c, 413, "request bodies are limited to 1 MiB");
            return;
        }
        if (len < h.head_len + body_len) {
            enter(c, ADMIN_CONN_BODY); /* (re)starts the body idle timer */
            if ((h.flags & H1_F_EXPECT_CONTINUE) && !c->continue_sent) {
                static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
                c->continue_sent = true;
                tls_conn_write_bytes(&c->tls, cont, sizeof(cont) - 1);
            }
            return;
        }
        bool close = serve(c, buf, &h);
        evbuffer_drain(c->in, h.head_len + (size_t)body_len);
        if (close) {
            close_conn(c);
            return;
        }
        enter(c, ADMIN_CONN_IDLE);
    }
}

/* ---- TLS callbacks --------------------------------------------------------------- */

static void on_handshake(void *arg)
{
    struct admin_conn *c = arg;
    tls_server_check_peer(c->a->tls, &c->tls);
    const STACK_OF(CRYPTO_BUFFER) *chain = SSL_get0_peer_certificates(c->tls.ssl);
    if (chain != NULL && sk_CRYPTO_BUFFER_num(chain) > 0) {
        const CRYPTO_BUFFER *leaf = sk_CRYPTO_BUFFER_value(chain, 0);
        if (policy_cert_facts_from_der(CRYPTO_BUFFER_data(leaf), CRYPTO_BUFFER_len(leaf), &c->facts,
                                       NULL) == CG_OK) {
            c->has_cert = true;
            cg_hex_encode(c->facts.sha1, sizeof(c->facts.sha1), CG_HEX_UPPER, c->thumbprint);
        }
    }
    CG_LOG_DEBUG("admin c%" PRIu64 ": handshake done, %s, cert=%s", c->id,
                 SSL_get_version(c->tls.ssl), c->has_cert ? c->thumbprint : "none");
    enter(c, ADMIN_CONN_IDLE);
}

static void on_read(void *arg)
{
    struct admin_conn *c = arg;
    if (c->state == ADMIN_CONN_CLOSING) {
        evbuffer_drain(tls_conn_input(&c->tls), evbuffer_get_length(tls_conn_input(&c->tls)));
        return;
    }
    /* Bounded: a head is at most max_header_bytes and a body ADMIN_MAX_BODY; process()
     * refuses more as soon as it sees it. */
    evbuffer_add_buffer(c->in, tls_conn_input(&c->tls));
    process(c);
}

static void on_drain(void *arg)
{
}

static void on_free(evutil_socket_t fd, short what, void *arg)
{
    conn_free(arg);
}

static void on_close(void *arg, enum tls_conn_end end)
{
    struct admin_conn *c = arg;
    CG_LOG_DEBUG("admin c%" PRIu64 ": connection end: %s", c->id, tls_conn_end_str(end));
    /* Free from the loop, not here: the glue may still look at the tls_conn after
     * delivering on_close (as proxy/core/conn.c, defer uniformly). */
    evtimer_del(c->ev_timer);
    event_active(c->ev_free, EV_TIMEOUT, 0);
}

static const struct tls_conn_callbacks tls_cbs = {
    .on_handshake = on_handshake,
    .on_read = on_read,
    .on_drain = on_drain,
    .on_close = on_close,
};

/* ---- listener -------------------------------------------------------------------- */

/* sync_certs makes the admin context serve the managed listener's current certificate
 * set (rotations and renewals publish there). */
static void sync_certs(struct admin_server *a)
{
    struct tls_cert_set *want = tls_server_get_certs(a->lrt->tls);
    struct tls_cert_set *have = tls_server_get_certs(a->tls);
    if (want != have) {
        tls_server_set_certs(a->tls, want);
    }
    tls_cert_set_unref(want);
    tls_cert_set_unref(have);
}

static void on_accept(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *sa,
                      int sa_len, void *arg)
{
    struct admin_server *a = arg;
    if (a->num_conns >= ADMIN_MAX_CONNS) {
        CG_LOG_WARN("admin: %d connections open, refusing another", ADMIN_MAX_CONNS);
        close(fd);
        return;
    }
    sync_certs(a);
    struct admin_conn *c = cg_xcalloc(1, sizeof(*c));
    c->a = a;
    c->id = ++a->next_conn_id;
    memcpy(&c->peer, sa, (size_t)sa_len < sizeof(c->peer) ? (size_t)sa_len : sizeof(c->peer));
    cg_sockaddr_text(sa, c->peer_ip);
    c->peer_port = cg_sockaddr_port(sa);
    c->next = a->conns;
    if (a->conns != NULL) {
        a->conns->prev = c;
    }
    a->conns = c;
    a->num_conns++;
    a->rt->admin_connections = a->num_conns;
    c->ev_timer = evtimer_new(a->base, on_timer, c);
    c->ev_free = event_new(a->base, -1, 0, on_free, c);
    c->in = evbuffer_new();
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    SSL *ssl = tls_server_new_ssl(a->tls, &c->tls);
    if (ssl == NULL) {
        close(fd);
        conn_free(c);
        return;
    }
    if (tls_conn_init(&c->tls, a->base, fd, ssl, &tls_cbs, c, 16 * 1024) != CG_OK) {
        conn_free(c); /* tls_conn owns fd and ssl now; cleanup frees them */
        return;
    }
    enter(c, ADMIN_CONN_HANDSHAKE);
    CG_LOG_DEBUG("admin c%" PRIu64 ": accepted from %s", c->id, c->peer_ip);
}

static void on_accept_error(struct evconnlistener *evl, void *arg)
{
    CG_LOG_WARN("admin: accept failed: %s", strerror(errno));
}

int admin_server_new(struct runtime *rt, struct event_base *base, struct reloader *rl, int fd,
                     struct admin_server **out, struct cg_errbuf *err)
{
    const struct config *cfg = rt->cfg;
    struct admin_server *a = cg_xcalloc(1, sizeof(*a));
    a->rt = rt;
    a->base = base;
    a->rl = rl;
    a->snap = snapshot_ref(rt->snap);
    a->lrt = &rt->listeners[cfg->admin.listener_index];
    const struct host_table *hosts = a->lrt->hosts;
    const struct host_entry *managed =
        cfg->admin.host != NULL ? &hosts->entries[cfg->admin.host->index] : hosts->def;
    if (managed != NULL) {
        a->slot_index = managed->policy_slot;
        a->slot = &rt->policy_slots[a->slot_index];
    }
    /* The managed listener's TLS settings (client CA, minimum version, tickets) with
     * HTTP/1.1 as the only ALPN protocol: the admin API speaks nothing else, and serves
     * the listener's own certificates whatever name a client asks for. */
    struct config_listener l = *a->lrt->cfg;
    l.alpn = CONFIG_ALPN_HTTP11;
    l.hosts = NULL;
    l.num_hosts = 0;
    l.host_names = (struct config_host_names){0};
    struct tls_cert_set *certs = tls_server_get_certs(a->lrt->tls);
    int rc = tls_server_new(&l, certs, &a->tls, err);
    tls_cert_set_unref(certs);
    if (rc != CG_OK) {
        close(fd);
        snapshot_unref(a->snap);
        free(a);
        return rc;
    }
    const struct config_address *addr = &cfg->admin.address;
    a->evl = evconnlistener_new(base, on_accept, a, LEV_OPT_CLOSE_ON_FREE, -1, fd);
    if (a->evl == NULL) {
        rc = cg_errf(err, CG_ERR_IO, "admin listen %s: cannot watch the socket", addr->text);
        close(fd);
        tls_server_free(a->tls);
        snapshot_unref(a->snap);
        free(a);
        return rc;
    }
    evconnlistener_set_error_cb(a->evl, on_accept_error);
    CG_LOG_INFO("admin API on %s (certificates of listener %s, policy of %s%s%s)", addr->text,
                a->lrt->cfg->name, a->lrt->cfg->name, admin_host(a)[0] ? " host " : "",
                admin_host(a));
    *out = a;
    return CG_OK;
}

void admin_server_free(struct admin_server *a)
{
    if (a == NULL) {
        return;
    }
    evconnlistener_free(a->evl);
    while (a->conns != NULL) {
        conn_free(a->conns);
    }
    tls_server_free(a->tls);
    snapshot_unref(a->snap);
    free(a);
}

void admin_server_rebind(struct admin_server *a)
{
    const struct snapshot *snap = a->rt->snap;
    const struct listener_rt *lrt = snapshot_find_listener(snap, a->lrt->cfg->name);
    const char *host = admin_host(a);
    const struct host_entry *managed = NULL;
    for (size_t i = 0; lrt != NULL && i < lrt->hosts->num_entries; i++) {
        if (strcmp(lrt->hosts->entries[i].name, host) == 0) {
            managed = &lrt->hosts->entries[i];
        }
    }
    if (lrt == NULL || (a->slot != NULL && managed == NULL)) {
        CG_LOG_WARN("admin API: the new configuration has no listener %s%s%s: it keeps "
                    "managing the one of generation %llu (restart needed)",
                    a->lrt->cfg->name, host[0] ? " host " : "", host,
                    (unsigned long long)a->snap->generation);
        return;
    }
    snapshot_unref(a->snap);
    a->snap = snapshot_ref(a->rt->snap);
    a->lrt = &a->snap->listeners[lrt->index];
    if (managed != NULL) {
        a->slot_index = managed->policy_slot;
        a->slot = &a->snap->policy_slots[a->slot_index];
    }
}
