#include "common/json_line.h"

#include <string.h>

#include "common/bug.h"
#include "common/str.h"
#include "common/timestamp.h"

#define TRUNCATED_MEMBER "\"truncated\":true"

/* Beyond the line's own bytes (whose '}' is counted in it): the comma and member that
 * cg_json_line_end may add, and the NUL. */
_Static_assert(CG_JSON_LINE_RESERVED == 1 + sizeof(TRUNCATED_MEMBER) - 1 + 1,
               "CG_JSON_LINE_RESERVED");


/* utf8_len returns the length of the valid UTF-8 sequence (2 to 4 bytes) starting at
 * |p| (|n| bytes available, p[0] >= 0x80), or 0 when it is not one: a stray
 * continuation byte, an overlong form, a surrogate, a code point beyond U+10FFFF or a
 * sequence cut short (RFC 3629 §4). */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned char b = p[0];
    unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    size_t len;
    if (b >= 0xc2 && b <= 0xdf) {
        len = 2;
    } else if (b >= 0xe0 && b <= 0xef) {
        len = 3;
        if (b == 0xe0) {
            lo = 0xa0; /* overlong below U+0800 */
        } else if (b == 0xed) {
            hi = 0x9f; /* surrogates U+D800-U+DFFF */
        }
    } else if (b >= 0xf0 && b <= 0xf4) {
        len = 4;
        if (b == 0xf0) {
            lo = 0x90; /* overlong below U+10000 */
        } else if (b == 0xf4) {
            hi = 0x8f; /* beyond U+10FFFF */
        }
    } else {
        return 0;
    }
    if (n < len || p[1] < lo || p[1] > hi) {
        return 0;
    }
    for (size_t i = 2; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }
    }
    return len;
}

static size_t put_u_escape(char *out, unsigned cp)
{
    out[0] = '\\';
    out[1] = 'u';
    cg_put_hex(out + 2, cp, 4); /* every cp here is at most 0xffff */
    return 6;
}

/* next_unit encodes the character at |p| (|n| > 0 bytes available) into |out| (at most 6
 * bytes), stores the encoded length in |*out_len| and returns how many input bytes it
 * took. Plain printable ASCII is handled by the caller's fast path, but works here too. */
static size_t next_unit(const unsigned char *p, size_t n, char out[6], size_t *out_len)
{
    unsigned char b = p[0];
    if (b < 0x80) {
        if (b == '"' || b == '\\') {
            out[0] = '\\';
            out[1] = (char)b;
            *out_len = 2;
        } else if (b == '\n' || b == '\r' || b == '\t') {
            out[0] = '\\';
            out[1] = b == '\n' ? 'n' : b == '\r' ? 'r' : 't';
            *out_len = 2;
        } else if (b < 0x20 || b == 0x7f) {
            *out_len = put_u_escape(out, b);
        } else {
            out[0] = (char)b;
            *out_len = 1;
        }
        return 1;
    }
    size_t len = utf8_len(p, n);
    if (len == 0) {
        *out_len = put_u_escape(out, 0xfffd);
        return 1;
    }
    if (len == 2 && b == 0xc2 && p[1] <= 0x9f) {
        *out_len = put_u_escape(out, p[1]); /* C1 control U+0080-U+009F */
    } else if (len == 3 && b == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9)) {
        *out_len = put_u_escape(out, p[2] == 0xa8 ? 0x2028 : 0x2029);
    } else {
        memcpy(out, p, len);
        *out_len = len;
    }
    return len;
}

/* plain[b] is 1 for the bytes copied as they are: printable ASCII but '"' and '\\'. A
 * table, because this test runs for every byte of every line. */
static const unsigned char plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10 */
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x20 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x30 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x40 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* 0x50 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x60 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, /* 0x70 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x80 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x90 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xa0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xb0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xc0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xd0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xe0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xf0 */
};

static bool is_plain(unsigned char b)
{
    return plain[b] != 0;
}

/* put_escaped writes |p|[0..n) escaped while it fits in |room| bytes; returns whether
 * everything was written. A unit is written whole or not at all. */
static bool put_escaped(struct cg_json_line *l, const unsigned char *p, size_t n, size_t room)
{
    char *out = l->buf + l->len;
    size_t used = 0;
    char unit[6];
    size_t i = 0;
    while (i < n) {
        size_t run = 0;
        while (i + run < n && is_plain(p[i + run])) {
            run++;
        }
        if (run > 0) {
            size_t take = run < room - used ? run : room - used;
            memcpy(out + used, p + i, take);
            used += take;
            i += take;
            if (take < run) {
                break;
            }
            continue;
        }
        size_t ulen;
        size_t consumed = next_unit(p + i, n - i, unit, &ulen);
        if (ulen > room - used) {
            break;
        }
        memcpy(out + used, unit, ulen);
        used += ulen;
        i += consumed;
    }
    l->len += used;
    return i == n;
}

void cg_json_line_begin(struct cg_json_line *l, char *buf, size_t buf_len)
{
    CG_BUG_ON(buf_len < CG_JSON_LINE_MIN);
    l->buf = buf;
    l->limit = buf_len - CG_JSON_LINE_RESERVED - 1; /* and the '}' */
    l->len = 0;
    l->truncated = false;
    buf[l->len++] = '{';
}

/* begin_member writes `,"key":` when it and |value_min| more bytes fit; otherwise it
 * leaves the line as it was, marks it truncated and returns false. */
static bool begin_member(struct cg_json_line *l, const char *key, size_t value_min)
{
    size_t start = l->len;
    size_t comma = l->len > 1 ? 1 : 0;
    /* The comma and quotes, the colon and the smallest value; then the key itself. */
    if (comma + 3 + value_min > l->limit - l->len) {
        l->truncated = true;
        return false;
    }
    if (comma) {
        l->buf[l->len++] = ',';
    }
    l->buf[l->len++] = '"';
    if (!put_escaped(l, (const unsigned char *)key, strlen(key),
                     l->limit - l->len - 2 - value_min)) {
        l->len = start;
        l->truncated = true;
        return false;
    }
    l->buf[l->len++] = '"';
    l->buf[l->len++] = ':';
    return true;
}

void cg_json_line_strn(struct cg_json_line *l, const char *key, const char *p, size_t len)
{
    if (!begin_member(l, key, 2)) {
        return;
    }
    l->buf[l->len++] = '"';
    /* One byte stays free for the closing quote. */
    if (len > 0 && !put_escaped(l, (const unsigned char *)p, len, l->limit - l->len - 1)) {
        l->truncated = true;
    }
    l->buf[l->len++] = '"';
}

void cg_json_line_str(struct cg_json_line *l, const char *key, const char *value)
{
    cg_json_line_strn(l, key, value, value != NULL ? strlen(value) : 0);
}

/* put_raw adds a member whose value is |n| bytes of ready JSON. */
static void put_raw(struct cg_json_line *l, const char *key, const char *value, size_t n)
{
    if (begin_member(l, key, n)) {
        memcpy(l->buf + l->len, value, n);
        l->len += n;
    }
}

void cg_json_line_u64(struct cg_json_line *l, const char *key, uint64_t v)
{
    char num[20];
    put_raw(l, key, num, (size_t)(cg_put_u64(num, v) - num));
}

void cg_json_line_i64(struct cg_json_line *l, const char *key, int64_t v)
{
    char num[21];
    char *p = num;
    uint64_t u = (uint64_t)v;
    if (v < 0) {
        *p++ = '-';
        u = 0 - u; /* also right for INT64_MIN */
    }
    put_raw(l, key, num, (size_t)(cg_put_u64(p, u) - num));
}

void cg_json_line_time(struct cg_json_line *l, const char *key, const struct timespec *ts)
{
    char value[CG_TIMESTAMP_LEN(CG_TIMESTAMP_MICROS) + 2];
    value[0] = '"';
    *cg_timestamp_format(value + 1, ts, CG_TIMESTAMP_MICROS) = '"';
    put_raw(l, key, value, sizeof(value));
}

size_t cg_json_line_end(struct cg_json_line *l)
{
    if (l->truncated) {
        if (l->len > 1) {
            l->buf[l->len++] = ',';
        }
        memcpy(l->buf + l->len, TRUNCATED_MEMBER, sizeof(TRUNCATED_MEMBER) - 1);
        l->len += sizeof(TRUNCATED_MEMBER) - 1;
    }
    l->buf[l->len++] = '}';
    l->buf[l->len] = '\0';
    return l->len;
}
