/* The exchange API the HTTP/1.1 server offers its backends (proxy/http1/h1_exchange.h):
 * the response written for the client, framed for it, and the flow of the request
 * body. The connection's state machine is proxy/http1/h1_server.c. */
#include "proxy/http1/h1_exchange.h"

#include "common/bug.h"
#include "common/str.h"
#include "proxy/core/conn.h"
#include "proxy/http1/h1_body.h"
#include "proxy/http1/h1_server_internal.h"
#include "proxy/http1/head_writer.h"

/* Bytes the fixed lines of a head can add (status line, framing, Connection, ...). */
#define HEAD_FIXED_MAX 512

/* What write_head writes. */
enum head_kind {
    HEAD_FINAL,   /* the final response: framing and Connection chosen here */
    HEAD_INTERIM, /* 1xx: fields only */
    HEAD_UPGRADE, /* 101: Connection: upgrade and the Upgrade field kept */
};

static bool skip_field(const struct h1_exchange_head *hd, const struct h1_header *f)
{
    if (f->hop_by_hop) {
        return true;
    }
    /* Content-Length is rewritten below for bodies we frame; a HEAD or 304 answer keeps
     * the database's value, which describes the representation. */
    return cg_str_case_eq_cstr(f->name, "content-length") &&
           (hd->body != H1_BODY_NONE || hd->status == 204 || hd->status < 200);
}

/* write_head puts the status line and fields of |hd|, with the framing decided here,
 * in the worker's scratch buffer. */
static struct evbuffer *write_head(struct h1_exchange *ex, const struct h1_exchange_head *hd,
                                   enum head_kind kind)
{
    struct h1_server *h = ex->h;
    struct cg_str reason =
        hd->reason.len > 0 ? hd->reason : cg_str_from_cstr(h1_status_text(hd->status));
    struct cg_str upgrade = {NULL, 0};
    /* Every field on a line of its own bounds what is written (an Upgrade value once
     * more). */
    size_t bound = reason.len + HEAD_FIXED_MAX + hd->fields_bound;
    for (size_t i = 0; hd->fields_bound == 0 && i < hd->num_fields; i++) {
        bound += hd->fields[i].name.len + hd->fields[i].value.len + 4;
    }
    if (kind == HEAD_UPGRADE) {
        for (size_t i = 0; i < hd->num_fields && upgrade.p == NULL; i++) {
            if (cg_str_case_eq_cstr(hd->fields[i].name, "upgrade")) {
                upgrade = hd->fields[i].value;
                bound += upgrade.len;
            }
        }
    }
    struct head_writer w;
    hw_begin(&w, h1_server_out(h), bound);
    HW_LIT(&w, "HTTP/1.1 ");
    hw_u64(&w, (uint64_t)hd->status);
    HW_LIT(&w, " ");
    hw_str(&w, reason);
    HW_LIT(&w, "\r\n");
    for (size_t i = 0; i < hd->num_fields; i++) {
        const struct h1_header *f = &hd->fields[i];
        if (!skip_field(hd, f)) {
            hw_header(&w, f->name, f->value);
        }
    }
    if (kind == HEAD_UPGRADE && upgrade.p != NULL) {
        HW_LIT(&w, "Connection: upgrade\r\n");
        hw_header(&w, CG_STR_LIT("Upgrade"), upgrade);
    } else if (kind == HEAD_FINAL) {
        switch (hd->body) {
        case H1_BODY_LENGTH:
            HW_LIT(&w, "Content-Length: ");
            hw_u64(&w, hd->content_length);
            HW_LIT(&w, "\r\n");
            break;
        case H1_BODY_CHUNKED:
        case H1_BODY_UNTIL_CLOSE:
            if (ex->minor >= 1) {
                HW_LIT(&w, "Transfer-Encoding: chunked\r\n");
                ex->resp_chunked_out = true;
            } else {
                ex->client_close = true; /* HTTP/1.0: the end of the body is the close */
            }
            break;
        case H1_BODY_NONE:
            break;
        }
        if (ex->client_close) {
            HW_LIT(&w, "Connection: close\r\n");
        } else if (ex->minor == 0) {
            HW_LIT(&w, "Connection: keep-alive\r\n");
        }
    }
    HW_LIT(&w, "\r\n");
    hw_end(&w);
    return w.buf;
}

/* held_or_empty returns the scratch buffer: with the head held back in it, or empty. */
static struct evbuffer *held_or_empty(struct h1_exchange *ex)
{
    if (ex->head_held) {
        ex->head_held = false;
        return ex->c->w->scratch.out;
    }
    return h1_server_out(ex->h);
}

void h1_exchange_response_interim(struct h1_exchange *ex, const struct h1_exchange_head *head)
{
    tls_conn_write(&ex->c->tls, write_head(ex, head, HEAD_INTERIM));
}

void h1_exchange_response_head(struct h1_exchange *ex, const struct h1_exchange_head *head,
                               bool more)
{
    CG_BUG_ON(ex->resp_head_done);
    ex->status = head->status;
    if (!ex->req_end) {
        /* The database answered before the whole body was read: the rest of it can
         * no longer be framed for either side. */
        ex->client_close = true;
    }
    struct evbuffer *out = write_head(ex, head, HEAD_FINAL);
    ex->resp_head_done = true;
    if (more) {
        ex->head_held = true; /* goes out in one TLS record with the first body bytes */
        return;
    }
    tls_conn_write(&ex->c->tls, out);
}

void h1_exchange_response_body(struct h1_exchange *ex, struct evbuffer *src, size_t n, bool last)
{
    struct evbuffer *out = held_or_empty(ex);
    if (n > 0) {
        bool chunk = ex->resp_chunked_out && ex->h->state != H1_TUNNEL;
        if (chunk) {
            h1_body_chunk_header(out, n);
        }
        evbuffer_remove_buffer(src, out, n);
        if (chunk) {
            evbuffer_add(out, "\r\n", 2);
        }
        ex->bytes_out += n;
    }
    if (last && ex->h->state != H1_TUNNEL) {
        if (ex->resp_chunked_out) {
            evbuffer_add(out, "0\r\n\r\n", 5);
        }
        ex->resp_done = true;
    }
    tls_conn_write(&ex->c->tls, out);
}

void h1_exchange_response_end(struct h1_exchange *ex, const struct h1_header *trailers,
                              size_t num_trailers)
{
    struct h1_server *h = ex->h;
    ex->ops = NULL;
    ex->backend = NULL;
    if (h->state == H1_TUNNEL) {
        conn_close(h->c);
        return;
    }
    if (!ex->resp_done) {
        struct evbuffer *out = held_or_empty(ex);
        if (ex->resp_chunked_out) {
            size_t bound = 5;
            for (size_t i = 0; i < num_trailers; i++) {
                bound += trailers[i].name.len + trailers[i].value.len + 4;
            }
            struct head_writer w;
            hw_begin(&w, out, bound);
            HW_LIT(&w, "0\r\n");
            for (size_t i = 0; i < num_trailers; i++) {
                if (!trailers[i].hop_by_hop) {
                    hw_header(&w, trailers[i].name, trailers[i].value);
                }
            }
            HW_LIT(&w, "\r\n");
            hw_end(&w);
        }
        ex->resp_done = true;
        if (evbuffer_get_length(out) > 0) {
            tls_conn_write(&ex->c->tls, out);
        }
    }
    h1_server_finish(h);
}

void h1_exchange_fail(struct h1_exchange *ex, int status, enum cg_reason reason)
{
    struct h1_server *h = ex->h;
    ex->ops = NULL;
    ex->backend = NULL;
    if (ex->head_held) {
        /* Cut anyway: the client must not take a head for a complete response. */
        struct evbuffer *out = held_or_empty(ex);
        evbuffer_drain(out, evbuffer_get_length(out));
    }
    if (h->state == H1_TUNNEL) {
        ex->reason = reason;
        conn_close(h->c);
        return;
    }
    if (!ex->resp_head_done) {
        h1_server_send_error(h, status, reason, false);
        return;
    }
    /* The response is cut: the client must not take it for complete. */
    ex->reason = reason;
    h1_server_log(h);
    conn_abort(h->c);
}

void h1_exchange_upgrade(struct h1_exchange *ex, const struct h1_exchange_head *head)
{
    struct h1_server *h = ex->h;
    ex->status = head->status;
    tls_conn_write(&ex->c->tls, write_head(ex, head, HEAD_UPGRADE));
    ex->resp_head_done = true;
    h->state = H1_TUNNEL;
    /* The tunnel's bytes never end a request (ex->req_end), they flow until a close. */
    ex->req_end = false;
    ex->reason = CG_REASON_UPGRADED;
    h1_server_log(h);
    conn_set_timer(h->c, 0);
    /* From now on the client's bytes are the tunnel's: what followed the request head
     * went to the backend already or waits in the input. */
    ex->req_wanted = true;
    tls_conn_resume_read(&h->c->tls);
    h1_server_input_later(h);
}

void h1_exchange_request_resume(struct h1_exchange *ex)
{
    struct h1_server *h = ex->h;
    if (h->c->closing) {
        return;
    }
    const struct config *cfg = h1_server_cfg(h);
    if (!ex->req_wanted) {
        ex->req_wanted = true;
        if (!ex->req_end) {
            if (ex->expect_continue && !ex->continue_sent && !ex->resp_head_done) {
                /* The request is accepted and the backend ready: let the body come. */
                tls_conn_write_bytes(&h->c->tls, "HTTP/1.1 100 Continue\r\n\r\n", 25);
                ex->continue_sent = true;
            }
            conn_set_timer(h->c, cfg->timeouts.client_body_idle);
        }
    }
    if (ex->req_end && h->state != H1_TUNNEL) {
        return; /* a pipelined request waits for this response */
    }
    if (evbuffer_get_length(ex->req_body) >= cfg->limits.buffer_high_water) {
        return;
    }
    tls_conn_resume_read(&h->c->tls);
    h1_server_input_later(h);
}

bool h1_exchange_response_full(const struct h1_exchange *ex)
{
    return tls_conn_output_pending(&ex->c->tls) > ex->h->c->cfg->limits.buffer_high_water;
}
