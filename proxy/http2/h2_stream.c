/* A stream of the HTTP/2 server from allocation to reuse, and the response it sends
 * (see h2_stream.h): the spare streams of a worker, the access log line, certgate's own
 * answers, the response head, the data provider that feeds DATA frames from
 * s->resp_body, and trailers. */
#include "proxy/http2/h2_stream.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bug.h"
#include "common/log.h"
#include "common/mem.h"
#include "proxy/core/conn.h"
#include "proxy/core/request_log.h"
#include "proxy/core/worker.h"
#include "proxy/http1/h1_body.h"
#include "proxy/http2/grpc.h"
#include "proxy/http2/h2_server.h"
#include "proxy/http2/h2_server_internal.h"

/* struct h2_worker is what HTTP/2 keeps per worker (h2_worker_module): closed streams
 * for reuse. */
struct h2_worker {
    struct h2_stream *spares; /* linked by next */
    size_t num_spares;        /* at most WORKER_MAX_SPARES */
};

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

static void *worker_init(struct worker_snapshot *ws)
{
    return cg_xcalloc(1, sizeof(struct h2_worker));
}

/* worker_trim frees the spare streams. */
static void worker_trim(struct worker_snapshot *ws, void *state)
{
    struct h2_worker *hw = state;
    while (hw->spares != NULL) {
        struct h2_stream *s = hw->spares;
        hw->spares = s->next;
        stream_destroy(s);
    }
    hw->num_spares = 0;
}

static void worker_cleanup(struct worker_snapshot *ws, void *state)
{
    worker_trim(ws, state);
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

struct h2_stream *h2_stream_new(struct h2_server *h, int32_t id)
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
    if (h->num_streams++ == 0 && !h->drain_ping) {
        /* The idle timer runs only while there is no stream (and the shutdown notice's
         * timer until the final GOAWAY). */
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
        .upstream_status = s->upstream_status,
        .upstream_us = s->upstream_us,
        .user_agent = s->user_agent,
        .bytes_in = s->bytes_in,
        .bytes_out = s->bytes_out,
        .duration_us = conn_now_us(s->c) - s->start_us,
        .grpc_status = s->is_grpc ? s->grpc_status : -1,
    };
    request_log_write(s->c, &f);
}

void h2_stream_cancel_backend(struct h2_stream *s)
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

void h2_stream_free(struct h2_stream *s)
{
    struct h2_server *h = s->h;
    h2_stream_cancel_backend(s);
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
    h2_server_schedule(s->h);
}

static void add_grpc_status(struct h2_fields *f, int grpc_status, enum cg_reason reason)
{
    char gs[16];
    int n = snprintf(gs, sizeof(gs), "%d", grpc_status);
    h2_fields_add(f, "grpc-status", 11, gs, (size_t)n, false);
    const char *msg = grpc_message_for(reason);
    h2_fields_add(f, "grpc-message", 12, msg, strlen(msg), false);
}

/* h2_stream_answer gives certgate's own final answer on a stream whose head was not sent. */
void h2_stream_answer(struct h2_stream *s, int status, int grpc_status, enum cg_reason reason)
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
        size_t n = h1_error_body(body, status, cg_reason_str(reason), s->request_id);
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

void h2_stream_fail(struct h2_stream *s, int status, int grpc_status, enum cg_reason reason)
{
    s->ops = NULL;
    s->backend = NULL;
    if (s->state == H2S_DONE) {
        return;
    }
    char id[64];
    CG_LOG_DEBUG("%s: fail %d/%d %s", h2_stream_log_id(s, id, sizeof(id)), status, grpc_status,
                 cg_reason_str(reason));
    if (!s->resp_submitted) {
        h2_stream_answer(s, status, grpc_status, reason);
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
    h2_server_schedule(s->h);
}

/* h2_stream_fail_here ends a stream for a reason found by the server itself. */
void h2_stream_fail_here(struct h2_stream *s, int status, int grpc_status, enum cg_reason reason)
{
    h2_stream_cancel_backend(s);
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
    h2_server_schedule(s->h);
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
    h2_server_schedule(s->h);
}
