/* A client connection: accept, TLS handshake, the client's identity, timers and
 * teardown. After the handshake the protocol the listener maps the negotiated ALPN to
 * (struct conn_protocol, chosen in proxy/protocols.c) takes over the decrypted bytes;
 * this file knows no protocol.
 *
 * Destruction is always deferred to the event loop: protocol code calls conn_close or
 * conn_abort and returns; the connection is freed when no callback of it is on the
 * stack. */
#ifndef CG_PROXY_CORE_CONN_H
#define CG_PROXY_CORE_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "common/sockaddr.h"
#include "proxy/core/authz.h"
#include "proxy/core/metrics.h"
#include "proxy/tls/tls_conn.h"

struct worker;
struct worker_snapshot;
struct listener_rt;
struct client_conn;
struct host_entry;
struct host_table;

/* struct conn_protocol is what a protocol offers a client connection whose handshake
 * is done: the connection calls it for every event and never looks inside |state|.
 * Callbacks run only while the connection is not closing, except on_peer_closed and
 * detach, which always run. */
struct conn_protocol {
    const char *name;                      /* "http/1.1", "h2": logs */
    enum metrics_protocol metrics_protocol; /* what its connections and requests count as */
    /* attach starts serving |c| and returns the protocol's state; NULL when it could
     * not (it has then closed or aborted |c|). |arg| is the protocol's per-listener
     * argument from the ALPN map (struct conn_alpn), e.g. its backends. */
    void *(*attach)(struct client_conn *c, const void *arg);
    /* detach frees |state| when the connection is freed. */
    void (*detach)(void *state);
    void (*on_read)(void *state);  /* decrypted bytes in tls_conn_input() */
    void (*on_drain)(void *state); /* TLS output fell below the low-water mark */
    void (*on_timer)(void *state); /* the timer of conn_set_timer fired */
    /* on_peer_closed: the client went away (EOF or error), before or while closing. */
    void (*on_peer_closed)(void *state);
    /* begin_drain: graceful shutdown; no new requests are taken after the ones in
     * flight or on their way (the client is told: Connection: close, GOAWAY), then the
     * connection closes. Also called right after attach on a connection whose
     * handshake ended during the drain. */
    void (*begin_drain)(void *state);
};

/* struct conn_alpn maps one ALPN protocol id to the protocol that serves it and the
 * argument its attach gets. */
struct conn_alpn {
    const char *alpn; /* "h2" */
    size_t alpn_len;
    const struct conn_protocol *protocol;
    const void *arg; /* for protocol->attach; static storage */
};

struct client_conn {
    struct worker *w;
    struct worker_snapshot *ws;    /* the configuration snapshot it was accepted on, to its
                                      end (proxy/core/snapshot.h): counted in ws->num_conns */
    const struct config *cfg;      /* ws->snap->cfg */
    const struct listener_rt *lrt; /* in ws->snap->listeners */
    struct host_table *hosts;      /* the listener's host table when accepted (a
                                      reference): used for the connection's life */
    const struct host_entry *host; /* the entry its SNI chose, set by the handshake; NULL
                                      before, or when none serves the name (every request
                                      is then answered 421) */
    uint64_t id;                   /* unique per worker; logs show "w<N>c<id>" */
    struct sockaddr_storage peer;
    socklen_t peer_len;
    char peer_ip[CG_SOCKADDR_TEXT_MAX]; /* numeric text, IPv4-mapped shown as IPv4 */
    uint16_t peer_port;
    struct tls_conn tls;
    const struct conn_protocol *protocol; /* NULL during the handshake */
    void *protocol_state;                 /* protocol->attach's result, or NULL */
    struct event *ev_timer;               /* handshake deadline, then the protocol's timer */
    struct event *ev_free;                /* deferred destruction */
    uint64_t accepted_us;                 /* monotonic microseconds */
    bool closing;                         /* conn_close / conn_abort called */
    uint64_t drain_deadline_us;           /* monotonic; set when its listener was removed by
                                             a reload: aborted then if still open; 0: none */
    const uint8_t *cert_der;              /* leaf certificate presented, or NULL; owned by
                                             the SSL (valid while the connection lives) */
    size_t cert_der_len;
    struct authz_conn authz;         /* certificate facts and decision scratch */
    bool pin_logged;                 /* "trusted by pin" was logged for this connection */
    bool handshake_failed;           /* counted in the metrics' handshake errors */
    uint64_t bytes_in_counted;       /* tls.sock's byte counts the metrics have */
    uint64_t bytes_out_counted;
    struct client_conn *prev, *next; /* worker's list */
};

/* conn_accept takes over the accepted socket |fd| on the worker of |ws| for listener
 * |lrt| of that snapshot. */
void conn_accept(struct worker_snapshot *ws, const struct listener_rt *lrt, int fd,
                 const struct sockaddr *sa, socklen_t sa_len);

/* conn_close ends the connection gracefully: what is queued is flushed (bounded in
 * time), close_notify sent, then the connection is freed. Idempotent. */
void conn_close(struct client_conn *c);

/* conn_abort frees the connection from the event loop without flushing. */
void conn_abort(struct client_conn *c);

/* conn_set_timer arms the connection's single timer to fire in |ms| milliseconds (0
 * disarms it). The protocol handles the expiry. */
void conn_set_timer(struct client_conn *c, uint64_t ms);

/* conn_begin_drain is called on every connection when the worker starts draining. A
 * TLS handshake in progress goes on (under timeouts.tls_handshake): its client already
 * sent a request or is about to, which is served before the connection closes. */
void conn_begin_drain(struct client_conn *c);

/* conn_count_bytes adds what |c| sent and received since the last call to its
 * listener's byte counters (each request's end and the connection's end call it). */
void conn_count_bytes(struct client_conn *c);

/* conn_tls_version / conn_cipher describe the session for logs. */
const char *conn_tls_version(const struct client_conn *c);
const char *conn_cipher(const struct client_conn *c);

/* conn_default_host returns the Host to send the database for a request that named
 * none (an HTTP/1.0 request may leave Host out): HTTP/1.1 requires one. It
 * is the TLS server name the client asked for (a validated host name), else the TLS
 * server name of upstream |upstream_index| (the request's), else its first server's
 * address ("127.0.0.1:8080"). Static, configuration or connection-owned storage. */
struct cg_str conn_default_host(const struct client_conn *c, size_t upstream_index);

/* conn_host_name returns the name of the host entry |c| belongs to, for logs: "" for
 * the listener's default, before the handshake, or when no entry serves its name. */
const char *conn_host_name(const struct client_conn *c);

/* conn_now_us returns monotonic microseconds. */
uint64_t conn_now_us(const struct client_conn *c);

#endif
