/* A client connection: accept, TLS handshake, the client's identity, timers and
 * teardown. After the handshake the negotiated protocol (ALPN) takes over the bytes:
 * proxy/http1_server.c today, HTTP/2 next.
 *
 * Destruction is always deferred to the event loop (style.md rule 13): protocol code
 * calls conn_close or conn_abort and returns; the connection is freed when no callback
 * of it is on the stack. */
#ifndef CG_PROXY_CONN_H
#define CG_PROXY_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "common/sockaddr.h"
#include "proxy/authz.h"
#include "proxy/tls_conn.h"

struct worker;
struct listener_rt;
struct h1_server;
struct h2_server;

/* Which protocol owns the decrypted bytes. */
enum conn_proto {
    CONN_PROTO_HANDSHAKE = 0, /* TLS handshake in progress */
    CONN_PROTO_H1,            /* HTTP/1.1 (ALPN http/1.1 or none) */
    CONN_PROTO_H2,            /* HTTP/2 (ALPN h2) */
};

struct client_conn {
    struct worker *w;
    const struct listener_rt *lrt;
    uint64_t id; /* unique per worker; logs show "w<N>c<id>" */
    struct sockaddr_storage peer;
    socklen_t peer_len;
    char peer_ip[CG_SOCKADDR_TEXT_MAX]; /* numeric text, IPv4-mapped shown as IPv4 */
    uint16_t peer_port;
    struct tls_conn tls;
    enum conn_proto proto;
    struct h1_server *h1;    /* when proto == CONN_PROTO_H1 */
    struct h2_server *h2;    /* when proto == CONN_PROTO_H2 */
    struct event *ev_timer;  /* handshake deadline, then the protocol's timer */
    struct event *ev_free;   /* deferred destruction */
    uint64_t accepted_us;    /* monotonic microseconds */
    bool closing;            /* conn_close / conn_abort called */
    const uint8_t *cert_der; /* leaf certificate presented, or NULL; owned by
                                the SSL (valid while the connection lives) */
    size_t cert_der_len;
    struct authz_conn authz;         /* certificate facts and decision scratch */
    bool pin_logged;                 /* "trusted by pin" was logged for this connection */
    struct client_conn *prev, *next; /* worker's list */
};

/* conn_accept takes over the accepted socket |fd| on worker |w| for listener |lrt|. */
void conn_accept(struct worker *w, const struct listener_rt *lrt, int fd, const struct sockaddr *sa,
                 socklen_t sa_len);

/* conn_close ends the connection gracefully: what is queued is flushed (bounded in
 * time), close_notify sent, then the connection is freed. Idempotent. */
void conn_close(struct client_conn *c);

/* conn_abort frees the connection from the event loop without flushing. */
void conn_abort(struct client_conn *c);

/* conn_set_timer arms the connection's single timer to fire in |ms| milliseconds (0
 * disarms it). The protocol handles the expiry. */
void conn_set_timer(struct client_conn *c, uint64_t ms);

/* conn_begin_drain is called on every connection when the worker starts draining. */
void conn_begin_drain(struct client_conn *c);

/* conn_tls_version / conn_cipher describe the session for logs. */
const char *conn_tls_version(const struct client_conn *c);
const char *conn_cipher(const struct client_conn *c);

/* conn_default_host returns the Host to send the database for a request that named
 * none (an HTTP/1.0 request may leave Host out): HTTP/1.1 requires one. It
 * is the TLS server name the client asked for (a validated host name), else the
 * upstream's TLS server name, else its first server's address ("127.0.0.1:8080").
 * Static or connection-owned storage. */
struct cg_str conn_default_host(const struct client_conn *c);

/* conn_now_us returns monotonic microseconds. */
uint64_t conn_now_us(const struct client_conn *c);

#endif
