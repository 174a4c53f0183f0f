#include "proxy/http2/h2_to_h1_head.h"

#include <string.h>

#include "proxy/http1/head_writer.h"

static bool name_is(const nghttp2_nv *nv, const char *name, size_t len)
{
    return nv->namelen == len && memcmp(nv->name, name, len) == 0;
}

/* skipped: pseudo-headers, and what a proxy re-derives (Host, Content-Length, TE) or
 * must never pass between connections. nghttp2 refuses the connection-specific fields
 * in HTTP/2 requests already (RFC 9113 §8.2.2); they are skipped here too so that no
 * list given to this function can smuggle framing. Expect is dropped as on the
 * HTTP/1.1 front end: the body is streamed anyway, and an HTTP/1.1 database answers an
 * unknown expectation with 417. */
static bool skipped(const nghttp2_nv *nv)
{
    if (nv->namelen == 0 || nv->name[0] == ':') {
        return true;
    }
    switch (nv->namelen) {
    case 2:
        return name_is(nv, "te", 2);
    case 4:
        return name_is(nv, "host", 4);
    case 6:
        return name_is(nv, "expect", 6);
    case 7:
        return name_is(nv, "upgrade", 7);
    case 10:
        return name_is(nv, "connection", 10) || name_is(nv, "keep-alive", 10);
    case 14:
        return name_is(nv, "content-length", 14) || name_is(nv, "http2-settings", 14);
    case 16:
        return name_is(nv, "proxy-connection", 16);
    case 17:
        return name_is(nv, "transfer-encoding", 17);
    default:
        return false;
    }
}

bool h2_h1_head_write(struct evbuffer *out, const struct h2_h1_head *head)
{
    const nghttp2_nv *f = head->fields;
    /* Upper bound, kept tight (a chain of libevent's smallest size holds a typical
     * head): the request line, Host, every regular field on a line of its own
     * ("name: value\r\n"; joined cookies take less), a framing field, the final CRLF. */
    size_t max = head->method.len + 1 + head->target.len + 11 + 6 + head->host.len + 2 + 38 + 2;
    for (size_t i = 0; i < head->num_fields; i++) {
        if (!skipped(&f[i])) {
            max += f[i].namelen + f[i].valuelen + 4;
        }
    }
    struct head_writer w;
    hw_begin(&w, out, max);
    hw_str(&w, head->method);
    HW_LIT(&w, " ");
    hw_str(&w, head->target);
    HW_LIT(&w, " HTTP/1.1\r\n");
    hw_header(&w, CG_STR_LIT("Host"), head->host);
    bool cookie = false;
    for (size_t i = 0; i < head->num_fields; i++) {
        const nghttp2_nv *nv = &f[i];
        if (skipped(nv)) {
            continue;
        }
        if (name_is(nv, "cookie", 6)) {
            if (cookie) {
                continue;
            }
            /* One field, the crumbs joined with "; " (RFC 9113 §8.2.3). */
            cookie = true;
            HW_LIT(&w, "cookie: ");
            bool first = true;
            for (size_t j = i; j < head->num_fields; j++) {
                if (name_is(&f[j], "cookie", 6)) {
                    if (!first) {
                        HW_LIT(&w, "; ");
                    }
                    hw_put(&w, f[j].value, f[j].valuelen);
                    first = false;
                }
            }
            HW_LIT(&w, "\r\n");
            continue;
        }
        hw_header(&w, (struct cg_str){(const char *)nv->name, nv->namelen},
                  (struct cg_str){(const char *)nv->value, nv->valuelen});
    }
    bool chunked = false;
    if (head->content_length >= 0) {
        HW_LIT(&w, "Content-Length: ");
        hw_u64(&w, (uint64_t)head->content_length);
        HW_LIT(&w, "\r\n");
    } else if (head->body_follows) {
        HW_LIT(&w, "Transfer-Encoding: chunked\r\n");
        chunked = true;
    }
    HW_LIT(&w, "\r\n");
    hw_end(&w);
    return chunked;
}
