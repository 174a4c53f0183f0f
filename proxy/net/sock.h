/* A non-blocking stream socket on a libevent loop: the part of a bufferevent we use,
 * without its system calls.
 *
 * A socket bufferevent costs about five epoll_ctl and two FIONREAD ioctl calls per
 * proxied request: it adds its write event whenever output is queued and removes it
 * once the output is empty, and sizes every read with FIONREAD. A sock instead
 *   - writes queued output from the event loop in the same iteration (the write event
 *     is activated by hand, not registered with epoll), and registers for writability
 *     only when the kernel's send buffer is full;
 *   - keeps its read event registered (level triggered), reads without FIONREAD into
 *     space it sizes from the previous read, and stops at the first short read instead
 *     of asking again until "would block".
 * A request/response round trip is then readv + writev per side and the epoll_wait.
 *
 * Callbacks are the last thing a sock does in any libevent callback, so the owner may
 * sock_cleanup (and free) it from inside one. */
#ifndef CG_PROXY_NET_SOCK_H
#define CG_PROXY_NET_SOCK_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/event_struct.h>

enum sock_event {
    SOCK_CONNECTED = 0, /* sock_connect finished */
    SOCK_CONNECT_FAILED,
    SOCK_TIMEOUT, /* connect or write deadline passed */
    SOCK_ERROR,   /* writing failed (reset, ...) */
};

struct sock_callbacks {
    /* The socket is readable, or |kicked|: sock_kick_read asked for this call and the
     * kernel may have nothing new (a reader skips the read then; if it did have bytes,
     * the next loop iteration reports them). */
    void (*on_readable)(void *arg, bool kicked);
    /* A flush left at most low_water bytes queued. */
    void (*on_drain)(void *arg);
    void (*on_event)(void *arg, enum sock_event ev);
};

struct sock {
    struct event ev_read;  /* registered while reading */
    struct event ev_write; /* activated by hand to flush; registered when blocked */
    struct evbuffer *out;  /* bytes to send; appending schedules a flush */
    struct evbuffer_cb_entry *out_cb;
    const struct sock_callbacks *cbs;
    void *arg;
    struct evbuffer *park_buf; /* sock_park: reads wait until it falls below park_max */
    size_t park_max;
    struct evbuffer_cb_entry *park_cb; /* set while parked */
    size_t low_water;      /* on_drain threshold */
    size_t last_read;      /* bytes the last sock_read got: sizes the next one */
    uint64_t bytes_read;    /* bytes received so far, for the metrics */
    uint64_t bytes_written; /* bytes the kernel took so far */
    uint32_t write_ms;     /* give up when blocked on writing this long; 0 = never */
    int fd;
    bool connecting;
    bool reading;       /* the owner reads (ev_read registered unless parked) */
    bool write_blocked; /* ev_write registered: the send buffer was full */
    bool kicked;        /* sock_kick_read activated ev_read by hand */
};

/* sock_init adopts the connected, non-blocking socket |fd|. Nothing is read before
 * sock_read_start. Returns 0 or CG_ERR_IO (|fd| is then closed). */
int sock_init(struct sock *s, struct event_base *base, int fd, const struct sock_callbacks *cbs,
              void *arg);

/* sock_connect opens a non-blocking TCP connection; on_event reports SOCK_CONNECTED,
 * SOCK_CONNECT_FAILED or SOCK_TIMEOUT (after |timeout_ms|, 0 = none). Output queued
 * before then is sent once connected. Returns 0 or CG_ERR_IO (nothing to clean up). */
int sock_connect(struct sock *s, struct event_base *base, const struct sockaddr *sa,
                 socklen_t sa_len, uint64_t timeout_ms, const struct sock_callbacks *cbs,
                 void *arg);

/* sock_cleanup unregisters the events, frees the output and closes the socket. Safe on
 * an all-zero struct and twice. */
void sock_cleanup(struct sock *s);

/* sock_detach is sock_cleanup that returns the socket instead of closing it. */
int sock_detach(struct sock *s);

/* sock_read_start registers for readability; sock_read_stop unregisters. Both cost an
 * epoll_ctl: owners that pause often stop lazily, from on_readable. There is no read
 * deadline here (owners keep their own timers): libevent would re-register a
 * persistent event that has one each time sock_kick_read runs it. */
void sock_read_start(struct sock *s);
void sock_read_stop(struct sock *s);

/* sock_park stops reading while |buf| (the owner's input) holds |max| bytes or more
 * that the owner has not consumed: a level-triggered socket would otherwise wake us
 * for nothing. Once the owner drains |buf| below |max|, reading resumes, with a kick
 * (unless the owner called sock_read_stop meanwhile). sock_unpark ends it early. The
 * owner frees |buf| only after sock_unpark or sock_cleanup. */
void sock_park(struct sock *s, struct evbuffer *buf, size_t max);
void sock_unpark(struct sock *s);

static inline bool sock_parked(const struct sock *s)
{
    return s->park_cb != NULL;
}

/* sock_kick_read calls on_readable from the loop, without new bytes: for an owner that
 * resumes reading with data still buffered above the socket. */
void sock_kick_read(struct sock *s);

/* sock_again tells whether a failed sock_read or write only has to wait: nothing to
 * read, the send buffer full, or (sock_read) the caller's buffer already full. */
static inline bool sock_again(int err)
{
#if EAGAIN != EWOULDBLOCK
    if (err == EWOULDBLOCK) {
        return true;
    }
#endif
    return err == EAGAIN || err == EINTR || err == ENOBUFS;
}

/* sock_read appends what the socket holds to |in|, reading until |in| holds |max|
 * bytes. Returns the byte count, 0 at end of stream, or -1 with errno (see
 * sock_again). */
ssize_t sock_read(struct sock *s, struct evbuffer *in, size_t max);

/* sock_flush_soon makes the loop run a flush (and so on_drain) in this iteration even
 * if nothing new was queued; appending to the output schedules one by itself. */
void sock_flush_soon(struct sock *s);

static inline struct evbuffer *sock_output(struct sock *s)
{
    return s->out;
}

static inline size_t sock_output_pending(const struct sock *s)
{
    return s->out != NULL ? evbuffer_get_length(s->out) : 0;
}

/* sock_set_low_water sets the on_drain threshold; sock_set_write_timeout the time a
 * blocked write may wait for the peer to read. */
static inline void sock_set_low_water(struct sock *s, size_t low_water)
{
    s->low_water = low_water;
}

void sock_set_write_timeout(struct sock *s, uint32_t ms);

#endif
