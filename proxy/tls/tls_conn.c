#include "proxy/tls/tls_conn.h"

#include <errno.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/bug.h"
#include "common/err.h"
#include "common/log.h"

#include <openssl/bio.h>
#include <openssl/err.h>

#define SOCK_IN_MAX (64 * 1024)
#define RECORD_MAX 16384

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

const char *tls_conn_end_str(enum tls_conn_end end)
{
    switch (end) {
    case TLS_END_EOF:
        return "eof";
    case TLS_END_IO_ERROR:
        return "io_error";
    case TLS_END_TLS_ERROR:
        return "tls_error";
    case TLS_END_CLOSED:
        return "closed";
    }
    return "?";
}

/* The BIO takes ciphertext from sock_in, which each read event fills with one large
 * read: BoringSSL itself reads exactly a record header, then exactly its body, which
 * straight from the socket would be two system calls per record. Records it writes
 * are appended to the sock's output, which goes out once per loop iteration however
 * many records a callback produced. */
static int bio_read(BIO *b, char *out, int len)
{
    struct tls_conn *tc = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    int n = evbuffer_remove(tc->sock_in, out, (size_t)len);
    if (n > 0) {
        return n;
    }
    if (tc->eof) {
        return tc->io_error ? -1 : 0;
    }
    BIO_set_retry_read(b);
    return -1;
}

static int bio_write(BIO *b, const char *in, int len)
{
    struct tls_conn *tc = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (evbuffer_add(sock_output(&tc->sock), in, (size_t)len) != 0) {
        return -1;
    }
    return len;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    /* BoringSSL flushes after each flight; the sock writes on its own. */
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static void bio_method_init(void)
{
    bio_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "certgate-sock");
    CG_BUG_ON(bio_method == NULL);
    BIO_meth_set_read(bio_method, bio_read);
    BIO_meth_set_write(bio_method, bio_write);
    BIO_meth_set_ctrl(bio_method, bio_ctrl);
    BIO_meth_set_create(bio_method, bio_create);
}

static void finish(struct tls_conn *tc, enum tls_conn_end end)
{
    if (tc->dead) {
        return;
    }
    tc->dead = true;
    sock_read_stop(&tc->sock);
    ERR_clear_error();
    /* Last action: the owner may free |tc| here. */
    tc->cbs->on_close(tc->arg, end);
}

/* decrypt moves plaintext into plain_in. Returns 1 if it got any, 0 if none, or -1
 * (with *out_end) when the connection is over. */
static int decrypt(struct tls_conn *tc, enum tls_conn_end *out_end)
{
    int got = 0;
    size_t have;
    while ((have = evbuffer_get_length(tc->plain_in)) < tc->plain_max) {
        /* Nothing to decrypt without a new read event: skip the call. */
        if (evbuffer_get_length(tc->sock_in) == 0 && SSL_pending(tc->ssl) == 0 && !tc->eof) {
            break;
        }
        /* Decrypt on the stack and copy: plain_in's chains are then sized by what
         * arrived, and an idle connection holds none. No more than the room left: the
         * rest of a record waits in BoringSSL (SSL_pending). */
        unsigned char buf[RECORD_MAX];
        size_t want = tc->plain_max - have < sizeof(buf) ? tc->plain_max - have : sizeof(buf);
        int n = SSL_read(tc->ssl, buf, (int)want);
        if (n > 0) {
            if (evbuffer_add(tc->plain_in, buf, (size_t)n) != 0) {
                *out_end = TLS_END_IO_ERROR;
                return -1;
            }
            got = 1;
            continue;
        }
        int e = SSL_get_error(tc->ssl, n);
        if (e == SSL_ERROR_WANT_READ && !tc->eof) {
            break;
        }
        if (got) {
            /* Deliver what arrived before the end first; the end is seen next time. */
            return 1;
        }
        if (tc->io_error) {
            *out_end = TLS_END_IO_ERROR;
        } else if (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_WANT_READ ||
                   (e == SSL_ERROR_SYSCALL && tc->eof)) {
            *out_end = TLS_END_EOF;
        } else {
            *out_end = TLS_END_TLS_ERROR;
            tc->ssl_err = (uint32_t)ERR_peek_error();
            CG_LOG_DEBUG("tls: read error %d (%s)", e, ERR_reason_error_string(ERR_peek_error()));
        }
        return -1;
    }
    return got;
}

/* fill reads what the socket holds into sock_in; the end of the stream or a failure is
 * recorded for the BIO to report after the bytes before it. */
static void fill(struct tls_conn *tc)
{
    if (tc->eof) {
        return;
    }
    ssize_t n = sock_read(&tc->sock, tc->sock_in, SOCK_IN_MAX);
    if (n > 0 || (n < 0 && sock_again(errno))) {
        return;
    }
    /* The socket stays readable after its end: stop watching it. */
    tc->eof = true;
    tc->io_error = n < 0;
    sock_read_stop(&tc->sock);
}

static void drive(struct tls_conn *tc)
{
    if (tc->dead || tc->closing) {
        return;
    }
    if (tc->preamble) {
        int r = tc->cbs->on_preamble(tc->arg, tc->sock_in);
        if (tc->dead || tc->closing) {
            return;
        }
        if (r < 0 || (r == 0 && (tc->eof || evbuffer_get_length(tc->sock_in) >= SOCK_IN_MAX))) {
            finish(tc, TLS_END_TLS_ERROR);
            return;
        }
        if (r == 0) {
            return;
        }
        tc->preamble = false;
    }
    if (!tc->handshake_done) {
        int r = SSL_do_handshake(tc->ssl);
        if (r != 1) {
            int e = SSL_get_error(tc->ssl, r);
            if (e == SSL_ERROR_WANT_READ && !tc->eof) {
                return;
            }
            tc->ssl_err = (uint32_t)ERR_peek_error();
            if (cg_log_enabled(CG_LOG_DEBUG)) {
                CG_LOG_DEBUG("tls: handshake failed: %s",
                             ERR_reason_error_string(ERR_peek_error()));
            }
            finish(tc, tc->io_error                ? TLS_END_IO_ERROR
                       : e == SSL_ERROR_WANT_READ ? TLS_END_EOF
                                                  : TLS_END_TLS_ERROR);
            return;
        }
        tc->handshake_done = true;
        /* BoringSSL keeps the TLS 1.3 NewSessionTicket messages until the first write:
         * push them now, or a client with Nagle's algorithm waits for our delayed ACK
         * (40 ms) before it sends its first request. */
        if (SSL_write(tc->ssl, "", 0) < 0) {
            ERR_clear_error();
        }
        tc->cbs->on_handshake(tc->arg);
        if (tc->dead || tc->closing) {
            return;
        }
    }
    while (!tc->read_paused) {
        enum tls_conn_end end = TLS_END_EOF;
        int r = decrypt(tc, &end);
        if (r < 0) {
            finish(tc, end);
            return;
        }
        if (r == 0) {
            break;
        }
        tc->cbs->on_read(tc->arg);
        if (tc->dead || tc->closing) {
            return;
        }
    }
    if (evbuffer_get_length(tc->plain_in) >= tc->plain_max && !tc->read_paused) {
        /* The owner leaves a full buffer unconsumed: read again once it drains. */
        sock_park(&tc->sock, tc->plain_in, tc->plain_max);
    }
}

/* linger: our side is done and flushed; half-close and discard what the peer still
 * sends until it closes too (bounded by the owner's timer), so that a client still
 * writing a request we refused reads our answer instead of a reset. */
static void linger(struct tls_conn *tc)
{
    if (tc->eof) {
        finish(tc, TLS_END_CLOSED);
        return;
    }
    tc->lingering = true;
    shutdown(tc->sock.fd, SHUT_WR);
    evbuffer_drain(tc->sock_in, evbuffer_get_length(tc->sock_in));
    sock_unpark(&tc->sock); /* what the owner left unread no longer matters */
    sock_read_start(&tc->sock);
}

static void discard_input(struct tls_conn *tc)
{
    for (;;) {
        evbuffer_drain(tc->sock_in, evbuffer_get_length(tc->sock_in));
        ssize_t n = sock_read(&tc->sock, tc->sock_in, SOCK_IN_MAX);
        if (n > 0) {
            continue;
        }
        if (n < 0 && sock_again(errno)) {
            evbuffer_drain(tc->sock_in, evbuffer_get_length(tc->sock_in));
            return;
        }
        finish(tc, TLS_END_CLOSED); /* the peer closed (or reset): done */
        return;
    }
}

static void on_sock_readable(void *arg, bool kicked)
{
    struct tls_conn *tc = arg;
    if (tc->dead) {
        return;
    }
    if (tc->lingering) {
        discard_input(tc);
        return;
    }
    if (tc->read_paused) {
        /* Paused lazily (see tls_conn_pause_read): stop watching the socket now. */
        sock_read_stop(&tc->sock);
        return;
    }
    if (!kicked) {
        fill(tc);
    }
    drive(tc);
}

static void on_sock_drain(void *arg)
{
    struct tls_conn *tc = arg;
    if (tc->dead) {
        return;
    }
    if (tc->closing) {
        if (!tc->lingering && sock_output_pending(&tc->sock) == 0) {
            linger(tc);
        }
        return;
    }
    tc->cbs->on_drain(tc->arg);
}

static void on_sock_event(void *arg, enum sock_event ev)
{
    struct tls_conn *tc = arg;
    (void)ev; /* a send timeout or a failed write: both end the connection */
    finish(tc, TLS_END_IO_ERROR);
}

static const struct sock_callbacks sock_cbs = {
    .on_readable = on_sock_readable,
    .on_drain = on_sock_drain,
    .on_event = on_sock_event,
};

int tls_conn_init(struct tls_conn *tc, struct event_base *base, int fd, SSL *ssl,
                  const struct tls_conn_callbacks *cbs, void *arg, size_t low_water)
{
    pthread_once(&bio_once, bio_method_init);
    tc->ssl = ssl;
    tc->cbs = cbs;
    tc->arg = arg;
    tc->low_water = low_water;
    tls_conn_set_input_max(tc, 0);
    if (sock_init(&tc->sock, base, fd, &sock_cbs, tc) != CG_OK) {
        return CG_ERR_IO;
    }
    sock_set_low_water(&tc->sock, low_water);
    tc->plain_in = evbuffer_new();
    tc->sock_in = evbuffer_new();
    BIO *bio = BIO_new(bio_method);
    if (tc->plain_in == NULL || tc->sock_in == NULL || bio == NULL) {
        BIO_free(bio);
        return CG_ERR_IO;
    }
    BIO_set_data(bio, tc);
    SSL_set_bio(ssl, bio, bio);
    sock_read_start(&tc->sock);
    return CG_OK;
}

void tls_conn_start_handshake(struct tls_conn *tc)
{
    sock_kick_read(&tc->sock);
}

void tls_conn_cleanup(struct tls_conn *tc)
{
    if (tc->ssl != NULL) {
        SSL_free(tc->ssl); /* frees the BIO */
    }
    sock_cleanup(&tc->sock); /* closes the socket */
    if (tc->plain_in != NULL) {
        evbuffer_free(tc->plain_in);
    }
    if (tc->sock_in != NULL) {
        evbuffer_free(tc->sock_in);
    }
    tc->ssl = NULL;
    tc->plain_in = NULL;
    tc->sock_in = NULL;
    tc->dead = true;
}

int tls_conn_write(struct tls_conn *tc, struct evbuffer *plain)
{
    if (tc->dead || tc->closing || !tc->handshake_done) {
        evbuffer_drain(plain, evbuffer_get_length(plain));
        return CG_ERR_IO;
    }
    size_t len;
    while ((len = evbuffer_get_length(plain)) > 0) {
        size_t n = len < RECORD_MAX ? len : RECORD_MAX;
        /* Zero-copy when the first chunk already holds a full record. */
        const unsigned char *p = evbuffer_pullup(plain, (ev_ssize_t)n);
        int w = SSL_write(tc->ssl, p, (int)n);
        if (w <= 0) {
            evbuffer_drain(plain, len);
            ERR_clear_error();
            return CG_ERR_IO;
        }
        evbuffer_drain(plain, (size_t)w);
    }
    return CG_OK;
}

int tls_conn_write_bytes(struct tls_conn *tc, const void *data, size_t len)
{
    if (tc->dead || tc->closing || !tc->handshake_done) {
        return CG_ERR_IO;
    }
    const char *p = data;
    while (len > 0) {
        size_t n = len < RECORD_MAX ? len : RECORD_MAX;
        int w = SSL_write(tc->ssl, p, (int)n);
        if (w <= 0) {
            ERR_clear_error();
            return CG_ERR_IO;
        }
        p += w;
        len -= (size_t)w;
    }
    return CG_OK;
}

/* Pausing is lazy: the socket stays registered until it actually reports bytes while
 * paused. An HTTP/1.1 exchange pauses and resumes the client on every request, mostly
 * within one callback, and would otherwise pay two epoll_ctl calls for nothing. */
void tls_conn_pause_read(struct tls_conn *tc)
{
    tc->read_paused = true;
}

void tls_conn_resume_read(struct tls_conn *tc)
{
    if (!tc->read_paused || tc->dead || tc->closing) {
        return;
    }
    tc->read_paused = false;
    if (!tc->eof) {
        sock_read_start(&tc->sock); /* waits while parked (see drive) */
    }
    /* Buffered records raise no new read event: run from the loop. */
    if (evbuffer_get_length(tc->sock_in) > 0 || SSL_pending(tc->ssl) > 0 || tc->eof) {
        sock_kick_read(&tc->sock);
    }
}

void tls_conn_close(struct tls_conn *tc)
{
    if (tc->closing || tc->dead) {
        return;
    }
    tc->closing = true;
    sock_read_stop(&tc->sock);
    if (tc->handshake_done) {
        SSL_shutdown(tc->ssl); /* queues close_notify */
        ERR_clear_error();
    }
    /* on_sock_drain lingers once everything is out. */
    sock_set_low_water(&tc->sock, 0);
    sock_flush_soon(&tc->sock);
}

const char *tls_conn_alpn(const struct tls_conn *tc, size_t *out_len)
{
    const uint8_t *p = NULL;
    unsigned len = 0;
    SSL_get0_alpn_selected(tc->ssl, &p, &len);
    *out_len = len;
    return len ? (const char *)p : NULL;
}
