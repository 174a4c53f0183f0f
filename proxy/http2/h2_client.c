/* The streams of the HTTP/2 client (proxy/http2/h2_client.h): one request each on a
 * session of h2_client_session.c, the request body given to nghttp2 as the front
 * supplies it, the response reported to the front, flow control end to end. */
#include "proxy/http2/h2_client.h"

#include <stdlib.h>
#include <string.h>

#include "common/bug.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "proxy/core/runtime.h"
#include "proxy/http2/h2_client_internal.h"
#include "proxy/upstream/upstream_pool.h"

void h2_client_stream_free(struct h2_client_stream *b)
{
    if (b->ev_timer != NULL) {
        event_free(b->ev_timer);
    }
    if (b->zombie != NULL) {
        h2_zombie_end(b->zombie);
    }
    h2_fields_cleanup(&b->resp);
    h2_fields_cleanup(&b->trailers);
    free(b);
}

/* detach takes the front off |b| before its final callback; it returns the callbacks
 * to call, or NULL when the front is gone already. */
static const struct h2_client_stream_callbacks *detach(struct h2_client_stream *b)
{
    const struct h2_client_stream_callbacks *cbs = b->cbs;
    b->cbs = NULL;
    return cbs;
}

void h2_client_stream_fail(struct h2_client_stream *b, int status, enum cg_reason reason)
{
    const struct h2_client_stream_callbacks *cbs = detach(b);
    if (cbs != NULL) {
        cbs->on_fail(b->arg, status, reason);
    }
}

/* ---- data provider: client request body -> database ----------------------------- */

static ssize_t read_req(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length,
                        uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    struct h2_client_stream *b = src->ptr;
    if (b->cbs == NULL) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        return 0;
    }
    bool end = false;
    const struct h2_fields *trailers = NULL;
    size_t n = b->cbs->read_body(b->arg, buf, length, &end, &trailers);
    if (n > 0) {
        b->body_started = true;
    }
    if (end) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        if (trailers != NULL && trailers->num > 0) {
            if (nghttp2_submit_trailer(ng, id, trailers->nv, trailers->num) == 0) {
                *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
            }
        }
        return (ssize_t)n;
    }
    if (n == 0) {
        b->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

void h2_client_stream_send(struct h2_client_stream *b)
{
    struct uh2_session *x = b->sess;
    nghttp2_data_provider prd = {.source.ptr = b, .read_callback = read_req};
    int32_t id =
        nghttp2_submit_request(x->ng, NULL, b->nv, b->num_nv, b->has_body ? &prd : NULL, b);
    if (id < 0) {
        b->sess = NULL;
        h2_client_stream_fail(b, 502, CG_REASON_UPSTREAM_SUBMIT_FAILED);
        h2_client_stream_free(b);
        h2_client_session_remove_stream(x);
        return;
    }
    b->id = id;
    b->sent_us = cg_monotonic_us();
    uint64_t ms = x->pool->cfg->timeouts.upstream_response;
    struct timeval tv = cg_timeval_ms(ms);
    evtimer_add(b->ev_timer, &tv);
    h2_client_session_schedule(x);
}

/* ---- nghttp2 client callbacks --------------------------------------------------- */

static int on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    struct h2_client_stream *b = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
    if (b == NULL || frame->hd.type != NGHTTP2_HEADERS) {
        return 0;
    }
    if (!b->head_done) {
        if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
            b->status = atoi((const char *)value);
            return 0;
        }
        if (namelen > 0 && name[0] == ':') {
            return 0;
        }
        h2_fields_add(&b->resp, (const char *)name, namelen, (const char *)value, valuelen, false);
        return 0;
    }
    h2_fields_add(&b->trailers, (const char *)name, namelen, (const char *)value, valuelen, false);
    return 0;
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
    struct uh2_session *x = ud;
    if (frame->hd.type == NGHTTP2_GOAWAY) {
        CG_LOG_DEBUG("upstream %s: GOAWAY last_stream_id=%d error=%u", x->pool->up->name,
                     frame->goaway.last_stream_id, frame->goaway.error_code);
        if (x->state == UH2_READY) {
            x->state = UH2_GOAWAY;
        }
        return 0;
    }
    struct h2_client_stream *b =
        frame->hd.stream_id ? nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id) : NULL;
    if (b == NULL) {
        return 0;
    }
    bool end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (frame->hd.type == NGHTTP2_HEADERS) {
        if (!b->head_done) {
            if (b->status >= 100 && b->status < 200) {
                h2_fields_clear(&b->resp);
                b->status = 0;
                return 0;
            }
            b->head_done = true;
            evtimer_del(b->ev_timer);
            b->response_us = cg_monotonic_us() - b->sent_us;
            upstream_target_count_response(x->target, b->status, b->response_us);
            const struct h2_client_stream_callbacks *cbs = end ? detach(b) : b->cbs;
            if (cbs != NULL) {
                cbs->on_head(b->arg, b->status, &b->resp, end);
            }
            return 0;
        }
        const struct h2_client_stream_callbacks *cbs = end ? detach(b) : NULL;
        if (cbs != NULL) {
            cbs->on_end(b->arg, &b->trailers);
        }
        return 0;
    }
    const struct h2_client_stream_callbacks *cbs =
        frame->hd.type == NGHTTP2_DATA && end ? detach(b) : NULL;
    if (cbs != NULL) {
        cbs->on_end(b->arg, NULL);
    }
    return 0;
}

static int on_data_chunk_recv(nghttp2_session *ng, uint8_t flags, int32_t stream_id,
                              const uint8_t *data, size_t len, void *ud)
{
    /* Connection window at once (one slow client must not stall the session other
     * clients share); the stream window as the client takes the bytes. */
    nghttp2_session_consume_connection(ng, len);
    struct h2_client_stream *b = nghttp2_session_get_stream_user_data(ng, stream_id);
    if (b == NULL || b->cbs == NULL) {
        nghttp2_session_consume_stream(ng, stream_id, len);
        return 0;
    }
    b->cbs->on_data(b->arg, data, len);
    return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t stream_id, uint32_t error_code, void *ud)
{
    struct uh2_session *x = ud;
    struct h2_client_stream *b = nghttp2_session_get_stream_user_data(ng, stream_id);
    if (b == NULL) {
        return 0;
    }
    b->sess = NULL;
    h2_client_session_remove_stream(x);
    if (b->cbs != NULL) {
        if (error_code == NGHTTP2_REFUSED_STREAM && !b->head_done && !b->body_started &&
            b->attempts < H2_CLIENT_MAX_RETRIES) {
            /* Never processed by the database (RFC 9113 §8.7): safe on another session. */
            b->id = 0;
            b->deferred = false;
            h2_fields_clear(&b->resp);
            h2_client_attach(b);
            return 0;
        }
        h2_client_stream_fail(b, 502,
                              error_code == NGHTTP2_NO_ERROR ? CG_REASON_UPSTREAM_INCOMPLETE
                                                             : CG_REASON_UPSTREAM_RESET);
    }
    h2_client_stream_free(b);
    return 0;
}


void h2_client_stream_set_callbacks(nghttp2_session_callbacks *cbs)
{
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
}

/* ---- streams -------------------------------------------------------------------- */

/* on_timer: no response head within timeouts.upstream_response. */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct h2_client_stream *b = arg;
    if (b->cbs == NULL || b->head_done || b->sess == NULL || b->id <= 0) {
        return;
    }
    nghttp2_submit_rst_stream(b->sess->ng, NGHTTP2_FLAG_NONE, b->id, NGHTTP2_CANCEL);
    h2_client_session_schedule(b->sess);
    h2_client_stream_fail(b, 504, CG_REASON_UPSTREAM_TIMEOUT);
}

struct h2_client_stream *h2_client_stream_new(struct worker_snapshot *ws, size_t upstream_index,
                                              const struct h2_client_stream_callbacks *cbs,
                                              void *arg)
{
    struct h2_client_stream *b = cg_xcalloc(1, sizeof(*b));
    b->ev_timer = evtimer_new(ws->w->base, on_timer, b);
    CG_BUG_ON(b->ev_timer == NULL);
    b->ws = ws;
    b->upstream_index = upstream_index;
    b->cbs = cbs;
    b->arg = arg;
    return b;
}

void h2_client_stream_submit(struct h2_client_stream *b, const nghttp2_nv *nv, size_t num,
                             bool has_body)
{
    b->nv = nv;
    b->num_nv = num;
    b->has_body = has_body;
    h2_client_attach(b);
}

void h2_client_stream_resume(struct h2_client_stream *b)
{
    if (b->sess != NULL && b->id > 0 && b->deferred) {
        b->deferred = false;
        nghttp2_session_resume_data(b->sess->ng, b->id);
        h2_client_session_schedule(b->sess);
    }
}

void h2_client_stream_consumed(struct h2_client_stream *b, size_t n)
{
    if (b->sess == NULL || b->id <= 0 || b->sess->ng == NULL) {
        return;
    }
    /* The stream window is what the front may buffer (h2_response_buffer_limit), so it
     * is small: reopen it by a quarter at a time instead of nghttp2's half, or a bulk
     * download waits for the database at every half window. */
    b->unacked += (uint32_t)n;
    if (b->unacked >= h2_response_buffer_limit(&b->sess->pool->cfg->limits) / 4) {
        nghttp2_submit_window_update(b->sess->ng, NGHTTP2_FLAG_NONE, b->id, (int32_t)b->unacked);
        b->unacked = 0;
        h2_client_session_schedule(b->sess);
    }
}

uint64_t h2_client_stream_response_us(const struct h2_client_stream *b)
{
    return b->response_us;
}

bool h2_client_stream_submitted(const struct h2_client_stream *b)
{
    return b->sess != NULL && b->id > 0;
}

void h2_client_stream_cancel(struct h2_client_stream *b, struct h2_zombies *zombie)
{
    b->cbs = NULL;
    struct uh2_session *x = b->sess;
    if (x != NULL && b->id > 0) {
        b->zombie = zombie;
        /* Freed when the database's stream closes (on_stream_close). */
        nghttp2_submit_rst_stream(x->ng, NGHTTP2_FLAG_NONE, b->id, NGHTTP2_CANCEL);
        h2_client_session_schedule(x);
        return;
    }
    if (zombie != NULL) {
        h2_zombie_end(zombie);
    }
    if (x == NULL) {
        h2_client_stream_free(b);
    }
    /* Else still waiting for the session: it drops detached streams when ready. */
}

