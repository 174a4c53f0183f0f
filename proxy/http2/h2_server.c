/* The HTTP/2 server session of a client connection (see h2_server.h): nghttp2 driven
 * by the TLS glue, its callbacks, the budget of frames without progress, and starting
 * the backends of the streams authorized during a read. A stream's life and response
 * are in h2_stream.c, its request in h2_request.c. */
#include "proxy/http2/h2_server.h"

#include <inttypes.h>
#include <stdlib.h>

#include "common/bug.h"
#include "common/log.h"
#include "common/mem.h"
#include "proxy/core/conn.h"
#include "proxy/core/runtime.h"
#include "proxy/core/worker.h"
#include "proxy/http2/h2_server_internal.h"
#include "proxy/http2/h2_stream.h"

/* Outbound SETTINGS/PING ACKs queued while the client does not read: beyond this the
 * connection is a flood (nghttp2 answers GOAWAY ENHANCE_YOUR_CALM). */
#define MAX_OUTBOUND_ACK 1000
/* SETTINGS entries in one frame. */
#define MAX_SETTINGS 32
/* Bytes produced by nghttp2 per TLS write call (several records). */
#define SEND_BATCH (64 * 1024)
/* How long a graceful shutdown waits for the ACK of its PING before the final GOAWAY
 * (h2_begin_drain): a round trip is normally far less. */
#define H2_DRAIN_NOTICE_MS 1000

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
    cg_counter_add(&h->c->w->metrics->listeners[h->c->lrt->metrics_index]->h2_no_progress_goaways, 1);
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
        s->ops = h->backends->by_upstream[h->cfg->upstreams[s->az.upstream_index].protocol];
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
    struct h2_stream *s = h2_stream_new(h, frame->hd.stream_id);
    nghttp2_session_set_stream_user_data(ng, frame->hd.stream_id, s);
    return 0;
}

/* final_goaway ends a graceful shutdown begun by h2_begin_drain, a round trip after the
 * shutdown notice (its PING's ACK) or H2_DRAIN_NOTICE_MS after it, whichever comes
 * first: every stream the client opened before it saw the notice has arrived, and the
 * GOAWAY names the last one. The connection closes once they are done. */
static void final_goaway(struct h2_server *h)
{
    h->drain_ping = false;
    nghttp2_submit_goaway(h->ng, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(h->ng),
                          NGHTTP2_NO_ERROR, NULL, 0);
    conn_set_timer(h->c, 0);
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
    if (frame->hd.type == NGHTTP2_PING && (frame->hd.flags & NGHTTP2_FLAG_ACK) &&
        h->drain_ping) {
        final_goaway(h);
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
            h2_request_process(s);
        } else if (frame->headers.cat == NGHTTP2_HCAT_HEADERS) {
            h2_request_trailers_done(s);
        }
        break;
    case NGHTTP2_DATA:
        if (end) {
            s->req_end = true;
            h2_request_data_changed(s);
        }
        break;
    default:
        break;
    }
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
        if (s->reason == CG_REASON_NONE) {
            s->reason = error_code == NGHTTP2_NO_ERROR ? CG_REASON_INCOMPLETE : CG_REASON_CLIENT_RESET;
        }
        if (!s->resp_submitted) {
            s->status = 499;
        }
    }
    h2_stream_free(s);
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
    h->hw = worker_module_state(c->ws, &h2_worker_module);
    h->cfg = c->cfg;
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
    nghttp2_session_callbacks_set_on_header_callback(cbs, h2_request_on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, h2_request_on_data_chunk_recv);
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
        if (s->reason == CG_REASON_NONE && (s->state != H2S_DONE || !s->resp_end)) {
            s->reason = CG_REASON_CONNECTION_CLOSED;
            if (!s->resp_submitted) {
                s->status = 499;
            }
        }
        h2_stream_free(s);
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
    if (h->drain_ping) {
        final_goaway(h); /* the client did not answer the PING in time */
        flush(h);
        return;
    }
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
        if (s->reason == CG_REASON_NONE && (s->state != H2S_DONE || !s->resp_end)) {
            s->reason = CG_REASON_CLIENT_CLOSED;
            if (!s->resp_submitted) {
                s->status = 499;
            }
        }
        h2_stream_cancel_backend(s);
    }
}

static void h2_begin_drain(void *state)
{
    struct h2_server *h = state;
    if (h->draining) {
        return;
    }
    h->draining = true;
    /* RFC 9113 section 6.8: a GOAWAY naming the last stream at once would refuse the
     * streams the client has sent meanwhile. First the shutdown notice (no new streams,
     * nothing refused) with a PING; the final GOAWAY follows its ACK (on_frame_recv). */
    nghttp2_submit_shutdown_notice(h->ng);
    nghttp2_submit_ping(h->ng, NGHTTP2_FLAG_NONE, NULL);
    h->drain_ping = true;
    conn_set_timer(h->c, H2_DRAIN_NOTICE_MS);
    flush(h);
}

const struct conn_protocol h2_protocol = {
    .name = "h2",
    .metrics_protocol = METRICS_PROTOCOL_H2,
    .attach = h2_attach,
    .detach = h2_detach,
    .on_read = h2_on_read,
    .on_drain = h2_on_drain,
    .on_timer = h2_on_timer,
    .on_peer_closed = h2_on_peer_closed,
    .begin_drain = h2_begin_drain,
};
