/* Shared by the two halves of the HTTP/1.1 server: the connection's state machine
 * (proxy/http1/h1_server.c: requests, keep-alive, pipelining, timers) and the exchange
 * API its backends call (proxy/http1/h1_exchange.c: responses written for the client,
 * the request body's flow). Nothing outside proxy/http1/ includes this. */
#ifndef CG_PROXY_HTTP1_H1_SERVER_INTERNAL_H
#define CG_PROXY_HTTP1_H1_SERVER_INTERNAL_H

#include <stdbool.h>

#include "proxy/core/conn.h"
#include "proxy/core/runtime.h"
#include "proxy/http1/h1_exchange.h"

/* Where one connection is in its request/response cycle. A connection holds an
 * exchange (h->ex) from the moment a request head is complete, or an error must be
 * answered, until its response ends; in the first two states it holds none, except
 * for the hop to the event loop before a pipelined request is parsed (on_next). */
enum h1_state {
    H1_IDLE = 0,     /* between requests: waiting for the first byte (keep-alive timer) */
    H1_READING_HEAD, /* part of a request head has arrived (request_header timer) */
    H1_FORWARDING,   /* a backend carries the request; bodies stream both ways */
    H1_TUNNEL,       /* after 101 Switching Protocols: opaque bytes both ways */
    H1_CLOSING,      /* a final answer is queued; the connection closes after it */
};

struct h1_worker;

/* struct h1_server is what an HTTP/1.1 connection keeps for its whole life, idle
 * between requests included: everything per request is in |ex|. */
struct h1_server {
    struct client_conn *c;
    struct h1_worker *hw;   /* this worker's HTTP/1.1 state */
    struct h1_exchange *ex; /* the exchange in progress, or NULL (see enum h1_state) */
    enum h1_state state;
    unsigned requests;                  /* requests started on this connection */
    const struct h1_backends *backends; /* by upstream protocol (proxy/protocols.c) */
    bool in_input; /* the server is handling the client's input and handles what is
                      buffered before it returns */
};

/* h1_server_cfg returns the configuration of the connection's snapshot (it never
 * changes under a connection: a reload makes a new snapshot for new connections). */
static inline const struct config *h1_server_cfg(const struct h1_server *h)
{
    return h->c->cfg;
}

/* h1_server_out returns the worker's scratch evbuffer for plaintext on its way to
 * tls_conn_write, which must be empty (every user fills and writes it within one
 * call). */
struct evbuffer *h1_server_out(const struct h1_server *h);

/* h1_server_send_error answers |status| with the JSON error body and ends the
 * exchange; the connection closes afterwards when |close| or when the request was not
 * read completely. */
void h1_server_send_error(struct h1_server *h, int status, enum cg_reason reason, bool close);

/* h1_server_finish ends the exchange whose response is complete: log, then the next
 * request or the close. */
void h1_server_finish(struct h1_server *h);

/* h1_server_log writes the exchange's access-log line. */
void h1_server_log(struct h1_server *h);

/* h1_server_input_later handles the client's buffered input from the event loop
 * unless the server is handling it right now. */
void h1_server_input_later(struct h1_server *h);

#endif
