#include "proxy/http1/head_writer.h"

void hw_begin(struct head_writer *w, struct evbuffer *buf, size_t bound)
{
    w->buf = buf;
    CG_BUG_ON(evbuffer_reserve_space(buf, (ev_ssize_t)bound, &w->v, 1) != 1 ||
              w->v.iov_len < bound);
    w->p = w->v.iov_base;
    w->end = w->p + w->v.iov_len;
}

void hw_end(struct head_writer *w)
{
    w->v.iov_len = (size_t)(w->p - (char *)w->v.iov_base);
    CG_BUG_ON(evbuffer_commit_space(w->buf, &w->v, 1) != 0);
}

void hw_header(struct head_writer *w, struct cg_str name, struct cg_str value)
{
    hw_str(w, name);
    HW_LIT(w, ": ");
    hw_str(w, value);
    HW_LIT(w, "\r\n");
}

void hw_u64(struct head_writer *w, uint64_t v)
{
    CG_BUG_ON(w->end - w->p < 20);
    w->p = cg_put_u64(w->p, v);
}

void hw_hex(struct head_writer *w, uint64_t v)
{
    CG_BUG_ON(w->end - w->p < 16);
    w->p = cg_put_hex(w->p, v, 1);
}
