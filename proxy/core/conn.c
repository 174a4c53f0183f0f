#include "proxy/core/conn.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/sockaddr.h"
#include "proxy/core/host_table.h"
#include "proxy/core/request_log.h"
#include "proxy/core/runtime.h"
#include "proxy/core/worker.h"
#include "proxy/net/proxy_protocol.h"
#include "proxy/tls/tls_server.h"

/* A graceful close waits this long for the client to take what is queued. */
#define CLOSE_LINGER_MS 5000

static void on_handshake(void *arg);
static void peer_to_text(struct client_conn *c);
static void on_read(void *arg);
static void on_drain(void *arg);
static void on_close(void *arg, enum tls_conn_end end);
static int on_preamble(void *arg, struct evbuffer *raw);

static const struct tls_conn_callbacks tls_cbs = {
    .on_handshake = on_handshake,
    .on_read = on_read,
    .on_drain = on_drain,
    .on_close = on_close,
    .on_preamble = on_preamble,
};

uint64_t conn_now_us(const struct client_conn *c)
{
    return cg_monotonic_us();
}

static struct metrics_listener *counters(const struct client_conn *c)
{
    return c->w->metrics->listeners[c->lrt->metrics_index];
}

void conn_count_bytes(struct client_conn *c)
{
    struct metrics_listener *m = counters(c);
    const struct sock *s = &c->tls.sock;
    cg_counter_add(&m->bytes_received, s->bytes_read - c->bytes_in_counted);
    cg_counter_add(&m->bytes_sent, s->bytes_written - c->bytes_out_counted);
    c->bytes_in_counted = s->bytes_read;
    c->bytes_out_counted = s->bytes_written;
}

/* handshake_failed counts, once, why |c| ends before its handshake completed. */
static void handshake_failed(struct client_conn *c, enum metrics_handshake_error why)
{
    if (!c->handshake_failed && c->protocol == NULL) {
        c->handshake_failed = true;
        cg_counter_add(&counters(c)->handshake_errors[why], 1);
    }
}

static void destroy(struct client_conn *c)
{
    CG_LOG_DEBUG("w%uc%llu: closed", c->w->id, (unsigned long long)c->id);
    conn_count_bytes(c);
    cg_counter_sub(&counters(c)->connections[c->protocol != NULL ? c->protocol->metrics_protocol
                                                                 : METRICS_CONN_HANDSHAKE],
                   1);
    if (c->protocol_state != NULL) {
        c->protocol->detach(c->protocol_state);
        c->protocol_state = NULL;
    }
    authz_conn_cleanup(&c->authz);
    tls_conn_cleanup(&c->tls);
    host_table_unref(c->hosts);
    event_free(c->ev_timer);
    event_free(c->ev_free);
    struct worker *w = c->w;
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        w->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    atomic_fetch_sub(&w->rt->connections, 1);
    struct worker_snapshot *ws = c->ws;
    free(c);
    worker_conn_closed(ws);
}

static void on_free(evutil_socket_t fd, short what, void *arg)
{
    destroy(arg);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct client_conn *c = arg;
    if (c->closing) {
        /* The client did not take the last bytes within the linger time. */
        conn_abort(c);
        return;
    }
    if (c->protocol == NULL) {
        CG_LOG_DEBUG("w%uc%llu: TLS handshake timeout", c->w->id, (unsigned long long)c->id);
        handshake_failed(c, METRICS_HS_TIMEOUT);
        conn_abort(c);
    } else if (c->protocol_state != NULL) {
        c->protocol->on_timer(c->protocol_state);
    }
}

void conn_set_timer(struct client_conn *c, uint64_t ms)
{
    if (ms == 0) {
        evtimer_del(c->ev_timer);
        return;
    }
    struct timeval tv = cg_timeval_ms(ms);
    evtimer_add(c->ev_timer, &tv);
}

static void peer_to_text(struct client_conn *c)
{
    cg_sockaddr_text((const struct sockaddr *)&c->peer, c->peer_ip);
    c->peer_port = cg_sockaddr_port((const struct sockaddr *)&c->peer);
}

/* peer_allowed applies the policy's address rules before any TLS byte is exchanged:
 * a refused address does not even learn what certgate serves. */
static bool peer_allowed(struct client_conn *c)
{
    if (authz_peer_allowed(c)) {
        return true;
    }
    CG_LOG_INFO("listener %s: connection from %s refused (ip_not_allowed)", c->lrt->cfg->name,
                c->peer_ip);
    request_log_conn_refused(c, CG_REASON_IP_NOT_ALLOWED);
    handshake_failed(c, METRICS_HS_IP_NOT_ALLOWED);
    return false;
}

static int on_preamble(void *arg, struct evbuffer *raw)
{
    struct client_conn *c = arg;
    size_t len = evbuffer_get_length(raw);
    size_t n = len < PP_MAX_HEADER ? len : PP_MAX_HEADER;
    struct pp_header hdr;
    int r = pp_parse(evbuffer_pullup(raw, (ev_ssize_t)n), n, &hdr);
    if (r == PP_INCOMPLETE) {
        return len >= PP_MAX_HEADER ? -1 : 0;
    }
    if (r < 0) {
        CG_LOG_INFO("listener %s: bad PROXY protocol header from %s", c->lrt->cfg->name,
                    c->peer_ip);
        request_log_conn_refused(c, CG_REASON_BAD_PROXY_HEADER);
        handshake_failed(c, METRICS_HS_BAD_PROXY_HEADER);
        return -1;
    }
    evbuffer_drain(raw, (size_t)r);
    if (hdr.has_address) {
        CG_LOG_DEBUG("w%uc%llu: PROXY header from %s", c->w->id, (unsigned long long)c->id,
                     c->peer_ip);
        memcpy(&c->peer, &hdr.src, hdr.src_len);
        c->peer_len = hdr.src_len;
        peer_to_text(c);
    }
    return peer_allowed(c) ? 1 : -1;
}

void conn_accept(struct worker_snapshot *ws, const struct listener_rt *lrt, int fd,
                 const struct sockaddr *sa, socklen_t sa_len)
{
    struct worker *w = ws->w;
    const struct config *cfg = ws->snap->cfg;
    if (atomic_fetch_add(&w->rt->connections, 1) >= cfg->limits.max_connections) {
        atomic_fetch_sub(&w->rt->connections, 1);
        CG_LOG_WARN("listener %s: max_connections (%u) reached, refusing a connection",
                    lrt->cfg->name, cfg->limits.max_connections);
        close(fd);
        return;
    }
    struct client_conn *c = cg_xcalloc(1, sizeof(*c));
    c->w = w;
    c->ws = ws;
    c->cfg = cfg;
    c->lrt = lrt;
    c->hosts = host_table_ref(lrt->hosts);
    c->id = ++w->next_conn_id;
    memcpy(&c->peer, sa, sa_len < sizeof(c->peer) ? sa_len : sizeof(c->peer));
    c->peer_len = sa_len;
    peer_to_text(c);
    c->ev_timer = evtimer_new(w->base, on_timer, c);
    c->ev_free = event_new(w->base, -1, 0, on_free, c);
    c->accepted_us = conn_now_us(c);
    c->next = w->conns;
    if (w->conns != NULL) {
        w->conns->prev = c;
    }
    w->conns = c;
    worker_conn_opened(ws);
    cg_counter_add(&counters(c)->connections[METRICS_CONN_HANDSHAKE], 1);

    /* A load balancer allowed to send a PROXY header must send one; the address check
     * then applies to the client it names (on_preamble). */
    bool expect_proxy = !ipset_is_empty(&lrt->proxy_from) &&
                        ipset_contains(&lrt->proxy_from, (const struct sockaddr *)&c->peer);
    if (!expect_proxy && !peer_allowed(c)) {
        close(fd);
        conn_abort(c);
        return;
    }

    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    SSL *ssl = tls_server_new_ssl(lrt->tls, &c->tls);
    if (ssl == NULL) {
        close(fd);
        conn_abort(c);
        return;
    }
    size_t low_water = cfg->limits.buffer_high_water / 2;
    if (tls_conn_init(&c->tls, w->base, fd, ssl, &tls_cbs, c, low_water) != CG_OK) {
        conn_abort(c);
        return;
    }
    /* A client that stops reading what we send is dropped after this long. */
    tls_conn_set_send_timeout(&c->tls, (uint32_t)cfg->timeouts.upstream_idle);
    if (expect_proxy) {
        tls_conn_expect_preamble(&c->tls);
    }
    conn_set_timer(c, cfg->timeouts.tls_handshake);
    CG_LOG_DEBUG("w%uc%llu: accepted from %s on %s", w->id, (unsigned long long)c->id, c->peer_ip,
                 lrt->cfg->name);
}

/* select_protocol returns the entry of |lrt|'s ALPN map for the negotiated id, or the
 * one for clients without ALPN when it negotiated none (or one the listener did not
 * offer, which BoringSSL does not let happen). */
static const struct conn_alpn *select_protocol(const struct listener_rt *lrt, const char *alpn,
                                               size_t alpn_len)
{
    for (size_t i = 0; alpn != NULL && i < lrt->num_alpn; i++) {
        const struct conn_alpn *a = &lrt->alpn[i];
        if (a->alpn_len == alpn_len && memcmp(a->alpn, alpn, alpn_len) == 0) {
            return a;
        }
    }
    return lrt->no_alpn;
}

static void on_handshake(void *arg)
{
    struct client_conn *c = arg;
    conn_set_timer(c, 0);
    /* The name the client asked for picks the host entry once: every request of the
     * connection is decided by that entry's policy and must name it in its Host. */
    c->host = host_table_for_sni(c->hosts, c->tls.peer.sni);
    if (!authz_host_peer_allowed(c)) {
        CG_LOG_INFO("listener %s: connection from %s to host %s refused (ip_not_allowed)",
                    c->lrt->cfg->name, c->peer_ip, c->host->name[0] ? c->host->name : "(default)");
        request_log_conn_refused(c, CG_REASON_IP_NOT_ALLOWED);
        conn_close(c);
        return;
    }
    tls_server_check_peer(c->lrt->tls, &c->tls);
    const STACK_OF(CRYPTO_BUFFER) *chain = SSL_get0_peer_certificates(c->tls.ssl);
    if (chain != NULL && sk_CRYPTO_BUFFER_num(chain) > 0) {
        const CRYPTO_BUFFER *leaf = sk_CRYPTO_BUFFER_value(chain, 0);
        c->cert_der = CRYPTO_BUFFER_data(leaf);
        c->cert_der_len = CRYPTO_BUFFER_len(leaf);
    }
    authz_conn_init(c);
    size_t alpn_len;
    const char *alpn = tls_conn_alpn(&c->tls, &alpn_len);
    CG_LOG_DEBUG("w%uc%llu: handshake done %s %s alpn=%.*s sni=%s cert=%s resumed=%d", c->w->id,
                 (unsigned long long)c->id, conn_tls_version(c), conn_cipher(c), (int)alpn_len,
                 alpn ? alpn : "", c->tls.peer.sni, c->cert_der ? "yes" : "no",
                 SSL_session_reused(c->tls.ssl));
    const struct conn_alpn *a = select_protocol(c->lrt, alpn, alpn_len);
    struct metrics_listener *m = counters(c);
    cg_counter_add(&m->handshakes[metrics_tls_version_of(SSL_version(c->tls.ssl))], 1);
    cg_counter_sub(&m->connections[METRICS_CONN_HANDSHAKE], 1);
    cg_counter_add(&m->connections[a->protocol->metrics_protocol], 1);
    c->protocol = a->protocol;
    c->protocol_state = a->protocol->attach(c, a->arg);
    if (c->w->draining && c->protocol_state != NULL && !c->closing) {
        /* Accepted before the drain: its first request is served, then it closes. */
        c->protocol->begin_drain(c->protocol_state);
    }
}

static void on_read(void *arg)
{
    struct client_conn *c = arg;
    if (c->closing) {
        return;
    }
    if (c->protocol_state != NULL) {
        c->protocol->on_read(c->protocol_state);
    }
}

static void on_drain(void *arg)
{
    struct client_conn *c = arg;
    if (c->protocol_state != NULL && !c->closing) {
        c->protocol->on_drain(c->protocol_state);
    }
}

static void on_close(void *arg, enum tls_conn_end end)
{
    struct client_conn *c = arg;
    CG_LOG_DEBUG("w%uc%llu: connection end: %s", c->w->id, (unsigned long long)c->id,
                 tls_conn_end_str(end));
    if (c->protocol == NULL && c->tls.peer.sni_refused) {
        /* The name itself goes only to the access log, escaped there. */
        CG_LOG_INFO("listener %s: handshake from %s refused: its server name is not a DNS "
                    "host name (invalid_sni)",
                    c->lrt->cfg->name, c->peer_ip);
        request_log_conn_refused(c, CG_REASON_INVALID_SNI);
        handshake_failed(c, METRICS_HS_INVALID_SNI);
    } else if (c->protocol == NULL && c->tls.peer.sni_unknown) {
        CG_LOG_INFO("listener %s: handshake from %s refused: no host entry or certificate "
                    "for its server name (unknown_sni, strict_sni)",
                    c->lrt->cfg->name, c->peer_ip);
        request_log_conn_refused(c, CG_REASON_UNKNOWN_SNI);
        handshake_failed(c, METRICS_HS_UNKNOWN_SNI);
    } else if (c->protocol == NULL) {
        handshake_failed(c, end == TLS_END_TLS_ERROR ? metrics_handshake_error_of(c->tls.ssl_err)
                                                     : METRICS_HS_CLIENT_CLOSED);
    }
    if (c->protocol_state != NULL) {
        c->protocol->on_peer_closed(c->protocol_state);
    }
    /* tls_conn allows freeing here, but protocol code may be on the stack via
     * on_peer_closed paths: defer uniformly. */
    conn_abort(c);
}

void conn_close(struct client_conn *c)
{
    if (c->closing) {
        return;
    }
    c->closing = true;
    conn_set_timer(c, CLOSE_LINGER_MS);
    if (c->tls.plain_in == NULL || c->tls.dead) {
        conn_abort(c);
        return;
    }
    tls_conn_close(&c->tls); /* on_close follows once flushed */
}

void conn_abort(struct client_conn *c)
{
    c->closing = true;
    evtimer_del(c->ev_timer);
    event_active(c->ev_free, EV_TIMEOUT, 0);
}

void conn_begin_drain(struct client_conn *c)
{
    if (c->closing) {
        return;
    }
    if (c->protocol_state != NULL) {
        c->protocol->begin_drain(c->protocol_state);
    }
    /* Otherwise the handshake goes on: on_handshake drains the protocol it attaches. */
}

struct cg_str conn_default_host(const struct client_conn *c, size_t upstream_index)
{
    if (c->tls.peer.sni[0] != '\0') {
        return cg_str_from_cstr(c->tls.peer.sni);
    }
    const struct config_upstream *up = &c->cfg->upstreams[upstream_index];
    return cg_str_from_cstr(up->tls.sni != NULL ? up->tls.sni : up->servers[0].text);
}

const char *conn_host_name(const struct client_conn *c)
{
    return c->host != NULL ? c->host->name : "";
}

const char *conn_tls_version(const struct client_conn *c)
{
    return c->tls.ssl ? SSL_get_version(c->tls.ssl) : "";
}

const char *conn_cipher(const struct client_conn *c)
{
    const SSL_CIPHER *cipher = c->tls.ssl ? SSL_get_current_cipher(c->tls.ssl) : NULL;
    return cipher ? SSL_CIPHER_get_name(cipher) : "";
}
