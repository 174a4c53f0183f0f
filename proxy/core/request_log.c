#include "proxy/core/request_log.h"

#include <time.h>

#include "common/json_line.h"
#include "common/str.h"
#include "proxy/core/access_log.h"
#include "proxy/core/authz.h"
#include "proxy/core/conn.h"
#include "proxy/core/runtime.h"
#include "proxy/core/worker.h"

/* Room for one line: a request target of several KiB stays whole; a longer one is cut
 * and the line says "truncated":true (common/json_line.h). */
#define LOG_LINE_SIZE (8 * 1024)

static enum metrics_decision decision_of(const struct authz_result *az)
{
    return az == NULL     ? METRICS_DECISION_NONE
           : !az->allow   ? METRICS_DECISION_DENY
           : az->d.audit  ? METRICS_DECISION_AUDIT
                          : METRICS_DECISION_ALLOW;
}

/* begin_line starts a line in |buf| (LOG_LINE_SIZE bytes) with the members every line
 * starts with: time and connection. */
static void begin_line(struct cg_json_line *l, char *buf, const struct client_conn *c)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    char conn[48], *p = conn;
    *p++ = 'w';
    p = cg_put_u64(p, c->w->id);
    *p++ = 'c';
    p = cg_put_u64(p, c->id);
    cg_json_line_begin(l, buf, LOG_LINE_SIZE);
    cg_json_line_time(l, "time", &now);
    cg_json_line_strn(l, "conn", conn, (size_t)(p - conn));
}

static void append(const struct client_conn *c, struct cg_json_line *l)
{
    size_t len = cg_json_line_end(l);
    access_log_append(c->w->rt->access_log, c->w->id, l->buf, len);
}

void request_log_write(struct client_conn *c, const struct request_log_fields *f)
{
    const struct authz_result *az = f->az;
    enum metrics_decision decision = decision_of(az);
    enum cg_reason reason = f->reason != CG_REASON_NONE ? f->reason
                            : az != NULL                ? az->reason
                                                        : CG_REASON_NONE;
    metrics_request(c->w->metrics, c->lrt->metrics_index, c->protocol->metrics_protocol, decision, reason,
                    f->status, f->duration_us);
    conn_count_bytes(c);
    if (c->w->rt->access_log == NULL) {
        return;
    }
    char buf[LOG_LINE_SIZE];
    struct cg_json_line l;
    begin_line(&l, buf, c);
    cg_json_line_u64(&l, "stream", f->stream_id);
    cg_json_line_str(&l, "request_id", f->request_id);
    cg_json_line_str(&l, "client", c->peer_ip);
    cg_json_line_u64(&l, "client_port", c->peer_port);
    cg_json_line_str(&l, "listener", c->lrt->cfg->name);
    cg_json_line_str(&l, "host", conn_host_name(c));
    cg_json_line_str(&l, "sni", c->tls.peer.sni);
    cg_json_line_str(&l, "alpn", f->alpn);
    cg_json_line_str(&l, "tls", conn_tls_version(c));
    cg_json_line_str(&l, "cipher", conn_cipher(c));
    cg_json_line_str(&l, "cert_name", az ? az->entry_name : "");
    cg_json_line_str(&l, "thumbprint", c->authz.thumbprint);
    cg_json_line_str(&l, "clearance", az ? az->clearance : "");
    cg_json_line_str(
        &l, "matched_by",
        az && az->d.matched_by != POLICY_MATCH_NONE ? policy_match_str(az->d.matched_by) : "");
    cg_json_line_str(&l, "method", f->method);
    cg_json_line_str(&l, "authority", f->authority);
    cg_json_line_str(&l, "path", f->path);
    cg_json_line_str(&l, "database", az ? az->database : "");
    cg_json_line_str(&l, "requirement", az ? az->requirement : "");
    cg_json_line_str(&l, "level", az ? az->level : "");
    if (az != NULL && az->d.route_pattern != NULL) {
        cg_json_line_i64(&l, "route", az->d.route_index);
        cg_json_line_str(&l, "route_path", az->d.route_pattern);
    }
    cg_json_line_str(&l, "decision", metrics_decision_str(decision));
    cg_json_line_str(&l, "reason", cg_reason_str(reason));
    if (f->detail != NULL) {
        cg_json_line_str(&l, "detail", f->detail);
    }
    cg_json_line_i64(&l, "status", f->status);
    if (f->grpc_status >= 0) {
        cg_json_line_i64(&l, "grpc_status", f->grpc_status);
    }
    cg_json_line_str(&l, "upstream", f->upstream);
    if (f->upstream_status != 0) {
        cg_json_line_i64(&l, "upstream_status", f->upstream_status);
        cg_json_line_u64(&l, "upstream_duration_us", f->upstream_us);
    }
    if (f->user_agent != NULL && f->user_agent[0] != '\0') {
        cg_json_line_str(&l, "user_agent", f->user_agent);
    }
    cg_json_line_u64(&l, "bytes_in", f->bytes_in);
    cg_json_line_u64(&l, "bytes_out", f->bytes_out);
    cg_json_line_u64(&l, "duration_us", f->duration_us);
    cg_json_line_u64(&l, "policy_generation", az ? az->generation : 0);
    append(c, &l);
}

void request_log_conn_refused(const struct client_conn *c, enum cg_reason reason)
{
    if (c->w->rt->access_log == NULL) {
        return;
    }
    char buf[LOG_LINE_SIZE];
    struct cg_json_line l;
    begin_line(&l, buf, c);
    cg_json_line_str(&l, "client", c->peer_ip);
    cg_json_line_u64(&l, "client_port", c->peer_port);
    cg_json_line_str(&l, "listener", c->lrt->cfg->name);
    cg_json_line_str(&l, "host", conn_host_name(c));
    if (c->tls.peer.sni[0] != '\0') {
        cg_json_line_str(&l, "sni", c->tls.peer.sni);
    }
    cg_json_line_str(&l, "decision", "deny");
    cg_json_line_str(&l, "reason", cg_reason_str(reason));
    cg_json_line_u64(&l, "status", 0);
    append(c, &l);
}
