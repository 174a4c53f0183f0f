#include "proxy/http2/h2_server.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bug.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "proxy/core/authz.h"
#include "proxy/core/conn.h"
#include "proxy/core/request_log.h"
#include "proxy/core/runtime.h"
#include "proxy/core/worker.h"
#include "proxy/http1/h1_body.h"
#include "proxy/http2/grpc.h"
#include "proxy/http2/h2_stream.h"
#include "proxy/http2/h2_trailers.h"

#define MAX_METHOD 32
#define MAX_AUTHORITY 256
/* Outbound SETTINGS/PING ACKs queued while the client does not read: beyond this the
 * connection is a flood (nghttp2 answers GOAWAY ENHANCE_YOUR_CALM). */
#define MAX_OUTBOUND_ACK 1000
/* SETTINGS entries in one frame. */
#define MAX_SETTINGS 32
/* Bytes produced by nghttp2 per TLS write call (several records). */
#define SEND_BATCH (64 * 1024)

/* Upstream work still being cancelled for streams already closed (shared with the
 * backends holding it, freed by the last reference). */
struct h2_zombies {
    unsigned num;
    unsigned refs;
};

/* struct h2_worker is what HTTP/2 keeps per worker (h2_worker_module): closed streams
 * for reuse. */
struct h2_worker {
    struct h2_stream *spares; /* linked by next */
    size_t num_spares;        /* at most WORKER_MAX_SPARES */
};

struct h2_server {
    struct client_conn *c;
    const struct h2_backends *backends; /* by upstream protocol (proxy/protocols.c) */
    struct h2_worker *hw; /* this worker's HTTP/2 state */
    struct h2_zombies *zombies;
    const struct config *cfg;
    nghttp2_session *ng;
    struct evbuffer *out;      /* frames on their way to tls_conn_write */
    struct event *ev_flush;    /* runs flush() from the loop */
    struct h2_stream *streams; /* live streams (user data of nghttp2 streams) */
    unsigned num_streams;
    struct h2_stream *pending; /* authorized, to start after the current read */
    struct h2_stream **pending_tail;
    bool draining;        /* GOAWAY submitted */
    bool paused;          /* we paused reading for output back-pressure */
    bool failed;          /* nghttp2 reported a fatal error */
    bool got_frame;       /* a first frame arrived (else request_header runs) */
    bool flush_scheduled; /* ev_flush is active */

    /* Frames without progress (see spend). */
    uint32_t idle_budget;    /* tokens left, at most limits.h2_max_no_progress_frames */
    uint64_t idle_budget_us; /* monotonic time the budget last earned a second's token */
};

static void flush(struct h2_server *h);

static void schedule(struct h2_server *h)
{
    if (!h->flush_scheduled) {
        h->flush_scheduled = true;
        event_active(h->ev_flush, EV_TIMEOUT, 0);
    }
}

const char *h2_stream_log_id(const struct h2_stream *s, char *buf, size_t cap)
{
    snprintf(buf, cap, "w%uc%" PRIu64 "s%d", s->c->w->id, s->c->id, s->id);
    return buf;
}

size_t h2_response_buffer_limit(const struct config_limits *lim)
{
    return lim->buffer_high_water / 4 > 65536 ? lim->buffer_high_water / 4 : 65536;
}

size_t h2_stream_buffer_limit(const struct h2_stream *s)
{
    return h2_response_buffer_limit(&s->cfg->limits);
}

struct h2_zombies *h2_stream_zombie_begin(struct h2_stream *s)
{
    struct h2_zombies *z = s->h->zombies;
    z->num++;
    z->refs++;
    return z;
}

void h2_zombie_end(struct h2_zombies *z)
{
    z->num--;
    if (--z->refs == 0) {
        free(z);
    }
}

/* ---- frames without progress ----------------------------------------------------- */

/* A client can make certgate parse and answer frames that move no request forward:
 * empty DATA without END_STREAM, PRIORITY (ignored: certgate sends
 * SETTINGS_NO_RFC7540_PRIORITIES), PING and SETTINGS (each answered with an ACK; nghttp2
 * bounds only the ACKs a client does not read), frames of unknown types, and frames
 * nghttp2 refuses as stream errors. Each spends one token of a per-connection budget of
 * limits.h2_max_no_progress_frames; each frame that does make progress (a request's
 * HEADERS, DATA with payload or END_STREAM, and every DATA or HEADERS frame certgate
 * sends, which a reading client answers with WINDOW_UPDATE or a PING) earns one back,
 * up to the limit, and so does every second (keep-alive PINGs never run out). An empty
 * budget ends the connection with GOAWAY ENHANCE_YOUR_CALM: a flood costs the attacker
 * the same work as a legitimate client, and at most the budget in one burst. */
static void earn(struct h2_server *h)
{
    if (h->idle_budget < h->cfg->limits.h2_max_no_progress_frames) {
        h->idle_budget++;
    }
}

/* spend takes one token for a frame without progress. Returns 0, or
 * NGHTTP2_ERR_CALLBACK_FAILURE (nghttp2 stops parsing) after queueing the GOAWAY. */
static int spend(struct h2_server *h, const char *what)
{
    uint32_t max = h->cfg->limits.h2_max_no_progress_frames;
    if (h->idle_budget < max) {
        uint64_t now = conn_now_us(h->c);
        uint64_t secs = (now - h->idle_budget_us) / 1000000;
        if (secs > 0) {
            h->idle_budget = secs >= max - h->idle_budget ? max : h->idle_budget + (uint32_t)secs;
            h->idle_budget_us += secs * 1000000;
        }
    }
    if (h->idle_budget > 0) {
        h->idle_budget--;
        return 0;
    }
    CG_LOG_INFO("w%uc%" PRIu64 ": h2: more than %" PRIu32
                " frames without progress (last: %s): GOAWAY ENHANCE_YOUR_CALM",
                h->c->w->id, h->c->id, max, what);
    nghttp2_session_terminate_session(h->ng, NGHTTP2_ENHANCE_YOUR_CALM);
    h->failed = true;
    return NGHTTP2_ERR_CALLBACK_FAILURE;
}

static const char *frame_type_str(uint8_t type)
{
    switch (type) {
    case NGHTTP2_DATA:
        return "empty DATA";
    case NGHTTP2_PRIORITY:
        return "PRIORITY";
    case NGHTTP2_SETTINGS:
        return "SETTINGS";
    case NGHTTP2_PING:
        return "PING";
    default:
        return "unknown type";
    }
}

/* ---- streams ------------------------------------------------------------------- */

/* Spare streams. A closed stream's allocation, its two evbuffers and the storage of its
 * field lists serve the next stream of any connection of the same worker, instead of
 * about ten malloc/free pairs per request. Bounded in number
 * (WORKER_MAX_SPARE_H2_STREAMS) and in what each keeps (h2_fields_recycle). */
static void stream_destroy(struct h2_stream *s)
{
    h2_fields_cleanup(&s->req);
    h2_fields_cleanup(&s->req_trailers);
    h2_fields_cleanup(&s->fwd);
    h2_fields_cleanup(&s->resp_trailers);
    evbuffer_free(s->req_body);
    evbuffer_free(s->resp_body);
    free(s);
}

static void *worker_init(struct worker *w)
{
    return cg_xcalloc(1, sizeof(struct h2_worker));
}

/* worker_trim frees the spare streams. */
static void worker_trim(struct worker *w, void *state)
{
    struct h2_worker *hw = state;
    while (hw->spares != NULL) {
        struct h2_stream *s = hw->spares;
        hw->spares = s->next;
        stream_destroy(s);
    }
    hw->num_spares = 0;
}

static void worker_cleanup(struct worker *w, void *state)
{
    worker_trim(w, state);
    free(state);
}

const struct worker_module h2_worker_module = {
    .name = "h2",
    .init = worker_init,
    .trim = worker_trim,
    .cleanup = worker_cleanup,
};

/* spare_put keeps |s| (already emptied) for reuse, or frees it. */
static void spare_put(struct h2_worker *hw, struct h2_stream *s)
{
    if (hw->num_spares >= WORKER_MAX_SPARES) {
        stream_destroy(s);
        return;
    }
    s->next = hw->spares;
    hw->spares = s;
    hw->num_spares++;
}

static struct h2_stream *stream_new(struct h2_server *h, int32_t id)
{
    struct h2_worker *hw = h->hw;
    struct h2_stream *s = hw->spares;
    if (s != NULL) {
        hw->spares = s->next;
        hw->num_spares--;
        /* Back to the all-zero state, keeping the reusable parts (empty). */
        struct evbuffer *req_body = s->req_body, *resp_body = s->resp_body;
        struct h2_fields req = s->req, req_trailers = s->req_trailers, fwd = s->fwd,
                         resp_trailers = s->resp_trailers;
        memset(s, 0, sizeof(*s));
        s->req_body = req_body;
        s->resp_body = resp_body;
        s->req = req;
        s->req_trailers = req_trailers;
        s->fwd = fwd;
        s->resp_trailers = resp_trailers;
    } else {
        s = cg_xcalloc(1, sizeof(*s));
        s->req_body = evbuffer_new();
        s->resp_body = evbuffer_new();
        CG_BUG_ON(s->req_body == NULL || s->resp_body == NULL);
    }
    s->h = h;
    s->c = h->c;
    s->cfg = h->cfg;
    s->id = id;
    s->content_length = -1;
    s->grpc_status = -1;
    s->start_us = conn_now_us(h->c);
    s->next = h->streams;
    if (h->streams != NULL) {
        h->streams->prev = s;
    }
    h->streams = s;
    if (h->num_streams++ == 0) {
        /* The idle timer runs only while there is no stream. */
        conn_set_timer(h->c, 0);
    }
    return s;
}

static void log_stream(struct h2_stream *s)
{
    if (s->logged) {
        return;
    }
    s->logged = true;
    struct request_log_fields f = {
        .request_id = s->request_id,
        .stream_id = (uint32_t)s->id,
        .alpn = "h2",
        .method = s->method ? s->method : "",
        .authority = s->authority ? s->authority : "",
        .path = s->path ? s->path : "",
        .status = s->status,
        .reason = s->reason,
        .az = s->decided ? &s->az : NULL,
        .upstream = s->upstream,
        .bytes_in = s->bytes_in,
        .bytes_out = s->bytes_out,
        .duration_us = conn_now_us(s->c) - s->start_us,
        .grpc_status = s->is_grpc ? s->grpc_status : -1,
    };
    request_log_write(s->c, &f);
}

static void cancel_backend(struct h2_stream *s)
{
    if (s->ops != NULL) {
        const struct h2_backend_ops *ops = s->ops;
        ops->cancel(s);
        s->ops = NULL;
        s->backend = NULL;
    }
}

static void unqueue(struct h2_stream *s)
{
    if (!s->queued) {
        return;
    }
    struct h2_stream **pp = &s->h->pending;
    while (*pp != s) {
        pp = &(*pp)->next_pending;
    }
    *pp = s->next_pending;
    if (*pp == NULL) {
        s->h->pending_tail = pp;
    }
    s->queued = false;
}

static void stream_free(struct h2_stream *s)
{
    struct h2_server *h = s->h;
    cancel_backend(s);
    unqueue(s);
    log_stream(s);
    if (s->prev != NULL) {
        s->prev->next = s->next;
    } else {
        h->streams = s->next;
    }
    if (s->next != NULL) {
        s->next->prev = s->prev;
    }
    h->num_streams--;
    if (s->ev_deadline != NULL) {
        event_free(s->ev_deadline);
    }
    if (s->ev_body_idle != NULL) {
        event_free(s->ev_body_idle);
    }
    h2_fields_recycle(&s->req);
    h2_fields_recycle(&s->req_trailers);
    h2_fields_recycle(&s->fwd);
    h2_fields_recycle(&s->resp_trailers);
    evbuffer_drain(s->req_body, evbuffer_get_length(s->req_body));
    evbuffer_drain(s->resp_body, evbuffer_get_length(s->resp_body));
    spare_put(h->hw, s);
}

/* ---- answers ------------------------------------------------------------------- */

static ssize_t read_body(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length,
                         uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    struct h2_stream *s = src->ptr;
    int n = evbuffer_remove(s->resp_body, buf, length);
    if (n < 0) {
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    s->bytes_out += (size_t)n;
    if (n > 0 && s->ops != NULL) {
        s->ops->on_response_consumed(s, (size_t)n);
    }
    if (evbuffer_get_length(s->resp_body) == 0 && s->resp_end) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        if (s->resp_trailers.num > 0) {
            if (nghttp2_submit_trailer(ng, id, s->resp_trailers.nv, s->resp_trailers.num) == 0) {
                *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
            }
        }
        return n;
    }
    if (n == 0) {
        s->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    return n;
}

/* format_status writes a status code (RFC 9110 §15: three digits) and returns its
 * length. */
static size_t format_status(char *out, size_t cap, int status)
{
    if (status < 100 || status > 999) {
        return (size_t)snprintf(out, cap, "%d", status);
    }
    char *end = cg_put_u64(out, (uint64_t)status);
    *end = '\0';
    return (size_t)(end - out);
}

static void submit(struct h2_stream *s, int status, const nghttp2_nv *fields, size_t num,
                   bool end_stream)
{
    nghttp2_nv stack[64];
    nghttp2_nv *nva = num + 1 <= 64 ? stack : cg_xcalloc(num + 1, sizeof(*nva));
    char st[16];
    size_t st_len = format_status(st, sizeof(st), status);
    nva[0] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)st, 7, st_len, NGHTTP2_NV_FLAG_NONE};
    if (num > 0) {
        memcpy(nva + 1, fields, num * sizeof(*nva));
    }
    nghttp2_data_provider prd = {.source.ptr = s, .read_callback = read_body};
    int rv = nghttp2_submit_response(s->h->ng, s->id, nva, num + 1, end_stream ? NULL : &prd);
    if (nva != stack) {
        free(nva);
    }
    s->status = status;
    s->resp_submitted = true;
    if (rv != 0) {
        char id[64];
        CG_LOG_DEBUG("%s: submit_response: %s", h2_stream_log_id(s, id, sizeof(id)),
                     nghttp2_strerror(rv));
        nghttp2_submit_rst_stream(s->h->ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
    }
    schedule(s->h);
}

static void add_grpc_status(struct h2_fields *f, int grpc_status, const char *reason)
{
    char gs[16];
    int n = snprintf(gs, sizeof(gs), "%d", grpc_status);
    h2_fields_add(f, "grpc-status", 11, gs, (size_t)n, false);
    const char *msg = grpc_message_for(reason);
    h2_fields_add(f, "grpc-message", 12, msg, strlen(msg), false);
}

/* answer gives certgate's own final answer on a stream whose head was not sent. */
static void answer(struct h2_stream *s, int status, int grpc_status, const char *reason)
{
    s->reason = reason;
    s->state = H2S_DONE;
    struct h2_fields f = {0};
    if (s->is_grpc) {
        /* Trailers-only (gRPC over HTTP/2 spec): one HEADERS with END_STREAM. */
        s->grpc_status = grpc_status;
        h2_fields_add(&f, "content-type", 12, "application/grpc", 16, false);
        add_grpc_status(&f, grpc_status, reason);
        submit(s, 200, f.nv, f.num, true);
        s->status = status; /* the log shows what was meant */
    } else {
        char body[H1_ERROR_BODY_SIZE];
        size_t n = h1_error_body(body, status, reason, s->request_id);
        char len[16];
        int ln = snprintf(len, sizeof(len), "%zu", n);
        h2_fields_add(&f, "content-type", 12, "application/json", 16, false);
        h2_fields_add(&f, "content-length", 14, len, (size_t)ln, false);
        h2_fields_add(&f, "cache-control", 13, "no-store", 8, false);
        bool head = s->method != NULL && strcmp(s->method, "HEAD") == 0;
        if (!head) {
            evbuffer_drain(s->resp_body, evbuffer_get_length(s->resp_body));
            evbuffer_add(s->resp_body, body, n);
            s->bytes_out = 0;
        }
        s->resp_end = true;
        submit(s, status, f.nv, f.num, head);
    }
    h2_fields_cleanup(&f);
}

void h2_stream_fail(struct h2_stream *s, int status, int grpc_status, const char *reason)
{
    s->ops = NULL;
    s->backend = NULL;
    if (s->state == H2S_DONE) {
        return;
    }
    char id[64];
    CG_LOG_DEBUG("%s: fail %d/%d %s", h2_stream_log_id(s, id, sizeof(id)), status, grpc_status,
                 reason);
    if (!s->resp_submitted) {
        answer(s, status, grpc_status, reason);
        return;
    }
    s->reason = reason;
    s->state = H2S_DONE;
    if (s->is_grpc) {
        s->grpc_status = grpc_status;
        h2_fields_clear(&s->resp_trailers);
        add_grpc_status(&s->resp_trailers, grpc_status, reason);
        s->resp_end = true;
        h2_stream_response_data(s);
        return;
    }
    nghttp2_submit_rst_stream(s->h->ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
    schedule(s->h);
}

/* fail_here ends a stream for a reason found by the server itself. */
static void fail_here(struct h2_stream *s, int status, int grpc_status, const char *reason)
{
    cancel_backend(s);
    h2_stream_fail(s, status, grpc_status, reason);
}

/* parse_grpc_status reads a grpc-status value, which need not be NUL-terminated. */
static int parse_grpc_status(const uint8_t *v, size_t len)
{
    int n = 0;
    for (size_t i = 0; i < len && i < 9 && v[i] >= '0' && v[i] <= '9'; i++) {
        n = n * 10 + (v[i] - '0');
    }
    return n;
}

void h2_stream_response_head_nv(struct h2_stream *s, int status, const nghttp2_nv *nva, size_t num,
                                bool end_stream)
{
    if (end_stream) {
        s->ops = NULL;
        s->backend = NULL;
        s->state = H2S_DONE;
        s->resp_end = true;
        if (s->is_grpc) {
            for (size_t i = 0; i < num; i++) {
                struct cg_str name = {(const char *)nva[i].name, nva[i].namelen};
                if (cg_str_case_eq(name, CG_STR_LIT("grpc-status"))) {
                    s->grpc_status = parse_grpc_status(nva[i].value, nva[i].valuelen);
                    break;
                }
            }
        }
    }
    submit(s, status, nva, num, end_stream);
}

void h2_stream_response_head(struct h2_stream *s, int status, struct h2_fields *fields,
                             bool end_stream)
{
    h2_stream_response_head_nv(s, status, fields ? fields->nv : NULL, fields ? fields->num : 0,
                               end_stream);
}

void h2_stream_response_data(struct h2_stream *s)
{
    if (s->deferred) {
        s->deferred = false;
        nghttp2_session_resume_data(s->h->ng, s->id);
    }
    schedule(s->h);
}

void h2_stream_response_end(struct h2_stream *s, struct h2_fields *trailers)
{
    s->ops = NULL;
    s->backend = NULL;
    s->state = H2S_DONE;
    s->resp_end = true;
    if (trailers != NULL && trailers->num > 0) {
        for (size_t i = 0; i < trailers->num; i++) {
            h2_fields_add(&s->resp_trailers, (const char *)trailers->nv[i].name,
                          trailers->nv[i].namelen, (const char *)trailers->nv[i].value,
                          trailers->nv[i].valuelen, true);
        }
        const nghttp2_nv *gs = h2_fields_find(&s->resp_trailers, "grpc-status");
        if (gs != NULL) {
            s->grpc_status = parse_grpc_status(gs->value, gs->valuelen);
        }
    }
    h2_stream_response_data(s);
}

void h2_stream_request_consumed(struct h2_stream *s, size_t n)
{
    if (n == 0) {
        return;
    }
    nghttp2_session_consume_stream(s->h->ng, s->id, n);
    schedule(s->h);
}

/* ---- requests ------------------------------------------------------------------ */

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct h2_stream *s = arg;
    if (s->state == H2S_DONE) {
        return;
    }
    fail_here(s, 504, GRPC_DEADLINE_EXCEEDED, "deadline_exceeded");
}

static void on_body_idle(evutil_socket_t fd, short what, void *arg)
{
    struct h2_stream *s = arg;
    if (s->state == H2S_DONE || s->req_end) {
        return;
    }
    fail_here(s, 408, GRPC_CANCELLED, "client_body_timeout");
}

/* body_idle_touch (re)arms the body-idle timer of a stream whose request body is still
 * coming: a client that stalls mid-body must not hold a backend stream forever. gRPC
 * streams are exempt: a client may stay silent on a bidi stream for hours (an etcd
 * watch); their grpc-timeout and the connection's own limits bound them. */
static void body_idle_touch(struct h2_stream *s)
{
    if (s->is_grpc) {
        return;
    }
    if (s->req_end || s->state == H2S_DONE) {
        if (s->ev_body_idle != NULL) {
            evtimer_del(s->ev_body_idle);
        }
        return;
    }
    if (s->ev_body_idle == NULL) {
        s->ev_body_idle = evtimer_new(s->c->w->base, on_body_idle, s);
    }
    uint64_t ms = s->cfg->timeouts.client_body_idle;
    struct timeval tv = cg_timeval_ms(ms);
    evtimer_add(s->ev_body_idle, &tv);
}

_Static_assert(sizeof(((struct h2_stream *)0)->request_id) >= WORKER_REQUEST_ID_SIZE,
               "h2_stream.request_id holds a worker_request_id");

static void make_request_id(struct h2_stream *s)
{
    worker_request_id(s->c->w, s->request_id);
}

static bool is_owned_or_hop(struct h2_stream *s, const nghttp2_nv *nv)
{
    struct cg_str name = {(const char *)nv->name, nv->namelen};
    /* nghttp2 already refuses connection-specific fields in requests (RFC 9113 §8.2.2);
     * Host is carried as :authority, Content-Length is re-derived by each backend. */
    return cg_str_eq(name, CG_STR_LIT("host")) || cg_str_eq(name, CG_STR_LIT("te")) ||
           authz_header_dropped(s->c, name);
}

/* trailer_is_owned applies the head's stripping rule to request trailers. */
static bool trailer_is_owned(void *arg, const nghttp2_nv *nv)
{
    return is_owned_or_hop(arg, nv);
}

/* build_forward lists what goes upstream. It refers to bytes that live as long as the
 * stream (its request fields and pseudo-headers, static strings) or the connection
 * (peer address, Client-Cert value) and copies the identity headers, whose values sit
 * in scratch the next decision reuses and whose names belong to the policy snapshot.
 * Their names keep the configured spelling, as over HTTP/1.1: an HTTP/2 upstream gets
 * them lower-cased by nghttp2_submit_request. */
static void build_forward(struct h2_stream *s)
{
    const unsigned ref = H2F_REF_NAME | H2F_REF_VALUE;
    struct h2_fields *f = &s->fwd;
    const struct authz_result *az = &s->az;
    h2_fields_add_ex(f, ":method", 7, s->method, strlen(s->method), ref);
    h2_fields_add_ex(f, ":scheme", 7, "https", 5, ref);
    if (s->authority != NULL) {
        h2_fields_add_ex(f, ":authority", 10, s->authority, strlen(s->authority), ref);
    }
    h2_fields_add_ex(f, ":path", 5, s->path, strlen(s->path), ref);
    for (size_t i = 0; i < s->req.num; i++) {
        const nghttp2_nv *nv = &s->req.nv[i];
        if (is_owned_or_hop(s, nv)) {
            continue;
        }
        h2_fields_add_ex(f, (const char *)nv->name, nv->namelen, (const char *)nv->value,
                         nv->valuelen, ref);
    }
    if (s->is_grpc) {
        /* gRPC servers require it; it was dropped above as a hop-by-hop field. */
        h2_fields_add_ex(f, "te", 2, "trailers", 8, ref);
    }
    const char *client_cert = s->c->authz.client_cert;
    for (size_t i = 0; i < az->num_headers; i++) {
        const struct policy_header *ph = &az->headers[i];
        /* The Client-Cert value is the connection's (authz_conn), not scratch. */
        unsigned flags = client_cert != NULL && ph->value.p == client_cert ? H2F_REF_VALUE : 0;
        h2_fields_add_ex(f, ph->name.p, ph->name.len, ph->value.p, ph->value.len, flags);
    }
    h2_fields_add_ex(f, "x-forwarded-for", 15, s->c->peer_ip, strlen(s->c->peer_ip), ref);
    h2_fields_add_ex(f, "x-forwarded-proto", 17, "https", 5, ref);
    if (s->authority != NULL) {
        h2_fields_add_ex(f, "x-forwarded-host", 16, s->authority, strlen(s->authority), ref);
    }
}

static void process_request(struct h2_stream *s)
{
    struct h2_server *h = s->h;
    make_request_id(s);
    if (s->too_large) {
        answer(s, 431, GRPC_RESOURCE_EXHAUSTED, "header_list_too_large");
        return;
    }
    if (s->bad || s->method == NULL || s->path == NULL || strlen(s->method) > MAX_METHOD ||
        (s->authority != NULL && strlen(s->authority) > MAX_AUTHORITY)) {
        answer(s, 400, GRPC_INTERNAL, "malformed_request");
        return;
    }
    if (strcmp(s->method, "CONNECT") == 0) {
        answer(s, 405, GRPC_UNIMPLEMENTED, "method_not_allowed");
        return;
    }
    if (s->path[0] != '/' && strcmp(s->path, "*") != 0) {
        answer(s, 400, GRPC_INTERNAL, "bad_path");
        return;
    }
    if (h->cfg->limits.max_body > 0 && s->content_length > 0 &&
        (uint64_t)s->content_length > h->cfg->limits.max_body) {
        answer(s, 413, GRPC_RESOURCE_EXHAUSTED, "body_too_large");
        return;
    }
    if (s->authority == NULL) {
        /* A host field stands for :authority and obeys the same rules: ignoring one
         * that is too long would skip the Host/SNI check and forward no Host at all. */
        const nghttp2_nv *host = h2_fields_find(&s->req, "host");
        if (host != NULL &&
            (host->valuelen > MAX_AUTHORITY || memchr(host->value, '\0', host->valuelen) != NULL)) {
            answer(s, 400, GRPC_INTERNAL, "malformed_request");
            return;
        }
        if (host != NULL) {
            s->authority = (const char *)host->value; /* NUL-terminated copy in s->req */
        }
    }
    authz_decide(s->c, cg_str_from_cstr(s->method), cg_str_from_cstr(s->authority),
                 cg_str_from_cstr(s->path), &s->az);
    s->decided = true;
    if (s->az.path.p != NULL) {
        /* From now on the normalized target is what is forwarded and logged; the
         * decision's slices point into per-connection scratch the next stream reuses. */
        size_t len = s->az.path.len + (s->az.has_query ? 1 + s->az.query.len : 0);
        char *target = h2_fields_store(&s->req, NULL, len);
        memcpy(target, s->az.path.p, s->az.path.len);
        if (s->az.has_query) {
            target[s->az.path.len] = '?';
            if (s->az.query.len > 0) {
                memcpy(target + s->az.path.len + 1, s->az.query.p, s->az.query.len);
            }
        }
        s->path = target;
        s->az.path = (struct cg_str){NULL, 0};
        s->az.query = (struct cg_str){NULL, 0};
    }
    if (!s->az.allow) {
        answer(s, s->az.status, s->az.grpc_status, s->az.reason);
        return;
    }
    const struct config_upstream *up = s->c->lrt->cfg->upstream;
    if (s->is_grpc && up->protocol == CONFIG_UPSTREAM_HTTP11) {
        answer(s, 502, GRPC_UNIMPLEMENTED, "grpc_needs_h2_upstream");
        return;
    }
    build_forward(s);
    /* Identity header values point into the same scratch: copied by build_forward. */
    s->az.num_headers = 0;
    if (s->grpc_timeout_ms > 0) {
        s->ev_deadline = evtimer_new(s->c->w->base, on_deadline, s);
        struct timeval tv = cg_timeval_ms(s->grpc_timeout_ms);
        evtimer_add(s->ev_deadline, &tv);
    }
    s->state = H2S_PENDING;
    body_idle_touch(s);
    s->queued = true;
    s->next_pending = NULL;
    *h->pending_tail = s;
    h->pending_tail = &s->next_pending;
}

/* start_pending starts the backends of the streams authorized during the last read;
 * a stream the client reset in the same read never costs an upstream connection. */
static void start_pending(struct h2_server *h)
{
    while (h->pending != NULL) {
        struct h2_stream *s = h->pending;
        h->pending = s->next_pending;
        if (h->pending == NULL) {
            h->pending_tail = &h->pending;
        }
        s->queued = false;
        if (s->state != H2S_PENDING) {
            continue;
        }
        s->state = H2S_FORWARDING;
        s->ops = h->backends->by_upstream[s->c->lrt->cfg->upstream->protocol];
        s->ops->start(s);
    }
}

/* ---- nghttp2 callbacks --------------------------------------------------------- */

/* on_begin_frame sees every frame header, also of the frames nghttp2 ignores without
 * another callback (PRIORITY, unknown types). */
static int on_begin_frame(nghttp2_session *ng, const nghttp2_frame_hd *hd, void *ud)
{
    struct h2_server *h = ud;
    bool idle;
    switch (hd->type) {
    case NGHTTP2_DATA:
        /* Padding only is checked in on_frame_recv. */
        idle = hd->length == 0 && !(hd->flags & NGHTTP2_FLAG_END_STREAM);
        break;
    case NGHTTP2_PRIORITY:
    case NGHTTP2_PING:
        idle = true;
        break;
    case NGHTTP2_SETTINGS:
        idle = !(hd->flags & NGHTTP2_FLAG_ACK);
        break;
    case NGHTTP2_HEADERS:
    case NGHTTP2_RST_STREAM: /* bounded by limits.h2_reset_burst / _rate */
    case NGHTTP2_PUSH_PROMISE:
    case NGHTTP2_GOAWAY:
    case NGHTTP2_WINDOW_UPDATE: /* flow control; an increment of 0 is a PROTOCOL_ERROR */
    case NGHTTP2_CONTINUATION:  /* bounded by limits.h2_max_continuations */
        idle = false;
        break;
    default:
        idle = true; /* extension frames, ignored */
        break;
    }
    return idle ? spend(h, frame_type_str(hd->type)) : 0;
}

static int on_invalid_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, int lib_error,
                                 void *ud)
{
    /* nghttp2 resets the stream (or ends the connection) itself. */
    return spend(ud, nghttp2_strerror(lib_error));
}

/* Extension frames: received so that on_begin_frame counts them, then ignored. */
static int on_extension_chunk(nghttp2_session *ng, const nghttp2_frame_hd *hd, const uint8_t *data,
                              size_t len, void *ud)
{
    return 0;
}

static int unpack_extension(nghttp2_session *ng, void **payload, const nghttp2_frame_hd *hd,
                            void *ud)
{
    return NGHTTP2_ERR_CANCEL;
}

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
    struct h2_server *h = ud;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
        return 0;
    }
    if (h->num_streams + h->zombies->num >= h->cfg->limits.h2_max_concurrent_streams) {
        /* Streams whose upstream work is still being cancelled count too. */
        nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                  NGHTTP2_REFUSED_STREAM);
        return 0;
    }
    struct h2_stream *s = stream_new(h, frame->hd.stream_id);
    nghttp2_session_set_stream_user_data(ng, frame->hd.stream_id, s);
    return 0;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    struct h2_server *h = ud;
    struct h2_stream *s = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
    if (s == NULL || frame->hd.type != NGHTTP2_HEADERS) {
        return 0;
    }
    s->header_bytes += namelen + valuelen + 32;
    if (s->header_bytes > h->cfg->limits.h2_max_header_list ||
        s->req.num + s->req_trailers.num >= h->cfg->limits.max_headers) {
        s->too_large = true;
        return 0;
    }
    if (frame->headers.cat == NGHTTP2_HCAT_HEADERS) {
        h2_fields_add(&s->req_trailers, (const char *)name, namelen, (const char *)value, valuelen,
                      false);
        return 0;
    }
    if (namelen > 0 && name[0] == ':') {
        const char **slot = NULL;
        if (namelen == 7 && memcmp(name, ":method", 7) == 0) {
            slot = &s->method;
        } else if (namelen == 7 && memcmp(name, ":scheme", 7) == 0) {
            slot = &s->scheme;
        } else if (namelen == 10 && memcmp(name, ":authority", 10) == 0) {
            slot = &s->authority;
        } else if (namelen == 5 && memcmp(name, ":path", 5) == 0) {
            slot = &s->path;
        } else {
            s->bad = true;
            return 0;
        }
        if (*slot != NULL || memchr(value, '\0', valuelen) != NULL) {
            s->bad = true;
            return 0;
        }
        *slot = h2_fields_store(&s->req, (const char *)value, valuelen);
        return 0;
    }
    if (namelen == 12 && memcmp(name, "content-type", 12) == 0 &&
        grpc_is_content_type((const char *)value, valuelen)) {
        s->is_grpc = true;
    } else if (namelen == 12 && memcmp(name, "grpc-timeout", 12) == 0) {
        if (!grpc_parse_timeout((const char *)value, valuelen, &s->grpc_timeout_ms)) {
            s->bad = true;
        }
    } else if (namelen == 14 && memcmp(name, "content-length", 14) == 0) {
        /* nghttp2 validated the syntax and checks DATA against it. */
        s->content_length = strtoll((const char *)value, NULL, 10);
    }
    h2_fields_add(&s->req, (const char *)name, namelen, (const char *)value, valuelen, false);
    return 0;
}

static void request_data_changed(struct h2_stream *s)
{
    body_idle_touch(s);
    if (s->state == H2S_FORWARDING && s->ops != NULL) {
        s->ops->on_request_data(s);
    }
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
    struct h2_server *h = ud;
    if (!h->got_frame) {
        /* Preface and SETTINGS arrived in time: from now on h2_idle governs. */
        h->got_frame = true;
        if (h->num_streams == 0) {
            conn_set_timer(h->c, h->cfg->timeouts.h2_idle);
        }
    }
    bool end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (frame->hd.type == NGHTTP2_DATA) {
        if (frame->hd.length > frame->data.padlen || end) {
            earn(h);
        } else if (frame->hd.length > 0) {
            /* Padding and nothing else (a length of 0 was counted in on_begin_frame). */
            int rv = spend(h, "padded empty DATA");
            if (rv != 0) {
                return rv;
            }
        }
    }
    struct h2_stream *s =
        frame->hd.stream_id ? nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id) : NULL;
    if (s == NULL) {
        return 0;
    }
    switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
        earn(h);
        if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
            s->req_end = end;
            process_request(s);
        } else if (frame->headers.cat == NGHTTP2_HCAT_HEADERS) {
            if (s->too_large && s->state != H2S_DONE) {
                fail_here(s, 431, GRPC_RESOURCE_EXHAUSTED, "trailers_too_large");
            }
            /* Before req_end: a backend forwards trailers only once the request ended,
             * so it never sees a field the filter drops. */
            size_t dropped = h2_trailers_filter(&s->req_trailers, trailer_is_owned, s);
            if (dropped > 0) {
                char id[64];
                CG_LOG_DEBUG("%s: %zu request trailer field(s) dropped",
                             h2_stream_log_id(s, id, sizeof(id)), dropped);
            }
            s->has_req_trailers = true;
            s->req_end = true;
            request_data_changed(s);
        }
        break;
    case NGHTTP2_DATA:
        if (end) {
            s->req_end = true;
            request_data_changed(s);
        }
        break;
    default:
        break;
    }
    return 0;
}

static int on_data_chunk_recv(nghttp2_session *ng, uint8_t flags, int32_t stream_id,
                              const uint8_t *data, size_t len, void *ud)
{
    /* The connection window reopens at once: a stream that waits on a slow database
     * must not stall its siblings. The stream window waits for the backend. */
    nghttp2_session_consume_connection(ng, len);
    struct h2_stream *s = nghttp2_session_get_stream_user_data(ng, stream_id);
    if (s == NULL || s->state == H2S_DONE) {
        /* Nobody will forward these bytes: give the stream window back too. */
        nghttp2_session_consume_stream(ng, stream_id, len);
        return 0;
    }
    evbuffer_add(s->req_body, data, len);
    s->bytes_in += len;
    uint64_t max_body = s->cfg->limits.max_body;
    if (max_body > 0 && s->bytes_in > max_body) {
        fail_here(s, 413, GRPC_RESOURCE_EXHAUSTED, "body_too_large");
        return 0;
    }
    request_data_changed(s);
    return 0;
}

static int on_frame_send(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
    if (frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) {
        earn(ud); /* a reading client answers these with WINDOW_UPDATE or PING */
    }
    if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
        !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        return 0;
    }
    struct h2_stream *s = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
    if (s != NULL && !s->req_end) {
        /* Complete response before the complete request (a denial, an early answer):
         * tell the client to stop sending (RFC 9113 §8.1). */
        nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_NO_ERROR);
    }
    return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t stream_id, uint32_t error_code, void *ud)
{
    struct h2_server *h = ud;
    struct h2_stream *s = nghttp2_session_get_stream_user_data(ng, stream_id);
    if (s == NULL) {
        return 0;
    }
    nghttp2_session_set_stream_user_data(ng, stream_id, NULL);
    if (s->state != H2S_DONE || !s->resp_end || evbuffer_get_length(s->resp_body) > 0) {
        if (s->reason == NULL) {
            s->reason = error_code == NGHTTP2_NO_ERROR ? "incomplete" : "client_reset";
        }
        if (!s->resp_submitted) {
            s->status = 499;
        }
    }
    stream_free(s);
    if (h->num_streams == 0) {
        /* The stream buffers of a burst are free now (the connection may stay). */
        worker_memory_released(h->c->w);
        if (!h->draining) {
            conn_set_timer(h->c, h->cfg->timeouts.h2_idle);
        }
    }
    return 0;
}

static int on_error(nghttp2_session *ng, int lib_error_code, const char *msg, size_t len, void *ud)
{
    struct h2_server *h = ud;
    CG_LOG_DEBUG("w%uc%" PRIu64 ": h2: %.*s", h->c->w->id, h->c->id, (int)len, msg);
    return 0;
}

/* ---- I/O ----------------------------------------------------------------------- */

static void flush(struct h2_server *h)
{
    struct client_conn *c = h->c;
    if (c->closing || h->ng == NULL) {
        return;
    }
    size_t hw = h->cfg->limits.buffer_high_water;
    for (;;) {
        if (tls_conn_output_pending(&c->tls) > hw) {
            /* Back-pressure: frames wait in nghttp2 until on_drain. */
            break;
        }
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(h->ng, &data);
        if (n < 0) {
            CG_LOG_DEBUG("w%uc%" PRIu64 ": h2 send: %s", c->w->id, c->id, nghttp2_strerror((int)n));
            conn_abort(c);
            return;
        }
        if (n > 0) {
            evbuffer_add(h->out, data, (size_t)n);
        }
        if (n == 0 || evbuffer_get_length(h->out) >= SEND_BATCH) {
            if (evbuffer_get_length(h->out) > 0 && tls_conn_write(&c->tls, h->out) != CG_OK) {
                conn_abort(c);
                return;
            }
            if (n == 0) {
                break;
            }
        }
    }
    if (tls_conn_output_pending(&c->tls) > hw) {
        if (!h->paused) {
            h->paused = true;
            tls_conn_pause_read(&c->tls);
        }
    } else if (h->paused) {
        h->paused = false;
        tls_conn_resume_read(&c->tls);
    }
    if (h->failed || (!nghttp2_session_want_read(h->ng) && !nghttp2_session_want_write(h->ng))) {
        conn_close(c);
    }
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    struct h2_server *h = arg;
    h->flush_scheduled = false;
    flush(h);
}

static void h2_detach(void *state);
static void h2_on_read(void *state);

static void *h2_attach(struct client_conn *c, const void *arg)
{
    struct h2_server *h = cg_xcalloc(1, sizeof(*h));
    h->c = c;
    h->backends = arg;
    h->hw = worker_module_state(c->w, &h2_worker_module);
    h->cfg = c->w->rt->cfg;
    h->pending_tail = &h->pending;
    h->zombies = cg_xcalloc(1, sizeof(*h->zombies));
    h->zombies->refs = 1;
    h->idle_budget = h->cfg->limits.h2_max_no_progress_frames;
    h->idle_budget_us = conn_now_us(c);
    h->out = evbuffer_new();
    h->ev_flush = event_new(c->w->base, -1, 0, on_flush, h);
    CG_BUG_ON(h->out == NULL || h->ev_flush == NULL);
    const struct config_limits *lim = &h->cfg->limits;

    nghttp2_session_callbacks *cbs;
    CG_BUG_ON(nghttp2_session_callbacks_new(&cbs) != 0);
    nghttp2_session_callbacks_set_on_begin_frame_callback(cbs, on_begin_frame);
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cbs, on_invalid_frame_recv);
    nghttp2_session_callbacks_set_on_extension_chunk_recv_callback(cbs, on_extension_chunk);
    nghttp2_session_callbacks_set_unpack_extension_callback(cbs, unpack_extension);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_recv);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_session_callbacks_set_error_callback2(cbs, on_error);
    nghttp2_option *opt;
    CG_BUG_ON(nghttp2_option_new(&opt) != 0);
    /* Windows open only when the backend has taken the bytes (h2_stream_request_consumed). */
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_option_set_max_continuations(opt, lim->h2_max_continuations);
    nghttp2_option_set_stream_reset_rate_limit(opt, lim->h2_reset_burst, lim->h2_reset_rate);
    nghttp2_option_set_max_outbound_ack(opt, MAX_OUTBOUND_ACK);
    nghttp2_option_set_max_settings(opt, MAX_SETTINGS);
    /* Every type above the RFC 9113 ones, so that on_begin_frame counts them too
     * (nghttp2 skips unknown frames without a callback otherwise). */
    for (unsigned type = NGHTTP2_CONTINUATION + 1; type <= 0xff; type++) {
        nghttp2_option_set_user_recv_extension_type(opt, (uint8_t)type);
    }
    int rv = nghttp2_session_server_new2(&h->ng, cbs, h, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    if (rv != 0) {
        h->ng = NULL;
        h2_detach(h);
        conn_abort(c);
        return NULL;
    }
    uint32_t window =
        (uint32_t)(lim->buffer_high_water < (1u << 20) ? lim->buffer_high_water : (1u << 20));
    if (window < 65535) {
        window = 65535;
    }
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, lim->h2_max_concurrent_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, window},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, lim->h2_max_header_list},
        {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
    };
    nghttp2_submit_settings(h->ng, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0]));
    /* The connection window lets 16 streams use their whole window at once. */
    uint64_t conn_window = (uint64_t)window * 16;
    nghttp2_session_set_local_window_size(
        h->ng, NGHTTP2_FLAG_NONE, 0,
        (int32_t)(conn_window < 0x7fffffff ? conn_window : 0x7fffffff));
    /* Until the client's first frame, the slowloris bound of HTTP/1.1 applies. */
    conn_set_timer(c, h->cfg->timeouts.request_header);
    flush(h);
    if (evbuffer_get_length(tls_conn_input(&c->tls)) > 0) {
        h2_on_read(h);
    }
    return h;
}

static void h2_detach(void *state)
{
    struct h2_server *h = state;
    while (h->streams != NULL) {
        struct h2_stream *s = h->streams;
        if (s->reason == NULL && (s->state != H2S_DONE || !s->resp_end)) {
            s->reason = "connection_closed";
            if (!s->resp_submitted) {
                s->status = 499;
            }
        }
        stream_free(s);
    }
    if (h->ng != NULL) {
        nghttp2_session_del(h->ng);
    }
    event_free(h->ev_flush);
    evbuffer_free(h->out);
    if (--h->zombies->refs == 0) {
        free(h->zombies);
    }
    free(h);
}

static void h2_on_read(void *state)
{
    struct h2_server *h = state;
    struct client_conn *c = h->c;
    struct evbuffer *in = tls_conn_input(&c->tls);
    size_t len;
    while ((len = evbuffer_get_length(in)) > 0 && !c->closing) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1) {
            break;
        }
        ssize_t n = nghttp2_session_mem_recv(h->ng, v.iov_base, v.iov_len);
        if (n < 0) {
            CG_LOG_DEBUG("w%uc%" PRIu64 ": h2 recv: %s", c->w->id, c->id, nghttp2_strerror((int)n));
            evbuffer_drain(in, len);
            /* Fatal for the connection (flood, CONTINUATION limit, bad preface): say
             * so with a GOAWAY when nghttp2 has not queued one itself. */
            nghttp2_session_terminate_session(h->ng, n == NGHTTP2_ERR_FLOODED ||
                                                             n == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS
                                                         ? NGHTTP2_ENHANCE_YOUR_CALM
                                                         : NGHTTP2_PROTOCOL_ERROR);
            h->failed = true;
            break;
        }
        evbuffer_drain(in, (size_t)n);
    }
    if (c->closing) {
        evbuffer_drain(in, evbuffer_get_length(in));
        return;
    }
    start_pending(h);
    flush(h);
}

static void h2_on_drain(void *state)
{
    struct h2_server *h = state;
    flush(h);
}

static void h2_on_timer(void *state)
{
    struct h2_server *h = state;
    /* h2_idle: no stream for that long (request_header before the first frame). */
    CG_LOG_DEBUG("w%uc%" PRIu64 ": h2 %s timeout", h->c->w->id, h->c->id,
                 h->got_frame ? "idle" : "preface");
    nghttp2_session_terminate_session(h->ng, NGHTTP2_NO_ERROR);
    h->draining = true;
    flush(h);
    if (!h->c->closing) {
        conn_close(h->c);
    }
}

static void h2_on_peer_closed(void *state)
{
    struct h2_server *h = state;
    for (struct h2_stream *s = h->streams; s != NULL; s = s->next) {
        if (s->reason == NULL && (s->state != H2S_DONE || !s->resp_end)) {
            s->reason = "client_closed";
            if (!s->resp_submitted) {
                s->status = 499;
            }
        }
        cancel_backend(s);
    }
}

static void h2_begin_drain(void *state)
{
    struct h2_server *h = state;
    if (h->draining) {
        return;
    }
    h->draining = true;
    nghttp2_submit_goaway(h->ng, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(h->ng),
                          NGHTTP2_NO_ERROR, NULL, 0);
    flush(h);
}

const struct conn_protocol h2_protocol = {
    .name = "h2",
    .attach = h2_attach,
    .detach = h2_detach,
    .on_read = h2_on_read,
    .on_drain = h2_on_drain,
    .on_timer = h2_on_timer,
    .on_peer_closed = h2_on_peer_closed,
    .begin_drain = h2_begin_drain,
};
