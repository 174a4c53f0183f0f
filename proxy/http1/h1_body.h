/* Moving HTTP/1.1 bodies between evbuffers: the chunked decoder of h1_parse.h run over
 * an evbuffer, with body data moved (not copied) to the output; the chunk framing
 * certgate writes itself. Used for requests (proxy/http1/h1_server.c) and responses
 * (proxy/http1/h1_client.c). */
#ifndef CG_PROXY_HTTP1_H1_BODY_H
#define CG_PROXY_HTTP1_H1_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>

#include "proxy/http1/h1_parse.h"

/* h1_body_move_chunked decodes chunked framing from |in| and moves the body data to
 * |out| (chunk extensions and trailers are dropped). Framing bytes are drained from
 * |in|; bytes after the body stay in it. |*moved| is increased by the body bytes moved.
 * Returns 1 when the body ended, 0 when more input is needed, -1 on malformed framing
 * (the caller answers 400/502 or aborts). */
int h1_body_move_chunked(struct h1_chunked *ck, struct evbuffer *in, struct evbuffer *out,
                         uint64_t *moved);

/* h1_body_chunk_header writes the size line of a |n|-byte chunk ("%zx\r\n"). */
void h1_body_chunk_header(struct evbuffer *out, size_t n);

/* h1_status_text returns the reason phrase for |status| ("Bad Request"), or "Status"
 * for codes without one here (the phrase means nothing to a client, RFC 9112 §4).
 * Static storage. */
const char *h1_status_text(int status);

/* h1_error_name returns the snake_case name of an error status for the JSON bodies
 * certgate answers with ("bad_gateway"), or "error". */
const char *h1_error_name(int status);

/* H1_ERROR_BODY_SIZE is the buffer h1_error_body needs. */
#define H1_ERROR_BODY_SIZE 256

/* h1_error_body writes the JSON body certgate answers an error with,
 * {"error":h1_error_name(status),"reason":reason,"request_id":request_id} and a newline,
 * into |out| (H1_ERROR_BODY_SIZE bytes) and returns its length. */
size_t h1_error_body(char *out, int status, const char *reason, const char *request_id);

#endif
