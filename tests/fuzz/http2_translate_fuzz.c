/* FUZZ_MODULE: proxy_http2 */
/* FUZZ_DICT: http2_translate.dict */
/* libFuzzer target for the HTTP/2 -> HTTP/1.1 request translation
 * (proxy/http2/h2_to_h1_head.c) and the request trailer filter (proxy/http2/h2_trailers.c).
 *
 * Input: byte 0 holds flags (bit 0: an :authority, bit 1: a content-length, bit 2: a
 * body follows), bytes 1-2 the content-length, then lines separated by LF: the method,
 * the target, the authority, then fields as "name:value" (split at the first ':' after
 * the name's first byte, so pseudo-header names work).
 *
 * Only what nghttp2 would hand certgate is kept (nghttp2_check_* as its HTTP messaging
 * does; a target and authority our own strict parser takes), then:
 * - the head written for those fields must parse with h1_parse_request as exactly one
 *   complete head: the same method, target and Host, the framing the writer chose and
 *   nothing else (no second Host, Content-Length, Transfer-Encoding, TE, connection
 *   field), at most one cookie line, every other field in order with its value;
 * - the trailer filter must keep exactly the fields that HTTP allows in trailers and
 *   certgate does not own, in order, and never one of the fields a smuggler wants
 *   (framing, routing, identity), in any letter case. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "policy/headers.h"
#include "proxy/http1/h1_parse.h"
#include "proxy/http2/h2_stream.h"
#include "proxy/http2/h2_to_h1_head.h"
#include "proxy/http2/h2_trailers.h"

#define MAX_FIELDS 256

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct h1_limits big_limits = {
    .max_request_line = 1 << 20,
    .max_head = 1 << 20,
    .max_headers = MAX_FIELDS + 4,
};

static struct h1_header parsed[MAX_FIELDS + 4];

/* h1_accepts reports whether our strict parser takes "GET target HTTP/1.1" with
 * "Host: authority": the translation is only asked to write such targets (the policy
 * forwards a normalized origin-form path) and hosts (compared with the SNI first). */
static bool h1_accepts(struct cg_str method, struct cg_str target, struct cg_str authority)
{
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, method.p, method.len);
    evbuffer_add(b, " ", 1);
    evbuffer_add(b, target.p, target.len);
    evbuffer_add_printf(b, " HTTP/1.1\r\nHost: ");
    evbuffer_add(b, authority.p, authority.len);
    evbuffer_add(b, "\r\n\r\n", 4);
    size_t len = evbuffer_get_length(b);
    struct h1_request req;
    enum h1_parse_result r = h1_parse_request((const char *)evbuffer_pullup(b, -1), len,
                                              &big_limits, parsed, MAX_FIELDS + 4, &req);
    evbuffer_free(b);
    return r == H1_PARSE_OK;
}

/* owned is the head path's stripping rule (proxy/http2/h2_request.c is_owned_or_hop) with
 * the default owned names. */
static bool owned(void *arg, const nghttp2_nv *nv)
{
    struct cg_str name = {(const char *)nv->name, nv->namelen};
    (void)arg;
    return cg_str_eq(name, CG_STR_LIT("host")) || cg_str_eq(name, CG_STR_LIT("te")) ||
           policy_header_is_owned(NULL, name);
}

static bool name_eq(const nghttp2_nv *nv, const char *s)
{
    return nv->namelen == strlen(s) && memcmp(nv->name, s, nv->namelen) == 0;
}

/* dropped_by_writer: fields the writer drops or writes itself. */
static bool dropped_by_writer(const nghttp2_nv *nv)
{
    static const char *const names[] = {"host",          "content-length",   "te",
                                        "expect",        "connection",       "keep-alive",
                                        "upgrade",       "proxy-connection", "transfer-encoding",
                                        "http2-settings"};
    if (nv->namelen > 0 && nv->name[0] == ':') {
        return true;
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (name_eq(nv, names[i])) {
            return true;
        }
    }
    return false;
}

static void check_head(const struct h2_h1_head *head)
{
    struct evbuffer *out = evbuffer_new();
    bool chunked = h2_h1_head_write(out, head);
    size_t len = evbuffer_get_length(out);
    const char *p = (const char *)evbuffer_pullup(out, -1);
    struct h1_request req;
    enum h1_parse_result r = h1_parse_request(p, len, &big_limits, parsed, MAX_FIELDS + 4, &req);
    CHECK(r == H1_PARSE_OK);
    CHECK(req.head_len == len);
    CHECK(req.minor_version == 1);
    CHECK(cg_str_eq(req.method, head->method));
    CHECK(cg_str_eq(req.target, head->target));
    CHECK(chunked == (head->content_length < 0 && head->body_follows));
    if (head->content_length >= 0) {
        CHECK(req.body == H1_BODY_LENGTH);
        CHECK(req.content_length == (uint64_t)head->content_length);
    } else {
        CHECK(req.body == (chunked ? H1_BODY_CHUNKED : H1_BODY_NONE));
    }
    CHECK(cg_str_eq(req.host, head->host));
    /* Walk the parsed fields against the input, skipping what the writer drops. */
    size_t k = 0, hosts = 0, lengths = 0, encodings = 0, cookies = 0;
    for (size_t i = 0; i < req.num_headers; i++) {
        struct cg_str n = parsed[i].name;
        if (cg_str_case_eq(n, CG_STR_LIT("host"))) {
            hosts++;
            continue;
        }
        if (cg_str_case_eq(n, CG_STR_LIT("content-length"))) {
            lengths++;
            continue;
        }
        if (cg_str_case_eq(n, CG_STR_LIT("transfer-encoding"))) {
            encodings++;
            continue;
        }
        CHECK(!cg_str_case_eq(n, CG_STR_LIT("te")) &&
              !cg_str_case_eq(n, CG_STR_LIT("connection")) &&
              !cg_str_case_eq(n, CG_STR_LIT("keep-alive")) &&
              !cg_str_case_eq(n, CG_STR_LIT("upgrade")) &&
              !cg_str_case_eq(n, CG_STR_LIT("proxy-connection")));
        if (cg_str_eq(n, CG_STR_LIT("cookie"))) {
            cookies++;
            /* The crumbs, joined with "; " in order. */
            struct evbuffer *want = evbuffer_new();
            bool first = true;
            for (size_t j = 0; j < head->num_fields; j++) {
                if (name_eq(&head->fields[j], "cookie")) {
                    if (!first) {
                        evbuffer_add(want, "; ", 2);
                    }
                    evbuffer_add(want, head->fields[j].value, head->fields[j].valuelen);
                    first = false;
                }
            }
            size_t wl = evbuffer_get_length(want);
            /* The parser trims the joined value like any other. */
            struct cg_str w =
                cg_str_trim_ows((struct cg_str){(const char *)evbuffer_pullup(want, -1), wl});
            CHECK(cg_str_eq(parsed[i].value, w));
            evbuffer_free(want);
        } else {
            while (k < head->num_fields &&
                   (dropped_by_writer(&head->fields[k]) || name_eq(&head->fields[k], "cookie"))) {
                k++;
            }
            CHECK(k < head->num_fields);
            const nghttp2_nv *nv = &head->fields[k++];
            CHECK(cg_str_eq(n, ((struct cg_str){(const char *)nv->name, nv->namelen})));
            CHECK(cg_str_eq(parsed[i].value,
                            ((struct cg_str){(const char *)nv->value, nv->valuelen})));
        }
    }
    while (k < head->num_fields &&
           (dropped_by_writer(&head->fields[k]) || name_eq(&head->fields[k], "cookie"))) {
        k++;
    }
    CHECK(k == head->num_fields);
    CHECK(hosts == 1);
    CHECK(lengths == (head->content_length >= 0 ? 1u : 0u));
    CHECK(encodings == (chunked ? 1u : 0u));
    CHECK(cookies <= 1);
    evbuffer_free(out);
}

/* smuggled: names that must never survive as trailers, in any letter case. */
static bool smuggled(struct cg_str n)
{
    static const char *const names[] = {
        "content-length",
        "transfer-encoding",
        "host",
        "te",
        "trailer",
        "connection",
        "authorization",
        "cookie",
        "x-client-clearance",
        "x-client-name",
        "client-cert",
        "x-forwarded-for",
        "forwarded",
        "grpc-status",
        "content-type",
        "x-http-method-override",
    };
    if (n.len > 0 && n.p[0] == ':') {
        return true;
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (cg_str_case_eq_cstr(n, names[i])) {
            return true;
        }
    }
    return false;
}

static void check_trailers(const nghttp2_nv *nv, size_t num)
{
    struct h2_fields f = {0};
    for (size_t i = 0; i < num; i++) {
        h2_fields_add(&f, (const char *)nv[i].name, nv[i].namelen, (const char *)nv[i].value,
                      nv[i].valuelen, false);
    }
    size_t removed = h2_trailers_filter(&f, owned, NULL);
    CHECK(removed + f.num == num);
    size_t k = 0;
    for (size_t i = 0; i < num; i++) {
        struct cg_str n = {(const char *)nv[i].name, nv[i].namelen};
        if (!h2_trailer_allowed(n) || owned(NULL, &nv[i])) {
            continue;
        }
        CHECK(k < f.num);
        CHECK(f.nv[k].namelen == nv[i].namelen && memcmp(f.nv[k].name, nv[i].name, n.len) == 0);
        CHECK(f.nv[k].valuelen == nv[i].valuelen &&
              memcmp(f.nv[k].value, nv[i].value, nv[i].valuelen) == 0);
        k++;
    }
    CHECK(k == f.num);
    for (size_t i = 0; i < f.num; i++) {
        struct cg_str n = {(const char *)f.nv[i].name, f.nv[i].namelen};
        CHECK(!smuggled(n));
        CHECK(!policy_header_is_owned(NULL, n));
    }
    h2_fields_cleanup(&f);
}

/* next_line returns the next LF-terminated piece of [*p, end). */
static struct cg_str next_line(const char **p, const char *end)
{
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    struct cg_str s = {*p, (size_t)((nl ? nl : end) - *p)};
    *p = nl ? nl + 1 : end;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3) {
        return 0;
    }
    uint8_t flags = data[0];
    int64_t content_length = (flags & 2) ? (int64_t)(data[1] << 8 | data[2]) : -1;
    const char *p = (const char *)data + 3, *end = (const char *)data + size;
    struct cg_str method = next_line(&p, end);
    struct cg_str target = next_line(&p, end);
    struct cg_str authority = next_line(&p, end);
    if (!nghttp2_check_method((const uint8_t *)method.p, method.len) || method.len == 0 ||
        !nghttp2_check_path((const uint8_t *)target.p, target.len) ||
        (target.len == 0 || (target.p[0] != '/' && !cg_str_eq(target, CG_STR_LIT("*"))))) {
        return 0;
    }
    bool with_authority =
        (flags & 1) != 0 && nghttp2_check_authority((const uint8_t *)authority.p, authority.len);
    if (!h1_accepts(method, target, with_authority ? authority : CG_STR_LIT("localhost"))) {
        return 0;
    }
    static nghttp2_nv all[MAX_FIELDS], head_fields[MAX_FIELDS];
    size_t num = 0, num_head = 0;
    while (p < end && num < MAX_FIELDS) {
        struct cg_str line = next_line(&p, end);
        const char *colon = line.len > 1 ? memchr(line.p + 1, ':', line.len - 1) : NULL;
        if (colon == NULL) {
            continue;
        }
        nghttp2_nv nv = {(uint8_t *)(uintptr_t)line.p, (uint8_t *)(uintptr_t)(colon + 1),
                         (size_t)(colon - line.p), (size_t)(line.p + line.len - colon - 1),
                         NGHTTP2_NV_FLAG_NONE};
        bool pseudo = nv.name[0] == ':';
        /* nghttp2's HTTP messaging: lower-case token names, RFC 9113 values. */
        if ((!pseudo && !nghttp2_check_header_name(nv.name, nv.namelen)) ||
            (pseudo && !nghttp2_check_header_name(nv.name + 1, nv.namelen - 1)) ||
            !nghttp2_check_header_value_rfc9113(nv.value, nv.valuelen)) {
            continue;
        }
        all[num++] = nv;
        if (!pseudo && !owned(NULL, &nv)) {
            head_fields[num_head++] = nv; /* build_forward's list */
        }
    }
    struct h2_h1_head head = {
        .method = method,
        .target = target,
        /* proxy/http2/h2_to_h1.c: the upstream address when there is no :authority. */
        .host = with_authority ? authority : CG_STR_LIT("127.0.0.1:8080"),
        .fields = head_fields,
        .num_fields = num_head,
        .content_length = content_length,
        .body_follows = (flags & 4) != 0,
    };
    check_head(&head);
    check_trailers(all, num);
    return 0;
}
