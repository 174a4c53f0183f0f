#include "control/http_reply.h"

#include "proxy/http1/h1_body.h"

void http_reply_head(struct evbuffer *out, int status, const char *content_type, size_t body_len,
                     const char *extra, size_t extra_len, bool close)
{
    evbuffer_add_printf(out,
                        "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                        "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
                        "%.*s%s\r\n",
                        status, h1_status_text(status), content_type, body_len, (int)extra_len,
                        extra != NULL ? extra : "", close ? "Connection: close\r\n" : "");
}
