/* TLS over a libevent socket: our own glue between BoringSSL and a sock.
 *
 * A small custom BIO lets BoringSSL take ciphertext from the buffer each read event
 * fills and append records to the sock's output, which the sock writes out once per
 * loop iteration. Decrypted bytes accumulate in
 * tls_conn_input(); the owner writes plaintext with tls_conn_write.
 *
 * Back-pressure: tls_conn_pause_read stops decrypting and reading the socket;
 * tls_conn_output_pending tells the owner how much ciphertext waits for the peer, and
 * on_drain fires when it falls below the low-water mark.
 *
 * Callbacks are the last thing the glue does in any libevent callback, so an owner may
 * free the tls_conn from inside on_close (and only there). */
#ifndef CG_PROXY_TLS_TLS_CONN_H
#define CG_PROXY_TLS_TLS_CONN_H

#include <stdbool.h>
#include <stddef.h>

#include <stdint.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "common/boringssl.h"
#include "proxy/net/sock.h"

#include <openssl/ssl.h>

/* Why a connection ended, for logs. */
enum tls_conn_end {
    TLS_END_EOF = 0,   /* the peer closed (with or without close_notify) */
    TLS_END_IO_ERROR,  /* socket error (reset, ...) */
    TLS_END_TLS_ERROR, /* handshake failure or bad record */
    TLS_END_CLOSED,    /* tls_conn_close finished flushing */
};

const char *tls_conn_end_str(enum tls_conn_end end);

struct tls_conn_callbacks {
    void (*on_handshake)(void *arg); /* handshake done (also for resumed sessions) */
    void (*on_read)(void *arg);      /* new plaintext in tls_conn_input() */
    void (*on_drain)(void *arg);     /* ciphertext backlog fell to the low-water mark */
    void (*on_close)(void *arg, enum tls_conn_end end); /* the connection is over; the
                                        owner must free it (it may do so right here) */
    /* on_preamble (only with tls_conn_expect_preamble) sees the raw socket bytes before
     * the handshake, e.g. a PROXY protocol header: it drains what it consumed and
     * returns 1 when done, 0 for more bytes, -1 to fail the connection. */
    int (*on_preamble)(void *arg, struct evbuffer *raw);
};

/* What the client-certificate callbacks learnt during the handshake. */
struct tls_peer_info {
    bool chain_checked; /* a client CA is configured and the presented chain was checked */
    bool chain_ok;      /* ... and it validated (and was not revoked) */
    int chain_error;    /* X509_V_ERR_* when chain_checked && !chain_ok */
    char sni[256];      /* server name the client asked for, lower case; "" if none.
                           A DNS host name (common/hostname.h) unless sni_refused */
    bool sni_refused;   /* the client's server name is not a host name: the handshake
                           fails (unrecognized_name) and sni holds the name, NUL bytes
                           left out, only for the refusal's access-log line */
    bool sni_unknown;   /* strict_sni refused the handshake: no server name, or one that
                           neither a host entry nor a certificate of the listener has */
};

struct tls_conn {
    SSL *ssl;
    struct sock sock;          /* socket I/O; ciphertext out */
    struct evbuffer *plain_in; /* decrypted bytes not yet consumed by the owner */
    struct evbuffer *sock_in;  /* ciphertext (and a preamble) read, not yet decrypted */
    const struct tls_conn_callbacks *cbs;
    void *arg;
    struct tls_peer_info peer;
    size_t low_water; /* on_drain threshold for the socket output, bytes */
    size_t plain_max; /* decrypted bytes held for the owner at most (set by init) */
    uint32_t ssl_err; /* BoringSSL error that failed the handshake or a record, for the
                         owner's on_close (tls_client_failure); 0 if none */
    bool preamble;    /* on_preamble must finish before the handshake */
    bool handshake_done;
    bool read_paused; /* owner asked to stop delivering plaintext */
    bool eof;         /* the socket reached EOF (or failed: io_error) */
    bool io_error;    /* reading the socket failed */
    bool closing;     /* tls_conn_close called: flushing, then on_close */
    bool lingering;   /* flushed and half-closed: discarding until EOF */
    bool dead;        /* on_close delivered; only tls_conn_free is valid */
};

/* tls_conn_init takes ownership of the connected socket |fd| and of |ssl| (server or
 * client mode already set) and starts the handshake. Returns 0 or CG_ERR_IO.
 * |low_water| is the socket output level at which on_drain fires. */
int tls_conn_init(struct tls_conn *tc, struct event_base *base, int fd, SSL *ssl,
                  const struct tls_conn_callbacks *cbs, void *arg, size_t low_water);

/* tls_conn_expect_preamble makes the connection hand its first bytes to on_preamble
 * before starting TLS. Call right after tls_conn_init. */
static inline void tls_conn_expect_preamble(struct tls_conn *tc)
{
    tc->preamble = true;
}

/* tls_conn_start_handshake starts the handshake of a client-mode connection (the
 * ClientHello is queued from the event loop); a server waits for the peer instead. */
void tls_conn_start_handshake(struct tls_conn *tc);

/* tls_conn_cleanup closes the socket and frees the SSL and buffers; no callback runs
 * afterwards. Safe on an all-zero struct. */
void tls_conn_cleanup(struct tls_conn *tc);

/* tls_conn_input returns the evbuffer of decrypted bytes; the owner drains it. */
static inline struct evbuffer *tls_conn_input(struct tls_conn *tc)
{
    return tc->plain_in;
}

/* tls_conn_write encrypts and queues all of |plain| (which is drained). Returns 0, or
 * CG_ERR_IO if the connection is no longer writable. */
int tls_conn_write(struct tls_conn *tc, struct evbuffer *plain);

/* tls_conn_write_bytes is tls_conn_write for a flat buffer. */
int tls_conn_write_bytes(struct tls_conn *tc, const void *data, size_t len);

/* tls_conn_output_pending returns the ciphertext bytes queued for the socket. */
static inline size_t tls_conn_output_pending(const struct tls_conn *tc)
{
    return sock_output_pending(&tc->sock);
}

/* tls_conn_set_send_timeout drops the connection when the peer reads nothing of what
 * we queued for |ms| (0 = never). */
static inline void tls_conn_set_send_timeout(struct tls_conn *tc, uint32_t ms)
{
    sock_set_write_timeout(&tc->sock, ms);
}

/* Plaintext decrypted ahead of the owner by default; beyond it the ciphertext waits in
 * the kernel until the owner consumes. */
#define TLS_CONN_INPUT_MAX (64 * 1024)

/* tls_conn_set_input_max bounds what tls_conn_input() may hold after decrypting to
 * |max| bytes (0 restores TLS_CONN_INPUT_MAX): an owner that moves every byte into a
 * buffer of its own sets the room left there. */
static inline void tls_conn_set_input_max(struct tls_conn *tc, size_t max)
{
    tc->plain_max = max != 0 ? max : TLS_CONN_INPUT_MAX;
}

/* tls_conn_pause_read stops delivering plaintext (back-pressure); tls_conn_resume_read
 * delivers what is buffered (from the event loop, never from inside this call) and
 * reads again. */
void tls_conn_pause_read(struct tls_conn *tc);
void tls_conn_resume_read(struct tls_conn *tc);

/* tls_conn_close sends close_notify, flushes what is queued, half-closes the socket and
 * discards input until the peer closes, then calls on_close with TLS_END_CLOSED. The
 * owner bounds the whole with a timer. Idempotent. */
void tls_conn_close(struct tls_conn *tc);

/* tls_conn_alpn returns the negotiated ALPN protocol (not NUL-terminated) or NULL. */
const char *tls_conn_alpn(const struct tls_conn *tc, size_t *out_len);

#endif
