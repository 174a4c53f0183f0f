/* Writing an HTTP/1.1 head in place: one contiguous reservation of an evbuffer, sized
 * by an upper bound the caller computes first, then one memcpy per piece. No printf,
 * no evbuffer call per piece. Every write is checked against the reservation: a wrong
 * bound is a CG_BUG_ON, never an overflow. */
#ifndef CG_PROXY_HTTP1_HEAD_WRITER_H
#define CG_PROXY_HTTP1_HEAD_WRITER_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <event2/buffer.h>

#include "common/bug.h"
#include "common/str.h"

struct head_writer {
    struct evbuffer *buf;
    struct evbuffer_iovec v;
    char *p, *end;
};

/* hw_begin reserves |bound| contiguous bytes at the end of |buf|. */
void hw_begin(struct head_writer *w, struct evbuffer *buf, size_t bound);

/* hw_end commits what was written. */
void hw_end(struct head_writer *w);

static inline void hw_put(struct head_writer *w, const void *s, size_t n)
{
    CG_BUG_ON(n > (size_t)(w->end - w->p)); /* the bound was wrong */
    if (n > 0) {
        memcpy(w->p, s, n);
        w->p += n;
    }
}

#define HW_LIT(w, s) hw_put((w), (s), sizeof(s) - 1)

static inline void hw_str(struct head_writer *w, struct cg_str s)
{
    hw_put(w, s.p, s.len);
}

/* hw_header writes "name: value\r\n". */
void hw_header(struct head_writer *w, struct cg_str name, struct cg_str value);

/* hw_u64 writes |v| in decimal, hw_hex in lower-case hex. */
void hw_u64(struct head_writer *w, uint64_t v);
void hw_hex(struct head_writer *w, uint64_t v);

#endif
