#include "proxy/http1/h1_body.h"

#include "common/json_line.h"
#include "common/str.h"

void h1_body_chunk_header(struct evbuffer *out, size_t n)
{
    char line[16 + 2];
    char *e = cg_put_hex(line, n, 1);
    *e++ = '\r';
    *e++ = '\n';
    evbuffer_add(out, line, (size_t)(e - line));
}

int h1_body_move_chunked(struct h1_chunked *ck, struct evbuffer *in, struct evbuffer *out,
                         uint64_t *moved)
{
    while (evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0) {
            return 0;
        }
        size_t n = 0;
        enum h1_chunked_result r = h1_chunked_step(ck, v.iov_base, v.iov_len, &n);
        switch (r) {
        case H1_CHUNKED_DATA:
            evbuffer_remove_buffer(in, out, n);
            *moved += n;
            break;
        case H1_CHUNKED_FRAMING:
        case H1_CHUNKED_INCOMPLETE:
            evbuffer_drain(in, n);
            break;
        case H1_CHUNKED_DONE:
            evbuffer_drain(in, n);
            return 1;
        case H1_CHUNKED_ERROR:
            return -1;
        }
    }
    return 0;
}

const char *h1_status_text(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 417:
        return "Expectation Failed";
    case 421:
        return "Misdirected Request";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Status";
    }
}

const char *h1_error_name(int status)
{
    switch (status) {
    case 400:
        return "bad_request";
    case 403:
        return "forbidden";
    case 405:
        return "method_not_allowed";
    case 408:
        return "request_timeout";
    case 413:
        return "content_too_large";
    case 414:
        return "uri_too_long";
    case 417:
        return "expectation_failed";
    case 421:
        return "misdirected_request";
    case 431:
        return "header_fields_too_large";
    case 501:
        return "not_implemented";
    case 502:
        return "bad_gateway";
    case 503:
        return "service_unavailable";
    case 504:
        return "gateway_timeout";
    case 505:
        return "http_version_not_supported";
    default:
        return "error";
    }
}

size_t h1_error_body(char *out, int status, const char *reason, const char *request_id)
{
    struct cg_json_line l;
    /* One byte is kept back for the newline. */
    cg_json_line_begin(&l, out, H1_ERROR_BODY_SIZE - 1);
    cg_json_line_str(&l, "error", h1_error_name(status));
    cg_json_line_str(&l, "reason", reason);
    cg_json_line_str(&l, "request_id", request_id);
    size_t len = cg_json_line_end(&l);
    out[len++] = '\n';
    return len;
}
