#include "control/upstream_probe.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <nghttp2/nghttp2.h>

#include "common/bug.h"
#include "common/clock.h"
#include "common/mem.h"
#include "proxy/http1/h1_parse.h"
#include "proxy/net/sock.h"
#include "proxy/tls/tls_client.h"
#include "proxy/tls/tls_conn.h"
#include "proxy/upstream/upstream_server.h"

/* A health endpoint's head is small; more is not a health answer. */
#define MAX_HEAD 16384
#define USER_AGENT "certgate-health-check"

struct upstream_probe {
    struct event_base *base;
    const struct config_upstream *up;
    struct tls_client *tls;
    struct upstream_server *server; /* a reference */
    upstream_probe_done done;       /* NULL once reported or cancelled */
    void *arg;
    struct sock sock;    /* the connect, then the cleartext transport */
    struct evbuffer *in; /* cleartext input (the TLS connection has its own) */
    struct tls_conn tc;  /* the TLS transport, once connected */
    bool use_tls;
    nghttp2_session *ng; /* h2c and h2 */
    int32_t stream_id;
    int status;                /* h2: :status of the head being received */
    struct event *ev_deadline; /* health_check.timeout */
    struct event *ev_free;     /* the probe is over: free it from the loop */
};

static void finish(struct upstream_probe *p, int status, const char *why)
{
    upstream_probe_done done = p->done;
    p->done = NULL;
    if (done != NULL) {
        done(p->arg, status, why);
    }
    /* We may be inside a callback of the socket, the TLS connection or nghttp2. */
    event_active(p->ev_free, EV_TIMEOUT, 0);
}

static void on_free(evutil_socket_t fd, short what, void *arg)
{
    struct upstream_probe *p = arg;
    if (p->ng != NULL) {
        nghttp2_session_del(p->ng);
    }
    sock_cleanup(&p->sock);
    tls_conn_cleanup(&p->tc); /* its SSL used the server's sessions: before the unref */
    if (p->in != NULL) {
        evbuffer_free(p->in);
    }
    event_free(p->ev_deadline);
    event_free(p->ev_free);
    upstream_server_unref(p->server);
    free(p);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct upstream_probe *p = arg;
    finish(p, 0, p->status < 0 ? "connect failed" : "timeout");
}

/* authority is what Host (:authority) names: the name the certificate is checked for,
 * else the server's address. */
static const char *authority(const struct upstream_probe *p)
{
    return p->up->tls.sni != NULL ? p->up->tls.sni : p->server->addr.text;
}

static void send_bytes(struct upstream_probe *p, const void *data, size_t len)
{
    if (p->use_tls) {
        if (tls_conn_write_bytes(&p->tc, data, len) != CG_OK) {
            finish(p, 0, "TLS write failed");
        }
        return;
    }
    evbuffer_add(sock_output(&p->sock), data, len);
}

/* ---- HTTP/2 ----------------------------------------------------------------------- */

static int on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    struct upstream_probe *p = ud;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->hd.stream_id == p->stream_id && namelen == 7 &&
        memcmp(name, ":status", 7) == 0) {
        p->status = 0;
        for (size_t i = 0; i < valuelen && i < 3 && value[i] >= '0' && value[i] <= '9'; i++) {
            p->status = p->status * 10 + (value[i] - '0');
        }
    }
    return 0;
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
    struct upstream_probe *p = ud;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->hd.stream_id == p->stream_id &&
        p->status >= 200 && p->done != NULL) {
        finish(p, p->status, NULL);
    } else if (frame->hd.type == NGHTTP2_HEADERS && p->status < 200) {
        p->status = 0; /* an interim head: the final one follows */
    }
    return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t error_code, void *ud)
{
    struct upstream_probe *p = ud;
    if (id == p->stream_id && p->done != NULL) {
        finish(p, 0, "stream closed without a response");
    }
    return 0;
}

static void h2_flush(struct upstream_probe *p)
{
    const uint8_t *data;
    ssize_t n;
    while (p->done != NULL && (n = nghttp2_session_mem_send(p->ng, &data)) != 0) {
        if (n < 0) {
            finish(p, 0, "HTTP/2 error");
            return;
        }
        send_bytes(p, data, (size_t)n);
    }
}

static void h2_start(struct upstream_probe *p)
{
    nghttp2_session_callbacks *cbs;
    CG_BUG_ON(nghttp2_session_callbacks_new(&cbs) != 0);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    int rv = nghttp2_session_client_new(&p->ng, cbs, p);
    nghttp2_session_callbacks_del(cbs);
    if (rv != 0) {
        p->ng = NULL;
        finish(p, 0, "HTTP/2 session failed");
        return;
    }
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0}};
    nghttp2_submit_settings(p->ng, NGHTTP2_FLAG_NONE, iv, 1);
    const char *auth = authority(p);
    const char *path = p->up->health.path;
    const char *scheme = p->use_tls ? "https" : "http";
#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE}
    nghttp2_nv nv[] = {NV(":method", "GET"), NV(":scheme", scheme), NV(":authority", auth),
                       NV(":path", path), NV("user-agent", USER_AGENT)};
#undef NV
    p->stream_id = nghttp2_submit_request(p->ng, NULL, nv, sizeof(nv) / sizeof(nv[0]), NULL, p);
    if (p->stream_id < 0) {
        finish(p, 0, "HTTP/2 request failed");
        return;
    }
    h2_flush(p);
}

static void h2_input(struct upstream_probe *p, struct evbuffer *in)
{
    size_t len = evbuffer_get_length(in);
    ssize_t n = nghttp2_session_mem_recv(p->ng, evbuffer_pullup(in, -1), len);
    evbuffer_drain(in, len);
    if (n < 0) {
        finish(p, 0, "HTTP/2 protocol error");
        return;
    }
    h2_flush(p);
}

/* ---- HTTP/1.1 --------------------------------------------------------------------- */

static void h1_start(struct upstream_probe *p)
{
    char req[1400];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: " USER_AGENT
                     "\r\nConnection: close\r\n\r\n",
                     p->up->health.path, authority(p));
    if (n < 0 || (size_t)n >= sizeof(req)) {
        finish(p, 0, "request too long");
        return;
    }
    send_bytes(p, req, (size_t)n);
}

static void h1_input(struct upstream_probe *p, struct evbuffer *in)
{
    static const struct h1_limits limits = {
        .max_request_line = 8192, .max_head = MAX_HEAD, .max_headers = 100};
    for (;;) {
        size_t len = evbuffer_get_length(in);
        if (len == 0) {
            return;
        }
        struct h1_header headers[100];
        struct h1_response r;
        const char *buf = (const char *)evbuffer_pullup(in, -1);
        enum h1_parse_result res =
            h1_parse_response(buf, len, &limits, cg_str_from_cstr("GET"), headers, 100, &r);
        if (res == H1_PARSE_INCOMPLETE) {
            return;
        }
        if (res != H1_PARSE_OK) {
            finish(p, 0, "malformed response head");
            return;
        }
        if (r.status >= 200) {
            finish(p, r.status, NULL);
            return;
        }
        evbuffer_drain(in, r.head_len); /* an interim 1xx head */
    }
}

static void start_request(struct upstream_probe *p)
{
    if (p->up->protocol == CONFIG_UPSTREAM_HTTP11) {
        h1_start(p);
    } else {
        h2_start(p);
    }
}

static void got_input(struct upstream_probe *p, struct evbuffer *in)
{
    if (p->done == NULL) {
        evbuffer_drain(in, evbuffer_get_length(in));
        return;
    }
    if (p->up->protocol == CONFIG_UPSTREAM_HTTP11) {
        h1_input(p, in);
    } else {
        h2_input(p, in);
    }
}

/* ---- transports ------------------------------------------------------------------- */

static void on_tls_handshake(void *arg)
{
    struct upstream_probe *p = arg;
    size_t len;
    const char *alpn = tls_conn_alpn(&p->tc, &len);
    if (p->up->protocol == CONFIG_UPSTREAM_H2 &&
        (alpn == NULL || len != 2 || memcmp(alpn, "h2", 2) != 0)) {
        finish(p, 0, "no ALPN h2");
        return;
    }
    start_request(p);
}

static void on_tls_read(void *arg)
{
    struct upstream_probe *p = arg;
    got_input(p, tls_conn_input(&p->tc));
}

static void on_tls_drain(void *arg)
{
}

static void on_tls_close(void *arg, enum tls_conn_end end)
{
    struct upstream_probe *p = arg;
    if (p->done != NULL) {
        finish(p, 0, p->tc.handshake_done ? "closed before a response" : "TLS handshake failed");
    }
}

static const struct tls_conn_callbacks tls_cbs = {
    .on_handshake = on_tls_handshake,
    .on_read = on_tls_read,
    .on_drain = on_tls_drain,
    .on_close = on_tls_close,
};

static void on_readable(void *arg, bool kicked)
{
    struct upstream_probe *p = arg;
    ssize_t n = sock_read(&p->sock, p->in, MAX_HEAD + 1);
    if (n > 0 || (n < 0 && sock_again(errno))) {
        got_input(p, p->in);
        if (p->done != NULL && evbuffer_get_length(p->in) > MAX_HEAD) {
            finish(p, 0, "response head too large");
        }
        return;
    }
    sock_read_stop(&p->sock);
    if (p->done != NULL) {
        finish(p, 0, "closed before a response");
    }
}

static void on_drain(void *arg)
{
}

static void on_event(void *arg, enum sock_event ev)
{
    struct upstream_probe *p = arg;
    if (p->done == NULL) {
        return;
    }
    if (ev != SOCK_CONNECTED) {
        finish(p, 0, ev == SOCK_TIMEOUT ? "timeout" : "connect failed");
        return;
    }
    if (p->tls == NULL) {
        sock_read_start(&p->sock);
        start_request(p);
        return;
    }
    int fd = sock_detach(&p->sock);
    SSL *ssl = tls_client_new_ssl(p->tls, &p->server->addr, p->server->tls_sessions);
    if (ssl == NULL) {
        close(fd);
        finish(p, 0, "cannot create a TLS connection");
        return;
    }
    p->use_tls = true;
    if (tls_conn_init(&p->tc, p->base, fd, ssl, &tls_cbs, p, 0) != CG_OK) {
        finish(p, 0, "cannot create a TLS connection");
        return;
    }
    tls_conn_set_input_max(&p->tc, MAX_HEAD + 1);
    tls_conn_start_handshake(&p->tc);
}

static const struct sock_callbacks sock_cbs = {
    .on_readable = on_readable,
    .on_drain = on_drain,
    .on_event = on_event,
};

struct upstream_probe *upstream_probe_start(struct event_base *base,
                                            const struct config_upstream *up,
                                            struct tls_client *tls, struct upstream_server *s,
                                            upstream_probe_done done, void *arg)
{
    struct upstream_probe *p = cg_xcalloc(1, sizeof(*p));
    p->base = base;
    p->up = up;
    p->tls = tls;
    p->server = upstream_server_ref(s);
    p->done = done;
    p->arg = arg;
    p->in = evbuffer_new();
    p->ev_deadline = evtimer_new(base, on_deadline, p);
    p->ev_free = event_new(base, -1, 0, on_free, p);
    CG_BUG_ON(p->in == NULL || p->ev_deadline == NULL || p->ev_free == NULL);
    struct timeval tv = cg_timeval_ms(up->health.timeout);
    evtimer_add(p->ev_deadline, &tv);
    if (sock_connect(&p->sock, base, (const struct sockaddr *)&s->addr.addr, s->addr.addr_len, 0,
                     &sock_cbs, p) != CG_OK) {
        /* Reported from the loop (on_deadline), never before we return. */
        p->status = -1;
        struct timeval now = {0, 0};
        evtimer_add(p->ev_deadline, &now);
    }
    return p;
}

void upstream_probe_cancel(struct upstream_probe *p)
{
    p->done = NULL;
    event_active(p->ev_free, EV_TIMEOUT, 0);
}
