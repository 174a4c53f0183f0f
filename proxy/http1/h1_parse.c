/* Strict HTTP/1.1 head parser (see h1_parse.h); the chunked decoder is h1_chunked.c.
 *
 * One forward pass over the bytes, one table lookup per byte. The parser keeps no state
 * between calls: the caller hands it the whole head received so far each time and gets
 * INCOMPLETE until the empty line arrives. Each check runs as soon as its bytes are
 * there, so a malformed or oversized head is refused before it is complete. */
#include "proxy/http1/h1_parse.h"

#include "common/http_field.h"
#include "proxy/http1/h1_parse_internal.h"

#include <assert.h>
#include <string.h>

#define OBS8 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22

/* The classes of each byte (C_* in h1_parse_internal.h). */
const unsigned char h1_cclass[256] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0x00 ........ */
    0x00, 0x22, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0x08 ........ */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0x10 ........ */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0x18 ........ */
    0x22, 0x27, 0x06, 0x27, 0x27, 0x27, 0x27, 0x27, /* 0x20 .!"#$%&' */
    0x26, 0x26, 0x27, 0x27, 0x26, 0x37, 0x37, 0x26, /* 0x28 ()*+,-./ */
    0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, /* 0x30 01234567 */
    0x3f, 0x3f, 0x26, 0x26, 0x26, 0x26, 0x26, 0x26, /* 0x38 89:;<=>? */
    0x26, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x37, /* 0x40 @ABCDEFG */
    0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, /* 0x48 HIJKLMNO */
    0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, /* 0x50 PQRSTUVW */
    0x37, 0x37, 0x37, 0x26, 0x06, 0x26, 0x27, 0x37, /* 0x58 XYZ[\]^_ */
    0x27, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x37, /* 0x60 `abcdefg */
    0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, /* 0x68 hijklmno */
    0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, /* 0x70 pqrstuvw */
    0x37, 0x37, 0x37, 0x26, 0x27, 0x26, 0x37, 0x00, /* 0x78 xyz{|}~. */
    OBS8, OBS8, OBS8, OBS8, OBS8, OBS8, OBS8, OBS8, /* 0x80..0xbf obs-text */
    OBS8, OBS8, OBS8, OBS8, OBS8, OBS8, OBS8, OBS8, /* 0xc0..0xff obs-text */
};

bool h1_is_token_char(unsigned char c)
{
    return IS(C_TOKEN, c);
}

/* ---- head parsing ------------------------------------------------------------------- */

/* What one call of the head parser works on and learns. */
struct ctx {
    const char *buf;
    size_t len;        /* bytes available in buf */
    size_t max_head;   /* the head (including its final CRLF) must end at or before this */
    size_t lim;        /* min(len, max_head): scanning never reads at or past it */
    size_t max_fields; /* min(limits->max_headers, headers_cap) */
    bool is_request;
    int minor_version;
    struct h1_header *headers;
    size_t num_headers;
    unsigned flags;
    unsigned num_host;
    unsigned num_te;
    unsigned num_cl;
    bool conn_keepalive;
    uint64_t content_length;
    struct cg_str host;
    struct cg_str user_agent;
    int status;         /* on error: the status to answer */
    const char *reason; /* on error: static text for logs */
};

static enum h1_parse_result fail(struct ctx *cx, int status, const char *reason)
{
    cx->status = status;
    cx->reason = reason;
    return H1_PARSE_ERROR;
}

/* stop decides what running out of bytes at offset |p| means: p is the offset of a byte
 * the head still needs, so past the head limit the head is too large, else the caller
 * must wait for more. */
static enum h1_parse_result stop(struct ctx *cx, size_t p)
{
    if (p >= cx->max_head) {
        return fail(cx, 431, "header section too large");
    }
    return H1_PARSE_INCOMPLETE;
}

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* parse_uint parses 1*DIGIT without sign into *out; false if empty, not all digits, or
 * above MAX_BODY_LEN. */
static bool parse_uint(struct cg_str v, uint64_t *out)
{
    uint64_t n = 0;
    if (v.len == 0) {
        return false;
    }
    for (size_t i = 0; i < v.len; i++) {
        unsigned d = (unsigned char)v.p[i] - (unsigned)'0';
        if (d > 9 || n > (MAX_BODY_LEN - d) / 10) {
            return false;
        }
        n = n * 10 + d;
    }
    *out = n;
    return true;
}

/* valid_authority checks host [":" port] (RFC 3986 §3.2.2-3), stricter than the RFC:
 * the host is a non-empty name or IPv4 address made of unreserved characters and
 * pct-encodings (no sub-delims: a ',' would hint at merged duplicates), or an IPv6
 * literal in brackets (hex digits, ':' and '.'; no zone id, no IPvFuture); no userinfo,
 * no whitespace. The port, when the colon is present, is 1 to 5 digits up to 65535;
 * |need_port| makes it mandatory (CONNECT). */
static bool valid_authority(struct cg_str a, bool need_port)
{
    size_t i = 0;
    if (a.len == 0) {
        return false;
    }
    if (a.p[0] == '[') {
        bool colon = false;
        for (i = 1; i < a.len && a.p[i] != ']'; i++) {
            if (a.p[i] == ':') {
                colon = true;
            } else if (a.p[i] != '.' && !IS(C_HEX, a.p[i])) {
                return false;
            }
        }
        if (i == a.len || !colon) {
            return false;
        }
        i++; /* ']' */
    } else {
        while (i < a.len && a.p[i] != ':') {
            if (a.p[i] == '%') {
                if (i + 2 >= a.len || !IS(C_HEX, a.p[i + 1]) || !IS(C_HEX, a.p[i + 2])) {
                    return false;
                }
                i += 3;
            } else if (IS(C_REGNAME, a.p[i])) {
                i++;
            } else {
                return false;
            }
        }
        if (i == 0) {
            return false;
        }
    }
    if (i == a.len) {
        return !need_port;
    }
    if (a.p[i] != ':') {
        return false;
    }
    i++;
    size_t digits = a.len - i;
    if (digits == 0 || digits > 5) {
        return false;
    }
    unsigned port = 0;
    for (; i < a.len; i++) {
        unsigned d = (unsigned char)a.p[i] - (unsigned)'0';
        if (d > 9) {
            return false;
        }
        port = port * 10 + d;
    }
    return port <= 65535;
}

/* on_field interprets one header field that matters to framing or to the flags. It runs
 * as soon as the field line is complete, so smuggling attempts fail early. */
static enum h1_parse_result on_field(struct ctx *cx, struct cg_str name, struct cg_str value)
{
    struct cg_str list;
    struct cg_str tok;

    switch (name.len) {
    case 2:
        if (cg_str_case_eq(name, CG_STR_LIT("te"))) {
            list = value;
            while (cg_str_next_token(&list, &tok)) {
                if (cg_str_case_eq(tok, CG_STR_LIT("trailers"))) {
                    cx->flags |= H1_F_HAS_TE_TRAILERS;
                }
            }
        }
        break;
    case 4:
        if (cx->is_request && cg_str_case_eq(name, CG_STR_LIT("host"))) {
            if (++cx->num_host > 1) {
                return fail(cx, 400, "duplicate Host");
            }
            if (!valid_authority(value, false)) {
                return fail(cx, 400, "invalid Host");
            }
            cx->host = value;
        }
        break;
    case 6:
        /* An HTTP/1.0 server ignores expectations (RFC 9110 §10.1.1). */
        if (cx->is_request && cx->minor_version == 1 &&
            cg_str_case_eq(name, CG_STR_LIT("expect"))) {
            list = value;
            while (cg_str_next_token(&list, &tok)) {
                if (!cg_str_case_eq(tok, CG_STR_LIT("100-continue"))) {
                    return fail(cx, 417, "unsupported expectation");
                }
                cx->flags |= H1_F_EXPECT_CONTINUE;
            }
        }
        break;
    case 7:
        if (cg_str_case_eq(name, CG_STR_LIT("upgrade"))) {
            cx->flags |= H1_F_HAS_UPGRADE;
        }
        break;
    case 10:
        if (cg_str_case_eq(name, CG_STR_LIT("connection"))) {
            list = value;
            while (cg_str_next_token(&list, &tok)) {
                if (cg_str_case_eq(tok, CG_STR_LIT("close"))) {
                    cx->flags |= H1_F_CONN_CLOSE;
                } else if (cg_str_case_eq(tok, CG_STR_LIT("keep-alive"))) {
                    cx->flags |= H1_F_CONN_KEEPALIVE;
                } else if (cg_str_case_eq(tok, CG_STR_LIT("upgrade"))) {
                    cx->flags |= H1_F_CONN_UPGRADE;
                }
            }
        } else if (cx->is_request && cx->user_agent.p == NULL &&
                   cg_str_case_eq(name, CG_STR_LIT("user-agent"))) {
            cx->user_agent = value; /* for the access log only */
        }
        break;
    case 14:
        if (cg_str_case_eq(name, CG_STR_LIT("content-length"))) {
            if (++cx->num_cl > 1) {
                return fail(cx, 400, "duplicate Content-Length");
            }
            if (cx->num_te > 0) {
                return fail(cx, 400, "Content-Length with Transfer-Encoding");
            }
            if (!parse_uint(value, &cx->content_length)) {
                return fail(cx, 400, "invalid Content-Length");
            }
        }
        break;
    case 17:
        if (cg_str_case_eq(name, CG_STR_LIT("transfer-encoding"))) {
            if (++cx->num_te > 1) {
                return fail(cx, 400, "duplicate Transfer-Encoding");
            }
            if (cx->num_cl > 0) {
                return fail(cx, 400, "Content-Length with Transfer-Encoding");
            }
            if (cx->minor_version == 0) {
                return fail(cx, 400, "Transfer-Encoding in HTTP/1.0");
            }
            if (!cg_str_case_eq(value, CG_STR_LIT("chunked"))) {
                return fail(cx, 400, "Transfer-Encoding other than chunked");
            }
        }
        break;
    default:
        break;
    }
    return H1_PARSE_OK;
}

/* parse_fields parses the field lines from offset |p| up to and including the empty
 * line, storing them in cx->headers; *out_head_len is the offset just past it. */
static enum h1_parse_result parse_fields(struct ctx *cx, size_t p, size_t *out_head_len)
{
    const char *b = cx->buf;
    const size_t lim = cx->lim;

    for (;;) {
        if (p >= lim) {
            return stop(cx, p);
        }
        if (b[p] == '\r') {
            if (p + 1 >= lim) {
                return stop(cx, p + 1);
            }
            if (b[p + 1] != '\n') {
                return fail(cx, 400, "bare CR");
            }
            *out_head_len = p + 2;
            return H1_PARSE_OK;
        }

        size_t name_start = p;
        while (p < lim && IS(C_TOKEN, b[p])) {
            p++;
        }
        if (p >= lim) {
            return stop(cx, p);
        }
        if (b[p] != ':') {
            if (p == name_start && is_ows(b[p])) {
                return fail(cx, 400, "obs-fold or whitespace before a field name");
            }
            if (b[p] == '\n') {
                return fail(cx, 400, "bare LF");
            }
            if (is_ows(b[p])) {
                return fail(cx, 400, "whitespace before colon");
            }
            if (b[p] == '\r') {
                return fail(cx, 400, "field line without colon");
            }
            return fail(cx, 400, "invalid character in field name");
        }
        if (p == name_start) {
            return fail(cx, 400, "empty field name");
        }
        if (cx->num_headers >= cx->max_fields) {
            return fail(cx, 431, "too many header fields");
        }
        struct cg_str name = {b + name_start, p - name_start};

        p++; /* ':' */
        while (p < lim && is_ows(b[p])) {
            p++;
        }
        size_t value_start = p;
        while (p < lim && IS(C_FIELD, b[p])) {
            p++;
        }
        if (p >= lim) {
            return stop(cx, p);
        }
        if (b[p] != '\r') {
            return fail(cx, 400, b[p] == '\n' ? "bare LF" : "invalid character in field value");
        }
        if (p + 1 >= lim) {
            return stop(cx, p + 1);
        }
        if (b[p + 1] != '\n') {
            return fail(cx, 400, "bare CR");
        }
        size_t value_end = p;
        while (value_end > value_start && is_ows(b[value_end - 1])) {
            value_end--;
        }
        p += 2;

        struct cg_str value = {b + value_start, value_end - value_start};
        cx->headers[cx->num_headers].name = name;
        cx->headers[cx->num_headers].value = value;
        cx->num_headers++;
        enum h1_parse_result r = on_field(cx, name, value);
        if (r != H1_PARSE_OK) {
            return r;
        }
    }
}

/* parse_version checks "HTTP/1.0" or "HTTP/1.1" at b[p..p+8), of which |avail| bytes
 * are present (a prefix is checked as far as it goes). Returns 1 when complete, 0 for
 * a valid prefix, -1 for 400 and -2 for 505 (a well-formed version other than 1.x). */
static int parse_version(const char *v, size_t avail, int *out_minor)
{
    static const char prefix[] = "HTTP/";
    size_t n = min_size(avail, 8);

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (i < 5) {
            if (c != (unsigned char)prefix[i]) {
                return -1;
            }
        } else if (i == 6) {
            if (c != '.') {
                return -1;
            }
        } else if (c - (unsigned)'0' > 9) {
            return -1;
        }
    }
    if (n < 8) {
        return 0;
    }
    if (v[5] != '1' || v[7] > '1') {
        return -2;
    }
    *out_minor = v[7] - '0';
    return 1;
}

/* line_too_long reports an over-long start line: 414 for a request line. */
static enum h1_parse_result line_too_long(struct ctx *cx)
{
    if (cx->is_request) {
        return fail(cx, 414, "request line too long");
    }
    return fail(cx, 502, "status line too long");
}

/* init_ctx applies the limits. */
static void init_ctx(struct ctx *cx, const char *buf, size_t len, const struct h1_limits *limits,
                     struct h1_header *headers, size_t headers_cap, size_t *out_max_line)
{
    assert(limits != NULL && limits->max_request_line > 0 && limits->max_head > 0 &&
           limits->max_headers > 0);
    size_t max_line = limits->max_request_line;
    size_t max_head = limits->max_head;
    size_t max_headers = limits->max_headers;

    memset(cx, 0, sizeof(*cx));
    cx->buf = buf;
    cx->len = len;
    cx->max_head = max_head;
    cx->lim = min_size(len, max_head);
    cx->max_fields = min_size(max_headers, headers_cap);
    cx->headers = headers;
    *out_max_line = max_line;
}

/* line_limit is the offset at which the content of a start line beginning at |start|
 * becomes too long: its CR may sit there, no other byte may. */
static size_t line_limit(size_t start, size_t max_line)
{
    return max_line > SIZE_MAX - start ? SIZE_MAX : start + max_line;
}

/* end_line expects the CRLF ending a start line at |p| and advances past it. */
static enum h1_parse_result end_line(struct ctx *cx, size_t *p)
{
    const char *b = cx->buf;
    if (*p >= cx->lim) {
        return stop(cx, *p);
    }
    if (b[*p] != '\r') {
        return fail(cx, 400, b[*p] == '\n' ? "bare LF" : "invalid start line");
    }
    if (*p + 1 >= cx->lim) {
        return stop(cx, *p + 1);
    }
    if (b[*p + 1] != '\n') {
        return fail(cx, 400, "bare CR");
    }
    *p += 2;
    return H1_PARSE_OK;
}

static enum h1_parse_result parse_request_line(struct ctx *cx, size_t max_line,
                                               struct h1_request *out, size_t *io_p)
{
    const char *b = cx->buf;
    size_t p = *io_p;

    /* Empty lines before the request line are ignored (RFC 9112 §2.2): some clients
     * send a CRLF after a POST body. They count against max_head. */
    while (p < cx->lim && b[p] == '\r') {
        if (p + 1 >= cx->lim) {
            return stop(cx, p + 1);
        }
        if (b[p + 1] != '\n') {
            return fail(cx, 400, "bare CR");
        }
        p += 2;
    }
    const size_t start = p;
    const size_t line_lim = line_limit(start, max_line);

    while (p < cx->lim && IS(C_TOKEN, b[p])) {
        p++;
    }
    /* The method and the target must be followed by more of the line. */
    if (p >= line_lim) {
        return line_too_long(cx);
    }
    if (p >= cx->lim) {
        return stop(cx, p);
    }
    if (p == start) {
        return fail(cx, 400, b[p] == '\n' ? "bare LF" : "missing or invalid method");
    }
    if (b[p] != ' ') {
        return fail(cx, 400, "invalid character in method");
    }
    out->method = (struct cg_str){b + start, p - start};

    size_t target_start = ++p;
    while (p < cx->lim && IS(C_TARGET, b[p])) {
        p++;
    }
    if (p >= line_lim) {
        return line_too_long(cx);
    }
    if (p >= cx->lim) {
        return stop(cx, p);
    }
    if (p == target_start) {
        return fail(cx, 400, "missing request-target");
    }
    if (b[p] != ' ') {
        return fail(cx, 400,
                    b[p] == '\r' || b[p] == '\n' ? "missing HTTP version"
                                                 : "invalid character in request-target");
    }
    out->target = (struct cg_str){b + target_start, p - target_start};

    p++;
    if (line_lim - p < 8) {
        return line_too_long(cx);
    }
    size_t avail = p < cx->lim ? cx->lim - p : 0;
    switch (parse_version(b + p, avail, &cx->minor_version)) {
    case 1:
        break;
    case 0:
        return stop(cx, p + avail);
    case -2:
        return fail(cx, 505, "HTTP version not supported");
    default:
        return fail(cx, 400, "invalid HTTP version");
    }
    p += 8;
    enum h1_parse_result r = end_line(cx, &p);
    if (r == H1_PARSE_OK) {
        *io_p = p;
    }
    return r;
}

static const char slash[] = "/";

/* classify_target checks the request-target form against the method (RFC 9112 §3.2)
 * and fills out->path and out->authority. */
static enum h1_parse_result classify_target(struct ctx *cx, struct h1_request *out)
{
    struct cg_str t = out->target;

    if (cg_str_eq(out->method, CG_STR_LIT("CONNECT"))) {
        if (!valid_authority(t, true)) {
            return fail(cx, 400, "CONNECT needs authority-form host:port");
        }
        out->authority = t;
        return H1_PARSE_OK;
    }
    if (t.p[0] == '/') {
        out->path = t;
        return H1_PARSE_OK;
    }
    if (t.len == 1 && t.p[0] == '*') {
        if (!cg_str_eq(out->method, CG_STR_LIT("OPTIONS"))) {
            return fail(cx, 400, "asterisk-form without OPTIONS");
        }
        out->path = t;
        return H1_PARSE_OK;
    }

    size_t i;
    if (t.len >= 7 && cg_str_case_eq((struct cg_str){t.p, 7}, CG_STR_LIT("http://"))) {
        i = 7;
    } else if (t.len >= 8 && cg_str_case_eq((struct cg_str){t.p, 8}, CG_STR_LIT("https://"))) {
        i = 8;
    } else {
        return fail(cx, 400, "invalid request-target");
    }
    size_t auth_start = i;
    while (i < t.len && t.p[i] != '/' && t.p[i] != '?' && t.p[i] != '#') {
        i++;
    }
    out->authority = (struct cg_str){t.p + auth_start, i - auth_start};
    if (!valid_authority(out->authority, false)) {
        return fail(cx, 400, "invalid authority in absolute-form");
    }
    if (i == t.len) {
        out->path = (struct cg_str){slash, 1};
    } else if (t.p[i] == '/') {
        out->path = (struct cg_str){t.p + i, t.len - i};
    } else {
        return fail(cx, 400, "absolute-form without path");
    }
    return H1_PARSE_OK;
}

static enum h1_parse_result finish_request(struct ctx *cx, struct h1_request *out)
{
    if (cx->minor_version == 1 && cx->num_host == 0) {
        return fail(cx, 400, "missing Host");
    }
    /* Absolute-form: the Host header must name the same authority (RFC 9112 §3.2.2
     * makes the target win; refusing a mismatch keeps policy and upstream in step). */
    if (out->authority.len > 0 && cx->num_host > 0 && out->path.len > 0 &&
        !cg_str_case_eq(cx->host, out->authority)) {
        return fail(cx, 400, "absolute-form to an unexpected host");
    }
    if (cx->minor_version == 0 && !(cx->flags & H1_F_CONN_KEEPALIVE)) {
        cx->flags |= H1_F_CONN_CLOSE;
    }
    if (cx->num_host == 1) {
        cx->flags |= H1_F_HAS_HOST;
    }
    if (cx->num_te > 0) {
        out->body = H1_BODY_CHUNKED;
    } else if (cx->num_cl > 0) {
        out->body = H1_BODY_LENGTH;
        out->content_length = cx->content_length;
    }
    out->minor_version = cx->minor_version;
    out->host = cx->host;
    out->user_agent = cx->user_agent;
    out->headers = cx->headers;
    out->num_headers = cx->num_headers;
    out->flags = cx->flags;
    return H1_PARSE_OK;
}

enum h1_parse_result h1_parse_request(const char *buf, size_t len, const struct h1_limits *limits,
                                      struct h1_header *headers, size_t headers_cap,
                                      struct h1_request *out)
{
    struct ctx cx;
    size_t max_line;
    size_t p = 0;
    size_t head_len = 0;

    memset(out, 0, sizeof(*out));
    init_ctx(&cx, buf, len, limits, headers, headers_cap, &max_line);
    cx.is_request = true;

    enum h1_parse_result r = parse_request_line(&cx, max_line, out, &p);
    if (r == H1_PARSE_OK) {
        r = classify_target(&cx, out);
    }
    if (r == H1_PARSE_OK) {
        r = parse_fields(&cx, p, &head_len);
    }
    if (r == H1_PARSE_OK) {
        r = finish_request(&cx, out);
    }
    if (r != H1_PARSE_OK) {
        memset(out, 0, sizeof(*out));
        if (r == H1_PARSE_ERROR) {
            out->error_status = cx.status;
            out->error_reason = cx.reason;
        }
        return r;
    }
    out->head_len = head_len;
    return H1_PARSE_OK;
}

static enum h1_parse_result parse_status_line(struct ctx *cx, size_t max_line,
                                              struct h1_response *out, size_t *io_p)
{
    const char *b = cx->buf;
    const size_t line_lim = line_limit(0, max_line);

    if (line_lim < 13) {
        return line_too_long(cx);
    }
    switch (parse_version(b, cx->lim, &cx->minor_version)) {
    case 1:
        break;
    case 0:
        return stop(cx, cx->lim);
    default:
        return fail(cx, 502, "invalid HTTP version");
    }
    /* SP 3DIGIT SP; the reason phrase may be empty but the SP before it may not. */
    int status = 0;
    for (size_t p = 8; p < 13; p++) {
        if (p >= cx->lim) {
            return stop(cx, p);
        }
        if (p == 8 || p == 12) {
            if (b[p] != ' ') {
                return fail(cx, 502, "invalid status line");
            }
            continue;
        }
        unsigned d = (unsigned char)b[p] - (unsigned)'0';
        if (d > 9) {
            return fail(cx, 502, "invalid status code");
        }
        status = status * 10 + (int)d;
    }
    if (status < 100) {
        return fail(cx, 502, "invalid status code");
    }
    size_t p = 13;
    while (p < cx->lim && IS(C_FIELD, b[p])) {
        p++;
    }
    if (p > line_lim) {
        return line_too_long(cx);
    }
    out->status = status;
    out->reason = (struct cg_str){b + 13, p - 13};
    enum h1_parse_result r = end_line(cx, &p);
    if (r == H1_PARSE_OK) {
        *io_p = p;
    }
    return r;
}

/* finish_response decides the body framing of a response (RFC 9112 §6.3). */
static void finish_response(struct ctx *cx, struct cg_str request_method, struct h1_response *out)
{
    int s = out->status;

    if (cx->minor_version == 0 && !(cx->flags & H1_F_CONN_KEEPALIVE)) {
        cx->flags |= H1_F_CONN_CLOSE;
    }
    if (cg_str_eq(request_method, CG_STR_LIT("HEAD")) || (s >= 100 && s < 200) || s == 204 ||
        s == 304 || (s >= 200 && s < 300 && cg_str_eq(request_method, CG_STR_LIT("CONNECT")))) {
        out->body = H1_BODY_NONE;
    } else if (cx->num_te > 0) {
        out->body = H1_BODY_CHUNKED;
    } else if (cx->num_cl > 0) {
        out->body = H1_BODY_LENGTH;
        out->content_length = cx->content_length;
    } else {
        out->body = H1_BODY_UNTIL_CLOSE;
    }
    out->minor_version = cx->minor_version;
    out->headers = cx->headers;
    out->num_headers = cx->num_headers;
    out->flags = cx->flags;
}

enum h1_parse_result h1_parse_response(const char *buf, size_t len, const struct h1_limits *limits,
                                       struct cg_str request_method, struct h1_header *headers,
                                       size_t headers_cap, struct h1_response *out)
{
    struct ctx cx;
    size_t max_line;
    size_t p = 0;
    size_t head_len = 0;

    memset(out, 0, sizeof(*out));
    init_ctx(&cx, buf, len, limits, headers, headers_cap, &max_line);

    enum h1_parse_result r = parse_status_line(&cx, max_line, out, &p);
    if (r == H1_PARSE_OK) {
        r = parse_fields(&cx, p, &head_len);
    }
    if (r != H1_PARSE_OK) {
        memset(out, 0, sizeof(*out));
        if (r == H1_PARSE_ERROR) {
            out->error_reason = cx.reason;
        }
        return r;
    }
    finish_response(&cx, request_method, out);
    out->head_len = head_len;
    return H1_PARSE_OK;
}
void h1_mark_hop_by_hop(struct h1_header *headers, size_t num_headers)
{
    bool any_connection = false;
    for (size_t i = 0; i < num_headers; i++) {
        headers[i].hop_by_hop = cg_http_field_hop_by_hop(headers[i].name);
        any_connection = any_connection || (headers[i].hop_by_hop && headers[i].name.len == 10 &&
                                            cg_str_case_eq(headers[i].name, CG_STR_LIT("connection")));
    }
    if (!any_connection) {
        return;
    }
    for (size_t i = 0; i < num_headers; i++) {
        if (!cg_str_case_eq(headers[i].name, CG_STR_LIT("connection"))) {
            continue;
        }
        struct cg_str list = headers[i].value, tok;
        while (cg_str_next_token(&list, &tok)) {
            for (size_t j = 0; j < num_headers; j++) {
                if (!headers[j].hop_by_hop && cg_str_case_eq(headers[j].name, tok)) {
                    headers[j].hop_by_hop = true;
                }
            }
        }
    }
}
