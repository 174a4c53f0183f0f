#include "proxy/request_log.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "proxy/access_log.h"
#include "proxy/authz.h"
#include "proxy/conn.h"
#include "proxy/server.h"
#include "proxy/worker.h"

/* esc writes |s| as the inside of a JSON string; returns |out|. */
static const char *esc(char *out, size_t cap, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    for (; s != NULL && *s != '\0' && n + 7 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            out[n++] = '\\';
            out[n++] = (char)ch;
        } else if (ch < 0x20 || ch >= 0x7f) {
            out[n++] = '\\';
            out[n++] = 'u';
            out[n++] = '0';
            out[n++] = '0';
            out[n++] = hex[ch >> 4];
            out[n++] = hex[ch & 15];
        } else {
            out[n++] = (char)ch;
        }
    }
    out[n] = '\0';
    return out;
}

void request_log_write(const struct client_conn *c, const struct request_log_fields *f)
{
    struct access_log *log = c->w->srv->access_log;
    if (log == NULL) {
        return;
    }
    const struct authz_result *az = f->az;
    char ts[40], path[1200], host[300], method[80], name[300], db[300], line[4096];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    const char *decision = az == NULL    ? "none"
                           : !az->allow  ? "deny"
                           : az->d.audit ? "audit"
                                         : "allow";
    char grpc[32] = "";
    if (f->grpc_status >= 0) {
        snprintf(grpc, sizeof(grpc), ",\"grpc_status\":%d", f->grpc_status);
    }
    int n = snprintf(
        line, sizeof(line),
        "{\"time\":\"%s.%06ldZ\",\"conn\":\"w%uc%" PRIu64 "\",\"stream\":%u,"
        "\"request_id\":\"%s\",\"client\":\"%s\",\"client_port\":%u,\"listener\":\"%s\",\"sni\":\"%"
        "s\","
        "\"alpn\":\"%s\",\"tls\":\"%s\",\"cipher\":\"%s\",\"cert_name\":\"%s\","
        "\"thumbprint\":\"%s\",\"clearance\":\"%s\",\"matched_by\":\"%s\",\"method\":\"%s\","
        "\"authority\":\"%s\",\"path\":\"%s\",\"database\":\"%s\",\"requirement\":\"%s\","
        "\"level\":\"%s\",\"decision\":\"%s\",\"reason\":\"%s\",\"status\":%d%s,"
        "\"upstream\":\"%s\",\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64
        ",\"duration_us\":%" PRIu64 ",\"policy_generation\":%" PRIu64 "}",
        ts, now.tv_nsec / 1000, c->w->id, c->id, f->stream_id, f->request_id ? f->request_id : "",
        c->peer_ip, c->peer_port, c->lrt->cfg->name, c->tls.peer.sni, f->alpn, conn_tls_version(c),
        conn_cipher(c), esc(name, sizeof(name), az ? az->entry_name : ""), c->authz.thumbprint,
        az ? az->clearance : "",
        az && az->d.matched_by != POLICY_MATCH_NONE ? policy_match_str(az->d.matched_by) : "",
        esc(method, sizeof(method), f->method), esc(host, sizeof(host), f->authority),
        esc(path, sizeof(path), f->path), esc(db, sizeof(db), az ? az->database : ""),
        az ? az->requirement : "", az ? az->level : "", decision,
        f->reason ? f->reason : (az ? az->reason : ""), f->status, grpc,
        f->upstream ? f->upstream : "", f->bytes_in, f->bytes_out, f->duration_us,
        az ? az->generation : 0);
    if (n > 0) {
        size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
        access_log_append(log, c->w->id, line, len);
    }
}
