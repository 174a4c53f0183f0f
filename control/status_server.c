#include "control/status_server.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "common/clock.h"
#include "common/json_line.h"
#include "common/log.h"
#include "common/mem.h"
#include "control/health.h"
#include "control/http_reply.h"
#include "control/metrics_scrape.h"
#include "control/metrics_text.h"
#include "proxy/core/runtime.h"
#include "proxy/http1/h1_parse.h"

#define MAX_HEADERS 32    /* fields per request head; a probe sends a handful */
#define LINGER_MS 5000    /* a closing connection's last bytes get this long */

/* enum status_conn_state: where a connection is. */
enum status_conn_state {
    STATUS_CONN_IDLE = 0, /* between requests (keepalive_idle) */
    STATUS_CONN_HEAD,     /* a request head is arriving (request_header) */
    STATUS_CONN_CLOSING,  /* the last answer is being sent (linger), then closed */
};

struct status_conn {
    struct status_server *s;
    struct status_conn *prev, *next;
    struct bufferevent *bev;
    struct event *ev_timer;
    enum status_conn_state state;
};

struct status_server {
    struct runtime *rt;
    struct event_base *base;
    struct evconnlistener *evl;
    struct status_conn *conns;
    unsigned num_conns;
};

static void conn_free(struct status_conn *c)
{
    struct status_server *s = c->s;
    bufferevent_free(c->bev);
    event_free(c->ev_timer);
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        s->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    s->num_conns--;
    free(c);
}

static void enter(struct status_conn *c, enum status_conn_state state)
{
    const struct config_timeouts *t = &c->s->rt->cfg->timeouts;
    c->state = state;
    struct timeval tv = cg_timeval_ms(state == STATUS_CONN_IDLE   ? t->keepalive_idle
                                      : state == STATUS_CONN_HEAD ? t->request_header
                                                                  : LINGER_MS);
    evtimer_add(c->ev_timer, &tv);
}

/* reply sends one response; |body| may be NULL (HEAD, or no body). */
static void reply(struct status_conn *c, int status, const char *content_type,
                  struct evbuffer *body, size_t body_len, const char *extra, bool close)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    http_reply_head(out, status, content_type, body_len, extra, extra ? strlen(extra) : 0, close);
    if (body != NULL) {
        evbuffer_add_buffer(out, body);
    }
    if (close) {
        enter(c, STATUS_CONN_CLOSING);
        bufferevent_disable(c->bev, EV_READ);
    }
}

/* reply_json answers {"status": word} (and "reason" when not NULL). */
static void reply_json(struct status_conn *c, int status, const char *word, const char *reason,
                       const char *extra, bool head_only, bool close)
{
    char buf[256];
    struct cg_json_line l;
    cg_json_line_begin(&l, buf, sizeof(buf));
    cg_json_line_str(&l, "status", word);
    if (reason != NULL) {
        cg_json_line_str(&l, "reason", reason);
    }
    size_t len = cg_json_line_end(&l);
    buf[len++] = '\n';
    struct evbuffer *body = evbuffer_new();
    evbuffer_add(body, buf, len);
    reply(c, status, "application/json", head_only ? NULL : body, len, extra, close);
    evbuffer_free(body);
}

/* serve answers one parsed request. */
static void serve(struct status_conn *c, const struct h1_request *h)
{
    struct runtime *rt = c->s->rt;
    bool close = (h->flags & H1_F_CONN_CLOSE) != 0;
    bool head_only = cg_str_eq(h->method, CG_STR_LIT("HEAD"));
    struct cg_str path = h->path;
    const char *q = memchr(path.p, '?', path.len);
    if (q != NULL) {
        path.len = (size_t)(q - path.p);
    }
    bool known = cg_str_eq(path, CG_STR_LIT("/healthz")) || cg_str_eq(path, CG_STR_LIT("/readyz")) ||
                 cg_str_eq(path, CG_STR_LIT("/metrics"));
    if (!known) {
        reply_json(c, 404, "not_found", "the status port serves /healthz, /readyz and /metrics",
                   NULL, head_only, close);
        return;
    }
    if (!head_only && !cg_str_eq(h->method, CG_STR_LIT("GET"))) {
        reply_json(c, 405, "method_not_allowed", "the status port is read-only",
                   "Allow: GET, HEAD\r\n", false, close);
        return;
    }
    if (cg_str_eq(path, CG_STR_LIT("/healthz"))) {
        reply_json(c, 200, "ok", NULL, NULL, head_only, close);
    } else if (cg_str_eq(path, CG_STR_LIT("/readyz"))) {
        const char *why = NULL;
        bool ready = health_ready(rt, &why);
        reply_json(c, ready ? 200 : 503, ready ? "ready" : "not_ready", why, NULL, head_only,
                   close);
    } else {
        struct evbuffer *body = evbuffer_new();
        metrics_scrape_write(rt, body);
        reply(c, 200, METRICS_TEXT_CONTENT_TYPE, head_only ? NULL : body,
              evbuffer_get_length(body), NULL, close);
        evbuffer_free(body);
    }
}

/* fail answers a request that cannot be served and closes. */
static void fail(struct status_conn *c, int status, const char *reason)
{
    reply_json(c, status, "error", reason, NULL, false, true);
}

/* process answers every complete request waiting in the input, one at a time. */
static void process(struct status_conn *c)
{
    const struct config_limits *lim = &c->s->rt->cfg->limits;
    struct h1_limits limits = {
        .max_request_line = lim->max_request_line,
        .max_head = lim->max_header_bytes,
        .max_headers = MAX_HEADERS,
    };
    struct evbuffer *in = bufferevent_get_input(c->bev);
    while (c->state != STATUS_CONN_CLOSING) {
        size_t len = evbuffer_get_length(in);
        if (len == 0) {
            return;
        }
        if (c->state == STATUS_CONN_IDLE) {
            enter(c, STATUS_CONN_HEAD);
        }
        struct h1_header headers[MAX_HEADERS];
        struct h1_request h;
        const char *buf = (const char *)evbuffer_pullup(in, -1);
        enum h1_parse_result r = h1_parse_request(buf, len, &limits, headers, MAX_HEADERS, &h);
        if (r == H1_PARSE_INCOMPLETE) {
            return; /* the parser fails a head longer than max_header_bytes */
        }
        if (r == H1_PARSE_ERROR) {
            fail(c, h.error_status, h.error_reason ? h.error_reason : "malformed request");
            return;
        }
        if (h.body != H1_BODY_NONE && !(h.body == H1_BODY_LENGTH && h.content_length == 0)) {
            fail(c, 400, "the status port takes no request bodies");
            return;
        }
        if (h.authority.len > 0 || h.path.len == 0 || h.path.p[0] != '/') {
            fail(c, 400, "origin-form request targets only");
            return;
        }
        serve(c, &h);
        evbuffer_drain(in, h.head_len);
        if (c->state != STATUS_CONN_CLOSING) {
            enter(c, STATUS_CONN_IDLE);
        }
    }
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct status_conn *c = arg;
    if (c->state == STATUS_CONN_CLOSING) {
        evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
        return;
    }
    process(c);
}

static void on_write(struct bufferevent *bev, void *arg)
{
    struct status_conn *c = arg;
    if (c->state == STATUS_CONN_CLOSING) {
        conn_free(c); /* everything went out */
    }
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    conn_free(arg); /* EOF or error */
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct status_conn *c = arg;
    if (c->state == STATUS_CONN_HEAD) {
        fail(c, 408, "the request did not arrive in time");
        return;
    }
    conn_free(c); /* idle, or a peer that never took our last bytes */
}

static void on_accept(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *sa,
                      int sa_len, void *arg)
{
    struct status_server *s = arg;
    if (s->num_conns >= STATUS_MAX_CONNS) {
        CG_LOG_WARN("status: %d connections open, refusing another", STATUS_MAX_CONNS);
        close(fd);
        return;
    }
    struct bufferevent *bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL) {
        close(fd);
        return;
    }
    struct status_conn *c = cg_xcalloc(1, sizeof(*c));
    c->s = s;
    c->bev = bev;
    c->ev_timer = evtimer_new(s->base, on_timer, c);
    c->next = s->conns;
    if (s->conns != NULL) {
        s->conns->prev = c;
    }
    s->conns = c;
    s->num_conns++;
    /* Reading stops at a head the parser would refuse anyway: memory stays bounded. */
    bufferevent_setwatermark(bev, EV_READ, 0, s->rt->cfg->limits.max_header_bytes + 1);
    bufferevent_setcb(bev, on_read, on_write, on_event, c);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    enter(c, STATUS_CONN_IDLE);
}

static void on_accept_error(struct evconnlistener *evl, void *arg)
{
    CG_LOG_WARN("status: accept failed: %s", strerror(errno));
}

int status_server_new(struct runtime *rt, struct event_base *base, int fd,
                      struct status_server **out, struct cg_errbuf *err)
{
    struct status_server *s = cg_xcalloc(1, sizeof(*s));
    s->rt = rt;
    s->base = base;
    s->evl = evconnlistener_new(base, on_accept, s, LEV_OPT_CLOSE_ON_FREE, -1, fd);
    if (s->evl == NULL) {
        close(fd);
        free(s);
        return cg_errf(err, CG_ERR_IO, "status listen %s: cannot watch the socket",
                       rt->cfg->status.address.text);
    }
    evconnlistener_set_error_cb(s->evl, on_accept_error);
    CG_LOG_INFO("status port on %s (/healthz, /readyz, /metrics; plain HTTP, read-only)",
                rt->cfg->status.address.text);
    *out = s;
    return CG_OK;
}

void status_server_free(struct status_server *s)
{
    if (s == NULL) {
        return;
    }
    evconnlistener_free(s->evl);
    while (s->conns != NULL) {
        conn_free(s->conns);
    }
    free(s);
}
