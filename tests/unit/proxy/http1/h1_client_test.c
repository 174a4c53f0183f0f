/* Tests of proxy/http1/h1_client.c on a real event loop against a scripted database on
 * loopback TCP: response framing (Content-Length, chunked, until close), interim
 * responses, keep-alive and the pool, the retry of a request whose pooled connection
 * turns out closed, errors, request body framing, an Upgrade tunnel, and a user that
 * frees its client from inside a callback. */
#include "proxy/http1/h1_client.h"

#include "check_main.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/err.h"
#include "config/config.h"
#include "proxy/core/runtime.h"
#include "proxy/core/worker.h"
#include "proxy/upstream/upstream_pool.h"
#include "proxy/upstream/upstream_set.h"

/* ---- the scripted database -------------------------------------------------------- */

#define CLOSE_NOW "<close>" /* script entry: close the connection without an answer */
#define MAX_CONNS 8

struct db;

struct db_conn {
    struct db *db;
    int fd;
    struct event *ev;
    struct evbuffer *in;  /* bytes not yet handled */
    struct evbuffer *all; /* every byte received */
};

struct db {
    struct event_base *base;
    int lfd;
    struct event *ev_accept;
    uint16_t port;
    struct db_conn conns[MAX_CONNS];
    int num_conns;
    const char *const *script; /* one answer per request head, NULL-terminated */
    int requests;              /* request heads seen */
    /* handle: what to do with new bytes; default answer_heads */
    void (*handle)(struct db *db, struct db_conn *c);
};

static void db_close(struct db_conn *c)
{
    if (c->fd >= 0) {
        event_free(c->ev);
        close(c->fd);
        c->fd = -1;
    }
}

static void db_send(struct db_conn *c, const char *s)
{
    ck_assert_int_eq(write(c->fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* answer_heads answers each complete request head with the next script entry. */
static void answer_heads(struct db *db, struct db_conn *c)
{
    for (;;) {
        struct evbuffer_ptr end = evbuffer_search(c->in, "\r\n\r\n", 4, NULL);
        if (end.pos < 0 || c->fd < 0) {
            return;
        }
        evbuffer_drain(c->in, (size_t)end.pos + 4);
        const char *answer = db->script[db->requests++];
        ck_assert_ptr_nonnull(answer);
        if (strcmp(answer, CLOSE_NOW) == 0) {
            db_close(c);
            return;
        }
        db_send(c, answer);
    }
}

static void on_db_read(evutil_socket_t fd, short what, void *arg)
{
    struct db_conn *c = arg;
    char buf[65536];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) {
        db_close(c);
        return;
    }
    evbuffer_add(c->in, buf, (size_t)n);
    evbuffer_add(c->all, buf, (size_t)n);
    c->db->handle(c->db, c);
}

static void on_db_accept(evutil_socket_t fd, short what, void *arg)
{
    struct db *db = arg;
    int cfd = accept(fd, NULL, NULL);
    ck_assert_int_ge(cfd, 0);
    ck_assert_int_lt(db->num_conns, MAX_CONNS);
    struct db_conn *c = &db->conns[db->num_conns++];
    c->db = db;
    c->fd = cfd;
    c->in = evbuffer_new();
    c->all = evbuffer_new();
    c->ev = event_new(db->base, cfd, EV_READ | EV_PERSIST, on_db_read, c);
    event_add(c->ev, NULL);
}

static void db_start(struct db *db, struct event_base *base)
{
    memset(db, 0, sizeof(*db));
    db->base = base;
    db->handle = answer_heads;
    db->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(db->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(db->lfd, 16), 0);
    socklen_t len = sizeof(sa);
    ck_assert_int_eq(getsockname(db->lfd, (struct sockaddr *)&sa, &len), 0);
    db->port = ntohs(sa.sin_port);
    db->ev_accept = event_new(base, db->lfd, EV_READ | EV_PERSIST, on_db_accept, db);
    event_add(db->ev_accept, NULL);
}

static void db_stop(struct db *db)
{
    for (int i = 0; i < db->num_conns; i++) {
        db_close(&db->conns[i]);
        evbuffer_free(db->conns[i].in);
        evbuffer_free(db->conns[i].all);
    }
    event_free(db->ev_accept);
    close(db->lfd);
}

/* ---- the worker the client lives in ----------------------------------------------- */

struct fixture {
    struct event_base *base;
    struct db db;
    struct config *cfg;
    struct runtime rt;
    struct worker w;
    struct snapshot snap;
    struct worker_snapshot ws;
    struct upstream_pool *pool;
    void *state;
};

static const struct worker_module *const modules[] = {&h1_client_worker_module};

/* setup starts a database and a worker whose upstream is |port| (0: the database). */
static void setup(struct fixture *f, uint16_t port)
{
    memset(f, 0, sizeof(*f));
    f->base = event_base_new();
    db_start(&f->db, f->base);
    char json[512];
    int n = snprintf(json, sizeof(json),
                     "{\"listeners\":[{\"name\":\"a\",\"listen\":[\"127.0.0.1:8443\"],"
                     "\"tls\":{\"certificates\":[{\"cert\":\"c.pem\",\"key\":\"k.pem\"}]},"
                     "\"upstream\":\"db\"}],"
                     "\"upstreams\":{\"db\":{\"servers\":[\"127.0.0.1:%u\"]}}}",
                     (unsigned)(port ? port : f->db.port));
    struct cg_errbuf err = {{0}};
    ck_assert_msg(config_load_string("t.json", json, (size_t)n, "/", &f->cfg, &err) == 0, "%s",
                  err.msg);
    f->rt.cfg = f->cfg;
    f->rt.modules = modules;
    f->rt.num_modules = 1;
    f->w.rt = &f->rt;
    f->w.base = f->base;
    const struct config_upstream *up = &f->cfg->upstreams[0];
    struct upstream_set *set = upstream_set_new(NULL, up->servers, up->num_servers, false, 1);
    f->pool = upstream_pool_new(f->base, up, f->cfg, NULL, set, 0);
    upstream_set_unref(set); /* the pool holds its own */
    f->snap.cfg = f->cfg;
    f->ws.w = &f->w;
    f->ws.snap = &f->snap;
    f->ws.pools = &f->pool;
    f->state = h1_client_worker_module.init(&f->ws);
    f->ws.module_states = &f->state;
}

static void teardown(struct fixture *f)
{
    h1_client_worker_module.cleanup(&f->ws, f->state);
    upstream_pool_free(f->pool);
    config_free(f->cfg);
    db_stop(&f->db);
    event_base_free(f->base);
}

/* ---- the client's user ------------------------------------------------------------ */

struct user {
    struct h1_client *cl;
    const char *head; /* the request head write_head writes */
    bool chunked;
    const char *body; /* sent in two pieces on the first on_writable */
    bool body_sent;
    int heads_written;
    int interim[4];
    int num_interim;
    int status;
    bool head_end;
    bool may_upgrade; /* the request asks for an Upgrade */
    bool upgraded;
    const char *tunnel_reply; /* sent through the tunnel when its first bytes come */
    bool free_in_body;        /* frees the client at its first body bytes */
    struct evbuffer *got;     /* response body */
    bool last;
    int error_status;
    const char *error_reason;
    bool done;
};

static bool u_write_head(void *arg, struct evbuffer *out)
{
    struct user *u = arg;
    u->heads_written++;
    evbuffer_add(out, u->head, strlen(u->head));
    return u->chunked;
}

static void u_writable(void *arg)
{
    struct user *u = arg;
    if (u->body != NULL && !u->body_sent && h1_client_request_room(u->cl) > 0) {
        struct evbuffer *b = evbuffer_new();
        size_t half = strlen(u->body) / 2;
        evbuffer_add(b, u->body, strlen(u->body));
        h1_client_request_body(u->cl, b, half);
        h1_client_request_body(u->cl, b, evbuffer_get_length(b));
        evbuffer_free(b);
        u->body_sent = true;
    }
    h1_client_request_end(u->cl);
}

static void u_interim(void *arg, const struct h1_response *resp)
{
    struct user *u = arg;
    ck_assert_int_lt(u->num_interim, 4);
    u->interim[u->num_interim++] = resp->status;
}

static void u_head(void *arg, const struct h1_response *resp, bool end)
{
    struct user *u = arg;
    u->status = resp->status;
    u->head_end = end;
    u->done = end;
}

static void u_upgrade(void *arg, const struct h1_response *resp)
{
    struct user *u = arg;
    u->status = resp->status;
    u->upgraded = true;
}

static void u_body(void *arg, struct evbuffer *src, size_t n, bool last)
{
    struct user *u = arg;
    evbuffer_remove_buffer(src, u->got, n);
    u->last = last;
    if (last) {
        u->done = true;
        return;
    }
    if (u->upgraded && u->tunnel_reply != NULL && n > 0) {
        struct evbuffer *b = evbuffer_new();
        evbuffer_add(b, u->tunnel_reply, strlen(u->tunnel_reply));
        h1_client_request_body(u->cl, b, evbuffer_get_length(b));
        evbuffer_free(b);
        u->tunnel_reply = NULL;
    }
    if (u->free_in_body && n > 0) {
        h1_client_free(u->cl);
        h1_client_free(u->cl); /* a second call inside the callback is harmless */
        u->done = true;
    }
}

static void u_error(void *arg, int status, enum cg_reason reason)
{
    struct user *u = arg;
    u->error_status = status;
    u->error_reason = cg_reason_str(reason);
    u->done = true;
}

static const struct h1_client_callbacks user_cbs = {
    .write_head = u_write_head,
    .on_writable = u_writable,
    .on_interim = u_interim,
    .on_head = u_head,
    .on_upgrade = u_upgrade,
    .on_body = u_body,
    .on_error = u_error,
};

#define GET "GET / HTTP/1.1\r\nHost: db\r\n\r\n"

/* exchange runs one request to its final callback (the loop is bounded by the test
 * case's timeout) and returns the user, whose body buffer the caller frees. */
static struct user exchange(struct fixture *f, struct user u)
{
    u.got = evbuffer_new();
    u.cl = h1_client_new(&f->ws, &user_cbs, &u);
    struct h1_client_request req = {.method = CG_STR_LIT("GET"), .upgrade = u.may_upgrade};
    h1_client_start(u.cl, &req);
    while (!u.done) {
        event_base_loop(f->base, EVLOOP_ONCE);
    }
    /* Let the pool see what the database did after the answer. */
    event_base_loop(f->base, EVLOOP_NONBLOCK);
    return u;
}

static bool body_is(struct user *u, const char *want)
{
    size_t len = evbuffer_get_length(u->got);
    bool ok =
        len == strlen(want) && (len == 0 || memcmp(evbuffer_pullup(u->got, -1), want, len) == 0);
    evbuffer_free(u->got);
    u->got = NULL;
    return ok;
}

static bool received(struct db_conn *c, const char *want)
{
    size_t len = evbuffer_get_length(c->all);
    return len == strlen(want) && (len == 0 || memcmp(evbuffer_pullup(c->all, -1), want, len) == 0);
}

/* ---- tests ------------------------------------------------------------------------ */

START_TEST(test_content_length_and_keepalive)
{
    struct fixture f;
    setup(&f, 0);
    static const char *const script[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        "HTTP/1.1 204 No Content\r\n\r\n",
        NULL,
    };
    f.db.script = script;
    struct user u = exchange(&f, (struct user){.head = GET});
    ck_assert_int_eq(u.status, 200);
    ck_assert(u.last && !u.head_end);
    ck_assert(body_is(&u, "hello"));
    /* The connection went back to the pool: the next request reuses it, and a
     * response without body ends with its head. */
    u = exchange(&f, (struct user){.head = GET});
    ck_assert_int_eq(u.status, 204);
    ck_assert(u.head_end);
    ck_assert(body_is(&u, ""));
    ck_assert_int_eq(f.db.num_conns, 1);
    ck_assert(received(&f.db.conns[0], GET GET));
    teardown(&f);
}
END_TEST

START_TEST(test_chunked_body_and_interim_responses)
{
    struct fixture f;
    setup(&f, 0);
    static const char *const script[] = {
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-Trailer: 1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        NULL,
    };
    f.db.script = script;
    struct user u = exchange(&f, (struct user){.head = GET});
    /* 100 Continue is swallowed, 103 reported. */
    ck_assert_int_eq(u.num_interim, 1);
    ck_assert_int_eq(u.interim[0], 103);
    ck_assert_int_eq(u.status, 200);
    ck_assert(u.last);
    ck_assert(body_is(&u, "abcde"));
    /* A chunked response keeps the connection. */
    u = exchange(&f, (struct user){.head = GET});
    ck_assert(body_is(&u, "ok"));
    ck_assert_int_eq(f.db.num_conns, 1);
    teardown(&f);
}
END_TEST

START_TEST(test_connection_close_not_reused)
{
    struct fixture f;
    setup(&f, 0);
    static const char *const script[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\na",
        "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nb",
        "HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\nc",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nd",
        NULL,
    };
    f.db.script = script;
    const char *want[] = {"a", "b", "c", "d"};
    for (int i = 0; i < 4; i++) {
        struct user u = exchange(&f, (struct user){.head = GET});
        ck_assert(body_is(&u, want[i]));
    }
    /* Connection: close and HTTP/1.0 without keep-alive each ended their connection;
     * HTTP/1.0 with keep-alive kept it for the fourth request. */
    ck_assert_int_eq(f.db.num_conns, 3);
    teardown(&f);
}
END_TEST

/* A body delimited by the close ends with on_body |last| when the database closes. */
static void answer_then_close(struct db *db, struct db_conn *c)
{
    if (evbuffer_search(c->in, "\r\n\r\n", 4, NULL).pos >= 0) {
        db_send(c, "HTTP/1.1 200 OK\r\n\r\nuntil close");
        db_close(c);
    }
}

START_TEST(test_until_close_ends_with_eof)
{
    struct fixture f;
    setup(&f, 0);
    f.db.handle = answer_then_close;
    struct user u = exchange(&f, (struct user){.head = GET});
    ck_assert_int_eq(u.status, 200);
    ck_assert(u.last);
    ck_assert(body_is(&u, "until close"));
    teardown(&f);
}
END_TEST

START_TEST(test_stale_pooled_connection_retried)
{
    struct fixture f;
    setup(&f, 0);
    static const char *const script[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na",
        CLOSE_NOW, /* the pooled connection dies with the second request on it */
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb",
        NULL,
    };
    f.db.script = script;
    struct user u = exchange(&f, (struct user){.head = GET});
    ck_assert(body_is(&u, "a"));
    u = exchange(&f, (struct user){.head = GET});
    ck_assert_int_eq(u.error_status, 0);
    ck_assert(body_is(&u, "b"));
    ck_assert_int_eq(u.heads_written, 2);
    ck_assert_int_eq(f.db.num_conns, 2);
    teardown(&f);
}
END_TEST

START_TEST(test_fresh_connection_closed_is_502)
{
    struct fixture f;
    setup(&f, 0);
    static const char *const script[] = {CLOSE_NOW, NULL};
    f.db.script = script;
    struct user u = exchange(&f, (struct user){.head = GET});
    /* Not a pooled connection: the database may have seen the request, no retry. */
    ck_assert_int_eq(u.error_status, 502);
    ck_assert_str_eq(u.error_reason, "upstream_closed");
    ck_assert_int_eq(u.heads_written, 1);
    evbuffer_free(u.got);
    teardown(&f);
}
END_TEST

START_TEST(test_malformed_and_unasked_101)
{
    struct fixture f;
    setup(&f, 0);
    static const char *const script[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n",
        NULL,
    };
    f.db.script = script;
    struct user u = exchange(&f, (struct user){.head = GET});
    ck_assert_int_eq(u.error_status, 502);
    ck_assert_str_eq(u.error_reason, "bad_upstream_response");
    evbuffer_free(u.got);
    u = exchange(&f, (struct user){.head = GET});
    ck_assert_int_eq(u.error_status, 502);
    ck_assert_str_eq(u.error_reason, "unexpected_101");
    evbuffer_free(u.got);
    teardown(&f);
}
END_TEST

START_TEST(test_connect_failure_then_no_healthy_server)
{
    /* A port nobody listens on: the database's own listener, closed. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t len = sizeof(sa);
    ck_assert_int_eq(getsockname(s, (struct sockaddr *)&sa, &len), 0);
    close(s);
    struct fixture f;
    setup(&f, ntohs(sa.sin_port));
    struct user u = exchange(&f, (struct user){.head = GET});
    ck_assert_int_eq(u.error_status, 502);
    ck_assert_str_eq(u.error_reason, "upstream_connect_failed");
    evbuffer_free(u.got);
    /* The server is marked down now. */
    u = exchange(&f, (struct user){.head = GET});
    ck_assert_int_eq(u.error_status, 503);
    ck_assert_str_eq(u.error_reason, "no_healthy_server");
    evbuffer_free(u.got);
    teardown(&f);
}
END_TEST

/* answer_chunked_request answers once the last chunk of the request arrived. */
static void answer_chunked_request(struct db *db, struct db_conn *c)
{
    if (evbuffer_search(c->all, "0\r\n\r\n", 5, NULL).pos >= 0) {
        db_send(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    }
}

START_TEST(test_request_body_chunk_framing)
{
    struct fixture f;
    setup(&f, 0);
    f.db.handle = answer_chunked_request;
    const char *head = "POST / HTTP/1.1\r\nHost: db\r\nTransfer-Encoding: chunked\r\n\r\n";
    struct user u = exchange(&f, (struct user){.head = head, .chunked = true, .body = "helloabc"});
    ck_assert_int_eq(u.status, 200);
    ck_assert(u.head_end);
    ck_assert(received(&f.db.conns[0], "POST / HTTP/1.1\r\nHost: db\r\nTransfer-Encoding: "
                                       "chunked\r\n\r\n4\r\nhell\r\n4\r\noabc\r\n0\r\n\r\n"));
    evbuffer_free(u.got);
    teardown(&f);
}
END_TEST

/* tunnel: 101 with the first tunnel bytes, then a close once the client's reply came. */
static void tunnel(struct db *db, struct db_conn *c)
{
    if (evbuffer_search(c->all, "ping", 4, NULL).pos >= 0) {
        db_close(c);
    } else if (evbuffer_search(c->in, "\r\n\r\n", 4, NULL).pos >= 0) {
        evbuffer_drain(c->in, evbuffer_get_length(c->in));
        db_send(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n"
                   "hello-tunnel");
    }
}

START_TEST(test_upgrade_tunnel)
{
    struct fixture f;
    setup(&f, 0);
    f.db.handle = tunnel;
    const char *head = "GET / HTTP/1.1\r\nHost: db\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n";
    struct user u =
        exchange(&f, (struct user){.head = head, .may_upgrade = true, .tunnel_reply = "ping"});
    ck_assert_int_eq(u.status, 101);
    ck_assert(u.upgraded && u.last);
    ck_assert(body_is(&u, "hello-tunnel"));
    teardown(&f);
}
END_TEST

START_TEST(test_free_inside_callback)
{
    struct fixture f;
    setup(&f, 0);
    static const char *const script[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb",
        NULL,
    };
    f.db.script = script;
    struct user u = exchange(&f, (struct user){.head = GET, .free_in_body = true});
    ck_assert(!u.last);
    ck_assert(body_is(&u, "hello"));
    /* The connection was closed, not pooled: its response was not complete. */
    u = exchange(&f, (struct user){.head = GET});
    ck_assert(body_is(&u, "b"));
    ck_assert_int_eq(f.db.num_conns, 2);
    teardown(&f);
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("h1_client");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_content_length_and_keepalive);
    tcase_add_test(tc, test_chunked_body_and_interim_responses);
    tcase_add_test(tc, test_connection_close_not_reused);
    tcase_add_test(tc, test_until_close_ends_with_eof);
    tcase_add_test(tc, test_stale_pooled_connection_retried);
    tcase_add_test(tc, test_fresh_connection_closed_is_502);
    tcase_add_test(tc, test_malformed_and_unasked_101);
    tcase_add_test(tc, test_connect_failure_then_no_healthy_server);
    tcase_add_test(tc, test_request_body_chunk_framing);
    tcase_add_test(tc, test_upgrade_tunnel);
    tcase_add_test(tc, test_free_inside_callback);
    suite_add_tcase(s, tc);
    return s;
}
