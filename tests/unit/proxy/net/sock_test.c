/* Tests of proxy/net/sock.c on a real event loop with socket pairs and loopback TCP: what
 * it promises about system calls (no write registration unless the kernel pushes
 * back), back-pressure, parking, the kick flag, connect results and the write
 * deadline. */
#include "proxy/net/sock.h"

#include <arpa/inet.h>
#include "check_main.h"
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/err.h"

struct rec {
    struct sock *s;
    struct evbuffer *in;
    int readable;
    int kicked;
    int drained;
    int events[4];
    ssize_t last_read;
};

static void on_readable(void *arg, bool kicked)
{
    struct rec *r = arg;
    r->readable++;
    if (kicked) {
        r->kicked++;
        return;
    }
    r->last_read = sock_read(r->s, r->in, 1 << 20);
    if (r->last_read == 0) {
        sock_read_stop(r->s);
    }
}

static void on_drain(void *arg)
{
    ((struct rec *)arg)->drained++;
}

static void on_event(void *arg, enum sock_event ev)
{
    ((struct rec *)arg)->events[ev]++;
}

static const struct sock_callbacks cbs = {on_readable, on_drain, on_event};

struct fixture {
    struct event_base *base;
    struct sock s;
    struct rec rec;
    int peer;
};

static void setup_pair(struct fixture *f)
{
    memset(f, 0, sizeof(*f));
    f->base = event_base_new();
    ck_assert_ptr_nonnull(f->base);
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    f->peer = sv[1];
    f->rec.s = &f->s;
    f->rec.in = evbuffer_new();
    ck_assert_int_eq(sock_init(&f->s, f->base, sv[0], &cbs, &f->rec), CG_OK);
}

static void teardown_pair(struct fixture *f)
{
    sock_cleanup(&f->s);
    sock_cleanup(&f->s); /* idempotent */
    evbuffer_free(f->rec.in);
    if (f->peer >= 0) {
        close(f->peer);
    }
    event_base_free(f->base);
}

static void loop_once(struct fixture *f)
{
    event_base_loop(f->base, EVLOOP_NONBLOCK);
}

START_TEST(test_flush_without_registering)
{
    struct fixture f;
    setup_pair(&f);
    evbuffer_add(sock_output(&f.s), "hello", 5);
    /* Nothing is sent from inside the append... */
    char buf[16];
    ck_assert_int_eq(read(f.peer, buf, sizeof(buf)), -1);
    /* ...but within the loop iteration, and the write event never reaches epoll. */
    loop_once(&f);
    ck_assert_int_eq(read(f.peer, buf, sizeof(buf)), 5);
    ck_assert_int_eq(memcmp(buf, "hello", 5), 0);
    ck_assert(!f.s.write_blocked);
    ck_assert_int_eq(event_pending(&f.s.ev_write, EV_WRITE, NULL), 0);
    ck_assert_int_eq(f.rec.drained, 1);
    /* Two appends in one callback make one flush. */
    evbuffer_add(sock_output(&f.s), "ab", 2);
    evbuffer_add(sock_output(&f.s), "cd", 2);
    loop_once(&f);
    ck_assert_int_eq(read(f.peer, buf, sizeof(buf)), 4);
    ck_assert_int_eq(f.rec.drained, 2);
    teardown_pair(&f);
}
END_TEST

#define BIG (1 << 20)

/* queue_8mib queues more than a socket pair's buffers hold. */
static void queue_8mib(struct fixture *f)
{
    static char big[BIG];
    memset(big, 'x', sizeof(big));
    for (int i = 0; i < 8; i++) {
        evbuffer_add(sock_output(&f->s), big, sizeof(big));
    }
}

START_TEST(test_blocked_write_registers_until_drained)
{
    struct fixture f;
    setup_pair(&f);
    sock_set_low_water(&f.s, 0);
    queue_8mib(&f);
    loop_once(&f);
    ck_assert(f.s.write_blocked);
    ck_assert(event_pending(&f.s.ev_write, EV_WRITE, NULL));
    ck_assert_int_gt(sock_output_pending(&f.s), 0);
    ck_assert_int_eq(f.rec.drained, 0);
    static char sink[BIG];
    size_t got = 0;
    for (int spins = 0; spins < 100000 && got < 8 * BIG; spins++) {
        ssize_t n = read(f.peer, sink, sizeof(sink));
        if (n > 0) {
            got += (size_t)n;
        }
        loop_once(&f);
    }
    ck_assert_uint_eq(got, 8 * BIG);
    ck_assert_uint_eq(sock_output_pending(&f.s), 0);
    ck_assert(!f.s.write_blocked);
    ck_assert_int_eq(event_pending(&f.s.ev_write, EV_WRITE, NULL), 0);
    ck_assert_int_eq(f.rec.drained, 1);
    teardown_pair(&f);
}
END_TEST

START_TEST(test_write_timeout)
{
    struct fixture f;
    setup_pair(&f);
    sock_set_write_timeout(&f.s, 50);
    queue_8mib(&f);
    /* The peer never reads: the deadline fires. */
    for (int i = 0; i < 100 && f.rec.events[SOCK_TIMEOUT] == 0; i++) {
        event_base_loop(f.base, EVLOOP_ONCE);
    }
    ck_assert_int_eq(f.rec.events[SOCK_TIMEOUT], 1);
    teardown_pair(&f);
}
END_TEST

START_TEST(test_read_kick_and_eof)
{
    struct fixture f;
    setup_pair(&f);
    sock_read_start(&f.s);
    ck_assert_int_eq(write(f.peer, "ping", 4), 4);
    loop_once(&f);
    ck_assert_int_eq(f.rec.readable, 1);
    ck_assert_int_eq(f.rec.last_read, 4);
    ck_assert_uint_eq(evbuffer_get_length(f.rec.in), 4);
    /* A kick calls back without reading. */
    sock_kick_read(&f.s);
    loop_once(&f);
    ck_assert_int_eq(f.rec.readable, 2);
    ck_assert_int_eq(f.rec.kicked, 1);
    /* A kick on a stopped socket also calls back, and leaves it stopped. */
    sock_read_stop(&f.s);
    sock_kick_read(&f.s);
    loop_once(&f);
    ck_assert_int_eq(f.rec.kicked, 2);
    ck_assert_int_eq(event_pending(&f.s.ev_read, EV_READ, NULL), 0);
    /* Stopped: bytes wait in the kernel. */
    ck_assert_int_eq(write(f.peer, "more", 4), 4);
    loop_once(&f);
    ck_assert_int_eq(f.rec.readable, 3);
    sock_read_start(&f.s);
    close(f.peer);
    f.peer = -1;
    loop_once(&f);
    ck_assert_uint_eq(evbuffer_get_length(f.rec.in), 8);
    /* The end of the stream comes after the bytes before it. */
    for (int i = 0; i < 10 && f.rec.last_read != 0; i++) {
        loop_once(&f);
    }
    ck_assert_int_eq(f.rec.last_read, 0);
    teardown_pair(&f);
}
END_TEST

START_TEST(test_read_respects_max)
{
    struct fixture f;
    setup_pair(&f);
    char buf[1000];
    memset(buf, 'y', sizeof(buf));
    ck_assert_int_eq(write(f.peer, buf, sizeof(buf)), (ssize_t)sizeof(buf));
    struct evbuffer *in = evbuffer_new();
    ck_assert_int_eq(sock_read(&f.s, in, 300), 300);
    ck_assert_int_eq(sock_read(&f.s, in, 300), -1);
    ck_assert(sock_again(errno));
    ck_assert_int_eq(sock_read(&f.s, in, 2000), 700);
    ck_assert_int_eq(sock_read(&f.s, in, 2000), -1);
    ck_assert(sock_again(errno));
    evbuffer_free(in);
    teardown_pair(&f);
}
END_TEST

START_TEST(test_park)
{
    struct fixture f;
    setup_pair(&f);
    struct evbuffer *owner = evbuffer_new();
    evbuffer_add(owner, "0123456789", 10);
    sock_read_start(&f.s);
    sock_park(&f.s, owner, 8);
    ck_assert(sock_parked(&f.s));
    /* Parked: the socket is not watched, whatever arrives. */
    ck_assert_int_eq(write(f.peer, "ab", 2), 2);
    loop_once(&f);
    ck_assert_int_eq(f.rec.readable, 0);
    /* Draining to the cap is not enough; below it, reading resumes with a kick. */
    evbuffer_drain(owner, 2);
    ck_assert(sock_parked(&f.s));
    evbuffer_drain(owner, 1);
    ck_assert(!sock_parked(&f.s));
    loop_once(&f);
    ck_assert_int_eq(f.rec.kicked, 1);
    loop_once(&f);
    ck_assert_int_eq(f.rec.last_read, 2);
    /* An owner that stopped reading while parked is not restarted. */
    sock_park(&f.s, owner, 8);
    evbuffer_add(owner, "0123", 4);
    sock_read_stop(&f.s);
    evbuffer_drain(owner, evbuffer_get_length(owner));
    ck_assert(!sock_parked(&f.s));
    ck_assert_int_eq(event_pending(&f.s.ev_read, EV_READ, NULL), 0);
    /* Nor does sock_read_start register while parked; sock_unpark does. */
    evbuffer_add(owner, "0123456789", 10);
    sock_park(&f.s, owner, 8);
    sock_read_start(&f.s);
    ck_assert_int_eq(event_pending(&f.s.ev_read, EV_READ, NULL), 0);
    sock_unpark(&f.s);
    ck_assert(event_pending(&f.s.ev_read, EV_READ, NULL));
    /* Cleanup while parked lets go of the owner's buffer. */
    sock_park(&f.s, owner, 8);
    teardown_pair(&f);
    evbuffer_drain(owner, evbuffer_get_length(owner));
    evbuffer_free(owner);
}
END_TEST

static int listener(struct sockaddr_in *sa)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)sa, sizeof(*sa)), 0);
    socklen_t len = sizeof(*sa);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)sa, &len), 0);
    ck_assert_int_eq(listen(fd, 8), 0);
    return fd;
}

START_TEST(test_connect)
{
    struct event_base *base = event_base_new();
    struct sockaddr_in sa;
    int lfd = listener(&sa);
    struct sock s;
    struct rec rec = {.s = &s};
    ck_assert_int_eq(sock_connect(&s, base, (struct sockaddr *)&sa, sizeof(sa), 5000, &cbs, &rec),
                     CG_OK);
    /* Queued before the connection is up: sent once it is. */
    evbuffer_add(sock_output(&s), "early", 5);
    for (int i = 0; i < 100 && rec.events[SOCK_CONNECTED] == 0; i++) {
        event_base_loop(base, EVLOOP_ONCE);
    }
    ck_assert_int_eq(rec.events[SOCK_CONNECTED], 1);
    event_base_loop(base, EVLOOP_NONBLOCK);
    int afd = accept(lfd, NULL, NULL);
    char buf[8];
    ck_assert_int_eq(read(afd, buf, sizeof(buf)), 5);
    /* The connect deadline is gone: flushing does not leave the write event in epoll
     * (libevent would re-register a persistent event that kept one). */
    evbuffer_add(sock_output(&s), "late", 4);
    event_base_loop(base, EVLOOP_NONBLOCK);
    ck_assert_int_eq(event_pending(&s.ev_write, EV_WRITE | EV_TIMEOUT, NULL), 0);
    ck_assert_int_eq(read(afd, buf, sizeof(buf)), 4);
    sock_cleanup(&s);
    close(afd);

    /* Nobody listens any more: refused. */
    close(lfd);
    struct sock s2;
    struct rec rec2 = {.s = &s2};
    if (sock_connect(&s2, base, (struct sockaddr *)&sa, sizeof(sa), 5000, &cbs, &rec2) == CG_OK) {
        for (int i = 0; i < 100 && rec2.events[SOCK_CONNECT_FAILED] == 0; i++) {
            event_base_loop(base, EVLOOP_ONCE);
        }
        ck_assert_int_eq(rec2.events[SOCK_CONNECT_FAILED], 1);
        ck_assert_int_eq(rec2.events[SOCK_CONNECTED], 0);
        sock_cleanup(&s2);
    }
    event_base_free(base);
}
END_TEST

START_TEST(test_detach_keeps_fd)
{
    struct fixture f;
    setup_pair(&f);
    int fd = sock_detach(&f.s);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "x", 1), 1); /* still open */
    close(fd);
    teardown_pair(&f); /* cleanup after detach is a no-op */
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("sock");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_flush_without_registering);
    tcase_add_test(tc, test_blocked_write_registers_until_drained);
    tcase_add_test(tc, test_write_timeout);
    tcase_add_test(tc, test_read_kick_and_eof);
    tcase_add_test(tc, test_read_respects_max);
    tcase_add_test(tc, test_park);
    tcase_add_test(tc, test_connect);
    tcase_add_test(tc, test_detach_keeps_fd);
    suite_add_tcase(s, tc);
    return s;
}
