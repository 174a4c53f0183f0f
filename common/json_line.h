/* One JSON object on one line, written into a caller's fixed buffer without allocating:
 * every JSON line certgate writes (access log, connection refusals, admin audit) and its
 * own small JSON error bodies go through here, so that no field anywhere can be left
 * unescaped.
 *
 * Escaping: every string (keys too) is written as a JSON string whatever its bytes are.
 * `"` and `\` are escaped, as is every control character (C0, DEL, and the C1 controls
 * U+0080-U+009F, which some terminals obey) and U+2028/U+2029 (line separators to some
 * readers). Valid UTF-8 is copied as it is; each byte of an invalid sequence (stray
 * continuation, overlong form, surrogate, beyond U+10FFFF, cut short) becomes \ufffd.
 * A value can therefore never close its string, add a member or start a new line.
 *
 * Truncation: the line is never emitted broken. Room for the ending
 * `,"truncated":true}` is reserved from the start; a string value that does not fit is
 * cut at a character boundary (never inside an escape or a UTF-8 sequence), a member
 * that does not fit at all is left out, and the object then ends with
 * "truncated":true. */
#ifndef CG_COMMON_JSON_LINE_H
#define CG_COMMON_JSON_LINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* CG_JSON_LINE_RESERVED is what a buffer needs beyond the complete line it must hold:
 * room for `,"truncated":true` stays reserved until the end (the NUL is counted). A line
 * of n bytes comes out whole in a buffer of n + CG_JSON_LINE_RESERVED bytes. */
#define CG_JSON_LINE_RESERVED 18

/* CG_JSON_LINE_MIN is the smallest buffer cg_json_line_begin accepts. */
#define CG_JSON_LINE_MIN 32

struct cg_json_line {
    char *buf;      /* the caller's buffer */
    size_t limit;   /* members end before this offset (the ending is reserved after it) */
    size_t len;     /* bytes written so far, <= limit */
    bool truncated; /* a member was cut or left out */
};

/* cg_json_line_begin starts an object in |buf| (|buf_len| >= CG_JSON_LINE_MIN bytes,
 * owned by the caller, which must outlive |l|). */
void cg_json_line_begin(struct cg_json_line *l, char *buf, size_t buf_len);

/* cg_json_line_str adds "key": "value" with |value| NUL-terminated; NULL is written as
 * "". */
void cg_json_line_str(struct cg_json_line *l, const char *key, const char *value);

/* cg_json_line_strn adds "key": "value" for |len| bytes at |p| (NUL bytes included, as
 * \u0000). |p| may be NULL when |len| is 0. */
void cg_json_line_strn(struct cg_json_line *l, const char *key, const char *p, size_t len);

/* cg_json_line_u64 and cg_json_line_i64 add "key": number. */
void cg_json_line_u64(struct cg_json_line *l, const char *key, uint64_t v);
void cg_json_line_i64(struct cg_json_line *l, const char *key, int64_t v);

/* cg_json_line_time adds "key": "YYYY-MM-DDTHH:MM:SS.uuuuuuZ", |ts| in UTC (a
 * CLOCK_REALTIME reading) with microseconds (cg_timestamp_format). */
void cg_json_line_time(struct cg_json_line *l, const char *key, const struct timespec *ts);

/* cg_json_line_end closes the object (adding "truncated":true when something did not
 * fit), NUL-terminates it and returns its length without the NUL and without a newline.
 * |l| must not be used afterwards. */
size_t cg_json_line_end(struct cg_json_line *l);

#endif
