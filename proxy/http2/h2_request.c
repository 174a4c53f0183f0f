/* The request side of an HTTP/2 server stream: its fields as nghttp2 delivers them, the
 * checks and the authorization once its head is complete (certgate's denials), the
 * fields forwarded upstream, request trailers, body bytes and the body timers. */
#include "proxy/http2/h2_server_internal.h"

#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "proxy/core/authz.h"
#include "proxy/core/conn.h"
#include "proxy/core/runtime.h"
#include "proxy/core/worker.h"
#include "proxy/http2/grpc.h"
#include "proxy/http2/h2_stream.h"
#include "proxy/http2/h2_trailers.h"

#define MAX_METHOD 32
#define MAX_AUTHORITY 256

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct h2_stream *s = arg;
    if (s->state == H2S_DONE) {
        return;
    }
    h2_stream_fail_here(s, 504, GRPC_DEADLINE_EXCEEDED, CG_REASON_DEADLINE_EXCEEDED);
}

static void on_body_idle(evutil_socket_t fd, short what, void *arg)
{
    struct h2_stream *s = arg;
    if (s->state == H2S_DONE || s->req_end) {
        return;
    }
    h2_stream_fail_here(s, 408, GRPC_CANCELLED, CG_REASON_CLIENT_BODY_TIMEOUT);
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

void h2_request_process(struct h2_stream *s)
{
    struct h2_server *h = s->h;
    make_request_id(s);
    if (s->too_large) {
        h2_stream_answer(s, 431, GRPC_RESOURCE_EXHAUSTED, CG_REASON_HEADER_LIST_TOO_LARGE);
        return;
    }
    if (s->bad || s->method == NULL || s->path == NULL || strlen(s->method) > MAX_METHOD ||
        (s->authority != NULL && strlen(s->authority) > MAX_AUTHORITY)) {
        h2_stream_answer(s, 400, GRPC_INTERNAL, CG_REASON_MALFORMED_REQUEST);
        return;
    }
    if (strcmp(s->method, "CONNECT") == 0) {
        h2_stream_answer(s, 405, GRPC_UNIMPLEMENTED, CG_REASON_METHOD_NOT_ALLOWED);
        return;
    }
    if (s->path[0] != '/' && strcmp(s->path, "*") != 0) {
        h2_stream_answer(s, 400, GRPC_INTERNAL, CG_REASON_BAD_PATH);
        return;
    }
    if (h->cfg->limits.max_body > 0 && s->content_length > 0 &&
        (uint64_t)s->content_length > h->cfg->limits.max_body) {
        h2_stream_answer(s, 413, GRPC_RESOURCE_EXHAUSTED, CG_REASON_BODY_TOO_LARGE);
        return;
    }
    if (s->authority == NULL) {
        /* A host field stands for :authority and obeys the same rules: ignoring one
         * that is too long would skip the Host/SNI check and forward no Host at all. */
        const nghttp2_nv *host = h2_fields_find(&s->req, "host");
        if (host != NULL &&
            (host->valuelen > MAX_AUTHORITY || memchr(host->value, '\0', host->valuelen) != NULL)) {
            h2_stream_answer(s, 400, GRPC_INTERNAL, CG_REASON_MALFORMED_REQUEST);
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
        h2_stream_answer(s, s->az.status, s->az.grpc_status, s->az.reason);
        return;
    }
    const struct config_upstream *up = &h->cfg->upstreams[s->az.upstream_index];
    if (s->is_grpc && up->protocol == CONFIG_UPSTREAM_HTTP11) {
        h2_stream_answer(s, 502, GRPC_UNIMPLEMENTED, CG_REASON_GRPC_NEEDS_H2_UPSTREAM);
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

int h2_request_on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
                         size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                         void *ud)
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
    if (namelen == 10 && s->user_agent == NULL && memcmp(name, "user-agent", 10) == 0) {
        s->user_agent = (const char *)s->req.nv[s->req.num - 1].value; /* for the log */
    }
    return 0;
}

void h2_request_data_changed(struct h2_stream *s)
{
    body_idle_touch(s);
    if (s->state == H2S_FORWARDING && s->ops != NULL) {
        s->ops->on_request_data(s);
    }
}

void h2_request_trailers_done(struct h2_stream *s)
{
    if (s->too_large && s->state != H2S_DONE) {
        h2_stream_fail_here(s, 431, GRPC_RESOURCE_EXHAUSTED, CG_REASON_TRAILERS_TOO_LARGE);
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
    h2_request_data_changed(s);
}

int h2_request_on_data_chunk_recv(nghttp2_session *ng, uint8_t flags, int32_t stream_id,
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
        h2_stream_fail_here(s, 413, GRPC_RESOURCE_EXHAUSTED, CG_REASON_BODY_TOO_LARGE);
        return 0;
    }
    h2_request_data_changed(s);
    return 0;
}
