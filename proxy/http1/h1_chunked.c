/* Incremental decoder of the chunked transfer coding (see h1_parse.h): a state machine
 * fed any split of the body, one table lookup per framing byte; data bytes pass through
 * in runs without being looked at. */
#include "proxy/http1/h1_parse.h"

#include "proxy/http1/h1_parse_internal.h"

/* A chunk-size line (size and extensions) is at most this long, CRLF excluded. */
#define MAX_CHUNK_LINE 4096
/* The trailer section (trailer fields and the final CRLF) is at most this long. */
#define MAX_TRAILERS 16384
/* More hex digits than this in a chunk size is an error even if they are zeros. */
#define MAX_CHUNK_DIGITS 16

/* States of struct h1_chunked (RFC 9112 §7.1). Zero is the initial state. */
enum chunk_state {
    CS_SIZE = 0,       /* start of a chunk-size line: a hex digit must come */
    CS_SIZE_MORE,      /* inside the chunk size: more hex digits, ';', BWS or CR */
    CS_SIZE_BWS,       /* whitespace after the size: only more of it or ';' may follow */
    CS_EXT_PRE_NAME,   /* after ';': BWS, then an extension name */
    CS_EXT_NAME,       /* inside an extension name (token) */
    CS_EXT_POST_NAME,  /* whitespace after a name: '=' or ';' must follow */
    CS_EXT_PRE_VAL,    /* after '=': BWS, then a token or a quoted-string */
    CS_EXT_TOKEN_VAL,  /* inside a token value */
    CS_EXT_QUOTED,     /* inside a quoted-string value */
    CS_EXT_QUOTED_ESC, /* after a backslash inside a quoted-string */
    CS_EXT_POST_VAL,   /* after a value: BWS then ';', or CR */
    CS_SIZE_LF,        /* CR of the size line seen, LF must follow */
    CS_DATA,           /* |remaining| data bytes to pass through */
    CS_DATA_CR,        /* chunk data ended: CR must follow */
    CS_DATA_LF,        /* CR after the chunk data seen, LF must follow */
    CS_TRAILER_START,  /* start of a trailer field line, or CR of the final empty line */
    CS_TRAILER_NAME,   /* inside a trailer field name */
    CS_TRAILER_VALUE,  /* inside a trailer field value, up to CR */
    CS_TRAILER_LF,     /* CR of a trailer field line seen, LF must follow */
    CS_FINAL_LF,       /* CR of the final empty line seen, LF must follow */
    CS_DONE,           /* the body ended */
    CS_ERROR,          /* malformed: stays so */
};

static unsigned hex_value(unsigned char ch)
{
    if (ch <= '9') {
        return ch - (unsigned)'0';
    }
    return (ch | 0x20u) - (unsigned)'a' + 10;
}

enum h1_chunked_result h1_chunked_step(struct h1_chunked *c, const char *buf, size_t len,
                                       size_t *out_len)
{
    *out_len = 0;
    switch (c->state) {
    case CS_DATA: {
        size_t n = c->remaining < len ? (size_t)c->remaining : len;
        c->remaining -= n;
        if (c->remaining == 0) {
            c->state = CS_DATA_CR;
        }
        *out_len = n;
        return H1_CHUNKED_DATA;
    }
    case CS_DONE:
        return H1_CHUNKED_DONE;
    case CS_ERROR:
        return H1_CHUNKED_ERROR;
    default:
        break;
    }

    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)buf[i];
        int st = c->state;

        if (st < CS_SIZE_LF) {
            /* The size line and its CR: at most MAX_CHUNK_LINE + 1 bytes. */
            if (++c->line_len > MAX_CHUNK_LINE + 1) {
                goto error;
            }
        } else if (st >= CS_TRAILER_START) {
            if (++c->trailer_len > MAX_TRAILERS) {
                goto error;
            }
        }

        switch (st) {
        case CS_SIZE:
            if (!IS(C_HEX, ch)) {
                goto error;
            }
            c->remaining = hex_value(ch);
            c->state = CS_SIZE_MORE;
            break;
        case CS_SIZE_MORE:
            if (IS(C_HEX, ch)) {
                /* line_len counts the digits so far, this one included. */
                if (c->line_len > MAX_CHUNK_DIGITS) {
                    goto error;
                }
                c->remaining = (c->remaining << 4) | hex_value(ch);
                if (c->remaining > MAX_BODY_LEN) {
                    goto error;
                }
            } else if (ch == ';') {
                c->state = CS_EXT_PRE_NAME;
            } else if (ch == '\r') {
                c->state = CS_SIZE_LF;
            } else if (is_ows((char)ch)) {
                c->state = CS_SIZE_BWS;
            } else {
                goto error;
            }
            break;
        case CS_SIZE_BWS:
            if (ch == ';') {
                c->state = CS_EXT_PRE_NAME;
            } else if (!is_ows((char)ch)) {
                goto error;
            }
            break;
        case CS_EXT_PRE_NAME:
            if (IS(C_TOKEN, ch)) {
                c->state = CS_EXT_NAME;
            } else if (!is_ows((char)ch)) {
                goto error;
            }
            break;
        case CS_EXT_NAME:
        case CS_EXT_POST_NAME:
            if (st == CS_EXT_NAME && IS(C_TOKEN, ch)) {
                break;
            }
            if (ch == '=') {
                c->state = CS_EXT_PRE_VAL;
            } else if (ch == ';') {
                c->state = CS_EXT_PRE_NAME;
            } else if (ch == '\r' && st == CS_EXT_NAME) {
                c->state = CS_SIZE_LF;
            } else if (is_ows((char)ch)) {
                c->state = CS_EXT_POST_NAME;
            } else {
                goto error;
            }
            break;
        case CS_EXT_PRE_VAL:
            if (ch == '"') {
                c->state = CS_EXT_QUOTED;
            } else if (IS(C_TOKEN, ch)) {
                c->state = CS_EXT_TOKEN_VAL;
            } else if (!is_ows((char)ch)) {
                goto error;
            }
            break;
        case CS_EXT_TOKEN_VAL:
            if (IS(C_TOKEN, ch)) {
                break;
            }
            if (ch == ';') {
                c->state = CS_EXT_PRE_NAME;
            } else if (ch == '\r') {
                c->state = CS_SIZE_LF;
            } else if (is_ows((char)ch)) {
                c->state = CS_EXT_POST_VAL;
            } else {
                goto error;
            }
            break;
        case CS_EXT_QUOTED:
            if (ch == '"') {
                c->state = CS_EXT_POST_VAL;
            } else if (ch == '\\') {
                c->state = CS_EXT_QUOTED_ESC;
            } else if (!IS(C_QDTEXT, ch)) {
                goto error;
            }
            break;
        case CS_EXT_QUOTED_ESC:
            /* quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ) */
            if (!IS(C_FIELD, ch)) {
                goto error;
            }
            c->state = CS_EXT_QUOTED;
            break;
        case CS_EXT_POST_VAL:
            if (ch == ';') {
                c->state = CS_EXT_PRE_NAME;
            } else if (ch == '\r') {
                c->state = CS_SIZE_LF;
            } else if (!is_ows((char)ch)) {
                goto error;
            }
            break;
        case CS_SIZE_LF:
            if (ch != '\n') {
                goto error;
            }
            c->line_len = 0;
            if (c->remaining == 0) {
                c->state = CS_TRAILER_START;
                c->trailer_len = 0;
                break;
            }
            c->state = CS_DATA;
            *out_len = i + 1;
            return H1_CHUNKED_FRAMING;
        case CS_DATA_CR:
            if (ch != '\r') {
                goto error;
            }
            c->state = CS_DATA_LF;
            break;
        case CS_DATA_LF:
            if (ch != '\n') {
                goto error;
            }
            c->state = CS_SIZE;
            c->line_len = 0;
            break;
        case CS_TRAILER_START:
            if (ch == '\r') {
                c->state = CS_FINAL_LF;
            } else if (IS(C_TOKEN, ch)) {
                c->state = CS_TRAILER_NAME;
            } else {
                goto error; /* obs-fold, bare LF, empty name, control character */
            }
            break;
        case CS_TRAILER_NAME:
            if (ch == ':') {
                c->state = CS_TRAILER_VALUE;
            } else if (!IS(C_TOKEN, ch)) {
                goto error;
            }
            break;
        case CS_TRAILER_VALUE:
            if (ch == '\r') {
                c->state = CS_TRAILER_LF;
            } else if (!IS(C_FIELD, ch)) {
                goto error;
            }
            break;
        case CS_TRAILER_LF:
            if (ch != '\n') {
                goto error;
            }
            c->state = CS_TRAILER_START;
            break;
        case CS_FINAL_LF:
            if (ch != '\n') {
                goto error;
            }
            c->state = CS_DONE;
            *out_len = i + 1;
            return H1_CHUNKED_DONE;
        default:
            goto error;
        }
    }
    *out_len = len;
    return H1_CHUNKED_INCOMPLETE;

error:
    c->state = CS_ERROR;
    *out_len = 0;
    return H1_CHUNKED_ERROR;
}
