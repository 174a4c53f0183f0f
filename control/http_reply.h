/* The head of a response from one of certgate's own plain HTTP/1.1 servers on the main
 * thread (the admin API, control/admin/admin_server.c, and the status port,
 * control/status_server.c): one format, the same safety headers. */
#ifndef CG_CONTROL_HTTP_REPLY_H
#define CG_CONTROL_HTTP_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/buffer.h>

/* http_reply_head appends to |out| the status line of |status|, Content-Type
 * |content_type|, Content-Length |body_len|, Cache-Control: no-store,
 * X-Content-Type-Options: nosniff, the |extra_len| bytes of |extra| (header lines, each
 * ending in CRLF; may be NULL when 0), Connection: close when |close|, and the empty
 * line. */
void http_reply_head(struct evbuffer *out, int status, const char *content_type, size_t body_len,
                     const char *extra, size_t extra_len, bool close);

#endif
