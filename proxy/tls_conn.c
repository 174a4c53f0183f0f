#include "proxy/tls_conn.h"

#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/bug.h"
#include "common/err.h"
#include "common/log.h"
#include "proxy/bev_read.h"

#include <openssl/bio.h>
#include <openssl/err.h>

/* Plaintext is decrypted ahead of the owner up to this many bytes; beyond it the
 * ciphertext waits in the socket buffer (itself capped by the read watermark). */
#define PLAIN_IN_MAX (64 * 1024)
#define SOCK_IN_MAX (64 * 1024)
#define RECORD_MAX 16384
#define SOCK_IO_MAX_WRITE (256 * 1024)

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

/* The BIO reads ciphertext straight out of the socket bufferevent's input and appends
 * records to its output: no intermediate copy, and libevent batches the syscalls. */
static int bio_read(BIO *b, char *out, int len)
{
    struct tls_conn *tc = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    int n = evbuffer_remove(bufferevent_get_input(tc->bev), out, (size_t)len);
    if (n > 0) {
        return n;
    }
    if (tc->eof) {
        return 0;
    }
    BIO_set_retry_read(b);
    return -1;
}

static int bio_write(BIO *b, const char *in, int len)
{
    struct tls_conn *tc = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (evbuffer_add(bufferevent_get_output(tc->bev), in, (size_t)len) != 0) {
        return -1;
    }
    return len;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    /* BoringSSL flushes after each flight; the bufferevent writes on its own. */
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static void bio_method_init(void)
{
    bio_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "certgate-bev");
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
    bufferevent_disable(tc->bev, EV_READ | EV_WRITE);
    ERR_clear_error();
    /* Last action: the owner may free |tc| here. */
    tc->cbs->on_close(tc->arg, end);
}

/* decrypt moves plaintext from the socket buffer into plain_in. Returns 1 if it got
 * any, 0 if none, or -1 (with *out_end) when the connection is over. */
static int decrypt(struct tls_conn *tc, enum tls_conn_end *out_end)
{
    int got = 0;
    struct evbuffer *sock_in = bufferevent_get_input(tc->bev);
    while (evbuffer_get_length(tc->plain_in) < PLAIN_IN_MAX) {
        /* Reserve plaintext room only when a record may be waiting: an idle connection
         * must not keep an empty 16 KiB chain. */
        if (evbuffer_get_length(sock_in) == 0 && SSL_pending(tc->ssl) == 0 && !tc->eof) {
            break;
        }
        /* A record's plaintext is never longer than its ciphertext: size the chain by
         * what arrived, so small requests do not allocate 16 KiB each. */
        size_t avail = evbuffer_get_length(sock_in) + (size_t)SSL_pending(tc->ssl);
        size_t room = avail + 64 < RECORD_MAX ? avail + 64 : RECORD_MAX;
        struct evbuffer_iovec v;
        if (evbuffer_reserve_space(tc->plain_in, (ev_ssize_t)room, &v, 1) < 1) {
            *out_end = TLS_END_IO_ERROR;
            return -1;
        }
        size_t want = v.iov_len < RECORD_MAX ? v.iov_len : RECORD_MAX;
        int n = SSL_read(tc->ssl, v.iov_base, (int)want);
        if (n > 0) {
            v.iov_len = (size_t)n;
            evbuffer_commit_space(tc->plain_in, &v, 1);
            got = 1;
            continue;
        }
        evbuffer_commit_space(tc->plain_in, NULL, 0);
        int e = SSL_get_error(tc->ssl, n);
        if (e == SSL_ERROR_WANT_READ && !tc->eof) {
            break;
        }
        if (got) {
            /* Deliver what arrived before the end first; the end is seen next time. */
            return 1;
        }
        *out_end = (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_WANT_READ && tc->eof) ||
                    (e == SSL_ERROR_SYSCALL && tc->eof))
                       ? TLS_END_EOF
                       : TLS_END_TLS_ERROR;
        if (*out_end == TLS_END_TLS_ERROR) {
            CG_LOG_DEBUG("tls: read error %d (%s)", e, ERR_reason_error_string(ERR_peek_error()));
        }
        return -1;
    }
    return got;
}

static void drive(struct tls_conn *tc)
{
    if (tc->dead || tc->closing) {
        return;
    }
    if (tc->preamble) {
        int r = tc->cbs->on_preamble(tc->arg, bufferevent_get_input(tc->bev));
        if (tc->dead || tc->closing) {
            return;
        }
        if (r < 0 || (r == 0 && tc->eof)) {
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
            if (cg_log_enabled(CG_LOG_DEBUG)) {
                CG_LOG_DEBUG("tls: handshake failed: %s",
                             ERR_reason_error_string(ERR_peek_error()));
            }
            finish(tc, e == SSL_ERROR_WANT_READ ? TLS_END_EOF : TLS_END_TLS_ERROR);
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
            return;
        }
        tc->cbs->on_read(tc->arg);
        if (tc->dead || tc->closing) {
            return;
        }
        /* Loop while the owner keeps consuming: the socket buffer may hold more than
         * PLAIN_IN_MAX and no new read event would come for it. */
        if (evbuffer_get_length(tc->plain_in) >= PLAIN_IN_MAX) {
            return;
        }
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
    shutdown(bufferevent_getfd(tc->bev), SHUT_WR);
    evbuffer_drain(bufferevent_get_input(tc->bev),
                   evbuffer_get_length(bufferevent_get_input(tc->bev)));
    bufferevent_enable(tc->bev, EV_READ);
}

static void on_sock_read(struct bufferevent *bev, void *arg)
{
    struct tls_conn *tc = arg;
    if (tc->lingering) {
        evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
        return;
    }
    bev_read_more(bev, SOCK_IN_MAX);
    drive(tc);
}

static void on_sock_write(struct bufferevent *bev, void *arg)
{
    struct tls_conn *tc = arg;
    if (tc->dead) {
        return;
    }
    if (tc->closing) {
        if (!tc->lingering && evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
            linger(tc);
        }
        return;
    }
    tc->cbs->on_drain(tc->arg);
}

static void on_sock_event(struct bufferevent *bev, short what, void *arg)
{
    struct tls_conn *tc = arg;
    if (what & BEV_EVENT_EOF) {
        tc->eof = true;
        if (tc->closing) {
            finish(tc, TLS_END_CLOSED);
            return;
        }
        if (tc->read_paused && tc->handshake_done) {
            /* Deliver the rest when the owner resumes. */
            return;
        }
        drive(tc);
        if (!tc->dead && !tc->closing && !tc->read_paused) {
            /* drive() returned without seeing the end (plain_in full): try again. */
            event_active(tc->ev_deferred, EV_TIMEOUT, 0);
        }
        return;
    }
    if (what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
        finish(tc, TLS_END_IO_ERROR);
    }
}

static void on_deferred(evutil_socket_t fd, short what, void *arg)
{
    struct tls_conn *tc = arg;
    if (tc->dead) {
        return;
    }
    if (tc->closing) {
        if (!tc->lingering && evbuffer_get_length(bufferevent_get_output(tc->bev)) == 0) {
            linger(tc);
        }
        return;
    }
    drive(tc);
}

int tls_conn_init(struct tls_conn *tc, struct event_base *base, int fd, SSL *ssl,
                  const struct tls_conn_callbacks *cbs, void *arg, size_t low_water)
{
    pthread_once(&bio_once, bio_method_init);
    tc->ssl = ssl;
    tc->cbs = cbs;
    tc->arg = arg;
    tc->low_water = low_water;
    tc->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (tc->bev == NULL) {
        close(fd);
        return CG_ERR_IO;
    }
    tc->plain_in = evbuffer_new();
    tc->ev_deferred = event_new(base, -1, 0, on_deferred, tc);
    BIO *bio = BIO_new(bio_method);
    if (tc->plain_in == NULL || tc->ev_deferred == NULL || bio == NULL) {
        BIO_free(bio);
        return CG_ERR_IO;
    }
    BIO_set_data(bio, tc);
    SSL_set_bio(ssl, bio, bio);
    bufferevent_setcb(tc->bev, on_sock_read, on_sock_write, on_sock_event, tc);
    /* Writes may go out in large writev calls (reads: see bev_read_more). */
    bufferevent_set_max_single_write(tc->bev, SOCK_IO_MAX_WRITE);
    bufferevent_setwatermark(tc->bev, EV_READ, 0, SOCK_IN_MAX);
    bufferevent_setwatermark(tc->bev, EV_WRITE, low_water, 0);
    bufferevent_enable(tc->bev, EV_READ | EV_WRITE);
    return CG_OK;
}

void tls_conn_start_handshake(struct tls_conn *tc)
{
    event_active(tc->ev_deferred, EV_TIMEOUT, 0);
}

void tls_conn_cleanup(struct tls_conn *tc)
{
    if (tc->ev_deferred != NULL) {
        event_free(tc->ev_deferred);
    }
    if (tc->ssl != NULL) {
        SSL_free(tc->ssl); /* frees the BIO */
    }
    if (tc->bev != NULL) {
        bufferevent_free(tc->bev); /* closes the socket */
    }
    if (tc->plain_in != NULL) {
        evbuffer_free(tc->plain_in);
    }
    tc->ev_deferred = NULL;
    tc->ssl = NULL;
    tc->bev = NULL;
    tc->plain_in = NULL;
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

size_t tls_conn_output_pending(const struct tls_conn *tc)
{
    return tc->bev ? evbuffer_get_length(bufferevent_get_output(tc->bev)) : 0;
}

void tls_conn_pause_read(struct tls_conn *tc)
{
    if (tc->read_paused || tc->dead) {
        return;
    }
    tc->read_paused = true;
    bufferevent_disable(tc->bev, EV_READ);
}

void tls_conn_resume_read(struct tls_conn *tc)
{
    if (!tc->read_paused || tc->dead || tc->closing) {
        return;
    }
    tc->read_paused = false;
    if (!tc->eof) {
        bufferevent_enable(tc->bev, EV_READ);
    }
    /* Buffered ciphertext or plaintext raises no new read event: run from the loop. */
    event_active(tc->ev_deferred, EV_TIMEOUT, 0);
}

void tls_conn_close(struct tls_conn *tc)
{
    if (tc->closing || tc->dead) {
        return;
    }
    tc->closing = true;
    bufferevent_disable(tc->bev, EV_READ);
    if (tc->handshake_done) {
        SSL_shutdown(tc->ssl); /* queues close_notify */
        ERR_clear_error();
    }
    bufferevent_setwatermark(tc->bev, EV_WRITE, 0, 0);
    event_active(tc->ev_deferred, EV_TIMEOUT, 0);
}

const char *tls_conn_alpn(const struct tls_conn *tc, size_t *out_len)
{
    const uint8_t *p = NULL;
    unsigned len = 0;
    SSL_get0_alpn_selected(tc->ssl, &p, &len);
    *out_len = len;
    return len ? (const char *)p : NULL;
}
